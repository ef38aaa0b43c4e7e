"""Synthetic icon-matching captchas (seed 004): a reference figure and a row of candidates.

:func:`render_challenge` draws one challenge, deterministically from its seed:

- a noisy background (a colour gradient, blotches, random lines and arcs, pixel noise);
- the **reference** figure in a panel at the top-left, upright, at its clean scale;
- a row of ``candidates`` figures (default 5: the reference's figure once, at a random
  slot, and ``candidates - 1`` distractors of other identities), each rotated
  (any angle), scaled, recoloured and jittered inside its slot;
- small clutter shapes and lines drawn over everything, then noise and blur.

Figures are procedural shapes and glyphs (:func:`procedural_figure`, an identity is
an int: polygons, stars, arrows, crosses, rings, crescents, Hershey glyphs and
composites of them), or real icon crops (uint8 BGR images, e.g. the *train*
identities of :mod:`calibration.captcha_real`) passed as ``icons``.

Conventions: images are uint8 BGR ``(height, width, 3)``; points are continuous
pixel coordinates ``(x, y)`` with the origin at the top-left corner of the top-left
pixel; boxes are ``(x0, y0, x1, y1)`` in pixels, ``x1``/``y1`` exclusive. The
label's centres are the centres of the drawn figures (rotation centre = figure
centre), not of their slots.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgevision.checks import check_int, check_size, is_int
from edgevision.errors import InvalidArgumentError, InvalidTypeError

#: Default canvas size (height, width), pixels.
CANVAS_SIZE = (200, 400)
#: Default number of candidates in the row (1 match + 4 distractors).
CANDIDATES = 5
#: Side of the square in which a figure is drawn at scale 1 (pixels).
FIGURE_PX = 44
#: Procedural identities below this are the training pool of :mod:`training.siamese`; challenges
#: draw their figures at or above it unless ``identities`` is given.
HELDOUT_IDENTITY_BASE = 1_000_000
#: Seed offsets keep the streams of a challenge independent of each other.
_SEED_MIX = 0x9E3779B1

#: Procedural figure families (the first key of an identity's parameters).
FAMILIES = ("polygon", "star", "arrow", "cross", "ring", "crescent", "glyph", "composite")
_GLYPHS = "ABCDEFGHJKLMPQRTUVXY012345678@#&%?$"
_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX,
          cv2.FONT_HERSHEY_SCRIPT_SIMPLEX)
_MASK_PX = 96  # procedural masks are drawn at this size, then resampled


def _rng(seed: int, stream: int = 0) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFFFFFF, stream, _SEED_MIX])


# --- procedural figures ---------------------------------------------------------------------


def _poly(n: int, r: float, phase: float, c: float = _MASK_PX / 2) -> np.ndarray:
    a = phase + np.arange(n) * 2 * np.pi / n
    return np.stack([c + r * np.cos(a), c + r * np.sin(a)], 1)


def _star(n: int, r: float, inner: float, phase: float) -> np.ndarray:
    outer = _poly(n, r, phase)
    inn = _poly(n, r * inner, phase + np.pi / n)
    return np.stack([outer, inn], 1).reshape(-1, 2)


def _fill(mask: np.ndarray, pts: np.ndarray, value: int = 255) -> None:
    cv2.fillPoly(mask, [np.round(pts * 16).astype(np.int32)], value, cv2.LINE_AA, 4)


def _draw_family(mask: np.ndarray, params: tuple, r: float, value: int = 255) -> None:
    """Draw one non-composite figure ``params`` (see :func:`figure_params`) of radius ``r`` px."""
    c = _MASK_PX / 2
    family, a, b = params
    if family == "polygon":  # a: sides 3..8, b: 0 filled, 1 outlined
        pts = _poly(a, r, -np.pi / 2)
        _fill(mask, pts, value)
        if b:
            _fill(mask, _poly(a, r * 0.55, -np.pi / 2), 255 - value)
    elif family == "star":  # a: points 4..8, b: inner radius 0 sharp / 1 blunt
        _fill(mask, _star(a, r, (0.4, 0.6)[b], -np.pi / 2), value)
    elif family == "arrow":  # a: 0 single, 1 double head; b: shaft width 0..2
        w, head = (0.18, 0.26, 0.36)[b] * r, 0.6 * r
        if a == 0:
            pts = np.array([[-r, -w], [r - head, -w], [r - head, -head], [r, 0], [r - head, head], [r - head, w],
                            [-r, w]]) + c
        else:
            pts = np.array([[-r, 0], [-r + head, -head], [-r + head, -w], [r - head, -w], [r - head, -head], [r, 0],
                            [r - head, head], [r - head, w], [-r + head, w], [-r + head, head]]) + c
        _fill(mask, pts, value)
    elif family == "cross":  # a: arms 2 (plus) / 3 (asterisk) / 4; b: arm width 0..2
        w = (0.2, 0.3, 0.42)[b] * r
        for k in range(a):
            ang = k * np.pi / a
            d = np.array([np.cos(ang), np.sin(ang)]) * r
            cv2.line(mask, tuple(np.round((c - d) * 16).astype(int)), tuple(np.round((c + d) * 16).astype(int)),
                     value, max(2, int(w)), cv2.LINE_AA, 4)
    elif family == "ring":  # a: inside 0 nothing / 1 dot / 2 bar; b: thickness 0..2
        t = (0.15, 0.25, 0.35)[b] * r
        cc = (int(c * 16), int(c * 16))
        cv2.circle(mask, cc, int((r - t / 2) * 16), value, max(2, int(t)), cv2.LINE_AA, 4)
        if a == 1:
            cv2.circle(mask, cc, int(r * 0.3 * 16), value, -1, cv2.LINE_AA, 4)
        elif a == 2:
            cv2.line(mask, (int((c - r * 0.5) * 16), cc[1]), (int((c + r * 0.5) * 16), cc[1]), value, max(2, int(t)),
                     cv2.LINE_AA, 4)
    elif family == "crescent":  # a: bite offset 0..2, b: bite size 0..1
        cv2.circle(mask, (int(c * 16), int(c * 16)), int(r * 16), value, -1, cv2.LINE_AA, 4)
        off = (0.3, 0.45, 0.6)[a] * r
        cv2.circle(mask, (int((c + off) * 16), int(c * 16)), int(r * (0.75, 0.9)[b] * 16), 255 - value, -1,
                   cv2.LINE_AA, 4)
    elif family == "glyph":  # a: character index, b: font index
        ch, font = _GLYPHS[a], _FONTS[b]
        thick = 7
        (tw, th), base = cv2.getTextSize(ch, font, 1.0, thick)
        scale = 2 * r / max(tw, th + base)
        (tw, th), base = cv2.getTextSize(ch, font, scale, thick)
        cv2.putText(mask, ch, (int(c - tw / 2), int(c + th / 2)), font, scale, value, thick, cv2.LINE_AA)
    else:  # pragma: no cover - figure_params makes only the families above
        raise InvalidArgumentError(f"family: expected one of {FAMILIES}, got {family!r}")


_RANGES = {"polygon": (range(3, 9), range(2)), "star": (range(4, 9), range(2)), "arrow": (range(2), range(3)),
           "cross": (range(2, 5), range(3)), "ring": (range(3), range(3)), "crescent": (range(3), range(2)),
           "glyph": (range(len(_GLYPHS)), range(len(_FONTS)))}


def figure_params(identity: int) -> tuple:
    """The discrete parameters of procedural figure ``identity`` (any int): its *signature*.

    ``(family, a, b)`` for a plain figure, ``("composite", base, other, mode)`` for two
    overlaid plain figures (``mode`` 0: ``other`` cut out of ``base``'s centre, 1..4:
    added small at the top-right, bottom-right, bottom-left or top-left). Two identities
    with the same signature draw the same figure: use signatures, not identities, to
    decide whether two figures differ.
    """
    if not is_int(identity):
        raise InvalidTypeError(f"identity: expected an int, got {identity!r}")
    p = _rng(int(identity), 1)

    def plain() -> tuple:
        fam = FAMILIES[int(p.integers(len(FAMILIES) - 1))]
        ra, rb = _RANGES[fam]
        return (fam, int(p.choice(ra)), int(p.choice(rb)))

    if p.random() < 0.25:
        base = plain()
        other = plain()
        while other[0] == "glyph" and base[0] == "glyph":
            other = plain()
        return ("composite", base, other, int(p.integers(5)))
    return plain()


def procedural_figure(identity: int) -> np.ndarray:
    """The mask of procedural figure ``identity`` (any int): float32 ``(96, 96)`` in [0, 1], 1 = figure.

    Deterministic: drawn from :func:`figure_params`. Glyphs that are another glyph
    rotated (6/9, M/W, N/Z) are not in the alphabet.
    """
    params = figure_params(identity)
    mask = np.zeros((_MASK_PX, _MASK_PX), np.uint8)
    r = _MASK_PX * 0.42
    if params[0] != "composite":
        _draw_family(mask, params, r)
    else:
        _, base, other, mode = params
        _draw_family(mask, base, r)
        small = np.zeros_like(mask)
        if mode == 0:
            _draw_family(small, other, r * 0.4)
            mask = np.where(small > 0, np.minimum(mask, 255 - small), mask).astype(np.uint8)
            if mask.max() == 0 or float(mask.mean()) < 8:
                mask = np.maximum(mask, small)
        else:
            _draw_family(small, other, r * 0.45)
            d = r * 0.55
            dx, dy = [(d, -d), (d, d), (-d, d), (-d, -d)][mode - 1]
            moved = cv2.warpAffine(small, np.float32([[1, 0, dx], [0, 1, dy]]), mask.shape[::-1])
            mask = np.maximum(mask, moved)
    if mask.max() == 0:  # never an empty figure
        cv2.circle(mask, (_MASK_PX // 2, _MASK_PX // 2), int(r), 255, -1)
    return mask.astype(np.float32) / 255.0


# --- colours, backgrounds, placing figures ----------------------------------------------------


def _colour(p: np.random.Generator, avoid: np.ndarray | None = None) -> np.ndarray:
    """A random BGR colour (float32, 0..255) that contrasts with ``avoid`` (a BGR colour)."""
    for _ in range(20):
        hsv = np.uint8([[[p.integers(0, 180), p.integers(0, 256), p.integers(40, 256)]]])
        c = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)
        if avoid is None or np.abs(c - avoid).sum() > 160:
            return c
    return np.float32([255, 255, 255]) - (avoid if avoid is not None else 0)


def noisy_background(size: Any, p: np.random.Generator) -> np.ndarray:
    """A float32 BGR canvas ``size`` = (height, width): gradient, blotches, lines and arcs, noise."""
    h, w = size
    c0, c1 = _colour(p), _colour(p)
    t = np.linspace(0, 1, w, dtype=np.float32)[None, :, None] if p.random() < 0.5 else \
        np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    img = np.broadcast_to(c0 * (1 - t) + c1 * t, (h, w, 3)).astype(np.float32).copy()
    small = p.normal(0, 1, (max(2, h // 24), max(2, w // 24), 3)).astype(np.float32)
    img += cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC) * p.uniform(10, 45)
    for _ in range(int(p.integers(3, 12))):
        col = tuple(float(v) for v in _colour(p))
        if p.random() < 0.5:
            cv2.line(img, (int(p.integers(0, w)), int(p.integers(0, h))), (int(p.integers(0, w)), int(p.integers(0, h))),
                     col, int(p.integers(1, 4)), cv2.LINE_AA)
        else:
            cv2.ellipse(img, (int(p.integers(0, w)), int(p.integers(0, h))),
                        (int(p.integers(10, w // 2)), int(p.integers(10, h // 2))), float(p.uniform(0, 180)), 0,
                        float(p.uniform(60, 360)), col, int(p.integers(1, 3)), cv2.LINE_AA)
    return img


def _affine(cx: float, cy: float, src: int, scale: float, angle: float) -> np.ndarray:
    """Affine map from a ``src``-px square (its centre at ``src/2``) to canvas px centred at (cx, cy)."""
    m = cv2.getRotationMatrix2D((src / 2, src / 2), angle, scale)
    m[:, 2] += np.array([cx, cy]) - np.array([src / 2, src / 2])
    return m


def _paste_mask(canvas: np.ndarray, mask: np.ndarray, colour: np.ndarray, cx: float, cy: float, px: float,
                angle: float, outline: np.ndarray | None = None) -> None:
    h, w = canvas.shape[:2]
    scale = px / mask.shape[0]
    a = cv2.warpAffine(mask, _affine(cx, cy, mask.shape[0], scale, angle), (w, h), flags=cv2.INTER_LINEAR)
    if outline is not None:  # a contrasting rim around the figure
        k = max(3, int(round(px / 16)) | 1)
        rim = np.clip(cv2.dilate(a, np.ones((k, k), np.float32)) - a, 0, 1)[..., None]
        canvas *= 1 - rim
        canvas += rim * outline
    a = a[..., None]
    canvas *= 1 - a
    canvas += a * colour


def _paste_icon(canvas: np.ndarray, icon: np.ndarray, cx: float, cy: float, px: float, angle: float) -> None:
    """Paste a real icon crop (uint8 BGR) rotated by ``angle`` degrees, its longer side ``px`` pixels."""
    h, w = canvas.shape[:2]
    ih, iw = icon.shape[:2]
    side = max(ih, iw)
    sq = cv2.copyMakeBorder(icon, (side - ih) // 2, side - ih - (side - ih) // 2, (side - iw) // 2,
                            side - iw - (side - iw) // 2, cv2.BORDER_REPLICATE)
    m = _affine(cx, cy, side, px / side, angle)
    warped = cv2.warpAffine(sq.astype(np.float32), m, (w, h), flags=cv2.INTER_LINEAR)
    a = cv2.warpAffine(np.ones((side, side), np.float32), m, (w, h), flags=cv2.INTER_LINEAR)[..., None]
    canvas *= 1 - a
    canvas += a * warped


def recolour_icon(icon: np.ndarray, p: np.random.Generator) -> np.ndarray:
    """A recoloured copy of a uint8 BGR icon: hue rotation, channel permutation and/or inversion."""
    out = icon
    if p.random() < 0.5:
        hsv = cv2.cvtColor(out, cv2.COLOR_BGR2HSV)
        hsv[..., 0] = ((hsv[..., 0].astype(np.int32) + int(p.integers(0, 180))) % 180).astype(np.uint8)
        out = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
    if p.random() < 0.4:
        out = out[..., p.permutation(3)]
    if p.random() < 0.25:
        out = 255 - out
    return np.ascontiguousarray(out)


# --- challenges -------------------------------------------------------------------------------


@dataclass
class Challenge:
    """One rendered challenge and its labels.

    Attributes:
        image: uint8 BGR ``(height, width, 3)``.
        target: index (0-based, left to right) of the candidate that matches the reference.
        centers: ``(candidates, 2)`` float64, the centre ``(x, y)`` of every candidate figure, pixels.
        boxes: ``(candidates, 4)`` float64, each candidate's axis-aligned box ``(x0, y0, x1, y1)``,
            pixels: the square around its rotated figure (clipped to the image).
        reference_box: ``(4,)`` float64, the reference figure's box ``(x0, y0, x1, y1)``, pixels.
        identities: the figure of each candidate: an int (procedural identity) or
            ``"icon:<i>"`` (index into the ``icons`` list given).
        angles: each candidate's rotation, degrees counter-clockwise.
        seed: the seed it was rendered from.
    """

    image: np.ndarray
    target: int
    centers: np.ndarray
    boxes: np.ndarray
    reference_box: np.ndarray
    identities: list[Any] = field(default_factory=list)
    angles: list[float] = field(default_factory=list)
    seed: int = 0

    @property
    def target_center(self) -> tuple[float, float]:
        """The answer: the matching candidate's centre ``(x, y)``, pixels."""
        x, y = self.centers[self.target]
        return float(x), float(y)

    def label(self) -> dict[str, Any]:
        """The labels as JSON-ready types (no image)."""
        return {"seed": self.seed, "target": self.target, "target_center": list(self.target_center),
                "centers": self.centers.round(3).tolist(), "candidate_boxes": self.boxes.round(3).tolist(),
                "reference_box": self.reference_box.round(3).tolist(), "identities": list(self.identities),
                "angles": [round(a, 3) for a in self.angles], "size": list(self.image.shape[:2])}


