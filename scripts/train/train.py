#!/usr/bin/env python3
"""Fine-tune yolov8n (COCO) on build/train/data with Ultralytics on the CPU; resumes from the last
checkpoint when one exists. Settings are fixed here so a rerun trains the same way.

    train.py DATA_YAML RUN_DIR

Environment: TRAIN_EPOCHS (default 30), TRAIN_THREADS (torch threads, default 1).
"""

import os
import sys

import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EPOCHS = int(os.environ.get("TRAIN_EPOCHS", "30"))
torch.set_num_threads(int(os.environ.get("TRAIN_THREADS", "1")))

from ultralytics import YOLO  # noqa: E402  (after the thread count is set)

SETTINGS = dict(
    epochs=EPOCHS,
    imgsz=640,  # the element's default input size: same cost as the COCO model
    batch=8,
    workers=0,
    device="cpu",
    seed=0,
    deterministic=True,
    pretrained=True,
    warmup_epochs=1,
    close_mosaic=5,
    plots=False,  # plotting wants a font download
    amp=False,
    exist_ok=True,
    save_period=1,
)


def main():
    data, run_dir = (os.path.abspath(a) for a in sys.argv[1:3])
    last = os.path.join(run_dir, "weights", "last.pt")
    if os.path.exists(last):
        ckpt = torch.load(last, map_location="cpu", weights_only=False)
        if ckpt.get("epoch", -1) == -1:
            print(f"train: {last} is a finished run; nothing to resume")
            return
        print(f"train: resuming {last} after epoch {ckpt['epoch'] + 1}")
        YOLO(last).train(resume=True)
    else:
        model = YOLO(os.path.join(ROOT, "weights", "yolov8n.pt"))
        model.train(data=data, project=os.path.dirname(run_dir), name=os.path.basename(run_dir), **SETTINGS)


if __name__ == "__main__":
    main()
