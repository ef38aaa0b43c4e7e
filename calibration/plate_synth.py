"""Plate crops that look like real photographs, for training the plate OCR.

:mod:`calibration.synth` renders whole scenes with a desktop CJK font; a reader trained
on those alone reads 11% of real plate crops. This module renders the crop the OCR
actually sees, closer to a camera's:

* **The real plate typeface.** Glyph images of the GA 36 plate characters (single-row,
  double-row and new-energy sets, MIT, ``calibration/assets/plate_typeface``, see its
  README), not a desktop font.
* **Capture effects.** Defocus and motion blur, low resolution then upscaling, sensor
  noise, JPEG at low quality, night and overexposure, desaturation and colour casts,
  faded and dirty plates, shadows and glare, screws, frames and rivets.
* **Crop geometry.** The quad the crop is rectified from is as tight as a hand-cut crop
  (the box around the characters) or as loose as a detector's box (:data:`QUAD_MODES`),
  corners jittered, slightly rotated, and the crop is rendered at a random native
  resolution (from 60 to 300 px wide) before it is resized to the model input, as a
  real crop is.

:class:`RealisticCrops` is deterministic: ``gen[i]`` depends on ``(seed, i)`` only.

Conventions: images are uint8 BGR ``(H, W, 3)``; sizes are ``(height, width)``; the
output crop is already at the OCR model's input size (``size``), resized with
``cv2.INTER_LINEAR``, which the edgevision kernel's ``stretch`` mode matches bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgevision.checks import is_int
from edgevision.errors import InvalidArgumentError

from .synth import _LAYOUTS, _blend, _Layout, _rounded_rect, random_plate_text

__all__ = ["ASSET_DIR", "CROP_PLATE_TYPES", "SPECIAL_HELDOUT_SEED", "CropSample", "RealChars", "special_heldout", "SPECIAL_PLATES", "special_plate_text", "RealisticCrops", "Typeface", "capture_effects", "char_box", "contact_sheet", "loose_quad", "warp_glyph",
           "render_flat_plate"]

#: The plate typeface glyphs (PNG, white ink on black, 96 px high, cropped to the ink).
ASSET_DIR = Path(__file__).parent / "assets" / "plate_typeface"

#: Plate types :class:`RealisticCrops` draws, and their default mix (probabilities). The real crops
#: users read are mostly blue and yellow single-row plates; double-row plates come from
#: :mod:`calibration.synth` scenes in the OCR recipe's mixture. The special single-row types
#: (:data:`SPECIAL_PLATES`) have no real samples here: synthesis carries them.
CROP_PLATE_TYPES: dict[str, float] = {"blue": 0.55, "yellow": 0.2, "green": 0.13, "police": 0.03, "coach": 0.02,
                                      "trailer": 0.02, "hk_macau": 0.02, "consulate": 0.015, "embassy": 0.015}

#: Special plates: type -> (plate colour, text colour, red characters, how the text is made).
#: police: white, black text, a red 警 last (京A1234警); coach: yellow, 学 last; trailer: yellow,
#: 挂 last; hk_macau: black, white text, 粤Z then 4 and 港 or 澳; consulate: black, white text, a red
#: 领 last; embassy: black, white text, a red 使 first, then 6 digits (使014578).
SPECIAL_PLATES: dict[str, tuple[str, str, str]] = {
    "police": ("white", "black", "警"), "coach": ("yellow", "black", ""), "trailer": ("yellow", "black", ""),
    "hk_macau": ("black", "white", ""), "consulate": ("black", "white", "领"), "embassy": ("black", "white", "使"),
}


def special_plate_text(plate_type: str, rng: np.random.Generator) -> str:
    """A random text for a :data:`SPECIAL_PLATES` type (7 characters): the serial characters are
    drawn like a blue plate's (:func:`calibration.synth.random_plate_text`: mostly digits)."""
    from .synth import _DIGITS

    if plate_type not in SPECIAL_PLATES:
        raise InvalidArgumentError(f"plate_type: expected one of {', '.join(SPECIAL_PLATES)}, got {plate_type!r}")
    base = random_plate_text("blue", rng)  # province, letter, 5 serial characters
    if plate_type == "embassy":
        return "使" + "".join(_DIGITS[d] for d in rng.integers(10, size=6))
    if plate_type == "hk_macau":
        return "粤Z" + base[2:6] + "港澳"[rng.integers(2)]
    if plate_type == "consulate":
        return base[0] + "A" + "".join(_DIGITS[d] for d in rng.integers(10, size=4)) + "领"
    return base[:6] + {"police": "警", "coach": "学", "trailer": "挂"}[plate_type]


