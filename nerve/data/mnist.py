"""MNIST in IDX format: reading IDX files (raw or gzip) and the t10k train/evaluation split.

An IDX file is a 4-byte magic number (two zero bytes, a dtype code, the number of dimensions),
then one big-endian uint32 per dimension, then the values in C order, big-endian.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from nerve import backend
from nerve.checks import check_bool, check_choice, check_positive_int

IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
SPLITS = ("train", "t10k")


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Return the array stored in an IDX file (gzip-compressed or raw), in native byte order."""
    raw = _read_bytes(Path(path))
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path} is not an IDX file: it starts with {raw[:4].hex() or 'nothing'}, "
                         f"expected the magic number 0000 + a dtype code + a number of dimensions")
    if raw[2] not in IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX dtype code 0x{raw[2]:02x}, expected one of "
                         f"{', '.join(f'0x{c:02x}' for c in IDX_DTYPES)}")
    dtype, ndim = np.dtype(IDX_DTYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path} is truncated: expected a {header}-byte header for {ndim} "
                         f"dimensions, received {len(raw)} bytes")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, offset=4))
    expected = header + math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        kind = "truncated" if len(raw) < expected else "longer than its header says"
        raise ValueError(f"{path} is {kind}: expected {expected} bytes for shape {shape} of "
                         f"{dtype.name}, received {len(raw)}")
    data = np.frombuffer(raw, dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))  # a writable copy in native byte order


def _read_bytes(path: Path) -> bytes:
    """Return the file's bytes, decompressed when it starts with the gzip signature."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as err:
        raise ValueError(f"{path} is a damaged or truncated gzip file: {err}") from err


def load_mnist(root: str | os.PathLike, split: str = "t10k") -> tuple[np.ndarray, np.ndarray]:
    """Return MNIST images uint8 (N, 28, 28) and labels int64 (N,) from the IDX files in root.

    ``split`` is "t10k" (the 10,000 test images) or "train"; the files are
    ``<split>-images-idx3-ubyte[.gz]`` and ``<split>-labels-idx1-ubyte[.gz]``.
    """
    check_choice(split, "split", "load_mnist", SPLITS)
    images = read_idx(_find(Path(root), f"{split}-images-idx3-ubyte"))
    labels = read_idx(_find(Path(root), f"{split}-labels-idx1-ubyte"))
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise ValueError(f"MNIST images must be uint8 (N, 28, 28), got {images.dtype} "
                         f"{images.shape}")
    if labels.shape != images.shape[:1]:
        raise ValueError(f"MNIST has {len(images)} images but labels of shape {labels.shape}")
    return images, labels.astype(np.int64)


def _find(root: Path, name: str) -> Path:
    """Return root/name.gz or root/name, whichever exists."""
    for candidate in (root / f"{name}.gz", root / name):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"MNIST file {name}[.gz] not found in {root}")


def mnist_t10k_split(root: str | os.PathLike, flatten: bool = True, n_train: int = 8000):
    """Return ((x_train, y_train), (x_eval, y_eval)) from t10k: first 8,000 / last 2,000.

    Pixels are in [0, 1], of nerve's default dtype (float32); images are (N, 784) with
    ``flatten=True``, else (N, 1, 28, 28) for ``Conv2d``. Labels are int64.
    """
    flatten = check_bool(flatten, "flatten", "mnist_t10k_split")
    n_train = check_positive_int(n_train, "n_train", "mnist_t10k_split")
    images, labels = load_mnist(root, "t10k")
    if n_train >= len(images):
        raise ValueError(f"n_train must leave images for evaluation: got n_train={n_train} "
                         f"of {len(images)} images")
    x = images.reshape(len(images), -1) if flatten else images[:, None]
    x = x.astype(backend.get_default_dtype())
    x /= 255.0
    return (x[:n_train], labels[:n_train]), (x[n_train:], labels[n_train:])
