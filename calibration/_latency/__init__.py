"""The latency engine: the project's one variants-side-by-side report, one module per section.

It lives in ``calibration`` so that ``calibration.quantize.report`` can run on it too
(``calibration`` may not import ``benchmarks``); its public face and command line is
:mod:`benchmarks.latency` (whose docs describe the rows, the statistics and the files).
Private: import from ``benchmarks.latency``.

``variants`` (stages, families, baselines) <- ``data`` (devices, samples, timing images;
``opencv``: the OpenCV chain baseline, synthetic frames) <- ``results`` (config, rows) <- ``run``
(loading, the metric, the timing protocol of :mod:`calibration.timing`, aggregation) <- ``report``
(table, Markdown, CSV, JSON, plot; the per-variant view). No module imports either face.
"""
