"""The one mechanism for differentiable operations: a forward and its backward in one class.

Every built-in operation is a :class:`Function`, and users define their own the same way::

    class Cube(nerve.Function):
        def forward(ctx, x):                 # x arrives as an ndarray
            ctx.x = x                        # keep what backward needs on ctx
            return x ** 3

        def backward(ctx, grad):             # grad: d(loss)/d(output), an ndarray
            return 3 * ctx.x ** 2 * grad     # one gradient per positional input

    y = Cube.apply(t)                        # t a Tensor; y records the operation
    nerve.gradcheck(Cube.apply, [t])         # check the rule against finite differences

``forward`` receives the ``data`` arrays of Tensor arguments and any other argument as given,
and returns an ndarray (or a tuple of ndarrays for several outputs). ``backward`` receives one
gradient per output and returns one gradient per positional input, in order; ``None`` where an
input gets none. ``ctx.needs_input_grad`` tells which inputs need one, so work can be skipped.
Backward rules must not modify the gradients they receive. ``forward`` and ``backward`` may be
written as plain methods (``ctx`` is then ``self``) or as ``@staticmethod`` as in PyTorch.
"""

from __future__ import annotations

import sys

import numpy as np

from nerve.tensor import Tensor

# The module itself, for its grad-mode flag: ``nerve.tensor`` the attribute is the function
# that makes tensors, so the module is taken from sys.modules.
_tensor_mod = sys.modules["nerve.tensor"]


class Function:
    """Base class of differentiable operations; subclasses define ``forward`` and ``backward``."""

    n_outputs = 1

    def forward(ctx, *args, **kwargs):
        raise NotImplementedError(f"{type(ctx).__name__} defines no forward()")

    def backward(ctx, *grads):
        raise NotImplementedError(
            f"{type(ctx).__name__} defines no backward(): it is not differentiable"
        )

    def save_for_backward(ctx, *arrays) -> None:
        """Keep arrays for backward (PyTorch's spelling; ``ctx.name = x`` works as well)."""
        ctx.saved_tensors = arrays

    @classmethod
    def apply(cls, *args, **kwargs):
        """Run ``forward`` on the arguments and, if any input requires gradients, record it."""
        ctx = cls.__new__(cls)
        if not _tensor_mod._grad_enabled:  # inference: nothing to record, the shortest path
            out = cls.forward(ctx, *[a.data if isinstance(a, Tensor) else a for a in args],
                              **kwargs)
            if type(out) is tuple:
                return tuple(Tensor._wrap(np.asarray(o)) for o in out)
            return Tensor._wrap(out if type(out) is np.ndarray else np.asarray(out))
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
        out = cls.forward(ctx, *raw, **kwargs)
        if type(out) is not np.ndarray and type(out) is not tuple:
            out = np.asarray(out)  # NumPy reductions and 0-d arithmetic return scalars
        if not record:
            if isinstance(out, tuple):
                return tuple(Tensor._wrap(o) for o in out)
            return Tensor._wrap(out)
        while inputs[-1] is None:  # trailing options (axis=...) need no gradient slot
            inputs.pop()
        ctx.inputs = tuple(inputs)
        if isinstance(out, tuple):
            ctx.n_outputs = len(out)
            ctx.output_meta = tuple((o.shape, o.dtype) for o in out)
            return tuple(Tensor._wrap(o, ctx, i) for i, o in enumerate(out))
        if out.dtype.kind != "f":
            raise TypeError(f"{cls.__name__}.forward returned dtype {out.dtype}: "
                            "a differentiable output must be floating-point")
        return Tensor._wrap(out, ctx)


def non_differentiable(fn):
    """Mark an operation whose output never carries gradients (comparisons, argmax)."""
    fn.differentiable = False
    return fn


def as_array(x) -> np.ndarray:
    """Return the ndarray behind a Tensor, or ``x`` as an ndarray."""
    return x.data if isinstance(x, Tensor) else np.asarray(x)
