"""Plate reading: a plate detector (or a corner model), then rectification, then text, in one call.

    reader = edgevision.PlateReader()                # bundled int8 detector and OCR, offline
    scene = reader("street.jpg")                     # -> PlateScene: every plate, possibly none
    [(p.text, p.score, p.corners) for p in scene]; scene.timings_ms; scene.plot()

With seed 000's corner model instead of the detector, the reader assumes one plate per
image (CCPD-style close-ups) and returns one reading:

    reader = edgevision.PlateReader("lpl_resnet_int8.onnx")   # or corners=...
    r = reader(cv2.imread("car.jpg"))                # -> PlateReading
    r.text, r.corners, r.confidence; cv2.imwrite("out.jpg", r.plot())

The detector (a ``pose`` model with 4 keypoints, by default the bundled
``plate_pose_int8.onnx``) gives each plate's box, score and corners; by default it then takes a
second look at each plate, cut out where it is larger, for finer corners (and drops
plates the second look does not confirm, unless the OCR reads them with a confidence of at
least :data:`RESCUE_CONF`, ``rescue``; ``refine=False`` skips the second look). Each quad is
rectified with ``warp_quad`` straight into one OCR batch, read in one OCR call; a plate
whose characters lean in its crop (its quad's sides do not follow them) is also cut out
upright and read in the same call, and the more confident reading stands (``deskew``,
:func:`estimate_slant`). Without a
detector, stage 1 is a ``keypoints`` model that returns the 4 plate corners (TL, TR, BR,
BL, source pixels) of the one plate it assumes (seed 000, CCPD-style close-ups). Stage 2
rectifies the quadrilateral with the compiled ``warp_quad`` kernel to the OCR model's
input size (uint8, the same crop ``calibration.synth.plate_crop`` gives the OCR during
training). Stage 3 is a ``slots_ocr``/``ctc_ocr`` model reading the crop. Every stage is an
ordinary :class:`~edgevision.Predictor`, so any self-describing models with those tasks
can stand in for the defaults.
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Sequence

import numpy as np

from .decoders import box_iou, nms
from .errors import ConfigMismatchError, InvalidArgumentError, InvalidMetadataError
from .predictor import load_images
from .preprocess import warp_quad
from .results import _SHIFT, _Result, _array, _color, _common, _draw_label, _fixed

_clock = time.perf_counter

#: Default models (bundled in ``edgevision/models``).
DEFAULT_CORNERS = "lpl_resnet_int8.onnx"
DEFAULT_OCR = "plate_ocr_int8.onnx"
#: The plate detector ``PlateReader()`` runs unless given a corner model (see :class:`PlateReader`).
DEFAULT_DETECTOR = "plate_pose_int8.onnx"
_DEFAULT = object()  # PlateReader's detector argument when none is given

#: Where the two rows of a two-row plate (the Chinese double-row yellow plate, GA 36:
#: 2 characters over 5) lie in the rectified plate, and how they are laid side by side
#: for a one-row reader. ``top`` and ``bottom`` are ``(x0, y0, x1, y1)`` boxes in
#: fractions of the plate (0..1, from its top-left corner, x right, y down);
#: ``top_width`` is the fraction of the crop width the top row gets (the bottom row
#: takes the rest). The boxes overlap and pad the rows so that a corner error of a
#: few percent of the plate height still keeps every character whole. A model's
#: ``decoder.rows.split`` (written from this at export) is the one that applies to it.
TWO_ROW_SPLIT: dict[str, Any] = {"top": [0.16, 0.0, 0.84, 0.40], "bottom": [0.0, 0.34, 1.0, 1.0], "top_width": 0.3}

#: The Chinese plate formats (GA 36) as a regular expression a reading must match in whole: a
#: province and a letter (or 0: EasyPR writes the police "O" plates so), then 5 letters or
#: digits (blue, yellow), a new-energy tail (``D``/``F``, a letter or digit and 4 digits, or 5
#: digits and ``D``/``F``: 8 characters in all), or 4 and a special last character (police
#: 警, coach 学, trailer 挂, Hong Kong 港, Macau 澳, consulate 领); or 使 and 6 digits (embassy).
#: Letters exclude I and O. A CTC plate OCR's ``decoder.pattern`` (written from this at export):
#: a reading that breaks it is replaced by the most probable one of a beam search that keeps it
#: (``Predictor(..., decoder={"pattern": ".*"})`` reads without it).
PLATE_TEXT_PATTERN = ("[皖沪津渝冀晋蒙辽吉黑苏浙京闽赣鲁豫鄂湘粤桂琼川贵云藏陕甘青宁新][A-HJ-NP-Z0]"
                      "(?:[A-HJ-NP-Z0-9]{5}|[DF][A-HJ-NP-Z0-9][0-9]{4}|[0-9]{5}[DF]|[A-HJ-NP-Z0-9]{4}[警学挂港澳领])"
                      "|使[0-9]{6}")

#: The detector's second look (``PlateReader(refine=True)``): each detected plate is cut out
#: as a square of side ``REFINE_SCALE * max(w, 2 h)`` around its quad's bounding box (``w``,
#: ``h`` in source pixels), resized to the detector's input, and detected again. 3.0 puts a
#: plate at about a third of the crop's width, inside the scales the detector was trained
#: on; it was chosen on EasyPR *train* scenes (exact reads for scale 1.5-4; see the
#: detector's model card). See :meth:`PlateReader.refine_plates`.
REFINE_SCALE = 3.0
#: A second-look detection confirms a plate when its box (around its corners) overlaps the
#: first look's, mapped into the crop, by at least this IoU; unconfirmed plates are dropped.
REFINE_MATCH_IOU = 0.3
#: With the second look, the first look only proposes plates: the detector keeps
#: detections scoring above ``REFINE_PROPOSE_CONF`` (instead of its model's
#: ``conf_threshold``, 0.5 for the bundled detector), and the second look confirms a
#: proposal only with a detection scoring at least ``REFINE_CONFIRM_CONF``. A plate too
#: small for a confident first look gets its closer look; a false plate has to convince
#: the detector twice. Chosen on EasyPR *train* scenes and the train half of the plate-free
#: photos (see the detector's model card). A floor of 0.35 (tried 2026-12-07: on every
#: validation set the 100 proposals scoring 0.30-0.35 were false, and dropping them cut the
#: time a scene by a third on the held-out EasyPR scenes) lost 2 of the 71 held-out EasyPR
#: plates, so it stays 0.3 (plate_pose.md, session 19).
REFINE_PROPOSE_CONF = 0.3
REFINE_CONFIRM_CONF = 0.7
#: ``PlateReader(rescue=...)``: a first-look proposal the second look does not confirm, overlapping
#: no kept plate, is read by the OCR from its first-look corners in the same OCR call, and kept as a
#: plate when that reading's confidence (the product of its characters' probabilities, readings held
#: to the plate formats) is at least this: the OCR verifies what the detector doubted. Chosen on the
#: EasyPR *train* scenes, the train half of the plate-free photos and the synthetic validation scenes
#: by a rule written before its figures (the detector's model card, "OCR-verified rescue"). The default
#: of a reader with a detector and its second look (``rescue="auto"``) since 2026-12-07: held out, with
#: it the reader meets every target of issue 16 in less time than the peer's detector alone (the card).
RESCUE_CONF = 0.9


def check_rescue(rescue: Any) -> float | str | None:
    """``PlateReader``'s ``rescue`` checked: ``"auto"``, ``None``, or an OCR confidence in 0..1 (as a
    float); anything else raises :class:`InvalidArgumentError` naming it."""
    if isinstance(rescue, str) and rescue == "auto":
        return rescue
    if rescue is not None and (isinstance(rescue, (bool, np.bool_))
                               or not isinstance(rescue, (int, float, np.integer, np.floating))
                               or not 0.0 <= rescue <= 1.0):
        raise InvalidArgumentError(f"rescue: expected 'auto', None or an OCR confidence in 0..1, got {rescue!r}")
    return None if rescue is None else float(rescue)


def resolve_rescue(rescue: Any, second_look: bool) -> float | None:
    """``rescue`` as a reader uses it: ``"auto"`` is :data:`RESCUE_CONF` for a reader with a detector and
    its second look (``second_look``), ``None`` for any other; a number needs the second look
    (:class:`InvalidArgumentError` otherwise: without it every proposal is a plate already)."""
    rescue = check_rescue(rescue)
    if rescue == "auto":
        return RESCUE_CONF if second_look else None
    if rescue is not None and not second_look:
        raise InvalidArgumentError("rescue: it keeps plates the detector's second look does not confirm; only "
                                   "with a detector and refine=True")
    return rescue  # type: ignore[return-value]


def _quad_boxes(quads: Any) -> np.ndarray:
    """``(K, 4)`` float64 boxes ``x0, y0, x1, y1`` around ``K`` quads (4 x ``(x, y)`` corners each)."""
    q = np.asarray(quads, np.float64).reshape(-1, 4, 2)
    return np.concatenate([q.min(1), q.max(1)], 1)

#: Slant correction (``PlateReader(deskew=True)``): a quad whose sides do not follow the
#: plate's characters (a rotated rectangle around a plate seen from the side, say: the
#: rectangles EasyPR labels plates with, and that a detector trained on them learns) gives a
#: crop whose characters lean. :func:`estimate_slant` measures the lean of a crop's vertical
#: strokes as ``k``, the x shift (crop pixels) per crop pixel of y, searched over
#: ``[-SLANT_RANGE, SLANT_RANGE]`` (1.2: about 50 degrees); a plate leaning by at least
#: ``SLANT_MIN`` (0.2: about 11 degrees) is read a second time from :func:`deskew_quad`'s
#: crop, in the same OCR call, and the more confident reading stands.
SLANT_RANGE = 1.2
SLANT_MIN = 0.2
#: Height (px) of the grey image :func:`estimate_slant` analyses (the crop scaled to it, aspect kept).
SLANT_HEIGHT = 32


@dataclass(eq=False)
class PlateReading(_Result):
    """One plate read from one image.

    Attributes:
        corners: ``(4, 2)`` float64 plate corners in source pixels (x, y), clockwise
            from top-left (TL, TR, BR, BL).
        text: the plate text (e.g. ``"皖A12345"``).
        confidence: the OCR's confidence (product of per-character probabilities), 0..1.
        char_confidences: per-character probabilities.
        crop: the rectified plate the OCR read (uint8 BGR, the OCR input size), or ``None``.
        quad_ok: ``False`` when the predicted corners were not a convex clockwise
            quadrilateral (a failed corner prediction); the OCR then read the axis-aligned
            box around them, and ``text`` deserves no trust.
        rows: ``2`` when the OCR's rows head called the plate a two-row plate and the
            text was re-read from its rows side by side (:func:`rectify_rows`; ``crop``
            is then that crop), else ``1``.
        score: the detector's score for this plate (0..1), or ``None`` when a corner
            regressor (which always returns one plate) found it.
        confirmed: ``True`` when the detector's second look confirmed the plate, ``False``
            when the second look did not and the OCR-verified rescue kept it
            (``PlateReader(rescue=...)``: its text vouched for it), ``None`` without a second
            look (``refine=False``, or a corner regressor).

    ``plot`` style: ``color`` (quad and label background, BGR, default green),
    ``thickness`` (px), ``font_size`` (px).
    """

    corners: np.ndarray
    text: str
    confidence: float
    char_confidences: tuple[float, ...] = ()
    crop: np.ndarray | None = field(default=None, repr=False)
    quad_ok: bool = True
    rows: int = 1
    score: float | None = None
    confirmed: bool | None = None
    orig_shape: tuple[int, int] | None = None
    orig_img: np.ndarray | None = field(default=None, repr=False)

    _TYPE: ClassVar[str] = "plate"
    _SPATIAL: ClassVar[bool] = True
    _STYLE: ClassVar[dict[str, Any]] = {"color": (0, 200, 0), "thickness": None, "font_size": None}

    def __post_init__(self) -> None:
        self.corners = _array(self.corners, "corners", np.float64, (4, 2), "4 (x, y) corners in source pixels")
        self.confidence = float(self.confidence)
        self.char_confidences = tuple(float(c) for c in self.char_confidences)
        self.score = None if self.score is None else float(self.score)
        if self.confirmed is not None and not isinstance(self.confirmed, (bool, np.bool_)):
            raise InvalidArgumentError(f"confirmed: expected True, False or None, got {self.confirmed!r}")
        self.confirmed = None if self.confirmed is None else bool(self.confirmed)
        _common(self)

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d.pop("crop", None)
        return d

    def _draw(self, canvas: np.ndarray, s: dict[str, Any]) -> None:
        import cv2

        color = _color(s["color"], "color")
        if np.isfinite(self.corners).all():
            pts = np.array([[_fixed(x), _fixed(y)] for x, y in self.corners], dtype=np.int32)
            cv2.polylines(canvas, [pts], True, color, s["thickness"], cv2.LINE_AA, _SHIFT)
            x = int(min(max(self.corners[:, 0].min(), 0), canvas.shape[1] - 1))
            y = int(min(max(self.corners[:, 1].min() - s["font_size"] * 1.6, 0), canvas.shape[0] - 1))
        else:
            x = y = 0
        _draw_label(canvas, f"{self.text} {self.confidence:.2f}", x, y, s["font_size"], (255, 255, 255), color)


@dataclass(eq=False)
class PlateScene(_Result):
    """Every plate a detector found in one image, read (``PlateReader(detector=...)``).

    Attributes:
        plates: one :class:`PlateReading` per detected plate (``score`` set), by decreasing
            detection score; empty when the image holds no plate.
        timings_ms: milliseconds per stage: ``detect`` (the detector's preprocessing,
            inference and decoding), ``refine`` (its second look, when the reader makes one),
            ``rectify`` (every quad warped into the OCR batch),
            ``ocr`` (one OCR call for every plate, and the re-read of two-row plates) and
            ``total``. For a list of images the stages run once for the whole list, and
            each image gets the list's time divided by its length.

    ``len(scene)``, ``scene[i]`` and iteration go over ``plates``. ``plot`` draws every
    plate (style as :class:`PlateReading`).
    """

    plates: tuple[PlateReading, ...]
    timings_ms: dict[str, float] = field(default_factory=dict)
    orig_shape: tuple[int, int] | None = None
    orig_img: np.ndarray | None = field(default=None, repr=False)

    _TYPE: ClassVar[str] = "plate_scene"
    _SPATIAL: ClassVar[bool] = True
    _STYLE: ClassVar[dict[str, Any]] = PlateReading._STYLE

    def __post_init__(self) -> None:
        self.plates = tuple(self.plates)
        if not all(isinstance(p, PlateReading) for p in self.plates):
            raise InvalidArgumentError("plates: expected PlateReading items")
        self.timings_ms = {str(k): float(v) for k, v in self.timings_ms.items()}
        _common(self)

    def __len__(self) -> int:
        return len(self.plates)

    def __iter__(self) -> Any:
        return iter(self.plates)

    def __getitem__(self, i: int) -> PlateReading:
        return self.plates[i]

    @property
    def texts(self) -> list[str]:
        """The plates' texts, in order."""
        return [p.text for p in self.plates]

    def to_dict(self) -> dict[str, Any]:
        return {"type": self._TYPE, "plates": [p.to_dict() for p in self.plates], "timings_ms": dict(self.timings_ms),
                "orig_shape": None if self.orig_shape is None else list(self.orig_shape)}

    def _draw(self, canvas: np.ndarray, s: dict[str, Any]) -> None:
        for p in self.plates:
            p._draw(canvas, s)


