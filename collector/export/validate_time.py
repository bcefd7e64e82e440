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
float32; a NaN error there is reported by the NaN rule below, as no sample).

The rig is the shipped profile of the episode's rig name (:func:`collector.rig.load_rig`);
the profile stored in the raw episode may differ from it, the validator does not see
raw episodes. When no rig loads, the rule falls back to: every camera and depth
stream (``observation.images.<s>``, ``observation.depth.<s>``) is vouched for, with
a limit of half the dataset's frame period (sync's default for a camera at the
dataset rate).

**NaN.** ``inf`` is never allowed in a numeric feature, NaN never in
``observation.state`` or ``action``. Elsewhere a NaN on a row is explained when

a. ``time.valid`` is false on that row, or
b. a stream the feature is read from had no sample there (``time.<s>.source_s`` NaN), or
c. a stream the feature is read from is one ``time.valid`` does not vouch for
   (an optional stream: whether its frame was valid is not recorded).

Any other NaN is reported. A feature's streams come from the rig's feature plan,
else from its key (``observation.images|depth|wrench|tactile.<s>``, ``time.<s>.*``);
a feature whose stream is unknown is explained by (a) only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from collector.errors import CollectorError

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
    """

    source: str
    limits_ms: dict[str, float]
    feature_streams: dict[str, tuple[str, ...]]


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
    limits = {s: limit for s in sorted(cameras) if f"time.{s}.error_ms" in features}
    return TimeRules(source=f"half frame period ({limit:.3f} ms) for cameras and depth: {why}",
                     limits_ms=limits, feature_streams=by_key)


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
    vouched = {s.name for s in rig.streams if s.required}
    vouched |= {s for f in plan.of_kind("state", "action") for s in f.streams}
    limits = {}
    for stream in rig.streams:
        if stream.name in vouched and f"time.{stream.name}.error_ms" in features:
            config = stream_config(stream)
            limits[stream.name] = 0.0 if config.policy in INTERPOLATING else config.limit_ns / 1e6
    streams = _streams_by_key(features)
    streams.update({f.key: f.streams for f in plan if f.key in features})
    return TimeRules(source=f"rig {rig_name}", limits_ms=limits, feature_streams=streams)


def _message(rows: np.ndarray, locate: Locate, text: str) -> tuple[str, str]:
    where, label = locate(int(rows[0]))
    return where, f"{text} on {len(rows)} row(s) (first at {label})"


def check_time_limits(rules: TimeRules, columns: Mapping[str, np.ndarray], valid: np.ndarray,
                      rows: np.ndarray, locate: Locate) -> list[tuple[str, str]]:
    """``(where, message)`` per vouched stream whose error breaks its limit on ``rows``
    (indices into the columns) where ``valid`` (``time.valid``) is true."""
    found = []
    for stream, limit in rules.limits_ms.items():
        key = f"time.{stream}.error_ms"
        if key not in columns:
            continue
        error = np.abs(columns[key][rows].reshape(len(rows)))
        bad = valid[rows] & (error > limit + SLACK_MS)  # NaN: the NaN rule's business
        if bad.any():
            found.append(_message(rows[bad], locate, f"{key}: |error| up to {error[bad].max():.3f} ms where "
                                                     f"time.valid is true, limit {limit:.3f} ms ({rules.source})"))
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
        explained = ~valid[rows]
        streams = rules.feature_streams.get(key, ())
        for stream in streams:
            if stream not in rules.limits_ms:
                explained = np.ones(len(rows), dtype=bool)  # (c): an optional stream
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
