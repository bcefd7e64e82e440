"""Validate an exported dataset: is it what its format promises, and are its times honest?

:func:`validate_dataset` finds the format of a folder and runs that format's checks;
each format's validator, named by its entry in
:data:`collector.export.registry.FORMATS`, provides ``detect(path) -> bool`` and
``check(path) -> (problems, summary)``:

* ``lerobot``: a LeRobot v3.0 folder (``meta/info.json``), see
  :mod:`collector.export.lerobot.validate`;
* ``hdf5``: a folder of ALOHA/ACT ``episode_<i>.hdf5`` files, see
  :mod:`collector.export.hdf5_validate`.

With ``verify=True`` the dataset's provenance manifest is checked too: every file's
SHA-256 recomputed and compared (:func:`collector.export.provenance.verify`).

A check never stops at the first problem: the report lists everything found, one
:class:`Problem` per broken thing (a file, a feature, an episode), with the value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from collector.export.errors import ExportError
from collector.export.registry import FORMATS, detect_format, get_writer


@dataclass(frozen=True)
class Problem:
    """One thing wrong: ``where`` is a path inside the dataset (``meta/info.json``,
    ``episode_3.hdf5``), ``message`` says what and shows the value."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(kw_only=True)
class ValidationReport:
    """The result of :func:`validate_dataset`; ``summary`` holds counts (episodes, frames, ...)."""

    format: str
    path: str
    problems: list[Problem] = field(default_factory=list)
    summary: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        return {"format": self.format, "path": self.path, "ok": self.ok,
                "problems": [{"where": p.where, "message": p.message} for p in self.problems],
                "summary": dict(self.summary)}


def manifest_path(fmt: str) -> str:
    """Where datasets of format ``fmt`` keep their provenance manifest."""
    return get_writer(fmt).MANIFEST


def validate_dataset(path: Path, *, verify: bool = False) -> ValidationReport:
    """Check the dataset at ``path`` (format detected) and report every problem found;
    ``verify``: also recompute every file's hash against the provenance manifest
    (summary ``verified_files``).

    Raises:
        ExportError: ``path`` does not exist or is no dataset of a known format
            (:func:`collector.export.registry.detect_format`);
            a dataset with problems is a report, not an error.
    """
    path = Path(path)
    if not path.exists():
        raise ExportError(f"{path}: no such file or directory")
    name = detect_format(path)
    if name is None:
        raise ExportError(f"{path}: not a dataset (neither a LeRobot v3.0 folder with meta/info.json "
                          "nor a folder of episode_<i>.hdf5 files)")
    problems, summary = FORMATS[name].check(path)
    problems, summary = list(problems), dict(summary)
    manifest = manifest_path(name)
    summary["provenance"] = manifest if (path / manifest).is_file() else None
    if verify:
        from collector.export.provenance import verify as verify_files

        found, intact = verify_files(path, manifest)
        problems += [Problem(where, message) for where, message in found]
        summary["verified_files"] = intact
    return ValidationReport(format=name, path=str(path), problems=problems, summary=summary)
