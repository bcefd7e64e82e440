"""What goes wrong with a stream (:class:`StreamFaults`) and the fault specification parser."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import yaml

from collector.drivers.synthetic.base import NS_PER_MS, SyntheticError, _number


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
