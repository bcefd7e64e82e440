#!/usr/bin/env python3
"""Export speed: LeRobot's own writer against ``collector export --format lerobot``, same run, same episodes.

    cd /work/main && .venv/bin/python bench/export_speed.py [--episodes 10] [--seconds 10] [--quick]
        [--json-out bench/results/export_speed.json] [--keep] [--profile] [--presets 8]
    .venv/bin/python bench/export_speed.py --from-json bench/results/export_speed.json   # tables only

Episodes: ``--episodes`` synthetic raw episodes (default 10) of ``--seconds`` s (default 10,
300 frames at 30 fps) of the Bao'an rig at its real size, without ``head_depth``: three
640x480 RGB cameras plus joint states, grippers, IMU, two wrenches and the teleop action,
written in process (``write_synthetic_episode``) into a temp dir (``--keep`` keeps it).
``--quick``: 2 episodes of 2 s (60 frames).

Runs, one after the other (never two at once: the machine has 2 cores), each into a fresh
output folder:

1. ``lerobot``: LeRobot 0.4.4's writer (``LeRobotDataset.create`` -> ``add_frame`` per frame
   -> ``save_episode`` per episode -> ``finalize``), ``use_videos=True``, all its defaults:
   vcodec libsvtav1, crf 30, g 2, yuv420p and its ``encode_video_frames`` preset, which is
   **12** (``_get_codec_options``: ``preset or "12"``); a PNG per frame (compress level 1),
   then one encoder process per camera. Driven by ``bench/lerobot_writer_bench.py`` in
   ``.venv-lerobot``.
2. ``ours``: ``collector export RAW --format lerobot --out DIR`` as a subprocess, its
   defaults (av1 via libsvtav1, crf 30, gop 2, yuv420p, preset 12 since commit 2a8b668;
   before it, None: SVT-AV1's own default, 8 in these builds), default workers (1).
3. ``ours --workers 2``.
4. ``ours -o preset=N`` for each N of ``--presets`` (default ``8``: SVT-AV1's own default,
   slower and about half the file size; ``--presets ""``: none).

The presets both sides used are recorded per run (``preset``: LeRobot's from its
``_get_codec_options``, ours from ``LeRobotWriter.OPTIONS`` or the ``-o`` override).

Fairness:

* LeRobot gets exactly the frames and values our exporter writes, computed by our own code
  in the LeRobot venv (sync, ``feature_plan``/``frame_table``, the exporter's row selection,
  ``iter_frames``), each episode decoded into memory *before* LeRobot's clock starts. Its
  time is only its writer: create + add_frame + save_episode + finalize. Same features:
  state, action, the three cameras as video, every other numeric feature (time.*, wrench,
  IMU, velocity, effort) with our dtypes and shapes, and our ``time.valid``. One shim: LeRobot
  0.4.4 cannot save ``(1,)``-shaped features under numpy 2.4 (``float()`` of a 1-element
  array), so those columns are flattened to ``(K,)`` right before ``_save_episode_data``
  (inside its clock; see ``lerobot_writer_bench.flatten_scalar_columns``).
* Our time is the whole ``collector export`` process, from spawn to exit: interpreter
  start, reading the bags, sync, CDR decoding, encoding, the dataset files.
* frames/s = exported frames / those seconds. ours/LeRobot > 1 means ours is faster.
* The two venvs have different PyAV/FFmpeg/SVT-AV1 builds (the project's .venv: PyAV 19,
  SVT-AV1 4.x; LeRobot's: PyAV 15.1, SVT-AV1 3.0): the same preset does not cost the same.
  ``--profile`` measures it.
* Memory: the process tree (process and all its children) from /proc (``bench/machine.py``).
  RSS, sampled every 0.1 s, is the sum of the processes' RSS; PSS (shared pages
  split among the processes sharing them; every 2 s, as reading it is costly) is shown
  too, because LeRobot's encoder processes are forked from a process holding the preloaded
  episode, so each child's RSS counts those copy-on-write pages again. For LeRobot the
  preloaded frames are not its own: it is reported raw (whole process), during the writer
  calls, and as the writer's delta (peak during an episode's writer calls minus the
  process's memory right before them; the largest over episodes).
* Both outputs are loaded afterwards by LeRobot's own loader
  (``tests/export/lerobot_probe.py``); a run whose output does not load, or loads with
  another frame count, is reported as failed, not as a speed. Both datasets' features
  (info.json) and episode lengths are compared.
* The machine may be shared: before each run the bench waits (``--quiet-wait``) until other
  processes have used at most 25% of a core for 5 s in a row, records their CPU during the run, and runs a
  disturbed run again (``--retries``, into a fresh folder), keeping the least disturbed.

``--profile`` adds, after the runs: ``export_episodes`` on one episode with its parts timed
(sync, frame reading, waiting for the per-camera encoder threads, their encode time, image
stats, commit) at our default preset and at 8, and
per-frame costs on one camera of episode 0 in both venvs, one process at a time: bag read +
CDR decode, AV1 encode from ndarray at the default preset and at 12, LeRobot's PNG write,
PNG read and ``encode_video_frames`` (PNG -> AV1).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from rich import box  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.machine import (  # noqa: E402
    descendants,
    machine_cpu,
    memory_total_gb,
    other_cpu_seconds,
    pss_mib,
    rss_mib,
    user_process_cpu,
    wait_for_quiet,
)

LEROBOT_PYTHON = REPO / ".venv-lerobot" / "bin" / "python"
OUR_PYTHON = REPO / ".venv" / "bin" / "python"
COLLECTOR = REPO / ".venv" / "bin" / "collector"
WRITER_BENCH = REPO / "bench" / "lerobot_writer_bench.py"
PROBE = REPO / "tests" / "export" / "lerobot_probe.py"
RIG = "baoan_humanoid"
DROP_STREAMS = ("head_depth",)  # exactly three RGB cameras: LeRobot's writer has no 16-bit depth
LATENCY_MS = {"camera": 8.0, "depth": 8.0}  # the synthetic writer's pipeline delays, declared as the tests do
OTHER_LATENCY_MS = 0.3
START_NS = 1_750_000_000_000_000_000
TASKS = ("pick the part", "place the part", "hand over the part")
SAMPLE_S = 0.1
PSS_EVERY = 20  # PSS every 2 s (see TreeSampler)
OTHER_LOAD_WARN_PCT = 25.0
QUIET_S = 5  # seconds in a row the machine must be quiet before a run
MB = 1024 * 1024

console = Console(width=None if sys.stdout.isatty() else 150)


class BenchError(RuntimeError):
    """A run could not be done (a process failed to start or crashed)."""


# --------------------------------------------------------------------------- episodes


def bench_rig():
    """The shipped Bao'an rig at 640x480 with three RGB cameras (no depth) and the synthetic
    writer's latencies declared."""
    import yaml

    from collector.rig import keep_streams, load_rig, parse_rig

    doc = yaml.safe_load(load_rig(RIG).text)
    keep_streams(doc, [s["name"] for s in doc["streams"] if s["name"] not in DROP_STREAMS])
    for stream in doc["streams"]:
        stream["latency_ms"] = LATENCY_MS.get(stream["role"], OTHER_LATENCY_MS)
    return parse_rig(yaml.safe_dump(doc, sort_keys=False), source=f"{RIG}_export_bench.yaml")


