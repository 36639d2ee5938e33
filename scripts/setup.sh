#!/usr/bin/env bash
# One-shot developer setup: Debian packages, Rust check, Python tool venv,
# model weights. Idempotent and fast when everything is already in place.
set -euo pipefail

APT_PACKAGES="build-essential pkg-config python3-venv curl ca-certificates unzip \
libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev \
gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad \
gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools gstreamer1.0-rtsp gstreamer1.0-plugins-base-apps \
libgstrtspserver-1.0-dev redis-server chromium mosquitto mosquitto-clients libssl-dev \
python3-pip python3-gi python3-yaml gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 gir1.2-gst-rtsp-server-1.0"

# Python tools for scripts/yolo_pt2onnx.py (pinned so converted models are reproducible),
# onnxruntime's quantization tools for scripts/yolo_quantize.py (the int8 yolov8n),
# and redis for examples/redis-consumer.
PYTOOLS="numpy==2.3.5 onnx==1.19.1 onnxruntime==1.32.0 redis==8.1.0"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYENV="$ROOT/build/pyenv"
status=0

say() { echo "setup: $*"; }

# 1. Debian packages: ask dpkg first so the common case needs no apt/network.
missing=()
for p in $APT_PACKAGES; do
    if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" != "install ok installed" ]; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { say "need root or sudo to install: ${missing[*]}"; exit 1; }
        SUDO="sudo"
    fi
    say "installing ${missing[*]}"
    $SUDO apt-get update
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

# 2. Rust: rustup's download host is not reachable here, so only check.
if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
    say "cargo found in ~/.cargo/bin (add it to PATH: source \"\$HOME/.cargo/env\")"
fi
if ! command -v cargo >/dev/null; then
    say "ERROR: Rust toolchain (cargo) not found. Install it with rustup"
    say "       (https://rustup.rs) on a machine that can reach it; this script does not download it."
    status=1
fi

# 3. Python venv with pinned tools; reinstall only when a pin is not met.
if [ ! -x "$PYENV/bin/python" ]; then
    say "creating $PYENV"
    python3 -m venv "$PYENV"
fi
# shellcheck disable=SC2086  # PYTOOLS is a word list on purpose
if ! "$PYENV/bin/python" - $PYTOOLS <<'EOF'
import sys
from importlib.metadata import version, PackageNotFoundError
for spec in sys.argv[1:]:
    name, want = spec.split("==")
    try:
        if version(name) != want:
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
EOF
then
    say "installing $PYTOOLS into $PYENV"
    # shellcheck disable=SC2086
    "$PYENV/bin/python" -m pip install --quiet $PYTOOLS
fi

# 4. Model weights and ONNX Runtime library.
"$ROOT/scripts/fetch_models.sh"

if [ "$status" -ne 0 ]; then
    say "incomplete (see errors above)"
else
    say "done. Next: cargo build --release && source scripts/env.sh"
fi
exit "$status"
