"""Clock fits against exact truth: offset, drift, jitter, drops, jumps, latency tail."""

from __future__ import annotations

import numpy as np
import pytest

from collector.sync.clock import ClockFit, fit_clock
from collector.sync.jumps import find_jumps
from tests.sync.helpers import NS_PER_MS, START_NS, simulate

SCENARIO = dict(offset_ns=35 * NS_PER_MS, drift_ppm=200.0, jitter_ns=3 * NS_PER_MS, drop_rate=0.01,
                latency_ns=8 * NS_PER_MS, tail_ns=1 * NS_PER_MS)


def _fit(sim, rate_hz, latency_ns=0, **kwargs) -> ClockFit:
    t = sim.timeline
    return fit_clock(t.receive_ns, t.stamp_ns, stream=t.name, period_ns=1e9 / rate_hz, latency_ns=latency_ns,
                     **kwargs)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_camera_offset_drift_jitter_drops_recovered(seed):
    """30 Hz, 35 ms offset, 200 ppm drift, 3 ms stamp jitter, 1% drops, 8 ms + exp(1 ms) latency, 60 s."""
    sim = simulate("cam", "camera", rate_hz=30, seconds=60, seed=seed, **SCENARIO)
    fit = _fit(sim, 30, latency_ns=8 * NS_PER_MS)
    assert fit.clock == "device" and fit.regular and not fit.jumps
    assert abs(fit.offset_ns - 35 * NS_PER_MS) < 0.5 * NS_PER_MS
    assert abs(fit.drift_ppm - 200.0) < 10.0
    assert 2.5 * NS_PER_MS < fit.jitter_ns < 3.5 * NS_PER_MS
    assert fit.missing == 1800 - len(sim.true_ns)
    error = fit.source_times(sim.timeline.receive_ns, sim.timeline.stamp_ns) - sim.true_ns
    # the periodic model removes the stamp jitter: sub-millisecond capture times
    assert np.median(np.abs(error)) < 0.5 * NS_PER_MS
    assert np.percentile(np.abs(error), 99) < 1 * NS_PER_MS


def test_unknown_latency_shifts_offset_by_it():
    """The constant latency is unobservable: without it the offset absorbs it (documented)."""
    sim = simulate("cam", "camera", rate_hz=30, seconds=30, seed=5, **SCENARIO)
    fit = _fit(sim, 30, latency_ns=0)
    assert abs(fit.offset_ns - (35 - 8) * NS_PER_MS) < 0.5 * NS_PER_MS


@pytest.mark.parametrize("rate_hz", [100, 500])
def test_high_rate_clean_stamps(rate_hz):
    sim = simulate("js", "joint_state", rate_hz=rate_hz, seconds=20, seed=3, offset_ns=-12 * NS_PER_MS,
                   drift_ppm=-50, drop_rate=0.01, latency_ns=300_000, tail_ns=200_000)
    fit = _fit(sim, rate_hz, latency_ns=300_000)
    assert fit.regular
    assert abs(fit.offset_ns + 12 * NS_PER_MS) < 0.05 * NS_PER_MS
    assert abs(fit.drift_ppm + 50) < 2
    error = fit.source_times(sim.timeline.receive_ns, sim.timeline.stamp_ns) - sim.true_ns
    assert np.abs(error).max() < 0.1 * NS_PER_MS


def test_jittery_stamps_sequence_recovered_from_receive_times():
    """Stamp jitter too large for rounding (1 ms at 100 Hz): the receive times give the sequence."""
    sim = simulate("grip", "gripper", rate_hz=100, seconds=20, seed=4, offset_ns=5 * NS_PER_MS, drift_ppm=80,
                   jitter_ns=1.5 * NS_PER_MS, drop_rate=0.02, tail_ns=100_000)
    fit = _fit(sim, 100)
    assert fit.regular and fit.segments[0].sequence_from == "receive"
    error = fit.source_times(sim.timeline.receive_ns, sim.timeline.stamp_ns) - sim.true_ns
    assert np.percentile(np.abs(error), 99) < 0.3 * NS_PER_MS


