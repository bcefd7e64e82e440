"""The LeRobot v3.0 writer: appends prepared episodes and finishes the dataset at once.

An export run opens a :class:`~collector.export.transaction.FolderTransaction` on
the dataset folder: the current version is hard-linked into a staging folder, the
run's episodes go into *new* files there (a new data parquet file, a new mp4 per
camera, a new episodes-table file; existing data and videos are never touched),
and :meth:`LeRobotWriter.close` rewrites info.json, stats.json, tasks.parquet and
the dataset card, then swaps the staging folder in. Killed at any moment, the
previous dataset stays loadable and unchanged; an export with no episode changes
nothing.

Options:

* ``vcodec``: ``av1`` (libsvtav1, default, LeRobot's codec) or ``h264`` (libx264);
  ``crf`` (30), ``gop`` (2: LeRobot's keyframe interval) and ``preset`` (12, as LeRobot's
  ``encode_video_frames`` sets it for libsvtav1; ``None``: the encoder's own default, for
  libx264 too, whose presets are names such as ``medium``) as LeRobot sets them.
* ``invalid``: ``trim`` (default) or ``keep``, see :mod:`collector.export.lerobot.episode`.
* ``blur_faces``: blur faces in the camera videos (default false; :mod:`collector.export.privacy`),
  recorded in ``meta/info.json`` ``privacy``, per episode in the episodes table
  (``privacy/frames_with_faces``, ``privacy/faces_blurred``) and in the card.
* ``repo_id`` (for the card), ``license`` (``apache-2.0``), ``robot_type``
  (default: the rig's robot model).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from collector import __version__
from collector.episode import EpisodeInfo
from collector.export.base import DatasetWriter
from collector.export.errors import ExportError
from collector.export.features import FeaturePlan
from collector.export.lerobot import layout
from collector.export.lerobot.episode import EpisodePart, prepare_episode
from collector.export.lerobot.stats import STAT_NAMES, combine_image_stats, numeric_stats, table_stats, to_json
from collector.export.lerobot.video import ENCODERS, VideoConcat
from collector.export.registry import register
from collector.export.transaction import FolderTransaction

SCRATCH = ".collector-scratch"
MB = 1_000_000


def _check_options(options: Mapping[str, Any]) -> None:
    if options["vcodec"] not in ENCODERS:
        raise ExportError(f"lerobot: option vcodec={options['vcodec']!r} is not one of {', '.join(ENCODERS)}")
    for name, low, high in (("crf", 0, 63), ("gop", 1, 1000)):
        value = options[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ExportError(f"lerobot: option {name}={value!r} is not an integer in {low}..{high}")
    if options["invalid"] not in ("trim", "keep"):
        raise ExportError(f"lerobot: option invalid={options['invalid']!r} is not 'trim' or 'keep'")
    if not isinstance(options["blur_faces"], bool):
        raise ExportError(f"lerobot: option blur_faces={options['blur_faces']!r} is not true or false")
    if options["blur_faces"]:
        from collector.export.privacy import require_opencv

        require_opencv()
    for name in ("repo_id", "license", "robot_type"):
        if options[name] is not None and not isinstance(options[name], str):
            raise ExportError(f"lerobot: option {name}={options[name]!r} is not a string")


@register("lerobot")
class LeRobotWriter(DatasetWriter):
    """A LeRobot v3.0 dataset in ``root``; appends to an existing one with the same features.

    Raises (on construction):
        ExportError: bad options, a plan without ``observation.state``/``action``,
            ``root`` holding something else, a dataset with other features or fps,
            or another export writing into it.
    """

    appends = True
    MANIFEST = layout.MANIFEST_PATH
    OPTIONS = {"vcodec": "av1", "crf": 30, "gop": 2, "preset": 12, "invalid": "trim",
               "repo_id": None, "license": "apache-2.0", "robot_type": None, "blur_faces": False}

    def __init__(self, root: Path, *, plan: FeaturePlan, fps: float, options: Mapping[str, Any] | None = None):
        super().__init__(root, plan=plan, fps=fps, options=options)
        _check_options(self.options)
        for key in ("observation.state", "action"):
            if key not in plan:
                raise ExportError(f"lerobot: a dataset needs {key!r}, rig {plan.rig!r} gives none")
        self.features = layout.lerobot_features(plan, fps=self.fps, codec=self.options["vcodec"])
        self.video_keys = [f.key for f in plan.images if f.kind == "image"]
        self._txn = FolderTransaction(self.root)
        try:
            self.state = layout.DatasetState.load(self.root)  # we hold its lock: the staged copy is the same
            self._check_compatible()
        except BaseException:
            self._txn.abort()
            raise
        self.stage = self._txn.path
        self.tasks = list(self.state.tasks)
        self.episode_rows: list[dict] = []
        self.parts_stats: list[dict] = []
        self._data = None  # (pyarrow ParquetWriter, path, chunk, file)
        self._data_next = layout.first_free_file(self.stage / "data")
        self._videos: dict[str, tuple[VideoConcat, int, int]] = {}
        self._video_next = {key: layout.first_free_file(self.stage / "videos" / key) for key in self.video_keys}

    # -- compatibility ---------------------------------------------------------------------

    @classmethod
    def existing_features(cls, root: Path) -> set[str] | None:
        """The features in ``meta/info.json`` of the dataset at ``root`` (None: none there)."""
        try:
            features = json.loads((Path(root) / layout.INFO_PATH).read_text(encoding="utf-8"))["features"]
        except (OSError, ValueError, KeyError, TypeError):
            return None  # no dataset, or a broken one the constructor reports
        return set(features) if isinstance(features, dict) else None

    def _check_compatible(self) -> None:
        info = self.state.info
        if info is None:
            return
        where = self.root / layout.INFO_PATH
        if abs(float(info.get("fps", 0)) - self.fps) > 1e-9:
            raise ExportError(f"{where}: the dataset is {info.get('fps')} fps, this export {self.fps:g} fps")
        have, want = layout.comparable(info.get("features", {})), layout.comparable(self.features)
        if have != want:
            missing = sorted(set(want) - set(have)) or sorted(set(have) - set(want))
            differ = missing[0] if missing else next(k for k in want if have.get(k) != want[k])
            raise ExportError(f"{where}: the dataset's features differ from rig {self.plan.rig!r}'s "
                              f"(first difference: {differ!r}); export into a new folder")
        blurred = bool((info.get("privacy") or {}).get("face_blurring"))
        if blurred != self.options["blur_faces"]:
            raise ExportError(f"{where}: the dataset's faces are {'' if blurred else 'not '}blurred, this export "
                              f"{'does not blur' if blurred else 'blurs'} them (--blur-faces); export into a new "
                              "folder")
        codec = next((v.get("info", {}).get("video.codec") for v in info["features"].values()
                      if v.get("dtype") == "video"), self.options["vcodec"])
        if codec != self.options["vcodec"]:
            raise ExportError(f"{where}: the dataset's videos are {codec}, this export asks for "
                              f"{self.options['vcodec']}")

    # -- episodes --------------------------------------------------------------------------

    @classmethod
    def prepare_part(cls, *, plan: FeaturePlan, fps: float, options: Mapping[str, Any], episode_path: Path,
                     sync, info: EpisodeInfo, scratch: Path, progress: Callable[[int, int], None] | None = None
                     ) -> EpisodePart:
        """The per-episode work, without the dataset (worker processes, Ray)."""
        options = {**cls.OPTIONS, **options}
        _check_options(options)
        return prepare_episode(plan=plan, fps=fps, options=options, episode_path=episode_path, sync=sync,
                               info=info, scratch=scratch, progress=progress)

    @property
    def scratch_root(self) -> Path:
        """Parts are prepared inside the staging folder (removed before it is swapped in)."""
        return self.stage / SCRATCH

    def commit(self, part: EpisodePart) -> None:
        """Append a prepared episode: its rows to the run's data file, its segments to the
        run's videos, its row to the episodes table. Its scratch files are removed.

        Raises:
            ExportError: closed writer, or a part whose files do not match it.
        """
        if self.closed:
            raise ExportError(f"lerobot writer for {self.root} is closed")
        import pyarrow as pa
        import pyarrow.parquet as pq

        episode_index = self.state.episodes + len(self.episode_rows)
        start_index = self.state.frames + sum(r["length"] for r in self.episode_rows)
        if part.task not in self.tasks:
            self.tasks.append(part.task)
        task_index = self.tasks.index(part.task)
        writer, _, chunk, file = self._data_file()
        source = pq.ParquetFile(Path(part.scratch) / part.table)
        rows = 0
        for group in range(source.num_row_groups):
            table = source.read_row_group(group)
            n = table.num_rows
            table = table.append_column("episode_index", pa.array(np.full(n, episode_index, np.int64)))
            table = table.append_column("index", pa.array(np.arange(start_index + rows, start_index + rows + n,
                                                                    dtype=np.int64)))
            table = table.append_column("task_index", pa.array(np.full(n, task_index, np.int64)))
            writer.write_table(table.select(self.features_in_data()).cast(writer.schema))
            rows += n
        source.close()
        if rows != part.length:
            raise ExportError(f"{part.source}: its frame table holds {rows} rows, expected {part.length}")
        row: dict[str, Any] = {
            "episode_index": episode_index, "tasks": [part.task], "length": part.length,
            "data/chunk_index": chunk, "data/file_index": file,
            "dataset_from_index": start_index, "dataset_to_index": start_index + part.length,
        }
        for key in self.video_keys:
            concat, v_chunk, v_file = self._video_file(key)
            start = concat.append(Path(part.scratch) / part.videos[key], part.length)
            row.update({f"videos/{key}/chunk_index": v_chunk, f"videos/{key}/file_index": v_file,
                        f"videos/{key}/from_timestamp": start, f"videos/{key}/to_timestamp": concat.duration_s})
        stats = dict(part.stats)
        stats["episode_index"] = numeric_stats(np.full(part.length, float(episode_index)))
        stats["index"] = numeric_stats(np.arange(start_index, start_index + part.length, dtype=np.float64))
        stats["task_index"] = numeric_stats(np.full(part.length, float(task_index)))
        for key, values in stats.items():
            for name in STAT_NAMES:
                row[f"stats/{key}/{name}"] = np.asarray(values[name]).tolist()
        row.update({"episode_id": part.episode_id, "success": part.success, "rig": part.rig, "site": part.site,
                    "robot": part.robot, "operator": part.operator, "source_frames": part.grid_frames,
                    "source_first_frame": part.first_frame})
        if part.privacy is not None:
            row.update({"privacy/frames_with_faces": part.privacy["frames_with_faces"],
                        "privacy/faces_blurred": part.privacy["faces_blurred"]})
        self.episode_rows.append(row)
        self.provenance.add_episode(part, episode_index)
        self.parts_stats.append({k: v for k, v in stats.items() if k in self.video_keys or self._is_depth(k)})
        shutil.rmtree(part.scratch, ignore_errors=True)
        self.episodes_written += 1
        self._roll_if_full()

    def features_in_data(self) -> list[str]:
        """The data parquet columns: every feature but the videos, in info.json order."""
        return [k for k, v in self.features.items() if v["dtype"] != "video"]

    def _is_depth(self, key: str) -> bool:
        return self.features.get(key, {}).get("dtype") == "image"

    def _data_file(self):
        if self._data is None:
            import pyarrow.parquet as pq

            chunk, file = self._data_next
            self._data_next = layout.next_file(chunk, file)
            path = self._txn.new_file(layout.DATA_PATH.format(chunk_index=chunk, file_index=file))
            schema = self._data_schema()
            self._data = (pq.ParquetWriter(path, schema, compression="snappy"), path, chunk, file)
        return self._data

    def _data_schema(self):
        import pyarrow as pa

        fields = []
        for key in self.features_in_data():
            feature = self.features[key]
            dtype = pa.from_numpy_dtype(np.dtype(feature["dtype"])) if feature["dtype"] not in ("image",) else None
            if feature["dtype"] == "image":
                fields.append((key, pa.struct([("bytes", pa.binary()), ("path", pa.string())])))
            elif list(feature["shape"]) == [1]:
                fields.append((key, dtype))
            else:
                fields.append((key, pa.list_(dtype, int(np.prod(feature["shape"])))))
        return pa.schema(fields)

    def _video_file(self, key: str) -> tuple[VideoConcat, int, int]:
        if key not in self._videos:
            chunk, file = self._video_next[key]
            self._video_next[key] = layout.next_file(chunk, file)
            path = self._txn.new_file(layout.VIDEO_PATH.format(video_key=key, chunk_index=chunk, file_index=file))
            self._videos[key] = (VideoConcat(path, self.fps), chunk, file)
        return self._videos[key]

    def _roll_if_full(self) -> None:
        """Start new files once the current ones pass LeRobot's size limits."""
        if self._data is not None and self._data[1].stat().st_size > layout.DATA_FILES_SIZE_MB * MB:
            self._data[0].close()
            self._data = None
        for key, (concat, _, _) in list(self._videos.items()):
            if concat.size_bytes > layout.VIDEO_FILES_SIZE_MB * MB:
                concat.close()
                del self._videos[key]

    # -- finishing -------------------------------------------------------------------------

    def close(self) -> None:
        """Write the metadata and swap the new version in (nothing changes without episodes)."""
        if self.closed:
            return
        try:
            if not self.episode_rows:
                self._txn.abort()
                return
            if self._data is not None:
                self._data[0].close()
                self._data = None
            for concat, _, _ in self._videos.values():
                concat.close()
            self._videos.clear()
            self.remove_scratch()
            self._write_episodes_table()
            layout.write_tasks(self._txn.new_file(layout.TASKS_PATH), self.tasks)
            stats = self._dataset_stats()
            self._txn.new_file(layout.STATS_PATH).write_text(
                json.dumps(to_json(stats), indent=4, ensure_ascii=False), encoding="utf-8")
            info = self._info()
            self._txn.new_file(layout.INFO_PATH).write_text(json.dumps(info, indent=4, ensure_ascii=False),
                                                            encoding="utf-8")
            from collector.export.lerobot.card import write_card

            write_card(self._txn.new_file("README.md"), self.stage, info, self.options)
            self.provenance.write(self._txn)
            self._txn.commit()
        except BaseException:
            self._txn.abort()
            raise
        finally:
            DatasetWriter.close(self)

    def abort(self) -> None:
        """Throw this run away; the dataset stays as it was."""
        if self._data is not None:
            try:
                self._data[0].close()
            except Exception:  # noqa: BLE001 - the file is discarded
                pass
            self._data = None
        for concat, _, _ in self._videos.values():
            try:
                concat.close()
            except Exception:  # noqa: BLE001
                pass
        self._videos.clear()
        self._txn.abort()
        DatasetWriter.close(self)

    def _write_episodes_table(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        chunk, file = layout.first_free_file(self.stage / "meta" / "episodes")
        for row in self.episode_rows:
            row["meta/episodes/chunk_index"], row["meta/episodes/file_index"] = chunk, file
        path = self._txn.new_file(layout.EPISODES_PATH.format(chunk_index=chunk, file_index=file))
        columns = list(self.episode_rows[0])
        table = pa.table({name: [row.get(name) for row in self.episode_rows] for name in columns})
        table = table.cast(pa.schema([pa.field("success", pa.bool_()) if f.name == "success" else f
                                      for f in table.schema]))
        pq.write_table(table, path)

    def _dataset_stats(self) -> dict:
        """Exact stats of every numeric feature over all data files; image stats pooled
        from the episodes' (this run's and the earlier ones' in the episodes table)."""
        import pyarrow.parquet as pq

        numeric_keys = [k for k, v in self.features.items() if v["dtype"] not in ("video", "image")]
        columns: dict[str, list[np.ndarray]] = {k: [] for k in numeric_keys}
        for path in layout.parquet_files(self.stage / "data"):
            table = pq.read_table(path, columns=numeric_keys)
            for key in numeric_keys:
                column = table[key].combine_chunks()
                shape = self.features[key]["shape"]
                if list(shape) == [1]:
                    values = column.to_numpy(zero_copy_only=False).astype(np.float64)
                else:
                    values = column.flatten().to_numpy(zero_copy_only=False).astype(np.float64)
                    values = values.reshape(-1, *shape)
                columns[key].append(values)
        numeric = table_stats({key: np.concatenate(parts) if parts else np.zeros(0) for key, parts in columns.items()},
                              self.plan.validity)
        return {key: numeric[key] if key in numeric else combine_image_stats(self._image_stats_of(key))
                for key in self.features}

    def _image_stats_of(self, key: str) -> list[dict]:
        """Per-episode stats of image feature ``key``: earlier episodes from the table, this run's parts."""
        import pyarrow.parquet as pq

        parts = []
        names = [f"stats/{key}/{name}" for name in STAT_NAMES]
        for path in layout.parquet_files(self.stage / "meta" / "episodes"):
            if path in self._txn.written:
                continue  # this run's rows: taken from the parts below, with their pixel counts
            schema = pq.read_schema(path)
            if not all(n in schema.names for n in names):
                continue
            table = pq.read_table(path, columns=names)
            for i in range(table.num_rows):
                parts.append({name: np.array(table[f"stats/{key}/{name}"][i].as_py(),
                                             dtype=np.int64 if name == "count" else np.float64)
                              for name in STAT_NAMES})
        parts.extend(p[key] for p in self.parts_stats if key in p)
        return parts

    def _info(self) -> dict:
        episodes = self.state.episodes + len(self.episode_rows)
        frames = self.state.frames + sum(r["length"] for r in self.episode_rows)
        robot_type = self.options["robot_type"] or (self.state.info or {}).get("robot_type") \
            or self.episode_rows[0]["robot"] or self.plan.rig
        previous = (self.state.info or {}).get("collector", {})
        sites = sorted({*previous.get("sites", []), *(r["site"] for r in self.episode_rows if r["site"])})
        rigs = sorted({*previous.get("rigs", []), *(r["rig"] for r in self.episode_rows if r["rig"])})
        info = {
            "codebase_version": layout.CODEBASE_VERSION,
            "robot_type": robot_type,
            "total_episodes": episodes,
            "total_frames": frames,
            "total_tasks": len(self.tasks),
            "chunks_size": layout.CHUNKS_SIZE,
            "data_files_size_in_mb": layout.DATA_FILES_SIZE_MB,
            "video_files_size_in_mb": layout.VIDEO_FILES_SIZE_MB,
            "fps": int(self.fps) if float(self.fps).is_integer() else self.fps,
            "splits": {"train": f"0:{episodes}"},
            "data_path": layout.DATA_PATH,
            "video_path": layout.VIDEO_PATH if self.video_keys else None,
            "features": self.features,
            "collector": {"version": __version__, "rig": self.plan.rig, "rigs": rigs, "sites": sites,
                          "invalid": self.options["invalid"], "vcodec": self.options["vcodec"],
                          "crf": self.options["crf"], "gop": self.options["gop"],
                          "license": self.options["license"], "validity": self.plan.validity},
        }
        if self.options["blur_faces"]:
            info["privacy"] = self._privacy((self.state.info or {}).get("privacy") or {})
        return info

    def _privacy(self, previous: Mapping[str, Any]) -> dict:
        """The ``privacy`` entry: detector, settings and counts over the whole dataset."""
        from collector.export.privacy import FaceBlurrer

        counts = {name: int((previous.get("counts") or {}).get(name, 0))
                  + sum(int(r.get(f"privacy/{name}", 0)) for r in self.episode_rows)
                  for name in ("frames_with_faces", "faces_blurred")}
        return {"face_blurring": True, **FaceBlurrer().describe(), "streams": list(self.video_keys),
                "counts": counts}
