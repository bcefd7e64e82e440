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
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np

from collector.errors import CollectorError

NS_PER_S = 1_000_000_000
ENCAPSULATION = b"\x00\x01\x00\x00"  # CDR_LE, options 0

IMAGE = "sensor_msgs/msg/Image"
JOINT_STATE = "sensor_msgs/msg/JointState"
IMU = "sensor_msgs/msg/Imu"
WRENCH = "geometry_msgs/msg/WrenchStamped"

# Image encodings we can view as arrays: numpy dtype (little-endian) and channels.
IMAGE_ENCODINGS: dict[str, tuple[str, int]] = {
    "rgb8": ("u1", 3),
    "bgr8": ("u1", 3),
    "rgba8": ("u1", 4),
    "bgra8": ("u1", 4),
    "mono8": ("u1", 1),
    "8UC1": ("u1", 1),
    "8UC3": ("u1", 3),
    "mono16": ("u2", 1),
    "16UC1": ("u2", 1),
    "32FC1": ("f4", 1),
}

Buffer = Union[bytes, bytearray, memoryview]

_PAD_BYTE = b"\x00"  # what we write into alignment padding (tests swap it to find the padding)
_U32 = struct.Struct("<I")
_STAMP = struct.Struct("<iI")
_IMU_DOUBLES = 4 + 9 + 3 + 9 + 3 + 9
_WRENCH_DOUBLES = 6
_HEAD = np.dtype([("kind", ">u2"), ("options", ">u2"), ("sec", "<i4"), ("nanosec", "<u4")])


class CdrError(CollectorError):
    """CDR bytes are malformed or inconsistent, or values cannot be encoded."""


# --------------------------------------------------------------------------- encoding


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


def encode_image(*, stamp_ns: int, frame_id: str, height: int, width: int, encoding: str,
                 data: Buffer | np.ndarray, step: int | None = None, is_bigendian: int = 0) -> bytes:
    """A ``sensor_msgs/msg/Image`` as CDR bytes.

    Args:
        stamp_ns: ``header.stamp``, int ns since the epoch.
        frame_id: ``header.frame_id``.
        height, width: image size (px).
        encoding: pixel encoding, e.g. ``rgb8``, ``16UC1`` (any string is written).
        data: pixel bytes, or an array whose bytes (C order) are the pixels.
        step: bytes per row; default ``len(data) // height`` (0 for an empty image).
        is_bigendian: 0 or 1, copied to the message (arrays are not byte-swapped).

    Raises:
        CdrError: a field out of range, or ``len(data) != step * height``.
    """
    height = _u32_value(height, "height")
    width = _u32_value(width, "width")
    if is_bigendian not in (0, 1):
        raise CdrError(f"is_bigendian={is_bigendian!r} is not 0 or 1")
    if isinstance(data, np.ndarray):
        pixels = memoryview(np.ascontiguousarray(data)).cast("B")
    else:
        try:
            pixels = memoryview(data).cast("B")
        except TypeError as err:
            raise CdrError(f"data of type {type(data).__name__} is neither bytes nor an array") from err
    size = pixels.nbytes
    if step is None:
        step = size // height if height else 0
    step = _u32_value(step, "step")
    if step * height != size:
        raise CdrError(f"image data has {size} bytes, expected step * height = {step} * {height} = {step * height}")
    out = _Out()
    out.header(stamp_ns, frame_id)
    out.u32(height)
    out.u32(width)
    out.string(encoding, "encoding")
    out.raw(b"\x01" if is_bigendian else b"\x00", 1)
    out.u32(step)
    out.u32(size)
    out.raw(pixels, size)
    return out.finish()


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


# --------------------------------------------------------------------------- decoding results


