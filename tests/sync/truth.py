"""Episodes written by an independent writer (rosbags) with known truth, for sync and export tests.

A :class:`Scenario` describes a rig's streams as they behave on a real rig: where
each sensor's stamp clock sits relative to the recording host (offset, drift), how
long its messages take to arrive (uniform latency, bursts of a few hundred ms),
which captures are lost. :func:`write_episode` writes the episode folder the way
another tool would: the bag with ``rosbags.rosbag2.Writer`` (MCAP storage, CDR by
rosbags' typestore, nothing of ``collector.bag`` or ``collector.cdr``), the rig as
``rig_profile.yaml`` beside it and ``episode.json`` (collector's sidecar writer),
and returns the truth of every published message.

Truth, all int ns on the host clock unless named otherwise:

* ``true_ns``: when the sample was captured (the physical time the values hold for);
* ``stamp_ns``: its ``header.stamp``, on the stream's clock:
  ``true + offset + drift * (true - start)`` (exactly ``true`` on a shared clock);
* ``receive_ns``: when the recorder got it (MCAP log time), ``true + latency``,
  non-decreasing per topic as over reliable DDS.

Joints follow ``A sin(w t + phi)`` with peak speed :data:`PEAK_SPEED` (rad/s); the
action commands the same trajectory :data:`ACTION_LEAD_S` ahead. Camera frames carry
their capture number in :data:`SEQ_BITS` black or white blocks (plus a parity
block), which survive AV1 or H.264 compression: :func:`read_seq` reads it back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from collector.episode import (
    RIG_ATTACHMENT,
    EpisodeInfo,
    StreamStats,
    new_episode_dir,
    software_versions,
    write_episode_info,
)
from collector.rig import Rig, parse_rig

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000
START_NS = 1_760_000_000_000_000_000
RIG_FILE = RIG_ATTACHMENT  # beside the bag: rosbags writes no attachments

WIDTH, HEIGHT, BLOCK = 64, 48, 16
SEQ_BITS = (WIDTH // BLOCK) * (HEIGHT // BLOCK) - 1  # 11 bits and one parity block
JOINTS = ("j1", "j2", "j3")
PEAK_SPEED = 1.6  # rad/s, every joint
AMPLITUDE = np.array([0.8, 0.5, 0.4])  # rad
OMEGA = PEAK_SPEED / AMPLITUDE  # rad/s
ACTION_LEAD_S = 0.1
KIND = {"camera": "sensor_msgs/msg/Image", "joint_state": "sensor_msgs/msg/JointState",
        "action": "sensor_msgs/msg/JointState"}


# ----------------------------------------------------------------------------- content


def seq_image(seq: int) -> np.ndarray:
    """(HEIGHT, WIDTH, 3) uint8: ``seq`` (< 2**SEQ_BITS) as black/white blocks, MSB first, then even parity."""
    if not 0 <= seq < 2**SEQ_BITS:
        raise ValueError(f"seq {seq} does not fit in {SEQ_BITS} bits")
    bits = [(seq >> (SEQ_BITS - 1 - i)) & 1 for i in range(SEQ_BITS)]
    bits.append(sum(bits) % 2)
    blocks = np.array(bits, dtype=np.uint8).reshape(HEIGHT // BLOCK, WIDTH // BLOCK) * 255
    image = np.kron(blocks, np.ones((BLOCK, BLOCK), dtype=np.uint8))
    return np.repeat(image[:, :, None], 3, axis=2)


def read_seq(image: np.ndarray) -> int | None:
    """The capture number :func:`seq_image` drew into ``image`` (H, W[, C]); None when the parity fails."""
    pixels = np.asarray(image, dtype=np.float64)
    gray = pixels.mean(axis=2) if pixels.ndim == 3 else pixels
    margin = BLOCK // 4  # block centres: compression rings at the edges
    rows, cols = HEIGHT // BLOCK, WIDTH // BLOCK
    bits = [int(gray[r * BLOCK + margin:(r + 1) * BLOCK - margin, c * BLOCK + margin:(c + 1) * BLOCK - margin].mean()
                > 127.5) for r in range(rows) for c in range(cols)]
    if sum(bits) % 2:
        return None
    return int(sum(bit << (SEQ_BITS - 1 - i) for i, bit in enumerate(bits[:SEQ_BITS])))


@dataclass(frozen=True)
class Trajectory:
    """The joints' true motion: ``A sin(w t + phi)``, t in s from :data:`START_NS` (host clock)."""

    phase: np.ndarray

    @classmethod
    def seeded(cls, seed: int) -> Trajectory:
        return cls(np.random.default_rng([seed, 7]).uniform(0, 2 * np.pi, len(JOINTS)))

    def _angle(self, time_ns) -> np.ndarray:
        t = (np.asarray(time_ns, dtype=np.int64) - START_NS) / NS_PER_S
        return np.multiply.outer(t, OMEGA) + self.phase

    def position(self, time_ns) -> np.ndarray:
        """(..., 3) joint positions (rad) at host times ``time_ns``."""
        return AMPLITUDE * np.sin(self._angle(time_ns))

    def velocity(self, time_ns) -> np.ndarray:
        """(..., 3) joint velocities (rad/s)."""
        return AMPLITUDE * OMEGA * np.cos(self._angle(time_ns))

    def command(self, time_ns) -> np.ndarray:
        """(..., 3) the action: the position :data:`ACTION_LEAD_S` ahead."""
        return self.position(np.asarray(time_ns, dtype=np.int64) + round(ACTION_LEAD_S * NS_PER_S))


