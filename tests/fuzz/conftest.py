"""Fuzz tests: bounded hypothesis runs (see ``_budget`` for the time budget and the seed)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.fuzz import _budget

FUZZ_DIR = Path(__file__).resolve().parent

# Not yet part of the default run: the suite is unfinished (the raw-episode fuzzer is missing and
# the budget is not yet held). COLLECTOR_FUZZ=1 runs it.
if os.environ.get("COLLECTOR_FUZZ") != "1":
    collect_ignore_glob = ["test_*.py"]


def pytest_report_header(config):
    return (f"fuzz: COLLECTOR_FUZZ_SECONDS={_budget.TOTAL_SECONDS:g} over the fuzz tests, "
            f"COLLECTOR_FUZZ_SEED={_budget.SEED} (set it to repeat this run)")


def pytest_collection_modifyitems(session, config, items):
    count = sum(1 for item in items if FUZZ_DIR in Path(str(item.fspath)).parents)
    _budget.state["tests"] = max(1, count)


def pytest_runtest_makereport(item, call):
    if call.excinfo is not None and FUZZ_DIR in Path(str(item.fspath)).parents:
        item.add_report_section("call", "fuzz", f"repeat with COLLECTOR_FUZZ_SEED={_budget.SEED}")
