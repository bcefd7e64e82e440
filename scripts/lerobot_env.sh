#!/usr/bin/env bash
# Create (or refresh) .venv-lerobot: Hugging Face LeRobot, the compatibility oracle for our
# LeRobot v3.0 exporter. Tests load exported datasets with LeRobot's own
# LeRobotDataset(repo_id, root=DIR), offline, through .venv-lerobot/bin/python
# (see tests/export/lerobot_probe.py). Idempotent and quiet when nothing changed.
#
# What goes in, and why (bench/lerobot_format_notes.md has the details):
#   * Python 3.11: the torch wheels below lie on this machine's disk for 3.11 only.
#   * torch 2.14.1 + torchvision 0.29.1 from disk (a CUDA build, ~5.5 GB, runs on the CPU).
#     The CPU torch 2.13.0 on disk is smaller, but PyPI's torchvision cannot be imported beside
#     it ("operator torchvision::nms does not exist"), and LeRobot imports torchvision.
#   * lerobot 0.4.4 with --no-deps: it pins torch<2.11 / torchvision<0.26 / torchcodec<0.11,
#     which would pull a multi-GB CUDA torch download. Its dataset code runs on the newer torch.
#     We install only what lerobot.datasets imports, within lerobot's declared ranges.
#   * torchcodec (ABI-stable against torch >= 2.11 since 0.12): LeRobot 0.4.4's only working
#     video decoder here. Its "pyav" fallback needs torchvision.io.VideoReader, which
#     torchvision 0.29 no longer has. torchcodec loads the system FFmpeg libraries, so the
#     Debian FFmpeg 5.1 runtime libraries are installed with apt-get when missing.
#   * collector itself, editable, without the ROS extras.
#   * pytest (+ pytest-timeout): tests/loader runs here (torch), driven by tests/loader/test_in_oracle_venv.py.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-lerobot
LEROBOT_VERSION=0.4.4
TORCH_PINS=(torch==2.14.1 torchvision==0.29.1)
TORCHCODEC_PIN=torchcodec==0.17.0
# What lerobot.datasets imports (ranges copied from lerobot 0.4.4's metadata).
LEROBOT_DATASET_DEPS=(
  "datasets>=4.0.0,<5.0.0"
  "huggingface-hub>=0.34.2,<0.36.0"
  "accelerate>=1.10.0,<2.0.0"
  "av>=15.0.0,<16.0.0"
  "packaging>=24.2,<26.0"
)
FFMPEG_DEBS=(libavcodec59 libavformat59 libavutil57 libavdevice59 libavfilter8 libswscale6 libswresample4)

die() { echo "error: lerobot_env: $*" >&2; exit 1; }

find_python() {
  for candidate in "${LEROBOT_PYTHON:-}" /root/.pyenv/versions/3.11*/bin/python3.11 python3.11; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 \
      && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  die "need Python 3.11 (the torch wheels on disk are cp311); set LEROBOT_PYTHON"
}

have_ffmpeg_libs() {  # no `ldconfig -p | grep -q`: with pipefail, grep's early exit fails the pipe
  local libs; libs=$(ldconfig -p)
  [[ $libs == *"libavcodec.so.59 "* && $libs == *"libavdevice.so.59 "* && $libs == *"libavfilter.so.8 "* ]]
}

pip_quiet() {  # pip_quiet LOGNAME ARGS...: run pip, show its log only on failure
  local log="$VENV/pip-$1.log"; shift
  if ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$@" >"$log" 2>&1; then
    grep -v '^WARNING: Location' "$log" | tail -n 30 >&2
    die "pip install $* failed (full log: $log)"
  fi
}

stamp=$VENV/.lerobot-setup
wanted=$(cat scripts/lerobot_env.sh setup.py setup.cfg | sha256sum | cut -d' ' -f1)
if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ] && have_ffmpeg_libs; then
  exit 0
fi

if ! have_ffmpeg_libs; then
  echo "lerobot_env: installing FFmpeg runtime libraries for torchcodec (apt-get)" >&2
  command -v apt-get >/dev/null 2>&1 || die "FFmpeg 5.1 libraries (libavcodec59 ...) missing and no apt-get"
  aptlog=$(mktemp)
  if ! { apt-get install -y -q --no-install-recommends "${FFMPEG_DEBS[@]}" >"$aptlog" 2>&1 \
         || { apt-get update -q >>"$aptlog" 2>&1 \
              && apt-get install -y -q --no-install-recommends "${FFMPEG_DEBS[@]}" >>"$aptlog" 2>&1; }; }; then
    tail -n 20 "$aptlog" >&2
    die "apt-get install ${FFMPEG_DEBS[*]} failed"
  fi
  rm -f "$aptlog"
fi

if [ ! -x "$VENV/bin/python" ]; then
  python=$(find_python)
  echo "lerobot_env: creating $VENV with $python" >&2
  "$python" -m venv "$VENV" || die "could not create $VENV"
fi
"$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
  || die "$VENV is not Python 3.11: remove it and rerun"

echo "lerobot_env: installing torch, lerobot $LEROBOT_VERSION and collector into $VENV (first run takes a few minutes, ~6 GB)" >&2
rm -f "$stamp"
pip_quiet torch "${TORCH_PINS[@]}"
pip_quiet lerobot --no-deps "lerobot==$LEROBOT_VERSION"
pip_quiet deps "${LEROBOT_DATASET_DEPS[@]}" "$TORCHCODEC_PIN" "${TORCH_PINS[@]}"
pip_quiet collector -e . "${TORCH_PINS[@]}"
# collector's loader tests (tests/loader) run in this venv: pytest for them
pip_quiet pytest pytest pytest-timeout

# Prove the oracle imports (torchvision's C++ ops and torchcodec's FFmpeg binding included).
if ! check=$("$VENV/bin/python" - 2>&1 <<'EOF'
import torchvision.ops  # noqa: F401  (fails when torch and torchvision do not match)
from torchcodec.decoders import VideoDecoder  # noqa: F401  (fails without FFmpeg libraries)
from lerobot.datasets.lerobot_dataset import LeRobotDataset  # noqa: F401
import collector  # noqa: F401
EOF
); then
  echo "$check" | tail -n 15 >&2
  die "$VENV was installed but LeRobot does not import"
fi
echo "$wanted" > "$stamp"
