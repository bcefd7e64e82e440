"""Clock jumps: sustained steps in a stream's ``stamp - receive``."""

from __future__ import annotations

import numpy as np

from collector.sync.robust import robust_sigma


def find_jumps(offset_ns: np.ndarray, *, window: int, threshold_ns: float) -> list[int]:
    """Positions where ``offset_ns`` (stamp - receive per message) steps and stays.

    A step is the difference between the medians of the ``window`` messages
    after and before a position; it must exceed ``threshold_ns`` and 5x the
    noise (robust sigma around the running median). The exact position inside
    a detected run is where the split best separates the two levels.
    """
    n = len(offset_ns)
    if window < 2 or n < 2 * window:
        return []
    values = np.asarray(offset_ns, dtype=np.float64)
    medians = np.median(np.lib.stride_tricks.sliding_window_view(values, window), axis=1)  # medians[j] of [j, j+w)
    positions = np.arange(window, n - window + 1)
    steps = medians[positions] - medians[positions - window]
    centred = values[window // 2 : window // 2 + len(medians)] - medians
    limit = max(threshold_ns, 5.0 * robust_sigma(centred))
    hot = np.abs(steps) > limit
    jumps: list[int] = []
    if not hot.any():
        return jumps
    edges = np.flatnonzero(np.diff(np.concatenate([[0], hot.astype(np.int8), [0]])))
    for begin, end in zip(edges[::2], edges[1::2]):
        best = begin + int(np.argmax(np.abs(steps[begin:end])))
        centre = int(positions[best])
        before, after = medians[centre - window], medians[centre]
        lo, hi = max(0, centre - window), min(n, centre + window)
        nearer_after = np.abs(values[lo:hi] - after) < np.abs(values[lo:hi] - before)
        # cost of splitting at k: "after-like" points before k plus "before-like" points from k on
        cost = np.concatenate([[0], np.cumsum(nearer_after)]) + np.concatenate(
            [np.cumsum((~nearer_after)[::-1])[::-1], [0]]
        )
        split = lo + int(np.argmin(cost))
        if not jumps or split - jumps[-1] >= window:
            jumps.append(split)
    return jumps
