#!/usr/bin/env python3
"""Quantize a converted YOLOv8 detection ONNX (scripts/yolo_pt2onnx.py) to int8 QDQ.

    build/pyenv/bin/python scripts/yolo_quantize.py weights/yolov8n.onnx weights/yolov8n-int8.onnx

Static QDQ quantization with onnxruntime's tools: weights int8 per output channel, activations
uint8 (asymmetric), ranges calibrated on a fixed list of frames of the shared videos
(../shared/data/videos; never the NGSIM evaluation images). The head's decode stays in float:
every node after the last convolutions (the per-level concatenation of box and class logits,
DFL softmax, anchors, the box/score concatenation, the class sigmoid) is left out of the
quantization, and so are the six 1x1 convolutions that output the box and class logits (small, and
the class scores decide which car passes the 0.25 threshold). Quantizing the decode
would put pixel boxes (0..640) and 0..1 scores on one uint8 scale, which rounds every score to 0.
Ranges: percentile calibration (99.999 % of each activation's histogram), which kept the most
NGSIM recall of minmax, entropy and percentile 99.99 / 99.999 / 99.9995 (weights/README.md).

The frames are decoded and scaled by GStreamer (gst-launch-1.0, bilinear `videoscale`), letterboxed
to the rectangle yolodetect feeds at input-size 640 (long side 640, the short side padded with grey
114 to a multiple of 32), RGB / 255. Same videos, same frames, same ranges: the output is the same
on every run of one machine (floating-point reductions in the calibration runs may differ in the
last bits between CPUs).
"""

import argparse
import contextlib
import io
import logging
import os
import subprocess
import sys
import time

import numpy as np
import onnx
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quantize_static)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VIDEOS_DIR = os.path.join(os.path.dirname(ROOT), "shared", "data", "videos")
# Frames 0, n/K, 2n/K, ... of each (n frames, K = --frames-per-video).
VIDEOS = ["ahmetozlu_residential_street.mp4", "bgslibrary_video03_us_highway.avi", "intel_car-detection.mp4"]
INPUT_SIZE, STRIDE, PAD = 640, 32, 114
METHODS = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
           "percentile": CalibrationMethod.Percentile}
# Frames per calibration batch: the calibrators hold every intermediate tensor of a batch in memory.
CHUNK = 8


class QuantizeError(Exception):
    pass


def video_size(path):
    out = subprocess.run(["gst-discoverer-1.0", path], capture_output=True, text=True).stdout
    dims = {}
    for line in out.splitlines():
        key, _, value = line.strip().partition(":")
        if key in ("Width", "Height") and key not in dims:
            dims[key] = int(value)
    if len(dims) != 2:
        raise QuantizeError(f"cannot read the size of {path} (gst-discoverer-1.0)")
    return dims["Width"], dims["Height"]


