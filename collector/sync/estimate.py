"""Per stream: which messages to use, which clock to trust, and each message's capture time.

Each step leaves a :class:`~collector.sync.errors.SyncWarning` when it changes
something:

* messages with bad content (:mod:`collector.sync.content`) are not used; the
  frames they leave are judged by :func:`~collector.sync.limits.check_content`;
* stale latched messages (transient_local state published long before the
  episode) are dropped: leading messages timed more than ``sync.stale_ms``
  before the first message of every other stream and followed by a hole longer
  than that (see :func:`find_stale`);
* a stamped stream whose stamps are mostly 0 falls back to its receive times;
  single zero stamps are timed by their receive time;
* a ``header`` clock is trusted (stamps used as they are, latency measured)
  unless its stamps prove it unsynchronised (:mod:`collector.sync.trust`): then,
  and for a ``device`` clock, the clock fit (:func:`~collector.sync.clock.fit_clock`)
  maps the stamps onto the reference clock; messages that arrived after a newer
  one (header stamps out of receive order: a late message, two publishers) are
  timed by their stamps, so they take their place in capture order, and are
  counted (``reordered``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from collector.latency import latency_stats
from collector.rig import SyncLimits
from collector.sync.clock import ClockFit, fit_clock
from collector.sync.config import NS_PER_MS, StreamSyncConfig
from collector.sync.errors import SyncWarning
from collector.sync.timeline import StreamTimeline
from collector.sync.trust import unsynchronised_evidence

ZERO_STAMP_FALLBACK_SHARE = 0.5


@dataclass(frozen=True, kw_only=True, eq=False)
class StreamEstimate:
    """A stream's clock fit, per-message capture times (int64 ns) and usable mask."""

    fit: ClockFit
    times_ns: np.ndarray
    used: np.ndarray
    stale: int
    zero_stamps: int
    bad: np.ndarray | None = None  # messages with bad content (not used)
    reordered: int = 0


def _rough_times(timeline: StreamTimeline) -> np.ndarray:
    """Stamps moved onto the receive clock by the median skew; receive time where no stamp."""
    stamped = timeline.stamp_ns != 0
    if not stamped.any():
        return timeline.receive_ns.copy()
    skew = int(np.median(timeline.receive_ns[stamped] - timeline.stamp_ns[stamped]))
    return np.where(stamped, timeline.stamp_ns + skew, timeline.receive_ns)


def find_stale(timelines: Mapping[str, StreamTimeline], stale_ns: int) -> dict[str, np.ndarray]:
    """Per stream, True for stale latched messages.

    Latched (transient_local) state is delivered when the recorder subscribes,
    long after it was stamped, and the live messages follow after a hole. So a
    stale message is one of the stream's leading messages that are timed more than
    ``stale_ns`` before every other stream's first receive time and followed by a
    hole longer than ``stale_ns``. A stream that simply starts early has no such
    hole, and a lone message is kept.
    """
    firsts = {name: int(t.receive_ns[0]) for name, t in timelines.items() if len(t)}
    stale = {}
    for name, timeline in timelines.items():
        flags = np.zeros(len(timeline), dtype=bool)
        stale[name] = flags
        others = [first for other, first in firsts.items() if other != name]
        if not others or len(timeline) < 2:
            continue
        times = _rough_times(timeline)
        order = np.argsort(times, kind="stable")
        ordered = times[order]
        early = ordered[:-1] < min(others) - stale_ns
        hole = np.diff(ordered) > stale_ns
        cut = np.flatnonzero(early & hole)
        if len(cut):
            flags[order[: cut[-1] + 1]] = True
    return stale


def count_reordered(stamp_ns: np.ndarray, used: np.ndarray, jumps=()) -> int:
    """Used, stamped messages whose stamp is older than the previous one's (receive order),
    not counting the first message after a clock jump."""
    index = np.flatnonzero(used & (stamp_ns != 0))
    if len(index) < 2:
        return 0
    steps_back = index[1:][np.diff(stamp_ns[index]) < 0]
    return int(len(np.setdiff1d(steps_back, np.asarray([j.index for j in jumps], dtype=np.int64))))


