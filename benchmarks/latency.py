"""Latency, accuracy and size of every model variant, side by side: which model
file, backend and precision to ship on this device.

    python -m benchmarks.latency [MODEL ...] [--device cpu cuda ...] [--batch 1 8] [--threads 1 2]
                                 [--warmup W] [--iters N] [--repeats R] [--data SRC | --no-metric]
                                 [--eval-count N] [--out DIR] [--quick]
    edgevision bench ...            (the same arguments)

With no MODEL it benchmarks the models bundled in ``edgevision/models/``.

Rows are model x backend x device x batch x ORT threads. For each row:

* stage timings, per call of ``batch`` images, in milliseconds (p50/p90/p99):
  ``pre`` = :meth:`Predictor.preprocess` (the compiled kernel), ``pre cv`` = the
  same resize + pad + normalize done by the OpenCV chain of
  :mod:`benchmarks.preprocess` (``cv2.resize`` -> ``copyMakeBorder`` ->
  ``dnn.blobFromImages`` -> mean/std, float32 NCHW, OpenCV at its default
  threads; a baseline, not used by the Predictor), ``infer`` =
  :meth:`Predictor.infer`, ``post`` = :meth:`Predictor.postprocess`, ``e2e`` =
  ``p(images)``; throughput in images/s (``batch * 1000 / e2e p50``);
* the model file's size in MB (1e6 bytes);
* the task metric (``calibration.metrics.evaluate``) computed on predictions
  of that very Predictor (same file, backend and device): keypoints ->
  ``mae_norm`` (lower is better), OCR -> ``exact_match`` (higher is better);
* memory: ``rss_delta_mb``, the growth of the process's resident set while the
  variant was loaded, evaluated and first run (approximate: allocators reuse
  memory; rows that differ only in batch size share one session, so the later
  ones show only what their own first run added), and ``peak_rss_mb``, the
  process high-water mark (``getrusage``) after that.

Variants are grouped in families by file name: the stem before a precision
suffix (``lpl_resnet_int8_dynamic.onnx`` -> family ``lpl_resnet``, precision
``int8_dynamic``); the file without a suffix (or with ``_fp32``) is the fp32
baseline. The name only groups and orders the variants: what a model *is* comes
from the one model inspector, :func:`edgevision.modelinfo.model_info` (as for
``edgevision info`` and ``calibration.quantize.report``), in each row's
``quantization`` (``none``, ``fp16``, ``dynamic int8``, ``static int8 (QDQ)``...,
in the JSON and CSV). Every figure also gets its ratio to the baseline of the same family
with the same backend, device, batch and threads, measured in the same run.

Honest statistics: warm-up calls first; every stage function of every row is
timed round-robin (``benchmarks._timing.measure_interleaved``) so that load
drift on a shared machine hits all variants alike; this is repeated
``--repeats`` times and the p50 quoted is the median of the per-repeat
medians (p90/p99 are over all samples). Noise: each baseline's end-to-end call
is timed twice, as two interleaved functions; the noise of a family is the
relative difference between the two copies' p50s (each the median of its
per-repeat medians, like every quoted figure). A time ratio whose distance
from 1 is smaller than that noise is flagged with ``~`` (not distinguishable
from noise). No timing is ever asserted.

A model that cannot be loaded or run (missing file, not ONNX, no metadata and
no overrides, a TensorRT engine, a batch beyond a fixed batch axis...) gets a
row with the reason and the run goes on. Exit status: 0 when the run completes
with at least one measured row, 1 when every row failed, 2 for bad arguments
(with the message on stderr).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from edgevision._argtypes import non_negative_int as _non_negative
from edgevision._argtypes import positive_int as _positive
from edgevision.errors import EdgeVisionError, InvalidArgumentError

from ._timing import Stats, current_rss_mb, environment, measure_interleaved, peak_rss_mb

__all__ = [
    "STAGES",
    "PRECISION_TOKENS",
    "Variant",
    "BenchConfig",
    "StageStats",
    "Row",
    "BenchResult",
    "parse_variant",
    "group_variants",
    "baseline_of",
    "ratio",
    "within_noise",
    "format_ratio",
    "noise_pct",
    "default_devices",
    "load_samples",
    "timing_images",
    "table_rows",
    "run_benchmark",
    "to_markdown",
    "write_csv",
    "write_json",
    "plot",
    "write_outputs",
    "print_table",
    "main",
]

#: Timed stages, in call order (see the module docs).
STAGES = ("pre", "pre_cv", "infer", "post", "e2e")
#: File-name tokens that start a precision suffix (``_fp16``, ``_int8``, ``_int8_dynamic``...), case-insensitive.
PRECISION_TOKENS = ("fp32", "float32", "fp16", "float16", "half", "bf16", "int8", "uint8", "int16", "int4", "qdq",
                    "quant", "quantized", "w8a8")
BASELINE_PRECISIONS = ("fp32", "float32")
ENGINE_SUFFIXES = (".engine", ".plan")
#: Data source strings that mean the synthetic plate generator.
SYNTH_PREFIX = "synth"
OCR_TASKS = ("slots_ocr", "ctc_ocr")


# ---------------------------------------------------------------------------
# Variants and families


@dataclass(frozen=True)
class Variant:
    """One model file: ``family`` is the file stem before the precision suffix, and
    ``precision`` the suffix (``fp32`` when there is none)."""

    path: str
    name: str
    family: str
    precision: str

    @property
    def is_fp32(self) -> bool:
        return self.precision in BASELINE_PRECISIONS


def parse_variant(path: str | os.PathLike) -> Variant:
    """Family and precision from a model file name.

    ``lpl_resnet.onnx`` -> (``lpl_resnet``, ``fp32``); ``lpl_resnet_fp16.onnx`` ->
    (``lpl_resnet``, ``fp16``); ``lpl_resnet_int8_dynamic.onnx`` -> (``lpl_resnet``,
    ``int8_dynamic``): the suffix starts at the first ``_``-separated token in
    :data:`PRECISION_TOKENS` (not the first token: ``int8.onnx`` is family ``int8``).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidArgumentError(f"models: expected file paths, got {type(path).__name__}")
    p = Path(path)
    stem = p.name[: -len(p.suffix)] if p.suffix else p.name
    tokens = stem.split("_")
    for i, tok in enumerate(tokens[1:], start=1):
        if tok.lower() in PRECISION_TOKENS:
            precision = "_".join(tokens[i:]).lower()
            return Variant(os.fspath(path), p.name, "_".join(tokens[:i]), precision)
    return Variant(os.fspath(path), p.name, stem, "fp32")


