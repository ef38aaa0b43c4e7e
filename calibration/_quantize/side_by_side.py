"""The variants report: latency, task metric and size of model variants side by side.

It measures with the project's one timing protocol (:mod:`calibration.timing`, the one
``benchmarks.latency`` uses): :func:`~calibration.timing.measure_repeated` over the
variants' :meth:`Predictor.infer` (the call ``benchmarks.latency`` times as its ``infer``
stage) on one batch-1 input, round-robin, in repeats; p50 is the median of the per-repeat
medians (:class:`~calibration.timing.StageStats`), ratios are to the baseline measured in
the same run, and the baseline is timed twice for the noise (a ratio within it gets ``~``).
What a variant *is* (``kind``) comes from the model inspector,
:func:`edgevision.modelinfo.model_info`. ``benchmarks.latency`` is the full grid (stages,
devices, batches, threads); this is its one-row-per-variant view for a quantization run,
and it stays in ``calibration`` because ``benchmarks`` imports ``calibration``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgevision.checks import is_int
from edgevision.errors import InvalidArgumentError, InvalidTypeError

from ..timing import format_ratio
from .common import _model_path, _size_mb


#: Repeats of the interleaved rounds (``benchmarks.latency --repeats`` defaults to 5: this view is quicker).
REPEATS = 3
#: The key of the baseline's second timing (not a str: it cannot collide with a variant name).
_AGAIN = ("baseline", "again")


def _variant_kind(path: str) -> str:
    from edgevision.modelinfo import model_info

    graph = model_info(path)["quantization"]["graph"]
    return graph["kind"] if isinstance(graph, dict) else "unknown"


def report(models: Sequence[str | os.PathLike] | Mapping[str, str | os.PathLike], samples: Sequence[Any] | None, *,
           runs: int = 30, threads: int | None = None, eval_limit: int | None = None,
           out_md: str | os.PathLike | None = None, out_json: str | os.PathLike | None = None,
           progress: bool = False) -> dict[str, Any]:
    """Latency, task metric and size of model variants, side by side.

    Args:
        models: ``.onnx`` paths (variant = file stem) or ``{variant: path}``. The baseline
            for the ratios is the first float (not quantized, not fp16) model, else the first.
        samples: labelled samples for :func:`~calibration.metrics.evaluate` (None: no metric).
        runs: at least this many timed :meth:`Predictor.infer` calls per variant; the variants are
            timed round-robin (``calibration.timing.measure_repeated``, 3 repeats) on one batch-1
            input tensor made by the model's own preprocessing.
        threads: ONNX Runtime intra-op threads (None: its default).
        eval_limit: evaluate on the first N samples only.
        out_md, out_json: write the Markdown table / the JSON document there.

    Returns:
        ``{"environment": ..., "baseline": name, "rows": [...], "markdown": str}``; each row:
        ``variant, path, kind, p50_ms, p90_ms, latency_ratio, metric, value,
        higher_is_better, metric_delta, size_mb, size_ratio, noise_pct, within_noise, evaluation``
        (``noise_pct``: the baseline timed twice, in percent; ``metric_delta``: relative
        change for lower-is-better metrics, absolute for the others; ratios to the baseline;
        ``evaluation``: the full :meth:`EvalResult.to_dict`, breakdowns included, or None).
    """
    from edgevision.predictor import Predictor

    from ..metrics import evaluate
    from ..timing import StageStats, environment, measure_repeated, noise_pct, ratio, within_noise

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
    for name, f in (("out_md", out_md), ("out_json", out_json)):
        if f is not None and (not isinstance(f, (str, os.PathLike)) or not Path(f).resolve().parent.is_dir()):
            raise InvalidArgumentError(f"{name}: expected a file path in an existing folder, got {f!r}")
    paths = {k: _model_path(v, f"models[{k!r}]") for k, v in items}
    preds = {k: Predictor(p, threads=threads, warmup=False) for k, p in paths.items()}
    kinds = {k: _variant_kind(os.fspath(p)) for k, p in paths.items()}
    base = next((k for k in paths if kinds[k] == "none"), next(iter(paths)))

    rows: dict[str, dict[str, Any]] = {}
    fns = {}
    for k, p in preds.items():
        size, kw = p.config.preprocess_kwargs()
        ch = kw.get("channels") or 3
        img = np.full((size[0], size[1]) if ch == 1 else (size[0], size[1], ch), 114, np.uint8)
        blob, _ = p.preprocess([img])
        fns[k] = (lambda p=p, b=blob: p.infer(b))  # what benchmarks.latency times as "infer"
    fns[_AGAIN] = fns[base]  # the baseline twice: the run's noise
    reps = measure_repeated(fns, repeats=REPEATS, rounds=6, warmup=3, min_samples=runs, min_time_s=0.3)
    stats = {k: StageStats.from_repeats(v) for k, v in reps.items()}
    noise = noise_pct(stats[base].p50, stats[_AGAIN].p50) if stats[base].p50 > 0 else None
    for k, path in paths.items():
        ev = None
        if samples is not None:
            ev = evaluate(preds[k], samples, limit=eval_limit, progress=progress)
        rows[k] = {"variant": k, "path": os.fspath(path), "kind": kinds[k],
                   "p50_ms": stats[k].p50, "p90_ms": stats[k].p90,
                   "metric": ev.metric if ev else None, "value": ev.value if ev else None,
                   "higher_is_better": ev.higher_is_better if ev else None, "count": ev.count if ev else 0,
                   "size_mb": _size_mb(path), "evaluation": ev.to_dict() if ev else None}
    b = rows[base]
    for r in rows.values():
        r["latency_ratio"] = ratio(r["p50_ms"], b["p50_ms"])
        r["noise_pct"] = noise
        r["within_noise"] = r is not b and within_noise(r["latency_ratio"], noise)
        r["size_ratio"] = r["size_mb"] / b["size_mb"] if b["size_mb"] > 0 else None
        if r["value"] is not None and b["value"] is not None:
            if r["higher_is_better"]:
                r["metric_delta"] = r["value"] - b["value"]
            else:
                r["metric_delta"] = (r["value"] / b["value"] - 1.0) if b["value"] else None
        else:
            r["metric_delta"] = None
    doc = {"environment": environment(), "baseline": base, "runs": int(runs), "rows": list(rows.values())}
    doc["markdown"] = _markdown(doc)
    if out_md is not None:
        Path(out_md).write_text(doc["markdown"], encoding="utf-8")
    if out_json is not None:
        Path(out_json).write_text(json.dumps(doc, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    return doc


def _markdown(doc: dict[str, Any]) -> str:
    env = doc["environment"]
    base = next(r for r in doc["rows"] if r["variant"] == doc["baseline"])
    header = (f"Baseline `{base['variant']}` (`{base['path']}`); {env.get('cpu')}, {env.get('cores')} cores, "
              f"onnxruntime {env.get('onnxruntime')}, {env.get('date')}. p50 of `Predictor.infer` on one batch-1 input "
              "(median of 3 repeats' medians), variants timed round-robin; ratios to the baseline, ~ within the noise"
              + (f" ({base['noise_pct']:.1f}%)." if base.get("noise_pct") is not None else "."))
    lines = [header, "",
             "| variant | kind | p50 latency ms | task metric | size MB |", "|---|---|---|---|---|"]
    for r in doc["rows"]:
        noise = r.get("noise_pct") if r["variant"] != doc["baseline"] else None
        lat = f"{r['p50_ms']:.3f} ({format_ratio(r['latency_ratio'], noise)})" if r["latency_ratio"] is not None else \
            f"{r['p50_ms']:.3f}"
        if r["value"] is None:
            met = "n/a"
        else:
            met = f"{r['metric']} {r['value']:.6g}"
            if r["metric_delta"] is not None and r["variant"] != doc["baseline"]:
                met += (f" ({r['metric_delta'] * 100:+.2f} pp)" if r["higher_is_better"]
                        else f" ({r['metric_delta'] * 100:+.1f}%)")
            legible = ((r.get("evaluation") or {}).get("details") or {}).get("legible")
            if legible and r["metric"] in legible:  # OCR: the same metric without the illegible plates
                met += f"; legible {legible[r['metric']]:.6g}"
        size = f"{r['size_mb']:.3f} ({r['size_ratio']:.2f}x)" if r["size_ratio"] is not None else f"{r['size_mb']:.3f}"
        lines.append(f"| {r['variant']} | {r['kind']} | {lat} | {met} | {size} |")
    return "\n".join(lines) + "\n"
