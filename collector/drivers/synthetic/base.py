"""Units and the error shared by every part of the synthetic robot."""

from __future__ import annotations

import math
from typing import Any

from collector.errors import CollectorError

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000


class SyntheticError(CollectorError, ValueError):
    """A fault specification or synthetic-robot setting is invalid."""


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SyntheticError(f"{key}: expected a finite number, got {value!r}")
    return value