# ----------------------------------------------------------------------------- scenario


@dataclass(frozen=True, kw_only=True)
class StreamSpec:
    """One stream of a scenario.

    Attributes:
        name, role: as in the rig (``camera``, ``joint_state`` or ``action``).
        rig_rate_hz: the nominal rate the rig declares.
        rate_hz: the true capture rate on the stream's own clock (a camera's crystal is
            not the host's: its frames slide past the export grid).
        clock: the rig's ``clock:`` (``header`` or ``device``).
        offset_ms, drift_ppm: the stamp clock: ``stamp = true + offset + drift * (true - start)``.
        latency_ms: (low, high): capture-to-receive delay, uniform.
        rig_latency_ms: ``latency_ms`` the rig declares (device clocks: the known minimum).
        bursts: latency bursts: each delays ``burst_messages`` consecutive messages by
            ``burst_ms`` more (uniform); later messages queue behind them.
        drop_rate: share of captures lost at random (never the first or last).
        capture_jitter_ms: std of the capture times around the periodic schedule.
    """

    name: str
    role: str
    rig_rate_hz: float
    rate_hz: float
    clock: str
    offset_ms: float = 0.0
    drift_ppm: float = 0.0
    latency_ms: tuple[float, float] = (0.3, 2.0)
    rig_latency_ms: float | None = None
    bursts: int = 0
    burst_messages: tuple[int, int] = (2, 6)
    burst_ms: tuple[float, float] = (100.0, 300.0)
    drop_rate: float = 0.0
    capture_jitter_ms: float = 0.0

    @property
    def topic(self) -> str:
        return f"/{self.name}"

    def rig_yaml(self) -> str:
        """The stream's entry in the rig profile (a YAML flow mapping)."""
        if self.role == "camera":
            more = f", width: {WIDTH}, height: {HEIGHT}, encoding: rgb8"
        else:
            more = f", joints: [{', '.join(JOINTS)}]"
        if self.rig_latency_ms is not None:
            more += f", latency_ms: {self.rig_latency_ms}"
        return (f"{{name: {self.name}, topic: {self.topic}, type: {KIND[self.role]}, role: {self.role}, "
                f"rate_hz: {self.rig_rate_hz:g}, clock: {self.clock}, qos: reliable, required: true, "
                f"frame_id: {self.name}_link{more}}}")


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """A rig of :class:`StreamSpec` streams and an episode of ``seconds`` (seeded)."""

    name: str
    streams: tuple[StreamSpec, ...]
    seconds: float = 10.0
    seed: int = 0
    fps: int = 30
    sync: str = ""  # a YAML flow mapping for the rig's sync: block

    def rig_text(self) -> str:
        lines = [f"# truth scenario {self.name}: tests/sync/truth.py", "rig: truth_rig", "site: test",
                 f"fps: {self.fps}", "robot:", "  model: truth_bot", "  joints:",
                 f"    left_arm: [{', '.join(JOINTS)}]", "streams:"]
        lines += [f"  - {spec.rig_yaml()}" for spec in self.streams]
        if self.sync:
            lines.append(f"sync: {self.sync}")
        return "\n".join(lines) + "\n"

    def rig(self) -> Rig:
        return parse_rig(self.rig_text(), source=f"{self.name}.yaml")


