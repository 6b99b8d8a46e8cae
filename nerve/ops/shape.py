"""Operations that move elements without computing: reshape, permute/transpose, flatten,
squeeze, unsqueeze, indexing, concatenate, stack and pad; flip, roll, the triangles and
diagonals, narrow; and the comparisons."""

from __future__ import annotations

import math

import numpy as np

from nerve import backend
from nerve.autograd import Tensor
from nerve.checks import as_tensor, check_int, message
from nerve.function import Function, ViewFunction
from nerve.ops._common import coerce, is_int, joined, normalize_axis, pick_axis, register


def _shape_args(shape: tuple) -> tuple:
    """``f(x, 2, 3)`` and ``f(x, (2, 3))`` both mean the shape (2, 3)."""
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape


class ReshapeFunction(ViewFunction):
    "y = x with the elements laid out in the shape ``shape``;  dx = g reshaped back"

    def forward(ctx, x, *, shape):
        ctx.in_shape = x.shape
        try:
            return x.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} "
                             f"({x.size} elements) to {tuple(shape)}") from None

    def backward(ctx, g):
        return g.reshape(ctx.in_shape)


@register(methods=("reshape", "view"))
def reshape(input, *shape) -> Tensor:
    """The same elements in another shape (one dimension may be -1: inferred). As ``view``, it
    shares memory where the layout allows and copies otherwise (a transposed tensor, a
    convolution's channels-last output), where PyTorch's view would refuse or share."""
    return ReshapeFunction.apply(as_tensor(input), shape=_shape_args(shape))


def flat_shape(shape: tuple, start_dim: int, end_dim: int) -> tuple:
    """The shape after merging dimensions start_dim..end_dim of ``shape`` into one."""
    if not shape:
        return (1,)
    s = normalize_axis(start_dim, len(shape), "flatten")[0]
    e = normalize_axis(end_dim, len(shape), "flatten")[0]
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    return shape[:s] + (math.prod(shape[s:e + 1]),) + shape[e + 1:]  # not -1: 0 rows work


