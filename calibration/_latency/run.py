"""Running the benchmark: rows, loading, the metric, interleaved timing and aggregation."""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from calibration.timing import (
    StageStats,
    Stats,
    current_rss_mb,
    environment,
    measure_repeated,
    noise_pct,
    peak_rss_mb,
    ratio,
)
from edgevision.errors import EdgeVisionError, InvalidArgumentError

from .data import PLATES, SampleSet, check_device, default_devices, load_samples, scores_plates, timing_images
from .results import BenchConfig, BenchResult, Row
from .variants import (ENGINE_SUFFIXES, STAGES, Variant, baseline_of, group_variants, noise_stage,
                       parse_variant)


def _specs(config: BenchConfig, families: dict[str, list[Variant]], devices: Sequence[str],
           baselines: dict[str, Variant] | None = None) -> list[Row]:
    """The rows, family by family; ``baselines`` (family -> variant) overrides the file-name
    baseline (:func:`baseline_of`)."""
    rows = []
    for family, vs in families.items():
        base = baselines[family] if baselines and family in baselines else baseline_of(vs)
        for v in vs:
            if v.name.lower().endswith(ENGINE_SUFFIXES):  # one row: the runtime cannot load engines at all
                rows.append(Row(v.name, v.path, v.family, v.precision, config.backends[0], "-", config.batches[0],
                                config.threads[0]))
                continue
            for backend in config.backends:
                for device in devices:
                    for batch in config.batches:
                        for threads in config.threads:
                            rows.append(Row(v.name, v.path, v.family, v.precision, backend, device, batch, threads,
                                            is_baseline=v is base))
    return rows


