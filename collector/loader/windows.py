"""Windows of frames around an item: offsets from the options, rows and padding masks.

An offset is a number of frames (``delta_timestamps`` seconds times fps, as LeRobot's
``get_delta_indices``). A window position outside the episode is padding: its row is
the episode's first or last frame and ``<key>_is_pad`` is True there, as LeRobot does.
Episodes whose frame indices have gaps (HDF5 exported with ``invalid=drop``) pad the
missing frames too, repeating the nearest kept one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from collector.loader.config import LoaderConfig
from collector.loader.errors import LoaderError


def frame_offsets(config: LoaderConfig, *, fps: float, keys: Iterable[str], cameras: Iterable[str]
                  ) -> dict[str, np.ndarray]:
    """key -> frame offsets (int64, in the order asked) from the window options.

    Raises:
        LoaderError: an unknown key, a time that is not a multiple of 1/fps within
            ``tolerance_s``, or one key given two windows.
    """
    keys = list(keys)
    out: dict[str, np.ndarray] = {}

    def put(key: str, offsets, source: str) -> None:
        if key not in keys:
            raise LoaderError(f"option {source}: {key!r} is not a feature of this dataset "
                              f"(features: {', '.join(keys)})")
        if key in out:
            raise LoaderError(f"option {source}: {key!r} already has a window from another option")
        out[key] = np.asarray(list(offsets), dtype=np.int64)

    for key, seconds in (config.delta_timestamps or {}).items():
        frames = [float(s) * fps for s in seconds]
        bad = [s for s, f in zip(seconds, frames) if abs(f - round(f)) / fps > config.tolerance_s]
        if bad:
            raise LoaderError(f"option delta_timestamps[{key!r}]: {bad} s are not multiples of 1/{fps:g} s")
        put(key, [round(f) for f in frames], "delta_timestamps")
    for key, steps in (config.delta_indices or {}).items():
        put(key, [int(s) for s in steps], "delta_indices")
    if config.action_horizon is not None:
        put("action", range(config.action_horizon), "action_horizon")
    if config.observation_history is not None:
        history = range(-(config.observation_history - 1), 1)
        for key in ["observation.state", *cameras]:
            if key in keys:
                put(key, history, "observation_history")
    return out


def window_rows(frame_index: np.ndarray, position: int, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows (positions inside the episode) and padding mask of a window.

    Args:
        frame_index: the episode's frame indices, ascending (0..L-1 for LeRobot).
        position: the item's position in the episode.
        offsets: frame offsets.
    """
    length = len(frame_index)
    if frame_index[-1] - frame_index[0] == length - 1:  # no gaps: plain arithmetic, as LeRobot
        wanted = position + offsets
        pad = (wanted < 0) | (wanted >= length)
        return np.clip(wanted, 0, length - 1), pad
    wanted = frame_index[position] + offsets
    found = np.searchsorted(frame_index, wanted)
    found = np.clip(found, 0, length - 1)
    exact = frame_index[found] == wanted
    below = np.clip(found - 1, 0, length - 1)
    nearer = np.abs(frame_index[below] - wanted) < np.abs(frame_index[found] - wanted)
    return np.where(exact | ~nearer, found, below), ~exact


def window_masks(offsets: Mapping[str, np.ndarray]) -> dict[str, str]:
    """key -> the name of its padding mask."""
    return {key: f"{key}_is_pad" for key in offsets}
