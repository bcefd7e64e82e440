"""episode.json: stream statistics, atomic round trip, directory naming and discovery."""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from pathlib import Path

import pytest

from collector.episode import (
    EPISODE_FILE,
    EpisodeInfo,
    StreamStats,
    find_episodes,
    new_episode_dir,
    read_episode_info,
    write_episode_info,
)
from collector.errors import EpisodeError
from collector.latency import RELATIVE_ERROR, LatencySummary
from collector.rig import SyncLimits, load_rig

START_NS = 1_750_000_000_123_456_789  # an epoch time, not a round number


def _receive_times(rate_hz: float, count: int, hole_at: int, missing: int) -> list[int]:
    """``count`` receive times at ``rate_hz`` with ``missing`` messages absent after index ``hole_at``."""
    period_ns = round(1e9 / rate_hz)
    slots = [i for i in range(count + missing) if not hole_at < i <= hole_at + missing]
    return [START_NS + i * period_ns for i in slots]


def _stats(rate_hz: float, times: list[int], size: int = 100) -> StreamStats:
    stats = StreamStats(topic="/imu/data", type="sensor_msgs/msg/Imu", role="imu", nominal_rate_hz=rate_hz)
    for receive_ns in times:
        stats.add(receive_ns, size)
    return stats


@pytest.mark.parametrize("rate_hz", [30.0, 100.0, 500.0])
@pytest.mark.parametrize("missing", [2, 3, 17])
def test_stream_stats_counts_one_hole(rate_hz, missing):
    count = 200
    times = _receive_times(rate_hz, count, hole_at=50, missing=missing)
    stats = _stats(rate_hz, times, size=64)
    assert stats.count == count
    assert stats.bytes == 64 * count
    assert stats.gaps == 1
    assert stats.missing == missing and stats.drops == 0
    assert stats.first_receive_ns == times[0]
    assert stats.last_receive_ns == times[-1]
    assert stats.largest_gap_ns == (missing + 1) * round(1e9 / rate_hz)
    # mean rate over the span: fewer messages than nominal by exactly the hole
    assert stats.rate_hz == pytest.approx(rate_hz * (count - 1) / (count - 1 + missing), rel=1e-6)


def test_stream_stats_steady_stream_has_no_gaps():
    stats = _stats(100.0, _receive_times(100.0, 50, hole_at=0, missing=0))
    assert (stats.gaps, stats.missing, stats.drops) == (0, 0, 0)
    assert stats.rate_hz == pytest.approx(100.0)


@pytest.mark.parametrize("count", [0, 1])
def test_stream_stats_rate_needs_two_messages(count):
    stats = _stats(100.0, [START_NS] * count)
    assert stats.rate_hz == 0.0


def test_stream_stats_clock_reset_threshold_follows_the_rate():
    # ten periods of a 1 Hz stream (not the 0.5 s floor): back 6 s is a late message, back 10 s + 1 ns a reset
    slow = _stats(1.0, [START_NS, START_NS + 10 * 10**9])
    slow.add(START_NS + 10 * 10**9 + 1, 10, START_NS + 4 * 10**9)
    assert slow.clock_resets == 0
    slow.add(START_NS + 10 * 10**9 + 2, 10, START_NS - 1)
    assert slow.clock_resets == 1


HEADER_CAMERA = replace(load_rig("baoan_humanoid").stream("head_rgb"), clock="header")
MS = 1_000_000


def test_header_stream_measures_latency_from_stamps():
    stats = StreamStats.for_stream(HEADER_CAMERA, SyncLimits(clock_tolerance_ms=2.0))
    latencies = [8 * MS + k * 10_000 for k in range(100)] + [-3 * MS]  # the last one is 3 ms ahead
    for k, latency in enumerate(latencies):
        receive_ns = START_NS + k * 33_333_333
        stats.add(receive_ns, 100, receive_ns - latency)
    stats.add(START_NS + 200 * 33_333_333, 100, 0)  # no stamp: no latency
    stats.add(START_NS + 201 * 33_333_333, 100, None)
    assert stats.latency_ms is None  # summarised when serialised
    latency = stats.to_dict()["latency_ms"]
    assert stats.latency_ms == LatencySummary(**latency)
    assert (latency["count"], latency["ahead"]) == (101, 1)
    assert (latency["min"], latency["max"]) == (-3.0, 8.99)
    exact = sorted(latencies)
    for value, exact_ns in ((latency["median"], exact[50]), (latency["p99"], exact[99])):
        assert abs(value - exact_ns / 1e6) <= RELATIVE_ERROR * exact_ns / 1e6 + 0.0005  # + rounding to the µs


@pytest.mark.parametrize("change", [{"clock": "device"}, {"clock": "receive"}, {"type": "std_msgs/msg/String"}])
def test_other_streams_measure_no_latency(change):
    stats = StreamStats.for_stream(replace(HEADER_CAMERA, **change))
    stats.add(START_NS, 100, START_NS - 8 * MS)
    assert stats.to_dict()["latency_ms"] is None


