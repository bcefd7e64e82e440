"""Plain CDR for the few standard messages our rigs record, without ROS.

The bytes are little-endian CDR with the XCDR1 encapsulation header
``00 01 00 00``, laid out exactly as Fast-CDR (rclpy, rmw_fastrtps) writes them:
every primitive is aligned to its size, counted from the first byte after the
4-byte encapsulation header. Two Fast-CDR habits are reproduced because readers
meet them in every real bag:

* an empty ``float64[]`` is its count alone (no alignment to 8 after it), but
  the message length is Fast-CDR's *estimate*, which aligns anyway, so such a
  message ends in a few padding bytes (rosbags 0.11 misreads these messages);
* padding bytes are not part of the message: rclpy leaves whatever was in memory
  there, we write zeros, and decoders never look at them.

Encoders (``encode_*``) take one message's values and return its bytes. Decoders
of small fixed-layout streams take a whole stream at once: when every message
has the same length and layout (the normal case) they are stacked into one
``(N, L)`` uint8 array and fields are read as column views, else each message
is parsed on its own. Timestamps are int nanoseconds since the epoch.

Modules: :mod:`~collector.cdr._common` (shared layout, :class:`CdrError`),
:mod:`~collector.cdr.encode`, :mod:`~collector.cdr._reader` (one message, field by
field), :mod:`~collector.cdr.decode` (streams of small messages),
:mod:`~collector.cdr.header` (one message's stamp, either byte order) and
:mod:`~collector.cdr.image`. Everything public is re-exported here; private names are not.
"""

from __future__ import annotations

from collector.cdr._common import ENCAPSULATION, IMAGE, IMU, JOINT_STATE, NS_PER_S, WRENCH, Buffer, CdrError
from collector.cdr.decode import (
    Imus,
    JointStates,
    Wrenches,
    decode_imus,
    decode_joint_states,
    decode_wrenches,
    header_stamps,
)
from collector.cdr.encode import encode_imu, encode_joint_state, encode_wrench
from collector.cdr.header import header_stamp_ns
from collector.cdr.image import IMAGE_ENCODINGS, ImageMessage, decode_image, encode_image

__all__ = [
    "Buffer", "CdrError", "ENCAPSULATION", "IMAGE", "IMAGE_ENCODINGS", "IMU", "ImageMessage", "Imus",
    "JOINT_STATE", "JointStates", "NS_PER_S", "WRENCH", "Wrenches", "decode_image", "decode_imus",
    "decode_joint_states", "decode_wrenches", "encode_image", "encode_imu", "encode_joint_state",
    "encode_wrench", "header_stamp_ns", "header_stamps",
]
