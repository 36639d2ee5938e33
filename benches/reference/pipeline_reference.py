#!/usr/bin/env python3
"""The traffic pipeline as users write it in Python today; the baseline of `scripts/bench`.

OpenCV capture -> yolov8n.onnx through onnxruntime -> Roboflow's ByteTrack (the `trackers`
package, where supervision 0.31 moved its ByteTrack) -> supervision LineZone -> plate
detection (weights/platedet.onnx, onnxruntime) on the whole frame and RapidOCR (PP-OCRv6 rec
small, the same file as weights/) on each plate -> supervision/cv2 drawing -> cv2.VideoWriter.

The same models, thresholds, classes, input shape and counting line as `bench_pipeline`
(ours): yolodetect's rectangular letterbox (long side 640, each side padded to a multiple of
32, grey 114, OpenCV bilinear resize), confidence 0.25, class-agnostic NMS at IoU 0.45, classes
car/motorcycle/bus/truck, bottom-centre anchor on the line; ONNX Runtime with intra-op 2 and
inter-op 1 threads, graph optimisation "all". With --interval N the models run on every Nth
frame and the frames between are drawn with the last results, as users skip frames.

Prints one JSON object: frames, wall_s, fps, stage_ms_per_frame, counts. Wall time runs from
the first frame read to the last frame written; loading the models is not counted.

Run by scripts/bench in build/benchenv (benches/reference/requirements.txt):
    build/benchenv/bin/python benches/reference/pipeline_reference.py --video V [--frames N]
        [--interval N] [--threads N] [--no-plates] [--output out/bench/ref.mp4]
"""
import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import supervision as sv
from rapidocr import RapidOCR
from trackers import ByteTrackTracker

ROOT = Path(__file__).resolve().parents[2]
VEHICLES = {2: "car", 3: "motorcycle", 5: "bus", 7: "truck"}
CONF, IOU, LONG_SIDE, STRIDE = 0.25, 0.45, 640, 32
PLATE_CONF = 0.25


def session(path, threads):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def letterbox(img, dst_w, dst_h, new_w, new_h):
    """Ultralytics' letterbox: resize keeping the aspect, centre, pad with grey 114."""
    left = max(0, round((dst_w - new_w) / 2 - 0.1))
    top = max(0, round((dst_h - new_h) / 2 - 0.1))
    resized = cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    out = cv2.copyMakeBorder(resized, top, dst_h - new_h - top, left, dst_w - new_w - left,
                             cv2.BORDER_CONSTANT, value=(114, 114, 114))
    return out, left, top


