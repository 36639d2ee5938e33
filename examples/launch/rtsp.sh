#!/usr/bin/env bash
# Live analysis of an RTSP camera: JSON lines on stdout, annotated video in a window.
#   examples/launch/rtsp.sh rtsp://user:pass@camera:554/stream
#   /usr/bin/python3 examples/rtsp/serve.py VIDEO    a test camera at rtsp://127.0.0.1:8554/stream
#   SINK=fakesink examples/launch/rtsp.sh URL         no window (servers, containers)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
URL="${1:?usage: rtsp.sh rtsp://HOST:PORT/PATH}"
SINK="${SINK:-autovideosink}"

# rtspsrc latency=200: a 200 ms jitter buffer, enough on a LAN (the default is 2 s);
# protocols=tcp avoids UDP losses through NAT and firewalls.
# The leaky queue keeps the latency bounded when inference is slower than the camera (see
# webcam.sh). rtspsrc does not reconnect when the camera drops: the trafficsrc element
# (uri=rtsp://..., it reconnects and keeps the tracks) and the traffic-monitor app do.
# trafficpublish location=- writes the JSON lines to stdout; gst-launch's own messages go
# there too, so filter with: | grep '^{'
gst-launch-1.0 \
    rtspsrc location="$URL" latency=200 protocols=tcp ! decodebin ! \
    queue leaky=downstream max-size-buffers=1 max-size-bytes=0 max-size-time=0 ! \
    yolodetect ! mottracker ! linecounter lines="road:0,0.6,1,0.6:in/out" ! \
    trafficpublish location=- ! overlay ! videoconvert ! "$SINK" sync=false
