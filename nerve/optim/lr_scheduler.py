"""Learning-rate schedules that change ``group["lr"]`` of an optimizer, as PyTorch's do.

Call ``scheduler.step()`` once per epoch, after the epoch's ``optimizer.step()`` calls
(``ReduceLROnPlateau.step(metric)`` takes the monitored value). Like PyTorch's, the schedules
are chainable: each computes the next lr from the group's current one, so changes made from
outside (another schedule, a warm-up) carry on. State dicts hold numbers and lists only.
"""

from __future__ import annotations

import math
from typing import Any

from nerve.checks import check_choice, check_int, check_number, message
from nerve.optim.optimizer import Optimizer


class LRScheduler:
    """Base class of schedules: subclasses define ``get_lr()`` from ``last_epoch``."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        who = type(self).__name__
        if not isinstance(optimizer, Optimizer):
            raise TypeError(message(who, "an Optimizer", "optimizer", type(optimizer).__name__))
        check_int(last_epoch, "last_epoch", who, -1)
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(f"param_groups[{i}] has no 'initial_lr' to resume from with "
                               f"last_epoch={last_epoch}: load the optimizer's state first")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._initial = True  # the first step only records the current lrs
        self.step()
        self._initial = False

    def get_lr(self) -> list[float]:
        """Return the next lr of every group (called by ``step()``)."""
        raise NotImplementedError(f"{type(self).__name__} defines no get_lr()")

    def _current_lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def step(self) -> None:
        """Advance the schedule by one epoch and set every group's ``lr``."""
        self._step_count += 1
        self.last_epoch += 1
        lrs = self._current_lrs() if self._initial else self.get_lr()
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


class ExponentialLR(LRScheduler):
    """Multiplies the lr by ``gamma`` every epoch: lr_epoch = lr_(epoch-1) * gamma."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1):
        who = type(self).__name__
        check_number(gamma, "gamma", who, 0.0)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [lr * self.gamma for lr in self._current_lrs()]


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
        t, t_max, eta_min = self.last_epoch, self.T_max, self.eta_min
        if (t - 1 - t_max) % (2 * t_max) == 0:  # the bottom of the cosine: climb back up
            rise = (1 - math.cos(math.pi / t_max)) / 2
            return [lr + (base - eta_min) * rise
                    for lr, base in zip(self._current_lrs(), self.base_lrs)]
        ratio = (1 + math.cos(math.pi * t / t_max)) / (1 + math.cos(math.pi * (t - 1) / t_max))
        return [ratio * (lr - eta_min) + eta_min for lr in self._current_lrs()]


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
        if not isinstance(optimizer, Optimizer):
            raise TypeError(message(who, "an Optimizer", "optimizer", type(optimizer).__name__))
        check_number(factor, "factor", who, 0.0, 1.0, high_open=True)
        check_int(patience, "patience", who, 0)
        check_int(cooldown, "cooldown", who, 0)
        check_number(threshold, "threshold", who, 0.0)
        check_number(eps, "eps", who, 0.0)
        self.optimizer = optimizer
        self.min_lrs = self._min_lrs(min_lr)
        self.factor, self.patience, self.cooldown, self.eps = factor, patience, cooldown, eps
        self.mode, self.threshold, self.threshold_mode = mode, threshold, threshold_mode
        self._check_modes()
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

    def _check_modes(self) -> None:
        check_choice(self.mode, "mode", type(self).__name__, ("min", "max"))
        check_choice(self.threshold_mode, "threshold_mode", type(self).__name__, ("rel", "abs"))

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
        super().load_state_dict(state_dict)
        self._check_modes()
