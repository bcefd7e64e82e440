"""Locate the data the package ships (``datasets/``, ``sim/``).

One helper for the three ways collector is installed:

* a source checkout (``datasets/`` sits next to the ``collector/`` package),
* ``pip install`` (data files go to ``<prefix>/share/collector/``),
* ``colcon build`` on a rig (``<install>/share/collector/``, found through
  ``AMENT_PREFIX_PATH``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from collector.errors import CollectorError

PACKAGE_NAME = "collector"


def share_roots() -> list[Path]:
    """Candidate folders holding ``datasets/`` and ``sim/``, most specific first."""
    roots = [Path(__file__).resolve().parent.parent]
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if prefix:
            roots.append(Path(prefix) / "share" / PACKAGE_NAME)
    roots.append(Path(sys.prefix) / "share" / PACKAGE_NAME)
    return roots


def data_path(*parts: str) -> Path:
    """Return the first existing ``<root>/<parts...>`` among :func:`share_roots`.

    Raises:
        CollectorError: when no root holds it; the message lists where it looked.
    """
    tried = []
    for root in share_roots():
        candidate = root.joinpath(*parts)
        if candidate.exists():
            return candidate
        tried.append(str(candidate))
    raise CollectorError(f"data file {'/'.join(parts)!r} not found (looked in: {', '.join(tried)})")
