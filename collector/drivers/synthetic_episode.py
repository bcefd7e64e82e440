"""A complete raw episode of the synthetic robot, written in process: no ROS, no DDS.

What the synthetic robot node publishes and the recorder writes, computed instead
of lived through: the same :class:`~collector.drivers.synthetic.Schedule` (faults
included) and content sources, serialised with :mod:`collector.cdr`, given a
receive time by a :class:`LatencyModel`, and written by
:class:`~collector.bag.writer.BagWriter` in receive-time order with the
``episode.json`` the recorder would write. For tests, benchmarks and the
simulator's lock-step path.

Times per message (int ns, system clock):

* ``true_time_ns``: capture;
* ``stamp_ns``: its ``header.stamp`` (faults: offset, drift, jitter);
* ``publish_ns`` = capture + fault latency + the role's pipeline delay (``base``):
  MCAP publish time, what DDS gives the recorder as source timestamp;
* ``receive_ns`` = ``publish_ns`` + transport delay (the random ``tail``): MCAP log
  time. A stream's messages arrive in order, as over reliable DDS.
"""

from __future__ import annotations

import heapq
import json
import math
import os
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from collector.bag.writer import BagWriter
from collector.cdr import encode_image, encode_imu, encode_joint_state, encode_wrench
from collector.drivers.synthetic import (
    DEFAULT_LEAD_NS,
    NS_PER_MS,
    NS_PER_S,
    Event,
    Schedule,
    StreamFaults,
    SyntheticError,
    TrajectoryModel,
    make_source,
    parse_faults,
)
from collector.drivers.synthetic.faults import BAD_VALUES, image_step_offset
from collector.episode import EpisodeInfo, StreamStats, gaps_on_stamp, new_episode_dir, open_episode, write_episode_info
from collector.rig import ROLES, Rig, Stream

TRUTH_FILE = "truth.jsonl"
NS_PER_US = 1_000
_LATENCY_SALT = 3  # the schedule draws phases (1) and noise (2) per stream; content uses 0
_DRAW_BLOCK = 1024

# Constant diagonal covariances, as the ROS node publishes them (synthetic_node.ImuOutlet).
IMU_COVARIANCE = {"orientation": 4e-4, "angular_velocity": 1e-5, "linear_acceleration": 1e-3}

_CAMERA_BASE_NS = 8 * NS_PER_MS
_CAMERA_TAIL_NS = 1 * NS_PER_MS
_SMALL_BASE_NS = 300 * NS_PER_US
_SMALL_TAIL_NS = 200 * NS_PER_US


def _default_base() -> dict[str, int]:
    return {role: _CAMERA_BASE_NS if role in ("camera", "depth") else _SMALL_BASE_NS for role in ROLES}


def _default_tail() -> dict[str, int]:
    return {role: _CAMERA_TAIL_NS if role in ("camera", "depth") else _SMALL_TAIL_NS for role in ROLES}


