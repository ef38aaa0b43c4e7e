"""The latency engine: the project's one variants-side-by-side report, one module per section.

It lives in ``calibration`` because it has two faces and ``calibration`` may not import
``benchmarks``: :mod:`benchmarks.latency` (the full grid and its command line, whose docs
describe the rows, the statistics and the files; it re-exports every name) and
:func:`calibration.quantize.report` (the one-row-per-variant view of a quantization run: a
thin adapter over :func:`.run.run_variants`, timing ``infer`` only, and
:func:`.report.variant_rows` / :func:`.report.variants_markdown`). Private: import from those.

``variants`` (stages, families, baselines) <- ``data`` (devices, samples, timing images;
``opencv``: the OpenCV chain baseline, synthetic frames) <- ``results`` (config, rows) <- ``run``
(loading, the metric, the timing protocol of :mod:`calibration.timing`, aggregation) <- ``report``
(table, Markdown, CSV, JSON, plot; the per-variant view). No module imports either face.
"""
