"""Selecting, sorting and repeating, with PyTorch's names: sort, argsort, topk, index_select,
masked_fill, masked_select, take_along_dim, scatter, scatter_add, index_add, unique, nonzero,
cumsum, expand, repeat, meshgrid, chunk, split, view_as, type_as; the products outer, dot,
tensordot and einsum; and the comparisons as functions (eq, ne, lt, le, gt, ge)."""

from __future__ import annotations

from nerve import backend, creation
from nerve.autograd import Tensor
from nerve.checks import as_array, as_tensor, check_choice, check_int, check_positive_int, message
from nerve.function import Function, ViewFunction
from nerve.ops._common import is_int, normalize_axis, register, same_dtype, unbroadcast
from nerve.ops.arithmetic import matmul
from nerve.ops.reduce import ValuesIndices, cumprod, gather
from nerve.ops.shape import (
    _sequence,
    cast,
    concatenate,
    flatten,
    flip,
    getitem,
    pad,
    reshape,
    stack,
    transpose,
)


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


def _check_index(idx, size: int, who: str, dim, low: int = 0) -> None:
    """Raise unless ``idx`` holds integers in [low, size) (``low`` -size: counted from the end
    where negative), naming the first bad one and the allowed range."""
    if idx.dtype.kind not in "iu":
        raise TypeError(message(who, "an integer index", "index.dtype", str(idx.dtype)))
    if idx.size and not (low <= idx.min() and idx.max() < size):
        bad = int(idx.min() if idx.min() < low else idx.max())
        raise IndexError(message(who, f"indices in [{low}, {size}) (the size of dim {dim})",
                                 "an index", bad))


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
    _check_index(idx, x.shape[axis] if x.ndim else 1, "index_select", dim)
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
def masked_select(input, mask) -> Tensor:
    """The elements of ``input`` where the boolean ``mask`` (broadcast with it) is true, as a
    1-D tensor; the gradient goes back to those places."""
    x, m = as_tensor(input), as_array(mask)
    if m.dtype.kind != "b":
        raise TypeError(message("masked_select", "a boolean mask", "mask.dtype", str(m.dtype)))
    shape = backend.broadcast_shapes(x.shape, m.shape)
    x = x if x.shape == shape else expand(x, shape)
    return getitem(x, backend.array_module(m).broadcast_to(m, shape))


@register
def take_along_dim(input, indices, dim=None) -> Tensor:
    """``gather`` with ``indices`` broadcast against ``input`` outside ``dim`` (both flattened
    without ``dim``); a negative index counts from the end."""
    x, idx = as_tensor(input), as_array(indices)
    if dim is None:
        x, idx, dim = flatten(x), idx.reshape(-1), 0
    if idx.ndim != x.ndim:
        raise ValueError(message("take_along_dim", f"indices with {x.ndim} dimensions (the "
                                 "input's)", "indices.shape", idx.shape))
    axis = _dim(dim, x.ndim, "take_along_dim")
    n = x.shape[axis] if x.ndim else 1
    _check_index(idx, n, "take_along_dim", dim, low=-n)
    idx = backend.array_module(idx).where(idx < 0, idx + n, idx)
    if x.ndim == 0:
        return x.clone()
    shape = backend.broadcast_shapes(*(s[:axis] + (1,) + s[axis + 1:]
                                       for s in (x.shape, idx.shape)))
    shape_of = lambda s: shape[:axis] + s[axis:axis + 1] + shape[axis + 1:]  # noqa: E731
    x = x if x.shape == shape_of(x.shape) else expand(x, shape_of(x.shape))
    return gather(x, axis, backend.array_module(idx).broadcast_to(idx, shape_of(idx.shape)))


def _places(index, axis: int) -> tuple:
    """The positions ``[i][index[i][j]]`` (``index`` along ``axis``) as a NumPy index."""
    places = list(backend.array_module(index).indices(index.shape, sparse=True))
    places[axis] = index
    return tuple(places)


class ScatterAddFunction(Function):
    """y = x with src[i][j] added at [i][index[i][j]] (dim 1; any dim; repeated indices add up);
    dy/dx = 1, dsrc[i][j] = g[i][index[i][j]] (0 where src reaches beyond index)"""

    def forward(ctx, x, index, src, *, axis):
        ctx.places, ctx.src_shape = _places(index, axis), src.shape
        ctx.part = tuple(slice(n) for n in index.shape)
        y = x.copy()
        backend.scatter_add(y, ctx.places, src[ctx.part])
        return y

    def backward(ctx, g):
        gsrc = None
        if len(ctx.needs_input_grad) > 2 and ctx.needs_input_grad[2]:
            gsrc = backend.array_module(g).zeros(ctx.src_shape, g.dtype)
            gsrc[ctx.part] = g[ctx.places]
        return g, None, gsrc