@dataclass(frozen=True, kw_only=True)
class LatencyModel:
    """Delay from capture to receive, per role: a fixed part and a random positive tail.

    Attributes:
        base_ns: per role, the fixed capture-to-publish delay (exposure, readout,
            driver), int ns >= 0. Roles not named get 0.
        tail_ns: per role, the mean of the exponential publish-to-receive delay
            (transport), int ns >= 0. Roles not named get 0.

    The default is a realistic local rig: cameras and depth 8 ms + exp(1 ms), every
    other role 0.3 ms + exp(0.2 ms). Draws are seeded per stream (see :meth:`sampler`).

    Raises:
        SyntheticError: on construction, for an unknown role or a value that is not
            an int >= 0, naming it.
    """

    base_ns: Mapping[str, int] = field(default_factory=_default_base)
    tail_ns: Mapping[str, int] = field(default_factory=_default_tail)

    def __post_init__(self) -> None:
        for name in ("base_ns", "tail_ns"):
            values = getattr(self, name)
            if not isinstance(values, Mapping):
                raise SyntheticError(f"LatencyModel.{name}={values!r} is not a mapping of role to ns")
            for role, value in values.items():
                if role not in ROLES:
                    raise SyntheticError(f"LatencyModel.{name}: unknown role {role!r} (roles: {', '.join(ROLES)})")
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise SyntheticError(f"LatencyModel.{name}[{role!r}]={value!r} is not an int >= 0 (ns)")

    @classmethod
    def none(cls) -> LatencyModel:
        """No latency at all: receive time = publish time = capture time (+ fault latency)."""
        return cls(base_ns={}, tail_ns={})

    def sampler(self, stream: Stream, seed: int) -> Callable[[], tuple[int, int]]:
        """A function returning ``(base_ns, transport_ns)`` for the next message of ``stream``.

        The draws depend only on ``seed`` and the stream name.
        """
        base = self.base_ns.get(stream.role, 0)
        tail = self.tail_ns.get(stream.role, 0)
        if tail == 0:
            return lambda: (base, 0)
        rng = np.random.default_rng([seed, zlib.crc32(stream.name.encode()), _LATENCY_SALT])
        block: list[int] = []

        def draw() -> tuple[int, int]:
            if not block:
                block.extend(np.rint(rng.exponential(tail, _DRAW_BLOCK)).astype(np.int64)[::-1].tolist())
            return base, block.pop()

        return draw

    def to_dict(self) -> dict[str, Any]:
        return {"base_ns": dict(self.base_ns), "tail_ns": dict(self.tail_ns)}


@dataclass(frozen=True, kw_only=True, eq=False)
class SyntheticEpisode:
    """What :func:`write_synthetic_episode` wrote.

    Attributes:
        path: the episode directory (a rosbag2 bag with ``episode.json``).
        info: the final ``episode.json`` contents.
        truth: one dict per scheduled message, published or dropped, in schedule order:
            ``stream``, ``seq``, ``true_time_ns``, ``stamp_ns``, ``published``,
            ``publish_ns`` and ``receive_ns`` (None when dropped); int ns; and ``corrupt``
            (``nan``, ``inf``, ``bad_step``) for a message a fault corrupted.
        truth_path: ``<path>/truth.jsonl`` when written, else None.
    """

    path: Path
    info: EpisodeInfo
    truth: list[dict[str, Any]]
    truth_path: Path | None = None


# --------------------------------------------------------------------------- messages by role


def _spoilt(values: np.ndarray, event: Event) -> np.ndarray:
    """``values`` with the first one replaced as the event's corruption says (a copy), else as is."""
    if event.corrupt not in BAD_VALUES:
        return values
    values = np.array(values, dtype=np.float64, copy=True)
    values.flat[0] = BAD_VALUES[event.corrupt]
    return values


def _joint_message(stream: Stream, source, event: Event) -> bytes:
    sample = source.sample(event.true_ns, event.seq)
    return encode_joint_state(stamp_ns=event.stamp_ns, frame_id=stream.frame_id, names=stream.joints,
                              position=_spoilt(sample.position, event), velocity=sample.velocity,
                              effort=sample.effort)


_IMU_COVARIANCES = {f"{name}_covariance": np.diag([value] * 3).reshape(-1) for name, value in IMU_COVARIANCE.items()}


def _imu_message(stream: Stream, source, event: Event) -> bytes:
    sample = source.sample(event.true_ns, event.seq)
    return encode_imu(stamp_ns=event.stamp_ns, frame_id=stream.frame_id,
                      orientation=_spoilt(sample.orientation, event),
                      angular_velocity=sample.angular_velocity, linear_acceleration=sample.linear_acceleration,
                      **_IMU_COVARIANCES)


def _wrench_message(stream: Stream, source, event: Event) -> bytes:
    sample = source.sample(event.true_ns, event.seq)
    return encode_wrench(stamp_ns=event.stamp_ns, frame_id=stream.frame_id, force=_spoilt(sample.force, event),
                         torque=sample.torque)


