"""Statistics: ratios to the baseline, the noise estimate and per-stage figures over repeats."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from edgevision.errors import InvalidArgumentError

from .._timing import Stats


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
