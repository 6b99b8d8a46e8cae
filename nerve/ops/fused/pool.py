"""Pooling, 1-D and 2-D: max, average and adaptive average, each one node.

Read channels-last like the convolution (a view of its output's memory, no copy): a window's
maximum is the element-wise maximum of kh * kw strided slices, one per kernel tap, never a loop
over pixels. Max pooling's backward sends each window's gradient to the first of its tied
maxima, in the kernel's row-by-row order, as PyTorch does (on MNIST about 17% of the first
layer's 2x2 windows hold ties, where an 'equals the maximum' mask would hand the gradient to
every tied element). Adaptive average pooling is two products with averaging matrices, one per
axis. A 1-D pooling is the 2-D one over an image of height 1.
"""

from __future__ import annotations

import math

from nerve import backend, jit
from nerve.autograd import Tensor
from nerve.checks import check_bool, is_int, message
from nerve.function import Function
from nerve.ops._common import register
from nerve.ops.fused import scratch
from nerve.ops.fused.window import as_tuple, check_batched, disjoint, out_size, taps


def _channels_last(x):
    """(N, C, H, W) or, for 1-D, (N, C, L) as an (N, H, W, C) view."""
    return (x[:, :, None, :] if x.ndim == 3 else x).transpose(0, 2, 3, 1)


def _channels_first(y, one_d: bool):
    y = y.transpose(0, 3, 1, 2)
    return y[:, :, 0, :] if one_d else y


def _hw(shape) -> tuple[int, int]:
    """The spatial size of an (N, C, H, W) or (N, C, L) input as a pair."""
    return (1, shape[2]) if len(shape) == 3 else tuple(shape[2:])


def _padded(xp, xh, pads, fill):
    top, bottom, left, right = pads
    if not (top or bottom or left or right):
        return xh
    n, h, w, c = xh.shape
    out = xp.full((n, h + top + bottom, w + left + right, c), fill, xh.dtype)
    out[:, top:top + h, left:left + w] = xh
    return out


