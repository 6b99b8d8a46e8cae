"""Normalisation layers with PyTorch's names, arguments, parameters and buffers: BatchNorm1d,
BatchNorm2d (statistics per channel over the batch, running statistics for eval) and LayerNorm
(statistics per sample over its trailing dimensions)."""

from __future__ import annotations

from nerve import backend
from nerve.autograd import Tensor
from nerve.checks import check_bool, check_number, check_positive_int, message
from nerve.nn import functional as F
from nerve.nn.module import Module, takes_device
from nerve.nn.parameter import Parameter
from nerve.ops.fused import BatchNormFunction, LayerNormFunction


def _layer_dtype(*tensors):
    """The dtype of a layer's first parameter or buffer given (None when it has none)."""
    return next((t._data.dtype for t in tensors if t is not None), None)


def _input_of(x, dtype, who: str) -> Tensor:
    """The input as a Tensor of the layer's ``dtype`` (None: any): an array is converted, as
    the conv layers convert it; a Tensor of another dtype is refused, as PyTorch refuses it
    (a float32 input of a .double() model would give float32 in training but float64 in eval)."""
    if not isinstance(x, Tensor):
        x = backend.ensure_array(x)
        return Tensor._wrap(x if dtype is None or x.dtype.kind not in "biuf"
                            else x.astype(dtype, copy=False))
    if dtype is not None and x.dtype != dtype:
        raise TypeError(message(who, f"an input of the layer's dtype {dtype} (convert with "
                                f".to({dtype}) or the model with .double()/.float())",
                                "input.dtype", x.dtype))
    return x


