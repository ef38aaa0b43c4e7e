"""Typed results of the task decoders (:mod:`edgevision.decoders`).

Conventions (they hold for every result type):

* **Coordinates** are continuous *source-image* pixels ``(x, y)``, origin at the
  top-left corner of the top-left pixel (the centre of pixel (row i, col j) is
  ``(j + 0.5, i + 0.5)``), as in :mod:`edgevision.preprocess`. Boxes are
  ``(x1, y1, x2, y2)``; quadrilaterals are clockwise from top-left (TL, TR, BR, BL).
* **Common fields**: ``orig_shape`` is the source image's ``(height, width)`` in
  pixels (``None`` when the decoder knew neither a transform nor an image), and
  ``orig_img`` is a *reference* to the source image (BGR/BGRA/gray uint8, not
  copied, not serialized, left out of ``repr``), or ``None``.
* **Construction** coerces and checks the fields (e.g. ``boxes`` becomes a
  ``(N, 4)`` float64 array) and raises :class:`~edgevision.errors.InvalidArgumentError`
  / :class:`~edgevision.errors.InvalidTypeError` naming the field.
* ``to_dict()`` returns plain JSON-serializable data: ``{"type": ..., <field>: ...}``
  with every field but ``orig_img``, arrays as (nested) lists of Python floats/ints.
* ``plot(image=None, **style)`` returns an annotated **copy** of ``image`` (default:
  ``orig_img``) and never modifies its input. A 3-channel (BGR) or 4-channel
  (BGRA, drawn opaque) image keeps its shape; a gray image (``HxW`` or ``HxWx1``)
  comes back as ``HxWx3`` BGR. Colours are BGR tuples of 0..255. Unknown style
  keys raise :class:`~edgevision.errors.InvalidArgumentError`. Shapes are drawn
  with OpenCV at 1/16-pixel precision (``shift=4``) at the continuous coordinates
  above (a point at ``(x, y)`` is drawn at pixel index ``(x - 0.5, y - 0.5)``).
* ``to_dict`` writes non-finite floats as ``nan``/``inf``, which ``json.dumps``
  emits as ``NaN``/``Infinity`` (accepted by Python's ``json``, not strict JSON).
* **Text** is drawn with OpenCV. On OpenCV 5+ the built-in ``"uni"`` font face
  (:class:`cv2.FontFace`) renders Unicode, Chinese plate characters included;
  characters it lacks (e.g. emoji) come out as ``?`` (OpenCV's rule). On older
  OpenCV (Hershey fonts only, ASCII) every non-ASCII character is written as
  ``?``. Non-printable characters (newlines, tabs...) are always written as ``?``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import numpy as np

from .checks import check_int, is_int
from .errors import InvalidArgumentError, InvalidTypeError
from .preprocess import image_channels

__all__ = [
    "KeypointsResult",
    "TextResult",
    "DetectionResult",
    "PoseResult",
    "ClassificationResult",
    "EmbeddingResult",
    "RawResult",
    "nearest_match",
]

#: Per-class colours (BGR), cycled by class id (the Ultralytics palette).
PALETTE: tuple[tuple[int, int, int], ...] = tuple(
    (int(h[4:6], 16), int(h[2:4], 16), int(h[0:2], 16))  # hex RGB -> BGR
    for h in (
        "FF3838", "FF9D97", "FF701F", "FFB21D", "CFD231", "48F90A", "92CC17", "3DDB86", "1A9334", "00D4BB",
        "2C99A8", "00C2FF", "344593", "6473FF", "0018EC", "8438FF", "520085", "CB38FF", "FF95C8", "FF37C7",
    )
)

_SHIFT = 4  # cv2 drawing: fractional bits of the coordinates
_ONE = 1 << _SHIFT
_COORD_LIMIT = float(1 << 20)  # |pixel index| clamp before fixed point (keeps shift-4 values in int32)


# ---------------------------------------------------------------------------
# Field coercion


def _array(value: Any, name: str, dtype: Any, shape: tuple[int | None, ...], what: str) -> np.ndarray:
    """``value`` as an array of ``dtype`` whose shape matches ``shape`` (``None`` = any size)."""
    try:
        a = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError):
        raise InvalidTypeError(f"{name}: expected {what}, got {type(value).__name__}") from None
    if a.size == 0 and len(shape) > 1 and a.ndim != len(shape):  # [] for "no rows"
        a = a.reshape((0,) + tuple(s or 0 for s in shape[1:]))
    if a.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, a.shape)):
        want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
        raise InvalidArgumentError(f"{name}: expected {what} of shape {want}, got shape {a.shape}")
    return a


def _shape_or_none(value: Any, name: str) -> tuple[int, int] | None:
    if value is None:
        return None
    if type(value) is tuple and len(value) == 2 and type(value[0]) is int and type(value[1]) is int \
            and value[0] >= 0 and value[1] >= 0:  # the common case, without slow ABC checks
        return value
    if (
        isinstance(value, (tuple, list, np.ndarray))
        and len(value) == 2
        and all(is_int(v) and v >= 0 for v in value)
    ):
        return (int(value[0]), int(value[1]))
    raise InvalidArgumentError(f"{name}: expected (height, width) of two non-negative ints or None, got {value!r}")


def _check_image(image: Any, name: str) -> np.ndarray:
    image_channels(image, name)  # the kernel's image checks: uint8, HxW or HxWxC with C in (1, 3, 4)
    return image


def _common(obj: Any) -> None:
    """Validates ``orig_shape`` / ``orig_img`` and fills ``orig_shape`` from the image."""
    obj.orig_shape = _shape_or_none(obj.orig_shape, "orig_shape")
    if obj.orig_img is not None:
        _check_image(obj.orig_img, "orig_img")
        hw = (int(obj.orig_img.shape[0]), int(obj.orig_img.shape[1]))
        if obj.orig_shape is None:
            obj.orig_shape = hw
        elif obj.orig_shape != hw:
            raise InvalidArgumentError(f"orig_img: shape {hw} (height, width) differs from orig_shape {obj.orig_shape}")


def _labels(value: Any, n: int, name: str) -> tuple[str | None, ...]:
    if value is None:
        return (None,) * n
    if isinstance(value, str) or not isinstance(value, (Sequence, np.ndarray)):
        raise InvalidTypeError(f"{name}: expected a sequence of {n} labels (str or None), got {type(value).__name__}")
    if len(value) != n:
        raise InvalidArgumentError(f"{name}: expected {n} labels (one per entry), got {len(value)}")
    return tuple(None if v is None else str(v) for v in value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


# ---------------------------------------------------------------------------
# Drawing helpers


_FONT_CACHE: list[Any] = []


def _unicode_font() -> Any:
    """OpenCV 5's built-in Unicode font face, or ``None`` where it does not exist (OpenCV 4)."""
    import cv2

    if not _FONT_CACHE:
        face = None
        if hasattr(cv2, "FontFace"):
            try:
                f = cv2.FontFace("uni")
                face = f if f.getName() else None
            except cv2.error:  # a build without the built-in fonts
                face = None
        _FONT_CACHE.append(face)
    return _FONT_CACHE[0]


