"""Upsampling and rearranging layers: Upsample (and UpsamplingNearest2d, UpsamplingBilinear2d),
PixelShuffle and PixelUnshuffle, with PyTorch's arguments."""

from __future__ import annotations

import math

from nerve.autograd import Tensor
from nerve.checks import (
    check_bool,
    check_choice,
    check_positive_int,
    is_int,
    is_real,
    message,
)
from nerve.nn.module import Module
from nerve.ops.fused import resample


class Upsample(Module):
    """Resample (N, C, L) or (N, C, H, W) to ``size`` or by ``scale_factor`` with
    :func:`nerve.nn.functional.interpolate`: ``mode`` "nearest" (each output pixel copies the
    nearest input pixel; ``Upsample(scale_factor=2)`` doubles the height and width),
    "nearest-exact", "linear", "bilinear", "bicubic" (``align_corners`` True or False) or
    "area". Exactly one of ``size`` and ``scale_factor``.
    """

    _takes_tensor = True

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest",
                 align_corners: bool | None = None, recompute_scale_factor: bool | None = None):
        super().__init__()
        who = type(self).__name__
        check_choice(mode, "mode", who, resample.MODES)
        if (size is None) == (scale_factor is None):
            raise ValueError(message(who, "exactly one of size and scale_factor", "size",
                                     size))
        if size is not None:
            sizes = (size,) if is_int(size) else size
            if not isinstance(sizes, (tuple, list)) or \
                    not all(is_int(n) and n > 0 for n in sizes):
                raise ValueError(message(who, "size a positive int or a tuple of them", "size",
                                         size))
            size = int(size) if is_int(size) else tuple(int(n) for n in size)
        else:
            factors = scale_factor if isinstance(scale_factor, (tuple, list)) else \
                (scale_factor,)
            if not all(is_real(f) and
                       math.isfinite(f) and f > 0 for f in factors):
                raise ValueError(message(who, "scale_factor a positive number or a tuple of "
                                         "them", "scale_factor", scale_factor))
            # floats, as PyTorch keeps them (for the repr and the saved architecture)
            scale_factor = tuple(float(f) for f in factors) if \
                isinstance(scale_factor, (tuple, list)) else float(scale_factor)
        if align_corners is not None:
            check_bool(align_corners, "align_corners", who)
            if mode in ("nearest", "nearest-exact", "area"):
                raise ValueError(message(who, f"align_corners=None with mode {mode!r} (it is "
                                         "for linear, bilinear and bicubic)", "align_corners",
                                         align_corners))
        if recompute_scale_factor is not None:
            check_bool(recompute_scale_factor, "recompute_scale_factor", who)
        self.name = who
        self.size, self.scale_factor, self.mode = size, scale_factor, mode
        self.align_corners, self.recompute_scale_factor = align_corners, recompute_scale_factor

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 - PyTorch's name
        return resample.resample(input, self.size, self.scale_factor, self.mode,
                                 self.align_corners, self.recompute_scale_factor, False,
                                 f"{type(self).__name__}({self.extra_repr()})")

    def extra_repr(self) -> str:
        if self.scale_factor is not None:
            info = f"scale_factor={self.scale_factor!r}"
        else:
            info = f"size={self.size!r}"
        return f"{info}, mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """Nearest-neighbour upsampling of (N, C, H, W): ``Upsample(size, scale_factor,
    mode="nearest")``."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """Bilinear upsampling of (N, C, H, W) with the corners aligned: ``Upsample(size,
    scale_factor, mode="bilinear", align_corners=True)``, as PyTorch's."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


class PixelShuffle(Module):
    """Rearrange (*, C r^2, H, W) into (*, C, H r, W r): each group of r^2 channels becomes an
    r x r block of pixels (the sub-pixel convolution of Shi et al., 2016)."""

    _takes_tensor = True

    def __init__(self, upscale_factor: int):
        super().__init__()
        self.upscale_factor = check_positive_int(upscale_factor, "upscale_factor",
                                                 "PixelShuffle")

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 - PyTorch's name
        return resample.shuffle(input, self.upscale_factor, f"PixelShuffle({self.extra_repr()})")

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """Rearrange (*, C, H r, W r) into (*, C r^2, H, W): the inverse of PixelShuffle."""

    _takes_tensor = True

    def __init__(self, downscale_factor: int):
        super().__init__()
        self.downscale_factor = check_positive_int(downscale_factor, "downscale_factor",
                                                   "PixelUnshuffle")

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 - PyTorch's name
        return resample.unshuffle(input, self.downscale_factor,
                                  f"PixelUnshuffle({self.extra_repr()})")

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"
