"""In-process synthetic episodes: read back with rosbags (independent) and our reader, checked
against the truth, the faults and what the live recorder computes."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest

from collector.bag.reader import open_bag
from collector.capture.recording import Recorder, RecorderConfig
from collector.cdr import decode_image, decode_imus, decode_joint_states, decode_wrenches, header_stamps
from collector.drivers.synthetic import (
    NS_PER_MS,
    NS_PER_S,
    StreamFaults,
    SyntheticError,
    TrajectoryModel,
    read_seq,
    read_truth,
)
from collector.drivers.synthetic_episode import LatencyModel, SyntheticEpisode, write_synthetic_episode
from collector.episode import read_episode_info
from collector.rig import load_rig

START_NS = 1_750_000_000 * NS_PER_S + 123_456_789
SECONDS = 3.0
FAULTS = {
    "head_rgb": {"offset_ms": 35},
    "left_wrench": {"drop_rate": 0.2},
    "imu": {"silent_after_s": 1.5},
    "joint_states": {"jitter_ms": 0.3, "drift_ppm": 200},
}


@pytest.fixture(scope="module")
def baoan():
    return load_rig("baoan_humanoid")


@pytest.fixture(scope="module")
def episode(baoan, tmp_path_factory) -> SyntheticEpisode:
    out = tmp_path_factory.mktemp("episodes")
    return write_synthetic_episode(out, baoan, seconds=SECONDS, seed=7, faults=FAULTS, start_ns=START_NS,
                                   camera_rate_scale=0.2, task="pick the resistor", operator="op_17",
                                   write_truth=True)


def truth_by_stream(episode: SyntheticEpisode, published_only: bool = True) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = defaultdict(list)
    for record in episode.truth:
        if record["published"] or not published_only:
            grouped[record["stream"]].append(record)
    return grouped


@pytest.fixture(scope="module")
def bag_messages(episode) -> dict[str, list]:
    """Our reader's messages per stream name, in log-time order."""
    with open_bag(episode.path) as reader:
        topics = {t.name: t for t in reader.topics}
        grouped: dict[str, list] = defaultdict(list)
        name_of = {s.topic: n for n, s in episode.info.streams.items()}
        assert set(topics) == set(name_of)
        for message in reader.messages():
            grouped[name_of[message.topic]].append(message)
    return grouped


# ------------------------------------------------------------------ the bag


def test_rosbags_reads_the_episode(episode, baoan):
    from rosbags.rosbag2 import Reader
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    published = Counter(r["stream"] for r in episode.truth if r["published"])
    topic_of = {s.name: s.topic for s in baoan.streams}
    trajectory = TrajectoryModel(baoan.robot, 7)
    truth = {(r["stream"], r["stamp_ns"]): r for r in episode.truth if r["published"]}
    name_of = {s.topic: s.name for s in baoan.streams}
    with Reader(episode.path) as reader:
        assert {c.topic: c.msgcount for c in reader.connections} == {topic_of[n]: c for n, c in published.items()}
        assert {c.topic: c.msgtype for c in reader.connections} == {s.topic: s.type for s in baoan.streams}
        seen = Counter()
        for connection, log_time, raw in reader.messages():
            name = name_of[connection.topic]
            if seen[name] >= 3:
                continue
            seen[name] += 1
            msg = store.deserialize_cdr(raw, connection.msgtype)
            stamp = msg.header.stamp.sec * NS_PER_S + msg.header.stamp.nanosec
            record = truth[(name, stamp)]
            assert log_time == record["receive_ns"]
            assert msg.header.frame_id == baoan.stream(name).frame_id
            if connection.msgtype == "sensor_msgs/msg/Image":
                assert read_seq(msg.data) == record["seq"]
                assert (msg.height, msg.width, msg.encoding) == (480, 640, baoan.stream(name).encoding)
            elif name == "joint_states":
                assert list(msg.name) == list(baoan.stream(name).joints)
                expected = trajectory.at(record["true_time_ns"]).position[trajectory.index(msg.name)]
                np.testing.assert_array_equal(msg.position, expected)
    assert set(seen) == set(published)


def test_counts_stamps_and_receive_times_match_truth(episode, bag_messages):
    truth = truth_by_stream(episode)
    assert set(bag_messages) == set(truth)
    for name, records in truth.items():
        messages = bag_messages[name]
        assert len(messages) == len(records), name
        np.testing.assert_array_equal(header_stamps([m.data for m in messages]), [r["stamp_ns"] for r in records])
        assert [m.log_time_ns for m in messages] == [r["receive_ns"] for r in records]
        assert [m.publish_time_ns for m in messages] == [r["publish_ns"] for r in records]


def test_written_in_receive_order(episode):
    with open_bag(episode.path) as reader:
        log_times = [m.log_time_ns for m in reader.messages(ordered=False)]  # file order = write order
    assert log_times == sorted(log_times)
    assert len(log_times) == sum(r["published"] for r in episode.truth)


