"""Element-wise functions: exp, log, sqrt, abs, tanh, sigmoid, relu, softplus, leaky_relu, clip,
maximum, minimum, where, and the perceptron's step; the roundings; then PyTorch's others (log2,
exp2, rsqrt, the hyperbolic and inverse trigonometric functions, atan2, erfc, logit, xlogy,
hypot, lerp, isnan, nan_to_num, clamp_min...)."""

from __future__ import annotations

import math

from nerve import backend
from nerve.autograd import Tensor
from nerve.checks import as_array, as_tensor, check_number, message
from nerve.function import Function
from nerve.ops._common import (
    binary,
    coerce,
    normalize_axis,
    operands,
    promote,
    register,
    shape_of,
    unbroadcast,
)


def _floating(x):
    """An array of integers or bools in the default float dtype (else ``x``): PyTorch's exp,
    log, sqrt... of an int tensor give float32, where NumPy gives float64 (float16 for bools).
    Inside the operation, so that the ONNX tracer sees the operation's own input."""
    return x.astype(backend.get_default_dtype()) if x.dtype.kind in "biu" else x


class _UnaryFunction(Function):
    """y = the array module's function ``kind`` (or ``compute``) of x in a floating dtype;
    x is saved for backward, or y where ``keep_output``."""

    kind, keep_output = "", False

    def compute(ctx, x):
        return getattr(backend.array_module(x), ctx.kind)(x)

    def forward(ctx, x):
        x = _floating(x)
        out = ctx.compute(x)
        ctx.save_for_backward(out if ctx.keep_output else x)
        return out


def _unary(fn: type, name: str, doc: str, **options):
    """Register ``nerve.<name>(input)`` and the method: the Function ``fn`` on input."""

    def op(input) -> Tensor:
        return fn.apply(as_tensor(input), **options)

    op.__name__, op.__qualname__, op.__doc__ = name, name, doc
    return register(op)


class ExpFunction(Function):
    "y = e^x;  dy/dx = y"

    def forward(ctx, x):
        x = _floating(x)
        out = backend.array_module(x).exp(x)
        ctx.save_for_backward(out)
        return out

    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * out


@register
def exp(input) -> Tensor:
    """e^x, element-wise."""
    return ExpFunction.apply(as_tensor(input))


class Expm1Function(_UnaryFunction):
    "y = e^x - 1 (exact near 0);  dy/dx = y + 1"

    kind, keep_output = "expm1", True

    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * (out + 1)


expm1 = _unary(Expm1Function, "expm1", "e^x - 1, element-wise, without the rounding of "
               "exp(x) - 1 near 0.")


class Log1pFunction(_UnaryFunction):
    "y = ln(1 + x) (exact near 0);  dy/dx = 1 / (1 + x)"

    kind = "log1p"

    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g / (x + 1)


log1p = _unary(Log1pFunction, "log1p", "ln(1 + x), element-wise, without the rounding of "
               "log(1 + x) near 0.")


class ErfFunction(_UnaryFunction):
    "y = erf(x) = 2 / sqrt(pi) (the integral of e^-t^2 from 0 to x);  dy/dx = 2 / sqrt(pi) e^-x^2"

    compute = staticmethod(backend.erf)

    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (backend.array_module(x).exp(-x * x) * (2 / math.sqrt(math.pi)))


erf = _unary(ErfFunction, "erf", "The error function, element-wise (GELU's Gaussian CDF is "
             "(1 + erf(x / sqrt 2)) / 2).")


class LogFunction(Function):
    "y = ln(x);  dy/dx = 1 / x"

    def forward(ctx, x):
        x = _floating(x)
        ctx.save_for_backward(x)
        return backend.array_module(x).log(x)

    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g / x


@register
def log(input) -> Tensor:
    """The natural logarithm, element-wise."""
    return LogFunction.apply(as_tensor(input))


class SqrtFunction(Function):
    "y = sqrt(x);  dy/dx = 1 / (2 y)"

    def forward(ctx, x):
        x = _floating(x)
        out = backend.array_module(x).sqrt(x)
        ctx.save_for_backward(out)
        return out

    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g / (2 * out)


@register
def sqrt(input) -> Tensor:
    """The square root, element-wise."""
    return SqrtFunction.apply(as_tensor(input))


class AbsFunction(Function):
    "y = |x|;  dy/dx = sign(x) (0 at x = 0, as in PyTorch)"

    def forward(ctx, x):
        ctx.save_for_backward(x)
        return backend.array_module(x).abs(x)

    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * backend.array_module(x).sign(x)


@register(methods=("abs", "__abs__"))
def abs(input) -> Tensor:  # noqa: A001 - nerve.abs, as numpy.abs and torch.abs
    """|x|, element-wise."""
    return AbsFunction.apply(as_tensor(input))


class SinFunction(Function):
    "y = sin(x);  dy/dx = cos(x)"

    def forward(ctx, x):
        x = _floating(x)
        ctx.save_for_backward(x)
        return backend.array_module(x).sin(x)

    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * backend.array_module(x).cos(x)


@register
def sin(input) -> Tensor:
    """The sine, element-wise (radians)."""
    return SinFunction.apply(as_tensor(input))


