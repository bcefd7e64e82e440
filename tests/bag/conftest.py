"""Shared fixtures of the bag-layer tests: test data location and hand-made CDR."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def _testdata_root() -> Path:
    env = os.environ.get("COLLECTOR_TESTDATA")
    if env:
        return Path(env)
    return REPO_ROOT.parent / "shared" / "testdata"


@pytest.fixture(scope="session")
def rosbag2_testdata() -> Path:
    """Folder with the real rosbag2 bags (talker, cdr_test, wbag); skips when absent."""
    folder = _testdata_root() / "rosbag2"
    if not folder.is_dir():
        pytest.skip(
            f"real rosbag2 test bags not found at {folder}; "
            "set COLLECTOR_TESTDATA to the folder holding rosbag2/"
        )
    return folder


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (for PYTHONPATH of subprocesses)."""
    return REPO_ROOT


def _cdr_string(value: str, offset: int) -> tuple[bytes, int]:
    """CDR string at ``offset`` (relative to the payload start): uint32 length incl. NUL, bytes."""
    raw = value.encode() + b"\0"
    out = struct.pack("<I", len(raw)) + raw
    return out, offset + len(out)


def wrench_stamped(sec: int, nanosec: int, frame_id: str, values: tuple[float, ...] = (0.0,) * 6) -> bytes:
    """Little-endian CDR of a geometry_msgs/msg/WrenchStamped, built by hand (no ROS needed)."""
    body = struct.pack("<iI", sec, nanosec)
    text, offset = _cdr_string(frame_id, len(body))
    body += text
    body += b"\0" * ((-offset) % 8)  # float64 alignment, relative to the payload start
    body += struct.pack("<6d", *values)
    return b"\x00\x01\x00\x00" + body


@pytest.fixture(scope="session")
def make_wrench():
    """Factory ``(sec, nanosec, frame_id, values=(6 floats)) -> CDR bytes`` of WrenchStamped."""
    return wrench_stamped


@pytest.fixture(scope="session")
def ros_messages():
    """Real sensor messages serialized by rclpy: list of (topic, msgtype, cdr, message).

    Skips when rclpy and the message packages are not importable.
    """
    serialization = pytest.importorskip("rclpy.serialization")
    sensor_msgs = pytest.importorskip("sensor_msgs.msg")
    geometry_msgs = pytest.importorskip("geometry_msgs.msg")
    out = []
    for i in range(12):
        image = sensor_msgs.Image()
        image.header.stamp.sec = 1_700_000_000 + i
        image.header.stamp.nanosec = 1000 * i
        image.header.frame_id = "head_camera"
        image.height, image.width, image.encoding, image.step = 4, 5 + i, "rgb8", 3 * (5 + i)
        image.data = bytes((j * 7 + i) % 256 for j in range(image.step * image.height))
        out.append(("/camera/image_raw", "sensor_msgs/msg/Image", image))

        # velocity / effort non-empty on purpose: Fast-CDR pads an empty float64
        # sequence to 8 bytes where rosbags does not, and rosbags then refuses the size.
        joints = sensor_msgs.JointState()
        joints.header.stamp.sec = 1_700_000_000 + i
        joints.name = ["hip", "knee", "ankle"]
        joints.position = [0.1 * i, 0.2, 0.3]
        joints.velocity = [1.0, 2.0, float(i)]
        joints.effort = [3.0, 4.0, 5.0]
        out.append(("/joint_states", "sensor_msgs/msg/JointState", joints))

        imu = sensor_msgs.Imu()
        imu.header.stamp.nanosec = 5 * i
        imu.orientation.w = 1.0
        imu.linear_acceleration.z = 9.81 + i
        out.append(("/imu", "sensor_msgs/msg/Imu", imu))

        wrench = geometry_msgs.WrenchStamped()
        wrench.header.frame_id = "wrist_ft"
        wrench.wrench.force.x = float(i)
        wrench.wrench.torque.z = -float(i)
        out.append(("/ft", "geometry_msgs/msg/WrenchStamped", wrench))
    return [(topic, msgtype, bytes(serialization.serialize_message(msg)), msg) for topic, msgtype, msg in out]
