"""Bad data inside messages: NaN/inf joint values, images of the wrong encoding or size, image
data that is not ``step * height`` bytes. The recorder keeps every byte (it never decodes);
sync finds them, and export refuses the episode in one line naming episode, stream, time and
problem, or, when sync is told to keep it, the frames that would have used them are invalid."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from collector.cli import main
from collector.drivers.synthetic import read_truth
from collector.drivers.synthetic_episode import write_synthetic_episode
from collector.episode import read_episode_info
from collector.export.features import feature_plan
from collector.export.registry import get_writer
from collector.rig import load_rig
from collector.sync import SyncError, synchronize
from tests.export.conftest import START_NS, small_rig
from tests.faults.helpers import digest, light_rig, read_back, recorded_window, start_pair
from tests.ros.conftest import collector_cli

h5py = pytest.importorskip("h5py")

SECONDS = 1.5


@pytest.fixture(scope="module")
def rig():
    return small_rig("baoan_humanoid")


def _episode(folder: Path, rig, faults, seed: int = 2):
    return write_synthetic_episode(folder, rig, seconds=SECONDS, seed=seed, faults=faults, start_ns=START_NS + seed,
                                   task="pick the part", operator="op7")


def _first_bad_s(episode, stream: str, origin_ns: int) -> float:
    """Seconds from ``origin_ns`` to the capture of the stream's first corrupted (or, if none is, first) message."""
    rows = [r for r in episode.truth if r["stream"] == stream and r["published"]]
    bad = [r for r in rows if r.get("corrupt")] or rows
    return (min(r["true_time_ns"] for r in bad) - origin_ns) / 1e9


CASES = {
    "nan_joint": ({"joint_states": {"nan_rate": 0.02}}, "joint_states", "position has NaN at "),
    "inf_joint": ({"joint_states": {"inf_rate": 0.02}}, "joint_states", "position has inf at "),
    "nan_action": ({"action": {"nan_rate": 0.05}}, "action", "position has NaN at "),
    "bgr8_camera": ({"head_rgb": {"encoding": "bgr8"}}, "head_rgb", "encoding 'bgr8', the rig declares 'rgb8'"),
    "mono8_camera": ({"left_wrist_rgb": {"encoding": "mono8"}}, "left_wrist_rgb",
                     "encoding 'mono8', the rig declares 'rgb8'"),
    "float_depth": ({"head_depth": {"encoding": "32FC1"}}, "head_depth", "encoding '32FC1', the rig declares '16UC1'"),
    "wrong_size": ({"right_wrist_rgb": {"width": 32, "height": 24}}, "right_wrist_rgb",
                   "32x24 px, the rig declares 64x48"),
    "bad_step": ({"head_rgb": {"bad_step_rate": 0.1}}, "head_rgb", "expected step * height = 193 * 48"),
}


@pytest.mark.parametrize("faults, match", [
    ({"head_rgb": {"nan_rate": 0.1}}, "head_rgb: nan_rate/inf_rate need a numeric stream"),
    ({"joint_states": {"encoding": "bgr8"}}, "joint_states: encoding/width/height/bad_step_rate need a camera"),
    ({"head_rgb": {"encoding": 8}}, "faults.head_rgb.encoding: expected a string"),
    ({"head_rgb": {"width": 32.5}}, "faults.head_rgb.width: expected an integer"),
    ({"joint_states": {"nan_rate": 1.5}}, "nan_rate=1.5 is not in"),
])
def test_content_faults_are_checked_against_the_role(tmp_path, rig, faults, match):
    from collector.drivers.synthetic import SyntheticError

    with pytest.raises(SyntheticError, match=match):
        _episode(tmp_path, rig, faults)


@pytest.mark.parametrize("case", list(CASES))
def test_sync_refuses_bad_content_in_one_line(tmp_path, rig, case):
    faults, stream, problem = CASES[case]
    episode = _episode(tmp_path, rig, faults)
    before = digest(episode.path)
    with pytest.raises(SyncError) as refused:
        synchronize(episode.path)
    err = refused.value
    text = str(err)
    assert err.stream == stream and len(text.splitlines()) == 1, text
    assert text.startswith(f"{episode.path}: {stream}: at t="), text
    assert problem in text, text
    clean = synchronize(_episode(tmp_path / "clean", rig, {}).path)  # same seed: same capture times
    assert abs(err.time_s - _first_bad_s(episode, stream, clean.origin_ns)) < 0.02, text
    assert digest(episode.path) == before