def _unit_square_homography(q: np.ndarray) -> np.ndarray:
    """3x3 ``H`` mapping the unit square's (0,0), (1,0), (1,1), (0,1) to the quad's TL, TR, BR, BL."""
    import cv2

    src = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float64)
    return cv2.getPerspectiveTransform(src.astype(np.float32), q.astype(np.float32)).astype(np.float64)


def estimate_slant(crop: np.ndarray) -> tuple[float, float]:
    """How far a rectified plate's characters lean: ``(k, gain)``.

    ``crop``: a uint8 plate crop, ``(H, W)`` grey or ``(H, W, 3)`` BGR, the characters
    running along x. ``k`` is the lean of its vertical strokes, the x shift (crop pixels,
    to the right) per crop pixel down: a stroke from ``(x, 0)`` to ``(x + k H, H)``.
    ``gain``: how much sharper the strokes' column profile is at ``k`` than at 0 (>= 1).

    Method: the projection profile, as in handwriting slant correction. The crop is
    scaled to :data:`SLANT_HEIGHT` px high (aspect kept, so ``k`` is unchanged), its
    horizontal gradient magnitude (Sobel) is sheared by each candidate ``k`` about the
    middle row (``cv2.remap``), and ``k`` maximises the sum of squared column sums,
    which is largest when every stroke falls in one column. Candidates: steps of 0.2 over
    ``[-SLANT_RANGE, SLANT_RANGE]``, then 0.1 and 0.05 around the best.
    """
    import cv2

    a = np.asarray(crop)
    if a.dtype != np.uint8 or a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3)) \
            or min(a.shape[:2]) < 2:
        raise InvalidArgumentError(f"crop: expected a uint8 (H, W) or (H, W, 3) image at least 2x2, "
                                   f"got {a.dtype} {a.shape}")
    g = a if a.ndim == 2 else a[..., 0] if a.shape[2] == 1 else cv2.cvtColor(a, cv2.COLOR_BGR2GRAY)
    h = SLANT_HEIGHT
    w = max(2, int(round(a.shape[1] * h / a.shape[0])))
    g = cv2.resize(g, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
    gx = np.abs(cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3))

    def scores(ks: np.ndarray) -> np.ndarray:
        # Every candidate's sheared gradient in one remap: rows [i h, (i + 1) h) are candidate i's.
        mx, my = _shear_maps(tuple(np.round(ks, 6)), h, w)
        cols = cv2.remap(gx, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        cols = cols.reshape(len(ks), h, w).sum(1, dtype=np.float64)
        return np.einsum("kw,kw->k", cols, cols)

    ks = np.round(np.arange(-SLANT_RANGE, SLANT_RANGE + 1e-9, 0.2), 6)
    s = scores(ks)
    zero, i = float(s[np.argmin(np.abs(ks))]), int(np.argmax(s))
    best, top = float(ks[i]), float(s[i])
    for step in (0.1, 0.05):
        near = np.array([k for k in (best - step, best + step) if abs(k) <= SLANT_RANGE + 1e-9])
        if near.size:
            sn = scores(near)
            j = int(np.argmax(sn))
            if sn[j] > top:
                best, top = float(near[j]), float(sn[j])
    return best, (top / zero if zero > 0 else 1.0)


@functools.lru_cache(maxsize=256)
def _shear_maps(ks: tuple[float, ...], h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """``cv2.remap`` maps shearing an ``(h, w)`` image by each ``k`` about its middle row, stacked along y."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    k = np.asarray(ks, np.float32)[:, None, None]
    mx = (x[None] + k * (y[None] - (h - 1) / 2.0)).reshape(-1, w)
    my = np.broadcast_to(y[None], (len(ks), h, w)).reshape(-1, w)
    return np.ascontiguousarray(mx, np.float32), np.ascontiguousarray(my, np.float32)


def deskew_quad(corners: Any, k: float, size: Any) -> np.ndarray:
    """The quad whose ``size`` crop shows the plate of ``corners``' crop with its lean ``k`` undone.

    ``corners``: TL, TR, BR, BL (source px); ``size``: the crop's ``(H, W)`` (or one int);
    ``k``: the lean of the characters in that crop (:func:`estimate_slant`). The new quad
    keeps the old one's top and bottom edges (their lines, through the source's perspective)
    and tilts its sides by ``k`` about the middle row, so its crop's strokes stand upright.
    Returns ``(4, 2)`` float64 source px.
    """
    q = np.asarray(corners, np.float64)
    if q.shape != (4, 2) or not np.isfinite(q).all():
        raise InvalidArgumentError(f"corners: expected 4 finite (x, y) points, got {q.tolist()}")
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, float, np.integer, np.floating)) or not np.isfinite(k):
        raise InvalidArgumentError(f"k: expected a finite number (x shift per pixel of y), got {k!r}")
    hh, ww = (size, size) if isinstance(size, (int, np.integer)) else size
    d = float(k) * hh / (2.0 * ww)  # half the lean over the crop's height, in fractions of its width
    uv = np.array([[-d, 0.0], [1.0 - d, 0.0], [1.0 + d, 1.0], [d, 1.0]])
    pts = np.concatenate([uv, np.ones((4, 1))], 1) @ _unit_square_homography(q).T
    return pts[:, :2] / pts[:, 2:]


def rectify_rows(image: np.ndarray, corners: Any, size: Any, split: Any = None, *,
                 channels: int | None = None) -> np.ndarray:
    """A two-row plate at ``corners`` rectified with its rows side by side, as one row.

    The plate's top row (``split["top"]``) is warped into the left ``top_width`` of a
    ``size`` crop and its bottom row (``split["bottom"]``) into the rest, each through
    the plate's own perspective (the sub-quadrilaterals are mapped exactly with the
    plate's homography, not interpolated), so a reader trained on one-row plates sees
    a two-row plate's 2 + 5 characters left to right. This is what
    :class:`PlateReader` feeds its OCR when the OCR says a plate has two rows.

    Args:
        image: uint8 HWC source image (gray, BGR or BGRA).
        corners: ``(4, 2)`` plate corners in source pixels (TL, TR, BR, BL).
        size: the crop's ``(height, width)`` (or an int, square), pixels.
        split: a :data:`TWO_ROW_SPLIT`-shaped dict (default :data:`TWO_ROW_SPLIT`).
        channels: output channels (default: the image's).

    Returns:
        uint8 ``(height, width, channels)`` crop (``(height, width)`` for 1 channel).

    Raises:
        InvalidArgumentError: ``corners`` is not a convex clockwise quadrilateral, or
            ``size``/``split`` are malformed.
    """
    from .config import validate_row_split

    sp = validate_row_split(TWO_ROW_SPLIT if split is None else split, "split")
    q = np.asarray(corners, np.float64)
    if q.shape != (4, 2) or not np.isfinite(q).all():
        raise InvalidArgumentError(f"corners: expected 4 finite (x, y) points, shape (4, 2), got shape {q.shape}")
    from .preprocess import parse_size

    h, w = parse_size(size)
    if w < 2:
        raise InvalidArgumentError(f"size: a two-row crop needs a width of at least 2 pixels, got {size!r}")
    tw = min(max(1, int(round(w * sp["top_width"]))), w - 1)
    # Validate the plate quad itself (convex, clockwise) with the kernel's own checks.
    warp_quad(image, q, (2, 2), dtype="uint8", layout="NHWC", scale=1.0)
    H = _unit_square_homography(q)
    opts: dict[str, Any] = {"dtype": "uint8", "layout": "NHWC", "scale": 1.0}
    if channels is not None:
        opts["channels"] = channels
    tiles = []
    for (x0, y0, x1, y1), tile_w in ((sp["top"], tw), (sp["bottom"], w - tw)):
        pts = np.array([[x0, y0, 1], [x1, y0, 1], [x1, y1, 1], [x0, y1, 1]], np.float64) @ H.T
        tiles.append(warp_quad(image, pts[:, :2] / pts[:, 2:], (h, tile_w), **opts)[0])
    crop = np.concatenate(tiles, axis=1)
    return crop[..., 0] if crop.shape[-1] == 1 else crop


def reread_two_rows(ocr: Any, images: Sequence[np.ndarray], quads: Sequence[Any],
                    readings: Sequence[Any]) -> list[tuple[Any, np.ndarray] | None]:
    """Second pass of a two-row-aware plate OCR: re-reads the plates its rows head called two-row.

    Args:
        ocr: a ``slots_ocr`` or ``ctc_ocr`` :class:`~edgevision.Predictor`; without
            ``decoder.rows`` nothing is re-read.
        images: the source images (uint8 HWC).
        quads: per image, the plate corners (``(4, 2)`` source px, TL, TR, BR, BL), or
            ``None`` where there is no usable quadrilateral (nothing to re-read).
        readings: the first-pass :class:`~edgevision.TextResult` s (``rows`` set by the head).

    Returns:
        Per image, ``(text_result, crop)`` of the re-read from :func:`rectify_rows` (with
        the model's ``decoder.rows.split``, at its input size), or ``None`` where the
        first reading stands (one row, no quad, a quad the split cannot use, no rows head).
    """
    out: list[tuple[Any, np.ndarray] | None] = [None] * len(readings)
    split = (ocr.config.decoder.get("rows") or {}).get("split")
    if split is None:
        return out
    size = ocr.config.preprocess["size"]
    idx, crops = [], []
    for i, r in enumerate(readings):
        if getattr(r, "rows", None) == 2 and quads[i] is not None:
            try:
                crops.append(rectify_rows(images[i], quads[i], size, split))
            except InvalidArgumentError:  # a degenerate quad: keep the first reading
                continue
            idx.append(i)
    if crops:
        for i, t, c in zip(idx, ocr(crops), crops):
            out[i] = (t, c)
    return out


def _check_plate_pose(p: Any, name: str) -> None:
    """Raise :class:`ConfigMismatchError` unless Predictor ``p`` is a pose model with 4 keypoints."""
    kpt = p.config.decoder.get("kpt_shape") or [0]
    if p.task != "pose" or kpt[0] != 4:
        raise ConfigMismatchError(f"{name}: expected a pose model with 4 keypoints (the plate corners), "
                                  f"{p.path} is task {p.task!r}")


class PlateReader:
    """Plate reader: a detector (or a corner model), then rectification, then an OCR model (see the module docs).

    ``PlateReader()`` runs the bundled int8 detector (:data:`DEFAULT_DETECTOR`) and OCR and
    reads every plate of an image. Given a corner model (``corners``, or ``detector=None``
    for the bundled :data:`DEFAULT_CORNERS`), it reads the one plate that model regresses.

    Args:
        corners: a ``keypoints`` model with 4 points (path or bundled name), or a
            :class:`~edgevision.Predictor` of one: the reader then uses it instead of the
            detector. Not together with ``detector``.
        ocr: a ``slots_ocr`` or ``ctc_ocr`` model (path or bundled name), or a
            :class:`~edgevision.Predictor` of one (e.g. built with configuration
            overrides, or shared with other readers).
        device, threads: passed to the :class:`~edgevision.Predictor` s built from paths.

        detector: a ``pose`` model with 4 keypoints (the plate's corners, TL, TR, BR, BL),
            path, bundled name or Predictor; default :data:`DEFAULT_DETECTOR` unless
            ``corners`` is given. ``None``: no detector (the corner model, ``corners`` or
            :data:`DEFAULT_CORNERS`).
        conf_threshold, iou_threshold, max_plates: the detector's decoder settings
            (``conf_threshold``, ``iou_threshold``, ``max_det``), overriding its model's.
            ``conf_threshold=None`` means :data:`REFINE_PROPOSE_CONF` with the second
            look (its first look only proposes) and the model's own without it; the
            others keep the model's. A detector given as a Predictor keeps its settings
            (it proposes at its own ``conf_threshold``). Only with a detector.
        refine: the detector's second look (default on with a detector, see
            :meth:`refine_plates`): every plate is detected again in a crop where it is
            larger, which gives finer corners and drops plates the second look does not
            confirm. It about doubles the detector's time. ``refine_scale``: the crop's
            side in plate sizes (:data:`REFINE_SCALE`), > 1. ``confirm_threshold``: the
            score (0..1) a second-look detection needs to confirm a plate
            (:data:`REFINE_CONFIRM_CONF`). Only with a detector.
        second_look: the ``pose`` model (4 keypoints; path, bundled name or Predictor)
            that takes the second look; default ``None``: the detector itself. Only with
            ``refine``.
        deskew: slant correction (default on): a plate whose characters lean by
            :data:`SLANT_MIN` or more in its crop (:func:`estimate_slant`) is read again from
            a quad that stands them upright (:func:`deskew_quad`), in the same OCR call, and
            the more confident reading is kept, with its quad as the plate's corners.
        rescue: with the second look, the OCR confidence (0..1) at which a proposal the second
            look does not confirm is kept anyway: such a proposal, unless it overlaps a kept
            plate, is read from its first-look corners in the same OCR call; the most likely
            proposals first, each kept one also ruling out those overlapping it. Its ``score`` is
            its first look's (and its ``confirmed`` False). Default ``"auto"``: :data:`RESCUE_CONF`
            with a detector and its second look, none otherwise; ``None``: never. A number
            without a detector's second look (where every proposal is a plate already) raises
            :class:`InvalidArgumentError`, as the CLI and the service refuse ``--rescue`` there.

    Calls: ``reader(x)`` with an image path, a uint8 BGR array, or a list of them.
    Without a detector, one :class:`PlateReading` per image (the corner model regresses
    a single plate); with one, one :class:`PlateScene` per image, holding a reading per
    detected plate, possibly none.
    """

    def __init__(self, corners: str | os.PathLike | Any = None, ocr: str | os.PathLike | Any = DEFAULT_OCR,
                 *, detector: str | os.PathLike | Any = _DEFAULT, conf_threshold: float | None = None,
                 iou_threshold: float | None = None, max_plates: int | None = None, refine: bool | None = None,
                 refine_scale: float = REFINE_SCALE, confirm_threshold: float = REFINE_CONFIRM_CONF,
                 second_look: str | os.PathLike | Any = None, deskew: bool = True,
                 rescue: float | str | None = "auto", device: str = "auto", threads: int | None = None) -> None:
        from .predictor import Predictor

        def predictor(model: Any, **kw: Any) -> Predictor:
            return model if isinstance(model, Predictor) else Predictor(model, device=device, threads=threads, **kw)

        def proposing(model: Any, overrides: dict[str, Any]) -> Predictor:
            """A pose model (not a Predictor) keeping detections above REFINE_PROPOSE_CONF, for a look whose
            plates are confirmed (or proposed) at a threshold of the reader's, not at its model's own."""
            try:
                return predictor(model, decoder={**overrides, "conf_threshold": REFINE_PROPOSE_CONF})
            except InvalidMetadataError:
                # Not a detection model (no conf_threshold to set): loaded as it is, the task check says so.
                return predictor(model, **({"decoder": overrides} if overrides else {}))

        if detector is _DEFAULT:
            detector = DEFAULT_DETECTOR if corners is None else None
        elif detector is not None and corners is not None:
            raise InvalidArgumentError("corners, detector: give one of them (the reader runs a detector, or a corner "
                                       "model for one plate per image)")
        if corners is None:
            corners = DEFAULT_CORNERS
        overrides = {k: v for k, v in (("conf_threshold", conf_threshold), ("iou_threshold", iou_threshold),
                                       ("max_det", max_plates)) if v is not None}
        self.detector: Predictor | None = None
        self.second_look: Predictor | None = None
        self.corners: Predictor | None = None
        if refine is not None and not isinstance(refine, (bool, np.bool_)):
            raise InvalidArgumentError(f"refine: expected True or False, got {refine!r}")
        if isinstance(refine_scale, (bool, np.bool_)) or not isinstance(refine_scale, (int, float, np.integer, np.floating)) \
                or not (np.isfinite(refine_scale) and refine_scale > 1):
            raise InvalidArgumentError(f"refine_scale: expected a number > 1 (the crop's side in plate sizes), "
                                       f"got {refine_scale!r}")
        if isinstance(confirm_threshold, (bool, np.bool_)) \
                or not isinstance(confirm_threshold, (int, float, np.integer, np.floating)) \
                or not 0.0 <= confirm_threshold <= 1.0:
            raise InvalidArgumentError(f"confirm_threshold: expected a score in 0..1 (a second-look detection's), "
                                       f"got {confirm_threshold!r}")
        if not isinstance(deskew, (bool, np.bool_)):
            raise InvalidArgumentError(f"deskew: expected True or False, got {deskew!r}")
        self.deskew = bool(deskew)
        self.refine = bool(detector is not None if refine is None else refine)
        self.rescue = resolve_rescue(rescue, detector is not None and self.refine)
        self.refine_scale = float(refine_scale)
        self.confirm_threshold = float(confirm_threshold)
        if detector is not None:
            if overrides and isinstance(detector, Predictor):
                raise InvalidArgumentError("conf_threshold, iou_threshold, max_plates: pass them to the detector's "
                                           "Predictor (decoder={...}) when you give a Predictor")
            propose = self.refine and conf_threshold is None and not isinstance(detector, Predictor)
            self.detector = proposing(detector, overrides) if propose else \
                predictor(detector, **({"decoder": overrides} if overrides else {}))
            _check_plate_pose(self.detector, "detector")
            if second_look is not None:
                if not self.refine:
                    raise InvalidArgumentError("second_look: only with refine=True (it is the second look's model)")
                # It confirms at confirm_threshold, so it keeps whatever scores above the proposals' floor.
                self.second_look = predictor(second_look) if isinstance(second_look, Predictor) else \
                    proposing(second_look, {})
                _check_plate_pose(self.second_look, "second_look")
        else:
            if overrides:
                raise InvalidArgumentError("conf_threshold, iou_threshold, max_plates: only with a detector")
            if self.refine:
                raise InvalidArgumentError("refine: only with a detector (the second look re-runs it)")
            if second_look is not None:
                raise InvalidArgumentError("second_look: only with a detector and refine=True")
            self.corners = predictor(corners)
            if self.corners.task != "keypoints" or self.corners.config.decoder.get("num_keypoints") != 4:
                raise ConfigMismatchError(f"corners: expected a keypoints model with 4 points, {self.corners.path} "
                                          f"is task {self.corners.task!r}")
        self.ocr = predictor(ocr)
        if self.ocr.task not in ("slots_ocr", "ctc_ocr"):
            raise ConfigMismatchError(f"ocr: expected a slots_ocr or ctc_ocr model, {self.ocr.path} is "
                                      f"task {self.ocr.task!r}")
        size, kw = self.ocr.config.preprocess_kwargs()
        self.crop_size = size
        self._gray = (kw.get("channels") or 3) == 1

    def __repr__(self) -> str:
        first = f"detector={self.detector.path!r}" if self.detector is not None else f"corners={self.corners.path!r}"
        return f"PlateReader({first}, ocr={self.ocr.path!r})"

    def rectify(self, image: np.ndarray, corners: Any) -> tuple[np.ndarray, bool]:
        """The plate quadrilateral ``corners`` (TL, TR, BR, BL, source px) warped to the OCR input size.

        Returns ``(crop, quad_ok)``: a uint8 crop, and whether ``corners`` was a usable
        (convex, clockwise, non-degenerate) quadrilateral. When it was not, the crop is
        the axis-aligned box around the points (at least 2 px each way), so a bad
        corner prediction gives a low-trust reading instead of an exception.
        """
        q = np.asarray(corners, np.float64)
        try:
            crop = warp_quad(image, q, self.crop_size, dtype="uint8", layout="NHWC", scale=1.0)[0]
            ok = True
        except InvalidArgumentError:
            if not np.isfinite(q).all():
                q = np.zeros((4, 2))
            x1, y1 = q.min(0)
            x2, y2 = np.maximum(q.max(0), (x1 + 2, y1 + 2))
            box = [[x1, y1], [x2, y1], [x2, y2], [x1, y2]]
            crop = warp_quad(image, box, self.crop_size, dtype="uint8", layout="NHWC", scale=1.0)[0]
            ok = False
        return (crop[..., 0] if crop.shape[-1] == 1 else crop), ok

    def __call__(self, x: Any) -> Any:
        images, single = load_images(x)
        if self.detector is not None:
            scenes = self._read_scenes(images)
            return scenes[0] if single else scenes
        assert self.corners is not None
        quads = self.corners(images)
        out = [PlateReading(corners=q, text=t.text, confidence=t.confidence, char_confidences=t.char_confidences,
                            crop=c, quad_ok=ok, rows=rows, orig_shape=im.shape[:2], orig_img=im)
               for im, (q, c, ok, t, rows) in zip(images, self._read(images, [q.keypoints for q in quads])[0])]
        return out[0] if single else out

    def _read(self, images: Sequence[np.ndarray], quads: Sequence[Any]
              ) -> tuple[list[tuple[Any, np.ndarray, bool, Any, int]], float]:
        """Rectify and read one plate per ``(image, quad)``, in one OCR call (two-row plates in a second).

        With ``deskew``, a crop whose characters lean by at least :data:`SLANT_MIN`
        (:func:`estimate_slant`) is also cut from :func:`deskew_quad`'s quad and read in the
        same call; the more confident reading (``TextResult.confidence``) keeps its quad and crop.
        Returns per plate ``(quad, crop, quad_ok, text_result, rows)``, and when the OCR
        started (:func:`time.perf_counter`): what comes before it is rectification.
        """
        rect = [self.rectify(im, q) for im, q in zip(images, quads)]
        quads = list(quads)
        extra: list[tuple[int, np.ndarray, np.ndarray]] = []  # (plate, deskewed quad, its crop)
        if self.deskew:
            for i, (c, ok) in enumerate(rect):
                if not ok:
                    continue
                k, _ = estimate_slant(c)
                if abs(k) >= SLANT_MIN:
                    q2 = deskew_quad(quads[i], k, self.crop_size)
                    c2, ok2 = self.rectify(images[i], q2)
                    if ok2:
                        extra.append((i, q2, c2))
        t_ocr = _clock()
        read = self.ocr([c for c, _ in rect] + [c for _, _, c in extra])
        texts = list(read[:len(rect)])
        for (i, q2, c2), t2 in zip(extra, read[len(rect):]):
            if t2.confidence > texts[i].confidence:
                quads[i], rect[i], texts[i] = np.asarray(q2), (c2, True), t2
        again = reread_two_rows(self.ocr, images, [q if ok else None for q, (_, ok) in zip(quads, rect)], texts)
        out = []
        for q, (c, ok), t, a in zip(quads, rect, texts, again):
            rows = 1
            if a is not None:
                t, c = a
                rows = 2
            out.append((q, c, ok, t, rows))
        return out, t_ocr

    def refine_plates(self, images: Sequence[np.ndarray], dets: Sequence[Any]) -> list[list[tuple[int, np.ndarray]]]:
        """The detector's second look at the plates of its first (``dets``, one pose result per image).

        Each plate is cut out of its image as a square of side ``refine_scale * max(w, 2 h)``
        centred on its corners' bounding box (``w``, ``h`` source pixels), clipped to the image,
        and all the crops go through the detector in one batch (its own letterbox brings each to
        its input size, so a small plate is seen larger). In a crop, the detection whose corners'
        box overlaps the first look's most, with IoU >= :data:`REFINE_MATCH_IOU`, among those
        scoring at least ``confirm_threshold`` (:data:`REFINE_CONFIRM_CONF`), gives the
        plate's corners, shifted back to source pixels; a plate with no such detection is dropped
        (the second look does not confirm it). A plate whose square lies wholly outside the image
        keeps its first look if that scored at least ``confirm_threshold``, and is dropped otherwise.

        A plate whose second-look corners overlap a higher-scoring kept plate's (box IoU at least
        the detector's ``iou_threshold``; above 0 when that is 0) is the same plate found twice,
        and is dropped (:func:`~edgevision.decoders.nms`).

        Returns, per image, ``(index into the first look, corners (4, 2) float64 source px)`` for
        every kept plate, in the first look's order.
        """
        assert self.detector is not None
        jobs, crops = [], []
        out: list[list[tuple[int, np.ndarray]]] = [[] for _ in images]
        for i, (im, d) in enumerate(zip(images, dets)):
            h, w = im.shape[:2]
            for j in range(len(d)):
                q = np.asarray(d.keypoints[j], np.float64)
                if not np.isfinite(q).all():
                    continue  # nothing usable to look at again, nor to read
                lo, hi = q.min(0), q.max(0)
                side = max(hi[0] - lo[0], 2.0 * (hi[1] - lo[1]), 1.0) * self.refine_scale
                x0, y0 = np.floor(np.maximum((lo + hi) / 2 - side / 2, 0)).astype(int)
                x1, y1 = np.ceil(np.minimum((lo + hi) / 2 + side / 2, (w, h))).astype(int)
                if x1 - x0 < 2 or y1 - y0 < 2:
                    if float(d.scores[j]) >= self.confirm_threshold:  # nothing to look at again: sure already
                        out[i].append((j, q))
                    continue
                shift = np.array([x0, y0], np.float64)
                jobs.append((i, j, shift, np.concatenate([lo - shift, hi - shift])))
                crops.append(im[y0:y1, x0:x1])
        look = self.second_look if self.second_look is not None else self.detector
        for (i, j, shift, first), r in zip(jobs, look(crops) if crops else []):
            sure = np.asarray(r.scores, np.float64) >= self.confirm_threshold if len(r) else np.zeros(0, bool)
            if not sure.any():
                continue
            k = np.asarray(r.keypoints, np.float64)[sure]
            iou = box_iou(_quad_boxes(k), first)[:, 0]
            best = int(np.argmax(iou))
            if iou[best] >= REFINE_MATCH_IOU:
                out[i].append((j, k[best] + shift))
        # Two proposals can be confirmed as the same plate: the second look's NMS, in the first
        # look's order (by decreasing score), at the second look's model's own IoU threshold.
        iou_max = float(look.config.decoder.get("iou_threshold", 0.45))
        for i, plates in enumerate(out):
            plates.sort(key=lambda t: t[0])
            if len(plates) > 1:
                boxes = _quad_boxes([q for _, q in plates])
                # nms suppresses an IoU above its threshold; here an IoU of at least iou_max does (but
                # at 0, as the detector's own NMS, plates that do not overlap at all are both kept).
                at_least = max(0.0, float(np.nextafter(iou_max, -np.inf)))
                keep = nms(boxes, -np.arange(len(plates), dtype=np.float64), at_least)
                out[i] = [plates[k] for k in sorted(keep)]
        return out

    @staticmethod
    def _unconfirmed(dets: Sequence[Any], plates: Sequence[Sequence[tuple[int, np.ndarray]]]
                     ) -> list[tuple[int, int, np.ndarray]]:
        """``(image, first-look index, first-look corners)`` of every proposal the second look did not
        confirm and whose box overlaps no kept plate's, by decreasing first-look score in each image."""
        out = []
        for i, (d, kept) in enumerate(zip(dets, plates)):
            done = {j for j, _ in kept}
            boxes = _quad_boxes([q for _, q in kept])
            for j in sorted(range(len(d)), key=lambda j: -float(d.scores[j])):
                q = np.asarray(d.keypoints[j], np.float64)
                if j in done or not np.isfinite(q).all():
                    continue
                box = _quad_boxes([q])
                if len(boxes) and box_iou(box, boxes).max() > 0:
                    continue
                out.append((i, j, q))
        return out

    def _rescued(self, owners: list[tuple[int, int, np.ndarray]], read: list[Any], kept: int
                 ) -> tuple[list[tuple[int, int, np.ndarray]], list[Any]]:
        """The confirmed plates (the first ``kept`` owners and readings) and the unconfirmed proposals after
        them whose reading is at least :attr:`rescue` confident, each (in order) unless it overlaps one
        rescued before it in its image."""
        keep = list(range(kept))
        taken: dict[int, list[np.ndarray]] = {}
        for k in range(kept, len(owners)):
            i = owners[k][0]
            q = np.asarray(read[k][0], np.float64)
            if read[k][3].confidence < self.rescue:  # type: ignore[operator]
                continue
            box = _quad_boxes([q])
            if taken.get(i) and box_iou(box, np.array(taken[i])).max() > 0:
                continue
            taken.setdefault(i, []).append(box[0])
            keep.append(k)
        return [owners[k] for k in keep], [read[k] for k in keep]

    def _read_scenes(self, images: list[np.ndarray]) -> list[PlateScene]:
        """Detector (and its second look), then every quad rectified into one OCR batch, one OCR call."""
        assert self.detector is not None
        t0 = _clock()
        dets = self.detector(images)
        t1 = _clock()
        if self.refine:
            plates = self.refine_plates(images, dets)
        else:
            plates = [[(j, d.keypoints[j]) for j in range(len(d))] for d in dets]
        t_refine = _clock()
        owners = [(i, j, q) for i in range(len(images)) for j, q in plates[i]]
        kept = len(owners)
        if self.refine and self.rescue is not None:
            owners += self._unconfirmed(dets, plates)
        read, t2 = self._read([images[i] for i, _, _ in owners], [q for _, _, q in owners]) if owners \
            else ([], t_refine)
        t3 = _clock()
        sure = {(i, j) for i, j, _ in owners[:kept]}   # what the second look confirmed
        if len(owners) > kept:
            owners, read = self._rescued(owners, read, kept)
            # a rescued plate goes where its first-look score puts it (plates by decreasing score)
            order = sorted(range(len(owners)), key=lambda k: -float(dets[owners[k][0]].scores[owners[k][1]]))
            owners, read = [owners[k] for k in order], [read[k] for k in order]
        per: list[list[PlateReading]] = [[] for _ in images]
        for (i, j, _), (q, c, ok, t, rows) in zip(owners, read):
            per[i].append(PlateReading(corners=np.asarray(q, np.float64), text=t.text, confidence=t.confidence,
                                       char_confidences=t.char_confidences, crop=c, quad_ok=ok, rows=rows,
                                       score=float(dets[i].scores[j]), confirmed=(i, j) in sure if self.refine else None,
                                       orig_shape=images[i].shape[:2], orig_img=images[i]))
        n = len(images)
        ms = {"detect": (t1 - t0) * 1e3 / n, **({"refine": (t_refine - t1) * 1e3 / n} if self.refine else {}),
              "rectify": (t2 - t_refine) * 1e3 / n, "ocr": (t3 - t2) * 1e3 / n, "total": (t3 - t0) * 1e3 / n}
        return [PlateScene(tuple(p), dict(ms), orig_shape=im.shape[:2], orig_img=im) for p, im in zip(per, images)]

    predict = __call__


__all__ = ["PlateReader", "PlateReading", "PlateScene", "DEFAULT_CORNERS", "DEFAULT_OCR", "DEFAULT_DETECTOR",
           "TWO_ROW_SPLIT", "REFINE_SCALE", "REFINE_MATCH_IOU", "REFINE_PROPOSE_CONF", "PLATE_TEXT_PATTERN",
           "REFINE_CONFIRM_CONF", "RESCUE_CONF", "resolve_rescue", "SLANT_MIN", "SLANT_RANGE", "SLANT_HEIGHT",
           "deskew_quad", "estimate_slant", "rectify_rows", "reread_two_rows"]
