"""Adagrad and the schedules SequentialLR, ChainedScheduler, CosineAnnealingWarmRestarts and
CyclicLR: trajectories and lr (and momentum) sequences against torch.optim, state dicts that
resume exactly, argument checks, and a run of nerve.fit."""

import json
import math

import numpy as np
import pytest

import nerve
from nerve import nn, optim
from nerve.nn.parameter import Parameter
from nerve.optim import lr_scheduler
from nerve.train import LearningRateScheduler

torch = pytest.importorskip("torch")


# --- Adagrad ------------------------------------------------------------------------------
def problem(seed=0):
    """A 2-layer tanh network's least-squares problem: data and initial weights (float64)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(16, 3))
    y = rng.normal(size=(16, 2))
    init = [0.5 * rng.normal(size=s) for s in [(3, 5), (5,), (5, 2), (2,)]]
    return x, y, init


def nerve_loss(params, x, y):
    w1, b1, w2, b2 = params
    if not isinstance(x, nerve.Tensor):  # float64 data stays float64
        x, y = (nerve.tensor(a, dtype=w1.dtype) for a in (x, y))
    out = nerve.tanh(x @ w1 + b1) @ w2 + b2
    return ((out - y) ** 2).mean()


def torch_loss(params, x, y):
    w1, b1, w2, b2 = params
    out = torch.tanh(torch.from_numpy(x) @ w1 + b1) @ w2 + b2
    return ((out - torch.from_numpy(y)) ** 2).mean()


def nerve_params(init, dtype):
    return [Parameter(a.astype(dtype), dtype=dtype) for a in init]


def torch_params(init, dtype):
    return [torch.tensor(a.astype(dtype), requires_grad=True) for a in init]


def run_nerve(opt, params, x, y, steps, skip=()):
    """Take ``steps`` steps (the parameters at ``skip`` get no gradient); return the values."""
    for _ in range(steps):
        opt.zero_grad()
        nerve_loss(params, x, y).backward()
        for i in skip:
            params[i].grad = None
        opt.step()
    return [p.detach().numpy().copy() for p in params]


def run_torch(opt, params, x, y, steps, skip=()):
    for _ in range(steps):
        opt.zero_grad()
        torch_loss(params, x, y).backward()
        for i in skip:
            params[i].grad = None
        opt.step()
    return [p.detach().numpy().copy() for p in params]


ADAGRAD = [
    {},
    {"lr": 0.1},
    {"lr": 0.1, "lr_decay": 0.3},
    {"lr": 0.1, "weight_decay": 0.2},
    {"lr": 0.1, "initial_accumulator_value": 0.5},
    {"lr": 0.1, "maximize": True},
    {"lr": 0.05, "eps": 1e-3},
    {"lr": 0.2, "lr_decay": 0.1, "weight_decay": 0.05, "initial_accumulator_value": 0.1,
     "eps": 1e-6, "maximize": True},
]
ADAGRAD_IDS = ["-".join(k for k in kw if k != "lr") or "defaults" for kw in ADAGRAD]


@pytest.mark.parametrize("kwargs", ADAGRAD, ids=ADAGRAD_IDS)
def test_adagrad_matches_torch_in_float64(kwargs):
    x, y, init = problem()
    params, tparams = nerve_params(init, np.float64), torch_params(init, np.float64)
    opt, topt = optim.Adagrad(params, **kwargs), torch.optim.Adagrad(tparams, **kwargs)
    for _ in range(3):  # 3 x 3 steps, compared after each stretch
        ours, theirs = run_nerve(opt, params, x, y, 3), run_torch(topt, tparams, x, y, 3)
        for a, b in zip(ours, theirs):
            assert a.dtype == np.float64
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    for i, p in enumerate(params):
        state, tstate = opt.state[p], topt.state[tparams[i]]
        assert state["step"] == tstate["step"].item() == 9
        np.testing.assert_allclose(state["sum"], tstate["sum"].numpy(), rtol=1e-12)
    assert opt._flats.get(0) is not None  # the group was updated as one flat array


@pytest.mark.parametrize("kwargs", ADAGRAD[::2], ids=ADAGRAD_IDS[::2])
def test_adagrad_matches_torch_in_float32(kwargs):
    x, y, init = problem(1)
    params, tparams = nerve_params(init, np.float32), torch_params(init, np.float32)
    opt, topt = optim.Adagrad(params, **kwargs), torch.optim.Adagrad(tparams, **kwargs)
    x, y = x.astype(np.float32), y.astype(np.float32)
    for a, b in zip(run_nerve(opt, params, x, y, 8), run_torch(topt, tparams, x, y, 8)):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)
    assert all(s["sum"].dtype == np.float32 for s in opt.state.values())


def test_adagrad_defaults_and_state_are_pytorchs():
    x, y, init = problem()
    params, tparams = nerve_params(init, np.float64), torch_params(init, np.float64)
    opt = optim.Adagrad(params, initial_accumulator_value=0.25)
    topt = torch.optim.Adagrad(tparams, initial_accumulator_value=0.25)
    group = {k: v for k, v in opt.param_groups[0].items() if k != "params"}
    tgroup = topt.param_groups[0]
    assert group == {k: tgroup[k] for k in group}
    assert group == {"lr": 1e-2, "lr_decay": 0, "eps": 1e-10, "weight_decay": 0,
                     "initial_accumulator_value": 0.25, "maximize": False}
    # as PyTorch's, the constructor gives every parameter its state
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert sorted(sd["state"]) == sorted(tsd["state"]) == [0, 1, 2, 3]
    for i in range(4):
        assert sd["state"][i]["step"] == tsd["state"][i]["step"].item() == 0
        np.testing.assert_array_equal(sd["state"][i]["sum"], tsd["state"][i]["sum"].numpy())
    assert sd["param_groups"][0]["params"] == tsd["param_groups"][0]["params"]


def test_adagrad_parameter_groups_with_different_options_match_torch():
    x, y, init = problem(2)
    params, tparams = nerve_params(init, np.float64), torch_params(init, np.float64)

    def groups(ps):
        return [{"params": ps[:2]},
                {"params": ps[2:3], "lr": 0.3, "lr_decay": 0.2, "eps": 1e-4},
                {"params": ps[3:], "weight_decay": 0.1, "maximize": True}]
    opt = optim.Adagrad(groups(params), lr=0.1)
    topt = torch.optim.Adagrad(groups(tparams), lr=0.1)
    for a, b in zip(run_nerve(opt, params, x, y, 6), run_torch(topt, tparams, x, y, 6)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_adagrad_groups_at_construction_start_from_the_constructor_s_value_as_torch():
    """PyTorch's constructor fills every sum with its own argument, whatever a group says: a
    ported program with per-group values must get PyTorch's numbers (nerve used the group's
    value, silently another trajectory)."""
    x, y, init = problem(3)
    params, tparams = nerve_params(init, np.float64), torch_params(init, np.float64)

    def groups(ps):
        return [{"params": ps[:2]}, {"params": ps[2:], "initial_accumulator_value": 2.0}]
    opt = optim.Adagrad(groups(params), lr=0.1, initial_accumulator_value=0.1)
    topt = torch.optim.Adagrad(groups(tparams), lr=0.1, initial_accumulator_value=0.1)
    assert opt.state[params[3]]["sum"][0] == 0.1 and opt.state[params[0]]["sum"][0, 0] == 0.1
    assert opt.param_groups[1]["initial_accumulator_value"] == 2.0
    for a, b in zip(run_nerve(opt, params, x, y, 5), run_torch(topt, tparams, x, y, 5)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_adagrad_skips_a_parameter_without_gradient_as_torch():
    x, y, init = problem(4)
    params, tparams = nerve_params(init, np.float64), torch_params(init, np.float64)
    opt, topt = optim.Adagrad(params, lr=0.1), torch.optim.Adagrad(tparams, lr=0.1)
    ours = run_nerve(opt, params, x, y, 4, skip=[1])
    theirs = run_torch(topt, tparams, x, y, 4, skip=[1])
    np.testing.assert_array_equal(ours[1], init[1])  # untouched, state as made
    assert opt.state[params[1]]["step"] == 0 and not opt.state[params[1]]["sum"].any()
    assert opt.state[params[0]]["step"] == 4
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    # then it gets gradients again: its own step count starts, as in PyTorch
    ours, theirs = run_nerve(opt, params, x, y, 3), run_torch(topt, tparams, x, y, 3)
    assert opt.state[params[1]]["step"] == 3 and opt.state[params[0]]["step"] == 7
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_adagrad_group_added_later_gets_its_state_at_its_first_step_as_torch():
    x, y, init = problem(5)
    params, tparams = nerve_params(init, np.float64), torch_params(init, np.float64)
    opt = optim.Adagrad(params[:2], lr=0.1, initial_accumulator_value=0.3)
    topt = torch.optim.Adagrad(tparams[:2], lr=0.1, initial_accumulator_value=0.3)
    opt.add_param_group({"params": params[2:], "lr_decay": 0.5})
    topt.add_param_group({"params": tparams[2:], "lr_decay": 0.5})
    assert sorted(opt.state_dict()["state"]) == sorted(topt.state_dict()["state"]) == [0, 1]
    for a, b in zip(run_nerve(opt, params, x, y, 4), run_torch(topt, tparams, x, y, 4)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def through_json(sd):
    """As a checkpoint keeps it: arrays aside, everything else through JSON (keys to str)."""
    arrays = {(i, k): v for i, s in sd["state"].items() for k, v in s.items()
              if isinstance(v, np.ndarray)}
    rest = {"param_groups": sd["param_groups"],
            "scalars": {str(i): {k: v for k, v in s.items() if not isinstance(v, np.ndarray)}
                        for i, s in sd["state"].items()}}
    rest = json.loads(json.dumps(rest))
    state = rest.pop("scalars")
    for (i, name), arr in arrays.items():
        state[str(i)][name] = arr.copy()
    return {"state": state, **rest}


def test_adagrad_state_dict_round_trip_continues_identically():
    x, y, init = problem(6)
    kwargs = {"lr": 0.1, "lr_decay": 0.2, "weight_decay": 0.01, "initial_accumulator_value": 0.1}
    params = nerve_params(init, np.float64)
    opt = optim.Adagrad(params, **kwargs)
    run_nerve(opt, params, x, y, 4, skip=[3])
    sd = opt.state_dict()
    twin_params = nerve_params([p.detach().numpy() for p in params], np.float64)
    twin = optim.Adagrad(twin_params, lr=0.7)
    twin.load_state_dict(through_json(sd))
    assert twin.param_groups[0]["lr"] == 0.1 and twin.param_groups[0]["lr_decay"] == 0.2
    assert twin.state[twin_params[0]]["step"] == 4 and twin.state[twin_params[3]]["step"] == 0
    for a, b in zip(run_nerve(opt, params, x, y, 4), run_nerve(twin, twin_params, x, y, 4)):
        np.testing.assert_array_equal(a, b)
    # and PyTorch's optimizer, given the same state, goes on to the same values
    tparams = torch_params([p.detach().numpy() for p in params], np.float64)
    topt = torch.optim.Adagrad(tparams, **kwargs)
    tsd = topt.state_dict()
    for i, s in opt.state_dict()["state"].items():
        tsd["state"][i] = {"step": torch.tensor(float(s["step"])),
                           "sum": torch.from_numpy(s["sum"].copy())}
    topt.load_state_dict(tsd)
    for a, b in zip(run_nerve(opt, params, x, y, 3), run_torch(topt, tparams, x, y, 3)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kwargs, match", [
    ({"lr": -0.1}, "lr"),
    ({"lr_decay": -1.0}, "lr_decay"),
    ({"weight_decay": -0.1}, "weight_decay"),
    ({"initial_accumulator_value": -1.0}, "initial_accumulator_value"),
    ({"eps": -1e-10}, "eps"),
    ({"lr": "0.1"}, "lr"),
    ({"maximize": 1}, "maximize"),
    ({"foreach": "yes"}, "foreach"),
    ({"capturable": True}, "capturable"),
    ({"differentiable": True}, "differentiable"),
])
def test_adagrad_refuses_bad_arguments(kwargs, match):
    with pytest.raises((TypeError, ValueError), match=match):
        optim.Adagrad([Parameter(np.ones(2))], **kwargs)


def test_adagrad_accepts_foreach_and_fused_as_pytorch_and_is_exported():
    p = Parameter(np.ones(2))
    optim.Adagrad([p], 0.1, 0, 0, 0, 1e-10, True)  # foreach is positional in PyTorch
    optim.Adagrad([p], fused=True)
    assert "Adagrad" in optim.__all__ and optim.Adagrad is nerve.optim.adagrad.Adagrad


def test_adagrad_on_the_stand_in_gpu_as_on_the_cpu():
    """The update goes through the parameters' array module: on a GPU (here the stand-in of
    tests/fake_cuda.py) the state is made there, and follows a model moved after the
    optimizer was made."""
    from tests.fake_cuda import FakeCudaArray, fake_gpu_registered

    x, y, init = problem(7)
    kwargs = {"lr": 0.1, "lr_decay": 0.1, "weight_decay": 0.01, "initial_accumulator_value": 0.1}
    cpu = nerve_params(init, np.float64)
    expect = run_nerve(optim.Adagrad(cpu, **kwargs), cpu, x, y, 4)
    with fake_gpu_registered():
        made_there = [p.cuda().detach().requires_grad_() for p in nerve_params(init, np.float64)]
        moved_later = nerve_params(init, np.float64)
        later_opt = optim.Adagrad(moved_later, **kwargs)
        for p in moved_later:
            p.data = p.data.cuda()
        for params, opt in ((made_there, optim.Adagrad(made_there, **kwargs)),
                            (moved_later, later_opt)):
            xd, yd = (nerve.tensor(a, dtype=nerve.float64, device="cuda") for a in (x, y))
            for _ in range(4):
                opt.zero_grad()
                nerve_loss(params, xd, yd).backward()
                opt.step()
            assert all(isinstance(s["sum"], FakeCudaArray) for s in opt.state.values())
            for p, e in zip(params, expect):
                assert isinstance(p._data, FakeCudaArray)
                np.testing.assert_allclose(p.detach().cpu().numpy(), e, rtol=1e-12, atol=1e-14)


def test_adagrad_trains_with_fit():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]], np.float32)).astype(np.float32)
    nerve.manual_seed(0)
    model = nn.Linear(3, 1)
    opt = optim.Adagrad(model.parameters(), lr=0.5)
    hist = nerve.fit(model, x, y, loss="mse", optimizer=opt, epochs=20, batch_size=16,
                     verbose=0, seed=0)
    assert hist["loss"][-1] < 0.05 * hist["loss"][0]


# --- schedules: helpers ---------------------------------------------------------------------
def pair(kind="sgd", lr=0.1):
    """Twin optimizers (nerve's, PyTorch's) with two groups of different lrs."""
    arrays = [np.ones(2), np.ones(3)]
    ps = [Parameter(a) for a in arrays]
    tps = [torch.ones(len(a), requires_grad=True) for a in arrays]

    def groups(q):
        return [{"params": q[:1]}, {"params": q[1:], "lr": lr / 2}]
    if kind == "sgd":
        return optim.SGD(groups(ps), lr=lr, momentum=0.9), torch.optim.SGD(groups(tps), lr=lr,
                                                                             momentum=0.9)
    if kind == "adam":
        return optim.Adam(groups(ps), lr=lr), torch.optim.Adam(groups(tps), lr=lr)
    return optim.Adagrad(groups(ps), lr=lr), torch.optim.Adagrad(groups(tps), lr=lr)


def momenta(opt):
    return [g["betas"][0] if "betas" in g else g.get("momentum", -1.0) for g in opt.param_groups]


def assert_same(sched, tsched, opt, topt, where):
    assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-12, abs=1e-15), \
        where
    assert [g["lr"] for g in opt.param_groups] == pytest.approx(
        [g["lr"] for g in topt.param_groups], rel=1e-12, abs=1e-15), where
    assert momenta(opt) == pytest.approx(momenta(topt), rel=1e-12, abs=1e-15), where


def run_both(make, kind="sgd", steps=30):
    """Make the schedule with nerve and torch, step both; compare lrs and momenta."""
    opt, topt = pair(kind)
    sched, tsched = make(lr_scheduler, opt), make(torch.optim.lr_scheduler, topt)
    assert_same(sched, tsched, opt, topt, "made")
    for epoch in range(steps):
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
        assert_same(sched, tsched, opt, topt, f"step {epoch}")
    return sched, opt


def sched_json(sd):
    return json.loads(json.dumps(sd))


def resumes_identically(make, kind="sgd", stop=11, steps=30):
    """Run ``stop`` steps, save optimizer and schedule, make both again and load them: the
    continued lr (and momentum) sequence is the uninterrupted one."""
    opt, _ = pair(kind)
    sched = make(lr_scheduler, opt)
    seq = []
    for epoch in range(steps):
        opt.step()
        sched.step()
        seq.append((sched.get_last_lr(), momenta(opt)))
        if epoch == stop - 1:
            saved_opt, saved = opt.state_dict(), sched_json(sched.state_dict())
    opt2, _ = pair(kind, lr=0.7)
    sched2 = make(lr_scheduler, opt2)  # made first, as PyTorch advises, then loaded
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved)
    for epoch in range(stop, steps):
        opt2.step()
        sched2.step()
        assert sched2.get_last_lr() == seq[epoch][0], epoch
        assert momenta(opt2) == seq[epoch][1], epoch


# --- CosineAnnealingWarmRestarts ------------------------------------------------------------
WARM_RESTARTS = [
    {"T_0": 5},
    {"T_0": 3, "T_mult": 2, "eta_min": 0.01},
    {"T_0": 1},
    {"T_0": 4, "T_mult": 3},
]


@pytest.mark.parametrize("kwargs", WARM_RESTARTS, ids=[str(k) for k in WARM_RESTARTS])
def test_cosine_warm_restarts_matches_torch(kwargs):
    run_both(lambda m, o: m.CosineAnnealingWarmRestarts(o, **kwargs))
    resumes_identically(lambda m, o: m.CosineAnnealingWarmRestarts(o, **kwargs))


def test_cosine_warm_restarts_formula_and_restart():
    opt, _ = pair()
    sched = lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=4, eta_min=0.02)
    lrs = [sched.get_last_lr()[0]]
    for _ in range(8):
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    expect = [0.02 + 0.08 * (1 + math.cos(math.pi * (t % 4) / 4)) / 2 for t in range(9)]
    assert lrs == pytest.approx(expect, rel=1e-12)
    assert lrs[4] == pytest.approx(0.1)  # the restart


@pytest.mark.parametrize("kwargs", WARM_RESTARTS[:2], ids=[str(k) for k in WARM_RESTARTS[:2]])
def test_cosine_warm_restarts_fractional_epochs_as_torch(kwargs):
    """step(epoch + i / iters) within an epoch, a step() in between, a jump, as PyTorch's."""
    opt, topt = pair()
    sched = lr_scheduler.CosineAnnealingWarmRestarts(opt, **kwargs)
    tsched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(topt, **kwargs)
    calls = [e + i / 4 for e in range(7) for i in range(4)]
    calls += [None, None, 26, None, 3.5, None, 1.5, None]
    for epoch in calls:
        sched.step(epoch)
        tsched.step(epoch)
        assert_same(sched, tsched, opt, topt, epoch)
        assert sched.T_cur == pytest.approx(tsched.T_cur) and sched.T_i == tsched.T_i
        assert sched.last_epoch == tsched.last_epoch


