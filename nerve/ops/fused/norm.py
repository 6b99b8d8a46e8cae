"""Normalisation as one node each: batch norm (the statistics of each channel, axis 1, over the
batch and every position) and layer norm (over the trailing dimensions). Forward and backward
keep the input's dtype (float32 stays float32) and its memory layout (a channels-last NCHW
array gives a channels-last output: ufuncs and ``empty_like`` follow the input's strides).
``nerve.nn.functional`` checks the arguments and calls these."""

from __future__ import annotations

from nerve import backend
from nerve.function import Function


def _home(ctx, i: int, dtype):
    """The optimizer's array for input ``i``'s gradient when a result of ``dtype`` fits it."""
    home = ctx.grad_home(i)
    return home if home is not None and home.dtype == dtype else None


def _normalize(xp, x, axes: tuple, eps: float):
    """Return (x_hat, y, invstd, mean, var): x_hat = (x - mean) / sqrt(var + eps) over
    ``axes`` (biased var, keepdims), and ``y``, an array like ``x`` free for the output.

    The mean is taken of the deviations from one value of each group (the first), not of x:
    where the mean is large against the spread (1e5 +- 0.01 in float32), a float32 sum of x
    loses the spread (NumPy sums a channels-last array's channels one value after another,
    without pairwise summation), and that error would shift every output by many standard
    deviations; the deviations are small, and so is their sum's error."""
    first = x[tuple(slice(0, 1) if a in axes else slice(None) for a in range(x.ndim))]
    xhat = x - first  # exact where x is within a factor 2 of first (Sterbenz)
    shift = xhat.mean(axis=axes, keepdims=True)
    xhat -= shift
    mean = first + shift
    y = xp.empty_like(xhat)
    xp.multiply(xhat, xhat, out=y)  # the squares, in the output's memory
    var = y.mean(axis=axes, keepdims=True)
    invstd = 1.0 / xp.sqrt(var + eps)
    xhat *= invstd
    return xhat, y, invstd, mean, var


def _affine(xp, xhat, y, weight, bias):
    """y = x_hat * weight + bias (each broadcast, None: left out), written into ``y``."""
    if weight is None:
        y[...] = xhat
    else:
        xp.multiply(xhat, weight, out=y)
    if bias is not None:
        y += bias
    return y


