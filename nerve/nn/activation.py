"""Activation functions as modules: Step (the perceptron's), Sigmoid, ReLU, Softplus, Tanh,
LeakyReLU, Softmax and LogSoftmax. Shape: any -> the same."""

from __future__ import annotations

from nerve import backend, ops
from nerve.autograd import Tensor
from nerve.checks import check_bool, check_int, check_number
from nerve.nn import functional as F
from nerve.nn.module import Module
from nerve.ops.elementwise import ReLUFunction, SigmoidFunction, TanhFunction


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

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = check_number(negative_slope, "negative_slope", "LeakyReLU")

    def forward(self, x: Tensor) -> Tensor:
        return ops.leaky_relu(x, self.negative_slope)

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
