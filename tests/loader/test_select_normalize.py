"""Selection (episodes, task, success, site, rig, seeded split), normalisation and options."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from collector.loader import CollectorDataset, LoaderError, split_episodes  # noqa: E402


@pytest.mark.parametrize("fmt", ["lerobot", "hdf5"])
def test_filters(made, fmt):
    root = made["datasets"][fmt]
    assert CollectorDataset(root, tasks=["place the part"]).episode_indices == [1]
    assert CollectorDataset(root, success=True).episode_indices == [0]
    assert CollectorDataset(root, success=False).episode_indices == [1]
    assert CollectorDataset(root, sites=["baoan"]).episode_indices == [0, 2]
    assert CollectorDataset(root, rigs=["baoan_humanoid"], episodes=[2]).episode_indices == [2]
    ds = CollectorDataset(root, tasks=["pick the part"], sites=["baoan"])
    assert {ds[i]["task"] for i in range(len(ds))} == {"pick the part"}
    assert {int(ds[i]["episode_index"]) for i in range(len(ds))} == {0, 2}
    with pytest.raises(LoaderError, match="keeps no episode"):
        CollectorDataset(root, tasks=["fly"])
    with pytest.raises(LoaderError, match="no episode 7"):
        CollectorDataset(root, episodes=[7])


def test_split_is_seeded_disjoint_and_complete(lerobot_root):
    train = CollectorDataset(lerobot_root, split="train", val_fraction=0.34, seed=3)
    val = CollectorDataset(lerobot_root, split="val", val_fraction=0.34, seed=3)
    assert sorted(train.episode_indices + val.episode_indices) == [0, 1, 2] and len(val.episode_indices) == 1
    assert CollectorDataset(lerobot_root, split="val", val_fraction=0.34, seed=3).episode_indices == val.episode_indices
    splits = {tuple(split_episodes(range(100), val_fraction=0.2, seed=s)[1]) for s in range(5)}
    assert len(splits) == 5 and all(len(s) == 20 for s in splits)
    assert split_episodes(range(100), val_fraction=0.2, seed=1) == split_episodes(range(100), val_fraction=0.2, seed=1)


def test_normalize_modes(lerobot_root):
    stats = json.loads((lerobot_root / "meta" / "stats.json").read_text())
    raw = CollectorDataset(lerobot_root)
    std = CollectorDataset(lerobot_root, normalize="mean_std")
    mean, sd = (np.array(stats["observation.state"][k], dtype=np.float32) for k in ("mean", "std"))
    for i in (0, 50, len(raw) - 1):
        want = (raw[i]["observation.state"].numpy() - mean) / np.where(sd < 1e-8, 1e-8, sd)
        np.testing.assert_allclose(std[i]["observation.state"].numpy(), want, rtol=1e-6, atol=1e-6)
        back = std.normalizer.unnormalize("observation.state", std[i]["observation.state"])
        np.testing.assert_allclose(back.numpy(), raw[i]["observation.state"].numpy(), rtol=1e-5, atol=1e-5)
    mm = CollectorDataset(lerobot_root, normalize={"action": "min_max", "observation.images.head_rgb": "mean_std"},
                          action_horizon=5)
    values = torch.stack([mm[i]["action"] for i in range(0, len(mm), 7)])
    assert float(values.min()) >= -1 - 1e-5 and float(values.max()) <= 1 + 1e-5
    assert "observation.state" not in mm.normalizer
    means = torch.stack([mm[i]["observation.images.head_rgb"].mean() for i in range(0, len(mm), 9)])
    assert abs(float(means.mean())) < 1
    q = CollectorDataset(lerobot_root, normalize="quantiles")
    assert q[0]["action"].dtype == torch.float32


def test_hdf5_normalize_computes_stats(hdf5_root):
    ds = CollectorDataset(hdf5_root, normalize="mean_std")
    state = torch.stack([ds[i]["observation.state"] for i in range(len(ds))])
    moving = state.std(dim=0) > 1e-3
    assert torch.allclose(state.mean(dim=0)[moving], torch.zeros(int(moving.sum())), atol=1e-3)


@pytest.mark.parametrize("options, message", [
    ({"image_dtype": "float16"}, "image_dtype"),
    ({"normalize": "zscore"}, "zscore"),
    ({"delta_timestamps": {"action": [0.01]}}, "multiples of 1/30"),
    ({"delta_timestamps": {"nope": [0.0]}}, "'nope' is not a feature"),
    ({"action_horizon": 0}, "action_horizon"),
    ({"keys": ["observation.images.nope"]}, "observation.images.nope"),
    ({"val_fraction": 1.5}, "val_fraction"),
])
def test_bad_options(lerobot_root, options, message):
    with pytest.raises(LoaderError, match=message):
        CollectorDataset(lerobot_root, **options)


def test_keys_and_uint8(lerobot_root):
    ds = CollectorDataset(lerobot_root, keys=["observation.state", "observation.images.head_rgb"], image_dtype="uint8")
    item = ds[3]
    assert set(item) == {"observation.state", "observation.images.head_rgb", "task", "timestamp", "frame_index",
                         "episode_index", "index", "task_index"}
    assert item["observation.images.head_rgb"].dtype == torch.uint8
    floats = CollectorDataset(lerobot_root, keys=["observation.images.head_rgb"])[3]["observation.images.head_rgb"]
    assert torch.allclose(floats, item["observation.images.head_rgb"].float() / 255)
