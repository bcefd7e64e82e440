"""Rig profiles: which robot, which sensors, which topics, at which rates.

A rig profile is one YAML file in ``datasets/rigs/<rig>.yaml``. It is validated
completely on load; any problem raises :class:`~collector.errors.RigError` with
one line naming the file, the key path and the offending value, e.g.::

    baoan_humanoid.yaml: streams[3].rate_hz: expected a positive number, got 'fast'

Optional sync settings (per-stream ``latency_ms``, ``policy``, ``tolerance_ms``,
``max_gap_ms`` and a rig-level ``sync:`` block of limits, see :class:`SyncLimits`)
tell ``collector.sync`` how to align and when to refuse an episode.

The dataclasses below are keyword-only and immutable; everything downstream
(synthetic robot, recorder, sync, export, simulation) reads rigs through them.
"""

from __future__ import annotations

import math
import re
import reprlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from collector.bag.metadata import QosProfile
from collector.errors import BagError, CollectorError, RigError
from collector.paths import data_path

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

# used with fullmatch: "$" after match() would also accept a trailing newline
_NAME_RE = re.compile(r"[a-z][a-z0-9_]*")
_TOPIC_RE = re.compile(r"/[A-Za-z0-9_/]*[A-Za-z0-9_]")


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
                raise RigError(f"sync.{name}: expected a positive number, got {_show(value)}")
        fraction = self.max_invalid_fraction
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction <= 1:
            raise RigError(f"sync.max_invalid_fraction: expected a number in [0, 1], got {_show(fraction)}")
        if self.on_violation not in ON_VIOLATION:
            raise RigError(f"sync.on_violation: expected one of {', '.join(ON_VIOLATION)}, got {_show(self.on_violation)}")
        if self.on_unsynchronised not in ON_UNSYNCHRONISED:
            raise RigError(f"sync.on_unsynchronised: expected one of {', '.join(ON_UNSYNCHRONISED)}, "
                           f"got {_show(self.on_unsynchronised)}")


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


