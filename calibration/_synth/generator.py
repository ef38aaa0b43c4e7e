"""Samples: :class:`SynthSample` and the seeded, indexable :class:`PlateSceneGenerator`."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgevision.checks import is_bool, is_int
from edgevision.errors import InvalidArgumentError, InvalidTypeError
from edgevision.preprocess import homography

from .geometry import _apply, _as_pair, _index_map, _number, _whole
from .layouts import DEFAULT_PLATE_WEIGHTS, PLATE_SIZES_MM, PLATE_TYPES, TRAIN_SEED, random_plate_text
from .rendering import PlateRenderer, RenderedPlate, _rounded_rect
from .scene import (
    _BODY,
    _NOISE_BANK_SIZE,
    _NOISE_SIGMAS,
    _background,
    _char_occlusion,
    _contrasts,
    _dirty,
    _frame_text,
    _occlude,
    _photometric,
)


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
                ok = len(size) == 2 and all(is_int(v)
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
        if not is_bool(clean):
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
