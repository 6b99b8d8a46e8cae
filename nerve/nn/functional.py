"""Functional forms of the layers, activations and losses (``nerve.nn.functional as F``)."""

from __future__ import annotations

import numpy as np

from nerve import backend, ops
from nerve.function import Function
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
from nerve.ops.elementwise import sigmoid_array
from nerve.tensor import Tensor

_REDUCTIONS = ("mean", "sum", "none")


def softplus(x, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + e^(beta x)) / beta, and x itself where beta x > threshold (PyTorch's rule)."""
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or beta <= 0:
        raise ValueError(f"softplus: expected beta > 0. Received: beta={beta!r}")
    z = x * beta if beta != 1 else x
    out = ops.softplus(z) if beta == 1 else ops.softplus(z) / beta
    linear_part = np.asarray(z.data if isinstance(z, Tensor) else z) > threshold
    return ops.where(linear_part, x, out) if linear_part.any() else out


def _check_reduction(reduction: str, who: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{who}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _target(target, like: Tensor, who: str) -> Tensor:
    """A regression target as a tensor of the prediction's dtype and shape."""
    if not isinstance(target, Tensor):
        target = Tensor(np.asarray(target, dtype=like.dtype))
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


class _BCE(Function):
    """-(y log p + (1 - y) log(1 - p)), each log clamped at -100; finite gradient at 0 and 1."""

    def forward(ctx, p, y):
        ctx.p, ctx.y = p, y
        with np.errstate(divide="ignore"):  # log(0) = -inf, clamped below
            lp = np.maximum(np.log(p), -100)
            lq = np.maximum(np.log1p(-p), -100)
        return -(y * lp + (1 - y) * lq)

    def backward(ctx, g):
        p = ctx.p
        return g * (p - ctx.y) / np.maximum(p * (1 - p), 1e-12), None  # PyTorch's epsilon


def binary_cross_entropy(input: Tensor, target, reduction: str = "mean") -> Tensor:
    """-(y log p + (1 - y) log(1 - p)) for probabilities p; each log is clamped at -100."""
    _check_reduction(reduction, "binary_cross_entropy")
    y = _target(target, input, "binary_cross_entropy")
    p = input.data if isinstance(input, Tensor) else np.asarray(input)
    if p.size and not (p.min() >= 0 and p.max() <= 1):  # also catches NaN
        bad = p[~((p >= 0) & (p <= 1))][0]
        raise ValueError(f"binary_cross_entropy: expected probabilities in [0, 1] as input "
                         f"(use binary_cross_entropy_with_logits for logits), received {bad}")
    return _reduce(_BCE.apply(input, y), reduction)


class _BCEWithLogits(Function):
    """max(x, 0) - x*y + log(1 + e^-|x|): cross-entropy of sigmoid(x), stable for any x."""

    def forward(ctx, x, y):
        ctx.x, ctx.y = x, y
        return np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))

    def backward(ctx, g):
        return g * (sigmoid_array(ctx.x) - ctx.y), None


def binary_cross_entropy_with_logits(input: Tensor, target, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy on logits, fused with the sigmoid for stability."""
    _check_reduction(reduction, "binary_cross_entropy_with_logits")
    y = _target(target, input, "binary_cross_entropy_with_logits")
    return _reduce(_BCEWithLogits.apply(input, y), reduction)


class _CrossEntropy(Function):
    """Softmax cross-entropy from logits (N, C, ...) in one node, via log-sum-exp.

    Targets are class indices (N, ...) or probabilities shaped like the logits. The gradient is
    softmax(logits) - target, scaled by the reduction.
    """

    def forward(ctx, logits, target, reduction="mean"):
        n_cls = logits.shape[1]
        x = np.moveaxis(logits, 1, -1).reshape(-1, n_cls) if logits.ndim > 2 else logits
        shifted = x - x.max(axis=1, keepdims=True)
        logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        ctx.indices = target.dtype.kind in "iu"
        if ctx.indices:
            t = target.reshape(-1)
            nll = -logp[np.arange(len(t)), t]
        else:
            t = np.moveaxis(target, 1, -1).reshape(-1, n_cls) if target.ndim > 2 else target
            nll = -(t * logp).sum(axis=1)
        ctx.logp, ctx.t, ctx.reduction, ctx.shape = logp, t, reduction, logits.shape
        if reduction == "mean":
            return nll.mean()
        if reduction == "sum":
            return nll.sum()
        return nll.reshape((logits.shape[0],) + logits.shape[2:])

    def backward(ctx, g):
        grad = np.exp(ctx.logp)
        if ctx.indices:
            grad[np.arange(len(ctx.t)), ctx.t] -= 1
        else:
            grad *= ctx.t.sum(axis=1, keepdims=True)
            grad -= ctx.t
        if ctx.reduction == "none":
            grad *= g.reshape(-1, 1)
        else:
            grad *= g / len(grad) if ctx.reduction == "mean" else g
        if len(ctx.shape) > 2:
            moved = (ctx.shape[0],) + ctx.shape[2:] + (ctx.shape[1],)
            grad = np.moveaxis(grad.reshape(moved), -1, 1)
        return grad, None


def _check_class_target(logits: Tensor, target, who: str = "cross_entropy") -> np.ndarray:
    t = target.data if isinstance(target, Tensor) else np.asarray(target)
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
    return _CrossEntropy.apply(input, _check_class_target(input, target), reduction)


def nll_loss(input: Tensor, target, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities (N, C, ...) at class indices (N, ...)."""
    _check_reduction(reduction, "nll_loss")
    if input.ndim < 2:
        raise ValueError(f"nll_loss: input must have shape (N, C, ...), got {input.shape}")
    t = np.asarray(target.data if isinstance(target, Tensor) else target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"nll_loss: target must hold class indices (int), got dtype {t.dtype}")
    t = _check_class_target(input, t, "nll_loss")
    rest = np.indices(t.shape, sparse=True)  # sample (and position) of each target
    return _reduce(-input[(rest[0], t, *rest[1:])], reduction)


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p) while training."""
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
        raise ValueError(f"dropout: expected p in [0, 1). Received: p={p!r}")
    if not training or p == 0:
        return x
    keep = backend.rng().random(x.shape, dtype=np.float32) >= p
    return x * (keep * np.asarray(1.0 / (1.0 - p), dtype=x.dtype)).astype(x.dtype, copy=False)
