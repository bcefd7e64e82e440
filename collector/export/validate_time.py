"""Honest time and honest NaN in an export's frames: the rules and their checks.

The rules come from the rig (:func:`time_rules`): which stream each feature is read
from, which streams ``time.valid`` vouches for, and each one's alignment limit.

**Time limit.** Sync marks a frame of a stream valid only when the sample it used is
within the stream's policy limit, ``|source - frame| <= limit`` (``nearest``: the
stream's ``tolerance_ms``, default half its nominal period; ``hold``: the largest
age), as :func:`collector.sync.config.stream_config` resolves it from the rig;
``linear``/``slerp`` use the frame time itself, so their limit here is 0. ``time.valid``
is true only where every required stream and the streams of ``observation.state``
and ``action`` are valid. So on a row where ``time.valid`` is true, each of those
streams must have ``|time.<stream>.error_ms| <= limit + SLACK_MS`` (the column is
float32; a NaN error there is reported by the NaN rule below, as no sample). An
optional stream with a validity column ``time.<stream>.valid`` is held to its own limit
on the rows where that column is true.

The rig is the shipped profile of the episode's rig name (:func:`collector.rig.load_rig`);
the profile stored in the raw episode may differ from it, the validator does not see
raw episodes; a stream with a validity column in the dataset is optional whatever
that profile says. When no rig loads, the rule falls back to: every camera and depth
stream (``observation.images.<s>``, ``observation.depth.<s>``) is vouched for, with
a limit of half the dataset's frame period (sync's default for a camera at the
dataset rate); one with a validity column is held to that limit where its column is true.

**NaN.** ``inf`` is never allowed in a numeric feature, NaN never in
``observation.state`` or ``action``. Elsewhere a NaN on a row is explained when

a. ``time.valid`` is false on that row, or
b. a stream the feature is read from had no sample there (``time.<s>.source_s`` NaN), or
c. a stream the feature is read from is one ``time.valid`` does not vouch for
   (an optional stream) and the dataset has no validity column for it (whether its
   frame was valid is not recorded).

A feature read from one optional stream with a validity column ``time.<stream>.valid``
is judged by that column alone: NaN is explained exactly where it is false.

Any other NaN is reported. A feature's streams come from the rig's feature plan,
else from its key (``observation.images|depth|wrench|tactile.<s>``, ``time.<s>.*``);
a feature whose stream is unknown is explained by (a) only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from collector.errors import CollectorError
from collector.export.features import validity_key

SLACK_MS = 1e-3  # float32 error_ms: absorbs its rounding (1 us)
INTERPOLATING = ("linear", "slerp")  # policies whose valid frames have error 0
STATE_ACTION = ("observation.state", "action")
_STREAM_KEY = re.compile(r"^(?:observation\.(?:images|depth|wrench|tactile)\.([^.]+)"
                         r"|time\.(.+)\.(?:source_s|error_ms))$")

# locate(row) -> (where, "episode e frame f"): names the file and frame of a data row
Locate = Callable[[int], tuple[str, str]]


@dataclass(frozen=True, kw_only=True)
class TimeRules:
    """How one rig's frames are judged (see the module doc).

    Attributes:
        source: where the limits come from (``rig baoan_humanoid``, or the fallback and why).
        limits_ms: stream -> largest allowed ``|error_ms|`` where ``time.valid`` is true,
            for every stream ``time.valid`` vouches for.
        feature_streams: feature key -> the streams it is read from (absent: unknown).
        optional_limits_ms: stream -> largest allowed ``|error_ms|`` where its own
            validity column is true, for the optional streams that have one.
    """

    source: str
    limits_ms: dict[str, float]
    feature_streams: dict[str, tuple[str, ...]]
    optional_limits_ms: dict[str, float] = field(default_factory=dict)


def _streams_by_key(features: Mapping[str, dict]) -> dict[str, tuple[str, ...]]:
    out = {}
    for key in features:
        match = _STREAM_KEY.match(key)
        if match:
            out[key] = (match.group(1) or match.group(2),)
    return out


def _fallback(features: Mapping[str, dict], fps: float, why: str) -> TimeRules:
    by_key = _streams_by_key(features)
    cameras = {by_key[k][0] for k in by_key if k.startswith(("observation.images.", "observation.depth."))}
    limit = 500.0 / fps
    timed = [s for s in sorted(cameras) if f"time.{s}.error_ms" in features]
    return TimeRules(source=f"half frame period ({limit:.3f} ms) for cameras and depth: {why}",
                     limits_ms={s: limit for s in timed if validity_key(s) not in features}, feature_streams=by_key,
                     optional_limits_ms={s: limit for s in timed if validity_key(s) in features})


def time_rules(features: Mapping[str, dict], fps: float, rig_name: str | None) -> TimeRules:
    """The rules for frames of rig ``rig_name`` in a dataset with ``features`` (info.json)
    at ``fps``; the fallback (module doc) when the rig is unknown or does not load."""
    if not rig_name:
        return _fallback(features, fps, "the dataset names no rig")
    from collector.export.features import feature_plan
    from collector.rig import load_rig
    from collector.sync.config import stream_config

    try:
        rig = load_rig(rig_name)
        plan = feature_plan(rig)
    except CollectorError as err:
        return _fallback(features, fps, f"rig {rig_name!r} does not load ({err})")
    # a validity column marks the stream optional in this dataset, whatever the shipped profile says now
    vouched = {s.name for s in rig.streams if s.required and validity_key(s.name) not in features}
    vouched |= {s for f in plan.of_kind("state", "action") for s in f.streams}
    limits, optional = {}, {}
    for stream in rig.streams:
        if f"time.{stream.name}.error_ms" not in features:
            continue
        config = stream_config(stream)
        limit = 0.0 if config.policy in INTERPOLATING else config.limit_ns / 1e6
        if stream.name in vouched:
            limits[stream.name] = limit
        elif validity_key(stream.name) in features:
            optional[stream.name] = limit
    streams = _streams_by_key(features)
    streams.update({f.key: f.streams for f in plan if f.key in features})
    return TimeRules(source=f"rig {rig_name}", limits_ms=limits, feature_streams=streams, optional_limits_ms=optional)


def _message(rows: np.ndarray, locate: Locate, text: str) -> tuple[str, str]:
    where, label = locate(int(rows[0]))
    return where, f"{text} on {len(rows)} row(s) (first at {label})"


def check_time_limits(rules: TimeRules, columns: Mapping[str, np.ndarray], valid: np.ndarray,
                      rows: np.ndarray, locate: Locate) -> list[tuple[str, str]]:
    """``(where, message)`` per stream whose error breaks its limit on ``rows`` (indices
    into the columns) where ``valid`` (``time.valid``) is true, or for an optional stream
    where its own validity column is true."""
    gates = [(stream, limit, valid, "time.valid") for stream, limit in rules.limits_ms.items()]
    gates += [(stream, limit, columns[validity_key(stream)].reshape(-1) == 1, validity_key(stream))
              for stream, limit in rules.optional_limits_ms.items() if validity_key(stream) in columns]
    found = []
    for stream, limit, gate, gate_key in gates:
        key = f"time.{stream}.error_ms"
        if key not in columns:
            continue
        error = np.abs(columns[key][rows].reshape(len(rows)))
        bad = gate[rows] & (error > limit + SLACK_MS)  # NaN: the NaN rule's business
        if bad.any():
            found.append(_message(rows[bad], locate, f"{key}: |error| up to {error[bad].max():.3f} ms where "
                                                     f"{gate_key} is true, limit {limit:.3f} ms ({rules.source})"))
    return found


def check_nan(rules: TimeRules, columns: Mapping[str, np.ndarray], valid: np.ndarray,
              rows: np.ndarray, locate: Locate) -> list[tuple[str, str]]:
    """``(where, message)`` per feature holding inf, or NaN the module doc does not explain."""
    found = []
    for key, values in columns.items():
        flat = values[rows].reshape(len(rows), -1)
        infinite = np.isinf(flat).any(axis=1)
        if infinite.any():
            found.append(_message(rows[infinite], locate, f"{key}: inf"))
        nan = np.isnan(flat).any(axis=1)
        if not nan.any():
            continue
        if key in STATE_ACTION:
            found.append(_message(rows[nan], locate, f"{key}: NaN"))
            continue
        streams = rules.feature_streams.get(key, ())
        gate = columns.get(validity_key(streams[0])) if len(streams) == 1 and streams[0] not in rules.limits_ms \
            else None
        if gate is not None:  # (c) with the stream's own validity column: it alone explains
            bad = nan & (gate[rows].reshape(len(rows)) == 1)
            if bad.any():
                found.append(_message(rows[bad], locate, f"{key}: NaN where {validity_key(streams[0])} is true"))
            continue
        explained = ~valid[rows]
        for stream in streams:
            if stream not in rules.limits_ms:  # (c) without a validity column: not recorded
                explained = np.ones(len(rows), dtype=bool)
                break
            source = columns.get(f"time.{stream}.source_s")
            if source is not None:
                explained |= np.isnan(source[rows].reshape(len(rows)))
        bad = nan & ~explained
        if bad.any():
            found.append(_message(rows[bad], locate,
                                  f"{key}: NaN where time.valid is true and stream(s) "
                                  f"{', '.join(streams) or '(unknown)'} had a sample"))
    return found
