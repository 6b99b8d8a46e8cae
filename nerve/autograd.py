"""The Tensor (an array, its gradient and the node that made it) and backpropagation.

A tensor made by an operation on tensors that require gradients remembers that operation
(its ``grad_fn``, a :class:`nerve.Function` instance). ``backward()`` walks those nodes from the
output back to the leaves in reverse topological order, found iteratively (no recursion limit),
calls each node's backward rule once, and accumulates gradients into the leaves' ``.grad``.

The array lives in ``t._data`` and the gradient's in ``t._grad``; ``t.data`` and ``t.grad`` are
Tensors on the same memory, as in PyTorch. Each tensor has a version counter, shared with its
views, that in-place changes bump: a node records the versions of the tensors whose arrays it
saves, and backward refuses to use an array that was changed since. Grad mode is per thread.

The arithmetic methods (``+``, ``@``, ``.sum()``, ...) are attached by :mod:`nerve.ops`, one
floor up, so that every operation's backward rule sits beside its forward.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np

from nerve import backend

_ARRAYS = backend.ARRAY_MODULES  # array type -> module: `type(x) in _ARRAYS` is the cheap test
_leaf_hooks: dict[int, list] = {}  # id(leaf) -> its gradient hooks (removed with the leaf)


class _HookHandle:
    """What ``register_hook`` returns: ``remove()`` takes the hook away."""

    def __init__(self, hooks: list, hook):
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


def _run_hooks(hooks: list, g, seen: set):
    """Pass the gradient array ``g`` through tensor hooks; a returned Tensor replaces it.
    ``retain_grad``'s hook runs last, so ``.grad`` holds what the other hooks made (PyTorch).
    The ids of the arrays the hooks were given or gave back go into ``seen``: user code may
    hold them, so no ``.grad`` takes them over to add into later (they are copied)."""
    for hook in sorted(hooks, key=lambda h: getattr(h, "retains", False)):
        seen.add(id(g))
        out = hook(Tensor._wrap(g))
        if out is not None:
            new = out._data if isinstance(out, Tensor) else backend.ensure_array(out)
            if new.shape != g.shape:
                raise RuntimeError(f"a tensor hook returned a gradient of shape {new.shape} "
                                   f"for a tensor of shape {g.shape}")
            g = new
            seen.add(id(g))
    return g


class _GradState(threading.local):
    """Whether operations record a graph, for each thread (True in a new thread), and whether
    ``autograd.grad`` is running in it (which fills no ``.grad``: no gradient homes)."""

    enabled = True
    capturing = False


grad_state = _GradState()


def is_grad_enabled() -> bool:
    """Return True when operations record a graph for backpropagation (in this thread)."""
    return grad_state.enabled


class _GradMode:
    """Context manager and decorator that sets whether operations record a graph."""

    mode = True  # None: leave it as it is

    def __new__(cls, fn=None):
        self = super().__new__(cls)
        return self if fn is None else self(fn)  # ``@no_grad`` without parentheses

    def __enter__(self):
        self._prev = grad_state.enabled
        grad_state.enabled = self._prev if self.mode is None else self.mode

    def __exit__(self, *exc):
        grad_state.enabled = self._prev

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = grad_state.enabled  # kept here, not on self: the call may recur or thread
            grad_state.enabled = prev if self.mode is None else self.mode
            try:
                return fn(*args, **kwargs)
            finally:
                grad_state.enabled = prev

        return wrapper


class no_grad(_GradMode):
    """Build no graph inside: ``with nerve.no_grad(): ...`` or ``@nerve.no_grad()``."""

    mode = False


class enable_grad(_GradMode):
    """Record a graph again inside a ``no_grad`` block."""

    mode = True


class inference_mode(_GradMode):
    """PyTorch's ``inference_mode``: as ``no_grad`` (``inference_mode(False)`` changes nothing)."""

    mode = False

    def __new__(cls, mode=True):
        if callable(mode):  # @inference_mode without parentheses
            return super().__new__(cls, mode)
        self = super().__new__(cls)
        self.mode = False if mode else None
        return self


class set_grad_enabled(_GradMode):
    """Switch recording on or off: for the rest of the thread when called as a function, or
    for a block as ``with nerve.set_grad_enabled(False): ...``."""

    def __new__(cls, mode: bool):
        self = super().__new__(cls)
        self.mode, self._prev = bool(mode), grad_state.enabled
        grad_state.enabled = self.mode  # takes effect now, as PyTorch's
        return self

    def __enter__(self):
        pass  # already set by the call

    def __call__(self, fn):
        grad_state.enabled = self._prev  # as a decorator it acts only in the calls (PyTorch)
        return super().__call__(fn)