def test_header_stream_without_messages_has_no_latency():
    assert StreamStats.for_stream(HEADER_CAMERA).to_dict()["latency_ms"] is None


def _episode(**overrides) -> EpisodeInfo:
    imu = _stats(200.0, _receive_times(200.0, 400, hole_at=100, missing=5))
    head = StreamStats.for_stream(HEADER_CAMERA)
    for receive_ns in _receive_times(30.0, 60, hole_at=0, missing=0):
        head.add(receive_ns, 921_600, receive_ns - 8 * MS - receive_ns % 997_000)
    fields = dict(
        episode_id="baoan_humanoid_20250615_120000_000",
        rig="baoan_humanoid",
        site="baoan",
        robot="collector_upper_body_v1",
        task="insert the USB-C cable",
        operator="李雷",
        success=True,
        status="complete",
        end_reason="operator",
        start_ns=START_NS,
        stop_ns=START_NS + 2_500_000_000,
        bag="bag",
        streams={"imu": imu, "head_rgb": head},
        software={"collector": "0.1.0"},
        notes=["cable slipped once"],
        extra={"scene": {"table": "B3"}},
    )
    fields.update(overrides)
    return EpisodeInfo(**fields)


def test_round_trip(tmp_path):
    info = _episode()
    path = write_episode_info(tmp_path, info)
    assert path == tmp_path / EPISODE_FILE
    back = read_episode_info(tmp_path)
    assert back == info
    assert back.streams["imu"].gaps == 1 and back.streams["imu"].missing == 5
    assert back.duration_s == pytest.approx(2.5)
    assert back.streams["imu"].latency_ms is None
    latency = back.streams["head_rgb"].latency_ms
    assert latency is not None and latency.count == 60 and 8.0 <= latency.min <= latency.median <= latency.max < 9.0


def test_file_without_latency_still_reads(tmp_path):
    """episode.json written before latency was measured has no ``latency_ms`` key."""
    data = _valid_dict()
    for stream in data["streams"].values():
        del stream["latency_ms"]
    _write_raw(tmp_path, json.dumps(data))
    back = read_episode_info(tmp_path)
    assert {name: s.latency_ms for name, s in back.streams.items()} == {"imu": None, "head_rgb": None}
    assert back.streams["head_rgb"].count == 60


def test_json_content_read_independently(tmp_path):
    """The file is plain JSON a tool without collector can read."""
    info = _episode()
    write_episode_info(tmp_path, info)
    raw = json.loads((tmp_path / EPISODE_FILE).read_text(encoding="utf-8"))
    assert raw["schema_version"] == 1
    assert raw["duration_s"] == 2.5
    assert raw["operator"] == "李雷"
    imu = raw["streams"]["imu"]
    assert (imu["count"], imu["gaps"], imu["missing"]) == (400, 1, 5)
    assert imu["rate_hz"] == round(info.streams["imu"].rate_hz, 3)
    assert imu["rate_hz"] < 200.0


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path):
    write_episode_info(tmp_path, _episode(status="recording", end_reason="", stop_ns=None))
    write_episode_info(tmp_path, _episode())
    assert sorted(p.name for p in tmp_path.iterdir()) == [EPISODE_FILE]
    assert read_episode_info(tmp_path).status == "complete"


def test_failed_write_keeps_previous_file(tmp_path, monkeypatch):
    first = _episode(status="recording", end_reason="", stop_ns=None)
    write_episode_info(tmp_path, first)

    def broken_fsync(fd):
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk on fire"):
        write_episode_info(tmp_path, _episode())
    assert sorted(p.name for p in tmp_path.iterdir()) == [EPISODE_FILE]
    assert read_episode_info(tmp_path) == first


@pytest.mark.parametrize(("field", "value"), [("status", "finished"), ("end_reason", "bored")])
def test_invalid_status_rejected(field, value):
    with pytest.raises(EpisodeError, match=repr(value)):
        _episode(**{field: value})


def _write_raw(folder: Path, text: str) -> Path:
    path = folder / EPISODE_FILE
    path.write_text(text, encoding="utf-8")
    return path


def _valid_dict() -> dict:
    return _episode().to_dict()


def _latency() -> dict:
    return _valid_dict()["streams"]["head_rgb"]["latency_ms"]


def _with_latency(value) -> str:
    data = _valid_dict()
    data["streams"]["head_rgb"]["latency_ms"] = value
    return json.dumps(data)


