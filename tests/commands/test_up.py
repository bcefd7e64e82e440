"""``collector up``: a rig's plan started as real processes, driven over DDS, stopped with Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collector.episode import read_episode_info
from tests.ros.conftest import REPO, client, collector_cli, ros_context  # noqa: F401 (real-DDS fixtures)

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_up_synthetic_records_and_ctrl_c_stops_every_node(client, tmp_path):
    out, logs = tmp_path / "episodes", tmp_path / "logs"
    up = subprocess.Popen(
        [sys.executable, "-m", "collector", "up", "--rig", "baoan_humanoid", "--source", "synthetic",
         "--out", str(out), "--log-dir", str(logs), "--operator", "op_7"],
        cwd=REPO, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        client.wait_for_recorder(60.0, alive=lambda: up.poll() is None)
        ready = client.wait_status(lambda s: all(x["state"] == "ok" for x in s["streams"] if x["required"]), 60.0)
        assert ready is not None, f"streams never healthy: {(client.status or {}).get('problems')}"
        assert ready["operator"] == "op_7"
        episode = Path(client.start())
        time.sleep(2.0)
        assert Path(client.stop()) == episode
        children = [int(p) for p in subprocess.run(["pgrep", "-P", str(up.pid)], capture_output=True,
                                                    text=True).stdout.split()]
        assert len(children) == 2, children  # the recorder and the synthetic robot
        up.send_signal(signal.SIGINT)
        output, _ = up.communicate(timeout=40)
    finally:
        if up.poll() is None:
            up.kill()
            up.communicate()
    assert up.returncode == 0, output
    assert "down: every node stopped" in output
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in children), "a node outlived collector up"
    info = read_episode_info(episode)
    assert info.status == "complete" and info.operator == "op_7" and info.duration_s > 1.5
    assert {p.name for p in logs.iterdir()} == {"recorder.log", "synthetic_robot.log"}


def test_up_refuses_a_missing_external_driver_before_starting_anything(tmp_path):
    result = collector_cli("up", "--rig", "baoan_humanoid", "--out", str(tmp_path), "--duration", "1")
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "realsense2_camera/realsense2_camera_node is not installed" in lines[0]
    assert "--skip head_camera" in lines[0]
    assert not (tmp_path / "logs").exists()


def test_up_dry_run_prints_one_command_per_node(tmp_path):
    result = collector_cli("up", "--rig", "longhua_humanoid", "--skip", "head_camera", "--dry-run",
                           "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    commands = result.stdout.strip().splitlines()
    assert len(commands) == 3
    assert re.search(r"collector\.ros\.recorder_node .*-r __node:=recorder", commands[0])
    assert "collector.drivers.camera_node" in commands[1] and "__node:=left_wrist_camera" in commands[1]
    assert "expected from the robot's own drivers" in result.stderr and "left_tactile" in result.stderr


def test_record_replay_record_again_through_collector_up(tmp_path):
    """A recorded episode played back by `collector up --source replay` and recorded again."""
    from collector.bag.reader import open_bag

    first = tmp_path / "first"
    recorded = collector_cli("record", "--rig", "baoan_humanoid", "--out", str(first), "--synthetic", "--headless",
                             "--episodes", "1", "--episode-seconds", "3", "--disk-reserve-mb", "1")
    assert recorded.returncode == 0, recorded.stderr
    (source,) = [p.parent for p in first.glob("*/episode.json")]
    second = tmp_path / "second"
    replayed = collector_cli("up", "--rig", "baoan_humanoid", "--source", "replay", "--episode", str(source),
                             "--autostart", "--out", str(second), "--duration", "60", timeout=120)
    assert replayed.returncode == 0, replayed.stderr
    assert "the replay is done" in replayed.stderr
    (again,) = [p.parent for p in second.glob("*/episode.json")]

    def by_topic(path: Path) -> dict[str, list[tuple[int, bytes]]]:
        out: dict[str, list] = {}
        with open_bag(path) as bag:
            for message in bag.messages():
                out.setdefault(message.topic, []).append((message.log_time_ns, bytes(message.data)))
        return out

    original, copy = by_topic(source), by_topic(again)
    assert set(copy) == set(original)
    for topic, messages in original.items():
        # every message again, byte for byte, none missing in between (the copy may start a
        # little late or end early at the edges of the replay). The bag is in receive-time
        # order; a message repaired by reliable DDS arrives after newer ones, so holes are
        # checked on the original's indices, not on the copy's order.
        got = [data for _t, data in copy[topic]]
        want = [data for _t, data in messages]
        assert len(got) >= 0.97 * len(want), f"{topic}: {len(got)} of {len(want)}"
        position = {data: index for index, data in enumerate(want)}
        assert all(data in position for data in got), f"{topic}: a message the original does not hold"
        indices = sorted(position[data] for data in got)
        assert indices == list(range(indices[0], indices[0] + len(got))), f"{topic}: messages missing in between"
    # the same timing: receive-time spacing of the 500 Hz joint states, median within 2 ms
    import numpy as np

    def spacing(messages):
        return np.diff([t for t, _d in messages]) / 1e6

    assert abs(np.median(spacing(copy["/joint_states"])) - np.median(spacing(original["/joint_states"]))) < 2.0
    span = lambda m: (m[-1][0] - m[0][0]) / 1e9  # noqa: E731
    assert abs(span(copy["/joint_states"]) - span(original["/joint_states"])) < 0.3


def test_nodes_stop_when_collector_up_is_killed(client, tmp_path):
    """kill -9 of `collector up` must not leave its nodes running (they get SIGINT and close cleanly)."""
    up = subprocess.Popen(
        [sys.executable, "-m", "collector", "up", "--rig", "baoan_humanoid", "--source", "synthetic",
         "--out", str(tmp_path / "episodes"), "--log-dir", str(tmp_path / "logs"), "--autostart"],
        cwd=REPO, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        client.wait_for_recorder(60.0, alive=lambda: up.poll() is None)
        assert client.wait_status(lambda s: s["recording"], 30.0) is not None
        children = [int(p) for p in subprocess.run(["pgrep", "-P", str(up.pid)], capture_output=True,
                                                    text=True).stdout.split()]
        assert len(children) == 2
        up.kill()
        up.wait(timeout=10)
        deadline = time.monotonic() + 20
        while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in children), "nodes outlived a killed collector up"
    finally:
        if up.poll() is None:
            up.kill()
    (episode,) = [p.parent for p in (tmp_path / "episodes").glob("*/episode.json")]
    info = read_episode_info(episode)
    assert info.status == "complete" and info.end_reason == "shutdown"
