"""Activation functions as modules: Step (the perceptron's), Sigmoid, ReLU, Softplus, Tanh,
LeakyReLU, Softmax, LogSoftmax, and SiLU, Mish, ELU, CELU, SELU, Hardtanh, ReLU6, LogSigmoid,
Softsign, Hardswish, Hardsigmoid, Softmin, Softmax2d, GLU, Threshold, Softshrink, Hardshrink,
Tanhshrink, RReLU (random slopes while training), and PReLU with its learnable slope (built
from nerve's operations: their gradients and ONNX export come with them). Shape: any -> the
same."""

from __future__ import annotations

import math

from nerve import backend, ops
from nerve.autograd import Tensor
from nerve.checks import (
    ShortRepr,
    check_bool,
    check_choice,
    check_int,
    check_number,
    check_positive_int,
    message,
)
from nerve.nn import functional as F
from nerve.nn.module import Module, takes_device
from nerve.nn.normalization import _input_of
from nerve.nn.parameter import Parameter
from nerve.ops.elementwise import ReLUFunction, SigmoidFunction, TanhFunction
from nerve.ops.inplace import apply_inplace


class Step(Module):
    """1 where x > threshold, else 0: the threshold perceptron. Its gradient is zero."""

    _takes_tensor = True

    def __init__(self, threshold: float = 0.0):
        super().__init__()
        self.threshold = check_number(threshold, "threshold", "Step")

    def forward(self, x: Tensor) -> Tensor:
        return ops.step(x, self.threshold)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}"


class Sigmoid(Module):
    """1 / (1 + e^-x): the sigmoid neuron, between 0 and 1."""

    _takes_tensor = True
    _forward_array = staticmethod(SigmoidFunction.compute)

    def forward(self, x: Tensor) -> Tensor:
        return ops.sigmoid(x)


class ReLU(Module):
    """max(0, x). ``inplace=True`` writes the result into the input, as PyTorch's does."""

    _takes_tensor = True
    _forward_array = staticmethod(ReLUFunction.compute)

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = check_bool(inplace, "inplace", "ReLU")
        if self.inplace:  # the array path would leave the caller's input as it was
            object.__setattr__(self, "_forward_array", None)

    @staticmethod
    def _forward_array_inplace(x):
        if x.size < 32768:  # small: a new array costs less than finding the kept zeros
            return ReLUFunction.compute(x)
        return backend.array_module(x).maximum(x, backend.zeros_as(x), out=x)

    def forward(self, x: Tensor) -> Tensor:
        return x.relu_() if self.inplace else ops.relu(x)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Tanh(Module):
    """(e^x - e^-x) / (e^x + e^-x), between -1 and 1."""

    _takes_tensor = True
    _forward_array = staticmethod(TanhFunction.compute)

    def forward(self, x: Tensor) -> Tensor:
        return ops.tanh(x)


class Softplus(Module):
    """log(1 + e^(beta x)) / beta, a smooth ReLU (linear where beta x > threshold)."""

    _takes_tensor = True

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        check_number(beta, "beta", "Softplus", 0.0, low_open=True)
        check_number(threshold, "threshold", "Softplus")
        self.beta, self.threshold = beta, threshold

    def forward(self, x: Tensor) -> Tensor:
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class LeakyReLU(Module):
    """x where x > 0, else negative_slope * x."""

    _takes_tensor = True

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope = check_number(negative_slope, "negative_slope", "LeakyReLU")
        self.inplace = check_bool(inplace, "inplace", "LeakyReLU")

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Softmax(Module):
    """exp(x) / sum(exp(x)) along dim: probabilities for each class. Without ``dim``, the last
    of a 0-, 1- or 2-D input (PyTorch's implicit choice too); a larger input needs it."""

    _takes_tensor = True

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = None if dim is None else check_int(dim, "dim", type(self).__name__)

    def forward(self, x: Tensor) -> Tensor:
        return ops.softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """log(softmax(x)) along dim, computed stably."""

    def forward(self, x: Tensor) -> Tensor:
        return ops.log_softmax(x, self.dim)


def _maybe_inplace(module: Module, fn, x: Tensor, *args) -> Tensor:
    """fn(x, *args); with the module's ``inplace=True``, written into x as PyTorch's does
    (through the in-place machinery: version counters, recorded on results of operations)."""
    if getattr(module, "inplace", False):
        return apply_inplace(x, fn, *args)
    return fn(x, *args)


class _Composite(Module):
    """An activation written with nerve's operations (see its function in nn.functional)."""

    _takes_tensor = True
    _function = None

    def forward(self, x: Tensor) -> Tensor:
        return _maybe_inplace(self, type(self)._function, x)


class SiLU(_Composite):
    """x sigmoid(x)."""

    _function = staticmethod(F.silu)

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = check_bool(inplace, "inplace", "SiLU")


