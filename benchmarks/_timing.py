"""The timing protocol, under its old name: it lives in :mod:`calibration.timing`
(``calibration.quantize.report`` uses it too, and ``calibration`` may not import
``benchmarks``, which imports ``calibration``)."""

from calibration.timing import Stats, cpu_model, current_rss_mb, environment, measure_interleaved, peak_rss_mb, percentile

__all__ = ["Stats", "cpu_model", "current_rss_mb", "environment", "measure_interleaved", "peak_rss_mb", "percentile"]
