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

Honest statistics, the project's one timing protocol (:mod:`calibration.timing`,
which ``calibration.quantize.report`` uses too): warm-up calls first; every stage
function of every row is timed round-robin (``measure_interleaved``) so that load
drift on a shared machine hits all variants alike; this is repeated
``--repeats`` times (``measure_repeated``) and the p50 quoted is the median of the per-repeat
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

Layout: this module is the public face and the command line; the engine lives in
``calibration/_latency/`` (``variants``, ``data``, ``opencv``, ``results``, ``run``,
``report``), in ``calibration`` so that ``calibration.quantize.report`` (its
one-row-per-variant view) runs on it too, and every name is re-exported here:
import from ``benchmarks.latency``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

from calibration.timing import (  # noqa: F401  (re-exported: the statistics are the timing protocol's)
    StageStats,
    format_ratio,
    noise_pct,
    ratio,
    within_noise,
)
from edgevision._argtypes import non_negative_int as _non_negative
from edgevision._argtypes import positive_int as _positive
from edgevision.errors import EdgeVisionError

from calibration._latency.variants import (  # noqa: F401  (re-exported: the public path stays)
    STAGES,
    PRECISION_TOKENS,
    BASELINE_PRECISIONS,
    ENGINE_SUFFIXES,
    SYNTH_PREFIX,
    OCR_TASKS,
    Variant,
    parse_variant,
    group_variants,
    baseline_of,
    noise_stage,
)
from calibration._latency.results import (  # noqa: F401  (re-exported: the public path stays)
    BenchConfig,
    Row,
    TIME_RATIOS,
    BenchResult,
)
from calibration._latency.data import (  # noqa: F401  (re-exported: the public path stays)
    default_devices,
    check_device,
    SampleSet,
    load_samples,
    timing_images,
)
from calibration._latency.run import (  # noqa: F401  (re-exported: the public path stays)
    _specs,
    _error_text,
    _evaluate,
    _chain,
    _Prepared,
    _load,
    _prepare,
    _quantization,
    _progress,
    run_benchmark,
    run_variants,
    derive_fp16,
    _run,
    _time_rows,
    _aggregate,
)
from calibration._latency.report import (  # noqa: F401  (re-exported: the public path stays)
    _ms,
    _num,
    _size,
    _rate,
    _ratio_cell,
    _metric_text,
    COLUMNS,
    table_rows,
    header_line,
    _legend,
    print_table,
    _row_notes,
    to_markdown,
    _flat,
    write_csv,
    write_json,
    plot,
    write_outputs,
    variant_rows,
    variants_markdown,
)

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
    "run_variants",
    "variant_rows",
    "to_markdown",
    "write_csv",
    "write_json",
    "plot",
    "write_outputs",
    "print_table",
    "main",
]


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
