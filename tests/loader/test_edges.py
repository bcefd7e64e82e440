"""Episode edges with windows, several episodes per mp4, a missing stats file, corrupt
videos, and DataLoader workers."""

from __future__ import annotations

import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

torch = pytest.importorskip("torch")

from collector.loader import CollectorDataset, LoaderError, VideoDecodeError  # noqa: E402
from tests.loader.imaging import luma_psnr  # noqa: E402


def parquet_rows(root):
    table = pa.concat_tables([pq.read_table(p, columns=["action", "observation.state", "episode_index", "index"])
                              for p in sorted((root / "data").glob("*/*.parquet"))])
    return {k: np.stack(table[k].to_numpy(zero_copy_only=False)) if k in ("action", "observation.state")
            else table[k].to_numpy() for k in table.column_names}


def test_first_and_last_frames_pad_windows(lerobot_root):
    ds = CollectorDataset(lerobot_root, action_horizon=50, observation_history=3)
    rows = parquet_rows(lerobot_root)
    for episode in ds.episodes:
        first, last = episode.start, episode.start + episode.length - 1
        item = ds[first]
        assert item["frame_index"].item() == 0
        assert item["observation.state_is_pad"].tolist() == [True, True, False]
        np.testing.assert_array_equal(item["observation.state"].numpy(), rows["observation.state"][[first] * 3])
        assert item["observation.images.head_rgb"].shape == (3, 3, 48, 64)
        assert item["observation.images.head_rgb_is_pad"].tolist() == [True, True, False]
        assert torch.equal(item["observation.images.head_rgb"][0], item["observation.images.head_rgb"][2])
        pad = item["action_is_pad"]
        assert pad.tolist() == [k >= episode.length for k in range(50)]
        np.testing.assert_array_equal(item["action"].numpy(), rows["action"][np.minimum(first + np.arange(50), last)])
        end = ds[last]
        assert end["frame_index"].item() == episode.length - 1
        assert end["action_is_pad"].tolist() == [False] + [True] * 49
        np.testing.assert_array_equal(end["action"].numpy(), rows["action"][[last] * 50])
        assert end["observation.state_is_pad"].tolist() == [False, False, False]


def test_episodes_share_mp4_files(lerobot_root):
    """Episodes 0 and 1 share file-000 of every camera, episode 2 is in file-001; each
    episode's first frame is its own, not the file's."""
    ds = CollectorDataset(lerobot_root, keys=["observation.images.head_rgb"])
    files = [ds.source.video_file("observation.images.head_rgb", e) for e in ds.episodes]
    assert files[0][0] == files[1][0] != files[2][0]
    assert files[0][1] == 0 and files[1][1] > 0 and files[2][1] == 0
    reference = CollectorDataset(ds.source.where.replace("lerobot", "hdf5"), keys=["observation.images.head_rgb"])
    for episode, ref_episode in zip(ds.episodes, reference.episodes):
        for position in (0, 1, episode.length - 1):
            got = ds[episode.start + position]["observation.images.head_rgb"]
            scores = {p: luma_psnr(got, reference[ref_episode.start + p]["observation.images.head_rgb"])
                      for p in range(max(0, position - 2), min(episode.length, position + 3))}
            assert max(scores, key=scores.get) == position and scores[position] >= 30, (episode.index, scores)


def test_missing_stats_file(lerobot_root, tmp_path):
    root = tmp_path / "nostats"
    shutil.copytree(lerobot_root, root)
    (root / "meta" / "stats.json").unlink()
    ds = CollectorDataset(root)
    assert ds.stats is None and ds[0]["observation.state"].shape == (19,)
    with pytest.raises(LoaderError, match=r"stats\.json: missing"):
        CollectorDataset(root, normalize="mean_std")
    stats = CollectorDataset(lerobot_root).stats
    ok = CollectorDataset(root, normalize={"action": "min_max"}, stats=stats)
    assert float(ok[0]["action"].abs().max()) <= 1 + 1e-5


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_video_names_file_and_episode(lerobot_root, tmp_path, damage):
    root = tmp_path / damage
    shutil.copytree(lerobot_root, root)
    video = root / "videos" / "observation.images.head_rgb" / "chunk-000" / "file-001.mp4"
    data = video.read_bytes()
    video.write_bytes(b"\x00not an mp4" * 300 if damage == "garbage" else data[: len(data) // 3])
    ds = CollectorDataset(root)
    ds[0]  # episode 0's video is intact
    last = ds.episodes[-1]
    with pytest.raises(VideoDecodeError) as err:
        ds[last.start]
    message = str(err.value)
    assert "file-001.mp4" in message and f"episode {last.index}" in message and "head_rgb" in message
    assert "\n" not in message


def test_dataloader_workers_match_single_process(lerobot_root):
    ds = CollectorDataset(lerobot_root, action_horizon=10, image_dtype="uint8")
    ds[5]  # decoders opened in the parent before the fork: the workers must open their own
    indices = list(range(0, len(ds), 3))
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(ds, indices), batch_size=4, num_workers=2)
    batches = list(loader)
    got = torch.cat([b["observation.images.right_wrist_rgb"] for b in batches])
    assert got.dtype == torch.uint8 and got.shape == (len(indices), 3, 48, 64)
    want = torch.stack([ds[i]["observation.images.right_wrist_rgb"] for i in indices])
    assert torch.equal(got, want)
    assert torch.equal(torch.cat([b["action"] for b in batches]), torch.stack([ds[i]["action"] for i in indices]))
    assert sum((b["task"] for b in batches), []) == [ds[i]["task"] for i in indices]