@register
def flatten(input, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dimensions start_dim..end_dim into one (PyTorch's ``flatten``)."""
    x = as_tensor(input)
    return reshape(x, flat_shape(x.shape, start_dim, end_dim))


class PermuteFunction(ViewFunction):
    "y = x with its dimensions reordered as ``dims``;  dx = g with the inverse order"

    def forward(ctx, x, *, dims):
        dims = tuple(dims)
        if len(dims) != x.ndim or list(normalize_axis(dims, x.ndim, "permute")) != list(
            range(x.ndim)
        ):
            raise ValueError(f"permute: dims {dims} are not a permutation of the "
                             f"{x.ndim} dimensions of shape {x.shape}")
        order = [d % x.ndim for d in dims]
        ctx.inverse = tuple(sorted(range(x.ndim), key=order.__getitem__))
        return x.transpose(dims)

    def backward(ctx, g):
        return g.transpose(ctx.inverse)


@register
def permute(input, *dims) -> Tensor:
    """Reorder the dimensions: ``x.permute(2, 0, 1)`` makes dimension 2 the first."""
    return PermuteFunction.apply(as_tensor(input), dims=_shape_args(dims))


@register
def transpose(input, dim0: int = -2, dim1: int = -1) -> Tensor:
    """Swap two dimensions (the last two by default)."""
    x = as_tensor(input)
    d0, d1 = (normalize_axis(d, x.ndim, "transpose")[0] for d in (dim0, dim1))
    dims = list(range(x.ndim))
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return PermuteFunction.apply(x, dims=tuple(dims))


Tensor.T = property(lambda self: permute(self, tuple(range(self.ndim))[::-1]),
                    doc="The tensor with all its dimensions reversed (a matrix transposed).")


@register
def t(input) -> Tensor:
    """A matrix transposed (a tensor of at most 2 dimensions, as ``torch.t``)."""
    x = as_tensor(input)
    if x.ndim > 2:
        raise ValueError(f"t: expected a tensor of at most 2 dimensions. Received: shape "
                         f"{x.shape}; use transpose(x, dim0, dim1)")
    return x if x.ndim < 2 else transpose(x, 0, 1)


class SqueezeFunction(ViewFunction):
    "y = x without its dimensions of length 1 (those of ``axis`` only, if given);  dx = g reshaped"

    def forward(ctx, x, *, axis=None):
        ctx.in_shape = x.shape
        axes = normalize_axis(axis, x.ndim, "squeeze")
        if axes is None:
            return x.reshape(tuple(n for n in x.shape if n != 1))
        return x.reshape(tuple(n for i, n in enumerate(x.shape) if not (i in axes and n == 1)))

    def backward(ctx, g):
        return g.reshape(ctx.in_shape)


@register
def squeeze(input, dim=None, *, axis=None) -> Tensor:
    """Remove dimensions of length 1 (all of them, or those of ``dim``)."""
    return SqueezeFunction.apply(as_tensor(input), axis=pick_axis(axis, dim))


class UnsqueezeFunction(ViewFunction):
    "y = x with a new dimension of length 1 at ``axis``;  dx = g reshaped back"

    def forward(ctx, x, *, axis):
        ctx.in_shape = x.shape
        (axis,) = normalize_axis(axis, x.ndim + 1, "unsqueeze")
        return backend.array_module(x).expand_dims(x, axis)

    def backward(ctx, g):
        return g.reshape(ctx.in_shape)


@register
def unsqueeze(input, dim=None, *, axis=None) -> Tensor:
    """Insert a dimension of length 1 at ``dim``."""
    axis = pick_axis(axis, dim)
    if axis is None:
        raise TypeError("unsqueeze: missing the dimension where the new one goes (dim=)")
    return UnsqueezeFunction.apply(as_tensor(input), axis=axis)


def _has_index_array(index) -> bool:
    """Return True if an index holds integer arrays (which may repeat positions)."""
    items = index if isinstance(index, tuple) else (index,)
    return any(backend.array_module(i).asarray(i).dtype.kind in "iu"
               for i in items if isinstance(i, list) or backend.is_array(i))


class GetItemFunction(ViewFunction):
    "y = x[index] (slices, integers, integer arrays, boolean masks);  dx = g put back at index"

    def forward(ctx, x, *, index):
        ctx.in_shape, ctx.in_dtype = x.shape, x.dtype
        try:
            return x[index]
        except IndexError as e:
            raise IndexError(f"index {index!r} is invalid for shape {x.shape}: {e}") from None

    def backward(ctx, g):
        index = ctx.options["index"]
        gx = backend.array_module(g).zeros(ctx.in_shape, ctx.in_dtype)
        if _has_index_array(index):
            backend.scatter_add(gx, index, g)  # repeated positions must add up
        else:
            gx[index] = g
        return gx


class Steps(tuple):
    """PyTorch's reading of an index that mixes integers with index arrays, as two NumPy keys
    (first, rest): the integers select first (basic indexing, a view), then the rest indexes
    what is left. So ``x[0, :, idx]`` is (rows, len(idx)) as in PyTorch; NumPy's one key
    would count the integers as index arrays and, with a slice between them, put the indexed
    axis first: (len(idx), rows)."""

    def split(self, a):
        """The array that ``rest`` indexes (a view of ``a``, never a scalar) and ``rest``."""
        return a[self[0]], self[1]


def _selector(a):
    """A 0-d integer array in an index, read as PyTorch reads it: an integer, which selects
    (a view). The ONNX tracer keeps the array instead, so that an index computed from the
    input stays a value of the graph (NumPy's result is the same, as a copy)."""
    return int(a)


def index_key(index, ndim: int):
    """The NumPy key for ``t[index]`` (``t`` of ``ndim`` dimensions) read as PyTorch reads it:
    Tensors as their arrays, a tuple or range inside as a list, a 0-d integer one as an
    integer, an Ellipsis beside index arrays as the slices it stands for (PyTorch counts an
    Ellipsis of no dimension as nothing between them), and integers beside index arrays or
    bools as :class:`Steps`. A uint8 index is refused: PyTorch takes it for a mask, NumPy for
    positions."""
    # kinds: "int" selects, "array" (index arrays, masks, bools), "basic"; used: how many of
    # the tensor's dimensions each item reads
    items, kinds, used = [], [], []
    for i in index if isinstance(index, tuple) else (index,):
        i = i._data if isinstance(i, Tensor) else list(i) if isinstance(i, (tuple, range)) else i
        kind, n = "basic", int(i is not None and i is not Ellipsis)
        if isinstance(i, list) or backend.is_array(i):
            a = backend.array_module(i).asarray(i)
            if a.dtype == "uint8":
                raise TypeError("indexing: expected a bool mask or integer positions (PyTorch "
                                "reads a uint8 index as a mask, NumPy as positions). Received: "
                                f"an index of dtype uint8 and shape {a.shape}")
            if a.ndim == 0 and a.dtype.kind in "iu":
                i, kind = _selector(a), "int"
            else:
                kind, n = "array", a.ndim if a.dtype == bool else 1
        elif is_int(i):
            kind = "int"
        elif isinstance(i, (bool, np.bool_)):
            kind, n = "array", 0  # a 0-d mask: a new axis of 1 (or 0) positions, as PyTorch's
        items.append(i)
        kinds.append(kind)
        used.append(n)
    if "array" not in kinds:
        return tuple(items) if isinstance(index, tuple) else items[0]
    ellipses = [n for n, i in enumerate(items) if i is Ellipsis]
    if len(ellipses) == 1 and sum(used) <= ndim:
        at = ellipses[0]
        covered = ndim - sum(used)
        items[at:at + 1], kinds[at:at + 1] = [slice(None)] * covered, ["basic"] * covered
        used[at:at + 1] = [1] * covered
    if "int" not in kinds:
        return tuple(items)
    first = []  # the integers, and whole slices for the dimensions the rest indexes
    for i, k, n in zip(items, kinds, used):
        first += [i] if k == "int" or i is Ellipsis else [slice(None)] * n
    rest = tuple(i for i, k in zip(items, kinds) if k != "int")
    if not any(i is Ellipsis for i in first):
        first.append(Ellipsis)  # so that the first step is a view, never a scalar
    return Steps((tuple(first), rest))


@register(methods=("__getitem__",), public=False)
def getitem(x, index) -> Tensor:
    """x[index], as PyTorch indexes (an index may hold Tensors; see :func:`index_key`)."""
    key = index_key(index, x.ndim)
    if not isinstance(key, Steps):
        return GetItemFunction.apply(x, index=key)
    try:
        return GetItemFunction.apply(GetItemFunction.apply(x, index=key[0]), index=key[1])
    except IndexError as e:
        raise IndexError(f"index {index!r} is invalid for shape {tuple(x.shape)} (read as "
                         f"PyTorch does: the integers first, then {key[1]!r}): "
                         f"{str(e).split(': ', 1)[-1]}") from None


class ConcatenateFunction(Function):
    "y = the inputs x_i joined along ``axis``;  dx_i = the slice of g where x_i went"

    def forward(ctx, *arrays, axis=0):
        if not arrays:
            raise ValueError("concatenate: needs at least one tensor")
        (ctx.axis,) = normalize_axis(axis, arrays[0].ndim, "concatenate")
        ends, total = [], 0
        for a in arrays[:-1]:
            total += a.shape[ctx.axis]
            ends.append(total)
        ctx.splits = ends
        try:
            return backend.array_module(arrays[0]).concatenate(joined(arrays), axis=ctx.axis)
        except ValueError:
            raise ValueError(f"concatenate: shapes {[a.shape for a in arrays]} differ outside "
                             f"axis {axis}") from None

    def backward(ctx, g):
        return tuple(backend.array_module(g).split(g, ctx.splits, axis=ctx.axis))


@register(methods=())
def concatenate(tensors, dim: int | None = None, *, axis=None) -> Tensor:
    """Join tensors along an existing dimension (0 by default)."""
    return ConcatenateFunction.apply(*_sequence(tensors, "concatenate"),
                                     axis=pick_axis(axis, dim, 0))


def _sequence(tensors, who: str) -> list:
    """The tensors of a sequence to join, each a Tensor (numbers alone are refused)."""
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)) or not tensors:
        raise TypeError(f"{who}: expected a non-empty list or tuple of tensors. Received: "
                        f"{type(tensors).__name__}")
    bad = next((t for t in tensors if not isinstance(t, Tensor) and getattr(t, "ndim", 0) < 1
                and not isinstance(t, (list, tuple))), None)
    if bad is not None:
        raise TypeError(f"{who}: expected tensors (or arrays) to join. Received: an element "
                        f"{bad!r} of type {type(bad).__name__}")
    return [as_tensor(t) for t in tensors]


