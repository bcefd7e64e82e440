"""The package parses on every Python it supports (3.10, Humble), not only on the 3.12 of the
main venv: f-strings reusing their quotes, for one, are 3.12 syntax and break a rig's import."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
OLDER = ["python3.10", "python3.11"]
PARSE_ALL = """
import ast, pathlib, sys
bad = []
for folder in sys.argv[1:]:
    for path in sorted(pathlib.Path(folder).rglob("*.py")):
        try:
            ast.parse(path.read_text(encoding="utf-8"), str(path))
        except SyntaxError as err:
            bad.append(f"{path}:{err.lineno}: {err.msg}")
print("\\n".join(bad))
sys.exit(1 if bad else 0)
"""


def _runs(python: str) -> bool:
    """False for a pyenv shim of a version that is installed but not selected."""
    try:
        return subprocess.run([python, "-c", "pass"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _interpreters() -> list[str]:
    found = [path for name in OLDER if (path := shutil.which(name)) and _runs(path)]
    oracle = REPO / ".venv-lerobot" / "bin" / "python"  # 3.11, built by the test command
    if oracle.exists():
        found.append(str(oracle))
    return found


@pytest.mark.parametrize("python", _interpreters() or [pytest.param(None, marks=pytest.mark.skip(
    reason="no python3.10 / python3.11 on PATH and no .venv-lerobot"))])
def test_sources_parse_on_older_pythons(python):
    folders = [str(REPO / name) for name in ("collector", "launch", "scripts") if (REPO / name).is_dir()]
    proc = subprocess.run([python, "-c", PARSE_ALL, *folders], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{python} cannot parse:\n{proc.stdout}{proc.stderr}"
