"""Decoders of whole streams of small messages: JointState, Imu, WrenchStamped, header stamps.

When every message has the same length and layout (the normal case) the stream is
stacked into one ``(N, L)`` uint8 array and fields are read as column views, else
each message is parsed on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from collector.cdr._common import IMU, JOINT_STATE, NS_PER_S, WRENCH, Buffer, CdrError
from collector.cdr._reader import _Reader

_IMU_DOUBLES = 4 + 9 + 3 + 9 + 3 + 9
_WRENCH_DOUBLES = 6
_HEAD = np.dtype([("kind", ">u2"), ("options", ">u2"), ("sec", "<i4"), ("nanosec", "<u4")])


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

