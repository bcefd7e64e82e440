"""Scripted experts: tool-centre-point waypoints, IK each control tick, grasp logic.

A :class:`WaypointExpert` holds a list of :class:`Waypoint` (where the gripper's
TCP goes, with which yaw and opening, over how long) for one arm; at every control
tick it interpolates the pose (smoothstep), solves IK warm-started from the last
solution, and returns position targets for the rig joints. The other arm holds
its ready pose. :func:`pick_and_place` builds the usual sequence: above the object,
down, close, lift, carry, lower, open, retreat.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from collector.sim.ik import SiteIK

OPEN_M = 0.045  # gripper opening before a grasp (m): 1 cm clear of the part each side, not into its neighbours
CLOSED_M = 0.0  # closing target: the part stops the fingers, the servo squeezes
APPROACH_M = 0.10  # height above grasp / place points for approach and retreat
TILT_RAD = 0.7  # fingers point down and 40 degrees forward: the wrists' limits allow it over the whole bench


def yaw_rotation(yaw: float, tilt: float = TILT_RAD) -> np.ndarray:
    """TCP orientation: fingers down, tipped forward by ``tilt``, closing axis turned by ``yaw``."""
    c, s = np.cos(yaw), np.sin(yaw)
    ct, st = np.cos(-tilt), np.sin(-tilt)
    yaw_m = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    tilt_m = np.array([[ct, 0.0, st], [0.0, 1.0, 0.0], [-st, 0.0, ct]])
    return yaw_m @ tilt_m


def grasp_yaw(body_xmat: np.ndarray) -> float:
    """Yaw that closes the fingers across a box's y axis (folded into [-pi/2, pi/2])."""
    x_axis = body_xmat.reshape(3, 3)[:, 0]
    yaw = float(np.arctan2(x_axis[1], x_axis[0]))
    return (yaw + np.pi / 2) % np.pi - np.pi / 2


@dataclass(frozen=True)
class Waypoint:
    """Go to ``position`` (m, world) with ``yaw`` and gripper ``opening`` (m) in ``seconds``."""

    position: tuple[float, float, float]
    yaw: float
    opening: float
    seconds: float


def _smoothstep(u: float) -> float:
    u = min(max(u, 0.0), 1.0)
    return u * u * (3 - 2 * u)


class WaypointExpert:
    """Follows waypoints with one arm (see the module doc).

    Args:
        world: the :class:`~collector.sim.world.SimWorld`.
        side: ``left`` or ``right`` (arm joints ``<side>_*``, TCP site ``<side>_tcp``,
            gripper ``<side>_gripper``).
        waypoints: the path; the first segment starts from the current TCP pose.
        hold: rig joint -> value for joints the expert keeps still (other arm, head, waist).
    """

    def __init__(self, world, side: str, waypoints: list[Waypoint], hold: dict[str, float]):
        self.world = world
        self.side = side
        self.arm = [j for j in world.rig.robot.joints.get(f"{side}_arm", ())]
        self.gripper = f"{side}_gripper"
        self.ik = SiteIK(world.model, f"{side}_tcp", self.arm)
        self.waypoints = list(waypoints)
        self.hold = dict(hold)
        position, rotation = self.ik.site_pose(world.data.qpos)
        self.start = (position, float(np.arctan2(rotation[1, 0], rotation[0, 0])),
                      float(world.positions([self.gripper])[0]))
        self.bounds = np.cumsum([w.seconds for w in self.waypoints])
        self.q = world.positions(self.arm)
        self.worst_error = 0.0

    @property
    def duration_s(self) -> float:
        return float(self.bounds[-1]) if len(self.bounds) else 0.0

    def pose_at(self, t: float) -> tuple[np.ndarray, float, float]:
        """Interpolated (TCP position, yaw, opening) at ``t`` s after the start."""
        index = int(np.searchsorted(self.bounds, t, side="right"))
        if index >= len(self.waypoints):
            last = self.waypoints[-1]
            return np.array(last.position), last.yaw, last.opening
        begin = self.bounds[index - 1] if index else 0.0
        previous = self.waypoints[index - 1] if index else None
        p0, y0, g0 = (self.start if previous is None else
                      (np.array(previous.position), previous.yaw, previous.opening))
        target = self.waypoints[index]
        u = _smoothstep((t - begin) / max(target.seconds, 1e-9))
        return ((1 - u) * np.asarray(p0) + u * np.array(target.position), (1 - u) * y0 + u * target.yaw,
                (1 - u) * g0 + u * target.opening)

    def targets(self, t: float) -> dict[str, float]:
        """Position targets of every rig joint the expert drives, at ``t`` s."""
        position, yaw, opening = self.pose_at(t)
        qpos = self.world.data.qpos.copy()
        qpos[self.ik.qpos] = self.q
        self.q, error = self.ik.solve(qpos, position, yaw_rotation(yaw))
        self.worst_error = max(self.worst_error, error)
        out = dict(self.hold)
        out.update(zip(self.arm, self.q.tolist()))
        out[self.gripper] = opening
        return out


def pick_and_place(grasp: np.ndarray, yaw: float, place: np.ndarray, place_yaw: float, *,
                   release_height: float = 0.0) -> list[Waypoint]:
    """Waypoints to pick the object whose grasp point is ``grasp`` and put that point at
    ``place`` (+ ``release_height``); every position is the TCP's, in world metres."""
    up = np.array([0.0, 0.0, APPROACH_M])
    lift = np.array([0.0, 0.0, APPROACH_M + 0.03])
    over = place + np.array([0.0, 0.0, release_height])
    return [
        Waypoint(tuple(grasp + up), yaw, OPEN_M, 1.4),
        Waypoint(tuple(grasp), yaw, OPEN_M, 0.7),
        Waypoint(tuple(grasp), yaw, CLOSED_M, 0.5),
        Waypoint(tuple(grasp + lift), yaw, CLOSED_M, 0.7),
        Waypoint(tuple(place + lift), place_yaw, CLOSED_M, 1.4),
        Waypoint(tuple(over), place_yaw, CLOSED_M, 0.8),
        Waypoint(tuple(over), place_yaw, OPEN_M, 0.4),
        Waypoint(tuple(over + up), place_yaw, OPEN_M, 0.7),
    ]
