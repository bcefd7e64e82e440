"""LeRobot's own LeRobotDataset, offline, on a local folder (the reference the tests compare with)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def lerobot_dataset(root: Path, **kwargs):
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    os.environ.setdefault("HF_DATASETS_CACHE", tempfile.mkdtemp(prefix="loader-hf-cache-"))
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    return LeRobotDataset("local/loader-test", root=root, **kwargs)