def _as_array(data, dtype):
    """Convert user data to an array: floats become the default dtype unless one is asked."""
    if isinstance(data, Tensor):
        data = data._data
    xp = backend.array_module(data)
    try:
        if dtype is not None:
            return xp.array(data, dtype=dtype)
        arr = xp.array(data)
        if arr.dtype == object:
            arr = _from_objects(arr, data)
        if arr.dtype.kind == "f":
            arr = arr.astype(backend.get_default_dtype(), copy=False)
    except (TypeError, OverflowError) as e:  # object(), 2**70: NumPy does not name the data
        raise TypeError(f"cannot make a tensor from {type(data).__name__}: {e}") from None
    if arr.dtype.kind not in "fbiuc":
        raise TypeError(f"cannot make a tensor from {type(data).__name__} (NumPy dtype "
                        f"{arr.dtype}); expected numbers, nested lists of numbers or an ndarray")
    return arr


def _from_objects(arr, data):
    """An object array (numbers NumPy could not put in one dtype) as int64 when all are ints,
    else as floats; None, and ints beyond int64, are refused instead of becoming floats."""
    values = list(arr.flat)
    if any(v is None for v in values):
        raise TypeError("None is not a number")
    if all(isinstance(v, int) for v in values):
        too_big = next((v for v in values if not -2**63 <= v < 2**63), None)
        if too_big is not None:
            raise OverflowError(f"the integer {too_big} does not fit in int64; give floats "
                                "(or dtype=) to make a floating tensor")
        return arr.astype("int64")
    return arr.astype(backend.get_default_dtype())


class Size(tuple):
    """A shape, as ``t.size()`` returns it: a tuple of ints (PyTorch's ``torch.Size``)."""

    def __repr__(self) -> str:
        return f"nerve.Size({list(self)})"


