"""Durable files: atomic writes, new temporary files, fsync of files and directories.

The one place for these (bag metadata, ``episode.json``, recovered MCAP files, export
transactions). Standard library only, so every layer may import it.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def create_temp_file(directory: Path, prefix: str, suffix: str) -> tuple[int, Path]:
    """Create a new, uniquely named file for writing (mode 0666 minus umask, unlike mkstemp).

    Returns ``(fd, path)``.

    Raises:
        OSError: the file cannot be created.
    """
    for _ in range(100):
        path = Path(directory) / f"{prefix}{secrets.token_hex(6)}{suffix}"
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {directory}")


def write_atomic(path: Path, data: bytes) -> Path:
    """Replace ``path`` with ``data`` all at once; returns ``path``.

    ``data`` goes to a new temporary file in the same directory (``.<stem>.<random><suffix>.tmp``),
    is fsynced, renamed over ``path`` (``os.replace``) and the directory fsynced: a reader
    or a crash sees the old content or the new one, never a mix.

    Raises:
        OSError: the temporary file cannot be created, written or renamed; ``path`` is
            unchanged and the temporary file removed (except when creating it failed).
    """
    path = Path(path)
    fd, tmp = create_temp_file(path.parent, f".{path.stem}.", f"{path.suffix}.tmp")
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def fsync_file(path: Path) -> None:
    """fsync the file ``path`` (its data and size reach the disk).

    Raises:
        OSError: the file cannot be opened or the fsync fails.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(directory: Path) -> None:
    """fsync a directory so created / renamed entries survive power loss (best effort:
    a no-op where directories cannot be opened or fsynced)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fdatasync(fd: int) -> None:
    """``os.fdatasync`` (file data, not all metadata); ``os.fsync`` where it is missing (macOS).

    Raises:
        OSError: the sync fails.
    """
    if hasattr(os, "fdatasync"):
        os.fdatasync(fd)
    else:
        os.fsync(fd)
