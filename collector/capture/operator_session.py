"""The operator's session as a state machine: task choice, countdown, recording, reset.

Hardware-free, so it is unit-tested with a fake clock; ``collector record`` feeds it
key presses and the time, and carries out the actions it returns on the recorder
(start, stop, discard, label, set the task). Phases::

    idle --space--> countdown --(N s)--> recording --space--> reset --(M s or space)--> idle
                        ^                    |  d: discard      |  r: re-record (discard the take)
                        +---- r: re-record --+------------------+

Keys: ``space`` start/stop (in reset: end it now), ``d`` discard the take, ``r`` discard
it and record again at once, ``y``/``n`` success/failure (the running or the last take),
``t`` next task, ``1``-``9`` task by number, ``q`` quit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from collector.tasks import TaskEntry

PHASES = ("idle", "countdown", "recording", "reset")


@dataclass
class TaskProgress:
    """Kept takes and their recorded seconds for one task, this session."""

    kept: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class Action:
    """What the recorder must do: ``start``, ``stop``, ``discard`` (the running take),
    ``discard_last`` (the take just kept), ``label`` (value: bool), ``task`` (value: the
    instruction), ``quit``."""

    kind: str
    value: object = None


@dataclass(kw_only=True)
class OperatorSession:
    """Args:
        tasks: the rig's catalogue (may be empty: then ``free_task`` is the instruction).
        language: ``en``, ``zh`` or ``both``: which instruction the episodes get.
        countdown_s: seconds between the start key and the recording (0: at once).
        reset_s: seconds of reset phase after each take (0: none).
        episode_s: end a take after this long if its task has no ``max_seconds`` (0: never).
        free_task: the instruction when there is no catalogue (``--task``).
    """

    tasks: tuple[TaskEntry, ...] = ()
    language: str = "en"
    countdown_s: float = 3.0
    reset_s: float = 0.0
    episode_s: float = 0.0
    free_task: str = ""
    phase: str = "idle"
    task_index: int = 0
    progress: dict[str, TaskProgress] = field(default_factory=dict)
    message: str = ""
    _phase_started: float = 0.0
    _take_kept: bool = False  # the last take was kept (a re-record in reset discards it)
    _last_take_s: float = 0.0

    # -- what the operator sees -------------------------------------------------------
    @property
    def task(self) -> TaskEntry | None:
        return self.tasks[self.task_index] if self.tasks else None

    @property
    def task_key(self) -> str:
        return self.task.id if self.task else (self.free_task or "-")

    @property
    def instruction(self) -> str:
        return self.task.instruction(self.language) if self.task else self.free_task

    def remaining_s(self, now: float) -> float:
        """Seconds left in the countdown or reset phase (0 otherwise)."""
        length = {"countdown": self.countdown_s, "reset": self.reset_s}.get(self.phase, 0.0)
        return max(0.0, length - (now - self._phase_started))

    def take_limit_s(self) -> float:
        if self.task and self.task.max_seconds:
            return self.task.max_seconds
        return self.episode_s

    def totals(self) -> tuple[int, float]:
        """Kept takes and recorded minutes over every task."""
        return sum(p.kept for p in self.progress.values()), sum(p.seconds for p in self.progress.values()) / 60

    # -- transitions ------------------------------------------------------------------
    def begin(self) -> list[Action]:
        """The first actions: tell the recorder the task."""
        return [Action("task", self.instruction)] if self.instruction else []

    def _enter(self, phase: str, now: float) -> None:
        self.phase, self._phase_started = phase, now

    def _countdown(self, now: float) -> list[Action]:
        if self.countdown_s <= 0:
            self._enter("recording", now)
            self.message = f"recording: {self.instruction or '-'}"
            return [Action("start")]
        self._enter("countdown", now)
        self.message = f"get ready: {self.task_key}"
        return []

    def _choose(self, index: int) -> list[Action]:
        if not self.tasks or self.phase not in ("idle", "reset"):
            return []
        self.task_index = index % len(self.tasks)
        self.message = f"task {self.task.id}: {self.task.en} / {self.task.zh}"
        return [Action("task", self.instruction)]

    def on_key(self, key: str, now: float) -> list[Action]:
        """Actions for one key press at time ``now`` (s, monotonic)."""
        if key in ("q", "\x1b"):
            actions = [Action("stop")] if self.phase == "recording" else []
            return actions + [Action("quit")]
        if key == "t":
            return self._choose(self.task_index + 1)
        if key.isdigit() and key != "0":
            return self._choose(int(key) - 1) if int(key) <= len(self.tasks) else []
        if key in ("y", "n"):
            return [Action("label", key == "y")] if self.phase in ("recording", "reset", "idle") else []
        if self.phase == "idle":
            return self._countdown(now) if key in (" ", "s") else []
        if self.phase == "countdown":
            if key in (" ", "s", "d"):
                self._enter("idle", now)
                self.message = "countdown cancelled"
            return []
        if self.phase == "recording":
            if key in (" ", "s"):
                return self._end_take(now, keep=True)
            if key == "d":
                return self._end_take(now, keep=False)
            if key == "r":
                actions = self._end_take(now, keep=False) + self._countdown(now)
                self.message = "take discarded; recording again"
                return actions
            return []
        # reset
        if key in (" ", "s"):
            return self._countdown(now)
        if key == "r":
            actions = []
            if self._take_kept:
                actions.append(Action("discard_last"))
                self._unkeep()
            actions += self._countdown(now)
            self.message = "last take discarded; recording again"
            return actions
        if key == "d" and self._take_kept:
            self._unkeep()
            self.message = "last take discarded (kept on disk, marked discarded)"
            return [Action("discard_last")]
        return []

    def _end_take(self, now: float, *, keep: bool) -> list[Action]:
        seconds = now - self._phase_started
        self._take_kept = keep
        if keep:
            progress = self.progress.setdefault(self.task_key, TaskProgress())
            progress.kept += 1
            progress.seconds += seconds
            self.message = f"saved ({seconds:.1f} s); reset the scene"
        else:
            self.message = "take discarded (kept on disk, marked discarded)"
        self._last_take_s = seconds
        self._enter("reset" if self.reset_s > 0 else "idle", now)
        return [Action("stop" if keep else "discard")]

    def _unkeep(self) -> None:
        progress = self.progress.get(self.task_key)
        if progress and progress.kept:
            progress.kept -= 1
            progress.seconds = max(0.0, progress.seconds - self._last_take_s)
        self._take_kept = False

    def tick(self, now: float) -> list[Action]:
        """Actions due by time alone: the countdown's end, a take's time limit, the reset's end."""
        if self.phase == "countdown" and self.remaining_s(now) <= 0:
            self._enter("recording", now)
            self.message = f"recording: {self.instruction}"
            return [Action("start")]
        if self.phase == "recording":
            limit = self.take_limit_s()
            if limit and now - self._phase_started >= limit:
                return self._end_take(now, keep=True)
        if self.phase == "reset" and self.remaining_s(now) <= 0:
            self._enter("idle", now)
            self.message = "ready for the next take"
        return []

    def started_elsewhere(self, now: float) -> None:
        """A take was started outside this terminal (a foot pedal or teleop button calling the
        recorder's ``start`` service): follow it."""
        if self.phase != "recording":
            self._enter("recording", now)
            self.message = "recording (started by a ROS service call)"

    def ended_by_recorder(self, now: float) -> None:
        """The recorder ended the take itself (disk reserve, its own time limit): count it kept."""
        if self.phase == "recording":
            self._end_take(now, keep=True)
