"""LeRobot's own LeRobotDataset loads our exports offline and returns our data.

States and actions must come back exactly, camera frames within codec tolerance, depth
bit-exact. Runs LeRobot in its venv (scripts/lerobot_env.sh); skips without it.

Codec tolerance, on full-size 640x480 frames: luma PSNR >= 35 dB (BT.601 Y, the usual
codec metric) at the default AV1 settings. RGB PSNR is bounded by yuv420p's chroma
subsampling, which every LeRobot video uses: on the synthetic robot's saturated colour
pattern a bare RGB -> yuv420p -> RGB conversion, no codec at all, already gives 32 dB,
so RGB PSNR is held to >= 28 dB.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from collector.drivers.synthetic_episode import write_synthetic_episode
from collector.episode import read_episode_info
from collector.export.features import feature_plan
from collector.export.frames import iter_images
from collector.export.lerobot import layout
from collector.export.lerobot.writer import LeRobotWriter
from collector.rig import load_rig
from collector.sync import synchronize
from tests.export.conftest import LATENCY_MS, START_NS
from tests.export.test_lerobot_oracle_env import ORACLE06_PYTHON, ORACLE_PYTHON, load_with_lerobot

pytestmark = [pytest.mark.skipif(not ORACLE_PYTHON.exists(), reason="LeRobot oracle venv .venv-lerobot is missing: "
                                 "run `bash scripts/lerobot_env.sh` to create it"), pytest.mark.slow]
ORACLES = [pytest.param(ORACLE_PYTHON, id="lerobot04"),
           pytest.param(ORACLE06_PYTHON, id="lerobot06", marks=pytest.mark.skipif(
               not ORACLE06_PYTHON.exists(), reason="LeRobot 0.6 venv .venv-lerobot06 is missing: run "
               "`bash scripts/lerobot06_env.sh` to create it (~5 GB from PyPI)"))]

CAMERAS = ("head_rgb", "left_wrist_rgb", "right_wrist_rgb")


def vga_rig():
    """The shipped Bao'an rig at its real 640x480, with the synthetic writer's latencies declared."""
    import yaml

    from collector.rig import parse_rig

    doc = yaml.safe_load(load_rig("baoan_humanoid").text)
    for stream in doc["streams"]:
        stream["latency_ms"] = LATENCY_MS.get(stream["role"], 0.3)
    return parse_rig(yaml.safe_dump(doc, sort_keys=False), source="baoan_vga.yaml")


class Episode:
    def __init__(self, out: Path, rig, seconds: float, seed: int, task: str):
        self.rig = rig
        self.path = write_synthetic_episode(out, rig, seconds=seconds, seed=seed, start_ns=START_NS + seed,
                                            task=task, operator="op9").path
        self.sync = synchronize(self.path)
        self.info = read_episode_info(self.path)


@pytest.fixture(scope="module")
def vga(tmp_path_factory):
    rig = vga_rig()
    root = tmp_path_factory.mktemp("vga")
    return [Episode(root / f"raw{i}", rig, seconds=1.2, seed=20 + i, task=f"task {i}") for i in range(2)]


def export(root: Path, episodes, **options) -> Path:
    with LeRobotWriter(root, plan=feature_plan(episodes[0].rig), fps=30, options=options) as writer:
        for episode in episodes:
            writer.add_episode(episode.path, episode.sync, episode.info)
    return root


MIN_LUMA_PSNR = 35.0
MIN_RGB_PSNR = 28.0
BT601 = np.array([0.299, 0.587, 0.114])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def luma_psnr(a: np.ndarray, b: np.ndarray) -> float:
    return psnr(a.astype(np.float64) @ BT601, b.astype(np.float64) @ BT601)


def our_rows(root: Path):
    return pa.concat_tables([pq.read_table(p) for p in layout.parquet_files(root / "data")])


def check_against_lerobot(root: Path, episodes, tmp_path: Path, oracle: Path = ORACLE_PYTHON) -> dict:
    dump = tmp_path / "dump"
    result = load_with_lerobot(root, "--all", "--dump", str(dump), timeout=600, python=oracle)
    table = our_rows(root)
    assert result["num_frames"] == table.num_rows and result["num_episodes"] == len(episodes)
    assert result["tasks"] == [e.info.task for e in episodes]
    state = np.stack(table["observation.state"].to_numpy(zero_copy_only=False))
    action = np.stack(table["action"].to_numpy(zero_copy_only=False))
    worst = {}
    index = 0
    for episode_index, (episode, row) in enumerate(zip(episodes, pq.read_table(
            layout.parquet_files(root / "meta" / "episodes")[0]).to_pylist())):
        frames = np.arange(row["source_first_frame"], row["source_first_frame"] + row["length"])
        truth = {c: list(iter_images(episode.path, episode.sync, c, frames=frames)) for c in CAMERAS}
        depth = list(iter_images(episode.path, episode.sync, "head_depth", frames=frames))
        for k in range(row["length"]):
            item = result["items"][str(index)]
            assert item["task"]["value"] == episode.info.task
            assert item["episode_index"]["value"] == episode_index and item["frame_index"]["value"] == k
            np.testing.assert_array_equal(np.load(dump / f"{index}.observation.state.npy"), state[index])
            np.testing.assert_array_equal(np.load(dump / f"{index}.action.npy"), action[index])
            for camera in CAMERAS:
                image = np.load(dump / f"{index}.observation.images.{camera}.npy")  # C, H, W in [0, 1]
                got = np.round(image.transpose(1, 2, 0) * 255).astype(np.uint8)
                luma, rgb = worst.get(camera, (np.inf, np.inf))
                worst[camera] = (min(luma, luma_psnr(got, truth[camera][k])), min(rgb, psnr(got, truth[camera][k])))
            got_depth = np.load(dump / f"{index}.observation.depth.head_depth.npy")
            # LeRobot 0.4 returns the PNG's 16 bits as int16, 0.6 as float32 values: the same depth either way
            got_depth = got_depth.view(np.uint16) if got_depth.dtype == np.int16 else got_depth
            np.testing.assert_array_equal(got_depth.reshape(depth[k].shape), depth[k])
            index += 1
    assert min(luma for luma, _ in worst.values()) >= MIN_LUMA_PSNR, worst
    assert min(rgb for _, rgb in worst.values()) >= MIN_RGB_PSNR, worst
    return worst


@pytest.mark.parametrize("oracle", ORACLES)
def test_lerobot_loads_av1_export_exactly(vga, tmp_path, oracle):
    worst = check_against_lerobot(export(tmp_path / "ds", vga), vga, tmp_path, oracle)
    print("worst (luma, RGB) PSNR in dB:", worst)


def test_lerobot_loads_h264_export(vga, tmp_path):
    check_against_lerobot(export(tmp_path / "ds", vga, vcodec="h264"), vga, tmp_path)


@pytest.mark.parametrize("oracle", ORACLES)
def test_lerobot_loads_an_appended_dataset(vga, tmp_path, oracle):
    root = export(tmp_path / "ds", vga[:1])
    export(root, vga[1:])
    assert len(layout.parquet_files(root / "data")) == 2
    check_against_lerobot(root, vga, tmp_path, oracle)


def test_export_cli_output_loads(vga, tmp_path):
    out = tmp_path / "cli"
    proc = subprocess.run([sys.executable, "-m", "collector.cli", "export", *(str(e.path) for e in vga),
                           "--format", "lerobot", "--out", str(out), "--workers", "2"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "exported 2 episode(s)" in proc.stdout
    check_against_lerobot(out, vga, tmp_path)
