"""Uncompressed chunks written without copying payloads: same bytes as mcap's own writer."""

from __future__ import annotations

import contextlib
import io
import os
import random
import tracemalloc
from pathlib import Path

import pytest

import collector.bag.sink as sink
import collector.bag.writer as bag_writer
from collector.bag.mcap_records import UncompressedMcapWriter
from collector.bag.reader import open_bag
from collector.bag.writer import BagWriter

mcap_reader = pytest.importorskip("mcap.reader")
mcap_writer = pytest.importorskip("mcap.writer")
np = pytest.importorskip("numpy")
rosbags_rosbag2 = pytest.importorskip("rosbags.rosbag2")

TOPICS = {
    "/camera/image_raw": "sensor_msgs/msg/Image",
    "/joint_states": "sensor_msgs/msg/JointState",
    "/ft": "geometry_msgs/msg/WrenchStamped",
    "/imu": "sensor_msgs/msg/Imu",  # registered half-way: its records go into a later chunk
}
SIZES = [0, 0, 1, 7, 31, 200, 4096, 65_536, 300_000]


@contextlib.contextmanager
def _old_path(monkeypatch):
    """Within it, ``compression="none"`` uses mcap's Writer on a buffered file, as before."""
    legacy = bag_writer._Storage(buffering=-1, make_writer=bag_writer._mcap_writer(mcap_writer.CompressionType.NONE))
    with monkeypatch.context() as patch:
        patch.setitem(bag_writer._STORAGE, "none", legacy)
        yield


def _payload(rng: random.Random, index: int):
    """Random bytes of a random size, as bytes, memoryview, bytearray or numpy array."""
    raw = rng.randbytes(rng.choice(SIZES))
    kind = index % 4
    if kind == 0:
        return raw, raw
    if kind == 1:
        return memoryview(raw), raw
    if kind == 2:
        return bytearray(raw), raw
    return np.frombuffer(raw, dtype=np.uint8), raw


def _record(path: Path, seed: int, **kwargs) -> list[tuple[str, int, int, bytes]]:
    """Write a deterministic episode (chunks closed by size and by flush); returns the messages."""
    rng = random.Random(seed)
    written = []
    with BagWriter(path, flush_interval_ns=10**15, fsync=False, **kwargs) as writer:
        channels = {t: writer.add_topic(t, m) for t, m in list(TOPICS.items())[:3]}
        writer.add_attachment("rig.yaml", b"rig: bao_an_1\n", "application/yaml")
        for index in range(400):
            if index == 180:
                channels["/imu"] = writer.add_topic("/imu", TOPICS["/imu"])
                writer.add_metadata("episode", {"task": "pick cup"})
                writer.add_attachment("calib.yaml", rng.randbytes(100), "application/yaml")
            topic = rng.choice(list(channels))
            data, raw = _payload(rng, index)
            log_time = 1_700_000_000_000_000_000 + index * 1_000_000 - rng.randrange(3_000_000)
            writer.write(channels[topic], data, log_time, log_time - 250_000)
            written.append((topic, log_time, log_time - 250_000, raw))
            if index % 111 == 0:
                writer.flush()
    return written


@pytest.fixture
def fixed_clock(monkeypatch):
    """Attachments carry time.time_ns(): freeze it so two runs can be compared byte for byte."""
    monkeypatch.setattr(bag_writer.time, "time_ns", lambda: 1_700_000_000_123_456_789)


@pytest.mark.parametrize("direct_io", [True, False], ids=["o_direct", "writev"])
@pytest.mark.parametrize("chunk_size", [1, 50_000, 4 * 1024 * 1024])
def test_same_bytes_as_mcap_writer_path(tmp_path, fixed_clock, monkeypatch, chunk_size, direct_io):
    new = tmp_path / "new" / "episode"
    _record(new, seed=chunk_size, chunk_size=chunk_size, direct_io=direct_io)
    old = tmp_path / "old" / "episode"
    with _old_path(monkeypatch):
        _record(old, seed=chunk_size, chunk_size=chunk_size)
    assert (new / "episode_0.mcap").read_bytes() == (old / "episode_0.mcap").read_bytes()
    assert (new / "metadata.yaml").read_text() == (old / "metadata.yaml").read_text()


