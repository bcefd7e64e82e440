"""Resampling policies: how a stream's samples become one value per grid frame.

A policy takes the estimated source times of a stream's usable samples (int64 ns,
reference clock) and the grid times, and returns an :class:`Alignment`: per frame
which samples are used and with what weight, the source time used, the alignment
error and whether the frame is valid. It never uses a sample beyond its limit:

``nearest``  the sample nearest the frame; invalid if ``|error| > limit``
             (default half a nominal period). Images: never from outside tolerance.
``linear``   interpolate between the samples bracketing the frame; invalid when
             they are more than ``limit`` apart (default 3 nominal periods).
``slerp``    like ``linear``, but unit quaternions (``orientation``) are
             spherically interpolated.
``hold``     the last sample at or before the frame; invalid when older than
             ``limit`` (default 3 nominal periods; commands 0.5 s).

For ``linear``/``slerp`` the source time of a valid frame is the frame time
itself (alignment error 0); ``bracket_gap_ns`` records how far apart the two
samples were (0 for an exact hit), so exports can show the interpolation span.
Invalid frames carry the nearest candidate sample (index, time, error) for
diagnosis, or index -1 and :data:`NO_TIME` when the stream has no sample at all.

Register a new policy by adding it to :data:`POLICIES` (and its name to
``collector.rig.SYNC_POLICIES`` so profiles may select it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

NO_TIME = np.iinfo(np.int64).min
QUATERNION_KEYS = ("orientation",)
COMMAND_MAX_AGE_NS = 500_000_000


@dataclass(frozen=True, kw_only=True, eq=False)
class Alignment:
    """Per grid frame (arrays of length K): the samples a policy used.

    ``i0``/``i1`` index the times given to :meth:`Policy.align` (-1: none);
    the value is ``(1 - weight) * v[i0] + weight * v[i1]``. Times are int64 ns.
    """

    valid: np.ndarray
    i0: np.ndarray
    i1: np.ndarray
    weight: np.ndarray
    source_time_ns: np.ndarray
    error_ns: np.ndarray
    bracket_gap_ns: np.ndarray


def _empty(grid_ns: np.ndarray) -> Alignment:
    k = len(grid_ns)
    return Alignment(valid=np.zeros(k, bool), i0=np.full(k, -1, np.int64), i1=np.full(k, -1, np.int64),
                     weight=np.zeros(k), source_time_ns=np.full(k, NO_TIME, np.int64),
                     error_ns=np.zeros(k, np.int64), bracket_gap_ns=np.zeros(k, np.int64))


def _sorted(times_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    times_ns = np.asarray(times_ns, dtype=np.int64)
    order = np.argsort(times_ns, kind="stable")
    return times_ns[order], order


def _nearest_index(times: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Index (into sorted ``times``) of the sample nearest each grid time; ties: earlier."""
    hi = np.searchsorted(times, grid, side="left")
    lo = np.clip(hi - 1, 0, len(times) - 1)
    hi = np.clip(hi, 0, len(times) - 1)
    return np.where(times[hi] - grid < grid - times[lo], hi, lo)


class Policy:
    """Base: subclasses implement :meth:`align`; :meth:`resample` gathers or interpolates."""

    name = ""

    def default_limit_ns(self, *, role: str, period_ns: int) -> int:
        """The limit (ns) used when the rig gives none."""
        raise NotImplementedError

    def align(self, times_ns: np.ndarray, grid_ns: np.ndarray, limit_ns: int) -> Alignment:
        """Align samples at ``times_ns`` (int ns, any order) to ``grid_ns`` (sorted int ns)."""
        raise NotImplementedError

    def resample(self, values: Mapping[str, np.ndarray], alignment: Alignment) -> dict[str, np.ndarray]:
        """Per key, ``(K, ...)`` values at the grid; NaN where the frame is invalid.

        ``values`` are per-sample arrays (first axis = samples, same order as the
        times given to :meth:`align`).
        """
        return {key: _blend(np.asarray(v), alignment) for key, v in values.items()}


def _blend(values: np.ndarray, a: Alignment) -> np.ndarray:
    dtype = np.promote_types(values.dtype, np.float32)
    out = np.full((len(a.valid),) + values.shape[1:], np.nan, dtype=dtype)
    if not a.valid.any():
        return out
    ok = a.valid
    v0 = values[a.i0[ok]].astype(dtype, copy=False)
    v1 = values[a.i1[ok]].astype(dtype, copy=False)
    w = a.weight[ok].reshape((-1,) + (1,) * (values.ndim - 1)).astype(dtype)
    out[ok] = np.where(w == 0, v0, v0 + w * (v1 - v0))
    return out


class Nearest(Policy):
    """The sample nearest each frame, within ``limit_ns`` (tolerance)."""

    name = "nearest"

    def default_limit_ns(self, *, role: str, period_ns: int) -> int:
        return period_ns // 2

    def align(self, times_ns, grid_ns, limit_ns):
        grid_ns = np.asarray(grid_ns, dtype=np.int64)
        times, order = _sorted(times_ns)
        if len(times) == 0:
            return _empty(grid_ns)
        pick = _nearest_index(times, grid_ns)
        source = times[pick]
        error = source - grid_ns
        index = order[pick]
        return Alignment(valid=np.abs(error) <= limit_ns, i0=index, i1=index.copy(), weight=np.zeros(len(grid_ns)),
                         source_time_ns=source, error_ns=error, bracket_gap_ns=np.zeros(len(grid_ns), np.int64))


