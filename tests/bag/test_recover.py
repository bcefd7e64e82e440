"""recover_bag after SIGKILL, after cuts at random offsets and after bit flips."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from collector.bag.reader import open_bag
from collector.bag.recover import recover_bag
from collector.bag.writer import BagWriter
from collector.cdr.header import header_stamp_ns
from collector.errors import BagError

rosbags_rosbag2 = pytest.importorskip("rosbags.rosbag2")
rosbags_typesys = pytest.importorskip("rosbags.typesys")
mcap_reader = pytest.importorskip("mcap.reader")

RATE_HZ = 400
WRITER_SCRIPT = textwrap.dedent(
    """
    import struct, sys, time
    from pathlib import Path
    from collector.bag.writer import BagWriter

    def wrench(index):
        frame = b"ft\\0"
        body = struct.pack("<iI", index, 0) + struct.pack("<I", len(frame)) + frame
        body += b"\\0" * ((-len(body)) % 8) + struct.pack("<6d", float(index), 0, 0, 0, 0, 0)
        return b"\\x00\\x01\\x00\\x00" + body

    period = 1.0 / float(sys.argv[2])
    writer = BagWriter(Path(sys.argv[1]), direct_io=sys.argv[3] == "1")
    print("direct" if writer.direct_io else "plain", flush=True)
    channel = writer.add_topic("/ft", "geometry_msgs/msg/WrenchStamped")
    start = time.monotonic()
    index = 0
    while True:
        now = time.time_ns()
        writer.write(channel, wrench(index), now, now)
        print(index, now, flush=True)
        index += 1
        delay = start + index * period - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    """
)


def _indexes(bag: Path) -> list[int]:
    """Message indexes (header.stamp.sec) read back with rosbags, in log-time order."""
    store = rosbags_typesys.get_typestore(rosbags_typesys.Stores.ROS2_KILTED)
    with rosbags_rosbag2.Reader(bag) as reader:
        return [store.deserialize_cdr(raw, c.msgtype).header.stamp.sec for c, _t, raw in reader.messages()]


@pytest.mark.parametrize("direct_io", [True, False], ids=["o_direct", "writev"])
def test_recover_after_sigkill(tmp_path, repo_root, direct_io):
    bag = tmp_path / "killed"
    script = tmp_path / "writer.py"
    script.write_text(WRITER_SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo_root), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen(
        [sys.executable, str(script), str(bag), str(RATE_HZ), "1" if direct_io else "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    printed: list[tuple[int, int]] = []
    try:
        mode = process.stdout.readline().strip()
        if direct_io and mode == "plain":
            pytest.skip(f"{tmp_path} does not take O_DIRECT writes")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            index, log_time = map(int, line.split())
            printed.append((index, log_time))
            if index >= int(2.6 * RATE_HZ):
                break
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == -signal.SIGKILL, stderr
    assert printed, f"writer printed nothing: {stderr}"
    assert not (bag / "metadata.yaml").exists()
    with pytest.raises(BagError, match="collector recover"):
        open_bag(bag)

    result = recover_bag(bag)

    assert not result.already_complete and result.metadata_written
    indexes = _indexes(bag)
    assert indexes == list(range(len(indexes))), "recovered messages are exactly a prefix of what was written"
    assert result.messages_recovered == len(indexes) == result.topic_counts["/ft"]
    last_index, last_log = printed[-1]
    with open_bag(bag) as reader:
        recovered_last = max(m.log_time_ns for m in reader.messages())
    lost_s = (last_log - recovered_last) / 1e9
    assert lost_s <= 1.0, f"lost {lost_s:.3f} s of the newest data"
    assert len(indexes) >= last_index + 1 - 1.0 * RATE_HZ
    original = bag / f"{bag.name}_0.mcap.orig"
    assert original.is_file() and original.stat().st_size > 0
    if direct_io:  # O_DIRECT writes whole blocks: the killed file ends in a zero-padded block
        assert original.stat().st_size % 4096 == 0
    assert recover_bag(bag).already_complete  # second run changes nothing


def _complete_bag(tmp_path: Path, make_wrench, count: int = 600) -> tuple[Path, list[tuple[int, int]]]:
    """A bag with many small chunks; returns the MCAP path and (chunk end offset, messages) pairs."""
    bag = tmp_path / "source"
    with BagWriter(bag, chunk_size=1500, fsync=False) as writer:
        channel = writer.add_topic("/ft", "geometry_msgs/msg/WrenchStamped")
        for i in range(count):
            writer.write(channel, make_wrench(i, 0, "ft", (float(i), 0, 0, 0, 0, 0)), 10**18 + i * 10**6, 10**18)
    mcap = bag / "source_0.mcap"
    with open(mcap, "rb") as stream:
        chunk_indexes = mcap_reader.make_reader(stream).get_summary().chunk_indexes
    chunks = []
    for index in sorted(chunk_indexes, key=lambda c: c.chunk_start_offset):
        messages = (index.message_end_time - index.message_start_time) // 10**6 + 1
        chunks.append((index.chunk_start_offset, index.chunk_start_offset + index.chunk_length, messages))
    assert len(chunks) >= count // 20 and sum(c[2] for c in chunks) == count
    return mcap, chunks


def _damaged_copy(tmp_path: Path, mcap: Path, name: str, edit) -> Path:
    bag = tmp_path / name
    bag.mkdir()
    data = bytearray(mcap.read_bytes())
    data = edit(data)
    (bag / f"{name}_0.mcap").write_bytes(bytes(data))
    return bag


def _recovered_indexes(bag: Path) -> list[int]:
    with open_bag(bag) as reader:
        return [header_stamp_ns(m.data) // 1_000_000_000 for m in reader.messages()]


def test_cut_at_random_offsets_keeps_every_complete_chunk(tmp_path, make_wrench):
    mcap, chunks = _complete_bag(tmp_path, make_wrench)
    size = mcap.stat().st_size
    header_end = chunks[0][0]
    rng = random.Random(20240601)
    offsets = sorted({rng.randrange(0, size) for _ in range(16)} | {0, 5, header_end - 1, header_end, size - 1})
    for number, offset in enumerate(offsets):
        bag = _damaged_copy(tmp_path, mcap, f"cut{number}", lambda data, o=offset: data[:o])
        try:
            result = recover_bag(bag)
        except BagError as err:
            assert offset < header_end, f"cut at {offset}: {err}"
            assert "MCAP header" in str(err)
            continue
        expected = sum(n for _start, end, n in chunks if end <= offset)
        indexes = _recovered_indexes(bag)
        assert indexes == list(range(expected)), f"cut at {offset}"
        assert result.files[0].tail_bytes_dropped <= offset
        assert _indexes(bag) == indexes  # rosbags agrees


def test_bit_flip_in_chunk_data_skips_only_that_chunk(tmp_path, make_wrench):
    mcap, chunks = _complete_bag(tmp_path, make_wrench)
    cut = chunks[-3][1]  # unfinished file: the writer died after this chunk
    damaged = 7
    start, end, _ = chunks[damaged]

    def flip(data):
        data = data[:cut]
        data[(start + end) // 2] ^= 0x10
        return data

    bag = _damaged_copy(tmp_path, mcap, "flipped", flip)
    result = recover_bag(bag)
    assert result.files[0].chunks_damaged == 1
    before = sum(n for _s, _e, n in chunks[:damaged])
    skipped = chunks[damaged][2]
    kept_total = sum(n for _s, e, n in chunks if e <= cut)
    indexes = _recovered_indexes(bag)
    assert indexes[:before] == list(range(before))
    assert indexes == list(range(before)) + list(range(before + skipped, kept_total))


@pytest.mark.parametrize("length_byte", [0, 3, 7])
def test_bit_flip_in_chunk_length_stops_there(tmp_path, make_wrench, length_byte):
    mcap, chunks = _complete_bag(tmp_path, make_wrench)
    cut = chunks[-3][1]
    damaged = 9
    start = chunks[damaged][0]

    def flip(data):
        data = data[:cut]
        data[start + 1 + length_byte] ^= 0x40  # the record's uint64 length field
        return data

    bag = _damaged_copy(tmp_path, mcap, f"len{length_byte}", flip)
    result = recover_bag(bag)
    before = sum(n for _s, _e, n in chunks[:damaged])
    assert _recovered_indexes(bag)[:before] == list(range(before))
    assert result.tail_bytes_dropped >= cut - chunks[damaged + 1][0]


def test_garbage_is_refused_cleanly(tmp_path):
    with pytest.raises(BagError, match="does not exist"):
        recover_bag(tmp_path / "missing")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(BagError, match="not a bag directory"):
        recover_bag(tmp_path / "empty_dir")
    (tmp_path / "file.mcap").write_bytes(b"x")
    with pytest.raises(BagError, match="not a bag directory"):
        recover_bag(tmp_path / "file.mcap")
    noise = tmp_path / "noise"
    noise.mkdir()
    (noise / "noise_0.mcap").write_bytes(random.Random(1).randbytes(5000))
    with pytest.raises(BagError, match="no readable MCAP header"):
        recover_bag(noise)
    assert sorted(p.name for p in noise.iterdir()) == ["noise_0.mcap"]  # untouched, no temp left
    (noise / "noise_0.mcap").write_bytes(b"")
    with pytest.raises(BagError, match="no readable MCAP header"):
        recover_bag(noise)


def test_complete_bag_is_left_alone(tmp_path, make_wrench):
    mcap, _ = _complete_bag(tmp_path, make_wrench, count=50)
    bag = mcap.parent
    before = {p.name: p.read_bytes() for p in bag.iterdir()}
    result = recover_bag(bag)
    assert result.already_complete and "complete already" in result.describe()
    assert result.topic_counts == {"/ft": 50}
    assert {p.name: p.read_bytes() for p in bag.iterdir()} == before


def test_complete_mcap_without_metadata_gets_metadata_only(tmp_path, make_wrench):
    mcap, _ = _complete_bag(tmp_path, make_wrench, count=50)
    bag = mcap.parent
    (bag / "metadata.yaml").unlink()
    data = mcap.read_bytes()
    result = recover_bag(bag)
    assert not result.already_complete and result.metadata_written
    assert mcap.read_bytes() == data and not list(bag.glob("*.orig"))
    with rosbags_rosbag2.Reader(bag) as reader:
        assert reader.message_count == 50


@pytest.mark.parametrize("text", [b"rosbag2_bagfile_information: [\n", b"\xff",
                                  b"rosbag2_bagfile_information:\n  version: 9\n  storage_identifier: mcap\n"
                                  b"  relative_file_paths: [other_0.mcap]\n"],
                         ids=["not-yaml", "not-utf8", "lists-another-file"])
def test_unusable_metadata_is_rewritten_and_kept(tmp_path, make_wrench, text):
    """Found by tests/fuzz: a complete MCAP beside a damaged metadata.yaml counted as a
    complete bag, so recover changed nothing and the bag stayed unreadable."""
    mcap, _ = _complete_bag(tmp_path, make_wrench, count=50)
    bag = mcap.parent
    (bag / "metadata.yaml").write_bytes(text)
    data = mcap.read_bytes()
    result = recover_bag(bag)
    assert not result.already_complete and result.metadata_written
    assert mcap.read_bytes() == data and (bag / "metadata.yaml.orig").read_bytes() == text
    with open_bag(bag) as reader:
        assert sum(1 for _ in reader.messages()) == 50
    assert recover_bag(bag).already_complete


def _flip(offset: int):
    def edit(data: bytearray) -> bytearray:
        data[offset] ^= 0xFF
        return data

    return edit


def _zero(start: int, length: int):
    def edit(data: bytearray) -> bytearray:
        data[start:start + length] = bytes(length)
        return data

    return edit


@pytest.mark.parametrize("where", ["chunk-crc", "chunk-header"])
def test_damaged_chunk_in_a_complete_file_is_refused_then_rebuilt(tmp_path, make_wrench, where):
    """Found by tests/fuzz: a file with an intact summary read a damaged chunk without error
    in log-time order (CRCs unchecked) or, its header zeroed, as an empty chunk; and recover
    called such a file complete, though the reader's error told the user to run it."""
    mcap, chunks = _complete_bag(tmp_path, make_wrench, count=100)
    start, end, lost = chunks[2]
    # chunk-crc: one payload byte; chunk-header: times, sizes, CRC, compression and records
    # length zeroed (the record's own length stays): it parses as an empty chunk
    edit = _flip(end - 40) if where == "chunk-crc" else _zero(start + 9, 8 + 8 + 8 + 4 + 4 + 8)
    bag = _damaged_copy(tmp_path, mcap, where.replace("-", "_"), edit)
    for ordered in (True, False):
        with open_bag(bag) as reader, pytest.raises(BagError, match="collector recover"):
            for _ in reader.messages(ordered=ordered):
                pass
    result = recover_bag(bag)
    assert not result.already_complete and (bag / f"{bag.name}_0.mcap.orig").is_file()
    indexes = _recovered_indexes(bag)
    assert len(indexes) == result.message_count >= 100 - lost - (100 if where == "chunk-header" else 0)
    assert recover_bag(bag).already_complete


