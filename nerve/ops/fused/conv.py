"""Convolution, 1-D and 2-D, as one node: im2col on strided slices, then one matrix product.

The public layout is PyTorch's: input (N, C, H, W), weight (out, in / groups, kh, kw). Inside,
the image is read channels-last, (N, H, W, C): a patch is then kh * kw runs of C contiguous
values, so im2col is kh * kw plain slice copies (one per kernel tap, never one per pixel), and
the product's result, (N * Ho * Wo, out), is already the output in channels-last memory. It is
handed back as an (N, out, Ho, Wo) view of that memory (PyTorch's ``channels_last`` format): the
ReLU, pooling and convolution that follow read it channels-last again without a copy.

The bias rides in the product as a column of ones in the patches and a last row of the weight
matrix, so its gradient comes out of the weight gradient's product for free. The input gradient
is one small product per kernel tap, added into the strided slice the tap read. A 1-D
convolution is the 2-D one over an image of height 1.
"""

from __future__ import annotations

from nerve import backend
from nerve.autograd import Tensor
from nerve.checks import check_positive_int, message
from nerve.function import Function
from nerve.ops._common import register
from nerve.ops.fused import scratch
from nerve.ops.fused.window import as_tuple, check_batched, out_size, taps


class ConvFunction(Function):
    """y = w * x + b (cross-correlation): y[n, o, i, j] = b[o] + sum over c, p, q of
    w[o, c, p, q] x[n, c, s i + d p, s j + d q], as a product Y = [cols(x) 1] [W; b];
    dW = cols(x)^T G, db = sum of G over the pixels, dx = col2im(G W^T)

    ``stride`` and ``dilation`` are pairs, ``padding`` (top, bottom, left, right); a 3-D input
    and weight (N, C, L) are a 1-D convolution.
    """

    def forward(ctx, x, weight, bias=None, *, stride, padding, dilation, groups):
        one_d = x.ndim == 3
        if one_d:
            x, weight = x[:, :, None, :], weight[:, :, None, :]
        needs = getattr(ctx, "needs_input_grad", (False, False))
        out, cols, xpad_shape = _forward(x, weight, bias, stride, padding, dilation, groups,
                                         keep=needs[1] or (len(needs) > 2 and needs[2]))
        if needs[0] or needs[1] or (len(needs) > 2 and needs[2]):
            ctx.save_for_backward(weight if needs[0] else None)
            ctx.cols, ctx.x_shape, ctx.xpad_shape = cols, x.shape, xpad_shape
            ctx.w_shape = weight.shape
        return out[:, :, 0, :] if one_d else out

    @staticmethod
    def compute(x, weight, bias=None, *, stride, padding, dilation, groups):
        """The forward arithmetic alone, on arrays (the layer's inference path)."""
        if x.ndim == 3:
            out = _forward(x[:, :, None, :], weight[:, :, None, :], bias, stride, padding,
                           dilation, groups, keep=False)[0]
            return out[:, :, 0, :]
        return _forward(x, weight, bias, stride, padding, dilation, groups, keep=False)[0]

    def backward(ctx, g):
        (w,) = ctx.saved_tensors
        cols, opts = ctx.cols, ctx.options
        one_d = g.ndim == 3
        if one_d:
            g = g[:, :, None, :]
        needs = ctx.needs_input_grad
        xp = backend.array_module(g)
        g = g.astype(cols[0].dtype if cols else w.dtype, copy=False)  # the output's dtype
        n, o, ho, wo = g.shape
        gh = xp.ascontiguousarray(g.transpose(0, 2, 3, 1)).reshape(n * ho * wo, o)
        groups = opts["groups"]
        gx = gw = gb = None
        if needs[1] or (len(needs) > 2 and needs[2]):
            gw, gb = _weight_grads(ctx, xp, gh, cols, ctx.w_shape, groups, one_d)
        if needs[0]:
            gx = _input_grad(xp, gh, w, ctx.x_shape, ctx.xpad_shape, opts, (ho, wo))
            if one_d:
                gx = gx[:, :, 0, :]
        return gx, gw, gb

    def release(ctx) -> None:
        for cols in getattr(ctx, "cols", None) or ():
            _give(cols)
        ctx.cols = None
        super().release()


