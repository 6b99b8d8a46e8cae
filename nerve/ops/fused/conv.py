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


def _weight_grads(ctx, xp, gh, cols, w_shape, groups, one_d, bias=True):
    """dW = cols^T G per group; db is the row of the same product that the ones column of the
    patches gives (``bias``: the patches have that column). Written into the optimizer's
    gradient arrays where it has them."""
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
    if bias and len(needs) > 2 and needs[2]:
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


class ConvTransposeFunction(Function):
    """y = W^T * x + b (the convolution's input gradient, a "deconvolution"): each input value
    spreads over a kernel-sized patch of the output, y[n, c, s i + d p - pad, s j + d q - pad]
    += sum over o of x[n, o, i, j] w[o, c, p, q], then + b[c];
    dx = conv(g, w) (the convolution's forward), dW = cols(g)^T X, db = sum of g over the pixels

    The weight is (in, out / groups, kh, kw), PyTorch's layout, which is the layout of the
    convolution whose input gradient this is. ``stride``, ``dilation``, ``output_padding`` are
    pairs, ``padding`` (top, bottom, left, right); a 3-D input and weight are a 1-D one.
    """

    def forward(ctx, x, weight, bias=None, *, stride, padding, dilation, groups,
                output_padding):
        one_d = x.ndim == 3
        if one_d:
            x, weight = x[:, :, None, :], weight[:, :, None, :]
        y = _transposed(x, weight, bias, stride, padding, dilation, groups, output_padding)
        needs = getattr(ctx, "needs_input_grad", None)
        if needs:
            ctx.save_for_backward(x if needs[1] else None, weight)
        return y[:, :, 0, :] if one_d else y

    def backward(ctx, g):
        x, w = ctx.saved_tensors
        opts, needs = ctx.options, ctx.needs_input_grad
        one_d = g.ndim == 3
        if one_d:
            g = g[:, :, None, :]
        xp = backend.array_module(g)
        g = g.astype(w.dtype, copy=False)
        top, bottom, left, right = opts["padding"]
        (oph, opw), groups = opts["output_padding"], opts["groups"]
        # the convolution of g whose windows land exactly on x's pixels: the output_padding
        # rows and columns (beyond every window) are dropped, from the padding or from g
        cut_h, cut_w = max(oph - bottom, 0), max(opw - right, 0)
        gc = g[:, :, :g.shape[2] - cut_h, :g.shape[3] - cut_w]
        pads = (top, max(bottom - oph, 0), left, max(right - opw, 0))
        gx = gw = gb = None
        if needs[0] or needs[1]:
            out, cols, _ = _forward(gc, w, None, opts["stride"], pads, opts["dilation"], groups,
                                    keep=needs[1])
            if needs[0]:
                gx = out[:, :, 0, :] if one_d else out
            if needs[1]:
                n, c, h, wd = x.shape
                xh = xp.ascontiguousarray(x.transpose(0, 2, 3, 1)).reshape(n * h * wd, c)
                gw = _weight_grads(ctx, xp, xh, cols, w.shape, groups, one_d, bias=False)[0]
                for part in cols:
                    _give(part)
        if len(needs) > 2 and needs[2]:
            gb = g.sum(axis=(0, 2, 3))
        return gx, gw, gb


def _transposed(x, weight, bias, stride, padding, dilation, groups, output_padding):
    """The transposed convolution of (N, in, H, W) arrays: :func:`_input_grad` of the
    convolution, with x as its output gradient; an (N, out, Ho, Wo) view of channels-last
    memory."""
    xp = backend.array_module(x)
    n, c, h, w = x.shape
    _, cg, kh, kw = weight.shape
    top, bottom, left, right = padding
    hp = (h - 1) * stride[0] + dilation[0] * (kh - 1) + 1 + output_padding[0]
    wp = (w - 1) * stride[1] + dilation[1] * (kw - 1) + 1 + output_padding[1]
    xh = xp.ascontiguousarray(x.transpose(0, 2, 3, 1)).reshape(n * h * w, c)
    opts = {"stride": stride, "dilation": dilation, "groups": groups, "padding": padding}
    y = _input_grad(xp, xh, weight, (n, cg * groups, hp - top - bottom, wp - left - right),
                    (n, hp, wp, cg * groups), opts, (h, w))
    if bias is not None:
        y += bias[:, None, None]
    return y


