"""Synthetic CCPD-style scenes of Chinese licence plates, rendered locally.

Nothing can be downloaded, so the project renders its own plate data: to train the
plate-corner regressor (``lpl_resnet18``: a scene in, 4 corners out) and the plate
reader (``plate_ocr_crnn``: a rectified 64x224 crop in, text out), to calibrate INT8
quantization, and for demos and tests.

* :func:`render_plate` / :class:`PlateRenderer` draw a flat plate (Pillow for the
  glyphs of a real CJK font, numpy/OpenCV for the rest) to the Chinese standard's
  geometry (GA 36-2018): ``blue`` and ``yellow`` 440x140 mm with 7 characters,
  ``green`` (new-energy) 480x140 mm with 8, ``yellow_double`` 440x220 mm on two rows.
* :class:`PlateSceneGenerator` puts one plate into a procedural close-up of a car's
  front or rear (the input a corner regressor sees after a plate/vehicle detector) with
  random perspective, rotation, scale and position, then (unless ``clean=True``)
  occlusion, lighting, shadows, blur, noise and JPEG artifacts. ``gen[i]`` depends on
  ``(seed, i)`` only, so several DataLoader workers can stream it in any order.
* :func:`plate_crop` rectifies a plate with :func:`edgevision.warp_quad`.
* :func:`write_dataset` writes ``images/*.jpg`` and a ``manifest.jsonl`` that
  :func:`calibration.readers.read_manifest` reads.

Conventions: images are uint8 BGR ``H x W x 3`` (as ``cv2.imread`` returns them);
points are continuous pixel coordinates ``(x, y)`` with the origin at the top-left
corner of the top-left pixel (pixel ``(i, j)`` covers ``[j, j+1] x [i, i+1]``); corners
are clockwise from top-left (TL, TR, BR, BL) and trace the plate's outer boundary (the
rectangle the rounded plate corners are cut from); ``bbox`` is ``(x1, y1, x2, y2)``;
sizes are ``(height, width)``.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgevision.preprocess import homography
from edgevision.errors import InvalidArgumentError, InvalidTypeError

from .plate_alphabet import ADS, ALPHABETS, PROVINCES
from .errors import DatasetExistsError

__all__ = [
    "DEFAULT_PLATE_WEIGHTS",
    "HELDOUT_COUNT",
    "HELDOUT_SEED",
    "PLATE_CHARS",
    "PLATE_LENGTHS",
    "PLATE_SIZES_MM",
    "PLATE_TYPES",
    "TRAIN_SEED",
    "PlateRenderer",
    "PlateSceneGenerator",
    "RenderedPlate",
    "SynthSample",
    "check_plate_text",
    "jitter_corners",
    "plate_crop",
    "random_plate_text",
    "render_plate",
    "write_dataset",
]

#: Seed of the training stream (``PlateSceneGenerator(TRAIN_SEED)``).
TRAIN_SEED = 0
#: Seed of the fixed held-out set every metric in the project is reported on.
HELDOUT_SEED = 1_000_003
#: Size of the held-out set: indices ``0 .. HELDOUT_COUNT - 1`` of ``HELDOUT_SEED``.
HELDOUT_COUNT = 500

#: Plate types, in a fixed order.
PLATE_TYPES: tuple[str, ...] = ("blue", "yellow", "green", "yellow_double")
#: Outer size of each plate type, ``(width, height)`` in millimetres (GA 36-2018).
PLATE_SIZES_MM: dict[str, tuple[int, int]] = {
    "blue": (440, 140), "yellow": (440, 140), "green": (480, 140), "yellow_double": (440, 220)}
#: Number of characters of each plate type.
PLATE_LENGTHS: dict[str, int] = {"blue": 7, "yellow": 7, "green": 8, "yellow_double": 7}
#: Default mix of plate types (probabilities).
DEFAULT_PLATE_WEIGHTS: dict[str, float] = {"blue": 0.45, "yellow": 0.2, "green": 0.25, "yellow_double": 0.1}

_PROVINCES = "".join(PROVINCES[:31])  # the 31 real provinces (no 警/学, never CCPD's "O" placeholder)
_LETTERS = "".join(ALPHABETS[:24])  # A..Z without I and O
_ADS = "".join(ADS[:34])  # letters then digits
_DIGITS = "0123456789"
#: Every character the generator can emit: 31 provinces, 24 letters, 10 digits (65).
PLATE_CHARS: str = _PROVINCES + _ADS

# ---------------------------------------------------------------------------
# Plate layouts (millimetres; GA 36-2018 with rounded values)


@dataclass(frozen=True)
class _Layout:
    size: tuple[int, int]  # (width, height) mm
    boxes: tuple[tuple[float, float, float, float], ...]  # character cells (x, y, w, h) mm
    dot: tuple[float, float, float] | None  # separator dot (cx, cy, radius) mm
    rivet_rows: tuple[float, ...]  # rivet centre y (mm): top row [, bottom row]
    rivet_xs: tuple[float, float]  # rivet centres x (mm), left and right (jittered)


def _row(x0: float, y: float, w: float, h: float, gap: float, n: int) -> list[tuple[float, float, float, float]]:
    return [(x0 + k * (w + gap), y, w, h) for k in range(n)]


def _single_row(width: int, n: int, cw: float, gap: float, dot_gap: float) -> _Layout:
    total = n * cw + (n - 2) * gap + dot_gap
    x0 = (width - total) / 2
    first = _row(x0, 25.0, cw, 90.0, gap, 2)
    x2 = x0 + 2 * cw + dot_gap
    rest = _row(x2, 25.0, cw, 90.0, gap, n - 2)
    dot = (x0 + 2 * cw + dot_gap / 2, 70.0, 5.0)
    return _Layout((width, 140), tuple(first + rest), dot, (12.0, 128.0), (0.25 * width, 0.75 * width))


_LAYOUTS: dict[str, _Layout] = {
    # 45 x 90 mm characters, 12 mm apart, 34 mm between the 2nd and 3rd (with the 10 mm dot).
    "blue": _single_row(440, 7, 45.0, 12.0, 34.0),
    "yellow": _single_row(440, 7, 45.0, 12.0, 34.0),
    # New-energy: 43 x 90 mm characters, 9 mm apart, 49 mm between the 2nd and 3rd.
    "green": _single_row(480, 8, 43.0, 9.0, 49.0),
    # Double row: 2 characters 80 x 60 mm on top, 5 characters 65 x 110 mm below, 15 mm apart.
    "yellow_double": _Layout((440, 220), tuple([(110.0, 15.0, 80.0, 60.0), (250.0, 15.0, 80.0, 60.0)]
                                               + _row(27.5, 95.0, 65.0, 110.0, 15.0, 5)),
                             None, (45.0,), (55.0, 385.0)),
}

# Nominal colours, BGR.
_BLUE_BG = (175, 72, 12)
_YELLOW_BG = (8, 192, 246)
_GREEN_TOP = (236, 246, 232)
_GREEN_BOTTOM = (95, 196, 60)
_WHITE = (245, 245, 245)
_BLACK = (22, 22, 22)


def check_plate_text(text: Any, plate_type: str) -> str:
    """Validate ``text`` for ``plate_type``; return it. Raises
    :class:`~edgevision.errors.InvalidArgumentError` naming ``text`` (length, or the
    position and the characters allowed there) or ``plate_type``.

    Every type starts with a province (one of the 31) and a letter; then ``blue``,
    ``yellow`` and ``yellow_double`` take 5 letters or digits, ``green`` 6.
    """
    plate_type = _plate_type(plate_type)
    if not isinstance(text, str):
        raise InvalidTypeError(f"text: expected a str, got {type(text).__name__}")
    n = PLATE_LENGTHS[plate_type]
    if len(text) != n:
        raise InvalidArgumentError(f"text: a {plate_type!r} plate has {n} characters, got {len(text)} in {text!r}")
    for pos, ch in enumerate(text):
        allowed, what = ((_PROVINCES, "a province character") if pos == 0 else
                         (_LETTERS, "a letter A-Z without I and O") if pos == 1 else
                         (_ADS, "a letter (no I, O) or a digit"))
        if ch not in allowed:
            raise InvalidArgumentError(f"text: character {pos + 1} of {text!r} is {ch!r}; expected {what}")
    return text


def _plate_type(plate_type: Any) -> str:
    if plate_type not in PLATE_TYPES:
        raise InvalidArgumentError(f"plate_type: expected one of {', '.join(PLATE_TYPES)}, got {plate_type!r}")
    return plate_type


def random_plate_text(plate_type: str, rng: np.random.Generator) -> str:
    """A random, realistic text for ``plate_type``.

    Province (uniform over the 31) and letter, then: ``blue``/``yellow``/``yellow_double``
    5 characters, mostly digits with 0-3 letters; ``green`` either ``D``/``F``, a letter
    or digit and 4 digits (small new-energy cars, 75%) or 5 digits and ``D``/``F``
    (large ones).
    """
    plate_type = _plate_type(plate_type)
    head = _PROVINCES[rng.integers(31)] + _LETTERS[rng.integers(24)]
    if plate_type == "green":
        df = "DF"[rng.integers(2)]
        if rng.random() < 0.75:
            tail = df + _ADS[rng.integers(34)] + "".join(_DIGITS[d] for d in rng.integers(10, size=4))
        else:
            tail = "".join(_DIGITS[d] for d in rng.integers(10, size=5)) + df
        return head + tail
    n_letters = int(rng.choice(4, p=[0.35, 0.35, 0.2, 0.1]))
    chars = [_DIGITS[d] for d in rng.integers(10, size=5)]
    for pos in rng.choice(5, size=n_letters, replace=False):
        chars[int(pos)] = _LETTERS[rng.integers(24)]
    return head + "".join(chars)


# ---------------------------------------------------------------------------
# Plate rendering


@dataclass(frozen=True, eq=False)
class RenderedPlate:
    """A flat, front-facing plate.

    Attributes:
        image: uint8 BGR ``(h, w, 3)``; the plate fills the whole array (its outer
            boundary is the array's border, ``px_per_mm`` pixels a millimetre).
        alpha: uint8 ``(h, w)``: 255 on the plate, 0 in the cut-off rounded corners.
        background: bool ``(h, w)``: plain background pixels (not a character, the
            inner border line, the dot, a rivet, nor an anti-aliased edge of one).
        text: the characters drawn; plate_type: its type; px_per_mm: the scale.
    """

    image: np.ndarray
    alpha: np.ndarray
    background: np.ndarray
    text: str
    plate_type: str
    px_per_mm: float


# Unit vectors of the 4 corner arcs of a rounded rectangle (7 points each), clockwise from top-right.
_CORNER_ARCS = np.concatenate([np.c_[np.cos(a), np.sin(a)] for a in
                               (np.deg2rad(np.linspace(a0, a0 + 90, 7)) for a0 in (-90, 0, 90, 180))])


def _rounded_rect(mask: np.ndarray, x0: float, y0: float, x1: float, y1: float, r: float, value: int) -> None:
    """Fill the rounded rectangle ``[x0, x1] x [y0, y1]`` (continuous pixels) into ``mask``, anti-aliased."""
    r = max(0.0, min(r, (x1 - x0) / 2, (y1 - y0) / 2))
    centres = np.repeat([(x1 - r, y0 + r), (x1 - r, y1 - r), (x0 + r, y1 - r), (x0 + r, y0 + r)], 7, axis=0)
    pts = centres + r * _CORNER_ARCS
    poly = np.round((pts - 0.5) * 16).astype(np.int32)  # pixel centres at +0.5; 4 fractional bits
    cv2.fillPoly(mask, [poly], value, cv2.LINE_AA, shift=4)


class PlateRenderer:
    """Draws flat plates with a CJK font, caching glyph masks per (character, cell size).

    Args:
        font: a font file; default: :func:`calibration.fonts.find_cjk_font` (checks that
            the font has a glyph for every character of :data:`PLATE_CHARS`).

    Thread-safe (the font is used under a lock; the caches are dicts filled idempotently).
    Picklable (the caches are dropped).
    """

    _MASTER_SIZE = 160  # font size (px) of the master glyphs that cells are resized from
    _CACHE_LIMIT = 20000

    def __init__(self, font: str | os.PathLike[str] | None = None) -> None:
        from .fonts import find_cjk_font

        self.font_path = find_cjk_font(PLATE_CHARS, font=font)
        self.__setstate__({"font_path": self.font_path})

    def __getstate__(self) -> dict[str, Any]:
        return {"font_path": self.font_path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.font_path = state["font_path"]
        self._font: Any = None
        self._lock = threading.Lock()
        self._masters: dict[str, np.ndarray] = {}
        self._cells: dict[tuple[str, int, int], np.ndarray] = {}

    def _master(self, ch: str) -> np.ndarray:
        """The glyph of ``ch``, cropped to its ink, uint8 0..255 (white on black)."""
        m = self._masters.get(ch)
        if m is None:
            from PIL import Image, ImageDraw, ImageFont  # host-side dependency (the `data` extra)

            n = self._MASTER_SIZE * 2
            img = Image.new("L", (n, n), 0)
            # Plate characters are a little bolder than the font's regular weight.
            stroke = 1 if ord(ch) > 0x2E80 else 2
            with self._lock:
                if self._font is None:
                    self._font = ImageFont.truetype(str(self.font_path), self._MASTER_SIZE, index=0)
                ImageDraw.Draw(img).text((n // 4, n // 4), ch, font=self._font, fill=255, stroke_width=stroke,
                                         stroke_fill=255)
            a = np.asarray(img)
            ys, xs = np.nonzero(a > 0)
            if ys.size == 0:  # cannot happen for a font that passed the cmap check; never draw an empty cell
                raise InvalidArgumentError(f"text: the font {self.font_path} draws nothing for {ch!r}")
            m = np.ascontiguousarray(a[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1])
            self._masters[ch] = m
        return m

    def glyph(self, ch: str, width: int, height: int) -> np.ndarray:
        """The mask (uint8 ``(height, w)``, ``w <= width``) of ``ch`` scaled to a character cell
        ``width x height`` pixels: the full cell height; full width for wide glyphs (CJK
        characters are squeezed into the cell, as on real plates), natural width for
        narrow ones (``1``). Cached per ``(ch, width, height)``."""
        key = (ch, width, height)
        g = self._cells.get(key)
        if g is None:
            m = self._master(ch)
            mh, mw = m.shape
            natural = mw * height / mh
            w = max(1, min(width, int(round(natural))))
            g = cv2.resize(m, (w, height), interpolation=cv2.INTER_AREA)
            if len(self._cells) >= self._CACHE_LIMIT:
                self._cells.clear()
            self._cells[key] = g
        return g

    def render(self, text: str, plate_type: str, rng: np.random.Generator | None = None, *,
               px_per_mm: float = 1.0) -> RenderedPlate:
        """Render ``text`` on a flat ``plate_type`` plate, ``px_per_mm`` pixels a millimetre.

        ``rng`` varies the colours slightly (shade, text tone), the rivets (none, two or
        four) and the embossing shadow; ``None`` draws the nominal plate without rivets.
        """
        plate_type = _plate_type(plate_type)
        check_plate_text(text, plate_type)
        s = _number(px_per_mm, "px_per_mm", 0.05, 20.0, " pixels a millimetre")
        lay = _LAYOUTS[plate_type]
        w, h = max(8, int(round(lay.size[0] * s))), max(4, int(round(lay.size[1] * s)))
        sx, sy = w / lay.size[0], h / lay.size[1]  # exact px/mm after rounding the size

        def jit(c: tuple[int, int, int], amount: float) -> np.ndarray:
            base = np.asarray(c, np.float64)
            if rng is None:
                return base
            shade = rng.uniform(1 - amount, 1 + amount)
            return np.clip(base * shade + rng.uniform(-10, 10, 3) * amount * 5, 0, 255)

        dark_text = plate_type != "blue"
        if plate_type == "green":
            top, bottom = jit(_GREEN_TOP, 0.04), jit(_GREEN_BOTTOM, 0.08)
            t = np.linspace(0.0, 1.0, h) ** 1.3  # light top half, green lower half
            col = top[None, :] * (1 - t[:, None]) + bottom[None, :] * t[:, None]
            img = np.ascontiguousarray(np.broadcast_to(
                np.round(col).astype(np.uint8)[:, None, :], (h, w, 3)))
            nominal = col.mean(axis=0)
        else:
            nominal = jit(_BLUE_BG if plate_type == "blue" else _YELLOW_BG, 0.08)
            img = np.empty((h, w, 3), np.uint8)
            img[:] = np.round(nominal).astype(np.uint8)
        ink_colour = jit(_BLACK if dark_text else _WHITE, 0.05)

        ink = np.zeros((h, w), np.uint8)  # characters, border line, dot
        for (bx, by, bw, bh), ch in zip(lay.boxes, text):
            cw, chh = max(1, int(round(bw * sx))), max(1, int(round(bh * sy)))
            g = self.glyph(ch, cw, chh)
            x0 = int(round(bx * sx + (cw - g.shape[1]) / 2))
            y0 = int(round(by * sy))
            region = ink[y0: y0 + chh, x0: x0 + g.shape[1]]
            np.maximum(region, g[: region.shape[0], : region.shape[1]], out=region)
        if lay.dot is not None:
            cx, cy, r = lay.dot
            cv2.circle(ink, (int(round(cx * sx * 16)), int(round(cy * sy * 16))), int(round(r * sx * 16)), 255,
                       -1, cv2.LINE_AA, shift=4)
        if plate_type != "green":  # inner border line: 1.5 mm wide, 2.5 mm in from the edge
            outer = np.zeros_like(ink)
            _rounded_rect(outer, 2.5 * sx, 2.5 * sy, w - 2.5 * sx, h - 2.5 * sy, 6 * sx, 255)
            inner = np.zeros_like(ink)
            _rounded_rect(inner, 4.0 * sx, 4.0 * sy, w - 4.0 * sx, h - 4.0 * sy, 4.5 * sx, 255)
            cv2.max(ink, cv2.subtract(outer, inner), dst=ink)

        if rng is not None and rng.random() < 0.5:  # embossed characters: a soft shadow down-right
            d = max(1, int(round(0.8 * sx)))
            keep = np.full((h, w), 255, np.uint8)
            keep[d:, d:] -= (ink[:-d, :-d] >> 2) + (ink[:-d, :-d] >> 3)  # darken by up to 37.5%
            img = cv2.multiply(img, cv2.merge([keep] * 3), scale=1 / 255)
        img = _blend(img, ink, ink_colour)

        busy = ink
        if rng is not None and rng.random() < 0.85:  # rivets: two on top, sometimes two below too
            rows = lay.rivet_rows if rng.random() < 0.3 else lay.rivet_rows[:1]
            chrome = rng.random() < 0.5
            rim = np.zeros((h, w), np.uint8)
            for ry in rows:
                for rx in lay.rivet_xs:
                    x = (rx + rng.uniform(-15, 15)) * sx
                    y = (ry + rng.uniform(-1.5, 1.5)) * sy
                    r = rng.uniform(3.5, 5.0) * sx
                    c = (int(round(x * 16)), int(round(y * 16)))
                    cv2.circle(rim, c, int(round(r * 16)), 255, -1, cv2.LINE_AA, shift=4)
            cap = np.array((188.0, 190.0, 192.0)) if chrome else nominal * 0.78
            img = _blend(img, rim, cap)
            busy = cv2.max(ink, rim)

        alpha = np.zeros((h, w), np.uint8)
        _rounded_rect(alpha, 0, 0, w, h, 5.0 * sx, 255)
        background = (cv2.dilate(busy, np.ones((3, 3), np.uint8)) == 0) & (alpha == 255)
        return RenderedPlate(img, alpha, background, text, plate_type, s)


def _blend(img: np.ndarray, mask: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """``img * (1 - mask/255) + colour * mask/255`` in uint8 (BGR ``colour``)."""
    m3 = cv2.merge([mask] * 3)
    c = tuple(float(v) / 255 for v in colour) + (0.0,)
    return cv2.add(cv2.multiply(img, cv2.bitwise_not(m3), scale=1 / 255), cv2.multiply(m3, c))


_DEFAULT_RENDERER: PlateRenderer | None = None


def render_plate(text: str, plate_type: str, rng: np.random.Generator | None = None, *,
                 px_per_mm: float = 1.0) -> RenderedPlate:
    """:meth:`PlateRenderer.render` with a shared renderer on the default font."""
    global _DEFAULT_RENDERER
    if _DEFAULT_RENDERER is None:
        _DEFAULT_RENDERER = PlateRenderer()
    return _DEFAULT_RENDERER.render(text, plate_type, rng, px_per_mm=px_per_mm)


# ---------------------------------------------------------------------------
# Geometry helpers


def _apply(H: np.ndarray, pts: np.ndarray) -> np.ndarray:
    p = np.c_[pts, np.ones(len(pts))] @ H.T
    return p[:, :2] / p[:, 2:3]


def _twice_area(c: np.ndarray) -> float:
    """Shoelace sum: positive for clockwise order on the image (y down)."""
    return float(np.sum(c[:, 0] * np.roll(c[:, 1], -1) - np.roll(c[:, 0], -1) * c[:, 1]))


def _convex_clockwise(q: np.ndarray) -> bool:
    e = np.roll(q, -1, axis=0) - q
    n = np.roll(e, -1, axis=0)
    return bool(np.all(e[:, 0] * n[:, 1] - e[:, 1] * n[:, 0] > 1e-9))


def _index_map(H_cont: np.ndarray, x0: int = 0, y0: int = 0) -> np.ndarray:
    """``H_cont`` (continuous source -> continuous destination) as the pixel-index map
    OpenCV's warps use, for a destination region starting at pixel ``(x0, y0)``."""
    shift = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
    unshift = np.array([[1, 0, -0.5 - x0], [0, 1, -0.5 - y0], [0, 0, 1]])
    return unshift @ H_cont @ shift


def _as_pair(value: Any, name: str, lo: float, hi: float, *, integer: bool = False, what: str = "") -> tuple:
    """A number or a (min, max) pair inside [lo, hi]."""
    vals = (value, value) if isinstance(value, (int, float, np.integer, np.floating)) else value
    try:
        a, b = vals
        ok = all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                 and math.isfinite(v) for v in (a, b))
    except (TypeError, ValueError):
        ok = False
    if not ok or (integer and (a != int(a) or b != int(b))) or not (lo <= a <= b <= hi) \
            or (name == "plate_width" and a <= 0):
        rng_text = f"(0, {hi:g}]" if name == "plate_width" else f"[{lo:g}, {hi:g}]"
        raise InvalidArgumentError(f"{name}: expected {'a whole number' if integer else 'a number'} or a (min, max) "
                                   f"pair with min <= max in {rng_text}{what}, got {value!r}")
    return (int(a), int(b)) if integer else (float(a), float(b))