def _scatter_axis(who: str, x: Tensor, dim, idx, s) -> int:
    """The axis of a scatter of ``s`` (a tensor; None: a number) into ``x`` at ``idx``, after
    PyTorch's checks: as many dimensions, one dtype, index no larger than src nor than input
    apart from dim, indices in range."""
    if s is not None:
        same_dtype(x, s, who, "src")
    axis, s_shape = _dim(dim, x.ndim, who), idx.shape if s is None else s.shape
    if idx.ndim != x.ndim or len(s_shape) != x.ndim or any(
            i > n or (i > m and d != axis) for d, (i, n, m) in
            enumerate(zip(idx.shape, s_shape, x.shape))):
        raise ValueError(message(who, f"index and src with {x.ndim} dimensions, index no larger "
                                 "than src, nor than input apart from dim",
                                 "(input, index, src) shapes", (x.shape, idx.shape, s_shape)))
    _check_index(idx, x.shape[axis], who, dim)
    return axis


@register
def scatter_add(input, dim: int, index, src) -> Tensor:
    """A copy of ``input`` with each ``src[i][j]`` added at ``[i][index[i][j]]`` (dim 1; any
    dim), where repeated indices add up (out of place, as ``torch.scatter_add``)."""
    x, s, idx = as_tensor(input), as_tensor(src), as_array(index)
    if x.ndim == 0:
        return reshape(scatter_add(reshape(x, 1), dim, idx.reshape(-1), reshape(s, -1)), ())
    axis = _scatter_axis("scatter_add", x, dim, idx, s)
    return ScatterAddFunction.apply(x, idx, s, axis=axis)


class ScatterFunction(ScatterAddFunction):
    """y = x with y[i][index[i][j]] = src[i][j] (dim 1; any dim; src an array or a number; of
    repeated indices the last in the index's order wins);  dx = g with the written places
    zeroed, dsrc[i][j] = g[i][index[i][j]] (every write's, as PyTorch; 0 beyond index)"""

    def forward(ctx, x, index, src, *, axis):
        xp, ctx.places, ctx.src_shape = backend.array_module(x), _places(index, axis), ()
        ctx.part = tuple(slice(n) for n in index.shape)
        flat = xp.ravel_multi_index(xp.broadcast_arrays(*ctx.places), x.shape).reshape(-1)
        _, first = xp.unique(flat[::-1], return_index=True)  # the last write to each place
        last = flat.size - 1 - first
        y = x.copy()
        if backend.is_array(src):
            ctx.src_shape, src = src.shape, src[ctx.part].reshape(-1)[last]
        y.reshape(-1)[flat[last]] = src
        return y

    def backward(ctx, g):
        gsrc = ScatterAddFunction.backward(ctx, g)[2]
        gx = g.copy() if ctx.needs_input_grad[0] else None
        if gx is not None:
            gx[ctx.places] = 0
        return gx, None, gsrc


@register
def scatter(input, dim: int, index, src=None, *, value=None, reduce=None) -> Tensor:
    """A copy of ``input`` with ``src[i][j]`` written at ``[i][index[i][j]]`` (dim 1; any dim),
    ``src`` a tensor or a number (or ``value=``), as ``torch.scatter``: one-hot targets are
    ``nerve.zeros(n, c).scatter_(1, y.unsqueeze(1), 1.0)``. Of repeated indices the last
    write (in the index's C order) wins, where PyTorch leaves the result undefined. The
    gradient goes to the input except at the written places, and to each ``src[i][j]`` as
    ``g[i][index[i][j]]``. PyTorch's deprecated ``reduce="add"`` is ``scatter_add``;
    ``reduce="multiply"`` is not supported."""
    if (src is None) == (value is None):
        raise TypeError(message("scatter", "either src or value", "(src, value)", (src, value)))
    src, x, idx = value if src is None else src, as_tensor(input), as_array(index)
    number = not isinstance(src, Tensor) and backend.real_scalar(src) is not None
    if reduce is not None:
        if reduce != "add":
            raise ValueError(message("scatter", "reduce=None or 'add' (PyTorch's deprecated "
                                     "'multiply' is not supported)", "reduce", reduce))
        return scatter_add(x, dim, idx, Tensor._wrap(backend.array_module(x._data).full(
            idx.shape, src, x.dtype)) if number else src)
    s = None if number else as_tensor(src)
    if x.ndim == 0:
        return reshape(scatter(reshape(x, 1), dim, idx.reshape(-1), src if number else
                               reshape(s, -1)), ())
    axis = _scatter_axis("scatter", x, dim, idx, s)
    return ScatterFunction.apply(x, idx, backend.real_scalar(src) if number else s, axis=axis)


