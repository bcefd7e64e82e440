"""Exact capture accounting for ``bench/record_throughput.py`` (no ROS here).

The synthetic robot writes one ground-truth line per message (stream, seq,
true time, header stamp, published). A recorder's capture of a stream is
judged on the window its own recording spans: the published messages whose
``header.stamp`` lies within [first recorded stamp, last recorded stamp] of
that stream, and how many of exactly those stamps were recorded. Stamps are
unique per stream (the robot runs without faults), so this is a set
intersection, not an estimate.

Also here: the robot's publishing progress read from its ground-truth file
while it runs (to tell a saturated publisher from a lossy recorder). CPU time
and memory of processes are in ``bench/machine.py``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

_TAIL_BYTES = 16384


# --------------------------------------------------------------------------- ground truth


@dataclass(frozen=True)
class StreamTruth:
    """Ground truth of one stream: sorted header stamps (ns) of published and of dropped messages."""

    published: np.ndarray
    dropped: np.ndarray


def read_truth(path: Path) -> dict[str, StreamTruth]:
    """The robot's ground truth (JSON lines), per stream name."""
    published: dict[str, list[int]] = {}
    dropped: dict[str, list[int]] = {}
    with open(path, encoding="utf-8") as file:
        for line in file:
            if not line.strip():
                continue
            record = json.loads(line)
            target = published if record["published"] else dropped
            target.setdefault(record["stream"], []).append(record["stamp_ns"])
    names = set(published) | set(dropped)
    return {
        name: StreamTruth(np.sort(np.asarray(published.get(name, []), dtype=np.int64)),
                          np.sort(np.asarray(dropped.get(name, []), dtype=np.int64)))
        for name in names
    }


def truth_progress_ns(path: Path) -> int | None:
    """True time (ns) of the last message the robot has written to its truth file so far.

    Reads the tail of the file while the robot writes it (``<truth>.partial``
    until the robot stops); lines come in due-time order, so the last complete
    line is the robot's progress. Lags the robot by at most its write buffer
    (~8 KB, a few tens of ms). None when nothing complete is there yet.
    """
    try:
        with open(path, "rb") as file:
            file.seek(0, os.SEEK_END)
            size = file.tell()
            file.seek(max(0, size - _TAIL_BYTES))
            tail = file.read()
    except OSError:
        return None
    for line in reversed(tail.split(b"\n")[:-1]):  # the piece after the last newline may be incomplete
        try:
            return int(json.loads(line)["true_time_ns"])
        except (ValueError, KeyError):
            continue
    return None


# --------------------------------------------------------------------------- capture


@dataclass(frozen=True, kw_only=True)
class StreamCapture:
    """Capture of one stream over its recorded window (stamps in ns).

    ``published``: messages the robot published with a stamp in
    [``first_stamp_ns``, ``last_stamp_ns``]; ``captured``: how many of those
    were recorded (each once); ``duplicates``: recorded more than once;
    ``foreign``: recorded stamps the robot never published in that window
    (another publisher on the domain, or a bug).
    """

    stream: str
    published: int
    captured: int
    recorded: int
    duplicates: int
    foreign: int
    first_stamp_ns: int | None
    last_stamp_ns: int | None

    @property
    def lost(self) -> int:
        return self.published - self.captured

    @property
    def capture(self) -> float:
        """Fraction captured; 0.0 when nothing was recorded."""
        return self.captured / self.published if self.published else 0.0

    def to_dict(self) -> dict:
        data = asdict(self)
        data.update(lost=self.lost, capture_pct=100.0 * self.capture)
        return data


def stream_capture(stream: str, truth: StreamTruth | None, recorded_stamps: Iterable[int],
                   fallback_window: tuple[int, int]) -> StreamCapture:
    """Match a stream's recorded stamps against the published ones (exact).

    ``fallback_window`` (ns) is the window judged when nothing at all was
    recorded: every message published in it counts as lost.
    """
    recorded = np.asarray(list(recorded_stamps), dtype=np.int64)
    published_all = truth.published if truth is not None else np.empty(0, dtype=np.int64)
    if recorded.size:
        first, last = int(recorded.min()), int(recorded.max())
    else:
        first, last = fallback_window
    lo = np.searchsorted(published_all, first, side="left")
    hi = np.searchsorted(published_all, last, side="right")
    window = published_all[lo:hi]
    unique = np.unique(recorded)
    captured = int(np.isin(unique, window, assume_unique=True).sum())
    return StreamCapture(
        stream=stream,
        published=int(window.size),
        captured=captured,
        recorded=int(recorded.size),
        duplicates=int(recorded.size - unique.size),
        foreign=int(unique.size - captured),
        first_stamp_ns=first if recorded.size else None,
        last_stamp_ns=last if recorded.size else None,
    )
