"""Meter reading (seed 001) on real and synthetic data: ``python -m benchmarks.meters``.

    python -m benchmarks.meters [--models-dir DIR] [--real DIR] [--synthetic N] [--scenes N] [--threads 1]
                                [--sections stage2,meter] [--json PATH]

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
- **whole meter** (:func:`whole_meter_report`): ``edgevision.MeterReader`` over the three
  fp32 models and over the three int8 ones, on held-out synthetic scenes
  (``render_scene`` seeds from :data:`SCENE_HELDOUT_SEED`): seed 001's recognition rate
  (fully correct readings over readable meters, also per class), illegible meters
  rejected, stage 1 alone (class accuracy, corner error), and the latency of one meter,
  per stage, the variants timed round-robin. No real whole-meter photos exist: real
  whole-meter accuracy is unmeasured.

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
from edgevision.meters import DIGIT_OVERLAP, MIN_DIGIT_SCORE, ScreenReading, read_screens

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


#: The detection score a digit box needs in :func:`read_screen`; chosen on validation data (the real
#: LCD *train* rows and synthetic validation screens), never on the held-out sets. The runtime's
#: constant (``MeterReader``'s default ``min_score``): one operating point.
DIGIT_CONF = MIN_DIGIT_SCORE


def read_screen(screen: np.ndarray, detector: Any, classifier: Any, *, conf: float = DIGIT_CONF,
                overlap: float = DIGIT_OVERLAP) -> ScreenReading:
    """Stage 2 on one rectified screen (uint8 BGR, 96x256), exactly as ``MeterReader`` reads it:
    :func:`edgevision.meters.read_screens` with the detector and classifier (paths or
    :class:`~edgevision.Predictor` s), boxes scoring at least ``conf``."""
    return read_screens([screen], _predictor(detector), _predictor(classifier), min_score=conf, overlap=overlap)[0]


def classifier_accuracy(classifier: Any, crops: Sequence[np.ndarray], labels: Sequence[int]) -> float:
    """Fraction of crops whose argmax is the label."""
    probs = np.concatenate([classify_crops(classifier, crops[i:i + 256]) for i in range(0, len(crops), 256)])
    return float(np.mean(probs.argmax(1) == np.asarray(labels)))


def stage2_reading_accuracy(detector: Any, classifier: Any, screens: Sequence[MeterScreen]) -> float:
    """Fraction of synthetic screens read exactly (with the decimal point)."""
    det, cls = _predictor(detector), _predictor(classifier)
    return float(np.mean([read_screen(s.image, det, cls).text == s.reading for s in screens]))


def _positions(probs: np.ndarray) -> np.ndarray:
    z = np.asarray(probs, np.float64) @ np.exp(2j * np.pi * np.arange(10) / 10)
    return (np.angle(z) * 10 / (2 * np.pi)) % 10


def drum_scores(probs: np.ndarray, positions: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Per drum digit: whether the argmax of its (10,) probabilities is the nearest whole digit of its
    position in steps (3.4 -> 3, 3.6 -> 4; at x.5 either neighbour counts), and the absolute error of
    the circular-expectation position in steps (at most 5)."""
    probs = np.asarray(probs, np.float32).reshape(-1, 10)
    pred = probs.argmax(1)
    pos = np.asarray(positions, np.float64)
    frac = pos - np.floor(pos)
    ok = (pred == np.array([nearest_digit(p) for p in pos], int)) | (
        np.isclose(frac, 0.5) & (pred == np.floor(pos).astype(int) % 10))
    err = np.abs(_positions(probs) - pos)
    return ok, np.minimum(err, 10 - err)


def drum_heldout(classifier: Any, real: str | None = None, split: str = "heldout") -> dict[str, Any]:
    """The classifier on the real drum digits of ``split`` (the held-out ones unless told; ``validation``
    chooses recipes): nearest-digit accuracy and MAE in steps (:func:`drum_scores`)."""
    from calibration.meter_real import drum_digits

    items = drum_digits(split, real)
    probs = classify_crops(classifier, [d.image for d in items])
    ok, err = drum_scores(probs, [d.position for d in items])
    pred = probs.argmax(1)
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
        text = read_screen(screen, det, cls).text.replace(".", "")
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
        by.setdefault(s.style, []).append(read_screen(s.image, det, cls).text == s.reading)
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


# --- whole meter: stage 1 (screen corners and class) + stage 2, through edgevision.MeterReader ------------

