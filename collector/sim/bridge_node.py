"""``ros2 run collector sim_robot``: the simulated humanoid on the real rig's topics.

Parameters: ``scene`` (station, e.g. ``baoan_assembly``), ``task`` (default: the
station's first), ``seed`` (first episode, default 0), ``expert`` (true: the scripted
expert drives the robot and publishes the rig's action topic, as a teleoperator
would; false: the robot follows JointState commands on the rig's action topic),
``realtime`` (sim speed against the wall clock, default 1.0), ``camera_size``
(``WIDTHxHEIGHT`` for every camera, default the rig's; the recorder must be given
the same rig: ``collector record --sim --camera-size`` does that).

It runs the physics paced to the wall clock and publishes every rig stream at its
nominal rate with the same CDR bytes the lock-step collector writes. Time: the sim
clock starts at the wall-clock time the episode begins and advances with the
physics; ``/clock`` carries it and every ``header.stamp`` is the sim time of the
state a message (or image) was made from.

Sim-only topics and services (namespace ``/sim``): ``/sim/state`` (std_msgs/String,
JSON at 5 Hz: station, task, seed, instruction in both languages, sim time, expert
done, success, ``lag_ms`` behind the wall clock, drawn randomisation). A machine too
busy to keep real time makes the sim lag: its stamps then fall behind the receive
times and sync reports the lag as latency (and past the rig's limits takes the clock
for unsynchronised and refuses the episode), as it would for a real sensor, ``/sim/success`` (std_msgs/Bool),
``/sim/reset`` (std_srvs/Trigger: set up and start an episode, the first with
``seed``, then the next seeds; the reply is its instruction). Until the first reset
the robot holds its ready pose (streams flow, the expert waits). The instruction also goes to
``/collector/task``, so the recorder stores it with the episode.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import asdict, dataclass, fields

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile

from collector.errors import CollectorError
from collector.ros.messages import message_class
from collector.ros.node_main import LoopThread, declare_fields, run_loop_node
from collector.ros.qos import to_rclpy

NODE_NAME = "sim_robot"
STATE_HZ = 5
CLOCK_HZ = 100


class SimRobot(LoopThread):
    """The physics loop and its publishers (see the module doc)."""

    def __init__(self, node: Node, *, scene: str, task: str, seed: int, expert: bool, realtime: float,
                 camera_size: str = ""):
        from collector.sim.catalog import load_station
        from collector.sim.collect import CONTROL_HZ, HOLD_AFTER_S, parse_camera_size, sim_rig
        from collector.sim.streams import StreamProducer
        from collector.sim.world import SimWorld

        self.node = node
        self.station = load_station(scene)
        self.task_name = task or next(iter(self.station.tasks))
        self.station.task(self.task_name)
        if realtime <= 0:
            raise CollectorError(f"realtime={realtime!r} must be > 0")
        self.seed, self.expert, self.realtime = seed, expert, realtime
        self.control_hz, self.hold_after_s = CONTROL_HZ, HOLD_AFTER_S
        self.rig = sim_rig(self.station, parse_camera_size(camera_size))
        self.world = SimWorld(self.station.mjcf, self.rig, cameras=self.station.cameras,
                              imu_sensors=self.station.imu, wrench_sensors=self.station.wrench)
        self.producers = [StreamProducer(s, self.world, self.station) for s in self.rig.streams]
        self.publishers = [node.create_publisher(message_class(s.type), s.topic, to_rclpy(s.qos))
                           for s in self.rig.streams]
        from rosgraph_msgs.msg import Clock
        from std_msgs.msg import Bool, String
        from std_srvs.srv import Trigger

        self._Clock, self._Bool, self._String = Clock, Bool, String
        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.clock_pub = node.create_publisher(Clock, "/clock", 10)
        self.state_pub = node.create_publisher(String, "/sim/state", latched)
        self.success_pub = node.create_publisher(Bool, "/sim/success", latched)
        self.task_pub = node.create_publisher(String, "/collector/task", latched)
        self.action = next((s for s in self.rig.streams if s.role == "action"), None)
        self._external: dict[str, float] = {}
        if not expert and self.action is not None:
            node.create_subscription(message_class(self.action.type), self.action.topic, self._on_command, 10)
        node.create_service(Trigger, "/sim/reset", self._on_reset)
        self._lock = threading.Lock()
        self._reset_requested = threading.Event()
        self._stop = threading.Event()
        super().__init__(node, "sim_robot_loop")
        self.active = False  # until the first /sim/reset the robot holds its ready pose
        self.lag_ms = 0.0  # how far the physics is behind the wall clock (CPU too slow or busy)
        self._new_episode(seed)

    # -- episodes ------------------------------------------------------------------------

    def _new_episode(self, seed: int) -> str:
        from collector.sim.tasks import make_task

        spec = self.station.task(self.task_name)
        self.task = make_task(self.station, spec, self.world, seed)
        self.task.setup()
        self.seed = seed
        self.instructions = {lang: self.task.instruction(lang) for lang in spec.instructions}
        self.sim0_ns = self.world.time_ns
        self.wall0_ns = time.time_ns()
        self.mono0_ns = time.monotonic_ns()
        for producer in self.producers:
            producer.next_ns = 0
        self.task_pub.publish(self._String(data=self.instructions["en"]))
        self.node.get_logger().info(f"episode seed {seed}: {self.instructions['en']} / {self.instructions['zh']}")
        return self.instructions["en"]

    def _on_reset(self, request, response):
        self._reset_requested.set()
        deadline = time.monotonic() + 10.0
        while self._reset_requested.is_set() and time.monotonic() < deadline and not self._stop.is_set():
            time.sleep(0.01)
        response.success = not self._reset_requested.is_set()
        response.message = self.instructions["en"] if response.success else "the sim loop did not reset in 10 s"
        return response

    def _on_command(self, msg) -> None:
        with self._lock:
            self._external.update(zip(msg.name, msg.position))

    # -- the loop ------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()
        self.join()
        self.world.close()
        self.raise_error()

    def _state(self, t_s: float) -> str:
        return json.dumps({"station": self.station.name, "task": self.task_name, "seed": self.seed,
                           "active": self.active,
                           "instructions": self.instructions, "sim_time_s": round(t_s, 4),
                           "expert_done": t_s >= self.task.expert_duration_s + self.hold_after_s,
                           "success": bool(self.task.succeeded), "lag_ms": round(self.lag_ms, 1),
                           "drawn": self.task.drawn}, ensure_ascii=False)

    def loop(self) -> None:
        world = self.world
        dt_ns = world.timestep_ns
        control_every = max(1, round(1e9 / self.control_hz / dt_ns))
        state_every = max(1, round(1e9 / STATE_HZ / dt_ns))
        clock_every = max(1, round(1e9 / CLOCK_HZ / dt_ns))
        step = 0
        while not self._stop.is_set():
            if self._reset_requested.is_set():
                self._new_episode(self.seed + 1 if self.active else self.seed)
                self.active = True
                step = 0
                self._reset_requested.clear()
            t_ns = world.time_ns - self.sim0_ns
            # pace: never ahead of the wall clock (times the realtime factor)
            ahead_ns = t_ns / self.realtime - (time.monotonic_ns() - self.mono0_ns)
            if ahead_ns > 0:
                time.sleep(ahead_ns / 1e9)
            self.lag_ms = max(0.0, -ahead_ns / 1e6)
            stamp_ns = self.wall0_ns + t_ns
            for producer, publisher in zip(self.producers, self.publishers):
                if producer.next_ns <= t_ns:
                    producer.next_ns += producer.period_ns
                    publisher.publish(producer.make(stamp_ns))
            if step % clock_every == 0:
                clock = self._Clock()
                clock.clock.sec, clock.clock.nanosec = divmod(stamp_ns, 1_000_000_000)
                self.clock_pub.publish(clock)
            if step % control_every == 0:
                if self.expert and self.active:
                    world.command(self.task.targets(t_ns / 1e9))
                else:
                    with self._lock:
                        if self._external:
                            world.command(dict(self._external))
            if step % state_every == 0:
                self.state_pub.publish(self._String(data=self._state(t_ns / 1e9)))
                self.success_pub.publish(self._Bool(data=bool(self.task.succeeded)))
            world.step(1)
            self.task.update_success(dt_ns / 1e9)
            step += 1


@dataclass(frozen=True, kw_only=True)
class SimRobotParameters:
    """The node's ROS parameters (``-p seed:=3``), checked on construction.

    Raises:
        CollectorError: a value of the wrong type, naming the parameter.
    """

    scene: str = "baoan_assembly"
    task: str = ""
    seed: int = 0
    expert: bool = True
    realtime: float = 1.0
    camera_size: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.expert, str):  # -p expert:=yes arrives as text
            object.__setattr__(self, "expert", self.expert.lower() in ("1", "true", "yes"))
        for name, kind in (("seed", int), ("realtime", float)):
            value = getattr(self, name)
            try:
                if isinstance(value, bool) or (kind is int and not float(value).is_integer()):
                    raise ValueError(value)
                object.__setattr__(self, name, kind(value))
            except (TypeError, ValueError) as err:
                raise CollectorError(f"sim_robot: parameter {name}: expected {kind.__name__}, got {value!r}") from err


_DESCRIPTIONS = {
    "scene": "the station to simulate (collector sim list)",
    "task": "the station's task (default: its first)",
    "seed": "seed of the first episode; each reset takes the next",
    "expert": "run the scripted expert (false: the robot holds its ready pose)",
    "realtime": "sim speed against the wall clock (1.0: real time)",
    "camera_size": "render cameras at WIDTHxHEIGHT (default: the rig's size)",
}


def parameter_names() -> frozenset[str]:
    """Every ROS parameter the node declares (launch plans are checked against it)."""
    return frozenset(f.name for f in fields(SimRobotParameters))


def _parameters(node: Node) -> dict:
    return asdict(SimRobotParameters(**declare_fields(node, SimRobotParameters, _DESCRIPTIONS)))


def main(argv: list[str] | None = None) -> int:
    """Run the sim robot node; 0 on a normal stop, 2 with one ``error:`` line for bad parameters."""
    return run_loop_node(NODE_NAME, lambda node: SimRobot(node, **_parameters(node)), argv)


if __name__ == "__main__":
    sys.exit(main())