def _read_all(mcap_path: Path) -> dict:
    """Everything the mcap reader (CRCs validated) sees in a file."""
    with open(mcap_path, "rb") as stream:
        reader = mcap_reader.make_reader(stream, validate_crcs=True)
        summary = reader.get_summary()
        return {
            "header": reader.get_header(),
            "schemas": summary.schemas,
            "channels": summary.channels,
            "statistics": summary.statistics,
            "messages": [
                (c.topic, m.log_time, m.publish_time, m.sequence, m.data) for _s, c, m in reader.iter_messages()
            ],
            "attachments": [(a.name, a.media_type, a.data, a.log_time) for a in reader.iter_attachments()],
            "metadata": [(m.name, m.metadata) for m in reader.iter_metadata()],
        }


def test_mcap_reader_sees_the_same_file(tmp_path, fixed_clock, monkeypatch):
    old = tmp_path / "old" / "bag"
    with _old_path(monkeypatch):
        _record(old, seed=3, chunk_size=20_000)
    new = tmp_path / "new" / "bag"
    written = _record(new, seed=3, chunk_size=20_000)
    got, expected = _read_all(new / "bag_0.mcap"), _read_all(old / "bag_0.mcap")
    assert got == expected
    assert [m[:3] + m[4:] for m in got["messages"]] == sorted(written, key=lambda w: w[1])
    assert [a[0] for a in got["attachments"]] == ["rig.yaml", "calib.yaml"]
    assert [m[0] for m in got["metadata"]] == ["episode", "rosbag2"]
    # the stream reader validates every chunk CRC on the way through the data section
    with open(new / "bag_0.mcap", "rb") as stream:
        streamed = [(c.topic, m.data) for _s, c, m in mcap_reader.NonSeekingReader(stream, validate_crcs=True)
                    .iter_messages()]
    assert sorted(streamed) == sorted((w[0], w[3]) for w in written)


def test_indexes_serve_time_and_topic_queries(tmp_path):
    written = _record(tmp_path / "bag", seed=11, chunk_size=30_000)
    with open(tmp_path / "bag" / "bag_0.mcap", "rb") as stream:
        reader = mcap_reader.SeekingReader(stream, validate_crcs=True)
        summary = reader.get_summary()
        assert summary.statistics.chunk_count == len(summary.chunk_indexes) > 10
        for index in summary.chunk_indexes:
            assert index.compression == "" and index.compressed_size == index.uncompressed_size
        times = sorted(w[1] for w in written)
        assert [m.log_time for _s, _c, m in reader.iter_messages(log_time_order=True)] == times
        start, end = times[100], times[250]
        window = [m.log_time for _s, _c, m in reader.iter_messages(start_time=start, end_time=end)]
        assert window == sorted(w[1] for w in written if start <= w[1] < end)
        for topic in TOPICS:
            got = [(m.log_time, m.data) for _s, _c, m in reader.iter_messages(topics=[topic])]
            assert [g[0] for g in got] == sorted(g[0] for g in got)
            assert sorted(got) == sorted((w[1], w[3]) for w in written if w[0] == topic)
            assert summary.statistics.channel_message_counts[
                next(c.id for c in summary.channels.values() if c.topic == topic)] == len(got)
        reversed_times = [m.log_time for _s, _c, m in reader.iter_messages(reverse=True)]
        assert reversed_times == sorted((w[1] for w in written), reverse=True)


def test_independent_readers_round_trip(tmp_path):
    written = _record(tmp_path / "bag", seed=5)
    with rosbags_rosbag2.Reader(tmp_path / "bag") as reader:
        got = [(c.topic, t, bytes(raw)) for c, t, raw in reader.messages()]
    assert got == sorted(((w[0], w[1], w[3]) for w in written), key=lambda g: g[1])
    with open_bag(tmp_path / "bag") as bag:
        assert [tuple(m) for m in bag.messages()] == sorted(written, key=lambda w: w[1])
        assert [a.name for a in bag.attachments()] == ["rig.yaml", "calib.yaml"]


def _direct(stream, writer_cls, payloads) -> None:
    """Drive a writer through mcap Writer's API, sequences and wide numpy payloads included."""
    writer = writer_cls(stream)
    writer.start(profile="ros2", library="test")
    schema = writer.register_schema("pkg/msg/A", "ros2msg", b"int32 a\n")
    first = writer.register_channel("/a", "cdr", schema, {"k": "v"})
    for number, data in enumerate(payloads):
        writer.add_message(first, 10 + number, data, 5, sequence=number * 7)
        if number == 3:
            second = writer.register_channel("/b", "cdr", schema)
            writer.flush()
        if number > 3:
            writer.add_message(second, 1000 - number, data, 6, sequence=2**32 - 1)
    writer.finish()


