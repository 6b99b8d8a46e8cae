"""Normalisation layers with PyTorch's names, arguments, parameters and buffers: BatchNorm1d,
BatchNorm2d (statistics per channel over the batch, running statistics for eval), LayerNorm
(statistics per sample over its trailing dimensions), GroupNorm (per sample over each group of
channels) and InstanceNorm1d/2d (per sample and channel), with the functional forms
``group_norm`` and ``instance_norm``."""

from __future__ import annotations

import math
import warnings

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



def _affine(module, shape, affine: bool, bias: bool, dtype, who: str) -> None:
    """A normalisation layer's weight (ones) and bias (zeros) of ``shape``, or empty slots
    (None, as PyTorch's) without ``affine``; ``bias=False`` keeps the weight alone."""
    check_bool(bias, "bias", who)
    xp = backend.array_module()
    module.register_parameter("weight", Parameter(xp.ones(shape, dtype), dtype) if affine
                              else None)
    module.register_parameter("bias", Parameter(xp.zeros(shape, dtype), dtype)
                              if affine and bias else None)


def _reset_affine(module) -> None:
    """weight 1 and bias 0, where the layer has them."""
    for p, value in ((module.weight, 1), (module.bias, 0)):
        if p is not None:
            p._data.fill(value)
            p._bump()

class _NormBase(Module):
    """What the batch and instance norms share (PyTorch's ``_NormBase``): the arguments, the
    per-channel ``weight`` and ``bias``, the running-statistics buffers, their reset and the
    repr."""

    _takes_tensor = True
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
        xp, dtype = backend.array_module(), backend.float_dtype(dtype, who)
        n = self.num_features
        _affine(self, n, self.affine, bias, dtype, who)
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
        _reset_affine(self)

    def _who(self) -> str:
        return f"{type(self).__name__}({self.num_features})"

    def _dtype(self):
        return _layer_dtype(self.weight, self.bias, self.running_mean, self.running_var)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class _BatchNorm(_NormBase):
    """What BatchNorm1d and BatchNorm2d share: the update of the running statistics and the
    choice between batch and running statistics (PyTorch's rules)."""

    _ndims: tuple[int, ...] = ()  # the input dimensions the layer takes

    def _check_input(self, shape: tuple) -> None:
        if len(shape) not in self._ndims or shape[1] != self.num_features:
            raise ValueError(message(self._who(), "an input of shape "
                                     + self._layout.format(C=self.num_features), "input.shape",
                                     tuple(shape)))

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
        _affine(self, self.normalized_shape, self.elementwise_affine, bias,
                backend.float_dtype(dtype, who), who)

    def reset_parameters(self) -> None:
        """weight 1 and bias 0."""
        _reset_affine(self)

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


# --- group and instance normalisation ---------------------------------------------------------
def _channel_affine(y: Tensor, weight, bias) -> Tensor:
    """y * weight + bias with ``weight`` and ``bias`` (shape (C,), None: left out) along axis 1
    of ``y`` (N, C, *): two broadcast operations, whose gradients autograd sums per channel."""
    shape = (1, y.shape[1]) + (1,) * (y.ndim - 2)
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


def _normalized(x: Tensor, shape: tuple, eps: float) -> Tensor:
    """``x`` reshaped to ``shape``, normalised over its trailing dimensions after the first two
    (LayerNormFunction: the mean of the squared deviations from the mean, each taken after a
    shift by the group's first value, so float32 keeps a small spread on a large mean), and
    reshaped back. An empty input is handed back as a new node (no statistics to take)."""
    if x.numel() == 0:
        return x.reshape(x.shape)
    grouped = x.reshape(shape)
    y = LayerNormFunction.apply(grouped, None, None, normalized_shape=tuple(shape[2:]), eps=eps)
    return y.reshape(x.shape)


def group_norm(input, num_groups: int, weight=None, bias=None,  # noqa: A002 - PyTorch's names
               eps: float = 1e-5) -> Tensor:
    """Normalise each sample of ``input`` (N, C, *) over each of ``num_groups`` groups of C /
    num_groups consecutive channels and every position: (x - mean) / sqrt(var + eps) with the
    biased variance, then ``* weight + bias`` per channel (each of shape (C,), None: left out),
    as PyTorch's ``F.group_norm``. The same arithmetic in training and eval (no running
    statistics). C must be divisible by ``num_groups``."""
    return _group_norm(input, num_groups, weight, bias, eps, "group_norm")


