"""Reductions (sum, mean, prod, max, min, median, kthvalue, var, norm, logsumexp, the nan-
forms), cumprod, softmax and log-softmax, and argmax / argmin; ``nerve.linalg.vector_norm``.

The public functions here are named ``sum``, ``max`` and ``min`` as in NumPy and PyTorch; the
module itself never needs Python's builtins of those names.
"""

from __future__ import annotations

import math
from collections import namedtuple

from nerve import backend
from nerve.autograd import Tensor
from nerve.checks import as_tensor, check_number, is_int, message
from nerve.function import Function
from nerve.ops._common import normalize_axis, pick_axis, register
from nerve.ops.elementwise import _floating
from nerve.ops.shape import cast


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


def _dims(axis, dim):
    """The reduced dimensions asked for; an empty ``dim`` (``()``, ``[]``) means every one
    (None), as in PyTorch's sum, mean, amax, amin, var and std (NumPy: none)."""
    axis = pick_axis(axis, dim)
    return None if isinstance(axis, (tuple, list)) and not axis else axis


def _squeeze(out, axes, keepdims: bool):
    """A reduction computed with keepdims=True, without the reduced axes unless ``keepdims``."""
    return out if keepdims else out.reshape(()) if axes is None else out.squeeze(axes)


def _typed(input, dtype) -> Tensor:  # noqa: A002
    """PyTorch's ``dtype=`` of a reduction: the input cast to it first (in the graph)."""
    x = as_tensor(input)
    return x if dtype is None else cast(x, dtype)


def _broadcast_grad(g, shape: tuple, axes, keepdims: bool):
    out = backend.array_module(g).empty(shape, dtype=g.dtype)
    if g.size == 1:  # a full reduction (a loss): fill is the fastest way
        out.fill(g.reshape(())[()])
    else:
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
def sum(input, dim=None, keepdim: bool = False, *, axis=None,  # noqa: A001
        keepdims=None) -> Tensor:
    """The sum over ``dim`` (all dimensions by default); ``axis``/``keepdims`` are NumPy's
    names for the same."""
    return SumFunction.apply(as_tensor(input), axis=_dims(axis, dim),
                             keepdims=True if keepdim or keepdims else False)


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
def mean(input, dim=None, keepdim: bool = False, *, axis=None, keepdims=None) -> Tensor:
    """The mean over ``dim`` (all dimensions by default)."""
    return MeanFunction.apply(as_tensor(input), axis=_dims(axis, dim),
                              keepdims=bool(keepdim) or bool(keepdims))


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
        return _squeeze(out, axes, keepdims)

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


ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])
ValuesIndices.__doc__ = "What max and min with a dimension return: (values, indices), as PyTorch."


def _extremum(name: str, fn: type, arg_fn: type, input, dim, keepdim, axis, keepdims, other):
    if isinstance(dim, Tensor) or other is not None:  # torch.max(a, b): element-wise
        from nerve.ops.elementwise import maximum, minimum

        return (maximum if name == "max" else minimum)(input, dim if other is None else other)
    axis = pick_axis(axis, dim)
    keep = bool(keepdim) or bool(keepdims)
    x = as_tensor(input)
    if axis is None:  # the single extreme value; tied extremes share the gradient
        return fn.apply(x, axis=None, keepdims=keep)
    if isinstance(axis, (tuple, list)):
        raise TypeError(f"{name}: expected one dimension (it returns their indices). Received: "
                        f"dim={axis!r}; use a{name} for the values over several dimensions")
    if x.ndim == 0:  # as PyTorch: dim 0 of a number is the number, at index 0
        normalize_axis(axis, 0, name)
        return ValuesIndices(x.clone(), Tensor._wrap(backend.array_module(x._data).zeros(
            (), backend.int64)))
    indices = arg_fn.apply(x, axis=axis, keepdims=True)
    values = gather(x, axis, indices)  # the gradient goes to the index, as in PyTorch
    if not keep:
        values, indices = values.squeeze(axis), indices.squeeze(axis)
    return ValuesIndices(values, indices)


@register
def max(input, dim=None, keepdim: bool = False, *, axis=None, keepdims=None,  # noqa: A001
        other=None):
    """The largest value of ``input``; with a dimension (``dim`` or ``axis``), the named tuple
    ``(values, indices)`` along it, as ``torch.max``: ``_, predicted = nerve.max(out, 1)``.
    ``max(a, b)`` with a tensor ``b`` is the element-wise ``maximum``; ``amax`` gives values only.
    """
    return _extremum("max", MaxFunction, ArgmaxFunction, input, dim, keepdim, axis, keepdims,
                     other)


@register
def min(input, dim=None, keepdim: bool = False, *, axis=None, keepdims=None,  # noqa: A001
        other=None):
    """The smallest value of ``input``; with a dimension, the named tuple ``(values, indices)``
    along it (see ``max``); ``min(a, b)`` is the element-wise ``minimum``."""
    return _extremum("min", MinFunction, ArgminFunction, input, dim, keepdim, axis, keepdims,
                     other)


@register
def amax(input, dim=None, keepdim: bool = False, *, axis=None, keepdims=None) -> Tensor:
    """The largest values along ``dim`` (all dimensions by default); tied maxima share the
    gradient equally (PyTorch's ``amax``)."""
    return MaxFunction.apply(as_tensor(input), axis=_dims(axis, dim),
                             keepdims=bool(keepdim) or bool(keepdims))


@register
def amin(input, dim=None, keepdim: bool = False, *, axis=None, keepdims=None) -> Tensor:
    """The smallest values along ``dim`` (all dimensions by default); see ``amax``."""
    return MinFunction.apply(as_tensor(input), axis=_dims(axis, dim),
                             keepdims=bool(keepdim) or bool(keepdims))


