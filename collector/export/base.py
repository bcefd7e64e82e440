"""The one interface every export format implements.

A writer owns one dataset folder. It is a context manager: episodes are added one at
a time (each complete or not at all), and :meth:`DatasetWriter.close` finishes the
dataset. Writers never overwrite what they did not create: a writer that cannot
append refuses an existing non-empty folder; one that can append (``appends = True``)
adds after what is there. Files are written under a temporary name and renamed when
complete, so an export killed at any moment leaves the previous dataset loadable.

Adding an episode has two halves so the heavy one can run elsewhere:
:meth:`DatasetWriter.prepare_part` (a classmethod: decode, encode, convert into a
scratch folder; worker processes and Ray nodes run it) and :meth:`DatasetWriter.commit`
(on the writer: make the part the dataset's next episode). :meth:`add_episode` does
both in this process.
"""

from __future__ import annotations

import os
import shutil
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from collector.episode import EpisodeInfo
from collector.export.errors import ExportError
from collector.export.features import FeaturePlan
from collector.export.provenance import Provenance, attach_source, settings_of


class DatasetWriter(ABC):
    """Base of the export formats; register subclasses with :func:`collector.export.registry.register`.

    Class attributes:
        name: the format name (set by ``register``).
        appends: True when the format adds episodes to an existing dataset.
        MANIFEST: where the provenance manifest lives in the dataset
            (:mod:`collector.export.provenance`; ``self.provenance`` collects it).
        OPTIONS: option name -> default; ``options`` may only use these names.

    Args:
        root: the dataset folder (created when missing).
        plan: the features to write (:func:`collector.export.features.feature_plan`).
        fps: frame rate of the grid (frames/s); every added episode's sync must match.
        options: format options (see the subclass's ``OPTIONS``).

    Raises:
        ExportError: an unknown option, a bad fps, or (non-appending formats) a
            non-empty existing ``root``.
    """

    name: ClassVar[str] = ""
    appends: ClassVar[bool] = False
    OPTIONS: ClassVar[Mapping[str, Any]] = {}
    MANIFEST: ClassVar[str] = "provenance.json"

    def __init__(self, root: Path, *, plan: FeaturePlan, fps: float, options: Mapping[str, Any] | None = None):
        self.root = Path(root)
        self.plan = plan
        if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not 0 < fps < float("inf"):
            raise ExportError(f"{self.name or type(self).__name__}: fps={fps!r} is not a positive number")
        self.fps = float(fps)
        self.options = self._check_options(options or {})
        self.closed = False
        self.episodes_written = 0
        self.provenance = Provenance(fmt=self.name, manifest=self.MANIFEST, settings=settings_of(self))
        if not self.appends and self.root.exists() and (not self.root.is_dir() or any(self.root.iterdir())):
            raise ExportError(f"{self.root} exists already, not overwriting (format {self.name!r} cannot append)")

    @classmethod
    def existing_features(cls, root: Path) -> set[str] | None:
        """The feature keys of the dataset at ``root`` an export would append to; None when
        there is none (or it cannot be read: the constructor says why). The export keeps
        an optional stream's features exactly when the dataset has them
        (:mod:`collector.export.presence`)."""
        return None

    def _check_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(options) - set(self.OPTIONS))
        if unknown:
            known = ", ".join(sorted(self.OPTIONS)) or "none"
            raise ExportError(f"{self.name or type(self).__name__}: unknown option {unknown[0]!r} (options: {known})")
        return {**self.OPTIONS, **options}

    def check_episode(self, sync) -> None:
        """Refuse a sync result that does not fit this dataset (fps, rig, no frames).

        Raises:
            ExportError: naming the episode and the mismatch.
        """
        where = sync.episode or "episode"
        if abs(sync.fps - self.fps) > 1e-9:
            raise ExportError(f"{where}: synced at {sync.fps:g} fps, the dataset is {self.fps:g} fps")
        if sync.rig != self.plan.rig:
            raise ExportError(f"{where}: recorded with rig {sync.rig!r}, the dataset's features are for "
                              f"rig {self.plan.rig!r}")
        if sync.frames == 0:
            raise ExportError(f"{where}: the sync result has no frames")

    # -- episodes: prepared anywhere (a worker process, a Ray node), committed here -----------

    @classmethod
    @abstractmethod
    def prepare_part(cls, *, plan: FeaturePlan, fps: float, options: Mapping[str, Any], episode_path: Path,
                     sync, info: EpisodeInfo, scratch: Path, progress: Callable[[int, int], None] | None = None):
        """The per-episode work (conversion, encoding) into the empty folder ``scratch``,
        without touching the dataset; returns a small picklable part naming its files
        relative to ``scratch`` (attribute ``scratch`` holds the folder).

        ``progress(done, total)`` is called as frames are converted.

        Raises:
            ExportError: the episode does not fit the plan or cannot be converted.
            BagError: the episode's bag cannot be read.
        """

    @abstractmethod
    def commit(self, part) -> None:
        """Add a prepared part to the dataset as its next episode and remove its scratch
        folder; completely or (on any error) not at all.

        Raises:
            ExportError: closed writer, or a part that does not match the dataset.
        """

    def new_scratch(self) -> Path:
        """A new empty folder for one part, on the dataset's filesystem (removed by
        :meth:`commit`, :meth:`close` and :meth:`abort`)."""
        self._scratch_count = getattr(self, "_scratch_count", 0) + 1
        path = self.scratch_root / f"part-{self._scratch_count:06d}"
        path.mkdir(parents=True)
        return path

    @property
    def scratch_root(self) -> Path:
        """Where parts are prepared (see :meth:`new_scratch`): beside the dataset folder,
        so a killed export leaves the dataset itself untouched."""
        return self.root.parent / f".{self.root.name}.scratch-{os.getpid()}"

    def add_episode(self, episode_path: Path, sync, info: EpisodeInfo,
                    progress: Callable[[int, int], None] | None = None) -> None:
        """Prepare and commit one synchronised episode, completely or (on any error) not at all.

        Args:
            episode_path: the raw episode (images are streamed from its bag).
            sync: its :class:`~collector.sync.SyncResult`.
            info: its ``episode.json`` (:func:`collector.episode.read_episode_info`).
            progress: ``progress(done, total)`` frames, optional.

        Raises:
            ExportError: the episode does not fit the dataset or cannot be converted.
            BagError: the episode's bag cannot be read.
        """
        if self.closed:
            raise ExportError(f"{self.name} writer for {self.root} is closed")
        self.check_episode(sync)
        scratch = self.new_scratch()
        try:
            part = self.prepare_part(plan=self.plan, fps=self.fps, options=self.options,
                                     episode_path=Path(episode_path), sync=sync, info=info, scratch=scratch,
                                     progress=progress)
            self.commit(attach_source(part, Path(episode_path), info))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def remove_scratch(self) -> None:
        shutil.rmtree(self.scratch_root, ignore_errors=True)

    def close(self) -> None:
        """Finish the dataset (idempotent)."""
        self.remove_scratch()
        self.closed = True

    def abort(self) -> None:
        """Stop after an error: keep what is complete, remove what is partial (idempotent)."""
        self.close()

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
