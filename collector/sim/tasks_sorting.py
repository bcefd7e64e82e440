"""Task kinds of the Longhua sorting station: parcels off a conveyor, with a dexterous hand.

The hands of the Longhua humanoid (``sim/robots/full_body.xml``) grasp a parcel the way
a person lifts a small carton off a belt: palm down over it, the four fingers curl over
its far face and the thumb, swung under the palm, holds its near face. The expert is a
:class:`~collector.sim.expert.WaypointExpert` whose waypoint ``opening`` is the hand's
opening fraction (1 open, 0 closed) rather than a gripper width; it is mapped to the six
hand joints by :func:`hand_targets`.

Kinds:

* ``hand_pick_place``: the named-colour parcel goes to one of ``targets`` (box sites),
  drawn per episode; the site names which arm does it;
* ``sort_by_colour``: the same, but the drawn tote takes the parcel's colour, so the
  instruction only says "the tote of the same colour".

Every draw comes from the task's generator and is recorded in :attr:`Task.drawn`.
"""

from __future__ import annotations

import numpy as np

from collector.sim.errors import SimError
from collector.sim.expert import APPROACH_M, Waypoint, WaypointExpert
from collector.sim.ik import SiteIK
from collector.sim.tasks import Task, register_kind

PARCEL_HALF_M = 0.025  # the parcels are 5 cm cartons
FINGERS = ("index", "middle", "ring", "little")
THUMB_OPPOSED_RAD = 1.3  # thumb rotation: under the palm, facing the fingers
FINGER_CLOSED_RAD = 1.7  # closing targets: the parcel stops the fingers, the servos squeeze
THUMB_BEND_CLOSED_RAD = 0.6
READY_SEED = [-0.3, 0.0, 0.0, 1.3, 0.0, 0.0, 0.0]  # forearm forward, palm down: where IK starts
LIFT_M = APPROACH_M + 0.03


def hand_rotation(yaw: float, tilt: float = 0.0) -> np.ndarray:
    """TCP orientation: palm down, fingers pointing forward (+x) turned by ``yaw`` about
    the vertical and tipped down by ``tilt`` (rad)."""
    c, s = np.cos(yaw), np.sin(yaw)
    pitch = -np.pi / 2 + tilt
    cp, sp = np.cos(pitch), np.sin(pitch)
    yaw_m = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    pitch_m = np.array([[cp, 0.0, sp], [0.0, 1.0, 0.0], [-sp, 0.0, cp]])
    return yaw_m @ pitch_m


def hand_yaw(rotation: np.ndarray) -> float:
    """Inverse of :func:`hand_rotation` for the yaw: the fingers' heading (rad)."""
    fingers = -rotation[:, 2]
    return float(np.arctan2(fingers[1], fingers[0]))


def box_yaw(body_xmat: np.ndarray) -> float:
    """Yaw that squeezes a box across a pair of its faces (cubes: folded into [-pi/4, pi/4])."""
    x_axis = body_xmat.reshape(3, 3)[:, 0]
    yaw = float(np.arctan2(x_axis[1], x_axis[0]))
    return (yaw + np.pi / 4) % (np.pi / 2) - np.pi / 4


def hand_targets(side: str, opening: float) -> dict[str, float]:
    """Joint targets of the ``side`` hand for an opening fraction (1 open, 0 closed)."""
    closure = 1.0 - min(max(float(opening), 0.0), 1.0)
    targets = {f"{side}_thumb_rotation": THUMB_OPPOSED_RAD, f"{side}_thumb_bend": closure * THUMB_BEND_CLOSED_RAD}
    targets.update({f"{side}_{finger}": closure * FINGER_CLOSED_RAD for finger in FINGERS})
    return targets


