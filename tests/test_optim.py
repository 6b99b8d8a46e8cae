"""Optimizers: trajectories against torch.optim, GradientDescent as the seed tells it, state
dicts, parameter groups and argument checks."""

import json
import re

import numpy as np
import pytest

import nerve
from nerve import optim
from nerve.autograd import Tensor
from nerve.nn.parameter import Parameter

CASES = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.1, "weight_decay": 0.05}),
    ("SGD", {"lr": 0.1, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.05}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("Adam", {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.01}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "centered": True}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "centered": True, "momentum": 0.5,
                 "weight_decay": 0.05}),
    ("Adadelta", {"lr": 1.0}),
    ("Adadelta", {"lr": 0.5, "rho": 0.8, "weight_decay": 0.05}),
]
CASE_IDS = [f"{name}-{'-'.join(k for k in kw if k != 'lr') or 'plain'}" for name, kw in CASES]


def problem(seed=0):
    """A 2-layer tanh network's least-squares problem: data and initial weights."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(16, 3)).astype(np.float32)
    y = rng.normal(size=(16, 2)).astype(np.float32)
    init = [(0.5 * rng.normal(size=s)).astype(np.float32) for s in [(3, 5), (5,), (5, 2), (2,)]]
    return x, y, init


def nerve_loss(params, x, y):
    w1, b1, w2, b2 = params
    x, y = Tensor(x, dtype=w1.dtype), Tensor(y, dtype=w1.dtype)  # float64 data for a float64
    out = nerve.tanh(x @ w1 + b1) @ w2 + b2  # model (a product does not promote, as PyTorch)
    return ((out - y) ** 2).mean()


def run_nerve(opt, params, x, y, steps):
    """Take ``steps`` steps; return the parameters after each, checking grads stay unchanged."""
    out = []
    for _ in range(steps):
        opt.zero_grad()
        nerve_loss(params, x, y).backward()
        grads = [p.grad.clone() for p in params]
        opt.step()
        for p, g in zip(params, grads):
            np.testing.assert_array_equal(p.grad, g)  # p.grad is never changed in place
        out.append([p.data.clone() for p in params])
    return out


def run_torch(name, kwargs, init, x, y, steps):
    torch = pytest.importorskip("torch")
    params = [torch.tensor(a, requires_grad=True) for a in init]
    opt = getattr(torch.optim, name)(params, **kwargs)
    xt, yt = torch.tensor(x), torch.tensor(y)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        w1, b1, w2, b2 = params
        ((torch.tanh(xt @ w1 + b1) @ w2 + b2 - yt) ** 2).mean().backward()
        opt.step()
        out.append([p.detach().numpy().copy() for p in params])
    return out


def make(name, kwargs, init):
    params = [Parameter(a.clone() if isinstance(a, nerve.Tensor) else a.copy()) for a in init]
    return getattr(optim, name)(params, **kwargs), params


# --- trajectories against torch -------------------------------------------------------------
@pytest.mark.parametrize("name, kwargs", CASES, ids=CASE_IDS)
def test_optimizer_matches_torch_over_20_steps(name, kwargs):
    x, y, init = problem()
    expected = run_torch(name, kwargs, init, x, y, 20)
    opt, params = make(name, kwargs, init)
    got = run_nerve(opt, params, x, y, 20)
    for step, (g, e) in enumerate(zip(got, expected)):
        for a, b in zip(g, e):
            np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6, err_msg=f"step {step}")
    assert all(p.data.dtype == np.float32 for p in params)


def test_optimizer_param_groups_match_torch():
    torch = pytest.importorskip("torch")
    x, y, init = problem(1)
    tp = [torch.tensor(a, requires_grad=True) for a in init]
    topt = torch.optim.SGD([{"params": tp[:2]}, {"params": tp[2:], "lr": 0.01}], lr=0.1,
                           momentum=0.9)
    params = [Parameter(a.clone() if isinstance(a, nerve.Tensor) else a.copy()) for a in init]
    opt = optim.SGD([{"params": params[:2]}, {"params": params[2:], "lr": 0.01}], lr=0.1,
                    momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.01]
    xt, yt = torch.tensor(x), torch.tensor(y)
    for _ in range(10):
        topt.zero_grad()
        ((torch.tanh(xt @ tp[0] + tp[1]) @ tp[2] + tp[3] - yt) ** 2).mean().backward()
        topt.step()
    run_nerve(opt, params, x, y, 10)
    for p, t in zip(params, tp):
        np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=2e-5, atol=2e-6)


def test_optimizer_keeps_float64():
    x, y, init = problem()
    params = [Parameter(a, dtype=np.float64) for a in init]
    opt = optim.Adam(params, lr=0.01)
    run_nerve(opt, params, x.astype(np.float64), y.astype(np.float64), 2)
    assert all(p.data.dtype == np.float64 for p in params)
    assert all(s["exp_avg"].dtype == np.float64 for s in opt.state.values())


# --- the step contract --------------------------------------------------------------------
@pytest.mark.parametrize("name, kwargs", CASES[::3], ids=CASE_IDS[::3])
def test_optimizer_skips_parameters_without_grad(name, kwargs):
    a, b = Parameter(np.ones(3, np.float32)), Parameter(np.ones(3, np.float32))
    opt = getattr(optim, name)([a, b], **kwargs)
    a.grad = np.full(3, 0.5, np.float32)
    opt.step()
    assert not np.array_equal(a.data, np.ones(3))
    np.testing.assert_array_equal(b.data, np.ones(3))
    assert b not in opt.state and a in opt.state


def test_optimizer_step_returns_closure_loss():
    p = Parameter(np.array([2.0], np.float32))
    opt = optim.SGD([p], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == pytest.approx(4.0)
    assert p.data[0] == pytest.approx(2.0 - 0.1 * 4.0)


def test_optimizer_zero_grad_set_to_none_and_zeros():
    p = Parameter(np.ones(3, np.float32))
    opt = optim.SGD([p], lr=0.1)
    old = np.full(3, 7.0, np.float32)
    p.grad = old
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad, np.zeros(3))
    np.testing.assert_array_equal(old, np.full(3, 7.0))  # a new array: the old may be shared
    opt.zero_grad()
    assert p.grad is None


def test_optimizer_grad_shape_mismatch_raises():
    p = Parameter(np.ones(3, np.float32))
    with pytest.raises(ValueError, match=r"shape \(3,\).*shape \(4,\)"):
        p.grad = np.ones(4, np.float32)  # refused where it is set, before any step
    p._grad = np.ones(4, np.float32)  # set behind the check: the step still refuses it
    with pytest.raises(ValueError, match=r"shape \(3,\).*shape \(4,\)"):
        optim.Adam([p]).step()


def test_optimizer_empty_parameter_list_raises():
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam(iter([]))


def test_optimizer_rejects_non_tensors_sets_and_duplicates():
    p = Parameter(np.ones(2, np.float32))
    with pytest.raises(TypeError, match="ndarray"):
        optim.SGD([np.ones(2)], lr=0.1)
    with pytest.raises(TypeError, match="set"):
        optim.SGD({p}, lr=0.1)
    with pytest.raises(ValueError, match="more than once"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)


def test_optimizer_group_override_is_checked():
    p = Parameter(np.ones(2, np.float32))
    with pytest.raises(ValueError, match=re.escape("Adam: expected lr >= 0. Received: lr=-1")):
        optim.Adam([{"params": [p], "lr": -1}])


# --- state dicts ------------------------------------------------------------------------
def assert_plain(obj):
    """Assert that ``obj`` holds only dicts, lists, numbers, strings and arrays."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            assert isinstance(k, (int, str))
            assert_plain(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            assert_plain(v)
    else:
        assert obj is None or isinstance(obj, (np.ndarray, int, float, bool, str)), type(obj)


def through_json(sd):
    """Mimic safetensors + JSON: arrays kept, everything else through JSON (keys to str)."""
    arrays = {f"{i}.{k}": v for i, s in sd["state"].items() for k, v in s.items()
              if isinstance(v, np.ndarray)}
    rest = {k: v for k, v in sd.items() if k != "state"}
    rest["scalars"] = {str(i): {k: v for k, v in s.items() if not isinstance(v, np.ndarray)}
                       for i, s in sd["state"].items()}
    rest = json.loads(json.dumps(rest))
    state = rest.pop("scalars")
    for key, arr in arrays.items():
        i, name = key.split(".", 1)
        state.setdefault(i, {})[name] = arr.copy()
    return {"state": state, **rest}


CASES_WITH_GD = CASES + [("GradientDescent", {"lr": 0.05, "tolerance": 1e-6})]


@pytest.mark.parametrize("name, kwargs", CASES_WITH_GD, ids=CASE_IDS + ["GradientDescent"])
def test_optimizer_state_dict_round_trip_continues_identically(name, kwargs):
    x, y, init = problem()
    opt, params = make(name, kwargs, init)
    run_nerve(opt, params, x, y, 5)
    sd = opt.state_dict()
    assert_plain(sd)
    twin, twin_params = make(name, {**kwargs, "lr": 0.5}, [p.data for p in params])
    twin.load_state_dict(through_json(sd))
    assert twin.param_groups[0]["lr"] == kwargs["lr"]
    for a, b in zip(run_nerve(opt, params, x, y, 5), run_nerve(twin, twin_params, x, y, 5)):
        for u, v in zip(a, b):
            np.testing.assert_array_equal(u, v)


def test_optimizer_state_dict_is_a_copy_keyed_by_index():
    x, y, init = problem()
    opt, params = make("SGD", {"lr": 0.1, "momentum": 0.9}, init)
    run_nerve(opt, params, x, y, 2)
    sd = opt.state_dict()
    assert sorted(sd["state"]) == [0, 1, 2, 3]
    assert sd["param_groups"][0]["params"] == [0, 1, 2, 3]
    saved = sd["state"][0]["momentum_buffer"].copy()
    run_nerve(opt, params, x, y, 1)
    np.testing.assert_array_equal(sd["state"][0]["momentum_buffer"], saved)


def test_optimizer_load_state_dict_checks_groups_and_shapes():
    x, y, init = problem()
    opt, params = make("Adam", {"lr": 0.01}, init)
    run_nerve(opt, params, x, y, 1)
    sd = opt.state_dict()
    other, _ = make("Adam", {"lr": 0.01}, init[:3])
    with pytest.raises(ValueError, match="holds 4 parameters"):
        other.load_state_dict(sd)
    sd["state"][0]["exp_avg"] = np.zeros((2, 2), np.float32)
    with pytest.raises(ValueError, match=r"'exp_avg' has shape \(2, 2\)"):
        opt.load_state_dict(sd)


# --- GradientDescent, as the seed tells it ------------------------------------------------
def parabola_gd(start=0.0, **kwargs):
    p = Parameter(np.array([start], np.float32))
    return p, optim.GradientDescent([p], **kwargs)


def descend(p, opt, loss_of):
    while not opt.done:
        opt.zero_grad()
        loss_of(p).backward()
        opt.step()


def test_gradient_descent_first_step_is_lr_times_slope():
    p, opt = parabola_gd(lr=0.1)
    ((p - 3.0) ** 2).sum().backward()  # slope at 0: 2 * (0 - 3) = -6
    opt.step()
    assert p.data[0] == pytest.approx(0.6)  # 0 - 0.1 * -6
    assert opt.last_step_size == pytest.approx(0.6) and opt.steps == 1
    assert not opt.converged and not opt.done


def test_gradient_descent_converges_on_parabola():
    p, opt = parabola_gd(lr=0.1)
    descend(p, opt, lambda p: ((p - 3.0) ** 2).sum())
    # each step shrinks the error by 1 - 2 * lr = 0.8; 0.6 * 0.8^29 is the first step <= 0.001
    assert opt.converged and opt.done and opt.should_stop
    assert opt.steps == 30
    assert opt.last_step_size <= 0.001
    assert abs(p.data[0] - 3.0) < 0.005


def test_gradient_descent_seed_intercept_example():
    # the seed's example: fit the intercept of y = intercept + 0.64 x by the sum of squared
    # residuals; the first slope is -5.7, the first step size -0.57, and it ends near 0.95
    x = Tensor(np.array([0.5, 2.3, 2.9], np.float32))
    y = Tensor(np.array([1.4, 1.9, 3.2], np.float32))
    intercept, opt = parabola_gd(lr=0.1)
    ssr = lambda b: ((y - (b + 0.64 * x)) ** 2).sum()  # noqa: E731
    ssr(intercept).backward()
    assert intercept.grad[0] == pytest.approx(-5.704, abs=1e-3)
    opt.step()
    assert intercept.data[0] == pytest.approx(0.5704, abs=1e-4)
    descend(intercept, opt, ssr)
    assert opt.converged and opt.steps < 1000
    assert intercept.data[0] == pytest.approx(0.95, abs=0.002)


def test_gradient_descent_stops_at_max_steps_with_tiny_lr():
    # far from the minimum with a tiny lr, each step shrinks the error by only 1 - 1e-4: after
    # 1000 steps the step size (about 0.009) is still above the tolerance, yet it stops
    p, opt = parabola_gd(lr=5e-5)
    descend(p, opt, lambda p: ((p - 100.0) ** 2).sum())
    assert opt.steps == 1000 and opt.done and not opt.converged
    assert opt.last_step_size == pytest.approx(0.01 * 0.9999**999, rel=1e-3)
    before = p.data.clone()
    p.grad = np.array([100.0], np.float32)
    assert opt.step() is None  # done: nothing changes
    np.testing.assert_array_equal(p.data, before)
    assert opt.steps == 1000


def test_gradient_descent_converges_only_when_every_parameter_does():
    a, b = Parameter(np.array([0.0], np.float32)), Parameter(np.array([0.0], np.float32))
    opt = optim.GradientDescent([a, b], lr=0.1)
    a.grad = np.array([1e-4], np.float32)
    b.grad = np.array([1.0], np.float32)
    opt.step()
    assert not opt.converged and opt.last_step_size == pytest.approx(0.1)
    b.grad = np.array([1e-3], np.float32)
    opt.step()
    assert opt.converged


def test_gradient_descent_without_gradients_raises():
    _, opt = parabola_gd(lr=0.1)
    with pytest.raises(RuntimeError, match="backward"):
        opt.step()


def test_gradient_descent_state_dict_keeps_the_count():
    p, opt = parabola_gd(lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        ((p - 3.0) ** 2).sum().backward()
        opt.step()
    sd = json.loads(json.dumps(opt.state_dict()))
    q, twin = parabola_gd(start=float(p.data[0]), lr=0.5)
    twin.load_state_dict(sd)
    assert (twin.steps, twin.converged, twin.param_groups[0]["lr"]) == (3, False, 0.1)
    descend(p, opt, lambda p: ((p - 3.0) ** 2).sum())
    descend(q, twin, lambda p: ((p - 3.0) ** 2).sum())
    assert twin.steps == opt.steps == 30
    np.testing.assert_array_equal(p.data, q.data)


# --- argument checks: one test each --------------------------------------------------------
INVALID = [
    ("SGD", {"lr": -1}, "lr", -1),
    ("SGD", {"lr": 0.1, "momentum": -1}, "momentum", -1),
    ("SGD", {"lr": 0.1, "momentum": 1.0}, "momentum", 1.0),
    ("SGD", {"lr": 0.1, "dampening": 1.5}, "dampening", 1.5),
    ("SGD", {"lr": 0.1, "weight_decay": -0.1}, "weight_decay", -0.1),
    ("SGD", {"lr": 0.1, "nesterov": True}, "nesterov", True),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "nesterov": True}, "nesterov", True),
    ("Adam", {"lr": -0.001}, "lr", -0.001),
    ("Adam", {"betas": (1.0, 0.999)}, "betas[0]", 1.0),
    ("Adam", {"betas": (0.9, -0.5)}, "betas[1]", -0.5),
    ("Adam", {"betas": (0.9,)}, "betas", (0.9,)),
    ("Adam", {"eps": -1e-8}, "eps", -1e-8),
    ("Adam", {"weight_decay": -1}, "weight_decay", -1),
    ("AdamW", {"lr": -1}, "lr", -1),
    ("AdamW", {"betas": (0.9, 1.5)}, "betas[1]", 1.5),
    ("AdamW", {"weight_decay": -0.01}, "weight_decay", -0.01),
    ("RMSprop", {"lr": -1}, "lr", -1),
    ("RMSprop", {"alpha": -0.1}, "alpha", -0.1),
    ("RMSprop", {"alpha": 1.5}, "alpha", 1.5),
    ("RMSprop", {"eps": -1}, "eps", -1),
    ("RMSprop", {"momentum": -0.5}, "momentum", -0.5),
    ("RMSprop", {"weight_decay": -1}, "weight_decay", -1),
    ("GradientDescent", {"lr": -0.1}, "lr", -0.1),
    ("GradientDescent", {"lr": 0}, "lr", 0),
    ("GradientDescent", {"lr": 0.1, "tolerance": -0.001}, "tolerance", -0.001),
    ("GradientDescent", {"lr": 0.1, "max_steps": 0}, "max_steps", 0),
    ("GradientDescent", {"lr": 0.1, "max_steps": 2.5}, "max_steps", 2.5),
]


