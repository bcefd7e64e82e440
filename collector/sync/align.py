"""``synchronize``: an episode (or in-memory timelines) onto one fixed-fps grid.

Steps: timelines (header stamp and receive time per message) -> messages with
bad content and stale latched messages set aside, clocks fitted, capture times
estimated -> the span where every required stream has data -> grid
``t0 + round(k * 1e9 / fps)`` -> each stream aligned by its policy -> the rig's
limits checked (gaps, skew, bad content, invalid frames): refuse, or with
``keep=True`` mark the offending frames invalid and record the violation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np

from collector.rig import Rig, SyncLimits
from collector.sync.config import NS_PER_MS, StreamSyncConfig, stream_config
from collector.sync.content import bad_mask, value_problems
from collector.sync.errors import SyncError, SyncViolation, SyncWarning
from collector.sync.estimate import StreamEstimate, estimate_stream, find_stale
from collector.sync.grid import common_span, frame_times
from collector.sync.limits import check_content, check_gaps, check_invalid, check_skew
from collector.sync.policies import POLICIES, Alignment
from collector.sync.result import StreamAlignment, StreamSummary, SyncResult
from collector.sync.timeline import StreamTimeline

TRIM_WARNING_NS = 1_000_000_000  # trimming more than this at either end is worth a warning


def _timelines(source, rig: Rig | None, streams) -> tuple[dict[str, StreamTimeline], Rig, str]:
    if isinstance(source, (str, Path)):
        from collector.sync.timeline import episode_rig, read_timelines

        rig = rig if rig is not None else episode_rig(source)
        return read_timelines(source, rig, streams=streams), rig, str(source)
    if rig is None:
        raise ValueError("synchronize: in-memory timelines need the rig (rig=...)")
    items = source.values() if isinstance(source, Mapping) else source
    timelines = {t.name: t for t in items}
    if streams is not None:
        timelines = {name: timelines[name] for name in streams}
    return timelines, rig, ""


def _configs(timelines: Mapping[str, StreamTimeline], rig: Rig) -> dict[str, StreamSyncConfig]:
    configs = {}
    for name, timeline in timelines.items():
        stream = rig.stream(name)
        if timeline.role != stream.role:
            raise ValueError(f"{name}: timeline role {timeline.role!r} differs from the rig's {stream.role!r}")
        configs[name] = stream_config(stream)
    order = [s.name for s in rig.streams if s.name in configs]  # rig order
    return {name: configs[name] for name in order}


def _seconds(time_ns: int, origin_ns: int) -> float:
    return (time_ns - origin_ns) / 1e9


def _problems(timeline: StreamTimeline) -> dict[int, str]:
    """What is wrong inside the stream's messages: the timeline's (images) and non-finite values."""
    found = value_problems(timeline.role, timeline.values, timeline.names)
    return {**found, **timeline.problems} if timeline.problems else found


def _span(configs, estimates, problems, origin_ns: int) -> tuple[int, int]:
    """Where every required stream (every stream, if none is required) has usable data."""
    wanted = [name for name, c in configs.items() if c.required] or list(configs)
    spans = {}
    for name in wanted:
        estimate = estimates[name]
        times = estimate.times_ns[estimate.used]
        if len(times) == 0:
            if problems[name]:
                first = min(problems[name])
                raise SyncError(name, _seconds(int(estimate.times_ns[first]), origin_ns),
                                f"required stream has no usable messages: {len(problems[name])} of "
                                f"{len(estimate.times_ns)} have bad content, message {first}: {problems[name][first]}")
            raise SyncError(name, None, "required stream has no usable messages")
        spans[name] = (int(times.min()), int(times.max()))
    start, end, starts_last, ends_first = common_span(spans)
    if end < start:
        raise SyncError(ends_first, _seconds(end, origin_ns),
                        f"ends before {starts_last} starts (at t={_seconds(start, origin_ns):.3f} s): "
                        "no span where every required stream has data")
    return start, end


def _to_messages(alignment: Alignment, positions: np.ndarray, message_index: np.ndarray) -> tuple[np.ndarray, ...]:
    """Policy indices (into the used samples) -> message indices (-1 stays -1)."""
    def convert(index):
        out = np.full(len(index), -1, dtype=np.int64)
        ok = index >= 0
        out[ok] = message_index[positions[index[ok]]]
        return out

    return convert(alignment.i0), convert(alignment.i1)


def _summary(timeline: StreamTimeline, config: StreamSyncConfig, estimate: StreamEstimate, valid: np.ndarray,
             policy_valid: np.ndarray, alignment: Alignment) -> StreamSummary:
    times = np.sort(estimate.times_ns[estimate.used])
    gaps = np.diff(times)
    long = gaps[gaps > 2.5 * config.period_ns]
    fit = estimate.fit
    if fit.regular:
        missing = fit.missing
    else:
        missing = int(np.maximum(np.rint(long / config.period_ns) - 1, 0).sum())
    errors = np.abs(alignment.error_ns[valid]).astype(np.float64)
    has_sample = alignment.i0 >= 0
    return StreamSummary(
        messages=len(timeline), used=int(estimate.used.sum()), stale=estimate.stale,
        zero_stamps=estimate.zero_stamps, offset_ns=fit.offset_ns, drift_ppm=fit.drift_ppm,
        jitter_ns=fit.jitter_ns, clock_jumps=len(fit.jumps), gaps=len(long),
        largest_gap_ns=int(gaps.max()) if len(gaps) else 0, missing=missing, frames=len(valid),
        valid_frames=int(valid.sum()), outside_limit=int((has_sample & ~policy_valid).sum()),
        error_median_ns=float(np.median(errors)) if len(errors) else 0.0,
        error_p99_ns=float(np.percentile(errors, 99)) if len(errors) else 0.0,
        error_max_ns=float(errors.max()) if len(errors) else 0.0,
        bracket_gap_max_ns=int(alignment.bracket_gap_ns[valid].max()) if valid.any() else 0,
        bad_messages=int(estimate.bad.sum()) if estimate.bad is not None else 0, reordered=estimate.reordered,
        clock=fit.clock, declared=fit.declared, latency=fit.latency, drift_sigma_ppm=fit.drift_sigma_ppm,
    )


def _align_stream(timeline: StreamTimeline, config: StreamSyncConfig, estimate: StreamEstimate, grid: np.ndarray,
                  limits: SyncLimits, origin_ns: int,
                  problems: dict[int, str]) -> tuple[StreamAlignment, list[SyncViolation]]:
    """One stream onto the grid by its policy, with the frames that break the rig's limits marked."""
    name = config.name
    policy = POLICIES[config.policy]
    positions = np.flatnonzero(estimate.used)
    times = estimate.times_ns[positions]
    alignment = policy.align(times, grid, config.limit_ns)
    valid = alignment.valid.copy()
    found: list[SyncViolation] = []
    bad = estimate.bad if estimate.bad is not None else np.zeros(len(timeline), dtype=bool)
    for found_here, marked in (check_gaps(name, times, grid, limits, origin_ns),
                               check_skew(name, estimate.fit, grid, limits, origin_ns),
                               check_content(name, estimate.times_ns, estimate.used, bad, problems, policy,
                                             config.limit_ns, grid, origin_ns)):
        found += found_here
        valid &= ~marked
    found += check_invalid(name, valid, grid, limits, config.limit_ns, config.policy, origin_ns, alignment.valid)
    final = replace(alignment, valid=valid)
    values = {key: v[positions] for key, v in timeline.values.items()}
    i0, i1 = _to_messages(alignment, positions, timeline.message_index)
    return StreamAlignment(
        name=name, role=config.role, policy=config.policy, required=config.required,
        limit_ns=config.limit_ns, valid=valid, i0=i0, i1=i1, weight=alignment.weight,
        source_time_ns=alignment.source_time_ns, alignment_error_ns=alignment.error_ns,
        bracket_gap_ns=alignment.bracket_gap_ns, values=policy.resample(values, final) if values else {},
        names=timeline.names, message_time_ns=estimate.times_ns, message_receive_ns=timeline.receive_ns,
        message_used=estimate.used,
        summary=_summary(timeline, config, estimate, valid, alignment.valid, final),
    ), found


