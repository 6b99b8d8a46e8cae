"""The linear layer's operation, x @ W.T + b, as one node (one pass for the bias, no
intermediate node for the product)."""

from __future__ import annotations

from nerve import backend
from nerve.autograd import Tensor
from nerve.function import Function
from nerve.ops._common import operands, register


class LinearFunction(Function):
    """y = x W^T + b;  dx = g W, dW = g^T x, db = sum of g over the samples

    PyTorch's layout: ``weight`` is (out_features, in_features). With ``relu=True`` the node is
    relu(x W^T + b) (a Sequential's Linear then ReLU): the ReLU works in place on the product's
    new array, and its backward (g where y > 0) comes first in this node's.
    """

    def forward(ctx, x, weight, bias=None, *, relu=False):
        if weight.ndim != 2 or x.ndim == 0:
            raise ValueError(f"linear: needs an input of at least 1-D and a 2-D weight "
                             f"(out_features, in_features), got shapes {x.shape} and "
                             f"{weight.shape}")
        if x.shape[-1] != weight.shape[1]:
            raise ValueError(f"linear: input has {x.shape[-1]} features (shape {x.shape}), "
                             f"weight expects {weight.shape[1]} (weight shape {weight.shape})")
        needs = getattr(ctx, "needs_input_grad", (False, False))
        out = ctx.compute(x, weight, bias, relu)
        ctx.save_for_backward(x if needs[1] else None, weight if needs[0] else None,
                              out if relu else None)
        ctx.x_shape = x.shape
        return out

    @staticmethod
    def compute(x, weight, bias=None, relu=False):
        """The forward arithmetic alone, on arrays (also the layer's inference path)."""
        out = x.dot(weight.T) if x.ndim == 2 else x @ weight.T  # dot: less overhead in 2-D
        if bias is not None:
            out += bias
        if relu:
            backend.array_module(out).maximum(out, backend.zeros_as(out), out=out)
        return out

    def backward(ctx, g):
        x, w, y = ctx.saved_tensors
        if y is not None:  # the ReLU's backward
            g = g * (y > 0)
        needs = ctx.needs_input_grad
        gx = (g @ w) if needs[0] else None
        gw = gb = None
        nb = len(needs) > 2 and needs[2]
        if needs[1] or nb:
            g2 = g.reshape(-1, g.shape[-1])
            if needs[1]:
                x2 = x.reshape(-1, ctx.x_shape[-1])
                gw = _into(ctx.grad_home(1), g2.dtype, x2.dtype)  # the optimizer's flat buffer
                gw = g2.T.dot(x2) if gw is None else g2.T.dot(x2, out=gw)
            if nb:
                gb = _into(ctx.grad_home(2), g2.dtype)
                gb = g2.sum(axis=0, out=gb)
        return gx, gw, gb


def _into(home, *dtypes):
    """``home`` if the result (of these dtypes) can be written into it, else None."""
    if home is None or any(d != home.dtype for d in dtypes):
        return None
    return home


@register(methods=())
def linear(x, weight, bias=None) -> Tensor:
    """``x @ weight.T + bias`` as one node; ``weight`` is (out_features, in_features)."""
    weight, x = operands(weight, x, "linear")
    if x.dtype != weight.dtype:  # as PyTorch: NumPy's promotion would change the model's dtype
        raise TypeError(f"linear: expected input of the weight's dtype {weight.dtype}, "
                        f"received {x.dtype}")
    if bias is None:
        return LinearFunction.apply(x, weight)
    return LinearFunction.apply(x, weight, operands(weight, bias, "linear")[1])