@pytest.mark.parametrize("make", [
    lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, last_epoch=4),
    lambda m, o: m.CyclicLR(o, 0.01, 0.1, step_size_up=3, last_epoch=4),
    lambda m, o: m.CyclicLR(o, 0.01, 0.1, step_size_up=3, mode="exp_range", gamma=0.9,
                            last_epoch=7),
], ids=["warm-restarts", "cyclic", "cyclic-exp-range"])
def test_resumed_with_last_epoch_as_torch(make):
    opt, topt = pair()
    for o in (opt, topt):
        for group in o.param_groups:
            group["initial_lr"] = group["lr"]
            group["max_momentum"], group["base_momentum"] = 0.9, 0.8
    sched, tsched = make(lr_scheduler, opt), make(torch.optim.lr_scheduler, topt)
    for epoch in range(15):
        assert_same(sched, tsched, opt, topt, epoch)
        opt.step()
        topt.step()
        sched.step()
        tsched.step()


# --- CyclicLR -------------------------------------------------------------------------------
class Halving:
    """A scale function that is an object (so torch keeps its attributes in state dicts)."""

    def __call__(self, x):
        return 0.5 ** (x - 1)


CYCLIC = [
    ("sgd", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 4}),
    ("sgd", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 3, "step_size_down": 5}),
    ("sgd", {"base_lr": [0.01, 0.02], "max_lr": [0.1, 0.3], "step_size_up": 2,
             "mode": "triangular2", "base_momentum": [0.7, 0.75], "max_momentum": 0.95}),
    ("sgd", {"base_lr": 0.001, "max_lr": 0.1, "step_size_up": 5, "mode": "exp_range",
             "gamma": 0.95}),
    ("sgd", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 3, "scale_fn": Halving()}),
    ("sgd", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 3,
             "scale_fn": lambda x: 1 / (1 + 0.1 * x), "scale_mode": "iterations"}),
    ("sgd", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 4, "cycle_momentum": False}),
    ("adam", {"base_lr": 0.001, "max_lr": 0.01, "step_size_up": 3}),
    ("adam", {"base_lr": 0.001, "max_lr": 0.01, "step_size_up": 2, "step_size_down": 3,
              "base_momentum": 0.85, "max_momentum": 0.95, "mode": "triangular2"}),
    ("adagrad", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 3, "cycle_momentum": False}),
]
CYCLIC_IDS = [f"{k}-" + "-".join(str(v) for key, v in kw.items()
                                 if key in ("mode", "step_size_down", "cycle_momentum",
                                            "scale_mode")) for k, kw in CYCLIC]


