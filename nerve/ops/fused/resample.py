"""Resampling an image or a sequence: interpolation (nearest, linear, bilinear, bicubic, area)
and the pixel shuffles.

Interpolation is separable: along each axis, an output position reads a few input positions
(one for nearest, two for linear, four for cubic) with weights; the image is resampled along
the width, then along the height, as PyTorch's kernel computes it (each output is
w0 (v0 x0 + v1 x1) + w1 (v0 x2 + v1 x3) in that order, so float64 results agree to the last
bit). Each axis is a few gathers (``take``), never a loop over pixels; its backward adds each
gradient back where it was read. The positions and weights follow PyTorch's source-index rules
exactly (``area_pixel_compute_source_index``): with ``align_corners`` the corners of input and
output coincide, src = d (n_in - 1) / (n_out - 1); without, pixel centres do,
src = (d + 0.5) / scale - 0.5, where scale is the user's ``scale_factor`` when one was given
(and not recomputed), else n_out / n_in (also where PyTorch's kernels take the sizes despite a
scale factor: :func:`_sizes_decide`). Nearest indices are rounded to float32 before the
floor whatever the input, as PyTorch's floorf does. "area" is adaptive average pooling, as in
PyTorch.
"""

from __future__ import annotations

import math

from nerve import backend
from nerve.autograd import Tensor
from nerve.checks import (
    check_bool,
    check_choice,
    check_positive_int,
    is_int,
    is_real,
    message,
)
from nerve.function import Function
from nerve.ops.fused import pool

MODES = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear", "area")
_DIMS = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}  # the modes tied to a rank
CUBIC_A = -0.75  # PyTorch's (and OpenCV's) bicubic kernel parameter


class InterpolateFunction(Function):
    """y = x resampled: y[..., i, j] = sum over a, b of u_a[i] v_b[j] x[..., h_a[i], w_b[j]]
    (separable: along the width, then the height); dx = the same weights' transpose: each
    g u_a v_b added back at (h_a, w_b)

    ``plan`` holds, per resampled axis (last first), (axis, input size, taps), each tap an
    (index, weight or None, runs) triple: ``runs`` lists (output positions, input positions)
    groups of distinct input positions, so that the backward's additions never collide.
    """

    def forward(ctx, x, *, plan):
        xp = backend.array_module(x)
        with backend.errstate(invalid="ignore"):  # inf times a weight of 0: NaN, as PyTorch's
            for axis, _, taps in plan:
                x = _along(xp, x, axis, taps)
        return x

    def backward(ctx, g):
        xp = backend.array_module(g)
        for axis, n_in, taps in reversed(ctx.options["plan"]):
            shape = list(g.shape)
            shape[axis] = n_in
            dx = xp.zeros(shape, g.dtype)
            lead = (slice(None),) * axis
            for _, weight, runs in taps:
                with backend.errstate(invalid="ignore"):
                    part = g if weight is None else g * _along_axis(weight, axis, g.ndim)
                for out_pos, in_pos in runs:
                    dx[lead + (in_pos,)] += xp.take(part, out_pos, axis=axis)
            g = dx
        return (g,)


def _along_axis(v, axis: int, ndim: int):
    """A vector shaped to broadcast along ``axis`` of an ``ndim``-D array."""
    return v.reshape((-1,) + (1,) * (ndim - 1 - axis))


def _along(xp, x, axis: int, taps):
    """Resample ``x`` along one axis: sum over taps of weight * x[..., index, ...]."""
    out = None
    for index, weight, _ in taps:
        part = xp.take(x, index, axis=axis)
        if weight is not None:
            part *= _along_axis(weight, axis, x.ndim)
        if out is None:
            out = part
        else:
            out += part
    return out