#: First ``render_scene`` seed of the held-out whole-meter scenes (``training.meter_screen`` trains stage 1
#: on seeds from 100M, calibrates its int8 on 200M, steers it on 300M; never on these).
SCENE_HELDOUT_SEED = 400_000_000


def synthetic_scenes(seed: int, count: int) -> list[Any]:
    """``render_scene(seed + i)`` for ``i < count``: whole meter photos with corners, class and reading."""
    from calibration.meter_synth import render_scene

    return [render_scene(seed + i) for i in range(count)]


def stage1_heldout(model: Any, scenes: Sequence[Any], reader: Any = None) -> dict[str, Any]:
    """Stage 1 (``meter_corners``) on labelled scenes through ``edgevision.Predictor``.

    Returns ``class_accuracy`` (every scene), ``confusion`` (truth -> predicted -> count), and
    over the legible scenes (``analog``/``digital``: the ones whose corners matter) the corner
    error: ``mae_norm`` (mean |error| of the 8 coordinates over the letterboxed input's size,
    as ``calibration.metrics.corner_mae``), ``mae_px`` (source px), ``median_diag`` / ``p90_diag``
    (each scene's mean corner distance over its screen diagonal: median, 90th percentile), and
    ``by_orientation``: the same median for screens whose reading direction (TL -> TR) is within
    30 degrees of the image's x axis (``upright``) and for the others (``turned``).
    ``reader``: a ``MeterReader`` with a second look (``refine``): the corners are then the refined ones
    (:meth:`~edgevision.MeterReader.refine_quads` on every scene stage 1 calls legible), the class stays stage 1's.
    """
    p = _predictor(model)
    images = [s.image for s in scenes]
    res = p(images)
    kps = [np.asarray(r.keypoints, np.float64) for r in res]
    if reader is not None:
        kps = reader.refine_quads(images, kps, [r.label != "illegible" for r in res])
    conf: dict[str, dict[str, int]] = {}
    ok = 0
    per_diag, maes, mae_px = [], [], []
    turned: list[bool] = []
    size = p.config.preprocess["size"]
    for s, r, kp in zip(scenes, res, kps):
        conf.setdefault(s.meter_class, {}).setdefault(str(r.label), 0)
        conf[s.meter_class][str(r.label)] += 1
        ok += r.label == s.meter_class
        if s.meter_class == "illegible":
            continue
        gt = np.asarray(s.corners, np.float64)
        err = np.linalg.norm(kp - gt, axis=1)
        per_diag.append(float(err.mean() / np.linalg.norm(gt[2] - gt[0])))
        v = gt[1] - gt[0]
        turned.append(abs(math.degrees(math.atan2(v[1], v[0]))) > 30)
        scale = max(s.image.shape[0] / size[0], s.image.shape[1] / size[1])  # letterbox: source px per input px
        maes.append(float(np.abs(kp - gt).mean() / scale / np.mean(size)))
        mae_px.append(float(np.abs(kp - gt).mean()))
    return {"count": len(scenes), "legible": len(per_diag), "class_accuracy": ok / max(len(scenes), 1),
            "confusion": conf, "mae_norm": float(np.mean(maes)) if maes else None,
            "mae_px": float(np.mean(mae_px)) if mae_px else None,
            "median_diag": float(np.median(per_diag)) if per_diag else None,
            "p90_diag": float(np.percentile(per_diag, 90)) if per_diag else None,
            "by_orientation": {k: {"count": len(v), "median_diag": float(np.median(v)) if v else None}
                               for k, v in (("upright", [e for e, t in zip(per_diag, turned) if not t]),
                                            ("turned", [e for e, t in zip(per_diag, turned) if t]))}}


def whole_meter_heldout(reader: Any, scenes: Sequence[Any], batch: int = 16) -> dict[str, Any]:
    """``edgevision.meters.evaluate_meters`` on scenes: seed 001's recognition rate (fully correct readings
    over readable meters), class accuracy, illegible meters rejected, and the recognition rate per class."""
    from edgevision.meters import evaluate_meters, recognition_rate

    labels = [{"text": s.reading, "class": s.meter_class} for s in scenes]
    res = evaluate_meters(reader, [s.image for s in scenes], labels, batch=batch)
    per = res.pop("per_image")
    res["by_class"] = {}
    for cls in ("analog", "digital"):
        idx = [i for i, s in enumerate(scenes) if s.meter_class == cls]
        res["by_class"][cls] = recognition_rate([{"success": per[i]["success"], "text": per[i]["text"],
                                                  "class": per[i]["class"]} for i in idx], [labels[i] for i in idx])
    res["errors"] = [p for p in per if p["label"] and not p["correct"]][:20]
    return res


