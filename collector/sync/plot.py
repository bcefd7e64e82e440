"""A one-page picture of an episode's sync: streams on one time axis, and the error spread.

matplotlib is imported lazily (headless ``Agg`` backend) so ``collector.sync`` stays light.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from collector.sync.result import SyncResult

_DENSE_HZ = 120.0  # above this, individual messages are not drawn (they would be a solid bar)


def plot_sync(result: SyncResult, path: Path) -> Path:
    """Write a PNG: per stream, frames valid (green) / invalid (red) and message ticks; error histogram."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result.streams)
    origin = result.t0_ns
    seconds = (result.grid_ns - origin) / 1e9
    frame_s = 1.0 / result.fps
    fig, (timeline, errors) = plt.subplots(
        2, 1, figsize=(13, 3 + 0.45 * len(names) + 3.2), gridspec_kw={"height_ratios": [len(names) + 2, 6]}
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
