"""rosbag2 ``metadata.yaml``: write version 9 (Jazzy / Kilted), read versions 4..9.

Also :class:`QosProfile`, the offered QoS of a topic as rosbag2 records it, in the v9
form (policy names as lowercase strings) both in ``metadata.yaml`` and, as a YAML string,
in the MCAP channel metadata under ``offered_qos_profiles``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from collector.errors import BagError
from collector.fs import write_atomic
from collector.schema import one_line, show

METADATA_FILENAME = "metadata.yaml"
METADATA_VERSION = 9
TOP_KEY = "rosbag2_bagfile_information"

# rmw's "infinite" duration as rosbag2 >= Jazzy writes it for unset deadlines etc.
INFINITE_DURATION = {"sec": 9223372036, "nsec": 854775807}

# rmw enum values (rmw/types.h), used by metadata versions <= 8.
_HISTORY = {0: "system_default", 1: "keep_last", 2: "keep_all", 3: "unknown"}
_RELIABILITY = {0: "system_default", 1: "reliable", 2: "best_effort", 3: "unknown", 4: "best_available"}
_DURABILITY = {0: "system_default", 1: "transient_local", 2: "volatile", 3: "unknown", 4: "best_available"}
_LIVELINESS = {
    0: "system_default", 1: "automatic", 2: "manual_by_node", 3: "manual_by_topic",
    4: "unknown", 5: "best_available",
}

def _int(value: Any, what: str) -> int:
    """``value`` as an int (rosbag2 writes integers; numeric strings are accepted).

    Raises:
        BagError: naming ``what`` and the value.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise BagError(f"{what}={show(value)} is not an integer")
    try:
        return int(value)
    except (ValueError, OverflowError) as err:  # "x", nan, inf, a 5000-digit string
        raise BagError(f"{what}={show(value)} is not an integer") from err


def _text(value: Any, what: str) -> str:
    """A scalar as a string (YAML reads ``ros_distro: 2024`` as an int); containers are refused.

    Raises:
        BagError: naming ``what`` and the value.
    """
    if not isinstance(value, (str, int, float)):  # str() of an alias bomb would never end
        raise BagError(f"{what}={show(value)} is not a string")
    return str(value)


