"""What a :class:`~collector.loader.dataset.CollectorDataset` returns, as one validated dataclass."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from collector.loader.errors import LoaderError

IMAGE_DTYPES = ("float32", "uint8")
NORM_MODES = ("mean_std", "min_max", "quantiles", "quantile10")
SPLITS = ("train", "val")


def _strings(name: str, value) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = (value,)
    value = tuple(value)
    if not all(isinstance(v, str) for v in value):
        raise LoaderError(f"option {name}={value!r} is not a list of strings")
    return value


def _positive_int(name: str, value, *, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise LoaderError(f"option {name}={value!r} is not an integer >= 1")


@dataclass(kw_only=True)
class LoaderConfig:
    """Options of a dataset (all keyword-only; bad values raise :class:`LoaderError`).

    Windows (LeRobot's ``delta_timestamps`` semantics; a windowed key comes back
    stacked ``(T, ...)`` with a ``<key>_is_pad`` bool ``(T,)`` mask, padded entries
    repeating the episode's first or last frame):
        delta_timestamps: key -> offsets in seconds (multiples of 1/fps within ``tolerance_s``).
        delta_indices: key -> offsets in frames.
        action_horizon: N -> ``action`` at frames 0..N-1 ahead (ACT's chunk).
        observation_history: H -> ``observation.state`` and every camera at frames -(H-1)..0.

    Output:
        keys: features to return (default: all of the dataset's).
        image_dtype: cameras as ``float32`` CHW in [0, 1] (default) or ``uint8`` CHW.
        normalize: one mode for ``observation.*`` numeric vectors and ``action``, or
            key -> mode (cameras too): ``mean_std``, ``min_max`` (to [-1, 1]),
            ``quantiles`` (q01..q99 to [-1, 1]), ``quantile10`` (q10..q90 to [-1, 1]).
        stats: feature -> {stat: array} replacing meta/stats.json.

    Selection (by episode; every filter given must hold):
        episodes: episode indices; tasks: task strings; success: True/False label;
        sites, rigs: labels from the episodes table (ours) or the HDF5 attrs.
        split: ``train`` or ``val``: a seeded split of the selected episodes;
        val_fraction (0..1, default 0.1), seed (default 0).

    Decoding:
        tolerance_s: largest |frame time - asked time| accepted (s, LeRobot's 1e-4).
        max_open_files: open video containers / HDF5 files kept per process (LRU).
        decoder_threads: FFmpeg threads per decoder (1 suits DataLoader workers).
    """

    delta_timestamps: Mapping[str, Sequence[float]] | None = None
    delta_indices: Mapping[str, Sequence[int]] | None = None
    action_horizon: int | None = None
    observation_history: int | None = None
    keys: Sequence[str] | None = None
    image_dtype: str = "float32"
    normalize: str | Mapping[str, str] | None = None
    stats: Mapping[str, Mapping] | None = None
    episodes: Sequence[int] | None = None
    tasks: Sequence[str] | None = None
    success: bool | None = None
    sites: Sequence[str] | None = None
    rigs: Sequence[str] | None = None
    split: str | None = None
    val_fraction: float = 0.1
    seed: int = 0
    tolerance_s: float = 1e-4
    max_open_files: int = 16
    decoder_threads: int = 1

    def __post_init__(self) -> None:
        for name in ("delta_timestamps", "delta_indices"):
            value = getattr(self, name)
            if value is None:
                continue
            if not isinstance(value, Mapping):
                raise LoaderError(f"option {name}={value!r} is not a mapping of key -> list of offsets")
            kind = float if name == "delta_timestamps" else int
            for key, offsets in value.items():
                offsets = list(offsets) if not isinstance(offsets, (str, bytes)) else None
                if not offsets or not all(isinstance(o, (int, float)) and not isinstance(o, bool) for o in offsets) \
                        or (kind is int and not all(float(o).is_integer() for o in offsets)):
                    raise LoaderError(f"option {name}[{key!r}]={value[key]!r} is not a non-empty list of "
                                      f"{'seconds' if kind is float else 'integer frame offsets'}")
        _positive_int("action_horizon", self.action_horizon)
        _positive_int("observation_history", self.observation_history)
        self.keys = _strings("keys", self.keys)
        if self.image_dtype not in IMAGE_DTYPES:
            raise LoaderError(f"option image_dtype={self.image_dtype!r} is not one of {', '.join(IMAGE_DTYPES)}")
        modes = [self.normalize] if isinstance(self.normalize, str) else \
            list(self.normalize.values()) if isinstance(self.normalize, Mapping) else []
        if self.normalize is not None and not isinstance(self.normalize, (str, Mapping)):
            raise LoaderError(f"option normalize={self.normalize!r} is not a mode or a mapping key -> mode")
        for mode in modes:
            if mode not in NORM_MODES:
                raise LoaderError(f"option normalize: mode {mode!r} is not one of {', '.join(NORM_MODES)}")
        if self.episodes is not None:
            self.episodes = tuple(self.episodes)
            if not all(isinstance(e, int) and not isinstance(e, bool) and e >= 0 for e in self.episodes):
                raise LoaderError(f"option episodes={self.episodes!r} is not a list of episode indices >= 0")
        self.tasks = _strings("tasks", self.tasks)
        self.sites = _strings("sites", self.sites)
        self.rigs = _strings("rigs", self.rigs)
        if self.success is not None and not isinstance(self.success, bool):
            raise LoaderError(f"option success={self.success!r} is not true, false or unset")
        if self.split is not None and self.split not in SPLITS:
            raise LoaderError(f"option split={self.split!r} is not one of {', '.join(SPLITS)}")
        if isinstance(self.val_fraction, bool) or not isinstance(self.val_fraction, (int, float)) \
                or not 0 <= self.val_fraction < 1:
            raise LoaderError(f"option val_fraction={self.val_fraction!r} is not a number in [0, 1)")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise LoaderError(f"option seed={self.seed!r} is not an integer")
        if isinstance(self.tolerance_s, bool) or not isinstance(self.tolerance_s, (int, float)) \
                or not 0 < self.tolerance_s < 1:
            raise LoaderError(f"option tolerance_s={self.tolerance_s!r} is not a number of seconds in (0, 1)")
        _positive_int("max_open_files", self.max_open_files, allow_none=False)
        _positive_int("decoder_threads", self.decoder_threads, allow_none=False)