def group_variants(paths: Iterable[str | os.PathLike]) -> dict[str, list[Variant]]:
    """Variants grouped by family, in first-seen order; within a family the fp32
    baseline comes first (the file without a suffix before ``_fp32``), then the
    others in the order given. Duplicate paths are kept once."""
    families: dict[str, list[Variant]] = {}
    seen: set[str] = set()
    for path in paths:
        v = parse_variant(path)
        key = os.path.abspath(v.path)
        if key in seen:
            continue
        seen.add(key)
        families.setdefault(v.family, []).append(v)
    for fam, vs in families.items():
        base = baseline_of(vs)
        if base is not None:
            families[fam] = [base] + [v for v in vs if v is not base]
    return families


def baseline_of(variants: Sequence[Variant]) -> Variant | None:
    """The fp32 baseline of a family (an ONNX file without a precision suffix, else
    one with ``_fp32``), or None."""
    onnx = [v for v in variants if v.is_fp32 and not v.name.lower().endswith(ENGINE_SUFFIXES)]
    plain = [v for v in onnx if v.precision == "fp32" and not re.search(r"_(fp32|float32)$", Path(v.name).stem, re.I)]
    return (plain or onnx or [None])[0]


# ---------------------------------------------------------------------------
# Statistics


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


# ---------------------------------------------------------------------------
# Configuration and results


@dataclass
class BenchConfig:
    """What to run. ``models``: ONNX paths or bundled names (empty: every bundled model).
    ``backends``: ``auto``/``onnxruntime``/``tensorrt`` (TensorRT engines are not supported
    by the runtime yet: such rows fail with its message). ``devices``: ``cpu``,
    ``cuda[:N]``, ``tensorrt[:N]`` (ONNX Runtime execution providers; None:
    :func:`default_devices`). ``batches``: images per call. ``threads``:
    ONNX Runtime intra-op threads (None: its default). ``warmup``: untimed calls per
    stage before timing. ``iters``: at least this many timed calls per stage and repeat
    (and at least ``min_time_s`` seconds). ``repeats``: interleaved repeats (the quoted
    p50 is the median of their medians); ``rounds``: round-robin rounds within a repeat.
    ``timing_images``: distinct images cycled through the timed calls.
    ``data``: None (the held-out synthetic set), ``synth[:SEED]``, or a manifest /
    CCPD folder / image folder path. ``eval_count``: samples for the metric.
    ``metric``: compute the task metric."""

    models: Sequence[str] = ()
    backends: Sequence[str] = ("auto",)
    devices: Sequence[str] | None = None
    batches: Sequence[int] = (1,)
    threads: Sequence[int | None] = (None,)
    warmup: int = 3
    iters: int = 10
    repeats: int = 5
    min_time_s: float = 0.25
    rounds: int = 3
    data: str | None = None
    eval_count: int = 100
    metric: bool = True
    timing_images: int = 8

    @classmethod
    def quick(cls, **kw: Any) -> "BenchConfig":
        """Fewer samples (smoke runs, CI): figures are rougher."""
        base = dict(warmup=1, iters=3, repeats=2, min_time_s=0.03, eval_count=16, timing_images=4)
        base.update(kw)
        return cls(**base)

    def validate(self) -> None:
        def positive(name: str, v: Any) -> None:
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InvalidArgumentError(f"{name}: expected a positive int, got {v!r}")

        if isinstance(self.models, (str, os.PathLike)):
            raise InvalidArgumentError("models: expected a list of paths, got a single string")
        for b in self.batches:
            positive("batch", b)
        for t in self.threads:
            if t is not None:
                positive("threads", t)
        for name in ("iters", "repeats", "rounds", "eval_count", "timing_images"):
            positive(name, getattr(self, name))
        if isinstance(self.warmup, bool) or not isinstance(self.warmup, int) or self.warmup < 0:
            raise InvalidArgumentError(f"warmup: expected an int >= 0, got {self.warmup!r}")
        if not isinstance(self.min_time_s, (int, float)) or not self.min_time_s >= 0:
            raise InvalidArgumentError(f"min_time_s: expected seconds >= 0, got {self.min_time_s!r}")
        from edgevision.backends import BACKENDS

        for b in self.backends:
            if b not in BACKENDS:
                raise InvalidArgumentError(f"backend: expected one of {list(BACKENDS)}, got {b!r}")
        if not self.batches or not self.threads or not self.backends or (self.devices is not None and not self.devices):
            raise InvalidArgumentError("batch, threads, backend, device: expected at least one value each")


