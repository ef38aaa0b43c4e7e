"""The timing protocol, under its old name: it lives in :mod:`calibration.timing`
(``calibration.quantize.report`` uses it too, and ``calibration`` may not import
``benchmarks``, which imports ``calibration``)."""

from calibration.timing import (
    StageStats,
    Stats,
    cpu_model,
    current_rss_mb,
    environment,
    format_ratio,
    measure_interleaved,
    measure_repeated,
    noise_pct,
    peak_rss_mb,
    percentile,
    ratio,
    within_noise,
)

__all__ = ["StageStats", "Stats", "cpu_model", "current_rss_mb", "environment", "format_ratio", "measure_interleaved",
           "measure_repeated", "noise_pct", "peak_rss_mb", "percentile", "ratio", "within_noise"]
