"""Sync accuracy and speed: ``collector.sync`` against "latest value at loop time", same episode.

    .venv/bin/python bench/sync_accuracy.py [--seconds 60] [--scenario-seconds 30] [--quick] [--seed 7] \\
        [--json-out results.json] [--keep] [--out-dir DIR]

One synthetic Bao'an episode (all 11 streams, VGA images) is written with the
default latency model (cameras 8 ms + exp(1 ms), others 0.3 ms + exp(0.2 ms)),
the constant parts declared in the rig as ``latency_ms`` (as
``tests/sync/test_end_to_end.py`` does), and these faults on the four cameras:
35 ms header-clock offset, 200 ppm drift, 3 ms stamp jitter, 1% drops. The
other streams are fault-free. The writer's ground truth gives every message's
true capture time.

Metric (printed with the tables): in every grid frame ``k`` a method puts, per
stream, data that really comes from some true capture time, and claims a time
for it. Timing error = |claimed time - true time of the data used|.

* ours: ``nearest``/``hold``: claimed = ``source_time_ns[k]``, true = the truth of
  message ``i0[k]``; ``linear``/``slerp``: claimed = ``t_k``, true =
  ``(1 - w) * true[i0] + w * true[i1]`` (``w = weight[k]``, the weight of ``i1``,
  as the values are blended). Valid frames only; invalid frames (no sample within
  the policy limit, e.g. a dropped image) carry no data and are counted apart.
* baseline: a loop ticking at the grid times on the receive clock takes each
  stream's latest message received at or before the tick and files it under the
  tick: claimed = ``t_k``, true = that message's truth. Ticks before a stream's
  first message carry nothing.

Also reported for ours: |t_k - true time of the data used| (how far the data is
from the frame it is filed under; for the baseline that is its timing error).

Clock scenarios (issue 12): four episodes written by an independent writer
(rosbags, ``tests/sync/truth.py``) with known truth, scored the same way:
``shared_clock`` (every stream on the host clock, cameras 18-35 ms latency with
bursts of 100-300 ms), ``controller_clock`` (joints and action stamped by a
controller 40 ms ahead, 30 ppm), ``device_camera`` (a camera clock 3.2 s behind)
and ``mixed`` (all three, 1% drops). The cameras of the synthetic episode above
are declared ``clock: device`` there: their stamps are on their own clocks.

Speed: ``synchronize(path, keep=True)`` timed twice on the episode just written
(the first run's bag is in the page cache already, since it was just written;
the second also has warm Python caches), in grid frames/s and messages/s.
``keep=True`` only changes what happens when the rig's limits are broken
(report instead of refuse), not the work done.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from rich import box  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.panel import Panel  # noqa: E402
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn  # noqa: E402
from rich.table import Table  # noqa: E402
from rich.text import Text  # noqa: E402

from bench.sync_baseline import MessageTruth, latest_at_loop_time, truth_by_message  # noqa: E402
from collector.errors import CollectorError  # noqa: E402
from collector.rig import Rig, load_rig, parse_rig  # noqa: E402

DEFAULT_RIG = "baoan_humanoid"
DEFAULT_SECONDS = 60.0
QUICK_SECONDS = 10.0
DEFAULT_SEED = 7
START_NS = 1_750_000_000_000_000_000  # fixed: reproducible bytes
CAMERA_ROLES = ("camera", "depth")
CAMERA_FAULTS = {"offset_ms": 35, "drift_ppm": 200, "jitter_ms": 3, "drop_rate": 0.01}
# the constant part of the synthetic writer's default latency model, declared as a calibrated rig would
LATENCY_MS = {"camera": 8.0, "depth": 8.0}
OTHER_LATENCY_MS = 0.3
TARGET_MEDIAN_MS = 0.5
TARGET_P99_MS = 2.0
NS_PER_MS = 1e6

METRIC = (
    "Timing error = |claimed time - true capture time of the data used|, per grid frame k and stream.\n"
    "ours, nearest/hold: claimed = source_time_ns[k] (estimated capture time), true = truth of message i0[k].\n"
    "ours, linear/slerp: claimed = t_k, true = (1-w)*true[i0] + w*true[i1], w = weight[k] (weight of i1).\n"
    "   Valid frames only; invalid frames (no sample within the policy limit) carry no data: 'valid' column.\n"
    "baseline (latest value at loop time): ticks at the same t_k on the receive clock; per stream the latest\n"
    "   message received at or before t_k, claimed = t_k, error = t_k - true time of that message.\n"
    "|t_k - true|: distance of the data used from the frame time (ours; for the baseline = its timing error).\n"
    f"Target for ours: median <= {TARGET_MEDIAN_MS} ms, p99 <= {TARGET_P99_MS} ms. ratio = baseline / ours."
)

console = Console(width=None if sys.stdout.isatty() else 170)  # piped: wide enough for the tables


# --------------------------------------------------------------------------- episode


def bench_rig(name: str) -> Rig:
    """The shipped rig ``name`` with the synthetic latency model's constant parts as ``latency_ms``,
    and the cameras (whose stamps get an offset and drift here) on ``clock: device``."""
    import yaml

    doc = yaml.safe_load(load_rig(name).text)
    for stream in doc["streams"]:
        stream["latency_ms"] = LATENCY_MS.get(stream["role"], OTHER_LATENCY_MS)
        if stream["role"] in CAMERA_ROLES:
            stream["clock"] = "device"
    return parse_rig(yaml.safe_dump(doc, sort_keys=False), source=f"{name}_bench_latency.yaml")


def camera_faults(rig: Rig) -> dict[str, dict[str, float]]:
    return {s.name: dict(CAMERA_FAULTS) for s in rig.streams if s.role in CAMERA_ROLES}


def directory_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


# --------------------------------------------------------------------------- metric


def ours_errors(alignment, truth: MessageTruth, grid_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Signed (claimed - true) and (t_k - true) over the valid frames of one stream, float64 ns.

    Absolute times (~1.75e18 ns) do not fit a float64 exactly: differences are taken
    in int64 first, relative to the true time of ``i0``.
    """
    valid = alignment.valid & (alignment.i0 >= 0)
    i0, i1, weight = alignment.i0[valid], alignment.i1[valid], alignment.weight[valid]
    true0 = truth.true_ns[i0]
    span = (truth.true_ns[i1] - true0).astype(np.float64)
    true_rel = weight * span  # true time of the data used, relative to true0
    claimed = (alignment.source_time_ns[valid] - true0).astype(np.float64) - true_rel
    frame = (grid_ns[valid] - true0).astype(np.float64) - true_rel
    return claimed, frame


