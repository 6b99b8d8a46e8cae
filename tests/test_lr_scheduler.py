"""Learning-rate schedules: 30 steps against torch.optim.lr_scheduler, state dicts, checks."""

import json
import re

import numpy as np
import pytest

import nerve
from nerve import optim
from nerve.nn.parameter import Parameter
from nerve.optim import lr_scheduler

SCHEDULES = [
    ("StepLR", {"step_size": 3, "gamma": 0.5}),
    ("StepLR", {"step_size": 1}),
    ("ExponentialLR", {"gamma": 0.9}),
    ("CosineAnnealingLR", {"T_max": 10, "eta_min": 0.001}),
    ("CosineAnnealingLR", {"T_max": 7}),
    ("MultiStepLR", {"milestones": [3, 5, 5, 9], "gamma": 0.5}),
    ("MultiStepLR", {"milestones": [0, 2]}),
    ("LinearLR", {"total_iters": 0}),
    ("PolynomialLR", {"total_iters": 0}),
    ("ConstantLR", {"factor": 0.5, "total_iters": 4}),
    ("ConstantLR", {}),
    ("LinearLR", {"start_factor": 0.25, "total_iters": 6}),
    ("LinearLR", {"start_factor": 1.0, "end_factor": 0.1, "total_iters": 8}),
    ("PolynomialLR", {"total_iters": 10, "power": 2.0}),
    ("PolynomialLR", {}),
    ("MultiplicativeLR", {"lr_lambda": lambda epoch: 0.95 if epoch % 2 else 0.9}),
]
# a metric that improves, stalls, wobbles within the threshold, improves again and stalls
METRICS = [1.0, 0.9, 0.9, 0.95, 0.9, 0.91, 0.8, 0.79995, 0.8, 0.85, 0.85, 0.7, 0.7, 0.7, 0.72,
           0.7, 0.6, 0.6, 0.61, 0.6, 0.6, 0.6, 0.5, 0.55, 0.55, 0.55, 0.55, 0.55, 0.55, 0.55]
PLATEAUS = [
    {"patience": 2},
    {"patience": 1, "factor": 0.5, "cooldown": 2, "min_lr": [0.004, 0.0]},
    {"mode": "max", "patience": 0, "threshold": 0.01, "threshold_mode": "abs"},
    {"patience": 1, "threshold": 0.05, "min_lr": 1e-3},
]


def groups(params):
    """Two parameter groups with different learning rates."""
    return [{"params": params[:1]}, {"params": params[1:], "lr": 0.05}]


def nerve_opt():
    params = [Parameter(np.ones(2, np.float32)), Parameter(np.ones(3, np.float32))]
    return optim.SGD(groups(params), lr=0.1, momentum=0.9)


def torch_opt():
    torch = pytest.importorskip("torch")
    params = [torch.ones(2, requires_grad=True), torch.ones(3, requires_grad=True)]
    return torch.optim.SGD(groups(params), lr=0.1, momentum=0.9)


@pytest.mark.parametrize("name, kwargs", SCHEDULES, ids=[f"{n}-{k}" for n, k in SCHEDULES])
def test_scheduler_matches_torch_for_30_steps(name, kwargs):
    torch = pytest.importorskip("torch")
    topt, opt = torch_opt(), nerve_opt()
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    sched = getattr(lr_scheduler, name)(opt, **kwargs)
    assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-12)
    for epoch in range(30):
        topt.step()
        opt.step()
        tsched.step()
        sched.step()
        assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-12, abs=1e-15), \
            f"epoch {epoch}"
        assert [g["lr"] for g in opt.param_groups] == sched.get_last_lr()


@pytest.mark.parametrize("kwargs", PLATEAUS, ids=[str(k) for k in PLATEAUS])
def test_reduce_lr_on_plateau_matches_torch_for_30_steps(kwargs):
    torch = pytest.importorskip("torch")
    topt, opt = torch_opt(), nerve_opt()
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
    sched = lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    changes = 0
    for metric in METRICS:
        before = sched.get_last_lr()
        tsched.step(metric)
        sched.step(metric)
        assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-12)
        assert (sched.num_bad_epochs, sched.cooldown_counter) == \
            (tsched.num_bad_epochs, tsched.cooldown_counter)
        changes += sched.get_last_lr() != before
    assert changes >= 2  # the sequence does exercise the reductions


