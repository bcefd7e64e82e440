"""One episode made ready for a LeRobot dataset, in a scratch folder (the per-episode work).

:func:`prepare_episode` needs nothing of the dataset but the feature plan, fps and
options, so it runs in worker processes or on Ray: it picks the frames, streams the
images from the bag once (cameras into one mp4 segment each, depth into 16-bit PNG),
writes the frame table (parquet, row groups of :data:`ROWS_PER_GROUP`, without the
dataset-wide indices) and computes the episode's statistics. The dataset writer then
appends the part (:class:`EpisodePart`) in episode order.

Frames: sync's grid, trimmed (option ``invalid="trim"``, default) to the span from the
first to the last frame where every required stream and the state and action streams
are valid. Inside that span, a frame whose state or action could not be resampled
(NaN) makes the episode fail with the frames named; camera frames beyond tolerance
stay, with their true time and error in ``time.<stream>.*`` and ``time.valid`` false.
``invalid="keep"`` writes every grid frame as it is.

Option ``blur_faces``: camera frames have their faces blurred before encoding
(:mod:`collector.export.privacy`); the part carries the counts.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from collector.episode import EpisodeInfo
from collector.export.errors import ExportError
from collector.export.features import FeaturePlan, episode_valid_mask, frame_table
from collector.export.frames import iter_frames
from collector.export.lerobot.layout import VALID_KEY
from collector.export.lerobot.stats import ImageStats, Stats, numeric_stats, table_stats
from collector.export.lerobot.video import ThreadedEncoder, VideoEncoder, encoder_options

ROWS_PER_GROUP = 256
DEPTH_PNG_LEVEL = 1  # zlib level: lossless either way; 1 is several times faster than 6


@dataclass(kw_only=True)
class EpisodePart:
    """A prepared episode (files in ``scratch``), small enough to send between processes."""

    scratch: str
    source: str
    episode_id: str
    task: str
    success: bool | None
    rig: str
    site: str
    robot: str
    operator: str
    length: int
    first_frame: int
    grid_frames: int
    table: str
    videos: dict[str, str] = field(default_factory=dict)
    stats: dict[str, Stats] = field(default_factory=dict)
    privacy: dict[str, int] | None = None  # blur_faces: FaceCounts.to_dict()


def select_rows(plan: FeaturePlan, sync, table: Mapping[str, np.ndarray], invalid: str) -> np.ndarray:
    """The grid frames to write (see the module doc).

    Raises:
        ExportError: no valid frame, or (``trim``) NaN state/action inside the span.
    """
    where = sync.episode or "episode"
    if invalid == "keep":
        return np.arange(sync.frames)
    valid = episode_valid_mask(sync, plan)
    good = np.flatnonzero(valid)
    if len(good) == 0:
        raise ExportError(f"{where}: no frame where the required, state and action streams are all valid")
    rows = np.arange(good[0], good[-1] + 1)
    for key in ("observation.state", "action"):
        if key in table:
            bad = rows[np.isnan(table[key][rows]).any(axis=1)]
            if len(bad):
                raise ExportError(f"{where}: {key} has no value at {len(bad)} frame(s) inside the episode "
                                  f"(first at {bad[0] / sync.fps:.3f} s, frame {bad[0]}); export with "
                                  "invalid=keep to write them as NaN")
    return rows


def _png16(depth: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(depth, dtype=np.uint16)).save(buffer, format="PNG",
                                                                       compress_level=DEPTH_PNG_LEVEL)
    return buffer.getvalue()


def _arrow_column(values: np.ndarray, dtype: str):
    import pyarrow as pa

    values = np.ascontiguousarray(values)
    if values.ndim == 1 or values.shape[1:] == (1,):
        return pa.array(values.reshape(len(values)).astype(dtype))
    width = int(np.prod(values.shape[1:]))
    flat = pa.array(values.reshape(-1).astype(dtype))
    return pa.FixedSizeListArray.from_arrays(flat, width)


def prepare_episode(*, plan: FeaturePlan, fps: float, options: Mapping[str, Any], episode_path: Path, sync,
                    info: EpisodeInfo, scratch: Path, progress: Callable[[int, int], None] | None = None
                    ) -> EpisodePart:
    """Write one episode's frame table and video segments into ``scratch`` (a new,
    empty folder) and return what the dataset writer needs to append it;
    ``progress(done, total)`` is called after every row group.

    Raises:
        ExportError: the episode does not fit the plan, has no valid frames, or an
            image cannot be converted; BagError: the bag cannot be read.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    scratch = Path(scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    numeric = frame_table(plan, sync)
    rows = select_rows(plan, sync, numeric, options["invalid"])
    count = len(rows)
    valid = episode_valid_mask(sync, plan)[rows]
    columns = {key: values[rows] for key, values in numeric.items()}
    stats: dict[str, Stats] = table_stats(columns, plan.validity)
    counted = {key: columns[gate].reshape(count) for key, gate in plan.validity.items()}  # images: their frames
    timestamps = (np.arange(count, dtype=np.float64) / fps).astype(np.float32)
    stats[VALID_KEY] = numeric_stats(valid.astype(np.float64))
    stats["timestamp"] = numeric_stats(timestamps.astype(np.float64))
    stats["frame_index"] = numeric_stats(np.arange(count, dtype=np.float64))

    cameras = [f for f in plan.images if f.kind == "image"]
    depths = [f for f in plan.images if f.kind == "depth"]
    options_av = encoder_options(options["vcodec"], crf=options["crf"], gop=options["gop"], preset=options["preset"])
    encoders: dict[str, ThreadedEncoder] = {}
    image_stats: dict[str, ImageStats] = {}
    writer = None
    table_path = scratch / "frames.parquet"
    try:
        for feature in cameras:
            height, width, _ = feature.shape
            encoders[feature.streams[0]] = ThreadedEncoder(VideoEncoder(
                scratch / f"{feature.key}.mp4", width=width, height=height, fps=fps, codec=options["vcodec"],
                options=options_av))
            image_stats[feature.key] = ImageStats(count, channels=3, scale=255.0, valid=counted.get(feature.key))
        for feature in depths:
            image_stats[feature.key] = ImageStats(count, channels=1, scale=1.0, valid=counted.get(feature.key))
        by_stream = {f.streams[0]: f for f in (*cameras, *depths)}
        blur = None
        if options.get("blur_faces"):
            from collector.export.privacy import FaceBlurrer

            blur = FaceBlurrer()
        frames = iter_frames(episode_path, sync, list(by_stream), frames=rows, blur=blur) if by_stream else iter(())
        pending_depth: dict[str, list[dict]] = {f.key: [] for f in depths}
        for start in range(0, count, ROWS_PER_GROUP):
            stop = min(start + ROWS_PER_GROUP, count)
            for position in range(start, stop):
                images = next(frames) if by_stream else {}
                for stream, frame in images.items():
                    feature = by_stream[stream]
                    if feature.kind == "image":
                        encoders[stream].add(frame)
                    else:
                        pending_depth[feature.key].append({"bytes": _png16(frame), "path": None})
                    image_stats[feature.key].offer(position, frame)
            batch = {}
            for feature in plan:
                if feature.key in columns:
                    batch[feature.key] = _arrow_column(columns[feature.key][start:stop], feature.dtype)
                elif feature.kind == "depth":
                    batch[feature.key] = pa.array(pending_depth[feature.key],
                                                  type=pa.struct([("bytes", pa.binary()), ("path", pa.string())]))
                    pending_depth[feature.key] = []
            batch[VALID_KEY] = pa.array(valid[start:stop])
            batch["timestamp"] = pa.array(timestamps[start:stop])
            batch["frame_index"] = pa.array(np.arange(start, stop, dtype=np.int64))
            table = pa.table(batch)
            if writer is None:
                writer = pq.ParquetWriter(table_path, table.schema, compression="snappy")
            writer.write_table(table)
            if progress is not None:
                progress(stop, count)
        if writer is not None:
            writer.close()
            writer = None
        videos = {}
        for feature in cameras:
            encoder = encoders.pop(feature.streams[0])
            written = encoder.close()
            if written != count:
                raise ExportError(f"{feature.key}: encoded {written} frames, the episode has {count}")
            videos[feature.key] = encoder.path.name
    except BaseException:
        if writer is not None:
            writer.close()
        for encoder in encoders.values():
            encoder.abort()
        raise
    for key, accumulator in image_stats.items():
        stats[key] = accumulator.result()
    return EpisodePart(
        scratch=str(scratch), source=str(episode_path), episode_id=info.episode_id or Path(episode_path).name,
        task=info.task or "",
        success=info.success, rig=info.rig, site=info.site, robot=str(info.robot or ""),
        operator=str(info.operator or ""), length=count, first_frame=int(rows[0]), grid_frames=sync.frames,
        table=table_path.name, videos=videos, stats=stats,
        privacy=None if blur is None else blur.counts.to_dict())