def _load_yaml(text: str) -> Any:
    """``yaml.safe_load(text)``; raises ValueError with a one-line reason when it is not YAML."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValueError(one_line(err)) from err
    except RecursionError as err:
        raise ValueError("nested too deeply") from err
    except ValueError as err:  # an integer of more digits than int() converts
        raise ValueError(one_line(err)) from err


@dataclass(frozen=True, kw_only=True)
class QosProfile:
    """Offered QoS of a recorded topic (the policies that matter for replay).

    Attributes:
        reliability: ``"reliable"`` or ``"best_effort"``.
        durability: ``"volatile"`` or ``"transient_local"``.
        history: ``"keep_last"`` or ``"keep_all"``.
        depth: queue depth (messages), >= 0; 0 only makes sense with ``keep_all``.

    Raises:
        BagError: on construction, naming the field and the bad value.
    """

    reliability: str = "reliable"
    durability: str = "volatile"
    history: str = "keep_last"
    depth: int = 10

    def __post_init__(self) -> None:
        allowed = {
            "reliability": ("reliable", "best_effort"),
            "durability": ("volatile", "transient_local"),
            "history": ("keep_last", "keep_all"),
        }
        for name, values in allowed.items():
            value = getattr(self, name)
            if value not in values:
                raise BagError(f"QosProfile.{name}={value!r} is not one of {', '.join(values)}")
        if isinstance(self.depth, bool) or not isinstance(self.depth, int) or self.depth < 0:
            raise BagError(f"QosProfile.depth={self.depth!r} is not an int >= 0")

    def to_metadata(self) -> dict[str, Any]:
        """The v9 ``offered_qos_profiles`` entry (a dict) for this profile."""
        return {
            "history": self.history,
            "depth": self.depth,
            "reliability": self.reliability,
            "durability": self.durability,
            "deadline": dict(INFINITE_DURATION),
            "lifespan": dict(INFINITE_DURATION),
            "liveliness": "automatic",
            "liveliness_lease_duration": dict(INFINITE_DURATION),
            "avoid_ros_namespace_conventions": False,
        }

    def to_yaml(self) -> str:
        """The YAML string rosbag2 stores in MCAP channel metadata ``offered_qos_profiles``."""
        return qos_profiles_yaml([self.to_metadata()])

    @classmethod
    def from_metadata(cls, entry: Mapping[str, Any]) -> QosProfile:
        """Build from one ``offered_qos_profiles`` entry of any metadata version.

        Raises:
            BagError: a policy is not representable (e.g. ``system_default``).
        """
        normal = _normalize_qos(entry)
        return cls(
            reliability=normal["reliability"],
            durability=normal["durability"],
            history=normal["history"],
            depth=int(normal["depth"]),
        )


def qos_profiles_yaml(profiles: Iterable[Mapping[str, Any]]) -> str:
    """YAML list text of v9 QoS dicts, as rosbag2 writes in MCAP channel metadata."""
    entries = [dict(p) for p in profiles]
    if not entries:
        return ""
    return yaml.safe_dump(entries, default_flow_style=False, sort_keys=False).rstrip("\n")


def _policy(value: Any, table: dict[int, str], name: str) -> str:
    if isinstance(value, bool):
        raise BagError(f"QoS {name}={show(value)} is neither an rmw enum value nor a policy name")
    if isinstance(value, int):
        return table.get(value, "unknown")
    if isinstance(value, str):
        return value.strip().lower()
    raise BagError(f"QoS {name}={show(value)} is neither an rmw enum value nor a policy name")


def _duration(value: Any, name: str) -> dict[str, int]:
    if isinstance(value, Mapping):
        return {"sec": _int(value.get("sec", 0), f"QoS {name}.sec"),
                "nsec": _int(value.get("nsec", 0), f"QoS {name}.nsec")}
    return {"sec": 0, "nsec": 0}


def _normalize_qos(entry: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(entry, Mapping):
        raise BagError(f"QoS profile entry {show(entry)} is not a mapping")
    return {
        "history": _policy(entry.get("history", 0), _HISTORY, "history"),
        "depth": _int(entry.get("depth", 0), "QoS depth"),
        "reliability": _policy(entry.get("reliability", 0), _RELIABILITY, "reliability"),
        "durability": _policy(entry.get("durability", 0), _DURABILITY, "durability"),
        "deadline": _duration(entry.get("deadline"), "deadline"),
        "lifespan": _duration(entry.get("lifespan"), "lifespan"),
        "liveliness": _policy(entry.get("liveliness", 0), _LIVELINESS, "liveliness"),
        "liveliness_lease_duration": _duration(entry.get("liveliness_lease_duration"), "liveliness_lease_duration"),
        "avoid_ros_namespace_conventions": bool(entry.get("avoid_ros_namespace_conventions", False)),
    }


def parse_qos_profiles(value: Any) -> list[dict[str, Any]]:
    """Normalize ``offered_qos_profiles`` of any version to a list of v9 dicts.

    Accepts the v9 list of dicts, the YAML string of versions 4..8 (integer enums) or of
    MCAP channel metadata, and ``""`` / ``None`` (no profiles).

    Raises:
        BagError: the value is not valid YAML or not a list of mappings.
    """
    if value is None or value == "":
        return []
    if isinstance(value, str):
        try:
            value = _load_yaml(value)
        except ValueError as err:
            raise BagError(f"offered_qos_profiles is not valid YAML: {err}") from err
        if value is None:
            return []
    if not isinstance(value, list):
        raise BagError(f"offered_qos_profiles={show(value)} is not a list of QoS profiles")
    return [_normalize_qos(entry) for entry in value]


@dataclass(frozen=True, kw_only=True)
class TopicRecord:
    """One ``topics_with_message_count`` entry."""

    name: str
    msgtype: str
    message_count: int = 0
    serialization_format: str = "cdr"
    offered_qos_profiles: list[dict[str, Any]] = field(default_factory=list)
    type_description_hash: str = ""


@dataclass(frozen=True, kw_only=True)
class FileRecord:
    """One ``files`` entry: a storage file with its time span (ns) and message count."""

    path: str
    starting_time_ns: int
    duration_ns: int
    message_count: int


@dataclass(frozen=True, kw_only=True)
class BagMetadata:
    """Content of ``metadata.yaml`` (times in int nanoseconds since the epoch)."""

    version: int = METADATA_VERSION
    storage_identifier: str = "mcap"
    starting_time_ns: int = 0
    duration_ns: int = 0
    message_count: int = 0
    topics: list[TopicRecord] = field(default_factory=list)
    compression_format: str = ""
    compression_mode: str = ""
    relative_file_paths: list[str] = field(default_factory=list)
    files: list[FileRecord] = field(default_factory=list)
    custom_data: dict[str, str] | None = None
    ros_distro: str = ""

    def topic_counts(self) -> dict[str, int]:
        """Message count per topic name."""
        return {t.name: t.message_count for t in self.topics}

    def to_dict(self) -> dict[str, Any]:
        """The v9 mapping under ``rosbag2_bagfile_information`` (also the MCAP ``rosbag2`` record)."""
        return {
            "version": METADATA_VERSION,
            "storage_identifier": self.storage_identifier,
            "duration": {"nanoseconds": self.duration_ns},
            "starting_time": {"nanoseconds_since_epoch": self.starting_time_ns},
            "message_count": self.message_count,
            "topics_with_message_count": [
                {
                    "topic_metadata": {
                        "name": t.name,
                        "type": t.msgtype,
                        "serialization_format": t.serialization_format,
                        "offered_qos_profiles": [dict(q) for q in t.offered_qos_profiles],
                        "type_description_hash": t.type_description_hash,
                    },
                    "message_count": t.message_count,
                }
                for t in self.topics
            ],
            "compression_format": self.compression_format,
            "compression_mode": self.compression_mode,
            "relative_file_paths": list(self.relative_file_paths),
            "files": [
                {
                    "path": f.path,
                    "starting_time": {"nanoseconds_since_epoch": f.starting_time_ns},
                    "duration": {"nanoseconds": f.duration_ns},
                    "message_count": f.message_count,
                }
                for f in self.files
            ],
            "custom_data": dict(self.custom_data) if self.custom_data else None,
            "ros_distro": self.ros_distro,
        }

    def serialized(self) -> str:
        """YAML of :meth:`to_dict`, the ``serialized_metadata`` of the MCAP ``rosbag2`` record."""
        return _dump(self.to_dict())

    def to_yaml(self) -> str:
        """Full ``metadata.yaml`` text."""
        return _dump({TOP_KEY: self.to_dict()})


class _IndentedDumper(yaml.SafeDumper):
    """Indents block sequences under their key, as yaml-cpp (rosbag2) does."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_none(dumper: yaml.SafeDumper, _value: None) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:null", "~")


