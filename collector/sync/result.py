"""What :func:`collector.sync.synchronize` returns: the grid, per-stream alignment, clock fits, report.

Everything per frame is an array of length K (the number of grid frames);
times are int64 ns on the reference clock (the recorder's receive clock).
:meth:`SyncResult.to_dict` gives the JSON report (per-frame arrays only on request).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from collector.latency import LatencyStats
from collector.sync.clock import ClockFit
from collector.sync.errors import SyncViolation, SyncWarning

NS_PER_MS = 1e6


@dataclass(frozen=True, kw_only=True)
class StreamSummary:
    """Per-stream quality numbers for the report. Times in ns unless the name says otherwise.

    Attributes:
        messages: messages in the stream; used: those on the timeline (not stale).
        stale: stale latched messages dropped; zero_stamps: header stamps equal to 0.
        offset_ns, drift_ppm, jitter_ns: clock fit (0 unless fitted: a trusted
            header clock and the receive clock have none); drift_sigma_ppm: the
            drift's standard error.
        clock_jumps: clock steps found.
        gaps: holes longer than 2.5 nominal periods; largest_gap_ns: the longest hole.
        missing: messages absent (from the capture sequence when periodic, else
            estimated from the holes and the nominal period).
        frames, valid_frames: grid frames, and those with a valid sample.
        outside_limit: frames whose candidate sample was beyond the policy limit
            (never used: no image outside tolerance, no interpolation across a gap).
        error_median_ns, error_p99_ns, error_max_ns: |alignment error| over valid
            frames (0 for valid interpolated frames, see ``bracket_gap_max_ns``).
        bracket_gap_max_ns: widest bracket interpolated across (linear/slerp).
        bad_messages: messages left out for bad content (NaN/inf, a wrong image).
        reordered: messages that arrived after a newer one (placed by their stamps).
        clock: the clock used (``header``: trusted stamps; ``device``: fitted;
            ``receive``); declared: the clock the rig declared.
        latency: receive - capture time per message (measured for a trusted
            header clock, estimated through a fitted one; None for ``receive``).
    """

    messages: int
    used: int
    stale: int
    zero_stamps: int
    offset_ns: float
    drift_ppm: float
    jitter_ns: float
    clock_jumps: int
    gaps: int
    largest_gap_ns: int
    missing: int
    frames: int
    valid_frames: int
    outside_limit: int
    error_median_ns: float
    error_p99_ns: float
    error_max_ns: float
    bracket_gap_max_ns: int
    bad_messages: int = 0
    reordered: int = 0
    clock: str = "receive"
    declared: str = "receive"
    latency: LatencyStats | None = None
    drift_sigma_ppm: float = 0.0

    @property
    def invalid_frames(self) -> int:
        return self.frames - self.valid_frames

    def to_dict(self) -> dict[str, Any]:
        return {
            "messages": self.messages, "used": self.used, "stale": self.stale, "zero_stamps": self.zero_stamps,
            "offset_ms": round(self.offset_ns / NS_PER_MS, 6), "drift_ppm": round(self.drift_ppm, 3),
            "drift_sigma_ppm": round(self.drift_sigma_ppm, 3) if np.isfinite(self.drift_sigma_ppm) else None,
            "jitter_ms": round(self.jitter_ns / NS_PER_MS, 6), "clock_jumps": self.clock_jumps,
            "gaps": self.gaps, "largest_gap_ms": round(self.largest_gap_ns / NS_PER_MS, 6),
            "missing": self.missing, "frames": self.frames, "valid_frames": self.valid_frames,
            "invalid_frames": self.invalid_frames, "outside_limit": self.outside_limit,
            "error_median_ms": round(self.error_median_ns / NS_PER_MS, 6),
            "error_p99_ms": round(self.error_p99_ns / NS_PER_MS, 6),
            "error_max_ms": round(self.error_max_ns / NS_PER_MS, 6),
            "bracket_gap_max_ms": round(self.bracket_gap_max_ns / NS_PER_MS, 6),
            "bad_messages": self.bad_messages, "reordered": self.reordered,
            "clock": self.clock, "declared_clock": self.declared,
            "latency": self.latency.to_dict() if self.latency else None,
        }


@dataclass(frozen=True, kw_only=True, eq=False)
class StreamAlignment:
    """One stream on the grid.

    Per frame (length K):
        valid: a sample within the policy limit was used (and no kept violation).
        i0, i1, weight: message indices (``StreamTimeline.message_index``; -1 when
            the stream has no usable message) and the weight of ``i1``: the value is
            ``(1 - weight) * v[i0] + weight * v[i1]``. Invalid frames carry the
            nearest candidate for diagnosis.
        source_time_ns: the source time actually used: the sample's estimated
            capture time (nearest, hold) or the frame time (valid interpolation);
            ``NO_TIME`` (int64 min) when the stream has no usable message.
        alignment_error_ns: ``source_time_ns - grid time`` (0 for valid interpolation).
        bracket_gap_ns: distance between the two interpolated samples (0 otherwise).
        values: resampled numeric values per key, ``(K, ...)``, NaN where invalid
            (none for images: export fetches frames by ``i0``).

    Per message (length N of the timeline):
        message_time_ns: estimated capture time on the reference clock.
        message_receive_ns: receive time (the latency is ``receive - time``).
        message_used: False for messages not used (stale latched state, bad content).
    """

    name: str
    role: str
    policy: str
    required: bool
    limit_ns: int
    valid: np.ndarray
    i0: np.ndarray
    i1: np.ndarray
    weight: np.ndarray
    source_time_ns: np.ndarray
    alignment_error_ns: np.ndarray
    bracket_gap_ns: np.ndarray
    values: dict[str, np.ndarray] = field(default_factory=dict)
    names: tuple[str, ...] = ()
    message_time_ns: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    message_receive_ns: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    message_used: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    summary: StreamSummary | None = None

    def frames_to_dict(self) -> dict[str, list]:
        """The per-frame arrays as JSON-ready lists."""
        return {"valid": self.valid.tolist(), "i0": self.i0.tolist(), "i1": self.i1.tolist(),
                "weight": self.weight.tolist(), "source_time_ns": self.source_time_ns.tolist(),
                "alignment_error_ns": self.alignment_error_ns.tolist(), "bracket_gap_ns": self.bracket_gap_ns.tolist()}


@dataclass(frozen=True, kw_only=True, eq=False)
class SyncResult:
    """An episode on one grid.

    Attributes:
        rig: rig name; episode: episode path ("" for in-memory timelines).
        fps: grid rate (frames/s); t0_ns: time of frame 0; grid_ns: (K,) frame
            times ``t0 + round(k * 1e9 / fps)``. Exports write ``k / fps``.
        origin_ns: episode start (earliest estimated capture time of any used message); error
            messages and ``*_s`` report fields count seconds from here.
        streams: per stream name, its :class:`StreamAlignment` (rig order).
        clocks: per stream name, its :class:`~collector.sync.clock.ClockFit`.
        warnings: what sync worked around.
        violations: refusal reasons kept because ``keep=True`` (frames marked).
        max_latency_ms: the rig's ``sync.max_latency_ms`` (0: unknown).
    """

    rig: str
    episode: str
    fps: float
    t0_ns: int
    grid_ns: np.ndarray
    origin_ns: int
    streams: dict[str, StreamAlignment]
    clocks: dict[str, ClockFit]
    warnings: tuple[SyncWarning, ...] = ()
    violations: tuple[SyncViolation, ...] = ()
    max_latency_ms: float = 0.0

    @property
    def frames(self) -> int:
        return len(self.grid_ns)

    @property
    def timestamps_s(self) -> np.ndarray:
        """``k / fps`` for every frame (float64 s): what exports write as ``timestamp``."""
        return np.arange(self.frames, dtype=np.float64) / self.fps

    @property
    def valid(self) -> np.ndarray:
        """(K,) True where every required stream is valid."""
        valid = np.ones(self.frames, dtype=bool)
        for alignment in self.streams.values():
            if alignment.required:
                valid &= alignment.valid
        return valid

    def to_dict(self, *, frames: bool = False) -> dict[str, Any]:
        """The report as JSON-ready data; ``frames=True`` adds the per-frame arrays."""
        streams = {}
        for name, alignment in self.streams.items():
            entry = {"role": alignment.role, "policy": alignment.policy, "required": alignment.required,
                     "limit_ms": alignment.limit_ns / NS_PER_MS, "clock": self.clocks[name].to_dict(),
                     "summary": alignment.summary.to_dict() if alignment.summary else None}
            if frames:
                entry["frames"] = alignment.frames_to_dict()
            streams[name] = entry
        data = {
            "rig": self.rig, "episode": self.episode, "fps": self.fps, "frames": self.frames,
            "t0_ns": self.t0_ns, "origin_ns": self.origin_ns,
            "duration_s": round((int(self.grid_ns[-1]) - self.t0_ns) / 1e9, 9) if self.frames else 0.0,
            "valid_frames": int(self.valid.sum()), "max_latency_ms": self.max_latency_ms,
            "reference_clock": "recording host (receive time)", "streams": streams,
            "warnings": [w.to_dict() for w in self.warnings],
            "violations": [v.to_dict() for v in self.violations],
        }
        if frames:
            data["grid_ns"] = self.grid_ns.tolist()
        return data
