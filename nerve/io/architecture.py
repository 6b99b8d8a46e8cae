"""Architecture as JSON: an explicit registry of layer classes and their constructor arguments.

A registered layer is described as ``{"type": "Linear", "args": {"in_features": 784, ...}}``
and a Sequential as ``{"type": "Sequential", "layers": [...]}`` (plus ``"names"`` when its
children are not named 0, 1, ...). Rebuilding looks the type up in the registry and passes
only the argument names registered for it, so a file can name no other class, import nothing
and run no code. A later layer registers itself in one line::

    register_layer(Conv2d, "in_channels", "out_channels", "kernel_size", "stride", "padding",
                   bias=lambda m: m.bias is not None)

A layer may also register ``state_shapes``, a function from its arguments (as the file gives
them) to the shape of each tensor of its ``state_dict``; when every layer of an architecture
has one, ``expected_shapes(arch)`` tells what the model will hold without building it, so that
``nerve.io.load`` compares a file's tensors with it before allocating any weight.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nerve import nn
from nerve.checks import check_positive_int
from nerve.nn import transformer
from nerve.nn.module import Module
from nerve.ops.fused.window import as_tuple

MAX_DEPTH = 32
MAX_LAYERS = 100_000  # a 16-byte {"type": "ReLU"} builds a Module of about a kilobyte
_CHILD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_]{0,99}\Z")
_SCALARS = (bool, int, float, str, type(None))


@dataclass(frozen=True)
class LayerSpec:
    """How to describe and rebuild one layer class."""

    name: str
    cls: type
    attrs: tuple[str, ...]
    computed: dict[str, Callable[[Module], Any]] = field(default_factory=dict)
    state_shapes: Callable[[dict[str, Any]], dict[str, tuple[int, ...]]] | None = None

    @property
    def arg_names(self) -> tuple[str, ...]:
        return self.attrs + tuple(self.computed)


_BY_NAME: dict[str, LayerSpec] = {}
_BY_CLASS: dict[type, LayerSpec] = {}


def _check_arg_names(cls: type, names: tuple[str, ...]) -> None:
    # not inspect.signature: importing inspect costs ~30 ms; a class that takes a layer object
    # (TransformerEncoder) is built from plain arguments by its classmethod _from_architecture
    code = getattr(cls, "_from_architecture", cls.__init__).__code__
    n_args = code.co_argcount + code.co_kwonlyargcount
    if code.co_flags & 0x08:  # CO_VARKEYWORDS: takes **kwargs, any name may be right
        return
    params = code.co_varnames[1:n_args]
    unknown = [n for n in names if n not in params]
    if unknown:
        raise ValueError(f"register_layer({cls.__name__}): {unknown} are not arguments of "
                         f"{cls.__name__}(), which takes {list(params)}")


def register_layer(cls: type, *attrs: str, name: str | None = None,
                   state_shapes: Callable[[dict[str, Any]], dict[str, tuple]] | None = None,
                   **computed: Callable[[Module], Any]) -> type:
    """Let save/load describe ``cls`` by the attributes ``attrs`` and the ``computed`` args.

    ``state_shapes(args)``, if given, returns the shape of each ``state_dict`` tensor of the
    layer that ``args`` (a dict, missing arguments absent) build, raising TypeError or
    ValueError for bad arguments, as the constructor would; ``nerve.io.load`` then checks a
    file's tensors before building the model.
    """
    if not (isinstance(cls, type) and issubclass(cls, Module)):
        raise TypeError(f"register_layer expects a Module subclass, got {cls!r}")
    if state_shapes is not None and not callable(state_shapes):
        raise TypeError(f"register_layer: expected a function for state_shapes. "
                        f"Received: state_shapes={state_shapes!r}")
    name = cls.__name__ if name is None else name
    taken = nn.Sequential if name == "Sequential" else getattr(_BY_NAME.get(name), "cls", cls)
    if taken is not cls:
        raise ValueError(f"register_layer: the type name {name!r} is taken by "
                         f"{taken.__module__}.{taken.__qualname__}; pass another name=")
    _check_arg_names(cls, attrs + tuple(computed))
    spec = LayerSpec(name, cls, tuple(attrs), dict(computed), state_shapes)
    _BY_NAME[name] = _BY_CLASS[cls] = spec
    return cls


def layer_arguments(name: str) -> tuple[str, ...]:
    """The constructor arguments a file (or a spec) may give the registered layer ``name``."""
    return _BY_NAME[name].arg_names


def registered_layers() -> dict[str, type]:
    """Return the registered layer classes by their type name."""
    return {"Sequential": nn.Sequential, **{n: s.cls for n, s in _BY_NAME.items()}}


def _jsonable(value, where: str):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"cannot describe {where}={value!r}: an architecture holds finite "
                         "numbers only (JSON has no NaN or Infinity, and load refuses them); "
                         "give the layer a finite value (1e30 stands in for infinity)")
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, (tuple, list)):
        return [_jsonable(v, where) for v in value]
    raise TypeError(f"{where} is a {type(value).__name__}; layer arguments must be numbers, "
                    "strings, booleans, None or lists of them")


def layer_config(module: Module) -> dict[str, Any]:
    """Return the JSON-able constructor arguments that rebuild a registered layer."""
    spec = _BY_CLASS.get(type(module))
    if spec is None:
        raise TypeError(f"{type(module).__name__} is not a registered layer; call "
                        f"nerve.io.register_layer({type(module).__name__}, ...) first")
    config = {a: getattr(module, a) for a in spec.attrs}
    config.update({k: f(module) for k, f in spec.computed.items()})
    return {k: _jsonable(v, f"{type(module).__name__}.{k}") for k, v in config.items()}


def _valid_child_name(name) -> bool:
    return (isinstance(name, str) and _CHILD_NAME.match(name) is not None
            and not hasattr(nn.Sequential, name) and name != "training")


def describe(model: Module) -> dict | None:
    """Return the architecture of a Sequential of registered layers, or None for other models."""
    if type(model) is nn.Sequential:
        names = [n for n, _ in model.named_children()]
        if len(names) != len(model._modules) or not all(map(_valid_child_name, names)):
            return None
        layers = [describe(m) for _, m in model.named_children()]
        if any(layer is None for layer in layers):
            return None
        arch = {"type": "Sequential", "layers": layers}
        if names != [str(i) for i in range(len(names))]:
            arch["names"] = names
        return arch
    if type(model) in _BY_CLASS:
        return {"type": _BY_CLASS[type(model)].name, "args": layer_config(model)}
    return None


def _arg_value(value, where: str):
    if isinstance(value, list):
        return tuple(_arg_value(v, where) for v in value)
    if isinstance(value, _SCALARS):
        return value
    raise ValueError(f"{where} must be a number, string, boolean, null or list, "
                     f"got {type(value).__name__}")


@dataclass(frozen=True)
class _Layer:
    spec: LayerSpec
    kwargs: dict[str, Any]


@dataclass(frozen=True)
class _Sequential:
    names: list[str]
    children: list


def _plan(arch: Any, depth: int = 0, count: list | None = None):
    """Check an architecture without building anything; return its layers and their args."""
    count = [0] if count is None else count
    if depth > MAX_DEPTH:
        raise ValueError(f"architecture nests deeper than {MAX_DEPTH} levels")
    count[0] += 1
    if count[0] > MAX_LAYERS:
        raise ValueError(f"architecture holds more than {MAX_LAYERS} layers")
    if not isinstance(arch, dict) or not isinstance(arch.get("type"), str):
        raise ValueError(f"each layer must be an object with a 'type', got {str(arch)[:100]}")
    if arch["type"] == "Sequential":
        return _plan_sequential(arch, depth, count)
    spec = _BY_NAME.get(arch["type"])
    if spec is None:
        raise ValueError(f"unknown layer type {arch['type'][:100]!r}; registered types are "
                         f"{sorted(registered_layers())} (see nerve.io.register_layer)")
    return _plan_layer(arch, spec)


def _plan_layer(arch: dict, spec: LayerSpec) -> _Layer:
    name, args = arch["type"], arch.get("args", {})
    if set(arch) - {"type", "args"} or not isinstance(args, dict):
        raise ValueError(f"layer {name}: expected keys 'type' and 'args' (an object), "
                         f"got {str(arch)[:200]}")
    unknown = sorted(set(args) - set(spec.arg_names))
    if unknown:
        raise ValueError(f"layer {name}: unknown arguments {unknown[:10]}; it takes "
                         f"{list(spec.arg_names)}")
    return _Layer(spec, {k: _arg_value(v, f"{name}.{k}") for k, v in args.items()})


def _plan_sequential(arch: dict, depth: int, count: list) -> _Sequential:
    layers = arch.get("layers")
    if set(arch) - {"type", "layers", "names"} or not isinstance(layers, list):
        raise ValueError(f"Sequential: expected keys 'type', 'layers' (a list) and optionally "
                         f"'names', got {str(arch)[:200]}")
    names = arch.get("names", [str(i) for i in range(len(layers))])
    if (not isinstance(names, list) or len(names) != len(layers)
            or not all(map(_valid_child_name, names)) or len(set(names)) != len(names)):
        raise ValueError(f"Sequential: 'names' must be {len(layers)} distinct names of letters, "
                         f"digits and underscores that are not Sequential attributes, got "
                         f"{str(names)[:200]}")
    return _Sequential(names, [_plan(layer, depth + 1, count) for layer in layers])


def build(arch: Any) -> Module:
    """Build the module that an architecture describes, from registered classes only."""
    return _construct(_plan(arch))


def _construct(plan) -> Module:
    if isinstance(plan, _Sequential):
        children = [_construct(child) for child in plan.children]
        return nn.Sequential(OrderedDict(zip(plan.names, children)))
    try:
        return getattr(plan.spec.cls, "_from_architecture", plan.spec.cls)(**plan.kwargs)
    except (TypeError, ValueError, OverflowError, MemoryError) as e:
        raise ValueError(f"layer {plan.spec.name}: cannot build it from {plan.kwargs}: "
                         f"{e}") from None


def expected_shapes(arch: Any) -> dict[str, tuple[int, ...]] | None:
    """Return the shape of each ``state_dict`` tensor of the model that ``arch`` describes,
    by name, without building it; None when a layer registered no ``state_shapes``."""
    shapes: dict[str, tuple[int, ...]] = {}
    stack = [("", _plan(arch))]
    while stack:
        prefix, plan = stack.pop()
        if isinstance(plan, _Sequential):
            stack.extend((f"{prefix}{n}.", c) for n, c in reversed(list(zip(plan.names,
                                                                            plan.children))))
            continue
        if plan.spec.state_shapes is None:
            return None
        try:
            own = plan.spec.state_shapes(dict(plan.kwargs))
        except (TypeError, ValueError, OverflowError) as e:
            raise ValueError(f"layer {plan.spec.name}: cannot build it from {plan.kwargs}: "
                             f"{e}") from None
        shapes.update((prefix + k, tuple(v)) for k, v in own.items())
    return shapes


def no_state(args: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """The ``state_shapes`` of a layer without parameters or buffers."""
    return {}


def _linear_state(args: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    n_in = check_positive_int(args.get("in_features"), "in_features", "Linear")
    n_out = check_positive_int(args.get("out_features"), "out_features", "Linear")
    bias = {"bias": (n_out,)} if args.get("bias", True) else {}
    return {"weight": (n_out, n_in), **bias}


def _perceptron_state(args: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    n_inputs = check_positive_int(args.get("n_inputs"), "n_inputs", "Perceptron")
    return {"weight": (1, n_inputs), "bias": (1,)}


def _embedding_state(args: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    n = check_positive_int(args.get("num_embeddings"), "num_embeddings", "Embedding")
    dim = check_positive_int(args.get("embedding_dim"), "embedding_dim", "Embedding")
    return {"weight": (n, dim)}


register_layer(nn.Embedding, "num_embeddings", "embedding_dim", "padding_idx",
               state_shapes=_embedding_state)
register_layer(nn.Linear, "in_features", "out_features", state_shapes=_linear_state,
               bias=lambda m: m.bias is not None)
register_layer(nn.Flatten, "start_dim", "end_dim", state_shapes=no_state)
register_layer(nn.Unflatten, "dim", "unflattened_size", state_shapes=no_state)
register_layer(nn.Dropout, "p", "inplace", state_shapes=no_state)
register_layer(nn.Identity, state_shapes=no_state)
register_layer(nn.Step, "threshold", state_shapes=no_state)
register_layer(nn.Sigmoid, state_shapes=no_state)
register_layer(nn.ReLU, "inplace", state_shapes=no_state)
register_layer(nn.Softplus, "beta", "threshold", state_shapes=no_state)
register_layer(nn.Tanh, state_shapes=no_state)
register_layer(nn.LeakyReLU, "negative_slope", "inplace", state_shapes=no_state)
register_layer(nn.SiLU, "inplace", state_shapes=no_state)
register_layer(nn.Mish, "inplace", state_shapes=no_state)
register_layer(nn.GELU, "approximate", state_shapes=no_state)
register_layer(nn.Hardtanh, "min_val", "max_val", "inplace", state_shapes=no_state)
register_layer(nn.ReLU6, "inplace", state_shapes=no_state)
register_layer(nn.LogSigmoid, state_shapes=no_state)
register_layer(nn.Softsign, state_shapes=no_state)
register_layer(nn.ELU, "alpha", "inplace", state_shapes=no_state)
register_layer(nn.CELU, "alpha", "inplace", state_shapes=no_state)
register_layer(nn.SELU, "inplace", state_shapes=no_state)
register_layer(nn.Softmax, "dim", state_shapes=no_state)
register_layer(nn.LogSoftmax, "dim", state_shapes=no_state)
register_layer(nn.CosineSimilarity, "dim", "eps", state_shapes=no_state)
register_layer(nn.PairwiseDistance, "p", "eps", "keepdim", state_shapes=no_state)


def _flag(args: dict[str, Any], name: str, who: str) -> bool:
    """A True/False argument of a layer (True when absent), checked as its constructor does."""
    value = args.get(name, True)
    if not isinstance(value, bool):
        raise TypeError(f"{who}: expected True or False. Received: {name}={value!r}")
    return value


def _batch_norm_state(args: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    n = check_positive_int(args.get("num_features"), "num_features", "BatchNorm")
    shapes: dict[str, tuple[int, ...]] = {}
    if _flag(args, "affine", "BatchNorm"):
        shapes["weight"] = (n,)
        if _flag(args, "bias", "BatchNorm"):
            shapes["bias"] = (n,)
    if _flag(args, "track_running_stats", "BatchNorm"):
        shapes.update(running_mean=(n,), running_var=(n,), num_batches_tracked=())
    return shapes


def _layer_norm_state(args: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    shape = nn.functional._normalized_shape_of(args.get("normalized_shape"), "LayerNorm")
    if not _flag(args, "elementwise_affine", "LayerNorm"):
        return {}
    return {"weight": shape, **({"bias": shape} if _flag(args, "bias", "LayerNorm") else {})}


register_layer(nn.BatchNorm1d, "num_features", "eps", "momentum", "affine",
               "track_running_stats", state_shapes=_batch_norm_state,
               bias=lambda m: m.bias is not None or not m.affine)
register_layer(nn.BatchNorm2d, "num_features", "eps", "momentum", "affine",
               "track_running_stats", state_shapes=_batch_norm_state,
               bias=lambda m: m.bias is not None or not m.affine)
register_layer(nn.LayerNorm, "normalized_shape", "eps", "elementwise_affine",
               state_shapes=_layer_norm_state,
               bias=lambda m: m.bias is not None or not m.elementwise_affine)
register_layer(nn.Dropout2d, "p", state_shapes=no_state)
for _layer in (nn.Dropout1d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout):
    register_layer(_layer, "p", "inplace", state_shapes=no_state)
for _layer in (nn.Hardswish, nn.Hardsigmoid):
    register_layer(_layer, "inplace", state_shapes=no_state)
register_layer(nn.Softmin, "dim", state_shapes=no_state)
register_layer(nn.Softmax2d, state_shapes=no_state)
register_layer(nn.GLU, "dim", state_shapes=no_state)
register_layer(nn.Threshold, "threshold", "value", "inplace", state_shapes=no_state)
register_layer(nn.Softshrink, "lambd", state_shapes=no_state)
register_layer(nn.Hardshrink, "lambd", state_shapes=no_state)
register_layer(nn.Tanhshrink, state_shapes=no_state)
register_layer(nn.RReLU, "lower", "upper", "inplace", state_shapes=no_state)
for _layer in (nn.ZeroPad1d, nn.ZeroPad2d, nn.ZeroPad3d, nn.ReflectionPad1d, nn.ReflectionPad2d,
               nn.ReflectionPad3d, nn.ReplicationPad1d, nn.ReplicationPad2d,
               nn.ReplicationPad3d, nn.CircularPad1d, nn.CircularPad2d, nn.CircularPad3d):
    register_layer(_layer, "padding", state_shapes=no_state)
for _layer in (nn.ConstantPad1d, nn.ConstantPad2d, nn.ConstantPad3d):
    register_layer(_layer, "padding", "value", state_shapes=no_state)


def _group_norm_state(args: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    c = check_positive_int(args.get("num_channels"), "num_channels", "GroupNorm")
    g = check_positive_int(args.get("num_groups"), "num_groups", "GroupNorm")
    if c % g:
        raise ValueError(f"GroupNorm: num_channels={c} must be divisible by num_groups={g}")
    if not _flag(args, "affine", "GroupNorm"):
        return {}
    return {"weight": (c,), **({"bias": (c,)} if _flag(args, "bias", "GroupNorm") else {})}


def _instance_norm_state(args: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """As batch norm's, with InstanceNorm's defaults: affine and track_running_stats False."""
    n = check_positive_int(args.get("num_features"), "num_features", "InstanceNorm")
    args = {"affine": False, "track_running_stats": False, **args}
    shapes: dict[str, tuple[int, ...]] = {}
    if _flag(args, "affine", "InstanceNorm"):
        shapes["weight"] = (n,)
        if _flag(args, "bias", "InstanceNorm"):
            shapes["bias"] = (n,)
    if _flag(args, "track_running_stats", "InstanceNorm"):
        shapes.update(running_mean=(n,), running_var=(n,), num_batches_tracked=())
    return shapes


def _prelu_state(args: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    n = check_positive_int(args.get("num_parameters", 1), "num_parameters", "PReLU")
    return {"weight": (n,)}


register_layer(nn.GroupNorm, "num_groups", "num_channels", "eps", "affine",
               state_shapes=_group_norm_state,
               bias=lambda m: m.bias is not None or not m.affine)
for _norm in (nn.InstanceNorm1d, nn.InstanceNorm2d):
    register_layer(_norm, "num_features", "eps", "momentum", "affine", "track_running_stats",
                   state_shapes=_instance_norm_state,
                   bias=lambda m: m.bias is not None or not m.affine)
register_layer(nn.PReLU, "num_parameters", "init", state_shapes=_prelu_state)
register_layer(nn.Perceptron, "n_inputs", "lr", "max_epochs", state_shapes=_perceptron_state)


def _conv_state(nd: int, who: str):
    def shapes(args: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        c_in = check_positive_int(args.get("in_channels"), "in_channels", who)
        c_out = check_positive_int(args.get("out_channels"), "out_channels", who)
        groups = check_positive_int(args.get("groups", 1), "groups", who)
        kernel = as_tuple(args.get("kernel_size"), nd, "kernel_size", who, 1)
        if c_in % groups or c_out % groups:
            raise ValueError(f"{who}: in_channels={c_in} and out_channels={c_out} must be "
                             f"divisible by groups={groups}")
        bias = {"bias": (c_out,)} if args.get("bias", True) else {}
        return {"weight": (c_out, c_in // groups, *kernel), **bias}

    return shapes


_CONV_ARGS = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation",
              "groups", "padding_mode")
register_layer(nn.Conv1d, *_CONV_ARGS, state_shapes=_conv_state(1, "Conv1d"),
               bias=lambda m: m.bias is not None)
register_layer(nn.Conv2d, *_CONV_ARGS, state_shapes=_conv_state(2, "Conv2d"),
               bias=lambda m: m.bias is not None)
for _pool in (nn.MaxPool1d, nn.MaxPool2d):
    register_layer(_pool, "kernel_size", "stride", "padding", "dilation", "ceil_mode",
                   state_shapes=no_state)
register_layer(nn.AvgPool1d, "kernel_size", "stride", "padding", "ceil_mode",
               "count_include_pad", state_shapes=no_state)
register_layer(nn.AvgPool2d, "kernel_size", "stride", "padding", "ceil_mode",
               "count_include_pad", "divisor_override", state_shapes=no_state)
register_layer(nn.AdaptiveAvgPool1d, "output_size", state_shapes=no_state)
register_layer(nn.AdaptiveAvgPool2d, "output_size", state_shapes=no_state)


def _conv_transpose_state(nd: int, who: str):
    conv = _conv_state(nd, who)

    def shapes(args: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        own = conv(args)  # checks the arguments; the weight is (in, out / groups, *kernel)
        groups = args.get("groups", 1)
        own["weight"] = (args["in_channels"], args["out_channels"] // groups,
                         *own["weight"][2:])
        return own

    return shapes


for _nd, _conv_t in ((1, nn.ConvTranspose1d), (2, nn.ConvTranspose2d)):
    register_layer(_conv_t, *_CONV_ARGS, "output_padding",
                   state_shapes=_conv_transpose_state(_nd, _conv_t.__name__),
                   bias=lambda m: m.bias is not None)
for _pool in (nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d):
    register_layer(_pool, "output_size", "return_indices", state_shapes=no_state)
register_layer(nn.Upsample, "size", "scale_factor", "mode", "align_corners",
               "recompute_scale_factor", state_shapes=no_state)
for _up in (nn.UpsamplingNearest2d, nn.UpsamplingBilinear2d):
    register_layer(_up, "size", "scale_factor", state_shapes=no_state)
register_layer(nn.PixelShuffle, "upscale_factor", state_shapes=no_state)
register_layer(nn.PixelUnshuffle, "downscale_factor", state_shapes=no_state)
register_layer(nn.Unfold, "kernel_size", "dilation", "padding", "stride", state_shapes=no_state)
register_layer(nn.Fold, "output_size", "kernel_size", "dilation", "padding", "stride",
               state_shapes=no_state)


def _recurrent_state(gates: int, who: str, cell: bool = False):
    def shapes(args: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        n_in = check_positive_int(args.get("input_size"), "input_size", who)
        hidden = check_positive_int(args.get("hidden_size"), "hidden_size", who)
        bias = args.get("bias", True)
        if cell:
            return {"weight_ih": (gates * hidden, n_in), "weight_hh": (gates * hidden, hidden),
                    **({"bias_ih": (gates * hidden,), "bias_hh": (gates * hidden,)}
                       if bias else {})}
        layers = check_positive_int(args.get("num_layers", 1), "num_layers", who)
        dirs = ("", "_reverse") if args.get("bidirectional", False) else ("",)
        out = {}
        for k in range(layers):
            width = n_in if k == 0 else hidden * len(dirs)
            for s in dirs:
                out[f"weight_ih_l{k}{s}"] = (gates * hidden, width)
                out[f"weight_hh_l{k}{s}"] = (gates * hidden, hidden)
                if bias:
                    out[f"bias_ih_l{k}{s}"] = out[f"bias_hh_l{k}{s}"] = (gates * hidden,)
        return out

    return shapes


_RNN_ARGS = ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
             "bidirectional")
register_layer(nn.RNN, *_RNN_ARGS, "nonlinearity", state_shapes=_recurrent_state(1, "RNN"))
register_layer(nn.LSTM, *_RNN_ARGS, state_shapes=_recurrent_state(4, "LSTM"))
register_layer(nn.GRU, *_RNN_ARGS, state_shapes=_recurrent_state(3, "GRU"))
register_layer(nn.RNNCell, "input_size", "hidden_size", "bias", "nonlinearity",
               state_shapes=_recurrent_state(1, "RNNCell", True))
register_layer(nn.LSTMCell, "input_size", "hidden_size", "bias",
               state_shapes=_recurrent_state(4, "LSTMCell", True))
register_layer(nn.GRUCell, "input_size", "hidden_size", "bias",
               state_shapes=_recurrent_state(3, "GRUCell", True))
register_layer(nn.LastTimeStep, "batch_first", state_shapes=no_state)


def _transformer_args(*names: str) -> dict[str, Callable[[Module], Any]]:
    """Computed arguments read from a module's ``_architecture()`` (which raises TypeError for
    what a file cannot name: a callable activation, a custom norm)."""
    return {n: (lambda m, n=n: m._architecture()[n]) for n in names}


_MHA_ARGS = ("embed_dim", "num_heads", "dropout", "add_zero_attn", "kdim", "vdim", "batch_first")
_LAYER_ARGS = ("d_model", "nhead", "dim_feedforward", "dropout", "activation", "layer_norm_eps",
               "batch_first", "norm_first", "bias")
register_layer(nn.MultiheadAttention, *_MHA_ARGS, bias=lambda m: m.in_proj_bias is not None,
               add_bias_kv=lambda m: m.bias_k is not None,
               state_shapes=transformer.multihead_attention_state)
register_layer(nn.TransformerEncoderLayer, state_shapes=transformer.encoder_layer_state,
               **_transformer_args(*_LAYER_ARGS))
register_layer(nn.TransformerDecoderLayer, state_shapes=transformer.decoder_layer_state,
               **_transformer_args(*_LAYER_ARGS))
register_layer(nn.TransformerEncoder, state_shapes=transformer.encoder_state,
               **_transformer_args("num_layers", *_LAYER_ARGS, "norm", "norm_eps", "norm_bias",
                                   "enable_nested_tensor", "mask_check"))
