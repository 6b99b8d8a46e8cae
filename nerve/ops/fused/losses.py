"""Losses fused with their activation, for stability and fewer passes: softmax cross-entropy
from logits, binary cross-entropy of probabilities, and of logits (fused with the sigmoid).
``nerve.nn.functional`` checks the arguments and calls these."""

from __future__ import annotations

from nerve import backend
from nerve.function import Function
from nerve.ops.elementwise import sigmoid_array


class BCEFunction(Function):
    """y = -(t ln p + (1 - t) ln(1 - p)), each ln clamped at -100;
    dy/dp = (p - t) / max(p (1 - p), 1e-12) (finite at p = 0 and 1, as in PyTorch)"""

    def forward(ctx, p, t):
        xp = backend.array_module(p)
        ctx.save_for_backward(p, t)
        with backend.errstate(divide="ignore"):  # ln(0) = -inf, clamped below
            lp = xp.maximum(xp.log(p), -100)
            lq = xp.maximum(xp.log1p(-p), -100)
        return -(t * lp + (1 - t) * lq)

    def backward(ctx, g):
        p, t = ctx.saved_tensors
        return g * (p - t) / backend.array_module(p).maximum(p * (1 - p), 1e-12), None


class BCEWithLogitsFunction(Function):
    """y = max(x, 0) - x t + ln(1 + e^-|x|), the cross-entropy of sigmoid(x), stable for any x;
    dy/dx = sigmoid(x) - t"""

    def forward(ctx, x, t):
        xp = backend.array_module(x)
        ctx.save_for_backward(x, t)
        return xp.maximum(x, 0) - x * t + xp.log1p(xp.exp(-xp.abs(x)))

    def backward(ctx, g):
        x, t = ctx.saved_tensors
        return g * (sigmoid_array(x) - t), None


class CrossEntropyFunction(Function):
    """y = -sum(t log softmax(x)) per sample, from logits x (N, C, ...) in one node via
    log-sum-exp;  dy/dx = softmax(x) sum(t) - t, scaled by the reduction

    Targets are class indices (N, ...) or probabilities shaped like the logits; probabilities
    of a wider dtype (float64 for float32 logits) give the loss in their dtype, as PyTorch's
    (log softmax in the logits' dtype, the products and sums in the target's).
    """

    def forward(ctx, logits, target, *, reduction="mean"):
        xp = backend.array_module(logits)
        n_cls = logits.shape[1]
        x = xp.moveaxis(logits, 1, -1).reshape(-1, n_cls) if logits.ndim > 2 else logits
        shifted = x - x.max(axis=1, keepdims=True)
        logp = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
        ctx.indices = target.dtype.kind in "iu"
        if ctx.indices:
            t = target.reshape(-1)
            nll = -logp[xp.arange(len(t)), t]
        else:
            t = xp.moveaxis(target, 1, -1).reshape(-1, n_cls) if target.ndim > 2 else target
            nll = -(t * logp).sum(axis=1)
        ctx.save_for_backward(logp, t)
        ctx.shape = logits.shape
        if reduction == "mean":
            return nll.mean()
        if reduction == "sum":
            return nll.sum()
        return nll.reshape((logits.shape[0],) + logits.shape[2:])

    def backward(ctx, g):
        logp, t = ctx.saved_tensors
        xp = backend.array_module(logp)
        grad = xp.exp(logp)
        if ctx.indices:
            grad[xp.arange(len(t)), t] -= 1
        else:
            grad *= t.sum(axis=1, keepdims=True)
            grad -= t
        reduction = ctx.options.get("reduction", "mean")
        if reduction == "none":
            grad *= g.reshape(-1, 1)
        else:
            grad *= g / len(grad) if reduction == "mean" else g
        if len(ctx.shape) > 2:
            moved = (ctx.shape[0],) + ctx.shape[2:] + (ctx.shape[1],)
            grad = xp.moveaxis(grad.reshape(moved), -1, 1)
        return grad.astype(logp.dtype, copy=False), None  # a wider target's dtype: the logits'


class ClampMinPassFunction(Function):
    """y = max(x, min);  dy/dx = 1 (the clamp passes the gradient on unchanged)

    PyTorch's gaussian_nll_loss clamps a copy of its variances in place under no_grad, so that
    the loss sees the clamped value while each variance gets the gradient as if unclamped; this
    is that clamp, exact in value (no x + (max(x, min) - x) rounding)."""

    def forward(ctx, x, *, min):  # noqa: A002 - the clamp's name for its bound
        return backend.array_module(x).maximum(x, min).astype(x.dtype, copy=False)

    def backward(ctx, g):
        return g
