"""The ``main()`` of a driver node that runs its own loop thread beside the executor.

``run_loop_node(name, build, argv)``: rclpy up with the project's DDS defaults, the
node built by ``build(node)`` (an object with ``start()``, ``stop()`` and
``running``, usually a :class:`LoopThread`), spun until the loop ends, Ctrl-C,
SIGTERM or a ROS shutdown, and everything closed in order. Bad parameters (a
CollectorError from ``build``) give one ``error: ...`` line and exit code 2.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any

import rclpy
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node

from collector.errors import CollectorError
from collector.ros.dds import apply_transport_defaults


def declare_fields(node: Node, config_class, descriptions: Mapping[str, str]) -> dict[str, Any]:
    """Declare one ROS parameter per field of the dataclass ``config_class`` (its default,
    its description) and return the values given, as the dataclass expects them.

    ROS types a value by how it is written: ``-p fps:=30`` is an int where the field is a
    float, ``-p source:=0`` an int where it is a string, ``-p calibration:=`` no value at
    all. Those are turned into the field's type; anything else is left for the config's
    own checks. An empty tuple default (a list parameter) is declared as ``""``: ROS
    cannot tell the element type of an empty list.
    """
    values = {}
    for field in dataclasses.fields(config_class):
        default = "" if isinstance(field.default, tuple) else field.default
        descriptor = ParameterDescriptor(description=descriptions[field.name], dynamic_typing=True)
        value = node.declare_parameter(field.name, default, descriptor).value
        integer = isinstance(value, int) and not isinstance(value, bool)
        if value is None and isinstance(default, str):
            value = ""
        elif isinstance(default, str) and not isinstance(field.default, tuple) and integer:
            value = str(value)
        elif isinstance(default, float) and integer:
            value = float(value)
        values[field.name] = value
    return values


class LoopThread:
    """A node's own loop on a daemon thread: the replay, the camera, the simulated
    and the synthetic robot.

    Subclasses write :meth:`loop` and a ``stop()`` that asks the loop to end and then
    calls :meth:`join` and :meth:`raise_error`. An error of the loop is kept and
    re-raised by :meth:`raise_error`, except once ROS has shut down: publishing then
    fails, and that is a normal stop.
    """

    def __init__(self, node: Node, thread_name: str):
        self.node = node
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._guarded, name=thread_name, daemon=True)

    def loop(self) -> None:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout_s: float | None = None) -> bool:
        """Wait for the loop to end (at most ``timeout_s``); True when it has."""
        if self._thread.is_alive():
            self._thread.join(timeout=timeout_s)
        return not self._thread.is_alive()

    def raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _guarded(self) -> None:
        try:
            self.loop()
        except BaseException as err:  # noqa: BLE001 - kept for stop() to re-raise
            if self.node.context.ok():
                self._error = err


def shut_down(node: Node | None) -> bool:
    """True once ROS has shut down (Ctrl-C, SIGTERM): an executor caught in between
    raises RCLError ("the given context is not valid") instead of
    ExternalShutdownException, and that is a normal stop too."""
    context = node.context if node is not None else None
    return not (context.ok() if context is not None else rclpy.ok())


def run_loop_node(name: str, build: Callable[[Node], object], argv: list[str] | None = None) -> int:
    """Run a loop-thread node; returns 0 on a normal stop, 2 for bad parameters."""
    try:
        apply_transport_defaults()
        rclpy.init(args=sys.argv if argv is None else argv)
    except RuntimeError as err:  # rclpy's RCLError: malformed --ros-args
        print(f"error: {str(err).splitlines()[0]}", file=sys.stderr)
        return 2
    node = loop = None
    try:
        node = Node(name)
        try:
            loop = build(node)
        except CollectorError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        loop.start()
        executor = SingleThreadedExecutor(context=node.context)
        executor.add_node(node)
        while loop.running:
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RuntimeError:
        if not shut_down(node):
            raise
    finally:
        try:
            if loop is not None:
                loop.stop()
        finally:
            if node is not None:
                node.destroy_node()
            rclpy.try_shutdown()
    return 0
