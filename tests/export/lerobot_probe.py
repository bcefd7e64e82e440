#!/usr/bin/env python3
"""Load a dataset with LeRobot's own loader, offline, and print what it sees as JSON.

The compatibility oracle for our LeRobot v3.0 exporter. It runs in the LeRobot venv that
scripts/lerobot_env.sh creates, never in the project's .venv:

    .venv-lerobot/bin/python tests/export/lerobot_probe.py DATASET_DIR [--all]

It builds ``LeRobotDataset(repo_id, root=DATASET_DIR)`` with the Hub switched off, fetches
items (video frames decoded, tolerance checks included) and prints one JSON object on
stdout: ``{"ok": true, ...}`` with the length, episodes, tasks, features and each fetched
item's keys, shapes and dtypes (values too for small tensors, per-channel means for images),
and ``null_keys``: features that came back as None (LeRobot does not fail on a missing column).
On any failure it prints ``{"ok": false, "error": TYPE, "message": ...}`` and exits 1.

``--write-reference`` first writes a tiny dataset into DATASET_DIR with LeRobot's own writer
(``LeRobotDataset.create`` / ``add_frame`` / ``save_episode`` / ``finalize``): 2 episodes of
12 and 9 frames at 10 fps, a 6-dim ``observation.state`` and ``action``, one 64x48 camera
``observation.images.head`` (video, or PNG images with ``--images``), two tasks. The frames
are deterministic, so a test can compare what comes back.

By default the first and last frame of every episode are fetched (episode boundaries are
where video offsets go wrong); ``--all`` fetches every frame, ``--index`` chosen ones.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import traceback
from pathlib import Path

REFERENCE_FPS = 10
REFERENCE_EPISODES = ((12, "pick the cube"), (9, "wave"))
REFERENCE_CAMERA = "observation.images.head"
REFERENCE_SHAPE = (48, 64, 3)  # height, width, channels (LeRobot's feature order)
SMALL_TENSOR = 64  # tensors up to this many elements are printed with their values


def reference_frame(episode: int, frame: int):
    """The reference camera frame: red ramps with the frame, green marks the episode."""
    import numpy as np

    img = np.zeros(REFERENCE_SHAPE, np.uint8)
    img[..., 0] = 20 * frame
    img[..., 1] = 100 * episode
    img[:, : 4 * frame, 2] = 255
    return img


def reference_vector(episode: int, frame: int, offset: float):
    import numpy as np

    return (np.arange(6, dtype=np.float32) + 100 * episode + frame + offset).astype(np.float32)


def write_reference(root: Path, repo_id: str, use_videos: bool, vcodec: str) -> None:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    joints = [f"joint_{i}" for i in range(6)]
    features = {
        "observation.state": {"dtype": "float32", "shape": (6,), "names": joints},
        "action": {"dtype": "float32", "shape": (6,), "names": joints},
        REFERENCE_CAMERA: {
            "dtype": "video" if use_videos else "image",
            "shape": REFERENCE_SHAPE,
            "names": ["height", "width", "channels"],
        },
    }
    if root.exists():
        shutil.rmtree(root)  # create() refuses an existing root
    kwargs = {"vcodec": vcodec} if use_videos else {}
    dataset = LeRobotDataset.create(
        repo_id, fps=REFERENCE_FPS, root=root, features=features, use_videos=use_videos,
        robot_type="reference_humanoid", **kwargs,
    )
    for episode, (length, task) in enumerate(REFERENCE_EPISODES):
        for frame in range(length):
            dataset.add_frame({
                "observation.state": reference_vector(episode, frame, 0.0),
                "action": reference_vector(episode, frame, 0.5),
                REFERENCE_CAMERA: reference_frame(episode, frame),
                "task": task,
            })
        dataset.save_episode()
    if hasattr(dataset, "finalize"):  # LeRobot >= 0.4 buffers parquet writes until finalize()
        dataset.finalize()


def describe(value):
    """JSON-friendly description of one item value."""
    import torch

    if isinstance(value, torch.Tensor):
        out = {"shape": list(value.shape), "dtype": str(value.dtype).removeprefix("torch.")}
        if value.numel() <= SMALL_TENSOR:
            out["value"] = value.tolist()
        elif value.dim() == 3 and value.is_floating_point():  # C, H, W image in [0, 1]
            out["channel_mean"] = [round(float(c), 5) for c in value.mean(dim=(1, 2))]
            out["min"] = float(value.min())
            out["max"] = float(value.max())
        return out
    if isinstance(value, (str, int, float, bool)) or value is None:
        return {"value": value}
    return {"type": type(value).__name__, "repr": repr(value)[:200]}


def versions() -> dict:
    from importlib import metadata

    out = {}
    for dist in ("lerobot", "torch", "torchvision", "torchcodec", "av", "datasets", "pyarrow", "pandas"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def dump(item: dict, index: int, folder: Path) -> None:
    """Save every tensor of an item as ``<index>.<key>.npy`` (no pickle) for exact comparisons."""
    import numpy as np
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    for key, value in item.items():
        if isinstance(value, torch.Tensor):
            np.save(folder / f"{index}.{key}.npy", value.numpy(), allow_pickle=False)


def probe(root: Path, repo_id: str, indices: list[int] | None, every: bool, video_backend: str | None,
          dump_dir: Path | None = None) -> dict:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    dataset = LeRobotDataset(repo_id, root=root, video_backend=video_backend)
    meta = dataset.meta
    episodes = []
    for row in meta.episodes:
        episodes.append({
            key: row[key]
            for key in row
            if key in ("episode_index", "length", "tasks", "dataset_from_index", "dataset_to_index")
            or key.startswith("videos/")
        })
    if every:
        wanted = list(range(len(dataset)))
    elif indices is not None:
        wanted = indices
    else:
        wanted = sorted({i for ep in episodes for i in (ep["dataset_from_index"], ep["dataset_to_index"] - 1)})
    items = {}
    null_keys = set()  # a feature column missing from the parquet files comes back as None
    for index in wanted:
        item = dataset[index]
        items[str(index)] = {key: describe(value) for key, value in item.items()}
        if dump_dir is not None:
            dump(item, index, dump_dir)
        null_keys.update(key for key, value in item.items() if value is None)
    return {
        "ok": True,
        "versions": versions(),
        "repo_id": repo_id,
        "root": str(root),
        "codebase_version": meta.info["codebase_version"],
        "robot_type": meta.info.get("robot_type"),
        "fps": dataset.fps,
        "num_frames": len(dataset),
        "num_episodes": dataset.num_episodes,
        "total_tasks": meta.total_tasks,
        "tasks": [str(task) for task in meta.tasks.index],
        "video_backend": getattr(dataset, "video_backend", getattr(dataset, "_video_backend", None)),
        "features": {key: {"dtype": ft["dtype"], "shape": list(ft["shape"])} for key, ft in meta.features.items()},
        "video_keys": list(meta.video_keys),
        "image_keys": list(meta.image_keys),
        "stats_keys": sorted(meta.stats) if meta.stats is not None else None,
        "episodes": episodes,
        "null_keys": sorted(null_keys),
        "items": items,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="dataset directory (holds meta/info.json)")
    parser.add_argument("--repo-id", default="local/probe", help="repo id passed to LeRobotDataset")
    parser.add_argument("--all", action="store_true", help="fetch every frame")
    parser.add_argument("--index", type=int, action="append", help="fetch this frame index (repeatable)")
    parser.add_argument("--video-backend", default=None, help="LeRobot video_backend (default: LeRobot's choice)")
    parser.add_argument("--dump", type=Path, default=None,
                        help="save each fetched item's tensors as DIR/<index>.<key>.npy")
    parser.add_argument("--write-reference", action="store_true",
                        help="first write a tiny dataset with LeRobot's writer")
    parser.add_argument("--images", action="store_true", help="with --write-reference: PNG image feature, no video")
    parser.add_argument("--vcodec", default="libsvtav1", help="with --write-reference: LeRobot vcodec")
    args = parser.parse_args(argv)

    # Offline: a dataset LeRobot cannot read from disk must fail here, never be fetched.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    os.environ.setdefault("TQDM_DISABLE", "1")
    cache = tempfile.mkdtemp(prefix="lerobot-probe-cache-")
    os.environ["HF_DATASETS_CACHE"] = cache  # no stale Arrow cache from an earlier dataset at the same path
    try:
        import logging

        logging.disable(logging.WARNING)
        if args.write_reference:
            write_reference(args.root, args.repo_id, not args.images, args.vcodec)
        result = probe(args.root.resolve(), args.repo_id, args.index, args.all, args.video_backend, args.dump)
        code = 0
    except Exception as exc:  # report every failure as JSON for the calling test
        causes, cause = [], exc.__cause__ or exc.__context__
        while cause is not None and len(causes) < 5:  # datasets wraps parquet errors
            causes.append(f"{type(cause).__name__}: {cause}"[:1000])
            cause = cause.__cause__ or cause.__context__
        result = {
            "ok": False,
            "error": type(exc).__name__,
            "message": str(exc)[:4000],
            "causes": causes,
            "traceback": traceback.format_exc()[-6000:],
        }
        code = 1
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    sys.stdout.write(json.dumps(result, default=str) + "\n")
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
