"""Summarize a bag per topic: counts, rates, gaps and header-stamp skew.

Header stamps are read straight from the CDR bytes, without deserialising
(:func:`collector.cdr.header.header_stamp_ns`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from collector.bag.msgdef import definition_has_header, has_header
from collector.bag.reader import TopicInfo, open_bag
from collector.cdr.header import header_stamp_ns
from collector.errors import BagError


@dataclass(frozen=True, kw_only=True)
class TopicSummary:
    """Statistics of one topic. Times are int ns; rates in Hz; None when undefined.

    ``header_skew_*`` compare receive time with ``header.stamp`` as
    ``receive - stamp`` (positive: the stamp is older than the receive time), over
    messages with a non-zero stamp; ``header_skew_max_ns`` is the skew of largest
    magnitude, sign kept.
    """

    name: str
    msgtype: str
    count: int
    rate_hz: float | None
    first_receive_ns: int | None
    last_receive_ns: int | None
    max_gap_ns: int | None
    has_header: bool
    header_skew_median_ns: int | None = None
    header_skew_max_ns: int | None = None
    zero_stamps: int = 0
    unreadable_stamps: int = 0


@dataclass(frozen=True, kw_only=True)
class BagSummary:
    """Summary of a whole bag (times in int ns since the epoch)."""

    path: str
    files: list[str]
    message_count: int
    start_ns: int | None
    end_ns: int | None
    topics: list[TopicSummary] = field(default_factory=list)

    @property
    def duration_ns(self) -> int:
        """Receive-time span of the bag."""
        if self.start_ns is None or self.end_ns is None:
            return 0
        return self.end_ns - self.start_ns

    def topic(self, name: str) -> TopicSummary:
        """The summary of topic ``name``.

        Raises:
            BagError: no such topic in the bag.
        """
        for topic in self.topics:
            if topic.name == name:
                return topic
        raise BagError(f"topic {name!r} is not in {self.path}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serializable dict (for ``collector inspect --json``)."""
        data = asdict(self)
        data["duration_ns"] = self.duration_ns
        return data


def _topic_has_header(topic: TopicInfo) -> bool:
    if topic.msgdef and topic.msgdef_encoding == "ros2msg":
        return definition_has_header(topic.msgdef)
    try:
        return has_header(topic.msgtype)
    except BagError:
        return False  # unknown type without a stored definition: treat as header-less


def _summarize(topic: TopicInfo, header: bool, log_times: list[int], stamps: list[int | None]) -> TopicSummary:
    count = len(log_times)
    if count == 0:
        return TopicSummary(
            name=topic.name, msgtype=topic.msgtype, count=0, rate_hz=None, first_receive_ns=None,
            last_receive_ns=None, max_gap_ns=None, has_header=header,
        )
    times = np.asarray(log_times, dtype=np.int64)
    order = np.argsort(times, kind="stable")
    times = times[order]
    first, last = int(times[0]), int(times[-1])
    span = last - first
    rate = (count - 1) / (span / 1e9) if count > 1 and span > 0 else None
    gap = int(np.diff(times).max()) if count > 1 else None
    skew_median = skew_max = None
    zero = unreadable = 0
    if header:
        unreadable = sum(1 for s in stamps if s is None)
        zero = sum(1 for s in stamps if s == 0)
        valid = [(t, s) for t, s in zip(log_times, stamps) if s]
        if valid:
            skew = np.asarray([t - s for t, s in valid], dtype=np.int64)
            skew_median = int(np.median(skew))
            skew_max = int(skew[np.argmax(np.abs(skew))])
    return TopicSummary(
        name=topic.name, msgtype=topic.msgtype, count=count, rate_hz=rate, first_receive_ns=first,
        last_receive_ns=last, max_gap_ns=gap, has_header=header, header_skew_median_ns=skew_median,
        header_skew_max_ns=skew_max, zero_stamps=zero, unreadable_stamps=unreadable,
    )