@register(methods=())
def cat(tensors, dim: int | None = None, *, axis=None) -> Tensor:
    """PyTorch's name for :func:`concatenate`."""
    return concatenate(tensors, dim, axis=axis)


class StackFunction(Function):
    "y = the inputs x_i (of one shape) joined along a new ``axis``;  dx_i = g[i] along it"

    def forward(ctx, *arrays, axis=0):
        if not arrays:
            raise ValueError("stack: needs at least one tensor")
        (ctx.axis,) = normalize_axis(axis, arrays[0].ndim + 1, "stack")
        if len({a.shape for a in arrays}) != 1:
            raise ValueError(f"stack: all shapes must be equal, got {[a.shape for a in arrays]}")
        return backend.array_module(arrays[0]).stack(joined(arrays), axis=ctx.axis)

    def backward(ctx, g):
        return tuple(backend.array_module(g).moveaxis(g, ctx.axis, 0))


@register(methods=())
def stack(tensors, dim: int | None = None, *, axis=None) -> Tensor:
    """Join tensors of one shape along a new dimension (0 by default)."""
    return StackFunction.apply(*_sequence(tensors, "stack"), axis=pick_axis(axis, dim, 0))


class PadFunction(Function):
    """y = x with ``value`` added around it, ``pad_width`` per axis;  dx = the middle of g

    ``pad_width`` as in ``numpy.pad``: an int, a (before, after) pair, or one pair per axis.
    """

    def forward(ctx, x, *, pad_width, value=0.0):
        if x.ndim == 0:
            raise ValueError(f"pad: a 0-d tensor has no axis to pad (pad_width {pad_width!r})")
        widths = _pad_widths(pad_width, x.shape)
        ctx.slices = tuple(slice(b, b + n) for (b, _), n in zip(widths, x.shape))
        return backend.array_module(x).pad(x, widths, constant_values=value)

    def backward(ctx, g):
        return g[ctx.slices]


