"""The feature plan of the shipped rigs and the frame table of synthetic episodes."""

from __future__ import annotations

import numpy as np
import pytest

from collector.errors import RigError
from collector.export.errors import ExportError
from collector.export.features import FeaturePlan, episode_valid_mask, feature_plan, frame_table
from collector.rig import load_rig

VOCABULARY = {"observation", "state", "action", "velocity", "effort", "imu", "orientation", "angular_velocity",
              "linear_acceleration", "wrench", "tactile", "images", "depth", "time", "source_s", "error_ms", "valid"}


@pytest.mark.parametrize("name", ["baoan_humanoid", "longhua_humanoid"])
def test_no_topic_leaks_into_keys(name):
    rig = load_rig(name)
    plan = feature_plan(rig)
    streams = {s.name for s in rig.streams}
    for key in plan.keys():
        assert "/" not in key, key
        assert set(key.split(".")) <= VOCABULARY | streams, key  # only stream names and fixed words
        assert not any(s.topic in key for s in rig.streams), key
    # every stream has its honest-time columns
    for stream in rig.streams:
        assert plan[f"time.{stream.name}.source_s"].dtype == "float64"
        assert plan[f"time.{stream.name}.error_ms"].dtype == "float32"
        assert plan[f"time.{stream.name}.source_s"].shape == (1,)
        # optional streams, and only they, say on which frames they hold data
        assert (f"time.{stream.name}.valid" in plan) == (not stream.required), stream.name


def test_baoan_plan():
    rig = load_rig("baoan_humanoid")
    plan = feature_plan(rig)
    assert isinstance(plan, FeaturePlan) and plan.rig == "baoan_humanoid" and plan.fps == 30
    state = plan["observation.state"]
    assert state.names == rig.robot.body_joints + ("left_gripper", "right_gripper")
    assert state.shape == (19,) and state.dtype == "float32"
    assert state.streams == ("joint_states", "left_gripper", "right_gripper")
    assert plan["observation.velocity"].names == state.names == plan["observation.effort"].names
    assert plan["action"].names == rig.stream("action").joints and plan["action"].shape == (19,)
    assert plan["observation.imu.orientation"].names == ("x", "y", "z", "w")
    assert plan["observation.imu.angular_velocity"].shape == (3,)
    assert plan["observation.imu.linear_acceleration"].streams == ("imu",)
    assert plan["observation.wrench.left_wrench"].shape == (6,)
    assert plan["observation.wrench.right_wrench"].names[0] == "force_x"
    for camera in ("head_rgb", "left_wrist_rgb", "right_wrist_rgb"):
        feature = plan[f"observation.images.{camera}"]
        assert feature.shape == (480, 640, 3) and feature.dtype == "uint8" and feature.is_image
    depth = plan["observation.depth.head_depth"]
    assert depth.shape == (480, 640) and depth.dtype == "uint16" and depth.is_image
    assert not plan.of_kind("tactile")
    assert plan.keys()[:4] == ["observation.state", "action", "observation.velocity", "observation.effort"]
    assert len(plan.of_kind("time")) == 2 * len(rig.streams)
    assert plan.to_dict()["action"] == {"dtype": "float32", "shape": [19], "names": list(rig.stream("action").joints)}


def test_longhua_plan():
    rig = load_rig("longhua_humanoid")
    plan = feature_plan(rig)
    state = plan["observation.state"]
    hands = tuple(j for ee in rig.robot.end_effectors for j in ee.joints)
    assert state.names == rig.robot.body_joints + hands and state.shape == (41,)
    assert "left_hip_pitch" in state.names
    assert plan["action"].shape == (29,) and plan["action"].names == rig.stream("action").joints
    tactile = plan["observation.tactile.left_tactile"]
    assert tactile.shape == (80,) and tactile.grid_shape == (5, 16) and tactile.names[17] == "taxel_1_1"
    assert "observation.tactile.right_tactile" in plan
    assert {f.key for f in plan.images} == {"observation.images.head_rgb", "observation.images.left_wrist_rgb",
                                            "observation.images.right_wrist_rgb", "observation.depth.head_depth"}


