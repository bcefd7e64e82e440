"""Rig profiles: the shipped rigs meet their contract; bad files fail on one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from collector.errors import RigError
from collector.rig import Rig, available_rigs, load_rig, parse_rig

RIGS_DIR = Path(__file__).resolve().parents[1] / "datasets" / "rigs"
SHIPPED = ("baoan_humanoid", "longhua_humanoid")


def _summary(rig: Rig, role: str) -> list[tuple]:
    """(rate_hz, width, height, encoding, joint count) of every stream of ``role``, sorted."""
    return sorted(
        (s.rate_hz, s.width, s.height, s.encoding, len(s.joints)) for s in rig.streams_by_role(role)
    )


# ---------------------------------------------------------------- shipped rigs


@pytest.fixture(scope="module", params=SHIPPED)
def shipped(request) -> Rig:
    return load_rig(request.param)


def test_available_rigs_lists_the_shipped_profiles():
    assert set(SHIPPED) <= set(available_rigs())


@pytest.mark.parametrize("name", SHIPPED)
def test_load_by_name_and_by_path_agree(name):
    path = RIGS_DIR / f"{name}.yaml"
    by_name = load_rig(name)
    by_path = load_rig(path)
    assert by_name.rig == by_path.rig == name
    assert by_name.streams == by_path.streams
    assert by_name.text == path.read_text(encoding="utf-8")
    assert Path(by_name.source).resolve() == path.resolve()


def test_cameras_match_contract(shipped):
    """Head RGB and depth plus two wrist RGB, all 640x480 @ 30 Hz, on both rigs."""
    assert _summary(shipped, "camera") == [(30.0, 640, 480, "rgb8", 0)] * 3
    assert _summary(shipped, "depth") == [(30.0, 640, 480, "16UC1", 0)]
    cameras = {s.name: s for s in shipped.streams_by_role("camera")}
    assert set(cameras) == {"head_rgb", "left_wrist_rgb", "right_wrist_rgb"}
    assert shipped.stream("head_depth").topic.startswith("/head_camera/")
    assert shipped.stream("head_rgb").topic.startswith("/head_camera/")


def test_common_sensor_rates(shipped):
    """Joint states @500, IMU @200, two wrist force-torque @500, action @100, export at 30 fps."""
    assert shipped.fps == 30
    (joint_states,) = shipped.streams_by_role("joint_state")
    assert joint_states.rate_hz == 500
    assert joint_states.joints == shipped.robot.body_joints
    assert [s.rate_hz for s in shipped.streams_by_role("imu")] == [200]
    wrenches = shipped.streams_by_role("wrench")
    assert sorted(s.name for s in wrenches) == ["left_wrench", "right_wrench"]
    assert all(s.rate_hz == 500 for s in wrenches)
    (action,) = shipped.streams_by_role("action")
    assert action.rate_hz == 100
    # teleoperation commands everything but the legs (balance is the robot's own business)
    legs = shipped.robot.joints.get("legs", ())
    assert action.joints == tuple(j for j in shipped.robot.all_joints if j not in legs)


def test_baoan_upper_body_with_grippers():
    rig = load_rig("baoan_humanoid")
    joints = rig.robot.joints
    assert {g: len(v) for g, v in joints.items()} == {"left_arm": 7, "right_arm": 7, "waist": 1, "head": 2}
    assert sorted((ee.side, ee.type, len(ee.joints)) for ee in rig.robot.end_effectors) == [
        ("left", "parallel_gripper", 1),
        ("right", "parallel_gripper", 1),
    ]
    assert _summary(rig, "gripper") == [(100.0, None, None, None, 1)] * 2
    assert rig.streams_by_role("hand") == rig.streams_by_role("tactile") == ()


def test_longhua_full_body_with_hands_and_tactile():
    rig = load_rig("longhua_humanoid")
    joints = rig.robot.joints
    assert {g: len(v) for g, v in joints.items()} == {
        "left_arm": 7, "right_arm": 7, "waist": 1, "head": 2, "legs": 12,
    }
    assert sum(j.startswith("left_") for j in joints["legs"]) == 6
    assert sorted((ee.side, ee.type, len(ee.joints)) for ee in rig.robot.end_effectors) == [
        ("left", "dexterous_hand", 6),
        ("right", "dexterous_hand", 6),
    ]
    assert _summary(rig, "hand") == [(100.0, None, None, None, 6)] * 2
    tactile = rig.streams_by_role("tactile")
    assert len(tactile) == 2
    assert {(s.rate_hz, s.encoding) for s in tactile} == {(100.0, "32FC1")}
    assert rig.streams_by_role("gripper") == ()


def test_stream_joints_are_robot_joints(shipped):
    robot_joints = set(shipped.robot.all_joints)
    listed = [j for s in shipped.streams for j in s.joints]
    assert listed, "no stream lists joints"
    assert set(listed) <= robot_joints
    # every end-effector joint is published by some state stream, not only by the action
    state_joints = {j for s in shipped.streams if s.role != "action" for j in s.joints}
    assert state_joints == robot_joints


def test_joint_limits_cover_every_joint(shipped):
    limits = shipped.robot.joint_limits
    assert set(limits) == set(shipped.robot.all_joints)
    for name, (lower, upper) in limits.items():
        assert lower < upper, name


def test_topics_and_names_unique(shipped):
    topics = [s.topic for s in shipped.streams]
    names = [s.name for s in shipped.streams]
    assert len(set(topics)) == len(topics)
    assert len(set(names)) == len(names)


# ---------------------------------------------------------------- bad rigs


def _assert_one_line(err: RigError, *fragments: str) -> None:
    message = str(err)
    assert "\n" not in message and "\r" not in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def _stream(doc: dict, name: str) -> tuple[int, dict]:
    for index, stream in enumerate(doc["streams"]):
        if stream["name"] == name:
            return index, stream
    raise AssertionError(f"shipped rig has no stream {name!r}")


def _set(name: str, key: str, value, *expected: str):
    """Mutation: set ``streams[name].key = value``; expects index, key and shown value."""

    def mutate(doc):
        index, stream = _stream(doc, name)
        stream[key] = value
        return (f"streams[{index}]", key, *expected)

    return mutate


def _drop(name: str, key: str):
    def mutate(doc):
        index, stream = _stream(doc, name)
        del stream[key]
        return (f"streams[{index}]", key, "missing")

    return mutate


def _unknown_top_level(doc):
    doc["colour"] = "blue"
    return ("colour", "unknown key")


def _unknown_stream_key(doc):
    index, stream = _stream(doc, "imu")
    stream["exposure_us"] = 100
    return (f"streams[{index}]", "exposure_us", "unknown key")


def _duplicate_topic(doc):
    _, first = _stream(doc, "head_rgb")
    index, second = _stream(doc, "imu")
    second["topic"] = first["topic"]
    return (f"streams[{index}]", "topic", repr(first["topic"]))


def _duplicate_name(doc):
    index, stream = _stream(doc, "imu")
    stream["name"] = "head_rgb"
    return (f"streams[{index}]", "name", "'head_rgb'")


def _joint_not_in_robot(doc):
    index, stream = _stream(doc, "joint_states")
    stream["joints"] = stream["joints"] + ["tail_wag"]
    return (f"streams[{index}]", "joints", "'tail_wag'")


def _end_effectors_not_a_list(doc):
    doc["robot"]["end_effectors"] = 5
    return ("robot.end_effectors", "5")


def _limit_reversed(doc):
    doc["robot"]["joint_limits"]["head_yaw"] = [1.2, -1.2]
    return ("robot.joint_limits.head_yaw", "[1.2, -1.2]")


def _limit_unknown_joint(doc):
    doc["robot"]["joint_limits"]["tail_wag"] = [0, 1]
    return ("robot.joint_limits", "tail_wag")


def _on_violation_unknown(doc):
    doc.setdefault("sync", {})["on_violation"] = "ignore"
    return ("sync.on_violation", "'ignore'", "refuse, mark")


def _fps_huge(doc):
    doc["fps"] = 10**6
    return ("fps", "1000000")


def _streams_empty(doc):
    doc["streams"] = []
    return ("streams", "[]")


BAD_MUTATIONS = [
    pytest.param(_unknown_top_level, id="unknown-top-level-key"),
    pytest.param(_unknown_stream_key, id="unknown-stream-key"),
    pytest.param(_set("imu", "rate_hz", "fast", "'fast'"), id="rate-not-number"),
    pytest.param(_set("imu", "rate_hz", 0, "0"), id="rate-zero"),
    pytest.param(_set("imu", "rate_hz", float("inf"), "inf"), id="rate-infinite"),
    pytest.param(_set("imu", "required", "yes", "'yes'"), id="required-not-bool"),
    pytest.param(_set("head_rgb", "width", -1, "-1"), id="width-negative"),
    pytest.param(_set("head_rgb", "height", 480.5, "480.5"), id="height-float"),
    pytest.param(_set("head_depth", "encoding", "rgb8", "'rgb8'"), id="depth-encoding"),
    pytest.param(_set("imu", "width", 640, "width"), id="width-on-non-image"),
    pytest.param(_drop("imu", "topic"), id="missing-topic"),
    pytest.param(_drop("imu", "rate_hz"), id="missing-rate"),
    pytest.param(_drop("head_rgb", "width"), id="missing-width-for-image"),
    pytest.param(_drop("joint_states", "joints"), id="missing-joints-for-joint-role"),
    pytest.param(_duplicate_topic, id="duplicate-topic"),
    pytest.param(_duplicate_name, id="duplicate-name"),
    pytest.param(_set("imu", "role", "sonar", "'sonar'"), id="unknown-role"),
    pytest.param(_set("imu", "type", "sensor_msgs/msg/Image", "'sensor_msgs/msg/Image'"), id="type-not-for-role"),
    pytest.param(_set("imu", "topic", "imu/data", "'imu/data'"), id="relative-topic"),
    pytest.param(_joint_not_in_robot, id="joint-not-in-robot"),
    pytest.param(_set("imu", "clock", "wall", "'wall'"), id="bad-clock"),
    pytest.param(_set("imu", "qos", "turbo", "'turbo'"), id="bad-qos-preset"),
    pytest.param(_set("imu", "qos", {"reliability": "maybe"}, "'maybe'"), id="bad-qos-reliability"),
    pytest.param(_set("imu", "qos", {"depth": "ten"}, "'ten'"), id="bad-qos-depth"),
    pytest.param(_set("imu", "qos", {"deadline": 5}, "deadline"), id="unknown-qos-key"),
    pytest.param(_end_effectors_not_a_list, id="end-effectors-not-list"),
    pytest.param(_limit_reversed, id="joint-limit-reversed"),
    pytest.param(_limit_unknown_joint, id="joint-limit-unknown-joint"),
    pytest.param(_streams_empty, id="no-streams"),
    pytest.param(_fps_huge, id="fps-huge"),
    pytest.param(_on_violation_unknown, id="sync-on-violation-unknown"),
    # found by tests/fuzz: "^...$" with match() accepted a trailing newline
    pytest.param(_set("imu", "name", "imu\n", "'imu\\n'", "not a valid name"), id="name-trailing-newline"),
    pytest.param(_set("imu", "topic", "/imu/data\n", "not an absolute ROS topic"), id="topic-trailing-newline"),
    # found by tests/fuzz: accepted, then period_ns was 0 (or round(inf) raised) and ms became huge ints
    pytest.param(_set("imu", "rate_hz", 1e300, "1e+300", "Hz"), id="rate-period-below-1ns"),
    pytest.param(_set("imu", "rate_hz", 5e-324, "5e-324", "Hz"), id="rate-period-infinite"),
    pytest.param(_set("imu", "tolerance_ms", 1e300, "1e+300", "ms"), id="tolerance-beyond-int64-ns"),
    pytest.param(_set("imu", "max_gap_ms", 1e-9, "1e-09", "ms"), id="gap-below-1ns"),
    pytest.param(_set("imu", "latency_ms", 1e300, "1e+300", "ms"), id="latency-beyond-int64-ns"),
]


@pytest.mark.parametrize("mutate", BAD_MUTATIONS)
def test_bad_rig_file_fails_on_one_line(tmp_path, mutate):
    doc = yaml.safe_load((RIGS_DIR / "baoan_humanoid.yaml").read_text(encoding="utf-8"))
    expected = mutate(doc)
    path = tmp_path / "bad_rig.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    with pytest.raises(RigError) as excinfo:
        load_rig(path)
    _assert_one_line(excinfo.value, str(path), *expected)


def test_mutation_baseline_loads(tmp_path):
    """The dump/reload route itself is sound, so the failures above come from the mutations."""
    doc = yaml.safe_load((RIGS_DIR / "baoan_humanoid.yaml").read_text(encoding="utf-8"))
    path = tmp_path / "same_rig.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    assert load_rig(path).streams == load_rig("baoan_humanoid").streams


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("rig: baoan\nsite: [unclosed\n", ("line",), id="invalid-yaml"),
        pytest.param("rig: a\n  bad: indent\n", ("line 2",), id="bad-indent"),
        pytest.param("", ("expected a mapping", "None"), id="empty-file"),
        pytest.param("- rig: baoan\n- site: baoan\n", ("expected a mapping", "[{"), id="list-not-mapping"),
        pytest.param("? \"a\\nb\"\n: 1\n", ("unknown key", "'a\\nb'"), id="key-with-newline"),
        # found by tests/fuzz: PyYAML's multi-line messages, its recursion, int()'s digit limit
        pytest.param("rig: a\x1f\n", ("invalid YAML", "#x001f"), id="control-character"),
        pytest.param("[" * 5000, ("nested too deeply",), id="nested-too-deeply"),
        pytest.param("fps: " + "9" * 5000 + "\n", ("invalid YAML", "4300 digits"), id="integer-too-long"),
    ],
)
def test_bad_rig_text_fails_on_one_line(tmp_path, text, expected):
    path = tmp_path / "bad_rig.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RigError) as excinfo:
        load_rig(path)
    _assert_one_line(excinfo.value, str(path), *expected)


def test_hostile_yaml_is_not_executed(tmp_path):
    sentinel = tmp_path / "pwned"
    path = tmp_path / "hostile.yaml"
    path.write_text(f'rig: !!python/object/apply:os.system ["touch {sentinel}"]\n', encoding="utf-8")
    with pytest.raises(RigError) as excinfo:
        load_rig(path)
    _assert_one_line(excinfo.value, str(path), "python/object")
    assert not sentinel.exists()


def test_parse_rig_names_its_source():
    with pytest.raises(RigError) as excinfo:
        parse_rig("rig: [", source="inline.yaml")
    _assert_one_line(excinfo.value, "inline.yaml:")


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere" / "rig.yaml"
    with pytest.raises(RigError) as excinfo:
        load_rig(path)
    _assert_one_line(excinfo.value, str(path), "not found")


def test_directory_instead_of_file(tmp_path):
    folder = tmp_path / "rig.yaml"
    folder.mkdir()
    with pytest.raises(RigError) as excinfo:
        load_rig(folder)
    _assert_one_line(excinfo.value, str(folder))


def test_unknown_rig_name_lists_available():
    with pytest.raises(RigError) as excinfo:
        load_rig("atlantis_humanoid")
    _assert_one_line(excinfo.value, "'atlantis_humanoid'", *SHIPPED)


def test_unknown_stream_lookup():
    rig = load_rig("baoan_humanoid")
    with pytest.raises(RigError, match="no stream named 'sonar'"):
        rig.stream("sonar")
