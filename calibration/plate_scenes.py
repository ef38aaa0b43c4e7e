"""Scenes for training and checking a plate *detector*: several plates per photo, or none.

:mod:`calibration.synth` renders one plate filling a close-up (the corner regressor's
data, seed 000). A detector must find every plate in a wide photo, from 40 px wide up
to half the frame, and nothing in a photo without one. :class:`PlateDetectionScenes`
draws such scenes:

* **Backgrounds**, mixed by :attr:`PlateDetectionScenes.mix`:
  ``easypr``: a real EasyPR *train* scene (``calibration.real.read_easypr``; a scene is
  train only when every labelled plate in it is, :func:`easypr_scene_split`), zoomed and
  cropped at random, its own plates kept as labelled plates (their rotated rectangles'
  corners, :func:`calibration.real.rotated_rect_corners`); ``photo``: a real photo
  without vehicles (``photos``, e.g. the training half of the LCD photos, see
  :func:`photo_split`); ``procedural``: gradients, texture, lines, signs with
  Latin text and plate-coloured rectangles without characters (hard negatives).
* **Pasted plates** (0 to ``max_plates``; ``empty`` of the scenes get none, whatever the
  background held): :func:`calibration.plate_synth.render_flat_plate` in the real plate
  typeface, on a patch of car body (:func:`calibration.plate_synth._surround`), warped by
  a homography with roll, yaw and pitch into a quad from ``min_width`` px wide up to
  ``max_width_frac`` of the frame's width, not overlapping a plate already there.
* **Capture**: each plate gets :func:`calibration.plate_synth.capture_effects` at its
  rendered size before it is warped; the whole frame a mild gain, defocus, noise and JPEG.

Labels: each plate's outer boundary as 4 corners TL, TR, BR, BL (the plate's own
reading order, clockwise on the image), ``(K, 4, 2)`` float64 in continuous pixel
coordinates of the returned image (origin at the top-left corner of the top-left
pixel), with its text and type. ``gen[i]`` depends on ``(seed, i)`` and the background
files only. Images are uint8 BGR ``(H, W, 3)``; the frame's long side is drawn from
``long_side`` (pixels).
"""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgevision import decoders
from edgevision.errors import InvalidArgumentError

from .plate_synth import (
    CROP_PLATE_TYPES,
    SPECIAL_PLATES,
    _surround,
    capture_effects,
    render_flat_plate,
    special_plate_text,
)
from .synth import random_plate_text

__all__ = ["DetectionScene", "PlateDetectionScenes", "EXTRA_PLATES", "box_iou", "easypr_scene_split", "easypr_scenes",
           "easypr_train_part", "EASYPR_VALIDATION_MODULUS", "EASYPR_SCENE_SPLITS", "photo_split",
           "plate_free_photos", "PLATE_FREE_PHOTOS",
           "paste_plate", "quad_boxes", "SCENE_MIX", "PLATE_ASPECTS"]

#: Background mix of :class:`PlateDetectionScenes` (probabilities; sources that are not
#: available are dropped and the rest renormalized).
SCENE_MIX: dict[str, float] = {"easypr": 0.4, "photo": 0.2, "procedural": 0.4}

#: Plate types pasted (probabilities): the OCR's crop mix plus double-row yellow plates.
PASTE_TYPES: dict[str, float] = {**{k: v * 0.9 for k, v in CROP_PLATE_TYPES.items()}, "yellow_double": 0.1}

#: Outer width / height of each plate layout (GA 36: 440x140 mm single row, 440x220 mm double).
PLATE_ASPECTS = {"single": 440 / 140, "double": 440 / 220}


@dataclass
class DetectionScene:
    """One scene: ``image`` uint8 BGR (H, W, 3); ``quads`` (K, 4, 2) float64 TL, TR, BR, BL
    in image pixels; ``texts`` and ``types`` per plate (``""``/``"unknown"`` where a real
    plate has no label); ``source`` the background's kind."""

    image: np.ndarray
    quads: np.ndarray
    texts: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    source: str = "procedural"

    @property
    def boxes(self) -> np.ndarray:
        """(K, 4) float64 ``x1, y1, x2, y2``: each quad's bounding box, clipped to the image."""
        return quad_boxes(self.quads, self.image.shape[:2])


