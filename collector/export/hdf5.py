"""HDF5 in the ALOHA / ACT layout: one ``episode_<i>.hdf5`` per episode.

What ACT's ``EpisodicDataset`` reads (``tonyzhaozh/act`` ``utils.py``), as its
recorders write it (``record_sim_episodes.py``, ALOHA ``record_episodes.py``)::

    attrs  sim (bool), compress (bool)
    /observations/qpos            (K, n) float64   observation.state
    /observations/qvel            (K, n) float64   observation.velocity
    /observations/effort          (K, n) float64   observation.effort
    /observations/images/<camera> (K, H, W, 3) uint8 RGB, chunks of one frame, no filter
                                  compress=True: (K, L) uint8 JPEG bytes zero-padded, and
    /compress_len                 (cameras, K) float32 the JPEG lengths (ALOHA's convention:
                                  the JPEG holds the RGB array as cv2.imencode would, so
                                  ``cv2.imdecode`` gives RGB back)
    /action                       (K, m) float64

and beside it, what ACT does not read: ``/observations/depth/<stream>`` (K, H, W) uint16
(lossless), ``/observations/imu/...``, ``/observations/wrench/<stream>`` (K, 6),
``/observations/tactile/<stream>`` (K, H, W), ``/time/<stream>/source_s`` and
``/time/<stream>/error_ms`` (K,), ``/timestamp`` (k / fps, s) and ``/frame_index`` (k)
of each row, ``/valid`` (K,) bool. Every dataset has attrs ``feature`` (the feature
key) and, where it has them, ``names``. Root attrs add task, success, episode_id, rig,
site, robot, operator, fps and ``features`` (JSON: key -> dtype, shape, names, path,
and ``valid``), ``reference_clock`` (the recording host's clock: what ``source_s`` is on)
and ``clocks`` (JSON, per stream: the clock declared and used, the fitted offset and
drift of a device clock, the latency).

Optional streams (``required: false``) add ``/time/<stream>/valid`` (K,) bool: true where
the stream's frame was valid. In an episode where the stream published nothing, its
datasets hold zeros (images: black frames) and that flag is false throughout; each of
its datasets names the flag in attr ``valid`` (a path). A stream no episode of the
export has is left out, as in :mod:`collector.export.presence`; appending, the
episodes already in the folder decide which optional streams the new ones carry.

Numbering continues after the episodes already in the folder (appending). Each file
is written in a scratch folder beside the dataset folder (``.<folder>.scratch-<pid>``)
and hard-linked into a staged copy of the folder
(:class:`~collector.export.transaction.FolderTransaction`), which :meth:`Hdf5Writer.close`
swaps in at once: a killed export leaves the folder exactly as it was, and the next
one removes what it left. Images stream frame by frame (datasets
chunked per frame), so memory stays bounded whatever the episode length.

Options: ``compress`` (JPEG images, default False), ``jpeg_quality`` (1-100, default
50 as ALOHA), ``invalid`` (``"drop"``, default: write only frames where the required
streams and the state/action streams are valid, so qpos/action hold no NaN, rows keep
their ``frame_index``/``timestamp``; ``"keep"``: every grid frame, NaN where invalid),
``sim`` (bool; default from ``episode.json`` ``extra.sim`` or site ``sim``, else False),
``blur_faces`` (blur faces in the camera images, default False, see
:mod:`collector.export.privacy`; root attrs ``faces_blurred`` (bool) and, when true,
``privacy``: JSON with the detector, OpenCV version, settings and this episode's counts).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from collector import __version__
from collector.episode import EpisodeInfo
from collector.export.base import DatasetWriter
from collector.export.errors import ExportError
from collector.export.features import Feature, FeaturePlan, episode_valid_mask, feature_values
from collector.export.frames import iter_frames
from collector.export.provenance import sha256_file
from collector.export.registry import register
from collector.export.transaction import FolderTransaction

EPISODE_RE = re.compile(r"^episode_(\d+)\.hdf5$")
TMP_SUFFIX = ".tmp"
ACT_PATHS = {
    "observation.state": "observations/qpos",
    "observation.velocity": "observations/qvel",
    "observation.effort": "observations/effort",
    "action": "action",
}
ACT_FLOAT = np.float64  # ALOHA's recorders document qpos/qvel/action as float64
CHUNK_CACHE_BYTES = 4 << 20


def hdf5_path(key: str) -> str:
    """The dataset path of feature ``key``: ACT's names for state, velocity, effort and
    action, else the key with ``observation.`` -> ``observations/`` and dots -> slashes."""
    if key in ACT_PATHS:
        return ACT_PATHS[key]
    if key.startswith("observation."):
        key = "observations." + key[len("observation."):]
    return key.replace(".", "/")


def _jpeg_encoder(quality: int) -> Callable[[np.ndarray], np.ndarray]:
    try:
        from PIL import Image
    except ImportError as err:
        raise ExportError("hdf5 option compress=True needs Pillow (pip install pillow)") from err

    def encode(rgb: np.ndarray) -> np.ndarray:
        buffer = io.BytesIO()
        # cv2.imencode (ALOHA) takes the RGB array as BGR; reversing here gives the same bytes' meaning
        Image.fromarray(np.ascontiguousarray(rgb[..., ::-1])).save(buffer, format="JPEG", quality=quality)
        return np.frombuffer(buffer.getbuffer(), dtype=np.uint8)

    return encode


@register("hdf5")
class Hdf5Writer(DatasetWriter):
    """ALOHA/ACT HDF5 episodes in ``root``; appends after existing ``episode_<i>.hdf5``.

    Raises (on construction):
        ExportError: bad options, h5py (or Pillow for ``compress``) missing, a plan
            without ``observation.state`` or ``action``, or another export writing
            into ``root``.
    """

    appends = True
    OPTIONS = {"compress": False, "jpeg_quality": 50, "invalid": "drop", "sim": None, "blur_faces": False}

    def __init__(self, root: Path, *, plan: FeaturePlan, fps: float, options: Mapping[str, Any] | None = None):
        super().__init__(root, plan=plan, fps=fps, options=options)
        _check(plan, self.options)
        if self.root.exists() and not self.root.is_dir():
            raise ExportError(f"{self.root} exists and is not a folder, not overwriting")
        if self.root.is_dir():
            entries = [p.name for p in self.root.iterdir() if not p.name.startswith(".")]
            if entries and not any(EPISODE_RE.match(name) for name in entries):
                # someone else's folder: as the LeRobot writer, never mix a dataset into it
                raise ExportError(f"{self.root} exists and is not an HDF5 dataset (no episode_<i>.hdf5), "
                                  f"not overwriting")
        self.root.mkdir(parents=True, exist_ok=True)
        # all of a run's episodes appear at once (or none): a staged copy swapped in by close()
        self._txn = FolderTransaction(self.root)
        self.stage = self._txn.path
        for stale in self.stage.glob(f"episode_*.hdf5{TMP_SUFFIX}"):
            stale.unlink()  # an old killed export's partial file: never a dataset episode
        for stale in self.root.parent.glob(f".{self.root.name}.scratch-*"):
            shutil.rmtree(stale, ignore_errors=True)  # a killed export's parts (we hold the lock)
        self.written: list[Path] = []

    # -- folder --------------------------------------------------------------------------

    @classmethod
    def existing_features(cls, root: Path) -> set[str] | None:
        """The features of the last ``episode_<i>.hdf5`` in ``root`` (None: no episode there)."""
        numbered = {int(m.group(1)): p for p in Path(root).glob("episode_*.hdf5") if (m := EPISODE_RE.match(p.name))}
        try:
            import h5py
        except ImportError:
            return None  # the constructor says h5py is missing
        if not numbered:
            return None
        try:
            with h5py.File(numbered[max(numbered)], "r") as last:
                return set(json.loads(last.attrs["features"]))
        except (OSError, KeyError, ValueError, TypeError):
            return None  # not one of ours: its features cannot guide the plan

    def next_index(self) -> int:
        """The number of the next episode: one more than the highest in the folder (0 if none)."""
        numbers = [int(m.group(1)) for p in self.stage.iterdir() if (m := EPISODE_RE.match(p.name))]
        return max(numbers) + 1 if numbers else 0

    def close(self) -> None:
        """Swap the run's episodes in (nothing changes without episodes)."""
        if self.closed:
            return
        try:
            if self.episodes_written:
                self.provenance.write(self._txn)
                self._txn.commit()
            else:
                self._txn.abort()
        except BaseException:
            self._txn.abort()
            raise
        finally:
            super().close()

    def abort(self) -> None:
        """Throw this run's episodes away; the folder stays as it was."""
        self._txn.abort()
        super().close()

    # -- episodes ------------------------------------------------------------------------

    @classmethod
    def prepare_part(cls, *, plan: FeaturePlan, fps: float, options: Mapping[str, Any], episode_path: Path,
                     sync, info: EpisodeInfo, scratch: Path, progress: Callable[[int, int], None] | None = None
                     ) -> Hdf5Part:
        """Write the episode as ``scratch/episode.hdf5`` (see the module doc).

        Raises:
            ExportError: a sync result without valid frames, an image that does not
                match the rig, bad options.
            BagError: the episode's bag cannot be read.
        """
        options = {**cls.OPTIONS, **options}
        _check(plan, options)
        episode = _EpisodeFile(plan, fps, options)
        part = episode.write(Path(episode_path), sync, info, Path(scratch), progress)
        part.size, part.sha256 = sha256_file(Path(scratch) / part.file)  # in the worker, while it is cached
        return part

    def commit(self, part: Hdf5Part) -> None:
        """Link ``episode.hdf5`` of the part into the staged folder as ``episode_<i>.hdf5``
        (never replacing a file) and remove the part; :meth:`close` makes it visible.

        Raises:
            ExportError: closed writer, or the final name exists already.
        """
        if self.closed:
            raise ExportError(f"hdf5 writer for {self.root} is closed")
        partial = Path(part.scratch) / part.file
        index = self.next_index()
        name = f"episode_{index}.hdf5"
        staged = self.stage / name
        try:
            try:
                os.link(partial, staged)  # fails instead of replacing an existing file
            except FileExistsError as err:
                raise ExportError(f"{self.root / name} exists already, not overwriting") from err
            except OSError:  # no hard links here: copy
                shutil.copyfile(partial, staged)
            self._txn.written.append(staged)  # fsynced at commit
        finally:
            shutil.rmtree(part.scratch, ignore_errors=True)
        self.written.append(self.root / name)
        if part.sha256:
            self.provenance.add_known(name, part.size, part.sha256)
        self.provenance.add_episode(part, index)
        self.episodes_written += 1