class TrueCorners:
    """A stage-1 stand-in giving each scene's labelled corners and class (``MeterReader.corners = TrueCorners(scenes)``):
    the whole reader with a perfect stage 1, i.e. stage 2 alone on the scene's own screen."""

    def __init__(self, scenes: Sequence[Any]) -> None:
        self._by_image = {id(s.image): s for s in scenes}

    def __call__(self, images: Sequence[np.ndarray]) -> list[Any]:
        from edgevision.meters import METER_CLASSES
        from edgevision.results import KeypointsResult

        out = []
        for im in images:
            s = self._by_image[id(im)]
            out.append(KeypointsResult(np.asarray(s.corners, np.float64), class_id=METER_CLASSES.index(s.meter_class),
                                       label=s.meter_class, score=1.0, orig_img=im))
        return out


def whole_meter_latency(readers: dict[str, Any], scenes: Sequence[Any], runs: int = 100) -> dict[str, dict[str, float]]:
    """Median / p90 ms of one ``reader(image)`` call per variant (batch 1), the variants timed round-robin
    over legible scenes (illegible ones stop after stage 1), plus each stage's median."""
    legible = [s for s in scenes if s.meter_class != "illegible"] or list(scenes)
    for r in readers.values():
        for s in legible[:3]:
            r(s.image)
    total: dict[str, list[float]] = {k: [] for k in readers}
    stages: dict[str, dict[str, list[float]]] = {k: {} for k in readers}
    for i in range(runs):
        img = legible[i % len(legible)].image
        for k, r in readers.items():
            out = r(img)
            total[k].append(out.timings_ms["total"])
            for st, v in out.timings_ms.items():
                stages[k].setdefault(st, []).append(v)
    return {k: {"p50": float(np.median(total[k])), "p90": float(np.percentile(total[k], 90)),
                **{f"{st}_p50": float(np.median(v)) for st, v in stages[k].items() if st != "total"}}
            for k in readers}


def whole_meter_report(models_dir: str | None = None, scenes: int = 500, threads: int = 1,
                       runs: int = 100) -> dict[str, Any]:
    """The whole meter, fp32 (the three fp32 models) and int8 (the three int8 ones), on ``scenes`` held-out
    synthetic scenes (:data:`SCENE_HELDOUT_SEED`): stage 1 alone, the whole reader, and latency."""
    from edgevision.meters import MeterReader

    d = Path(models_dir) if models_dir else MODELS_DIR
    held = synthetic_scenes(SCENE_HELDOUT_SEED, scenes)
    out: dict[str, Any] = {"threads": threads, "scenes": scenes, "seed": SCENE_HELDOUT_SEED, "variants": {}}
    readers = {}
    for var, suffix in (("fp32", ""), ("int8", "_int8")):
        paths = [d / f"{m}{suffix}.onnx" for m in ("meter_corners", "meter_digits", "meter_digit_cls")]
        if not all(p.is_file() for p in paths):
            out["variants"][var] = {"missing": [p.name for p in paths if not p.is_file()]}
            continue
        refine = d / f"meter_corners_refine{suffix}.onnx"   # stage 1's second look, where it is there
        refine_path = str(refine) if refine.is_file() else None
        reader = MeterReader(*(str(p) for p in paths), refine=refine_path, threads=threads)
        readers[var] = reader
        names = [p.name for p in paths] + ([refine.name] if refine_path else [])
        out["variants"][var] = {"models": names, "stage1": stage1_heldout(reader.corners, held,
                                                                           reader if refine_path else None),
                                "meter": whole_meter_heldout(reader, held)}
        perfect = MeterReader(reader.corners, reader.digits, reader.classifier, refine=None)  # the labelled corners
        perfect.corners = TrueCorners(held)
        out["variants"][var]["meter_true_corners"] = whole_meter_heldout(perfect, held)
    if readers:
        for var, lat in whole_meter_latency(readers, held, runs).items():
            out["variants"][var]["latency_ms"] = lat
    return out


