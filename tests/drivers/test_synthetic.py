"""The synthetic robot's pure logic: content, faults, schedule, truth (no ROS)."""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import pytest

from collector.drivers.synthetic import (
    DEFAULT_LEAD_NS,
    GRAVITY,
    NS_PER_MS,
    NS_PER_S,
    PERIOD_NS,
    DepthSource,
    ImageSource,
    ImuSource,
    JointSource,
    Schedule,
    StreamFaults,
    SyntheticConfig,
    SyntheticError,
    TactileSource,
    TrajectoryModel,
    TruthWriter,
    WrenchSource,
    draw_number,
    make_source,
    parse_faults,
    read_number,
    read_seq,
    read_truth,
)
from collector.errors import CollectorError
from collector.rig import load_rig

START_NS = 1_750_000_000 * NS_PER_S + 123_456_789  # an epoch time, not a round number


@pytest.fixture(scope="module")
def baoan():
    return load_rig("baoan_humanoid")


@pytest.fixture(scope="module")
def longhua():
    return load_rig("longhua_humanoid")


def sample_times(count: int, seed: int = 1) -> list[int]:
    """Capture times spread over a whole content period."""
    rng = np.random.default_rng(seed)
    return [START_NS + int(t) for t in rng.integers(0, PERIOD_NS, count)]


# ------------------------------------------------------------------ joints


@pytest.mark.parametrize("rig_name", ["baoan_humanoid", "longhua_humanoid"])
def test_joint_positions_stay_inside_limits(rig_name):
    robot = load_rig(rig_name).robot
    model = TrajectoryModel(robot, seed=3)
    low, high = model.limits[:, 0], model.limits[:, 1]
    positions = np.array([model.at(t).position for t in sample_times(2000)])
    assert np.all(positions >= low) and np.all(positions <= high)
    # and they use a good part of the range, not a constant
    assert np.all(positions.max(axis=0) - positions.min(axis=0) > 0.2 * (high - low))


def test_velocity_is_the_derivative_of_position(baoan):
    model = TrajectoryModel(baoan.robot)
    step_ns = NS_PER_MS
    for t in sample_times(50):
        numeric = (model.at(t + step_ns).position - model.at(t - step_ns).position) / (2 * step_ns / NS_PER_S)
        np.testing.assert_allclose(model.at(t).velocity, numeric, rtol=1e-4, atol=1e-6)


def test_effort_is_smooth_and_finite(baoan):
    model = TrajectoryModel(baoan.robot)
    efforts = np.array([model.at(START_NS + i * 2 * NS_PER_MS).effort for i in range(500)])
    assert np.all(np.isfinite(efforts)) and np.abs(efforts).max() < 100
    assert np.abs(np.diff(efforts, axis=0)).max() < 1.0  # no jumps between 2 ms samples


def test_action_leads_state_by_lead_ns_exactly(baoan):
    model = TrajectoryModel(baoan.robot, seed=5)
    action = make_source(baoan.stream("action"), model)
    state = make_source(baoan.stream("joint_states"), model)
    grippers = [make_source(baoan.stream(n), model) for n in ("left_gripper", "right_gripper")]
    assert action.lead_ns == DEFAULT_LEAD_NS == 50 * NS_PER_MS
    assert len(action.sample(START_NS).position) == len(baoan.stream("action").joints) == 19
    n_body = len(baoan.stream("joint_states").joints)
    for t in sample_times(100):
        command = action.sample(t)
        measured = state.sample(t + DEFAULT_LEAD_NS)
        assert np.array_equal(command.position[:n_body], measured.position)
        assert np.array_equal(command.velocity[:n_body], measured.velocity)
        for i, gripper in enumerate(grippers):
            assert command.position[n_body + i] == gripper.sample(t + DEFAULT_LEAD_NS).position[0]
        assert not np.array_equal(command.position[:n_body], state.sample(t).position)


def test_gripper_opens_and_closes_within_limits(baoan):
    model = TrajectoryModel(baoan.robot)
    gripper = JointSource(baoan.stream("left_gripper"), model)
    openings = np.array([gripper.sample(START_NS + i * 10 * NS_PER_MS).position[0] for i in range(3000)])  # 30 s
    assert openings.min() >= 0.0 and openings.max() <= 0.08
    assert openings.min() < 0.01 and openings.max() > 0.07  # a full close and open in 30 s
    assert np.abs(np.diff(openings)).max() < 0.001  # smooth: < 1 mm per 10 ms


