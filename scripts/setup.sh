#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment in .venv with everything the
# main job and the tests need: collector itself, the ROS 2 Kilted wheels from PyPI
# (rclpy, message packages, Fast DDS), and the test tools. Idempotent and quiet when
# nothing changed. Usage: source-free; other scripts call it and use .venv/bin/python.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {
  for candidate in "${COLLECTOR_PYTHON:-}" python3.12 /root/.pyenv/versions/3.12*/bin/python3.12 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  echo "error: need Python >= 3.10 (3.12 preferred); set COLLECTOR_PYTHON" >&2
  return 1
}

if [ ! -x .venv/bin/python ]; then
  python=$(find_python)
  echo "setup: creating .venv with $python" >&2
  "$python" -m venv .venv
fi

# Reinstall only when the dependency declaration changed.
stamp=.venv/.collector-setup
wanted=$(cat setup.py setup.cfg | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "setup: installing collector with ROS 2 wheels and test tools (first run takes a minute)" >&2
  log=.venv/pip-install.log
  if ! .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[ros,test]' >"$log" 2>&1; then
    grep -v '^WARNING: Location' "$log" >&2
    echo "error: pip install failed (full log: $log)" >&2
    exit 1
  fi
  echo "$wanted" > "$stamp"
fi