class MaxPoolFunction(Function):
    """y = the maximum of each window;  dx = g at the first maximum of each window, 0 elsewhere

    ``kernel``, ``stride``, ``dilation`` are pairs, ``pads`` (top, bottom, left, right); a 3-D
    input (N, C, L) is pooled in 1-D. With ``relu=True`` the node is max_pool(relu(x)) (a
    Sequential's ReLU then MaxPool): the compiled kernel takes each window's maximum of x and
    keeps it where it is positive, so the ReLU costs no pass over the (4x larger) input; the
    gradient goes to the first maximum of windows whose maximum is positive, as the two
    layers' own backward gives it. Elsewhere (NumPy's passes, a NaN) the ReLU is applied first.
    """

    def forward(ctx, x, *, kernel, stride, dilation, pads, out, relu=False):
        xp = backend.array_module(x)
        xpad = _padded(xp, _channels_last(x), pads, -math.inf)
        y, index = _max_and_index(xpad, kernel, stride, dilation, out, relu)
        if y is None:  # relu, without the kernel: the ReLU's pass, then NumPy's pooling
            x = xp.maximum(x, backend.zeros_as(x))
            xpad = _padded(xp, _channels_last(x), pads, -math.inf)
            y = _max(xpad, kernel, stride, dilation, out)
        if hasattr(ctx, "needs_input_grad"):  # recorded: keep what backward reads
            # the kernel's backward reads the taps alone: x is not kept (with relu, x is the
            # ReLU's input, which the two layers' backward never reads)
            ctx.save_for_backward(x if index is None else None)
            ctx.x_info = x.shape, x.dtype
            ctx.index = index  # the kernel's tap of each window's first maximum, or None
            ctx.xpad = xpad if index is None and xpad.base is None else None  # a padded copy
            # backward compares with a copy of y, so that the output may change in place (a
            # ReLU(inplace) after the pooling), as in PyTorch, which keeps indices instead
            ctx.y = None
            if index is None:
                ctx.y = scratch.take(xp, y.shape, y.dtype)
                ctx.y[...] = y
        return _channels_first(y, x.ndim == 3)

    @staticmethod
    def compute(x, *, kernel, stride, dilation, pads, out):
        xpad = _padded(backend.array_module(x), _channels_last(x), pads, -math.inf)
        return _channels_first(_max_and_index(xpad, kernel, stride, dilation, out)[0],
                               x.ndim == 3)

    def backward(ctx, g):
        (x,), y = ctx.saved_tensors, ctx.y
        o = ctx.options
        if ctx.index is not None:  # the compiled kernel's first maxima (see _max_and_index)
            return (_max_backward_by_index(*ctx.x_info, g, ctx.index, o),)
        xpad = ctx.xpad if ctx.xpad is not None else _channels_last(x)
        xp = backend.array_module(g)
        gh = _channels_last(g).astype(y.dtype, copy=False)
        ours = disjoint(o["kernel"], o["stride"], o["dilation"])
        # windows side by side over all of the input: every value of dx is written below
        dx = (xp.empty if ours and _tiled(o, xpad.shape[1:3]) else xp.zeros)(xpad.shape, y.dtype)
        windows = taps(o["kernel"], o["stride"], o["dilation"], o["out"])
        odd = not xp.isfinite(y).all()  # NaN or -inf maxima: PyTorch's rules below
        inside = _inside(xp, x, o["pads"]) if odd and ctx.xpad is not None else None
        taken = None  # the windows whose maximum an earlier tap already took
        for i, (rows, cols) in enumerate(windows):
            hit = xpad[:, rows, cols] == y
            if inside is not None:  # an all -inf window: the padding never wins a tie
                hit &= inside[:, rows, cols]
            if taken is None:
                taken = hit
            else:
                xp.greater(hit, taken, out=hit)  # hit and not taken
                if i + 1 < len(windows):
                    taken |= hit
            if ours:
                xp.multiply(gh, hit, out=dx[:, rows, cols])
            else:
                dx[:, rows, cols] += gh * hit
        if odd and xp.isnan(y).any():  # NaN is the maximum; PyTorch takes the window's last
            taken = xp.zeros(y.shape, bool)
            for rows, cols in reversed(windows):
                hit = xp.isnan(xpad[:, rows, cols]) > taken
                taken |= hit
                dx[:, rows, cols] += gh * hit
        top, _, left, _ = o["pads"]
        h, w = _hw(x.shape)
        dx = _channels_first(dx[:, top:top + h, left:left + w], x.ndim == 3)
        if o.get("relu"):  # x is relu(x) here: the ReLU's backward
            dx *= x > 0
        return (dx,)

    def release(ctx) -> None:
        if getattr(ctx, "y", None) is not None:
            scratch.give(ctx.y)
        ctx.xpad = ctx.y = ctx.index = None
        super().release()


def _tiled(o, padded_hw) -> bool:
    """True when the windows lie side by side over all of the padded input, so that a backward
    writes every value of dx (it may start from empty memory instead of zeros)."""
    return o["stride"] == o["kernel"] and o["dilation"] == (1, 1) and \
        all(m * k == n for m, k, n in zip(o["out"], o["kernel"], padded_hw))


def _max_and_index(xpad, kernel, stride, dilation, out, relu=False):
    """The windows' maxima (N, Ho, Wo, C) and, from the compiled kernel (:mod:`nerve.jit`),
    the tap of each window's first maximum (uint8), or None from NumPy's passes. The kernel
    serves windows that share no input value (each input then gets at most one gradient, so
    the backward adds nothing in a different order) and finite maxima (NaN and -inf keep
    NumPy's rules in the backward). With ``relu``, the kernel's maxima are relu(max) and a
    window whose maximum is not positive gets the tap 255 (no input's gradient); without
    the kernel, (None, None): the caller applies the ReLU first."""
    if kernel[0] * kernel[1] < 256 - relu and disjoint(kernel, stride, dilation) and \
            jit.usable(xpad):
        n, c = xpad.shape[0], xpad.shape[3]
        y = backend.array_module(xpad).empty((n, *out, c), xpad.dtype)
        index = backend.array_module(xpad).empty(y.shape, "uint8")
        if _max_pool_kernel(xpad, kernel[0], kernel[1], stride[0], stride[1], dilation[0],
                            dilation[1], relu, y, index):
            return y, index
    if relu:
        return None, None
    return _max(xpad, kernel, stride, dilation, out), None


