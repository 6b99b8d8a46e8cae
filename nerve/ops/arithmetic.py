"""Arithmetic with NumPy broadcasting: + - * / ** negation and matrix multiplication."""

from __future__ import annotations

import numpy as np

from nerve.function import Function
from nerve.ops._util import unbroadcast


class _Binary(Function):
    """A broadcasting binary operation; subclasses give ``compute`` and ``backward``."""

    name = "binary"

    def forward(ctx, a, b):
        try:
            out = ctx.compute(a, b)
        except ValueError:
            raise ValueError(
                f"{ctx.name}: shapes {np.shape(a)} and {np.shape(b)} do not broadcast"
            ) from None
        ctx.a_shape, ctx.b_shape = np.shape(a), np.shape(b)
        return out


class Add(_Binary):
    name = "add"
    compute = staticmethod(np.add)

    def backward(ctx, g):
        na, nb = ctx.needs_input_grad
        return (unbroadcast(g, ctx.a_shape) if na else None,
                unbroadcast(g, ctx.b_shape) if nb else None)


class Sub(_Binary):
    name = "sub"
    compute = staticmethod(np.subtract)

    def backward(ctx, g):
        na, nb = ctx.needs_input_grad
        return (unbroadcast(g, ctx.a_shape) if na else None,
                unbroadcast(-g, ctx.b_shape) if nb else None)


class Mul(_Binary):
    name = "mul"

    def compute(ctx, a, b):
        ctx.a, ctx.b = a, b
        return a * b

    def backward(ctx, g):
        na, nb = ctx.needs_input_grad
        return (unbroadcast(g * ctx.b, ctx.a_shape) if na else None,
                unbroadcast(g * ctx.a, ctx.b_shape) if nb else None)


class Div(_Binary):
    name = "div"

    def compute(ctx, a, b):
        ctx.b = b
        ctx.out = a / b
        return ctx.out

    def backward(ctx, g):
        na, nb = ctx.needs_input_grad
        ga = g / ctx.b
        return (unbroadcast(ga, ctx.a_shape) if na else None,
                unbroadcast(-ga * ctx.out, ctx.b_shape) if nb else None)


class Pow(_Binary):
    """a ** b; the gradient for b uses log(a), so it is defined where a > 0, and is 0 where
    a == 0 and b >= 0 (as in PyTorch); the gradient for a is 0 where b == 0 (0 ** 0 included)."""

    name = "pow"

    def compute(ctx, a, b):
        ctx.a, ctx.b = a, b
        ctx.out = a ** b
        return ctx.out

    def backward(ctx, g):
        na, nb = ctx.needs_input_grad
        a, b = ctx.a, ctx.b
        ga = gb = None
        with np.errstate(divide="ignore", invalid="ignore"):
            if na:
                ga = g * b * a ** (b - 1)
                if np.any(b == 0):  # 0 * inf at a == 0 would give nan
                    ga = np.where(b == 0, 0, ga)
                ga = unbroadcast(ga, ctx.a_shape)
            if nb:
                gb = g * ctx.out * np.log(a)
                zero_base = (a == 0) & (b >= 0)
                if np.any(zero_base):  # 0 * -inf would give nan
                    gb = np.where(zero_base, 0, gb)
                gb = unbroadcast(gb, ctx.b_shape)
        return ga, gb


class Neg(Function):
    def forward(ctx, a):
        return -a

    def backward(ctx, g):
        return -g


class MatMul(Function):
    """Matrix product with NumPy's rules: 1-D operands, batches and batch broadcasting."""

    def forward(ctx, a, b):
        a, b = np.asarray(a), np.asarray(b)
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
        ctx.a, ctx.b = a, b
        return out

    def backward(ctx, g):
        a, b = ctx.a, ctx.b
        na, nb = ctx.needs_input_grad
        if a.ndim == 2 and b.ndim == 2:  # the common case, without reshapes
            return (g @ b.T if na else None), (a.T @ g if nb else None)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
        g2 = g.reshape(batch + (a2.shape[-2], b2.shape[-1]))
        ga = gb = None
        if na:
            ga = unbroadcast(g2 @ np.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
        if nb:
            gb = unbroadcast(np.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(b.shape)
        return ga, gb


class Linear(Function):
    """x @ weight.T + bias in one node (PyTorch's layout: weight is (out, in))."""

    def forward(ctx, x, weight, bias=None):
        if weight.ndim != 2 or x.ndim == 0:
            raise ValueError(f"linear: needs an input of at least 1-D and a 2-D weight "
                             f"(out_features, in_features), got shapes {x.shape} and "
                             f"{weight.shape}")
        if x.shape[-1] != weight.shape[1]:
            raise ValueError(f"linear: input has {x.shape[-1]} features (shape {x.shape}), "
                             f"weight expects {weight.shape[1]} (weight shape {weight.shape})")
        ctx.x, ctx.weight = x, weight
        out = x @ weight.T
        if bias is not None:
            out += bias
        return out

    def backward(ctx, g):
        nx, nw = ctx.needs_input_grad[:2]
        nb = len(ctx.needs_input_grad) > 2 and ctx.needs_input_grad[2]
        x, w = ctx.x, ctx.weight
        gx = (g @ w) if nx else None
        gw = gb = None
        if nw or nb:
            g2 = g.reshape(-1, g.shape[-1])
            if nw:
                gw = g2.T @ x.reshape(-1, x.shape[-1])
            if nb:
                gb = g2.sum(axis=0)
        return gx, gw, gb