def _marked_by_bad(aligned, grid_ns: np.ndarray) -> np.ndarray:
    """Frames whose sample(s), chosen among every message (bad ones included), include a bad one."""
    times, bad = aligned.message_time_ns, ~aligned.message_used
    order = np.argsort(times, kind="stable")
    times, bad = times[order], bad[order]
    if aligned.policy == "nearest":
        after = np.clip(np.searchsorted(times, grid_ns), 0, len(times) - 1)
        before = np.clip(after - 1, 0, len(times) - 1)
        pick = np.where(times[after] - grid_ns < grid_ns - times[before], after, before)
        return bad[pick]
    after = np.searchsorted(times, grid_ns, side="right")  # linear: the bracketing pair
    lo, hi = np.clip(after - 1, 0, len(times) - 1), np.clip(after, 0, len(times) - 1)
    exact = times[lo] == grid_ns
    return bad[lo] | (bad[hi] & ~exact)


def test_kept_episode_marks_exactly_the_frames_that_would_use_bad_messages(tmp_path, rig):
    faults = {"joint_states": {"nan_rate": 0.03, "inf_rate": 0.02}, "head_rgb": {"bad_step_rate": 0.1},
              "imu": {"nan_rate": 0.05}}
    episode = _episode(tmp_path, rig, faults, seed=5)
    kept = synchronize(episode.path, keep=True)
    content = {v.stream: v for v in kept.violations if v.kind == "content"}
    assert set(content) == {"joint_states", "head_rgb"}, "only required streams break the rig's limits"
    assert any(w.code == "limit_content" and w.stream == "imu" for w in kept.warnings)
    truth = [r for r in episode.truth if r["published"]]
    for name in ("joint_states", "head_rgb", "imu"):
        aligned = kept.streams[name]
        corrupt = sum(1 for r in truth if r["stream"] == name and r.get("corrupt"))
        assert aligned.summary.bad_messages == corrupt > 0 and (~aligned.message_used).sum() == corrupt
        expected = _marked_by_bad(aligned, kept.grid_ns)
        assert expected.any(), name
        assert not aligned.valid[expected].any(), f"{name}: a frame that would use a bad message is valid"
        others = ~expected & (aligned.i0 >= 0)
        assert aligned.valid[others].mean() > 0.95, f"{name}: frames far from bad messages were marked"
        if name in content:
            assert content[name].frames == int(expected.sum())
        for values in aligned.values.values():
            assert np.isfinite(values[aligned.valid]).all(), f"{name}: a bad value reached a valid frame"

    # exported with the marks: the marked frames are dropped (hdf5 invalid=drop) or written as invalid
    plan = feature_plan(rig)
    info = read_episode_info(episode.path)
    for option, rows in (("drop", int(kept.valid.sum())), ("keep", kept.frames)):
        out = tmp_path / f"dataset_{option}"
        with get_writer("hdf5")(out, plan=plan, fps=kept.fps, options={"invalid": option}) as writer:
            writer.add_episode(episode.path, kept, info)
        with h5py.File(out / "episode_0.hdf5", "r") as root:
            assert len(root["valid"]) == rows
            assert np.array_equal(root["valid"][:], kept.valid if option == "keep" else kept.valid[kept.valid])
            qpos = root["observations/qpos"][:]
            assert np.isfinite(qpos[root["valid"][:]]).all()


def test_a_bad_stream_that_is_not_required_is_only_a_warning(tmp_path, rig):
    episode = _episode(tmp_path, rig, {"imu": {"nan_rate": 0.1}, "left_wrench": {"inf_rate": 0.1}})
    result = synchronize(episode.path)
    for name in ("imu", "left_wrench"):
        warned = [w for w in result.warnings if w.stream == name and w.code == "limit_content"]
        assert len(warned) == 1 and "messages unusable" in warned[0].message
        assert result.streams[name].summary.bad_messages > 0


