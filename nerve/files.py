"""Atomic file writes: a reader sees the old file or the new one, never a half-written one.

The bytes go to a hidden temporary file in the target's folder, named
``.<name>.tmp-<pid>-<random>``, which is flushed and fsynced, then renamed over the target with
``os.replace`` (atomic on POSIX and Windows); the folder is fsynced so the rename survives a
power cut. An error inside the write (a checksum that does not match, a full disk) removes the
temporary file and leaves the target as it was. A process killed mid-write leaves only its
temporary file, which loaders never open and the next write to the same target removes once
its writer is gone. Weights, checkpoints and downloads are all written here.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Iterator
from typing import BinaryIO

_TEMP_MARK = ".tmp-"


def temp_name(path: str | os.PathLike) -> str:
    """Return a fresh temporary path beside ``path`` for this process."""
    folder, name = os.path.split(os.path.abspath(path))
    return os.path.join(folder, f".{name}{_TEMP_MARK}{os.getpid()}-{secrets.token_hex(4)}")


def temp_files(path: str | os.PathLike) -> list[str]:
    """Return the temporary files that writes to ``path`` left in its folder."""
    folder, name = os.path.split(os.path.abspath(path))
    pattern = re.compile(re.escape(f".{name}{_TEMP_MARK}") + r"(\d+)-[0-9a-f]+\Z")
    try:
        entries = os.listdir(folder)
    except OSError:
        return []
    return [os.path.join(folder, e) for e in sorted(entries) if pattern.match(e)]


def _writer_alive(pid: int) -> bool:
    if os.name != "posix":  # os.kill(pid, 0) would terminate the process on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temp_files(path: str | os.PathLike) -> list[str]:
    """Delete temporary files beside ``path`` whose writing process has ended; return them."""
    removed = []
    for tmp in temp_files(path):
        pid = int(tmp.rsplit(_TEMP_MARK, 1)[1].split("-")[0])
        if pid != os.getpid() and not _writer_alive(pid):
            with contextlib.suppress(OSError):
                os.unlink(tmp)
                removed.append(tmp)
    return removed


def _fsync_folder(folder: str) -> None:
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(folder, flags)
    except OSError:  # Windows cannot open a folder; its rename is durable enough
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Yield a binary file whose bytes replace ``path`` when the block ends without error.

    Raising inside the block aborts the write: the temporary file is removed and ``path`` is
    left as it was (``download`` does so when the checksum does not match).
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"cannot write a file over the folder {path!r}")
    tmp = temp_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_folder(os.path.dirname(os.path.abspath(path)))
    remove_stale_temp_files(path)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: temporary file, fsync, ``os.replace``."""
    with atomic_write(path) as f:
        f.write(data)
