"""The synthetic humanoid without ROS: content, fault models, schedule, ground truth.

Everything a message carries is a pure function of its TRUE capture time (int ns,
system clock) and its sequence number, so later stages can be checked against
known values:

* joints: per joint two sinusoids around the middle of its limits (a slow
  square-ish open/close cycle for parallel grippers), velocity and acceleration
  analytic, effort ``inertia * acc + damping * vel + gravity * sin(q)``;
* action: the same trajectory evaluated ``lead_ns`` later (teleop leads the arm);
* IMU: rotation about a fixed tilted axis by a smooth angle, angular velocity its
  exact derivative, linear acceleration gravity seen from the body frame;
* wrench and tactile: smooth sinusoids, moving Gaussian pressure blobs (kPa);
* images: a scrolling pattern with the sequence number drawn in digits, depth a
  smooth surface (mm) with a moving bump; every image carries its sequence number
  losslessly in its first :data:`SEQ_BYTES` bytes (see :func:`read_seq`).

Every sinusoid has a whole number of cycles in :data:`PERIOD_NS`, so phases are
computed from ``time_ns % PERIOD_NS`` exactly and the content repeats every 10 min.

:class:`Schedule` turns rig streams and :class:`StreamFaults` into the ordered
publish events (with clock offset, drift, jitter, latency, drop-outs and dead
publishers applied); :class:`TruthWriter` records one line per message.
"""

from __future__ import annotations

import functools
import heapq
import json
import math
import os
import zlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, NamedTuple

import numpy as np
import yaml

from collector.errors import CollectorError
from collector.rig import ROLES, Robot, Stream

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000
PERIOD_NS = 600 * NS_PER_S
DEFAULT_LEAD_NS = 50 * NS_PER_MS
DEFAULT_LIMITS = (-1.0, 1.0)  # radians, for joints the rig gives no limits
GRAVITY = 9.80665  # m/s^2
SEQ_BYTES = 8  # little-endian uint64 sequence number at the start of every image


class SyntheticError(CollectorError, ValueError):
    """A fault specification or synthetic-robot setting is invalid."""


# --------------------------------------------------------------------------- faults


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SyntheticError(f"{key}: expected a finite number, got {value!r}")
    return value


