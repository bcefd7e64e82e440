"""Rig profiles, the parser: YAML text -> :class:`~collector.rig.model.Rig`, validated completely.

Any problem raises :class:`~collector.errors.RigError` with one line naming the
file, the key path and the offending value (see :mod:`collector.schema`).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from collector.bag.metadata import QosProfile
from collector.errors import BagError, CollectorError, RigError
from collector.paths import data_path
from collector.rig.model import (
    CLOCKS,
    DURATION_LIMITS,
    DURATION_MS_MAX,
    END_EFFECTOR_TYPES,
    FPS_MAX,
    IMAGE_ROLES,
    JOINT_GROUPS,
    JOINT_ROLES,
    ON_UNSYNCHRONISED,
    ON_VIOLATION,
    QOS_PRESETS,
    RATE_HZ_RANGE,
    ROLE_ENCODINGS,
    ROLE_SYNC_POLICIES,
    ROLE_TYPES,
    ROLES,
    Driver,
    EndEffector,
    Rig,
    Robot,
    Stream,
    SyncLimits,
)
from collector.schema import NAME_RE, Checker, load_yaml, read_text, show

TOPIC_RE = re.compile(r"/[A-Za-z0-9_/]*[A-Za-z0-9_]")


class _RigChecker(Checker):
    """The schema checker with the rig's bounds for rates and durations."""

    def __init__(self, source: str):
        super().__init__(source, RigError)

    def rate_hz(self, value: Any, key: str) -> float:
        return self.bounded(self.number(value, key), key, *RATE_HZ_RANGE, "Hz")

    def duration_ms(self, value: Any, key: str, *, zero: bool = False) -> float:
        """A duration in ms: > 0 (>= 0 with ``zero``), at least 1 ns unless 0, at most DURATION_MS_MAX."""
        duration = self.non_negative(value, key) if zero else self.number(value, key)
        return duration if duration == 0 else self.bounded(duration, key, 1e-6, DURATION_MS_MAX, "ms")


