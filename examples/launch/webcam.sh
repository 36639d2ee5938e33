#!/usr/bin/env bash
# Live analysis of a V4L2 camera, shown in a window.
#   examples/launch/webcam.sh [DEVICE]               (default /dev/video0)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
DEVICE="${1:-/dev/video0}"

# A camera delivers frames at its own pace whether we keep up or not. Without a leaky queue a
# slow detector backs the frames up and the latency grows for as long as the pipeline runs.
# The queue holds one frame and, when inference is busy, drops the older one
# (leaky=downstream): the analysis always sees the newest picture, at the cost of skipped
# frames (the queue's 'overrun' signal, GST_DEBUG=queue_dataflow:5 shows them).
# yolodetect interval=2 halves the inference cost; mottracker predicts the boxes in between.
# videoconvert turns the camera's YUY2 or MJPEG-decoded output into a format the elements read.
# sync=false: show each frame when it is ready instead of holding it for its timestamp.
gst-launch-1.0 \
    v4l2src device="$DEVICE" ! decodebin ! videoconvert ! \
    queue leaky=downstream max-size-buffers=1 max-size-bytes=0 max-size-time=0 ! \
    yolodetect interval=2 ! mottracker ! \
    linecounter lines="road:0,0.6,1,0.6:in/out" ! \
    overlay ! videoconvert ! autovideosink sync=false
