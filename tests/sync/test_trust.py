"""Clock semantics: trusted header stamps, evidence of an unsynchronised clock, device clocks.

The streams here are built by hand with exact truth (capture times, latency per
message), independent of the synthetic robot's fault model.
"""

from __future__ import annotations

import numpy as np
import pytest

from collector.errors import RigError
from collector.sync import SyncError, synchronize
from collector.sync.robust import envelope_line
from collector.sync.timeline import StreamTimeline
from tests.sync.helpers import NS_PER_MS, NS_PER_S, START_NS, make_rig, sine_joints

CAM_PERIOD_NS = NS_PER_S / 30
JOINT_PERIOD_NS = NS_PER_S / 100


def _stream(name, role, *, period_ns, seconds, latency_ns, offset_ns=0, drift_ppm=0.0, values=None, seed=0,
            drop=0.0):
    """Captures every period; stamp on a clock ``offset + drift`` from the host; receive = true + latency."""
    rng = np.random.default_rng(seed)
    count = int(seconds * NS_PER_S / period_ns)
    true = START_NS + 3_000_000 + np.rint(np.arange(count) * period_ns).astype(np.int64)
    keep = rng.random(count) >= drop
    latency = np.asarray(latency_ns(rng, count) if callable(latency_ns) else np.full(count, latency_ns),
                         dtype=np.int64)
    stamp = true + offset_ns + np.rint((true - START_NS) * drift_ppm * 1e-6).astype(np.int64)
    receive = np.maximum.accumulate(true + latency)
    true, stamp, receive = true[keep], stamp[keep], receive[keep]
    data = values(true) if values is not None else {}
    return StreamTimeline(name=name, role=role, receive_ns=receive, stamp_ns=stamp, values=data), true


def _uniform(low_ms, high_ms):
    return lambda rng, n: rng.uniform(low_ms * NS_PER_MS, high_ms * NS_PER_MS, n)


def _pair(*, cam_latency, joint_latency, cam_clock="header", joint_clock="header", cam_offset_ns=0,
          joint_offset_ns=0, joint_drift_ppm=0.0, seconds=6, sync="", extra=None, seed=0):
    rig = make_rig(("cam", "joints"), extra=extra, sync=sync, clocks={"cam": cam_clock, "joints": joint_clock})
    cam, cam_true = _stream("cam", "camera", period_ns=CAM_PERIOD_NS, seconds=seconds, latency_ns=cam_latency,
                            offset_ns=cam_offset_ns, seed=seed)
    joints, joint_true = _stream("joints", "joint_state", period_ns=JOINT_PERIOD_NS, seconds=seconds,
                                 latency_ns=joint_latency, offset_ns=joint_offset_ns, drift_ppm=joint_drift_ppm,
                                 values=sine_joints, seed=seed + 1)
    return rig, {"cam": cam, "joints": joints}, {"cam": cam_true, "joints": joint_true}


def test_make_rig_clock_override_parses():
    rig, *_ = _pair(cam_latency=0, joint_latency=0, cam_clock="device", joint_clock="receive")
    assert rig.stream("cam").clock == "device" and rig.stream("joints").clock == "receive"


def test_synchronised_stamps_are_used_as_they_are_and_latency_is_measured():
    """18-35 ms camera latency on the host clock is latency, not an offset: nothing is fitted."""
    rig, timelines, truth = _pair(cam_latency=_uniform(18, 35), joint_latency=_uniform(0.3, 2))
    result = synchronize(timelines, rig)
    for name in ("cam", "joints"):
        fit = result.clocks[name]
        assert fit.clock == "header" and fit.evidence is None and fit.offset_ns == 0 and fit.drift_ppm == 0, name
        np.testing.assert_array_equal(result.streams[name].message_time_ns, truth[name])
    cam = result.clocks["cam"].latency
    assert cam.measured and 18 <= cam.min_ns / NS_PER_MS < 18.5 and 34.5 < cam.max_ns / NS_PER_MS <= 35
    assert abs(cam.median_ns / NS_PER_MS - 26.5) < 1.5
    summary = result.to_dict()["streams"]["cam"]["summary"]
    assert summary["clock"] == "header" and summary["latency"]["measured"] is True
    assert not [w for w in result.warnings if w.code in ("unsynchronised", "latency")]
    # each frame's camera sample is the capture truly nearest the frame: source time = stamp = truth
    aligned = result.streams["cam"]
    nearest = truth["cam"][np.abs(truth["cam"][None, :] - result.grid_ns[:, None]).argmin(axis=1)]
    np.testing.assert_array_equal(aligned.source_time_ns[aligned.valid], nearest[aligned.valid])
    np.testing.assert_array_equal(aligned.alignment_error_ns[aligned.valid], (nearest - result.grid_ns)[aligned.valid])


