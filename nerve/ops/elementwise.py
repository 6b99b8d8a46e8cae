"""Element-wise functions: exp, log, sqrt, abs, tanh, sigmoid, relu, softplus, clip, maximum,
minimum, where, and the perceptron's step."""

from __future__ import annotations

import numpy as np

from nerve.function import Function
from nerve.ops._util import unbroadcast


class Exp(Function):
    def forward(ctx, x):
        ctx.out = np.exp(x)
        return ctx.out

    def backward(ctx, g):
        return g * ctx.out


class Log(Function):
    def forward(ctx, x):
        ctx.x = x
        return np.log(x)

    def backward(ctx, g):
        return g / ctx.x


class Sqrt(Function):
    def forward(ctx, x):
        ctx.out = np.sqrt(x)
        return ctx.out

    def backward(ctx, g):
        return g / (2 * ctx.out)


class Abs(Function):
    """|x|; its gradient at 0 is taken as 0, as in PyTorch."""

    def forward(ctx, x):
        ctx.x = x
        return np.abs(x)

    def backward(ctx, g):
        return g * np.sign(ctx.x)


class Tanh(Function):
    def forward(ctx, x):
        ctx.out = np.tanh(x)
        return ctx.out

    def backward(ctx, g):
        return g * (1 - ctx.out * ctx.out)


def sigmoid_array(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x) as e^-|x| / (1 + e^-|x|) for x < 0: no overflow, and small values keep
    their relative precision ((1 + tanh(x/2)) / 2 is 13x off at x = -20 in float32)."""
    e = np.exp(-np.abs(x))
    out = np.where(x >= 0, 1.0, e)  # always an ndarray, also for 0-d x
    out /= e + 1
    return out


class Sigmoid(Function):
    """1 / (1 + e^-x), stable and accurate for any x (see ``sigmoid_array``)."""

    def forward(ctx, x):
        ctx.out = sigmoid_array(x)
        return ctx.out

    def backward(ctx, g):
        return g * ctx.out * (1 - ctx.out)


class ReLU(Function):
    """max(0, x); its gradient at 0 is 0."""

    def forward(ctx, x):
        out = np.maximum(x, 0)
        ctx.out = out
        return out

    def backward(ctx, g):
        return g * (ctx.out > 0)


class Softplus(Function):
    """log(1 + e^x), computed stably as logaddexp(0, x); its slope is sigmoid(x)."""

    def forward(ctx, x):
        ctx.x = x
        return np.logaddexp(0, x).astype(x.dtype, copy=False)

    def backward(ctx, g):
        return g * sigmoid_array(ctx.x)


class LeakyReLU(Function):
    def forward(ctx, x, negative_slope=0.01):
        ctx.mask = x > 0
        ctx.slope = negative_slope
        return np.where(ctx.mask, x, x * negative_slope)

    def backward(ctx, g):
        return np.where(ctx.mask, g, g * ctx.slope)


class Clip(Function):
    """x limited to [min, max]; the gradient passes where min <= x <= max (PyTorch's clamp)."""

    def forward(ctx, x, lo=None, hi=None):
        if lo is None and hi is None:
            raise ValueError("clip: give at least one of min and max")
        ctx.x, ctx.lo, ctx.hi = x, lo, hi
        return np.clip(x, lo, hi)

    def backward(ctx, g):
        x = ctx.x
        inside = np.ones(x.shape, dtype=bool)
        if ctx.lo is not None:
            inside &= x >= ctx.lo
        if ctx.hi is not None:
            inside &= x <= ctx.hi
        return g * inside


class _Extremum(Function):
    """Element-wise max/min of two operands; a tie shares the gradient equally."""

    pick = staticmethod(np.maximum)
    name = "maximum"

    def forward(ctx, a, b):
        try:
            out = ctx.pick(a, b)
        except ValueError:
            raise ValueError(
                f"{ctx.name}: shapes {np.shape(a)} and {np.shape(b)} do not broadcast"
            ) from None
        ctx.a, ctx.b, ctx.out = a, b, out
        return out

    def backward(ctx, g):
        na, nb = ctx.needs_input_grad
        wa = (ctx.a == ctx.out).astype(g.dtype)
        wb = (ctx.b == ctx.out).astype(g.dtype)
        tie = wa * wb
        wa -= 0.5 * tie
        wb -= 0.5 * tie
        return (unbroadcast(g * wa, np.shape(ctx.a)) if na else None,
                unbroadcast(g * wb, np.shape(ctx.b)) if nb else None)


class Maximum(_Extremum):
    pass


class Minimum(_Extremum):
    pick = staticmethod(np.minimum)
    name = "minimum"


class Where(Function):
    """Pick from a where cond is true, else from b; cond carries no gradient."""

    def forward(ctx, cond, a, b):
        cond = np.asarray(cond, dtype=bool)
        try:
            out = np.where(cond, a, b)
        except ValueError:
            raise ValueError(f"where: shapes {cond.shape}, {np.shape(a)} and {np.shape(b)} "
                             "do not broadcast") from None
        ctx.cond, ctx.a_shape, ctx.b_shape = cond, np.shape(a), np.shape(b)
        return out

    def backward(ctx, g):
        _, na, nb = ctx.needs_input_grad
        zero = np.zeros((), g.dtype)
        return (None,
                unbroadcast(np.where(ctx.cond, g, zero), ctx.a_shape) if na else None,
                unbroadcast(np.where(ctx.cond, zero, g), ctx.b_shape) if nb else None)


class Step(Function):
    """The perceptron's threshold: 1 where x > threshold, else 0.

    Its true derivative is 0 everywhere except at the threshold, where it is undefined, so its
    gradient is declared to be zero: nothing learns through a step by backpropagation, which is
    why Rosenblatt's perceptron uses its own learning rule and MLPs use sigmoid neurons.
    """

    def forward(ctx, x, threshold=0.0):
        ctx.shape = x.shape
        return (x > threshold).astype(x.dtype if x.dtype.kind == "f" else np.float32)

    def backward(ctx, g):
        return np.zeros(ctx.shape, g.dtype)
