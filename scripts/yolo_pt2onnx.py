#!/usr/bin/env python3
"""Convert an Ultralytics YOLO detection (or segmentation) checkpoint (.pt) to ONNX without PyTorch.

    python scripts/yolo_pt2onnx.py IN.pt OUT.onnx [--imgsz 640] [--opset 17]

Set SOURCE_DATE_EPOCH for a reproducible output file (it fixes the `date` metadata).

YOLO-World v2 checkpoints (WorldModel) convert too, with the class vocabulary they were saved
with (`txt_feats`, e.g. the 80 COCO names): the text embeddings become constants of the graph,
so the output layout is the same as a closed-set model's.

Segmentation checkpoints (SegmentationModel, YOLOv8-seg) convert to their detection part only:
the Segment head's boxes and class scores, in the same layout as a Detect head's; its mask
coefficients and prototype masks are left out of the graph.

Needs only numpy and onnx. The checkpoint is read with a restricted unpickler
that never imports or calls anything outside a short allow-list: torch and
Ultralytics classes become inert placeholders that only hold their pickled
state. The graph is rebuilt layer by layer from that state and matches
Ultralytics' own `export(format='onnx', dynamic=True)`: input `images`
[1,3,H,W] (RGB, 0..1, H and W any multiple of 32), output `output0`
[1,4+nc,N] with cx,cy,w,h in input pixels followed by sigmoid class scores.
"""

import argparse
import collections
import datetime
import os
import pickle
import sys
import time
import zipfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class ConversionError(Exception):
    pass


# Model and head classes that convert; a Segment(26) head is a Detect head plus mask branches.
MODEL_CLASSES = ("DetectionModel", "WorldModel", "SegmentationModel")
HEAD_CLASSES = ("Detect", "WorldDetect", "Segment", "Segment26")


# ---------------------------------------------------------------------------
# Checkpoint reading
# ---------------------------------------------------------------------------

class Stub:
    """Inert stand-in for any pickled class: keeps state, runs no foreign code."""

    qualname = "?"

    def __init__(self, *args, **kwargs):
        pass  # REDUCE/NEWOBJ may pass constructor args; nothing here needs them

    def __setstate__(self, state):
        # BUILD passes the object's __dict__ (nn.Module) or (dict_state, slot_state).
        if isinstance(state, tuple) and len(state) == 2:
            state = {**(state[0] or {}), **(state[1] or {})}
        if isinstance(state, dict):
            self.__dict__.update(state)

    def __getattr__(self, name):
        # Mirror nn.Module: submodules, parameters and buffers live in dicts.
        for store in ("_modules", "_parameters", "_buffers"):
            d = self.__dict__.get(store)
            if d is not None and name in d:
                return d[name]
        raise AttributeError(f"{self.qualname} has no attribute {name!r}")

    @property
    def cls(self):
        return self.qualname.rsplit(".", 1)[-1]

    def children(self):
        return list(self.__dict__.get("_modules", {}).values())


_stub_classes = {}


def stub_class(module, name):
    key = f"{module}.{name}"
    if key not in _stub_classes:
        _stub_classes[key] = type(name, (Stub,), {"qualname": key})
    return _stub_classes[key]


class StorageType:
    def __init__(self, name):
        # bfloat16 has no numpy dtype: read as uint16 and widen in rebuild_tensor.
        self.dtype = np.dtype(_STORAGE_DTYPES[name])
        self.bf16 = name == "BFloat16Storage"


_STORAGE_DTYPES = {
    "HalfStorage": "<f2", "FloatStorage": "<f4", "DoubleStorage": "<f8",
    "BFloat16Storage": "<u2", "LongStorage": "<i8", "IntStorage": "<i4",
    "ShortStorage": "<i2", "CharStorage": "i1", "ByteStorage": "u1", "BoolStorage": "?",
}