def _pad_widths(pad_width, shape: tuple) -> tuple[tuple[int, int], ...]:
    """``pad_width`` as one (before, after) pair of ints per axis, broadcast as NumPy does
    (an int, a pair, or one pair per axis)."""
    w, ndim = pad_width, len(shape)
    if is_int(w):
        pairs = [(w, w)] * ndim
    elif isinstance(w, (tuple, list)) and len(w) in (1, 2) and all(map(is_int, w)):
        pairs = [(w[0], w[-1])] * ndim
    elif isinstance(w, (tuple, list)) and len(w) in (1, ndim) and all(
            isinstance(p, (tuple, list)) and len(p) in (1, 2) and all(map(is_int, p))
            for p in w):
        pairs = [(p[0], p[-1]) for p in w] * (ndim if len(w) == 1 else 1)
    else:
        raise ValueError(f"pad: pad_width {pad_width!r} does not fit a tensor of shape {shape}")
    pairs = [(int(b), int(a)) for b, a in pairs]
    if any(v < 0 for p in pairs for v in p):
        raise ValueError(f"pad: widths must be non-negative, got {pad_width!r}")
    return tuple(pairs)


@register
def pad(input, pad_width, value: float = 0.0) -> Tensor:
    """Pad with a constant; ``pad_width`` as in ``numpy.pad`` (per-axis (before, after)),
    not as ``torch.nn.functional.pad`` (whose pairs run from the last dimension backwards)."""
    return PadFunction.apply(as_tensor(input), pad_width=pad_width, value=value)