def _runs(xp, index):
    """(output positions, input positions) groups in which every input position appears once:
    group r holds the r-th output of each run of equal indices (``index`` never decreases)."""
    n = index.shape[0]
    new = xp.ones(n, bool)
    new[1:] = index[1:] != index[:-1]
    starts = xp.flatnonzero(new)
    lengths = xp.diff(xp.concatenate([starts, xp.asarray([n])]))
    groups = []
    for r in range(int(lengths.max()) if n else 0):  # the longest run: about the scale factor
        first = starts[lengths > r]
        groups.append((first + r, index[first]))
    return groups


def _sizes_decide(mode: str, dims: int, n_in: int, n_out: int) -> bool:
    """True where PyTorch's CPU kernels ignore a given scale factor for one axis and take
    n_in / n_out: linear and bilinear where the axis keeps its size, and nearest on a 4-D input
    where it keeps or doubles it (``nearest_idx``: the identity, or d >> 1). Not for a 3-D
    input's nearest, nearest-exact or bicubic: those keep the user's scale (2.1 on 5 values
    reads 0 0 0 1 1 ... there, 0 0 1 1 ... on a 4-D input)."""
    if mode in ("linear", "bilinear"):
        return n_out == n_in
    return mode == "nearest" and dims == 2 and n_out in (n_in, 2 * n_in)


def _taps(xp, mode: str, n_in: int, n_out: int, scale, align_corners: bool, dtype):
    """The (index, weight, runs) taps of one axis, by PyTorch's rules (see the module's text);
    ``scale`` the user's scale factor or None."""
    d = xp.arange(n_out)
    if mode in ("nearest", "nearest-exact"):
        # PyTorch: the scale in the input's precision (the user's where one is given, but see
        # _sizes_decide), the source index rounded to float32 (floorf)
        t = dtype.type
        s = t(1.0 / scale) if scale is not None and scale > 0 else t(n_in) / t(n_out)
        if mode == "nearest":  # floorf(d * scale)
            src = (d.astype(dtype) * s).astype(xp.float32)
        else:  # floorf((d + 0.5) * scale), the product in double
            src = ((d + 0.5) * float(s)).astype(xp.float32)
        index = xp.minimum(xp.floor(src).astype(xp.int64), n_in - 1)
        return [(index, None, _runs(xp, index))]
    t = dtype.type  # PyTorch's opmath: float for float32, double for float64
    if align_corners:
        s = t(n_in - 1) / t(n_out - 1) if n_out > 1 else t(0)
        src = d.astype(dtype) * s
    else:
        s = t(1.0 / scale) if scale is not None and scale > 0 else t(n_in) / t(n_out)
        src = s * (d.astype(dtype) + t(0.5)) - t(0.5)
        if mode != "bicubic":
            src = xp.maximum(src, t(0))
    # guard_index_and_lambda: the index at most n_in - 1, the fraction within [0, 1]
    index = xp.minimum(xp.floor(src).astype(xp.int64), n_in - 1)
    lam = xp.minimum(xp.maximum(src - index.astype(dtype), t(0)), t(1))
    if mode != "bicubic":
        upper = index + (index < n_in - 1)
        return [(index, t(1) - lam, _runs(xp, index)), (upper, lam, _runs(xp, upper))]
    taps = []
    for k, weight in enumerate(_cubic_weights(lam, t)):
        at = xp.clip(index - 1 + k, 0, n_in - 1)  # PyTorch reads the border again beyond it
        taps.append((at, weight, _runs(xp, at)))
    return taps


def _cubic_weights(x, t):
    """Keys' cubic convolution weights (A = -0.75) of the four taps around a fraction x."""
    a = t(CUBIC_A)

    def near(v):  # |v| <= 1
        return ((a + t(2)) * v - (a + t(3))) * v * v + t(1)

    def far(v):  # 1 < |v| < 2
        return ((a * v - t(5) * a) * v + t(8) * a) * v - t(4) * a

    return [far(x + t(1)), near(x), near(t(1) - x), far((t(1) - x) + t(1))]


