"""Which episodes a dataset serves: filters on the episodes' labels and a seeded split."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from collector.loader.config import LoaderConfig
from collector.loader.errors import LoaderError


@dataclass(frozen=True, kw_only=True)
class Episode:
    """One episode of a source: its rows are ``start .. start + length - 1``."""

    index: int
    start: int
    length: int
    task: str
    success: bool | None = None
    site: str | None = None
    rig: str | None = None
    where: str = ""


def split_episodes(indices: Sequence[int], *, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """``(train, val)`` episode indices: a permutation seeded by ``seed``; ``val`` gets
    ``round(val_fraction * n)`` episodes (at least 1 when the fraction is > 0 and n > 1).
    The same indices, fraction and seed always give the same split."""
    indices = sorted(indices)
    n_val = int(round(val_fraction * len(indices)))
    if val_fraction > 0 and len(indices) > 1:
        n_val = min(max(n_val, 1), len(indices) - 1)
    order = np.random.default_rng(seed).permutation(len(indices))
    val = sorted(indices[i] for i in order[:n_val])
    chosen = set(val)
    return [i for i in indices if i not in chosen], val


def _label_filter(episodes: list[Episode], name: str, wanted, where: str) -> list[Episode]:
    if wanted is None:
        return episodes
    if all(getattr(e, name) is None for e in episodes):
        raise LoaderError(f"{where}: no episode has a {name} label, cannot select {name}={wanted!r}")
    allowed = set(wanted) if isinstance(wanted, tuple) else {wanted}
    return [e for e in episodes if getattr(e, name) in allowed]


def select(episodes: list[Episode], config: LoaderConfig, *, where: str) -> list[Episode]:
    """The episodes the options keep, in index order.

    Raises:
        LoaderError: an episode index that does not exist, a label no episode has,
            or a selection that keeps nothing.
    """
    kept = list(episodes)
    if config.episodes is not None:
        known = {e.index for e in episodes}
        unknown = sorted(set(config.episodes) - known)
        if unknown:
            raise LoaderError(f"{where}: no episode {unknown[0]} (episodes: {min(known)}..{max(known)})")
        wanted = set(config.episodes)
        kept = [e for e in kept if e.index in wanted]
    if config.tasks is not None:
        wanted = set(config.tasks)
        kept = [e for e in kept if e.task in wanted]
    kept = _label_filter(kept, "success", config.success, where) if kept else kept
    kept = _label_filter(kept, "site", config.sites, where) if kept else kept
    kept = _label_filter(kept, "rig", config.rigs, where) if kept else kept
    if config.split is not None and kept:
        train, val = split_episodes([e.index for e in kept], val_fraction=config.val_fraction, seed=config.seed)
        chosen = set(train if config.split == "train" else val)
        kept = [e for e in kept if e.index in chosen]
    if not kept:
        raise LoaderError(f"{where}: the selection keeps no episode")
    return sorted(kept, key=lambda e: e.index)
