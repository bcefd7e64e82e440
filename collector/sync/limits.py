"""The rig's limits (``sync:`` block): gaps, clock skew (of an unsynchronised header clock), bad content and
invalid frames of required streams.

Each check returns :class:`~collector.sync.errors.SyncViolation` records and the
frames it marks invalid; :func:`~collector.sync.align.synchronize` refuses the
episode on the first violation unless told to keep it.
"""

from __future__ import annotations

import numpy as np

from collector.rig import SyncLimits
from collector.sync.clock import ClockFit
from collector.sync.config import NS_PER_MS
from collector.sync.errors import SyncViolation
from collector.sync.policies import Policy


def _at(time_ns: int, origin_ns: int) -> str:
    return f"t={(time_ns - origin_ns) / 1e9:.3f} s"


def check_gaps(name: str, times_ns: np.ndarray, grid_ns: np.ndarray, limits: SyncLimits,
               origin_ns: int) -> tuple[list[SyncViolation], np.ndarray]:
    """Holes longer than ``max_gap_ms`` between consecutive samples inside the grid span.

    Returns the violations and a (K,) mask of frames strictly inside such holes.
    """
    marked = np.zeros(len(grid_ns), dtype=bool)
    if len(grid_ns) == 0 or len(times_ns) < 1:
        return [], marked
    times = np.sort(times_ns)
    limit = limits.max_gap_ms * NS_PER_MS
    gaps = np.diff(times)
    hot = np.flatnonzero((gaps > limit) & (times[1:] > grid_ns[0]) & (times[:-1] < grid_ns[-1]))
    violations = []
    for i in hot:
        begin, end = int(times[i]), int(times[i + 1])
        inside = (grid_ns > begin) & (grid_ns < end)
        marked |= inside
        violations.append(SyncViolation(
            stream=name, kind="gap", time_ns=begin, frames=int(inside.sum()),
            reason=f"gap of {(end - begin) / 1e9:.3f} s from {_at(begin, origin_ns)} exceeds "
                   f"sync.max_gap_ms={limits.max_gap_ms:g}"))
    return violations, marked


def check_skew(name: str, fit: ClockFit, grid_ns: np.ndarray, limits: SyncLimits,
               origin_ns: int) -> tuple[list[SyncViolation], np.ndarray]:
    """Frames where the offset of a declared ``header`` clock that had to be fitted exceeds
    ``max_skew_ms``; with ``sync.on_unsynchronised: refuse``, every frame of such a stream.

    A declared ``device`` clock may sit at any offset: it is not checked.
    """
    marked = np.zeros(len(grid_ns), dtype=bool)
    if fit.declared != "header" or fit.evidence is None or len(grid_ns) == 0:
        return [], marked
    if limits.on_unsynchronised == "refuse":
        marked[:] = True
        return [SyncViolation(
            stream=name, kind="clock", time_ns=int(grid_ns[0]), frames=len(grid_ns),
            reason=f"declared clock: header, but its stamps are not on the recording host's clock: {fit.evidence} "
                   f"(sync.on_unsynchronised=refuse; declare clock: device to fit it)")], marked
    if fit.clock != "device":
        return [], marked
    limit = limits.max_skew_ms * NS_PER_MS
    offsets = np.zeros(len(grid_ns))
    bounds = [seg.start_ns for seg in fit.segments[1:]]
    which = np.searchsorted(np.asarray(bounds, dtype=np.int64), grid_ns, side="right")
    for k, seg in enumerate(fit.segments):
        here = which == k
        offsets[here] = seg.offset_at(grid_ns[here])
    marked = np.abs(offsets) > limit
    if not marked.any():
        return [], marked
    first = int(np.flatnonzero(marked)[0])
    worst = float(offsets[np.argmax(np.abs(offsets))])
    segment = int(which[first])
    cause = ""
    if segment > 0 and segment - 1 < len(fit.jumps):  # the offset is that of a segment after a jump
        jump = fit.jumps[segment - 1]
        cause = f", after the clock jumped by {jump.step_ns / 1e6:+.3f} ms at {_at(jump.time_ns, origin_ns)}"
    return [SyncViolation(
        stream=name, kind="skew", time_ns=int(grid_ns[first]), frames=int(marked.sum()),
        reason=f"clock offset {worst / 1e6:+.3f} ms to the receive clock exceeds "
               f"sync.max_skew_ms={limits.max_skew_ms:g} (from {_at(int(grid_ns[first]), origin_ns)}{cause})")], marked


def check_invalid(name: str, valid: np.ndarray, grid_ns: np.ndarray, limits: SyncLimits, limit_ns: int,
                  policy: str, origin_ns: int, policy_valid: np.ndarray | None = None) -> list[SyncViolation]:
    """Too large a share of frames without a valid sample.

    ``policy_valid`` (the policy's own verdict, before the other checks marked frames)
    lets the reason say how many frames those checks marked.
    """
    frames = len(valid)
    invalid = frames - int(valid.sum())
    if frames == 0 or invalid <= limits.max_invalid_fraction * frames:
        return []
    first = int(np.flatnonzero(~valid)[0])
    marked = int((policy_valid & ~valid).sum()) if policy_valid is not None else 0
    why = f", {marked} of them marked for a gap, clock skew or bad content" if marked else ""
    return [SyncViolation(
        stream=name, kind="invalid", time_ns=int(grid_ns[first]), frames=invalid,
        reason=f"{invalid} of {frames} frames ({100 * invalid / frames:.1f}%) have no sample within the "
               f"{policy} limit of {limit_ns / 1e6:g} ms (first at {_at(int(grid_ns[first]), origin_ns)}{why}); "
               f"sync.max_invalid_fraction={limits.max_invalid_fraction:g}")]


def check_content(name: str, times_ns: np.ndarray, used: np.ndarray, bad: np.ndarray, problems: dict[int, str],
                  policy: Policy, limit_ns: int, grid_ns: np.ndarray,
                  origin_ns: int) -> tuple[list[SyncViolation], np.ndarray]:
    """Messages with bad content (``bad``; ``problems`` says why): the frames that would have used one.

    ``times_ns`` are every message's estimated times; the stream is aligned once more
    with the bad messages in place, and a frame whose sample (or either interpolated
    sample) would be a bad message is marked. One violation names the first bad
    message, what is wrong with it and how many there are.
    """
    marked = np.zeros(len(grid_ns), dtype=bool)
    if not bad.any():
        return [], marked
    candidates = np.flatnonzero(used | bad)
    if len(grid_ns):
        alignment = policy.align(times_ns[candidates], grid_ns, limit_ns)
        is_bad = bad[candidates]
        for index, needed in ((alignment.i0, alignment.weight < 1), (alignment.i1, alignment.weight > 0)):
            ok = index >= 0
            marked[ok] |= is_bad[index[ok]] & needed[ok]
    positions = np.flatnonzero(bad)
    first = int(positions[np.argmin(times_ns[positions])])
    count = len(positions)
    total = int((used | bad).sum())
    return [SyncViolation(
        stream=name, kind="content", time_ns=int(times_ns[first]), frames=int(marked.sum()),
        reason=f"message {first}: {problems.get(first, 'bad content')} ({count} of {total} messages unusable)")], marked
