"""Our item and LeRobotDataset's item, same dataset and index: the same keys, the same
numbers exactly (windows and padding masks included), images within codec tolerance
(both decode the same AV1 stream; only the YUV -> RGB conversion may differ)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("lerobot")

from collector.loader import CollectorDataset  # noqa: E402
from tests.loader.lerobot_reference import lerobot_dataset  # noqa: E402

FPS = 30
WINDOWS = {
    "action": [i / FPS for i in range(50)],
    "observation.state": [-2 / FPS, -1 / FPS, 0.0],
    "observation.images.head_rgb": [-1 / FPS, 0.0, 1 / FPS],
}
IMAGE_MAX_DIFF = 3 / 255
IMAGE_MEAN_DIFF = 0.5 / 255


def same(key, ours, theirs):
    if isinstance(theirs, str):
        assert ours == theirs, key
        return
    if key.startswith("observation.images.") and not key.endswith("_is_pad"):
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype, key
        diff = (ours - theirs).abs()
        assert float(diff.max()) <= IMAGE_MAX_DIFF and float(diff.mean()) <= IMAGE_MEAN_DIFF, key
        return
    if key.startswith("observation.depth."):  # LeRobot 0.4: the PNG's 16 bits as int16
        theirs = theirs.view(torch.uint16).to(torch.int32) if theirs.dtype == torch.int16 else theirs
        assert torch.equal(ours.to(torch.int64), theirs.to(torch.int64).reshape(ours.shape)), key
        return
    # LeRobot turns float64 columns into float32 (torch.tensor of a Python float); ours keep float64
    if ours.dtype == torch.float64 and theirs.dtype == torch.float32:
        ours = ours.to(torch.float32)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape, (key, ours.dtype, theirs.dtype)
    assert torch.equal(ours, theirs) or (ours.is_floating_point() and torch.allclose(
        ours, theirs, rtol=0, atol=0, equal_nan=True)), key


@pytest.mark.parametrize("windows", [None, WINDOWS], ids=["frame", "windows"])
def test_items_equal_lerobot(lerobot_root, windows):
    ours = CollectorDataset(lerobot_root, delta_timestamps=windows)
    theirs = lerobot_dataset(lerobot_root, delta_timestamps=windows)
    assert len(ours) == len(theirs) and ours.num_episodes == theirs.num_episodes
    for index in range(len(theirs)):
        a, b = ours[index], theirs[index]
        assert set(a) == set(b), set(a) ^ set(b)
        for key in b:
            same(key, a[key], b[key])


def test_selected_episodes_equal_lerobot(lerobot_root):
    ours = CollectorDataset(lerobot_root, episodes=[1, 2], action_horizon=50)
    theirs = lerobot_dataset(lerobot_root, episodes=[1, 2], delta_timestamps={"action": [i / FPS for i in range(50)]})
    assert len(ours) == len(theirs)
    for index in np.linspace(0, len(ours) - 1, 12).astype(int):
        a, b = ours[int(index)], theirs[int(index)]
        for key in ("action", "action_is_pad", "observation.state", "index", "episode_index", "task",
                    "observation.images.left_wrist_rgb"):
            same(key, a[key], b[key])