def test_existing_orig_is_never_overwritten(tmp_path, make_wrench):
    mcap, chunks = _complete_bag(tmp_path, make_wrench, count=100)
    bag = _damaged_copy(tmp_path, mcap, "twice", lambda data: data[: chunks[2][1] + 3])
    (bag / "twice_0.mcap.orig").write_bytes(b"older original")
    with pytest.raises(BagError, match="exists already, not overwriting"):
        recover_bag(bag)
    assert (bag / "twice_0.mcap.orig").read_bytes() == b"older original"
    assert sorted(p.name for p in bag.iterdir()) == ["twice_0.mcap", "twice_0.mcap.orig"]


def test_recovered_bag_keeps_attachments_and_metadata(tmp_path, make_wrench):
    bag = tmp_path / "with_extras"
    writer = BagWriter(bag, chunk_size=500, fsync=False)
    channel = writer.add_topic("/ft", "geometry_msgs/msg/WrenchStamped")
    writer.add_attachment("calibration.yaml", b"fx: 600\n", "application/yaml")
    writer.add_metadata("episode", {"task": "stack blocks"})
    for i in range(40):
        writer.write(channel, make_wrench(i, 0, "ft"), 10**18 + i, 10**18 + i)
    writer.flush()
    # simulate SIGKILL: copy what is on disk now, never close this writer's files
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    shutil.copy(writer.mcap_path, crashed / "crashed_0.mcap")
    result = recover_bag(crashed)
    assert result.messages_recovered == 40 and result.tail_bytes_dropped == 0
    with open_bag(crashed) as reader:
        assert [a.name for a in reader.attachments()] == ["calibration.yaml"]
        records = reader.mcap_metadata()
        assert records["episode"] == {"task": "stack blocks"}
        assert "serialized_metadata" in records["rosbag2"]
        assert reader.topics[0].qos[0]["reliability"] == "reliable"
    writer.close()


