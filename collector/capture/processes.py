"""Run ROS 2 nodes as child processes with logs to files and a clean, bounded shutdown."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from collector.capture.launch_plan import LaunchPlan
from collector.errors import CollectorError


def ros_param(value) -> str:
    """Render a parameter value for ``--ros-args -p name:=value``.

    ROS parses the value as YAML, so a task string like ``yes`` or ``1.5``
    would turn into a bool or a float; strings are therefore quoted as JSON,
    which is valid YAML (Chinese text included).
    """
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_PR_SET_PDEATHSIG = 1


def _stop_with_parent() -> None:
    """In the child, before exec: get SIGINT when the parent dies (Linux).

    If ``collector record`` or ``collector up`` is killed outright, its nodes would
    otherwise live on, a recorder writing an episode nobody watches. With SIGINT they
    shut down as on Ctrl-C: the recorder closes the episode cleanly.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGINT, 0, 0, 0)
    except (OSError, AttributeError):
        pass


class NodeProcess:
    """One node started as ``python -m <module> --ros-args -p k:=v ...``.

    ``command`` instead of a module runs another program (an external package's
    executable) with the same ROS arguments; ``remappings`` are ``(from, to)``
    topic names. Output goes to ``log_path``; :meth:`stop` sends SIGINT (a
    normal ROS shutdown: the recorder closes its episode), then SIGTERM, then
    SIGKILL. :meth:`interrupt` sends the SIGINT alone, to stop several nodes at
    once; the :meth:`stop` that follows then does not send it a second time.
    """

    def __init__(self, name: str, module: str | None, params: dict, *, log_path: Path, env: dict | None = None,
                 command: list[str] | None = None, remappings: tuple[tuple[str, str], ...] = ()):
        self.name = name
        self.log_path = Path(log_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        program = list(command) if command else [sys.executable, "-m", str(module)]
        argv = [*program, "--ros-args", "-r", f"__node:={name}"]
        for source, target in remappings:
            argv += ["-r", f"{source}:={target}"]
        for key, value in params.items():
            argv += ["-p", f"{key}:={ros_param(value)}"]
        self.argv = argv
        self._interrupted = False
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env if env is not None else dict(os.environ), preexec_fn=_stop_with_parent,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def interrupt(self) -> None:
        """Send SIGINT once (a normal ROS shutdown), without waiting."""
        if self.alive() and not self._interrupted:
            self.process.send_signal(signal.SIGINT)
            self._interrupted = True

    def stop(self, timeout_s: float = 15.0) -> int:
        """Stop the process; returns its exit code."""
        for sig, wait_s in ((signal.SIGINT, timeout_s), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            if not self.alive():
                break
            if sig == signal.SIGINT:
                self.interrupt()
            else:
                self.process.send_signal(sig)
            try:
                self.process.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                continue
        self._log.close()
        return self.process.returncode if self.process.returncode is not None else -9


def find_executable(package: str, executable: str, environ: dict | None = None) -> Path | None:
    """``<prefix>/lib/<package>/<executable>`` on ``AMENT_PREFIX_PATH``, as ``ros2 run`` finds it."""
    env = os.environ if environ is None else environ
    for prefix in filter(None, env.get("AMENT_PREFIX_PATH", "").split(os.pathsep)):
        candidate = Path(prefix) / "lib" / package / executable
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def commands_for(plan: LaunchPlan) -> dict[str, list[str] | None]:
    """Per node: the program to run (None: one of collector's modules, via ``python -m``).

    Raises:
        CollectorError: an external package's executable is not installed.
    """
    commands: dict[str, list[str] | None] = {}
    for node in plan.nodes:
        if node.module is not None:
            commands[node.name] = None
            continue
        found = find_executable(node.package, node.executable)
        if found is None:
            raise CollectorError(
                f"driver {node.name!r}: {node.package}/{node.executable} is not installed (not on "
                f"AMENT_PREFIX_PATH); install it, or leave it out with --skip {node.name}"
            )
        commands[node.name] = [str(found)]
    return commands


class NodeGroup:
    """The nodes of a launch plan, started as processes and stopped together.

    What ``collector up`` and ``collector record`` run: every node's program is found
    before any starts (:func:`commands_for`); each logs to ``logs/<node>.log``.
    :meth:`stop` sends SIGINT to all at once, as ``ros2 launch`` does, then waits for
    each (escalating per :meth:`NodeProcess.stop`). A context manager: leaving it stops
    the group.

    Raises:
        CollectorError: an external package's executable is not installed (nothing started).
    """

    def __init__(self, plan: LaunchPlan, logs: Path, *, commands: dict[str, list[str] | None] | None = None):
        commands = commands_for(plan) if commands is None else commands
        self.logs = Path(logs)
        self.processes: dict[str, NodeProcess] = {}
        try:
            for node in plan.nodes:
                self.processes[node.name] = NodeProcess(
                    node.name, node.module, node.parameters, log_path=self.logs / f"{node.name}.log",
                    command=commands[node.name], remappings=node.remappings)
        except BaseException:
            self.stop()
            raise

    def __getitem__(self, name: str) -> NodeProcess:
        return self.processes[name]

    def __contains__(self, name: object) -> bool:
        return name in self.processes

    def __len__(self) -> int:
        return len(self.processes)

    def __iter__(self):
        return iter(self.processes.values())

    def stop(self, timeout_s: float = 15.0) -> dict[str, int]:
        """Stop every node (SIGINT to all at once first); returns each one's exit code."""
        for process in self.processes.values():
            process.interrupt()
        return {name: process.stop(timeout_s=timeout_s) for name, process in self.processes.items()}

    def __enter__(self) -> NodeGroup:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