def _image_message(stream: Stream, source, event: Event) -> bytes:
    pixels = source.render(event.true_ns, event.seq)
    if event.corrupt in BAD_VALUES:  # tactile: float32 taxels
        pixels = np.array(pixels, copy=True)
        pixels.flat[0] = BAD_VALUES[event.corrupt]
    data = encode_image(stamp_ns=event.stamp_ns, frame_id=stream.frame_id, height=pixels.shape[0],
                        width=pixels.shape[1], encoding=stream.encoding, data=pixels)
    if event.corrupt == "bad_step":  # one byte more per row than the data holds
        data = bytearray(data)
        at = image_step_offset(stream.frame_id, stream.encoding)
        step = int.from_bytes(data[at:at + 4], "little")
        data[at:at + 4] = (step + 1).to_bytes(4, "little")
        data = bytes(data)
    return data


MESSAGES: dict[str, Callable[[Stream, Any, Event], bytes]] = {
    "joint_state": _joint_message,
    "gripper": _joint_message,
    "hand": _joint_message,
    "action": _joint_message,
    "imu": _imu_message,
    "wrench": _wrench_message,
    "camera": _image_message,
    "depth": _image_message,
    "tactile": _image_message,
}


# --------------------------------------------------------------------------- arguments


def _select_streams(rig: Rig, names: Iterable[str] | None) -> tuple[Stream, ...]:
    if names is None:
        return rig.streams
    if isinstance(names, str):
        names = [names]
    wanted = list(names)
    known = [s.name for s in rig.streams]
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise SyntheticError(f"streams: unknown stream(s) {', '.join(map(repr, unknown))} of rig {rig.rig!r} "
                             f"(streams: {', '.join(known)})")
    if not wanted:
        raise SyntheticError("streams: expected at least one stream name, got none")
    return tuple(s for s in rig.streams if s.name in wanted)


def _resolve_faults(rig: Rig, faults: Mapping | str | None, selected: tuple[Stream, ...]) -> dict[str, StreamFaults]:
    names = [s.name for s in rig.streams]
    if isinstance(faults, Mapping) and faults and all(isinstance(v, StreamFaults) for v in faults.values()):
        unknown = sorted(set(faults) - set(names))
        if unknown:
            raise SyntheticError(f"faults: unknown stream(s) {', '.join(map(repr, unknown))} "
                                 f"(streams: {', '.join(names)})")
        parsed = dict(faults)
    else:
        parsed = parse_faults(faults, names)
    chosen = {s.name for s in selected}
    return {name: value for name, value in parsed.items() if name in chosen}


