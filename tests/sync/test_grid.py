"""The frame grid: exact integer times, k / fps apart, inside the common span."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from collector.sync.grid import common_span, frame_times


def test_integer_fps_grid_is_exact():
    t0 = 1_700_000_000_123_456_789
    grid = frame_times(t0, t0 + 10 * 10**9, 30)
    assert grid.dtype == np.int64 and len(grid) == 301
    k = np.arange(301)
    expected = t0 + (2 * k * 10**9 + 30) // 60  # round half up of k * 1e9 / 30
    np.testing.assert_array_equal(grid, expected)
    assert grid[-1] == t0 + 10 * 10**9


def test_grid_stops_at_the_end_and_never_beyond():
    grid = frame_times(0, 99_999_999, 10)
    np.testing.assert_array_equal(grid, [0])
    grid = frame_times(0, 100_000_000, 10)
    np.testing.assert_array_equal(grid, [0, 100_000_000])
    assert len(frame_times(5, 4, 30)) == 0


def test_fractional_fps():
    grid = frame_times(0, 10**9, 29.97)
    assert len(grid) == 30
    k = np.arange(30)
    np.testing.assert_array_equal(grid, [round(Fraction(int(i) * 10**9 * 100, 2997)) for i in k])


@pytest.mark.parametrize("fps", [0, -1, float("inf"), True, "30"])
def test_bad_fps(fps):
    with pytest.raises(ValueError, match="fps"):
        frame_times(0, 10, fps)


def test_common_span_names_the_limiting_streams():
    start, end, late, early = common_span({"a": (0, 100), "b": (10, 90), "c": (5, 200)})
    assert (start, end, late, early) == (10, 90, "b", "b")
    start, end, late, early = common_span({"a": (0, 10), "b": (20, 30)})
    assert end < start and late == "b" and early == "a"
