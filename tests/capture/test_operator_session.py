"""The operator's session state machine, driven by keys and a fake clock."""

from __future__ import annotations

import pytest

from collector.capture.operator_session import Action, OperatorSession
from collector.tasks import TaskCatalogueError, load_catalogue, parse_catalogue

TASKS = load_catalogue("baoan_humanoid").tasks


def kinds(actions):
    return [a.kind for a in actions]


def test_countdown_then_record_then_reset_then_next_take():
    session = OperatorSession(tasks=TASKS, countdown_s=3, reset_s=10)
    assert session.begin() == [Action("task", TASKS[0].en)]
    assert session.on_key(" ", 0.0) == [] and session.phase == "countdown"
    assert session.tick(2.9) == [] and session.remaining_s(2.9) == pytest.approx(0.1)
    assert kinds(session.tick(3.0)) == ["start"] and session.phase == "recording"
    assert kinds(session.on_key("y", 5.0)) == ["label"]
    assert kinds(session.on_key(" ", 13.0)) == ["stop"] and session.phase == "reset"
    assert session.progress[TASKS[0].id].kept == 1 and session.progress[TASKS[0].id].seconds == pytest.approx(10)
    assert session.tick(20.0) == [] and session.phase == "reset"
    session.tick(23.0)
    assert session.phase == "idle"
    assert session.totals() == (1, pytest.approx(10 / 60))


def test_re_record_discards_the_take_and_counts_only_kept_ones():
    session = OperatorSession(tasks=TASKS, countdown_s=0, reset_s=5)
    assert kinds(session.on_key(" ", 0.0)) == ["start"]
    assert kinds(session.on_key("r", 4.0)) == ["discard", "start"] and session.phase == "recording"
    assert TASKS[0].id not in session.progress or session.progress[TASKS[0].id].kept == 0
    assert kinds(session.on_key(" ", 9.0)) == ["stop"]
    assert session.progress[TASKS[0].id].kept == 1
    assert kinds(session.on_key("r", 10.0)) == ["discard_last", "start"]  # in reset: the kept take is undone
    assert session.progress[TASKS[0].id].kept == 0 and session.progress[TASKS[0].id].seconds == 0


def test_task_choice_only_between_takes_and_limits_end_takes():
    session = OperatorSession(tasks=TASKS, language="both", countdown_s=0)
    assert session.on_key("3", 0.0) == [Action("task", f"{TASKS[2].zh} / {TASKS[2].en}")]
    assert session.on_key("9", 0.0) == []  # no ninth task
    session.on_key(" ", 1.0)
    assert session.on_key("t", 2.0) == []  # not while recording
    assert kinds(session.tick(1.0 + TASKS[2].max_seconds)) == ["stop"]
    assert session.progress[TASKS[2].id].kept == 1


def test_free_task_and_quit_stops_a_running_take():
    session = OperatorSession(free_task="fold the towel", countdown_s=0, episode_s=4)
    assert session.begin() == [Action("task", "fold the towel")]
    session.on_key(" ", 0.0)
    assert kinds(session.on_key("q", 1.0)) == ["stop", "quit"]
    cancelled = OperatorSession(tasks=TASKS, countdown_s=3)
    cancelled.on_key(" ", 0.0)
    cancelled.on_key(" ", 1.0)
    assert cancelled.phase == "idle" and cancelled.tick(5.0) == []


@pytest.mark.parametrize("text, message", [
    ("rig: r\ntasks: []\n", "tasks: expected a non-empty list"),
    ("rig: r\ntasks:\n  - {id: a, en: x}\n", r"tasks\[0\].zh: missing required field"),
    ("rig: r\ntasks:\n  - {id: a, en: x, zh: y}\n  - {id: a, en: x, zh: y}\n", "duplicate task id 'a'"),
    ("rig: r\ntasks:\n  - {id: A b, en: x, zh: y}\n", "is not a valid id"),
    ("rig: r\ntasks:\n  - {id: a, en: x, zh: y, max_seconds: -1}\n", "max_seconds"),
    ("rig: r\ncolour: red\ntasks: []\n", "colour: unknown key"),
    ("rig: [\n", "invalid YAML"),
])
def test_bad_catalogues_name_file_and_key(text, message):
    with pytest.raises(TaskCatalogueError, match=message) as info:
        parse_catalogue(text, source="tasks.yaml")
    assert str(info.value).startswith("tasks.yaml") and "\n" not in str(info.value)


def test_every_rig_has_a_catalogue_with_both_languages():
    for rig in ("baoan_humanoid", "longhua_humanoid"):
        catalogue = load_catalogue(rig)
        assert catalogue.rig == rig and catalogue.tasks
        assert all(t.en.isascii() and not t.zh.isascii() for t in catalogue.tasks)