class _Checker:
    """Pulls typed values out of parsed YAML, raising one-line RigErrors."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, key: str, message: str) -> RigError:
        return RigError(f"{self.source}: {key}: {message}")

    def mapping(self, value: Any, key: str, allowed: set[str], required: set[str]) -> dict:
        if not isinstance(value, dict):
            raise self.fail(key or "(top level)", f"expected a mapping, got {_show(value)}")
        for name in value:
            if name not in allowed:
                # repr() for odd keys (newlines, non-strings) keeps the message on one line
                label = name if isinstance(name, str) and _NAME_RE.fullmatch(name) else _show(name)
                raise self.fail(_join(key, label), f"unknown key (allowed: {', '.join(sorted(allowed))})")
        for name in sorted(required):
            if name not in value:
                raise self.fail(_join(key, name), "missing required field")
        return value

    def string(self, value: Any, key: str, *, pattern: re.Pattern | None = None, choices=None) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(key, f"expected a non-empty string, got {_show(value)}")
        if choices is not None and value not in choices:
            raise self.fail(key, f"{value!r} is not one of {', '.join(choices)}")
        if pattern is not None and not pattern.fullmatch(value):
            raise self.fail(key, f"{value!r} is not a valid name")
        return value

    def number(self, value: Any, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
            raise self.fail(key, f"expected a positive number, got {_show(value)}")
        return float(value)

    def integer(self, value: Any, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise self.fail(key, f"expected a positive integer, got {_show(value)}")
        return value

    def bounded(self, value: float, key: str, low: float, high: float, unit: str) -> float:
        """``value`` (a number already) within [low, high]."""
        if not low <= value <= high:
            raise self.fail(key, f"{_show(value)} {unit} is out of range (expected {low:g} to {high:g} {unit})")
        return value

    def rate_hz(self, value: Any, key: str) -> float:
        return self.bounded(self.number(value, key), key, *RATE_HZ_RANGE, "Hz")

    def duration_ms(self, value: Any, key: str, *, zero: bool = False) -> float:
        """A duration in ms: > 0 (>= 0 with ``zero``), at least 1 ns unless 0, at most DURATION_MS_MAX."""
        duration = self.non_negative(value, key) if zero else self.number(value, key)
        return duration if duration == 0 else self.bounded(duration, key, 1e-6, DURATION_MS_MAX, "ms")

    def non_negative(self, value: Any, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
            raise self.fail(key, f"expected a number >= 0, got {_show(value)}")
        return float(value)

    def boolean(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key, f"expected true or false, got {_show(value)}")
        return value

    def names(self, value: Any, key: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            raise self.fail(key, f"expected a non-empty list of names, got {_show(value)}")
        names = tuple(self.string(v, f"{key}[{i}]", pattern=_NAME_RE) for i, v in enumerate(value))
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise self.fail(key, f"duplicate name {duplicates[0]!r}")
        return names


_REPR = reprlib.Repr()  # keyword arguments need Python 3.12; set the limits one by one
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict = 3, 4, 4
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = 60


def _show(value: Any) -> str:
    # bounded repr: a YAML alias bomb is small as text but huge when repr() expands it
    text = _REPR.repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _one_line(text: Any) -> str:
    """``text`` with its line breaks (PyYAML's messages have several lines) as single spaces."""
    return " ".join(str(text).split())


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _parse_robot(check: _Checker, value: Any) -> Robot:
    raw = check.mapping(value, "robot", {"model", "joints", "end_effectors", "joint_limits"}, {"model", "joints"})
    groups = check.mapping(raw["joints"], "robot.joints", set(JOINT_GROUPS), set())
    if not groups:
        raise check.fail("robot.joints", "expected at least one joint group")
    joints = {g: check.names(groups[g], f"robot.joints.{g}") for g in JOINT_GROUPS if g in groups}
    effectors = []
    raw_effectors = raw.get("end_effectors") or []
    if not isinstance(raw_effectors, list):
        raise check.fail("robot.end_effectors", f"expected a list, got {_show(raw_effectors)}")
    for i, item in enumerate(raw_effectors):
        key = f"robot.end_effectors[{i}]"
        ee = check.mapping(item, key, {"name", "type", "side", "joints"}, {"name", "type", "side", "joints"})
        effectors.append(
            EndEffector(
                name=check.string(ee["name"], f"{key}.name", pattern=_NAME_RE),
                type=check.string(ee["type"], f"{key}.type", choices=END_EFFECTOR_TYPES),
                side=check.string(ee["side"], f"{key}.side", choices=("left", "right")),
                joints=check.names(ee["joints"], f"{key}.joints"),
            )
        )
    robot = Robot(model=check.string(raw["model"], "robot.model"), joints=joints, end_effectors=tuple(effectors))
    every = robot.all_joints
    seen: set[str] = set()
    for name in every:
        if name in seen:
            raise check.fail("robot", f"joint {name!r} is listed twice")
        seen.add(name)
    limits = {}
    raw_limits = raw.get("joint_limits") or {}
    check.mapping(raw_limits, "robot.joint_limits", set(every), set())
    for name, pair in raw_limits.items():
        key = f"robot.joint_limits.{name}"
        if (
            not isinstance(pair, list)
            or len(pair) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pair)
            or not pair[0] < pair[1]
        ):
            raise check.fail(key, f"expected [lower, upper] with lower < upper, got {_show(pair)}")
        limits[name] = (float(pair[0]), float(pair[1]))
    return Robot(model=robot.model, joints=joints, end_effectors=robot.end_effectors, joint_limits=limits)


def _fps(check: _Checker, value: Any) -> int:
    fps = check.integer(value, "fps")
    if fps > FPS_MAX:
        raise check.fail("fps", f"expected at most {FPS_MAX} frames per second, got {_show(fps)}")
    return fps


def _parse_qos(check: _Checker, value: Any, key: str) -> QosProfile:
    if isinstance(value, str):
        if value not in QOS_PRESETS:
            raise check.fail(key, f"{value!r} is not one of {', '.join(QOS_PRESETS)} (or give a mapping)")
        return QOS_PRESETS[value]
    raw = check.mapping(value, key, {"reliability", "durability", "history", "depth"}, set())
    try:
        return QosProfile(**raw)
    except (TypeError, ValueError, BagError) as err:
        raise check.fail(key, str(err)) from err