class CosFunction(Function):
    "y = cos(x);  dy/dx = -sin(x)"

    def forward(ctx, x):
        x = _floating(x)
        ctx.save_for_backward(x)
        return backend.array_module(x).cos(x)

    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return -g * backend.array_module(x).sin(x)


@register
def cos(input) -> Tensor:
    """The cosine, element-wise (radians)."""
    return CosFunction.apply(as_tensor(input))


class TanhFunction(Function):
    "y = tanh(x) = (e^x - e^-x) / (e^x + e^-x);  dy/dx = 1 - y^2"

    @staticmethod
    def compute(x):
        return backend.array_module(x).tanh(x)

    def forward(ctx, x):
        x = _floating(x)
        out = ctx.compute(x)
        ctx.save_for_backward(out)
        return out

    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * (1 - out * out)


@register
def tanh(input) -> Tensor:
    """The hyperbolic tangent, between -1 and 1."""
    return TanhFunction.apply(as_tensor(input))


def sigmoid_array(x):
    """1 / (1 + e^-x) as e^-|x| / (1 + e^-|x|) for x < 0: no overflow, and small values keep
    their relative precision ((1 + tanh(x/2)) / 2 is 13x off at x = -20 in float32)."""
    xp = backend.array_module(x)
    e = xp.exp(-xp.abs(x))
    out = xp.where(x >= 0, xp.ones((), e.dtype), e)  # always an array, also for 0-d x
    out /= e + 1
    return out


class SigmoidFunction(Function):
    "y = 1 / (1 + e^-x);  dy/dx = y (1 - y)"

    compute = staticmethod(sigmoid_array)

    def forward(ctx, x):
        x = _floating(x)
        out = ctx.compute(x)
        ctx.save_for_backward(out)
        return out

    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * out * (1 - out)


@register
def sigmoid(input) -> Tensor:
    """1 / (1 + e^-x), the sigmoid neuron's activation, between 0 and 1 (stable for any x)."""
    return SigmoidFunction.apply(as_tensor(input))


class ReLUFunction(Function):
    "y = max(0, x);  dy/dx = 1 where x > 0, else 0"

    @staticmethod
    def compute(x):
        return backend.array_module(x).maximum(x, backend.zeros_as(x))

    def forward(ctx, x):
        out = ctx.compute(x)
        ctx.save_for_backward(out)
        return out

    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * (out > 0)


@register
def relu(input) -> Tensor:
    """max(0, x), the rectified linear unit."""
    return ReLUFunction.apply(as_tensor(input))


class SoftplusFunction(Function):
    "y = ln(1 + e^x);  dy/dx = sigmoid(x)"

    def forward(ctx, x):
        x = _floating(x)
        ctx.save_for_backward(x)
        return backend.array_module(x).logaddexp(0, x).astype(x.dtype, copy=False)

    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * sigmoid_array(x)


@register
def softplus(input) -> Tensor:
    """ln(1 + e^x), a smooth ReLU (computed stably as logaddexp(0, x))."""
    return SoftplusFunction.apply(as_tensor(input))


class LeakyReLUFunction(Function):
    "y = x where x > 0, else negative_slope * x;  dy/dx = 1 where x > 0, else negative_slope"

    def forward(ctx, x, *, negative_slope=0.01):
        mask = x > 0
        ctx.save_for_backward(mask)
        return backend.array_module(x).where(mask, x, x * negative_slope)

    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        return backend.array_module(g).where(mask, g, g * ctx.options["negative_slope"])


@register
def leaky_relu(input, negative_slope: float = 0.01) -> Tensor:
    """x where x > 0, else negative_slope * x."""
    check_number(negative_slope, "negative_slope", "leaky_relu")
    return LeakyReLUFunction.apply(as_tensor(input), negative_slope=float(negative_slope))


class ClipFunction(Function):
    "y = min(max(x, min), max);  dy/dx = 1 where min <= x <= max, else 0 (PyTorch's clamp)"

    def forward(ctx, x, *, min=None, max=None):  # noqa: A002 - PyTorch's names
        if min is None and max is None:
            raise ValueError("clip: give at least one of min and max")
        ctx.save_for_backward(x)
        return backend.array_module(x).clip(x, min, max)

    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        low, high = ctx.options.get("min"), ctx.options.get("max")
        inside = (True if low is None else x >= low) & (True if high is None else x <= high)
        return unbroadcast(g * inside, x.shape)  # an array bound may broadcast x


class ClampFunction(Function):
    """y = min(max(x, lo), hi) for tensor bounds lo, hi;  dy/dx = 1 where lo <= x <= hi,
    dy/dlo = 1 where x < lo (and lo < hi), dy/dhi = 1 where x > hi (or hi < lo), else 0;
    each summed to its operand's shape (PyTorch's clamp; a bound may be None)"""

    def forward(ctx, x, low, high):
        try:
            out = backend.array_module(x).clip(x, low, high)
        except ValueError:
            raise ValueError("clamp: shapes " + " and ".join(str(shape_of(v)) for v in
                             (x, low, high) if v is not None) + " do not broadcast") from None
        ctx.save_for_backward(x, low, high)
        return out

    def backward(ctx, g):
        x, low, high = ctx.saved_tensors
        xp = backend.array_module(g)
        below = False if low is None else x < low
        above = False if high is None else x > high
        if low is not None and high is not None:  # lo > hi: y = hi, whose gradient it is
            below, above = below & (low < high), above | (high < low)
        inside = (True if low is None else x >= low) & (True if high is None else x <= high)
        return tuple(unbroadcast(xp.where(mask, g, xp.zeros((), g.dtype)), shape_of(v))
                     if need else None for mask, v, need in
                     zip((inside, below, above), (x, low, high), ctx.needs_input_grad))


