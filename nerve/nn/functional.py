"""Functional forms of the layers, activations and losses (``nerve.nn.functional as F``)."""

from __future__ import annotations

from nerve import backend, ops
from nerve.autograd import Tensor
from nerve.checks import as_array, check_choice, check_number, check_probability
from nerve.ops import (  # noqa: F401 - re-exported as nerve.nn.functional.*
    leaky_relu,
    linear,
    log_softmax,
    relu,
    sigmoid,
    softmax,
    step,
    tanh,
)
from nerve.ops.fused import BCEFunction, BCEWithLogitsFunction, CrossEntropyFunction

_REDUCTIONS = ("mean", "sum", "none")


def softplus(x, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + e^(beta x)) / beta, and x itself where beta x > threshold (PyTorch's rule)."""
    check_number(beta, "beta", "softplus", 0.0, low_open=True)
    z = x * beta if beta != 1 else x
    out = ops.softplus(z) if beta == 1 else ops.softplus(z) / beta
    linear_part = as_array(z) > threshold
    return ops.where(linear_part, x, out) if linear_part.any() else out


def _check_reduction(reduction: str, who: str) -> None:
    check_choice(reduction, "reduction", who, _REDUCTIONS)


def _target(target, like: Tensor, who: str) -> Tensor:
    """A regression target as a tensor of the prediction's dtype and shape."""
    if not isinstance(target, Tensor):
        target = Tensor(target, dtype=like.dtype)
    if target.shape != like.shape:
        raise ValueError(f"{who}: input has shape {like.shape} but target has shape "
                         f"{target.shape}; they must match")
    return target


def _reduce(x: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return x.mean()
    return x.sum() if reduction == "sum" else x


def mse_loss(input: Tensor, target, reduction: str = "mean") -> Tensor:
    """Mean squared error: mean((input - target)^2)."""
    _check_reduction(reduction, "mse_loss")
    d = input - _target(target, input, "mse_loss")
    return _reduce(d * d, reduction)


def ssr_loss(input: Tensor, target) -> Tensor:
    """Sum of squared residuals, the seed's loss: sum((target - input)^2)."""
    d = input - _target(target, input, "ssr_loss")
    return (d * d).sum()


def l1_loss(input: Tensor, target, reduction: str = "mean") -> Tensor:
    """Mean absolute error: mean(|input - target|)."""
    _check_reduction(reduction, "l1_loss")
    return _reduce((input - _target(target, input, "l1_loss")).abs(), reduction)


def binary_cross_entropy(input: Tensor, target, reduction: str = "mean") -> Tensor:
    """-(y log p + (1 - y) log(1 - p)) for probabilities p; each log is clamped at -100."""
    _check_reduction(reduction, "binary_cross_entropy")
    y = _target(target, input, "binary_cross_entropy")
    p = as_array(input)
    if p.size and not (p.min() >= 0 and p.max() <= 1):  # also catches NaN
        bad = p[~((p >= 0) & (p <= 1))][0]
        raise ValueError(f"binary_cross_entropy: expected probabilities in [0, 1] as input "
                         f"(use binary_cross_entropy_with_logits for logits), received {bad}")
    return _reduce(BCEFunction.apply(input, y), reduction)


def binary_cross_entropy_with_logits(input: Tensor, target, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy on logits, fused with the sigmoid for stability."""
    _check_reduction(reduction, "binary_cross_entropy_with_logits")
    y = _target(target, input, "binary_cross_entropy_with_logits")
    return _reduce(BCEWithLogitsFunction.apply(input, y), reduction)


def _check_class_target(logits: Tensor, target, who: str = "cross_entropy"):
    t = as_array(target)
    n_cls = logits.shape[1]
    if t.dtype.kind in "iu":
        expected = (logits.shape[0],) + logits.shape[2:]
        if t.shape != expected:
            raise ValueError(f"{who}: class-index target must have shape {expected} "
                             f"for logits of shape {logits.shape}, got {t.shape}")
        if t.size and (t.min() < 0 or t.max() >= n_cls):
            bad = t[(t < 0) | (t >= n_cls)][0]
            raise ValueError(f"{who}: target class {bad} is out of range for "
                             f"{n_cls} classes (valid: 0 to {n_cls - 1})")
        return t
    if t.dtype.kind != "f":
        raise TypeError(f"{who}: target must hold class indices (int) or probabilities "
                        f"(float), got dtype {t.dtype}")
    if t.shape != logits.shape:
        raise ValueError(f"{who}: probability target must have the logits' shape "
                         f"{logits.shape}, got {t.shape}")
    return t.astype(logits.dtype, copy=False)


def cross_entropy(input: Tensor, target, reduction: str = "mean") -> Tensor:
    """Cross-entropy of softmax(input) against class indices or probabilities.

    Per sample: -log(softmax(input)[target]), the seed's "-log(predicted probability of the
    true label)"; ``input`` holds raw logits of shape (N, C) or (N, C, d1, ...).
    """
    _check_reduction(reduction, "cross_entropy")
    if not isinstance(input, Tensor):
        raise TypeError(f"cross_entropy: input must be a Tensor of logits, got "
                        f"{type(input).__name__}")
    if input.ndim < 2:
        raise ValueError(f"cross_entropy: logits must have shape (N, C, ...), got {input.shape}")
    return CrossEntropyFunction.apply(input, _check_class_target(input, target),
                                      reduction=reduction)


def nll_loss(input: Tensor, target, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities (N, C, ...) at class indices (N, ...)."""
    _check_reduction(reduction, "nll_loss")
    if input.ndim < 2:
        raise ValueError(f"nll_loss: input must have shape (N, C, ...), got {input.shape}")
    t = as_array(target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"nll_loss: target must hold class indices (int), got dtype {t.dtype}")
    t = _check_class_target(input, t, "nll_loss")
    rest = backend.array_module(t).indices(t.shape, sparse=True)  # sample (and position)
    return _reduce(-input[(rest[0], t, *rest[1:])], reduction)


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p) while training."""
    check_probability(p, "p", "dropout")
    if not training or p == 0:
        return x
    mask = (backend.rng().random(x.shape, dtype=backend.float32) >= p).astype(x.dtype)
    mask *= 1.0 / (1.0 - p)
    return x * mask
