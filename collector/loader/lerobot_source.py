"""A LeRobot v3.0 dataset folder (ours or anyone's) as a :class:`~collector.loader.source.Source`.

Numbers from every ``data/*/*.parquet`` are read once into numpy arrays; image features
stored in the parquet (depth PNGs, PNG/JPEG cameras) stay as their encoded bytes and
are decoded per item; video features are decoded per item from
``videos/<key>/chunk-*/file-*.mp4`` at ``from_timestamp + timestamp`` of the episode,
exactly the times LeRobot's loader asks for.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from collector.errors import CollectorError
from collector.loader.errors import LoaderError
from collector.loader.normalize import stats_from_json
from collector.loader.select import Episode
from collector.loader.source import Source
from collector.loader.video import VideoFrames

INFO = "meta/info.json"
STATS = "meta/stats.json"
TASKS = "meta/tasks.parquet"
SKIP_DTYPES = ("string",)


def _parquet_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*/*.parquet")) if folder.is_dir() else []


def _read(path: Path, columns=None):
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path, columns=columns)
    except Exception as err:  # noqa: BLE001 - pyarrow raises several types for bad files
        raise LoaderError(f"{path}: not readable parquet ({err})") from err


def _numbers(column, shape: list[int], dtype: str) -> np.ndarray:
    """A parquet column of scalars or (fixed size) lists as a ``(rows, *shape)`` array."""
    import pyarrow as pa

    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_list(column.type) or pa.types.is_fixed_size_list(column.type) \
            or pa.types.is_large_list(column.type):
        values = column.flatten()
        while pa.types.is_list(values.type) or pa.types.is_fixed_size_list(values.type):
            values = values.flatten()
        array = values.to_numpy(zero_copy_only=False).reshape(len(column), *shape)
    else:
        array = column.to_numpy(zero_copy_only=False)
        if list(shape) not in ([1], []):
            array = array.reshape(len(column), *shape)
    return array.astype(dtype, copy=False) if dtype not in ("image", "video") else array


def _episodes(root: Path, tasks: list[str]) -> tuple[list[Episode], list[dict]]:
    import pyarrow as pa

    files = _parquet_files(root / "meta" / "episodes")
    if not files:
        raise LoaderError(f"{root}: no meta/episodes/*/*.parquet, not a LeRobot v3.0 dataset")
    table = pa.concat_tables([_read(p) for p in files], promote_options="permissive")
    names = set(table.column_names)
    rows = table.drop_columns([c for c in table.column_names if c.startswith("stats/")]).to_pylist()
    out = []
    for row in rows:
        task_list = row.get("tasks") or []
        out.append(Episode(index=int(row["episode_index"]), start=int(row["dataset_from_index"]),
                           length=int(row["dataset_to_index"]) - int(row["dataset_from_index"]),
                           task=str(task_list[0]) if task_list else "",
                           success=row.get("success") if "success" in names else None,
                           site=(row.get("site") or None) if "site" in names else None,
                           rig=(row.get("rig") or None) if "rig" in names else None,
                           where=f"episode {row['episode_index']}"))
    return sorted(out, key=lambda e: e.index), rows


def _tasks(root: Path) -> list[str]:
    from collector.export.lerobot.layout import read_tasks

    try:
        return read_tasks(root / TASKS)
    except CollectorError as err:
        raise LoaderError(str(err)) from err


class LeRobotSource(Source):
    """Open the LeRobot v3.0 dataset in ``root``.

    Raises:
        LoaderError: no or unreadable meta/info.json, another codebase version,
            unreadable parquet files, or data rows that disagree with the episodes table.
    """

    def __init__(self, root: Path, *, max_open_files: int = 16, decoder_threads: int = 1):
        root = Path(root)
        info_path = root / INFO
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise LoaderError(f"{info_path}: missing, {root} is not a LeRobot dataset") from None
        except (OSError, ValueError) as err:
            raise LoaderError(f"{info_path}: unreadable ({err})") from err
        version = info.get("codebase_version")
        if version != "v3.0":
            raise LoaderError(f"{info_path}: codebase_version {version!r}, only v3.0 datasets are supported")
        features = info.get("features") or {}
        tasks = _tasks(root)
        episodes, self._episode_rows = _episodes(root, tasks)
        cameras = [k for k, v in features.items() if v.get("dtype") == "video"]
        images = [k for k, v in features.items() if v.get("dtype") == "image"]
        numeric = [k for k, v in features.items() if v.get("dtype") not in ("video", "image", *SKIP_DTYPES)]
        import pyarrow as pa

        data_files = _parquet_files(root / "data")
        if not data_files:
            raise LoaderError(f"{root}: no data/*/*.parquet")
        tables = [_read(p, columns=[c for c in numeric + images if c in _schema_names(p)]) for p in data_files]
        table = pa.concat_tables(tables, promote_options="permissive")
        arrays = {}
        for key in numeric:
            if key in table.column_names:
                arrays[key] = _numbers(table[key], features[key]["shape"], features[key]["dtype"])
        if "index" not in arrays:
            raise LoaderError(f"{root}: data files have no 'index' column")
        order = np.argsort(arrays["index"], kind="stable")
        if not np.array_equal(arrays["index"][order], np.arange(len(order))):
            raise LoaderError(f"{root}: data rows' index is not 0..{len(order) - 1}")
        if not np.array_equal(order, np.arange(len(order))):
            arrays = {k: v[order] for k, v in arrays.items()}
            table = table.take(pa.array(order))
        self._image_bytes = {}
        for key in images:
            if key in table.column_names:
                column = table[key].combine_chunks()
                self._image_bytes[key] = column.field("bytes") if pa.types.is_struct(column.type) else column
        rgb = [k for k in images if features[k].get("shape", [0, 0, 0])[-1] == 3
               and not (features[k].get("info") or {}).get("image.is_depth_map")]
        stats_path = root / STATS
        stats = None
        if stats_path.exists():
            try:
                stats = stats_from_json(json.loads(stats_path.read_text(encoding="utf-8")))
            except (OSError, ValueError) as err:
                raise LoaderError(f"{stats_path}: unreadable ({err})") from err
        super().__init__(where=str(root), fps=float(info["fps"]), episodes=episodes, arrays=arrays,
                         cameras=cameras + rgb, depths=[k for k in images if k not in rgb], tasks=tasks,
                         stats=stats, stats_path=str(stats_path), features=features)
        self.root = root
        self._video_keys = set(cameras)
        self._video_path = info.get("video_path")
        self._by_index = {int(r["episode_index"]): r for r in self._episode_rows}
        self._videos = VideoFrames(max_open=max_open_files, threads=decoder_threads)

    def video_file(self, key: str, episode: Episode) -> tuple[Path, float]:
        """The mp4 holding ``key`` of ``episode`` and the episode's start in it (s)."""
        row = self._by_index[episode.index]
        try:
            path = self._video_path.format(video_key=key, chunk_index=int(row[f"videos/{key}/chunk_index"]),
                                           file_index=int(row[f"videos/{key}/file_index"]))
            return self.root / path, float(row[f"videos/{key}/from_timestamp"])
        except (KeyError, TypeError, AttributeError) as err:
            raise LoaderError(f"{self.root}: episode {episode.index} has no video location for {key!r} "
                              f"({err})") from err

    def images(self, key: str, rows: np.ndarray, episode: Episode, *, tolerance_s: float) -> list[np.ndarray]:
        if key in self._video_keys:
            path, start = self.video_file(key, episode)
            times = [start + float(t) for t in self.arrays["timestamp"][rows]]
            return self._videos.frames(path, times, tolerance_s=tolerance_s,
                                       what=f"{key}, episode {episode.index}")
        from PIL import Image

        out = []
        for row in rows:
            data = self._image_bytes[key][int(row)].as_py()
            if data is None:
                raise LoaderError(f"{self.root}: {key} of row {int(row)} (episode {episode.index}) has no image")
            try:
                out.append(np.asarray(Image.open(io.BytesIO(data))))
            except Exception as err:  # noqa: BLE001 - PIL raises several types for bad images
                raise LoaderError(f"{self.root}: {key} of row {int(row)} (episode {episode.index}) is not a "
                                  f"readable image ({err})") from err
        return out

    def close(self) -> None:
        self._videos.close()


def _schema_names(path: Path) -> set[str]:
    import pyarrow.parquet as pq

    try:
        return set(pq.read_schema(path).names)
    except Exception as err:  # noqa: BLE001
        raise LoaderError(f"{path}: not readable parquet ({err})") from err
