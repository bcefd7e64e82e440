"""The LeRobot compatibility oracle: LeRobot's own loader, in its own venv, reads a dataset.

`scripts/lerobot_env.sh` creates `.venv-lerobot` (LeRobot + torch, ~6 GB); without it these
tests skip. `run_probe` / `load_with_lerobot` are the harness the exporter tests reuse: they
run `tests/export/lerobot_probe.py DATASET_DIR` in that venv (offline, fresh process) and
return its JSON. Here the harness is proven on datasets written by LeRobot's own writer.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ORACLE_PYTHON = REPO / ".venv-lerobot" / "bin" / "python"
# LeRobot 0.6.x (Python 3.12), built on request by scripts/lerobot06_env.sh: tests that take
# an ``oracle`` parameter run against it too when it exists.
ORACLE06_PYTHON = REPO / ".venv-lerobot06" / "bin" / "python"
PROBE = Path(__file__).with_name("lerobot_probe.py")

requires_oracle = pytest.mark.skipif(
    not ORACLE_PYTHON.exists(),
    reason="LeRobot oracle venv .venv-lerobot is missing: run `bash scripts/lerobot_env.sh` to create it",
)
pytestmark = [requires_oracle, pytest.mark.slow]

# The probe module itself imports nothing heavy at top level, so its reference constants and
# frame generator are shared with these tests (numpy is in both venvs).
_spec = importlib.util.spec_from_file_location("lerobot_probe", PROBE)
probe_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(probe_module)


def run_probe(dataset_dir: Path | str, *args: str, timeout: float = 240, python: Path = ORACLE_PYTHON) -> dict:
    """Run the probe in an oracle venv and return its JSON, whether LeRobot succeeded or not."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    proc = subprocess.run(
        [str(python), str(PROBE), str(dataset_dir), *args],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO,
    )
    lines = proc.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        raise AssertionError(
            f"lerobot_probe printed no JSON (exit {proc.returncode})\n"
            f"stdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-4000:]}"
        ) from None
    result["_returncode"] = proc.returncode
    result["_stderr_tail"] = proc.stderr[-4000:]
    return result


def load_with_lerobot(dataset_dir: Path | str, *args: str, timeout: float = 240,
                      python: Path = ORACLE_PYTHON) -> dict:
    """Like run_probe, but fail the test with LeRobot's own error unless it loaded cleanly."""
    result = run_probe(dataset_dir, *args, timeout=timeout, python=python)
    if not result.get("ok"):
        raise AssertionError(
            f"LeRobot could not load {dataset_dir}: {result.get('error')}: {result.get('message')}\n"
            f"causes: {result.get('causes')}\n{result.get('traceback', '')[-3000:]}"
        )
    assert result["_returncode"] == 0
    assert result["null_keys"] == [], f"features missing from the parquet files: {result['null_keys']}"
    return result


def expected_frames() -> list[tuple[int, int, str]]:
    """(episode, frame, task) for every index of the reference dataset, in order."""
    return [
        (episode, frame, task)
        for episode, (length, task) in enumerate(probe_module.REFERENCE_EPISODES)
        for frame in range(length)
    ]


def check_reference(result: dict, *, video: bool) -> None:
    frames = expected_frames()
    camera = probe_module.REFERENCE_CAMERA
    assert result["codebase_version"] == "v3.0"
    assert result["fps"] == probe_module.REFERENCE_FPS
    assert result["num_frames"] == len(frames)
    assert result["num_episodes"] == len(probe_module.REFERENCE_EPISODES)
    assert result["tasks"] == [task for _, task in probe_module.REFERENCE_EPISODES]
    assert (result["video_keys"], result["image_keys"]) == (([camera], []) if video else ([], [camera]))
    if video:
        assert result["video_backend"] == "torchcodec"
    assert sorted(map(int, result["items"])) == list(range(len(frames)))
    for index, (episode, frame, task) in enumerate(frames):
        item = result["items"][str(index)]
        assert set(item) == {
            camera, "observation.state", "action", "timestamp", "frame_index",
            "episode_index", "index", "task_index", "task",
        }
        assert item["task"]["value"] == task
        assert item["index"]["value"] == index
        assert item["episode_index"]["value"] == episode
        assert item["frame_index"]["value"] == frame
        assert item["timestamp"]["value"] == pytest.approx(frame / probe_module.REFERENCE_FPS, abs=1e-6)
        assert item["observation.state"]["dtype"] == "float32"
        assert item["observation.state"]["value"] == pytest.approx(
            probe_module.reference_vector(episode, frame, 0.0).tolist())
        assert item["action"]["value"] == pytest.approx(probe_module.reference_vector(episode, frame, 0.5).tolist())
        image = item[camera]
        assert (image["shape"], image["dtype"]) == ([3, 48, 64], "float32")
        height, width, _ = probe_module.REFERENCE_SHAPE
        want = [20 * frame / 255, 100 * episode / 255, min(4 * frame, width) / width]
        tolerance = 0.03 if video else 1e-4  # lossy yuv420p video vs lossless PNG
        assert image["channel_mean"] == pytest.approx(want, abs=tolerance), (index, image)


@pytest.mark.parametrize("vcodec", ["libsvtav1", "h264"])
def test_oracle_loads_lerobot_written_video_dataset(tmp_path, vcodec):
    result = load_with_lerobot(tmp_path / "ds", "--write-reference", "--vcodec", vcodec, "--all")
    assert result["versions"]["lerobot"], result["versions"]
    check_reference(result, video=True)
    episodes = result["episodes"]
    key = probe_module.REFERENCE_CAMERA
    assert [e["dataset_from_index"] for e in episodes] == [0, 12]
    assert [e[f"videos/{key}/from_timestamp"] for e in episodes] == pytest.approx([0.0, 1.2])


def test_oracle_loads_lerobot_written_image_dataset(tmp_path):
    result = load_with_lerobot(tmp_path / "ds", "--write-reference", "--images", "--all")
    check_reference(result, video=False)


def test_oracle_reports_failure_as_json_and_stays_offline(tmp_path):
    # No meta/info.json: LeRobot would try the Hub; offline, the probe must fail cleanly instead.
    result = run_probe(tmp_path)
    assert result["ok"] is False and result["_returncode"] == 1, result
    assert result["error"], result