def baseline_errors(truth: MessageTruth, grid_ns: np.ndarray) -> np.ndarray:
    """Signed (t_k - true) over the ticks that have a message, int64 ns."""
    index = latest_at_loop_time(truth.receive_ns, grid_ns)
    ok = index >= 0
    return grid_ns[ok] - truth.true_ns[index[ok]]


def stats(errors_ns: np.ndarray) -> dict[str, float]:
    """|error| median, p99, max (ms) and count; NaN when empty."""
    err = np.abs(np.asarray(errors_ns, dtype=np.float64))
    if len(err) == 0:
        return {"n": 0, "median_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan")}
    return {"n": int(len(err)), "median_ms": float(np.median(err)) / NS_PER_MS,
            "p99_ms": float(np.percentile(err, 99)) / NS_PER_MS, "max_ms": float(err.max()) / NS_PER_MS}


def meets_target(s: dict[str, float]) -> bool:
    return s["n"] > 0 and s["median_ms"] <= TARGET_MEDIAN_MS and s["p99_ms"] <= TARGET_P99_MS


def ratio(baseline: float, ours: float) -> float:
    return baseline / ours if ours > 0 else float("inf")


def summarize(ours: np.ndarray, frame: np.ndarray, base: np.ndarray, frames: int, valid: int, ticks: int) -> dict:
    o, b = stats(ours), stats(base)
    return {"frames": frames, "ours_valid": valid, "baseline_ticks": ticks, "ours": o,
            "ours_frame_offset": stats(frame),
            "baseline": b, "ratio_median": ratio(b["median_ms"], o["median_ms"]),
            "ratio_p99": ratio(b["p99_ms"], o["p99_ms"]), "pass": meets_target(o)}


