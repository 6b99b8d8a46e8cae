"""Learning-rate schedules: 30 steps against torch.optim.lr_scheduler, state dicts, checks."""

import json
import re

import numpy as np
import pytest

from nerve import optim
from nerve.nn.parameter import Parameter
from nerve.optim import lr_scheduler

SCHEDULES = [
    ("StepLR", {"step_size": 3, "gamma": 0.5}),
    ("StepLR", {"step_size": 1}),
    ("ExponentialLR", {"gamma": 0.9}),
    ("CosineAnnealingLR", {"T_max": 10, "eta_min": 0.001}),
    ("CosineAnnealingLR", {"T_max": 7}),
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


@pytest.mark.parametrize("name, kwargs", SCHEDULES[::2] + [("ReduceLROnPlateau", PLATEAUS[1])],
                         ids=["StepLR", "ExponentialLR", "CosineAnnealingLR", "Plateau"])
def test_scheduler_state_dict_round_trip(name, kwargs):
    opt = nerve_opt()
    sched = getattr(lr_scheduler, name)(opt, **kwargs)
    plateau = name == "ReduceLROnPlateau"
    for metric in METRICS[:12]:
        sched.step(metric) if plateau else sched.step()
    opt_sd, sched_sd = opt.state_dict(), json.loads(json.dumps(sched.state_dict()))
    twin_opt = nerve_opt()
    twin_opt.load_state_dict(opt_sd)
    twin = getattr(lr_scheduler, name)(twin_opt, **kwargs)
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