class Typeface:
    """Glyph masks of the plate typeface, ``uint8 (h, w)`` white on black.

    Styles: ``"140"`` (single-row plates), ``"green"`` (new-energy plates), ``"220"``
    (double-row provinces and digits), ``"220_up"`` / ``"220_down"`` (double-row letters,
    top and bottom row). A character a style lacks falls back to ``"140"``.
    """

    def __init__(self, directory: str | Path = ASSET_DIR) -> None:
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise InvalidArgumentError(f"directory: {self.directory} is not a folder of plate glyphs")
        self._glyphs: dict[tuple[str, str], np.ndarray] = {}
        for f in sorted(self.directory.glob("*.png")):
            style, _, ch = f.stem.rpartition("_")
            img = cv2.imdecode(np.fromfile(str(f), np.uint8), cv2.IMREAD_GRAYSCALE)
            if img is not None and len(ch) == 1:
                self._glyphs[(style, ch)] = img
        if not self._glyphs:
            raise InvalidArgumentError(f"directory: no glyph PNG (STYLE_CHAR.png) in {self.directory}")

    @property
    def characters(self) -> str:
        """Every character of the ``"140"`` style, sorted."""
        return "".join(sorted(ch for style, ch in self._glyphs if style == "140"))

    def mask(self, ch: str, style: str = "140") -> np.ndarray:
        """The glyph of ``ch`` in ``style`` (falls back to ``"140"``)."""
        g = self._glyphs.get((style, ch))
        if g is None:
            g = self._glyphs.get(("140", ch))
        if g is None:
            raise InvalidArgumentError(f"text: the plate typeface has no glyph for {ch!r}")
        return g


@lru_cache(maxsize=4)
def _typeface(directory: str) -> Typeface:
    return Typeface(directory)


