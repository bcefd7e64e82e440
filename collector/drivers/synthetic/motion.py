"""Joint motion: the trajectory of every joint and the joints of one stream."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

from collector.drivers.synthetic.base import SyntheticError
from collector.drivers.synthetic.signals import Harmonics, _rng
from collector.rig import Robot, Stream

DEFAULT_LIMITS = (-1.0, 1.0)  # radians, for joints the rig gives no limits


class JointSample(NamedTuple):
    """Joint positions (rad, or m for grippers), velocities (per s), efforts (Nm, or N)."""

    position: np.ndarray
    velocity: np.ndarray
    effort: np.ndarray


class TrajectoryModel:
    """Smooth motion of every joint of ``robot``, inside its joint limits.

    A joint's motion depends only on the seed, its name, its limits and whether it
    belongs to a parallel gripper, a dexterous hand or the body. Joints without
    limits in the rig use :data:`DEFAULT_LIMITS`.
    """

    def __init__(self, robot: Robot, seed: int = 0):
        self.joints: tuple[str, ...] = robot.all_joints
        kinds = {j: ee.type for ee in robot.end_effectors for j in ee.joints}
        self.limits = np.array([robot.joint_limits.get(j, DEFAULT_LIMITS) for j in self.joints], dtype=float)
        amplitude, cycles, phase, inertia, damping, gravity = [], [], [], [], [], []
        for name, (low, high) in zip(self.joints, self.limits):
            rng = _rng(seed, name)
            span = high - low
            kind = kinds.get(name, "body")
            if kind == "parallel_gripper":
                # sin x + sin(3x)/6 (peak 0.866): flat-ish open and closed phases, a cycle in ~10 s,
                # swinging over 97% of the range
                base, first_phase = int(rng.integers(50, 70)), rng.uniform(0, 2 * math.pi)
                amplitude.append((0.56 * span, 0.56 / 6 * span))
                cycles.append((base, 3 * base))
                phase.append((first_phase, 3 * first_phase))
                inertia.append(rng.uniform(0.05, 0.2))
                damping.append(rng.uniform(5.0, 20.0))
                gravity.append(0.0)
                continue
            low_share = (0.25, 0.35) if kind == "dexterous_hand" else (0.15, 0.25)
            amplitude.append((span * rng.uniform(*low_share), span * rng.uniform(0.03, 0.08)))
            slow, fast = ((60, 180), (180, 360)) if kind == "dexterous_hand" else ((30, 120), (120, 300))
            cycles.append((int(rng.integers(*slow)), int(rng.integers(*fast))))
            phase.append(tuple(rng.uniform(0, 2 * math.pi, size=2)))
            inertia.append(rng.uniform(0.02, 0.3))
            damping.append(rng.uniform(0.1, 1.0))
            gravity.append(rng.uniform(0.0, 8.0) if kind == "body" else 0.0)
        self._motion = Harmonics(center=self.limits.mean(axis=1), amplitude=amplitude, cycles=cycles, phase=phase)
        self._inertia = np.array(inertia)
        self._damping = np.array(damping)
        self._gravity = np.array(gravity)
        self._position = {name: i for i, name in enumerate(self.joints)}

    def at(self, time_ns: int) -> JointSample:
        """Every joint's state at ``time_ns`` (ns), in :attr:`joints` order."""
        position, velocity, acceleration = self._motion.at(time_ns)
        effort = self._inertia * acceleration + self._damping * velocity + self._gravity * np.sin(position)
        return JointSample(position, velocity, effort)

    def index(self, names: Iterable[str]) -> np.ndarray:
        """Indices of ``names`` in :attr:`joints`; raises SyntheticError for an unknown joint."""
        try:
            return np.array([self._position[name] for name in names], dtype=np.intp)
        except KeyError as err:
            raise SyntheticError(f"joint {err.args[0]!r} is not a joint of the robot") from err


class JointSource:
    """The joints of one stream: state at the capture time, or ``lead_ns`` ahead (commands)."""

    def __init__(self, stream: Stream, trajectory: TrajectoryModel, *, lead_ns: int = 0):
        self.stream = stream
        self.lead_ns = lead_ns
        self._trajectory = trajectory
        self._index = trajectory.index(stream.joints)

    def sample(self, true_ns: int, seq: int = 0) -> JointSample:
        """Positions, velocities, efforts of ``stream.joints`` for capture time ``true_ns``."""
        full = self._trajectory.at(true_ns + self.lead_ns)
        return JointSample(full.position[self._index], full.velocity[self._index], full.effort[self._index])
