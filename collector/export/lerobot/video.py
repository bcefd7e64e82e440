"""MP4 video for LeRobot: one encoder per camera segment, and stream-copy concatenation.

Frame ``i`` of a segment has pts ``i / fps`` exactly (LeRobot's loader accepts
1e-4 s of error). Segments of one camera are joined without re-encoding: packets
are copied and shifted by the exact duration of what precedes them, so episode
``k`` of a file starts at ``from_timestamp = frames_before / fps``.

PyAV is imported when a video is opened.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path

import numpy as np

from collector.export.errors import ExportError

# LeRobot's names (``video.codec`` in info.json) -> the FFmpeg encoder we use.
ENCODERS = {"av1": "libsvtav1", "h264": "libx264"}
PIX_FMT = "yuv420p"


def _av():
    # SVT-AV1 prints a banner and its settings to stderr for every encoder; keep its errors only.
    os.environ.setdefault("SVT_LOG", "1")
    try:
        import av
    except ImportError as err:
        raise ExportError("the lerobot format needs PyAV for video (pip install av)") from err
    return av


def fps_fraction(fps: float) -> Fraction:
    """``fps`` as an exact fraction (30.0 -> 30, 29.97 -> 2997/100)."""
    return Fraction(fps).limit_denominator(1001)


def encoder_options(codec: str, *, crf: int, gop: int, preset: int | str | None) -> dict[str, str]:
    """FFmpeg options for ``codec`` (``av1`` or ``h264``), as LeRobot's writer sets them.

    A numeric ``preset`` is SVT-AV1's (0-13); libx264 takes names, so a number is not
    passed to it (its default, ``medium``, is used)."""
    options = {"g": str(gop), "crf": str(crf)}
    if preset is not None and not (codec == "h264" and str(preset).isdigit()):
        options["preset"] = str(preset)
    return options


class VideoEncoder:
    """Encode RGB frames of one camera into ``path`` (mp4), frame ``i`` at ``i / fps``.

    Args:
        path: the mp4 to write (must not exist).
        width, height: frame size in pixels (even numbers for yuv420p).
        fps: frame rate.
        codec: ``av1`` or ``h264``.
        options: encoder options (:func:`encoder_options`).

    Raises:
        ExportError: an unknown codec, an encoder missing from this FFmpeg, an odd size.
    """

    def __init__(self, path: Path, *, width: int, height: int, fps: float, codec: str,
                 options: Mapping[str, str]):
        if codec not in ENCODERS:
            raise ExportError(f"video codec {codec!r} is not one of {', '.join(ENCODERS)}")
        if width % 2 or height % 2:
            raise ExportError(f"{path.name}: {width}x{height} cannot be encoded as {PIX_FMT} (odd size)")
        av = _av()
        self.path = Path(path)
        self.frames = 0
        self.width, self.height = width, height
        self._av = av
        rate = fps_fraction(fps)
        self._container = av.open(str(self.path), "w", format="mp4")
        try:
            stream = self._container.add_stream(ENCODERS[codec], rate=rate)
        except (av.FFmpegError, ValueError) as err:  # encoder not built into this FFmpeg
            self._container.close()
            self.path.unlink(missing_ok=True)
            raise ExportError(f"video encoder {ENCODERS[codec]!r} is not available in PyAV's FFmpeg: {err}") from err
        stream.width, stream.height = width, height
        stream.pix_fmt = PIX_FMT
        stream.codec_context.time_base = 1 / rate
        stream.options = dict(options)
        self._stream = stream

    def add(self, rgb: np.ndarray) -> None:
        """Encode the next frame, ``(height, width, 3)`` uint8 RGB."""
        frame = self._av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = self.frames
        self.frames += 1
        self._container.mux(self._stream.encode(frame))

    def close(self) -> int:
        """Flush the encoder and finish the file; returns the number of frames."""
        if self._container is not None:
            try:
                self._container.mux(self._stream.encode(None))
            finally:
                self._container.close()
                self._container = None
        return self.frames

    def abort(self) -> None:
        """Close without caring about the result and remove the file."""
        try:
            if self._container is not None:
                self._container.close()
        except Exception:  # noqa: BLE001 - the file is being thrown away
            pass
        self._container = None
        self.path.unlink(missing_ok=True)


class ThreadedEncoder:
    """A :class:`VideoEncoder` fed through a bounded queue by its own thread.

    FFmpeg encodes with the GIL released, so the cameras of an episode encode side by
    side while the main thread reads the bag; at most ``depth`` frames wait (memory
    stays bounded). An encoder error is raised by the next :meth:`add` or by :meth:`close`.
    """

    def __init__(self, encoder: VideoEncoder, depth: int = 8):
        import queue
        import threading

        self.encoder = encoder
        self.path = encoder.path
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"encode-{encoder.path.stem}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            frame = self._queue.get()
            if frame is None:
                return
            if self._error is None:
                try:
                    self.encoder.add(frame)
                except BaseException as err:  # noqa: BLE001 - handed to the caller's thread
                    self._error = err

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def add(self, rgb: np.ndarray) -> None:
        """Queue the next frame (blocks while ``depth`` frames wait)."""
        self._raise()
        self._queue.put(rgb)

    def close(self) -> int:
        """Encode what is queued, finish the file; returns the number of frames."""
        self._queue.put(None)
        self._thread.join()
        self._raise()
        return self.encoder.close()

    def abort(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self.encoder.abort()


def probe_video(path: Path) -> dict:
    """What a reader sees in an mp4: codec, pix_fmt, size, fps, frame count, pts (s) and
    duration (s), from the container (no decoding).

    Raises:
        ExportError: the file cannot be opened or has no video stream.
    """
    av = _av()
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ExportError(f"{path}: no video stream")
            stream = container.streams.video[0]
            pts = [packet.pts for packet in container.demux(stream) if packet.pts is not None]
            tb = stream.time_base
            return {
                "codec": stream.codec_context.name, "pix_fmt": stream.codec_context.pix_fmt,
                "width": stream.codec_context.width, "height": stream.codec_context.height,
                "fps": float(stream.average_rate) if stream.average_rate else None,
                "frames": len(pts), "pts_s": sorted(float(p * tb) for p in pts),
            }
    except av.FFmpegError as err:
        raise ExportError(f"{path}: not a readable video ({err})") from err


class VideoConcat:
    """Join mp4 segments of one camera into ``path`` by copying their packets.

    Every segment must come from :class:`VideoEncoder` with the same settings. After
    :meth:`append` the file holds the segment's frames right after the previous ones.
    """

    def __init__(self, path: Path, fps: float):
        self.path = Path(path)
        self.fps = fps_fraction(fps)
        self.frames = 0
        self._av = _av()
        self._container = None
        self._stream = None

    @property
    def duration_s(self) -> float:
        """The exact duration so far (frames / fps), as LeRobot's ``from_timestamp``."""
        return float(self.frames / self.fps)

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def append(self, segment: Path, frames: int) -> float:
        """Copy ``segment`` (``frames`` frames) onto the end; returns its start time in
        the joined file (s).

        Raises:
            ExportError: the segment is unreadable, holds another number of frames,
                or does not match the earlier segments.
        """
        av = self._av
        start = self.frames
        offset = Fraction(start) / self.fps
        try:
            with av.open(str(segment)) as source:
                in_stream = source.streams.video[0]
                if self._container is None:
                    self._container = av.open(str(self.path), "w", format="mp4")
                    self._stream = self._container.add_stream_from_template(in_stream, opaque=True)
                    self._stream.time_base = in_stream.time_base
                    self._codec = (in_stream.codec_context.name, in_stream.codec_context.width,
                                   in_stream.codec_context.height)
                got = (in_stream.codec_context.name, in_stream.codec_context.width, in_stream.codec_context.height)
                if got != self._codec:
                    raise ExportError(f"{segment.name}: {got[0]} {got[1]}x{got[2]} cannot follow "
                                      f"{self._codec[0]} {self._codec[1]}x{self._codec[2]} in {self.path.name}")
                in_tb = in_stream.time_base
                count = 0
                for packet in source.demux(in_stream):
                    if packet.size == 0 or packet.pts is None:
                        continue  # the demuxer's flush packet
                    out_tb = self._stream.time_base
                    packet.pts = round((packet.pts * in_tb + offset) / out_tb)
                    packet.dts = None if packet.dts is None else round((packet.dts * in_tb + offset) / out_tb)
                    packet.stream = self._stream
                    self._container.mux(packet)
                    count += 1
        except av.FFmpegError as err:
            raise ExportError(f"{segment}: cannot copy video into {self.path.name}: {err}") from err
        if count != frames:
            raise ExportError(f"{segment}: holds {count} frames, expected {frames}")
        self.frames += frames
        return float(offset)

    def close(self) -> int:
        """Finish the joined file; returns its frame count."""
        if self._container is not None:
            self._container.close()
            self._container = None
        return self.frames
