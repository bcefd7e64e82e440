"""Rig profiles, the model: which robot, which sensors, which topics, at which rates.

The dataclasses here are keyword-only and immutable; everything downstream
(synthetic robot, recorder, sync, export, simulation) reads rigs through them.
The tables (roles, message types, encodings, sync policies per role, QoS presets,
bounds) are what :mod:`collector.rig.parse` checks a profile against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from collector.bag.metadata import QosProfile
from collector.errors import RigError
from collector.schema import show

ROLES = ("camera", "depth", "joint_state", "gripper", "hand", "imu", "wrench", "tactile", "action")
CLOCKS = ("header", "device", "receive")
JOINT_GROUPS = ("left_arm", "right_arm", "waist", "head", "legs")
END_EFFECTOR_TYPES = ("parallel_gripper", "dexterous_hand")
IMAGE_ROLES = ("camera", "depth", "tactile")
JOINT_ROLES = ("joint_state", "gripper", "hand", "action")

# Resampling policies sync may use per role (collector.sync.policies implements them;
# the first is the role's default). Listed here so a bad profile fails at load.
SYNC_POLICIES = ("nearest", "linear", "slerp", "hold")
ROLE_SYNC_POLICIES = {
    "camera": ("nearest", "hold"),
    "depth": ("nearest", "hold"),
    "tactile": ("linear", "nearest", "hold"),
    "joint_state": ("linear", "nearest", "hold"),
    "hand": ("linear", "nearest", "hold"),
    "wrench": ("linear", "nearest", "hold"),
    "imu": ("slerp", "nearest", "hold"),
    "gripper": ("hold", "linear", "nearest"),
    "action": ("hold", "linear", "nearest"),
}

# Message types each role may use: standard types that exist in the ROS 2 wheels.
ROLE_TYPES = {
    "camera": ("sensor_msgs/msg/Image",),
    "depth": ("sensor_msgs/msg/Image",),
    "tactile": ("sensor_msgs/msg/Image",),
    "joint_state": ("sensor_msgs/msg/JointState",),
    "gripper": ("sensor_msgs/msg/JointState",),
    "hand": ("sensor_msgs/msg/JointState",),
    "action": ("sensor_msgs/msg/JointState",),
    "imu": ("sensor_msgs/msg/Imu",),
    "wrench": ("geometry_msgs/msg/WrenchStamped",),
}
ROLE_ENCODINGS = {
    "camera": ("rgb8", "bgr8", "mono8"),
    "depth": ("16UC1", "32FC1"),
    "tactile": ("32FC1",),
}

# Named QoS presets; a stream may also spell its QoS out as a mapping.
QOS_PRESETS = {
    "reliable": QosProfile(reliability="reliable", durability="volatile", history="keep_last", depth=100),
    "sensor_data": QosProfile(reliability="best_effort", durability="volatile", history="keep_last", depth=10),
    "latched": QosProfile(reliability="reliable", durability="transient_local", history="keep_last", depth=1),
}

# Bounds that keep what is derived from a profile meaningful: a stream's period in int ns
# (1e9 / rate_hz, never 0 nor inf), durations in ms as int ns (>= 1 ns, far inside int64),
# the export grid (fps frames per second).
RATE_HZ_RANGE = (1e-3, 1e5)
DURATION_MS_MAX = 1e9  # ~11.6 days
FPS_MAX = 1000


@dataclass(frozen=True, kw_only=True)
class EndEffector:
    """A gripper or hand: ``joints`` are its actuated joints, ``side`` left or right."""

    name: str
    type: str
    side: str
    joints: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Robot:
    """The robot of a rig: model name, joints by body group, end effectors."""

    model: str
    joints: dict[str, tuple[str, ...]]
    end_effectors: tuple[EndEffector, ...] = ()
    joint_limits: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def body_joints(self) -> tuple[str, ...]:
        """Every body joint, in group order (left_arm, right_arm, waist, head, legs)."""
        return tuple(name for group in JOINT_GROUPS for name in self.joints.get(group, ()))

    @property
    def all_joints(self) -> tuple[str, ...]:
        """Body joints followed by end-effector joints."""
        return self.body_joints + tuple(j for ee in self.end_effectors for j in ee.joints)


@dataclass(frozen=True, kw_only=True)
class Stream:
    """One recorded topic.

    ``rate_hz`` is the nominal publish rate; ``clock`` says which clock the
    ``header.stamp`` is on:

    * ``header``: the recording host's clock or one synchronised to it (PTP,
      chrony), the usual ROS case. Sync uses the stamp exactly as it is and
      measures the transport latency (receive - stamp); a stamp that proves the
      clock is not synchronised (see :class:`SyncLimits`) makes sync fit it as a
      device clock, with a warning, or refuse it.
    * ``device``: the sensor's own clock (a camera's hardware clock, a controller
      that is not synchronised); sync fits its offset and drift.
    * ``receive``: no usable stamp; the receive time (minus ``latency_ms``) is used.

    Image roles carry ``width``, ``height`` and ``encoding``; joint roles carry
    ``joints`` (names as in the message).

    Optional sync settings: ``latency_ms`` is the known constant minimum
    delay from capture to receive (ms, >= 0) of a ``device`` or ``receive``
    clock, or of a ``header`` clock that proves unsynchronised and is fitted: it
    cannot be observed there, so sync subtracts it (a trusted ``header`` clock's
    latency is measured, never applied); ``policy`` overrides the role's resampling policy (one of
    :data:`ROLE_SYNC_POLICIES` for the role); ``tolerance_ms`` bounds how far
    a ``nearest`` sample may be from a frame, or how old a ``hold`` sample may
    be; ``max_gap_ms`` is the widest bracket ``linear``/``slerp`` interpolate
    across. None means sync's default for the role.

    Loading bounds them (:data:`RATE_HZ_RANGE`; durations from 1 ns to
    :data:`DURATION_MS_MAX` ms), so the periods and limits in int ns derived from
    them are never 0 and fit in int64.
    """

    name: str
    topic: str
    type: str
    role: str
    rate_hz: float
    clock: str
    qos: QosProfile
    required: bool
    frame_id: str
    width: int | None = None
    height: int | None = None
    encoding: str | None = None
    joints: tuple[str, ...] = ()
    # optional sync settings (latency 0 when not given; None: sync's default for the role)
    latency_ms: float = 0.0
    policy: str | None = None
    tolerance_ms: float | None = None
    max_gap_ms: float | None = None

    @property
    def period_ns(self) -> int:
        """Nominal time between messages, in nanoseconds."""
        return round(1e9 / self.rate_hz)


ON_VIOLATION = ("refuse", "mark")
ON_UNSYNCHRONISED = ("fit", "refuse")
DURATION_LIMITS = ("max_gap_ms", "max_skew_ms", "clock_tolerance_ms", "max_latency_ms", "jump_ms", "stale_ms")


@dataclass(frozen=True, kw_only=True)
class SyncLimits:
    """The rig's ``sync:`` block: when sync refuses an episode, and how it reads clocks.

    Attributes:
        max_gap_ms: longest hole (ms) a required stream may have inside the episode.
        max_skew_ms: largest |clock offset| (ms), over the whole episode, of a
            stream declared ``clock: header`` that sync had to fit because its
            stamps proved it unsynchronised (a ``device`` clock may sit at any
            offset; its jumps are split and fitted, not limited).
        clock_tolerance_ms: a ``header`` stamp later than its receive time by more
            than this (ms) proves the stamp's clock is not synchronised with the
            recording host (PTP/chrony keep them within about a millisecond).
        max_latency_ms: a ``header`` stream whose median latency (receive - stamp,
            per clock segment) exceeds this (ms) is taken for an unsynchronised
            clock, not a slow transport; it is also the limit above which the
            recorder and the sync report warn about latency.
        on_unsynchronised: what sync does with a ``header`` stream whose stamps
            prove it unsynchronised: ``"fit"`` it as a device clock (offset and
            drift, with a warning naming the evidence) or ``"refuse"`` the episode.
        max_invalid_fraction: share of grid frames (0..1) a required stream may
            have no valid sample for.
        jump_ms: a sustained step in ``receive - stamp`` larger than this (ms) is
            a clock jump (sync also requires 5x the stream's jitter).
        stale_ms: leading messages timed this much (ms) before the first message
            of every other stream, and followed by a hole as long, are stale
            latched state and are dropped.
        regularize: periodic sensors: estimate capture times from the fitted
            period (stamp jitter treated as timestamping noise) when the sequence
            of captures can be recovered unambiguously.
        on_violation: what sync and export do with an episode that breaks a limit
            (a gap, skew, too many invalid frames, bad data inside messages):
            ``"refuse"`` it, or ``"mark"`` the offending frames invalid
            (``time.valid`` false) and keep it.
    """

    max_gap_ms: float = 200.0
    max_skew_ms: float = 100.0
    clock_tolerance_ms: float = 5.0
    max_latency_ms: float = 500.0
    on_unsynchronised: str = "fit"
    max_invalid_fraction: float = 0.02
    jump_ms: float = 50.0
    stale_ms: float = 1000.0
    regularize: bool = True
    on_violation: str = "refuse"

    def __post_init__(self) -> None:
        for name in DURATION_LIMITS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
                raise RigError(f"sync.{name}: expected a positive number, got {show(value)}")
        fraction = self.max_invalid_fraction
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction <= 1:
            raise RigError(f"sync.max_invalid_fraction: expected a number in [0, 1], got {show(fraction)}")
        if self.on_violation not in ON_VIOLATION:
            raise RigError(f"sync.on_violation: expected one of {', '.join(ON_VIOLATION)}, "
                           f"got {show(self.on_violation)}")
        if self.on_unsynchronised not in ON_UNSYNCHRONISED:
            raise RigError(f"sync.on_unsynchronised: expected one of {', '.join(ON_UNSYNCHRONISED)}, "
                           f"got {show(self.on_unsynchronised)}")


@dataclass(frozen=True, kw_only=True)
class Driver:
    """A node the rig's launch starts to publish some of its streams (a camera, a bridge).

    ``package`` ``collector`` means one of our executables (``camera``, ...); anything
    else is an external ROS 2 package (a vendor's camera or robot driver). Streams no
    driver lists come from outside (the robot's own controller stack).
    """

    name: str  # node name
    executable: str
    package: str = "collector"
    streams: tuple[str, ...] = ()  # names of the rig streams it publishes
    parameters: dict[str, Any] = field(default_factory=dict)
    remappings: tuple[tuple[str, str], ...] = ()  # (from, to) topic names


@dataclass(frozen=True, kw_only=True)
class Rig:
    """A collection rig: site, robot, export rate, the streams to record and sync limits."""

    rig: str
    site: str
    robot: Robot
    fps: int
    streams: tuple[Stream, ...]
    sync: SyncLimits = field(default_factory=SyncLimits)
    drivers: tuple[Driver, ...] = ()
    description: str = ""
    source: str = ""
    text: str = ""  # the YAML as loaded, stored verbatim inside every episode

    def stream(self, name: str) -> Stream:
        """Return the stream called ``name``; raises RigError when there is none."""
        for stream in self.streams:
            if stream.name == name:
                return stream
        raise RigError(f"{self.source or self.rig}: no stream named {name!r}")

    def streams_by_role(self, role: str) -> tuple[Stream, ...]:
        return tuple(s for s in self.streams if s.role == role)
