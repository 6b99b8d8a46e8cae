"""Read and write the safetensors format, checking every field of a file before using it.

A safetensors file is an 8-byte little-endian header length N, N bytes of JSON header, then
the tensor bytes. The header maps each tensor name to ``{"dtype", "shape", "data_offsets"}``
(offsets relative to the tensor bytes) and may hold ``"__metadata__"``, a dict of strings.
Writing uses the ``safetensors`` package; reading checks the header here (length against the
file size before anything is read, JSON, dtypes, shapes, offsets that tile the data exactly)
and then views the bytes with ``numpy.frombuffer``. Nothing in a file is ever executed.

Every file nerve writes carries ``"nerve.crc32"`` in its metadata: a JSON object giving, for
each tensor, the CRC-32 (8 hex digits) of the text ``"<dtype> <shape>"`` (``"F32 [8, 4]"``)
followed by the tensor's bytes, so a flipped byte in the data, or in a tensor's dtype or
shape, is refused on reading; ``"nerve.crc32_metadata"`` is the CRC-32 of every other metadata
entry (the architecture, a checkpoint's step counts and learning rates), so a flipped bit there
is refused too. CRC-32 (zlib) rather than SHA-256: it catches every burst of up
to 32 flipped bits, runs about 1.6 times as fast, and a checksum stored in the same file can
only ever guard against damage, never against someone who rewrites the file on purpose. A
file without the key (written by an older nerve or another program) is read as before.
"""

from __future__ import annotations

import json
import math
import os
import zlib
from typing import NamedTuple

import numpy as np
import safetensors.numpy

from nerve import backend
from nerve.checks import as_array
from nerve.files import atomic_write_bytes

MAX_HEADER_BYTES = 100 * 1024 * 1024
MAX_DIMS = 64
MAX_ARRAY_BYTES = int(np.iinfo(np.intp).max)  # NumPy's limit on dims x itemsize, zeros left out
CHECKSUM_KEY = "nerve.crc32"
METADATA_CHECKSUM_KEY = "nerve.crc32_metadata"

DTYPES = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"), "U32": np.dtype("<u4"), "U16": np.dtype("<u2"), "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"), "C64": np.dtype("<c8"),
}
CODES = {(dt.kind, dt.itemsize): code for code, dt in DTYPES.items()}
NO_NUMPY_DTYPE = {"BF16", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C32"}


class FileFormatError(ValueError):
    """A file is not a valid safetensors file, or not one that nerve wrote as expected."""


class TensorInfo(NamedTuple):
    """One tensor's header entry, checked: its dtype and shape and where its bytes lie."""

    code: str
    dtype: np.dtype
    shape: tuple[int, ...]
    begin: int
    end: int


def _fail(path, problem: str) -> FileFormatError:
    return FileFormatError(f"{os.fspath(path)}: {problem}")


# --- writing ------------------------------------------------------------------------------
def _storable(name: str, value) -> np.ndarray:
    arr = np.asarray(backend.to_host(as_array(value)))  # host-side: the file holds NumPy's
    # bytes (a GPU's array is copied to host memory first)
    if (arr.dtype.kind, arr.dtype.itemsize) not in CODES:
        raise TypeError(f"cannot store {name!r}: dtype {arr.dtype} has no safetensors "
                        f"equivalent (expected one of {sorted(DTYPES)})")
    arr = arr.astype(arr.dtype.newbyteorder("<"), copy=False)  # the bytes the file will hold
    return arr if arr.flags.c_contiguous else arr.copy(order="C")  # keeps 0-d arrays 0-d


def crc32(code: str, shape, data) -> str:
    """Return the CRC-32 of ``"<code> <shape>"`` followed by a tensor's bytes, as 8 hex digits."""
    start = zlib.crc32(f"{code} {list(shape)}".encode())
    return f"{zlib.crc32(data, start):08x}"


def write_tensors(path: str | os.PathLike, arrays: dict, metadata: dict[str, str]) -> None:
    """Write named arrays and string metadata to ``path`` as safetensors, atomically.

    The metadata gains ``"nerve.crc32"``, the checksum of every tensor, computed here (one
    given in ``metadata``, as after ``read_tensors``, is replaced).
    """
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"metadata must map str to str, got {key!r}: {type(value).__name__}")
    tensors = {}
    for name, value in arrays.items():
        if not isinstance(name, str) or not name or name == "__metadata__":
            raise ValueError(f"tensor names must be non-empty strings, got {name!r}")
        tensors[name] = _storable(name, value)
    sums = {name: crc32(CODES[a.dtype.kind, a.dtype.itemsize], a.shape, a)
            for name, a in tensors.items()}
    metadata = {**metadata, CHECKSUM_KEY: json.dumps(sums, separators=(",", ":"))}
    metadata[METADATA_CHECKSUM_KEY] = metadata_crc32(metadata)
    atomic_write_bytes(path, safetensors.numpy.save(tensors, metadata=metadata))


