"""synchronize() on in-memory timelines with known truth: grid, trimming, limits, warnings."""

from __future__ import annotations

import json

import numpy as np
import pytest

from collector.sync import StreamTimeline, SyncError, synchronize
from tests.sync.helpers import NS_PER_MS, NS_PER_S, START_NS, make_rig, simulate, sine_joints, sine_joints_at


def _cam(**kw):
    args = dict(rate_hz=30, seconds=10, seed=1, tail_ns=1 * NS_PER_MS)
    args.update(kw)
    return simulate("cam", "camera", **args)


def _joints(**kw):
    args = dict(rate_hz=100, seconds=10, seed=2, values=sine_joints)
    args.update(kw)
    return simulate("joints", "joint_state", **args)


def _timelines(*sims):
    return [s.timeline for s in sims]


def test_grid_trimmed_to_common_span_of_required_streams():
    cam = _cam(start_ns=START_NS + 1 * NS_PER_S, seconds=7)
    joints = _joints()
    rig = make_rig(("cam", "joints"))
    # A required stream missing for the first second is a gap beyond the limit: refused ...
    with pytest.raises(SyncError, match=r"cam: at t=0.000 s: no data for the first 1.0\d\d s"):
        synchronize(_timelines(cam, joints), rig)
    # ... or, kept, trimmed to the span where every required stream has data.
    result = synchronize(_timelines(cam, joints), rig, keep=True)
    cam_times = result.streams["cam"].message_time_ns
    assert result.t0_ns == result.grid_ns[0] == cam_times.min()
    assert cam_times.max() - 34 * NS_PER_MS < result.grid_ns[-1] <= cam_times.max()
    k = np.arange(result.frames)
    np.testing.assert_array_equal(result.grid_ns, result.t0_ns + (2 * k * NS_PER_S + 30) // 60)
    np.testing.assert_allclose(result.timestamps_s, k / 30)
    # cam starts 1 s after and stops 2 s before the joints: two edge gaps
    assert result.valid.all() and [v.kind for v in result.violations] == ["gap", "gap"]
    assert [w.code for w in result.warnings] == ["trimmed", "kept", "kept"]  # no stale: joints just started early
    assert result.origin_ns == min(cam_times.min(), result.streams["joints"].message_time_ns.min())


def test_joint_values_match_truth_within_interpolation_bound():
    cam, joints = _cam(offset_ns=20 * NS_PER_MS, drift_ppm=100, jitter_ns=1 * NS_PER_MS), _joints(drop_rate=0.05)
    result = synchronize(_timelines(cam, joints), make_rig(("cam", "joints")))
    aligned = result.streams["joints"]
    assert aligned.valid.all()
    truth = sine_joints_at(result.grid_ns)
    # |error| <= h^2/8 * max|q''| (+ timing error * max|q'|): h <= 30 ms, |q''| <= pi^2
    bound = (aligned.bracket_gap_ns.max() / 1e9) ** 2 / 8 * np.pi**2 + 1e-4 * np.pi
    assert np.abs(aligned.values["position"] - truth).max() <= bound
    assert np.isnan(aligned.values["effort"]).all()  # empty field stays NaN
    assert aligned.bracket_gap_ns.max() <= aligned.limit_ns
    # message indices point at the bracketing samples
    times = joints.true_ns
    assert np.all(times[aligned.i0] <= result.grid_ns + NS_PER_MS)
    assert np.all(times[aligned.i1] >= result.grid_ns - NS_PER_MS)


def test_camera_frames_within_tolerance_of_their_true_capture():
    cam = _cam(offset_ns=35 * NS_PER_MS, drift_ppm=200, jitter_ns=3 * NS_PER_MS, drop_rate=0.01,
               latency_ns=8 * NS_PER_MS, seconds=30)
    rig = make_rig(("cam", "joints"), extra={"cam": "latency_ms: 8"})
    result = synchronize(_timelines(cam, _joints(seconds=30)), rig)
    aligned = result.streams["cam"]
    tolerance = aligned.limit_ns
    true_error = cam.true_ns[aligned.i0] - result.grid_ns
    assert np.all(np.abs(true_error[aligned.valid]) <= tolerance + 1 * NS_PER_MS)
    assert np.all(np.abs(aligned.alignment_error_ns[aligned.valid]) <= tolerance)
    assert 0 < aligned.summary.outside_limit == aligned.summary.invalid_frames <= 0.02 * result.frames
    estimate_error = np.abs(aligned.message_time_ns - cam.true_ns)
    assert np.median(estimate_error) < 0.5 * NS_PER_MS and np.percentile(estimate_error, 99) < 2 * NS_PER_MS
    clock = result.clocks["cam"]
    assert abs(clock.offset_ns - 35 * NS_PER_MS) < 0.5 * NS_PER_MS and abs(clock.drift_ppm - 200) < 20


def test_gap_refused_with_stream_time_and_reason():
    joints = _joints(keep=lambda t: (t < START_NS + 3 * NS_PER_S) | (t > START_NS + 3_500 * NS_PER_MS))
    with pytest.raises(SyncError) as err:
        synchronize(_timelines(_cam(), joints), make_rig(("cam", "joints")))
    message = str(err.value)
    assert message.startswith("joints: at t=2.99") and "gap of 0.5" in message and "sync.max_gap_ms=200" in message
    assert err.value.stream == "joints" and 2.9 < err.value.time_s < 3.1 and "\n" not in message


def test_keep_marks_the_frames_of_a_gap_invalid():
    joints = _joints(keep=lambda t: (t < START_NS + 3 * NS_PER_S) | (t > START_NS + 3_500 * NS_PER_MS))
    rig = make_rig(("cam", "joints"), extra={"joints": "max_gap_ms: 1000"})  # the policy alone would bridge it
    result = synchronize(_timelines(_cam(), joints), rig, keep=True)
    aligned = result.streams["joints"]
    hole = (result.grid_ns > START_NS + 3 * NS_PER_S + 10 * NS_PER_MS) & (result.grid_ns < START_NS + 3_490 * NS_PER_MS)
    assert hole.sum() >= 13
    assert not aligned.valid[hole].any() and np.isnan(aligned.values["position"][hole]).all()
    kinds = [(v.stream, v.kind) for v in result.violations]
    assert ("joints", "gap") in kinds
    assert any(w.code == "kept" for w in result.warnings)
    assert not result.valid[hole].any()


def test_skew_refused_and_kept():
    cam = _cam(offset_ns=150 * NS_PER_MS)
    with pytest.raises(SyncError, match=r"^cam: at t=.*clock offset \+1[45]\d\.\d+ ms .*sync.max_skew_ms=100"):
        synchronize(_timelines(cam, _joints()), make_rig(("cam", "joints")))
    result = synchronize(_timelines(cam, _joints()), make_rig(("cam", "joints")), keep=True)
    assert not result.streams["cam"].valid.any()
    assert {v.kind for v in result.violations if v.stream == "cam"} == {"skew", "invalid"}
    relaxed = make_rig(("cam", "joints"), sync="{max_skew_ms: 200}")
    assert synchronize(_timelines(cam, _joints()), relaxed).streams["cam"].valid.all()


def test_too_many_invalid_frames_refused():
    cam = _cam(drop_rate=0.15)
    with pytest.raises(SyncError, match=r"^cam: at t=.*frames \(\d+\.\d%\) have no sample within the nearest limit"):
        synchronize(_timelines(cam, _joints()), make_rig(("cam", "joints")))
    lenient = make_rig(("cam", "joints"), sync="{max_invalid_fraction: 0.5}")
    result = synchronize(_timelines(cam, _joints()), lenient)
    assert 0 < result.streams["cam"].summary.invalid_frames < 0.5 * result.frames
    assert not result.valid.all()


def test_optional_stream_breaking_limits_only_warns():
    imu = simulate("imu", "imu", rate_hz=200, seconds=10, seed=3, offset_ns=300 * NS_PER_MS,
                   values=lambda t: {"orientation": np.tile([0.0, 0.0, 0.0, 1.0], (len(t), 1))})
    result = synchronize(_timelines(_cam(), _joints(), imu), make_rig(("cam", "joints", "imu")))
    assert any(w.code == "limit_skew" and w.stream == "imu" for w in result.warnings)
    assert result.valid.all()  # optional streams do not make frames invalid


def test_zero_stamps_fall_back_to_receive_time_with_warning():
    cam = _cam(latency_ns=5 * NS_PER_MS)
    zeroed = StreamTimeline(name="cam", role="camera", receive_ns=cam.timeline.receive_ns,
                            stamp_ns=np.zeros(len(cam.true_ns), np.int64))
    rig = make_rig(("cam", "joints"), extra={"cam": "latency_ms: 5"})
    result = synchronize([zeroed, _joints().timeline], rig)
    assert result.clocks["cam"].clock == "receive" and result.clocks["cam"].fallback
    assert [w.code for w in result.warnings if w.stream == "cam"] == ["zero_stamp"]
    np.testing.assert_array_equal(result.streams["cam"].message_time_ns, cam.timeline.receive_ns - 5 * NS_PER_MS)
    assert result.streams["cam"].summary.zero_stamps == len(cam.true_ns)


def test_stale_latched_message_dropped_with_warning():
    grip = simulate("grip", "gripper", rate_hz=50, seconds=10, seed=4,
                    values=lambda t: {"position": np.ones((len(t), 1)), "velocity": np.zeros((len(t), 1)),
                                      "effort": np.zeros((len(t), 1))})
    first_receive = min(_cam().timeline.receive_ns[0], _joints().timeline.receive_ns[0])
    latched = StreamTimeline(  # published 30 s before the episode, delivered on subscription
        name="grip", role="gripper",
        receive_ns=np.r_[first_receive, grip.timeline.receive_ns],
        stamp_ns=np.r_[START_NS - 30 * NS_PER_S, grip.timeline.stamp_ns],
        values={k: np.concatenate([v[:1] * 7, v]) for k, v in grip.timeline.values.items()},
    )
    result = synchronize([_cam().timeline, _joints().timeline, latched], make_rig(("cam", "joints", "grip")))
    aligned = result.streams["grip"]
    assert not aligned.message_used[0] and aligned.message_used[1:].all()
    assert aligned.summary.stale == 1
    assert [w.code for w in result.warnings if w.stream == "grip"] == ["stale_latched"]
    assert result.t0_ns > START_NS  # the stale stamp did not stretch the span
    assert 0 not in aligned.i0[aligned.valid]
    assert np.all(aligned.values["position"][aligned.valid] == 1.0)


def test_receive_clock_stream_held_with_latency_subtracted():
    cmd = simulate("cmd", "action", rate_hz=50, seconds=10, seed=5, latency_ns=2 * NS_PER_MS, tail_ns=0,
                   values=lambda t: {"position": ((t - START_NS) / 1e9)[:, None].repeat(2, 1),
                                     "velocity": np.ones((len(t), 2)), "effort": np.zeros((len(t), 2))})
    rig = make_rig(("cam", "joints", "cmd"), extra={"cmd": "latency_ms: 2"})
    result = synchronize(_timelines(_cam(), _joints(), cmd), rig)
    aligned = result.streams["cmd"]
    assert result.clocks["cmd"].clock == "receive" and not result.clocks["cmd"].fallback
    np.testing.assert_array_equal(aligned.message_time_ns, cmd.true_ns)
    assert aligned.valid.all() and np.all(aligned.alignment_error_ns <= 0)
    assert np.all(aligned.alignment_error_ns > -20 * NS_PER_MS)  # 50 Hz: the held sample is < 1 period old


def test_fps_override_and_report_is_json():
    result = synchronize(_timelines(_cam(), _joints()), make_rig(("cam", "joints")), fps=10, keep=True)
    assert result.fps == 10 and np.all(np.diff(result.grid_ns) == 100 * NS_PER_MS)
    report = json.loads(json.dumps(result.to_dict(frames=True)))
    assert report["frames"] == result.frames and set(report["streams"]) == {"cam", "joints"}
    cam = report["streams"]["cam"]
    assert cam["policy"] == "nearest" and cam["clock"]["clock"] == "header"
    assert len(cam["frames"]["i0"]) == result.frames and "error_p99_ms" in cam["summary"]
    assert "frames" not in result.to_dict()["streams"]["cam"]


def test_no_overlap_refused_naming_the_streams():
    late = _cam(start_ns=START_NS + 20 * NS_PER_S)
    with pytest.raises(SyncError, match=r"^joints: at t=.*ends before cam starts"):
        synchronize(_timelines(late, _joints()), make_rig(("cam", "joints")))


def test_required_stream_without_messages_refused():
    empty = StreamTimeline(name="cam", role="camera", receive_ns=np.zeros(0), stamp_ns=np.zeros(0))
    with pytest.raises(SyncError, match="^cam: required stream has no usable messages"):
        synchronize([empty, _joints().timeline], make_rig(("cam", "joints")))


def test_argument_errors():
    timelines = _timelines(_cam(), _joints())
    with pytest.raises(ValueError, match="need the rig"):
        synchronize(timelines)
    with pytest.raises(ValueError, match="fps"):
        synchronize(timelines, make_rig(("cam", "joints")), fps=0)
    wrong = StreamTimeline(name="cam", role="depth", receive_ns=[1], stamp_ns=[1])
    with pytest.raises(ValueError, match="role"):
        synchronize([wrong], make_rig(("cam",)))


def test_timeline_validation():
    with pytest.raises(ValueError, match="decreases at message 2"):
        StreamTimeline(name="x", role="camera", receive_ns=[1, 2, 1], stamp_ns=[0, 0, 0])
    with pytest.raises(ValueError, match="same 1-D length"):
        StreamTimeline(name="x", role="camera", receive_ns=[1, 2], stamp_ns=[0])
    with pytest.raises(ValueError, match="values\\['position'\\] has 1 rows"):
        StreamTimeline(name="x", role="joint_state", receive_ns=[1, 2], stamp_ns=[0, 0], values={"position": [[1]]})