def _forward(x, weight, bias, stride, padding, dilation, groups, keep):
    """The output (an NCHW view of channels-last memory), the patches of each group (when
    ``keep``: the weight gradient needs them) and the padded input's shape."""
    xp = backend.array_module(x)
    n, c, h, w = x.shape
    o, cg, kh, kw = weight.shape
    top, bottom, left, right = padding
    hp, wp = h + top + bottom, w + left + right
    ho = out_size(h, kh, stride[0], dilation[0], top, bottom)
    wo = out_size(w, kw, stride[1], dilation[1], left, right)
    xh = x.transpose(0, 2, 3, 1)  # channels-last: free when x came from a convolution
    padded = top or bottom or left or right
    if padded:
        xpad = scratch.take(xp, (n, hp, wp, c), x.dtype)
        _pad_into(xpad, xh, padding)
    else:
        xpad = xh
    og = o // groups
    has_bias = bias is not None
    out = xp.empty((n * ho * wo, o), x.dtype)
    kept = []
    for gi in range(groups):
        cols = _im2col(xp, xpad[..., gi * cg:(gi + 1) * cg], (kh, kw), stride, dilation,
                       (ho, wo), has_bias)
        wm = xp.empty((cols.shape[1], og), weight.dtype)  # [W; b], rows in the patches' order
        wm[:kh * kw * cg] = weight[gi * og:(gi + 1) * og].transpose(2, 3, 1, 0).reshape(-1, og)
        if has_bias:
            wm[-1] = bias[gi * og:(gi + 1) * og]
        if groups == 1:
            cols.dot(wm, out=out)
        else:
            out[:, gi * og:(gi + 1) * og] = cols.dot(wm)
        if keep:
            kept.append(cols)
        else:
            _give(cols)
    if padded:
        scratch.give(xpad)
    return out.reshape(n, ho, wo, o).transpose(0, 3, 1, 2), kept, (n, hp, wp, c)


def _pad_into(xpad, xh, padding) -> None:
    """Write xh into the middle of xpad and zeros into its border (xpad is reused memory)."""
    top, bottom, left, right = padding
    h, w = xh.shape[1:3]
    xpad[:, :top] = 0
    xpad[:, top + h:] = 0
    xpad[:, top:top + h, :left] = 0
    xpad[:, top:top + h, left + w:] = 0
    xpad[:, top:top + h, left:left + w] = xh


def _im2col(xp, xpad, kernel, stride, dilation, out, has_bias):
    """The patches, one row per output pixel: (N * Ho * Wo, kh * kw * C [+ 1 for the bias]),
    each row the kernel's taps in order, each tap C channels.

    With several channels, one copy from a strided view of every window: its inner runs are kw
    * C contiguous values (2.7x faster than a copy per tap, whose runs are C values, for the
    MNIST CNN's second layer). With one channel, :func:`_im2col_by_tap`."""
    n, c = xpad.shape[0], xpad.shape[3]
    (kh, kw), (ho, wo) = kernel, out
    k = kh * kw * c
    if c == 1:
        return _im2col_by_tap(xp, xpad, kernel, stride, dilation, out, has_bias)
    cols = scratch.take(xp, (n * ho * wo, k + has_bias), xpad.dtype)
    patches = cols.reshape(n, ho, wo, k + has_bias)  # a view: cols is contiguous
    sn, sh, sw, sc = xpad.strides
    windows = as_strided(xp, xpad, (n, ho, wo, kh, kw, c),
                         (sn, sh * stride[0], sw * stride[1], sh * dilation[0],
                          sw * dilation[1], sc))
    row, item = cols.strides[0], cols.itemsize
    target = as_strided(xp, cols, (n, ho, wo, kh, kw, c),
                        (row * ho * wo, row * wo, row, kw * c * item, c * item, item))
    target[...] = windows
    if has_bias:
        patches[..., k] = 1
    return cols