# --- reading: the header ------------------------------------------------------------------
def _no_duplicates(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


class _NonFinite(str):
    """Where a file's JSON had NaN, Infinity or a number too large for a float."""


def parse_json(path, text: bytes | str, what: str, finite: bool = True):
    """Parse JSON from a file, refusing duplicate keys, bad UTF-8 and absurd nesting, and,
    with ``finite``, NaN, Infinity and numbers that overflow a float (Python's json takes
    them, strict JSON has none); the error names the key that holds one."""
    found: list[str] = []

    def non_finite(text: str) -> _NonFinite:
        found.append(text)
        return _NonFinite(text)

    def real(text: str):
        value = float(text)
        return value if math.isfinite(value) else non_finite(text)

    hooks = {"parse_constant": non_finite, "parse_float": real} if finite else {}
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, **hooks)
    except (ValueError, RecursionError) as e:  # JSONDecodeError and UnicodeDecodeError too
        raise _fail(path, f"{what} is not valid JSON ({e})") from None
    if found:
        raise _fail(path, f"{what}: expected finite numbers (JSON has no NaN or Infinity). "
                          f"Received: {_where_non_finite(value)}={found[0]}")
    return value


def _where_non_finite(value) -> str:
    """Return the path of the first NaN or Infinity in parsed JSON, as ``layers[0].args.p``."""
    stack = [("", value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, _NonFinite):
            return where or "value"
        if isinstance(item, dict):
            stack.extend((f"{where}.{k}" if where else k, v) for k, v in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend((f"{where}[{i}]", v) for i, v in reversed(list(enumerate(item))))
    return "value"


def _pickle_message(what: str) -> str:
    return (f"this is {what}, not a safetensors file. nerve never unpickles: loading a pickle "
            "can run any code. Convert it once in PyTorch: from safetensors.torch import "
            'save_file; save_file(model.state_dict(), "model.safetensors"); then, in nerve: '
            'model.load_state_dict(nerve.load("model.safetensors"))')


def _foreign_format(f) -> str | None:
    """Say what a file that is not safetensors is, when its first bytes tell."""
    f.seek(0)
    head = f.read(4)
    if head == b"PK\x03\x04":
        import zipfile  # imported here: only a file that is not safetensors needs it

        try:  # the zip's table of contents only: nothing in it is unpickled or run
            names = zipfile.ZipFile(f).namelist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            names = []
        if any(name == "data.pkl" or name.endswith("/data.pkl") for name in names):
            return _pickle_message("a PyTorch pickle (a zip file written by torch.save)")
        return "this is a zip file, not a safetensors file"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return _pickle_message("a pickle (PyTorch's torch.save wrote these before version 1.6)")
    return None


def _read_header_length(path, f, size: int) -> int:
    if size < 8:
        raise _fail(path, f"file is {size} bytes, too short for the 8-byte header length "
                          "(truncated, or not a safetensors file)")
    n = int.from_bytes(f.read(8), "little")
    if n > min(MAX_HEADER_BYTES, size - 8) and (foreign := _foreign_format(f)) is not None:
        raise _fail(path, foreign)
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


def _check_entry(path, name: str, entry) -> TensorInfo:
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
    if math.prod(d for d in shape if d) * dtype.itemsize > MAX_ARRAY_BYTES:  # e.g. [0, 2**63]
        raise _fail(path, f"{where}: shape {str(shape)[:200]} of {code} is too large for an "
                          f"array: its non-zero dimensions times {dtype.itemsize} bytes exceed "
                          f"{MAX_ARRAY_BYTES}")
    return TensorInfo(code, dtype, tuple(shape), begin, end)


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
    if METADATA_CHECKSUM_KEY in metadata and \
            metadata[METADATA_CHECKSUM_KEY] != metadata_crc32(metadata):
        raise _fail(path, f"the metadata (architecture, training state) does not match its "
                          f"checksum ({METADATA_CHECKSUM_KEY}): it changed after nerve wrote "
                          "it (a damaged copy or disk); restore the file from a good copy")
    return metadata


def metadata_crc32(metadata: dict[str, str]) -> str:
    """The CRC-32 of every metadata entry but its own, as 8 hex digits: the architecture,
    the training state of a checkpoint and the tensors' checksums, all in one."""
    body = {k: v for k, v in metadata.items() if k != METADATA_CHECKSUM_KEY}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return f"{zlib.crc32(text.encode()):08x}"


def _parse_header(path, raw: bytes, data_bytes: int) -> tuple[dict, dict[str, str]]:
    header = parse_json(path, raw, "header")
    if not isinstance(header, dict):
        raise _fail(path, f"header must be a JSON object, got {type(header).__name__}")
    metadata = _check_metadata(path, header.pop("__metadata__", None))
    entries = {name: _check_entry(path, name, e) for name, e in header.items()}
    _check_layout(path, [(t.begin, t.end, name) for name, t in entries.items()], data_bytes)
    return entries, metadata


def _verify_checksums(path, entries: dict[str, TensorInfo], metadata: dict[str, str],
                      data: memoryview) -> list[str]:
    """Refuse a tensor whose bytes, dtype or shape differ from what nerve wrote; return the
    names in the order they were written (the header's order when there is no record)."""
    if CHECKSUM_KEY not in metadata:  # an older nerve or another program wrote the file
        return list(entries)
    sums = parse_json(path, metadata[CHECKSUM_KEY], CHECKSUM_KEY)
    if (not isinstance(sums, dict) or set(sums) != set(entries)
            or not all(isinstance(v, str) for v in sums.values())):
        names = sorted(sums)[:20] if isinstance(sums, dict) else str(sums)[:100]
        raise _fail(path, f"{CHECKSUM_KEY}: expected a checksum for each tensor of the file "
                          f"{sorted(entries)[:20]}. Received: checksums for {names}")
    for name, t in entries.items():
        if crc32(t.code, t.shape, data[t.begin:t.end]) != sums[name]:
            raise _fail(path, f"tensor {name!r} does not match its checksum ({CHECKSUM_KEY}): "
                              "its bytes, dtype or shape changed after nerve wrote it (a damaged "
                              "copy or disk); restore the file from a good copy")
    return list(sums)


# --- reading: the file --------------------------------------------------------------------
def _view(buffer: bytearray, t: TensorInfo) -> np.ndarray:
    dtype, shape, start = t.dtype, t.shape, t.begin
    arr = np.frombuffer(buffer, dtype, math.prod(shape), start).reshape(shape)
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    elif start % max(dtype.alignment, 1):
        arr = arr.copy()  # an unaligned view works but makes every later operation slow
    return arr


def _open_header(path, f) -> tuple[dict[str, TensorInfo], dict[str, str], int]:
    """Read and check the header of the open file ``f``; return it and the data's size."""
    size = os.fstat(f.fileno()).st_size
    n = _read_header_length(path, f, size)
    raw = f.read(n)
    if len(raw) != n:
        raise _fail(path, "file ended inside the header (truncated while being read)")
    return (*_parse_header(path, raw, size - 8 - n), size - 8 - n)


def read_header(path: str | os.PathLike) -> tuple[dict[str, TensorInfo], dict[str, str]]:
    """Return the checked header of a safetensors file, reading no tensor data: each tensor's
    ``TensorInfo`` (code, dtype, shape, begin, end) by name, and the string metadata."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        entries, metadata, _ = _open_header(path, f)
    return entries, metadata


def read_tensors(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Return the arrays (writable, by name, in the order they were written) and the string
    metadata of a safetensors file, after checking each tensor against its checksum when nerve
    wrote one."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        entries, metadata, data_bytes = _open_header(path, f)
        buffer = bytearray(data_bytes)
        if f.readinto(buffer) != len(buffer):
            raise _fail(path, "file ended inside the tensor data (truncated while being read)")
    order = _verify_checksums(path, entries, metadata, memoryview(buffer))
    return {name: _view(buffer, entries[name]) for name in order}, metadata


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """Return the string metadata of a safetensors file, checking its header."""
    return read_header(path)[1]