@dataclass
class Row:
    """One model x backend x device x batch x threads. ``status`` is ``ok`` or
    ``failed`` (then ``reason`` says why and the figures are None)."""

    model: str
    path: str
    family: str
    precision: str
    backend: str
    device: str
    batch: int
    threads: int | None
    status: str = "ok"
    quantization: str | None = None
    reason: str | None = None
    is_baseline: bool = False
    providers: list[str] = field(default_factory=list)
    task: str | None = None
    size_mb: float | None = None
    load_ms: float | None = None
    rss_delta_mb: float | None = None
    peak_rss_mb: float | None = None
    stages: dict[str, StageStats | None] = field(default_factory=dict)
    stage_notes: dict[str, str] = field(default_factory=dict)
    throughput_ips: float | None = None
    metric: dict[str, Any] | None = None
    metric_note: str | None = None
    noise_pct: float | None = None
    baseline: str | None = None
    ratios: dict[str, float | None] = field(default_factory=dict)

    @property
    def label(self) -> str:
        thr = "auto" if self.threads is None else str(self.threads)
        return f"{self.model} [{self.device} b={self.batch} t={thr}]"

    def p50(self, stage: str) -> float | None:
        s = self.stages.get(stage)
        return s.p50 if s is not None else None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["stages"] = {k: (asdict(v) if v is not None else None) for k, v in self.stages.items()}
        d["label"] = self.label
        d["flags"] = {k: ("~" if self.flagged(k) else "") for k in self.ratios if k in TIME_RATIOS}
        return d

    def flagged(self, key: str) -> bool:
        """Whether the time ratio ``key`` is within the noise (never for the baseline itself)."""
        return not self.is_baseline and key in TIME_RATIOS and within_noise(self.ratios.get(key), self.noise_pct)


#: Ratios that are timings (flagged against the noise); the others are exact.
TIME_RATIOS = ("pre", "pre_cv", "infer", "post", "e2e", "throughput")


@dataclass
class BenchResult:
    environment: dict[str, Any]
    config: dict[str, Any]
    rows: list[Row]
    data: str
    notes: list[str] = field(default_factory=list)
    noise: dict[str, float] = field(default_factory=dict)
    duration_s: float = 0.0

    @property
    def ok_rows(self) -> list[Row]:
        return [r for r in self.rows if r.status == "ok"]

    def to_dict(self) -> dict[str, Any]:
        return {"environment": self.environment, "config": self.config, "data": self.data, "notes": self.notes,
                "noise_pct": self.noise, "duration_s": self.duration_s, "rows": [r.to_dict() for r in self.rows]}


# ---------------------------------------------------------------------------
# Devices, data, images


def default_devices() -> list[str]:
    """``cpu``, plus ``cuda`` when this onnxruntime has the CUDA provider. The TensorRT
    execution provider (``tensorrt``) runs only when asked for: it builds an engine per
    model and input shape at load, which takes minutes."""
    import onnxruntime as ort

    return ["cpu"] + (["cuda"] if "CUDAExecutionProvider" in ort.get_available_providers() else [])


def check_device(device: str) -> None:
    """Raises InvalidArgumentError (naming ``device``) when this onnxruntime cannot run it."""
    import onnxruntime as ort

    from edgevision.backends.onnxruntime import _providers_for

    _providers_for(device, ort.get_available_providers())


@dataclass
class SampleSet:
    """Labelled (or not) samples for the metric, and where they came from."""

    samples: list[Any]
    description: str
    note: str | None = None


