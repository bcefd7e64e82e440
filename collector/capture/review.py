"""Reviewing recorded episodes after the fact: list, relabel, re-instruct, discard, restore.

Only ``episode.json`` changes, atomically, and every change is appended to the
episode's review log (``extra.review``: time, reviewer, field, old and new value), so
what the operator set at the time is never lost. Nothing is deleted: a discarded
episode keeps every byte and export skips it; ``restore`` takes it back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from collector.episode import EpisodeInfo, find_episodes, read_episode_info, write_episode_info
from collector.errors import EpisodeError

# A stream is unhealthy in review when it lost messages or had holes.
_LABELS = {True: "success", False: "failure", None: "-"}


@dataclass(frozen=True, kw_only=True)
class EpisodeRow:
    """One line of the review list."""

    path: Path
    info: EpisodeInfo

    @property
    def health(self) -> str:
        """``ok``, or what went wrong: transport drops, gaps, an interrupted recording."""
        problems = []
        drops = sum(s.drops for s in self.info.streams.values())
        gaps = {name: s.gaps for name, s in self.info.streams.items() if s.gaps}
        empty = [name for name, s in self.info.streams.items() if s.count == 0]
        if drops:
            problems.append(f"{drops} dropped")
        if gaps:
            problems.append("gaps in " + ", ".join(sorted(gaps)))
        if empty:
            problems.append("no data: " + ", ".join(sorted(empty)))
        if self.info.status in ("interrupted", "recording"):
            problems.append(f"{self.info.status} (run collector recover)")
        return "; ".join(problems) or "ok"

    def to_dict(self) -> dict:
        info = self.info
        return {
            "episode": info.episode_id, "path": str(self.path), "status": info.status, "task": info.task,
            "success": info.success, "operator": info.operator, "duration_s": round(info.duration_s, 3),
            "end_reason": info.end_reason, "health": self.health, "reviews": len(info.extra.get("review", [])),
        }


def list_episodes(root: Path) -> list[EpisodeRow]:
    """Every episode at or under ``root``, oldest first.

    Raises:
        EpisodeError: ``root`` holds no episode, or an episode.json is unreadable.
    """
    paths = find_episodes(Path(root))
    if not paths:
        raise EpisodeError(f"{root}: no episodes (no */episode.json)")
    rows = [EpisodeRow(path=p, info=read_episode_info(p)) for p in paths]
    return sorted(rows, key=lambda r: (r.info.start_ns, r.info.episode_id))


def resolve(root: Path, name: str) -> Path:
    """The episode ``name`` (its directory name, or a path) under ``root``.

    Raises:
        EpisodeError: no such episode.
    """
    candidate = Path(name)
    if (candidate / "episode.json").is_file():
        return candidate
    for path in find_episodes(Path(root)):
        if path.name == name:
            return path
    raise EpisodeError(f"{root}: no episode named {name!r}")


def _change(path: Path, field_name: str, value, *, reviewer: str, reason: str) -> EpisodeInfo:
    info = read_episode_info(path)
    old = getattr(info, field_name)
    if old == value:
        return info
    if info.status == "recording":
        raise EpisodeError(f"{path.name}: still recording (or interrupted without recovery); "
                           "stop it or run collector recover first")
    setattr(info, field_name, value)
    info.extra.setdefault("review", []).append({
        "time_ns": time.time_ns(), "reviewer": reviewer, "field": field_name, "old": old, "new": value,
        **({"reason": reason} if reason else {}),
    })
    write_episode_info(path, info)
    return info


def set_label(path: Path, success: bool | None, *, reviewer: str = "", reason: str = "") -> EpisodeInfo:
    """Relabel success (True), failure (False) or unlabelled (None)."""
    return _change(path, "success", success, reviewer=reviewer, reason=reason)


def set_instruction(path: Path, task: str, *, reviewer: str = "", reason: str = "") -> EpisodeInfo:
    """Replace the task instruction.

    Raises:
        EpisodeError: the instruction is empty.
    """
    if not task.strip():
        raise EpisodeError(f"{path.name}: the new instruction is empty")
    return _change(path, "task", task, reviewer=reviewer, reason=reason)


def discard(path: Path, *, reviewer: str = "", reason: str = "") -> EpisodeInfo:
    """Mark discarded (export skips it); the data stays."""
    return _change(path, "status", "discarded", reviewer=reviewer, reason=reason)


def restore(path: Path, *, reviewer: str = "", reason: str = "") -> EpisodeInfo:
    """Take back a discard: the episode is ``complete`` again.

    Raises:
        EpisodeError: the episode is not discarded.
    """
    info = read_episode_info(path)
    if info.status != "discarded":
        raise EpisodeError(f"{path.name}: not discarded (status {info.status})")
    return _change(path, "status", "complete", reviewer=reviewer, reason=reason)


def label_text(success: bool | None) -> str:
    return _LABELS[success]
