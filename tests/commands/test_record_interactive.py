"""``collector record`` as an operator drives it: keys typed into a real pseudo-terminal."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collector.episode import read_episode_info
from tests.dds import domain_id

pytest.importorskip("rclpy", reason="rclpy (ROS 2) is not installed: pip install '.[ros]'")
pytestmark = [pytest.mark.ros, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


class Terminal:
    """A child process on a pty; collects what it prints."""

    def __init__(self, argv: list[str], env: dict):
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=REPO,
                                        close_fds=True)
        os.close(slave)
        self.screen = b""

    def read(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                try:
                    self.screen += os.read(self.master, 65536)
                except OSError:
                    return

    def wait_for(self, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text.encode() in self.screen:
                return True
            self.read(0.2)
        return False

    def key(self, char: str) -> None:
        os.write(self.master, char.encode())

    def close(self) -> int:
        try:
            return self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            os.close(self.master)


def test_operator_records_labels_and_quits_with_keys(tmp_path):
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id(4)),
               ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", TERM="xterm", COLUMNS="160", LINES="50",
               PYTHONPATH=str(REPO))
    out = tmp_path / "session"
    term = Terminal([sys.executable, "-m", "collector", "record", "--rig", "baoan_humanoid", "--out", str(out),
                     "--synthetic", "--task", "stack the trays", "--operator", "op_9",
                     "--disk-reserve-mb", "1", "--countdown", "0"], env)
    try:
        assert term.wait_for("idle", 40), term.screen[-2000:].decode(errors="replace")
        assert term.wait_for("joint_states", 10)
        deadline = time.monotonic() + 30
        while b"ok" not in term.screen[-4000:] and time.monotonic() < deadline:
            term.read(0.5)
        term.key(" ")                      # start
        assert term.wait_for("REC", 15), term.screen[-2000:].decode(errors="replace")
        term.read(2.0)
        term.key("y")                      # success label while recording
        assert term.wait_for("labelled", 10), term.screen[-3000:].decode(errors="replace")
        term.key(" ")                      # stop, keep
        assert term.wait_for("saved", 15)
        mark = len(term.screen)
        term.key(" ")                      # a second take ...
        assert term.wait_for("recording", 15)
        while b"REC" not in term.screen[mark:]:
            term.read(0.2)
        term.read(1.0)
        term.key("d")                      # ... discarded
        assert term.wait_for("discarded", 15)
        term.key("q")
        assert term.wait_for("session summary", 30), term.screen[-3000:].decode(errors="replace")
    finally:
        code = term.close()
    assert code == 0, term.screen[-3000:].decode(errors="replace")
    infos = sorted((read_episode_info(p.parent) for p in out.glob("*/episode.json")), key=lambda i: i.start_ns)
    assert [(i.status, i.success) for i in infos] == [("complete", True), ("discarded", None)]
    assert infos[0].task == "stack the trays" and infos[0].operator == "op_9"
    assert infos[0].duration_s > 1.5


def _env():
    return dict(os.environ, ROS_DOMAIN_ID=str(domain_id(4)),
                ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", TERM="xterm", COLUMNS="160", LINES="60",
                PYTHONPATH=str(REPO))


def _wait_after(term: Terminal, mark: int, text: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text.encode() in term.screen[mark:]:
            return True
        term.read(0.2)
    return False


def test_operators_day_catalogue_countdown_rerecord_reset_and_task_switch(tmp_path):
    """Catalogue task, countdown, success label, re-record of a kept take, reset phase, next task, summary."""
    out = tmp_path / "session"
    term = Terminal([sys.executable, "-m", "collector", "record", "--rig", "baoan_humanoid", "--out", str(out),
                     "--synthetic", "--task-id", "stack_trays", "--language", "both", "--countdown", "1",
                     "--reset-seconds", "2", "--operator", "op_5", "--disk-reserve-mb", "1"], _env())
    try:
        assert term.wait_for("stack_trays", 40), term.screen[-2000:].decode(errors="replace")
        assert term.wait_for("把两个零件托盘叠起来", 5)
        deadline = time.monotonic() + 30
        while b"ok" not in term.screen[-4000:] and time.monotonic() < deadline:
            term.read(0.5)
        mark = len(term.screen)
        term.key(" ")                                  # take 1: countdown, then recording
        assert _wait_after(term, mark, "GET READY", 10)
        assert _wait_after(term, mark, "REC", 15), term.screen[-2000:].decode(errors="replace")
        term.read(1.5)
        term.key("y")
        mark = len(term.screen)
        term.key(" ")                                  # keep it: reset phase
        assert _wait_after(term, mark, "RESET THE SCENE", 15)
        mark = len(term.screen)
        term.key("r")                                  # no, record it again: the kept take is discarded
        assert _wait_after(term, mark, "last take discarded", 10)
        assert _wait_after(term, mark, "REC", 15)
        term.read(1.5)
        mark = len(term.screen)
        term.key(" ")
        screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", term.screen[-2500:].decode(errors="replace"))
        assert _wait_after(term, mark, "ready for the next take", 20), screen
        term.key("1")                                  # first task of the catalogue
        assert _wait_after(term, mark, "connector_to_bin", 10)
        mark = len(term.screen)
        term.key(" ")
        assert _wait_after(term, mark, "REC", 15)
        term.read(1.5)
        term.key("q")                                  # quit stops and keeps the running take
        assert term.wait_for("session summary", 30), term.screen[-3000:].decode(errors="replace")
        deadline = time.monotonic() + 20
        while term.process.poll() is None and time.monotonic() < deadline:
            term.read(0.2)
        term.read(0.5)  # what it printed last
    finally:
        code = term.close()
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", term.screen.decode(errors="replace"))
    assert code == 0, screen[-3000:]
    infos = sorted((read_episode_info(p.parent) for p in out.glob("*/episode.json")), key=lambda i: i.start_ns)
    assert [(i.status, i.success, i.extra["task"]["id"]) for i in infos] == [
        ("discarded", True, "stack_trays"), ("complete", None, "stack_trays"), ("complete", None, "connector_to_bin")]
    assert infos[1].task == "把两个零件托盘叠起来 / stack the two parts trays"
    assert infos[2].extra["task"]["zh"] == "把红色连接器放进蓝色料盒"
    assert "stack_trays: 1 kept" in screen and "connector_to_bin: 1 kept" in screen