def _recover_copy(writer: BagWriter, tmp_path: Path, name: str) -> list[int]:
    """Recover a copy of what the (still open) writer has put on disk so far."""
    crashed = tmp_path / name
    crashed.mkdir()
    shutil.copy(writer.mcap_path, crashed / f"{name}_0.mcap")
    recover_bag(crashed)
    return _recovered_indexes(crashed)


def test_chunks_reach_disk_by_log_time_and_by_wall_clock(tmp_path, make_wrench):
    interval = 200_000_000
    writer = BagWriter(tmp_path / "live", flush_interval_ns=interval, fsync=False)
    channel = writer.add_topic("/ft", "geometry_msgs/msg/WrenchStamped")
    for i in range(10):
        writer.write(channel, make_wrench(i, 0, "ft"), 10**18 + i * 80_000_000, 10**18)
    # 80 ms apart: a chunk closes with the message that makes it span >= 200 ms, so
    # chunks {0..3} and {4..7} are on disk and {8, 9} still in memory.
    assert _recover_copy(writer, tmp_path, "by_log_time") == list(range(8))
    writer.write(channel, make_wrench(10, 0, "ft"), 10**18 + 10 * 80_000_000, 10**18)
    assert not writer.flush_if_due()  # chunk opened just now
    time.sleep(interval / 1e9 * 1.5)
    assert writer.flush_if_due()
    assert _recover_copy(writer, tmp_path, "by_wall_clock") == list(range(11))
    writer.close()