def _group_norm(input, num_groups, weight, bias, eps, who: str) -> Tensor:
    x = F._float_input(input, who)
    g = check_positive_int(num_groups, "num_groups", who)
    eps = check_number(eps, "eps", who, 0.0)
    if x.ndim < 2:
        raise ValueError(message(who, "an input of shape (N, C, *) (at least 2 dimensions)",
                                 "input.shape", tuple(x.shape)))
    n, c = x.shape[0], x.shape[1]
    if c % g:
        raise ValueError(message(who, f"a number of channels divisible by num_groups={g}",
                                 "input.shape[1]", c))
    per_group = (c // g) * math.prod(x.shape[2:])
    if n * per_group == 1:  # PyTorch's check (one sample of one value per group)
        raise ValueError(f"{who}: Expected more than 1 value per channel when training. "
                         f"Received: input.shape={tuple(x.shape)}")
    weight = F._per_feature(weight, "weight", (c,), who, x.dtype)
    bias = F._per_feature(bias, "bias", (c,), who, x.dtype)
    return _channel_affine(_normalized(x, (n, g, per_group), eps), weight, bias)


def _update_running(data, running_mean, running_var, momentum: float) -> None:
    """r <- (1 - momentum) r + momentum s for the running statistics (arrays of shape (C,), each
    None: left alone), s the mean over the batch of each sample's channel mean and unbiased
    variance over the positions of ``data`` (N, C, *): what PyTorch's instance norm does. The
    variance is the mean of the squared deviations, after a shift by each channel's first
    value (float32 keeps a small spread on a large mean)."""
    xp = backend.array_module(data)
    axes = tuple(range(2, data.ndim))
    count = math.prod(data.shape[2:])
    first = data[(slice(None), slice(None)) + (slice(0, 1),) * len(axes)]
    dev = data - first
    shift = dev.mean(axis=axes, keepdims=True)
    dev -= shift
    if running_mean is not None:
        mean = (first + shift).reshape(data.shape[:2])
        running_mean *= 1.0 - momentum
        running_mean += momentum * mean.mean(axis=0)
    if running_var is not None:
        var = xp.multiply(dev, dev, out=dev).sum(axis=axes) / (count - 1)
        running_var *= 1.0 - momentum
        running_var += momentum * var.mean(axis=0)


def instance_norm(input, running_mean=None, running_var=None,  # noqa: A002 - PyTorch's names
                  weight=None, bias=None, use_input_stats: bool = True, momentum: float = 0.1,
                  eps: float = 1e-5) -> Tensor:
    """Normalise each channel of each sample of ``input`` (N, C, *) over its positions:
    (x - mean) / sqrt(var + eps) with the biased variance, then ``* weight + bias`` per channel
    (each of shape (C,), None: left out), as PyTorch's ``F.instance_norm``.

    ``use_input_stats=True`` uses each sample's own statistics (more than one position needed)
    and, when ``running_mean``/``running_var`` (shape (C,)) are given, updates them in place:
    r = (1 - momentum) r + momentum s, s the batch's average of the per-sample means and
    unbiased variances. ``use_input_stats=False`` uses the running statistics instead.
    """
    return _instance_norm(input, running_mean, running_var, weight, bias, use_input_stats,
                          momentum, eps, "instance_norm")


def _instance_norm(input, running_mean, running_var, weight, bias, use_input_stats, momentum,
                   eps, who: str) -> Tensor:
    x = F._float_input(input, who)
    if x.ndim < 2:
        raise ValueError(message(who, "an input of shape (N, C, *)", "input.shape",
                                 tuple(x.shape)))
    use_input_stats = check_bool(use_input_stats, "use_input_stats", who)
    momentum = check_number(momentum, "momentum", who, 0.0, 1.0)
    eps = check_number(eps, "eps", who, 0.0)
    c, dtype = (x.shape[1],), x.dtype
    rm = F._per_feature(running_mean, "running_mean", c, who, dtype, in_place=True)
    rv = F._per_feature(running_var, "running_var", c, who, dtype, in_place=True)
    if not use_input_stats:
        if rm is None or rv is None:
            raise ValueError(message(who, "running_mean and running_var (arrays of shape "
                                     f"{c}) when use_input_stats=False", "running_mean"
                                     if rm is None else "running_var", None))
        return F._batch_norm(x, running_mean, running_var, weight, bias, False, momentum, eps,
                             who)  # the eval arithmetic of batch norm: one node
    if math.prod(x.shape[2:]) == 1:  # PyTorch's check: a variance of one value is 0
        raise ValueError(f"{who}: Expected more than 1 spatial element when training. "
                         f"Received: input.shape={tuple(x.shape)}")
    weight = F._per_feature(weight, "weight", c, who, dtype)
    bias = F._per_feature(bias, "bias", c, who, dtype)
    if (rm is not None or rv is not None) and x.numel():
        _update_running(x._data, rm, rv, momentum)
        for t in (running_mean, running_var):
            if isinstance(t, Tensor):
                t._bump()  # changed in place, as PyTorch's version counter sees it
    return _channel_affine(_normalized(x, tuple(x.shape), eps), weight, bias)


class GroupNorm(Module):
    """Group normalisation (Wu and He): the C channels of each sample fall into ``num_groups``
    groups of consecutive channels, each normalised over its channels and every position,
    y = (x - mean) / sqrt(var + eps) * weight + bias, with the biased variance and a ``weight``
    (ones) and ``bias`` (zeros) per channel when ``affine`` (``bias=False``: no bias). Unlike
    batch norm it does not depend on the batch, so training and eval compute the same.
    ``num_channels`` must be divisible by ``num_groups``; ``num_groups=1`` normalises each
    sample whole (as LayerNorm over (C, *) with per-channel weights), ``num_groups=C`` each
    channel (as InstanceNorm).

    Shape: (N, C, *) -> the same
    """

    _takes_tensor = True

    @takes_device
    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, dtype=None, *, bias: bool = True):
        super().__init__()
        who = "GroupNorm"
        self.num_groups = check_positive_int(num_groups, "num_groups", who)
        self.num_channels = check_positive_int(num_channels, "num_channels", who)
        if self.num_channels % self.num_groups:
            raise ValueError(message(who, f"num_channels divisible by num_groups="
                                     f"{self.num_groups}", "num_channels", num_channels))
        self.eps = check_number(eps, "eps", who, 0.0)
        self.affine = check_bool(affine, "affine", who)
        _affine(self, self.num_channels, self.affine, bias, backend.float_dtype(dtype, who),
                who)

    def reset_parameters(self) -> None:
        """weight 1 and bias 0."""
        _reset_affine(self)

    def forward(self, input: Tensor) -> Tensor:
        who = f"GroupNorm({self.num_groups}, {self.num_channels})"
        if len(input.shape) < 2 or input.shape[1] != self.num_channels:
            raise ValueError(message(who, f"an input of shape (N, {self.num_channels}, *)",
                                     "input.shape", tuple(input.shape)))
        input = _input_of(input, _layer_dtype(self.weight, self.bias), who)
        return _group_norm(input, self.num_groups, self.weight, self.bias, self.eps, who)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, "
                f"affine={self.affine}, bias={self.bias is not None}")


