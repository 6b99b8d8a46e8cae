"""Arithmetic with broadcasting: + - * / ** // % (floor_divide, remainder, fmod), negation and
matrix multiplication; the bitwise and logical operations of masks (& | ^ ~, logical_and...),
which give no gradient."""

from __future__ import annotations

from nerve import backend
from nerve.autograd import Tensor
from nerve.checks import as_array, as_tensor
from nerve.function import Function
from nerve.ops._common import (
    _unsupported,
    binary,
    coerce,
    operands,
    promote,
    register,
    same_dtype,
    shape_of,
    unbroadcast,
    write_out,
)


def _needs(ctx) -> tuple:
    """Which inputs want a gradient (none when nothing is recorded): what forward must save."""
    return getattr(ctx, "needs_input_grad", (False, False))


class _BinaryFunction(Function):
    """A broadcasting binary operation; subclasses give ``compute_and_save`` and ``backward``."""

    def forward(ctx, a, b):
        try:
            out = ctx.compute_and_save(a, b)
        except ValueError as error:  # shapes that do not broadcast, or a refusal of the values
            shapes = shape_of(a), shape_of(b)
            try:
                backend.broadcast_shapes(*shapes)
            except ValueError:
                raise ValueError(f"{ctx.name()[:-8].lower()}: shapes {shapes[0]} and "
                                 f"{shapes[1]} do not broadcast") from None
            raise ValueError(f"{ctx.name()[:-8].lower()}: {error} Received: operands of dtypes "
                             f"{_dtype_name(a)} and {_dtype_name(b)}") from None
        ctx.a_shape = getattr(a, "shape", ())  # a Python number has the shape ()
        ctx.b_shape = getattr(b, "shape", ())
        return out


class AddFunction(_BinaryFunction):
    "y = a + b;  dy/da = 1, dy/db = 1 (each summed over the axes it was broadcast along)"

    def compute_and_save(ctx, a, b):
        return a + b

    def backward(ctx, g):
        na, nb = ctx.needs_input_grad
        shape = g.shape  # most often no broadcasting: hand g on as it is
        return (None if not na else g if ctx.a_shape == shape else unbroadcast(g, ctx.a_shape),
                None if not nb else g if ctx.b_shape == shape else unbroadcast(g, ctx.b_shape))


add = binary(AddFunction, "add", "a + b, element-wise with broadcasting.")


class SubFunction(_BinaryFunction):
    "y = a - b;  dy/da = 1, dy/db = -1"

    def compute_and_save(ctx, a, b):
        return a - b

    def backward(ctx, g):
        na, nb = ctx.needs_input_grad
        return (unbroadcast(g, ctx.a_shape) if na else None,
                unbroadcast(-g, ctx.b_shape) if nb else None)


sub = binary(SubFunction, "sub", "a - b, element-wise with broadcasting.")


class MulFunction(_BinaryFunction):
    "y = a * b;  dy/da = b, dy/db = a"

    def compute_and_save(ctx, a, b):
        na, nb = _needs(ctx)
        ctx.save_for_backward(a if nb else None, b if na else None)  # only what backward uses
        return a * b

    def backward(ctx, g):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        return (unbroadcast(g * b, ctx.a_shape) if na else None,
                unbroadcast(g * a, ctx.b_shape) if nb else None)


mul = binary(MulFunction, "mul", "a * b, element-wise with broadcasting.")


class DivFunction(_BinaryFunction):
    "y = a / b;  dy/da = 1 / b, dy/db = -y / b"

    def compute_and_save(ctx, a, b):
        out = a / b
        ctx.save_for_backward(b, out if _needs(ctx)[1] else None)
        return out

    def backward(ctx, g):
        b, out = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        ga = g / b
        return (unbroadcast(ga, ctx.a_shape) if na else None,
                unbroadcast(-ga * out, ctx.b_shape) if nb else None)


div = binary(DivFunction, "div", "a / b, element-wise with broadcasting.", "truediv",
             true_division=True)