def test_hand_joints_move_inside_limits(longhua):
    model = TrajectoryModel(longhua.robot)
    hand = JointSource(longhua.stream("left_hand"), model)
    limits = np.array([longhua.robot.joint_limits[j] for j in hand.stream.joints])
    positions = np.array([hand.sample(t).position for t in sample_times(500)])
    assert np.all(positions >= limits[:, 0]) and np.all(positions <= limits[:, 1])


def test_content_depends_only_on_seed_and_time(baoan):
    a = TrajectoryModel(baoan.robot, seed=1).at(START_NS).position
    assert np.array_equal(a, TrajectoryModel(baoan.robot, seed=1).at(START_NS).position)
    assert not np.array_equal(a, TrajectoryModel(baoan.robot, seed=2).at(START_NS).position)
    assert np.array_equal(a, TrajectoryModel(baoan.robot, seed=1).at(START_NS + PERIOD_NS).position)


# ------------------------------------------------------------------ IMU, wrench, tactile


def quaternion_matrix(x, y, z, w):
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def test_imu_is_consistent(baoan):
    imu = ImuSource(baoan.stream("imu"), seed=2)
    step_ns = NS_PER_MS
    angles = []
    for t in sample_times(50):
        sample = imu.sample(t)
        q = np.array(sample.orientation)
        assert abs(np.linalg.norm(q) - 1) < 1e-12
        rotation = quaternion_matrix(*q)
        np.testing.assert_allclose(sample.linear_acceleration, rotation.T @ [0, 0, GRAVITY], atol=1e-9)
        # body angular velocity from the orientation's numerical derivative
        before = quaternion_matrix(*imu.sample(t - step_ns).orientation)
        after = quaternion_matrix(*imu.sample(t + step_ns).orientation)
        skew = rotation.T @ (after - before) / (2 * step_ns / NS_PER_S)
        omega = np.array([skew[2, 1], skew[0, 2], skew[1, 0]])
        np.testing.assert_allclose(sample.angular_velocity, omega, atol=1e-5)
        angles.append(2 * math.acos(min(1.0, abs(q[3]))))
    assert 0.05 < max(angles) < 0.35  # sways by a realistic angle


def test_wrench_is_smooth(baoan):
    wrench = WrenchSource(baoan.stream("left_wrench"))
    samples = np.array([np.concatenate(wrench.sample(START_NS + i * 2 * NS_PER_MS)) for i in range(1000)])
    assert samples.shape == (1000, 6) and np.all(np.isfinite(samples))
    assert samples[:, 2].mean() < -2  # the tool weighs something
    assert np.abs(np.diff(samples, axis=0)).max() < 0.1
    assert np.all(samples.std(axis=0) > 0.01)


def test_tactile_blobs_move(longhua):
    tactile = TactileSource(longhua.stream("left_tactile"))
    first = tactile.render(START_NS)
    later = tactile.render(START_NS + NS_PER_S)
    assert first.shape == (5, 16) and first.dtype == np.float32
    assert first.min() >= 0 and 10 < first.max() < 80
    assert np.unravel_index(first.argmax(), first.shape) != np.unravel_index(later.argmax(), later.shape)


# ------------------------------------------------------------------ images


def test_camera_frame_carries_its_sequence_number(baoan):
    camera = ImageSource(baoan.stream("head_rgb"), seed=4)
    frame = camera.render(START_NS, 123456)
    assert frame.shape == (480, 640, 3) and frame.dtype == np.uint8
    assert read_seq(frame) == 123456
    assert read_seq(frame.tobytes()) == 123456
    assert read_number(frame, scale=camera.scale) == 123456
    # digits survive lossy compression noise
    noisy = np.clip(frame.astype(int) + np.random.default_rng(0).integers(-40, 40, frame.shape), 0, 255)
    assert read_number(noisy.astype(np.uint8), scale=camera.scale) == 123456


def test_camera_pattern_moves_and_is_deterministic(baoan):
    stream = baoan.stream("head_rgb")
    camera = ImageSource(stream, seed=4)
    a = camera.render(START_NS, 7)
    b = camera.render(START_NS + 33 * NS_PER_MS, 7)
    assert not np.array_equal(a, b)
    assert np.array_equal(a, ImageSource(stream, seed=4).render(START_NS, 7))
    assert not np.array_equal(a, ImageSource(stream, seed=5).render(START_NS, 7))
    assert a.std() > 20  # a pattern, not a flat colour