def test_scheduler_drives_the_optimizer_lr():
    p = Parameter(np.zeros(1, np.float32))
    opt = optim.SGD([p], lr=1.0)
    sched = lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        p.grad = np.ones(1, np.float32)
        opt.step()
        sched.step()
    assert p.data[0] == pytest.approx(-(1.0 + 0.5 + 0.25))


@pytest.mark.parametrize("name, kwargs", SCHEDULES + [("ReduceLROnPlateau", PLATEAUS[1])],
                         ids=[n for n, _ in SCHEDULES] + ["Plateau"])
def test_scheduler_state_dict_round_trip(name, kwargs):
    opt = nerve_opt()
    sched = getattr(lr_scheduler, name)(opt, **kwargs)
    plateau = name == "ReduceLROnPlateau"
    for metric in METRICS[:12]:
        sched.step(metric) if plateau else sched.step()
    opt_sd, sched_sd = opt.state_dict(), json.loads(json.dumps(sched.state_dict()))
    twin_opt = nerve_opt()  # PyTorch's order: both made, then both loaded (a schedule's
    twin = getattr(lr_scheduler, name)(twin_opt, **kwargs)  # first step may scale the lrs)
    twin_opt.load_state_dict(opt_sd)
    twin.load_state_dict(sched_sd)
    assert twin.get_last_lr() == sched.get_last_lr()
    for metric in METRICS[12:]:
        for s in (sched, twin):
            s.step(metric) if plateau else s.step()
        assert twin.get_last_lr() == sched.get_last_lr()


def test_scheduler_resume_needs_initial_lr():
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(nerve_opt(), step_size=2, last_epoch=4)


def test_scheduler_needs_an_optimizer():
    with pytest.raises(TypeError, match="Optimizer"):
        lr_scheduler.ExponentialLR([Parameter(np.ones(1))], gamma=0.5)


INVALID = [
    ("StepLR", {"step_size": 0}, "step_size", 0),
    ("StepLR", {"step_size": 2.5}, "step_size", 2.5),
    ("StepLR", {"step_size": 2, "gamma": -0.1}, "gamma", -0.1),
    ("ExponentialLR", {"gamma": -1}, "gamma", -1),
    ("CosineAnnealingLR", {"T_max": 0}, "T_max", 0),
    ("CosineAnnealingLR", {"T_max": 5, "eta_min": -1}, "eta_min", -1),
    ("ReduceLROnPlateau", {"factor": 1.0}, "factor", 1.0),
    ("ReduceLROnPlateau", {"mode": "lowest"}, "mode", "lowest"),
    ("ReduceLROnPlateau", {"threshold_mode": "ratio"}, "threshold_mode", "ratio"),
    ("ReduceLROnPlateau", {"patience": -1}, "patience", -1),
    ("ReduceLROnPlateau", {"cooldown": -2}, "cooldown", -2),
    ("ReduceLROnPlateau", {"min_lr": [0.1]}, "min_lr", [0.1]),
]


@pytest.mark.parametrize("name, kwargs, arg, value", INVALID,
                         ids=[f"{n}-{a}={v!r}" for n, _, a, v in INVALID])
def test_scheduler_invalid_argument_raises(name, kwargs, arg, value):
    error = TypeError if isinstance(value, float) and arg == "step_size" else ValueError
    with pytest.raises(error, match=re.escape(f"{name}: expected ") + ".*"
                       + re.escape(f"Received: {arg}={value!r}")):
        getattr(lr_scheduler, name)(nerve_opt(), **kwargs)


# --- LambdaLR and OneCycleLR --------------------------------------------------------------------
def adam_pair(betas=(0.9, 0.999)):
    torch = pytest.importorskip("torch")
    tparams = [torch.ones(2, requires_grad=True), torch.ones(3, requires_grad=True)]
    params = [Parameter(np.ones(2, np.float32)), Parameter(np.ones(3, np.float32))]
    return (torch.optim.Adam(groups(tparams), lr=0.1, betas=betas),
            optim.Adam(groups(params), lr=0.1, betas=betas))