def _check_arguments(seconds: float, seed: int, start_ns: int | None, camera_rate_scale: float, lead_ns: int) -> None:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds < math.inf:
        raise SyntheticError(f"seconds: expected a positive number, got {seconds!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise SyntheticError(f"seed: expected an integer >= 0, got {seed!r}")
    if start_ns is not None and (isinstance(start_ns, bool) or not isinstance(start_ns, int) or start_ns < 0):
        raise SyntheticError(f"start_ns: expected int ns >= 0 since the epoch, got {start_ns!r}")
    if (isinstance(camera_rate_scale, bool) or not isinstance(camera_rate_scale, (int, float))
            or not 0 < camera_rate_scale < math.inf):
        raise SyntheticError(f"camera_rate_scale: expected a positive number, got {camera_rate_scale!r}")
    if isinstance(lead_ns, bool) or not isinstance(lead_ns, int) or lead_ns < 0:
        raise SyntheticError(f"lead_ns: expected int ns >= 0, got {lead_ns!r}")


# --------------------------------------------------------------------------- writing


class _Outlet:
    """One stream on its way into the bag: content, latency, channel and statistics."""

    __slots__ = ("stream", "source", "message", "latency", "channel", "stats", "stamped", "last_receive_ns")

    def __init__(self, stream: Stream, source, latency: Callable[[], tuple[int, int]], channel: int,
                 stats: StreamStats) -> None:
        self.stream = stream
        self.source = source
        self.message = MESSAGES[stream.role]
        self.latency = latency
        self.channel = channel
        self.stats = stats
        self.stamped = gaps_on_stamp(stream)  # as the recorder judges gaps
        self.last_receive_ns = -1


def write_synthetic_episode(
    out_dir: Path,
    rig: Rig,
    *,
    seconds: float,
    seed: int = 0,
    faults: Mapping | str | None = None,
    start_ns: int | None = None,
    latency: LatencyModel | None = None,
    task: str = "",
    operator: str = "",
    camera_rate_scale: float = 1.0,
    streams: Iterable[str] | None = None,
    lead_ns: int = DEFAULT_LEAD_NS,
    write_truth: bool = False,
    fsync: bool = False,
    chunk_size: int = 4 << 20,
    compression: str = "none",
) -> SyntheticEpisode:
    """Write one raw episode of ``rig``'s synthetic robot into a new directory under ``out_dir``.

    The episode is named as the recorder names them (:func:`~collector.episode.new_episode_dir`,
    from ``start_ns``). Recording starts at ``start_ns``; every message captured and
    published before ``start_ns + seconds`` is in the bag, and recording stops just
    after the last of them arrived (``stop_ns``).

    Args:
        out_dir: folder of episodes (created when missing).
        rig: the rig; all its streams, or those named in ``streams``.
        seconds: how long the robot publishes (s, > 0).
        seed: seeds content, phases, drops, jitter and latency (int >= 0).
        faults: a fault specification as :func:`~collector.drivers.synthetic.parse_faults`
            takes it (YAML text or ``{stream: {offset_ms: 35, ...}}``, ``"*"`` for every
            stream), or a mapping of stream name to ``StreamFaults``.
        start_ns: start of the episode, int ns since the epoch; default now. Give it to
            make the bytes reproducible.
        latency: capture-to-receive delays; default :class:`LatencyModel()`.
        task, operator: stored in ``episode.json``.
        camera_rate_scale: factor on the rate of camera and depth streams (> 0).
        streams: names of the streams to write (rig order is kept); None writes all.
        lead_ns: how far the teleop action leads the measured joints (ns).
        write_truth: also write the truth as JSON lines to ``<episode>/truth.jsonl``.
        fsync, chunk_size, compression: passed to :class:`~collector.bag.writer.BagWriter`.

    Raises:
        SyntheticError: a bad argument, fault specification or stream name, naming it.
        BagError: the bag cannot be written.
    """
    _check_arguments(seconds, seed, start_ns, camera_rate_scale, lead_ns)
    selected = _select_streams(rig, streams)
    fault_map = _resolve_faults(rig, faults, selected)
    latency = LatencyModel() if latency is None else latency
    if not isinstance(latency, LatencyModel):
        raise SyntheticError(f"latency: expected a LatencyModel, got {latency!r}")
    start_ns = time.time_ns() if start_ns is None else start_ns
    end_ns = start_ns + round(seconds * NS_PER_S)
    rate_scale = {"camera": float(camera_rate_scale), "depth": float(camera_rate_scale)}
    schedule = Schedule(selected, start_ns=start_ns, faults=fault_map, seed=seed, rate_scale=rate_scale)
    trajectory = TrajectoryModel(rig.robot, seed)
    # a misconfigured camera publishes its own encoding and size (faults.encoding, width, height)
    shown = [fault_map.get(s.name, StreamFaults()).published(s) for s in selected]
    sources = [make_source(s, trajectory, seed=seed, lead_ns=lead_ns) for s in shown]

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = new_episode_dir(out_dir, rig.rig, now_ns=start_ns)
    writer = BagWriter(path, chunk_size=chunk_size, compression=compression, fsync=fsync)
    try:
        channels, info = open_episode(writer, rig, selected, task=task, operator=operator, start_ns=start_ns)
        outlets = [
            _Outlet(s, source, latency.sampler(s, seed), channel, info.streams[s.name])
            for s, source, channel in zip(shown, sources, channels)
        ]
        info.notes.append("synthetic episode written in process (collector.drivers.synthetic_episode)")
        info.extra["synthetic"] = {
            "seed": seed, "seconds": seconds, "camera_rate_scale": camera_rate_scale, "lead_ns": lead_ns,
            "faults": {name: asdict(value) for name, value in fault_map.items()},
            "latency": latency.to_dict(),
            "truth": TRUTH_FILE if write_truth else None,
        }
        write_episode_info(path, info)
    except BaseException:
        writer.close()
        raise
    try:
        truth = _write_messages(writer, schedule, outlets, end_ns)
        writer.close()
    except BaseException as err:
        writer.close()
        info.status, info.end_reason, info.stop_ns = "interrupted", "error", time.time_ns()
        info.notes.append(f"writing stopped by {type(err).__name__}: {err}")
        write_episode_info(path, info)
        raise
    last_receive = max((o.stats.last_receive_ns or 0 for o in outlets), default=0)
    info.stop_ns = max(end_ns, last_receive + 1)
    info.status, info.end_reason = "complete", "duration"
    write_episode_info(path, info)
    truth_path = _write_truth(path / TRUTH_FILE, truth) if write_truth else None
    return SyntheticEpisode(path=path, info=info, truth=truth, truth_path=truth_path)


def _write_messages(writer: BagWriter, schedule: Schedule, outlets: list[_Outlet], end_ns: int) -> list[dict]:
    """Make every scheduled message, write the published ones in receive order; returns the truth."""
    index_of = {o.stream.name: i for i, o in enumerate(outlets)}
    truth: list[dict[str, Any]] = []
    # messages in flight: (receive_ns, outlet index, seq, publish_ns, stamp_ns, data)
    pending: list[tuple[int, int, int, int, int, bytes]] = []
    write = writer.write

    def deliver(item: tuple[int, int, int, int, int, bytes]) -> None:
        receive_ns, index, _, publish_ns, stamp_ns, data = item
        outlet = outlets[index]
        write(outlet.channel, data, receive_ns, publish_ns)
        outlet.stats.add(receive_ns, len(data), stamp_ns if outlet.stamped else None)

    for event in schedule.until(end_ns):
        # anything published from now on arrives at or after event.due_ns
        while pending and pending[0][0] < event.due_ns:
            deliver(heapq.heappop(pending))
        index = index_of[event.stream.name]
        outlet = outlets[index]
        publish_ns = receive_ns = None
        if event.published:
            base_ns, transport_ns = outlet.latency()
            publish_ns = event.due_ns + base_ns
            receive_ns = max(publish_ns + transport_ns, outlet.last_receive_ns + 1)  # in order per stream
            outlet.last_receive_ns = receive_ns
            data = outlet.message(outlet.stream, outlet.source, event)
            heapq.heappush(pending, (receive_ns, index, event.seq, publish_ns, event.stamp_ns, data))
        record = {"stream": event.stream.name, "seq": event.seq, "true_time_ns": event.true_ns,
                  "stamp_ns": event.stamp_ns, "published": event.published,
                  "publish_ns": publish_ns, "receive_ns": receive_ns}
        if event.corrupt:
            record["corrupt"] = event.corrupt
        truth.append(record)
    while pending:
        deliver(heapq.heappop(pending))
    return truth


def _write_truth(path: Path, truth: list[dict[str, Any]]) -> Path:
    """JSON lines, written to a temporary name and renamed (readable by ``read_truth``)."""
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", encoding="utf-8") as file:
        file.writelines(json.dumps(record) + "\n" for record in truth)
    os.replace(partial, path)
    return path
