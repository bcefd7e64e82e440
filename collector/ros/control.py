"""Client side of the recorder's interface: services and the status topic.

Used by ``collector record`` (keys, live table, unattended runs) and by tests;
a foot pedal or teleop button node would call the same services.
"""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from std_msgs.msg import String
from std_srvs.srv import SetBool, Trigger

from collector.errors import CollectorError


@contextmanager
def ros_session(args: list[str] | None = None):
    """rclpy initialised for this process for the duration of the ``with`` block."""
    rclpy.init(args=args)
    try:
        yield
    finally:
        if rclpy.ok():
            rclpy.shutdown()


class RecorderClient:
    """Talks to a recorder node at ``namespace``; spins its own executor thread.

    Use as a context manager; rclpy must be initialised by the caller.
    """

    def __init__(self, namespace: str = "/collector", *, node_name: str = "collector_control"):
        self.namespace = namespace.rstrip("/")
        self.node = Node(node_name)
        self._status: dict | None = None
        self._status_event = threading.Condition()
        self.node.create_subscription(String, f"{self.namespace}/status", self._on_status, 10)
        self._task_pub = self.node.create_publisher(String, f"{self.namespace}/task", 10)
        self._clients = {
            name: self.node.create_client(Trigger, f"{self.namespace}/{name}") for name in ("start", "stop", "discard")
        }
        self._clients["label"] = self.node.create_client(SetBool, f"{self.namespace}/label")
        self._executor = SingleThreadedExecutor()
        self._executor.add_node(self.node)
        self._running = True
        self._thread = threading.Thread(target=self._spin, name="collector-control", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while self._running and rclpy.ok():
            self._executor.spin_once(timeout_sec=0.05)

    def _on_status(self, msg: String) -> None:
        with self._status_event:
            self._status = json.loads(msg.data)
            self._status_event.notify_all()

    def __enter__(self) -> RecorderClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self._running = False
        self._thread.join(timeout=2)
        self._executor.remove_node(self.node)
        self.node.destroy_node()

    @property
    def status(self) -> dict | None:
        """The latest status message (parsed JSON), or None before the first."""
        return self._status

    def wait_for_recorder(self, timeout_s: float, alive=lambda: True) -> None:
        """Block until the recorder's services and status are up.

        Raises:
            CollectorError: after ``timeout_s`` seconds, or as soon as ``alive()`` is false.
        """
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not alive():
                raise CollectorError("the recorder process exited while starting (see its output above)")
            ready = all(client.service_is_ready() for client in self._clients.values())
            if ready and self._status is not None:
                return
            time.sleep(0.05)
        raise CollectorError(f"no recorder answered at {self.namespace}/* within {timeout_s:.0f} s")

    def wait_status(self, predicate, timeout_s: float) -> dict | None:
        """Wait until ``predicate(status)`` holds; returns that status, or None on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._status_event:
            while True:
                if self._status is not None and predicate(self._status):
                    return self._status
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._status_event.wait(timeout=min(remaining, 0.2))

    def _call(self, name: str, request, timeout_s: float = 10.0) -> str:
        client = self._clients[name]
        if not client.wait_for_service(timeout_sec=timeout_s):
            raise CollectorError(f"recorder service {self.namespace}/{name} is not available")
        future = client.call_async(request)
        deadline = time.monotonic() + timeout_s
        while not future.done():
            if time.monotonic() > deadline:
                raise CollectorError(f"recorder service {self.namespace}/{name} did not answer in {timeout_s:.0f} s")
            time.sleep(0.01)
        response = future.result()
        if not response.success:
            raise CollectorError(f"{name}: {response.message}")
        return response.message

    def start(self) -> str:
        """Start an episode; returns its directory. Raises CollectorError on refusal."""
        return self._call("start", Trigger.Request())

    def stop(self) -> str:
        """Stop and keep the episode; returns its directory."""
        return self._call("stop", Trigger.Request())

    def discard(self) -> str:
        """Stop and mark the episode discarded (data kept on disk)."""
        return self._call("discard", Trigger.Request())

    def label(self, success: bool) -> str:
        """Label the running (or last) episode a success or a failure."""
        return self._call("label", SetBool.Request(data=success))

    def set_task(self, task: str) -> None:
        """Set the task instruction for the current and next episodes."""
        self._task_pub.publish(String(data=task))


class SimClient:
    """The simulated robot's ``/sim/state`` and ``/sim/reset`` (see collector.sim.bridge_node),
    on the node and executor thread of a :class:`RecorderClient`."""

    def __init__(self, recorder: RecorderClient):
        from rclpy.qos import DurabilityPolicy, QoSProfile

        self.node = recorder.node
        self._state: dict | None = None
        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.node.create_subscription(String, "/sim/state", self._on_state, latched)
        self._reset = self.node.create_client(Trigger, "/sim/reset")

    def _on_state(self, msg: String) -> None:
        self._state = json.loads(msg.data)

    @property
    def state(self) -> dict | None:
        """The latest ``/sim/state`` (parsed JSON), or None before the first."""
        return self._state

    def wait_ready(self, timeout_s: float, alive=lambda: True) -> None:
        """Block until the sim robot publishes its state and offers ``/sim/reset``.

        Raises:
            CollectorError: after ``timeout_s`` seconds or once ``alive()`` is false.
        """
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not alive():
                raise CollectorError("the sim robot exited while starting")
            if self._state is not None and self._reset.service_is_ready():
                return
            time.sleep(0.05)
        raise CollectorError(f"no sim robot answered on /sim/state and /sim/reset within {timeout_s:.0f} s")

    def reset(self, timeout_s: float = 15.0) -> dict:
        """Start the next episode (next seed); returns the new state once it is published."""
        future = self._reset.call_async(Trigger.Request())
        deadline = time.monotonic() + timeout_s
        while not future.done():
            if time.monotonic() > deadline:
                raise CollectorError("/sim/reset did not answer")
            time.sleep(0.01)
        if not future.result().success:
            raise CollectorError(f"/sim/reset: {future.result().message}")
        instruction = future.result().message
        while time.monotonic() < deadline:
            state = self._state
            if state and state["instructions"]["en"] == instruction and state["sim_time_s"] < 1.0:
                return state
            time.sleep(0.02)
        raise CollectorError("the sim robot did not publish its new episode's state")