def test_latency_bursts_do_not_make_a_synchronised_clock_fitted():
    def bursty(rng, n):
        latency = rng.uniform(18, 35, n) * NS_PER_MS
        for start in (40, 95, 150):
            latency[start:start + 4] = rng.uniform(150, 300, 4) * NS_PER_MS
        return latency

    rig, timelines, truth = _pair(cam_latency=bursty, joint_latency=_uniform(0.3, 2))
    result = synchronize(timelines, rig)
    fit = result.clocks["cam"]
    assert fit.clock == "header" and fit.evidence is None
    np.testing.assert_array_equal(result.streams["cam"].message_time_ns, truth["cam"])
    assert fit.latency.max_ns > 150 * NS_PER_MS


def test_latency_beyond_the_rigs_limit_is_warned():
    def bursty(rng, n):
        latency = rng.uniform(18, 35, n) * NS_PER_MS
        latency[60:63] = 700 * NS_PER_MS
        return latency

    rig, timelines, _ = _pair(cam_latency=bursty, joint_latency=_uniform(0.3, 2), sync="{max_latency_ms: 500}")
    result = synchronize(timelines, rig)
    warned = [w for w in result.warnings if w.code == "latency"]
    # three slow messages, and those queued behind them on the reliable, in-order stream
    assert len(warned) == 1 and "message(s) arrived more than sync.max_latency_ms=500" in warned[0].message
    assert "(up to 700.0 ms)" in warned[0].message
    assert result.clocks["cam"].clock == "header"


def test_a_few_corrupt_stamps_ahead_prove_nothing():
    rig, timelines, _ = _pair(cam_latency=_uniform(18, 35), joint_latency=_uniform(0.3, 2))
    cam = timelines["cam"]
    stamps = cam.stamp_ns.copy()
    stamps[[10, 100]] += 2 * NS_PER_S  # two garbage stamps in the future
    timelines["cam"] = StreamTimeline(name="cam", role="camera", receive_ns=cam.receive_ns, stamp_ns=stamps)
    assert synchronize(timelines, rig).clocks["cam"].clock == "header"


def test_stamps_ahead_of_receive_prove_an_unsynchronised_clock_which_is_then_fitted():
    """A controller clock 40 ms ahead of the host and 30 ppm fast, declared header by mistake."""
    rig, timelines, truth = _pair(cam_latency=_uniform(18, 35), joint_latency=_uniform(0.3, 2),
                                  joint_offset_ns=40 * NS_PER_MS, joint_drift_ppm=30, seconds=20)
    result = synchronize(timelines, rig)
    fit = result.clocks["joints"]
    assert fit.declared == "header" and fit.clock == "device"
    assert "stamps are later than their receive time" in fit.evidence and "clock_tolerance_ms=5" in fit.evidence
    warned = [w for w in result.warnings if w.code == "unsynchronised"]
    assert len(warned) == 1 and warned[0].message.startswith("joints: declared clock: header, but its stamps")
    assert abs(fit.offset_ns - 39.7 * NS_PER_MS) < 0.1 * NS_PER_MS  # 40 ms less the unknown 0.3 ms minimum latency
    assert abs(fit.drift_ppm - 30) < 3
    assert result.clocks["cam"].clock == "header"


def test_a_clock_far_behind_is_unsynchronised_by_median_latency():
    rig, timelines, _ = _pair(cam_latency=_uniform(18, 35), joint_latency=_uniform(0.3, 2),
                              cam_offset_ns=-3200 * NS_PER_MS)
    result = synchronize(timelines, rig, keep=True)
    fit = result.clocks["cam"]
    assert fit.clock == "device" and "median latency 32" in fit.evidence and "max_latency_ms=500" in fit.evidence
    # declared header but 3.2 s off: beyond sync.max_skew_ms, so refused without keep
    assert [v.kind for v in result.violations][0] == "skew"
    with pytest.raises(SyncError, match=r"cam: at t=.*clock offset -32\d\d\.\d+ ms .*max_skew_ms=100"):
        synchronize(timelines, rig)


