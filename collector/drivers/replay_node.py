"""ROS 2 node that plays a raw episode back onto its topics, like ``ros2 bag play``.

    ros2 run collector replay --ros-args -p episode:=/data/episodes/<episode> \\
        -p rate:=2.0 -p clock:=true -p 'topics:=[/joint_states, /imu/data]'

Parameters (see :class:`~collector.drivers.replay.ReplayConfig`): ``episode``,
``rate``, ``loop``, ``start_offset_s``, ``topics`` (a string list, or one comma
separated string), ``clock``, ``wait_for_subscribers_s``.

Publishes every played topic with its recorded type, the recorded CDR bytes as
they are (nothing deserialised) and the recorded offered QoS policies (reliable
depth 10 where the bag has none; the history is deepened to half a second of the
topic's rate), at the spacing of the log (receive) times; with ``clock``,
``/clock`` (rosgraph_msgs/msg/Clock, best effort, depth 1, as ``ros2 bag play
--clock``) at ~100 Hz. With ``wait_for_subscribers_s``, playing starts once every
played topic (and ``/clock``) has a subscriber, or when that time is up, and then
after :data:`DISCOVERY_SETTLE_S` more: discovery is two-way, and a writer sees a
reader before the reader sees the writer; what is sent in between reaches the reader
late, by reliable repair, after newer messages. Exits 0
after the last message (never with ``loop``), 2 with one ``error: ...`` line for a
bad parameter, a missing or unreadable episode, or a topic the episode does not hold.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from pathlib import Path

from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock

from collector.bag.reader import BagReader, TopicInfo, open_bag
from collector.drivers.replay import (
    NS_PER_S,
    Player,
    ReplayConfig,
    ReplayError,
    config_from_parameters,
    replay_qos,
    select_topics,
)
from collector.ros.messages import message_class
from collector.ros.node_main import LoopThread, declare_fields, run_loop_node
from collector.ros.qos import to_rclpy

NODE_NAME = "replay"
PUBLISHER_HISTORY_S = 0.5
FLUSH_TIMEOUT_S = 5.0
DISCOVERY_SETTLE_S = 0.5
_DESCRIPTIONS = {
    "episode": "raw episode to play: a rosbag2 MCAP directory (or one .mcap file)",
    "rate": "speed factor (2.0: twice as fast)",
    "loop": "start over after the last message, until stopped",
    "start_offset_s": "skip the first seconds of the episode (s)",
    "topics": "topics to play, a list or comma separated (empty: all)",
    "clock": "also publish /clock at the replayed log time (~100 Hz)",
    "wait_for_subscribers_s": "wait up to this long (s) for a subscriber on every played topic and /clock",
}


def parameter_names() -> frozenset[str]:
    """Every ROS parameter the node declares (launch plans are checked against it)."""
    return frozenset(item.name for item in dataclasses.fields(ReplayConfig))


def read_config(node: Node) -> ReplayConfig:
    """Declare the node's parameters and turn them into a :class:`ReplayConfig`.

    Raises:
        ReplayError: for a bad value, naming the parameter.
    """
    return config_from_parameters(declare_fields(node, ReplayConfig, _DESCRIPTIONS))


def _publisher_qos(info: TopicInfo, duration_ns: int) -> QoSProfile:
    qos = to_rclpy(replay_qos(info.qos))
    if duration_ns > 0 and qos.depth:
        # Keep half a second of messages for slow readers, as our drivers do: the
        # recorded depth (10) is 20 ms of a 500 Hz stream, and a reliable reader
        # that falls further behind would lose messages of the replay.
        rate_hz = info.count * NS_PER_S / duration_ns
        qos.depth = max(qos.depth, math.ceil(rate_hz * PUBLISHER_HISTORY_S))
    return qos


class Replay(LoopThread):
    """Publishers for the played topics and a :class:`Player` on a loop thread.

    Raises:
        BagError: the episode is missing or unreadable.
        ReplayError: a wanted topic is not in the episode, or nothing is left to play.
        CollectorError: a topic's message type is not installed.
    """

    def __init__(self, node: Node, config: ReplayConfig):
        self.node = node
        self.config = config
        self.reader: BagReader = open_bag(Path(config.episode).expanduser())
        try:
            self._setup()
        except BaseException:
            self.reader.close()
            raise
        super().__init__(node, "replay_loop")

    def _setup(self) -> None:
        config, node = self.config, self.node
        infos = {info.name: info for info in self.reader.topics}
        self.topics = select_topics(list(infos), config.topics, config.episode)
        messages = self.reader.messages()  # all topics: the first one marks the episode's start
        first = next(messages, None)
        messages.close()
        if first is None or not any(infos[name].count for name in self.topics):
            raise ReplayError(f"episode: {config.episode} holds no messages on {', '.join(self.topics) or 'any topic'}")
        metadata = self.reader.metadata
        duration_ns = metadata.duration_ns if metadata is not None else 0
        self.publishers = {}
        for name in self.topics:
            info = infos[name]
            if info.msgtype.count("/") != 2:
                raise ReplayError(f"episode: topic {name} has no usable message type ({info.msgtype!r})")
            self.publishers[name] = node.create_publisher(message_class(info.msgtype), name,
                                                          _publisher_qos(info, duration_ns))
        self.clock_publisher = None
        if config.clock:
            self.clock_publisher = node.create_publisher(
                Clock, "/clock", QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT))
        publish = {name: publisher.publish for name, publisher in self.publishers.items()}
        selected = None if len(self.topics) == len(infos) else self.topics
        self.player = Player(
            lambda: self.reader.messages(selected),
            lambda topic, data: publish[topic](data if isinstance(data, bytes) else bytes(data)),
            rate=config.rate, start_offset_ns=config.start_offset_ns, origin_ns=first.log_time_ns,
            loop=config.loop, publish_clock=self._publish_clock if config.clock else None,
        )
        self._played_s = (duration_ns / NS_PER_S - config.start_offset_s) / config.rate if duration_ns else None

    def _publish_clock(self, log_time_ns: int) -> None:
        msg = Clock()
        msg.clock.sec, msg.clock.nanosec = divmod(log_time_ns, NS_PER_S)
        self.clock_publisher.publish(msg)

    def stop(self) -> None:
        """Stop playing, close the episode; re-raises an error of the loop thread."""
        self.player.stop()
        self.join()
        self.reader.close()
        self.raise_error()

    def _waited_for(self) -> dict:
        # /clock counts: a node on sim time needs the replayed time from the first message on
        clock = {"/clock": self.clock_publisher} if self.clock_publisher is not None else {}
        return {**self.publishers, **clock}

    def _all_matched(self) -> bool:
        return all(publisher.get_subscription_count() > 0 for publisher in self._waited_for().values())

    def loop(self) -> None:
        logger, config = self.node.get_logger(), self.config
        if config.wait_for_subscribers_s > 0:
            if not self.player.wait_until(self._all_matched, config.wait_for_subscribers_s):
                missing = [n for n, p in self._waited_for().items() if p.get_subscription_count() == 0]
                if self.player.stopped:
                    return
                logger.warning(f"no subscriber after {config.wait_for_subscribers_s:g} s on "
                               f"{', '.join(missing)}; playing anyway")
            self.player.wait_until(lambda: False, DISCOVERY_SETTLE_S)  # see the module docstring
            if self.player.stopped:
                return
        span = f", ~{self._played_s:.1f} s" if self._played_s is not None else ""
        logger.info(f"playing {config.episode}: {len(self.topics)} topics at rate {config.rate:g}"
                    f"{span}{', looping' if config.loop else ''}{', /clock' if config.clock else ''}")
        stats = self.player.run()
        self._flush()
        logger.info(f"replay done: {stats.summary()}")

    def _flush(self) -> None:
        """Wait (bounded) until reliable readers acknowledged everything: the
        process exits next, and DDS drops what its writers still hold."""
        end = time.monotonic() + FLUSH_TIMEOUT_S
        for publisher in self.publishers.values():
            remaining = max(end - time.monotonic(), 0.0)
            publisher.wait_for_all_acked(Duration(nanoseconds=round(remaining * NS_PER_S)))


def main(argv: list[str] | None = None) -> int:
    """Run the replay node; ``argv`` as ``sys.argv`` (program name first).

    Returns 0 when the episode was played (or on Ctrl-C, SIGTERM, ROS shutdown) and
    2 with one ``error: ...`` line on stderr for bad parameters, a missing or
    unreadable episode, or an unknown topic.
    """
    return run_loop_node(NODE_NAME, lambda node: Replay(node, read_config(node)), argv)


if __name__ == "__main__":
    sys.exit(main())