def check_mapping(timelines, truth: dict[str, MessageTruth]) -> None:
    """Message index i of sync == truth row i: same receive time and header stamp, per stream.

    Raises:
        AssertionError: naming the stream, when the bag and the truth disagree.
    """
    for name, timeline in timelines.items():
        rows = truth[name]
        if len(timeline) != len(rows):
            raise AssertionError(f"{name}: bag has {len(timeline)} messages, truth {len(rows)} published")
        if not np.array_equal(timeline.message_index, np.arange(len(rows))):
            raise AssertionError(f"{name}: message_index is not 0..N-1 in receive order")
        same = np.array_equal(timeline.receive_ns, rows.receive_ns) and np.array_equal(timeline.stamp_ns, rows.stamp_ns)
        if not same:
            raise AssertionError(f"{name}: receive times or header stamps differ from the truth")


# --------------------------------------------------------------------------- run


def run(args: argparse.Namespace) -> dict:
    """Write the episode, sync it (timed twice), score both methods; returns the results."""
    from collector.drivers.synthetic_episode import write_synthetic_episode
    from collector.sync import synchronize
    from collector.sync.timeline import read_timelines

    started = time.perf_counter()
    seconds = QUICK_SECONDS if args.quick and args.seconds is None else (args.seconds or DEFAULT_SECONDS)
    rig = bench_rig(args.rig)
    faults = camera_faults(rig)
    cameras = list(faults)
    console.print(f"sync_accuracy: rig {rig.rig} ({len(rig.streams)} streams, {rig.fps:g} fps), {seconds:g} s, "
                  f"seed {args.seed}; faults on {', '.join(cameras)}: {CAMERA_FAULTS}; "
                  f"{os.cpu_count()} CPUs, Python {platform.python_version()}")
    parent = Path(args.out_dir) if args.out_dir else None
    if parent:
        parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="sync_accuracy_", dir=parent))
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                        console=console, refresh_per_second=4)
    try:
        with progress:
            task = progress.add_task(f"writing {seconds:g} s synthetic episode", total=None)
            t = time.perf_counter()
            episode = write_synthetic_episode(work, rig, seconds=seconds, seed=args.seed, faults=faults,
                                              start_ns=START_NS)
            write_s = time.perf_counter() - t
            size = directory_bytes(episode.path)
            progress.update(task, description=f"episode written: {size / 1e9:.2f} GB in {write_s:.1f} s", total=1,
                            completed=1)
            runs = []
            result = None
            for label in ("first", "second"):
                task = progress.add_task(f"synchronize #{len(runs) + 1} ({label})", total=None)
                t = time.perf_counter()
                result = synchronize(episode.path, keep=True)
                elapsed = time.perf_counter() - t
                runs.append(elapsed)
                progress.update(task, description=f"synchronize #{len(runs)} ({label}): {elapsed:.2f} s", total=1,
                                completed=1)
            task = progress.add_task("reading timelines (mapping check)", total=None)
            t = time.perf_counter()
            timelines = read_timelines(episode.path, rig)
            read_s = time.perf_counter() - t
            truth = truth_by_message(episode.truth)
            check_mapping(timelines, truth)
            progress.update(task, description=f"timelines read in {read_s:.2f} s; message index == truth row: ok",
                            total=1, completed=1)
            task = progress.add_task("scoring", total=None)
            results = score(result, truth, rig, cameras)
            progress.update(task, description="scored", total=1, completed=1)
    finally:
        if args.keep:
            console.print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    results["scenarios"] = run_scenarios(work.parent if args.keep else Path(tempfile.mkdtemp(prefix="sync_scn_")),
                                         args.scenario_seconds, keep=args.keep)
    messages = sum(len(a.message_time_ns) for a in result.streams.values())
    duration_s = (int(result.grid_ns[-1]) - result.t0_ns) / 1e9 if result.frames else 0.0
    results["speed"] = {
        "episode_s": seconds, "grid_s": duration_s, "frames": result.frames, "messages": messages,
        "bag_gb": size / 1e9, "write_s": write_s, "read_timelines_s": read_s,
        "runs": [{"label": label, "seconds": s, "frames_per_s": result.frames / s, "messages_per_s": messages / s,
                  "x_realtime": seconds / s} for label, s in zip(("first", "second (warm)"), runs)],
    }
    results["config"] = {"rig": rig.rig, "seconds": seconds, "seed": args.seed, "start_ns": START_NS,
                         "fps": result.fps, "camera_faults": CAMERA_FAULTS, "cameras": cameras,
                         "latency_ms": {s.name: s.latency_ms for s in rig.streams},
                         "targets": {"median_ms": TARGET_MEDIAN_MS, "p99_ms": TARGET_P99_MS},
                         "python": platform.python_version(), "cpus": os.cpu_count()}
    results["sync_warnings"] = [w.to_dict() for w in result.warnings]
    results["sync_violations"] = [v.to_dict() for v in result.violations]
    results["runtime_s"] = time.perf_counter() - started
    return results