@pytest.mark.parametrize("name, kwargs, arg, value", INVALID,
                         ids=[f"{n}-{a}={v!r}" for n, _, a, v in INVALID])
def test_optimizer_invalid_argument_raises(name, kwargs, arg, value):
    p = Parameter(np.ones(2, np.float32))
    error = TypeError if arg == "max_steps" and not isinstance(value, int) else ValueError
    with pytest.raises(error, match=re.escape(f"{name}: expected ") + ".*"
                       + re.escape(f"Received: {arg}={value!r}")):
        getattr(optim, name)([p], **kwargs)


def test_optimizer_non_number_argument_raises_type_error():
    p = Parameter(np.ones(2, np.float32))
    with pytest.raises(TypeError, match="lr"):
        optim.SGD([p], lr="0.1")


def test_gradient_descent_load_state_dict_checks_before_changing_anything():
    p = Parameter(nerve.tensor([1.0]))
    opt = optim.GradientDescent([p], lr=0.5)
    state = opt.state_dict()
    bad = dict(state, steps="three", param_groups=[dict(state["param_groups"][0], lr=0.1)])
    with pytest.raises(TypeError, match="steps"):
        opt.load_state_dict(bad)
    with pytest.raises(ValueError, match="max_steps"):
        opt.load_state_dict(dict(state, max_steps=0))
    assert opt.param_groups[0]["lr"] == 0.5 and opt.steps == 0 and opt.max_steps == 1000


