"""nerve: neural networks from the single neuron to deep networks, with their own tensors and
backpropagation, on NumPy.

The house, bottom to top (an import only points down; ``tests/test_layout.py`` checks it):
``backend`` (the array module, dtypes, the seeded generator) and ``files`` (atomic writes),
``autograd`` (Tensor, backpropagation, grad mode), ``checks`` (argument checks and
conversions), ``function`` (the Function mechanism), ``data`` (datasets, loaders;
``utils.data``, PyTorch's path to them), ``ops``
(the operations; ``ops.fused`` the fused ones), ``nn`` (modules, layers, losses), ``optim``
(optimizers, schedules), ``io`` (safetensors weights, checkpoints), ``train`` (fit / evaluate
/ predict over one callback list, find_lr), ``cli`` (the ``nerve`` command), ``viz`` (pictures
with matplotlib, an optional extra).
"""

from nerve import autograd, cuda, nn, optim
from nerve.autograd import (
    Size,
    Tensor,
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from nerve.backend import device, get_default_dtype, manual_seed, set_default_dtype
from nerve.creation import (
    BoolTensor,
    DoubleTensor,
    FloatTensor,
    IntTensor,
    LongTensor,
    arange,
    as_tensor,
    bernoulli,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    logspace,
    multinomial,
    normal,
    ones,
    ones_like,
    poisson,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from nerve.dtypes import *  # noqa: F403 - nerve.float32, nerve.float, nerve.long, ...
from nerve.dtypes import __all__ as _dtypes_all
from nerve.function import Function
from nerve.gradcheck import GradcheckError, gradcheck
from nerve.linalg import TOP_LEVEL as _linalg_top  # nerve.det, nerve.inverse, nerve.svd...
from nerve.nn import Perceptron
from nerve.ops import *  # noqa: F403 - the operations are nerve's top-level functions
from nerve.ops import __all__ as _ops_all
from nerve.ops.shape import select  # not in nerve.ops.__all__: it would hide nerve.ops.select

globals().update(_linalg_top)

__version__ = "0.2.0"

# The upper floors load on first use (PEP 562), so that ``import nerve`` stays fast.
_LAZY = {"data": "nerve.data", "io": "nerve.io", "train": "nerve.train", "cli": "nerve.cli",
         "viz": "nerve.viz", "utils": "nerve.utils", "sklearn": "nerve.sklearn",
         "onnx": "nerve.onnx", "distributed": "nerve.distributed", "linalg": "nerve.linalg",
         "save": "nerve.io", "load": "nerve.io", "load_weights": "nerve.io",
         "fit": "nerve.train", "evaluate": "nerve.train", "predict": "nerve.train",
         "predict_classes": "nerve.train", "predict_proba": "nerve.train",
         "forecast": "nerve.train"}


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
    "Tensor", "Size", "tensor", "Function", "cuda", "no_grad", "enable_grad", "inference_mode",
    "set_grad_enabled", "is_grad_enabled", "gradcheck", "GradcheckError", "manual_seed",
    "get_default_dtype", "set_default_dtype", "device", "zeros", "ones", "full", "empty", "eye",
    "zeros_like", "ones_like", "rand_like", "randn_like", "full_like", "empty_like", "randn",
    "rand", "randint", "normal", "randperm", "multinomial", "bernoulli", "poisson", "select",
    "arange", "linspace",
    "logspace", "as_tensor", "from_numpy", "FloatTensor", "DoubleTensor", "LongTensor",
    "IntTensor", "BoolTensor", "nn", "optim", "autograd", "Perceptron", *_dtypes_all, *_LAZY,
    *_ops_all, *_linalg_top,
]