def inspect_bag(path: Path) -> BagSummary:
    """Read every message of the bag at ``path`` and summarize it per topic.

    Raises:
        BagError: the bag cannot be opened or read (see :func:`collector.bag.reader.open_bag`).
    """
    with open_bag(Path(path)) as reader:
        topics = sorted(reader.topics, key=lambda t: t.name)
        header = {t.name: _topic_has_header(t) for t in topics}
        log_times: dict[str, list[int]] = {t.name: [] for t in topics}
        stamps: dict[str, list[int | None]] = {t.name: [] for t in topics}
        for message in reader.messages(ordered=False):
            log_times.setdefault(message.topic, []).append(message.log_time_ns)
            if header.get(message.topic):
                stamps[message.topic].append(header_stamp_ns(message.data))
        summaries = [_summarize(t, header[t.name], log_times[t.name], stamps[t.name]) for t in topics]
        files = [str(p) for p in reader.files]
        bag_path = str(reader.path)
    firsts = [s.first_receive_ns for s in summaries if s.first_receive_ns is not None]
    lasts = [s.last_receive_ns for s in summaries if s.last_receive_ns is not None]
    return BagSummary(
        path=bag_path,
        files=files,
        message_count=sum(s.count for s in summaries),
        start_ns=min(firsts) if firsts else None,
        end_ns=max(lasts) if lasts else None,
        topics=summaries,
    )


def _decimals(ns: int | None) -> int:
    """Decimals of seconds needed to show ``ns`` sensibly (ns-scale fake times stay visible)."""
    if not ns:
        return 3
    magnitude = abs(ns)
    return 3 if magnitude >= 1_000_000_000 else 6 if magnitude >= 1_000_000 else 9


def _seconds(ns: int | None, decimals: int | None = None, signed: bool = False) -> str:
    if ns is None:
        return "-"
    decimals = _decimals(ns) if decimals is None else decimals
    return f"{ns / 1e9:{'+' if signed else ''}.{decimals}f}"


def _column(values: list[int | None], signed: bool = False) -> list[str]:
    """Seconds with one precision per column, enough for its smallest non-zero value."""
    decimals = max((_decimals(v) for v in values if v), default=3)
    return [_seconds(v, decimals, signed) for v in values]


def _rate(rate: float | None) -> str:
    if rate is None:
        return "-"
    return f"{rate:.1f}" if rate < 1e6 else f"{rate:.3g}"


def format_summary(summary: BagSummary) -> str:
    """Plain-text report of a :class:`BagSummary` (what ``collector inspect`` prints).

    Receive times are seconds relative to the bag start; skews are ``receive - header.stamp``.
    """
    lines = [
        f"bag:       {summary.path}",
        f"files:     {len(summary.files)} ({', '.join(Path(f).name for f in summary.files)})",
        f"messages:  {summary.message_count}",
        f"start:     {_seconds(summary.start_ns)} s since epoch",
        f"duration:  {_seconds(summary.duration_ns)} s",
        "",
    ]
    start = summary.start_ns or 0
    topics = summary.topics
    first = _column([None if t.first_receive_ns is None else t.first_receive_ns - start for t in topics])
    last = _column([None if t.last_receive_ns is None else t.last_receive_ns - start for t in topics])
    gap = _column([t.max_gap_ns for t in topics])
    skew_med = _column([t.header_skew_median_ns for t in topics], signed=True)
    skew_max = _column([t.header_skew_max_ns for t in topics], signed=True)
    header = ["topic", "type", "count", "rate Hz", "first s", "last s", "max gap s",
              "skew med s", "skew max s", "zero stamps"]
    rows = []
    for i, t in enumerate(topics):
        rows.append([
            t.name, t.msgtype, str(t.count), _rate(t.rate_hz), first[i], last[i], gap[i],
            skew_med[i] if t.has_header else "no header",
            skew_max[i] if t.has_header else "",
            str(t.zero_stamps) if t.has_header else "",
        ])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    left = {0, 1}
    for row in [header, *rows]:
        cells = [c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"
