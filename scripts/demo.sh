#!/usr/bin/env bash
# The main job: detection, tracking and counting on the residential street video (or bus.jpg when the shared data is
# not there): metadata in out/demo.jsonl, the annotated video in out/demo.mp4.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/env.sh
source scripts/env.sh
mkdir -p out
video="${1:-../shared/data/videos/ahmetozlu_residential_street.mp4}"
if [ -f "$video" ]; then
    echo "demo: $video"
    source_part=(filesrc location="$video" ! decodebin)
else
    echo "demo: $video not found, using weights/bus.jpg"
    source_part=(filesrc location=weights/bus.jpg ! jpegdec ! imagefreeze num-buffers=1)
fi
# The line crosses the residential street at 60 % of the frame height, where every car is
# fully visible; 'down' is towards the camera.
gst-launch-1.0 -e "${source_part[@]}" ! yolodetect ! mottracker ! \
    linecounter lines="street:0,0.6,1,0.6:down/up" ! \
    trafficpublish location=out/demo.jsonl ! overlay ! \
    videoconvert ! x264enc speed-preset=veryfast ! mp4mux ! filesink location=out/demo.mp4
echo "demo: wrote out/demo.jsonl ($(wc -l < out/demo.jsonl) frames) and out/demo.mp4 (annotated)"
