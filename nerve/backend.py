"""Floor 1: the array module, the default dtype and the one seeded random generator.

Everything random in nerve draws from :func:`rng`, so ``nerve.manual_seed(n)`` makes a run
repeatable. The array module is NumPy; a GPU backend will swap ``xp`` later.
"""

from __future__ import annotations

import numpy as np

xp = np

float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int64 = np.dtype(np.int64)
bool_ = np.dtype(np.bool_)

_default_dtype = float32
_rng = np.random.default_rng()


def get_default_dtype() -> np.dtype:
    """Return the dtype that floating-point data becomes when none is asked for (float32)."""
    return _default_dtype


def set_default_dtype(dtype) -> None:
    """Set the default floating-point dtype: float32 (the default) or float64."""
    global _default_dtype
    dt = np.dtype(dtype)
    if dt not in (float32, float64):
        raise TypeError(f"default dtype must be float32 or float64, got {dt}")
    _default_dtype = dt


def manual_seed(seed: int) -> np.random.Generator:
    """Seed the one generator that everything random in nerve draws from, and return it."""
    global _rng
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TypeError(f"manual_seed expects a non-negative int, got {seed!r}")
    _rng = np.random.default_rng(int(seed))
    return _rng


def reseed(*entropy: int) -> np.random.Generator:
    """Replace the generator with one seeded by several ints (``reseed(seed, epoch)``)."""
    global _rng
    _rng = np.random.default_rng([int(e) for e in entropy])
    return _rng


def rng() -> np.random.Generator:
    """Return nerve's current random generator (replaced by every ``manual_seed``)."""
    return _rng


def to_dtype(dtype) -> np.dtype | None:
    """Normalise a user's dtype (None, a string, a NumPy dtype or type) to ``np.dtype``."""
    if dtype is None:
        return None
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be a NumPy dtype or its name, got {dtype!r}") from None