def run_scenarios(parent: Path, seconds: float, *, keep: bool) -> dict:
    """Write each clock scenario with rosbags, sync it, score ours and the baseline against the truth."""
    from collector.sync import synchronize
    from tests.sync import truth as scenarios

    out = {}
    work = Path(tempfile.mkdtemp(prefix="scenarios_", dir=parent))
    try:
        for make in (scenarios.shared_clock, scenarios.controller_clock, scenarios.device_camera, scenarios.mixed):
            episode = scenarios.write_episode(work, make(seconds=seconds))
            result = synchronize(episode.path, keep=True)
            truth = {name: MessageTruth(true_ns=t.true_ns, stamp_ns=t.stamp_ns, receive_ns=t.receive_ns, seq=t.seq)
                     for name, t in episode.streams.items()}
            cameras = [s.name for s in episode.rig.streams if s.role in CAMERA_ROLES]
            scored = score(result, truth, episode.rig, cameras)
            clocks = {}
            for name, t in episode.streams.items():
                fit = result.clocks[name]
                entry = {"declared": t.spec.clock, "used": fit.clock,
                         "injected_offset_ms": t.spec.offset_ms, "injected_drift_ppm": t.spec.drift_ppm,
                         "latency_injected_ms": list(t.spec.latency_ms)}
                if fit.clock == "device":  # offset at the main segment's anchor, against the truth there
                    main = fit.main
                    entry.update(offset_ms=fit.offset_ns / NS_PER_MS, drift_ppm=fit.drift_ppm,
                                 drift_sigma_ppm=fit.drift_sigma_ppm,
                                 true_offset_ms=float(t.offset_at(main.anchor_ns)) / NS_PER_MS)
                if fit.latency is not None:
                    entry["latency"] = fit.latency.to_dict()
                clocks[name] = entry
            scored["clocks"] = clocks
            scored["warnings"] = sorted({w.code for w in result.warnings if w.code != "kept"})
            scored["seconds"] = seconds
            out[episode.scenario.name] = scored
            console.print(f"scenario {episode.scenario.name}: {seconds:g} s written with rosbags and synced")
    finally:
        if keep:
            console.print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return out


def score(result, truth: dict[str, MessageTruth], rig: Rig, cameras: list[str]) -> dict:
    """Per stream and pooled (all, cameras, others) statistics of both methods."""
    grid = result.grid_ns
    per_stream, pooled = {}, {"all streams": [], "cameras": [], "other streams": []}
    for name, alignment in result.streams.items():
        ours, frame = ours_errors(alignment, truth[name], grid)
        base = baseline_errors(truth[name], grid)
        valid = int((alignment.valid & (alignment.i0 >= 0)).sum())
        entry = summarize(ours, frame, base, result.frames, valid, len(base))
        entry["role"], entry["policy"] = alignment.role, alignment.policy
        entry["ours_signed_median_ms"] = float(np.median(ours)) / NS_PER_MS if len(ours) else float("nan")
        clock = result.clocks[name]
        entry["clock"] = {"offset_ms": clock.offset_ns / NS_PER_MS, "drift_ppm": clock.drift_ppm,
                          "jitter_ms": clock.jitter_ns / NS_PER_MS, "missing": alignment.summary.missing}
        per_stream[name] = entry
        parts = (ours, frame, base, valid, len(base))
        pooled["all streams"].append(parts)
        pooled["cameras" if name in cameras else "other streams"].append(parts)
    overall = {}
    for group, parts in pooled.items():
        overall[group] = summarize(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                                   np.concatenate([p[2] for p in parts]), result.frames * len(parts),
                                   sum(p[3] for p in parts), sum(p[4] for p in parts))
        overall[group]["streams"] = len(parts)
    return {"streams": per_stream, "overall": overall}


# --------------------------------------------------------------------------- tables


def _ms(value: float) -> str:
    return "-" if value != value else f"{value:.3f}"