def write_episodes(root: Path, count: int, seconds: float) -> list[Path]:
    """``count`` raw episodes of ``seconds`` s under ``root`` (seeds 0..count-1), in name order."""
    from collector.drivers.synthetic_episode import write_synthetic_episode

    rig = bench_rig()
    paths = []
    for index in range(count):
        started = time.monotonic()
        episode = write_synthetic_episode(root, rig, seconds=seconds, seed=index,
                                          start_ns=START_NS + index * 60 * 1_000_000_000,
                                          task=TASKS[index % len(TASKS)], operator="bench")
        paths.append(episode.path)
        console.print(f"  raw episode {index + 1}/{count}: {episode.path.name} "
                      f"({time.monotonic() - started:.1f} s)")
    if [p.name for p in paths] != sorted(p.name for p in paths):
        raise BenchError("episode folders do not sort in writing order")
    return paths


# --------------------------------------------------------------------------- measuring


class TreeSampler(threading.Thread):
    """The summed RSS (every :data:`SAMPLE_S`) and PSS (every :data:`PSS_EVERY` samples) in MB of a
    process and all its descendants.

    RSS comes from ``/proc/<pid>/statm`` (a counter: microseconds). PSS needs
    ``/proc/<pid>/smaps_rollup``, a page-table walk that costs ~20 ms of CPU per GB mapped,
    so it is read less often: at 10 Hz on LeRobot's four 1.7 GB processes it would take most
    of a core from the runs being measured. The sampler's own CPU time is recorded."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.root = pid
        self.samples: list[tuple[float, float, float | None, int]] = []  # (monotonic s, rss MB, pss MB, processes)
        self.pids: set[int] = {pid}
        self.cpu_s = 0.0
        self._halt = threading.Event()

    def sample(self, with_pss: bool) -> None:
        rss = pss = 0.0
        alive = 0
        for pid in descendants(self.root):
            resident = rss_mib(pid)
            if resident is None:
                continue
            rss += resident
            if with_pss:
                pss += pss_mib(pid) or 0.0
            self.pids.add(pid)
            alive += 1
        if alive:
            self.samples.append((time.monotonic(), rss, pss if with_pss else None, alive))

    def run(self) -> None:
        next_at = time.monotonic()
        count = 0
        while not self._halt.is_set():
            self.sample(with_pss=count % PSS_EVERY == 0)
            count += 1
            next_at += SAMPLE_S
            self._halt.wait(max(0.0, next_at - time.monotonic()))
        self.cpu_s = time.thread_time()

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def timeline(self, start: float, every: int = 10) -> list[list]:
        """Every ``every``-th sample as ``[s since start, RSS MB, PSS MB or None]`` (PSS samples always kept)."""
        return [[round(t - start, 1), round(rss), None if pss is None else round(pss)]
                for i, (t, rss, pss, _) in enumerate(self.samples) if i % every == 0 or pss is not None]

    def peak(self, start: float = float("-inf"), stop: float = float("inf")) -> dict:
        inside = [s for s in self.samples if start <= s[0] <= stop]
        if not inside:
            return {"rss_mb": None, "pss_mb": None, "processes": None}
        pss = [s[2] for s in inside if s[2] is not None]
        return {"rss_mb": round(max(s[1] for s in inside), 1), "pss_mb": round(max(pss), 1) if pss else None,
                "processes": max(s[3] for s in inside)}


def measure(cmd: list[str], log: Path, env: dict | None = None) -> dict:
    """Run ``cmd`` to its end (stdout to ``log``.out, stderr to ``log``.err), sampling its tree's
    memory; wall seconds from spawn to exit, the tree's CPU, other processes' CPU."""
    others_before = user_process_cpu()
    busy_before = machine_cpu()
    own_before = sum(os.times()[:2])  # this process: the memory sampler's CPU and the bench's own
    with open(log.with_suffix(".out"), "wb") as out, open(log.with_suffix(".err"), "wb") as err:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=REPO)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)  # rusage of the process and every descendant it waited for
        stopped = time.monotonic()
        proc.returncode = os.waitstatus_to_exitcode(status)
        sampler.stop()
    wall = stopped - started
    other = other_cpu_seconds(others_before, user_process_cpu(), sampler.pids | {os.getpid()})
    machine_busy = machine_cpu()[0] - busy_before[0]
    tree_cpu = usage.ru_utime + usage.ru_stime
    own_cpu = sum(os.times()[:2]) - own_before
    return {
        "cmd": [str(c) for c in cmd], "returncode": proc.returncode, "wall_s": wall,
        "tree_cpu_s": usage.ru_utime + usage.ru_stime,
        "tree_cpu_pct": 100.0 * (usage.ru_utime + usage.ru_stime) / wall if wall else None,
        "largest_process_maxrss_mb": round(usage.ru_maxrss / 1024, 1),  # ru_maxrss is KiB: one process, not a sum
        # other processes: per process (exact, but blind to processes that started and ended
        # within the run) and machine-wide minus this run's tree and this process (catches those);
        # the larger counts
        "other_cpu_pct": 100.0 * max(other, machine_busy - tree_cpu - own_cpu, 0.0) / wall if wall else None,
        "other_cpu_per_process_pct": 100.0 * other / wall if wall else None,
        "machine_busy_pct": 100.0 * machine_busy / wall if wall else None,
        "peak": sampler.peak(), "sampler": sampler, "sampler_cpu_s": round(sampler.cpu_s, 2), "log": str(log),
        "memory_timeline": sampler.timeline(started),  # [s from spawn, tree RSS MB, tree PSS MB]
    }


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def collector_command() -> list[str]:
    """``collector`` (or ``python -m collector`` when the script cannot start), checked to run."""
    for _attempt in range(3):
        for cmd in ([str(COLLECTOR)], [str(OUR_PYTHON), "-m", "collector"]):
            probe = subprocess.run([*cmd, "export", "--help"], capture_output=True, text=True, cwd=REPO)
            if probe.returncode == 0:
                return cmd
        console.print(f"[yellow]collector does not start ({probe.stderr.strip().splitlines()[-1:]}); "
                      "retrying in 60 s[/yellow]")
        time.sleep(60)
    raise BenchError(f"collector does not start: {probe.stderr.strip()[-2000:]}")


# --------------------------------------------------------------------------- the runs


def run_lerobot(raw: Path, out: Path, log: Path) -> dict:
    result_path = log.with_suffix(".result.json")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TQDM_DISABLE": "1",
           "HF_DATASETS_CACHE": str(log.parent / "hf_cache"), "HF_LEROBOT_HOME": str(log.parent / "hf_lerobot")}
    run = measure([str(LEROBOT_PYTHON), str(WRITER_BENCH), str(raw), "--out", str(out), "--result", str(result_path)],
                  log, env)
    sampler = run.pop("sampler")
    if run["returncode"] != 0 or not result_path.exists():
        return {**run, "ok": False, "error": f"exit {run['returncode']}: {_tail(Path(run['log']).with_suffix('.err'))}"}
    writer = json.loads(result_path.read_text())
    windows = writer.pop("windows")
    deltas = []
    for w in windows:
        peak = sampler.peak(w["start"], w["stop"])
        delta = {kind: None if peak[f"{kind}_mb"] is None else round(peak[f"{kind}_mb"] - w[f"before_{kind}_mb"], 1)
                 for kind in ("rss", "pss")}
        deltas.append({"label": w["label"], "before_rss_mb": round(w["before_rss_mb"], 1),
                       "before_pss_mb": round(w["before_pss_mb"], 1), **{f"peak_{k}": v for k, v in peak.items()},
                       "delta_rss_mb": delta["rss"], "delta_pss_mb": delta["pss"]})
    during = [d for d in deltas if d["peak_rss_mb"] is not None]

    def top(key):
        return max((d for d in during if d[key] is not None), key=lambda d: d[key], default=None)

    worst_rss, worst_pss = top("delta_rss_mb"), top("delta_pss_mb")
    return {
        **run, "ok": True, "frames": writer["frames"], "seconds": writer["writer_s"],
        "frames_per_s": writer["frames"] / writer["writer_s"],
        "process_wall_s": run["wall_s"],  # includes the untimed preload and imports
        "memory": {
            "process_peak": run["peak"],  # the whole process run, preloaded frames included
            "writer_peak": {"rss_mb": max((d["peak_rss_mb"] for d in during), default=None),
                            "pss_mb": max((d["peak_pss_mb"] for d in during if d["peak_pss_mb"] is not None),
                                          default=None)},
            "writer_delta": {"rss_mb": worst_rss and worst_rss["delta_rss_mb"],
                             "rss_before_mb": worst_rss and worst_rss["before_rss_mb"],
                             "pss_mb": worst_pss and worst_pss["delta_pss_mb"],
                             "pss_before_mb": worst_pss and worst_pss["before_pss_mb"]},
            "windows": deltas,
        },
        "writer": writer,
    }


def run_ours(raw: Path, out: Path, log: Path, workers: int, options: tuple[str, ...], collector: list[str]) -> dict:
    cmd = [*collector, "export", str(raw), "--format", "lerobot", "--out", str(out), "--json"]
    if workers != 1:
        cmd += ["--workers", str(workers)]
    for option in options:
        cmd += ["-o", option]
    run = measure(cmd, log)
    run.pop("sampler")
    if run["returncode"] != 0:
        return {**run, "ok": False, "error": f"exit {run['returncode']}: {_tail(Path(run['log']).with_suffix('.err'))}"}
    try:
        reported = json.loads(Path(run["log"]).with_suffix(".out").read_text())
    except ValueError as err:
        return {**run, "ok": False, "error": f"no JSON result on stdout: {err}"}
    frames = int(reported["frames"])
    return {**run, "ok": True, "frames": frames, "seconds": run["wall_s"], "frames_per_s": frames / run["wall_s"],
            "exporter_reported_s": reported.get("seconds"), "exported_episodes": len(reported.get("exported", [])),
            "failed_episodes": reported.get("failed", []), "memory": {"process_peak": run["peak"]}}


def probe(out: Path) -> dict:
    """LeRobot's loader on ``out`` (offline): ok, frames, episodes, or the error."""
    started = time.monotonic()
    proc = subprocess.run([str(LEROBOT_PYTHON), str(PROBE), str(out)], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "TQDM_DISABLE": "1"}, timeout=1800)
    try:
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"ok": False, "error": f"probe printed no JSON (exit {proc.returncode}): {proc.stderr[-1500:]}"}
    keep = {k: result.get(k) for k in ("ok", "num_frames", "num_episodes", "fps", "null_keys", "error", "message")}
    keep["seconds"] = round(time.monotonic() - started, 1)
    return keep


