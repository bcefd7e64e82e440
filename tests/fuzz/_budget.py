"""The fuzz run's time budget, seed and per-example guards (shared by every fuzz test).

``COLLECTOR_FUZZ_SECONDS`` (default 60) is the wall-clock budget of the whole fuzz run;
each collected fuzz test gets an equal share. Hypothesis has no time limit of its own, so
:func:`fuzz` wraps a test body: once the test's share is spent, further examples return at
once (hypothesis then runs out its ``max_examples`` in a few milliseconds), unless an
example failed already, so that shrinking and the final replay still see the failure.
A SIGALRM guard turns an example that runs longer than ``HANG_SECONDS`` into a failure
whose traceback shows where it hung.

``COLLECTOR_FUZZ_SEED`` fixes the seed (default: a fresh random one, printed in the pytest
header and in every failure) so a failing run can be repeated exactly.
"""

from __future__ import annotations

import functools
import os
import random
import signal
import time

import hypothesis
from hypothesis import HealthCheck, settings

TOTAL_SECONDS = float(os.environ.get("COLLECTOR_FUZZ_SECONDS", "60"))
SEED = int(os.environ.get("COLLECTOR_FUZZ_SEED") or random.SystemRandom().randrange(2**32))
HANG_SECONDS = float(os.environ.get("COLLECTOR_FUZZ_HANG_SECONDS", "10"))
# upper bound per test: after the budget, each leftover example still costs hypothesis ~1 ms
MAX_EXAMPLES = int(os.environ.get("COLLECTOR_FUZZ_MAX_EXAMPLES", "300"))

# conftest sets this to the number of fuzz tests collected in this session
state = {"tests": 1}

settings.register_profile(
    "collector-fuzz",
    max_examples=MAX_EXAMPLES,
    deadline=None,  # slow examples are caught by the SIGALRM guard, not by timing noise
    derandomize=False,
    database=None,  # never write .hypothesis/ into the checkout
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROFILE = settings.get_profile("collector-fuzz")


class Hang(Exception):
    """An example ran longer than ``HANG_SECONDS``."""


def _alarm(_signum, _frame):
    raise Hang(f"example still running after {HANG_SECONDS:g} s (COLLECTOR_FUZZ_SEED={SEED})")


def fuzz(test):
    """Decorator under ``@given``: the per-test budget, the hang guard and the run's seed."""
    clock = {"deadline": None, "failed": False, "examples": 0}

    @functools.wraps(test)
    def body(*args, **kwargs):
        now = time.monotonic()
        if clock["deadline"] is None:
            clock["deadline"] = now + TOTAL_SECONDS / max(1, state["tests"])
        if now > clock["deadline"] and not clock["failed"]:
            return
        clock["examples"] += 1
        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
        try:
            test(*args, **kwargs)
        except BaseException:
            clock["failed"] = True
            raise
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    body.fuzz_clock = clock
    return hypothesis.seed(SEED)(body)


def check_error(err: BaseException, *names: str) -> None:
    """``err`` is one of ours, its message is one non-empty line naming one of ``names``."""
    from collector.errors import CollectorError

    if not isinstance(err, CollectorError):
        raise err
    message = str(err)
    assert message and "\n" not in message and "\r" not in message, f"not one line: {message!r}"
    if names:
        assert any(name in message for name in names), f"{message!r} names none of {names}"
