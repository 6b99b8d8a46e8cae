"""Convolutional layers: Conv1d and Conv2d, with PyTorch's arguments, weight layout and init."""

from __future__ import annotations

import math

from nerve import backend
from nerve.autograd import Tensor
from nerve.checks import check_bool, check_choice, check_positive_int, message
from nerve.nn import init
from nerve.nn.module import Module, takes_device
from nerve.nn.parameter import Parameter
from nerve.ops._common import operands
from nerve.ops.fused.conv import ConvFunction, conv_args
from nerve.ops.fused.window import as_tuple


class _ConvNd(Module):
    """What Conv1d and Conv2d share; ``_nd`` is the number of spatial dimensions."""

    _nd = 2
    _takes_tensor = True

    @takes_device
    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 dtype=None):
        super().__init__()
        who, nd = type(self).__name__, self._nd
        self.in_channels = check_positive_int(in_channels, "in_channels", who)
        self.out_channels = check_positive_int(out_channels, "out_channels", who)
        self.kernel_size = as_tuple(kernel_size, nd, "kernel_size", who, 1)
        self.stride = as_tuple(stride, nd, "stride", who, 1)
        self.dilation = as_tuple(dilation, nd, "dilation", who, 1)
        self.groups = check_positive_int(groups, "groups", who)
        if isinstance(padding, str):
            check_choice(padding, "padding", who, ("same", "valid"))
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(message(who, "stride 1 with padding='same' (PyTorch's rule)",
                                         "stride", stride))
            self.padding = padding
        else:
            self.padding = as_tuple(padding, nd, "padding", who, 0)
        check_choice(padding_mode, "padding_mode", who, ("zeros",))
        self.padding_mode = padding_mode
        for name, n in (("in_channels", self.in_channels), ("out_channels", self.out_channels)):
            if n % self.groups:
                raise ValueError(message(who, f"{name} divisible by groups={self.groups}", name,
                                         n))
        check_bool(bias, "bias", who)
        xp, dtype = backend.array_module(), backend.float_dtype(dtype, who)
        shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        self.weight = Parameter(xp.empty(shape, dtype), dtype)
        if bias:
            self.bias = Parameter(xp.empty(self.out_channels, dtype), dtype)
        else:
            self.register_parameter("bias", None)
        self._geometry = {}  # input shape and arguments -> the computation's, checked
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's init: weight and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
            bound = 1 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound)

    def _args(self, shape: tuple) -> dict:
        """The computation's arguments for an input of this shape, checked once per shape."""
        key = (shape, self.weight.shape, self.stride, self.padding, self.dilation, self.groups)
        args = self._geometry.get(key)
        if args is None:
            s, p, d, g = conv_args(shape, self.weight.shape, self.stride, self.padding,
                                   self.dilation, self.groups, self._name(), self._nd)
            args = {"stride": s, "padding": p, "dilation": d, "groups": g}
            if len(self._geometry) > 16:
                self._geometry.clear()
            self._geometry[key] = args
        return args

    def _name(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    def forward(self, x: Tensor) -> Tensor:
        weight, bias = self.weight, self.bias
        if not isinstance(x, Tensor) or x.dtype != weight.dtype:
            x = _same_dtype(x, weight, self._name())
        args = self._args(tuple(x.shape))
        if bias is None:
            return ConvFunction.apply(x, weight, **args)
        return ConvFunction.apply(x, weight, bias, **args)

    def _forward_array(self, x):
        if x.dtype != self.weight._data.dtype:
            return NotImplemented
        bias = self.bias
        return ConvFunction.compute(x, self.weight._data, None if bias is None else bias._data,
                                    **self._args(x.shape))

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * self._nd:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._nd:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


def _same_dtype(x, weight: Tensor, who: str) -> Tensor:
    """The input as a Tensor of the weight's dtype: an array or a number list is converted;
    a Tensor of another dtype is refused, as PyTorch refuses it."""
    if isinstance(x, Tensor):
        raise TypeError(message(who, f"an input of the weight's dtype {weight.dtype} (convert "
                                f"with .to({weight.dtype}) or the model with .double()/.float())",
                                "input.dtype", x.dtype))
    return operands(weight, x, who)[1]


class Conv2d(_ConvNd):
    """A 2-D convolution: each of ``out_channels`` filters (``in_channels / groups`` x kh x
    kw, plus a bias) slides over the image; each overlay's dot product plus the bias is one
    value of that filter's feature map (the seed's 3x3 filter is ``Conv2d(1, 1, 3)``).

    ``weight`` is (out_channels, in_channels / groups, kh, kw) and ``bias`` (out_channels,),
    PyTorch's layout and init, so ``state_dict`` keys and shapes carry over. ``padding`` is an
    int, a pair, ``"valid"`` (none) or ``"same"`` (the output as large as the input).

    Shape: (N, in_channels, H, W) -> (N, out_channels, Ho, Wo), with
    Ho = (H + 2 padding - dilation (kh - 1) - 1) // stride + 1, and Wo likewise.
    """

    _nd = 2


class Conv1d(_ConvNd):
    """A 1-D convolution over sequences: filters of ``in_channels / groups`` x k slide along
    the length. ``weight`` is (out_channels, in_channels / groups, k).

    Shape: (N, in_channels, L) -> (N, out_channels, Lo), with
    Lo = (L + 2 padding - dilation (k - 1) - 1) // stride + 1.
    """

    _nd = 1