def default_layout(size: Any = CANVAS_SIZE, candidates: int = CANDIDATES) -> dict[str, np.ndarray]:
    """The fixed slots of :func:`render_challenge`: ``{"reference_box": (4,), "candidate_boxes": (N, 4)}``,
    boxes ``(x0, y0, x1, y1)`` in pixels of an image of ``size`` = (height, width).

    It is :func:`edgevision.matching.challenge_layout` (the runtime's default layout):
    the reference panel is the top-left square of side ``0.3 * height``; the candidate
    slots split the width evenly in the band below it. A figure is drawn inside its slot
    with jitter, so its exact centre is in the challenge's labels, not here.
    """
    from edgevision.matching import challenge_layout

    h, w = check_size(size, "size", minimum=64, error=InvalidArgumentError)
    return challenge_layout((h, w), candidates)


def render_challenge(seed: int, *, size: Any = CANVAS_SIZE, candidates: int = CANDIDATES,
                     icons: Sequence[np.ndarray] | None = None, icon_share: float = 0.5,
                     identities: Sequence[int] | None = None, clutter: int = 6,
                     noise: float = 8.0) -> Challenge:
    """Render challenge ``seed`` (deterministic: the same arguments give the same pixels).

    Args:
        seed: any int.
        size: canvas (height, width) in pixels, each >= 64 (default 200 x 400).
        candidates: figures in the row, 2..12 (default 5: one match, four distractors).
        icons: optional real icon crops (uint8 BGR, any size). A challenge uses them
            with probability ``icon_share``: then the reference and every candidate is an
            icon from this list (the match is the *same* crop, recoloured and rotated;
            distractors are other entries). Give one crop per identity so that two
            entries are never the same icon.
        icon_share: probability (0..1) that a challenge is made of ``icons``.
        identities: the pool of procedural identities to draw from (default: the
            held-out identities ``HELDOUT_IDENTITY_BASE .. + 999,999``; training uses ints
            below it). Candidates always have distinct signatures (:func:`figure_params`),
            but a held-out identity can share its signature with a training identity: the
            figure families are shared, the renders (seeds) are new.
        clutter: the largest number of small distractor shapes and lines drawn over the canvas.
        noise: standard deviation of the added Gaussian pixel noise (0..255 scale).

    Returns:
        A :class:`Challenge`.
    """
    if not is_int(seed):
        raise InvalidTypeError(f"seed: expected an int, got {seed!r}")
    lay = default_layout(size, candidates)
    h, w = check_size(size, "size", minimum=64, error=InvalidArgumentError)
    n = int(candidates)
    if not 0 <= float(icon_share) <= 1:
        raise InvalidArgumentError(f"icon_share: expected a probability 0..1, got {icon_share!r}")
    if icons is not None:
        icons = list(icons)
        for i, ic in enumerate(icons):
            if not (isinstance(ic, np.ndarray) and ic.dtype == np.uint8 and ic.ndim == 3 and ic.shape[2] == 3
                    and min(ic.shape[:2]) >= 4):
                raise InvalidArgumentError(f"icons[{i}]: expected a uint8 BGR image (H, W, 3), H and W >= 4, got "
                                           f"{getattr(ic, 'dtype', type(ic).__name__)} {getattr(ic, 'shape', '')}")
    check_int(clutter, "clutter", minimum=0, expected="an int >= 0", error=InvalidArgumentError)
    if not float(noise) >= 0:
        raise InvalidArgumentError(f"noise: expected a standard deviation >= 0, got {noise!r}")
    p = _rng(int(seed), 0)
    use_icons = bool(icons) and len(icons) >= n and p.random() < float(icon_share)
    if use_icons:
        picks = [int(i) for i in p.choice(len(icons), n, replace=False)]
        figs: list[Any] = [f"icon:{i}" for i in picks]
    else:
        pool = None if identities is None else sorted({int(i) for i in identities})
        picks, seen = [], set()
        for _ in range(50 * n):  # distinct signatures: no two candidates draw the same figure
            ident = HELDOUT_IDENTITY_BASE + int(p.integers(1_000_000)) if pool is None else int(
                pool[int(p.integers(len(pool)))])
            sig = figure_params(ident)
            if sig not in seen:
                seen.add(sig)
                picks.append(ident)
                if len(picks) == n:
                    break
        if len(picks) < n:
            raise InvalidArgumentError(f"identities: expected at least {n} figures with distinct signatures "
                                       f"(figure_params), found {len(picks)}")
        figs = list(picks)
    target = int(p.integers(n))
    ref_fig = figs[target]  # the reference shows the target's figure
    canvas = noisy_background((h, w), p)
    x0, y0, x1, y1 = lay["reference_box"]
    panel_col = _colour(p)
    cv2.rectangle(canvas, (int(x0), int(y0)), (int(x1) - 1, int(y1) - 1), tuple(float(v) for v in panel_col), -1)
    ref_cx, ref_cy, ref_px = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) * 0.8
    ink = _colour(p, panel_col)
    if use_icons:
        _paste_icon(canvas, icons[picks[target]], ref_cx, ref_cy, ref_px, 0.0)
    else:
        _paste_mask(canvas, procedural_figure(ref_fig), ink, ref_cx, ref_cy, ref_px, 0.0)
    centers, boxes, angles = [], [], []
    for i, (fig, box) in enumerate(zip(figs, lay["candidate_boxes"])):
        bx0, by0, bx1, by1 = box
        side = bx1 - bx0
        px = side * p.uniform(0.55, 0.8)
        angle = float(p.uniform(-180, 180))
        rot_side = px * (abs(math.cos(math.radians(angle))) + abs(math.sin(math.radians(angle))))
        slack = max(0.0, (side - rot_side) / 2)
        cx = (bx0 + bx1) / 2 + p.uniform(-slack, slack) * 0.8
        cy = (by0 + by1) / 2 + p.uniform(-slack, slack) * 0.8
        if use_icons:
            icon = recolour_icon(icons[picks[i]], p)
            _paste_icon(canvas, icon, cx, cy, px, angle)
        else:
            outline = _colour(p) if p.random() < 0.3 else None
            _paste_mask(canvas, procedural_figure(fig), _colour(p, canvas[int(cy) % h, int(cx) % w]), cx, cy, px,
                        angle, outline)
        half = rot_side / 2
        centers.append((cx, cy))
        boxes.append((max(0.0, cx - half), max(0.0, cy - half), min(float(w), cx + half), min(float(h), cy + half)))
        angles.append(angle)
    for _ in range(int(p.integers(0, clutter + 1))):  # small clutter over everything
        col = tuple(float(v) for v in _colour(p))
        cx, cy = float(p.uniform(0, w)), float(p.uniform(0, h))
        if p.random() < 0.5:
            d = p.uniform(-12, 12, 2)
            cv2.line(canvas, (int(cx), int(cy)), (int(cx + d[0]), int(cy + d[1])), col, 1, cv2.LINE_AA)
        else:
            _paste_mask(canvas, procedural_figure(int(p.integers(1 << 30))), np.float32(col), cx, cy,
                        float(p.uniform(6, 12)), float(p.uniform(-180, 180)))
    if noise > 0:
        canvas += p.normal(0, float(noise), canvas.shape).astype(np.float32)
    if p.random() < 0.5:
        canvas = cv2.GaussianBlur(canvas, (3, 3), float(p.uniform(0.3, 0.9)))
    img = np.clip(np.round(canvas), 0, 255).astype(np.uint8)
    return Challenge(img, target, np.array(centers, np.float64), np.array(boxes, np.float64),
                     np.asarray(lay["reference_box"], np.float64), figs, angles, int(seed))


