"""The camera driver without ROS: settings, sources, conversion, calibration, reconnects, the loop."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from collector.drivers.camera import (
    RECONNECTING,
    STARTING,
    STREAMING,
    CameraConfig,
    CameraError,
    CameraLoop,
    Pacer,
    ReconnectPolicy,
    Source,
    SourceUnavailable,
    convert_frame,
    open_capture,
    parse_source,
)
from collector.drivers.camera_calibration import load_calibration

cv2 = pytest.importorskip("cv2")
MS = 1_000_000

CALIBRATION = """\
image_width: 64
image_height: 48
camera_name: head_camera
camera_matrix:
  rows: 3
  cols: 3
  data: [50.0, 0.0, 32.0, 0.0, 51.0, 24.0, 0.0, 0.0, 1.0]
distortion_model: plumb_bob
distortion_coefficients:
  rows: 1
  cols: 5
  data: [-0.1, 0.02, 0.001, -0.002, 0.0]
rectification_matrix:
  rows: 3
  cols: 3
  data: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
projection_matrix:
  rows: 3
  cols: 4
  data: [49.0, 0.0, 32.0, 0.0, 0.0, 50.0, 24.0, 0.0, 0.0, 0.0, 1.0, 0.0]
"""


# --------------------------------------------------------------------------- settings and sources


def test_config_defaults_and_camera_info_topic():
    config = CameraConfig(source="0")
    assert (config.topic, config.encoding, config.size, config.info_topic) == ("image_raw", "rgb8", None,
                                                                             "camera_info")
    assert CameraConfig(source="0", topic="/head/rgb/image_raw").info_topic == "/head/rgb/camera_info"
    assert CameraConfig(source="0", camera_info_topic="/info").info_topic == "/info"
    assert CameraConfig(source="0", width=320, height=240).size == (320, 240)


@pytest.mark.parametrize(("values", "message"), [
    ({"source": ""}, "source: expected"),
    ({"encoding": "yuv9"}, "encoding: expected one of rgb8, bgr8, mono8, got 'yuv9'"),
    ({"width": -1, "height": 10}, "width: expected an integer >= 0"),
    ({"width": 640}, "width, height: give both or neither"),
    ({"fps": 0.0}, "fps: expected a positive number, got 0.0"),
    ({"fps": "30"}, "fps: expected a positive number"),
    ({"reconnect_max_s": -1.0}, "reconnect_max_s: expected a positive number"),
    ({"qos_depth": 0}, "qos_depth: expected an integer >= 1, got 0"),
    ({"reliability": "sometimes"}, "reliability: expected one of reliable, best_effort"),
    ({"loop": "yes"}, "loop: expected true or false"),
    ({"topic": 5}, "topic: expected a string"),
])
def test_config_rejects_bad_values_naming_them(values, message):
    with pytest.raises(CameraError, match="^" + message.replace("(", r"\(")):
        CameraConfig(**{"source": "0", **values})


@pytest.mark.parametrize("rig", ["baoan_humanoid", "longhua_humanoid"])
def test_the_launch_plan_gives_valid_settings(rig):
    from collector.capture.launch_plan import plan_launch

    cameras = [node for node in plan_launch(rig).nodes if node.executable == "camera"]
    assert cameras
    for node in cameras:
        config = CameraConfig(**node.parameters)
        assert config.info_topic.endswith("/camera_info") and config.size


def test_config_is_keyword_only():
    with pytest.raises(TypeError):
        CameraConfig("0")  # type: ignore[misc]


@pytest.mark.parametrize(("text", "source"), [
    ("0", Source("device", 0)),
    (" 12 ", Source("device", 12)),
    ("/dev/video2", Source("device", "/dev/video2")),
    ("rtsp://10.0.0.5:554/stream1", Source("url", "rtsp://10.0.0.5:554/stream1")),
    ("http://cam.local/mjpg", Source("url", "http://cam.local/mjpg")),
    ("/data/clip.mp4", Source("file", "/data/clip.mp4")),
    ("clip.avi", Source("file", "clip.avi")),
    ("~/clip.avi", Source("file", os.path.expanduser("~/clip.avi"))),
])
def test_parse_source(text, source):
    assert parse_source(text) == source


def test_parse_source_rejects_empty():
    with pytest.raises(CameraError, match="source"):
        parse_source("  ")


# --------------------------------------------------------------------------- frames


def bgr_frame(h=6, w=8):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def test_convert_bgr_to_each_encoding():
    bgr = bgr_frame()
    rgb = convert_frame(bgr, "rgb8")
    assert np.array_equal(rgb, bgr[:, :, ::-1]) and rgb.flags.c_contiguous and rgb.dtype == np.uint8
    assert np.array_equal(convert_frame(bgr, "bgr8"), bgr)
    mono = convert_frame(bgr, "mono8")
    expected = bgr[:, :, 2] * 0.299 + bgr[:, :, 1] * 0.587 + bgr[:, :, 0] * 0.114  # ITU-R BT.601
    assert mono.shape == (6, 8) and np.abs(mono - expected).max() <= 1


def test_convert_grey_and_bgra_sources():
    grey = bgr_frame()[:, :, 0].copy()
    assert np.array_equal(convert_frame(grey, "mono8"), grey)
    assert np.array_equal(convert_frame(grey[:, :, None], "rgb8"), np.repeat(grey[:, :, None], 3, axis=2))
    bgra = np.dstack([bgr_frame(), np.full((6, 8), 255, np.uint8)])
    assert np.array_equal(convert_frame(bgra, "rgb8"), bgra[:, :, 2::-1])
    assert np.array_equal(convert_frame(bgra, "bgr8"), bgra[:, :, :3])


def test_convert_resizes_to_width_height():
    bgr = np.zeros((48, 64, 3), np.uint8)
    bgr[:, 32:] = (255, 0, 0)  # right half blue
    small = convert_frame(bgr, "rgb8", (32, 24))
    assert small.shape == (24, 32, 3) and small.flags.c_contiguous
    assert tuple(small[12, 30]) == (0, 0, 255) and tuple(small[12, 2]) == (0, 0, 0)
    assert convert_frame(bgr, "mono8", (128, 96)).shape == (96, 128)
    assert convert_frame(bgr[:, ::2], "bgr8").flags.c_contiguous  # a strided view comes back contiguous


@pytest.mark.parametrize("frame", [np.zeros((4, 4, 3), np.uint16), np.zeros((4, 4, 2), np.uint8),
                                   np.zeros(4, np.uint8)])
def test_convert_rejects_other_frames(frame):
    with pytest.raises(CameraError, match="cannot convert a frame"):
        convert_frame(frame, "rgb8")


# --------------------------------------------------------------------------- calibration


def test_load_calibration(tmp_path):
    path = tmp_path / "head.yaml"
    path.write_text(CALIBRATION)
    calibration = load_calibration(path)
    assert (calibration.width, calibration.height, calibration.camera_name) == (64, 48, "head_camera")
    assert calibration.distortion_model == "plumb_bob"
    assert calibration.k == (50.0, 0.0, 32.0, 0.0, 51.0, 24.0, 0.0, 0.0, 1.0)
    assert calibration.d == (-0.1, 0.02, 0.001, -0.002, 0.0)
    assert calibration.r[0] == calibration.r[4] == calibration.r[8] == 1.0
    assert len(calibration.p) == 12 and calibration.p[0] == 49.0


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t.replace("image_width: 64\n", ""), "image_width: expected a positive integer, got None"),
    (lambda t: t.replace("  rows: 3\n  cols: 4\n", "  rows: 3\n  cols: 3\n"),
     "projection_matrix: expected 3x4, got 3x3"),
    (lambda t: t.replace("data: [-0.1, 0.02, 0.001, -0.002, 0.0]", "data: [-0.1, 0.02]"),
     "distortion_coefficients: expected 1x5 numbers in data"),
    (lambda t: t.replace("distortion_model: plumb_bob\n", ""), "distortion_model: expected a name"),
    (lambda t: t.split("rectification_matrix")[0], "rectification_matrix: expected a mapping"),
    (lambda t: "[1, 2]", "expected a YAML mapping"),
    (lambda t: "camera_matrix: [", "cannot read"),
])
def test_calibration_errors_name_the_file_and_key(tmp_path, edit, message):
    path = tmp_path / "bad.yaml"
    path.write_text(edit(CALIBRATION))
    with pytest.raises(CameraError, match=f"^calibration {path}: .*" + message.replace("[", r"\[")):
        load_calibration(path)


def test_missing_calibration_file(tmp_path):
    with pytest.raises(CameraError, match=f"^calibration {tmp_path / 'none.yaml'}: no such file$"):
        load_calibration(tmp_path / "none.yaml")


# --------------------------------------------------------------------------- backoff and pacing


def test_reconnect_policy_backs_off_to_its_bound_and_counts_outages():
    policy = ReconnectPolicy(max_s=1.0)
    assert policy.state == STARTING and policy.outages == 0
    delays = [policy.failed("gone", now_ns=i * 100 * MS) for i in range(7)]
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0])
    assert (policy.state, policy.outages, policy.last_error) == (RECONNECTING, 1, "gone")
    assert policy.outage_s(1000 * MS) == pytest.approx(1.0)
    assert policy.succeeded(now_ns=1500 * MS) == pytest.approx(1.5)
    assert policy.state == STREAMING and policy.outage_s(2000 * MS) == 0.0
    assert policy.failed("again", now_ns=3000 * MS) == pytest.approx(0.1)  # a new outage starts over
    assert policy.outages == 2 and policy.last_error == "again"


def test_pacer_keeps_period_and_does_not_burst_after_a_stall():
    pacer = Pacer(fps=10.0)  # 100 ms
    assert pacer.wait_s(0) == 0.0
    pacer.advance(0)
    assert pacer.wait_s(40 * MS) == pytest.approx(0.06)
    pacer.advance(103 * MS)  # 3 ms late: the schedule keeps its phase
    assert pacer.due_ns == 200 * MS
    pacer.advance(650 * MS)  # stalled: restart from now instead of catching up
    assert pacer.due_ns == 750 * MS


# --------------------------------------------------------------------------- the loop with a fake capture


class FakeClock:
    def __init__(self):
        self.now_ns = 1_000 * 1_000_000_000

    def __call__(self) -> int:
        return self.now_ns


class FakeCapture:
    """Delivers ``frames`` frames (frame i is filled with i), then nothing."""

    def __init__(self, frames: int, clock: FakeClock, log: list[str]):
        self.left, self.index, self.clock, self.log = frames, 0, clock, log
        self.released = False

    def grab(self) -> bool:
        self.log.append("grab")
        self.clock.now_ns += 1 * MS  # a grab takes time; the stamp comes after it
        return self.left > 0

    def retrieve(self):
        self.log.append("retrieve")
        self.left -= 1
        self.index += 1
        return True, np.full((4, 6, 3), self.index - 1, np.uint8)

    def release(self) -> None:
        self.released = True


class Harness:
    """A CameraLoop on fake captures and a fake clock; ``opens`` says what each open does."""

    def __init__(self, config: CameraConfig, opens: list):
        self.clock = FakeClock()
        self.opens = list(opens)
        self.captures: list[FakeCapture] = []
        self.published: list[tuple[np.ndarray, int]] = []
        self.states: list[str] = []
        self.log: list[str] = []
        self.loop = CameraLoop(config, opener=self.open, publish=self.publish,
                               on_state=lambda s: self.states.append(s.state), wall_ns=self.stamp, mono_ns=self.clock)

    def stamp(self) -> int:
        self.log.append("stamp")
        return self.clock.now_ns

    def open(self, source, config):
        what = self.opens.pop(0) if self.opens else 0
        if isinstance(what, Exception):
            raise what
        self.captures.append(FakeCapture(what, self.clock, self.log))
        return self.captures[-1]

    def publish(self, image, stamp_ns):
        self.published.append((image, stamp_ns))

    def step(self) -> float:
        delay = self.loop.step()
        self.clock.now_ns += round(delay * 1e9)
        return delay


def test_loop_stamps_right_after_the_grab_and_converts():
    cam = Harness(CameraConfig(source="0", encoding="mono8", width=3, height=2), opens=[5])
    for _ in range(3):
        assert cam.step() == 0.0
    assert cam.log[:3] == ["grab", "stamp", "retrieve"]
    assert [int(image[0, 0]) for image, _ in cam.published] == [0, 1, 2]
    assert all(image.shape == (2, 3) for image, _ in cam.published)
    stamps = [stamp for _, stamp in cam.published]
    assert stamps == sorted(stamps) and len(set(stamps)) == 3
    assert cam.states == [STREAMING]
    status = cam.loop.status()
    assert (status.state, status.frames, status.outages, status.width, status.height) == (STREAMING, 3, 0, 3, 2)


def test_loop_retries_with_backoff_until_the_device_opens():
    cam = Harness(CameraConfig(source="/dev/video9", reconnect_max_s=0.3),
              opens=[SourceUnavailable("cannot open device /dev/video9")] * 3 + [RuntimeError("busy"), 2])
    delays = [cam.step() for _ in range(4)]
    assert delays == pytest.approx([0.1, 0.2, 0.3, 0.3])
    status = cam.loop.status()
    assert status.state == RECONNECTING and status.outages == 1 and status.frames == 0
    assert status.last_error == "cannot open device /dev/video9: busy" and status.outage_s == pytest.approx(0.9)
    assert cam.step() == 0.0 and cam.loop.status().state == STREAMING
    assert cam.states == [RECONNECTING, STREAMING]  # one report per change, not per retry


def test_loop_survives_a_device_that_stops_delivering():
    cam = Harness(CameraConfig(source="0"), opens=[2, SourceUnavailable("cannot open device 0"), 3])
    for _ in range(2):
        cam.step()
    assert cam.step() == pytest.approx(0.1)  # no frame: unplugged
    assert cam.captures[0].released
    status = cam.loop.status()
    assert (status.state, status.outages, status.last_error) == (RECONNECTING, 1, "no frame from device 0")
    assert cam.step() == pytest.approx(0.2)  # not back yet
    cam.step()
    assert cam.loop.status().state == STREAMING and cam.loop.status().frames == 3
    assert cam.states == [STREAMING, RECONNECTING, STREAMING]


def test_a_looping_file_starts_again_without_an_outage(tmp_path):
    path = tmp_path / "clip.avi"
    path.write_bytes(b"not read by the fake")
    cam = Harness(CameraConfig(source=str(path), fps=10.0, loop=True), opens=[2, 2, 2])
    delays = [cam.step() for _ in range(14)]  # per frame: wait for it, take it; an open at each end
    values = [int(image[0, 0, 0]) for image, _ in cam.published]
    assert values == [0, 1, 0, 1, 0, 1]
    assert cam.loop.loops == 2 and cam.loop.status().outages == 0 and cam.states == [STREAMING]
    stamps = np.array([stamp for _, stamp in cam.published])
    assert np.allclose(np.diff(stamps), 100 * MS, atol=2 * MS)  # paced at fps across the restart
    assert max(delays) <= 0.1


def test_a_file_that_ends_is_an_outage_until_it_is_replaced(tmp_path):
    path = tmp_path / "clip.avi"
    path.write_bytes(b"first")
    cam = Harness(CameraConfig(source=str(path), fps=50.0, reconnect_max_s=0.5), opens=[2, 3])
    while len(cam.published) < 2:
        cam.step()
    cam.step()  # the pace
    cam.step()  # end of file
    status = cam.loop.status()
    assert status.state == RECONNECTING and status.outages == 1 and "end of file" in status.last_error
    for _ in range(5):
        cam.step()
    assert len(cam.captures) == 1, "the file that ended was opened again"
    replacement = tmp_path / "clip.avi.part"
    replacement.write_bytes(b"second take")
    os.replace(replacement, path)
    for _ in range(2):
        cam.step()
    assert len(cam.captures) == 2 and cam.loop.status().state == STREAMING and len(cam.published) == 3


def test_a_missing_file_is_retried():
    cam = Harness(CameraConfig(source="/nonexistent/clip.mp4"), opens=[])
    cam.loop.opener = open_capture  # the real opener: no file, no OpenCV call
    assert cam.step() == pytest.approx(0.1)
    assert cam.loop.status().last_error == "no such file /nonexistent/clip.mp4"


def test_run_stops_and_releases(tmp_path):
    cam = Harness(CameraConfig(source="0"), opens=[10**9])
    waits = []
    cam.loop.publish = lambda image, stamp: cam.loop.stop() if cam.loop.frames >= 4 else None
    cam.loop.run(wait=waits.append)
    assert cam.loop.frames == 5 and cam.captures[0].released


# --------------------------------------------------------------------------- OpenCV on a real file


def test_open_capture_reads_a_video_file(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (64, 48))
    assert writer.isOpened()
    for value in (0, 128, 255):
        writer.write(np.full((48, 64, 3), value, np.uint8))
    writer.release()
    config = CameraConfig(source=str(path), encoding="mono8", width=32, height=24)
    published = []
    loop = CameraLoop(config, opener=open_capture, publish=lambda image, stamp: published.append(image))
    for _ in range(20):
        if loop.status().state == RECONNECTING:
            break
        time.sleep(loop.step())
    assert [round(float(image.mean()) / 32) for image in published] == [0, 4, 8]
    assert all(image.shape == (24, 32) for image in published)
    assert "end of file" in loop.status().last_error  # an outage, not an exception
