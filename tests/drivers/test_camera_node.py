"""The camera node over real DDS, on video files it writes itself: frames, CameraInfo, outages, bad parameters."""

from __future__ import annotations

import json
import os
import signal
import time

import numpy as np
import pytest

from tests.dds import domain_id

cv2 = pytest.importorskip("cv2")
pytest.importorskip("rclpy")
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from collector.drivers.camera_calibration import load_calibration  # noqa: E402

from .test_camera import CALIBRATION  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow]
NS_PER_S = 1_000_000_000
MS = 1_000_000
MODULE = "collector.drivers.camera_node"
# The camera's own domain (60-69 are the driver tests') unless the run gives one: parallel suites stay apart.
DOMAIN_ID = domain_id(7)
SOURCE_W, SOURCE_H = 160, 120  # written to the file
OUT_W, OUT_H = 64, 48  # published (the node resizes), the size CALIBRATION is for
BITS = 8  # the frame index, one vertical stripe per bit in the top half


@pytest.fixture(scope="module")
def ros_env(ros_env) -> dict[str, str]:
    return {**ros_env, "ROS_DOMAIN_ID": str(DOMAIN_ID)}


@pytest.fixture(scope="module")
def ros_context():
    import rclpy
    from rclpy.context import Context
    from rclpy.signals import SignalHandlerOptions

    context = Context()
    rclpy.init(context=context, domain_id=DOMAIN_ID, signal_handler_options=SignalHandlerOptions.NO)
    yield context
    context.try_shutdown()


