"""Task kinds: set a station up (randomised), write the instruction, drive the expert,
judge success on sim state. A kind is a class registered under its name; a station's
YAML names the kind of each task.

Every draw comes from one ``numpy.random.Generator`` seeded by the episode seed and is
recorded in :attr:`Task.drawn`, so an episode can be replayed and its setup is stored
with it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from collector.sim.catalog import Station, TaskSpec
from collector.sim.errors import SimError
from collector.sim.expert import WaypointExpert, grasp_yaw, pick_and_place, yaw_rotation
from collector.sim.ik import SiteIK

KINDS: dict[str, type[Task]] = {}

PART_HALF_HEIGHT_M = 0.012
SETTLE_S = 0.4  # physics runs this long after setup before anything is recorded
READY_SEED = [-0.5, 0.0, 0.0, 1.3, 0.0, 1.3, 0.0]  # elbow bent, hand forward: where IK starts for the ready pose


def register_kind(name: str) -> Callable[[type], type]:
    def decorate(cls: type) -> type:
        KINDS[name] = cls
        cls.kind = name
        return cls

    return decorate


class Task:
    """Base of the task kinds (see the module doc).

    Args:
        station: the station; spec: the task; world: its SimWorld; seed: int >= 0.
    """

    kind = ""

    def __init__(self, station: Station, spec: TaskSpec, world, seed: int):
        self.station, self.spec, self.world, self.seed = station, spec, world, seed
        self.rng = np.random.default_rng(seed)
        self.drawn: dict[str, Any] = {}
        self.held_s = 0.0
        self._expert: WaypointExpert | None = None

    # -- setup -----------------------------------------------------------------------------

    def setup(self) -> None:
        """Reset the world, randomise it, put the arms at their ready pose and let it settle."""
        world = self.world
        world.reset()
        self._randomise()
        self._ready_pose()
        world.step(round(SETTLE_S / world.model.opt.timestep))

    # -- randomisation steps shared by the kinds (each draws from self.rng, in call order) ----

    def scale_friction_and_mass(self, bodies: list[str], ranges: dict) -> tuple[float, float]:
        """Scale the bodies' geom friction and mass (inertia with it) by one drawn factor each,
        then recompute MuJoCo's mass constants; this resets the data, so call it before placing."""
        model, mujoco = self.world.model, self.world.mujoco
        friction = float(self.rng.uniform(*ranges.get("friction_scale", [1.0, 1.0])))
        mass = float(self.rng.uniform(*ranges.get("mass_scale", [1.0, 1.0])))
        for name in bodies:
            body = model.body(name).id
            model.geom_friction[model.geom(name).id][0] *= friction
            model.body_mass[body] *= mass
            model.body_inertia[body] *= mass  # same shape, scaled density
        # stale per-body constants make a squeezed, heavier object blow up
        mujoco.mj_setConst(model, self.world.data)
        mujoco.mj_resetData(model, self.world.data)
        return friction, mass

    def place_free_body(self, name: str, xyz, yaw: float) -> dict:
        """Put the free body ``name`` at ``xyz`` (m) turned by ``yaw`` (rad); returns the record."""
        model = self.world.model
        address = model.jnt_qposadr[model.joint(name).id]
        self.world.data.qpos[address:address + 3] = xyz
        self.world.data.qpos[address + 3:address + 7] = (np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2))
        return {"xyz": [round(float(v), 5) for v in xyz], "yaw": round(yaw, 5)}

    def jitter_lights_and_cameras(self, ranges: dict) -> dict:
        """Move and dim/brighten every light, shift and turn every camera; returns the camera draws."""
        model, mujoco, rng = self.world.model, self.world.mujoco, self.rng
        for light in range(model.nlight):
            model.light_pos[light][:2] += rng.uniform(-1, 1, 2) * ranges.get("light_jitter_m", 0.0)
            low, high = ranges.get("light_intensity", [1.0, 1.0])
            model.light_diffuse[light] *= rng.uniform(low, high)
        camera_shift = {}
        for camera in range(model.ncam):
            shift = rng.uniform(-1, 1, 3) * ranges.get("camera_jitter_m", 0.0)
            angles = rng.uniform(-1, 1, 3) * ranges.get("camera_jitter_rad", 0.0)
            model.cam_pos[camera] += shift
            quat, out = np.empty(4), np.empty(4)
            mujoco.mju_euler2Quat(quat, angles, "xyz")
            mujoco.mju_mulQuat(out, model.cam_quat[camera].copy(), quat)
            model.cam_quat[camera] = out
            camera_shift[mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_CAMERA, camera)] = {
                "pos_m": np.round(shift, 5).tolist(), "rot_rad": np.round(angles, 5).tolist()}
        return camera_shift

    def _randomise(self) -> None:
        world, model, rng, doc = self.world, self.world.model, self.rng, self.station.doc
        ranges = doc.get("randomize", {})
        mujoco = world.mujoco
        palette = doc.get("palette", {})
        parts = list(doc.get("parts", []))
        colours = list(rng.choice(list(palette), size=len(parts), replace=False)) if palette else []
        self.colours = dict(zip(parts, colours))
        for part, colour in self.colours.items():
            geom = model.geom(part)
            model.geom_rgba[geom.id][:3] = palette[colour]["rgb"]
        # the bench and everything on it move together
        dz = float(rng.uniform(-1, 1) * ranges.get("bench_height_m", 0.0))
        bench = model.body("bench")
        model.body_pos[bench.id][2] += dz
        friction, mass = self.scale_friction_and_mass(parts, ranges)
        slots = list(ranges.get("tray_slots_y", []))
        order = rng.permutation(len(slots)) if slots else []
        jx, jy = ranges.get("part_jitter_m", [0.0, 0.0])
        tray = model.body("tray")
        mujoco.mj_forward(model, world.data)
        tray_pos = world.data.xpos[tray.id].copy()  # the bench has moved already
        placements = {}
        for part, slot in zip(parts, order):
            x = tray_pos[0] + rng.uniform(-jx, jx)
            y = tray_pos[1] + slots[slot] + rng.uniform(-jy, jy)
            z = tray_pos[2] + 0.008 + PART_HALF_HEIGHT_M + 0.001
            yaw = float(rng.uniform(-1, 1) * ranges.get("part_yaw_rad", 0.0))
            placements[part] = self.place_free_body(part, (x, y, z), yaw)
        camera_shift = self.jitter_lights_and_cameras(ranges)
        world.forward()
        self.drawn.update({"colours": self.colours, "bench_dz_m": round(dz, 5), "parts": placements,
                           "cameras": camera_shift, "friction_scale": round(friction, 5),
                           "mass_scale": round(mass, 5)})

    def ready_rotation(self) -> np.ndarray:
        """TCP orientation of the ready pose (grippers: fingers down, tipped forward)."""
        return yaw_rotation(0.0)

    def open_end_effector(self, side: str) -> dict[str, float]:
        """Targets that open the ``side`` end effector (a parallel gripper here)."""
        return {f"{side}_gripper": 0.07}

    def _ready_pose(self) -> None:
        world = self.world
        values = {}
        for side, position in self.station.ready.items():
            arm = list(world.rig.robot.joints.get(f"{side}_arm", ()))
            ik = SiteIK(world.model, f"{side}_tcp", arm)
            start = world.data.qpos.copy()
            start[ik.qpos] = READY_SEED[:len(arm)]
            q, error = ik.solve(start, np.array(position), self.ready_rotation(), iterations=300)
            if error > 0.01:
                raise SimError(f"{self.station.name}: the {side} ready pose {position} is out of reach "
                               f"(IK error {error:.3f})")
            values.update(zip(arm, q.tolist()))
            values.update(self.open_end_effector(side))
        world.set_positions(values)
        world.command(values)
        self.ready = values

    # -- instruction -----------------------------------------------------------------------

    def words(self) -> dict[str, str]:
        """Template words for the instruction ({color}, {color_zh}, ...)."""
        return {}

    def instruction(self, language: str = "en") -> str:
        """One of the task's instruction templates (drawn once per episode), filled in."""
        if "template" not in self.drawn:
            self.drawn["template"] = int(self.rng.integers(len(self.spec.instructions["en"])))
        templates = self.spec.instructions[language]
        return templates[self.drawn["template"] % len(templates)].format(**self.words())

    # -- expert and success ------------------------------------------------------------------

    def expert(self) -> WaypointExpert:
        raise NotImplementedError

    def satisfied(self) -> bool:
        """The success predicate on the current sim state."""
        raise NotImplementedError

    def update_success(self, dt_s: float) -> bool:
        """Advance the hold timer; True once the predicate has held for ``hold_s``."""
        self.held_s = self.held_s + dt_s if self.satisfied() else 0.0
        return self.succeeded

    @property
    def succeeded(self) -> bool:
        return self.held_s >= float(self.spec.params.get("hold_s", 0.5))

    def targets(self, t_s: float) -> dict[str, float]:
        """Position targets of every commanded rig joint at ``t_s`` s into the task."""
        if self._expert is None:
            self._expert = self.expert()
        return self._expert.targets(t_s)

    @property
    def expert_duration_s(self) -> float:
        if self._expert is None:
            self._expert = self.expert()
        return self._expert.duration_s

    # -- helpers ---------------------------------------------------------------------------

    def part_position(self, part: str) -> np.ndarray:
        return self.world.data.xpos[self.world.model.body(part).id].copy()

    def part_yaw(self, part: str) -> float:
        return grasp_yaw(self.world.data.xmat[self.world.model.body(part).id])

    def inside_site(self, point: np.ndarray, site: str) -> bool:
        model, data = self.world.model, self.world.data
        site_id = model.site(site).id
        local = data.site_xmat[site_id].reshape(3, 3).T @ (point - data.site_xpos[site_id])
        return bool(np.all(np.abs(local) <= model.site_size[site_id]))

    def hold_except(self, side: str) -> dict[str, float]:
        """Targets that keep everything but the ``side`` arm where it is at the ready pose."""
        keep = {k: v for k, v in self.ready.items() if not k.startswith(f"{side}_")}
        for name in self.world.rig.robot.joints.get("waist", ()) + self.world.rig.robot.joints.get("head", ()):
            keep.setdefault(name, 0.0)
        return keep


