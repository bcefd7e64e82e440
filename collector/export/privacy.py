"""Face blurring of camera frames at export (``collector export --blur-faces``).

The detector is OpenCV's Haar frontal-face cascade, the model file OpenCV's Python
wheels ship (``cv2.data.haarcascades``): nothing is downloaded. OpenCV 5 dropped the
cascades from the main module, so this needs OpenCV 4 (``opencv-python-headless<5``).
Faces are found on a grey copy scaled down to ``detect_width`` pixels (speed), then each
box, grown by ``margin``, is blurred in the full-resolution RGB frame.

cv2 is imported only when a :class:`FaceBlurrer` is made.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from collector.export.errors import ExportError

DETECTOR = "opencv-haar-frontalface-default"
CASCADE_FILE = "haarcascade_frontalface_default.xml"
METHODS = ("gaussian", "pixelate")
INSTALL_HINT = "install opencv-python-headless<5 (pip) or python3-opencv (apt)"


class FaceBlurError(ExportError):
    """Face blurring was asked for and cannot run (OpenCV missing, bad settings)."""


@dataclass(frozen=True, kw_only=True)
class FaceBlurSettings:
    """How faces are found and hidden.

    Attributes:
        scale_factor: cascade image-pyramid step (> 1; smaller finds more, slower).
        min_neighbors: cascade detections needed to keep a box (>= 0; fewer: more
            boxes, more false ones; a false box only blurs a patch).
        min_face_px: smallest face side to find, pixels of the full frame (>= 8).
        margin: each box is grown by this fraction of its side on every side (>= 0).
        detect_width: faces are searched on a copy this wide (pixels, >= 64; frames
            narrower are used as they are).
        method: ``gaussian`` (blur) or ``pixelate`` (mosaic).
        strength: gaussian: sigma as a fraction of the box side; pixelate: block side
            as a fraction of the box side (0 < strength <= 1).

    Raises:
        FaceBlurError: a value out of range, naming the setting.
    """

    scale_factor: float = 1.1
    min_neighbors: int = 5
    min_face_px: int = 24
    margin: float = 0.25
    detect_width: int = 320
    method: str = "gaussian"
    strength: float = 0.25

    def __post_init__(self) -> None:
        def number(value) -> bool:
            return not isinstance(value, bool) and isinstance(value, (int, float))

        def integer(value) -> bool:
            return not isinstance(value, bool) and isinstance(value, int)

        checks = (
            ("scale_factor", number(self.scale_factor) and 1.0 < self.scale_factor <= 2.0, "a number in (1, 2]"),
            ("min_neighbors", integer(self.min_neighbors) and self.min_neighbors >= 0, "an integer >= 0"),
            ("min_face_px", integer(self.min_face_px) and self.min_face_px >= 8, "an integer >= 8"),
            ("margin", number(self.margin) and 0.0 <= self.margin <= 2.0, "a number in [0, 2]"),
            ("detect_width", integer(self.detect_width) and self.detect_width >= 64, "an integer >= 64"),
            ("method", self.method in METHODS, f"one of {', '.join(METHODS)}"),
            ("strength", number(self.strength) and 0.0 < self.strength <= 1.0, "a number in (0, 1]"),
        )
        for name, ok, expected in checks:
            if not ok:
                raise FaceBlurError(f"face blur setting {name}={getattr(self, name)!r} is not {expected}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(kw_only=True)
class FaceCounts:
    """What the blurring did. A frame is one camera image of one exported grid frame."""

    frames: int = 0
    frames_with_faces: int = 0
    faces_blurred: int = 0

    def add(self, faces: int) -> None:
        self.frames += 1
        self.frames_with_faces += faces > 0
        self.faces_blurred += faces

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def require_opencv():
    """The ``cv2`` module with the Haar cascades.

    Raises:
        FaceBlurError: cv2 missing, or an OpenCV without ``CascadeClassifier`` (5.x).
    """
    try:
        import cv2
    except ImportError as err:
        raise FaceBlurError(f"--blur-faces needs OpenCV: {INSTALL_HINT}") from err
    if not hasattr(cv2, "CascadeClassifier") or not hasattr(cv2, "data"):
        raise FaceBlurError(f"--blur-faces needs OpenCV's Haar cascades, which OpenCV {cv2.__version__} "
                            f"does not have: {INSTALL_HINT}")
    return cv2


def detector_info() -> dict[str, str]:
    """The detector's name and OpenCV version (for the dataset card and metadata)."""
    cv2 = require_opencv()
    return {"detector": DETECTOR, "model": CASCADE_FILE, "opencv": cv2.__version__}