def test_a_device_clock_seconds_behind_is_fitted_and_not_limited_by_skew():
    rig, timelines, truth = _pair(cam_latency=_uniform(18, 35), joint_latency=_uniform(0.3, 2), cam_clock="device",
                                  cam_offset_ns=-3200 * NS_PER_MS, extra={"cam": "latency_ms: 18"})
    result = synchronize(timelines, rig)
    fit = result.clocks["cam"]
    assert fit.clock == "device" and fit.evidence is None and not result.violations
    assert abs(fit.offset_ns + 3200 * NS_PER_MS) < 1 * NS_PER_MS and abs(fit.drift_ppm) <= 20
    error = result.streams["cam"].message_time_ns - truth["cam"]
    assert np.abs(error).max() < 1 * NS_PER_MS
    assert fit.latency is not None and not fit.latency.measured
    assert not [w for w in result.warnings if w.code == "unsynchronised"]


@pytest.mark.parametrize("seed", range(8))
def test_no_drift_reported_from_latency_spread_on_a_short_episode(seed):
    """A drift-free device clock, 17 ms of latency spread over 6 s: |drift| <= 20 ppm."""
    rig, timelines, _ = _pair(cam_latency=_uniform(18, 35), joint_latency=_uniform(0.3, 2), cam_clock="device",
                              cam_offset_ns=-1500 * NS_PER_MS, seed=seed, extra={"cam": "latency_ms: 18"})
    fit = synchronize(timelines, rig).clocks["cam"]
    assert abs(fit.drift_ppm) <= 20, fit.drift_ppm
    assert abs(fit.offset_ns + 1500 * NS_PER_MS) < 1.5 * NS_PER_MS


def test_a_real_drift_is_still_found():
    rig, timelines, truth = _pair(cam_latency=_uniform(0.3, 2), joint_latency=_uniform(0.3, 2),
                                  joint_clock="device", joint_offset_ns=40 * NS_PER_MS, joint_drift_ppm=30,
                                  seconds=20, extra={"joints": "latency_ms: 0.3"})
    fit = synchronize(timelines, rig).clocks["joints"]
    assert abs(fit.drift_ppm - 30) < 2 and abs(fit.offset_ns - 40 * NS_PER_MS) < 0.2 * NS_PER_MS


def test_envelope_line_keeps_only_supported_slopes():
    rng = np.random.default_rng(1)
    x = np.linspace(0, 6e9, 7)
    noisy = rng.normal(0, 0.5e6, len(x))  # 0.5 ms scatter, no trend
    _, slope, sigma = envelope_line(x, noisy)
    assert slope == 0.0 and 50e-6 < sigma < 500e-6  # not resolved: about +-0.1 ms/s
    sloped = 200e-6 * x + rng.normal(0, 1e3, len(x))  # 200 ppm with 1 us scatter
    _, slope, sigma = envelope_line(x, sloped)
    assert abs(slope - 200e-6) < 1e-6 and sigma < 1e-6


def test_refuse_policy_refuses_an_unsynchronised_header_clock():
    rig, timelines, _ = _pair(cam_latency=_uniform(18, 35), joint_latency=_uniform(0.3, 2),
                              joint_offset_ns=40 * NS_PER_MS, sync="{on_unsynchronised: refuse}")
    with pytest.raises(SyncError, match=r"^joints: at t=.*not on the recording host's clock: .* "
                                        r"\(sync.on_unsynchronised=refuse; declare clock: device to fit it\)"):
        synchronize(timelines, rig)
    kept = synchronize(timelines, rig, keep=True)
    assert [v.kind for v in kept.violations][0] == "clock" and not kept.streams["joints"].valid.any()


def test_receive_clock_unchanged():
    rig, timelines, truth = _pair(cam_latency=_uniform(18, 35), joint_latency=2 * NS_PER_MS, joint_clock="receive",
                                  extra={"joints": "latency_ms: 2"})
    result = synchronize(timelines, rig)
    assert result.clocks["joints"].clock == "receive" and result.clocks["joints"].latency is None
    np.testing.assert_array_equal(result.streams["joints"].message_time_ns, truth["joints"])


@pytest.mark.parametrize(("sync", "fragment"), [
    ("{clock_tolerance_ms: 0}", "sync.clock_tolerance_ms: expected a positive number"),
    ("{max_latency_ms: -1}", "sync.max_latency_ms"),
    ("{on_unsynchronised: maybe}", "sync.on_unsynchronised"),
])
def test_bad_clock_settings_fail_on_one_line(sync, fragment):
    with pytest.raises(RigError, match=fragment):
        make_rig(("cam",), sync=sync)


def test_unknown_clock_fails_on_one_line():
    with pytest.raises(RigError, match=r"streams\[0\]\(cam\).clock: 'ptp' is not one of header, device, receive"):
        make_rig(("cam",), clocks={"cam": "ptp"})