def _max_backward_by_index(shape, dtype, g, index, o):
    """dx (of the input's shape and dtype): each window's gradient at its first maximum,
    through the compiled kernel."""
    xp = backend.array_module(g)
    top, bottom, left, right = o["pads"]
    h, w = _hw(shape)
    n, _, _, c = index.shape
    (kh, kw), (sh, sw), (dh, dw) = o["kernel"], o["stride"], o["dilation"]
    padded = (h + top + bottom, w + left + right)
    dx = (xp.empty if _tiled(o, padded) else xp.zeros)((n, *padded, c), dtype)
    gh = xp.ascontiguousarray(_channels_last(g), dtype=dtype)  # one copy: 6x faster after
    _max_pool_back_kernel(gh, index, kh, kw, sh, sw, dh, dw, dx)
    return _channels_first(dx[:, top:top + h, left:left + w], len(shape) == 3)


@jit.kernel
def _max_pool_kernel(x, kh, kw, sh, sw, dh, dw, relu, y, index):
    """Max pooling of channels-last ``x`` (N, Hp, Wp, C) into ``y`` (N, Ho, Wo, C), with the
    tap (row by row in the window) of each window's first maximum in ``index``, in one pass
    (see :mod:`nerve.jit`; selects rather than branches, so that it vectorises over the
    channels). Returns False if a value is NaN or a maximum -inf (NumPy's rules then). Of
    tied zeros it keeps the first, +0 or -0, as PyTorch does (NumPy's maximum the last).
    With ``relu``: a maximum that is not positive becomes +0, its tap 255."""
    n, ho, wo, c = y.shape
    zero, none = y.dtype.type(0), index.dtype.type(255)
    odd = 0
    for b in range(n):
        for i in range(ho):
            for j in range(wo):
                for ch in range(c):
                    y[b, i, j, ch] = x[b, i * sh, j * sw, ch]
                    index[b, i, j, ch] = 0
            for t in range(1, kh * kw):
                row, col, tap = i * sh + (t // kw) * dh, (t % kw) * dw, index.dtype.type(t)
                for j in range(wo):
                    xs, ys, taps = x[b, row, j * sw + col], y[b, i, j], index[b, i, j]
                    for ch in range(c):
                        v, best = xs[ch], ys[ch]
                        better = v > best
                        ys[ch] = v if better else best
                        taps[ch] = tap if better else taps[ch]
                        odd += v != v
            for j in range(wo):
                for ch in range(c):
                    odd += not (y[b, i, j, ch] > -math.inf)  # -inf, or a NaN at the first tap
            if relu:
                for j in range(wo):
                    ys, taps = y[b, i, j], index[b, i, j]
                    for ch in range(c):
                        kept = ys[ch] > 0
                        ys[ch] = ys[ch] if kept else zero
                        taps[ch] = taps[ch] if kept else none
    return odd == 0


@jit.kernel
def _max_pool_back_kernel(g, index, kh, kw, sh, sw, dh, dw, dx):
    """dx = g at each window's first maximum (the tap in ``index``), +0 at the window's other
    inputs (as PyTorch; NumPy's g * mask gives -0 where g < 0), for windows that share no input
    value; the companion of ``_max_pool_kernel``.
    ``g`` (N, Ho, Wo, C) contiguous; inputs that no window reads are left as they are."""
    n, ho, wo, c = g.shape
    zero = g.dtype.type(0)
    for b in range(n):
        for i in range(ho):
            for t in range(kh * kw):
                row, col = i * sh + (t // kw) * dh, (t % kw) * dw
                for j in range(wo):
                    ds, gs, taps = dx[b, row, j * sw + col], g[b, i, j], index[b, i, j]
                    for ch in range(c):
                        ds[ch] = gs[ch] if taps[ch] == t else zero


def _inside(xp, x, pads):
    """(1, Hp, Wp, 1): True on the input, False on its padding."""
    top, bottom, left, right = pads
    h, w = _hw(x.shape)
    inside = xp.zeros((1, h + top + bottom, w + left + right, 1), bool)
    inside[:, top:top + h, left:left + w] = True
    return inside


def _max(xpad, kernel, stride, dilation, out):
    xp = backend.array_module(xpad)
    windows = taps(kernel, stride, dilation, out)
    first = xpad[:, windows[0][0], windows[0][1]]
    if len(windows) == 1:
        return first.copy()
    y = xp.maximum(first, xpad[:, windows[1][0], windows[1][1]])
    for rows, cols in windows[2:]:
        xp.maximum(y, xpad[:, rows, cols], out=y)
    return y


class AvgPoolFunction(Function):
    """y = the sum of each window / its divisor;  dx = the sum of g / divisor over the windows
    that hold x

    The divisor is ``divisor`` (a number, or an (Ho, Wo) array where windows differ).
    """

    def forward(ctx, x, *, kernel, stride, pads, out, divisor, in_hw=None):
        return AvgPoolFunction.compute(x, kernel=kernel, stride=stride, pads=pads, out=out,
                                       divisor=divisor)

    @staticmethod
    def compute(x, *, kernel, stride, pads, out, divisor, in_hw=None):
        xp = backend.array_module(x)
        xpad = _padded(xp, _channels_last(x), pads, 0)
        windows = taps(kernel, stride, (1, 1), out)
        y = xpad[:, windows[0][0], windows[0][1]] + 0  # a new array, channels-last
        for rows, cols in windows[1:]:
            y += xpad[:, rows, cols]
        y *= _reciprocal(xp, divisor, y.dtype)
        return _channels_first(y, x.ndim == 3)

    def backward(ctx, g):
        o = ctx.options
        xp = backend.array_module(g)
        n, c = g.shape[:2]
        h, w = o["in_hw"]
        top, bottom, left, right = o["pads"]
        dx = xp.zeros((n, h + top + bottom, w + left + right, c), g.dtype)
        gd = _channels_last(g) * _reciprocal(xp, o["divisor"], g.dtype)
        ours = disjoint(o["kernel"], o["stride"], (1, 1))
        for rows, cols in taps(o["kernel"], o["stride"], (1, 1), o["out"]):
            if ours:
                dx[:, rows, cols] = gd
            else:
                dx[:, rows, cols] += gd
        return (_channels_first(dx[:, top:top + h, left:left + w], g.ndim == 3),)


def _reciprocal(xp, divisor, dtype):
    if isinstance(divisor, (int, float)):
        return 1.0 / divisor
    return (1.0 / xp.asarray(divisor, dtype))[:, :, None]  # (Ho, Wo, 1): over the channels


class AdaptiveAvgPoolFunction(Function):
    """y = A_h x A_w^T per channel, A the averaging matrices of PyTorch's bins
    (row i averages x[floor(i n / m) : ceil((i + 1) n / m)]);  dx = A_h^T g A_w"""

    def forward(ctx, x, *, out, in_hw=None):
        return AdaptiveAvgPoolFunction.compute(x, out=out)

    @staticmethod
    def compute(x, *, out, in_hw=None):
        xp = backend.array_module(x)
        xh = _channels_last(x)  # (N, H, W, C)
        n, h, w, c = xh.shape
        ah, aw = _bins(xp, h, out[0], x.dtype), _bins(xp, w, out[1], x.dtype)
        t = xp.matmul(ah, xh.reshape(n, h, w * c)).reshape(n * out[0], w, c)
        y = xp.matmul(aw, t).reshape(n, out[0], out[1], c)
        return _channels_first(y, x.ndim == 3)

    def backward(ctx, g):
        xp = backend.array_module(g)
        gh = _channels_last(g)
        n, ho, wo, c = gh.shape
        h, w = ctx.options["in_hw"]
        ah, aw = _bins(xp, h, ho, g.dtype), _bins(xp, w, wo, g.dtype)
        t = xp.matmul(aw.T, gh.reshape(n * ho, wo, c)).reshape(n, ho, w * c)
        dx = xp.matmul(ah.T, t).reshape(n, h, w, c)
        return (_channels_first(dx, g.ndim == 3),)


def _bins(xp, n: int, m: int, dtype):
    """The (m, n) matrix that averages PyTorch's adaptive bins."""
    a = xp.zeros((m, n), dtype)
    for i in range(m):  # m output positions, each one row: not a loop over pixels
        lo, hi = (i * n) // m, -((-(i + 1) * n) // m)
        a[i, lo:hi] = 1.0 / (hi - lo)
    return a


# --- the public functions: arguments checked, then one node ---------------------------------

def pool_args(x_shape, kernel_size, stride, padding, dilation, ceil_mode, who: str, nd: int):
    """Check a pooling's arguments against its input; return (kernel, stride, dilation,
    pads as (top, bottom, left, right), out) for the 2-D computation (1-D as height 1)."""
    check_batched(x_shape, nd, who)
    kernel = as_tuple(kernel_size, nd, "kernel_size", who, 1)
    empty = stride is None or (isinstance(stride, (tuple, list)) and not stride)
    stride = kernel if empty else as_tuple(stride, nd, "stride", who, 1)
    padding = as_tuple(padding, nd, "padding", who, 0)
    dilation = as_tuple(dilation, nd, "dilation", who, 1)
    check_bool(ceil_mode, "ceil_mode", who)
    for k, p in zip(kernel, padding):
        if p > k // 2:
            raise ValueError(message(who, f"padding at most half the kernel size {kernel} "
                                     "(PyTorch's rule)", "padding", padding))
    pads, outs = [], []
    for n, k, s, p, d in zip(x_shape[2:], kernel, stride, padding, dilation):
        span = d * (k - 1) + 1
        m = out_size(n, k, s, d, p, p + (s - 1 if ceil_mode else 0))
        if ceil_mode and (m - 1) * s >= n + p:  # the last window must start inside
            m -= 1
        if m < 1:  # ceil_mode pools a partial window, as PyTorch does
            raise ValueError(message(who, f"an input at least as large as the window (kernel_size "
                                     f"{kernel}, dilation {dilation}, padding {padding})",
                                     "input.shape", tuple(x_shape)))
        pads.append((p, max(p, (m - 1) * s + span - n - p)))
        outs.append(m)
    if nd == 1:
        return (1,) + kernel, (1,) + stride, (1,) + dilation, (0, 0) + pads[0], (1, outs[0])
    return kernel, stride, dilation, pads[0] + pads[1], tuple(outs)


def _check_input(input, who: str) -> None:
    if not isinstance(input, Tensor):
        raise TypeError(message(who, "a Tensor", "input", type(input).__name__))
    if input.dtype.kind != "f":
        raise TypeError(message(who, "a floating-point input", "input.dtype", input.dtype))


def _max_pool(nd, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
              who):
    _check_input(input, who)
    if return_indices:
        raise ValueError(message(who, "return_indices=False (indices are not supported)",
                                 "return_indices", return_indices))
    k, s, d, pads, out = pool_args(input.shape, kernel_size, stride, padding, dilation,
                                   ceil_mode, who, nd)
    return MaxPoolFunction.apply(input, kernel=k, stride=s, dilation=d, pads=pads, out=out)


@register(methods=())
def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False) -> Tensor:
    """The maximum of each kh x kw window of (N, C, H, W); ``stride`` defaults to the kernel
    size; padding counts as minus infinity."""
    return _max_pool(2, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices, "max_pool2d")


@register(methods=())
def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False) -> Tensor:
    """The maximum of each window of k values of (N, C, L); arguments as :func:`max_pool2d`."""
    return _max_pool(1, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices, "max_pool1d")


