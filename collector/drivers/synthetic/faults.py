"""What goes wrong with a stream (:class:`StreamFaults`) and the fault specification parser."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import yaml

from collector.drivers.synthetic.base import NS_PER_MS, SyntheticError, _number
from collector.rig import Stream

# The value a corrupted numeric message carries in its first field (Event.corrupt).
BAD_VALUES = {"nan": math.nan, "inf": math.inf}


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
        jump_after_s, jump_ns: the header clock steps by ``jump_ns`` (ns, any sign;
            negative: back, as a simulation-time reset) for every capture from
            ``jump_after_s`` seconds after the start on (None: no jump).
        late_rate, late_ns: probability in [0, 1] that a message is published
            ``late_ns`` (ns, >= 0) after it is due, its stamp unchanged, so it arrives
            after newer messages of its stream.
        nan_rate, inf_rate: numeric roles (joints, IMU, wrench, tactile): probability
            in [0, 1] that a message carries NaN (or +inf) as its first value (the
            first joint's position, orientation x, force x, the first taxel).
        encoding, width, height: image roles: the camera really publishes this
            encoding / size instead of the rig's ("" and 0: the rig's), as a
            misconfigured driver does.
        bad_step_rate: image roles: probability in [0, 1] that a message's ``step``
            is one byte more than its rows, so its data is not ``step * height`` bytes.

    Raises:
        SyntheticError: on construction, naming the field and the bad value.
    """

    offset_ns: int = 0
    drift_ppm: float = 0.0
    jitter_ns: int = 0
    latency_ns: int = 0
    drop_rate: float = 0.0
    silent_after_s: float | None = None
    jump_after_s: float | None = None
    jump_ns: int = 0
    late_rate: float = 0.0
    late_ns: int = 0
    nan_rate: float = 0.0
    inf_rate: float = 0.0
    encoding: str = ""
    width: int = 0
    height: int = 0
    bad_step_rate: float = 0.0

    def __post_init__(self) -> None:
        for name in ("offset_ns", "jitter_ns", "latency_ns", "jump_ns", "late_ns", "width", "height"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                unit = "px" if name in ("width", "height") else "ns"
                raise SyntheticError(f"StreamFaults.{name}={value!r} is not an int ({unit})")
        for name in ("jitter_ns", "latency_ns", "late_ns", "width", "height"):
            if getattr(self, name) < 0:
                raise SyntheticError(f"StreamFaults.{name}={getattr(self, name)!r} is negative")
        _number(self.drift_ppm, "StreamFaults.drift_ppm")
        for name in ("drop_rate", "late_rate", "nan_rate", "inf_rate", "bad_step_rate"):
            if not 0.0 <= _number(getattr(self, name), f"StreamFaults.{name}") <= 1.0:
                raise SyntheticError(f"StreamFaults.{name}={getattr(self, name)!r} is not in [0, 1]")
        for name in ("silent_after_s", "jump_after_s"):
            value = getattr(self, name)
            if value is not None and _number(value, f"StreamFaults.{name}") < 0:
                raise SyntheticError(f"StreamFaults.{name}={value!r} is negative")
        if not isinstance(self.encoding, str):
            raise SyntheticError(f"StreamFaults.encoding={self.encoding!r} is not a string")

    @property
    def corrupts(self) -> bool:
        """True when some messages are corrupted (NaN, inf, a bad step)."""
        return bool(self.nan_rate or self.inf_rate or self.bad_step_rate)

    def corruption(self, uniform: float) -> str:
        """What a message with the uniform draw ``uniform`` carries: "", "nan", "inf" or "bad_step"."""
        for kind, rate in (("nan", self.nan_rate), ("inf", self.inf_rate), ("bad_step", self.bad_step_rate)):
            if uniform < rate:
                return kind
            uniform -= rate
        return ""

    def published(self, stream: Stream) -> Stream:
        """``stream`` as the faulty driver publishes it: its encoding and size replaced."""
        if not (self.encoding or self.width or self.height):
            return stream
        return replace(stream, encoding=self.encoding or stream.encoding, width=self.width or stream.width,
                       height=self.height or stream.height)

    def stamp_ns(self, true_ns: int, start_ns: int, noise: float = 0.0) -> int:
        """The header stamp (ns) for capture time ``true_ns``; ``noise`` is a standard normal draw."""
        drift = round((true_ns - start_ns) * self.drift_ppm * 1e-6)
        stamp = true_ns + self.offset_ns + drift + round(self.jitter_ns * noise)
        if self.jump_after_s is not None and true_ns - start_ns >= round(self.jump_after_s * 1e9):
            stamp += self.jump_ns
        return stamp


# Keys of a fault specification: edge unit -> (field, factor to the field's unit).
_FAULT_KEYS = {
    "offset_ms": ("offset_ns", NS_PER_MS),
    "drift_ppm": ("drift_ppm", None),
    "jitter_ms": ("jitter_ns", NS_PER_MS),
    "latency_ms": ("latency_ns", NS_PER_MS),
    "drop_rate": ("drop_rate", None),
    "silent_after_s": ("silent_after_s", None),
    "jump_after_s": ("jump_after_s", None),
    "jump_ms": ("jump_ns", NS_PER_MS),
    "late_rate": ("late_rate", None),
    "late_ms": ("late_ns", NS_PER_MS),
    "nan_rate": ("nan_rate", None),
    "inf_rate": ("inf_rate", None),
    "encoding": ("encoding", str),
    "width": ("width", int),
    "height": ("height", int),
    "bad_step_rate": ("bad_step_rate", None),
}
ALL_STREAMS = "*"


def parse_faults(
    spec: str | Mapping[str, Any] | None, stream_names: Iterable[str] | None = None
) -> dict[str, StreamFaults]:
    """Parse a fault specification, milliseconds at the edge, nanoseconds inside.

    ``spec`` is YAML/JSON text or a mapping like
    ``{head_rgb: {offset_ms: 35, drift_ppm: 200, jitter_ms: 3, drop_rate: 0.01}}``;
    keys per stream: ``offset_ms``, ``drift_ppm``, ``jitter_ms``, ``latency_ms``,
    ``drop_rate``, ``silent_after_s``, ``jump_after_s`` + ``jump_ms``, ``late_rate`` +
    ``late_ms``, ``nan_rate``, ``inf_rate``, and for images ``encoding``, ``width``,
    ``height``, ``bad_step_rate`` (see :class:`StreamFaults`). The stream name ``"*"`` gives defaults for every
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
        if factor is str:
            if not isinstance(value, str):
                raise SyntheticError(f"faults.{name}.{key}: expected a string, got {value!r}")
            fields[field] = value
            continue
        value = _number(value, f"faults.{name}.{key}")
        if factor is int and value != int(value):
            raise SyntheticError(f"faults.{name}.{key}: expected an integer, got {value!r}")
        fields[field] = int(value) if factor is int else (round(value * factor) if factor else value)
    return fields


def image_step_offset(frame_id: str, encoding: str) -> int:
    """Byte offset of ``step`` in a serialised ``sensor_msgs/msg/Image`` (little-endian CDR).

    After the 4-byte encapsulation: stamp (8), frame_id (4 + bytes + NUL), height and
    width (4 each, aligned to 4), encoding (4 + bytes + NUL), is_bigendian (1), then
    ``step`` aligned to 4 (alignment counts from the end of the encapsulation).
    """
    def align4(pos: int) -> int:
        return pos + (-(pos - 4) % 4)

    pos = 4 + 8 + 4 + len(frame_id.encode("utf-8")) + 1
    pos = align4(pos) + 8
    pos += 4 + len(encoding.encode("utf-8")) + 1 + 1
    return align4(pos)
