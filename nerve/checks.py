"""Argument checks and conversions, shared by every public entry point.

One message style, naming the caller, what was expected and what was received::

    Linear: expected a positive integer. Received: in_features=0

Checks raise TypeError for a value of the wrong kind and ValueError for one out of range, and
return the value normalised (a NumPy integer as an int). The conversions turn a Tensor, an
array or nested lists into what an operation needs, in one place.
"""

from __future__ import annotations

import numbers
import reprlib
from collections.abc import Iterable

import numpy as np

from nerve import backend
from nerve.autograd import Tensor


class ShortRepr:
    """A value as an error message shows it: its repr, shortened (a long list, an array)."""

    def __init__(self, value):
        self.value = value

    def __repr__(self) -> str:
        return reprlib.repr(self.value)


def message(who: str, expected: str, name: str, value) -> str:
    """Return the message ``<who>: expected <expected>. Received: <name>=<value!r>``."""
    prefix = f"{who}: " if who else ""
    return f"{prefix}expected {expected}. Received: {name}={value!r}"


def is_int(value) -> bool:
    """True for an int or a NumPy integer, not for a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_int(value, name: str, who: str = "", minimum: int | None = None) -> int:
    """Return ``value`` as an int; raise unless it is an int (not a bool) >= ``minimum``."""
    if not is_int(value):
        raise TypeError(message(who, "an integer", name, value))
    if minimum is not None and value < minimum:
        expected = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(message(who, expected, name, value))
    return int(value)


def check_positive_int(value, name: str, who: str = "") -> int:
    """Return ``value`` as an int; raise unless it is an int >= 1."""
    return check_int(value, name, who, minimum=1)


def is_real(value) -> bool:
    """True for a real number (int, float, NumPy's scalars), not for a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def check_number(value, name: str, who: str = "", low: float | None = None,
                 high: float | None = None, *, low_open: bool = False,
                 high_open: bool = False) -> float:
    """Return ``value`` as a float; raise unless it is a real number within the bounds.

    ``low`` and ``high`` are included unless ``low_open``/``high_open``; NaN never passes.
    """
    if not is_real(value):
        raise TypeError(message(who, "a number", name, value))
    v = float(value)
    ok_low = low is None or (v > low if low_open else v >= low)
    ok_high = high is None or (v < high if high_open else v <= high)
    if not (ok_low and ok_high) or v != v:
        raise ValueError(message(who, _range(name, low, high, low_open, high_open), name, value))
    return v


def _range(name, low, high, low_open, high_open) -> str:
    if low is None and high is None:
        return "a number, not NaN"
    if high is None:
        return f"{name} {'>' if low_open else '>='} {low:g}"
    if low is None:
        return f"{name} {'<' if high_open else '<='} {high:g}"
    return f"{name} in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def check_bool(value, name: str, who: str = "") -> bool:
    """Return ``value`` as a bool; raise unless it is True or False."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(message(who, "True or False", name, value))
    return bool(value)


def check_choice(value, name: str, who: str, choices: Iterable):
    """Return ``value``; raise ValueError unless it is one of ``choices``."""
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        raise ValueError(message(who, f"one of {choices}", name, value))
    return value


def check_probability(value, name: str, who: str = "") -> float:
    """Return ``value`` as a float in [0, 1] (a dropout rate: 1 drops everything, as in
    PyTorch); raise otherwise."""
    return check_number(value, name, who, 0.0, 1.0)


# --- conversions --------------------------------------------------------------------------
def as_array(x):
    """Return the array behind a Tensor, an array as it is, or ``x`` (a number, nested lists)
    as an array of the default module."""
    if isinstance(x, Tensor):
        return x._data
    return backend.ensure_array(x)


def as_tensor(x) -> Tensor:
    """Return ``x`` if it is a Tensor, else a new Tensor made from it (floats: float32)."""
    return x if isinstance(x, Tensor) else Tensor(x)


def numeric_array(x, name: str, who: str = ""):
    """Return ``x`` as an array of numbers (bool, int or float); raise TypeError otherwise."""
    arr = as_array(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(message(who, "numbers (bool, int or float)", f"{name}.dtype", arr.dtype))
    return arr


def finite_samples(x, name: str, who: str = ""):
    """Return ``x`` as an array of numbers with one sample per row and no NaN or infinity;
    raise naming how many values are not finite and where the first one is."""
    arr = numeric_array(x, name, who)
    if arr.ndim == 0:
        raise ValueError(message(who, "one sample per row", name, x))
    if arr.dtype.kind == "f":
        finite = backend.array_module(arr).isfinite(arr)
        if not finite.all():
            bad = ~finite
            first = tuple(int(i) for i in backend.array_module(arr).argwhere(bad)[0])
            raise ValueError(f"{who + ': ' if who else ''}{name} holds {int(bad.sum())} NaN or "
                             f"infinite values; the first is at index {first}")
    return arr


def device_and_dtype(args: tuple, device, dtype, who: str) -> tuple:
    """What ``to(...)`` asks for, in any of PyTorch's forms (a dtype, a device name or
    ``nerve.device``, both, a Tensor for its device and dtype, or the keywords): return
    ``(device, dtype)``, each None when not asked (the device checked: a GPU needs CuPy and
    the GPU); raise when one is given twice."""
    if len(args) > 2:
        raise TypeError(message(who, "at most a device and a dtype", "args", ShortRepr(args)))
    for arg in args:
        if isinstance(arg, Tensor):
            found_device, found_dtype = arg.device, arg.dtype
        elif isinstance(arg, backend.device):
            found_device, found_dtype = arg, None
        else:
            found_device, found_dtype = None, arg
            if isinstance(arg, str):
                try:
                    found_device, found_dtype = backend.device(arg), None
                except ValueError:  # not a device name: a dtype name ("float64")
                    pass
        if (found_device is not None and device is not None) or (
                found_dtype is not None and dtype is not None):
            raise TypeError(message(who, "one device and one dtype", "args", ShortRepr(arg)))
        device = found_device or device
        dtype = dtype if found_dtype is None else found_dtype
    if dtype is not None:
        try:
            dtype = backend.to_dtype(dtype)
        except TypeError:
            raise TypeError(message(who, "a dtype (float32, float64), a device ('cpu', "
                                    "'cuda') or a Tensor", "dtype", dtype)) from None
    if device is not None:
        device = backend.check_device(device, who)  # with its index: cuda:0
    return device, dtype


def random_generator(seed, who: str = "") -> np.random.Generator:
    """Return a new generator for an int seed, or nerve's current generator for None."""
    if seed is None:
        return backend.rng()
    return backend.generator(check_int(seed, "seed", who, minimum=0))
