"""Meter reading (seed 001): screen corners and class, then rectification, digit detection and digit reading.

    reader = edgevision.MeterReader()                # bundled int8 defaults, offline
    r = reader(cv2.imread("meter.jpg"))              # -> MeterReading
    r.success, r.text, r.meter_class, r.score; r.to_dict(); cv2.imwrite("out.jpg", r.plot())

Stage 1 is a ``keypoints`` model with a class head (``decoder.class_output``): the
4 corners of the meter's screen in *reading* orientation (TL, TR, BR, BL relative
to the digits, so an upside-down meter still reads left to right) and the screen's
class, ``analog`` (odometer drums), ``digital`` (seven-segment LCD) or ``illegible``.
An illegible screen ends there (``success`` False). Otherwise the quad is rectified
with the compiled ``warp_quad`` to the digit detector's input size (the screen,
:data:`SCREEN_SIZE` for the bundled models); stage 2 is a ``detection`` model with
the classes ``digit`` and ``decimal`` (the area after the decimal point) on that
screen, and a ``classification`` model reading every digit box (one batch for
every digit of every image in the call), classes ``"0"`` .. ``"9"``.

The reading is assembled from the digit boxes sorted left to right by their
centres: the digits whose centre lies inside the best ``decimal`` box form the part
after a ``"."``, the others the part before it (``"01234.56"``). Every stage is an
ordinary :class:`~edgevision.Predictor`, so any self-describing models with those
tasks can stand in for the defaults.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .errors import ConfigMismatchError, InvalidArgumentError
from .predictor import load_images
from .preprocess import warp_quad
from .results import _SHIFT, _Result, _array, _color, _common, _draw_label, _fixed, _jsonable

_clock = time.perf_counter

#: Default models (bundled in ``edgevision/models``).
DEFAULT_CORNERS = "meter_corners_int8.onnx"
DEFAULT_DIGITS = "meter_digits_int8.onnx"
DEFAULT_CLASSIFIER = "meter_digit_cls_int8.onnx"
#: The bundled second look of stage 1 (``MeterReader(refine=...)``; see :func:`screen_crop`).
DEFAULT_REFINE = "meter_corners_refine_int8.onnx"
#: The rectified screen of the bundled models, ``(height, width)`` px (the digit detector's input).
SCREEN_SIZE = (96, 256)
#: The screen classes of stage 1 (seed 001). ``illegible`` screens are not read.
METER_CLASSES = ("analog", "digital", "illegible")
#: The digit classifier's crop, ``(height, width)`` px, and its margin (a fraction of the box height).
DIGIT_CROP_SIZE = (32, 20)
DIGIT_CROP_MARGIN = 0.08
#: The detection score a digit or decimal box needs to count (the stage-2 recipe's operating point, chosen on
#: validation data: the real LCD *train* rows and synthetic validation screens; ``benchmarks.meters`` reads
#: screens with it too), and the horizontal overlap, as a fraction of the narrower box, beyond which two
#: digit boxes are one digit seen twice (:func:`side_by_side`). 0.5 since the detector bundled on 2026-12-06
#: 09:45 UTC (trained with more positive anchors about narrow digits, it scores them higher: LCD train rows
#: 560 / 566 / 566 / 566 of 601 and synthetic screens 409 / 409 / 403 / 381 of 500 at 0.4 / 0.5 / 0.6 / 0.7;
#: 0.4 before it; ``meter_digits.md``).
MIN_DIGIT_SCORE = 0.5
DIGIT_OVERLAP = 0.4
#: A ``digit`` box scoring under :data:`MIN_DIGIT_SCORE` (but at least its detector's own ``conf_threshold``,
#: 0.3 for the bundled one) still counts when the classifier reads it with at least this probability: the
#: detector underrates narrow digits (a seven-segment ``1`` is two segments), the classifier does not. Chosen
#: on the same validation data as :data:`MIN_DIGIT_SCORE`, with the bundled int8 models (2026-12-06): real
#: LCD train rows read 555 -> 561 of 601, synthetic screens (seeds 5,000,000+) 375 -> 379 of 500; 0.9 read
#: 563 and 377, 0.99 556 and 378 (docs: ``meter_digits.md``).
DIGIT_CONFIRM = 0.95
#: The stage-2 detector's class names: a digit, and the area after the decimal point.
DIGIT_CLASS, DECIMAL_CLASS = "digit", "decimal"


@dataclass(frozen=True)
class MeterDigit:
    """One digit of a meter reading.

    Attributes:
        box: ``(x0, y0, x1, y1)`` in rectified-screen pixels (the digit detector's input).
        quad: the box's 4 corners in source-image pixels (TL, TR, BR, BL), through the
            screen's perspective.
        digit: the classifier's digit (``"0"`` .. ``"9"``).
        confidence: the classifier's probability of ``digit`` (0..1).
        score: the detector's score for the box (0..1).
        decimal: the box's centre lies inside the decimal area (a digit after the point).
    """

    box: tuple[float, float, float, float]
    quad: tuple[tuple[float, float], ...]
    digit: str
    confidence: float
    score: float
    decimal: bool

    def to_dict(self) -> dict[str, Any]:
        return {"box": list(self.box), "quad": [list(p) for p in self.quad], "digit": self.digit,
                "confidence": self.confidence, "score": self.score, "decimal": self.decimal}


@dataclass(eq=False)
class MeterReading(_Result):
    """One meter read from one image.

    Attributes:
        success: the screen was found and legible, and at least one digit was read.
        text: the reading, digits left to right with a ``"."`` before the decimal part
            (``"01234.56"``); ``""`` when nothing was read.
        meter_class: the screen class, ``analog``, ``digital`` or ``illegible``
            (``to_dict()``'s ``class``).
        class_score: stage 1's probability of ``meter_class`` (0..1).
        score: the reading's confidence: ``class_score`` times every digit's classifier
            probability (0..1); 0.0 when nothing was read.
        corners: ``(4, 2)`` float64 screen corners in source pixels, TL, TR, BR, BL in
            reading orientation.
        quad_ok: ``False`` when the corners of a legible screen were not a convex clockwise
            quadrilateral (nothing was read then); an illegible screen's quad is not checked.
        digits: the :class:`MeterDigit` s, left to right.
        decimal_box: ``(x0, y0, x1, y1)`` of the decimal area in screen pixels, or ``None``.
        screen: the rectified screen (uint8 BGR, the detector's input size), or ``None``
            (an illegible screen or a bad quad); not in ``to_dict()``.
        time: seconds the reading took (``timings_ms['total']`` / 1000).
        timings_ms: milliseconds per stage: ``corners`` (stage 1: preprocessing,
            inference, decoding, and the second look when the reader has one),
            ``rectify`` (the screen warps), ``digits`` (the detector), ``classify``
            (crops and the one classifier call) and ``total``.
            For a list of images each stage runs once for the whole list, and each image
            gets the list's time divided by its length.

    ``to_dict()`` starts with seed 001's fields: ``original_image_shape`` (``[h, w, c]``),
    ``success``, ``text``, ``class``, ``score``, ``time``. ``plot`` draws the screen quad,
    the reading and every digit's box. Style: ``color`` (BGR, default green; red when
    nothing was read), ``digit_color``, ``decimal_color``, ``thickness`` (px), ``font_size`` (px).
    """

    success: bool
    text: str
    meter_class: str
    class_score: float
    score: float
    corners: np.ndarray
    quad_ok: bool = True
    digits: tuple[MeterDigit, ...] = ()
    decimal_box: tuple[float, float, float, float] | None = None
    screen: np.ndarray | None = field(default=None, repr=False)
    time: float = 0.0
    timings_ms: dict[str, float] = field(default_factory=dict)
    orig_shape: tuple[int, int] | None = None
    orig_img: np.ndarray | None = field(default=None, repr=False)
    channels: int = 3

    _TYPE: ClassVar[str] = "meter"
    _SPATIAL: ClassVar[bool] = True
    _STYLE: ClassVar[dict[str, Any]] = {"color": (0, 200, 0), "digit_color": (255, 160, 0),
                                        "decimal_color": (0, 0, 255), "thickness": None, "font_size": None}

    def __post_init__(self) -> None:
        self.corners = _array(self.corners, "corners", np.float64, (4, 2), "4 (x, y) corners in source pixels")
        self.success = bool(self.success)
        self.text = str(self.text)
        self.meter_class = str(self.meter_class)
        self.class_score = float(self.class_score)
        self.score = float(self.score)
        self.digits = tuple(self.digits)
        if not all(isinstance(d, MeterDigit) for d in self.digits):
            raise InvalidArgumentError("digits: expected MeterDigit items")
        if self.decimal_box is not None:
            self.decimal_box = tuple(float(v) for v in self.decimal_box)  # type: ignore[assignment]
        self.timings_ms = {str(k): float(v) for k, v in self.timings_ms.items()}
        self.time = float(self.time)
        _common(self)
        if self.orig_img is not None:
            self.channels = 1 if self.orig_img.ndim == 2 else int(self.orig_img.shape[2])

    @property
    def original_image_shape(self) -> list[int]:
        """``[height, width, channels]`` of the source image (seed 001's field)."""
        h, w = self.orig_shape if self.orig_shape is not None else (0, 0)
        return [int(h), int(w), int(self.channels)]

    def to_dict(self) -> dict[str, Any]:
        """Seed 001's fields first (``original_image_shape``, ``success``, ``text``, ``class``,
        ``score``, ``time``), then the details; plain JSON data."""
        return {"type": self._TYPE, "original_image_shape": self.original_image_shape, "success": self.success,
                "text": self.text, "class": self.meter_class, "score": self.score, "time": self.time,
                "class_score": self.class_score, "corners": _jsonable(self.corners), "quad_ok": self.quad_ok,
                "digits": [d.to_dict() for d in self.digits],
                "decimal_box": None if self.decimal_box is None else list(self.decimal_box),
                "timings_ms": dict(self.timings_ms)}

    def _draw(self, canvas: np.ndarray, s: dict[str, Any]) -> None:
        import cv2

        color = _color(s["color"] if self.success else (0, 0, 255), "color")
        dcol, pcol = _color(s["digit_color"], "digit_color"), _color(s["decimal_color"], "decimal_color")
        t = s["thickness"]
        for d in self.digits:
            pts = np.array([[_fixed(x), _fixed(y)] for x, y in d.quad], dtype=np.int32)
            cv2.polylines(canvas, [pts], True, pcol if d.decimal else dcol, max(1, t // 2), cv2.LINE_AA, _SHIFT)
        if np.isfinite(self.corners).all():
            pts = np.array([[_fixed(x), _fixed(y)] for x, y in self.corners], dtype=np.int32)
            cv2.polylines(canvas, [pts], True, color, t, cv2.LINE_AA, _SHIFT)
            x = int(min(max(self.corners[:, 0].min(), 0), canvas.shape[1] - 1))
            y = int(min(max(self.corners[:, 1].min() - s["font_size"] * 1.6, 0), canvas.shape[0] - 1))
        else:
            x = y = 0
        label = f"{self.text or '-'} {self.meter_class} {self.score:.2f}"
        _draw_label(canvas, label, x, y, s["font_size"], (255, 255, 255), color)


def assemble_reading(boxes: Any, digits: Any, decimal_box: Any = None) -> tuple[str, list[int], list[bool]]:
    """The reading from digit boxes: ``(text, order, decimal flags)``.

    Args:
        boxes: ``(K, 4)`` digit boxes ``x0, y0, x1, y1`` (any pixel frame).
        digits: K digit strings, one per box.
        decimal_box: ``(x0, y0, x1, y1)`` of the area after the decimal point in the same
            frame, or ``None``.

    The digits are sorted left to right by their centres' x (ties keep the given
    order); a digit whose centre lies inside ``decimal_box`` (edges included) belongs
    to the decimal part, written after a ``"."``. ``order`` gives the box indices in
    reading order and ``decimal flags`` each one's membership (in that order).

    >>> assemble_reading([[40, 0, 50, 10], [0, 0, 10, 10], [20, 0, 30, 10]], ["5", "1", "2"], [35, 0, 60, 10])
    ('12.5', [1, 2, 0], [False, False, True])
    """
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    digits = [str(d) for d in digits]
    if len(digits) != len(b):
        raise InvalidArgumentError(f"digits: expected {len(b)} digits (one per box), got {len(digits)}")
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    order = [int(i) for i in np.argsort(cx, kind="stable")]
    if decimal_box is None:
        inside = [False] * len(order)
    else:
        x0, y0, x1, y1 = (float(v) for v in decimal_box)
        inside = [bool(x0 <= cx[i] <= x1 and y0 <= cy[i] <= y1) for i in order]
    whole = "".join(digits[i] for i, dec in zip(order, inside) if not dec)
    frac = "".join(digits[i] for i, dec in zip(order, inside) if dec)
    return (whole + "." + frac if frac else whole), order, inside


def digit_crop(image: np.ndarray, box: Any, size: Any = DIGIT_CROP_SIZE, margin: float = DIGIT_CROP_MARGIN) -> np.ndarray:
    """The digit classifier's view of one digit box: a uint8 crop of ``size`` ``(h, w)`` px.

    The box (``x0, y0, x1, y1`` px of ``image``) is widened (never narrowed) about its
    centre to the crop's aspect ratio (a narrow LCD ``1`` becomes a whole digit cell),
    grown by ``margin`` of its height on every side, then resampled bilinearly; outside
    the image the border is replicated. The one definition: the classifier is trained on
    these crops (``calibration.meter_synth`` re-exports this function).
    """
    import cv2

    h, w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    x0, y0, x1, y1 = (float(v) for v in box)
    bh = max(y1 - y0, 1.0) * (1 + 2 * margin)
    bw = max(x1 - x0 + 2 * margin * (y1 - y0), bh * w / h)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    src = np.array([[cx - bw / 2, cy - bh / 2], [cx + bw / 2, cy - bh / 2], [cx - bw / 2, cy + bh / 2]], np.float32)
    dst = np.array([[0, 0], [w, 0], [0, h]], np.float32)
    a = cv2.getAffineTransform(src, dst)
    a[:, 2] += a[:, 0] * 0.5 + a[:, 1] * 0.5 - 0.5  # continuous coordinates -> OpenCV's pixel centres
    return cv2.warpAffine(image, a, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


#: Stage 1's second look (:func:`screen_crop`, ``MeterReader(refine=...)``): the crop is a square of this many
#: times the first quad's larger extent (x or y), about the centre of its bounding box.
REFINE_CROP_SCALE = 1.3
#: The crop's fill outside the image: the letterbox's pad value, which the corner models know as "no image".
REFINE_PAD = 114


def screen_crop(image: np.ndarray, corners: Any, size: int, scale: float = REFINE_CROP_SCALE
                ) -> tuple[np.ndarray, np.ndarray, float]:
    """The corner refinement's view of a screen: a square ``size`` x ``size`` uint8 crop of ``image``
    (uint8 BGR) around the quadrilateral ``corners`` (4 x ``(x, y)`` source px), of side ``scale`` times
    its larger extent, about its bounding box's centre; outside the image, :data:`REFINE_PAD`.

    Returns ``(crop, origin, k)``: a point ``u`` of the crop (continuous px) is the source point
    ``origin + u * k`` (``origin``: ``(2,)`` source px of the crop's top-left corner; ``k``: source px
    per crop px). The one definition: ``training.meter_screen`` trains the refinement on these crops.
    """
    import cv2

    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise InvalidArgumentError(f"size: expected the crop's side in px (an int >= 1), got {size!r}")
    if not (isinstance(scale, (int, float, np.integer, np.floating)) and np.isfinite(scale) and scale > 0):
        raise InvalidArgumentError(f"scale: expected a positive number (times the quad's larger extent), got {scale!r}")
    pts = np.asarray(corners, np.float64).reshape(4, 2)
    if not np.all(np.isfinite(pts)):
        raise InvalidArgumentError(f"corners: expected 4 finite (x, y) points, got {pts.tolist()}")
    lo, hi = pts.min(0), pts.max(0)
    side = max(float(scale) * float((hi - lo).max()), 4.0)
    origin = (lo + hi) / 2 - side / 2
    k = side / size
    a = np.array([[1 / k, 0, -origin[0] / k], [0, 1 / k, -origin[1] / k]], np.float64)
    a[:, 2] += a[:, 0] * 0.5 + a[:, 1] * 0.5 - 0.5  # continuous coordinates -> OpenCV's pixel centres
    crop = cv2.warpAffine(image, a, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=(REFINE_PAD,) * 3)
    return crop, origin, k


def match_order(quad: Any, reference: Any) -> np.ndarray:
    """``quad`` (4 x ``(x, y)``) turned cyclically to the corner order closest to ``reference``'s (the
    smallest summed distance): a refined quad keeps the reading orientation the first look chose.

    >>> match_order([[1, 0], [1, 1], [0, 1], [0, 0]], [[0, 0], [1, 0], [1, 1], [0, 1]]).tolist()
    [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
    """
    q = np.asarray(quad, np.float64).reshape(4, 2)
    r = np.asarray(reference, np.float64).reshape(4, 2)
    shifts = [np.roll(q, -s, axis=0) for s in range(4)]
    return min(shifts, key=lambda c: float(np.linalg.norm(c - r, axis=1).sum()))


def side_by_side(boxes: Any, scores: Any, overlap: float = DIGIT_OVERLAP) -> np.ndarray:
    """Indices of the digit boxes to keep, best score first: the digits of a meter sit side by side, so a
    box whose horizontal overlap with a kept (better) box exceeds ``overlap`` of the narrower width is
    a duplicate that the detector's IoU-based NMS let through, and is dropped.

    >>> side_by_side([[0, 0, 10, 20], [2, 0, 12, 20], [11, 0, 21, 20]], [0.9, 0.8, 0.7]).tolist()
    [0, 2]
    """
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    sc = np.asarray(scores, np.float64).reshape(-1)
    kept: list[int] = []
    for i in np.argsort(-sc, kind="stable"):
        wi = b[i, 2] - b[i, 0]
        if all(min(b[i, 2], b[k, 2]) - max(b[i, 0], b[k, 0]) <= overlap * min(wi, b[k, 2] - b[k, 0]) for k in kept):
            kept.append(int(i))
    return np.asarray(kept, np.int64)


def _screen_homography(size: tuple[int, int], corners: np.ndarray) -> np.ndarray:
    """3x3 ``H`` mapping rectified-screen pixels (continuous, ``size`` = (h, w)) to source pixels."""
    import cv2

    h, w = size
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    return cv2.getPerspectiveTransform(src, corners.astype(np.float32)).astype(np.float64)


@dataclass(frozen=True, eq=False)
class ScreenReading:
    """Stage 2's reading of one rectified screen (:func:`read_screens`).

    Attributes:
        text: the reading (``"01234.56"``; ``""`` when no digit was found).
        boxes: ``(K, 4)`` float64 digit boxes ``x0, y0, x1, y1`` in screen pixels, in reading order.
        digits: the K classifier digits (``"0"`` .. ``"9"``), in reading order.
        confidences: the classifier's probability of each digit (0..1).
        scores: the detector's score of each box (0..1).
        decimal: whether each digit belongs to the part after the point.
        decimal_box: the best ``decimal`` box ``(x0, y0, x1, y1)`` (screen px), or ``None``.
    """

    text: str
    boxes: np.ndarray
    digits: tuple[str, ...]
    confidences: tuple[float, ...]
    scores: tuple[float, ...]
    decimal: tuple[bool, ...]
    decimal_box: tuple[float, float, float, float] | None

    @property
    def score(self) -> float:
        """The product of the digits' confidences (0.0 without a digit)."""
        return float(np.prod(self.confidences)) if self.digits else 0.0


def _input_hw(predictor: Any) -> tuple[int, int]:
    """A model's input size ``(height, width)`` px, from its ``preprocess`` config."""
    return predictor.config.preprocess_kwargs()[0]


def read_screens(screens: list[np.ndarray], digits: Any, classifier: Any, *, min_score: float = MIN_DIGIT_SCORE,
                 overlap: float | None = DIGIT_OVERLAP, crop_margin: float = DIGIT_CROP_MARGIN,
                 confirm: float | None = DIGIT_CONFIRM, times: dict[str, float] | None = None) -> list[ScreenReading]:
    """Stage 2 on rectified screens (uint8 BGR at the detector's input size): one detector call for
    every screen, one classifier call for every digit box of every screen.

    A box counts when its score is at least ``min_score``, and a ``digit`` box the detector gives
    under it when the classifier reads it with a probability of at least ``confirm`` (unless
    ``confirm`` is None; :data:`DIGIT_CONFIRM`). Every ``digit`` box is cut out with :func:`digit_crop`
    at the classifier's input size and ``crop_margin`` and read; those that count lose side-by-side
    duplicates (:func:`side_by_side`, unless ``overlap`` is None), and the reading is assembled by
    :func:`assemble_reading` around the highest-scoring ``decimal`` box.

    Args:
        digits, classifier: the stage-2 :class:`~edgevision.Predictor` s (a ``detection`` model with
            the labels ``digit`` and ``decimal``; a ``classification`` model with labels ``"0"`` ..
            ``"9"``), as :class:`MeterReader` checks them.
        times: when given, receives the seconds of the two stages under ``"digits"`` (the detector)
            and ``"classify"`` (crops and classifier).
    """
    t0 = _clock()
    dets = digits(list(screens)) if len(screens) else []
    t1 = _clock()
    crop_size = _input_hw(classifier)
    candidates: list[list[int]] = []
    decimal: list[np.ndarray | None] = []
    crops: list[np.ndarray] = []
    for screen, d in zip(screens, dets):
        dec = [j for j in range(len(d)) if d.labels[j] == DECIMAL_CLASS and d.scores[j] >= min_score]
        decimal.append(d.boxes[max(dec, key=lambda j: d.scores[j])] if dec else None)
        cand = [j for j in range(len(d)) if d.labels[j] == DIGIT_CLASS
                and (d.scores[j] >= min_score or confirm is not None)]
        candidates.append(cand)
        crops.extend(digit_crop(screen, d.boxes[j], crop_size, crop_margin) for j in cand)
    reads = iter(classifier(crops) if crops else [])
    out = []
    for d, cand, dbox in zip(dets, candidates, decimal):
        read = {j: (str(r.labels[0]), float(r.top_scores[0])) for j, r in zip(cand, (next(reads) for _ in cand))}
        idx = np.array([j for j in cand if d.scores[j] >= min_score
                        or (confirm is not None and read[j][1] >= confirm)], np.int64)
        if overlap is not None and len(idx):
            idx = np.sort(idx[side_by_side(d.boxes[idx], d.scores[idx], overlap)])
        got = [read[int(j)] for j in idx]
        boxes = np.asarray(d.boxes, np.float64)[idx].reshape(-1, 4)
        text, order, inside = assemble_reading(boxes, [g for g, _ in got], dbox)
        out.append(ScreenReading(
            text, boxes[order].reshape(-1, 4), tuple(got[k][0] for k in order), tuple(got[k][1] for k in order),
            tuple(float(d.scores[idx[k]]) for k in order), tuple(inside),
            None if dbox is None else tuple(float(v) for v in dbox)))  # type: ignore[arg-type]
    if times is not None:
        times["digits"] = t1 - t0
        times["classify"] = _clock() - t1
    return out


class MeterReader:
    """Two-stage meter reader (see the module docs).

    Args:
        corners: stage 1, a ``keypoints`` model with 4 points and a class head whose labels
            include ``illegible`` (path, bundled name or :class:`~edgevision.Predictor`).
        digits: stage 2, a ``detection`` model with the labels ``digit`` and ``decimal``,
            run on the rectified screen (its input size is the screen's size).
        classifier: a ``classification`` model reading one digit crop, labels ``"0"`` .. ``"9"``.
        conf_threshold, iou_threshold: the digit detector's decoder settings, overriding its
            model's (``None`` keeps the model's); only for a detector given as a path or name.
        min_score: the detection score a ``digit`` or ``decimal`` box needs to count (default
            :data:`MIN_DIGIT_SCORE`, the stage-2 recipe's operating point).
        overlap: digit boxes overlapping a better one horizontally by more than this fraction of
            the narrower width are dropped (:func:`side_by_side`); ``None`` keeps them.
        confirm: a digit box scoring under ``min_score`` counts when the classifier reads it with
            at least this probability (default :data:`DIGIT_CONFIRM`); ``None``: only ``min_score``.
        crop_margin: each digit box grows by this fraction of its height on every side before
            :func:`digit_crop` cuts it out at the classifier's input size (default: the margin
            the bundled classifier is trained with).
        refine: stage 1's second look (default the bundled :data:`DEFAULT_REFINE`; ``None``: none):
            a ``keypoints`` model with a square input, trained on :func:`screen_crop` views
            (``training.meter_screen --refine``). Every legible screen's first quad is cut out
            as a square of ``refine_scale`` (:data:`REFINE_CROP_SCALE`) times
            its larger extent at the model's input size; the corners it finds there, in the first
            look's reading order (:func:`match_order`), replace the first ones (the class stays
            the first look's). One more corner call for the batch.
        device, threads: passed to the :class:`~edgevision.Predictor` s built from paths.

    Calls: ``reader(x)`` with an image path, a uint8 BGR array, or a list of them; one
    :class:`MeterReading` per image.

    Raises (at construction): ConfigMismatchError when a model's task or labels do not
    fit its stage; the load errors of :class:`~edgevision.Predictor`.
    """

    def __init__(self, corners: str | os.PathLike | Any = DEFAULT_CORNERS,
                 digits: str | os.PathLike | Any = DEFAULT_DIGITS,
                 classifier: str | os.PathLike | Any = DEFAULT_CLASSIFIER, *, conf_threshold: float | None = None,
                 iou_threshold: float | None = None, min_score: float = MIN_DIGIT_SCORE,
                 overlap: float | None = DIGIT_OVERLAP, crop_margin: float = DIGIT_CROP_MARGIN,
                 confirm: float | None = DIGIT_CONFIRM, refine: str | os.PathLike | Any = DEFAULT_REFINE,
                 refine_scale: float = REFINE_CROP_SCALE, device: str = "auto", threads: int | None = None) -> None:
        from .checks import check_number
        from .predictor import Predictor

        def predictor(model: Any, **kw: Any) -> Predictor:
            return model if isinstance(model, Predictor) else Predictor(model, device=device, threads=threads, **kw)

        overrides = {k: v for k, v in (("conf_threshold", conf_threshold), ("iou_threshold", iou_threshold))
                     if v is not None}
        if overrides and isinstance(digits, Predictor):
            raise InvalidArgumentError("conf_threshold, iou_threshold: pass them to the digit detector's Predictor "
                                       "(decoder={...}) when you give a Predictor")

        self.crop_margin = check_number(crop_margin, "crop_margin", minimum=0, maximum=1,
                                        expected="a fraction in [0, 1]")
        self.min_score = check_number(min_score, "min_score", minimum=0, maximum=1, expected="a score in [0, 1]")
        self.overlap = None if overlap is None else check_number(overlap, "overlap", minimum=0, maximum=1,
                                                                 expected="a fraction in [0, 1] or None")
        self.confirm = None if confirm is None else check_number(confirm, "confirm", minimum=0, maximum=1,
                                                                 expected="a probability in [0, 1] or None")
        self.refine_scale = check_number(refine_scale, "refine_scale", minimum=1, maximum=4,
                                         expected="a crop scale in [1, 4] (times the quad's larger extent)")
        self.corners = predictor(corners)
        c = self.corners
        if c.task != "keypoints" or c.config.decoder.get("num_keypoints") != 4 or "class_output" not in c.config.decoder:
            raise ConfigMismatchError(f"corners: expected a keypoints model with 4 points and a class head "
                                      f"(decoder.class_output), {c.path} is task {c.task!r} with decoder "
                                      f"{dict(c.config.decoder)}")
        self.refine = None if refine is None else predictor(refine)
        if self.refine is not None and (self.refine.task != "keypoints"
                                        or self.refine.config.decoder.get("num_keypoints") != 4):
            raise ConfigMismatchError(f"refine: expected a keypoints model with 4 points, {self.refine.path} is task "
                                      f"{self.refine.task!r} with decoder {dict(self.refine.config.decoder)}")
        if "illegible" not in (c.config.labels or ()):
            raise ConfigMismatchError(f"corners: expected screen class labels with 'illegible', {c.path} has "
                                      f"{c.config.labels}")
        self.digits = predictor(digits, **({"decoder": overrides} if overrides else {}))
        labels = tuple(self.digits.config.labels or ())
        if self.digits.task != "detection" or DIGIT_CLASS not in labels:
            raise ConfigMismatchError(f"digits: expected a detection model with the labels {DIGIT_CLASS!r} and "
                                      f"{DECIMAL_CLASS!r}, {self.digits.path} is task {self.digits.task!r} with "
                                      f"labels {list(labels)}")
        self.classifier = predictor(classifier)
        cl = tuple(self.classifier.config.labels or ())
        if self.classifier.task != "classification" or not cl or not all(len(x) == 1 and x.isdigit() for x in cl):
            raise ConfigMismatchError(f"classifier: expected a classification model whose labels are digits "
                                      f"'0'..'9', {self.classifier.path} is task {self.classifier.task!r} with "
                                      f"labels {list(cl)}")
        self.screen_size: tuple[int, int] = _input_hw(self.digits)

    @property
    def crop_size(self) -> tuple[int, int]:
        """The digit classifier's input ``(height, width)`` px: the size :func:`read_screens` cuts digits at."""
        return _input_hw(self.classifier)

    def __repr__(self) -> str:
        refine = "" if self.refine is None else f", refine={self.refine.path!r}"
        return (f"MeterReader(corners={self.corners.path!r}{refine}, digits={self.digits.path!r}, "
                f"classifier={self.classifier.path!r})")

    def rectify(self, image: np.ndarray, corners: Any) -> np.ndarray | None:
        """The screen quadrilateral ``corners`` (TL, TR, BR, BL in reading orientation, source px)
        warped to :attr:`screen_size` (uint8 BGR), or ``None`` when it is not a usable
        (convex, clockwise, non-degenerate) quadrilateral."""
        try:
            return warp_quad(image, np.asarray(corners, np.float64), self.screen_size, dtype="uint8", layout="NHWC",
                             scale=1.0, channels=3)[0]
        except InvalidArgumentError:
            return None

    def refine_quads(self, images: list[np.ndarray], quads: list[np.ndarray], which: list[bool]) -> list[np.ndarray]:
        """Stage 1's second look (see ``refine``): the quads (4 x ``(x, y)`` source px) of the images where
        ``which`` is true, refined by :attr:`refine` in one batch; the others, and quads that are not finite,
        are returned as they are."""
        if self.refine is None:
            raise InvalidArgumentError("refine: this reader has no refinement model (MeterReader(refine=...))")
        out = [np.asarray(q, np.float64).reshape(4, 2) for q in quads]
        todo = [i for i, w in enumerate(which) if w and np.all(np.isfinite(out[i]))]
        if not todo:
            return out
        size = _input_hw(self.refine)[0]
        views = [screen_crop(images[i], out[i], size, self.refine_scale) for i in todo]
        for i, (_, origin, k), r in zip(todo, views, self.refine([v[0] for v in views])):
            out[i] = match_order(origin + np.asarray(r.keypoints, np.float64).reshape(4, 2) * k, out[i])
        return out

    def __call__(self, x: Any) -> Any:
        images, single = load_images(x)
        out = self._read(images)
        return out[0] if single else out

    predict = __call__

    def read_screens(self, screens: list[np.ndarray], times: dict[str, float] | None = None) -> list[ScreenReading]:
        """Stage 2 alone on rectified screens (uint8 BGR, :attr:`screen_size`), with this reader's
        models and settings: :func:`read_screens` (``times`` as there)."""
        return read_screens(screens, self.digits, self.classifier, min_score=self.min_score, overlap=self.overlap,
                            crop_margin=self.crop_margin, confirm=self.confirm, times=times)

    def _read(self, images: list[np.ndarray]) -> list[MeterReading]:
        n = len(images)
        t0 = _clock()
        stage1 = self.corners(images)
        quads = [np.asarray(r.keypoints, np.float64) for r in stage1]
        if self.refine is not None:
            quads = self.refine_quads(images, quads, [r.label != "illegible" for r in stage1])
        t1 = _clock()
        screens: list[np.ndarray | None] = []
        for im, r, q in zip(images, stage1, quads):
            screens.append(None if r.label == "illegible" else self.rectify(im, q))
        t2 = _clock()
        todo = [i for i, s in enumerate(screens) if s is not None]
        stage2 = {"digits": 0.0, "classify": 0.0}
        reads = dict(zip(todo, self.read_screens([screens[i] for i in todo], stage2)))  # type: ignore[misc]
        t4 = _clock()
        ms = {"corners": (t1 - t0) * 1e3 / n, "rectify": (t2 - t1) * 1e3 / n, "digits": stage2["digits"] * 1e3 / n,
              "classify": stage2["classify"] * 1e3 / n, "total": (t4 - t0) * 1e3 / n}
        out = []
        for i, (im, r) in enumerate(zip(images, stage1)):
            cls = r.label or ""
            cscore = float(r.score or 0.0)
            common = dict(meter_class=cls, class_score=cscore, corners=quads[i], time=ms["total"] / 1e3,
                          timings_ms=dict(ms), orig_shape=im.shape[:2], orig_img=im)
            if screens[i] is None:  # illegible, or no usable quad
                out.append(MeterReading(False, "", score=0.0, quad_ok=cls == "illegible", **common))
                continue
            sr = reads[i]
            H = _screen_homography(self.screen_size, quads[i])
            digits = []
            for (x0, y0, x1, y1), g, conf, det, dec in zip(sr.boxes.tolist(), sr.digits, sr.confidences, sr.scores,
                                                           sr.decimal):
                pts = np.array([[x0, y0, 1], [x1, y0, 1], [x1, y1, 1], [x0, y1, 1]]) @ H.T
                quad = tuple((float(px), float(py)) for px, py in pts[:, :2] / pts[:, 2:])
                digits.append(MeterDigit((x0, y0, x1, y1), quad, g, conf, det, dec))
            out.append(MeterReading(bool(digits), sr.text, score=cscore * sr.score, digits=tuple(digits),
                                    decimal_box=sr.decimal_box, screen=screens[i], **common))
        return out


def recognition_rate(readings: Any, labels: Any) -> dict[str, Any]:
    """Seed 001's metric over a labelled set, and the figures around it.

    Args:
        readings: one :class:`MeterReading` (or its ``to_dict()``) per image.
        labels: one ``{"text": reading, "class": screen class}`` per image; ``text`` is
            ``""`` for an illegible meter (``class`` may then be left out).

    Returns:
        ``{"recognition_rate": fully correct readings / readable meters (None with none),
        "readable", "correct", "class_accuracy" (stage 1's class against ``class``, over
        the labels that give one), "illegible", "illegible_rejected" (illegible meters
        answered ``success: false``), "count"}``. A readable meter is one whose label is not
        ``illegible`` and has a text; it counts as correct only when ``success`` is true and
        the text matches exactly (the decimal point included).
    """
    readings, labels = list(readings), list(labels)
    if len(readings) != len(labels):
        raise InvalidArgumentError(f"labels: expected {len(readings)} labels (one per reading), got {len(labels)}")
    readable = correct = illegible = rejected = with_class = class_ok = 0
    for r, lab in zip(readings, labels):
        d = r.to_dict() if hasattr(r, "to_dict") else dict(r)
        if not isinstance(lab, dict):
            raise InvalidArgumentError(f"labels: expected dicts with 'text' and 'class', got {type(lab).__name__}")
        cls = lab.get("class", lab.get("meter_class"))
        text = str(lab.get("text") or "")
        if cls is not None:
            with_class += 1
            class_ok += d.get("class") == cls
        if cls == "illegible" or not text:
            illegible += 1
            rejected += not d.get("success")
            continue
        readable += 1
        correct += bool(d.get("success")) and d.get("text") == text
    return {"recognition_rate": correct / readable if readable else None, "readable": readable, "correct": correct,
            "class_accuracy": class_ok / with_class if with_class else None, "illegible": illegible,
            "illegible_rejected": rejected, "count": len(readings)}


def evaluate_meters(reader: MeterReader, images: Any, labels: Any, *, batch: int = 16,
                    save: Any = None) -> dict[str, Any]:
    """Reads labelled meter images and scores them with :func:`recognition_rate`.

    Args:
        reader: a :class:`MeterReader`.
        images: image paths or uint8 BGR arrays.
        labels: one ``{"text": ..., "class": ...}`` per image (see :func:`recognition_rate`).
        batch: images per reader call.
        save: a folder for annotated copies (``<i>_meter.jpg``), or ``None``.

    Returns:
        :func:`recognition_rate`'s figures plus ``per_image`` (``index``, ``label``, ``text``,
        ``class``, ``success``, ``correct``) and ``ms_per_image`` (the reader's median ``total``).
    """
    from pathlib import Path

    images, labels = list(images), list(labels)
    if len(images) != len(labels):
        raise InvalidArgumentError(f"labels: expected {len(images)} labels (one per image), got {len(labels)}")
    if not images:
        raise InvalidArgumentError("images: expected at least one labelled image")
    out_dir = None if save is None else Path(save)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    readings: list[MeterReading] = []
    for lo in range(0, len(images), batch):
        chunk = reader(images[lo:lo + batch])
        readings.extend(chunk)
        if out_dir is not None:
            import cv2

            for k, r in enumerate(chunk):
                cv2.imwrite(str(out_dir / f"{lo + k:05d}_meter.jpg"), r.plot())
    res = recognition_rate(readings, labels)
    per = []
    for i, (r, lab) in enumerate(zip(readings, labels)):
        text = str(lab.get("text") or "")
        per.append({"index": i, "label": text, "label_class": lab.get("class"), "text": r.text,
                    "class": r.meter_class, "success": r.success, "correct": bool(r.success and text and r.text == text)})
    res["ms_per_image"] = float(np.median([r.timings_ms["total"] for r in readings]))
    res["per_image"] = per
    return res


__all__ = ["MeterReader", "DEFAULT_REFINE", "screen_crop", "match_order", "REFINE_CROP_SCALE", "ScreenReading", "read_screens", "evaluate_meters", "side_by_side", "MIN_DIGIT_SCORE", "DIGIT_OVERLAP", "DIGIT_CONFIRM", "MeterReading", "MeterDigit", "assemble_reading", "digit_crop", "recognition_rate",
           "DEFAULT_CORNERS", "DIGIT_CROP_SIZE", "DIGIT_CROP_MARGIN",
           "DEFAULT_DIGITS", "DEFAULT_CLASSIFIER", "SCREEN_SIZE", "METER_CLASSES"]
