"""What sync raises when it refuses an episode, and what it notes without refusing."""

from __future__ import annotations

from dataclasses import dataclass

from collector.errors import CollectorError


class SyncError(CollectorError):
    """An episode cannot be synchronised within the rig's limits.

    The message names the episode (when synchronising one from disk), the stream,
    the time (s from the episode start, the earliest capture time of any used message) and
    the reason, on one line, e.g. ``episodes/ep_003: head_rgb: at t=12.345 s: gap of
    0.412 s exceeds sync.max_gap_ms=200``. ``episode`` ("" for in-memory
    timelines), ``stream``, ``time_s`` (None when no single time applies) and
    ``reason`` hold the parts.
    """

    def __init__(self, stream: str, time_s: float | None, reason: str, *, episode: str = ""):
        self.stream = stream
        self.time_s = time_s
        self.reason = reason
        self.episode = episode
        where = "" if time_s is None else f" at t={time_s:.3f} s:"
        super().__init__(f"{episode + ': ' if episode else ''}{stream}:{where} {reason}")

    def in_episode(self, episode: str) -> SyncError:
        """The same error, its message prefixed with the episode (unless it names one already)."""
        if self.episode or not episode:
            return self
        return SyncError(self.stream, self.time_s, self.reason, episode=episode)


@dataclass(frozen=True, kw_only=True)
class SyncWarning:
    """Something sync worked around; collected in the result, never printed.

    Attributes:
        stream: the stream concerned.
        code: machine-readable kind (``zero_stamp``, ``stale_latched``,
            ``clock_jump``, ``irregular``, ``few_messages``, ``reordered``,
            ``unsynchronised`` (a header clock fitted as a device clock),
            ``latency`` (messages later than ``sync.max_latency_ms``),
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
    kind: str  # "gap", "skew", "clock" (unsynchronised, refused by policy), "content" (bad data) or "invalid"
    reason: str
    time_ns: int | None
    frames: int = 0

    def to_dict(self) -> dict:
        return {"stream": self.stream, "kind": self.kind, "reason": self.reason, "time_ns": self.time_ns,
                "frames": self.frames}
