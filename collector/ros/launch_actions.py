"""A rig's launch description: the :mod:`collector.capture.launch_plan` nodes as ``launch_ros`` actions.

Used by the files in ``launch/`` (``ros2 launch collector baoan_humanoid.launch.py``);
needs ``launch`` and ``launch_ros`` (ROS from apt), which is why nothing else imports
it. Every choice of :class:`~collector.capture.launch_plan.PlanOptions` is a launch argument:
``source:=synthetic``, ``out:=/data/episodes``, ``task:='...'``, ``skip:=head_camera``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any

from collector.capture.launch_plan import PlanOptions, plan_launch

# Launch argument -> how its text becomes a PlanOptions value.
_CONVERT = {
    "rate": float,
    "seed": int,
    "autostart": lambda text: text.strip().lower() in ("1", "true", "yes", "on"),
    "skip": lambda text: tuple(name.strip() for name in text.split(",") if name.strip()),
}


def _default_text(name: str) -> str:
    value = {f.name: f.default for f in fields(PlanOptions)}[name]
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def rig_launch_description(rig: str, *, scene_rig: Callable[[str], Any] | None = None, **defaults: str):
    """LaunchDescription for ``rig`` (a shipped name or a path; ``""``: ``scene_rig(scene)``, the
    rig of the simulated station, which the sim launch file passes in).

    ``defaults`` override the launch arguments' defaults (e.g. ``source="sim"``).
    """
    from launch.actions import DeclareLaunchArgument, LogInfo, OpaqueFunction
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    from launch import LaunchDescription

    names = [f.name for f in fields(PlanOptions)]

    def nodes(context):
        values = {}
        for name in names:
            text = LaunchConfiguration(name).perform(context)
            values[name] = _CONVERT.get(name, str)(text)
        chosen = LaunchConfiguration("rig").perform(context)
        if not chosen and scene_rig is not None:
            chosen = scene_rig(values["scene"])
        plan = plan_launch(chosen, PlanOptions(**values))
        actions = [LogInfo(msg=f"collector: {line}") for line in plan.describe()]
        for spec in plan.nodes:
            actions.append(Node(
                package=spec.package, executable=spec.executable, name=spec.name,
                namespace=spec.namespace or None, parameters=[spec.parameters] if spec.parameters else [],
                remappings=list(spec.remappings), output="screen", emulate_tty=True,
            ))
        return actions

    arguments = [DeclareLaunchArgument("rig", default_value=rig, description="rig profile (name or path)")]
    arguments += [DeclareLaunchArgument(name, default_value=defaults.get(name, _default_text(name)))
                  for name in names]
    return LaunchDescription([*arguments, OpaqueFunction(function=nodes)])
