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

from types import MappingProxyType

from nerve import autograd, backend
from nerve.autograd import Tensor

_ARRAYS = backend.ARRAY_MODULES  # array type -> module; `type(x) in _ARRAYS` is the cheap test


class Function:
    """Base class of operations; subclasses define ``forward`` and ``backward``.

    A subclass with ``differentiable = False`` (comparisons, argmax) is never recorded: its
    outputs never require gradients, whatever its inputs.
    """

    n_outputs = 1
    differentiable = True
    inputs: tuple | None = None  # the input tensors while the graph lives
    saved_tensors: tuple | None = ()
    options = MappingProxyType({})  # replaced by apply's keyword arguments when recorded

    def forward(ctx, *args, **options):
        raise NotImplementedError(f"{type(ctx).__name__} defines no forward()")

    def backward(ctx, *grads):
        raise NotImplementedError(
            f"{type(ctx).__name__} defines no backward(): it is not differentiable"
        )

    def save_for_backward(ctx, *arrays) -> None:
        """Keep arrays for backward in ``ctx.saved_tensors``; they are freed after it."""
        ctx.saved_tensors = arrays

    def release(ctx) -> None:
        """Free what the node holds for backward (called once backward has used it)."""
        ctx.inputs = None
        ctx.saved_tensors = None

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
        if not (autograd._grad_enabled and cls.differentiable):  # the shortest path
            out = cls.forward(ctx, *[a.data if isinstance(a, Tensor) else a for a in args],
                              **options)
            if type(out) is tuple:
                return tuple(Tensor._wrap(backend.ensure_array(o)) for o in out)
            return Tensor._wrap(out if type(out) in _ARRAYS else backend.ensure_array(out))
        raw, inputs, needs = [], [], []  # one pass over args: this runs for every operation
        for a in args:
            if isinstance(a, Tensor):
                raw.append(a.data)
                inputs.append(a)
                needs.append(a._rg)
            else:
                raw.append(a)
                inputs.append(None)
                needs.append(False)
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
        while inputs[-1] is None:  # trailing non-tensor arguments need no gradient slot
            inputs.pop()
        ctx.inputs = tuple(inputs)
        ctx.options = options
        if isinstance(out, tuple):
            out = tuple(backend.ensure_array(o) for o in out)
            ctx.n_outputs = len(out)
            ctx.output_meta = tuple((o.shape, o.dtype) for o in out)
            return tuple(Tensor._wrap(o, ctx, i) for i, o in enumerate(out))
        if out.dtype.kind != "f":
            raise TypeError(f"{cls.__name__}.forward returned dtype {out.dtype}: "
                            "a differentiable output must be floating-point")
        return Tensor._wrap(out, ctx)
