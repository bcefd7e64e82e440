"""Normalisation statistics as LeRobot stores them (meta/stats.json, episodes table).

Every feature gets ``min, max, mean, std, count, q01, q10, q50, q90, q99``:

* vectors of shape ``(n,)``: one value per element (NaN frames are skipped);
* camera frames: per channel, shape ``(3, 1, 1)``, pixel values in [0, 1], from a
  sample of frames (every frame up to :data:`IMAGE_SAMPLE_FRAMES`, then evenly
  spaced ones), each downsampled to about :data:`IMAGE_SAMPLE_PIXELS` pixels, as
  LeRobot does;
* depth frames: shape ``(1, 1, 1)`` in the sensor's units (mm for 16UC1).

The dataset's numeric statistics are computed exactly over all its frames
(:func:`numeric_stats` on the full columns); image statistics combine the episodes'
samples: min/max exactly, mean and std pooled exactly over the samples, quantiles
as the frame-weighted mean of the episodes' quantiles (LeRobot's approximation).

A feature of an optional stream counts only the frames where the stream's validity
column ``time.<stream>.valid`` is true (:func:`table_stats`; ``count`` is their number),
so the zeros of episodes without that stream do not pull its statistics.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

QUANTILES = {"q01": 0.01, "q10": 0.10, "q50": 0.50, "q90": 0.90, "q99": 0.99}
STAT_NAMES = ("min", "max", "mean", "std", "count", *QUANTILES)
IMAGE_SAMPLE_FRAMES = 100
IMAGE_SAMPLE_PIXELS = 100 * 100

Stats = dict[str, np.ndarray]


def numeric_stats(values: np.ndarray) -> Stats:
    """Stats over axis 0 of ``values`` (K, ...) skipping NaN; an element with no finite
    value gets NaN (and ``count`` counts frames, as LeRobot's)."""
    shape = np.asarray(values).shape[1:] or (1,)
    data = np.asarray(values, dtype=np.float64).reshape(len(values), int(np.prod(shape)))
    out: Stats = {}
    finite = ~np.isnan(data)
    any_finite = finite.any(axis=0)
    with np.errstate(all="ignore"):
        safe = np.where(finite, data, 0.0)
        n = finite.sum(axis=0)
        mean = np.where(n > 0, safe.sum(axis=0) / np.maximum(n, 1), np.nan)
        var = np.where(n > 0, (np.where(finite, data - mean, 0.0) ** 2).sum(axis=0) / np.maximum(n, 1), np.nan)
        out["min"] = np.where(any_finite, np.min(np.where(finite, data, np.inf), axis=0, initial=np.inf), np.nan)
        out["max"] = np.where(any_finite, np.max(np.where(finite, data, -np.inf), axis=0, initial=-np.inf), np.nan)
        out["mean"] = mean
        out["std"] = np.sqrt(var)
        if data.shape[0] and any_finite.any():
            qs = np.nanquantile(np.where(finite, data, np.nan)[:, any_finite], list(QUANTILES.values()), axis=0)
        else:
            qs = np.zeros((len(QUANTILES), 0))
        for row, name in enumerate(QUANTILES):
            column = np.full(data.shape[1], np.nan)
            column[any_finite] = qs[row]
            out[name] = column
    out = {k: v.reshape(shape) for k, v in out.items()}
    out["count"] = np.array([len(values)], dtype=np.int64)
    return out


def valid_rows(columns: Mapping[str, np.ndarray], validity: Mapping[str, str], key: str) -> np.ndarray | slice:
    """The rows of ``columns[key]`` its statistics count: where its validity column
    (``validity[key]``, see :attr:`~collector.export.features.FeaturePlan.validity`) is
    true; every row for a feature no validity column gates."""
    if key not in validity:
        return slice(None)
    flags = np.asarray(columns[validity[key]])
    return flags.reshape(len(flags)).astype(bool)


def table_stats(columns: Mapping[str, np.ndarray], validity: Mapping[str, str]) -> dict[str, Stats]:
    """:func:`numeric_stats` of every column of ``columns`` (key -> (N, ...) values), each
    over the rows :func:`valid_rows` gives it."""
    return {key: numeric_stats(np.asarray(values)[valid_rows(columns, validity, key)])
            for key, values in columns.items()}


def sample_positions(frames: int) -> np.ndarray:
    """Which of ``frames`` frames feed the image statistics (ascending)."""
    if frames <= IMAGE_SAMPLE_FRAMES:
        return np.arange(frames)
    return np.unique(np.linspace(0, frames - 1, IMAGE_SAMPLE_FRAMES).round().astype(np.int64))


def _downsample(frame: np.ndarray) -> np.ndarray:
    height, width = frame.shape[:2]
    step = max(1, int(np.sqrt(height * width / IMAGE_SAMPLE_PIXELS)))
    return frame[::step, ::step]


class ImageStats:
    """Accumulates one camera's (or depth stream's) sampled pixels for one episode.

    Args:
        frames: the episode's frame count.
        channels: 3 for cameras, 1 for depth.
        scale: divide pixel values by this (255 for cameras: values in [0, 1]).
        valid: (frames,) bool, the frames that count (an optional camera's validity
            column); None: all. ``count`` is the number of counted frames.
    """

    def __init__(self, frames: int, *, channels: int, scale: float, valid: np.ndarray | None = None):
        counted = np.arange(frames) if valid is None else np.flatnonzero(np.asarray(valid, dtype=bool))
        self.positions = set(counted[sample_positions(len(counted))].tolist())
        self.channels = channels
        self.scale = scale
        self.frames = len(counted)
        self._samples: list[np.ndarray] = []

    def offer(self, position: int, frame: np.ndarray) -> None:
        """Frame ``position`` of the episode passes; keep a downsampled copy if sampled."""
        if position in self.positions:  # kept in the frame's own dtype: floats only in result()
            self._samples.append(np.ascontiguousarray(_downsample(frame)).reshape(-1, self.channels))

    def result(self) -> Stats:
        """Per-channel stats, shaped ``(channels, 1, 1)``; ``count`` is the frame count."""
        pixels = np.concatenate(self._samples) if self._samples else np.zeros((0, self.channels))
        stats = numeric_stats(pixels.astype(np.float64) / self.scale)
        stats = {k: v.reshape(self.channels, 1, 1) for k, v in stats.items() if k != "count"}
        stats["count"] = np.array([self.frames], dtype=np.int64)
        stats["_pixels"] = np.array([len(pixels)], dtype=np.int64)  # for pooling; not written
        return stats


def combine_image_stats(parts: Iterable[Stats]) -> Stats:
    """The dataset's stats of one image feature from its episodes' (see the module doc)."""
    parts = [p for p in parts if int(p["count"][0]) > 0]
    if not parts:
        return {}
    weights = np.array([float(p["count"][0]) for p in parts])
    pixels = np.array([float(p.get("_pixels", p["count"])[0]) for p in parts])
    means = np.stack([p["mean"] for p in parts])
    stds = np.stack([p["std"] for p in parts])
    w = pixels.reshape(-1, *([1] * (means.ndim - 1)))
    mean = (means * w).sum(axis=0) / w.sum()
    var = ((stds ** 2 + (means - mean) ** 2) * w).sum(axis=0) / w.sum()
    out: Stats = {
        "min": np.min(np.stack([p["min"] for p in parts]), axis=0),
        "max": np.max(np.stack([p["max"] for p in parts]), axis=0),
        "mean": mean, "std": np.sqrt(var),
        "count": np.array([int(weights.sum())], dtype=np.int64),
    }
    fw = weights.reshape(-1, *([1] * (means.ndim - 1)))
    for name in QUANTILES:
        out[name] = (np.stack([p[name] for p in parts]) * fw).sum(axis=0) / fw.sum()
    return out


def to_json(stats: Mapping[str, Stats]) -> dict:
    """``{feature: {stat: nested lists}}`` for stats.json (NaN written as null)."""
    def clean(value: np.ndarray):
        if value.dtype.kind == "f":
            return np.where(np.isnan(value), None, value).tolist()
        return value.tolist()

    return {key: {name: clean(np.asarray(value)) for name, value in feature.items() if not name.startswith("_")}
            for key, feature in stats.items()}


def from_json(data: Mapping) -> dict[str, Stats]:
    """Inverse of :func:`to_json` (null back to NaN)."""
    out = {}
    for key, feature in data.items():
        out[key] = {}
        for name, value in feature.items():
            dtype = np.int64 if name == "count" else np.float64
            out[key][name] = np.array(value, dtype=object if dtype is np.float64 else dtype)
            if dtype is np.float64:
                out[key][name] = np.where(out[key][name] == None, np.nan, out[key][name]).astype(np.float64)  # noqa: E711
    return out
