"""Reductions (sum, mean, max, min, var), softmax and log-softmax, and argmax."""

from __future__ import annotations

import numpy as np

from nerve.function import Function
from nerve.ops._util import normalize_axis


def _expand(g: np.ndarray, shape: tuple, axes, keepdims: bool) -> np.ndarray:
    """Give a reduced gradient back its reduced axes (as length 1) so it broadcasts to shape."""
    if axes is None:
        return g.reshape((1,) * len(shape))
    if keepdims:
        return g
    return np.expand_dims(g, axes)


def _axes(axis, ndim: int, op: str):
    """Reduction axes as a tuple; on a 0-d tensor axis 0 or -1 means no axis, as in PyTorch."""
    axes = normalize_axis(axis, ndim, op)
    return () if ndim == 0 and axes is not None else axes


def _broadcast_grad(g: np.ndarray, shape: tuple, axes, keepdims: bool) -> np.ndarray:
    out = np.empty(shape, dtype=g.dtype)
    out[...] = _expand(g, shape, axes, keepdims)
    return out


class Sum(Function):
    def forward(ctx, x, axis=None, keepdims=False):
        ctx.axes = _axes(axis, x.ndim, "sum")
        ctx.shape, ctx.keepdims = x.shape, keepdims
        return x.sum(axis=ctx.axes, keepdims=keepdims)

    def backward(ctx, g):
        return _broadcast_grad(g, ctx.shape, ctx.axes, ctx.keepdims)


class Mean(Function):
    def forward(ctx, x, axis=None, keepdims=False):
        ctx.axes = _axes(axis, x.ndim, "mean")
        ctx.shape, ctx.keepdims = x.shape, keepdims
        out = x.mean(axis=ctx.axes, keepdims=keepdims)
        ctx.count = x.size // max(out.size, 1) if x.size else 1
        return out

    def backward(ctx, g):
        return _broadcast_grad(g / ctx.count, ctx.shape, ctx.axes, ctx.keepdims)


class _Extreme(Function):
    """max or min over axes; tied extremes share the gradient equally."""

    reduce = staticmethod(np.max)
    name = "max"

    def forward(ctx, x, axis=None, keepdims=False):
        ctx.axes = _axes(axis, x.ndim, ctx.name)
        if x.size == 0:
            raise ValueError(f"{ctx.name}: cannot reduce an empty tensor of shape {x.shape}")
        ctx.x, ctx.keepdims = x, keepdims
        ctx.out = ctx.reduce(x, axis=ctx.axes, keepdims=True)
        if keepdims:
            return ctx.out
        return ctx.out.reshape(()) if ctx.axes is None else np.squeeze(ctx.out, ctx.axes)

    def backward(ctx, g):
        mask = (ctx.x == ctx.out).astype(g.dtype)
        mask /= mask.sum(axis=ctx.axes, keepdims=True)
        return mask * _expand(g, ctx.x.shape, ctx.axes, ctx.keepdims)


class Max(_Extreme):
    pass


class Min(_Extreme):
    reduce = staticmethod(np.min)
    name = "min"


class Var(Function):
    """Variance with Bessel's ``correction`` (1 by default, as ``torch.var``; 0 is biased)."""

    def forward(ctx, x, axis=None, keepdims=False, correction=1):
        ctx.axes = _axes(axis, x.ndim, "var")
        ctx.keepdims = keepdims
        mean = x.mean(axis=ctx.axes, keepdims=True)
        ctx.centered = x - mean
        n = x.size // max(mean.size, 1)
        ctx.denom = max(n - correction, 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (ctx.centered ** 2).sum(axis=ctx.axes, keepdims=keepdims) / ctx.denom

    def backward(ctx, g):
        c = ctx.centered
        scale = 2 / ctx.denom if ctx.denom else float("inf")  # n <= correction: nan, as torch
        with np.errstate(invalid="ignore"):
            return scale * c * _expand(g, c.shape, ctx.axes, ctx.keepdims)


def _check_dim(axis, ndim, op):
    (axis,) = normalize_axis(axis, ndim, op)
    return axis


class Softmax(Function):
    """exp(x - max) / sum(exp(x - max)) along ``axis``: stable for logits of any size."""

    def forward(ctx, x, axis=-1):
        ctx.axis = _check_dim(axis, x.ndim, "softmax")
        e = np.exp(x - x.max(axis=ctx.axis, keepdims=True))
        e /= e.sum(axis=ctx.axis, keepdims=True)
        ctx.out = e
        return e

    def backward(ctx, g):
        y = ctx.out
        gy = g * y
        gy -= y * gy.sum(axis=ctx.axis, keepdims=True)
        return gy


class LogSoftmax(Function):
    """x - max - log(sum(exp(x - max))) along ``axis``."""

    def forward(ctx, x, axis=-1):
        ctx.axis = _check_dim(axis, x.ndim, "log_softmax")
        shifted = x - x.max(axis=ctx.axis, keepdims=True)
        shifted -= np.log(np.exp(shifted).sum(axis=ctx.axis, keepdims=True))
        ctx.out = shifted
        return shifted

    def backward(ctx, g):
        return g - np.exp(ctx.out) * g.sum(axis=ctx.axis, keepdims=True)
