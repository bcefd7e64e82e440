"""What the exported datasets finally hold, against the truth of episodes rosbags wrote.

Two episodes of the mixed scenario (:func:`tests.sync.truth.mixed`: a camera on the
host's clock with latency bursts, a camera 3.2 s behind on its own clock, a controller
40 ms ahead drifting 30 ppm, 1% of the frames and joint messages lost) are exported
to LeRobot and HDF5, read back with pyarrow, PyAV and h5py, and every row is judged:
the camera frame (its capture number decoded from the pixels) is the capture truly
nearest the row's time, the state is the true trajectory at that time, and the
``time.<stream>.*`` columns are the true source times and alignment errors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest

from collector.export.run import export_episodes
from tests.sync import truth
from tests.sync.truth import NS_PER_MS, NS_PER_S

CAMERAS = ("head_rgb", "wrist_rgb")
STREAMS = (*CAMERAS, "joint_states", "action")
TIME_TOLERANCE_NS = 1 * NS_PER_MS
POSITION_TOLERANCE = 1e-3  # rad, at 1.6 rad/s peak joint speed
NEAREST_SHARE = 0.99
FPS = 30


@dataclass
class Rows:
    """One exported episode, as read back from the files."""

    episode_id: str
    frame_index: np.ndarray  # (n,) int
    timestamp: np.ndarray  # (n,) s
    valid: np.ndarray  # (n,) bool
    state: np.ndarray  # (n, 3) j1..j3
    action: np.ndarray  # (n, 3)
    source_s: dict[str, np.ndarray]
    error_ms: dict[str, np.ndarray]
    seq: dict[str, np.ndarray]  # camera -> decoded capture number per row (-1: unreadable)


@pytest.fixture(scope="module")
def episodes(tmp_path_factory):
    out = tmp_path_factory.mktemp("truth_episodes")
    written = [truth.write_episode(out, truth.mixed()), truth.write_episode(out, truth.mixed(seconds=7.0, seed=9))]
    return {episode.path.name: episode for episode in written}


def _decode_seqs(images) -> np.ndarray:
    return np.array([-1 if (seq := truth.read_seq(image)) is None else seq for image in images], dtype=np.int64)


def _column(table, key: str) -> np.ndarray:
    """A parquet column as numpy; fixed-size lists (vectors) as (rows, size)."""
    import pyarrow as pa

    column = table.column(key).combine_chunks()
    if pa.types.is_fixed_size_list(column.type):
        return np.asarray(column.flatten()).reshape(len(column), column.type.list_size)
    return np.asarray(column)


def read_lerobot(root) -> list[Rows]:
    import av
    import pyarrow.parquet as pq

    info = json.loads((root / "meta/info.json").read_text())
    assert info["fps"] == FPS
    names = info["features"]["observation.state"]["names"]
    order = [names.index(j) for j in truth.JOINTS]
    data = pq.read_table(root / "data/chunk-000/file-000.parquet")
    meta = pq.read_table(root / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    videos = {}
    for camera in CAMERAS:
        with av.open(str(root / f"videos/observation.images.{camera}/chunk-000/file-000.mp4")) as container:
            videos[camera] = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
        assert len(videos[camera]) == data.num_rows, camera
    out = []
    for episode in meta:
        rows = slice(episode["dataset_from_index"], episode["dataset_to_index"])
        part = data.slice(rows.start, rows.stop - rows.start)
        assert set(_column(part, "episode_index")) == {episode["episode_index"]}
        seqs = {}
        for camera in CAMERAS:
            first = round(episode[f"videos/observation.images.{camera}/from_timestamp"] * FPS)
            seqs[camera] = _decode_seqs(videos[camera][first:first + part.num_rows])
        out.append(Rows(
            episode_id=episode["episode_id"], frame_index=_column(part, "frame_index"),
            timestamp=_column(part, "timestamp").astype(np.float64), valid=_column(part, "time.valid"),
            state=_column(part, "observation.state")[:, order], action=_column(part, "action")[:, order],
            source_s={s: _column(part, f"time.{s}.source_s") for s in STREAMS},
            error_ms={s: _column(part, f"time.{s}.error_ms").astype(np.float64) for s in STREAMS}, seq=seqs))
    return out


def read_hdf5(root) -> list[Rows]:
    import h5py

    out = []
    for path in sorted(root.glob("episode_*.hdf5")):
        with h5py.File(path, "r") as f:
            names = [n.decode() if isinstance(n, bytes) else n for n in f["observations/qpos"].attrs["names"]]
            order = [names.index(j) for j in truth.JOINTS]
            out.append(Rows(
                episode_id=f.attrs["episode_id"], frame_index=f["frame_index"][()], timestamp=f["timestamp"][()],
                valid=f["valid"][()], state=f["observations/qpos"][()][:, order], action=f["action"][()][:, order],
                source_s={s: f[f"time/{s}/source_s"][()] for s in STREAMS},
                error_ms={s: f[f"time/{s}/error_ms"][()].astype(np.float64) for s in STREAMS},
                seq={c: _decode_seqs(f[f"observations/images/{c}"][()]) for c in CAMERAS}))
    return out


READERS = {"lerobot": read_lerobot, "hdf5": read_hdf5}


@pytest.fixture(scope="module", params=list(READERS))
def exported(request, episodes, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"truth_{request.param}") / "dataset"
    result = export_episodes([e.path for e in episodes.values()], fmt=request.param, out=out, strict=True)
    assert len(result.exported) == len(episodes)
    return [(episodes[rows.episode_id], rows) for rows in READERS[request.param](out)]


def _grid_ns(episode, rows: Rows) -> np.ndarray:
    """Each row's time on the host clock: the joints are interpolated, so their source time is the frame time."""
    return episode.origin_ns + np.rint(rows.source_s["joint_states"] * NS_PER_S).astype(np.int64)