def dataset_facts(root: Path) -> dict:
    """Features (info.json, without video info) and episode lengths of a LeRobot dataset."""
    import pyarrow.parquet as pq

    try:
        info = json.loads((root / "meta" / "info.json").read_text())
        lengths = []
        for path in sorted((root / "meta" / "episodes").glob("chunk-*/file-*.parquet")):
            lengths += pq.read_table(path, columns=["length"])["length"].to_pylist()
    except (OSError, ValueError) as err:
        return {"error": str(err)}
    features = {k: {"dtype": v["dtype"], "shape": list(v["shape"]), "names": v.get("names")}
                for k, v in info["features"].items()}
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    return {"features": features, "lengths": lengths, "total_frames": info.get("total_frames"),
            "size_mb": round(size / MB, 1),
            "video_mb": round(sum(p.stat().st_size for p in (root / "videos").rglob("*.mp4")) / MB, 1)}


def compare(reference: dict, other: dict) -> dict:
    """Do two datasets hold the same features (dtype, shape, names) and episode lengths?"""
    if "error" in reference or "error" in other:
        return {"same_features": False, "same_lengths": False, "differences": [reference.get("error"),
                                                                                other.get("error")]}
    a, b = reference["features"], other["features"]
    differences = sorted(set(a) ^ set(b)) + [k for k in a if k in b and a[k] != b[k]]
    return {"same_features": not differences, "same_lengths": reference["lengths"] == other["lengths"],
            "differences": differences[:20]}


