"""nerve: neural networks from the single neuron to deep networks, with their own tensors and
backpropagation, on NumPy.

The house, bottom to top (an import only points down; ``tests/test_layout.py`` checks it):
``backend`` (the array module, dtypes, the seeded generator) and ``files`` (atomic writes),
``autograd`` (Tensor, backpropagation, grad mode), ``checks`` (argument checks and
conversions), ``function`` (the Function mechanism), ``data`` (datasets, loaders), ``ops``
(the operations; ``ops.fused`` the fused ones), ``nn`` (modules, layers, losses), ``optim``
(optimizers, schedules), ``io`` (safetensors weights, checkpoints), ``train`` (fit / evaluate
/ predict over one callback list, find_lr), ``cli`` (the ``nerve`` command).
"""

from nerve import autograd, nn, optim
from nerve.autograd import Tensor, enable_grad, is_grad_enabled, no_grad
from nerve.backend import float32, float64, get_default_dtype, int64, manual_seed, set_default_dtype
from nerve.creation import (
    arange,
    from_numpy,
    full,
    ones,
    ones_like,
    rand,
    randn,
    tensor,
    zeros,
    zeros_like,
)
from nerve.function import Function
from nerve.gradcheck import GradcheckError, gradcheck
from nerve.nn import Perceptron
from nerve.ops import *  # noqa: F403 - the operations are nerve's top-level functions
from nerve.ops import __all__ as _ops_all

__version__ = "0.1.0"

# The upper floors load on first use (PEP 562), so that ``import nerve`` stays fast.
_LAZY = {"data": "nerve.data", "io": "nerve.io", "train": "nerve.train", "cli": "nerve.cli",
         "save": "nerve.io", "load": "nerve.io", "load_weights": "nerve.io",
         "fit": "nerve.train", "evaluate": "nerve.train", "predict": "nerve.train",
         "predict_classes": "nerve.train", "predict_proba": "nerve.train"}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'nerve' has no attribute {name!r}")
    import importlib

    module = importlib.import_module(_LAZY[name])
    value = module if module.__name__ == f"nerve.{name}" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "Tensor", "tensor", "Function", "no_grad", "enable_grad", "is_grad_enabled", "gradcheck",
    "GradcheckError", "manual_seed", "float32", "float64", "int64", "get_default_dtype",
    "set_default_dtype", "zeros", "ones", "full", "zeros_like", "ones_like", "randn", "rand",
    "arange", "from_numpy", "nn", "optim", "autograd", "Perceptron", *_LAZY, *_ops_all,
]
