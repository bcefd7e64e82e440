"""Fuzz the raw tier: a real recorded episode's MCAP bytes, ``metadata.yaml``, ``episode.json``
and CDR payloads, damaged, through every reader of raw episodes.

The episode is written once per session by the synthetic robot (1 s, five streams: an 8x6
camera, joint states, a gripper, an IMU and a wrench at <= 50 Hz; uncompressed and zstd
chunks of 4 KiB, so that damage hits one chunk of many). Each example copies it into a
fresh directory, damages one file and reads the copy.

Property, for every reader: it returns, or raises one of collector's errors
(:class:`~collector.errors.CollectorError`) with a one-line message naming the damaged
file (CDR decoding and sync: the message type or stream); never another exception, never
a hang (``_budget.HANG_SECONDS``). Reading never changes the files. ``collector recover``
either rebuilds the bag, keeping the original bytes as ``<file>.orig``, into a bag that
then reads without error, or raises one line and leaves the recording as it was.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from mcap.reader import make_reader
from mcap.writer import Writer

from collector import cdr
from collector.bag.inspect import format_summary, header_stamp_ns, inspect_bag
from collector.bag.metadata import METADATA_FILENAME, read_metadata
from collector.bag.reader import open_bag
from collector.bag.recover import ORIG_SUFFIX
from collector.capture.recovery import recover_episode
from collector.episode import EPISODE_FILE, STATUSES, EpisodeInfo, StreamStats, read_episode_info
from tests.fuzz import _budget, strategies
from tests.fuzz._budget import check_error, fuzz

COMPRESSIONS = ["none", "zstd"]
START_NS = 1_750_000_000_000_000_000
STREAMS = ["head_rgb", "joint_states", "left_gripper", "imu", "left_wrench"]


@dataclass(frozen=True)
class RawEpisode:
    """One recorded episode, in memory: its files, where its MCAP records start, its payloads."""

    name: str
    files: dict[str, bytes]
    mcap_name: str
    record_offsets: list[int]
    payloads: dict[str, list[bytes]]  # message type -> CDR payloads, in log-time order
    file_order: list[bytes]  # every payload, in the order the MCAP file holds them

    def __repr__(self) -> str:  # hypothesis prints the test's arguments with a failure
        return f"<RawEpisode {self.name}: {', '.join(f'{k} ({len(v)} B)' for k, v in self.files.items())}>"

    def _repr_pretty_(self, printer, _cycle) -> None:  # hypothesis's printer, which unpacks dataclasses
        printer.text(repr(self))

    @property
    def mcap(self) -> bytes:
        return self.files[self.mcap_name]

    def copy_to(self, folder: str | Path, **replace: bytes | None) -> Path:
        """The episode written into ``folder``; ``replace`` maps a file's role ("mcap",
        "metadata", "episode") to new bytes, or None to leave that file out."""
        roles = {"mcap": self.mcap_name, "metadata": METADATA_FILENAME, "episode": EPISODE_FILE}
        path = Path(folder) / self.name
        path.mkdir()
        files = dict(self.files)
        for role, data in replace.items():
            if data is None:
                files.pop(roles[role])
            else:
                files[roles[role]] = data
        for name, data in files.items():
            (path / name).write_bytes(data)
        return path


def _small_rig():
    from collector.rig import keep_streams, load_rig, parse_rig

    doc = keep_streams(yaml.safe_load(load_rig("baoan_humanoid").text), STREAMS)
    for stream in doc["streams"]:
        if stream["role"] == "camera":
            stream["width"], stream["height"] = 8, 6
        stream["rate_hz"] = min(stream["rate_hz"], 50)
    return parse_rig(yaml.safe_dump(doc, sort_keys=False), source="fuzz_rig.yaml")


def _record_offsets(data: bytes) -> list[int]:
    """Offsets of the top-level MCAP records (after the magic), the end of file included."""
    offsets, position = [], 8
    while position + 9 <= len(data):
        offsets.append(position)
        (length,) = struct.unpack_from("<Q", data, position + 1)
        position += 9 + length
    return offsets + [len(data)]


@pytest.fixture(scope="session")
def episodes(tmp_path_factory) -> dict[str, RawEpisode]:
    from collector.drivers.synthetic_episode import write_synthetic_episode

    rig = _small_rig()
    out: dict[str, RawEpisode] = {}
    for compression in COMPRESSIONS:
        episode = write_synthetic_episode(tmp_path_factory.mktemp(f"fuzz_{compression}"), rig, seconds=1.0, seed=1,
                                          start_ns=START_NS, task="pick the part", operator="op7",
                                          chunk_size=4096, compression=compression)
        files = {p.name: p.read_bytes() for p in episode.path.iterdir()}
        (mcap_name,) = [name for name in files if name.endswith(".mcap")]
        payloads: dict[str, list[bytes]] = {}
        with open_bag(episode.path) as bag:
            types = {t.name: t.msgtype for t in bag.topics}
            for message in bag.messages():
                payloads.setdefault(types[message.topic], []).append(bytes(message.data))
        file_order = [bytes(m.data) for _, _, m in make_reader(io.BytesIO(files[mcap_name])).iter_messages(
            log_time_order=False)]
        out[compression] = RawEpisode(name=episode.path.name, files=files, mcap_name=mcap_name,
                                      record_offsets=_record_offsets(files[mcap_name]), payloads=payloads,
                                      file_order=file_order)
    return out


def _snapshot(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def _read_bag(path: Path) -> int:
    """Everything the bag reader offers, read; returns the number of messages."""
    count = 0
    with open_bag(path) as bag:
        assert bag.message_count >= 0 and isinstance(bag.topics, list)
        for ordered in (True, False):
            count = sum(1 for _ in bag.messages(ordered=ordered))
        for attachment in bag.attachments():
            assert isinstance(attachment.data, bytes)
        assert isinstance(bag.mcap_metadata(), dict)
    return count


def _bag_edits(episode: RawEpisode):
    return strategies.byte_edits(episode.mcap, max_edits=4, hotspots=episode.record_offsets)


compression_cases = pytest.mark.parametrize("compression", COMPRESSIONS)


# --------------------------------------------------------------------------- MCAP bytes


@compression_cases
@fuzz
@_budget.PROFILE
@given(data=st.data())
def test_bag_bytes_through_the_reader(episodes, compression, data):
    episode = episodes[compression]
    damaged = data.draw(_bag_edits(episode), label="mcap")
    with_metadata = data.draw(st.booleans(), label="with metadata.yaml")
    with tempfile.TemporaryDirectory() as folder:
        path = episode.copy_to(folder, mcap=damaged,
                               metadata=episode.files[METADATA_FILENAME] if with_metadata else None)
        before = _snapshot(path)
        try:
            _read_bag(path)
        except Exception as err:
            check_error(err, str(path))
        assert _snapshot(path) == before


@compression_cases
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy on damaged doubles: overflow, NaN
@fuzz
@_budget.PROFILE
@given(data=st.data())
def test_bag_bytes_through_inspect_and_sync(episodes, compression, data):
    """What ``collector inspect`` and ``collector export`` read of an episode: the bag
    summary, the rig stored in the bag, the decoded timelines, the sync."""
    from collector.sync import synchronize

    episode = episodes[compression]
    damaged = data.draw(_bag_edits(episode), label="mcap")
    with tempfile.TemporaryDirectory() as folder:
        path = episode.copy_to(folder, mcap=damaged)
        before = _snapshot(path)
        try:
            format_summary(inspect_bag(path))
        except Exception as err:
            check_error(err, str(path))
        try:
            synchronize(path, keep=True)
        except Exception as err:
            check_error(err, str(path), *STREAMS)
        _inspect_command(path)
        assert _snapshot(path) == before


@compression_cases
@fuzz
@_budget.PROFILE
@given(data=st.data())
def test_bag_bytes_through_recover(episodes, compression, data):
    """``collector recover`` on a damaged or cut bag, with or without ``metadata.yaml``."""
    episode = episodes[compression]
    damaged = data.draw(_bag_edits(episode), label="mcap")
    with_metadata = data.draw(st.booleans(), label="with metadata.yaml")
    status = data.draw(st.sampled_from(["recording", "complete"]), label="status")
    info = json.loads(episode.files[EPISODE_FILE])
    info["status"], info["end_reason"], info["stop_ns"] = status, "", None
    with tempfile.TemporaryDirectory() as folder:
        path = episode.copy_to(folder, mcap=damaged, episode=json.dumps(info).encode(),
                               metadata=episode.files[METADATA_FILENAME] if with_metadata else None)
        mcap = path / episode.mcap_name
        before = _snapshot(path)
        try:
            result = recover_episode(path)
        except Exception as err:
            check_error(err, str(path))
            after = _snapshot(path)
            kept = after.get(mcap.name + ORIG_SUFFIX, after.get(mcap.name))
            assert kept == damaged, "the recording's bytes are gone"
            assert not [name for name in after if name.endswith(".recovering")], "temporary file left"
            return
        after = _snapshot(path)
        assert not [name for name in after if name.endswith(".recovering")], "temporary file left"
        (file,) = result.files
        _budget.outcome("left the file alone" if file.complete else "rebuilt the file")
        if file.complete:  # left alone: only a file that reads whole
            assert after[mcap.name] == damaged and mcap.name + ORIG_SUFFIX not in after
            assert _read_bag(path) == result.message_count
            return
        assert after[mcap.name + ORIG_SUFFIX] == damaged, "original not kept as .orig"
        if with_metadata:
            assert after[METADATA_FILENAME + ORIG_SUFFIX] == before[METADATA_FILENAME]
        assert _read_bag(path) == result.message_count  # the rebuilt bag reads, whole
        format_summary(inspect_bag(path))
        assert read_episode_info(path).status == "recovered"
        assert recover_episode(path).already_complete  # and is complete: a second recover changes nothing


# --------------------------------------------------------------------------- metadata.yaml


METADATA_SPECIALS = [strategies.special(data, what) for data, what in [
    (b"", "empty"), (b"\xff\xfe", "not UTF-8"), (b"[" * 1200, "1200 x ["), (b"{a: " * 1200, "1200 x {a: "),
    (b"rosbag2_bagfile_information: " + b"9" * 5000, "a 5000-digit integer"),
    (b"rosbag2_bagfile_information:\n  version: 9\n  relative_file_paths: ['a\\nb']\n", "a file name with a newline"),
]]
EPISODE_SPECIALS = [strategies.special(data, what) for data, what in [
    (b"", "empty"), (b"null", "null"), (b"[]", "[]"), (b"\xff", "not UTF-8"), (b"[" * 100_000, "100000 x ["),
    (b'{"a": ' * 5000, '5000 x {"a": '), (b"9" * 5000, "a 5000-digit integer"), (b'{"start_ns": NaN}', "NaN"),
    (b'{"start_ns": ' + b"9" * 5000 + b"}", "start_ns: a 5000-digit integer"),
]]


def _read_metadata_everywhere(path: Path) -> None:
    before = _snapshot(path)
    try:
        read_metadata(path)
        _budget.outcome("read")
    except Exception as err:
        check_error(err, str(path / METADATA_FILENAME))
    try:
        _read_bag(path)
    except Exception as err:
        check_error(err, str(path))
    assert _snapshot(path) == before
    # the MCAP file is whole: recover must make the bag read again, keeping the damaged file
    result = recover_episode(path)
    if not result.already_complete:
        _budget.outcome("recover rewrote metadata.yaml")
        assert (path / (METADATA_FILENAME + ORIG_SUFFIX)).read_bytes() == before[METADATA_FILENAME]
    _read_bag(path)


@fuzz
@_budget.PROFILE
@given(data=st.data())
def test_metadata_yaml_structural_edits(episodes, data):
    episode = episodes[data.draw(st.sampled_from(COMPRESSIONS))]
    doc = yaml.safe_load(episode.files[METADATA_FILENAME])
    edited = data.draw(st.one_of(strategies.mutated_document(doc), strategies.tweaked_document(doc)), label="metadata")
    text = yaml.safe_dump(edited, allow_unicode=True, sort_keys=False).encode("utf-8")
    with tempfile.TemporaryDirectory() as folder:
        _read_metadata_everywhere(episode.copy_to(folder, metadata=text))


@fuzz
@_budget.PROFILE
@given(data=st.data())
def test_metadata_yaml_byte_edits(episodes, data):
    episode = episodes[data.draw(st.sampled_from(COMPRESSIONS))]
    if data.draw(st.integers(0, 9)) == 0:  # the slow ones (deep nesting) seldom
        text = data.draw(st.sampled_from(METADATA_SPECIALS), label="metadata")
    else:
        text = data.draw(strategies.byte_edits(episode.files[METADATA_FILENAME], max_edits=3), label="metadata")
    with tempfile.TemporaryDirectory() as folder:
        _read_metadata_everywhere(episode.copy_to(folder, metadata=text))


# --------------------------------------------------------------------------- episode.json


def _check_info(info: EpisodeInfo) -> None:
    """What a returned EpisodeInfo promises its users: the documented types."""
    for name in ("episode_id", "rig", "site", "robot", "task", "operator", "status", "end_reason", "bag"):
        assert isinstance(getattr(info, name), str), name
    assert isinstance(info.start_ns, int) and (info.stop_ns is None or isinstance(info.stop_ns, int))
    assert info.success in (None, True, False)
    assert isinstance(info.notes, list) and all(isinstance(n, str) for n in info.notes)
    assert isinstance(info.software, dict) and isinstance(info.extra, dict)
    assert isinstance(info.duration_s, float)
    for stats in info.streams.values():
        assert isinstance(stats, StreamStats)
        assert isinstance(stats.topic, str) and stats.nominal_rate_hz > 0
        assert isinstance(stats.count, int) and isinstance(stats.rate_hz, float)
    json.dumps(info.to_dict())


def _inspect_command(path: Path) -> None:
    """``collector inspect --json PATH``: exit code 0, or 1 with one ``error:`` line."""
    from collector.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["inspect", "--json", str(path)])
    if code == 0:
        json.loads(out.getvalue())
    else:
        assert code == 1, code
        lines = err.getvalue().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and str(path) in lines[0], lines


def _read_episode_everywhere(path: Path) -> None:
    before = _snapshot(path)
    try:
        _check_info(read_episode_info(path))
        _budget.outcome("read")
    except Exception as err:
        check_error(err, str(path / EPISODE_FILE))
    _inspect_command(path)
    assert _snapshot(path) == before
    try:  # recover rewrites episode.json of an unfinished episode; the bag is complete: kept
        recover_episode(path)
    except Exception as err:
        check_error(err, str(path))
    after = _snapshot(path)
    assert {k: v for k, v in after.items() if k != EPISODE_FILE} == \
        {k: v for k, v in before.items() if k != EPISODE_FILE}


@fuzz
@_budget.PROFILE
@given(data=st.data())
def test_episode_json_structural_edits(episodes, data):
    episode = episodes["none"]
    doc = json.loads(episode.files[EPISODE_FILE])
    if data.draw(st.booleans()):  # an unfinished episode: recover recounts it
        doc["status"] = data.draw(st.sampled_from(STATUSES))
    edited = data.draw(st.one_of(
        strategies.mutated_document(doc, values=strategies.odd_json_values, keys=strategies.json_keys),
        strategies.tweaked_document(doc),
    ), label="episode.json")
    text = json.dumps(edited, ensure_ascii=data.draw(st.booleans())).encode("utf-8")
    with tempfile.TemporaryDirectory() as folder:
        _read_episode_everywhere(episode.copy_to(folder, episode=text))


@fuzz
@_budget.PROFILE
@given(data=st.data())
def test_episode_json_byte_edits(episodes, data):
    episode = episodes["none"]
    if data.draw(st.integers(0, 9)) == 0:
        text = data.draw(st.sampled_from(EPISODE_SPECIALS), label="episode.json")
    else:
        text = data.draw(strategies.byte_edits(episode.files[EPISODE_FILE], max_edits=3), label="episode.json")
    with tempfile.TemporaryDirectory() as folder:
        _read_episode_everywhere(episode.copy_to(folder, episode=text))


# --------------------------------------------------------------------------- CDR payloads


DECODERS = {
    cdr.JOINT_STATE: lambda messages: cdr.decode_joint_states(messages).position,
    cdr.IMU: lambda messages: cdr.decode_imus(messages).orientation,
    cdr.WRENCH: lambda messages: cdr.decode_wrenches(messages).force,
    cdr.IMAGE: lambda messages: [cdr.decode_image(m, index=i).data for i, m in enumerate(messages)],
}


@pytest.mark.parametrize("msgtype", sorted(DECODERS))
@fuzz
@_budget.PROFILE
@given(data=st.data())
def test_cdr_payload_edits(episodes, msgtype, data):
    """Recorded messages with some damaged, decoded as sync decodes a stream (in batches)."""
    payloads = episodes["none"].payloads[msgtype]
    start = data.draw(st.integers(0, len(payloads) - 1))
    batch = list(payloads[start:start + data.draw(st.integers(1, 8))])
    for _ in range(data.draw(st.integers(1, 3))):
        index = data.draw(st.integers(0, len(batch) - 1))
        batch[index] = data.draw(strategies.byte_edits(batch[index], max_edits=3), label=f"message {index}")
    if data.draw(st.booleans()):  # bytearray / memoryview: what a zero-copy reader hands out
        batch = [memoryview(bytearray(m)) for m in batch]
    for message in batch:
        stamp = header_stamp_ns(message)
        assert stamp is None or isinstance(stamp, int)
    try:
        stamps = cdr.header_stamps(batch)
        assert stamps.shape == (len(batch),)
    except Exception as err:
        check_error(err, "message")
    try:
        values = DECODERS[msgtype](batch)
        assert len(values) == len(batch)
        for array in values:
            np.array(array, copy=True)  # touch every value: a view past the message would fault here
    except Exception as err:
        check_error(err, msgtype)


def _rewrite(original: bytes, damaged: dict[int, bytes]) -> bytes:
    """The MCAP ``original`` written anew with the payloads of messages ``damaged`` (by
    index in file order) replaced: a valid bag (indexes, CRCs) around damaged CDR."""
    reader = make_reader(io.BytesIO(original))
    summary = reader.get_summary()
    out = io.BytesIO()
    writer = Writer(out, chunk_size=4096)
    writer.start(profile="ros2", library="fuzz")
    schemas = {sid: writer.register_schema(s.name, s.encoding, s.data) for sid, s in summary.schemas.items()}
    channels = {cid: writer.register_channel(c.topic, c.message_encoding, schemas.get(c.schema_id, 0), c.metadata)
                for cid, c in summary.channels.items()}
    for index, (_schema, channel, message) in enumerate(reader.iter_messages(log_time_order=False)):
        writer.add_message(channels[channel.id], message.log_time, damaged.get(index, message.data),
                           message.publish_time, message.sequence)
    for item in reader.iter_attachments():
        writer.add_attachment(item.create_time, item.log_time, item.name, item.media_type, item.data)
    for item in reader.iter_metadata():
        writer.add_metadata(item.name, item.metadata)
    writer.finish()
    return out.getvalue()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy on damaged doubles: overflow, NaN
@fuzz
@_budget.PROFILE
@given(data=st.data())
def test_damaged_payloads_through_sync(episodes, data):
    """A valid bag whose CDR payloads are damaged, read as export reads it (sync decodes
    every numeric stream) and as inspect reads it (header stamps)."""
    from collector.sync import synchronize

    episode = episodes["none"]
    chosen = data.draw(st.lists(st.integers(0, len(episode.file_order) - 1), min_size=1, max_size=4, unique=True))
    damaged = {i: data.draw(strategies.byte_edits(episode.file_order[i], max_edits=3), label=f"message {i}")
               for i in chosen}
    rebuilt = _rewrite(episode.mcap, damaged)
    with tempfile.TemporaryDirectory() as folder:
        path = episode.copy_to(folder, mcap=rebuilt)
        before = _snapshot(path)
        format_summary(inspect_bag(path))  # a valid bag: inspect never decodes beyond the stamp
        try:
            synchronize(path, keep=True)
        except Exception as err:
            check_error(err, *STREAMS)
        assert _snapshot(path) == before


def test_the_fuzzed_episode_is_whole(episodes, tmp_path):
    """The undamaged copies read, inspect, sync and recover (as complete) without error."""
    from collector.sync import synchronize

    for compression, episode in episodes.items():
        (tmp_path / compression).mkdir()
        path = episode.copy_to(tmp_path / compression)
        assert _read_bag(path) == len(episode.file_order) == sum(len(p) for p in episode.payloads.values())
        assert {p for p in episode.payloads} == set(DECODERS)
        synchronize(path)
        _check_info(read_episode_info(path))
        assert recover_episode(path).already_complete
        shutil.rmtree(path)
