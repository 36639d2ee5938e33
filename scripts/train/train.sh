#!/usr/bin/env bash
# `make train`: fine-tune yolov8n (COCO) for traffic cameras on this CPU (hours), in the background.
#   1. a venv with pinned torch + Ultralytics (build/trainenv),
#   2. the ATL data set, every file checked against scripts/train/atl-version-2.sha256,
#   3. training, detached (setsid nohup nice -n 19), logging to build/train/log; rerunning
#      `make train` resumes from build/train/runs/atl/weights/last.pt (or says it is running),
#   4. once training has finished, the next `make train` converts best.pt with
#      scripts/yolo_pt2onnx.py to build/train/yolov8n-traffic.onnx and prints its metrics.
# ATL_SRC: a folder holding datasets/car/ of github.com/yuskun/object_detected at ATL_COMMIT
# (default: cloned into build/train/src/atl). TRAIN_FOREGROUND=1 trains in the foreground.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TRAIN="$ROOT/build/train"
VENV="$ROOT/build/trainenv"
RUN="$TRAIN/runs/atl"
PINS="torch==2.15.0 torchvision==0.29.2 ultralytics==8.4.190"
ATL_REPO="https://github.com/yuskun/object_detected"
ATL_COMMIT="aa099629e3c774c7c77fd9404f39f355be164941"
ATL_SRC="${ATL_SRC:-$TRAIN/src/atl}"
export YOLO_CONFIG_DIR="$TRAIN/config" TRAIN_THREADS="${TRAIN_THREADS:-1}" OMP_NUM_THREADS="${TRAIN_THREADS:-1}"

say() { echo "train: $*"; }
mkdir -p "$TRAIN" "$YOLO_CONFIG_DIR"

# 1. Training venv, apart from build/pyenv (torch is large and only training needs it).
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
# shellcheck disable=SC2086  # PINS is a word list
if ! "$VENV/bin/python" -c "import sys; from importlib.metadata import version
sys.exit(any(version(p.split('==')[0]) != p.split('==')[1] for p in sys.argv[1:]))" $PINS 2>/dev/null; then
    say "installing $PINS into $VENV"
    "$VENV/bin/pip" install --quiet $PINS
fi

# 2. Data: pinned source files, remapped to COCO ids.
if [ ! -d "$ATL_SRC/datasets/car" ]; then
    say "cloning $ATL_REPO at $ATL_COMMIT"
    git clone --quiet --no-checkout "$ATL_REPO" "$TRAIN/src/object_detected"
    git -C "$TRAIN/src/object_detected" checkout --quiet "$ATL_COMMIT" -- datasets/car
    mkdir -p "$ATL_SRC" && mv "$TRAIN/src/object_detected/datasets" "$ATL_SRC/"
fi
if [ ! -f "$TRAIN/data/data.yaml" ]; then
    "$VENV/bin/python" "$ROOT/scripts/train/dataset.py" "$ATL_SRC" "$TRAIN/data"
fi

# 3. Training, detached so that it outlives this shell; one at a time.
if [ -f "$TRAIN/pid" ] && kill -0 "$(cat "$TRAIN/pid")" 2>/dev/null; then
    say "training is running (pid $(cat "$TRAIN/pid")); progress: tail -f $TRAIN/log, $RUN/results.csv"
    exit 0
fi
finished() { [ -f "$RUN/weights/last.pt" ] && "$VENV/bin/python" -c "import sys, torch
sys.exit(torch.load(sys.argv[1], map_location='cpu', weights_only=False).get('epoch', -1) != -1)" "$RUN/weights/last.pt"; }
if ! finished; then
    cmd=("$VENV/bin/python" "$ROOT/scripts/train/train.py" "$TRAIN/data/data.yaml" "$RUN")
    if [ "${TRAIN_FOREGROUND:-0}" = 1 ]; then
        nice -n 19 "${cmd[@]}" 2>&1 | tee -a "$TRAIN/log"
    else
        setsid nohup nice -n 19 "${cmd[@]}" >>"$TRAIN/log" 2>&1 </dev/null &
        echo $! >"$TRAIN/pid"
        say "training in the background (pid $!, $TRAIN_THREADS thread(s)); progress: tail -f $TRAIN/log;"
        say "rerun 'make train' to resume after a stop, and to convert once it has finished"
        exit 0
    fi
fi

# 4. Convert the best checkpoint (same converter as the COCO model).
"$ROOT/build/pyenv/bin/python" "$ROOT/scripts/yolo_pt2onnx.py" "$RUN/weights/best.pt" "$TRAIN/yolov8n-traffic.onnx"
sha256sum "$TRAIN/yolov8n-traffic.onnx"
say "validation (ATL valid+test), last epochs:"
tail -n 3 "$RUN/results.csv"
