"""Reductions (sum, mean, max, min, var), softmax and log-softmax, and argmax / argmin.

The public functions here are named ``sum``, ``max`` and ``min`` as in NumPy and PyTorch; the
module itself never needs Python's builtins of those names.
"""

from __future__ import annotations

from nerve import backend
from nerve.autograd import Tensor
from nerve.checks import as_tensor
from nerve.function import Function
from nerve.ops._common import normalize_axis, pick_axis, register


def _expand(g, shape: tuple, axes, keepdims: bool):
    """Give a reduced gradient back its reduced axes (as length 1) so it broadcasts to shape."""
    if axes is None:
        return g.reshape((1,) * len(shape))
    if keepdims:
        return g
    return backend.array_module(g).expand_dims(g, axes)


def _axes(axis, ndim: int, op: str):
    """Reduction axes as a tuple; on a 0-d tensor axis 0 or -1 means no axis, as in PyTorch."""
    axes = normalize_axis(axis, ndim, op)
    return () if ndim == 0 and axes is not None else axes


def _broadcast_grad(g, shape: tuple, axes, keepdims: bool):
    out = backend.array_module(g).empty(shape, dtype=g.dtype)
    out[...] = _expand(g, shape, axes, keepdims)
    return out


class SumFunction(Function):
    "y = sum of x over axis;  dy/dx = 1 (the gradient is copied back along the summed axes)"

    def forward(ctx, x, *, axis=None, keepdims=False):
        ctx.axes = _axes(axis, x.ndim, "sum")
        ctx.shape, ctx.keepdims = x.shape, keepdims
        return x.sum(axis=ctx.axes, keepdims=keepdims)

    def backward(ctx, g):
        return _broadcast_grad(g, ctx.shape, ctx.axes, ctx.keepdims)


@register
def sum(x, axis=None, keepdims: bool = False, *, dim=None, keepdim=None) -> Tensor:  # noqa: A001
    """The sum over ``axis`` (all axes by default)."""
    return SumFunction.apply(as_tensor(x), axis=pick_axis(axis, dim),
                             keepdims=keepdims or bool(keepdim))


class MeanFunction(Function):
    "y = sum of x over axis / n;  dy/dx = 1 / n (n: the number of elements averaged)"

    def forward(ctx, x, *, axis=None, keepdims=False):
        ctx.axes = _axes(axis, x.ndim, "mean")
        ctx.shape = x.shape
        out = x.mean(axis=ctx.axes, keepdims=keepdims)
        ctx.count = x.size // (out.size or 1) if x.size else 1
        return out

    def backward(ctx, g):
        return _broadcast_grad(g / ctx.count, ctx.shape, ctx.axes,
                               ctx.options.get("keepdims", False))


@register
def mean(x, axis=None, keepdims: bool = False, *, dim=None, keepdim=None) -> Tensor:
    """The mean over ``axis`` (all axes by default)."""
    return MeanFunction.apply(as_tensor(x), axis=pick_axis(axis, dim),
                              keepdims=keepdims or bool(keepdim))


class _ExtremeFunction(Function):
    """max or min over axes; tied extremes share the gradient equally."""

    kind = "max"

    def forward(ctx, x, *, axis=None, keepdims=False):
        kind = ctx.kind
        axes = ctx.axes = _axes(axis, x.ndim, kind)
        if x.size == 0:
            raise ValueError(f"{kind}: cannot reduce an empty tensor of shape {x.shape}")
        out = x.max(axis=axes, keepdims=True) if kind == "max" else \
            x.min(axis=axes, keepdims=True)
        ctx.save_for_backward(x, out)
        if keepdims:
            return out
        return out.reshape(()) if axes is None else out.squeeze(axes)

    def backward(ctx, g):
        x, out = ctx.saved_tensors
        mask = (x == out).astype(g.dtype)
        mask /= mask.sum(axis=ctx.axes, keepdims=True)
        return mask * _expand(g, x.shape, ctx.axes, ctx.options.get("keepdims", False))


class MaxFunction(_ExtremeFunction):
    "y = max of x over axis;  dy/dx = 1 at the maximum (tied maxima share it), else 0"


class MinFunction(_ExtremeFunction):
    "y = min of x over axis;  dy/dx = 1 at the minimum (tied minima share it), else 0"

    kind = "min"


@register
def max(x, axis=None, keepdims: bool = False, *, dim=None, keepdim=None) -> Tensor:  # noqa: A001
    """The largest values along axis (values only; ``argmax`` gives the positions)."""
    return MaxFunction.apply(as_tensor(x), axis=pick_axis(axis, dim),
                             keepdims=keepdims or bool(keepdim))


@register
def min(x, axis=None, keepdims: bool = False, *, dim=None, keepdim=None) -> Tensor:  # noqa: A001
    """The smallest values along axis (values only; ``argmin`` gives the positions)."""
    return MinFunction.apply(as_tensor(x), axis=pick_axis(axis, dim),
                             keepdims=keepdims or bool(keepdim))


