"""A publisher restarts mid-episode: the real synthetic robot is killed and started again
while the real recorder records. The silence is a gap and ``stale``, never transport loss."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from collector.capture.recording import Recorder, RecorderConfig
from collector.drivers.synthetic import read_truth
from collector.episode import read_episode_info
from collector.rig import load_rig
from collector.sync import SyncError, synchronize
from tests.faults.helpers import (
    RECORDER,
    SYNTHETIC,
    contiguous_run,
    digest,
    light_rig,
    published,
    read_back,
    wait_ready,
)
from tests.ros.conftest import collector_cli

pytest.importorskip("rosbags", reason="rosbags (the independent reader) is not installed")


def _joint_state(stamp_ns: int) -> bytes:
    from collector.cdr import encode_joint_state

    return encode_joint_state(stamp_ns=stamp_ns, frame_id="base_link", names=["j"], position=[0.0],
                              velocity=[0.0], effort=[0.0])


@pytest.mark.parametrize("same_gid", [False, True], ids=["new_gid", "reused_gid"])
def test_sequence_numbers_starting_again_are_not_counted_as_loss(tmp_path, same_gid):
    """A restarted publisher numbers its messages from 1 again; a real hole in one publisher's
    numbers is still counted exactly."""
    rig = load_rig("baoan_humanoid")
    index = next(i for i, s in enumerate(rig.streams) if s.name == "left_gripper")
    config = RecorderConfig(rig=rig, out=tmp_path, disk_reserve_bytes=0, fsync=False)
    first, second = b"\x01" * 16, (b"\x01" if same_gid else b"\x02") * 16
    t0 = 1_750_000_000_000_000_000
    with Recorder(config) as recorder:
        recorder.start()
        for seq in range(1, 101):  # 1 s at 100 Hz, then 5 missing (seq 101..105), then 1 s more
            recorder.submit(index, _joint_state(t0 + seq * 10_000_000), t0 + seq * 10_000_000, 0, first, seq)
        for seq in range(106, 201):
            recorder.submit(index, _joint_state(t0 + seq * 10_000_000), t0 + seq * 10_000_000, 0, first, seq)
        restart = t0 + 4_000_000_000  # 2 s of silence, then the driver is back, from seq 1
        for seq in range(1, 101):
            recorder.submit(index, _joint_state(restart + seq * 10_000_000), restart + seq * 10_000_000, 0,
                            second, seq)
        info = recorder.stop()
    stats = info.streams["left_gripper"]
    assert stats.count == 100 + 95 + 100
    assert stats.drops == 5, "only the real hole is transport loss"
    assert stats.publishers == (1 if same_gid else 2)
    assert stats.gaps == 2 and stats.largest_gap_ns == restart + 10_000_000 - (t0 + 200 * 10_000_000)


def test_two_publishers_on_one_topic_count_separately(tmp_path):
    """Two drivers on one topic, interleaved, each numbering its own messages: no loss, two publishers."""
    rig = load_rig("baoan_humanoid")
    index = next(i for i, s in enumerate(rig.streams) if s.name == "left_gripper")
    config = RecorderConfig(rig=rig, out=tmp_path, disk_reserve_bytes=0, fsync=False)
    t0 = 1_750_000_000_000_000_000
    with Recorder(config) as recorder:
        recorder.start()
        for k in range(200):
            gid, seq = (b"\x0a" * 16, k // 2 + 1) if k % 2 == 0 else (b"\x0b" * 16, k // 2 + 1)
            recorder.submit(index, _joint_state(t0 + k * 5_000_000), t0 + k * 5_000_000, 0, gid, seq)
        info = recorder.stop()
    assert (info.streams["left_gripper"].drops, info.streams["left_gripper"].publishers) == (0, 2)


@pytest.mark.ros
@pytest.mark.slow
def test_publisher_killed_and_restarted_mid_episode(nodes, client, tmp_path):
    rig_file = light_rig(tmp_path)
    rig = load_rig(rig_file)
    out = tmp_path / "episodes"
    first = nodes("synthetic_robot", SYNTHETIC, {"rig": str(rig_file), "seed": 3})
    recorder = nodes("recorder", RECORDER, {"rig": str(rig_file), "out": str(out), "disk_reserve_mb": 1})
    wait_ready(client, recorder)
    episode = Path(client.start())
    time.sleep(2.0)

    os.kill(first.pid, signal.SIGKILL)  # a driver crash: no goodbye on DDS
    first.process.wait(timeout=10)
    stale = client.wait_status(lambda s: s["recording"] and all(x["state"] == "stale" for x in s["streams"]), 15.0)
    assert stale is not None, f"the silence was never flagged stale: {client.status}"
    assert stale["episode"] == episode.name
    time.sleep(0.5)

    truth_path = tmp_path / "truth_after_restart.jsonl"
    again = nodes("synthetic_robot", SYNTHETIC, {"rig": str(rig_file), "seed": 3, "truth_out": str(truth_path)})
    back = client.wait_status(lambda s: all(x["state"] == "ok" for x in s["streams"] if x["required"]), 60.0)
    assert back is not None, f"the streams never came back: {(client.status or {}).get('problems')}"
    assert back["recording"] and back["episode"] == episode.name, "the recorder stopped recording"
    time.sleep(2.0)
    assert Path(client.stop()) == episode
    again.stop()
    assert recorder.alive(), "the recorder died when its publisher did"

    info = read_episode_info(episode)
    assert info.status == "complete"
    recorded = read_back(episode)
    truth = read_truth(truth_path)
    gaps_s = {}
    for stream in rig.streams:
        rows = recorded[stream.topic]
        stamps = np.array([stamp for _, stamp, _ in rows])
        stats = info.streams[stream.name]
        assert stats.count == len(rows), stream.name
        assert stats.drops == 0, f"{stream.name}: the restart was counted as {stats.drops} lost messages"
        assert stats.publishers == 2, f"{stream.name}: {stats.publishers} publisher(s) recorded"
        # the silence is the one hole on the stream's own clock, and episode.json has it exactly
        steps = np.diff(stamps)
        hole = int(np.argmax(steps))
        assert stats.gaps == 1 and stats.largest_gap_ns == steps[hole], stream.name
        assert steps[hole] > 0.5e9 and np.all(np.delete(steps, hole) < 1.5 * stream.period_ns), stream.name
        gaps_s[stream.name] = (int(stamps[hole]), int(stamps[hole + 1]))  # on the stream's clock (~ capture)
        # after the restart: every message the new driver published while recording is in the bag
        after = [int(s) for s in stamps[hole + 1:]]
        window = contiguous_run(after, published(truth, stream.name))
        assert [row["stamp_ns"] for row in window] == after, f"{stream.name}: messages lost after the restart"

    before = digest(episode)
    origin_ns = min(stamp for rows in recorded.values() for _, stamp, _ in rows)
    with pytest.raises(SyncError) as refused:
        synchronize(episode)
    err = refused.value
    assert err.stream in {s.name for s in rig.streams if s.required}
    assert "gap of" in str(err) and len(str(err).splitlines()) == 1
    silence_begin, silence_end = gaps_s[err.stream]
    assert abs(err.time_s - (silence_begin - origin_ns) / 1e9) < 0.25, (str(err), gaps_s[err.stream])

    kept = synchronize(episode, keep=True)
    assert {v.stream for v in kept.violations if v.kind == "gap"} == {s.name for s in rig.streams if s.required}
    inside = (kept.grid_ns > silence_begin + 0.1e9) & (kept.grid_ns < silence_end - 0.1e9)
    assert inside.any() and not kept.valid[inside].any(), "frames inside the silence are not marked invalid"
    outside = (kept.grid_ns < silence_begin - 0.2e9) | (kept.grid_ns > silence_end + 0.2e9)
    assert kept.valid[outside].mean() > 0.98

    result = collector_cli("export", str(episode), "--format", "hdf5", "--out", str(tmp_path / "dataset"))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert episode.name in lines[0] and f"{err.stream}:" in lines[0] and "gap of" in lines[0]
    assert not list((tmp_path / "dataset").glob("**/*.hdf5")), "a refused episode was exported"
    assert digest(episode) == before, "sync or export changed the recorded episode"