def load_samples(data: str | None, count: int) -> SampleSet:
    """The evaluation samples: ``None`` -> ``calibration.metrics.heldout_samples(count)``
    (the fixed synthetic held-out set); ``synth`` / ``synth:SEED`` -> the first ``count``
    scenes of ``calibration.synth.PlateSceneGenerator(seed)`` (seed 0 by default);
    else a path read with ``calibration.readers.read_source`` (manifest, CCPD folder or
    image folder), first ``count`` samples. Bad sources raise (DatasetNotFoundError,
    EmptyDatasetError, InvalidArgumentError naming ``data``/``eval_count``). When the
    default set cannot be built (``calibration.synth`` missing) the set is empty and
    ``note`` says why; an explicit ``synth`` source then raises MissingDependencyError."""
    from edgevision.errors import MissingDependencyError

    if data is None:
        try:
            from calibration.metrics import heldout_samples
            from calibration.synth import HELDOUT_COUNT
        except ImportError as e:
            return SampleSet([], "held-out synthetic set (unavailable)",
                             f"no evaluation data: the held-out synthetic set needs calibration.metrics and "
                             f"calibration.synth ({e}); timing uses synthetic frames")
        if count > HELDOUT_COUNT:
            raise InvalidArgumentError(
                f"eval_count: the held-out synthetic set has {HELDOUT_COUNT} samples, got {count}; pass --eval-count "
                f"<= {HELDOUT_COUNT} or --data synth:SEED for more")
        samples = list(heldout_samples(count))
        return SampleSet(samples, f"held-out synthetic set (first {len(samples)} samples)")
    if not isinstance(data, str) or not data:
        raise InvalidArgumentError(f"data: expected 'synth[:SEED]' or a dataset path, got {data!r}")
    if data == SYNTH_PREFIX or data.startswith(SYNTH_PREFIX + ":"):
        # The one parser of ``synth:SEED`` is calibration.metrics.load_samples; a bare ``synth``
        # here means seed 0 (there it means the held-out set, which is this function's default).
        try:
            from calibration.metrics import load_samples as load_source
        except ImportError as e:
            raise MissingDependencyError(f"data: {data!r} needs calibration.metrics ({e})",
                                         name="calibration.metrics") from None
        source = f"{SYNTH_PREFIX}:0" if data == SYNTH_PREFIX else data
        samples = load_source(source, count, name="data")
        seed = int(source.partition(":")[2])
        return SampleSet(samples, f"synthetic scenes, seed {seed} (first {count} samples)")
    from calibration.readers import read_source

    try:
        result = read_source(data)
    except EdgeVisionError as e:  # say which argument the path came from
        raise InvalidArgumentError(f"data: {e}") from None
    samples = list(result.samples[:count])
    return SampleSet(samples, f"{data} ({len(samples)} of {len(result.samples)} samples; {result.report.summary()})")


def timing_images(predictor: Any, samples: Sequence[Any], count: int) -> tuple[list[np.ndarray], str]:
    """``count`` images as the model sees them in use, and what they are.

    The evaluation samples' images (``calibration.metrics.load_image``); for OCR
    models the rectified plate crop from the label corners at the model's input size
    (``calibration.synth.plate_crop``, as ``calibration.metrics.evaluate`` does).
    Without samples: deterministic synthetic 640x480 frames (benchmarks.preprocess).
    Images are uint8 BGR, or gray for 1-channel models (what ``Predictor.predict``
    would load)."""
    from .preprocess import synthetic_frame

    size, kw = predictor.config.preprocess_kwargs()
    channels = kw.get("channels") or 3
    hw = (size, size) if isinstance(size, int) else tuple(size)
    if samples:
        from calibration.metrics import load_image

        picked = [samples[i % len(samples)] for i in range(count)]
        images = [load_image(s, f"samples[{i % len(samples)}]") for i, s in enumerate(picked)]
        if predictor.task in OCR_TASKS and all(getattr(s, "corners", None) is not None for s in picked):
            from calibration.synth import plate_crop

            images = [plate_crop(im, np.asarray(s.corners, np.float64), size=hw) for im, s in zip(images, picked)]
            what = f"plate crops ({hw[1]}x{hw[0]}) of the evaluation samples"
        else:
            shapes = sorted({(im.shape[1], im.shape[0]) for im in images})
            what = (f"evaluation images ({shapes[0][0]}x{shapes[0][1]})" if len(shapes) == 1 else
                    f"evaluation images ({len(shapes)} sizes, {shapes[0][0]}x{shapes[0][1]} .. "
                    f"{shapes[-1][0]}x{shapes[-1][1]})")
    else:
        images = [synthetic_frame((480, 640), seed=i) for i in range(count)]
        what = "synthetic 640x480 frames"
    if channels == 1:
        import cv2

        images = [cv2.cvtColor(im, cv2.COLOR_BGR2GRAY) if im.ndim == 3 else im for im in images]
    return images, what


# ---------------------------------------------------------------------------
# Running


def _specs(config: BenchConfig, families: dict[str, list[Variant]], devices: Sequence[str]) -> list[Row]:
    rows = []
    for vs in families.values():
        base = baseline_of(vs)
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


