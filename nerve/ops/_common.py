"""What every operation shares: the registry that makes an operation public, one
``unbroadcast``, axis checks and the coercion of operands.

An operation is written on one screen: its :class:`~nerve.Function` (forward, backward and the
formula in the docstring), then its public function, registered with :func:`register`, which
makes it ``nerve.<name>`` and a Tensor method. Binary operations are made by :func:`binary`,
which also gives them their operators (``a + b``, ``2 * a``).
"""

from __future__ import annotations

from collections.abc import Callable

from nerve import backend
from nerve.autograd import Tensor
from nerve.checks import is_int

PUBLIC: dict[str, Callable] = {}  # name -> public function, in registration order


def register(fn: Callable | None = None, *, methods: tuple[str, ...] | None = None,
             public: bool = True):
    """Make ``fn`` an operation: ``nerve.<name>`` (unless ``public=False``) and the Tensor
    methods named in ``methods`` (by default the function's own name)."""

    def add(f: Callable) -> Callable:
        if public:
            if f.__name__ in PUBLIC:
                raise RuntimeError(f"the operation {f.__name__!r} is registered twice")
            PUBLIC[f.__name__] = f
        for name in (f.__name__,) if methods is None else methods:
            setattr(Tensor, name, f)
        return f

    return add if fn is None else add(fn)


def binary(fn: type, name: str, doc: str, operator: str | bool = True) -> Callable:
    """Register the broadcasting binary operation ``fn`` (a Function class) as ``nerve.<name>``,
    the method ``Tensor.<name>`` and the operators ``__<operator>__`` and ``__r<operator>__``
    (``operator`` True: the name itself; False: none)."""

    def op(a, b) -> Tensor:
        return fn.apply(*operands(a, b, name))

    def forward(self, other):
        c = coerce(other, self)
        return _unsupported(other, name) if c is NotImplemented else fn.apply(self, c)

    def reflected(self, other):
        c = coerce(other, self)
        return _unsupported(other, name) if c is NotImplemented else fn.apply(c, self)

    op.__name__, op.__qualname__, op.__doc__ = name, name, doc
    register(op)
    if operator:
        dunder = name if operator is True else operator
        setattr(Tensor, f"__{dunder}__", forward)
        setattr(Tensor, f"__r{dunder}__", reflected)
    return op


def _unsupported(other, name: str):
    """NotImplemented lets another type answer; a sequence would only give a puzzling error."""
    if isinstance(other, (str, bytes, list, tuple, dict, set)):
        raise TypeError(f"{name}: expected a Tensor, a number or an array. Received: "
                        f"other of type {type(other).__name__}")
    return NotImplemented


def unbroadcast(grad, shape: tuple[int, ...]):
    """Sum ``grad`` back to ``shape``, undoing broadcasting (every binary rule uses it)."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def normalize_axis(axis, ndim: int, op: str) -> tuple[int, ...] | None:
    """Return ``axis`` (None, an int or a sequence) as a sorted tuple of non-negative ints."""
    if axis is None:
        return None
    axes = (axis,) if is_int(axis) else axis
    if not isinstance(axes, (tuple, list)) or not all(is_int(a) for a in axes):
        raise TypeError(f"{op}: axis must be an int or a tuple of ints, got {axis!r}")
    n = ndim if ndim > 0 else 1
    out = []
    for a in axes:
        if not -n <= a < n:
            raise ValueError(f"{op}: axis {a} is out of range for a tensor with ndim={ndim} "
                             f"(valid: {-n} to {n - 1})")
        out.append(int(a) % n)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {axis!r}")
    return tuple(sorted(out))


def pick_axis(axis, dim, default=None):
    """Accept PyTorch's ``dim`` as another name for ``axis``; ``default`` when neither is given."""
    if dim is None:
        return default if axis is None else axis
    if axis is not None:
        raise TypeError(f"give axis or dim, not both (got axis={axis!r}, dim={dim!r})")
    return dim


def coerce(x, like: Tensor):
    """Return a binary operand ready for the op, or NotImplemented for an unsupported type.

    Dtype rule: a Python number or an array combined with a floating-point tensor takes the
    tensor's dtype (a float32 tensor plus a float64 ndarray stays float32), as in PyTorch.
    """
    if isinstance(x, Tensor):
        return x
    if isinstance(x, backend.ARRAY_TYPES):
        if like.data.dtype.kind == "f" and x.dtype != like.data.dtype:
            return x.astype(like.data.dtype)
        return x
    value = backend.real_scalar(x)
    return NotImplemented if value is None else value


def operands(a, b, name: str):
    """Make two operands ready for a binary op; the non-tensor one follows the tensor's dtype."""
    if isinstance(a, Tensor):
        a2, b2 = a, coerce(b, a)
    elif isinstance(b, Tensor):
        a2, b2 = coerce(a, b), b
    else:
        a2 = Tensor(a)
        b2 = coerce(b, a2)
    if a2 is NotImplemented or b2 is NotImplemented:
        raise TypeError(f"{name}: expected Tensors, numbers or arrays. Received: operands of "
                        f"types {type(a).__name__} and {type(b).__name__}")
    return a2, b2


def shape_of(a) -> tuple[int, ...]:
    """The shape of an array or of a Python number (``()``)."""
    return getattr(a, "shape", ())