class Tensor:
    """An n-dimensional array that can record the operations applied to it.

    ``data`` is the values (a Tensor sharing the memory, cut from the graph), ``grad`` the
    accumulated gradient (a Tensor of the same shape, or None), ``requires_grad`` whether
    gradients flow to it, ``grad_fn`` the operation that made it (None for a leaf).
    Floating-point data is float32 unless another dtype is asked for.
    """

    __slots__ = ("_data", "_grad", "_grad_t", "_rg", "_node", "_index", "_vc", "_home",
                 "__weakref__")
    __array_priority__ = 1000  # so ndarray + Tensor calls Tensor.__radd__

    def __init__(self, data: Any, dtype=None, requires_grad: bool = False):
        self._data = _as_array(data, backend.to_dtype(dtype))
        self._grad = self._grad_t = self._node = self._vc = self._home = None
        self._index = 0
        self._rg = False
        self.requires_grad = requires_grad

    @classmethod
    def _wrap(cls, data, node=None, index: int = 0) -> Tensor:
        """Make a tensor around an existing array, without checks (used by operations)."""
        t = object.__new__(cls)
        t._data = data
        t._grad = t._grad_t = t._vc = t._home = None
        t._node = node
        t._index = index
        t._rg = node is not None
        return t

    # --- the values and the gradient, as Tensors -------------------------------------
    @property
    def data(self) -> Tensor:
        """The values as a Tensor on the same memory, cut from the graph: changes made
        through it are not seen by the version checks (PyTorch's ``.data``)."""
        return Tensor._wrap(self._data)

    @data.setter
    def data(self, value) -> None:
        arr = value._data if isinstance(value, Tensor) else value
        if not backend.is_array(arr):
            raise TypeError(f"expected a Tensor or an array as .data. Received: "
                            f"{type(value).__name__}")
        self._data = arr

    @property
    def grad(self) -> Tensor | None:
        """The gradient accumulated by ``backward()``: a Tensor of this tensor's shape, or
        None. It shares memory with the gradient that optimizers read."""
        g = self._grad
        if g is None:
            return None
        t = self._grad_t
        if t is None or t._data is not g:
            t = self._grad_t = Tensor._wrap(g)
        return t

    @grad.setter
    def grad(self, value) -> None:
        if value is None:
            self._grad = self._grad_t = None
            return
        arr = value._data if isinstance(value, Tensor) else value
        if not backend.is_array(arr):
            raise TypeError(f"expected a Tensor, an array or None as .grad. Received: "
                            f"{type(value).__name__}")
        if arr.shape != self._data.shape:
            raise ValueError(f"expected a gradient of shape {self._data.shape} (the tensor's). "
                             f"Received: shape {arr.shape}")
        if arr.dtype != self._data.dtype:
            raise TypeError(f"expected a gradient of dtype {self._data.dtype} (the tensor's). "
                            f"Received: dtype {arr.dtype}")
        self._grad = arr
        self._grad_t = value if isinstance(value, Tensor) else None

    # --- the version counter ---------------------------------------------------------
    def _counter(self) -> list:
        """The version counter, made on first use and shared with views: ``[version]``, or
        once a view exists ``[version, {id(view): weak reference}]`` (see ops.inplace)."""
        vc = self._vc
        if vc is None:
            vc = self._vc = [0]
        return vc

    def _bump(self) -> None:
        """Count an in-place change of this tensor's memory."""
        vc = self._vc
        if vc is None:
            self._vc = [1]
        else:
            vc[0] += 1

    @property
    def _version(self) -> int:
        """How many in-place changes this tensor (or a view of it) has seen since it was saved
        for backward (PyTorch's ``t._version``)."""
        return 0 if self._vc is None else self._vc[0]

    # --- attributes -------------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._rg

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value and self._data.dtype.kind != "f":
            raise TypeError(
                f"only floating-point tensors can require gradients, got dtype {self._data.dtype}"
            )
        if not value and self._node is not None:
            raise RuntimeError("requires_grad can only be switched off on a leaf; use .detach()")
        self._rg = bool(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place and return this tensor."""
        self.requires_grad = requires_grad
        return self

    @property
    def grad_fn(self):
        return self._node

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        """The number of dimensions (PyTorch's spelling of ``ndim``)."""
        return self._data.ndim

    def size(self, dim: int | None = None):
        """The shape, or the length of dimension ``dim`` (PyTorch's ``size``); ``numel()``
        counts the elements."""
        shape = self._data.shape
        if dim is None:
            return Size(shape)
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
            raise TypeError(f"size: expected an integer dimension. Received: dim={dim!r}")
        if not -len(shape) <= dim < max(len(shape), 1):
            raise IndexError(f"size: dimension {dim} is out of range for a tensor of shape "
                             f"{shape}")
        return shape[dim]

    def numel(self) -> int:
        return self._data.size

    def is_contiguous(self) -> bool:
        """Whether the elements lie in memory in row-major order, without gaps."""
        return bool(self._data.flags.c_contiguous)

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self._data)

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self._data)))

    def item(self):
        """Return the value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self._data.item()

    def _scalar(self, kind: str):
        if self._data.size != 1:
            raise TypeError(f"only a tensor with one element can be converted to a Python "
                            f"{kind}; this one has shape {self.shape}")
        return self._data.item()

    def __float__(self) -> float:
        return float(self._scalar("float"))

    def __int__(self) -> int:
        return int(self._scalar("int"))

    def __index__(self) -> int:
        if self._data.dtype.kind not in "iub":
            raise TypeError(f"only an integer tensor with one element can be used as an index; "
                            f"this one has dtype {self.dtype}")
        return int(self._scalar("index"))

    def __format__(self, spec: str) -> str:
        if self._data.size == 1 and self._data.ndim <= 1:
            return format(self._data.item(), spec)
        if spec:
            raise TypeError(f"unsupported format string {spec!r} for a tensor of shape "
                            f"{self.shape}; format its elements, or .item() of one element")
        return str(self)

    def numpy(self):
        """Return the values as an ndarray (the same memory, not a copy). A tensor that
        requires grad refuses: its array is the one backward reads (use ``detach().numpy()``)."""
        if self._rg:
            raise RuntimeError("numpy() on a tensor that requires grad would hand out the array "
                               "that backward reads; use tensor.detach().numpy()")
        return backend.host_only(self._data)  # a GPU tensor refuses, as in PyTorch

    def tolist(self):
        return self._data.tolist()

    def __array__(self, dtype=None, copy=None):
        if self._rg:
            raise RuntimeError("NumPy cannot take a tensor that requires grad (it would cut the "
                               "graph); use tensor.detach() first, or nerve's operations")
        arr = backend.host_only(self._data)
        arr = arr if dtype is None else arr.astype(dtype)
        return arr.copy() if copy and arr is self._data else arr  # NumPy 2's copy=True

    # --- gradient hooks -------------------------------------------------------------------
    def register_hook(self, hook) -> _HookHandle:
        """Call ``hook(grad)`` with the gradient of this tensor when backward computes it; a
        Tensor it returns replaces the gradient (PyTorch's ``Tensor.register_hook``)."""
        if not callable(hook):
            raise TypeError(f"register_hook: expected a callable. Received: hook={hook!r}")
        if not self._rg:
            raise RuntimeError("register_hook: the tensor does not require grad, so no "
                               "gradient will reach it")
        if self._node is None:
            hooks = _leaf_hooks.setdefault(id(self), [])
            if len(hooks) == 0:
                weakref.finalize(self, _leaf_hooks.pop, id(self), None)
        else:
            node = self._node
            if node.output_hooks is None:
                node.output_hooks = {}
                node.checked = True
            hooks = node.output_hooks.setdefault(self._index, [])
        hooks.append(hook)
        return _HookHandle(hooks, hook)

    def retain_grad(self) -> None:
        """Keep this intermediate result's gradient in ``.grad`` after backward (a leaf keeps
        its gradient anyway)."""
        if self._node is None or self.retains_grad:
            return
        ref = weakref.ref(self)

        def keep(grad):
            t = ref()
            if t is not None:
                g = grad._data
                t._grad = g.copy() if t._grad is None else t._grad + g
            return None

        keep.retains = True
        self.register_hook(keep)

    @property
    def retains_grad(self) -> bool:
        """Whether ``retain_grad()`` was called on this intermediate result."""
        node = self._node
        hooks = None if node is None or node.output_hooks is None else \
            node.output_hooks.get(self._index)
        return any(getattr(h, "retains", False) for h in hooks or ())

    def detach(self) -> Tensor:
        """Return a tensor on the same data that is cut from the graph (it shares the version
        counter: an in-place change to either is seen by the other's checks)."""
        t = Tensor._wrap(self._data)
        t._vc = self._counter()
        return t

    def detach_(self) -> Tensor:
        """Cut this tensor from the graph, in place: it becomes a leaf that needs no grad."""
        self._node, self._index, self._rg = None, 0, False
        return self

    @property
    def device(self):
        """Where the data lives: ``nerve.device("cpu")`` or ``nerve.device("cuda:0")``."""
        return backend.device(backend.device_of(self._data))

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    def zero_grad(self) -> None:
        self._grad = self._grad_t = None

    def __repr__(self) -> str:
        body = np.array2string(backend.to_host(self._data), separator=", ",  # host-side
                               precision=4, prefix="tensor(")
        where = backend.device_of(self._data)
        extra = f", dtype={self.dtype}" + ("" if where == "cpu" else f", device='{where}'")
        if self._node is not None:
            extra += f", grad_fn=<{self._node.name()}>"
        elif self._rg:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise ValueError(
                f"the truth value of a tensor with {self._data.size} elements is ambiguous"
            )
        return bool(self._data)

    # --- backpropagation ----------------------------------------------------------------
    def backward(self, gradient=None, retain_graph: bool = False, create_graph: bool = False,
                 *, grad=None) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad`` that requires gradients.

        ``gradient`` (also ``grad=``) is the gradient of some scalar with respect to this
        tensor; it may be left out only when this tensor has one element. The graph is freed
        afterwards unless ``retain_graph=True``.
        """
        data = self._data
        if gradient is grad is None and self._rg and data.size == 1 and not create_graph:
            run_backward(self, _one(data), retain_graph)  # a loss: the seed is 1
            return
        if grad is not None:
            if gradient is not None:
                raise TypeError("backward: give gradient or grad, not both")
            gradient = grad
        if create_graph:
            raise NotImplementedError("backward(create_graph=True): nerve computes first-order "
                                      "gradients only (no graph of the backward pass)")
        if not self._rg:
            raise RuntimeError(
                "backward() on a tensor that does not require gradients: "
                "no input of the computation had requires_grad=True"
            )
        run_backward(self, _seed_gradient(self, gradient), retain_graph)


def _one(data):
    """A 1 shaped like the one-element array ``data`` (array(1) is 5x faster than ones(()))."""
    one = backend.array_module(data).array(1, dtype=data.dtype)
    return one if data.ndim == 0 else one.reshape(data.shape)


def _seed_gradient(out: Tensor, gradient):
    """The gradient that backward starts from: ones for a one-element output, or the given one
    (checked against the output's shape)."""
    if gradient is None:
        if out._data.size != 1:
            raise RuntimeError(
                f"backward() without a gradient needs a one-element output, got shape "
                f"{out.shape}; pass gradient= with that shape or reduce first (e.g. .sum())"
            )
        return _one(out._data)
    g = gradient._data if isinstance(gradient, Tensor) else gradient
    g = backend.array_module(g).array(g, dtype=out.dtype)
    if g.shape != out.shape:
        raise ValueError(f"backward(): expected a gradient of the output's shape {out.shape}. "
                         f"Received: shape {g.shape}")
    return g


def grad(outputs, inputs, grad_outputs=None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool = False) -> tuple:
    """Return d(outputs)/d(inputs) as a tuple of Tensors, without touching any ``.grad``
    (PyTorch's ``torch.autograd.grad``, first order).

    ``outputs`` is a tensor (or a one-element sequence of one); ``inputs`` tensors that require
    grad, leaves or intermediate results. An input that ``outputs`` does not depend on raises
    unless ``allow_unused=True`` (then its gradient is None). The graph is freed unless
    ``retain_graph=True``.
    """
    if create_graph:
        raise NotImplementedError("grad(create_graph=True): nerve computes first-order "
                                  "gradients only")
    out = _single(outputs, "outputs")
    one = isinstance(inputs, Tensor)
    inputs = (inputs,) if one else tuple(inputs)
    if not inputs or not all(isinstance(t, Tensor) and t._rg for t in inputs):
        raise TypeError("grad: expected inputs to be tensors that require grad")
    if not out._rg:
        raise RuntimeError("grad: the output does not require grad (no input of its "
                           "computation had requires_grad=True)")
    seed = _seed_gradient(out, None if grad_outputs is None else _single(grad_outputs,
                                                                         "grad_outputs"))
    captured: dict[int, Any] = {}
    capturing, grad_state.capturing = grad_state.capturing, True
    try:
        run_backward(out, seed, bool(retain_graph), capture={id(t): t for t in inputs},
                     captured=captured)
    finally:
        grad_state.capturing = capturing
    results = []
    for t in inputs:
        g = captured.get(id(t))
        if g is None and not allow_unused:
            raise RuntimeError("grad: one of the inputs was not used to compute the output; "
                               "pass allow_unused=True to get None for it")
        results.append(None if g is None else Tensor._wrap(g))
    return tuple(results)


def _single(x, name: str) -> Tensor:
    if isinstance(x, (tuple, list)) and len(x) == 1:
        x = x[0]
    if not isinstance(x, Tensor):
        raise TypeError(f"grad: expected {name} to be a Tensor (or a sequence of one). "
                        f"Received: {type(x).__name__}")
    return x


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
        edges = node.edges
        if edges is None:
            raise RuntimeError(
                "trying to backward through the graph a second time (its buffers were freed "
                "after the first backward); pass retain_graph=True to the first backward()"
            )
        for e in edges:
            if e is not None and e[1] is not None and e[1] not in visited:
                stack.append((e[1], False))
    order.reverse()
    return order


def _accumulate_leaf(leaf: Tensor, g, handed_out: set) -> None:
    """Add ``g`` into ``leaf._grad``.

    A leaf takes a gradient array over without a copy when it can, but that array may still be
    pending for another node of this backward (``a + b`` hands the same array to both inputs),
    or held by user code (a hook saw it), so it is never added into in place: ``handed_out``
    holds the ids of such borrowed arrays.
    """
    if g.dtype != leaf._data.dtype:
        g = g.astype(leaf._data.dtype)
    if leaf._grad is None:
        if g is leaf._home:  # written in place by the operation (Function.grad_home)
            leaf._grad, leaf._home = g, None
        elif not g.flags.owndata or id(g) in handed_out or \
                not getattr(g.flags, "writeable", True):  # (CuPy's flags have no writeable)
            leaf._grad = g.copy()
        else:
            handed_out.add(id(g))
            leaf._grad = g
    elif id(leaf._grad) in handed_out:
        total = leaf._grad.copy()  # not leaf._grad + g: that gives a NumPy scalar for 0-d
        total += g
        leaf._grad = total
    else:
        leaf._grad += g


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


def run_backward(root: Tensor, grad, retain_graph: bool = False, capture=None,
                 captured=None) -> None:
    """Propagate ``grad`` from ``root`` through its graph into the leaves' ``.grad``.

    With ``capture`` (id -> tensor), the gradients of those tensors go into ``captured`` (by
    id) instead, and no ``.grad`` changes (``nerve.autograd.grad``).
    """
    handed_out = {id(grad)}
    hooked: dict = {}  # id(leaf) -> [leaf, the sum of its gradients]: a leaf with hooks
    if root._node is None:
        _deliver(root, grad, handed_out, hooked, capture, captured)
    elif capture is None:
        order = _topological_order(root._node)
        pending = {root._node: {root._index: grad}}
        for node in order:
            out_grads = pending.pop(node, None)
            if out_grads is not None:
                _backward_node(node, out_grads, pending, handed_out, hooked)
            if not retain_graph:
                node.release()
    else:  # nerve.autograd.grad: the gradients of intermediate results taken as they pass
        order = _topological_order(root._node)
        pending = {root._node: {root._index: grad}}
        wanted = {(t._node, t._index): t for t in capture.values() if t._node is not None}
        for node in order:
            out_grads = pending.pop(node, None)
            if out_grads is not None:
                _backward_node(node, out_grads, pending, handed_out, hooked, capture, captured)
                for (n, i), t in wanted.items():  # after its hooks, as in PyTorch
                    if n is node and i in out_grads:
                        captured[id(t)] = out_grads[i]
            if not retain_graph:
                node.release()
    for leaf, g in hooked.values():  # a leaf's hooks see its whole gradient, once (PyTorch)
        g = _run_hooks(_leaf_hooks.get(id(leaf), ()), g, handed_out)
        if capture is None:
            _accumulate_leaf(leaf, g, handed_out)
        else:
            captured[id(leaf)] = g


def _deliver(leaf: Tensor, g, handed_out: set, hooked: dict, capture, captured) -> None:
    """Give a leaf its gradient: into ``.grad``, or into ``captured`` when capturing; the
    gradients of a leaf with hooks are added up in ``hooked`` for its hooks to see the total."""
    if capture is not None and id(leaf) not in capture:
        return
    if _leaf_hooks and id(leaf) in _leaf_hooks:
        prev = hooked.get(id(leaf))
        hooked[id(leaf)] = [leaf, g] if prev is None else [leaf, prev[1] + g]
    elif capture is None:
        _accumulate_leaf(leaf, g, handed_out)
    else:
        prev = captured.get(id(leaf))
        captured[id(leaf)] = g if prev is None else prev + g


def _check_versions(node) -> None:
    """Refuse to run a node whose saved arrays were changed in place since it saved them."""
    for counter, version, position in node.saved_versions:
        if counter[0] != version:
            what = "its output" if position < 0 else f"its input {position}"
            raise RuntimeError(
                f"one of the arrays that {node.name()} saved for backward ({what}) has been "
                f"modified by an in-place operation: it is at version {counter[0]}; expected "
                f"version {version}. Make the change out of place (x = x + 1, not x += 1), "
                f"after backward(), or on a clone()"
            )


def _backward_node(node, out_grads: dict, pending: dict, handed_out: set, hooked: dict,
                   capture=None, captured=None) -> None:
    if node.checked:  # saved arrays to check, or hooks on its outputs: most nodes have none
        if node.saved_versions:
            _check_versions(node)
        for i, hooks in (node.output_hooks or {}).items():  # register_hook, retain_grad
            if i in out_grads and hooks:
                out_grads[i] = _run_hooks(hooks, out_grads[i], handed_out)
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
    edges = node.edges
    if len(grads) < len(edges):
        raise RuntimeError(
            f"{type(node).__name__}.backward returned {len(grads)} gradients for "
            f"{len(edges)} inputs"
        )
    for edge, g in zip(edges, grads):
        if edge is None or g is None:
            continue
        t, parent, index = edge
        if parent is None and not t._rg:  # a leaf told since to need none (a detach_()ed
            continue  # result passes on to the history it was recorded with, as in PyTorch)
        if type(g) not in _ARRAYS:  # 0-d arithmetic gives scalars; users give floats
            g = backend.ensure_array(g._data if isinstance(g, Tensor) else g)
        if g.shape != t._data.shape:
            raise RuntimeError(
                f"{type(node).__name__}.backward returned a gradient of shape {g.shape} "
                f"for an input of shape {t._data.shape}"
            )
        if parent is None:
            if capture is None and not (_leaf_hooks and id(t) in _leaf_hooks):
                _accumulate_leaf(t, g, handed_out)
            else:
                _deliver(t, g, handed_out, hooked, capture, captured)
            continue
        slot = pending.setdefault(parent, {})
        prev = slot.get(index)
        slot[index] = g if prev is None else prev + g