class IndexAddFunction(Function):
    """y = x with alpha source[j] added at x[index[j]] along dim (repeated indices add up);
    dy/dx = 1, dsource = alpha g[index] along dim"""

    def forward(ctx, x, index, source, *, axis, alpha):
        xp, ctx.index = backend.array_module(x), index
        y = x.copy()
        source = source if alpha == 1 else source * alpha
        backend.scatter_add(xp.moveaxis(y, axis, 0), index, xp.moveaxis(source, axis, 0))
        return y

    def backward(ctx, g):
        o, gs = ctx.options, None
        if len(ctx.needs_input_grad) > 2 and ctx.needs_input_grad[2]:
            gs = backend.array_module(g).take(g, ctx.index, o["axis"])
            gs = gs if o["alpha"] == 1 else gs * o["alpha"]
        return g, None, gs


@register
def index_add(input, dim: int, index, source, *, alpha=1) -> Tensor:
    """A copy of ``input`` with ``alpha * source`` added at the positions ``index`` (1-D) along
    ``dim``, where repeated indices add up (out of place, as ``torch.index_add``)."""
    x, s, idx = as_tensor(input), as_tensor(source), as_array(index)
    if x.ndim == 0:
        return reshape(index_add(reshape(x, 1), dim, idx, reshape(s, -1), alpha=alpha), ())
    same_dtype(x, s, "index_add", "source")
    axis = _dim(dim, x.ndim, "index_add")
    if idx.ndim > 1 or s.shape[:axis] + s.shape[axis + 1:] != x.shape[:axis] + x.shape[
            axis + 1:] or s.ndim != x.ndim or s.shape[axis] != idx.size:
        raise ValueError(message("index_add", "a 1-D index with one position per slice of "
                                 "source along dim, source shaped as input elsewhere",
                                 "(input, index, source) shapes", (x.shape, idx.shape, s.shape)))
    _check_index(idx, x.shape[axis], "index_add", dim)
    return IndexAddFunction.apply(x, idx.reshape(-1), s, axis=axis, alpha=alpha)


@register
def unique(input, sorted: bool = True, return_inverse: bool = False,  # noqa: A002
           return_counts: bool = False, dim=None):
    """The distinct elements of ``input`` (of its slices along ``dim``), sorted; with
    ``return_inverse`` also where each element (slice) went, with ``return_counts`` how often
    each occurs. Not differentiable. Always sorted (as PyTorch on the CPU); NaNs stay distinct,
    as in PyTorch."""
    data = as_array(input)
    axis = None if dim is None else _dim(dim, data.ndim, "unique")
    values, inverse, counts = backend.array_module(data).unique(
        data, return_inverse=True, return_counts=True, axis=axis, equal_nan=False)
    inverse = inverse.reshape(data.shape if axis is None else -1).astype(backend.int64)
    found = (values, *([inverse] if return_inverse else []),
             *([counts.astype(backend.int64)] if return_counts else []))
    return Tensor._wrap(values) if len(found) == 1 else tuple(map(Tensor._wrap, found))