@pytest.mark.parametrize("encoding, shape", [("bgr8", (48, 64, 3)), ("mono8", (48, 64))])
def test_camera_other_encodings(baoan, encoding, shape):
    stream = dataclasses.replace(baoan.stream("head_rgb"), encoding=encoding, width=64, height=48)
    frame = ImageSource(stream).render(START_NS, 99)
    assert frame.shape == shape and read_seq(frame) == 99


def test_camera_renders_into_given_buffer(baoan):
    camera = ImageSource(baoan.stream("left_wrist_rgb"))
    buffer = bytearray(100 + 480 * 640 * 3)
    view = np.frombuffer(buffer, np.uint8, count=480 * 640 * 3, offset=100).reshape(480, 640, 3)
    camera.render(START_NS, 42, out=view)
    assert read_seq(buffer[100:]) == 42
    assert np.array_equal(view, camera.render(START_NS, 42))


def test_depth_frame(baoan):
    depth = DepthSource(baoan.stream("head_depth"), seed=1)
    a = depth.render(START_NS, 5)
    b = depth.render(START_NS + NS_PER_S, 6)
    assert a.shape == (480, 640) and a.dtype == np.uint16
    assert read_seq(a) == 5 and read_seq(b) == 6
    body = a[1:].astype(int)  # row 0 starts with the sequence number
    assert 500 < body.min() and body.max() < 2000  # millimetres: an object ~0.8 m, a table ~1.4 m
    moved = body - b[1:].astype(int)
    assert moved.min() < -200 and moved.max() > 200  # the bump left one place and reached another
    metres = DepthSource(dataclasses.replace(depth.stream, encoding="32FC1"), seed=1).render(START_NS, 5)
    assert metres.dtype == np.float32 and read_seq(metres) == 5
    np.testing.assert_allclose(metres[1:], a[1:] / 1000, atol=0.001)


def test_draw_number_skips_digits_that_do_not_fit():
    image = np.zeros((20, 20), np.uint8)
    draw_number(image, 123456, scale=1)
    assert read_number(image, scale=1) == 1234


def test_unsupported_encoding_is_refused(baoan):
    with pytest.raises(SyntheticError, match="yuv422"):
        ImageSource(dataclasses.replace(baoan.stream("head_rgb"), encoding="yuv422"))


def test_generating_the_whole_rig_is_cheap(baoan):
    """All Bao'an streams for 1 s at nominal rate: well under half a core (bench/ has the real number)."""
    model = TrajectoryModel(baoan.robot)
    sources = {s.name: make_source(s, model) for s in baoan.streams}
    events = list(Schedule(baoan.streams, start_ns=START_NS).until(START_NS + NS_PER_S))
    assert len(events) > 2100
    started = time.process_time()
    for event in events:
        source = sources[event.stream.name]
        if hasattr(source, "render"):
            source.render(event.true_ns, event.seq)
        else:
            source.sample(event.true_ns, event.seq)
    assert time.process_time() - started < 0.5


# ------------------------------------------------------------------ schedule


def test_schedule_without_faults(baoan):
    duration_ns = 10 * NS_PER_S
    events = list(Schedule(baoan.streams, start_ns=START_NS, seed=0).until(START_NS + duration_ns))
    due = [e.due_ns for e in events]
    assert due == sorted(due)
    for stream in baoan.streams:
        mine = [e for e in events if e.stream.name == stream.name]
        assert abs(len(mine) - stream.rate_hz * 10) <= 1, stream.name
        assert [e.seq for e in mine] == list(range(len(mine)))
        assert all(e.published and e.stamp_ns == e.true_ns == e.due_ns for e in mine)
        gaps = np.diff([e.true_ns for e in mine])
        assert np.all(np.abs(gaps - 1e9 / stream.rate_hz) <= 1)
        assert START_NS <= mine[0].true_ns < START_NS + stream.period_ns


