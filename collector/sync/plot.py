"""A one-page picture of an episode's sync: streams on one time axis, and the error spread.

matplotlib is imported lazily (headless ``Agg`` backend) so ``collector.sync`` stays light.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from collector.sync.result import SyncResult

_DENSE_HZ = 120.0  # above this, individual messages are not drawn (they would be a solid bar)
_LATENCY_BIN_S = 0.5


def _plot_latency(axes, result: SyncResult, origin_ns: int) -> None:
    """Per stream with stamps: latency (receive - capture time) over the episode, as the median
    and the max per bin of ``_LATENCY_BIN_S``; solid where measured, dashed where estimated."""
    drawn = False
    for name, alignment in result.streams.items():
        fit = result.clocks[name]
        if fit.latency is None or not len(alignment.message_receive_ns):
            continue
        used = alignment.message_used
        times = (alignment.message_time_ns[used] - origin_ns) / 1e9
        values = (alignment.message_receive_ns[used] - alignment.message_time_ns[used]) / 1e6
        if not len(times):
            continue
        order = np.argsort(times, kind="stable")
        times, values = times[order], values[order]
        bins = np.floor((times - times[0]) / _LATENCY_BIN_S).astype(np.int64)
        starts = np.flatnonzero(np.concatenate([[True], bins[1:] != bins[:-1]]))
        centre = np.array([np.median(times[a:b]) for a, b in zip(starts, np.append(starts[1:], len(times)))])
        median = np.array([np.median(values[a:b]) for a, b in zip(starts, np.append(starts[1:], len(times)))])
        peak = np.maximum.reduceat(values, starts)
        style = "-" if fit.latency.measured else "--"
        (line,) = axes.plot(centre, median, style, linewidth=1.2, label=f"{name} ({fit.clock})")
        axes.plot(centre, peak, style, linewidth=0.6, alpha=0.5, color=line.get_color())
        drawn = True
    limit = result.max_latency_ms
    if drawn:
        if limit:
            axes.axhline(limit, color="#d62728", linewidth=0.8, linestyle=":", label=f"sync.max_latency_ms={limit:g}")
        axes.set_yscale("symlog", linthresh=1.0)
        axes.legend(fontsize=8, ncol=3)
    axes.set_xlabel("seconds from frame 0")
    axes.set_ylabel("latency (ms)")
    axes.set_title("latency: receive - capture time (median and max per 0.5 s; dashed: estimated through a fitted "
                   "clock)", fontsize=10)


def plot_sync(result: SyncResult, path: Path) -> Path:
    """Write a PNG: per stream, frames valid (green) / invalid (red) and message ticks; latency over
    time; error histogram."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result.streams)
    origin = result.t0_ns
    seconds = (result.grid_ns - origin) / 1e9
    frame_s = 1.0 / result.fps
    fig, (timeline, latency, errors) = plt.subplots(
        3, 1, figsize=(13, 3 + 0.45 * len(names) + 6.4), gridspec_kw={"height_ratios": [len(names) + 2, 6, 6]}
    )
    for row, name in enumerate(names):
        alignment = result.streams[name]
        y = len(names) - 1 - row
        for valid, colour in ((True, "#3a9a48"), (False, "#d62728")):
            starts = seconds[alignment.valid == valid]
            if len(starts):
                timeline.broken_barh([(s, frame_s) for s in starts], (y - 0.35, 0.3), facecolors=colour,
                                     linewidth=0, rasterized=True)
        times = alignment.message_time_ns[alignment.message_used] if len(alignment.message_time_ns) else []
        if len(times) and len(times) / max(seconds[-1] - seconds[0], 1e-9) <= _DENSE_HZ:
            ticks = (np.asarray(times) - origin) / 1e9
            timeline.vlines(ticks, y + 0.02, y + 0.35, colors="#1f4e79", linewidth=0.5, rasterized=True)
    timeline.set_yticks(range(len(names)))
    timeline.set_yticklabels(list(reversed(names)))
    timeline.set_xlim(seconds[0] - frame_s, seconds[-1] + 2 * frame_s if len(seconds) else 1)
    timeline.set_xlabel("seconds from frame 0")
    valid = int(result.valid.sum())
    timeline.set_title(
        f"{result.rig}: {result.frames} frames at {result.fps:g} fps, {valid} valid for every required stream\n"
        "bars: frames (green valid, red invalid); ticks: messages at their estimated capture time",
        fontsize=10,
    )
    _plot_latency(latency, result, origin)
    for name, alignment in result.streams.items():
        if alignment.policy not in ("nearest", "hold"):
            continue
        error_ms = alignment.alignment_error_ns[alignment.valid] / 1e6
        if len(error_ms):
            errors.hist(error_ms, bins=60, histtype="step", linewidth=1.2, label=name)
    errors.set_xlabel("alignment error: source time used - frame time (ms), valid frames")
    errors.set_ylabel("frames")
    errors.legend(fontsize=8, ncol=3)
    lines = []
    for name, fit in result.clocks.items():
        if fit.evidence:
            lines.append(f"{name}: declared header, fitted: not on the host clock")
        summary = result.streams[name].summary
        if summary is not None and (summary.offset_ns or summary.drift_ppm):
            lines.append(f"{name}: offset {summary.offset_ns / 1e6:+.2f} ms, drift {summary.drift_ppm:+.0f} ppm, "
                         f"jitter {summary.jitter_ns / 1e6:.2f} ms")
    if lines:
        errors.text(0.99, 0.97, "\n".join(lines[:8]), transform=errors.transAxes, ha="right", va="top",
                    fontsize=8, family="monospace", bbox={"facecolor": "white", "alpha": 0.8, "linewidth": 0})
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
