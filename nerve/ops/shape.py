"""Operations that move elements without computing: reshape, transpose/permute, flatten,
squeeze, unsqueeze, indexing, concatenate, stack and pad."""

from __future__ import annotations

import numpy as np

from nerve.function import Function
from nerve.ops._util import normalize_axis


class Reshape(Function):
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        try:
            return x.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} "
                             f"({x.size} elements) to {tuple(shape)}") from None

    def backward(ctx, g):
        return g.reshape(ctx.shape)


class Permute(Function):
    def forward(ctx, x, dims):
        dims = tuple(dims)
        if len(dims) != x.ndim or sorted(normalize_axis(dims, x.ndim, "permute")) != list(
            range(x.ndim)
        ):
            raise ValueError(f"permute: dims {dims} are not a permutation of the "
                             f"{x.ndim} dimensions of shape {x.shape}")
        ctx.inverse = tuple(np.argsort([d % x.ndim for d in dims]))
        return x.transpose(dims)

    def backward(ctx, g):
        return g.transpose(ctx.inverse)


class Squeeze(Function):
    def forward(ctx, x, axis=None):
        ctx.shape = x.shape
        axes = normalize_axis(axis, x.ndim, "squeeze")
        if axes is None:
            return x.reshape(tuple(n for n in x.shape if n != 1))
        return x.reshape(tuple(n for i, n in enumerate(x.shape) if not (i in axes and n == 1)))

    def backward(ctx, g):
        return g.reshape(ctx.shape)


class Unsqueeze(Function):
    def forward(ctx, x, axis):
        ctx.shape = x.shape
        (axis,) = normalize_axis(axis, x.ndim + 1, "unsqueeze")
        return np.expand_dims(x, axis)

    def backward(ctx, g):
        return g.reshape(ctx.shape)


def _index_array(idx):
    """Return True if an index holds integer arrays (which may repeat positions)."""
    items = idx if isinstance(idx, tuple) else (idx,)
    return any(
        isinstance(i, (list, np.ndarray)) and np.asarray(i).dtype.kind in "iu" for i in items
    )


class GetItem(Function):
    """x[index] with slices, integers, integer arrays and boolean masks."""

    def forward(ctx, x, index):
        ctx.shape, ctx.dtype, ctx.index = x.shape, x.dtype, index
        try:
            return x[index]
        except IndexError as e:
            raise IndexError(f"index {index!r} is invalid for shape {x.shape}: {e}") from None

    def backward(ctx, g):
        gx = np.zeros(ctx.shape, ctx.dtype)
        if _index_array(ctx.index):
            np.add.at(gx, ctx.index, g)  # repeated positions must add up
        else:
            gx[ctx.index] = g
        return gx


class Concatenate(Function):
    def forward(ctx, *arrays, axis=0):
        if not arrays:
            raise ValueError("concatenate: needs at least one tensor")
        (ctx.axis,) = normalize_axis(axis, arrays[0].ndim, "concatenate")
        ctx.splits = np.cumsum([a.shape[ctx.axis] for a in arrays])[:-1]
        try:
            return np.concatenate(arrays, axis=ctx.axis)
        except ValueError:
            raise ValueError(f"concatenate: shapes {[a.shape for a in arrays]} differ outside "
                             f"axis {axis}") from None

    def backward(ctx, g):
        return tuple(np.split(g, ctx.splits, axis=ctx.axis))


class Stack(Function):
    def forward(ctx, *arrays, axis=0):
        if not arrays:
            raise ValueError("stack: needs at least one tensor")
        (ctx.axis,) = normalize_axis(axis, arrays[0].ndim + 1, "stack")
        if len({a.shape for a in arrays}) != 1:
            raise ValueError(f"stack: all shapes must be equal, got {[a.shape for a in arrays]}")
        return np.stack(arrays, axis=ctx.axis)

    def backward(ctx, g):
        return tuple(np.moveaxis(g, ctx.axis, 0))


class Pad(Function):
    """Constant padding, NumPy style: ``pad_width`` is an int, a (before, after) pair, or one
    pair per axis."""

    def forward(ctx, x, pad_width, value=0.0):
        if x.ndim == 0:
            raise ValueError(f"pad: a 0-d tensor has no axis to pad (pad_width {pad_width!r})")
        try:
            widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (x.ndim, 2))
        except ValueError:
            raise ValueError(f"pad: pad_width {pad_width!r} does not fit a tensor of "
                             f"shape {x.shape}") from None
        if (widths < 0).any():
            raise ValueError(f"pad: widths must be non-negative, got {pad_width!r}")
        ctx.slices = tuple(slice(b, b + n) for (b, _), n in zip(widths, x.shape))
        return np.pad(x, widths, constant_values=value)

    def backward(ctx, g):
        return g[ctx.slices]
