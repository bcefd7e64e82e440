"""What every CDR module shares: the encapsulation header, message type names, the
struct layouts of a header stamp and a uint32, and :class:`CdrError`."""

from __future__ import annotations

import struct

from collector.errors import CollectorError

NS_PER_S = 1_000_000_000
ENCAPSULATION = b"\x00\x01\x00\x00"  # CDR_LE, options 0

IMAGE = "sensor_msgs/msg/Image"
JOINT_STATE = "sensor_msgs/msg/JointState"
IMU = "sensor_msgs/msg/Imu"
WRENCH = "geometry_msgs/msg/WrenchStamped"

Buffer = bytes | bytearray | memoryview

_U32 = struct.Struct("<I")
_STAMP = struct.Struct("<iI")


class CdrError(CollectorError):
    """CDR bytes are malformed or inconsistent, or values cannot be encoded."""