@pytest.mark.parametrize("kind, kwargs", CYCLIC, ids=CYCLIC_IDS)
def test_cyclic_lr_matches_torch_lrs_and_momenta(kind, kwargs):
    sched, opt = run_both(lambda m, o: m.CyclicLR(o, **kwargs), kind)
    resumes_identically(lambda m, o: m.CyclicLR(o, **kwargs), kind)
    if kwargs.get("cycle_momentum", True):
        assert {"max_momentum", "base_momentum"} <= set(opt.param_groups[0])


def test_cyclic_lr_triangle_by_hand_and_momentum_the_other_way():
    opt, _ = pair()
    sched = lr_scheduler.CyclicLR(opt, 0.0, 0.4, step_size_up=2, step_size_down=2)
    lrs, moms = [], []
    for _ in range(8):
        lrs.append(sched.get_last_lr()[0])
        moms.append(opt.param_groups[0]["momentum"])
        sched.step()
    assert lrs == pytest.approx([0.0, 0.2, 0.4, 0.2] * 2)
    assert moms == pytest.approx([0.9, 0.85, 0.8, 0.85] * 2)


def test_cyclic_lr_state_dict_leaves_the_scale_function_out():
    opt, _ = pair()
    fn = Halving()
    sched = lr_scheduler.CyclicLR(opt, 0.01, 0.1, step_size_up=2, scale_fn=fn)
    sd = sched.state_dict()
    assert "_scale_fn_custom" not in sd
    json.dumps(sd)
    sched.load_state_dict(sd)
    assert sched._scale_fn_custom is fn