BAD_FILES = [
    pytest.param(lambda: "{not json", "", id="corrupt-json"),
    pytest.param(lambda: "", "", id="empty"),
    pytest.param(lambda: "[1, 2]", "JSON object", id="list-not-object"),
    pytest.param(lambda: json.dumps({**_valid_dict(), "status": "finished"}), "'finished'", id="bad-status"),
    pytest.param(lambda: json.dumps({**_valid_dict(), "mood": "happy"}), "mood", id="unknown-field"),
    pytest.param(lambda: json.dumps({k: v for k, v in _valid_dict().items() if k != "rig"}), "rig", id="missing-field"),
    pytest.param(lambda: json.dumps({**_valid_dict(), "streams": ["imu"]}), "", id="streams-not-object"),
    # found by tests/fuzz: wrong types used to be accepted (and crash the readers later) or
    # to raise a TypeError whose message repeated an odd key with its newline
    pytest.param(lambda: json.dumps({**_valid_dict(), "start_ns": "soon"}), "start_ns", id="time-not-int"),
    pytest.param(lambda: json.dumps({**_valid_dict(), "start_ns": float("nan")}), "start_ns", id="time-nan"),
    pytest.param(lambda: json.dumps({**_valid_dict(), "stop_ns": 10**30}), "stop_ns", id="time-beyond-int64"),
    pytest.param(lambda: json.dumps({**_valid_dict(), "success": "yes"}), "success", id="success-not-bool"),
    pytest.param(lambda: json.dumps({**_valid_dict(), "notes": "one"}), "notes", id="notes-not-list"),
    pytest.param(lambda: json.dumps({**_valid_dict(), "a\nb": 1}), "'a\\nb'", id="key-with-newline"),
    pytest.param(lambda: json.dumps({**_valid_dict(), "streams": {"imu": {**_valid_dict()["streams"]["imu"],
                                                                        "nominal_rate_hz": 0}}}),
                 "nominal_rate_hz", id="rate-zero"),
    pytest.param(lambda: json.dumps({**_valid_dict(), "streams": {"imu": {"topic": "/imu"}}}), "type",
                 id="stream-missing-field"),
    pytest.param(lambda: '{"start_ns": ' + "9" * 5000 + "}", "4300", id="integer-too-long"),
    pytest.param(lambda: _with_latency({"count": 3}), "latency_ms: missing key 'min'", id="latency-missing-key"),
    pytest.param(lambda: _with_latency({**_latency(), "median": "8 ms"}), "latency_ms.median", id="latency-not-number"),
    pytest.param(lambda: _with_latency({**_latency(), "mean": 8.0}), "'mean'", id="latency-unknown-key"),
    pytest.param(lambda: _with_latency([8.0]), "latency_ms", id="latency-not-object"),
    pytest.param(lambda: "[" * 100_000, "nested too deeply", id="nested-too-deeply"),
]


@pytest.mark.parametrize(("make_text", "fragment"), BAD_FILES)
def test_bad_episode_json_names_path(tmp_path, make_text, fragment):
    path = _write_raw(tmp_path, make_text())
    with pytest.raises(EpisodeError) as excinfo:
        read_episode_info(tmp_path)
    assert str(path) in str(excinfo.value)
    assert fragment in str(excinfo.value)
    assert str(excinfo.value).splitlines() == [str(excinfo.value)]


def test_missing_episode_json_names_path(tmp_path):
    with pytest.raises(EpisodeError) as excinfo:
        read_episode_info(tmp_path)
    assert str(tmp_path / EPISODE_FILE) in str(excinfo.value)


def test_new_episode_dir_skips_existing(tmp_path):
    now_ns = START_NS
    stamp = time.strftime("%Y%m%d_%H%M%S", time.localtime(now_ns / 1e9))
    first = new_episode_dir(tmp_path, "baoan_humanoid", now_ns=now_ns)
    assert first == tmp_path / f"baoan_humanoid_{stamp}_000"
    assert not first.exists()  # a name, not a directory
    first.mkdir()
    (tmp_path / f"baoan_humanoid_{stamp}_001").write_text("a file also blocks the name")
    third = new_episode_dir(tmp_path, "baoan_humanoid", now_ns=now_ns)
    assert third == tmp_path / f"baoan_humanoid_{stamp}_002"


@pytest.mark.parametrize("rig", ["../../etc", "a/b", "..", "bad name\n"])
def test_new_episode_dir_sanitises_rig(tmp_path, rig):
    path = new_episode_dir(tmp_path, rig, now_ns=START_NS)
    assert path.parent == tmp_path
    assert ".." not in path.name and "/" not in path.name and "\n" not in path.name


def test_find_episodes(tmp_path):
    names = ["ep_b", "ep_a", "ep_c"]
    for name in names:
        (tmp_path / name).mkdir()
        write_episode_info(tmp_path / name, _episode(episode_id=name))
    (tmp_path / "not_an_episode").mkdir()
    (tmp_path / "stray.json").write_text("{}")
    found = find_episodes(tmp_path)
    assert found == [tmp_path / n for n in sorted(names)]
    assert find_episodes(tmp_path / "ep_a") == [tmp_path / "ep_a"]
    assert find_episodes(tmp_path / "not_an_episode") == []
