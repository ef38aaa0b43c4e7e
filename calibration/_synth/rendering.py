"""Plate rendering: a plate image from its text and type."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from edgevision.errors import InvalidArgumentError

from .geometry import _number
from .layouts import (
    PLATE_CHARS,
    _BLACK,
    _BLUE_BG,
    _GREEN_BOTTOM,
    _GREEN_TOP,
    _LAYOUTS,
    _WHITE,
    _YELLOW_BG,
    _plate_type,
    check_plate_text,
)


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
        from ..fonts import find_cjk_font

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