_STREAM_KEYS = {"name", "topic", "type", "role", "rate_hz", "clock", "qos", "required", "frame_id",
                "width", "height", "encoding", "joints", "latency_ms", "policy", "tolerance_ms", "max_gap_ms"}
_STREAM_REQUIRED = {"name", "topic", "type", "role", "rate_hz", "clock", "qos", "required"}


def _parse_stream(check: _Checker, value: Any, index: int, robot: Robot) -> Stream:
    key = f"streams[{index}]"
    raw = check.mapping(value, key, _STREAM_KEYS, _STREAM_REQUIRED)
    name = check.string(raw["name"], f"{key}.name", pattern=_NAME_RE)
    key = f"streams[{index}]({name})"
    role = check.string(raw["role"], f"{key}.role", choices=ROLES)
    msgtype = check.string(raw["type"], f"{key}.type")
    if msgtype not in ROLE_TYPES[role]:
        raise check.fail(f"{key}.type", f"{msgtype!r} cannot carry role {role!r} (use {', '.join(ROLE_TYPES[role])})")
    topic = check.string(raw["topic"], f"{key}.topic")
    if not _TOPIC_RE.fullmatch(topic) or "//" in topic:
        raise check.fail(f"{key}.topic", f"{topic!r} is not an absolute ROS topic name")
    extra: dict[str, Any] = {}
    if role in IMAGE_ROLES:
        for dim in ("width", "height", "encoding"):
            if dim not in raw:
                raise check.fail(f"{key}.{dim}", f"missing required field for role {role!r}")
        extra["width"] = check.integer(raw["width"], f"{key}.width")
        extra["height"] = check.integer(raw["height"], f"{key}.height")
        extra["encoding"] = check.string(raw["encoding"], f"{key}.encoding", choices=ROLE_ENCODINGS[role])
    else:
        for dim in ("width", "height", "encoding"):
            if dim in raw:
                raise check.fail(f"{key}.{dim}", f"only image roles ({', '.join(IMAGE_ROLES)}) take {dim}")
    if role in JOINT_ROLES:
        if "joints" not in raw:
            raise check.fail(f"{key}.joints", f"missing required field for role {role!r}")
        joints = check.names(raw["joints"], f"{key}.joints")
        known = set(robot.all_joints)
        for i, joint in enumerate(joints):
            if joint not in known:
                raise check.fail(f"{key}.joints[{i}]", f"{joint!r} is not a joint of robot {robot.model!r}")
        extra["joints"] = joints
    elif "joints" in raw:
        raise check.fail(f"{key}.joints", f"only joint roles ({', '.join(JOINT_ROLES)}) take joints")
    if "latency_ms" in raw:
        extra["latency_ms"] = check.duration_ms(raw["latency_ms"], f"{key}.latency_ms", zero=True)
    if "policy" in raw:
        extra["policy"] = check.string(raw["policy"], f"{key}.policy", choices=ROLE_SYNC_POLICIES[role])
    for limit in ("tolerance_ms", "max_gap_ms"):
        if limit in raw:
            extra[limit] = check.duration_ms(raw[limit], f"{key}.{limit}")
    return Stream(
        name=name,
        topic=topic,
        type=msgtype,
        role=role,
        rate_hz=check.rate_hz(raw["rate_hz"], f"{key}.rate_hz"),
        clock=check.string(raw["clock"], f"{key}.clock", choices=CLOCKS),
        qos=_parse_qos(check, raw["qos"], f"{key}.qos"),
        required=check.boolean(raw["required"], f"{key}.required"),
        frame_id=check.string(raw.get("frame_id", name), f"{key}.frame_id"),
        **extra,
    )