# --- SequentialLR ---------------------------------------------------------------------------
SEQUENTIAL = {
    "linear-then-exponential": lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.1, total_iters=4), m.ExponentialLR(o, gamma=0.9)],
        milestones=[5]),
    "constant-then-step": lambda m, o: m.SequentialLR(
        o, [m.ConstantLR(o, factor=0.1, total_iters=20), m.StepLR(o, step_size=3, gamma=0.5)],
        milestones=[6]),
    "three": lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.2, total_iters=3), m.ConstantLR(o, factor=0.5),
            m.CosineAnnealingLR(o, T_max=8, eta_min=0.001)], milestones=[3, 10]),
    "into-multistep-linear-polynomial": lambda m, o: m.SequentialLR(
        o, [m.ExponentialLR(o, gamma=0.8), m.MultiStepLR(o, milestones=[0, 3], gamma=0.5),
            m.LinearLR(o, start_factor=0.5, end_factor=0.1, total_iters=5),
            m.PolynomialLR(o, total_iters=6, power=2.0)], milestones=[4, 9, 17]),
    "into-lambda": lambda m, o: m.SequentialLR(
        o, [m.ConstantLR(o, factor=0.25, total_iters=3),
            m.LambdaLR(o, lambda e: 0.5 + 0.1 * e)], milestones=[4]),
    "into-multiplicative": lambda m, o: m.SequentialLR(
        o, [m.StepLR(o, step_size=2), m.MultiplicativeLR(o, lambda e: 0.9)], milestones=[5]),
    "into-warm-restarts": lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.1, total_iters=3),
            m.CosineAnnealingWarmRestarts(o, T_0=4, T_mult=2)], milestones=[3]),
    "into-cyclic": lambda m, o: m.SequentialLR(
        o, [m.ExponentialLR(o, gamma=0.5),
            m.CyclicLR(o, 0.01, 0.1, step_size_up=3)], milestones=[4]),
    "cyclic-first": lambda m, o: m.SequentialLR(
        o, [m.CyclicLR(o, 0.01, 0.1, step_size_up=3), m.ExponentialLR(o, gamma=0.9)],
        milestones=[8]),
    "milestone-0": lambda m, o: m.SequentialLR(
        o, [m.ConstantLR(o, factor=0.1), m.ExponentialLR(o, gamma=0.9)], milestones=[0]),
    "equal-milestones": lambda m, o: m.SequentialLR(
        o, [m.ConstantLR(o, factor=0.1), m.LinearLR(o), m.ExponentialLR(o, gamma=0.9)],
        milestones=[3, 3]),
    "one": lambda m, o: m.SequentialLR(o, [m.StepLR(o, step_size=4)], milestones=[]),
    "into-one-cycle": lambda m, o: m.SequentialLR(
        o, [m.ConstantLR(o, factor=0.5, total_iters=2),
            m.OneCycleLR(o, max_lr=0.5, total_steps=40)], milestones=[3]),
}


