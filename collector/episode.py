"""The raw tier's sidecar: ``episode.json`` beside each rosbag2 episode directory.

rosbag2's ``metadata.yaml`` has no slot for who recorded what, for which task,
and whether it worked; ``episode.json`` holds that. It is written when an
episode starts (``status: recording``) and rewritten atomically when it ends,
so a crash leaves a file that says the episode was interrupted.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import math
import os
import re
import reprlib
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from collector import __version__
from collector.bag.msgdef import has_header
from collector.errors import EpisodeError, RigError
from collector.fs import write_atomic
from collector.latency import LatencyHistogram, LatencySummary, measures_latency
from collector.pseudonym import check_operator_id
from collector.rig import Rig, Stream, SyncLimits, parse_rig

EPISODE_FILE = "episode.json"
# the rig profile: attached to the bag by the recorder, or a file of this name beside a bag another tool wrote
RIG_ATTACHMENT = "rig_profile.yaml"
SCHEMA_VERSION = 1
STATUSES = ("recording", "complete", "discarded", "interrupted", "recovered")
END_REASONS = ("", "operator", "duration", "disk_low", "backlog", "shutdown", "error", "recovered")


# A stream's clock going back by more than this (and 10 nominal periods) is a reset,
# not a late message (StreamStats.clock_resets).
CLOCK_RESET_MIN_NS = 500_000_000


def clock_reset_ns(rate_hz: float) -> int:
    """How far back (ns) a stream's clock must step to count as reset: 0.5 s, at least 10 periods."""
    return max(CLOCK_RESET_MIN_NS, round(10e9 / rate_hz))


@dataclass(kw_only=True)
class StreamStats:
    """What was written for one stream during an episode.

    ``count``, ``bytes`` and the receive span describe what arrived.
    ``gaps`` counts holes longer than 2.5 nominal periods on the stream's own
    clock (its ``header.stamp`` when it has one, else receive time), so
    transport jitter is not mistaken for missing data; ``missing`` estimates
    the messages absent in those holes and ``largest_gap_ns`` is the longest.
    ``drops`` counts messages lost in transport, exactly, from gaps in the DDS
    publication sequence numbers of each publisher; ``publishers`` counts the
    publishers (DDS writers) heard during the episode, so a driver that restarted
    shows 2 and its new sequence numbers are not taken for losses (0 when the
    messages came without publisher ids, e.g. written in process).
    ``clock_resets`` counts steps back of the stream's own clock by more than
    :func:`clock_reset_ns` (a simulation-time reset): gaps are judged on the new
    clock from there, so a clock that went back does not hide later holes.
    ``latency_ms`` summarises receive - ``header.stamp`` of a ``clock: header``
    stream (see :class:`~collector.latency.LatencySummary`); None where it is not
    measured (other clocks, types without a header, files older than the field).
    While an episode records, the stats made by :meth:`for_stream` hold a
    histogram that :meth:`add` fills and :meth:`to_dict` summarises.
    """

    topic: str
    type: str
    role: str
    nominal_rate_hz: float
    count: int = 0
    first_receive_ns: int | None = None
    last_receive_ns: int | None = None
    largest_gap_ns: int = 0
    gaps: int = 0
    missing: int = 0
    drops: int = 0
    bytes: int = 0
    publishers: int = 0
    clock_resets: int = 0
    last_time_ns: int | None = None  # newest time on the stream's own clock (since its last reset)
    latency_ms: LatencySummary | None = None

    def __post_init__(self) -> None:
        # Not fields (never serialised or compared): add() runs per message, so the reset
        # threshold of the (fixed) nominal rate is computed once; the latency histogram.
        self._reset_ns = clock_reset_ns(self.nominal_rate_hz)
        self._latency: LatencyHistogram | None = None

    @property
    def rate_hz(self) -> float:
        """Mean receive rate over the stream's own span, 0.0 with fewer than two messages."""
        if self.count < 2 or self.first_receive_ns is None or self.last_receive_ns is None:
            return 0.0
        span = self.last_receive_ns - self.first_receive_ns
        return (self.count - 1) * 1e9 / span if span > 0 else 0.0

    def add(self, receive_ns: int, size: int, stamp_ns: int | None = None) -> None:
        """Account one message received at ``receive_ns``, ``size`` bytes, stamped ``stamp_ns``.

        Gaps are judged on ``stamp_ns`` when given (and non-zero), else on
        ``receive_ns``. A message older than the newest seen (a late message, a
        DDS repair) widens nothing and is not taken for a gap; one older by more
        than :func:`clock_reset_ns` is the clock stepping back: counted in
        ``clock_resets``, and gaps are judged from it on. A stream that measures
        latency accounts ``receive_ns - stamp_ns``.
        """
        if self.first_receive_ns is None or receive_ns < self.first_receive_ns:
            self.first_receive_ns = receive_ns
        if self.last_receive_ns is None or receive_ns > self.last_receive_ns:
            self.last_receive_ns = receive_ns
        time_ns = stamp_ns if stamp_ns else receive_ns
        if self.last_time_ns is not None and time_ns < self.last_time_ns - self._reset_ns:
            self.clock_resets += 1
            self.last_time_ns = time_ns
        elif self.last_time_ns is not None and time_ns > self.last_time_ns:
            gap = time_ns - self.last_time_ns
            if gap > self.largest_gap_ns:
                self.largest_gap_ns = gap
            period = 1e9 / self.nominal_rate_hz
            if gap > 2.5 * period:
                self.gaps += 1
                self.missing += max(0, round(gap / period) - 1)
        if self.last_time_ns is None or time_ns > self.last_time_ns:
            self.last_time_ns = time_ns
        self.count += 1
        self.bytes += size
        latency = self._latency
        if latency is not None and stamp_ns:
            latency.add(receive_ns - stamp_ns)

    @classmethod
    def for_stream(cls, stream: Stream, sync: SyncLimits | None = None) -> StreamStats:
        """Empty statistics for a rig stream; a ``clock: header`` stream with a header measures latency.

        ``sync``: the rig's limits (its ``clock_tolerance_ms`` decides what counts as
        ``ahead``); the defaults when None.
        """
        stats = cls(topic=stream.topic, type=stream.type, role=stream.role, nominal_rate_hz=stream.rate_hz)
        if measures_latency(stream):
            tolerance_ms = (sync or SyncLimits()).clock_tolerance_ms
            stats._latency = LatencyHistogram(clock_tolerance_ns=round(tolerance_ms * 1e6))
        return stats

    def to_dict(self) -> dict[str, Any]:
        if self._latency is not None:
            self.latency_ms = self._latency.summary()  # the histogram is the truth while it is kept
        data = asdict(self)
        data["rate_hz"] = round(self.rate_hz, 3)
        return data


