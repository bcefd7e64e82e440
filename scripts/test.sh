#!/usr/bin/env bash
# The test suite: unit tests plus integration tests with real DDS between real
# processes. Pass pytest arguments through, e.g. `bash scripts/test.sh -m "not slow"`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
exec .venv/bin/python -m pytest "$@"
