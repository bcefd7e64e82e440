"""The ordered publish events of a rig's streams, faults applied."""

from __future__ import annotations

import heapq
from fractions import Fraction
from typing import Iterable, Iterator, Mapping, NamedTuple

import numpy as np

from collector.drivers.synthetic.base import NS_PER_S, SyntheticError, _number
from collector.drivers.synthetic.faults import StreamFaults
from collector.drivers.synthetic.signals import _rng
from collector.rig import ROLES, Stream


class Event(NamedTuple):
    """One message of one stream: when it is due and what it claims.

    ``due_ns`` is when to publish it (true capture time + latency), ``true_ns`` the
    true capture time, ``stamp_ns`` its (faulty) ``header.stamp``, all system-clock
    ns. ``published`` is False for a dropped message.
    """

    due_ns: int
    stream: Stream
    seq: int
    true_ns: int
    stamp_ns: int
    published: bool


_NOISE_BLOCK = 1024


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
        return Event(true_ns + self.faults.latency_ns, self.stream, seq, true_ns, stamp_ns, published)


class Schedule:
    """The ordered messages of a rig's streams, faults applied, from ``start_ns`` on.

    Each stream's first capture is at a seeded phase within one period after
    ``start_ns``; then every ``1 / rate`` exactly (the true clock). Drops and jitter
    come from a generator seeded by ``seed`` and the stream name, so a stream's
    events do not change when other streams are added.

    Args:
        streams: the rig streams to publish.
        start_ns: schedule start (system clock, ns); drift counts from here.
        faults: per stream name; streams not named are perfect.
        seed: seeds phases, drops and jitter.
        rate_scale: per role, a factor on the nominal rate (e.g. ``{"camera": 2.0}``).

    Raises:
        SyntheticError: for faults or rate scales naming unknown streams or roles,
            or a non-positive scale.
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
        self.rates_hz = {s.name: s.rate_hz * rate_scale.get(s.role, 1.0) for s in self.streams}
        self._clocks = [
            _StreamClock(s, self.rates_hz[s.name], self.faults[s.name], self.start_ns, seed) for s in self.streams
        ]

    def __iter__(self) -> Iterator[Event]:
        """Events by due time (ties: rig stream order); endless unless every stream goes silent."""
        heap = []
        for index, clock in enumerate(self._clocks):
            event = clock.event(0)
            if event is not None:
                heap.append((event.due_ns, index, event))
        heapq.heapify(heap)
        while heap:
            _, index, event = heap[0]
            following = self._clocks[index].event(event.seq + 1)
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