class GatherFunction(Function):
    "y = x[i][index[i][j]] at [i][j] (dim 1; any dim);  dx = g added where y was gathered"

    def forward(ctx, x, index, *, axis):
        (ctx.axis,) = normalize_axis(axis, x.ndim, "gather")
        if index.ndim != x.ndim or index.dtype.kind not in "iu":
            raise ValueError(f"gather: expected an integer index with {x.ndim} dimensions "
                             f"(the input's). Received: shape {index.shape}, dtype {index.dtype}")
        if [d for d, (i, n) in enumerate(zip(index.shape, x.shape)) if i > n and d != ctx.axis]:
            raise ValueError(f"gather: expected an index no larger than the input {x.shape} "
                             f"apart from dim {ctx.axis}. Received: index shape {index.shape}")
        size = x.shape[ctx.axis]
        if index.size and not 0 <= index.min() <= index.max() < size:
            bad = index.min() if index.min() < 0 else index.max()
            raise IndexError(f"gather: expected indices in [0, {size}) (the size of dim "
                             f"{ctx.axis}). Received: an index {int(bad)}")
        ctx.save_for_backward(index)
        ctx.in_shape = x.shape
        part = x[tuple(slice(None) if d == ctx.axis else slice(n)  # torch reads x[:n] there
                       for d, n in enumerate(index.shape))]
        return backend.array_module(x).take_along_axis(part, index, axis=ctx.axis)

    def backward(ctx, g):
        (index,) = ctx.saved_tensors
        xp = backend.array_module(g)
        gx = xp.zeros(ctx.in_shape, g.dtype)
        places = list(xp.indices(index.shape, sparse=True))
        places[ctx.axis] = index
        backend.scatter_add(gx, tuple(places), g)  # an index may repeat: its gradients add
        return gx, None


@register
def gather(input, dim: int, index) -> Tensor:
    """The elements of ``input`` at ``index`` along ``dim`` (PyTorch's ``gather``)."""
    index = index._data if isinstance(index, Tensor) else backend.ensure_array(index)
    return GatherFunction.apply(as_tensor(input), index, axis=dim)


