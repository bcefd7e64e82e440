"""Transport latency of a stream on a synchronised clock: receive time - ``header.stamp``.

A stream declared ``clock: header`` stamps its messages on the recording host's
clock (or one synchronised to it), so ``receive - stamp`` is what capture,
driver and transport took. The recorder measures it for every message, in its
hot path: :class:`LatencyHistogram` costs one logarithm and a list increment per
message, holds a fixed number of counters whatever the episode's length, and
gives quantiles within :data:`RELATIVE_ERROR` of the exact ones (min and max exact).
Sync, which has every message's times at once, summarises them exactly
(:func:`latency_stats`); for a fitted device clock the latency it reports is
estimated (receive minus the mapped capture time).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from collector.bag.msgdef import has_header
from collector.rig import Stream

# Bins are log-spaced: bin j of each sign holds |latency| in [GROWTH**j, GROWTH**(j+1)) ns,
# reported as its geometric middle, so a quantile is off by at most sqrt(GROWTH) - 1.
GROWTH = 1.02
RELATIVE_ERROR = math.sqrt(GROWTH) - 1  # 0.995 %
_SCALE = 1.0 / math.log(GROWTH)
_BINS = int(64 * math.log(2) * _SCALE) + 1  # per sign: every |latency| < 2**64 ns (any two int64 times)
_ZERO = _BINS  # index of the bin of latency 0; negative latencies below it, positive above
_log = math.log


def measures_latency(stream: Stream) -> bool:
    """Whether a stream's latency is measured: ``clock: header`` and a type with a header."""
    return stream.clock == "header" and has_header(stream.type)


@dataclass(frozen=True, kw_only=True)
class LatencySummary:
    """Latency of a stream over an episode, as ``episode.json`` holds it (``latency_ms``).

    ``min`` / ``median`` / ``p99`` / ``max`` are receive - ``header.stamp`` in ms (min and
    max exact, the quantiles within :data:`RELATIVE_ERROR`), over ``count`` messages;
    ``ahead`` counts the messages stamped later than their receive time by more than the
    rig's ``sync.clock_tolerance_ms``: evidence that the stamp's clock is not synchronised.
    """

    count: int
    min: float
    median: float
    p99: float
    max: float
    ahead: int


class LatencyHistogram:
    """Counts of latencies (int ns, any sign) in log-spaced bins, with exact min and max.

    ``clock_tolerance_ns``: a latency below ``-clock_tolerance_ns`` counts as ``ahead``.
    Latencies must be differences of two int64 times (``|latency| < 2**64``).
    """

    __slots__ = ("counts", "min_ns", "max_ns", "ahead", "_ahead_below_ns")

    def __init__(self, clock_tolerance_ns: int = 5_000_000):
        self.counts = [0] * (2 * _BINS + 1)
        self.min_ns = 1 << 64
        self.max_ns = -(1 << 64)
        self.ahead = 0
        self._ahead_below_ns = -clock_tolerance_ns

    def add(self, latency_ns: int) -> None:
        """Hot path: account one message's ``receive - stamp`` (int ns)."""
        if latency_ns > 0:
            self.counts[_ZERO + 1 + int(_log(latency_ns) * _SCALE)] += 1
        elif latency_ns < 0:
            self.counts[_ZERO - 1 - int(_log(-latency_ns) * _SCALE)] += 1
            if latency_ns < self._ahead_below_ns:
                self.ahead += 1
        else:
            self.counts[_ZERO] += 1
        if latency_ns < self.min_ns:
            self.min_ns = latency_ns
        if latency_ns > self.max_ns:
            self.max_ns = latency_ns

    @property
    def count(self) -> int:
        return sum(self.counts)

    def quantiles(self, *qs: float) -> list[float]:
        """The ``q``-quantiles (0 <= q <= 1) in ns: for each, the ``ceil(q * count)``-th smallest latency.

        That is numpy's ``method="inverted_cdf"``. Each is within :data:`RELATIVE_ERROR` of the
        exact value (q = 0 and q = 1 are the exact min and max).

        Raises:
            ValueError: no latency was added, or a q is outside [0, 1].
        """
        cumulative = list(accumulate(self.counts))
        total = cumulative[-1]
        if total == 0:
            raise ValueError("no latency measured")
        values = []
        for q in qs:
            if not 0.0 <= q <= 1.0:
                raise ValueError(f"quantile {q!r} is not within [0, 1]")
            rank = max(1, math.ceil(q * total))
            if rank == 1:
                values.append(float(self.min_ns))
            elif rank == total:
                values.append(float(self.max_ns))
            else:
                index = bisect_left(cumulative, rank)
                values.append(float(min(max(_middle(index), self.min_ns), self.max_ns)))
        return values

    def summary(self) -> LatencySummary | None:
        """What ``episode.json`` keeps (ms, rounded to the µs); None when nothing was measured."""
        count = self.count
        if count == 0:
            return None
        median, p99 = self.quantiles(0.5, 0.99)
        return LatencySummary(count=count, min=_ms(self.min_ns), median=_ms(median), p99=_ms(p99),
                              max=_ms(self.max_ns), ahead=self.ahead)


@dataclass(frozen=True, kw_only=True)
class LatencyStats:
    """Latency over a stream's messages (ns), exact: what sync reports.

    Attributes:
        count: messages it is computed over.
        min_ns, median_ns, p99_ns, max_ns: the distribution.
        measured: True when measured against trusted stamps, False when estimated
            through a fitted clock.
    """

    count: int
    min_ns: float
    median_ns: float
    p99_ns: float
    max_ns: float
    measured: bool

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "min_ms": round(self.min_ns / 1e6, 6),
                "median_ms": round(self.median_ns / 1e6, 6), "p99_ms": round(self.p99_ns / 1e6, 6),
                "max_ms": round(self.max_ns / 1e6, 6), "measured": self.measured}


def latency_stats(latency_ns, *, measured: bool) -> LatencyStats | None:
    """The exact distribution of ``latency_ns`` (array, one value per message), None when empty."""
    import numpy as np  # lazy: the recorder's hot-path histogram above needs no numpy

    values = np.asarray(latency_ns, dtype=np.float64)
    if len(values) == 0:
        return None
    low, median, p99, high = np.percentile(values, [0, 50, 99, 100])
    return LatencyStats(count=len(values), min_ns=float(low), median_ns=float(median), p99_ns=float(p99),
                        max_ns=float(high), measured=measured)


def _middle(index: int) -> float:
    """The value (ns) a bin stands for: the geometric middle of its bounds."""
    if index == _ZERO:
        return 0.0
    if index > _ZERO:
        return math.exp((index - _ZERO - 1 + 0.5) / _SCALE)
    return -math.exp((_ZERO - 1 - index + 0.5) / _SCALE)


def _ms(value_ns: float) -> float:
    return round(value_ns / 1e6, 3)
