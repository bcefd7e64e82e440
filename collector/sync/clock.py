"""Clock models: how a stream's ``header.stamp`` relates to the reference clock.

The reference clock is the recording host's clock; every receive time (MCAP log
time) is on it. A rig stream declares which clock its stamps are on:

``header``
    the host's clock or one synchronised to it (PTP, chrony). The stamp is the
    capture time, used exactly as it is: nothing is fitted. The transport latency
    ``receive - stamp`` is measured and reported, never applied. Evidence that the
    clock is not synchronised (:mod:`collector.sync.trust`) makes sync fit it as a
    device clock instead.
``device``
    the sensor's own clock. For message ``i``::

        stamp_i   = true_i + offset + drift * (true_i - anchor) + jitter_i
        receive_i = true_i + latency + excess_i          (excess_i >= 0, a positive tail)

    ``latency`` (the constant minimum delay) cannot be observed; it is a known
    value from the rig (``latency_ms``, default 0). :func:`fit_clock` estimates
    ``offset`` (ns, stream clock minus reference clock: positive means the
    stream's clock is ahead) and ``drift`` (ppm) robustly over the whole episode:

    1. clock jumps: a sustained step in ``stamp - receive`` (running medians left
       and right of each message) larger than the jump threshold and 5x the noise
       splits the stream into segments, fitted separately;
    2. periodic capture: sensors capture every ``period``. When the capture
       sequence can be recovered unambiguously (from the stamps, else from the
       receive times) stamps are replaced by the fitted ``phase + seq * period``
       so the stamp jitter (timestamping noise) does not enter the estimate;
    3. per window (~1 s) the message with the least latency (largest
       ``stamp - receive``) is taken and a Theil-Sen line, refined by least
       squares on its inliers, is fitted through those points: the line is
       ``offset + drift * (t - anchor)``. The drift is kept only where the data
       support it (:func:`~collector.sync.robust.envelope_line`).

    Streams whose stamps cannot be regularised use the window median instead of
    the maximum, which keeps symmetric stamp jitter out of the estimate but lets
    the median latency excess in as a small bias of the offset.
``receive``
    no usable stamp: the receive time minus the rig's known latency.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from collector.latency import LatencyStats
from collector.sync.jumps import find_jumps
from collector.sync.robust import envelope, envelope_line, fit_line, robust_sigma, slope_sigma
from collector.sync.sequence import ambiguous_slots, recover_sequence

MIN_WINDOW_MESSAGES = 5


@dataclass(frozen=True, kw_only=True)
class ClockJump:
    """A step of the stream's clock: at ``time_ns`` (reference clock) by ``step_ns``.

    ``index`` is the position of the first message after the step.
    """

    index: int
    time_ns: int
    step_ns: float

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "time_ns": self.time_ns, "step_ms": round(self.step_ns / 1e6, 6)}


@dataclass(frozen=True, kw_only=True)
class ClockSegment:
    """One stretch of a stream between clock jumps, positions ``[start, stop)``.

    Attributes:
        start, stop: message positions (into the stream's arrays) covered.
        anchor_ns: reference time (ns) at which ``offset_ns`` holds.
        offset_ns: stream clock minus reference clock at ``anchor_ns`` (ns).
        drift_ppm: rate of the stream clock relative to the reference (ppm); 0
            when the data do not support a drift.
        drift_sigma_ppm: standard error of ``drift_ppm`` (ppm): the envelope's
            scatter and, for periodic captures, the error of the period fitted
            on jittery stamps (inf when it cannot be told).
        jitter_ns: robust std (ns) of the stamps around the periodic model, or of
            ``stamp - receive`` around the fitted line when not periodic.
        period_ns: fitted capture period on the stream clock (ns), None if the
            captures are not treated as periodic.
        phase_ns: stream-clock time of capture 0 relative to ``anchor_ns`` (ns).
        sequence_from: which times the capture sequence was recovered from
            (``stamp`` or ``receive``), None if not periodic.
        seq_phase_ns, seq_period_ns: the line (relative to ``anchor_ns``) whose
            rounding gives the capture number on the ``sequence_from`` times.
        messages: messages fitted; missing: captures absent from the sequence.
        start_ns, end_ns: reference times of the first and last fitted message.
    """

    start: int
    stop: int
    anchor_ns: int
    offset_ns: float
    drift_ppm: float
    jitter_ns: float
    drift_sigma_ppm: float = 0.0
    period_ns: float | None = None
    phase_ns: float = 0.0
    sequence_from: str | None = None
    seq_phase_ns: float = 0.0
    seq_period_ns: float = 0.0
    messages: int = 0
    missing: int = 0
    start_ns: int = 0
    end_ns: int = 0

    def offset_at(self, time_ns) -> np.ndarray | float:
        """Offset (ns) of the stream clock at reference time(s) ``time_ns``."""
        return self.offset_ns + self.drift_ppm * 1e-6 * (np.asarray(time_ns, dtype=np.int64) - self.anchor_ns)

    def to_reference(self, stamp_ns: np.ndarray) -> np.ndarray:
        """Map stream-clock times (int ns) to the reference clock (int64 ns)."""
        relative = (np.asarray(stamp_ns, dtype=np.int64) - self.anchor_ns).astype(np.float64)
        return self.anchor_ns + np.rint((relative - self.offset_ns) / (1.0 + self.drift_ppm * 1e-6)).astype(np.int64)

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start, "stop": self.stop, "anchor_ns": self.anchor_ns,
            "offset_ms": round(self.offset_ns / 1e6, 6), "drift_ppm": round(self.drift_ppm, 3),
            "drift_sigma_ppm": round(self.drift_sigma_ppm, 3) if np.isfinite(self.drift_sigma_ppm) else None,
            "jitter_ms": round(self.jitter_ns / 1e6, 6),
            "period_ms": None if self.period_ns is None else round(self.period_ns / 1e6, 9),
            "sequence_from": self.sequence_from, "messages": self.messages, "missing": self.missing,
            "start_ns": self.start_ns, "end_ns": self.end_ns,
        }


@dataclass(frozen=True, kw_only=True)
class ClockFit:
    """How to turn a stream's messages into source times on the reference clock.

    ``clock`` is the clock actually used: ``header`` (trusted stamps, used as
    they are), ``device`` (stamps mapped through the fitted segments) or
    ``receive`` (receive time minus ``latency_ns``). ``declared`` is what the rig
    says; ``evidence`` says why a declared ``header`` clock was fitted as a device
    clock (its stamps proved it unsynchronised), and ``fallback`` is True when a
    stamped clock's stamps were unusable and receive times were used instead.
    ``latency`` is the per-message latency (measured for a trusted header clock,
    estimated for a device clock). The summary properties describe the segment
    covering the most messages (0 for the header and receive clocks).
    """

    stream: str
    clock: str
    declared: str = ""
    latency_ns: int = 0
    segments: tuple[ClockSegment, ...] = ()
    jumps: tuple[ClockJump, ...] = ()
    fallback: bool = False
    evidence: str | None = None
    latency: LatencyStats | None = None

    def __post_init__(self) -> None:
        if self.clock not in ("header", "device", "receive"):
            raise ValueError(f"ClockFit({self.stream}).clock={self.clock!r} is not 'header', 'device' or 'receive'")
        if self.clock == "device" and not self.segments:
            raise ValueError(f"ClockFit({self.stream}): a device clock needs at least one segment")
        if not self.declared:
            object.__setattr__(self, "declared", self.clock)

    @property
    def fitted(self) -> bool:
        """True when offset and drift were fitted (a device clock, declared or not)."""
        return self.clock == "device"

    @property
    def main(self) -> ClockSegment | None:
        return max(self.segments, key=lambda s: s.messages) if self.segments else None

    @property
    def offset_ns(self) -> float:
        """Offset (ns) of the main segment at its anchor; 0 for the header and receive clocks."""
        return self.main.offset_ns if self.main else 0.0

    @property
    def drift_ppm(self) -> float:
        return self.main.drift_ppm if self.main else 0.0

    @property
    def drift_sigma_ppm(self) -> float:
        """Standard error (ppm) of the main segment's drift; 0 unless fitted."""
        return self.main.drift_sigma_ppm if self.main else 0.0

    @property
    def jitter_ns(self) -> float:
        return self.main.jitter_ns if self.main else 0.0

    @property
    def regular(self) -> bool:
        """True when every segment used the periodic capture model."""
        return bool(self.segments) and all(s.period_ns is not None for s in self.segments)

    @property
    def missing(self) -> int:
        """Captures missing from the recovered sequences (0 when not periodic)."""
        return sum(s.missing for s in self.segments)

    def max_skew_ns(self) -> float:
        """Largest |offset| (ns) over every segment's span; 0 unless fitted."""
        skew = 0.0
        for seg in self.segments:
            skew = max(skew, abs(float(seg.offset_at(seg.start_ns))), abs(float(seg.offset_at(seg.end_ns))))
        return skew

    def source_times(self, receive_ns: np.ndarray, stamp_ns: np.ndarray) -> np.ndarray:
        """Estimated capture times (int64 ns, reference clock) of the messages.

        ``receive_ns`` and ``stamp_ns`` are the arrays the fit was made on. A
        trusted header stamp is the capture time itself. A zero stamp (no header
        time) falls back to its receive time minus the latency: the measured
        median for a header clock, the rig's known latency otherwise.
        """
        receive_ns = np.asarray(receive_ns, dtype=np.int64)
        if self.clock == "header" and self.latency is not None:
            fallback = receive_ns - int(round(self.latency.median_ns))
        else:
            fallback = receive_ns - self.latency_ns
        if self.clock == "receive":
            return fallback
        stamp_ns = np.asarray(stamp_ns, dtype=np.int64)
        if self.clock == "header":
            return np.where(stamp_ns != 0, stamp_ns, fallback)
        out = fallback.copy()
        for seg in self.segments:
            part = slice(seg.start, seg.stop)
            stamps = _stream_times(seg, receive_ns[part], stamp_ns[part], self.latency_ns)
            mapped = seg.to_reference(stamps)
            out[part] = np.where(stamp_ns[part] != 0, mapped, fallback[part])
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "stream": self.stream, "clock": self.clock, "declared": self.declared, "fallback": self.fallback,
            "evidence": self.evidence, "latency_ms": self.latency_ns / 1e6,
            "latency": self.latency.to_dict() if self.latency else None,
            "offset_ms": round(self.offset_ns / 1e6, 6), "drift_ppm": round(self.drift_ppm, 3),
            "drift_sigma_ppm": (round(self.drift_sigma_ppm, 3) if np.isfinite(self.drift_sigma_ppm) else None),
            "jitter_ms": round(self.jitter_ns / 1e6, 6), "regular": self.regular, "missing": self.missing,
            "segments": [s.to_dict() for s in self.segments], "jumps": [j.to_dict() for j in self.jumps],
        }