def test_export_skips_a_bad_episode_in_one_line_and_exports_the_rest(tmp_path, rig, capsys):
    good = _episode(tmp_path / "src", rig, {}, seed=3)
    bad = _episode(tmp_path / "src", rig, {"joint_states": {"nan_rate": 0.02}}, seed=4)
    sources = {p: digest(p) for p in (good.path, bad.path)}
    out = tmp_path / "dataset"
    assert main(["export", str(tmp_path / "src"), "--format", "hdf5", "--out", str(out)]) == 2
    captured = capsys.readouterr()
    skipped = [line for line in captured.err.splitlines() if line.startswith("skipped")]
    assert len(skipped) == 1, captured.err
    assert str(bad.path) in skipped[0] and "joint_states: at t=" in skipped[0] and "position has NaN" in skipped[0]
    assert "exported 1 episode(s)" in captured.out
    with h5py.File(out / "episode_0.hdf5", "r") as root:
        assert root.attrs["episode_id"] == good.path.name
        assert np.isfinite(root["observations/qpos"][:]).all()

    strict = tmp_path / "strict"
    assert main(["export", str(bad.path), str(good.path), "--format", "hdf5", "--out", str(strict),
                 "--strict"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {bad.path}: joint_states: at t="), lines
    assert not list(strict.glob("*.hdf5"))
    assert {p: digest(p) for p in sources} == sources, "export changed a source episode"


@pytest.mark.ros
@pytest.mark.slow
def test_recorder_keeps_bad_content_byte_for_byte_and_export_refuses_it(nodes, client, tmp_path):
    rig_file = light_rig(tmp_path)
    light = load_rig(rig_file)
    faults = ("{joint_states: {nan_rate: 0.02, inf_rate: 0.01}, left_wrist_rgb: {bad_step_rate: 0.1}, "
              "head_rgb: {encoding: mono8}}")
    synthetic, _recorder, truth_path = start_pair(nodes, client, tmp_path, rig_file, seed=8, faults=faults)
    episode = Path(client.start())
    time.sleep(3.0)
    assert Path(client.stop()) == episode
    synthetic.stop()

    info = read_episode_info(episode)
    assert info.status == "complete"
    recorded = read_back(episode)
    truth = read_truth(truth_path)
    corrupt = {}
    for stream in light.streams:
        rows = recorded[stream.topic]
        window = recorded_window(rows, truth, stream.name)
        assert info.streams[stream.name].count == len(rows) and info.streams[stream.name].drops == 0
        corrupt[stream.name] = {row["stamp_ns"]: row.get("corrupt", "") for row in window}
    # what rosbags reads back is what was published, bad values and all
    for _, stamp, msg in recorded[light.stream("joint_states").topic]:
        position = np.asarray(msg.position)
        kind = corrupt["joint_states"][stamp]
        assert (np.isnan(position[0]), np.isinf(position[0])) == (kind == "nan", kind == "inf")
        assert np.isfinite(position[1:]).all()
    for _, stamp, msg in recorded[light.stream("left_wrist_rgb").topic]:
        assert (msg.step * msg.height != len(msg.data)) == (corrupt["left_wrist_rgb"][stamp] == "bad_step")
    for _, _, msg in recorded[light.stream("head_rgb").topic]:
        assert (msg.encoding, msg.step, len(msg.data)) == ("mono8", msg.width, msg.width * msg.height)
    assert sum(kind == "nan" for kind in corrupt["joint_states"].values()) > 0
    assert sum(kind == "bad_step" for kind in corrupt["left_wrist_rgb"].values()) > 0

    before = digest(episode)
    result = collector_cli("export", str(episode), "--format", "hdf5", "--out", str(tmp_path / "dataset"))
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and episode.name in lines[0], result.stderr
    assert "head_rgb: at t=" in lines[0] and "encoding 'mono8', the rig declares 'rgb8'" in lines[0]

    # without the mono8 camera, the NaN/inf joints and the bad rows are found in the recorded bytes
    others = [s.name for s in light.streams if s.name != "head_rgb"]
    kept = synchronize(episode, keep=True, streams=others)
    found = {v.stream: v for v in kept.violations if v.kind == "content"}
    assert set(found) == {"joint_states", "left_wrist_rgb"}
    assert "expected step * height" in found["left_wrist_rgb"].reason
    assert kept.streams["joint_states"].summary.bad_messages == sum(
        kind in ("nan", "inf") for kind in corrupt["joint_states"].values())
    assert digest(episode) == before, "sync or export changed the recorded episode"
