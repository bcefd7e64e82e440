"""The recorder's ROS parameters: loosely typed on the command line, validated in one place."""

from __future__ import annotations

import subprocess
import sys

import pytest

from collector.errors import CollectorError
from collector.ros.recorder_node import _convert, config_from_parameters

from .conftest import REPO


@pytest.mark.parametrize("name,value,kind,expected", [
    ("max_episode_s", 5, float, 5.0),          # -p max_episode_s:=5 arrives as an int
    ("max_episode_s", 2.5, float, 2.5),
    ("disk_reserve_mb", 512.0, int, 512),      # and -p disk_reserve_mb:=512.0 as a float
    ("task", 1.5, str, "1.5"),                 # a task that looks like a number stays text
    ("autostart", True, bool, True),
])
def test_convert_accepts_what_ros_args_produce(name, value, kind, expected):
    assert _convert(name, value, kind) == expected


@pytest.mark.parametrize("name,value,kind", [
    ("disk_reserve_mb", 1.5, int), ("flush_interval_s", "fast", float), ("autostart", "yes", bool),
])
def test_convert_rejects_with_the_parameter_name(name, value, kind):
    with pytest.raises(CollectorError, match=f"parameter {name}: expected {kind.__name__}"):
        _convert(name, value, kind)


def test_bad_values_are_one_line_errors(tmp_path):
    values = {"rig": "baoan_humanoid", "out": str(tmp_path), "task": "", "operator": "", "disk_reserve_mb": 1,
              "flush_interval_s": 0.0, "max_episode_s": 0.0, "max_backlog_mb": 0}
    with pytest.raises(CollectorError, match="flush_interval_s"):
        config_from_parameters(values)


def test_node_with_bad_parameter_exits_2_with_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "collector.ros.recorder_node", "--ros-args", "-p", "flush_interval_s:=fast",
         "-p", f"out:={tmp_path}"], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == 2
    assert "error: parameter flush_interval_s: expected float, got 'fast'" in result.stderr
    assert "Traceback" not in result.stderr
