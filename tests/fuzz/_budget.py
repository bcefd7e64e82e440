"""The fuzz run's time budget, seed and per-example guards (shared by every fuzz test).

``COLLECTOR_FUZZ_SECONDS`` (default 60) is the wall-clock budget of the whole fuzz run.
The clock starts when the first fuzz test starts; each test (each parametrized case
counts as one) gets an equal share of what is left, so time a test did not use goes to
the tests after it, and time spent building fixtures (the raw episode) comes off the
total. Hypothesis has no time limit of its own, so :func:`fuzz` guards every example:
once the test's share is spent, the next example raises :class:`BudgetSpent`, which
ends hypothesis's run at once and which the test's outer wrapper turns into a pass.
(Returning early without drawing would make hypothesis report "inconsistent data
generation", and so would any exception but an interruption.)

After an example failed, hypothesis stops generating (``report_multiple_bugs=False``)
and shrinks the failure for at most ``COLLECTOR_FUZZ_SHRINK_SECONDS`` (default 10; set
as hypothesis's shrinking time limit, whose warning still speaks of five minutes), then
replays and reports the smallest failing example found.

A SIGALRM guard turns an example that runs longer than ``HANG_SECONDS`` into a failure
whose traceback shows where it hung.

``COLLECTOR_FUZZ_SEED`` fixes the seed (default: a fresh random one, printed in the last
line of the fuzz summary, in every failure, and in the pytest header when ``tests/fuzz``
is named on the command line) so a failing run can be repeated: the same seed draws the
same examples in the same order (give it at least the same budget).
"""

from __future__ import annotations

import collections
import functools
import os
import random
import signal
import time

import hypothesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis.internal.conjecture import engine as _engine

TOTAL_SECONDS = float(os.environ.get("COLLECTOR_FUZZ_SECONDS", "60"))
SEED = int(os.environ.get("COLLECTOR_FUZZ_SEED") or random.SystemRandom().randrange(2**32))
HANG_SECONDS = float(os.environ.get("COLLECTOR_FUZZ_HANG_SECONDS", "10"))
SHRINK_SECONDS = float(os.environ.get("COLLECTOR_FUZZ_SHRINK_SECONDS", "10"))
# An upper bound per test; the time budget normally ends a test long before it, and a long
# budget (COLLECTOR_FUZZ_SECONDS=300) should mean more examples, not an idle machine.
MAX_EXAMPLES = int(os.environ.get("COLLECTOR_FUZZ_MAX_EXAMPLES", "1000000"))
# Every test gets at least this much (s), even when the tests before it overran their share.
MIN_SHARE = min(1.0, TOTAL_SECONDS)

# hypothesis's own limit on shrinking one failure (an internal constant, read when
# shrinking starts; 300 s by default): a fuzz failure is reported after SHRINK_SECONDS
_engine.MAX_SHRINKING_SECONDS = SHRINK_SECONDS

# The conftest sets "tests" to the number of fuzz tests collected and calls start_test /
# end_test around each one's call phase.
state = {"tests": 1, "done": 0, "started": None, "deadline": None, "failed": False, "examples": 0,
         "outcomes": collections.Counter()}

settings.register_profile(
    "collector-fuzz",
    max_examples=MAX_EXAMPLES,
    deadline=None,  # slow examples are caught by the SIGALRM guard, not by timing noise
    derandomize=False,
    database=None,  # never write .hypothesis/ into the checkout
    print_blob=True,
    report_multiple_bugs=False,  # stop generating at the first failure: shrink it, report it
    # no "explain" phase: it re-runs the failure many more times, off the budget
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROFILE = settings.get_profile("collector-fuzz")


def start_test() -> None:
    """Called as a fuzz test's call phase begins: give it its share of the time left."""
    now = time.monotonic()
    if state["started"] is None:
        state["started"] = now
    left = state["started"] + TOTAL_SECONDS - now
    share = max(MIN_SHARE, left / max(1, state["tests"] - state["done"]))
    state.update(deadline=now + share, failed=False, examples=0, outcomes=collections.Counter())


def end_test() -> None:
    state["done"] += 1
    state["deadline"] = None


class BudgetSpent(KeyboardInterrupt):
    """The test's share of the budget is spent.

    A KeyboardInterrupt because that is the one exception hypothesis lets through
    untouched, as an interruption: any other one, even a BaseException, is recorded as
    how the example ended, and the next example would then be "inconsistent data".
    """


class Hang(Exception):
    """An example ran longer than ``HANG_SECONDS``."""


def _alarm(_signum, _frame):
    raise Hang(f"example still running after {HANG_SECONDS:g} s (COLLECTOR_FUZZ_SEED={SEED})")


def _check_budget() -> None:
    if state["failed"]:  # shrinking, then the final replay: hypothesis's shrink limit bounds it
        return
    now = time.monotonic()
    if state["deadline"] is None:  # run outside the conftest's hooks: the test's even share
        state["deadline"] = now + TOTAL_SECONDS / max(1, state["tests"])
    if now > state["deadline"]:
        raise BudgetSpent


def _guarded(inner):
    """``inner`` (one example) under the budget and the hang guard."""

    @functools.wraps(inner)
    def example(*args, **kwargs):
        _check_budget()
        state["examples"] += 1
        previous = signal.signal(signal.SIGALRM, _alarm)
        # pytest-timeout (signal method) runs its own ITIMER_REAL: take it over, give it back after
        outer, _interval = signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
        started = time.monotonic()
        try:
            return inner(*args, **kwargs)
        except Exception as err:
            if not isinstance(err, hypothesis.errors.UnsatisfiedAssumption):
                state["failed"] = True
            raise
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
            if outer:
                signal.setitimer(signal.ITIMER_REAL, max(1e-3, outer - (time.monotonic() - started)))

    return example


def fuzz(test):
    """Outermost decorator of a fuzz test (above ``@given`` and the settings): the budget,
    the hang guard and the run's seed."""
    test = hypothesis.seed(SEED)(test)
    test.hypothesis.inner_test = _guarded(test.hypothesis.inner_test)

    @functools.wraps(test)
    def run(*args, **kwargs):
        try:
            return test(*args, **kwargs)
        except BudgetSpent:
            return None

    return run


def outcome(name: str) -> None:
    """Count how an example ended (``pytest -v`` lists the counts per test): shows whether
    the fuzzer reaches past the first check of the reader."""
    state["outcomes"][name] += 1


def check_error(err: BaseException, *names: str) -> None:
    """``err`` is one of ours, its message is one non-empty line naming one of ``names``."""
    from collector.errors import CollectorError

    if not isinstance(err, CollectorError):
        raise err
    outcome(f"raised {type(err).__name__}")
    message = str(err)
    assert message and message.splitlines() == [message], f"not one line: {message!r}"
    if names:
        assert any(name in message for name in names), f"{message!r} names none of {names}"
