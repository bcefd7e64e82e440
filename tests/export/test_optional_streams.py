"""Optional streams that never published (an IMU not plugged in), and episodes sync refuses.

No episode has the stream: its features are left out with one warning line. Some have
it: the others carry zeros and ``time.<stream>.valid`` false, statistics count the
valid frames only, ``collector validate`` accepts the dataset and still catches lies.
Read back with pyarrow and h5py, statistics recomputed here with numpy.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

h5py = pytest.importorskip("h5py")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from collector.cli import main  # noqa: E402
from collector.drivers.synthetic_episode import write_synthetic_episode  # noqa: E402
from collector.episode import read_episode_info  # noqa: E402
from collector.export.errors import ExportError  # noqa: E402
from collector.export.features import feature_plan  # noqa: E402
from collector.export.lerobot import layout  # noqa: E402
from collector.export.presence import plan_streams  # noqa: E402
from collector.export.run import export_episodes  # noqa: E402
from collector.export.validate import validate_dataset  # noqa: E402
from collector.rig import parse_rig  # noqa: E402
from collector.sync import SyncError, synchronize  # noqa: E402
from tests.export.conftest import START_NS  # noqa: E402
from tests.export.test_lerobot_oracle_env import ORACLE_PYTHON, load_with_lerobot  # noqa: E402
from tests.export.test_validate import copy, edit_data  # noqa: E402

FORMATS = ("lerobot", "hdf5")
IMU_KEYS = ("observation.imu.orientation", "observation.imu.angular_velocity", "observation.imu.linear_acceleration")
IMAGE_PREFIXES = ("observation.images.", "observation.depth.")
SILENT = {"drop_rate": 1.0}  # every message dropped: the topic is recorded with 0 messages


def record(out: Path, rig, seed: int, *, faults=None, seconds: float = 1.5) -> Path:
    return write_synthetic_episode(out, rig, seconds=seconds, seed=seed, start_ns=START_NS + seed * 10**9,
                                   faults=faults, task="pick the part", operator="op7").path


@pytest.fixture(scope="module")
def episodes(tmp_path_factory, baoan) -> dict[str, Path]:
    """Bao'an episodes: ``no_imu`` (the IMU published nothing), ``imu`` (every stream)."""
    root = tmp_path_factory.mktemp("optional")
    return {"no_imu": record(root / "a", baoan.rig, 31, faults={"imu": SILENT}),
            "imu": record(root / "b", baoan.rig, 32)}


@pytest.fixture(scope="module")
def mixed(tmp_path_factory, episodes) -> dict[str, Path]:
    """Per format, one export of both episodes: the IMU in the second one only."""
    root = tmp_path_factory.mktemp("mixed")
    out = {}
    for fmt in FORMATS:
        result = export_episodes([episodes["no_imu"], episodes["imu"]], fmt=fmt, out=root / fmt)
        assert result.warnings == [] and result.failed == [], result
        out[fmt] = root / fmt
    return out


# ----------------------------------------------------------------------------- reading back


def read_lerobot(root: Path) -> list[dict[str, np.ndarray]]:
    """Per episode, every numeric data column (float64, (K, n) or (K,)) and ``grid_rows``:
    the sync grid frame of each row."""
    table = pa.concat_tables(pq.read_table(p) for p in layout.parquet_files(root / "data"))
    firsts = pa.concat_tables(pq.read_table(p) for p in layout.parquet_files(root / "meta" / "episodes"))
    firsts = firsts["source_first_frame"].to_pylist()
    columns = {}
    for name in table.column_names:
        column = table[name].combine_chunks()
        if pa.types.is_struct(column.type):
            continue
        if pa.types.is_fixed_size_list(column.type):
            columns[name] = column.flatten().to_numpy().reshape(len(column), -1).astype(np.float64)
        else:
            columns[name] = column.to_numpy(zero_copy_only=False).astype(np.float64)
    episode = columns["episode_index"]
    out = []
    for number, first in enumerate(firsts):
        rows = episode == number
        part = {name: values[rows] for name, values in columns.items()}
        part["grid_rows"] = (part["frame_index"] + first).astype(np.int64)
        out.append(part)
    return out


def _datasets(file) -> list:
    found = []
    file.visititems(lambda name, item: found.append(item) if isinstance(item, h5py.Dataset) else None)
    return found


def read_hdf5(root: Path) -> list[dict[str, np.ndarray]]:
    """Per episode file, the same keys as :func:`read_lerobot` (h5py, by each dataset's ``feature`` attr)."""
    out = []
    for number in range(len(list(root.glob("episode_*.hdf5")))):
        with h5py.File(root / f"episode_{number}.hdf5", "r") as file:
            part = {str(item.attrs["feature"]): item[()].astype(np.float64) for item in _datasets(file)
                    if "feature" in item.attrs and not str(item.attrs["feature"]).startswith(IMAGE_PREFIXES)}
            part["grid_rows"] = file["frame_index"][()].astype(np.int64)
        out.append(part)
    return out


