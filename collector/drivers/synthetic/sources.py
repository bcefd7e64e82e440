"""The registry of content sources by stream role."""

from __future__ import annotations

from collector.drivers.synthetic.base import NS_PER_MS, SyntheticError
from collector.drivers.synthetic.images import DepthSource, ImageSource
from collector.drivers.synthetic.motion import JointSource, TrajectoryModel
from collector.drivers.synthetic.sensors import ImuSource, TactileSource, WrenchSource
from collector.rig import Stream

DEFAULT_LEAD_NS = 50 * NS_PER_MS


def _joints(stream, trajectory, seed, lead_ns):
    return JointSource(stream, trajectory)


def _action(stream, trajectory, seed, lead_ns):
    return JointSource(stream, trajectory, lead_ns=lead_ns)


SOURCES = {
    "joint_state": _joints,
    "gripper": _joints,
    "hand": _joints,
    "action": _action,
    "imu": lambda stream, trajectory, seed, lead_ns: ImuSource(stream, seed),
    "wrench": lambda stream, trajectory, seed, lead_ns: WrenchSource(stream, seed),
    "tactile": lambda stream, trajectory, seed, lead_ns: TactileSource(stream, seed),
    "camera": lambda stream, trajectory, seed, lead_ns: ImageSource(stream, seed),
    "depth": lambda stream, trajectory, seed, lead_ns: DepthSource(stream, seed),
}


def make_source(stream: Stream, trajectory: TrajectoryModel, *, seed: int = 0, lead_ns: int = DEFAULT_LEAD_NS):
    """The content source for ``stream``'s role (see :data:`SOURCES`).

    Joint roles and the action share ``trajectory``; the action leads it by ``lead_ns``.

    Raises:
        SyntheticError: for a role without a source or an unsupported encoding.
    """
    if stream.role not in SOURCES:
        raise SyntheticError(f"{stream.name}: no synthetic source for role {stream.role!r}")
    return SOURCES[stream.role](stream, trajectory, seed, lead_ns)
