"""NumPy's functions on tensors (``__array_ufunc__``, ``__array_function__``).

A NumPy function that nerve has as an operation runs as that operation and keeps the graph:
``np.exp(x)`` is ``nerve.exp(x)``, ``np.sum(x, axis=0)`` is ``nerve.sum(x, 0)``. Any other NumPy
function on a tensor that requires grad raises a TypeError, because its result could not carry
gradients (PyTorch refuses NumPy on such tensors too); on tensors without gradients it runs on
their arrays and returns what NumPy returns (an ndarray), as ``np.f(t.numpy())`` would.
"""

from __future__ import annotations

import numpy as np

from nerve.autograd import Tensor
from nerve.ops import arithmetic as ar
from nerve.ops import elementwise as el
from nerve.ops import reduce as rd
from nerve.ops import shape as sh
from nerve.ops._common import register

UFUNCS = {  # host-side: NumPy's own ufunc objects are the keys
    np.add: ar.add, np.subtract: ar.sub, np.multiply: ar.mul, np.true_divide: ar.div,
    np.power: ar.pow, np.negative: ar.neg, np.matmul: ar.matmul, np.exp: el.exp,
    np.log: el.log, np.sqrt: el.sqrt, np.absolute: el.abs, np.tanh: el.tanh,
    np.maximum: el.maximum, np.minimum: el.minimum, np.sin: el.sin, np.cos: el.cos,
    np.bitwise_and: ar.bitwise_and, np.bitwise_or: ar.bitwise_or, np.bitwise_xor: ar.bitwise_xor,
    np.invert: ar.bitwise_not, np.logical_and: ar.logical_and, np.logical_or: ar.logical_or,
    np.logical_xor: ar.logical_xor, np.logical_not: ar.logical_not,
}
_COMPARISONS = {np.less: "__lt__", np.less_equal: "__le__", np.greater: "__gt__",
                np.greater_equal: "__ge__", np.equal: "__eq__", np.not_equal: "__ne__"}


def _std_kwargs(fn, allowed: tuple, renames: dict | None = None):
    """A NumPy function's counterpart that takes only the keyword arguments nerve has."""
    renames = renames or {}

    def call(*args, **kwargs):
        unknown = set(kwargs) - set(allowed)
        if unknown:
            return NotImplemented
        return fn(*args, **{renames.get(k, k): v for k, v in kwargs.items()})

    return call


def _numpy_axes(fn):
    """A reduction with NumPy's empty ``axis``: it reduces no axis in NumPy (every one in
    nerve, as in PyTorch), so NumPy answers it."""
    def call(a, axis=None, **kwargs):
        return NotImplemented if axis == () or axis == [] else fn(a, axis, **kwargs)

    return call


FUNCTIONS = {
    np.sum: _std_kwargs(_numpy_axes(rd.sum), ("axis", "keepdims")),
    np.mean: _std_kwargs(_numpy_axes(rd.mean), ("axis", "keepdims")),
    np.max: _std_kwargs(_numpy_axes(rd.amax), ("axis", "keepdims")),
    np.min: _std_kwargs(_numpy_axes(rd.amin), ("axis", "keepdims")),
    np.var: _std_kwargs(_numpy_axes(lambda a, axis=None, ddof=0, keepdims=False:
                                    rd.var(a, axis, keepdim=keepdims, correction=ddof)),
                        ("axis", "ddof", "keepdims")),
    np.std: _std_kwargs(_numpy_axes(lambda a, axis=None, ddof=0, keepdims=False:
                                    rd.std(a, axis, keepdim=keepdims, correction=ddof)),
                        ("axis", "ddof", "keepdims")),
    np.argmax: _std_kwargs(rd.argmax, ("axis", "keepdims")),
    np.argmin: _std_kwargs(rd.argmin, ("axis", "keepdims")),
    np.reshape: _std_kwargs(lambda a, shape: sh.reshape(a, shape), ("shape",)),
    np.transpose: _std_kwargs(lambda a, axes=None: a.T if axes is None else sh.permute(a, axes),
                              ("axes",)),
    np.squeeze: _std_kwargs(sh.squeeze, ("axis",)),
    np.expand_dims: _std_kwargs(sh.unsqueeze, ("axis",)),
    np.concatenate: _std_kwargs(sh.concatenate, ("axis",)),
    np.stack: _std_kwargs(sh.stack, ("axis",)),
    np.where: _std_kwargs(lambda c, a=None, b=None: NotImplemented if a is None else
                          el.where(c, a, b), ()),
    np.clip: _std_kwargs(lambda a, a_min=None, a_max=None: el.clip(a, a_min, a_max), ()),
    np.dot: _std_kwargs(lambda a, b: ar.matmul(a, b) if 0 < _ndim(a) <= 2 and
                        0 < _ndim(b) <= 2 else NotImplemented, ()),  # matmul's rules differ
}                                                                    # beyond 2-D, and for 0-D


def _ndim(value) -> int:
    return value.ndim if hasattr(value, "ndim") else np.ndim(value)


def _tensors(obj):
    """Yield the tensors inside ``obj`` (nested in lists, tuples and dicts)."""
    if isinstance(obj, Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            yield from _tensors(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from _tensors(item)


def _arrays(obj):
    """``obj`` with every tensor replaced by its array."""
    if isinstance(obj, Tensor):
        return obj._data
    if isinstance(obj, (list, tuple)):
        return type(obj)(_arrays(item) for item in obj)
    if isinstance(obj, dict):
        return {k: _arrays(v) for k, v in obj.items()}
    return obj


def _refuse_gradients(name: str, args, kwargs) -> None:
    if any(t._rg for t in _tensors((args, kwargs))):
        raise TypeError(f"numpy.{name} on a tensor that requires grad would cut the graph "
                        f"(nerve has no operation for it); use nerve's operations, or "
                        f".detach() the tensor first if no gradient should flow")


@register(methods=("__array_ufunc__",), public=False)
def array_ufunc(self, ufunc, method, *inputs, **kwargs):
    """NumPy's ufuncs on tensors: nerve's operation where there is one (see the module)."""
    if method == "__call__" and not kwargs:
        if ufunc in UFUNCS:
            return UFUNCS[ufunc](*inputs)
        if ufunc in _COMPARISONS:
            arrays = _arrays(inputs)
            return Tensor._wrap(ufunc(*arrays))
    _refuse_gradients(ufunc.__name__, inputs, kwargs)
    for t in _tensors(kwargs.get("out", ())):
        t._bump()  # NumPy writes into the tensor's memory
    return getattr(ufunc, method)(*_arrays(inputs), **_arrays(kwargs))


@register(methods=("__array_function__",), public=False)
def array_function(self, func, types, args, kwargs):
    """NumPy's functions on tensors: nerve's operation where there is one (see the module)."""
    counterpart = FUNCTIONS.get(func)
    if counterpart is not None:
        result = counterpart(*args, **kwargs)
        if result is not NotImplemented:
            return result
    _refuse_gradients(func.__name__, args, kwargs)
    return func(*_arrays(args), **_arrays(kwargs))