class CloneFunction(Function):
    "y = a copy of x;  dy/dx = 1"

    def forward(ctx, x):
        return x.copy()

    def backward(ctx, g):
        return g


@register
def clone(input) -> Tensor:
    """A copy of the tensor in new memory, still in the graph (as ``torch.clone``)."""
    return CloneFunction.apply(as_tensor(input))


@register
def contiguous(input) -> Tensor:
    """The tensor itself when its memory is in row-major order, else a copy that is (in the
    graph, as ``torch.Tensor.contiguous``)."""
    x = as_tensor(input)
    return x if x._data.flags.c_contiguous else clone(x)


class CastFunction(Function):
    "y = x in another floating dtype;  dy/dx = 1 (the gradient comes back in x's dtype)"

    def forward(ctx, x, *, dtype):
        ctx.in_dtype = x.dtype
        return x.astype(dtype)

    def backward(ctx, g):
        return g.astype(ctx.in_dtype)


def cast(x: Tensor, dtype) -> Tensor:
    """``x`` in ``dtype``: itself when it has it already; in the graph between floating dtypes,
    cut from it towards an integer or bool one (no gradient flows through a rounding)."""
    dtype = backend.to_dtype(dtype)
    if x._data.dtype == dtype:
        return x
    if dtype.kind == "f" and x._data.dtype.kind == "f":
        return CastFunction.apply(x, dtype=dtype)
    return Tensor._wrap(x._data.astype(dtype))


class FlipFunction(Function):
    "y = x reversed along ``axes``;  dx = g reversed along them"

    def forward(ctx, x, *, axes):
        ctx.axes = normalize_axis(axes, x.ndim, "flip") if x.ndim else ()
        return backend.array_module(x).flip(x, ctx.axes).copy()

    def backward(ctx, g):
        return backend.array_module(g).flip(g, ctx.axes)


@register
def flip(input, *dims, **kwargs) -> Tensor:
    """``input`` reversed along ``dims`` (a copy, as ``torch.flip``; ``dims=`` by name too)."""
    if kwargs:
        if dims or set(kwargs) != {"dims"}:
            raise TypeError(f"flip: expected the dims once, by position or as dims=. "
                            f"Received: {dims} and {sorted(kwargs)}")
        dims = (kwargs["dims"],)
    return FlipFunction.apply(as_tensor(input), axes=_shape_args(dims))


class RollFunction(Function):
    "y = x shifted by ``shifts`` along ``axes`` (None: flattened), wrapping;  dx = g shifted back"

    def forward(ctx, x, *, shifts, axes):
        return backend.array_module(x).roll(x, shifts, axes)

    def backward(ctx, g):
        back = tuple(-s for s in ctx.options["shifts"])
        return backend.array_module(g).roll(g, back, ctx.options["axes"])


@register
def roll(input, shifts, dims=None) -> Tensor:
    """``input`` shifted by ``shifts`` places along ``dims``, the elements pushed out at one end
    coming back at the other (without ``dims``: over the flattened tensor, shape kept)."""
    x = as_tensor(input)
    shifts, dims = (tuple(v) if isinstance(v, (tuple, list)) else (v,) for v in
                    (shifts, () if dims is None else dims))
    if len(shifts) != max(len(dims), 1):
        raise ValueError(message("roll", f"one shift per dim in {dims}" if dims else "one shift "
                                 "(no dims: the flattened tensor)", "shifts", shifts))
    axes = tuple(normalize_axis(d, x.ndim, "roll")[0] for d in dims) if x.ndim else ()
    shifts = tuple(check_int(s, "shifts", "roll") for s in shifts)
    return RollFunction.apply(x, shifts=shifts[:len(axes) or 1], axes=axes or None)


class TrilFunction(Function):
    "y = x, zero above the diagonal ``k`` of its last two dims;  dx = tril(g, k)"

    part = "tril"

    def forward(ctx, x, *, k):
        if x.ndim < 2:
            raise ValueError(message(ctx.part, "a tensor of at least 2 dimensions", "input.shape",
                                     x.shape))
        return getattr(backend.array_module(x), ctx.part)(x, k)

    def backward(ctx, g):
        return getattr(backend.array_module(g), ctx.part)(g, ctx.options["k"])


