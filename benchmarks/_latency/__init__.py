"""The sections of :mod:`benchmarks.latency`, one module each (private: import from
``benchmarks.latency``, whose names and docs are the public ones; its command line stays there).

``variants`` (stages, families, baselines) and ``stats`` <- ``results`` (config, rows) <- ``data``
(devices, samples, timing images) <- ``run`` <- ``report`` (table, Markdown, CSV, JSON, plot).
No module imports the package facade.
"""