def assert_same_steps(topt, opt, tsched, sched, steps, momentum=None):
    """The lrs (and the momentum, when named) of torch's and ours after each step."""
    def state(o, s):
        extra = [] if momentum is None else [tuple(g[momentum]) if momentum == "betas"
                                             else g[momentum] for g in o.param_groups]
        return s.get_last_lr(), [g["lr"] for g in o.param_groups], extra

    for step in range(steps + 1):
        ours, ref = state(opt, sched), state(topt, tsched)
        for a, b in zip(ours, ref):
            assert np.allclose(np.asarray(a, float), np.asarray(b, float), rtol=1e-12,
                               atol=1e-15), f"step {step}: {a} != {b}"
        if step < steps:
            topt.step()
            opt.step()
            tsched.step()
            sched.step()


LAMBDAS = [
    (lambda epoch: 0.95 ** epoch, "exponential"),
    ([lambda epoch: 1 / (epoch + 1), lambda epoch: min(1.0, (epoch + 1) / 5)], "per-group"),
]


@pytest.mark.parametrize("lr_lambda, name", LAMBDAS, ids=[n for _, n in LAMBDAS])
def test_lambda_lr_matches_torch(lr_lambda, name):
    torch = pytest.importorskip("torch")
    topt, opt = torch_opt(), nerve_opt()
    tsched = torch.optim.lr_scheduler.LambdaLR(topt, lr_lambda)
    sched = lr_scheduler.LambdaLR(opt, lr_lambda)
    assert_same_steps(topt, opt, tsched, sched, 30)


ONE_CYCLE = [
    {"max_lr": 1.0, "total_steps": 40},
    {"max_lr": [0.5, 0.2], "epochs": 4, "steps_per_epoch": 9, "pct_start": 0.25,
     "anneal_strategy": "linear"},
    {"max_lr": 0.3, "total_steps": 37, "three_phase": True, "div_factor": 10.0,
     "final_div_factor": 100.0},
    {"max_lr": 0.3, "total_steps": 25, "cycle_momentum": False},
    {"max_lr": 0.3, "total_steps": 30, "base_momentum": [0.8, 0.7], "max_momentum": 0.9},
]


@pytest.mark.parametrize("kwargs", ONE_CYCLE, ids=[str(k) for k in ONE_CYCLE])
def test_one_cycle_lr_matches_torch_with_sgd_momentum(kwargs):
    torch = pytest.importorskip("torch")
    topt, opt = torch_opt(), nerve_opt()
    tsched = torch.optim.lr_scheduler.OneCycleLR(topt, **kwargs)
    sched = lr_scheduler.OneCycleLR(opt, **kwargs)
    assert_same_steps(topt, opt, tsched, sched, sched.total_steps, "momentum")


def test_one_cycle_lr_cycles_adam_beta1_as_torch():
    torch = pytest.importorskip("torch")
    topt, opt = adam_pair()
    tsched = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.01, total_steps=20)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=0.01, total_steps=20)
    assert_same_steps(topt, opt, tsched, sched, 20, "betas")
    assert opt.param_groups[0]["betas"][1] == 0.999


def test_one_cycle_lr_beyond_total_steps_raises_and_changes_nothing():
    opt = nerve_opt()
    sched = lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=3)
    for _ in range(3):
        sched.step()
    before = (sched.last_epoch, [dict(g) for g in opt.param_groups])
    with pytest.raises(ValueError, match=re.escape("OneCycleLR: expected at most total_steps=3 "
                                                   "steps. Received: step=4")):
        sched.step()
    assert (sched.last_epoch, [dict(g) for g in opt.param_groups]) == before


def test_one_cycle_lr_state_dict_round_trips_through_json():
    opt, opt2 = nerve_opt(), nerve_opt()
    sched = lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=20)
    for _ in range(7):
        sched.step()
    sched2 = lr_scheduler.OneCycleLR(opt2, max_lr=0.1, total_steps=20)
    sched2.load_state_dict(json.loads(json.dumps(sched.state_dict())))
    sched.step()
    sched2.step()
    assert sched2.get_last_lr() == sched.get_last_lr()


def test_lambda_lr_state_dict_leaves_the_functions_out():
    sched = lr_scheduler.LambdaLR(nerve_opt(), lambda e: 0.5 ** e)
    sched.step()
    state = json.loads(json.dumps(sched.state_dict()))
    assert "lr_lambdas" not in state
    other = lr_scheduler.LambdaLR(nerve_opt(), lambda e: 0.5 ** e)
    other.load_state_dict(state)
    other.step()
    sched.step()
    assert other.get_last_lr() == sched.get_last_lr()


