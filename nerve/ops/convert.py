"""Conversions with PyTorch's spelling: ``t.to(dtype or device)``, ``t.type()``, ``t.float()``,
``t.double()``, ``t.half()``, ``t.long()``, ``t.int()``, ``t.bool()``, ``t.cpu()``.

Between floating dtypes a conversion stays in the graph (the gradient comes back in the
input's dtype); towards integers or bools it is cut from it, as in PyTorch. A move to another
device (``to("cuda")``, ``cpu()``, ``cuda()``) is a copy that stays in the graph too.
"""

from __future__ import annotations

from nerve import backend
from nerve.autograd import Tensor
from nerve.checks import device_and_dtype
from nerve.function import Function
from nerve.ops._common import register
from nerve.ops.shape import cast, clone

_TYPE_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor",
               "int64": "LongTensor", "int32": "IntTensor", "int16": "ShortTensor",
               "int8": "CharTensor", "uint8": "ByteTensor", "bool": "BoolTensor"}


class ToDeviceFunction(Function):
    "y = x copied to another device;  dx = dy copied back to x's device"

    def forward(ctx, x, device):
        ctx.source = backend.device(backend.device_of(x))
        return backend.to_device(x, device)

    def backward(ctx, grad):
        return backend.to_device(grad, ctx.source)


@register(methods=("to",), public=False)
def to(self, *args, **kwargs) -> Tensor:
    """This tensor on a device and/or in a dtype: ``to(nerve.float64)``, ``to("cuda")``,
    ``to(other_tensor)``, ``to(device=..., dtype=...)``; itself when nothing changes (a copy
    with ``copy=True``). A move is a copy that stays in the graph, as in PyTorch."""
    unknown = set(kwargs) - {"dtype", "device", "copy", "non_blocking"}
    if unknown:
        raise TypeError(f"to: unexpected keyword arguments {sorted(unknown)}")
    device, dtype = device_and_dtype(args, kwargs.get("device"), kwargs.get("dtype"), "to")
    out = self if dtype is None else cast(self, dtype)
    if device is not None and device != backend.device_of(out._data):
        return ToDeviceFunction.apply(out, device)
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
    """This tensor on the CPU: itself if it is there, else a copy (``to("cpu")``)."""
    return to(self, "cpu")


@register(methods=("cuda",), public=False)
def cuda(self, device=None) -> Tensor:
    """This tensor on a GPU (the current one, or ``device``: an index or a name): a copy, or
    itself if it is there already."""
    return to(self, device=backend.device("cuda", device) if isinstance(device, int) else
              "cuda" if device is None else device)
