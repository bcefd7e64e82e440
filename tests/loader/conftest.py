"""Small real datasets for the loader tests, written by our exporters.

The tests run in the LeRobot venv (torch, LeRobot); the datasets are written by
``make_datasets.py`` in the main venv, which has the synthetic robot and bag writer
(``COLLECTOR_MAIN_PYTHON`` overrides which Python; default ``.venv/bin/python``).
No torch import here: the main suite collects this folder too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MAIN_PYTHON = Path(os.environ.get("COLLECTOR_MAIN_PYTHON", REPO / ".venv" / "bin" / "python"))
MAKER = Path(__file__).with_name("make_datasets.py")


def make_datasets(out: Path, *args: str, timeout: float = 300) -> dict:
    """Run make_datasets.py in the main venv; its JSON summary."""
    python = MAIN_PYTHON if MAIN_PYTHON.exists() else Path(sys.executable)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    proc = subprocess.run([str(python), str(MAKER), str(out), *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=REPO)
    if proc.returncode != 0:
        raise AssertionError(f"make_datasets.py failed with {python}:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def made(tmp_path_factory) -> dict:
    """3 episodes (~42 frames, 64x48): LeRobot (2 export runs), HDF5, HDF5 with JPEG."""
    return make_datasets(tmp_path_factory.mktemp("loader"))


@pytest.fixture(scope="session")
def lerobot_root(made) -> Path:
    return Path(made["datasets"]["lerobot"])


@pytest.fixture(scope="session")
def hdf5_root(made) -> Path:
    return Path(made["datasets"]["hdf5"])