class VarFunction(Function):
    """y = sum((x - mean)^2) / (n - correction);  dy/dx = 2 (x - mean) / (n - correction)

    ``correction=1`` (the default, as ``torch.var``) is Bessel's; 0 gives the biased variance.
    """

    def forward(ctx, x, *, axis=None, keepdims=False, correction=1):
        ctx.axes = _axes(axis, x.ndim, "var")
        mean = x.mean(axis=ctx.axes, keepdims=True)
        centered = x - mean
        ctx.save_for_backward(centered)
        n = x.size // (mean.size or 1)
        ctx.denom = n - correction if n > correction else 0
        with backend.errstate(divide="ignore", invalid="ignore"):
            return (centered ** 2).sum(axis=ctx.axes, keepdims=keepdims) / ctx.denom

    def backward(ctx, g):
        (c,) = ctx.saved_tensors
        scale = 2 / ctx.denom if ctx.denom else float("inf")  # n <= correction: nan, as torch
        with backend.errstate(invalid="ignore"):
            return scale * c * _expand(g, c.shape, ctx.axes, ctx.options.get("keepdims", False))


@register
def var(x, axis=None, keepdims: bool = False, correction: int = 1, *, dim=None,
        keepdim=None) -> Tensor:
    """Variance; ``correction=1`` (the default, as in PyTorch) divides by n - 1, 0 by n."""
    return VarFunction.apply(as_tensor(x), axis=pick_axis(axis, dim),
                             keepdims=keepdims or bool(keepdim), correction=correction)


def _check_dim(axis, ndim, op):
    (axis,) = normalize_axis(axis, ndim, op)
    return axis


class SoftmaxFunction(Function):
    """y = e^(x - max) / sum(e^(x - max)) along axis;  dx = y (g - sum(g y)) for the gradient g

    Stable for logits of any size.
    """

    def forward(ctx, x, *, axis=-1):
        ctx.axis = _check_dim(axis, x.ndim, "softmax")
        e = backend.array_module(x).exp(x - x.max(axis=ctx.axis, keepdims=True))
        e /= e.sum(axis=ctx.axis, keepdims=True)
        ctx.save_for_backward(e)
        return e

    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        gy = g * y
        gy -= y * gy.sum(axis=ctx.axis, keepdims=True)
        return gy


@register
def softmax(x, axis: int | None = None, *, dim=None) -> Tensor:
    """Probabilities along axis (the last by default) that sum to 1, computed stably."""
    return SoftmaxFunction.apply(as_tensor(x), axis=pick_axis(axis, dim, -1))


class LogSoftmaxFunction(Function):
    """y = x - max - ln(sum(e^(x - max))) along axis;  dx = g - e^y sum(g)"""

    def forward(ctx, x, *, axis=-1):
        ctx.axis = _check_dim(axis, x.ndim, "log_softmax")
        xp = backend.array_module(x)
        shifted = x - x.max(axis=ctx.axis, keepdims=True)
        shifted -= xp.log(xp.exp(shifted).sum(axis=ctx.axis, keepdims=True))
        ctx.save_for_backward(shifted)
        return shifted

    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g - backend.array_module(g).exp(out) * g.sum(axis=ctx.axis, keepdims=True)


@register
def log_softmax(x, axis: int | None = None, *, dim=None) -> Tensor:
    """log(softmax(x)) along axis (the last by default), computed stably."""
    return LogSoftmaxFunction.apply(as_tensor(x), axis=pick_axis(axis, dim, -1))


class ArgmaxFunction(Function):
    "y = the position of the largest value along axis (not differentiable)"

    differentiable = False
    kind = "argmax"

    def forward(ctx, x, *, axis=None, keepdims=False):
        if axis is not None:
            (axis,) = normalize_axis(axis, x.ndim, ctx.kind)
        return getattr(x, ctx.kind)(axis=axis, keepdims=keepdims)


class ArgminFunction(ArgmaxFunction):
    "y = the position of the smallest value along axis (not differentiable)"

    kind = "argmin"


@register
def argmax(x, axis=None, keepdims: bool = False, *, dim=None, keepdim=None) -> Tensor:
    """Positions of the largest values: the decision. Not differentiable (no gradient)."""
    return ArgmaxFunction.apply(as_tensor(x), axis=pick_axis(axis, dim),
                                keepdims=keepdims or bool(keepdim))


@register
def argmin(x, axis=None, keepdims: bool = False, *, dim=None, keepdim=None) -> Tensor:
    """Positions of the smallest values. Not differentiable (no gradient)."""
    return ArgminFunction.apply(as_tensor(x), axis=pick_axis(axis, dim),
                                keepdims=keepdims or bool(keepdim))
