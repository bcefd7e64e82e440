"""Fuzz the rig-profile and task-catalogue loaders: structural edits, byte edits, random YAML.

Property: :func:`collector.rig.parse_rig` / :func:`load_rig` and
:func:`collector.tasks.parse_catalogue` / :func:`load_catalogue` either return or raise
their own error (a :class:`CollectorError`) with a one-line message naming the source.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from collector.paths import data_path
from collector.rig import load_rig, parse_rig
from collector.tasks import load_catalogue, parse_catalogue
from tests.fuzz import _budget, strategies
from tests.fuzz._budget import check_error, fuzz

RIG_FILES = sorted(data_path("datasets", "rigs").glob("*.yaml"))
TASK_FILES = sorted(data_path("datasets", "tasks").glob("*.yaml"))
assert RIG_FILES and TASK_FILES
RIG_TEXTS = [p.read_text(encoding="utf-8") for p in RIG_FILES]
TASK_TEXTS = [p.read_text(encoding="utf-8") for p in TASK_FILES]
RIG_DOCS = [yaml.safe_load(t) for t in RIG_TEXTS]
TASK_DOCS = [yaml.safe_load(t) for t in TASK_TEXTS]
SOURCE = "fuzzed_profile.yaml"

LOADERS = {"rig": parse_rig, "tasks": parse_catalogue}
DOCS = {"rig": RIG_DOCS, "tasks": TASK_DOCS}
TEXTS = {"rig": RIG_TEXTS, "tasks": TASK_TEXTS}
pytestmark = pytest.mark.parametrize("kind", ["rig", "tasks"])


def _use(loaded) -> None:
    """What the rest of collector asks of a loaded rig or catalogue: it must not fail either."""
    if kind_of(loaded) == "rig":
        from collector.sync.config import stream_config

        for stream in loaded.streams:
            assert stream.period_ns > 0 and stream.qos.depth >= 0
            config = stream_config(stream)  # sync's view: int ns limits, within int64
            assert 0 < config.limit_ns < 2**63 and 0 <= config.latency_ns < 2**63
        assert loaded.robot.all_joints and loaded.streams_by_role("camera") is not None
        loaded.stream(loaded.streams[0].name)
    else:
        for task in loaded.tasks:
            for language in ("en", "zh", "both"):
                assert "\n" not in task.instruction(language)
        loaded.get(loaded.tasks[0].id)


def kind_of(loaded) -> str:
    return "rig" if hasattr(loaded, "streams") else "tasks"


def _parse(kind: str, text: str) -> None:
    try:
        loaded = LOADERS[kind](text, SOURCE)
    except Exception as err:
        check_error(err, SOURCE)
        return
    _budget.outcome("loaded")
    _use(loaded)


def _dump(doc) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


@fuzz
@_budget.PROFILE
@given(data=st.data())
def test_structural_edits(kind, data):
    doc = data.draw(st.sampled_from(DOCS[kind]))
    edited = data.draw(st.one_of(strategies.mutated_document(doc), strategies.tweaked_document(doc)))
    _parse(kind, _dump(edited))


@fuzz
@_budget.PROFILE
@given(data=st.data())
def test_byte_edits_through_the_file_loader(kind, data):
    raw = data.draw(st.sampled_from(TEXTS[kind])).encode("utf-8")
    damaged = data.draw(strategies.byte_edits(raw, max_edits=6))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzzed.yaml"
        path.write_bytes(damaged)
        try:
            loaded = (load_rig if kind == "rig" else load_catalogue)(path)
        except Exception as err:
            check_error(err, str(path))
        else:
            _budget.outcome("loaded")
            _use(loaded)
        assert path.read_bytes() == damaged


@fuzz
@_budget.PROFILE
@given(data=st.data())
def test_random_yaml(kind, data):
    text = data.draw(st.one_of(
        st.text(max_size=200),
        st.builds(_dump, strategies.odd_values),
        st.builds(lambda d, k: "[" * d + "]" * d if k == "list" else "{a: " * d + "1" + "}" * d,
                  st.integers(1, 1500), st.sampled_from(["list", "dict"])),
        st.builds(lambda n, key: f"{key}: {'9' * n}\n", st.integers(4000, 6000), st.sampled_from(["fps", "rig", "x"])),
        st.builds(lambda text, key: f"{key}: {text}\n", st.text(max_size=20),
                  st.sampled_from(["rig", "site", "tasks"])),
    ))
    _parse(kind, text)
