"""find_lr: the learning-rate range test (Leslie Smith, 2015), which picks a learning rate.

The seed says a reasonable learning rate "can be determined automatically"; this is the
common way to do it: train for a short while with a learning rate that grows exponentially
from tiny to huge, one mini-batch per value, watch the (smoothed) loss fall and then blow up,
and take a value where it was falling fastest. The test is a callback on fit's training loop
(``Trainer.run``), with fit's loaders, losses and optimizers; the model's weights are
restored afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nerve import optim
from nerve.checks import check_int, check_number, check_positive_int, message
from nerve.nn.module import Module, kept_modes
from nerve.train.callbacks import Callback, snapshot
from nerve.train.loop import (
    Trainer,
    check_model,
    get_loss,
    get_optimizer,
    make_loaders,
    model_dtype,
)


@dataclass
class LRFinderResult:
    """What the range test tried and found; ``result["suggestion"]`` works as well."""

    lrs: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)  # smoothed, as the suggestion uses
    raw_losses: list[float] = field(default_factory=list)
    suggestion: float | None = None
    min_loss_lr: float | None = None
    diverged: bool = False

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)


def find_lr(model: Module, loss, x, y, optimizer: str | type | Callable = "sgd",
            start_lr: float = 1e-7, end_lr: float = 10.0, num_steps: int = 100,
            batch_size: int = 64, seed: int | None = None, smoothing: float = 0.95,
            diverge_factor: float = 4.0) -> LRFinderResult:
    """Runs the learning-rate range test on ``model`` and restores its weights afterwards.

    lr_i = start_lr * (end_lr / start_lr)^(i / (num_steps - 1)), one mini-batch each;
    smoothed_i = EMA(loss)_i / (1 - smoothing^(i+1))  (an exponential moving average);
    it stops early once smoothed_i > diverge_factor * (lowest smoothed loss) or a loss is not
    finite. The first tenth of the steps (the warm-up) is not used for the lowest loss or the
    stop: its average rests on few, noisy batches.
    ``suggestion`` is the lr where the smoothed loss falls fastest against log(lr): the most
    negative slope (L_(i+2) - L_(i-2)) / (log lr_(i+2) - log lr_(i-2)), looked for within the
    two decades of lr below the lowest loss (``min_loss_lr``), where the real descent lies;
    with fewer than three points there it is ``min_loss_lr / 10`` (not below ``start_lr``),
    and None when no finite loss was seen.
    ``loss`` is what fit takes: a name ("cross_entropy", "mse", ...), a loss Module or class,
    or a function. Mini-batches are shuffled as fit shuffles them, from a generator seeded by
    ``seed`` (nerve's generator, ``nerve.manual_seed``, when None). ``optimizer`` is a name
    ("sgd", "adam", "adamw", "rmsprop"), an Optimizer class, or a callable
    ``f(params, lr=...)`` such as ``functools.partial(SGD, momentum=0.9)``.
    """
    check_model(model, "find_lr")
    _check_args(start_lr, end_lr, num_steps, batch_size, smoothing, diverge_factor, seed)
    if isinstance(optimizer, optim.Optimizer):
        raise TypeError("find_lr: expected an optimizer name, class or factory, not an "
                        "Optimizer instance (its state would be changed); pass type(opt) or "
                        "a functools.partial")
    loss_fn = get_loss(loss, "find_lr")
    train, _, _ = make_loaders(x, y, batch_size, model_dtype(model), who="find_lr")
    test = RangeTest(start_lr, end_lr, num_steps, smoothing, diverge_factor)
    saved = snapshot(model)
    opt = get_optimizer(optimizer, model, lr=start_lr, who="find_lr")
    trainer = Trainer(model, opt, loss_fn, callbacks=[test], who="find_lr")
    try:
        with kept_modes(model):
            trainer.run(train, epochs=math.ceil(num_steps / max(len(train), 1)), seed=seed)
    finally:
        model.load_state_dict(saved)
        for p in model.parameters():
            p._grad = None
    result = test.result
    result.diverged = result.diverged or trainer.history.stop_reason is not None
    result.suggestion, result.min_loss_lr = _suggest(result.lrs, result.losses,
                                                     _warmup(num_steps))
    return result


def _check_args(start_lr, end_lr, num_steps, batch_size, smoothing, diverge_factor,
                seed) -> None:
    check_number(start_lr, "start_lr", "find_lr", 0.0, low_open=True)
    check_number(end_lr, "end_lr", "find_lr", 0.0, low_open=True)
    if not start_lr < end_lr:
        raise ValueError(message("find_lr", "0 < start_lr < end_lr", "start_lr, end_lr",
                                 (start_lr, end_lr)))
    check_int(num_steps, "num_steps", "find_lr", minimum=2)
    check_positive_int(batch_size, "batch_size", "find_lr")
    check_number(smoothing, "smoothing", "find_lr", 0.0, 1.0, high_open=True)
    check_number(diverge_factor, "diverge_factor", "find_lr", 1.0)
    if seed is not None:
        check_int(seed, "seed", "find_lr", minimum=0)


def _warmup(num_steps: int) -> int:
    """Return how many first steps are too noisy to judge the loss by."""
    return max(1, num_steps // 10)


class RangeTest(Callback):
    """The range test as a callback: sets each batch's lr, records the loss it gave, and stops
    training after ``num_steps`` batches or once the smoothed loss blows up."""

    def __init__(self, start_lr: float, end_lr: float, num_steps: int, smoothing: float,
                 diverge_factor: float):
        self.start_lr, self.num_steps = start_lr, num_steps
        self.growth = (end_lr / start_lr) ** (1.0 / (num_steps - 1))
        self.smoothing, self.diverge_factor = smoothing, diverge_factor
        self.warmup = _warmup(num_steps)

    def on_train_begin(self, logs: dict) -> None:
        self.result, self.step = LRFinderResult(), 0
        self.average, self.best = 0.0, math.inf

    def on_batch_begin(self, batch: int, logs: dict) -> None:
        self.lr = self.start_lr * self.growth**self.step
        for group in self.trainer.optimizer.param_groups:
            group["lr"] = self.lr

    def on_batch_end(self, batch: int, logs: dict) -> None:
        i, value, result = self.step, logs["loss"], self.result
        self.average = self.smoothing * self.average + (1 - self.smoothing) * value
        smoothed = self.average / (1 - self.smoothing ** (i + 1))
        result.lrs.append(self.lr)
        result.raw_losses.append(value)
        result.losses.append(smoothed)
        self.step += 1
        if i > self.warmup and smoothed > self.diverge_factor * self.best:
            result.diverged = True
        elif i >= self.warmup:
            self.best = min(self.best, smoothed)
        if result.diverged or self.step == self.num_steps:
            self.trainer.stop_training = True


def _suggest(lrs: list[float], losses: list[float],
             warmup: int) -> tuple[float | None, float | None]:
    """Return (the lr of the steepest fall of the loss, the lr of the lowest loss)."""
    if not lrs:
        return None, None
    start = warmup if len(lrs) > warmup else 0
    lowest = start + int(np.argmin(losses[start:]))
    log_lrs = np.log10(lrs[: lowest + 1])
    first = max(start, int(np.searchsorted(log_lrs, log_lrs[-1] - 2.0)))
    if lowest - first < 2:
        return max(lrs[lowest] / 10, lrs[0]), lrs[lowest]
    span = min(2, (lowest - first) // 2)
    fall = np.asarray(losses[first: lowest + 1])
    slopes = (fall[2 * span:] - fall[: -2 * span]) / (log_lrs[first + 2 * span:]
                                                       - log_lrs[first: lowest + 1 - 2 * span])
    return lrs[first + span + int(np.argmin(slopes))], lrs[lowest]
