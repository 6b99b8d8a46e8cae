"""Argument checks and the random generator shared by the data modules."""

from __future__ import annotations

import numpy as np

from nerve import backend


def check_int(name: str, value, minimum: int = 1) -> int:
    """Return ``value`` as an int, raising when it is not an int of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {name}={value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {name}={value!r}")
    return int(value)


def check_float(name: str, value, minimum: float = 0.0) -> float:
    """Return ``value`` as a float, raising when it is not a real number of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {name}={value!r}")
    if not value >= minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {name}={value!r}")
    return float(value)


def check_bool(name: str, value) -> bool:
    """Return ``value``, raising when it is not a bool."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {name}={value!r}")
    return bool(value)


def generator(seed) -> np.random.Generator:
    """Return a fresh generator for an int seed, or nerve's own generator for None."""
    if seed is None:
        return backend.rng()
    return np.random.default_rng(check_int("seed", seed, minimum=0))


def as_float(array: np.ndarray) -> np.ndarray:
    """Return floating-point data in nerve's default dtype (no copy when it already is)."""
    return array.astype(backend.get_default_dtype(), copy=False)