@pytest.mark.parametrize("name", list(SEQUENTIAL))
def test_sequential_lr_matches_torch(name):
    run_both(SEQUENTIAL[name])
    resumes_identically(SEQUENTIAL[name])
    resumes_identically(SEQUENTIAL[name], stop=3)


def test_sequential_lr_milestone_starts_the_next_schedule_at_its_epoch_0():
    """PyTorch's example: ConstantLR(factor=0.1, total_iters=20) then ExponentialLR(0.9) at
    20: 0.005 up to epoch 19, 0.05 at 20, 0.045 at 21."""
    opt, _ = pair(lr=0.05)
    sched = lr_scheduler.SequentialLR(
        opt, [lr_scheduler.ConstantLR(opt, factor=0.1, total_iters=20),
              lr_scheduler.ExponentialLR(opt, gamma=0.9)], milestones=[20])
    lrs = [sched.get_last_lr()[0]]
    for _ in range(22):
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    assert lrs[:20] == pytest.approx([0.005] * 20)
    assert lrs[20:23] == pytest.approx([0.05, 0.045, 0.0405])
    # a LinearLR taking over starts at initial_lr * start_factor (its closed form at 0)
    opt, _ = pair(lr=0.1)
    sched = lr_scheduler.SequentialLR(
        opt, [lr_scheduler.ExponentialLR(opt, gamma=0.5),
              lr_scheduler.LinearLR(opt, start_factor=0.3, total_iters=2)], milestones=[2])
    lrs = [sched.get_last_lr()[0]] + [sched.step() or sched.get_last_lr()[0] for _ in range(4)]
    assert lrs == pytest.approx([0.1, 0.05, 0.03, 0.065, 0.1])