@dataclass(kw_only=True)
class Hdf5Part:
    """A prepared episode: ``scratch/file`` is the complete HDF5 file."""

    scratch: str
    file: str
    episode_id: str
    frames: int
    size: int = 0
    sha256: str = ""  # of the file, hashed where it was written


def _check(plan: FeaturePlan, opts: Mapping[str, Any]) -> None:
    if not isinstance(opts["compress"], bool):
        raise ExportError(f"hdf5: option compress={opts['compress']!r} is not true or false")
    quality = opts["jpeg_quality"]
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise ExportError(f"hdf5: option jpeg_quality={quality!r} is not an integer in 1..100")
    if opts["invalid"] not in ("drop", "keep"):
        raise ExportError(f"hdf5: option invalid={opts['invalid']!r} is not 'drop' or 'keep'")
    if opts["sim"] is not None and not isinstance(opts["sim"], bool):
        raise ExportError(f"hdf5: option sim={opts['sim']!r} is not true, false or unset")
    if not isinstance(opts["blur_faces"], bool):
        raise ExportError(f"hdf5: option blur_faces={opts['blur_faces']!r} is not true or false")
    if opts["blur_faces"]:
        from collector.export.privacy import require_opencv

        require_opencv()
    for key in ("observation.state", "action"):
        if key not in plan:
            raise ExportError(f"hdf5: the ACT layout needs {key!r}, rig {plan.rig!r} gives none "
                              f"(features: {', '.join(plan.keys())})")
    try:
        import h5py  # noqa: F401
    except ImportError as err:
        raise ExportError("the hdf5 format needs h5py (pip install h5py)") from err


