"""ROS 2 node of the OpenCV camera: frames as ``sensor_msgs/Image``, CameraInfo, a JSON status.

    ros2 run collector camera --ros-args -p source:=/dev/video2 -p topic:=/head/image_raw \\
        -p frame_id:=head_camera_optical -p fps:=30.0 -p calibration:=head.yaml

Parameters (see :class:`~collector.drivers.camera.CameraConfig`): ``source``,
``topic``, ``camera_info_topic``, ``frame_id``, ``width``, ``height``, ``fps``,
``encoding``, ``calibration``, ``loop``, ``reconnect_max_s``, ``qos_depth``,
``reliability``. A device index must be quoted to stay a string for ROS, or is
taken as one anyway: ``-p source:=0``.

Topics: the image on ``topic``; CameraInfo (same stamp and frame) on
``camera_info_topic`` when a calibration file is given; ``~/status``
(``std_msgs/String``, JSON of :class:`~collector.drivers.camera.CameraStatus`,
transient local) at 1 Hz and on every change between ``streaming`` and
``reconnecting``. ``header.stamp`` is the system-clock time right after the grab.

The capture runs on its own thread (:class:`~collector.drivers.camera.CameraLoop`);
the executor only fires the status timer.
"""

from __future__ import annotations

import dataclasses
import sys
import threading

import numpy as np
from builtin_interfaces.msg import Time
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import String

from collector.bag.metadata import QosProfile
from collector.drivers.camera import (
    NS_PER_S,
    CameraConfig,
    CameraError,
    CameraLoop,
    CameraStatus,
    open_capture,
    quiet_opencv,
)
from collector.drivers.camera_calibration import Calibration, load_calibration
from collector.ros.node_main import LoopThread, declare_fields, run_loop_node
from collector.ros.qos import to_rclpy

NODE_NAME = "camera"
STATUS_PERIOD_S = 1.0
STOP_TIMEOUT_S = 5.0  # a device read blocks at most this long in practice (V4L2 select timeout is longer)
_DESCRIPTIONS = {
    "source": "V4L2 device index (0) or path (/dev/video2), a video file, or a URL (rtsp://, http://)",
    "topic": "image topic",
    "camera_info_topic": "CameraInfo topic (empty: camera_info beside topic)",
    "frame_id": "header.frame_id of images and CameraInfo",
    "width": "published width in pixels (0 with height 0: as captured; else frames are resized)",
    "height": "published height in pixels (0 with width 0: as captured)",
    "fps": "frames per second: requested from a device, the pace of a video file",
    "encoding": "rgb8, bgr8 or mono8",
    "calibration": "ROS camera_info YAML file (empty: no CameraInfo)",
    "loop": "start a video file again when it ends (else its end is an outage)",
    "reconnect_max_s": "longest wait between reconnect attempts (s)",
    "qos_depth": "publisher history depth",
    "reliability": "reliable or best_effort",
}


def parameter_names() -> frozenset[str]:
    """Every ROS parameter the node declares (launch plans are checked against it)."""
    return frozenset(field.name for field in dataclasses.fields(CameraConfig))


def read_config(node: Node) -> CameraConfig:
    """Declare the node's parameters and turn them into a :class:`CameraConfig`.

    Raises:
        CameraError: for a bad value, naming the parameter.
    """
    return CameraConfig(**declare_fields(node, CameraConfig, _DESCRIPTIONS))


