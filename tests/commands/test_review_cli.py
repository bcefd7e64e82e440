"""``collector review``: list, relabel, re-instruct, discard and restore, through the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from collector.drivers.synthetic_episode import write_synthetic_episode
from collector.episode import read_episode_info
from collector.rig import load_rig

REPO = Path(__file__).resolve().parents[2]
START_NS = 1_790_000_000_000_000_000


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "collector", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=60)


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("review") / "session"
    rig = load_rig("baoan_humanoid")
    for index in range(3):
        write_synthetic_episode(out, rig, seconds=0.5, seed=index, start_ns=START_NS + index * 10**10,
                                task="pick the red part", operator="op_3",
                                streams=["joint_states", "left_gripper", "imu"],
                                faults="{imu: {drop_rate: 0.2}}" if index == 2 else None)
    return out


def _names(session: Path) -> list[str]:
    return sorted(p.parent.name for p in session.glob("*/episode.json"))


def test_list_shows_task_duration_label_and_health(session):
    result = cli("review", str(session), "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["episode"] for r in rows] == _names(session)
    assert all(r["task"] == "pick the red part" and 0.3 < r["duration_s"] < 1.0 for r in rows)
    assert rows[0]["health"] == "ok"
    assert "gaps in imu" in rows[2]["health"] or "dropped" in rows[2]["health"]
    table = cli("review", str(session))
    assert table.returncode == 0 and "3 episodes" in table.stdout and "kept 3 episodes" in table.stdout


def test_relabel_reinstruct_discard_restore_keep_a_review_log(session, tmp_path):
    first, second = _names(session)[:2]
    bag_bytes = {p: p.read_bytes() for p in (session / first).glob("*.mcap")}

    assert cli("review", str(session), "--success", first, second, "--reviewer", "rv_1").returncode == 0
    result = cli("review", str(session), "--instruction", "把红色零件放进料盒", first, "--reason", "typo")
    assert result.returncode == 0, result.stderr
    assert cli("review", str(session), "--discard", second).returncode == 0

    one, two = read_episode_info(session / first), read_episode_info(session / second)
    assert one.success is True and one.task == "把红色零件放进料盒" and one.status == "complete"
    assert two.success is True and two.status == "discarded"
    log = one.extra["review"]
    assert [(e["field"], e["old"], e["new"]) for e in log] == [
        ("success", None, True), ("task", "pick the red part", "把红色零件放进料盒")]
    assert log[0]["reviewer"] == "rv_1" and log[1]["reason"] == "typo"
    assert {p: p.read_bytes() for p in (session / first).glob("*.mcap")} == bag_bytes  # data untouched

    listed = json.loads(cli("review", str(session), "--json").stdout)
    assert [r["status"] for r in listed].count("discarded") == 1
    assert cli("review", str(session), "--restore", second).returncode == 0
    assert read_episode_info(session / second).status == "complete"
    assert [e["field"] for e in read_episode_info(session / second).extra["review"]] == ["success", "status",
                                                                                        "status"]


def test_bad_names_change_nothing_and_say_why(session):
    first = _names(session)[0]
    before = (session / first / "episode.json").read_text()
    result = cli("review", str(session), "--failure", first, "no_such_episode")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"error: {session}: no episode named 'no_such_episode'"]
    assert (session / first / "episode.json").read_text() == before  # the good name was not changed either
    restore = cli("review", str(session), "--restore", first)
    assert restore.returncode == 1 and "not discarded" in restore.stderr
    empty = cli("review", str(session / "nothing"))
    assert empty.returncode == 1 and "no such folder" in empty.stderr