READ = {"lerobot": read_lerobot, "hdf5": read_hdf5}


def feature_keys(fmt: str, root: Path) -> set[str]:
    if fmt == "lerobot":
        return set(json.loads((root / layout.INFO_PATH).read_text())["features"])
    keys = set()
    for path in root.glob("episode_*.hdf5"):
        with h5py.File(path, "r") as file:
            keys.update(str(item.attrs["feature"]) for item in _datasets(file) if "feature" in item.attrs)
    return keys


def assert_valid(root: Path) -> None:
    report = validate_dataset(root)
    assert report.problems == [], "\n".join(map(str, report.problems))


# ----------------------------------------------------------------------------- no episode has it


@pytest.mark.parametrize("fmt", FORMATS)
def test_stream_no_episode_published_is_left_out_with_a_warning(fmt, episodes, tmp_path):
    assert read_episode_info(episodes["no_imu"]).streams["imu"].count == 0  # the case is really there
    result = export_episodes([episodes["no_imu"]], fmt=fmt, out=tmp_path / fmt)
    (warning,) = result.warnings
    assert warning.startswith("stream 'imu' published nothing in any of the 1 episode(s)"), warning
    assert result.to_dict()["warnings"] == [warning]
    keys = feature_keys(fmt, tmp_path / fmt)
    assert not [k for k in keys if ".imu" in k], keys
    assert {"observation.wrench.left_wrench", "time.left_wrench.valid", "observation.state"} <= keys
    assert_valid(tmp_path / fmt)


def test_cli_prints_the_warning_on_one_line(episodes, tmp_path, capsys):
    code = main(["export", str(episodes["no_imu"]), "--format", "hdf5", "--out", str(tmp_path / "ds")])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert len(lines) == 1 and "stream 'imu' published nothing" in lines[0], err
    assert "exported 1 episode(s)" in out


# ----------------------------------------------------------------------------- some episodes have it


@pytest.mark.parametrize("fmt", FORMATS)
def test_episode_without_the_stream_has_zeros_and_validity_false(fmt, mixed, episodes):
    without, with_imu = READ[fmt](mixed[fmt])
    assert not without["time.imu.valid"].any()
    for key in IMU_KEYS:
        assert np.all(without[key] == 0), key
    assert np.isnan(without["time.imu.source_s"]).all() and np.isnan(without["time.imu.error_ms"]).all()
    assert without["time.left_wrench.valid"].all()  # the other optional streams are there

    imu = synchronize(episodes["imu"]).streams["imu"]  # the second episode: sync's values, row for row
    rows = with_imu["grid_rows"]
    np.testing.assert_array_equal(with_imu["time.imu.valid"].astype(bool), imu.valid[rows])
    assert with_imu["time.imu.valid"].mean() > 0.9
    np.testing.assert_array_equal(with_imu["observation.imu.orientation"],
                                  imu.values["orientation"][rows].astype(np.float32))
    assert "time.head_rgb.valid" not in with_imu  # required streams: no validity column
    assert_valid(mixed[fmt])


def test_lerobot_stats_count_only_valid_frames(mixed):
    root = mixed["lerobot"]
    without, with_imu = read_lerobot(root)
    stats = json.loads((root / layout.STATS_PATH).read_text())
    valid = np.concatenate([without["time.imu.valid"], with_imu["time.imu.valid"]]).astype(bool)
    for key in (*IMU_KEYS, "time.imu.error_ms"):
        values = np.concatenate([without[key], with_imu[key]]).reshape(len(valid), -1)[valid]
        entry = stats[key]
        assert entry["count"] == [int(valid.sum())] and valid.sum() < len(valid)
        for name, expected in (("mean", values.mean(axis=0)), ("std", values.std(axis=0)), ("min", values.min(axis=0)),
                               ("max", values.max(axis=0)), ("q50", np.quantile(values, 0.5, axis=0)),
                               ("q01", np.quantile(values, 0.01, axis=0))):
            np.testing.assert_allclose(np.reshape(entry[name], -1), expected, rtol=1e-9, atol=1e-12,
                                       err_msg=f"{key} {name}")
    # the zeros of the first episode would have pulled the mean: they are really left out
    every = np.concatenate([without["observation.imu.orientation"], with_imu["observation.imu.orientation"]])
    assert not np.allclose(stats["observation.imu.orientation"]["mean"], every.mean(axis=0))
    # per episode: the first counts no IMU frame
    table = pq.read_table(layout.parquet_files(root / "meta" / "episodes")[0])
    counts = table["stats/observation.imu.orientation/count"].to_pylist()
    assert counts == [[0], [int(with_imu["time.imu.valid"].sum())]]
    info = json.loads((root / layout.INFO_PATH).read_text())
    assert info["collector"]["validity"]["observation.imu.orientation"] == "time.imu.valid"
    card = (root / "README.md").read_text()
    assert "`time.imu.valid`" in card and "published nothing" in card