@dataclass(frozen=True, kw_only=True, eq=False)
class JointStates:
    """N JointState messages of one stream: ``position``/``velocity``/``effort`` are (N, J)
    float64, NaN where a message left the array empty; ``stamp_ns`` (N,) int64."""

    names: tuple[str, ...]
    stamp_ns: np.ndarray
    position: np.ndarray
    velocity: np.ndarray
    effort: np.ndarray


@dataclass(frozen=True, kw_only=True, eq=False)
class Imus:
    """N Imu messages: ``orientation`` (N, 4) x, y, z, w; ``angular_velocity`` (N, 3) rad/s;
    ``linear_acceleration`` (N, 3) m/s^2; ``stamp_ns`` (N,) int64."""

    stamp_ns: np.ndarray
    orientation: np.ndarray
    angular_velocity: np.ndarray
    linear_acceleration: np.ndarray


@dataclass(frozen=True, kw_only=True, eq=False)
class Wrenches:
    """N WrenchStamped messages: ``force`` (N, 3) N, ``torque`` (N, 3) Nm, ``stamp_ns`` (N,) int64."""

    stamp_ns: np.ndarray
    force: np.ndarray
    torque: np.ndarray


@dataclass(frozen=True, kw_only=True, eq=False)
class ImageMessage:
    """One Image; ``data`` is a view of the message bytes shaped (H, W) or (H, W, C)."""

    stamp_ns: int
    frame_id: str
    height: int
    width: int
    encoding: str
    step: int
    is_bigendian: int
    data: np.ndarray


# --------------------------------------------------------------------------- parsing one message


class _Reader:
    """Walks one message; positions are absolute offsets into it (alignment counts from 4)."""

    __slots__ = ("data", "pos", "msgtype", "index")

    def __init__(self, data: Buffer, msgtype: str, index: int) -> None:
        self.data = data
        self.msgtype = msgtype
        self.index = index
        if len(data) < 4:
            raise self.error(f"{len(data)} bytes, too short for the encapsulation header")
        if bytes(data[:2]) != ENCAPSULATION[:2]:
            raise self.error(f"encapsulation {bytes(data[:4]).hex(' ')} is not plain little-endian CDR (00 01)")
        self.pos = 4

    def error(self, what: str) -> CdrError:
        return CdrError(f"{self.msgtype} message {self.index}: {what}")

    def need(self, size: int, what: str) -> None:
        if self.pos + size > len(self.data):
            raise self.error(f"truncated in {what}: needs {size} bytes at offset {self.pos}, "
                             f"message has {len(self.data)}")

    def align(self, alignment: int) -> None:
        self.pos += -(self.pos - 4) % alignment

    def u32(self, what: str) -> int:
        self.align(4)
        self.need(4, what)
        (value,) = _U32.unpack_from(self.data, self.pos)
        self.pos += 4
        return value

    def u8(self, what: str) -> int:
        self.need(1, what)
        value = self.data[self.pos]
        self.pos += 1
        return value

    def string(self, what: str) -> str:
        size = self.u32(what)
        if size == 0:
            raise self.error(f"{what}: string length 0 (must count its NUL)")
        self.need(size, what)
        raw = bytes(self.data[self.pos : self.pos + size])
        if raw[-1] != 0:
            raise self.error(f"{what}: string of {size} bytes does not end in NUL")
        self.pos += size
        try:
            return raw[:-1].decode("utf-8")
        except UnicodeDecodeError as err:
            raise self.error(f"{what}: not UTF-8 ({err.reason})") from err

    def header(self) -> tuple[int, str]:
        self.need(8, "header.stamp")
        sec, nanosec = _STAMP.unpack_from(self.data, self.pos)
        self.pos += 8
        return sec * NS_PER_S + nanosec, self.string("header.frame_id")

    def doubles(self, count: int, what: str) -> np.ndarray:
        """``count`` float64 values (aligned to 8 first), as a read-only view."""
        self.align(8)
        self.need(8 * count, what)
        values = np.frombuffer(self.data, dtype="<f8", count=count, offset=self.pos)
        self.pos += 8 * count
        return values

    def double_sequence(self, what: str) -> tuple[int, np.ndarray]:
        """Offset and values of a ``float64[]`` (offset -1 when empty)."""
        count = self.u32(f"{what} length")
        if count == 0:
            return -1, _EMPTY
        values = self.doubles(count, what)
        return self.pos - 8 * count, values