def rebuild_tensor(storage, offset, size, stride, *_ignored):
    data, is_bf16 = storage
    size, stride = tuple(size), tuple(stride)
    if len(size) != len(stride) or min(size + stride + (offset,)) < 0:
        raise ConversionError("malformed tensor in checkpoint")
    if 0 not in size:
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= data.size:  # as_strided must never read past the storage
            raise ConversionError("tensor exceeds its storage in checkpoint")
    arr = np.lib.stride_tricks.as_strided(
        data[offset:], shape=size, strides=[s * data.itemsize for s in stride]
    ).copy()
    if is_bf16:
        arr = (arr.astype(np.uint32) << 16).view(np.float32)
    return arr


def rebuild_parameter(data, *_ignored):
    return data


class CheckpointUnpickler(pickle.Unpickler):
    SAFE = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("builtins", "set"): set,
        ("__builtin__", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("__builtin__", "frozenset"): frozenset,
        ("torch", "Size"): tuple,
        ("torch._utils", "_rebuild_tensor_v2"): rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): rebuild_parameter,
    }

    def __init__(self, file, zf, prefix):
        super().__init__(file)
        self.zf, self.prefix = zf, prefix
        self.storages = {}

    def find_class(self, module, name):
        if (module, name) in self.SAFE:
            return self.SAFE[(module, name)]
        if module == "torch" and name in _STORAGE_DTYPES:
            return StorageType(name)
        return stub_class(module, name)

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"
                and isinstance(pid[1], StorageType)):
            raise ConversionError(f"unsupported persistent id in checkpoint: {pid!r}"[:200])
        stype, key = pid[1], str(pid[2])
        if key not in self.storages:
            try:
                raw = self.zf.read(f"{self.prefix}data/{key}")
            except KeyError:
                raise ConversionError(f"checkpoint lacks tensor storage {key!r}")
            usable = len(raw) - len(raw) % stype.dtype.itemsize
            self.storages[key] = (np.frombuffer(raw[:usable], stype.dtype), stype.bf16)
        return self.storages[key]


def load_checkpoint(path):
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ConversionError(f"{path}: not a zip-format torch checkpoint "
                              "(the legacy format is unsupported)")
    with zf:
        pkl = [n for n in zf.namelist() if n.endswith("data.pkl") and n.count("/") == 1]
        if len(pkl) != 1:
            raise ConversionError(f"{path}: no <dir>/data.pkl inside, not a torch checkpoint")
        prefix = pkl[0][: -len("data.pkl")]
        with zf.open(pkl[0]) as f:
            return CheckpointUnpickler(f, zf, prefix).load()


# ---------------------------------------------------------------------------
# ONNX graph building
# ---------------------------------------------------------------------------

class GraphBuilder:
    def __init__(self):
        self.nodes, self.inits = [], []
        self.n_params = 0
        self._ids = collections.Counter()

    def name(self, hint):
        self._ids[hint] += 1
        return f"{hint}_{self._ids[hint]}"

    def const(self, value, hint="c", dtype=None, param=False):
        arr = np.asarray(value, dtype=dtype)
        name = self.name(hint)
        self.inits.append(numpy_helper.from_array(arr, name))
        if param:
            self.n_params += arr.size
        return name

    def op(self, op_type, inputs, n_out=1, **attrs):
        outs = [self.name(op_type) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=outs[0], **attrs))
        return outs[0] if n_out == 1 else outs

    def i64(self, values):
        return self.const(values, "shape", np.int64)


def pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def as_f64(t):
    return np.asarray(t, dtype=np.float64)


