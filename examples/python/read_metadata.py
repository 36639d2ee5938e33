#!/usr/bin/python3
"""Reads the traffic plugins' metadata from Python through GObject introspection (PyGObject).

Runs

    uridecodebin uri=SOURCE ! identity eos-after=FRAMES ! yolodetect ! mottracker !
        [platedetect ! plateocr !] linecounter lines=LINES ! fakesink

and prints one JSON line per frame with the objects exactly as `trafficpublish` writes them
(class, class_id, confidence, box [x1,y1,x2,y2] in pixels, track_id/age/predicted/track_class,
plate; crossings and totals on frames where a track crossed a line), plus one JSON line per
`traffic-crossing` and `traffic-summary` bus message ({"message": name, ...fields}).

    source scripts/env.sh
    /usr/bin/python3 examples/python/read_metadata.py \\
        ../shared/data/videos/ahmetozlu_residential_street.mp4 --frames 100

Needs python3-gi, gir1.2-gstreamer-1.0 and gir1.2-gst-plugins-base-1.0 (scripts/setup.sh
installs them), and the system interpreter /usr/bin/python3: a pyenv or venv python does not
see the Debian `gi` module.

What works on GStreamer 1.22's introspection, and what does not:
- `Gst.Buffer.foreach_meta` needs a writable buffer (a probe's buffer is not) and
  `gst_buffer_iterate_meta` is not introspectable, so the ROI metas are looked up by id with
  `GstVideo.buffer_get_video_region_of_interest_meta_id`: our elements number them 1..n on each
  buffer, and `Gst.Buffer.get_n_meta` says how many there are.
- `GstVideo.VideoRegionOfInterestMeta.get_param(name)` returns the param's `Gst.Structure`.
- Array fields (`GstValueArray`, in `traffic-summary` and `TrafficCountsMeta`) need the
  gst-python overrides for `Gst.Structure.get_value`; `Gst.Structure.get_array` reads them
  without, as a `GObject.ValueArray`.
"""

import argparse
import json
import math
import os
import sys
import threading
import traceback
import warnings

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import GLib, Gst, GstVideo  # noqa: E402

COUNTS_META = "TrafficCountsMeta"
PLATE_ROI_TYPE = "license_plate"
MESSAGES = ("traffic-crossing", "traffic-summary")
FAILED = "read-metadata-failed"

print_lock = threading.Lock()


def emit(value):
    """One JSON line; the probe (streaming thread) and the bus loop (main thread) both print."""
    with print_lock:
        print(json.dumps(value), flush=True)


def round_half_away(v, digits):
    """Rust's f64::round, as trafficpublish rounds (Python's round() rounds half to even)."""
    scaled = abs(v) * 10**digits
    r = math.floor(scaled)
    if scaled - r >= 0.5:
        r += 1
    return math.copysign(r, v) / 10**digits


def field(structure, getter, name, default=None):
    """A typed field, or `default`: `get_string` returns the value or None, the other getters
    an (ok, value) pair."""
    result = getattr(structure, getter)(name)
    if isinstance(result, tuple):
        ok, value = result
        return value if ok else default
    return default if result is None else result


def array_items(structure, name):
    """The items of an array field, converted while the array (which owns them) is alive."""
    ok, array = structure.get_array(name)
    if not ok:
        return []
    with warnings.catch_warnings():
        # GValueArray is deprecated in GLib, but it is what gst_structure_get_array returns.
        warnings.simplefilter("ignore", DeprecationWarning)
        return [to_json_value(array.get_nth(i)) for i in range(array.n_values)]


def structure_to_dict(structure):
    """Every field of a structure; nested structures and arrays of them recursively."""
    out = {}
    for i in range(structure.n_fields()):
        name = structure.nth_field_name(i)
        try:
            value = structure.get_value(name)
        except TypeError:  # a GstValueArray
            value = array_items(structure, name)
        out[name] = to_json_value(value)
    return out


def to_json_value(value):
    if isinstance(value, Gst.Structure):
        return structure_to_dict(value)
    if isinstance(value, list):
        return [to_json_value(v) for v in value]
    return value