def _output_sizes(shape, size, scale_factor, recompute, who: str):
    """The output's spatial sizes and the scale factors the source index uses (None where
    the sizes decide, as PyTorch's recompute_scale_factor does)."""
    dims = len(shape) - 2
    if size is not None and scale_factor is not None:
        raise ValueError(message(who, "only one of size or scale_factor", "scale_factor",
                                 scale_factor))
    if size is None and scale_factor is None:
        raise ValueError(message(who, "size or scale_factor", "size", size))
    if recompute is not None:
        check_bool(recompute, "recompute_scale_factor", who)
    if size is not None:
        if recompute:
            raise ValueError(message(who, "recompute_scale_factor None or False with an "
                                     "explicit size (it is not meaningful)",
                                     "recompute_scale_factor", recompute))
        sizes = (size,) * dims if is_int(size) else size
        if not isinstance(sizes, (tuple, list)) or len(sizes) != dims or \
                not all(is_int(n) for n in sizes):
            raise ValueError(message(who, f"size an int or {dims} ints (one per spatial "
                                     f"dimension of the input {tuple(shape)})", "size", size))
        if any(n < 1 for n in sizes):
            raise ValueError(message(who, "output sizes greater than 0", "size", size))
        return tuple(int(n) for n in sizes), (None,) * dims
    factors = (scale_factor,) * dims if not isinstance(scale_factor, (tuple, list)) else \
        scale_factor
    if len(factors) != dims or not all(is_real(f)
                                       and math.isfinite(f) and f > 0 for f in factors):
        raise ValueError(message(who, f"scale_factor a positive number or {dims} of them (one "
                                 f"per spatial dimension of the input {tuple(shape)})",
                                 "scale_factor", scale_factor))
    sizes = tuple(math.floor(n * float(f)) for n, f in zip(shape[2:], factors))
    if any(n < 1 for n in sizes):
        raise ValueError(message(who, f"output sizes greater than 0 (input {tuple(shape)} "
                                 f"times scale_factor gives {sizes})", "scale_factor",
                                 scale_factor))
    return sizes, (None,) * dims if recompute else tuple(float(f) for f in factors)


