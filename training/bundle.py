"""Turn a finished training run into the bundled default models: fp32 and int8, with a model card.

    python -m training.bundle runs/lpl --family lpl_resnet [--tolerance 0.05] [--format U8S8]
    python -m training.bundle runs/ocr --family plate_ocr  [--tolerance 0.005] [--compare OLD.onnx ...]

Writes into ``edgevision/models/``: ``<family>.onnx`` (the run's fp32 export) and
``<family>_int8.onnx`` (static QDQ int8 from the
accuracy-aware loop of :func:`calibration.quantize.quantize_accuracy_aware`,
calibrated on training-seed scenes, steered on a separate validation seed, never
on the held-out set; then :func:`calibration.quantize.optimize_input`: uint8 and
channels-last input where the model allows, the same outputs bit for bit), plus ``<family>.md``, the model card with the seed-000-style
table of every variant measured on the held-out synthetic set: fp16, dynamic int8,
plain static int8 with each calibration method (:data:`calibration.quantize.METHODS`,
same format and per-channel weights, no accuracy loop) and plain ``quantize_static``
defaults are included for comparison, not bundled (each derives from the fp32 file in
seconds, and none beats the bundled int8 on the CPUs here).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgevision.errors import EdgeVisionError, InvalidArgumentError

from .cards import write_card

BUNDLE_DIR = Path(__file__).resolve().parent.parent / "edgevision" / "models"
#: Synthetic seed of the validation scenes the accuracy-aware loop is steered on (not the
#: training seed, not HELDOUT_SEED, so the reported held-out figures stay unbiased).
VALIDATION_SEED = 2_000_003


def _fmt(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, (int, float)) else str(v)


def _samples(seed: int, count: int) -> list[Any]:
    from calibration.synth import PlateSceneGenerator

    g = PlateSceneGenerator(seed=seed)
    return [g[i] for i in range(count)]


def _real_section(family: str, fp32: Path, int8: Path, real_dir: str | None, eval_count: int,
                  compare: Sequence[str | Path] = ()) -> str:
    """The card's real-photograph section: ``benchmarks.accuracy`` on the bundled fp32 and int8
    OCR and the ``compare`` models (e.g. the ones the bundle replaces) in the same run (every
    real set, the synthetic held-out beside), or a line saying why it is missing."""
    from benchmarks.accuracy import AccuracyConfig, run_accuracy, to_markdown
    from calibration.errors import DatasetNotFoundError
    from calibration.real import real_root

    try:
        root = real_root(real_dir)
    except DatasetNotFoundError as e:
        return f"## Real photographs\n\nNot measured: {e}\n"
    res = run_accuracy(AccuracyConfig(ocr=[str(fp32), str(int8), *map(str, compare)], real=str(root),
                                      synthetic_count=eval_count))
    body = to_markdown(res).replace(str(fp32.parent) + "/", "")
    also = (f" Beside them, measured in the same run: {', '.join(f'`{Path(c).name}`' for c in compare)} "
            "(the models this bundle replaces, or others to compare with)." if compare else "")
    return ("## Real photographs\n\nReal data first: `crops/` (902 real plate crops, evaluation only: never "
            "trained on), CCPD scenes and the held-out EasyPR plates (never trained on), each read from its "
            "labelled quad and through the whole `PlateReader`; the synthetic sets after them." + also + "\n\n"
            + body)


def bundle(run_dir: str | Path, family: str, *, tolerance: float, fmt: str = "U8S8", method: str = "minmax",
           calib_count: int = 256, val_count: int = 200, eval_count: int = 500, runs: int = 30,
           out_dir: str | Path = BUNDLE_DIR, methods: Any = None, real_dir: str | None = None,
           compare: Sequence[str | Path] = ()) -> dict[str, Any]:
    """Bundle a run (module docs). ``methods``: the calibration methods of the plain static
    int8 rows of the report (default: all of :data:`calibration.quantize.METHODS`). An OCR run
    trained on a real-data mixture (``training ocr --mix real``) is calibrated and steered on
    that mixture; the OCR card carries the real-photograph figures of
    ``python -m benchmarks.accuracy`` (``real_dir``: the real sets, default
    :func:`calibration.real.real_root`) before the synthetic ones; ``compare``: more OCR models
    measured beside the bundled ones in that section (say, the models the bundle replaces)."""
    from calibration.data import CalibrationSet
    from calibration.errors import QuantizationError
    from calibration.metrics import heldout_samples
    from calibration.quantize import (METHODS, convert_fp16, optimize_input, quantize, quantize_accuracy_aware,
                                      quantize_dynamic_int8, report)
    from calibration.synth import TRAIN_SEED

    methods = METHODS if methods is None else tuple(methods)
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    for c in compare:
        if not Path(c).is_file():
            raise InvalidArgumentError(f"compare: {c} is not a file (expected an OCR model to measure beside the bundle)")
    if compare and family != "plate_ocr":
        raise InvalidArgumentError(f"compare: only the plate_ocr family has a real-data section, not {family!r}")
    doc = json.loads((run_dir / "summary.json").read_text())
    src = Path(doc["export"]["path"])
    out_dir.mkdir(parents=True, exist_ok=True)
    fp32 = out_dir / f"{family}.onnx"
    shutil.copyfile(src, fp32)
    data = doc["train"].get("data") or {}
    mixture = family == "plate_ocr" and (data.get("mix") or {}).get("name", "synth") != "synth"
    if mixture:  # calibrate and steer on the run's own training mixture (other seeds), never on evaluation data
        from .ocr import mixture_samples

        calib_src: Any = [s.image for s in mixture_samples(TRAIN_SEED, calib_count, data)]
        val = mixture_samples(VALIDATION_SEED, val_count, data)
        data_words = f"crops of the training mixture ({data['mix']['name']}: {data['mix']['shares']})"
    else:
        calib_src = f"synth:{TRAIN_SEED}"
        val = _samples(VALIDATION_SEED, val_count)
        data_words = "scenes"
    calib = CalibrationSet.from_source(fp32, calib_src, count=calib_count, seed=0, progress=True)
    aa = quantize_accuracy_aware(fp32, calib, val, tolerance=tolerance, method=method, fmt=fmt,
                                 out=out_dir / f"{family}_int8.onnx", compare_default=True, progress=True)
    # The same outputs bit for bit with a cheaper input, where the model allows (checked end to end).
    input_steps, input_notes = optimize_input(aa.path)
    heldout = heldout_samples(eval_count)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            fp16_path, fp16_note = convert_fp16(fp32, Path(tmp) / f"{family}_fp16.onnx").path, None
        except QuantizationError as e:  # reported in the card; the other variants go on
            fp16_path, fp16_note = None, str(e)
        dyn = quantize_dynamic_int8(fp32, Path(tmp) / f"{family}_int8_dynamic.onnx")
        variants = {"fp32": fp32, "fp16": fp16_path, "static int8 (accuracy-aware)": aa.path,
                    "dynamic int8": dyn.path}
        if fp16_path is None:
            del variants["fp16"]
        for m in methods:  # plain static int8 per calibration method (the seed-000 table's rows)
            variants[f"static int8 ({m})"] = quantize(fp32, calib, Path(tmp) / f"{family}_int8_{m}.onnx",
                                                      method=m, fmt=fmt).path
        # plain onnxruntime.quantization.quantize_static with its defaults, same model and data
        import warnings

        from onnxruntime.quantization import quantize_static

        default = Path(tmp) / f"{family}_int8_ort_defaults.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_static(str(fp32), str(default), calib.reader())
        variants["quantize_static defaults"] = default
        rep = report(variants, heldout, runs=runs, threads=1, progress=True,
                     out_md=run_dir / "report.md", out_json=run_dir / "report.json")
    # The card's held-out figures come from the bundled file itself (the report's fp32 row, with its breakdowns).
    doc["heldout"] = next(r["evaluation"] for r in rep["rows"] if r["variant"] == "fp32")
    card = write_card(fp32, doc)
    q = aa.to_dict()
    text = card.read_text()
    real = _real_section(family, fp32, aa.path, real_dir, eval_count, compare) if family == "plate_ocr" else ""
    if real:  # real photographs first, the synthetic figures after them
        head, sep, tail = text.partition("## Held-out synthetic set")
        text = head + real + "\n" + sep + tail
    text += f"""