class HandExpert(WaypointExpert):
    """A :class:`WaypointExpert` for a dexterous hand: waypoint yaw is the fingers' heading
    (:func:`hand_rotation`), waypoint opening the hand's opening fraction.

    Args:
        world, side, waypoints, hold: as for :class:`WaypointExpert`.
        tilt: how far the fingers tip down (rad) throughout.
    """

    def __init__(self, world, side: str, waypoints: list[Waypoint], hold: dict[str, float], *, tilt: float = 0.0):
        self.world = world
        self.side = side
        self.arm = list(world.rig.robot.joints.get(f"{side}_arm", ()))
        self.ik = SiteIK(world.model, f"{side}_tcp", self.arm)
        self.waypoints = list(waypoints)
        self.hold = dict(hold)
        self.tilt = tilt
        position, rotation = self.ik.site_pose(world.data.qpos)
        self.start = (position, hand_yaw(rotation), 1.0)
        self.bounds = np.cumsum([w.seconds for w in self.waypoints])
        self.q = world.positions(self.arm)
        self.worst_error = 0.0

    def targets(self, t: float) -> dict[str, float]:
        position, yaw, opening = self.pose_at(t)
        qpos = self.world.data.qpos.copy()
        qpos[self.ik.qpos] = self.q
        self.q, error = self.ik.solve(qpos, position, hand_rotation(yaw, self.tilt))
        self.worst_error = max(self.worst_error, error)
        out = dict(self.hold)
        out.update(zip(self.arm, self.q.tolist()))
        out.update(hand_targets(self.side, opening))
        return out


def hand_pick_and_place(grasp: np.ndarray, yaw: float, place: np.ndarray, place_yaw: float, *,
                        release_height: float = 0.0, home: np.ndarray | None = None) -> list[Waypoint]:
    """Waypoints (TCP positions, world m) to grasp the parcel centred at ``grasp``,
    release it with its centre ``release_height`` above ``place`` and, if ``home`` is
    given, go back there (out of the head camera's view of the target)."""
    up = np.array([0.0, 0.0, APPROACH_M])
    lift = np.array([0.0, 0.0, LIFT_M])
    over = place + np.array([0.0, 0.0, release_height])
    return [
        Waypoint(tuple(grasp + up), yaw, 1.0, 1.4),
        Waypoint(tuple(grasp), yaw, 1.0, 0.8),
        Waypoint(tuple(grasp), yaw, 0.0, 0.6),
        Waypoint(tuple(grasp), yaw, 0.0, 0.2),
        Waypoint(tuple(grasp + lift), yaw, 0.0, 0.8),
        Waypoint(tuple(place + lift), place_yaw, 0.0, 1.5),
        Waypoint(tuple(over), place_yaw, 0.0, 0.8),
        Waypoint(tuple(over), place_yaw, 1.0, 0.5),
        Waypoint(tuple(over + up), place_yaw, 1.0, 0.7),
    ] + ([Waypoint(tuple(home), 0.0, 1.0, 1.2)] if home is not None else [])