def _avg_pool(nd, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override, who):
    _check_input(input, who)
    check_bool(count_include_pad, "count_include_pad", who)
    if divisor_override is not None and (not is_int(divisor_override) or divisor_override < 1):
        raise ValueError(message(who, "a positive integer or None", "divisor_override",
                                 divisor_override))
    k, s, _, pads, out = pool_args(input.shape, kernel_size, stride, padding, 1, ceil_mode,
                                   who, nd)
    if divisor_override is not None:
        divisor = int(divisor_override)
    else:
        divisor = _divisor(input.shape, k, s, pads, out, count_include_pad, nd)
    return AvgPoolFunction.apply(input, kernel=k, stride=s, pads=pads, out=out,
                                 divisor=divisor, in_hw=_hw(input.shape))


def _divisor(x_shape, kernel, stride, pads, out, count_include_pad: bool, nd: int):
    """Each window's divisor as PyTorch counts it: the window's size, less the part beyond the
    padding (ceil_mode) and, without count_include_pad, less the padding too. A number when
    every window has the same one, else an (Ho, Wo) array."""
    top, bottom, left, right = pads
    h, w = (1, x_shape[2]) if nd == 1 else x_shape[2:]
    if not count_include_pad:
        inside = [(top, top + h), (left, left + w)]
    else:  # the padding counts, not the extra columns that ceil_mode reads beyond it
        p = (pads[0], pads[2])
        inside = [(0, h + 2 * p[0]), (0, w + 2 * p[1])]
    counts = []
    for axis in range(2):
        lo, hi = inside[axis]
        starts = [i * stride[axis] for i in range(out[axis])]
        counts.append([max(0, min(s + kernel[axis], hi) - max(s, lo)) for s in starts])
    if len(set(counts[0])) == 1 and len(set(counts[1])) == 1:
        return counts[0][0] * counts[1][0]
    return [[a * b for b in counts[1]] for a in counts[0]]


