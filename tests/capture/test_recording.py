"""The recording session without ROS: episodes, statistics, labels, disk reserve, writer failures."""

from __future__ import annotations

import struct
import time

import pytest

from collector.bag.reader import open_bag
from collector.capture.recording import Recorder, RecorderConfig
from collector.episode import read_episode_info
from collector.errors import DiskSpaceError, EpisodeError
from collector.rig import load_rig

RIG = load_rig("baoan_humanoid")
INDEX = {s.name: i for i, s in enumerate(RIG.streams)}


def stamped(stamp_ns: int, payload: bytes = b"\x00" * 32) -> bytes:
    """CDR-looking bytes whose first field is a header stamp (all the recorder reads)."""
    return b"\x00\x01\x00\x00" + struct.pack("<iI", stamp_ns // 10**9, stamp_ns % 10**9) + payload


def config(tmp_path, **overrides):
    values = {"rig": RIG, "out": tmp_path / "episodes", "disk_reserve_bytes": 0, "fsync": False}
    values.update(overrides)
    return RecorderConfig(**values)


def wait_written(recorder: Recorder) -> None:
    deadline = time.monotonic() + 5
    while recorder.backlog() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_episode_holds_submitted_messages_and_stats(tmp_path):
    with Recorder(config(tmp_path, task="fold the cloth", operator="op_3")) as recorder:
        info = recorder.start()
        t0 = time.time_ns()
        period = 2_000_000
        sent = 0
        for seq in range(200):
            if 100 <= seq < 110:  # the sensor skipped 10 frames
                continue
            stamp = t0 + seq * period
            # DDS numbers what was published: the skipped frames never were, but 5 messages
            # published after frame 150 were lost on the way.
            recorder.submit(INDEX["joint_states"], stamped(stamp), stamp + 300_000, stamp + 100_000,
                            b"pub", sent + 1 + (5 if seq >= 150 else 0))
            sent += 1
        wait_written(recorder)
        recorder.label(True)
        final = recorder.stop()
    assert final.status == "complete" and final.end_reason == "operator"
    stats = final.streams["joint_states"]
    assert stats.count == sent
    assert (stats.gaps, stats.missing) == (1, 10)   # judged on header stamps
    assert stats.drops == 5                          # the sequence jumped by 5 in transport
    back = read_episode_info(tmp_path / "episodes" / info.episode_id)
    assert back.success is True and back.task == "fold the cloth" and back.operator == "op_3"
    # every message arrived 0.3 ms after its stamp; the streams that sent nothing have no latency
    latency = back.streams["joint_states"].latency_ms
    assert latency == stats.latency_ms
    assert (latency.count, latency.min, latency.max, latency.ahead) == (sent, 0.3, 0.3, 0)
    assert latency.median == latency.p99 == pytest.approx(0.3, rel=0.01)
    assert back.streams["imu"].latency_ms is None
    with open_bag(tmp_path / "episodes" / info.episode_id) as bag:
        counts = {t.name: t.count for t in bag.topics}
        attachments = [a.name for a in bag.attachments()]
    assert counts["/joint_states"] == sent and sum(counts.values()) == sent
    assert "rig_profile.yaml" in attachments


def test_controls_refuse_misuse_and_label_last_episode(tmp_path):
    with Recorder(config(tmp_path)) as recorder:
        with pytest.raises(EpisodeError, match="not recording"):
            recorder.stop()
        with pytest.raises(EpisodeError, match="no episode"):
            recorder.label(False)
        first = recorder.start()
        with pytest.raises(EpisodeError, match="already recording"):
            recorder.start()
        recorder.set_task("new task")
        recorder.stop(discard=True)
        second = recorder.start(task="second task")
        recorder.stop()
        assert recorder.label(False).name == second.episode_id
    out = tmp_path / "episodes"
    assert read_episode_info(out / first.episode_id).status == "discarded"
    assert read_episode_info(out / first.episode_id).task == "new task"
    kept = read_episode_info(out / second.episode_id)
    assert (kept.status, kept.success, kept.task) == ("complete", False, "second task")


def test_latency_per_header_stream_with_stamps_ahead_counted(tmp_path):
    tolerance_ms = RIG.sync.clock_tolerance_ms
    latencies_ms = {"head_rgb": [8.0, 9.0, 30.0], "imu": [0.4, -(tolerance_ms + 1.0), -tolerance_ms]}
    with Recorder(config(tmp_path)) as recorder:
        info = recorder.start()
        receive_ns = time.time_ns()
        for name, values in latencies_ms.items():
            for latency_ms in values:
                receive_ns += 5_000_000
                stamp_ns = receive_ns - round(latency_ms * 1e6)
                recorder.submit(INDEX[name], stamped(stamp_ns), receive_ns, stamp_ns)
        wait_written(recorder)
        recorder.stop()
    back = read_episode_info(tmp_path / "episodes" / info.episode_id)
    head, imu = back.streams["head_rgb"].latency_ms, back.streams["imu"].latency_ms
    assert (head.count, head.min, head.max, head.ahead) == (3, 8.0, 30.0, 0)
    assert head.median == pytest.approx(9.0, rel=0.01)
    # a stamp later than receive by more than sync.clock_tolerance_ms: the clock is not synchronised
    assert (imu.count, imu.min, imu.max, imu.ahead) == (3, -(tolerance_ms + 1.0), 0.4, 1)


def test_disk_reserve_refuses_start(tmp_path):
    with Recorder(config(tmp_path, disk_reserve_bytes=1 << 62)) as recorder:
        with pytest.raises(DiskSpaceError, match="below the reserve"):
            recorder.start()
    assert not list((tmp_path / "episodes").glob("*"))


def test_close_ends_running_episode_as_shutdown(tmp_path):
    recorder = Recorder(config(tmp_path))
    info = recorder.start()
    recorder.submit(INDEX["imu"], stamped(time.time_ns()), time.time_ns(), time.time_ns())
    recorder.close()
    final = read_episode_info(tmp_path / "episodes" / info.episode_id)
    assert (final.status, final.end_reason) == ("complete", "shutdown")
    assert final.streams["imu"].count == 1


def test_max_episode_duration_stops_by_itself(tmp_path):
    with Recorder(config(tmp_path, max_episode_s=0.3)) as recorder:
        recorder.start()
        deadline = time.monotonic() + 5
        while recorder.recording and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not recorder.recording
        assert read_episode_info(recorder.last_episode).end_reason == "duration"


@pytest.mark.parametrize("field,value", [("chunk_size", 10), ("flush_interval_s", 0), ("max_episode_s", -1),
                                         ("disk_reserve_bytes", -5)])
def test_config_rejects_bad_values(tmp_path, field, value):
    with pytest.raises(Exception, match=field):
        config(tmp_path, **{field: value})


def test_writer_backlog_beyond_limit_ends_episode_cleanly(tmp_path):
    recorder = Recorder(config(tmp_path, max_backlog_bytes=10_000))
    try:
        with recorder._lock:  # hold the writer so the queue builds up, as with a stalled disk
            info = recorder.start()
            for _ in range(50):
                stamp = time.time_ns()
                recorder.submit(INDEX["head_rgb"], stamped(stamp, b"\x00" * 1000), stamp, stamp)
        deadline = time.monotonic() + 5
        while recorder.recording and time.monotonic() < deadline:
            time.sleep(0.05)
        final = read_episode_info(tmp_path / "episodes" / info.episode_id)
        assert (final.status, final.end_reason) == ("complete", "backlog")
        # ~10 KB were taken (the limit), then nothing more: memory stayed bounded; all taken was written
        assert 9 <= final.streams["head_rgb"].count <= 12
        assert any("cannot keep up" in note for note in final.notes)
    finally:
        recorder.close()
