"""Task catalogues: what the operators of a rig record, with instructions in English and Chinese.

One YAML per rig in ``datasets/tasks/<rig>.yaml``, validated on load like rig profiles
(unknown key, wrong type, duplicate id: one line naming file, key and value)::

    rig: baoan_humanoid
    tasks:
      - {id: connector_to_bin, en: put the red connector into the blue bin,
         zh: 把红色连接器放进蓝色料盒, target_episodes: 100, max_seconds: 45}
"""

from __future__ import annotations

import re
import reprlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from collector.errors import CollectorError
from collector.paths import data_path

LANGUAGES = ("en", "zh", "both")
_ID_RE = re.compile(r"[a-z][a-z0-9_]*")  # fullmatch: "$" would accept a trailing newline


class TaskCatalogueError(CollectorError):
    """A task catalogue is missing or invalid."""


@dataclass(frozen=True, kw_only=True)
class TaskEntry:
    """One task: its id, the instruction in both languages, and the session goals."""

    id: str
    en: str
    zh: str
    target_episodes: int = 0  # kept episodes wanted (0: no target)
    max_seconds: float = 0.0  # an episode ends by itself after this long (0: no limit)

    def instruction(self, language: str = "en") -> str:
        """The task string an episode gets: English, Chinese, or ``"zh / en"`` for both."""
        if language == "both":
            return f"{self.zh} / {self.en}"
        return self.zh if language == "zh" else self.en


@dataclass(frozen=True, kw_only=True)
class TaskCatalogue:
    rig: str
    tasks: tuple[TaskEntry, ...]
    source: str = ""

    def get(self, task_id: str) -> TaskEntry:
        """The task with this id.

        Raises:
            TaskCatalogueError: no such task (the message lists the ids).
        """
        for task in self.tasks:
            if task.id == task_id:
                return task
        raise TaskCatalogueError(f"{self.source or self.rig}: no task {_show(task_id)} "
                                 f"(tasks: {', '.join(t.id for t in self.tasks)})")


# bounded repr: a YAML alias bomb is small as text but huge when repr() expands it
_REPR = reprlib.Repr()  # keyword arguments need Python 3.12; set the limits one by one
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict = 3, 4, 4
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = 60
_show = _REPR.repr


def _key(name: Any) -> str:
    """A key as it appears in messages: plain names as is, odd ones (newlines, non-str) as repr."""
    return name if isinstance(name, str) and re.fullmatch(r"[A-Za-z0-9_]+", name) else _show(name)


def _fail(source: str, key: str, message: str) -> TaskCatalogueError:
    return TaskCatalogueError(f"{source}: {key}: {message}")


def _text(source: str, value: Any, key: str) -> str:
    if not isinstance(value, str) or not value.strip() or "\n" in value:
        raise _fail(source, key, f"expected a one-line, non-empty string, got {_show(value)}")
    return value.strip()


def parse_catalogue(text: str, source: str = "<tasks>") -> TaskCatalogue:
    """Parse and validate catalogue YAML ``text``.

    Raises:
        TaskCatalogueError: invalid YAML, unknown or missing keys, bad values, duplicate ids.
    """
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:  # PyYAML's messages have several lines: joined into one
        problem = " ".join(str(getattr(err, "problem", None) or err).split())
        raise TaskCatalogueError(f"{source}: invalid YAML ({problem})") from err
    except RecursionError as err:  # nesting deeper than the parser's recursion limit
        raise TaskCatalogueError(f"{source}: YAML nested too deeply") from err
    except ValueError as err:  # an integer of more digits than int() converts (4300)
        raise TaskCatalogueError(f"{source}: invalid YAML ({' '.join(str(err).split())})") from err
    if not isinstance(doc, dict):
        raise _fail(source, "(top level)", f"expected a mapping, got {_show(doc)}")
    for key in doc:
        if key not in ("rig", "tasks"):
            raise _fail(source, _key(key), "unknown key (allowed: rig, tasks)")
    rig = _text(source, doc.get("rig"), "rig")
    raw_tasks = doc.get("tasks")
    if not isinstance(raw_tasks, list) or not raw_tasks:
        raise _fail(source, "tasks", "expected a non-empty list of tasks")
    tasks: list[TaskEntry] = []
    allowed = {"id", "en", "zh", "target_episodes", "max_seconds"}
    for i, item in enumerate(raw_tasks):
        key = f"tasks[{i}]"
        if not isinstance(item, dict):
            raise _fail(source, key, f"expected a mapping, got {_show(item)}")
        for name in item:
            if name not in allowed:
                raise _fail(source, f"{key}.{_key(name)}", f"unknown key (allowed: {', '.join(sorted(allowed))})")
        for name in ("id", "en", "zh"):
            if name not in item:
                raise _fail(source, f"{key}.{name}", "missing required field")
        task_id = item["id"]
        if not isinstance(task_id, str) or not _ID_RE.fullmatch(task_id):
            raise _fail(source, f"{key}.id", f"{_show(task_id)} is not a valid id (lower case, digits, _)")
        if any(t.id == task_id for t in tasks):
            raise _fail(source, f"{key}.id", f"duplicate task id {_show(task_id)}")
        target = item.get("target_episodes", 0)
        if isinstance(target, bool) or not isinstance(target, int) or target < 0:
            raise _fail(source, f"{key}.target_episodes", f"expected an integer >= 0, got {_show(target)}")
        limit = item.get("max_seconds", 0)
        if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not 0 <= limit < 86400:
            raise _fail(source, f"{key}.max_seconds", f"expected seconds in [0, 86400), got {_show(limit)}")
        tasks.append(TaskEntry(id=task_id, en=_text(source, item["en"], f"{key}.en"),
                               zh=_text(source, item["zh"], f"{key}.zh"), target_episodes=target,
                               max_seconds=float(limit)))
    return TaskCatalogue(rig=rig, tasks=tuple(tasks), source=source)


def load_catalogue(rig_or_path: str | Path) -> TaskCatalogue:
    """The catalogue of a rig (``datasets/tasks/<rig>.yaml``) or the file at a path.

    Raises:
        TaskCatalogueError: the file is missing or invalid.
    """
    candidate = Path(rig_or_path)
    if candidate.suffix not in (".yaml", ".yml"):
        try:
            candidate = data_path("datasets", "tasks", f"{rig_or_path}.yaml")
        except CollectorError as err:
            raise TaskCatalogueError(f"rig {str(rig_or_path)!r} has no task catalogue "
                                     f"(datasets/tasks/{rig_or_path}.yaml)") from err
    try:
        text = candidate.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise TaskCatalogueError(f"{candidate}: task catalogue not found") from err
    except (OSError, UnicodeDecodeError) as err:
        raise TaskCatalogueError(f"{candidate}: cannot read task catalogue ({err})") from err
    return parse_catalogue(text, source=str(candidate))