@register(methods=())
def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None) -> Tensor:
    """The mean of each kh x kw window of (N, C, H, W); ``stride`` defaults to the kernel size;
    ``count_include_pad`` counts the zero padding in the divisor, as PyTorch does."""
    return _avg_pool(2, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, "avg_pool2d")


@register(methods=())
def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True) -> Tensor:
    """The mean of each window of k values of (N, C, L); arguments as :func:`avg_pool2d`."""
    return _avg_pool(1, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     None, "avg_pool1d")


def adaptive_out(x_shape, output_size, who: str, nd: int) -> tuple[int, int]:
    """The output size of an adaptive pooling as a pair (1-D as height 1); None keeps the
    input's size along that axis, as in PyTorch."""
    if len(x_shape) != nd + 2:
        dims = "(N, C, L)" if nd == 1 else "(N, C, H, W)"
        raise ValueError(message(who, f"a {nd + 2}-D input {dims}", "input.shape",
                                 tuple(x_shape)))
    sizes = (output_size,) * nd if is_int(output_size) or output_size is None else output_size
    if not isinstance(sizes, (tuple, list)) or len(sizes) != nd:
        raise TypeError(message(who, f"an int or a tuple of {nd} ints (or None)", "output_size",
                                output_size))
    out = tuple(n if m is None else as_tuple(m, 1, "output_size", who, 1)[0]
                for n, m in zip(x_shape[2:], sizes))
    return (1, out[0]) if nd == 1 else out


