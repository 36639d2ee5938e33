#!/usr/bin/env python3
"""Cut a YOLOv8 ONNX export below its baked head: dynamic batch, height and width, raw maps out.

    python scripts/yolo_raw_head.py IN.onnx OUT.onnx [--float16]

Ultralytics' static exports (e.g. `platedet.onnx`, a YOLOv8s-seg at 640x640) bake the input size
into their head: the DFL reshape `[1,4,16,8400]`, the anchor and stride tensors `[1,2,8400]`.
This keeps the backbone, the neck and the per-level box/class convolutions, and drops everything
after them: the DFL, the anchors, the sigmoid and, for segmentation models, the mask-coefficient
convolutions and the prototype branch. The outputs are the three raw feature maps, one per
stride (8, 16, 32), `[batch, 4*reg_max + nc, H/s, W/s]`: DFL logits then class logits (before
the sigmoid). `traffic_vision::detect::raw_head` decodes them.

The graph is converted to float32 (ONNX Runtime on CPU runs float16 convolutions through casts);
`--float16` keeps the source precision. The output has no date stamp: converting the same input
twice gives the same bytes. Needs only numpy and onnx.
"""

import argparse
import re
import sys
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# Ultralytics' exporter names the last convolution of each level's box and class branches so.
BOX_CONV = re.compile(r"/cv2\.(\d+)/cv2\.\1\.2/Conv$")
CLS_CONV = re.compile(r"/cv3\.(\d+)/cv3\.\1\.2/Conv$")


class CutError(Exception):
    pass


def head_maps(graph):
    """The Concat outputs that join each level's box and class convolutions, by level."""
    producer = {o: n for n in graph.node for o in n.output}
    levels = {}
    for n in graph.node:
        if n.op_type != "Concat" or len(n.input) != 2:
            continue
        a, b = (producer.get(i) for i in n.input)
        if a is None or b is None:
            continue
        box, cls = BOX_CONV.search(a.name), CLS_CONV.search(b.name)
        if box and cls and box.group(1) == cls.group(1):
            levels[int(box.group(1))] = n.output[0]
    if len(levels) != 3 or sorted(levels) != [0, 1, 2]:
        raise CutError(f"found {len(levels)} head levels (box conv + class conv concatenated); expected 3: "
                       "is this an Ultralytics YOLOv8/11 detect or segment export?")
    return [levels[i] for i in range(3)]


def needed_nodes(graph, outputs):
    """The nodes the outputs depend on, in graph order."""
    producer = {o: n for n in graph.node for o in n.output}
    keep, todo = set(), list(outputs)
    while todo:
        n = producer.get(todo.pop())
        if n is None or id(n) in keep:
            continue
        keep.add(id(n))
        todo.extend(i for i in n.input if i)
    return [n for n in graph.node if id(n) in keep]


def to_float32(nodes, inits):
    """float16 weights, constants and casts become float32."""
    for i, t in enumerate(inits):
        if t.data_type == TensorProto.FLOAT16:
            inits[i] = numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float32), t.name)
    for n in nodes:
        for a in n.attribute:
            if n.op_type == "Cast" and a.name == "to" and a.i == TensorProto.FLOAT16:
                a.i = TensorProto.FLOAT
            if a.type == onnx.AttributeProto.TENSOR and a.t.data_type == TensorProto.FLOAT16:
                a.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(a.t).astype(np.float32), a.t.name))


def cut(src, dst, float16):
    model = onnx.load(src)
    graph = model.graph
    if len(graph.input) != 1:
        raise CutError(f"{src}: {len(graph.input)} inputs; a YOLO export has one")
    maps = head_maps(graph)
    names = ["stride8", "stride16", "stride32"]
    nodes = needed_nodes(graph, maps)
    for n in nodes:
        n.output[:] = [names[maps.index(o)] if o in maps else o for o in n.output]
    used = {i for n in nodes for i in n.input}
    inits = [t for t in graph.initializer if t.name in used]
    elem = graph.input[0].type.tensor_type.elem_type
    if not float16 and elem == TensorProto.FLOAT16:
        to_float32(nodes, inits)
        elem = TensorProto.FLOAT
    channels = graph.input[0].type.tensor_type.shape.dim[1].dim_value or 3
    out_channels = {}
    for n in nodes:
        if n.op_type == "Conv" and CLS_CONV.search(n.name) or n.op_type == "Conv" and BOX_CONV.search(n.name):
            w = next(t for t in inits if t.name == n.input[1])
            out_channels[n.name] = w.dims[0]
    per_level = sum(out_channels.values()) // 3
    new_graph = helper.make_graph(
        nodes, graph.name,
        [helper.make_tensor_value_info(graph.input[0].name, elem, ["batch", channels, "height", "width"])],
        [helper.make_tensor_value_info(name, elem, ["batch", per_level, f"height/{s}", f"width/{s}"])
         for name, s in zip(names, (8, 16, 32))],
        inits,
    )
    out = helper.make_model(new_graph, opset_imports=model.opset_import, producer_name="yolo_raw_head")
    out.ir_version = model.ir_version
    for p in model.metadata_props:
        if p.key not in ("batch", "imgsz", "date"):
            out.metadata_props.add(key=p.key, value=p.value)
    out.metadata_props.add(key="head", value="raw")
    out.metadata_props.add(key="batch", value="dynamic")
    onnx.checker.check_model(out, full_check=True)
    onnx.save(out, dst)
    return len(graph.node), len(nodes), per_level


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src", help="Ultralytics YOLOv8/11 detect or segment ONNX export")
    ap.add_argument("dst", help="output ONNX file")
    ap.add_argument("--float16", action="store_true", help="keep a float16 model in float16")
    args = ap.parse_args()
    t0 = time.monotonic()
    try:
        before, after, channels = cut(args.src, args.dst, args.float16)
    except (CutError, OSError, onnx.checker.ValidationError) as e:
        sys.exit(f"yolo_raw_head: error: {e}")
    print(f"{args.src} -> {args.dst}: {before} -> {after} nodes, outputs stride8/16/32 "
          f"[batch,{channels},H/s,W/s], {time.monotonic() - t0:.1f}s")


if __name__ == "__main__":
    main()
