"""``ros2 run collector recorder``: raw, crash-safe recording of a rig's streams.

Subscribes to every stream of the rig profile with raw (serialized CDR)
subscriptions and the declared QoS; nothing is deserialised. The callback only
counts the message (and reads the ``header.stamp`` of a few messages a second of
a ``clock: header`` stream, for its live latency) and queues its bytes with the
DDS receive and source timestamps; :class:`collector.capture.recording.Recorder` writes them.

Interface (relative to the node namespace, ``/collector`` by default):

* services ``start``, ``stop``, ``discard`` (std_srvs/Trigger) and ``label``
  (std_srvs/SetBool: true = success, false = failure; applies to the running
  episode or else the last one);
* topic ``task`` (std_msgs/String): the task instruction for the current and
  following episodes (also the ``task`` parameter);
* topic ``status`` (std_msgs/String, JSON) at 1 Hz, and at once when a stream
  goes stale or an episode starts or ends; ``/diagnostics`` likewise.

Parameters: ``rig``, ``out``, ``task``, ``operator``, ``disk_reserve_mb``,
``flush_interval_s``, ``max_episode_s``, ``max_backlog_mb`` (0: a quarter of RAM),
``autostart``.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import rclpy
from rcl_interfaces.msg import SetParametersResult
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import String
from std_srvs.srv import SetBool, Trigger

from collector.capture.health import HealthBoard, problems
from collector.capture.recording import Recorder, RecorderConfig
from collector.cdr.header import header_stamp_ns
from collector.errors import CollectorError
from collector.pseudonym import check_operator_id
from collector.rig import load_rig
from collector.ros.dds import apply_transport_defaults
from collector.ros.messages import message_class
from collector.ros.node_main import declare_fields, shut_down
from collector.ros.qos import to_rclpy

STATUS_PERIOD_S = 1.0
HEALTH_CHECK_S = 0.1
READER_QUEUE_S = 1.0


def parameter_names() -> frozenset[str]:
    """Every ROS parameter the node declares (launch plans are checked against it)."""
    return frozenset(f.name for f in dataclasses.fields(RecorderParameters))


def _convert(name: str, value, kind):
    """``-p x:=5`` arrives as an int where a float is meant (and vice versa): accept both."""
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is str:
        if isinstance(value, str):
            return value
        return str(value)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if kind is float or float(value).is_integer():
            return kind(value)
    raise CollectorError(f"parameter {name}: expected {kind.__name__}, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class RecorderParameters:
    """The recorder's ROS parameters, typed as their defaults (converted on construction).

    Raises:
        CollectorError: a value of the wrong type, naming the parameter.
    """

    rig: str = "baoan_humanoid"
    out: str = "episodes"
    task: str = ""
    operator: str = ""
    disk_reserve_mb: int = 1024
    flush_interval_s: float = 0.5
    max_episode_s: float = 0.0
    max_backlog_mb: int = 0
    batch_ms: float = 5.0
    autostart: bool = False

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            object.__setattr__(self, field.name, _convert(field.name, getattr(self, field.name), type(field.default)))


_DESCRIPTIONS = {
    "rig": "rig profile: a shipped name or a path to a profile YAML",
    "out": "folder the episodes are written into",
    "task": "task instruction for the current and next episodes (also topic ~/task)",
    "operator": "pseudonymous operator id (letters, digits, _ . -)",
    "disk_reserve_mb": "refuse to start, and end a running episode, below this much free disk (MB)",
    "flush_interval_s": "write a chunk to disk at least this often (s)",
    "max_episode_s": "end an episode after this long (s; 0: no limit)",
    "max_backlog_mb": "received but not yet written data that ends the episode as 'backlog' (MB; 0: a quarter of RAM)",
    "batch_ms": "executor pause per wait cycle, so one cycle serves many messages (ms)",
    "autostart": "start an episode as soon as the node is up",
}


def parameter_values(node: Node) -> dict:
    """Declare the recorder's parameters (loosely typed) and return them converted."""
    return dataclasses.asdict(RecorderParameters(**declare_fields(node, RecorderParameters, _DESCRIPTIONS)))


def config_from_parameters(values: dict) -> RecorderConfig:
    """The one place ROS parameters become a :class:`RecorderConfig`."""
    return RecorderConfig(
        rig=load_rig(values["rig"]),
        out=Path(values["out"]).expanduser(),
        task=values["task"],
        operator=values["operator"],
        disk_reserve_bytes=values["disk_reserve_mb"] * (1 << 20),
        flush_interval_s=values["flush_interval_s"],
        max_episode_s=values["max_episode_s"],
        max_backlog_bytes=values["max_backlog_mb"] * (1 << 20),
    )


