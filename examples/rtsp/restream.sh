#!/usr/bin/env bash
# Restream: analyse a camera (or a file) and serve the annotated video over RTSP.
#
#   examples/rtsp/restream.sh rtsp://camera:554/stream        # or file:///path/video.mp4
#   gst-play-1.0 rtsp://127.0.0.1:8555/traffic                 # watch it (or: vlc, ffplay)
#
# Options through the environment: PORT (8555), MOUNT (/traffic), HOST (127.0.0.1; 0.0.0.0 to
# serve other machines), LINES (the counting lines, linecounter syntax).
# The analysis runs all the time, watched or not: trafficsrc (reconnects a dropped camera with
# backoff, leaky queue so slow inference drops frames rather than lagging) ! yolodetect !
# mottracker ! linecounter ! overlay. examples/rtsp/serve.py hands its frames to the RTSP
# server (H.264, x264enc zerolatency); while the camera is away, viewers see the last picture
# and then black, and the counts carry on when it is back. A file is looped.
# Try it without a camera:
#   /usr/bin/python3 examples/rtsp/serve.py ../shared/data/videos/ahmetozlu_residential_street.mp4 &
#   examples/rtsp/restream.sh rtsp://127.0.0.1:8554/stream
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
URI="${1:?usage: restream.sh rtsp://HOST:PORT/PATH | file:///PATH}"
LINES="${LINES:-road:0,0.6,1,0.6:in/out}"

exec /usr/bin/python3 "$ROOT/examples/rtsp/serve.py" \
    --host "${HOST:-127.0.0.1}" --port "${PORT:-8555}" --mount "${MOUNT:-/traffic}" \
    --pipeline "trafficsrc uri=\"$URI\" ! yolodetect ! mottracker ! linecounter lines=\"$LINES\" ! overlay"