def _stream_times(seg: ClockSegment, receive_ns, stamp_ns, latency_ns: int) -> np.ndarray:
    """Stamps to map for one segment: the periodic model where unambiguous, else raw."""
    if seg.period_ns is None:
        return stamp_ns
    source = stamp_ns if seg.sequence_from == "stamp" else receive_ns - latency_ns
    relative = (source - seg.anchor_ns).astype(np.float64)
    seq, ambiguous = ambiguous_slots(relative, seg.seq_phase_ns, seg.seq_period_ns)
    model = seg.anchor_ns + np.rint(seg.phase_ns + seq * seg.period_ns).astype(np.int64)
    return np.where(ambiguous, stamp_ns, model)


def _fit_segment(receive_ns, stamp_ns, latency_ns, *, start, stop, used, window_ns, regularize) -> ClockSegment:
    """Fit one segment (positions ``start..stop``) on the messages where ``used``."""
    index = np.flatnonzero(used[start:stop]) + start
    receive = receive_ns[index]
    stamp = stamp_ns[index]
    anchor = int(receive[0]) - latency_ns
    reference = (receive - latency_ns - anchor).astype(np.float64)  # true time + excess, relative
    stamps = (stamp - anchor).astype(np.float64)
    # the capture sequence, from the stamps if they allow it, else from the receive times
    candidates = (("stamp", stamps), ("receive", reference)) if regularize else ()
    source, found = next(((name, seq) for name, times in candidates if (seq := recover_sequence(times)) is not None),
                         (None, None))
    common = {"start": start, "stop": stop, "anchor_ns": anchor, "messages": len(index),
              "start_ns": int(receive[0]) - latency_ns, "end_ns": int(receive[-1]) - latency_ns}
    if found is not None:
        seq, seq_phase, seq_period, _sigma, ambiguous = found
        phase, period, _ = fit_line(seq[~ambiguous], stamps[~ambiguous])
        residual = stamps[~ambiguous] - (phase + period * seq[~ambiguous])
        jitter = robust_sigma(residual)
        model = np.where(ambiguous, stamps, phase + period * seq)
        x, y = envelope(reference[~ambiguous], (model - reference)[~ambiguous], window_ns, "max")
        offset, drift, drift_sigma = envelope_line(x, y)
        # the model's period comes from jittery stamps: its error enters the slope as drift
        period_sigma = slope_sigma(seq[~ambiguous], residual) / period
        missing = int(seq[~ambiguous].max() - seq[~ambiguous].min() + 1 - len(np.unique(seq[~ambiguous])))
        return ClockSegment(offset_ns=offset, drift_ppm=drift * 1e6,
                            drift_sigma_ppm=float(np.hypot(drift_sigma, period_sigma)) * 1e6, jitter_ns=jitter,
                            period_ns=period, phase_ns=phase, sequence_from=source, seq_phase_ns=seq_phase,
                            seq_period_ns=seq_period, missing=missing, **common)
    x, y = envelope(reference, stamps - reference, window_ns, "median")
    offset, drift, drift_sigma = envelope_line(x, y)
    jitter = robust_sigma(stamps - reference - (offset + drift * reference))
    return ClockSegment(offset_ns=offset, drift_ppm=drift * 1e6, drift_sigma_ppm=drift_sigma * 1e6, jitter_ns=jitter,
                        **common)