def _error_text(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return text if isinstance(e, EdgeVisionError) else f"{type(e).__name__}: {text}"


def _evaluate(predictor: Any, samples: SampleSet, count: int) -> tuple[dict[str, Any] | None, str | None]:
    """The task metric of ``predictor`` on ``samples`` (see calibration.metrics.evaluate), or None and why not:
    no samples, or plate scenes for a model of other classes (:func:`~.data.scores_plates`)."""
    if samples.domain == PLATES and not scores_plates(predictor):
        return None, (f"not computed: the evaluation set is plate scenes and this model's classes are "
                      f"{', '.join(predictor.config.labels)} (score it on its own data: benchmarks.meters, "
                      "benchmarks.captcha, or --data)")
    samples = samples.samples
    if not samples:
        return None, "no evaluation samples"
    try:
        from calibration.metrics import evaluate
    except ImportError as e:
        return None, f"calibration.metrics is not available ({e})"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # third-party numerics warnings must not abort a benchmark row
            res = evaluate(predictor, samples, limit=count, progress=False)
    except Exception as e:  # a metric failure (unlabelled data, unsupported task) must not lose the timings
        return None, f"not computed: {_error_text(e)}"
    d = res.to_dict() if hasattr(res, "to_dict") else dict(vars(res))
    return {"task": d.get("task"), "metric": d.get("metric"), "value": d.get("value"),
            "higher_is_better": d.get("higher_is_better"), "count": d.get("count"),
            "details": d.get("details")}, None


def _chain(predictor: Any) -> Callable[[list[np.ndarray]], np.ndarray] | None:
    """The OpenCV chain of benchmarks.preprocess (:mod:`.opencv`) for this model's input size and mode (3-channel
    only)."""
    from .opencv import Case, chain_fn

    size, kw = predictor.config.preprocess_kwargs()
    hw = size
    if (kw.get("channels") or 3) != 3 or kw.get("mode", "letterbox") not in ("letterbox", "stretch", "pad_right"):
        return None
    return chain_fn(Case("model", (0, 0), hw, kw.get("mode", "letterbox")))


class _Prepared:
    """A loaded row: the Predictor and its zero-argument stage functions."""

    def __init__(self, row: Row, predictor: Any, fns: dict[str, Callable[[], Any]]) -> None:
        self.row = row
        self.predictor = predictor
        self.fns = fns


def _load(row: Row, cache: dict[tuple, Any]) -> Any:
    """The row's Predictor, shared by the rows that differ only in batch size (one
    session per model, backend, device and threads); a load failure is cached too."""
    from edgevision.predictor import Predictor, resolve_model

    path = resolve_model(row.path)
    row.path = path
    row.size_mb = os.path.getsize(path) / 1e6
    key = (path, row.backend, row.device, row.threads)
    if key not in cache:
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                p = Predictor(path, backend=row.backend, device="cpu" if row.device == "-" else row.device,
                              threads=row.threads)
            cache[key] = (p, (time.perf_counter() - t0) * 1e3)
        except Exception as e:  # remembered: the same model fails the same way for every batch size
            cache[key] = (e, None)
    p, load_ms = cache[key]
    if isinstance(p, Exception):
        raise p
    row.load_ms = load_ms
    return p


def _prepare(row: Row, samples: SampleSet, config: BenchConfig,
             caches: dict[str, dict[tuple, Any]]) -> _Prepared | None:
    """Loads the row's model, computes its metric and builds its stage functions; a
    failure is recorded in the row (status ``failed``) and None is returned."""
    from .opencv import cycling

    rss0 = current_rss_mb()
    try:
        p = _load(row, caches["predictors"])
        path = row.path
        row.providers = p.providers
        row.task = p.task
        if p.batch_size is not None and row.batch > p.batch_size:
            raise InvalidArgumentError(
                f"batch: {row.batch} images per call, but the model's batch axis is fixed at {p.batch_size}")
        images, what = timing_images(p, samples.samples, max(config.timing_images, row.batch))
        pool = [images[i:i + row.batch] for i in range(0, len(images) - row.batch + 1, row.batch)]
        blob, transforms = p.preprocess(pool[0])
        outputs = p.infer(blob)
        fns: dict[str, Callable[[], Any]] = {
            "pre": cycling(pool, p.preprocess),
            "infer": lambda: p.infer(blob),
            "post": lambda: p.postprocess(outputs, transforms, pool[0]),
            "e2e": cycling(pool, p.predict),
        }
        fns = {k: v for k, v in fns.items() if k in config.stages}  # only the stages this run times
        chain = _chain(p) if "pre_cv" in config.stages else None
        if "pre_cv" in config.stages and chain is None:
            row.stage_notes["pre_cv"] = "OpenCV chain baseline covers 3-channel letterbox/stretch/pad_right inputs only"
        elif chain is not None:
            try:
                chain(pool[0])
                fns["pre_cv"] = cycling(pool, chain)
            except Exception as e:  # the baseline is optional: record why it is missing
                row.stage_notes["pre_cv"] = f"OpenCV chain failed: {_error_text(e)}"
        for fn in fns.values():  # one call each: a failure belongs to this row, not to the timing loop
            fn()
        row.stage_notes["images"] = what
        if config.metric:
            key = (path, row.backend, row.device)  # the metric does not depend on batch or threads
            if key not in caches["metrics"]:
                caches["metrics"][key] = _evaluate(p, samples, config.eval_count)
            row.metric, row.metric_note = caches["metrics"][key]
        else:
            row.metric_note = "--no-metric"
    except Exception as e:  # every load/run failure becomes this row's reason; the run goes on
        row.status = "failed"
        row.reason = _error_text(e)
        return None
    rss1 = current_rss_mb()
    row.rss_delta_mb = (rss1 - rss0) if rss0 is not None and rss1 is not None else None
    row.peak_rss_mb = peak_rss_mb()
    row.quantization = _quantization(p, caches.setdefault("kinds", {}))  # after the memory figures: onnx.load
    return _Prepared(row, p, fns)


def _quantization(predictor: Any, cache: dict[str, str]) -> str:
    """What the model inspector (:func:`edgevision.modelinfo.model_info`, the one the CLI and
    ``calibration.quantize.report`` use) says the graph is: ``none``, ``fp16``, ``dynamic int8``,
    ``static int8 (QDQ)``... The file-name ``precision`` only names the variant within its family."""
    from edgevision.modelinfo import model_info

    if predictor.path not in cache:
        try:
            graph = model_info(predictor)["quantization"]["graph"]
            cache[predictor.path] = graph["kind"] if isinstance(graph, dict) else str(graph)
        except Exception as e:  # the figures stand without it
            cache[predictor.path] = f"unknown ({_error_text(e)})"
    return cache[predictor.path]


def _progress(enabled: bool) -> Any:
    if not enabled:
        return None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=Console(stderr=True), transient=True)