@register(methods=("clip", "clamp"))
def clip(input, min=None, max=None) -> Tensor:  # noqa: A002 - PyTorch's names
    """Limit x to [min, max] (PyTorch's ``clamp``). Tensor bounds get gradients, and the
    result follows PyTorch's type promotion; numbers and arrays take x's dtype."""
    x = as_tensor(input)
    bounds = [b if b is None or isinstance(b, Tensor) else coerce(b, x) for b in (min, max)]
    if any(b is NotImplemented for b in bounds):
        raise TypeError(f"clip: expected numbers, arrays or Tensors as bounds. Received: "
                        f"min of type {type(min).__name__}, max of type {type(max).__name__}")
    if not (isinstance(min, Tensor) or isinstance(max, Tensor)):
        return ClipFunction.apply(x, min=bounds[0], max=bounds[1])
    for i, b in enumerate(bounds):  # tensor bounds: inputs of the operation, as in PyTorch
        if b is not None:
            x, bounds[i] = promote(x, b)
    return ClampFunction.apply(x, *bounds)


@register(methods=())
def clamp(input, min=None, max=None) -> Tensor:  # noqa: A002 - PyTorch's names
    """PyTorch's name for :func:`clip`."""
    return clip(input, min, max)


class _ExtremumFunction(Function):
    """Element-wise max/min of two operands; a tie shares the gradient equally."""

    def forward(ctx, a, b):
        try:
            out = ctx.pick(backend.array_module(a if hasattr(a, "dtype") else b), a, b)
        except ValueError:
            raise ValueError(f"{ctx.name()[:-8].lower()}: shapes {shape_of(a)} and "
                             f"{shape_of(b)} do not broadcast") from None
        ctx.save_for_backward(a, b, out)
        return out

    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        wa = (a == out).astype(g.dtype)
        wb = (b == out).astype(g.dtype)
        tie = wa * wb
        wa -= 0.5 * tie
        wb -= 0.5 * tie
        return (unbroadcast(g * wa, shape_of(a)) if na else None,
                unbroadcast(g * wb, shape_of(b)) if nb else None)


class MaximumFunction(_ExtremumFunction):
    "y = max(a, b);  dy/da = 1 where a > b, 1/2 where a == b, else 0 (and dy/db alike)"

    @staticmethod
    def pick(xp, a, b):
        return xp.maximum(a, b)


maximum = binary(MaximumFunction, "maximum", "The element-wise larger of a and b.",
                 operator=False)


class MinimumFunction(_ExtremumFunction):
    "y = min(a, b);  dy/da = 1 where a < b, 1/2 where a == b, else 0 (and dy/db alike)"

    @staticmethod
    def pick(xp, a, b):
        return xp.minimum(a, b)


minimum = binary(MinimumFunction, "minimum", "The element-wise smaller of a and b.",
                 operator=False)


class WhereFunction(Function):
    "y = a where cond, else b;  dy/da = cond, dy/db = not cond (cond carries no gradient)"

    def forward(ctx, cond, a, b):
        xp = backend.array_module(a if hasattr(a, "dtype") else b)
        cond = xp.asarray(cond, dtype=bool)
        try:
            out = xp.where(cond, a, b)
        except ValueError:
            raise ValueError(f"where: shapes {cond.shape}, {shape_of(a)} and {shape_of(b)} "
                             "do not broadcast") from None
        ctx.save_for_backward(cond)
        ctx.a_shape, ctx.b_shape = shape_of(a), shape_of(b)
        return out

    def backward(ctx, g):
        (cond,) = ctx.saved_tensors
        _, na, nb = ctx.needs_input_grad
        xp = backend.array_module(g)
        zero = xp.zeros((), g.dtype)
        return (None,
                unbroadcast(xp.where(cond, g, zero), ctx.a_shape) if na else None,
                unbroadcast(xp.where(cond, zero, g), ctx.b_shape) if nb else None)


@register(methods=())
def where(condition, input, other) -> Tensor:  # noqa: A002 - PyTorch's names
    """Element-wise ``input if condition else other``; condition is a boolean tensor or array."""
    cond = as_array(condition)
    if cond.dtype.kind != "b":
        raise TypeError(message("where", "a boolean condition", "condition.dtype",
                                str(cond.dtype)))
    return WhereFunction.apply(cond, *promote(*operands(input, other, "where")))


