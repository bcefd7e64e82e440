"""DirectSink: what an O_DIRECT writer leaves in the file, after every commit and at close."""

from __future__ import annotations

import errno
import os
import random

import pytest

import collector.bag.sink as sink
from collector.bag.sink import BLOCK, DirectSink, open_direct
from collector.bag.writer import BagWriter


@pytest.fixture
def direct_fd(tmp_path):
    path = tmp_path / "out.bin"
    fd = open_direct(path)
    if fd is None:
        pytest.skip(f"{tmp_path} does not take O_DIRECT writes")
    yield path, fd
    os.close(fd)


def _pieces(rng: random.Random, count: int) -> list:
    out = []
    for index in range(count):
        data = rng.randbytes(rng.choice([0, 1, 31, 4095, 4096, 4097, 9000, 20_000, 70_000]))
        out.append(data if index % 3 else memoryview(bytearray(data)))
    return out


@pytest.mark.parametrize("seed", range(4))
def test_every_commit_is_in_the_file_and_close_cuts_to_length(direct_fd, seed):
    path, fd = direct_fd
    rng = random.Random(seed)
    out = DirectSink(fd, staging_bytes=4 * BLOCK)  # small, so pieces span and fill it
    expected = bytearray()
    for _ in range(40):
        pieces = _pieces(rng, rng.randrange(1, 6))
        out.write(pieces)
        for piece in pieces:
            expected += piece
        assert out.position() == len(expected)
        out.commit()
        on_disk = path.read_bytes()
        # what a SIGKILL now would leave: every committed byte, then zeros to the block end
        assert len(on_disk) % BLOCK == 0 and len(on_disk) - len(expected) < BLOCK
        assert on_disk[: len(expected)] == expected
        assert not any(on_disk[len(expected):])
    out.close()
    out.close()  # idempotent
    assert path.read_bytes() == expected


def test_failed_write_keeps_the_staged_bytes(direct_fd, monkeypatch):
    path, fd = direct_fd
    out = DirectSink(fd, staging_bytes=2 * BLOCK)
    real = os.pwrite
    calls = {"n": 0}

    def full_once(fd_, data, offset):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd_, data, offset)

    monkeypatch.setattr(sink.os, "pwrite", full_once)
    payload = os.urandom(3 * BLOCK + 100)
    with pytest.raises(OSError, match="No space"):
        out.write([payload[:BLOCK * 2 - 1], payload[BLOCK * 2 - 1:]])
    out.write([])
    out.close()
    assert path.read_bytes()[: BLOCK * 2] == payload[: BLOCK * 2]


def test_bag_writer_falls_back_to_plain_writes(tmp_path, monkeypatch):
    real_open = os.open

    def no_direct(path, flags, *args):
        if flags & getattr(os, "O_DIRECT", 0):
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(path, flags, *args)

    monkeypatch.setattr(sink.os, "open", no_direct)
    with BagWriter(tmp_path / "bag", fsync=False) as writer:
        assert not writer.direct_io
        channel = writer.add_topic("/ft", "geometry_msgs/msg/WrenchStamped")
        writer.write(channel, b"\x00\x01\x00\x00" + bytes(60), 1, 1)
    assert (tmp_path / "bag" / "metadata.yaml").is_file()


def test_refused_probe_leaves_no_file(tmp_path, monkeypatch):
    if not getattr(os, "O_DIRECT", 0):
        pytest.skip("no O_DIRECT on this platform")
    monkeypatch.setattr(sink.os, "pwrite", lambda *a: (_ for _ in ()).throw(OSError(errno.EINVAL, "Invalid")))
    assert open_direct(tmp_path / "probe.bin") is None
    assert not (tmp_path / "probe.bin").exists()


def test_unaligned_start_is_refused(direct_fd):
    _path, fd = direct_fd
    with pytest.raises(ValueError, match="multiples of 4096"):
        DirectSink(fd, start=100)
