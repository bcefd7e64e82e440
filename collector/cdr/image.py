"""``sensor_msgs/msg/Image``: encode one, decode one as a zero-copy array view."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from collector.cdr._common import IMAGE, Buffer, CdrError
from collector.cdr._reader import _Reader
from collector.cdr.encode import _Out, _u32_value

# Image encodings we can view as arrays: numpy dtype (little-endian) and channels.
IMAGE_ENCODINGS: dict[str, tuple[str, int]] = {
    "rgb8": ("u1", 3),
    "bgr8": ("u1", 3),
    "rgba8": ("u1", 4),
    "bgra8": ("u1", 4),
    "mono8": ("u1", 1),
    "8UC1": ("u1", 1),
    "8UC3": ("u1", 3),
    "mono16": ("u2", 1),
    "16UC1": ("u2", 1),
    "32FC1": ("f4", 1),
}


@dataclass(frozen=True, kw_only=True, eq=False)
class ImageMessage:
    """One Image; ``data`` is a view of the message bytes shaped (H, W) or (H, W, C)."""

    stamp_ns: int
    frame_id: str
    height: int
    width: int
    encoding: str
    step: int
    is_bigendian: int
    data: np.ndarray



def encode_image(*, stamp_ns: int, frame_id: str, height: int, width: int, encoding: str,
                 data: Buffer | np.ndarray, step: int | None = None, is_bigendian: int = 0) -> bytes:
    """A ``sensor_msgs/msg/Image`` as CDR bytes.

    Args:
        stamp_ns: ``header.stamp``, int ns since the epoch.
        frame_id: ``header.frame_id``.
        height, width: image size (px).
        encoding: pixel encoding, e.g. ``rgb8``, ``16UC1`` (any string is written).
        data: pixel bytes, or an array whose bytes (C order) are the pixels.
        step: bytes per row; default ``len(data) // height`` (0 for an empty image).
        is_bigendian: 0 or 1, copied to the message (arrays are not byte-swapped).

    Raises:
        CdrError: a field out of range, or ``len(data) != step * height``.
    """
    height = _u32_value(height, "height")
    width = _u32_value(width, "width")
    if is_bigendian not in (0, 1):
        raise CdrError(f"is_bigendian={is_bigendian!r} is not 0 or 1")
    if isinstance(data, np.ndarray):
        pixels = memoryview(np.ascontiguousarray(data)).cast("B")
    else:
        try:
            pixels = memoryview(data).cast("B")
        except TypeError as err:
            raise CdrError(f"data of type {type(data).__name__} is neither bytes nor an array") from err
    size = pixels.nbytes
    if step is None:
        step = size // height if height else 0
    step = _u32_value(step, "step")
    if step * height != size:
        raise CdrError(f"image data has {size} bytes, expected step * height = {step} * {height} = {step * height}")
    out = _Out()
    out.header(stamp_ns, frame_id)
    out.u32(height)
    out.u32(width)
    out.string(encoding, "encoding")
    out.raw(b"\x01" if is_bigendian else b"\x00", 1)
    out.u32(step)
    out.u32(size)
    out.raw(pixels, size)
    return out.finish()


def decode_image(message: Buffer, *, index: int = 0) -> ImageMessage:
    """Decode one Image; ``data`` is a zero-copy view of ``message`` (read-only for bytes).

    The view is (H, W) for one channel, else (H, W, C), with the encoding's dtype
    (see :data:`IMAGE_ENCODINGS`, byte order from ``is_bigendian``); rows may be
    padded (``step`` larger than a row's pixels). ``index`` only names the message in errors.

    Raises:
        CdrError: malformed or truncated bytes, an unsupported encoding, or sizes that
            disagree (``step`` shorter than a row, data length not ``step * height``).
    """
    reader = _Reader(message, IMAGE, index)
    stamp_ns, frame_id = reader.header()
    height = reader.u32("height")
    width = reader.u32("width")
    encoding = reader.string("encoding")
    is_bigendian = reader.u8("is_bigendian")
    step = reader.u32("step")
    size = reader.u32("data length")
    reader.need(size, "data")
    if encoding not in IMAGE_ENCODINGS:
        raise reader.error(f"encoding {encoding!r} is not one of {', '.join(IMAGE_ENCODINGS)}")
    if is_bigendian not in (0, 1):
        raise reader.error(f"is_bigendian={is_bigendian} is not 0 or 1")
    if size != step * height:
        raise reader.error(f"data has {size} bytes, expected step * height = {step} * {height} = {step * height}")
    code, channels = IMAGE_ENCODINGS[encoding]
    dtype = np.dtype(code).newbyteorder(">" if is_bigendian else "<")
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise reader.error(f"step {step} is shorter than a row of {width} {encoding} pixels ({row_bytes} bytes)")
    shape: tuple[int, ...] = (height, width) if channels == 1 else (height, width, channels)
    strides: tuple[int, ...] = (step, channels * dtype.itemsize) + ((dtype.itemsize,) if channels > 1 else ())
    if height == 0 or width == 0:
        pixels = np.empty(shape, dtype=dtype)
    else:
        pixels = np.ndarray(shape, dtype=dtype, buffer=message, offset=reader.pos, strides=strides)
    return ImageMessage(stamp_ns=stamp_ns, frame_id=frame_id, height=height, width=width, encoding=encoding,
                        step=step, is_bigendian=is_bigendian, data=pixels)