class StepFunction(Function):
    """y = 1 where x > threshold, else 0;  dy/dx = 0

    The perceptron's threshold. Its true derivative is 0 everywhere except at the threshold,
    where it is undefined, so its gradient is declared to be zero: nothing learns through a
    step by backpropagation, which is why Rosenblatt's perceptron uses its own learning rule
    and MLPs use sigmoid neurons.
    """

    def forward(ctx, x, *, threshold=0.0):
        ctx.shape = x.shape
        return (x > threshold).astype(x.dtype if x.dtype.kind == "f" else backend.float32)

    def backward(ctx, g):
        return backend.array_module(g).zeros(ctx.shape, g.dtype)


@register
def step(input, threshold: float = 0.0) -> Tensor:
    """The perceptron's activation: 1 where x > threshold, else 0. Its gradient is zero."""
    check_number(threshold, "threshold", "step")
    return StepFunction.apply(as_tensor(input), threshold=threshold)


class _PiecewiseConstantFunction(Function):
    "y = a rounding of x (round, floor, ceil, sign);  dy/dx = 0 (it is flat almost everywhere)"

    def forward(ctx, x, *, kind):
        ctx.shape = x.shape
        return getattr(backend.array_module(x), kind)(x)

    def backward(ctx, g):
        return backend.array_module(g).zeros(ctx.shape, g.dtype)

    def name(self) -> str:  # RoundBackward, FloorBackward, ... as PyTorch names them
        kind = self.options.get("kind", "rint")
        return ("Round" if kind == "rint" else kind.capitalize()) + "Backward"


def _piecewise(kind: str, doc: str):
    def op(input) -> Tensor:
        x = as_tensor(input)
        if x.dtype.kind in "iu" and kind == "rint":  # NumPy's rint gives floats; torch keeps ints
            return Tensor._wrap(x._data.copy())
        if x.dtype.kind != "f":
            return Tensor._wrap(getattr(backend.array_module(x._data), kind)(x._data))
        return _PiecewiseConstantFunction.apply(x, kind=kind)

    op.__name__ = op.__qualname__ = "round" if kind == "rint" else kind
    op.__doc__ = doc
    return register(op)


round = _piecewise("rint", "Round to the nearest integer, halves to even (as torch.round); "
                   "gradient zero.")  # noqa: A001
floor = _piecewise("floor", "The largest integer <= x, element-wise; gradient zero.")
ceil = _piecewise("ceil", "The smallest integer >= x, element-wise; gradient zero.")
sign = _piecewise("sign", "-1, 0 or 1 by the sign of x, element-wise; gradient zero.")
trunc = _piecewise("trunc", "x rounded towards zero, element-wise; gradient zero.")


# --- more element-wise functions, as PyTorch's -------------------------------------------------
def _reduced(ctx, grads, operands) -> tuple:
    """Each needed gradient summed to its operand's shape (undoing broadcasting), else None."""
    return tuple(unbroadcast(g, shape_of(v)) if need else None
                 for g, v, need in zip(grads, operands, ctx.needs_input_grad))


def _broadcast(who: str, fn, *args):
    """fn(*args), with a ValueError naming the shapes where they do not broadcast."""
    try:
        return fn(*args)
    except ValueError:
        raise ValueError(f"{who}: shapes " + " and ".join(str(shape_of(a)) for a in args) +
                         " do not broadcast") from None


class Log2Function(_UnaryFunction):
    "y = log2(x);  dy/dx = 1 / (x ln 2)"

    kind = "log2"

    def backward(ctx, g):
        return g / (ctx.saved_tensors[0] * math.log(2))


log2 = _unary(Log2Function, "log2", "The base-2 logarithm, element-wise.")


class Log10Function(_UnaryFunction):
    "y = log10(x);  dy/dx = 1 / (x ln 10)"

    kind = "log10"

    def backward(ctx, g):
        return g / (ctx.saved_tensors[0] * math.log(10))


log10 = _unary(Log10Function, "log10", "The base-10 logarithm, element-wise.")


class Exp2Function(_UnaryFunction):
    "y = 2^x;  dy/dx = y ln 2"

    kind, keep_output = "exp2", True

    def backward(ctx, g):
        return g * (ctx.saved_tensors[0] * math.log(2))


exp2 = _unary(Exp2Function, "exp2", "2^x, element-wise.")


class RsqrtFunction(_UnaryFunction):
    "y = 1 / sqrt(x);  dy/dx = -y^3 / 2 (-inf at x = 0, as PyTorch)"

    keep_output = True

    @staticmethod
    def compute(x):
        return 1 / backend.array_module(x).sqrt(x)

    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * (out * out * out * -0.5)


rsqrt = _unary(RsqrtFunction, "rsqrt", "1 / sqrt(x), element-wise.")


class ReciprocalFunction(_UnaryFunction):
    "y = 1 / x;  dy/dx = -y^2"

    kind, keep_output = "reciprocal", True

    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * -(out * out)


reciprocal = _unary(ReciprocalFunction, "reciprocal", "1 / x, element-wise (int x: floats).")


class SquareFunction(Function):
    "y = x^2;  dy/dx = 2 x (integers stay integers, bools give int64, as in PyTorch)"

    def forward(ctx, x):
        x = x.astype(backend.int64) if x.dtype.kind == "b" else x
        ctx.save_for_backward(x)
        return x * x

    def backward(ctx, g):
        return g * (2 * ctx.saved_tensors[0])


