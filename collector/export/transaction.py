"""Change a dataset folder all at once: stage the new version beside it, then swap.

A :class:`FolderTransaction` on ``DIR`` builds ``.DIR.staging-<pid>`` next to it:
every file of the current ``DIR`` hard-linked in (cheap, no copy), then new files
added and changed files written anew (never modified in place, so the links of
the current version stay intact). :meth:`commit` fsyncs what was written and swaps
the staging folder with ``DIR`` in one ``renameat2(RENAME_EXCHANGE)``; readers see
the old version or the new one, never a mix. An export killed at any moment
leaves ``DIR`` as it was; the next transaction removes the leftover staging folder.

Where the exchange is not available, ``DIR`` is renamed aside (``.DIR.old-<pid>``)
and the staging folder renamed in; a crash between those two renames is repaired
by the next transaction (the old version is put back).

A lock file ``.DIR.lock`` next to the folder keeps two exports from writing one
dataset at the same time.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
from pathlib import Path

from collector.export.errors import ExportError
from collector.fs import fsync_dir, fsync_file

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(a))


def lock_exclusive(path: Path, *, create: bool, busy: str) -> int | None:
    """Hold an exclusive, non-blocking flock on ``path`` (a lock file, created if
    ``create``, or a folder); released by closing the returned fd or by the process
    dying. None where flock does not exist (Windows: concurrent exports are on the user).

    Raises:
        ExportError: ``busy``, when another process holds it.
    """
    try:
        import fcntl
    except ImportError:
        return None
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644) if create else os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        os.close(fd)
        raise ExportError(busy) from err
    return fd


def _link_tree(source: Path, target: Path) -> None:
    """Recreate ``source``'s folders in ``target`` with every file hard-linked (copied
    where the filesystem has no hard links)."""
    for folder, _dirs, files in os.walk(source):
        relative = Path(folder).relative_to(source)
        (target / relative).mkdir(parents=True, exist_ok=True)
        for name in files:
            src, dst = Path(folder) / name, target / relative / name
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)


class FolderTransaction:
    """A new version of folder ``root``, staged beside it (see the module doc).

    Raises (on construction):
        ExportError: ``root`` is a file, or another export holds the folder's lock.
    """

    def __init__(self, root: Path):
        self.root = Path(root).absolute()
        if self.root.exists() and not self.root.is_dir():
            raise ExportError(f"{self.root} exists and is not a folder, not overwriting")
        self.root.parent.mkdir(parents=True, exist_ok=True)
        name = self.root.name
        self._lock_fd = self._lock(self.root.parent / f".{name}.lock")
        self._repair(name)
        self.path = self.root.parent / f".{name}.staging-{os.getpid()}"
        self.written: list[Path] = []
        self.done = False
        try:
            if self.root.exists():
                _link_tree(self.root, self.path)
            else:
                self.path.mkdir()
        except BaseException:
            self.abort()
            raise

    def _lock(self, lock_path: Path) -> int | None:
        return lock_exclusive(lock_path, create=True, busy=f"{self.root}: another export is writing into this dataset")

    def _repair(self, name: str) -> None:
        """Remove what killed transactions left; put back a version renamed aside."""
        parent = self.root.parent
        olds = sorted(parent.glob(f".{name}.old-*"))
        if olds and not self.root.exists():
            os.rename(olds.pop(), self.root)
        for leftover in [*parent.glob(f".{name}.staging-*"), *olds]:
            shutil.rmtree(leftover, ignore_errors=True)

    def new_file(self, relative: str | Path) -> Path:
        """The staging path for a file to write in the new version. An existing file of
        that name is unlinked first (its old version keeps its content)."""
        path = self.path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        self.written.append(path)
        return path

    def commit(self) -> None:
        """Make the staged version ``root`` (durably). Idempotent."""
        if self.done:
            return
        for path in self.written:
            if path.exists():
                fsync_file(path)
        for folder in {p.parent for p in self.written}:
            fsync_dir(folder)
        if self.root.exists():
            if _exchange(self.path, self.root):
                shutil.rmtree(self.path, ignore_errors=True)  # now the previous version
            else:
                aside = self.root.parent / f".{self.root.name}.old-{os.getpid()}"
                os.rename(self.root, aside)
                os.rename(self.path, self.root)
                shutil.rmtree(aside, ignore_errors=True)
        else:
            os.rename(self.path, self.root)
        fsync_dir(self.root.parent)
        self.done = True
        self._unlock()

    def abort(self) -> None:
        """Throw the staged version away; ``root`` stays as it was. Idempotent."""
        if not self.done:
            shutil.rmtree(self.path, ignore_errors=True)
            self.done = True
        self._unlock()

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
