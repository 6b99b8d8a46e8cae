"""MNIST in IDX format: reading IDX files (raw or gzip), the t10k train/evaluation split, and
downloading the files with their published SHA-256 checksums.

An IDX file is a 4-byte magic number (two zero bytes, a dtype code, the number of dimensions),
then one big-endian uint32 per dimension, then the values in C order, big-endian.
"""

from __future__ import annotations

import gzip
import math
import os
import re
import zlib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import numpy as np

from nerve import backend
from nerve.checks import check_bool, check_choice, check_positive_int, message
from nerve.data.download import download

IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
SPLITS = ("train", "t10k")
_CHUNK = 1 << 20
# The pixel mean and standard deviation of MNIST's 60,000 training images (pixels in [0, 1]):
# the two numbers of PyTorch's ``transforms.Normalize((0.1307,), (0.3081,))``. (The first
# 8,000 t10k images, the training part of ``mnist_t10k_split``, give 0.1301 and 0.3077.)
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081

# Where the original MNIST files are served (Google's mirror of Yann LeCun's files), and their
# published SHA-256 digests (as listed by TensorFlow Datasets). Read-only: pass ``sha256`` to
# ``download_mnist`` for a mirror that serves other bytes (recompressed files, for instance).
MNIST_BASE_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"
MNIST_SHA256 = MappingProxyType({
    "train-images-idx3-ubyte.gz":
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz":
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz":
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz":
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
})
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_CHECKSUM_LINE = re.compile(r"([0-9a-fA-F]{64})[ \t]+\*?(\S.*)")


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Return the array stored in an IDX file (gzip-compressed or raw), in native byte order.

    A gzip file is decompressed as a stream that stops one byte past the size its header
    declares: a small file that would expand to more than it declares (a gzip bomb) is
    refused without being expanded.
    """
    path = Path(path)
    with open(path, "rb") as raw:
        if raw.read(2) != b"\x1f\x8b":
            raw.seek(0)
            return _read_idx(path, raw, os.fstat(raw.fileno()).st_size)
        raw.seek(0)
        try:
            with gzip.GzipFile(fileobj=raw) as f:
                return _read_idx(path, f, None)
        except (EOFError, OSError, zlib.error) as err:  # BadGzipFile is an OSError
            raise ValueError(f"{path} is a damaged or truncated gzip file: {err}") from err


def _read_idx(path: Path, f, size: int | None) -> np.ndarray:
    """Read an IDX stream (``size``: the file's, when it is not compressed)."""
    magic = _read_up_to(f, 4)
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0:
        raise ValueError(f"{path} is not an IDX file: it starts with {magic.hex() or 'nothing'}, "
                         f"expected the magic number 0000 + a dtype code + a number of dimensions")
    if magic[2] not in IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX dtype code 0x{magic[2]:02x}, expected one of "
                         f"{', '.join(f'0x{c:02x}' for c in IDX_DTYPES)}")
    dtype, ndim = np.dtype(IDX_DTYPES[magic[2]]), magic[3]
    header = 4 + 4 * ndim
    dims = _read_up_to(f, 4 * ndim)
    if len(dims) < 4 * ndim:
        raise ValueError(f"{path} is truncated: expected a {header}-byte header for {ndim} "
                         f"dimensions, received {4 + len(dims)} bytes")
    shape = tuple(int(d) for d in np.frombuffer(dims, ">u4"))
    expected = header + math.prod(shape) * dtype.itemsize
    if size is not None and size != expected:  # known without reading: refuse before it
        _wrong_size(path, expected, shape, dtype, size)
    data = _read_up_to(f, expected - header)
    if len(data) < expected - header:
        _wrong_size(path, expected, shape, dtype, header + len(data))
    if f.read(1):
        _wrong_size(path, expected, shape, dtype, None)
    data = np.frombuffer(data, dtype).reshape(shape)  # writable: a view of a bytearray
    return data.astype(dtype.newbyteorder("="), copy=False)  # native byte order


def _wrong_size(path: Path, expected: int, shape: tuple, dtype: np.dtype, received) -> None:
    kind = "truncated" if received is not None and received < expected else (
        "longer than its header says")
    got = "more (reading stopped there)" if received is None else str(received)
    raise ValueError(f"{path} is {kind}: expected {expected} bytes for shape {shape} of "
                     f"{dtype.name}, received {got}")


def _read_up_to(f, n: int) -> bytearray:
    """Read ``n`` bytes, or all there are when fewer, a chunk at a time: memory grows with
    what the file really holds, never with what a header claims."""
    buffer = bytearray()
    while len(buffer) < n:
        chunk = f.read(min(_CHUNK, n - len(buffer)))
        if not chunk:
            break
        buffer += chunk
    return buffer


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


