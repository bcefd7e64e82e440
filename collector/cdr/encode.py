"""Encoders: one message's values in, its CDR bytes out (Fast-CDR's layout and length)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from collector.cdr._common import _STAMP, _U32, ENCAPSULATION, NS_PER_S, Buffer, CdrError

_PAD_BYTE = b"\x00"  # what we write into alignment padding (tests swap it to find the padding)


class _Out:
    """Collects the parts of one message; tracks Fast-CDR's size estimate beside the real size."""

    __slots__ = ("parts", "size", "estimate")

    def __init__(self) -> None:
        self.parts: list[Buffer] = [ENCAPSULATION]
        self.size = 0  # bytes after the encapsulation header
        self.estimate = 0  # Fast-CDR's estimate of the same, which becomes the message length

    def align(self, alignment: int) -> None:
        pad = -self.size % alignment
        if pad:
            self.parts.append(_PAD_BYTE * pad)
            self.size += pad
        self.estimate += -self.estimate % alignment

    def raw(self, data: Buffer, size: int) -> None:
        self.parts.append(data)
        self.size += size
        self.estimate += size

    def u32(self, value: int) -> None:
        self.align(4)
        self.raw(_U32.pack(value), 4)

    def header(self, stamp_ns: int, frame_id: str) -> None:
        if isinstance(stamp_ns, bool) or not isinstance(stamp_ns, (int, np.integer)):
            raise CdrError(f"stamp_ns={stamp_ns!r} is not int nanoseconds")
        sec, nanosec = divmod(int(stamp_ns), NS_PER_S)
        if not -(1 << 31) <= sec < (1 << 31):
            raise CdrError(f"stamp_ns={stamp_ns!r} does not fit header.stamp (int32 seconds)")
        self.raw(_STAMP.pack(sec, nanosec), 8)
        self.string(frame_id, "frame_id")

    def string(self, text: str, what: str) -> None:
        if not isinstance(text, str):
            raise CdrError(f"{what}={text!r} is not a str")
        raw = text.encode("utf-8")
        if b"\x00" in raw:
            raise CdrError(f"{what}={text!r} contains a NUL character")
        self.u32(len(raw) + 1)
        self.raw(raw + b"\x00", len(raw) + 1)

    def doubles(self, values: np.ndarray) -> None:
        self.align(8)
        self.raw(values.tobytes(), values.nbytes)

    def double_sequence(self, values: np.ndarray) -> None:
        self.u32(values.size)
        if values.size:
            self.doubles(values)
        else:  # Fast-CDR writes no padding for an empty array, but its estimate counts it
            self.estimate += -self.estimate % 8

    def finish(self) -> bytes:
        if self.estimate > self.size:
            self.parts.append(_PAD_BYTE * (self.estimate - self.size))
        return b"".join(self.parts)


def _float64(values, what: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """``values`` as a flat little-endian float64 array; ``shape`` checks the element count."""
    try:
        array = np.asarray(values, dtype="<f8")
    except (TypeError, ValueError) as err:
        raise CdrError(f"{what}: cannot convert {values!r} to float64 ({err})") from err
    if shape is not None and array.size != int(np.prod(shape)):
        raise CdrError(f"{what}: expected {int(np.prod(shape))} values, got {array.size}")
    if shape is None and array.ndim != 1:
        raise CdrError(f"{what}: expected a flat sequence of numbers, got shape {array.shape}")
    return np.ascontiguousarray(array).reshape(-1)


def _u32_value(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < (1 << 32):
        raise CdrError(f"{what}={value!r} is not a uint32")
    return int(value)



def encode_joint_state(*, stamp_ns: int, frame_id: str, names: Sequence[str], position, velocity,
                       effort) -> bytes:
    """A ``sensor_msgs/msg/JointState`` as CDR bytes.

    ``position`` (rad or m), ``velocity`` (per s) and ``effort`` (Nm or N) are
    sequences of floats, each empty or as long as ``names``.

    Raises:
        CdrError: a name is not a str, or an array is neither empty nor ``len(names)`` long.
    """
    names = list(names)
    arrays = []
    for what, values in (("position", position), ("velocity", velocity), ("effort", effort)):
        array = _float64(values, what)
        if array.size not in (0, len(names)):
            raise CdrError(f"{what} has {array.size} values for {len(names)} joint names")
        arrays.append(array)
    out = _Out()
    out.header(stamp_ns, frame_id)
    out.u32(len(names))
    for i, name in enumerate(names):
        out.string(name, f"names[{i}]")
    for array in arrays:
        out.double_sequence(array)
    return out.finish()


_NO_COVARIANCE = np.zeros(9)


def encode_imu(*, stamp_ns: int, frame_id: str, orientation, angular_velocity, linear_acceleration,
               orientation_covariance=None, angular_velocity_covariance=None,
               linear_acceleration_covariance=None) -> bytes:
    """A ``sensor_msgs/msg/Imu`` as CDR bytes.

    ``orientation`` is a quaternion (x, y, z, w); ``angular_velocity`` rad/s and
    ``linear_acceleration`` m/s^2 are (x, y, z); covariances are 9 values (row
    major 3x3), zeros when None.

    Raises:
        CdrError: a vector or covariance has the wrong number of values.
    """
    out = _Out()
    out.header(stamp_ns, frame_id)
    fields = (
        ("orientation", orientation, 4), ("orientation_covariance", orientation_covariance, 9),
        ("angular_velocity", angular_velocity, 3), ("angular_velocity_covariance", angular_velocity_covariance, 9),
        ("linear_acceleration", linear_acceleration, 3),
        ("linear_acceleration_covariance", linear_acceleration_covariance, 9),
    )
    values = [_NO_COVARIANCE if v is None else _float64(v, what, (n,)) for what, v, n in fields]
    out.doubles(np.concatenate(values))
    return out.finish()


def encode_wrench(*, stamp_ns: int, frame_id: str, force, torque) -> bytes:
    """A ``geometry_msgs/msg/WrenchStamped`` as CDR bytes; ``force`` (N) and ``torque`` (Nm) are (x, y, z).

    Raises:
        CdrError: ``force`` or ``torque`` does not hold 3 values.
    """
    out = _Out()
    out.header(stamp_ns, frame_id)
    out.doubles(np.concatenate([_float64(force, "force", (3,)), _float64(torque, "torque", (3,))]))
    return out.finish()