class PowFunction(_BinaryFunction):
    """y = a ** b;  dy/da = b a^(b-1), dy/db = y log(a)

    The gradient for b uses log(a), so it is defined where a > 0, and is 0 where a == 0 and
    b >= 0 (as in PyTorch); the gradient for a is 0 where b == 0 (0 ** 0 included).
    """

    def compute_and_save(ctx, a, b):
        out = _power(a, b)
        ctx.save_for_backward(a, b, out if _needs(ctx)[1] else None)
        return out

    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        xp = backend.array_module(g)
        ga = gb = None
        with backend.errstate(divide="ignore", invalid="ignore"):
            if na:
                ga = g * b * _power(a, b - 1)
                if _any(b == 0):  # 0 * inf would give nan
                    ga = xp.where(b == 0, 0, ga).astype(g.dtype, copy=False)
                ga = unbroadcast(ga, ctx.a_shape)
            if nb:
                gb = g * out * xp.log(a)
                zero_base = (a == 0) & (b >= 0)
                if _any(zero_base):  # 0 * -inf would give nan
                    gb = xp.where(zero_base, 0, gb).astype(g.dtype, copy=False)
                gb = unbroadcast(gb, ctx.b_shape)
        return ga, gb


def _power(a, b):
    """a ** b, by multiplication for the small whole exponents of polynomials (x ** 3 costs
    as much as x * x * x, not a call of pow() per element)."""
    if type(b) is int or type(b) is float and b.is_integer():
        if b == 2:
            return a * a
        if b == 3:
            return a * a * a
        if b == 1:
            return a * 1
    return a ** b


def _any(mask) -> bool:
    """True if any element of a boolean array (or a Python bool) is true."""
    return bool(mask.any()) if hasattr(mask, "any") else bool(mask)


pow = binary(PowFunction, "pow", "a ** b, element-wise with broadcasting.")


def _division(a, b, name: str):
    """PyTorch's checks of an integer division: bools refused, a zero divisor raises (NumPy
    would give 0 with a warning)."""
    kinds = "".join((v.dtype if hasattr(v, "dtype") else backend.to_dtype(type(v))).kind
                    for v in (a, b))
    if kinds == "bb":
        raise TypeError(f"{name}: expected integer or floating operands (PyTorch refuses "
                        f"bools too). Received: dtypes {_dtype_name(a)} and {_dtype_name(b)}")
    if "f" not in kinds and _any(b == 0):
        raise ZeroDivisionError(f"{name}: integer division by zero (PyTorch raises too). "
                                f"Received: a zero in other of dtype {_dtype_name(b)}")
    return backend.array_module(next((v for v in (a, b) if hasattr(v, "dtype")), None))


class FloorDivideFunction(_BinaryFunction):
    """y = floor(a / b);  not differentiable: backward raises, as PyTorch's ("derivative for
    floor_divide is not implemented")"""

    def compute_and_save(ctx, a, b):
        xp = _division(a, b, "floor_divide")
        with backend.errstate(divide="ignore", invalid="ignore"):
            return xp.floor_divide(a, b)

    def backward(ctx, g):
        raise RuntimeError("floor_divide: its derivative is not implemented (as in PyTorch: "
                           "floor(a / b) is a step function); use a.div(b) or detach()")


floor_divide = binary(FloorDivideFunction, "floor_divide", "floor(a / b), element-wise with "
                      "broadcasting, as Python's // (also for negative and float operands).",
                      "floordiv")


class RemainderFunction(_BinaryFunction):
    """y = a - b floor(a / b) (the sign of b, as Python's %);  dy/da = 1, dy/db = -floor(a / b)"""

    sign_of_divisor = True

    def compute_and_save(ctx, a, b):
        xp = _division(a, b, ctx.name()[:-8].lower())
        with backend.errstate(divide="ignore", invalid="ignore"):
            out = xp.fmod(a, b)
            if ctx.sign_of_divisor:  # PyTorch's way (NumPy's remainder differs on -0.0)
                out = xp.where((out != 0) & ((b < 0) != (out < 0)), out + b, out)
        nb = _needs(ctx)[1]
        ctx.save_for_backward(a if nb else None, b if nb else None)
        return out

    def backward(ctx, g):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        xp = backend.array_module(g)
        if nb:
            with backend.errstate(divide="ignore", invalid="ignore"):
                q = xp.floor_divide(a, b) if ctx.sign_of_divisor else xp.trunc(a / b)
        return (unbroadcast(g, ctx.a_shape) if na else None,
                unbroadcast(-g * q, ctx.b_shape) if nb else None)


remainder = binary(RemainderFunction, "remainder", "a - b floor(a / b), element-wise with "
                   "broadcasting: Python's % (the result takes the sign of the divisor).", "mod")


class FmodFunction(RemainderFunction):
    """y = a - b trunc(a / b) (the sign of a, as C's fmod);  dy/da = 1, dy/db = -trunc(a / b)"""

    sign_of_divisor = False


