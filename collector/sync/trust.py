"""Whether a ``clock: header`` stream's stamps really are on the recording host's clock.

A synchronised stamp (host clock, PTP, chrony) is never later than its receive
time by more than the clocks' residual disagreement, and its latency (receive -
stamp) is transport delay: milliseconds, rarely more than a few hundred. Two kinds
of evidence prove a clock is *not* synchronised:

* stamps later than their receive times by more than ``sync.clock_tolerance_ms``,
  on more than a few messages (one corrupt stamp proves nothing);
* a stretch of the stream between clock jumps whose median latency exceeds
  ``sync.max_latency_ms`` (a clock behind the host, or one that jumped back).
  Latency bursts touch a minority of messages and do not move the median.

A clock that looks synchronised is never fitted: fitting would read the transport
latency as a clock offset. Without evidence the stamps are used as they are.
"""

from __future__ import annotations

import numpy as np

from collector.rig import SyncLimits
from collector.sync.clock import find_clock_jumps
from collector.sync.config import NS_PER_MS

AHEAD_MIN_MESSAGES = 3  # stamps ahead of receive needed as evidence (and at least ...
AHEAD_MIN_SHARE = 0.005  # ... this share of the stamped messages)


def unsynchronised_evidence(receive_ns: np.ndarray, stamp_ns: np.ndarray, used: np.ndarray, *,
                            period_ns: float, limits: SyncLimits) -> str | None:
    """Why these stamps cannot be on the host's clock, or None when they may be.

    ``used`` marks the messages to judge (stamped, usable). The answer is one
    clause naming the evidence, the measured values and the rig setting.
    """
    receive_ns = np.asarray(receive_ns, dtype=np.int64)
    stamp_ns = np.asarray(stamp_ns, dtype=np.int64)
    used = np.asarray(used, dtype=bool) & (stamp_ns != 0)
    index = np.flatnonzero(used)
    if len(index) == 0:
        return None
    latency = receive_ns[index] - stamp_ns[index]
    tolerance = limits.clock_tolerance_ms * NS_PER_MS
    ahead = latency < -tolerance
    if ahead.sum() >= max(AHEAD_MIN_MESSAGES, AHEAD_MIN_SHARE * len(index)):
        return (f"{int(ahead.sum())} of {len(index)} stamps are later than their receive time, by up to "
                f"{-latency.min() / NS_PER_MS:.1f} ms (sync.clock_tolerance_ms={limits.clock_tolerance_ms:g})")
    limit = limits.max_latency_ms * NS_PER_MS
    cuts = find_clock_jumps(receive_ns, stamp_ns, used, period_ns=period_ns,
                            jump_threshold_ns=limits.jump_ms * NS_PER_MS)
    bounds = np.searchsorted(index, [0, *cuts, len(receive_ns)])
    for begin, end in zip(bounds[:-1], bounds[1:]):
        if end <= begin:
            continue
        median = float(np.median(latency[begin:end]))
        if median > limit:
            where = "" if len(cuts) == 0 else f" over messages {int(index[begin])}..{int(index[end - 1])}"
            return (f"median latency {median / NS_PER_MS:.1f} ms{where} exceeds "
                    f"sync.max_latency_ms={limits.max_latency_ms:g}")
    return None