def _evaluate(predictor: Any, samples: Sequence[Any], count: int) -> tuple[dict[str, Any] | None, str | None]:
    """The task metric of ``predictor`` on ``samples`` (see calibration.metrics.evaluate)."""
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
        return None, f"metric not computed: {_error_text(e)}"
    d = res.to_dict() if hasattr(res, "to_dict") else dict(vars(res))
    return {"task": d.get("task"), "metric": d.get("metric"), "value": d.get("value"),
            "higher_is_better": d.get("higher_is_better"), "count": d.get("count"),
            "details": d.get("details")}, None


def _chain(predictor: Any) -> Callable[[list[np.ndarray]], np.ndarray] | None:
    """The OpenCV chain of benchmarks.preprocess for this model's input size and mode (3-channel only)."""
    from .preprocess import Case, chain_fn

    size, kw = predictor.config.preprocess_kwargs()
    hw = (size, size) if isinstance(size, int) else tuple(size)
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
    from .preprocess import cycling

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
        chain = _chain(p)
        if chain is None:
            row.stage_notes["pre_cv"] = "OpenCV chain baseline covers 3-channel letterbox/stretch/pad_right inputs only"
        else:
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
                caches["metrics"][key] = _evaluate(p, samples.samples, config.eval_count)
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
    from calibration.quantize import convert_fp16

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


def _run(config: BenchConfig, models: list[str], extra_notes: list[str], progress: bool) -> BenchResult:
    started = time.perf_counter()
    env = environment()
    devices = list(config.devices) if config.devices is not None else default_devices()
    for d in devices:
        check_device(d)
    families = group_variants(models)
    # Without the metric, only the few timing images are needed from the data.
    samples = load_samples(config.data, config.eval_count if config.metric else config.timing_images)
    rows = _specs(config, families, devices)
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

    noise = _aggregate(prepared, stats_by_key, rows)
    env["peak_rss_mb"] = peak_rss_mb()
    cfg = {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in asdict(config).items()}
    cfg["devices"] = devices
    cfg["models"] = models
    result = BenchResult(env, cfg, rows, samples.description, notes, noise)
    result.duration_s = time.perf_counter() - started
    return result


def _time_rows(prepared: list[_Prepared], config: BenchConfig, prog: Any) -> dict[tuple[int, str], list[Stats]]:
    """Every stage of every prepared row, round-robin, ``config.repeats`` times; the baselines'
    end-to-end call twice (``e2e_again``) for the noise estimate."""
    fns: dict[tuple[int, str], Callable[[], Any]] = {}
    for i, prep in enumerate(prepared):
        for stage in STAGES:
            if stage in prep.fns:
                fns[(i, stage)] = prep.fns[stage]
    noise_rows = [i for i, prep in enumerate(prepared) if prep.row.is_baseline]
    if not noise_rows and prepared:  # no baseline in the run: still measure the run's noise on the first row
        noise_rows = [0]
    for i in noise_rows:
        fns[(i, "e2e_again")] = prepared[i].fns["e2e"]
    out: dict[tuple[int, str], list[Stats]] = {k: [] for k in fns}
    if not fns:
        return out
    task = prog.add_task("timing (interleaved repeats)", total=config.repeats) if prog else None
    for r in range(config.repeats):
        stats = measure_interleaved(fns, rounds=config.rounds, warmup=config.warmup if r == 0 else 0,
                                    min_samples=config.iters, min_time_s=config.min_time_s)
        for k, st in stats.items():
            out[k].append(st)
        if prog is not None:
            prog.advance(task)
    return out


