"""The one mechanism for differentiable operations: a forward and its backward in one class.

Every built-in operation is a :class:`Function`, and users define their own the same way::

    class Cube(nerve.Function):
        "y = x^3;  dy/dx = 3 x^2"            # the formula, for readers and the explainer

        def forward(ctx, x):                 # x arrives as an array (an ndarray on the CPU)
            ctx.save_for_backward(x)         # keep what backward needs
            return x ** 3

        def backward(ctx, grad):             # grad: d(loss)/d(output), an array
            (x,) = ctx.saved_tensors
            return 3 * x ** 2 * grad         # one gradient per positional input

    y = Cube.apply(t)                        # t a Tensor; y records the operation
    nerve.gradcheck(Cube.apply, [t])         # check the rule against finite differences

``apply`` takes the inputs as positional arguments and the options (an axis, a threshold) as
keyword arguments. ``forward`` receives the ``data`` arrays of Tensor arguments, any other
positional argument as given, and the options; it returns an array (or a tuple of arrays for
several outputs). ``backward`` receives one gradient per output and returns one gradient per
positional input, in order; ``None`` where an input gets none. ``ctx.needs_input_grad`` tells
which inputs need one, so work can be skipped. Backward rules must not modify the gradients
they receive. ``forward`` and ``backward`` may be plain methods (``ctx`` is then ``self``) or
``@staticmethod`` as in PyTorch.

A recorded node keeps, under fixed names that tools read without knowing its class:
``inputs`` (the input tensors), ``options`` (the keyword arguments of ``apply``),
``needs_input_grad``, ``name()`` (``CubeBackward``, as PyTorch names its nodes) and the formula
in its class docstring. After ``backward()`` the graph is released: ``inputs`` and
``saved_tensors`` become None; ``options`` stay.
"""

from __future__ import annotations

import weakref
from types import MappingProxyType

from nerve import autograd, backend
from nerve.autograd import Tensor, grad_state, no_grad

_ARRAYS = backend.ARRAY_MODULES  # array type -> module; `type(x) in _ARRAYS` is the cheap test


