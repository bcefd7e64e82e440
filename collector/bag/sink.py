"""Where an uncompressed MCAP file's bytes go: straight ``writev`` or ``O_DIRECT``.

Buffered writes of camera streams cost the recorder more CPU than anything else it
does: every byte is copied into freshly allocated page-cache pages, and on a VM each
new page is expensive. Measured on the 2-vCPU bench VM with ``dd`` (2 GB, 4 MB
blocks): buffered 7.2 s of system time, ``O_DIRECT`` 0.2 s. ``O_DIRECT`` also keeps a
long recording from evicting everything else on the rig from the page cache.

:class:`DirectSink` therefore copies the pieces into a reused, page-aligned staging
buffer and writes it with ``O_DIRECT`` in whole blocks. :meth:`DirectSink.commit` (the
end of each chunk or record) also writes the partial last block, zero-padded, so
everything committed is in the file if the process is killed; the next write rewrites
that block with the real bytes that follow. A killed recording may therefore end in
up to one block of zeros, which the recovery scan treats as the torn tail it is
(opcode 0 is not an MCAP record). :meth:`DirectSink.close` cuts the file to its true
length.

Where ``O_DIRECT`` is refused (tmpfs, some network file systems, macOS) the file is
written with :class:`PlainSink`; the file content is the same either way.
"""

from __future__ import annotations

import errno
import mmap
import os
from collections.abc import Sequence

Payload = bytes | bytearray | memoryview

# Offsets, lengths and the buffer address of O_DIRECT writes are multiples of this;
# 4096 satisfies every common logical block size (512 and 4096).
BLOCK = 4096
STAGING_BYTES = 8 << 20


def _iov_max() -> int:
    try:
        limit = os.sysconf("SC_IOV_MAX")
    except (AttributeError, ValueError, OSError):
        return 16  # the POSIX minimum
    return min(limit, 1024) if limit > 0 else 16


IOV_MAX = _iov_max()


