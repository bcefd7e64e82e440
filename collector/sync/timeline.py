"""Per-stream timelines: receive time, header stamp and decoded values of every message.

A :class:`StreamTimeline` is what sync needs of one stream, in message order:
``receive_ns`` (MCAP log time, the reference clock), ``stamp_ns`` (``header.stamp``,
0 when absent) and, for numeric roles, the decoded values (first axis = message):

=========================================  ===================================================
role                                       values
=========================================  ===================================================
joint_state, gripper, hand, action         ``position``, ``velocity``, ``effort`` (N, J) float64
imu                                        ``orientation`` (N, 4) xyzw, ``angular_velocity``,
                                           ``linear_acceleration`` (N, 3)
wrench                                     ``force``, ``torque`` (N, 3)
tactile                                    ``pressure`` (N, H, W) float32 (kPa)
camera, depth                              none: images are never decoded here
=========================================  ===================================================

``message_index`` numbers the stream's messages in bag order (``BagReader.messages``
with ``ordered=True``, counting only this topic), so exports can fetch a frame by
index; together with ``receive_ns`` it identifies the message.

``problems`` holds, per message position, what makes an image message unusable
(undecodable, or an encoding or size other than the rig's; see
:mod:`collector.sync.content`); numeric values are judged by sync itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from collector.errors import CollectorError
from collector.rig import Rig, Stream
from collector.sync.content import IMAGE_HEADER_ROLES, image_problem
from collector.sync.errors import SyncError

DECODE_BATCH = 4096


@dataclass(frozen=True, kw_only=True, eq=False)
class StreamTimeline:
    """One stream's messages in receive order.

    Attributes:
        name: stream name (as in the rig).
        role: stream role (as in the rig).
        receive_ns: (N,) int64 receive times (ns, reference clock), non-decreasing.
        stamp_ns: (N,) int64 header stamps (ns, the stream's clock); 0 = none.
        message_index: (N,) int64 index of each message in the bag's topic order
            (default ``0..N-1``).
        values: decoded per-message arrays (first axis N), see the module doc.
        names: joint names of the value columns (joint roles), else ().
        problems: message position -> what is wrong with its content (images).

    Raises:
        ValueError: on construction, when lengths differ or receive times decrease.
    """

    name: str
    role: str
    receive_ns: np.ndarray
    stamp_ns: np.ndarray
    message_index: np.ndarray | None = None
    values: Mapping[str, np.ndarray] = field(default_factory=dict)
    names: tuple[str, ...] = ()
    problems: Mapping[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        receive = np.ascontiguousarray(self.receive_ns, dtype=np.int64)
        stamp = np.ascontiguousarray(self.stamp_ns, dtype=np.int64)
        n = len(receive)
        index = np.arange(n, dtype=np.int64) if self.message_index is None else np.asarray(self.message_index,
                                                                                           dtype=np.int64)
        if receive.ndim != 1 or stamp.shape != receive.shape or index.shape != receive.shape:
            raise ValueError(f"{self.name}: receive_ns {receive.shape}, stamp_ns {stamp.shape} and "
                             f"message_index {index.shape} must be the same 1-D length")
        if n > 1 and np.any(np.diff(receive) < 0):
            bad = int(np.flatnonzero(np.diff(receive) < 0)[0]) + 1
            raise ValueError(f"{self.name}: receive_ns decreases at message {bad} ({receive[bad]} ns)")
        values = {}
        for key, value in self.values.items():
            value = np.asarray(value)
            if len(value) != n:
                raise ValueError(f"{self.name}: values[{key!r}] has {len(value)} rows, expected {n}")
            values[key] = value
        object.__setattr__(self, "receive_ns", receive)
        object.__setattr__(self, "stamp_ns", stamp)
        object.__setattr__(self, "message_index", index)
        problems = {int(k): str(v) for k, v in self.problems.items()}
        if any(not 0 <= k < n for k in problems):
            raise ValueError(f"{self.name}: problems name messages outside 0..{n - 1}")
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "names", tuple(self.names))
        object.__setattr__(self, "problems", problems)

    def __len__(self) -> int:
        return len(self.receive_ns)


# ----------------------------------------------------------------------------- decoding per role

Decoded = tuple[np.ndarray, dict[str, np.ndarray], tuple[str, ...]]


def _joints(messages: list) -> Decoded:
    from collector.cdr import decode_joint_states

    states = decode_joint_states(messages)
    return states.stamp_ns, {"position": states.position, "velocity": states.velocity,
                             "effort": states.effort}, states.names


def _imus(messages: list) -> Decoded:
    from collector.cdr import decode_imus

    imus = decode_imus(messages)
    return imus.stamp_ns, {"orientation": imus.orientation, "angular_velocity": imus.angular_velocity,
                           "linear_acceleration": imus.linear_acceleration}, ()


def _wrenches(messages: list) -> Decoded:
    from collector.cdr import decode_wrenches

    wrenches = decode_wrenches(messages)
    return wrenches.stamp_ns, {"force": wrenches.force, "torque": wrenches.torque}, ()


def _tactile(messages: list, shape: tuple[int, int] | None = None) -> Decoded:
    """Pressure grids; a message that does not decode to ``shape`` (default: the first's)
    gets NaN (its problem is recorded by the timeline builder)."""
    from collector.cdr import decode_image, header_stamps

    grids, stamps = [], header_stamps(messages) if messages else np.zeros(0, np.int64)
    for i, message in enumerate(messages):
        try:
            grid = np.asarray(decode_image(message, index=i).data, dtype=np.float32)
        except CollectorError:
            grid = None
        if shape is None and grid is not None:
            shape = grid.shape
        grids.append(grid)
    if not messages:
        return stamps, {"pressure": np.empty((0,))}, ()
    blank = np.full(shape or (0, 0), np.nan, dtype=np.float32)
    return stamps, {"pressure": np.stack([g if g is not None and g.shape == blank.shape else blank
                                          for g in grids])}, ()


def _stamps_only(messages: list) -> Decoded:
    from collector.cdr import header_stamps

    return header_stamps(messages), {}, ()


# role -> decoder of a batch of CDR messages; roles not listed keep stamps only (images)
ROLE_DECODERS: dict[str, Callable[[list], Decoded]] = {
    "joint_state": _joints,
    "gripper": _joints,
    "hand": _joints,
    "action": _joints,
    "imu": _imus,
    "wrench": _wrenches,
    "tactile": _tactile,
}
_HEAD_BYTES = 12  # encapsulation + header.stamp: all an undecoded stream keeps of a message


class _Builder:
    """Accumulates one stream's messages, decoding in batches to bound memory."""

    def __init__(self, stream: Stream):
        self.stream = stream
        self.decode = ROLE_DECODERS.get(stream.role)
        if stream.role == "tactile" and self.decode is _tactile and stream.width and stream.height:
            self.decode = partial(_tactile, shape=(stream.height, stream.width))
        self.check_images = stream.role in IMAGE_HEADER_ROLES
        self.receive: list[int] = []
        self.pending: list[bytes] = []
        self.stamps: list[np.ndarray] = []
        self.values: dict[str, list[np.ndarray]] = {}
        self.names: tuple[str, ...] | None = None
        self.problems: dict[int, str] = {}  # by position in file order

    def add(self, receive_ns: int, data: bytes) -> None:
        if self.check_images:
            problem = image_problem(data, self.stream, len(self.receive))
            if problem is not None:
                self.problems[len(self.receive)] = problem
        self.receive.append(receive_ns)
        # a copy: a slice of a zero-copy view would keep the whole chunk (images!) alive
        self.pending.append(data if self.decode else bytes(data[:_HEAD_BYTES]))
        if len(self.pending) >= DECODE_BATCH:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        first = len(self.receive) - len(self.pending)
        try:
            stamps, values, names = (self.decode or _stamps_only)(self.pending)
        except CollectorError as err:
            raise SyncError(self.stream.name, None, f"cannot decode messages {first}..{len(self.receive) - 1} "
                                                    f"of {self.stream.topic}: {err}") from err
        if self.names is not None and names != self.names:
            raise SyncError(self.stream.name, None, f"joint names change at message {first}: {list(names)} "
                                                    f"after {list(self.names)}")
        self.names = names
        self.stamps.append(np.asarray(stamps, dtype=np.int64))
        for key, value in values.items():
            self.values.setdefault(key, []).append(np.array(value, copy=True))
        self.pending = []

    def finish(self) -> StreamTimeline:
        self.flush()
        receive = np.array(self.receive, dtype=np.int64)
        stamps = np.concatenate(self.stamps) if self.stamps else np.zeros(0, np.int64)
        values = {key: np.concatenate(parts) for key, parts in self.values.items()}
        problems = self.problems
        if len(receive) > 1 and np.any(np.diff(receive) < 0):
            # read in file order; a stable sort by log time is exactly the bag's ordered=True order
            order = np.argsort(receive, kind="stable")
            receive, stamps = receive[order], stamps[order]
            values = {key: value[order] for key, value in values.items()}
            position = np.empty(len(order), dtype=np.int64)
            position[order] = np.arange(len(order))
            problems = {int(position[k]): v for k, v in problems.items()}
        return StreamTimeline(name=self.stream.name, role=self.stream.role, receive_ns=receive, stamp_ns=stamps,
                              values=values, names=self.names or (), problems=problems)


def read_timelines(episode: str | Path, rig: Rig, *, streams: Iterable[str] | None = None) -> dict[str, StreamTimeline]:
    """Read the timelines of ``rig``'s streams (or only ``streams``) from an episode bag.

    Image streams keep only their stamps; numeric streams are decoded with
    :mod:`collector.cdr` in batches of :data:`DECODE_BATCH` messages.

    Raises:
        BagError: the episode is not a readable bag.
        RigError: ``streams`` names a stream the rig does not have.
        SyncError: a stream's messages cannot be decoded (names stream and messages).
    """
    from collector.bag.reader import open_bag

    chosen = rig.streams if streams is None else tuple(rig.stream(name) for name in streams)
    builders = {s.topic: _Builder(s) for s in chosen}
    with open_bag(Path(episode)) as bag:
        # file order is faster than the reader's log-time merge; _Builder.finish restores the order
        for message in bag.messages(list(builders), ordered=False):
            builders[message.topic].add(message.log_time_ns, message.data)
    return {builder.stream.name: builder.finish() for builder in builders.values()}


def episode_rig(episode: str | Path) -> Rig:
    """The rig profile an episode was recorded with.

    The copy stored in the bag (attachment ``rig_profile.yaml``) wins; then a
    ``rig_profile.yaml`` file beside the bag (episodes whose bag another tool
    wrote, which has no such attachment); else the rig named in ``episode.json``
    is loaded from the shipped profiles.

    Raises:
        BagError, EpisodeError, RigError: when neither source yields a valid rig.
    """
    from collector.bag.reader import open_bag
    from collector.episode import RIG_ATTACHMENT, read_episode_info, stored_rig
    from collector.errors import RigError
    from collector.rig import load_rig, parse_rig

    path = Path(episode)
    with open_bag(path) as bag:
        rig = stored_rig(bag, path)
    if rig is not None:
        return rig
    beside = path / RIG_ATTACHMENT if path.is_dir() else None
    if beside is not None and beside.is_file():
        try:
            text = beside.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise RigError(f"{beside}: cannot read: {err}") from err
        return parse_rig(text, source=str(beside))
    return load_rig(read_episode_info(path).rig)