def conv2d(g, x, conv, bn=None):
    """nn.Conv2d, with a following BatchNorm2d folded into weight and bias."""
    if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
        raise ConversionError(f"unsupported Conv2d padding {conv.padding!r}/{conv.padding_mode!r}")
    w = as_f64(conv.weight)
    b = as_f64(conv.bias) if conv.__dict__["_parameters"].get("bias") is not None \
        else np.zeros(w.shape[0])
    if bn is not None:
        scale = as_f64(bn.weight) / np.sqrt(as_f64(bn.running_var) + bn.eps)
        w = w * scale[:, None, None, None]
        b = (b - as_f64(bn.running_mean)) * scale + as_f64(bn.bias)
    ph, pw = pair(conv.padding)
    return g.op(
        "Conv",
        [x, g.const(w, "w", np.float32, param=True), g.const(b, "b", np.float32, param=True)],
        kernel_shape=list(w.shape[2:]), strides=list(pair(conv.stride)),
        pads=[ph, pw, ph, pw], dilations=list(pair(conv.dilation)), group=int(conv.groups),
    )


def activation(g, x, act):
    kind = act.cls
    if kind == "Identity":
        return x
    if kind == "SiLU":
        return g.op("Mul", [x, g.op("Sigmoid", [x])])
    if kind == "ReLU":
        return g.op("Relu", [x])
    if kind == "LeakyReLU":
        return g.op("LeakyRelu", [x], alpha=float(act.negative_slope))
    if kind == "Sigmoid":
        return g.op("Sigmoid", [x])
    raise ConversionError(f"unsupported activation {act.qualname}")


def conv_block(g, x, m):
    """Ultralytics Conv/DWConv: conv -> bn -> act (a fused model has no bn)."""
    mods = m.__dict__["_modules"]
    y = conv2d(g, x, m.conv, mods.get("bn"))
    return activation(g, y, m.act) if "act" in mods else y


def split_channels(g, x, sizes):
    return g.op("Split", [x, g.i64(sizes)], n_out=len(sizes), axis=1)


def concat(g, xs, axis=1):
    return g.op("Concat", xs, axis=axis)


def bottleneck(g, x, m):
    y = run_module(g, run_module(g, x, m.cv1), m.cv2)
    return g.op("Add", [x, y]) if m.add else y


def c3(g, x, m):
    """C3 / C3k: cv3(cat(m(cv1(x)), cv2(x)))."""
    a = run_module(g, run_module(g, x, m.cv1), m.m)
    return run_module(g, concat(g, [a, run_module(g, x, m.cv2)]), m.cv3)


def sppf(g, x, m):
    y = [run_module(g, x, m.cv1)]
    for _ in range(getattr(m, "n", 3)):
        y.append(run_module(g, y[-1], m.m))
    y = run_module(g, concat(g, y), m.cv2)
    return g.op("Add", [x, y]) if getattr(m, "add", False) else y


def maxpool(g, x, m):
    k, s, p = pair(m.kernel_size), pair(m.stride or m.kernel_size), pair(m.padding)
    if m.dilation not in (1, (1, 1)) or m.ceil_mode:
        raise ConversionError("unsupported MaxPool2d dilation/ceil_mode")
    return g.op("MaxPool", [x], kernel_shape=list(k), strides=list(s),
                pads=[p[0], p[1], p[0], p[1]])


def upsample(g, x, m):
    if m.mode != "nearest" or m.scale_factor is None:
        raise ConversionError(f"unsupported Upsample mode={m.mode!r} scale={m.scale_factor!r}")
    sh, sw = pair(m.scale_factor)
    scales = g.const([1.0, 1.0, float(sh), float(sw)], "scales", np.float32)
    # Same Resize attributes torch emits for nearest upsampling.
    return g.op("Resize", [x, "", scales], mode="nearest",
                coordinate_transformation_mode="asymmetric", nearest_mode="floor")


