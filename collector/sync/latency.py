"""Transport latency of a stream: receive time minus capture time, per message.

For a stream whose stamps are on the recording host's clock (``clock: header``,
trusted) the latency is measured: ``receive - header.stamp``. For a fitted device
clock it is estimated (``receive`` minus the mapped capture time, which includes
the rig's known latency) and says how far the fit is from each message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

NS_PER_MS = 1e6


@dataclass(frozen=True, kw_only=True)
class LatencyStats:
    """Latency over a stream's messages (ns).

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
        return {"count": self.count, "min_ms": round(self.min_ns / NS_PER_MS, 6),
                "median_ms": round(self.median_ns / NS_PER_MS, 6), "p99_ms": round(self.p99_ns / NS_PER_MS, 6),
                "max_ms": round(self.max_ns / NS_PER_MS, 6), "measured": self.measured}


def latency_stats(latency_ns: np.ndarray, *, measured: bool) -> LatencyStats | None:
    """The distribution of ``latency_ns`` (one value per message), None when empty."""
    values = np.asarray(latency_ns, dtype=np.float64)
    if len(values) == 0:
        return None
    low, median, p99, high = np.percentile(values, [0, 50, 99, 100])
    return LatencyStats(count=len(values), min_ns=float(low), median_ns=float(median), p99_ns=float(p99),
                        max_ns=float(high), measured=measured)