class _EpisodeFile:
    """Writes one episode's HDF5 file."""

    def __init__(self, plan: FeaturePlan, fps: float, options: Mapping[str, Any]):
        import h5py

        self._h5py = h5py
        self.plan, self.fps, self.options = plan, float(fps), options
        self._encode = _jpeg_encoder(options["jpeg_quality"]) if options["compress"] else None
        self._blur = None
        if options["blur_faces"]:
            from collector.export.privacy import FaceBlurrer

            self._blur = FaceBlurrer()

    def write(self, episode_path: Path, sync, info: EpisodeInfo, scratch: Path,
              progress: Callable[[int, int], None] | None) -> Hdf5Part:
        valid = episode_valid_mask(sync, self.plan)
        rows = np.flatnonzero(valid) if self.options["invalid"] == "drop" else np.arange(sync.frames)
        if len(rows) == 0:
            raise ExportError(f"{sync.episode or episode_path}: no frame where the required, state and action "
                              "streams are all valid")
        path = scratch / "episode.hdf5"
        try:
            with self._h5py.File(path, "w-", rdcc_nbytes=CHUNK_CACHE_BYTES) as root:
                self._write_attrs(root, sync, info, rows)
                self._write_numeric(root, sync, rows, valid)
                self._write_images(root, episode_path, sync, rows, progress)
                root.attrs["faces_blurred"] = self._blur is not None
                if self._blur is not None:
                    root.attrs["privacy"] = json.dumps({**self._blur.describe(), "counts": self._blur.counts.to_dict(),
                                                        "streams": [f.key for f in self.plan.images
                                                                    if f.kind == "image"]})
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return Hdf5Part(scratch=str(scratch), file=path.name, episode_id=info.episode_id, frames=len(rows))

    def _sim(self, info: EpisodeInfo, sync) -> bool:
        if self.options["sim"] is not None:
            return self.options["sim"]
        flag = info.extra.get("sim") if isinstance(info.extra, dict) else None
        return bool(flag is True or isinstance(flag, dict) and flag or info.site == "sim")

    def _write_attrs(self, root, sync, info: EpisodeInfo, rows: np.ndarray) -> None:
        attrs = root.attrs
        attrs["sim"] = self._sim(info, sync)
        attrs["compress"] = self._encode is not None
        for name in ("task", "episode_id", "rig", "site", "robot", "operator"):
            attrs[name] = str(getattr(info, name) or "")
        if info.success is not None:
            attrs["success"] = bool(info.success)
        attrs["fps"] = self.fps
        attrs["frames"] = len(rows)
        attrs["grid_frames"] = sync.frames
        attrs["dropped_frames"] = sync.frames - len(rows)
        attrs["t0_ns"] = int(sync.t0_ns)
        attrs["origin_ns"] = int(sync.origin_ns)
        # what time.*/source_s are on, and how each stream's stamps were put there (this episode)
        attrs["reference_clock"] = "recording host (receive time)"
        attrs["clocks"] = json.dumps({name: {key: value for key, value in fit.to_dict().items()
                                             if key in ("clock", "declared", "evidence", "offset_ms", "drift_ppm",
                                                        "drift_sigma_ppm", "latency")}
                                      for name, fit in sync.clocks.items()})
        attrs["format"] = "aloha_act"
        attrs["collector_version"] = __version__
        validity = self.plan.validity
        attrs["features"] = json.dumps({f.key: {**f.to_dict(), "path": "/" + hdf5_path(f.key),
                                                **({"dtype": np.dtype(ACT_FLOAT).name} if f.key in ACT_PATHS else {}),
                                                **({"valid": validity[f.key]} if f.key in validity else {})}
                                        for f in self.plan})

    def _dataset(self, root, feature: Feature, **kwargs):
        dataset = root.create_dataset(hdf5_path(feature.key), **kwargs)
        dataset.attrs["feature"] = feature.key
        if feature.names is not None:
            dataset.attrs["names"] = list(feature.names)
        gate = self.plan.validity.get(feature.key)
        if gate is not None:
            dataset.attrs["valid"] = "/" + hdf5_path(gate)
        return dataset

    def _write_numeric(self, root, sync, rows: np.ndarray, valid: np.ndarray) -> None:
        for feature in self.plan.numeric:
            values = feature_values(feature, sync)[rows]
            if feature.key in ACT_PATHS:
                values = values.astype(ACT_FLOAT)
            else:
                values = values.astype(feature.dtype)
            if feature.grid_shape is not None:
                values = values.reshape((len(rows),) + feature.grid_shape)
            elif feature.kind in ("time", "valid"):
                values = values.reshape(len(rows))
            self._dataset(root, feature, data=values)
        root.create_dataset("timestamp", data=sync.timestamps_s[rows])
        root.create_dataset("frame_index", data=rows.astype(np.int64))
        root.create_dataset("valid", data=valid[rows])

    def _write_images(self, root, episode_path: Path, sync, rows: np.ndarray, progress) -> None:
        features = self.plan.images
        if not features:
            if progress is not None:
                progress(len(rows), len(rows))
            return
        count = len(rows)
        targets = {}
        cameras = [f for f in features if f.kind == "image"]
        for feature in features:
            if feature.kind == "image" and self._encode is not None:
                height, width, channels = feature.shape
                chunk = max(4096, height * width * channels // 8)
                dataset = self._dataset(root, feature, shape=(count, chunk), maxshape=(count, None), dtype=np.uint8,
                                        chunks=(1, chunk))
                dataset.attrs["encoding"] = "jpeg"
                dataset.attrs["image_shape"] = list(feature.shape)
            else:
                dataset = self._dataset(root, feature, shape=(count,) + feature.shape, dtype=feature.dtype,
                                        chunks=(1,) + feature.shape)
            targets[feature.streams[0]] = (feature, dataset)
        lengths = np.zeros((len(cameras), count), dtype=np.float32) if self._encode is not None else None
        camera_row = {f.streams[0]: i for i, f in enumerate(cameras)}
        for j, frames in enumerate(iter_frames(episode_path, sync, list(targets), frames=rows, blur=self._blur)):
            for stream, frame in frames.items():
                feature, dataset = targets[stream]
                if frame.shape != feature.shape:
                    raise ExportError(f"{stream}: frame {int(rows[j])} has shape {frame.shape}, the feature plan "
                                      f"says {feature.shape} for {feature.key}")
                if lengths is not None and feature.kind == "image":
                    data = self._encode(frame)
                    if len(data) > dataset.shape[1]:
                        chunk = dataset.chunks[1]
                        dataset.resize(-(-len(data) // chunk) * chunk, axis=1)
                    dataset[j, : len(data)] = data
                    lengths[camera_row[stream], j] = len(data)
                else:
                    dataset[j] = frame
            if progress is not None and (j % 16 == 15 or j == count - 1):
                progress(j + 1, count)
        if lengths is not None:
            compress_len = root.create_dataset("compress_len", data=lengths)
            compress_len.attrs["cameras"] = [f.streams[0] for f in cameras]