@pytest.mark.parametrize("make, error, message", [
    (lambda o: lr_scheduler.LambdaLR(o, 0.5), TypeError,
     "LambdaLR: expected a function of the epoch (or a list of one per group). "
     "Received: lr_lambda[0]=0.5"),
    (lambda o: lr_scheduler.LambdaLR(o, [lambda e: 1.0]), ValueError,
     "LambdaLR: expected one value or 2 (one per parameter group)"),
    (lambda o: lr_scheduler.LambdaLR(o, lambda e: "fast"), TypeError,
     "LambdaLR: expected a number. Received: lr_lambda(0)='fast'"),
    (lambda o: lr_scheduler.LambdaLR(o, lambda e: -1.0), ValueError,
     "Received: lr_lambda(0)=-1.0"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1), ValueError,
     "OneCycleLR: expected total_steps, or epochs and steps_per_epoch"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=0), ValueError,
     "Received: total_steps=0"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, epochs=2, steps_per_epoch=1.5),
     TypeError, "Received: steps_per_epoch=1.5"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=5, pct_start=1.2),
     ValueError, "Received: pct_start=1.2"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=5, anneal_strategy="exp"),
     ValueError, "Received: anneal_strategy='exp'"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=[0.1], total_steps=5), ValueError,
     "Received: max_lr=[0.1]"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=5, div_factor=0), ValueError,
     "Received: div_factor=0"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=5, base_momentum=2.0),
     ValueError, "Received: base_momentum=2.0"),
])
def test_lambda_and_one_cycle_check_arguments_and_leave_the_optimizer(make, error, message):
    opt = nerve_opt()
    before = [dict(g) for g in opt.param_groups]
    with pytest.raises(error, match=re.escape(message)):
        make(opt)
    assert [dict(g) for g in opt.param_groups] == before


def test_one_cycle_lr_needs_momentum_or_betas_to_cycle():
    params = [Parameter(np.ones(2, np.float32))]
    opt = optim.GradientDescent(params, lr=0.1)
    with pytest.raises(ValueError, match=re.escape("expected an optimizer with momentum or betas "
                                                   "when cycle_momentum=True")):
        lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=5)
    lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=5, cycle_momentum=False)


def test_reduce_on_plateau_load_state_dict_checks_before_changing_anything():
    opt = optim.SGD([Parameter(np.ones(1, np.float32))], lr=0.1)
    sched = lr_scheduler.ReduceLROnPlateau(opt, mode="min", patience=3)
    state = dict(sched.state_dict(), mode="maximum", patience=7, best=-5.0)
    with pytest.raises(ValueError, match="mode"):
        sched.load_state_dict(state)
    assert sched.mode == "min" and sched.patience == 3 and sched.best == float("inf")


def test_step_lr_resumed_with_last_epoch_decays_when_due_as_pytorch():
    """Resumed after epoch 5 of StepLR(step_size=3, gamma=0.5) from lr 0.1 (so at 0.05):
    the decay due at epoch 6 happens, as in PyTorch and in a run never stopped."""
    torch = pytest.importorskip("torch")
    opt = optim.SGD([Parameter(np.zeros(1, np.float32))], lr=0.05)
    opt.param_groups[0]["initial_lr"] = 0.1
    ours = lr_scheduler.StepLR(opt, step_size=3, gamma=0.5, last_epoch=5)
    topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.05)
    topt.param_groups[0]["initial_lr"] = 0.1
    theirs = torch.optim.lr_scheduler.StepLR(topt, step_size=3, gamma=0.5, last_epoch=5)
    lrs = []
    for _ in range(7):
        lrs.append((opt.param_groups[0]["lr"], topt.param_groups[0]["lr"]))
        topt.step()  # (PyTorch warns when its schedule steps first)
        ours.step()
        theirs.step()
    assert [a for a, _ in lrs] == pytest.approx([b for _, b in lrs])
    assert lrs[0][0] == pytest.approx(0.025)


