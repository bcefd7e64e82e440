"""The researchers' ``torch.utils.data.Dataset`` over an exported dataset.

Items follow LeRobot's conventions: every feature under its key (``observation.state``,
``action``, ``observation.images.<cam>`` as float32 CHW in [0, 1], ...), ``task`` (the
string), ``timestamp``, ``frame_index``, ``episode_index``, ``index``, ``task_index``,
and for windowed keys a ``(T, ...)`` stack with ``<key>_is_pad``. Depth comes back as
float32 ``(1, H, W)`` in the sensor's units (mm for 16-bit depth). This module imports
torch; ``collector.loader`` imports it only when the class is asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from collector.export.registry import detect_format
from collector.loader.config import LoaderConfig
from collector.loader.errors import LoaderError
from collector.loader.normalize import Normalizer
from collector.loader.select import select
from collector.loader.source import Source
from collector.loader.windows import frame_offsets, window_rows

INDEX_KEYS = ("timestamp", "frame_index", "episode_index", "index", "task_index")


def _lerobot_source(path: Path, config: LoaderConfig) -> Source:
    from collector.loader.lerobot_source import LeRobotSource

    return LeRobotSource(path, max_open_files=config.max_open_files, decoder_threads=config.decoder_threads)


def _hdf5_source(path: Path, config: LoaderConfig) -> Source:
    from collector.loader.hdf5_source import Hdf5Source

    return Hdf5Source(path, max_open_files=config.max_open_files)


# format name (collector.export.registry.FORMATS) -> the Source reading its datasets
SOURCES: dict[str, Callable[[Path, LoaderConfig], Source]] = {
    "lerobot": _lerobot_source,
    "hdf5": _hdf5_source,
}


def open_source(path: str | Path, config: LoaderConfig) -> Source:
    """The source reading ``path``: a LeRobot v3.0 folder (has meta/info.json), or an
    HDF5 episode file or folder of ``episode_<i>.hdf5``.

    Raises:
        LoaderError: ``path`` is neither.
    """
    path = Path(path)
    # the format's detector takes folders; the loader also reads one episode file
    fmt = detect_format(path) or ("hdf5" if path.suffix == ".hdf5" else None)
    if fmt in SOURCES:
        return SOURCES[fmt](path, config)
    if not path.exists():
        raise LoaderError(f"{path}: no such dataset")
    raise LoaderError(f"{path}: neither a LeRobot v3.0 dataset (meta/info.json) nor HDF5 episodes (episode_<i>.hdf5)")


def _hdf5_stats(source: Source, keys) -> dict:
    from collector.export.lerobot.stats import numeric_stats

    return {k: numeric_stats(source.arrays[k].astype(np.float64)) for k in keys if k in source.arrays}


class CollectorDataset(Dataset):
    """Frames of the selected episodes of a dataset, one item per frame.

    Args:
        path: a LeRobot v3.0 folder or ALOHA-layout HDF5 episodes (or an opened Source).
        config: a :class:`LoaderConfig`; or give its fields as keyword arguments.

    Raises:
        LoaderError: the dataset cannot be opened, a bad option, a selection that
            keeps nothing, normalisation without stats; items raise
            :class:`~collector.loader.errors.VideoDecodeError` naming file and episode.
    """

    def __init__(self, path: str | Path | Source, config: LoaderConfig | None = None, **options: Any):
        if config is not None and options:
            raise LoaderError("give either config= or keyword options, not both")
        self.config = config = config or LoaderConfig(**options)
        self.source = source = path if isinstance(path, Source) else open_source(path, config)
        self.episodes = select(source.episodes, config, where=source.where)
        self.fps = source.fps
        self.tasks = source.tasks
        images = [*source.cameras, *source.depths]
        available = [*source.arrays, *images]
        if config.keys is not None:
            unknown = [k for k in config.keys if k not in available]
            if unknown:
                raise LoaderError(f"{source.where}: option keys: no feature {unknown[0]!r} "
                                  f"(features: {', '.join(available)})")
        wanted = list(config.keys) if config.keys is not None else available
        self.keys = [*dict.fromkeys([*wanted, *(k for k in INDEX_KEYS if k in source.arrays)])]
        self.camera_keys = [k for k in source.cameras if k in self.keys]
        self.depth_keys = [k for k in source.depths if k in self.keys]
        self._numeric = [k for k in self.keys if k in source.arrays]
        self.delta_indices = frame_offsets(config, fps=self.fps, keys=self.keys, cameras=self.camera_keys)
        self.normalizer = self._normalizer()
        self._rows = np.concatenate([np.arange(e.start, e.start + e.length) for e in self.episodes])
        self._episode_of = np.concatenate([np.full(e.length, i) for i, e in enumerate(self.episodes)])
        frame_index = source.arrays["frame_index"]
        self._frame_index = [frame_index[e.start:e.start + e.length] for e in self.episodes]

    def _normalizer(self) -> Normalizer | None:
        config, source = self.config, self.source
        if config.normalize is None:
            return None
        if isinstance(config.normalize, str):
            modes = {k: config.normalize for k in self._numeric
                     if (k == "action" or k.startswith("observation.")) and source.arrays[k].dtype.kind == "f"}
        else:
            modes = dict(config.normalize)
            unknown = [k for k in modes if k not in self.keys]
            if unknown:
                raise LoaderError(f"{source.where}: option normalize: no feature {unknown[0]!r} in the items")
        stats, where = config.stats, "option stats"
        if stats is None:
            stats, where = source.stats, source.stats_path or source.where
            if stats is None and not source.stats_path:  # HDF5 holds no stats: computed over all its frames
                stats, where = _hdf5_stats(source, modes), source.where
            elif stats is None:
                where = f"{source.stats_path}: missing"
        return Normalizer(stats, modes, where=where)

    @property
    def stats(self):
        """The dataset's stats (meta/stats.json, or the ``stats`` option), or None."""
        return self.config.stats if self.config.stats is not None else self.source.stats

    @property
    def num_frames(self) -> int:
        return len(self._rows)

    @property
    def num_episodes(self) -> int:
        return len(self.episodes)

    @property
    def episode_indices(self) -> list[int]:
        return [e.index for e in self.episodes]

    def __len__(self) -> int:
        return len(self._rows)

    def _rows_of(self, key: str, position: int, episode: int) -> tuple[np.ndarray, np.ndarray | None]:
        offsets = self.delta_indices.get(key)
        if offsets is None:
            return np.array([position]), None
        return window_rows(self._frame_index[episode], position, offsets)

    def __getitem__(self, idx: int) -> dict[str, Any]:
        if not -len(self) <= idx < len(self):
            raise IndexError(f"index {idx} out of range for {len(self)} frames")
        idx = int(idx) % len(self)
        row = int(self._rows[idx])
        which = int(self._episode_of[idx])
        episode = self.episodes[which]
        position = row - episode.start
        arrays, norm = self.source.arrays, self.normalizer
        item: dict[str, Any] = {}
        for key in self._numeric:
            rows, pad = self._rows_of(key, position, which)
            value = arrays[key][episode.start + rows] if pad is not None else np.array(arrays[key][row])
            if norm is not None and key in norm:
                value = norm.normalize(key, value.astype(np.float32))
            item[key] = torch.from_numpy(value)
            if pad is not None:
                item[f"{key}_is_pad"] = torch.from_numpy(pad)
        for key in (*self.camera_keys, *self.depth_keys):
            rows, pad = self._rows_of(key, position, which)
            frames = self.source.images(key, episode.start + rows, episode, tolerance_s=self.config.tolerance_s)
            item[key] = self._image(key, frames, windowed=pad is not None)
            if pad is not None:
                item[f"{key}_is_pad"] = torch.from_numpy(pad)
        item["task"] = self.tasks[int(arrays["task_index"][row])] if "task_index" in arrays else episode.task
        return item

    def _image(self, key: str, frames: list[np.ndarray], *, windowed: bool):
        stack = torch.from_numpy(np.stack(frames))
        if key in self.depth_keys:
            stack = stack.reshape(len(frames), 1, *frames[0].shape[:2]).to(torch.float32)
        else:
            stack = stack.permute(0, 3, 1, 2)
            if self.config.image_dtype == "float32":
                stack = stack.to(torch.float32).div_(255.0)
            else:
                stack = stack.contiguous()
        if self.normalizer is not None and key in self.normalizer:
            stack = self.normalizer.normalize(key, stack.to(torch.float32))
        return stack if windowed else stack[0]

    def __repr__(self) -> str:
        return (f"CollectorDataset({self.source.where!r}, episodes={self.num_episodes}, frames={self.num_frames}, "
                f"fps={self.fps:g}, cameras={self.camera_keys}, "
                f"windows={ {k: len(v) for k, v in self.delta_indices.items()} })")