class RealChars:
    """Real segmented plate characters (``chars/`` of the real data: EasyPR's set, 20x20 binarized,
    usable for training and synthesis; see its ``SOURCES.md``) as glyph masks, so that plates can
    be drawn with real strokes: ``mask(ch, rng)`` is a random sample of ``ch``, cropped to its ink,
    ``uint8`` white on black, or ``None`` when the set has no sample of ``ch``.

    ``root``: the folder with ``labels.tsv`` (``path<TAB>char``, ``#`` header).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        labels = self.root / "labels.tsv"
        if not labels.is_file():
            raise InvalidArgumentError(f"root: {self.root} has no labels.tsv of real characters")
        self._paths: dict[str, list[Path]] = {}
        for line in labels.read_text(encoding="utf-8").splitlines():
            if not line or line.startswith("#"):
                continue
            rel, _, ch = line.partition("\t")
            if len(ch) == 1:
                self._paths.setdefault(ch, []).append(self.root / rel)
        self._cache: dict[Path, np.ndarray | None] = {}

    @property
    def characters(self) -> str:
        return "".join(sorted(self._paths))

    def mask(self, ch: str, rng: np.random.Generator) -> np.ndarray | None:
        paths = self._paths.get(ch)
        if not paths:
            return None
        path = paths[int(rng.integers(len(paths)))]
        if path not in self._cache:
            img = cv2.imdecode(np.fromfile(str(path), np.uint8), cv2.IMREAD_GRAYSCALE) if path.is_file() else None
            if img is not None:
                ys, xs = np.nonzero(img > 127)
                img = img[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1] if ys.size > 8 else None
            if img is not None:  # upsample smoothly: the glyph is then resized to its cell
                img = cv2.resize(img, (img.shape[1] * 4, img.shape[0] * 4), interpolation=cv2.INTER_LINEAR)
                img = cv2.GaussianBlur(img, (0, 0), 1.2)
            self._cache[path] = img
        return self._cache[path]


@lru_cache(maxsize=2)
def _real_chars(root: str) -> RealChars:
    return RealChars(root)


# Nominal plate colours (BGR) of real photographs, with the spread seen across cameras.
_BG = {"blue": ((168, 78, 22), (25, 20, 18)), "yellow": ((20, 170, 215), (15, 25, 25)),
       "green": ((120, 205, 120), (20, 20, 25)), "white": ((225, 225, 222), (15, 15, 15)),
       "black": ((28, 28, 26), (10, 10, 10))}
_INK = {"black": (28.0, 28.0, 28.0), "white": (235.0, 235.0, 235.0)}
_RED = (40.0, 40.0, 200.0)


def _centred(lay: _Layout, gap: float) -> _Layout:
    """A single-row layout of :mod:`calibration.synth` with the characters centred as GA 36 has
    them: its third and later characters (and the dot) move right by one ``gap`` (that layout
    leaves out the gap between the second character and the dot; its held-out set is kept as is)."""
    boxes = tuple(b if k < 2 else (b[0] + gap, *b[1:]) for k, b in enumerate(lay.boxes))
    dot = None if lay.dot is None else (lay.dot[0] + gap / 2, *lay.dot[1:])
    return _Layout(lay.size, boxes, dot, lay.rivet_rows, lay.rivet_xs)


#: The layouts this module draws (GA 36, millimetres).
LAYOUTS: dict[str, _Layout] = {"blue": _centred(_LAYOUTS["blue"], 12.0), "yellow": _centred(_LAYOUTS["yellow"], 12.0),
                               "green": _centred(_LAYOUTS["green"], 9.0), "yellow_double": _LAYOUTS["yellow_double"]}


def _layout(plate_type: str) -> _Layout:
    return LAYOUTS["blue" if plate_type in SPECIAL_PLATES else plate_type]


def _glyph_style(plate_type: str, row: int, ch: str) -> str:
    if plate_type == "green":
        return "green"
    if plate_type == "yellow_double":
        if ch.isascii() and ch.isalpha():
            return "220_up" if row == 0 else "220_down"
        return "220"
    return "140"


def warp_glyph(mask: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    """A glyph mask distorted like another font's or another camera's: a random affine within
    its cell (horizontal scale ``1 +- 0.15*amount``, shear ``+- 0.15*amount``, rotation
    ``+- 3*amount`` degrees), a smooth elastic displacement (about ``1.2*amount`` % of the glyph
    height) and, with probability ``0.4*amount``, a thinner or bolder stroke. Same shape and dtype."""
    h, w = mask.shape
    sx = 1 + rng.uniform(-0.15, 0.1) * amount
    sy = 1 + rng.uniform(-0.06, 0.03) * amount
    sh = rng.uniform(-0.15, 0.15) * amount
    rot = rng.uniform(-3, 3) * amount
    A = cv2.getRotationMatrix2D((w / 2, h / 2), rot, 1.0)
    A = A @ np.array([[sx, sh, (1 - sx) * w / 2 - sh * h / 2], [0, sy, (1 - sy) * h / 2], [0, 0, 1]])
    out = cv2.warpAffine(mask, A, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    amp = 0.012 * amount * h
    if amp > 0.3:
        gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
        dx = cv2.resize(rng.normal(0, 1, (4, 3)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC) * amp
        dy = cv2.resize(rng.normal(0, 1, (4, 3)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC) * amp
        out = cv2.remap(out, gx + dx, gy + dy, cv2.INTER_LINEAR, borderValue=0)
    if rng.random() < 0.4 * amount:
        k = np.ones((2, 2), np.uint8)
        out = cv2.erode(out, k) if rng.random() < 0.5 else cv2.dilate(out, k)
    return out


def render_flat_plate(text: str, plate_type: str, rng: np.random.Generator, typeface: Typeface | None = None,
                      real_chars: RealChars | None = None, glyph_warp: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A flat, front-facing plate at 1 px a millimetre in the plate typeface.

    Returns ``(image, alpha)``: uint8 BGR ``(h, w, 3)`` with the plate filling the array
    (GA 36 geometry of :mod:`calibration.synth`) and its uint8 ``(h, w)`` mask (0 in the
    cut rounded corners). Colours, stroke weight, character placement, the embossing
    shadow, rivets and a faded or dirty surface vary with ``rng``. With ``real_chars``, each
    character of a single-row plate is a real segmented character where the set has one.
    ``glyph_warp`` > 0 distorts each character (:func:`warp_glyph`); 0 leaves the stream of
    random numbers, and so the plate, as it was without the option.
    """
    tf = typeface or _typeface(str(ASSET_DIR))
    special = SPECIAL_PLATES.get(plate_type)
    lay = _layout(plate_type)
    w, h = lay.size
    if special:
        colour, text_colour, red = special
    else:
        colour = "blue" if plate_type == "blue" else "green" if plate_type == "green" else "yellow"
        text_colour, red = ("white" if plate_type == "blue" else "black"), ""
    mean, spread = _BG[colour]
    bg = np.clip(np.asarray(mean, np.float64) + rng.normal(0, 1, 3) * np.asarray(spread) * 0.6, 0, 255)
    if plate_type == "green":  # light top fading into green
        t = np.linspace(0.0, 1.0, h) ** 1.3
        top = np.clip(np.array([235.0, 245.0, 232.0]) + rng.normal(0, 6, 3), 0, 255)
        col = top[None] * (1 - t[:, None]) + bg[None] * t[:, None]
        img = np.ascontiguousarray(np.broadcast_to(col[:, None, :], (h, w, 3))).astype(np.uint8)
    else:
        img = np.empty((h, w, 3), np.uint8)
        img[:] = np.round(bg).astype(np.uint8)
    # Gentle large-scale shading of the plate surface (paint, bending, dirt).
    grad = cv2.resize(rng.normal(1.0, 0.06, (3, 5)), (w, h), interpolation=cv2.INTER_CUBIC)
    img = np.clip(img * grad[..., None], 0, 255).astype(np.uint8)

    ink = np.zeros((h, w), np.uint8)
    red_ink = np.zeros((h, w), np.uint8)
    weight = rng.choice([-1, 0, 0, 1, 2])  # stroke weight: thinner, as drawn, bolder
    for k, ((bx, by, bw, bh), ch) in enumerate(zip(lay.boxes, text)):
        row = 0 if (plate_type == "yellow_double" and k < 2) else 1
        g = real_chars.mask(ch, rng) if real_chars is not None and plate_type != "yellow_double" else None
        if g is None:
            g = tf.mask(ch, _glyph_style(plate_type, row, ch))
        ch_h = int(round(bh * rng.uniform(0.96, 1.02)))
        natural = g.shape[1] * ch_h / g.shape[0]
        cw = max(1, min(int(round(bw * 1.05)), int(round(natural))))
        if not ch.isascii():  # CJK glyphs fill the cell width
            cw = int(round(bw))
        gm = cv2.resize(g, (cw, ch_h), interpolation=cv2.INTER_AREA)
        if glyph_warp > 0:
            gm = warp_glyph(gm, rng, glyph_warp)
        x0 = int(round(bx + (bw - cw) / 2 + rng.uniform(-1.5, 1.5)))
        y0 = int(round(by + (bh - ch_h) / 2 + rng.uniform(-1.5, 1.5)))
        x0, y0 = max(0, min(w - cw, x0)), max(0, min(h - ch_h, y0))
        region = (red_ink if ch in red else ink)[y0: y0 + ch_h, x0: x0 + cw]
        np.maximum(region, gm[: region.shape[0], : region.shape[1]], out=region)
    if weight:
        k = np.ones((2, 2) if abs(weight) == 1 else (3, 3), np.uint8)
        ink = cv2.erode(ink, k) if weight < 0 else cv2.dilate(ink, k)
        red_ink = cv2.erode(red_ink, k) if weight < 0 else cv2.dilate(red_ink, k)
    if lay.dot is not None:
        cx, cy, r = lay.dot
        cv2.circle(ink, (int(round(cx * 16)), int(round(cy * 16))), int(round(r * 16)), 255, -1, cv2.LINE_AA, shift=4)
    if plate_type != "green" and plate_type != "embassy":  # the inner border line
        outer, inner = np.zeros_like(ink), np.zeros_like(ink)
        _rounded_rect(outer, 2.5, 2.5, w - 2.5, h - 2.5, 6, 255)
        _rounded_rect(inner, 4.0, 4.0, w - 4.0, h - 4.0, 4.5, 255)
        cv2.max(ink, cv2.subtract(outer, inner), dst=ink)
    if rng.random() < 0.6:  # embossed characters: a soft shadow
        d = int(rng.integers(1, 3))
        both = cv2.max(ink, red_ink)
        keep = np.full((h, w), 255, np.uint8)
        keep[d:, d:] -= (both[:-d, :-d] >> 2) + (both[:-d, :-d] >> 3)
        img = cv2.multiply(img, cv2.merge([keep] * 3), scale=1 / 255)
    ink_col = np.asarray(_INK[text_colour]) + rng.normal(0, 12, 3)
    img = _blend(img, ink, np.clip(ink_col, 0, 255))
    if red:
        img = _blend(img, red_ink, np.clip(np.asarray(_RED) + rng.normal(0, 12, 3), 0, 255))
    if rng.random() < 0.8:  # rivets / screws
        rows = lay.rivet_rows if rng.random() < 0.3 else lay.rivet_rows[:1]
        chrome = rng.random() < 0.5
        rim = np.zeros((h, w), np.uint8)
        for ry in rows:
            for rx in lay.rivet_xs:
                c = (int(round((rx + rng.uniform(-15, 15)) * 16)), int(round((ry + rng.uniform(-1.5, 1.5)) * 16)))
                cv2.circle(rim, c, int(round(rng.uniform(3.5, 5.5) * 16)), 255, -1, cv2.LINE_AA, shift=4)
        cap = np.array((190.0, 192.0, 194.0)) if chrome else bg * 0.7
        img = _blend(img, rim, cap)
    if rng.random() < 0.35:  # dirt: soft dark blotches
        dirt = np.zeros((h, w), np.float32)
        for _ in range(int(rng.integers(2, 12))):
            cv2.circle(dirt, (int(rng.integers(w)), int(rng.integers(h))), int(rng.integers(3, 25)),
                       float(rng.uniform(0.1, 0.45)), -1)
        dirt = cv2.GaussianBlur(dirt, (0, 0), 4)
        img = np.clip(img * (1 - dirt[..., None]) + np.array([40.0, 60.0, 75.0]) * dirt[..., None], 0, 255
                      ).astype(np.uint8)
    alpha = np.zeros((h, w), np.uint8)
    _rounded_rect(alpha, 0, 0, w, h, 5.0, 255)
    return img, alpha


