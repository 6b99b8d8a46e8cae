"""Helpers shared by every operation: unbroadcast, axis checks, operand coercion."""

from __future__ import annotations

import numbers

import numpy as np

from nerve.tensor import Tensor


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` back to ``shape``, undoing NumPy broadcasting (every binary rule uses it)."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def normalize_axis(axis, ndim: int, op: str) -> tuple[int, ...] | None:
    """Return ``axis`` (None, an int or a sequence) as a sorted tuple of non-negative ints."""
    if axis is None:
        return None
    if isinstance(axis, (int, np.integer)):
        axes = (axis,)
    elif isinstance(axis, (tuple, list)):
        axes = tuple(axis)
    else:
        raise TypeError(f"{op}: axis must be an int or a tuple of ints, got {axis!r}")
    out = []
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise TypeError(f"{op}: axis must be an int or a tuple of ints, got {axis!r}")
        if not -max(ndim, 1) <= a < max(ndim, 1):
            raise ValueError(
                f"{op}: axis {a} is out of range for a tensor with ndim={ndim} "
                f"(valid: {-max(ndim, 1)} to {max(ndim, 1) - 1})"
            )
        out.append(int(a) % max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {axis!r}")
    return tuple(sorted(out))


def pick_axis(axis, dim, default=None):
    """Accept PyTorch's ``dim`` as another name for ``axis``; ``default`` when neither is given."""
    if dim is None:
        return default if axis is None else axis
    if axis is not None:
        raise TypeError(f"give axis or dim, not both (got axis={axis!r}, dim={dim!r})")
    return dim


_SCALARS = (numbers.Number, np.generic)


def coerce(x, like: Tensor):
    """Return a binary operand ready for the op, or NotImplemented for an unsupported type.

    Dtype rule: a Python number or an ndarray combined with a floating-point tensor takes the
    tensor's dtype (a float32 tensor plus a float64 ndarray stays float32), as in PyTorch.
    """
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray):
        if like.data.dtype.kind == "f" and x.dtype != like.data.dtype:
            return x.astype(like.data.dtype)
        return x
    if isinstance(x, _SCALARS) and not isinstance(x, (complex, np.complexfloating)):
        if isinstance(x, np.generic):
            return x.item()
        return x
    return NotImplemented
