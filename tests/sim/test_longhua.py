"""The Longhua station replica: the full-body model matches the rig, every task's expert
succeeds with a physical hand grasp, the head camera sees the target parcel, and a
lock-step episode carries every rig stream, tactile included."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("mujoco", reason="MuJoCo is not installed (pip install mujoco)")

from collector.rig import load_rig  # noqa: E402
from collector.sim.catalog import load_station  # noqa: E402
from collector.sim.collect import collect_episode  # noqa: E402
from collector.sim.tasks import make_task  # noqa: E402
from tests.sim.helpers import START_NS, run_expert, world_for  # noqa: E402

STATION = "longhua_sorting"
def test_model_joints_and_limits_are_the_rigs():
    station = load_station(STATION)
    rig = load_rig(station.rig)
    world = world_for(station)
    mujoco, model = world.mujoco, world.model
    for joint in rig.robot.all_joints:
        low, high = rig.robot.joint_limits[joint]
        assert world.joint_limits(joint) == pytest.approx((low, high)), joint
        assert world.joints[joint].actuator is not None, joint
    actuated = {mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, model.actuator_trnid[a][0])
                for a in range(model.nu)}
    assert actuated == set(rig.robot.all_joints)
    hinges = {model.joint(j).name for j in range(model.njnt) if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE}
    # beyond the rig's joints only the distal phalanges, which follow their finger through an equality
    assert {h for h in hinges if h not in rig.robot.all_joints} == {
        f"{side}_{finger}_distal" for side in ("left", "right") for finger in ("index", "middle", "ring", "little")}
    assert model.body("pelvis").jntnum == 0 and model.body("pelvis").parentid == 0  # welded, no balancing
    assert not any(model.eq_type[e] == mujoco.mjtEq.mjEQ_WELD for e in range(model.neq))  # no magnet grasps
    assert set(station.cameras) == {s.name for s in rig.streams if s.role in ("camera", "depth")}
    assert set(station.tactile) == {s.name for s in rig.streams if s.role == "tactile"}
    assert set(station.wrench) == {s.name for s in rig.streams if s.role == "wrench"}
    for sensors in station.tactile.values():
        assert len(sensors) == 5 and all(world.touch(name) == 0.0 for name in sensors)


@pytest.mark.parametrize("task_name", list(load_station(STATION).tasks))
def test_expert_succeeds_on_nine_of_ten_seeds(task_name):
    station = load_station(STATION)
    results = [run_expert(station, task_name, seed)[0] for seed in range(10)]
    assert sum(results) >= 9, results


def test_the_hand_holds_the_parcel_by_contact():
    """While carried, the parcel is off the belt and the thumb and fingers touch it."""
    station = load_station(STATION)
    readings = []

    def watch(task, t):
        expert = task._expert
        carrying = expert.bounds[4] + 0.2 < t < expert.bounds[5]  # between lift and the place approach
        if carrying:
            side = task.arm
            readings.append([task.world.touch(f"{side}_{f}_touch") for f in ("thumb", "index", "middle", "ring")]
                            + [task.part_position(task.part)[2]])

    succeeded, task = run_expert(station, "parcel_to_tote", 1, watch=watch)
    assert succeeded and readings
    readings = np.array(readings)
    assert np.all(readings[:, 0] > 1.0)  # the thumb squeezes (N)
    assert np.all((readings[:, 1:4] > 0.2).sum(axis=1) >= 2)  # and at least two fingertips
    assert readings[:, 4].min() > task.drawn["parcels"][task.part]["xyz"][2] + 0.05  # lifted


def test_a_failure_is_judged_a_failure():
    station = load_station(STATION)
    world = world_for(station)
    task = make_task(station, station.task("parcel_to_shelf"), world, 0)
    task.setup()
    for _ in range(1000):  # nobody moves: the parcel stays on the belt
        world.step(1)
        task.update_success(world.model.opt.timestep)
    assert not task.succeeded and not task.satisfied()


def test_randomisation_is_seeded_and_recorded():
    station = load_station(STATION)
    drawn = []
    for seed in (5, 5, 6):
        task = make_task(station, station.task("parcel_to_tote"), world_for(station), seed)
        task.setup()
        task.instruction("en")
        drawn.append(json.dumps(task.drawn, sort_keys=True))
    assert drawn[0] == drawn[1] != drawn[2]
    assert {"colours", "tote_colours", "target", "arm", "parcels", "cameras", "conveyor_dz_m", "friction_scale",
            "mass_scale"} <= set(json.loads(drawn[0]))


@pytest.mark.parametrize("task_name", list(load_station(STATION).tasks))
def test_head_camera_sees_the_target_parcel(task_name):
    station = load_station(STATION)
    palette = station.doc["palette"]
    for seed in range(3):
        world = world_for(station)
        task = make_task(station, station.task(task_name), world, seed)
        task.setup()
        renderer = world.mujoco.Renderer(world.model, 240, 320)
        renderer.enable_segmentation_rendering()
        renderer.update_scene(world.data, camera=station.cameras["head_rgb"])
        segmentation = renderer.render()
        renderer.close()
        geom = world.model.geom(task.part).id
        mask = (segmentation[..., 0] == geom) & (segmentation[..., 1] == world.mujoco.mjtObj.mjOBJ_GEOM)
        assert mask.sum() >= 40, (seed, int(mask.sum()))
        image = world.render(next(s for s in world.rig.streams if s.name == "head_rgb"))
        scale = (image.shape[0] / 240, image.shape[1] / 320)
        rows, cols = np.nonzero(mask)
        pixels = image[(rows * scale[0]).astype(int), (cols * scale[1]).astype(int)].astype(float) / 255
        hue = np.array(palette[task.colours[task.part]]["rgb"])
        # lit, the parcel's pixels are its colour (not some other object's): compare chromaticity
        chroma = pixels.mean(axis=0) / max(pixels.mean(), 1e-6)
        assert np.abs(chroma - hue / hue.mean()).max() < 0.35, (seed, chroma, hue)
        assert image.std() > 20 and len(np.unique(image.reshape(-1, 3), axis=0)) > 200


def test_instructions_in_both_languages_and_colours_agree():
    station = load_station(STATION)
    palette = station.doc["palette"]
    for task_name in station.tasks:
        task = make_task(station, station.task(task_name), world_for(station), 4)
        task.setup()
        english, chinese = task.instruction("en"), task.instruction("zh")
        colour = task.colours[task.part]
        assert colour in english and palette[colour]["zh"] in chinese
        if task_name == "sort_by_colour":
            tote = task.world.model.body(int(task.world.model.site(task.target).bodyid[0])).name
            assert task.tote_colours[tote] == colour and list(task.tote_colours.values()).count(colour) == 1
        if task_name == "parcel_to_tote":
            assert "{" not in english and "{" not in chinese


def test_lock_step_episode_has_every_rig_stream(tmp_path):
    from rosbags.highlevel import AnyReader

    from collector.episode import read_episode_info

    episode = collect_episode(STATION, "parcel_to_tote", out=tmp_path, seed=2, start_ns=START_NS,
                              camera_size=(64, 48))
    info = read_episode_info(episode.path)
    rig = load_rig("longhua_humanoid")
    assert info.status == "complete" and info.success is episode.success is True
    peak_kpa = 0.0
    with AnyReader([episode.path]) as reader:  # an independent reader
        assert {c.topic: c.msgtype for c in reader.connections} == {s.topic: s.type for s in rig.streams}
        tactile = [c for c in reader.connections if c.topic.endswith("/tactile")]
        for connection, _, raw in reader.messages(connections=tactile):
            message = reader.deserialize(raw, connection.msgtype)
            assert (message.width, message.height, message.encoding) == (16, 5, "32FC1")
            peak_kpa = max(peak_kpa, float(np.frombuffer(bytes(message.data), np.float32).max()))
    assert peak_kpa > 10.0  # the grasp shows on the fingertips
