"""Scratch arrays that an operation uses and hands back, reused from one training step to the
next.

A convolution's patches (7 MB for the MNIST CNN's second layer at batch 64) and padded input
never leave the operation, yet a fresh array each step costs the kernel a page fault per 4 KB
on first touch: measured on this project's 2-core VM, about 4,300 faults and 6 ms of a 24 ms
step. An operation takes such an array with :func:`take` and gives it back with :func:`give`
once nothing reads it any more (for what backward needs: when the node is released). An array
that is never given back (a graph dropped before backward, ``retain_graph=True``) is simply
freed by Python. Only arrays that never reach the user may be given back.
"""

from __future__ import annotations

from nerve import backend

KEEP = 2  # arrays kept per (module, shape, dtype)
MAX_KINDS = 32  # distinct (module, shape, dtype) kept; beyond, the oldest kind is dropped

_free: dict[tuple, list] = {}


def take(xp, shape: tuple, dtype):
    """An uninitialised array of ``shape`` and ``dtype`` from the array module ``xp``."""
    kept = _free.get((xp, shape, dtype))
    if kept:
        return kept.pop()
    return xp.empty(shape, dtype)


def give(array) -> None:
    """Hand back an array made by :func:`take`, for a later :func:`take` to reuse."""
    key = (backend.array_module(array), array.shape, array.dtype)
    kept = _free.get(key)
    if kept is None:
        if len(_free) >= MAX_KINDS:
            del _free[next(iter(_free))]
        kept = _free[key] = []
    if len(kept) < KEEP:
        kept.append(array)


def clear() -> None:
    """Drop every kept array (their memory goes back to the allocator)."""
    _free.clear()