@register(methods=())
def meshgrid(*tensors, indexing: str = "ij") -> tuple:
    """Coordinate grids of 1-D tensors: output i holds ``tensors[i]`` along dimension i
    (``"ij"``; ``"xy"`` swaps the first two dimensions), expanded to all their sizes (views)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tensors[0]
    ts = _sequence(list(tensors), "meshgrid")
    check_choice(indexing, "indexing", "meshgrid", ("ij", "xy"))
    if any(t.ndim > 1 for t in ts):
        raise ValueError(message("meshgrid", "0-d or 1-D tensors", "shapes",
                                 [t.shape for t in ts]))
    order = list(range(len(ts)))
    if indexing == "xy" and len(ts) > 1:
        order[:2] = [1, 0]
    shape = tuple(ts[i]._data.size for i in order)
    return tuple(expand(reshape(t, [-1 if i == d else 1 for d in order]), shape)
                 for i, t in enumerate(ts))


def _vectors(a, b, who: str) -> tuple:
    a, b = as_tensor(a), as_tensor(b)
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(message(who, "two 1-D tensors", "shapes", (a.shape, b.shape)))
    return a, b


@register
def outer(input, vec2) -> Tensor:
    """The outer product of two 1-D tensors: ``input[i] * vec2[j]`` at [i, j]."""
    a, b = _vectors(input, vec2, "outer")
    return reshape(a, (-1, 1)) * b


@register
def ger(input, vec2) -> Tensor:
    """The old name of :func:`outer`."""
    return outer(input, vec2)


@register
def dot(input, tensor) -> Tensor:
    """The inner product of two 1-D tensors of one length and dtype (as ``torch.dot``)."""
    a, b = _vectors(input, tensor, "dot")
    same_dtype(a, b, "dot", "tensor")
    if a.shape != b.shape:
        raise ValueError(message("dot", f"two vectors of one length ({a.shape[0]})",
                                 "tensor.shape", b.shape))
    return matmul(a, b)


@register
def inner(input, other) -> Tensor:
    """The sum of the products over the last dimension of both (as ``torch.inner``): a dot
    product of vectors, ``input @ other.T`` of matrices; a 0-d operand multiplies."""
    a, b = as_tensor(input), as_tensor(other)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    same_dtype(a, b, "inner", "other")
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(message("inner", f"last dimensions of one size ({a.shape[-1]})",
                                 "other.shape", b.shape))
    return tensordot(a, b, dims=([a.ndim - 1], [b.ndim - 1]))


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


@register(methods=())
def tensordot(a, b, dims=2) -> Tensor:
    """The sum of the products over the last ``dims`` dimensions of ``a`` and the first of ``b``
    (or over the dimensions paired in ``dims=([a's], [b's])``)."""
    a, b = as_tensor(a), as_tensor(b)
    same_dtype(a, b, "tensordot", "b")
    if is_int(dims):
        check_int(dims, "dims", "tensordot", minimum=0)
        pairs = (range(a.ndim - dims, a.ndim), range(dims)) if dims <= min(a.ndim, b.ndim) else ()
    else:
        pairs = tuple([d] if is_int(d) else list(d) for d in dims)
    if len(pairs) != 2 or len(pairs[0]) != len(pairs[1]):
        raise ValueError(message("tensordot", "an int <= both ndims or two lists of dims of one "
                                 "length", "dims", dims))
    da, db = ([normalize_axis(d, t.ndim, "tensordot")[0] for d in p] for t, p in zip((a, b), pairs))
    if [a.shape[i] for i in da] != [b.shape[j] for j in db] or len(set(da)) < len(da):
        raise ValueError(message("tensordot", "distinct dims of matching sizes", "sizes",
                                 ([a.shape[i] for i in da], [b.shape[j] for j in db])))
    sa = _LETTERS[:a.ndim]
    sb = [_LETTERS[a.ndim + j] for j in range(b.ndim)]
    for i, j in zip(da, db):
        sb[j] = sa[i]
    out = "".join(c for i, c in enumerate(sa) if i not in da) + "".join(
        c for j, c in enumerate(sb) if j not in db)
    return EinsumFunction.apply(a, b, ins=(sa, "".join(sb)), out=out)


def _subscripts(equation: str, ndims: list) -> tuple:
    """The letters of each operand and of the output, each ``...`` spelled out as letters the
    equation does not use (aligned on the right, as broadcasting is); checked as PyTorch does."""
    lhs, arrow, out = equation.replace(" ", "").partition("->")
    ins = lhs.split(",")
    spare = [c for c in _LETTERS if c not in lhs]
    widths = [n - len(s) + 3 if "..." in s else 0 for s, n in zip(ins, ndims)]
    width = max(widths, default=0)
    if set((lhs + out).replace("...", "").replace(",", "")) - set(_LETTERS) or len(ins) != len(
            ndims) or any(s.count("...") > 1 for s in ins) or min(widths, default=0) < 0:
        raise ValueError(message("einsum", "letters a-z, A-Z and at most one '...' per "
                                 "operand, one equation term per operand", "(equation, "
                                 "operand ndims)", (equation, ndims)))
    ins = [s.replace("...", "".join(spare[width - w:width])) for s, w in zip(ins, widths)]
    if any(len(s) != n for s, n in zip(ins, ndims)):
        raise ValueError(message("einsum", "one subscript per dimension (or a '...')",
                                 "(equation, operand ndims)", (equation, ndims)))
    letters = "".join(ins)
    if not arrow:
        out = "".join(spare[:width]) + "".join(sorted(c for c in set(letters) - set(spare)
                                                      if letters.count(c) == 1))
    out = out.replace("...", "".join(spare[:width]))
    if len(set(out)) < len(out) or set(out) - set(letters):
        raise ValueError(message("einsum", "output letters that appear once, each in an "
                                 "operand", "equation", equation))
    return tuple(ins), out


class EinsumFunction(Function):
    """y = einsum(ins -> out, x_1, ..., x_n): the products of the operands' elements, summed over
    the letters not in out;  dx_k = einsum(out and the other operands -> x_k's letters), summed
    where x_k was broadcast, spread along letters of x_k alone, put on x_k's repeated letters'
    diagonal"""

    def forward(ctx, *xs, ins, out):
        ctx.save_for_backward(*xs)
        return backend.array_module(xs[0]).einsum(",".join(ins) + "->" + out, *xs,
                                                   optimize=len(xs) > 1)

    def backward(ctx, g):
        xs, ins, out = ctx.saved_tensors, ctx.options["ins"], ctx.options["out"]
        xp, grads = backend.array_module(g), []
        for k, (s, x) in enumerate(zip(ins, xs)):
            if not (k < len(ctx.needs_input_grad) and ctx.needs_input_grad[k]):
                grads.append(None)
                continue
            others = [j for j in range(len(xs)) if j != k]
            uniq = "".join(dict.fromkeys(s))
            have = set(out).union(*(ins[j] for j in others))
            kept = "".join(c for c in uniq if c in have)
            r = xp.einsum(",".join([out] + [ins[j] for j in others]) + "->" + kept, g,
                          *(xs[j] for j in others), optimize=len(xs) > 1)
            r = r.reshape([r.shape[kept.index(c)] if c in kept else 1 for c in uniq])
            shape = tuple(x.shape[s.index(c)] for c in uniq)
            summed = tuple(i for i, n in enumerate(shape) if n == 1 and r.shape[i] != 1)
            r = r.sum(axis=summed, keepdims=True) if summed else r  # x_k was broadcast there
            r = r if r.shape == shape else xp.broadcast_to(r, shape).copy()
            if len(uniq) < len(s):  # a repeated letter: r goes on that diagonal, zeros elsewhere
                gx = xp.zeros(x.shape, g.dtype)
                xp.einsum(s + "->" + uniq, gx)[...] = r  # NumPy's einsum view is writable
                r = gx
            grads.append(r)
        return tuple(grads)


@register(methods=())
def einsum(equation: str, *operands) -> Tensor:
    """Einstein summation, as ``torch.einsum``: ``einsum("ij,jk->ik", a, b)`` is ``a @ b``.
    Subscripts are letters; ``...`` stands for the remaining (broadcast) dimensions; without
    ``->`` the output has the letters that appear once, sorted (after ``...``). The operands,
    of one dtype, as arguments or in a list."""
    if not isinstance(equation, str):
        raise TypeError(message("einsum", "an equation string", "equation", equation))
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = operands[0]
    xs = [as_tensor(x) for x in operands]
    if len({x.dtype for x in xs}) > 1:
        raise TypeError(message("einsum", "operands of one dtype", "dtypes",
                                [str(x.dtype) for x in xs]))
    ins, out = _subscripts(equation, [x.ndim for x in xs])
    try:
        return EinsumFunction.apply(*xs, ins=ins, out=out)
    except ValueError as e:
        raise ValueError(f"einsum: operands of shapes {[x.shape for x in xs]} do not fit "
                         f"{equation!r}: {e}") from None


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


# --- PyTorch's other tilings, splits and index operations, composed (autograd's gradients) ---
@register
def tile(input, dims) -> Tensor:
    """``input`` repeated ``dims[i]`` times along each dimension; fewer dims than the input's
    are padded with 1s in front (as ``torch.tile``; ``repeat`` needs them all)."""
    x = as_tensor(input)
    dims = tuple(dims) if isinstance(dims, (tuple, list)) else (dims,)
    return repeat(x, (1,) * (x.ndim - len(dims)) + dims)


@register
def repeat_interleave(input, repeats=None, dim=None, *, output_size=None) -> Tensor:
    """Each element (slice along ``dim``; without ``dim`` of the flattened input) repeated
    ``repeats`` times in place: ``[1, 2]`` -> ``[1, 1, 2, 2]``; ``repeats`` an int or a tensor
    of one count per slice (or one, 0-d or of shape (1,), for all). ``repeat_interleave(counts)``
    alone gives the indices ``0, 0, 1, 1, 1...`` of the counts; ``output_size``: the total."""
    x = as_tensor(input)
    if repeats is None:  # torch.repeat_interleave(repeats)
        x, repeats = Tensor._wrap(backend.array_module(x._data).arange(x.numel())), x
    if dim is None:
        x, dim = flatten(x), 0
    axis = _dim(dim, x.ndim, "repeat_interleave")
    n = x.shape[axis] if x.ndim else 1
    xp = backend.array_module(x._data)
    r = xp.asarray(repeats._data if isinstance(repeats, Tensor) else repeats)
    if r.dtype.kind not in "iu" or r.ndim > 1 or r.size not in (1, n):
        raise ValueError(message("repeat_interleave", f"an int or integer counts of shape (), "
                                 f"(1,) or ({n},) (the size of dim {dim})", "repeats", repeats))
    if r.size and r.min() < 0:
        raise ValueError(message("repeat_interleave", "counts >= 0", "repeats", repeats))
    index = xp.repeat(xp.arange(n), r.reshape(-1) if r.size == n else int(r.reshape(-1)[0]))
    if output_size is not None and output_size != index.size:
        raise ValueError(message("repeat_interleave", f"output_size {index.size} (the sum of "
                                 "the counts)", "output_size", output_size))
    return getitem(x, (slice(None),) * axis + (index,)) if x.ndim else getitem(x, index * 0)


def _split_at(x: Tensor, bounds: list, axis: int) -> tuple:
    """The pieces of ``x`` between the positions ``bounds`` along ``axis`` (Python's slices)."""
    lead = (slice(None),) * axis
    return tuple(getitem(x, lead + (slice(a, b),)) for a, b in zip(bounds, bounds[1:]))


@register
def tensor_split(input, indices_or_sections, dim: int = 0) -> tuple:
    """``input`` cut along ``dim`` into ``sections`` pieces of sizes differing by at most one
    (the first ones larger), or at the positions ``indices`` (views, as ``torch.tensor_split``)."""
    x = as_tensor(input)
    if x.ndim == 0:
        raise ValueError(message("tensor_split", "a tensor of at least 1 dimension",
                                 "input.shape", ()))
    axis = _dim(dim, x.ndim, "tensor_split")
    n, s = x.shape[axis], indices_or_sections
    if isinstance(s, Tensor):
        if s.dtype.kind not in "iu" or s.ndim > 1:
            raise ValueError(message("tensor_split", "a 0-d or 1-D integer tensor",
                                     "indices_or_sections", s))
        s = s.item() if s.ndim == 0 else s.tolist()
    if is_int(s):
        k = check_positive_int(s, "sections", "tensor_split")
        sizes = [n // k + (i < n % k) for i in range(k)]
        return _split_at(x, [sum(sizes[:i]) for i in range(k + 1)], axis)
    if not isinstance(s, (tuple, list)) or not all(is_int(i) for i in s):
        raise TypeError(message("tensor_split", "an int or a sequence of ints",
                                "indices_or_sections", s))
    return _split_at(x, [0, *s, None], axis)


def _split_dim(x: Tensor, s, axis: int, who: str) -> tuple:
    """hsplit/vsplit/dsplit: sections must divide the dimension evenly (as PyTorch)."""
    if is_int(s) and (s <= 0 or x.shape[axis] % s):
        raise ValueError(message(who, f"sections that divide the size {x.shape[axis]} of dim "
                                 f"{axis} evenly", "sections", s))
    return tensor_split(x, s, axis)


@register
def hsplit(input, indices_or_sections) -> tuple:
    """``tensor_split`` along dim 1 (dim 0 for a 1-D tensor), sections dividing it evenly."""
    x = as_tensor(input)
    if x.ndim == 0:
        raise ValueError(message("hsplit", "a tensor of at least 1 dimension", "input.shape", ()))
    return _split_dim(x, indices_or_sections, int(x.ndim > 1), "hsplit")


@register
def vsplit(input, indices_or_sections) -> tuple:
    """``tensor_split`` along dim 0 of a tensor of at least 2 dimensions, evenly."""
    x = as_tensor(input)
    if x.ndim < 2:
        raise ValueError(message("vsplit", "a tensor of at least 2 dimensions", "input.shape",
                                 x.shape))
    return _split_dim(x, indices_or_sections, 0, "vsplit")


@register
def dsplit(input, indices_or_sections) -> tuple:
    """``tensor_split`` along dim 2 of a tensor of at least 3 dimensions, evenly."""
    x = as_tensor(input)
    if x.ndim < 3:
        raise ValueError(message("dsplit", "a tensor of at least 3 dimensions", "input.shape",
                                 x.shape))
    return _split_dim(x, indices_or_sections, 2, "dsplit")


@register
def take(input, index) -> Tensor:
    """The elements of the flattened ``input`` at ``index`` (any shape; negative positions
    count from the end), in the index's shape."""
    x, idx = as_tensor(input), as_array(index)
    n = x.numel()
    _check_index(idx, n, "take", None, low=-n)
    return getitem(flatten(x), backend.array_module(idx).where(idx < 0, idx + n, idx))


def _index_1d(index, x: Tensor, dim, who: str) -> tuple:
    """The axis and the 1-D integer positions (0-d: one) of ``index`` along ``dim``, checked;
    negative positions count from the end."""
    idx = as_array(index)
    if idx.ndim > 1:
        raise ValueError(message(who, "a 0-d or 1-D index", "index.shape", idx.shape))
    axis = _dim(dim, x.ndim, who)
    n = x.shape[axis] if x.ndim else 1
    _check_index(idx, n, who, dim, low=-n)
    return axis, backend.array_module(idx).where(idx < 0, idx + n, idx).reshape(-1)


@register
def index_fill(input, dim: int, index, value) -> Tensor:
    """A copy of ``input`` with the slices at ``index`` along ``dim`` set to ``value`` (a
    number or a 0-d tensor, which gets the gradient of those places; the input's gradient
    is zero there)."""
    x = as_tensor(input)
    axis, idx = _index_1d(index, x, dim, "index_fill")
    mask = backend.array_module(idx).zeros(x.shape[axis] if x.ndim else 1, bool)
    mask[idx] = True
    return masked_fill(x, mask.reshape([-1 if d == axis else 1 for d in range(x.ndim)]),
                       value)


@register
def index_copy(input, dim: int, index, source) -> Tensor:
    """A copy of ``input`` with ``source``'s slice j along ``dim`` written at position
    ``index[j]`` (of repeated positions the last write wins, where PyTorch leaves it
    undefined); gradients as ``scatter``'s."""
    x, s = as_tensor(input), as_tensor(source)
    axis, idx = _index_1d(index, x, dim, "index_copy")
    if x.ndim == 0:
        return reshape(index_copy(reshape(x, 1), 0, idx, reshape(s, -1)), ())
    want = x.shape[:axis] + (idx.size,) + x.shape[axis + 1:]
    if s.shape != want:
        raise ValueError(message("index_copy", f"a source of shape {want}", "source.shape",
                                 s.shape))
    same_dtype(x, s, "index_copy", "source")
    full = backend.array_module(idx).broadcast_to(
        idx.reshape([-1 if d == axis else 1 for d in range(x.ndim)]), want)
    return ScatterFunction.apply(x, full, s, axis=axis)


def _in_place(name: str, op):
    def method(self, *args, **kwargs):
        from nerve.ops.inplace import apply_inplace  # inplace imports this module

        return apply_inplace(self, op, *args, **kwargs)

    method.__name__, method.__qualname__ = name, f"Tensor.{name}"
    method.__doc__ = (f"``{op.__name__}`` in place (PyTorch's rules for in-place changes):\n"
                      f"{op.__doc__ or ''}")
    return register(method, methods=(name,), public=False)


index_fill_ = _in_place("index_fill_", index_fill)
index_copy_ = _in_place("index_copy_", index_copy)


@register
def rot90(input, k: int = 1, dims=(0, 1)) -> Tensor:
    """``input`` rotated by 90 degrees ``k`` times in the plane of ``dims``, from the first
    towards the second (as ``torch.rot90``)."""
    x = as_tensor(input)
    dims = tuple(dims) if isinstance(dims, (tuple, list)) else dims
    k = check_int(k, "k", "rot90") % 4
    if not isinstance(dims, tuple) or len(dims) != 2 or x.ndim < 2:
        raise ValueError(message("rot90", "two dims of a tensor of at least 2 dimensions",
                                 "(dims, input.shape)", (dims, x.shape)))
    d0, d1 = (_dim(d, x.ndim, "rot90") for d in dims)
    if d0 == d1:
        raise ValueError(message("rot90", "two different dims", "dims", dims))
    if k == 0:
        return x.clone()
    if k == 2:
        return flip(x, (d0, d1))
    return transpose(flip(x, (d1 if k == 1 else d0,)), d0, d1)


@register
def diff(input, n: int = 1, dim: int = -1, prepend=None, append=None) -> Tensor:
    """The ``n``-th forward difference along ``dim`` (``out[i] = x[i + 1] - x[i]``, repeated
    ``n`` times), after ``prepend``/``append`` are joined on; bools give ``x[i + 1] != x[i]``;
    n = 0 gives a copy of the input (prepend and append unused, as PyTorch)."""
    x = as_tensor(input)
    n = check_int(n, "n", "diff", minimum=0)
    if x.ndim == 0:
        raise ValueError(message("diff", "a tensor of at least 1 dimension", "input.shape", ()))
    axis = _dim(dim, x.ndim, "diff")
    parts = [as_tensor(p) for p in (prepend, append) if p is not None]
    if any(p.ndim != x.ndim for p in parts):
        raise ValueError(message("diff", f"prepend and append of {x.ndim} dimensions (the "
                                 "input's)", "shapes", [p.shape for p in parts]))
    if n == 0:
        return x.clone()
    if parts:
        x = concatenate([*([as_tensor(prepend)] if prepend is not None else []), x,
                         *([as_tensor(append)] if append is not None else [])], axis)
    lead = (slice(None),) * axis
    for _ in range(n):
        a, b = getitem(x, lead + (slice(1, None),)), getitem(x, lead + (slice(None, -1),))
        x = a != b if x.dtype == bool else a - b
    return x


@register(methods=())
def cartesian_prod(*tensors) -> Tensor:
    """Every combination of one element of each 1-D tensor, as rows (``itertools.product``;
    one tensor is returned as it is); the tensors must share one dtype, as PyTorch's."""
    ts = _sequence(list(tensors), "cartesian_prod")
    if any(t.ndim != 1 for t in ts):
        raise ValueError(message("cartesian_prod", "1-D tensors", "shapes",
                                 [t.shape for t in ts]))
    if len({t.dtype for t in ts}) > 1:
        raise TypeError(message("cartesian_prod", "tensors of one dtype (PyTorch does not "
                                "promote here)", "dtypes", [str(t.dtype) for t in ts]))
    if len(ts) == 1:
        return ts[0]
    return stack([flatten(g) for g in meshgrid(*ts, indexing="ij")], 1)


@register(methods=())
def combinations(input, r: int = 2, with_replacement: bool = False) -> Tensor:
    """The length-``r`` combinations of the elements of a 1-D tensor, as rows (as
    ``itertools.combinations``, or ``combinations_with_replacement``)."""
    import itertools

    x = as_tensor(input)
    if x.ndim != 1:
        raise ValueError(message("combinations", "a 1-D tensor", "input.shape", x.shape))
    r = check_int(r, "r", "combinations", minimum=0)
    make = itertools.combinations_with_replacement if with_replacement else \
        itertools.combinations
    rows = list(make(range(x.shape[0]), r)) if r else []  # positions only, never the elements
    xp = backend.array_module(x._data)
    return getitem(x, xp.asarray(rows, dtype=backend.int64).reshape(-1, r) if rows else
                   xp.zeros((0, r) if r else (0,), backend.int64))


@register(methods=())
def block_diag(*tensors) -> Tensor:
    """The tensors (0-d, 1-D as a row, 2-D) as the blocks of a block-diagonal matrix, zeros
    elsewhere, in their promoted dtype."""
    ts = [reshape(t, (1, -1)) if t.ndim < 2 else t for t in map(as_tensor, tensors)]
    if not ts:
        return Tensor._wrap(backend.array_module().zeros((1, 0), backend.get_default_dtype()))
    if any(t.ndim != 2 for t in ts):
        raise ValueError(message("block_diag", "tensors of at most 2 dimensions", "shapes",
                                 [t.shape for t in ts]))
    width, left, rows = sum(t.shape[1] for t in ts), 0, []
    for t in ts:
        rows.append(pad(t, ((0, 0), (left, width - left - t.shape[1]))))
        left += t.shape[1]
    return concatenate(rows, 0)  # promotes as PyTorch's cat: int64 with float32 is float32


@register
def kron(input, other) -> Tensor:
    """The Kronecker product: every element of ``input`` times all of ``other``, in blocks
    (the smaller ndim padded with 1s in front)."""
    a, b = as_tensor(input), as_tensor(other)
    n = max(a.ndim, b.ndim)
    sa, sb = (1,) * (n - a.ndim) + a.shape, (1,) * (n - b.ndim) + b.shape
    prod = reshape(a, [v for s in sa for v in (s, 1)]) * reshape(b, [v for s in sb for v in
                                                                       (1, s)])
    return reshape(prod, tuple(i * j for i, j in zip(sa, sb)))


@register(methods=())
def vander(x, N=None, increasing: bool = False) -> Tensor:  # noqa: N803 - PyTorch's name
    """The Vandermonde matrix of a 1-D tensor: columns ``x^(N-1), ..., x, 1`` (``increasing``:
    ``1, x, ..., x^(N-1)``), ``N`` = len(x) by default; made by a running product (exact
    gradients at 0)."""
    v = as_tensor(x)
    if v.ndim != 1:
        raise ValueError(message("vander", "a 1-D tensor", "x.shape", v.shape))
    N = v.shape[0] if N is None else check_int(N, "N", "vander", minimum=0)  # noqa: N806
    if v.dtype.kind in "biu":  # integers and bools as int64, as PyTorch
        v = cast(v, backend.int64)
    col = reshape(v, (-1, 1))
    if N == 0:
        return Tensor._wrap(backend.array_module(v._data).zeros((v.shape[0], 0), v.dtype))
    ones = Tensor._wrap(backend.array_module(v._data).ones((v.shape[0], 1), v.dtype))
    out = cumprod(concatenate([ones] + [col] * (N - 1), 1), 1)
    return out if increasing else flip(out, (1,))


def _filled(draw, name: str):
    """The operation behind an in-place random fill: new draws like the input (cut from the
    graph; the input's values are not used)."""
    def op(input, *args, **kwargs):  # noqa: A002
        return Tensor._wrap(draw(as_tensor(input), *args, **kwargs))

    op.__name__, op.__doc__ = name, draw.__doc__
    return op


bernoulli_ = _in_place("bernoulli_", _filled(
    lambda x, p=0.5, *, generator=None: creation.bernoulli_draws(x, p, generator), "bernoulli"))
random_ = _in_place("random_", _filled(creation.random_draws, "random"))
exponential_ = _in_place("exponential_", _filled(creation.exponential_draws, "exponential"))
geometric_ = _in_place("geometric_", _filled(creation.geometric_draws, "geometric"))
