"""Conversions with PyTorch's spelling: ``t.to(dtype or device)``, ``t.type()``, ``t.float()``,
``t.double()``, ``t.half()``, ``t.long()``, ``t.int()``, ``t.bool()``, ``t.cpu()``.

Between floating dtypes a conversion stays in the graph (the gradient comes back in the
input's dtype); towards integers or bools it is cut from it, as in PyTorch. A device other
than the CPU raises a clear error until the GPU backend exists.
"""

from __future__ import annotations

from nerve import backend
from nerve.autograd import Tensor
from nerve.checks import device_and_dtype
from nerve.ops._common import register
from nerve.ops.shape import cast, clone

_TYPE_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor",
               "int64": "LongTensor", "int32": "IntTensor", "int16": "ShortTensor",
               "int8": "CharTensor", "uint8": "ByteTensor", "bool": "BoolTensor"}


@register(methods=("to",), public=False)
def to(self, *args, **kwargs) -> Tensor:
    """This tensor on a device and/or in a dtype: ``to(nerve.float64)``, ``to("cpu")``,
    ``to(other_tensor)``, ``to(device=..., dtype=...)``; itself when nothing changes (a copy
    with ``copy=True``)."""
    unknown = set(kwargs) - {"dtype", "device", "copy", "non_blocking"}
    if unknown:
        raise TypeError(f"to: unexpected keyword arguments {sorted(unknown)}")
    _, dtype = device_and_dtype(args, kwargs.get("device"), kwargs.get("dtype"), "to")
    out = self if dtype is None else cast(self, dtype)
    if kwargs.get("copy") and out is self:
        out = clone(self)
    return out


def _caster(dtype, name: str):
    def method(self) -> Tensor:
        return cast(self, dtype)

    method.__name__, method.__doc__ = name, f"This tensor as {dtype} (``to({dtype})``)."
    register(method, methods=(name,), public=False)


for _name, _dtype in (("float", "float32"), ("double", "float64"), ("half", "float16"),
                      ("long", "int64"), ("int", "int32"), ("short", "int16"),
                      ("bool", "bool"), ("byte", "uint8")):
    _caster(_dtype, _name)


@register(methods=("type",), public=False)
def type_(self, dtype=None):
    """Without an argument, the type's name as PyTorch writes it ("nerve.FloatTensor");
    with a dtype, this tensor in it."""
    if dtype is None:
        return f"nerve.{_TYPE_NAMES.get(str(self.dtype), str(self.dtype))}"
    return cast(self, dtype)


@register(methods=("cpu",), public=False)
def cpu(self) -> Tensor:
    """This tensor on the CPU: itself (nerve computes on the CPU)."""
    return self


@register(methods=("cuda",), public=False)
def cuda(self, device=None) -> Tensor:
    """On a GPU: a clear error until nerve's GPU backend exists."""
    backend.check_device("cuda" if device is None else device, "cuda")
    return self
