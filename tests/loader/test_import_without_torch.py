"""``import collector.loader`` pulls in neither torch nor ROS nor MuJoCo."""

from __future__ import annotations

import subprocess
import sys

from tests.loader.conftest import REPO


def test_import_needs_no_torch():
    code = ("import sys, collector.loader; "
            "bad = [m for m in ('torch', 'rclpy', 'mujoco', 'av', 'h5py') if m in sys.modules]; "
            "assert not bad, bad; print('ok')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
