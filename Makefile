# Developer shortcuts. The README's two Quickstart commands do not need make.
PY ?= python3

.PHONY: install test bench demo latency train-lpl train-ocr bundle sanitize check-cpp

install:
	bash scripts/install_system_deps.sh
	$(PY) -m pip install -e ".[test]"

test: install
	$(PY) -m pytest

bench: install
	$(PY) -m benchmarks.preprocess

demo:
	$(PY) -m edgevision demo

latency:
	$(PY) -m benchmarks.latency --out out/latency

# The bundled defaults: train (CPU: time-budgeted; a GPU is used when present), then
# export/quantize/card them into edgevision/models. See the model cards for the exact runs.
train-lpl:
	$(PY) -m training lpl --out runs/lpl --samples 20000 --epochs 30 --time-budget 4000 --threads 1

train-ocr:
	$(PY) -m training ocr --out runs/ocr --samples 20000 --epochs 30 --time-budget 3600 --threads 1

bundle:
	$(PY) -m training.bundle runs/lpl --family lpl_resnet --tolerance 0.05
	$(PY) -m training.bundle runs/ocr --family plate_ocr --tolerance 0.005

# ASan + UBSan build of the kernel, running the kernel tests against it.
sanitize:
	bash scripts/sanitize.sh

# Standalone C++ test: every SIMD level against the scalar reference (x86, and NEON under qemu when available).
check-cpp:
	bash scripts/check_cpp.sh