def write_buffer(fd: int, data: Payload) -> None:
    """Write all of ``data`` at the current position of ``fd``."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written == 0:
            raise OSError(errno.EIO, f"write to fd {fd} made no progress")
        view = view[written:]


def write_pieces(fd: int, pieces: Sequence[Payload]) -> None:
    """Write ``pieces`` (byte buffers, each with ``len`` in bytes) in order to ``fd``.

    One ``os.writev`` per :data:`IOV_MAX` pieces; short writes are completed. Nothing is
    copied in user space.

    Raises:
        OSError: the write failed (e.g. ``ENOSPC``); an unknown prefix may be on disk.
    """
    if not hasattr(os, "writev"):  # Windows
        for piece in pieces:
            write_buffer(fd, piece)
        return
    index, count = 0, len(pieces)
    while index < count:
        batch = pieces[index:index + IOV_MAX]
        written = os.writev(fd, batch)
        for piece in batch:
            size = len(piece)
            index += 1
            if written < size:  # short write: finish this piece, then batch the rest anew
                write_buffer(fd, memoryview(piece)[written:])
                break
            written -= size


class PlainSink:
    """Pieces go to the file descriptor as they come (``writev``, no copy)."""

    direct = False

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def position(self) -> int:
        """Where the next byte goes."""
        return os.lseek(self.fd, 0, os.SEEK_CUR)

    def write(self, pieces: Sequence[Payload]) -> None:
        write_pieces(self.fd, pieces)

    def commit(self) -> None:
        """Nothing is held back: everything written is with the OS already."""

    def close(self) -> None:
        """Nothing to release."""


class DirectSink:
    """Pieces are staged in an aligned buffer and written with ``O_DIRECT`` in whole blocks.

    Args:
        fd: open for writing with ``O_DIRECT`` (see :func:`open_direct`); not closed here.
        start: block-aligned file offset where writing begins.
        staging_bytes: size of the staging buffer, a multiple of :data:`BLOCK`.
    """

    direct = True

    def __init__(self, fd: int, start: int = 0, staging_bytes: int = STAGING_BYTES) -> None:
        if start % BLOCK or staging_bytes % BLOCK or staging_bytes <= 0:
            raise ValueError(f"start {start} and staging size {staging_bytes} must be multiples of {BLOCK}")
        self.fd = fd
        self._buffer = mmap.mmap(-1, staging_bytes)  # anonymous, hence page-aligned
        self._view = memoryview(self._buffer)
        self._capacity = staging_bytes
        self._disk = start  # file offset of buffer[0]; always block-aligned
        self._used = 0  # bytes staged
        self._closed = False

    def position(self) -> int:
        """Logical end of the file: where the next byte goes."""
        return self._disk + self._used

    def write(self, pieces: Sequence[Payload]) -> None:
        """Stage ``pieces``; each time the buffer fills it is written.

        Raises:
            OSError: a write failed (e.g. ``ENOSPC``).
        """
        view, capacity = self._view, self._capacity
        for piece in pieces:
            size = len(piece)  # bytes: payloads come as bytes or flat "B" views
            used = self._used
            if used + size < capacity:  # the common case: it fits with room to spare
                view[used:used + size] = piece
                self._used = used + size
                continue
            data, offset = memoryview(piece).cast("B"), 0
            while offset < size:
                if self._used == capacity:
                    self._write_full()
                take = min(capacity - self._used, size - offset)
                view[self._used:self._used + take] = data[offset:offset + take]
                self._used += take
                offset += take
            if self._used == capacity:
                self._write_full()

    def commit(self) -> None:
        """Write every staged byte: whole blocks, then the last block zero-padded.

        The partial block stays staged and is written again, completed, next time.

        Raises:
            OSError: a write failed (the staged bytes are kept).
        """
        whole = self._used - self._used % BLOCK
        if whole:
            self._pwrite(whole)
            rest = self._used - whole
            if rest:
                self._buffer.move(0, whole, rest)
            self._disk += whole
            self._used = rest
        if self._used:
            padded = self._used + (-self._used) % BLOCK
            self._view[self._used:padded] = bytes(padded - self._used)
            self._pwrite(padded)

    def close(self) -> None:
        """Commit, cut the file to its true length and free the buffer. Idempotent.

        Raises:
            OSError: a write or the truncation failed.
        """
        if self._closed:
            return
        try:
            self.commit()
            os.ftruncate(self.fd, self.position())
        finally:
            self._closed = True
            self._view.release()
            self._buffer.close()

    def _write_full(self) -> None:
        self._pwrite(self._capacity)
        self._disk += self._capacity
        self._used = 0

    def _pwrite(self, length: int) -> None:
        """Write buffer[:length] at the buffer's file offset."""
        view, done = self._view, 0
        while done < length:
            written = os.pwrite(self.fd, view[done:length], self._disk + done)
            if written <= 0:
                raise OSError(errno.EIO, f"write to fd {self.fd} made no progress")
            done += written
            if done < length and done % BLOCK:
                # the rest of a short write that ended mid-block cannot be written aligned
                raise OSError(errno.EIO, f"short unaligned O_DIRECT write to fd {self.fd}")


def open_direct(path: os.PathLike | str) -> int | None:
    """Create ``path`` (exclusively) for ``O_DIRECT`` writes; ``None`` where unsupported.

    Also ``None`` when the file system takes the flag but refuses an aligned write (the
    probe leaves no file behind), so the caller falls back to plain writes.

    Raises:
        OSError: the file cannot be created at all (it exists, no permission, ...).
    """
    flag = getattr(os, "O_DIRECT", 0)
    if not flag:
        return None
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | flag, 0o644)
    except OSError as err:
        if err.errno == errno.EINVAL:
            return None
        raise
    probe = mmap.mmap(-1, BLOCK)
    try:
        os.pwrite(fd, memoryview(probe), 0)
        os.ftruncate(fd, 0)
    except OSError as err:
        os.close(fd)
        os.unlink(path)
        if err.errno == errno.EINVAL:
            return None
        raise
    finally:
        probe.close()
    return fd