def attention(g, x, m):
    """Ultralytics Attention (used by PSABlock/C2PSA), on a [1,C,H,W] input."""
    qkv = run_module(g, x, m.qkv)
    nh, kd, hd = int(m.num_heads), int(m.key_dim), int(m.head_dim)
    qkv = g.op("Reshape", [qkv, g.i64([1, nh, 2 * kd + hd, -1])])
    q, k, v = g.op("Split", [qkv, g.i64([kd, kd, hd])], n_out=3, axis=2)
    attn = g.op("MatMul", [g.op("Transpose", [q], perm=[0, 1, 3, 2]), k])
    attn = g.op("Mul", [attn, g.const(np.float32(m.scale), "scale")])
    attn = g.op("Softmax", [attn], axis=-1)
    out = g.op("MatMul", [v, g.op("Transpose", [attn], perm=[0, 1, 3, 2])])
    shape = g.op("Shape", [x])
    out = g.op("Reshape", [out, shape])
    pe = run_module(g, g.op("Reshape", [v, shape]), m.pe)
    return run_module(g, g.op("Add", [out, pe]), m.proj)


def psa_block(g, x, m):
    a = run_module(g, x, m.attn)
    x = g.op("Add", [x, a]) if m.add else a
    f = run_module(g, x, m.ffn)
    return g.op("Add", [x, f]) if m.add else f


def c2psa(g, x, m):
    a, b = split_channels(g, run_module(g, x, m.cv1), [m.c, m.c])
    return run_module(g, concat(g, [a, run_module(g, b, m.m)]), m.cv2)