class Function:
    """Base class of operations; subclasses define ``forward`` and ``backward``.

    A subclass with ``differentiable = False`` (comparisons, argmax) is never recorded: its
    outputs never require gradients, whatever its inputs.
    """

    n_outputs = 1
    differentiable = True
    # (input tensor, the node that made it, its output index) per positional argument (None for
    # a non-tensor), taken when the operation ran: an input changed in place later gets a new
    # node, but this node's gradient belongs to the old one (PyTorch's edges). None once freed.
    edges: list | None = None
    saved_tensors: tuple | None = ()
    saved_versions: tuple = ()  # (counter, version, position) of what saved_tensors holds
    output_hooks: dict | None = None  # output index -> tensor hooks (Tensor.register_hook)
    checked = False  # True when backward must look at saved_versions or output_hooks
    options = MappingProxyType({})  # replaced by apply's keyword arguments when recorded

    def forward(ctx, *args, **options):
        raise NotImplementedError(f"{type(ctx).__name__} defines no forward()")

    def backward(ctx, *grads):
        raise NotImplementedError(
            f"{type(ctx).__name__} defines no backward(): it is not differentiable"
        )

    @property
    def inputs(ctx) -> tuple | None:
        """The input tensors (None for a non-tensor argument) while the graph lives."""
        edges = ctx.edges
        return None if edges is None else tuple(None if e is None else e[0] for e in edges)

    def save_for_backward(ctx, *arrays) -> None:
        """Keep arrays for backward in ``ctx.saved_tensors``; they are freed after it."""
        ctx.saved_tensors = arrays

    def grad_home(ctx, i: int):
        """An array to write input ``i``'s gradient into, or None.

        An optimizer with flat buffers gives each parameter a home for its next gradient: its
        view of the group's gradient array (``nerve.optim.flat``). An operation that can write
        its result into a given array (``out=``) may write input ``i``'s gradient there and
        return it; the leaf then takes it as its ``.grad`` without a copy. There is a home
        only while ``backward()`` fills ``.grad`` (not in ``autograd.grad``), for a leaf that
        has no gradient yet, no hook (a hook may keep the array it is given) and no other
        place among this node's inputs; a home serves one gradient.
        """
        edges = ctx.edges
        edge = edges[i] if i < len(edges) else None
        if edge is None or edge[1] is not None or grad_state.capturing:
            return None
        t = edge[0]
        home = t._home
        if (home is None or t._grad is not None or not t._rg or home.shape != t._data.shape
                or home.dtype != t._data.dtype or sum(e and e[0] is t for e in edges) > 1
                or id(t) in autograd._leaf_hooks):  # its hooks may keep what they see
            return None
        return home

    def release(ctx) -> None:
        """Free what the node holds for backward (called once backward has used it)."""
        ctx.edges = ctx.saved_tensors = None
        if ctx.checked:
            ctx.saved_versions = ()

    @classmethod
    def name(cls) -> str:
        """The node's name as a ``grad_fn`` shows it: ``SigmoidFunction`` -> ``SigmoidBackward``."""
        base = cls.__name__
        return (base[:-8] if base.endswith("Function") and len(base) > 8 else base) + "Backward"

    def __repr__(self) -> str:
        return f"<{self.name()}>"

    @classmethod
    def apply(cls, *args, **options):
        """Run ``forward`` on the arguments and, if any input requires gradients, record it."""
        ctx = cls.__new__(cls)
        if not (grad_state.enabled and cls.differentiable):  # the shortest path
            raw = [a._data if isinstance(a, Tensor) else a for a in args]
            if len(_ARRAYS) > 1:  # a GPU backend is loaded: no operation across devices
                backend.same_device(raw, cls)
            out = cls.forward(ctx, *raw, **options)
            if type(out) is tuple:
                return tuple(Tensor._wrap(backend.ensure_array(o)) for o in out)
            return Tensor._wrap(out if type(out) in _ARRAYS else backend.ensure_array(out))
        raw, needs, edges = [], [], []  # one pass over args: this runs for every operation
        for a in args:
            if isinstance(a, Tensor):
                raw.append(a._data)
                needs.append(a._rg)
                edges.append((a, a._node, a._index))
            else:
                raw.append(a)
                needs.append(False)
                edges.append(None)
        if len(_ARRAYS) > 1:
            backend.same_device(raw, cls)
        record = True in needs
        if record:
            ctx.needs_input_grad = tuple(needs)
        out = cls.forward(ctx, *raw, **options)
        if type(out) is not tuple and type(out) not in _ARRAYS:
            out = backend.ensure_array(out)  # NumPy reductions and 0-d arithmetic give scalars
        if not record:
            if isinstance(out, tuple):
                return tuple(Tensor._wrap(backend.ensure_array(o)) for o in out)
            return Tensor._wrap(out)
        while edges[-1] is None:  # trailing non-tensor arguments need no gradient slot
            edges.pop()
        ctx.edges = edges
        ctx.options = options
        if isinstance(out, tuple):
            out = tuple(backend.ensure_array(o) for o in out)
            ctx.n_outputs = len(out)
            ctx.output_meta = tuple((o.shape, o.dtype) for o in out)
            results = tuple(Tensor._wrap(o, ctx if o.dtype.kind in "fc" else None, i)
                            for i, o in enumerate(out))  # int/bool outputs: no gradient
            if ctx.saved_tensors:
                _record_versions(ctx, edges, results)
            return results
        if out.dtype.kind != "f":
            raise TypeError(f"{cls.__name__}.forward returned dtype {out.dtype}: "
                            "a differentiable output must be floating-point")
        result = Tensor._wrap(out, ctx)
        if ctx.saved_tensors:
            _record_versions(ctx, edges, (result,))
        return result


class ViewFunction(Function):
    """An operation whose output may share the first input's memory (reshape, indexing): the
    output shares the input's version counter, as a view does in PyTorch."""

    @classmethod
    def apply(cls, *args, **options):
        result = super().apply(*args, **options)
        _share_counter(result, args[0])
        return result


def _record_versions(ctx, edges: list, outputs: tuple) -> None:
    """Note the version of each tensor whose memory the node saved (an input or an output, or
    a view of one), so that backward can refuse an array changed in place since: an integer
    per saved array."""
    versions = []
    for arr in ctx.saved_tensors:
        if type(arr) not in _ARRAYS:
            continue  # None, a number
        owner = _owner(arr, edges, outputs)
        if owner is not None:
            counter = owner[0]._counter()
            versions.append((counter, counter[0], owner[1]))
    if versions:
        ctx.saved_versions = tuple(versions)
        ctx.checked = True


def _owner(arr, edges: list, outputs: tuple):
    """(tensor, position) whose memory ``arr`` is: an input (its position) or an output (-1),
    by identity first (the common case), then by the array that owns the memory."""
    for position, edge in enumerate(edges):
        if edge is not None and edge[0]._data is arr:
            return edge[0], position
    for t in outputs:
        if t._data is arr:
            return t, -1
    root = _root(arr)
    for position, edge in enumerate(edges):
        if edge is not None and _root(edge[0]._data) is root:
            return edge[0], position
    for t in outputs:
        if _root(t._data) is root:
            return t, -1
    return None


