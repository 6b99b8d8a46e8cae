"""nerve: neural networks from the single neuron to deep networks, with their own tensors and
backpropagation, on NumPy."""

from nerve.backend import float32, float64, get_default_dtype, int64, manual_seed, set_default_dtype
from nerve.function import Function
from nerve.gradcheck import GradcheckError, gradcheck
from nerve.ops import *  # noqa: F403 - the operations are nerve's top-level functions
from nerve.ops import __all__ as _ops_all
from nerve.tensor import Tensor, enable_grad, is_grad_enabled, no_grad
from nerve.creation import arange, full, ones, ones_like, rand, randn, tensor, zeros, zeros_like

__version__ = "0.1.0"

__all__ = [
    "Tensor", "tensor", "Function", "no_grad", "enable_grad", "is_grad_enabled", "gradcheck",
    "GradcheckError", "manual_seed", "float32", "float64", "int64", "get_default_dtype",
    "set_default_dtype", "zeros", "ones", "full", "zeros_like", "ones_like", "randn", "rand",
    "arange", *_ops_all,
]