square = _unary(SquareFunction, "square", "x * x, element-wise.")


class FracFunction(Function):
    "y = x - trunc(x), the fractional part with x's sign;  dy/dx = 1"

    def forward(ctx, x):
        return x - backend.array_module(x).trunc(x)

    def backward(ctx, g):
        return g


@register
def frac(input) -> Tensor:
    """The fractional part x - trunc(x), element-wise, with x's sign (floats only, as torch)."""
    x = as_tensor(input)
    if x.dtype.kind != "f":
        raise TypeError(message("frac", "a floating-point tensor", "input.dtype", str(x.dtype)))
    return FracFunction.apply(x)


class SinhFunction(_UnaryFunction):
    "y = sinh(x);  dy/dx = cosh(x)"

    kind = "sinh"

    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * backend.array_module(x).cosh(x)


sinh = _unary(SinhFunction, "sinh", "The hyperbolic sine, element-wise.")


class CoshFunction(_UnaryFunction):
    "y = cosh(x);  dy/dx = sinh(x)"

    kind = "cosh"

    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * backend.array_module(x).sinh(x)


cosh = _unary(CoshFunction, "cosh", "The hyperbolic cosine, element-wise.")


class AsinFunction(_UnaryFunction):
    "y = asin(x);  dy/dx = 1 / sqrt(1 - x^2) (inf at |x| = 1, NaN beyond, as PyTorch)"

    kind = "arcsin"

    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g / backend.array_module(x).sqrt(1 - x * x)


asin = _unary(AsinFunction, "asin", "The inverse sine, element-wise (NaN outside [-1, 1]).")


class AcosFunction(_UnaryFunction):
    "y = acos(x);  dy/dx = -1 / sqrt(1 - x^2) (-inf at |x| = 1, NaN beyond, as PyTorch)"

    kind = "arccos"

    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return -g / backend.array_module(x).sqrt(1 - x * x)


acos = _unary(AcosFunction, "acos", "The inverse cosine, element-wise (NaN outside [-1, 1]).")


class AtanFunction(_UnaryFunction):
    "y = atan(x);  dy/dx = 1 / (1 + x^2)"

    kind = "arctan"

    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g / (1 + x * x)


atan = _unary(AtanFunction, "atan", "The inverse tangent, element-wise, in (-pi/2, pi/2).")


class ErfcFunction(_UnaryFunction):
    "y = erfc(x) = 1 - erf(x);  dy/dx = -2 / sqrt(pi) e^-x^2"

    compute = staticmethod(backend.erfc)

    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (backend.array_module(x).exp(-x * x) * (-2 / math.sqrt(math.pi)))


erfc = _unary(ErfcFunction, "erfc", "1 - erf(x), element-wise, exact where erf(x) is near 1.")


class LogitFunction(Function):
    """y = ln(z / (1 - z)), z = x clamped to [eps, 1 - eps] (z = x without eps);
    dy/dx = 1 / (x (1 - x)) inside those bounds (inf at 0 and 1), outside them 0 with eps and
    NaN without it (as PyTorch)"""

    def forward(ctx, x, *, eps=None):
        x = _floating(x)
        xp = backend.array_module(x)
        ctx.save_for_backward(x)
        z = x if eps is None else xp.where(x < eps, eps, xp.where(x > 1 - eps, 1 - eps, x))
        return xp.log(z / (1 - z))

    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        eps = ctx.options.get("eps")
        low, high = (0, 1) if eps is None else (eps, 1 - eps)
        xp = backend.array_module(x)
        return xp.where((x < low) | (x > high), math.nan if eps is None else 0,
                        g / xp.abs(x * (1 - x)))  # abs: 1 / +0 at x = -0 too


@register
def logit(input, eps=None) -> Tensor:
    """ln(x / (1 - x)), the inverse of sigmoid; x is first clamped to [eps, 1 - eps] where eps
    is given (a negative eps, as None: PyTorch's reading)."""
    eps = None if eps is None else check_number(eps, "eps", "logit")
    return LogitFunction.apply(as_tensor(input), eps=None if eps is None or eps < 0 else eps)


class Atan2Function(Function):
    """y = atan2(a, b), the angle of the point (b, a);  dy/da = b / (a^2 + b^2),
    dy/db = -a / (a^2 + b^2) (both 0 at (0, 0), as PyTorch)"""

    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _broadcast("atan2", backend.array_module(a if hasattr(a, "dtype") else b).arctan2,
                          a, b)

    def backward(ctx, g):
        a, b = ctx.saved_tensors
        d = a * a + b * b
        r = g / backend.array_module(g).where(d == 0, math.inf, d)
        return _reduced(ctx, (r * b, -r * a), (a, b))


atan2 = binary(Atan2Function, "atan2", "The angle of the point (other, input), element-wise, "
               "in [-pi, pi].", operator=False, true_division=True)


class HypotFunction(Function):
    "y = sqrt(a^2 + b^2);  dy/da = a / y, dy/db = b / y (NaN at (0, 0), as PyTorch)"

    def forward(ctx, a, b):
        out = _broadcast("hypot", backend.array_module(a if hasattr(a, "dtype") else b).hypot,
                         a, b)
        ctx.save_for_backward(a, b, out)
        return out

    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        r = g / out
        return _reduced(ctx, (r * a, r * b), (a, b))