@dataclass(kw_only=True)
class EpisodeInfo:
    """Contents of ``episode.json``. Times are int nanoseconds since the Unix epoch."""

    episode_id: str
    rig: str
    site: str
    robot: str
    task: str = ""
    operator: str = ""
    success: bool | None = None
    status: str = "recording"
    end_reason: str = ""
    start_ns: int = 0
    stop_ns: int | None = None
    bag: str = ""
    streams: dict[str, StreamStats] = field(default_factory=dict)
    software: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise EpisodeError(f"episode status {self.status!r} is not one of {', '.join(STATUSES)}")
        if self.end_reason not in END_REASONS:
            raise EpisodeError(f"episode end_reason {self.end_reason!r} is not one of {', '.join(END_REASONS)}")

    @property
    def duration_s(self) -> float:
        return ((self.stop_ns or self.start_ns) - self.start_ns) / 1e9

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["schema_version"] = SCHEMA_VERSION
        data["streams"] = {name: stats.to_dict() for name, stats in self.streams.items()}
        data["duration_s"] = round(self.duration_s, 6)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = EPISODE_FILE) -> EpisodeInfo:
        """Build from parsed JSON; raises EpisodeError naming ``source`` on bad content.

        Every value must have its field's type (``int`` within int64, ``float`` finite,
        ``nominal_rate_hz`` > 0), so nothing downstream meets a string where a time
        belongs; unknown and missing keys are refused.
        """
        fields = _json_fields(cls, data, source, ignore=("schema_version", "duration_s"))
        streams = {}
        for name, raw in (fields.pop("streams", None) or {}).items():
            where = f"{source}: streams[{name!r}]"
            stats = _json_fields(StreamStats, raw, where, ignore=("rate_hz",))
            rate = stats["nominal_rate_hz"]
            if not rate >= MIN_RATE_HZ:  # StreamStats divides by it: 1e9 / 1e-320 is inf
                raise EpisodeError(f"{where}.nominal_rate_hz: expected a rate >= {MIN_RATE_HZ:g} Hz, got {_show(rate)}")
            if stats.get("latency_ms") is not None:
                stats["latency_ms"] = LatencySummary(
                    **_json_fields(LatencySummary, stats["latency_ms"], f"{where}.latency_ms", ignore=()))
            streams[name] = StreamStats(**stats)
        try:
            return cls(streams=streams, **fields)
        except EpisodeError as err:  # bad status/end_reason: say which file holds it
            raise EpisodeError(f"{source}: {err}") from err