def test_every_episode_is_there_with_its_frames(episodes, exported):
    assert sorted(e.path.name for e, _ in exported) == sorted(episodes)
    for episode, rows in exported:
        assert len(rows.frame_index) >= 0.95 * episode.scenario.seconds * FPS, episode.path.name
        assert np.all(np.diff(rows.frame_index) > 0)
        np.testing.assert_allclose(rows.timestamp, rows.frame_index / FPS, atol=1e-5)


def test_rows_lie_on_one_regular_grid_on_the_host_clock(exported):
    for episode, rows in exported:
        grid = _grid_ns(episode, rows)
        phase = grid - np.rint(rows.frame_index * (NS_PER_S / FPS)).astype(np.int64)
        assert np.ptp(phase) <= TIME_TOLERANCE_NS, np.ptp(phase) / NS_PER_MS
        assert np.abs(rows.error_ms["joint_states"]).max() <= 1.0


def test_images_decode_to_published_captures(exported):
    for episode, rows in exported:
        for camera in CAMERAS:
            seq = rows.seq[camera]
            assert (seq >= 0).all(), (camera, int((seq < 0).sum()))
            assert np.isin(seq, episode.streams[camera].seq).all(), camera


def test_camera_frame_is_the_truly_nearest_capture(exported):
    limit_ns = 0.5 * NS_PER_S / FPS  # the default tolerance: half a period of the 30 Hz cameras
    for episode, rows in exported:
        grid = _grid_ns(episode, rows)
        for camera in CAMERAS:
            stream = episode.streams[camera]
            valid = rows.valid & (rows.seq[camera] >= 0)
            chosen = np.searchsorted(stream.seq, rows.seq[camera][valid])
            nearest, clear = truth.nearest_captures(stream.true_ns, grid[valid], limit_ns=limit_ns)
            share = (chosen == nearest)[clear].mean()
            assert clear.sum() >= 0.5 * len(grid), (camera, int(clear.sum()))
            assert share >= NEAREST_SHARE, (episode.path.name, camera, f"{share:.4f} of {int(clear.sum())}")
            distance = np.abs(stream.true_ns[chosen] - grid[valid])
            assert distance.max() <= limit_ns + TIME_TOLERANCE_NS, (camera, distance.max() / NS_PER_MS)


