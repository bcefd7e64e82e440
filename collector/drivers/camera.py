"""The OpenCV camera driver without ROS: settings, sources, reconnects, frames, calibration.

:class:`CameraLoop` opens a source through an injected ``opener`` (OpenCV's
:func:`open_capture` on a rig, a fake capture in unit tests), grabs frames, stamps
each one right after the grab (system clock, int ns: the clock the recorder uses),
converts it to the configured size and encoding and hands it to ``publish``. A
source that cannot be opened or stops delivering frames is an outage: the loop
retries with a bounded exponential backoff (:class:`ReconnectPolicy`) and never
raises for it. cv2 is imported only when a frame is converted or a capture opened.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from collector.errors import CollectorError

NS_PER_S = 1_000_000_000
ENCODINGS = ("rgb8", "bgr8", "mono8")
RELIABILITIES = ("reliable", "best_effort")
# A URL: scheme://...; anything else that is not a device is a file path.
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# How long OpenCV may block opening or reading a network stream before it is an outage.
NETWORK_TIMEOUT_MS = 5000


class CameraError(CollectorError, ValueError):
    """A camera setting or calibration file is unusable."""


class SourceUnavailable(CameraError):
    """The source cannot be opened now (unplugged, missing file, unreachable URL): retried."""


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True, kw_only=True)
class CameraConfig:
    """Settings of the camera node (its ROS parameters).

    Attributes:
        source: V4L2 device index (``"0"``) or path (``/dev/video2``), a video file, or a
            URL (``rtsp://``, ``http://`` ...).
        topic: image topic.
        camera_info_topic: CameraInfo topic ("" = ``camera_info`` beside ``topic``).
        frame_id: ``header.frame_id`` of every message.
        width, height: published size (pixels); frames of another size are resized.
            0 and 0 = as captured; give both or neither.
        fps: frames per second (> 0): requested from a device, the pace of a video file.
        encoding: ``rgb8``, ``bgr8`` or ``mono8``.
        calibration: ROS ``camera_info`` YAML file ("" = publish no CameraInfo).
        loop: a video file that ends starts again (else its end is an outage).
        reconnect_max_s: longest wait between reconnect attempts (s, > 0).
        qos_depth: publisher history depth (>= 1).
        reliability: ``reliable`` or ``best_effort``.

    Raises:
        CameraError: on construction, naming the field and the bad value.
    """

    source: str = ""
    topic: str = "image_raw"
    camera_info_topic: str = ""
    frame_id: str = "camera"
    width: int = 0
    height: int = 0
    fps: float = 30.0
    encoding: str = "rgb8"
    calibration: str = ""
    loop: bool = False
    reconnect_max_s: float = 5.0
    qos_depth: int = 10
    reliability: str = "reliable"

    def __post_init__(self) -> None:
        for name in ("source", "topic", "camera_info_topic", "frame_id", "encoding", "calibration", "reliability"):
            if not isinstance(getattr(self, name), str):
                raise CameraError(f"{name}: expected a string, got {getattr(self, name)!r}")
        if not self.source.strip():
            raise CameraError("source: expected a device index, /dev/videoN, a video file or a URL, got ''")
        if not self.topic:
            raise CameraError("topic: expected a topic name, got ''")
        for name in ("width", "height"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise CameraError(f"{name}: expected an integer >= 0 (0 = as captured), got {value!r}")
        if (self.width == 0) != (self.height == 0):
            raise CameraError(f"width, height: give both or neither (0 = as captured), got {self.width}x{self.height}")
        for name in ("fps", "reconnect_max_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise CameraError(f"{name}: expected a positive number, got {value!r}")
        if self.encoding not in ENCODINGS:
            raise CameraError(f"encoding: expected one of {', '.join(ENCODINGS)}, got {self.encoding!r}")
        if not isinstance(self.loop, bool):
            raise CameraError(f"loop: expected true or false, got {self.loop!r}")
        if isinstance(self.qos_depth, bool) or not isinstance(self.qos_depth, int) or self.qos_depth < 1:
            raise CameraError(f"qos_depth: expected an integer >= 1, got {self.qos_depth!r}")
        if self.reliability not in RELIABILITIES:
            raise CameraError(f"reliability: expected one of {', '.join(RELIABILITIES)}, got {self.reliability!r}")

    @property
    def info_topic(self) -> str:
        """The CameraInfo topic: :attr:`camera_info_topic`, else ``camera_info`` beside :attr:`topic`."""
        if self.camera_info_topic:
            return self.camera_info_topic
        parent, slash, _ = self.topic.rpartition("/")
        return f"{parent}{slash}camera_info"

    @property
    def size(self) -> tuple[int, int] | None:
        """(width, height) to publish, or None for the captured size."""
        return (self.width, self.height) if self.width else None


# --------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class Source:
    """Where frames come from: ``kind`` is ``device``, ``file`` or ``url``.

    ``target`` is what OpenCV opens: an int for a device index, else a string.
    """

    kind: str
    target: int | str

    def __str__(self) -> str:
        return f"{self.kind} {self.target}"


def parse_source(text: str) -> Source:
    """The :class:`Source` a ``source`` parameter names.

    ``"0"`` is device index 0, ``/dev/...`` a device path, ``scheme://...`` a URL, and
    anything else a video file (``~`` expanded).

    Raises:
        CameraError: for an empty text.
    """
    text = text.strip()
    if not text:
        raise CameraError("source: expected a device index, /dev/videoN, a video file or a URL, got ''")
    if text.isdigit():
        return Source("device", int(text))
    if text.startswith("/dev/"):
        return Source("device", text)
    if _URL.match(text):
        return Source("url", text)
    return Source("file", os.path.expanduser(text))


class Capture(Protocol):
    """What :class:`CameraLoop` needs of a capture (``cv2.VideoCapture`` has it)."""

    def grab(self) -> bool: ...

    def retrieve(self) -> tuple[bool, np.ndarray | None]: ...

    def release(self) -> None: ...


def _cv2():
    import cv2

    return cv2


def open_capture(source: Source, config: CameraConfig) -> Capture:
    """Open ``source`` with OpenCV: V4L2 for devices (asking for the configured size and
    fps), FFmpeg with open/read timeouts for URLs, OpenCV's choice for files.

    Raises:
        SourceUnavailable: the source does not exist or OpenCV cannot open it.
    """
    cv2 = _cv2()
    if source.kind == "file" and not os.path.isfile(source.target):
        raise SourceUnavailable(f"no such file {source.target}")
    if source.kind == "device":
        capture = cv2.VideoCapture(source.target, cv2.CAP_V4L2)
    elif source.kind == "url":
        capture = cv2.VideoCapture(source.target, cv2.CAP_FFMPEG,
                                   [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, NETWORK_TIMEOUT_MS,
                                    cv2.CAP_PROP_READ_TIMEOUT_MSEC, NETWORK_TIMEOUT_MS])
    else:
        capture = cv2.VideoCapture(source.target)
    if not capture.isOpened():
        capture.release()
        raise SourceUnavailable(f"cannot open {source}")
    if source.kind == "device":  # requests: a device may pick the nearest mode it has
        if config.size:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, config.width)
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, config.height)
        capture.set(cv2.CAP_PROP_FPS, config.fps)
    return capture


def quiet_opencv() -> None:
    """Keep OpenCV's own warnings (one per failed open) out of the log; the loop reports outages."""
    cv2 = _cv2()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


# --------------------------------------------------------------------------- frames


def convert_frame(frame: np.ndarray, encoding: str, size: tuple[int, int] | None = None) -> np.ndarray:
    """An OpenCV frame (BGR, BGRA or grey, uint8) as a C-contiguous uint8 array in ``encoding``.

    Args:
        frame: ``(h, w, 3)`` BGR, ``(h, w, 4)`` BGRA, or ``(h, w)`` / ``(h, w, 1)`` grey.
        encoding: ``rgb8`` / ``bgr8`` give ``(height, width, 3)``, ``mono8`` ``(height, width)``.
        size: (width, height) in pixels to resize to, or None to keep the frame's size.

    Raises:
        CameraError: for an encoding not in :data:`ENCODINGS` or a frame of another shape or dtype.
    """
    if encoding not in ENCODINGS:
        raise CameraError(f"encoding: expected one of {', '.join(ENCODINGS)}, got {encoding!r}")
    if frame.dtype != np.uint8 or frame.ndim not in (2, 3) or (frame.ndim == 3 and frame.shape[2] not in (1, 3, 4)):
        raise CameraError(f"cannot convert a frame of shape {frame.shape} and dtype {frame.dtype}")
    cv2 = _cv2()
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    if size is not None and (frame.shape[1], frame.shape[0]) != size:
        # area averaging does not alias when shrinking; linear is the usual choice to enlarge
        shrink = size[0] * size[1] < frame.shape[0] * frame.shape[1]
        frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    grey = frame.ndim == 2
    if encoding == "mono8":
        out = frame if grey else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY if frame.shape[2] == 3 else cv2.COLOR_BGRA2GRAY)
    elif encoding == "rgb8":
        out = cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB if grey else
                           cv2.COLOR_BGR2RGB if frame.shape[2] == 3 else cv2.COLOR_BGRA2RGB)
    else:
        out = frame if not grey and frame.shape[2] == 3 else cv2.cvtColor(
            frame, cv2.COLOR_GRAY2BGR if grey else cv2.COLOR_BGRA2BGR)
    return np.ascontiguousarray(out)


