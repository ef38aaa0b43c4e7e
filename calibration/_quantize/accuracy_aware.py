"""Accuracy-aware quantization: the most sensitive nodes stay float until the task metric is within tolerance."""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgevision._io import atomic_output
from edgevision.errors import InvalidArgumentError
from edgevision.checks import is_int, is_real

from .common import (
    AccuracyAwareResult,
    METRIC_DIRECTIONS,
    QuantizeResult,
    _load,
    _model_path,
    _out_path,
    _quiet,
    _reason,
    _size_mb,
)
from .sensitivity import head_nodes, node_costs, node_sensitivity
from .static import (
    _calibration_data,
    _check_count,
    _check_exclude,
    _check_options,
    _finish_static,
    _preprocess,
    _resolve_exclude,
    _section,
    _static,
)


def _limit(fp32: float, tolerance: float, higher: bool) -> float:
    return fp32 - tolerance if higher else fp32 * (1.0 + tolerance)


def _within(value: float, limit: float, higher: bool) -> bool:
    return value >= limit if higher else value <= limit


def _metric_value(ev: Any, metric: str) -> float:
    v = ev.value if metric == ev.metric else ev.details.get(metric)
    if not is_real(v) or not math.isfinite(v):
        raise InvalidArgumentError(f"metric: {metric!r} is not a number in the {ev.task} evaluation "
                                   f"(available: {', '.join(k for k, x in ev.details.items() if isinstance(x, float))})")
    return float(v)


