"""The LeRobot v3.0 folder: paths, the features of info.json, and what a dataset holds now.

::

    meta/info.json                                 format, counts, fps, paths, features
    meta/stats.json                                normalisation stats per feature
    meta/tasks.parquet                             task strings (pandas index) -> task_index
    meta/episodes/chunk-000/file-000.parquet       one row per episode
    data/chunk-000/file-000.parquet                frames, one row group per episode
    videos/<key>/chunk-000/file-000.mp4            one camera, episodes one after another

``bench/lerobot_format_notes.md`` records how LeRobot's own writer lays this out and
what its loader checks.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from collector.export.errors import ExportError
from collector.export.features import FeaturePlan

CODEBASE_VERSION = "v3.0"
CHUNKS_SIZE = 1000
DATA_FILES_SIZE_MB = 100
VIDEO_FILES_SIZE_MB = 200
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
EPISODES_PATH = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
TASKS_PATH = "meta/tasks.parquet"
VALID_KEY = "time.valid"  # our extra feature: every required, state and action stream valid

DEFAULT_FEATURES = {
    "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    "frame_index": {"dtype": "int64", "shape": [1], "names": None},
    "episode_index": {"dtype": "int64", "shape": [1], "names": None},
    "index": {"dtype": "int64", "shape": [1], "names": None},
    "task_index": {"dtype": "int64", "shape": [1], "names": None},
}
IMAGE_NAMES = ["height", "width", "channels"]
_FILE_RE = re.compile(r"chunk-(\d+)/file-(\d+)\.(parquet|mp4)$")


def next_file(chunk_index: int, file_index: int) -> tuple[int, int]:
    """The file after ``(chunk, file)``: files wrap into the next chunk after CHUNKS_SIZE."""
    file_index += 1
    if file_index >= CHUNKS_SIZE:
        return chunk_index + 1, 0
    return chunk_index, file_index


def first_free_file(folder: Path) -> tuple[int, int]:
    """The ``(chunk, file)`` after the highest ``chunk-*/file-*`` under ``folder`` ((0, 0) if none)."""
    highest = None
    if folder.is_dir():
        for path in folder.glob("chunk-*/file-*"):
            match = _FILE_RE.search(path.as_posix())
            if match:
                pair = (int(match.group(1)), int(match.group(2)))
                highest = pair if highest is None or pair > highest else highest
    return (0, 0) if highest is None else next_file(*highest)


def lerobot_features(plan: FeaturePlan, *, fps: float, codec: str) -> dict[str, dict]:
    """info.json ``features``: the plan's features as LeRobot declares them, our
    ``time.valid``, then the five default columns (LeRobot's order).

    Cameras are ``video`` (H, W, 3); depth is ``image`` (H, W, 1), 16-bit PNG (lossless);
    vectors keep their dtype and names; one-element features are scalars.
    """
    out: dict[str, dict] = {}
    for feature in plan:
        if feature.kind == "image":
            height, width, channels = feature.shape
            out[feature.key] = {
                "dtype": "video", "shape": [height, width, channels], "names": IMAGE_NAMES,
                "info": {"video.height": height, "video.width": width, "video.codec": codec,
                         "video.pix_fmt": "yuv420p", "video.is_depth_map": False, "video.fps": fps,
                         "video.channels": channels, "has_audio": False},
            }
        elif feature.kind == "depth":
            if feature.dtype != "uint16":
                raise ExportError(f"{feature.key}: lerobot export stores depth as 16-bit PNG; "
                                  f"{feature.dtype} depth (32FC1) is not supported")
            height, width = feature.shape
            out[feature.key] = {"dtype": "image", "shape": [height, width, 1], "names": IMAGE_NAMES,
                                "info": {"image.is_depth_map": True, "image.dtype": "uint16", "image.units": "mm"}}
        else:
            out[feature.key] = feature.to_dict()
    out[VALID_KEY] = {"dtype": "bool", "shape": [1], "names": None}
    out.update({key: dict(value) for key, value in DEFAULT_FEATURES.items()})
    return out


def comparable(features: dict) -> dict:
    """Features without the parts that may differ between exports (video info)."""
    return {k: {"dtype": v["dtype"], "shape": list(v["shape"]), "names": v.get("names")} for k, v in features.items()}


@dataclass(kw_only=True)
class DatasetState:
    """What a LeRobot dataset folder holds before an export adds to it."""

    info: dict | None = None
    tasks: list[str] = field(default_factory=list)
    episodes: int = 0
    frames: int = 0

    @classmethod
    def load(cls, root: Path) -> DatasetState:
        """Read ``root`` (empty or missing: a new dataset).

        Raises:
            ExportError: ``root`` holds files but no LeRobot v3.0 dataset, or its
                metadata is unreadable or inconsistent.
        """
        root = Path(root)
        info_path = root / INFO_PATH
        if not info_path.exists():
            if root.exists() and any(p for p in root.iterdir() if not p.name.startswith(".")):
                raise ExportError(f"{root} exists and is not a LeRobot dataset (no {INFO_PATH}), not overwriting")
            return cls()
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise ExportError(f"{info_path}: unreadable ({err})") from err
        if not isinstance(info, dict) or info.get("codebase_version") != CODEBASE_VERSION:
            version = info.get("codebase_version") if isinstance(info, dict) else None
            raise ExportError(f"{info_path}: codebase_version {version!r}, only {CODEBASE_VERSION} datasets "
                              "can be appended to")
        tasks = read_tasks(root / TASKS_PATH)
        episodes = sum(t.num_rows for t in read_tables(root / "meta" / "episodes", columns=["episode_index"]))
        if episodes != info.get("total_episodes"):
            raise ExportError(f"{root}: info.json says {info.get('total_episodes')} episodes, "
                              f"meta/episodes holds {episodes}")
        import pyarrow.parquet as pq

        frames = 0
        for path in parquet_files(root / "data"):
            try:
                frames += pq.ParquetFile(path).metadata.num_rows
            except Exception as err:  # noqa: BLE001 - pyarrow raises several types for bad files
                raise ExportError(f"{path}: not readable parquet ({err})") from err
        if frames != info.get("total_frames"):
            raise ExportError(f"{root}: info.json says {info.get('total_frames')} frames, data/ holds {frames}; "
                              "run `collector validate` on it")
        check_files_before_append(root, info)
        return cls(info=info, tasks=tasks, episodes=episodes, frames=frames)


MANIFEST_PATH = "meta/provenance.json"


def check_files_before_append(root: Path, info: dict) -> None:
    """Every mp4 the episodes table points at is there, not empty, and (with our
    provenance manifest) of the size it had when exported.

    Appending to a damaged dataset would bury the damage under new episodes, or worse:
    a new episode's video would take the name of a missing one. Sizes catch a
    truncated or replaced file without reading it.

    Raises:
        ExportError: naming the first missing, empty or resized file.
    """
    features = info.get("features") if isinstance(info.get("features"), dict) else {}
    keys = [key for key, spec in features.items() if isinstance(spec, dict) and spec.get("dtype") == "video"]
    pattern = info.get("video_path") or VIDEO_PATH
    columns = [f"videos/{key}/{part}" for key in keys for part in ("chunk_index", "file_index")]
    names: set[str] = set()
    for path in parquet_files(root / "meta" / "episodes") if keys else []:
        rows = _read_columns(path, columns, root).to_pylist()
        names.update(pattern.format(video_key=key, chunk_index=row[f"videos/{key}/chunk_index"],
                                    file_index=row[f"videos/{key}/file_index"]) for row in rows for key in keys)
    sizes = _manifest_sizes(root)
    for name in sorted(names):
        path = root / name
        if not path.is_file():
            raise ExportError(f"{path}: missing, the episodes table points at it; not appending to a damaged "
                              f"dataset (run `collector validate` on it)")
        size = path.stat().st_size
        if size == 0 or (name in sizes and sizes[name] != size):
            expected = f", the provenance manifest says {sizes[name]}" if name in sizes else ""
            raise ExportError(f"{path}: {size} bytes{expected}; not appending to a damaged dataset "
                              f"(run `collector validate` on it)")


def _read_columns(path: Path, columns: list[str], root: Path):
    """Only ``columns`` of one episodes file (the stats columns are most of it).

    Raises:
        ExportError: the file is not readable parquet, or lacks one of ``columns``.
    """
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(path)
    except Exception as err:  # noqa: BLE001 - pyarrow raises several types for bad files
        raise ExportError(f"{path}: not readable parquet ({err})") from err
    missing = [c for c in columns if c not in file.schema_arrow.names]
    if missing:
        raise ExportError(f"{root}: meta/episodes lacks {missing[0]}; run `collector validate` on it")
    return file.read(columns=columns)


def _manifest_sizes(root: Path) -> dict[str, int]:
    """File sizes listed in the dataset's provenance manifest ({} without a readable one)."""
    from collector.export.provenance import ProvenanceError, read_manifest

    try:
        files = read_manifest(root / MANIFEST_PATH)["files"]
    except ProvenanceError:
        return {}
    return {f["path"]: f["size"] for f in files if isinstance(f.get("size"), int)}


def parquet_files(folder: Path) -> list[Path]:
    """Every ``*/*.parquet`` under ``folder`` in path order: what LeRobot's loader reads."""
    return sorted(folder.glob("*/*.parquet")) if folder.is_dir() else []


def read_tables(folder: Path, columns: list[str] | None = None):
    """The parquet tables under ``folder`` in order (pyarrow).

    Raises:
        ExportError: a file that is not readable parquet.
    """
    import pyarrow.parquet as pq

    tables = []
    for path in parquet_files(folder):
        try:
            tables.append(pq.read_table(path, columns=columns))
        except Exception as err:  # noqa: BLE001 - pyarrow raises several types for bad files
            raise ExportError(f"{path}: not readable parquet ({err})") from err
    return tables


def read_tasks(path: Path) -> list[str]:
    """Task strings in task_index order from ``meta/tasks.parquet`` (strings are the
    pandas index, column ``task`` or ``__index_level_0__``)."""
    import pyarrow.parquet as pq

    if not path.exists():
        return []
    try:
        table = pq.read_table(path)
    except Exception as err:  # noqa: BLE001
        raise ExportError(f"{path}: not readable parquet ({err})") from err
    names = [n for n in ("task", "__index_level_0__") if n in table.column_names]
    if not names or "task_index" not in table.column_names:
        raise ExportError(f"{path}: no task strings (columns: {', '.join(table.column_names)})")
    pairs = sorted(zip(table["task_index"].to_pylist(), table[names[0]].to_pylist()))
    if [i for i, _ in pairs] != list(range(len(pairs))):
        raise ExportError(f"{path}: task_index is not 0..{len(pairs) - 1}")
    return [task for _, task in pairs]


def write_tasks(path: Path, tasks: list[str]) -> None:
    """``meta/tasks.parquet`` as pandas writes it: the strings are the index ``task``,
    one column ``task_index`` (LeRobot reads ``tasks.iloc[i].name``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pandas_meta = {
        "index_columns": ["task"],
        "column_indexes": [{"name": None, "field_name": None, "pandas_type": "unicode", "numpy_type": "object",
                            "metadata": {"encoding": "UTF-8"}}],
        "columns": [
            {"name": "task_index", "field_name": "task_index", "pandas_type": "int64", "numpy_type": "int64",
             "metadata": None},
            {"name": "task", "field_name": "task", "pandas_type": "unicode", "numpy_type": "object",
             "metadata": None},
        ],
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": "2.2.3",
    }
    schema = pa.schema([("task_index", pa.int64()), ("task", pa.string())],
                       metadata={b"pandas": json.dumps(pandas_meta).encode()})
    table = pa.table({"task_index": list(range(len(tasks))), "task": list(tasks)}, schema=schema)
    pq.write_table(table, path)