def test_hdf5_datasets_name_their_validity_flags(mixed):
    with h5py.File(mixed["hdf5"] / "episode_0.hdf5", "r") as file:
        assert file["observations/imu/orientation"].attrs["valid"] == "/time/imu/valid"
        assert file["time/imu/valid"].dtype == np.bool_ and file["time/imu/valid"].shape == file["action"].shape[:1]
        assert json.loads(file.attrs["features"])["observation.imu.orientation"]["valid"] == "time.imu.valid"
        assert "valid" not in file["observations/qpos"].attrs


# ----------------------------------------------------------------------------- appending


@pytest.mark.parametrize("fmt", FORMATS)
def test_append_follows_the_dataset(fmt, episodes, tmp_path):
    """A dataset with the IMU takes an episode without it (zeros); one without it stays without."""
    has, lacks = tmp_path / "has", tmp_path / "lacks"
    assert export_episodes([episodes["imu"]], fmt=fmt, out=has).warnings == []
    result = export_episodes([episodes["no_imu"]], fmt=fmt, out=has)
    assert result.warnings == [] and result.failed == []
    first, second = READ[fmt](has)
    assert first["time.imu.valid"].any() and not second["time.imu.valid"].any()
    assert np.all(second["observation.imu.orientation"] == 0)
    assert_valid(has)

    assert len(export_episodes([episodes["no_imu"]], fmt=fmt, out=lacks).warnings) == 1
    result = export_episodes([episodes["imu"]], fmt=fmt, out=lacks)
    (warning,) = result.warnings
    assert warning.startswith(f"stream 'imu': {lacks} has no features for it"), warning
    assert not [k for k in feature_keys(fmt, lacks) if ".imu" in k]
    assert len(READ[fmt](lacks)) == 2
    assert_valid(lacks)


# ----------------------------------------------------------------------------- an optional camera


@pytest.fixture(scope="module")
def optional_camera(tmp_path_factory, baoan) -> tuple[Path, Path]:
    """The left wrist camera made optional; it publishes nothing in the first episode. Exported
    to both formats: (lerobot, hdf5)."""
    doc = yaml.safe_load(baoan.rig.text)
    for stream in doc["streams"]:
        if stream["name"] == "left_wrist_rgb":
            stream["required"] = False
    rig = parse_rig(yaml.safe_dump(doc, sort_keys=False), source="baoan_optional_camera.yaml")
    root = tmp_path_factory.mktemp("camera")
    sources = [record(root / "a", rig, 41, faults={"left_wrist_rgb": SILENT}, seconds=1.0),
               record(root / "b", rig, 42, seconds=1.0)]
    for fmt in FORMATS:
        export_episodes(sources, fmt=fmt, out=root / fmt)
    return root / "lerobot", root / "hdf5"


