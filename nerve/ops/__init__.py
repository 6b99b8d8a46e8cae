"""The differentiable operations, as functions (``nerve.exp``) and Tensor methods (``x.exp()``).

Each operation is written on one screen in its family's module: its :class:`nerve.Function`
(forward, backward, and the formula in the docstring), then its public function, registered
with :func:`~nerve.ops._common.register`, which makes it ``nerve.<name>`` and a Tensor method.
The families are ``arithmetic``, ``elementwise``, ``reduce`` and ``shape`` (with the
comparisons); ``fused`` holds the operations that do several steps in one node (linear, the
losses; convolution, pooling and the recurrent layers next). Comparisons and ``argmax`` are
declared non-differentiable: their results never require gradients. ``step`` is
differentiable with a gradient of zero.
"""

from nerve.function import Function
from nerve.ops import (  # noqa: F401 - importing them registers the operations
    arithmetic,
    convert,
    elementwise,
    fused,
    inplace,
    interop,
    reduce,
    select,
    shape,
)
from nerve.ops._common import PUBLIC, unbroadcast

globals().update(PUBLIC)

__all__ = ["Function", "unbroadcast", *PUBLIC]
