"""The house stays tidy: ruff over every Python file, with the oldest supported Python (3.10,
ROS 2 Humble) as its target, so 3.12-only syntax (f-strings reusing their quotes, for one) fails
here and not when a rig imports the package. The rules are in ``ruff.toml``."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing():
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert "No module named ruff" not in proc.stderr, "ruff is not installed: pip install -e '.[test]'"
    assert proc.returncode == 0, f"ruff check reports:\n{proc.stdout}{proc.stderr}"


def test_ruff_targets_the_oldest_supported_python():
    config = (REPO / "ruff.toml").read_text(encoding="utf-8")  # no tomllib: it is 3.11+
    setup = (REPO / "setup.py").read_text(encoding="utf-8")
    assert re.search(r'^target-version = "py310"$', config, re.M) and 'python_requires=">=3.10"' in setup