def _pick_part(task: Task) -> str:
    parts = list(task.colours)
    if "target_part" not in task.drawn:
        task.drawn["target_part"] = parts[int(task.rng.integers(len(parts)))]
    return task.drawn["target_part"]


@register_kind("pick_place")
class PickPlace(Task):
    """Pick the named-colour part from the tray; put it into the target site's box."""

    def setup(self) -> None:
        super().setup()
        self.part = _pick_part(self)

    def words(self) -> dict[str, str]:
        palette = self.station.doc["palette"]
        colour = self.colours[self.part]
        return {"color": colour, "color_zh": palette[colour]["zh"]}

    def expert(self) -> WaypointExpert:
        side = self.spec.params["arm"]
        grasp = self.part_position(self.part)
        site = self.world.model.site(self.spec.params["target"]).id
        centre = self.world.data.site_xpos[site].copy()
        half = self.world.model.site_size[site]
        place = np.array([centre[0], centre[1], centre[2] - half[2] + PART_HALF_HEIGHT_M])
        waypoints = pick_and_place(grasp, self.part_yaw(self.part), place, 0.0,
                                   release_height=float(self.spec.params.get("release_height_m", 0.0)))
        return WaypointExpert(self.world, side, waypoints, self.hold_except(side))

    def satisfied(self) -> bool:
        return self.inside_site(self.part_position(self.part), self.spec.params["target"])