def test_messages_decode_to_the_content(episode, bag_messages, baoan):
    truth = truth_by_stream(episode)
    trajectory = TrajectoryModel(baoan.robot, 7)
    joints = decode_joint_states([m.data for m in bag_messages["joint_states"]])
    times = [r["true_time_ns"] for r in truth["joint_states"]]
    index = trajectory.index(joints.names)
    np.testing.assert_array_equal(joints.position, [trajectory.at(t).position[index] for t in times])
    imus = decode_imus([m.data for m in bag_messages["imu"]])
    np.testing.assert_allclose(np.linalg.norm(imus.orientation, axis=1), 1.0)
    np.testing.assert_allclose(np.linalg.norm(imus.linear_acceleration, axis=1), 9.80665)
    wrenches = decode_wrenches([m.data for m in bag_messages["right_wrench"]])
    assert wrenches.force.shape == (len(truth["right_wrench"]), 3)
    for name in ("head_rgb", "head_depth"):
        seqs = [read_seq(decode_image(m.data).data) for m in bag_messages[name]]
        assert seqs == [r["seq"] for r in truth[name]]
    depth = decode_image(bag_messages["head_depth"][0].data)
    assert depth.data.dtype == np.uint16 and depth.data.shape == (480, 640)


# ------------------------------------------------------------------ faults and latency


def test_offset_fault_shifts_stamps(episode):
    records = truth_by_stream(episode)["head_rgb"]
    assert records
    assert {r["stamp_ns"] - r["true_time_ns"] for r in records} == {35 * NS_PER_MS}
    clean = truth_by_stream(episode)["right_wrist_rgb"]
    assert {r["stamp_ns"] - r["true_time_ns"] for r in clean} == {0}


def test_drop_rate_fault(episode, bag_messages):
    records = truth_by_stream(episode, published_only=False)["left_wrench"]
    dropped = sum(not r["published"] for r in records)
    assert len(records) == pytest.approx(500 * SECONDS, abs=2)
    assert dropped / len(records) == pytest.approx(0.2, abs=0.04)
    assert len(bag_messages["left_wrench"]) == len(records) - dropped
    assert all(r["receive_ns"] is None and r["publish_ns"] is None for r in records if not r["published"])
    stats = episode.info.streams["left_wrench"]
    assert stats.gaps > 0 and stats.missing > 0
    assert episode.info.streams["right_wrench"].gaps == 0


def test_silent_after_fault(episode):
    records = truth_by_stream(episode, published_only=False)["imu"]
    silent_from = START_NS + 1_500_000_000
    assert records and all(r["true_time_ns"] < silent_from for r in records)
    assert max(r["true_time_ns"] for r in records) > silent_from - 10 * NS_PER_MS
    assert len(records) == pytest.approx(200 * 1.5, abs=2)


def test_jitter_and_drift_fault(episode):
    records = truth_by_stream(episode)["joint_states"]
    true = np.array([r["true_time_ns"] for r in records])
    error = np.array([r["stamp_ns"] for r in records]) - true
    drift = (true - START_NS) * 200e-6
    residual = error - drift
    assert abs(residual.mean()) < 0.05 * NS_PER_MS
    assert residual.std() == pytest.approx(0.3 * NS_PER_MS, rel=0.1)


def test_latency_model(episode):
    by_stream = truth_by_stream(episode)
    for name, base_ns, tail_ns in (("head_rgb", 8 * NS_PER_MS, NS_PER_MS), ("left_wrench", 300_000, 200_000)):
        records = by_stream[name]
        base = np.array([r["publish_ns"] - r["true_time_ns"] for r in records])
        transport = np.array([r["receive_ns"] - r["publish_ns"] for r in records])
        assert (base == base_ns).all()
        assert (transport >= 0).all()
        assert transport.mean() == pytest.approx(tail_ns, rel=0.35)
        receive = [r["receive_ns"] for r in records]
        assert receive == sorted(receive), "a stream arrives in order"


def test_latency_model_validation_and_none(baoan, tmp_path):
    with pytest.raises(SyntheticError, match="unknown role 'lidar'"):
        LatencyModel(base_ns={"lidar": 5})
    with pytest.raises(SyntheticError, match=r"tail_ns\['imu'\]=-1"):
        LatencyModel(tail_ns={"imu": -1})
    episode = write_synthetic_episode(tmp_path, baoan, seconds=0.2, start_ns=START_NS, latency=LatencyModel.none(),
                                      streams=["imu", "left_gripper"])
    for record in episode.truth:
        assert record["receive_ns"] == record["publish_ns"] == record["true_time_ns"]


# ------------------------------------------------------------------ episode.json and the recorder


