"""Synthetic utility-meter photos and rectified meter screens (seed 001), with their labels.

Two-stage meter reading (seed 001, issue 18):

- **stage 1** finds the screen's 4 corners in *reading* orientation (TL, TR, BR, BL
  clockwise from the top-left of the digits, so an upside-down meter keeps its
  reading order) and the meter class (:data:`METER_CLASSES`);
- **stage 2** works on the rectified screen (:data:`SCREEN_SIZE`): a RetinaNet-style
  detector (``meter_digits``) finds boxes of two classes, ``digit`` and ``decimal``
  (the area of the digits after the decimal point), and a small classifier
  (``meter_digit_cls``) reads every digit box; the reading is the digits sorted by
  x, with ``.`` before the first digit inside the decimal box.

This module draws both: :func:`render_screen` a rectified screen with its digit boxes,
drum positions and reading; :func:`render_scene` a whole photo of a meter holding such
a screen, with its corners and class. Everything is drawn with OpenCV (Hershey
strokes and polygons, no font files; ``fonts="many"`` also draws drum digits in the TrueType faces
matplotlib ships, for training), and is deterministic per ``seed``
(``numpy.random.default_rng(seed)``; same seed, same pixels).

Screens come in two styles, modelled on the real sets in ``../shared/data/real/meters/``:

- ``analog``: an odometer window of rolling drums. A drum at position ``p`` (steps,
  ``[0, 10)``) shows digit ``floor(p)`` moved up by ``frac(p)`` of the digit pitch and
  ``floor(p) + 1`` coming in from below, on a cylinder (compressed and darker near the
  window's top and bottom), like haverland's drum crops (``3.7`` shows mostly a 4 with
  the foot of a 3 above it). The last drum turns freely; a higher drum is half-rolled
  when the one below it is past 9 (the carry), plus a little mechanical play. Decimal
  drums are red (red drums, or red digits on white) after an optional separator.
- ``digital``: a seven-segment LCD (dark segments on a grey-green panel, faint unlit
  segments, slanted or upright, uneven light), a decimal point and the decimal
  digits after it, sometimes smaller and in a framed area, like PhilBrockman's photos.

Conventions: images are uint8 BGR; points and boxes are ``(x, y)`` continuous pixel
coordinates (the top-left corner of the top-left pixel is ``(0, 0)``), boxes
``x0, y0, x1, y1``; sizes are ``(height, width)``. A reading's digit is the drum's
*nearest whole digit* (``floor(p + 0.5) % 10``: 3.4 -> 3, 3.6 -> 4, 9.7 -> 0).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

# The classifier's view of a digit box: one definition, the runtime's (MeterReader crops with it).
from edgevision.meters import DIGIT_CROP_SIZE, digit_crop

__all__ = ["SCREEN_SIZE", "METER_CLASSES", "SCREEN_STYLES", "BOX_CLASSES", "DRUM_GEOMETRIES", "MeterScreen",
           "DRUM_FONTS", "MeterScene", "render_screen", "render_scene", "nearest_digit", "reading_from_positions",
           "screen_homography", "digit_crop", "DIGIT_CROP_SIZE"]

#: (h, w) px of the rectified screen: the digit detector's input size.
SCREEN_SIZE = (96, 256)
#: Stage-1 meter classes.
METER_CLASSES = ("analog", "digital", "illegible")
#: Screen styles (the legible meter classes).
SCREEN_STYLES = ("analog", "digital")
#: Geometries of the analog renderer's drums. ``"v1"`` (the default, and the one every held-out synthetic
#: set of the benchmarks draws): digits 0.62-0.8 of the window's height, a pitch of 1-1.25 window heights,
#: a drum radius of 0.75 window heights (about 0.7 pitch). Its half-rolled drums show an almost empty
#: window with slivers of two digits at its edges (the glyph's ink, width-limited, is about 0.42 of the window).
#: ``"v2"`` (2026-12-06): drums as haverland's real crops show them: the ink of a digit 0.7-0.86 of the
#: window's height, a pitch of 1.15-1.4 digit heights, a radius of 1.2-2 pitches (mild curvature), so a drum
#: half-way between two digits shows the lower half of one and the upper half of the next, both large.
DRUM_GEOMETRIES = ("v1", "v2")
_V2_DIGIT_H = (0.7, 0.86)
_V2_PITCH = (1.15, 1.4)
_V2_RADIUS = (1.2, 2.0)
#: Stage-2 detector classes.
BOX_CLASSES = ("digit", "decimal")
_SH, _SW = SCREEN_SIZE
#: Width of a seven-segment ``1``'s labelled box, a fraction of its cell's (:func:`_one_box`; the real LCD
#: train labels: 10th / 50th / 90th percentile 0.50 / 0.68 / 0.96 of the other digits' width in the row).
ONE_BOX_WIDTH = 0.65
_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX)
#: The analog drums' typefaces. ``"hershey"`` (the default, and what every held-out synthetic set of the
#: benchmarks draws): OpenCV's Hershey SIMPLEX or DUPLEX. ``"many"`` (2026-12-06, for training): a third
#: of the windows in one of four Hershey faces (SIMPLEX, DUPLEX, COMPLEX, TRIPLEX), two thirds in one of
#: :data:`TTF_FACES` (the TrueType fonts matplotlib ships: needs matplotlib and Pillow, the host-side
#: extras), and 60% of the windows condensed (glyphs 0.65-1 as wide), as real drum fonts vary.
DRUM_FONTS = ("hershey", "many")
#: The TrueType faces of ``fonts="many"``: file names in matplotlib's ``mpl-data/fonts/ttf``.
TTF_FACES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf",
             "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "STIXGeneral.ttf", "STIXGeneralBol.ttf",
             "cmss10.ttf", "cmr10.ttf", "cmtt10.ttf", "cmb10.ttf")
_MANY_HERSHEY = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
                 cv2.FONT_HERSHEY_TRIPLEX)


@dataclass
class MeterScreen:
    """A rectified meter screen and its stage-2 labels.

    Attributes:
        image: (96, 256, 3) uint8 BGR, the rectified screen (:data:`SCREEN_SIZE`).
        style: ``"analog"`` (odometer drums) or ``"digital"`` (seven-segment LCD).
        boxes: (K, 4) float32 ``x0, y0, x1, y1`` px in ``image``: the digit boxes left
            to right, then one ``decimal`` box around the digits after the point.
        classes: ``"digit"`` or ``"decimal"`` per box.
        positions: (number of digit boxes,) float32 drum positions in steps, ``[0, 10)``
            (e.g. 3.7 = 70% of the way from 3 to 4); whole for an LCD; in box order.
        reading: integer digits, ``"."``, decimal digits, each the nearest whole digit
            of its position (e.g. ``"01234.56"``).
    """

    image: np.ndarray
    style: str
    boxes: np.ndarray
    classes: list[str]
    positions: np.ndarray
    reading: str

    @property
    def digit_boxes(self) -> np.ndarray:
        """(D, 4) float32: the ``digit`` boxes, left to right."""
        return self.boxes[[i for i, c in enumerate(self.classes) if c == "digit"]].reshape(-1, 4)


@dataclass
class MeterScene:
    """A photo of a meter and its labels for both stages.

    Attributes:
        image: (H, W, 3) uint8 BGR photo.
        corners: (4, 2) float32 px, the screen's corners TL, TR, BR, BL in *reading*
            orientation (a rotated or upside-down meter keeps its reading order); they
            may lie outside the image when the screen is cropped.
        meter_class: one of :data:`METER_CLASSES`.
        screen: what ``edgevision.warp_quad(image, corners, SCREEN_SIZE)`` shows, with
            the screen's labels (its ``reading`` is what is drawn, even when illegible).
        reading: the reading, ``""`` when the meter is illegible.
    """

    image: np.ndarray
    corners: np.ndarray
    meter_class: str
    screen: MeterScreen
    reading: str


def nearest_digit(position: float) -> int:
    """The nearest whole digit of a drum position in steps: ``floor(p + 0.5) % 10`` (3.4 -> 3, 9.6 -> 0)."""
    return int(math.floor(float(position) + 0.5)) % 10


def reading_from_positions(positions: np.ndarray, decimals: int) -> str:
    """``"IIII.DD"`` from drum positions (left to right) and the number of decimal digits."""
    digits = "".join(str(nearest_digit(p)) for p in positions)
    if decimals <= 0:
        return digits
    return digits[:len(digits) - decimals] + "." + digits[len(digits) - decimals:]


def screen_homography(corners: np.ndarray) -> np.ndarray:
    """3x3 homography from screen px (continuous) to the scene px of ``corners`` (TL, TR, BR, BL)."""
    src = np.array([[0, 0], [_SW, 0], [_SW, _SH], [0, _SH]], np.float32)
    return cv2.getPerspectiveTransform(src, np.asarray(corners, np.float32)).astype(np.float64)


def _cv_matrix(h: np.ndarray) -> np.ndarray:
    """A continuous-coordinate homography as OpenCV's pixel-centre matrix (for warpPerspective)."""
    t = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
    ti = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]])
    return ti @ h @ t