class Mish(_Composite):
    """x tanh(softplus(x))."""

    _function = staticmethod(F.mish)

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = check_bool(inplace, "inplace", "Mish")


class GELU(Module):
    """x P(X <= x) for a standard normal X; ``approximate="tanh"`` for the tanh formula."""

    _takes_tensor = True

    def __init__(self, approximate: str = "none"):
        super().__init__()
        self.approximate = check_choice(approximate, "approximate", "GELU", ("none", "tanh"))

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class LogSigmoid(_Composite):
    """log(sigmoid(x)), computed stably."""

    _function = staticmethod(F.logsigmoid)


class Softsign(_Composite):
    """x / (1 + |x|)."""

    _function = staticmethod(F.softsign)


class Hardtanh(Module):
    """x clipped to [min_val, max_val] (gradient 0 at the bounds, as PyTorch's)."""

    _takes_tensor = True

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
        super().__init__()
        self.min_val = check_number(min_val, "min_val", type(self).__name__)
        self.max_val = check_number(max_val, "max_val", type(self).__name__)
        self.inplace = check_bool(inplace, "inplace", type(self).__name__)
        if not self.min_val < self.max_val:
            raise ValueError(message(type(self).__name__, f"max_val > min_val={self.min_val}",
                                     "max_val", self.max_val))

    def forward(self, x: Tensor) -> Tensor:
        return _maybe_inplace(self, F.hardtanh, x, self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}"


class ReLU6(Hardtanh):
    """min(max(x, 0), 6)."""

    def __init__(self, inplace: bool = False):
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self) -> str:
        return ""