def _im2col_by_tap(xp, xpad, kernel, stride, dilation, out, has_bias):
    """The patches of a one-channel image, made tap by tap into tap-major memory: each tap a
    contiguous row of N * Ho * Wo values (a plain copy of rows of Wo), returned transposed,
    as :func:`_im2col`'s (N * Ho * Wo, kh * kw [+ 1]). OpenBLAS also multiplies this layout
    faster: for the MNIST CNN's first layer, 0.16 against 0.28 ms forward, 0.30 against
    0.35 ms for the weight gradient."""
    n = xpad.shape[0]
    (kh, kw), (ho, wo) = kernel, out
    rows = scratch.take(xp, (kh * kw + has_bias, n * ho * wo), xpad.dtype)
    for t, (r, q) in enumerate(taps(kernel, stride, dilation, out)):
        rows[t].reshape(n, ho, wo)[...] = xpad[:, r, q, 0]
    if has_bias:
        rows[-1] = 1
    return rows.T


def _give(cols) -> None:
    """Hand the patches back to the scratch arrays (as the array that was taken)."""
    scratch.give(cols if cols.flags.c_contiguous else cols.T)


def as_strided(xp, array, shape, strides):
    """A view of ``array`` with these shape and strides (windows over it, read or written)."""
    return xp.lib.stride_tricks.as_strided(array, shape=shape, strides=strides)


def _weight_grads(ctx, xp, gh, cols, w_shape, groups, one_d):
    """dW = cols^T G per group; db is the row of the same product that the ones column of the
    patches gives. Written into the optimizer's gradient arrays where it has them."""
    o, cg, kh, kw = w_shape
    og, k = o // groups, kh * kw * cg
    # cols^T G, (K [+ 1], og): 1.8x faster in OpenBLAS than G^T cols for these shapes
    rows = [cols[gi].T.dot(gh[:, gi * og:(gi + 1) * og]) for gi in range(groups)]
    needs = ctx.needs_input_grad
    gw = gb = None
    if needs[1]:
        home = None if one_d else ctx.grad_home(1)
        gw = home if home is not None and home.dtype == gh.dtype else \
            xp.empty(w_shape, gh.dtype)
        for gi, r in enumerate(rows):
            gw[gi * og:(gi + 1) * og] = r[:k].reshape(kh, kw, cg, og).transpose(3, 2, 0, 1)
        if one_d:
            gw = gw[:, :, 0, :]
    if len(needs) > 2 and needs[2]:
        home = ctx.grad_home(2)
        gb = home if home is not None and home.dtype == gh.dtype else xp.empty(o, gh.dtype)
        for gi, r in enumerate(rows):
            gb[gi * og:(gi + 1) * og] = r[k]
    return gw, gb


def _input_grad(xp, gh, w, x_shape, xpad_shape, opts, out):
    """dx: for each kernel tap, G W_tap (one small product) added into the slice it read."""
    stride, dilation, groups = opts["stride"], opts["dilation"], opts["groups"]
    top, _, left, _ = opts["padding"]
    n, c, h, wd = x_shape
    o, cg, kh, kw = w.shape
    og = o // groups
    dx = xp.zeros(xpad_shape, gh.dtype)
    part = scratch.take(xp, (gh.shape[0], cg), gh.dtype)
    for t, (rows, columns) in enumerate(taps((kh, kw), stride, dilation, out)):
        p, q = divmod(t, kw)
        for gi in range(groups):
            gh[:, gi * og:(gi + 1) * og].dot(w[gi * og:(gi + 1) * og, :, p, q], out=part)
            dx[:, rows, columns, gi * cg:(gi + 1) * cg] += part.reshape(n, out[0], out[1], cg)
    scratch.give(part)
    return dx[:, top:top + h, left:left + wd].transpose(0, 3, 1, 2)


# --- the public functions: arguments checked, then one node ---------------------------------