## Variants and quantization

`python -m training.bundle {run_dir} --family {family} --tolerance {tolerance} --format {fmt}`: static int8 is
`calibration.quantize_accuracy_aware` ({method}, {fmt}, per-channel weights, QDQ), calibrated on
{calib_count} training-seed {data_words} through the deploy preprocessing, steered on {val_count} validation
{data_words} (seed {VALIDATION_SEED}); tolerance {tolerance} on `{q["metric"]}` ({"relative" if not q["higher_is_better"] else "absolute"}).
Result: {"within tolerance" if q["ok"] else "NOT within tolerance"} ({q["reason"]}); nodes kept in float: {q["float_nodes"] or "none"}.
Input rewrites (`calibration.quantize.optimize_input`, the same outputs bit for bit): {", ".join(input_steps) or "none"}{"; " + "; ".join(input_notes) if input_notes else ""}.
Plain `quantize_static` defaults on the same data scored {_fmt((q.get("baseline") or {}).get("value"))} on the validation set, against {_fmt(q["value"])} for this loop and {_fmt(q["fp32_value"])} for fp32.

{f"fp16: not measured: {fp16_note}" if fp16_note else ""}

Held-out synthetic set ({len(heldout)} scenes), ONNX Runtime CPU, 1 thread, batch 1, variants timed round-robin:

