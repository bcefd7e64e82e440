"""Stations and their tasks, as data: ``sim/tasks/<station>.yaml`` beside the MJCF.

Each file names the station's MJCF, the rig it replicates, which model cameras and
sensors make which rig streams, the objects, the randomisation ranges and the tasks
(kind, parameters, English and Chinese instruction templates). Found through
:func:`collector.paths.data_path`, so source checkouts, pip and colcon installs work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collector.errors import CollectorError
from collector.schema import Checker, key_label, load_yaml, show
from collector.sim.errors import SimError

LANGUAGES = ("en", "zh")
_REQUIRED = ("station", "rig", "mjcf", "cameras", "tasks")


@dataclass(frozen=True, kw_only=True)
class TaskSpec:
    """One task of a station: its kind (a class in :mod:`collector.sim.tasks`),
    parameters and instruction templates per language."""

    name: str
    station: str
    kind: str
    instructions: dict[str, tuple[str, ...]]
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Station:
    """A station file, parsed (see the module doc)."""

    name: str
    rig: str
    mjcf: Path
    description: str
    cameras: dict[str, str]
    imu: tuple[str, str, str] | None
    wrench: dict[str, tuple[str, str]]
    tactile: dict[str, list[str]]
    ready: dict[str, tuple[float, float, float]]
    doc: dict[str, Any]
    tasks: dict[str, TaskSpec]
    source: Path

    def task(self, name: str) -> TaskSpec:
        try:
            return self.tasks[name]
        except KeyError:
            raise SimError(f"station {self.name!r} has no task {name!r} (tasks: {', '.join(self.tasks)})") from None


def _sim_root() -> Path:
    from collector.paths import data_path

    try:
        return data_path("sim")
    except CollectorError as err:
        raise SimError(str(err)) from err


def station_files() -> dict[str, Path]:
    """Station name -> its YAML, for every shipped station."""
    return {p.stem: p for p in sorted((_sim_root() / "tasks").glob("*.yaml"))}


def load_station(name: str) -> Station:
    """Load and check ``sim/tasks/<name>.yaml``.

    Raises:
        SimError: an unknown station, or a file with a missing key or a bad task,
            naming the file and the key.
    """
    files = station_files()
    if name not in files:
        raise SimError(f"unknown station {name!r} (stations: {', '.join(files) or 'none'})")
    path = files[name]
    check = Checker(str(path), SimError)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise SimError(f"{path}: cannot read ({err})") from err
    doc = check.mapping(load_yaml(text, str(path), SimError), "", None, set(_REQUIRED))
    if doc["station"] != name:
        raise check.fail("station", f"{show(doc['station'])} does not match the file name")
    tasks = {}
    for task_name, raw in check.mapping(doc["tasks"] or {}, "tasks", None, set()).items():
        key = f"tasks.{key_label(task_name)}"
        raw = check.mapping(raw, key, None, {"kind", "instructions"})
        instructions = check.mapping(raw["instructions"] or {}, f"{key}.instructions", None, set(LANGUAGES))
        for language in LANGUAGES:
            templates = instructions[language]
            if not isinstance(templates, list) or not templates or not all(isinstance(t, str) and t for t in templates):
                raise check.fail(f"{key}.instructions.{language}", f"expected a list of strings, got {show(templates)}")
        params = {k: v for k, v in raw.items() if k not in ("kind", "instructions")}
        tasks[task_name] = TaskSpec(name=task_name, station=name, kind=str(raw["kind"]),
                                    instructions={lang: tuple(instructions[lang]) for lang in LANGUAGES},
                                    params=params)
    mjcf = (_sim_root() / doc["mjcf"]).resolve()
    if not mjcf.is_file():
        raise SimError(f"{path}: mjcf {doc['mjcf']!r} not found")
    imu = doc.get("imu")
    return Station(
        name=name, rig=str(doc["rig"]), mjcf=mjcf, description=str(doc.get("description", "")),
        cameras=dict(doc["cameras"]), imu=tuple(imu) if imu else None,
        wrench={k: tuple(v) for k, v in (doc.get("wrench") or {}).items()},
        tactile={k: list(v) for k, v in (doc.get("tactile") or {}).items()},
        ready={k: tuple(v) for k, v in (doc.get("ready") or {}).items()},
        doc=doc, tasks=tasks, source=path)


def list_stations() -> list[Station]:
    return [load_station(name) for name in station_files()]
