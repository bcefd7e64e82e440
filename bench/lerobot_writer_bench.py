#!/usr/bin/env python3
"""LeRobot's own writer on our raw episodes, timed: the LeRobot side of ``export_speed.py``.

Runs in the LeRobot venv (``.venv-lerobot``, scripts/lerobot_env.sh), never in .venv:

    .venv-lerobot/bin/python bench/lerobot_writer_bench.py RAW_DIR --out DATASET --result RESULT.json

For every episode (in ``collector export``'s order), with the clock stopped, it computes
exactly what our exporter writes, with our own code: sync on the rig's grid
(``collector.sync.synchronize``), the feature plan and numeric table
(``collector.export.features``), the rows our exporter keeps (``invalid=trim``,
``collector.export.lerobot.episode.select_rows``) and every camera frame of those rows,
decoded into memory (``collector.export.frames.iter_frames``), one frame dict per row,
ready for ``add_frame``. Then, with the clock running, it calls only LeRobot's writer:
``add_frame`` per frame and ``save_episode``, with LeRobot's defaults (PNG per frame at
compress level 1, then ``encode_video_frames`` per camera in a process pool: libsvtav1,
crf 30, g 2, yuv420p, default preset). ``LeRobotDataset.create`` and ``finalize`` are timed
too. The preloaded frames are freed before the next episode is loaded.

Features given to LeRobot: every feature of our plan with our dtypes and shapes
(``observation.state``, ``action``, the cameras as ``video``, velocity, effort, IMU,
wrench, ``time.*``) plus our ``time.valid`` (bool), so both datasets hold the same columns.

RESULT.json: frames, the clock (``writer_s``) and its parts, the untimed preload seconds,
each timed window as ``[start, stop]`` in ``time.monotonic()`` seconds (the same
system-wide clock as the calling process, which samples memory) and this process's RSS
and PSS (MB) right before each window. Phase times inside LeRobot (PNG writes, stats,
parquet, video concatenation) are measured by wrapping those functions; video encoding
runs in LeRobot's worker processes and is what remains of ``save_episode``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from pathlib import Path

REPO_ID = "local/export_speed"
MB = 1024 * 1024


def own_memory_mb() -> dict[str, float]:
    """This process's RSS and PSS (MB) from /proc (no psutil in this venv)."""
    out = {}
    for file, field, key in (("status", "VmRSS:", "rss_mb"), ("smaps_rollup", "Pss:", "pss_mb")):
        try:
            with open(f"/proc/self/{file}") as handle:
                for line in handle:
                    if line.startswith(field):
                        out[key] = int(line.split()[1]) * 1024 / MB
                        break
        except OSError:
            out[key] = None
    return out


