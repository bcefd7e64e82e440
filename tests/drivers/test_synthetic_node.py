"""The synthetic robot node over real DDS: rates, stamps, content, faults against the truth."""

from __future__ import annotations

import signal
import time

import numpy as np
import pytest

from collector.drivers.synthetic import (
    DEFAULT_LEAD_NS,
    NS_PER_S,
    JointSource,
    TactileSource,
    TrajectoryModel,
    read_number,
    read_seq,
    read_truth,
)
from collector.rig import load_rig

pytest.importorskip("rclpy")
from geometry_msgs.msg import WrenchStamped  # noqa: E402
from rclpy.serialization import deserialize_message  # noqa: E402
from sensor_msgs.msg import Image, Imu, JointState  # noqa: E402

pytestmark = pytest.mark.ros
MS = 1_000_000
TYPES = {"sensor_msgs/msg/Image": Image, "sensor_msgs/msg/Imu": Imu, "sensor_msgs/msg/JointState": JointState,
         "geometry_msgs/msg/WrenchStamped": WrenchStamped}


@pytest.fixture(scope="module")
def rig():
    return load_rig("baoan_humanoid")


def messages(stream, received):
    return [deserialize_message(raw, TYPES[stream.type]) for raw in received.raw]


def stop(process) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=10)


def test_publishes_every_stream_at_its_rate(rig, start_node, probe):
    node = start_node("rig:=baoan_humanoid", "duration_s:=30.0")
    # one stream of each message kind: a Python subscriber to all of them needs half a core
    names = ("head_rgb", "head_depth", "joint_states", "left_gripper", "imu", "right_wrench", "action")
    listener = probe([rig.stream(name) for name in names])
    assert listener.wait_for_all(timeout=15), {n: len(r.receive_ns) for n, r in listener.topics.items()}
    begin = time.time_ns()
    listener.spin(3.0)
    end = time.time_ns()
    listener.spin(1.0)  # what was stamped in the window but is still queued
    assert stop(node) == 0, node.stderr.read()

    trajectory = TrajectoryModel(rig.robot, seed=0)
    for stream in map(rig.stream, names):
        got = listener.topics[stream.name]
        assert got.rate_hz(begin, end) == pytest.approx(stream.rate_hz, rel=0.1), stream.name
        stamps = np.array(got.stamp_ns)
        assert np.all(np.diff(stamps) > 0), f"{stream.name}: stamps not increasing"
        periods = np.diff(stamps) * stream.rate_hz / 1e9  # whole periods apart (more than 1 only if DDS lost one)
        assert np.allclose(periods, np.round(periods), atol=1e-6) and np.round(periods).min() == 1, stream.name
        # stamp = capture time = publish time; a busy Python subscriber adds its own queueing delay
        delay_ms = (np.array(got.receive_ns) - stamps) / MS
        assert delay_ms.min() > -1 and np.percentile(delay_ms, 10) < 20 and delay_ms.max() < 2000, stream.name
        for msg in messages(stream, got)[:20]:
            assert msg.header.frame_id == stream.frame_id
            if stream.joints:
                assert tuple(msg.name) == stream.joints
                lead = DEFAULT_LEAD_NS if stream.role == "action" else 0
                stamp_ns = msg.header.stamp.sec * NS_PER_S + msg.header.stamp.nanosec  # = true time without faults
                expected = JointSource(stream, trajectory, lead_ns=lead).sample(stamp_ns)
                assert np.array_equal(msg.position, expected.position)
                assert np.array_equal(msg.velocity, expected.velocity)
                assert len(msg.effort) == len(stream.joints)
        if stream.width:
            assert np.all(np.diff(got.seq) >= 1)
            for raw, seq in zip(got.raw, got.seq):
                image = deserialize_message(raw, TYPES[stream.type])
                assert (image.width, image.height, image.encoding) == (stream.width, stream.height, stream.encoding)
                assert image.step * image.height == len(image.data) == got.image_bytes
                assert read_seq(bytes(image.data)) == seq
                if stream.role == "camera":
                    pixels = np.frombuffer(bytes(image.data), np.uint8).reshape(image.height, image.width, -1)
                    assert read_number(pixels, scale=4) == seq
    imu = deserialize_message(listener.topics["imu"].raw[0], Imu)
    acceleration = [imu.linear_acceleration.x, imu.linear_acceleration.y, imu.linear_acceleration.z]
    assert np.linalg.norm(acceleration) == pytest.approx(9.80665)