def quad_boxes(quads: np.ndarray, shape: tuple[int, int] | None = None) -> np.ndarray:
    """(K, 4, 2) quads -> (K, 4) ``x1, y1, x2, y2`` bounding boxes, clipped to ``shape`` (H, W) if given."""
    q = np.asarray(quads, np.float64).reshape(-1, 4, 2)
    b = np.concatenate([q.min(axis=1), q.max(axis=1)], axis=1)
    if shape is not None:
        b[:, [0, 2]] = b[:, [0, 2]].clip(0, shape[1])
        b[:, [1, 3]] = b[:, [1, 3]].clip(0, shape[0])
    return b


box_iou = decoders.box_iou  # the runtime's (PlateReader's second look uses it too)


#: Plates EasyPR's labels leave out in its train scenes, found by a teacher detector
#: (``scripts/pseudo_label_easypr.py``; labels only, no pixels).
EXTRA_PLATES = Path(__file__).parent / "assets" / "easypr_extra_plates.json"


def easypr_scene_split(texts: Sequence[str]) -> str:
    """``"test"`` when any plate of an EasyPR scene is in the test split
    (:func:`calibration.real.easypr_split`), else ``"train"``: no test plate is ever trained on."""
    from .real import easypr_split

    return "test" if any(easypr_split(t) == "test" for t in texts) else "train"


#: ``crc32(scene file name) % EASYPR_VALIDATION_MODULUS == 0`` puts a train scene in ``validation``
#: (:func:`easypr_scenes`), the rest in ``fit``.
EASYPR_VALIDATION_MODULUS = 5
#: Splits of :func:`easypr_scenes`: ``fit`` and ``validation`` divide ``train``.
EASYPR_SCENE_SPLITS = ("train", "test", "fit", "validation")


def easypr_train_part(path: str | os.PathLike[str]) -> str:
    """``"validation"`` or ``"fit"``: the part of the train split a train scene belongs to, fixed by its file
    name (``crc32(name) % EASYPR_VALIDATION_MODULUS == 0``: validation, about a fifth)."""
    name = Path(path).name
    return "validation" if zlib.crc32(name.encode("utf-8")) % EASYPR_VALIDATION_MODULUS == 0 else "fit"


def easypr_scenes(root: str | os.PathLike[str], split: str, *, extra: str | os.PathLike[str] | None = None
                  ) -> list[tuple[Path, np.ndarray, tuple[str, ...]]]:
    """The EasyPR scenes of ``split`` under the real-data folder ``root``, as ``(image path, quads
    (K, 4, 2), texts)``, grouped by image, sorted by path. Images that do not decode whole are left out.

    ``split``: ``train`` or ``test`` (:func:`easypr_scene_split`), or ``fit`` / ``validation``, the two
    parts of ``train`` (:func:`easypr_train_part`): a detector trained on ``fit`` is chosen on
    ``validation``, and ``test`` stays for the figures.

    ``extra``: a pseudo-label file (:data:`EXTRA_PLATES`); its quads for these scenes that were
    checked to be plates (``"plate": true``) are added with text ``""`` (train scenes only: the file never names a test scene, and it is refused
    for ``split="test"``)."""
    from .real import read_easypr

    if split not in EASYPR_SCENE_SPLITS:
        raise InvalidArgumentError(f"split: expected one of {list(EASYPR_SCENE_SPLITS)}, got {split!r}")
    more: dict[str, list[Any]] = {}
    if extra is not None:
        if split == "test":
            raise InvalidArgumentError("extra: pseudo-labels are for the train scenes only; the test scenes "
                                       "keep exactly their own labels")
        import json

        more = json.loads(Path(extra).read_text(encoding="utf-8"))["scenes"]
    report = read_easypr(Path(root) / "easypr", split="all", check_images=True)
    by: dict[Path, list[Any]] = {}
    for s in report.samples:
        by.setdefault(Path(s.image_path), []).append(s)
    out = []
    for path in sorted(by):
        plates = by[path]
        texts = tuple(s.text for s in plates)
        part = easypr_scene_split(texts)
        if part == "train" and split in ("fit", "validation"):
            part = easypr_train_part(path)
        if part == split:
            quads = [np.asarray(s.corners, np.float64) for s in plates]
            quads += [np.asarray(e["quad"], np.float64) for e in more.get(path.name, ()) if e.get("plate") is True]
            texts += ("",) * (len(quads) - len(texts))
            out.append((path, np.stack(quads), texts))
    return out