class _InstanceNorm(_NormBase):
    """What InstanceNorm1d and InstanceNorm2d share: PyTorch's choice between each sample's
    statistics (training, or no running statistics kept) and the running ones (eval with
    ``track_running_stats``), and its unbatched input."""

    _no_batch_dim = 0  # the dimensions of an unbatched input; a batch has one more

    @takes_device
    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = False, track_running_stats: bool = False, dtype=None, *,
                 bias: bool = True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, dtype,
                         bias=bias)

    def forward(self, input: Tensor) -> Tensor:
        who, shape = self._who(), tuple(input.shape)
        if len(shape) not in (self._no_batch_dim, self._no_batch_dim + 1):
            raise ValueError(message(who, "an input of shape "
                                     + self._layout.format(C=self.num_features), "input.shape",
                                     shape))
        dim = len(shape) - self._no_batch_dim
        if shape[dim] != self.num_features:
            if self.affine or self.track_running_stats:
                raise ValueError(message(who, f"an input of {self.num_features} channels at "
                                         f"dim={dim} (num_features)", "input.shape", shape))
            warnings.warn(f"{who}: input's size at dim={dim} does not match num_features. You "
                          "can silence this warning by not passing in num_features, which is "
                          "not used because affine=False", UserWarning, stacklevel=2)
        input = _input_of(input, self._dtype(), who)
        unbatched = dim == 0
        x = input.reshape((1,) + shape) if unbatched else input
        momentum = 0.0 if self.momentum is None else self.momentum  # PyTorch's: no update
        out = _instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                             self.training or not self.track_running_stats, momentum,
                             self.eps, who)
        return out.reshape(shape) if unbatched else out


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation of each channel of each sequence over its length:
    y = (x - mean) / sqrt(var + eps) * weight + bias, with the biased variance.

    PyTorch's defaults: no ``weight`` and ``bias`` (``affine=False``) and no running statistics
    (``track_running_stats=False``): training and eval both use each sample's own statistics.
    With ``track_running_stats=True``, training updates ``running_mean`` and ``running_var``
    (the batch's average of the per-sample means and unbiased variances, with ``momentum``;
    None: they stay as they are, as PyTorch's) and eval normalises with them.
    ``num_batches_tracked`` is kept for PyTorch's ``state_dict`` keys, and stays 0 as there.
    Without ``affine`` or running statistics, an input with another number of channels than
    ``num_features`` is normalised with a warning, as PyTorch does.

    Shape: (N, C, L) -> the same, or an unbatched (C, L) -> the same
    """

    _no_batch_dim = 2
    _layout = "(N, {C}, L) or ({C}, L)"


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation of each channel of each image over its pixels (see
    :class:`InstanceNorm1d` for the options, the running statistics and the defaults).

    Shape: (N, C, H, W) -> the same, or an unbatched (C, H, W) -> the same
    """

    _no_batch_dim = 3
    _layout = "(N, {C}, H, W) or ({C}, H, W)"
