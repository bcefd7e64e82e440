"""Checks of a LeRobot v3.0 dataset folder (layout: :mod:`collector.export.lerobot.layout`,
``bench/lerobot_format_notes.md``).

* structure: ``meta/info.json`` parses, ``codebase_version`` v3.0, the required keys and
  the five default features; ``meta/tasks.parquet`` (strings in the pandas index,
  ``task_index`` 0..n-1, ``total_tasks``); the episodes table ``meta/episodes/*/*.parquet``;
  the data ``data/*/*.parquet``; every video file an episode points at exists.
* counts: ``total_episodes`` = episodes-table rows = distinct ``episode_index`` in the
  data; ``total_frames`` = data rows; each episode's ``length`` = its rows;
  ``dataset_from_index``/``dataset_to_index`` contiguous and equal to its rows' ``index``;
  ``index`` = 0..N-1 in file order; data columns = the non-video features, exactly;
  ``task_index`` names a task.
* timestamps: per episode ``frame_index`` = 0..length-1 and
  ``|timestamp - frame_index / fps| < 1e-4 s`` (LeRobot's tolerance).
* videos: :mod:`collector.export.lerobot.validate_videos`;
* stats: :mod:`collector.export.lerobot.validate_stats` (``meta/stats.json`` against the data,
  an optional stream's features over the rows its validity column marks);
* NaN/inf and honest time: :mod:`collector.export.validate_time`, with the rig of each
  episode (episodes-table ``rig``, else info.json ``collector.rig``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from collector.export.errors import ExportError
from collector.export.lerobot import layout
from collector.export.lerobot.validate_stats import IMAGE_DTYPES, check_stats, check_validity
from collector.export.lerobot.validate_videos import TIME_TOLERANCE_S, check_videos
from collector.export.validate import Problem
from collector.export.validate_time import check_nan, check_time_limits, time_rules

REQUIRED_INFO = ("codebase_version", "robot_type", "total_episodes", "total_frames", "total_tasks", "chunks_size",
                 "fps", "splits", "data_path", "video_path", "features")
EPISODE_COLUMNS = ("episode_index", "length", "dataset_from_index", "dataset_to_index", "data/chunk_index",
                   "data/file_index")
VIDEO_COLUMNS = ("chunk_index", "file_index", "from_timestamp")
INDEX_COLUMNS = ("frame_index", "episode_index", "index", "task_index")


def detect(path: Path) -> bool:
    """A LeRobot folder has ``meta/info.json``."""
    return (Path(path) / layout.INFO_PATH).is_file()


def check(root: Path) -> tuple[list[Problem], dict]:
    """Every problem of the dataset in ``root`` (module doc) and a summary of counts."""
    dataset = _Dataset(Path(root))
    dataset.run()
    return dataset.problems, dataset.summary


def _values(column, shape: list[int]) -> np.ndarray:
    """An arrow column as float64, ``(N,)`` for one-element features, else ``(N, *shape)``."""
    import pyarrow as pa

    column = column.combine_chunks()
    rows = len(column)
    if pa.types.is_list(column.type) or pa.types.is_fixed_size_list(column.type) \
            or pa.types.is_large_list(column.type):
        column = column.flatten()
    values = column.to_numpy(zero_copy_only=False).astype(np.float64)
    return values.reshape(rows) if list(shape) == [1] else values.reshape(rows, *shape)


class _Dataset:
    def __init__(self, root: Path):
        self.root = root
        self.problems: list[Problem] = []
        self.info: dict = {}
        self.features: dict[str, dict] = {}
        self.tasks: list[str] | None = None
        self.episodes: list[dict] = []  # episodes-table rows (+ "_file"), in file order
        self.columns: dict[str, np.ndarray] = {}  # numeric data columns over all data files
        self.data_files: list[str] = []
        self.row_file = np.zeros(0, dtype=np.int64)  # per data row: index into data_files
        self.summary: dict = {}

    def problem(self, where: str, message: str) -> None:
        self.problems.append(Problem(where, message))

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def run(self) -> None:
        if not self._info():
            return
        self._tasks()
        self._episodes()
        self._data()
        self.summary = {"episodes": len(self.episodes), "frames": len(self.row_file),
                        "tasks": len(self.tasks or []), "fps": self.fps, "features": len(self.features),
                        "data_files": len(self.data_files), "video_files": 0}
        if not self.data_files:
            return
        self._counts()
        self._timestamps()
        self._values()
        self._videos()
        self._stats()

    # -- structure ---------------------------------------------------------------------

    def _info(self) -> bool:
        where = layout.INFO_PATH
        try:
            info = json.loads((self.root / where).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            self.problem(where, f"does not parse ({err})")
            return False
        if not isinstance(info, dict):
            self.problem(where, f"is a JSON {type(info).__name__}, not an object")
            return False
        self.info = info
        # our writer computes the dataset's quantiles exactly; LeRobot's averages the episodes'
        self.exact_quantiles = isinstance(info.get("collector"), dict)
        if info.get("codebase_version") != layout.CODEBASE_VERSION:
            self.problem(where, f"codebase_version is {info.get('codebase_version')!r}, expected "
                                f"{layout.CODEBASE_VERSION!r}")
        missing = [key for key in REQUIRED_INFO if key not in info]
        if missing:
            self.problem(where, f"missing keys: {', '.join(missing)}")
        fps, features = info.get("fps"), info.get("features")
        if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not fps > 0:
            self.problem(where, f"fps is {fps!r}, not a positive number")
            return False
        if not isinstance(features, dict) or not isinstance(info.get("data_path"), str):
            self.problem(where, "features (an object) and data_path (a string) are needed to go on")
            return False
        self.fps = float(fps)
        for key, feature in features.items():
            if not isinstance(feature, dict) or "dtype" not in feature or not isinstance(feature.get("shape"), list):
                self.problem(where, f"feature {key!r} has no dtype and shape list: {feature!r}")
            else:
                self.features[key] = feature
        absent = [key for key in layout.DEFAULT_FEATURES if key not in features]
        if absent:
            self.problem(where, f"default features missing: {', '.join(absent)}")
        if self.video_keys and not isinstance(info.get("video_path"), str):
            self.problem(where, f"video_path is {info.get('video_path')!r} but there are video features "
                                f"({', '.join(self.video_keys)})")
        return True

    @property
    def video_keys(self) -> list[str]:
        return [key for key, feature in self.features.items() if feature["dtype"] == "video"]

    def _tasks(self) -> None:
        where, path = layout.TASKS_PATH, self.root / layout.TASKS_PATH
        if not path.is_file():
            self.problem(where, "missing (the task strings)")
            return
        try:
            self.tasks = layout.read_tasks(path)
        except ExportError as err:
            self.problem(where, str(err).removeprefix(f"{path}: "))
            return
        if self.info.get("total_tasks") != len(self.tasks):
            self.problem(layout.INFO_PATH, f"total_tasks is {self.info.get('total_tasks')!r}, {where} holds "
                                           f"{len(self.tasks)} task(s)")

    def _episodes(self) -> None:
        import pyarrow.parquet as pq

        files = sorted((self.root / "meta" / "episodes").glob("*/*.parquet"))
        if not files:
            self.problem("meta/episodes", "no episodes table (meta/episodes/*/*.parquet)")
            return
        needed = list(EPISODE_COLUMNS) + [f"videos/{k}/{c}" for k in self.video_keys for c in VIDEO_COLUMNS]
        for path in files:
            where = self.rel(path)
            try:
                names = pq.read_schema(path).names
                missing = [c for c in needed if c not in names]
                if missing:
                    self.problem(where, f"missing columns: {', '.join(missing)}")
                    continue
                table = pq.read_table(path, columns=needed + [c for c in ("rig",) if c in names])
            except Exception as err:  # noqa: BLE001 - pyarrow raises several types for bad files
                self.problem(where, f"not readable parquet ({err})")
                continue
            for number, row in enumerate(table.to_pylist()):
                empty = [c for c in needed if row[c] is None]
                if empty:
                    self.problem(where, f"row {number}: no value in {', '.join(empty)}")
                    continue
                self.episodes.append({**row, "_file": where})
        indices = [row["episode_index"] for row in self.episodes]
        if indices != list(range(len(indices))):
            wrong = next(i for i, value in enumerate(indices) if value != i)
            self.problem(self.episodes[wrong]["_file"], f"episode_index is not 0..{len(indices) - 1} in order "
                                                        f"(row {wrong} is episode {indices[wrong]})")

    def _data(self) -> None:
        import pyarrow.parquet as pq

        files = sorted((self.root / "data").glob("*/*.parquet"))
        if not files:
            self.problem("data", "no data files (data/*/*.parquet)")
            return
        expected = [key for key, feature in self.features.items() if feature["dtype"] != "video"]
        numeric = [key for key in expected if self.features[key]["dtype"] not in IMAGE_DTYPES]
        parts: dict[str, list[np.ndarray]] = {key: [] for key in numeric}
        sizes = []
        for path in files:
            where = self.rel(path)
            try:
                names = pq.read_schema(path).names
                table = pq.read_table(path, columns=[key for key in numeric if key in names])
            except Exception as err:  # noqa: BLE001
                self.problem(where, f"not readable parquet ({err})")
                continue
            extra = [name for name in names if name not in expected]
            missing = [key for key in expected if key not in names]
            if extra:
                self.problem(where, f"columns not in info.json features: {', '.join(extra)}")
            if missing:
                self.problem(where, f"feature columns missing: {', '.join(missing)}")
            for key in numeric:
                if key not in names:
                    parts.pop(key, None)  # not in every file: no column to check
                elif key in parts:
                    try:
                        parts[key].append(_values(table[key], self.features[key]["shape"]))
                    except ValueError:
                        self.problem(where, f"{key}: rows are not of shape {self.features[key]['shape']}")
                        parts.pop(key)
            self.data_files.append(where)
            sizes.append(table.num_rows)
        self.columns = {key: np.concatenate(values) for key, values in parts.items()}
        self.row_file = np.repeat(np.arange(len(sizes)), sizes)
        for key in INDEX_COLUMNS:
            empty = np.flatnonzero(np.isnan(self.columns.get(key, np.zeros(0))))
            if len(empty):  # nulls: the counts cannot use this column
                self.problem(self.data_files[self.row_file[empty[0]]], f"{key}: no value in {len(empty)} row(s) "
                                                                       f"(first at row {int(empty[0])})")
                del self.columns[key]

    # -- counts and time grid ------------------------------------------------------------

    def locate(self, row: int) -> tuple[str, str]:
        """The data file of ``row`` and ``episode e frame f``."""
        label = f"row {row}"
        if "episode_index" in self.columns and "frame_index" in self.columns:
            label = f"episode {int(self.columns['episode_index'][row])} frame {int(self.columns['frame_index'][row])}"
        return self.data_files[self.row_file[row]], label

    def _counts(self) -> None:
        info, rows = self.info, len(self.row_file)
        if info.get("total_frames") != rows:
            self.problem(layout.INFO_PATH, f"total_frames is {info.get('total_frames')!r}, the data files hold "
                                           f"{rows} rows")
        if info.get("total_episodes") != len(self.episodes):
            self.problem(layout.INFO_PATH, f"total_episodes is {info.get('total_episodes')!r}, the episodes table "
                                           f"holds {len(self.episodes)} rows")
        index, episode = self.columns.get("index"), self.columns.get("episode_index")
        if index is not None and not np.array_equal(index, np.arange(rows)):
            wrong = int(np.flatnonzero(index != np.arange(rows))[0])
            self.problem(self.locate(wrong)[0], f"index is not 0..{rows - 1} in file order: row {wrong} has index "
                                                f"{int(index[wrong])}")
        task = self.columns.get("task_index")
        if task is not None and self.tasks is not None:
            bad = np.flatnonzero((task < 0) | (task >= len(self.tasks)))
            if len(bad):
                where, label = self.locate(int(bad[0]))
                self.problem(where, f"task_index {int(task[bad[0]])} at {label} is not a task "
                                    f"(0..{len(self.tasks) - 1}); {len(bad)} row(s)")
        if episode is None:
            return
        distinct = len(np.unique(episode))
        if info.get("total_episodes") != distinct:
            self.problem(layout.INFO_PATH, f"total_episodes is {info.get('total_episodes')!r}, the data holds "
                                           f"{distinct} distinct episode_index values")
        start = 0
        for row in self.episodes:
            self._episode_rows(row, episode, index, start)
            start += int(row["length"])

    def _episode_rows(self, row: dict, episode: np.ndarray, index: np.ndarray | None, start: int) -> None:
        number, length, where = row["episode_index"], int(row["length"]), row["_file"]
        positions = np.flatnonzero(episode == number)
        if len(positions) != length:
            self.problem(where, f"episode {number}: length {length}, the data holds {len(positions)} rows")
        first, last = row["dataset_from_index"], row["dataset_to_index"]
        if (first, last) != (start, start + length):
            self.problem(where, f"episode {number}: dataset_from_index..to_index is {first}..{last}, expected "
                                f"{start}..{start + length} (contiguous after the episodes before it)")
        elif index is not None and len(positions) == length and \
                not np.array_equal(index[positions], np.arange(first, last)):
            self.problem(where, f"episode {number}: its rows' index is not {first}..{last - 1}")
        data = self.info["data_path"].format(chunk_index=row["data/chunk_index"], file_index=row["data/file_index"])
        if data not in self.data_files:
            self.problem(where, f"episode {number}: data file {data} does not exist")
        elif len(positions) and any(self.data_files[i] != data for i in self.row_file[positions]):
            self.problem(where, f"episode {number}: not all of its rows are in {data}")

    def _timestamps(self) -> None:
        episode, frame, stamp = (self.columns.get(k) for k in ("episode_index", "frame_index", "timestamp"))
        if episode is None or frame is None or stamp is None:
            return
        for number in np.unique(episode):
            positions = np.flatnonzero(episode == number)
            where, grid = self.locate(int(positions[0]))[0], np.arange(len(positions))
            if not np.array_equal(frame[positions], grid):
                wrong = int(np.flatnonzero(frame[positions] != grid)[0])
                self.problem(where, f"episode {int(number)}: frame_index is not 0..{len(grid) - 1} (row {wrong} "
                                    f"of the episode has {int(frame[positions][wrong])})")
            off = np.abs(stamp[positions] - grid / self.fps)
            bad = np.flatnonzero(~(off < TIME_TOLERANCE_S))
            if len(bad):
                k = int(bad[0])
                self.problem(where, f"episode {int(number)}: timestamp {stamp[positions][k]:.6f} s at frame {k} is "
                                    f"{off[k] * 1e3:.3f} ms off frame_index / fps (limit 0.1 ms); {len(bad)} frame(s)")

    # -- videos --------------------------------------------------------------------------

    def _videos(self) -> None:
        pattern = self.info.get("video_path")
        if self.video_keys and isinstance(pattern, str):
            found, self.summary["video_files"] = check_videos(self.root, pattern, self.video_keys, self.episodes,
                                                              self.fps)
            for where, message in found:
                self.problem(where, message)

    # -- stats, NaN, time ----------------------------------------------------------------

    def _stats(self) -> None:
        collector = self.info.get("collector") if isinstance(self.info.get("collector"), dict) else {}
        validity, found = check_validity(self.features, collector.get("validity", {}))
        for message in found:
            self.problem(layout.INFO_PATH, message)
        for where, message in check_stats(self.root, self.features, self.columns,
                                          exact_quantiles=self.exact_quantiles, validity=validity):
            self.problem(where, message)

    def _values(self) -> None:
        rows = len(self.row_file)
        valid = self.columns.get(layout.VALID_KEY)
        valid = np.ones(rows, dtype=bool) if valid is None else valid == 1
        collector = self.info.get("collector") if isinstance(self.info.get("collector"), dict) else {}
        rig_of = {row["episode_index"]: row.get("rig") or collector.get("rig") for row in self.episodes}
        episode = self.columns.get("episode_index", np.full(rows, -1.0))
        names = np.array([rig_of.get(int(e), collector.get("rig")) or "" for e in episode], dtype=object)
        sources = []
        for rig in sorted(set(names)):
            rules = time_rules(self.features, self.fps, rig or None)
            sources.append(rules.source)
            selected = np.flatnonzero(names == rig)
            for check_rows in (check_nan, check_time_limits):
                for where, message in check_rows(rules, self.columns, valid, selected, self.locate):
                    self.problem(where, message)
        self.summary["time_rules"] = sources