@pytest.mark.parametrize("last_epoch", [-1, 2])
def test_a_schedule_of_ones_own_gets_its_epoch_zero_lr_as_in_pytorch(last_epoch):
    """From the review: the base class kept the optimizer's lr at the first step instead of
    asking get_lr(), so a warm-up written the PyTorch way trained its first epoch at full lr."""
    torch = pytest.importorskip("torch")

    def warmup(base):
        class Warmup(base):
            def get_lr(self):
                return [b * min(1.0, (self.last_epoch + 1) / 4) for b in self.base_lrs]
        return Warmup

    runs = []
    for lib in ("nerve", "torch"):
        p = nerve.zeros(2, requires_grad=True) if lib == "nerve" else torch.zeros(
            2, requires_grad=True)
        opt = (nerve.optim if lib == "nerve" else torch.optim).SGD([p], lr=1.0)
        if last_epoch >= 0:
            opt.param_groups[0]["initial_lr"] = 1.0
        sched = warmup((nerve.optim if lib == "nerve" else torch.optim).lr_scheduler
                       .LRScheduler)(opt, last_epoch=last_epoch)
        lrs = [opt.param_groups[0]["lr"]]
        for _ in range(5):
            opt.step()
            sched.step()
            lrs.append(opt.param_groups[0]["lr"])
        runs.append(lrs)
    assert runs[0] == runs[1]
    assert runs[0][0] == (0.25 if last_epoch == -1 else 1.0)


def test_a_warm_up_chained_with_a_decay_matches_torch():
    """LinearLR's warm-up and ExponentialLR's decay stepped together on one optimizer, as
    PyTorch users chain them: each computes from the lr the other left."""
    torch = pytest.importorskip("torch")
    topt, opt = torch_opt(), nerve_opt()
    tscheds = [torch.optim.lr_scheduler.LinearLR(topt, start_factor=0.1, total_iters=4),
               torch.optim.lr_scheduler.ExponentialLR(topt, gamma=0.9)]
    scheds = [lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=4),
              lr_scheduler.ExponentialLR(opt, gamma=0.9)]
    for _ in range(12):
        topt.step()
        opt.step()
        for a, b in zip(tscheds, scheds):
            a.step()
            b.step()
        assert [g["lr"] for g in opt.param_groups] == pytest.approx(
            [g["lr"] for g in topt.param_groups], rel=1e-12)


@pytest.mark.parametrize("make, match", [
    (lambda o: lr_scheduler.MultiStepLR(o, milestones=3), "milestones"),
    (lambda o: lr_scheduler.MultiStepLR(o, milestones=[-1, 2]), "milestones"),
    (lambda o: lr_scheduler.ConstantLR(o, factor=0.0), "factor"),
    (lambda o: lr_scheduler.LinearLR(o, start_factor=1.5), "start_factor"),
    (lambda o: lr_scheduler.LinearLR(o, total_iters=-1), "total_iters"),
    (lambda o: lr_scheduler.PolynomialLR(o, total_iters=-1), "total_iters"),
    (lambda o: lr_scheduler.MultiplicativeLR(o, lr_lambda=0.5), "lr_lambda"),
])
def test_new_schedules_refuse_bad_arguments_and_leave_the_optimizer(make, match):
    opt = nerve_opt()
    before = [dict(g) for g in opt.param_groups]
    with pytest.raises((TypeError, ValueError), match=match):
        make(opt)
    assert [dict(g) for g in opt.param_groups] == before


@pytest.mark.parametrize("name, kwargs", SCHEDULES, ids=[f"{n}-{k}" for n, k in SCHEDULES])
def test_a_schedule_resumed_with_last_epoch_matches_torch(name, kwargs):
    """PyTorch's resume: each group's initial_lr set, the lr the checkpoint holds, and
    last_epoch=k. Some schedules keep that lr at the constructor's step, some compute the next
    one (StepLR, MultiStepLR, ConstantLR): as PyTorch's, each."""
    torch = pytest.importorskip("torch")
    topt, opt = torch_opt(), nerve_opt()
    for o in (topt, opt):
        for group, lr in zip(o.param_groups, (0.04, 0.02)):
            group["initial_lr"], group["lr"] = group["lr"], lr
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, last_epoch=3, **kwargs)
    sched = getattr(lr_scheduler, name)(opt, last_epoch=3, **kwargs)
    for epoch in range(12):
        assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-12), epoch
        topt.step()
        opt.step()
        tsched.step()
        sched.step()
