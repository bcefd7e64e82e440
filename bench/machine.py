"""The machine under a benchmark: CPU and memory of processes and of the whole machine,
and waiting until other work leaves it idle. Linux only (``/proc``).

psutil is not in .venv, and its ``children(recursive=True)`` scans every process, which
the 10 Hz memory sampler of ``bench/export_speed.py`` cannot afford: ``/proc`` is read
directly (``/proc/<pid>/task/<tid>/children`` for a process tree).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
MIB = 1024 * 1024
QUIET_MAX_PCT = 25.0  # other processes' CPU (% of one core) below which the machine counts as idle


# --------------------------------------------------------------------------- processes


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time (s) of a process, all threads; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            fields = file.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    # after "pid (comm)": state is field 3, utime field 14, stime field 15
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def user_process_cpu() -> dict[int, float]:
    """CPU seconds (user + system) of every user-space process now, by pid.

    Per-process times are exact; the machine-wide counters of ``/proc/stat``
    are sampled at timer ticks and undercount bursty work on this kind of VM.
    Kernel threads (empty command line) are left out.
    """
    snapshot = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as file:
                if not file.read(1):
                    continue
        except OSError:
            continue
        seconds = cpu_seconds(pid)
        if seconds is not None:
            snapshot[pid] = seconds
    return snapshot


def other_cpu_seconds(before: dict[int, float], after: dict[int, float], exclude: set[int]) -> float:
    """CPU seconds other processes used between two :func:`user_process_cpu` snapshots."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items() if pid not in exclude)


def rss_bytes(pid: int) -> int | None:
    """Resident memory (bytes) of a process (``VmRSS``); None once it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as file:
            for line in file:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def rss_mib(pid: int) -> float | None:
    """Resident memory (MiB) of a process from ``/proc/<pid>/statm`` (cheap); None once it is gone."""
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * PAGE / MIB
    except (OSError, IndexError, ValueError):
        return None


def pss_mib(pid: int) -> float | None:
    """Proportional set size (MiB: shared pages split among their sharers) of a process; None
    once it is gone. Reads ``/proc/<pid>/smaps_rollup``, a page-table walk: ~20 ms of CPU per
    GB mapped."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024 / MIB
    except OSError:
        return None
    return None


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (``/proc/<pid>/task/<tid>/children``, all threads)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{current}/task/{tid}/children") as handle:
                    todo.extend(int(child) for child in handle.read().split())
            except OSError:
                continue
    return found


# --------------------------------------------------------------------------- the machine


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    with open("/proc/stat") as handle:
        fields = [int(v) for v in handle.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # guest time is already in user
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


def memory_total_gb() -> float | None:
    """Physical memory (GB, 1e9 bytes, one decimal) from /proc/meminfo; None if not listed."""
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) * 1024 / 1e9, 1)
    return None


def wait_for_quiet(max_wait_s: float, *, quiet_s: int = 1, max_pct: float = QUIET_MAX_PCT,
                   on_busy: Callable[[float, float], None] | None = None) -> tuple[float, float]:
    """Wait (at most ``max_wait_s``) until other processes have used at most ``max_pct`` % of
    one core in each of ``quiet_s`` seconds in a row; returns (their busiest of those seconds
    in %, waited s).

    "Other" is every user process but this one, measured second by second. ``on_busy(busy %,
    waited s)`` is called after each second above ``max_pct`` (to tell the user).
    """
    started = time.monotonic()
    recent: list[float] = []
    while True:
        before = user_process_cpu()
        time.sleep(1.0)
        recent = (recent + [100.0 * other_cpu_seconds(before, user_process_cpu(), {os.getpid()})])[-quiet_s:]
        waited = time.monotonic() - started
        if (len(recent) == quiet_s and max(recent) <= max_pct) or waited >= max_wait_s:
            return max(recent), waited
        if on_busy is not None and recent[-1] > max_pct:
            on_busy(recent[-1], waited)
