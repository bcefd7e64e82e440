"""Write small real datasets for the loader's tests and bench (run with the main venv: it
needs the synthetic robot and the bag writer, which the LeRobot venv lacks).

``python tests/loader/make_datasets.py OUT [--episodes 3 --seconds 1.4 --width 64 --height 48]``
writes raw synthetic episodes of the Bao'an rig (3 cameras, depth, IMU, wrenches) under
``OUT/raw`` and exports them with our exporters:

* ``OUT/lerobot``: LeRobot v3.0 (AV1), written by two export runs (all but the last
  episode, then the last), so it has several episodes per mp4 and two files per camera;
* ``OUT/hdf5``: ALOHA layout, raw images; ``OUT/hdf5_jpeg``: ALOHA layout, JPEG images.

Labels, so selection can be tested: episode ``i`` has task ``TASKS[i % 2]``, success
``SUCCESS[i % 3]`` and site ``SITES[i % 2]``. Prints a JSON summary on stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

TASKS = ("pick the part", "place the part")
SUCCESS = (True, False, None)
SITES = ("baoan", "longhua")
FPS = 30


def rig_at(width: int, height: int):
    import yaml

    from collector.rig import load_rig, parse_rig
    from tests.export.conftest import LATENCY_MS

    doc = yaml.safe_load(load_rig("baoan_humanoid").text)
    for stream in doc["streams"]:
        if stream["role"] in ("camera", "depth"):
            stream["width"], stream["height"] = width, height
        stream["latency_ms"] = LATENCY_MS.get(stream["role"], 0.3)
    return parse_rig(yaml.safe_dump(doc, sort_keys=False), source=f"baoan_{width}x{height}.yaml")


def make(out: Path, *, episodes: int, seconds: float, width: int, height: int, formats: list[str]) -> dict:
    from collector.drivers.synthetic_episode import write_synthetic_episode
    from collector.episode import read_episode_info
    from collector.export.features import feature_plan
    from collector.export.hdf5 import Hdf5Writer
    from collector.export.lerobot.writer import LeRobotWriter
    from collector.sync import synchronize
    from tests.export.conftest import START_NS

    rig = rig_at(width, height)
    plan = feature_plan(rig)
    raw = []
    for i in range(episodes):
        episode = write_synthetic_episode(out / "raw" / f"{i:03d}", rig, seconds=seconds, seed=40 + i,
                                          start_ns=START_NS + i * 10**9, task=TASKS[i % 2], operator="op3")
        info = dataclasses.replace(read_episode_info(episode.path), success=SUCCESS[i % 3], site=SITES[i % 2])
        raw.append((episode.path, synchronize(episode.path), info))
    runs = [raw[:-1], raw[-1:]] if len(raw) > 1 else [raw]
    written = {}
    if "lerobot" in formats:
        for run in runs:
            with LeRobotWriter(out / "lerobot", plan=plan, fps=FPS, options={}) as writer:
                for path, sync, info in run:
                    writer.add_episode(path, sync, info)
        written["lerobot"] = str(out / "lerobot")
    for name, options in (("hdf5", {}), ("hdf5_jpeg", {"compress": True})):
        if name in formats:
            with Hdf5Writer(out / name, plan=plan, fps=FPS, options=options) as writer:
                for path, sync, info in raw:
                    writer.add_episode(path, sync, info)
            written[name] = str(out / name)
    return {"datasets": written, "episodes": episodes, "fps": FPS, "tasks": [TASKS[i % 2] for i in range(episodes)],
            "success": [SUCCESS[i % 3] for i in range(episodes)], "sites": [SITES[i % 2] for i in range(episodes)]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=1.4)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--height", type=int, default=48)
    parser.add_argument("--formats", default="lerobot,hdf5,hdf5_jpeg")
    args = parser.parse_args(argv)
    summary = make(args.out, episodes=args.episodes, seconds=args.seconds, width=args.width, height=args.height,
                   formats=args.formats.split(","))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