def test_irregular_stream_keeps_stamps_and_is_unbiased_by_symmetric_jitter():
    """Event-driven capture (random intervals): no sequence; window medians cancel stamp jitter."""
    rng = np.random.default_rng(6)
    true = START_NS + np.cumsum(rng.uniform(1, 3, 10_000) * NS_PER_MS).astype(np.int64)
    stamps = true + 20 * NS_PER_MS + np.rint(rng.normal(0, 3 * NS_PER_MS, len(true))).astype(np.int64)
    receive = true + np.rint(rng.exponential(20_000, len(true))).astype(np.int64)
    fit = fit_clock(receive, stamps, period_ns=2e6)
    assert not fit.regular and not fit.jumps
    assert abs(fit.offset_ns - 20 * NS_PER_MS) < 0.3 * NS_PER_MS
    assert abs(fit.drift_ppm) < 20
    assert 2.5 * NS_PER_MS < fit.jitter_ns < 3.5 * NS_PER_MS


def test_regularize_off_uses_raw_stamps():
    sim = simulate("cam", "camera", rate_hz=30, seconds=10, seed=1, jitter_ns=1 * NS_PER_MS)
    fit = _fit(sim, 30, regularize=False)
    assert not fit.regular
    error = fit.source_times(sim.timeline.receive_ns, sim.timeline.stamp_ns) - sim.true_ns
    assert np.percentile(np.abs(error), 90) > 0.5 * NS_PER_MS  # the jitter stays


@pytest.mark.parametrize("step_ms", [200, -120])
def test_clock_jump_detected_at_the_right_time(step_ms):
    jump_at = 20 * 1_000_000_000

    def with_jump(sim):
        later = sim.true_ns - sim.true_ns[0] >= jump_at
        stamps = sim.timeline.stamp_ns.copy()
        stamps[later] += step_ms * NS_PER_MS
        return stamps, int(np.flatnonzero(later)[0])

    sim = simulate("cam", "camera", rate_hz=30, seconds=40, seed=2, **SCENARIO)
    stamps, first_after = with_jump(sim)
    fit = fit_clock(sim.timeline.receive_ns, stamps, period_ns=1e9 / 30, latency_ns=8 * NS_PER_MS)
    assert len(fit.jumps) == 1 and len(fit.segments) == 2
    jump = fit.jumps[0]
    assert jump.index == first_after
    assert abs(jump.time_ns - sim.true_ns[first_after]) < 2 * NS_PER_MS
    assert abs(jump.step_ns - step_ms * NS_PER_MS) < 2 * NS_PER_MS
    for segment in fit.segments:
        assert abs(segment.drift_ppm - 200) < 40  # 20 s segments: looser
    error = fit.source_times(sim.timeline.receive_ns, stamps) - sim.true_ns
    assert np.percentile(np.abs(error), 99) < 1 * NS_PER_MS


def test_no_false_jumps_from_latency_tail_or_drift():
    sim = simulate("cam", "camera", rate_hz=30, seconds=60, seed=9, offset_ns=0, drift_ppm=500,
                   jitter_ns=2 * NS_PER_MS, tail_ns=10 * NS_PER_MS)
    assert _fit(sim, 30).jumps == ()


def test_find_jumps_exact_position_of_clean_step():
    values = np.r_[np.zeros(100), np.full(80, 1e8)]
    assert find_jumps(values, window=10, threshold_ns=5e7) == [100]
    assert find_jumps(values, window=10, threshold_ns=2e8) == []
    spike = np.zeros(200)
    spike[50:53] = 1e9  # a short burst is not sustained
    assert find_jumps(spike, window=10, threshold_ns=5e7) == []


def test_too_few_stamps_falls_back_to_receive():
    fit = fit_clock(np.array([10, 20, 30]), np.array([0, 0, 5]), period_ns=10)
    assert fit.clock == "receive" and fit.fallback
    np.testing.assert_array_equal(fit.source_times(np.array([10, 20, 30]), np.zeros(3)), [10, 20, 30])


def test_zero_stamp_timed_by_receive_minus_latency():
    sim = simulate("cam", "camera", rate_hz=30, seconds=5, seed=1)
    stamps = sim.timeline.stamp_ns.copy()
    stamps[10] = 0
    fit = fit_clock(sim.timeline.receive_ns, stamps, period_ns=1e9 / 30, latency_ns=1000)
    times = fit.source_times(sim.timeline.receive_ns, stamps)
    assert times[10] == sim.timeline.receive_ns[10] - 1000


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="differ"):
        fit_clock(np.zeros(3), np.zeros(2), period_ns=1)
    with pytest.raises(ValueError, match="negative"):
        fit_clock(np.zeros(3), np.zeros(3), period_ns=1, latency_ns=-1)
    with pytest.raises(ValueError, match="segment"):
        ClockFit(stream="x", clock="device")
