"""Sync against episodes another tool wrote (rosbags), judged by the truth of every message.

Each scenario is a rig whose streams sit on different clocks (the host's, a
controller's, a camera's), with transport latency, latency bursts and lost
messages; see :mod:`tests.sync.truth`. Sync must pick, for every grid frame, the
camera frame truly nearest it, interpolate the joints to the true trajectory at
the frame time, report the true source times, and report the clocks as they are.
"""

from __future__ import annotations

import numpy as np
import pytest

from collector.sync import SyncError, synchronize
from tests.sync import truth
from tests.sync.truth import NS_PER_MS

SCENARIOS = {
    "shared_clock": truth.shared_clock,
    "controller_clock": truth.controller_clock,
    "device_camera": truth.device_camera,
    "mixed": truth.mixed,
}
TIME_TOLERANCE_NS = 1 * NS_PER_MS
POSITION_TOLERANCE = 1e-3  # rad, at 1.6 rad/s peak joint speed
NEAREST_SHARE = 0.99


@pytest.fixture(scope="module", params=list(SCENARIOS))
def synced(request, tmp_path_factory):
    episode = truth.write_episode(tmp_path_factory.mktemp(request.param), SCENARIOS[request.param]())
    return episode, synchronize(episode.path)


def _streams(episode, *roles):
    return [name for name, stream in episode.streams.items() if stream.spec.role in roles]


def test_every_message_is_read_in_order(synced):
    episode, result = synced
    for name, stream in episode.streams.items():
        assert len(result.streams[name].message_time_ns) == len(stream.true_ns), name


def test_capture_times_are_the_true_ones(synced):
    """Every message's estimated capture time is its true capture time (1 ms); a header
    stamp on the host's clock is used exactly as it is."""
    episode, result = synced
    for name, stream in episode.streams.items():
        estimated = result.streams[name].message_time_ns
        error = np.abs(estimated - stream.true_ns)
        assert error.max() <= TIME_TOLERANCE_NS, (name, error.max() / NS_PER_MS)
        if stream.spec.clock == "header":
            assert np.array_equal(estimated, stream.stamp_ns), name
    assert abs(result.origin_ns - episode.origin_ns) <= TIME_TOLERANCE_NS


def test_camera_frame_is_the_truly_nearest_capture(synced):
    episode, result = synced
    for name in _streams(episode, "camera"):
        aligned, true = result.streams[name], episode.streams[name].true_ns
        nearest, clear = truth.nearest_captures(true, result.grid_ns, limit_ns=aligned.limit_ns)
        right = aligned.valid & (aligned.i0 == nearest)
        share = right[clear].mean()
        assert clear.sum() >= 0.5 * result.frames, (name, int(clear.sum()))
        assert share >= NEAREST_SHARE, (name, f"{share:.4f} of {int(clear.sum())} clear frames")
        # never a frame from outside the tolerance, by the true distance
        used = aligned.valid
        distance = np.abs(true[aligned.i0[used]] - result.grid_ns[used])
        assert distance.max() <= aligned.limit_ns + TIME_TOLERANCE_NS, (name, distance.max() / NS_PER_MS)


def test_source_times_and_errors_are_the_truth(synced):
    """``source_time_ns`` is the true capture time of the sample used (nearest, hold) or the
    frame time (interpolation); ``alignment_error_ns`` is that minus the frame time."""
    episode, result = synced
    for name, stream in episode.streams.items():
        aligned = result.streams[name]
        valid = aligned.valid
        assert valid.mean() >= 0.98, (name, valid.mean())
        grid = result.grid_ns[valid]
        if aligned.policy == "linear":
            expected = grid
        else:
            expected = stream.true_ns[aligned.i0[valid]]
        source_error = np.abs(aligned.source_time_ns[valid] - expected)
        assert source_error.max() <= TIME_TOLERANCE_NS, (name, source_error.max() / NS_PER_MS)
        alignment_error = np.abs(aligned.alignment_error_ns[valid] - (expected - grid))
        assert alignment_error.max() <= TIME_TOLERANCE_NS, (name, alignment_error.max() / NS_PER_MS)


def test_joints_follow_the_true_trajectory_at_the_frame_times(synced):
    episode, result = synced
    aligned = result.streams["joint_states"]
    assert aligned.policy == "linear" and aligned.valid.all()
    columns = [aligned.names.index(j) for j in truth.JOINTS]
    expected = episode.trajectory.position(result.grid_ns)
    error = np.abs(aligned.values["position"][:, columns] - expected)
    assert error.max() <= POSITION_TOLERANCE, error.max(axis=0)


def test_action_holds_the_last_command_truly_captured(synced):
    episode, result = synced
    aligned, true = result.streams["action"], episode.streams["action"].true_ns
    assert aligned.policy == "hold"
    last, clear = truth.last_capture_at_or_before(true, result.grid_ns)
    right = aligned.valid & (aligned.i0 == last)
    assert right[clear].mean() >= NEAREST_SHARE, right[clear].mean()
    columns = [aligned.names.index(j) for j in truth.JOINTS]
    valid = aligned.valid
    expected = episode.trajectory.command(true[aligned.i0[valid]])
    assert np.abs(aligned.values["position"][valid][:, columns] - expected).max() <= 1e-9