def estimate_stream(timeline: StreamTimeline, config: StreamSyncConfig, limits: SyncLimits,
                    stale: np.ndarray, bad: np.ndarray | None = None) -> tuple[StreamEstimate, list[SyncWarning]]:
    """Fit ``timeline``'s clock and time its messages; returns the estimate and its warnings.

    ``stale`` and ``bad`` (content) mark messages not to use.
    """
    warnings: list[SyncWarning] = []
    name = config.name
    bad = np.zeros(len(timeline), dtype=bool) if bad is None else np.asarray(bad, dtype=bool)
    used = ~stale & ~bad
    if stale.any():
        first = int(np.flatnonzero(stale)[0])
        warnings.append(SyncWarning(stream=name, code="stale_latched", time_ns=int(timeline.receive_ns[first]),
                                    message=f"{name}: dropped {int(stale.sum())} stale message(s) stamped more "
                                            f"than {limits.stale_ms:g} ms before the other streams started"))
    zero = (timeline.stamp_ns == 0) & used
    zeros = int(zero.sum())
    stamped_clock = config.clock in ("header", "device")
    if stamped_clock and zeros > ZERO_STAMP_FALLBACK_SHARE * max(int(used.sum()), 1):
        warnings.append(SyncWarning(stream=name, code="zero_stamp",
                                    message=f"{name}: {zeros} of {int(used.sum())} header stamps are 0; "
                                            "using receive time minus latency for the whole stream"))
        stamped_clock = False
    elif stamped_clock and zeros:
        first = int(np.flatnonzero(zero)[0])
        warnings.append(SyncWarning(stream=name, code="zero_stamp", time_ns=int(timeline.receive_ns[first]),
                                    message=f"{name}: {zeros} message(s) with header stamp 0 timed by receive time"))
    if not stamped_clock:
        fit = ClockFit(stream=name, clock="receive", declared=config.clock, latency_ns=config.latency_ns,
                       fallback=config.clock != "receive")
    else:
        fit = _stamped_fit(timeline, config, limits, used, warnings)
    reordered = count_reordered(timeline.stamp_ns, used, fit.jumps) if fit.clock != "receive" else 0
    if reordered:
        warnings.append(SyncWarning(stream=name, code="reordered",
                                    message=f"{name}: {reordered} message(s) arrived after a newer one (header "
                                            "stamps out of receive order); placed by their stamps"))
    times = fit.source_times(timeline.receive_ns, timeline.stamp_ns)
    if fit.clock == "device":  # how far each message arrived after the fitted capture time
        stamped = used & (timeline.stamp_ns != 0)
        fit = replace(fit, latency=latency_stats(timeline.receive_ns[stamped] - times[stamped], measured=False))
    return StreamEstimate(fit=fit, times_ns=times, used=used, stale=int(stale.sum()), zero_stamps=zeros,
                          bad=bad, reordered=reordered), warnings


def _stamped_fit(timeline: StreamTimeline, config: StreamSyncConfig, limits: SyncLimits, used: np.ndarray,
                 warnings: list[SyncWarning]) -> ClockFit:
    """The clock of a stream with stamps: trusted as it is (``header``) or fitted (``device``).

    A declared ``header`` clock whose stamps prove it unsynchronised is fitted as a
    device clock, with a ``unsynchronised`` warning naming the evidence.
    """
    name = config.name
    stamped = used & (timeline.stamp_ns != 0)
    evidence = None
    if config.clock == "header":
        evidence = unsynchronised_evidence(timeline.receive_ns, timeline.stamp_ns, stamped,
                                           period_ns=config.period_ns, limits=limits)
        if evidence is None and stamped.sum() >= 2:  # fewer: fit_clock falls back to receive times below
            measured = timeline.receive_ns[stamped] - timeline.stamp_ns[stamped]
            latency = latency_stats(measured, measured=True)
            late = measured > limits.max_latency_ms * NS_PER_MS
            if late.any():  # bursts: the clock is fine (the median is), the transport was not
                warnings.append(SyncWarning(
                    stream=name, code="latency", time_ns=int(timeline.receive_ns[stamped][late][0]),
                    message=f"{name}: {int(late.sum())} message(s) arrived more than "
                            f"sync.max_latency_ms={limits.max_latency_ms:g} after their stamps "
                            f"(up to {latency.max_ns / 1e6:.1f} ms)"))
            return ClockFit(stream=name, clock="header", latency_ns=config.latency_ns, latency=latency)
    if evidence is not None:
        first = int(np.flatnonzero(stamped)[0])
        action = ("refused by sync.on_unsynchronised=refuse" if limits.on_unsynchronised == "refuse"
                  else "fitted as a device clock (offset and drift)")
        warnings.append(SyncWarning(stream=name, code="unsynchronised", time_ns=int(timeline.receive_ns[first]),
                                    message=f"{name}: declared clock: header, but its stamps are not on the "
                                            f"recording host's clock: {evidence}; {action}"))
    fit = fit_clock(timeline.receive_ns, timeline.stamp_ns, stream=name, period_ns=config.period_ns,
                    latency_ns=config.latency_ns, used=used, jump_threshold_ns=limits.jump_ms * NS_PER_MS,
                    regularize=limits.regularize, declared=config.clock, evidence=evidence)
    if fit.fallback:
        warnings.append(SyncWarning(stream=name, code="few_messages",
                                    message=f"{name}: fewer than 2 stamped messages; using receive time"))
    if limits.regularize and fit.clock == "device" and not fit.regular and used.sum() >= 5:
        warnings.append(SyncWarning(stream=name, code="irregular",
                                    message=f"{name}: capture sequence not recoverable (stamp jitter "
                                            f"{fit.jitter_ns / 1e6:.3f} ms); source times keep stamp jitter"))
    for jump in fit.jumps:
        warnings.append(SyncWarning(stream=name, code="clock_jump", time_ns=jump.time_ns,
                                    message=f"{name}: clock jumps by {jump.step_ns / 1e6:+.3f} ms at message "
                                            f"{jump.index}; fitted in {len(fit.segments)} segments"))
    return fit
