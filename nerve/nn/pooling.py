"""Pooling layers: MaxPool1d/2d, AvgPool1d/2d, AdaptiveAvgPool1d/2d, AdaptiveMaxPool1d/2d, with
PyTorch's arguments."""

from __future__ import annotations

from nerve.autograd import Tensor
from nerve.checks import check_bool, is_int, message
from nerve.nn.module import Module
from nerve.ops.fused import pool
from nerve.ops.fused.window import as_tuple


def _size(value, nd: int, name: str, who: str, minimum: int):
    """An int stays an int (as PyTorch keeps it, for the repr and the saved architecture)."""
    values = as_tuple(value, nd, name, who, minimum)
    return int(value) if is_int(value) else values


class _Pool(Module):
    _nd = 2
    _takes_tensor = True

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False):
        super().__init__()
        who, nd = type(self).__name__, self._nd
        self.kernel_size = _size(kernel_size, nd, "kernel_size", who, 1)
        self.stride = self.kernel_size if stride is None else _size(stride, nd, "stride", who, 1)
        self.padding = _size(padding, nd, "padding", who, 0)
        self.ceil_mode = check_bool(ceil_mode, "ceil_mode", who)
        for k, p in zip(as_tuple(self.kernel_size, nd, "", who, 1),
                        as_tuple(self.padding, nd, "", who, 0)):
            if p > k // 2:
                raise ValueError(message(who, f"padding at most half the kernel size "
                                         f"{self.kernel_size} (PyTorch's rule)", "padding",
                                         padding))


class _MaxPool(_Pool):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1,
                 return_indices: bool = False, ceil_mode: bool = False):
        super().__init__(kernel_size, stride, padding, ceil_mode)
        who = type(self).__name__
        self.dilation = _size(dilation, self._nd, "dilation", who, 1)
        if return_indices:
            raise ValueError(message(who, "return_indices=False (indices are not supported)",
                                     "return_indices", return_indices))
        self.return_indices = False

    def _args(self, shape):
        k, s, d, pads, out = pool.pool_args(shape, self.kernel_size, self.stride, self.padding,
                                            self.dilation, self.ceil_mode,
                                            f"{type(self).__name__}({self.extra_repr()})",
                                            self._nd)
        return {"kernel": k, "stride": s, "dilation": d, "pads": pads, "out": out}

    def forward(self, x: Tensor) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x)
        pool._check_input(x, type(self).__name__)
        return pool.MaxPoolFunction.apply(x, **self._args(tuple(x.shape)))

    def _forward_array(self, x):
        if x.dtype.kind != "f":
            return NotImplemented
        return pool.MaxPoolFunction.compute(x, **self._args(x.shape))

    def _relu_commutes(self) -> bool:
        """True when relu(max) is max(relu) for every window: not where a window may cover
        only padding (dilation with padding), whose -inf a ReLU after would make 0."""
        nd = self._nd
        return not (any(as_tuple(self.padding, nd, "", "", 0)) and
                    any(d > 1 for d in as_tuple(self.dilation, nd, "", "", 1)))

    def _after_relu(self, x):
        """This pooling of relu(x) in one node (see MaxPoolFunction's ``relu``)."""
        if not isinstance(x, Tensor) or x.dtype.kind != "f":
            return NotImplemented
        pool._check_input(x, type(self).__name__)
        return pool.MaxPoolFunction.apply(x, relu=True, **self._args(tuple(x.shape)))

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool2d(_MaxPool):
    """The maximum of each kh x kw window of every channel: (N, C, H, W) -> (N, C, Ho, Wo).
    ``stride`` defaults to the kernel size (windows side by side); ``MaxPool2d(2)`` halves the
    height and width. The gradient goes to the first maximum of each window, as in PyTorch."""

    _nd = 2


class MaxPool1d(_MaxPool):
    """The maximum of each window of k values along the length: (N, C, L) -> (N, C, Lo)."""

    _nd = 1


class _AvgPool(_Pool):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override=None):
        super().__init__(kernel_size, stride, padding, ceil_mode)
        who = type(self).__name__
        self.count_include_pad = check_bool(count_include_pad, "count_include_pad", who)
        if divisor_override is not None and (not is_int(divisor_override)
                                             or divisor_override < 1):
            raise ValueError(message(who, "a positive integer or None", "divisor_override",
                                     divisor_override))
        self.divisor_override = divisor_override

    def forward(self, x: Tensor) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x)
        return pool._avg_pool(self._nd, x, self.kernel_size, self.stride, self.padding,
                              self.ceil_mode, self.count_include_pad, self.divisor_override,
                              f"{type(self).__name__}({self.extra_repr()})")

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(_AvgPool):
    """The mean of each kh x kw window of every channel: (N, C, H, W) -> (N, C, Ho, Wo).
    ``count_include_pad`` counts the zero padding in each window's divisor, as PyTorch does."""

    _nd = 2


class AvgPool1d(_AvgPool):
    """The mean of each window of k values along the length: (N, C, L) -> (N, C, Lo)."""

    _nd = 1

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True):
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad)
        for name in ("kernel_size", "stride", "padding"):  # tuples, as PyTorch keeps them
            value = getattr(self, name)
            setattr(self, name, (value,) if isinstance(value, int) else value)


class _AdaptiveAvgPool(Module):
    _nd = 2
    _takes_tensor = True

    def __init__(self, output_size):
        super().__init__()
        who = type(self).__name__
        pool.adaptive_out((1, 1) + (1,) * self._nd, output_size, who, self._nd)  # checks it
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x)
        return pool._adaptive_avg_pool(self._nd, x, self.output_size,
                                       f"{type(self).__name__}({self.extra_repr()})")

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool2d(_AdaptiveAvgPool):
    """Average each channel down to ``output_size`` (an int, a pair; None keeps that size)
    whatever the input's: (N, C, H, W) -> (N, C, *output_size)."""

    _nd = 2


class AdaptiveAvgPool1d(_AdaptiveAvgPool):
    """Average each channel down to ``output_size`` values: (N, C, L) -> (N, C, output_size)."""

    _nd = 1


class _AdaptiveMaxPool(Module):
    _nd = 2
    _takes_tensor = True

    def __init__(self, output_size, return_indices: bool = False):
        super().__init__()
        who = type(self).__name__
        pool.adaptive_out((1, 1) + (1,) * self._nd, output_size, who, self._nd)  # checks it
        self.output_size = output_size
        self.return_indices = check_bool(return_indices, "return_indices", who)

    def forward(self, x: Tensor):
        x = x if isinstance(x, Tensor) else Tensor(x)
        return pool._adaptive_max_pool(self._nd, x, self.output_size, self.return_indices,
                                       f"{type(self).__name__}({self.extra_repr()})")

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(_AdaptiveMaxPool):
    """The maximum of each channel over ``output_size`` bins (an int, a pair; None keeps that
    size) whatever the input's size: (N, C, H, W) -> (N, C, *output_size). Bins overlap where
    the sizes do not divide, as in PyTorch; the gradient goes to each bin's first maximum.
    ``return_indices=True`` also returns each maximum's flat index h W + w in its plane."""

    _nd = 2


class AdaptiveMaxPool1d(_AdaptiveMaxPool):
    """The maximum of each channel over ``output_size`` bins: (N, C, L) -> (N, C,
    output_size)."""

    _nd = 1
