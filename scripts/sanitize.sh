#!/usr/bin/env bash
# scripts/sanitize.sh -- build edgevision._core with AddressSanitizer + UndefinedBehaviorSanitizer
# and run the kernel's tests (and a built-in smoke run) against that build.
#
# Usage:
#   scripts/sanitize.sh [script options] [pytest args...]
#
#   scripts/sanitize.sh                                  # smoke run + `pytest tests -k preprocess`
#   scripts/sanitize.sh tests/test_preprocess_warp.py -x # smoke run + your own pytest selection
#   scripts/sanitize.sh --no-smoke -- -k warp            # `--` ends the script options
#   scripts/sanitize.sh --clean                          # wipe build/asan/ first (new venv, full rebuild)
#
# Script options (must come before the pytest args):
#   --clean           delete build/asan/ first
#   --no-smoke        skip the built-in smoke run
#   --smoke-only      build and run the smoke run only (no pytest)
#   --allow-no-tests  do not fail when pytest collects no tests (pytest exit code 5)
#   -h, --help        show this help
#
# Environment:
#   PYTHON                base interpreter for the venv (default: python3). Versions of the
#                         venv's packages are pinned to the ones installed in this interpreter
#                         when it has them, so the sanitized run uses the same numpy/OpenCV/
#                         pytest/hypothesis as a normal run.
#   EV_ASAN_BUILD_TYPE    CMake build type (default: RelWithDebInfo: -O2 -g, so reports have lines)
#   EV_ASAN_EXTRA_PIP     extra packages for the venv, e.g. "rich onnxruntime"
#   EV_ASAN_OPTIONS       appended to ASAN_OPTIONS   (e.g. "detect_stack_use_after_return=1")
#   EV_UBSAN_OPTIONS      appended to UBSAN_OPTIONS
#   EV_ASAN_HYPOTHESIS_DEADLINE=keep   keep hypothesis' per-example deadline (default: disabled,
#                         because sanitized code runs 2-5x slower and would fail on time alone)
#
# What it does (every step is idempotent; a re-run reuses the venv and the CMake build tree):
#   1. build/asan/venv: a venv WITHOUT system site-packages (so the editable, unsanitized
#      edgevision installed in the system Python -- a meta-path redirect -- cannot be imported),
#      with numpy, opencv-python-headless, onnxruntime, onnx, pyyaml, pytest, hypothesis and the build tools.
#      Re-created only when the interpreter or the package list changes.
#   2. `pip install --no-build-isolation -Ccmake.define.EV_SANITIZE=ON -e .` into that venv,
#      with the CMake build tree kept in build/asan/cmake (incremental rebuilds). CMakeLists.txt
#      then compiles the kernel and the bindings with -fsanitize=address,undefined
#      -fno-sanitize-recover=undefined; the installed _core must link libasan and libubsan.
#      Editable (scikit-build-core redirect), like the system install: the sanitized _core lives
#      in the venv, the Python modules are the working tree's, so the tests never run against
#      a stale copy of edgevision/*.py. The compiled part is rebuilt on every run.
#   3. Runs Python with the sanitizer runtimes the module links against in LD_PRELOAD (ASan
#      must be first in the process because python itself is not instrumented), with
#        ASAN_OPTIONS=detect_leaks=0 (CPython leaks by design):halt_on_error=1:...
#        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:...
#        PYTHONMALLOC=malloc  (every Python allocation goes through ASan's malloc)
#      ASan reports go to build/asan/logs/asan.<pid> (log_path; also catches child processes
#      whose stderr a test captures). UBSan ignores log_path in a GCC ASan+UBSan build, so
#      the smoke and pytest transcripts (build/asan/logs/*.out) are scanned for reports too.
#      pytest runs with --capture=sys: with its default fd-level capture, a sanitizer that
#      kills the process mid-test takes its report with it (all you get is exit status 1).
#      Any report, from any process, fails the run.
#   4. Smoke run: edgevision.letterbox / letterbox_batch / warp_quad on random images (gray,
#      1/3/4 channels, exact-size buffers, crops, flips (negative strides), step slices,
#      channel-reversed and transposed views), every dtype, layout, mode, interpolation and
#      output channel count, at every SIMD level the CPU supports; the levels must agree bit for bit.
#   5. pytest (default args: `tests -k preprocess`) with a guard plugin that imports edgevision
#      first and aborts unless _core is the sanitized build in the venv (and the Python package
#      the working tree's) and the ASan runtime is loaded; the header prints
#      edgevision._core.__file__ so the log shows which build ran.
#
# Exit status: 0 only if the build, the smoke run and pytest all pass and no sanitizer
# report was written; otherwise non-zero (pytest's status, or 1).

