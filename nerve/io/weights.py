"""Save and load a model (its ``state_dict`` as safetensors, its architecture as JSON) or a
``state_dict`` alone.

The file is a plain safetensors file with PyTorch's names and layouts (``0.weight`` of shape
(out_features, in_features)), so ``safetensors.torch.load_file`` reads it into a torch twin;
the header's ``__metadata__`` also holds nerve's format version, what the file holds
(``nerve.kind``: "weights", "checkpoint" or "state_dict") and, for a model, its architecture.
Every load checks the file's tensors against the model (names, shapes, dtypes that cast
safely) before it writes anything or, for ``load``, allocates any weight.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np

from nerve import backend
from nerve.autograd import Tensor
from nerve.checks import ShortRepr, as_array, message
from nerve.creation import from_numpy
from nerve.io.architecture import build, describe, expected_shapes
from nerve.io.safetensors_file import (
    FileFormatError,
    parse_json,
    read_header,
    read_tensors,
    write_tensors,
)
from nerve.io.state import flatten_state, unflatten_state
from nerve.nn.module import Module

FORMAT_VERSION = 1
VERSION_KEY, KIND_KEY = "nerve.format_version", "nerve.kind"
ARCH_KEY, CLASS_KEY = "nerve.architecture", "nerve.model_class"
EVAL_KEY = "nerve.eval_modules"
KINDS = ("weights", "checkpoint", "state_dict", "object")
OBJECT_KEY = "nerve.object"  # the JSON skeleton of a nested object (see nerve.io.state)
MODEL_PREFIX = "model/"


def check_model(model, who: str) -> None:
    """Raise TypeError unless ``model`` is a nerve Module."""
    if not isinstance(model, Module):
        raise TypeError(message(who, "a nerve Module", "model", ShortRepr(model)))


def model_metadata(model: Module, kind: str) -> dict[str, str]:
    """Return the metadata that every nerve file carries: version, kind and architecture, and
    which of the model's modules are in eval mode (``load`` gives them back in it, as
    ``torch.load`` of a whole model does)."""
    evaluating = [name for name, m in model.named_modules() if not m.training]
    return {VERSION_KEY: str(FORMAT_VERSION), KIND_KEY: kind,
            ARCH_KEY: json.dumps(describe(model)), CLASS_KEY: type(model).__qualname__,
            EVAL_KEY: json.dumps(evaluating)}


def _set_modes(path, model: Module, metadata: dict[str, str]) -> None:
    """Put the modules that were in eval mode when saved back in it (all others train)."""
    if EVAL_KEY not in metadata:  # an older file: the mode was not recorded
        return
    names = parse_json(path, metadata[EVAL_KEY], EVAL_KEY)
    modules = dict(model.named_modules())
    if not isinstance(names, list) or not all(isinstance(n, str) and n in modules
                                              for n in names):
        raise FileFormatError(f"{path}: {EVAL_KEY}: expected names of the model's modules. "
                              f"Received: {str(names)[:200]}")
    for name in names:
        modules[name].training = False


def _user_metadata(metadata) -> dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise TypeError(f"metadata must be a dict of str to str, got {metadata!r}")
    reserved = [k for k in metadata if k.startswith("nerve.")]
    if reserved:
        raise ValueError(f"metadata keys starting with 'nerve.' are nerve's own, got {reserved}")
    return dict(metadata)


def _state_arrays(state: Mapping) -> dict:
    """Return a state_dict's arrays by name; raise TypeError for anything but tensors."""
    arrays = {}
    for name, value in state.items():
        if not isinstance(name, str):
            raise TypeError(message("save", "str names in a state_dict", "name", name))
        if not (isinstance(value, Tensor) or backend.is_array(value)
                or hasattr(value, "__array__")):
            raise TypeError(message("save", "a Tensor or an array for each name of a state_dict "
                                    "(an optimizer's state goes in nerve.io.save_checkpoint)",
                                    f"obj[{name!r}]", ShortRepr(value)))
        arrays[name] = (as_array(value) if isinstance(value, Tensor) or backend.is_array(value)
                        else np.asarray(value))
    return arrays


def _is_tensor_like(value) -> bool:
    return isinstance(value, Tensor) or backend.is_array(value)