def test_optional_camera_absent_gives_black_frames(optional_camera):
    import av

    lerobot, hdf5 = optional_camera
    for root in optional_camera:
        assert_valid(root)
    with h5py.File(hdf5 / "episode_0.hdf5", "r") as file:
        assert not file["time/left_wrist_rgb/valid"][()].any()
        assert np.all(file["observations/images/left_wrist_rgb"][()] == 0)
        assert file["observations/images/head_rgb"][()].any()
    with h5py.File(hdf5 / "episode_1.hdf5", "r") as file:
        assert file["time/left_wrist_rgb/valid"][()].all()

    without, with_camera = read_lerobot(lerobot)
    assert not without["time.left_wrist_rgb.valid"].any()
    stats = json.loads((lerobot / layout.STATS_PATH).read_text())
    assert stats["observation.images.left_wrist_rgb"]["count"] == [int(with_camera["time.left_wrist_rgb.valid"].sum())]
    video = next((lerobot / "videos" / "observation.images.left_wrist_rgb").glob("*/*.mp4"))
    with av.open(str(video)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    first = frames[: len(without["frame_index"])]
    assert max(float(f.mean()) for f in first) < 2.0  # black, up to the codec
    assert float(frames[-1].mean()) > 20.0


# ----------------------------------------------------------------------------- validate still catches lies


def claim_imu_valid(c):
    c["time.imu.valid"][:] = True


def imu_nan_where_valid(c):
    row = int(np.flatnonzero(c["time.imu.valid"])[0])
    c["observation.imu.orientation"][row, 0] = np.nan


def wrench_error_where_valid(c):
    row = int(np.flatnonzero(c["time.left_wrench.valid"])[3])
    c["time.left_wrench.error_ms"][row] = np.float32(50.0)


@pytest.mark.parametrize("damage, words", [
    (claim_imu_valid, ["time.imu.source_s: NaN where time.imu.valid is true",
                       "observation.imu.orientation: "]),  # zeros now counted: stats.json disagrees
    (imu_nan_where_valid, ["observation.imu.orientation: NaN where time.imu.valid is true"]),
    (wrench_error_where_valid, ["time.left_wrench.error_ms: |error| up to 50.000 ms where time.left_wrench.valid"]),
])
def test_validate_catches_lies_about_optional_streams(mixed, tmp_path, damage, words):
    root = copy(mixed["lerobot"], tmp_path)
    edit_data(root, damage)
    messages = [p.message for p in validate_dataset(root).problems]
    for word in words:
        assert any(m.startswith(word) for m in messages), messages


def test_validate_hdf5_catches_missing_validity_flags(mixed, tmp_path):
    root = copy(mixed["hdf5"], tmp_path)
    with h5py.File(root / "episode_0.hdf5", "r+") as file:
        del file["time/imu/valid"]
    messages = [str(p) for p in validate_dataset(root).problems]
    assert any(m.startswith("episode_0.hdf5: /observations/imu/orientation: its validity flags /time/imu/valid "
                            "are missing") for m in messages), messages


# ----------------------------------------------------------------------------- the plan


def test_presence_comes_from_episode_json(episodes, baoan):
    infos = [read_episode_info(episodes["no_imu"])]
    plan, warnings = plan_streams(baoan.rig, infos)
    assert "observation.imu.orientation" not in plan and len(warnings) == 1
    infos[0].streams.clear()  # an episode another tool wrote: no counts, every stream taken as there
    plan, warnings = plan_streams(baoan.rig, infos)
    assert "observation.imu.orientation" in plan and warnings == []
    plan, warnings = plan_streams(baoan.rig, [read_episode_info(episodes["no_imu"])],
                                  existing=set(feature_plan(baoan.rig).keys()))
    assert "time.imu.valid" in plan and warnings == []  # appending to a dataset with the IMU


def test_required_only_rig_keeps_its_schema(baoan):
    doc = yaml.safe_load(baoan.rig.text)
    for stream in doc["streams"]:
        stream["required"] = True
    plan = feature_plan(parse_rig(yaml.safe_dump(doc, sort_keys=False), source="all_required.yaml"))
    assert plan.of_kind("valid") == () and plan.validity == {}
    with pytest.raises(ExportError, match="'left_gripper' cannot be left out"):
        feature_plan(baoan.rig, leave_out=["left_gripper"])


# ----------------------------------------------------------------------------- episodes sync refuses


def test_episode_sync_refuses_is_named(episodes, baoan, tmp_path, capsys):
    refused = record(tmp_path / "refused", baoan.rig, 51, faults={"head_rgb": SILENT}, seconds=1.0)
    with pytest.raises(SyncError, match="head_rgb"):
        synchronize(refused)
    code = main(["export", str(episodes["imu"]), str(refused), "--format", "hdf5", "--out", str(tmp_path / "ds")])
    err = capsys.readouterr().err
    assert code == 2
    (line,) = [line for line in err.splitlines() if line.startswith("skipped ")]
    assert line.startswith(f"skipped {refused}: head_rgb:"), line

    code = main(["export", str(episodes["imu"]), str(refused), "--format", "lerobot", "--out",
                 str(tmp_path / "strict"), "--strict"])
    err = capsys.readouterr().err
    (line,) = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == 1 and line.startswith(f"error: {refused}: head_rgb:"), err
    assert not (tmp_path / "strict").exists()


# ----------------------------------------------------------------------------- LeRobot's own loader


@pytest.mark.slow
@pytest.mark.skipif(not ORACLE_PYTHON.exists(), reason="LeRobot oracle venv .venv-lerobot is missing")
def test_lerobot_loads_datasets_with_absent_optional_streams(mixed, optional_camera):
    items = load_with_lerobot(mixed["lerobot"])["items"]
    first, last = items["0"], items[max(items, key=int)]  # episode 0 has no IMU, episode 1 has it
    assert first["time.imu.valid"] == {"shape": [], "dtype": "bool", "value": False}
    assert first["observation.imu.orientation"]["value"] == [0.0, 0.0, 0.0, 0.0]
    assert last["time.imu.valid"]["value"] is True and last["observation.imu.orientation"]["value"][3] > 0.9
    items = load_with_lerobot(optional_camera[0])["items"]
    assert items["0"]["time.left_wrist_rgb.valid"]["value"] is False
    assert max(items["0"]["observation.images.left_wrist_rgb"]["channel_mean"]) < 0.01  # black