def quantize_accuracy_aware(model: str | os.PathLike, data: Any, eval_samples: Sequence[Any], *, tolerance: float,
                            metric: str | None = None, method: str = "minmax", fmt: str = "S8S8",
                            per_channel: bool = True, percentile: float = 99.999, exclude: Sequence[str] = (),
                            max_float_nodes: int = 8, nodes_per_step: int = 1, out: str | os.PathLike | None = None,
                            calibrate_count: int | None = None, preprocess: bool = True, debug_count: int = 16,
                            cheap_first: float | None = 0.01, compare_default: bool = False,
                            progress: bool = False) -> AccuracyAwareResult:
    """Static INT8 with a bound on the task-metric loss.

    1. Evaluates the float model on ``eval_samples`` with :func:`calibration.metrics.evaluate`.
    2. Quantizes (as :func:`quantize`, ``exclude`` kept float) and evaluates the result.
    3. While the metric is out of tolerance: ranks the quantized nodes by sensitivity
       (:func:`node_sensitivity`, once, on the first QDQ model), keeps the next
       ``nodes_per_step`` nodes of the queue in float, re-quantizes (the calibrated
       ranges are cached, so only the first step runs the calibration data) and
       re-evaluates; it stops within tolerance, when more than ``max_float_nodes`` nodes
       would be float, or when the ranking is exhausted. The queue is the ranking with
       the *cheap* nodes first (``cheap_first``): a float node costs latency in
       proportion to its work (:func:`node_costs`), so a sensitive Gemm or Add is
       tried before a sensitive Conv; and before them, as one step, the model's head
       (:func:`head_nodes`: global pool onward) when it is cheap.

    Tolerance, in the metric's own units:

    * lower-is-better metrics (``mae_norm``, ``mae_px``, ``cer``) are **relative**:
      ``tolerance=0.05`` accepts ``int8 <= fp32 * 1.05`` (+5 %);
    * higher-is-better metrics (``exact_match``, ``map50``, fractions in 0..1) are
      **absolute**: ``tolerance=0.005`` accepts a drop of 0.005, i.e. 0.5 percentage points.

    Args:
        model, data, method, fmt, per_channel, percentile, exclude, calibrate_count,
            preprocess: as for :func:`quantize`.
        eval_samples: labelled samples for :func:`~calibration.metrics.evaluate` (e.g.
            :func:`~calibration.metrics.heldout_samples`); keep them apart from the calibration data.
        tolerance: see above (>= 0).
        metric: the metric compared (default: the task's primary metric; any numeric key
            of ``EvalResult.details`` in :data:`METRIC_DIRECTIONS`).
        max_float_nodes: at most this many nodes kept in float beyond ``exclude``.
        nodes_per_step: nodes added to the float set per step.
        out: output path (default ``<stem>_int8.onnx``): the first step within tolerance,
            else the step with the best metric.
        debug_count: calibration tensors used to rank the nodes.
        cheap_first: nodes whose :func:`node_costs` is at most this fraction of the
            model's total are queued first (each group in sensitivity order); ``None``
            or 0: the plain sensitivity order. Each ranking entry records its ``cost``
            (MACs) and ``cost_share``.
        compare_default: also quantize with plain ``quantize_static`` defaults (MinMax,
            per-tensor weights, asymmetric activations, no pre-processing) and evaluate it,
            for the record (``result.baseline``).
        progress: progress bars (tqdm) over the evaluations.

    Returns:
        An :class:`AccuracyAwareResult` (``ok`` False with the ``reason`` when the limit was hit).
    """
    from ..metrics import evaluate

    src = _model_path(model)
    method, fmt, per_channel, percentile = _check_options(method, fmt, per_channel, percentile)
    if not is_real(tolerance) or not (
            math.isfinite(tolerance) and tolerance >= 0):
        raise InvalidArgumentError(f"tolerance: expected a finite number >= 0 (relative for lower-is-better "
                                   f"metrics, absolute for accuracies), got {tolerance!r}")
    for name, v, lo in (("max_float_nodes", max_float_nodes, 0), ("nodes_per_step", nodes_per_step, 1),
                        ("debug_count", debug_count, 1)):
        if not is_int(v) or v < lo:
            raise InvalidArgumentError(f"{name}: expected an int >= {lo}, got {v!r}")
    if cheap_first is not None and (not is_real(cheap_first)
                                    or not 0 <= cheap_first <= 1):
        raise InvalidArgumentError(f"cheap_first: expected a fraction of the model's work in [0, 1] or None, "
                                   f"got {cheap_first!r}")
    if metric is not None and metric not in METRIC_DIRECTIONS:
        raise InvalidArgumentError(f"metric: expected one of {', '.join(METRIC_DIRECTIONS)} or None, got {metric!r}")
    calibrate_count = _check_count(calibrate_count)
    dst = _out_path(src, out, "_int8")
    source = _load(src)
    _check_exclude(exclude)
    cs = _calibration_data(src, data, calibrate_count)

    fp32 = evaluate(src, eval_samples, progress=progress)
    metric = metric or fp32.metric
    higher = METRIC_DIRECTIONS.get(metric, fp32.higher_is_better)
    fp32_value = _metric_value(fp32, metric)
    limit = _limit(fp32_value, float(tolerance), higher)

    notes: list[str] = []
    steps: list[dict[str, Any]] = []
    ranking: list[dict[str, Any]] = []
    baseline = None
    with tempfile.TemporaryDirectory(prefix="edgevision-quant-") as tmp:
        work = Path(tmp)
        pre = _preprocess(src, work / "pre.onnx", notes) if preprocess else src
        user_nodes, types = _resolve_exclude(_load(pre, "pre-processed model"), exclude, source) if pre != src \
            else _resolve_exclude(source, exclude)
        cache = work / "ranges.json"
        count = len(cs) if calibrate_count is None else min(len(cs), calibrate_count)

        def attempt(i: int, float_nodes: list[str], added: list[str]) -> dict[str, Any]:
            t0 = time.perf_counter()
            raw, path = work / f"raw{i}.onnx", work / f"step{i}.onnx"
            _static(pre, raw, cs, method=method, fmt=fmt, per_channel=per_channel, percentile=percentile,
                    nodes_to_exclude=float_nodes, calibrate_count=calibrate_count, cache_path=cache)
            section = _section("static", representation="QDQ", method=method, format=fmt, per_channel=per_channel,
                               **({"percentile": percentile} if method == "percentile" else {}),
                               calibration={**cs.info(), "count": count}, excluded_nodes=list(float_nodes),
                               excluded_op_types=types, preprocessed=pre != src,
                               accuracy_aware={"metric": metric, "tolerance": float(tolerance),
                                               "fp32": fp32_value})
            step_notes: list[str] = []
            quantized, floating = _finish_static(raw, source, path, section=section, float_nodes=float_nodes,
                                                 float_outputs=True, notes=step_notes)
            ev = evaluate(path, eval_samples, progress=progress)
            value = _metric_value(ev, metric)
            section["accuracy_aware"]["value"] = value
            return {"step": i, "float_nodes": list(float_nodes), "added": list(added), "value": value,
                    "within": _within(value, limit, higher), "seconds": round(time.perf_counter() - t0, 3),
                    "_path": path, "_section": section, "_nodes": (quantized, floating), "_notes": step_notes}

        steps.append(attempt(0, list(user_nodes), []))
        reason = "within tolerance with no node kept in float beyond exclude"
        if not steps[0]["within"]:
            ranking = node_sensitivity(pre, steps[0]["_path"], cs, count=debug_count)
            costs = node_costs(pre)
            total = max(1, sum(costs.values()))
            for r in ranking:
                r["cost"] = int(costs.get(r["node"], 0))
                r["cost_share"] = r["cost"] / total
            cheap = [r["node"] for r in ranking if cheap_first and r["cost_share"] <= cheap_first]
            singles = [n for n in cheap + [r["node"] for r in ranking if r["node"] not in cheap] if n not in user_nodes]
            # The head (global pool onward) goes first, as one step, when it is cheap, partly quantized
            # and not the whole model (some ranked node with work lies outside it: a backbone).
            head = [n for n in head_nodes(pre) if n not in user_nodes]
            ranked = {r["node"] for r in ranking}
            groups: list[list[str]] = []
            backbone = any(costs.get(r["node"], 0) and r["node"] not in head for r in ranking)
            if (cheap_first and head and backbone and any(n in ranked for n in head)
                    and sum(costs.get(n, 0) for n in head) / total <= cheap_first):
                groups.append(head)
            if groups:
                singles = [n for n in singles if n not in head]
            groups += [singles[i:i + nodes_per_step] for i in range(0, len(singles), nodes_per_step)]
            float_nodes = list(user_nodes)
            reason = ("the sensitivity ranking is exhausted" if ranking
                      else "no quantized node could be ranked (nothing left to keep in float)")
            while groups:
                added = [n for n in groups.pop(0) if n not in float_nodes]
                if not added:
                    continue
                if len(float_nodes) - len(user_nodes) + len(added) > max_float_nodes:
                    reason = f"max_float_nodes={max_float_nodes} reached"
                    break
                float_nodes += added
                steps.append(attempt(len(steps), float_nodes, added))
                if steps[-1]["within"]:
                    reason = f"within tolerance with {len(float_nodes) - len(user_nodes)} node(s) kept in float"
                    break
        if compare_default:
            baseline = _baseline(src, cs, work, eval_samples, metric, progress)

        within = [s for s in steps if s["within"]]
        best = within[0] if within else (max if higher else min)(steps, key=lambda s: s["value"])
        if not within:
            reason = f"not within tolerance: {reason}; wrote the best step ({best['step']})"
        _copy_atomic(best["_path"], dst)
        quantized, floating = best["_nodes"]
        result = QuantizeResult(dst, src, "static", best["_section"], quantized, floating, best["float_nodes"],
                                _size_mb(dst), _size_mb(src), sum(s["seconds"] for s in steps),
                                notes + best["_notes"])
    public = [{k: v for k, v in s.items() if not k.startswith("_")} for s in steps]
    return AccuracyAwareResult(dst, bool(within), reason, metric, higher, float(tolerance), limit, fp32_value,
                               best["value"], best["float_nodes"], public, ranking, result, baseline)


def _copy_atomic(src: Path, dst: Path) -> None:
    with atomic_output(dst) as tmp:
        shutil.copyfile(src, tmp)


def _baseline(src: Path, cs: Any, work: Path, eval_samples: Sequence[Any], metric: str, progress: bool) -> dict[str, Any]:
    """Plain ``quantize_static`` defaults on the same model and data, evaluated."""
    from onnxruntime.quantization import quantize_static

    from ..metrics import evaluate

    path = work / "default.onnx"
    try:
        with _quiet():
            quantize_static(os.fspath(src), os.fspath(path), cs.reader())
    except Exception as e:
        return {"value": None, "error": _reason(e)}
    ev = evaluate(path, eval_samples, progress=progress)
    return {"value": _metric_value(ev, metric),
            "settings": "quantize_static defaults: QDQ, MinMax, per-tensor weights, int8 asymmetric activations, "
                        "no pre-processing, outputs quantized"}
