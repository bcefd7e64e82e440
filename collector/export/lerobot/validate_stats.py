"""``meta/stats.json`` of a LeRobot dataset against its data (part of :mod:`collector.export.lerobot.validate`).

Every feature needs ``min, max, mean, std, count, q01, q10, q50, q90, q99``. Numeric
features must equal :func:`~collector.export.lerobot.stats.numeric_stats` over all data
rows (rtol = atol = 1e-6), as our writer computes them; the quantiles too when the
dataset is ours (``exact_quantiles``): LeRobot's own writer averages the episodes'
quantiles, so for its datasets they need only be in order. Image and video features
(stats from a sample of pixels, not recomputed here) must be ``(channels, 1, 1)`` with
``min <= q01 <= ... <= q99 <= max`` and ``min <= mean <= max`` (within 1e-6).

A feature of an optional stream is recomputed over the rows where its validity column
is true (``validity``: info.json ``collector.validity``, feature -> validity column), as
the writer counts it; a validity column that is not a bool feature of the data is a problem.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from collector.export.lerobot.layout import STATS_PATH
from collector.export.lerobot.stats import QUANTILES, STAT_NAMES, numeric_stats, valid_rows

STATS_RTOL = STATS_ATOL = 1e-6
IMAGE_DTYPES = ("video", "image")
LADDER = ("min", *QUANTILES, "max")


def _show(values: np.ndarray) -> str:
    return np.array2string(np.asarray(values, dtype=np.float64).reshape(-1)[:4], precision=6, separator=", ")


def check_validity(features: Mapping[str, dict], validity: object) -> tuple[dict[str, str], list[str]]:
    """The usable part of info.json ``collector.validity`` and a message per bad entry."""
    if not isinstance(validity, Mapping):
        return {}, [f"collector.validity is {type(validity).__name__}, not an object"]
    usable, found = {}, []
    for key, gate in validity.items():
        if key not in features or not isinstance(gate, str) or features.get(gate, {}).get("dtype") != "bool":
            found.append(f"collector.validity: {key!r} -> {gate!r} is not a feature gated by a bool feature")
        else:
            usable[key] = gate
    return usable, found


def check_stats(root: Path, features: Mapping[str, dict], columns: Mapping[str, np.ndarray], *,
                exact_quantiles: bool, validity: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """``(where, message)`` per feature whose stats are missing or wrong (module doc);
    ``columns`` are the numeric data columns (a feature without one is not recomputed);
    ``validity``: feature -> its validity column (:func:`check_validity`)."""
    validity = {k: v for k, v in (validity or {}).items() if v in columns}
    try:
        stats = json.loads((Path(root) / STATS_PATH).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [(STATS_PATH, "missing")]
    except (OSError, ValueError) as err:
        return [(STATS_PATH, f"does not parse ({err})")]
    found = []
    for key, feature in features.items():
        entry = stats.get(key) if isinstance(stats, dict) else None
        missing = [name for name in STAT_NAMES if not isinstance(entry, dict) or name not in entry]
        if missing:
            found.append(f"{key}: no {', '.join(missing)}")
            continue
        try:
            stored = {name: np.array(entry[name], dtype=np.float64) for name in STAT_NAMES}
        except (TypeError, ValueError):
            found.append(f"{key}: stats are not numbers or nested lists of one shape")
            continue
        if feature["dtype"] in IMAGE_DTYPES:
            found += _image(key, int(feature["shape"][-1]), stored)
        elif key in columns:
            found += _numeric(key, stored, columns[key][valid_rows(columns, validity, key)], exact_quantiles)
    return [(STATS_PATH, message) for message in found]


def _numeric(key: str, stored: dict[str, np.ndarray], values: np.ndarray, exact_quantiles: bool) -> list[str]:
    expected = numeric_stats(values)
    differ = []  # one problem per feature: the first stat that differs, then the others' names
    for name in STAT_NAMES if exact_quantiles else ("min", "max", "mean", "std", "count"):
        have, want = stored[name], np.asarray(expected[name], dtype=np.float64)
        if have.shape != want.shape:
            differ.append((name, f"{name} has shape {have.shape}, the data gives {want.shape}"))
            continue
        close = np.isclose(have, want, rtol=STATS_RTOL, atol=STATS_ATOL, equal_nan=True).reshape(-1)
        if not close.all():
            i = int(np.flatnonzero(~close)[0])
            differ.append((name, f"{name}[{i}] is {have.reshape(-1)[i]:.10g}, the data gives "
                                 f"{want.reshape(-1)[i]:.10g}"))
    found = []
    if differ:
        more = f" ({', '.join(n for n, _ in differ[1:])} differ too)" if len(differ) > 1 else ""
        found.append(f"{key}: {differ[0][1]}{more}")
    return found if exact_quantiles else found + _ordered(key, stored)


def _image(key: str, channels: int, stored: dict[str, np.ndarray]) -> list[str]:
    shape = (channels, 1, 1)
    wrong = [f"{name} {stored[name].shape}" for name in STAT_NAMES if name != "count" and stored[name].shape != shape]
    if wrong:
        return [f"{key}: expected shape {shape}, got {', '.join(wrong)}"]
    return _ordered(key, stored)


def _ordered(key: str, stored: dict[str, np.ndarray]) -> list[str]:
    """min <= q01 <= ... <= q99 <= max and min <= mean <= max (within STATS_ATOL)."""
    try:
        ladder = np.stack([stored[name] for name in LADDER]).reshape(len(LADDER), -1)
    except ValueError:
        return [f"{key}: {', '.join(LADDER)} differ in shape"]
    found = []
    down = np.diff(ladder, axis=0) < -STATS_ATOL
    if down.any():
        step, element = (int(i[0]) for i in np.nonzero(down))
        found.append(f"{key}: {LADDER[step]}[{element}] = {ladder[step, element]:.10g} > "
                     f"{LADDER[step + 1]}[{element}] = {ladder[step + 1, element]:.10g}")
    low, mean, high = stored["min"], stored["mean"], stored["max"]
    if mean.shape != low.shape or ((mean < low - STATS_ATOL) | (mean > high + STATS_ATOL)).any():
        found.append(f"{key}: mean {_show(mean)} is not within [min {_show(low)}, max {_show(high)}]")
    return found