@dataclass(frozen=True, kw_only=True, eq=False)
class StreamTruth:
    """The published messages of one stream, in bag order, which is capture order (int64 ns
    arrays, length N).

    ``seq`` is the capture number (gaps where captures were dropped); ``dropped`` the
    lost ones; ``offset_ns`` and ``drift_ppm`` the stamp clock (see :class:`StreamSpec`).
    """

    spec: StreamSpec
    seq: np.ndarray
    true_ns: np.ndarray
    stamp_ns: np.ndarray
    receive_ns: np.ndarray
    dropped: np.ndarray
    offset_ns: float
    drift_ppm: float

    @property
    def latency_ns(self) -> np.ndarray:
        """Receive - capture per message (ns): the transport latency a shared clock shows."""
        return self.receive_ns - self.true_ns

    def offset_at(self, time_ns) -> np.ndarray | float:
        """Stamp clock minus host clock (ns) at host time(s) ``time_ns``."""
        return self.offset_ns + self.drift_ppm * 1e-6 * (np.asarray(time_ns, dtype=np.float64) - START_NS)


@dataclass(frozen=True, kw_only=True, eq=False)
class TruthEpisode:
    """What :func:`write_episode` wrote: the folder, its rig, the truth per stream."""

    path: Path
    scenario: Scenario
    rig: Rig
    trajectory: Trajectory
    streams: dict[str, StreamTruth] = field(default_factory=dict)

    @property
    def origin_ns(self) -> int:
        """The earliest true capture of any published message (sync's ``origin_ns`` when timed right)."""
        return int(min(truth.true_ns.min() for truth in self.streams.values()))


