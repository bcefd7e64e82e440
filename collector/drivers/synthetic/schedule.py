"""The ordered publish events of a rig's streams, faults applied."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping
from fractions import Fraction
from typing import NamedTuple

import numpy as np

from collector.drivers.synthetic.base import NS_PER_S, SyntheticError, _number
from collector.drivers.synthetic.faults import StreamFaults
from collector.drivers.synthetic.signals import _rng
from collector.rig import ROLES, Stream


class Event(NamedTuple):
    """One message of one stream: when it is due and what it claims.

    ``due_ns`` is when to publish it (true capture time + latency, + the delay of a
    late message), ``true_ns`` the true capture time, ``stamp_ns`` its (faulty)
    ``header.stamp``, all system-clock ns. ``published`` is False for a dropped
    message. ``corrupt`` is what is wrong inside it: "" (nothing), "nan", "inf" or
    "bad_step" (see :class:`StreamFaults`).
    """

    due_ns: int
    stream: Stream
    seq: int
    true_ns: int
    stamp_ns: int
    published: bool
    corrupt: str = ""


_NOISE_BLOCK = 1024
# Salts of the per-stream generators: phase (1) and noise (2) here, latency (3) in
# synthetic_episode; corruption and late messages draw from their own so that adding
# them changes nothing else.
_CORRUPT_SALT = 5
_LATE_SALT = 6
_IMAGE_ROLES = ("camera", "depth")
_NUMERIC_ROLES = ("joint_state", "gripper", "hand", "action", "imu", "wrench", "tactile")


class _StreamClock:
    """Capture times, stamps and drop decisions of one stream."""

    def __init__(self, stream: Stream, rate_hz: float, faults: StreamFaults, start_ns: int, seed: int):
        self.stream = stream
        self.faults = faults
        self.start_ns = start_ns
        rate = Fraction(rate_hz).limit_denominator(1_000_000)
        self._num, self._den = rate.numerator, rate.denominator
        period_ns = round(NS_PER_S / rate_hz)
        self._first_ns = start_ns + int(_rng(seed, stream.name, 1).integers(0, max(1, period_ns)))
        self._end_ns = None if faults.silent_after_s is None else start_ns + round(faults.silent_after_s * NS_PER_S)
        self._noise = _rng(seed, stream.name, 2)
        self._uniform = self._normal = np.empty(0)
        self._next = 0
        self._corrupt = _rng(seed, stream.name, _CORRUPT_SALT) if faults.corrupts else None
        self._late = _rng(seed, stream.name, _LATE_SALT) if faults.late_rate else None

    def event(self, seq: int) -> Event | None:
        """Event number ``seq`` (from 0), or None once the stream has gone silent."""
        true_ns = self._first_ns + seq * NS_PER_S * self._den // self._num
        if self._end_ns is not None and true_ns >= self._end_ns:
            return None
        if self._next == len(self._uniform):
            self._uniform = self._noise.random(_NOISE_BLOCK)
            self._normal = self._noise.standard_normal(_NOISE_BLOCK)
            self._next = 0
        uniform, normal = self._uniform[self._next], self._normal[self._next]
        self._next += 1
        stamp_ns = self.faults.stamp_ns(true_ns, self.start_ns, float(normal))
        published = bool(uniform >= self.faults.drop_rate)
        due_ns = true_ns + self.faults.latency_ns
        if self._late is not None and self._late.random() < self.faults.late_rate:
            due_ns += self.faults.late_ns
        corrupt = self.faults.corruption(float(self._corrupt.random())) if self._corrupt is not None else ""
        return Event(due_ns, self.stream, seq, true_ns, stamp_ns, published, corrupt)

    def events(self) -> Iterator[Event]:
        """The stream's events by due time (a late message after the newer ones it is due after)."""
        if self._late is None:
            seq = 0
            while (event := self.event(seq)) is not None:
                yield event
                seq += 1
            return
        # Every later capture is due at or after its own on-time due (true + latency):
        # a pending event due no later than the newest on-time due can go out.
        pending: list[tuple[int, int, Event]] = []
        seq, frontier, more = 0, None, True
        while True:
            while more and (not pending or frontier is None or pending[0][0] > frontier):
                event = self.event(seq)
                if event is None:
                    more = False
                    break
                heapq.heappush(pending, (event.due_ns, seq, event))
                frontier = event.true_ns + self.faults.latency_ns
                seq += 1
            if not pending:
                return
            yield heapq.heappop(pending)[2]