hypot = binary(HypotFunction, "hypot", "sqrt(input^2 + other^2), element-wise.",
               operator=False, true_division=True)


def _xlogy(x, y):
    """x ln y, 0 where x == 0 unless y is NaN (PyTorch's xlogy), on arrays (y an array)."""
    xp = backend.array_module(y)
    with backend.errstate(divide="ignore", invalid="ignore"):  # ln 0, 0 ln 0: replaced
        return xp.where((x == 0) & (y == y), 0, x * xp.log(y))


class XlogyFunction(Function):
    """y = a ln b, 0 where a == 0 unless b is NaN;  dy/da = ln b (0 where a == 0 and b <= 0),
    dy/db = a / b (as PyTorch)"""

    def forward(ctx, a, b):
        if not hasattr(b, "dtype"):  # ln of a Python number would be a float64 NumPy scalar
            b = backend.array_module(a).asarray(b, dtype=a.dtype)
        ctx.save_for_backward(a, b)
        return _broadcast("xlogy", _xlogy, a, b)

    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ga = backend.array_module(b).where((a == 0) & (b <= 0), 0, _xlogy(g, b))
        return _reduced(ctx, (ga, g * a / b), (a, b))


xlogy = binary(XlogyFunction, "xlogy", "input * ln(other), element-wise, 0 where input == 0 "
               "(unless other is NaN).", operator=False, true_division=True)


class LerpFunction(Function):
    """y = a + w (b - a) (as b - (b - a)(1 - w) where |w| >= 1/2, as PyTorch's);
    dy/da = 1 - w, dy/db = w, dy/dw = b - a; each summed to its operand's shape"""

    def forward(ctx, a, b, w):
        ctx.save_for_backward(a, b, w)
        return _broadcast("lerp", ctx.compute, a, b, w)

    @staticmethod
    def compute(a, b, w):
        d, small = b - a, w * w < 0.25
        if type(small) is bool:  # w a Python number (CuPy's where takes arrays only)
            return a + w * d if small else b - d * (1 - w)
        return backend.array_module(d).where(small, a + w * d, b - d * (1 - w))

    def backward(ctx, g):
        a, b, w = ctx.saved_tensors
        return _reduced(ctx, (g * (1 - w), g * w, g * (b - a)), (a, b, w))


@register
def lerp(input, end, weight) -> Tensor:
    """input + weight (end - input), element-wise; weight a number or a tensor (with gradient)."""
    x, e = promote(*operands(as_tensor(input), end, "lerp"), True)
    if isinstance(weight, Tensor) and weight.ndim and weight.dtype.kind == "f" and \
            weight.dtype != x.dtype:  # (a 0-d weight takes x's dtype, as in PyTorch)
        raise TypeError(message("lerp", f"a weight of the input's dtype {x.dtype} (as PyTorch)",
                                "weight.dtype", weight.dtype))  # not cast down, silently
    w = weight.to(x.dtype) if isinstance(weight, Tensor) else coerce(weight, x)
    if w is NotImplemented:
        raise TypeError(message("lerp", "a number, an array or a Tensor", "weight", weight))
    return LerpFunction.apply(x, e, w)


class ClassifyFunction(Function):
    "y = isnan(x), isinf(x) or isfinite(x), element-wise, as booleans (not differentiable)"

    differentiable = False

    def forward(ctx, x, *, kind):
        return getattr(backend.array_module(x), kind)(x)


isnan = _unary(ClassifyFunction, "isnan", "True where x is NaN.", kind="isnan")
isinf = _unary(ClassifyFunction, "isinf", "True where x is +-inf.", kind="isinf")
isfinite = _unary(ClassifyFunction, "isfinite", "True where x is neither NaN nor +-inf.",
                  kind="isfinite")


class NanToNumFunction(Function):
    "y = x where x is finite, else nan, posinf or neginf;  dy/dx = 1 where x is finite, else 0"

    def forward(ctx, x, *, nan, posinf, neginf):
        ctx.save_for_backward(x)
        return backend.array_module(x).nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)

    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * backend.array_module(x).isfinite(x)


@register
def nan_to_num(input, nan=0.0, posinf=None, neginf=None) -> Tensor:
    """NaN, +inf and -inf replaced by nan, posinf and neginf (by default 0 and the dtype's
    largest and smallest finite values)."""
    v = {k: None if v is None else check_number(v, k, "nan_to_num") for k, v in
         (("nan", nan), ("posinf", posinf), ("neginf", neginf))}
    return NanToNumFunction.apply(as_tensor(input), **{**v, "nan": v["nan"] or 0.0})


@register
def clamp_min(input, min) -> Tensor:  # noqa: A002 - PyTorch's names
    """clamp(input, min=min): x limited from below by a number, an array or a Tensor."""
    return clip(input, min, None)


@register
def clamp_max(input, max) -> Tensor:  # noqa: A002 - PyTorch's names
    """clamp(input, max=max): x limited from above by a number, an array or a Tensor."""
    return clip(input, None, max)