# --- ChainedScheduler -----------------------------------------------------------------------
CHAINED = {
    "constant-exponential": lambda m, o: m.ChainedScheduler(
        [m.ConstantLR(o, factor=0.1, total_iters=20), m.ExponentialLR(o, gamma=0.9)]),
    "warmup-cosine-with-optimizer": lambda m, o: m.ChainedScheduler(
        [m.LinearLR(o, start_factor=0.2, total_iters=5), m.CosineAnnealingLR(o, T_max=12)],
        optimizer=o),
    "step-multistep-polynomial": lambda m, o: m.ChainedScheduler(
        [m.StepLR(o, step_size=3, gamma=0.8), m.MultiStepLR(o, [5, 9]),
         m.PolynomialLR(o, total_iters=25)]),
    "with-sequential": lambda m, o: m.ChainedScheduler(
        [m.SequentialLR(o, [m.ConstantLR(o, factor=0.5, total_iters=2),
                            m.ExponentialLR(o, gamma=0.9)], milestones=[4]),
         m.MultiplicativeLR(o, lambda e: 0.98)]),
    "nested": lambda m, o: m.ChainedScheduler(
        [m.ChainedScheduler([m.StepLR(o, step_size=2)]), m.ExponentialLR(o, gamma=0.95)]),
}


@pytest.mark.parametrize("name", list(CHAINED))
def test_chained_scheduler_matches_torch(name):
    run_both(CHAINED[name])
    resumes_identically(CHAINED[name])


def test_chained_scheduler_state_dict_holds_each_schedule():
    opt, _ = pair()
    first = lr_scheduler.ConstantLR(opt, factor=0.5)
    sched = lr_scheduler.ChainedScheduler([first, lr_scheduler.ExponentialLR(opt, gamma=0.9)])
    sched.step()
    sd = sched_json(sched.state_dict())
    assert [s["last_epoch"] for s in sd["_schedulers"]] == [1, 1]
    assert sd["_last_lr"] == sched.get_last_lr()
    with pytest.raises(ValueError, match="_schedulers"):
        sched.load_state_dict({**sd, "_schedulers": sd["_schedulers"][:1]})


def fails_later():
    """An lr_lambda whose first step (one call per group of ``pair()``'s optimizer) gives 1
    and every later one -1 (refused)."""
    calls = []
    return lambda epoch: calls.append(epoch) or (1.0 if len(calls) <= 2 else -1.0)


def test_a_failing_step_changes_nothing():
    opt, _ = pair()
    bad = lr_scheduler.LambdaLR(opt, lambda e: 1.0 if e < 3 else -1.0)
    chained = lr_scheduler.ChainedScheduler([lr_scheduler.ExponentialLR(opt, gamma=0.5), bad])
    chained.step()
    chained.step()
    before = (sched_json(chained.state_dict()), [dict(g) for g in opt.param_groups])
    with pytest.raises(ValueError, match="lr_lambda"):
        chained.step()
    assert (sched_json(chained.state_dict()), [dict(g) for g in opt.param_groups]) == before
    opt, _ = pair()
    late = lr_scheduler.LambdaLR(opt, fails_later())  # at the milestone
    seq = lr_scheduler.SequentialLR(opt, [lr_scheduler.ExponentialLR(opt, gamma=0.5), late], [2])
    seq.step()
    with pytest.raises(ValueError, match="lr_lambda"):
        seq.step()
    assert seq.last_epoch == 1 and seq.get_last_lr() == pytest.approx([0.05, 0.025])