# --- glyphs ----------------------------------------------------------------------------------


def _put_text(img: np.ndarray, text: str, org: tuple[int, int], font: int, scale: float,
              color: tuple[float, ...], thickness: int) -> None:
    """``cv2.putText`` on a float32 image (OpenCV draws text on uint8 only): through a uint8 mask."""
    mask = np.zeros(img.shape[:2], np.uint8)
    cv2.putText(mask, text, org, font, scale, 255, thickness, cv2.LINE_AA)
    a = (mask.astype(np.float32) / 255)[..., None]
    img[:] = img * (1 - a) + np.array(color, np.float32) * a


@dataclass(frozen=True)
class _Face:
    """A TrueType face of :data:`TTF_FACES`, drawn by Pillow."""

    name: str


def _ttf_path(name: str) -> str:
    try:
        import matplotlib
    except ImportError as e:  # pragma: no cover - the host-side extras bring it
        raise ImportError("fonts='many' draws matplotlib's TrueType fonts: pip install matplotlib pillow") from e
    from pathlib import Path

    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name
    if not path.is_file():
        raise FileNotFoundError(f"{path}: a font of TTF_FACES is missing from this matplotlib")
    return str(path)


@functools.lru_cache(maxsize=512)
def _ttf_ink(name: str, ch: str, stroke: int) -> np.ndarray:
    """uint8 (H, W) ink of ``ch`` in face ``name`` at 128 px, ``stroke`` px bolder, cropped to its ink."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(_ttf_path(name), 128)
    im = Image.new("L", (256, 256), 0)
    ImageDraw.Draw(im).text((128, 128), ch, fill=255, font=font, anchor="mm", stroke_width=stroke,
                            stroke_fill=255)
    a = np.asarray(im)
    ys, xs = np.flatnonzero(a.max(1) > 0), np.flatnonzero(a.max(0) > 0)
    return np.ascontiguousarray(a[ys[0]:ys[-1] + 1, xs[0]:xs[-1] + 1])


def _glyph(ch: str, h: int, w: int, font: int | _Face, weight: float, italic: float = 0.0,
           condense: float = 1.0) -> np.ndarray:
    """A white-on-black float32 mask (h, w) of character ``ch``, drawn 4x larger then reduced.

    ``font``: a Hershey font (``cv2.FONT_HERSHEY_*``) or a TrueType :class:`_Face`; ``weight``: stroke
    weight (about 0.9-1.6); ``italic``: shear; ``condense``: the glyph's width scale (1 = its own shape)."""
    k = 4
    H, W = h * k, w * k
    if condense != 1.0:
        W = max(1, int(round(W / condense)))     # drawn wider, then squeezed to w
    canvas = np.zeros((H, W), np.uint8)
    if isinstance(font, _Face):
        ink = _ttf_ink(font.name, ch, int(round(max(0.0, weight - 0.9) * 6)))
        s = min(0.78 * H / ink.shape[0], 0.86 * W / ink.shape[1])
        gh, gw = max(1, int(round(ink.shape[0] * s))), max(1, int(round(ink.shape[1] * s)))
        y0, x0 = (H - gh) // 2, (W - gw) // 2
        canvas[y0:y0 + gh, x0:x0 + gw] = cv2.resize(ink, (gw, gh), interpolation=cv2.INTER_AREA)
    else:
        thick = max(1, int(round(weight * H / 9)))
        (tw, th), _ = cv2.getTextSize(ch, font, 1.0, thick)
        scale = min(0.78 * H / th, 0.86 * W / max(tw, 1))
        thick = max(1, int(round(weight * H / 9)))
        (tw, th), base = cv2.getTextSize(ch, font, scale, thick)
        cv2.putText(canvas, ch, ((W - tw) // 2, (H + th) // 2), font, scale, 255, thick, cv2.LINE_AA)
    if italic:
        m = np.float32([[1, -italic, italic * H / 2], [0, 1, 0]])
        canvas = cv2.warpAffine(canvas, m, (W, H))
    return cv2.resize(canvas, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255


def _drum_face(rng: np.random.Generator, fonts: str) -> tuple[int | _Face, float]:
    """A window's drum typeface and condensing (:data:`DRUM_FONTS`)."""
    if fonts == "hershey":
        return _FONTS[rng.integers(len(_FONTS))], 1.0
    if rng.random() < 1 / 3:
        face: int | _Face = _MANY_HERSHEY[int(rng.integers(len(_MANY_HERSHEY)))]
    else:
        face = _Face(TTF_FACES[int(rng.integers(len(TTF_FACES)))])
    return face, (1.0 if rng.random() < 0.4 else float(rng.uniform(0.65, 1.0)))


#: Seven segments as (x0, y0, x1, y1) in a unit cell (x right, y down): a b c d e f g.
_SEGMENTS = {"a": (0.15, 0.0, 0.85, 0.0), "b": (1.0, 0.05, 1.0, 0.47), "c": (1.0, 0.53, 1.0, 0.95),
             "d": (0.15, 1.0, 0.85, 1.0), "e": (0.0, 0.53, 0.0, 0.95), "f": (0.0, 0.05, 0.0, 0.47),
             "g": (0.15, 0.5, 0.85, 0.5)}
_DIGIT_SEGMENTS = {0: "abcdef", 1: "bc", 2: "abdeg", 3: "abcdg", 4: "bcfg", 5: "acdfg", 6: "acdefg",
                   7: "abc", 8: "abcdefg", 9: "abcdfg"}


def _seven_segment(mask: np.ndarray, digit: int | None, x0: float, y0: float, w: float, h: float,
                   thick: float, slant: float, six_tail: bool, seven_tail: bool, nine_tail: bool,
                   segments: str | None = None) -> None:
    """Draw a seven-segment digit (or ``segments``) into float mask ``mask`` (value 1), 4x supersampled coords."""
    if segments is None:
        segments = _DIGIT_SEGMENTS[digit]
        if digit == 6 and not six_tail:
            segments = segments.replace("a", "")
        if digit == 7 and seven_tail:
            segments += "f"
        if digit == 9 and not nine_tail:
            segments = segments.replace("d", "")
    k = 4
    for s in segments:
        sx0, sy0, sx1, sy1 = _SEGMENTS[s]
        p0 = np.array([x0 + sx0 * w + slant * (1 - sy0) * h, y0 + sy0 * h])
        p1 = np.array([x0 + sx1 * w + slant * (1 - sy1) * h, y0 + sy1 * h])
        d = p1 - p0
        n = np.array([-d[1], d[0]]) / (np.linalg.norm(d) + 1e-9) * thick / 2
        u = d / (np.linalg.norm(d) + 1e-9) * thick / 2
        poly = np.array([p0 - u * 0.2, p0 + n * 0.9 + u * 0.8, p1 + n * 0.9 - u * 0.8, p1 + u * 0.2,
                         p1 - n * 0.9 - u * 0.8, p0 - n * 0.9 + u * 0.8])
        cv2.fillPoly(mask, [np.round(poly * k * 8).astype(np.int32)], 1.0, cv2.LINE_AA, shift=3)


# --- screens ---------------------------------------------------------------------------------


def _drum_positions(rng: np.random.Generator, n: int) -> np.ndarray:
    """Odometer drum positions (left to right): the last turns freely, the carry half-rolls the others."""
    pos = np.zeros(n, np.float64)
    pos[-1] = rng.uniform(0, 10)
    for i in range(n - 2, -1, -1):
        d = rng.integers(0, 10)
        lower = pos[i + 1]
        frac = lower - 9.0 if lower >= 9.0 else 0.0
        pos[i] = d + frac
    if rng.random() < 0.5:              # mechanical play and drums caught mid-roll
        pos += rng.normal(0, 0.06, n)
        for i in np.flatnonzero(rng.random(n) < 0.2):
            pos[i] = math.floor(pos[i]) + rng.uniform(0, 1)
    return np.mod(pos, 10.0).astype(np.float32)


def _cylinder_strip(position: float, ch: int, cw: int, pitch: float, font: int | _Face, weight: float,
                    italic: float, digit_h: float, radius: float | None = None, tall: bool = False,
                    condense: float = 1.0) -> np.ndarray:
    """The mask (ch, cw) a drum at ``position`` shows through its window, on a cylinder of ``radius`` px
    (default ``0.75 * ch``, the ``"v1"`` geometry of :data:`DRUM_GEOMETRIES`). ``tall``: each glyph's ink
    is stretched to the full ``digit_h`` (``"v2"``; ``"v1"`` keeps the width-limited glyph, about 0.6 of it).
    ``font``, ``weight``, ``italic``, ``condense``: as :func:`_glyph`'s."""
    base = int(math.floor(position))
    frac = position - base
    gh = int(round(digit_h))
    strip_h = int(math.ceil(pitch * 5))
    strip = np.zeros((strip_h, cw), np.float32)
    for j, d in enumerate(range(base - 2, base + 3)):
        g = _glyph(str(d % 10), gh, cw, font, weight, italic, condense)
        if tall:
            ink = np.flatnonzero(g.max(1) > 0.1)
            if len(ink) > 1:
                g = cv2.resize(g[ink[0]:ink[-1] + 1], (cw, gh), interpolation=cv2.INTER_LINEAR)
        top = int(round(j * pitch + (pitch - gh) / 2))
        strip[top:top + gh] = np.maximum(strip[top:top + gh], g[:max(0, min(gh, strip_h - top))])
    centre = 2.5 * pitch + frac * pitch      # strip coordinate at the window's centre
    r = ch * 0.75 if radius is None else float(radius)
    ys = np.arange(ch, dtype=np.float32) + 0.5 - ch / 2
    theta = np.arcsin(np.clip(ys / r, -0.999, 0.999))
    src_y = (centre + r * theta - 0.5).astype(np.float32)
    map_y = np.repeat(src_y[:, None], cw, 1)
    map_x = np.repeat(np.arange(cw, dtype=np.float32)[None], ch, 0)
    return cv2.remap(strip, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def _color(rng: np.random.Generator, base: tuple[float, float, float], jitter: float) -> np.ndarray:
    return np.clip(np.array(base, np.float32) + rng.normal(0, jitter, 3), 0, 255)


def _layout(rng: np.random.Generator, n_int: int, n_dec: int, h_range: tuple[float, float],
            aspect: tuple[float, float], gap: tuple[float, float], dec_gap: float,
            dec_scale: float = 1.0) -> tuple[list[tuple[float, float, float, float]], float]:
    """Digit cells (x0, y0, x1, y1) left to right in the screen, and the gap before the decimals."""
    n = n_int + n_dec
    for _ in range(20):
        ch = rng.uniform(*h_range) * _SH
        cw = ch * rng.uniform(*aspect)
        g = cw * rng.uniform(*gap)
        dg = g + cw * dec_gap
        total = n_int * cw + n_dec * cw * dec_scale + (n - 2) * g + dg
        if total <= 0.94 * _SW:
            break
        h_range = (h_range[0] * 0.92, h_range[1] * 0.92)
    else:
        s = 0.94 * _SW / total
        ch, cw, g, dg = ch * s, cw * s, g * s, dg * s
        total *= s
    x = rng.uniform(0.02 * _SW, max(0.02 * _SW, _SW - total - 0.02 * _SW))
    cy = _SH / 2 + rng.uniform(-0.08, 0.08) * _SH
    cells = []
    for i in range(n):
        dec = i >= n_int
        w_i, h_i = (cw * dec_scale, ch * dec_scale) if dec else (cw, ch)
        y0 = cy - ch / 2 + (ch - h_i) * (0.85 if dec else 0.5)
        cells.append((x, y0, x + w_i, y0 + h_i))
        x += w_i + (dg if i == n_int - 1 else g)
    return cells, dg


def _analog(rng: np.random.Generator, n_int: int, n_dec: int, drums: str = "v1", fonts: str = "hershey"
            ) -> tuple[np.ndarray, list, np.ndarray, list]:
    """An odometer window: image, digit cells, drum positions, decimal box (``drums``: :data:`DRUM_GEOMETRIES`,
    ``fonts``: :data:`DRUM_FONTS`)."""
    img = np.empty((_SH, _SW, 3), np.float32)
    dark_face = rng.random() < 0.6
    face = _color(rng, (35, 35, 38) if dark_face else (200, 205, 205), 18)
    img[:] = face
    cells, dgap = _layout(rng, n_int, n_dec, (0.5, 0.8), (0.55, 0.72), (0.08, 0.4), rng.uniform(0.0, 0.5))
    positions = _drum_positions(rng, n_int + n_dec)
    font, condense = _drum_face(rng, fonts)
    weight = rng.uniform(0.9, 1.6)
    italic = 0.0 if rng.random() < 0.8 else rng.uniform(0.05, 0.15)
    drum_light = rng.random() < 0.3
    red_mode = rng.integers(3)          # 0: red drum white digits, 1: white drum red digits, 2: black drum red digits
    for i, (x0, y0, x1, y1) in enumerate(cells):
        dec = i >= n_int
        ix0, iy0, ix1, iy1 = int(round(x0)), int(round(y0)), int(round(x1)), int(round(y1))
        ch, cw = iy1 - iy0, ix1 - ix0
        if ch < 4 or cw < 3:
            continue
        if dec and red_mode == 0:
            bg, fg = _color(rng, (40, 40, 175), 20), _color(rng, (235, 235, 235), 12)
        elif dec and red_mode == 1:
            bg, fg = _color(rng, (225, 228, 228), 15), _color(rng, (40, 40, 190), 20)
        elif dec:
            bg, fg = _color(rng, (30, 30, 30), 10), _color(rng, (60, 60, 210), 20)
        elif drum_light:
            bg, fg = _color(rng, (225, 225, 222), 15), _color(rng, (30, 30, 30), 12)
        else:
            bg, fg = _color(rng, (28, 28, 30), 10), _color(rng, (232, 232, 228), 12)
        if drums == "v1":
            pitch = ch * rng.uniform(1.0, 1.25)
            digit_h = ch * rng.uniform(0.62, 0.8)
            radius = None
        else:
            digit_h = ch * rng.uniform(*_V2_DIGIT_H)
            pitch = digit_h * rng.uniform(*_V2_PITCH)
            radius = pitch * rng.uniform(*_V2_RADIUS)
        m = _cylinder_strip(float(positions[i]), ch, cw, pitch, font, weight, italic, digit_h, radius,
                            tall=drums == "v2", condense=condense)
        cell = bg[None, None] * (1 - m[..., None]) + fg[None, None] * m[..., None]
        ys = (np.arange(ch, dtype=np.float32) + 0.5) / ch - 0.5
        shade = 1 - rng.uniform(0.3, 0.7) * (2 * ys) ** 2                 # the drum's curvature
        cell *= shade[:, None, None]
        img[iy0:iy1, ix0:ix1] = cell
        cv2.rectangle(img, (ix0, iy0), (ix1 - 1, iy1 - 1), tuple(float(v) for v in face * 0.6), 1)
    dx0 = cells[n_int][0] - 0.25 * dgap
    dbox = [dx0, min(c[1] for c in cells[n_int:]) - 2, cells[-1][2] + 0.25 * dgap, max(c[3] for c in cells[n_int:]) + 2]
    if rng.random() < 0.5:     # a point or comma marking the decimals
        px = int(cells[n_int - 1][2] + dgap / 2)
        py = int(cells[n_int - 1][3] - 2)
        cv2.circle(img, (px, py), max(1, int(dgap / 6)), tuple(float(v) for v in (255 - face)), -1, cv2.LINE_AA)
    if rng.random() < 0.5:     # a painted frame around the red drums
        cv2.rectangle(img, (int(dbox[0]), int(dbox[1])), (int(dbox[2]), int(dbox[3])),
                      tuple(float(v) for v in _color(rng, (40, 40, 170), 20)), 1)
    return img, cells, positions, dbox


def _digital(rng: np.random.Generator, n_int: int, n_dec: int) -> tuple[np.ndarray, list, np.ndarray, list]:
    """A seven-segment LCD: image, digit boxes (the cells; a ``1``'s: :func:`_one_box`), positions (whole), decimal box."""
    panel = _color(rng, (150, 170, 160), 22)          # grey-green, BGR
    img = np.empty((_SH, _SW, 3), np.float32)
    img[:] = panel
    dec_scale = 1.0 if rng.random() < 0.6 else rng.uniform(0.6, 0.85)
    cells, dgap = _layout(rng, n_int, n_dec, (0.45, 0.78), (0.45, 0.62), (0.12, 0.45), rng.uniform(0.1, 0.6),
                          dec_scale)
    digits = rng.integers(0, 10, n_int + n_dec)
    k = 4
    lit = np.zeros((_SH * k, _SW * k), np.float32)
    ghost = np.zeros_like(lit)
    slant = 0.0 if rng.random() < 0.4 else rng.uniform(0.04, 0.14)
    tails = rng.random(3) < np.array([0.8, 0.3, 0.8])
    thick_f = rng.uniform(0.1, 0.17)
    boxes = [list(c) for c in cells]
    for i, (x0, y0, x1, y1) in enumerate(cells):
        w, h = x1 - x0, y1 - y0
        t = thick_f * h
        inner = (x0 + t / 2, y0 + t / 2, w - t - slant * h, h - t)
        _seven_segment(lit, int(digits[i]), *inner, t, slant, *tails)
        _seven_segment(ghost, None, *inner, t, slant, True, False, True, segments="abcdefg")
        if digits[i] == 1:
            boxes[i] = _one_box(inner, t, slant, w, y0, y1)
    # the decimal point after the integer digits
    x, y = cells[n_int - 1][2] + dgap / 2, cells[n_int - 1][3] - 0.06 * (cells[0][3] - cells[0][1])
    r = max(1.0, 0.06 * (cells[0][3] - cells[0][1]))
    cv2.circle(lit, (int(x * k), int(y * k)), int(r * k), 1.0, -1, cv2.LINE_AA)
    lit = cv2.resize(lit, (_SW, _SH), interpolation=cv2.INTER_AREA)
    ghost = cv2.resize(ghost, (_SW, _SH), interpolation=cv2.INTER_AREA)
    seg = _color(rng, (45, 50, 45), 12)
    ghost_a = rng.uniform(0.0, 0.12)
    a = np.clip(lit + ghost_a * ghost * (1 - lit), 0, 1)[..., None]
    img = img * (1 - a) + seg * a
    dbox = [cells[n_int][0] - 0.3 * dgap, min(c[1] for c in cells[n_int:]) - 3,
            cells[-1][2] + 0.3 * dgap, max(c[3] for c in cells[n_int:]) + 3]
    if rng.random() < 0.5:      # a framed decimal area
        cv2.rectangle(img, (int(dbox[0]), int(dbox[1])), (int(dbox[2]), int(dbox[3])),
                      tuple(float(v) for v in seg * 1.2), 1, cv2.LINE_AA)
    if rng.random() < 0.4:      # small labels on the panel
        _put_text(img, ["kWh", "m3", "TOTAL", "L"][rng.integers(4)], (int(rng.uniform(2, _SW - 40)), _SH - 3),
                  cv2.FONT_HERSHEY_SIMPLEX, 0.3, tuple(float(v) for v in seg), 1)
    # uneven backlight / reflection on the panel
    yy, xx = np.mgrid[0:_SH, 0:_SW].astype(np.float32)
    g = 1 + rng.uniform(-0.2, 0.2) * (xx / _SW - 0.5) + rng.uniform(-0.2, 0.2) * (yy / _SH - 0.5)
    img *= g[..., None]
    return img, boxes, digits.astype(np.float32), dbox


def _one_box(inner: tuple[float, float, float, float], thick: float, slant: float, cell_w: float,
             y0: float, y1: float) -> list[float]:
    """The labelled box of a seven-segment ``1`` (segments b and c): centred on its lit strokes,
    :data:`ONE_BOX_WIDTH` of the cell wide (or the strokes' width, if wider), the cell's height.

    A ``1`` lights only the right edge of its cell; the real LCD labels
    (``calibration.meter_real``, PhilBrockman's boxes) frame what is lit, a median 0.68 of another
    digit's width about the strokes, not the empty cell. Labelling the synthetic ``1`` the same way gives
    the detector one convention: the box's centre is on the strokes it sees."""
    ix0, _, iw, ih = inner
    left = ix0 + iw + slant * 0.05 * ih - 0.45 * thick
    right = ix0 + iw + slant * 0.95 * ih + 0.45 * thick
    half = max(ONE_BOX_WIDTH * cell_w, right - left + thick) / 2
    cx = (left + right) / 2
    return [cx - half, y0, cx + half, y1]


def _finish_screen(img: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """Mild capture effects at screen scale: light, contrast, glare, blur, noise, JPEG."""
    img = img * rng.uniform(0.75, 1.15) + rng.uniform(-15, 15)
    if rng.random() < 0.3 * strength:               # a soft reflection
        yy, xx = np.mgrid[0:_SH, 0:_SW].astype(np.float32)
        cx, cy = rng.uniform(0, _SW), rng.uniform(0, _SH)
        s = rng.uniform(15, 60)
        img += rng.uniform(20, 80) * np.exp(-((xx - cx) ** 2 / (4 * s * s) + (yy - cy) ** 2 / (s * s)))[..., None]
    img = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < 0.6:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.2 * strength + 0.3))
    if rng.random() < 0.3:                          # resolution loss: a low-resolution camera
        f = rng.uniform(0.35, 0.7)
        small = cv2.resize(img, (int(_SW * f), int(_SH * f)), interpolation=cv2.INTER_AREA)
        img = cv2.resize(small, (_SW, _SH), interpolation=cv2.INTER_LINEAR)
    img = np.clip(img.astype(np.float32) + rng.normal(0, rng.uniform(0, 8 * strength), img.shape), 0, 255)
    img = img.astype(np.uint8)
    if rng.random() < 0.5:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(35, 95))])
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return img


