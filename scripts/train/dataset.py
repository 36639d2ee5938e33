#!/usr/bin/env python3
"""Build the fine-tuning data set (Ultralytics YOLO layout) from the pinned ATL source files.

    dataset.py SRC OUT

SRC holds `datasets/car/...` of github.com/yuskun/object_detected (Roboflow "ATL-version-2" v12,
CC BY 4.0); every file is checked against scripts/train/atl-version-2.sha256 first. OUT gets
train/ (the 3x augmented train split) and val/ (the valid and test splits together), images
linked, labels rewritten to the COCO class ids of yolov8n, and data.yaml with all 80 COCO names,
so the fine-tuned model keeps COCO's ids and names for its vehicle classes.
"""

import hashlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PINS = os.path.join(HERE, "atl-version-2.sha256")
# ATL classes (data.yaml: bike, bus, car, truck) -> COCO ids. ATL's "bike" boxes are motorbikes
# seen from overpasses (ridden, with engines), so COCO's motorcycle, not bicycle.
ATL_TO_COCO = {0: 3, 1: 5, 2: 2, 3: 7}
SPLITS = {"train": ["train"], "val": ["valid", "test"]}


def die(msg):
    sys.exit(f"dataset: {msg}")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify(src):
    with open(PINS) as f:
        pins = [line.split(maxsplit=1) for line in f if line.strip()]
    bad = [name.strip() for digest, name in pins
           if not os.path.isfile(os.path.join(src, name.strip())) or sha256(os.path.join(src, name.strip())) != digest]
    if bad:
        die(f"{len(bad)} of {len(pins)} source files missing or changed, e.g. {bad[:3]}")
    print(f"dataset: {len(pins)} source files match {os.path.relpath(PINS)}")


def coco_names():
    # The names of the checkpoint we fine-tune (the 80 COCO classes), in id order.
    from ultralytics import YOLO
    names = YOLO(os.path.join(HERE, "..", "..", "weights", "yolov8n.pt")).names
    return [names[i] for i in range(len(names))]


def build(src, out):
    counts = {}
    for split, parts in SPLITS.items():
        img_dir, lbl_dir = os.path.join(out, split, "images"), os.path.join(out, split, "labels")
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(lbl_dir, exist_ok=True)
        for part in parts:
            base = os.path.join(src, "datasets", "car", part)
            for name in sorted(os.listdir(os.path.join(base, "images"))):
                stem = os.path.splitext(name)[0]
                link = os.path.join(img_dir, name)
                if not os.path.lexists(link):
                    os.symlink(os.path.abspath(os.path.join(base, "images", name)), link)
                rows = []
                with open(os.path.join(base, "labels", stem + ".txt")) as f:
                    for line in f:
                        fields = line.split()
                        if len(fields) != 5:
                            continue
                        cls = ATL_TO_COCO[int(fields[0])]
                        counts[(split, cls)] = counts.get((split, cls), 0) + 1
                        rows.append(" ".join([str(cls)] + fields[1:]))
                with open(os.path.join(lbl_dir, stem + ".txt"), "w") as f:
                    f.write("\n".join(rows) + ("\n" if rows else ""))
    names = coco_names()
    with open(os.path.join(out, "data.yaml"), "w") as f:
        f.write(f"path: {os.path.abspath(out)}\ntrain: train/images\nval: val/images\nnames:\n")
        for i, n in enumerate(names):
            f.write(f"  {i}: {n}\n")
    for (split, cls), n in sorted(counts.items()):
        print(f"dataset: {split} {names[cls]} {n} boxes")


def main():
    if len(sys.argv) != 3:
        die("usage: dataset.py SRC OUT")
    src, out = sys.argv[1:]
    verify(src)
    build(src, out)


if __name__ == "__main__":
    main()
