"""Runs the standalone C++ test (tests/cpp/test_rows.cpp) through scripts/check_cpp.sh.

It compares every SIMD level's row functions and full resize/warp runs with the
scalar reference at tolerance 0, with guard pages and sentinels around every
buffer, natively (SSE4.1/AVX2 on x86) and, when the aarch64 cross compiler and
qemu-user are installed, for NEON under qemu. The NEON half is a separate test
that is skipped, with its reason shown, only when that toolchain is absent.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "check_cpp.sh"
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed$", re.MULTILINE)


def run_check(*args: str) -> str:
    if shutil.which(os.environ.get("CXX", "g++")) is None:
        pytest.fail("no C++ compiler found (set CXX); the kernel cannot be built without one either")
    r = subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    return r.stdout


def test_native_simd_levels_bit_exact_with_scalar():
    out = run_check()
    native = out.split("== native", 1)[-1] if "== native" in out else out
    counts = [(int(p), int(f)) for p, f in SUMMARY.findall(native)]
    assert counts, out[-2000:]
    passed, failed = counts[0]
    assert failed == 0 and passed > 10000, out[-2000:]


@pytest.mark.skipif(
    shutil.which("aarch64-linux-gnu-g++") is None or shutil.which("qemu-aarch64") is None,
    reason="aarch64 cross compiler or qemu-aarch64 not installed (apt-get install g++-aarch64-linux-gnu qemu-user); "
    ".ci/run installs them",
)
def test_neon_bit_exact_with_scalar_under_qemu():
    out = run_check("--no-native", "--require-neon")
    counts = [(int(p), int(f)) for p, f in SUMMARY.findall(out)]
    assert counts, out[-2000:]
    passed, failed = counts[-1]
    assert failed == 0 and passed > 10000, out[-2000:]
