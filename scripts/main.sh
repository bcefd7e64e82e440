#!/usr/bin/env bash
# The main job: record two short episodes from the synthetic Bao'an humanoid through
# the real recorder (separate processes, real DDS), inspect them and show how their
# streams align on one time grid (report + plot), then export them to a LeRobot v3.0
# dataset and an ALOHA/ACT HDF5 dataset and validate both.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-42}" ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
out="out/demo/$(date +%Y%m%d_%H%M%S)"
.venv/bin/collector record --rig baoan_humanoid --out "$out" --synthetic --headless \
  --episodes 2 --episode-seconds 5 --operator demo_op_01 \
  --task "把红色连接器插入主板 / insert the red connector into the board"
.venv/bin/collector inspect "$out" --sync --plot "$out/sync.png"
.venv/bin/collector export "$out" --format lerobot --out "$out/lerobot"
.venv/bin/collector validate "$out/lerobot"
.venv/bin/collector export "$out" --format hdf5 --out "$out/hdf5"
.venv/bin/collector validate "$out/hdf5"
echo "episodes: $out"
echo "LeRobot v3.0 dataset: $out/lerobot   (LeRobotDataset('local/demo', root='$out/lerobot'))"
echo "ALOHA/ACT HDF5 dataset: $out/hdf5"