def _adaptive_avg_pool(nd, input, output_size, who):
    _check_input(input, who)
    out = adaptive_out(input.shape, output_size, who, nd)
    return AdaptiveAvgPoolFunction.apply(input, out=out, in_hw=_hw(input.shape))


@register(methods=())
def adaptive_avg_pool2d(input, output_size) -> Tensor:
    """Average (N, C, H, W) down to (N, C, *output_size) over PyTorch's adaptive bins (bin i of
    n values into m: floor(i n / m) to ceil((i + 1) n / m))."""
    return _adaptive_avg_pool(2, input, output_size, "adaptive_avg_pool2d")


@register(methods=())
def adaptive_avg_pool1d(input, output_size) -> Tensor:
    """Average (N, C, L) down to (N, C, output_size) over PyTorch's adaptive bins."""
    return _adaptive_avg_pool(1, input, output_size, "adaptive_avg_pool1d")


class AdaptiveMaxPoolFunction(Function):
    """y = the maximum of each of PyTorch's adaptive bins (bin i of n values into m:
    floor(i n / m) to ceil((i + 1) n / m));  dx = g added at each bin's first maximum

    ``index`` (N, C, *out) holds each bin's maximum as a flat index into its input plane
    (h W + w), as PyTorch's ``return_indices`` gives it; the forward reads the values there.
    """

    def forward(ctx, x, *, index, in_hw=None):
        n, c = x.shape[:2]
        flat = x.reshape(n, c, math.prod(x.shape[2:]))
        return backend.array_module(x).take_along_axis(
            flat, index.reshape(n, c, math.prod(index.shape[2:])), axis=2).reshape(index.shape)

    def backward(ctx, g):
        xp = backend.array_module(g)
        index = ctx.options["index"]
        h, w = ctx.options["in_hw"]
        n, c = g.shape[:2]
        plane = h * w
        # bins overlap where n / m is no integer: two may share a maximum, whose gradients add
        where = (index.reshape(n * c, math.prod(index.shape[2:])) +
                 (xp.arange(n * c) * plane)[:, None]).ravel()
        dx = xp.bincount(where, weights=g.reshape(-1), minlength=n * c * plane)
        shape = (n, c, w) if g.ndim == 3 else (n, c, h, w)
        return (dx.astype(g.dtype, copy=False).reshape(shape),)