def test_faults_match_the_ground_truth(rig, start_node, probe, tmp_path):
    faults = tmp_path / "faults.yaml"
    faults.write_text(
        "joint_states: {offset_ms: 35, drift_ppm: 200, jitter_ms: 1, drop_rate: 0.05}\n"
        "head_rgb: {offset_ms: -20, latency_ms: 15, drop_rate: 0.1}\n"
        "imu: {silent_after_s: 1.0}\n"
    )
    truth_path = tmp_path / "truth.jsonl"
    streams = [rig.stream(name) for name in ("joint_states", "head_rgb", "imu", "action")]
    listener = probe(streams, keep_images=0)
    node = start_node(
        "rig:=baoan_humanoid", f"faults:={faults}", f"truth_out:={truth_path}", "duration_s:=4.0", "seed:=3"
    )
    deadline = time.monotonic() + 30
    while node.poll() is None and time.monotonic() < deadline:
        listener.spin(0.2)
    listener.spin(0.3)
    assert node.wait(timeout=1) == 0, node.stderr.read()

    truth = read_truth(truth_path)
    assert {r["stream"] for r in truth} == {s.name for s in rig.streams}
    by_stream = {s.name: [r for r in truth if r["stream"] == s.name] for s in rig.streams}

    joints = by_stream["joint_states"]
    assert len(joints) == pytest.approx(2000, rel=0.02)
    offsets = np.array([r["stamp_ns"] - r["true_time_ns"] for r in joints]) / MS
    assert offsets.mean() == pytest.approx(35.4, abs=0.4) and offsets.std() == pytest.approx(1.0, abs=0.2)
    dropped = sum(not r["published"] for r in joints)
    assert abs(dropped - 0.05 * len(joints)) < 4 * np.sqrt(len(joints) * 0.05 * 0.95)
    published = {r["stamp_ns"] for r in joints if r["published"]}
    received = listener.topics["joint_states"].stamp_ns
    assert set(received) <= published  # nothing that the truth calls dropped arrived
    first = min(received)
    expected = [s for s in published if s >= first]
    assert len(received) >= 0.9 * len(expected)  # a busy subscriber may lose a few

    camera = {r["seq"]: r for r in by_stream["head_rgb"]}
    got = listener.topics["head_rgb"]
    assert got.seq
    for seq, stamp, receive in zip(got.seq, got.stamp_ns, got.receive_ns):
        record = camera[seq]
        assert record["published"] and record["stamp_ns"] == stamp == record["true_time_ns"] - 20 * MS
        assert receive - record["true_time_ns"] >= 15 * MS  # latency: published 15 ms after capture
    assert any(not r["published"] for r in camera.values())

    imu = by_stream["imu"]
    assert max(r["true_time_ns"] for r in imu) - min(r["true_time_ns"] for r in imu) < 1.0 * NS_PER_S
    assert len(imu) == pytest.approx(200, abs=2)
    assert all(r["published"] and r["stamp_ns"] == r["true_time_ns"] for r in by_stream["action"])


def test_longhua_hands_tactile_and_camera_rate_scale(start_node, probe):
    longhua = load_rig("longhua_humanoid")
    node = start_node("rig:=longhua_humanoid", "camera_rate_scale:=2.0", "seed:=9", "duration_s:=30.0")
    streams = [longhua.stream(name) for name in ("left_tactile", "right_hand", "head_rgb")]
    listener = probe(streams, keep_images=10)
    assert listener.wait_for_all(timeout=15)
    begin = time.time_ns()
    listener.spin(2.0)
    end = time.time_ns()
    listener.spin(0.5)
    assert stop(node) == 0, node.stderr.read()

    assert listener.topics["head_rgb"].rate_hz(begin, end) == pytest.approx(60, rel=0.1)
    assert listener.topics["left_tactile"].rate_hz(begin, end) == pytest.approx(100, rel=0.1)
    tactile_stream = longhua.stream("left_tactile")
    tactile = TactileSource(tactile_stream, seed=9)
    for msg in messages(tactile_stream, listener.topics["left_tactile"]):
        assert (msg.width, msg.height, msg.encoding, msg.step) == (16, 5, "32FC1", 64)
        assert msg.header.frame_id == "left_hand_base"
        pressures = np.frombuffer(bytes(msg.data), "<f4").reshape(5, 16)
        stamp = msg.header.stamp.sec * NS_PER_S + msg.header.stamp.nanosec
        assert np.array_equal(pressures, tactile.render(stamp))
    hand_stream = longhua.stream("right_hand")
    hand = JointSource(hand_stream, TrajectoryModel(longhua.robot, seed=9))
    msg = messages(hand_stream, listener.topics["right_hand"])[0]
    assert tuple(msg.name) == hand_stream.joints
    assert np.array_equal(msg.effort, hand.sample(msg.header.stamp.sec * NS_PER_S + msg.header.stamp.nanosec).effort)


@pytest.mark.parametrize(
    "parameters, message",
    [
        (["rig:=no_such_rig"], "unknown rig 'no_such_rig'"),
        (['faults:="{head_rbg: {offset_ms: 3}}"'], "'head_rbg'"),
        (["seed:=-1"], "seed"),
        (["camera_rate_scale:=fast"], "camera_rate_scale"),
    ],
)
def test_bad_parameters_exit_2_with_one_line(start_node, parameters, message):
    node = start_node(*parameters)
    out, err = node.communicate(timeout=20)
    assert node.returncode == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