def _root(arr):
    """The array that owns ``arr``'s memory (``arr`` itself, or its base); None for a number."""
    base = getattr(arr, "base", False)
    if base is False:
        return None
    return arr if base is None else base


def _share_counter(view: Tensor, base) -> None:
    """A view shares its base's version counter (when it shares its memory), as in PyTorch:
    an in-place change through either is seen by the checks of what saved the other."""
    if not isinstance(base, Tensor):
        return
    if _root(view._data) is _root(base._data):
        counter = view._vc = base._counter()
        if len(counter) == 1:
            counter.append({})
        views, key = counter[1], id(view)
        # the view, by a weak reference that goes with it (see ops.inplace)
        views[key] = weakref.ref(view, lambda _, v=views, k=key: v.pop(k, None))


class TensorFunction:
    """A custom operation with PyTorch's contract, on Tensors: ``nerve.autograd.Function``.

    ::

        class MyReLU(nerve.autograd.Function):
            @staticmethod
            def forward(ctx, input):             # Tensors in, Tensors out
                ctx.save_for_backward(input)
                return input.clamp(min=0)

            @staticmethod
            def backward(ctx, grad_output):      # one Tensor per output
                (input,) = ctx.saved_tensors
                grad_input = grad_output.clone()
                grad_input[input < 0] = 0
                return grad_input                # one per input (None: no gradient)

        y = MyReLU.apply(x)

    ``forward`` runs without recording a graph (as in PyTorch), on the inputs as Tensors;
    ``backward`` gets and returns Tensors. It is built on :class:`nerve.Function` (the array-level
    mechanism of every built-in operation), so versions are checked and the node is named
    ``MyReLUBackward``.
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("a nerve.autograd.Function defines forward(ctx, ...)")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("a nerve.autograd.Function defines backward(ctx, ...)")

    @classmethod
    def apply(cls, *args, **kwargs):
        return _TensorFunctionNode.apply(*args, fn=cls, kwargs=kwargs)


class _Context:
    """What a ``nerve.autograd.Function`` sees as ``ctx``: ``save_for_backward``,
    ``saved_tensors``, ``needs_input_grad``, and any attribute it sets."""

    def __init__(self, needs_input_grad: tuple):
        self.needs_input_grad = needs_input_grad
        self.saved = ()

    def save_for_backward(self, *tensors) -> None:
        self.saved = tensors

    @property
    def saved_tensors(self) -> tuple:
        return self.saved

    def mark_non_differentiable(self, *tensors) -> None:
        """Accepted for PyTorch's programs; nerve decides from the outputs' dtypes."""


def _as_tensor_arg(a):
    return Tensor._wrap(a) if backend.is_array(a) else a


def _unwrap(value, who: str):
    if value is None or backend.is_array(value):
        return value
    if isinstance(value, Tensor):
        return value._data
    raise TypeError(f"{who}: expected Tensors (or None). Received: {type(value).__name__}")


class _TensorFunctionNode(Function):
    """The array-level node that runs a ``nerve.autograd.Function``'s methods on Tensors."""

    def forward(ctx, *arrays, fn, kwargs):
        needs = getattr(ctx, "needs_input_grad", tuple(False for _ in arrays))
        ctx.user_ctx = _Context(needs)
        with no_grad():
            out = fn.forward(ctx.user_ctx, *[_as_tensor_arg(a) for a in arrays], **kwargs)
        ctx.save_for_backward(*[_unwrap(t, f"{fn.__name__}.save_for_backward")
                                for t in ctx.user_ctx.saved])
        if isinstance(out, tuple):
            return tuple(_unwrap(o, f"{fn.__name__}.forward") for o in out)
        return _unwrap(out, f"{fn.__name__}.forward")

    def backward(ctx, *grads):
        fn = ctx.options["fn"]
        with no_grad():
            result = fn.backward(ctx.user_ctx, *[Tensor._wrap(g) for g in grads])
        result = result if isinstance(result, tuple) else (result,)
        return tuple(_unwrap(r, f"{fn.__name__}.backward") for r in result)

    def name(self) -> str:  # the user's class names the node: MyReLUBackward
        fn = self.options.get("fn")
        return "TensorFunctionBackward" if fn is None else f"{fn.__name__}Backward"


autograd.Function = TensorFunction  # PyTorch's path: nerve.autograd.Function
