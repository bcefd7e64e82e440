"""Which nodes a rig runs, with which parameters: one plan for ``ros2 launch``, ``collector up``
and ``collector record``.

A rig profile lists its driver nodes (``drivers:``); :func:`plan_launch` turns the
profile and the operator's choices into a :class:`LaunchPlan`, a list of
:class:`NodeSpec`. The launch files in ``launch/`` only map those specs onto
``launch_ros`` ``Node`` actions; ``collector up`` and ``collector record`` start the
same specs as processes (:class:`~collector.capture.processes.NodeGroup`), so all
run exactly the same nodes.

The data source decides who publishes the rig's streams:

* ``rig``: the profile's drivers (cameras ...); the rest comes from the robot's own stack;
* ``synthetic``: the synthetic robot publishes every stream (no hardware);
* ``replay``: a recorded raw episode is played back onto the topics;
* ``sim``: the MuJoCo replica of the station (``scene``) publishes them;
* ``external``: only the recorder; every topic comes from nodes started elsewhere
  (what ``collector record`` does on a rig whose drivers the vendor's tools start).

No ROS import here: plans are unit-tested anywhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collector.errors import CollectorError
from collector.rig import Driver, Rig, load_rig

PACKAGE = "collector"
# collector's ROS 2 executables (setup.py console_scripts) and the module each runs.
EXECUTABLES = {
    "recorder": "collector.ros.recorder_node",
    "synthetic_robot": "collector.drivers.synthetic_node",
    "sim_robot": "collector.sim.bridge_node",
    "camera": "collector.drivers.camera_node",
    "replay": "collector.drivers.replay_node",
}
SOURCES = ("rig", "synthetic", "replay", "sim", "external")
RECORDER_NAMESPACE = "/collector"
REPLAY_WAIT_S = 15.0


class PlanError(CollectorError):
    """A launch plan cannot be made from these choices."""


@dataclass(frozen=True, kw_only=True)
class NodeSpec:
    """One node of a plan: what ``launch_ros.actions.Node`` takes, plus the streams it serves."""

    name: str
    package: str
    executable: str
    namespace: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    remappings: tuple[tuple[str, str], ...] = ()
    streams: tuple[str, ...] = ()  # rig streams this node publishes

    @property
    def module(self) -> str | None:
        """The Python module of one of collector's executables; None for an external package."""
        return EXECUTABLES.get(self.executable) if self.package == PACKAGE else None


@dataclass(frozen=True, kw_only=True)
class PlanOptions:
    """The operator's choices for one launch.

    Args:
        source: who publishes the streams, one of :data:`SOURCES`.
        out: where the recorder writes episodes (``~`` is expanded by the recorder).
        task, operator: the recorder's initial task instruction and operator id.
        episode: the raw episode to play (source ``replay``).
        rate: replay speed factor (source ``replay``).
        scene, sim_task, seed, camera_size: the simulated station (source ``sim``).
        faults: the synthetic robot's faults, YAML text or a file (source ``synthetic``).
        skip: names of drivers not to start (e.g. a camera that is not plugged in).
        autostart: start recording an episode as soon as the recorder is up.
        disk_reserve_mb: the recorder's free-disk reserve (MB).
    """

    source: str = "rig"
    out: str = "~/collector_data"
    task: str = ""
    operator: str = ""
    episode: str = ""
    rate: float = 1.0
    scene: str = ""
    sim_task: str = ""
    seed: int = 0
    camera_size: str = ""
    faults: str = ""
    skip: tuple[str, ...] = ()
    autostart: bool = False
    disk_reserve_mb: int = 1024

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise PlanError(f"source {self.source!r} is not one of {', '.join(SOURCES)}")
        if self.source == "replay" and not self.episode:
            raise PlanError("source replay needs an episode (episode:=DIR / --episode DIR)")
        if self.source == "sim" and not self.scene:
            raise PlanError("source sim needs a scene (scene:=NAME / --scene NAME)")
        if not self.rate > 0:
            raise PlanError(f"rate {self.rate!r} must be > 0")
        if not self.out:
            raise PlanError("out (the episode folder) must not be empty")
        if isinstance(self.disk_reserve_mb, bool) or not isinstance(self.disk_reserve_mb, int) \
                or self.disk_reserve_mb < 0:
            raise PlanError(f"disk_reserve_mb {self.disk_reserve_mb!r} must be an integer >= 0")


@dataclass(frozen=True, kw_only=True)
class LaunchPlan:
    """The nodes to start for one rig, and the streams that must come from elsewhere."""

    rig: Rig
    options: PlanOptions
    nodes: tuple[NodeSpec, ...]
    external_streams: tuple[str, ...]  # published by none of the nodes: the robot's own stack

    def describe(self) -> list[str]:
        """One line per node, then the streams left to the robot's own drivers."""
        lines = []
        for node in self.nodes:
            where = "collector" if node.module else f"external package {node.package}"
            serves = f" -> {', '.join(node.streams)}" if node.streams else ""
            lines.append(f"{node.name}: {node.package}/{node.executable} ({where}){serves}")
        if self.external_streams:
            lines.append(f"expected from the robot's own drivers: {', '.join(self.external_streams)}")
        return lines