def letterbox_shape(w, h):
    """(scaled w, scaled h, input w, input h) of yolodetect's rect letterbox at input-size 640."""
    r = INPUT_SIZE / max(w, h)
    sw, sh = round(w * r), round(h * r)
    return sw, sh, -(-sw // STRIDE) * STRIDE, -(-sh // STRIDE) * STRIDE


def raw_frames(cmd, size, path):
    """The raw frames `cmd` writes to its stdout, `size` bytes each."""
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        while len(frame := proc.stdout.read(size)) == size:
            yield frame
        proc.stdout.close()
        err = proc.stderr.read().decode(errors="replace")
    if proc.returncode != 0:
        raise QuantizeError(f"decoding {path} failed: {err.strip()[-500:]}")


def video_frames(path, count):
    """`count` evenly spaced frames of a video as float32 [1, 3, H, W] letterboxed model inputs."""
    w, h = video_size(path)
    sw, sh, iw, ih = letterbox_shape(w, h)
    # RGB rows are padded to 4 bytes in GStreamer's raw video layout.
    row = -(-sw * 3 // 4) * 4
    size = row * sh
    cmd = ["gst-launch-1.0", "-q", "filesrc", f"location={path}", "!", "decodebin", "!", "videoconvert", "!",
           "videoscale", "method=bilinear", "!", f"video/x-raw,format=RGB,width={sw},height={sh}", "!",
           "fdsink", "fd=1"]
    # Two passes (count, then keep the chosen frames) rather than the whole video in memory.
    n = sum(1 for _ in raw_frames(cmd, size, path))
    if n < count:
        raise QuantizeError(f"{path}: {n} frames decoded, {count} asked")
    chosen = {k * n // count for k in range(count)}
    frames = [np.frombuffer(f, np.uint8).reshape(sh, row)[:, : sw * 3].reshape(sh, sw, 3)
              for i, f in enumerate(raw_frames(cmd, size, path)) if i in chosen]
    top, left = round((ih - sh) / 2 - 0.1), round((iw - sw) / 2 - 0.1)
    out = []
    for frame in frames:
        canvas = np.full((ih, iw, 3), PAD, np.uint8)
        canvas[top:top + sh, left:left + sw] = frame
        out.append((canvas.transpose(2, 0, 1)[None].astype(np.float32) / 255.0))
    return out


def calibration_frames(per_video, videos_dir):
    frames = []
    for name in VIDEOS:
        path = os.path.join(videos_dir, name)
        if not os.path.isfile(path):
            raise QuantizeError(f"calibration video {path} not found (the shared data must sit beside the checkout)")
        frames += video_frames(path, per_video)
    return frames


class FrameReader(CalibrationDataReader):
    """The calibration frames, in ranges (`CalibStridedMinMax`): one input shape per range."""

    def __init__(self, input_name, frames):
        self.input_name, self.frames = input_name, frames
        self.set_range(0, len(frames))

    def __len__(self):
        return len(self.frames)

    def set_range(self, start_index, end_index):
        self.pending = iter(self.frames[start_index:end_index])

    def get_next(self):
        frame = next(self.pending, None)
        return None if frame is None else {self.input_name: frame}


def float_nodes(model, float_last_convs):
    """Names of the head's decode nodes (no convolution downstream of them): left in float.
    With `float_last_convs`, the 1x1 convolutions that output the box and class logits too."""
    consumers = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    feeds_conv = {}

    def reaches_conv(node):
        if node.name not in feeds_conv:
            feeds_conv[node.name] = False  # no cycles in an ONNX graph; guards the recursion
            feeds_conv[node.name] = any(c.op_type == "Conv" or reaches_conv(c)
                                        for out in node.output for c in consumers.get(out, []))
        return feeds_conv[node.name]

    sys.setrecursionlimit(10000)
    decode = [n for n in model.graph.node if n.op_type != "Conv" and not reaches_conv(n)]
    names = {n.name for n in decode}
    if float_last_convs:
        names |= {n.name for n in model.graph.node if n.op_type == "Conv"
                  and all(c.name in names for out in n.output for c in consumers.get(out, []))}
    return sorted(names)


def quantize(src, dst, frames, method, percentile, float_last_convs, activation_type):
    model = onnx.load(src)
    exclude = float_nodes(model, float_last_convs)
    reader = FrameReader(model.graph.input[0].name, frames)
    # The calibrators print a line per batch and the quantizer advises pre-processing: keep the output to ours.
    logging.getLogger().setLevel(logging.ERROR)
    with contextlib.redirect_stdout(io.StringIO()):
        quantize_static(
            src, dst, reader,
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=activation_type,
            weight_type=QuantType.QInt8,
            calibrate_method=METHODS[method],
            nodes_to_exclude=exclude,
            extra_options={"CalibStridedMinMax": CHUNK, "CalibPercentile": percentile, "ActivationSymmetric": False,
                           "WeightSymmetric": True},
        )
    # Keep the converter's metadata (class names, stride, ...) and say what was done.
    out = onnx.load(dst)
    del out.metadata_props[:]
    for prop in model.metadata_props:
        out.metadata_props.add(key=prop.key, value=prop.value)
    out.metadata_props.add(key="quantization", value=(
        f"int8 QDQ (onnxruntime quantize_static), weights int8 per channel, activations "
        f"{'uint8' if activation_type == QuantType.QUInt8 else 'int8'}, {method} calibration on {len(frames)} frames "
        f"of {', '.join(VIDEOS)}; float: {len(exclude)} head nodes"))
    onnx.save(out, dst)
    return len(exclude)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src", help="float YOLOv8 ONNX from scripts/yolo_pt2onnx.py")
    ap.add_argument("dst", help="int8 QDQ ONNX to write")
    ap.add_argument("--method", choices=sorted(METHODS), default="percentile", help="calibration method (percentile)")
    ap.add_argument("--percentile", type=float, default=99.999, help="percentile calibration: range kept (99.999)")
    ap.add_argument("--frames-per-video", type=int, default=32, help="calibration frames per video (32)")
    ap.add_argument("--int8-last-convs", dest="float_last_convs", action="store_false",
                    help="quantize the convolutions that output the box and class logits too (default: float)")
    ap.add_argument("--activations", choices=["uint8", "int8"], default="uint8", help="activation type (uint8)")
    ap.add_argument("--videos-dir", default=VIDEOS_DIR, help="folder of the calibration videos")
    args = ap.parse_args()
    if args.frames_per_video % CHUNK:
        sys.exit(f"yolo_quantize: error: --frames-per-video must be a multiple of {CHUNK}")
    t0 = time.monotonic()
    try:
        frames = calibration_frames(args.frames_per_video, args.videos_dir)
        tmp = args.dst + ".tmp"
        n_float = quantize(args.src, tmp, frames, args.method, args.percentile, args.float_last_convs,
                           QuantType.QUInt8 if args.activations == "uint8" else QuantType.QInt8)
        os.replace(tmp, args.dst)
    except (QuantizeError, OSError) as e:
        sys.exit(f"yolo_quantize: error: {e}")
    print(f"{args.src} -> {args.dst}: int8 QDQ, {args.method} calibration on {len(frames)} frames, "
          f"{n_float} head nodes in float, {time.monotonic() - t0:.1f}s")


if __name__ == "__main__":
    main()