_EMPTY = np.empty(0)


def _check_messages(messages) -> list:
    if isinstance(messages, (bytes, bytearray, memoryview)):
        raise CdrError("expected a sequence of messages, got one message's bytes")
    return messages if isinstance(messages, list) else list(messages)


def header_stamps(messages: Sequence[Buffer]) -> np.ndarray:
    """``header.stamp`` of every message (any type starting with a std_msgs/Header), int64 ns.

    Raises:
        CdrError: a message shorter than 12 bytes or not little-endian plain CDR (names its index).
    """
    messages = _check_messages(messages)
    heads = b"".join([m[:12] for m in messages])
    if len(heads) != 12 * len(messages):
        index = next(i for i, m in enumerate(messages) if len(m) < 12)
        raise CdrError(f"message {index}: {len(messages[index])} bytes, too short for a header stamp")
    head = np.frombuffer(heads, dtype=_HEAD)
    bad = np.flatnonzero(head["kind"] != 1)
    if bad.size:
        index = int(bad[0])
        raise CdrError(f"message {index}: encapsulation {bytes(messages[index][:4]).hex(' ')} "
                       "is not plain little-endian CDR (00 01)")
    return head["sec"].astype(np.int64) * NS_PER_S + head["nanosec"]


def _stack(messages: list) -> np.ndarray | None:
    """All messages as one (N, L) uint8 array, or None when their lengths differ."""
    length = len(messages[0])
    if any(len(m) != length for m in messages):
        return None
    return np.frombuffer(b"".join(messages), dtype=np.uint8).reshape(len(messages), length)


def _columns(stack: np.ndarray, offset: int, count: int) -> np.ndarray:
    """``count`` float64 values starting at byte ``offset`` of every row, as an (N, count) array."""
    return np.ascontiguousarray(stack[:, offset : offset + 8 * count]).view("<f8")


def _stack_stamps(stack: np.ndarray) -> np.ndarray:
    sec = np.ascontiguousarray(stack[:, 4:8]).view("<i4")[:, 0].astype(np.int64)
    nanosec = np.ascontiguousarray(stack[:, 8:12]).view("<u4")[:, 0]
    return sec * NS_PER_S + nanosec


# --------------------------------------------------------------------------- JointState


@dataclass(frozen=True)
class _JointLayout:
    """Where one JointState keeps its values; ``fixed`` are the byte offsets that must match."""

    names: tuple[str, ...]
    stamp_ns: int
    offsets: tuple[int, int, int]  # of position, velocity, effort values; -1 when empty
    values: tuple[np.ndarray, np.ndarray, np.ndarray]
    fixed: np.ndarray


_JOINT_FIELDS = ("position", "velocity", "effort")


def _parse_joint_state(data: Buffer, index: int) -> _JointLayout:
    reader = _Reader(data, JOINT_STATE, index)
    stamp_ns, _ = reader.header()
    fixed = [range(0, 4), range(12, 16)]  # encapsulation, frame_id length (its text may vary)
    count = reader.u32("name length")
    fixed.append(range(reader.pos - 4, reader.pos))
    if count > (len(data) - reader.pos) // 5:  # each name takes at least 5 bytes
        raise reader.error(f"name length {count} exceeds the {len(data)} byte message")
    names = []
    for i in range(count):
        reader.align(4)
        start = reader.pos
        names.append(reader.string(f"name[{i}]"))
        fixed.append(range(start, reader.pos))
    offsets, values = [], []
    for what in _JOINT_FIELDS:
        reader.align(4)
        fixed.append(range(reader.pos, reader.pos + 4))  # the array's length
        offset, array = reader.double_sequence(what)
        if array.size not in (0, count):
            raise reader.error(f"{what} has {array.size} values for {count} joint names")
        offsets.append(offset)
        values.append(array)
    columns = np.fromiter((i for span in fixed for i in span), dtype=np.intp)
    return _JointLayout(tuple(names), stamp_ns, tuple(offsets), tuple(values), columns)


