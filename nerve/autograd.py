"""The Tensor (an array, its gradient and the node that made it) and backpropagation.

A tensor made by an operation on tensors that require gradients remembers that operation
(its ``grad_fn``, a :class:`nerve.Function` instance). ``backward()`` walks those nodes from the
output back to the leaves in reverse topological order, found iteratively (no recursion limit),
calls each node's backward rule once, and accumulates gradients into the leaves' ``.grad``.

The arithmetic methods (``+``, ``@``, ``.sum()``, ...) are attached by :mod:`nerve.ops`, one
floor up, so that every operation's backward rule sits beside its forward.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

import numpy as np

from nerve import backend

_grad_enabled = True
_ARRAYS = backend.ARRAY_MODULES  # array type -> module: `type(x) in _ARRAYS` is the cheap test


def is_grad_enabled() -> bool:
    """Return True when operations record a graph for backpropagation."""
    return _grad_enabled


class _GradMode:
    """Context manager and decorator that sets whether operations record a graph."""

    mode = True

    def __new__(cls, fn=None):
        self = super().__new__(cls)
        return self if fn is None else self(fn)  # ``@no_grad`` without parentheses

    def __enter__(self):
        global _grad_enabled
        self._prev = _grad_enabled
        _grad_enabled = self.mode

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self._prev

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """Build no graph inside: ``with nerve.no_grad(): ...`` or ``@nerve.no_grad()``."""

    mode = False


class enable_grad(_GradMode):
    """Record a graph again inside a ``no_grad`` block."""

    mode = True


def _as_array(data, dtype):
    """Convert user data to an array: floats become the default dtype unless one is asked."""
    if isinstance(data, Tensor):
        data = data.data
    xp = backend.array_module(data)
    try:
        if dtype is not None:
            return xp.array(data, dtype=dtype)
        arr = xp.array(data)
        if arr.dtype == object and any(v is None for v in arr.flat):
            raise TypeError("None is not a number")  # astype would turn it into nan
        if arr.dtype.kind == "f" or arr.dtype == object:
            arr = arr.astype(backend.get_default_dtype(), copy=False)
    except TypeError as e:  # e.g. object(): NumPy's message does not say what was given
        raise TypeError(f"cannot make a tensor from {type(data).__name__}: {e}") from None
    if arr.dtype.kind not in "fbiuc":
        raise TypeError(f"cannot make a tensor from {type(data).__name__} (NumPy dtype "
                        f"{arr.dtype}); expected numbers, nested lists of numbers or an ndarray")
    return arr


class Tensor:
    """An n-dimensional array that can record the operations applied to it.

    ``data`` is the ndarray, ``grad`` the accumulated gradient (an ndarray of the same shape, or
    None), ``requires_grad`` whether gradients flow to it, ``grad_fn`` the operation that made
    it (None for a leaf). Floating-point data is float32 unless another dtype is asked for.
    """

    __slots__ = ("data", "grad", "_rg", "_node", "_index", "__weakref__")
    __array_priority__ = 1000  # so ndarray + Tensor calls Tensor.__radd__

    def __init__(self, data: Any, dtype=None, requires_grad: bool = False):
        self.data = _as_array(data, backend.to_dtype(dtype))
        self.grad = None
        self._node = None
        self._index = 0
        self._rg = False
        self.requires_grad = requires_grad

    @classmethod
    def _wrap(cls, data, node=None, index: int = 0) -> Tensor:
        """Make a tensor around an existing array, without checks (used by operations)."""
        t = object.__new__(cls)
        t.data = data
        t.grad = None
        t._node = node
        t._index = index
        t._rg = node is not None
        return t

    # --- attributes -------------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._rg

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value and self.data.dtype.kind != "f":
            raise TypeError(
                f"only floating-point tensors can require gradients, got dtype {self.data.dtype}"
            )
        if not value and self._node is not None:
            raise RuntimeError("requires_grad can only be switched off on a leaf; use .detach()")
        self._rg = bool(value)

    @property
    def grad_fn(self):
        return self._node

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    def numel(self) -> int:
        return self.data.size

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def item(self):
        """Return the value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.item()

    def numpy(self):
        """Return the data as an ndarray (the same memory, not a copy)."""
        return self.data

    def tolist(self):
        return self.data.tolist()

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)

    def detach(self) -> Tensor:
        """Return a tensor on the same data that is cut from the graph."""
        return Tensor._wrap(self.data)

    def clone(self) -> Tensor:
        return Tensor._wrap(self.data.copy())

    def astype(self, dtype) -> Tensor:
        """Return a copy with another dtype, cut from the graph (like ``detach().to(dtype)``)."""
        return Tensor(self.data, dtype=dtype, requires_grad=False)

    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

    def zero_grad(self) -> None:
        self.grad = None

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", precision=4,  # host-side
                               prefix="tensor(")
        extra = f", dtype={self.dtype}"
        if self._node is not None:
            extra += f", grad_fn=<{self._node.name()}>"
        elif self._rg:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(
                f"the truth value of a tensor with {self.data.size} elements is ambiguous"
            )
        return bool(self.data)

    # --- backpropagation ----------------------------------------------------------------
    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad`` that requires gradients.

        ``grad`` is the gradient of some scalar with respect to this tensor; it may be left out
        only when this tensor has one element. The graph is freed afterwards unless
        ``retain_graph=True``.
        """
        if not self._rg:
            raise RuntimeError(
                "backward() on a tensor that does not require gradients: "
                "no input of the computation had requires_grad=True"
            )
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward() without a gradient needs a one-element output, got shape "
                    f"{self.shape}; pass grad= with that shape or reduce first (e.g. .sum())"
                )
            xp = backend.array_module(self.data)
            grad = xp.ones(self.data.shape, self.data.dtype)  # half the time of ones_like
        else:
            grad = grad.data if isinstance(grad, Tensor) else grad
            grad = backend.array_module(grad).array(grad, dtype=self.dtype)
            if grad.shape != self.shape:
                raise ValueError(
                    f"backward(): grad has shape {grad.shape}, expected the output's shape "
                    f"{self.shape}"
                )
        run_backward(self, grad, retain_graph)


def _topological_order(root) -> list:
    """Return the nodes reachable from ``root``, each before the nodes of its inputs."""
    order = []
    visited = set()
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if node in visited:
            continue
        visited.add(node)
        stack.append((node, True))
        inputs = node.inputs
        if inputs is None:
            raise RuntimeError(
                "trying to backward through the graph a second time (its buffers were freed "
                "after the first backward); pass retain_graph=True to the first backward()"
            )
        for t in inputs:
            if t is not None and t._node is not None and t._node not in visited:
                stack.append((t._node, False))
    order.reverse()
    return order


def _accumulate_leaf(leaf: Tensor, g, handed_out: set) -> None:
    """Add ``g`` into ``leaf.grad``.

    A leaf takes a gradient array over without a copy when it can, but that array may still be
    pending for another node of this backward (``a + b`` hands the same array to both inputs),
    so it is never added into in place: ``handed_out`` holds the ids of such borrowed arrays.
    """
    if g.dtype != leaf.data.dtype:
        g = g.astype(leaf.data.dtype)
    if leaf.grad is None:
        if not g.flags.owndata or id(g) in handed_out or not g.flags.writeable:
            leaf.grad = g.copy()
        else:
            handed_out.add(id(g))
            leaf.grad = g
    elif id(leaf.grad) in handed_out:
        total = leaf.grad.copy()  # not leaf.grad + g: that gives a NumPy scalar for 0-d
        total += g
        leaf.grad = total
    else:
        leaf.grad += g


_observers: list = []


@contextlib.contextmanager
def observe_backward(callback) -> Iterator[None]:
    """Call ``callback(node, grad_outputs, grad_inputs)`` for every node as backward runs.

    ``node`` is the operation (a :class:`nerve.Function`: its ``name()``, ``inputs``,
    ``options`` and the formula in its docstring), ``grad_outputs`` the gradients of the loss
    with respect to its outputs, ``grad_inputs`` those it hands to its inputs (None where an
    input needs none), in the order backpropagation visits them: from the loss to the leaves.
    Nothing is observed, and nothing costs, outside the block::

        with nerve.autograd.observe_backward(lambda n, go, gi: print(n.name(), gi)):
            loss.backward()
    """
    if not callable(callback):
        raise TypeError(f"observe_backward: expected a callable. Received: "
                        f"callback={callback!r}")
    _observers.append(callback)
    try:
        yield
    finally:
        _observers.remove(callback)


def run_backward(root: Tensor, grad, retain_graph: bool = False) -> None:
    """Propagate ``grad`` from ``root`` through its graph into the leaves' ``.grad``."""
    handed_out = {id(grad)}
    if root._node is None:
        _accumulate_leaf(root, grad, handed_out)
        return
    order = _topological_order(root._node)
    pending = {root._node: {root._index: grad}}
    for node in order:
        out_grads = pending.pop(node, None)
        if out_grads is not None:
            _backward_node(node, out_grads, pending, handed_out)
        if not retain_graph:
            node.release()


