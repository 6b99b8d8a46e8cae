"""Downloading a file with a checked SHA-256, written atomically."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

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

    The bytes go to a temporary file beside ``dest`` and replace it only once their SHA-256
    matches ``sha256``; on a mismatch nothing is written and ValueError says both digests.
    """
    expected = _check_sha256(sha256)
    if not isinstance(url, str) or not url.startswith(("http://", "https://", "file:")):
        raise ValueError(f"download: url must be an http(s) or file URL, got url={url!r}")
    dest = Path(dest)
    if dest.is_file() and sha256sum(dest) == expected:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            received = _fetch(url, out, timeout)
        if received != expected:
            raise ValueError(f"download: checksum mismatch for {url}: expected sha256 "
                             f"{expected}, received {received}")
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a data file is usually shared
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return dest


def _fetch(url: str, out, timeout: float) -> str:
    """Stream ``url`` into the open file ``out`` and return the SHA-256 of what came."""
    import urllib.request  # imported here: it is slow to import and only needed to download

    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=timeout) as response:
        for chunk in iter(lambda: response.read(_CHUNK), b""):
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


def _check_sha256(sha256: str) -> str:
    if not isinstance(sha256, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
        raise ValueError(f"download: sha256 must be 64 hex digits, got sha256={sha256!r}")
    return sha256.lower()
