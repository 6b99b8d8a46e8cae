"""Element-wise functions: exp, log, sqrt, abs, tanh, sigmoid, relu, softplus, leaky_relu, clip,
maximum, minimum, where, and the perceptron's step."""

from __future__ import annotations

import math

from nerve import backend
from nerve.autograd import Tensor
from nerve.checks import as_array, as_tensor, check_number, message
from nerve.function import Function
from nerve.ops._common import binary, coerce, operands, promote, register, shape_of, unbroadcast


def _floating(x):
    """An array of integers or bools in the default float dtype (else ``x``): PyTorch's exp,
    log, sqrt... of an int tensor give float32, where NumPy gives float64 (float16 for bools).
    Inside the operation, so that the ONNX tracer sees the operation's own input."""
    return x.astype(backend.get_default_dtype()) if x.dtype.kind in "biu" else x


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


class Expm1Function(Function):
    "y = e^x - 1 (exact near 0);  dy/dx = y + 1"

    def forward(ctx, x):
        x = _floating(x)
        out = backend.array_module(x).expm1(x)
        ctx.save_for_backward(out)
        return out

    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * (out + 1)


@register
def expm1(input) -> Tensor:
    """e^x - 1, element-wise, without the rounding of exp(x) - 1 near 0."""
    return Expm1Function.apply(as_tensor(input))


class Log1pFunction(Function):
    "y = ln(1 + x) (exact near 0);  dy/dx = 1 / (1 + x)"

    def forward(ctx, x):
        x = _floating(x)
        ctx.save_for_backward(x)
        return backend.array_module(x).log1p(x)

    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g / (x + 1)


@register
def log1p(input) -> Tensor:
    """ln(1 + x), element-wise, without the rounding of log(1 + x) near 0."""
    return Log1pFunction.apply(as_tensor(input))


class ErfFunction(Function):
    "y = erf(x) = 2 / sqrt(pi) (the integral of e^-t^2 from 0 to x);  dy/dx = 2 / sqrt(pi) e^-x^2"

    def forward(ctx, x):
        x = _floating(x)
        ctx.save_for_backward(x)
        return backend.erf(x)

    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (backend.array_module(x).exp(-x * x) * (2 / math.sqrt(math.pi)))


@register
def erf(input) -> Tensor:
    """The error function, element-wise (GELU's Gaussian CDF is (1 + erf(x / sqrt 2)) / 2)."""
    return ErfFunction.apply(as_tensor(input))


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