class RecorderNode(Node):
    """Thin ROS shell around :class:`Recorder`."""

    def __init__(self, **kwargs):
        super().__init__("recorder", namespace="/collector", **kwargs)
        self.parameters = parameter_values(self)
        self.config = config_from_parameters(self.parameters)
        self.recorder = Recorder(self.config)
        self.board = HealthBoard(self.config.rig.streams, self.config.rig.sync)
        self._stale: set[str] = set()
        self._last_status = 0.0
        self._was_recording = False
        self._subscriptions = [
            self._subscribe(index, stream) for index, stream in enumerate(self.config.rig.streams)
        ]
        self.create_service(Trigger, "start", self._on_start)
        self.create_service(Trigger, "stop", self._on_stop)
        self.create_service(Trigger, "discard", self._on_discard)
        self.create_service(SetBool, "label", self._on_label)
        self.create_subscription(String, "task", lambda msg: self._set_task(msg.data), 10)
        self.add_on_set_parameters_callback(self._on_parameters)
        self.status_pub = self.create_publisher(String, "status", 10)
        self.diagnostics = _Diagnostics(self)
        # Health runs on its own thread, not an executor timer: when the
        # executor is busy draining a burst, a timer fires late and a silent
        # stream would be flagged late.
        self._status_lock = threading.Lock()
        self._halt = threading.Event()
        self._health_thread = threading.Thread(target=self._health_loop, name="health", daemon=True)
        self._health_thread.start()
        rig = self.config.rig
        self.get_logger().info(
            f"recording rig {rig.rig} ({len(rig.streams)} streams) into {self.config.out}; "
            f"services {self.get_namespace()}/start|stop|discard|label"
        )
        if self.parameters["autostart"]:
            self._start()

    def _subscribe(self, index: int, stream):
        monitor = self.board.monitors[stream.name]
        submit = self.recorder.submit
        on_message = monitor.on_message
        # The live latency needs a few stamps a second, not every message's.
        stamp_of = header_stamp_ns if monitor.measures_latency else None
        stride = monitor.latency_stride
        msg_class = message_class(stream.type)
        holder = []

        def record(data: bytes, info: dict) -> None:
            receive_ns = info["received_timestamp"]
            on_message(receive_ns, stamp_of(data) if stamp_of and monitor.count % stride == 0 else None)
            submit(index, data, receive_ns, info["source_timestamp"],
                   info["publisher_gid"]["data"], info["publication_sequence_number"])

        def callback(data: bytes, info: dict) -> None:
            # The Python executor takes one message per subscription per wait
            # cycle; at 500 Hz a burst would never be caught up. Drain the queue.
            record(data, info)
            take = holder[0].handle.take_message
            while (taken := take(msg_class, True)) is not None:
                record(taken[0], taken[1])

        qos = to_rclpy(stream.qos)
        # The reader queue is ours to size (depth does not affect matching):
        # hold at least one second of messages so a stall never overflows it.
        qos.depth = max(qos.depth, int(stream.rate_hz * READER_QUEUE_S) + 1)
        holder.append(self.create_subscription(msg_class, stream.topic, callback, qos, raw=True))
        return holder[0]

    # -- services --------------------------------------------------------
    def _start(self) -> tuple[bool, str]:
        try:
            info = self.recorder.start()
        except CollectorError as err:
            self.get_logger().error(str(err))
            return False, str(err)
        self.get_logger().info(f"episode {info.episode_id} started (task: {info.task!r})")
        self._publish_status()
        return True, str(self.recorder.episode_path)

    def _stop(self, discard: bool) -> tuple[bool, str]:
        try:
            info = self.recorder.stop(discard=discard)
        except CollectorError as err:
            return False, str(err)
        verb = "discarded" if discard else "saved"
        self.get_logger().info(f"episode {info.episode_id} {verb} ({info.duration_s:.1f} s)")
        self._publish_status()
        return True, str(self.recorder.last_episode)

    def _on_start(self, _request, response):
        response.success, response.message = self._start()
        return response

    def _on_stop(self, _request, response):
        response.success, response.message = self._stop(discard=False)
        return response

    def _on_discard(self, _request, response):
        response.success, response.message = self._stop(discard=True)
        return response

    def _on_label(self, request, response):
        try:
            path = self.recorder.label(bool(request.data))
            response.success, response.message = True, f"{path.name}: {'success' if request.data else 'failure'}"
        except CollectorError as err:
            response.success, response.message = False, str(err)
        return response

    def _set_task(self, task: str) -> None:
        self.recorder.set_task(task)
        self.get_logger().info(f"task: {task!r}")

    def _on_parameters(self, params: list[Parameter]) -> SetParametersResult:
        for param in params:
            if param.name == "operator":
                try:
                    check_operator_id(str(param.value))
                except CollectorError as err:
                    self.get_logger().error(str(err))
                    return SetParametersResult(successful=False, reason=str(err))
        for param in params:
            if param.name == "task":
                self._set_task(str(param.value))
            elif param.name == "operator":
                self.recorder.operator = str(param.value)
        return SetParametersResult(successful=True)

    # -- status ----------------------------------------------------------
    def _health_loop(self) -> None:
        while not self._halt.wait(HEALTH_CHECK_S):
            try:
                self._tick()
            except Exception as err:  # noqa: BLE001 - a status glitch must not stop health
                if not self.context.ok():
                    return  # shutting down: the publishers are gone
                self.get_logger().error(f"health check failed: {err}")

    def _tick(self) -> None:
        with self._status_lock:
            now = time.monotonic()
            health = self.board.snapshot(time.time_ns())
            stale = {h.name for h in health if h.state == "stale"}
            recording = self.recorder.recording
            changed = bool(stale - self._stale) or recording != self._was_recording
            self._stale, self._was_recording = stale, recording
            if changed or now - self._last_status >= STATUS_PERIOD_S:
                self._last_status = now
                self._publish_status(health)

    def _publish_status(self, health=None) -> None:
        if health is None:
            with self._status_lock:
                self._publish_status(self.board.snapshot(time.time_ns()))
            return
        recorder = self.recorder
        started = recorder.episode_started_ns
        status = {
            "time_ns": time.time_ns(),
            "rig": self.config.rig.rig,
            "recording": recorder.recording,
            "episode": recorder.episode_path.name if recorder.episode_path else None,
            "episode_s": round((time.time_ns() - started) / 1e9, 3) if started else 0.0,
            "task": recorder.task,
            "operator": recorder.operator,
            "episode_bytes": recorder.episode_bytes(),
            "writer_backlog": recorder.backlog(),
            "bytes_written_total": recorder.bytes_written_total + recorder.episode_bytes(),
            "free_disk_bytes": recorder.free_disk_bytes,
            "disk_reserve_bytes": self.config.disk_reserve_bytes,
            "last_episode": str(recorder.last_episode) if recorder.last_episode else None,
            "last_stop_reason": recorder.last_stop_reason,
            "streams": [h.to_dict() for h in health],
            "problems": problems(health),
        }
        self.status_pub.publish(String(data=json.dumps(status)))
        self.diagnostics.publish(status, health)

    def shutdown(self) -> None:
        """End a running episode cleanly (reason ``shutdown``)."""
        self._halt.set()
        self._health_thread.join(timeout=2.0)
        self.recorder.close()