MIN_RATE_HZ = 1e-6  # lowest nominal_rate_hz episode.json may give (one message in 11.6 days)

_REPR = reprlib.Repr()  # keyword arguments need Python 3.12; set the limits one by one
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict = 3, 4, 4
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = 60
_show = _REPR.repr

# What JSON values each field annotation of EpisodeInfo / StreamStats accepts (``a | b``:
# either); a field whose annotation is not listed here is not checked.
_INT64 = range(-(2**63), 2**63)
_JSON_TYPES = {
    "str": lambda v: isinstance(v, str),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool) and v in _INT64,
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v),
    "bool": lambda v: isinstance(v, bool),
    "None": lambda v: v is None,
    "dict[str, str]": lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
    "dict[str, Any]": lambda v: isinstance(v, dict),
    "dict[str, StreamStats]": lambda v: isinstance(v, dict),
    "LatencySummary": lambda v: isinstance(v, dict),
    "list[str]": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
}


def _json_fields(cls, data: Any, where: str, *, ignore: tuple[str, ...]) -> dict[str, Any]:
    """The keyword arguments of dataclass ``cls`` in JSON object ``data``, type-checked.

    Raises:
        EpisodeError: ``data`` is not an object, or has an unknown key, a missing required
            one or a value of the wrong type; the message names ``where`` and the key.
    """
    if not isinstance(data, dict):
        raise EpisodeError(f"{where}: expected a JSON object, got {_show(data)}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    values = {}
    for key, value in data.items():
        if key in ignore:
            continue
        spec = known.get(key)
        if spec is None:
            raise EpisodeError(f"{where}: unknown key {_show(key)}")
        checks = [_JSON_TYPES.get(part.strip()) for part in str(spec.type).split("|")]
        if None not in checks and not any(check(value) for check in checks):
            raise EpisodeError(f"{where}.{key}: expected {spec.type}, got {_show(value)}")
        values[key] = value
    for name, spec in known.items():
        required = spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING
        if required and name not in values:
            raise EpisodeError(f"{where}: missing key {name!r}")
    return values


def gaps_on_stamp(stream: Stream) -> bool:
    """Whether a stream's gaps are judged on its ``header.stamp`` (header or device clock, stamped type)."""
    return stream.clock in ("header", "device") and has_header(stream.type)


def open_episode(writer, rig: Rig, streams: tuple[Stream, ...] | list[Stream], *, task: str, operator: str,
                 start_ns: int) -> tuple[list[int], EpisodeInfo]:
    """Describe a new episode in its bag and return (channel ids per stream, initial EpisodeInfo).

    ``writer`` is the episode's open :class:`~collector.bag.writer.BagWriter`. What
    every raw episode carries, recorded live or written in process: one topic per
    stream with its QoS, the rig profile as an attachment, the episode identity as
    MCAP metadata; the info has empty statistics for every stream.
    """
    check_operator_id(operator)
    episode_id = writer.path.name
    channels = [writer.add_topic(s.topic, s.type, qos=s.qos) for s in streams]
    writer.add_attachment(RIG_ATTACHMENT, rig.text.encode("utf-8"), "application/yaml")
    writer.add_metadata(
        "collector_episode",
        {"episode_id": episode_id, "rig": rig.rig, "site": rig.site, "robot": rig.robot.model, "operator": operator},
    )
    info = EpisodeInfo(
        episode_id=episode_id, rig=rig.rig, site=rig.site, robot=rig.robot.model, task=task, operator=operator,
        start_ns=start_ns, bag=writer.mcap_path.name, software=software_versions(),
        streams={s.name: StreamStats.for_stream(s, rig.sync) for s in streams},
    )
    return channels, info


def software_versions() -> dict[str, str]:
    """Versions recorded with every episode: collector, Python, host."""
    import platform

    return {
        "collector": __version__,
        "python": platform.python_version(),
        "ros_distro": os.environ.get("ROS_DISTRO", "kilted"),
        "host": socket.gethostname(),
    }


# While an episode records, its episode.json is padded to this size with trailing
# spaces (valid JSON), so the final rewrite still fits in blocks the file already has
# when the disk fills up mid-episode.
RESERVE_BYTES = 64 * 1024


def write_episode_info(episode_dir: Path, info: EpisodeInfo) -> Path:
    """Write ``episode.json`` atomically (:func:`collector.fs.write_atomic`); returns its path.

    A recording episode's file is padded to :data:`RESERVE_BYTES`. When the disk is
    full, the new content overwrites that padded file in place instead, so the
    episode still says how and why it ended.

    Raises:
        OSError: the file cannot be written either way.
    """
    path = Path(episode_dir) / EPISODE_FILE
    text = json.dumps(info.to_dict(), indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    data = text.encode("utf-8")
    if info.status == "recording" and len(data) < RESERVE_BYTES:
        data += b" " * (RESERVE_BYTES - len(data))
    try:
        write_atomic(path, data)
    except OSError as err:
        if err.errno != errno.ENOSPC or not _overwrite_in_place(path, data.rstrip(b" ")):
            raise
    return path


def _overwrite_in_place(path: Path, data: bytes) -> bool:
    """Overwrite ``path`` with ``data`` padded to its current size; False if it does not fit."""
    try:
        size = path.stat().st_size
        if len(data) > size:
            return False
        with open(path, "r+b") as handle:
            handle.write(data + b" " * (size - len(data)))
            handle.flush()
            os.fsync(handle.fileno())
    except OSError:
        return False
    return True


def read_episode_info(episode_dir: Path) -> EpisodeInfo:
    """Read ``episode.json`` from an episode directory.

    Raises:
        EpisodeError: when the file is missing or is not valid episode JSON.
    """
    path = Path(episode_dir) / EPISODE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise EpisodeError(f"{path}: no episode.json (not a collector episode?)") from err
    except (OSError, ValueError) as err:  # UnicodeDecodeError, JSONDecodeError, a 5000-digit integer
        raise EpisodeError(f"{path}: cannot read episode.json ({' '.join(str(err).split())})") from err
    except RecursionError as err:
        raise EpisodeError(f"{path}: cannot read episode.json (nested too deeply)") from err
    if not isinstance(data, dict):
        raise EpisodeError(f"{path}: expected a JSON object")
    return EpisodeInfo.from_dict(data, source=str(path))


_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def new_episode_dir(out: Path, rig: str, *, now_ns: int | None = None) -> Path:
    """A fresh, unused episode path ``<out>/<rig>_<YYYYmmdd_HHMMSS>_<n>`` (not created).

    The name is sanitised (no separators, no ``..``) and never collides with an
    existing directory: the counter increases until the name is free.
    """
    stamp = time.strftime("%Y%m%d_%H%M%S", time.localtime((now_ns or time.time_ns()) / 1e9))
    base = _UNSAFE.sub("_", f"{rig}_{stamp}").strip("._") or "episode"
    index = 0
    while True:
        candidate = Path(out) / f"{base}_{index:03d}"
        if not candidate.exists():
            return candidate
        index += 1


def find_episodes(root: Path) -> list[Path]:
    """Episode directories (holding ``episode.json``) at or directly under ``root``, sorted."""
    root = Path(root)
    if (root / EPISODE_FILE).is_file():
        return [root]
    return sorted(p.parent for p in root.glob(f"*/{EPISODE_FILE}"))


def stored_rig(bag, path: Path | str) -> Rig | None:
    """The rig profile attached to an open episode bag (``rig_profile.yaml``), None when absent.

    Raises:
        RigError: the attachment is not UTF-8 or not a valid profile (names the bag and the key).
    """
    for attachment in bag.attachments():
        if attachment.name == RIG_ATTACHMENT:
            source = f"{path}:{RIG_ATTACHMENT}"
            try:
                text = attachment.data.decode("utf-8")
            except UnicodeDecodeError as err:  # an attachment written with CRC 0 goes unchecked
                raise RigError(f"{source}: not UTF-8 text ({err.reason} at byte {err.start})") from err
            return parse_rig(text, source=source)
    return None