def conv_args(x_shape, w_shape, stride, padding, dilation, groups, who: str, nd: int):
    """Check a convolution's shapes and arguments; return (stride, padding as (top, bottom,
    left, right), dilation, groups) for the 2-D computation (a 1-D one as height 1)."""
    check_batched(x_shape, nd, who)
    if len(w_shape) != nd + 2:
        raise ValueError(message(who, f"a {nd + 2}-D weight (out_channels, in_channels / "
                                 "groups, *kernel_size)", "weight.shape", tuple(w_shape)))
    stride = as_tuple(stride, nd, "stride", who, 1)
    dilation = as_tuple(dilation, nd, "dilation", who, 1)
    groups = check_positive_int(groups, "groups", who)
    o, cg = w_shape[0], w_shape[1]
    kernel = tuple(w_shape[2:])
    if o % groups:
        raise ValueError(message(who, f"out_channels divisible by groups={groups}",
                                 "out_channels", o))
    if x_shape[1] != cg * groups:
        raise ValueError(message(who, f"input of shape (N, {cg * groups}, ...) for weight of "
                                 f"shape {tuple(w_shape)} and groups={groups}", "input.shape",
                                 tuple(x_shape)))
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise ValueError(message(who, "padding 'same', 'valid', an int or a tuple",
                                     "padding", padding))
        if padding == "same" and any(s != 1 for s in stride):
            raise ValueError(message(who, "stride 1 with padding='same' (PyTorch's rule)",
                                     "stride", stride))
        pads = []
        for k, d in zip(kernel, dilation):
            total = d * (k - 1) if padding == "same" else 0
            pads.append((total // 2, total - total // 2))  # the odd one after, as PyTorch
    else:
        pads = [(p, p) for p in as_tuple(padding, nd, "padding", who, 0)]
    spatial = tuple(x_shape[2:])
    for n_in, k, d, (lo, hi) in zip(spatial, kernel, dilation, pads):
        if lo + n_in + hi < d * (k - 1) + 1:
            raise ValueError(message(
                who, f"a padded input at least as large as the kernel (kernel_size "
                f"{kernel}, dilation {dilation}, padding {tuple(p[0] for p in pads)})",
                "input.shape", tuple(x_shape)))
    if nd == 1:
        return (1, stride[0]), (0, 0) + pads[0], (1, dilation[0]), groups
    return stride, pads[0] + pads[1], dilation, groups


def _conv(nd, input, weight, bias, stride, padding, dilation, groups, who) -> Tensor:
    for name, t in (("input", input), ("weight", weight), ("bias", bias)):
        if t is not None and not isinstance(t, Tensor):
            raise TypeError(message(who, "a Tensor", name, type(t).__name__))
        if t is not None and t.dtype.kind != "f":
            raise TypeError(message(who, f"a floating-point {name}", f"{name}.dtype", t.dtype))
    if input.dtype != weight.dtype or (bias is not None and bias.dtype != weight.dtype):
        raise TypeError(message(who, f"input, weight and bias of one dtype (weight is "
                                f"{weight.dtype})", "input.dtype", input.dtype))
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(message(who, f"a bias of shape ({weight.shape[0]},)", "bias.shape",
                                 bias.shape))
    s, p, d, g = conv_args(input.shape, weight.shape, stride, padding, dilation, groups, who, nd)
    args = (input, weight) if bias is None else (input, weight, bias)
    return ConvFunction.apply(*args, stride=s, padding=p, dilation=d, groups=g)


@register(methods=())
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """2-D convolution (cross-correlation, as in PyTorch) of (N, C, H, W) by (out, C / groups,
    kh, kw); ``padding`` an int, a pair, ``"valid"`` (none) or ``"same"`` (output as large as
    the input; stride 1)."""
    return _conv(2, input, weight, bias, stride, padding, dilation, groups, "conv2d")


@register(methods=())
def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """1-D convolution of (N, C, L) by (out, C / groups, k); arguments as :func:`conv2d`."""
    return _conv(1, input, weight, bias, stride, padding, dilation, groups, "conv1d")