def test_plan_of_a_stream_subset():
    rig = load_rig("baoan_humanoid")
    plan = feature_plan(rig, streams=["joint_states", "action", "head_rgb"])
    assert plan.keys() == ["observation.state", "action", "observation.velocity", "observation.effort",
                           "observation.images.head_rgb", "time.head_rgb.source_s", "time.head_rgb.error_ms",
                           "time.joint_states.source_s", "time.joint_states.error_ms", "time.action.source_s",
                           "time.action.error_ms"]
    assert plan["observation.state"].shape == (17,)
    with pytest.raises(RigError, match="no_such"):
        feature_plan(rig, streams=["no_such"])


def test_frame_table_equals_sync_values(baoan):
    sync, plan = baoan.sync, feature_plan(baoan.rig)
    table = frame_table(plan, sync)
    k = sync.frames
    assert k > 50
    assert set(table) == {f.key for f in plan.numeric}
    for feature in plan.numeric:
        assert table[feature.key].shape == (k,) + feature.shape and table[feature.key].dtype == feature.dtype
    joints = sync.streams["joint_states"]
    order = [joints.names.index(j) for j in baoan.rig.robot.body_joints]
    for key, field in (("observation.state", "position"), ("observation.velocity", "velocity"),
                       ("observation.effort", "effort")):
        expected = np.concatenate([joints.values[field][:, order], sync.streams["left_gripper"].values[field],
                                   sync.streams["right_gripper"].values[field]], axis=1).astype(np.float32)
        np.testing.assert_array_equal(table[key], expected)
    np.testing.assert_array_equal(table["action"], sync.streams["action"].values["position"].astype(np.float32))
    imu = sync.streams["imu"]
    np.testing.assert_array_equal(table["observation.imu.orientation"], imu.values["orientation"].astype(np.float32))
    wrench = sync.streams["left_wrench"]
    expected = np.concatenate([wrench.values["force"], wrench.values["torque"]], 1).astype(np.float32)
    np.testing.assert_array_equal(table["observation.wrench.left_wrench"], expected)
    for name, alignment in sync.streams.items():
        np.testing.assert_array_equal(table[f"time.{name}.source_s"][:, 0],
                                      (alignment.source_time_ns - sync.origin_ns) / 1e9)
        np.testing.assert_array_equal(table[f"time.{name}.error_ms"][:, 0],
                                      (alignment.alignment_error_ns / 1e6).astype(np.float32))
    camera = table["time.head_rgb.error_ms"][:, 0]
    assert np.all(np.isfinite(camera)) and np.abs(camera).max() <= 1000 / 60 + 1e-3  # nearest: within half a period
    assert np.all(np.diff(table["time.joint_states.source_s"][:, 0]) > 0)


def test_frame_table_tactile_and_hands(longhua):
    sync, plan = longhua.sync, feature_plan(longhua.rig)
    table = frame_table(plan, sync)
    pressure = sync.streams["left_tactile"].values["pressure"]
    np.testing.assert_array_equal(table["observation.tactile.left_tactile"], pressure.reshape(sync.frames, 80))
    state = table["observation.state"]
    np.testing.assert_array_equal(state[:, -6:], sync.streams["right_hand"].values["position"].astype(np.float32))
    assert np.all(np.isfinite(state[episode_valid_mask(sync, plan)]))


def test_valid_mask(baoan):
    sync, plan = baoan.sync, feature_plan(baoan.rig)
    mask = episode_valid_mask(sync, plan)
    assert mask.shape == (sync.frames,) and mask.dtype == bool
    np.testing.assert_array_equal(episode_valid_mask(sync), sync.valid)
    assert not np.any(mask & ~sync.valid)


def test_frame_table_names_missing_streams(baoan):
    longhua = load_rig("longhua_humanoid")
    with pytest.raises(ExportError, match="joint 'left_hip_pitch' is not in the messages of stream 'joint_states'"):
        frame_table(feature_plan(longhua), baoan.sync)
    with pytest.raises(ExportError, match="stream 'left_tactile' is not in the sync result"):
        frame_table(feature_plan(longhua, streams=["left_tactile"]), baoan.sync)