def photo_split(path: str | os.PathLike[str], test_modulus: int = 2) -> str:
    """``"test"`` iff ``crc32(file name) % test_modulus == 0``: a fixed split of plate-free photos
    into training backgrounds and the false-positive check."""
    return "test" if zlib.crc32(Path(path).name.encode("utf-8")) % test_modulus == 0 else "train"


#: The plate-free photos under the real-data folder: the LCD photos (no vehicle in any).
PLATE_FREE_PHOTOS = "meters/lcd_digits_philbrockman"


def plate_free_photos(root: str | os.PathLike[str], split: str) -> list[str]:
    """Paths (sorted) of the plate-free photos of ``split`` (``train``: backgrounds the detector
    trains on; ``test``: the false-plate check) under the real-data folder ``root``
    (:data:`PLATE_FREE_PHOTOS`, every ``.jpg`` below it, :func:`photo_split`)."""
    import glob

    if split not in ("train", "test"):
        raise InvalidArgumentError(f"split: expected 'train' or 'test', got {split!r}")
    files = sorted(glob.glob(str(Path(root) / PLATE_FREE_PHOTOS / "**" / "*.jpg"), recursive=True))
    return [f for f in files if photo_split(f) == split]


def paste_plate(canvas: np.ndarray, quad: np.ndarray, plate: np.ndarray, alpha: np.ndarray | None = None) -> None:
    """Warps ``plate`` (uint8 BGR, its corners at the array's corners) onto ``canvas`` in place so that
    its corners land on ``quad`` (TL, TR, BR, BL, canvas pixels), blending by ``alpha`` (uint8, 255 opaque)."""
    h, w = plate.shape[:2]
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    H = cv2.getPerspectiveTransform(src, np.asarray(quad, np.float32))
    x0, y0 = np.floor(np.asarray(quad).min(axis=0)).astype(int).clip(0)
    x1, y1 = np.ceil(np.asarray(quad).max(axis=0)).astype(int) + 1
    x1, y1 = min(x1, canvas.shape[1]), min(y1, canvas.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    T = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64) @ H
    size = (int(x1 - x0), int(y1 - y0))
    warped = cv2.warpPerspective(plate, T, size, flags=cv2.INTER_AREA if _shrink(quad, w) else cv2.INTER_LINEAR)
    a = np.full((h, w), 255, np.uint8) if alpha is None else alpha
    wa = cv2.warpPerspective(a, T, size, flags=cv2.INTER_LINEAR).astype(np.float32)[..., None] / 255.0
    roi = canvas[y0:y1, x0:x1]
    roi[:] = np.clip(warped * wa + roi * (1.0 - wa), 0, 255).astype(np.uint8)


def _shrink(quad: np.ndarray, w: int) -> bool:
    q = np.asarray(quad, np.float64)
    return float(np.linalg.norm(q[1] - q[0])) < 0.7 * w


