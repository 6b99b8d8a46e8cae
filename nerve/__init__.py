"""nerve: neural networks from the single neuron to deep networks, with their own tensors and
backpropagation, on NumPy.

The floors, bottom to top (an import only points down): ``backend`` (the array module, the
seeded generator), ``tensor`` and ``function`` (Tensor, backpropagation, the Function
mechanism), ``ops`` (differentiable operations), ``nn`` (modules, layers, losses), ``optim``
(optimizers, schedules), ``data`` (datasets, loaders), ``io`` (safetensors weights,
checkpoints), ``train`` (fit / evaluate / predict), ``cli`` (the ``nerve`` command).
"""

from nerve import data, io, nn, optim, train
from nerve.backend import float32, float64, get_default_dtype, int64, manual_seed, set_default_dtype
from nerve.creation import arange, full, ones, ones_like, rand, randn, tensor, zeros, zeros_like
from nerve.function import Function
from nerve.gradcheck import GradcheckError, gradcheck
from nerve.io import load, load_weights, save
from nerve.nn import Perceptron
from nerve.ops import *  # noqa: F403 - the operations are nerve's top-level functions
from nerve.ops import __all__ as _ops_all
from nerve.tensor import Tensor, enable_grad, is_grad_enabled, no_grad
from nerve.train import evaluate, fit, predict, predict_classes, predict_proba

__version__ = "0.1.0"

__all__ = [
    "Tensor", "tensor", "Function", "no_grad", "enable_grad", "is_grad_enabled", "gradcheck",
    "GradcheckError", "manual_seed", "float32", "float64", "int64", "get_default_dtype",
    "set_default_dtype", "zeros", "ones", "full", "zeros_like", "ones_like", "randn", "rand",
    "arange", "nn", "optim", "data", "io", "train", "Perceptron", "fit", "evaluate", "predict",
    "predict_classes", "predict_proba", "save", "load", "load_weights", *_ops_all,
]
