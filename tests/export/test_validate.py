"""``collector validate``: real exports validate clean; each kind of damage is reported by name."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from collector.cli import main  # noqa: E402
from collector.export.errors import ExportError  # noqa: E402
from collector.export.features import feature_plan  # noqa: E402
from collector.export.registry import FORMATS, get_writer  # noqa: E402
from collector.export.validate import validate_dataset  # noqa: E402
from collector.export.validate_time import time_rules  # noqa: E402
from tests.export.conftest import START_NS  # noqa: E402
from tests.export.test_lerobot_oracle_env import requires_oracle, run_probe  # noqa: E402

DATA = "data/chunk-000/file-000.parquet"
HEAD_VIDEO = "videos/observation.images.head_rgb/chunk-000/file-000.mp4"


def export(fmt, root, *episodes, **options):
    with get_writer(fmt)(root, plan=feature_plan(episodes[0].rig), fps=episodes[0].rig.fps, options=options) as writer:
        for episode in episodes:
            writer.add_episode(episode.path, episode.sync, episode.info)
    return root


@pytest.fixture(scope="module")
def lerobot_dataset(tmp_path_factory, baoan, baoan_second):
    return export("lerobot", tmp_path_factory.mktemp("validate") / "lerobot", baoan, baoan_second)


@pytest.fixture(scope="module")
def hdf5_dataset(tmp_path_factory, baoan, baoan_second):
    return export("hdf5", tmp_path_factory.mktemp("validate") / "hdf5", baoan, baoan_second)


def run_cli(capsys, *args):
    code = main(["validate", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


# ------------------------------------------------------------------------------ clean exports


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_clean_export_validates(fmt, request, capsys):
    root = request.getfixturevalue(f"{fmt}_dataset")
    report = validate_dataset(root)
    assert report.format == fmt
    assert report.problems == [], "\n".join(map(str, report.problems))
    assert report.summary["episodes"] == 2 and report.summary["frames"] > 100
    code, lines, err = run_cli(capsys, root)
    assert code == 0 and err == ""
    assert lines == [lines[-1]] and lines[-1].endswith(": OK") and f"{fmt} dataset" in lines[-1]
    code, lines, _ = run_cli(capsys, root, "--json")
    payload = json.loads("\n".join(lines))
    assert code == 0 and payload["ok"] and payload["problems"] == [] and payload["format"] == fmt


@pytest.mark.parametrize("fmt, options", [("lerobot", {"vcodec": "h264"}), ("hdf5", {"compress": True})])
def test_other_rig_and_options_validate(fmt, options, longhua, tmp_path):
    report = validate_dataset(export(fmt, tmp_path / fmt, longhua, **options))
    assert report.problems == [], "\n".join(map(str, report.problems))
    assert report.summary["episodes"] == 1


def test_appended_lerobot_dataset_validates(baoan, baoan_second, tmp_path):
    """Two export runs: two data files, two mp4s per camera, two episodes-table files."""
    root = export("lerobot", tmp_path / "ds", baoan)
    export("lerobot", root, baoan_second)
    assert len(list((root / "data").glob("*/*.parquet"))) == 2
    report = validate_dataset(root)
    assert report.problems == [], "\n".join(map(str, report.problems))
    assert report.summary["video_files"] == 6 and report.summary["data_files"] == 2
    assert report.summary["time_rules"] == ["rig baoan_humanoid"]


def test_unknown_rig_falls_back_to_half_frame_period(lerobot_dataset, tmp_path):
    root = copy(lerobot_dataset, tmp_path)
    edit_json(root / "meta/info.json", lambda info: info["collector"].update(rig="no_such_rig"))
    pq.write_table(pq.read_table(root / "meta/episodes/chunk-000/file-000.parquet").drop_columns(["rig"]),
                   root / "meta/episodes/chunk-000/file-000.parquet")
    report = validate_dataset(root)
    assert report.problems == [], "\n".join(map(str, report.problems))
    assert report.summary["time_rules"][0].startswith("half frame period (16.667 ms)")
    rules = time_rules(json.loads((root / "meta/info.json").read_text())["features"], 30, "no_such_rig")
    assert set(rules.limits_ms) == {"head_rgb", "head_depth", "left_wrist_rgb", "right_wrist_rgb"}


def test_rig_limits_are_the_sync_policy_limits(lerobot_dataset):
    features = json.loads((lerobot_dataset / "meta/info.json").read_text())["features"]
    rules = time_rules(features, 30, "baoan_humanoid")
    # nearest: half the 30 Hz period; linear: error 0 on valid frames; hold (action): 0.5 s age
    assert rules.limits_ms["head_rgb"] == pytest.approx(1000 / 60, abs=1e-5)
    assert rules.limits_ms["joint_states"] == 0.0 and rules.limits_ms["action"] == 500.0
    assert "imu" not in rules.limits_ms  # optional: time.valid does not vouch for it
    assert rules.feature_streams["observation.state"] == ("joint_states", "left_gripper", "right_gripper")


@pytest.fixture(scope="module")
def faulty_dataset(tmp_path_factory, baoan):
    """An episode with a dropping camera (frames beyond tolerance: time.valid false), an optional
    IMU that goes silent and a lossy optional wrench sensor (NaN where time.valid is true)."""
    from collector.drivers.synthetic_episode import write_synthetic_episode
    from collector.episode import read_episode_info
    from collector.sync import synchronize

    out = tmp_path_factory.mktemp("faulty")
    faults = {"head_rgb": {"drop_rate": 0.15}, "imu": {"silent_after_s": 1.0}, "left_wrench": {"drop_rate": 0.3}}
    episode = write_synthetic_episode(out / "episodes", baoan.rig, seconds=2.0, seed=9, faults=faults,
                                      start_ns=START_NS, task="t")
    sync = synchronize(episode.path, keep=True)  # keep: more invalid camera frames than the rig allows
    root = out / "lerobot"
    with get_writer("lerobot")(root, plan=feature_plan(baoan.rig), fps=baoan.rig.fps, options={}) as writer:
        writer.add_episode(episode.path, sync, read_episode_info(episode.path))
    return root


def test_invalid_frames_and_optional_gaps_are_honest(faulty_dataset, tmp_path):
    table = pq.read_table(faulty_dataset / DATA)
    valid = table["time.valid"].to_numpy()
    imu = np.array(table["observation.imu.orientation"].to_pylist(), dtype=float)
    assert (~valid).any() and (np.isnan(imu).any(axis=1) & valid).any()  # the case is really there
    report = validate_dataset(faulty_dataset)
    assert report.problems == [], "\n".join(map(str, report.problems))

    root = copy(faulty_dataset, tmp_path)
    edit_data(root, lambda c: c["time.valid"].fill(True))  # claim the dropped camera frames valid
    problems = [p for p in validate_dataset(root).problems if p.where == DATA]
    assert [p.message.split(":")[0] for p in problems] == ["time.head_rgb.error_ms"]
    assert f"on {int((~valid).sum())} row(s)" in problems[0].message


@requires_oracle
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["video", "images"])
def test_dataset_written_by_lerobot_validates(kind, tmp_path):
    """An independent writer: LeRobot's own (oracle venv) makes a dataset our validator accepts."""
    args = ["--write-reference", "--vcodec", "h264"] if kind == "video" else ["--write-reference", "--images"]
    result = run_probe(tmp_path / "ds", *args)
    assert result.get("ok"), result
    report = validate_dataset(tmp_path / "ds")
    assert report.problems == [], "\n".join(map(str, report.problems))
    assert report.summary["episodes"] == 2 and report.summary["frames"] == 21