class TriuFunction(TrilFunction):
    "y = x, zero below the diagonal ``k`` of its last two dims;  dx = triu(g, k)"

    part = "triu"


@register
def tril(input, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two dimensions (of each matrix of a batch): the elements
    on and below the diagonal ``diagonal`` (0 the main one, > 0 above it), the others zero."""
    return TrilFunction.apply(as_tensor(input), k=check_int(diagonal, "diagonal", "tril"))


@register
def triu(input, diagonal: int = 0) -> Tensor:
    """The upper triangle: the elements on and above the diagonal ``diagonal``; see ``tril``."""
    return TriuFunction.apply(as_tensor(input), k=check_int(diagonal, "diagonal", "triu"))


def _diagonal_of(a, offset: int, dims: tuple):
    """The diagonal ``offset`` of ``a`` over ``dims`` as the last dimension: a view that may be
    written through (NumPy's is read-only; the memory is ``a``'s)."""
    d = backend.array_module(a).diagonal(a, offset, *dims)
    if not getattr(d.flags, "writeable", True) and a.flags.writeable:
        d.flags.writeable = True
    return d


class DiagonalFunction(ViewFunction):
    "y = x[..., i, i + offset] over dims (dim1, dim2), as the last dim (a view);  dx = g put there"

    def forward(ctx, x, *, offset, dims):
        ctx.in_shape = x.shape
        return _diagonal_of(x, offset, dims)

    def backward(ctx, g):
        gx = backend.array_module(g).zeros(ctx.in_shape, g.dtype)
        _diagonal_of(gx, ctx.options["offset"], ctx.options["dims"])[...] = g
        return gx


@register
def diagonal(input, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The elements ``[i, i + offset]`` of dimensions ``dim1`` and ``dim2``, as the last
    dimension (a view, as ``torch.diagonal``; ``offset`` > 0 above the main diagonal)."""
    x = as_tensor(input)
    dims = tuple(normalize_axis(d, max(x.ndim, 2), "diagonal")[0] for d in (dim1, dim2))
    if x.ndim < 2 or dims[0] == dims[1]:
        raise ValueError(message("diagonal", "two different dims of a tensor of at least 2 "
                                 "dimensions", "(shape, dim1, dim2)", (x.shape, dim1, dim2)))
    return DiagonalFunction.apply(x, offset=check_int(offset, "offset", "diagonal"), dims=dims)


class DiagFunction(Function):
    "y = the matrix with v on its diagonal ``k`` and zeros elsewhere;  dv = diagonal k of g"

    def forward(ctx, v, *, k):
        return backend.array_module(v).diag(v, k)

    def backward(ctx, g):
        return backend.array_module(g).diagonal(g, ctx.options["k"]).copy()


@register
def diag(input, diagonal: int = 0) -> Tensor:
    """A 1-D tensor as the diagonal ``diagonal`` of a square matrix, zeros elsewhere; or a copy
    of the diagonal ``diagonal`` of a matrix (as ``torch.diag``)."""
    x = as_tensor(input)
    k = check_int(diagonal, "diagonal", "diag")
    if x.ndim == 1:
        return DiagFunction.apply(x, k=k)
    if x.ndim != 2:
        raise ValueError(message("diag", "a 1-D or 2-D tensor", "input.shape", x.shape))
    return clone(DiagonalFunction.apply(x, offset=k, dims=(0, 1)))


@register
def trace(input) -> Tensor:
    """The sum of the main diagonal of a matrix (integers summed as int64, as ``torch.trace``)."""
    x = as_tensor(input)
    if x.ndim != 2:
        raise ValueError(message("trace", "a matrix (2-D)", "input.shape", x.shape))
    return DiagonalFunction.apply(x, offset=0, dims=(0, 1)).sum()


@register
def narrow(input, dim: int, start, length: int) -> Tensor:
    """The ``length`` elements from ``start`` along ``dim`` (a negative ``start`` counts from
    the end): a view, as ``torch.narrow``."""
    x = as_tensor(input)
    if x.ndim == 0:
        raise ValueError("narrow: expected a tensor of at least 1 dimension. Received: a 0-d one")
    (axis,) = normalize_axis(dim, x.ndim, "narrow")
    n = x.shape[axis]
    start = check_int(int(start) if isinstance(start, Tensor) else start, "start", "narrow")
    length = check_int(length, "length", "narrow", minimum=0)
    if not -n <= start <= n:
        raise IndexError(message("narrow", f"start in [{-n}, {n}] (the size of dim {dim})",
                                 "start", start))
    start += n if start < 0 else 0
    if start + length > n:
        raise IndexError(message("narrow", f"start + length <= {n} (the size of dim {dim})",
                                 "(start, length)", (start, length)))
    return getitem(x, (slice(None),) * axis + (slice(start, start + length),))


class CompareFunction(Function):
    "y = (a <op> b), element-wise, as booleans (not differentiable)"

    differentiable = False

    def forward(ctx, a, b, *, op):
        return getattr(a, op)(b)


def _comparison(op: str):
    def method(self, other):
        other = coerce(other, self)
        if other is NotImplemented:
            return NotImplemented
        return CompareFunction.apply(self, other, op=op)

    method.__name__ = op
    return method


for _op in ("__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__"):
    register(_comparison(_op), methods=(_op,), public=False)


# --- PyTorch's other moves and joins, composed of the operations above (autograd's gradients) --
@register(methods=("select",), public=False)  # nerve.select is bound in nerve/__init__.py: the
def select(input, dim: int, index: int) -> Tensor:  # name would hide the module nerve.ops.select
    """The slice at ``index`` along ``dim``, without that dimension (a view, as ``torch.select``;
    a negative ``index`` counts from the end)."""
    x = as_tensor(input)
    if x.ndim == 0:
        raise ValueError(message("select", "a tensor of at least 1 dimension", "input.shape", ()))
    (axis,) = normalize_axis(dim, x.ndim, "select")
    n = x.shape[axis]
    index = check_int(int(index) if isinstance(index, Tensor) else index, "index", "select")
    if not -n <= index < n:
        raise IndexError(message("select", f"index in [{-n}, {n}) (the size of dim {dim})",
                                 "index", index))
    return getitem(x, (slice(None),) * axis + (index % n,))


@register
def unbind(input, dim: int = 0) -> tuple:
    """The slices along ``dim``, each without that dimension, as a tuple (views)."""
    x = as_tensor(input)
    if x.ndim == 0:
        raise ValueError(message("unbind", "a tensor of at least 1 dimension", "input.shape", ()))
    (axis,) = normalize_axis(dim, x.ndim, "unbind")
    return tuple(getitem(x, (slice(None),) * axis + (i,)) for i in range(x.shape[axis]))


@register
def movedim(input, source, destination) -> Tensor:
    """The dimensions ``source`` (an int or a sequence) moved to the places ``destination``, the
    others keeping their order (as ``torch.movedim``)."""
    x = as_tensor(input)
    src, dst = ([s] if is_int(s) else list(s) for s in (source, destination))
    if len(src) != len(dst):
        raise ValueError(message("movedim", "as many destinations as sources", "(source, "
                                 "destination)", (source, destination)))
    src = [normalize_axis(s, x.ndim, "movedim")[0] for s in src]
    dst = [normalize_axis(d, x.ndim, "movedim")[0] for d in dst]
    if len(set(src)) < len(src) or len(set(dst)) < len(dst):
        raise ValueError(message("movedim", "no repeated dim", "(source, destination)",
                                 (source, destination)))
    rest = iter(d for d in range(x.ndim) if d not in src)
    at = dict(zip(dst, src))
    return permute(x, tuple(at[i] if i in at else next(rest) for i in range(x.ndim)))


@register
def moveaxis(input, source, destination) -> Tensor:
    """NumPy's name for :func:`movedim`."""
    return movedim(input, source, destination)


@register
def swapaxes(input, axis0: int, axis1: int) -> Tensor:
    """NumPy's name for :func:`transpose` (two dimensions swapped)."""
    return transpose(input, axis0, axis1)


@register
def swapdims(input, dim0: int, dim1: int) -> Tensor:
    """Another name for :func:`transpose` (two dimensions swapped)."""
    return transpose(input, dim0, dim1)


def _atleast(tensors: tuple, n: int):
    """``atleast_<n>d`` of one tensor (itself returned) or of several or a list (a tuple)."""
    one = len(tensors) == 1 and not isinstance(tensors[0], (list, tuple))
    many = tensors[0] if len(tensors) == 1 and not one else tensors
    out = []
    for t in map(as_tensor, many):  # the shapes of 0-d, 1-D and 2-D tensors, by n
        new = {1: ((1,),), 2: ((1, 1), (1, -1)), 3: ((1, 1, 1), (1, -1, 1), t.shape + (1,))}
        out.append(t if t.ndim >= n else reshape(t, new[n][t.ndim]))
    return out[0] if one else tuple(out)


@register(methods=())
def atleast_1d(*tensors):
    """Each tensor with at least 1 dimension (a 0-d one as shape (1,)): one tensor for one,
    a tuple for several or for a list."""
    return _atleast(tensors, 1)


@register(methods=())
def atleast_2d(*tensors):
    """Each tensor with at least 2 dimensions: () -> (1, 1), (n,) -> (1, n)."""
    return _atleast(tensors, 2)


@register(methods=())
def atleast_3d(*tensors):
    """Each tensor with at least 3 dimensions: () -> (1, 1, 1), (n,) -> (1, n, 1),
    (m, n) -> (m, n, 1)."""
    return _atleast(tensors, 3)


@register(methods=())
def hstack(tensors) -> Tensor:
    """Tensors joined column-wise: along dim 1, or dim 0 when all are 1-D (0-d ones as (1,))."""
    ts = atleast_1d(tuple(_sequence(tensors, "hstack")))
    return concatenate(ts, 0 if all(t.ndim == 1 for t in ts) else 1)


@register(methods=())
def vstack(tensors) -> Tensor:
    """Tensors joined row-wise: along dim 0, after atleast_2d ((n,) as a row (1, n))."""
    return concatenate(atleast_2d(tuple(_sequence(tensors, "vstack"))), 0)


@register(methods=())
def row_stack(tensors) -> Tensor:
    """Another name for :func:`vstack`."""
    return vstack(tensors)


@register(methods=())
def dstack(tensors) -> Tensor:
    """Tensors joined depth-wise: along dim 2, after atleast_3d."""
    return concatenate(atleast_3d(tuple(_sequence(tensors, "dstack"))), 2)


@register(methods=())
def column_stack(tensors) -> Tensor:
    """Tensors as columns side by side: 0-d and 1-D ones as columns (n, 1), joined along dim 1."""
    ts = _sequence(tensors, "column_stack")
    return concatenate([reshape(t, (t.numel(), 1)) if t.ndim < 2 else t for t in ts], 1)


@register
def unflatten(input, dim: int, sizes) -> Tensor:
    """Dimension ``dim`` split into ``sizes`` (a tuple whose product is its size; one -1 is
    inferred), as ``torch.unflatten``."""
    x = as_tensor(input)
    if x.ndim == 0:
        raise ValueError(message("unflatten", "a tensor of at least 1 dimension", "input.shape",
                                 ()))
    (axis,) = normalize_axis(dim, x.ndim, "unflatten")
    sizes = tuple(sizes) if isinstance(sizes, (tuple, list)) else None
    if not sizes or not all(is_int(s) for s in sizes) or sizes.count(-1) > 1 or any(
            s < -1 for s in sizes):
        raise TypeError(message("unflatten", "a non-empty tuple of ints (one -1 at most)",
                                "sizes", sizes))
    known = math.prod(s for s in sizes if s != -1)
    n = x.shape[axis]
    if (n != known) if -1 not in sizes else (known == 0 or n % known):
        raise ValueError(message("unflatten", f"sizes whose product is {n} (the size of dim "
                                 f"{dim})", "sizes", sizes))
    sizes = tuple(n // known if s == -1 else s for s in sizes)
    return reshape(x, x.shape[:axis] + sizes + x.shape[axis + 1:])
