"""Run the loader's tests (they need torch and LeRobot) in the LeRobot venv, from the main suite.

Skips when ``.venv-lerobot`` is missing or has no pytest (``bash scripts/lerobot_env.sh``
creates it with pytest). The datasets are written by this venv's Python.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.loader.conftest import REPO

ORACLE_PYTHON = REPO / ".venv-lerobot" / "bin" / "python"

pytestmark = [pytest.mark.skipif(not ORACLE_PYTHON.exists(), reason="LeRobot oracle venv .venv-lerobot is missing: "
                                 "run `bash scripts/lerobot_env.sh` to create it"), pytest.mark.slow]


def test_loader_suite_passes_in_oracle_venv():
    if subprocess.run([str(ORACLE_PYTHON), "-c", "import pytest, torch"], capture_output=True).returncode:
        pytest.skip(".venv-lerobot has no pytest or torch: rerun `bash scripts/lerobot_env.sh`")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["COLLECTOR_MAIN_PYTHON"] = sys.executable
    proc = subprocess.run([str(ORACLE_PYTHON), "-m", "pytest", "-q", "tests/loader", "-p", "no:cacheprovider",
                           "--ignore=tests/loader/test_in_oracle_venv.py"],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=280)
    tail = proc.stdout[-4000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, tail
    assert " passed" in proc.stdout and " skipped" not in proc.stdout, tail
