"""Camera and depth frames for every grid frame, streamed from the bag in one pass.

Sync says, per grid frame, which message of an image stream to use
(``StreamAlignment.i0``: the position of the message in the stream's
``open_bag(path).messages([topic])`` order). Here the bag is read once, in order;
each needed message is decoded when it passes (:func:`collector.cdr.decode_image`)
and kept only until the last grid frame using it has been yielded, so memory holds
a few frames, never an episode. A frame used by consecutive grid frames is decoded
once and yielded again (the same read-only array).

Frames are converted for export: cameras to RGB ``(H, W, 3)`` uint8 (bgr8 reversed,
mono8 repeated, alpha dropped); depth to native-endian ``(H, W)`` uint16 (16UC1) or
float32 (32FC1), values unchanged. A grid frame whose stream had no message at all
(index -1) gets zeros. Invalid frames (beyond tolerance) still get sync's nearest
candidate: use the sync result's ``valid`` to judge them.

With ``blur`` (a :class:`~collector.export.privacy.FaceBlurrer`), camera frames have
their faces blurred once per decoded message, before anything else sees them, and
every yielded camera frame is counted in ``blur.counts``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from collector.errors import CollectorError
from collector.export.errors import ExportError
from collector.rig import Rig

FRAME_ROLES = ("camera", "depth")


def to_rgb(pixels: np.ndarray, encoding: str) -> np.ndarray:
    """A decoded camera image as a new C-contiguous ``(H, W, 3)`` uint8 RGB array.

    Raises:
        ExportError: an encoding that is not a colour or mono 8-bit camera image.
    """
    if encoding in ("rgb8", "8UC3"):
        rgb = pixels
    elif encoding == "bgr8":
        rgb = pixels[..., ::-1]
    elif encoding == "rgba8":
        rgb = pixels[..., :3]
    elif encoding == "bgra8":
        rgb = pixels[..., 2::-1]
    elif encoding in ("mono8", "8UC1"):
        rgb = np.repeat(pixels[..., None], 3, axis=2)
    else:
        raise ExportError(f"camera encoding {encoding!r} cannot be exported as RGB")
    return np.ascontiguousarray(rgb, dtype=np.uint8)


def to_depth(pixels: np.ndarray, encoding: str) -> np.ndarray:
    """A decoded depth image as a new native-endian ``(H, W)`` array, values unchanged.

    Raises:
        ExportError: an encoding other than 16UC1 / mono16 / 32FC1.
    """
    targets = {"16UC1": np.uint16, "mono16": np.uint16, "32FC1": np.float32}
    if encoding not in targets:
        raise ExportError(f"depth encoding {encoding!r} is not 16UC1 or 32FC1")
    return np.ascontiguousarray(pixels, dtype=targets[encoding])


class _StreamFrames:
    """One image stream: which message each wanted grid frame needs, and the decoded cache."""

    def __init__(self, stream, need: np.ndarray, topic_count: int, expected: int, blur=None):
        self.stream = stream
        self.blur = blur if stream.role == "camera" else None
        self.faces: dict[int, int] = {}  # faces blurred per cached message (with blur)
        self.need = need  # message index per wanted grid frame
        self.cache: dict[int, np.ndarray] = {}
        self.last_use: dict[int, int] = {}
        for position, index in enumerate(need.tolist()):
            if index >= 0:
                self.last_use[index] = position
        if topic_count != expected:
            raise ExportError(f"{stream.name}: the bag holds {topic_count} messages, the sync result counted "
                              f"{expected} (was the episode changed after sync?)")
        highest = int(need.max()) if len(need) else -1
        if highest >= topic_count:
            raise ExportError(f"{stream.name}: sync uses message {highest}, the bag holds {topic_count}")
        self.blank = np.zeros((stream.height, stream.width, 3) if stream.role == "camera"
                              else (stream.height, stream.width),
                              dtype=np.uint8 if stream.role == "camera" else
                              (np.float32 if stream.encoding == "32FC1" else np.uint16))
        self.blank.flags.writeable = False
        self.seen = 0  # messages of this topic passed so far

    def offer(self, data: bytes, position: int) -> None:
        """The next message of the topic passes by; keep it decoded if a grid frame at or
        after ``position`` needs it."""
        index = self.seen
        self.seen += 1
        if self.last_use.get(index, -1) < position:
            return
        from collector.cdr import decode_image

        try:
            image = decode_image(data, index=index)
        except CollectorError as err:
            raise ExportError(f"{self.stream.name}: cannot decode message {index}: {err}") from err
        convert = to_rgb if self.stream.role == "camera" else to_depth
        frame = convert(image.data, image.encoding)
        if frame.shape != self.blank.shape:
            raise ExportError(f"{self.stream.name}: message {index} is {image.width}x{image.height} "
                              f"{image.encoding}, the rig declares {self.stream.width}x{self.stream.height}")
        if self.blur is not None:
            frame, self.faces[index] = self.blur.blur(frame)
        frame.flags.writeable = False
        self.cache[index] = frame

    def take(self, position: int) -> np.ndarray | None:
        """The frame for wanted grid frame ``position``; None until its message has passed."""
        index = int(self.need[position])
        if index < 0:
            if self.blur is not None:
                self.blur.counts.add(0)
            return self.blank
        frame = self.cache.get(index)
        if frame is not None and self.blur is not None:
            self.blur.counts.add(self.faces[index])
        if frame is not None and self.last_use[index] == position:
            del self.cache[index]
            self.faces.pop(index, None)
        return frame


def iter_frames(episode_path: str | Path, sync, stream_names: Sequence[str], *, rig: Rig | None = None,
                frames: np.ndarray | None = None, blur=None) -> Iterator[dict[str, np.ndarray]]:
    """Per grid frame, ``{stream name: frame}`` for several camera/depth streams, one bag pass.

    Args:
        episode_path: the episode the sync result was computed from.
        sync: its :class:`~collector.sync.SyncResult`.
        stream_names: camera or depth streams of the rig.
        rig: the rig (for topics and declared sizes); default the episode's own.
        frames: ascending grid frame indices to yield (default all K).
        blur: a :class:`~collector.export.privacy.FaceBlurrer` for the camera streams
            (depth is never blurred); None: frames as recorded.

    Raises:
        ExportError: a stream that is not a synced camera/depth stream, a bag that
            does not match the sync result, an undecodable or wrongly sized image.
        BagError: the bag cannot be read.
    """
    from collector.bag.reader import open_bag

    path = Path(episode_path)
    if rig is None:
        from collector.sync.timeline import episode_rig

        rig = episode_rig(path)
    wanted = np.arange(sync.frames) if frames is None else np.asarray(frames, dtype=np.int64)
    if len(wanted) > 1 and np.any(np.diff(wanted) <= 0):
        raise ExportError("iter_frames: frames must be ascending grid frame indices")
    if len(wanted) and (wanted[0] < 0 or wanted[-1] >= sync.frames):
        raise ExportError(f"iter_frames: frame indices must lie in 0..{sync.frames - 1}")
    names = list(dict.fromkeys(stream_names))
    if not names:
        return
    with open_bag(path) as bag:
        counts = {t.name: t.count for t in bag.topics}
        by_topic: dict[str, _StreamFrames] = {}
        for name in names:
            try:
                stream = rig.stream(name)
            except CollectorError as err:
                raise ExportError(str(err)) from err
            if stream.role not in FRAME_ROLES:
                raise ExportError(f"{name}: role {stream.role!r} has no frames to stream "
                                  f"(only {', '.join(FRAME_ROLES)})")
            if name not in sync.streams:
                raise ExportError(f"{name}: not in the sync result (synced: {', '.join(sync.streams)})")
            alignment = sync.streams[name]
            by_topic[stream.topic] = _StreamFrames(stream, np.asarray(alignment.i0, dtype=np.int64)[wanted],
                                                   counts.get(stream.topic, 0), len(alignment.message_time_ns),
                                                   blur=blur)
        messages = bag.messages(list(by_topic))
        streams = list(by_topic.values())
        for position in range(len(wanted)):
            out = {}
            for frames_of in streams:
                frame = frames_of.take(position)
                while frame is None:
                    message = next(messages, None)
                    if message is None:
                        raise ExportError(f"{frames_of.stream.name}: the bag ended before message "
                                          f"{int(frames_of.need[position])}")
                    by_topic[message.topic].offer(message.data, position)
                    frame = frames_of.take(position)
                out[frames_of.stream.name] = frame
            yield out


def iter_images(episode_path: str | Path, sync, stream_name: str, *, rig: Rig | None = None,
                frames: np.ndarray | None = None) -> Iterator[np.ndarray]:
    """The frame of every grid frame (or of ``frames``) of one camera or depth stream, in order.

    Cameras give ``(H, W, 3)`` uint8 RGB, depth ``(H, W)`` uint16 (16UC1) or float32
    (32FC1); the arrays are read-only and may repeat. See :func:`iter_frames`.
    """
    for frame in iter_frames(episode_path, sync, [stream_name], rig=rig, frames=frames):
        yield frame[stream_name]
