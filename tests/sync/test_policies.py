"""Resampling policies: never beyond their limit, exact where the truth is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from collector.rig import ROLE_SYNC_POLICIES, ROLES, SYNC_POLICIES
from collector.sync.policies import NO_TIME, POLICIES, ROLE_POLICIES, get_policy, slerp

MS = 1_000_000


def _random_times(rng, n, span_ns):
    """Random sorted-ish sample times with clusters and holes, shuffled (policies accept any order)."""
    times = np.cumsum(rng.exponential(span_ns / n, n)).astype(np.int64)
    holes = rng.random(n) < 0.05
    times += np.cumsum(holes * rng.integers(0, 20 * MS, n))
    return rng.permutation(times)


def test_registry_matches_rig_vocabulary():
    assert set(POLICIES) == set(SYNC_POLICIES)
    assert set(ROLE_POLICIES) == set(ROLES)
    for role, names in ROLE_SYNC_POLICIES.items():
        assert ROLE_POLICIES[role] == names[0], role
        assert set(names) <= set(POLICIES)
    with pytest.raises(KeyError, match="known"):
        get_policy("cubic")


@pytest.mark.parametrize("seed", range(25))
def test_nearest_never_beyond_tolerance_and_picks_the_nearest(seed):
    rng = np.random.default_rng(seed)
    times = _random_times(rng, int(rng.integers(1, 200)), 2_000 * MS)
    grid = np.sort(rng.integers(-100 * MS, 2_500 * MS, 300))
    tolerance = int(rng.integers(1, 40 * MS))
    a = POLICIES["nearest"].align(times, grid, tolerance)
    assert np.all(np.abs(a.error_ns[a.valid]) <= tolerance)
    assert np.array_equal(a.valid, np.abs(times[a.i0] - grid) <= tolerance)
    best = np.min(np.abs(times[None, :] - grid[:, None]), axis=1)
    np.testing.assert_array_equal(np.abs(times[a.i0] - grid), best)
    np.testing.assert_array_equal(a.source_time_ns, times[a.i0])
    np.testing.assert_array_equal(a.error_ns, a.source_time_ns - grid)


@pytest.mark.parametrize("seed", range(25))
def test_linear_never_interpolates_across_a_wide_gap(seed):
    rng = np.random.default_rng(100 + seed)
    times = _random_times(rng, int(rng.integers(2, 300)), 2_000 * MS)
    grid = np.sort(rng.integers(-100 * MS, 2_500 * MS, 400))
    max_gap = int(rng.integers(1 * MS, 30 * MS))
    a = POLICIES["linear"].align(times, grid, max_gap)
    ok = a.valid
    t0, t1 = times[a.i0[ok]], times[a.i1[ok]]
    assert np.all(t1 - t0 <= max_gap)
    assert np.all((t0 <= grid[ok]) & (grid[ok] <= t1))
    np.testing.assert_array_equal(a.bracket_gap_ns[ok], t1 - t0)
    np.testing.assert_array_equal(a.error_ns[ok], 0)
    # every invalid frame really has no bracket within max_gap (and no exact sample)
    sorted_times = np.sort(times)
    for g in grid[~ok]:
        before = sorted_times[sorted_times <= g]
        after = sorted_times[sorted_times > g]
        exact = len(before) and before[-1] == g
        assert not exact
        assert not (len(before) and len(after) and after[0] - before[-1] <= max_gap)


def test_linear_values_exact_for_linear_signals():
    times = np.array([0, 10, 20, 40, 100]) * MS
    values = {"position": np.stack([times / MS, 2 * times / MS], axis=1).astype(float)}
    grid = np.array([0, 5, 10, 15, 30, 60, 100, 120]) * MS
    policy = POLICIES["linear"]
    a = policy.align(times, grid, 25 * MS)
    np.testing.assert_array_equal(a.valid, [True, True, True, True, True, False, True, False])
    out = policy.resample(values, a)["position"]
    np.testing.assert_allclose(out[a.valid][:, 0], grid[a.valid] / MS)
    np.testing.assert_allclose(out[a.valid][:, 1], 2 * grid[a.valid] / MS)
    assert np.isnan(out[~a.valid]).all()
    assert a.bracket_gap_ns[0] == 0 and a.bracket_gap_ns[1] == 10 * MS  # exact hit, then a real bracket
    assert a.bracket_gap_ns[5] == 60 * MS  # the gap that was refused is recorded
    assert a.source_time_ns[5] == 40 * MS and a.error_ns[5] == -20 * MS  # nearest candidate for diagnosis


def _axis_angle(axis, angle):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    return np.r_[axis * math.sin(angle / 2), math.cos(angle / 2)]


def test_slerp_matches_known_rotations():
    axis = [0.2, -0.3, 1.0]
    times = np.array([0, 10, 20]) * MS
    angles = np.array([0.0, 0.8, 1.6])
    q = np.stack([_axis_angle(axis, a) for a in angles])
    q[1] *= -1  # same rotation, other hemisphere: slerp must take the short way
    grid = np.array([0, 2, 5, 10, 13, 20]) * MS
    policy = POLICIES["slerp"]
    a = policy.align(times, grid, 15 * MS)
    out = policy.resample({"orientation": q, "angular_velocity": np.zeros((3, 3))}, a)
    expected = np.stack([_axis_angle(axis, 0.08 * g / MS) for g in grid])
    dot = np.abs(np.sum(out["orientation"] * expected, axis=1))
    np.testing.assert_allclose(dot, 1.0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(out["orientation"], axis=1), 1.0)


def test_slerp_function_edge_cases():
    q = _axis_angle([0, 0, 1], 0.3)[None]
    np.testing.assert_allclose(slerp(q, q, np.array([0.5])), q)  # identical: no division by zero
    half = slerp(_axis_angle([1, 0, 0], 0)[None], _axis_angle([1, 0, 0], math.pi)[None], np.array([0.5]))
    np.testing.assert_allclose(np.abs(half), np.abs(_axis_angle([1, 0, 0], math.pi / 2)[None]), atol=1e-12)


def test_hold_takes_last_sample_at_or_before_within_age():
    times = np.array([10, 20, 50]) * MS
    values = {"position": np.array([[1.0], [2.0], [3.0]])}
    grid = np.array([5, 10, 19, 20, 45, 49, 50, 200]) * MS
    policy = POLICIES["hold"]
    a = policy.align(times, grid, 20 * MS)
    np.testing.assert_array_equal(a.valid, [False, True, True, True, False, False, True, False])
    assert np.all(a.error_ns[a.valid] <= 0)  # never from the future
    out = policy.resample(values, a)["position"][:, 0]
    np.testing.assert_array_equal(out[a.valid], [1, 1, 2, 3])


def test_hold_default_age_is_generous_for_commands():
    hold = POLICIES["hold"]
    assert hold.default_limit_ns(role="gripper", period_ns=10 * MS) == 30 * MS
    assert hold.default_limit_ns(role="action", period_ns=10 * MS) == 500 * MS


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_no_samples_means_every_frame_invalid(name):
    a = POLICIES[name].align(np.zeros(0, np.int64), np.array([0, 10]), 5)
    assert not a.valid.any()
    np.testing.assert_array_equal(a.i0, [-1, -1])
    np.testing.assert_array_equal(a.source_time_ns, [NO_TIME, NO_TIME])
