"""Loader speed: samples/s of collector's CollectorDataset against LeRobot's LeRobotDataset.

Run with the LeRobot venv (torch, LeRobot 0.4.4, collector editable)::

    .venv-lerobot/bin/python bench/load_speed.py [--quick] [--json-out FILE]

1. Writes a dataset with our exporter (``tests/loader/make_datasets.py``, in the main
   venv ``.venv``, which has the synthetic robot): the Bao'an rig's 3 RGB cameras plus
   depth, IMU, wrenches, ``--episodes`` x ``--seconds`` at 30 fps, ``--width`` x
   ``--height`` (default 10 x 10 s = 3000 frames at 320x240), AV1 as exported by default.
   ``--data DIR`` keeps it and reuses it on the next run.
2. For each loader and each ``--workers`` count (0 and 2), in a fresh process each (LeRobot
   warns that a decoder used in a parent crashes forked workers): the dataset with
   ``delta_timestamps={"action": [k / fps for k in range(50)]}`` (a 50-step action chunk),
   a ``DataLoader`` with ``batch_size``, the same seeded shuffled indices for both loaders,
   ``--warmup`` batches excluded (worker start-up, first opens), then ``--samples``
   samples timed. Every item holds the same keys from both loaders (all features: 3
   cameras decoded, depth PNG decoded, state, action chunk + pad mask, ...).
3. Prints ours, LeRobot and the ratio per worker count (rich), and ``--json-out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAIN_PYTHON = REPO / ".venv" / "bin" / "python"
CHUNK = 50


def build(data: Path, *, episodes: int, seconds: float, width: int, height: int) -> Path:
    root = data / "lerobot"
    if (root / "meta" / "info.json").exists():
        return root
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    subprocess.run([str(MAIN_PYTHON), str(REPO / "tests" / "loader" / "make_datasets.py"), str(data),
                    "--episodes", str(episodes), "--seconds", str(seconds), "--width", str(width),
                    "--height", str(height), "--formats", "lerobot"], check=True, env=env, cwd=REPO,
                   stdout=subprocess.DEVNULL)
    return root


def measure(loader: str, root: Path, *, workers: int, batch_size: int, samples: int, warmup: int, seed: int) -> dict:
    """One measurement in this process: samples/s after ``warmup`` batches."""
    import numpy as np
    import torch

    torch.set_num_threads(1)
    if loader == "ours":
        from collector.loader import CollectorDataset

        ds = CollectorDataset(root, delta_timestamps={"action": [k / 30 for k in range(CHUNK)]})
    else:
        os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TQDM_DISABLE="1")
        os.environ.setdefault("HF_DATASETS_CACHE", tempfile.mkdtemp(prefix="bench-hf-"))
        from lerobot.datasets.lerobot_dataset import LeRobotDataset

        ds = LeRobotDataset("local/bench", root=root, delta_timestamps={"action": [k / 30 for k in range(CHUNK)]})
    total = (warmup * batch_size) + samples
    order = np.random.default_rng(seed).permutation(np.resize(np.arange(len(ds)), total))[:total].tolist()
    data = torch.utils.data.DataLoader(ds, batch_size=batch_size, sampler=order, num_workers=workers,
                                       persistent_workers=False)
    seen, start, keys = 0, None, None
    t0 = time.perf_counter()
    for i, batch in enumerate(data):
        if i == warmup:
            start, seen = time.perf_counter(), 0
        seen += len(batch["index"])
        keys = sorted(batch)
        assert batch["action"].shape[1:2] == (CHUNK,)
    elapsed = time.perf_counter() - start
    return {"loader": loader, "workers": workers, "samples": seen, "seconds": elapsed,
            "samples_per_s": seen / elapsed, "warmup_s": start - t0, "keys": len(keys)}


def run_one(args, loader: str, workers: int, root: Path) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--one", loader, str(workers), "--root", str(root),
                           "--batch-size", str(args.batch_size), "--samples", str(args.samples),
                           "--warmup", str(args.warmup), "--seed", str(args.seed)],
                          capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        raise SystemExit(f"error: {loader} with {workers} workers failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 episodes x 4 s, 160 samples: a smoke run")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--workers", default="0,2")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--samples", type=int, default=800)
    parser.add_argument("--warmup", type=int, default=3, help="batches excluded from the timing")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=None, help="dataset folder to write (or reuse)")
    parser.add_argument("--json-out", type=Path, default=None)
    parser.add_argument("--one", nargs=2, metavar=("LOADER", "WORKERS"), help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        result = measure(args.one[0], args.root, workers=int(args.one[1]), batch_size=args.batch_size,
                         samples=args.samples, warmup=args.warmup, seed=args.seed)
        print(json.dumps(result))
        return 0
    if args.quick:
        args.episodes, args.seconds, args.samples = 3, 4.0, 160
    data = args.data or Path(tempfile.mkdtemp(prefix="load-speed-"))
    t = time.perf_counter()
    root = build(data, episodes=args.episodes, seconds=args.seconds, width=args.width, height=args.height)
    build_s = time.perf_counter() - t
    results = []
    for workers in [int(w) for w in args.workers.split(",")]:
        for loader in ("ours", "lerobot"):
            results.append(run_one(args, loader, workers, root))

    from rich.console import Console
    from rich.table import Table

    info = json.loads((root / "meta" / "info.json").read_text())
    title = (f"{info['total_episodes']} episodes, {info['total_frames']} frames, 3 x {args.width}x{args.height} "
             f"AV1 cameras + depth, action chunk {CHUNK}, batch {args.batch_size}, {args.samples} samples")
    table = Table(title=title)
    for column in ("workers", "ours (samples/s)", "LeRobot (samples/s)", "ratio"):
        table.add_column(column, justify="right")
    rows = []
    for workers in sorted({r["workers"] for r in results}):
        ours = next(r for r in results if r["workers"] == workers and r["loader"] == "ours")
        theirs = next(r for r in results if r["workers"] == workers and r["loader"] == "lerobot")
        ratio = ours["samples_per_s"] / theirs["samples_per_s"]
        rows.append({"workers": workers, "ours": ours["samples_per_s"], "lerobot": theirs["samples_per_s"],
                     "ratio": ratio})
        table.add_row(str(workers), f"{ours['samples_per_s']:.1f}", f"{theirs['samples_per_s']:.1f}", f"{ratio:.2f}x")
    Console().print(table)
    if args.json_out:
        import torch

        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps({
            "dataset": {"episodes": info["total_episodes"], "frames": info["total_frames"], "width": args.width,
                        "height": args.height, "build_s": build_s, "root": str(root)},
            "settings": {"chunk": CHUNK, "batch_size": args.batch_size, "samples": args.samples,
                         "warmup_batches": args.warmup, "seed": args.seed},
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__},
            "rows": rows, "runs": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