def _order_index(x, axis: int, kind: str, k: int = 1):
    """Where along ``axis`` (kept, length 1) the k-th smallest value of each slice lies
    (``kind`` "kthvalue"), or the lower median ("median": NaN counts as the largest, and a
    slice holding one has a NaN for median; "nanmedian": the median of the other values)."""
    xp, n = backend.array_module(x), x.shape[axis]
    nans = (x != x).sum(axis=axis, keepdims=True)  # ints: none
    # NaNs sort last, in their order: a median with one takes the first NaN, a nanmedian of
    # NaNs alone the middle one (PyTorch's indices, so the gradient lands where PyTorch's does)
    pos = nans * 0 + (k - 1) if kind == "kthvalue" else xp.where(
        nans > 0, n - nans, (n - 1) // 2) if kind == "median" else xp.where(
        nans == n, (n - 1) // 2, (n - nans - 1) // 2)
    return xp.take_along_axis(xp.argsort(x, axis=axis, kind="stable"), pos, axis=axis)


class MedianFunction(Function):
    """y = the lower median of all values (of an even count the smaller middle one; NaN if one
    is NaN; nanmedian: of the values that are not NaN);  dy/dx = 1/m at each of the m values
    equal to y (at the NaN where y is NaN), else 0"""

    def forward(ctx, x, *, kind="median"):
        xp, flat = backend.array_module(x), x.reshape(-1)
        out = flat[_order_index(flat, 0, kind)[0]] if flat.size else xp.asarray(xp.nan, x.dtype)
        ctx.save_for_backward(x, out)
        return out.reshape(())

    def backward(ctx, g):
        x, out = ctx.saved_tensors
        xp = backend.array_module(g)
        mask = xp.isnan(x) if xp.isnan(out) else x == out
        return mask * (g / mask.sum())


def _order_statistic(kind: str, input, dim, keepdim: bool, k: int = 1):  # noqa: A002
    """``(values, indices)`` of the k-th smallest (or the median) along ``dim``; the gradient
    goes to the index, as PyTorch's (which index it returns among ties is unspecified)."""
    x = as_tensor(input)
    if dim is None and kind != "kthvalue":
        return MedianFunction.apply(x, kind=kind)
    if not is_int(dim):
        raise TypeError(message(kind, "one dimension (an int)", "dim", dim))
    axis = normalize_axis(dim, x.ndim, kind)[0] if x.ndim else normalize_axis(dim, 1, kind)[0]
    size = x.shape[axis] if x.ndim else 1
    if kind == "kthvalue" and not (is_int(k) and 1 <= k <= size):
        raise ValueError(message(kind, f"k in [1, {size}] (the size of dim {dim})", "k", k))
    if size == 0:
        raise ValueError(message(kind, "a dimension of non-zero size", "dim, input.shape",
                                 (dim, x.shape)))
    if x.ndim == 0:
        return ValuesIndices(x.clone(), Tensor._wrap(backend.array_module(x._data).zeros(
            (), backend.int64)))
    indices = Tensor._wrap(_order_index(x._data, axis, kind, k).astype(backend.int64))
    values = gather(x, axis, indices)
    if not keepdim:
        values, indices = values.squeeze(axis), indices.squeeze(axis)
    return ValuesIndices(values, indices)


@register
def median(input, dim=None, keepdim: bool = False):  # noqa: A002
    """The lower median of all values (of an even count the smaller middle one, as PyTorch;
    NaN if one is NaN), whose gradient ties share; with ``dim``, the named tuple ``(values,
    indices)`` along it, the gradient going to the index."""
    return _order_statistic("median", input, dim, keepdim)


@register
def nanmedian(input, dim=None, keepdim: bool = False):  # noqa: A002
    """``median`` of the values that are not NaN (NaN where all are)."""
    return _order_statistic("nanmedian", input, dim, keepdim)


@register
def kthvalue(input, k: int, dim: int = -1, keepdim: bool = False):  # noqa: A002
    """The named tuple ``(values, indices)`` of the ``k``-th smallest (from 1) along ``dim``,
    NaN counting as the largest; the gradient goes to the index."""
    return _order_statistic("kthvalue", input, dim, keepdim, k)


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


def _correction(correction, unbiased) -> int:
    if unbiased is not None:
        if correction is not None:
            raise TypeError("give correction or unbiased, not both")
        return 1 if unbiased else 0
    return 1 if correction is None else correction


class StdFunction(VarFunction):
    "y = sqrt(var(x));  dy/dx = (x - mean) / (denom y), and 0 where y = 0 (as PyTorch)"

    def forward(ctx, x, *, axis=None, keepdims=False, correction=1):
        ctx.out = backend.array_module(x).sqrt(VarFunction.forward(
            ctx, x, axis=axis, keepdims=keepdims, correction=correction))
        return ctx.out

    def backward(ctx, g):
        xp, out = backend.array_module(g), ctx.out
        with backend.errstate(divide="ignore", invalid="ignore"):  # a constant row: 0, not NaN
            return VarFunction.backward(ctx, xp.where(out == 0, 0, g / (2 * out)))


@register
def var(input, dim=None, unbiased=None, keepdim: bool = False, *, correction=None,
        axis=None, keepdims=None) -> Tensor:
    """Variance along ``dim`` (all by default); ``correction=1`` (the default, as in PyTorch)
    divides by n - 1, 0 by n; PyTorch's positional order ``var(dim, unbiased, keepdim)``."""
    return VarFunction.apply(as_tensor(input), axis=_dims(axis, dim),
                             keepdims=bool(keepdim) or bool(keepdims),
                             correction=_correction(correction, unbiased))


@register
def std(input, dim=None, unbiased=None, keepdim: bool = False, *, correction=None,
        axis=None, keepdims=None) -> Tensor:
    """Standard deviation: the square root of ``var`` with the same arguments."""
    return StdFunction.apply(as_tensor(input), axis=_dims(axis, dim),
                             keepdims=bool(keepdim) or bool(keepdims),
                             correction=_correction(correction, unbiased))


@register(methods=())  # as PyTorch: no Tensor method
def var_mean(input, dim=None, unbiased=None, keepdim: bool = False, *,  # noqa: A002
             correction=None) -> tuple:
    """The pair ``(var, mean)`` along ``dim``, with ``var``'s arguments (``torch.var_mean``)."""
    return var(input, dim, unbiased, keepdim, correction=correction), mean(input, dim, keepdim)


@register(methods=())
def std_mean(input, dim=None, unbiased=None, keepdim: bool = False, *,  # noqa: A002
             correction=None) -> tuple:
    """The pair ``(std, mean)`` along ``dim``, with ``std``'s arguments (``torch.std_mean``)."""
    return std(input, dim, unbiased, keepdim, correction=correction), mean(input, dim, keepdim)


class ProdFunction(Function):
    """y = product of x over axis;  dy/dx_i = the product of the others: y / x_i without zeros;
    with one zero in a slice, the product of the others at the zero and 0 elsewhere; with two
    or more, 0 (computed without dividing by zero, as PyTorch)"""

    def forward(ctx, x, *, axis=None, keepdims=False):
        ctx.axes = _axes(axis, x.ndim, "prod")
        ctx.save_for_backward(x)
        return x.prod(axis=ctx.axes, keepdims=keepdims,
                      dtype=backend.int64 if x.dtype.kind in "biu" else None)

    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        xp, axes = backend.array_module(g), ctx.axes
        zero = x == 0
        safe = xp.where(zero, 1, x)
        others = safe.prod(axis=axes, keepdims=True)  # the product of the non-zeros
        zeros = zero.sum(axis=axes, keepdims=True)
        grad = xp.where(zeros == 0, others / safe, xp.where(zero & (zeros == 1), others, 0))
        return grad * _expand(g, x.shape, axes, ctx.options.get("keepdims", False))


@register
def prod(input, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:  # noqa: A002
    """The product of the elements (along one ``dim``), as ``torch.prod``: int and bool inputs
    give int64; exact gradients where elements are zero."""
    if dim is not None and not is_int(dim):
        raise TypeError(message("prod", "one dimension (an int) or None", "dim", dim))
    return ProdFunction.apply(_typed(input, dtype), axis=dim, keepdims=bool(keepdim))


def _rcumsum(a, axis: int):
    """The sums from each position to the end along ``axis``."""
    xp = backend.array_module(a)
    return xp.flip(xp.flip(a, axis).cumsum(axis=axis), axis)


class CumprodFunction(Function):
    """y = x_0 x_1 ... x_i at i along axis;  dx_i = sum over j >= i of g_j y_j / x_i before
    the first zero, at the first zero the same sum of the products without it, 0 after it
    (exact, as PyTorch, without dividing by zero)"""

    def forward(ctx, x, *, axis):
        ctx.axis = _check_dim(axis, x.ndim, "cumprod")
        dtype = backend.int64 if x.dtype.kind in "biu" else x.dtype
        out = x.astype(dtype) if x.ndim == 0 else x.cumprod(axis=ctx.axis, dtype=dtype)
        ctx.save_for_backward(x, out)
        return out

    def backward(ctx, g):
        x, out = ctx.saved_tensors
        xp, axis = backend.array_module(g), ctx.axis
        if x.ndim == 0:
            return g
        zero = x == 0
        zeros = zero.cumsum(axis=axis)  # the zeros up to each position
        before, first = zeros == 0, zero & (zeros == 1)
        grad = xp.where(before, _rcumsum(g * out, axis) / xp.where(before, x, 1), 0)
        if first.any():  # at the first zero: the products with that zero left out
            without = xp.where(first, 1, x).cumprod(axis=axis)
            grad = xp.where(first, _rcumsum(g * without, axis), grad)
        return grad


@register
def cumprod(input, dim: int, *, dtype=None) -> Tensor:  # noqa: A002
    """The cumulative product along ``dim`` (int and bool inputs give int64), as PyTorch."""
    return CumprodFunction.apply(_typed(input, dtype), axis=dim)


class LogsumexpFunction(Function):
    """y = m + ln(sum(e^(x - m))) over axis, m the max (0 where infinite);  dy/dx = e^(x - y)

    As PyTorch: a slice of -inf gives -inf (and a NaN gradient), one with +inf gives +inf.
    """

    def forward(ctx, x, *, axis=None, keepdims=False):
        x, xp = _floating(x), backend.array_module(x)
        ctx.axes = _axes(axis, x.ndim, "logsumexp")
        m = x.max(axis=ctx.axes, keepdims=True) if x.size else \
            x.sum(axis=ctx.axes, keepdims=True)  # an empty slice: ln(0) = -inf
        m = xp.where(xp.isinf(m), 0, m)
        with backend.errstate(divide="ignore", invalid="ignore"):
            out = xp.log(xp.exp(x - m).sum(axis=ctx.axes, keepdims=True)) + m
        ctx.save_for_backward(x, out)
        return _squeeze(out, ctx.axes, keepdims)

    def backward(ctx, g):
        x, out = ctx.saved_tensors
        with backend.errstate(invalid="ignore"):
            return backend.array_module(g).exp(x - out) * _expand(
                g, x.shape, ctx.axes, ctx.options.get("keepdims", False))


@register
def logsumexp(input, dim, keepdim: bool = False) -> Tensor:  # noqa: A002
    """ln(sum(e^x)) along ``dim`` (an int or a tuple; () for all), computed stably."""
    return LogsumexpFunction.apply(as_tensor(input), axis=_dims(None, dim),
                                   keepdims=bool(keepdim))


class NormFunction(Function):
    """y = (sum |x|^p)^(1/p) over axis (p = inf: max |x|, -inf: min |x|, 0: the count of
    non-zeros);  dy/dx = sign(x) |x|^(p-1) y^(1-p), 0 where x = 0 or y = 0 (PyTorch's
    subgradient); p = +-inf: sign(x) shared by the ties; p = 0: 0"""

    def forward(ctx, x, *, p=2.0, axis=None, keepdims=False):
        ctx.axes = axes = _axes(axis, x.ndim, "norm")
        xp, a, inf = backend.array_module(x), abs(x), float("inf")
        with backend.errstate(divide="ignore", over="ignore"):
            if p in (inf, -inf):
                if 0 in x.shape and (axes is None or 0 in [x.shape[d] for d in axes]):
                    raise ValueError(f"norm: cannot take the {p} norm over an empty dimension "
                                     f"(no identity; PyTorch refuses too). Received: shape "
                                     f"{x.shape}, dim={axis!r}")
                out = a.max(axis=axes, keepdims=True) if p > 0 else a.min(axis=axes, keepdims=True)
            elif p == 0:
                out = (x != 0).sum(axis=axes, keepdims=True).astype(x.dtype)
            elif p == 1:
                out = a.sum(axis=axes, keepdims=True)
            else:
                out = (x * x if p == 2 else a ** p).sum(axis=axes, keepdims=True)
                out = xp.sqrt(out) if p == 2 else out ** (1 / p)
        ctx.save_for_backward(x, out)
        return _squeeze(out, axes, keepdims)

    def backward(ctx, g):
        x, out = ctx.saved_tensors
        xp, p = backend.array_module(g), ctx.options.get("p", 2.0)
        g = _expand(g, x.shape, ctx.axes, ctx.options.get("keepdims", False))
        if p == 0:
            return xp.zeros_like(x)
        with backend.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if p in (float("inf"), float("-inf")):
                ties = (abs(x) == out).astype(g.dtype)
                return xp.sign(x) * ties * g / ties.sum(axis=ctx.axes, keepdims=True)
            scaled = xp.where(x == 0, 0, xp.sign(x) * abs(x) ** (p - 1))
            return scaled * xp.where(out == 0, 0, g * out ** (1 - p))


def _norm(input, p, dim, keepdim, dtype, who: str) -> Tensor:  # noqa: A002
    x = _typed(input, dtype)
    if x.dtype.kind != "f":
        raise TypeError(message(who, "a floating-point input (or a floating dtype=), as PyTorch",
                                "input.dtype", x.dtype))
    if isinstance(p, str) and p != "fro":
        raise ValueError(message(who, "'fro' or a number (matrix norms such as 'nuc' are not "
                                 "supported)", "p", p))
    return NormFunction.apply(x, p=check_number(2 if p == "fro" else p, "p", who),
                              axis=_dims(None, dim), keepdims=bool(keepdim))


@register
def norm(input, p="fro", dim=None, keepdim: bool = False, dtype=None) -> Tensor:  # noqa: A002
    """The vector norm of ``input``'s elements (all of them, or along ``dim``), as
    ``torch.norm``: p = "fro" or 2 (Euclidean, for any shape), 1, inf, -inf, 0 (the count of
    non-zeros) or any other number; the gradient is 0 where the norm is 0."""
    return _norm(input, p, dim, keepdim, dtype, "norm")


def vector_norm(x, ord=2, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:  # noqa: A002
    """The vector norm of order ``ord`` (see ``norm``), as ``torch.linalg.vector_norm``."""
    return _norm(x, ord, dim, keepdim, dtype, "vector_norm")



MinMax = namedtuple("MinMax", ["min", "max"])
MinMax.__doc__ = "What aminmax returns: (min, max), as PyTorch's named tuple."


@register
def aminmax(input, *, dim=None, keepdim: bool = False) -> MinMax:  # noqa: A002
    """The named tuple ``(min, max)`` of the values (along one ``dim``), as ``torch.aminmax``;
    tied extremes share the gradient equally."""
    if dim is not None and not is_int(dim):
        raise TypeError(message("aminmax", "one dimension (an int) or None", "dim", dim))
    return MinMax(amin(input, dim, keepdim), amax(input, dim, keepdim))


class CountNonzeroFunction(Function):
    "y = the number of non-zero elements (NaN included) along axis (not differentiable)"

    differentiable = False

    def forward(ctx, x, *, axis=None):
        return (x != 0).sum(axis=_axes(axis, x.ndim, "count_nonzero")).astype(backend.int64)


@register
def count_nonzero(input, dim=None) -> Tensor:  # noqa: A002
    """The number of non-zero elements (along ``dim``: an int or a tuple), as int64."""
    return CountNonzeroFunction.apply(as_tensor(input), axis=_dims(None, dim))


class NansumFunction(SumFunction):
    "y = sum of x over axis, NaN counted as 0;  dy/dx = 1, and 0 where x is NaN"

    def forward(ctx, x, *, axis=None, keepdims=False):
        xp = backend.array_module(x)
        ctx.nan = xp.isnan(x)
        return SumFunction.forward(ctx, xp.where(ctx.nan, 0, x), axis=axis, keepdims=keepdims)

    def backward(ctx, g):
        return backend.array_module(g).where(ctx.nan, 0, SumFunction.backward(ctx, g))


@register
def nansum(input, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:  # noqa: A002
    """The sum treating NaN as 0 (along ``dim``), as ``torch.nansum``: no gradient at NaN."""
    x = _typed(input, dtype)
    if x.dtype.kind != "f":  # no NaN to skip
        return sum(x, dim, keepdim)
    return NansumFunction.apply(x, axis=_dims(None, dim), keepdims=bool(keepdim))


class NanmeanFunction(Function):
    "y = sum of the non-NaN x over axis / their count n;  dy/dx = 1 / n, and 0 where x is NaN"

    def forward(ctx, x, *, axis=None, keepdims=False):
        xp = backend.array_module(x)
        ctx.axes, ctx.nan = _axes(axis, x.ndim, "nanmean"), xp.isnan(x)
        ctx.count = (~ctx.nan).sum(axis=ctx.axes, keepdims=True).astype(x.dtype)
        with backend.errstate(divide="ignore", invalid="ignore"):  # no number: NaN, as torch
            out = xp.where(ctx.nan, 0, x).sum(axis=ctx.axes, keepdims=True) / ctx.count
        return _squeeze(out, ctx.axes, keepdims)

    def backward(ctx, g):
        g = _expand(g, ctx.nan.shape, ctx.axes, ctx.options.get("keepdims", False))
        with backend.errstate(divide="ignore", invalid="ignore"):
            return ~ctx.nan * (g / ctx.count)


@register
def nanmean(input, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:  # noqa: A002
    """The mean of the non-NaN elements (along ``dim``), as ``torch.nanmean``: NaN where all
    are NaN; no gradient at NaN. Floating-point inputs only, as PyTorch."""
    x = _typed(input, dtype)
    if x.dtype.kind != "f":
        raise TypeError(message("nanmean", "a floating-point input (or dtype=)", "input.dtype",
                                x.dtype))
    return NanmeanFunction.apply(x, axis=_dims(None, dim), keepdims=bool(keepdim))


def _check_dim(axis, ndim, op):
    if not is_int(axis):  # () or (0, 1): PyTorch refuses them too
        raise TypeError(message(op, "one dimension (an int)", "dim", axis))
    (axis,) = normalize_axis(axis, ndim, op)
    return axis


def _over_nothing(ctx, x) -> bool:
    """True (and the empty result saved) for a softmax over an empty axis: empty, as
    PyTorch's (NumPy's max refuses an empty axis)."""
    if x.ndim and x.shape[ctx.axis] == 0:
        ctx.save_for_backward(x)
        return True
    return False


class SoftmaxFunction(Function):
    """y = e^(x - max) / sum(e^(x - max)) along axis;  dx = y (g - sum(g y)) for the gradient g

    Stable for logits of any size.
    """

    def forward(ctx, x, *, axis=-1):
        ctx.axis = _check_dim(axis, x.ndim, "softmax")
        if _over_nothing(ctx, x):
            return x.copy()
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
def softmax(input, dim: int | None = None, *, axis=None) -> Tensor:
    """Probabilities along ``dim`` that sum to 1, computed stably. Without ``dim``, the last
    of a 0-, 1- or 2-D input (PyTorch's implicit choice too); a larger one needs it."""
    x = as_tensor(input)
    return SoftmaxFunction.apply(x, axis=_softmax_dim(pick_axis(axis, dim), x, "softmax"))


def _softmax_dim(dim, x: Tensor, who: str):
    if dim is None and x.ndim > 2:  # PyTorch's implicit dim: 0 for 3-D, 1 for 4-D (deprecated)
        raise ValueError(f"{who}: expected dim= for an input of {x.ndim} dimensions (PyTorch's "
                         f"implicit choice, dim={int(x.ndim != 3)}, is deprecated and rarely "
                         f"the classes'). Received: input.shape={tuple(x.shape)}")
    return -1 if dim is None else dim


class LogSoftmaxFunction(Function):
    """y = x - max - ln(sum(e^(x - max))) along axis;  dx = g - e^y sum(g)"""

    def forward(ctx, x, *, axis=-1):
        ctx.axis = _check_dim(axis, x.ndim, "log_softmax")
        if _over_nothing(ctx, x):
            return x.copy()
        xp = backend.array_module(x)
        shifted = x - x.max(axis=ctx.axis, keepdims=True)
        shifted -= xp.log(xp.exp(shifted).sum(axis=ctx.axis, keepdims=True))
        ctx.save_for_backward(shifted)
        return shifted

    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g - backend.array_module(g).exp(out) * g.sum(axis=ctx.axis, keepdims=True)


@register
def log_softmax(input, dim: int | None = None, *, axis=None) -> Tensor:
    """log(softmax(x)) along ``dim``, computed stably (without ``dim``: as :func:`softmax`)."""
    x = as_tensor(input)
    return LogSoftmaxFunction.apply(x, axis=_softmax_dim(pick_axis(axis, dim), x, "log_softmax"))


class ArgmaxFunction(Function):
    "y = the position of the largest value along axis (not differentiable)"

    differentiable = False
    kind = "argmax"

    def forward(ctx, x, *, axis=None, keepdims=False):
        if axis is not None:
            axis = _check_dim(axis, x.ndim, ctx.kind)
        return getattr(x, ctx.kind)(axis=axis, keepdims=keepdims)


class ArgminFunction(ArgmaxFunction):
    "y = the position of the smallest value along axis (not differentiable)"

    kind = "argmin"


@register
def argmax(input, dim=None, keepdim: bool = False, *, axis=None, keepdims=None) -> Tensor:
    """Positions of the largest values: the decision. Not differentiable (no gradient)."""
    return ArgmaxFunction.apply(as_tensor(input), axis=pick_axis(axis, dim),
                                keepdims=bool(keepdim) or bool(keepdims))


@register
def argmin(input, dim=None, keepdim: bool = False, *, axis=None, keepdims=None) -> Tensor:
    """Positions of the smallest values. Not differentiable (no gradient)."""
    return ArgminFunction.apply(as_tensor(input), axis=pick_axis(axis, dim),
                                keepdims=bool(keepdim) or bool(keepdims))


@register(methods=("allclose",))
def allclose(input, other, rtol: float = 1e-05, atol: float = 1e-08,
             equal_nan: bool = False) -> bool:  # noqa: A002 - PyTorch's names
    """Whether every |input - other| <= atol + rtol * |other| (PyTorch's defaults)."""
    a, b = (t._data if isinstance(t, Tensor) else backend.ensure_array(t) for t in (input, other))
    return bool(backend.array_module(a).allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


@register(methods=("equal",))
def equal(input, other) -> bool:  # noqa: A002 - PyTorch's names
    """Whether both have the same shape and the same elements."""
    a, b = (t._data if isinstance(t, Tensor) else backend.ensure_array(t) for t in (input, other))
    return a.shape == b.shape and bool((a == b).all())


class _TruthFunction(Function):
    "y = whether any (or all) elements along dim are nonzero (not differentiable)"

    differentiable = False

    def forward(ctx, x, *, axis=None, keepdims=False, kind="any"):
        axes = _axes(axis, x.ndim, kind)
        return getattr(x, kind)(axis=axes, keepdims=keepdims)


@register
def any(input, dim=None, keepdim: bool = False, *, axis=None, keepdims=None) -> Tensor:  # noqa: A001
    """Whether any element (along ``dim``) is nonzero, as a bool tensor."""
    return _TruthFunction.apply(as_tensor(input), axis=pick_axis(axis, dim),
                                keepdims=bool(keepdim) or bool(keepdims), kind="any")


@register
def all(input, dim=None, keepdim: bool = False, *, axis=None, keepdims=None) -> Tensor:  # noqa: A001
    """Whether every element (along ``dim``) is nonzero, as a bool tensor."""
    return _TruthFunction.apply(as_tensor(input), axis=pick_axis(axis, dim),
                                keepdims=bool(keepdim) or bool(keepdims), kind="all")


# --- running extremes, logcumsumexp, sorted positions, counts, distances, quantiles, cov -----
def _running(input, dim, kind: str):  # noqa: A002
    """cummax/cummin: the running extreme along ``dim`` and the position it came from (of
    ties the last; after a NaN, the last NaN, as PyTorch); the values are gathered from the
    input, so the gradient goes to those positions."""
    x = as_tensor(input)
    (axis,) = normalize_axis(dim, x.ndim or 1, kind)
    xp = backend.array_module(x._data)
    if x.ndim == 0:
        return ValuesIndices(x.clone(), Tensor._wrap(xp.zeros((), backend.int64)))
    data = x._data
    run = (xp.maximum if kind == "cummax" else xp.minimum).accumulate(data, axis=axis)
    pos = xp.arange(data.shape[axis]).reshape([-1 if d == axis else 1 for d in range(x.ndim)])
    hit = (data == run) | (data != data)
    index = xp.maximum.accumulate(xp.where(hit, pos, 0), axis=axis).astype(backend.int64)
    return ValuesIndices(gather(x, axis, index), Tensor._wrap(index))


@register
def cummax(input, dim: int):  # noqa: A002
    """``(values, indices)``: the running maximum along ``dim`` and where each came from."""
    return _running(input, dim, "cummax")


@register
def cummin(input, dim: int):  # noqa: A002
    """``(values, indices)``: the running minimum along ``dim`` and where each came from."""
    return _running(input, dim, "cummin")


class LogcumsumexpFunction(Function):
    """y = logcumsumexp(x): y_i = ln(e^x_1 + ... + e^x_i) along dim, without overflow;
    dx_j = sum over i >= j of g_i e^(x_j - y_i) (summed in log space, positive and negative
    parts of g apart, so that it neither overflows nor vanishes)"""

    def forward(ctx, x, *, axis):
        x = _floating(x)
        ctx.axis = normalize_axis(axis, x.ndim or 1, "logcumsumexp")[0]
        out = backend.array_module(x).logaddexp.accumulate(x, axis=ctx.axis) if x.ndim else \
            x.copy()
        ctx.save_for_backward(x, out)
        return out

    def backward(ctx, g):
        x, out = ctx.saved_tensors
        if x.ndim == 0:
            return g
        xp, axis = backend.array_module(g), ctx.axis
        grad = xp.zeros_like(x)
        with backend.errstate(divide="ignore", invalid="ignore"):  # ln 0 = -inf: no term
            for part, sign in ((xp.maximum(g, 0), 1), (xp.maximum(-g, 0), -1)):
                tail = xp.flip(xp.logaddexp.accumulate(xp.flip(xp.log(part) - out, axis),
                                                       axis=axis), axis)
                grad += sign * xp.exp(x + tail)
        return grad


@register
def logcumsumexp(input, dim: int) -> Tensor:  # noqa: A002
    """ln of the running sum of exp(input) along ``dim``, computed stably."""
    return LogcumsumexpFunction.apply(as_tensor(input), axis=dim)


def _sorted_side(right: bool, side, who: str) -> str:
    if side is not None and side not in ("left", "right"):
        raise ValueError(message(who, "side 'left' or 'right'", "side", side))
    if side == "left" and right:
        raise ValueError(message(who, "side and right that agree", "(side, right)",
                                 (side, right)))
    return "right" if right or side == "right" else "left"


@register(methods=())
def searchsorted(sorted_sequence, values, *, out_int32: bool = False, right: bool = False,
                 side=None, sorter=None) -> Tensor:
    """The positions where ``values`` would go into ``sorted_sequence`` (along its last
    dimension) to keep it sorted: the first such place (``right``/``side="right"``: the last);
    a number gives a 0-d result; a sequence of several dimensions pairs its rows with those of
    ``values``. ``sorter``: the indices that sort an unsorted sequence. Not differentiable."""
    from nerve.checks import as_array

    seq = as_array(sorted_sequence)
    xp = backend.array_module(seq)
    scalar = not isinstance(values, (Tensor, *backend.ARRAY_TYPES))
    v = xp.asarray(values) if scalar else as_array(values)
    if seq.ndim == 0 or (seq.ndim > 1 and (scalar or v.shape[:-1] != seq.shape[:-1])):
        raise ValueError(message("searchsorted", "a 1-D sorted_sequence, or one whose leading "
                                 "dims match those of values", "shapes", (seq.shape, v.shape)))
    if sorter is not None:
        seq = xp.take_along_axis(seq, as_array(sorter), -1)
    how = _sorted_side(right, side, "searchsorted")
    if seq.ndim == 1:
        found = xp.searchsorted(seq, v, how)
    else:  # one search per row (a loop over rows, each searched at once)
        count = math.prod(seq.shape[:-1])  # not -1: a last dim of 0 leaves it undetermined
        rows, vs = seq.reshape(count, seq.shape[-1]), v.reshape(count, v.shape[-1])
        found = xp.stack([xp.searchsorted(r, w, how) for r, w in zip(rows, vs)]).reshape(
            v.shape) if rows.shape[0] else xp.zeros(v.shape, backend.int64)
    return Tensor._wrap(xp.asarray(found).astype("int32" if out_int32 else backend.int64))


@register(methods=())
def bucketize(input, boundaries, *, out_int32: bool = False, right: bool = False) -> Tensor:
    """The bucket of each element among the 1-D sorted ``boundaries``: i with
    ``boundaries[i-1] < x <= boundaries[i]`` (``right``: ``boundaries[i-1] <= x <
    boundaries[i]``). Not differentiable."""
    b = boundaries if isinstance(boundaries, Tensor) else Tensor(boundaries)
    if b.ndim != 1:
        raise ValueError(message("bucketize", "1-D boundaries", "boundaries.shape", b.shape))
    return searchsorted(b, input, out_int32=out_int32, right=right)


@register
def bincount(input, weights=None, minlength: int = 0) -> Tensor:  # noqa: A002
    """How often each value 0, 1, ..., max occurs in a 1-D tensor of non-negative integers (at
    least ``minlength`` counts); with ``weights``, their sums instead (float32 weights give
    float32, others float64, as PyTorch; the weights get the gradient)."""
    from nerve.checks import as_array, check_int

    data = as_array(input)
    if data.ndim != 1 or data.dtype.kind not in "iu" or (data.size and data.min() < 0):
        raise ValueError(message("bincount", "a 1-D tensor of non-negative integers",
                                 "input (shape, dtype)", (data.shape, str(data.dtype))))
    size = check_int(minlength, "minlength", "bincount", minimum=0)
    size = int(data.max()) + 1 if data.size and data.max() >= size else size
    xp = backend.array_module(data)
    if weights is None:
        return Tensor._wrap(xp.bincount(data, minlength=size).astype(backend.int64))
    w = as_tensor(weights)
    if w.shape != data.shape:
        raise ValueError(message("bincount", f"weights of the input's shape {data.shape}",
                                 "weights.shape", w.shape))
    w = w if w.dtype in (backend.float32, backend.float64) else cast(w, backend.float64)
    from nerve.ops.select import index_add

    return index_add(Tensor._wrap(xp.zeros(size, w.dtype)), 0, data, w)


@register
def histc(input, bins: int = 100, min=0, max=0) -> Tensor:  # noqa: A002
    """The histogram of a floating tensor: ``bins`` equal bins over [min, max] (both 0: the
    data's range), the last one closed, elements outside ignored; counts in the input's
    dtype. Not differentiable. The bin of x is PyTorch's, int((x - min) * bins / (max - min))
    in the input's dtype (edges from linspace would put some values on an edge elsewhere)."""
    from nerve.checks import check_positive_int

    x = as_tensor(input)
    if x.dtype.kind != "f":
        raise TypeError(message("histc", "a floating-point tensor", "input.dtype", str(x.dtype)))
    bins = check_positive_int(bins, "bins", "histc")
    lo, hi = check_number(min, "min", "histc"), check_number(max, "max", "histc")
    data = x._data.reshape(-1)
    xp = backend.array_module(data)
    if lo == hi and data.size:
        lo, hi = float(data.min()), float(data.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if not (lo < hi) or not xp.isfinite(xp.asarray([lo, hi])).all():
        raise ValueError(message("histc", "a finite range with min < max", "(min, max)",
                                 (lo, hi)))
    lo, hi = xp.asarray(lo, x.dtype), xp.asarray(hi, x.dtype)
    data = data[(data >= lo) & (data <= hi)]
    where = xp.minimum(((data - lo) * bins / (hi - lo)).astype(backend.int64), bins - 1)
    return Tensor._wrap(xp.bincount(where, minlength=bins).astype(x.dtype))


@register(methods=())
def cdist(x1, x2, p: float = 2.0,
          compute_mode: str = "use_mm_for_euclid_dist_if_necessary") -> Tensor:
    """The p-norm distances between the rows of ``x1`` (..., P, M) and of ``x2`` (..., R, M),
    as (..., P, R), batch dims broadcast; gradients as ``vector_norm``'s (0 at a zero
    distance). ``compute_mode`` is accepted for PyTorch's code: the distances are always
    computed directly (never through a matrix product, which is faster but less exact)."""
    from nerve.checks import check_choice

    a, b = as_tensor(x1), as_tensor(x2)
    p = check_number(p, "p", "cdist", 0)
    check_choice(compute_mode, "compute_mode", "cdist", (
        "use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist",
        "donot_use_mm_for_euclid_dist"))
    if a.ndim < 2 or b.ndim < 2 or a.shape[-1] != b.shape[-1]:
        raise ValueError(message("cdist", "x1 (..., P, M) and x2 (..., R, M) with one M",
                                 "shapes", (a.shape, b.shape)))
    if a.dtype.kind != "f" or a.dtype != b.dtype:
        raise TypeError(message("cdist", "two floating tensors of one dtype", "dtypes",
                                (str(a.dtype), str(b.dtype))))
    d = a.unsqueeze(-2) - b.unsqueeze(-3)
    if a.shape[-1] == 0:  # M = 0: every distance is 0 (p = inf too), as PyTorch's
        return d.abs().sum(-1)
    if p != math.inf:
        return vector_norm(d, p, dim=-1)
    # p = inf: each of tied largest |d_i| gets the whole gradient sign(d_i), as PyTorch (the
    # norm shares it): c + sum over the tied of (|d_i| - c), which is c, with c held constant
    c = Tensor._wrap(vector_norm(d.detach(), p, dim=-1, keepdim=True)._data)
    return (c + ((d.abs() - c) * (d.abs()._data == c._data)).sum(-1, keepdim=True)).squeeze(-1)


_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(input, q, dim, keepdim: bool, interpolation: str, who: str):  # noqa: A002
    """quantile and nanquantile (``who``): PyTorch's ranks q (n - 1) in the sorted values (n
    the count of non-NaN values for nanquantile; a row with a NaN gives NaN for quantile),
    gathered, so the gradient goes to the elements picked (linear: shared by the two)."""
    from nerve.checks import check_choice
    from nerve.ops.elementwise import lerp

    x = as_tensor(input)
    check_choice(interpolation, "interpolation", who, _INTERPOLATIONS)
    if x.dtype.kind != "f" or x.numel() == 0:
        raise ValueError(message(who, "a non-empty floating-point input", "input (shape, "
                                 "dtype)", (x.shape, str(x.dtype))))
    xp = backend.array_module(x._data)
    if isinstance(q, Tensor):
        if q.ndim > 1 or q.dtype != x.dtype:
            raise ValueError(message(who, f"q a number or a 0-d or 1-D tensor of the input's "
                                     f"dtype {x.dtype}", "q (shape, dtype)",
                                     (q.shape, str(q.dtype))))
        qs = q._data
    elif isinstance(q, (int, float)) and not isinstance(q, bool):
        qs = xp.asarray(q, dtype=x.dtype)
    else:
        raise TypeError(message(who, "q a number or a Tensor", "q", q))
    if qs.size and not ((qs >= 0) & (qs <= 1)).all():
        raise ValueError(message(who, "q in [0, 1]", "q", q))
    axis = None if dim is None else normalize_axis(dim, x.ndim or 1, who)[0]
    flat = x.reshape(-1) if axis is None or x.ndim == 0 else x.movedim(axis, -1)
    order = xp.argsort(flat._data, axis=-1, kind="stable")  # NaN last, as PyTorch's sort
    values = gather(flat, -1, order)
    nan = xp.isnan(values._data)
    last = values.shape[-1] - 1
    if who == "nanquantile":
        ranks = qs.reshape(-1) * ((~nan).sum(-1, keepdims=True) - 1)
        ranks = xp.where(ranks < 0, 0, ranks)  # a row of NaN only: NaN
    else:
        ranks = xp.where(nan.any(-1, keepdims=True), last, qs.reshape(-1) * last)
    ranks = ranks.astype(x.dtype)
    if interpolation in ("lower", "higher", "nearest"):
        ranks = {"lower": xp.floor, "higher": xp.ceil, "nearest": xp.rint}[interpolation](ranks)
    below = xp.floor(ranks).astype(backend.int64)
    out = gather(values, -1, below)
    if interpolation in ("linear", "midpoint"):
        above = gather(values, -1, xp.ceil(ranks).astype(backend.int64))
        weight = xp.full_like(ranks, 0.5) if interpolation == "midpoint" else ranks - below
        out = lerp(out, above, Tensor._wrap(weight.astype(x.dtype)))
    out = out.movedim(-1, 0)  # (q, the dims kept)
    if keepdim:
        out = out.reshape((out.shape[0],) + (tuple(1 for _ in x.shape) if axis is None else
                                             x.shape[:axis] + (1,) + x.shape[axis + 1:]))
    return out.reshape(out.shape[1:]) if qs.ndim == 0 else out


@register
def quantile(input, q, dim=None, keepdim: bool = False, *,  # noqa: A002
             interpolation: str = "linear") -> Tensor:
    """The ``q``-th quantiles (a number, or a 1-D tensor: its quantiles along a new first
    dimension) along ``dim`` (None: of all elements), as ``torch.quantile``: the value at rank
    ``q (n - 1)`` in the sorted values, between neighbours by ``interpolation`` ("linear",
    "lower", "higher", "midpoint", "nearest"); NaN where a reduced row holds a NaN."""
    return _quantile(input, q, dim, keepdim, interpolation, "quantile")


@register
def nanquantile(input, q, dim=None, keepdim: bool = False, *,  # noqa: A002
                interpolation: str = "linear") -> Tensor:
    """:func:`quantile` ignoring NaN (a row of NaN only gives NaN)."""
    return _quantile(input, q, dim, keepdim, interpolation, "nanquantile")


@register
def cov(input, *, correction: int = 1, fweights=None, aweights=None) -> Tensor:  # noqa: A002
    """The covariance matrix of the variables in the rows of ``input`` (observations in the
    columns; one variable, a 1-D input or one row: a 0-d result), as ``torch.cov``: divided by
    ``sum(w) - correction`` (with ``aweights``: ``sum(w) - correction * sum(w * aweights) /
    sum(w)``), ``w = fweights * aweights``; clamped at 0 as PyTorch (giving inf or NaN)."""
    from nerve.checks import check_int
    from nerve.ops.arithmetic import matmul

    x = as_tensor(input)
    if x.ndim > 2:
        raise ValueError(message("cov", "a tensor of at most 2 dimensions", "input.shape",
                                 x.shape))
    check_int(correction, "correction", "cov")
    x = x if x.dtype.kind == "f" else cast(x, backend.get_default_dtype())
    x = x.reshape(1, -1) if x.ndim < 2 else x
    n = x.shape[1]
    w = None
    for name, wt, kind in (("fweights", fweights, "iu"), ("aweights", aweights, "f")):
        if wt is None:
            continue
        wt = as_tensor(wt)
        if wt.ndim != 1 or wt.shape[0] != n or wt.dtype.kind not in kind or (
                wt.numel() and (wt._data < 0).any()):
            raise ValueError(message("cov", f"{name}: 1-D, {n} non-negative "
                                     f"{'integers' if kind == 'iu' else 'floats'}",
                                     f"{name} (shape, dtype)", (wt.shape, str(wt.dtype))))
        wt = cast(wt, x.dtype) if kind == "iu" else wt  # float aweights promote, as PyTorch
        w = wt if w is None else w * wt
    if w is None:
        avg, factor = mean(x, 1, keepdim=True), n - correction
        centred = x - avg
        c = matmul(centred, centred.T) / (factor if factor > 0 else 0)
    else:
        w_sum = sum(w)
        avg = sum(x * w, 1, keepdim=True) / w_sum
        if correction == 0:
            factor = w_sum
        elif aweights is None:
            factor = w_sum - correction
        else:
            factor = w_sum - correction * sum(w * as_tensor(aweights)) / w_sum
        from nerve.ops.elementwise import clamp_min

        centred = x - avg
        c = matmul(centred * w, centred.T) / clamp_min(factor, 0)
    return c.squeeze()  # one variable: a 0-d result, as PyTorch's


@register
def corrcoef(input) -> Tensor:  # noqa: A002
    """Pearson's correlation coefficients of the rows of ``input`` (``cov`` normalised by the
    standard deviations, clipped to [-1, 1] as PyTorch)."""
    from nerve.ops.elementwise import clip, sqrt
    from nerve.ops.shape import diagonal

    c = cov(input)
    if c.ndim == 0:
        return c / c
    d = sqrt(diagonal(c))
    return clip(c / d.reshape(-1, 1) / d.reshape(1, -1), -1, 1)