class PhaseClock:
    """Sums the seconds spent in wrapped functions (called in this process)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def wrap(self, owner, name: str, label: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - start
                self.calls[label] = self.calls.get(label, 0) + 1

        setattr(owner, name, timed)


def flatten_scalar_columns(dataset_class, scalar_keys: list[str]) -> None:
    """Let LeRobot 0.4.4 save our one-element features under numpy 2.

    ``save_episode`` stacks a ``(1,)`` feature into ``(K, 1)``; ``datasets`` then encodes
    it as a scalar column (LeRobot declares ``shape (1,)`` as ``Value``) with ``float(row)``,
    which numpy >= 2.4 refuses for a 1-element array ("only 0-dimensional arrays can be
    converted"). The shim flattens those columns to ``(K,)`` right before
    ``_save_episode_data``: the same values, and the parquet column LeRobot means to write.
    It runs inside LeRobot's clock (a reshape per column per episode)."""
    original = dataset_class._save_episode_data

    @functools.wraps(original)
    def save(self, episode_buffer):
        for key in scalar_keys:
            value = episode_buffer.get(key)
            if getattr(value, "ndim", 0) == 2 and value.shape[1] == 1:
                episode_buffer[key] = value.reshape(len(value))
        return original(self, episode_buffer)

    dataset_class._save_episode_data = save


def lerobot_features(plan) -> dict[str, dict]:
    """Our plan's features as LeRobot's ``create`` takes them (cameras as video), plus time.valid."""
    from collector.export.lerobot.layout import VALID_KEY

    features = {}
    for feature in plan:
        if feature.kind == "image":
            features[feature.key] = {"dtype": "video", "shape": tuple(feature.shape),
                                     "names": ["height", "width", "channels"]}
        elif feature.kind == "depth":
            raise SystemExit(f"{feature.key}: this bench compares camera video only; "
                             "the rig must have no depth stream")
        else:
            features[feature.key] = {"dtype": feature.dtype, "shape": tuple(feature.shape),
                                     "names": None if feature.names is None else list(feature.names)}
    features[VALID_KEY] = {"dtype": "bool", "shape": (1,), "names": None}
    return features


def load_episode(path: Path, plan, fps: float) -> tuple[list[dict], str, dict]:
    """Every frame dict our exporter would write for ``path`` (images decoded), its task,
    and the preload's timings (s)."""
    import numpy as np

    from collector.episode import read_episode_info
    from collector.export.features import episode_valid_mask, frame_table
    from collector.export.frames import iter_frames
    from collector.export.lerobot.episode import select_rows
    from collector.export.lerobot.layout import VALID_KEY
    from collector.sync import synchronize

    started = time.perf_counter()
    info = read_episode_info(path)
    sync = synchronize(path, fps=fps)
    synced = time.perf_counter()
    numeric = frame_table(plan, sync)
    rows = select_rows(plan, sync, numeric, "trim")
    valid = episode_valid_mask(sync, plan)[rows]
    columns = {key: values[rows] for key, values in numeric.items()}
    cameras = {f.streams[0]: f.key for f in plan.images if f.kind == "image"}
    task = info.task or ""
    frames = []
    for position, images in enumerate(iter_frames(path, sync, list(cameras), frames=rows)):
        frame = {}
        for key, values in columns.items():
            value = values[position]
            frame[key] = value if value.ndim else value.reshape(1)
        frame[VALID_KEY] = np.array([valid[position]], dtype=bool)
        for stream, key in cameras.items():
            frame[key] = images[stream]
        frame["task"] = task
        frames.append(frame)
    if len(frames) != len(rows):
        raise SystemExit(f"{path}: decoded {len(frames)} frames, expected {len(rows)}")
    done = time.perf_counter()
    return frames, task, {"sync_s": synced - started, "decode_s": done - synced}


def run(sources: list[Path], out: Path, vcodec: str) -> dict:
    """Write ``sources`` into a new LeRobot dataset at ``out`` with LeRobot's writer; see the module doc."""
    import gc

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    import logging

    logging.disable(logging.WARNING)
    import lerobot
    import lerobot.datasets.lerobot_dataset as lrd
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
    from lerobot.datasets.video_utils import _get_codec_options

    from collector.export.features import feature_plan
    from collector.export.run import find_sources
    from collector.sync.timeline import episode_rig

    episodes = find_sources(sources)
    plan = feature_plan(episode_rig(episodes[0]))
    fps = plan.fps
    if fps != int(fps):
        raise SystemExit(f"LeRobot's create() takes an int fps; the rig's is {fps}")
    features = lerobot_features(plan)

    flatten_scalar_columns(LeRobotDataset, [k for k, v in features.items()
                                            if v["dtype"] not in ("video", "image") and tuple(v["shape"]) == (1,)])
    phases = PhaseClock()
    phases.wrap(lrd, "write_image", "png_write")
    phases.wrap(lrd, "validate_frame", "validate_frame")
    phases.wrap(lrd, "compute_episode_stats", "episode_stats")
    phases.wrap(LeRobotDataset, "_save_episode_data", "parquet_data")
    phases.wrap(LeRobotDataset, "_save_episode_video", "video_concat")
    phases.wrap(lrd.LeRobotDatasetMetadata, "save_episode", "meta_episode")

    windows: list[dict] = []
    timed = {"create_s": 0.0, "add_frame_s": 0.0, "save_episode_s": 0.0, "finalize_s": 0.0}
    preload = {"sync_s": 0.0, "decode_s": 0.0}

    def window(label: str):
        mem = own_memory_mb()
        windows.append({"label": label, "start": time.monotonic(), "stop": None, **{f"before_{k}": v
                                                                                     for k, v in mem.items()}})
        return windows[-1]

    if out.exists():
        raise SystemExit(f"{out} exists already, not overwriting")
    w = window("create")
    dataset = LeRobotDataset.create(REPO_ID, fps=int(fps), root=out, features=features, use_videos=True,
                                    robot_type=plan.rig, vcodec=vcodec)
    w["stop"] = time.monotonic()
    timed["create_s"] += w["stop"] - w["start"]
    frames_total = 0
    lengths = []
    for index, path in enumerate(episodes):
        frames, task, cost = load_episode(path, plan, fps)
        for key in preload:
            preload[key] += cost[key]
        w = window(f"episode {index}")
        for frame in frames:
            dataset.add_frame(frame)
        added = time.monotonic()
        dataset.save_episode()
        w["stop"] = time.monotonic()
        timed["add_frame_s"] += added - w["start"]
        timed["save_episode_s"] += w["stop"] - added
        w.update({"frames": len(frames), "add_frame_s": added - w["start"], "save_episode_s": w["stop"] - added})
        frames_total += len(frames)
        lengths.append(len(frames))
        print(f"lerobot: episode {index} ({len(frames)} frames, task {task!r}): add_frame "
              f"{w['add_frame_s']:.1f} s, save_episode {w['save_episode_s']:.1f} s", file=sys.stderr, flush=True)
        del frames
        gc.collect()
    w = window("finalize")
    dataset.finalize()
    w["stop"] = time.monotonic()
    timed["finalize_s"] = w["stop"] - w["start"]
    writer_s = sum(timed.values())
    in_process = {k: round(v, 3) for k, v in phases.seconds.items()}
    encode_s = timed["save_episode_s"] - sum(phases.seconds.get(k, 0.0) for k in
                                             ("episode_stats", "parquet_data", "video_concat", "meta_episode"))
    return {
        "ok": True, "lerobot": lerobot.__version__ if hasattr(lerobot, "__version__") else None,
        "vcodec": vcodec, "codec_options": _get_codec_options(vcodec), "fps": fps, "episodes": len(episodes),
        "frames": frames_total, "lengths": lengths,
        "features": {k: {"dtype": v["dtype"], "shape": list(v["shape"])} for k, v in features.items()},
        "writer_s": writer_s, "frames_per_s": frames_total / writer_s if writer_s else None,
        "timed": {k: round(v, 3) for k, v in timed.items()},
        "phases_s": {**in_process, "video_encode_pool_s": round(encode_s, 3)}, "phase_calls": phases.calls,
        "preload_s": {k: round(v, 3) for k, v in preload.items()}, "windows": windows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sources", nargs="+", type=Path, help="raw episode folders or a folder of episodes")
    parser.add_argument("--out", required=True, type=Path, help="dataset folder to create (must not exist)")
    parser.add_argument("--result", required=True, type=Path, help="write the timings here (JSON)")
    parser.add_argument("--vcodec", default="libsvtav1", help="LeRobot vcodec (default: LeRobot's, libsvtav1)")
    args = parser.parse_args(argv)
    result = run(args.sources, args.out, args.vcodec)
    args.result.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
