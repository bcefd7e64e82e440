#!/usr/bin/env bash
# The main job: simulated collection at the Bao'an station. The MuJoCo replica's scripted
# expert does the task three times (lock-step: physics, rendering and every rig stream written
# as the recorder writes them), each attempt labelled by the task's success predicate. (The
# ROS path, sim_robot + the real recorder, is `collector record --sim`; see the README.)
# Then: inspect and sync them (report + plot),
# export them to a LeRobot v3.0 dataset and an ALOHA/ACT HDF5 dataset, and validate both.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-42}" ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST MUJOCO_GL="${MUJOCO_GL:-egl}"
out="out/demo/$(date +%Y%m%d_%H%M%S)"
.venv/bin/collector sim collect --scene baoan_assembly --task part_to_bin --seed 0 --episodes 3 \
  --camera-size 320x240 --out "$out"
.venv/bin/collector inspect "$out" --sync --plot "$out/sync.png"
.venv/bin/collector export "$out" --format lerobot --out "$out/lerobot"
.venv/bin/collector validate "$out/lerobot"
.venv/bin/collector export "$out" --format hdf5 --out "$out/hdf5"
.venv/bin/collector validate "$out/hdf5"
.venv/bin/collector sim view --scene baoan_assembly --task part_to_bin --seed 0 --out "$out/part_to_bin.png"
echo "episodes: $out"
echo "LeRobot v3.0 dataset: $out/lerobot   (LeRobotDataset('local/demo', root='$out/lerobot'))"
echo "ALOHA/ACT HDF5 dataset: $out/hdf5"
echo "what the expert did: $out/part_to_bin.png"