# --- argument checks ------------------------------------------------------------------------
def other_opt():
    return optim.SGD([Parameter(np.ones(1))], lr=0.1, momentum=0.9)


S = lr_scheduler


def then(schedules, make):
    """The call that makes a schedule of ``schedules`` (made already, on the optimizer)."""
    return lambda: make(schedules)


@pytest.mark.parametrize("make, error, match", [  # make(o) makes the argument schedules and
    (lambda o: lambda: S.CosineAnnealingWarmRestarts(o, T_0=0), ValueError, "T_0"),  # returns
    (lambda o: lambda: S.CosineAnnealingWarmRestarts(o, T_0=2.5), TypeError, "T_0"),  # the call
    (lambda o: lambda: S.CosineAnnealingWarmRestarts(o, 2, T_mult=0), ValueError, "T_mult"),
    (lambda o: lambda: S.CosineAnnealingWarmRestarts(o, 2, eta_min=-1.0), ValueError,
     "eta_min"),
    (lambda o: lambda: S.CyclicLR(o, 0.01, 0.1, mode="triangle"), ValueError, "mode"),
    (lambda o: lambda: S.CyclicLR(o, 0.01, 0.1, step_size_up=0), ValueError, "step_size_up"),
    (lambda o: lambda: S.CyclicLR(o, 0.01, 0.1, step_size_down=-1), ValueError,
     "step_size_down"),
    (lambda o: lambda: S.CyclicLR(o, 0.01, 0.1, scale_mode="epochs"), ValueError,
     "scale_mode"),
    (lambda o: lambda: S.CyclicLR(o, 0.01, 0.1, scale_fn=0.5), TypeError, "scale_fn"),
    (lambda o: lambda: S.CyclicLR(o, 0.01, 0.1, scale_fn=lambda x: float("nan")), ValueError,
     "scale_fn"),
    (lambda o: lambda: S.CyclicLR(o, [0.01], 0.1), ValueError, "base_lr"),
    (lambda o: lambda: S.CyclicLR(o, 0.01, -0.1), ValueError, "max_lr"),
    (lambda o: lambda: S.CyclicLR(o, 0.01, 0.1, max_momentum=1.5), ValueError,
     "max_momentum"),
    (lambda o: lambda: S.CyclicLR(o, 0.01, 0.1, gamma=-1.0), ValueError, "gamma"),
    (lambda o: lambda: S.CyclicLR(o, 0.01, 0.1, cycle_momentum="yes"), TypeError,
     "cycle_momentum"),
    (lambda o: lambda: S.SequentialLR(o, [], []), ValueError, "at least one"),
    (lambda o: then([S.StepLR(o, 2)], lambda s: S.SequentialLR(o, s, [3])), ValueError,
     "milestones"),
    (lambda o: then([S.StepLR(o, 2), S.StepLR(o, 3), S.StepLR(o, 4)],
                    lambda s: S.SequentialLR(o, s, [5, 2])), ValueError, "increasing"),
    (lambda o: then([S.StepLR(o, 2), S.StepLR(o, 3)], lambda s: S.SequentialLR(o, s, [-1])),
     ValueError, "milestones"),
    (lambda o: then([S.StepLR(o, 2), S.StepLR(other_opt(), 3)],
                    lambda s: S.SequentialLR(o, s, [2])), ValueError, "same optimizer"),
    (lambda o: then([S.StepLR(o, 2), S.ReduceLROnPlateau(o)],
                    lambda s: S.SequentialLR(o, s, [2])), ValueError, "ReduceLROnPlateau"),
    (lambda o: then([S.StepLR(o, 2), S.ChainedScheduler([S.StepLR(o, 3)])],
                    lambda s: S.SequentialLR(o, s, [2])), TypeError, "ChainedScheduler"),
    (lambda o: then([S.StepLR(o, 2), "x"], lambda s: S.SequentialLR(o, s, [2])), TypeError,
     r"schedulers\[1\]"),
    (lambda o: then([S.StepLR(o, 2)], lambda s: S.SequentialLR(o, s, 3)), TypeError,
     "milestones"),
    (lambda o: then([S.StepLR(o, 2), S.LambdaLR(o, fails_later())],
                    lambda s: S.SequentialLR(o, s, [0])), ValueError, "lr_lambda"),
    (lambda o: lambda: S.ChainedScheduler([]), ValueError, "at least one"),
    (lambda o: then(S.StepLR(o, 2), S.ChainedScheduler), TypeError, "a list of schedules"),
    (lambda o: then([S.StepLR(o, 2)], lambda s: S.ChainedScheduler(s, optimizer=3)),
     TypeError, "Optimizer"),
    (lambda o: then([S.StepLR(o, 2), S.StepLR(other_opt(), 3)], S.ChainedScheduler),
     ValueError, "same optimizer"),
])
def test_bad_arguments_raise_and_leave_the_optimizer_as_it_was(make, error, match):
    opt, _ = pair()
    build = make(opt)
    before = [dict(g) for g in opt.param_groups]
    with pytest.raises(error, match=match):
        build()
    assert [dict(g) for g in opt.param_groups] == before


