# Developer shortcuts. The README's two Quickstart commands do not need make.
PY ?= python3

.PHONY: install test bench sanitize check-cpp

install:
	$(PY) -m pip install -e ".[test]"

test: install
	$(PY) -m pytest

bench: install
	$(PY) -m benchmarks.preprocess

# ASan + UBSan build of the kernel, running the kernel tests against it.
sanitize:
	bash scripts/sanitize.sh

# Standalone C++ test: every SIMD level against the scalar reference (x86, and NEON under qemu when available).
check-cpp:
	bash scripts/check_cpp.sh