def test_schedule_applies_offset_drift_jitter_latency(baoan):
    faults = parse_faults("{joint_states: {offset_ms: 35, drift_ppm: 200, jitter_ms: 0.5, latency_ms: 4}}")
    schedule = Schedule(baoan.streams, start_ns=START_NS, faults=faults, seed=3)
    events = [e for e in schedule.until(START_NS + 20 * NS_PER_S) if e.stream.name == "joint_states"]
    assert len(events) == pytest.approx(10_000, abs=3)  # latency pushes the last ones past the end
    true = np.array([e.true_ns for e in events])
    stamp = np.array([e.stamp_ns for e in events])
    residual = stamp - true - 35 * NS_PER_MS - (true - START_NS) * 200e-6
    assert abs(residual.mean()) < 4 * 0.5e6 / math.sqrt(len(events))
    assert residual.std() == pytest.approx(0.5e6, rel=0.05)
    assert all(e.due_ns - e.true_ns == 4 * NS_PER_MS for e in events)
    # a clean fit recovers the drift (ppm) and offset (ms)
    slope, intercept = np.polyfit((true - START_NS) / 1e9, (stamp - true) / 1e6, 1)
    assert slope * 1e3 == pytest.approx(200, abs=5) and intercept == pytest.approx(35, abs=0.05)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_drop_rate_within_binomial_bounds(baoan, seed):
    rate = 0.1
    faults = {"left_wrench": StreamFaults(drop_rate=rate)}
    schedule = Schedule(baoan.streams, start_ns=START_NS, faults=faults, seed=seed)
    events = [e for e in schedule.until(START_NS + 20 * NS_PER_S) if e.stream.name == "left_wrench"]
    n = len(events)
    dropped = sum(not e.published for e in events)
    assert abs(dropped - n * rate) < 4 * math.sqrt(n * rate * (1 - rate))
    assert [e.seq for e in events] == list(range(n))  # drops leave gaps in seq, not in the truth


def test_silent_stream_stops(baoan):
    faults = {"imu": StreamFaults(silent_after_s=1.5)}
    events = [e for e in Schedule(baoan.streams, start_ns=START_NS, faults=faults).until(START_NS + 5 * NS_PER_S)
              if e.stream.name == "imu"]
    assert events and max(e.true_ns for e in events) < START_NS + 1.5 * NS_PER_S
    assert len(events) == pytest.approx(300, abs=1)
    everything_silent = {s.name: StreamFaults(silent_after_s=0.1) for s in baoan.streams}
    assert len(list(Schedule(baoan.streams, start_ns=START_NS, faults=everything_silent))) < 300  # ends


def test_schedule_is_deterministic_per_seed(baoan):
    faults = parse_faults("{'*': {jitter_ms: 1, drop_rate: 0.05}}", [s.name for s in baoan.streams])

    def run(seed):
        schedule = Schedule(baoan.streams, start_ns=START_NS, faults=faults, seed=seed)
        return [(e.stream.name, e.seq, e.true_ns, e.stamp_ns, e.published)
                for e in schedule.until(START_NS + 2 * NS_PER_S)]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_rate_scale_raises_camera_rates(baoan):
    schedule = Schedule(baoan.streams, start_ns=START_NS, rate_scale={"camera": 2.0, "depth": 2.0})
    assert schedule.rates_hz["head_rgb"] == 60 and schedule.rates_hz["joint_states"] == 500
    events = [e for e in schedule.until(START_NS + 2 * NS_PER_S) if e.stream.name == "head_depth"]
    assert len(events) == pytest.approx(120, abs=1)
    with pytest.raises(SyntheticError, match="'cameras'"):
        Schedule(baoan.streams, start_ns=START_NS, rate_scale={"cameras": 2.0})
    with pytest.raises(SyntheticError, match="rate_scale.camera"):
        Schedule(baoan.streams, start_ns=START_NS, rate_scale={"camera": 0})


# ------------------------------------------------------------------ faults parsing


def test_parse_faults_converts_milliseconds():
    faults = parse_faults("{head_rgb: {offset_ms: 35, drift_ppm: 200, jitter_ms: 3, drop_rate: 0.01, latency_ms: 2.5}}")
    assert faults == {"head_rgb": StreamFaults(offset_ns=35_000_000, drift_ppm=200, jitter_ns=3_000_000,
                                               latency_ns=2_500_000, drop_rate=0.01)}
    assert parse_faults({"imu": {"silent_after_s": 2, "offset_ms": -1}}) == {
        "imu": StreamFaults(silent_after_s=2, offset_ns=-1_000_000)}
    assert parse_faults('{"imu": {"drop_rate": 0.5}}')["imu"].drop_rate == 0.5  # JSON is YAML
    assert parse_faults("") == {} and parse_faults(None) == {}