def max_sigmoid_attn(g, x, m):
    """YOLO-World MaxSigmoidAttnBlock with the text guide folded to a constant."""
    nh, hc = int(m.nh), int(m.hc)
    guide = g.text @ as_f64(m.gl.weight).T + as_f64(m.gl.bias)        # [K, ec]
    guide = guide.reshape(-1, nh, hc).transpose(1, 0, 2)               # [nh, K, hc]
    embed = run_module(g, x, m.ec) if m.__dict__.get("ec") is not None else x
    embed = g.op("Reshape", [embed, g.i64([1, nh, hc, -1])])           # [1, nh, hc, HW]
    aw = g.op("MatMul", [g.const(guide[None], "guide", np.float32, param=True), embed])
    aw = g.op("ReduceMax", [aw], axes=[2], keepdims=1)                 # [1, nh, 1, HW]
    bias = as_f64(m.bias).reshape(1, nh, 1, 1) if "bias" in m.__dict__["_parameters"] else 0.0
    aw = g.op("Add", [g.op("Mul", [aw, g.const(np.float32(1 / np.sqrt(hc)), "inv_sqrt")]),
                      g.const(bias, "attn_bias", np.float32)])
    aw = g.op("Mul", [g.op("Sigmoid", [aw]), g.const(as_f64(m.scale), "attn_scale", np.float32)])
    proj = run_module(g, x, m.proj_conv)
    heads = g.op("Reshape", [proj, g.i64([1, nh, int(m.proj_conv.conv.weight.shape[0]) // nh, -1])])
    return g.op("Reshape", [g.op("Mul", [heads, aw]), g.op("Shape", [proj])])


def c2f(g, x, m, guided=False):
    """C2f / C3k2: split cv1 into two halves, chain m on the last, concat all.
    YOLO-World's C2fAttn (guided) appends a text-guided attention branch."""
    ys = list(split_channels(g, run_module(g, x, m.cv1), [m.c, m.c]))
    for sub in m.m.children():
        ys.append(run_module(g, ys[-1], sub))
    if guided:
        ys.append(max_sigmoid_attn(g, ys[-1], m.attn))
    return run_module(g, concat(g, ys), m.cv2)


def sequential(g, x, m):
    for sub in m.children():
        x = run_module(g, x, sub)
    return x


MODULES = {
    "Conv": conv_block, "DWConv": conv_block,
    "Conv2d": conv2d,
    "Bottleneck": bottleneck, "C2f": c2f, "C3k2": c2f,
    "C2fAttn": lambda g, x, m: c2f(g, x, m, guided=True), "C3": c3, "C3k": c3,
    "SPPF": sppf, "MaxPool2d": maxpool, "Upsample": upsample,
    "Attention": attention, "PSABlock": psa_block, "C2PSA": c2psa,
    "Sequential": sequential,
    "Identity": lambda g, x, m: x,
    "SiLU": activation, "ReLU": activation, "LeakyReLU": activation, "Sigmoid": activation,
}


def run_module(g, x, m):
    fn = MODULES.get(m.cls)
    if fn is None:
        raise ConversionError(f"unsupported layer class {m.qualname} (supported: "
                              f"{', '.join(sorted(MODULES))}, Concat, {', '.join(HEAD_CLASSES)})")
    return fn(g, x, m)


def anchors_for(g, feat, stride):
    """Anchor centres (grid + 0.5) and stride row for one level, from its runtime shape."""
    shape = g.op("Shape", [feat])
    h = g.op("Gather", [shape, g.i64(2)], axis=0)
    w = g.op("Gather", [shape, g.i64(3)], axis=0)
    zero, one = g.i64(0), g.i64(1)
    half = g.const(np.float32(0.5), "half")
    sx = g.op("Add", [g.op("Cast", [g.op("Range", [zero, w, one])], to=TensorProto.FLOAT), half])
    sy = g.op("Add", [g.op("Cast", [g.op("Range", [zero, h, one])], to=TensorProto.FLOAT), half])
    hw = g.op("Concat", [g.op("Unsqueeze", [h, g.i64([0])]),
                         g.op("Unsqueeze", [w, g.i64([0])])], axis=0)
    gx = g.op("Expand", [g.op("Unsqueeze", [sx, g.i64([0])]), hw])   # [H,W]: x varies along W
    gy = g.op("Expand", [g.op("Unsqueeze", [sy, g.i64([1])]), hw])
    flat = g.i64([1, -1])
    points = concat(g, [g.op("Reshape", [gx, flat]), g.op("Reshape", [gy, flat])], axis=0)
    n = g.op("Unsqueeze", [g.op("Mul", [h, w]), g.i64([0])])
    strides = g.op("ConstantOfShape", [concat(g, [g.i64([1]), n], axis=0)],
                   value=numpy_helper.from_array(np.array([stride], np.float32)))
    return points, strides


def world_scores(g, feat, m, i):
    """WorldDetect class logits: cv3's embedding, BatchNorm and the contrastive product with
    the constant, L2-normalised text embeddings are all linear after cv3's second Conv, so
    they fold into one 1x1 convolution with K = number of classes outputs."""
    head = m.cv4.children()[i]
    if head.cls != "BNContrastiveHead":
        raise ConversionError(f"unsupported WorldDetect head {head.qualname} (YOLO-World v2 only)")
    convs = m.cv3.children()[i].children()
    x = run_module(g, run_module(g, feat, convs[0]), convs[1])
    embed = convs[2]
    wc = as_f64(embed.weight)[:, :, 0, 0]                                  # [E, C]
    bc = as_f64(embed.bias)
    bn = head.norm
    s = as_f64(bn.weight) / np.sqrt(as_f64(bn.running_var) + bn.eps)
    t = as_f64(bn.bias) - as_f64(bn.running_mean) * s
    text = g.text / np.linalg.norm(g.text, axis=-1, keepdims=True).clip(1e-12)  # [K, E]
    gain = np.exp(as_f64(head.logit_scale))
    w = gain * (text * s) @ wc                                            # [K, C]
    b = gain * text @ (s * bc + t) + as_f64(head.bias)
    return g.op("Conv", [x, g.const(w[:, :, None, None], "w", np.float32, param=True),
                         g.const(b, "b", np.float32, param=True)], kernel_shape=[1, 1])


def detect(g, feats, m):
    """Detect head: per-level box/cls convs, DFL, anchor decoding to xywh pixels.
    A Segment head's own branches (cv4 mask coefficients, proto) are never visited."""
    # NMS-free heads (YOLOv10/YOLO26 end2end) emit top-k boxes, not the [1,4+nc,N] layout;
    # older releases store `end2end`, 8.4 stores `_end2end`, and fusion may drop cv2.
    mods = m.__dict__["_modules"]
    if mods.get("cv2") is None or (mods.get("one2one_cv2") is not None and (
            m.__dict__.get("end2end") or m.__dict__.get("_end2end"))):
        raise ConversionError("end-to-end (NMS-free, one-to-one) Detect heads are not supported")
    nc, reg_max, no = int(m.nc), int(m.reg_max), int(m.no)
    outs, points, strides = [], [], []
    for i, feat in enumerate(feats):
        scores = world_scores(g, feat, m, i) if m.cls == "WorldDetect" \
            else run_module(g, feat, m.cv3.children()[i])
        y = concat(g, [run_module(g, feat, m.cv2.children()[i]), scores])
        outs.append(g.op("Reshape", [y, g.i64([1, no, -1])]))
        p, s = anchors_for(g, feat, float(m.stride[i]))
        points.append(p)
        strides.append(s)
    x = concat(g, outs, axis=2)                                   # [1, no, A]
    points = g.op("Unsqueeze", [concat(g, points), g.i64([0])])    # [1, 2, A]
    strides = concat(g, strides)                                  # [1, A]
    box, cls = split_channels(g, x, [4 * reg_max, nc])
    if reg_max > 1:
        # DFL: softmax over reg_max bins, expectation with the DFL conv weight (0..reg_max-1).
        box = g.op("Softmax", [g.op("Reshape", [box, g.i64([1, 4, reg_max, -1])])], axis=2)
        bins = np.asarray(m.dfl.conv.weight, np.float32).reshape(1, 1, reg_max, 1)
        box = g.op("ReduceSum", [g.op("Mul", [box, g.const(bins, "dfl", param=True)]), g.i64([2])],
                   keepdims=0)
    lt, rb = split_channels(g, box, [2, 2])
    x1y1 = g.op("Sub", [points, lt])
    x2y2 = g.op("Add", [points, rb])
    cxy = g.op("Div", [g.op("Add", [x1y1, x2y2]), g.const(np.float32(2), "two")])
    wh = g.op("Sub", [x2y2, x1y1])
    dbox = g.op("Mul", [concat(g, [cxy, wh]), strides])
    return g.op("Concat", [dbox, g.op("Sigmoid", [cls])], axis=1)


def build_graph(model):
    """Walk model.model like DetectionModel.forward: layer.f picks inputs (-1 = previous)."""
    layers = model.model.children()
    if layers[-1].cls not in HEAD_CLASSES:
        raise ConversionError(f"last layer is {layers[-1].qualname}, not one of {', '.join(HEAD_CLASSES)}"
                              " (pose, oriented-box and classification heads are not supported)")
    g = GraphBuilder()
    # YOLO-World: the class vocabulary is the text embedding saved with the model.
    g.text = np.asarray(model.txt_feats, np.float64).reshape(-1, np.shape(model.txt_feats)[-1]) \
        if model.cls == "WorldModel" else None
    outputs = []
    x = "images"
    for i, layer in enumerate(layers):
        f = layer.f
        src = [x if j == -1 else outputs[j] for j in f] if isinstance(f, (list, tuple)) \
            else (x if f == -1 else outputs[f])
        try:
            if layer.cls == "Concat":
                x = concat(g, src, axis=int(layer.d))
            elif layer.cls in HEAD_CLASSES:
                x = detect(g, src, layer)
            else:
                x = run_module(g, src, layer)
        except ConversionError as e:
            raise ConversionError(f"layer {i} ({layer.cls}): {e}")
        outputs.append(x)
    g.nodes[-1].output[0] = "output0"  # the Detect head's final Concat
    return g


def make_model(src, ckpt, model, g, imgsz, opset):
    head = model.model.children()[-1]
    nc = int(head.nc)
    yaml = model.yaml if isinstance(model.yaml, dict) else {}
    channels = int(yaml.get("channels", 3))
    graph = helper.make_graph(
        g.nodes, "yolo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT,
                                       [1, channels, "height", "width"])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4 + nc, "anchors"])],
        g.inits,
    )
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                                   producer_name="yolo_pt2onnx")
    # Oldest IR that carries the opset (8 for opset 17, as torch writes), for older runtimes.
    onnx_model.ir_version = helper.find_min_ir_version_for(onnx_model.opset_import)
    stem = str(yaml.get("yaml_file", src)).replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    args = model.__dict__.get("args")
    data = args.get("data") if isinstance(args, dict) else None
    data = data if isinstance(data, str) else None
    names = model.names if isinstance(model.names, dict) else dict(enumerate(model.names))
    # SOURCE_DATE_EPOCH pins the date so that repeated conversions are byte-identical.
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    date = (datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc) if epoch
            else datetime.datetime.now().astimezone())
    # Keys and value formatting of Ultralytics' ONNX exporter (8.4), minus its export "args";
    # "version" is the Ultralytics version that saved the checkpoint.
    meta = {
        "description": f"Ultralytics {stem.replace('yolo', 'YOLO')} model "
                       + (f"trained on {data}" if data else ""),
        "author": "Ultralytics",
        "date": date.isoformat(),
        "version": ckpt.get("version", "unknown"),
        "license": "AGPL-3.0 License (https://ultralytics.com/license)",
        "docs": "https://docs.ultralytics.com",
        "stride": int(max(np.asarray(model.stride).ravel())),
        "task": "detect",
        "head": head.cls,
        "batch": 1,
        "imgsz": [imgsz, imgsz],
        "names": names,
        "channels": channels,
        "end2end": False,
    }
    for k, v in meta.items():
        onnx_model.metadata_props.add(key=k, value=str(v))
    return onnx_model, nc