def _joint_states_stacked(messages: list) -> JointStates | None:
    """The vectorised decode; None when the messages do not share one length and layout."""
    stack = _stack(messages)
    if stack is None:
        return None
    first = _parse_joint_state(messages[0], 0)
    fixed = stack[:, first.fixed]
    if not (fixed == fixed[0]).all():
        return None
    joints = len(first.names)
    arrays = []
    for offset in first.offsets:
        if offset < 0:
            arrays.append(np.full((len(messages), joints), np.nan))
        else:
            arrays.append(_columns(stack, offset, joints))
    return JointStates(names=first.names, stamp_ns=_stack_stamps(stack),
                       position=arrays[0], velocity=arrays[1], effort=arrays[2])


def _joint_states_each(messages: list) -> JointStates:
    """The per-message decode (any mix of lengths and layouts)."""
    layouts = []
    for index, data in enumerate(messages):
        layout = _parse_joint_state(data, index)
        if layouts and layout.names != layouts[0].names:
            raise CdrError(f"{JOINT_STATE} message {index}: joint names {list(layout.names)} differ from "
                           f"message 0's {list(layouts[0].names)}")
        layouts.append(layout)
    joints = len(layouts[0].names) if layouts else 0
    arrays = [np.full((len(layouts), joints), np.nan) for _ in _JOINT_FIELDS]
    for row, layout in enumerate(layouts):
        for array, values in zip(arrays, layout.values):
            if values.size:
                array[row] = values
    return JointStates(
        names=layouts[0].names if layouts else (),
        stamp_ns=np.array([layout.stamp_ns for layout in layouts], dtype=np.int64),
        position=arrays[0], velocity=arrays[1], effort=arrays[2],
    )


def decode_joint_states(messages: Sequence[Buffer]) -> JointStates:
    """Decode the JointState messages of one stream into (N, J) arrays.

    Raises:
        CdrError: a message is malformed or truncated, its joint names differ from
            message 0's, or an array is neither empty nor one value per name (names
            the message index).
    """
    messages = _check_messages(messages)
    if messages:
        stacked = _joint_states_stacked(messages)
        if stacked is not None:
            return stacked
    return _joint_states_each(messages)


# --------------------------------------------------------------------------- fixed layouts: Imu, Wrench


def _parse_fixed(data: Buffer, index: int, msgtype: str, doubles: int) -> tuple[int, int, np.ndarray]:
    """Stamp, offset and values of a header followed by ``doubles`` float64 values."""
    reader = _Reader(data, msgtype, index)
    stamp_ns, _ = reader.header()
    values = reader.doubles(doubles, "values")
    return stamp_ns, reader.pos - 8 * doubles, values


