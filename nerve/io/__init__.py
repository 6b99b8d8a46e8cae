"""Weights in the safetensors format, architecture as JSON, checkpoints; all files are written
atomically (``nerve.files``) with a checksum of every tensor, nothing is pickled, and loading
never runs code."""

from nerve.files import atomic_write_bytes
from nerve.io.architecture import (
    build,
    describe,
    expected_shapes,
    layer_config,
    register_layer,
    registered_layers,
)
from nerve.io.checkpoint import load_checkpoint, save_checkpoint
from nerve.io.safetensors_file import (
    FileFormatError,
    read_header,
    read_metadata,
    read_tensors,
    write_tensors,
)
from nerve.io.state import flatten_state, unflatten_state
from nerve.io.weights import load, load_weights, save

__all__ = [
    "save", "load", "load_weights", "save_checkpoint", "load_checkpoint", "atomic_write_bytes",
    "FileFormatError", "register_layer", "registered_layers", "layer_config", "describe", "build",
    "expected_shapes", "read_header", "read_metadata", "read_tensors", "write_tensors",
    "flatten_state", "unflatten_state",
]