@register_kind("stack")
class Stack(Task):
    """Put the named-colour part on top of another part; the arm nearer the pair does it."""

    def setup(self) -> None:
        super().setup()
        self.part = _pick_part(self)
        others = [p for p in self.colours if p != self.part]
        if "base_part" not in self.drawn:
            self.drawn["base_part"] = others[int(self.rng.integers(len(others)))]
        self.base = self.drawn["base_part"]

    def words(self) -> dict[str, str]:
        palette = self.station.doc["palette"]
        colour, other = self.colours[self.part], self.colours[self.base]
        return {"color": colour, "color_zh": palette[colour]["zh"], "other": other, "other_zh": palette[other]["zh"]}

    def expert(self) -> WaypointExpert:
        grasp, base = self.part_position(self.part), self.part_position(self.base)
        side = "left" if (grasp[1] + base[1]) / 2 > 0 else "right"
        self.drawn["arm"] = side
        place = base + np.array([0.0, 0.0, 2 * PART_HALF_HEIGHT_M + 0.002])
        waypoints = pick_and_place(grasp, self.part_yaw(self.part), place, self.part_yaw(self.base),
                                   release_height=0.004)
        return WaypointExpert(self.world, side, waypoints, self.hold_except(side))

    def satisfied(self) -> bool:
        top, base = self.part_position(self.part), self.part_position(self.base)
        dz = top[2] - base[2]
        stacked = 1.5 * PART_HALF_HEIGHT_M < dz < 2.7 * PART_HALF_HEIGHT_M
        return bool(np.hypot(*(top[:2] - base[:2])) < 0.012 and stacked)


# modules that register more kinds, imported on first use (a new kind: one module + one line)
KIND_MODULES = ("collector.sim.tasks_sorting",)


def _load_kinds() -> None:
    import importlib

    for name in KIND_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name:
                raise


def make_task(station: Station, spec: TaskSpec, world, seed: int) -> Task:
    """The task object of ``spec`` in ``world`` for episode ``seed``.

    Raises:
        SimError: the spec's kind is not registered.
    """
    _load_kinds()
    try:
        cls = KINDS[spec.kind]
    except KeyError:
        raise SimError(f"{station.source}: task {spec.name!r} has unknown kind {spec.kind!r} "
                       f"(kinds: {', '.join(KINDS)})") from None
    return cls(station, spec, world, seed)