_IndentedDumper.add_representer(type(None), _represent_none)


def _dump(data: Mapping[str, Any]) -> str:
    return yaml.dump(data, Dumper=_IndentedDumper, default_flow_style=False, sort_keys=False)


def _get(mapping: Mapping[str, Any], key: str, source: str, default: Any = ...) -> Any:
    if not isinstance(mapping, Mapping):
        raise BagError(f"{source}: expected a mapping with key {key!r}, got {show(mapping)}")
    if key in mapping and mapping[key] is not None:
        return mapping[key]
    if default is not ...:
        return default
    raise BagError(f"{source}: key {key!r} is missing")


def _ns(mapping: Mapping[str, Any], key: str, inner: str, source: str, default: Any = ...) -> int:
    value = _get(mapping, key, source, default)
    if isinstance(value, Mapping):
        value = _get(value, inner, f"{source}: {key}")
    return _int(value, f"{source}: {key}.{inner}")


def _str_field(mapping: Mapping[str, Any], key: str, source: str, default: Any = ...) -> str:
    return _text(_get(mapping, key, source, default), f"{source}: {key}")


def _int_field(mapping: Mapping[str, Any], key: str, source: str) -> int:
    return _int(_get(mapping, key, source, 0), f"{source}: {key}")


def _list(mapping: Mapping[str, Any], key: str, source: str) -> list:
    value = _get(mapping, key, source, [])
    if not isinstance(value, list):
        raise BagError(f"{source}: {key}={show(value)} is not a list")
    return value


