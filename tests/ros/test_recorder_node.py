"""Synthetic robot -> recorder over real DDS -> bag read back by rosbags, compared with the truth."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from collector.drivers.synthetic import JointSource, TrajectoryModel, read_seq, read_truth
from collector.episode import read_episode_info
from collector.latency import RELATIVE_ERROR, measures_latency
from collector.rig import load_rig

from .conftest import collector_cli

rosbags = pytest.importorskip("rosbags", reason="rosbags (the independent reader) is not installed")
from rosbags.rosbag2 import Reader  # noqa: E402
from rosbags.typesys import Stores, get_typestore  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow]

RIG = load_rig("baoan_humanoid")
TYPESTORE = get_typestore(Stores.ROS2_KILTED)
SYNTHETIC = "collector.drivers.synthetic_node"
RECORDER = "collector.ros.recorder_node"


def _stamp_ns(msg) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def read_back(episode: Path) -> dict[str, list[tuple[int, int, object]]]:
    """Per topic: (receive time, header stamp, deserialised message), via rosbags only."""
    out: dict[str, list] = defaultdict(list)
    with Reader(episode) as reader:
        for connection, log_time, raw in reader.messages():
            msg = TYPESTORE.deserialize_cdr(raw, connection.msgtype)
            out[connection.topic].append((log_time, _stamp_ns(msg), msg))
    return out


def wait_ready(client, recorder, timeout_s: float = 40.0) -> None:
    client.wait_for_recorder(timeout_s, alive=recorder.alive)
    ready = client.wait_status(
        lambda s: all(x["state"] == "ok" for x in s["streams"] if x["required"]), timeout_s
    )
    assert ready is not None, f"streams never healthy: {(client.status or {}).get('problems')}"


def start_pair(nodes, tmp_path, *, faults: str = "", reserve_mb: int = 1, **recorder_params):
    truth = tmp_path / "truth.jsonl"
    params = {"rig": "baoan_humanoid", "truth_out": str(truth), "seed": 3}
    if faults:
        params["faults"] = faults
    synthetic = nodes("synthetic_robot", SYNTHETIC, params)
    recorder = nodes("recorder", RECORDER, {"rig": "baoan_humanoid", "out": str(tmp_path / "episodes"),
                                            "disk_reserve_mb": reserve_mb, **recorder_params})
    return synthetic, recorder, truth


def test_recording_holds_exactly_what_was_published(nodes, client, tmp_path):
    task = "把红色连接器插入主板 / insert the red connector"
    synthetic, recorder, truth_path = start_pair(nodes, tmp_path, task=task, operator="op_42")
    wait_ready(client, recorder)
    # the live status shows each header stream's recent latency (ms on one host, more while starting up)
    header = {s.name for s in RIG.streams if measures_latency(s)}
    assert header, "the rig has header-clock streams"
    shown = client.wait_status(lambda s: all(x["latency_ms"] is not None for x in s["streams"] if x["name"] in header),
                               10.0)
    assert shown is not None, client.status
    for item in shown["streams"]:
        if item["name"] in header:
            assert -1.0 < item["latency_ms"] < RIG.sync.max_latency_ms and item["latency_state"] == "ok", item
        else:
            assert (item["latency_ms"], item["latency_state"]) == (None, ""), item
    assert not any("latency" in line for line in shown["problems"])
    episode = Path(client.start())
    time.sleep(3.0)
    client.label(True)
    assert Path(client.stop()) == episode
    synthetic.stop()
    assert recorder.stop() == 0

    truth = defaultdict(dict)
    for row in read_truth(truth_path):
        if row["published"]:
            truth[row["stream"]][row["stamp_ns"]] = row
    recorded = read_back(episode)
    info = read_episode_info(episode)
    assert info.status == "complete" and info.success is True
    assert info.task == task and info.operator == "op_42"
    assert info.rig == "baoan_humanoid" and info.site == "baoan"

    trajectory = TrajectoryModel(RIG.robot, seed=3)
    for stream in RIG.streams:
        rows = recorded[stream.topic]
        stamps = [stamp for _, stamp, _ in rows]
        assert len(rows) >= 0.9 * 3.0 * stream.rate_hz, stream.name
        # Every message published inside the recorded window is in the bag, once.
        window = [s for s in truth[stream.name] if min(stamps) <= s <= max(stamps)]
        assert sorted(stamps) == sorted(window), f"{stream.name}: bag differs from what was published"
        assert info.streams[stream.name].count == len(rows)
        assert info.streams[stream.name].drops == 0
        # Receive times are kept, and honest: after the stamp, within a few ms here.
        latency = np.array([receive - stamp for receive, stamp, _ in rows])
        assert latency.min() > -1_000_000 and np.median(latency) < 20_000_000, stream.name
        # episode.json's latency is what the bag (read by rosbags) says: min/max exact, quantiles ~1 %
        summary = info.streams[stream.name].latency_ms
        if measures_latency(stream):
            assert summary is not None and (summary.count, summary.ahead) == (len(rows), 0), stream.name
            assert (summary.min, summary.max) == (round(latency.min() / 1e6, 3), round(latency.max() / 1e6, 3))
            for value, q in ((summary.median, 0.5), (summary.p99, 0.99)):
                exact = np.quantile(latency, q, method="inverted_cdf") / 1e6
                rounding = 0.0005  # episode.json keeps whole µs
                assert abs(value - exact) <= RELATIVE_ERROR * abs(exact) + rounding, (stream.name, q, value, exact)
        else:
            assert summary is None, stream.name
        for _, stamp, msg in rows[:: max(1, len(rows) // 20)]:
            source = truth[stream.name][stamp]
            assert msg.header.frame_id == stream.frame_id
            if stream.role in ("camera", "depth"):
                assert (msg.height, msg.width, msg.encoding) == (stream.height, stream.width, stream.encoding)
                assert read_seq(bytes(msg.data)) == source["seq"]
            elif stream.role in ("joint_state", "gripper", "action"):
                lead = 50_000_000 if stream.role == "action" else 0
                expected = JointSource(stream, trajectory, lead_ns=lead).sample(source["true_time_ns"])
                assert list(msg.name) == list(stream.joints)
                np.testing.assert_allclose(msg.position, expected.position, rtol=0, atol=1e-12)
                np.testing.assert_allclose(msg.velocity, expected.velocity, rtol=0, atol=1e-9)


def test_kill9_mid_episode_then_recover_loses_at_most_a_second(nodes, client, tmp_path):
    synthetic, recorder, truth_path = start_pair(nodes, tmp_path)
    wait_ready(client, recorder)
    episode = Path(client.start())
    time.sleep(3.0)
    kill_ns = time.time_ns()
    os.kill(recorder.pid, signal.SIGKILL)
    recorder.process.wait(timeout=10)
    synthetic.stop()
    assert not (episode / "metadata.yaml").exists(), "a killed recorder cannot have closed the bag"

    result = collector_cli("recover", str(episode))
    assert result.returncode == 0, result.stderr
    assert "recovered" in result.stdout

    recorded = read_back(episode)  # rosbags opens the rebuilt bag
    info = read_episode_info(episode)
    assert info.status == "recovered"
    truth = defaultdict(set)
    for row in read_truth(truth_path):
        if row["published"]:
            truth[row["stream"]].add(row["stamp_ns"])
    newest = max(receive for rows in recorded.values() for receive, _, _ in rows)
    assert kill_ns - newest <= 1_000_000_000, f"lost {(kill_ns - newest) / 1e9:.2f} s"
    for stream in RIG.streams:
        stamps = sorted(stamp for _, stamp, _ in recorded[stream.topic])
        window = sorted(s for s in truth[stream.name] if stamps[0] <= s <= stamps[-1])
        assert stamps == window, f"{stream.name}: hole in the recovered bag"
        assert info.streams[stream.name].count == len(stamps)
        # recounted with the latency of header-clock streams, from the rig stored in the bag
        latency = info.streams[stream.name].latency_ms
        assert (latency is not None and latency.count == len(stamps)) == measures_latency(stream), stream.name
    assert list(episode.glob("*.orig")), "the original file is kept"


def test_ctrl_c_again_while_closing_still_saves_the_episode(nodes, client, tmp_path):
    """Ctrl-C reaches the recorder twice (the terminal's, then `collector record`'s):
    the second must not cut the closing of the episode short."""
    synthetic, recorder, _truth = start_pair(nodes, tmp_path)
    wait_ready(client, recorder)
    episode = Path(client.start())
    time.sleep(3.0)
    for _ in range(20):  # keeps coming while the episode is being closed
        if recorder.process.poll() is not None:
            break
        os.kill(recorder.pid, signal.SIGINT)
        time.sleep(0.01)
    assert recorder.process.wait(timeout=30) == 0
    synthetic.stop()
    info = read_episode_info(episode)
    assert (info.status, info.end_reason) == ("complete", "shutdown")
    assert (episode / "metadata.yaml").exists()
    recorded = read_back(episode)  # rosbags reads the closed bag, summary and all
    assert sum(len(rows) for rows in recorded.values()) == sum(s.count for s in info.streams.values()) > 0


def test_silent_stream_is_flagged_within_one_second(nodes, client, tmp_path):
    synthetic, recorder, truth_path = start_pair(nodes, tmp_path, faults="{imu: {silent_after_s: 4}}")
    wait_ready(client, recorder)
    flagged = client.wait_status(
        lambda s: any(x["name"] == "imu" and x["state"] == "stale" for x in s["streams"]), 20.0
    )
    assert flagged is not None, "imu never flagged stale"
    synthetic.stop()
    last_imu = max(r["true_time_ns"] for r in read_truth(truth_path) if r["stream"] == "imu" and r["published"])
    delay = (flagged["time_ns"] - last_imu) / 1e9
    assert 0 < delay <= 1.0, f"flagged {delay:.2f} s after the last imu message"
    assert any("imu" in line and "silent" in line for line in flagged["problems"])


def test_operator_controls_discard_label_task(nodes, client, tmp_path):
    synthetic, recorder, _ = start_pair(nodes, tmp_path)
    wait_ready(client, recorder)
    first = Path(client.start())
    with pytest.raises(Exception, match="already recording"):
        client.start()
    time.sleep(0.5)
    assert Path(client.discard()) == first
    with pytest.raises(Exception, match="not recording"):
        client.stop()
    client.set_task("sort the blue tote")
    assert client.wait_status(lambda s: s["task"] == "sort the blue tote", 5.0) is not None
    second = Path(client.start())
    time.sleep(0.5)
    client.stop()
    client.label(False)  # after stop: labels the last episode

    assert first != second
    discarded = read_episode_info(first)
    assert discarded.status == "discarded" and list(first.glob("*.mcap")), "discarded data stays on disk"
    kept = read_episode_info(second)
    assert (kept.status, kept.success, kept.task) == ("complete", False, "sort the blue tote")


def test_disk_reserve_refuses_start_and_ends_episode(nodes, client, tmp_path):
    free_mb = shutil.disk_usage(tmp_path).free // (1 << 20)
    synthetic, recorder, _ = start_pair(nodes, tmp_path, reserve_mb=free_mb + 10_000)
    wait_ready(client, recorder)
    with pytest.raises(Exception, match="below the reserve"):
        client.start()
    assert not list((tmp_path / "episodes").glob("*/episode.json"))
    recorder.stop()

    # A reserve ~150 MB under the free space: at ~100 MB/s of images it is crossed in seconds.
    free_mb = shutil.disk_usage(tmp_path).free // (1 << 20)
    recorder = nodes("recorder2", RECORDER, {"rig": "baoan_humanoid", "out": str(tmp_path / "episodes"),
                                             "disk_reserve_mb": free_mb - 150})
    wait_ready(client, recorder)
    episode = Path(client.start())
    ended = client.wait_status(lambda s: not s["recording"] and s["last_stop_reason"] == "disk_low", 30.0)
    assert ended is not None, "episode did not end at the disk reserve"
    info = read_episode_info(episode)
    assert info.status == "complete" and info.end_reason == "disk_low"
    assert any("reserve" in note for note in info.notes)
    assert sum(len(rows) for rows in read_back(episode).values()) > 0


def test_cli_record_headless_two_episodes_then_inspect(tmp_path):
    out = tmp_path / "session"
    result = collector_cli("record", "--rig", "baoan_humanoid", "--out", str(out), "--synthetic", "--headless",
                           "--episodes", "2", "--episode-seconds", "2", "--task", "pick the part",
                           "--operator", "op_1", "--disk-reserve-mb", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    episodes = sorted(p.parent for p in out.glob("*/episode.json"))
    assert len(episodes) == 2
    for episode in episodes:
        info = read_episode_info(episode)
        assert (info.status, info.task, info.operator) == ("complete", "pick the part", "op_1")
        assert 1.5 < info.duration_s < 4
        assert sum(len(v) for v in read_back(episode).values()) == sum(s.count for s in info.streams.values())
    report = collector_cli("inspect", str(out), "--json")
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    assert len(data) == 2
    topics = {t["name"]: t for t in data[0]["bag"]["topics"]}
    assert topics["/joint_states"]["count"] == read_episode_info(episodes[0]).streams["joint_states"].count
    assert 450 < topics["/joint_states"]["rate_hz"] < 550


def test_bad_rig_is_one_line_error_no_process_left(tmp_path):
    bad = tmp_path / "bad_rig.yaml"
    text = load_rig("baoan_humanoid").text.replace("rate_hz: 500", "rate_hz: fast", 1)
    bad.write_text(text)
    result = collector_cli("record", "--rig", str(bad), "--out", str(tmp_path / "o"), "--headless",
                           "--episodes", "1", "--episode-seconds", "1")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert str(bad) in lines[0] and "rate_hz" in lines[0] and "fast" in lines[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()
