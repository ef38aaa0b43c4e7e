"""Task metrics (pure numpy) and one evaluator that runs a model over labelled samples.

Metric functions, each on plain arrays so that any runtime's predictions can be scored:

* :func:`corner_mae`: plate-corner (keypoint) error, in source pixels and normalized to
  the letterboxed model input (the project's headline corner metric, ``mae_norm``).
* :func:`ocr_scores`: exact-match rate and character error rate (Levenshtein).
* :func:`detection_map50`: VOC all-point average precision at IoU 0.5, mean over classes.
* :func:`top1_retrieval`: top-1 retrieval accuracy of embeddings under cosine similarity.

:func:`evaluate` runs an :class:`edgevision.Predictor` (the deploy pipeline: compiled
kernel, ONNX Runtime, decoder) over samples and returns an :class:`EvalResult` with the
task's primary metric. :func:`heldout_samples` is the fixed synthetic held-out set every
metric in the project is reported on.

Conventions: points are ``(x, y)``; plate corners are ``(4, 2)`` clockwise from top-left
(TL, TR, BR, BL); boxes are ``(x1, y1, x2, y2)`` (top-left, bottom-right), pixels;
images are uint8 BGR ``HxWx3`` as ``cv2.imread`` returns them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgevision.checks import is_int
from edgevision.errors import (
    ImageReadError,
    InvalidArgumentError,
    InvalidTypeError,
    MissingDependencyError,
)

from .errors import EmptyDatasetError

__all__ = [
    "PRIMARY_METRICS",
    "EvalResult",
    "corner_mae",
    "detection_map50",
    "evaluate",
    "heldout_samples",
    "levenshtein",
    "load_image",
    "load_samples",
    "ocr_scores",
    "top1_retrieval",
]

#: task -> (primary metric name, higher is better) as reported by :func:`evaluate`.
PRIMARY_METRICS: dict[str, tuple[str, bool]] = {
    "keypoints": ("mae_norm", False),
    "slots_ocr": ("exact_match", True),
    "ctc_ocr": ("exact_match", True),
    "detection": ("map50", True),
}


# ---------------------------------------------------------------------------
# Corner (keypoint) error


def _points(a: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidTypeError(f"{name}: expected an array of (x, y) points, got {type(a).__name__}") from None
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[-1] != 2 or arr.shape[1] == 0:
        raise InvalidArgumentError(f"{name}: expected shape (N, K, 2) or (K, 2) of (x, y) points, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InvalidArgumentError(f"{name}: expected finite coordinates, got NaN or infinity")
    return arr


def corner_mae(pred: Any, gt: Any, transforms: Sequence[Any] | None = None,
               input_size: Sequence[int] | int | None = None) -> dict[str, Any]:
    """Mean absolute corner error.

    Args:
        pred, gt: ``(N, K, 2)`` (or ``(K, 2)`` for one image) ``(x, y)`` points; with
            ``transforms`` they are source-image pixels, without them model-input pixels.
            For plates K = 4, clockwise from top-left (TL, TR, BR, BL).
        transforms: one :class:`edgevision.LetterboxTransform` per image (as the
            Predictor's preprocessing returns them): points are mapped into the
            letterboxed model input with ``to_input(..., normalized=True)``.
        input_size: ``(height, width)`` of the model input in pixels (or one int for a
            square), used only without ``transforms`` to normalize model-input pixels.

    Returns:
        ``mae_px``: mean of ``|dx|`` and ``|dy|`` over every coordinate, in the points'
        own pixels (source pixels with ``transforms``); ``mae_norm``: the same error in the
        model input with x divided by the input width and y by its height (the seed-000
        metric), or ``None`` when neither ``transforms`` nor ``input_size`` is given;
        ``per_corner_norm`` (K values, or ``None``); ``max_norm``; ``count`` (images).
    """
    p, g = _points(pred, "pred"), _points(gt, "gt")
    if p.shape != g.shape:
        raise InvalidArgumentError(f"pred: shape {p.shape} does not match gt's {g.shape}; expected the same (N, K, 2)")
    n = p.shape[0]
    out: dict[str, Any] = {"mae_px": float(np.mean(np.abs(p - g))), "count": n}
    if transforms is not None:
        if not isinstance(transforms, Sequence) or len(transforms) != n:
            got = len(transforms) if isinstance(transforms, Sequence) else type(transforms).__name__
            raise InvalidArgumentError(f"transforms: expected one LetterboxTransform per image ({n}), got {got}")
        pn = np.stack([t.to_input(pi, normalized=True) for t, pi in zip(transforms, p)])
        gn = np.stack([t.to_input(gi, normalized=True) for t, gi in zip(transforms, g)])
    elif input_size is not None:
        if is_int(input_size):
            h = w = int(input_size)
        elif isinstance(input_size, Sequence) and len(input_size) == 2:
            h, w = (int(v) for v in input_size)
        else:
            raise InvalidArgumentError(f"input_size: expected (height, width) pixels or one int, got {input_size!r}")
        if h <= 0 or w <= 0:
            raise InvalidArgumentError(f"input_size: expected positive (height, width), got {input_size!r}")
        wh = np.array([w, h], np.float64)
        pn, gn = p / wh, g / wh
    else:
        out.update(mae_norm=None, per_corner_norm=None, max_norm=None)
        return out
    err = np.abs(pn - gn)
    out["mae_norm"] = float(err.mean())
    out["per_corner_norm"] = [float(v) for v in err.mean(axis=(0, 2))]
    out["max_norm"] = float(err.max())
    return out


# ---------------------------------------------------------------------------
# OCR


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions, each costing 1) between two strings."""
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        cur = [i]
        for j, cb in enumerate(b, start=1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _texts(texts: Any, name: str, allow_none: bool) -> list[str]:
    if isinstance(texts, (str, bytes)) or not isinstance(texts, Sequence):
        raise InvalidTypeError(f"{name}: expected a list of strings, got {type(texts).__name__}")
    out = []
    for i, t in enumerate(texts):
        if t is None and allow_none:
            t = ""
        if not isinstance(t, str):
            raise InvalidTypeError(f"{name}[{i}]: expected a string{' or None' if allow_none else ''}, got {t!r}")
        out.append(t)
    return out


def ocr_scores(pred_texts: Sequence[str | None], gt_texts: Sequence[str]) -> dict[str, Any]:
    """Exact-match rate and character error rate.

    Args:
        pred_texts: predicted strings (``None`` counts as the empty string: no reading).
        gt_texts: the labels, as many as ``pred_texts``.

    Returns:
        ``exact_match``: fraction of predictions equal to their label (0..1);
        ``cer``: total Levenshtein edits / total label characters (``None`` when the
        labels hold no character at all); ``edits``, ``chars``, ``count``.
    """
    p = _texts(pred_texts, "pred_texts", True)
    g = _texts(gt_texts, "gt_texts", False)
    if len(p) != len(g):
        raise InvalidArgumentError(f"pred_texts: {len(p)} texts but gt_texts has {len(g)}; expected one per label")
    if not g:
        raise InvalidArgumentError("gt_texts: expected at least one label, got none")
    edits = sum(levenshtein(a, b) for a, b in zip(p, g))
    chars = sum(len(t) for t in g)
    return {"exact_match": sum(a == b for a, b in zip(p, g)) / len(g),
            "cer": edits / chars if chars else None, "edits": edits, "chars": chars, "count": len(g)}


# ---------------------------------------------------------------------------
# Detection


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one ``(x1, y1, x2, y2)`` box with ``(M, 4)`` boxes (continuous pixels, no +1)."""
    ix1 = np.maximum(box[0], boxes[:, 0])
    iy1 = np.maximum(box[1], boxes[:, 1])
    ix2 = np.minimum(box[2], boxes[:, 2])
    iy2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area = lambda b: np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)
    union = area(box) + area(boxes) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def _per_image(values: Any, name: str, n: int | None, cols: int | None, dtype: Any) -> list[np.ndarray]:
    if isinstance(values, np.ndarray) or not isinstance(values, Sequence):
        raise InvalidTypeError(f"{name}: expected a list with one array per image, got {type(values).__name__}")
    if n is not None and len(values) != n:
        raise InvalidArgumentError(f"{name}: {len(values)} images, expected {n} (one entry per image)")
    out = []
    for i, v in enumerate(values):
        a = np.asarray(v, dtype=dtype)
        if cols is not None:
            a = a.reshape(-1, cols) if a.size == 0 else a
            if a.ndim != 2 or a.shape[1] != cols:
                raise InvalidArgumentError(f"{name}[{i}]: expected shape (M, {cols}), got {a.shape}")
        else:
            a = a.reshape(-1) if a.size == 0 else a
            if a.ndim != 1:
                raise InvalidArgumentError(f"{name}[{i}]: expected shape (M,), got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise InvalidArgumentError(f"{name}[{i}]: expected finite values")
        out.append(a)
    return out


def detection_map50(pred_boxes: Sequence[Any], pred_scores: Sequence[Any], pred_classes: Sequence[Any],
                    gt_boxes: Sequence[Any], gt_classes: Sequence[Any]) -> float:
    """VOC mean average precision at IoU >= 0.5 (all-point interpolation).

    Every argument is a list with one entry per image: ``pred_boxes[i]`` ``(Ni, 4)``
    ``(x1, y1, x2, y2)`` pixels, ``pred_scores[i]`` ``(Ni,)``, ``pred_classes[i]``
    ``(Ni,)`` ints, ``gt_boxes[i]`` ``(Mi, 4)``, ``gt_classes[i]`` ``(Mi,)``.

    Per class, predictions are taken by decreasing score; each one matches the
    unmatched ground truth box of its image and class with the highest IoU when that
    IoU is >= 0.5 (a true positive), else it is a false positive (VOC: a prediction
    whose best box is already taken is a false positive). AP is the area under the
    precision envelope over recall. The result is the mean over the classes present in
    the ground truth (a class only predicted adds nothing).
    """
    gb = _per_image(gt_boxes, "gt_boxes", None, 4, np.float64)
    n = len(gb)
    gc = _per_image(gt_classes, "gt_classes", n, None, np.int64)
    pb = _per_image(pred_boxes, "pred_boxes", n, 4, np.float64)
    ps = _per_image(pred_scores, "pred_scores", n, None, np.float64)
    pc = _per_image(pred_classes, "pred_classes", n, None, np.int64)
    for i in range(n):
        if len(gc[i]) != len(gb[i]):
            raise InvalidArgumentError(f"gt_classes[{i}]: {len(gc[i])} classes for {len(gb[i])} boxes")
        if not len(pb[i]) == len(ps[i]) == len(pc[i]):
            raise InvalidArgumentError(f"pred_scores[{i}]/pred_classes[{i}]: {len(ps[i])} scores and "
                                       f"{len(pc[i])} classes for {len(pb[i])} boxes; expected one each per box")
    classes = sorted({int(c) for cs in gc for c in cs})
    if not classes:
        raise InvalidArgumentError("gt_boxes: no ground truth box in any image; mAP is undefined")
    aps = []
    for c in classes:
        gts = [gb[i][gc[i] == c] for i in range(n)]
        taken = [np.zeros(len(g), bool) for g in gts]
        npos = sum(len(g) for g in gts)
        dets = [(float(s), i, b) for i in range(n) for b, s, k in zip(pb[i], ps[i], pc[i]) if k == c]
        dets.sort(key=lambda d: -d[0])  # stable: ties keep image order
        tp = np.zeros(len(dets))
        for j, (_, i, box) in enumerate(dets):
            if len(gts[i]):
                ious = _iou(box, gts[i])
                k = int(np.argmax(ious))
                if ious[k] >= 0.5 and not taken[i][k]:
                    taken[i][k] = True
                    tp[j] = 1
        ctp = np.cumsum(tp)
        recall = ctp / npos
        precision = ctp / np.arange(1, len(dets) + 1) if dets else np.zeros(0)
        mrec = np.concatenate([[0.0], recall, [1.0]])
        mpre = np.concatenate([[0.0], precision, [0.0]])
        mpre = np.maximum.accumulate(mpre[::-1])[::-1]
        idx = np.nonzero(mrec[1:] != mrec[:-1])[0]
        aps.append(float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1])))
    return float(np.mean(aps))


# ---------------------------------------------------------------------------
# Embeddings


def top1_retrieval(query_emb: Any, query_ids: Sequence[Any], gallery_emb: Any, gallery_ids: Sequence[Any]) -> float:
    """Fraction of queries whose most cosine-similar gallery embedding has the query's id.

    ``query_emb`` ``(Q, D)`` and ``gallery_emb`` ``(G, D)`` need not be normalized
    (a zero vector has similarity 0 with everything); ties go to the lower gallery index.
    """
    q = np.asarray(query_emb, dtype=np.float64)
    g = np.asarray(gallery_emb, dtype=np.float64)
    if q.ndim != 2 or q.shape[0] == 0:
        raise InvalidArgumentError(f"query_emb: expected shape (Q, D) with Q >= 1, got {q.shape}")
    if g.ndim != 2 or g.shape[0] == 0 or g.shape[1] != q.shape[1]:
        raise InvalidArgumentError(f"gallery_emb: expected shape (G, {q.shape[1]}) with G >= 1, got {g.shape}")
    if not (np.all(np.isfinite(q)) and np.all(np.isfinite(g))):
        raise InvalidArgumentError("query_emb/gallery_emb: expected finite values")
    if len(query_ids) != len(q):
        raise InvalidArgumentError(f"query_ids: {len(query_ids)} ids for {len(q)} query embeddings")
    if len(gallery_ids) != len(g):
        raise InvalidArgumentError(f"gallery_ids: {len(gallery_ids)} ids for {len(g)} gallery embeddings")

    def unit(a: np.ndarray) -> np.ndarray:
        norm = np.linalg.norm(a, axis=1, keepdims=True)
        return np.divide(a, norm, out=np.zeros_like(a), where=norm > 0)

    best = np.argmax(unit(q) @ unit(g).T, axis=1)
    return float(np.mean([query_ids[i] == gallery_ids[int(b)] for i, b in enumerate(best)]))


# ---------------------------------------------------------------------------
# The evaluator


@dataclass
class EvalResult:
    """The outcome of :func:`evaluate`.

    Attributes:
        task: the model's task (``keypoints``, ``slots_ocr``...).
        metric: the primary metric's name (``mae_norm``, ``exact_match``, ``map50``).
        value: its value.
        higher_is_better: whether a larger ``value`` is better.
        details: every figure the metric function returned, plus ``skipped`` (samples
            that could not be used, by reason) and ``skipped_examples``.
        count: the samples scored.
    """

    task: str
    metric: str
    value: float
    higher_is_better: bool
    details: dict[str, Any] = field(default_factory=dict)
    count: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "metric": self.metric, "value": self.value,
                "higher_is_better": self.higher_is_better, "details": dict(self.details), "count": self.count}

    def __str__(self) -> str:
        return f"{self.task}: {self.metric}={self.value:.6g} ({'higher' if self.higher_is_better else 'lower'} " \
               f"is better, {self.count} samples)"


def load_image(sample: Any, name: str = "sample", channels: int = 3) -> np.ndarray:
    """A sample's image as a uint8 BGR array: ``sample.image`` (an array or a path) or
    ``sample.image_path`` (readers' :class:`~calibration.readers.Sample`), or the sample
    itself when it is an array or a path. Raises :class:`~edgevision.errors.ImageReadError`
    when a path is missing or does not decode."""
    img = sample
    if not isinstance(sample, (np.ndarray, str, os.PathLike)):
        img = getattr(sample, "image", None)
        if img is None:
            img = getattr(sample, "image_path", None)
        if img is None:
            raise InvalidTypeError(f"{name}: expected an image array or path, or an object with .image or "
                                   f".image_path, got {type(sample).__name__}")
    from edgevision.predictor import load_image as _load

    return _load(img, name, channels)


def plate_crop_fn() -> Any:
    try:
        from .synth import plate_crop
    except ImportError as e:
        raise MissingDependencyError(
            f"an OCR model's input needs calibration.synth.plate_crop (the crop the OCR models are trained on): {e}",
            name="calibration.synth") from None
    return plate_crop


def _predictor(predictor: Any) -> Any:
    from edgevision.predictor import Predictor

    if isinstance(predictor, Predictor):
        return predictor
    if isinstance(predictor, (str, os.PathLike)):
        return Predictor(predictor, warmup=False)
    raise InvalidTypeError(f"predictor: expected an edgevision.Predictor or a model path, got {type(predictor).__name__}")


def _progress(items: Sequence[Any], on: bool, desc: str) -> Any:
    if not on:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="batch", leave=False)


#: ``details["by_occlusion"]`` groups: the largest fraction of one character cell hidden by an
#: occluder (:attr:`calibration.synth.SynthSample.char_occlusion`): 0, under 0.3, 0.3 to
#: :data:`ILLEGIBLE_OCCLUSION`, and :data:`ILLEGIBLE_OCCLUSION` or more.
OCCLUSION_LEVELS = ("none", "partial", "heavy", "illegible")

#: A plate with at least this fraction of one character cell hidden is *illegible*: the text
#: label is not recoverable from the pixels (a blob over most of a "2" leaves "2", "8" and "3"
#: alike), so no reader, human or model, can be scored on it. Text-recognition benchmarks treat
#: such text as "don't care" (ICDAR's ``###``); CCPD has only plates people could label.
#: :func:`evaluate` reports OCR figures on every plate and, as ``details["legible"]``, on the
#: legible ones. Half a cell is the rule: on the held-out set, the plates the models miss at
#: 0.5 or more have the distinguishing strokes of a character hidden (checked by eye,
#: 2026-12-02), while most plates below it stay readable.
ILLEGIBLE_OCCLUSION = 0.5


def occlusion_level(fraction: Any) -> str | None:
    """``char_occlusion`` -> ``"none"`` (0), ``"partial"`` (< 0.3), ``"heavy"`` (< 0.5) or
    ``"illegible"`` (>= :data:`ILLEGIBLE_OCCLUSION`); ``None`` for ``None``."""
    if fraction is None:
        return None
    f = float(fraction)
    return ("none" if f <= 0.0 else "partial" if f < 0.3 else "heavy" if f < ILLEGIBLE_OCCLUSION
            else "illegible")


def evaluate(predictor: Any, samples: Sequence[Any], *, limit: int | None = None, progress: bool = False,
             batch_size: int | None = None, keep_predictions: bool = False) -> EvalResult:
    """Runs a model over labelled samples and scores it with the task's metric.

    Args:
        predictor: an :class:`edgevision.Predictor`, or a model path (a Predictor is built).
        samples: objects with ``.image`` (uint8 BGR array or path) or ``.image_path``,
            ``.corners`` (``(4, 2)`` source pixels, TL, TR, BR, BL) and ``.text``: readers'
            :class:`~calibration.readers.Sample` s (or a whole ``ReadResult``) or synthetic
            samples; any iterable of them.
        limit: score only the first ``limit`` samples.
        progress: show a tqdm progress bar over batches.
        batch_size: images per inference call (default: the model's fixed batch, else 32).
        keep_predictions: OCR models: also return every scored sample's reading as
            ``details['predictions']``, ``[{"index": i, "label": text, "text": read}, ...]``
            (``i`` indexes ``samples``; skipped samples have none).

    The predictions come from the deploy pipeline (the model's own preprocessing and
    decoder). By task:

    * ``keypoints``: :func:`corner_mae` against ``corners``; primary ``mae_norm`` (lower is
      better), measured in each image's letterboxed model input.
    * ``slots_ocr`` / ``ctc_ocr``: the model reads ``plate_crop(image, corners, size)``
      (``calibration.synth.plate_crop`` at the model's input size; an image is taken
      whole when its sample has no corners); a model with a rows head
      (``decoder.rows``) re-reads the plates it calls two-row with their rows side by
      side (:func:`edgevision.plates.reread_two_rows`, as ``PlateReader`` does);
      :func:`ocr_scores` against ``text``; primary ``exact_match`` (higher is better), plus ``cer``.
    * ``detection``: every sample's ``bbox`` is one ground-truth box of class 0;
      :func:`detection_map50`; primary ``map50``.

    Samples without the task's label, or whose image is missing or unreadable, are
    skipped and counted in ``details['skipped']``; no usable sample raises
    :class:`~calibration.errors.EmptyDatasetError`.

    When samples carry a ``plate_type`` (synthetic samples, manifests), ``details['by_plate_type']``
    holds the same metric figures per type: ``{type: {"count": n, <metric>: value, ...}}``; when
    they carry ``char_occlusion`` (synthetic samples), ``details['by_occlusion']`` does the same
    per :data:`OCCLUSION_LEVELS` (how much of the worst-hidden character an occluder covers),
    and OCR models get ``details['legible']``: the same figures without the illegible plates
    (:data:`ILLEGIBLE_OCCLUSION`). The primary value stays the one over every sample.
    """
    p = _predictor(predictor)
    task = p.task
    if task not in PRIMARY_METRICS:
        hint = {"embedding": "score embeddings with top1_retrieval",
                "pose": "plate detectors are scored on real scenes by python -m benchmarks.scenes"}.get(
                    task, "score its outputs with your own metric")
        raise InvalidArgumentError(
            f"predictor: task {task!r} has no evaluator (supported: {', '.join(PRIMARY_METRICS)}); {hint}")
    if hasattr(samples, "samples") and hasattr(samples, "report"):  # a readers.ReadResult
        samples = samples.samples
    if isinstance(samples, (str, bytes, os.PathLike, np.ndarray)) or not hasattr(samples, "__iter__"):
        raise InvalidTypeError(f"samples: expected a list of samples, got {type(samples).__name__}")
    samples = list(samples)
    if limit is not None:
        if not is_int(limit) or limit < 1:
            raise InvalidArgumentError(f"limit: expected a positive number of samples or None, got {limit!r}")
        samples = samples[: int(limit)]
    bs = batch_size or p.batch_size or 32
    if not is_int(bs) or bs < 1:
        raise InvalidArgumentError(f"batch_size: expected a positive int or None, got {batch_size!r}")
    if p.batch_size is not None:
        bs = min(bs, p.batch_size)
    channels = p.config.preprocess.get("channels", 3)
    size = tuple(p.config.preprocess["size"])
    ocr = task in ("slots_ocr", "ctc_ocr")
    crop = plate_crop_fn() if ocr else None

    skipped: dict[str, int] = {}
    examples: list[str] = []

    def skip(reason: str, where: str) -> None:
        skipped[reason] = skipped.get(reason, 0) + 1
        if len(examples) < 5:
            examples.append(f"{where}: {reason}")

    # Load, label-check and (for OCR) crop every sample first.
    items: list[tuple[np.ndarray, Any]] = []
    groups: list[Any] = []
    sources: list[tuple[np.ndarray, np.ndarray] | None] = []  # OCR: (image, corners) for the two-row re-read
    occlusion: list[str | None] = []
    scored: list[int] = []  # the index in `samples` of each item
    for i, s in enumerate(samples):
        where = f"samples[{i}]"
        label: Any
        if task == "keypoints":
            label = getattr(s, "corners", None)
        elif ocr:
            label = getattr(s, "text", None)
        else:
            label = getattr(s, "bbox", None)
        if label is None:
            skip("no label", where)
            continue
        try:
            img = load_image(s, where, channels)
        except ImageReadError as e:
            skip("unreadable image", str(e))
            continue
        src = None
        if ocr:
            corners = getattr(s, "corners", None)
            if corners is not None:
                full = img if img.ndim == 3 else np.repeat(img[..., None], 3, axis=2)
                q = np.asarray(corners, np.float64)
                img = crop(full, q, size=size)
                src = (full, q)
                if channels == 1:
                    img = load_image(img, where, 1)
        items.append((img, label))
        scored.append(i)
        sources.append(src)
        groups.append(getattr(s, "plate_type", None))
        occlusion.append(occlusion_level(getattr(s, "char_occlusion", None)))
    if not items:
        from .readers import ReadReport

        report = ReadReport(Path("<samples>"), "samples", entries=len(samples), counts=dict(skipped))
        raise EmptyDatasetError(
            f"samples: none of the {len(samples)} samples is usable for a {task} model "
            f"({', '.join(f'{n} {r}' for r, n in skipped.items()) or 'no samples'}); "
            f"first problems: {'; '.join(examples) or 'none'}", report=report)

    starts = list(range(0, len(items), bs))
    preds: list[Any] = []
    transforms: list[Any] = []
    for start in _progress(starts, progress, f"eval {Path(p.path).name}"):
        imgs = [im for im, _ in items[start:start + bs]]
        blob, ts = p.preprocess(imgs)
        preds.extend(p.postprocess(p.infer(blob), ts, imgs))
        transforms.extend(ts)
    if ocr and (p.config.decoder.get("rows") or {}).get("split") is not None:
        # A two-row-aware OCR: plates its rows head calls two-row are re-read with the rows side by
        # side, as edgevision.PlateReader does at deploy time.
        from edgevision.plates import reread_two_rows

        again = reread_two_rows(p, [s[0] if s else None for s in sources], [s[1] if s else None for s in sources],
                                preds)
        preds = [a[0] if a is not None else r for r, a in zip(preds, again)]

    labels = [lab for _, lab in items]
    metric, higher = PRIMARY_METRICS[task]
    if task == "keypoints":
        pred_pts = np.stack([r.keypoints for r in preds])
        gt_pts = np.stack([np.asarray(c, np.float64) for c in labels])
        if pred_pts.shape != gt_pts.shape:
            raise InvalidArgumentError(
                f"samples: corners have shape {gt_pts.shape[1:]} but the model predicts {pred_pts.shape[1:]} points")

    def score(idx: Sequence[int]) -> dict[str, Any]:
        if task == "keypoints":
            return dict(corner_mae(pred_pts[list(idx)], gt_pts[list(idx)], [transforms[i] for i in idx]))
        if ocr:
            return dict(ocr_scores([preds[i].text for i in idx], [str(labels[i]) for i in idx]))
        return {"map50": detection_map50(
            [preds[i].boxes for i in idx], [preds[i].scores for i in idx], [preds[i].classes for i in idx],
            [np.asarray(labels[i], np.float64).reshape(1, 4) for i in idx], [np.zeros(1, np.int64) for _ in idx])}

    def counted(idx: Sequence[int]) -> dict[str, Any]:  # a subset's figures, its count last
        return {**{k: v for k, v in score(idx).items() if k != "count"}, "count": len(idx)}

    details = score(range(len(items)))
    details.pop("count", None)
    for key, labels_ in (("by_plate_type", groups), ("by_occlusion", occlusion)):
        if any(g is not None for g in labels_):
            by: dict[str, list[int]] = {}
            for i, g in enumerate(labels_):
                by.setdefault(str(g), []).append(i)
            order = sorted(by) if key == "by_plate_type" else [o for o in OCCLUSION_LEVELS if o in by]
            details[key] = {g: counted(by[g]) for g in order}
    if ocr and any(o is not None for o in occlusion):
        # OCR on the plates whose every character can be read (ILLEGIBLE_OCCLUSION); samples
        # without an occlusion label count as legible.
        keep = [i for i, o in enumerate(occlusion) if o != "illegible"]
        if keep:
            details["legible"] = counted(keep)
    details["skipped"] = skipped
    details["skipped_examples"] = examples
    if keep_predictions and ocr:
        details["predictions"] = [{"index": i, "label": str(lab), "text": r.text}
                                  for i, lab, r in zip(scored, labels, preds)]
    value = details[metric]
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        raise InvalidArgumentError(f"samples: the {metric} of these samples is undefined ({value!r})")
    return EvalResult(task, metric, float(value), higher, details, len(items))


def heldout_samples(count: int | None = None) -> list[Any]:
    """The fixed synthetic held-out set (``calibration.synth``, seed ``HELDOUT_SEED``):
    the first ``count`` of its ``HELDOUT_COUNT`` samples (all of them by default).
    Deterministic: the same call always gives byte-identical images and labels."""
    try:
        from .synth import HELDOUT_COUNT, HELDOUT_SEED, PlateSceneGenerator
    except ImportError as e:
        raise MissingDependencyError(f"heldout_samples needs calibration.synth: {e}", name="calibration.synth") from None
    n = HELDOUT_COUNT if count is None else count
    if not is_int(n) or not 0 < n <= HELDOUT_COUNT:
        raise InvalidArgumentError(f"count: expected 1..{HELDOUT_COUNT} held-out samples or None, got {count!r}")
    gen = PlateSceneGenerator(seed=HELDOUT_SEED)
    return [gen[i] for i in range(int(n))]


def load_samples(source: Any, count: int | None = None, *, name: str = "source") -> list[Any]:
    """Labelled samples for :func:`evaluate` from a source description: the project's one
    sample loader (``benchmarks.latency.load_samples`` and the ``calibration`` command line
    use it; ``name`` is the argument named in messages).

    ``source``: ``"heldout"`` or ``"synth"`` (the held-out set, :func:`heldout_samples`),
    ``"synth:SEED"`` (scenes ``0..count-1`` of the generator with that seed; ``count``
    is required), or a dataset path (a JSONL manifest or a CCPD folder, read with
    :func:`calibration.readers.read_source`; its first ``count`` samples).
    """
    if count is not None and (not is_int(count) or count < 1):
        raise InvalidArgumentError(f"count: expected a positive number of samples or None, got {count!r}")
    if isinstance(source, str) and source in ("heldout", "synth"):
        return heldout_samples(count)
    if isinstance(source, str) and source.startswith("synth:"):
        try:
            seed = int(source[len("synth:"):])
            if seed < 0:
                raise ValueError
        except ValueError:
            raise InvalidArgumentError(
                f"{name}: expected 'synth' or 'synth:SEED' with an integer SEED >= 0, got {source!r}") from None
        if count is None:
            raise InvalidArgumentError(f"count: required with source {source!r} (the generator has no end)")
        try:
            from .synth import PlateSceneGenerator
        except ImportError as e:
            raise MissingDependencyError(f"{name}: {source!r} needs calibration.synth ({e})",
                                         name="calibration.synth") from None
        gen = PlateSceneGenerator(seed=seed)
        return [gen[i] for i in range(int(count))]
    if isinstance(source, (str, os.PathLike)):
        from .readers import read_source

        samples = read_source(source).samples
        return samples[: int(count)] if count is not None else samples
    raise InvalidTypeError(f"source: expected 'heldout', 'synth[:SEED]' or a dataset path, got {type(source).__name__}")
