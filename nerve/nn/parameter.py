"""Parameter: a Tensor that a Module registers as learnable when assigned as an attribute."""

from __future__ import annotations

from nerve.autograd import Tensor


class Parameter(Tensor):
    """A leaf tensor that requires gradients and belongs to a Module's ``parameters()``."""

    __slots__ = ()

    def __init__(self, data, dtype=None, requires_grad: bool = True):
        if dtype is None and isinstance(data, Tensor) and data.dtype.kind == "f":
            dtype = data.dtype  # a float64 Tensor stays float64, as in PyTorch; an ndarray's
            # floats become the default dtype, as in Tensor(array)
        super().__init__(data, dtype=dtype, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
