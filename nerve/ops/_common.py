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
from nerve.checks import is_int, message

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


def binary(fn: type, name: str, doc: str, operator: str | bool = True,
           true_division: bool = False) -> Callable:
    """Register the broadcasting binary operation ``fn`` (a Function class) as ``nerve.<name>``
    (``nerve.<name>(input, other)``, PyTorch's argument names), the method ``Tensor.<name>``
    and the operators ``__<operator>__`` and ``__r<operator>__`` (``operator`` True: the name
    itself; False: none). Operands follow PyTorch's type promotion (see ``promote``)."""

    def op(input, other, *, out=None) -> Tensor:  # noqa: A002 - PyTorch's names
        result = fn.apply(*promote(*operands(input, other, name), true_division))
        return result if out is None else write_out(out, result, name)

    def forward(self, other):
        if isinstance(other, Tensor):  # the common case first: one dtype, nothing to do
            d = self._data.dtype
            if other._data.dtype is d and (not true_division or d.kind == "f"):
                return fn.apply(self, other)
            return fn.apply(*promote(self, other, true_division))
        c = coerce(other, self)
        if c is NotImplemented:
            return _unsupported(other, name)
        if (type(c) is float or type(c) is int) and self._data.dtype.kind == "f" and \
                not true_division:
            return fn.apply(self, c)  # the common case, without promote's call
        return fn.apply(*promote(self, c, true_division))

    def reflected(self, other):
        if isinstance(other, Tensor):  # the common case first: one dtype, nothing to do
            d = self._data.dtype
            if other._data.dtype is d and (not true_division or d.kind == "f"):
                return fn.apply(other, self)
            return fn.apply(*promote(other, self, true_division))
        c = coerce(other, self)
        if c is NotImplemented:
            return _unsupported(other, name)
        if (type(c) is float or type(c) is int) and self._data.dtype.kind == "f" and \
                not true_division:
            return fn.apply(c, self)
        return fn.apply(*promote(c, self, true_division))

    op.__name__, op.__qualname__, op.__doc__ = name, name, doc
    register(op)
    if operator:
        dunder = name if operator is True else operator
        setattr(Tensor, f"__{dunder}__", forward)
        setattr(Tensor, f"__r{dunder}__", reflected)
    return op


def write_out(out: Tensor, result: Tensor, name: str) -> Tensor:
    """PyTorch's ``out=``: the result written into ``out`` (with the in-place rules), returned."""
    if not isinstance(out, Tensor):
        raise TypeError(f"{name}: expected a Tensor as out. Received: {type(out).__name__}")
    if out.shape != result.shape:
        raise ValueError(f"{name}: expected out of the result's shape {result.shape}. "
                         f"Received: shape {out.shape}")
    return out.copy_(result)


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
        if like._data.dtype.kind == "f" and x.dtype != like._data.dtype:
            return x.astype(like._data.dtype)
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


def same_dtype(x: Tensor, other: Tensor, who: str, name: str) -> None:
    """PyTorch's rule for products and scatters: ``other`` must have ``x``'s dtype (no
    promotion); a TypeError naming both otherwise."""
    if x.dtype != other.dtype:
        raise TypeError(message(who, f"{name} of the input's dtype {x.dtype}", f"{name}.dtype",
                                str(other.dtype)))


def promote(a, b, true_division: bool = False) -> tuple:
    """The operands of a binary op cast as PyTorch's type promotion asks, where NumPy's
    differs: an integer (or bool) operand of a floating one takes the floating dtype
    (int64 tensor * float32 tensor is float32, not float64); an integer tensor with a Python
    float, or both operands of a true division being integers, give the default float dtype
    (float32, not float64); a bool tensor with a Python int gives int64. Otherwise NumPy's rules
    (the same as PyTorch's there) decide. Only non-floating operands are ever cast, and they
    carry no gradient."""
    da = a._data.dtype if isinstance(a, Tensor) else getattr(a, "dtype", None)
    db = b._data.dtype if isinstance(b, Tensor) else getattr(b, "dtype", None)
    if da is db and da is not None and not (true_division and da.kind != "f"):
        return a, b  # the common case: one dtype (NumPy's dtypes of a kind are singletons)
    if db is None and da is not None and da.kind == "f" and not true_division:
        return a, b  # a floating tensor and a Python number: the tensor's dtype
    ka, kb = (d.kind if d is not None else "f" if isinstance(x, float) else "b" if
              isinstance(x, bool) else "i" for x, d in ((a, da), (b, db)))  # True + bool: bool
    if true_division and ka != "f" and kb != "f":
        dt = backend.get_default_dtype()
        return _cast(a, dt), _cast(b, dt)
    if (isinstance(a, Tensor) and isinstance(b, Tensor) and ka.replace("u", "i") ==
            kb.replace("u", "i") and (a.ndim == 0) != (b.ndim == 0)):  # one kind: the 0-d
        from nerve.ops.shape import cast  # tensor takes the other's dtype, as in PyTorch
        return (cast(a, db), b) if a.ndim == 0 else (a, cast(b, da))
    if ka == "f" and kb != "f":
        return a, _cast(b, da if da is not None else backend.get_default_dtype())
    if kb == "f" and ka != "f":
        return _cast(a, db if db is not None else backend.get_default_dtype()), b
    if ka == "b" and kb != "b" and da is not None and db is None:
        return _cast(a, backend.int64), b
    if kb == "b" and ka != "b" and db is not None and da is None:
        return a, _cast(b, backend.int64)
    return a, b


def joined(arrays) -> tuple:
    """Arrays to join into one (cat, stack) in one dtype by PyTorch's promotion: the highest
    kind among them wins (bool < integer < floating) and only the dtypes of that kind are
    promoted together (int64 with float32 is float32, where NumPy gives float64)."""
    dtypes = {a.dtype for a in arrays}
    if len(dtypes) == 1:
        return arrays
    top = next(k for k in ("fc", "iu", "b") if any(d.kind in k for d in dtypes))
    dtype = backend.array_module(arrays[0]).result_type(*(d for d in dtypes if d.kind in top))
    return tuple(a.astype(dtype, copy=False) for a in arrays)


def _cast(x, dtype):
    """A non-floating operand (a Tensor, an array or a Python number) in ``dtype``."""
    if isinstance(x, Tensor):
        return Tensor._wrap(x._data.astype(dtype))
    if backend.is_array(x):
        return x.astype(dtype)
    return x  # a Python number adapts to the array it meets


def shape_of(a) -> tuple[int, ...]:
    """The shape of an array or of a Python number (``()``)."""
    return getattr(a, "shape", ())
