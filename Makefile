# The two commands of the README: `make demo` and `make test`. Both set up what is missing
# first (Debian packages, models, build), so a fresh Debian 12 checkout needs nothing else.
SHELL := /bin/bash
CARGO ?= cargo
DEMO_VIDEO ?= ../shared/data/videos/ahmetozlu_residential_street.mp4

.PHONY: setup build demo test bench soak eval-detect train clean

setup:
	scripts/setup.sh

build: setup
	$(CARGO) build --release --workspace

demo: build
	scripts/demo.sh "$(DEMO_VIDEO)"

# Release profile for the tests too: one build serves the plugin, the tests and the demo.
test: build
	$(CARGO) test --release --workspace

# Not part of `test`: ours against the Python reference on the shared videos (~15 min quiet);
# updates BENCHMARKS.md. BENCH_ARGS=--quick for a short check.
bench: setup
	scripts/bench $(BENCH_ARGS)

# Not part of `test`: the full pipeline over the looped video, RSS checked (20,000 frames take
# 20-45 min); updates BENCHMARKS.md. SOAK_FRAMES=2000 for a short check.
SOAK_FRAMES ?= 20000
soak: build
	scripts/soak.sh $(SOAK_FRAMES)

eval-detect: build
	scripts/eval detect ../shared/data/ngsim_us101_coco/sequence1/images ../shared/data/ngsim_us101_coco/sequence1/GT.json

# Not part of `test`: fine-tune yolov8n for traffic cameras on the CPU (hours, in the background;
# rerun to resume, and to convert once finished). weights/README.md, "yolov8n-traffic".
train: setup
	scripts/train/train.sh

clean:
	$(CARGO) clean
	rm -rf out