# --------------------------------------------------------------------------- reconnects and pacing

STARTING, STREAMING, RECONNECTING = "starting", "streaming", "reconnecting"


class ReconnectPolicy:
    """Backoff schedule and outage bookkeeping (times in int ns, delays in s).

    The state is ``starting`` until the first frame or failure, then ``streaming``
    or ``reconnecting``. An outage begins at the first failure after streaming (or
    at start); retries wait ``initial_s``, doubling each time up to ``max_s``.
    """

    def __init__(self, max_s: float, initial_s: float = 0.1, factor: float = 2.0):
        self.max_s = float(max_s)
        self.initial_s = min(float(initial_s), self.max_s)
        self.factor = float(factor)
        self.state = STARTING
        self.outages = 0
        self.attempts = 0  # failures in the current outage
        self.outage_start_ns: int | None = None
        self.last_error = ""

    def failed(self, error: str, now_ns: int) -> float:
        """Record a failed open or read; returns the seconds to wait before retrying."""
        if self.state != RECONNECTING:
            self.state = RECONNECTING
            self.outages += 1
            self.outage_start_ns = now_ns
            self.attempts = 0
        self.last_error = error
        delay = min(self.max_s, self.initial_s * self.factor ** min(self.attempts, 64))
        self.attempts += 1
        return delay

    def succeeded(self, now_ns: int) -> float:
        """Record a delivered frame: any outage is over; returns how long it lasted (s)."""
        ended_s = self.outage_s(now_ns)
        self.state = STREAMING
        self.attempts = 0
        self.outage_start_ns = None
        return ended_s

    def outage_s(self, now_ns: int) -> float:
        """Seconds the current outage has lasted (0 while not in one)."""
        return 0.0 if self.outage_start_ns is None else max(0, now_ns - self.outage_start_ns) / NS_PER_S