def read_rois(buffer, width, height):
    """The buffer's ROIs with their params, in the order they were attached."""
    count = buffer.get_n_meta(GstVideo.video_region_of_interest_meta_api_get_type())
    rois = []
    for roi_id in range(1, count + 1):
        meta = GstVideo.buffer_get_video_region_of_interest_meta_id(buffer, roi_id)
        if meta is None:
            continue
        roi = {
            "roi_id": meta.id,
            "parent_id": meta.parent_id,
            "roi_type": GLib.quark_to_string(meta.roi_type),
            "box": [meta.x, meta.y, meta.x + meta.w, meta.y + meta.h],
            "detection": None,
            "track": None,
            "plate": None,
        }
        detection = meta.get_param("detection")
        if detection is not None:
            norm = [field(detection, "get_double", f) for f in ("x_min", "y_min", "x_max", "y_max")]
            if None not in norm:
                # The exact box: the ROI rectangle itself is rounded out to whole pixels.
                roi["box"] = [norm[0] * width, norm[1] * height, norm[2] * width, norm[3] * height]
            roi["detection"] = {
                "label": field(detection, "get_string", "label", roi["roi_type"]),
                "label_id": field(detection, "get_uint", "label_id", 0),
                "confidence": field(detection, "get_double", "confidence", 0.0),
            }
        track = meta.get_param("object_id")
        if track is not None and field(track, "get_uint64", "id") is not None:
            roi["track"] = {
                "id": field(track, "get_uint64", "id"),
                "age": field(track, "get_uint", "age", 0),
                "predicted": field(track, "get_boolean", "predicted", False),
                "label": field(track, "get_string", "label", roi["roi_type"]),
            }
        plate = meta.get_param("plate")
        if plate is not None and field(plate, "get_string", "text") is not None:
            roi["plate"] = {
                "text": field(plate, "get_string", "text"),
                "confidence": field(plate, "get_double", "confidence", 0.0),
                "track_text": field(plate, "get_string", "track_text", ""),
                "track_confidence": field(plate, "get_double", "track_confidence", 0.0),
            }
        rois.append(roi)
    return rois


def box_json(box):
    return [round_half_away(v, 2) for v in box]


def plate_json(plate_roi):
    out = {"box": box_json(plate_roi["box"])}
    if plate_roi["detection"]:
        out["confidence"] = round_half_away(plate_roi["detection"]["confidence"], 3)
    text = plate_roi["plate"]
    if text:
        out["text"] = text["text"]
        out["text_confidence"] = round_half_away(text["confidence"], 3)
        out["track_text"] = text["track_text"]
        out["track_confidence"] = round_half_away(text["track_confidence"], 3)
    return out


def object_json(roi, plates):
    """An object as trafficpublish writes it."""
    detection = roi["detection"]
    out = {"class": detection["label"] if detection else roi["roi_type"]}
    if detection:
        out["class_id"] = detection["label_id"]
        out["confidence"] = round_half_away(detection["confidence"], 3)
    out["box"] = box_json(roi["box"])
    if roi["track"]:
        track = roi["track"]
        out.update(track_id=track["id"], age=track["age"], predicted=track["predicted"], track_class=track["label"])
        if track.get("speed_kmh") is not None:
            out["speed_kmh"] = round_half_away(track["speed_kmh"], 3)
    plate = next((p for p in plates if p["parent_id"] == roi["roi_id"]), None)
    if plate is not None:
        out["plate"] = plate_json(plate)
    elif roi["roi_type"] == PLATE_ROI_TYPE and roi["plate"]:
        out["plate"] = plate_json(roi)
    return out


def counts_json(buffer):
    """This frame's crossings and the running totals, from TrafficCountsMeta (as trafficpublish)."""
    meta = buffer.get_custom_meta(COUNTS_META)
    if meta is None:
        return {}
    counts = structure_to_dict(meta.get_structure())
    crossings = counts.get("crossings") or []
    if not crossings:
        return {}
    totals = {}
    for line in counts.get("lines") or []:
        per_class = totals.setdefault(line["name"], {})
        for total in line.get("totals") or []:
            # Both of the line's directions under each class, 0 where it did not cross that way.
            directions = per_class.setdefault(total["class"], {line["in"]: 0, line["out"]: 0})
            directions[total["direction"]] = directions.get(total["direction"], 0) + total["count"]

    def rounded(c, name):
        return round_half_away(c[name], 3) if c.get(name) is not None else None

    return {
        "crossings": [
            {
                "line": c["line"],
                "direction": c["direction"],
                "track_id": c["track_id"],
                "class": c["class"],
                "plate": c["plate"] or None,
                "speed_kmh": rounded(c, "speed_kmh"),
                "headway_s": rounded(c, "headway_s"),
                "wrong_way": bool(c.get("wrong_way", False)),
            }
            for c in crossings
        ],
        "totals": totals,
    }