def _aggregate(prepared: list[_Prepared], stats: dict[tuple[int, str], list[Stats]],
               rows: list[Row]) -> dict[str, float]:
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
        again = stats.get((i, "e2e_again"))
        if again:
            # The same aggregation as the quoted figures (median of the per-repeat medians).
            prep.row.noise_pct = noise_pct(StageStats.from_repeats(stats[(i, "e2e")]).p50,
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


# ---------------------------------------------------------------------------
# Reporting


def _ms(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.3f}" if v < 10 else f"{v:.1f}"


def _num(v: float | None, fmt: str = ".1f") -> str:
    return "-" if v is None else format(v, fmt)


def _size(mb: float | None) -> str:
    return "-" if mb is None else (f"{mb:.2f}" if mb >= 0.1 else f"{mb:.4f}")


def _rate(ips: float | None) -> str:
    return "-" if ips is None else (f"{ips:.0f}" if ips >= 100 else f"{ips:.1f}")


def _ratio_cell(row: Row, key: str) -> str:
    if row.is_baseline and key in row.ratios:
        return "base"
    return format_ratio(row.ratios.get(key), row.noise_pct if key in TIME_RATIOS else None)


def _metric_text(row: Row) -> str:
    if row.metric and row.metric.get("value") is not None:
        return f"{row.metric['metric']} {row.metric['value']:.4g}"
    return "-"


COLUMNS = ("variant", "device", "batch", "threads", "pre ms", "pre cv ms", "infer ms", "post ms", "e2e p50",
           "e2e p90", "e2e p99", "img/s", "size MB", "metric", "RSS +MB", "e2e x fp32", "infer x fp32",
           "size x fp32", "metric x fp32")


def table_rows(result: BenchResult) -> list[list[str]]:
    """The table's cells (strings), one list per ok row, in :data:`COLUMNS` order."""
    out = []
    for r in result.ok_rows:
        e2e = r.stages.get("e2e")
        out.append([
            r.model + (" (base)" if r.is_baseline else ""), r.device, str(r.batch),
            "auto" if r.threads is None else str(r.threads),
            _ms(r.p50("pre")), _ms(r.p50("pre_cv")), _ms(r.p50("infer")), _ms(r.p50("post")),
            _ms(e2e.p50 if e2e else None), _ms(e2e.p90 if e2e else None), _ms(e2e.p99 if e2e else None),
            _rate(r.throughput_ips), _size(r.size_mb), _metric_text(r), _num(r.rss_delta_mb),
            _ratio_cell(r, "e2e"), _ratio_cell(r, "infer"), _ratio_cell(r, "size"), _ratio_cell(r, "metric"),
        ])
    return out


def header_line(result: BenchResult) -> str:
    env = result.environment
    return (f"edgevision {env['edgevision']} | {env['date']} | {env['cpu']} ({env['cores']} cores, {env['machine']}) | "
            f"kernel SIMD {env['kernel']['simd']} | onnxruntime {env.get('onnxruntime')} "
            f"(providers: {', '.join(env.get('ort_providers') or [])}) | OpenCV {env['opencv']} | "
            f"Python {env['python']}")


def _legend(result: BenchResult) -> list[str]:
    c = result.config
    noise = ", ".join(f"{k}: {v:.1f}%" for k, v in result.noise.items()) or "not measured"
    return [
        f"Data: {result.data}. Times are ms per call of `batch` images; p50 = median of {c['repeats']} interleaved "
        f"repeats (>= {c['iters']} calls and >= {c['min_time_s']} s per stage each, {c['warmup']} warm-up calls).",
        "pre = Predictor.preprocess (compiled kernel); pre cv = the OpenCV chain of benchmarks.preprocess "
        "(a baseline); infer = Predictor.infer; post = Predictor.postprocess; e2e = p(images).",
        "x fp32 = ratio to the fp32 baseline of the same family, backend, device, batch and threads in this run; "
        f"~ = within the noise. Noise (the baseline's e2e p50 measured twice, interleaved; spread): {noise}.",
        "RSS +MB = resident-set growth while the variant was loaded, evaluated and first run (approximate); "
        f"process peak RSS {_num(result.environment.get('peak_rss_mb'))} MB.",
    ]


def print_table(result: BenchResult, console: Any = None) -> None:
    """The results as a rich table (plus failures and notes) on ``console`` (default: stdout)."""
    from rich import box
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    if console is None:
        console = Console()
        if not console.is_terminal:  # a pipe or a log: do not squeeze 19 columns into 80
            console = Console(width=260)
    console.print(header_line(result), highlight=False)
    table = Table(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False)
    for col in COLUMNS:
        table.add_column(col, justify="left" if col in ("variant", "device", "metric") else "right")
    for cells in table_rows(result):
        table.add_row(*cells)
    console.print(table)
    for r in result.rows:
        if r.status != "ok":
            console.print(f"[red]FAILED[/red] {escape(r.label)}: {escape(r.reason or '')}", highlight=False)
    for line in _legend(result) + _row_notes(result) + result.notes:
        console.print(line, highlight=False, markup=False)


def _row_notes(result: BenchResult) -> list[str]:
    """Per-model notes (metric not computed, OpenCV chain n/a, timing images), each once."""
    notes: list[str] = []
    for r in result.ok_rows:
        texts = []
        if r.metric_note and r.metric_note != "--no-metric":
            texts.append(f"{r.model}: metric: {r.metric_note}")
        if "pre_cv" in r.stage_notes:
            texts.append(f"{r.model}: pre cv: {r.stage_notes['pre_cv']}")
        if "images" in r.stage_notes:
            texts.append(f"{r.model}: timed on {r.stage_notes['images']}")
        notes += [t for t in texts if t not in notes]
    return notes


def to_markdown(result: BenchResult) -> str:
    """The results as Markdown: the environment, the table, failures, the legend and notes."""
    lines = [f"Measured with `python -m benchmarks.latency`: {header_line(result)}.", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for cells in table_rows(result):
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    failed = [r for r in result.rows if r.status != "ok"]
    if failed:
        lines += ["", "Failed rows:", ""]
        lines += [f"- `{r.label}`: {r.reason}" for r in failed]
    lines += [""] + [f"- {t}" for t in _legend(result) + _row_notes(result) + result.notes]
    return "\n".join(lines) + "\n"


def _flat(row: Row) -> dict[str, Any]:
    d: dict[str, Any] = {
        "label": row.label, "model": row.model, "path": row.path, "family": row.family, "precision": row.precision,
        "quantization": row.quantization,
        "baseline": row.is_baseline, "backend": row.backend, "device": row.device, "providers": " ".join(row.providers),
        "batch": row.batch, "threads": row.threads, "status": row.status, "reason": row.reason, "task": row.task,
        "size_mb": row.size_mb, "load_ms": row.load_ms, "rss_delta_mb": row.rss_delta_mb,
        "peak_rss_mb": row.peak_rss_mb, "throughput_ips": row.throughput_ips, "noise_pct": row.noise_pct,
        "metric": row.metric.get("metric") if row.metric else None,
        "metric_value": row.metric.get("value") if row.metric else None,
        "metric_higher_is_better": row.metric.get("higher_is_better") if row.metric else None,
        "metric_count": row.metric.get("count") if row.metric else None, "metric_note": row.metric_note,
    }
    for stage in STAGES:
        s = row.stages.get(stage)
        for q in ("p50", "p90", "p99"):
            d[f"{stage}_{q}_ms"] = getattr(s, q) if s is not None else None
    for k in (*STAGES, "throughput", "size", "metric"):
        r = row.ratios.get(k)
        d[f"{k}_x_fp32"] = r
        if k in TIME_RATIOS:
            d[f"{k}_x_fp32_within_noise"] = row.flagged(k) if r is not None else None
    return d


def write_csv(result: BenchResult, path: str | os.PathLike) -> Path:
    """One CSV line per row (every row, failed ones with their reason)."""
    flat = [_flat(r) for r in result.rows]
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(flat[0]) if flat else ["label"])
        w.writeheader()
        w.writerows(flat)
    return path


def write_json(result: BenchResult, path: str | os.PathLike) -> Path:
    path = Path(path)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(result.to_dict(), f, indent=2, ensure_ascii=False, default=str)
    return path


def plot(result: BenchResult, path: str | os.PathLike) -> Path:
    """A PNG of end-to-end p50 latency (x, ms) against the task metric (y), one labelled
    point per ok row, one panel per (task, metric); rows without a metric are plotted
    against model size (MB) instead. matplotlib (Agg) is imported here only."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    groups: dict[str, list[tuple[Row, float]]] = {}
    for r in result.ok_rows:
        if r.p50("e2e") is None:
            continue
        if r.metric and r.metric.get("value") is not None:
            better = "higher" if r.metric.get("higher_is_better") else "lower"
            groups.setdefault(f"{r.task}: {r.metric['metric']} ({better} is better)", []).append((r, r.metric["value"]))
        elif r.size_mb is not None:
            groups.setdefault("no task metric: model size, MB", []).append((r, r.size_mb))
    one_config = len({(r.device, r.batch, r.threads) for r in result.ok_rows}) <= 1
    n = max(1, len(groups))
    fig = Figure(figsize=(7, 4.5 * n), layout="constrained")
    FigureCanvasAgg(fig)
    if not groups:
        ax = fig.add_subplot(1, 1, 1)
        ax.text(0.5, 0.5, "no successful row to plot", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    for k, (title, pts) in enumerate(groups.items(), start=1):
        ax = fig.add_subplot(n, 1, k)
        for j, (r, y) in enumerate(sorted(pts, key=lambda t: (t[1], t[0].p50("e2e")))):
            ax.scatter([r.p50("e2e")], [y], color="tab:red" if r.is_baseline else "tab:blue")
            name = Path(r.model).stem if one_config else r.label
            # Staggered offsets, so that variants with equal metrics do not print over each other.
            ax.annotate(name, (r.p50("e2e"), y), textcoords="offset points", xytext=(5, 4 + 9 * (j % 3)),
                        fontsize=7)
        xmax = max(r.p50("e2e") for r, _ in pts)
        ax.set_xlim(0, xmax * 1.45)  # from 0, so that distances are not exaggerated; room for the labels
        ax.margins(y=0.2)
        ax.set_xlabel("end-to-end p50 latency, ms per call (red: fp32 baseline)")
        ax.set_ylabel(title.split(": ", 1)[1])
        ax.set_title(title, fontsize=9)
        ax.grid(True, alpha=0.3)
    title = f"edgevision latency vs task metric ({result.environment['date']})"
    if one_config and result.ok_rows:
        r0 = result.ok_rows[0]
        title += f"\n{r0.device}, batch {r0.batch}, threads {'auto' if r0.threads is None else r0.threads}"
    fig.suptitle(title, fontsize=10)
    path = Path(path)
    fig.savefig(path, dpi=110)
    return path


def write_outputs(result: BenchResult, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Writes ``latency.md``, ``latency.json``, ``latency.csv`` and ``latency.png`` into
    ``out_dir`` (created if needed); returns their paths by kind."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InvalidArgumentError(f"out: {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    md = out / "latency.md"
    md.write_text(to_markdown(result), encoding="utf-8")
    return {"md": md, "json": write_json(result, out / "latency.json"), "csv": write_csv(result, out / "latency.csv"),
            "png": plot(result, out / "latency.png")}


# ---------------------------------------------------------------------------
# Command line


def _threads(text: str) -> int | None:
    return None if text in ("auto", "default") else _positive(text)


def _seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, got {text!r}") from None
    if not v >= 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, got {text!r}")
    return v


def build_parser(prog: str = "python -m benchmarks.latency") -> argparse.ArgumentParser:
    from edgevision.backends import BACKENDS

    ap = argparse.ArgumentParser(
        prog=prog, description=__doc__.split("\n\n")[0].replace("\n", " "),
        epilog="Defaults: every bundled model, CPU (plus CUDA when onnxruntime-gpu offers it), batch 1, "
               "ONNX Runtime's default threads, the held-out synthetic set for the metric. Put MODEL paths "
               "before the options that take several values (--device, --batch, --threads, --backend).")
    ap.add_argument("models", nargs="*", metavar="MODEL",
                    help="ONNX model files or bundled model names (default: every bundled model); variants are "
                         "grouped by the stem before _fp16/_int8/...; the one without a suffix is the fp32 baseline")
    ap.add_argument("--backend", nargs="+", default=["auto"], choices=BACKENDS, help="runtime backends (default auto)")
    ap.add_argument("--device", nargs="+", metavar="DEV",
                    help="cpu, cuda[:N], tensorrt[:N] (ONNX Runtime providers; default: cpu, plus cuda when available)")
    ap.add_argument("--batch", nargs="+", type=_positive, default=[1], metavar="N", help="images per call (default 1)")
    ap.add_argument("--threads", nargs="+", type=_threads, default=[None], metavar="N",
                    help="ONNX Runtime intra-op threads, or 'auto' (default auto)")
    ap.add_argument("--warmup", type=_non_negative, metavar="N", help="warm-up calls per stage (default 3)")
    ap.add_argument("--iters", type=_positive, metavar="N", help="min timed calls per stage per repeat (default 10)")
    ap.add_argument("--repeats", type=_positive, metavar="N",
                    help="interleaved repeats; p50 = their median (default 5)")
    ap.add_argument("--min-time", type=_seconds, metavar="S", help="min seconds per stage per repeat (default 0.25)")
    ap.add_argument("--data", metavar="SRC",
                    help="labelled data for the metric: a .jsonl manifest, a CCPD folder, an image folder, or "
                         "synth[:SEED] (default: the held-out synthetic set)")
    ap.add_argument("--eval-count", type=_positive, metavar="N", help="samples for the metric (default 100)")
    ap.add_argument("--no-metric", action="store_true", help="skip the task metric")
    ap.add_argument("--out", metavar="DIR", help="write latency.md, latency.json, latency.csv and latency.png here")
    ap.add_argument("--quick", action="store_true", help="fewer samples (smoke runs, CI)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    return ap


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    kw: dict[str, Any] = {"models": list(args.models), "backends": list(args.backend), "devices": args.device,
                          "batches": list(args.batch), "threads": list(args.threads), "data": args.data,
                          "metric": not args.no_metric}
    for name, dest in (("warmup", "warmup"), ("iters", "iters"), ("repeats", "repeats"), ("min_time", "min_time_s"),
                       ("eval_count", "eval_count")):
        if getattr(args, name) is not None:
            kw[dest] = getattr(args, name)
    return BenchConfig.quick(**kw) if args.quick else BenchConfig(**kw)


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m benchmarks.latency") -> int:
    """The command line: exit 0 when the run completes with at least one measured row
    (failed rows are reported), 1 when every row failed, 2 for bad arguments."""
    ap = build_parser(prog)
    args = ap.parse_args(argv)
    if args.out is not None and Path(args.out).exists() and not Path(args.out).is_dir():
        ap.error(f"--out: {args.out} exists and is not a folder")
    import importlib.util

    for module, why in (("rich", "the table and progress bar"), ("matplotlib", "the --out plot")):
        if (module == "rich" or args.out is not None) and importlib.util.find_spec(module) is None:
            print(f"{prog}: error: {why} needs {module}: pip install 'edgevision[bench]'", file=sys.stderr)
            return 2
    try:
        config = config_from_args(args)
        result = run_benchmark(config, progress=not args.no_progress)
    except EdgeVisionError as e:  # bad configuration, devices, data source...
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    print_table(result)
    if args.out is not None:
        paths = write_outputs(result, args.out)
        print("wrote " + ", ".join(str(p) for p in paths.values()))
    else:
        print("(pass --out DIR to write Markdown, JSON, CSV and a PNG plot)")
    if not result.ok_rows:
        print(f"{prog}: every row failed (reasons above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