def parse_rig(text: str, source: str = "<rig>") -> Rig:
    """Parse and validate rig profile YAML ``text``; ``source`` names it in errors.

    Raises:
        RigError: on YAML syntax errors, unknown keys, wrong types, missing
            fields, unknown roles/types, duplicate stream names or topics.
    """
    check = _Checker(source)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "YAML"
        raise RigError(f"{source}: {where}: invalid YAML ({_one_line(getattr(err, 'problem', None) or err)})") from err
    except RecursionError as err:  # nesting deeper than the parser's recursion limit
        raise RigError(f"{source}: YAML nested too deeply") from err
    except ValueError as err:  # an integer of more digits than int() converts (4300)
        raise RigError(f"{source}: invalid YAML ({' '.join(str(err).split())})") from err
    raw = check.mapping(doc, "", {"rig", "site", "description", "robot", "fps", "streams", "sync", "drivers"},
                        {"rig", "site", "robot", "fps", "streams"})
    robot = _parse_robot(check, raw["robot"])
    if not isinstance(raw["streams"], list) or not raw["streams"]:
        raise check.fail("streams", f"expected a non-empty list of streams, got {_show(raw['streams'])}")
    streams = tuple(_parse_stream(check, item, i, robot) for i, item in enumerate(raw["streams"]))
    for attr in ("name", "topic"):
        seen: dict[str, int] = {}
        for i, stream in enumerate(streams):
            value = getattr(stream, attr)
            if value in seen:
                raise check.fail(f"streams[{i}].{attr}", f"duplicate {attr} {value!r} (also streams[{seen[value]}])")
            seen[value] = i
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise check.fail("description", f"expected a string, got {_show(description)}")
    return Rig(
        rig=check.string(raw["rig"], "rig", pattern=_NAME_RE),
        site=check.string(raw["site"], "site", pattern=_NAME_RE),
        robot=robot,
        fps=_fps(check, raw["fps"]),
        streams=streams,
        sync=_parse_sync(check, raw.get("sync", {})),
        drivers=_parse_drivers(check, raw.get("drivers") or [], streams),
        description=description,
        source=source,
        text=text,
    )


_PACKAGE_RE = re.compile(r"[a-z][a-z0-9_]*")
_EXECUTABLE_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_PARAM_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


def _parameter_value(check: _Checker, value: Any, key: str) -> Any:
    """A ROS parameter value: bool, int, float, string, or a list of one of those."""
    scalar = (bool, int, float, str)
    if isinstance(value, scalar) and not (isinstance(value, float) and not math.isfinite(value)):
        return value
    if isinstance(value, list) and value and all(isinstance(v, scalar) for v in value) \
            and len({type(v) for v in value}) == 1:
        return list(value)
    raise check.fail(key, f"expected a ROS parameter value (bool, number, string or a list of one type), "
                          f"got {_show(value)}")


def _parse_drivers(check: _Checker, value: Any, streams: tuple[Stream, ...]) -> tuple[Driver, ...]:
    if not isinstance(value, list):
        raise check.fail("drivers", f"expected a list of driver nodes, got {_show(value)}")
    known = {s.name for s in streams}
    owner: dict[str, str] = {}
    drivers: list[Driver] = []
    for i, item in enumerate(value):
        key = f"drivers[{i}]"
        raw = check.mapping(item, key, {"name", "executable", "package", "streams", "parameters", "remap"},
                            {"name", "executable"})
        name = check.string(raw["name"], f"{key}.name", pattern=_NAME_RE)
        if any(d.name == name for d in drivers):
            raise check.fail(f"{key}.name", f"duplicate driver name {name!r}")
        executable = check.string(raw["executable"], f"{key}.executable", pattern=_EXECUTABLE_RE)
        package = check.string(raw.get("package", "collector"), f"{key}.package", pattern=_PACKAGE_RE)
        published = check.names(raw["streams"], f"{key}.streams") if "streams" in raw else ()
        for j, stream in enumerate(published):
            if stream not in known:
                raise check.fail(f"{key}.streams[{j}]", f"no stream named {stream!r} in this rig")
            if stream in owner:
                raise check.fail(f"{key}.streams[{j}]", f"stream {stream!r} is published by {owner[stream]!r} already")
            owner[stream] = name
        params = raw.get("parameters") or {}
        if not isinstance(params, dict):
            raise check.fail(f"{key}.parameters", f"expected a mapping, got {_show(params)}")
        parameters = {}
        for param, param_value in params.items():
            if not isinstance(param, str) or not _PARAM_NAME_RE.fullmatch(param):
                raise check.fail(f"{key}.parameters", f"{_show(param)} is not a valid parameter name")
            parameters[param] = _parameter_value(check, param_value, f"{key}.parameters.{param}")
        remap = raw.get("remap") or {}
        if not isinstance(remap, dict):
            raise check.fail(f"{key}.remap", f"expected a mapping of topic names, got {_show(remap)}")
        remappings = tuple((check.string(src, f"{key}.remap"), check.string(dst, f"{key}.remap.{src}"))
                           for src, dst in remap.items())
        drivers.append(Driver(name=name, executable=executable, package=package, streams=published,
                              parameters=parameters, remappings=remappings))
    return tuple(drivers)