def _check_drums(drums: str, fonts: str = "hershey") -> str:
    if drums not in DRUM_GEOMETRIES:
        raise ValueError(f"drums: expected one of {DRUM_GEOMETRIES}, got {drums!r}")
    if fonts not in DRUM_FONTS:
        raise ValueError(f"fonts: expected one of {DRUM_FONTS}, got {fonts!r}")
    return drums


def _draw_screen(rng: np.random.Generator, style: str | None, drums: str = "v1", fonts: str = "hershey"
                 ) -> tuple[np.ndarray, MeterScreen]:
    """A clean screen (float32 image) and its labels (``image`` filled later)."""
    if style is None:
        style = SCREEN_STYLES[int(rng.integers(2))]
    if style not in SCREEN_STYLES:
        raise ValueError(f"style: expected one of {SCREEN_STYLES} or None, got {style!r}")
    n_int = int(rng.integers(3, 7))
    n_dec = int(rng.integers(1, 4))
    if style == "analog":
        img, cells, positions, dbox = _analog(rng, n_int, n_dec, drums, fonts)
    else:
        img, cells, positions, dbox = _digital(rng, n_int, n_dec)
    boxes = np.array(list(cells) + [dbox], np.float32)
    boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, _SW)
    boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, _SH)
    classes = ["digit"] * len(cells) + ["decimal"]
    screen = MeterScreen(np.zeros((_SH, _SW, 3), np.uint8), style, boxes, classes,
                         positions.astype(np.float32), reading_from_positions(positions, n_dec))
    return img, screen


