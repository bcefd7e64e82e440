"""Replay of a raw episode, without ROS: settings, QoS choice, and the player's timing.

:class:`Player` sends messages at the wall-clock deadlines their log (receive)
times give: ``deadline = pass start + (log_time - first_log_time - offset) / rate``.
A message whose deadline has passed is sent at once and its lag counted; messages
are never reordered or dropped. The clock, the sleep and the outlets are injected,
so the timing is tested without ROS; the node (``replay_node``) only wires them
to publishers.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from collector.bag.metadata import QosProfile
from collector.errors import BagError, CollectorError

NS_PER_S = 1_000_000_000
CLOCK_PERIOD_NS = 10_000_000  # /clock at 100 Hz, like `ros2 bag play --clock 100`
LATE_NS = 1_000_000  # a message more than 1 ms behind its deadline counts as late
POLL_S = 0.1  # longest sleep, so that stop() is honoured quickly
DEFAULT_QOS = QosProfile(reliability="reliable", durability="volatile", history="keep_last", depth=10)


class ReplayError(CollectorError, ValueError):
    """A replay setting is invalid, or the episode does not hold what was asked for."""


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ReplayError(f"{name}: expected a number, got {value!r}")
    return float(value)


@dataclass(frozen=True, kw_only=True)
class ReplayConfig:
    """Settings of the replay node (its ROS parameters).

    Attributes:
        episode: path of the raw episode (a rosbag2 MCAP directory, or one ``.mcap`` file).
        rate: speed factor (> 0; 2.0 plays twice as fast).
        loop: start over after the last message, until stopped.
        start_offset_s: skip the first seconds of the episode (s, >= 0).
        topics: the topics to play (empty: all); a comma separated string is split.
        clock: also publish ``/clock`` (rosgraph_msgs/Clock) at the replayed log time, ~100 Hz.
        wait_for_subscribers_s: before playing, wait up to this long (s, >= 0) for every
            played topic (``/clock`` too, with ``clock``) to have a subscriber; then play
            anyway (0: start at once).

    Raises:
        ReplayError: on construction, naming the field and the bad value.
    """

    episode: str = ""
    rate: float = 1.0
    loop: bool = False
    start_offset_s: float = 0.0
    topics: tuple[str, ...] = ()
    clock: bool = False
    wait_for_subscribers_s: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.episode, str) or not self.episode:
            raise ReplayError(f"episode: expected the path of a raw episode, got {self.episode!r}")
        if not 0 < _number(self.rate, "rate") < math.inf:
            raise ReplayError(f"rate: expected a positive number, got {self.rate!r}")
        for name in ("start_offset_s", "wait_for_subscribers_s"):
            if not 0 <= _number(getattr(self, name), name) < math.inf:
                raise ReplayError(f"{name}: expected a number >= 0, got {getattr(self, name)!r}")
        for name in ("loop", "clock"):
            if not isinstance(getattr(self, name), bool):
                raise ReplayError(f"{name}: expected true or false, got {getattr(self, name)!r}")
        object.__setattr__(self, "topics", parse_topics(self.topics))

    @property
    def start_offset_ns(self) -> int:
        return round(self.start_offset_s * NS_PER_S)


def parse_topics(value: str | Iterable[str]) -> tuple[str, ...]:
    """Topic names from ``"/a, /b"`` or ``["/a", "/b"]``; empty entries dropped, order kept.

    Raises:
        ReplayError: the value is neither a string nor a list of strings, or a name
            does not start with ``/``.
    """
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, Iterable) and all(isinstance(item, str) for item in value):
        items = list(value)
    else:
        raise ReplayError(f"topics: expected topic names (a list or comma separated), got {value!r}")
    names = tuple(dict.fromkeys(name.strip() for name in items if name.strip()))
    bad = [name for name in names if not name.startswith("/")]
    if bad:
        raise ReplayError(f"topics: {bad[0]!r} is not an absolute topic name (starts with '/')")
    return names


def config_from_parameters(values: Mapping[str, Any]) -> ReplayConfig:
    """The one place ROS parameter values become a :class:`ReplayConfig`.

    ROS hands ``-p rate:=2`` over as an int and an unset string as None; both are
    accepted here. Raises ReplayError as :class:`ReplayConfig` does.
    """
    converted = {}
    for item in dataclasses.fields(ReplayConfig):
        value = values.get(item.name, item.default)
        if value is None and isinstance(item.default, (str, tuple)):
            value = ""  # `-p topics:=` gives no value
        elif isinstance(item.default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        converted[item.name] = value
    return ReplayConfig(**converted)


def select_topics(available: Sequence[str], wanted: Sequence[str], episode: str) -> list[str]:
    """The topics to play: ``wanted`` (all of ``available`` when empty), in episode order.

    Raises:
        ReplayError: a wanted topic is not in the episode (names it and the episode's topics).
    """
    unknown = [name for name in wanted if name not in available]
    if unknown:
        raise ReplayError(f"topics: {', '.join(map(repr, unknown))} not in episode {episode} "
                          f"(topics: {', '.join(available) or 'none'})")
    return [name for name in available if not wanted or name in wanted]


def replay_qos(profiles: Sequence[Mapping[str, Any]]) -> QosProfile:
    """The QoS to publish a topic with, from its recorded offered profiles (rosbag2 v9 dicts).

    One profile, or several that agree, is used as recorded; none, disagreeing ones
    (several publishers) or unrepresentable ones (``system_default``) give
    :data:`DEFAULT_QOS`, reliable depth 10, as ``ros2 bag play`` falls back to its default.
    """
    try:
        chosen = {QosProfile.from_metadata(entry) for entry in profiles}
    except BagError:
        return DEFAULT_QOS
    return chosen.pop() if len(chosen) == 1 else DEFAULT_QOS


# --------------------------------------------------------------------------- the player


class Message(Protocol):
    """What the player needs of a recorded message (``collector.bag.reader.BagMessage`` fits)."""

    topic: str
    log_time_ns: int
    data: bytes


@dataclass(kw_only=True)
class ReplayStats:
    """What a replay did.

    Attributes:
        messages: messages sent per topic.
        passes: passes begun over the episode (more than 1 only with ``loop``).
        late: messages sent more than :data:`LATE_NS` after their deadline.
        max_lag_ns: the largest lag behind a deadline (int ns).
        clock_messages: ``/clock`` messages sent.
    """

    messages: dict[str, int] = field(default_factory=dict)
    passes: int = 0
    late: int = 0
    max_lag_ns: int = 0
    clock_messages: int = 0

    @property
    def total(self) -> int:
        return sum(self.messages.values())

    def summary(self) -> str:
        """One line for the log: counts per topic, lateness, passes."""
        per_topic = ", ".join(f"{topic} {count}" for topic, count in self.messages.items()) or "none"
        return (f"{self.total} messages ({per_topic}) in {self.passes} pass(es); {self.late} late, "
                f"max lag {self.max_lag_ns / 1e6:.1f} ms; {self.clock_messages} /clock messages")


class Player:
    """Plays messages with their recorded relative timing.

    Args:
        messages: returns a fresh iterator over the recorded messages in log-time
            order; called once per pass.
        publish: ``publish(topic, data)`` sends one message.
        rate: speed factor (> 0).
        start_offset_ns: skip messages logged earlier than ``origin_ns + start_offset_ns`` (int ns).
        origin_ns: log time the episode starts at (int ns); default the log time of
            the first message a pass yields.
        loop: start another pass after the last message, until :meth:`stop`.
        publish_clock: ``publish_clock(log_time_ns)`` sends the replayed time; None: no clock.
        clock_period_ns: how often the replayed time is sent (int ns, > 0).
        now_ns: a monotonic clock (int ns).
        sleep: sleeps the given seconds (returns early at will: the player re-checks).

    Raises:
        ReplayError: ``rate`` or ``clock_period_ns`` is not positive, or ``start_offset_ns`` is negative.
    """

    def __init__(self, messages: Callable[[], Iterable[Message]], publish: Callable[[str, bytes], None], *,
                 rate: float = 1.0, start_offset_ns: int = 0, origin_ns: int | None = None, loop: bool = False,
                 publish_clock: Callable[[int], None] | None = None, clock_period_ns: int = CLOCK_PERIOD_NS,
                 now_ns: Callable[[], int] = time.monotonic_ns, sleep: Callable[[float], None] = time.sleep):
        if not 0 < _number(rate, "rate") < math.inf:
            raise ReplayError(f"rate: expected a positive number, got {rate!r}")
        if start_offset_ns < 0:
            raise ReplayError(f"start_offset_ns: expected int ns >= 0, got {start_offset_ns!r}")
        if clock_period_ns <= 0:
            raise ReplayError(f"clock_period_ns: expected int ns > 0, got {clock_period_ns!r}")
        self._messages = messages
        self._publish = publish
        self.rate = float(rate)
        self.start_offset_ns = start_offset_ns
        self.origin_ns = origin_ns
        self.loop = loop
        self._publish_clock = publish_clock
        self._clock_period_ns = clock_period_ns
        self._now_ns = now_ns
        self._sleep = sleep
        self._stop = threading.Event()
        self._next_clock_ns = 0
        self.stats = ReplayStats()

    def stop(self) -> None:
        """Ask :meth:`run` (maybe on another thread) to return soon (within :data:`POLL_S`)."""
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def wait_until(self, ready: Callable[[], bool], timeout_s: float) -> bool:
        """Poll ``ready()`` every 10 ms for up to ``timeout_s`` seconds; True as soon as it holds."""
        end_ns = self._now_ns() + round(timeout_s * NS_PER_S)
        while not self._stop.is_set():
            if ready():
                return True
            remaining_ns = end_ns - self._now_ns()
            if remaining_ns <= 0:
                return False
            self._sleep(min(remaining_ns / NS_PER_S, 0.01))
        return False

    def run(self) -> ReplayStats:
        """Play one pass (or passes until :meth:`stop` with ``loop``); returns :attr:`stats`.

        Each pass starts where the previous one's last message was due, so looping
        keeps the recorded spacing and does not drift.
        """
        pass_start_ns = self._now_ns()
        while not self._stop.is_set():
            played_ns = self._play_pass(pass_start_ns)
            if played_ns is None or not self.loop:
                break
            # a one-instant episode would otherwise loop as fast as the CPU goes
            pass_start_ns += max(played_ns, LATE_NS)
        return self.stats

    def _play_pass(self, start_wall_ns: int) -> int | None:
        """One pass from ``start_wall_ns``; returns its scheduled length (ns), None if it sent nothing."""
        self.stats.passes += 1
        first_log_ns = None
        last_due_ns = None
        for message in self._messages():
            if first_log_ns is None:
                origin = message.log_time_ns if self.origin_ns is None else self.origin_ns
                first_log_ns = origin + self.start_offset_ns
            if message.log_time_ns < first_log_ns:
                continue
            due_ns = round((message.log_time_ns - first_log_ns) / self.rate)
            if not self._wait(start_wall_ns, due_ns, first_log_ns):
                return None
            lag_ns = self._now_ns() - start_wall_ns - due_ns
            if lag_ns > LATE_NS:
                self.stats.late += 1
            self.stats.max_lag_ns = max(self.stats.max_lag_ns, lag_ns)
            self._publish(message.topic, message.data)
            self.stats.messages[message.topic] = self.stats.messages.get(message.topic, 0) + 1
            last_due_ns = due_ns
        return last_due_ns

    def _wait(self, start_wall_ns: int, due_ns: int, first_log_ns: int) -> bool:
        """Sleep until ``start_wall_ns + due_ns``, sending the clock on the way; False if stopped."""
        while True:
            if self._stop.is_set():
                return False
            elapsed_ns = self._now_ns() - start_wall_ns
            if self._publish_clock is not None and self._now_ns() >= self._next_clock_ns:
                self._publish_clock(first_log_ns + round(max(elapsed_ns, 0) * self.rate))
                self.stats.clock_messages += 1
                self._next_clock_ns = self._now_ns() + self._clock_period_ns
            remaining_ns = due_ns - elapsed_ns
            if remaining_ns <= 0:
                return True
            if self._publish_clock is not None:
                remaining_ns = min(remaining_ns, max(self._next_clock_ns - self._now_ns(), 0))
            self._sleep(min(remaining_ns / NS_PER_S, POLL_S))