def _stamp(stamp_ns: int) -> Time:
    return Time(sec=stamp_ns // NS_PER_S, nanosec=stamp_ns % NS_PER_S)


def camera_info(calibration: Calibration, frame_id: str) -> CameraInfo:
    """The CameraInfo of ``calibration`` (its stamp is set per frame)."""
    info = CameraInfo(width=calibration.width, height=calibration.height,
                      distortion_model=calibration.distortion_model, d=list(calibration.d),
                      k=list(calibration.k), r=list(calibration.r), p=list(calibration.p))
    info.header.frame_id = frame_id
    return info


class CameraNode(LoopThread):
    """Publishes the frames of one :class:`CameraLoop` and its status; start/stop/running for run_loop_node.

    Raises:
        CameraError: for an unusable calibration file, or one made for another size than
            ``width`` x ``height``.
    """

    def __init__(self, node: Node, config: CameraConfig):
        self.node = node
        self.config = config
        self.calibration = load_calibration(config.calibration) if config.calibration else None
        calibrated = self.calibration and (self.calibration.width, self.calibration.height)
        if calibrated and config.size and calibrated != config.size:
            raise CameraError(f"calibration {config.calibration} is for {calibrated[0]}x{calibrated[1]}, "
                              f"but width, height are {config.width}x{config.height}")
        qos = to_rclpy(QosProfile(reliability=config.reliability, depth=config.qos_depth))
        self.image_publisher = node.create_publisher(Image, config.topic, qos)
        self.info = camera_info(self.calibration, config.frame_id) if self.calibration else None
        self.info_publisher = node.create_publisher(CameraInfo, config.info_topic, qos) if self.info else None
        # transient local: a monitor that subscribes later still gets the current state at once
        status_qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                                durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.status_publisher = node.create_publisher(String, "~/status", status_qos)
        self._size_warned = False
        self._status_lock = threading.Lock()
        quiet_opencv()
        self.capture = CameraLoop(config, opener=open_capture, publish=self._publish, on_state=self._publish_status,
                               logger=node.get_logger())
        super().__init__(node, "camera_loop")
        self._timer = None

    def start(self) -> None:
        """Log what is published, start the capture thread and the 1 Hz status."""
        c = self.config
        size = f"{c.width}x{c.height}" if c.size else "as captured"
        info = f", CameraInfo on {c.info_topic} from {c.calibration}" if self.info else ", no calibration"
        self.node.get_logger().info(
            f"camera {self.capture.source} -> {c.topic} ({size} {c.encoding} at {c.fps:g} fps, frame {c.frame_id}, "
            f"{c.reliability}{', looping' if c.loop else ''}{info}); status on {self.status_publisher.topic_name}")
        self._publish_status(self.capture.status())
        self._timer = self.node.create_timer(STATUS_PERIOD_S, lambda: self._publish_status(self.capture.status()))
        super().start()

    def stop(self) -> None:
        """Stop the capture thread; re-raises an error of that thread."""
        self.capture.stop()
        if not self.join(STOP_TIMEOUT_S):  # blocked in a device read; the daemon thread ends with the process
            self.node.get_logger().warning(f"capture did not stop within {STOP_TIMEOUT_S:g} s")
        self.raise_error()

    def loop(self) -> None:
        self.capture.run()

    def _publish(self, image: np.ndarray, stamp_ns: int) -> None:
        height, width = image.shape[:2]
        msg = Image(height=height, width=width, encoding=self.config.encoding, is_bigendian=0,
                    step=image.strides[0], data=image.tobytes())
        msg.header.stamp = _stamp(stamp_ns)
        msg.header.frame_id = self.config.frame_id
        self.image_publisher.publish(msg)
        if self.info is not None:
            if (width, height) != (self.info.width, self.info.height) and not self._size_warned:
                self._size_warned = True
                self.node.get_logger().warning(
                    f"frames are {width}x{height} but calibration {self.config.calibration} is for "
                    f"{self.info.width}x{self.info.height}: set width and height")
            self.info.header.stamp = msg.header.stamp
            self.info_publisher.publish(self.info)

    def _publish_status(self, status: CameraStatus) -> None:
        with self._status_lock:  # from the capture thread (changes) and the timer (1 Hz)
            self.status_publisher.publish(String(data=status.to_json()))


def main(argv: list[str] | None = None) -> int:
    """Run the camera node; ``argv`` as ``sys.argv`` (program name first).

    Returns 0 on a normal stop (Ctrl-C, SIGTERM, ROS shutdown) and 2 with one
    ``error: ...`` line on stderr for bad parameters.
    """
    return run_loop_node(NODE_NAME, lambda node: CameraNode(node, read_config(node)), argv)


if __name__ == "__main__":
    sys.exit(main())
