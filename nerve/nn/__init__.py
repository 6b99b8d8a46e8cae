"""Modules, layers, activations, initialisation and losses, with PyTorch's names."""

from nerve.nn import functional, init, utils
from nerve.nn.activation import (
    CELU,
    ELU,
    GELU,
    SELU,
    Hardtanh,
    LeakyReLU,
    LogSigmoid,
    LogSoftmax,
    Mish,
    PReLU,
    ReLU,
    ReLU6,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Softsign,
    Step,
    Tanh,
)
from nerve.nn.container import (
    ModuleDict,
    ModuleList,
    ParameterDict,
    ParameterList,
    Sequential,
)
from nerve.nn.conv import Conv1d, Conv2d
from nerve.nn.layers import Dropout, Dropout2d, Embedding, Flatten, Identity, Linear, Unflatten
from nerve.nn.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CosineSimilarity,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    PairwiseDistance,
    SmoothL1Loss,
    SSRLoss,
)
from nerve.nn.module import (
    Module,
    RemovableHandle,
    register_module_forward_hook,
    register_module_forward_pre_hook,
)
from nerve.nn.normalization import (
    BatchNorm1d,
    BatchNorm2d,
    GroupNorm,
    InstanceNorm1d,
    InstanceNorm2d,
    LayerNorm,
)
from nerve.nn.parameter import Parameter
from nerve.nn.perceptron import ConvergenceWarning, Perceptron
from nerve.nn.pooling import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AvgPool1d,
    AvgPool2d,
    MaxPool1d,
    MaxPool2d,
)
from nerve.nn.recurrent import GRU, LSTM, RNN, GRUCell, LastTimeStep, LSTMCell, RNNCell
from nerve.nn.summary import summary

__all__ = [
    "Module", "Parameter", "Sequential", "ModuleList", "ModuleDict", "Linear", "Flatten",
    "Unflatten",
    "Conv1d", "Conv2d", "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d", "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "LastTimeStep",
    "BatchNorm1d", "BatchNorm2d", "LayerNorm", "Dropout2d", "GroupNorm", "InstanceNorm1d",
    "InstanceNorm2d", "PReLU", "ParameterList", "ParameterDict",
    "Dropout", "Identity", "Embedding", "Step", "Sigmoid", "ReLU", "Softplus", "Tanh",
    "LeakyReLU", "Softmax", "SiLU", "Mish", "Hardtanh", "ReLU6", "LogSigmoid", "Softsign",
    "ELU", "CELU", "SELU", "GELU",
    "LogSoftmax", "MSELoss", "SSRLoss", "L1Loss", "SmoothL1Loss", "HuberLoss",
    "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss", "KLDivLoss",
    "CosineSimilarity", "PairwiseDistance", "Perceptron",
    "ConvergenceWarning", "summary", "functional", "init", "utils", "RemovableHandle",
    "register_module_forward_hook", "register_module_forward_pre_hook",
]