def _rig_argument(rig: Rig) -> str:
    """What the nodes' ``rig`` parameter gets: the shipped name, or the profile's path."""
    from collector.rig import available_rigs

    if rig.rig in available_rigs() and Path(rig.source).stem == rig.rig and "datasets" in Path(rig.source).parts:
        return rig.rig
    return str(Path(rig.source).resolve()) if rig.source else rig.rig


def _camera_parameters(rig: Rig, driver: Driver) -> dict[str, Any]:
    """collector's camera driver: topic, frame, size, rate and encoding from its stream."""
    if len(driver.streams) != 1:
        raise PlanError(f"{rig.source}: driver {driver.name!r}: the camera driver publishes exactly one stream, "
                        f"got {list(driver.streams) or 'none'}")
    stream = rig.stream(driver.streams[0])
    derived: dict[str, Any] = {"topic": stream.topic, "fps": float(stream.rate_hz),
                               "reliability": stream.qos.reliability}
    for key in ("frame_id", "width", "height", "encoding"):
        value = getattr(stream, key)
        if value not in (None, ""):
            derived[key] = value
    return {**derived, **driver.parameters}


# Parameters collector's own drivers get from the rig profile (a registry, not if/elif).
_DERIVED_PARAMETERS = {"camera": _camera_parameters}


def _driver_node(rig: Rig, driver: Driver) -> NodeSpec:
    parameters = dict(driver.parameters)
    if driver.package == PACKAGE:
        if driver.executable not in EXECUTABLES:
            raise PlanError(f"{rig.source}: driver {driver.name!r}: collector has no executable "
                            f"{driver.executable!r} (it has: {', '.join(sorted(EXECUTABLES))})")
        derive = _DERIVED_PARAMETERS.get(driver.executable)
        if derive is not None:
            parameters = derive(rig, driver)
    return NodeSpec(name=driver.name, package=driver.package, executable=driver.executable,
                    parameters=parameters, remappings=driver.remappings, streams=driver.streams)


def _source_nodes(rig: Rig, options: PlanOptions, rig_arg: str) -> list[NodeSpec]:
    every = tuple(s.name for s in rig.streams)
    if options.source == "external":  # the topics come from nodes started elsewhere
        return []
    if options.source == "synthetic":
        parameters = {"rig": rig_arg, **({"faults": options.faults} if options.faults else {})}
        return [NodeSpec(name="synthetic_robot", package=PACKAGE, executable="synthetic_robot",
                         parameters=parameters, streams=every)]
    if options.source == "replay":
        # Wait (bounded) until the recorder subscribes to every topic, so nothing is
        # played into the void while discovery is still going on.
        return [NodeSpec(name="replay", package=PACKAGE, executable="replay",
                         parameters={"episode": os.path.expanduser(options.episode), "rate": float(options.rate),
                                     "wait_for_subscribers_s": REPLAY_WAIT_S},
                         streams=every)]
    if options.source == "sim":
        parameters: dict[str, Any] = {"scene": options.scene, "seed": int(options.seed)}
        if options.sim_task:
            parameters["task"] = options.sim_task
        if options.camera_size:
            parameters["camera_size"] = options.camera_size
        return [NodeSpec(name="sim_robot", package=PACKAGE, executable="sim_robot", parameters=parameters,
                         streams=every)]
    unknown = sorted(set(options.skip) - {d.name for d in rig.drivers})
    if unknown:
        raise PlanError(f"{rig.source}: no driver named {unknown[0]!r} to skip "
                        f"(drivers: {', '.join(d.name for d in rig.drivers) or 'none'})")
    return [_driver_node(rig, d) for d in rig.drivers if d.name not in options.skip]


def plan_launch(rig: Rig | str, options: PlanOptions | None = None) -> LaunchPlan:
    """The nodes to start for ``rig`` (a Rig, a shipped rig name or a profile path).

    A simulated station brings its own rig: the caller resolves it
    (``collector.sim.catalog.load_station(scene).rig``), so this core module never
    reaches into the simulation.

    Raises:
        RigError: the rig profile cannot be loaded.
        PlanError: no rig, or the options do not fit the rig (unknown driver, missing
            episode or scene).
    """
    options = options or PlanOptions()
    if isinstance(rig, str) and not rig:
        raise PlanError("no rig given (a rig name or profile path; a simulated station's rig comes from its scene)")
    rig = load_rig(rig) if isinstance(rig, (str, Path)) else rig
    rig_arg = _rig_argument(rig)
    recorder = {"rig": rig_arg, "out": options.out, "task": options.task, "operator": options.operator,
                "disk_reserve_mb": options.disk_reserve_mb}
    if options.autostart:
        recorder["autostart"] = True
    nodes = [NodeSpec(name="recorder", package=PACKAGE, executable="recorder", namespace=RECORDER_NAMESPACE,
                      parameters=recorder)]
    nodes += _source_nodes(rig, options, rig_arg)
    served = {s for n in nodes for s in n.streams}
    external = tuple(s.name for s in rig.streams if s.name not in served)
    return LaunchPlan(rig=rig, options=options, nodes=tuple(nodes), external_streams=external)
