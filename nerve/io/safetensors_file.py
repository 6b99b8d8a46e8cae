"""Read and write the safetensors format, checking every field of a file before using it.

A safetensors file is an 8-byte little-endian header length N, N bytes of JSON header, then
the tensor bytes. The header maps each tensor name to ``{"dtype", "shape", "data_offsets"}``
(offsets relative to the tensor bytes) and may hold ``"__metadata__"``, a dict of strings.
Writing uses the ``safetensors`` package; reading checks the header here (length against the
file size before anything is read, JSON, dtypes, shapes, offsets that tile the data exactly)
and then views the bytes with ``numpy.frombuffer``. Nothing in a file is ever executed.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
import safetensors.numpy

from nerve.checks import as_array
from nerve.files import atomic_write_bytes

MAX_HEADER_BYTES = 100 * 1024 * 1024
MAX_DIMS = 64

DTYPES = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"), "U32": np.dtype("<u4"), "U16": np.dtype("<u2"), "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"), "C64": np.dtype("<c8"),
}
NO_NUMPY_DTYPE = {"BF16", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C32"}


class FileFormatError(ValueError):
    """A file is not a valid safetensors file, or not one that nerve wrote as expected."""


def _fail(path, problem: str) -> FileFormatError:
    return FileFormatError(f"{os.fspath(path)}: {problem}")


# --- writing ------------------------------------------------------------------------------
def _storable(name: str, value) -> np.ndarray:
    arr = np.asarray(as_array(value))  # host-side: the file holds NumPy's bytes
    codes = {dt.kind + str(dt.itemsize) for dt in DTYPES.values()}
    if arr.dtype.kind + str(arr.dtype.itemsize) not in codes:
        raise TypeError(f"cannot store {name!r}: dtype {arr.dtype} has no safetensors "
                        f"equivalent (expected one of {sorted(DTYPES)})")
    return arr if arr.flags.c_contiguous else arr.copy(order="C")  # keeps 0-d arrays 0-d


def write_tensors(path: str | os.PathLike, arrays: dict, metadata: dict[str, str]) -> None:
    """Write named arrays and string metadata to ``path`` as safetensors, atomically."""
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"metadata must map str to str, got {key!r}: {type(value).__name__}")
    tensors = {}
    for name, value in arrays.items():
        if not isinstance(name, str) or not name or name == "__metadata__":
            raise ValueError(f"tensor names must be non-empty strings, got {name!r}")
        tensors[name] = _storable(name, value)
    atomic_write_bytes(path, safetensors.numpy.save(tensors, metadata=metadata or None))


# --- reading: the header ------------------------------------------------------------------
def _no_duplicates(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def parse_json(path, text: bytes | str, what: str):
    """Parse JSON from a file, refusing duplicate keys, bad UTF-8 and absurd nesting."""
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as e:  # JSONDecodeError and UnicodeDecodeError too
        raise _fail(path, f"{what} is not valid JSON ({e})") from None


def _read_header_length(path, f, size: int) -> int:
    if size < 8:
        raise _fail(path, f"file is {size} bytes, too short for the 8-byte header length "
                          "(truncated, or not a safetensors file)")
    n = int.from_bytes(f.read(8), "little")
    if n > MAX_HEADER_BYTES:
        raise _fail(path, f"header length {n} bytes exceeds the {MAX_HEADER_BYTES} byte limit "
                          "(not a safetensors file: a pickle or zip file starts this way)")
    if n > size - 8:
        raise _fail(path, f"header length {n} bytes runs beyond the file size {size} bytes "
                          "(truncated, or not a safetensors file)")
    if n < 2:
        raise _fail(path, f"header length {n} bytes is too short for a JSON object")
    return n


def _is_count(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _check_entry(path, name: str, entry) -> tuple[np.dtype, tuple, int, int]:
    where = f"tensor {name!r}"
    if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= entry.keys():
        raise _fail(path, f"{where}: expected a dict with dtype, shape and data_offsets, "
                          f"got {str(entry)[:200]}")
    code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if isinstance(code, str) and code in NO_NUMPY_DTYPE:
        raise _fail(path, f"{where}: dtype {code} has no NumPy equivalent")
    if not isinstance(code, str) or code not in DTYPES:
        raise _fail(path, f"{where}: unknown dtype {str(code)[:50]!r} "
                          f"(expected one of {sorted(DTYPES)})")
    if not isinstance(shape, list) or len(shape) > MAX_DIMS or not all(map(_is_count, shape)):
        raise _fail(path, f"{where}: shape must be a list of at most {MAX_DIMS} non-negative "
                          f"integers, got {str(shape)[:200]}")
    if (not isinstance(offsets, list) or len(offsets) != 2 or not all(map(_is_count, offsets))
            or offsets[0] > offsets[1]):
        raise _fail(path, f"{where}: data_offsets must be [begin, end] with 0 <= begin <= end,"
                          f" got {str(offsets)[:200]}")
    dtype, (begin, end) = DTYPES[code], offsets
    if math.prod(shape) * dtype.itemsize != end - begin:
        raise _fail(path, f"{where}: shape {shape} of {code} needs "
                          f"{math.prod(shape) * dtype.itemsize} bytes, data_offsets {offsets} "
                          f"hold {end - begin}")
    return dtype, tuple(shape), begin, end


def _check_layout(path, spans: list[tuple[int, int, str]], data_bytes: int) -> None:
    """Check that the tensors' byte ranges tile the data exactly: no gap, overlap or overrun."""
    position = 0
    for begin, end, name in sorted(spans):
        if begin != position:
            problem = "overlaps the tensor before it" if begin < position else "leaves a gap"
            raise _fail(path, f"tensor {name!r}: data_offsets [{begin}, {end}] {problem} "
                              f"(expected it to start at byte {position})")
        if end > data_bytes:
            raise _fail(path, f"tensor {name!r}: data_offsets [{begin}, {end}] run beyond the "
                              f"{data_bytes} bytes of tensor data")
        position = end
    if position != data_bytes:
        raise _fail(path, f"tensors hold {position} bytes but the file has {data_bytes} bytes "
                          "of tensor data")


