"""Arithmetic with broadcasting: + - * / ** negation and matrix multiplication."""

from __future__ import annotations

from nerve import backend
from nerve.autograd import Tensor
from nerve.checks import as_array, as_tensor
from nerve.function import Function
from nerve.ops._common import binary, operands, register, shape_of, unbroadcast


class _BinaryFunction(Function):
    """A broadcasting binary operation; subclasses give ``compute_and_save`` and ``backward``."""

    def forward(ctx, a, b):
        try:
            out = ctx.compute_and_save(a, b)
        except ValueError:
            raise ValueError(f"{ctx.name()[:-8].lower()}: shapes {shape_of(a)} and "
                             f"{shape_of(b)} do not broadcast") from None
        ctx.a_shape = getattr(a, "shape", ())  # a Python number has the shape ()
        ctx.b_shape = getattr(b, "shape", ())
        return out


class AddFunction(_BinaryFunction):
    "y = a + b;  dy/da = 1, dy/db = 1 (each summed over the axes it was broadcast along)"

    def compute_and_save(ctx, a, b):
        return a + b

    def backward(ctx, g):
        na, nb = ctx.needs_input_grad
        return (unbroadcast(g, ctx.a_shape) if na else None,
                unbroadcast(g, ctx.b_shape) if nb else None)


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
        ctx.save_for_backward(a, b)
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
        ctx.save_for_backward(b, out)
        return out

    def backward(ctx, g):
        b, out = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        ga = g / b
        return (unbroadcast(ga, ctx.a_shape) if na else None,
                unbroadcast(-ga * out, ctx.b_shape) if nb else None)


div = binary(DivFunction, "div", "a / b, element-wise with broadcasting.", "truediv")


class PowFunction(_BinaryFunction):
    """y = a ** b;  dy/da = b a^(b-1), dy/db = y log(a)

    The gradient for b uses log(a), so it is defined where a > 0, and is 0 where a == 0 and
    b >= 0 (as in PyTorch); the gradient for a is 0 where b == 0 (0 ** 0 included).
    """

    def compute_and_save(ctx, a, b):
        out = a ** b
        ctx.save_for_backward(a, b, out)
        return out

    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        xp = backend.array_module(g)
        ga = gb = None
        with backend.errstate(divide="ignore", invalid="ignore"):
            if na:
                ga = g * b * a ** (b - 1)
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


def _any(mask) -> bool:
    """True if any element of a boolean array (or a Python bool) is true."""
    return bool(mask.any()) if hasattr(mask, "any") else bool(mask)


pow = binary(PowFunction, "pow", "a ** b, element-wise with broadcasting.")


class NegFunction(Function):
    "y = -x;  dy/dx = -1"

    def forward(ctx, x):
        return -x

    def backward(ctx, g):
        return -g


@register(methods=("neg", "__neg__"))
def neg(x) -> Tensor:
    """-x, element-wise."""
    return NegFunction.apply(as_tensor(x))


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
        ctx.save_for_backward(a, b)
        return out

    def backward(ctx, g):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        if a.ndim == 2 and b.ndim == 2:  # the common case, without reshapes
            return (g @ b.T if na else None), (a.T @ g if nb else None)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        batch = backend.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
        g2 = g.reshape(batch + (a2.shape[-2], b2.shape[-1]))
        ga = gb = None
        if na:
            ga = unbroadcast(g2 @ b2.swapaxes(-1, -2), a2.shape).reshape(a.shape)
        if nb:
            gb = unbroadcast(a2.swapaxes(-1, -2) @ g2, b2.shape).reshape(b.shape)
        return ga, gb


@register(methods=("matmul", "__matmul__"))
def matmul(a, b) -> Tensor:
    """Matrix product with NumPy's rules (1-D operands, batches, broadcast batch dims)."""
    a, b = operands(a, b, "matmul")
    return MatMulFunction.apply(*(t if isinstance(t, Tensor) else as_array(t) for t in (a, b)))


def _rmatmul(self, other):
    return matmul(other, self)


register(_rmatmul, methods=("__rmatmul__",), public=False)