# --------------------------------------------------------------------------- profiling


PROFILE_OURS = r"""
import json, os, sys, threading, time
from pathlib import Path
import collector.sync
import collector.export.lerobot.episode as episode_mod
from collector.export.lerobot.stats import ImageStats
from collector.export.lerobot.video import ThreadedEncoder, VideoEncoder
from collector.export.lerobot.writer import LeRobotWriter
from collector.export.run import export_episodes

seconds, lock = {}, threading.Lock()

def add(label, value):
    with lock:
        seconds[label] = seconds.get(label, 0.0) + value

def timed(owner, name, label):
    original = getattr(owner, name)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            add(label, time.perf_counter() - start)
    setattr(owner, name, wrapper)

def timed_generator(owner, name, label):
    original = getattr(owner, name)
    def wrapper(*args, **kwargs):
        iterator = original(*args, **kwargs)
        while True:
            start = time.perf_counter()
            try:
                item = next(iterator)
            except StopIteration:
                add(label, time.perf_counter() - start)
                return
            add(label, time.perf_counter() - start)
            yield item
    setattr(owner, name, wrapper)

timed(collector.sync, "synchronize", "main: sync (reads the whole bag)")
timed(episode_mod, "frame_table", "main: frame table (numeric)")
timed_generator(episode_mod, "iter_frames", "main: bag read + CDR decode + RGB (iter_frames)")
timed(ThreadedEncoder, "add", "main: blocked handing frames to the encoder threads")
timed(ThreadedEncoder, "close", "main: waiting for the encoder threads to finish")
timed(ImageStats, "offer", "main: image stats, sampling")
timed(ImageStats, "result", "main: image stats, result")
timed(LeRobotWriter, "commit", "main: commit (parquet append, video concat)")
timed(LeRobotWriter, "close", "main: dataset close (meta, stats, swap)")
timed(VideoEncoder, "add", "encoder threads: AV1 encode (sum over cameras)")
timed(VideoEncoder, "close", "encoder threads: flush (sum over cameras)")
episode, out, options = Path(sys.argv[1]), Path(sys.argv[2]), dict(o.split("=", 1) for o in sys.argv[3:])
options = {k: int(v) if v.isdigit() else v for k, v in options.items()}
cpu0, start = os.times(), time.perf_counter()
result = export_episodes([episode], fmt="lerobot", out=out, options=options)
wall, cpu1 = time.perf_counter() - start, os.times()
print(json.dumps({"frames": result.frames, "wall_s": round(wall, 2),
                  "process_cpu_s": round(cpu1.user + cpu1.system - cpu0.user - cpu0.system, 2),
                  "seconds": {k: round(v, 2) for k, v in sorted(seconds.items())}}))
"""


