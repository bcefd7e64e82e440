"""Task catalogues: what the operators of a rig record, with instructions in English and Chinese.

One YAML per rig in ``datasets/tasks/<rig>.yaml``, validated on load like rig profiles
(unknown key, wrong type, duplicate id: one line naming file, key and value)::

    rig: baoan_humanoid
    tasks:
      - {id: connector_to_bin, en: put the red connector into the blue bin,
         zh: 把红色连接器放进蓝色料盒, target_episodes: 100, max_seconds: 45}
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from collector.errors import CollectorError
from collector.paths import data_path
from collector.schema import NAME_RE, Checker, load_yaml, read_text, show

LANGUAGES = ("en", "zh", "both")


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
        raise TaskCatalogueError(f"{self.source or self.rig}: no task {show(task_id)} "
                                 f"(tasks: {', '.join(t.id for t in self.tasks)})")


def parse_catalogue(text: str, source: str = "<tasks>") -> TaskCatalogue:
    """Parse and validate catalogue YAML ``text``.

    Raises:
        TaskCatalogueError: invalid YAML, unknown or missing keys, bad values, duplicate ids.
    """
    check = Checker(source, TaskCatalogueError)
    doc = check.mapping(load_yaml(text, source, TaskCatalogueError), "", {"rig", "tasks"}, set())
    rig = check.text(doc.get("rig"), "rig")
    raw_tasks = doc.get("tasks")
    if not isinstance(raw_tasks, list) or not raw_tasks:
        raise check.fail("tasks", "expected a non-empty list of tasks")
    tasks: list[TaskEntry] = []
    for i, item in enumerate(raw_tasks):
        key = f"tasks[{i}]"
        item = check.mapping(item, key, {"id", "en", "zh", "target_episodes", "max_seconds"}, {"id", "en", "zh"})
        task_id = item["id"]
        if not isinstance(task_id, str) or not NAME_RE.fullmatch(task_id):
            raise check.fail(f"{key}.id", f"{show(task_id)} is not a valid id (lower case, digits, _)")
        if any(t.id == task_id for t in tasks):
            raise check.fail(f"{key}.id", f"duplicate task id {show(task_id)}")
        target = item.get("target_episodes", 0)
        if isinstance(target, bool) or not isinstance(target, int) or target < 0:
            raise check.fail(f"{key}.target_episodes", f"expected an integer >= 0, got {show(target)}")
        limit = item.get("max_seconds", 0)
        if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not 0 <= limit < 86400:
            raise check.fail(f"{key}.max_seconds", f"expected seconds in [0, 86400), got {show(limit)}")
        tasks.append(TaskEntry(id=task_id, en=check.text(item["en"], f"{key}.en"),
                               zh=check.text(item["zh"], f"{key}.zh"), target_episodes=target,
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
    return parse_catalogue(read_text(candidate, "task catalogue", TaskCatalogueError), source=str(candidate))
