"""Selecting, sorting and repeating, with PyTorch's names: sort, argsort, topk, index_select,
masked_fill, nonzero, cumsum, expand, repeat, chunk, split, view_as, type_as, and the
comparisons as functions (eq, ne, lt, le, gt, ge)."""

from __future__ import annotations

from nerve import backend
from nerve.autograd import Tensor
from nerve.checks import as_array, as_tensor, check_int, check_positive_int, message
from nerve.function import Function, ViewFunction
from nerve.ops._common import normalize_axis, register, unbroadcast
from nerve.ops.reduce import ValuesIndices, gather
from nerve.ops.shape import cast, flatten, getitem, reshape


def _dim(dim, ndim: int, who: str) -> int:
    return normalize_axis(dim, max(ndim, 1), who)[0]


@register
def argsort(input, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    """The indices that sort ``input`` along ``dim`` (stable sorting keeps ties in order)."""
    x = as_tensor(input)
    axis = _dim(dim, x.ndim, "argsort")
    data = x._data if x.ndim else x._data.reshape(1)
    xp = backend.array_module(data)
    if descending:  # a stable reverse, NaN first (as PyTorch); -data would misplace NaN
        flipped = xp.argsort(xp.flip(data, axis=axis), axis=axis, kind="stable")
        order = data.shape[axis] - 1 - xp.flip(flipped, axis=axis)
    else:
        order = xp.argsort(data, axis=axis, kind="stable")
    return Tensor._wrap(order if x.ndim else order.reshape(()))


@register
def sort(input, dim: int = -1, descending: bool = False, stable: bool = False):
    """``(values, indices)`` of ``input`` sorted along ``dim`` (the gradient of the values goes
    back to where each came from)."""
    x = as_tensor(input)
    indices = argsort(x, dim, descending, stable)
    if x.ndim == 0:
        return ValuesIndices(x.clone(), indices)
    return ValuesIndices(gather(x, dim, indices), indices)


@register
def topk(input, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):  # noqa: A002
    """``(values, indices)`` of the ``k`` largest (or smallest) elements along ``dim``."""
    x = as_tensor(input)
    axis = _dim(dim, x.ndim, "topk")
    check_int(k, "k", "topk", minimum=0)
    size = x.shape[axis] if x.ndim else 1
    if k > size:
        raise ValueError(message("topk", f"k <= {size} (the size of dim {dim})", "k", k))
    indices = argsort(x, axis, descending=largest, stable=True)
    indices = getitem(indices, (slice(None),) * axis + (slice(0, k),)) if x.ndim else indices
    return ValuesIndices(gather(x, axis, indices) if x.ndim else x.clone(), indices)


@register
def index_select(input, dim: int, index) -> Tensor:
    """The slices of ``input`` at the positions ``index`` (1-D integers) along ``dim``."""
    x = as_tensor(input)
    idx = as_array(index)
    backend.same_device([x._data, idx], "index_select")  # an option of the node, not an input
    if idx.ndim != 1 or idx.dtype.kind not in "iu":
        raise ValueError(message("index_select", "a 1-D integer index", "index.shape, dtype",
                                 (idx.shape, str(idx.dtype))))
    axis = _dim(dim, x.ndim, "index_select")
    size = x.shape[axis] if x.ndim else 1
    if idx.size and not 0 <= idx.min() <= idx.max() < size:
        bad = int(idx.min() if idx.min() < 0 else idx.max())
        raise IndexError(message("index_select", f"indices in [0, {size}) (the size of dim "
                                 f"{dim})", "an index", bad))
    return getitem(x, (slice(None),) * axis + (idx,))


@register
def masked_fill(input, mask, value) -> Tensor:
    """``input`` with ``value`` where ``mask`` is true (the filled places get no gradient)."""
    from nerve.ops.elementwise import where

    m = as_array(mask)
    if m.dtype.kind != "b":
        raise TypeError(message("masked_fill", "a boolean mask", "mask.dtype", str(m.dtype)))
    x = as_tensor(input)
    if isinstance(value, Tensor):  # as PyTorch: a 0-d value, in the input's dtype
        if value.ndim:
            raise ValueError(message("masked_fill", "a 0-d value tensor", "value.shape",
                                     tuple(value.shape)))
        from nerve.ops.shape import cast

        return where(m, cast(value, x.dtype), x)
    return where(m, Tensor._wrap(backend.array_module(x._data).asarray(value, dtype=x.dtype)), x)


@register
def nonzero(input, as_tuple: bool = False):
    """The indices of the nonzero elements: an (n, ndim) integer tensor, or one 1-D tensor per
    dimension with ``as_tuple=True`` (not differentiable)."""
    data = as_array(input)
    found = backend.array_module(data).nonzero(data)
    if as_tuple:
        return tuple(Tensor._wrap(i) for i in found)
    return Tensor._wrap(backend.array_module(data).stack(found, axis=1) if found else
                        backend.array_module(data).zeros((0, 0), backend.int64))


class CumsumFunction(Function):
    "y = cumsum(x): y_i = x_1 + ... + x_i along dim;  dy/dx: dx_i = g_i + ... + g_n"

    def forward(ctx, x, *, axis):
        ctx.axis = _dim(axis, x.ndim, "cumsum")
        return backend.array_module(x).cumsum(x, axis=ctx.axis) if x.ndim else x.copy()

    def backward(ctx, g):
        if g.ndim == 0:
            return g
        xp = backend.array_module(g)
        flipped = xp.flip(g, axis=ctx.axis)
        return xp.flip(xp.cumsum(flipped, axis=ctx.axis), axis=ctx.axis)


@register
def cumsum(input, dim: int) -> Tensor:
    """The running sum along ``dim``."""
    return CumsumFunction.apply(as_tensor(input), axis=dim)


class ExpandFunction(ViewFunction):
    "y = x repeated along its dimensions of length 1 (a view);  dx = g summed back"

    def forward(ctx, x, *, shape):
        ctx.in_shape = x.shape
        try:
            return backend.array_module(x).broadcast_to(x, shape)
        except ValueError:
            raise ValueError(f"expand: a tensor of shape {x.shape} cannot be expanded to "
                             f"{tuple(shape)}") from None

    def backward(ctx, g):
        return unbroadcast(g, ctx.in_shape)


@register
def expand(input, *sizes) -> Tensor:
    """``input`` repeated along its dimensions of length 1 to ``sizes`` (-1 keeps a size)."""
    x = as_tensor(input)
    sizes = tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else sizes
    lead = len(sizes) - x.ndim
    if lead < 0:
        raise ValueError(message("expand", f"at least {x.ndim} sizes", "sizes", sizes))
    shape = tuple(x.shape[i - lead] if s == -1 and i >= lead else s
                  for i, s in enumerate(sizes))
    return ExpandFunction.apply(x, shape=shape)


@register
def expand_as(input, other) -> Tensor:
    """``input`` expanded to the shape of ``other``."""
    return expand(input, as_tensor(other).shape)


class RepeatFunction(Function):
    "y = x tiled ``repeats`` times along each dimension;  dx = the sum of g over the tiles"

    def forward(ctx, x, *, repeats):
        ctx.in_shape = x.shape
        lead = len(repeats) - x.ndim
        ctx.tiled_shape = tuple(repeats[:lead]) + tuple(
            v for r, n in zip(repeats[lead:], x.shape) for v in (r, n))
        return backend.array_module(x).tile(x, repeats)

    def backward(ctx, g):
        lead = len(ctx.tiled_shape) - 2 * len(ctx.in_shape)
        parts = g.reshape(ctx.tiled_shape)
        axes = tuple(range(lead)) + tuple(lead + 2 * i for i in range(len(ctx.in_shape)))
        return parts.sum(axis=axes).reshape(ctx.in_shape)


@register
def repeat(input, *repeats) -> Tensor:
    """``input`` tiled: ``x.repeat(2, 3)`` repeats it twice along dim 0 and three times along
    dim 1 (as ``torch.Tensor.repeat``; NumPy's ``repeat`` is ``repeat_interleave``)."""
    x = as_tensor(input)
    repeats = tuple(repeats[0]) if len(repeats) == 1 and isinstance(repeats[0], (tuple, list)) \
        else repeats
    if len(repeats) < x.ndim:
        raise ValueError(message("repeat", f"at least {x.ndim} repeats (one per dimension)",
                                 "repeats", repeats))
    for r in repeats:
        check_int(r, "repeats", "repeat", minimum=0)
    return RepeatFunction.apply(x, repeats=tuple(int(r) for r in repeats))


@register
def split(input, split_size_or_sections, dim: int = 0) -> tuple:
    """Pieces of ``input`` along ``dim``: of ``split_size`` each (the last may be shorter), or
    of the listed sizes."""
    x = as_tensor(input)
    axis = _dim(dim, x.ndim, "split")
    n = x.shape[axis]
    sizes = split_size_or_sections
    if isinstance(sizes, int) and not isinstance(sizes, bool):
        check_positive_int(sizes, "split_size", "split")
        sizes = [min(sizes, n - start) for start in range(0, n, sizes)] or [0]
    elif any(size < 0 for size in sizes) or sum(sizes) != n:
        raise ValueError(message("split", f"sizes >= 0 that add up to {n} (the size of dim "
                                 f"{dim})", "split_size_or_sections", split_size_or_sections))
    pieces, start = [], 0
    for size in sizes:
        pieces.append(getitem(x, (slice(None),) * axis + (slice(start, start + size),)))
        start += size
    return tuple(pieces)


@register
def chunk(input, chunks: int, dim: int = 0) -> tuple:
    """``input`` cut into ``chunks`` pieces along ``dim`` (the last may be smaller)."""
    x = as_tensor(input)
    check_positive_int(chunks, "chunks", "chunk")
    n = x.shape[_dim(dim, x.ndim, "chunk")]
    return split(x, max(1, -(-n // chunks)), dim)


@register
def view_as(input, other) -> Tensor:
    """``input`` in the shape of ``other``."""
    return reshape(input, as_tensor(other).shape)


@register
def type_as(input, other) -> Tensor:
    """``input`` in the dtype of ``other``."""
    return cast(as_tensor(input), as_tensor(other).dtype)


@register
def ravel(input) -> Tensor:
    """``input`` as one dimension."""
    return flatten(input)


def _comparison(op: str, name: str):
    def compare(input, other) -> Tensor:  # noqa: A002 - PyTorch's names
        result = getattr(as_tensor(input), op)(other)
        if result is NotImplemented:
            raise TypeError(f"{name}: cannot compare a tensor with {type(other).__name__}")
        return result

    compare.__name__ = compare.__qualname__ = name
    compare.__doc__ = f"Element-wise ``input {name} other``, as booleans (not differentiable)."
    return register(compare)


eq = _comparison("__eq__", "eq")
ne = _comparison("__ne__", "ne")
lt = _comparison("__lt__", "lt")
le = _comparison("__le__", "le")
gt = _comparison("__gt__", "gt")
ge = _comparison("__ge__", "ge")