def _edge_gaps(configs, estimates, origin_ns: int, last_ns: int, limits) -> list[SyncViolation]:
    """Required streams that start late or stop early by more than ``max_gap_ms``.

    Trimming to the common span handles streams that start a few frames apart;
    a required stream silent for longer at either edge is a gap like any other
    (a camera that died mid-episode must not just shorten the episode quietly).
    """
    limit_ns = round(limits.max_gap_ms * NS_PER_MS)
    found = []
    for name, config in configs.items():
        estimate = estimates[name]
        if not config.required or not estimate.used.any():
            continue
        first = int(estimate.times_ns[estimate.used].min())
        last = int(estimate.times_ns[estimate.used].max())
        if first - origin_ns > limit_ns:
            found.append(SyncViolation(
                stream=name, kind="gap", time_ns=origin_ns,
                reason=f"no data for the first {(first - origin_ns) / 1e9:.3f} s of the episode "
                       f"(exceeds sync.max_gap_ms={limits.max_gap_ms:g})"))
        if last_ns - last > limit_ns:
            found.append(SyncViolation(
                stream=name, kind="gap", time_ns=last,
                reason=f"no data for the last {(last_ns - last) / 1e9:.3f} s of the episode "
                       f"(exceeds sync.max_gap_ms={limits.max_gap_ms:g})"))
    return found