def _printable(text: str, ascii_only: bool) -> str:
    return "".join(c if c.isprintable() and (not ascii_only or ord(c) < 128) else "?" for c in text)


def _color(value: Any, name: str) -> tuple[int, int, int]:
    try:
        c = tuple(int(round(float(v))) for v in value)
    except (TypeError, ValueError):
        raise InvalidArgumentError(
            f"{name}: expected a (B, G, R) colour of three numbers in 0..255, got {value!r}"
        ) from None
    if len(c) != 3 or not all(0 <= v <= 255 for v in c):
        raise InvalidArgumentError(f"{name}: expected a (B, G, R) colour of three numbers in 0..255, got {value!r}")
    return c  # type: ignore[return-value]


def _fixed(v: float) -> int:
    """Continuous pixel coordinate -> cv2 fixed-point pixel index (``shift=4``)."""
    return int(round(min(max(v - 0.5, -_COORD_LIMIT), _COORD_LIMIT) * _ONE))


def _text_extent(text: str, size: int) -> tuple[int, int, int]:
    """(width, ascent, descent) of ``text`` at ``size`` px, as it will be drawn."""
    import cv2

    face = _unicode_font()
    if face is not None:
        _, y0, w, h = cv2.getTextSize((0, 0), _printable(text, False), (0, 0), face, size)
        return int(w), int(-y0), int(h + y0)
    thick = max(1, size // 12)
    scale = cv2.getFontScaleFromHeight(cv2.FONT_HERSHEY_SIMPLEX, size, thick)
    (w, h), base = cv2.getTextSize(_printable(text, True), cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    return int(w), int(h), int(base)


def _draw_label(img: np.ndarray, text: str, x: int, y: int, size: int, fg: tuple, bg: tuple | None) -> tuple[int, int]:
    """Writes ``text`` with its box's top-left corner at pixel ``(x, y)``; returns the box's (width, height)."""
    import cv2

    pad = max(1, size // 6)
    w, asc, desc = _text_extent(text, size)
    bw, bh = w + 2 * pad, asc + desc + 2 * pad
    if bg is not None:
        cv2.rectangle(img, (x, y), (x + bw - 1, y + bh - 1), bg, -1)
    org = (x + pad, y + pad + asc)
    face = _unicode_font()
    if face is not None:
        cv2.putText(img, _printable(text, False), org, fg, face, size)
    else:
        thick = max(1, size // 12)
        scale = cv2.getFontScaleFromHeight(cv2.FONT_HERSHEY_SIMPLEX, size, thick)
        cv2.putText(img, _printable(text, True), org, cv2.FONT_HERSHEY_SIMPLEX, scale, fg, thick, cv2.LINE_AA)
    return bw, bh


def _banner(img: np.ndarray, lines: Sequence[str], size: int, fg: tuple, bg: tuple) -> None:
    """Stacks ``lines`` in filled boxes from the image's top-left corner (drawn over the image)."""
    y = 0
    for line in lines:
        if y >= img.shape[0]:
            break
        _, h = _draw_label(img, line, 0, y, size, fg, bg)
        y += h


def _auto_thickness(shape: tuple[int, ...]) -> int:
    return max(1, int(round((shape[0] + shape[1]) / 2 * 0.003)))


def _auto_font(shape: tuple[int, ...]) -> int:
    return int(min(max(round(min(shape[0], shape[1]) * 0.035), 12), 32))


# ---------------------------------------------------------------------------
# Base


class _Result:
    """Shared ``to_dict`` / ``plot`` machinery (the dataclasses below hold the fields)."""

    _TYPE: ClassVar[str] = ""
    #: Style keys ``plot`` accepts, with their defaults (``None`` = chosen from the image size).
    _STYLE: ClassVar[dict[str, Any]] = {}
    #: Whether the result holds source-pixel coordinates (the image must then match ``orig_shape``).
    _SPATIAL: ClassVar[bool] = False

    orig_shape: tuple[int, int] | None
    orig_img: np.ndarray | None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON: ``{"type": ..., <every field but orig_img>: lists/floats/ints/str/None}``."""
        out: dict[str, Any] = {"type": self._TYPE}
        for f in fields(self):  # type: ignore[arg-type]
            if f.name != "orig_img":
                out[f.name] = _jsonable(getattr(self, f.name))
        return out

    def plot(self, image: np.ndarray | None = None, **style: Any) -> np.ndarray:
        """An annotated copy of ``image`` (default: ``orig_img``), BGR uint8; the input is left untouched.

        See the module docs for the image and colour conventions and the class
        docs for the style keys.
        """
        import cv2  # lazily: decoding needs numpy only

        unknown = set(style) - set(self._STYLE)
        if unknown:
            raise InvalidArgumentError(
                f"{', '.join(sorted(unknown))}: unknown style key(s) for {type(self).__name__}.plot; "
                f"expected some of {sorted(self._STYLE)}"
            )
        src = self.orig_img if image is None else image
        if src is None:
            raise InvalidArgumentError(
                f"image: this {type(self).__name__} holds no orig_img (the decoder was not given images=); "
                "pass the source image as plot(image=...)"
            )
        _check_image(src, "image")
        hw = (int(src.shape[0]), int(src.shape[1]))
        if self._SPATIAL and self.orig_shape is not None and hw != tuple(self.orig_shape):
            raise InvalidArgumentError(
                f"image: shape {hw} (height, width) differs from this result's orig_shape {tuple(self.orig_shape)}; "
                "its coordinates are in the source image's pixels"
            )
        if src.ndim == 2 or src.shape[2] == 1:
            canvas = cv2.cvtColor(np.ascontiguousarray(src.reshape(hw)), cv2.COLOR_GRAY2BGR)
        else:  # BGR, or the BGR planes of BGRA (OpenCV's text renderer does not treat alpha as opaque paint)
            canvas = np.array(src[:, :, :3], dtype=np.uint8, order="C", copy=True)
        opts = dict(self._STYLE)
        opts.update(style)
        if opts.get("thickness") is None and "thickness" in opts:
            opts["thickness"] = _auto_thickness(canvas.shape)
        if opts.get("font_size") is None and "font_size" in opts:
            opts["font_size"] = _auto_font(canvas.shape)
        for key in ("thickness", "font_size", "radius"):
            v = opts.get(key)
            if v is not None:
                check_int(v, key, minimum=1, expected="a positive int (pixels)", error=InvalidArgumentError)
        self._draw(canvas, opts)
        if src.ndim == 3 and src.shape[2] == 4:  # BGRA: annotations are opaque
            alpha = np.array(src[:, :, 3], dtype=np.uint8, copy=True)
            alpha[np.any(canvas != src[:, :, :3], axis=2)] = 255
            canvas = np.dstack([canvas, alpha])
        return canvas

    def _draw(self, canvas: np.ndarray, style: dict[str, Any]) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


# ---------------------------------------------------------------------------
# Result types


@dataclass(eq=False)
class KeypointsResult(_Result):
    """Keypoints of one image, e.g. the four corners of a plate or a meter dial.

    Attributes:
        keypoints: ``(K, 2)`` float64, ``(x, y)`` in source pixels (not clipped:
            points may lie outside the image). For K == 4 the points are read as
            a quadrilateral, clockwise from top-left: TL, TR, BR, BL.
        names: K point names, or ``None``.
        class_id, label, score: the whole-image class of a model with a class head beside
            its points (``decoder.class_output``, e.g. a meter screen's ``analog`` /
            ``digital`` / ``illegible``): its id, its name (``None`` when the model has no
            ``labels``) and its probability (0..1); all ``None`` without a class head.

    ``plot`` style: ``color`` (polygon, BGR, default green), ``point_color``
    (default: one palette colour per point index), ``radius`` (px), ``thickness``
    (px), ``font_size`` (px), ``show_names`` (bool). Non-finite points are skipped.
    A class, when there is one, is written in a banner.
    """

    keypoints: np.ndarray
    names: tuple[str, ...] | None = None
    orig_shape: tuple[int, int] | None = None
    orig_img: np.ndarray | None = field(default=None, repr=False)
    class_id: int | None = None
    label: str | None = None
    score: float | None = None

    _TYPE: ClassVar[str] = "keypoints"
    _SPATIAL: ClassVar[bool] = True
    _STYLE: ClassVar[dict[str, Any]] = {
        "color": (0, 255, 0), "point_color": None, "radius": None, "thickness": None,
        "font_size": None, "show_names": True,
    }

    def __post_init__(self) -> None:
        self.keypoints = _array(self.keypoints, "keypoints", np.float64, (None, 2), "(x, y) points in source pixels")
        if self.names is not None:
            self.names = tuple(str(v) for v in _labels(self.names, len(self.keypoints), "names"))
        if self.class_id is not None:
            self.class_id = check_int(self.class_id, "class_id", minimum=0, expected="a class id >= 0 or None",
                                      error=InvalidArgumentError)
        if self.label is not None:
            self.label = str(self.label)
        if self.score is not None:
            if isinstance(self.score, bool) or not isinstance(self.score, (int, float, np.number)):
                raise InvalidTypeError(f"score: expected a number in [0, 1] or None, got {type(self.score).__name__}")
            self.score = float(self.score)
        _common(self)

    def _draw(self, canvas: np.ndarray, s: dict[str, Any]) -> None:
        import cv2

        if self.class_id is not None:
            name = self.label if self.label is not None else f"class {self.class_id}"
            _banner(canvas, [f"{name} {self.score if self.score is not None else float('nan'):.2f}"],
                    s["font_size"], (255, 255, 255), (0, 0, 0))
        t = s["thickness"]
        radius = s["radius"] or max(2, 2 * t)
        finite = np.all(np.isfinite(self.keypoints), axis=1)
        if len(self.keypoints) == 4 and finite.all():
            pts = np.array([[_fixed(x), _fixed(y)] for x, y in self.keypoints], dtype=np.int32)
            cv2.polylines(canvas, [pts], True, _color(s["color"], "color"), t, cv2.LINE_AA, _SHIFT)
        for i, ((x, y), ok) in enumerate(zip(self.keypoints, finite)):
            if not ok:
                continue
            pc = s["point_color"]
            c = _color(PALETTE[i % len(PALETTE)] if pc is None else pc, "point_color")
            cv2.circle(canvas, (_fixed(x), _fixed(y)), radius * _ONE, c, -1, cv2.LINE_AA, _SHIFT)
            if s["show_names"] and self.names is not None:
                px = int(min(max(x + radius, 0), canvas.shape[1] - 1))
                py = int(min(max(y + radius, 0), canvas.shape[0] - 1))
                _draw_label(canvas, self.names[i], px, py, s["font_size"], _color((255, 255, 255), ""), c)


@dataclass(eq=False)
class TextResult(_Result):
    """Recognized text of one image (a plate, a meter reading...).

    Attributes:
        text: the decoded string (may be empty, may hold non-ASCII such as ``"皖A12345"``).
        confidence: product of ``char_confidences`` (1.0 for an empty product), in [0, 1].
        char_confidences: per-character (CTC) or per-slot (slot OCR) probability.
        rows: ``1`` or ``2``, how many rows of text the model says the crop shows, for
            a slot OCR with a rows head (``decoder.rows``); ``None`` when the model
            does not say. :class:`~edgevision.PlateReader` re-reads a two-row plate
            with its rows side by side.

    ``plot`` writes ``text`` and ``confidence`` in a banner over the top-left of the
    image. Non-ASCII text never raises: OpenCV 5's Unicode font draws it
    (Chinese included), and where a glyph (or the font) is missing the character
    is written as ``?`` (see the module docs). Style: ``color`` (text, BGR,
    default white), ``background`` (banner, default black), ``font_size`` (px),
    ``show_confidence`` (bool).
    """

    text: str
    confidence: float
    char_confidences: tuple[float, ...] = ()
    rows: int | None = None
    orig_shape: tuple[int, int] | None = None
    orig_img: np.ndarray | None = field(default=None, repr=False)

    _TYPE: ClassVar[str] = "text"
    _STYLE: ClassVar[dict[str, Any]] = {
        "color": (255, 255, 255), "background": (0, 0, 0), "font_size": None, "show_confidence": True,
    }

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise InvalidTypeError(f"text: expected a str, got {type(self.text).__name__}")
        try:
            self.confidence = float(self.confidence)
            self.char_confidences = tuple(float(v) for v in self.char_confidences)
        except (TypeError, ValueError):
            raise InvalidTypeError("confidence, char_confidences: expected a float and a sequence of floats") from None
        if self.rows is not None:
            if not is_int(self.rows) or self.rows not in (1, 2):
                raise InvalidArgumentError(f"rows: expected 1, 2 or None, got {self.rows!r}")
            self.rows = int(self.rows)
        _common(self)

    def _draw(self, canvas: np.ndarray, s: dict[str, Any]) -> None:
        line = f"{self.text} {self.confidence:.2f}" if s["show_confidence"] else self.text
        _banner(canvas, [line], s["font_size"], _color(s["color"], "color"), _color(s["background"], "background"))


def _check_detections(r: Any) -> int:
    """Checks and converts ``r.boxes`` (N, 4) float64, ``r.scores`` (N,) float32 and ``r.classes``
    (N,) int64 of a detection-like result in place; returns N."""
    r.boxes = _array(r.boxes, "boxes", np.float64, (None, 4), "(x1, y1, x2, y2) boxes in source pixels")
    n = len(r.boxes)
    r.scores = _array(r.scores, "scores", np.float32, (n,), "one score per box")
    classes = _array(r.classes, "classes", np.float64, (n,), "one class id per box")
    if not np.all(classes == np.round(classes)):
        raise InvalidArgumentError(f"classes: expected integer class ids, got {classes.tolist()}")
    r.classes = classes.astype(np.int64)
    return n


@dataclass(eq=False)
class DetectionResult(_Result):
    """Detected objects of one image.

    Attributes:
        boxes: ``(N, 4)`` float64 ``(x1, y1, x2, y2)`` in source pixels.
        scores: ``(N,)`` float32 confidences, in decreasing order as decoded.
        classes: ``(N,)`` int64 class ids.
        labels: N class names (``None`` where unknown); default all ``None``.

    ``len(result)`` is N. ``plot`` style: ``color`` (BGR for every box; default a
    palette colour per class), ``thickness`` (px), ``font_size`` (px),
    ``show_labels``, ``show_scores`` (bool). Boxes with non-finite corners are skipped.
    """

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray
    labels: tuple[str | None, ...] | None = None
    orig_shape: tuple[int, int] | None = None
    orig_img: np.ndarray | None = field(default=None, repr=False)

    _TYPE: ClassVar[str] = "detection"
    _SPATIAL: ClassVar[bool] = True
    _STYLE: ClassVar[dict[str, Any]] = {
        "color": None, "thickness": None, "font_size": None, "show_labels": True, "show_scores": True,
    }

    def __post_init__(self) -> None:
        n = _check_detections(self)
        self.labels = _labels(self.labels, n, "labels")
        _common(self)

    def __len__(self) -> int:
        return len(self.boxes)

    def _draw(self, canvas: np.ndarray, s: dict[str, Any]) -> None:
        import cv2

        t, size = s["thickness"], s["font_size"]
        H, W = canvas.shape[:2]
        white = _color((255, 255, 255), "")
        # lowest score first, so the best boxes and their labels end up on top
        for i in np.argsort(self.scores, kind="stable"):
            box, score, cls, label = self.boxes[i], self.scores[i], int(self.classes[i]), self.labels[i]
            if not np.all(np.isfinite(box)):
                continue
            c = _color(PALETTE[cls % len(PALETTE)] if s["color"] is None else s["color"], "color")
            x1, y1, x2, y2 = box
            cv2.rectangle(canvas, (_fixed(x1), _fixed(y1)), (_fixed(x2), _fixed(y2)), c, t, cv2.LINE_AA, _SHIFT)
            parts = []
            if s["show_labels"]:
                parts.append(label if label is not None else f"class {cls}")
            if s["show_scores"]:
                parts.append(f"{float(score):.2f}")
            if parts:
                text = " ".join(parts)
                w, asc, desc = _text_extent(text, size)
                pad = max(1, size // 6)
                bw, bh = w + 2 * pad, asc + desc + 2 * pad
                # above the box's top-left corner; inside the box where that would leave the image
                top = math.floor(min(max(y1, -_COORD_LIMIT), _COORD_LIMIT)) - bh
                py = top if top >= 0 else top + bh
                px = math.floor(min(max(x1, -_COORD_LIMIT), _COORD_LIMIT))
                px = int(min(max(px, 0), max(W - bw, 0)))
                py = int(min(max(py, 0), max(H - bh, 0)))
                _draw_label(canvas, text, px, py, size, white, c)


@dataclass(eq=False)
class PoseResult(_Result):
    """Detected objects of one image with K keypoints each (YOLO-pose heads): plates and their 4 corners.

    Attributes:
        boxes: ``(N, 4)`` float64 ``(x1, y1, x2, y2)`` in source pixels (clipped to the image).
        scores: ``(N,)`` float32 confidences, in decreasing order as decoded.
        classes: ``(N,)`` int64 class ids.
        keypoints: ``(N, K, 2)`` float64 ``(x, y)`` in source pixels, not clipped (a plate
            at the frame's edge may have a corner outside it). With K == 4 a quadrilateral,
            clockwise from top-left: TL, TR, BR, BL.
        keypoint_scores: ``(N, K)`` float32 visibility scores where the model has them
            (``kpt_shape`` ``[K, 3]``), else ``None``.
        labels: N class names (``None`` where unknown); default all ``None``.
        keypoint_names: K point names, or ``None``.

    ``len(result)`` is N. ``plot`` style: the boxes as :class:`DetectionResult` draws them
    (``color``, ``thickness``, ``font_size``, ``show_labels``, ``show_scores``), then each
    object's keypoints: a closed polygon when K == 4 (``kpt_color``, default green) and a dot
    per point (``radius`` px, one palette colour per point index). Non-finite values are skipped.
    """

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray
    keypoints: np.ndarray
    keypoint_scores: np.ndarray | None = None
    labels: tuple[str | None, ...] | None = None
    keypoint_names: tuple[str, ...] | None = None
    orig_shape: tuple[int, int] | None = None
    orig_img: np.ndarray | None = field(default=None, repr=False)

    _TYPE: ClassVar[str] = "pose"
    _SPATIAL: ClassVar[bool] = True
    _STYLE: ClassVar[dict[str, Any]] = {
        **DetectionResult._STYLE, "kpt_color": (0, 255, 0), "radius": None, "show_boxes": True,
    }

    def __post_init__(self) -> None:
        n = _check_detections(self)
        self.keypoints = _array(self.keypoints, "keypoints", np.float64, (n, None, 2),
                                "K (x, y) points in source pixels per box")
        k = self.keypoints.shape[1]
        if self.keypoint_scores is not None:
            self.keypoint_scores = _array(self.keypoint_scores, "keypoint_scores", np.float32, (n, k),
                                          "one score per keypoint")
        self.labels = _labels(self.labels, n, "labels")
        if self.keypoint_names is not None:
            self.keypoint_names = tuple(str(v) for v in _labels(self.keypoint_names, k, "keypoint_names"))
        _common(self)

    def __len__(self) -> int:
        return len(self.boxes)

    def _draw(self, canvas: np.ndarray, s: dict[str, Any]) -> None:
        import cv2

        if s["show_boxes"]:
            DetectionResult._draw(self, canvas, s)  # type: ignore[arg-type]
        t = s["thickness"]
        radius = s["radius"] or max(2, 2 * t)
        kc = _color(s["kpt_color"], "kpt_color")
        for pts in self.keypoints:
            finite = np.all(np.isfinite(pts), axis=1)
            if len(pts) == 4 and finite.all():
                poly = np.array([[_fixed(x), _fixed(y)] for x, y in pts], dtype=np.int32)
                cv2.polylines(canvas, [poly], True, kc, t, cv2.LINE_AA, _SHIFT)
            for i, ((x, y), ok) in enumerate(zip(pts, finite)):
                if ok:
                    c = _color(PALETTE[i % len(PALETTE)], "")
                    cv2.circle(canvas, (_fixed(x), _fixed(y)), radius * _ONE, c, -1, cv2.LINE_AA, _SHIFT)


@dataclass(eq=False)
class ClassificationResult(_Result):
    """The top-k classes of one image.

    Attributes:
        top_classes: ``(k,)`` int64 class ids, best first.
        top_scores: ``(k,)`` float32 scores (probabilities when the decoder applied softmax).
        labels: k class names (``None`` where unknown); default all ``None``.

    ``plot`` writes one banner line per class. Style: ``color`` (text, default
    white), ``background`` (default black), ``font_size`` (px).
    """

    top_classes: np.ndarray
    top_scores: np.ndarray
    labels: tuple[str | None, ...] | None = None
    orig_shape: tuple[int, int] | None = None
    orig_img: np.ndarray | None = field(default=None, repr=False)

    _TYPE: ClassVar[str] = "classification"
    _STYLE: ClassVar[dict[str, Any]] = {"color": (255, 255, 255), "background": (0, 0, 0), "font_size": None}

    def __post_init__(self) -> None:
        classes = _array(self.top_classes, "top_classes", np.float64, (None,), "class ids")
        if not np.all(classes == np.round(classes)):
            raise InvalidArgumentError(f"top_classes: expected integer class ids, got {classes.tolist()}")
        self.top_classes = classes.astype(np.int64)
        self.top_scores = _array(self.top_scores, "top_scores", np.float32, (len(classes),), "one score per class")
        self.labels = _labels(self.labels, len(classes), "labels")
        _common(self)

    def _draw(self, canvas: np.ndarray, s: dict[str, Any]) -> None:
        lines = [
            f"{label if label is not None else f'class {int(c)}'} {float(p):.2f}"
            for c, p, label in zip(self.top_classes, self.top_scores, self.labels)
        ]
        _banner(canvas, lines, s["font_size"], _color(s["color"], "color"), _color(s["background"], "background"))


@dataclass(eq=False)
class EmbeddingResult(_Result):
    """The embedding of one image (re-identification, face or plate matching).

    Attributes:
        vector: ``(D,)`` float32, L2-normalized by the decoder (a zero vector stays
            zero; see :func:`edgevision.decoders.decode_embedding`).

    ``plot`` writes the dimension and norm in a banner. Style: ``color``,
    ``background``, ``font_size``.
    """

    vector: np.ndarray
    orig_shape: tuple[int, int] | None = None
    orig_img: np.ndarray | None = field(default=None, repr=False)

    _TYPE: ClassVar[str] = "embedding"
    _STYLE: ClassVar[dict[str, Any]] = {"color": (255, 255, 255), "background": (0, 0, 0), "font_size": None}

    def __post_init__(self) -> None:
        self.vector = _array(self.vector, "vector", np.float32, (None,), "an embedding vector")
        _common(self)

    def nearest(self, gallery: Any, k: int = 1, *, normalized: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` gallery rows most cosine-similar to this vector: ``(indices (k,), similarities (k,))``.

        ``gallery`` is ``(M, D)``; see :func:`nearest_match` (``normalized=True``
        asserts the gallery rows are already L2-normalized).
        """
        return nearest_match(self.vector, gallery, k=k, normalized=normalized)

    def _draw(self, canvas: np.ndarray, s: dict[str, Any]) -> None:
        line = f"embedding D={self.vector.shape[0]} |v|={float(np.linalg.norm(self.vector)):.3f}"
        _banner(canvas, [line], s["font_size"], _color(s["color"], "color"), _color(s["background"], "background"))


@dataclass(eq=False)
class RawResult(_Result):
    """Undecoded model outputs of one image: ``outputs`` maps output names to arrays.

    ``to_dict`` writes each array as nested lists. ``plot`` lists the outputs'
    names, shapes and dtypes in a banner. Style: ``color``, ``background``, ``font_size``.
    """

    outputs: dict[str, np.ndarray]
    orig_shape: tuple[int, int] | None = None
    orig_img: np.ndarray | None = field(default=None, repr=False)

    _TYPE: ClassVar[str] = "raw"
    _STYLE: ClassVar[dict[str, Any]] = {"color": (255, 255, 255), "background": (0, 0, 0), "font_size": None}

    def __post_init__(self) -> None:
        if not isinstance(self.outputs, Mapping):
            raise InvalidTypeError(f"outputs: expected a dict of name -> array, got {type(self.outputs).__name__}")
        out = {}
        for name, value in self.outputs.items():
            if not isinstance(name, str):
                raise InvalidTypeError(f"outputs: keys must be output names (str), got {name!r}")
            out[name] = np.asarray(value)
        self.outputs = out
        _common(self)

    def _draw(self, canvas: np.ndarray, s: dict[str, Any]) -> None:
        lines = [f"{name}: {tuple(a.shape)} {a.dtype}" for name, a in self.outputs.items()] or ["(no outputs)"]
        _banner(canvas, lines, s["font_size"], _color(s["color"], "color"), _color(s["background"], "background"))


# ---------------------------------------------------------------------------
# Matching


def nearest_match(query: Any, gallery: Any, k: int = 1, normalized: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` gallery rows with the highest cosine similarity to each query.

    Args:
        query: ``(D,)`` or ``(Q, D)`` embeddings.
        gallery: ``(M, D)`` embeddings, M >= 1.
        k: how many matches per query; clipped to M (so the result has ``min(k, M)`` columns).
        normalized: ``True`` asserts every row is already L2-normalized, so the
            similarity is the plain dot product. ``False`` normalizes copies first;
            a zero row then has similarity 0 to everything.

    Returns:
        ``(indices, similarities)``, int64 and float, best first: shapes ``(k,)``
        for a 1-d query, ``(Q, k)`` for a 2-d one. Similarities are float32 when
        both inputs are float32 (or narrower), float64 otherwise. One matrix
        product ``(Q, D) @ (D, M)`` and an ``argpartition`` (O(Q*M) memory for
        the similarity matrix); ties are broken arbitrarily.
    """
    q = _finite_matrix(query, "query", (1, 2))
    g = _finite_matrix(gallery, "gallery", (2,))
    single = q.ndim == 1
    q2 = q[None, :] if single else q
    if q2.shape[1] != g.shape[1]:
        raise InvalidArgumentError(
            f"query, gallery: dimensions differ: query has D={q2.shape[1]}, "
            f"gallery has shape {g.shape} (expected (M, {q2.shape[1]}))"
        )
    if g.shape[0] == 0:
        raise InvalidArgumentError("gallery: expected (M, D) with M >= 1 rows, got an empty gallery")
    check_int(k, "k", minimum=1, expected="a positive int", error=InvalidArgumentError)
    dtype = np.result_type(q2.dtype, g.dtype, np.float32)
    if dtype not in (np.float32, np.float64):
        dtype = np.dtype(np.float64)
    q2 = q2.astype(dtype, copy=False)
    g = g.astype(dtype, copy=False)
    if not normalized:
        q2 = _l2_normalize(q2)
        g = _l2_normalize(g)
    sims = q2 @ g.T  # (Q, M)
    m = sims.shape[1]
    k = min(int(k), m)
    if k < m:
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(m), sims.shape)
    part_sims = np.take_along_axis(sims, part, axis=1)
    order = np.argsort(-part_sims, axis=1, kind="stable")
    idx = np.take_along_axis(part, order, axis=1).astype(np.int64)
    best = np.take_along_axis(part_sims, order, axis=1)
    return (idx[0], best[0]) if single else (idx, best)


def _finite_matrix(value: Any, name: str, ndims: tuple[int, ...]) -> np.ndarray:
    try:
        a = np.asarray(value)
    except (TypeError, ValueError):
        raise InvalidTypeError(f"{name}: expected a numeric array, got {type(value).__name__}") from None
    if a.dtype.kind not in "fiu":
        raise InvalidTypeError(f"{name}: expected a numeric (float or int) array, got dtype {a.dtype}")
    if a.ndim not in ndims:
        want = " or ".join({1: "(D,)", 2: "(Q, D)" if name == "query" else "(M, D)"}[d] for d in ndims)
        raise InvalidArgumentError(f"{name}: expected shape {want}, got {a.shape}")
    if a.shape[-1] == 0:
        raise InvalidArgumentError(f"{name}: expected D >= 1 dimensions, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise InvalidArgumentError(f"{name}: contains NaN or infinite values")
    return a


def _l2_normalize(a: np.ndarray) -> np.ndarray:
    """Rows divided by their L2 norm; all-zero rows stay zero."""
    norm = np.linalg.norm(a, axis=-1, keepdims=True)
    return np.divide(a, norm, out=np.zeros_like(a), where=norm > 0)
