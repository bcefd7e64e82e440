"""Real DDS between real processes: the recorder node, the synthetic robot, a control client.

Every test gets its own output folder; node processes are stopped (SIGINT,
then SIGTERM, then SIGKILL) even when the test fails. The suite talks on its
own ROS domain with localhost-only discovery so parallel runs do not mix.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.dds import domain_id

rclpy = pytest.importorskip("rclpy", reason="rclpy (ROS 2) is not installed: pip install '.[ros]'")

REPO = Path(__file__).resolve().parents[2]
DOMAIN_ID = str(domain_id(1))  # this run's own (tests/dds.py)

# The test process is a DDS participant too: set its environment before rclpy.init.
os.environ["ROS_DOMAIN_ID"] = DOMAIN_ID
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)

from collector.ros.dds import apply_transport_defaults  # noqa: E402

apply_transport_defaults()


@pytest.fixture(scope="module")
def ros_context():
    """rclpy initialised for the test process (one context per test module)."""
    rclpy.init()
    yield
    rclpy.shutdown()


@pytest.fixture
def nodes(tmp_path):
    """Start node processes: ``nodes("recorder", "collector.ros.recorder_node", {...})``."""
    from collector.capture.processes import NodeProcess

    started: list[NodeProcess] = []

    def start(name: str, module: str, params: dict) -> NodeProcess:
        process = NodeProcess(name, module, params, log_path=tmp_path / "logs" / f"{name}.log")
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop(timeout_s=10)


@pytest.fixture
def client(ros_context):
    """A RecorderClient (services + status of the recorder under /collector)."""
    from collector.ros.control import RecorderClient

    with RecorderClient() as recorder_client:
        yield recorder_client


def collector_cli(*args: str, timeout: float = 120.0):
    """Run ``python -m collector ARGS`` as a user would; returns CompletedProcess (text)."""
    import subprocess

    return subprocess.run([sys.executable, "-m", "collector", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env=dict(os.environ), stdin=subprocess.DEVNULL)