def synchronize(source, rig: Rig | None = None, *, fps: float | None = None, keep: bool | None = None,
                streams: Iterable[str] | None = None) -> SyncResult:
    """Put every stream of an episode onto one grid of ``fps`` frames per second.

    Args:
        source: an episode directory (rosbag2 + ``episode.json``), or in-memory
            :class:`~collector.sync.timeline.StreamTimeline` objects (a mapping by
            name or an iterable).
        rig: the rig profile; for an episode, default: the copy stored in it.
        fps: grid rate (frames/s, > 0); default ``rig.fps``.
        keep: instead of refusing an episode that breaks the rig's limits, mark
            the offending frames invalid and list the violations in the result.
            None: as the rig's ``sync.on_violation`` says (``mark``: keep).
        streams: only these stream names (default: all the rig's / all given).

    Returns:
        A :class:`~collector.sync.result.SyncResult`.

    Raises:
        SyncError: a required stream has no usable message, the required streams
            never overlap, or (without ``keep``) a required stream has a gap over
            ``sync.max_gap_ms``, a clock offset over ``sync.max_skew_ms``, messages
            with bad content (NaN/inf values, an image whose encoding or size is not
            the rig's or whose data is not ``step * height`` bytes) or more than
            ``sync.max_invalid_fraction`` invalid frames, or (``sync.on_unsynchronised:
            refuse``) a header clock whose stamps are not on the host's clock. The
            message names the episode, the stream, the time (s from the episode
            start) and the reason.
        BagError, RigError, EpisodeError: the episode or its rig cannot be read.
        ValueError: in-memory timelines without a rig, a role mismatch, or a bad fps.
    """
    try:
        return _synchronize(source, rig, fps=fps, keep=keep, streams=streams)
    except SyncError as err:
        raise err.in_episode(str(source) if isinstance(source, (str, Path)) else "") from None


def _synchronize(source, rig: Rig | None, *, fps: float | None, keep: bool | None,
                 streams: Iterable[str] | None) -> SyncResult:
    timelines, rig, episode = _timelines(source, rig, streams)
    fps = rig.fps if fps is None else fps
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not 0 < fps < float("inf"):
        raise ValueError(f"synchronize: fps={fps!r} is not a positive number")
    if not timelines:
        raise ValueError("synchronize: no streams")
    configs = _configs(timelines, rig)
    limits = rig.sync
    if keep is None:
        keep = limits.on_violation == "mark"
    warnings: list[SyncWarning] = []
    stale = find_stale(timelines, round(limits.stale_ms * NS_PER_MS))
    problems = {name: _problems(timelines[name]) for name in configs}
    estimates: dict[str, StreamEstimate] = {}
    for name, config in configs.items():
        estimates[name], notes = estimate_stream(timelines[name], config, limits, stale[name],
                                                 bad_mask(len(timelines[name]), problems[name]))
        warnings += notes
    firsts = [int(e.times_ns[e.used].min()) for e in estimates.values() if e.used.any()]
    origin_ns = min(firsts) if firsts else 0
    start, end = _span(configs, estimates, problems, origin_ns)
    grid = frame_times(start, end, fps)
    last_ns = max(int(e.times_ns[e.used].max()) for e in estimates.values() if e.used.any())
    if start - origin_ns > TRIM_WARNING_NS or last_ns - end > TRIM_WARNING_NS:
        warnings.append(SyncWarning(
            stream="*", code="trimmed", time_ns=start,
            message=f"trimmed to t={_seconds(start, origin_ns):.3f}..{_seconds(end, origin_ns):.3f} s of "
                    f"0..{_seconds(last_ns, origin_ns):.3f} s: the span where every required stream has data"))

    violations: list[SyncViolation] = _edge_gaps(configs, estimates, origin_ns, last_ns, limits)
    aligned: dict[str, StreamAlignment] = {}
    for name, config in configs.items():
        aligned[name], found = _align_stream(timelines[name], config, estimates[name], grid, limits, origin_ns,
                                             problems[name])
        if config.required:
            violations += found
        else:
            warnings += [SyncWarning(stream=name, code=f"limit_{v.kind}", message=f"{name}: {v.reason}",
                                     time_ns=v.time_ns) for v in found]
    if violations and not keep:
        first = violations[0]
        more = f" (+{len(violations) - 1} more violation(s))" if len(violations) > 1 else ""
        time_s = None if first.time_ns is None else _seconds(first.time_ns, origin_ns)
        raise SyncError(first.stream, time_s, first.reason + more)
    if violations:
        warnings += [SyncWarning(stream=v.stream, code="kept", message=f"{v.stream}: kept despite: {v.reason}",
                                 time_ns=v.time_ns) for v in violations]
    return SyncResult(rig=rig.rig, episode=episode, fps=fps, t0_ns=int(grid[0]) if len(grid) else start,
                      grid_ns=grid, origin_ns=origin_ns, streams=aligned,
                      clocks={name: estimates[name].fit for name in configs}, warnings=tuple(warnings),
                      violations=tuple(violations), max_latency_ms=limits.max_latency_ms)
