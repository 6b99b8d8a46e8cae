"""Nested state (an optimizer's ``state_dict``, a History, an RNG state) as arrays plus JSON.

``flatten_state`` moves every ndarray into a flat dict of named arrays (stored as safetensors
tensors) and leaves a JSON-able skeleton that refers to them; ``unflatten_state`` puts them
back. Plain JSON covers str-keyed dicts, lists, str, numbers, bools and None; three one-key
tags cover the rest: ``{"__array__": name}``, ``{"__tuple__": [...]}`` and
``{"__items__": [[key, value], ...]}`` for dicts with keys that are not all strings (an
optimizer's int parameter indices). NumPy scalars become Python numbers; 0-d arrays stay arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nerve import backend
from nerve.autograd import Tensor
from nerve.checks import ShortRepr, message

ARRAY, TUPLE, ITEMS = "__array__", "__tuple__", "__items__"
_TAGS = (ARRAY, TUPLE, ITEMS)
_PLAIN = (bool, int, float, str)


def flatten_state(obj: Any, prefix: str = "") -> tuple[dict[str, np.ndarray], Any]:
    """Split ``obj`` into ``(arrays by name, JSON-able skeleton)``; names start with prefix."""
    arrays: dict[str, np.ndarray] = {}
    return arrays, _flatten(obj, prefix, arrays)


def _child(name: str, key) -> str:
    return f"{name}/{key}" if name else str(key)


def _unique(name: str, arrays: dict) -> str:
    base, i = name or "array", 0
    while (name := base if i == 0 else f"{base}~{i}") in arrays:
        i += 1
    return name


def _flatten(obj, name: str, arrays: dict):
    if isinstance(obj, Tensor):
        obj = obj._data
    if backend.is_array(obj):
        obj = backend.to_host(obj)  # a GPU's array: written from host memory
    if isinstance(obj, np.ndarray):
        key = _unique(name, arrays)
        arrays[key] = obj
        return {ARRAY: key}
    if isinstance(obj, np.generic) and obj.dtype.kind in "biuf":
        return obj.item()
    if obj is None or isinstance(obj, _PLAIN):
        return obj
    if isinstance(obj, tuple):
        return {TUPLE: [_flatten(v, _child(name, i), arrays) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_flatten(v, _child(name, i), arrays) for i, v in enumerate(obj)]
    if isinstance(obj, dict):
        return _flatten_dict(obj, name, arrays)
    raise TypeError(f"cannot store {name or 'the state'}: a {type(obj).__name__} (expected "
                    "dicts, lists, tuples, numbers, strings, None and arrays)")


def _flatten_dict(obj: dict, name: str, arrays: dict):
    plain = all(isinstance(k, str) for k in obj) and not (len(obj) == 1 and set(obj) <= set(_TAGS))
    if plain:
        return {k: _flatten(v, _child(name, k), arrays) for k, v in obj.items()}
    items = []
    for k, v in obj.items():
        key_arrays: dict = {}
        key = _flatten(k, name, key_arrays)
        if key_arrays:  # the file would refer to arrays it does not hold: unloadable
            raise TypeError(message(f"cannot store {name or 'the state'}", "dict keys without "
                                    "tensors or arrays", "key", ShortRepr(k)))
        items.append([key, _flatten(v, _child(name, k), arrays)])
    return {ITEMS: items}


def unflatten_state(arrays: dict[str, np.ndarray], skeleton: Any) -> Any:
    """Rebuild the object that ``flatten_state`` split; raise ValueError on a bad skeleton."""
    if skeleton is None or isinstance(skeleton, _PLAIN):
        return skeleton
    if isinstance(skeleton, list):
        return [unflatten_state(arrays, v) for v in skeleton]
    if not isinstance(skeleton, dict):
        raise ValueError(f"unexpected {type(skeleton).__name__} in a state skeleton")
    if len(skeleton) == 1 and next(iter(skeleton)) in _TAGS:
        return _untag(arrays, *next(iter(skeleton.items())))
    return {k: unflatten_state(arrays, v) for k, v in skeleton.items()}


def _untag(arrays: dict, tag: str, value):
    if tag == ARRAY:
        if not isinstance(value, str) or value not in arrays:
            raise ValueError(f"the state refers to an array {str(value)[:100]!r} that the file "
                             "does not hold")
        arr = arrays[value]
        return arr if arr.flags.writeable else arr.copy()
    if not isinstance(value, list):
        raise ValueError(f"{tag} must hold a list, got {type(value).__name__}")
    if tag == TUPLE:
        return tuple(unflatten_state(arrays, v) for v in value)
    return _unitems(arrays, value)


def _unitems(arrays: dict, items: list) -> dict:
    out = {}
    for item in items:
        if not isinstance(item, list) or len(item) != 2:
            raise ValueError(f"{ITEMS} must hold [key, value] pairs, got {str(item)[:100]}")
        key = unflatten_state({}, item[0])
        try:
            hash(key)
        except TypeError:
            raise ValueError(f"unhashable dict key {str(key)[:100]} in a state") from None
        out[key] = unflatten_state(arrays, item[1])
    return out