def _check_metadata(path, metadata) -> dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise _fail(path, "__metadata__ must be a dict of strings to strings")
    return metadata


def _parse_header(path, raw: bytes, data_bytes: int) -> tuple[dict, dict[str, str]]:
    header = parse_json(path, raw, "header")
    if not isinstance(header, dict):
        raise _fail(path, f"header must be a JSON object, got {type(header).__name__}")
    metadata = _check_metadata(path, header.pop("__metadata__", None))
    entries = {name: _check_entry(path, name, e) for name, e in header.items()}
    _check_layout(path, [(b, e, name) for name, (_, _, b, e) in entries.items()], data_bytes)
    return entries, metadata


# --- reading: the file --------------------------------------------------------------------
def _view(buffer: bytearray, start: int, dtype: np.dtype, shape: tuple) -> np.ndarray:
    arr = np.frombuffer(buffer, dtype, math.prod(shape), start).reshape(shape)
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    elif start % max(dtype.alignment, 1):
        arr = arr.copy()  # an unaligned view works but makes every later operation slow
    return arr


def read_tensors(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Return the arrays (writable, by name) and the string metadata of a safetensors file."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        n = _read_header_length(path, f, size)
        raw = f.read(n)
        if len(raw) != n:
            raise _fail(path, "file ended inside the header (truncated while being read)")
        entries, metadata = _parse_header(path, raw, size - 8 - n)
        buffer = bytearray(size - 8 - n)
        if f.readinto(buffer) != len(buffer):
            raise _fail(path, "file ended inside the tensor data (truncated while being read)")
    arrays = {name: _view(buffer, b, dt, shape) for name, (dt, shape, b, _) in entries.items()}
    return arrays, metadata


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """Return the string metadata of a safetensors file, checking its header."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        n = _read_header_length(path, f, size)
        return _parse_header(path, f.read(n), size - 8 - n)[1]
