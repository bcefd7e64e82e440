"""Live stream health: rate vs nominal, staleness, drops; what the status topic reports.

Hardware-free so it is unit-tested without ROS. The recorder's subscription
callbacks only bump two counters on a :class:`StreamMonitor` (the hot path);
:meth:`HealthBoard.snapshot`, called by a timer, turns the counters into rates
and flags.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from collector.rig import Stream

# A stream is stale when silent for this many nominal periods, and at least this long.
STALE_PERIODS = 5.0
STALE_MIN_NS = 300_000_000
# Below this fraction of the nominal rate (over the rate window) a stream is "slow".
SLOW_FRACTION = 0.9
RATE_WINDOW_NS = 1_000_000_000

STATES = ("waiting", "ok", "slow", "stale")


class StreamMonitor:
    """Counters one subscription callback updates: message count and last receive time."""

    __slots__ = ("stream", "count", "last_receive_ns", "_history")

    def __init__(self, stream: Stream):
        self.stream = stream
        self.count = 0
        self.last_receive_ns: int | None = None
        self._history: deque[tuple[int, int]] = deque()

    def on_message(self, receive_ns: int) -> None:
        """Hot path: account one received message."""
        self.count += 1
        self.last_receive_ns = receive_ns

    def stale_after_ns(self) -> int:
        """Silence longer than this flags the stream as stale (ns)."""
        return max(STALE_MIN_NS, int(STALE_PERIODS * self.stream.period_ns))

    def sample(self, now_ns: int) -> StreamHealth:
        """Rate over the last window, staleness and state, as of ``now_ns``."""
        history = self._history
        history.append((now_ns, self.count))
        while len(history) > 2 and now_ns - history[1][0] >= RATE_WINDOW_NS:
            history.popleft()
        then_ns, then_count = history[0]
        window = now_ns - then_ns
        rate = (self.count - then_count) * 1e9 / window if window > 0 else 0.0
        nominal = self.stream.rate_hz
        silent_ns = None if self.last_receive_ns is None else max(0, now_ns - self.last_receive_ns)
        if self.last_receive_ns is None:
            state = "waiting"
        elif silent_ns > self.stale_after_ns():
            state = "stale"
        elif window >= RATE_WINDOW_NS // 2 and rate < SLOW_FRACTION * nominal:
            state = "slow"
        else:
            state = "ok"
        expected = nominal * window / 1e9
        missing = max(0, round(expected - (self.count - then_count))) if window >= RATE_WINDOW_NS // 2 else 0
        return StreamHealth(
            name=self.stream.name,
            topic=self.stream.topic,
            role=self.stream.role,
            required=self.stream.required,
            nominal_hz=nominal,
            rate_hz=rate,
            count=self.count,
            silent_s=None if silent_ns is None else silent_ns / 1e9,
            missing_in_window=missing,
            state=state,
        )


@dataclass(frozen=True, kw_only=True)
class StreamHealth:
    """One stream's health at one instant. ``silent_s`` is None before the first message."""

    name: str
    topic: str
    role: str
    required: bool
    nominal_hz: float
    rate_hz: float
    count: int
    silent_s: float | None
    missing_in_window: int
    state: str

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "topic": self.topic,
            "role": self.role,
            "required": self.required,
            "nominal_hz": self.nominal_hz,
            "rate_hz": round(self.rate_hz, 2),
            "count": self.count,
            "silent_s": None if self.silent_s is None else round(self.silent_s, 3),
            "missing_in_window": self.missing_in_window,
            "state": self.state,
        }


class HealthBoard:
    """The monitors of every stream of a rig."""

    def __init__(self, streams: tuple[Stream, ...]):
        self.monitors = {s.name: StreamMonitor(s) for s in streams}

    def snapshot(self, now_ns: int) -> list[StreamHealth]:
        return [monitor.sample(now_ns) for monitor in self.monitors.values()]


def problems(health: list[StreamHealth]) -> list[str]:
    """One human line per stream that is not healthy (required streams waiting count too)."""
    lines = []
    for item in health:
        if item.state == "stale":
            lines.append(f"{item.name} ({item.topic}) silent for {item.silent_s:.1f} s")
        elif item.state == "slow":
            lines.append(f"{item.name} ({item.topic}) at {item.rate_hz:.1f} Hz, nominal {item.nominal_hz:g} Hz")
        elif item.state == "waiting" and item.required:
            lines.append(f"{item.name} ({item.topic}) has sent nothing yet")
    return lines