class SortingTask(Task):
    """Base of the Longhua kinds: randomises the parcels on the belt and the totes' colours,
    readies both hands open, and judges a parcel placed when its centre is in the target
    site and the hand has let go of it."""

    def _randomise(self) -> None:
        world, model, rng, doc = self.world, self.world.model, self.rng, self.station.doc
        mujoco = world.mujoco
        ranges = doc.get("randomize", {})
        palette = doc["palette"]
        parcels = list(doc["parcels"])
        colours = [str(c) for c in rng.choice(list(palette), size=len(parcels), replace=False)]
        self.colours = dict(zip(parcels, colours))
        self.part = parcels[int(rng.integers(len(parcels)))]
        targets = dict(self.spec.params["targets"])
        self.target = list(targets)[int(rng.integers(len(targets)))]
        self.arm = str(targets[self.target])
        self.tote_colours = self._tote_colours()
        for parcel, colour in self.colours.items():
            model.geom_rgba[model.geom(parcel).id][:3] = palette[colour]["rgb"]
        for tote, colour in self.tote_colours.items():
            for geom in range(model.ngeom):
                if model.geom_bodyid[geom] == model.body(tote).id:
                    model.geom_rgba[geom][:3] = palette[colour]["rgb"]
        friction, mass = self.scale_friction_and_mass(parcels, ranges)
        # the conveyor and everything on it move together
        dz = float(rng.uniform(-1, 1) * ranges.get("conveyor_height_m", 0.0))
        conveyor = model.body("conveyor")
        model.body_pos[conveyor.id][2] += dz
        mujoco.mj_forward(model, world.data)
        belt = model.geom("belt").id
        belt_top = float(world.data.geom_xpos[belt][2] + model.geom_size[belt][2])
        slots = list(ranges["belt_slots_y"])
        order = rng.permutation(len(slots))
        jx, jy = ranges.get("parcel_jitter_m", [0.0, 0.0])
        x0 = float(world.data.xpos[conveyor.id][0] + ranges.get("belt_row_x_m", 0.0))
        placements = {}
        for parcel, slot in zip(parcels, order):
            x = x0 + rng.uniform(-jx, jx)
            y = slots[slot] + rng.uniform(-jy, jy)
            z = belt_top + PARCEL_HALF_M + 0.001
            yaw = float(rng.uniform(-1, 1) * ranges.get("parcel_yaw_rad", 0.0))
            placements[parcel] = self.place_free_body(parcel, (x, y, z), yaw)
        camera_shift = self.jitter_lights_and_cameras(ranges)
        world.forward()
        self.drawn.update({"colours": self.colours, "tote_colours": self.tote_colours, "target_part": self.part,
                           "target": self.target, "arm": self.arm, "conveyor_dz_m": round(dz, 5),
                           "parcels": placements, "cameras": camera_shift, "friction_scale": round(friction, 5),
                           "mass_scale": round(mass, 5)})

    def _tote_colours(self) -> dict[str, str]:
        """Tote body -> colour name: two different colours, drawn."""
        totes = list(self.station.doc["totes"])
        names = [str(c) for c in self.rng.choice(list(self.station.doc["palette"]), size=len(totes), replace=False)]
        return dict(zip(totes, names))

    def ready_rotation(self) -> np.ndarray:
        return hand_rotation(0.0)

    def open_end_effector(self, side: str) -> dict[str, float]:
        return hand_targets(side, 1.0)

    # -- instruction -----------------------------------------------------------------------

    def _tote_of_target(self) -> str | None:
        site_body = self.world.model.site(self.target).bodyid[0]
        name = self.world.model.body(int(site_body)).name
        return name if name in self.tote_colours else None

    def words(self) -> dict[str, str]:
        palette = self.station.doc["palette"]
        colour = self.colours[self.part]
        out = {"color": colour, "color_zh": palette[colour]["zh"]}
        tote = self._tote_of_target()
        if tote is not None:
            out.update({"tote_color": self.tote_colours[tote], "tote_color_zh": palette[self.tote_colours[tote]]["zh"]})
        return out

    # -- expert and success ------------------------------------------------------------------

    def expert(self) -> HandExpert:
        params = self.spec.params
        grasp = self.part_position(self.part)
        site = self.world.model.site(self.target).id
        centre = self.world.data.site_xpos[site].copy()
        half = self.world.model.site_size[site]
        dx, dy = params.get("place_offset_m", [0.0, 0.0])
        place = np.array([centre[0] + dx, centre[1] + dy, centre[2] - half[2] + PARCEL_HALF_M])
        waypoints = hand_pick_and_place(grasp, box_yaw(self.world.data.xmat[self.world.model.body(self.part).id]),
                                        place, float(params.get("place_yaw_rad", 0.0)),
                                        release_height=float(params.get("release_height_m", 0.0)),
                                        home=np.array(self.station.ready[self.arm]))
        return HandExpert(self.world, self.arm, waypoints, self.hold_except(self.arm),
                          tilt=float(params.get("tilt_rad", 0.0)))

    def touching_robot(self, body: str) -> bool:
        """Whether any contact joins ``body`` to a robot geom (the robot's contype is 2)."""
        model, data = self.world.model, self.world.data
        body_id = model.body(body).id
        for contact in data.contact[:data.ncon]:
            bodies = (model.geom_bodyid[contact.geom1], model.geom_bodyid[contact.geom2])
            if body_id in bodies:
                other = contact.geom2 if bodies[0] == body_id else contact.geom1
                if model.geom_contype[other] & 2:
                    return True
        return False

    def satisfied(self) -> bool:
        return self.inside_site(self.part_position(self.part), self.target) and not self.touching_robot(self.part)


@register_kind("hand_pick_place")
class HandPickPlace(SortingTask):
    """Put the named-colour parcel into the drawn target site (a tote or the shelf)."""


@register_kind("sort_by_colour")
class SortByColour(SortingTask):
    """Put the named-colour parcel into the tote of its colour; the other tote has another."""

    def _tote_colours(self) -> dict[str, str]:
        totes = list(self.station.doc["totes"])
        target_tote = self.world.model.body(int(self.world.model.site(self.target).bodyid[0])).name
        if target_tote not in totes:
            raise SimError(f"{self.station.source}: task {self.spec.name!r}: target {self.target!r} is not in a tote")
        colour = self.colours[self.part]
        others = [c for c in self.station.doc["palette"] if c != colour]
        picks = [str(c) for c in self.rng.choice(others, size=len(totes) - 1, replace=False)]
        return {tote: (colour if tote == target_tote else picks.pop()) for tote in totes}