def test_parse_faults_defaults_for_every_stream():
    faults = parse_faults({"*": {"jitter_ms": 1}, "imu": {"drop_rate": 0.2}}, ["imu", "head_rgb"])
    assert faults["head_rgb"] == StreamFaults(jitter_ns=1_000_000)
    assert faults["imu"] == StreamFaults(jitter_ns=1_000_000, drop_rate=0.2)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("{head_rbg: {offset_ms: 3}}", "'head_rbg'"),
        ("{head_rgb: {offset: 3}}", "faults.head_rgb.offset: unknown key"),
        ("{head_rgb: {drop_rate: 1.5}}", "drop_rate=1.5"),
        ("{head_rgb: {jitter_ms: -1}}", "jitter_ns=-1000000"),
        ("{head_rgb: {offset_ms: fast}}", "'fast'"),
        ("{head_rgb: {offset_ms: true}}", "True"),
        ("{head_rgb: {silent_after_s: -1}}", "silent_after_s=-1"),
        ("{head_rgb: 3}", "faults.head_rgb: expected a mapping"),
        ("[head_rgb]", "expected a mapping"),
        ("{head_rgb: {offset_ms: 3}", "invalid YAML"),
    ],
)
def test_parse_faults_errors_name_the_problem(spec, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[")) as info:
        parse_faults(spec, ["head_rgb", "imu"])
    assert isinstance(info.value, CollectorError)


def test_star_needs_stream_names():
    with pytest.raises(SyntheticError, match=r"'\*'"):
        parse_faults({"*": {"jitter_ms": 1}})


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"offset_ns": 1.5}, "offset_ns=1.5"),
        ({"latency_ns": -1}, "latency_ns=-1"),
        ({"drop_rate": -0.1}, "drop_rate=-0.1"),
        ({"drift_ppm": float("nan")}, "drift_ppm"),
    ],
)
def test_stream_faults_validation(fields, message):
    with pytest.raises(SyntheticError, match=message):
        StreamFaults(**fields)


# ------------------------------------------------------------------ truth and config


def test_truth_round_trip(baoan, tmp_path):
    path = tmp_path / "truth.jsonl"
    faults = {"imu": StreamFaults(drop_rate=0.5)}
    events = list(Schedule(baoan.streams, start_ns=START_NS, faults=faults).until(START_NS + NS_PER_S // 10))
    with TruthWriter(path) as truth:
        for event in events:
            truth.write(event)
        assert not path.exists()  # only complete files get the final name
    records = read_truth(path)
    assert records == [
        dict(stream=e.stream.name, seq=e.seq, true_time_ns=e.true_ns, stamp_ns=e.stamp_ns, published=e.published)
        for e in events
    ]
    with pytest.raises(CollectorError, match="exists already"):
        TruthWriter(path)


def test_config_validation_and_faults_file(tmp_path):
    config = SyntheticConfig(camera_rate_scale=2.0, action_lead_ms=20)
    assert config.rate_scale == {"camera": 2.0, "depth": 2.0} and config.lead_ns == 20 * NS_PER_MS
    bad = [({"seed": -1}, "seed"), ({"seed": 1.5}, "seed"), ({"camera_rate_scale": 0}, "camera_rate_scale"),
           ({"duration_s": -2}, "duration_s"), ({"rig": ""}, "rig"), ({"faults": 3}, "faults")]
    for fields, message in bad:
        with pytest.raises(SyntheticError, match=message):
            SyntheticConfig(**fields)
    spec = tmp_path / "faults.yaml"
    spec.write_text("imu:\n  offset_ms: 10\n")
    assert SyntheticConfig(faults=str(spec)).load_faults(["imu"]) == {"imu": StreamFaults(offset_ns=10_000_000)}
    assert SyntheticConfig(faults="{imu: {offset_ms: 1}}").load_faults(["imu"])["imu"].offset_ns == 1_000_000
    with pytest.raises(SyntheticError, match="not found"):
        SyntheticConfig(faults=str(tmp_path / "missing.yaml")).load_faults(["imu"])
