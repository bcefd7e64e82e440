"""Video frames by time, with PyAV: lazy per-process decoders, keyframe seeks, decode forward.

Each process (DataLoader worker) opens the mp4 files it needs on first use and keeps a
few open (:class:`~collector.loader.files.HandlePool`). A frame is found by seeking to
the key frame at or before it and decoding forward; when the asked frame lies a few
frames after the last one decoded, decoding simply continues (no seek), so windows and
sequential reads cost one decode per frame. PyAV is imported on first use.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np

from collector.loader.errors import VideoDecodeError
from collector.loader.files import HandlePool

FORWARD_FRAMES = 12  # decode forward instead of seeking when the frame is at most this far ahead


def _av():
    os.environ.setdefault("SVT_LOG", "1")
    try:
        import av
    except ImportError as err:
        raise VideoDecodeError("video features need PyAV (pip install av)") from err
    return av


class _Decoder:
    """One open mp4: its video stream and where decoding stands."""

    def __init__(self, path: str, threads: int):
        av = _av()
        self.path = path
        self.container = av.open(path)
        if not self.container.streams.video:
            self.container.close()
            raise VideoDecodeError(f"{path}: no video stream")
        self.stream = self.container.streams.video[0]
        self.stream.thread_count = threads
        if threads > 1:
            self.stream.thread_type = "AUTO"
        self.time_base = float(self.stream.time_base)
        rate = self.stream.average_rate or self.stream.guessed_rate
        self.frame_s = 1 / float(rate) if rate else 1 / 30
        self._frames = None  # the decode generator after the last seek
        self.last_t: float | None = None
        self.last_image: np.ndarray | None = None

    def close(self) -> None:
        self.container.close()

    def _seek(self, t: float) -> None:
        self.container.seek(max(0, int((t + 1e-6) / self.time_base)), stream=self.stream, backward=True,
                            any_frame=False)
        self._frames = self.container.decode(self.stream)
        self.last_t = None

    def frame_at(self, t: float, tolerance_s: float) -> np.ndarray:
        """The RGB frame ``(H, W, 3)`` uint8 shown at ``t`` (s), within ``tolerance_s``."""
        if self.last_t is not None and abs(self.last_t - t) <= tolerance_s:
            return self.last_image
        ahead = self.last_t is not None and self.last_t < t <= self.last_t + FORWARD_FRAMES * self.frame_s
        if not ahead or self._frames is None:
            self._seek(t)
        nearest = None
        for frame in self._frames:
            if frame.pts is None:
                continue
            frame_t = frame.pts * self.time_base
            if frame_t < t - tolerance_s:
                nearest = frame_t
                continue
            if frame_t > t + tolerance_s:
                self._frames = None
                raise LookupError(f"no frame within {tolerance_s} s of {t:.4f} s (next frame at {frame_t:.4f} s)")
            self.last_t, self.last_image = frame_t, frame.to_ndarray(format="rgb24")
            return self.last_image
        self._frames = None
        raise LookupError(f"no frame at {t:.4f} s (the video ends"
                          f"{'' if nearest is None else f' at {nearest:.4f} s'})")


def _close(decoder: _Decoder) -> None:
    decoder.close()


class VideoFrames:
    """Frames of mp4 files by time; one instance per dataset, decoders per process."""

    def __init__(self, *, max_open: int = 16, threads: int = 1):
        self._pool = HandlePool(partial(_Decoder, threads=threads), _close, size=max_open)

    def frames(self, path: Path, times_s: Sequence[float], *, tolerance_s: float, what: str) -> list[np.ndarray]:
        """The frames of ``path`` at ``times_s`` (s from the file's start), in the order asked.

        Args:
            what: names the item in errors (e.g. ``observation.images.head, episode 3``).

        Raises:
            VideoDecodeError: the file cannot be opened or decoded, or has no frame at a time.
        """
        av = _av()
        where = str(path)
        try:
            decoder = self._pool.get(where)
        except VideoDecodeError:
            raise
        except (av.FFmpegError, OSError) as err:
            raise VideoDecodeError(f"{where}: cannot open video for {what}: {err}") from err
        out: list[np.ndarray | None] = [None] * len(times_s)
        for i in sorted(range(len(times_s)), key=lambda i: times_s[i]):
            if i and out[i - 1] is not None and times_s[i] == times_s[i - 1]:
                out[i] = out[i - 1]
                continue
            try:
                out[i] = decoder.frame_at(float(times_s[i]), tolerance_s)
            except LookupError as err:
                raise VideoDecodeError(f"{where}: {what}: {err}") from None
            except (av.FFmpegError, OSError, ValueError) as err:
                decoder._frames = None
                raise VideoDecodeError(f"{where}: cannot decode {what} at {times_s[i]:.4f} s: {err}") from err
        return out

    def close(self) -> None:
        self._pool.close()
