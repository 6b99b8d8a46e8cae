"""Basic layers: Linear, Flatten, Dropout (and Dropout1d/2d/3d, AlphaDropout,
FeatureAlphaDropout), Identity, Embedding, and the padding layers (ZeroPad, ConstantPad,
ReflectionPad, ReplicationPad, CircularPad, each 1d/2d/3d)."""

from __future__ import annotations

import math

from nerve import backend
from nerve.autograd import Tensor, no_grad
from nerve.checks import (
    ShortRepr,
    as_array,
    check_bool,
    check_int,
    check_number,
    check_positive_int,
    check_probability,
    is_int,
    message,
)
from nerve.nn import functional as F
from nerve.nn import init
from nerve.nn.module import Module, takes_device
from nerve.nn.parameter import Parameter
from nerve.ops import flatten
from nerve.ops.fused import LinearFunction
from nerve.ops.shape import flat_shape


class Linear(Module):
    """A layer of neurons: each output is a weighted sum of the inputs plus a bias.

    ``weight`` is (out_features, in_features) and ``bias`` (out_features,), PyTorch's layout,
    so ``state_dict`` keys and shapes carry over. Default init is PyTorch's:
    U(-1/sqrt(in_features), 1/sqrt(in_features)) for both; the seed's standard-normal weights
    and zero biases are ``init.normal_(layer.weight); init.zeros_(layer.bias)``.

    Shape: (N, *, in_features) -> (N, *, out_features)
    """

    _takes_tensor = True

    @takes_device
    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=None):
        super().__init__()
        self.in_features = check_positive_int(in_features, "in_features", "Linear")
        self.out_features = check_positive_int(out_features, "out_features", "Linear")
        check_bool(bias, "bias", "Linear")
        xp, dtype = backend.array_module(), backend.float_dtype(dtype, "Linear")
        self.weight = Parameter(xp.empty((self.out_features, self.in_features), dtype), dtype)
        if bias:
            self.bias = Parameter(xp.empty(self.out_features, dtype), dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features)
            init.uniform_(self.bias, -bound, bound)

    def _check_input(self, shape: tuple, dtype=None) -> None:
        who = f"Linear({self.in_features}, {self.out_features})"
        if shape[-1:] != (self.in_features,):
            raise ValueError(f"{who}: expected input of shape (N, {self.in_features}), "
                             f"received {tuple(shape)}")
        if dtype is not None and dtype != self.weight.dtype:  # as PyTorch: NumPy would promote
            raise TypeError(f"{who}: expected input of the weight's dtype {self.weight.dtype}, "
                            f"received {dtype} (convert it: x.to({self.weight.dtype}))")

    def forward(self, x: Tensor) -> Tensor:
        if isinstance(x, Tensor):  # the operands are ready: skip F.linear's coercion
            self._check_input(x.shape, x.dtype)
            return LinearFunction.apply(x, self.weight, self.bias)
        self._check_input(x.shape)  # an array or a list: in the weight's dtype, as F.linear
        return F.linear(x, self.weight, self.bias)

    def _forward_array(self, x):
        if x.shape[-1:] != (self.in_features,) or x.dtype != self.weight._data.dtype:
            self._check_input(x.shape, x.dtype)
        bias = self.bias
        return LinearFunction.compute(x, self.weight._data, None if bias is None else bias._data)

    def _then_relu(self, x):
        """This layer and the ReLU after it in one node (see LinearFunction's ``relu``)."""
        if not isinstance(x, Tensor):
            return NotImplemented
        self._check_input(x.shape, x.dtype)
        return LinearFunction.apply(x, self.weight, self.bias, relu=True)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Flatten(Module):
    """Merge dimensions start_dim..end_dim into one.

    Shape: (N, C, H, W) -> (N, C*H*W) with the defaults.
    """

    _takes_tensor = True

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim = check_int(start_dim, "start_dim", "Flatten")
        self.end_dim = check_int(end_dim, "end_dim", "Flatten")

    def forward(self, x: Tensor) -> Tensor:
        return flatten(x, self.start_dim, self.end_dim)

    def _forward_array(self, x):
        return x.reshape(flat_shape(x.shape, self.start_dim, self.end_dim))

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dimension ``dim`` into ``unflattened_size`` (the inverse of Flatten; one entry
    may be -1). Shape: (N, C*H*W) -> (N, C, H, W) for Unflatten(1, (C, H, W))."""

    _takes_tensor = True

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        self.dim = check_int(dim, "dim", "Unflatten")
        if isinstance(unflattened_size, (str, bytes)) or not hasattr(unflattened_size,
                                                                     "__iter__"):
            raise TypeError(message("Unflatten", "a tuple of sizes", "unflattened_size",
                                    unflattened_size))
        sizes = tuple(check_int(s, "unflattened_size", "Unflatten", -1) for s in
                      unflattened_size)
        if not sizes or sizes.count(-1) > 1 or 0 in sizes:
            raise ValueError(message("Unflatten", "positive sizes, one of them -1 at most",
                                     "unflattened_size", sizes))
        self.unflattened_size = sizes

    def _shape(self, shape: tuple) -> tuple:
        dim = self.dim + len(shape) if self.dim < 0 else self.dim
        if not 0 <= dim < len(shape):
            raise ValueError(message(f"Unflatten({self.dim}, {self.unflattened_size})",
                                     f"an input with dimension {self.dim}", "input.shape",
                                     tuple(shape)))
        known = math.prod(s for s in self.unflattened_size if s != -1)
        if shape[dim] % known or (-1 not in self.unflattened_size and known != shape[dim]):
            raise ValueError(message(f"Unflatten({self.dim}, {self.unflattened_size})",
                                     f"dimension {self.dim} of a size the sizes multiply to",
                                     "input.shape", tuple(shape)))
        return shape[:dim] + self.unflattened_size + shape[dim + 1:]

    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(self._shape(tuple(x.shape)))

    def _forward_array(self, x):
        return x.reshape(self._shape(x.shape))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Dropout(Module):
    """Zero each input with probability p while training (scaling the rest); identity in eval.

    Shape: any -> the same
    """

    _takes_tensor = True

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        self.p = check_probability(p, "p", "Dropout")
        self.inplace = check_bool(inplace, "inplace", "Dropout")

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training, self.inplace)

    def _forward_array(self, x):
        return NotImplemented if self.training and self.p else x

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Dropout2d(Module):
    """Zero whole channels while training: each (sample, channel) map with probability p,
    scaling the rest by 1/(1-p); identity in eval (a 3-D input is (N, C, L), as PyTorch).

    Shape: (N, C, H, W) -> the same
    """

    _takes_tensor = True

    def __init__(self, p: float = 0.5):
        super().__init__()
        self.p = check_probability(p, "p", "Dropout2d")

    def forward(self, x: Tensor) -> Tensor:
        return F._dropout2d(x, self.p, self.training, "Dropout2d")

    def _forward_array(self, x):
        if (self.training and self.p) or x.ndim not in (3, 4):
            return NotImplemented  # the Tensor path draws the mask, or raises
        return x

    def extra_repr(self) -> str:
        return f"p={self.p}"


class _DropoutNd(Module):
    """A dropout layer of PyTorch's arguments (p, inplace) over its function in nn.functional."""

    _takes_tensor = True
    _function = None

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        self.p = check_probability(p, "p", type(self).__name__)
        self.inplace = check_bool(inplace, "inplace", type(self).__name__)

    def forward(self, x: Tensor) -> Tensor:
        return type(self)._function(x, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout1d(_DropoutNd):
    """Zero whole channels while training: each (sample, channel) of (N, C, L), or each
    channel of (C, L), with probability p, scaling the rest by 1/(1-p); identity in eval.

    Shape: (N, C, L) or (C, L) -> the same
    """

    _function = staticmethod(F.dropout1d)


class Dropout3d(_DropoutNd):
    """Zero whole channels while training: each (sample, channel) of (N, C, D, H, W), or each
    channel of (C, D, H, W), with probability p, scaling the rest by 1/(1-p); identity in eval.

    Shape: (N, C, D, H, W) or (C, D, H, W) -> the same
    """

    _function = staticmethod(F.dropout3d)


class AlphaDropout(_DropoutNd):
    """Alpha dropout for SELU networks while training (see ``F.alpha_dropout``: the mean and
    variance of its input are kept); identity in eval. ``inplace=True`` writes into the
    input (PyTorch's module takes the flag and does not).

    Shape: any -> the same
    """

    _function = staticmethod(F.alpha_dropout)


class FeatureAlphaDropout(_DropoutNd):
    """Alpha dropout of whole channels (each (sample, channel) of (N, C, ...)) while training;
    identity in eval. ``inplace=True`` writes into the input (PyTorch's module takes the flag
    and does not).

    Shape: (N, C, ...) -> the same
    """

    _function = staticmethod(F.feature_alpha_dropout)


# --- padding ---------------------------------------------------------------------------------
_SIDES = ("left", "right", "top", "bottom", "front", "back")


def _padding_of(padding, n: int, who: str) -> tuple[int, ...]:
    """``padding`` (one int for every side, or n ints) as a tuple of n ints."""
    if is_int(padding):
        return (int(padding),) * n
    expected = f"an int or a tuple of {n} ints ({', '.join(_SIDES[:n])})"
    if not isinstance(padding, (tuple, list)) or not all(is_int(v) for v in padding):
        raise TypeError(message(who, expected, "padding", ShortRepr(padding)))
    if len(padding) != n:  # PyTorch would pad fewer dimensions than the layer's name says
        raise ValueError(message(who, expected, "padding", tuple(padding)))
    return tuple(int(v) for v in padding)


class _PadNd(Module):
    """Pad the last 1, 2 or 3 dimensions with ``F.pad`` of the class's mode: ``padding`` is
    an int (every side) or (left, right[, top, bottom[, front, back]]); a negative width
    crops, where F.pad allows it."""

    _takes_tensor = True
    _mode = "constant"
    _dims = 1

    def __init__(self, padding):
        super().__init__()
        self.padding = _padding_of(padding, 2 * self._dims, type(self).__name__)

    def forward(self, x: Tensor) -> Tensor:
        return F.pad(x, self.padding, self._mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    def __init__(self, padding, value: float):
        super().__init__(padding)
        check_number(value, "value", type(self).__name__)
        self.value = value  # as given, as PyTorch's repr shows it

    def forward(self, x: Tensor) -> Tensor:
        return F.pad(x, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """Pad the last dimension with ``value``. Shape: (*, W) -> (*, W + left + right)."""


class ConstantPad2d(_ConstantPadNd):
    """Pad the last 2 dimensions with ``value``. Shape: (*, H, W) -> (*, H + top + bottom,
    W + left + right)."""

    _dims = 2


class ConstantPad3d(_ConstantPadNd):
    """Pad the last 3 dimensions with ``value``. Shape: (*, D, H, W) -> (*, D + front + back,
    H + top + bottom, W + left + right)."""

    _dims = 3


class ZeroPad1d(ConstantPad1d):
    """Pad the last dimension with zeros. Shape: (*, W) -> (*, W + left + right)."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad2d(ConstantPad2d):
    """Pad the last 2 dimensions with zeros (see ConstantPad2d)."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad3d(ConstantPad3d):
    """Pad the last 3 dimensions with zeros (see ConstantPad3d)."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ReflectionPad1d(_PadNd):
    """Mirror about the edges without repeating them (each width < the size).
    Shape: (N, C, W) or (C, W) -> (.., W + left + right)."""

    _mode = "reflect"


class ReflectionPad2d(_PadNd):
    """Mirror the last 2 dimensions about their edges. Shape: (N, C, H, W) or (C, H, W)."""

    _mode, _dims = "reflect", 2


class ReflectionPad3d(_PadNd):
    """Mirror the last 3 dimensions about their edges. Shape: (N, C, D, H, W) or
    (C, D, H, W)."""

    _mode, _dims = "reflect", 3


class ReplicationPad1d(_PadNd):
    """Repeat the edge values. Shape: (N, C, W) or (C, W) -> (.., W + left + right)."""

    _mode = "replicate"


class ReplicationPad2d(_PadNd):
    """Repeat the edge values of the last 2 dimensions. Shape: (N, C, H, W) or (C, H, W)."""

    _mode, _dims = "replicate", 2


class ReplicationPad3d(_PadNd):
    """Repeat the edge values of the last 3 dimensions. Shape: (N, C, D, H, W) or
    (C, D, H, W)."""

    _mode, _dims = "replicate", 3


class CircularPad1d(_PadNd):
    """Wrap around (each width <= the size; no negative widths). Shape: (N, C, W) or (C, W)."""

    _mode = "circular"


class CircularPad2d(_PadNd):
    """Wrap the last 2 dimensions around. Shape: (N, C, H, W) or (C, H, W)."""

    _mode, _dims = "circular", 2


class CircularPad3d(_PadNd):
    """Wrap the last 3 dimensions around. Shape: (N, C, D, H, W) or (C, D, H, W)."""

    _mode, _dims = "circular", 3


class Identity(Module):
    """Return the input unchanged (a placeholder layer)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x: Tensor) -> Tensor:
        return x

    def _forward_array(self, x):
        return x


class Embedding(Module):
    """A lookup table: row ``i`` of ``weight`` is the vector of token ``i``.

    ``weight`` is (num_embeddings, embedding_dim), drawn from N(0, 1) as in PyTorch; the row
    ``padding_idx`` starts at zero and gets no gradient. The gradient of a row is the sum over
    every place its token appears.

    Shape: (*) integer indices -> (*, embedding_dim)
    """

    _takes_tensor = True

    @takes_device
    def __init__(self, num_embeddings: int, embedding_dim: int,
                 padding_idx: int | None = None, dtype=None):
        super().__init__()
        self.num_embeddings = check_positive_int(num_embeddings, "num_embeddings", "Embedding")
        self.embedding_dim = check_positive_int(embedding_dim, "embedding_dim", "Embedding")
        if padding_idx is not None:
            check_int(padding_idx, "padding_idx", "Embedding")
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(message("Embedding", f"padding_idx in [-{num_embeddings}, "
                                         f"{num_embeddings})", "padding_idx", padding_idx))
            padding_idx %= num_embeddings
        self.padding_idx = padding_idx
        xp, dtype = backend.array_module(), backend.float_dtype(dtype, "Embedding")
        self.weight = Parameter(xp.empty((self.num_embeddings, self.embedding_dim), dtype), dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0.0

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True,
                        padding_idx: int | None = None) -> Embedding:
        """An Embedding whose weight is a copy of the 2-D ``embeddings`` (rows: tokens),
        frozen unless ``freeze=False``; the padding row keeps its values, as in PyTorch."""
        table = as_array(embeddings)
        if table.ndim != 2:
            raise ValueError(message("Embedding.from_pretrained", "a 2-D table (num_embeddings, "
                                     "embedding_dim)", "embeddings.shape", table.shape))
        dtype = table.dtype if table.dtype.kind == "f" else None
        layer = cls(table.shape[0], table.shape[1], padding_idx, dtype=dtype)
        with no_grad():
            layer.weight._data[...] = table
            layer.weight._bump()
        layer.weight.requires_grad_(not check_bool(freeze, "freeze", "Embedding"))
        return layer

    def forward(self, input: Tensor) -> Tensor:
        return F.embedding(input, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"