def _parse_robot(check: _RigChecker, value: Any) -> Robot:
    raw = check.mapping(value, "robot", {"model", "joints", "end_effectors", "joint_limits"}, {"model", "joints"})
    groups = check.mapping(raw["joints"], "robot.joints", set(JOINT_GROUPS), set())
    if not groups:
        raise check.fail("robot.joints", "expected at least one joint group")
    joints = {g: check.names(groups[g], f"robot.joints.{g}") for g in JOINT_GROUPS if g in groups}
    effectors = []
    raw_effectors = raw.get("end_effectors") or []
    if not isinstance(raw_effectors, list):
        raise check.fail("robot.end_effectors", f"expected a list, got {show(raw_effectors)}")
    for i, item in enumerate(raw_effectors):
        key = f"robot.end_effectors[{i}]"
        ee = check.mapping(item, key, {"name", "type", "side", "joints"}, {"name", "type", "side", "joints"})
        effectors.append(
            EndEffector(
                name=check.string(ee["name"], f"{key}.name", pattern=NAME_RE),
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
            raise check.fail(key, f"expected [lower, upper] with lower < upper, got {show(pair)}")
        limits[name] = (float(pair[0]), float(pair[1]))
    return Robot(model=robot.model, joints=joints, end_effectors=robot.end_effectors, joint_limits=limits)


def _fps(check: _RigChecker, value: Any) -> int:
    fps = check.integer(value, "fps")
    if fps > FPS_MAX:
        raise check.fail("fps", f"expected at most {FPS_MAX} frames per second, got {show(fps)}")
    return fps


def _parse_qos(check: _RigChecker, value: Any, key: str) -> QosProfile:
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


def _parse_stream(check: _RigChecker, value: Any, index: int, robot: Robot) -> Stream:
    key = f"streams[{index}]"
    raw = check.mapping(value, key, _STREAM_KEYS, _STREAM_REQUIRED)
    name = check.string(raw["name"], f"{key}.name", pattern=NAME_RE)
    key = f"streams[{index}]({name})"
    role = check.string(raw["role"], f"{key}.role", choices=ROLES)
    msgtype = check.string(raw["type"], f"{key}.type")
    if msgtype not in ROLE_TYPES[role]:
        raise check.fail(f"{key}.type", f"{msgtype!r} cannot carry role {role!r} (use {', '.join(ROLE_TYPES[role])})")
    topic = check.string(raw["topic"], f"{key}.topic")
    if not TOPIC_RE.fullmatch(topic) or "//" in topic:
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
    check = _RigChecker(source)
    doc = load_yaml(text, source, RigError)
    raw = check.mapping(doc, "", {"rig", "site", "description", "robot", "fps", "streams", "sync", "drivers"},
                        {"rig", "site", "robot", "fps", "streams"})
    robot = _parse_robot(check, raw["robot"])
    if not isinstance(raw["streams"], list) or not raw["streams"]:
        raise check.fail("streams", f"expected a non-empty list of streams, got {show(raw['streams'])}")
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
        raise check.fail("description", f"expected a string, got {show(description)}")
    return Rig(
        rig=check.string(raw["rig"], "rig", pattern=NAME_RE),
        site=check.string(raw["site"], "site", pattern=NAME_RE),
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


def _parameter_value(check: _RigChecker, value: Any, key: str) -> Any:
    """A ROS parameter value: bool, int, float, string, or a list of one of those."""
    scalar = (bool, int, float, str)
    if isinstance(value, scalar) and not (isinstance(value, float) and not math.isfinite(value)):
        return value
    if isinstance(value, list) and value and all(isinstance(v, scalar) for v in value) \
            and len({type(v) for v in value}) == 1:
        return list(value)
    raise check.fail(key, f"expected a ROS parameter value (bool, number, string or a list of one type), "
                          f"got {show(value)}")


def _parse_drivers(check: _RigChecker, value: Any, streams: tuple[Stream, ...]) -> tuple[Driver, ...]:
    if not isinstance(value, list):
        raise check.fail("drivers", f"expected a list of driver nodes, got {show(value)}")
    known = {s.name for s in streams}
    owner: dict[str, str] = {}
    drivers: list[Driver] = []
    for i, item in enumerate(value):
        key = f"drivers[{i}]"
        raw = check.mapping(item, key, {"name", "executable", "package", "streams", "parameters", "remap"},
                            {"name", "executable"})
        name = check.string(raw["name"], f"{key}.name", pattern=NAME_RE)
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
            raise check.fail(f"{key}.parameters", f"expected a mapping, got {show(params)}")
        parameters = {}
        for param, param_value in params.items():
            if not isinstance(param, str) or not _PARAM_NAME_RE.fullmatch(param):
                raise check.fail(f"{key}.parameters", f"{show(param)} is not a valid parameter name")
            parameters[param] = _parameter_value(check, param_value, f"{key}.parameters.{param}")
        remap = raw.get("remap") or {}
        if not isinstance(remap, dict):
            raise check.fail(f"{key}.remap", f"expected a mapping of topic names, got {show(remap)}")
        remappings = tuple((check.string(src, f"{key}.remap"), check.string(dst, f"{key}.remap.{src}"))
                           for src, dst in remap.items())
        drivers.append(Driver(name=name, executable=executable, package=package, streams=published,
                              parameters=parameters, remappings=remappings))
    return tuple(drivers)


def _parse_sync(check: _RigChecker, value: Any) -> SyncLimits:
    raw = check.mapping(value if value is not None else {}, "sync", set(SyncLimits.__dataclass_fields__), set())
    fields: dict[str, Any] = {}
    for name in DURATION_LIMITS:
        if name in raw:
            fields[name] = check.duration_ms(raw[name], f"sync.{name}")
    if "max_invalid_fraction" in raw:
        fraction = check.non_negative(raw["max_invalid_fraction"], "sync.max_invalid_fraction")
        if fraction > 1:
            raise check.fail("sync.max_invalid_fraction", f"expected a number in [0, 1], got {show(fraction)}")
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
    return parse_rig(read_text(candidate, "rig profile", RigError), source=str(candidate))


def available_rigs() -> list[str]:
    """Names of the rig profiles shipped in ``datasets/rigs``."""
    try:
        folder = data_path("datasets", "rigs")
    except CollectorError:
        return []
    return sorted(p.stem for p in folder.glob("*.yaml"))
