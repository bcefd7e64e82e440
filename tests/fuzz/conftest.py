"""Fuzz tests: bounded hypothesis runs (see ``_budget`` for the time budget and the seed)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.fuzz import _budget

FUZZ_DIR = Path(__file__).resolve().parent


def _is_fuzz(item) -> bool:
    return FUZZ_DIR in Path(str(item.fspath)).parents


def pytest_report_header(config):
    return (f"fuzz: COLLECTOR_FUZZ_SECONDS={_budget.TOTAL_SECONDS:g} over the fuzz tests, "
            f"COLLECTOR_FUZZ_SEED={_budget.SEED} (set it to repeat this run)")


def pytest_collection_finish(session):
    # after -k / -m deselection: the tests that will run share the budget
    _budget.state["tests"] = max(1, sum(1 for item in session.items if _is_fuzz(item)))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    # around the call phase only: hypothesis warns about function-scoped fixtures under @given
    if not _is_fuzz(item):
        yield
        return
    _budget.start_test()
    try:
        yield
    finally:
        if getattr(item.obj, "is_hypothesis_test", False):
            _EXAMPLES[item.nodeid] = _budget.state["examples"]
            _OUTCOMES[item.nodeid] = _budget.state["outcomes"]
        _budget.end_test()


_EXAMPLES: dict[str, int] = {}
_OUTCOMES: dict = {}


def pytest_terminal_summary(terminalreporter):
    if not _EXAMPLES:
        return
    started = _budget.state["started"]
    spent = f" in {time.monotonic() - started:.1f} s" if started is not None else ""
    if terminalreporter.config.option.verbose > 0:
        for nodeid, count in _EXAMPLES.items():
            outcomes = ", ".join(f"{n} {name}" for name, n in _OUTCOMES[nodeid].most_common())
            terminalreporter.write_line(f"fuzz: {nodeid.split('::')[-1]}: {count} examples; {outcomes}")
    terminalreporter.write_line(
        f"fuzz: {sum(_EXAMPLES.values())} examples over {len(_EXAMPLES)} tests{spent} "
        f"(fewest: {min(_EXAMPLES.values())}, {min(_EXAMPLES, key=_EXAMPLES.get).split('::')[-1]}); "
        f"COLLECTOR_FUZZ_SEED={_budget.SEED}")


def pytest_runtest_makereport(item, call):
    if call.excinfo is not None and _is_fuzz(item):
        item.add_report_section("call", "fuzz", f"repeat with COLLECTOR_FUZZ_SEED={_budget.SEED} (shrinking stops "
                                                f"after COLLECTOR_FUZZ_SHRINK_SECONDS={_budget.SHRINK_SECONDS:g}; "
                                                "hypothesis's warning about five minutes means that limit)")