set -euo pipefail

usage() { sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$0"; }

clean=0 smoke=1 run_pytest=1 allow_no_tests=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --clean) clean=1; shift ;;
    --no-smoke) smoke=0; shift ;;
    --smoke-only) run_pytest=0; shift ;;
    --allow-no-tests) allow_no_tests=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    *) break ;;
  esac
done
if [[ $# -gt 0 ]]; then pytest_args=("$@"); else pytest_args=(tests -k preprocess); fi

t_start=$(date +%s.%N)
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ASAN_DIR="$ROOT/build/asan"
VENV="$ASAN_DIR/venv"
CMAKE_BUILD="$ASAN_DIR/cmake"
LOGS="$ASAN_DIR/logs"
HELPERS="$ASAN_DIR/helpers"
PY_BASE="${PYTHON:-python3}"
BUILD_TYPE="${EV_ASAN_BUILD_TYPE:-RelWithDebInfo}"

log() { printf '\n==> [sanitize] %s\n' "$*"; }
die() { printf '\n==> [sanitize] ERROR: %s\n' "$*" >&2; exit 1; }

# One run at a time per checkout (runs share the venv and the build tree).
mkdir -p "$ROOT/build"
exec 9>"$ROOT/build/.sanitize.lock"
flock -n 9 || { log "another sanitize.sh run holds build/.sanitize.lock; waiting"; flock 9; }

if [[ $clean == 1 ]]; then log "removing $ASAN_DIR"; rm -rf "$ASAN_DIR"; fi
mkdir -p "$ASAN_DIR"

# ---------------------------------------------------------------------------
# 1. The venv
command -v "$PY_BASE" >/dev/null || die "no Python interpreter '$PY_BASE' (set PYTHON=...)"
# Packages (pip name = module name for importlib.metadata), pinned to the base interpreter's versions.
pkgs=(numpy opencv-python-headless onnxruntime onnx pyyaml pytest hypothesis scikit-build-core pybind11 cmake ninja)
# shellcheck disable=SC2206
pkgs+=(${EV_ASAN_EXTRA_PIP:-})
mapfile -t reqs < <("$PY_BASE" - "${pkgs[@]}" <<'EOF'
import sys
from importlib import metadata
for name in sys.argv[1:]:
    try:
        print(f"{name}=={metadata.version(name)}")
    except metadata.PackageNotFoundError:
        print(name)
EOF
)
stamp="$("$PY_BASE" -c 'import sys; print(sys.version.split()[0], sys.executable)') ${reqs[*]}"
if [[ ! -x "$VENV/bin/python" || "$(cat "$VENV/.ev-stamp" 2>/dev/null)" != "$stamp" ]]; then
  log "creating $VENV (no system site-packages) with: ${reqs[*]}"
  "$PY_BASE" -m venv --clear "$VENV"
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q "${reqs[@]}"
  printf '%s' "$stamp" > "$VENV/.ev-stamp"
else
  log "reusing $VENV"
fi
VPY="$VENV/bin/python"
[[ "$("$VPY" -c 'import sys; print(int(sys.prefix != sys.base_prefix))')" == 1 ]] || die "$VENV is not a venv"
"$VPY" - <<'EOF' || die "the venv can see the system site-packages"
import sys
assert not any("site-packages" in p and not p.startswith(sys.prefix) for p in sys.path), sys.path
EOF

# ---------------------------------------------------------------------------
# 2. Sanitized build, installed editable into the venv (Python from the working tree, _core from the venv)
log "building edgevision with EV_SANITIZE=ON ($BUILD_TYPE) in $CMAKE_BUILD"
t_build=$(date +%s.%N)
"$VPY" -m pip install --disable-pip-version-check -q --no-build-isolation --no-deps --force-reinstall \
  -Ccmake.define.EV_SANITIZE=ON \
  -Ccmake.build-type="$BUILD_TYPE" \
  -Cinstall.strip=false \
  -Cbuild-dir="$CMAKE_BUILD" \
  -Ceditable.mode=redirect \
  -e "$ROOT" || die "the sanitized build failed (pip/CMake output above)"
build_s=$(awk -v a="$t_build" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')

grep -q '^EV_SANITIZE:[A-Z]*=ON$' "$CMAKE_BUILD/CMakeCache.txt" || die "EV_SANITIZE is not ON in $CMAKE_BUILD/CMakeCache.txt"
# Located without importing it: loading a sanitized module without the ASan runtime preloaded aborts.
CORE_SO="$("$VPY" -c '
import pathlib, sysconfig
print(sorted(pathlib.Path(sysconfig.get_paths()["platlib"]).glob("edgevision/_core.*.so"))[0])')" \
  || die "no installed _core module in the venv"
[[ "$CORE_SO" == "$VENV"/* ]] || die "_core resolved to $CORE_SO, outside $VENV"
asan_rt="$(ldd "$CORE_SO" | awk '$1 ~ /^libasan\.so/ {print $3}')"
ubsan_rt="$(ldd "$CORE_SO" | awk '$1 ~ /^libubsan\.so/ {print $3}')"
[[ -n "$asan_rt" && -f "$asan_rt" ]] || die "$CORE_SO does not link libasan: not a sanitized build"
[[ -n "$ubsan_rt" && -f "$ubsan_rt" ]] || die "$CORE_SO does not link libubsan: not a sanitized build"
log "built $CORE_SO in ${build_s}s (runtimes: $asan_rt $ubsan_rt)"

# ---------------------------------------------------------------------------
# 3. Helpers: the pytest guard plugin and the smoke run (regenerated every run)
mkdir -p "$HELPERS"
cat > "$HELPERS/ev_asan_guard.py" <<'EOF'
"""pytest plugin (generated by scripts/sanitize.sh): make sure the sanitized build is under test.

Imported by `-p ev_asan_guard` before any conftest or test module, so the edgevision that
the tests import is the one cached in sys.modules here, whatever pytest later puts on sys.path.
"""
import os

import edgevision
from edgevision import _core

_VENV = os.path.realpath(os.environ["EV_ASAN_VENV"])
_SRC = os.path.realpath(os.environ["EV_ASAN_SRC"])


def _check():
    problems = []
    if not os.path.realpath(_core.__file__).startswith(_VENV + os.sep):
        problems.append(f"edgevision._core imported from {_core.__file__}, not from the sanitized build in {_VENV}")
    if not os.path.realpath(edgevision.__file__).startswith(_SRC + os.sep):
        problems.append(f"edgevision imported from {edgevision.__file__}, not from the working tree {_SRC}")
    with open("/proc/self/maps") as f:
        maps = f.read()
    if "libasan" not in maps:
        problems.append("the ASan runtime is not loaded in this process")
    return problems


def pytest_configure(config):
    problems = _check()
    if problems:
        import pytest

        raise pytest.UsageError("sanitize.sh guard: " + "; ".join(problems))
    if os.environ.get("EV_ASAN_HYPOTHESIS_DEADLINE") != "keep":
        try:
            from hypothesis import settings
        except ImportError:
            return
        # Sanitized code is several times slower; only the deadline changes, the rest is the default profile.
        settings.register_profile("edgevision-asan", deadline=None)
        settings.load_profile("edgevision-asan")


def pytest_report_header(config):
    return [
        f"edgevision._core.__file__: {_core.__file__}",
        f"edgevision.__file__: {edgevision.__file__}",
        f"sanitizers: ASan+UBSan, LD_PRELOAD={os.environ.get('LD_PRELOAD', '')}",
        f"kernel_info: {edgevision.kernel_info()}",
    ]
EOF

cat > "$HELPERS/ev_asan_smoke.py" <<'EOF'
"""Sanitizer smoke run (generated by scripts/sanitize.sh).

Calls letterbox / letterbox_batch / warp_quad on random images with every dtype, layout,
mode and channel combination, at every supported SIMD level, and checks that the levels
agree bit for bit. Contiguous images are exact-size allocations, so a read past the last
byte lands in an ASan redzone; views cover crops, flips (negative strides), step slices,
channel-reversed and transposed arrays (the strided gather path).
"""
import itertools
import os
import sys
import time

import numpy as np

import edgevision as ev
from edgevision import _core

t0 = time.perf_counter()
print(f"edgevision._core.__file__: {_core.__file__}")
print(f"edgevision.__file__: {ev.__file__}")
print(f"kernel_info: {ev.kernel_info()}")
venv = os.environ["EV_ASAN_VENV"]
assert os.path.realpath(_core.__file__).startswith(os.path.realpath(venv) + os.sep), _core.__file__
rng = np.random.default_rng(20240601)


def rand(*shape):
    return rng.integers(0, 256, size=shape, dtype=np.uint8)


# (name, image): exact-size contiguous images of every channel layout ...
images = []
for h, w in [(1, 1), (1, 9), (9, 1), (2, 3), (5, 33), (17, 31), (64, 48), (121, 203)]:
    images.append((f"gray {h}x{w}", rand(h, w)))
    for cn in (1, 3, 4):
        images.append((f"{h}x{w}x{cn}", rand(h, w, cn)))
# ... and strided views (exact-size parents, so the views end at the allocation's end where possible).
b4 = rand(37, 53, 4)
b3 = rand(29, 41, 3)
images += [
    ("crop 3 of 4 channels", b4[3:, 7:, :3]),
    ("flip both axes", b3[::-1, ::-1]),
    ("channel-reversed view", b3[..., ::-1]),
    ("step slices", b4[::2, ::3]),
    ("transposed", b3.transpose(1, 0, 2)),
    ("fortran order", np.asfortranarray(rand(23, 19, 3))),
    ("gray from channel 2 (pixel stride 4)", b4[:, :, 2]),
    ("gray flipped", rand(15, 26)[::-1, ::-1]),
    ("1-channel 3-d view", b4[:, :, 1:2]),
    ("single row", b3[-1:, :, :]),
    ("single column", b3[:, -1:, :]),
    ("tail crop of exact buffer", b4[-5:, -6:, :]),
]


def cn_of(im):
    return 1 if im.ndim == 2 else im.shape[2]


DTYPES = ("float32", "float16", "uint8")
LAYOUTS = ("NCHW", "NHWC")
INTERPS = ("bilinear", "nearest")
MODES = ("letterbox", "stretch", "pad_right", "none")
SIZES = [(1, 1), (7, 5), (32, 32), (48, 80), (100, 60), (13, 200)]

cases = []  # (label, fn, args, kwargs)
for i, (name, im) in enumerate(images):
    cn = cn_of(im)
    out_channels = {1: (1, 3), 3: (3,), 4: (3, 4)}[cn]
    for j, (dtype, layout, interp) in enumerate(itertools.product(DTYPES, LAYOUTS, INTERPS)):
        k = i + j
        mode = MODES[k % 4]
        channels = out_channels[k % len(out_channels)]
        if mode == "none":
            size = (im.shape[0] + k % 3, im.shape[1] + (k // 3) % 4)
        else:
            size = SIZES[k % len(SIZES)]
        kw = dict(
            mode=mode, interpolation=interp, dtype=dtype, layout=layout, channels=channels,
            align=("center", "top-left")[k % 2], scaleup=(k % 5 != 0), swap_rb=(k % 3 == 0),
            pad_value=(114.0, 0.5, 255.0, 7.0)[:channels] if k % 2 else 114.0,
            mean=(0.485, 0.456, 0.406, 0.5)[:channels] if k % 4 == 1 else 0.0,
            std=(0.229, 0.224, 0.225, 0.25)[:channels] if k % 4 == 1 else 1.0,
            threads=(1, 2, 7)[k % 3],
        )
        if dtype == "uint8" and k % 4 == 1:
            kw.update(mean=0.0, std=1.0)
        cases.append((f"letterbox[{name}] {kw}", ev.letterbox, (im, size), kw))
        # warp_quad: quads inside, straddling and outside the image.
        hh, ww = im.shape[:2]
        quad = [
            [[0, 0], [ww, 0], [ww, hh], [0, hh]],
            [[-3.5, -2.0], [ww + 2.5, -1.0], [ww + 4.0, hh + 3.0], [-1.0, hh + 2.25]],
            [[ww + 10, hh + 10], [ww + 30, hh + 12], [ww + 28, hh + 40], [ww + 9, hh + 35]],
            [[0.25, 0.25], [0.75, 0.25], [0.75, 0.75], [0.25, 0.75]],
        ][k % 4]
        wkw = {key: kw[key] for key in ("dtype", "layout", "channels", "swap_rb", "pad_value", "mean", "std", "threads")}
        cases.append((f"warp_quad[{name}] {wkw}", ev.warp_quad, (im, quad, SIZES[(k + 1) % len(SIZES)]), wkw))

# Batches of mixed sizes and strides (same channel count), and caller-owned out buffers.
by_cn = {}
for name, im in images:
    by_cn.setdefault(cn_of(im), []).append(im)
for cn, ims in by_cn.items():
    for j, (dtype, layout) in enumerate(itertools.product(DTYPES, LAYOUTS)):
        kw = dict(dtype=dtype, layout=layout, mode=MODES[j % 3], interpolation=INTERPS[j % 2], threads=(1, 2, 5)[j % 3])
        cases.append((f"letterbox_batch[cn={cn}, n={len(ims)}] {kw}", ev.letterbox_batch, (ims, (40, 56)), kw))
for dtype, layout in itertools.product(DTYPES, LAYOUTS):
    im = images[3][1]
    C = 3
    shape = (1, C, 24, 40) if layout == "NCHW" else (1, 24, 40, C)
    for sh in (shape, shape[1:]):
        out = np.empty(sh, dtype=dtype)
        cases.append((f"letterbox out={sh} {dtype} {layout}", ev.letterbox, (im, (24, 40)), dict(out=out, dtype=dtype, layout=layout)))
        out = np.empty(sh, dtype=dtype)
        cases.append((f"warp_quad out={sh} {dtype} {layout}", ev.warp_quad, (im, [[1, 1], [30, 2], [31, 20], [0, 16]], (24, 40)), dict(out=out, dtype=dtype, layout=layout)))

# A few realistic sizes: camera frames to detector inputs, several row chunks per thread.
frame = rand(480, 640, 3)
for dtype, layout in itertools.product(DTYPES, LAYOUTS):
    cases.append((f"letterbox[480x640x3 -> 640] {dtype} {layout}", ev.letterbox, (frame, 640), dict(dtype=dtype, layout=layout, swap_rb=True, threads=2)))
cases.append(("letterbox_batch[480x640x3 + 720x405x3 view] -> 384x640", ev.letterbox_batch, ([frame, rand(720, 405, 4)[:, :, 2::-1]], (384, 640)), dict(threads=2)))
cases.append(("warp_quad[480x640x3 plate] -> 48x192", ev.warp_quad, (frame, [[100.5, 200.25], [400, 190], [410, 290], [95, 300]], (48, 192)), dict(dtype="float16", threads=2)))


def run_all():
    results = []
    for label, fn, args, kw in cases:
        try:
            r = fn(*args, **kw)
        except Exception as e:  # every case is valid; an error here is a bug
            raise AssertionError(f"{label}: {type(e).__name__}: {e}") from e
        blob = r[0] if isinstance(r, tuple) else r
        assert blob.ndim == 4 or "out=" in label, label
        results.append(np.array(blob, copy=True))
    return results


levels = list(ev.kernel_info()["supported"])
per_level = {}
for level in levels:
    with ev.simd(level):
        t = time.perf_counter()
        per_level[level] = run_all()
        print(f"  simd={level:7s} {len(cases)} calls in {time.perf_counter() - t:.1f}s")
ref_level = levels[0]
mismatches = 0
for level in levels[1:]:
    for (label, *_), a, b in zip(cases, per_level[ref_level], per_level[level]):
        if a.shape != b.shape or a.tobytes() != b.tobytes():
            mismatches += 1
            if mismatches <= 10:
                print(f"  MISMATCH {level} vs {ref_level}: {label}", file=sys.stderr)
assert mismatches == 0, f"{mismatches} results differ between SIMD levels"

# Exact oracle: mode 'none' at the image size, uint8, scale 1, NHWC, all channels kept = the image.
for name, im in images:
    cn = cn_of(im)
    blob, _ = ev.letterbox(im, None, mode="none", dtype="uint8", layout="NHWC", channels=cn, pad_value=0)
    assert np.array_equal(blob[0].reshape(im.shape), im), f"identity failed for {name}"

# The private _core layer re-checks its arguments; bad calls must raise, never touch memory.
im = dict(images)["17x31x3"]
out = np.empty((1, 3, 8, 8), np.float32)
bad = [
    lambda: _core.resize([im], [[0, 0, 9, 8]], out, False, 3, [0, 1, 2, -1], [1] * 4, [0] * 4, [0] * 4, "bilinear", 1),
    lambda: _core.resize([im], [[-1, 0, 8, 8]], out, False, 3, [0, 1, 2, -1], [1] * 4, [0] * 4, [0] * 4, "bilinear", 1),
    lambda: _core.resize([im], [[0, 0, 8, 8]], out, False, 3, [0, 1, 3, -1], [1] * 4, [0] * 4, [0] * 4, "bilinear", 1),
    lambda: _core.resize([im], [[0, 0, 8, 8]], out[:, :, ::2], False, 3, [0, 1, 2, -1], [1] * 4, [0] * 4, [0] * 4, "bilinear", 1),
    lambda: _core.resize([im], [[0, 0, 8, 8]], out, True, 3, [0, 1, 2, -1], [1] * 4, [0] * 4, [0] * 4, "bilinear", 1),
    lambda: _core.resize([im.astype(np.int16)], [[0, 0, 8, 8]], out, False, 3, [0, 1, 2, -1], [1] * 4, [0] * 4, [0] * 4, "bilinear", 1),
    lambda: _core.warp(im, [float("nan")] * 9, out, False, 3, [0, 1, 2, -1], [1] * 4, [0] * 4, [0] * 4, [0] * 4, 1),
    lambda: _core.warp(im, [1.0, 0, 0, 0, 1, 0, 0, 0, 1], out, False, 4, [0, 1, 2, 3], [1] * 4, [0] * 4, [0] * 4, [0] * 4, 1),
]
for i, call in enumerate(bad):
    try:
        call()
    except (ValueError, TypeError):
        pass
    else:
        raise AssertionError(f"bad _core call #{i} did not raise")

n_calls = len(cases) * len(levels) + len(images) + len(bad)
print(f"smoke: OK: {n_calls} kernel calls ({len(cases)} cases x levels {levels}, "
      f"{len(images)} identity checks, {len(bad)} rejected bad calls) in {time.perf_counter() - t0:.1f}s")
EOF

# ---------------------------------------------------------------------------
# 4. Sanitizer environment (only for the test processes, not for the build)
rm -rf "$LOGS"
mkdir -p "$LOGS"
run_env=(
  env
  "LD_PRELOAD=$asan_rt $ubsan_rt${LD_PRELOAD:+ $LD_PRELOAD}"
  "ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=0:allocator_may_return_null=1:check_initialization_order=1:strict_init_order=1:log_path=$LOGS/asan${EV_ASAN_OPTIONS:+:$EV_ASAN_OPTIONS}"
  # log_path is listed for toolchains that honour it; GCC 12's libubsan ignores it in an
  # ASan+UBSan build and always writes to stderr, which is why the transcripts are scanned too.
  "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$LOGS/ubsan${EV_UBSAN_OPTIONS:+:$EV_UBSAN_OPTIONS}"
  "PYTHONMALLOC=malloc"       # no pymalloc arenas: every allocation gets ASan redzones
  "PYTHONPATH=$HELPERS"
  "EV_ASAN_VENV=$VENV"
  "EV_ASAN_SRC=$ROOT/edgevision"
  "PATH=$VENV/bin:$PATH"
)

# Runs a command, its stdout+stderr shown and kept in $LOGS/<name>.out; returns its status.
run_logged() {
  local name="$1"; shift
  set +e +o pipefail
  "$@" 2>&1 | tee "$LOGS/$name.out"
  local rc=${PIPESTATUS[0]}
  set -e -o pipefail
  return "$rc"
}
# Sanitizer reports: ASan's log_path files (these also catch child processes whose stderr a test
# swallowed) plus any report printed on the transcripts (UBSan's, see above).
# (Not anchored: pytest prints a report right after the test file name, on the same line.)
REPORT_RE=':[0-9]+:[0-9]+: runtime error: |==[0-9]+==ERROR: [A-Za-z]+Sanitizer'
report_files() { find "$LOGS" -type f \( -name 'asan.*' -o -name 'ubsan.*' \) -size +0c | sort; }
n_stderr_reports() { cat "$LOGS"/*.out 2>/dev/null | grep -cE "$REPORT_RE" || true; }
n_reports() { echo $(( $(report_files | wc -l) + $(n_stderr_reports) )); }

status=0 smoke_status=skipped pytest_status=skipped
if [[ $smoke == 1 ]]; then
  log "smoke run (sanitized; ASan reports go to $LOGS)"
  rc=0
  run_logged smoke "${run_env[@]}" "$VPY" "$HELPERS/ev_asan_smoke.py" || rc=$?
  if [[ $rc != 0 || $(n_reports) != 0 ]]; then
    status=1
    smoke_status="FAILED (exit $rc)"
  else
    smoke_status="passed"
  fi
fi

if [[ $run_pytest == 1 && $status == 0 ]]; then
  log "pytest ${pytest_args[*]}"
  color=()
  [[ -t 1 ]] && color=(--color=yes)
  rc=0
  # --capture=sys: pytest still captures Python's sys.stdout/err, but not fd 2, so a sanitizer
  # report reaches the terminal (with the default fd capture, a process killed by a sanitizer
  # takes its report with it: pytest only says the run ended, exit 1, nothing else).
  # Your own -s / --capture=... in the pytest args wins.
  run_logged pytest "${run_env[@]}" "$VENV/bin/pytest" -p ev_asan_guard -o cache_dir="$ASAN_DIR/pytest_cache" \
    --capture=sys "${color[@]}" "${pytest_args[@]}" || rc=$?
  if [[ $rc == 5 && $allow_no_tests == 1 ]]; then
    pytest_status="no tests collected (allowed by --allow-no-tests)"
  elif [[ $rc == 5 ]]; then
    pytest_status="FAILED: no tests collected (exit 5; pass --allow-no-tests to accept)"
    status=5
  elif [[ $rc != 0 ]]; then
    pytest_status="FAILED (exit $rc)"
    status=$rc
  else
    pytest_status="passed"
  fi
elif [[ $run_pytest == 1 ]]; then
  pytest_status="not run (smoke run failed)"
fi

n_rep=$(n_reports)
if [[ $n_rep != 0 ]]; then
  while read -r f; do
    [[ -n "$f" ]] || continue
    printf '\n----- sanitizer report %s -----\n' "$f"
    cat "$f"
  done < <(report_files)
  if [[ $(n_stderr_reports) != 0 ]]; then
    printf '\n----- sanitizer reports printed on stderr (see %s/*.out) -----\n' "$LOGS"
    grep -hE "$REPORT_RE" "$LOGS"/*.out || true
  fi
  [[ $status == 0 ]] && status=1
fi

total_s=$(awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
cat <<EOF

==================== sanitize.sh summary ====================
_core          : $CORE_SO
build          : EV_SANITIZE=ON, $BUILD_TYPE, ASan+UBSan (build step ${build_s}s)
LD_PRELOAD     : $asan_rt $ubsan_rt
smoke run      : $smoke_status
pytest         : $pytest_status  (args: ${pytest_args[*]})
sanitizer      : $n_rep report(s)  (logs and transcripts in $LOGS)
wall time      : ${total_s}s
result         : $([[ $status == 0 ]] && echo PASS || echo "FAIL (exit $status)")
=============================================================
EOF
exit "$status"
