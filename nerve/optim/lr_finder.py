"""find_lr: the learning-rate range test (Leslie Smith, 2015), which picks a learning rate.

The seed says a reasonable learning rate "can be determined automatically"; this is the
common way to do it: train for a short while with a learning rate that grows exponentially
from tiny to huge, one mini-batch per value, watch the (smoothed) loss fall and then blow up,
and take a value where it was falling fastest. The model's weights are restored afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nerve import backend
from nerve.autograd import Tensor
from nerve.nn.module import Module
from nerve.optim.adam import Adam, AdamW
from nerve.optim.optimizer import Optimizer, check_number
from nerve.optim.rmsprop import RMSprop
from nerve.optim.sgd import SGD

OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop}


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


def find_lr(model: Module, loss_fn: Callable, x, y, optimizer: str | type | Callable = "sgd",
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
    Mini-batches are drawn with ``seed``, or from nerve's generator (``nerve.manual_seed``).
    ``optimizer`` is a name ("sgd", "adam", "adamw", "rmsprop"), an Optimizer class, or a
    callable ``f(params, lr=...)`` such as ``functools.partial(SGD, momentum=0.9)``.
    """
    _check_args(start_lr, end_lr, num_steps, batch_size, smoothing, diverge_factor)
    x_arr, y_arr = _as_array(x, "x"), _as_array(y, "y")
    if len(x_arr) != len(y_arr):
        raise ValueError(f"x and y must hold as many samples, got {len(x_arr)} and {len(y_arr)}")
    saved = {k: np.array(v, copy=True) for k, v in model.state_dict().items()}
    modes = [(m, m.training) for m in model.modules()]
    opt = _make_optimizer(optimizer, model, start_lr)
    try:
        model.train()
        result = _sweep(model, loss_fn, opt, x_arr, y_arr, start_lr, end_lr, num_steps,
                        batch_size, seed, smoothing, diverge_factor)
    finally:
        model.load_state_dict(saved)
        for m, mode in modes:
            m.training = mode
        for p in model.parameters():
            p.grad = None
    result.suggestion, result.min_loss_lr = _suggest(result.lrs, result.losses,
                                                     _warmup(num_steps))
    return result


def _check_args(start_lr, end_lr, num_steps, batch_size, smoothing, diverge_factor) -> None:
    check_number("start_lr", start_lr)
    if not 0 < start_lr < end_lr:
        raise ValueError(f"Invalid start_lr, end_lr values: {start_lr!r}, {end_lr!r}; "
                         "expected 0 < start_lr < end_lr")
    for name, value, low in (("num_steps", num_steps, 2), ("batch_size", batch_size, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"Invalid {name} value: {value!r}; expected an int >= {low}")
    check_number("smoothing", smoothing, 0.0, 1.0)
    check_number("diverge_factor", diverge_factor, 1.0)


def _as_array(a, what: str) -> np.ndarray:
    arr = a.data if isinstance(a, Tensor) else np.asarray(a)
    if arr.ndim == 0:
        raise ValueError(f"{what} must hold one sample per row, got a scalar")
    return arr


def _make_optimizer(spec, model: Module, lr: float) -> Optimizer:
    if isinstance(spec, Optimizer):
        raise TypeError("find_lr needs an optimizer name, class or factory, not an Optimizer "
                        "instance (its state would be changed); pass type(opt) or a partial")
    if isinstance(spec, str):
        if spec.lower() not in OPTIMIZERS:
            raise ValueError(f"Invalid optimizer value: {spec!r}; expected one of "
                             f"{sorted(OPTIMIZERS)}, an Optimizer class or a factory")
        spec = OPTIMIZERS[spec.lower()]
    if not callable(spec):
        raise TypeError(f"optimizer must be a name, an Optimizer class or a factory, got "
                        f"{type(spec).__name__}")
    opt = spec(model.parameters(), lr=lr)
    if not isinstance(opt, Optimizer):
        raise TypeError(f"the optimizer factory returned {type(opt).__name__}, not an Optimizer")
    return opt


def _batches(n: int, batch_size: int, rng: np.random.Generator):
    """Yield index arrays of shuffled mini-batches forever, reshuffling every epoch."""
    while True:
        order = rng.permutation(n)
        for start in range(0, n, batch_size):
            yield order[start:start + batch_size]


def _warmup(num_steps: int) -> int:
    """Return how many first steps are too noisy to judge the loss by."""
    return max(1, num_steps // 10)


def _sweep(model, loss_fn, opt, x, y, start_lr, end_lr, num_steps, batch_size, seed,
           smoothing, diverge_factor) -> LRFinderResult:
    result = LRFinderResult()
    rng = backend.rng() if seed is None else np.random.default_rng(seed)
    batches = _batches(len(x), batch_size, rng)
    dtype = next(iter(model.parameters())).data.dtype
    growth = (end_lr / start_lr) ** (1.0 / (num_steps - 1))
    average, best, warmup = 0.0, math.inf, _warmup(num_steps)
    for i in range(num_steps):
        lr = start_lr * growth**i
        for group in opt.param_groups:
            group["lr"] = lr
        idx = next(batches)
        opt.zero_grad()
        loss = loss_fn(model(_batch(x[idx], dtype)), _batch(y[idx], dtype))
        value = float(loss.item())
        if not math.isfinite(value):
            result.diverged = True
            break
        average = smoothing * average + (1 - smoothing) * value
        smoothed = average / (1 - smoothing ** (i + 1))
        result.lrs.append(lr)
        result.raw_losses.append(value)
        result.losses.append(smoothed)
        if i > warmup and smoothed > diverge_factor * best:
            result.diverged = True
            break
        if i >= warmup:
            best = min(best, smoothed)
        loss.backward()
        opt.step()
    return result


def _batch(a: np.ndarray, dtype: np.dtype) -> Tensor:
    return Tensor(a, dtype=dtype if a.dtype.kind == "f" else None)


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
