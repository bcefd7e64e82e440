#!/usr/bin/env bash
# The main job: record two short episodes from the synthetic Bao'an humanoid through
# the real recorder (separate processes, real DDS), then inspect them and show how
# their streams align on one time grid (report + plot).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-42}" ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
out="out/demo/$(date +%Y%m%d_%H%M%S)"
.venv/bin/collector record --rig baoan_humanoid --out "$out" --synthetic --headless \
  --episodes 2 --episode-seconds 5 --operator demo_op_01 \
  --task "把红色连接器插入主板 / insert the red connector into the board"
.venv/bin/collector inspect "$out" --sync --plot "$out/sync.png"
echo "episodes: $out"