@dataclass(frozen=True, kw_only=True)
class StreamFaults:
    """What goes wrong with one stream, relative to the truth.

    Attributes:
        offset_ns: constant header-clock offset (ns, any sign).
        drift_ppm: header-clock rate error (parts per million, any sign), growing
            from the schedule start: ``drift_ppm * 1e-6 * (true - start)``.
        jitter_ns: standard deviation of Gaussian header-stamp noise (ns, >= 0).
        latency_ns: capture-to-publish delay (ns, >= 0).
        drop_rate: probability in [0, 1] that a message is never published.
        silent_after_s: the stream publishes nothing from this many seconds after
            the start (s, >= 0); None: never goes silent.

    Raises:
        SyntheticError: on construction, naming the field and the bad value.
    """

    offset_ns: int = 0
    drift_ppm: float = 0.0
    jitter_ns: int = 0
    latency_ns: int = 0
    drop_rate: float = 0.0
    silent_after_s: float | None = None

    def __post_init__(self) -> None:
        for name in ("offset_ns", "jitter_ns", "latency_ns"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise SyntheticError(f"StreamFaults.{name}={value!r} is not an int (ns)")
        for name in ("jitter_ns", "latency_ns"):
            if getattr(self, name) < 0:
                raise SyntheticError(f"StreamFaults.{name}={getattr(self, name)!r} is negative")
        _number(self.drift_ppm, "StreamFaults.drift_ppm")
        if not 0.0 <= _number(self.drop_rate, "StreamFaults.drop_rate") <= 1.0:
            raise SyntheticError(f"StreamFaults.drop_rate={self.drop_rate!r} is not in [0, 1]")
        if self.silent_after_s is not None and _number(self.silent_after_s, "StreamFaults.silent_after_s") < 0:
            raise SyntheticError(f"StreamFaults.silent_after_s={self.silent_after_s!r} is negative")

    def stamp_ns(self, true_ns: int, start_ns: int, noise: float = 0.0) -> int:
        """The header stamp (ns) for capture time ``true_ns``; ``noise`` is a standard normal draw."""
        drift = round((true_ns - start_ns) * self.drift_ppm * 1e-6)
        return true_ns + self.offset_ns + drift + round(self.jitter_ns * noise)


# Keys of a fault specification: edge unit -> (field, factor to the field's unit).
_FAULT_KEYS = {
    "offset_ms": ("offset_ns", NS_PER_MS),
    "drift_ppm": ("drift_ppm", None),
    "jitter_ms": ("jitter_ns", NS_PER_MS),
    "latency_ms": ("latency_ns", NS_PER_MS),
    "drop_rate": ("drop_rate", None),
    "silent_after_s": ("silent_after_s", None),
}
ALL_STREAMS = "*"


def parse_faults(
    spec: str | Mapping[str, Any] | None, stream_names: Iterable[str] | None = None
) -> dict[str, StreamFaults]:
    """Parse a fault specification, milliseconds at the edge, nanoseconds inside.

    ``spec`` is YAML/JSON text or a mapping like
    ``{head_rgb: {offset_ms: 35, drift_ppm: 200, jitter_ms: 3, drop_rate: 0.01}}``;
    keys per stream: ``offset_ms``, ``drift_ppm``, ``jitter_ms``, ``latency_ms``,
    ``drop_rate``, ``silent_after_s``. The stream name ``"*"`` gives defaults for every
    stream (needs ``stream_names``); a named stream's keys override them. Empty text
    or None means no faults.

    Raises:
        SyntheticError: on invalid YAML, a stream not in ``stream_names``, an
            unknown key or a bad value, naming it.
    """
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        return {}
    if isinstance(spec, str):
        try:
            spec = yaml.safe_load(spec)
        except yaml.YAMLError as err:
            raise SyntheticError(f"faults: invalid YAML ({getattr(err, 'problem', None) or err})") from err
    if spec is None:
        return {}
    if not isinstance(spec, Mapping):
        raise SyntheticError(f"faults: expected a mapping of stream name to faults, got {spec!r}")
    known = None if stream_names is None else list(stream_names)
    unknown = sorted(str(n) for n in spec if n != ALL_STREAMS and (known is not None and n not in known))
    if unknown:
        raise SyntheticError(f"faults: unknown stream(s) {', '.join(map(repr, unknown))} (streams: {', '.join(known)})")
    common = _fault_fields(spec.get(ALL_STREAMS, {}), ALL_STREAMS)
    if ALL_STREAMS in spec and known is None:
        raise SyntheticError(f"faults: {ALL_STREAMS!r} needs the rig's stream names")
    names = known if ALL_STREAMS in spec else [n for n in spec if n != ALL_STREAMS]
    result = {}
    for name in names:
        fields = {**common, **_fault_fields(spec.get(name, {}), str(name))}
        try:
            result[str(name)] = StreamFaults(**fields)
        except SyntheticError as err:
            raise SyntheticError(f"faults.{name}: {err}") from err
    return result


def _fault_fields(raw: Any, name: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise SyntheticError(f"faults.{name}: expected a mapping of fault keys, got {raw!r}")
    fields: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in _FAULT_KEYS:
            raise SyntheticError(f"faults.{name}.{key}: unknown key (allowed: {', '.join(_FAULT_KEYS)})")
        field, factor = _FAULT_KEYS[key]
        value = _number(value, f"faults.{name}.{key}")
        fields[field] = round(value * factor) if factor else value
    return fields


# --------------------------------------------------------------------------- smooth signals


def _rng(seed: int, name: str, salt: int = 0) -> np.random.Generator:
    """A generator that depends only on the seed and a name (streams stay independent)."""
    return np.random.default_rng([seed, zlib.crc32(name.encode()), salt])


class Harmonics:
    """``n`` channels, each ``center + sum_k amplitude_k * sin(2 pi cycles_k t / PERIOD + phase_k)``.

    ``cycles`` are whole numbers of cycles per :data:`PERIOD_NS` (600 s), so the
    phase is exact for any epoch time. Arrays are ``(n,)`` and ``(n, K)``.
    """

    def __init__(self, *, center, amplitude, cycles, phase):
        self._center = np.asarray(center, dtype=float)
        self._amplitude = np.asarray(amplitude, dtype=float)
        self._cycles = np.asarray(cycles, dtype=float)
        if self._cycles.shape != self._amplitude.shape or np.any(self._cycles != np.round(self._cycles)):
            raise SyntheticError(f"Harmonics: cycles must be whole numbers shaped like amplitude, got {cycles!r}")
        self._phase = np.asarray(phase, dtype=float)
        omega = self._cycles * (2 * math.pi * NS_PER_S / PERIOD_NS)  # rad/s
        self._amp_omega = self._amplitude * omega
        self._amp_omega2 = self._amplitude * omega * omega

    @property
    def bound(self) -> np.ndarray:
        """Largest possible ``|value - center|`` per channel."""
        return np.abs(self._amplitude).sum(axis=1)

    def at(self, time_ns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Value, first and second time derivative (per second) at ``time_ns``."""
        angle = self._cycles * ((int(time_ns) % PERIOD_NS) * (2 * math.pi / PERIOD_NS)) + self._phase
        sin = np.sin(angle)
        cos = np.cos(angle)
        value = self._center + (self._amplitude * sin).sum(axis=1)
        return value, (self._amp_omega * cos).sum(axis=1), -(self._amp_omega2 * sin).sum(axis=1)


def _harmonics(rng: np.random.Generator, center, amplitude, cycles_low: int, cycles_high: int) -> Harmonics:
    """Two-component harmonics; ``amplitude`` (n, 2); cycles drawn per 600 s in [low, high)."""
    amplitude = np.asarray(amplitude, dtype=float)
    return Harmonics(
        center=center,
        amplitude=amplitude,
        cycles=rng.integers(cycles_low, cycles_high, size=amplitude.shape),
        phase=rng.uniform(0, 2 * math.pi, size=amplitude.shape),
    )


# --------------------------------------------------------------------------- joints


class JointSample(NamedTuple):
    """Joint positions (rad, or m for grippers), velocities (per s), efforts (Nm, or N)."""

    position: np.ndarray
    velocity: np.ndarray
    effort: np.ndarray


class TrajectoryModel:
    """Smooth motion of every joint of ``robot``, inside its joint limits.

    A joint's motion depends only on the seed, its name, its limits and whether it
    belongs to a parallel gripper, a dexterous hand or the body. Joints without
    limits in the rig use :data:`DEFAULT_LIMITS`.
    """

    def __init__(self, robot: Robot, seed: int = 0):
        self.joints: tuple[str, ...] = robot.all_joints
        kinds = {j: ee.type for ee in robot.end_effectors for j in ee.joints}
        self.limits = np.array([robot.joint_limits.get(j, DEFAULT_LIMITS) for j in self.joints], dtype=float)
        amplitude, cycles, phase, inertia, damping, gravity = [], [], [], [], [], []
        for name, (low, high) in zip(self.joints, self.limits):
            rng = _rng(seed, name)
            span = high - low
            kind = kinds.get(name, "body")
            if kind == "parallel_gripper":
                # sin x + sin(3x)/6 (peak 0.866): flat-ish open and closed phases, a cycle in ~10 s,
                # swinging over 97% of the range
                base, first_phase = int(rng.integers(50, 70)), rng.uniform(0, 2 * math.pi)
                amplitude.append((0.56 * span, 0.56 / 6 * span))
                cycles.append((base, 3 * base))
                phase.append((first_phase, 3 * first_phase))
                inertia.append(rng.uniform(0.05, 0.2))
                damping.append(rng.uniform(5.0, 20.0))
                gravity.append(0.0)
                continue
            low_share = (0.25, 0.35) if kind == "dexterous_hand" else (0.15, 0.25)
            amplitude.append((span * rng.uniform(*low_share), span * rng.uniform(0.03, 0.08)))
            slow, fast = ((60, 180), (180, 360)) if kind == "dexterous_hand" else ((30, 120), (120, 300))
            cycles.append((int(rng.integers(*slow)), int(rng.integers(*fast))))
            phase.append(tuple(rng.uniform(0, 2 * math.pi, size=2)))
            inertia.append(rng.uniform(0.02, 0.3))
            damping.append(rng.uniform(0.1, 1.0))
            gravity.append(rng.uniform(0.0, 8.0) if kind == "body" else 0.0)
        self._motion = Harmonics(center=self.limits.mean(axis=1), amplitude=amplitude, cycles=cycles, phase=phase)
        self._inertia = np.array(inertia)
        self._damping = np.array(damping)
        self._gravity = np.array(gravity)
        self._position = {name: i for i, name in enumerate(self.joints)}

    def at(self, time_ns: int) -> JointSample:
        """Every joint's state at ``time_ns`` (ns), in :attr:`joints` order."""
        position, velocity, acceleration = self._motion.at(time_ns)
        effort = self._inertia * acceleration + self._damping * velocity + self._gravity * np.sin(position)
        return JointSample(position, velocity, effort)

    def index(self, names: Iterable[str]) -> np.ndarray:
        """Indices of ``names`` in :attr:`joints`; raises SyntheticError for an unknown joint."""
        try:
            return np.array([self._position[name] for name in names], dtype=np.intp)
        except KeyError as err:
            raise SyntheticError(f"joint {err.args[0]!r} is not a joint of the robot") from err


class JointSource:
    """The joints of one stream: state at the capture time, or ``lead_ns`` ahead (commands)."""

    def __init__(self, stream: Stream, trajectory: TrajectoryModel, *, lead_ns: int = 0):
        self.stream = stream
        self.lead_ns = lead_ns
        self._trajectory = trajectory
        self._index = trajectory.index(stream.joints)

    def sample(self, true_ns: int, seq: int = 0) -> JointSample:
        """Positions, velocities, efforts of ``stream.joints`` for capture time ``true_ns``."""
        full = self._trajectory.at(true_ns + self.lead_ns)
        return JointSample(full.position[self._index], full.velocity[self._index], full.effort[self._index])


# --------------------------------------------------------------------------- IMU, wrench, tactile


class ImuSample(NamedTuple):
    """Orientation quaternion (x, y, z, w), angular velocity (rad/s), linear acceleration (m/s^2)."""

    orientation: tuple[float, float, float, float]
    angular_velocity: tuple[float, float, float]
    linear_acceleration: tuple[float, float, float]


class ImuSource:
    """A torso swaying about a fixed, slightly tilted axis; the IMU sees gravity only."""

    def __init__(self, stream: Stream, seed: int = 0):
        self.stream = stream
        rng = _rng(seed, stream.name)
        axis = np.array([rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3), 1.0])
        self.axis = tuple(float(v) for v in axis / np.linalg.norm(axis))
        self._angle = _harmonics(rng, [0.0], [[0.25, 0.06]], 20, 90)

    def sample(self, true_ns: int, seq: int = 0) -> ImuSample:
        """The IMU reading at capture time ``true_ns``."""
        value, rate, _ = self._angle.at(true_ns)
        angle, rate = float(value[0]), float(rate[0])
        ux, uy, uz = self.axis
        half_sin = math.sin(angle / 2)
        # specific force = R^T (0, 0, g): Rodrigues rotation of g by -angle about the axis
        cos, sin = math.cos(angle), math.sin(angle)
        along = uz * GRAVITY * (1 - cos)
        return ImuSample(
            (ux * half_sin, uy * half_sin, uz * half_sin, math.cos(angle / 2)),
            (ux * rate, uy * rate, uz * rate),
            (-uy * GRAVITY * sin + ux * along, ux * GRAVITY * sin + uy * along, GRAVITY * cos + uz * along),
        )


class WrenchSample(NamedTuple):
    """Force (N) and torque (Nm) in the sensor frame."""

    force: np.ndarray
    torque: np.ndarray


class WrenchSource:
    """A wrist force-torque sensor: tool weight plus smooth contact forces."""

    def __init__(self, stream: Stream, seed: int = 0):
        self.stream = stream
        rng = _rng(seed, stream.name)
        center = [0.0, 0.0, -rng.uniform(3.0, 8.0), 0.0, 0.0, 0.0]
        amplitude = np.concatenate([rng.uniform(1.0, 4.0, (3, 2)), rng.uniform(0.05, 0.4, (3, 2))])
        self._signal = _harmonics(rng, center, amplitude, 30, 300)

    def sample(self, true_ns: int, seq: int = 0) -> WrenchSample:
        """The wrench at capture time ``true_ns``."""
        value = self._signal.at(true_ns)[0]
        return WrenchSample(value[:3], value[3:])


class TactileSource:
    """A ``height x width`` taxel grid (32FC1, kPa) with two moving pressure blobs."""

    BLOBS = 2

    def __init__(self, stream: Stream, seed: int = 0):
        self.stream = stream
        self.shape = (stream.height, stream.width)
        rng = _rng(seed, stream.name)
        height, width = self.shape
        n = self.BLOBS
        centre = [(width - 1) / 2] * n + [(height - 1) / 2] * n + [40.0] * n
        amplitude = [[0.4 * (width - 1), 0.1 * (width - 1)]] * n + [[0.4 * (height - 1), 0.1 * (height - 1)]] * n
        amplitude += [[20.0, 5.0]] * n
        self._motion = _harmonics(rng, centre, amplitude, 60, 300)
        self._x = np.arange(width, dtype=float)
        self._y = np.arange(height, dtype=float)
        self._inv_two_sigma2 = 1.0 / (2 * max(0.8, min(height, width) / 4) ** 2)

    def render(self, true_ns: int, seq: int = 0, out: np.ndarray | None = None) -> np.ndarray:
        """Pressures (kPa, float32, ``shape``) at ``true_ns``, written into ``out`` if given."""
        value = self._motion.at(true_ns)[0]
        n = self.BLOBS
        cx, cy, pressure = value[:n], value[n : 2 * n], value[2 * n :]
        gx = np.exp(-((self._x - cx[:, None]) ** 2) * self._inv_two_sigma2)
        gy = np.exp(-((self._y - cy[:, None]) ** 2) * self._inv_two_sigma2) * pressure[:, None]
        if out is None:
            out = np.empty(self.shape, dtype=np.float32)
        out[...] = gy.T @ gx
        return out


# --------------------------------------------------------------------------- images

# A 3 x 5 bitmap font, rows top to bottom.
_FONT = ("111101101101111", "010110010010111", "111001111100111", "111001111001111", "101101111001001",
         "111100111001111", "111100111101111", "111001001001001", "111101111101111", "111101111001111")
_GLYPHS = np.array([[int(bit) for bit in glyph] for glyph in _FONT], dtype=bool).reshape(10, 5, 3)
_GLYPH_CODES = {glyph: digit for digit, glyph in enumerate(_FONT)}


@functools.lru_cache(maxsize=8)
def _scaled_glyphs(scale: int) -> np.ndarray:
    return np.repeat(np.repeat(_GLYPHS, scale, axis=1), scale, axis=2)


def counter_scale(width: int) -> int:
    """Font pixel size (px) of the frame counter in an image ``width`` pixels wide."""
    return max(1, width // 160)


def draw_number(image: np.ndarray, number: int, *, scale: int, x: int | None = None, y: int | None = None) -> None:
    """Draw ``number`` in white digits on a black box into ``image`` (uint8, (h, w) or (h, w, c)).

    Each font pixel is ``scale`` px; digits advance ``4 * scale`` px; ``x, y`` is
    the top left of the first digit (default ``2 * scale``). Digits that do not
    fit are left out.
    """
    x = 2 * scale if x is None else x
    y = 2 * scale if y is None else y
    digits = str(int(number))
    height, width = image.shape[:2]
    fit = min(len(digits), max(0, (width - x - scale) // (4 * scale)))
    if fit == 0 or y + 6 * scale > height:
        return
    image[y - scale : y + 6 * scale, x - scale : x + 4 * scale * fit] = 0
    glyphs = _scaled_glyphs(scale)
    for i, char in enumerate(digits[:fit]):
        cell = image[y : y + 5 * scale, x + 4 * scale * i : x + 4 * scale * i + 3 * scale]
        cell[glyphs[int(char)]] = 255


def read_number(image: np.ndarray, *, scale: int, x: int | None = None, y: int | None = None) -> int | None:
    """Read back digits drawn by :func:`draw_number`, tolerating lossy compression.

    Returns None when no digit is found at ``x, y``.
    """
    x = 2 * scale if x is None else x
    y = 2 * scale if y is None else y
    gray = image.astype(float).mean(axis=2) if image.ndim == 3 else image.astype(float)
    digits = ""
    left = x
    while left + 3 * scale <= gray.shape[1] and y + 5 * scale <= gray.shape[0]:
        cells = gray[y : y + 5 * scale, left : left + 3 * scale].reshape(5, scale, 3, scale).mean(axis=(1, 3))
        code = "".join("1" if v > 127 else "0" for v in cells.reshape(-1))
        if code not in _GLYPH_CODES:
            break
        digits += str(_GLYPH_CODES[code])
        left += 4 * scale
    return int(digits) if digits else None


def write_seq(image: np.ndarray, seq: int) -> None:
    """Store ``seq`` losslessly in the first :data:`SEQ_BYTES` bytes of contiguous ``image``."""
    image.reshape(-1).view(np.uint8)[:SEQ_BYTES] = np.frombuffer(int(seq).to_bytes(SEQ_BYTES, "little"), np.uint8)


def read_seq(image: np.ndarray | bytes | bytearray | memoryview) -> int:
    """The sequence number stored by :func:`write_seq`, from an image array or its raw data bytes."""
    if isinstance(image, np.ndarray):
        head = np.ascontiguousarray(image).reshape(-1).view(np.uint8)[:SEQ_BYTES].tobytes()
    else:
        head = bytes(image[:SEQ_BYTES])
    return int.from_bytes(head, "little")


class ImageSource:
    """A camera (rgb8, bgr8 or mono8): a scrolling colour pattern with the frame counter drawn in.

    The pattern is periodic in x and y and stored twice as wide and high, so a
    frame is one slice at an offset that moves with the capture time.
    """

    def __init__(self, stream: Stream, seed: int = 0):
        if stream.encoding not in ("rgb8", "bgr8", "mono8"):
            raise SyntheticError(f"{stream.name}: camera encoding {stream.encoding!r} is not rgb8, bgr8 or mono8")
        self.stream = stream
        height, width = stream.height, stream.width
        self.shape = (height, width) if stream.encoding == "mono8" else (height, width, 3)
        rng = _rng(seed, stream.name)
        u = 2 * math.pi * np.arange(width)[None, :] / width
        v = 2 * math.pi * np.arange(height)[:, None] / height
        phase = rng.uniform(0, 2 * math.pi, 3)
        cells = (np.arange(width) * 16 // width)[None, :] + (np.arange(height) * 12 // height)[:, None]
        checker = (cells % 2) * 50 - 25  # 16 x 12 squares, so the pattern stays periodic
        rgb = np.stack(
            [
                128 + 90 * np.sin(3 * u + phase[0]) * np.cos(2 * v) + checker,
                128 + 90 * np.sin(2 * v + phase[1]) + checker,
                128 + 90 * np.sin(u + 2 * v + phase[2]) - checker,
            ],
            axis=-1,
        )
        if stream.encoding == "bgr8":
            rgb = rgb[..., ::-1]
        elif stream.encoding == "mono8":
            rgb = rgb @ np.array([0.299, 0.587, 0.114])
        base = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
        self._tile = np.tile(base, (2, 2, 1) if base.ndim == 3 else (2, 2))
        self._ns_per_px = (NS_PER_S // int(rng.integers(60, 150)), NS_PER_S // int(rng.integers(15, 60)))
        self.scale = counter_scale(width)

    def render(self, true_ns: int, seq: int, out: np.ndarray | None = None) -> np.ndarray:
        """The frame captured at ``true_ns`` with sequence number ``seq`` (uint8, ``shape``).

        Written into ``out`` (C-contiguous, ``shape``) when given.
        """
        height, width = self.shape[:2]
        ox = (true_ns // self._ns_per_px[0]) % width
        oy = (true_ns // self._ns_per_px[1]) % height
        if out is None:
            out = np.empty(self.shape, dtype=np.uint8)
        out[...] = self._tile[oy : oy + height, ox : ox + width]
        draw_number(out, seq, scale=self.scale)
        write_seq(out, seq)
        return out


class DepthSource:
    """A depth camera: a tilted, gently waved surface with a moving bump (object) in front.

    16UC1 in millimetres or 32FC1 in metres.
    """

    BUMP_MM = 300.0

    def __init__(self, stream: Stream, seed: int = 0):
        if stream.encoding not in ("16UC1", "32FC1"):
            raise SyntheticError(f"{stream.name}: depth encoding {stream.encoding!r} is not 16UC1 or 32FC1")
        self.stream = stream
        height, width = stream.height, stream.width
        self.shape = (height, width)
        rng = _rng(seed, stream.name)
        u = 2 * math.pi * np.arange(width)[None, :] / width
        v = 2 * math.pi * np.arange(height)[:, None] / height
        tilt_mm = 350 * (np.arange(height)[:, None] / height)  # the floor comes closer towards the bottom
        surface_mm = 1400 - tilt_mm + 40 * np.sin(2 * u + rng.uniform(0, 6)) * np.cos(v)
        radius = max(2, min(height, width) // 6)
        offsets = np.arange(-radius, radius + 1)
        bump_mm = self.BUMP_MM * np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * (radius / 2.5) ** 2))
        if stream.encoding == "16UC1":
            self.dtype = np.dtype(np.uint16)
            self._base = np.rint(surface_mm).astype(np.uint16)
            self._bump = np.rint(bump_mm).astype(np.uint16)
        else:
            self.dtype = np.dtype(np.float32)
            self._base = (surface_mm / 1000).astype(np.float32)
            self._bump = (bump_mm / 1000).astype(np.float32)
        self._radius = radius
        swing = [[0.3 * width, 0.08 * width], [0.3 * height, 0.08 * height]]
        self._centre = _harmonics(rng, [width / 2, height / 2], swing, 30, 200)

    def render(self, true_ns: int, seq: int, out: np.ndarray | None = None) -> np.ndarray:
        """The depth frame captured at ``true_ns`` with sequence number ``seq`` (``shape``, ``dtype``)."""
        height, width = self.shape
        if out is None:
            out = np.empty(self.shape, dtype=self.dtype)
        out[...] = self._base
        cx, cy = (int(round(c)) for c in self._centre.at(true_ns)[0])
        r = self._radius
        x0, x1, y0, y1 = max(0, cx - r), min(width, cx + r + 1), max(0, cy - r), min(height, cy + r + 1)
        if x0 < x1 and y0 < y1:
            out[y0:y1, x0:x1] -= self._bump[y0 - cy + r : y1 - cy + r, x0 - cx + r : x1 - cx + r]
        write_seq(out, seq)
        return out


# --------------------------------------------------------------------------- sources by role


def _joints(stream, trajectory, seed, lead_ns):
    return JointSource(stream, trajectory)


def _action(stream, trajectory, seed, lead_ns):
    return JointSource(stream, trajectory, lead_ns=lead_ns)


SOURCES = {
    "joint_state": _joints,
    "gripper": _joints,
    "hand": _joints,
    "action": _action,
    "imu": lambda stream, trajectory, seed, lead_ns: ImuSource(stream, seed),
    "wrench": lambda stream, trajectory, seed, lead_ns: WrenchSource(stream, seed),
    "tactile": lambda stream, trajectory, seed, lead_ns: TactileSource(stream, seed),
    "camera": lambda stream, trajectory, seed, lead_ns: ImageSource(stream, seed),
    "depth": lambda stream, trajectory, seed, lead_ns: DepthSource(stream, seed),
}


def make_source(stream: Stream, trajectory: TrajectoryModel, *, seed: int = 0, lead_ns: int = DEFAULT_LEAD_NS):
    """The content source for ``stream``'s role (see :data:`SOURCES`).

    Joint roles and the action share ``trajectory``; the action leads it by ``lead_ns``.

    Raises:
        SyntheticError: for a role without a source or an unsupported encoding.
    """
    if stream.role not in SOURCES:
        raise SyntheticError(f"{stream.name}: no synthetic source for role {stream.role!r}")
    return SOURCES[stream.role](stream, trajectory, seed, lead_ns)


# --------------------------------------------------------------------------- schedule


class Event(NamedTuple):
    """One message of one stream: when it is due and what it claims.

    ``due_ns`` is when to publish it (true capture time + latency), ``true_ns`` the
    true capture time, ``stamp_ns`` its (faulty) ``header.stamp``, all system-clock
    ns. ``published`` is False for a dropped message.
    """

    due_ns: int
    stream: Stream
    seq: int
    true_ns: int
    stamp_ns: int
    published: bool


_NOISE_BLOCK = 1024


class _StreamClock:
    """Capture times, stamps and drop decisions of one stream."""

    def __init__(self, stream: Stream, rate_hz: float, faults: StreamFaults, start_ns: int, seed: int):
        self.stream = stream
        self.faults = faults
        self.start_ns = start_ns
        rate = Fraction(rate_hz).limit_denominator(1_000_000)
        self._num, self._den = rate.numerator, rate.denominator
        period_ns = round(NS_PER_S / rate_hz)
        self._first_ns = start_ns + int(_rng(seed, stream.name, 1).integers(0, max(1, period_ns)))
        self._end_ns = None if faults.silent_after_s is None else start_ns + round(faults.silent_after_s * NS_PER_S)
        self._noise = _rng(seed, stream.name, 2)
        self._uniform = self._normal = np.empty(0)
        self._next = 0

    def event(self, seq: int) -> Event | None:
        """Event number ``seq`` (from 0), or None once the stream has gone silent."""
        true_ns = self._first_ns + seq * NS_PER_S * self._den // self._num
        if self._end_ns is not None and true_ns >= self._end_ns:
            return None
        if self._next == len(self._uniform):
            self._uniform = self._noise.random(_NOISE_BLOCK)
            self._normal = self._noise.standard_normal(_NOISE_BLOCK)
            self._next = 0
        uniform, normal = self._uniform[self._next], self._normal[self._next]
        self._next += 1
        stamp_ns = self.faults.stamp_ns(true_ns, self.start_ns, float(normal))
        published = bool(uniform >= self.faults.drop_rate)
        return Event(true_ns + self.faults.latency_ns, self.stream, seq, true_ns, stamp_ns, published)


class Schedule:
    """The ordered messages of a rig's streams, faults applied, from ``start_ns`` on.

    Each stream's first capture is at a seeded phase within one period after
    ``start_ns``; then every ``1 / rate`` exactly (the true clock). Drops and jitter
    come from a generator seeded by ``seed`` and the stream name, so a stream's
    events do not change when other streams are added.

    Args:
        streams: the rig streams to publish.
        start_ns: schedule start (system clock, ns); drift counts from here.
        faults: per stream name; streams not named are perfect.
        seed: seeds phases, drops and jitter.
        rate_scale: per role, a factor on the nominal rate (e.g. ``{"camera": 2.0}``).

    Raises:
        SyntheticError: for faults or rate scales naming unknown streams or roles,
            or a non-positive scale.
    """

    def __init__(self, streams: Iterable[Stream], *, start_ns: int, faults: Mapping[str, StreamFaults] | None = None,
                 seed: int = 0, rate_scale: Mapping[str, float] | None = None):
        self.streams = tuple(streams)
        self.start_ns = int(start_ns)
        faults = dict(faults or {})
        rate_scale = dict(rate_scale or {})
        names = [s.name for s in self.streams]
        unknown = sorted(set(faults) - set(names))
        if unknown:
            raise SyntheticError(
                f"faults for unknown stream(s) {', '.join(map(repr, unknown))} (streams: {', '.join(names)})"
            )
        for role, scale in rate_scale.items():
            if role not in ROLES:
                raise SyntheticError(f"rate_scale: unknown role {role!r} (roles: {', '.join(ROLES)})")
            if not _number(scale, f"rate_scale.{role}") > 0:
                raise SyntheticError(f"rate_scale.{role}: expected a positive number, got {scale!r}")
        self.faults = {name: faults.get(name, StreamFaults()) for name in names}
        self.rates_hz = {s.name: s.rate_hz * rate_scale.get(s.role, 1.0) for s in self.streams}
        self._clocks = [
            _StreamClock(s, self.rates_hz[s.name], self.faults[s.name], self.start_ns, seed) for s in self.streams
        ]

    def __iter__(self) -> Iterator[Event]:
        """Events by due time (ties: rig stream order); endless unless every stream goes silent."""
        heap = []
        for index, clock in enumerate(self._clocks):
            event = clock.event(0)
            if event is not None:
                heap.append((event.due_ns, index, event))
        heapq.heapify(heap)
        while heap:
            _, index, event = heap[0]
            following = self._clocks[index].event(event.seq + 1)
            if following is None:
                heapq.heappop(heap)
            else:
                heapq.heapreplace(heap, (following.due_ns, index, following))
            yield event

    def until(self, end_ns: int) -> Iterator[Event]:
        """The events due before ``end_ns`` (ns)."""
        for event in self:
            if event.due_ns >= end_ns:
                return
            yield event


# --------------------------------------------------------------------------- ground truth


class TruthWriter:
    """Ground truth as JSON lines, one per message (published or dropped).

    Each line: ``{"stream", "seq", "true_time_ns", "stamp_ns", "published"}``.
    Written to ``<path>.partial`` and renamed to ``path`` on :meth:`close`.

    Raises:
        CollectorError: when ``path`` exists already (not overwriting) or cannot be written.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.exists():
            raise CollectorError(f"{self.path}: exists already, not overwriting")
        self._partial = self.path.with_name(self.path.name + ".partial")
        try:
            self._file = open(self._partial, "w", encoding="utf-8")
        except OSError as err:
            raise CollectorError(f"{self.path}: cannot write ground truth ({err.strerror or err})") from err

    def write(self, event: Event) -> None:
        self._file.write(
            f'{{"stream": "{event.stream.name}", "seq": {event.seq}, "true_time_ns": {event.true_ns}, '
            f'"stamp_ns": {event.stamp_ns}, "published": {"true" if event.published else "false"}}}\n'
        )

    def close(self) -> None:
        """Flush and move the file to its final name (idempotent)."""
        if not self._file.closed:
            self._file.close()
            os.replace(self._partial, self.path)

    def __enter__(self) -> TruthWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def read_truth(path: str | Path) -> list[dict[str, Any]]:
    """The records a :class:`TruthWriter` wrote, in order."""
    with open(path, encoding="utf-8") as file:
        return [json.loads(line) for line in file if line.strip()]


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True, kw_only=True)
class SyntheticConfig:
    """Settings of the synthetic robot node (its ROS parameters).

    Attributes:
        rig: rig name (``baoan_humanoid``) or path to a rig YAML.
        faults: fault specification as YAML text or a path to a YAML file ("" = none).
        seed: seeds content, phases, drops and jitter (int >= 0).
        camera_rate_scale: factor on the rate of camera and depth streams (> 0).
        duration_s: stop after this many seconds (s, >= 0; 0 = run until stopped).
        truth_out: path of the ground-truth JSON lines file ("" = none).
        action_lead_ms: how far the teleop command leads the measured joints (ms, >= 0).

    Raises:
        SyntheticError: on construction, naming the field and the bad value.
    """

    rig: str = "baoan_humanoid"
    faults: str = ""
    seed: int = 0
    camera_rate_scale: float = 1.0
    duration_s: float = 0.0
    truth_out: str = ""
    action_lead_ms: float = 50.0

    def __post_init__(self) -> None:
        for name in ("rig", "faults", "truth_out"):
            if not isinstance(getattr(self, name), str):
                raise SyntheticError(f"{name}: expected a string, got {getattr(self, name)!r}")
        if not self.rig:
            raise SyntheticError("rig: expected a rig name or path, got ''")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise SyntheticError(f"seed: expected an integer >= 0, got {self.seed!r}")
        if not _number(self.camera_rate_scale, "camera_rate_scale") > 0:
            raise SyntheticError(f"camera_rate_scale: expected a positive number, got {self.camera_rate_scale!r}")
        for name in ("duration_s", "action_lead_ms"):
            if _number(getattr(self, name), name) < 0:
                raise SyntheticError(f"{name}: expected a number >= 0, got {getattr(self, name)!r}")

    @property
    def rate_scale(self) -> dict[str, float]:
        """Per-role rate factors for :class:`Schedule`."""
        return {"camera": self.camera_rate_scale, "depth": self.camera_rate_scale}

    @property
    def lead_ns(self) -> int:
        return round(self.action_lead_ms * NS_PER_MS)

    def load_faults(self, stream_names: Iterable[str]) -> dict[str, StreamFaults]:
        """Parse :attr:`faults` (text, or a file when it names one) for these streams.

        Raises:
            SyntheticError: when a named ``.yaml``/``.yml`` file is missing or the
                specification is invalid (see :func:`parse_faults`).
        """
        text = self.faults
        candidate = Path(text) if text and "\n" not in text and len(text) < 4096 else None
        try:
            is_file = candidate is not None and candidate.is_file()
        except OSError:  # e.g. YAML text too long for a file name
            is_file = False
        if is_file:
            try:
                text = candidate.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as err:
                raise SyntheticError(f"faults: cannot read {candidate} ({err})") from err
        elif candidate is not None and candidate.suffix in (".yaml", ".yml", ".json"):
            raise SyntheticError(f"faults: file {text!r} not found")
        return parse_faults(text, stream_names)