def _number(value: Any, name: str, lo: float, hi: float, what: str = "") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or not lo <= value <= hi:
        raise InvalidArgumentError(f"{name}: expected a number in [{lo:g}, {hi:g}]{what}, got {value!r}")
    return float(value)


def _whole(value: Any, name: str, lo: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
        raise InvalidArgumentError(f"{name}: expected a whole number >= {lo}, got {value!r}")
    return int(value)


# ---------------------------------------------------------------------------
# Samples


@dataclass(frozen=True, eq=False)
class SynthSample:
    """One synthetic scene and its labels.

    Attributes:
        image: uint8 BGR ``(H, W, 3)``.
        corners: ``(4, 2)`` float64, pixels ``(x, y)`` (continuous, origin at the top-left
            corner of the top-left pixel), clockwise from top-left (TL, TR, BR, BL): the
            plate's outer boundary. Inside ``[0, W] x [0, H]``.
        text: the plate text; plate_type: one of :data:`PLATE_TYPES`.
        bbox: ``(4,)`` float64 ``x1, y1, x2, y2``: bounds of ``corners`` clipped to the image.
        index, seed: where it comes from (``PlateSceneGenerator(seed)[index]``).
        char_occlusion: the largest fraction (0..1) of any one character's cell that the
            scene's occluder (mud, a leaf, a bar...) covers; 0 when there is none or it
            misses every character. A character mostly hidden cannot be read from the
            image: :func:`calibration.metrics.evaluate` reports accuracy per occlusion level.
    """

    image: np.ndarray
    corners: np.ndarray
    text: str
    plate_type: str
    bbox: np.ndarray
    index: int
    seed: int
    char_occlusion: float = 0.0

    def to_manifest(self, image_rel_path: str | os.PathLike[str]) -> dict[str, Any]:
        """One manifest line as a dict (keys :data:`calibration.readers.MANIFEST_KEYS`):
        ``image`` (the path as given, POSIX separators), ``corners`` and ``bbox`` in pixels
        rounded to 1/1000 pixel, ``text``, ``plate_type``, ``char_occlusion`` rounded to 1e-4."""
        return {
            "image": Path(image_rel_path).as_posix(),
            "corners": [[round(float(x), 3), round(float(y), 3)] for x, y in self.corners],
            "text": self.text,
            "plate_type": self.plate_type,
            "bbox": [round(float(v), 3) for v in self.bbox],
            "char_occlusion": round(float(self.char_occlusion), 4),
        }


@dataclass(frozen=True)
class _Plan:
    """The geometric decisions of one sample (shared by clean and augmented versions)."""

    height: int
    width: int
    corners: np.ndarray  # (4, 2) continuous pixels
    roll: float  # in-plane rotation, radians
    plate_type: str
    text: str
    px_per_mm: float


# Car body colours (BGR) and their weights: white, silver, grey, black, red, blue, dark blue,
# brown, yellow (taxis), green.
_BODY = np.array([(235, 235, 232), (192, 192, 188), (120, 120, 118), (28, 28, 30), (40, 40, 170),
                  (150, 85, 30), (90, 40, 20), (50, 70, 100), (30, 190, 235), (60, 120, 40)], np.float32)
_BODY_P = np.array([0.24, 0.17, 0.13, 0.16, 0.08, 0.06, 0.05, 0.04, 0.04, 0.03])
_NOISE_BANK_SIZE = 768
_NOISE_SIGMAS = (2.0, 3.5, 5.0, 7.0, 9.0)  # levels of the sensor-noise banks


class PlateSceneGenerator:
    """Random but reproducible scenes of one Chinese plate on a car, ``gen[i]`` -> :class:`SynthSample`.

    Args:
        seed: non-negative integer; sample ``i`` depends only on ``(seed, i)``
            (``np.random.default_rng([seed, i])``), never on call order.
        size: ``(height, width)`` pixels of every image; default ``None``: width uniform in
            ``width_range``, height ``width * aspect`` with aspect (h/w) uniform in ``aspect_range``.
        plate_width: the plate's horizontal extent (of its corners) as a fraction of the
            image width, a number or a ``(min, max)`` range in ``(0, 1]``. It is reduced
            where a steep plate would otherwise not fit the image's height.
        plate_types: ``None`` for :data:`DEFAULT_PLATE_WEIGHTS`, a sequence of types
            (equally likely) or a ``{type: weight}`` mapping.
        clean: no photometric augmentation (lighting, shadows, colour, blur, noise, JPEG,
            plate dirt) and no occlusion; the geometry, text and background are those of
            the augmented sample with the same ``(seed, i)``.
        width_range: ``(min, max)`` image width in pixels when ``size`` is None.
        aspect_range: ``(min, max)`` height/width when ``size`` is None.
        rotation: maximum in-plane rotation, degrees (uniform in ``+-rotation``).
        yaw, pitch: maximum out-of-plane tilt about the plate's vertical / horizontal axis, degrees.
        occlusion: probability of an object covering part (at most 15%) of the plate.
        font: a CJK font file (default: :func:`calibration.fonts.find_cjk_font`).

    Speed (one core, glyphs cached per size; measured on the project's shared 2-core
    machine under load, 2026-11-22): about 11 ms of CPU for a 640x640 scene, 6 ms for
    one of the default sizes on average, 6 ms for a clean 640x640 one.
    Picklable, for DataLoader workers. Not iterable (it has no end): use
    :meth:`samples` or index it.
    """

    def __init__(self, seed: int = TRAIN_SEED, *, size: Sequence[int] | None = None,
                 plate_width: float | Sequence[float] = (0.30, 0.80),
                 plate_types: Sequence[str] | Mapping[str, float] | None = None, clean: bool = False,
                 width_range: Sequence[int] = (256, 640), aspect_range: Sequence[float] = (0.6, 1.0),
                 rotation: float = 15.0, yaw: float = 40.0, pitch: float = 25.0, occlusion: float = 0.25,
                 font: str | os.PathLike[str] | None = None) -> None:
        self.seed = _whole(seed, "seed")
        if size is None:
            self.size = None
        else:
            try:
                ok = len(size) == 2 and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                            and 32 <= v <= 8192 for v in size)
            except TypeError:
                ok = False
            if not ok:
                raise InvalidArgumentError(f"size: expected None or (height, width) whole pixels in [32, 8192], "
                                           f"got {size!r}")
            self.size = (int(size[0]), int(size[1]))
        self.plate_width = _as_pair(plate_width, "plate_width", 0.0, 1.0)
        self.width_range = _as_pair(width_range, "width_range", 32, 8192, integer=True, what=" pixels")
        self.aspect_range = _as_pair(aspect_range, "aspect_range", 0.2, 5.0, what=" (height / width)")
        self.rotation = _number(rotation, "rotation", 0, 45, " degrees")
        self.yaw = _number(yaw, "yaw", 0, 70, " degrees")
        self.pitch = _number(pitch, "pitch", 0, 70, " degrees")
        self.occlusion = _number(occlusion, "occlusion", 0, 1, " (a probability)")
        if not isinstance(clean, (bool, np.bool_)):
            raise InvalidTypeError(f"clean: expected a bool, got {clean!r}")
        self.clean = bool(clean)
        self.plate_types, self._type_p = self._weights(plate_types)
        self.renderer = PlateRenderer(font)
        self._noise: dict[int, np.ndarray] = {}

    @staticmethod
    def _weights(plate_types: Any) -> tuple[tuple[str, ...], np.ndarray]:
        if plate_types is None:
            plate_types = DEFAULT_PLATE_WEIGHTS
        if isinstance(plate_types, str):
            plate_types = (plate_types,)
        if isinstance(plate_types, Mapping):
            names, weights = tuple(plate_types), [plate_types[k] for k in plate_types]
        else:
            try:
                names = tuple(plate_types)
            except TypeError:
                raise InvalidArgumentError(f"plate_types: expected None, a sequence of plate types or a "
                                           f"{{type: weight}} mapping, got {plate_types!r}") from None
            weights = [1.0] * len(names)
        bad = [n for n in names if n not in PLATE_TYPES]
        if bad or not names or len(set(names)) != len(names):
            what = f"unknown {bad[0]!r}" if bad else "none given" if not names else "a type given twice"
            raise InvalidArgumentError(f"plate_types: {what}; expected some of {', '.join(PLATE_TYPES)}")
        try:
            w = np.asarray(weights, dtype=np.float64)
        except (TypeError, ValueError):
            w = np.array([np.nan])
        if not np.all(np.isfinite(w)) or np.any(w < 0) or not w.sum() > 0:
            raise InvalidArgumentError(f"plate_types: weights must be finite, >= 0 and not all 0, got {weights!r}")
        return names, w / w.sum()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_noise"] = {}
        return state

    __iter__ = None  # an endless stream: use samples(start, stop)

    def __repr__(self) -> str:
        return (f"PlateSceneGenerator(seed={self.seed}, size={self.size}, plate_width={self.plate_width}, "
                f"plate_types={dict(zip(self.plate_types, np.round(self._type_p, 3).tolist()))}, clean={self.clean})")

    # -- public -----------------------------------------------------------

    def __getitem__(self, index: int) -> SynthSample:
        """Sample ``index`` (a whole number >= 0)."""
        index = _whole(index, "index")
        rngs = np.random.default_rng([self.seed, index]).spawn(4)
        plate_rng, geo_rng, bg_rng, photo_rng = rngs
        plan = self._plan(geo_rng, plate_rng)
        plate = self.renderer.render(plan.text, plan.plate_type, plate_rng, px_per_mm=plan.px_per_mm)
        image, occ = self._compose(plan, plate, bg_rng, None if self.clean else photo_rng)
        c = plan.corners
        bbox = np.array([max(0.0, c[:, 0].min()), max(0.0, c[:, 1].min()),
                         min(float(plan.width), c[:, 0].max()), min(float(plan.height), c[:, 1].max())])
        corners = c.copy()
        corners.setflags(write=False)
        bbox.setflags(write=False)
        return SynthSample(image, corners, plan.text, plan.plate_type, bbox, index, self.seed, occ)

    def samples(self, start: int = 0, stop: int | None = None) -> Iterator[SynthSample]:
        """Samples ``start, start + 1, ...`` up to ``stop`` (exclusive; ``None``: endless)."""
        i = _whole(start, "start")
        if stop is not None:
            stop = _whole(stop, "stop")
        while stop is None or i < stop:
            yield self[i]
            i += 1

    def plate(self, index: int) -> RenderedPlate:
        """The flat plate drawn into sample ``index`` (same text, colours and rivets)."""
        index = _whole(index, "index")
        plate_rng, geo_rng, _, _ = np.random.default_rng([self.seed, index]).spawn(4)
        plan = self._plan(geo_rng, plate_rng)
        return self.renderer.render(plan.text, plan.plate_type, plate_rng, px_per_mm=plan.px_per_mm)

    def render_plate(self, text: str, plate_type: str, rng: np.random.Generator | None = None, *,
                     px_per_mm: float = 1.0) -> RenderedPlate:
        """A flat plate (:meth:`PlateRenderer.render`) with this generator's font and glyph cache."""
        return self.renderer.render(text, plate_type, rng, px_per_mm=px_per_mm)

    # -- geometry -----------------------------------------------------------

    def _plan(self, geo: np.random.Generator, plate_rng: np.random.Generator) -> _Plan:
        if self.size is None:
            W = int(geo.integers(self.width_range[0], self.width_range[1] + 1))
            H = max(32, int(round(W * geo.uniform(*self.aspect_range))))
        else:
            H, W = self.size
        plate_type = str(plate_rng.choice(self.plate_types, p=self._type_p))
        text = random_plate_text(plate_type, plate_rng)
        pw_mm, ph_mm = PLATE_SIZES_MM[plate_type]

        yaw = math.radians(geo.uniform(-self.yaw, self.yaw))
        pitch = math.radians(geo.uniform(-self.pitch, self.pitch))
        roll = math.radians(geo.uniform(-self.rotation, self.rotation))
        dist = pw_mm * geo.uniform(1.2, 6.0)  # camera distance: small = strong perspective
        P = np.array([[-pw_mm / 2, -ph_mm / 2, 0], [pw_mm / 2, -ph_mm / 2, 0], [pw_mm / 2, ph_mm / 2, 0],
                      [-pw_mm / 2, ph_mm / 2, 0]])
        cy, sy_ = math.cos(yaw), math.sin(yaw)
        cp, sp = math.cos(pitch), math.sin(pitch)
        cr, sr = math.cos(roll), math.sin(roll)
        Ry = np.array([[cy, 0, sy_], [0, 1, 0], [-sy_, 0, cy]])
        Rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
        Rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
        X = P @ (Rz @ Rx @ Ry).T
        q = X[:, :2] * (dist / (dist + X[:, 2:3]))
        span = q.max(axis=0) - q.min(axis=0)
        frac = geo.uniform(*self.plate_width)
        scale = min(frac * W / span[0], H / span[1])
        q = (q - q.min(axis=0)) * scale
        ext = q.max(axis=0)
        off = np.array([geo.uniform(0, max(0.0, W - ext[0])), geo.uniform(0, max(0.0, H - ext[1]))])
        corners = np.clip(q + off, 0.0, [W, H])
        # Render the flat plate at about 1.0-1.25x its size in the scene (from a fixed set of
        # scales, so that glyph masks are reused).
        top = float(np.linalg.norm(corners[1] - corners[0]))
        bottom = float(np.linalg.norm(corners[2] - corners[3]))
        want = max(top, bottom) / pw_mm
        k = math.ceil(math.log(max(want, 0.05) / 0.05, 1.25) - 1e-9)
        px_per_mm = min(20.0, 0.05 * 1.25 ** k)
        return _Plan(H, W, corners, roll, plate_type, text, px_per_mm)

    # -- drawing ------------------------------------------------------------

    def _noise_bank(self, level: int) -> np.ndarray:
        """Gaussian noise (int8, sigma ``_NOISE_SIGMAS[level]``) of a fixed seed, cut at random
        offsets: far cheaper than drawing fresh normals for every image."""
        bank = self._noise.get(level)
        if bank is None:
            g = np.random.default_rng([0x5EED, level])
            bank = np.clip(np.round(g.standard_normal((_NOISE_BANK_SIZE, _NOISE_BANK_SIZE, 3))
                                    * _NOISE_SIGMAS[level]), -127, 127).astype(np.int8)
            self._noise[level] = bank
        return bank

    def _compose(self, plan: _Plan, plate: RenderedPlate, bg: np.random.Generator,
                 photo: np.random.Generator | None) -> tuple[np.ndarray, float]:
        """The scene image and the largest fraction of a character cell its occluder covers."""
        H, W = plan.height, plan.width
        c = plan.corners
        # The plate's colours along its four edges: the body or frame touching the plate keeps
        # a contrast to them, so that the plate's outline is visible.
        ph, pw = plate.image.shape[:2]
        e = max(1, ph // 12)
        edges = np.array([cv2.mean(plate.image[:e])[:3], cv2.mean(plate.image[-e:])[:3],
                          cv2.mean(plate.image[:, :e])[:3], cv2.mean(plate.image[:, -e:])[:3]])
        framed = bg.random() < 0.55
        img = _background(bg, H, W, c, plan.roll, None if framed else edges)

        # The plate, optionally inside a holder frame (part of the warped canvas).
        s = plate.px_per_mm
        if framed:
            mx, mt = int(round(bg.uniform(3, 12) * s)), int(round(bg.uniform(3, 9) * s))
            mb = int(round(bg.uniform(3, 24) * s))
            for _ in range(8):
                tone = bg.choice(3, p=[0.6, 0.25, 0.15])
                fc = (np.full(3, bg.uniform(12, 55)) if tone == 0 else np.full(3, bg.uniform(150, 215))
                      if tone == 1 else np.clip(_BODY[bg.integers(len(_BODY))] * bg.uniform(0.6, 1.0), 0, 255))
                if _contrasts(fc, edges):
                    break

            colour = np.empty((ph + mt + mb, pw + 2 * mx, 3), np.uint8)
            colour[:] = np.round(fc).astype(np.uint8)
            alpha = np.zeros(colour.shape[:2], np.uint8)
            _rounded_rect(alpha, 0, 0, colour.shape[1], colour.shape[0], bg.uniform(4, 10) * s, 255)
            if mb > 10 and bg.random() < 0.5:  # dealer lettering on the bottom bar
                _frame_text(self.renderer, colour, mx, ph + mt, pw, mb, bg)
        else:
            mx = mt = 0
            colour = np.zeros((ph, pw, 3), np.uint8)
            alpha = np.zeros((ph, pw), np.uint8)
        pl = plate.image
        if photo is not None and photo.random() < 0.3:
            pl = _dirty(pl, photo)
        region = colour[mt: mt + ph, mx: mx + pw]
        pa3 = cv2.merge([plate.alpha] * 3)
        region[:] = cv2.add(cv2.multiply(region, cv2.bitwise_not(pa3), scale=1 / 255),
                            cv2.multiply(pl, pa3, scale=1 / 255))
        ra = alpha[mt: mt + ph, mx: mx + pw]
        cv2.max(ra, plate.alpha, dst=ra)
        # Premultiply colour by alpha so that the warp blends edges correctly.
        canvas = cv2.cvtColor(cv2.multiply(colour, cv2.merge([alpha] * 3), scale=1 / 255), cv2.COLOR_BGR2BGRA)
        canvas[:, :, 3] = alpha

        src = np.array([[mx, mt], [mx + pw, mt], [mx + pw, mt + ph], [mx, mt + ph]], np.float64)
        Hc = homography(src, c)
        ch_, cw_ = canvas.shape[:2]
        outer = _apply(Hc, np.array([[0, 0], [cw_, 0], [cw_, ch_], [0, ch_]], np.float64))
        x0 = max(0, int(math.floor(outer[:, 0].min())) - 1)
        y0 = max(0, int(math.floor(outer[:, 1].min())) - 1)
        x1 = min(W, int(math.ceil(outer[:, 0].max())) + 1)
        y1 = min(H, int(math.ceil(outer[:, 1].max())) + 1)
        if x1 > x0 and y1 > y0:
            M = _index_map(Hc, x0, y0)
            warped = cv2.warpPerspective(canvas, M, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                                         borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
            roi = img[y0:y1, x0:x1]
            inv = cv2.merge([255 - warped[:, :, 3]] * 3)
            roi[:] = cv2.add(cv2.multiply(roi, inv, scale=1 / 255), warped[:, :, :3])

        if photo is None:
            return img, 0.0
        occ = 0.0
        if photo.random() < self.occlusion:
            occ = _char_occlusion(c, _occlude(img, c, photo), plan.plate_type)
        return _photometric(img, photo, self._noise_bank), occ


def _frame_text(renderer: PlateRenderer, canvas: np.ndarray, x0: int, y0: int, w: int, h: int,
                rng: np.random.Generator) -> None:
    """Small dealer lettering (random plate characters) centred on the frame's bottom bar."""
    gh = max(4, int(h * rng.uniform(0.45, 0.7)))
    n = int(rng.integers(3, 9))
    chars = [PLATE_CHARS[i] for i in rng.integers(len(PLATE_CHARS), size=n)]
    glyphs = [renderer.glyph(ch, gh, gh) for ch in chars]
    gap = max(1, gh // 5)
    total = sum(g.shape[1] for g in glyphs) + gap * (n - 1)
    if total > w:
        return
    x = x0 + (w - total) // 2
    y = y0 + (h - gh) // 2
    colour = np.array((220, 220, 220) if canvas[0, 0, 0] < 100 else (30, 30, 30), np.float32)
    for g in glyphs:
        reg = canvas[y: y + gh, x: x + g.shape[1]]
        a = g[: reg.shape[0], : reg.shape[1]].astype(np.float32)[:, :, None] / 255
        reg[:] = (reg * (1 - a) + colour * a).astype(np.uint8)
        x += g.shape[1] + gap


def _poly(img: np.ndarray, pts: np.ndarray, colour: Any, A: np.ndarray) -> None:
    """Fill polygon ``pts`` (car-frame pixels) mapped by the 2x3 affine ``A``, anti-aliased."""
    p = pts @ A[:, :2].T + A[:, 2]
    cv2.fillPoly(img, [np.round((p - 0.5) * 16).astype(np.int32)], tuple(float(v) for v in colour), cv2.LINE_AA,
                 shift=4)


_CIRCLE = np.c_[np.cos(np.linspace(0, 2 * np.pi, 33)), np.sin(np.linspace(0, 2 * np.pi, 33))]
_HALF_CIRCLE = np.c_[np.cos(np.linspace(0, np.pi, 33)), np.sin(np.linspace(0, np.pi, 33))]


def _ellipse(cx: float, cy: float, rx: float, ry: float, half: bool = False) -> np.ndarray:
    """33 points of an ellipse (its lower half, clockwise from the right, with ``half``)."""
    return (_HALF_CIRCLE if half else _CIRCLE) * (rx, ry) + (cx, cy)


def _rect(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)


def _contrasts(colour: np.ndarray, refs: np.ndarray | None, min_diff: float = 60.0) -> bool:
    """Whether ``colour`` differs from every colour of ``refs`` by more than ``min_diff`` levels
    in some channel (always True for ``refs=None``)."""
    return refs is None or bool(np.all(np.abs(refs - colour).max(axis=1) > min_diff))


def _background(rng: np.random.Generator, H: int, W: int, corners: np.ndarray, roll: float,
                plate_edges: np.ndarray | None) -> np.ndarray:
    """A procedural close-up of a car's front or rear around the plate at ``corners``.

    Shapes are laid out in a "car frame" centred on the plate and rotated by ``roll``
    (the camera's roll) into the image. The body colour (and the bumper's, which the
    plate sits on) keeps a contrast to the plate's edge colours ``plate_edges`` (BGR rows)
    unless that is None (a frame surrounds the plate)."""
    centre = corners.mean(axis=0)
    pw = 0.5 * (np.linalg.norm(corners[1] - corners[0]) + np.linalg.norm(corners[2] - corners[3]))
    ph = 0.5 * (np.linalg.norm(corners[3] - corners[0]) + np.linalg.norm(corners[2] - corners[1]))
    cr, sr = math.cos(roll), math.sin(roll)
    # car frame (origin at the plate centre, x right, y down) -> image
    A = np.array([[cr, -sr, centre[0]], [sr, cr, centre[1]]])

    for _ in range(16):
        body = np.clip(_BODY[rng.choice(len(_BODY), p=_BODY_P)] * rng.uniform(0.85, 1.1) + rng.uniform(-12, 12, 3),
                       0, 255).astype(np.float32)
        bumper_k = rng.uniform(0.75, 1.12)
        if _contrasts(body, plate_edges) and _contrasts(np.clip(body * bumper_k, 0, 255), plate_edges):
            break

    # Low-resolution base: vertical shading, a specular band, side fall-off, texture.
    h4, w4 = max(2, H // 8), max(2, W // 8)
    yy = np.linspace(0, 1, h4, dtype=np.float32)[:, None]
    xx = np.linspace(-1, 1, w4, dtype=np.float32)[None, :]
    band_y, band_w = rng.uniform(0, 1), rng.uniform(0.05, 0.3)
    shade = (rng.uniform(0.85, 1.1) + rng.uniform(-0.25, 0.15) * yy
             + rng.uniform(0, 0.35) * np.exp(-((yy - band_y) / band_w) ** 2)
             - rng.uniform(0, 0.25) * xx ** 2)
    tex = cv2.resize(rng.standard_normal((max(2, h4 // 4), max(2, w4 // 4))).astype(np.float32), (w4, h4),
                     interpolation=cv2.INTER_CUBIC)
    shade = shade + rng.uniform(0, 0.06) * tex
    base = np.clip(shade[:, :, None] * body[None, None, :] + 12 * (shade[:, :, None] - 1), 0, 255)
    img = cv2.resize(base.astype(np.uint8), (W, H), interpolation=cv2.INTER_LINEAR)

    def col(c: Any, k: float = 1.0) -> np.ndarray:
        return np.clip(np.asarray(c, np.float32) * k, 0, 255)

    big = 2.0 * max(H, W)
    # Sky / wall at the top, road at the bottom (in image space, before the car's shapes).
    if rng.random() < 0.3:
        y_sky = rng.uniform(0, max(1.0, centre[1] - 2.5 * ph))
        sky = col((rng.uniform(180, 250), rng.uniform(160, 230), rng.uniform(120, 210)))
        _poly(img, _rect(-big, -big, big, y_sky - centre[1]), sky, A)
    road_y = rng.uniform(1.5, 4.0) * ph
    if rng.random() < 0.5:
        g = rng.uniform(60, 130)
        _poly(img, _rect(-big, road_y, big, big), col((g, g, g * rng.uniform(0.95, 1.05))), A)
        _poly(img, _rect(-big, road_y, big, road_y + rng.uniform(0.1, 0.5) * ph), col((g, g, g), 0.35), A)

    # Bumper band around the plate, with a curved lower edge.
    by0 = -rng.uniform(0.7, 1.6) * ph
    by1 = rng.uniform(0.8, 2.0) * ph
    bw = rng.uniform(1.6, 4.0) * pw
    bump = np.r_[_rect(-bw, by0, bw, 0)[:2], _ellipse(0, 0, bw, by1, half=True)]
    _poly(img, bump, col(body, bumper_k), A)
    # Panel gap / edge lines.
    for _ in range(rng.integers(1, 4)):
        y = rng.uniform(-3, 3) * ph
        if abs(y) > 0.7 * ph:
            t = max(1.0, rng.uniform(0.01, 0.05) * ph)
            _poly(img, _rect(-big, y, big, y + t), col(body, rng.uniform(0.3, 0.7)), A)
    # Grille (front) or trunk lid edge and badge (rear) above the plate.
    if rng.random() < 0.6:
        gw = rng.uniform(0.6, 1.6) * pw
        gy1 = -rng.uniform(0.65, 1.2) * ph if rng.random() < 0.7 else rng.uniform(0.2, 0.6) * ph
        gy0 = gy1 - rng.uniform(0.8, 3.0) * ph
        dark = col((rng.uniform(10, 45),) * 3)
        _poly(img, _rect(-gw, gy0, gw, gy1), dark, A)
        n = int(rng.integers(2, 10))
        slat = col((rng.uniform(90, 220),) * 3) if rng.random() < 0.5 else col(body)
        t = (gy1 - gy0) / (2 * n + 1) * rng.uniform(0.4, 1.0)
        for k in range(n):
            y = gy0 + (gy1 - gy0) * (k + 0.5) / n
            _poly(img, _rect(-gw, y - t / 2, gw, y + t / 2), slat, A)
        if rng.random() < 0.4:  # mesh: vertical bars
            for k in range(int(rng.integers(4, 16))):
                x = -gw + 2 * gw * (k + 0.5) / 16
                _poly(img, _rect(x - t / 3, gy0, x + t / 3, gy1), slat, A)
    else:
        y = -rng.uniform(0.8, 1.5) * ph
        _poly(img, _rect(-big, y - 2, big, y + 2), col(body, 0.4), A)
        if rng.random() < 0.7:
            _poly(img, _ellipse(rng.uniform(-0.2, 0.2) * pw, y - rng.uniform(0.6, 1.2) * ph, 0.25 * ph,
                                0.18 * ph), col((rng.uniform(120, 230),) * 3), A)
    # Lower air intake.
    if rng.random() < 0.5:
        iy = rng.uniform(0.8, 1.5) * ph
        iw = rng.uniform(0.6, 1.4) * pw
        _poly(img, np.array([[-iw, iy], [iw, iy], [iw * 0.85, iy + 0.8 * ph], [-iw * 0.85, iy + 0.8 * ph]]),
              col((rng.uniform(10, 50),) * 3), A)
    # Lights on both sides.
    if rng.random() < 0.7:
        rear = rng.random() < 0.5
        lx = rng.uniform(0.9, 1.8) * pw
        ly = rng.uniform(-2.0, 0.5) * ph
        lw, lh = min(rng.uniform(0.2, 0.6) * pw, lx - 0.6 * pw), rng.uniform(0.3, 0.9) * ph
        outer = col((30, 30, 200) if rear else (235, 235, 235), rng.uniform(0.7, 1.0))
        inner = col((70, 140, 240) if rear else (60, 60, 60), rng.uniform(0.7, 1.0))
        for sign in (-1, 1):
            _poly(img, _ellipse(sign * lx, ly, lw, lh), outer, A)
            _poly(img, _ellipse(sign * lx, ly, lw * 0.6, lh * 0.5), inner, A)
    # Random blobs and marks (dirt, stickers, reflections).
    for _ in range(rng.integers(0, 6)):
        x, y = rng.uniform(-W, W), rng.uniform(-H, H)
        r = rng.uniform(0.02, 0.12) * pw
        if abs(x) < 0.6 * pw + r and abs(y) < 0.6 * ph + r:
            continue  # keep marks off the plate and its immediate surroundings
        _poly(img, _ellipse(x, y, r, r * rng.uniform(0.3, 1.0)), col(body, rng.uniform(0.4, 1.5)), A)
    return img


def _dirty(plate: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Dirt or fading over a flat plate: a low-frequency blotch blended towards brown or white."""
    h, w = plate.shape[:2]
    m = cv2.resize(rng.random((4, 8)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    m = np.clip(m, 0, 1) * rng.uniform(0.15, 0.45)
    tint = np.array((60, 90, 110) if rng.random() < 0.6 else (225, 225, 225), np.float32)
    return np.clip(plate * (1 - m[:, :, None]) + tint * m[:, :, None], 0, 255).astype(np.uint8)


def _occlude(img: np.ndarray, corners: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw an object (:func:`_occluder`) over part of the plate at ``corners``; returns its polygon."""
    pts, colour = _occluder(corners, rng)
    cv2.fillPoly(img, [np.round((pts - 0.5) * 16).astype(np.int32)], colour, cv2.LINE_AA, shift=4)
    return pts


def _char_occlusion(corners: np.ndarray, occluder: np.ndarray, plate_type: str) -> float:
    """The largest fraction of one character cell (the layout's boxes, mapped through the
    plate's homography) that the ``occluder`` polygon covers, both in image pixels,
    rasterized at 1/4 pixel over the plate's bounding box."""
    lay = _LAYOUTS[plate_type]
    w_mm, h_mm = lay.size
    H = homography(np.array([[0, 0], [w_mm, 0], [w_mm, h_mm], [0, h_mm]], np.float64), corners)
    k = 4  # sub-pixel factor
    x0, y0 = np.floor(corners.min(0)) - 1
    x1, y1 = np.ceil(corners.max(0)) + 1
    shape = (int((y1 - y0) * k), int((x1 - x0) * k))
    origin = np.array([x0, y0])
    occ = np.zeros(shape, np.uint8)
    cv2.fillPoly(occ, [np.round((occluder - origin) * k * 16).astype(np.int32)], 1, cv2.LINE_8, shift=4)
    worst = 0.0
    for bx, by, bw, bh in lay.boxes:
        cell = _apply(H, np.array([[bx, by], [bx + bw, by], [bx + bw, by + bh], [bx, by + bh]], np.float64))
        m = np.zeros(shape, np.uint8)
        cv2.fillPoly(m, [np.round((cell - origin) * k * 16).astype(np.int32)], 1, cv2.LINE_8, shift=4)
        area = int(m.sum())
        if area:
            worst = max(worst, float(np.count_nonzero(m & occ)) / area)
    return worst


def _occluder(corners: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, tuple[float, ...]]:
    """A polygon (continuous pixels) and BGR colour of an object over part of the plate,
    covering at most 15% of the plate's area by construction: an ellipse of area <= 15%
    of the plate, or a straight bar whose width times the plate's longest chord is <= 15%
    of its area."""
    area = 0.5 * _twice_area(corners)
    diag = max(np.linalg.norm(corners[2] - corners[0]), np.linalg.norm(corners[3] - corners[1]))
    target = rng.uniform(0.03, 0.15) * area
    u, v = rng.uniform(0, 1, 2)
    # a random point of the plate (bilinear in its corners)
    p = (1 - v) * ((1 - u) * corners[0] + u * corners[1]) + v * ((1 - u) * corners[3] + u * corners[2])
    kind = rng.choice(3)
    colour = ((rng.uniform(0, 80),) * 3 if kind == 0 else
              (rng.uniform(30, 70), rng.uniform(90, 150), rng.uniform(100, 160)) if kind == 1 else
              (rng.uniform(90, 150), rng.uniform(130, 180), rng.uniform(180, 230)))
    if kind == 0:  # a bar (pole, strap), across the plate
        t = target / diag
        ang = rng.uniform(0, math.pi)
        d = np.array([math.cos(ang), math.sin(ang)])
        n = np.array([-d[1], d[0]])
        L = 3 * diag
        pts = np.array([p - L * d - t / 2 * n, p + L * d - t / 2 * n, p + L * d + t / 2 * n, p - L * d + t / 2 * n])
    else:  # mud / leaf (kind 1) or a hand-ish blob (kind 2): an ellipse
        aspect = rng.uniform(0.4, 1.0)
        rx = math.sqrt(target / (math.pi * aspect))
        pts = _ellipse(0, 0, rx, rx * aspect)
        ang = rng.uniform(0, math.pi)
        R = np.array([[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]])
        pts = pts @ R.T + p
    return pts, colour


def _photometric(img: np.ndarray, rng: np.random.Generator, noise_bank: Any) -> np.ndarray:
    """Lighting gradient, cast shadows and white balance, then contrast/brightness/gamma, blur,
    sensor noise and JPEG artifacts."""
    H, W = img.shape[:2]
    # Gain map at 1/4 resolution: a linear lighting ramp times shadow polygons (soft after
    # upscaling), times a white balance per channel; one multiply at full resolution.
    h4, w4 = max(2, H // 4), max(2, W // 4)
    ang = rng.uniform(0, 2 * math.pi)
    g0, g1 = rng.uniform(0.55, 1.25, 2)
    yy, xx = np.mgrid[0:h4, 0:w4].astype(np.float32)
    t = (xx / w4 - 0.5) * math.cos(ang) + (yy / h4 - 0.5) * math.sin(ang) + 0.5
    gain = g0 + (g1 - g0) * np.clip(t, 0, 1)
    if rng.random() < 0.4:
        k = rng.uniform(0.35, 0.75)  # light left in the shadow
        mask = np.zeros((h4, w4), np.uint8)
        n = int(rng.integers(3, 6))
        cx, cy = rng.uniform(0, w4), rng.uniform(0, h4)
        r = rng.uniform(0.3, 1.0) * max(h4, w4)
        angs = np.sort(rng.uniform(0, 2 * math.pi, n))
        pts = np.c_[cx + r * np.cos(angs), cy + r * np.sin(angs)]
        cv2.fillPoly(mask, [np.round((pts - 0.5) * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
        mask = cv2.GaussianBlur(mask, (0, 0), rng.uniform(0.3, 3.0))  # hard to soft edges
        gain = gain * (1 - (1 - k) / 255 * mask.astype(np.float32))
    balance = rng.uniform(0.9, 1.1, 3).astype(np.float32)
    gain3 = np.clip(gain[:, :, None] * balance * 128, 0, 255).astype(np.uint8)
    img = cv2.multiply(img, cv2.resize(gain3, (W, H), interpolation=cv2.INTER_LINEAR), scale=1 / 128)

    # Contrast, brightness, gamma: one lookup table.
    x = np.arange(256, dtype=np.float32) / 255
    lut = ((x ** rng.uniform(0.75, 1.35) - 0.5) * rng.uniform(0.7, 1.2) + 0.5 + rng.uniform(-0.08, 0.08)) * 255
    img = cv2.LUT(img, np.clip(lut, 0, 255).astype(np.uint8))

    r = rng.random()
    if r < 0.3:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.8))
    elif r < 0.5:  # motion blur: a line kernel at a random angle
        n = int(rng.integers(3, 10))
        k = np.zeros((n, n), np.float32)
        k[n // 2, :] = 1.0 / n
        rot = cv2.getRotationMatrix2D(((n - 1) / 2, (n - 1) / 2), rng.uniform(0, 180), 1.0)
        k = cv2.warpAffine(k, rot, (n, n))
        img = cv2.filter2D(img, -1, k / max(k.sum(), 1e-6))
    if rng.random() < 0.6:
        bank = noise_bank(int(rng.integers(len(_NOISE_SIGMAS))))
        y0 = int(rng.integers(0, _NOISE_BANK_SIZE - H + 1)) if H <= _NOISE_BANK_SIZE else 0
        x0 = int(rng.integers(0, _NOISE_BANK_SIZE - W + 1)) if W <= _NOISE_BANK_SIZE else 0
        noise = bank[y0: y0 + H, x0: x0 + W]
        if noise.shape[:2] != (H, W):  # images larger than the bank: tile it
            noise = np.tile(bank, (H // _NOISE_BANK_SIZE + 1, W // _NOISE_BANK_SIZE + 1, 1))[:H, :W]
        img = cv2.add(img, noise, dtype=cv2.CV_8U)
    if rng.random() < 0.6:
        _, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 96))])
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return img


# ---------------------------------------------------------------------------
# Rectified crops


def plate_crop(image: np.ndarray, corners: Any, size: Sequence[int] = (64, 224), jitter: float = 0.0,
               rng: np.random.Generator | None = None) -> np.ndarray:
    """The plate at ``corners`` rectified to ``size`` with :func:`edgevision.warp_quad`.

    Args:
        image: uint8 BGR ``(H, W, 3)``.
        corners: ``(4, 2)`` pixels ``(x, y)``, clockwise from top-left (TL, TR, BR, BL).
        size: ``(height, width)`` of the crop, pixels.
        jitter: move each corner coordinate by up to ``jitter`` times the plate height
            (the mean of its left and right edges), uniformly, to train a reader that is
            robust to corner errors; in ``[0, 0.5]``. A jittered quad that is not convex
            is drawn again (up to 20 times, then the corners are used as given).
        rng: the random generator for ``jitter`` (default: a fresh, unseeded one).

    Returns:
        uint8 BGR ``(height, width, 3)``; outside the image the kernel's pad value (114).
    """
    import edgevision

    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        got = (f"{image.dtype} array of shape {image.shape}" if isinstance(image, np.ndarray)
               else type(image).__name__)
        raise InvalidArgumentError(f"image: expected a uint8 BGR array of shape (H, W, 3), got {got}")
    try:
        q = np.array(corners, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"corners: expected 4 (x, y) points, got {corners!r}") from None
    if q.shape != (4, 2) or not np.all(np.isfinite(q)):
        raise InvalidArgumentError(f"corners: expected 4 finite (x, y) points clockwise from top-left, shape (4, 2); "
                                   f"got {q.tolist() if q.size <= 16 else q.shape}")
    q = jitter_corners(q, jitter, rng)
    return edgevision.warp_quad(image, q, tuple(size), dtype="uint8", layout="NHWC")[0]


def jitter_corners(corners: Any, jitter: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """``(4, 2)`` corners each moved by up to ``jitter`` times the plate height (see :func:`plate_crop`).

    ``jitter`` in ``[0, 0.5]``; a jittered quad that is not convex and clockwise is
    drawn again (up to 20 times, then the corners are returned as given)."""
    q = np.array(corners, dtype=np.float64)
    jitter = _number(jitter, "jitter", 0.0, 0.5, " (a fraction of the plate height)")
    if jitter > 0:
        if rng is None:
            rng = np.random.default_rng()
        h = 0.5 * (np.linalg.norm(q[3] - q[0]) + np.linalg.norm(q[2] - q[1]))
        for _ in range(20):
            cand = q + rng.uniform(-jitter * h, jitter * h, q.shape)
            if _convex_clockwise(cand):
                return cand
    return q


# ---------------------------------------------------------------------------
# Dataset writer

MANIFEST_NAME = "manifest.jsonl"


def write_dataset(out_dir: str | os.PathLike[str], count: int, *, seed: int = TRAIN_SEED, start: int = 0,
                  quality: int = 95, progress: bool = True, overwrite: bool = False, **gen_options: Any) -> Path:
    """Write samples ``start .. start + count - 1`` of ``PlateSceneGenerator(seed, **gen_options)``.

    Files: ``out_dir/images/{index:06d}.jpg`` (JPEG at ``quality``) and
    ``out_dir/manifest.jsonl`` (UTF-8, one JSON object a line, ``ensure_ascii=False``,
    keys ``image``, ``corners``, ``text``, ``plate_type``, ``bbox``: the format of
    :func:`calibration.readers.read_manifest`; image paths relative to ``out_dir``).
    The manifest is written to a temporary name and renamed at the end, so an
    interrupted run leaves no manifest.

    Args:
        count: samples to write (>= 0; 0 writes an empty manifest).
        overwrite: replace an existing manifest (and images of the same name). Other
            files are never deleted, so images of a larger earlier run stay on disk,
            unlisted.
        progress: show a tqdm progress bar (on stderr).

    Returns:
        the manifest's path.

    Raises:
        DatasetExistsError: ``out_dir`` already holds a manifest and ``overwrite`` is False.
        InvalidArgumentError: a bad ``count``, ``start``, ``seed``, ``quality``, ``out_dir``
            or generator option (named in the message).
    """
    count = _whole(count, "count")
    start = _whole(start, "start")
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) or not 1 <= quality <= 100:
        raise InvalidArgumentError(f"quality: expected a JPEG quality, a whole number in [1, 100], got {quality!r}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InvalidArgumentError(f"out_dir: {str(out)!r} exists and is not a folder")
    manifest = out / MANIFEST_NAME
    if manifest.exists() and not overwrite:
        raise DatasetExistsError(f"out_dir: {str(out)!r} already holds a dataset ({MANIFEST_NAME}); pass "
                                 f"overwrite=True (--overwrite) to replace it, or choose another folder",
                                 path=str(manifest))
    gen = PlateSceneGenerator(seed, **gen_options)  # validates the options before anything is written
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    tmp = out / (MANIFEST_NAME + ".tmp")
    bar = None
    if progress:
        from tqdm import tqdm  # host-side dependency (the `data` extra)

        bar = tqdm(total=count, desc=f"synth {out}", unit="img")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            for index in range(start, start + count):
                sample = gen[index]
                rel = f"images/{index:06d}.jpg"
                ok, buf = cv2.imencode(".jpg", sample.image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
                if not ok:  # pragma: no cover - OpenCV encodes any uint8 BGR image
                    raise InvalidArgumentError(f"image {index}: OpenCV could not encode it as JPEG")
                (out / rel).write_bytes(buf.tobytes())
                f.write(json.dumps(sample.to_manifest(rel), ensure_ascii=False) + "\n")
                if bar is not None:
                    bar.update(1)
        os.replace(tmp, manifest)
    finally:
        if bar is not None:
            bar.close()
        if tmp.exists():
            tmp.unlink()
    return manifest