def _surround(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Car body around the plate: a flat or graded paint colour with texture and edges."""
    base = rng.choice([rng.uniform(10, 60, 3), rng.uniform(150, 240, 3), rng.uniform(40, 200, 3)])
    img = np.empty((h, w, 3), np.float32)
    img[:] = base
    grad = cv2.resize(rng.normal(1.0, 0.25, (3, 4)), (w, h), interpolation=cv2.INTER_CUBIC)
    img *= np.clip(grad, 0.3, 1.8)[..., None]
    for _ in range(int(rng.integers(0, 4))):  # bumper edges, grille bars
        y = int(rng.integers(h))
        cv2.line(img, (0, y), (w, y + int(rng.integers(-10, 10))), rng.uniform(0, 255, 3).tolist(),
                 int(rng.integers(1, 8)))
    img += rng.normal(0, rng.uniform(2, 10), (h, w, 1)).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def capture_effects(img: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """A camera's degradations on a uint8 BGR crop at its native resolution.

    In order, each with its own probability (times ``strength`` for the strong ones):
    lighting (gamma, contrast and brightness: night, overexposure, faded plates),
    desaturation and a colour cast, a shadow or glare band, defocus or motion blur,
    low resolution (down then up), sensor noise, JPEG at quality 12..95.
    """
    h, w = img.shape[:2]
    f = img.astype(np.float32) / 255.0
    # Lighting.
    gamma = math.exp(rng.normal(0, 0.35))
    f = f ** gamma
    contrast = rng.uniform(0.45, 1.25) if rng.random() < 0.7 * strength else 1.0
    bright = rng.uniform(-0.25, 0.3) if rng.random() < 0.6 * strength else 0.0
    f = (f - 0.5) * contrast + 0.5 + bright
    if rng.random() < 0.5 * strength:  # desaturate: grey night shots, washed-out plates
        gray = f.mean(axis=2, keepdims=True)
        a = rng.uniform(0.2, 0.85)
        f = f * (1 - a) + gray * a
    if rng.random() < 0.6:  # colour cast
        f = f * rng.uniform(0.8, 1.2, 3).astype(np.float32)
    if rng.random() < 0.25 * strength:  # shadow or glare across the plate
        x = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
        y = np.linspace(-1, 1, h, dtype=np.float32)[:, None]
        ang = rng.uniform(0, np.pi)
        band = np.cos(ang) * x + np.sin(ang) * y - rng.uniform(-0.8, 0.8)
        soft = 1 / (1 + np.exp(-band * rng.uniform(3, 20)))
        if rng.random() < 0.5:
            f = f * (1 - rng.uniform(0.3, 0.7) * soft[..., None])
        else:
            f = f + rng.uniform(0.2, 0.6) * soft[..., None] * (1 - f)
    f = np.clip(f, 0, 1)
    out = (f * 255 + 0.5).astype(np.uint8)
    # Blur.
    r = rng.random()
    if r < 0.45:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.3, 0.9 + 0.5 * strength) * max(1.0, h / 40))
    elif r < 0.6:
        n = int(rng.integers(2, 6 + int(3 * strength)))
        k = np.zeros((n, n), np.float32)
        k[n // 2] = 1.0
        rot = cv2.getRotationMatrix2D((n / 2 - 0.5, n / 2 - 0.5), rng.uniform(0, 180), 1.0)
        k = cv2.warpAffine(k, rot, (n, n))
        out = cv2.filter2D(out, -1, k / max(k.sum(), 1e-6))
    if rng.random() < 0.25 * strength:  # low resolution, then upscaled
        s = rng.uniform(0.45, 0.85)
        small = cv2.resize(out, (max(8, int(w * s)), max(4, int(h * s))), interpolation=cv2.INTER_AREA)
        out = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.8:  # sensor noise
        sigma = rng.uniform(1, 4 + 8 * strength)
        out = np.clip(out + rng.normal(0, sigma, out.shape if rng.random() < 0.5 else (h, w, 1)), 0, 255
                      ).astype(np.uint8)
    if rng.random() < 0.75:
        q = int(rng.uniform(12 + 40 * (1 - strength), 95))
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, q])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return out


#: How tight the quads of :func:`loose_quad` are: (mode, probability). ``chars``: the box around
#: the characters, as tight crops of real plates are (the plate border cut off, the characters
#: touching or slightly cut by the crop's edges); ``plate``: the plate's outer boundary, as corner
#: labels give it; ``loose``: a detector's box with room around the plate.
QUAD_MODES: tuple[tuple[str, float], ...] = (("chars", 0.4), ("plate", 0.35), ("loose", 0.25))


def char_box(plate_type: str) -> tuple[float, float, float, float]:
    """The box around a plate type's character cells, ``(x0, y0, x1, y1)`` millimetres
    (= pixels of :func:`render_flat_plate`), from the GA 36 layout."""
    boxes = np.asarray(_layout(plate_type).boxes, np.float64)
    return (float(boxes[:, 0].min()), float(boxes[:, 1].min()), float((boxes[:, 0] + boxes[:, 2]).max()),
            float((boxes[:, 1] + boxes[:, 3]).max()))


def loose_quad(w: float, h: float, rng: np.random.Generator,
               chars: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """A quad around a plate whose outer rectangle is ``[0, w] x [0, h]``, as a corner model,
    a detector or a person cropping tightly gives it (:data:`QUAD_MODES`; ``chars`` is the box
    around the characters, :func:`char_box`, default the plate's 11%-89% x 18%-82%): margins
    per side relative to the chosen box, each corner jittered by up to 3% of the plate height,
    and a small rotation. TL, TR, BR, BL, convex and clockwise."""
    if chars is None:
        chars = (0.035 * w, 0.18 * h, 0.965 * w, 0.82 * h)
    modes = [m for m, _ in QUAD_MODES]
    mode = modes[int(rng.choice(len(modes), p=[p for _, p in QUAD_MODES]))]
    if mode == "chars":
        x0, y0, x1, y1 = chars
        mx = rng.uniform(-0.015, 0.03, 2) * (x1 - x0)
        my = rng.uniform(-0.04, 0.08, 2) * (y1 - y0)
    elif mode == "plate":
        x0, y0, x1, y1 = 0.0, 0.0, w, h
        mx = rng.uniform(-0.02, 0.03, 2) * w
        my = rng.uniform(-0.06, 0.06, 2) * h
    else:
        x0, y0, x1, y1 = 0.0, 0.0, w, h
        mx = rng.uniform(0.0, 0.08, 2) * w
        my = rng.uniform(0.0, 0.3, 2) * h
    q = np.array([[x0 - mx[0], y0 - my[0]], [x1 + mx[1], y0 - my[0]], [x1 + mx[1], y1 + my[1]],
                  [x0 - mx[0], y1 + my[1]]])
    q += rng.uniform(-0.03, 0.03, (4, 2)) * h
    ang = math.radians(rng.normal(0, 1.5))
    c = q.mean(0)
    rot = np.array([[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]])
    return (q - c) @ rot.T + c


@dataclass(frozen=True)
class RealisticCrops:
    """``gen[i]`` -> ``(crop, text, plate_type)``: a realistic plate crop, uint8 BGR at ``size``.

    Args:
        seed: the stream's seed; ``(seed, i)`` fixes sample ``i``.
        size: the output ``(height, width)`` (the OCR model's input).
        plate_types: the mix of :data:`CROP_PLATE_TYPES` (type -> weight).
        strength: scales the strong capture effects (0 = mild, 1 = default).
        real_chars: a folder of real segmented characters (:class:`RealChars`); a plate is then
            drawn with them with probability ``real_char_p``.
        glyph_warp: per-character distortion (:func:`warp_glyph`), 0 (none) to 1.
    """

    seed: int = 0
    size: tuple[int, int] = (64, 256)
    plate_types: Mapping[str, float] | None = None
    strength: float = 1.0
    real_chars: str | None = None
    real_char_p: float = 0.35
    glyph_warp: float = 0.0

    def __post_init__(self) -> None:
        types = dict(self.plate_types or CROP_PLATE_TYPES)
        bad = [t for t in types if t not in CROP_PLATE_TYPES]  # yellow_double: calibration.synth scenes
        if bad:
            raise InvalidArgumentError(f"plate_types: {bad} not drawable here (expected some of "
                                       f"{', '.join(CROP_PLATE_TYPES)})")
        if len(self.size) != 2 or min(self.size) < 8:
            raise InvalidArgumentError(f"size: expected (height, width) of at least 8 px, got {self.size!r}")

    def _types(self) -> tuple[list[str], np.ndarray]:
        types = dict(self.plate_types or CROP_PLATE_TYPES)
        p = np.asarray(list(types.values()), np.float64)
        return list(types), p / p.sum()

    def __getitem__(self, i: int) -> tuple[np.ndarray, str, str]:
        rng = np.random.default_rng([self.seed, int(i), 11])
        names, p = self._types()
        plate_type = names[int(rng.choice(len(names), p=p))]
        text = (special_plate_text(plate_type, rng) if plate_type in SPECIAL_PLATES
                else random_plate_text(plate_type, rng))
        rc = _real_chars(str(self.real_chars)) if self.real_chars and rng.random() < self.real_char_p else None
        plate, alpha = render_flat_plate(text, plate_type, rng, real_chars=rc, glyph_warp=self.glyph_warp)
        ph, pw = plate.shape[:2]
        pad = int(0.5 * ph)
        canvas = _surround(rng, ph + 2 * pad, pw + 2 * pad)
        if rng.random() < 0.3:  # a plate holder frame
            t = int(rng.integers(3, 10))
            cv2.rectangle(canvas, (pad - t, pad - t), (pad + pw + t, pad + ph + t),
                          rng.uniform(0, 255, 3).tolist(), -1)
        a = (alpha.astype(np.float32) / 255)[..., None]
        roi = canvas[pad: pad + ph, pad: pad + pw]
        canvas[pad: pad + ph, pad: pad + pw] = (plate * a + roi * (1 - a)).astype(np.uint8)
        quad = loose_quad(pw, ph, rng, char_box(plate_type)) + pad
        # Native crop size: a real camera's plate width in pixels.
        nw = int(round(math.exp(rng.uniform(math.log(60), math.log(300)))))
        nh = max(8, int(round(nw * rng.uniform(0.22, 0.34))))
        scale = nw / pw
        if scale < 0.5:  # pre-shrink so the warp does not alias
            k = 2 * scale
            canvas = cv2.resize(canvas, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
            quad = quad * k
        dst = np.array([[0, 0], [nw, 0], [nw, nh], [0, nh]], np.float32)
        H = cv2.getPerspectiveTransform(quad.astype(np.float32), dst)
        crop = cv2.warpPerspective(canvas, H, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        crop = capture_effects(crop, rng, self.strength)
        crop = cv2.resize(crop, (self.size[1], self.size[0]), interpolation=cv2.INTER_LINEAR)
        return np.ascontiguousarray(crop), text, plate_type

    def samples(self, start: int, stop: int) -> list[tuple[np.ndarray, str, str]]:
        """``[self[i] for i in range(start, stop)]``."""
        return [self[i] for i in range(start, stop)]


#: Seed of the synthetic held-out special plates (the OCR recipe trains on ``calibration.synth.TRAIN_SEED``).
SPECIAL_HELDOUT_SEED = 3_000_017


@dataclass(frozen=True, eq=False)
class CropSample:
    """A labelled plate crop, read whole by ``calibration.metrics.evaluate`` (no corners)."""

    image: np.ndarray
    text: str
    plate_type: str


def special_heldout(count_per_type: int = 40, size: tuple[int, int] = (64, 256)) -> list[CropSample]:
    """The synthetic held-out set of the :data:`SPECIAL_PLATES` types, which have no real samples
    here: ``count_per_type`` crops of each (seed :data:`SPECIAL_HELDOUT_SEED`, moderate capture
    effects, ``strength=0.5``), in type order. Deterministic."""
    if not is_int(count_per_type) or count_per_type < 1:
        raise InvalidArgumentError(f"count_per_type: expected a positive int, got {count_per_type!r}")
    out = []
    for k, t in enumerate(SPECIAL_PLATES):
        gen = RealisticCrops(SPECIAL_HELDOUT_SEED + k, tuple(size), {t: 1.0}, strength=0.5)
        out += [CropSample(*gen[i]) for i in range(count_per_type)]
    return out


def contact_sheet(crops: Sequence[np.ndarray], cols: int = 4) -> np.ndarray:
    """Tile same-size crops into one image, ``cols`` a row (for looking at the data)."""
    crops = list(crops)
    if not crops:
        raise InvalidArgumentError("crops: expected at least one image")
    h, w = crops[0].shape[:2]
    rows = math.ceil(len(crops) / cols)
    sheet = np.zeros((rows * h, cols * w, 3), np.uint8)
    for k, c in enumerate(crops):
        r, q = divmod(k, cols)
        sheet[r * h:(r + 1) * h, q * w:(q + 1) * w] = c
    return sheet