def test_episode_json(episode, baoan):
    info = read_episode_info(episode.path)
    assert info.status == "complete" and info.end_reason == "duration"
    assert (info.rig, info.site, info.robot) == (baoan.rig, baoan.site, baoan.robot.model)
    assert (info.task, info.operator) == ("pick the resistor", "op_17")
    assert info.episode_id == episode.path.name and episode.path.name.startswith("baoan_humanoid_")
    assert (episode.path / info.bag).is_file()
    assert info.start_ns == START_NS
    last_receive = max(r["receive_ns"] for r in episode.truth if r["published"])
    assert info.stop_ns == last_receive + 1 and info.stop_ns >= START_NS + SECONDS * NS_PER_S
    published = Counter(r["stream"] for r in episode.truth if r["published"])
    assert {name: s.count for name, s in info.streams.items()} == {s.name: published[s.name] for s in baoan.streams}
    assert info.extra["synthetic"]["seed"] == 7
    assert info.extra["synthetic"]["faults"]["head_rgb"]["offset_ns"] == 35 * NS_PER_MS
    assert json.loads((episode.path / "episode.json").read_text())["streams"]["joint_states"]["rate_hz"] > 0


def test_truth_file(episode):
    assert episode.truth_path == episode.path / "truth.jsonl"
    assert read_truth(episode.truth_path) == episode.truth


def test_stream_stats_equal_the_recorders(baoan, tmp_path):
    """The same messages submitted to the live Recorder give the same per-stream statistics."""
    faults = {"left_gripper": {"drop_rate": 0.3}, "action": {"jitter_ms": 2}}
    names = ["left_gripper", "action", "imu", "left_wrench"]
    episode = write_synthetic_episode(tmp_path / "synthetic", baoan, seconds=2, seed=3, faults=faults,
                                      start_ns=START_NS, streams=names)
    index_of = {s.topic: i for i, s in enumerate(baoan.streams)}
    config = RecorderConfig(rig=baoan, out=tmp_path / "recorded", disk_reserve_bytes=0, fsync=False)
    with Recorder(config) as recorder, open_bag(episode.path) as bag:
        recorder.start()
        for message in bag.messages():
            recorder.submit(index_of[message.topic], message.data, message.log_time_ns, message.publish_time_ns)
        recorded = recorder.stop()
    for name in names:
        ours, theirs = episode.info.streams[name].to_dict(), recorded.streams[name].to_dict()
        assert ours == theirs, name
    assert episode.info.streams["left_gripper"].gaps > 0


# ------------------------------------------------------------------ determinism and arguments


def episode_bytes(path: Path) -> list[tuple]:
    with open_bag(path) as reader:
        return [(m.topic, m.log_time_ns, m.publish_time_ns, m.data) for m in reader.messages()]


def test_deterministic_for_a_seed(baoan, tmp_path):
    kwargs = dict(seconds=0.5, seed=11, faults={"*": {"drop_rate": 0.1, "jitter_ms": 1}}, start_ns=START_NS,
                  camera_rate_scale=0.2)
    first = write_synthetic_episode(tmp_path / "a", baoan, **kwargs)
    second = write_synthetic_episode(tmp_path / "b", baoan, **kwargs)
    third = write_synthetic_episode(tmp_path / "c", baoan, **{**kwargs, "seed": 12})
    assert first.path.name == second.path.name
    assert episode_bytes(first.path) == episode_bytes(second.path)
    assert first.truth == second.truth
    assert episode_bytes(first.path) != episode_bytes(third.path)


def test_stream_filter_and_fault_objects(baoan, tmp_path):
    episode = write_synthetic_episode(tmp_path, baoan, seconds=0.5, start_ns=START_NS,
                                      streams=["joint_states", "head_depth"],
                                      faults={"joint_states": StreamFaults(offset_ns=-5 * NS_PER_MS),
                                              "imu": StreamFaults(drop_rate=1.0)})
    with open_bag(episode.path) as reader:
        assert {t.name for t in reader.topics} == {"/joint_states", "/head_camera/depth/image_rect_raw"}
    assert set(episode.info.streams) == {"joint_states", "head_depth"}
    assert {r["stamp_ns"] - r["true_time_ns"] for r in episode.truth if r["stream"] == "joint_states"} == {
        -5 * NS_PER_MS}
    assert episode.truth_path is None and not (episode.path / "truth.jsonl").exists()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(seconds=0), "seconds: expected a positive number, got 0"),
        (dict(seconds=1, seed=-1), "seed: expected an integer >= 0"),
        (dict(seconds=1, streams=["lidar"]), "unknown stream.*'lidar'"),
        (dict(seconds=1, faults={"lidar": {"offset_ms": 1}}), "unknown stream.*'lidar'"),
        (dict(seconds=1, faults={"imu": {"offset_s": 1}}), "faults.imu.offset_s: unknown key"),
        (dict(seconds=1, camera_rate_scale=0), "camera_rate_scale: expected a positive number"),
        (dict(seconds=1, start_ns=1.5), "start_ns: expected int ns"),
    ],
)
def test_bad_arguments(baoan, tmp_path, kwargs, message):
    with pytest.raises(SyntheticError, match=message):
        write_synthetic_episode(tmp_path, baoan, **kwargs)
    assert not any(tmp_path.iterdir()), "nothing is written for bad arguments"