class Pacer:
    """Due times one frame period apart (monotonic int ns), for a source read faster than real time.

    A frame late by more than a period restarts the schedule instead of bursting to catch up.
    """

    def __init__(self, fps: float):
        self.period_ns = round(NS_PER_S / fps)
        self.due_ns: int | None = None

    def restart(self) -> None:
        """The next frame is due at once (after an outage)."""
        self.due_ns = None

    def wait_s(self, now_ns: int) -> float:
        """Seconds until the next frame is due (0 = now)."""
        return 0.0 if self.due_ns is None else max(0, self.due_ns - now_ns) / NS_PER_S

    def advance(self, now_ns: int) -> None:
        """A frame was taken at ``now_ns``: schedule the next."""
        on_time = self.due_ns is not None and now_ns - self.due_ns < self.period_ns
        self.due_ns = (self.due_ns if on_time else now_ns) + self.period_ns


# --------------------------------------------------------------------------- the loop


@dataclass(frozen=True)
class CameraStatus:
    """What ``~/status`` reports (JSON): state, counts, the current outage (s), the last error."""

    state: str
    source: str
    frames: int
    outages: int
    outage_s: float
    last_error: str
    width: int
    height: int
    encoding: str

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False)


def _file_identity(path: str) -> tuple[int, ...] | None:
    """What tells a replaced or rewritten file from the one that ended (None: missing)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


class CameraLoop:
    """Open, grab, stamp, convert, publish; reconnect on outages. Runs on one thread.

    Args:
        config: the camera's settings.
        opener: ``opener(source, config)`` returns a :class:`Capture` or raises
            :class:`SourceUnavailable` (or any exception: also an outage).
        publish: ``publish(image, stamp_ns)`` with the converted uint8 array and its
            capture time (system clock, int ns, taken right after the grab).
        on_state: called with a :class:`CameraStatus` on every change of state.
        logger: has ``info`` and ``warning`` (a ``logging.Logger`` or an rclpy logger).
        wall_ns, mono_ns: clocks (int ns) for stamps and for pacing and outages.

    A video file that ends starts again with ``config.loop``; otherwise its end is an
    outage that lasts until the file is replaced or rewritten.
    """

    def __init__(self, config: CameraConfig, *, opener: Callable[[Source, CameraConfig], Capture],
                 publish: Callable[[np.ndarray, int], None], on_state: Callable[[CameraStatus], None] | None = None,
                 logger: Any = None, wall_ns: Callable[[], int] = time.time_ns,
                 mono_ns: Callable[[], int] = time.monotonic_ns):
        self.config = config
        self.source = parse_source(config.source)
        self.policy = ReconnectPolicy(config.reconnect_max_s)
        self.pacer = Pacer(config.fps) if self.source.kind == "file" else None
        self.opener, self.publish, self.on_state = opener, publish, on_state
        self.logger = logger or logging.getLogger(__name__)
        self.wall_ns, self.mono_ns = wall_ns, mono_ns
        self.frames = 0
        self.loops = 0  # restarts of a looping file
        self._capture: Capture | None = None
        self._frames_since_open = 0
        self._opened_identity: tuple[int, ...] | None = None
        self._ended_identity: tuple[int, ...] | None = None  # the file that ended, not to be replayed
        self._size = (0, 0)
        self._lock = threading.Lock()
        self._stop = threading.Event()

    # --- run

    def run(self, wait: Callable[[float], Any] | None = None) -> None:
        """Step until :meth:`stop`; ``wait(seconds)`` sleeps between steps (default: wakes on stop)."""
        wait = wait or self._stop.wait
        try:
            while not self._stop.is_set():
                delay = self.step()
                if delay > 0:
                    wait(delay)
        finally:
            self._close()

    def stop(self) -> None:
        """Make :meth:`run` return (after the grab in progress, if any)."""
        self._stop.set()

    def step(self) -> float:
        """One open attempt or one frame; returns the seconds to wait before the next step."""
        if self._capture is None:
            delay = self._open()
            if self._capture is None:
                return delay
        if self.pacer is not None:
            due_in = self.pacer.wait_s(self.mono_ns())
            if due_in > 0:
                return due_in
        try:
            grabbed = self._capture.grab()
            stamp_ns = self.wall_ns()
            ok, frame = self._capture.retrieve() if grabbed else (False, None)
        except Exception as err:  # noqa: BLE001 - a backend error on read is an outage, not a crash
            self._close()
            return self._fail(f"read failed on {self.source}: {err}")
        if not ok or frame is None:
            return self._no_frame()
        try:
            image = convert_frame(frame, self.config.encoding, self.config.size)
        except CameraError as err:  # a source delivering frames we cannot use is out, not fatal
            self._close()
            return self._fail(f"{self.source}: {err}")
        self.publish(image, stamp_ns)
        with self._lock:
            self.frames += 1
            self._frames_since_open += 1
            self._size = (image.shape[1], image.shape[0])
            was = self.policy.state
            outage_s = self.policy.succeeded(self.mono_ns())
        if self.pacer is not None:
            self.pacer.advance(self.mono_ns())
        if was != STREAMING:
            self.logger.info(f"streaming {self.source} as {self._size[0]}x{self._size[1]} {self.config.encoding}"
                             + (f" after an outage of {outage_s:.1f} s" if was == RECONNECTING else ""))
            self._changed()
        return 0.0

    # --- status

    def status(self) -> CameraStatus:
        """A consistent snapshot of the loop's state (safe from any thread)."""
        with self._lock:
            return CameraStatus(state=self.policy.state, source=str(self.source), frames=self.frames,
                                outages=self.policy.outages, outage_s=round(self.policy.outage_s(self.mono_ns()), 3),
                                last_error=self.policy.last_error, width=self._size[0], height=self._size[1],
                                encoding=self.config.encoding)

    # --- internals

    def _open(self) -> float:
        identity = _file_identity(self.source.target) if self.source.kind == "file" else None
        if self._ended_identity is not None and identity == self._ended_identity:
            return self._fail(self._ended_message)
        try:
            self._capture = self.opener(self.source, self.config)
        except Exception as err:  # noqa: BLE001 - OpenCV reports an unusable source in many ways; all are outages
            return self._fail(str(err) if isinstance(err, SourceUnavailable) else f"cannot open {self.source}: {err}")
        self._frames_since_open = 0
        self._opened_identity = identity
        self._ended_identity = None
        if self.pacer is not None and self.policy.state != STREAMING:
            self.pacer.restart()
        return 0.0

    def _no_frame(self) -> float:
        self._close()
        if self.source.kind == "file" and self._frames_since_open:
            if self.config.loop:
                self.loops += 1
                return 0.0  # reopened at the next step, on the same pace
            self._ended_identity = self._opened_identity
            return self._fail(self._ended_message)
        return self._fail(f"no frame from {self.source}")

    @property
    def _ended_message(self) -> str:
        return f"end of file {self.source.target} (loop is false): waiting for a new file there"

    def _fail(self, error: str) -> float:
        with self._lock:
            was, before = self.policy.state, self.policy.last_error
            delay = self.policy.failed(error, self.mono_ns())
        if was != RECONNECTING:
            self.logger.warning(f"{error}; reconnecting (retry every {self.policy.initial_s:g} s "
                                f"up to {self.policy.max_s:g} s)")
            self._changed()
        elif error != before:
            self.logger.warning(error)
        return delay

    def _changed(self) -> None:
        if self.on_state is not None:
            self.on_state(self.status())

    def _close(self) -> None:
        if self._capture is not None:
            try:
                self._capture.release()
            except Exception:  # noqa: BLE001 - releasing an unplugged device may fail; it is gone either way
                pass
            self._capture = None