fmod = binary(FmodFunction, "fmod", "a - b trunc(a / b), element-wise with broadcasting (the "
              "result takes the sign of the dividend, as C's fmod).", False)


class NegFunction(Function):
    "y = -x;  dy/dx = -1"

    def forward(ctx, x):
        return -x

    def backward(ctx, g):
        return -g


@register(methods=("neg", "__neg__"))
def neg(input) -> Tensor:
    """-x, element-wise."""
    return NegFunction.apply(as_tensor(input))


class MatMulFunction(Function):
    """y = a @ b;  dy/da = g @ b^T, dy/db = a^T @ g

    NumPy's rules: 1-D operands, batches and batch broadcasting.
    """

    def forward(ctx, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: operands must be at least 1-D, got shapes {a.shape} "
                             f"and {b.shape}")
        k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
        if a.shape[-1] != k_b:
            raise ValueError(f"matmul: cannot multiply shapes {a.shape} and {b.shape} "
                             f"(inner dimensions {a.shape[-1]} and {k_b} differ)")
        try:
            out = a @ b
        except ValueError:
            raise ValueError(f"matmul: batch dimensions of {a.shape} and {b.shape} "
                             "do not broadcast") from None
        na, nb = _needs(ctx)
        ctx.save_for_backward(a if nb else None, b if na else None)
        ctx.shapes = a.shape, b.shape
        return out

    def backward(ctx, g):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        a_shape, b_shape = ctx.shapes
        if len(a_shape) == 2 and len(b_shape) == 2:  # the common case, without reshapes
            return (g @ b.T if na else None), (a.T @ g if nb else None)
        a2_shape = (1,) + a_shape if len(a_shape) == 1 else a_shape
        b2_shape = b_shape + (1,) if len(b_shape) == 1 else b_shape
        batch = backend.broadcast_shapes(a2_shape[:-2], b2_shape[:-2])
        g2 = g.reshape(batch + (a2_shape[-2], b2_shape[-1]))
        ga = gb = None
        if na:
            b2 = b.reshape(b2_shape)
            ga = unbroadcast(g2 @ b2.swapaxes(-1, -2), a2_shape).reshape(a_shape)
        if nb:
            a2 = a.reshape(a2_shape)
            gb = unbroadcast(a2.swapaxes(-1, -2) @ g2, b2_shape).reshape(b_shape)
        return ga, gb


@register(methods=("matmul", "__matmul__"))
def matmul(input, other, *, out=None) -> Tensor:  # noqa: A002 - PyTorch's names
    """Matrix product with NumPy's rules (1-D operands, batches, broadcast batch dims). Two
    tensors must have one dtype, as in PyTorch (a product does not promote: float32 @ float64
    or float32 @ int64 is a TypeError); a NumPy array is converted (to a floating tensor's
    dtype, as nerve's binary operations take arrays; PyTorch takes none), a list is refused."""
    result = _product("matmul", input, other)
    return result if out is None else write_out(out, result, "matmul")


def _product(who: str, input, other, name: str = "other") -> Tensor:  # noqa: A002
    if isinstance(input, Tensor) and isinstance(other, Tensor):
        same_dtype(input, other, who, name)
    a, b = promote(*operands(input, other, who))
    return MatMulFunction.apply(*(t if isinstance(t, Tensor) else as_array(t) for t in (a, b)))


def _check_ndim(who: str, ndim: int, *tensors) -> None:
    for name, t in zip(("input", "mat2"), tensors):
        if getattr(t, "ndim", None) != ndim:
            raise ValueError(f"{who}: expected {name} with {ndim} dimensions. Received: shape "
                             f"{getattr(t, 'shape', type(t).__name__)}")


@register
def mm(input, mat2) -> Tensor:  # noqa: A002 - PyTorch's names
    """The product of two matrices (2-D only, as ``torch.mm``)."""
    _check_ndim("mm", 2, input, mat2)
    return _product("mm", input, mat2, "mat2")


@register
def mv(input, vec) -> Tensor:  # noqa: A002 - PyTorch's names
    """The product of a matrix and a vector (2-D and 1-D, as ``torch.mv``)."""
    _check_ndim("mv", 2, input)
    if getattr(vec, "ndim", None) != 1:
        raise ValueError(f"mv: expected vec with 1 dimension. Received: shape "
                         f"{getattr(vec, 'shape', type(vec).__name__)}")
    return _product("mv", input, vec, "vec")


