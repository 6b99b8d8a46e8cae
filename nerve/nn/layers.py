"""Basic layers: Linear, Flatten, Dropout, Identity."""

from __future__ import annotations

import math

from nerve import backend
from nerve.autograd import Tensor
from nerve.checks import check_positive_int, check_probability
from nerve.nn import functional as F
from nerve.nn import init
from nerve.nn.module import Module
from nerve.nn.parameter import Parameter
from nerve.ops import flatten
from nerve.ops.fused import LinearFunction
from nerve.ops.shape import flat_shape


class Linear(Module):
    """A layer of neurons: each output is a weighted sum of the inputs plus a bias.

    ``weight`` is (out_features, in_features) and ``bias`` (out_features,), PyTorch's layout,
    so ``state_dict`` keys and shapes carry over. Default init is PyTorch's:
    U(-1/sqrt(in_features), 1/sqrt(in_features)) for both; the seed's standard-normal weights
    and zero biases are ``init.normal_(layer.weight); init.zeros_(layer.bias)``.

    Shape: (N, *, in_features) -> (N, *, out_features)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=None):
        super().__init__()
        self.in_features = check_positive_int(in_features, "in_features", "Linear")
        self.out_features = check_positive_int(out_features, "out_features", "Linear")
        xp, dtype = backend.array_module(), backend.float_dtype(dtype)
        self.weight = Parameter(xp.empty((self.out_features, self.in_features), dtype), dtype)
        if bias:
            self.bias = Parameter(xp.empty(self.out_features, dtype), dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features)
            init.uniform_(self.bias, -bound, bound)

    def _check_input(self, shape: tuple) -> None:
        if shape[-1:] != (self.in_features,):
            raise ValueError(f"Linear({self.in_features}, {self.out_features}): expected input "
                             f"of shape (N, {self.in_features}), received {tuple(shape)}")

    def forward(self, x: Tensor) -> Tensor:
        self._check_input(x.shape)
        if isinstance(x, Tensor):  # the operands are ready: skip F.linear's coercion
            return LinearFunction.apply(x, self.weight, self.bias)
        return F.linear(x, self.weight, self.bias)

    def _forward_array(self, x):
        if x.shape[-1:] != (self.in_features,):
            self._check_input(x.shape)
        bias = self.bias
        return LinearFunction.compute(x, self.weight.data, None if bias is None else bias.data)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Flatten(Module):
    """Merge dimensions start_dim..end_dim into one.

    Shape: (N, C, H, W) -> (N, C*H*W) with the defaults.
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Tensor) -> Tensor:
        return flatten(x, self.start_dim, self.end_dim)

    def _forward_array(self, x):
        return x.reshape(flat_shape(x.shape, self.start_dim, self.end_dim))

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Dropout(Module):
    """Zero each input with probability p while training (scaling the rest); identity in eval.

    Shape: any -> the same
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        self.p = check_probability(p, "p", "Dropout")

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def _forward_array(self, x):
        return NotImplemented if self.training and self.p else x

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Identity(Module):
    """Return the input unchanged (a placeholder layer)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x: Tensor) -> Tensor:
        return x

    def _forward_array(self, x):
        return x
