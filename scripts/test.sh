#!/usr/bin/env bash
# The test suite: unit tests plus integration tests with real DDS between real
# processes, and the export tests against LeRobot's own loader (in .venv-lerobot).
# Pass pytest arguments through, e.g. `bash scripts/test.sh -m "not slow"`.
# COLLECTOR_SKIP_LEROBOT=1 skips building the LeRobot venv (its tests then skip).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "${COLLECTOR_SKIP_LEROBOT:-0}" != 1 ]; then
  bash scripts/lerobot_env.sh
fi
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST MUJOCO_GL="${MUJOCO_GL:-egl}"
exec .venv/bin/python -m pytest "$@"