class UnfoldFunction(Function):
    """y = the patches of x: y[n, (c, p, q), (i, j)] = x[n, c, s i + d p - pad, s j + d q - pad]
    (0 in the padding): im2col in PyTorch's layout, channel, then kernel row, then kernel column;
    dx = fold(g): each patch value's gradient added back where it was read"""

    def forward(ctx, x, *, kernel, stride, padding, dilation, blocks, size):
        return _unfold(x, kernel, stride, padding, dilation, blocks)

    def backward(ctx, g):
        o = ctx.options
        return (_fold(g, o["kernel"], o["stride"], o["padding"], o["dilation"], o["blocks"],
                      o["size"]),)


class FoldFunction(Function):
    """y = col2im(x): the sum, at each pixel, of the patch values that cover it (Unfold's
    adjoint);  dx = unfold(g)"""

    def forward(ctx, x, *, kernel, stride, padding, dilation, blocks, size):
        return _fold(x, kernel, stride, padding, dilation, blocks, size)

    def backward(ctx, g):
        o = ctx.options
        return (_unfold(g, o["kernel"], o["stride"], o["padding"], o["dilation"], o["blocks"]),)


def _unfold(x, kernel, stride, padding, dilation, blocks):
    """(N, C, H, W) -> (N, C kh kw, L): one strided slice copy per kernel tap."""
    xp = backend.array_module(x)
    n, c, h, w = x.shape
    (ph, pw), (kh, kw) = padding, kernel
    if ph or pw:
        xpad = xp.zeros((n, c, h + 2 * ph, w + 2 * pw), x.dtype)
        xpad[:, :, ph:ph + h, pw:pw + w] = x
    else:
        xpad = x
    y = xp.empty((n, c, kh * kw, *blocks), x.dtype)
    for t, (rows, columns) in enumerate(taps(kernel, stride, dilation, blocks)):
        y[:, :, t] = xpad[:, :, rows, columns]
    return y.reshape(n, c * kh * kw, blocks[0] * blocks[1])


def _fold(cols, kernel, stride, padding, dilation, blocks, size):
    """(N, C kh kw, L) -> (N, C, H, W): each tap's values added into the slice it covers."""
    xp = backend.array_module(cols)
    (ph, pw), (kh, kw), (h, w) = padding, kernel, size
    n = cols.shape[0]
    c = cols.shape[1] // (kh * kw)
    patches = cols.reshape(n, c, kh * kw, *blocks)
    y = xp.zeros((n, c, h + 2 * ph, w + 2 * pw), cols.dtype)
    for t, (rows, columns) in enumerate(taps(kernel, stride, dilation, blocks)):
        y[:, :, rows, columns] += patches[:, :, t]
    return y[:, :, ph:ph + h, pw:pw + w]


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


def _check_tensors(who, input, weight=None, bias=None) -> None:
    """Refuse a non-Tensor, a non-float tensor, or mixed dtypes (PyTorch refuses them)."""
    if not isinstance(input, Tensor):
        raise TypeError(message(who, "a Tensor", "input", type(input).__name__))
    for name, t in (("input", input), ("weight", weight), ("bias", bias)):
        if t is not None and not isinstance(t, Tensor):
            raise TypeError(message(who, "a Tensor", name, type(t).__name__))
        if t is not None and t.dtype.kind != "f":
            raise TypeError(message(who, f"a floating-point {name}", f"{name}.dtype", t.dtype))
    if weight is not None and (input.dtype != weight.dtype or
                               (bias is not None and bias.dtype != weight.dtype)):
        raise TypeError(message(who, f"input, weight and bias of one dtype (weight is "
                                f"{weight.dtype})", "input.dtype", input.dtype))


def _conv(nd, input, weight, bias, stride, padding, dilation, groups, who) -> Tensor:
    _check_tensors(who, input, weight, bias)
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