class FaceBlurrer:
    """Finds frontal faces in RGB frames and blurs them (see the module doc).

    Args:
        settings: detection and blur settings (default :class:`FaceBlurSettings()`).

    Raises:
        FaceBlurError: OpenCV or its cascade missing, ``settings`` not a FaceBlurSettings.
    """

    def __init__(self, settings: FaceBlurSettings | None = None):
        settings = FaceBlurSettings() if settings is None else settings
        if not isinstance(settings, FaceBlurSettings):
            raise FaceBlurError(f"face blur settings {settings!r} are not a FaceBlurSettings")
        self.settings = settings
        self._cv2 = cv2 = require_opencv()
        path = cv2.data.haarcascades + CASCADE_FILE
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise FaceBlurError(f"{path}: cannot load the OpenCV face cascade ({INSTALL_HINT})")
        self.counts = FaceCounts()

    def describe(self) -> dict[str, Any]:
        """Detector, OpenCV version and settings, as the dataset records them."""
        return {**detector_info(), "settings": self.settings.to_dict()}

    def detect(self, rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
        """Face boxes ``(x, y, width, height)`` in pixels of ``rgb`` ((H, W, 3) uint8), without margin."""
        cv2, s = self._cv2, self.settings
        height, width = rgb.shape[:2]
        scale = min(1.0, s.detect_width / width)
        grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
        if scale < 1.0:
            grey = cv2.resize(grey, (max(1, round(width * scale)), max(1, round(height * scale))),
                              interpolation=cv2.INTER_AREA)
        side = max(8, round(s.min_face_px * scale))
        found = self._cascade.detectMultiScale(grey, scaleFactor=s.scale_factor, minNeighbors=s.min_neighbors,
                                               minSize=(side, side))
        return [(round(x / scale), round(y / scale), round(w / scale), round(h / scale)) for x, y, w, h in found]

    def blur(self, rgb: np.ndarray) -> tuple[np.ndarray, int]:
        """``(frame, faces)``: ``rgb`` itself when no face is found, else a copy with every
        face box (grown by the margin) blurred. Not counted: see :meth:`blur_and_count`."""
        boxes = self.detect(rgb)
        if not boxes:
            return rgb, 0
        out = np.array(rgb, copy=True)
        height, width = out.shape[:2]
        for x, y, w, h in boxes:
            grow_x, grow_y = round(w * self.settings.margin), round(h * self.settings.margin)
            x0, y0 = max(0, x - grow_x), max(0, y - grow_y)
            x1, y1 = min(width, x + w + grow_x), min(height, y + h + grow_y)
            if x1 > x0 and y1 > y0:
                out[y0:y1, x0:x1] = self._hide(out[y0:y1, x0:x1])
        return out, len(boxes)

    def blur_and_count(self, rgb: np.ndarray) -> np.ndarray:
        """:meth:`blur`, adding the frame to :attr:`counts`."""
        out, faces = self.blur(rgb)
        self.counts.add(faces)
        return out

    def _hide(self, patch: np.ndarray) -> np.ndarray:
        cv2, s = self._cv2, self.settings
        side = max(patch.shape[:2])
        if s.method == "pixelate":
            block = max(2, round(side * s.strength))
            small = cv2.resize(patch, (max(1, patch.shape[1] // block), max(1, patch.shape[0] // block)),
                               interpolation=cv2.INTER_AREA)
            return cv2.resize(small, (patch.shape[1], patch.shape[0]), interpolation=cv2.INTER_NEAREST)
        sigma = max(1.0, side * s.strength)
        return cv2.GaussianBlur(patch, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REPLICATE)