def write_video(path, frames: int, fps: float) -> None:
    """An MJPG file whose frame i shows i in binary (white/black stripes) above a red block."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (SOURCE_W, SOURCE_H))
    assert writer.isOpened()
    stripe = SOURCE_W // BITS
    for index in range(frames):
        frame = np.zeros((SOURCE_H, SOURCE_W, 3), np.uint8)
        for bit in range(BITS):
            if index >> bit & 1:
                frame[: SOURCE_H // 2, bit * stripe : (bit + 1) * stripe] = 255
        frame[SOURCE_H * 3 // 4 :, :] = (0, 0, 255)  # BGR red
        writer.write(frame)
    writer.release()


def frame_index(image: np.ndarray) -> int:
    """The index drawn by :func:`write_video`, read from stripe centres of the resized image."""
    stripe = image.shape[1] / BITS
    row = image[image.shape[0] // 4]
    return sum(1 << bit for bit in range(BITS) if row[int((bit + 0.5) * stripe)].mean() > 128)


class Listener:
    """Images, CameraInfo and status of the camera node, with receive times (system clock, ns)."""

    def __init__(self, context, topic: str, info_topic: str, status_topic: str = "/camera/status"):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

        self.node = rclpy.create_node("camera_listener", context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.images: list[tuple[int, Image]] = []
        self.infos: list[CameraInfo] = []
        self.status: list[dict] = []
        data_qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        status_qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE,
                                durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.node.create_subscription(Image, topic, lambda m: self.images.append((time.time_ns(), m)), data_qos)
        self.node.create_subscription(CameraInfo, info_topic, self.infos.append, data_qos)
        self.node.create_subscription(String, status_topic, lambda m: self.status.append(json.loads(m.data)),
                                      status_qos)

    def spin_until(self, condition, timeout: float, process=None) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if condition():
                return True
            assert process is None or process.poll() is None, process.stderr.read()
            self.executor.spin_once(timeout_sec=0.05)
        return condition()

    def spin(self, seconds: float) -> None:
        self.spin_until(lambda: False, seconds)

    def indices(self) -> list[int]:
        return [frame_index(pixels(msg)) for _, msg in self.images]

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()


@pytest.fixture
def listener(ros_context):
    made: list[Listener] = []

    def make(topic: str, info_topic: str = "/camtest/camera_info") -> Listener:
        made.append(Listener(ros_context, topic, info_topic))
        return made[-1]

    yield make
    for one in made:
        one.close()


def pixels(msg: Image) -> np.ndarray:
    return np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.width, -1)


def stamp_ns(msg) -> int:
    return msg.header.stamp.sec * NS_PER_S + msg.header.stamp.nanosec


def stop(process) -> int:
    process.send_signal(signal.SIGINT)
    return process.wait(timeout=15)


def test_streams_a_file_at_fps_then_reports_its_end(tmp_path, start_node, listener):
    video, calibration = tmp_path / "clip.avi", tmp_path / "head.yaml"
    frames, fps = 150, 30.0  # 5 s: discovery takes the first one or two
    write_video(video, frames, fps=60.0)  # the node paces at its own fps, not the file's
    calibration.write_text(CALIBRATION)
    got = listener("/camtest/image_raw")
    node = start_node(f"source:={video}", "topic:=/camtest/image_raw", "frame_id:=head_optical", f"fps:={fps}",
                      f"width:={OUT_W}", f"height:={OUT_H}", "encoding:=rgb8", f"calibration:={calibration}",
                      "qos_depth:=30", module=MODULE)
    ended = lambda: any("end of file" in s["last_error"] for s in got.status)  # noqa: E731
    assert got.spin_until(ended, timeout=30, process=node), (got.status, len(got.images))
    got.spin(2.5)  # the outage goes on; status keeps coming at 1 Hz
    assert node.poll() is None, node.stderr.read()
    assert stop(node) == 0

    # every frame after the subscription matched, in order, to the last one
    indices = got.indices()
    assert len(indices) > frames // 3 and indices == list(range(indices[0], frames)), indices
    msg = got.images[0][1]
    assert (msg.width, msg.height, msg.encoding, msg.step, msg.header.frame_id) == (
        OUT_W, OUT_H, "rgb8", OUT_W * 3, "head_optical")
    assert tuple(pixels(msg)[OUT_H - 2, OUT_W // 2]) == pytest.approx((255, 0, 0), abs=40)  # red stays red
    receive = np.array([t for t, _ in got.images])
    stamps = np.array([stamp_ns(m) for _, m in got.images])
    assert np.all(np.diff(stamps) > 0)
    delay_ms = (receive - stamps) / MS  # stamp = capture time on the same clock, taken just before publishing
    assert delay_ms.min() > -5 and np.median(delay_ms) < 100 and delay_ms.max() < 2000, delay_ms
    assert (len(stamps) - 1) * NS_PER_S / (stamps[-1] - stamps[0]) == pytest.approx(fps, rel=0.15)

    # CameraInfo: the calibration file, one per image with the image's stamp and frame
    expected = load_calibration(calibration)
    assert len(got.infos) >= len(got.images) - 2
    assert {stamp_ns(i) for i in got.infos} <= set(stamps.tolist()) | {0}
    info = got.infos[-1]
    assert (info.width, info.height, info.distortion_model, info.header.frame_id) == (
        OUT_W, OUT_H, "plumb_bob", "head_optical")
    assert tuple(info.k) == expected.k and tuple(info.d) == expected.d
    assert tuple(info.r) == expected.r and tuple(info.p) == expected.p

    states = [s["state"] for s in got.status]
    assert "streaming" in states and states[-1] == "reconnecting"
    last = got.status[-1]
    assert last["outages"] == 1 and last["frames"] == frames and last["outage_s"] > 1.0
    assert (last["width"], last["height"], last["encoding"]) == (OUT_W, OUT_H, "rgb8")
    assert sum(s["state"] == "reconnecting" for s in got.status) >= 3  # the change, then 1 Hz


def test_waits_for_a_missing_file_and_streams_when_it_appears(tmp_path, start_node, listener):
    video = tmp_path / "later" / "clip.avi"
    got = listener("/camtest/image_raw")
    node = start_node(f"source:={video}", "topic:=/camtest/image_raw", "fps:=30", "loop:=true",
                      "reconnect_max_s:=0.5", "encoding:=mono8", module=MODULE)
    missing = lambda: any(s["state"] == "reconnecting" and s["outage_s"] > 1.0 for s in got.status)  # noqa: E731
    assert got.spin_until(missing, timeout=30, process=node), got.status
    assert not got.images and "no such file" in got.status[-1]["last_error"]

    frames = 20
    video.parent.mkdir()
    staging = tmp_path / "staging.avi"  # written elsewhere, renamed into place
    write_video(staging, frames, fps=30.0)
    os.replace(staging, video)  # appears complete, as a camera appears when plugged in
    appeared = time.time_ns()
    assert got.spin_until(lambda: len(got.images) >= 2 * frames, timeout=20, process=node), got.status[-3:]
    assert (stamp_ns(got.images[0][1]) - appeared) / NS_PER_S < 5.0  # backoff is bounded by 0.5 s

    indices = got.indices()
    assert all((b - a) % frames == 1 for a, b in zip(indices, indices[1:])), indices  # looped without a gap
    assert got.images[0][1].encoding == "mono8" and got.images[0][1].step == SOURCE_W
    got.spin_until(lambda: got.status[-1]["state"] == "streaming", timeout=3)
    last = got.status[-1]
    assert last["state"] == "streaming" and last["outages"] == 1 and last["outage_s"] == 0
    assert (last["width"], last["height"]) == (SOURCE_W, SOURCE_H)  # as captured
    assert stop(node) == 0


@pytest.mark.parametrize(("parameter", "name"), [
    ("encoding:=yuv9", "encoding"),
    ("calibration:=/nonexistent/head.yaml", "calibration"),
    ("width:=640", "width, height"),
])
def test_bad_parameters_exit_2_with_one_line(start_node, parameter, name):
    node = start_node("source:=0", parameter, module=MODULE)
    _, err = node.communicate(timeout=30)
    assert node.returncode == 2
    assert err.startswith(f"error: {name}") and err.count("\n") == 1, err


def test_parameter_names_are_the_config_fields():
    import dataclasses

    from collector.drivers.camera import CameraConfig
    from collector.drivers.camera_node import parameter_names

    assert parameter_names() == {field.name for field in dataclasses.fields(CameraConfig)}
    assert {"source", "topic", "fps", "reliability", "frame_id", "width", "height", "encoding"} <= parameter_names()