MAXIMIZE = [("SGD", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01}),
            ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
            ("Adam", {"lr": 0.01, "weight_decay": 0.01, "amsgrad": True}),
            ("AdamW", {"lr": 0.01}),
            ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True, "weight_decay": 0.01}),
            ("Adadelta", {"lr": 1.0, "weight_decay": 0.01})]


@pytest.mark.parametrize("flat", [True, False], ids=["flat", "per-parameter"])
@pytest.mark.parametrize("name, kwargs", MAXIMIZE, ids=[n for n, _ in MAXIMIZE])
def test_maximize_climbs_as_pytorchs_and_leaves_the_gradients(name, kwargs, flat):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    values = [rng.normal(size=(5, 4)), rng.normal(size=4)]
    ours = [nerve.tensor(v, dtype=nerve.float64, requires_grad=True) for v in values]
    theirs = [torch.tensor(v, requires_grad=True) for v in values]
    opt = getattr(optim, name)(ours, maximize=True, **kwargs)
    opt.flat = flat
    topt = getattr(torch.optim, name)(theirs, maximize=True, **kwargs)
    x = rng.normal(size=(3, 5))
    for _ in range(4):
        for params, o, lib in ((ours, opt, nerve), (theirs, topt, torch)):
            o.zero_grad()
            y = (nerve.tensor(x, dtype=nerve.float64) if lib is nerve else torch.tensor(x)) \
                @ params[0] + params[1]
            (-(y ** 2).sum()).backward()
        before = ours[0].grad.numpy().copy()
        opt.step()
        topt.step()
        np.testing.assert_array_equal(ours[0].grad.numpy(), before)  # the step kept .grad
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-10,
                                   atol=1e-12)


