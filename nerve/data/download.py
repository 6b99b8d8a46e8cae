"""Downloading a file with a checked SHA-256, written atomically (``nerve.files``)."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from nerve.checks import check_number
from nerve.files import atomic_write

_CHUNK = 1 << 20


def sha256sum(path: str | os.PathLike) -> str:
    """Return the SHA-256 hex digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, dest: str | os.PathLike, sha256: str, timeout: float = 60.0) -> Path:
    """Fetch ``url`` to ``dest`` unless a file with the checksum is there; return ``dest``.

    The bytes stream into a temporary file beside ``dest`` and replace it only once their
    SHA-256 matches ``sha256``; on a mismatch nothing is written and ValueError says both digests.
    """
    expected = _check_sha256(sha256)
    timeout = check_number(timeout, "timeout", "download", 0.0, low_open=True)
    if not isinstance(url, str) or not url.startswith(("http://", "https://", "file:")):
        raise ValueError(f"download: expected an http(s) or file URL. Received: url={url!r}")
    dest = Path(dest)
    if dest.is_file() and sha256sum(dest) == expected:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(dest) as out:
        received = _fetch(url, out, timeout)
        if received != expected:  # raising inside the block leaves dest as it was
            raise ValueError(f"download: checksum mismatch for {url}: expected sha256 "
                             f"{expected}, received {received}")
    return dest


def _fetch(url: str, out, timeout: float) -> str:
    """Stream ``url`` into the open file ``out`` and return the SHA-256 of what came."""
    import urllib.request  # imported here: it is slow to import and only needed to download

    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=timeout) as response:
        for chunk in iter(lambda: response.read(_CHUNK), b""):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def _check_sha256(sha256: str) -> str:
    if not isinstance(sha256, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
        raise ValueError(f"download: expected 64 hex digits. Received: sha256={sha256!r}")
    return sha256.lower()
