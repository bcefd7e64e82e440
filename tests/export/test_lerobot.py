"""LeRobot v3.0: written with our writer, read back with pyarrow / PyAV here, and with
LeRobot's own loader in the oracle venv (tests/export/test_lerobot_oracle_env.py)."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from collector.export.errors import ExportError
from collector.export.features import episode_valid_mask, feature_plan, frame_table
from collector.export.frames import iter_images
from collector.export.lerobot import episode as episode_module
from collector.export.lerobot import layout
from collector.export.lerobot.stats import STAT_NAMES, numeric_stats
from collector.export.lerobot.video import probe_video
from collector.export.lerobot.writer import LeRobotWriter

CAMERAS = ("head_rgb", "left_wrist_rgb", "right_wrist_rgb")


def export(root: Path, *episodes, **options) -> Path:
    rig = episodes[0].rig
    with LeRobotWriter(root, plan=feature_plan(rig), fps=rig.fps, options=options) as writer:
        for episode in episodes:
            writer.add_episode(episode.path, episode.sync, episode.info)
    return root


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def expected_rows(episode) -> np.ndarray:
    valid = episode_valid_mask(episode.sync, feature_plan(episode.rig))
    good = np.flatnonzero(valid)
    return np.arange(good[0], good[-1] + 1)


def data_table(root: Path):
    import pyarrow as pa

    return pa.concat_tables([pq.read_table(p) for p in layout.parquet_files(root / "data")])


@pytest.fixture(scope="module")
def two(tmp_path_factory, baoan, baoan_second) -> Path:
    return export(tmp_path_factory.mktemp("lerobot") / "ds", baoan, baoan_second)


def test_info_features_named_from_the_rig(two, baoan):
    info = json.loads((two / layout.INFO_PATH).read_text())
    assert info["codebase_version"] == "v3.0" and info["fps"] == 30
    rows = [len(expected_rows(e)) for e in (baoan,)]
    assert info["total_episodes"] == 2 and info["total_frames"] == data_table(two).num_rows > rows[0]
    assert info["splits"] == {"train": "0:2"} and info["total_tasks"] == 2
    features = info["features"]
    assert list(features)[-5:] == ["timestamp", "frame_index", "episode_index", "index", "task_index"]
    for camera in CAMERAS:
        feature = features[f"observation.images.{camera}"]
        assert feature["dtype"] == "video" and feature["shape"] == [48, 64, 3]
        assert feature["info"]["video.codec"] == "av1"
    assert features["observation.depth.head_depth"]["dtype"] == "image"
    assert features["observation.state"]["names"] == list(feature_plan(baoan.rig)["observation.state"].names)
    topics = {s.topic for s in baoan.rig.streams}
    assert not any("/" in key or key in topics for key in features)
    assert {f"time.{s.name}.source_s" for s in baoan.rig.streams} <= set(features)
    assert {f"time.{s.name}.error_ms" for s in baoan.rig.streams} <= set(features)


def test_grid_indices_tasks_and_episode_table(two, baoan, baoan_second):
    table = data_table(two)
    assert table.column_names == [k for k, v in json.loads((two / layout.INFO_PATH).read_text())["features"].items()
                                  if v["dtype"] != "video"]
    n = table.num_rows
    np.testing.assert_array_equal(table["index"].to_numpy(), np.arange(n))
    frame_index = table["frame_index"].to_numpy()
    np.testing.assert_array_equal(table["timestamp"].to_numpy(), (frame_index / 30.0).astype(np.float32))
    assert layout.read_tasks(two / layout.TASKS_PATH) == ["pick the part", "place the part"]
    episodes = pq.read_table(layout.parquet_files(two / "meta" / "episodes")[0]).to_pylist()
    lengths = [len(expected_rows(e)) for e in (baoan, baoan_second)]
    assert [e["length"] for e in episodes] == lengths
    assert [e["dataset_from_index"] for e in episodes] == [0, lengths[0]]
    assert [e["tasks"] for e in episodes] == [["pick the part"], ["place the part"]]
    for row, source in zip(episodes, (baoan, baoan_second)):
        assert (row["episode_id"], row["rig"], row["site"], row["operator"], row["success"]) == (
            source.info.episode_id, "baoan_humanoid", source.info.site, "op7", source.info.success)
    np.testing.assert_array_equal(table["task_index"].to_numpy(), np.repeat([0, 1], lengths))


def test_values_are_syncs_exactly(two, baoan, baoan_second):
    table = data_table(two)
    start = 0
    for source in (baoan, baoan_second):
        rows = expected_rows(source)
        want = frame_table(feature_plan(source.rig), source.sync)
        for key in ("observation.state", "action", "observation.wrench.left_wrench", "time.head_rgb.error_ms"):
            got = table[key].to_numpy(zero_copy_only=False)[start:start + len(rows)]
            got = np.stack(got) if got.dtype == object else got
            np.testing.assert_array_equal(got.reshape(want[key][rows].shape), want[key][rows])
        start += len(rows)


def test_videos_hold_every_frame_on_the_grid(two, baoan, baoan_second):
    episodes = pq.read_table(layout.parquet_files(two / "meta" / "episodes")[0]).to_pylist()
    for camera in CAMERAS:
        key = f"observation.images.{camera}"
        video = probe_video(two / layout.VIDEO_PATH.format(video_key=key, chunk_index=0, file_index=0))
        assert video["frames"] == sum(e["length"] for e in episodes) and video["codec"] in ("libdav1d", "av1")
        pts = np.array(video["pts_s"])
        for row in episodes:
            start = row[f"videos/{key}/from_timestamp"]
            mine = pts[(pts >= start - 1e-6) & (pts < start + row["length"] / 30 - 1e-6)]
            np.testing.assert_allclose(mine, start + np.arange(row["length"]) / 30, atol=1e-6)


def test_depth_round_trips_bit_exact(two, baoan):
    from PIL import Image

    rows = expected_rows(baoan)
    pngs = data_table(two)["observation.depth.head_depth"].to_pylist()[: len(rows)]
    truth = list(iter_images(baoan.path, baoan.sync, "head_depth", frames=rows))
    assert len(pngs) == len(truth)
    for cell, want in zip(pngs, truth):
        got = np.asarray(Image.open(io.BytesIO(cell["bytes"])))
        assert got.dtype.itemsize == 2
        np.testing.assert_array_equal(got.astype(np.uint16), want)


def test_stats_match_the_data(two):
    stats = json.loads((two / layout.STATS_PATH).read_text())
    info = json.loads((two / layout.INFO_PATH).read_text())
    assert set(stats) == set(info["features"])
    table = data_table(two)
    for key in ("observation.state", "action", "timestamp", "index", "time.valid"):
        column = table[key].to_numpy(zero_copy_only=False)
        values = np.stack(column).astype(np.float64) if column.dtype == object else column.astype(np.float64)
        want = numeric_stats(values)
        for name in STAT_NAMES:
            np.testing.assert_allclose(np.array(stats[key][name], dtype=np.float64), want[name], rtol=1e-9,
                                       err_msg=f"{key} {name}")
    camera = stats["observation.images.head_rgb"]
    assert np.array(camera["mean"]).shape == (3, 1, 1) and 0 <= np.min(camera["min"]) <= np.max(camera["max"]) <= 1
    assert camera["count"] == [info["total_frames"]]
    assert np.array(stats["observation.depth.head_depth"]["max"]).shape == (1, 1, 1)


def test_card_names_robot_sites_and_counts(two):
    card = (two / "README.md").read_text()
    front = card.split("---")[1]
    assert "license: apache-2.0" in front and "LeRobot" in front and "site:baoan" in front
    assert "| episodes | 2 |" in card and "pick the part" in card and "`observation.state`" in card


def test_append_adds_files_and_keeps_the_old_ones(tmp_path, baoan, baoan_second):
    root = export(tmp_path / "ds", baoan)
    before = tree_digest(root)
    export(root, baoan_second)
    after = tree_digest(root)
    rewritten = {"meta/info.json", "meta/stats.json", "meta/tasks.parquet", "README.md", "meta/provenance.json"}
    assert {k: v for k, v in before.items() if k not in rewritten} == \
        {k: v for k, v in after.items() if k in before and k not in rewritten}
    assert "data/chunk-000/file-001.parquet" in after and "meta/episodes/chunk-000/file-001.parquet" in after
    info = json.loads((root / layout.INFO_PATH).read_text())
    assert info["total_episodes"] == 2 and info["total_frames"] == data_table(root).num_rows
    assert sorted(p.name for p in tmp_path.iterdir()) == [".ds.lock", "ds"]  # no staging left


def test_failed_export_leaves_the_dataset_unchanged(tmp_path, baoan, baoan_second, monkeypatch):
    root = export(tmp_path / "ds", baoan)
    before = tree_digest(root)
    real = episode_module.iter_frames

    def dies_midway(*args, **kwargs):
        for i, frames in enumerate(real(*args, **kwargs)):
            if i == 20:
                raise RuntimeError("killed")
            yield frames

    monkeypatch.setattr(episode_module, "iter_frames", dies_midway)
    with pytest.raises(RuntimeError, match="killed"):
        export(root, baoan_second)
    assert tree_digest(root) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".ds.lock", "ds"]


def test_an_export_without_episodes_changes_nothing(tmp_path, baoan):
    root = export(tmp_path / "ds", baoan)
    before = tree_digest(root)
    with LeRobotWriter(root, plan=feature_plan(baoan.rig), fps=30):
        pass
    assert tree_digest(root) == before
    with LeRobotWriter(tmp_path / "new", plan=feature_plan(baoan.rig), fps=30):
        pass
    assert not (tmp_path / "new").exists()


def test_refuses_what_it_cannot_append_to(tmp_path, baoan, longhua):
    plan = feature_plan(baoan.rig)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ExportError, match="is not a LeRobot dataset.*not overwriting"):
        LeRobotWriter(tmp_path / "other", plan=plan, fps=30)
    root = export(tmp_path / "ds", baoan)
    with pytest.raises(ExportError, match="15 fps"):
        LeRobotWriter(root, plan=plan, fps=15)
    with pytest.raises(ExportError, match="features differ from rig 'longhua_humanoid'"):
        LeRobotWriter(root, plan=feature_plan(longhua.rig), fps=30)
    with pytest.raises(ExportError, match="videos are av1, this export asks for h264"):
        LeRobotWriter(root, plan=plan, fps=30, options={"vcodec": "h264"})
    with pytest.raises(ExportError, match="vcodec='vp9'"):
        LeRobotWriter(tmp_path / "x", plan=plan, fps=30, options={"vcodec": "vp9"})
    with pytest.raises(ExportError, match="another export is writing"):
        with LeRobotWriter(root, plan=plan, fps=30):
            LeRobotWriter(root, plan=plan, fps=30)


def test_trim_refuses_missing_state_inside_the_episode(baoan):
    plan = feature_plan(baoan.rig)
    table = frame_table(plan, baoan.sync)
    table["observation.state"] = table["observation.state"].copy()
    rows = expected_rows(baoan)
    table["observation.state"][rows[10]] = np.nan
    with pytest.raises(ExportError, match=r"observation.state has no value at 1 frame.*invalid=keep"):
        episode_module.select_rows(plan, baoan.sync, table, "trim")
    assert len(episode_module.select_rows(plan, baoan.sync, table, "keep")) == baoan.sync.frames


def test_refuses_to_append_to_an_inconsistent_dataset(tmp_path, baoan, baoan_second):
    root = export(tmp_path / "ds", baoan)
    info_path = root / layout.INFO_PATH
    info = json.loads(info_path.read_text())
    info["total_frames"] -= 5
    info_path.write_text(json.dumps(info))
    before = tree_digest(root)
    with pytest.raises(ExportError, match=r"info.json says \d+ frames, data/ holds \d+"):
        export(root, baoan_second)
    assert tree_digest(root) == before