def test_report_shows_the_clocks_as_they_are(synced):
    """Shared clocks are not fitted (offset 0, latency measured as injected); device clocks
    are recovered: offset within 1 ms, drift within 5 ppm."""
    episode, result = synced
    for name, stream in episode.streams.items():
        fit, spec = result.clocks[name], stream.spec
        assert fit.declared == spec.clock and fit.evidence is None, (name, fit.declared, fit.evidence)
        if spec.clock == "header":
            assert fit.clock == "header" and not fit.fitted, (name, fit.clock)
            assert fit.offset_ns == 0 and abs(fit.drift_ppm) <= 20, (name, fit.offset_ns, fit.drift_ppm)
            latency, injected = fit.latency, stream.latency_ns
            assert latency is not None and latency.measured, name
            assert abs(latency.median_ns - np.median(injected)) <= TIME_TOLERANCE_NS, name
            assert abs(latency.min_ns - injected.min()) <= TIME_TOLERANCE_NS, name
            assert abs(latency.max_ns - injected.max()) <= TIME_TOLERANCE_NS, name  # the bursts are seen
        else:
            assert fit.clock == "device" and fit.fitted, (name, fit.clock)
            segment = fit.main
            offset_error = segment.offset_ns - stream.offset_at(segment.anchor_ns)
            assert abs(offset_error) <= TIME_TOLERANCE_NS, (name, offset_error / NS_PER_MS)
            assert abs(fit.drift_ppm - spec.drift_ppm) <= 5, (name, fit.drift_ppm)
        summary = result.streams[name].summary
        assert summary.clock == fit.clock and summary.declared == spec.clock, name


def test_device_camera_seconds_behind_the_host(tmp_path):
    episode = truth.write_episode(tmp_path, truth.device_camera(seconds=8.0, seed=13))
    fit = synchronize(episode.path).clocks["wrist_rgb"]
    assert fit.clock == "device"
    assert abs(fit.main.offset_ns - (-3200 * NS_PER_MS)) <= TIME_TOLERANCE_NS, fit.main.offset_ns / NS_PER_MS
    assert abs(fit.drift_ppm) <= 20, fit.drift_ppm


def test_drift_free_device_clock_with_latency_spread_reports_no_drift(tmp_path):
    """17 ms of uniform latency spread over a 6 s episode at 30 Hz is not a drift."""
    episode = truth.write_episode(tmp_path, truth.drift_free_device())
    fit = synchronize(episode.path).clocks["head_rgb"]
    assert fit.clock == "device"
    assert abs(fit.drift_ppm) <= 20, fit.drift_ppm
    offset_error = fit.main.offset_ns - episode.streams["head_rgb"].offset_ns
    assert abs(offset_error) <= TIME_TOLERANCE_NS, offset_error / NS_PER_MS


def test_header_clock_whose_stamps_run_ahead_is_fitted_with_a_warning(tmp_path):
    """A controller declared ``header`` whose stamps are 40 ms later than their receive
    times is not on the host's clock: fitted as a device clock, said so, and timed right."""
    episode = truth.write_episode(tmp_path, truth.unsynchronised_header())
    result = synchronize(episode.path)
    warned = {w.stream for w in result.warnings if w.code == "unsynchronised"}
    assert warned == {"joint_states", "action"}, [w.message for w in result.warnings]
    for name in ("joint_states", "action"):
        fit, stream = result.clocks[name], episode.streams[name]
        assert fit.clock == "device" and fit.declared == "header" and "later than their receive" in fit.evidence
        offset_error = fit.main.offset_ns - stream.offset_at(fit.main.anchor_ns)
        assert abs(offset_error) <= TIME_TOLERANCE_NS, (name, offset_error / NS_PER_MS)
        assert abs(fit.drift_ppm - stream.drift_ppm) <= 5, (name, fit.drift_ppm)
        error = np.abs(result.streams[name].message_time_ns - stream.true_ns)
        assert error.max() <= TIME_TOLERANCE_NS, (name, error.max() / NS_PER_MS)
    assert result.clocks["head_rgb"].clock == "header" and result.clocks["head_rgb"].evidence is None
    aligned = result.streams["joint_states"]
    columns = [aligned.names.index(j) for j in truth.JOINTS]
    error = np.abs(aligned.values["position"][:, columns] - episode.trajectory.position(result.grid_ns))
    assert error.max() <= POSITION_TOLERANCE


def test_header_clock_seconds_off_is_refused_naming_the_skew(tmp_path):
    """Declared ``header`` but 3.2 s behind the host: beyond sync.max_skew_ms, refused."""
    episode = truth.write_episode(tmp_path, truth.unsynchronised_header(controller_offset_ms=-3200.0))
    with pytest.raises(SyncError, match=r"joint_states: at t=\d+\.\d{3} s: clock offset -3\d{3}\.\d{3} ms .*"
                                        r"sync\.max_skew_ms=100"):
        synchronize(episode.path)


def test_seq_survives_the_image_round_trip():
    for seq in (0, 1, 2**truth.SEQ_BITS - 1, 1234):
        assert truth.read_seq(truth.seq_image(seq)) == seq
    broken = truth.seq_image(5)
    broken[:16, :16] = 255 - broken[:16, :16]
    assert truth.read_seq(broken) is None
