"""Timing and statistics shared by every benchmark: the project's one timing protocol.

It lives here, in ``calibration`` (which imports no other host package), because
both ``calibration.quantize.report`` and every ``benchmarks`` module time with
it, and ``benchmarks`` already imports ``calibration``: a module in
``benchmarks`` would make the two packages import each other.
``benchmarks._timing`` re-exports it under its old name.

Rules (the project's "honest statistics"): warm-up calls first, then several
timed samples; figures are medians with p90; comparisons are ratios against a
baseline measured in the same run. No benchmark asserts a timing.

The protocol, as ``benchmarks.latency`` and ``calibration.quantize.report`` both run it:
the functions to compare are timed round-robin (:func:`measure_interleaved`) so that
load drift hits all of them alike, in several repeats (:func:`measure_repeated`); a
function's p50 is the median of its per-repeat medians and p90/p99 are over all its
samples (:class:`StageStats`); the noise is the relative difference between two
timings of the same function in the same run (:func:`noise_pct`), and a ratio to the
baseline (:func:`ratio`) whose distance from 1 is below it is flagged ``~``
(:func:`within_noise`, :func:`format_ratio`).
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from edgevision.errors import InvalidArgumentError


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


def measure_repeated(fns: dict[Any, Callable[[], Any]], *, repeats: int = 3, rounds: int = 6, warmup: int = 3,
                     min_samples: int = 15, min_time_s: float = 0.4,
                     on_repeat: Callable[[], Any] | None = None) -> dict[Any, list[Stats]]:
    """The protocol: :func:`measure_interleaved` ``repeats`` times (warm-up calls in the first
    repeat only); one :class:`Stats` per repeat for each function. Summarise each function
    with :meth:`StageStats.from_repeats` (p50 = the median of the per-repeat medians) and
    estimate the noise by timing one function twice under two keys (:func:`noise_pct`).
    ``on_repeat`` is called after each repeat (a progress bar)."""
    out: dict[Any, list[Stats]] = {k: [] for k in fns}
    if not fns:
        return out
    for r in range(repeats):
        stats = measure_interleaved(fns, rounds=rounds, warmup=warmup if r == 0 else 0,
                                    min_samples=min_samples, min_time_s=min_time_s)
        for k, st in stats.items():
            out[k].append(st)
        if on_repeat is not None:
            on_repeat()
    return out


def ratio(value: float | None, base: float | None) -> float | None:
    """``value / base``, or None when either is missing or the base is 0 (or not finite)."""
    if value is None or base is None:
        return None
    value, base = float(value), float(base)
    if base == 0 or not np.isfinite(base) or not np.isfinite(value):
        return None
    return value / base


def noise_pct(a_ms: float, b_ms: float) -> float:
    """Relative spread of two timings of the same thing, in percent: ``|a - b| / mean(a, b) * 100``."""
    mean = (a_ms + b_ms) / 2.0
    if mean <= 0:
        raise InvalidArgumentError(f"a_ms, b_ms: expected positive timings, got {a_ms!r}, {b_ms!r}")
    return abs(a_ms - b_ms) / mean * 100.0


def within_noise(r: float | None, noise: float | None) -> bool:
    """Whether a ratio is indistinguishable from 1 given the noise (percent):
    ``|r - 1| * 100 < noise``. False when either is unknown."""
    if r is None or noise is None:
        return False
    return abs(r - 1.0) * 100.0 < noise


def format_ratio(r: float | None, noise: float | None = None) -> str:
    """``0.52x``; ``~0.97x`` when within the noise; ``-`` when unknown."""
    if r is None:
        return "-"
    return f"{'~' if within_noise(r, noise) else ''}{r:.2f}x"


@dataclass
class StageStats:
    """One stage of one row, milliseconds per call: ``p50`` is the median of the
    per-repeat medians; ``p90``/``p99`` are over all samples; ``spread_pct`` is
    (max - min) / p50 of the per-repeat medians, in percent."""

    p50: float
    p90: float
    p99: float
    n: int
    spread_pct: float

    @classmethod
    def from_repeats(cls, repeats: Sequence[Stats]) -> "StageStats":
        medians = [s.median for s in repeats]
        pooled = Stats([x for s in repeats for x in s.samples_ms])
        p50 = float(np.median(medians))
        spread = (max(medians) - min(medians)) / p50 * 100.0 if p50 > 0 else 0.0
        return cls(p50, pooled.p90, pooled.p99, len(pooled.samples_ms), spread)


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