class Linear(Policy):
    """Linear interpolation between bracketing samples at most ``limit_ns`` apart."""

    name = "linear"

    def default_limit_ns(self, *, role: str, period_ns: int) -> int:
        return 3 * period_ns

    def align(self, times_ns, grid_ns, limit_ns):
        grid_ns = np.asarray(grid_ns, dtype=np.int64)
        times, order = _sorted(times_ns)
        n = len(times)
        if n == 0:
            return _empty(grid_ns)
        after = np.searchsorted(times, grid_ns, side="right")  # first sample strictly after the frame
        lo = np.clip(after - 1, 0, n - 1)
        hi = np.clip(after, 0, n - 1)
        has_lo, has_hi = after >= 1, after < n
        exact = has_lo & (times[lo] == grid_ns)
        gap = np.where(has_lo & has_hi, times[hi] - times[lo], 0)
        inside = has_lo & has_hi & ~exact & (gap <= limit_ns)
        valid = exact | inside
        span = np.where(inside, gap, 1).astype(np.float64)
        weight = np.where(inside, (grid_ns - times[lo]) / span, 0.0)
        nearest = _nearest_index(times, grid_ns)
        source = np.where(valid, grid_ns, times[nearest])
        i0 = np.where(valid, order[lo], order[nearest])
        i1 = np.where(inside, order[hi], i0)
        return Alignment(valid=valid, i0=i0, i1=i1, weight=weight, source_time_ns=source,
                         error_ns=source - grid_ns, bracket_gap_ns=np.where(exact, 0, gap).astype(np.int64))


class Slerp(Linear):
    """:class:`Linear`, with unit quaternions (x, y, z, w) spherically interpolated."""

    name = "slerp"

    def resample(self, values, alignment):
        out = {}
        for key, v in values.items():
            out[key] = _slerp(np.asarray(v), alignment) if key in QUATERNION_KEYS else _blend(np.asarray(v), alignment)
        return out


def slerp(q0: np.ndarray, q1: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Spherical interpolation of unit quaternions ``(M, 4)`` at ``weight`` ``(M,)``, shortest path."""
    q0 = np.asarray(q0, dtype=np.float64)
    q1 = np.asarray(q1, dtype=np.float64)
    w = np.asarray(weight, dtype=np.float64)[:, None]
    dot = np.sum(q0 * q1, axis=1, keepdims=True)
    q1 = np.where(dot < 0, -q1, q1)
    dot = np.abs(dot)
    theta = np.arccos(np.clip(dot, -1.0, 1.0))
    sin = np.sin(theta)
    small = sin < 1e-9
    safe = np.where(small, 1.0, sin)
    a = np.where(small, 1.0 - w, np.sin((1.0 - w) * theta) / safe)
    b = np.where(small, w, np.sin(w * theta) / safe)
    out = a * q0 + b * q1
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def _slerp(values: np.ndarray, a: Alignment) -> np.ndarray:
    out = np.full((len(a.valid), 4), np.nan)
    ok = a.valid
    if ok.any():
        out[ok] = slerp(values[a.i0[ok]], values[a.i1[ok]], a.weight[ok])
    return out


class Hold(Policy):
    """The last sample at or before each frame, at most ``limit_ns`` old."""

    name = "hold"

    def default_limit_ns(self, *, role: str, period_ns: int) -> int:
        # a stale command is still the command: commands may be held much longer
        return max(3 * period_ns, COMMAND_MAX_AGE_NS) if role == "action" else 3 * period_ns

    def align(self, times_ns, grid_ns, limit_ns):
        grid_ns = np.asarray(grid_ns, dtype=np.int64)
        times, order = _sorted(times_ns)
        n, k = len(times), len(grid_ns)
        if n == 0:
            return _empty(grid_ns)
        last = np.searchsorted(times, grid_ns, side="right") - 1
        pick = np.clip(last, 0, n - 1)  # before the first sample: show the first (invalid)
        source = times[pick]
        error = source - grid_ns
        valid = (last >= 0) & (-error <= limit_ns)
        index = order[pick]
        return Alignment(valid=valid, i0=index, i1=index.copy(), weight=np.zeros(k), source_time_ns=source,
                         error_ns=error, bracket_gap_ns=np.zeros(k, np.int64))


POLICIES: dict[str, Policy] = {policy.name: policy for policy in (Nearest(), Linear(), Slerp(), Hold())}

# Default policy per role (the first of collector.rig.ROLE_SYNC_POLICIES).
ROLE_POLICIES: dict[str, str] = {
    "camera": "nearest",
    "depth": "nearest",
    "joint_state": "linear",
    "hand": "linear",
    "wrench": "linear",
    "tactile": "linear",
    "imu": "slerp",
    "gripper": "hold",
    "action": "hold",
}


def get_policy(name: str) -> Policy:
    """The registered policy called ``name``; raises KeyError listing the known ones."""
    try:
        return POLICIES[name]
    except KeyError:
        raise KeyError(f"unknown sync policy {name!r} (known: {', '.join(POLICIES)})") from None
