"""What surrounds and degrades a plate in a scene: frame text, backgrounds, dirt, occluders, photometric noise."""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from edgevision.preprocess import homography

from .geometry import _apply, _twice_area
from .layouts import PLATE_CHARS, _LAYOUTS
from .rendering import PlateRenderer


# Car body colours (BGR) and their weights: white, silver, grey, black, red, blue, dark blue,
# brown, yellow (taxis), green.
_BODY = np.array([(235, 235, 232), (192, 192, 188), (120, 120, 118), (28, 28, 30), (40, 40, 170),
                  (150, 85, 30), (90, 40, 20), (50, 70, 100), (30, 190, 235), (60, 120, 40)], np.float32)
_BODY_P = np.array([0.24, 0.17, 0.13, 0.16, 0.08, 0.06, 0.05, 0.04, 0.04, 0.03])
_NOISE_BANK_SIZE = 768
_NOISE_SIGMAS = (2.0, 3.5, 5.0, 7.0, 9.0)  # levels of the sensor-noise banks



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