def render_screen(seed: int, style: str | None = None, drums: str = "v1", fonts: str = "hershey") -> MeterScreen:
    """A rectified meter screen (:data:`SCREEN_SIZE`) with its digit boxes, drum positions and reading.

    ``style``: ``"analog"``, ``"digital"`` or ``None`` (either, by the seed). 3 to 6
    integer digits and 1 to 3 decimal digits; mild capture effects (light, reflection,
    blur, resolution loss, noise, JPEG). ``drums``: the analog drums' geometry
    (:data:`DRUM_GEOMETRIES`; the held-out sets use ``"v1"``); ``fonts``: their typefaces
    (:data:`DRUM_FONTS`; the held-out sets use ``"hershey"``). Deterministic per ``seed``, ``drums`` and
    ``fonts``.
    """
    _check_drums(drums, fonts)
    rng = np.random.default_rng([int(seed), 0x5C2EE7])
    img, screen = _draw_screen(rng, style, drums, fonts)
    screen.image = _finish_screen(img, rng)
    return screen


# --- scenes ----------------------------------------------------------------------------------


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A wall / cabinet / pipe background: gradient, blobs, lines and noise."""
    c0, c1 = rng.uniform(20, 230, 3), rng.uniform(20, 230, 3)
    t = np.linspace(0, 1, w if rng.random() < 0.5 else h, dtype=np.float32)
    grad = (c0[None] * (1 - t[:, None]) + c1[None] * t[:, None])
    img = np.repeat(grad[None], h, 0) if len(t) == w else np.repeat(grad[:, None], w, 1)
    img = img.astype(np.float32).copy()
    for _ in range(int(rng.integers(2, 7))):
        col = tuple(float(v) for v in rng.uniform(0, 255, 3))
        if rng.random() < 0.5:
            p0 = (int(rng.uniform(-w / 2, w)), int(rng.uniform(-h / 2, h)))
            p1 = (p0[0] + int(rng.uniform(10, w)), p0[1] + int(rng.uniform(10, h)))
            cv2.rectangle(img, p0, p1, col, -1)
        else:
            cv2.line(img, (int(rng.uniform(0, w)), 0), (int(rng.uniform(0, w)), h), col,
                     int(rng.integers(2, 20)), cv2.LINE_AA)
    img += rng.normal(0, rng.uniform(2, 12), img.shape).astype(np.float32)
    return cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 3))


def _face(rng: np.random.Generator, screen_img: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """The meter's face around its screen, in screen px: image, alpha, offset of the screen in it."""
    mx, my_top, my_bot = rng.uniform(0.15, 0.5) * _SW, rng.uniform(0.3, 1.5) * _SH, rng.uniform(0.4, 2.0) * _SH
    fh, fw = int(_SH + my_top + my_bot), int(_SW + 2 * mx)
    face = np.empty((fh, fw, 3), np.float32)
    face[:] = rng.uniform(30, 240, 3)
    alpha = np.zeros((fh, fw), np.float32)
    if rng.random() < 0.5:        # round meter body (water, gas)
        cv2.ellipse(alpha, (fw // 2, fh // 2), (fw // 2, fh // 2), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
    else:
        r = int(rng.uniform(2, 0.15 * min(fh, fw)))
        cv2.rectangle(alpha, (r, 0), (fw - r, fh), 1.0, -1)
        cv2.rectangle(alpha, (0, r), (fw, fh - r), 1.0, -1)
        for cx, cy in ((r, r), (fw - r, r), (r, fh - r), (fw - r, fh - r)):
            cv2.circle(alpha, (cx, cy), r, 1.0, -1, cv2.LINE_AA)
    ox, oy = mx, my_top
    ink = tuple(float(v) for v in (255 - face[0, 0]) * rng.uniform(0.5, 1.0))
    for _ in range(int(rng.integers(1, 5))):      # printed text: units, serial, brand
        txt = ["kWh", "m3", "No 4471902", "CLASS 2", "220V 50Hz", "GAS", "x0.01", "IP68"][int(rng.integers(8))]
        x = int(rng.uniform(0, max(1, fw - 60)))
        y = int(rng.choice([rng.uniform(10, max(11, oy - 4)), rng.uniform(oy + _SH + 14, max(oy + _SH + 15, fh - 4))]))
        _put_text(face, txt, (x, y), _FONTS[int(rng.integers(2))], rng.uniform(0.5, 1.1), ink,
                  int(rng.integers(1, 3)))
    bezel = int(rng.uniform(2, 10))
    cv2.rectangle(face, (int(ox) - bezel, int(oy) - bezel), (int(ox + _SW) + bezel, int(oy + _SH) + bezel),
                  tuple(float(v) for v in rng.uniform(0, 120, 3)), -1)
    face[int(oy):int(oy) + _SH, int(ox):int(ox) + _SW] = screen_img
    alpha[int(oy) - bezel:int(oy + _SH) + bezel, int(ox) - bezel:int(ox + _SW) + bezel] = 1.0
    return face, alpha, (float(int(ox)), float(int(oy)))


def _quad(rng: np.random.Generator, h: int, w: int, cropped: bool) -> np.ndarray:
    """Screen corners TL, TR, BR, BL in scene px: scale, in-plane rotation, perspective."""
    sw = rng.uniform(0.4, 0.8) * w
    sh = sw * _SH / _SW * rng.uniform(0.8, 1.25)
    u = rng.random()
    angle = rng.normal(0, 8) if u < 0.75 else (rng.uniform(-180, 180) if u < 0.9 else
                                                 90.0 * int(rng.integers(1, 4)) + rng.normal(0, 5))
    rect = np.array([[-sw / 2, -sh / 2], [sw / 2, -sh / 2], [sw / 2, sh / 2], [-sw / 2, sh / 2]])
    # perspective: scale each side's ends (a tilt about a horizontal / vertical axis)
    tx, ty = rng.normal(0, 0.1), rng.normal(0, 0.1)
    rect[:, 0] *= 1 + ty * np.sign(rect[:, 1])
    rect[:, 1] *= 1 + tx * np.sign(rect[:, 0])
    rect += rng.normal(0, 0.02 * sw, rect.shape)
    a = math.radians(angle)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    quad = rect @ rot.T
    ext = quad.max(0) - quad.min(0)
    if cropped:      # a part of the screen out of the frame
        side = int(rng.integers(4))
        cx = [0.0, w, w / 2, w / 2][side] + [0.1, -0.1, 0, 0][side] * ext[0]
        cy = [h / 2, h / 2, 0.0, h][side] + [0, 0, 0.1, -0.1][side] * ext[1]
        centre = np.array([cx, cy]) + rng.normal(0, 0.05 * w, 2)
    else:
        lo, hi = ext / 2 + 0.04 * w, np.array([w, h]) - ext / 2 - 0.04 * w
        centre = np.array([rng.uniform(lo[0], max(lo[0], hi[0])), rng.uniform(lo[1], max(lo[1], hi[1]))])
    return (quad + centre).astype(np.float32)


def _scene_effects(img: np.ndarray, rng: np.random.Generator, quad: np.ndarray, illegible: str | None) -> np.ndarray:
    """Glare, dirt, condensation, low light, blur, noise and JPEG on the photo (float32 in, uint8 out)."""
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    centre = quad.mean(0)
    diag = float(np.linalg.norm(quad[2] - quad[0]))

    def glare(strength: float, on_screen: bool, size: float) -> None:
        c = centre + rng.normal(0, 0.15 * diag, 2) if on_screen else rng.uniform(0, [w, h])
        s = size * diag
        ang = rng.uniform(0, math.pi)
        dx, dy = xx - c[0], yy - c[1]
        u, v = dx * math.cos(ang) + dy * math.sin(ang), -dx * math.sin(ang) + dy * math.cos(ang)
        img[:] += strength * np.exp(-(u ** 2 / (2 * s * s) + v ** 2 / (2 * (s * 0.4) ** 2)))[..., None]

    def dirt(amount: int, on_screen: bool, opacity: float) -> None:
        layer = np.zeros((h, w), np.float32)
        for _ in range(amount):
            c = centre + rng.normal(0, 0.25 * diag, 2) if on_screen else rng.uniform(0, [w, h])
            cv2.ellipse(layer, (int(c[0]), int(c[1])), (int(rng.uniform(2, 0.12 * diag)), int(rng.uniform(2, 0.08 * diag))),
                        rng.uniform(0, 180), 0, 360, float(rng.uniform(0.4, 1.0)), -1, cv2.LINE_AA)
        layer = cv2.GaussianBlur(layer, (0, 0), rng.uniform(1, 4)) * opacity
        col = rng.uniform(20, 90, 3).astype(np.float32)
        img[:] = img * (1 - layer[..., None]) + col * layer[..., None]

    def condensation(density: float, fog: float) -> None:
        mask = np.zeros((h, w), np.float32)
        inside = np.zeros((h, w), np.uint8)
        cv2.fillConvexPoly(inside, np.round(quad).astype(np.int32), 1)
        for _ in range(int(density * diag)):
            c = centre + rng.normal(0, 0.3 * diag, 2)
            cv2.circle(mask, (int(c[0]), int(c[1])), int(rng.uniform(1, 0.03 * diag + 2)), 1.0, -1, cv2.LINE_AA)
        veil = np.clip(fog + 0.5 * mask, 0, 1) * inside
        veil = cv2.GaussianBlur(veil, (0, 0), 1.5)[..., None]
        img[:] = img * (1 - veil) + cv2.GaussianBlur(img, (0, 0), 3) * veil * 0.3 + 200 * veil * 0.7

    if rng.random() < 0.35:
        glare(rng.uniform(40, 120), rng.random() < 0.4, rng.uniform(0.1, 0.4))
    if rng.random() < 0.3:
        dirt(int(rng.integers(1, 6)), rng.random() < 0.3, rng.uniform(0.2, 0.5))
    if rng.random() < 0.15:
        condensation(rng.uniform(0.05, 0.3), rng.uniform(0.0, 0.15))
    if illegible == "glare":
        glare(rng.uniform(300, 500), True, rng.uniform(0.3, 0.5))
    elif illegible == "dirt":
        dirt(int(rng.integers(12, 25)), True, rng.uniform(0.85, 1.0))
    elif illegible == "condensation":
        condensation(rng.uniform(1.0, 2.0), rng.uniform(0.5, 0.7))
    if rng.random() < 0.3:                                # low light
        img[:] = 255 * (np.clip(img, 0, 255) / 255) ** rng.uniform(1.3, 2.2) * rng.uniform(0.35, 0.8)
    out = np.clip(img, 0, 255).astype(np.uint8)
    if illegible == "blur":
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.07, 0.12) * diag)
    elif rng.random() < 0.5:
        if rng.random() < 0.5:
            out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.3, 1.2))
        else:                                              # motion blur
            k = int(rng.integers(3, 6))
            kern = np.zeros((k, k), np.float32)
            kern[k // 2] = 1.0 / k
            m = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), rng.uniform(0, 180), 1.0)
            kern = cv2.warpAffine(kern, m, (k, k))
            out = cv2.filter2D(out, -1, kern / max(kern.sum(), 1e-6))
    noisy = out.astype(np.float32) + rng.normal(0, rng.uniform(0, 8), out.shape)
    out = np.clip(noisy, 0, 255).astype(np.uint8)
    if rng.random() < 0.7:
        _, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 95))])
        out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return out