def to_tensor(img_bgr, dtype):
    rgb = cv2.cvtColor(img_bgr, cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(rgb.transpose(2, 0, 1)[None]).astype(dtype) / np.array(255, dtype)


def decode_yolo(out, scale, left, top, classes):
    """[1, 4+C, N] -> xyxy in frame pixels, scores, class ids; agnostic NMS."""
    pred = out[0].T.astype(np.float32)
    scores_all = pred[:, 4:]
    class_id = scores_all.argmax(1)
    score = scores_all[np.arange(len(pred)), class_id]
    keep = score > CONF
    if classes is not None:
        keep &= np.isin(class_id, classes)
    pred, class_id, score = pred[keep], class_id[keep], score[keep]
    xywh = pred[:, :4].copy()
    xywh[:, 0] -= xywh[:, 2] / 2
    xywh[:, 1] -= xywh[:, 3] / 2
    idx = cv2.dnn.NMSBoxes(xywh.tolist(), score.tolist(), CONF, IOU)
    idx = np.array(idx, dtype=int).reshape(-1)
    xyxy = xywh[idx].copy()
    xyxy[:, 2] += xyxy[:, 0]
    xyxy[:, 3] += xyxy[:, 1]
    xyxy[:, [0, 2]] = (xyxy[:, [0, 2]] - left) / scale
    xyxy[:, [1, 3]] = (xyxy[:, [1, 3]] - top) / scale
    return xyxy, score[idx], class_id[idx]


class Stages:
    def __init__(self):
        self.ms = {}

    def add(self, name, t0):
        t = time.perf_counter()
        self.ms[name] = self.ms.get(name, 0.0) + (t - t0) * 1e3
        return t


def parse_line(spec, w, h):
    """`name:x1,y1,x2,y2[:in/out]`, fractions of the frame or pixels, as linecounter reads it."""
    parts = spec.split(":")
    coords = [float(v) for v in parts[1].split(",")]
    fractional = all(0.0 <= v <= 1.0 for v in coords)
    x1, y1, x2, y2 = [v * (w if i % 2 == 0 else h) if fractional else v for i, v in enumerate(coords)]
    dirs = parts[2].split("/") if len(parts) > 2 else ["in", "out"]
    return parts[0], sv.Point(x1, y1), sv.Point(x2, y2), dirs


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", required=True)
    ap.add_argument("--frames", type=int, default=0, help="0: all")
    ap.add_argument("--interval", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lines", default="street:0,0.6,1,0.6:down/up")
    ap.add_argument("--no-plates", action="store_true")
    ap.add_argument("--output", help="an .mp4 to write (default: encode, discard)")
    args = ap.parse_args()

    weights = ROOT / "weights"
    cap = cv2.VideoCapture(args.video)
    if not cap.isOpened():
        sys.exit(f"pipeline_reference: cannot open {args.video}")
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0

    detector = session(weights / "yolov8n.onnx", args.threads)
    scale = LONG_SIDE / max(w, h)
    new_w, new_h = round(w * scale), round(h * scale)
    in_w, in_h = -(-new_w // STRIDE) * STRIDE, -(-new_h // STRIDE) * STRIDE
    plates = None if args.no_plates else session(weights / "platedet.onnx", args.threads)
    p_scale = min(640 / w, 640 / h)
    p_new = (round(w * p_scale), round(h * p_scale))
    ocr = None if args.no_plates else RapidOCR(params={
        "Global.use_det": False, "Global.use_cls": False, "Global.use_rec": True,
        "Global.log_level": "warning",
        "Rec.model_path": str(weights / "PP-OCRv6_rec_small.onnx"),
        "EngineConfig.onnxruntime.intra_op_num_threads": args.threads,
        "EngineConfig.onnxruntime.inter_op_num_threads": 1,
    })

    tracker = ByteTrackTracker(frame_rate=fps, track_activation_threshold=CONF,
                               minimum_consecutive_frames=1)
    name, start, end, (in_name, out_name) = parse_line(args.lines, w, h)
    line = sv.LineZone(start=start, end=end, triggering_anchors=(sv.Position.BOTTOM_CENTER,))
    boxes, labels = sv.BoxAnnotator(), sv.LabelAnnotator()
    traces, line_drawer = sv.TraceAnnotator(), sv.LineZoneAnnotator()
    path = args.output or str(ROOT / "out" / "bench" / "reference-discard.mp4")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    classes = np.array(sorted(VEHICLES))

    st = Stages()
    tracked, plate_texts = sv.Detections.empty(), []
    frames = inferences = plate_reads = 0
    t_start = time.perf_counter()
    while args.frames <= 0 or frames < args.frames:
        t = time.perf_counter()
        ok, frame = cap.read()
        if not ok:
            break
        t = st.add("decode", t)
        if frames % max(1, args.interval) == 0:
            inferences += 1
            img, left, top = letterbox(frame, in_w, in_h, new_w, new_h)
            x = to_tensor(img, np.float32)
            t = st.add("preprocess", t)
            out = detector.run(None, {"images": x})[0]
            t = st.add("inference", t)
            xyxy, score, cls = decode_yolo(out, scale, left, top, classes)
            t = st.add("postprocess", t)
            tracked = tracker.update(sv.Detections(xyxy=xyxy, confidence=score, class_id=cls))
            tracked = tracked[tracked.tracker_id != -1]
            t = st.add("tracker", t)
            line.trigger(tracked)
            t = st.add("counting", t)
            if plates is not None:
                img, left, top = letterbox(frame, 640, 640, *p_new)
                out = plates.run(None, {"images": to_tensor(img, np.float16)})[0]
                p_xyxy, p_score, _ = decode_yolo(out[:, :5], p_scale, left, top, None)
                t = st.add("plates", t)
                plate_texts = []
                for (x1, y1, x2, y2) in p_xyxy.astype(int):
                    crop = frame[max(0, y1):max(0, y2), max(0, x1):max(0, x2)]
                    if crop.shape[0] < 2 or crop.shape[1] < 2:
                        continue
                    res = ocr(crop, use_det=False, use_cls=False, use_rec=True)
                    text = "".join(res.txts) if getattr(res, "txts", None) else ""
                    plate_texts.append(((x1, y2), text))
                    plate_reads += 1
                t = st.add("ocr", t)
        scene = boxes.annotate(frame, tracked)
        scene = labels.annotate(scene, tracked, labels=[
            f"{VEHICLES.get(int(c), c)} #{i} {s:.2f}"
            for c, i, s in zip(tracked.class_id, tracked.tracker_id, tracked.confidence)])
        scene = traces.annotate(scene, tracked)
        scene = line_drawer.annotate(scene, line_counter=line)
        for (x, y), text in plate_texts:
            cv2.putText(scene, text, (int(x), int(y) + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                        (255, 255, 255), 1, cv2.LINE_AA)
        t = st.add("overlay", t)
        writer.write(scene)
        st.add("encode", t)
        frames += 1
    wall = time.perf_counter() - t_start
    writer.release()
    if frames == 0:
        sys.exit(f"pipeline_reference: no frame decoded from {args.video}")
    # supervision's in/out are the opposite sides to linecounter's: its out_count is the crossings
    # linecounter names first (`down` on a left-to-right line), checked on the residential video.
    report = {
        "frames": frames, "wall_s": wall, "fps": frames / wall, "ms_per_frame": wall * 1e3 / frames,
        "inferences": inferences, "plate_reads": plate_reads,
        "input": [in_w, in_h],
        "stage_ms_per_frame": {k: v / frames for k, v in st.ms.items()},
        "counts": {name: {in_name: {"total": int(line.out_count)},
                          out_name: {"total": int(line.in_count)}}},
        "versions": {"onnxruntime": ort.__version__, "supervision": sv.__version__,
                     "opencv": cv2.__version__, "numpy": np.__version__},
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
