"""ALOHA/ACT-layout HDF5 (``episode_<i>.hdf5`` files, ours or ACT's recorders') as a Source.

Feature keys come from the root attr ``features`` (JSON key -> path) that our exporter
writes; files without it (ACT's own) map ``/observations/qpos`` -> ``observation.state``,
``qvel`` -> ``observation.velocity``, ``effort`` -> ``observation.effort``, ``/action``
-> ``action`` and ``/observations/images/<cam>`` -> ``observation.images.<cam>``.
Numbers are read once (state, velocity, effort and action as float32, as ACT trains on
them); images are read per item from per-process open files. JPEG images
(``compress=True``, ALOHA's convention) are decoded back to RGB.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np

from collector.loader.errors import LoaderError
from collector.loader.files import HandlePool
from collector.loader.select import Episode
from collector.loader.source import Source

EPISODE_RE = re.compile(r"^episode_(\d+)\.hdf5$")
ACT_KEYS = {"observations/qpos": "observation.state", "observations/qvel": "observation.velocity",
            "observations/effort": "observation.effort", "action": "action"}


def _h5py():
    try:
        import h5py
    except ImportError as err:
        raise LoaderError("HDF5 datasets need h5py (pip install h5py)") from err
    return h5py


def _open(path: str):
    return _h5py().File(path, "r")


def _close(handle) -> None:
    handle.close()


def _layout(root, path: Path) -> dict[str, dict]:
    """key -> {"path", "kind"} of one file."""
    if "features" in root.attrs:
        try:
            declared = json.loads(root.attrs["features"])
        except (TypeError, ValueError) as err:
            raise LoaderError(f"{path}: attr 'features' is not JSON ({err})") from err
        return {key: {"path": spec["path"].lstrip("/"), "kind": _kind(key)} for key, spec in declared.items()}
    out = {key: {"path": p, "kind": ""} for p, key in ACT_KEYS.items() if p in root}
    for cam in root.get("observations/images", {}):
        out[f"observation.images.{cam}"] = {"path": f"observations/images/{cam}", "kind": "image"}
    return out


def _kind(key: str) -> str:
    if key.startswith("observation.images."):
        return "image"
    return "depth" if key.startswith("observation.depth.") else ""


def _attr(root, name):
    value = root.attrs.get(name)
    if isinstance(value, bytes):
        value = value.decode()
    return value.item() if isinstance(value, np.generic) else value


class Hdf5Source(Source):
    """Open ``path``: a folder of ``episode_<i>.hdf5`` files or one such file.

    Raises:
        LoaderError: no episode files, unreadable files, or files whose features differ.
    """

    def __init__(self, path: Path, *, max_open_files: int = 16):
        h5py = _h5py()
        path = Path(path)
        files = [path] if path.is_file() else sorted(
            (p for p in path.glob("episode_*.hdf5") if EPISODE_RE.match(p.name)),
            key=lambda p: int(EPISODE_RE.match(p.name).group(1)))
        if not files:
            raise LoaderError(f"{path}: no episode_<i>.hdf5 files")
        layout = None
        episodes, parts, tasks = [], {}, []
        fps = None
        start = 0
        self._files: dict[int, str] = {}
        for file in files:
            match = EPISODE_RE.match(file.name)
            index = int(match.group(1)) if match else 0
            try:
                with h5py.File(file, "r") as root:
                    this = _layout(root, file)
                    if layout is None:
                        layout = this
                    elif set(this) != set(layout):
                        raise LoaderError(f"{file}: features differ from {files[0].name}'s")
                    numeric = {k: v for k, v in this.items() if v["kind"] not in ("image", "depth")}
                    length = None
                    for key, spec in numeric.items():
                        values = root[spec["path"]][()]
                        if spec["path"] in ACT_KEYS:
                            values = values.astype(np.float32)
                        parts.setdefault(key, []).append(values)
                        length = len(values) if length is None else length
                    length = length if length is not None else len(root["action"])
                    stamps = root["timestamp"][()] if "timestamp" in root else None
                    frame_index = root["frame_index"][()] if "frame_index" in root else np.arange(length)
                    file_fps = float(_attr(root, "fps") or 0) or None
                    fps = fps or file_fps
                    task = str(_attr(root, "task") or "")
                    compress = bool(_attr(root, "compress") or False)
                    if compress and "compress_len" in root:
                        lens = root["compress_len"][()]
                        cams = [c.decode() if isinstance(c, bytes) else str(c)
                                for c in root["compress_len"].attrs.get("cameras", [])]
                        self._jpeg_lengths = getattr(self, "_jpeg_lengths", {})
                        self._jpeg_lengths[index] = {c: lens[i] for i, c in enumerate(cams)}
                    success = _attr(root, "success")
                    site, rig = _attr(root, "site"), _attr(root, "rig")
            except OSError as err:
                raise LoaderError(f"{file}: not a readable HDF5 file ({err})") from err
            except KeyError as err:
                raise LoaderError(f"{file}: missing dataset ({err})") from err
            fps = fps or 50.0  # ACT's recorders: 50 Hz, no fps attr
            if task not in tasks:
                tasks.append(task)
            parts.setdefault("frame_index", []).append(np.asarray(frame_index, dtype=np.int64))
            parts.setdefault("timestamp", []).append(
                np.asarray(stamps if stamps is not None else frame_index / fps, dtype=np.float32))
            parts.setdefault("episode_index", []).append(np.full(length, index, dtype=np.int64))
            parts.setdefault("task_index", []).append(np.full(length, tasks.index(task), dtype=np.int64))
            episodes.append(Episode(index=index, start=start, length=length, task=task,
                                    success=None if success is None else bool(success),
                                    site=site or None, rig=rig or None, where=str(file)))
            self._files[index] = str(file)
            start += length
        arrays = {k: np.concatenate(v) for k, v in parts.items()}
        arrays["index"] = np.arange(start, dtype=np.int64)
        kinds = {k: v["kind"] for k, v in layout.items()}
        cameras = [k for k, kind in kinds.items() if kind == "image"]
        depths = [k for k, kind in kinds.items() if kind == "depth"]
        features = {k: {"dtype": str(v.dtype), "shape": list(v.shape[1:]) or [1]} for k, v in arrays.items()}
        super().__init__(where=str(path), fps=fps, episodes=episodes, arrays=arrays, cameras=cameras, depths=depths,
                         tasks=tasks, stats=None, stats_path="", features=features)
        self._paths = {k: v["path"] for k, v in layout.items()}
        self._handles = HandlePool(_open, _close, size=max_open_files)
        self._jpeg_lengths = getattr(self, "_jpeg_lengths", {})

    def images(self, key: str, rows: np.ndarray, episode: Episode, *, tolerance_s: float) -> list[np.ndarray]:
        file = self._files[episode.index]
        positions = [int(r) - episode.start for r in rows]
        try:
            dataset = self._handles.get(file)[self._paths[key]]
            if dataset.attrs.get("encoding") == "jpeg":
                from PIL import Image

                lengths = self._jpeg_lengths[episode.index][key.rsplit(".", 1)[-1]]
                out = []
                for p in positions:
                    data = dataset[p, : int(lengths[p])].tobytes()
                    out.append(np.ascontiguousarray(np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))[..., ::-1]))
                return out
            return [dataset[p] for p in positions]
        except (OSError, KeyError, ValueError) as err:
            raise LoaderError(f"{file}: cannot read {key} of episode {episode.index} ({err})") from err

    def close(self) -> None:
        self._handles.close()