def run_benchmark(config: BenchConfig, *, progress: bool = True) -> BenchResult:
    """Runs every row of ``config`` (see the module docs) and returns the results.

    A model that fails to load or run gets a ``failed`` row with the reason; the
    others are measured. Raises InvalidArgumentError for a bad configuration (naming
    the argument), e.g. no model given and none bundled, or a device this
    onnxruntime cannot run; dataset errors from ``calibration.readers`` for a bad
    ``data`` path."""
    from edgevision.predictor import MODELS_DIR, bundled_models

    config.validate()
    models = list(config.models)
    if models:
        return _run(config, models, [], progress)
    models = [str(MODELS_DIR / name) for name in bundled_models()]
    if not models:
        raise InvalidArgumentError(
            f"models: none given, and no model is bundled in {MODELS_DIR}; "
            "pass model paths, e.g. python -m benchmarks.latency model.onnx model_int8.onnx")
    with tempfile.TemporaryDirectory(prefix="edgevision-bench-") as tmp:
        derived, notes = derive_fp16(models, Path(tmp))
        return _run(config, models + derived, notes, progress)


def derive_fp16(models: Sequence[str], directory: Path) -> tuple[list[str], list[str]]:
    """fp16 variants of the fp32 models of ``models`` that have none among them, written to ``directory``.

    The package ships fp32 and int8 only: an fp16 ONNX is derived from the fp32 one in
    seconds (``calibration.quantize.convert_fp16``), is slower than fp32 on CPUs without
    fp16 arithmetic, and TensorRT builds fp16 engines from the fp32 file. The default run
    still puts it beside the others. Returns (paths, notes); a conversion that fails is
    a note, not an error.
    """
    from calibration.errors import QuantizationError
    from calibration._quantize.dynamic_fp16 import convert_fp16  # not the facade: it imports this engine (report)

    present = {Path(m).name for m in models}
    derived, notes = [], []
    for m in models:
        v = parse_variant(m)
        if not v.is_fp32 or f"{v.family}_fp16.onnx" in present:
            continue
        try:
            derived.append(str(convert_fp16(m, directory / f"{v.family}_fp16.onnx").path))
            notes.append(f"{v.family}_fp16.onnx: derived from {Path(m).name} for this run "
                         "(calibration.quantize.convert_fp16; not bundled)")
        except QuantizationError as e:
            notes.append(f"{v.family}_fp16.onnx: not measured: {e}")
    return derived, notes


def run_variants(variants: Mapping[str, str | os.PathLike], config: BenchConfig, *,
                 samples: Sequence[Any] | None = None, family: str = "variants",
                 progress: bool = False) -> BenchResult:
    """Named variants of one model, side by side: the rows of :func:`run_benchmark`, with the
    names given (``{name: path}``, in that order) instead of the ones parsed from the file
    names, all in one family whose baseline is the first float variant (the model inspector,
    :func:`edgevision.modelinfo.model_info`, says ``none``), else the first.

    ``samples``: labelled samples for the metric and the timing images (None: ``config.data``
    is loaded as :func:`run_benchmark` does; ``[]``: none, synthetic frames are timed and the
    metric is not computed). Failures become ``failed`` rows as in :func:`run_benchmark`.
    This is the engine of ``calibration.quantize.report``."""
    config.validate()
    if not isinstance(variants, Mapping) or not variants:
        raise InvalidArgumentError(f"variants: expected a non-empty {{name: path}} mapping, got {variants!r}")
    vs = [Variant(os.fspath(path), str(name), family, "variant") for name, path in variants.items()]
    base = next((v for v in vs if _inspected_kind(v.path) == "none"), vs[0])
    sample_set = None
    if samples is not None:
        sample_set = SampleSet(list(samples), f"{len(samples)} given samples")
    return _run(config, [v.path for v in vs], [], progress, families={family: vs}, baselines={family: base},
                samples=sample_set)


def _inspected_kind(path: str) -> str:
    """The inspector's graph kind of a model file (``none`` for a float model), ``unknown`` when it cannot tell."""
    from edgevision.modelinfo import model_info

    try:
        graph = model_info(path)["quantization"]["graph"]
    except Exception:  # the row's own load reports the failure
        return "unknown"
    return graph["kind"] if isinstance(graph, dict) else "unknown"