# ------------------------------------------------------------------------------ damage helpers


def copy(root, tmp_path):
    target = tmp_path / root.name
    shutil.copytree(root, target)
    return target


def edit_json(path, change):
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc, indent=4))


def edit_data(root, change):
    """Rewrite the data file with ``change(columns)`` applied to its columns as numpy arrays
    (vectors (N, n)); the arrow types are kept."""
    path = root / DATA
    table = pq.read_table(path)
    columns = {}
    for name in table.column_names:
        column = table[name].combine_chunks()
        if pa.types.is_fixed_size_list(column.type):
            columns[name] = column.flatten().to_numpy().reshape(len(column), -1).copy()
        elif not pa.types.is_struct(column.type):
            columns[name] = column.to_numpy(zero_copy_only=False).copy()
    change(columns)
    arrays = {}
    for name, values in columns.items():
        old = table.schema.field(name).type if name in table.column_names else None
        if old is not None and pa.types.is_fixed_size_list(old):
            arrays[name] = pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1), type=old.value_type),
                                                             old.list_size)
        else:
            arrays[name] = pa.array(values, type=old)
    rows = len(next(iter(columns.values())))
    for name in table.column_names:
        if name not in arrays and pa.types.is_struct(table.schema.field(name).type):
            arrays[name] = table[name].slice(0, rows)
    order = [n for n in table.column_names if n in arrays] + [n for n in arrays if n not in table.column_names]
    pq.write_table(pa.table({n: arrays[n] for n in order}), path)


