"""Learning-rate schedules that change ``group["lr"]`` of an optimizer, as PyTorch's do.

Call ``scheduler.step()`` once per epoch, after the epoch's ``optimizer.step()`` calls
(``ReduceLROnPlateau.step(metric)`` takes the monitored value; ``OneCycleLR`` steps after every
batch). Like PyTorch's, StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, ConstantLR,
LinearLR, PolynomialLR and MultiplicativeLR are chainable: each computes the next lr from the
group's current one, so changes made from outside (another schedule, a warm-up) carry on;
LambdaLR and OneCycleLR compute it from the initial lr, as PyTorch's do (so do CyclicLR, from
base_lr and max_lr, and CosineAnnealingWarmRestarts). SequentialLR runs schedules one after
the other, ChainedScheduler steps several at once. A schedule of one's
own subclasses LRScheduler and defines ``get_lr()`` from ``last_epoch`` and ``base_lrs``.
State dicts hold numbers, strings and lists only (SequentialLR's and ChainedScheduler's also
their schedules' state dicts). A schedule that cannot be made leaves the
optimizer as it was.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from typing import Any

from nerve.checks import check_bool, check_choice, check_int, check_number, message
from nerve.optim.optimizer import Optimizer


def _check_optimizer(optimizer, who: str) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(message(who, "an Optimizer", "optimizer", type(optimizer).__name__))


class LRScheduler:
    """Base class of schedules: subclasses define ``get_lr()`` from ``last_epoch``.

    ``_prepare_groups()`` may set up the optimizer's groups first (OneCycleLR's ``initial_lr``);
    if anything fails while the schedule is made, the groups are put back as they were.
    """

    _initial = False  # True during the constructor's step: get_lr() may keep the lrs then
    # (PyTorch's _is_initial: ExponentialLR, CosineAnnealingLR, LinearLR, PolynomialLR and
    # MultiplicativeLR do, so a resume with last_epoch=k keeps the checkpoint's lr; StepLR,
    # MultiStepLR, ConstantLR and a schedule of one's own compute it)

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        who = type(self).__name__
        _check_optimizer(optimizer, who)
        check_int(last_epoch, "last_epoch", who, -1)
        self.optimizer = optimizer
        saved = [dict(group) for group in optimizer.param_groups]
        try:
            self._prepare_groups(last_epoch)
            for i, group in enumerate(optimizer.param_groups):
                if last_epoch == -1:
                    group.setdefault("initial_lr", group["lr"])
                elif "initial_lr" not in group:
                    raise KeyError(f"param_groups[{i}] has no 'initial_lr' to resume from with "
                                   f"last_epoch={last_epoch}: load the optimizer's state first")
            self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
            self.last_epoch = last_epoch
            self._initial_step()
        except BaseException:
            for group, before in zip(optimizer.param_groups, saved):
                group.clear()
                group.update(before)
            raise

    def _initial_step(self) -> None:
        """The constructor's step (PyTorch's ``_initial_step``; SequentialLR calls it again on
        the schedule that starts): ``_initial`` set while it runs."""
        self._step_count = 0
        self._initial = True
        try:
            self.step()
        finally:
            self._initial = False

    def _prepare_groups(self, last_epoch: int) -> None:
        """Set up the optimizer's groups before the first step (nothing by default)."""

    def get_lr(self) -> list[float]:
        """Return the next lr of every group (called by ``step()``)."""
        raise NotImplementedError(f"{type(self).__name__} defines no get_lr()")

    def _current_lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def step(self, epoch: None = None) -> None:
        """Advance the schedule by one epoch and set every group's ``lr`` (a step that fails
        changes nothing)."""
        _no_epoch(epoch, self)
        self._move(self.last_epoch + 1, self.get_lr)
        self._step_count += 1

    def _jump(self, epoch: int) -> None:
        """Set the lrs of ``epoch`` from the schedule's closed form where it has one, else from
        ``get_lr()`` (PyTorch's ``_update_lr(epoch)``, which SequentialLR calls with 0 when a
        schedule takes over at a milestone); the step count stays."""
        self._move(epoch, getattr(self, "_closed_form_lr", self.get_lr))

    def _move(self, epoch: int, compute) -> None:
        """Set ``last_epoch`` to ``epoch`` and every group's lr to ``compute()`` (if that
        fails, ``last_epoch`` goes back and nothing changes)."""
        before = self.last_epoch
        self.last_epoch = epoch
        try:
            lrs = compute()
        except BaseException:
            self.last_epoch = before
            raise
        self._set_lrs(lrs)

    def _set_lrs(self, lrs: list[float]) -> None:
        """Give every group its new lr (schedules that cycle momentum set it here too)."""
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        self._last_lr = self._current_lrs()

    def get_last_lr(self) -> list[float]:
        """Return the lr of every group as set by the last ``step()``."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Return every attribute but the optimizer, as numbers, strings and lists."""
        return {k: list(v) if isinstance(v, list) else v for k, v in self.__dict__.items()
                if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.__dict__.update({k: list(v) if isinstance(v, (list, tuple)) else v
                              for k, v in state_dict.items()})


def _cycled_momentum(schedule, optimizer, cycle_momentum, base_momentum, max_momentum,
                     who: str) -> None:
    """OneCycleLR's and CyclicLR's momentum arguments, checked: the optimizer must have a
    momentum or betas (Adam's beta1 cycles then) when ``cycle_momentum``."""
    schedule.cycle_momentum = check_bool(cycle_momentum, "cycle_momentum", who)
    schedule.use_beta1 = "betas" in optimizer.defaults
    if schedule.cycle_momentum and not (schedule.use_beta1 or "momentum" in optimizer.defaults):
        raise ValueError(message(who, "an optimizer with momentum or betas when "
                                 "cycle_momentum=True", "optimizer", type(optimizer).__name__))
    schedule.base_momentums = [check_number(v, "base_momentum", who, 0.0, 1.0) for v in
                               _per_group(base_momentum, optimizer, "base_momentum", who)]
    schedule.max_momentums = [check_number(v, "max_momentum", who, 0.0, 1.0) for v in
                              _per_group(max_momentum, optimizer, "max_momentum", who)]


def _no_epoch(epoch, scheduler) -> None:
    """PyTorch's ``step(epoch)`` is deprecated (its result differs from a step per epoch for
    some schedules): refused with the way to get there."""
    if epoch is not None:
        raise TypeError(f"{type(scheduler).__name__}.step: expected no argument (PyTorch's "
                        f"step(epoch) is deprecated): call step() once per epoch, or pass "
                        f"last_epoch= when making the schedule. Received: epoch={epoch!r}")


class StepLR(LRScheduler):
    """Multiplies the lr by ``gamma`` every ``step_size`` epochs.

    lr_epoch = lr_(epoch-1) * gamma  if epoch % step_size == 0  else  lr_(epoch-1)
    (so lr_epoch = initial_lr * gamma^(epoch // step_size) when nothing else changes it)
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1):
        who = type(self).__name__
        check_int(step_size, "step_size", who, 1)
        check_number(gamma, "gamma", who, 0.0)
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list[float]:
        return [base * self.gamma ** (self.last_epoch // self.step_size)
                for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Multiplies the lr by ``gamma`` every epoch: lr_epoch = lr_(epoch-1) * gamma."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1):
        who = type(self).__name__
        check_number(gamma, "gamma", who, 0.0)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._initial:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list[float]:
        return [base * self.gamma ** self.last_epoch for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Anneals the lr along half a cosine from its initial value to ``eta_min`` in ``T_max``.

    lr_epoch = eta_min + (initial_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2,
    computed recursively as PyTorch does (so it chains, and rises again after T_max).
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1):
        who = type(self).__name__
        check_int(T_max, "T_max", who, 1)
        check_number(eta_min, "eta_min", who, 0.0)
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._initial:
            return self._current_lrs()
        t, t_max, eta_min = self.last_epoch, self.T_max, self.eta_min
        if (t - 1 - t_max) % (2 * t_max) == 0:  # the bottom of the cosine: climb back up
            rise = (1 - math.cos(math.pi / t_max)) / 2
            return [lr + (base - eta_min) * rise
                    for lr, base in zip(self._current_lrs(), self.base_lrs)]
        ratio = (1 + math.cos(math.pi * t / t_max)) / (1 + math.cos(math.pi * (t - 1) / t_max))
        return [ratio * (lr - eta_min) + eta_min for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list[float]:
        cos = 1 + math.cos(math.pi * self.last_epoch / self.T_max)
        return [self.eta_min + (base - self.eta_min) * cos / 2 for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiplies the lr by ``gamma`` at each epoch of ``milestones`` (by gamma^k where a
    milestone is listed k times): lr_epoch = lr_(epoch-1) * gamma^(count of epoch)."""

    def __init__(self, optimizer: Optimizer, milestones, gamma: float = 0.1,
                 last_epoch: int = -1):
        who = type(self).__name__
        if isinstance(milestones, (str, bytes)) or not hasattr(milestones, "__iter__"):
            raise TypeError(message(who, "a list of epochs", "milestones", milestones))
        self.milestones = sorted(check_int(m, "milestones", who, 0) for m in milestones)
        self.gamma = check_number(gamma, "gamma", who, 0.0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        count = self.milestones.count(self.last_epoch)
        return [lr * self.gamma ** count for lr in self._current_lrs()]

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Also PyTorch's state, whose milestones are a Counter {epoch: times}."""
        state, kept = dict(state_dict), state_dict.get("milestones")
        if isinstance(kept, Mapping):
            state["milestones"] = sorted(int(e) for e, k in kept.items() for _ in range(int(k)))
        super().load_state_dict(state)

    def _closed_form_lr(self) -> list[float]:
        passed = bisect.bisect_right(self.milestones, self.last_epoch)
        return [base * self.gamma ** passed for base in self.base_lrs]


class ConstantLR(LRScheduler):
    """Multiplies the lr by ``factor`` until epoch ``total_iters``, then gives it back: a
    constant warm-up. lr_0 = lr * factor; lr_(total_iters) = lr_(total_iters - 1) / factor."""

    def __init__(self, optimizer: Optimizer, factor: float = 1.0 / 3, total_iters: int = 5,
                 last_epoch: int = -1):
        who = type(self).__name__
        self.factor = check_number(factor, "factor", who, 0.0, 1.0, low_open=True)
        self.total_iters = check_int(total_iters, "total_iters", who, 0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        lrs = self._current_lrs()
        if self.last_epoch == 0:
            return [lr * self.factor for lr in lrs]
        if self.last_epoch != self.total_iters:
            return lrs
        return [lr * (1.0 / self.factor) for lr in lrs]

    def _closed_form_lr(self) -> list[float]:
        factor = self.factor + (self.last_epoch >= self.total_iters) * (1 - self.factor)
        return [base * factor for base in self.base_lrs]


class LinearLR(LRScheduler):
    """Scales the lr linearly from ``start_factor`` to ``end_factor`` times its initial value
    over ``total_iters`` epochs (a linear warm-up or decay), then keeps it; computed step to
    step as PyTorch does (so it chains)."""

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3,
                 end_factor: float = 1.0, total_iters: int = 5, last_epoch: int = -1):
        who = type(self).__name__
        self.start_factor = check_number(start_factor, "start_factor", who, 0.0, 1.0,
                                         low_open=True)
        self.end_factor = check_number(end_factor, "end_factor", who, 0.0, 1.0)
        self.total_iters = check_int(total_iters, "total_iters", who, 0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        lrs, t = self._current_lrs(), self.last_epoch
        if t == 0:
            return [lr * self.start_factor for lr in lrs]
        if self._initial or t > self.total_iters:
            return lrs
        span = self.end_factor - self.start_factor
        step = 1.0 + span / (self.total_iters * self.start_factor + (t - 1) * span)
        return [lr * step for lr in lrs]

    def _closed_form_lr(self) -> list[float]:
        n = self.total_iters  # n = 0: the start factor, as get_lr() keeps (PyTorch divides by 0)
        done = min(n, self.last_epoch) / n if n else 0.0
        factor = self.start_factor + (self.end_factor - self.start_factor) * done
        return [base * factor for base in self.base_lrs]


class PolynomialLR(LRScheduler):
    """Decays the lr to 0 over ``total_iters`` epochs along (1 - epoch / total_iters)^power,
    step to step as PyTorch does, then keeps it."""

    def __init__(self, optimizer: Optimizer, total_iters: int = 5, power: float = 1.0,
                 last_epoch: int = -1):
        who = type(self).__name__
        self.total_iters = check_int(total_iters, "total_iters", who, 0)
        self.power = check_number(power, "power", who)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        lrs, t, n = self._current_lrs(), self.last_epoch, self.total_iters
        if self._initial or t > n:
            return lrs
        decay = ((1.0 - t / n) / (1.0 - (t - 1) / n)) ** self.power
        return [lr * decay for lr in lrs]

    def _closed_form_lr(self) -> list[float]:
        n = self.total_iters  # n = 0: the lr kept, as get_lr() keeps it (PyTorch divides by 0)
        factor = (1.0 - min(n, self.last_epoch) / n) ** self.power if n else 1.0
        return [base * factor for base in self.base_lrs]


class LambdaLR(LRScheduler):
    """Sets each group's lr to its initial lr times a function of the epoch.

    lr_epoch = initial_lr * lr_lambda(epoch)
    ``lr_lambda`` is one function for every group or a list of one per group. Not chainable:
    each lr comes from the initial one (PyTorch's). ``state_dict`` leaves the functions out
    (they are code, not state), and ``load_state_dict`` keeps the ones this schedule has.
    """

    def __init__(self, optimizer: Optimizer, lr_lambda, last_epoch: int = -1):
        who = type(self).__name__
        _check_optimizer(optimizer, who)
        self.lr_lambdas = _per_group(lr_lambda, optimizer, "lr_lambda", who)
        for i, fn in enumerate(self.lr_lambdas):
            if not callable(fn):
                raise TypeError(message(who, "a function of the epoch (or a list of one "
                                        "per group)", f"lr_lambda[{i}]", fn))
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        lrs = []
        for base, fn in zip(self.base_lrs, self.lr_lambdas):
            factor = fn(self.last_epoch)
            check_number(factor, f"lr_lambda({self.last_epoch})", type(self).__name__, 0.0)
            lrs.append(base * factor)
        return lrs

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        del state["lr_lambdas"]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict({k: v for k, v in state_dict.items() if k != "lr_lambdas"})


class MultiplicativeLR(LambdaLR):
    """Multiplies each group's lr by a function of the epoch, every epoch after the first:
    lr_epoch = lr_(epoch-1) * lr_lambda(epoch) (chainable, unlike LambdaLR)."""

    def get_lr(self) -> list[float]:
        lrs = self._current_lrs()
        if self._initial:
            return lrs
        out = []
        for lr, fn in zip(lrs, self.lr_lambdas):
            factor = fn(self.last_epoch)
            check_number(factor, f"lr_lambda({self.last_epoch})", type(self).__name__, 0.0)
            out.append(lr * factor)
        return out


def _per_group(value, optimizer: Optimizer, name: str, who: str) -> list:
    """One value for every parameter group: a list of as many, or one value repeated."""
    n = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(message(who, f"one value or {n} (one per parameter group)", name,
                                     value))
        return list(value)
    return [value] * n


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith and Topor, 2017), with PyTorch's formulas: the lr climbs from
    max_lr / div_factor to max_lr over the first pct_start of ``total_steps``, then anneals to
    max_lr / (div_factor * final_div_factor); step it after every batch
    (``LearningRateScheduler(OneCycleLR, interval="batch", max_lr=...)``).

    total_steps = total_steps, or epochs * steps_per_epoch
    phases (step s from 0): [0, pct_start * total - 1]: initial_lr -> max_lr, then
    [.., total - 1]: max_lr -> min_lr; with ``three_phase``: initial -> max up to
    pct_start * total - 1, max -> initial up to 2 * pct_start * total - 2, initial -> min_lr.
    Within a phase from step a to b: pct = (s - a) / (b - a) and
    cos: lr = end + (start - end) (1 + cos(pi pct)) / 2;  linear: lr = start + (end - start) pct
    With ``cycle_momentum`` (the default, as PyTorch's), the momentum (SGD's ``momentum``, or
    Adam's beta1) runs the other way, between max_momentum and base_momentum, on the same
    phases; an optimizer with neither raises. Stepping beyond ``total_steps`` raises.
    """

    def __init__(self, optimizer: Optimizer, max_lr, total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None,
                 pct_start: float = 0.3, anneal_strategy: str = "cos",
                 cycle_momentum: bool = True, base_momentum=0.85, max_momentum=0.95,
                 div_factor: float = 25.0, final_div_factor: float = 1e4,
                 three_phase: bool = False, last_epoch: int = -1):
        who = "OneCycleLR"
        _check_optimizer(optimizer, who)
        self.total_steps = _total_steps(total_steps, epochs, steps_per_epoch)
        pct_start = check_number(pct_start, "pct_start", who, 0.0, 1.0)
        self.anneal_strategy = check_choice(anneal_strategy, "anneal_strategy", who,
                                            ("cos", "linear"))
        self.max_lrs = [check_number(v, "max_lr", who, 0.0) for v in
                        _per_group(max_lr, optimizer, "max_lr", who)]
        self.div_factor = check_number(div_factor, "div_factor", who, 0.0, low_open=True)
        self.final_div_factor = check_number(final_div_factor, "final_div_factor", who, 0.0,
                                             low_open=True)
        self.three_phase = check_bool(three_phase, "three_phase", who)
        _cycled_momentum(self, optimizer, cycle_momentum, base_momentum, max_momentum, who)
        self.phases = _phases(self.total_steps, pct_start, self.three_phase)
        super().__init__(optimizer, last_epoch)

    def _prepare_groups(self, last_epoch: int) -> None:
        if last_epoch != -1:
            return
        for group, top, m_top, m_base in zip(self.optimizer.param_groups, self.max_lrs,
                                             self.max_momentums, self.base_momentums):
            group["initial_lr"] = top / self.div_factor
            group["max_lr"] = top
            group["min_lr"] = group["initial_lr"] / self.final_div_factor
            if self.cycle_momentum:
                group["max_momentum"], group["base_momentum"] = m_top, m_base

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list[float]:
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(message("OneCycleLR", f"at most total_steps={self.total_steps} "
                                     "steps", "step", step))
        lrs, momenta = [], []
        for group in self.optimizer.param_groups:
            start = 0.0
            for i, (end, lr_from, lr_to, m_from, m_to) in enumerate(self.phases):
                if step <= end or i == len(self.phases) - 1:
                    pct = (step - start) / (end - start)
                    lrs.append(self._anneal(group[lr_from], group[lr_to], pct))
                    if self.cycle_momentum:
                        momenta.append(self._anneal(group[m_from], group[m_to], pct))
                    break
                start = end
        self._momenta = momenta
        return lrs

    def _set_lrs(self, lrs: list[float]) -> None:
        """Set every group's lr (and momentum, when it cycles)."""
        super()._set_lrs(lrs)
        _set_momenta(self.optimizer, self._momenta, self.use_beta1)


def _set_momenta(optimizer: Optimizer, momenta: list[float], use_beta1: bool) -> None:
    """Set each group's momentum (SGD's ``momentum``, or beta1 of Adam's ``betas``)."""
    for group, momentum in zip(optimizer.param_groups, momenta):
        if use_beta1:
            group["betas"] = (momentum, *group["betas"][1:])
        else:
            group["momentum"] = momentum


def _total_steps(total_steps, epochs, steps_per_epoch) -> int:
    who = "OneCycleLR"
    if total_steps is not None:
        return check_int(total_steps, "total_steps", who, 1)
    if epochs is None or steps_per_epoch is None:
        raise ValueError(message(who, "total_steps, or epochs and steps_per_epoch",
                                 "total_steps, epochs, steps_per_epoch",
                                 (total_steps, epochs, steps_per_epoch)))
    return check_int(epochs, "epochs", who, 1) * check_int(steps_per_epoch, "steps_per_epoch",
                                                           who, 1)


def _phases(total: int, pct_start: float, three_phase: bool) -> list:
    """(last step, lr from, lr to, momentum from, momentum to) of each phase, by group keys."""
    up = float(pct_start * total) - 1
    if three_phase:
        return [[up, "initial_lr", "max_lr", "max_momentum", "base_momentum"],
                [float(2 * pct_start * total) - 2, "max_lr", "initial_lr", "base_momentum",
                 "max_momentum"],
                [total - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"]]
    return [[up, "initial_lr", "max_lr", "max_momentum", "base_momentum"],
            [total - 1, "max_lr", "min_lr", "base_momentum", "max_momentum"]]


class ReduceLROnPlateau(LRScheduler):
    """Multiplies the lr by ``factor`` when a metric has stopped improving for ``patience``.

    better (mode min, rel):  metric < best * (1 - threshold)    (abs: metric < best - threshold)
    better (mode max, rel):  metric > best * (1 + threshold)    (abs: metric > best + threshold)
    after more than ``patience`` epochs without improvement: lr = max(lr * factor, min_lr)
    (skipped when the change is at most ``eps``), then ``cooldown`` epochs are not counted.
    """

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr: float | list[float] = 0.0, eps: float = 1e-8):
        who = type(self).__name__
        _check_optimizer(optimizer, who)
        check_number(factor, "factor", who, 0.0, 1.0, high_open=True)
        check_int(patience, "patience", who, 0)
        check_int(cooldown, "cooldown", who, 0)
        check_number(threshold, "threshold", who, 0.0)
        check_number(eps, "eps", who, 0.0)
        self.optimizer = optimizer
        self.min_lrs = self._min_lrs(min_lr)
        self.factor, self.patience, self.cooldown, self.eps = factor, patience, cooldown, eps
        self.mode, self.threshold, self.threshold_mode = mode, threshold, threshold_mode
        self._check_modes(mode, threshold_mode)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = self._current_lrs()

    def _min_lrs(self, min_lr) -> list[float]:
        n = len(self.optimizer.param_groups)
        min_lrs = list(min_lr) if isinstance(min_lr, (list, tuple)) else [min_lr] * n
        if len(min_lrs) != n:
            raise ValueError(message(type(self).__name__, f"one number or {n} (one per "
                                     "parameter group)", "min_lr", min_lr))
        for value in min_lrs:
            check_number(value, "min_lr", type(self).__name__, 0.0)
        return min_lrs

    def _check_modes(self, mode: str, threshold_mode: str) -> None:
        check_choice(mode, "mode", type(self).__name__, ("min", "max"))
        check_choice(threshold_mode, "threshold_mode", type(self).__name__, ("rel", "abs"))

    def is_better(self, current: float, best: float) -> bool:
        """Return True when ``current`` improves on ``best`` by more than the threshold."""
        if self.threshold_mode == "rel":
            scale = 1 - self.threshold if self.mode == "min" else 1 + self.threshold
            bound = best * scale
        else:
            bound = best - self.threshold if self.mode == "min" else best + self.threshold
        return current < bound if self.mode == "min" else current > bound

    def step(self, metrics: float) -> None:  # type: ignore[override]
        """Record this epoch's metric and lower the lr after too long a plateau."""
        current = float(metrics.item() if hasattr(metrics, "item") else metrics)
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = self._current_lrs()

    def _reduce_lr(self) -> None:
        for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
            old = float(group["lr"])
            new = max(old * self.factor, min_lr)
            if old - new > self.eps:
                group["lr"] = new

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._check_modes(state_dict.get("mode", self.mode),  # before anything changes
                          state_dict.get("threshold_mode", self.threshold_mode))
        super().load_state_dict(state_dict)


class CosineAnnealingWarmRestarts(LRScheduler):
    """Cosine annealing with warm restarts (SGDR, Loshchilov and Hutter, 2016), as PyTorch's.

    lr = eta_min + (initial_lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2
    where ``T_cur`` counts the epochs since the last restart and ``T_i``, the length of the
    current run, starts at ``T_0`` and is multiplied by ``T_mult`` at each restart (where the
    lr jumps back to its initial value). Not chainable: each lr comes from the initial one.
    ``step(epoch)`` (unlike the other schedules') is PyTorch's documented way to anneal within
    an epoch: ``step(epoch + i / batches)`` after batch i sets ``T_cur`` from that fractional
    epoch; a later ``step()`` goes on from there.
    """

    def __init__(self, optimizer: Optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0,
                 last_epoch: int = -1):
        who = type(self).__name__
        self.T_0 = self.T_i = check_int(T_0, "T_0", who, 1)
        self.T_mult = check_int(T_mult, "T_mult", who, 1)
        self.eta_min = check_number(eta_min, "eta_min", who, 0.0)
        self.T_cur = check_int(last_epoch, "last_epoch", who, -1)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        cos = 1 + math.cos(math.pi * self.T_cur / self.T_i)
        return [self.eta_min + (base - self.eta_min) * cos / 2 for base in self.base_lrs]

    def step(self, epoch: float | None = None) -> None:
        """Advance by one epoch, or go to ``epoch`` (a number >= 0, fractional within an
        epoch) and set every group's lr (a step that fails changes nothing)."""
        t_cur, t_i = self.T_cur, self.T_i
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            t_cur += 1
            if t_cur >= t_i:
                t_cur, t_i = t_cur % t_i, t_i * self.T_mult
        else:
            check_number(epoch, "epoch", f"{type(self).__name__}.step", 0.0)
            if epoch >= self.T_0:
                if self.T_mult == 1:
                    t_cur = epoch % self.T_0
                else:  # PyTorch's arithmetic: the run that epoch falls in
                    n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
                    t_cur = epoch - self.T_0 * (self.T_mult**n - 1) / (self.T_mult - 1)
                    t_i = self.T_0 * self.T_mult**n
            else:
                t_cur, t_i = epoch, self.T_0
        before = self.T_cur, self.T_i
        self.T_cur, self.T_i = t_cur, t_i
        try:
            self._move(math.floor(epoch), self.get_lr)
        except BaseException:
            self.T_cur, self.T_i = before
            raise
        self._step_count += 1


class CyclicLR(LRScheduler):
    """The cyclical learning rate policy (Smith, 2017), with PyTorch's formulas: the lr goes
    from ``base_lr`` up to ``max_lr`` in ``step_size_up`` steps and back down in
    ``step_size_down`` (default: as many), again and again; step it after every batch
    (``LearningRateScheduler(CyclicLR, interval="batch", ...)`` in ``fit``).

    With s the step count (``last_epoch``), T = step_size_up + step_size_down, r =
    step_size_up / T: cycle = floor(1 + s / T), x = 1 + s / T - cycle, h = x / r when x <= r,
    else (x - 1) / (r - 1); lr = base_lr + (max_lr - base_lr) * h * scale, where scale is
    1 (``"triangular"``), 1 / 2^(cycle - 1) (``"triangular2"``), gamma^s (``"exp_range"``),
    or ``scale_fn(cycle)`` / ``scale_fn(s)`` (``scale_mode`` "cycle" / "iterations") for a
    function of one's own, which then replaces ``mode``.
    Making the schedule sets each group's lr to base_lr (not chainable: the lr comes from
    base_lr and max_lr alone). With ``cycle_momentum`` (the default, as PyTorch's), the
    momentum (SGD's ``momentum``, or Adam's beta1) runs the other way: max_momentum -
    (max_momentum - base_momentum) * h * scale; an optimizer with neither raises.
    ``state_dict`` leaves ``scale_fn`` out (code, not state); ``load_state_dict`` keeps this
    schedule's.
    """

    def __init__(self, optimizer: Optimizer, base_lr, max_lr, step_size_up: int = 2000,
                 step_size_down: int | None = None, mode: str = "triangular",
                 gamma: float = 1.0, scale_fn=None, scale_mode: str = "cycle",
                 cycle_momentum: bool = True, base_momentum=0.8, max_momentum=0.9,
                 last_epoch: int = -1):
        who = type(self).__name__
        _check_optimizer(optimizer, who)
        self.optimizer = optimizer
        base_lrs = [check_number(v, "base_lr", who, 0.0)
                    for v in _per_group(base_lr, optimizer, "base_lr", who)]
        self.max_lrs = [check_number(v, "max_lr", who, 0.0)
                        for v in _per_group(max_lr, optimizer, "max_lr", who)]
        up = check_number(step_size_up, "step_size_up", who, 0.0, low_open=True)
        down = up if step_size_down is None else check_number(step_size_down,
                                                              "step_size_down", who, 0.0)
        self.total_size = up + down
        self.step_ratio = up / self.total_size
        self.mode = check_choice(mode, "mode", who, ("triangular", "triangular2", "exp_range"))
        self.gamma = check_number(gamma, "gamma", who, 0.0)
        if scale_fn is not None and not callable(scale_fn):
            raise TypeError(message(who, "a function of the cycle or the step, or None",
                                    "scale_fn", scale_fn))
        self._scale_fn_custom = scale_fn
        self.scale_mode = check_choice(scale_mode, "scale_mode", who, ("cycle", "iterations"))
        if scale_fn is None:  # the mode decides (PyTorch's)
            self.scale_mode = "iterations" if mode == "exp_range" else "cycle"
        _cycled_momentum(self, optimizer, cycle_momentum, base_momentum, max_momentum, who)
        self._base_lrs = base_lrs
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs  # after the first step, as PyTorch's (that step's base_lrs
        del self._base_lrs  # are the groups' initial_lr, which is base_lr unless set before)

    def _prepare_groups(self, last_epoch: int) -> None:
        if last_epoch != -1:
            return
        for group, lr in zip(self.optimizer.param_groups, self._base_lrs):
            group["lr"] = lr
        if self.cycle_momentum:
            _set_momenta(self.optimizer, self.max_momentums, self.use_beta1)
            for group, m_top, m_base in zip(self.optimizer.param_groups, self.max_momentums,
                                            self.base_momentums):
                group["max_momentum"], group["base_momentum"] = m_top, m_base

    def scale_fn(self, x: float) -> float:
        """The amplitude's scale at cycle (or step) ``x``: the mode's, or ``scale_fn``'s."""
        if self._scale_fn_custom is not None:
            return check_number(self._scale_fn_custom(x), f"scale_fn({x})", type(self).__name__)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma**x

    def get_lr(self) -> list[float]:
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle
        if x <= self.step_ratio:
            height = x / self.step_ratio
        else:
            height = (x - 1) / (self.step_ratio - 1)
        scale = self.scale_fn(cycle if self.scale_mode == "cycle" else self.last_epoch)
        lrs = [base + (top - base) * height * scale
               for base, top in zip(self.base_lrs, self.max_lrs)]
        self._momenta = ([top - (top - base) * height * scale for base, top in
                          zip(self.base_momentums, self.max_momentums)]
                         if self.cycle_momentum else [])
        return lrs

    def _set_lrs(self, lrs: list[float]) -> None:
        """Set every group's lr (and momentum, when it cycles)."""
        super()._set_lrs(lrs)
        _set_momenta(self.optimizer, self._momenta, self.use_beta1)

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        del state["_scale_fn_custom"]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict({k: v for k, v in state_dict.items()
                                 if k != "_scale_fn_custom"})


def _schedule_list(schedulers, who: str) -> list:
    """``schedulers`` as a list of at least one."""
    if isinstance(schedulers, (str, bytes, LRScheduler)) or not hasattr(schedulers, "__iter__"):
        raise TypeError(message(who, "a list of schedules", "schedulers", schedulers))
    schedulers = list(schedulers)
    if not schedulers:
        raise ValueError(message(who, "at least one schedule", "schedulers", schedulers))
    return schedulers


def _check_schedulers(schedulers, optimizer: Optimizer, who: str,
                      composite: bool = True) -> list:
    """The schedules, checked: at least one, each a step-per-epoch LRScheduler (not
    ReduceLROnPlateau, whose step takes a metric) on ``optimizer``; with ``composite=False``
    none a SequentialLR or ChainedScheduler."""
    schedulers = _schedule_list(schedulers, who)
    for i, s in enumerate(schedulers):
        if not isinstance(s, LRScheduler):
            raise TypeError(message(who, "a schedule (an LRScheduler)", f"schedulers[{i}]",
                                    type(s).__name__))
        if isinstance(s, ReduceLROnPlateau):
            raise ValueError(message(who, "schedules whose step() takes no metric (not "
                                     "ReduceLROnPlateau)", f"schedulers[{i}]", type(s).__name__))
        if not composite and isinstance(s, (SequentialLR, ChainedScheduler)):
            raise TypeError(message(who, "plain schedules (PyTorch's SequentialLR cannot start "
                                    "a SequentialLR or ChainedScheduler at a milestone)",
                                    f"schedulers[{i}]", type(s).__name__))
        if s.optimizer is not optimizer:
            raise ValueError(message(who, "schedules on the same optimizer",
                                     f"schedulers[{i}].optimizer", type(s.optimizer).__name__))
    return schedulers


def _composite_state(scheduler) -> dict[str, Any]:
    """A SequentialLR's or ChainedScheduler's state: its own attributes and its schedules'."""
    state = {k: list(v) if isinstance(v, list) else v for k, v in scheduler.__dict__.items()
             if k not in ("optimizer", "_schedulers")}
    state["_schedulers"] = [s.state_dict() for s in scheduler._schedulers]
    return state


def _load_composite(scheduler, state_dict: dict[str, Any]) -> None:
    saved = state_dict.get("_schedulers")
    if not isinstance(saved, (list, tuple)) or len(saved) != len(scheduler._schedulers):
        raise ValueError(message(type(scheduler).__name__, f"a state dict with "
                                 f"{len(scheduler._schedulers)} schedules' states",
                                 "_schedulers", saved))
    scheduler.__dict__.update({k: list(v) if isinstance(v, (list, tuple)) else v
                               for k, v in state_dict.items() if k != "_schedulers"})
    for s, state in zip(scheduler._schedulers, saved):
        s.load_state_dict(state)


class SequentialLR(LRScheduler):
    """Runs ``schedulers`` one after the other: the first up to ``milestones[0]``, the second
    from there up to ``milestones[1]``, and so on (a warm-up, then a decay), as PyTorch's.

    Making it puts every group's lr back to its ``initial_lr``, takes back the first step of
    each schedule (each was made on the optimizer, and made its step) and makes the first
    one's step again. At milestone m the next schedule starts at its epoch 0: its lr there
    from its closed form where it has one (StepLR, MultiStepLR, ConstantLR, LinearLR,
    ExponentialLR, PolynomialLR, CosineAnnealingLR: e.g. LinearLR's initial_lr *
    start_factor), else from its ``get_lr()`` at epoch 0 (PyTorch's ``_update_lr(0)``); each
    step after that is its ``step()``. ``state_dict`` holds the schedules' states.
    """

    def __init__(self, optimizer: Optimizer, schedulers, milestones, last_epoch: int = -1):
        who = type(self).__name__
        _check_optimizer(optimizer, who)
        schedulers = _check_schedulers(schedulers, optimizer, who, composite=False)
        if isinstance(milestones, (str, bytes)) or not hasattr(milestones, "__iter__"):
            raise TypeError(message(who, "a list of epochs", "milestones", milestones))
        milestones = [check_int(m, "milestones", who, 0) for m in milestones]
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(message(who, f"{len(schedulers) - 1} milestones (one fewer than "
                                     f"the {len(schedulers)} schedules)", "milestones",
                                     milestones))
        if milestones != sorted(milestones):
            raise ValueError(message(who, "milestones in increasing order", "milestones",
                                     milestones))
        check_int(last_epoch, "last_epoch", who, -1)
        for i, group in enumerate(optimizer.param_groups):
            if "initial_lr" not in group:
                raise KeyError(f"{who}: param_groups[{i}] has no 'initial_lr'")
        self._schedulers, self._milestones = schedulers, milestones
        self.last_epoch = last_epoch + 1  # PyTorch's
        self.optimizer = optimizer
        groups = [dict(group) for group in optimizer.param_groups]
        states = [s.state_dict() for s in schedulers]
        try:
            for group in optimizer.param_groups:
                group["lr"] = group["initial_lr"]
            for s in schedulers:
                s.last_epoch -= 1
            first = schedulers[bisect.bisect_right(milestones, 0)]
            first._initial_step()
        except BaseException:
            for group, before in zip(optimizer.param_groups, groups):
                group.clear()
                group.update(before)
            for s, state in zip(schedulers, states):
                s.load_state_dict(state)
            raise
        self._last_lr = first.get_last_lr()

    def step(self, epoch: None = None) -> None:
        """Advance by one epoch: the milestone's next schedule starts, or the current one
        steps (a step that fails changes nothing)."""
        _no_epoch(epoch, self)
        self.last_epoch += 1
        idx = bisect.bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[idx]
        try:
            if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
                scheduler._jump(0)
            else:
                scheduler.step()
        except BaseException:
            self.last_epoch -= 1
            raise
        self._last_lr = scheduler.get_last_lr()

    def state_dict(self) -> dict[str, Any]:
        """Return its attributes but the optimizer, with ``_schedulers`` the schedules'
        states."""
        return _composite_state(self)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        _load_composite(self, state_dict)


class ChainedScheduler(LRScheduler):
    """Steps every schedule of ``schedulers`` at each ``step()``, in order, as PyTorch's: the
    chainable ones (which compute the next lr from the current one) multiply their effects,
    e.g. a ConstantLR warm-up over an ExponentialLR decay. ``optimizer`` defaults to the first
    schedule's; all must share it. ``state_dict`` holds the schedules' states.
    """

    def __init__(self, schedulers, optimizer: Optimizer | None = None):
        who = type(self).__name__
        schedulers = _schedule_list(schedulers, who)
        if optimizer is None:
            optimizer = getattr(schedulers[0], "optimizer", None)
        _check_optimizer(optimizer, who)
        self._schedulers = _check_schedulers(schedulers, optimizer, who)
        self.optimizer = optimizer
        self._last_lr = self._current_lrs()

    def step(self, epoch: None = None) -> None:
        """Step each schedule in turn (if one fails, all are put back as they were)."""
        _no_epoch(epoch, self)
        groups = [{k: v for k, v in group.items() if k != "params"}
                  for group in self.optimizer.param_groups]
        states = [s.state_dict() for s in self._schedulers]
        try:
            for s in self._schedulers:
                s.step()
        except BaseException:
            for group, before in zip(self.optimizer.param_groups, groups):
                group.update(before)
            for s, state in zip(self._schedulers, states):
                s.load_state_dict(state)
            raise
        self._last_lr = self._current_lrs()

    def state_dict(self) -> dict[str, Any]:
        """Return its attributes but the optimizer, with ``_schedulers`` the schedules'
        states."""
        return _composite_state(self)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        _load_composite(self, state_dict)
