"""Making tensors: from data, filled with a value, or drawn from nerve's seeded generator."""

from __future__ import annotations

from nerve import backend
from nerve.autograd import Tensor
from nerve.checks import is_int


def tensor(data, dtype=None, requires_grad: bool = False) -> Tensor:
    """Make a tensor from data (a number, nested lists, an ndarray or a Tensor; always a copy).

    Floating-point data becomes float32 unless ``dtype`` says otherwise; integer and boolean
    data keep their kind (int64, bool). Only floating-point tensors can require gradients.
    """
    return Tensor(data, dtype=dtype, requires_grad=requires_grad)  # Tensor() always copies


def _shape(shape) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for n in shape:
        if not is_int(n) or n < 0:
            raise ValueError(f"expected a shape of non-negative integers. Received: "
                             f"shape={shape!r}")
    return tuple(int(n) for n in shape)


def _dtype(dtype):
    return backend.to_dtype(dtype) or backend.get_default_dtype()


def _make(data, requires_grad: bool) -> Tensor:
    """Wrap a freshly made array as it is (``Tensor(data)`` would turn float64 into float32)."""
    t = Tensor._wrap(data)
    t.requires_grad = requires_grad
    return t


def _like(t, dtype):
    """The array and dtype a ``*_like`` result copies: a tensor keeps its dtype unless asked."""
    src = t.data if isinstance(t, Tensor) else Tensor(t).data
    return src, backend.to_dtype(dtype) or src.dtype


def zeros(*shape, dtype=None, requires_grad: bool = False) -> Tensor:
    return _make(backend.array_module().zeros(_shape(shape), _dtype(dtype)), requires_grad)


def ones(*shape, dtype=None, requires_grad: bool = False) -> Tensor:
    return _make(backend.array_module().ones(_shape(shape), _dtype(dtype)), requires_grad)


def full(shape, value, dtype=None, requires_grad: bool = False) -> Tensor:
    return _make(backend.array_module().full(_shape((shape,)), value,
                                                   _dtype(dtype)), requires_grad)


def zeros_like(t, dtype=None, requires_grad: bool = False) -> Tensor:
    src, dt = _like(t, dtype)
    return _make(backend.array_module(src).zeros(src.shape, dt), requires_grad)


def ones_like(t, dtype=None, requires_grad: bool = False) -> Tensor:
    src, dt = _like(t, dtype)
    return _make(backend.array_module(src).ones(src.shape, dt), requires_grad)


def randn(*shape, dtype=None, requires_grad: bool = False) -> Tensor:
    """Standard-normal samples from nerve's seeded generator."""
    data = backend.rng().standard_normal(_shape(shape), dtype=backend.float64).astype(_dtype(dtype))
    return _make(data, requires_grad)


def rand(*shape, dtype=None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) from nerve's seeded generator."""
    data = backend.rng().random(_shape(shape), dtype=backend.float64).astype(_dtype(dtype))
    return _make(data, requires_grad)


def arange(start, stop=None, step=1, dtype=None) -> Tensor:
    """Evenly spaced values in [start, stop); floats are float32 unless ``dtype`` says."""
    data = backend.array_module().arange(start, stop, step, dtype=backend.to_dtype(dtype))
    return _make(data, False) if dtype is not None else Tensor(data)


def from_numpy(array, requires_grad: bool = False) -> Tensor:
    """Wrap an ndarray without copying: the tensor and the array share memory (any dtype)."""
    if not backend.is_array(array):
        raise TypeError(f"from_numpy expects an ndarray, got {type(array).__name__}")
    t = Tensor._wrap(array)
    t.requires_grad = requires_grad
    return t
