#!/usr/bin/env bash
# Create (or refresh) .venv-lerobot06: LeRobot 0.6.x on Python 3.12, a second compatibility
# oracle beside .venv-lerobot (0.4.4). Not part of the default test command: LeRobot 0.6 pins
# torch < 2.12, which is a ~5 GB CUDA build downloaded from PyPI (about 4 minutes here). When
# this venv exists, tests/export/test_lerobot_loads.py also loads our exports with it.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-lerobot06
LEROBOT_PIN="lerobot[dataset]==0.6.1"
die() { echo "error: lerobot06_env: $*" >&2; exit 1; }
stamp=$VENV/.lerobot-setup
wanted=$(cat scripts/lerobot06_env.sh | sha256sum | cut -d' ' -f1)
if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
  exit 0
fi
python=""
for candidate in "${LEROBOT06_PYTHON:-}" python3.12 /root/.pyenv/versions/3.12*/bin/python3.12; do
  [ -n "$candidate" ] || continue
  if command -v "$candidate" >/dev/null 2>&1 \
    && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then
    python=$(command -v "$candidate"); break
  fi
done
[ -n "$python" ] || die "need Python 3.12 for LeRobot 0.6; set LEROBOT06_PYTHON"
[ -x "$VENV/bin/python" ] || "$python" -m venv "$VENV" || die "could not create $VENV"
echo "lerobot06_env: installing $LEROBOT_PIN into $VENV (~5 GB from PyPI)" >&2
log=$VENV/pip.log
if ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$LEROBOT_PIN" >"$log" 2>&1; then
  grep -v '^WARNING: Location' "$log" | tail -n 30 >&2
  die "pip install $LEROBOT_PIN failed (full log: $log)"
fi
"$VENV/bin/python" -c 'from lerobot.datasets.lerobot_dataset import LeRobotDataset' \
  || die "$VENV was installed but LeRobot does not import"
echo "$wanted" > "$stamp"
