"""Compiled element-wise kernels, where numba is installed (`pip install ".[jit]"` in a checkout).

NumPy does one operation per pass over memory: Adam's update is twelve passes over every
parameter, each a call with its own Python cost and its own trip through the cache. A kernel
here is a plain Python loop over the elements that numba compiles into one pass of machine
code (vectorised by LLVM), so the same update reads and writes each element once.

numba is optional and nerve does not need it: every kernel is used beside a NumPy version that
does the same operations in the same order, and the caller takes the kernel only where
:func:`usable` says so (numba installed and not turned off, NumPy arrays, one floating dtype,
contiguous); elsewhere, a GPU included, it runs its NumPy (or CuPy) passes. The kernels are
compiled without fast-math, so both give the same numbers, bit for bit (the tests check it;
max pooling's kernel gives PyTorch's +0 where NumPy's passes may give -0, and where a result
is NaN, which NaN, its sign, is the compiler's choice of operand order).

Turn the kernels off with ``NERVE_JIT=0`` in the environment or ``nerve.jit.enable(False)``.
numba is imported at the first use of a kernel, never by ``import nerve``; each kernel compiles
on its first call for each dtype (about half a second) and numba keeps the compiled code on
disk for the next process.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from collections.abc import Callable

import numpy as np

# Below this many elements a kernel saves a few microseconds a call, while numba's import and
# loading the compiled code cost about 0.4 s once per process: small models (the seed's
# examples, the tests' networks) never load numba. The MNIST MLP's group is 235,146.
MIN_SIZE = 32_768
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_state: dict = {"on": None, "numba": None}  # on: None until first asked; numba: the module


def enable(on: bool = True) -> None:
    """Use the compiled kernels where numba is installed (``on=True``, the default when
    numba is there and ``NERVE_JIT`` is not ``0``) or never (``False``)."""
    if not isinstance(on, bool):
        raise TypeError(f"enable: expected on to be True or False. Received: {on!r}")
    _state["on"] = on and _numba_installed()


def enabled() -> bool:
    """Return True if the compiled kernels are in use."""
    if _state["on"] is None:
        _state["on"] = os.environ.get("NERVE_JIT", "1") != "0" and _numba_installed()
    return _state["on"]


def usable(*arrays, min_size: int | None = None) -> bool:
    """Return True if a kernel may run on ``arrays``: kernels on, every array a C-contiguous
    NumPy array of one dtype, float32 or float64, the first of ``min_size`` elements or more
    (default :data:`MIN_SIZE`). numba is imported here, the first time this says True."""
    if not enabled():
        return False
    dtype = getattr(arrays[0], "dtype", None)
    for a in arrays:
        if type(a) is not np.ndarray or a.dtype != dtype or not a.flags.c_contiguous:
            return False
    small = arrays[0].size < (MIN_SIZE if min_size is None else min_size)
    return dtype in _FLOATS and not small and _load() is not None


class Kernel:
    """A Python function over arrays, compiled by numba on its first call."""

    def __init__(self, fn: Callable):
        self.fn = fn
        self.compiled = None
        self.__doc__ = fn.__doc__

    def __call__(self, *args):
        if self.compiled is None:
            njit = _load().njit
            try:  # numba keeps the machine code beside the source, or in the user's cache
                self.compiled = njit(nogil=True, error_model="numpy", cache=True)(self.fn)
            except RuntimeError:  # no writable place for it: compile in every process
                self.compiled = njit(nogil=True, error_model="numpy")(self.fn)
        return self.compiled(*args)


def kernel(fn: Callable) -> Kernel:
    """Mark ``fn`` as a kernel: a loop over array elements, compiled when first called.
    ``error_model="numpy"`` (a division by zero gives inf, as in NumPy) lets it vectorise."""
    return Kernel(fn)


def _numba_installed() -> bool:
    return importlib.util.find_spec("numba") is not None


def _load():
    """numba, imported once; None (with one warning, and the kernels off) if it fails."""
    if _state["numba"] is None:
        try:
            import numba
        except Exception as error:  # a numba built for another NumPy raises ImportError
            warnings.warn(f"nerve.jit: numba is installed but does not import ({error}); "
                          "using NumPy's passes instead", RuntimeWarning, stacklevel=3)
            _state["on"] = False
            return None
        _state["numba"] = numba
    return _state["numba"]