def render_scene(seed: int, size: tuple[int, int] = (256, 256), drums: str = "v1", fonts: str = "hershey"
                 ) -> MeterScene:
    """A photo of a meter (``size`` (h, w) px) with its screen corners, class, screen labels and reading.

    Classes: ``analog`` (45%), ``digital`` (35%) and ``illegible`` (20%: a drum or LCD
    screen under heavy blur, saturating glare, dirt, condensation, or half out of the
    frame). Every scene: a background, the meter's face (round or rectangular, printed
    text, a bezel) around the screen, warped by an in-plane rotation (mostly small,
    sometimes any angle or a quarter turn) and a perspective tilt, then glare, dirt,
    condensation, low light, blur, noise and JPEG at random. ``screen`` is the scene
    warped back through ``corners`` with ``edgevision.warp_quad`` (what stage 2 sees
    after a perfect stage 1), with the screen's labels. ``drums``, ``fonts``: as :func:`render_screen`'s.
    Deterministic per ``seed``, ``drums`` and ``fonts``.
    """
    import edgevision

    _check_drums(drums, fonts)
    h, w = int(size[0]), int(size[1])
    rng = np.random.default_rng([int(seed), 0x3E7E5])
    u = rng.random()
    meter_class = "analog" if u < 0.45 else ("digital" if u < 0.8 else "illegible")
    style = meter_class if meter_class != "illegible" else SCREEN_STYLES[int(rng.integers(2))]
    illegible = None
    if meter_class == "illegible":
        illegible = ("blur", "glare", "dirt", "condensation", "cropped")[int(rng.integers(5))]
    screen_img, screen = _draw_screen(rng, style, drums, fonts)
    screen_img = _finish_screen(screen_img, rng, 0.5).astype(np.float32)
    face, alpha, (ox, oy) = _face(rng, screen_img)
    quad = _quad(rng, h, w, illegible == "cropped")
    hom = screen_homography(quad) @ np.array([[1, 0, -ox], [0, 1, -oy], [0, 0, 1]])   # face px -> scene px
    m = _cv_matrix(hom)
    img = _background(rng, h, w)
    warped = cv2.warpPerspective(face, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    a = cv2.warpPerspective(alpha, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)[..., None]
    img = img * (1 - a) + warped * a
    out = _scene_effects(img, rng, quad, illegible)
    rect = edgevision.warp_quad(out, quad, SCREEN_SIZE, layout="NHWC", dtype="uint8", scale=1.0)[0]
    screen.image = np.ascontiguousarray(rect)
    reading = "" if meter_class == "illegible" else screen.reading
    return MeterScene(out, quad.astype(np.float32), meter_class, screen, reading)
