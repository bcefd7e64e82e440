"""What a dataset format gives the loader: episodes, per-row arrays and images by row."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from collector.loader.select import Episode


@dataclass(kw_only=True)
class Source:
    """A dataset read into memory, except its images.

    Attributes:
        where: the dataset's path (for messages).
        fps: frames per second.
        episodes: every episode, rows ``start .. start + length - 1`` of the arrays.
        arrays: feature key -> ``(rows, ...)`` numpy array (numbers of every row,
            including ``timestamp``, ``frame_index``, ``episode_index``, ``index``,
            ``task_index``).
        cameras: RGB camera keys; depths: depth (and other non-RGB image) keys.
        tasks: task strings by task_index.
        stats: feature -> stat -> array, or None (no stats file).
        stats_path: where the stats came from (for messages).
    """

    where: str
    fps: float
    episodes: list[Episode]
    arrays: dict[str, np.ndarray]
    cameras: list[str]
    depths: list[str]
    tasks: list[str]
    stats: Mapping[str, Mapping] | None
    stats_path: str
    features: dict[str, dict] = field(default_factory=dict)

    def images(self, key: str, rows: np.ndarray, episode: Episode, *, tolerance_s: float) -> list[np.ndarray]:
        """Frames of image ``key`` at ``rows``: ``(H, W, 3)`` uint8 for cameras,
        ``(H, W)`` or ``(H, W, 1)`` for depth, in the sensor's dtype and units."""
        raise NotImplementedError

    def close(self) -> None:
        """Close this process's open files."""