class Schedule:
    """The ordered messages of a rig's streams, faults applied, from ``start_ns`` on.

    Each stream's first capture is at a seeded phase within one period after
    ``start_ns``; then every ``1 / rate`` exactly (the true clock). Drops and jitter
    come from a generator seeded by ``seed`` and the stream name, so a stream's
    events do not change when other streams are added. A late message comes after
    the newer messages of its stream that are due before it.

    Args:
        streams: the rig streams to publish.
        start_ns: schedule start (system clock, ns); drift counts from here.
        faults: per stream name; streams not named are perfect.
        seed: seeds phases, drops and jitter.
        rate_scale: per role, a factor on the nominal rate (e.g. ``{"camera": 2.0}``).

    Raises:
        SyntheticError: for faults or rate scales naming unknown streams or roles,
            a non-positive scale, or a fault the stream's role cannot have.
    """

    def __init__(self, streams: Iterable[Stream], *, start_ns: int, faults: Mapping[str, StreamFaults] | None = None,
                 seed: int = 0, rate_scale: Mapping[str, float] | None = None):
        self.streams = tuple(streams)
        self.start_ns = int(start_ns)
        faults = dict(faults or {})
        rate_scale = dict(rate_scale or {})
        names = [s.name for s in self.streams]
        unknown = sorted(set(faults) - set(names))
        if unknown:
            raise SyntheticError(
                f"faults for unknown stream(s) {', '.join(map(repr, unknown))} (streams: {', '.join(names)})"
            )
        for role, scale in rate_scale.items():
            if role not in ROLES:
                raise SyntheticError(f"rate_scale: unknown role {role!r} (roles: {', '.join(ROLES)})")
            if not _number(scale, f"rate_scale.{role}") > 0:
                raise SyntheticError(f"rate_scale.{role}: expected a positive number, got {scale!r}")
        self.faults = {name: faults.get(name, StreamFaults()) for name in names}
        for stream in self.streams:
            _check_role(stream, self.faults[stream.name])
        self.rates_hz = {s.name: s.rate_hz * rate_scale.get(s.role, 1.0) for s in self.streams}
        self._clocks = [
            _StreamClock(s, self.rates_hz[s.name], self.faults[s.name], self.start_ns, seed) for s in self.streams
        ]

    def __iter__(self) -> Iterator[Event]:
        """Events by due time (ties: rig stream order); endless unless every stream goes silent."""
        streams = [clock.events() for clock in self._clocks]
        heap = []
        for index, events in enumerate(streams):
            event = next(events, None)
            if event is not None:
                heap.append((event.due_ns, index, event))
        heapq.heapify(heap)
        while heap:
            _, index, event = heap[0]
            following = next(streams[index], None)
            if following is None:
                heapq.heappop(heap)
            else:
                heapq.heapreplace(heap, (following.due_ns, index, following))
            yield event

    def until(self, end_ns: int) -> Iterator[Event]:
        """The events due before ``end_ns`` (ns)."""
        for event in self:
            if event.due_ns >= end_ns:
                return
            yield event


def _check_role(stream: Stream, faults: StreamFaults) -> None:
    """Refuse content faults a stream's role cannot have (NaN in an image, a step in a JointState)."""
    if stream.role not in _NUMERIC_ROLES and (faults.nan_rate or faults.inf_rate):
        raise SyntheticError(f"faults.{stream.name}: nan_rate/inf_rate need a numeric stream, "
                             f"not role {stream.role!r}")
    if stream.role not in _IMAGE_ROLES and (faults.encoding or faults.width or faults.height
                                            or faults.bad_step_rate):
        raise SyntheticError(f"faults.{stream.name}: encoding/width/height/bad_step_rate need a camera or "
                             f"depth stream, not role {stream.role!r}")