def mnist_t10k_split(root: str | os.PathLike, flatten: bool = True, n_train: int = 8000,
                     standardize: bool = False):
    """Return ((x_train, y_train), (x_eval, y_eval)) from t10k: first 8,000 / last 2,000.

    Pixels are in [0, 1], of nerve's default dtype (float32); images are (N, 784) with
    ``flatten=True``, else (N, 1, 28, 28) for ``Conv2d``. Labels are int64.

    ``standardize=True`` then maps each pixel p to ``(p - MNIST_MEAN) / MNIST_STD`` (0.1307 and
    0.3081, MNIST's training-set statistics, as PyTorch's ``transforms.Normalize``): the
    background becomes -0.42 and the strokes reach 2.8. Images given to a model trained this
    way later need the same two numbers.
    """
    who = "mnist_t10k_split"
    flatten = check_bool(flatten, "flatten", who)
    n_train = check_positive_int(n_train, "n_train", who)
    standardize = check_bool(standardize, "standardize", who)
    images, labels = load_mnist(root, "t10k")
    if n_train >= len(images):
        raise ValueError(f"n_train must leave images for evaluation: got n_train={n_train} "
                         f"of {len(images)} images")
    x = images.reshape(len(images), -1) if flatten else images[:, None]
    x = x.astype(backend.get_default_dtype())
    x /= 255.0
    if standardize:
        x -= MNIST_MEAN
        x /= MNIST_STD
    return (x[:n_train], labels[:n_train]), (x[n_train:], labels[n_train:])


# --- downloading ------------------------------------------------------------------------------
def download_mnist(root: str | os.PathLike, split: str = "t10k", base_url: str = MNIST_BASE_URL,
                   sha256: Mapping[str, str] | None = None) -> Path:
    """Fetch ``<split>-images-idx3-ubyte.gz`` and ``<split>-labels-idx1-ubyte.gz`` into root.

    Each file comes from ``base_url`` + "/" + its name through :func:`nerve.data.download`:
    written atomically, kept only when its SHA-256 matches, and not fetched again when a file
    with the right checksum is already there. The checksums are the published ones
    (``MNIST_SHA256``); ``sha256`` (file name -> hex digest, e.g. from :func:`read_checksums`)
    overrides them for a mirror that serves other bytes. Returns ``root`` as a Path, ready for
    :func:`load_mnist` and :func:`mnist_t10k_split`.
    """
    who = "download_mnist"
    check_choice(split, "split", who, SPLITS)
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://",
                                                                  "file:")):
        raise ValueError(message(who, "an http://, https:// or file: URL", "base_url", base_url))
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(message(who, "a folder path", "root", root))
    checksums = dict(MNIST_SHA256)
    if sha256 is not None:
        checksums.update(_check_checksums(sha256, who))
    root = Path(root)
    for name in (f"{split}-images-idx3-ubyte.gz", f"{split}-labels-idx1-ubyte.gz"):
        download(f"{base_url.rstrip('/')}/{name}", root / name, checksums[name])
    return root


def _check_checksums(sha256, who: str) -> dict[str, str]:
    """Return ``sha256`` as a dict name -> lower-case digest; raise unless it is one."""
    if not isinstance(sha256, Mapping):
        raise TypeError(message(who, "a dict of file name -> SHA-256 hex digest", "sha256",
                                sha256))
    checked = {}
    for name, digest in sha256.items():
        if not isinstance(name, str) or not isinstance(digest, str) or not _HEX64.fullmatch(
                digest):
            raise ValueError(message(who, "a file name -> 64 hex digits", "sha256",
                                     {name: digest}))
        checked[name] = digest.lower()
    return checked


def read_checksums(path: str | os.PathLike) -> dict[str, str]:
    """Return file name -> lower-case SHA-256 hex digest from a ``sha256sum``-style file.

    Each line is ``<64 hex digits>  <name>`` (a ``*`` may come before the name, as
    ``sha256sum --binary`` writes it; a leading ``./`` is dropped, as ``sha256sum ./name``
    writes it); blank lines and lines starting with ``#`` are skipped.
    Any other line, or a name listed twice with different digests, raises ValueError naming
    the file and the line.
    """
    path = Path(path)
    checksums: dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            match = _CHECKSUM_LINE.fullmatch(text)
            if match is None:
                raise ValueError(f"{path}, line {number}: expected '<64 hex digits>  <file "
                                 f"name>', a blank line or a # comment. Received: {text!r}")
            digest, name = match.group(1).lower(), match.group(2).removeprefix("./")
            if checksums.setdefault(name, digest) != digest:
                raise ValueError(f"{path}, line {number}: {name} is listed twice with different "
                                 f"digests ({checksums[name]} and {digest})")
    return checksums
