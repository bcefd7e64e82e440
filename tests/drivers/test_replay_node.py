"""The replay node over real DDS: an episode played into the real recorder comes back the same.

The source episode is written in process (synthetic robot, small test rig); the
replay node and the recorder node run as real processes; both bags are read
with rosbags, an independent reader.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import yaml

from collector.capture.processes import NodeProcess
from collector.drivers.synthetic_episode import write_synthetic_episode
from collector.paths import data_path
from collector.rig import load_rig
from tests.dds import domain_id

pytest.importorskip("rclpy")
rosbags = pytest.importorskip("rosbags", reason="rosbags (the independent reader) is not installed")
from rosbags.rosbag2 import Reader  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
# Our own domain in this run (tests/dds.py); topics under /replay_test besides.
DOMAIN_ID = domain_id(8)
REPLAY = "collector.drivers.replay_node"
RECORDER = "collector.ros.recorder_node"
SECONDS = 3.0
MS = 1_000_000


def _test_rig_yaml() -> dict:
    """Bao'an's robot with four light streams: small images so that 2 busy cores keep up."""
    shipped = yaml.safe_load(data_path("datasets", "rigs", "baoan_humanoid.yaml").read_text(encoding="utf-8"))
    joints = [j for group in shipped["robot"]["joints"].values() for j in group]
    return {
        "rig": "replay_test", "site": shipped["site"], "description": "replay node test rig",
        "fps": 30, "robot": shipped["robot"],
        "streams": [
            {"name": "head_rgb", "topic": "/replay_test/camera/image_raw", "type": "sensor_msgs/msg/Image",
             "role": "camera", "rate_hz": 30, "clock": "header", "qos": {"reliability": "reliable", "depth": 10},
             "required": True, "frame_id": "camera_optical_frame", "width": 64, "height": 48, "encoding": "rgb8"},
            {"name": "joint_states", "topic": "/replay_test/joint_states", "type": "sensor_msgs/msg/JointState",
             "role": "joint_state", "rate_hz": 200, "clock": "header", "qos": "reliable", "required": True,
             "frame_id": "base_link", "joints": joints},
            {"name": "imu", "topic": "/replay_test/imu", "type": "sensor_msgs/msg/Imu", "role": "imu",
             "rate_hz": 100, "clock": "header", "qos": "reliable", "required": False, "frame_id": "imu_link"},
            # recorded as transient_local depth 5: the replay must offer that, not its default
            {"name": "wrench", "topic": "/replay_test/wrench", "type": "geometry_msgs/msg/WrenchStamped",
             "role": "wrench", "rate_hz": 50, "clock": "header",
             "qos": {"reliability": "reliable", "durability": "transient_local", "depth": 5},
             "required": False, "frame_id": "ft_link"},
        ],
    }


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """(rig YAML path, source episode path, its messages per topic)."""
    folder = tmp_path_factory.mktemp("replay_source")
    rig_path = folder / "replay_test.yaml"
    rig_path.write_text(yaml.safe_dump(_test_rig_yaml(), sort_keys=False), encoding="utf-8")
    episode = write_synthetic_episode(folder / "episodes", load_rig(rig_path), seconds=SECONDS, seed=5).path
    return rig_path, episode, read_back(episode)


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    environment = dict(os.environ)
    environment.update(ROS_DOMAIN_ID=str(DOMAIN_ID), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", PYTHONUNBUFFERED="1")
    environment["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), environment.get("PYTHONPATH", "")) if p)
    return environment


@pytest.fixture
def nodes(tmp_path, env):
    """``nodes(name, module, params)`` starts a node process; all are stopped afterwards."""
    started: list[NodeProcess] = []

    def start(name: str, module: str, params: dict) -> NodeProcess:
        started.append(NodeProcess(name, module, params, log_path=tmp_path / "logs" / f"{name}.log", env=env))
        return started[-1]

    yield start
    for process in started:
        process.stop(timeout_s=10)


@pytest.fixture(scope="module")
def context():
    """An rclpy context of the test process on :data:`DOMAIN_ID`, localhost discovery only."""
    import rclpy
    from rclpy.context import Context
    from rclpy.signals import SignalHandlerOptions

    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    ctx = Context()
    rclpy.init(context=ctx, domain_id=DOMAIN_ID, signal_handler_options=SignalHandlerOptions.NO)
    yield ctx
    ctx.try_shutdown()


class Listener:
    """A node of the test process, spun on a thread, with raw subscriptions."""

    def __init__(self, context):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.node = rclpy.create_node("replay_test_listener", context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.received: dict[str, list[tuple[int, bytes]]] = defaultdict(list)
        self._running = True
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def subscribe(self, topic: str, msg_type, qos) -> None:
        def on_message(raw: bytes) -> None:
            self.received[topic].append((time.monotonic_ns(), raw))

        self.node.create_subscription(msg_type, topic, on_message, qos, raw=True)

    def _spin(self) -> None:
        while self._running:
            self.executor.spin_once(timeout_sec=0.05)

    def close(self) -> None:
        self._running = False
        self._thread.join(timeout=2)
        self.executor.shutdown()
        self.node.destroy_node()


@pytest.fixture
def listener(context):
    made = Listener(context)
    yield made
    made.close()


def read_back(episode: Path) -> dict[str, list[tuple[int, bytes]]]:
    """Per topic, (log time ns, CDR bytes) in log-time order, read with rosbags."""
    out: dict[str, list[tuple[int, bytes]]] = defaultdict(list)
    with Reader(episode) as reader:
        for connection, log_time, raw in reader.messages():
            out[connection.topic].append((log_time, bytes(raw)))
    return dict(out)


def wait_for_log(process: NodeProcess, text: str, timeout_s: float = 40.0) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in process.log_path.read_text(encoding="utf-8", errors="replace"):
        assert process.alive(), f"{process.name} exited:\n{process.log_tail()}"
        assert time.monotonic() < deadline, f"{process.name} never logged {text!r}:\n{process.log_tail()}"
        time.sleep(0.1)


def replay_into_recorder(nodes, tmp_path, rig_path, episode, **replay_params) -> Path:
    """Record (autostart) while the node plays ``episode``; returns the new episode."""
    out = tmp_path / "rerecorded"
    recorder = nodes("recorder", RECORDER, {"rig": str(rig_path), "out": str(out), "autostart": True,
                                            "disk_reserve_mb": 1})
    wait_for_log(recorder, "started (task")
    replay = nodes("replay", REPLAY, {"episode": str(episode), "wait_for_subscribers_s": 30.0, **replay_params})
    assert replay.process.wait(timeout=90) == 0, replay.log_tail()
    assert "replay done" in replay.log_tail()
    time.sleep(0.5)  # the recorder's queue reaches its writer
    assert recorder.stop() == 0, recorder.log_tail()
    [recorded] = [path.parent for path in out.rglob("metadata.yaml")]
    return recorded


def assert_same_messages(original, recorded) -> None:
    assert sorted(recorded) == sorted(original)
    for topic, messages in original.items():
        got = [data for _, data in recorded[topic]]
        assert len(got) == len(messages), f"{topic}: {len(got)} of {len(messages)} messages"
        assert got == [data for _, data in messages], f"{topic}: CDR bytes differ"


def timing(original, recorded) -> tuple[np.ndarray, np.ndarray]:
    """Log times of the same messages (int ns, all topics), original and re-recorded."""
    topics = sorted(original)
    before = np.concatenate([[t for t, _ in original[topic]] for topic in topics]).astype(np.int64)
    after = np.concatenate([[t for t, _ in recorded[topic]] for topic in topics]).astype(np.int64)
    return before, after


def assert_replayed_timeline(before: np.ndarray, after: np.ndarray, rate: float) -> None:
    """The re-recorded times are the original ones at ``rate``, plus delivery delays.

    Delivery only ever adds delay, and on 2 busy cores DDS sometimes holds a burst
    back for a second: so most messages (not all) must sit on the lower envelope,
    a line of slope 1 / rate through the original times.
    """
    offset_ns = (before - before.min()) / rate
    residual_ms = (after - after.min() - offset_ns) / MS
    floor_ms = np.percentile(residual_ms, 2)
    on_time = residual_ms - floor_ms < 30
    assert on_time.mean() >= 0.6, f"only {on_time.mean():.0%} on the timeline; residuals {residual_ms}"
    slope = np.polyfit(before[on_time] - before.min(), after[on_time] - after.min(), 1)[0]
    assert slope == pytest.approx(1 / rate, rel=0.03), f"replayed at {1 / slope:.3f}x instead of {rate}x"


def test_replay_at_rate_1_is_recorded_again_identically_with_the_original_timing(nodes, tmp_path, source):
    rig_path, episode, original = source
    recorded = read_back(replay_into_recorder(nodes, tmp_path, rig_path, episode))
    assert_same_messages(original, recorded)

    assert_replayed_timeline(*timing(original, recorded), rate=1.0)
    for topic, messages in original.items():
        gaps_before = np.diff([t for t, _ in messages]) / MS
        gaps_after = np.diff([t for t, _ in recorded[topic]]) / MS
        assert np.median(np.abs(gaps_after - gaps_before)) < 10, topic


def test_replay_at_rate_2_takes_half_the_time_and_publishes_the_clock(nodes, tmp_path, source, listener):
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from rosgraph_msgs.msg import Clock

    rig_path, episode, original = source
    listener.subscribe("/clock", Clock, QoSProfile(depth=100, reliability=ReliabilityPolicy.BEST_EFFORT))
    recorded = read_back(replay_into_recorder(nodes, tmp_path, rig_path, episode, rate=2.0, clock=True))
    assert_same_messages(original, recorded)
    before, after = timing(original, recorded)
    assert_replayed_timeline(before, after, rate=2.0)  # so the duration halves

    from rclpy.serialization import deserialize_message

    ticks = [(wall, deserialize_message(raw, Clock).clock) for wall, raw in listener.received["/clock"]]
    clock_ns = np.array([t.sec * 1_000_000_000 + t.nanosec for _, t in ticks], dtype=np.int64)
    wall_ns = np.array([wall for wall, _ in ticks], dtype=np.int64)
    played_s = SECONDS / 2
    assert len(ticks) >= 0.5 * 100 * played_s, f"{len(ticks)} /clock messages in ~{played_s} s"
    assert np.all(np.diff(clock_ns) >= 0), "/clock runs backwards"
    assert before.min() - 20 * MS <= clock_ns.min() and clock_ns.max() <= before.max() + 100 * MS
    assert_replayed_timeline(clock_ns, wall_ns, rate=2.0)  # replayed time runs at twice the wall clock


def test_loop_plays_the_chosen_topics_again_with_the_recorded_qos(nodes, source, listener):
    from geometry_msgs.msg import WrenchStamped
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Imu

    _, episode, original = source
    wrench, imu = "/replay_test/wrench", "/replay_test/imu"
    listener.subscribe(wrench, WrenchStamped, QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE,
                                                         durability=DurabilityPolicy.TRANSIENT_LOCAL))
    listener.subscribe(imu, Imu, QoSProfile(depth=100))
    replay = nodes("replay", REPLAY, {"episode": str(episode), "topics": f"{wrench}", "loop": True,
                                      "rate": 4.0, "start_offset_s": 1.0, "wait_for_subscribers_s": 30.0})
    one_pass = [data for t, data in original[wrench] if t >= min(t for m in original.values() for t, _ in m) + 1e9]
    deadline = time.monotonic() + 40
    while len(listener.received[wrench]) < 2 * len(one_pass) + 5:
        assert replay.alive(), replay.log_tail()
        assert time.monotonic() < deadline, f"{len(listener.received[wrench])} messages, log:\n{replay.log_tail()}"
        time.sleep(0.1)
    [info] = listener.node.get_publishers_info_by_topic(wrench)
    assert info.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL
    assert info.qos_profile.reliability == ReliabilityPolicy.RELIABLE
    assert not listener.node.get_publishers_info_by_topic(imu), "a topic not asked for is published"
    assert replay.alive(), "a looping replay runs until stopped"
    assert replay.stop() == 0
    got = [data for _, data in listener.received[wrench]]
    assert got[: 2 * len(one_pass)] == one_pass * 2, "each pass replays from the offset on, in order"
    assert not listener.received[imu]


@pytest.mark.parametrize("params, needle", [
    ({"episode": "/nonexistent/episode"}, "/nonexistent/episode does not exist"),
    ({"topics": "/replay_test/imu,/no/such/topic"}, "topics: '/no/such/topic' not in episode"),
    ({"rate": 0.0}, "rate: expected a positive number, got 0.0"),
])
def test_bad_episode_topic_or_rate_exits_2_with_one_error_line(params, needle, source, env):
    from collector.capture.processes import ros_param

    _, episode, _ = source
    params = {"episode": str(episode), **params}
    argv = [sys.executable, "-m", REPLAY, "--ros-args"]
    for key, value in params.items():
        argv += ["-p", f"{key}:={ros_param(value)}"]
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], result.stderr


def test_parameter_names_are_the_config_fields_and_cover_the_launch_plan():
    import dataclasses

    from collector.drivers.replay import ReplayConfig
    from collector.drivers.replay_node import parameter_names

    assert parameter_names() == {f.name for f in dataclasses.fields(ReplayConfig)}
    assert {"episode", "rate"} <= parameter_names()  # what collector.capture.launch_plan passes
