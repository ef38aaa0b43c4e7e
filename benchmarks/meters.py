"""Meter reading (seed 001) on real and synthetic data: ``python -m benchmarks.meters``.

    python -m benchmarks.meters [--models-dir DIR] [--real DIR] [--synthetic N] [--threads 1] [--json PATH]

Sections (functions, so each can be run or extended alone):

- **stage 2** (:func:`stage2_report`): the bundled digit detector ``meter_digits`` and
  digit classifier ``meter_digit_cls``, fp32 and int8, on
  1. real drum digits (the held-out split of ``calibration.meter_real.drum_digits``, never
     trained on): the classifier's nearest-whole-digit accuracy (3.4 -> 3, 3.6 -> 4; a
     position exactly halfway counts either way) and the mean absolute error in steps of
     the position read from its 10 probabilities (circular expectation, circular distance);
  2. real LCD readings (the held-out split of ``calibration.meter_real.lcd_images``, one
     reading per digit row of an upright photo): the row's screen crop
     (``calibration.meter_real.lcd_screen``), detector + classifier, digits sorted by x;
     exactly right or not (real LCDs have no decimal area: their reading has no ``.``);
  3. synthetic held-out screens (``render_screen`` seeds from :data:`SYNTH_HELDOUT_SEED`):
     exact readings with the decimal point, per style, and the classifier alone on the
     ground-truth digit boxes;
  4. median latency at ``threads`` ONNX Runtime threads: the detector on one screen, the
     classifier on one batch of 8 crops.

Real figures come first. The real data is read from ``../shared/data/real`` (``--real`` or
``$EDGEVISION_REAL_DATA``); without it the real rows say why they are missing.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from calibration.meter_synth import MeterScreen, digit_crop, nearest_digit, render_screen

#: First seed of the synthetic held-out screens (training uses seeds below 10**6).
SYNTH_HELDOUT_SEED = 9_000_000
MODELS_DIR = Path(__file__).resolve().parent.parent / "edgevision" / "models"


def synthetic_screens(seed: int, count: int) -> list[MeterScreen]:
    """``count`` synthetic screens from ``seed`` on (either style)."""
    return [render_screen(seed + i) for i in range(count)]


def _predictor(model: Any, threads: int = 1) -> Any:
    import edgevision

    if isinstance(model, edgevision.Predictor):
        return model
    return edgevision.Predictor(str(model), threads=threads)


def classify_crops(classifier: Any, crops: Sequence[np.ndarray]) -> np.ndarray:
    """(N, 10) digit probabilities of 32x20 BGR crops, in one batched call (empty: (0, 10))."""
    if len(crops) == 0:
        return np.zeros((0, 10), np.float32)
    p = _predictor(classifier)
    blob, _ = p.preprocess(list(crops))
    return np.asarray(p.infer(blob)[0], np.float32).reshape(len(crops), -1)


def read_screen(screen: np.ndarray, detector: Any, classifier: Any, *, conf: float = 0.3
                ) -> tuple[str, np.ndarray, np.ndarray, float]:
    """Stage 2 on one rectified screen (uint8 BGR, 96x256).

    The detector's ``digit`` boxes above ``conf``, sorted by centre x, are cropped
    (:func:`calibration.meter_synth.digit_crop`) and read by the classifier in one batch
    (argmax: the nearest whole digit); a ``.`` goes before the first digit whose centre
    lies inside the highest-scoring ``decimal`` box. Returns ``(text, digit boxes (D, 4) px,
    probabilities (D, 10), score)``, the score the product of the digits' top
    probabilities and detection scores (1.0 for no digit, with text ``""``).
    """
    det = _predictor(detector)
    r = det(screen)
    labels = list(det.config.labels or [])
    digit_id = labels.index("digit") if "digit" in labels else 0
    dec_id = labels.index("decimal") if "decimal" in labels else -1
    keep = (r.classes == digit_id) & (r.scores >= conf)
    boxes = np.asarray(r.boxes, np.float32)[keep]
    scores = np.asarray(r.scores, np.float32)[keep]
    order = np.argsort((boxes[:, 0] + boxes[:, 2]) / 2, kind="stable")
    boxes, scores = boxes[order], scores[order]
    probs = classify_crops(classifier, [digit_crop(screen, b) for b in boxes])
    digits = [str(int(k)) for k in probs.argmax(1)] if len(probs) else []
    dec = (r.classes == dec_id) & (r.scores >= conf)
    if dec.any() and digits:
        db = np.asarray(r.boxes, np.float32)[dec][int(np.argmax(r.scores[dec]))]
        cx = (boxes[:, 0] + boxes[:, 2]) / 2
        inside = np.flatnonzero((cx >= db[0]) & (cx <= db[2]))
        if len(inside) and inside[0] > 0:
            digits.insert(int(inside[0]), ".")
    score = float(np.prod(probs.max(1)) * np.prod(scores)) if len(probs) else 1.0
    return "".join(digits), boxes, probs, score


def classifier_accuracy(classifier: Any, crops: Sequence[np.ndarray], labels: Sequence[int]) -> float:
    """Fraction of crops whose argmax is the label."""
    probs = np.concatenate([classify_crops(classifier, crops[i:i + 256]) for i in range(0, len(crops), 256)])
    return float(np.mean(probs.argmax(1) == np.asarray(labels)))


def stage2_reading_accuracy(detector: Any, classifier: Any, screens: Sequence[MeterScreen]) -> float:
    """Fraction of synthetic screens read exactly (with the decimal point)."""
    det, cls = _predictor(detector), _predictor(classifier)
    return float(np.mean([read_screen(s.image, det, cls)[0] == s.reading for s in screens]))


def _positions(probs: np.ndarray) -> np.ndarray:
    z = np.asarray(probs, np.float64) @ np.exp(2j * np.pi * np.arange(10) / 10)
    return (np.angle(z) * 10 / (2 * np.pi)) % 10


def drum_heldout(classifier: Any, real: str | None = None) -> dict[str, Any]:
    """The classifier on the real held-out drum digits: nearest-digit accuracy and MAE in steps."""
    from calibration.meter_real import drum_digits

    items = drum_digits("heldout", real)
    probs = classify_crops(classifier, [d.image for d in items])
    pred = probs.argmax(1)
    pos = np.array([d.position for d in items])
    frac = pos - np.floor(pos)
    ok = (pred == np.array([nearest_digit(p) for p in pos])) | (
        np.isclose(frac, 0.5) & (pred == np.floor(pos).astype(int) % 10))
    err = np.abs(_positions(probs) - pos)
    err = np.minimum(err, 10 - err)
    return {"count": len(items), "nearest_digit_accuracy": float(ok.mean()), "mae_steps": float(err.mean()),
            "errors": [{"path": Path(d.path).name, "position": d.position, "read": int(k)}
                       for d, k, o in zip(items, pred, ok) if not o][:20]}


def lcd_heldout(detector: Any, classifier: Any, real: str | None = None) -> dict[str, Any]:
    """Detector + classifier on the real held-out LCD readings (rows): exact readings."""
    from calibration.meter_real import lcd_images, lcd_rows, lcd_screen

    det, cls = _predictor(detector), _predictor(classifier)
    rows = [r for it in lcd_images("heldout", real) for r in lcd_rows(it)]
    right, wrong, digit_ok, digits = 0, [], 0, 0
    for row in rows:
        screen, boxes = lcd_screen(row)
        text = read_screen(screen, det, cls)[0].replace(".", "")
        right += text == row.reading
        if text != row.reading:
            wrong.append({"path": Path(row.item.path).name, "label": row.reading, "read": text})
        # the classifier alone on the labelled boxes
        probs = classify_crops(cls, [digit_crop(screen, b) for b in boxes])
        digit_ok += int(np.sum(probs.argmax(1) == np.array(row.digits)))
        digits += len(row.digits)
    return {"readings": len(rows), "images": len({r.item.path for r in rows}), "exact": right / max(len(rows), 1),
            "classifier_on_labelled_boxes": digit_ok / max(digits, 1), "digits": digits, "errors": wrong[:20]}


def synthetic_heldout(detector: Any, classifier: Any, count: int = 500) -> dict[str, Any]:
    """Exact readings of ``count`` synthetic held-out screens, per style, and the classifier on their
    ground-truth boxes (nearest whole digit)."""
    det, cls = _predictor(detector), _predictor(classifier)
    screens = synthetic_screens(SYNTH_HELDOUT_SEED, count)
    by: dict[str, list[bool]] = {}
    crops, labels = [], []
    for s in screens:
        by.setdefault(s.style, []).append(read_screen(s.image, det, cls)[0] == s.reading)
        for b, p in zip(s.digit_boxes, s.positions):
            crops.append(digit_crop(s.image, b))
            labels.append(nearest_digit(p))
    every = [v for vs in by.values() for v in vs]
    return {"count": count, "exact": float(np.mean(every)),
            "by_style": {k: {"count": len(v), "exact": float(np.mean(v))} for k, v in sorted(by.items())},
            "classifier_on_true_boxes": classifier_accuracy(cls, crops, labels), "digits": len(labels)}


def latency_ms(detector: Any, classifier: Any, threads: int = 1) -> dict[str, float]:
    """Median ms: the detector on one synthetic screen, the classifier on a batch of 8 crops."""
    from calibration.timing import measure_interleaved

    det, cls = _predictor(detector, threads), _predictor(classifier, threads)
    s = render_screen(SYNTH_HELDOUT_SEED - 1)
    crops = [digit_crop(s.image, b) for b in s.digit_boxes][:8]
    crops += crops[:8 - len(crops)] if len(crops) < 8 else []
    blob_d, _ = det.preprocess([s.image])
    blob_c, _ = cls.preprocess(crops)
    st = measure_interleaved({"det": lambda: det.infer(blob_d), "cls": lambda: cls.infer(blob_c)})
    return {k: float(np.median(v.samples_ms)) for k, v in st.items()}


def stage2_report(models_dir: str | None = None, real: str | None = None, synthetic: int = 500,
                  threads: int = 1) -> dict[str, Any]:
    """Every figure of stage 2 for the fp32 and int8 pairs in ``models_dir`` (default: the bundled models)."""
    from calibration.errors import DatasetNotFoundError

    d = Path(models_dir) if models_dir else MODELS_DIR
    out: dict[str, Any] = {"threads": threads, "variants": {}}
    for var, suffix in (("fp32", ""), ("int8", "_int8")):
        det_path, cls_path = d / f"meter_digits{suffix}.onnx", d / f"meter_digit_cls{suffix}.onnx"
        if not det_path.is_file() or not cls_path.is_file():
            continue
        det, cls = _predictor(det_path, threads), _predictor(cls_path, threads)
        row: dict[str, Any] = {"detector": det_path.name, "classifier": cls_path.name,
                               "size_kb": {"detector": round(det_path.stat().st_size / 1024, 1),
                                           "classifier": round(cls_path.stat().st_size / 1024, 1)}}
        try:
            row["real_drum"] = drum_heldout(cls, real)
            row["real_lcd"] = lcd_heldout(det, cls, real)
        except DatasetNotFoundError as e:
            row["real_missing"] = str(e)
        row["synthetic"] = synthetic_heldout(det, cls, synthetic)
        row["latency_ms"] = latency_ms(det_path, cls_path, threads)
        out["variants"][var] = row
    return out


def stage2_markdown(rep: dict[str, Any]) -> str:
    """The stage-2 table: real held-out first, then synthetic, latency and size; fp32 and int8 side by side."""
    v = rep["variants"]
    names = list(v)
    lines = ["## Stage 2: digits on the rectified screen", "",
             f"1 ONNX Runtime thread (threads={rep['threads']}); real rows: held-out splits never trained on.", "",
             "| | " + " | ".join(f"{n} (`{v[n]['detector']}` + `{v[n]['classifier']}`)" for n in names) + " | target |",
             "|---|" + "---|" * len(names) + "---|"]

    def row(label: str, fn: Any, target: str = "") -> None:
        cells = []
        for n in names:
            try:
                cells.append(fn(v[n]))
            except (KeyError, TypeError):
                cells.append("not measured")
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {target} |")

    row("real drum digits held out: nearest whole digit",
        lambda r: f"**{100 * r['real_drum']['nearest_digit_accuracy']:.1f}%** of {r['real_drum']['count']}", ">= 98%")
    row("real drum digits held out: mean abs. error (steps)", lambda r: f"{r['real_drum']['mae_steps']:.3f}")
    row("real LCD held out: readings exactly right",
        lambda r: f"**{100 * r['real_lcd']['exact']:.1f}%** of {r['real_lcd']['readings']} "
                  f"({r['real_lcd']['images']} photos)", ">= 97%")
    row("real LCD held out: classifier on the labelled boxes",
        lambda r: f"{100 * r['real_lcd']['classifier_on_labelled_boxes']:.1f}% of {r['real_lcd']['digits']} digits")
    row("synthetic held out: readings exactly right",
        lambda r: f"{100 * r['synthetic']['exact']:.1f}% of {r['synthetic']['count']}")
    for style in ("analog", "digital"):
        row(f"synthetic held out, {style}",
            lambda r, s=style: f"{100 * r['synthetic']['by_style'][s]['exact']:.1f}% of "
                               f"{r['synthetic']['by_style'][s]['count']}")
    row("synthetic: classifier on the true boxes",
        lambda r: f"{100 * r['synthetic']['classifier_on_true_boxes']:.1f}% of {r['synthetic']['digits']} digits")
    row("latency p50, detector (1 screen), ms", lambda r: f"{r['latency_ms']['det']:.2f}")
    row("latency p50, classifier (8 crops), ms", lambda r: f"{r['latency_ms']['cls']:.2f}")
    row("size, KB (detector / classifier)", lambda r: f"{r['size_kb']['detector']} / {r['size_kb']['classifier']}")
    if any("real_missing" in v[n] for n in names):
        lines += ["", "Real rows missing: " + "; ".join(v[n]["real_missing"] for n in names if "real_missing" in v[n])]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.meters", description=__doc__.split("\n\n")[0])
    ap.add_argument("--models-dir", default=None, help="folder of meter_digits*.onnx and meter_digit_cls*.onnx")
    ap.add_argument("--real", default=None)
    ap.add_argument("--synthetic", type=int, default=500, help="synthetic held-out screens")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    rep = stage2_report(a.models_dir, a.real, a.synthetic, a.threads)
    print(stage2_markdown(rep))
    if a.json:
        Path(a.json).write_text(json.dumps(rep, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