class _BatchNorm(Module):
    """What BatchNorm1d and BatchNorm2d share: parameters, buffers, the update of the running
    statistics and the choice between batch and running statistics (PyTorch's rules)."""

    _takes_tensor = True
    _ndims: tuple[int, ...] = ()  # the input dimensions the layer takes
    _layout = ""  # the expected input shape, as the error message writes it

    @takes_device
    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, dtype=None, *,
                 bias: bool = True):
        super().__init__()
        who = type(self).__name__
        self.num_features = check_positive_int(num_features, "num_features", who)
        self.eps = check_number(eps, "eps", who, 0.0)
        self.momentum = None if momentum is None else check_number(momentum, "momentum", who,
                                                                    0.0, 1.0)
        self.affine = check_bool(affine, "affine", who)
        self.track_running_stats = check_bool(track_running_stats, "track_running_stats", who)
        check_bool(bias, "bias", who)
        xp, dtype = backend.array_module(), backend.float_dtype(dtype, who)
        n = self.num_features
        if self.affine:
            self.weight = Parameter(xp.ones(n, dtype), dtype)
            if bias:
                self.bias = Parameter(xp.zeros(n, dtype), dtype)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if self.track_running_stats:
            self.register_buffer("running_mean", Tensor._wrap(xp.zeros(n, dtype)))
            self.register_buffer("running_var", Tensor._wrap(xp.ones(n, dtype)))
            self.register_buffer("num_batches_tracked", Tensor._wrap(xp.zeros((), backend.int64)))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batch tracked."""
        if self.track_running_stats and self.running_mean is not None:
            self.running_mean._data.fill(0)
            self.running_var._data.fill(1)
            self.num_batches_tracked._data.fill(0)
            for t in (self.running_mean, self.running_var, self.num_batches_tracked):
                t._bump()

    def reset_parameters(self) -> None:
        """Reset the running statistics, and weight 1 and bias 0."""
        self.reset_running_stats()
        if self.weight is not None:
            self.weight._data.fill(1)
            self.weight._bump()
        if self.bias is not None:
            self.bias._data.fill(0)
            self.bias._bump()

    def _who(self) -> str:
        return f"{type(self).__name__}({self.num_features})"

    def _check_input(self, shape: tuple) -> None:
        if len(shape) not in self._ndims or shape[1] != self.num_features:
            raise ValueError(message(self._who(), "an input of shape "
                                     + self._layout.format(C=self.num_features), "input.shape",
                                     tuple(shape)))

    def _dtype(self):
        return _layer_dtype(self.weight, self.bias, self.running_mean, self.running_var)

    def forward(self, input: Tensor) -> Tensor:
        self._check_input(input.shape)
        input = _input_of(input, self._dtype(), self._who())
        factor = 0.0 if self.momentum is None else self.momentum
        tracked = self.num_batches_tracked
        count = self.training and self.track_running_stats and tracked is not None
        if count and self.momentum is None:  # a cumulative average over the batches seen
            factor = 1.0 / (float(tracked._data) + 1.0)
        use_batch = self.training or (self.running_mean is None and self.running_var is None)
        keep = not self.training or self.track_running_stats  # buffers used or updated
        out = F._batch_norm(input, self.running_mean if keep else None,
                            self.running_var if keep else None, self.weight, self.bias,
                            use_batch, factor, self.eps, self._who())
        if count:  # counted once the batch is taken (a refused one is not)
            tracked._data += 1
            tracked._bump()
        return out

    def _forward_array(self, x):
        mean, var = self.running_mean, self.running_var
        if (self.training or mean is None or var is None or x.dtype != self._dtype()
                or len(x.shape) not in self._ndims or x.shape[1] != self.num_features):
            return NotImplemented  # the Tensor path trains, or raises
        xp = backend.array_module(x)
        shape = (1, self.num_features) + (1,) * (x.ndim - 2)
        scale = 1.0 / xp.sqrt(var._data + self.eps)
        if self.weight is not None:
            scale *= self.weight._data
        bias = None if self.bias is None else self.bias._data.reshape(shape)
        return BatchNormFunction.inference(x, scale.reshape(shape),
                                           mean._data.reshape(shape), bias)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of each feature (channel) over the batch (and length):
    y = (x - mean) / sqrt(var + eps) * weight + bias.

    Training uses the batch's mean and biased variance and updates ``running_mean`` and
    ``running_var`` (unbiased variance) with ``momentum`` (None: the cumulative average over
    ``num_batches_tracked`` batches); eval uses the running statistics. Parameters, buffers and
    ``state_dict`` keys are PyTorch's, so weights carry over both ways.

    Shape: (N, C) or (N, C, L) -> the same
    """

    _ndims = (2, 3)
    _layout = "(N, {C}) or (N, {C}, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of each channel of images over the batch and every pixel:
    y = (x - mean) / sqrt(var + eps) * weight + bias (see :class:`BatchNorm1d` for training,
    eval and the buffers). Any memory layout of the input (channels-last included) is kept.

    Shape: (N, C, H, W) -> the same
    """

    _ndims = (4,)
    _layout = "(N, {C}, H, W)"


class LayerNorm(Module):
    """Normalise each sample over its trailing dimensions ``normalized_shape``:
    y = (x - mean) / sqrt(var + eps) * weight + bias, with ``weight`` (ones) and ``bias``
    (zeros) of ``normalized_shape`` when ``elementwise_affine`` (``bias=False``: no bias).
    The same arithmetic in training and eval.

    Shape: (*, *normalized_shape) -> the same
    """

    _takes_tensor = True

    @takes_device
    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, dtype=None):
        super().__init__()
        who = "LayerNorm"
        self.normalized_shape = F._normalized_shape_of(normalized_shape, who)
        self.eps = check_number(eps, "eps", who, 0.0)
        self.elementwise_affine = check_bool(elementwise_affine, "elementwise_affine", who)
        check_bool(bias, "bias", who)
        xp, dtype = backend.array_module(), backend.float_dtype(dtype, who)
        if self.elementwise_affine:
            self.weight = Parameter(xp.ones(self.normalized_shape, dtype), dtype)
            if bias:
                self.bias = Parameter(xp.zeros(self.normalized_shape, dtype), dtype)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        """weight 1 and bias 0."""
        for p, value in ((self.weight, 1), (self.bias, 0)):
            if p is not None:
                p._data.fill(value)
                p._bump()

    def forward(self, input: Tensor) -> Tensor:
        who = f"LayerNorm({self.normalized_shape})"
        F._check_normalized_input(input.shape, self.normalized_shape, who)
        input = _input_of(input, _layer_dtype(self.weight, self.bias), who)
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def _forward_array(self, x):
        k = len(self.normalized_shape)
        dtype = _layer_dtype(self.weight, self.bias)
        if (x.dtype.kind != "f" or (dtype is not None and x.dtype != dtype)
                or tuple(x.shape[-k:]) != self.normalized_shape):
            return NotImplemented  # the Tensor path raises
        w, b = self.weight, self.bias
        return LayerNormFunction().forward(x, None if w is None else w._data,
                                           None if b is None else b._data,
                                           normalized_shape=self.normalized_shape,
                                           eps=self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")
