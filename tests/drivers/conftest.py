"""Fixtures for driver tests with real DDS: node subprocesses and a raw-subscribing probe."""

from __future__ import annotations

import importlib
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.dds import domain_id

REPO = Path(__file__).resolve().parents[2]
DOMAIN_ID = domain_id(6)  # this suite's own DDS domain in this run (tests/dds.py)
NS_PER_S = 1_000_000_000


@pytest.fixture(scope="session")
def ros_env() -> dict[str, str]:
    """Environment for node subprocesses: our domain, localhost discovery, this checkout first."""
    env = dict(os.environ)
    env.update(ROS_DOMAIN_ID=str(DOMAIN_ID), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


@pytest.fixture
def start_node(ros_env):
    """Start ``python -m <module> --ros-args -p k:=v ...``; every process is stopped afterwards.

    Stopping is SIGTERM, then SIGKILL after 5 s, also when the test failed.
    """
    processes: list[subprocess.Popen] = []

    def start(*parameters: str, module: str = "collector.drivers.synthetic_node") -> subprocess.Popen:
        command = [sys.executable, "-m", module, "--ros-args"]
        for parameter in parameters:
            command += ["-p", parameter]
        process = subprocess.Popen(
            command, env=ros_env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


@pytest.fixture(scope="module")
def ros_context():
    """An rclpy context of the test process on :data:`DOMAIN_ID`, localhost discovery only."""
    rclpy = pytest.importorskip("rclpy")
    from rclpy.context import Context
    from rclpy.signals import SignalHandlerOptions

    saved = os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE")
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    context = Context()
    rclpy.init(context=context, domain_id=DOMAIN_ID, signal_handler_options=SignalHandlerOptions.NO)
    try:
        yield context
    finally:
        context.try_shutdown()
        if saved is None:
            os.environ.pop("ROS_AUTOMATIC_DISCOVERY_RANGE", None)
        else:
            os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = saved


def message_type(name: str) -> type:
    """The Python class of a ROS message type name like ``sensor_msgs/msg/Image``."""
    package, _, message = name.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), message)


class Received:
    """What a probe got on one topic: receive times, header stamps, image seqs, a few messages."""

    def __init__(self, image_bytes: int | None, keep: int):
        self.image_bytes = image_bytes
        self.keep = keep
        self.receive_ns: list[int] = []
        self.stamp_ns: list[int] = []
        self.seq: list[int] = []
        self.raw: list[bytes] = []

    def add(self, raw: bytes) -> None:
        self.receive_ns.append(time.time_ns())
        sec, nanosec = struct.unpack_from("<iI", raw, 4)  # CDR header, then header.stamp
        self.stamp_ns.append(sec * NS_PER_S + nanosec)
        if self.image_bytes:  # image data is the last field; the seq is in its first 8 bytes
            start = len(raw) - self.image_bytes
            self.seq.append(int.from_bytes(raw[start : start + 8], "little"))
        if len(self.raw) < self.keep or not self.image_bytes:
            self.raw.append(raw)

    def rate_hz(self, begin_ns: int, end_ns: int) -> float:
        """Messages per second received with a header stamp in [begin_ns, end_ns).

        Counting by stamp rather than by receive time keeps the subscriber's own
        queueing (a busy Python process lags up to a queue depth) out of the rate.
        """
        return sum(begin_ns <= t < end_ns for t in self.stamp_ns) * NS_PER_S / (end_ns - begin_ns)


class Probe:
    """Raw (undeserialised) subscriptions to rig streams in the test process."""

    def __init__(self, context, streams, keep_images: int = 3):
        import rclpy
        from rclpy.experimental import EventsExecutor  # ~5x less overhead per message than SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        self.node = rclpy.create_node("synthetic_probe", context=context)
        self.executor = EventsExecutor(context=context)
        self.executor.add_node(self.node)
        self.topics: dict[str, Received] = {}
        for stream in streams:
            image_bytes = None
            if stream.width:
                channels = {"rgb8": 3, "bgr8": 3, "mono8": 1, "16UC1": 2, "32FC1": 4}[stream.encoding]
                image_bytes = stream.width * stream.height * channels
            received = self.topics[stream.name] = Received(image_bytes, keep_images)
            qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
            self.node.create_subscription(message_type(stream.type), stream.topic, received.add, qos, raw=True)

    def spin(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.01)

    def wait_for_all(self, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if all(r.receive_ns for r in self.topics.values()):
                return True
            self.executor.spin_once(timeout_sec=0.05)
        return False

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()


@pytest.fixture
def probe(ros_context):
    """``probe(streams)`` makes a :class:`Probe`; destroyed after the test."""
    probes: list[Probe] = []

    def make(streams, keep_images: int = 3) -> Probe:
        probes.append(Probe(ros_context, streams, keep_images))
        return probes[-1]

    yield make
    for made in probes:
        made.close()