def test_direct_api_matches_mcap_writer(tmp_path):
    rng = np.random.default_rng(1)
    payloads = [b"", b"x", rng.integers(0, 2**16, (3, 5), dtype=np.uint16), memoryview(b"abcdef")[1:4],
                bytes(range(256)) * 10, bytearray(b"\0" * 33)]

    def mcap_writer_cls(stream):
        return mcap_writer.Writer(stream, compression=mcap_writer.CompressionType.NONE, chunk_size=1 << 62)

    expected = io.BytesIO()
    _direct(expected, mcap_writer_cls, payloads)
    with open(tmp_path / "direct.mcap", "xb", buffering=0) as stream:
        _direct(stream, UncompressedMcapWriter, payloads)
    assert (tmp_path / "direct.mcap").read_bytes() == expected.getvalue()


def test_short_writes_and_small_iov_batches(tmp_path, fixed_clock, monkeypatch):
    """The kernel may write less than asked; every byte must still land, in order."""
    expected = tmp_path / "expected" / "bag"
    _record(expected, seed=8, chunk_size=100_000, direct_io=False)
    if not hasattr(os, "writev"):
        pytest.skip("no os.writev on this platform")
    real_writev, real_write = os.writev, os.write
    rng = random.Random(2)

    def short_writev(fd, buffers):
        assert len(buffers) <= 5
        total = sum(len(b) for b in buffers)
        limit = rng.randrange(0, total + 1) if total else 0
        kept, size = [], 0
        for buffer in buffers:  # only a prefix of the vector, cut mid-buffer
            take = min(len(buffer), limit - size)
            kept.append(memoryview(buffer)[:take])
            size += take
        return real_writev(fd, kept)

    def short_write(fd, data):
        return real_write(fd, memoryview(data)[: max(1, len(data) // 3)])

    monkeypatch.setattr(sink, "IOV_MAX", 5)
    monkeypatch.setattr(sink.os, "writev", short_writev)
    monkeypatch.setattr(sink.os, "write", short_write)
    got = tmp_path / "got" / "bag"
    _record(got, seed=8, chunk_size=100_000, direct_io=False)
    monkeypatch.undo()
    assert (got / "bag_0.mcap").read_bytes() == (expected / "bag_0.mcap").read_bytes()


def test_payloads_are_not_copied(tmp_path, monkeypatch):
    """Writing and flushing a 16 MB message allocates far less than 16 MB (mcap's path: > 48 MB)."""
    payload = os.urandom(16 * 1024 * 1024)

    def peak(path: Path) -> int:
        with BagWriter(path, chunk_size=64 * 1024 * 1024, fsync=False) as writer:
            channel = writer.add_topic("/camera/image_raw", TOPICS["/camera/image_raw"])
            tracemalloc.start()
            try:
                writer.write(channel, payload, 1, 1)
                writer.write(channel, memoryview(payload), 2, 2)
                writer.flush()
                return tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()

    with _old_path(monkeypatch):
        old_peak = peak(tmp_path / "old")
    new_peak = peak(tmp_path / "new")
    assert old_peak > 3 * len(payload)
    assert new_peak < len(payload) // 16


def test_rejects_buffered_stream_and_bad_payloads(tmp_path):
    with open(tmp_path / "buffered.mcap", "xb") as stream:
        with pytest.raises(ValueError, match="buffering=0"):
            UncompressedMcapWriter(stream)
    with BagWriter(tmp_path / "bag", fsync=False) as writer:
        channel = writer.add_topic("/ft", TOPICS["/ft"])
        strided = memoryview(bytes(range(10)))[::2]
        with pytest.raises(TypeError, match="not a contiguous byte buffer"):
            writer.write(channel, strided, 1, 1)
        with pytest.raises(TypeError, match="not a contiguous byte buffer"):
            writer.write(channel, "text", 1, 1)
        writer.write(channel, b"ok", 2, 2)
    with open_bag(tmp_path / "bag") as bag:
        assert [m.data for m in bag.messages()] == [b"ok"]
