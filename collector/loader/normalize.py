"""Normalisation from meta/stats.json: ``(x - shift) / scale`` per feature.

Modes (LeRobot's): ``mean_std`` (mean, std), ``min_max`` (min..max to [-1, 1]),
``quantiles`` (q01..q99 to [-1, 1]) and ``quantile10`` (q10..q90 to [-1, 1]).
A zero spread is replaced by :data:`EPS` so constant features stay finite.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from collector.loader.errors import LoaderError

EPS = 1e-8
_BOUNDS = {"min_max": ("min", "max"), "quantiles": ("q01", "q99"), "quantile10": ("q10", "q90")}


class Normalizer:
    """Per-feature shift and scale from ``stats`` (feature -> stat name -> array).

    Raises:
        LoaderError: a key without stats, or without the stats its mode needs.
    """

    def __init__(self, stats: Mapping[str, Mapping] | None, modes: Mapping[str, str], *, where: str):
        self.modes = dict(modes)
        self._params: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._torch: dict[str, tuple] = {}
        for key, mode in self.modes.items():
            if stats is None:
                raise LoaderError(f"{where}: no stats, so normalize={mode!r} for {key!r} is impossible "
                                  "(pass stats= or drop normalize=)")
            if key not in stats:
                raise LoaderError(f"{where}: no stats for {key!r} (normalize={mode!r})")
            names = ("mean", "std") if mode == "mean_std" else _BOUNDS[mode]
            missing = [n for n in names if n not in stats[key] or stats[key][n] is None]
            if missing:
                raise LoaderError(f"{where}: stats of {key!r} lack {', '.join(missing)} (normalize={mode!r})")
            low, high = (np.asarray(stats[key][n], dtype=np.float32) for n in names)
            if mode == "mean_std":
                shift, scale = low, high
            else:
                shift, scale = (low + high) / 2, (high - low) / 2
            self._params[key] = (shift, np.where(np.abs(scale) < EPS, EPS, scale).astype(np.float32))

    def __contains__(self, key: str) -> bool:
        return key in self._params

    def _of(self, key: str, value):
        shift, scale = self._params[key]
        if isinstance(value, np.ndarray):
            return shift, scale
        if key not in self._torch:
            import torch

            self._torch[key] = (torch.from_numpy(shift), torch.from_numpy(scale))
        return self._torch[key]

    def normalize(self, key: str, value):
        """``value`` (numpy or torch, float) normalised; keys without a mode pass through."""
        if key not in self._params:
            return value
        shift, scale = self._of(key, value)
        return (value - shift) / scale

    def unnormalize(self, key: str, value):
        """The inverse of :meth:`normalize` (e.g. for a policy's predicted actions)."""
        if key not in self._params:
            return value
        shift, scale = self._of(key, value)
        return value * scale + shift


def stats_from_json(data: Mapping) -> dict[str, dict[str, np.ndarray]]:
    """meta/stats.json as arrays (null -> NaN)."""
    out = {}
    for key, feature in data.items():
        if not isinstance(feature, Mapping):
            continue
        out[key] = {}
        for name, value in feature.items():
            array = np.array(value, dtype=object)
            out[key][name] = np.where(array == None, np.nan, array).astype(np.float64)  # noqa: E711
    return out