def _parse_sync(check: _Checker, value: Any) -> SyncLimits:
    raw = check.mapping(value if value is not None else {}, "sync", set(SyncLimits.__dataclass_fields__), set())
    fields: dict[str, Any] = {}
    for name in DURATION_LIMITS:
        if name in raw:
            fields[name] = check.duration_ms(raw[name], f"sync.{name}")
    if "max_invalid_fraction" in raw:
        fraction = check.non_negative(raw["max_invalid_fraction"], "sync.max_invalid_fraction")
        if fraction > 1:
            raise check.fail("sync.max_invalid_fraction", f"expected a number in [0, 1], got {_show(fraction)}")
        fields["max_invalid_fraction"] = fraction
    if "regularize" in raw:
        fields["regularize"] = check.boolean(raw["regularize"], "sync.regularize")
    if "on_violation" in raw:
        fields["on_violation"] = check.string(raw["on_violation"], "sync.on_violation", choices=ON_VIOLATION)
    if "on_unsynchronised" in raw:
        fields["on_unsynchronised"] = check.string(raw["on_unsynchronised"], "sync.on_unsynchronised",
                                                   choices=ON_UNSYNCHRONISED)
    return SyncLimits(**fields)


def keep_streams(doc: dict, names) -> dict:
    """A rig profile document (parsed YAML) cut down to the streams called ``names``.

    Drivers keep only the streams that remain; a driver left with none is dropped, so the
    result parses. ``doc`` is changed in place and returned.
    """
    wanted = set(names)
    doc["streams"] = [s for s in doc.get("streams", []) if s.get("name") in wanted]
    drivers = []
    for driver in doc.get("drivers") or []:
        if "streams" in driver:
            driver["streams"] = [s for s in driver["streams"] if s in wanted]
            if not driver["streams"]:
                continue
        drivers.append(driver)
    if "drivers" in doc:
        doc["drivers"] = drivers
    return doc


def load_rig(name_or_path: str | Path) -> Rig:
    """Load a rig by name (``baoan_humanoid``, from the shipped ``datasets/rigs``) or by path.

    Raises:
        RigError: when the file does not exist or is invalid (see :func:`parse_rig`).
    """
    candidate = Path(name_or_path)
    is_bare_name = "/" not in str(name_or_path) and candidate.suffix not in (".yaml", ".yml")
    if is_bare_name:
        try:
            candidate = data_path("datasets", "rigs", f"{name_or_path}.yaml")
        except CollectorError as err:
            raise RigError(f"unknown rig {str(name_or_path)!r} (available: {', '.join(available_rigs())})") from err
    try:
        text = candidate.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise RigError(f"{candidate}: rig profile not found") from err
    except (OSError, UnicodeDecodeError) as err:
        raise RigError(f"{candidate}: cannot read rig profile ({err})") from err
    return parse_rig(text, source=str(candidate))


def available_rigs() -> list[str]:
    """Names of the rig profiles shipped in ``datasets/rigs``."""
    try:
        folder = data_path("datasets", "rigs")
    except CollectorError:
        return []
    return sorted(p.stem for p in folder.glob("*.yaml"))
