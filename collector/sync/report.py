"""The sync quality report as text: what ``collector inspect EPISODE --sync`` prints."""

from __future__ import annotations

from collector.sync.result import SyncResult


def _ms(value_ns: float) -> str:
    return f"{value_ns / 1e6:8.3f}"


def format_sync_report(result: SyncResult) -> str:
    """One header, one row per stream, then warnings and refusal reasons (times in ms)."""
    valid = int(result.valid.sum())
    duration = (int(result.grid_ns[-1]) - result.t0_ns) / 1e9 if result.frames else 0.0
    lines = [
        f"sync: {result.episode or '(in memory)'}",
        f"grid: {result.frames} frames at {result.fps:g} fps over {duration:.3f} s; "
        f"{valid} frames valid for every required stream",
        "",
        f"{'stream':18s} {'policy':7s} {'offset ms':>9s} {'drift ppm':>9s} {'jitter ms':>9s} {'gaps':>4s} "
        f"{'missing':>7s} {'err med':>8s} {'err p99':>8s} {'err max':>8s} {'out of tol':>10s} {'invalid':>7s}",
    ]
    for name, alignment in result.streams.items():
        summary = alignment.summary
        if summary is None:
            continue
        lines.append(
            f"{name:18s} {alignment.policy:7s} {summary.offset_ns / 1e6:9.3f} {summary.drift_ppm:9.1f} "
            f"{summary.jitter_ns / 1e6:9.3f} {summary.gaps:4d} {summary.missing:7d} "
            f"{_ms(summary.error_median_ns)} {_ms(summary.error_p99_ns)} {_ms(summary.error_max_ns)} "
            f"{summary.outside_limit:10d} {summary.invalid_frames:7d}"
        )
    lines.append("")
    lines.append("err: |source time used - frame time| over valid frames (0 for interpolated frames, "
                 "which never span more than the stream's gap limit)")
    for warning in result.warnings:
        text = warning.message if warning.message.startswith(warning.stream) else f"{warning.stream}: {warning.message}"
        lines.append(f"warning: {text}")
    for violation in result.violations:
        lines.append(f"REFUSED for export: {violation.stream}: {violation.reason}")
    return "\n".join(lines)