def convert(src, dst, imgsz, opset):
    ckpt = load_checkpoint(src)
    if not isinstance(ckpt, dict):
        raise ConversionError(f"{src}: checkpoint is not a dict")
    model = ckpt.get("model") or ckpt.get("ema")
    if not isinstance(model, Stub) or "_modules" not in model.__dict__:
        raise ConversionError(f"{src}: no 'model' or 'ema' module in checkpoint")
    if model.cls not in MODEL_CLASSES:
        raise ConversionError(f"{src}: {model.qualname} is not one of {', '.join(MODEL_CLASSES)}")
    g = build_graph(model)
    onnx_model, nc = make_model(src, ckpt, model, g, imgsz, opset)
    onnx.checker.check_model(onnx_model, full_check=True)
    onnx.save(onnx_model, dst)
    return len(model.model.children()), g.n_params, nc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src", help="Ultralytics YOLO detection or segmentation checkpoint (.pt)")
    ap.add_argument("dst", help="output ONNX file")
    ap.add_argument("--imgsz", type=int, default=640, help="nominal size for the imgsz metadata")
    ap.add_argument("--opset", type=int, default=17)
    args = ap.parse_args()
    t0 = time.monotonic()
    try:
        n_layers, n_params, nc = convert(args.src, args.dst, args.imgsz, args.opset)
    except (ConversionError, OSError) as e:
        sys.exit(f"yolo_pt2onnx: error: {e}")
    except Exception as e:  # malformed or unexpected checkpoint contents
        sys.exit(f"yolo_pt2onnx: error: cannot convert {args.src}: {type(e).__name__}: {e}")
    print(f"{args.src} -> {args.dst}: {n_layers} layers, {n_params:,} params, nc={nc}, "
          f"output0 [1,{4 + nc},N], {time.monotonic() - t0:.1f}s")


if __name__ == "__main__":
    main()