def _alias(name: str, fn):
    def op(*args, **kwargs) -> Tensor:
        return fn(*args, **kwargs)

    op.__name__, op.__qualname__ = name, name
    op.__doc__ = f"PyTorch's other name for :func:`{fn.__name__}`."
    return register(op)


arcsin, arccos, arctan, arctan2 = (_alias("arc" + f.__name__[1:], f) for f in
                                   (asin, acos, atan, atan2))


# --- PyTorch's further element-wise functions ------------------------------------------------
class LogaddexpFunction(Function):
    """y = ln(e^a + e^b) (base 2 with ``base2``: log2(2^a + 2^b)), without overflow;
    dy/da = 1 / (1 + e^(b - a)), dy/db = 1 / (1 + e^(a - b)) (base 2: 2^ for e^), PyTorch's
    form: right where one input is infinite (e^(a - y) is NaN at a = y = inf)"""

    def forward(ctx, a, b, *, base2=False):
        xp = backend.array_module(a if hasattr(a, "dtype") else b)
        out = _broadcast("logaddexp", xp.logaddexp2 if base2 else xp.logaddexp, a, b)
        ctx.save_for_backward(a, b)
        return out

    def backward(ctx, g):
        a, b = ctx.saved_tensors
        xp = backend.array_module(g)
        power = xp.exp2 if ctx.options["base2"] else xp.exp
        with backend.errstate(over="ignore", invalid="ignore"):  # 1 / (1 + inf) = 0; NaN at
            ga, gb = g / (1 + power(b - a)), g / (1 + power(a - b))  # a = b = +-inf, as PyTorch
        return _reduced(ctx, (ga, gb), (a, b))


def _logaddexp(base2: bool):
    name = "logaddexp2" if base2 else "logaddexp"

    def op(input, other) -> Tensor:  # noqa: A002 - PyTorch's names
        a, b = promote(*operands(input, other, name), True)
        return LogaddexpFunction.apply(a, b, base2=base2)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = (f"ln(e^input + e^other), element-wise, exact where the exponentials would "
                  f"overflow or vanish{' (in base 2)' if base2 else ''}.")
    return register(op)


logaddexp, logaddexp2 = _logaddexp(False), _logaddexp(True)


def _degrees(name: str, factor: float, doc: str):
    def op(input) -> Tensor:
        x = as_tensor(input)
        from nerve.ops.shape import cast

        return (x if x.dtype.kind == "f" else cast(x, backend.get_default_dtype())) * factor

    op.__name__, op.__qualname__, op.__doc__ = name, name, doc
    return register(op)


deg2rad = _degrees("deg2rad", math.pi / 180, "Degrees to radians: x * pi / 180 (ints: floats).")
rad2deg = _degrees("rad2deg", 180 / math.pi, "Radians to degrees: x * 180 / pi (ints: floats).")


class CopysignFunction(Function):
    "y = |a| with the sign (bit) of b;  dy/da = y / a (0 where a == 0, as PyTorch), dy/db = 0"

    def forward(ctx, a, b):
        out = _broadcast("copysign", backend.array_module(a if hasattr(a, "dtype") else b)
                         .copysign, a, b)
        ctx.save_for_backward(a, out)
        ctx.b_shape = shape_of(b)
        return out

    def backward(ctx, g):
        a, out = ctx.saved_tensors
        xp = backend.array_module(g)
        ga = g * xp.where(a == 0, 0, out / xp.where(a == 0, 1, a))
        return _reduced(ctx, (ga, xp.zeros(ctx.b_shape, g.dtype)), (a, xp.zeros(ctx.b_shape)))


copysign = binary(CopysignFunction, "copysign", "|input| with the sign of other, element-wise "
                  "(-0.0 counts as negative; ints give floats).", operator=False,
                  true_division=True)


@register
def sgn(input) -> Tensor:  # noqa: A002
    """-1, 0 or 1 by the sign of x, element-wise, and 0 at NaN as ``torch.sgn`` of real tensors
    (nerve's :func:`sign` keeps NaN); gradient zero."""
    x = as_tensor(input)
    return where(isnan(x), 0, sign(x)) if x.dtype.kind == "f" else sign(x)


signbit = _unary(ClassifyFunction, "signbit", "True where the sign bit of x is set (x < 0, "
                 "-0.0 and negative NaNs).", kind="signbit")


class _NanIgnoringFunction(Function):
    """fmax/fmin: the larger (smaller) of a and b, the other where one is NaN; the gradient
    goes to a where a >= b (a <= b) or b is NaN, to b elsewhere (ties to a, as PyTorch)"""

    def forward(ctx, a, b):
        xp = backend.array_module(a if hasattr(a, "dtype") else b)
        ctx.save_for_backward(a, b)
        return _broadcast(ctx.kind, getattr(xp, ctx.kind), a, b)

    def backward(ctx, g):
        a, b = ctx.saved_tensors
        xp = backend.array_module(g)
        b_arr = xp.asarray(b)
        to_a = ((a >= b) if ctx.kind == "fmax" else (a <= b)) | xp.isnan(b_arr)
        zero = xp.zeros((), g.dtype)
        return _reduced(ctx, (xp.where(to_a, g, zero), xp.where(to_a, zero, g)), (a, b))


