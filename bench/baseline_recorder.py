"""Baseline for ``bench/record_throughput.py``: a Python recorder as most are written.

    python bench/baseline_recorder.py --ros-args -p rig:=baoan_humanoid -p out:=/tmp/baseline

A plain rclpy node: one deserialising subscription per stream of the rig (real
message classes, the rig's declared QoS), a ``SingleThreadedExecutor``, and a
callback that turns the message into numpy arrays (images via
``np.frombuffer(msg.data).reshape``, joint states and the like via
``np.asarray``) and appends them to one file per stream. It records from launch
until SIGINT (or ``duration_s`` seconds, when > 0) and then writes
``<out>/counts.json``: per stream the message count, payload bytes and the file.

Each ``<out>/<stream>.bin`` is a sequence of records: a 20-byte little-endian
header (``int64 header.stamp`` ns, ``int64`` receive time ns from
``time.time_ns()`` in the callback, ``uint32`` payload length) followed by the
raw bytes of the array. :func:`read_records` reads the headers back.

Parameters: ``rig``, ``out`` (folder, created; must not hold a ``counts.json``),
``duration_s``.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node

from collector.rig import Stream, load_rig
from collector.ros.dds import apply_transport_defaults
from collector.ros.messages import message_class
from collector.ros.qos import to_rclpy

RECORD_HEADER = struct.Struct("<qqI")  # header.stamp ns, receive ns, payload bytes
COUNTS_FILE = "counts.json"

# Image encodings the rigs use: numpy dtype and channels per pixel.
_ENCODINGS = {
    "rgb8": (np.uint8, 3), "bgr8": (np.uint8, 3), "mono8": (np.uint8, 1),
    "16UC1": (np.uint16, 1), "32FC1": (np.float32, 1),
}


def _stamp_ns(msg) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def _image(msg) -> np.ndarray:
    dtype, channels = _ENCODINGS[msg.encoding]
    shape = (msg.height, msg.width, channels) if channels > 1 else (msg.height, msg.width)
    return np.frombuffer(msg.data, dtype=dtype).reshape(shape)


def _joints(msg) -> np.ndarray:
    # position / velocity / effort as rows; an empty field (commands have no effort) is zeros
    count = len(msg.position)
    rows = [np.asarray(values, dtype=np.float64) if len(values) else np.zeros(count)
            for values in (msg.position, msg.velocity, msg.effort)]
    return np.stack(rows)


def _imu(msg) -> np.ndarray:
    o, w, a = msg.orientation, msg.angular_velocity, msg.linear_acceleration
    return np.array([o.x, o.y, o.z, o.w, w.x, w.y, w.z, a.x, a.y, a.z], dtype=np.float64)


def _wrench(msg) -> np.ndarray:
    f, t = msg.wrench.force, msg.wrench.torque
    return np.array([f.x, f.y, f.z, t.x, t.y, t.z], dtype=np.float64)


# What a message becomes, by message type (a registry, as the rest of the project does it).
TO_ARRAY: dict[str, Callable[[object], np.ndarray]] = {
    "sensor_msgs/msg/Image": _image,
    "sensor_msgs/msg/JointState": _joints,
    "sensor_msgs/msg/Imu": _imu,
    "geometry_msgs/msg/WrenchStamped": _wrench,
}


class _StreamFile:
    """One stream's output file and counters."""

    def __init__(self, stream: Stream, path: Path):
        self.stream = stream
        self.path = path
        self.file: BinaryIO = open(path, "xb")
        self.count = 0
        self.payload_bytes = 0
        self.shape: tuple[int, ...] = ()
        self.dtype = ""

    def write(self, stamp_ns: int, array: np.ndarray) -> None:
        data = array.tobytes()
        self.file.write(RECORD_HEADER.pack(stamp_ns, time.time_ns(), len(data)))
        self.file.write(data)
        self.count += 1
        self.payload_bytes += len(data)
        if not self.shape:
            self.shape, self.dtype = array.shape, array.dtype.str

    def summary(self) -> dict:
        return {"topic": self.stream.topic, "type": self.stream.type, "count": self.count,
                "payload_bytes": self.payload_bytes, "file": self.path.name,
                "shape": list(self.shape), "dtype": self.dtype}


class BaselineRecorder(Node):
    """Deserialise every message, convert it to numpy, append it to a per-stream file."""

    def __init__(self):
        super().__init__("baseline_recorder")
        rig = load_rig(self.declare_parameter("rig", "baoan_humanoid").value)
        self.out = Path(self.declare_parameter("out", "baseline_recording").value).expanduser()
        self.duration_s = float(self.declare_parameter("duration_s", 0.0).value)
        self.out.mkdir(parents=True, exist_ok=True)
        if (self.out / COUNTS_FILE).exists():
            raise FileExistsError(f"{self.out / COUNTS_FILE}: exists already, not overwriting")
        self.started_ns = time.time_ns()
        self.files = [_StreamFile(s, self.out / f"{s.name}.bin") for s in rig.streams]
        for stream_file in self.files:
            stream = stream_file.stream
            self.create_subscription(message_class(stream.type), stream.topic,
                                     self._callback(stream_file, TO_ARRAY[stream.type]), to_rclpy(stream.qos))
        self.get_logger().info(f"baseline recording rig {rig.rig} ({len(rig.streams)} streams) into {self.out}")

    @staticmethod
    def _callback(stream_file: _StreamFile, to_array):
        def callback(msg) -> None:
            stream_file.write(_stamp_ns(msg), to_array(msg))
        return callback

    def close(self) -> None:
        """Close the stream files and write ``counts.json`` (tmp name, then rename)."""
        for stream_file in self.files:
            stream_file.file.close()
        counts = {"started_ns": self.started_ns, "stopped_ns": time.time_ns(),
                  "streams": {f.stream.name: f.summary() for f in self.files}}
        partial = self.out / (COUNTS_FILE + ".partial")
        partial.write_text(json.dumps(counts, indent=1), encoding="utf-8")
        os.replace(partial, self.out / COUNTS_FILE)


def read_records(path: Path) -> Iterator[tuple[int, int, int]]:
    """``(stamp_ns, receive_ns, payload_bytes)`` of each record of a baseline stream file.

    A record cut short by a kill at the end of the file is ignored.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as file:
        offset = 0
        while offset + RECORD_HEADER.size <= size:
            file.seek(offset)
            stamp_ns, receive_ns, length = RECORD_HEADER.unpack(file.read(RECORD_HEADER.size))
            offset += RECORD_HEADER.size + length
            if offset > size:
                return
            yield stamp_ns, receive_ns, length


def main(argv: list[str] | None = None) -> int:
    """Run the baseline recorder until SIGINT or ``duration_s``; returns the exit code."""
    apply_transport_defaults()  # same transport as the collector's nodes: a fair comparison
    rclpy.init(args=sys.argv if argv is None else argv)
    node = None
    try:
        node = BaselineRecorder()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        if node.duration_s > 0:
            deadline = time.monotonic() + node.duration_s
            while time.monotonic() < deadline:
                executor.spin_once(timeout_sec=0.1)
        else:
            executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.close()
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