def _fixed_stacked(messages: list, msgtype: str, doubles: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Stamps (N,) and values (N, doubles), vectorised; None when layouts differ."""
    stack = _stack(messages)
    if stack is None:
        return None
    _, offset, _ = _parse_fixed(messages[0], 0, msgtype, doubles)
    frame_id_length = np.ascontiguousarray(stack[:, 12:16]).view("<u4")[:, 0].astype(np.int64)
    offsets = 4 + ((12 + frame_id_length + 7) & ~7)
    if not ((offsets == offset).all() and (frame_id_length > 0).all() and (stack[:, :2] == (0, 1)).all()):
        return None
    return _stack_stamps(stack), _columns(stack, offset, doubles)


def _fixed_each(messages: list, msgtype: str, doubles: int) -> tuple[np.ndarray, np.ndarray]:
    stamps = np.empty(len(messages), dtype=np.int64)
    values = np.empty((len(messages), doubles))
    for index, data in enumerate(messages):
        stamps[index], _, values[index] = _parse_fixed(data, index, msgtype, doubles)
    return stamps, values


def _decode_fixed(messages, msgtype: str, doubles: int, vectorised: bool = True) -> tuple[np.ndarray, np.ndarray]:
    messages = _check_messages(messages)
    result = _fixed_stacked(messages, msgtype, doubles) if messages and vectorised else None
    return result if result is not None else _fixed_each(messages, msgtype, doubles)


def decode_imus(messages: Sequence[Buffer]) -> Imus:
    """Decode the Imu messages of one stream (covariances are skipped).

    Raises:
        CdrError: a message is malformed or truncated (names its index).
    """
    stamps, values = _decode_fixed(messages, IMU, _IMU_DOUBLES)
    return Imus(stamp_ns=stamps, orientation=values[:, 0:4], angular_velocity=values[:, 13:16],
                linear_acceleration=values[:, 25:28])


def decode_wrenches(messages: Sequence[Buffer]) -> Wrenches:
    """Decode the WrenchStamped messages of one stream.

    Raises:
        CdrError: a message is malformed or truncated (names its index).
    """
    stamps, values = _decode_fixed(messages, WRENCH, _WRENCH_DOUBLES)
    return Wrenches(stamp_ns=stamps, force=values[:, 0:3], torque=values[:, 3:6])


# --------------------------------------------------------------------------- Image


def decode_image(message: Buffer, *, index: int = 0) -> ImageMessage:
    """Decode one Image; ``data`` is a zero-copy view of ``message`` (read-only for bytes).

    The view is (H, W) for one channel, else (H, W, C), with the encoding's dtype
    (see :data:`IMAGE_ENCODINGS`, byte order from ``is_bigendian``); rows may be
    padded (``step`` larger than a row's pixels). ``index`` only names the message in errors.

    Raises:
        CdrError: malformed or truncated bytes, an unsupported encoding, or sizes that
            disagree (``step`` shorter than a row, data length not ``step * height``).
    """
    reader = _Reader(message, IMAGE, index)
    stamp_ns, frame_id = reader.header()
    height = reader.u32("height")
    width = reader.u32("width")
    encoding = reader.string("encoding")
    is_bigendian = reader.u8("is_bigendian")
    step = reader.u32("step")
    size = reader.u32("data length")
    reader.need(size, "data")
    if encoding not in IMAGE_ENCODINGS:
        raise reader.error(f"encoding {encoding!r} is not one of {', '.join(IMAGE_ENCODINGS)}")
    if is_bigendian not in (0, 1):
        raise reader.error(f"is_bigendian={is_bigendian} is not 0 or 1")
    if size != step * height:
        raise reader.error(f"data has {size} bytes, expected step * height = {step} * {height} = {step * height}")
    code, channels = IMAGE_ENCODINGS[encoding]
    dtype = np.dtype(code).newbyteorder(">" if is_bigendian else "<")
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise reader.error(f"step {step} is shorter than a row of {width} {encoding} pixels ({row_bytes} bytes)")
    shape: tuple[int, ...] = (height, width) if channels == 1 else (height, width, channels)
    strides: tuple[int, ...] = (step, channels * dtype.itemsize) + ((dtype.itemsize,) if channels > 1 else ())
    if height == 0 or width == 0:
        pixels = np.empty(shape, dtype=dtype)
    else:
        pixels = np.ndarray(shape, dtype=dtype, buffer=message, offset=reader.pos, strides=strides)
    return ImageMessage(stamp_ns=stamp_ns, frame_id=frame_id, height=height, width=width, encoding=encoding,
                        step=step, is_bigendian=is_bigendian, data=pixels)