def _backward_node(node, out_grads: dict, pending: dict, handed_out: set) -> None:
    if node.n_outputs == 1:
        args = None
        grads = type(node).backward(node, out_grads[0])  # works for @staticmethod too
    else:
        xp = backend.array_module(next(iter(out_grads.values())))
        args = tuple(out_grads[i] if i in out_grads else xp.zeros(s, dt)
                     for i, (s, dt) in enumerate(node.output_meta))
        grads = type(node).backward(node, *args)
    if not isinstance(grads, tuple):
        grads = (grads,)
    if _observers:
        for callback in _observers:
            callback(node, args or (out_grads[0],), grads)
    inputs = node.inputs
    if len(grads) < len(inputs):
        raise RuntimeError(
            f"{type(node).__name__}.backward returned {len(grads)} gradients for "
            f"{len(inputs)} inputs"
        )
    for t, g in zip(inputs, grads):
        if t is None or g is None or not t._rg:
            continue
        if type(g) not in _ARRAYS:  # 0-d arithmetic gives scalars; users give floats
            g = backend.ensure_array(g.data if isinstance(g, Tensor) else g)
        if g.shape != t.data.shape:
            raise RuntimeError(
                f"{type(node).__name__}.backward returned a gradient of shape {g.shape} "
                f"for an input of shape {t.data.shape}"
            )
        parent = t._node
        if parent is None:
            _accumulate_leaf(t, g, handed_out)
            continue
        slot = pending.setdefault(parent, {})
        prev = slot.get(t._index)
        slot[t._index] = g if prev is None else prev + g
