"""Convolutional layers: Conv1d, Conv2d and their transposes ConvTranspose1d and ConvTranspose2d,
with PyTorch's arguments, weight layouts and init; Unfold and Fold (im2col and col2im)."""

from __future__ import annotations

import math

from nerve import backend
from nerve.autograd import Tensor
from nerve.checks import check_bool, check_choice, check_positive_int, is_int, message
from nerve.nn import init
from nerve.nn.module import Module, takes_device
from nerve.nn.parameter import Parameter
from nerve.ops._common import operands
from nerve.ops.fused.conv import (
    ConvFunction,
    ConvTransposeFunction,
    check_output_padding,
    conv_args,
    conv_transpose_args,
    fold_args,
    fold_as,
    transposed_size,
    unfold_as,
)
from nerve.ops.fused.window import as_tuple


class _ConvNd(Module):
    """What Conv1d and Conv2d share; ``_nd`` is the number of spatial dimensions."""

    _nd = 2
    _takes_tensor = True
    _transposed = False

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
        if self._transposed:  # the layout of the convolution it is the input gradient of
            shape = (self.in_channels, self.out_channels // self.groups, *self.kernel_size)
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
        if self._transposed and self.output_padding != (0,) * self._nd:
            s += f", output_padding={self.output_padding}"
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


class _ConvTransposeNd(_ConvNd):
    """What ConvTranspose1d and ConvTranspose2d share."""

    _transposed = True

    @takes_device
    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1,
                 padding_mode: str = "zeros", dtype=None):
        who, nd = type(self).__name__, self._nd
        if isinstance(padding, str):  # PyTorch has no "same" for it either
            raise TypeError(message(who, f"an int or a tuple of {nd} ints", "padding", padding))
        if padding_mode != "zeros":
            raise ValueError(message(who, "padding_mode 'zeros' (the only one PyTorch supports "
                                     "for a transposed convolution)", "padding_mode",
                                     padding_mode))
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, dtype=dtype)
        self.output_padding = as_tuple(output_padding, nd, "output_padding", who, 0)
        check_output_padding(self.output_padding, self.stride, self.dilation, who)

    def _args(self, shape: tuple, output_padding=None) -> dict:
        """The computation's arguments for an input of this shape, checked once per shape."""
        op = self.output_padding if output_padding is None else output_padding
        key = (shape, self.weight.shape, self.stride, self.padding, op, self.dilation,
               self.groups)
        args = self._geometry.get(key)
        if args is None:
            s, p, d, g, op = conv_transpose_args(shape, self.weight.shape, self.stride,
                                                 self.padding, op, self.groups, self.dilation,
                                                 self._name(), self._nd)
            args = {"stride": s, "padding": p, "dilation": d, "groups": g,
                    "output_padding": op}
            if len(self._geometry) > 16:
                self._geometry.clear()
            self._geometry[key] = args
        return args

    def _output_padding(self, shape: tuple, output_size) -> tuple:
        """PyTorch's output_padding for a requested ``output_size`` (the spatial sizes, or the
        whole shape): each size between the smallest output and that plus stride - 1."""
        nd, who = self._nd, self._name()
        sizes = output_size.tolist() if isinstance(output_size, Tensor) else output_size
        if isinstance(sizes, (tuple, list)) and len(sizes) == nd + 2:
            sizes = sizes[2:]
        if not isinstance(sizes, (tuple, list)) or len(sizes) != nd or \
                not all(is_int(n) for n in sizes):
            raise ValueError(message(who, f"output_size of {nd} or {nd + 2} ints",
                                     "output_size", output_size))
        if len(shape) != nd + 2:
            conv_transpose_args(shape, self.weight.shape, self.stride, self.padding, 0,
                                self.groups, self.dilation, who, nd)  # raises
        smallest = transposed_size(shape[2:], self.kernel_size, self.stride, self.padding,
                                   (0,) * nd, self.dilation)
        largest = tuple(m + s - 1 for m, s in zip(smallest, self.stride))
        if any(not lo <= n <= hi for n, lo, hi in zip(sizes, smallest, largest)):
            raise ValueError(message(who, f"output_size from {smallest} to {largest} for an "
                                     f"input of shape {tuple(shape)}", "output_size",
                                     output_size))
        return tuple(int(n) - m for n, m in zip(sizes, smallest))

    def forward(self, x: Tensor, output_size=None) -> Tensor:
        weight, bias = self.weight, self.bias
        if not isinstance(x, Tensor) or x.dtype != weight.dtype:
            x = _same_dtype(x, weight, self._name())
        op = None if output_size is None else self._output_padding(tuple(x.shape), output_size)
        args = self._args(tuple(x.shape), op)
        if bias is None:
            return ConvTransposeFunction.apply(x, weight, **args)
        return ConvTransposeFunction.apply(x, weight, bias, **args)


class ConvTranspose2d(_ConvTransposeNd):
    """A 2-D transposed convolution ("deconvolution"): each input pixel spreads a filter of
    ``out_channels / groups`` x kh x kw values over the output, ``stride`` apart, where the
    overlaps add up; the gradient of a Conv2d with respect to its input, used to upsample
    (``ConvTranspose2d(c, c, 2, stride=2)`` doubles the height and width).

    ``weight`` is (in_channels, out_channels / groups, kh, kw) and ``bias`` (out_channels,),
    PyTorch's layout and init. ``forward(x, output_size=None)``: ``output_size`` picks one of
    the ``stride`` sizes that a Conv2d with these arguments maps to the input's size.

    Shape: (N, in_channels, H, W) -> (N, out_channels, Ho, Wo), with
    Ho = (H - 1) stride - 2 padding + dilation (kh - 1) + output_padding + 1, and Wo likewise.
    """

    _nd = 2


class ConvTranspose1d(_ConvTransposeNd):
    """A 1-D transposed convolution: the gradient of a Conv1d with respect to its input.
    ``weight`` is (in_channels, out_channels / groups, k).

    Shape: (N, in_channels, L) -> (N, out_channels, Lo), with
    Lo = (L - 1) stride - 2 padding + dilation (k - 1) + output_padding + 1.
    """

    _nd = 1


class Unfold(Module):
    """The sliding blocks of a batch of images as columns (im2col): (N, C, H, W) ->
    (N, C kh kw, L), L the number of blocks; each column one block, channel by channel, row by
    row. ``Fold`` puts columns back."""

    _takes_tensor = True

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        fold_args(kernel_size, dilation, padding, stride, "Unfold")  # checks them
        self.kernel_size, self.dilation = kernel_size, dilation
        self.padding, self.stride = padding, stride

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 - PyTorch's name
        return unfold_as(f"Unfold({self.extra_repr()})", input, self.kernel_size,
                         self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")


class Fold(Module):
    """Columns summed back into images (col2im, Unfold's adjoint): (N, C kh kw, L) ->
    (N, C, *output_size), each pixel the sum of the block values that cover it."""

    _takes_tensor = True

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        as_tuple(output_size, 2, "output_size", "Fold", 1)
        fold_args(kernel_size, dilation, padding, stride, "Fold")  # checks them
        self.output_size, self.kernel_size = output_size, kernel_size
        self.dilation, self.padding, self.stride = dilation, padding, stride

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 - PyTorch's name
        return fold_as(f"Fold({self.extra_repr()})", input, self.output_size,
                       self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, "
                f"dilation={self.dilation}, padding={self.padding}, stride={self.stride}")