def _bin_edges(n: int, m: int):
    """PyTorch's adaptive bins of n values into m: [floor(i n / m), ceil((i + 1) n / m))."""
    return [((i * n) // m, -((-(i + 1) * n) // m)) for i in range(m)]


def _max_along(xp, x, axis: int, n: int, m: int):
    """Each bin's maximum along ``axis`` and the position (along that axis) of its first
    maximum, PyTorch's order: a later value wins if greater, or if it is NaN (the last NaN).
    A loop over the longest bin's taps; a shorter bin repeats its last value (no change)."""
    edges = _bin_edges(n, m)
    longest = max(hi - lo for lo, hi in edges)
    lo = xp.asarray([e[0] for e in edges])
    hi = xp.asarray([e[1] for e in edges]) - 1
    best = xp.take(x, lo, axis=axis)
    shape = [1] * x.ndim
    shape[axis] = m
    arg = xp.broadcast_to(lo.reshape(shape), best.shape).copy()
    for t in range(1, longest):
        at = xp.minimum(lo + t, hi)
        v = xp.take(x, at, axis=axis)
        better = (v > best) | (v != v)
        best = xp.where(better, v, best)
        arg = xp.where(better, at.reshape(shape), arg)
    return best, arg


def adaptive_max_index(xp, x, out):
    """The flat index (h W + w) of each adaptive bin's first maximum of (N, C, H, W) or (N, C,
    L): separable, the columns' maxima first, then the rows' (row-major order, as PyTorch)."""
    if x.ndim == 3:
        return _max_along(xp, x, 2, x.shape[2], out[1])[1]
    h, w = x.shape[2:]
    best, col = _max_along(xp, x, 3, w, out[1])
    row = _max_along(xp, best, 2, h, out[0])[1]
    return row * w + xp.take_along_axis(col, row, axis=2)


def _adaptive_max_pool(nd, input, output_size, return_indices, who):
    _check_input(input, who)
    check_bool(return_indices, "return_indices", who)
    out = adaptive_out(input.shape, output_size, who, nd)
    if any(n == 0 for n in input.shape[1:]):
        raise ValueError(message(who, "non-empty channels and spatial dimensions",
                                 "input.shape", input.shape))
    xp = backend.array_module(input._data)
    index = adaptive_max_index(xp, input._data, out)
    y = AdaptiveMaxPoolFunction.apply(input, index=index, in_hw=_hw(input.shape))
    if return_indices:
        return y, Tensor._wrap(index.astype(backend.int64, copy=False))
    return y


@register(methods=())
def adaptive_max_pool2d(input, output_size, return_indices=False):
    """The maximum of (N, C, H, W) over PyTorch's adaptive bins, down to (N, C, *output_size)
    (None keeps that size); the gradient goes to each bin's first maximum. With
    ``return_indices``, also each maximum's flat index h W + w in its plane."""
    return _adaptive_max_pool(2, input, output_size, return_indices, "adaptive_max_pool2d")


@register(methods=())
def adaptive_max_pool1d(input, output_size, return_indices=False):
    """The maximum of (N, C, L) over PyTorch's adaptive bins, down to (N, C, output_size)."""
    return _adaptive_max_pool(1, input, output_size, return_indices, "adaptive_max_pool1d")
