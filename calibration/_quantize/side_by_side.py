"""The variants report: latency, task metric and size of model variants side by side.

A thin adapter over the project's one variants report, the latency engine of
``calibration/_latency/`` (whose command line is ``python -m benchmarks.latency``): the
variants are run by :func:`~calibration._latency.run.run_variants` (one family, named as
given; the baseline is the first float variant by the model inspector,
:func:`edgevision.modelinfo.model_info`), timing :meth:`Predictor.infer` only (the engine's
``infer`` stage, one batch-1 input) with the one timing protocol (:mod:`calibration.timing`),
and tabulated by :func:`~calibration._latency.report.variant_rows` and
:func:`~calibration._latency.report.variants_markdown`. This module only checks the
arguments, maps them onto a :class:`~calibration._latency.results.BenchConfig` and writes
the files.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from edgevision.checks import is_int
from edgevision.errors import InvalidArgumentError, InvalidTypeError

from .._latency.report import variant_rows, variants_markdown as _markdown
from .._latency.results import BenchConfig
from .._latency.run import _inspected_kind as _variant_kind
from .._latency.run import run_variants
from ..errors import QuantizationError
from .common import _model_path


#: Repeats of the interleaved rounds (``benchmarks.latency --repeats`` defaults to 5: this view is quicker).
REPEATS = 3
#: The one stage this view times (what ``benchmarks.latency`` calls ``infer``).
STAGE = "infer"


def report(models: Sequence[str | os.PathLike] | Mapping[str, str | os.PathLike], samples: Sequence[Any] | None, *,
           runs: int = 30, threads: int | None = None, eval_limit: int | None = None,
           out_md: str | os.PathLike | None = None, out_json: str | os.PathLike | None = None,
           progress: bool = False) -> dict[str, Any]:
    """Latency, task metric and size of model variants, side by side.

    Args:
        models: ``.onnx`` paths (variant = file stem) or ``{variant: path}``. The baseline
            for the ratios is the first float (not quantized, not fp16) model, else the first.
        samples: labelled samples for :func:`~calibration.metrics.evaluate` (None: no metric).
        runs: at least this many timed :meth:`Predictor.infer` calls per variant and repeat; the
            variants are timed round-robin (``calibration.timing.measure_repeated``, 3 repeats) on
            one batch-1 input made by the model's own preprocessing from the first sample's image
            (an OCR model: its plate crop), or from a synthetic frame without samples. ONNX Runtime
            on the CPU.
        threads: ONNX Runtime intra-op threads (None: its default).
        eval_limit: evaluate on the first N samples only.
        out_md, out_json: write the Markdown table / the JSON document there.
        progress: a progress bar on stderr (when ``rich`` is installed).

    Raises :class:`~calibration.errors.QuantizationError` naming the variant when one cannot be
    loaded, run or evaluated (the engine's ``failed`` row, or its metric note).

    Returns:
        ``{"environment": ..., "baseline": name, "runs", "repeats", "stage": "infer", "rows": [...],
        "markdown": str}``; each row (:func:`~calibration._latency.report.variant_rows`):
        ``variant, path, kind, p50_ms, p90_ms, latency_ratio, metric, value,
        higher_is_better, count, metric_delta, size_mb, size_ratio, noise_pct, within_noise, evaluation``
        (``noise_pct``: the baseline timed twice, in percent; ``metric_delta``: relative
        change for lower-is-better metrics, absolute for the others; ratios to the baseline;
        ``evaluation``: the full :meth:`EvalResult.to_dict`, breakdowns included, or None).
    """
    if isinstance(models, Mapping):
        items = [(str(k), v) for k, v in models.items()]
    elif isinstance(models, (str, os.PathLike)) or not isinstance(models, Sequence):
        raise InvalidTypeError(f"models: expected a list of .onnx paths or a {{variant: path}} dict, got {models!r}")
    else:
        items = [(Path(m).stem if isinstance(m, (str, os.PathLike)) else str(m), m) for m in models]
    if not items:
        raise InvalidArgumentError("models: expected at least one model")
    if len({k for k, _ in items}) != len(items):
        raise InvalidArgumentError(f"models: variant names must be unique, got {[k for k, _ in items]}")
    if not is_int(runs) or runs < 1:
        raise InvalidArgumentError(f"runs: expected an int >= 1, got {runs!r}")
    if eval_limit is not None and (not is_int(eval_limit) or eval_limit < 1):
        raise InvalidArgumentError(f"eval_limit: expected an int >= 1 or None, got {eval_limit!r}")
    for name, f in (("out_md", out_md), ("out_json", out_json)):
        if f is not None and (not isinstance(f, (str, os.PathLike)) or not Path(f).resolve().parent.is_dir()):
            raise InvalidArgumentError(f"{name}: expected a file path in an existing folder, got {f!r}")
    paths = {k: _model_path(v, f"models[{k!r}]") for k, v in items}
    samples = list(samples) if samples is not None else None
    config = BenchConfig(models=[os.fspath(p) for p in paths.values()], devices=["cpu"], threads=[threads],
                         warmup=3, iters=int(runs), repeats=REPEATS, rounds=6, min_time_s=0.3,
                         metric=bool(samples), eval_count=eval_limit or max(len(samples or ()), 1),
                         stages=(STAGE,))
    result = run_variants(paths, config, samples=samples if samples is not None else [],
                          progress=bool(progress) and importlib.util.find_spec("rich") is not None)
    for r in result.rows:  # this view has no failed rows: a variant that cannot be run is an error
        if r.status != "ok":
            raise QuantizationError(f"report: models[{r.model!r}]: {r.reason}", step="report")
        if samples and r.metric is None:
            raise QuantizationError(f"report: models[{r.model!r}]: {r.metric_note}", step="report")
    rows = variant_rows(result, STAGE)
    base = next(r.model for r in result.rows if r.is_baseline)
    doc = {"environment": result.environment, "baseline": base, "runs": int(runs), "repeats": REPEATS,
           "stage": STAGE, "rows": rows}
    doc["markdown"] = _markdown(doc)
    if out_md is not None:
        Path(out_md).write_text(doc["markdown"], encoding="utf-8")
    if out_json is not None:
        Path(out_json).write_text(json.dumps(doc, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    return doc
