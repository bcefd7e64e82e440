"""The latency histogram: quantiles against numpy's exact ones, exact extremes, ``ahead``."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from collector.latency import RELATIVE_ERROR, LatencyHistogram, measures_latency
from collector.rig import load_rig

QUANTILES = (0.0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0)
MS = 1_000_000


def _samples(kind: str, rng: np.random.Generator, count: int) -> np.ndarray:
    """Latencies (int ns) as rigs show them: a fixed part plus a transport tail, and worse."""
    if kind == "camera":  # 8 ms pipeline + exp(1 ms) transport
        return (8 * MS + rng.exponential(1 * MS, count)).astype(np.int64)
    if kind == "small":  # 0.3 ms + exp(0.2 ms): sub-ms values
        return (300_000 + rng.exponential(200_000, count)).astype(np.int64)
    if kind == "spread":  # ns to minutes: every decade
        return rng.lognormal(np.log(MS), 4.0, count).astype(np.int64)
    if kind == "signed":  # a clock a few ms off: both signs, and exact zeros
        values = rng.normal(0, 3 * MS, count).astype(np.int64)
        values[:: 17] = 0
        return values
    if kind == "few":  # tiny integers, where bins are narrower than 1 ns
        return rng.integers(-40, 40, count)
    raise AssertionError(kind)


def _fill(values, tolerance_ns: int = 5 * MS) -> LatencyHistogram:
    histogram = LatencyHistogram(clock_tolerance_ns=tolerance_ns)
    for value in values:
        histogram.add(int(value))
    return histogram


@pytest.mark.parametrize("count", [1, 2, 3, 10, 1000, 20_001])
@pytest.mark.parametrize("kind", ["camera", "small", "spread", "signed", "few"])
def test_quantiles_within_relative_error_of_numpy(kind, count):
    rng = np.random.default_rng([count, len(kind)])
    values = _samples(kind, rng, count)
    histogram = _fill(values)
    exact = np.quantile(values, QUANTILES, method="inverted_cdf")
    estimate = np.array(histogram.quantiles(*QUANTILES))
    error = np.abs(estimate - exact)
    assert np.all(error <= RELATIVE_ERROR * np.abs(exact) + 1e-9), (kind, exact, estimate)
    assert RELATIVE_ERROR < 0.01
    # min and max exact; a quantile never outside them
    assert (histogram.min_ns, histogram.max_ns) == (values.min(), values.max())
    assert estimate[0] == values.min() and estimate[-1] == values.max()
    assert np.all((estimate >= values.min()) & (estimate <= values.max()))
    assert histogram.count == count


def test_summary_in_ms_with_ahead_beyond_tolerance():
    tolerance_ns = 5 * MS
    # stamps later than receive: by exactly the tolerance (allowed), and by more (ahead)
    values = [8 * MS] * 97 + [-tolerance_ns, -tolerance_ns - 1, -40 * MS]
    summary = _fill(values, tolerance_ns).summary()
    assert summary is not None
    assert (summary.count, summary.ahead) == (100, 2)
    assert (summary.min, summary.max) == (-40.0, 8.0)
    assert summary.median == summary.p99 == pytest.approx(8.0, rel=RELATIVE_ERROR)


def test_empty_histogram_has_no_summary():
    histogram = LatencyHistogram()
    assert histogram.summary() is None
    with pytest.raises(ValueError, match="no latency"):
        histogram.quantiles(0.5)


def test_quantile_outside_unit_interval_refused():
    with pytest.raises(ValueError, match="1.5"):
        _fill([1, 2, 3]).quantiles(1.5)


def test_extreme_int64_differences_fit():
    """Any two int64 times: the stamp's seconds are int32, receive times int64 ns."""
    extremes = [2**63 - 1 + 2**31 * 10**9, -(2**63) - 2**31 * 10**9, 1, -1, 0]
    histogram = _fill(extremes)
    assert (histogram.min_ns, histogram.max_ns) == (min(extremes), max(extremes))
    assert histogram.quantiles(0.5) == [0.0]


def test_measured_streams_are_header_clocks_with_a_header():
    camera = replace(load_rig("baoan_humanoid").stream("head_rgb"), clock="header")
    assert measures_latency(camera)
    assert not measures_latency(replace(camera, clock="device"))
    assert not measures_latency(replace(camera, clock="receive"))
    assert not measures_latency(replace(camera, type="std_msgs/msg/String"))
