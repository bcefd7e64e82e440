"""The ALOHA-layout HDF5 export: same numbers as the LeRobot export of the same episodes,
images exact (raw) or within JPEG tolerance, depth exact, windows like LeRobot's."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from collector.loader import CollectorDataset  # noqa: E402
from tests.loader.imaging import luma_psnr  # noqa: E402


def test_hdf5_matches_lerobot_export(made):
    lr = CollectorDataset(made["datasets"]["lerobot"], action_horizon=20)
    h5 = CollectorDataset(made["datasets"]["hdf5"], action_horizon=20)
    jpeg = CollectorDataset(made["datasets"]["hdf5_jpeg"], keys=["observation.images.head_rgb"])
    assert h5.num_episodes == lr.num_episodes == 3 and h5.fps == 30
    assert [e.task for e in h5.episodes] == made["tasks"]
    for a_ep, b_ep in zip(lr.episodes, h5.episodes):
        assert a_ep.length == b_ep.length  # synthetic episodes: every frame valid, nothing trimmed or dropped
        for position in (0, 7, a_ep.length - 1):
            a, b = lr[a_ep.start + position], h5[b_ep.start + position]
            for key in ("observation.state", "action", "action_is_pad", "observation.effort",
                        "observation.wrench.left_wrench", "observation.depth.head_depth"):
                assert torch.equal(a[key], b[key]), (key, position)
            assert a["task"] == b["task"] and int(a["frame_index"]) == int(b["frame_index"])
            for cam in ("observation.images.head_rgb", "observation.images.left_wrist_rgb"):
                assert b[cam].shape == (3, 48, 64) and luma_psnr(a[cam], b[cam]) >= 30, (cam, position)
            j = jpeg[b_ep.start + position]["observation.images.head_rgb"]
            assert luma_psnr(j, b["observation.images.head_rgb"]) >= 25, position


def test_hdf5_single_file_and_dataloader(hdf5_root):
    one = CollectorDataset(hdf5_root / "episode_1.hdf5", observation_history=2)
    assert one.episode_indices == [1]
    item = one[0]
    assert item["observation.state_is_pad"].tolist() == [True, False]
    ds = CollectorDataset(hdf5_root, keys=["observation.images.head_rgb", "action"], image_dtype="uint8")
    loader = torch.utils.data.DataLoader(ds, batch_size=16, num_workers=2)
    got = torch.cat([b["observation.images.head_rgb"] for b in loader])
    assert torch.equal(got[::17], torch.stack([ds[i]["observation.images.head_rgb"] for i in range(0, len(ds), 17)]))
    assert np.array_equal(torch.cat([b["index"] for b in loader]).numpy(), np.arange(len(ds)))