def _x(value: float) -> str:
    return "inf" if value == float("inf") else ("-" if value != value else f"{value:.0f}x")


def _verdict(ok: bool) -> str:
    return "[green]PASS[/green]" if ok else "[red]FAIL[/red]"


def accuracy_table(title: str, rows: dict[str, dict], *, first: str, show_policy: bool) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAVY, title_justify="left")
    table.add_column(first)
    if show_policy:
        table.add_column("policy")
    table.add_column("valid", justify="right")
    for label in ("ours med", "ours p99", "ours max"):
        table.add_column(label, justify="right", style="cyan")
    for label in ("base med", "base p99", "base max"):
        table.add_column(label, justify="right", style="magenta")
    table.add_column("ratio med", justify="right")
    table.add_column("ratio p99", justify="right")
    table.add_column("|t_k-true| med/p99", justify="right")
    table.add_column("target")
    for name, e in rows.items():
        o, b, f = e["ours"], e["baseline"], e["ours_frame_offset"]
        cells = [name] + ([e["policy"]] if show_policy else [])
        cells += [f"{e['ours_valid']}/{e['frames']}", _ms(o["median_ms"]), _ms(o["p99_ms"]), _ms(o["max_ms"]),
                  _ms(b["median_ms"]), _ms(b["p99_ms"]), _ms(b["max_ms"]), _x(e["ratio_median"]),
                  _x(e["ratio_p99"]), f"{_ms(f['median_ms'])} / {_ms(f['p99_ms'])}", _verdict(e["pass"])]
        table.add_row(*cells)
    return table


def clock_table(results: dict) -> Table:
    table = Table(title="Camera clocks: injected vs recovered by sync", box=box.SIMPLE_HEAVY, title_justify="left")
    for label in ("stream", "offset ms", "drift ppm", "jitter ms", "missing (drops)"):
        table.add_column(label, justify="left" if label == "stream" else "right")
    table.add_row("injected", f"{CAMERA_FAULTS['offset_ms']}", f"{CAMERA_FAULTS['drift_ppm']}",
                  f"{CAMERA_FAULTS['jitter_ms']}", f"{CAMERA_FAULTS['drop_rate']:.0%}")
    for name in results["config"]["cameras"]:
        c = results["streams"][name]["clock"]
        table.add_row(name, f"{c['offset_ms']:.3f}", f"{c['drift_ppm']:.1f}", f"{c['jitter_ms']:.3f}",
                      f"{c['missing']}")
    return table


def scenario_table(scenarios: dict) -> Table:
    table = Table(title="Clock scenarios (episodes written by rosbags): timing error (ms), ours vs baseline",
                  box=box.SIMPLE_HEAVY, title_justify="left")
    for label in ("scenario", "streams", "valid", "ours med", "ours p99", "base med", "base p99", "ratio med",
                  "ratio p99", "target"):
        table.add_column(label, justify="left" if label in ("scenario", "streams") else "right")
    for name, scored in scenarios.items():
        for group in ("cameras", "other streams"):
            e = scored["overall"][group]
            o, b = e["ours"], e["baseline"]
            table.add_row(name, group, f"{e['ours_valid']}/{e['frames']}", _ms(o["median_ms"]), _ms(o["p99_ms"]),
                          _ms(b["median_ms"]), _ms(b["p99_ms"]), _x(e["ratio_median"]), _x(e["ratio_p99"]),
                          _verdict(e["pass"]))
    return table


def scenario_clock_table(scenarios: dict) -> Table:
    table = Table(title="Clock scenarios: clocks declared, used and recovered", box=box.SIMPLE_HEAVY,
                  title_justify="left")
    for label in ("scenario", "stream", "declared", "used", "offset ms (true)", "drift ppm (true)",
                  "latency med ms (injected range)"):
        table.add_column(label, justify="left" if label in ("scenario", "stream", "declared", "used") else "right")
    for name, scored in scenarios.items():
        for stream, c in scored["clocks"].items():
            if c["used"] == "device":
                sigma = c["drift_sigma_ppm"]
                offset = f"{c['offset_ms']:.3f} ({c['true_offset_ms']:.3f})"
                drift = f"{c['drift_ppm']:.1f}+-{sigma:.0f} ({c['injected_drift_ppm']:g})"
            else:
                offset = drift = "-"
            latency = c.get("latency")
            low, high = c["latency_injected_ms"]
            shown = "-" if latency is None else f"{'' if latency['measured'] else '~'}{latency['median_ms']:.2f}"
            table.add_row(name, stream, c["declared"], c["used"], offset, drift, f"{shown} ({low:g}-{high:g})")
    return table


