"""Architecture as JSON: an explicit registry of layer classes and their constructor arguments.

A registered layer is described as ``{"type": "Linear", "args": {"in_features": 784, ...}}``
and a Sequential as ``{"type": "Sequential", "layers": [...]}`` (plus ``"names"`` when its
children are not named 0, 1, ...). Rebuilding looks the type up in the registry and passes
only the argument names registered for it, so a file can name no other class, import nothing
and run no code. A later layer registers itself in one line::

    register_layer(Conv2d, "in_channels", "out_channels", "kernel_size", "stride", "padding",
                   bias=lambda m: m.bias is not None)
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nerve import nn
from nerve.nn.module import Module

MAX_DEPTH = 32
_CHILD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_]{0,99}\Z")
_SCALARS = (bool, int, float, str, type(None))


@dataclass(frozen=True)
class LayerSpec:
    """How to describe and rebuild one layer class."""

    name: str
    cls: type
    attrs: tuple[str, ...]
    computed: dict[str, Callable[[Module], Any]] = field(default_factory=dict)

    @property
    def arg_names(self) -> tuple[str, ...]:
        return self.attrs + tuple(self.computed)


_BY_NAME: dict[str, LayerSpec] = {}
_BY_CLASS: dict[type, LayerSpec] = {}


def _check_arg_names(cls: type, names: tuple[str, ...]) -> None:
    code = cls.__init__.__code__  # not inspect.signature: importing inspect costs ~30 ms
    n_args = code.co_argcount + code.co_kwonlyargcount
    if code.co_flags & 0x08:  # CO_VARKEYWORDS: takes **kwargs, any name may be right
        return
    params = code.co_varnames[1:n_args]
    unknown = [n for n in names if n not in params]
    if unknown:
        raise ValueError(f"register_layer({cls.__name__}): {unknown} are not arguments of "
                         f"{cls.__name__}(), which takes {list(params)}")


def register_layer(cls: type, *attrs: str, name: str | None = None,
                   **computed: Callable[[Module], Any]) -> type:
    """Let save/load describe ``cls`` by the attributes ``attrs`` and the ``computed`` args."""
    if not (isinstance(cls, type) and issubclass(cls, Module)):
        raise TypeError(f"register_layer expects a Module subclass, got {cls!r}")
    name = cls.__name__ if name is None else name
    taken = nn.Sequential if name == "Sequential" else getattr(_BY_NAME.get(name), "cls", cls)
    if taken is not cls:
        raise ValueError(f"register_layer: the type name {name!r} is taken by "
                         f"{taken.__module__}.{taken.__qualname__}; pass another name=")
    _check_arg_names(cls, attrs + tuple(computed))
    spec = LayerSpec(name, cls, tuple(attrs), dict(computed))
    _BY_NAME[name] = _BY_CLASS[cls] = spec
    return cls


def registered_layers() -> dict[str, type]:
    """Return the registered layer classes by their type name."""
    return {"Sequential": nn.Sequential, **{n: s.cls for n, s in _BY_NAME.items()}}


def _jsonable(value, where: str):
    if isinstance(value, np.generic):
        value = value.item()
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


def build(arch: Any, depth: int = 0) -> Module:
    """Build the module that an architecture describes, from registered classes only."""
    if depth > MAX_DEPTH:
        raise ValueError(f"architecture nests deeper than {MAX_DEPTH} levels")
    if not isinstance(arch, dict) or not isinstance(arch.get("type"), str):
        raise ValueError(f"each layer must be an object with a 'type', got {str(arch)[:100]}")
    if arch["type"] == "Sequential":
        return _build_sequential(arch, depth)
    spec = _BY_NAME.get(arch["type"])
    if spec is None:
        raise ValueError(f"unknown layer type {arch['type'][:100]!r}; registered types are "
                         f"{sorted(registered_layers())} (see nerve.io.register_layer)")
    return _build_layer(arch, spec)


def _build_layer(arch: dict, spec: LayerSpec) -> Module:
    name, args = arch["type"], arch.get("args", {})
    if set(arch) - {"type", "args"} or not isinstance(args, dict):
        raise ValueError(f"layer {name}: expected keys 'type' and 'args' (an object), "
                         f"got {str(arch)[:200]}")
    unknown = sorted(set(args) - set(spec.arg_names))
    if unknown:
        raise ValueError(f"layer {name}: unknown arguments {unknown[:10]}; it takes "
                         f"{list(spec.arg_names)}")
    kwargs = {k: _arg_value(v, f"{name}.{k}") for k, v in args.items()}
    try:
        return spec.cls(**kwargs)
    except (TypeError, ValueError, OverflowError, MemoryError) as e:
        raise ValueError(f"layer {name}: cannot build it from {kwargs}: {e}") from None


def _build_sequential(arch: dict, depth: int) -> Module:
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
    children = [build(layer, depth + 1) for layer in layers]
    return nn.Sequential(OrderedDict(zip(names, children)))


register_layer(nn.Linear, "in_features", "out_features", bias=lambda m: m.bias is not None)
register_layer(nn.Flatten, "start_dim", "end_dim")
register_layer(nn.Dropout, "p")
register_layer(nn.Identity)
register_layer(nn.Step, "threshold")
register_layer(nn.Sigmoid)
register_layer(nn.ReLU)
register_layer(nn.Softplus, "beta", "threshold")
register_layer(nn.Tanh)
register_layer(nn.LeakyReLU, "negative_slope")
register_layer(nn.Softmax, "dim")
register_layer(nn.LogSoftmax, "dim")
register_layer(nn.Perceptron, "n_inputs", "lr", "max_epochs")