def _simulate(spec: StreamSpec, seconds: float, seed: int) -> StreamTruth:
    rng = np.random.default_rng([seed, sum(map(ord, spec.name))])
    drift = spec.drift_ppm * 1e-6
    # captures are periodic on the stream's own clock: rate_hz there is rate_hz * (1 + drift)^-1 here
    period_ns = NS_PER_S / spec.rate_hz / (1 + drift)
    count = int(seconds * spec.rate_hz)
    seq = np.arange(count, dtype=np.int64)
    phase_ns = rng.uniform(0, period_ns)
    true = START_NS + np.rint(phase_ns + seq * period_ns + rng.normal(0, spec.capture_jitter_ms * NS_PER_MS, count))
    true = true.astype(np.int64)
    assert np.all(np.diff(true) > 0), f"{spec.name}: capture jitter reorders captures"
    offset_ns = spec.offset_ms * NS_PER_MS
    stamp = true + np.rint(offset_ns + drift * (true - START_NS)).astype(np.int64)
    latency = rng.uniform(*spec.latency_ms, count) * NS_PER_MS
    for _ in range(spec.bursts):
        length = int(rng.integers(spec.burst_messages[0], spec.burst_messages[1] + 1))
        first = int(rng.integers(count // 10, count - count // 10 - length))
        latency[first:first + length] += rng.uniform(*spec.burst_ms) * NS_PER_MS
    receive = true + np.rint(latency).astype(np.int64)
    keep = rng.random(count) >= spec.drop_rate
    keep[0] = keep[-1] = True
    dropped = seq[~keep]
    seq, true, stamp, receive = seq[keep], true[keep], stamp[keep], receive[keep]
    # in order per topic (reliable DDS: a late message holds the ones behind it), never two at one time
    steps = np.arange(len(receive), dtype=np.int64)
    receive = np.maximum.accumulate(receive - steps) + steps
    return StreamTruth(spec=spec, seq=seq, true_ns=true, stamp_ns=stamp, receive_ns=receive, dropped=dropped,
                       offset_ns=offset_ns, drift_ppm=spec.drift_ppm)


def _message_maker(spec: StreamSpec, typestore, trajectory: Trajectory) -> Callable[[int, int, int], bytes]:
    """``make(seq, true_ns, stamp_ns) -> CDR bytes`` with rosbags' types and serializer."""
    msgtype = KIND[spec.role]
    Header = typestore.types["std_msgs/msg/Header"]
    Time = typestore.types["builtin_interfaces/msg/Time"]

    def header(stamp_ns: int):
        return Header(stamp=Time(sec=stamp_ns // NS_PER_S, nanosec=stamp_ns % NS_PER_S), frame_id=f"{spec.name}_link")

    if spec.role == "camera":
        Image = typestore.types[msgtype]

        def make(seq: int, true_ns: int, stamp_ns: int) -> bytes:
            pixels = seq_image(seq)
            message = Image(header=header(stamp_ns), height=HEIGHT, width=WIDTH, encoding="rgb8", is_bigendian=0,
                            step=WIDTH * 3, data=pixels.reshape(-1))
            return bytes(typestore.serialize_cdr(message, msgtype))
    else:
        JointState = typestore.types[msgtype]
        values = trajectory.command if spec.role == "action" else trajectory.position

        def make(seq: int, true_ns: int, stamp_ns: int) -> bytes:
            message = JointState(header=header(stamp_ns), name=list(JOINTS),
                                 position=np.asarray(values(true_ns), dtype=np.float64),
                                 velocity=np.asarray(trajectory.velocity(true_ns), dtype=np.float64),
                                 effort=np.zeros(len(JOINTS)))
            return bytes(typestore.serialize_cdr(message, msgtype))

    return make


def write_episode(out_dir: Path, scenario: Scenario) -> TruthEpisode:
    """Write ``scenario``'s episode into a new folder under ``out_dir``; return it with its truth.

    The bag is written by rosbags (rosbag2 version 9, MCAP storage), the rig beside it as
    ``rig_profile.yaml``, and ``episode.json`` (status ``complete``) by collector's writer.
    """
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    typestore = get_typestore(Stores.ROS2_KILTED)
    rig = scenario.rig()
    trajectory = Trajectory.seeded(scenario.seed)
    truths = {spec.name: _simulate(spec, scenario.seconds, scenario.seed) for spec in scenario.streams}
    # every message of every stream in receive order: (receive, stream position, message position)
    order = sorted((int(t), s, i) for s, truth in enumerate(truths.values()) for i, t in enumerate(truth.receive_ns))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = new_episode_dir(out_dir, rig.rig, now_ns=START_NS)
    stats = {s.name: StreamStats.for_stream(s) for s in rig.streams}
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        outlets = []
        for spec, truth in zip(scenario.streams, truths.values()):
            connection = writer.add_connection(spec.topic, KIND[spec.role], typestore=typestore)
            outlets.append((connection, _message_maker(spec, typestore, trajectory), truth, stats[spec.name]))
        for receive_ns, s, i in order:
            connection, make, truth, stream_stats = outlets[s]
            data = make(int(truth.seq[i]), int(truth.true_ns[i]), int(truth.stamp_ns[i]))
            writer.write(connection, receive_ns, data)
            stream_stats.add(receive_ns, len(data), int(truth.stamp_ns[i]))
    (path / RIG_FILE).write_text(rig.text, encoding="utf-8")
    info = EpisodeInfo(episode_id=path.name, rig=rig.rig, site=rig.site, robot=rig.robot.model,
                       task=f"truth scenario {scenario.name}", status="complete", end_reason="duration",
                       start_ns=START_NS, stop_ns=order[-1][0] + 1, bag=f"{path.name}.mcap", streams=stats,
                       software=software_versions(),
                       notes=["bag written by rosbags with known truth (tests/sync/truth.py)"])
    write_episode_info(path, info)
    return TruthEpisode(path=path, scenario=scenario, rig=rig, trajectory=trajectory, streams=truths)


# ----------------------------------------------------------------------------- the scenarios


def _camera(name: str, clock: str, *, rate_hz: float, **more) -> StreamSpec:
    return StreamSpec(name=name, role="camera", rig_rate_hz=30, rate_hz=rate_hz, clock=clock, **more)


def shared_clock(seconds: float = 12.0, seed: int = 1) -> Scenario:
    """1: every stream on the host's clock (``header``), each with its own latency, camera bursts."""
    return Scenario(name="shared_clock", seconds=seconds, seed=seed, streams=(
        _camera("head_rgb", "header", rate_hz=29.91, latency_ms=(18.0, 35.0), bursts=3, capture_jitter_ms=0.3),
        _camera("wrist_rgb", "header", rate_hz=30.06, latency_ms=(20.0, 32.0), bursts=2, capture_jitter_ms=0.3),
        StreamSpec(name="joint_states", role="joint_state", rig_rate_hz=500, rate_hz=500, clock="header",
                   latency_ms=(0.3, 2.0), capture_jitter_ms=0.02),
        StreamSpec(name="action", role="action", rig_rate_hz=100, rate_hz=100, clock="header",
                   latency_ms=(0.3, 2.0), capture_jitter_ms=0.02),
    ))


CONTROLLER = {"clock": "device", "offset_ms": 40.0, "drift_ppm": 30.0, "latency_ms": (0.3, 2.0), "rig_latency_ms": 0.3}


def controller_clock(seconds: float = 12.0, seed: int = 2) -> Scenario:
    """2: joint_states and action stamped by a controller 40 ms ahead of the host, drifting
    30 ppm (``device``); cameras on the host clock."""
    return Scenario(name="controller_clock", seconds=seconds, seed=seed, streams=(
        _camera("head_rgb", "header", rate_hz=29.93, latency_ms=(18.0, 35.0), capture_jitter_ms=0.3),
        StreamSpec(name="joint_states", role="joint_state", rig_rate_hz=500, rate_hz=500, **CONTROLLER),
        StreamSpec(name="action", role="action", rig_rate_hz=100, rate_hz=100, **CONTROLLER),
    ))


DEVICE_CAMERA = {"offset_ms": -3200.0, "latency_ms": (20.0, 23.0), "rig_latency_ms": 20.0}


def device_camera(seconds: float = 12.0, seed: int = 3) -> Scenario:
    """3: a camera on its own clock 3.2 s behind the host (``device``, known latency 20 ms);
    everything else on the host clock."""
    return Scenario(name="device_camera", seconds=seconds, seed=seed, streams=(
        _camera("head_rgb", "header", rate_hz=29.93, latency_ms=(18.0, 35.0), capture_jitter_ms=0.3),
        _camera("wrist_rgb", "device", rate_hz=30.05, **DEVICE_CAMERA),
        StreamSpec(name="joint_states", role="joint_state", rig_rate_hz=500, rate_hz=500, clock="header",
                   latency_ms=(0.3, 2.0), capture_jitter_ms=0.02),
        StreamSpec(name="action", role="action", rig_rate_hz=100, rate_hz=100, clock="header",
                   latency_ms=(0.3, 2.0), capture_jitter_ms=0.02),
    ))


def mixed(seconds: float = 12.0, seed: int = 4, drop_rate: float = 0.01) -> Scenario:
    """4: all three at once, 1% of the camera frames and joint messages lost."""
    return Scenario(name="mixed", seconds=seconds, seed=seed, streams=(
        _camera("head_rgb", "header", rate_hz=29.92, latency_ms=(18.0, 35.0), bursts=3, capture_jitter_ms=0.3,
                drop_rate=drop_rate),
        _camera("wrist_rgb", "device", rate_hz=30.05, drop_rate=drop_rate, **DEVICE_CAMERA),
        StreamSpec(name="joint_states", role="joint_state", rig_rate_hz=500, rate_hz=500, drop_rate=drop_rate,
                   **CONTROLLER),
        StreamSpec(name="action", role="action", rig_rate_hz=100, rate_hz=100, drop_rate=drop_rate, **CONTROLLER),
    ))


def drift_free_device(seconds: float = 6.0, seed: int = 5) -> Scenario:
    """A drift-free ``device`` camera whose latency is spread uniformly over 17 ms (30 Hz, 6 s)."""
    return Scenario(name="drift_free_device", seconds=seconds, seed=seed, streams=(
        _camera("head_rgb", "device", rate_hz=30.0, offset_ms=250.0, latency_ms=(10.0, 27.0), rig_latency_ms=10.0),
        StreamSpec(name="joint_states", role="joint_state", rig_rate_hz=500, rate_hz=500, clock="header",
                   latency_ms=(0.3, 2.0)),
        StreamSpec(name="action", role="action", rig_rate_hz=100, rate_hz=100, clock="header",
                   latency_ms=(0.3, 2.0)),
    ))


def unsynchronised_header(seconds: float = 10.0, seed: int = 6, *, controller_offset_ms: float = 40.0) -> Scenario:
    """The controller of scenario 2, but the rig declares its clock ``header``: its stamps run
    ahead of their receive times, which proves it is not the host's clock (its known latency
    is declared, as for a device clock)."""
    controller = {**CONTROLLER, "clock": "header", "offset_ms": controller_offset_ms}
    return Scenario(name="unsynchronised_header", seconds=seconds, seed=seed, streams=(
        _camera("head_rgb", "header", rate_hz=29.93, latency_ms=(18.0, 35.0), capture_jitter_ms=0.3),
        StreamSpec(name="joint_states", role="joint_state", rig_rate_hz=500, rate_hz=500, **controller),
        StreamSpec(name="action", role="action", rig_rate_hz=100, rate_hz=100, **controller),
    ))


# ----------------------------------------------------------------------------- judging against the truth


def nearest_captures(true_ns: np.ndarray, grid_ns: np.ndarray, *, limit_ns: float,
                     margin_ns: float = 2 * NS_PER_MS) -> tuple[np.ndarray, np.ndarray]:
    """Per grid time, the position of the truly nearest capture in ``true_ns`` (sorted), and
    whether that answer is clear: the second nearest is more than ``margin_ns`` farther and
    the nearest is within ``limit_ns``."""
    true_ns = np.asarray(true_ns, dtype=np.int64)
    grid_ns = np.asarray(grid_ns, dtype=np.int64)
    after = np.clip(np.searchsorted(true_ns, grid_ns), 1, len(true_ns) - 1)
    before = after - 1
    to_before = np.abs(grid_ns - true_ns[before]).astype(np.float64)
    to_after = np.abs(true_ns[after] - grid_ns).astype(np.float64)
    nearest = np.where(to_before <= to_after, before, after)
    clear = (np.abs(to_before - to_after) > margin_ns) & (np.minimum(to_before, to_after) <= limit_ns)
    return nearest, clear


def last_capture_at_or_before(true_ns: np.ndarray, grid_ns: np.ndarray, *,
                              margin_ns: float = 1 * NS_PER_MS) -> tuple[np.ndarray, np.ndarray]:
    """Per grid time, the position of the last capture at or before it (-1: none), and whether
    that answer is clear (no capture within ``margin_ns`` of the grid time)."""
    true_ns = np.asarray(true_ns, dtype=np.int64)
    grid_ns = np.asarray(grid_ns, dtype=np.int64)
    last = np.searchsorted(true_ns, grid_ns, side="right") - 1
    nearest, _ = nearest_captures(true_ns, grid_ns, limit_ns=np.inf)
    clear = np.abs(true_ns[nearest] - grid_ns) > margin_ns
    return last, clear
