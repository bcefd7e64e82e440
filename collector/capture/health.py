"""Live stream health: rate vs nominal, staleness, drops, latency; what the status topic reports.

Hardware-free so it is unit-tested without ROS. The recorder's subscription
callbacks only bump two counters on a :class:`StreamMonitor` (the hot path), and
for a ``clock: header`` stream append the latency (receive - ``header.stamp``) of
some messages to a bounded queue; :meth:`HealthBoard.snapshot`, called by a
timer, turns them into rates, the recent median latency and flags.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from collector.latency import measures_latency
from collector.rig import Stream, SyncLimits

# A stream is stale when silent for this many nominal periods, and at least this long.
STALE_PERIODS = 5.0
STALE_MIN_NS = 300_000_000
# Below this fraction of the nominal rate (over the rate window) a stream is "slow".
SLOW_FRACTION = 0.9
RATE_WINDOW_NS = 1_000_000_000
# About this many latencies a second are enough for a live median: a faster stream's
# callback reads the stamp of every latency_stride-th message only.
LATENCY_SAMPLES_HZ = 50.0

STATES = ("waiting", "ok", "slow", "stale")
# Latency of the recent messages: not measured (""), fine, above the rig's sync.max_latency_ms,
# or stamps ahead of the receive time by more than sync.clock_tolerance_ms (clock not synchronised).
LATENCY_STATES = ("", "ok", "high", "ahead")


class StreamMonitor:
    """Counters one subscription callback updates: message count, last receive time, latencies.

    ``measures_latency`` says whether the callback should pass ``header.stamp`` (a
    ``clock: header`` stream with a header), and ``latency_stride`` how often: for
    the messages it is called with while ``count`` is a multiple of it, so about
    :data:`LATENCY_SAMPLES_HZ` a second at the nominal rate. The latencies of the last
    second's worth of those are kept. ``sync``: the rig's limits (``max_latency_ms``,
    ``clock_tolerance_ms``); the defaults when None.
    """

    __slots__ = ("stream", "count", "last_receive_ns", "measures_latency", "latency_stride", "_history",
                 "_latencies", "_max_latency_ns", "_ahead_below_ns")

    def __init__(self, stream: Stream, sync: SyncLimits | None = None):
        sync = sync or SyncLimits()
        self.stream = stream
        self.count = 0
        self.last_receive_ns: int | None = None
        self.measures_latency = measures_latency(stream)
        self.latency_stride = max(1, int(stream.rate_hz // LATENCY_SAMPLES_HZ))
        self._history: deque[tuple[int, int]] = deque()
        per_window = stream.rate_hz * RATE_WINDOW_NS / 1e9 / self.latency_stride
        self._latencies: deque[int] = deque(maxlen=max(1, round(per_window)))
        self._max_latency_ns = sync.max_latency_ms * 1e6
        self._ahead_below_ns = -sync.clock_tolerance_ms * 1e6

    def on_message(self, receive_ns: int, stamp_ns: int | None = None) -> None:
        """Hot path: account one message received at ``receive_ns``, stamped ``stamp_ns`` (int ns).

        ``stamp_ns``: its ``header.stamp`` when :attr:`measures_latency` (None or 0: not known).
        """
        self.count += 1
        self.last_receive_ns = receive_ns
        if stamp_ns:
            self._latencies.append(receive_ns - stamp_ns)

    def recent_latency_ns(self) -> int | None:
        """Median latency (ns) of the recent stamped messages (about a second's worth); None if none."""
        # sorted() copies the deque in C without releasing the GIL: the callback cannot append mid-copy
        recent = sorted(self._latencies)
        return recent[len(recent) // 2] if recent else None

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
        latency_ns = self.recent_latency_ns()
        if latency_ns is None:
            latency_state = ""
        elif latency_ns > self._max_latency_ns:
            latency_state = "high"
        elif latency_ns < self._ahead_below_ns:
            latency_state = "ahead"
        else:
            latency_state = "ok"
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
            latency_ms=None if latency_ns is None else latency_ns / 1e6,
            latency_state=latency_state,
            max_latency_ms=self._max_latency_ns / 1e6,
        )


@dataclass(frozen=True, kw_only=True)
class StreamHealth:
    """One stream's health at one instant. ``silent_s`` is None before the first message.

    ``latency_ms`` is the median receive - ``header.stamp`` of the recent messages
    (None: not measured, or no message yet); ``latency_state`` is one of
    :data:`LATENCY_STATES`, judged against ``max_latency_ms`` (the rig's limit).
    """

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
    latency_ms: float | None = None
    latency_state: str = ""
    max_latency_ms: float | None = None

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
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 3),
            "latency_state": self.latency_state,
        }


class HealthBoard:
    """The monitors of every stream of a rig; ``sync``: the rig's limits (defaults when None)."""

    def __init__(self, streams: tuple[Stream, ...], sync: SyncLimits | None = None):
        self.monitors = {s.name: StreamMonitor(s, sync) for s in streams}

    def snapshot(self, now_ns: int) -> list[StreamHealth]:
        return [monitor.sample(now_ns) for monitor in self.monitors.values()]


def problems(health: list[StreamHealth]) -> list[str]:
    """Human lines for streams that are not healthy (required streams waiting count too).

    One line for the flow (stale, slow, waiting) and one for the latency (high, or stamps
    ahead of the receive time) of a stream that is not stale.
    """
    lines = []
    for item in health:
        where = f"{item.name} ({item.topic})"
        if item.state == "stale":
            lines.append(f"{where} silent for {item.silent_s:.1f} s")
            continue
        if item.state == "slow":
            lines.append(f"{where} at {item.rate_hz:.1f} Hz, nominal {item.nominal_hz:g} Hz")
        elif item.state == "waiting" and item.required:
            lines.append(f"{where} has sent nothing yet")
        if item.latency_state == "high":
            lines.append(f"{where} latency {item.latency_ms:.1f} ms, above the rig's sync.max_latency_ms "
                         f"{item.max_latency_ms:g} ms")
        elif item.latency_state == "ahead":
            lines.append(f"{where} header.stamp {-item.latency_ms:.1f} ms ahead of the receive time: "
                         "its clock is not synchronised with this host")
    return lines