def frame_json(index, buffer, width, height):
    rois = read_rois(buffer, width, height)
    plates = [r for r in rois if r["roi_type"] == PLATE_ROI_TYPE]
    ids = {r["roi_id"] for r in rois}
    objects = [object_json(r, plates) for r in rois if r["roi_type"] != PLATE_ROI_TYPE]
    objects += [object_json(p, []) for p in plates if p["parent_id"] not in ids]
    pts = buffer.pts if buffer.pts != Gst.CLOCK_TIME_NONE else None
    line = {"frame": index, "pts": pts, "width": width, "height": height, "objects": objects}
    line.update(counts_json(buffer))
    return line


def as_uri(source):
    if Gst.uri_is_valid(source):
        return source
    return Gst.filename_to_uri(os.path.abspath(source))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="a video file or a URI (file://, rtsp://, ...)")
    parser.add_argument("--frames", type=int, default=-1, help="stop after this many frames (default: all)")
    parser.add_argument("--lines", default="street:0,0.6,1,0.6:down/up", help="linecounter lines")
    parser.add_argument("--plates", action="store_true", help="detect and read licence plates too")
    args = parser.parse_args()

    Gst.init(None)
    plates = "platedetect ! plateocr ! " if args.plates else ""
    launch = (
        f'uridecodebin uri="{as_uri(args.source)}" ! identity eos-after={args.frames} ! '
        f'yolodetect ! mottracker ! {plates}linecounter lines="{args.lines}" ! fakesink name=sink sync=false'
    )
    try:
        pipeline = Gst.parse_launch(launch)
    except GLib.Error as e:
        sys.exit(
            f"read_metadata: {e.message}\n"
            "  'no element yolodetect': set GST_PLUGIN_PATH (source scripts/env.sh) and check "
            "`gst-inspect-1.0 traffic`"
        )

    frame_index = 0

    def on_buffer(pad, info):
        nonlocal frame_index
        try:
            s = pad.get_current_caps().get_structure(0)
            emit(frame_json(frame_index, info.get_buffer(), field(s, "get_int", "width"), field(s, "get_int", "height")))
        except Exception:  # noqa: BLE001 - report any failure once and stop, not once per frame
            failure = Gst.Structure.new_empty(FAILED)
            failure.set_value("reason", traceback.format_exc())
            pipeline.post_message(Gst.Message.new_application(pipeline, failure))
            return Gst.PadProbeReturn.REMOVE
        frame_index += 1
        return Gst.PadProbeReturn.OK

    pipeline.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, on_buffer)
    bus = pipeline.get_bus()
    wanted = Gst.MessageType.EOS | Gst.MessageType.ERROR | Gst.MessageType.ELEMENT | Gst.MessageType.APPLICATION
    timeout = Gst.CLOCK_TIME_NONE
    if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
        # An element that fails to start posts why (missing model, ONNX Runtime) on the bus.
        wanted, timeout = Gst.MessageType.ERROR, 5 * Gst.SECOND
    status = 0
    while True:
        msg = bus.timed_pop_filtered(timeout, wanted)
        if msg is None:
            print("read_metadata: the pipeline failed to start", file=sys.stderr)
            status = 1
            break
        if msg.type == Gst.MessageType.ELEMENT:
            s = msg.get_structure()
            if s.get_name() in MESSAGES:
                emit({"message": s.get_name(), **structure_to_dict(s)})
            continue
        if msg.type == Gst.MessageType.ERROR:
            err, debug = msg.parse_error()
            print(f"read_metadata: {err.message} ({debug})", file=sys.stderr)
            status = 1
        elif msg.type == Gst.MessageType.APPLICATION:
            print(f"read_metadata: {msg.get_structure().get_string('reason')}", file=sys.stderr)
            status = 1
        break
    pipeline.set_state(Gst.State.NULL)
    return status


if __name__ == "__main__":
    sys.exit(main())