def speed_table(speed: dict) -> Table:
    title = (f"Sync speed: {speed['episode_s']:g} s episode, {speed['frames']} grid frames, "
             f"{speed['messages']:,} messages, {speed['bag_gb']:.2f} GB bag")
    table = Table(title=title, box=box.SIMPLE_HEAVY, title_justify="left", min_width=len(title))
    for label in ("synchronize(path)", "seconds", "frames/s", "messages/s", "x real time"):
        table.add_column(label, justify="left" if label == "synchronize(path)" else "right")
    for r in speed["runs"]:
        table.add_row(r["label"], f"{r['seconds']:.2f}", f"{r['frames_per_s']:,.0f}", f"{r['messages_per_s']:,.0f}",
                      f"{r['x_realtime']:.1f}")
    return table


def report(results: dict) -> None:
    console.print(Panel(Text(METRIC), title="metric", title_align="left"))  # Text: "[k]" is no markup
    console.print(accuracy_table("Timing error per stream (ms)", results["streams"], first="stream", show_policy=True))
    console.print(accuracy_table("Timing error pooled (ms)", results["overall"], first="streams", show_policy=False))
    console.print(clock_table(results))
    console.print(scenario_table(results["scenarios"]))
    console.print(scenario_clock_table(results["scenarios"]))
    console.print(speed_table(results["speed"]))
    speed = results["speed"]
    console.print(f"episode written in {speed['write_s']:.1f} s; "
                  f"read_timelines alone {speed['read_timelines_s']:.2f} s")
    if results["sync_violations"]:
        console.print(f"[yellow]sync would refuse this episode without keep=True:[/yellow] "
                      f"{'; '.join(v['reason'] for v in results['sync_violations'])}")
    codes = sorted({w["code"] for w in results["sync_warnings"] if w["code"] != "kept"})
    if codes:
        console.print(f"sync warnings: {', '.join(codes)}")
    overall = results["overall"]["all streams"]
    console.print(f"ours, all streams: median {overall['ours']['median_ms']:.3f} ms, "
                  f"p99 {overall['ours']['p99_ms']:.3f} ms "
                  f"-> {_verdict(overall['pass'])} (targets <= {TARGET_MEDIAN_MS} / <= {TARGET_P99_MS} ms); "
                  f"runtime {results['runtime_s']:.0f} s")


# --------------------------------------------------------------------------- main


def _finite(value):
    """``value`` with NaN and infinities as None: strict JSON."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=None,
                        help=f"episode length, s (default {DEFAULT_SECONDS:g}; --quick: {QUICK_SECONDS:g})")
    parser.add_argument("--quick", action="store_true", help=f"smoke run: a {QUICK_SECONDS:g} s episode")
    parser.add_argument("--rig", default=DEFAULT_RIG, help=f"shipped rig name (default {DEFAULT_RIG})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"episode seed (default {DEFAULT_SEED})")
    parser.add_argument("--out-dir", type=Path, default=None, help="where the temporary episode goes (default: tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the episode (with its rig copy) after the run")
    parser.add_argument("--json-out", type=Path, default=None, help="write all results as JSON here")
    parser.add_argument("--scenario-seconds", type=float, default=None,
                        help="length of each clock scenario episode, s (default 30; --quick: 8)")
    args = parser.parse_args(argv)
    if args.seconds is not None and not args.seconds > 0:
        parser.error(f"--seconds: expected a positive number, got {args.seconds}")
    if args.scenario_seconds is None:
        args.scenario_seconds = 8.0 if args.quick else 30.0
    elif not args.scenario_seconds >= 5:
        parser.error(f"--scenario-seconds: expected at least 5, got {args.scenario_seconds}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        results = run(args)
    except KeyboardInterrupt:
        console.print("interrupted")
        return 130
    except CollectorError as err:
        console.print(f"error: {err}")
        return 2
    report(results)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(_finite(results), indent=1) + "\n", encoding="utf-8")
        console.print(f"results: {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