def conv_transpose_args(x_shape, w_shape, stride, padding, output_padding, groups, dilation,
                        who: str, nd: int):
    """Check a transposed convolution's shapes and arguments; return (stride, padding as (top,
    bottom, left, right), dilation, groups, output_padding) for the 2-D computation (a 1-D one
    as height 1). Each output size is (n - 1) s - 2 p + d (k - 1) + output_padding + 1."""
    check_batched(x_shape, nd, who)
    if len(w_shape) != nd + 2:
        raise ValueError(message(who, f"a {nd + 2}-D weight (in_channels, out_channels / "
                                 "groups, *kernel_size)", "weight.shape", tuple(w_shape)))
    stride = as_tuple(stride, nd, "stride", who, 1)
    padding = as_tuple(padding, nd, "padding", who, 0)
    output_padding = as_tuple(output_padding, nd, "output_padding", who, 0)
    dilation = as_tuple(dilation, nd, "dilation", who, 1)
    groups = check_positive_int(groups, "groups", who)
    check_output_padding(output_padding, stride, dilation, who)
    if w_shape[0] % groups:
        raise ValueError(message(who, f"in_channels (weight.shape[0]) divisible by groups="
                                 f"{groups}", "weight.shape", tuple(w_shape)))
    if x_shape[1] != w_shape[0]:
        raise ValueError(message(who, f"input of shape (N, {w_shape[0]}, ...) for weight of "
                                 f"shape {tuple(w_shape)} (in_channels first)", "input.shape",
                                 tuple(x_shape)))
    sizes = transposed_size(x_shape[2:], w_shape[2:], stride, padding, output_padding,
                            dilation)
    if any(m < 1 for m in sizes):
        raise ValueError(message(who, f"an output of at least one pixel (kernel_size "
                                 f"{tuple(w_shape[2:])}, stride {stride}, padding {padding}, "
                                 f"dilation {dilation} give {sizes})", "input.shape",
                                 tuple(x_shape)))
    if nd == 1:
        return (1, stride[0]), (0, 0, padding[0], padding[0]), (1, dilation[0]), groups, \
            (0, output_padding[0])
    return stride, (padding[0], padding[0], padding[1], padding[1]), dilation, groups, \
        output_padding


def transposed_size(sizes, kernel, stride, padding, output_padding, dilation) -> tuple:
    """The output sizes of a transposed convolution of an input of these spatial sizes."""
    return tuple((n - 1) * s - 2 * p + d * (k - 1) + op + 1 for n, k, s, p, op, d in
                 zip(sizes, kernel, stride, padding, output_padding, dilation))


def check_output_padding(output_padding, stride, dilation, who: str) -> None:
    """PyTorch's rule: each output_padding smaller than its stride or its dilation (the extra
    rows must lie within one step of the last window)."""
    if any(op >= s and op >= d for op, s, d in zip(output_padding, stride, dilation)):
        raise ValueError(message(who, f"output_padding smaller than either stride {stride} or "
                                 f"dilation {dilation} (PyTorch's rule)", "output_padding",
                                 output_padding))


def _conv_transpose(nd, input, weight, bias, stride, padding, output_padding, groups, dilation,
                    who) -> Tensor:
    _check_tensors(who, input, weight, bias)
    s, p, d, g, op = conv_transpose_args(input.shape, weight.shape, stride, padding,
                                         output_padding, groups, dilation, who, nd)
    if bias is not None and bias.shape != (weight.shape[1] * g,):
        raise ValueError(message(who, f"a bias of shape ({weight.shape[1] * g},) "
                                 "(out_channels)", "bias.shape", bias.shape))
    args = (input, weight) if bias is None else (input, weight, bias)
    return ConvTransposeFunction.apply(*args, stride=s, padding=p, dilation=d, groups=g,
                                       output_padding=op)


@register(methods=())
def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1) -> Tensor:
    """2-D transposed convolution of (N, in, H, W) by (in, out / groups, kh, kw): the gradient
    of :func:`conv2d` with respect to its input, used to upsample (N, out, Ho, Wo), with
    Ho = (H - 1) stride - 2 padding + dilation (kh - 1) + output_padding + 1 (PyTorch's
    argument order: groups before dilation)."""
    return _conv_transpose(2, input, weight, bias, stride, padding, output_padding, groups,
                           dilation, "conv_transpose2d")