def parse_metadata(data: Any, source: str = METADATA_FILENAME) -> BagMetadata:
    """Parse a loaded ``metadata.yaml`` mapping (with or without the top key), versions 4..9.

    Raises:
        BagError: a required key is missing, a value has the wrong type, or the version
            is outside 4..9; the message names ``source`` and the key.
    """
    if isinstance(data, Mapping) and TOP_KEY in data:
        data = data[TOP_KEY]
    if not isinstance(data, Mapping):
        raise BagError(f"{source}: expected a mapping under {TOP_KEY!r}, got {type(data).__name__}")
    version = _get(data, "version", source)
    if isinstance(version, bool) or not isinstance(version, int) or not 4 <= version <= METADATA_VERSION:
        raise BagError(f"{source}: version={show(version)} is not supported (expected 4..{METADATA_VERSION})")
    topics = []
    for index, entry in enumerate(_list(data, "topics_with_message_count", source)):
        where = f"{source}: topics_with_message_count[{index}]"
        if not isinstance(entry, Mapping):
            raise BagError(f"{where} is not a mapping")
        meta = _get(entry, "topic_metadata", where)
        if not isinstance(meta, Mapping):
            raise BagError(f"{where}: topic_metadata={show(meta)} is not a mapping")
        try:
            qos = parse_qos_profiles(meta.get("offered_qos_profiles"))
        except BagError as err:
            raise BagError(f"{where}: {err}") from err
        topics.append(
            TopicRecord(
                name=_str_field(meta, "name", where),
                msgtype=_str_field(meta, "type", where),
                message_count=_int_field(entry, "message_count", where),
                serialization_format=_str_field(meta, "serialization_format", where, "cdr"),
                offered_qos_profiles=qos,
                type_description_hash=_str_field(meta, "type_description_hash", where, ""),
            )
        )
    files = []
    for index, entry in enumerate(_list(data, "files", source)):
        where = f"{source}: files[{index}]"
        files.append(
            FileRecord(
                path=_str_field(entry, "path", where),
                starting_time_ns=_ns(entry, "starting_time", "nanoseconds_since_epoch", where),
                duration_ns=_ns(entry, "duration", "nanoseconds", where),
                message_count=_int_field(entry, "message_count", where),
            )
        )
    custom = _get(data, "custom_data", source, None)
    if custom is not None and not isinstance(custom, Mapping):
        raise BagError(f"{source}: custom_data={show(custom)} is not a mapping")
    paths = _get(data, "relative_file_paths", source)
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise BagError(f"{source}: relative_file_paths={show(paths)} is not a list of file names")
    return BagMetadata(
        version=version,
        storage_identifier=_str_field(data, "storage_identifier", source),
        starting_time_ns=_ns(data, "starting_time", "nanoseconds_since_epoch", source),
        duration_ns=_ns(data, "duration", "nanoseconds", source),
        message_count=_int_field(data, "message_count", source),
        topics=topics,
        compression_format=_str_field(data, "compression_format", source, ""),
        compression_mode=_str_field(data, "compression_mode", source, ""),
        relative_file_paths=list(paths),
        files=files,
        custom_data={_text(k, f"{source}: custom_data key"): _text(v, f"{source}: custom_data[{show(k)}]")
                     for k, v in custom.items()} if custom else None,
        ros_distro=_str_field(data, "ros_distro", source, ""),
    )


def read_metadata(path: Path) -> BagMetadata:
    """Read ``metadata.yaml`` from a bag directory (or the file itself).

    Raises:
        BagError: the file is missing, not YAML, or not rosbag2 metadata of version 4..9.
    """
    path = Path(path)
    file = path / METADATA_FILENAME if path.is_dir() else path
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as err:
        raise BagError(f"cannot read {file}: {err.strerror or err}") from err
    except UnicodeDecodeError as err:
        raise BagError(f"{file} is not UTF-8 text ({err.reason} at byte {err.start})") from err
    try:
        data = _load_yaml(text)
    except ValueError as err:
        raise BagError(f"{file} is not valid YAML: {err}") from err
    if not isinstance(data, Mapping) or TOP_KEY not in data:
        raise BagError(f"{file} has no {TOP_KEY!r} key: not rosbag2 metadata")
    return parse_metadata(data, str(file))


def write_metadata(bag_dir: Path, metadata: BagMetadata) -> Path:
    """Write ``bag_dir/metadata.yaml`` atomically (:func:`collector.fs.write_atomic`).

    Returns the path written.

    Raises:
        BagError: ``metadata.yaml`` exists already (never overwritten) or cannot be written.
    """
    target = Path(bag_dir) / METADATA_FILENAME
    if target.exists():
        raise BagError(f"{target} exists already, not overwriting")
    try:
        return write_atomic(target, metadata.to_yaml().encode("utf-8"))
    except OSError as err:
        raise BagError(f"cannot write {target}: {err.strerror or err}") from err
