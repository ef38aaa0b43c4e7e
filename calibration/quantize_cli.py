"""``quantize`` and ``report`` subcommands: a thin command line over :mod:`calibration.quantize`.

    python -m calibration quantize MODEL --data SRC [--method M] [--format S8S8|U8S8]
        [--tolerance T [--metric NAME] [--eval-data SRC] [--eval-count N] [--max-float-nodes N]]
        [--exclude NODE_OR_OP ...] [--count N] [--seed S] [--strategy random|stratified]
        [--cache-dir DIR] [--trt-table DIR] [--out X_int8.onnx] [--json]
    python -m calibration report MODEL... [--data SRC] [--count N] [--runs N] [--md F] [--json F]

``--method dynamic`` and ``--method fp16`` make the other two variants (no ``--data``).
With ``--tolerance`` the quantization is accuracy-aware (relative for lower-is-better
metrics: 0.05 = +5 % MAE; absolute for accuracies: 0.005 = 0.5 percentage points).
Sources: a dataset path (JSONL manifest, CCPD folder, image folder), ``synth[:SEED]``;
for evaluation also ``heldout`` (the fixed synthetic held-out set, the default).
Exit status 0 on success, 2 on an error (with the message on stderr), and 1 when an
accuracy-aware run ends out of tolerance (the best model found is still written).

``register(subparsers)`` adds both subcommands to an existing ``argparse`` parser (the
``python -m calibration`` one); ``main(argv)`` runs them standalone.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from edgevision._argtypes import non_negative_int as _non_negative
from edgevision._argtypes import positive_int as _positive
from edgevision.errors import EdgeVisionError, InvalidArgumentError

__all__ = ["main", "register"]

_STATIC = ("minmax", "entropy", "percentile", "distribution")


def _tolerance(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not v >= 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text}")
    return v


def _quantize(args: argparse.Namespace) -> int:
    from . import quantize as q
    from .data import CalibrationSet
    from .metrics import load_samples

    if args.method in ("dynamic", "fp16"):
        if args.tolerance is not None or args.exclude or args.trt_table:
            raise InvalidArgumentError(
                f"--method {args.method}: --tolerance, --exclude and --trt-table apply to static int8 only")
        r = q.quantize_dynamic_int8(args.model, args.out) if args.method == "dynamic" else \
            q.convert_fp16(args.model, args.out)
        print(r.summary())
        for note in r.notes:
            print(f"note: {note}")
        if args.json:
            print(json.dumps(r.to_dict(), indent=2, ensure_ascii=False))
        return 0
    if args.data is None:
        raise InvalidArgumentError(f"--data: required for --method {args.method} (a dataset path or synth[:SEED])")
    cs = CalibrationSet.from_source(args.model, args.data, count=args.count, seed=args.seed, strategy=args.strategy,
                                    cache_dir=args.cache_dir, progress=True)
    print(cs.report.summary())
    for note in cs.report.notes:
        print(f"note: {note}")
    doc: dict[str, Any]
    if args.tolerance is None:
        r = q.quantize(args.model, cs, args.out, method=args.method, fmt=args.format,
                       per_channel=not args.per_tensor, percentile=args.percentile, exclude=args.exclude,
                       preprocess=not args.no_preprocess)
        print(r.summary())
        notes = r.notes
        doc = r.to_dict()
    else:
        samples = load_samples(args.eval_data, args.eval_count)
        a = q.quantize_accuracy_aware(args.model, cs, samples, tolerance=args.tolerance, metric=args.metric,
                                      method=args.method, fmt=args.format, per_channel=not args.per_tensor,
                                      percentile=args.percentile, exclude=args.exclude,
                                      max_float_nodes=args.max_float_nodes, out=args.out,
                                      preprocess=not args.no_preprocess, compare_default=args.compare_default,
                                      progress=True)
        sense = "higher" if a.higher_is_better else "lower"
        print(f"{a.metric} ({sense} is better): fp32 {a.fp32_value:.6g}, limit {a.limit:.6g} "
              f"(tolerance {a.tolerance:g} {'absolute' if a.higher_is_better else 'relative'}), "
              f"{len(samples)} eval samples")
        for s in a.steps:
            kept = ", ".join(s["float_nodes"]) or "none"
            print(f"  step {s['step']}: {a.metric} {s['value']:.6g} {'ok' if s['within'] else 'over'}; float: {kept}")
        if a.baseline is not None:
            v = a.baseline.get("value")
            print(f"  quantize_static defaults: {a.metric} " + (f"{v:.6g}" if v is not None else a.baseline["error"]))
        print(("OK: " if a.ok else "NOT OK: ") + a.reason)
        print(a.result.summary())
        notes = a.result.notes
        doc = a.to_dict()
    for note in notes:
        print(f"note: {note}")
    if args.trt_table:
        files = q.write_tensorrt_calibration(args.model, cs, args.trt_table)
        print("TensorRT calibration: " + ", ".join(str(p) for p in files.values()))
    if args.json:
        print(json.dumps(doc, indent=2, ensure_ascii=False, default=str))
    return 0 if args.tolerance is None or doc["ok"] else 1


def _report(args: argparse.Namespace) -> int:
    from . import quantize as q
    from .metrics import load_samples

    samples = None if args.no_metric else load_samples(args.data, args.count)
    doc = q.report(args.models, samples, runs=args.runs, threads=args.threads, out_md=args.md, out_json=args.json,
                   progress=True)
    print(doc["markdown"], end="")
    return 0


def register(subparsers: Any) -> None:
    """Adds ``quantize`` and ``report`` to an ``argparse`` subparsers object; each sets
    ``fn`` (a callable taking the parsed args and returning the exit status)."""
    p = subparsers.add_parser("quantize", help="static int8 (QDQ), accuracy-aware int8, dynamic int8 or fp16",
                              description="Quantize an ONNX model with edgevision metadata; see docs/quantization.md.")
    p.add_argument("model", help="the float .onnx model")
    p.add_argument("--data", metavar="SRC", help="calibration source: a dataset path (manifest, CCPD folder, image "
                                                  "folder) or synth[:SEED]")
    p.add_argument("--method", default="minmax", choices=(*_STATIC, "dynamic", "fp16"),
                   help="calibration method, or dynamic/fp16 for those variants (default minmax)")
    p.add_argument("--format", default="S8S8", choices=("S8S8", "U8S8"),
                   help="S8S8: symmetric int8 activations (TensorRT, ARM; default); U8S8: uint8 activations")
    p.add_argument("--per-tensor", action="store_true", help="one scale per weight tensor (default: per channel)")
    p.add_argument("--percentile", type=float, default=99.999, help="kept percentile for --method percentile")
    p.add_argument("--exclude", nargs="+", action="extend", default=[], metavar="NODE",
                   help="node names or op types kept in float")
    p.add_argument("--count", type=_positive, default=256, help="calibration images (default 256)")
    p.add_argument("--seed", type=_non_negative, default=0, help="selection seed (default 0)")
    p.add_argument("--strategy", default="random", choices=("random", "stratified"),
                   help="random, or balanced over plate_type (default random)")
    p.add_argument("--cache-dir", metavar="DIR", help="cache the calibration tensors here")
    p.add_argument("--no-preprocess", action="store_true", help="skip onnxruntime's quant_pre_process")
    p.add_argument("--tolerance", type=_tolerance, metavar="T",
                   help="accuracy-aware: max metric loss (relative for MAE/CER, absolute for accuracies)")
    p.add_argument("--metric", help="the metric for --tolerance (default: the task's primary metric)")
    p.add_argument("--eval-data", default="heldout", metavar="SRC",
                   help="labelled samples for --tolerance: heldout (default), synth:SEED or a dataset path")
    p.add_argument("--eval-count", type=_positive, default=200, help="evaluation samples (default 200)")
    p.add_argument("--max-float-nodes", type=_non_negative, default=8, help="accuracy-aware limit (default 8)")
    p.add_argument("--compare-default", action="store_true",
                   help="also evaluate plain quantize_static defaults (with --tolerance)")
    p.add_argument("--trt-table", metavar="DIR", help="also write TensorRT calibration tables into DIR")
    p.add_argument("--out", help="output .onnx (default: MODEL stem + _int8/_int8_dynamic/_fp16)")
    p.add_argument("--json", action="store_true", help="also print the result as JSON")
    p.set_defaults(fn=_quantize)

    r = subparsers.add_parser("report", help="latency, task metric and size of model variants",
                              description="Compare model variants: p50 latency, task metric, size (ratios to fp32).")
    r.add_argument("models", nargs="+", help=".onnx variants (the first float one is the baseline)")
    r.add_argument("--data", default="heldout", metavar="SRC",
                   help="labelled samples: heldout (default), synth:SEED or a dataset path")
    r.add_argument("--count", type=_positive, default=100, help="evaluation samples (default 100)")
    r.add_argument("--no-metric", action="store_true", help="latency and size only")
    r.add_argument("--runs", type=_positive, default=30, help="timed runs per variant (default 30)")
    r.add_argument("--threads", type=_positive, help="onnxruntime intra-op threads")
    r.add_argument("--md", metavar="FILE", help="write the Markdown table here")
    r.add_argument("--json", metavar="FILE", help="write the JSON document here")
    r.set_defaults(fn=_report)


def main(argv: list[str] | None = None) -> int:
    """Runs ``quantize`` or ``report``; returns the exit status (2 on errors, message on stderr)."""
    ap = argparse.ArgumentParser(prog="python -m calibration", description="edgevision quantization tools")
    sub = ap.add_subparsers(dest="command", required=True)
    register(sub)
    try:
        args = ap.parse_args(argv)
    except SystemExit as e:  # argparse already printed the usage and the error
        return int(e.code) if isinstance(e.code, int) else 2
    try:
        return int(args.fn(args))
    except EdgeVisionError as e:
        print(f"calibration {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
