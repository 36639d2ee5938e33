#!/usr/bin/python3
"""Serve a video over RTSP: a file as a stand-in camera, or the output of any pipeline.

    /usr/bin/python3 examples/rtsp/serve.py VIDEO [--port 8554] [--mount /stream]
    /usr/bin/python3 examples/rtsp/serve.py --pipeline "LAUNCH" [--port ...] [--mount ...]
    gst-play-1.0 rtsp://127.0.0.1:8554/stream        # or: vlc rtsp://127.0.0.1:8554/stream

A producer pipeline runs on its own, at real-time speed, whether clients watch or not: with
VIDEO it decodes the file and seeks back to the start at its end (a camera that never ends);
with --pipeline it runs LAUNCH (its raw video output; examples/rtsp/restream.sh passes the
analysis there). It hands frames to the RTSP media through intervideosink/intervideosrc, so
clients join the live picture instead of each starting it over. The media is H.264 (x264enc,
zerolatency, a keyframe every --keyint frames so clients start quickly).
Prints "ready rtsp://HOST:PORT/MOUNT" on stdout once the server listens and frames flow, so
tests can wait for it. Needs gir1.2-gst-rtsp-server-1.0 (scripts/setup.sh installs it).
"""

import argparse
import os
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def fail(text):
    print("serve.py: " + text, file=sys.stderr, flush=True)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("video", nargs="?", help="video file to serve, looped")
    ap.add_argument("--pipeline", help="gst-launch description whose raw video output is served")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8554)
    ap.add_argument("--mount", default="/stream")
    ap.add_argument("--keyint", type=int, default=15, help="frames between keyframes")
    ap.add_argument("--bitrate", type=int, default=1500, help="kbit/s")
    args = ap.parse_args()
    if bool(args.video) == bool(args.pipeline):
        ap.error("give either VIDEO or --pipeline")

    Gst.init(None)
    head = args.pipeline or 'uridecodebin uri="%s"' % Gst.filename_to_uri(args.video)
    # The channel name is per process, so two servers side by side do not mix their frames.
    channel = "serve-%d" % os.getpid()
    try:
        producer = Gst.parse_launch(
            "%s ! videoconvert ! video/x-raw,format=I420 ! intervideosink name=sink channel=%s sync=true"
            % (head, channel)
        )
    except GLib.Error as e:
        fail("cannot build the pipeline: %s" % e.message)

    loop = GLib.MainLoop()

    def on_producer_message(_bus, msg):
        if msg.type == Gst.MessageType.EOS:
            # Loop: back to the start, as a camera that never ends.
            producer.seek_simple(Gst.Format.TIME, Gst.SeekFlags.FLUSH | Gst.SeekFlags.KEY_UNIT, 0)
        elif msg.type == Gst.MessageType.ERROR:
            err, debug = msg.parse_error()
            print("serve.py: %s (%s)" % (err.message, debug), file=sys.stderr, flush=True)
            loop.quit()
        return True

    bus = producer.get_bus()
    bus.add_signal_watch()
    bus.connect("message", on_producer_message)
    if producer.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
        fail("cannot play %s" % head)

    def serve(caps):
        # intervideosrc repeats frames at its own rate (30/1 by default): serve the producer's.
        ok, num, den = caps.get_structure(0).get_fraction("framerate")
        rate = "%d/%d" % (num, den) if ok and num > 0 else "25/1"
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(
            "( intervideosrc channel=%s ! video/x-raw,framerate=%s ! videoconvert ! "
            "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=%d bitrate=%d ! "
            "rtph264pay name=pay0 pt=96 config-interval=1 )" % (channel, rate, args.keyint, args.bitrate)
        )
        factory.set_shared(True)
        server = GstRtspServer.RTSPServer()
        server.set_address(args.host)
        server.set_service(str(args.port))
        server.get_mount_points().add_factory(args.mount, factory)
        if server.attach(None) == 0:
            print("serve.py: cannot listen on %s:%d" % (args.host, args.port), file=sys.stderr, flush=True)
            return None
        print("ready rtsp://%s:%d%s" % (args.host, args.port, args.mount), flush=True)
        return server

    # Serve once the first frame has come (a camera or a model may take seconds to start).
    sink_pad = producer.get_by_name("sink").get_static_pad("sink")
    served = []

    def wait_for_caps():
        caps = sink_pad.get_current_caps()
        if caps is None:
            return True
        server = serve(caps)
        if server is None:
            loop.quit()
        served.append(server)
        return False

    GLib.timeout_add(50, wait_for_caps)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, loop.quit)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    loop.run()
    producer.set_state(Gst.State.NULL)
    if served != [] and served[0] is None:
        sys.exit(1)


if __name__ == "__main__":
    main()