class BatchingExecutor(SingleThreadedExecutor):
    """Pauses ``pause_s`` before each wait so one wait cycle serves many messages.

    rclpy rebuilds its wait set in Python on every cycle; with ~2,000 small
    messages/s that overhead dominates the recorder's CPU. Our callbacks drain
    their subscription, so after a short pause one cycle takes everything that
    arrived. Receive times are the DDS timestamps, unaffected by the pause;
    reader queues hold a second of messages.
    """

    def __init__(self, pause_s: float):
        super().__init__()
        self._pause_s = pause_s

    def _wait_for_ready_callbacks(self, *args, **kwargs):
        if self._pause_s > 0:
            time.sleep(self._pause_s)
        yield from super()._wait_for_ready_callbacks(*args, **kwargs)


class _Diagnostics:
    """Mirror of the status on ``/diagnostics`` for standard ROS tools (rqt_robot_monitor)."""

    def __init__(self, node: Node):
        try:
            from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
        except ImportError:  # diagnostic_msgs is optional
            self.publisher = None
            return
        self.types = (DiagnosticArray, DiagnosticStatus, KeyValue)
        self.node = node
        self.publisher = node.create_publisher(DiagnosticArray, "/diagnostics", 10)

    def publish(self, status: dict, health) -> None:
        if self.publisher is None:
            return
        array_type, status_type, key_value = self.types
        levels = {"ok": status_type.OK, "waiting": status_type.WARN, "slow": status_type.WARN,
                  "stale": status_type.ERROR}
        array = array_type()
        array.header.stamp = self.node.get_clock().now().to_msg()
        for item in health:
            level, message = levels[item.state], item.state
            if item.latency_state in ("high", "ahead"):
                level, message = max(level, status_type.WARN), f"{item.state}, latency {item.latency_state}"
            entry = status_type(level=level, name=f"collector: {item.name}", message=message,
                                hardware_id=item.topic)
            entry.values = [key_value(key="rate_hz", value=f"{item.rate_hz:.2f}"),
                            key_value(key="nominal_hz", value=f"{item.nominal_hz:g}"),
                            key_value(key="count", value=str(item.count))]
            if item.latency_ms is not None:
                entry.values.append(key_value(key="latency_ms", value=f"{item.latency_ms:.3f}"))
            array.status.append(entry)
        self.publisher.publish(array)


def main(argv: list[str] | None = None) -> int:
    """Console script ``recorder``; returns the exit code."""
    apply_transport_defaults()
    rclpy.init(args=argv if argv is not None else sys.argv)
    node = None
    try:
        node = RecorderNode()
        executor = BatchingExecutor(node.parameters["batch_ms"] / 1000.0)
        executor.add_node(node)
        executor.spin()
    except CollectorError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RuntimeError:
        if not shut_down(node):
            raise
    finally:
        if node is not None:
            # Closing the episode must not be cut short: a second Ctrl-C (the terminal's
            # and then `collector record`'s, or ros2 launch's SIGTERM after its timeout)
            # would leave the bag without its summary. SIGKILL stays the last resort,
            # and `collector recover` mends what it leaves.
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, signal.SIG_IGN)
            node.shutdown()
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