def drop_last_video_frame(path):
    """Remux ``path`` without its last packet (one frame fewer, pts unchanged)."""
    import av

    temporary = path.with_name("short.mp4")
    with av.open(str(path)) as source, av.open(str(temporary), "w", format="mp4") as target:
        stream_in = source.streams.video[0]
        stream_out = target.add_stream_from_template(stream_in, opaque=True)
        stream_out.time_base = stream_in.time_base
        packets = [p for p in source.demux(stream_in) if p.size and p.pts is not None]
        for packet in packets[:-1]:
            packet.stream = stream_out
            target.mux(packet)
    temporary.replace(path)


def set_state_nan(c):
    c["observation.state"][4, 2] = np.nan


def shift_timestamp(c):
    c["timestamp"][7] += np.float32(0.003)


def drop_last_row(c):
    for name in c:
        c[name] = c[name][:-1]


def add_column(c):
    c["extra.column"] = np.zeros(len(c["index"]), dtype=np.float32)


def camera_error(c):
    c["time.head_rgb.error_ms"][3] = np.float32(20.0)


def wrench_inf(c):
    c["observation.wrench.left_wrench"][5, 0] = np.inf


def drop_valid_column(c):
    del c["time.valid"]


def stats_mean(stats):
    stats["observation.state"]["mean"][0] += 0.25


def image_stats_shape(stats):
    stats["observation.images.head_rgb"]["mean"] = [0.5, 0.5, 0.5]


LEROBOT_DAMAGE = {
    # name: (damage(root), where, words in the message)
    "video deleted": (lambda r: (r / HEAD_VIDEO).unlink(), HEAD_VIDEO, "missing"),
    "mp4 truncated": (lambda r: (r / HEAD_VIDEO).write_bytes((r / HEAD_VIDEO).read_bytes()[:20000]),
                      HEAD_VIDEO, "not a readable video"),
    "video frame dropped": (lambda r: drop_last_video_frame(r / HEAD_VIDEO), HEAD_VIDEO, "frames"),
    "data row dropped": (lambda r: edit_data(r, drop_last_row), "meta/info.json", "total_frames"),
    "timestamp shifted 3 ms": (lambda r: edit_data(r, shift_timestamp), DATA, "timestamp"),
    "stats mean changed": (lambda r: edit_json(r / "meta/stats.json", stats_mean), "meta/stats.json",
                           "observation.state: mean"),
    "image stats shape": (lambda r: edit_json(r / "meta/stats.json", image_stats_shape), "meta/stats.json",
                          "observation.images.head_rgb: expected shape (3, 1, 1)"),
    "NaN in state": (lambda r: edit_data(r, set_state_nan), DATA, "observation.state: NaN"),
    "inf in wrench": (lambda r: edit_data(r, wrench_inf), DATA, "observation.wrench.left_wrench: inf"),
    "extra column": (lambda r: edit_data(r, add_column), DATA, "extra.column"),
    "missing column": (lambda r: edit_data(r, drop_valid_column), DATA, "missing: time.valid"),
    "camera beyond tolerance": (lambda r: edit_data(r, camera_error), DATA, "time.head_rgb.error_ms"),
    "wrong total_frames": (lambda r: edit_json(r / "meta/info.json", lambda i: i.update(total_frames=999)),
                           "meta/info.json", "total_frames is 999"),
    "wrong codebase_version": (lambda r: edit_json(r / "meta/info.json", lambda i: i.update(codebase_version="v2.1")),
                               "meta/info.json", "'v2.1'"),
    "tasks.parquet missing": (lambda r: (r / "meta/tasks.parquet").unlink(), "meta/tasks.parquet", "missing"),
    "info.json not JSON": (lambda r: (r / "meta/info.json").write_text("{"), "meta/info.json", "does not parse"),
}

