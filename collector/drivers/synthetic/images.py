"""Camera and depth images, the frame counter font and the lossless sequence number."""

from __future__ import annotations

import functools
import math

import numpy as np

from collector.drivers.synthetic.base import NS_PER_S, SyntheticError
from collector.drivers.synthetic.signals import _harmonics, _rng
from collector.rig import Stream

SEQ_BYTES = 8  # little-endian uint64 sequence number at the start of every image


# A 3 x 5 bitmap font, rows top to bottom.
_FONT = ("111101101101111", "010110010010111", "111001111100111", "111001111001111", "101101111001001",
         "111100111001111", "111100111101111", "111001001001001", "111101111101111", "111101111001111")
_GLYPHS = np.array([[int(bit) for bit in glyph] for glyph in _FONT], dtype=bool).reshape(10, 5, 3)
_GLYPH_CODES = {glyph: digit for digit, glyph in enumerate(_FONT)}


@functools.lru_cache(maxsize=8)
def _scaled_glyphs(scale: int) -> np.ndarray:
    return np.repeat(np.repeat(_GLYPHS, scale, axis=1), scale, axis=2)


def counter_scale(width: int) -> int:
    """Font pixel size (px) of the frame counter in an image ``width`` pixels wide."""
    return max(1, width // 160)


def draw_number(image: np.ndarray, number: int, *, scale: int, x: int | None = None, y: int | None = None) -> None:
    """Draw ``number`` in white digits on a black box into ``image`` (uint8, (h, w) or (h, w, c)).

    Each font pixel is ``scale`` px; digits advance ``4 * scale`` px; ``x, y`` is
    the top left of the first digit (default ``2 * scale``). Digits that do not
    fit are left out.
    """
    x = 2 * scale if x is None else x
    y = 2 * scale if y is None else y
    digits = str(int(number))
    height, width = image.shape[:2]
    fit = min(len(digits), max(0, (width - x - scale) // (4 * scale)))
    if fit == 0 or y + 6 * scale > height:
        return
    image[y - scale : y + 6 * scale, x - scale : x + 4 * scale * fit] = 0
    glyphs = _scaled_glyphs(scale)
    for i, char in enumerate(digits[:fit]):
        cell = image[y : y + 5 * scale, x + 4 * scale * i : x + 4 * scale * i + 3 * scale]
        cell[glyphs[int(char)]] = 255


def read_number(image: np.ndarray, *, scale: int, x: int | None = None, y: int | None = None) -> int | None:
    """Read back digits drawn by :func:`draw_number`, tolerating lossy compression.

    Returns None when no digit is found at ``x, y``.
    """
    x = 2 * scale if x is None else x
    y = 2 * scale if y is None else y
    gray = image.astype(float).mean(axis=2) if image.ndim == 3 else image.astype(float)
    digits = ""
    left = x
    while left + 3 * scale <= gray.shape[1] and y + 5 * scale <= gray.shape[0]:
        cells = gray[y : y + 5 * scale, left : left + 3 * scale].reshape(5, scale, 3, scale).mean(axis=(1, 3))
        code = "".join("1" if v > 127 else "0" for v in cells.reshape(-1))
        if code not in _GLYPH_CODES:
            break
        digits += str(_GLYPH_CODES[code])
        left += 4 * scale
    return int(digits) if digits else None


def write_seq(image: np.ndarray, seq: int) -> None:
    """Store ``seq`` losslessly in the first :data:`SEQ_BYTES` bytes of contiguous ``image``."""
    image.reshape(-1).view(np.uint8)[:SEQ_BYTES] = np.frombuffer(int(seq).to_bytes(SEQ_BYTES, "little"), np.uint8)


def read_seq(image: np.ndarray | bytes | bytearray | memoryview) -> int:
    """The sequence number stored by :func:`write_seq`, from an image array or its raw data bytes."""
    if isinstance(image, np.ndarray):
        head = np.ascontiguousarray(image).reshape(-1).view(np.uint8)[:SEQ_BYTES].tobytes()
    else:
        head = bytes(image[:SEQ_BYTES])
    return int.from_bytes(head, "little")


class ImageSource:
    """A camera (rgb8, bgr8 or mono8): a scrolling colour pattern with the frame counter drawn in.

    The pattern is periodic in x and y and stored twice as wide and high, so a
    frame is one slice at an offset that moves with the capture time.
    """

    def __init__(self, stream: Stream, seed: int = 0):
        if stream.encoding not in ("rgb8", "bgr8", "mono8"):
            raise SyntheticError(f"{stream.name}: camera encoding {stream.encoding!r} is not rgb8, bgr8 or mono8")
        self.stream = stream
        height, width = stream.height, stream.width
        self.shape = (height, width) if stream.encoding == "mono8" else (height, width, 3)
        rng = _rng(seed, stream.name)
        u = 2 * math.pi * np.arange(width)[None, :] / width
        v = 2 * math.pi * np.arange(height)[:, None] / height
        phase = rng.uniform(0, 2 * math.pi, 3)
        cells = (np.arange(width) * 16 // width)[None, :] + (np.arange(height) * 12 // height)[:, None]
        checker = (cells % 2) * 50 - 25  # 16 x 12 squares, so the pattern stays periodic
        rgb = np.stack(
            [
                128 + 90 * np.sin(3 * u + phase[0]) * np.cos(2 * v) + checker,
                128 + 90 * np.sin(2 * v + phase[1]) + checker,
                128 + 90 * np.sin(u + 2 * v + phase[2]) - checker,
            ],
            axis=-1,
        )
        if stream.encoding == "bgr8":
            rgb = rgb[..., ::-1]
        elif stream.encoding == "mono8":
            rgb = rgb @ np.array([0.299, 0.587, 0.114])
        base = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
        self._tile = np.tile(base, (2, 2, 1) if base.ndim == 3 else (2, 2))
        self._ns_per_px = (NS_PER_S // int(rng.integers(60, 150)), NS_PER_S // int(rng.integers(15, 60)))
        self.scale = counter_scale(width)

    def render(self, true_ns: int, seq: int, out: np.ndarray | None = None) -> np.ndarray:
        """The frame captured at ``true_ns`` with sequence number ``seq`` (uint8, ``shape``).

        Written into ``out`` (C-contiguous, ``shape``) when given.
        """
        height, width = self.shape[:2]
        ox = (true_ns // self._ns_per_px[0]) % width
        oy = (true_ns // self._ns_per_px[1]) % height
        if out is None:
            out = np.empty(self.shape, dtype=np.uint8)
        out[...] = self._tile[oy : oy + height, ox : ox + width]
        draw_number(out, seq, scale=self.scale)
        write_seq(out, seq)
        return out


class DepthSource:
    """A depth camera: a tilted, gently waved surface with a moving bump (object) in front.

    16UC1 in millimetres or 32FC1 in metres.
    """

    BUMP_MM = 300.0

    def __init__(self, stream: Stream, seed: int = 0):
        if stream.encoding not in ("16UC1", "32FC1"):
            raise SyntheticError(f"{stream.name}: depth encoding {stream.encoding!r} is not 16UC1 or 32FC1")
        self.stream = stream
        height, width = stream.height, stream.width
        self.shape = (height, width)
        rng = _rng(seed, stream.name)
        u = 2 * math.pi * np.arange(width)[None, :] / width
        v = 2 * math.pi * np.arange(height)[:, None] / height
        tilt_mm = 350 * (np.arange(height)[:, None] / height)  # the floor comes closer towards the bottom
        surface_mm = 1400 - tilt_mm + 40 * np.sin(2 * u + rng.uniform(0, 6)) * np.cos(v)
        radius = max(2, min(height, width) // 6)
        offsets = np.arange(-radius, radius + 1)
        bump_mm = self.BUMP_MM * np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * (radius / 2.5) ** 2))
        if stream.encoding == "16UC1":
            self.dtype = np.dtype(np.uint16)
            self._base = np.rint(surface_mm).astype(np.uint16)
            self._bump = np.rint(bump_mm).astype(np.uint16)
        else:
            self.dtype = np.dtype(np.float32)
            self._base = (surface_mm / 1000).astype(np.float32)
            self._bump = (bump_mm / 1000).astype(np.float32)
        self._radius = radius
        swing = [[0.3 * width, 0.08 * width], [0.3 * height, 0.08 * height]]
        self._centre = _harmonics(rng, [width / 2, height / 2], swing, 30, 200)

    def render(self, true_ns: int, seq: int, out: np.ndarray | None = None) -> np.ndarray:
        """The depth frame captured at ``true_ns`` with sequence number ``seq`` (``shape``, ``dtype``)."""
        height, width = self.shape
        if out is None:
            out = np.empty(self.shape, dtype=self.dtype)
        out[...] = self._base
        cx, cy = (int(round(c)) for c in self._centre.at(true_ns)[0])
        r = self._radius
        x0, x1, y0, y1 = max(0, cx - r), min(width, cx + r + 1), max(0, cy - r), min(height, cy + r + 1)
        if x0 < x1 and y0 < y1:
            out[y0:y1, x0:x1] -= self._bump[y0 - cy + r : y1 - cy + r, x0 - cx + r : x1 - cx + r]
        write_seq(out, seq)
        return out
