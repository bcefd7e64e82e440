"""The sync quality report as text: what ``collector inspect EPISODE --sync`` prints."""

from __future__ import annotations

import numpy as np

from collector.sync.result import SyncResult


def _ms(value_ns: float) -> str:
    return f"{value_ns / 1e6:8.3f}"


def _latency(summary) -> str:
    latency = summary.latency
    if latency is None:
        return f"{'-':>8s} {'-':>8s} {'-':>8s} {'-':>8s}"
    mark = "" if latency.measured else "~"
    return " ".join(f"{mark}{value / 1e6:.3f}".rjust(8)
                    for value in (latency.min_ns, latency.median_ns, latency.p99_ns, latency.max_ns))


def format_sync_report(result: SyncResult) -> str:
    """A header, a clock table and an alignment table (one row per stream), then warnings
    and refusal reasons (times in ms)."""
    valid = int(result.valid.sum())
    duration = (int(result.grid_ns[-1]) - result.t0_ns) / 1e9 if result.frames else 0.0
    lines = [
        f"sync: {result.episode or '(in memory)'}",
        f"grid: {result.frames} frames at {result.fps:g} fps over {duration:.3f} s; "
        f"{valid} frames valid for every required stream",
        "reference clock: the recording host's clock (receive times); header stamps on it are used as they are",
        "",
        f"{'stream':18s} {'clock':15s} {'offset ms':>10s} {'drift ppm':>13s} {'jitter ms':>9s} "
        f"{'lat min':>8s} {'lat med':>8s} {'lat p99':>8s} {'lat max':>8s}",
    ]
    summaries = {name: a.summary for name, a in result.streams.items() if a.summary is not None}
    for name, summary in summaries.items():
        clock = summary.clock if summary.clock == summary.declared else f"{summary.declared}->{summary.clock}"
        if summary.clock == "device":
            sigma = f"{summary.drift_sigma_ppm:.0f}" if np.isfinite(summary.drift_sigma_ppm) else "?"
            fitted = (f"{summary.offset_ns / 1e6:10.3f} {f'{summary.drift_ppm:.1f}+-{sigma}':>13s} "
                      f"{summary.jitter_ns / 1e6:9.3f}")
        else:
            fitted = f"{'-':>10s} {'-':>13s} {'-':>9s}"
        lines.append(f"{name:18s} {clock:15s} {fitted} {_latency(summary)}")
    lines += [
        "",
        f"{'stream':18s} {'policy':7s} {'gaps':>4s} {'missing':>7s} {'err med':>8s} {'err p99':>8s} "
        f"{'err max':>8s} {'out of tol':>10s} {'invalid':>7s}",
    ]
    for name, summary in summaries.items():
        lines.append(
            f"{name:18s} {result.streams[name].policy:7s} {summary.gaps:4d} {summary.missing:7d} "
            f"{_ms(summary.error_median_ns)} {_ms(summary.error_p99_ns)} {_ms(summary.error_max_ns)} "
            f"{summary.outside_limit:10d} {summary.invalid_frames:7d}"
        )
    lines.append("")
    lines.append("clock: header = stamps trusted as they are (latency measured); device = offset and drift fitted "
                 "(drift 0 where the data do not support one; +- its standard error; ~latency: estimated through "
                 "the fit); receive = receive time minus the rig's latency_ms")
    lines.append("err: |source time used - frame time| over valid frames (0 for interpolated frames, "
                 "which never span more than the stream's gap limit)")
    for warning in result.warnings:
        text = warning.message if warning.message.startswith(warning.stream) else f"{warning.stream}: {warning.message}"
        lines.append(f"warning: {text}")
    for violation in result.violations:
        lines.append(f"REFUSED for export: {violation.stream}: {violation.reason}")
    return "\n".join(lines)