def crop_box(image: np.ndarray, box: Any) -> np.ndarray:
    """The pixels of ``box`` = ``(x0, y0, x1, y1)`` (pixels, rounded to the pixel grid, clipped to
    the image). Raises :class:`~edgevision.errors.InvalidArgumentError` for a box that is not 4 finite
    numbers with x0 < x1 and y0 < y1, or that leaves less than one pixel inside the image."""
    b = np.asarray(box, np.float64) if not isinstance(box, str) else np.array([])
    if b.shape != (4,) or not np.isfinite(b).all() or not (b[0] < b[2] and b[1] < b[3]):
        raise InvalidArgumentError(f"box: expected (x0, y0, x1, y1) pixels with x0 < x1 and y0 < y1, got {box!r}")
    h, w = image.shape[:2]
    x0, y0 = max(0, int(math.floor(b[0]))), max(0, int(math.floor(b[1])))
    x1, y1 = min(w, int(math.ceil(b[2]))), min(h, int(math.ceil(b[3])))
    if x1 <= x0 or y1 <= y0:
        raise InvalidArgumentError(f"box: {box!r} is outside the image ({w} x {h} px)")
    return image[y0:y1, x0:x1]


def figure_crop(figure: Any, seed: int, *, size: int = 64, upright: bool = False) -> np.ndarray:
    """One figure alone on a small noisy background, drawn like a challenge's candidate
    (or, with ``upright=True``, like its reference: no rotation, plain panel colour).

    ``figure``: a procedural identity (int) or a uint8 BGR icon crop. Returns uint8 BGR
    ``(size, size, 3)``; the figure is centred within a few pixels and fills 55-95% of
    the side (rotated figures: their unrotated side). Deterministic in ``seed``. The
    training recipe (:mod:`training.siamese`) learns from these crops.
    """
    if not is_int(seed):
        raise InvalidTypeError(f"seed: expected an int, got {seed!r}")
    side = check_int(size, "size", minimum=16, maximum=512, expected="an int 16..512", error=InvalidArgumentError)
    icon = figure if isinstance(figure, np.ndarray) else None
    if icon is None and not is_int(figure):
        raise InvalidTypeError(f"figure: expected a procedural identity (int) or a uint8 BGR icon, got "
                               f"{type(figure).__name__}")
    p = _rng(int(seed), 2)
    if upright:
        panel = _colour(p)
        canvas = np.broadcast_to(panel, (side, side, 3)).astype(np.float32).copy()
    else:
        canvas = noisy_background((side, side), p)
    px = side * p.uniform(0.7, 0.95) if upright else side * p.uniform(0.55, 0.8)
    angle = 0.0 if upright else float(p.uniform(-180, 180))
    j = 0.04 * side
    cx, cy = side / 2 + p.uniform(-j, j), side / 2 + p.uniform(-j, j)
    if icon is not None:
        _paste_icon(canvas, icon if upright else recolour_icon(icon, p), cx, cy, px, angle)
    else:
        ink = _colour(p, canvas[int(cy), int(cx)])
        _paste_mask(canvas, procedural_figure(int(figure)), ink, cx, cy, px, angle,
                    None if upright or p.random() >= 0.3 else _colour(p))
    if not upright:
        canvas += p.normal(0, p.uniform(0, 10), canvas.shape).astype(np.float32)
    if p.random() < 0.4:
        canvas = cv2.GaussianBlur(canvas, (3, 3), float(p.uniform(0.3, 1.0)))
    return np.clip(np.round(canvas), 0, 255).astype(np.uint8)


def write_challenge_set(out: str | os.PathLike, count: int, *, seed: int = 0, **kwargs: Any) -> Path:
    """Write ``count`` challenges (seeds ``seed .. seed + count - 1``) to folder ``out``:
    ``challenge_<seed>.png`` and one line per challenge in ``labels.jsonl`` (the
    :meth:`Challenge.label` fields plus ``image``, the file name). ``kwargs`` go to
    :func:`render_challenge`. Returns the ``labels.jsonl`` path."""
    check_int(count, "count", minimum=1, expected="a positive int", error=InvalidArgumentError)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    lines = []
    for s in range(int(seed), int(seed) + int(count)):
        ch = render_challenge(s, **kwargs)
        name = f"challenge_{s}.png"
        cv2.imwrite(str(out / name), ch.image)
        lines.append(json.dumps({"image": name, **ch.label()}))
    path = out / "labels.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


__all__ = ["CANVAS_SIZE", "CANDIDATES", "FAMILIES", "HELDOUT_IDENTITY_BASE", "figure_params", "Challenge", "crop_box", "default_layout", "figure_crop", "noisy_background",
           "procedural_figure", "recolour_icon", "render_challenge", "write_challenge_set"]