def jump_window(period_ns: float) -> int:
    """Messages on each side of a candidate clock jump (about half a second, 5..100)."""
    return int(np.clip(round(0.5e9 / period_ns), MIN_WINDOW_MESSAGES, 100))


def find_clock_jumps(receive_ns: np.ndarray, stamp_ns: np.ndarray, used: np.ndarray, *, period_ns: float,
                     jump_threshold_ns: float) -> list[int]:
    """Positions (into the stream's arrays) of the first message after each clock jump."""
    index = np.flatnonzero(used)
    skew = (stamp_ns[index] - receive_ns[index]).astype(np.float64)
    return [int(index[k]) for k in find_jumps(skew, window=jump_window(period_ns), threshold_ns=jump_threshold_ns)]


def fit_clock(
    receive_ns: np.ndarray,
    stamp_ns: np.ndarray,
    *,
    stream: str = "",
    period_ns: float,
    latency_ns: int = 0,
    used: np.ndarray | None = None,
    jump_threshold_ns: float = 50e6,
    window_ns: float = 1e9,
    regularize: bool = True,
    declared: str = "device",
    evidence: str | None = None,
) -> ClockFit:
    """Fit a device clock to the reference clock over a whole stream.

    Args:
        receive_ns: receive times (int ns, reference clock), message order.
        stamp_ns: header stamps (int ns, stream clock); 0 = no stamp.
        stream: name, for errors and the result.
        period_ns: nominal period (ns); sizes the jump-detection window.
        latency_ns: known constant minimum receive latency (ns, >= 0).
        used: messages to fit (default: every message with a non-zero stamp).
        jump_threshold_ns: smallest step (ns) taken for a clock jump.
        window_ns: envelope window (ns); at least 5 messages per window.
        regularize: allow the periodic capture model.
        declared: the clock the rig declared (``device``, or ``header`` when its
            stamps proved it unsynchronised: ``evidence`` says how).

    Returns:
        A :class:`ClockFit` with ``clock="device"``, or ``clock="receive"`` and
        ``fallback=True`` when fewer than two messages have usable stamps.

    Raises:
        ValueError: when the arrays differ in length or ``latency_ns`` < 0.
    """
    receive_ns = np.asarray(receive_ns, dtype=np.int64)
    stamp_ns = np.asarray(stamp_ns, dtype=np.int64)
    if receive_ns.shape != stamp_ns.shape or receive_ns.ndim != 1:
        raise ValueError(f"{stream}: receive_ns {receive_ns.shape} and stamp_ns {stamp_ns.shape} differ")
    if latency_ns < 0:
        raise ValueError(f"{stream}: latency_ns={latency_ns} is negative")
    used = (stamp_ns != 0) if used is None else (np.asarray(used, dtype=bool) & (stamp_ns != 0))
    index = np.flatnonzero(used)
    if len(index) < 2:
        return ClockFit(stream=stream, clock="receive", declared=declared, latency_ns=latency_ns, fallback=True,
                        evidence=evidence)
    cuts = find_clock_jumps(receive_ns, stamp_ns, used, period_ns=period_ns, jump_threshold_ns=jump_threshold_ns)
    bounds = [0, *cuts, len(receive_ns)]
    span = max(float(receive_ns[index[-1]] - receive_ns[index[0]]), 1.0)
    window_ns = max(window_ns, MIN_WINDOW_MESSAGES * period_ns, span / 300)
    segments = tuple(
        _fit_segment(receive_ns, stamp_ns, latency_ns, start=a, stop=b, used=used, window_ns=window_ns,
                     regularize=regularize)
        for a, b in zip(bounds[:-1], bounds[1:])
    )
    jumps = tuple(
        ClockJump(index=cut, time_ns=int(receive_ns[cut]) - latency_ns,
                  step_ns=float(after.offset_at(receive_ns[cut] - latency_ns))
                  - float(before.offset_at(receive_ns[cut] - latency_ns)))
        for cut, before, after in zip(cuts, segments[:-1], segments[1:])
    )
    return ClockFit(stream=stream, clock="device", declared=declared, latency_ns=latency_ns, segments=segments,
                    jumps=jumps, evidence=evidence)