class FmaxFunction(_NanIgnoringFunction):
    "y = max(a, b) ignoring NaN;  dy/da = 1 where a >= b or b is NaN, dy/db = 1 elsewhere"

    kind = "fmax"


class FminFunction(_NanIgnoringFunction):
    "y = min(a, b) ignoring NaN;  dy/da = 1 where a <= b or b is NaN, dy/db = 1 elsewhere"

    kind = "fmin"


fmax = binary(FmaxFunction, "fmax", "The element-wise larger of input and other, NaN only "
              "where both are NaN.", operator=False)
fmin = binary(FminFunction, "fmin", "The element-wise smaller of input and other, NaN only "
              "where both are NaN.", operator=False)


class HeavisideFunction(Function):
    "y = 0 where x < 0, values where x == 0, 1 where x > 0 (not differentiable)"

    differentiable = False

    def forward(ctx, x, values):
        xp = backend.array_module(x)
        return _broadcast("heaviside", lambda a, v: xp.where(a == 0, v, a > 0).astype(a.dtype),
                          x, values)


@register
def heaviside(input, values) -> Tensor:
    """The step function: 0 for input < 0, ``values`` at 0, 1 above (NaN gives 0, as
    PyTorch); ``values`` a tensor of the input's dtype."""
    x, v = as_tensor(input), as_tensor(values)
    if x.dtype != v.dtype:
        raise TypeError(message("heaviside", f"values of the input's dtype {x.dtype} (as "
                                "PyTorch)", "values.dtype", str(v.dtype)))
    return HeavisideFunction.apply(x, v)


@register
def float_power(input, exponent) -> Tensor:
    """input ** exponent computed in float64 (both cast first, as ``torch.float_power``)."""
    from nerve.ops.shape import cast

    x = cast(as_tensor(input), backend.float64)
    e = cast(exponent, backend.float64) if isinstance(exponent, Tensor) else float(exponent)
    return x ** e


@register
def true_divide(dividend, divisor) -> Tensor:
    """dividend / divisor (true division; ints give floats), PyTorch's name for ``div``."""
    from nerve.ops.arithmetic import div

    return div(dividend, divisor)


class IscloseFunction(Function):
    """y = |a - b| <= atol + rtol |b| (or a == b; NaNs equal with equal_nan), as booleans;
    not differentiable"""

    differentiable = False

    def forward(ctx, a, b, *, rtol, atol, equal_nan):
        xp = backend.array_module(a if hasattr(a, "dtype") else b)
        return _broadcast("isclose", lambda p, q: xp.isclose(p, q, rtol, atol, equal_nan), a, b)


@register
def isclose(input, other, rtol: float = 1e-05, atol: float = 1e-08,
            equal_nan: bool = False) -> Tensor:
    """Where ``input`` and ``other`` (of one dtype, as PyTorch; or a number) are close:
    ``|input - other| <= atol + rtol * |other|``, element-wise."""
    a, b = operands(input, other, "isclose")
    if isinstance(b, Tensor) and isinstance(a, Tensor) and a.dtype != b.dtype:
        raise TypeError(message("isclose", f"other of the input's dtype {a.dtype} (as "
                                "PyTorch)", "other.dtype", str(b.dtype)))
    return IscloseFunction.apply(a, b, rtol=check_number(rtol, "rtol", "isclose", 0),
                                 atol=check_number(atol, "atol", "isclose", 0),
                                 equal_nan=bool(equal_nan))


def _cross_dim(a: Tensor, b: Tensor, dim, who: str) -> int:
    """The dimension of length 3 in both (``dim``; None: the input's first of length 3)."""
    if a.ndim != b.ndim:
        raise ValueError(message(who, "input and other of one number of dimensions",
                                 "shapes", (a.shape, b.shape)))
    if dim is None:
        dim = next((i for i, n in enumerate(a.shape) if n == 3), None)
    axis = None if dim is None else normalize_axis(dim, a.ndim, who)[0]
    if axis is None or a.shape[axis] != 3 or b.shape[axis] != 3:
        raise ValueError(message(who, "length 3 along dim in both", "(shapes, dim)",
                                 (a.shape, b.shape, dim)))
    return axis


@register
def cross(input, other, dim=None) -> Tensor:
    """The cross product of 3-vectors along ``dim`` (None: the first dimension of length 3,
    PyTorch's deprecated default; ``nerve.linalg.cross`` takes the last), of tensors of one
    number of dimensions, the others broadcast."""
    from nerve.ops.select import expand
    from nerve.ops.shape import select, stack

    a, b = promote(*operands(as_tensor(input), other, "cross"))
    axis = _cross_dim(a, b, dim, "cross")
    shape = _broadcast("cross", backend.broadcast_shapes, a.shape, b.shape)
    a, b = (t if t.shape == shape else expand(t, shape) for t in (a, b))
    (a0, a1, a2), (b0, b1, b2) = ([select(t, axis, i) for i in range(3)] for t in (a, b))
    return stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis)


def linalg_cross(input, other, *, dim: int = -1) -> Tensor:  # noqa: A002
    """``torch.linalg.cross``: the cross product along ``dim`` (the last by default)."""
    return cross(input, other, dim)