def _object_parts(obj) -> tuple[dict, str]:
    """The arrays and the JSON skeleton (as text) of a nested object of dicts, lists, numbers,
    strings and tensors (a training checkpoint as PyTorch's tutorials save it)."""
    try:
        arrays, skeleton = flatten_state(obj)
        return arrays, json.dumps(skeleton, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise TypeError(message("save", "a Module, a state_dict, or dicts and lists of "
                                "tensors, numbers and strings", "obj", ShortRepr(obj))
                        + f" ({e})") from None


def save(obj: Module | Mapping, path: str | os.PathLike,
         metadata: dict[str, str] | None = None) -> None:
    """Write a model (weights and architecture) or a ``state_dict`` (a dict of name -> Tensor)
    to ``path`` as safetensors, atomically, whatever the file's name (``model.pt`` too)."""
    user = _user_metadata(metadata)
    if isinstance(obj, Module):
        # PyTorch's names and layouts: tools that check "format" accept the file
        meta, arrays = model_metadata(obj, "weights"), obj.state_dict()
    elif isinstance(obj, Mapping) and all(_is_tensor_like(v) for v in obj.values()):
        meta = {VERSION_KEY: str(FORMAT_VERSION), KIND_KEY: "state_dict"}
        arrays = _state_arrays(obj)
    elif isinstance(obj, (Mapping, list, tuple)):  # {"epoch": 5, "model_state_dict": ...}
        arrays, skeleton = _object_parts(obj)
        meta = {VERSION_KEY: str(FORMAT_VERSION), KIND_KEY: "object", OBJECT_KEY: skeleton}
    else:
        raise TypeError(message("save", "a nerve Module or a state_dict (a dict of name -> "
                                "Tensor)", "obj", ShortRepr(obj)))
    write_tensors(path, arrays, {"format": "pt", **meta, **user})


def file_kind(path, metadata: dict[str, str]) -> str | None:
    """Return what a file holds ("weights", "checkpoint", "state_dict"; None when another
    program wrote it), refusing a newer format version or an unknown kind."""
    version = metadata.get(VERSION_KEY, str(FORMAT_VERSION))
    if not version.isdigit() or int(version) > FORMAT_VERSION:
        raise FileFormatError(f"{os.fspath(path)}: nerve format version {version[:20]!r}; this "
                              f"nerve reads versions up to {FORMAT_VERSION} (upgrade nerve)")
    kind = metadata.get(KIND_KEY)
    if kind is not None and kind not in KINDS:
        raise FileFormatError(f"{os.fspath(path)}: expected {KIND_KEY} to be one of {KINDS} "
                              f"(upgrade nerve if a newer one wrote the file). Received: "
                              f"{KIND_KEY}={kind[:50]!r}")
    return kind


def model_part(tensors: dict, metadata: dict[str, str]) -> dict:
    """Return the model's entries (arrays or header entries) of a file: all of them, or those
    named ``model/...`` (without the prefix) in a checkpoint."""
    if metadata.get(KIND_KEY) != "checkpoint":
        return tensors
    n = len(MODEL_PREFIX)
    return {k[n:]: v for k, v in tensors.items() if k.startswith(MODEL_PREFIX)}


def model_arrays(path, arrays: dict, metadata: dict[str, str]) -> dict[str, np.ndarray]:
    """Return the model's arrays from a weights file or (without prefix) from a checkpoint."""
    file_kind(path, metadata)
    return model_part(arrays, metadata)


def layout(model: Module) -> dict[str, tuple[tuple, np.dtype]]:
    """Return the shape and dtype of each tensor of the model's state_dict, by name."""
    arrays = {k: as_array(v) for k, v in model.state_dict().items()}
    return {k: (a.shape, a.dtype) for k, a in arrays.items()}


def check_fits(path, who: str, target: dict, stored: dict, strict: bool = True,
               error: type = ValueError, dtype_error: type = TypeError) -> None:
    """Raise, before anything is written, unless the stored tensors (arrays or header
    entries, by name) fit ``target`` (name -> (shape, dtype or None)): the same names (with
    ``strict``), the same shapes, and dtypes that cast safely (within a kind or up it)."""
    missing = [k for k in target if k not in stored]
    unexpected = [k for k in stored if k not in target]
    wrong = [f"{k}: expected shape {tuple(shape)}, received {tuple(stored[k].shape)}"
             for k, (shape, _) in target.items()
             if k in stored and tuple(stored[k].shape) != tuple(shape)]
    problems = [f"missing keys: {_listed(missing)}"] if strict and missing else []
    problems += [f"unexpected keys: {_listed(unexpected)}"] if strict and unexpected else []
    problems += ["wrong shapes: " + "; ".join(_listed(wrong))] if wrong else []
    if problems:
        raise error(f"{os.fspath(path)}: {who}: " + " | ".join(problems))
    unsafe = [f"{k}.dtype={stored[k].dtype.name!r} (the model's: {dtype.name})"
              for k, (_, dtype) in target.items()
              if k in stored and dtype is not None and not backend.can_cast(stored[k].dtype, dtype)]
    if unsafe:
        raise dtype_error(f"{os.fspath(path)}: {who}: expected dtypes that cast safely into the "
                          "model's (within a kind or up it: int into float, never complex into "
                          "float or float into int). Received: " + ", ".join(_listed(unsafe)))


def _listed(items: list, limit: int = 20):
    """Return ``items``, or its first ``limit`` and a count of the rest (for messages)."""
    return items if len(items) <= limit else [*items[:limit], f"... {len(items) - limit} more"]


def load_weights(model: Module, path: str | os.PathLike, strict: bool = True):
    """Load the weights in ``path`` (a weights file, state_dict or checkpoint) into ``model``.

    Returns ``(missing_keys, unexpected_keys)``; with ``strict=True`` either one raises, and a
    wrong shape always raises (ValueError), as does a dtype that does not cast safely into the
    model's (TypeError: complex into float, float into int); nothing is written then.
    """
    check_model(model, "load_weights")
    arrays, metadata = read_tensors(path)
    state = model_arrays(path, arrays, metadata)
    check_fits(path, f"load_weights into {type(model).__name__}", layout(model), state, strict)
    return model.load_state_dict(state, strict=strict)


def _architecture(path, metadata: dict[str, str]):
    path = os.fspath(path)
    if ARCH_KEY not in metadata:
        raise ValueError(f"{path}: the file holds no nerve architecture; build the model and "
                         "call nerve.io.load_weights(model, path)")
    arch = parse_json(path, metadata[ARCH_KEY], "the architecture")
    if arch is None:
        cls = metadata.get(CLASS_KEY, "model")[:100]
        raise ValueError(f"{path}: the file holds weights only, since the saved {cls} is not a "
                         "Sequential of registered layers; build the model and call "
                         "nerve.io.load_weights(model, path)")
    return arch


def _match_dtypes(model: Module, state: dict) -> None:
    tensors = [*model.named_parameters(), *model.named_buffers()]
    for name, t in tensors:
        stored = state.get(name)
        if stored is not None and stored.dtype.kind == "f" and t._data.dtype != stored.dtype:
            t._data = t._data.astype(stored.dtype)


def _state_dict(path, dev) -> OrderedDict:
    arrays, _ = read_tensors(path)
    return OrderedDict((name, _tensors_in(arr, dev)) for name, arr in arrays.items())


def _object(path, metadata: dict[str, str], dev):
    """The nested object that ``save`` wrote, its arrays as Tensors."""
    arrays, _ = read_tensors(path)
    skeleton = parse_json(path, metadata.get(OBJECT_KEY, "null"), "the object record")
    try:
        obj = unflatten_state(arrays, skeleton)
    except (ValueError, RecursionError) as e:
        raise FileFormatError(f"{os.fspath(path)}: the object record: {e}") from None
    return _tensors_in(obj, dev)


def _tensors_in(obj, dev):
    """The arrays in ``obj`` as Tensors on ``dev`` (None: the CPU, without a copy)."""
    if backend.is_array(obj):
        return from_numpy(obj if dev is None else backend.to_device(obj, dev))
    if isinstance(obj, dict):
        return type(obj)((k, _tensors_in(v, dev)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_tensors_in(v, dev) for v in obj)
    return obj


def _where(map_location, device, who: str):
    """The device that ``load``'s ``map_location`` (a device, its name, or PyTorch's dict or
    callable, which nerve takes as the CPU) or ``device`` asks for (checked); None: the CPU."""
    if device is not None and map_location is not None:
        raise TypeError(f"{who}: give map_location or device, not both. Received: "
                        f"map_location={map_location!r}, device={device!r}")
    spec = device if device is not None else map_location
    if spec is None or callable(spec) or isinstance(spec, dict):
        return None
    dev = backend.check_device(spec, who)
    return None if dev.type == "cpu" else dev


def load(path: str | os.PathLike, map_location=None, weights_only: bool = True, *,
         device=None, **pickle_load_args) -> Module | OrderedDict:
    """Return what ``save`` wrote to ``path``: the model, rebuilt from its architecture with
    its weights, or the state_dict (an OrderedDict of name -> Tensor). A file that another
    program wrote (``safetensors.torch.save_file``) gives its tensors as a state_dict.

    ``map_location`` (or ``device=``): the device to put the weights on (``"cpu"``, the
    default, or ``"cuda"``); PyTorch's dict and callable forms are taken as the CPU.
    ``weights_only`` is PyTorch's: nerve always loads weights only and never pickles.

    The tensors' names and shapes in the header are checked against the architecture before
    any layer is built, so a small file cannot ask for large weights it does not hold.
    """
    if pickle_load_args:
        raise TypeError(f"load: unexpected keyword arguments {sorted(pickle_load_args)} (nerve "
                        "never unpickles)")
    dev = _where(map_location, device, "load")
    path = os.fspath(path)
    header, metadata = read_header(path)
    kind = file_kind(path, metadata)
    if kind == "object":
        return _object(path, metadata, dev)
    if kind == "state_dict" or (kind is None and ARCH_KEY not in metadata):
        return _state_dict(path, dev)
    arch = _architecture(path, metadata)
    try:
        shapes = expected_shapes(arch)
    except ValueError as e:
        raise FileFormatError(f"{path}: architecture: {e}") from None
    who = "load: the tensors do not fit the file's architecture"
    if shapes is not None:
        target = {name: (shape, None) for name, shape in shapes.items()}
        check_fits(path, who, target, model_part(header, metadata), error=FileFormatError)
    try:
        model = build(arch)
    except ValueError as e:
        raise FileFormatError(f"{path}: architecture: {e}") from None
    arrays, metadata = read_tensors(path)
    state = model_arrays(path, arrays, metadata)
    check_fits(path, who, layout(model), state, error=FileFormatError,
               dtype_error=FileFormatError)
    _match_dtypes(model, state)
    model.load_state_dict(state)
    _set_modes(path, model, metadata)
    return model if dev is None else model.to(dev)