@register(methods=())
def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1) -> Tensor:
    """1-D transposed convolution of (N, in, L) by (in, out / groups, k); arguments as
    :func:`conv_transpose2d`."""
    return _conv_transpose(1, input, weight, bias, stride, padding, output_padding, groups,
                           dilation, "conv_transpose1d")


def fold_args(kernel_size, dilation, padding, stride, who: str):
    """Fold's and Unfold's arguments as pairs: kernel, dilation, padding, stride."""
    return (as_tuple(kernel_size, 2, "kernel_size", who, 1),
            as_tuple(dilation, 2, "dilation", who, 1), as_tuple(padding, 2, "padding", who, 0),
            as_tuple(stride, 2, "stride", who, 1))


def _blocks(size, kernel, dilation, padding, stride, who: str, what, value) -> tuple:
    blocks = tuple(out_size(n, k, s, d, p, p) for n, k, s, d, p in
                   zip(size, kernel, stride, dilation, padding))
    if any(b < 1 for b in blocks):
        raise ValueError(message(who, f"at least one sliding block along each dimension "
                                 f"(kernel_size {kernel}, dilation {dilation}, padding "
                                 f"{padding}, stride {stride} give {blocks})", what, value))
    return blocks


def unfold(input, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """The sliding blocks of (N, C, H, W) (or (C, H, W)) as columns: (N, C kh kw, L), L the
    number of blocks, each column one block, channel by channel, row by row (im2col)."""
    return unfold_as("unfold", input, kernel_size, dilation, padding, stride)


def unfold_as(who: str, input, kernel_size, dilation, padding, stride) -> Tensor:
    """:func:`unfold`, its errors naming ``who`` (a layer names itself)."""
    _check_tensors(who, input)
    if input.ndim not in (3, 4):
        raise ValueError(message(who, "a 3-D (C, H, W) or 4-D (N, C, H, W) input",
                                 "input.shape", input.shape))
    k, d, p, s = fold_args(kernel_size, dilation, padding, stride, who)
    x = input if input.ndim == 4 else input.unsqueeze(0)
    blocks = _blocks(x.shape[2:], k, d, p, s, who, "input.shape", input.shape)
    y = UnfoldFunction.apply(x, kernel=k, stride=s, padding=p, dilation=d, blocks=blocks,
                             size=tuple(x.shape[2:]))
    return y if input.ndim == 4 else y.squeeze(0)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Unfold's adjoint: columns (N, C kh kw, L) (or (C kh kw, L)) summed back into an image
    (N, C, *output_size), each pixel the sum of the block values that cover it (col2im)."""
    return fold_as("fold", input, output_size, kernel_size, dilation, padding, stride)


def fold_as(who: str, input, output_size, kernel_size, dilation, padding, stride) -> Tensor:
    """:func:`fold`, its errors naming ``who`` (a layer names itself)."""
    _check_tensors(who, input)
    if input.ndim not in (2, 3):
        raise ValueError(message(who, "a 2-D (C kh kw, L) or 3-D (N, C kh kw, L) input",
                                 "input.shape", input.shape))
    size = as_tuple(output_size, 2, "output_size", who, 1)
    k, d, p, s = fold_args(kernel_size, dilation, padding, stride, who)
    x = input if input.ndim == 3 else input.unsqueeze(0)
    if x.shape[1] % (k[0] * k[1]):
        raise ValueError(message(who, f"input.shape[-2] divisible by the kernel's size "
                                 f"{k[0]} * {k[1]}", "input.shape", input.shape))
    blocks = _blocks(size, k, d, p, s, who, "output_size", output_size)
    if x.shape[2] != blocks[0] * blocks[1]:
        raise ValueError(message(who, f"input.shape[-1] == {blocks[0]} * {blocks[1]}, the "
                                 f"number of sliding blocks in output_size {size}",
                                 "input.shape", input.shape))
    y = FoldFunction.apply(x, kernel=k, stride=s, padding=p, dilation=d, blocks=blocks,
                           size=size)
    return y if input.ndim == 3 else y.squeeze(0)
