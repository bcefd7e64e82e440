"""Simulation speed: physics steps/s and collected frames/s, lock-step, 1 and 2 workers.

    .venv/bin/python bench/sim_speed.py [--episodes 4] [--task part_to_bin] [--json-out FILE]

Rows:

* physics: ``mj_step`` of the Bao'an station with the robot under control, no rendering;
* collect, 3 cameras + depth at 320x240 and 640x480, 1 worker and 2 workers: complete
  lock-step episodes (physics, expert IK, every rig stream serialised, rendering, MCAP
  writing), frames/s = head-camera frames written / wall seconds. The Bao'an rig has
  three RGB cameras and one depth stream; all four are rendered.

Goal (issue 5): >= 30 frames/s with 3 cameras at 320x240 on this 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
os.environ.setdefault("MUJOCO_GL", "egl")

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

STATION = "baoan_assembly"
GOAL_FPS = 30.0


def physics_rate(task_name: str, seconds: float = 3.0) -> float:
    from collector.rig import load_rig
    from collector.sim.catalog import load_station
    from collector.sim.tasks import make_task
    from collector.sim.world import SimWorld

    station = load_station(STATION)
    world = SimWorld(station.mjcf, load_rig(station.rig), cameras=station.cameras, imu_sensors=station.imu,
                     wrench_sensors=station.wrench)
    task = make_task(station, station.task(task_name), world, 0)
    task.setup()
    world.command(task.targets(0.5))
    steps = round(seconds / world.model.opt.timestep)
    start = time.perf_counter()
    world.step(steps)
    return steps / (time.perf_counter() - start)


def collect_rate(task_name: str, episodes: int, workers: int, size: tuple[int, int], out: Path) -> dict:
    from collector.sim.runner import collect_episodes

    start = time.perf_counter()
    results = collect_episodes(STATION, task_name, episodes=episodes, out=out, workers=workers, camera_size=size,
                               start_ns=1_780_000_000_000_000_000, show_progress=False)
    wall = time.perf_counter() - start
    frames = sum(r.frames for r in results)
    return {"size": f"{size[0]}x{size[1]}", "workers": workers, "episodes": episodes, "frames": frames,
            "sim_seconds": round(sum(r.seconds for r in results), 3), "wall_s": round(wall, 3),
            "frames_per_s": round(frames / wall, 2),
            "real_time_factor": round(sum(r.seconds for r in results) / wall, 3),
            "succeeded": sum(r.success for r in results)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=4, help="episodes per collect row (default 4)")
    parser.add_argument("--task", default="part_to_bin")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)
    console = Console()
    out = Path(tempfile.mkdtemp(prefix="sim-speed-"))
    try:
        steps = physics_rate(args.task)
        rows = []
        for size in ((320, 240), (640, 480)):
            for workers in (1, 2):
                rows.append(collect_rate(args.task, args.episodes, workers, size, out / f"{size[0]}_{workers}"))
    finally:
        shutil.rmtree(out, ignore_errors=True)
    table = Table(title=f"sim speed: {STATION}/{args.task}, lock-step, {os.cpu_count()} CPUs")
    for column in ("what", "workers", "frames/s", "x real time", "episodes ok"):
        table.add_column(column, justify="right" if column != "what" else "left")
    table.add_row("physics only (steps/s)", "1", f"{steps:,.0f}", f"{steps * 0.002:.0f}", "")
    for row in rows:
        table.add_row(f"collect, 3 cameras + depth at {row['size']}", str(row["workers"]), f"{row['frames_per_s']:.1f}",
                      f"{row['real_time_factor']:.2f}", f"{row['succeeded']}/{row['episodes']}")
    console.print(table)
    best = max(r["frames_per_s"] for r in rows if r["size"] == "320x240")
    console.print(f"goal >= {GOAL_FPS:g} frames/s with 3 cameras at 320x240: "
                  f"{'met' if best >= GOAL_FPS else 'NOT met'} ({best:.1f})")
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps({"bench": "sim_speed", "station": STATION, "task": args.task,
                                             "cpus": os.cpu_count(), "physics_steps_per_s": round(steps),
                                             "collect": rows, "goal_frames_per_s": GOAL_FPS}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
