"""The frame grid: ``t_k = t0 + round(k * 1e9 / fps)`` ns over the span every required stream covers.

Exports write ``timestamp = k / fps`` (what LeRobot requires); the grid's absolute
times (reference clock, int ns) are what sync aligns to and what the result carries.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

import numpy as np

NS_PER_S = 1_000_000_000


def frame_times(t0_ns: int, end_ns: int, fps: float) -> np.ndarray:
    """Grid times (int64 ns) ``t0 + round(k * 1e9 / fps)`` for every ``k >= 0`` with ``t_k <= end_ns``.

    ``fps`` may be fractional (e.g. 29.97); rounding is half up, exact in integers.

    Raises:
        ValueError: when ``fps`` is not a positive finite number.
    """
    if isinstance(fps, bool) or not isinstance(fps, (int, float, Fraction)) or not 0 < fps < float("inf"):
        raise ValueError(f"fps={fps!r}: expected a positive number")
    if end_ns < t0_ns:
        return np.zeros(0, dtype=np.int64)
    rate = Fraction(fps).limit_denominator(1_000_000)
    num, den = rate.numerator, rate.denominator
    count = (end_ns - t0_ns) * num // (NS_PER_S * den) + 1
    k = np.arange(count + 1, dtype=object if count * NS_PER_S * den * 2 > 2**62 else np.int64)
    offsets = (2 * k * NS_PER_S * den + num) // (2 * num)
    times = (t0_ns + offsets).astype(np.int64)
    return times[times <= end_ns]


def common_span(spans: Mapping[str, tuple[int, int]]) -> tuple[int, int, str, str]:
    """The span (ns) where every stream in ``spans`` (name -> (first, last)) has data.

    Returns ``(start, end, starts_last, ends_first)``: the stream starting last and
    the one ending first name what limits the span. ``end < start`` means none.

    Raises:
        ValueError: when ``spans`` is empty.
    """
    if not spans:
        raise ValueError("no streams to span")
    starts_last = max(spans, key=lambda name: spans[name][0])
    ends_first = min(spans, key=lambda name: spans[name][1])
    return spans[starts_last][0], spans[ends_first][1], starts_last, ends_first