def test_a_sequence_that_cannot_be_made_gives_its_schedules_back():
    opt, _ = pair()
    first, second = S.ExponentialLR(opt, gamma=0.5), S.LambdaLR(opt, fails_later())
    first.step()
    states = [first.state_dict(), second.state_dict()]
    with pytest.raises(ValueError, match="lr_lambda"):
        S.SequentialLR(opt, [first, second], [0])
    assert [first.state_dict(), second.state_dict()] == states

def test_cyclic_momentum_needs_an_optimizer_with_momentum():
    opt, _ = pair("adagrad")
    before = [dict(g) for g in opt.param_groups]
    with pytest.raises(ValueError, match="momentum or betas"):
        lr_scheduler.CyclicLR(opt, 0.01, 0.1)
    assert [dict(g) for g in opt.param_groups] == before


@pytest.mark.parametrize("make", [
    lambda o: lr_scheduler.CyclicLR(o, 0.01, 0.1),
    lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.StepLR(o, 2)], []),
    lambda o: lr_scheduler.ChainedScheduler([lr_scheduler.StepLR(o, 2)]),
], ids=["cyclic", "sequential", "chained"])
def test_step_with_an_epoch_is_refused(make):
    sched = make(pair()[0])
    with pytest.raises(TypeError, match="step"):
        sched.step(3)


def test_warm_restarts_step_refuses_a_negative_epoch():
    sched = lr_scheduler.CosineAnnealingWarmRestarts(pair()[0], T_0=3)
    with pytest.raises(ValueError, match="epoch"):
        sched.step(-1)
    assert sched.last_epoch == 0 and sched.T_cur == 0


def test_exported():
    for name in ("SequentialLR", "ChainedScheduler", "CosineAnnealingWarmRestarts", "CyclicLR"):
        assert issubclass(getattr(lr_scheduler, name), lr_scheduler.LRScheduler)


# --- in fit ---------------------------------------------------------------------------------
def blobs(n=64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int64)


def test_cyclic_lr_per_batch_in_fit_follows_torchs_sequence():
    x, y = blobs()  # 4 batches of 16: 12 steps in 3 epochs
    nerve.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 2))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    kwargs = {"base_lr": 0.01, "max_lr": 0.2, "step_size_up": 5}
    seen = []
    record = nerve.train.LambdaCallback(on_after_backward=lambda b, logs: seen.append(
        (opt.param_groups[0]["lr"], opt.param_groups[0]["momentum"])))
    hist = nerve.fit(model, x, y, loss="cross_entropy", optimizer=opt, epochs=3,
                     batch_size=16, verbose=0,
                     callbacks=[LearningRateScheduler(lr_scheduler.CyclicLR, interval="batch",
                                                      **kwargs), record])
    topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
    tsched = torch.optim.lr_scheduler.CyclicLR(topt, **kwargs)
    expect = []
    for _ in range(12):
        expect.append((topt.param_groups[0]["lr"], topt.param_groups[0]["momentum"]))
        topt.step()
        tsched.step()
    assert np.allclose(seen, expect, rtol=1e-12, atol=0)
    assert hist["lr"] == pytest.approx([expect[3][0], expect[7][0], expect[11][0]])


def test_sequential_lr_per_epoch_in_fit():
    x, y = blobs()
    nerve.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 2))
    opt = optim.Adagrad(model.parameters(), lr=0.1)
    sched = lr_scheduler.SequentialLR(
        opt, [lr_scheduler.LinearLR(opt, start_factor=0.5, total_iters=2),
              lr_scheduler.ExponentialLR(opt, gamma=0.5)], milestones=[3])
    hist = nerve.fit(model, x, y, loss="cross_entropy", optimizer=opt, epochs=5, verbose=0,
                     callbacks=[LearningRateScheduler(sched)])
    assert hist["lr"] == pytest.approx([0.05, 0.075, 0.1, 0.1, 0.05])


def test_multisteplr_loads_pytorch_s_state_with_its_counter_of_milestones():
    """PyTorch keeps MultiStepLR's milestones as a Counter: loading that state made the next
    step raise AttributeError."""
    p, tp = nn.Parameter(nerve.ones(2)), torch.nn.Parameter(torch.ones(2))
    opt, topt = optim.SGD([p], lr=1.0), torch.optim.SGD([tp], lr=1.0)
    ours = optim.lr_scheduler.MultiStepLR(opt, [2, 4, 4], gamma=0.5)
    theirs = torch.optim.lr_scheduler.MultiStepLR(topt, [2, 4, 4], gamma=0.5)
    for _ in range(3):
        topt.step()
        theirs.step()
        opt.step()
        ours.step()
    fresh = optim.lr_scheduler.MultiStepLR(opt, [9], gamma=0.5)
    fresh.load_state_dict(theirs.state_dict())
    assert fresh.milestones == [2, 4, 4]
    for _ in range(4):
        topt.step()
        theirs.step()
        opt.step()
        fresh.step()
        assert fresh.get_last_lr() == pytest.approx(theirs.get_last_lr())
