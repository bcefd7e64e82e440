"""Terminal pieces of ``collector record``: the stream-health table and single-key input."""

from __future__ import annotations

import os
import queue
import select
import sys
import threading

KEY_HELP = ("[space] start/stop  [d] discard  [r] re-record  [y] success  [n] failure  "
            "[t] / [1-9] task  [q] quit")

_STATE_STYLE = {"ok": "green", "slow": "yellow", "stale": "bold red", "waiting": "dim"}
_LATENCY_STYLE = {"high": "yellow", "ahead": "bold yellow"}


def format_bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(count) < 1000 or unit == "TB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} TB"


def session_panel(session):
    """Phase banner, the task in both languages, and kept takes / minutes per task."""
    import time

    from rich.text import Text

    now = time.monotonic()
    lines = Text()
    if session.phase == "countdown":
        lines.append(f"  GET READY  {session.remaining_s(now):3.0f}\n", style="bold black on yellow")
    elif session.phase == "reset":
        lines.append(f"  RESET THE SCENE  {session.remaining_s(now):3.0f} s   [space] next take now\n",
                     style="bold black on cyan")
    task = session.task
    if task is not None:
        progress = session.progress.get(task.id)
        kept = progress.kept if progress else 0
        goal = f" / {task.target_episodes}" if task.target_episodes else ""
        lines.append(f"task {session.task_index + 1}/{len(session.tasks)} {task.id}: ", style="bold")
        lines.append(f"{task.en}\n        {task.zh}\n")
        limit = f", takes end after {task.max_seconds:g} s" if task.max_seconds else ""
        lines.append(f"        kept {kept}{goal} this session{limit}\n")
    total, minutes = session.totals()
    if session.progress:
        per_task = "  ".join(f"{name}: {p.kept} ({p.seconds / 60:.1f} min)" for name, p in session.progress.items())
        lines.append(f"session: {total} kept, {minutes:.1f} min   {per_task}\n", style="dim")
    return lines


def status_table(status: dict | None, *, kept: int, target: int | None, message: str = "", session=None):
    """A rich renderable of the recorder status (what the operator watches)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    if status is None:
        return Text("waiting for the recorder ...", style="dim")
    if status["recording"]:
        head = Text(f"● REC  {status['episode']}  {status['episode_s']:6.1f} s  "
                    f"{format_bytes(status['episode_bytes'])}", style="bold red")
    else:
        head = Text("■ idle", style="bold")
    counts = f"kept episodes: {kept}" + (f" / {target}" if target else "")
    info = Text(
        f"rig {status['rig']}   task: {status['task'] or '-'}   operator: {status['operator'] or '-'}\n"
        f"{counts}   free disk: {format_bytes(status['free_disk_bytes'])} "
        f"(reserve {format_bytes(status['disk_reserve_bytes'])})"
    )
    table = Table(expand=False, show_edge=False, pad_edge=False)
    for column, justify in (("stream", "left"), ("topic", "left"), ("rate Hz", "right"), ("nominal", "right"),
                            ("count", "right"), ("latency ms", "right"), ("state", "left")):
        table.add_column(column, justify=justify)
    for stream in status["streams"]:
        state = stream["state"]
        latency = stream.get("latency_ms")  # median of the last second; absent from an older recorder
        table.add_row(
            stream["name"] + ("" if stream["required"] else " (opt)"),
            stream["topic"],
            f"{stream['rate_hz']:.1f}",
            f"{stream['nominal_hz']:g}",
            str(stream["count"]),
            Text("-" if latency is None else f"{latency:.1f}",
                 style=_LATENCY_STYLE.get(stream.get("latency_state", ""), "")),
            Text(state, style=_STATE_STYLE.get(state, "")),
        )
    parts = [head, info] + ([session_panel(session)] if session is not None else []) + [table]
    for problem in status.get("problems", []):
        parts.append(Text(f"warning: {problem}", style="yellow"))
    if status.get("last_stop_reason") == "disk_low":
        parts.append(Text("last episode ended: free disk below the reserve", style="bold red"))
    if message:
        parts.append(Text(message, style="cyan"))
    parts.append(Text(KEY_HELP, style="dim"))
    return Group(*parts)


class KeyReader:
    """Reads single key presses from a terminal in a background thread (cbreak mode).

    Use as a context manager; :meth:`get` returns the next key or None.
    """

    def __init__(self, stream=None):
        self.stream = stream or sys.stdin
        self.keys: queue.Queue[str] = queue.Queue()
        self._stop = threading.Event()
        self._saved = None

    def __enter__(self) -> KeyReader:
        import termios
        import tty

        fd = self.stream.fileno()
        self._saved = termios.tcgetattr(fd)
        tty.setcbreak(fd)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        import termios

        self._stop.set()
        if self._saved is not None:
            termios.tcsetattr(self.stream.fileno(), termios.TCSADRAIN, self._saved)

    def _read(self) -> None:
        fd = self.stream.fileno()
        while not self._stop.is_set():
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                char = os.read(fd, 1).decode(errors="ignore")
                if char:
                    self.keys.put(char)

    def get(self, timeout_s: float = 0.1) -> str | None:
        try:
            return self.keys.get(timeout=timeout_s)
        except queue.Empty:
            return None
