#!/usr/bin/env python3
"""Reference tracks from BoxMOT for the tracker parity check (issue 3).

Feeds a detections dump (JSON lines from `trafficpublish`, one per frame) frame by frame to
BoxMOT's ByteTrack or OC-SORT and writes what `update` returns as MOT-style CSV,
`frame,id,x1,y1,x2,y2,score,class`, the format of
`plugins/traffic-vision/examples/track_replay.rs`. Compare with `scripts/compare_tracks.py`.

Only BoxMOT's public tracker classes are called; no BoxMOT code is in this repository
(BoxMOT is AGPL-3.0: install it in a throw-away environment, never vendor it):

    python3 -m venv /tmp/boxmotvenv
    /tmp/boxmotvenv/bin/pip install boxmot==13.0.17 numpy==2.2.6
    /tmp/boxmotvenv/bin/python benches/reference/boxmot_replay.py \
        --algorithm bytetrack build/parity/residential.c010.det.jsonl -o ref.csv

Written against BoxMOT 13.0.x, whose trackers are the single files
`trackers/bytetrack/bytetrack.py` and `trackers/ocsort/ocsort.py` that our tracker follows
(later releases changed constructor names and defaults and OC-SORT's Kalman noise).
numpy is pinned (2.2.6) because BoxMOT 13.0.x's OC-SORT re-update calls float() on a
one-element array: an error with numpy 2.4.6, a warning with 2.2.6. BoxMOT turns any
numpy `dets` into float32 (its setup decorator goes through `ndarray.data`), so scores are
compared as float32 values against float64 thresholds: a score that prints as exactly the
threshold (0.45, 0.2) lands on the side its float32 rounding falls, unlike our tracker,
where it is in neither.
Every threshold is passed explicitly; the defaults below are those of our
`TrackerConfig::bytetrack()` / `TrackerConfig::ocsort()`, so that the same flags on both
replays mean the same settings. The image given to `update` is a blank frame of the dump's
size: neither tracker looks at pixels (no ReID, no camera-motion compensation).
"""

import argparse
import json
import sys

import numpy as np

DEFAULTS = {
    "bytetrack": dict(track_thresh=0.45, track_thresh_low=0.1, high_thresh=0.45,
                      match_thresh=0.8, track_buffer=30),
    "ocsort": dict(track_thresh=0.2, track_thresh_low=0.1, high_thresh=0.2, iou_thresh=0.3,
                   track_buffer=30, min_hits=3, delta_t=3, inertia=0.2),
}


def make_tracker(a):
    import boxmot

    per_class = not a.class_flicker
    if a.algorithm == "bytetrack":
        # BoxMOT starts tracks from detections above track_thresh (det_thresh = track_thresh).
        if a.high_thresh != a.track_thresh:
            sys.exit("boxmot_replay: BoxMOT's ByteTrack has high_thresh == track_thresh")
        return boxmot.ByteTrack(
            min_conf=a.track_thresh_low,
            track_thresh=a.track_thresh,
            match_thresh=a.match_thresh,
            track_buffer=a.track_buffer,
            frame_rate=30,  # buffer = int(frame_rate / 30 * track_buffer) = track_buffer
            per_class=per_class,
        )
    # OC-SORT starts a track from every detection it uses (score > det_thresh).
    if a.high_thresh != a.track_thresh:
        sys.exit("boxmot_replay: BoxMOT's OC-SORT has high_thresh == det_thresh")
    return boxmot.OcSort(
        per_class=per_class,
        min_conf=a.track_thresh_low,  # read only with use_byte
        det_thresh=a.track_thresh,
        max_age=a.track_buffer,
        min_hits=a.min_hits,
        asso_threshold=a.iou_thresh,
        delta_t=a.delta_t,
        asso_func="iou",
        inertia=a.inertia,
        use_byte=False,
        Q_xy_scaling=0.01,
        Q_s_scaling=0.0001,
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("detections")
    ap.add_argument("-o", "--output", default="-")
    ap.add_argument("--algorithm", choices=["bytetrack", "ocsort"], default="bytetrack")
    ap.add_argument("--track-thresh", type=float)
    ap.add_argument("--track-thresh-low", type=float)
    ap.add_argument("--high-thresh", type=float)
    ap.add_argument("--match-thresh", type=float)
    ap.add_argument("--iou-thresh", type=float)
    ap.add_argument("--track-buffer", type=int)
    ap.add_argument("--min-hits", type=int)
    ap.add_argument("--delta-t", type=int)
    ap.add_argument("--inertia", type=float)
    ap.add_argument("--class-flicker", choices=["true", "false"], default="true")
    ap.add_argument("--print-config", action="store_true")
    a = ap.parse_args()
    for k, v in DEFAULTS[a.algorithm].items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    a.class_flicker = a.class_flicker == "true"

    tracker = make_tracker(a)
    if a.print_config:
        import boxmot

        attrs = {k: v for k, v in vars(tracker).items()
                 if isinstance(v, (int, float, bool, str)) and not k.startswith("_")}
        print(f"boxmot {boxmot.__version__} {type(tracker).__name__} {attrs}", file=sys.stderr)

    out = sys.stdout if a.output == "-" else open(a.output, "w")
    out.write("frame,id,x1,y1,x2,y2,score,class\n")
    img = None
    with open(a.detections) as f:
        for line in f:
            if not line.strip():
                continue
            rec = json.loads(line)
            if img is None:
                img = np.zeros((rec["height"], rec["width"], 3), dtype=np.uint8)
            objs = rec.get("objects") or []
            dets = np.array(
                [o["box"] + [o["confidence"], o["class_id"]] for o in objs], dtype=np.float64
            ).reshape(-1, 6)
            res = tracker.update(dets, img)
            # Rows: x1, y1, x2, y2, id, conf, cls, det_ind.
            for r in np.asarray(res).reshape(-1, 8) if np.size(res) else ():
                out.write(f"{rec['frame']},{int(r[4])},{r[0]:.3f},{r[1]:.3f},{r[2]:.3f},"
                          f"{r[3]:.3f},{r[5]:.4f},{int(r[6])}\n")
    if out is not sys.stdout:
        out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