def test_camera_source_times_and_errors_are_the_truth(exported):
    """``source_s`` is the true capture time of the frame in the row, from the episode origin
    (the earliest capture), ``error_ms`` its true distance from the row's time: in every
    row, also those kept with a frame beyond tolerance (``time.valid`` false)."""
    for episode, rows in exported:
        grid = _grid_ns(episode, rows)
        for camera in CAMERAS:
            stream = episode.streams[camera]
            shown = rows.seq[camera] >= 0
            true = stream.true_ns[np.searchsorted(stream.seq, rows.seq[camera][shown])]
            source = rows.source_s[camera][shown] * NS_PER_S
            source_error = np.abs(source - (true - episode.origin_ns))
            assert source_error.max() <= TIME_TOLERANCE_NS, (camera, source_error.max() / NS_PER_MS)
            error = np.abs(rows.error_ms[camera][shown] * NS_PER_MS - (true - grid[shown]))
            assert error.max() <= TIME_TOLERANCE_NS, (camera, error.max() / NS_PER_MS)


def test_state_is_the_true_trajectory_at_the_row_time(exported):
    for episode, rows in exported:
        expected = episode.trajectory.position(_grid_ns(episode, rows))
        error = np.abs(rows.state - expected)
        assert error.max() <= POSITION_TOLERANCE, error.max(axis=0)


def test_action_is_the_last_command_truly_captured(exported):
    for episode, rows in exported:
        grid = _grid_ns(episode, rows)
        stream = episode.streams["action"]
        source = episode.origin_ns + rows.source_s["action"] * NS_PER_S
        held = np.clip(np.searchsorted(stream.true_ns, source - TIME_TOLERANCE_NS), 0, len(stream.true_ns) - 1)
        true = stream.true_ns[held]
        assert np.abs(source - true).max() <= TIME_TOLERANCE_NS
        assert np.abs(rows.error_ms["action"] * NS_PER_MS - (true - grid)).max() <= TIME_TOLERANCE_NS
        assert np.abs(rows.action - episode.trajectory.command(true)).max() <= 1e-6
        last, clear = truth.last_capture_at_or_before(stream.true_ns, grid)
        assert (held == last)[clear].mean() >= NEAREST_SHARE


def test_the_datasets_say_which_clock_the_times_are_on(episodes, tmp_path):
    """HDF5 attrs carry the reference clock and, per stream, the clock used; the LeRobot card explains it."""
    import h5py

    first = next(iter(episodes.values()))
    hdf5 = tmp_path / "hdf5"
    export_episodes([first.path], fmt="hdf5", out=hdf5, strict=True)
    with h5py.File(hdf5 / "episode_0.hdf5", "r") as f:
        assert f.attrs["reference_clock"] == "recording host (receive time)"
        clocks = json.loads(f.attrs["clocks"])
    assert {name: c["clock"] for name, c in clocks.items()} == {
        "head_rgb": "header", "wrist_rgb": "device", "joint_states": "device", "action": "device"}
    assert clocks["head_rgb"]["latency"]["measured"] is True and clocks["head_rgb"]["offset_ms"] == 0
    assert abs(clocks["wrist_rgb"]["offset_ms"] + 3200) < 1 and abs(clocks["joint_states"]["drift_ppm"] - 30) < 5
    lerobot = tmp_path / "lerobot"
    export_episodes([first.path], fmt="lerobot", out=lerobot, strict=True)
    card = (lerobot / "README.md").read_text(encoding="utf-8")
    assert "Reference clock: the recording host's clock" in card and "`clock: header`" in card
