"""Save and load a model: its ``state_dict`` as safetensors, its architecture as JSON.

The file is a plain safetensors file with PyTorch's names and layouts (``0.weight`` of shape
(out_features, in_features)), so ``safetensors.torch.load_file`` reads it into a torch twin;
the header's ``__metadata__`` also holds the architecture and nerve's format version.
"""

from __future__ import annotations

import json
import os

import numpy as np

from nerve.io.architecture import build, describe
from nerve.io.safetensors_file import (
    FileFormatError,
    parse_json,
    read_tensors,
    write_tensors,
)
from nerve.nn.module import Module

FORMAT_VERSION = 1
VERSION_KEY, KIND_KEY = "nerve.format_version", "nerve.kind"
ARCH_KEY, CLASS_KEY = "nerve.architecture", "nerve.model_class"
MODEL_PREFIX = "model/"


def check_model(model, who: str) -> None:
    """Raise TypeError unless ``model`` is a nerve Module."""
    if not isinstance(model, Module):
        raise TypeError(f"{who} expects a nerve Module as model, got {type(model).__name__}")


def model_metadata(model: Module, kind: str) -> dict[str, str]:
    """Return the metadata that every nerve file carries: version, kind and architecture."""
    return {VERSION_KEY: str(FORMAT_VERSION), KIND_KEY: kind,
            ARCH_KEY: json.dumps(describe(model)), CLASS_KEY: type(model).__qualname__}


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


def save(model: Module, path: str | os.PathLike, metadata: dict[str, str] | None = None) -> None:
    """Write the model's weights and architecture to ``path`` (safetensors), atomically."""
    check_model(model, "save")
    # PyTorch's names and layouts: tools that check "format" accept the file
    meta = {"format": "pt", **model_metadata(model, "weights"), **_user_metadata(metadata)}
    write_tensors(path, model.state_dict(), meta)


def check_version(path, metadata: dict[str, str]) -> None:
    """Refuse a file written by a newer nerve format than this one reads."""
    version = metadata.get(VERSION_KEY, str(FORMAT_VERSION))
    if not version.isdigit() or int(version) > FORMAT_VERSION:
        raise FileFormatError(f"{os.fspath(path)}: nerve format version {version[:20]!r}; this "
                              f"nerve reads versions up to {FORMAT_VERSION} (upgrade nerve)")


def model_arrays(path, arrays: dict, metadata: dict[str, str]) -> dict[str, np.ndarray]:
    """Return the model's arrays from a weights file or (without prefix) from a checkpoint."""
    check_version(path, metadata)
    if metadata.get(KIND_KEY) != "checkpoint":
        return arrays
    n = len(MODEL_PREFIX)
    return {k[n:]: v for k, v in arrays.items() if k.startswith(MODEL_PREFIX)}


def load_into(model: Module, path, state: dict, strict: bool = True):
    """Call ``model.load_state_dict``, naming the file in its error."""
    try:
        return model.load_state_dict(state, strict=strict)
    except ValueError as e:
        raise ValueError(f"{os.fspath(path)}: {e}") from None


def load_weights(model: Module, path: str | os.PathLike, strict: bool = True):
    """Load the weights in ``path`` (a weights file or checkpoint) into ``model`` in place.

    Returns ``(missing_keys, unexpected_keys)``; with ``strict=True`` either one raises, and a
    wrong shape always raises, naming every mismatching key and both shapes.
    """
    check_model(model, "load_weights")
    arrays, metadata = read_tensors(path)
    return load_into(model, path, model_arrays(path, arrays, metadata), strict)


def _architecture(path, metadata: dict[str, str]):
    path = os.fspath(path)
    if ARCH_KEY not in metadata:
        raise ValueError(f"{path}: the file holds no nerve architecture (another program wrote "
                         "it); build the model and call nerve.io.load_weights(model, path)")
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
        if stored is not None and stored.dtype.kind == "f" and t.data.dtype != stored.dtype:
            t.data = t.data.astype(stored.dtype)


def load(path: str | os.PathLike) -> Module:
    """Rebuild the model saved in ``path`` from its architecture and load its weights."""
    arrays, metadata = read_tensors(path)
    state = model_arrays(path, arrays, metadata)
    arch = _architecture(path, metadata)
    try:
        model = build(arch)
    except ValueError as e:
        raise FileFormatError(f"{os.fspath(path)}: architecture: {e}") from None
    _match_dtypes(model, state)
    load_into(model, path, state)
    return model