def whole_meter_markdown(rep: dict[str, Any]) -> str:
    """The whole-meter table: fp32 and int8 side by side, issue 18's targets beside."""
    v = {k: r for k, r in rep["variants"].items() if "missing" not in r}
    lines = ["## Whole meter: stage 1 + stage 2 (`edgevision.MeterReader`)", "",
             f"{rep['scenes']} held-out synthetic scenes `render_scene({rep['seed']} + i)`; {rep['threads']} ONNX "
             "Runtime thread(s), batch 1. No real whole-meter photos exist here: real whole-meter accuracy is "
             "unmeasured.", ""]
    missing = {k: r["missing"] for k, r in rep["variants"].items() if "missing" in r}
    if missing:
        lines += ["Not measured: " + "; ".join(f"{k} (missing {', '.join(m)})" for k, m in missing.items()), ""]
    if not v:
        return "\n".join(lines) + "\n"
    names = list(v)
    lines += ["| | " + " | ".join(names) + " | target |", "|---|" + "---|" * len(names) + "---|"]

    def row(label: str, fn: Any, target: str = "") -> None:
        cells = []
        for n in names:
            try:
                cells.append(fn(v[n]))
            except (KeyError, TypeError, ZeroDivisionError):
                cells.append("not measured")
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {target} |")

    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:.1f}%"

    row("recognition rate (fully correct / readable meters)",
        lambda r: f"**{pct(r['meter']['recognition_rate'])}** ({r['meter']['correct']}/{r['meter']['readable']})",
        ">= 95%; int8 within 1 pp of fp32")
    for cls in ("analog", "digital"):
        row(f"recognition rate, {cls}", lambda r, c=cls: f"{pct(r['meter']['by_class'][c]['recognition_rate'])} "
                                                         f"of {r['meter']['by_class'][c]['readable']}")
    row("the same with the labelled corners and class (stage 2 alone)",
        lambda r: f"{pct(r['meter_true_corners']['recognition_rate'])} ({r['meter_true_corners']['correct']}/"
                  f"{r['meter_true_corners']['readable']})")
    row("illegible meters answered success: false",
        lambda r: f"{r['meter']['illegible_rejected']}/{r['meter']['illegible']}")
    row("stage 1: class accuracy (every scene)", lambda r: pct(r["stage1"]["class_accuracy"]))
    row("stage 1: corner error / screen diagonal, median (p90)",
        lambda r: f"{r['stage1']['median_diag']:.4f} ({r['stage1']['p90_diag']:.4f})")
    row("stage 1: corner error, mean abs, source px", lambda r: f"{r['stage1']['mae_px']:.2f}")
    row("stage 1: corner error / diagonal, median, upright (turned) screens",
        lambda r: f"{r['stage1']['by_orientation']['upright']['median_diag']:.4f} "
                  f"({r['stage1']['by_orientation']['turned']['median_diag']:.4f})")
    row("latency p50 (p90), ms a meter", lambda r: f"{r['latency_ms']['p50']:.2f} ({r['latency_ms']['p90']:.2f})",
        "int8 <= 0.5x fp32")
    if "fp32" in v and "int8" in v:
        try:
            ratio = v["int8"]["latency_ms"]["p50"] / v["fp32"]["latency_ms"]["p50"]
            lines.append(f"| int8 / fp32 latency | | {ratio:.2f}x | <= 0.5x |")
        except KeyError:
            pass
    row("stage medians, ms (corners / rectify / digits / classify)",
        lambda r: " / ".join(f"{r['latency_ms'][f'{s}_p50']:.2f}" for s in ("corners", "rectify", "digits", "classify")))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.meters", description=__doc__.split("\n\n")[0])
    ap.add_argument("--models-dir", default=None, help="folder of meter_digits*.onnx and meter_digit_cls*.onnx")
    ap.add_argument("--real", default=None)
    ap.add_argument("--synthetic", type=int, default=500, help="synthetic held-out screens")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None)
    ap.add_argument("--scenes", type=int, default=500,
                    help="held-out synthetic whole-meter scenes for the whole-meter section (0: skip it)")
    ap.add_argument("--sections", default="stage2,meter", help="comma-separated: stage2, meter")
    a = ap.parse_args(argv)
    sections = {x.strip() for x in a.sections.split(",") if x.strip()}
    rep: dict[str, Any] = {}
    if "stage2" in sections:
        rep = stage2_report(a.models_dir, a.real, a.synthetic, a.threads)
        print(stage2_markdown(rep))
    if "meter" in sections and a.scenes > 0:
        rep["whole_meter"] = whole_meter_report(a.models_dir, a.scenes, a.threads)
        print(whole_meter_markdown(rep["whole_meter"]))
    if a.json:
        Path(a.json).write_text(json.dumps(rep, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
