"""The ROS path: ``collector record --sim`` (sim_robot node -> real DDS -> the ordinary
recorder) gives the same streams, schema and task attempt as the lock-step path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dds import domain_id

pytest.importorskip("mujoco", reason="MuJoCo is not installed (pip install mujoco)")
pytest.importorskip("rclpy", reason="rclpy (ROS 2) is not installed: pip install '.[ros]'")

from collector.bag.reader import open_bag  # noqa: E402
from collector.episode import find_episodes, read_episode_info  # noqa: E402
from collector.export.run import export_episodes  # noqa: E402
from collector.sim.collect import collect_episode  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.ros]
REPO = Path(__file__).resolve().parents[2]


def topics(path: Path) -> dict[str, str]:
    with open_bag(path) as bag:
        return {t.name: t.msgtype for t in bag.topics}


def test_ros_and_lock_step_paths_agree(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "ROS_DOMAIN_ID": str(domain_id(3)),
           "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    proc = subprocess.run([sys.executable, "-m", "collector.cli", "record", "--sim", "baoan_assembly", "--sim-task",
                           "part_to_bin", "--seed", "6", "--headless", "--episodes", "1", "--camera-size", "160x120",
                           "--out", str(tmp_path / "ros")], capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    (recorded,) = find_episodes(tmp_path / "ros")
    stepped = collect_episode("baoan_assembly", "part_to_bin", out=tmp_path / "lock", seed=6,
                              camera_size=(160, 120)).path
    ros_info, lock_info = read_episode_info(recorded), read_episode_info(stepped)
    # the same task attempt: same seed, same randomised setup, same instruction, judged the same way
    assert ros_info.task == lock_info.task
    assert ros_info.success is True and lock_info.success is True
    assert ros_info.rig == lock_info.rig and ros_info.robot == lock_info.robot
    assert topics(recorded) == topics(stepped)
    assert set(ros_info.streams) == set(lock_info.streams)
    # both export to the same dataset schema
    for name, path in (("ros", recorded), ("lock", stepped)):
        export_episodes([path], fmt="lerobot", out=tmp_path / f"ds_{name}")
    features = [json.loads((tmp_path / f"ds_{n}" / "meta" / "info.json").read_text())["features"]
                for n in ("ros", "lock")]
    assert features[0] == features[1]
    from tests.export.test_lerobot_oracle_env import ORACLE_PYTHON, load_with_lerobot

    if ORACLE_PYTHON.exists():  # the recorded sim episode loads in LeRobot itself
        loaded = load_with_lerobot(tmp_path / "ds_ros")
        assert loaded["num_episodes"] == 1 and loaded["tasks"] == [ros_info.task]