def interpolate(input, size=None, scale_factor=None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resample (N, C, L) or (N, C, H, W) to ``size`` or by ``scale_factor``, as PyTorch's
    ``F.interpolate``: ``mode`` "nearest", "nearest-exact", "linear" (3-D), "bilinear" and
    "bicubic" (4-D, ``align_corners`` True or False) or "area" (adaptive average pooling).
    ``antialias=True`` is not implemented (NotImplementedError)."""
    return resample(input, size, scale_factor, mode, align_corners, recompute_scale_factor,
                    antialias, "interpolate")


def resample(input, size, scale_factor, mode, align_corners, recompute_scale_factor,
             antialias, who: str) -> Tensor:
    """:func:`interpolate`, its errors naming ``who`` (a layer names itself)."""
    if not isinstance(input, Tensor):
        raise TypeError(message(who, "a Tensor", "input", type(input).__name__))
    if input.dtype.kind != "f":
        raise TypeError(message(who, "a floating-point input", "input.dtype", input.dtype))
    check_choice(mode, "mode", who, MODES)
    check_bool(antialias, "antialias", who)
    if mode in ("nearest", "nearest-exact", "area"):
        if align_corners is not None:
            raise ValueError(message(who, "align_corners=None with mode "
                                     f"{mode!r} (it is for linear, bilinear and bicubic)",
                                     "align_corners", align_corners))
    else:
        align_corners = False if align_corners is None else \
            check_bool(align_corners, "align_corners", who)
    if input.ndim not in (3, 4):
        if input.ndim == 5:
            raise NotImplementedError(f"{who}: 5-D inputs (volumes) are not implemented; "
                                      f"received input.shape={input.shape}")
        raise ValueError(message(who, "a 3-D (N, C, L) or 4-D (N, C, H, W) input",
                                 "input.shape", input.shape))
    dims = input.ndim - 2
    if _DIMS.get(mode, dims) != dims:
        raise NotImplementedError(f"{who}: got a {input.ndim}-D input, but mode {mode!r} needs "
                                  f"a {_DIMS[mode] + 2}-D input")
    if mode == "area" and scale_factor is not None:
        recompute_scale_factor = True  # as PyTorch: area pools to the computed size
    sizes, scales = _output_sizes(input.shape, size, scale_factor, recompute_scale_factor, who)
    if antialias:
        if mode not in ("bilinear", "bicubic"):
            raise ValueError(message(who, "antialias=False with mode "
                                     f"{mode!r} (PyTorch's antialias is for bilinear and "
                                     "bicubic)", "antialias", antialias))
        raise NotImplementedError(f"{who}: antialias=True is not implemented; "
                                  "received antialias=True")
    if mode == "area":
        fn = pool.adaptive_avg_pool1d if dims == 1 else pool.adaptive_avg_pool2d
        return fn(input, sizes[0] if dims == 1 else sizes)
    xp = backend.array_module(input._data)
    plan = []
    for k in reversed(range(dims)):  # the last axis first, as PyTorch's kernel
        n_in, n_out = input.shape[2 + k], sizes[k]
        scale = None if _sizes_decide(mode, dims, n_in, n_out) else scales[k]
        taps = _taps(xp, mode, n_in, n_out, scale, align_corners, input.dtype)
        plan.append((2 + k, n_in, tuple(taps)))
    return InterpolateFunction.apply(input, plan=tuple(plan))


def _check_shuffle_input(input, factor, name: str, who: str) -> int:
    if not isinstance(input, Tensor):
        raise TypeError(message(who, "a Tensor", "input", type(input).__name__))
    factor = check_positive_int(factor, name, who)
    if input.ndim < 3:
        raise ValueError(message(who, "an input of at least 3 dimensions (*, C, H, W)",
                                 "input.shape", input.shape))
    return factor


def pixel_shuffle(input, upscale_factor: int) -> Tensor:
    """(*, C r^2, H, W) -> (*, C, H r, W r): each group of r^2 channels becomes an r x r block
    of pixels (sub-pixel convolution's rearrangement); a reshape and a permutation."""
    return shuffle(input, upscale_factor, "pixel_shuffle")


def shuffle(input, upscale_factor, who: str) -> Tensor:
    """:func:`pixel_shuffle`, its errors naming ``who``."""
    r = _check_shuffle_input(input, upscale_factor, "upscale_factor", who)
    *batch, c, h, w = input.shape
    if c % (r * r):
        raise ValueError(message(who, f"channels divisible by upscale_factor ** 2 = {r * r}",
                                 "input.shape", input.shape))
    b = len(batch)
    y = input.reshape(*batch, c // (r * r), r, r, h, w)
    y = y.permute(*range(b), b, b + 3, b + 1, b + 4, b + 2)
    return y.reshape(*batch, c // (r * r), h * r, w * r)


def pixel_unshuffle(input, downscale_factor: int) -> Tensor:
    """(*, C, H r, W r) -> (*, C r^2, H, W): the inverse of :func:`pixel_shuffle`."""
    return unshuffle(input, downscale_factor, "pixel_unshuffle")


def unshuffle(input, downscale_factor, who: str) -> Tensor:
    """:func:`pixel_unshuffle`, its errors naming ``who``."""
    r = _check_shuffle_input(input, downscale_factor, "downscale_factor", who)
    *batch, c, h, w = input.shape
    if h % r or w % r:
        raise ValueError(message(who, f"height and width divisible by downscale_factor={r}",
                                 "input.shape", input.shape))
    b = len(batch)
    y = input.reshape(*batch, c, h // r, r, w // r, r)
    y = y.permute(*range(b), b, b + 2, b + 4, b + 1, b + 3)
    return y.reshape(*batch, c * r * r, h // r, w // r)
