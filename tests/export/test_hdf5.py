"""HDF5 in the ALOHA/ACT layout: written with our writer, read back with h5py as ACT reads it."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")

from collector.drivers.synthetic import read_seq  # noqa: E402
from collector.export import hdf5 as hdf5_module  # noqa: E402
from collector.export.errors import ExportError  # noqa: E402
from collector.export.features import episode_valid_mask, feature_plan, feature_values, frame_table  # noqa: E402
from collector.export.frames import iter_images  # noqa: E402
from collector.export.hdf5 import Hdf5Writer, hdf5_path  # noqa: E402
from collector.export.registry import get_writer  # noqa: E402

CAMERAS = ("head_rgb", "left_wrist_rgb", "right_wrist_rgb")


def export(root, *episodes, **options):
    plan = feature_plan(episodes[0].rig)
    with get_writer("hdf5")(root, plan=plan, fps=30, options=options) as writer:
        for episode in episodes:
            writer.add_episode(episode.path, episode.sync, episode.info)
    return writer


def act_read(dataset_dir, episode_id, start_ts, camera_names):
    """What tonyzhaozh/act utils.EpisodicDataset.__getitem__ reads from one episode file."""
    with h5py.File(os.path.join(dataset_dir, f"episode_{episode_id}.hdf5"), "r") as root:
        is_sim = root.attrs["sim"]
        original_action_shape = root["/action"].shape
        qpos = root["/observations/qpos"][start_ts]
        qvel = root["/observations/qvel"][start_ts]
        image_dict = {cam: root[f"/observations/images/{cam}"][start_ts] for cam in camera_names}
        action = root["/action"][start_ts:] if is_sim else root["/action"][max(0, start_ts - 1):]
    return is_sim, original_action_shape, qpos, qvel, image_dict, action


def test_act_round_trip(baoan, tmp_path):
    writer = export(tmp_path, baoan)
    assert writer.written == [tmp_path / "episode_0.hdf5"] and writer.closed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["episode_0.hdf5", "provenance.json"]
    sync, plan = baoan.sync, feature_plan(baoan.rig)
    rows = np.flatnonzero(episode_valid_mask(sync, plan))
    k = len(rows)
    start = k // 2
    is_sim, action_shape, qpos, qvel, images, action = act_read(tmp_path, 0, start, CAMERAS)
    assert not is_sim and action_shape == (k, 19)
    state = feature_values(plan["observation.state"], sync)[rows]
    np.testing.assert_array_equal(qpos, state[start])
    np.testing.assert_array_equal(qvel, feature_values(plan["observation.velocity"], sync)[rows][start])
    np.testing.assert_array_equal(action, feature_values(plan["action"], sync)[rows][start - 1:])
    for cam in CAMERAS:
        assert images[cam].shape == (48, 64, 3) and images[cam].dtype == np.uint8
    expected_seq = baoan.seqs["head_rgb"][sync.streams["head_rgb"].i0[rows[start]]]
    assert read_seq(images["head_rgb"]) == expected_seq
    # ACT stacks cameras and normalises: all the same shape, no NaN in qpos/action
    assert np.stack([images[c] for c in CAMERAS]).shape == (3, 48, 64, 3)
    with h5py.File(tmp_path / "episode_0.hdf5", "r") as root:
        assert root["/observations/qpos"].dtype == np.float64 and root["/action"].dtype == np.float64
        assert np.all(np.isfinite(root["/observations/qpos"][()])) and np.all(np.isfinite(root["/action"][()]))
        assert list(root["/observations/qpos"].attrs["names"]) == list(plan["observation.state"].names)
        assert root["/observations/effort"].shape == (k, 19)
        assert root["/observations/images/head_rgb"].chunks == (1, 48, 64, 3)
        assert root["/observations/images/head_rgb"].compression is None
        assert bool(root.attrs["compress"]) is False
        assert root.attrs["task"] == "pick the part" and root.attrs["operator"] == "op7"
        assert root.attrs["episode_id"] == baoan.info.episode_id and root.attrs["rig"] == "baoan_humanoid"
        assert root.attrs["site"] == "baoan" and root.attrs["fps"] == 30 and "success" not in root.attrs
        np.testing.assert_array_equal(root["/frame_index"][()], rows)
        np.testing.assert_array_equal(root["/timestamp"][()], rows / 30)
        # depth: bit-exact, frame by frame
        depth = root["/observations/depth/head_depth"]
        assert depth.dtype == np.uint16 and depth.shape == (k, 48, 64)
        for j, frame in enumerate(iter_images(baoan.path, sync, "head_depth", frames=rows)):
            np.testing.assert_array_equal(depth[j], frame)
        # extras: IMU, wrench, honest time
        table = frame_table(plan, sync)
        np.testing.assert_array_equal(root["/observations/imu/orientation"][()],
                                      table["observation.imu.orientation"][rows])
        np.testing.assert_array_equal(root["/observations/wrench/left_wrench"][()],
                                      table["observation.wrench.left_wrench"][rows])
        for stream in sync.streams:
            np.testing.assert_array_equal(root[f"/time/{stream}/source_s"][()],
                                          table[f"time.{stream}.source_s"][rows, 0])
            np.testing.assert_array_equal(root[f"/time/{stream}/error_ms"][()],
                                          table[f"time.{stream}.error_ms"][rows, 0])
        assert root[f"/{hdf5_path('time.imu.error_ms')}"].attrs["feature"] == "time.imu.error_ms"


def test_tactile_and_keep_invalid(longhua, tmp_path):
    export(tmp_path, longhua, invalid="keep", sim=True)
    sync, plan = longhua.sync, feature_plan(longhua.rig)
    with h5py.File(tmp_path / "episode_0.hdf5", "r") as root:
        assert bool(root.attrs["sim"]) is True
        assert root["/action"].shape == (sync.frames, 29) and root["/observations/qpos"].shape == (sync.frames, 41)
        tactile = root["/observations/tactile/left_tactile"]
        assert tactile.shape == (sync.frames, 5, 16)
        np.testing.assert_array_equal(tactile[()], sync.streams["left_tactile"].values["pressure"])
        np.testing.assert_array_equal(root["/valid"][()], episode_valid_mask(sync, plan))


def test_append_continues_numbering(baoan, baoan_second, tmp_path):
    export(tmp_path, baoan)
    before = (tmp_path / "episode_0.hdf5").read_bytes()
    export(tmp_path, baoan_second, baoan)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["episode_0.hdf5", "episode_1.hdf5", "episode_2.hdf5",
                                                          "provenance.json"]
    assert (tmp_path / "episode_0.hdf5").read_bytes() == before
    with h5py.File(tmp_path / "episode_1.hdf5", "r") as root:
        assert root.attrs["task"] == "place the part"
        assert root.attrs["episode_id"] == baoan_second.info.episode_id


def test_crash_mid_episode_leaves_nothing_partial(baoan, baoan_second, tmp_path, monkeypatch):
    export(tmp_path, baoan)
    before = (tmp_path / "episode_0.hdf5").read_bytes()
    real = hdf5_module.iter_frames

    def dies_midway(*args, **kwargs):
        for i, frames in enumerate(real(*args, **kwargs)):
            if i == 5:
                raise RuntimeError("killed")
            yield frames

    monkeypatch.setattr(hdf5_module, "iter_frames", dies_midway)
    with pytest.raises(RuntimeError, match="killed"):
        export(tmp_path, baoan_second)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["episode_0.hdf5", "provenance.json"]
    assert (tmp_path / "episode_0.hdf5").read_bytes() == before
    monkeypatch.setattr(hdf5_module, "iter_frames", real)
    # a killed export's leftover temp file is not an episode and is cleared by the next export
    (tmp_path / "episode_1.hdf5.tmp").write_bytes(b"partial")
    export(tmp_path, baoan_second)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["episode_0.hdf5", "episode_1.hdf5", "provenance.json"]
    with h5py.File(tmp_path / "episode_1.hdf5", "r") as root:
        assert root.attrs["episode_id"] == baoan_second.info.episode_id


def test_compressed_images_as_aloha(baoan, tmp_path):
    image_module = pytest.importorskip("PIL.Image")
    export(tmp_path, baoan, compress=True, jpeg_quality=95)
    sync, plan = baoan.sync, feature_plan(baoan.rig)
    rows = np.flatnonzero(episode_valid_mask(sync, plan))
    with h5py.File(tmp_path / "episode_0.hdf5", "r") as root:
        assert bool(root.attrs["compress"]) is True
        lengths = root["/compress_len"][()]
        assert lengths.shape == (3, len(rows)) and list(root["/compress_len"].attrs["cameras"]) == list(CAMERAS)
        padded = root["/observations/images/head_rgb"]
        assert padded.dtype == np.uint8 and padded.shape[0] == len(rows) and padded.shape[1] >= lengths[0].max()
        truth = next(iter_images(baoan.path, sync, "head_rgb", frames=rows[:1]))
        data = padded[0][: int(lengths[0, 0])].tobytes()
        decoded = np.asarray(image_module.open(io.BytesIO(data)).convert("RGB"))[..., ::-1]  # = cv2.imdecode
        error = np.abs(decoded.astype(int) - truth.astype(int)).mean()
        swapped = np.abs(decoded[..., ::-1].astype(int) - truth.astype(int)).mean()
        assert error < 12 and error < swapped / 3  # lossy (tiny 4:2:0 image), but in ALOHA's channel order


def test_options_and_plan_checked(baoan, tmp_path):
    plan = feature_plan(baoan.rig)
    with pytest.raises(ExportError, match="unknown option 'quality'.*compress"):
        Hdf5Writer(tmp_path / "a", plan=plan, fps=30, options={"quality": 3})
    with pytest.raises(ExportError, match="invalid="):
        Hdf5Writer(tmp_path / "a", plan=plan, fps=30, options={"invalid": "fill"})
    with pytest.raises(ExportError, match="needs 'action'"):
        Hdf5Writer(tmp_path / "a", plan=feature_plan(baoan.rig, streams=["joint_states", "head_rgb"]), fps=30)
    with Hdf5Writer(tmp_path / "b", plan=plan, fps=15) as writer:
        with pytest.raises(ExportError, match="30 fps, the dataset is 15 fps"):
            writer.add_episode(baoan.path, baoan.sync, baoan.info)
        with pytest.raises(ExportError, match="another export"):
            Hdf5Writer(tmp_path / "b", plan=plan, fps=15)
    assert list((tmp_path / "b").iterdir()) == []
