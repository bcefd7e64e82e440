"""The ROS domains of this test run.

Every real-DDS suite talks on a domain of its own, with localhost-only discovery. The
base comes from ``COLLECTOR_TEST_DOMAIN`` or, by default, from this run's pid: two
test runs on one machine on the same domain answer each other's service calls (one
run's client starts the other run's recorder). Suites add their offset (0-9).
"""

from __future__ import annotations

import os

_BASE = int(os.environ["COLLECTOR_TEST_DOMAIN"]) if os.environ.get("COLLECTOR_TEST_DOMAIN") \
    else 10 + (os.getpid() % 20) * 10  # 10..200: Fast DDS takes domains up to 232


def domain_id(offset: int) -> int:
    """The domain of the suite with this ``offset`` (0-9) in this run."""
    if not 0 <= offset <= 9:
        raise ValueError(f"domain offset {offset} is not 0-9")
    return _BASE + offset
