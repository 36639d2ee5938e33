#!/usr/bin/env bash
# Detect, track, read plates and count on a video file; writes the annotated video and one JSON
# line per frame.
#   examples/launch/file.sh [VIDEO] [OUT_DIR]        (defaults: the residential street clip, out/)
#   FRAMES=100 examples/launch/file.sh ...           stop after about 100 frames
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"   # GST_PLUGIN_PATH, TRAFFIC_WEIGHTS_DIR
VIDEO="${1:-$ROOT/../shared/data/videos/ahmetozlu_residential_street.mp4}"
OUT="${2:-$ROOT/out}"
mkdir -p "$OUT"

# A file is not live: no queue is needed, every frame is analysed, as fast as the CPU allows.
# -e sends EOS on Ctrl-C so mp4mux still writes a playable file.
# identity eos-after=-1 passes everything; FRAMES cuts the run short.
# linecounter's line: fractions of the frame (0,0.6 to 1,0.6), 'down' towards the camera.
gst-launch-1.0 -e \
    filesrc location="$VIDEO" ! decodebin ! identity eos-after="${FRAMES:--1}" ! \
    yolodetect ! mottracker ! platedetect ! plateocr ! \
    linecounter lines="street:0,0.6,1,0.6:down/up" ! \
    trafficpublish location="$OUT/file.jsonl" ! \
    overlay ! videoconvert ! x264enc speed-preset=veryfast ! mp4mux ! filesink location="$OUT/file.mp4"
echo "file.sh: wrote $OUT/file.jsonl and $OUT/file.mp4"