@dataclass
class PlateDetectionScenes:
    """Deterministic detector scenes (module docs): ``gen[i]`` -> :class:`DetectionScene`.

    Args:
        seed: the stream's seed.
        easypr: EasyPR train scenes (:func:`easypr_scenes`), or None for no real scenes.
        photos: paths of plate-free photos for backgrounds (read on first use).
        long_side: (min, max) pixels of the frame's long side.
        max_plates: pasted plates at most (scenes draw 1..max_plates, fewer when crowded).
        empty: fraction of scenes with no plate pasted (on ``easypr`` backgrounds the
            real plates stay).
        min_width: a pasted plate's width at least this many pixels.
        max_width_frac: and at most this fraction of the frame's width.
        mix: background mix (:data:`SCENE_MIX`).
    """

    seed: int
    easypr: Sequence[tuple[Path, np.ndarray, tuple[str, ...]]] | None = None
    photos: Sequence[str | os.PathLike[str]] = ()
    long_side: tuple[int, int] = (480, 1024)
    max_plates: int = 4
    empty: float = 0.12
    min_width: float = 40.0
    max_width_frac: float = 0.5
    mix: dict[str, float] = field(default_factory=lambda: dict(SCENE_MIX))

    def __post_init__(self) -> None:
        if not (isinstance(self.max_plates, int) and not isinstance(self.max_plates, bool) and self.max_plates >= 0):
            raise InvalidArgumentError(f"max_plates: expected an int >= 0, got {self.max_plates!r}")
        lo, hi = self.long_side
        if not (64 <= lo <= hi):
            raise InvalidArgumentError(f"long_side: expected (min, max) with 64 <= min <= max, got {self.long_side!r}")
        if not 0.0 <= self.empty <= 1.0:
            raise InvalidArgumentError(f"empty: expected a fraction in [0, 1], got {self.empty!r}")
        avail = {"easypr": bool(self.easypr), "photo": bool(self.photos), "procedural": True}
        unknown = set(self.mix) - set(avail)
        if unknown:
            raise InvalidArgumentError(f"mix: unknown background kinds {sorted(unknown)}; expected {sorted(avail)}")
        kinds = [k for k in self.mix if avail[k] and self.mix[k] > 0]
        if not kinds:
            raise InvalidArgumentError(f"mix: no available background kind has weight > 0 ({self.mix})")
        p = np.array([self.mix[k] for k in kinds], np.float64)
        self._kinds, self._p = kinds, p / p.sum()
        self._photo_cache: dict[int, np.ndarray] = {}
        self._types = list(PASTE_TYPES)
        tp = np.array([PASTE_TYPES[t] for t in self._types], np.float64)
        self._tp = tp / tp.sum()

    def __getitem__(self, i: int) -> DetectionScene:
        rng = np.random.default_rng([self.seed, int(i)])
        kind = self._kinds[int(rng.choice(len(self._kinds), p=self._p))]
        if kind == "easypr":
            img, quads, texts = self._easypr_background(rng)
            types = ("unknown",) * len(quads)
        else:
            img = self._photo_background(rng) if kind == "photo" else self._procedural_background(rng)
            quads, texts, types = np.zeros((0, 4, 2)), (), ()
        quads_l, texts_l, types_l = list(quads), list(texts), list(types)
        if rng.random() >= self.empty and self.max_plates > 0:
            for _ in range(int(rng.integers(1, self.max_plates + 1))):
                placed = self._paste_one(img, quads_l, rng)
                if placed is None:
                    continue
                q, text, ptype = placed
                quads_l.append(q)
                texts_l.append(text)
                types_l.append(ptype)
        img = _frame_effects(img, rng)
        q = np.asarray(quads_l, np.float64).reshape(-1, 4, 2)
        return DetectionScene(img, q, tuple(texts_l), tuple(types_l), kind)

    # -- backgrounds --------------------------------------------------------

    def _frame_size(self, rng: np.random.Generator) -> tuple[int, int]:
        long = int(rng.integers(self.long_side[0], self.long_side[1] + 1))
        aspect = float(rng.choice([4 / 3, 16 / 9, 3 / 2, 1.0, 3 / 4, 9 / 16]))
        w, h = (long, long / aspect) if aspect >= 1 else (long * aspect, long)
        return int(round(h)), int(round(w))

    def _easypr_background(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
        assert self.easypr
        path, quads, texts = self.easypr[int(rng.integers(len(self.easypr)))]
        from .metrics import load_image

        src = load_image(path)
        H0, W0 = src.shape[:2]
        # a crop holding every labelled plate (a plate cut in two would be a wrong label)
        size = np.array([W0, H0], np.float64)
        lo = quads.reshape(-1, 2).min(0).clip(0, size)  # a plate may reach past the frame's edge
        hi = quads.reshape(-1, 2).max(0).clip(0, size)
        cw = float(rng.uniform(max(hi[0] - lo[0], 0.45 * W0), W0))
        ch = float(min(H0, max(hi[1] - lo[1], cw * H0 / W0 * rng.uniform(0.8, 1.2))))
        x0 = float(rng.uniform(max(0.0, hi[0] - cw), max(0.0, min(lo[0], W0 - cw)) + 1e-9))
        y0 = float(rng.uniform(max(0.0, hi[1] - ch), max(0.0, min(lo[1], H0 - ch)) + 1e-9))
        x0, y0 = min(x0, W0 - cw), min(y0, H0 - ch)
        long = int(rng.integers(self.long_side[0], self.long_side[1] + 1))
        s = long / max(cw, ch)
        out_w, out_h = max(8, int(round(cw * s))), max(8, int(round(ch * s)))
        A = np.array([[out_w / cw, 0, -x0 * out_w / cw], [0, out_h / ch, -y0 * out_h / ch]], np.float64)
        img = cv2.warpAffine(src, A, (out_w, out_h), flags=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REFLECT)
        q = quads.reshape(-1, 2) @ A[:, :2].T + A[:, 2]
        return img, q.reshape(-1, 4, 2), tuple(texts)

    def _photo_background(self, rng: np.random.Generator) -> np.ndarray:
        k = int(rng.integers(len(self.photos)))
        if k not in self._photo_cache:
            from .metrics import load_image

            self._photo_cache[k] = load_image(self.photos[k])
        src = self._photo_cache[k]
        h, w = self._frame_size(rng)
        H0, W0 = src.shape[:2]
        s = max(h / H0, w / W0) * float(rng.uniform(1.0, 1.6))
        big = cv2.resize(src, (max(w, int(round(W0 * s))), max(h, int(round(H0 * s)))), interpolation=cv2.INTER_LINEAR)
        y, x = int(rng.integers(0, big.shape[0] - h + 1)), int(rng.integers(0, big.shape[1] - w + 1))
        return np.ascontiguousarray(big[y:y + h, x:x + w])

    def _procedural_background(self, rng: np.random.Generator) -> np.ndarray:
        h, w = self._frame_size(rng)
        grad = cv2.resize(rng.uniform(30, 220, (3, 4, 3)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
        img = np.clip(grad + rng.normal(0, rng.uniform(2, 14), (h, w, 1)).astype(np.float32), 0, 255).astype(np.uint8)
        for _ in range(int(rng.integers(3, 14))):  # edges: kerbs, poles, car outlines
            p1 = (int(rng.integers(w)), int(rng.integers(h)))
            p2 = (int(rng.integers(w)), int(rng.integers(h)))
            cv2.line(img, p1, p2, rng.uniform(0, 255, 3).tolist(), int(rng.integers(1, 10)))
        for _ in range(int(rng.integers(0, 5))):  # boxes: windows, signs, plate-coloured blanks
            bw = int(rng.integers(20, max(21, w // 3)))
            bh = int(rng.integers(10, max(11, h // 3)))
            x, y = int(rng.integers(0, max(1, w - bw))), int(rng.integers(0, max(1, h - bh)))
            colour = ([170, 70, 20], [40, 180, 230], [80, 200, 120], [235, 235, 235])[int(rng.integers(4))] \
                if rng.random() < 0.4 else rng.uniform(0, 255, 3).tolist()
            cv2.rectangle(img, (x, y), (x + bw, y + bh), [float(c) for c in colour], -1)
            if rng.random() < 0.5:  # Latin text on it: a sign, not a plate
                text = "".join(rng.choice(list("ABCDEFGHKLMNPRSTUVWXYZ0123456789 "), int(rng.integers(3, 12))))
                scale = max(0.3, bh / 40)
                cv2.putText(img, text, (x + 2, y + int(bh * 0.7)), cv2.FONT_HERSHEY_SIMPLEX, scale,
                            rng.uniform(0, 255, 3).tolist(), max(1, int(scale * 2)), cv2.LINE_AA)
        return img

    # -- plates -------------------------------------------------------------

    def _paste_one(self, img: np.ndarray, quads: list[np.ndarray],
                   rng: np.random.Generator) -> tuple[np.ndarray, str, str] | None:
        H, W = img.shape[:2]
        ptype = self._types[int(rng.choice(len(self._types), p=self._tp))]
        aspect = PLATE_ASPECTS["double" if ptype == "yellow_double" else "single"]
        hi = max(self.min_width + 1, self.max_width_frac * W)
        for _ in range(12):
            pw = float(math.exp(rng.uniform(math.log(self.min_width), math.log(hi))))
            ph = pw / aspect
            if pw > 0.95 * W or ph > 0.9 * H:
                continue
            quad = _perspective_quad(pw, ph, rng)
            lo, span = quad.min(0), quad.max(0) - quad.min(0)
            if span[0] >= W - 2 or span[1] >= H - 2:
                continue
            off = np.array([rng.uniform(1, W - span[0] - 1), rng.uniform(1, H - span[1] - 1)]) - lo
            quad = quad + off
            if any(_overlaps(quad, q) for q in quads):
                continue
            break
        else:
            return None
        text = special_plate_text(ptype, rng) if ptype in SPECIAL_PLATES else random_plate_text(ptype, rng)
        plate, alpha = render_flat_plate(text, ptype, rng)
        plate = capture_effects(plate, rng, float(rng.uniform(0.0, 0.6)))
        if rng.random() < 0.6:  # a patch of car body around it: bumper, boot lid
            ph_px, pw_px = plate.shape[:2]
            mx, my = float(rng.uniform(0.3, 1.2)), float(rng.uniform(0.6, 2.0))
            car = _surround(rng, int(ph_px * (1 + 2 * my)), int(pw_px * (1 + 2 * mx)))
            y0, x0 = int(ph_px * my), int(pw_px * mx)
            a = alpha.astype(np.float32)[..., None] / 255
            roi = car[y0:y0 + ph_px, x0:x0 + pw_px]
            roi[:] = (plate * a + roi * (1 - a)).astype(np.uint8)
            # the plate's quad extended to the patch's corners, by the same homography
            src = np.array([[0, 0], [pw_px, 0], [pw_px, ph_px], [0, ph_px]], np.float32)
            Hm = cv2.getPerspectiveTransform((src + np.float32([x0, y0])).astype(np.float32), quad.astype(np.float32))
            ch, cw = car.shape[:2]
            outer = cv2.perspectiveTransform(np.array([[[0, 0], [cw, 0], [cw, ch], [0, ch]]], np.float32), Hm)[0]
            soft = np.zeros((48, 48), np.uint8)  # a feathered ellipse, drawn small and scaled up
            cv2.ellipse(soft, (24, 24), (24, 24), 0, 0, 360, 255, -1)
            soft = cv2.resize(cv2.GaussianBlur(soft, (0, 0), 4.0), (cw, ch), interpolation=cv2.INTER_LINEAR)
            paste_plate(img, outer, car, soft)
        else:
            paste_plate(img, quad, plate, alpha)
        return quad, text, ptype


def _frame_effects(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The whole frame's capture, mild (the plates carry their own :func:`capture_effects`): a
    gain and offset, a slight defocus (30%), sensor noise and JPEG at quality 40 to 95."""
    out = img.astype(np.float32) * float(rng.uniform(0.7, 1.25)) + float(rng.uniform(-25, 25))
    if rng.random() < 0.3:
        out = cv2.GaussianBlur(out, (0, 0), float(rng.uniform(0.4, 1.2)))
    out += rng.normal(0, float(rng.uniform(0, 6)), out.shape[:2] + (1,)).astype(np.float32)
    out = np.clip(out, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(40, 96))])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else out


def _perspective_quad(w: float, h: float, rng: np.random.Generator) -> np.ndarray:
    """A w x h plate seen with roll (~N(0, 5) degrees), yaw and pitch (one side shorter by up to
    25%, 15%), corners jittered by 1.5% of w: TL, TR, BR, BL, origin at the quad's centre."""
    q = np.array([[-w, -h], [w, -h], [w, h], [-w, h]], np.float64) / 2
    yaw = float(rng.uniform(-0.25, 0.25))
    pitch = float(rng.uniform(-0.15, 0.15))
    q[:, 1] *= 1 + yaw * np.sign(q[:, 0])      # the nearer side taller
    q[:, 0] *= 1 + pitch * np.sign(q[:, 1])    # the nearer edge wider
    q[:, 0] *= 1 - abs(yaw) * 0.5              # foreshortened
    t = math.radians(float(np.clip(rng.normal(0, 5), -20, 20)))
    R = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    q = q @ R.T
    return q + rng.normal(0, 0.015 * w / 2, q.shape)


def _overlaps(a: np.ndarray, b: np.ndarray, margin: float = 0.15) -> bool:
    """Whether the boxes of quads ``a`` and ``b`` (grown by ``margin`` of their size) intersect."""
    ba, bb = quad_boxes(a[None])[0], quad_boxes(np.asarray(b)[None])[0]
    ga = margin * np.array([-(ba[2] - ba[0]), -(ba[3] - ba[1]), ba[2] - ba[0], ba[3] - ba[1]])
    ba = ba + ga
    return not (ba[2] <= bb[0] or bb[2] <= ba[0] or ba[3] <= bb[1] or bb[3] <= ba[1])