class BatchNormFunction(Function):
    """y = (x - mean) / sqrt(var + eps) * w + b per channel c (axis 1); mean and var (biased)
    over every axis but 1 of the batch while training, the running ones in eval;
    training: dx = w / sqrt(var + eps) (g - mean(g) - x_hat mean(g x_hat)); eval:
    dx = g w / sqrt(running_var + eps); dw = sum(g x_hat), db = sum(g) over every axis but 1

    While training, ``running_mean`` and ``running_var`` (arrays of shape (C,), if given) are
    updated in place: r <- (1 - momentum) r + momentum s, with s the batch mean and the unbiased
    variance n / (n - 1) var (n values per channel), as PyTorch does.
    """

    def forward(ctx, x, weight=None, bias=None, *, running_mean=None, running_var=None,
                training=False, momentum=0.1, eps=1e-5):
        xp = backend.array_module(x)
        shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)  # one value per channel, along axis 1
        axes = (0, *range(2, x.ndim))
        w = None if weight is None else weight.reshape(shape)
        b = None if bias is None else bias.reshape(shape)
        record = hasattr(ctx, "needs_input_grad")
        ctx.axes, ctx.shape = axes, shape
        if not training:
            mean = running_mean.reshape(shape)
            invstd = 1.0 / xp.sqrt(running_var.reshape(shape) + eps)
            scale = invstd if w is None else invstd * w
            if record:  # copies of the running statistics: a later step may change them
                ctx.save_for_backward(x, mean.copy(), invstd, scale)
            return ctx.inference(x, scale, mean, b)
        n = x.size // x.shape[1]
        xhat, y, invstd, mean, var = _normalize(xp, x, axes, eps)
        if running_mean is not None:
            running_mean *= 1.0 - momentum
            running_mean += momentum * mean.reshape(-1)
        if running_var is not None:
            running_var *= 1.0 - momentum
            running_var += (momentum * n / max(n - 1, 1)) * var.reshape(-1)
        if record:
            ctx.save_for_backward(xhat, invstd, w)
        return _affine(xp, xhat, y, w, b)

    @staticmethod
    def inference(x, scale, mean, bias=None):
        """y = (x - mean) * scale + bias as x * scale + (bias - mean * scale): one pass over x
        for the product and one for the sum (the eval forward, also the layer's array path)."""
        shift = -mean * scale if bias is None else bias - mean * scale
        y = x * scale
        y += shift
        return y

    def backward(ctx, g):
        needs = ctx.needs_input_grad
        xp = backend.array_module(g)
        axes, shape = ctx.axes, ctx.shape
        nw, nb = len(needs) > 1 and needs[1], len(needs) > 2 and needs[2]
        gx = gw = gb = None
        if not ctx.options.get("training", False):
            x, mean, invstd, scale = ctx.saved_tensors
            if needs[0]:
                gx = g * scale
            if nw:
                t = x - mean
                t *= invstd
                t *= g
                gw = t.sum(axis=axes, out=_home(ctx, 1, t.dtype))
            if nb:
                gb = g.sum(axis=axes, out=_home(ctx, 2, g.dtype))
            return gx, gw, gb
        xhat, invstd, w = ctx.saved_tensors
        t = g * xhat
        if nw or needs[0]:
            gw = t.sum(axis=axes, out=_home(ctx, 1, t.dtype) if nw else None)
        if nb or needs[0]:
            gb = g.sum(axis=axes, out=_home(ctx, 2, g.dtype) if nb else None)
        if needs[0]:
            n = g.size // g.shape[1]
            xp.multiply(xhat, (gw / n).reshape(shape), out=t)
            gx = g - (gb / n).reshape(shape)
            gx -= t
            gx *= invstd if w is None else invstd * w
        return gx, gw if nw else None, gb if nb else None


class LayerNormFunction(Function):
    """y = (x - mean) / sqrt(var + eps) * w + b, with mean and var (biased) over the last
    k = len(normalized_shape) dimensions of each sample, w and b of the normalized shape;
    dx = (h - mean(h) - x_hat mean(h x_hat)) / sqrt(var + eps) for h = g w;
    dw = sum(g x_hat), db = sum(g) over the leading dimensions
    """

    def forward(ctx, x, weight=None, bias=None, *, normalized_shape=(), eps=1e-5):
        xp = backend.array_module(x)
        k = len(normalized_shape)
        axes = tuple(range(x.ndim - k, x.ndim))
        xhat, y, invstd, _, _ = _normalize(xp, x, axes, eps)
        if hasattr(ctx, "needs_input_grad"):
            ctx.axes, ctx.lead = axes, tuple(range(x.ndim - k))
            ctx.save_for_backward(xhat, invstd, weight)
        return _affine(xp, xhat, y, weight, bias)

    def backward(ctx, g):
        xhat, invstd, w = ctx.saved_tensors
        needs = ctx.needs_input_grad
        xp = backend.array_module(g)
        axes, lead = ctx.axes, ctx.lead
        nw, nb = len(needs) > 1 and needs[1], len(needs) > 2 and needs[2]
        gx = gw = gb = None
        if nw:
            gw = xp.multiply(g, xhat).sum(axis=lead, out=_home(ctx, 1, g.dtype))
        if nb:
            gb = g.sum(axis=lead, out=_home(ctx, 2, g.dtype))
        if needs[0]:
            h = g if w is None else g * w
            t = h * xhat
            m2 = t.mean(axis=axes, keepdims=True)
            xp.multiply(xhat, m2, out=t)
            gx = h - h.mean(axis=axes, keepdims=True)
            gx -= t
            gx *= invstd
        return gx, gw, gb
