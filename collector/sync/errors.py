"""What sync raises when it refuses an episode, and what it notes without refusing."""

from __future__ import annotations

from dataclasses import dataclass

from collector.errors import CollectorError


class SyncError(CollectorError):
    """An episode cannot be synchronised within the rig's limits.

    The message names the stream, the time (s from the episode start, the first
    receive time of any message) and the reason, on one line, e.g.
    ``head_rgb: at t=12.345 s: gap of 0.412 s exceeds sync.max_gap_ms=200``.
    ``stream``, ``time_s`` (None when no single time applies) and ``reason`` hold
    the parts.
    """

    def __init__(self, stream: str, time_s: float | None, reason: str):
        self.stream = stream
        self.time_s = time_s
        self.reason = reason
        where = "" if time_s is None else f" at t={time_s:.3f} s:"
        super().__init__(f"{stream}:{where} {reason}")


@dataclass(frozen=True, kw_only=True)
class SyncWarning:
    """Something sync worked around; collected in the result, never printed.

    Attributes:
        stream: the stream concerned.
        code: machine-readable kind (``zero_stamp``, ``stale_latched``,
            ``clock_jump``, ``irregular``, ``few_messages``, ``reordered``,
            ``trimmed``, ``limit_<kind>`` for a stream that is not required,
            ``kept``).
        message: one human-readable line.
        time_ns: when (reference clock, ns), or None.
    """

    stream: str
    code: str
    message: str
    time_ns: int | None = None

    def to_dict(self) -> dict:
        return {"stream": self.stream, "code": self.code, "message": self.message, "time_ns": self.time_ns}


@dataclass(frozen=True, kw_only=True)
class SyncViolation:
    """A reason to refuse the episode, kept (frames marked) because ``keep=True``.

    ``time_ns`` is on the reference clock; ``frames`` counts the frames marked
    invalid because of it.
    """

    stream: str
    kind: str  # "gap", "skew", "content" (bad data inside messages) or "invalid"
    reason: str
    time_ns: int | None
    frames: int = 0

    def to_dict(self) -> dict:
        return {"stream": self.stream, "kind": self.kind, "reason": self.reason, "time_ns": self.time_ns,
                "frames": self.frames}