{rep["markdown"]}
"""
    card.write_text(text.replace(str(Path(__file__).resolve().parent.parent) + "/", ""))
    return {"card": str(card), "report": rep, "accuracy_aware": q}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.bundle", description=__doc__.split("\n\n")[0])
    ap.add_argument("run", help="a python -m training run directory (with summary.json)")
    ap.add_argument("--family", required=True, help="bundled name stem, e.g. lpl_resnet or plate_ocr")
    ap.add_argument("--tolerance", type=float, required=True,
                    help="accuracy-aware tolerance: relative for MAE (0.05 = +5%%), absolute for accuracy (0.005)")
    ap.add_argument("--format", default="U8S8", choices=("S8S8", "U8S8"))
    ap.add_argument("--method", default="minmax")
    ap.add_argument("--eval-count", type=int, default=500, help="held-out scenes for the report")
    ap.add_argument("--calib-count", type=int, default=256, help="calibration scenes (training seed)")
    ap.add_argument("--val-count", type=int, default=200, help="validation scenes steering the accuracy-aware loop")
    ap.add_argument("--runs", type=int, default=30, help="timed runs per variant")
    ap.add_argument("--out-dir", default=str(BUNDLE_DIR))
    ap.add_argument("--real", help="the real plate sets for the OCR card (default: calibration.real.real_root())")
    ap.add_argument("--compare", action="append", default=[], metavar="MODEL",
                    help="an OCR model to measure beside the bundled ones in the card's real-data section "
                         "(e.g. the one the bundle replaces; repeatable)")
    args = ap.parse_args(argv)
    try:
        res = bundle(args.run, args.family, tolerance=args.tolerance, fmt=args.format, method=args.method,
                     eval_count=args.eval_count, calib_count=args.calib_count, val_count=args.val_count,
                     runs=args.runs, out_dir=args.out_dir, real_dir=args.real, compare=args.compare)
    except (EdgeVisionError, OSError) as e:
        print(f"python -m training.bundle: error: {e}", file=sys.stderr)
        return 2
    print(res["report"]["markdown"])
    print(json.dumps({k: v for k, v in res["accuracy_aware"].items() if k not in ("ranking", "result")}, indent=2,
                     ensure_ascii=False, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