HDF5_DAMAGE = {
    "qpos deleted": ("episode_0.hdf5", "/observations/qpos missing"),
    "NaN in action": ("episode_1.hdf5", "/action holds NaN"),
    "episode number missing": ("episode_0.hdf5", "missing"),
    "timestamp shifted 3 ms": ("episode_1.hdf5", "/timestamp"),
    "camera frame missing": ("episode_0.hdf5", "/observations/images/head_rgb has"),
    "not HDF5": ("episode_1.hdf5", "does not open with h5py"),
}


def damage_hdf5(name, root):
    if name == "episode number missing":
        (root / "episode_0.hdf5").unlink()
        return
    if name == "not HDF5":
        (root / "episode_1.hdf5").write_bytes(b"not an hdf5 file")
        return
    with h5py.File(root / HDF5_DAMAGE[name][0], "r+") as f:
        if name == "qpos deleted":
            del f["observations/qpos"]
        elif name == "NaN in action":
            f["action"][3, 0] = np.nan
        elif name == "timestamp shifted 3 ms":
            f["timestamp"][5] += 0.003
        elif name == "camera frame missing":
            images = f["observations/images/head_rgb"][:-1]
            del f["observations/images/head_rgb"]
            f["observations/images/head_rgb"] = images


def assert_reported(root, where, words, capsys):
    report = validate_dataset(root)
    shown = "\n".join(map(str, report.problems))
    assert any(p.where == where and words in p.message for p in report.problems), \
        f"no problem at {where} with {words!r}; got:\n{shown}"
    code, lines, err = run_cli(capsys, root)
    assert code == 1 and err == ""
    assert lines[:-1] == [str(p) for p in report.problems]
    assert lines[-1].endswith(f"{len(report.problems)} problem(s)")
    assert not any("Traceback" in line for line in lines)


# ------------------------------------------------------------------------------ damaged exports


@pytest.mark.parametrize("name", LEROBOT_DAMAGE)
def test_lerobot_damage_is_reported(name, lerobot_dataset, tmp_path, capsys):
    damage, where, words = LEROBOT_DAMAGE[name]
    root = copy(lerobot_dataset, tmp_path)
    damage(root)
    assert_reported(root, where, words, capsys)


@pytest.mark.parametrize("name", HDF5_DAMAGE)
def test_hdf5_damage_is_reported(name, hdf5_dataset, tmp_path, capsys):
    root = copy(hdf5_dataset, tmp_path)
    damage_hdf5(name, root)
    assert_reported(root, *HDF5_DAMAGE[name], capsys)


def test_dropped_row_names_the_episode(lerobot_dataset, tmp_path):
    root = copy(lerobot_dataset, tmp_path)
    edit_data(root, drop_last_row)
    messages = [str(p) for p in validate_dataset(root).problems]
    assert any(m.startswith("meta/episodes/chunk-000/file-000.parquet: episode 1: length") for m in messages), messages


def test_nan_in_camera_time_is_explained_by_time_valid(lerobot_dataset, tmp_path):
    """NaN in a required stream's columns is honest where time.valid is false, reported where it is true."""
    root = copy(lerobot_dataset, tmp_path)

    def hide_head_depth_error(c):
        c["time.head_depth.error_ms"][[2, 9]] = np.nan
        c["time.valid"][2] = False

    edit_data(root, hide_head_depth_error)
    problems = [p for p in validate_dataset(root).problems
                if p.where == DATA and p.message.startswith("time.head_depth.error_ms")]
    assert len(problems) == 1 and problems[0].message.startswith("time.head_depth.error_ms: NaN where time.valid")
    assert problems[0].message.endswith("on 1 row(s) (first at episode 0 frame 9)")


# ------------------------------------------------------------------------------ not a dataset


@pytest.mark.parametrize("make", ["missing", "empty", "file"])
def test_not_a_dataset_is_one_error_line(make, tmp_path, capsys):
    path = tmp_path / "thing"
    if make == "empty":
        path.mkdir()
    elif make == "file":
        path.write_text("hello")
    with pytest.raises(ExportError, match=str(path)):
        validate_dataset(path)
    code, lines, err = run_cli(capsys, path)
    assert code == 1 and lines == []
    assert err.count("\n") == 1 and err.startswith("error: ") and str(path) in err