def _run(config: BenchConfig, models: list[str], extra_notes: list[str], progress: bool, *,
         families: dict[str, list[Variant]] | None = None, baselines: dict[str, Variant] | None = None,
         samples: SampleSet | None = None) -> BenchResult:
    """The run: ``families`` (default: ``models`` grouped by file name) and their ``baselines``
    (default: by file name); ``samples`` (default: ``config.data`` loaded)."""
    started = time.perf_counter()
    env = environment()
    devices = list(config.devices) if config.devices is not None else default_devices()
    for d in devices:
        check_device(d)
    if families is None:
        families = group_variants(models)
    if samples is None:
        # Without the metric, only the few timing images are needed from the data.
        samples = load_samples(config.data, config.eval_count if config.metric else config.timing_images)
    rows = _specs(config, families, devices, baselines)
    notes = ([samples.note] if samples.note else []) + list(extra_notes)

    prog = _progress(progress)
    prepared: list[_Prepared] = []
    caches: dict[str, dict[tuple, Any]] = {"predictors": {}, "metrics": {}}
    if prog is not None:
        prog.start()
    try:
        task = prog.add_task("load + metric", total=len(rows)) if prog else None
        for row in rows:
            if prog is not None:
                prog.update(task, description=f"load + metric: {row.label}")
            prep = _prepare(row, samples, config, caches)
            if prep is not None:
                prepared.append(prep)
            if prog is not None:
                prog.advance(task)
        stats_by_key = _time_rows(prepared, config, prog)
    finally:
        if prog is not None:
            prog.stop()

    noise = _aggregate(prepared, stats_by_key, rows, config)
    env["peak_rss_mb"] = peak_rss_mb()
    cfg = {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in asdict(config).items()}
    cfg["devices"] = devices
    cfg["models"] = models
    result = BenchResult(env, cfg, rows, samples.description, notes, noise)
    result.duration_s = time.perf_counter() - started
    return result


def _time_rows(prepared: list[_Prepared], config: BenchConfig, prog: Any) -> dict[tuple[int, str], list[Stats]]:
    """Every stage of every prepared row, round-robin, ``config.repeats`` times; the baselines'
    :func:`noise_stage` twice (``again``) for the noise estimate."""
    fns: dict[tuple[int, str], Callable[[], Any]] = {}
    for i, prep in enumerate(prepared):
        for stage in STAGES:
            if stage in prep.fns:
                fns[(i, stage)] = prep.fns[stage]
    noise_rows = [i for i, prep in enumerate(prepared) if prep.row.is_baseline]
    if not noise_rows and prepared:  # no baseline in the run: still measure the run's noise on the first row
        noise_rows = [0]
    stage = noise_stage(config.stages)
    for i in noise_rows:
        if stage in prepared[i].fns:
            fns[(i, "again")] = prepared[i].fns[stage]
    if not fns:
        return {}
    task = prog.add_task("timing (interleaved repeats)", total=config.repeats) if prog else None
    return measure_repeated(fns, repeats=config.repeats, rounds=config.rounds, warmup=config.warmup,
                            min_samples=config.iters, min_time_s=config.min_time_s,
                            on_repeat=(lambda: prog.advance(task)) if prog is not None else None)


def _aggregate(prepared: list[_Prepared], stats: dict[tuple[int, str], list[Stats]],
               rows: list[Row], config: BenchConfig) -> dict[str, float]:
    """Fills the stage statistics, noise and ratios of the rows; returns noise per baseline label."""
    for i, prep in enumerate(prepared):
        row = prep.row
        for stage in STAGES:
            reps = stats.get((i, stage))
            row.stages[stage] = StageStats.from_repeats(reps) if reps else None
        e2e = row.p50("e2e")
        row.throughput_ips = row.batch * 1000.0 / e2e if e2e else None
    noise: dict[str, float] = {}
    for i, prep in enumerate(prepared):
        again = stats.get((i, "again"))
        if again:
            # The same aggregation as the quoted figures (median of the per-repeat medians).
            prep.row.noise_pct = noise_pct(StageStats.from_repeats(stats[(i, noise_stage(config.stages))]).p50,
                                           StageStats.from_repeats(again).p50)
            noise[prep.row.label] = prep.row.noise_pct
    run_noise = max(noise.values()) if noise else None

    def key(r: Row) -> tuple:
        return (r.family, r.backend, r.device, r.batch, r.threads)

    baselines = {key(r): r for r in rows if r.is_baseline and r.status == "ok"}
    for row in rows:
        if row.status != "ok":
            continue
        base = baselines.get(key(row))
        if base is None:
            row.noise_pct = row.noise_pct if row.noise_pct is not None else run_noise
            continue
        row.baseline = base.label
        row.noise_pct = base.noise_pct if base.noise_pct is not None else run_noise
        for stage in STAGES:
            row.ratios[stage] = ratio(row.p50(stage), base.p50(stage))
        row.ratios["throughput"] = ratio(row.throughput_ips, base.throughput_ips)
        row.ratios["size"] = ratio(row.size_mb, base.size_mb)
        mv = row.metric.get("value") if row.metric else None
        bv = base.metric.get("value") if base.metric else None
        same_metric = row.metric and base.metric and row.metric.get("metric") == base.metric.get("metric")
        row.ratios["metric"] = ratio(mv, bv) if same_metric else None
    return noise