class ELU(Module):
    """x where x > 0, else alpha (e^x - 1)."""

    _takes_tensor = True

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha = check_number(alpha, "alpha", type(self).__name__)
        self.inplace = check_bool(inplace, "inplace", type(self).__name__)

    def forward(self, x: Tensor) -> Tensor:
        return _maybe_inplace(self, F.elu, x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class CELU(ELU):
    """x where x > 0, else alpha (e^(x / alpha) - 1)."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__(alpha, inplace)
        if self.alpha == 0:
            raise ValueError(message("CELU", "alpha != 0", "alpha", alpha))

    def forward(self, x: Tensor) -> Tensor:
        return _maybe_inplace(self, F.celu, x, self.alpha)


class SELU(_Composite):
    """scale elu(x, alpha), the self-normalising constants of Klambauer et al."""

    _function = staticmethod(F.selu)

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = check_bool(inplace, "inplace", "SELU")


class Hardswish(_Composite):
    """x relu6(x + 3) / 6 (MobileNetV3's)."""

    _function = staticmethod(F.hardswish)

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = check_bool(inplace, "inplace", "Hardswish")


class Hardsigmoid(_Composite):
    """relu6(x + 3) / 6."""

    _function = staticmethod(F.hardsigmoid)

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = check_bool(inplace, "inplace", "Hardsigmoid")


class Tanhshrink(_Composite):
    """x - tanh(x)."""

    _function = staticmethod(F.tanhshrink)


class Softmin(Softmax):
    """softmax(-x) along dim: the smallest values get the largest probabilities."""

    def forward(self, x: Tensor) -> Tensor:
        return F.softmin(x, self.dim)


class Softmax2d(Module):
    """softmax over the channels at each position: dim -3 of a (N, C, H, W) or (C, H, W)
    input. Shape: the same."""

    _takes_tensor = True

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim not in (3, 4):
            raise ValueError(message("Softmax2d", "an input of shape (N, C, H, W) or (C, H, W)",
                                     "input.shape", tuple(x.shape)))
        return F.softmax(x, -3)


class GLU(Module):
    """The gated linear unit: a sigmoid(b) for the two halves a, b of the input along ``dim``.
    Shape: (*, 2n, *) -> (*, n, *)."""

    _takes_tensor = True

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = check_int(dim, "dim", "GLU")

    def forward(self, x: Tensor) -> Tensor:
        return F.glu(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Threshold(Module):
    """x where x > threshold, else ``value``."""

    _takes_tensor = True

    def __init__(self, threshold: float, value: float, inplace: bool = False):
        super().__init__()
        check_number(threshold, "threshold", "Threshold")
        check_number(value, "value", "Threshold")
        self.threshold, self.value = threshold, value  # as given, as PyTorch's repr shows them
        self.inplace = check_bool(inplace, "inplace", "Threshold")

    def forward(self, x: Tensor) -> Tensor:
        return F.threshold(x, self.threshold, self.value, self.inplace)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, value={self.value}" + (
            ", inplace=True" if self.inplace else "")


class _Shrink(Module):
    _takes_tensor = True
    _function = None

    def __init__(self, lambd: float = 0.5):
        super().__init__()
        low = 0.0 if type(self) is Softshrink else None
        check_number(lambd, "lambd", type(self).__name__, low)
        self.lambd = lambd  # as given, as PyTorch's repr shows it

    def forward(self, x: Tensor) -> Tensor:
        return type(self)._function(x, self.lambd)

    def extra_repr(self) -> str:
        return str(self.lambd)


class Softshrink(_Shrink):
    """x - lambd above lambd, x + lambd below -lambd, 0 between (lambd >= 0)."""

    _function = staticmethod(F.softshrink)


class Hardshrink(_Shrink):
    """x outside [-lambd, lambd], 0 on it."""

    _function = staticmethod(F.hardshrink)


class RReLU(Module):
    """x where x > 0, else a x, with a drawn from U(lower, upper) for each element while
    training (nerve's generator) and a = (lower + upper) / 2 in eval (Xu et al.)."""

    _takes_tensor = True

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3, inplace: bool = False):
        super().__init__()
        check_number(lower, "lower", "RReLU")
        check_number(upper, "upper", "RReLU")
        if lower > upper:
            raise ValueError(message("RReLU", f"upper >= lower={lower} (the slopes' bounds)",
                                     "upper", upper))
        self.lower, self.upper = lower, upper
        self.inplace = check_bool(inplace, "inplace", "RReLU")

    def forward(self, x: Tensor) -> Tensor:
        return F.rrelu(x, self.lower, self.upper, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"lower={self.lower}, upper={self.upper}" + (
            ", inplace=True" if self.inplace else "")


def prelu(input, weight) -> Tensor:  # noqa: A002 - PyTorch's names
    """x where x > 0, else weight * x, as PyTorch's ``F.prelu``: ``weight`` holds one slope
    (shape (1,) or ()) or one per channel (shape (C,), C = input.shape[1]; a 1-D input has one
    channel). Written with nerve's operations: the input's gradient is the slope where
    x <= 0 (1 where x > 0), the weight's the sum of g * x where x <= 0 (per channel)."""
    return _prelu(input, weight, "prelu")


def _prelu(input, weight, who: str) -> Tensor:
    x = Tensor._wrap(input) if backend.is_array(input) else input
    if not isinstance(x, Tensor):
        raise TypeError(message(who, "a Tensor as input", "input", ShortRepr(input)))
    if not isinstance(weight, Tensor) and not backend.is_array(weight):
        raise TypeError(message(who, "a Tensor as weight", "weight", ShortRepr(weight)))
    if x.dtype.kind != "f":
        raise TypeError(message(who, "a floating-point input", "input.dtype", str(x.dtype)))
    if x.ndim == 0:
        raise ValueError(message(who, "an input of at least 1 dimension (PyTorch refuses a "
                                 "zero-dim input)", "input.shape", ()))
    channels = x.shape[1] if x.ndim >= 2 else 1
    k = math.prod(weight.shape)
    if weight.ndim > 1 or k not in (1, channels):
        raise ValueError(message(who, f"a weight of shape (1,) or ({channels},) (one slope, or "
                                 f"one per channel: input.shape[1]={channels})", "weight.shape",
                                 tuple(weight.shape)))
    if weight.dtype != x.dtype:
        raise TypeError(message(who, f"a weight of the input's dtype {x.dtype} (PyTorch "
                                "refuses mixed dtypes too)", "weight.dtype", str(weight.dtype)))
    w = weight.reshape((1, k) + (1,) * (x.ndim - 2) if k > 1 else ())
    return ops.where(x > 0, x, x * w)


class PReLU(Module):
    """x where x > 0, else a * x, with a learnable slope ``a`` (He et al.): one shared by all
    channels (``num_parameters=1``) or one per channel (dim 1 of the input), each starting at
    ``init``. ``weight`` (shape (num_parameters,)) is PyTorch's, so its weights carry over.
    (Weight decay would pull the slopes to 0: PyTorch's advice is to train them without it.)

    Shape: any with at least 1 dimension -> the same
    """

    _takes_tensor = True

    @takes_device
    def __init__(self, num_parameters: int = 1, init: float = 0.25, dtype=None):
        super().__init__()
        self.num_parameters = check_positive_int(num_parameters, "num_parameters", "PReLU")
        self.init = check_number(init, "init", "PReLU")
        xp, dtype = backend.array_module(), backend.float_dtype(dtype, "PReLU")
        self.weight = Parameter(xp.full(self.num_parameters, self.init, dtype), dtype)

    def reset_parameters(self) -> None:
        """Every slope back to ``init``."""
        self.weight._data.fill(self.init)
        self.weight._bump()

    def forward(self, input: Tensor) -> Tensor:
        who = f"PReLU(num_parameters={self.num_parameters})"
        return _prelu(_input_of(input, self.weight.dtype, who), self.weight, who)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"
