"""Timing and statistics shared by every benchmark: the project's one timing protocol.

It lives here, in ``calibration`` (which imports no other host package), because
both ``calibration.quantize.report`` and every ``benchmarks`` module time with
it, and ``benchmarks`` already imports ``calibration``: a module in
``benchmarks`` would make the two packages import each other.
``benchmarks._timing`` re-exports it under its old name.

Rules (the project's "honest statistics"): warm-up calls first, then several
timed samples; figures are medians with p90; comparisons are ratios against a
baseline measured in the same run. No benchmark asserts a timing.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np


@dataclass
class Stats:
    """Per-call wall times in milliseconds."""

    samples_ms: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return float(np.median(self.samples_ms))

    @property
    def p90(self) -> float:
        return percentile(self.samples_ms, 90)

    @property
    def p99(self) -> float:
        return percentile(self.samples_ms, 99)

    def to_dict(self) -> dict[str, float]:
        return {"median_ms": self.median, "p90_ms": self.p90, "p99_ms": self.p99, "n": len(self.samples_ms)}


def percentile(samples: list[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), q in [0, 100]."""
    if not samples:
        raise ValueError("samples: expected at least one sample")
    return float(np.percentile(np.asarray(samples, dtype=np.float64), q))


def measure_interleaved(fns: dict[str, Callable[[], Any]], *, rounds: int = 6, warmup: int = 3,
                        min_samples: int = 15, min_time_s: float = 0.4) -> dict[str, Stats]:
    """Times several functions round-robin: each round gives every function an
    equal slice of samples, so drift in machine load (shared CPUs, turbo,
    neighbours) affects all of them alike instead of whichever ran last."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    stats = {name: Stats() for name in fns}
    per_round = max(1, -(-min_samples // rounds))
    slice_s = min_time_s / rounds
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            n = 0
            while n < per_round or time.perf_counter() - start < slice_s:
                t0 = time.perf_counter_ns()
                fn()
                stats[name].samples_ms.append((time.perf_counter_ns() - t0) / 1e6)
                n += 1
    return stats


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict[str, Any]:
    """The header every benchmark prints: machine, versions, kernel SIMD level."""
    import cv2

    import edgevision

    env: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "edgevision": edgevision.__version__,
        "kernel": edgevision.kernel_info(),
    }
    try:
        import onnxruntime as ort

        env["onnxruntime"] = ort.__version__
        env["ort_providers"] = ort.get_available_providers()
    except ImportError:
        env["onnxruntime"] = None
    return env


def peak_rss_mb() -> float | None:
    """The process's peak resident set size so far (high-water mark), in MB (1e6 bytes),
    from ``resource.getrusage``; None where that module is missing (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / 1e6 if platform.system() == "Darwin" else peak * 1024 / 1e6


def current_rss_mb() -> float | None:
    """The process's resident set size now, in MB (1e6 bytes), from /proc/self/statm
    (Linux); None elsewhere."""
    try:
        with open("/proc/self/statm") as f:
            resident_pages = int(f.read().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 1e6
