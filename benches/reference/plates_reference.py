#!/usr/bin/env python3
"""Reference licence-plate numbers from the Python packages' own pipelines.

Throw-away venv (not part of the build):
    python3 -m venv /tmp/platesvenv
    /tmp/platesvenv/bin/pip install platedet==0.0.2 platerec==0.0.3 \
        rapidocr==3.10.0 onnxruntime==1.32.0 opencv-python-headless numpy
Run:
    /tmp/platesvenv/bin/python benches/reference/plates_reference.py \
        ../shared/data/plates/openalpr_endtoend_{us,eu,br}

Per image: platedet (its own API and defaults: conf 0.6, NMS IoU 0.4) finds
plates; each crop is read by (a) platerec.read() and (b) RapidOCR
recognition only (use_det/use_cls off; default rec = PP-OCRv6 small).
The read kept per image is the detected box with the largest IoU with the
GT box, else (no overlap) the box with the highest detection confidence.
Text is normalised to A-Z0-9 upper case (platerec's country token such as
"[us]" is dropped first). No detection counts as an empty read.
All ONNX Runtime sessions use intra_op_num_threads=2.
"""
import re
import sys
import time
from pathlib import Path

import onnxruntime as ort
from PIL import Image
from platedet import Platedet
from platerec import Platerec
from rapidocr import RapidOCR

THREADS = 2
VARIANTS = ("platerec", "rapidocr")


def norm(s):
    return re.sub(r"[^A-Z0-9]", "", re.sub(r"\[[a-z]{2}\]", "", s).upper())


def lev(a, b):
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def iou(a, b):
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def make_models():
    so = ort.SessionOptions()
    so.intra_op_num_threads = THREADS
    det = Platedet(sess_options=so)
    rec = Platerec(use_platedet=False, sess_options=so)
    ocr = RapidOCR(params={
        "Global.use_det": False, "Global.use_cls": False, "Global.use_rec": True,
        "Global.log_level": "warning",
        "EngineConfig.onnxruntime.intra_op_num_threads": THREADS,
    })
    return det, rec, ocr


def read_rapidocr(ocr, crop):
    out = ocr(crop, use_det=False, use_cls=False, use_rec=True)
    txts = getattr(out, "txts", None)
    return "".join(txts) if txts else ""


def run_image(models, img):
    det, rec, ocr = models
    t0 = time.perf_counter()
    out = det.inference(img, return_types=["pil", "boxes"])
    t_det = time.perf_counter() - t0
    crops = out["pil"]["images"] if out else []
    boxes = out["boxes"]["boxes"].tolist() if out else []
    confs = out["boxes"]["confidences"].tolist() if out else []
    reads = {v: [] for v in VARIANTS}
    t_rec = {v: 0.0 for v in VARIANTS}
    for crop in crops:
        ok = crop.width >= 2 and crop.height >= 2
        t0 = time.perf_counter()
        reads["platerec"].append(rec.read(crop)["word"] if ok else "")
        t1 = time.perf_counter()
        reads["rapidocr"].append(read_rapidocr(ocr, crop) if ok else "")
        t_rec["platerec"] += t1 - t0
        t_rec["rapidocr"] += time.perf_counter() - t1
    return boxes, confs, reads, t_det, t_rec


def evaluate(models, folder):
    rows = []
    for txt in sorted(Path(folder).glob("*.txt")):
        f = txt.read_text().strip().splitlines()[0].split("\t")
        x, y, w, h = map(float, f[1:5])
        gt_box, gt = (x, y, x + w, y + h), norm(f[5])
        img = Image.open(txt.with_suffix(".jpg")).convert("RGB")  # .txt may say .png
        boxes, confs, reads, t_det, t_rec = run_image(models, img)
        ious = [iou(b, gt_box) for b in boxes]
        best = None
        if boxes:
            best = max(range(len(boxes)), key=lambda i: (ious[i], confs[i])) \
                if max(ious) > 0 else max(range(len(boxes)), key=lambda i: confs[i])
        row = {"detect": best is not None and ious[best] >= 0.5,
               "n_crops": len(boxes), "t_det": t_det}
        for v in VARIANTS:
            pred = norm(reads[v][best]) if best is not None else ""
            row[v] = {"exact": pred == gt,
                      "exact_o0": pred.replace("O", "0") == gt.replace("O", "0"),
                      "cer": lev(pred, gt) / max(1, len(gt)), "t_rec": t_rec[v],
                      "pred": pred, "gt": gt}
        rows.append(row)
        # One line per image, as scripts/eval prints, to compare reads image by image.
        reads = " ".join(f"{v}={row[v]['pred'] or '-'}" for v in VARIANTS)
        print(f"{Path(folder).name.rsplit('_', 1)[-1]}/{txt.with_suffix('.jpg').name}: gt={gt} {reads} "
              f"iou={ious[best] if best is not None else 0:.2f}")
    return rows


def summary(tag, rows):
    n = len(rows)
    plates = sum(r["n_crops"] for r in rows)
    det_ms = 1e3 * sum(r["t_det"] for r in rows)
    det_rate = sum(r["detect"] for r in rows) / n
    print(f"{tag} detection: {det_ms / n:.1f} ms/image, "
          f"{det_ms / max(1, plates):.1f} ms/plate ({plates} plates detected)")
    lines = []
    for v in VARIANTS:
        m = {k: sum(r[v][k] for r in rows) / n for k in ("exact", "exact_o0", "cer")}
        rec_ms = 1e3 * sum(r[v]["t_rec"] for r in rows)
        print(f"{tag} recognition[{v}]: {rec_ms / n:.1f} ms/image, "
              f"{rec_ms / max(1, plates):.1f} ms/plate; exact(O==0)={m['exact_o0']:.3f}")
        lines.append(f"plates[{v}]: exact={m['exact']:.3f} detect={det_rate:.3f} "
                     f"cer={m['cer']:.3f} n={n}")
    return lines


def main(folders):
    models = make_models()
    first = Image.open(next(Path(folders[0]).glob("*.jpg"))).convert("RGB")
    run_image(models, first)  # warm-up, not timed
    print(f"onnxruntime {ort.__version__}, intra_op_num_threads={THREADS}")
    all_rows = []
    for folder in folders:
        rows = evaluate(models, folder)
        all_rows += rows
        region = Path(folder).name.rsplit("_", 1)[-1]
        for line in summary(f"[{region}]", rows):
            print(f"[{region}] {line}")
    for line in summary("[all]", all_rows):
        print(line)


if __name__ == "__main__":
    main(sys.argv[1:])
