"""Synthetic Bao'an episodes written to disk, synchronised, checked against the ground truth.

The synthetic writer's latency model is 8 ms + exp(1 ms) for cameras and
0.3 ms + exp(0.2 ms) otherwise; the constant parts are declared in the rig
(``latency_ms``), as a real rig would after calibration.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
import yaml

from collector.bag.reader import open_bag
from collector.cdr import decode_image
from collector.drivers.synthetic import ImuSource, TrajectoryModel, read_seq
from collector.drivers.synthetic_episode import write_synthetic_episode
from collector.rig import Rig, keep_streams, load_rig, parse_rig
from collector.sync import SyncError, synchronize

NS_PER_MS = 1_000_000
START_NS = 1_750_000_000_000_000_000
SEED = 11
SCENARIO = {"head_rgb": {"offset_ms": 35, "drift_ppm": 200, "jitter_ms": 3, "drop_rate": 0.01}}
STREAMS = ("head_rgb", "joint_states", "left_gripper", "imu", "left_wrench", "action")
LATENCY_MS = {"camera": 8.0, "depth": 8.0}


def small_rig(streams=STREAMS, name="baoan_humanoid") -> Rig:
    """A shipped rig with only ``streams`` (None: all), small camera images (fast to write)
    and the known latencies."""
    doc = yaml.safe_load(load_rig(name).text)
    kept = []
    for stream in doc["streams"]:
        if streams is None or stream["name"] in streams:
            if stream["role"] in ("camera", "depth"):
                stream["width"], stream["height"] = 64, 48
            stream["latency_ms"] = LATENCY_MS.get(stream["role"], 0.3)
            kept.append(stream)
    keep_streams(doc, [s["name"] for s in kept])
    return parse_rig(yaml.safe_dump(doc, sort_keys=False), source=f"{name}_small.yaml")


@pytest.fixture(scope="module")
def rig() -> Rig:
    return small_rig()


@pytest.fixture(scope="module")
def episode(rig, tmp_path_factory):
    out = tmp_path_factory.mktemp("sync_e2e")
    return write_synthetic_episode(out, rig, seconds=60, seed=SEED, faults=SCENARIO, start_ns=START_NS)


@pytest.fixture(scope="module")
def result(episode):
    return synchronize(episode.path)  # the rig comes from the copy stored in the bag


@pytest.fixture(scope="module")
def truth(episode) -> dict[str, dict[str, np.ndarray]]:
    """Per stream, published messages in receive order: true time, seq, receive time."""
    grouped = defaultdict(list)
    for record in episode.truth:
        if record["published"]:
            grouped[record["stream"]].append((record["receive_ns"], record["true_time_ns"], record["seq"]))
    out = {}
    for name, rows in grouped.items():
        rows = np.array(sorted(rows), dtype=np.int64)
        out[name] = {"receive_ns": rows[:, 0], "true_ns": rows[:, 1], "seq": rows[:, 2]}
    return out


def test_messages_line_up_with_truth(result, truth):
    for name, aligned in result.streams.items():
        assert len(aligned.message_time_ns) == len(truth[name]["true_ns"]), name


def test_recovered_offset_drift_jitter_drops(result, episode):
    clock = result.clocks["head_rgb"]
    # declared header, but stamped 35 ms ahead of the host: proven unsynchronised, so fitted
    assert clock.declared == "header" and clock.clock == "device" and "later than their receive time" in clock.evidence
    assert [w.code for w in result.warnings if w.stream == "head_rgb"] == ["unsynchronised"]
    assert clock.regular and not clock.jumps
    assert abs(clock.offset_ns - 35 * NS_PER_MS) <= 0.5 * NS_PER_MS
    assert abs(clock.drift_ppm - 200) <= 10
    assert 2.5 * NS_PER_MS <= clock.jitter_ns <= 3.5 * NS_PER_MS
    records = [r for r in episode.truth if r["stream"] == "head_rgb"]
    published = [r["seq"] for r in records if r["published"]]
    inner_drops = sum(1 for r in records if not r["published"] and published[0] < r["seq"] < published[-1])
    assert result.streams["head_rgb"].summary.missing == inner_drops > 0
    for name in STREAMS[1:]:  # fault-free streams on the host clock: trusted, never fitted
        fit = result.clocks[name]
        assert fit.clock == "header" and fit.offset_ns == 0 and fit.drift_ppm == 0 and not fit.segments, name
        # the synthetic writer's latency: 0.3 ms + exp(0.2 ms), measured, not applied
        assert fit.latency.measured and 0.3 * NS_PER_MS <= fit.latency.min_ns < 0.35 * NS_PER_MS, name
        assert 0.4 * NS_PER_MS <= fit.latency.median_ns <= 0.5 * NS_PER_MS, name


def test_source_times_match_true_capture_times(result, truth):
    for name, aligned in result.streams.items():
        error = np.abs(aligned.message_time_ns - truth[name]["true_ns"])
        assert np.median(error) <= 0.5 * NS_PER_MS, name
        assert np.percentile(error, 99) <= 2 * NS_PER_MS, name


def test_images_never_from_outside_tolerance(result, truth, episode):
    aligned = result.streams["head_rgb"]
    true = truth["head_rgb"]["true_ns"]
    estimate_error = np.abs(aligned.message_time_ns - true).max()
    valid = aligned.valid
    assert np.all(np.abs(aligned.alignment_error_ns[valid]) <= aligned.limit_ns)
    assert np.all(np.abs(true[aligned.i0[valid]] - result.grid_ns[valid]) <= aligned.limit_ns + estimate_error)
    assert 0 < (~valid).sum() <= 0.02 * result.frames  # dropped frames leave holes, never a far frame
    # i0 is the message index in the bag's topic order: the image there carries the truth's seq
    wanted = {int(i): k for k, i in enumerate(aligned.i0) if valid[k] and k % 97 == 0}
    topic = "/head_camera/color/image_raw"
    with open_bag(episode.path) as bag:
        for index, message in enumerate(bag.messages([topic])):
            if index in wanted:
                assert read_seq(decode_image(message.data).data) == truth["head_rgb"]["seq"][index]


def test_joint_positions_match_the_trajectory_within_the_interpolation_bound(result, rig, truth):
    aligned = result.streams["joint_states"]
    assert aligned.valid.all() and aligned.policy == "linear"
    model = TrajectoryModel(rig.robot, SEED)
    columns = model.index(aligned.names)
    expected = np.stack([model.at(int(t)).position[columns] for t in result.grid_ns])
    velocity = np.stack([model.at(int(t)).velocity[columns] for t in result.grid_ns])
    # |q''| from the analytic velocity, finite differences over 1 ms
    ahead = np.stack([model.at(int(t) + NS_PER_MS).velocity[columns] for t in result.grid_ns])
    acceleration = np.abs(ahead - velocity).max(axis=0) / 1e-3
    gap_s = aligned.bracket_gap_ns.max() / 1e9
    time_error_s = np.abs(aligned.message_time_ns - truth["joint_states"]["true_ns"]).max() / 1e9
    bound = gap_s**2 / 8 * acceleration * 1.1 + time_error_s * np.abs(velocity).max(axis=0) + 1e-9
    error = np.abs(aligned.values["position"] - expected)
    assert np.all(error <= bound), (error.max(axis=0), bound)
    assert error.max() < 1e-4  # radians


def test_interpolation_never_reaches_across_a_gap_wider_than_the_limit(result, truth):
    for name in ("joint_states", "imu", "left_wrench"):
        aligned = result.streams[name]
        valid = aligned.valid
        assert np.all(aligned.bracket_gap_ns[valid] <= aligned.limit_ns), name
        true = truth[name]["true_ns"]
        span = true[aligned.i1[valid]] - true[aligned.i0[valid]]
        assert np.all(span <= aligned.limit_ns + 0.1 * NS_PER_MS), name


def test_imu_orientation_slerped_to_the_truth(result, rig):
    aligned = result.streams["imu"]
    source = ImuSource(rig.stream("imu"), SEED)
    expected = np.array([source.sample(int(t)).orientation for t in result.grid_ns])
    dot = np.abs(np.sum(aligned.values["orientation"] * expected, axis=1))
    angle = 2 * np.arccos(np.clip(dot, -1, 1))
    assert angle.max() < 1e-4  # radians


def test_action_is_held_exactly(result, episode):
    aligned = result.streams["action"]
    assert aligned.policy == "hold" and aligned.valid.all()
    assert np.all(aligned.alignment_error_ns <= 0) and np.all(aligned.alignment_error_ns > -10.5 * NS_PER_MS)


def test_report_summary(result):
    report = result.to_dict()
    cam = report["streams"]["head_rgb"]["summary"]
    assert abs(cam["offset_ms"] - 35) < 0.5 and cam["invalid_frames"] == cam["outside_limit"]
    assert report["frames"] == result.frames and 1790 <= result.frames <= 1800


def test_heavy_drops_refused_naming_stream_and_time(tmp_path):
    rig = small_rig(("head_rgb", "joint_states"))
    faults = {"head_rgb": {"drop_rate": 0.2}}
    episode = write_synthetic_episode(tmp_path, rig, seconds=4, seed=2, faults=faults, start_ns=START_NS)
    with pytest.raises(SyncError, match=r"head_rgb: at t=\d+\.\d{3} s: \d+ of \d+ frames") as refused:
        synchronize(episode.path)
    # the episode is named first, so a refusal in a folder of episodes says which one
    assert str(refused.value).startswith(f"{episode.path}: head_rgb: at t=")
    assert refused.value.episode == str(episode.path)
    kept = synchronize(episode.path, keep=True)
    assert kept.violations[0].stream == "head_rgb" and not kept.streams["head_rgb"].valid.all()


def test_required_stream_dying_mid_episode_is_refused_not_quietly_trimmed(tmp_path):
    rig = small_rig(("head_rgb", "joint_states"))
    faults = {"joint_states": {"silent_after_s": 2.5}}
    episode = write_synthetic_episode(tmp_path, rig, seconds=5, seed=3, faults=faults, start_ns=START_NS)
    with pytest.raises(SyncError, match=r"joint_states: at t=2.4\d\d s: no data for the last 2.\d+ s"):
        synchronize(episode.path)
    result = synchronize(episode.path, keep=True)
    assert (result.grid_ns[-1] - result.t0_ns) / 1e9 < 2.5
    assert [w.code for w in result.warnings] == ["trimmed", "kept"]
    assert [(v.stream, v.kind) for v in result.violations] == [("joint_states", "gap")]


def test_longhua_hands_and_tactile(tmp_path):
    """Every role of the full-body rig: hands interpolated, tactile grids interpolated."""
    rig = small_rig(None, name="longhua_humanoid")
    episode = write_synthetic_episode(tmp_path, rig, seconds=3, seed=4, start_ns=START_NS)
    result = synchronize(episode.path)
    assert result.valid.all() and not result.violations
    tactile = result.streams["left_tactile"]
    assert tactile.policy == "linear" and tactile.values["pressure"].shape == (result.frames, 5, 16)
    assert tactile.values["pressure"].dtype == np.float32 and np.isfinite(tactile.values["pressure"]).all()
    hand = result.streams["left_hand"]
    assert hand.values["position"].shape == (result.frames, len(rig.stream("left_hand").joints))
    assert hand.names == rig.stream("left_hand").joints
    assert {a.policy for a in result.streams.values()} == {"nearest", "linear", "slerp", "hold"}
