"""Fused operations: several steps in one node, each with a measured reason (fewer passes over
memory, numerical stability). One file per family: ``linear`` (x @ W.T + b), ``losses``
(softmax cross-entropy, binary cross-entropy with and without logits); convolution, pooling and
the recurrent layers join them here. The layers and losses in ``nerve.nn`` check their
arguments and call these.
"""

from nerve.ops.fused.linear import LinearFunction, linear
from nerve.ops.fused.losses import BCEFunction, BCEWithLogitsFunction, CrossEntropyFunction

__all__ = ["LinearFunction", "linear", "CrossEntropyFunction", "BCEFunction",
           "BCEWithLogitsFunction"]
