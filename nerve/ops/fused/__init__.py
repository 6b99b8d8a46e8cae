"""Fused operations: several steps in one node, each with a measured reason (fewer passes over
memory, numerical stability). One file per family: ``linear`` (x @ W.T + b), ``losses``
(softmax cross-entropy, binary cross-entropy with and without logits), ``conv`` (1-D and 2-D
convolution), ``pool`` (max, average, adaptive average), ``norm`` (batch and layer norm),
``recurrent`` (RNN, LSTM, GRU). The layers and losses in ``nerve.nn`` check their arguments
and call these.
"""

from nerve.ops.fused.conv import ConvFunction, ConvTransposeFunction, conv1d, conv2d
from nerve.ops.fused.linear import LinearFunction, linear
from nerve.ops.fused.losses import BCEFunction, BCEWithLogitsFunction, CrossEntropyFunction
from nerve.ops.fused.norm import BatchNormFunction, LayerNormFunction
from nerve.ops.fused.pool import (
    AdaptiveAvgPoolFunction,
    AvgPoolFunction,
    MaxPoolFunction,
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    avg_pool1d,
    avg_pool2d,
    max_pool1d,
    max_pool2d,
)
from nerve.ops.fused.recurrent import RecurrentFunction

__all__ = ["LinearFunction", "linear", "ConvFunction", "ConvTransposeFunction", "conv1d",
           "conv2d", "MaxPoolFunction",
           "AvgPoolFunction", "AdaptiveAvgPoolFunction", "max_pool1d", "max_pool2d",
           "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
           "CrossEntropyFunction", "BCEFunction", "BCEWithLogitsFunction", "BatchNormFunction",
           "LayerNormFunction", "RecurrentFunction"]