def test_pytorchs_update_flags_are_taken_or_refused_clearly():
    params = [nerve.zeros(3, requires_grad=True)]
    optim.Adam(params, fused=True)
    optim.SGD(params, foreach=False)
    with pytest.raises(ValueError, match="differentiable=False"):
        optim.Adam(params, differentiable=True)
    with pytest.raises(ValueError, match="capturable=False"):
        optim.AdamW(params, capturable=True)
    with pytest.raises(TypeError, match="maximize"):
        optim.SGD(params, maximize="yes")
    with pytest.raises(TypeError):
        optim.SGD(params, nonsense=1)


def test_a_state_saved_before_maximize_existed_loads_as_pytorchs(tmp_path):
    """Files written before optimizers took maximize have no such key: it reads as False (the
    checkpoint loader had refused them for the missing key)."""
    nerve.manual_seed(0)
    model = nerve.nn.Linear(3, 2)
    opt = optim.Adam(model.parameters(), lr=0.01)
    model(nerve.ones(4, 3)).sum().backward()
    opt.step()
    for group in opt.param_groups:
        del group["maximize"]  # as written before
    state = opt.state_dict()
    path = tmp_path / "old.safetensors"
    nerve.io.save_checkpoint(path, model, opt, epoch=1)
    for maximize in (False, True):
        fresh = optim.Adam(model.parameters(), lr=0.01, maximize=maximize)
        fresh.load_state_dict(state)
        assert fresh.param_groups[0]["maximize"] is False
        again = optim.Adam(model.parameters(), lr=0.01, maximize=maximize)
        nerve.io.load_checkpoint(path, model, again)
        assert again.param_groups[0]["maximize"] is False
