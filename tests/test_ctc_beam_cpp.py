"""The compiled CTC prefix beam search (csrc/ctc_beam.cpp) built with AddressSanitizer and
UndefinedBehaviorSanitizer and run on random inputs (tests/cpp/test_ctc_beam.cpp): no out-of-bounds
access, no undefined behaviour, and the result's invariants (at most ``width`` distinct readings,
best first, finite log-probabilities <= 0, no blank, classes in range). Its values are held equal
to the Python reference in tests/test_decoders.py."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ctc_beam_search_under_sanitizers(tmp_path: Path) -> None:
    cxx = os.environ.get("CXX", "g++")
    if shutil.which(cxx) is None:
        pytest.fail("no C++ compiler found (set CXX); the extension cannot be built without one either")
    exe = tmp_path / "test_ctc_beam"
    build = subprocess.run([cxx, "-O1", "-g", "-std=c++17", "-ffp-contract=off", "-fsanitize=address,undefined",
                            "-fno-sanitize-recover=undefined", "-fno-omit-frame-pointer", f"-I{ROOT / 'csrc'}",
                            str(ROOT / "tests" / "cpp" / "test_ctc_beam.cpp"), str(ROOT / "csrc" / "ctc_beam.cpp"),
                            "-o", str(exe)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-4000:]
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0"})
    assert run.returncode == 0 and "3000 passed, 0 failed" in run.stdout, run.stdout[-4000:] + run.stderr[-4000:]
