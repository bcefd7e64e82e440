"""Ground truth per message, and the "latest value at loop time" method, for ``bench/sync_accuracy.py``.

No ROS and no sync code here: the truth comes from
:func:`collector.drivers.synthetic_episode.write_synthetic_episode`, and the
baseline is what a fixed-rate recorder loop does: at every tick it reads the
latest message each subscription has received and files it under the tick time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class MessageTruth:
    """One stream's published messages in per-topic bag order (= receive order); int64 ns.

    Row ``i`` is the message that sync calls message index ``i``
    (``StreamTimeline.message_index``): the bag holds a stream's messages in
    receive order, and the synthetic writer delivers a stream in order.
    """

    true_ns: np.ndarray
    stamp_ns: np.ndarray
    receive_ns: np.ndarray
    seq: np.ndarray

    def __len__(self) -> int:
        return len(self.true_ns)


def truth_by_message(truth: Iterable[dict[str, Any]]) -> dict[str, MessageTruth]:
    """Per stream, the published messages of a synthetic episode's truth, sorted by receive time.

    Raises:
        ValueError: two messages of one stream share a receive time (their bag order
            would be ambiguous).
    """
    rows: dict[str, list[tuple[int, int, int, int]]] = defaultdict(list)
    for record in truth:
        if record["published"]:
            rows[record["stream"]].append(
                (record["receive_ns"], record["true_time_ns"], record["stamp_ns"], record["seq"]))
    out = {}
    for name, items in rows.items():
        table = np.array(sorted(items), dtype=np.int64)
        if len(table) > 1 and np.any(np.diff(table[:, 0]) <= 0):
            raise ValueError(f"{name}: two messages share a receive time; bag order is ambiguous")
        out[name] = MessageTruth(true_ns=table[:, 1], stamp_ns=table[:, 2], receive_ns=table[:, 0], seq=table[:, 3])
    return out


def latest_at_loop_time(receive_ns: np.ndarray, ticks_ns: np.ndarray) -> np.ndarray:
    """Index of the latest message received at or before each tick (-1: nothing received yet).

    Args:
        receive_ns: (N,) non-decreasing receive times of one stream (ns).
        ticks_ns: (K,) loop tick times on the same clock (ns).

    Returns:
        (K,) int64 message indices.
    """
    return np.searchsorted(np.asarray(receive_ns, np.int64), np.asarray(ticks_ns, np.int64), side="right") - 1