@register
def bmm(input, mat2) -> Tensor:  # noqa: A002 - PyTorch's names
    """Batched matrix product of (b, n, m) and (b, m, p) tensors (3-D only, as ``torch.bmm``)."""
    _check_ndim("bmm", 3, input, mat2)
    if input.shape[0] != mat2.shape[0]:
        raise ValueError(f"bmm: expected equal batch sizes. Received: shapes {input.shape} and "
                         f"{mat2.shape}")
    return _product("bmm", input, mat2, "mat2")


@register
def addmm(input, mat1, mat2, *, beta=1, alpha=1) -> Tensor:  # noqa: A002 - PyTorch's names
    """beta * input + alpha * (mat1 @ mat2), input broadcast to the product's shape (as
    ``torch.addmm``; beta=0 ignores input, NaN included). With integer matrices a float beta
    or alpha is truncated towards 0, as PyTorch's (alpha=0.5 acts as 0; the result stays an
    integer tensor)."""
    _check_ndim("addmm", 2, mat1, mat2)
    product = _product("addmm", mat1, mat2, "mat2")
    if isinstance(input, Tensor):
        same_dtype(product, input, "addmm", "input")
    if backend.broadcast_shapes(shape_of(input), product.shape) != product.shape:
        raise ValueError(f"addmm: expected input broadcastable to the product's shape "
                         f"{product.shape}. Received: shape {shape_of(input)}")
    if product.dtype.kind in "biu":
        beta, alpha = (int(v) if isinstance(v, float) else v for v in (beta, alpha))
    if alpha != 1:
        product = product * alpha
    if beta == 0:
        return product
    return product + (input if beta == 1 else input * beta)


def _rmatmul(self, other):
    return matmul(other, self)


register(_rmatmul, methods=("__rmatmul__",), public=False)


class LogicalFunction(Function):
    """y = a & b, a | b, a ^ b, ~a (bitwise on integers, logical on bools), or logical_and,
    logical_or, logical_xor, logical_not (of any dtype, as bools); not differentiable"""

    differentiable = False

    def forward(ctx, *args, op):
        xp = backend.array_module(next((a for a in args if hasattr(a, "dtype")), None))
        try:
            return getattr(xp, op)(*args)
        except ValueError:
            raise ValueError(f"{op}: shapes " + " and ".join(str(shape_of(a)) for a in args) +
                             " do not broadcast") from None


def _dtype_name(v) -> str:
    return str(v.dtype) if hasattr(v, "dtype") else type(v).__name__


def _logical(name: str, dunder: str | None = None, unary: bool = False):
    """Register ``nerve.<name>``, the method and, for the bitwise ones, the operator
    ``__<dunder>__`` (and ``__r<dunder>__``): PyTorch's type promotion, floats refused."""

    def op(input, other=None) -> Tensor:  # noqa: A002 - PyTorch's names
        if unary and other is not None:
            raise TypeError(f"{name}: expected one operand. Received: other={other!r}")
        args = (as_tensor(input),) if unary else operands(input, other, name)
        if name.startswith("bitwise"):
            if any(getattr(a, "dtype", None) is not None and a.dtype.kind not in "biu" or
                   type(a) is float for a in args):
                raise TypeError(f"{name}: expected bool or integer operands (PyTorch refuses "
                                f"floats too). Received: dtypes "
                                + " and ".join(_dtype_name(a) for a in args))
            args = args if unary else promote(*args)
        return LogicalFunction.apply(*args, op=name)

    def forward(self, other):
        return _unsupported(other, name) if coerce(other, self) is NotImplemented else \
            op(self, other)

    def reflected(self, other):
        return _unsupported(other, name) if coerce(other, self) is NotImplemented else \
            op(other, self)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"PyTorch's ``{name}``, element-wise: bool or integer results, no gradient."
    register(op)
    if dunder:
        setattr(Tensor, f"__{dunder}__", op if unary else forward)
        if not unary:
            setattr(Tensor, f"__r{dunder}__", reflected)
    return op


bitwise_and = _logical("bitwise_and", "and")
bitwise_or = _logical("bitwise_or", "or")
bitwise_xor = _logical("bitwise_xor", "xor")
bitwise_not = _logical("bitwise_not", "invert", unary=True)
logical_and = _logical("logical_and")
logical_or = _logical("logical_or")
logical_xor = _logical("logical_xor")
logical_not = _logical("logical_not", unary=True)