def _run_watched(cmd: list[str], env: dict | None = None) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``cmd`` to its end; also the CPU other processes used meanwhile (% of a core), as
    the profiling numbers are only as good as the machine was quiet."""
    before, started = user_process_cpu(), time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env)
    other = other_cpu_seconds(before, user_process_cpu(), {os.getpid()})
    return proc, round(100.0 * other / max(time.monotonic() - started, 1e-9), 1)


def profile_ours(episode: Path, work: Path) -> dict:
    """One episode through ``export_episodes`` in a process of its own, with the main parts timed
    (wall seconds; the encoder threads' seconds add up over the three cameras), at our default
    preset and at 8 (SVT-AV1's own default)."""
    results = {}
    for label, options in ((f"default (preset {our_default_preset()})", ()), ("preset 8", ("preset=8",))):
        quiet_machine(120.0)
        out = work / f"profile_ours_{len(results)}"
        proc, other = _run_watched([str(OUR_PYTHON), "-c", PROFILE_OURS, str(episode), str(out), *options])
        try:
            results[label] = {**json.loads(proc.stdout.strip().splitlines()[-1]), "other_cpu_pct": other}
        except (ValueError, IndexError):
            results[label] = {"error": proc.stderr[-1500:]}
        shutil.rmtree(out, ignore_errors=True)
    return results


MICRO_OURS = r"""
import json, sys, time
from pathlib import Path
import numpy as np
import av
from collector.export.frames import iter_images
from collector.export.lerobot.video import VideoEncoder, encoder_options
from collector.sync import synchronize
episode, camera, out = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
t0 = time.perf_counter(); sync = synchronize(episode); t1 = time.perf_counter()
frames = [np.array(f) for f in iter_images(episode, sync, camera)]; t2 = time.perf_counter()
np.save(out / "frames.npy", np.stack(frames))
n = len(frames)
result = {"frames": n, "sync_s": t1 - t0, "bag_read_cdr_decode_rgb_ms_per_frame": 1e3 * (t2 - t1) / n,
          "av": av.__version__, "libavcodec": ".".join(map(str, av.library_versions["libavcodec"]))}
for preset in (None, 12):
    enc = VideoEncoder(out / f"ours_{preset}.mp4", width=frames[0].shape[1], height=frames[0].shape[0], fps=30.0,
                       codec="av1", options=encoder_options("av1", crf=30, gop=2, preset=preset))
    t3 = time.perf_counter()
    for f in frames: enc.add(f)
    enc.close(); t4 = time.perf_counter()
    label = "default" if preset is None else preset
    result[f"av1_encode_ms_per_frame_preset_{label}"] = 1e3 * (t4 - t3) / n
    result[f"mp4_kb_per_frame_preset_{label}"] = (out / f"ours_{preset}.mp4").stat().st_size / n / 1024
print(json.dumps(result))
"""

MICRO_LEROBOT = r"""
import json, sys, time, glob, logging
from pathlib import Path
import numpy as np
logging.disable(logging.WARNING)
import av
from PIL import Image
from lerobot.datasets.image_writer import write_image
from lerobot.datasets.video_utils import encode_video_frames
frames, out = np.load(sys.argv[1]), Path(sys.argv[2])
n = len(frames)
png = out / "png"; png.mkdir()
t0 = time.perf_counter()
for i, f in enumerate(frames): write_image(f, png / f"frame-{i:06d}.png", compress_level=1)
t1 = time.perf_counter()
for p in sorted(glob.glob(str(png / "*.png"))):
    with Image.open(p) as im: im.convert("RGB").load()
t2 = time.perf_counter()
encode_video_frames(png, out / "lerobot.mp4", 30, vcodec="libsvtav1", overwrite=True)
t3 = time.perf_counter()
result = {"frames": n, "png_write_ms_per_frame": 1e3 * (t1 - t0) / n,
          "png_kb_per_frame": sum(p.stat().st_size for p in png.iterdir()) / n / 1024,
          "png_read_ms_per_frame": 1e3 * (t2 - t1) / n,
          "encode_video_frames_ms_per_frame (png read + av1, LeRobot default preset 12)": 1e3 * (t3 - t2) / n,
          "av": av.__version__, "libavcodec": ".".join(map(str, av.library_versions["libavcodec"]))}
for preset in (None, 12):
    label = "default" if preset is None else preset
    options = {"g": "2", "crf": "30", **({} if preset is None else {"preset": str(preset)})}
    path = out / f"bare_{label}.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libsvtav1", 30, options=options); s.pix_fmt = "yuv420p"
        s.width, s.height = frames.shape[2], frames.shape[1]
        t4 = time.perf_counter()
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")): c.mux(p)
        for p in s.encode(): c.mux(p)
        t5 = time.perf_counter()
    result[f"av1_encode_ms_per_frame_preset_{label}"] = 1e3 * (t5 - t4) / n
    result[f"mp4_kb_per_frame_preset_{label}"] = path.stat().st_size / n / 1024
print(json.dumps(result))
"""


def micro(episode: Path, work: Path) -> dict:
    """Per-frame costs on one camera of one episode, one process at a time (one core each)."""
    folder = work / "micro"
    folder.mkdir()
    results = {}
    for label, cmd in (("ours_venv", [str(OUR_PYTHON), "-c", MICRO_OURS, str(episode), "head_rgb", str(folder)]),
                       ("lerobot_venv", [str(LEROBOT_PYTHON), "-c", MICRO_LEROBOT, str(folder / "frames.npy"),
                                         str(folder)])):
        quiet_machine(120.0)
        proc, other = _run_watched(cmd, env={**os.environ, "SVT_LOG": "3"})
        try:
            results[label] = {**json.loads(proc.stdout.strip().splitlines()[-1]), "other_cpu_pct": other}
        except (ValueError, IndexError):
            results[label] = {"error": proc.stderr[-1500:]}
            break
        svt = [line.split("Lib")[-1].strip() for line in proc.stderr.splitlines() if "SVT-AV1 Encoder Lib" in line]
        results[label]["svt_av1"] = svt[0] if svt else None
    shutil.rmtree(folder, ignore_errors=True)
    return results


# --------------------------------------------------------------------------- report


def plan_runs(presets: list[int]) -> list[tuple[str, str, int | None, tuple[str, ...]]]:
    """``(key, title, workers, collector export -o options)`` per run; ``lerobot`` is LeRobot's writer."""
    runs = [("lerobot", "LeRobot writer", None, ()), ("ours_w1", "ours (collector export)", 1, ()),
            ("ours_w2", "ours --workers 2", 2, ())]
    runs += [(f"ours_w1_p{p}", f"ours -o preset={p}", 1, (f"preset={p}",)) for p in presets]
    return runs


# titles of runs in reports written before titles were stored (their exporter defaulted to preset None)
OLD_TITLES = {"ours_w1_p12": "ours -o preset=12", "ours_w2_p12": "ours --workers 2 -o preset=12"}


def _title(key: str, run: dict) -> str:
    return run.get("title") or OLD_TITLES.get(key) or dict((k, t) for k, t, *_ in plan_runs([]))[key]


def our_default_preset():
    """The exporter's default SVT-AV1 preset (None: the encoder's own)."""
    from collector.export.lerobot.writer import LeRobotWriter

    return LeRobotWriter.OPTIONS.get("preset")


def judged(run: dict, loaded: dict) -> dict:
    """A run counts only when its output loads in LeRobot with the frames it claims."""
    if not run.get("ok"):
        return {"status": "failed", "why": run.get("error")}
    if not loaded.get("ok"):
        return {"status": "failed", "why": f"does not load: {loaded.get('error')}: {loaded.get('message')}"}
    if loaded.get("num_frames") != run.get("frames"):
        return {"status": "failed", "why": f"loads {loaded.get('num_frames')} frames, wrote {run.get('frames')}"}
    return {"status": "ok", "why": None}


def _mb(value) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _ratio(a, b) -> str:
    return "-" if not a or not b else f"{a / b:.2f}x"


def results_table(report: dict) -> Table:
    runs = report["runs"]
    lerobot = runs.get("lerobot", {})
    base_fps = lerobot.get("frames_per_s") if lerobot.get("verdict", {}).get("status") == "ok" else None
    base_mem = lerobot.get("memory", {})
    table = Table(title="export speed: same episodes, same frames, AV1 (libsvtav1, crf 30, g 2, yuv420p)",
                  box=box.SIMPLE_HEAVY)
    for column in ("run", "preset", "frames", "seconds", "frames/s", "ours/LeRobot", "peak RSS MB", "peak PSS MB",
                   "over LeRobot Δ RSS / PSS", "loads", "other CPU"):
        table.add_column(column, justify="left" if column in ("run", "loads") else "right")
    for key, run in runs.items():
        preset = run.get("preset", "?")
        title, preset_text = _title(key, run), "SVT's" if preset is None else str(preset)
        ok = run.get("verdict", {}).get("status") == "ok"
        fps = run.get("frames_per_s") if ok else None
        if key == "lerobot":
            peak = run.get("memory", {}).get("process_peak", {})
            delta = run.get("memory", {}).get("writer_delta", {})
            rss = f"{_mb(peak.get('rss_mb'))} (writer +{_mb(delta.get('rss_mb'))})" if peak else "-"
            pss = f"{_mb(peak.get('pss_mb'))} (writer +{_mb(delta.get('pss_mb'))})" if peak else "-"
            vs = ""
        else:
            peak = run.get("memory", {}).get("process_peak", {})
            rss, pss = _mb(peak.get("rss_mb")), _mb(peak.get("pss_mb"))
            delta = base_mem.get("writer_delta", {})
            vs = (f"{_ratio(peak.get('rss_mb'), delta.get('rss_mb'))} / "
                  f"{_ratio(peak.get('pss_mb'), delta.get('pss_mb'))}")
        other = run.get("other_cpu_pct")
        other_text = "-" if other is None else f"{other:.0f}%" + (" [yellow]noisy[/yellow]"
                                                                  if other > OTHER_LOAD_WARN_PCT else "")
        loads = run.get("loaded", {})
        load_text = (f"ok, {loads.get('num_frames')} frames" if ok else
                     f"[red]FAILED[/red]: {str(run.get('verdict', {}).get('why'))[:60]}")
        table.add_row(title, preset_text, str(run.get("frames", "-")), "-" if not ok else f"{run['seconds']:.1f}",
                      "-" if fps is None else f"{fps:.1f}",
                      "" if key == "lerobot" else _ratio(fps, base_fps), rss, pss, vs, load_text, other_text)
    return table


FAIRNESS = """[bold]How this is measured[/bold] (see the script docstring):
 * LeRobot gets exactly our exporter's frames and values (our sync, frame table, row selection and frame
   reader, run in the LeRobot venv); each episode is decoded into memory BEFORE LeRobot's clock starts, so its
   seconds are only its writer: create + add_frame + save_episode + finalize.
 * Our seconds are the whole `collector export` process (start-up, bag reading, sync, CDR decoding, encoding).
 * Same features on both sides (state, action, 3 cameras as AV1 video, velocity, effort, IMU, wrench,
   time.*, time.valid), crf 30, g 2, yuv420p, a fresh output folder per run, runs one after the other.
   SVT-AV1 preset: per run (12 is what LeRobot's encode_video_frames passes; "?": not recorded).
 * Memory: process tree, RSS every 0.1 s, PSS every 2 s. RSS sums each process's RSS; LeRobot's encoder processes are
   forked from a process holding the preloaded episode, so their RSS re-counts those shared pages: PSS
   splits them. LeRobot: whole process (with the preloaded frames, which are not its own), and in brackets
   its writer's delta (peak during an episode's writer calls minus the memory right before them).
 * Every output is then loaded with LeRobot's own loader; an output that does not load counts as failed."""


def print_report(report: dict) -> None:
    console.print(FAIRNESS)
    git = report.get("git_at_start", {})
    console.print(f"exporter at commit {str(git.get('commit'))[:10]}"
                  + (f", uncommitted: {', '.join(git['collector_changes'])}" if git.get("collector_changes") else "")
                  + f"; {report['episodes']} episodes x {report['seconds_per_episode']:g} s, "
                  f"{report.get('raw_mb')} MB of raw bags")
    console.print(results_table(report))
    runs = report["runs"]
    lerobot = runs.get("lerobot", {})
    if lerobot.get("ok"):
        writer = lerobot["writer"]
        console.print(f"LeRobot clock {lerobot['seconds']:.1f} s: " +
                      ", ".join(f"{k} {v:.1f} s" for k, v in writer["timed"].items()) +
                      "; inside: " + ", ".join(f"{k} {v:.1f} s" for k, v in writer["phases_s"].items()) +
                      f"; untimed preload (sync + decode): {sum(writer['preload_s'].values()):.1f} s, "
                      f"process wall {lerobot['process_wall_s']:.1f} s")
    for key, run in runs.items():
        title = _title(key, run)
        if run.get("ok"):
            console.print(f"{title}: tree CPU {run['tree_cpu_s']:.0f} s ({run['tree_cpu_pct']:.0f}% of a core; "
                          f"memory sampler {run['sampler_cpu_s']:.1f} s), "
                          f"largest single process {_mb(run['largest_process_maxrss_mb'])} MB, "
                          f"dataset {run.get('dataset', {}).get('size_mb')} MB "
                          f"(videos {run.get('dataset', {}).get('video_mb')} MB)")
    for key, run in runs.items():
        title, same = _title(key, run), run.get("same_as_lerobot")
        if same:
            console.print(f"{title} vs LeRobot output: same features {same['same_features']}, same episode "
                          f"lengths {same['same_lengths']}" + (f" (differences: {same['differences']})"
                                                                if same["differences"] else ""))
    if report.get("profile"):
        console.print_json(data=report["profile"])


# --------------------------------------------------------------------------- main


def quiet_machine(max_wait_s: float) -> tuple[float, float]:
    """Wait (at most ``max_wait_s``) until other processes have used at most 25% of a core for
    :data:`QUIET_S` seconds in a row (:func:`bench.machine.wait_for_quiet`); returns (their
    busiest second's %, waited s). Says so every 15 s while the machine is busy."""
    last_note = [0.0]

    def busy(percent: float, waited: float) -> None:
        if waited - last_note[0] >= 15:
            last_note[0] = waited
            console.print(f"  machine busy with other work ({percent:.0f}% of a core); waiting ({waited:.0f} s)")

    return wait_for_quiet(max_wait_s, quiet_s=QUIET_S, max_pct=OTHER_LOAD_WARN_PCT, on_busy=busy)


def measured_run(key: str, title: str, workers: int | None, options: tuple[str, ...], raw: Path, work: Path,
                 collector: list[str], *, retries: int, quiet_wait_s: float) -> dict:
    """One run into a fresh folder, after waiting for a quiet machine; run again (up to ``retries``
    times, each into its own fresh folder) when other processes loaded the machine meanwhile.
    The least disturbed attempt is kept."""
    attempts = []
    for attempt in range(1 + retries):
        busy, waited = quiet_machine(quiet_wait_s)
        out, log = work / f"out_{key}_{attempt}", work / f"{key}_{attempt}"
        console.print(f"[bold]{title}[/bold] -> {out}" + (f" (attempt {attempt + 1})" if attempt else ""))
        if key == "lerobot":
            run = run_lerobot(raw, out, log)
        else:
            run = run_ours(raw, out, log, workers, options, collector)
        run.update({"title": title, "out": str(out), "busy_before_pct": round(busy, 1),
                    "waited_for_quiet_s": round(waited, 1), "options": list(options), "workers": workers})
        if key == "lerobot":
            run["preset"] = run.get("writer", {}).get("codec_options", {}).get("preset", "?")
        else:
            chosen = [o.split("=", 1)[1] for o in options if o.startswith("preset=")]
            run["preset"] = chosen[-1] if chosen else our_default_preset()
        shown = f"{run['frames_per_s']:.1f} frames/s" if run.get("ok") else f"[red]failed[/red]: {run.get('error')}"
        console.print(f"  {shown}; process wall {run['wall_s']:.1f} s, peak tree RSS {_mb(run['peak']['rss_mb'])} "
                      f"MB; other processes {run['other_cpu_pct']:.0f}% of a core")
        attempts.append(run)
        if not run.get("ok") or run["other_cpu_pct"] <= OTHER_LOAD_WARN_PCT:
            break
    best = min(attempts, key=lambda r: (not r.get("ok"), r["other_cpu_pct"]))
    for other in attempts:
        if other is not best:
            shutil.rmtree(other["out"], ignore_errors=True)
    best["attempts"] = [{"other_cpu_pct": round(r["other_cpu_pct"], 1), "frames_per_s": r.get("frames_per_s"),
                         "kept": r is best} for r in attempts]
    return best


def git_state() -> dict:
    """The commit measured and any uncommitted change under collector/ (others may be editing)."""
    def git(*args):
        proc = subprocess.run(["git", *args], capture_output=True, text=True, cwd=REPO)
        return proc.stdout.strip() if proc.returncode == 0 else None

    return {"commit": git("rev-parse", "HEAD"), "collector_changes": (git("status", "--porcelain", "--", "collector")
                                                                       or "").splitlines()}


def bench(*, episodes: int, seconds: float, keep: bool, profile: bool, workdir: Path | None = None,
          retries: int = 2, quiet_wait_s: float = 300.0, presets: tuple[int, ...] = (8,)) -> dict:
    """Write the episodes, run LeRobot, ours and ours --workers 2, load every output; the report dict."""
    for path in (LEROBOT_PYTHON, OUR_PYTHON, WRITER_BENCH, PROBE):
        if not path.exists():
            raise BenchError(f"{path} is missing (LeRobot venv: bash scripts/lerobot_env.sh)")
    collector = collector_command()
    work = Path(tempfile.mkdtemp(prefix="export-speed-", dir=workdir))
    raw = work / "raw"
    report: dict = {
        "bench": "export_speed", "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
                    "memory_gb": memory_total_gb(), "python": platform.python_version()},
        "episodes": episodes, "seconds_per_episode": seconds, "rig": f"{RIG} without {', '.join(DROP_STREAMS)}",
        "cameras": "3 x 640x480 rgb8",
        "codec": {"vcodec": "libsvtav1", "crf": 30, "gop": 2, "pix_fmt": "yuv420p",
                  "preset": "per run (runs.*.preset); ours' default: "
                            f"{our_default_preset() if our_default_preset() is not None else 'the encoder own'}"},
        "git_at_start": git_state(), "collector_command": collector,
        "sample_interval_s": {"rss": SAMPLE_S, "pss": SAMPLE_S * PSS_EVERY},
        "runs": {},
    }
    try:
        console.print(f"[bold]writing {episodes} raw episodes of {seconds:g} s[/bold] into {raw}")
        started = time.monotonic()
        paths = write_episodes(raw, episodes, seconds)
        report["raw_write_s"] = round(time.monotonic() - started, 1)
        report["raw_mb"] = round(sum(p.stat().st_size for p in raw.rglob("*") if p.is_file()) / MB, 1)
        for key, title, workers, options in plan_runs(presets):
            report["runs"][key] = measured_run(key, title, workers, options, raw, work, collector,
                                               retries=retries, quiet_wait_s=quiet_wait_s)
        for key, title, *_ in plan_runs(presets):
            console.print(f"loading {title}'s output with LeRobot's loader")
            run = report["runs"][key]
            out = Path(run["out"])
            run["loaded"] = probe(out) if out.exists() else {"ok": False, "error": "no output"}
            run["verdict"] = judged(run, run["loaded"])
            run["dataset"] = dataset_facts(out)
            if key != "lerobot":
                run["same_as_lerobot"] = compare(report["runs"]["lerobot"]["dataset"], run["dataset"])
        if profile:
            console.print("[bold]profiling[/bold]: ours on one episode with its parts timed, per-frame codec costs")
            report["profile"] = {"ours_one_episode_timed": profile_ours(paths[0], work),
                                 "per_frame_one_camera": micro(paths[0], work)}
    finally:
        if keep:
            console.print(f"kept {work}")
            report["workdir"] = str(work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    report["git_at_end"] = git_state()
    if report["git_at_end"] != report["git_at_start"]:
        console.print(f"[yellow]the exporter's code changed during the run: {report['git_at_start']} -> "
                      f"{report['git_at_end']}[/yellow]")
    report["ours_over_lerobot"] = summarize(report)
    return report


def backfill_other_cpu(report: dict) -> None:
    """Reports written before ``other_cpu_per_process_pct`` existed counted other processes per
    process only; add the machine-wide estimate (machine busy - the run's tree - the sampler)
    the same way :func:`measure` does now."""
    for run in report["runs"].values():
        if "other_cpu_per_process_pct" in run or run.get("machine_busy_pct") is None or not run.get("wall_s"):
            continue
        machine = run["machine_busy_pct"] - run["tree_cpu_pct"] - 100.0 * run.get("sampler_cpu_s", 0.0) / run["wall_s"]
        run["other_cpu_per_process_pct"] = run["other_cpu_pct"]
        run["other_cpu_pct"] = max(run["other_cpu_pct"], machine, 0.0)


def summarize(report: dict) -> dict:
    """Per run of ours: frames/s and peak memory over LeRobot's (None where a run failed)."""
    lerobot = report["runs"].get("lerobot", {})

    def over(a, b):
        return round(a / b, 3) if a and b else None

    summary = {}
    for key, run in report["runs"].items():
        if key == "lerobot":
            continue
        if run.get("verdict", {}).get("status") != "ok" or lerobot.get("verdict", {}).get("status") != "ok":
            summary[key] = None
            continue
        delta, raw = lerobot["memory"]["writer_delta"], lerobot["peak"]
        summary[key] = {
            "frames_per_s_ratio": over(run["frames_per_s"], lerobot["frames_per_s"]),
            "peak_rss_vs_lerobot_delta": over(run["peak"]["rss_mb"], delta["rss_mb"]),
            "peak_pss_vs_lerobot_delta": over(run["peak"]["pss_mb"], delta["pss_mb"]),
            "peak_rss_vs_lerobot_raw": over(run["peak"]["rss_mb"], raw["rss_mb"]),
            "peak_pss_vs_lerobot_raw": over(run["peak"]["pss_mb"], raw["pss_mb"]),
        }
    return summary


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=10, help="raw episodes (default 10)")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per episode (default 10: 300 frames)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 episodes of 2 s (60 frames)")
    parser.add_argument("--from-json", type=Path, metavar="REPORT",
                        help="measure nothing: print the tables of an earlier report (and rewrite its summary "
                        "with --json-out)")
    parser.add_argument("--json-out", type=Path, help="write the full report here (JSON)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (raw episodes and outputs)")
    parser.add_argument("--workdir", type=Path, help="make the temp dir here (default: the system's temp dir)")
    parser.add_argument("--profile", action="store_true", help="also profile ours and time the codecs per frame")
    parser.add_argument("--presets", default="8",
                        help="also run ours with -o preset=N for each of these, comma-separated (default 8; '' none)")
    parser.add_argument("--retries", type=int, default=2,
                        help="run a measurement again (up to this many times) when other processes loaded the "
                        "machine during it (default 2)")
    parser.add_argument("--quiet-wait", type=float, default=300.0,
                        help="before each run, wait up to this many s for other load to end (default 300)")
    args = parser.parse_args(argv)
    if args.quick:
        args.episodes, args.seconds = 2, 2.0
    if args.episodes < 1 or args.seconds <= 0:
        parser.error("--episodes must be >= 1 and --seconds > 0")
    try:
        args.presets = tuple(int(p) for p in args.presets.split(",") if p.strip())
    except ValueError:
        parser.error(f"--presets {args.presets!r} is not a comma-separated list of integers")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.from_json:
        report = json.loads(args.from_json.read_text())
        backfill_other_cpu(report)
        report["ours_over_lerobot"] = summarize(report)
        print_report(report)
        if args.json_out:
            args.json_out.write_text(json.dumps(report, indent=2, default=str) + "\n")
        return 0
    try:
        report = bench(episodes=args.episodes, seconds=args.seconds, keep=args.keep, profile=args.profile,
                       workdir=args.workdir, retries=args.retries, quiet_wait_s=args.quiet_wait,
                       presets=args.presets)
    except BenchError as err:
        console.print(f"error: {err}")
        return 1
    print_report(report)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(report, indent=2, default=str) + "\n")
        console.print(f"wrote {args.json_out}")
    ok = all(r.get("verdict", {}).get("status") == "ok" for r in report["runs"].values())
    return 0 if ok else 2


if __name__ == "__main__":
    sys.exit(main())
