"""Seed 001, stage 2: train, export, quantize and bundle the meter digit models (Keras 3, torch backend).

    python -m training.meter_digits --out runs/meter_digits          # both models, then bundle
    python -m training.meter_digits --out runs/meter_digits --only cls
    python -m training.meter_digits --out runs/ens --only ensemble --members edgevision/models runs/a runs/b
    python -m training.meter_digits --out runs/ens --only bundle --kinds cls
    python -m training.meter_digits --out runs/ex --only exemplars --init edgevision/models

Stage 2 reads a rectified meter screen (``calibration.meter_synth.SCREEN_SIZE``, 96x256)
with two small models (design of issue 18):

- ``meter_digits``: the RetinaNet-style detector of ``exporters.zoo.keras_models.meter_digits``
  with two classes, ``digit`` and ``decimal`` (the area of the digits after the decimal
  point), anchors of ratios 0.5 / 1 / 2 (height / width), decoded in the graph to the
  yolov8 detection layout. Trained with the focal loss (alpha 0.25, gamma 2) and the
  smooth-L1 box loss on anchors matched at IoU >= 0.5 (negatives < 0.4, each box's best
  anchor positive) on synthetic screens (``render_screen``) and the real LCD train split
  (``calibration.meter_real``: each upright photo's digit rows, the row's boxes grown by
  a margin warped to the screen size; the ``decimal`` class exists only in synthesis).
- ``meter_digit_cls``: a 32x20 digit classifier (``keras_models.meter_digit_cls``) that
  reads every digit box in one batched call. Trained with soft targets: a drum at 3.7 is
  0.3 ``3`` and 0.7 ``4`` (synthetic drums, the real drum train split), one-hot for the
  LCD digits (synthetic LCDs, real LCD train-split digit boxes). A digit is the argmax:
  the nearest whole digit (3.4 -> 3, 3.6 -> 4); :func:`position_from_probs` gives the
  drum position in steps (a circular expectation over the 10 probabilities). Since
  2026-12-06 the bundled file averages the probabilities of 3 such classifiers, trained
  apart, in one graph (:func:`ensemble_cls`, ``exporters.ensemble.average_models``), each
  of them fine-tuned 4 epochs more on scene screens as stage 1 warps them (``--scenes``) with
  twice the real drum copies; and it carries a nearest-exemplar vote over the 700 real drum
  train crops (:func:`drum_exemplars`, ``exporters.exemplars``): a crop whose features are
  close to a known drum's takes half its probabilities from its 5 nearest exemplars' positions.

The reading of a screen is the runtime's (``edgevision.meters.read_screens``, which
``MeterReader`` and ``benchmarks.meters`` both call): the digit boxes scoring at least
``MIN_DIGIT_SCORE`` (0.5, chosen with the detector on the real LCD *train* rows and synthetic validation screens),
or a lower-scoring digit box the classifier reads with a probability of at least ``DIGIT_CONFIRM`` (0.95, since 2026-12-06),
without side-by-side duplicates, sorted by x, each read by the classifier; the digits whose
centre lies inside the best ``decimal`` box go after a ``.``. Held-out data is never trained on: the real
held-out splits of ``calibration.meter_real`` and synthetic seeds from
:data:`benchmarks.meters.SYNTH_HELDOUT_SEED` on (training seeds are below 10**6).

Host side: imports torch and keras. ``torch.set_num_threads(1)`` by default (the CPU is shared).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")

import cv2
import numpy as np

from calibration.meter_synth import DIGIT_CROP_SIZE, DRUM_GEOMETRIES, SCREEN_SIZE, digit_crop, render_screen
from edgevision.errors import InvalidArgumentError
from exporters.keras_export import save_keras_weights
from training.common import carry_card_sections

#: Anchor ratios (height / width) of the detector: digits are tall, the decimal area is wide.
DET_RATIOS = (0.5, 1.0, 2.0)
DET_LABELS = ("digit", "decimal")
#: :func:`assign` with ``topk``: the least IoU of a box's top-k anchors that it makes positive.
TOPK_MIN_IOU = 0.3
#: Detector architecture (``keras_models.meter_digits`` keyword arguments).
DET_ARCH = {"size": list(SCREEN_SIZE), "num_classes": 2, "backbone_width": 16, "fpn_width": 48, "head_depth": 2,
            "ratios": list(DET_RATIOS), "labels": list(DET_LABELS)}
CLS_ARCH = {"size": list(DIGIT_CROP_SIZE), "width": 24, "num_classes": 10, "pool": "avg"}
#: What the model cards say of the real LCD held-out labels (docs/real_data.md lists them).
LCD_LABEL_NOTE = ("The real LCD held-out labels are not all right: in 11 of the 286 readings the label contradicts "
                  "the display (listed, with what each display shows, in `docs/real_data.md`), so a reader of the "
                  "displays scores at most 275/286 = 96.2% on them. The set is used as it is.")
#: Seed of the synthetic screens the int8 models are calibrated and validated on.
CALIBRATION_SEED = 500_000
#: The model file stem of each kind of stage-2 model.
FAMILIES = {"cls": "meter_digit_cls", "det": "meter_digits"}
#: The title of each kind's model card.
CARD_TITLES = {"det": "the meter digit detector (seed 001, stage 2)", "cls": "the meter digit classifier (seed 001, stage 2)"}


def soft_target(position: float) -> np.ndarray:
    """(10,) float32: a drum position in steps as probabilities: 3.7 -> 0.3 on 3, 0.7 on 4 (9.6: 0.4 on 9, 0.6 on 0)."""
    p = float(position) % 10.0
    lo = int(math.floor(p))
    f = p - lo
    t = np.zeros(10, np.float32)
    t[lo % 10] += 1 - f
    t[(lo + 1) % 10] += f
    return t


def position_from_probs(probs: np.ndarray) -> np.ndarray:
    """Drum positions in steps [0, 10) from (N, 10) digit probabilities: the circular expectation
    ``angle(sum_k p_k exp(2 pi i k / 10)) * 10 / (2 pi)`` (exact for two adjacent soft targets
    only at 0, 0.5 and 1; close elsewhere)."""
    probs = np.asarray(probs, np.float64).reshape(-1, 10)
    ang = 2 * np.pi * np.arange(10) / 10
    z = probs @ np.exp(1j * ang)
    return (np.angle(z) * 10 / (2 * np.pi)) % 10


def _to_input(crops_bgr: np.ndarray) -> np.ndarray:
    """uint8 BGR NHWC -> the deploy input: RGB float32 / 255 (the models' ``preprocess``: swap_rb, scale 1/255)."""
    return crops_bgr[..., ::-1].astype(np.float32) / 255.0


def _jitter_box(box: np.ndarray, rng: np.random.Generator, amount: float = 0.08) -> np.ndarray:
    x0, y0, x1, y1 = box
    h = y1 - y0
    return box + rng.uniform(-amount, amount, 4).astype(np.float32) * h


def _photometric(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = img.astype(np.float32) * rng.uniform(0.7, 1.3) + rng.uniform(-25, 25)
    if rng.random() < 0.3:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.3, 0.9))
    out += rng.normal(0, rng.uniform(0, 6), out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def _appearance(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Meter-to-meter differences a few hundred real drums do not cover: a small rotation
    (+-6 degrees), the colour channels shuffled (p 0.5), light digits on dark made dark on light
    and back (inversion, p 0.3), grey (p 0.3)."""
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), float(rng.uniform(-6, 6)), 1.0)
    out = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if rng.random() < 0.5:
        out = out[..., rng.permutation(3)]
    if rng.random() < 0.3:
        out = 255 - out
    if rng.random() < 0.3:
        g = cv2.cvtColor(np.ascontiguousarray(out), cv2.COLOR_BGR2GRAY)
        out = cv2.merge([g, g, g])
    return np.ascontiguousarray(out)


# --- classifier data -------------------------------------------------------------------------


#: ``--drums`` choices: a drum geometry of :data:`calibration.meter_synth.DRUM_GEOMETRIES` for every screen,
#: or ``mix``: ``v1`` for even screen indices, ``v2`` for odd ones.
DRUM_CHOICES = DRUM_GEOMETRIES + ("mix",)


def drums_for(drums: str, i: int) -> str:
    """The drum geometry of the ``i``-th training screen under ``drums`` (:data:`DRUM_CHOICES`)."""
    if drums not in DRUM_CHOICES:
        raise InvalidArgumentError(f"drums: expected one of {DRUM_CHOICES}, got {drums!r}")
    return ("v1", "v2")[i % 2] if drums == "mix" else drums


def synth_digit_samples(seed: int, screens: int, drums: str = "v1", fonts: str = "hershey"
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Digit crops (N, 32, 20, 3) uint8 BGR and soft targets (N, 10) from ``screens`` synthetic screens
    (seeds ``seed .. seed + screens - 1``, drums as :func:`drums_for` gives them), each box jittered a
    little (detector slack)."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for i in range(screens):
        s = render_screen(seed + i, drums=drums_for(drums, i), fonts=fonts)
        for box, pos in zip(s.digit_boxes, s.positions):
            xs.append(digit_crop(s.image, _jitter_box(box, rng)))
            ys.append(soft_target(pos))
    return np.stack(xs), np.stack(ys)


def _stack_samples(xs: list[np.ndarray], ys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Crops (N, 32, 20, 3) uint8 and targets (N, 10) float32; N may be 0 (a split without files)."""
    if not xs:
        return np.zeros((0, *DIGIT_CROP_SIZE, 3), np.uint8), np.zeros((0, 10), np.float32)
    return np.stack(xs), np.stack(ys)


#: Geometric jitter of the real drum copies: the box centre moves up to this fraction of the crop
#: height (a drum's position moves with it: label noise of up to ~0.06 steps at the default) ...
DRUM_SHIFT = 0.06
#: ... and the box is scaled by up to this much either way.
DRUM_SCALE = 0.08


def real_drum_samples(split: str = "train", real: str | None = None, copies: int = 6, seed: int = 1,
                      appearance: bool = False, shift: float = DRUM_SHIFT, scale: float = DRUM_SCALE
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Haverland's drum crops of ``split`` (32x20), each as ``copies`` augmented copies (shift, scale,
    light, blur, noise; with ``appearance`` also rotation, channel order, inversion and grey:
    :func:`_appearance`), with soft targets. The first copy is the crop as it is. ``shift`` and ``scale``:
    :data:`DRUM_SHIFT`, :data:`DRUM_SCALE`."""
    from calibration.meter_real import drum_digits

    rng = np.random.default_rng(seed)
    xs, ys = [], []
    h, w = DIGIT_CROP_SIZE
    for d in drum_digits(split, real):
        img = cv2.resize(d.image, (w, h), interpolation=cv2.INTER_AREA) if d.image.shape[:2] != (h, w) else d.image
        for c in range(copies):
            if c == 0:
                xs.append(img)
            else:
                box = _jitter_box(np.array([0, 0, w, h], np.float32), rng, shift)
                s = rng.uniform(1 - scale, 1 + scale)
                cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
                box = np.array([cx - w * s / 2, cy - h * s / 2, cx + w * s / 2, cy + h * s / 2], np.float32)
                crop = digit_crop(img, box, margin=0.0)
                xs.append(_photometric(_appearance(crop, rng) if appearance else crop, rng))
            ys.append(soft_target(d.position))
    return _stack_samples(xs, ys)


def real_lcd_digit_samples(split: str = "train", real: str | None = None, copies: int = 2, seed: int = 2
                           ) -> tuple[np.ndarray, np.ndarray]:
    """Digit crops of the real LCD photos of ``split`` (upright photos' digit boxes), one-hot targets."""
    from calibration.meter_real import lcd_images, lcd_rows

    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for item in lcd_images(split, real):
        for row in lcd_rows(item):
            for box, d in zip(row.boxes, row.digits):
                for c in range(copies):
                    b = box if c == 0 else _jitter_box(box, rng)
                    crop = digit_crop(item.image, b)
                    xs.append(crop if c == 0 else _photometric(crop, rng))
                    ys.append(np.eye(10, dtype=np.float32)[d])
    return _stack_samples(xs, ys)


# --- detector data ---------------------------------------------------------------------------


#: ``render_scene`` seeds of the scene screens start at ``seed * 20_000 + SCENE_SEED_BASE`` (below 10**6, as
#: every training seed here; the meter benchmarks' held-out scenes start at 400,000,000).
SCENE_SEED_BASE = 300_000


def _init(model: Any, init: str | Path, inputs: np.ndarray) -> None:
    """Start ``model`` from ``init``: a ``.weights.h5`` of an earlier run, or an ``.onnx`` export of the same
    architecture (a bundled file), recovered and checked by :func:`training.keras_from_onnx.load_keras_from_onnx`."""
    if str(init).endswith(".onnx"):
        from training.keras_from_onnx import load_keras_from_onnx

        res = load_keras_from_onnx(model, init, inputs)
        print(f"init from {init}: {res}", flush=True)
    else:
        model.load_weights(str(init))


#: Scene screens (:func:`scene_screens`): the stage-1 corner error they imitate, as the standard deviation
#: of each corner's shift in fractions of the screen diagonal (the heatmap corner model's median error on
#: upright held-out scenes is about 0.03 of the diagonal, as a distance).
SCENE_JITTER = 0.02


def scene_screens(seed: int, count: int, jitter: float = SCENE_JITTER, drums: str = "v1", fonts: str = "hershey"
                  ) -> list[tuple[np.ndarray, np.ndarray, list[str], np.ndarray]]:
    """Screens as :class:`edgevision.MeterReader` sees them: the legible scenes among
    ``render_scene(seed + i)``, ``i < count``, each screen warped out of its 256x256 photo
    (``warp_quad`` to :data:`SCREEN_SIZE`) through its corners, each corner moved by a normal shift of
    ``jitter`` x the screen diagonal (stage 1's error). The scene's screen labels are carried into the
    warped screen (its boxes through both homographies, then their bounding box, clipped).

    Returns ``(image (96, 256, 3) uint8 BGR, boxes (K, 4) float32 px, classes, positions)`` per screen,
    as :class:`calibration.meter_synth.MeterScreen` holds them. A screen stage 2 would meet blurrier
    and less square than ``render_screen``'s, which is what the benchmark's whole meters show it.
    ``drums``: the scenes' drum geometry, as :func:`drums_for` gives it; ``fonts``: their typefaces
    (:data:`calibration.meter_synth.DRUM_FONTS`)."""
    from calibration.meter_synth import render_scene
    from edgevision import warp_quad

    rng = np.random.default_rng(seed)
    h, w = SCREEN_SIZE
    rect = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    out = []
    for i in range(count):
        sc = render_scene(seed + i, drums=drums_for(drums, i), fonts=fonts)
        if sc.meter_class == "illegible" or not len(sc.screen.boxes):
            continue
        c = np.asarray(sc.corners, np.float64)
        q = c + rng.normal(0.0, jitter * float(np.linalg.norm(c[2] - c[0])), (4, 2))
        try:
            img = warp_quad(sc.image, q, SCREEN_SIZE, dtype="uint8", layout="NHWC", scale=1.0)[0]
        except InvalidArgumentError:
            continue  # a jitter that folds the quad: no screen
        m = np.linalg.inv(cv2.getPerspectiveTransform(rect, q.astype(np.float32))) \
            @ cv2.getPerspectiveTransform(rect, c.astype(np.float32))
        b = np.asarray(sc.screen.boxes, np.float64)
        pts = np.stack([b[:, [0, 1]], b[:, [2, 1]], b[:, [2, 3]], b[:, [0, 3]]], 1)      # (K, 4, 2)
        hom = np.concatenate([pts, np.ones(pts.shape[:2] + (1,))], -1) @ m.T
        xy = hom[..., :2] / hom[..., 2:]
        boxes = np.concatenate([xy.min(1), xy.max(1)], 1)
        boxes = np.clip(boxes, 0, [w, h, w, h]).astype(np.float32)
        out.append((np.ascontiguousarray(img), boxes, list(sc.screen.classes),
                    np.asarray(sc.screen.positions, np.float32)))
    return out


def scene_digit_samples(seed: int, count: int, jitter: float = SCENE_JITTER, drums: str = "v1",
                        fonts: str = "hershey") -> tuple[np.ndarray, np.ndarray]:
    """Digit crops (N, 32, 20, 3) uint8 BGR and soft targets (N, 10) from :func:`scene_screens`, each box
    jittered a little (detector slack), as :func:`synth_digit_samples` makes them from rendered screens."""
    rng = np.random.default_rng(seed + 1)
    xs, ys = [], []
    for img, boxes, classes, positions in scene_screens(seed, count, jitter, drums, fonts):
        digits = boxes[[k for k, c in enumerate(classes) if c == "digit"]]
        for box, pos in zip(digits, positions):
            if box[2] - box[0] < 2 or box[3] - box[1] < 2:
                continue
            xs.append(digit_crop(img, _jitter_box(box, rng)))
            ys.append(soft_target(pos))
    return np.stack(xs), np.stack(ys)


def scene_detector_samples(seed: int, count: int, jitter: float = SCENE_JITTER
                           ) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """:func:`scene_screens` as detector samples: images, boxes (K, 4) px and class ids (0 digit, 1 decimal)."""
    imgs, boxes, classes = [], [], []
    for img, b, cls, _ in scene_screens(seed, count, jitter):
        imgs.append(img)
        boxes.append(b)
        classes.append(np.array([DET_LABELS.index(c) for c in cls], np.int64))
    return np.stack(imgs), boxes, classes


def synth_detector_samples(seed: int, count: int) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Synthetic screens (N, 96, 256, 3) uint8 BGR, boxes (K, 4) px and class ids (0 digit, 1 decimal)."""
    imgs, boxes, classes = [], [], []
    for i in range(count):
        s = render_screen(seed + i)
        imgs.append(s.image)
        boxes.append(s.boxes.astype(np.float32))
        classes.append(np.array([DET_LABELS.index(c) for c in s.classes], np.int64))
    return np.stack(imgs), boxes, classes


def real_lcd_detector_samples(split: str = "train", real: str | None = None, copies: int = 3, seed: int = 3
                              ) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Real LCD screens (rows of ``split``, :func:`calibration.meter_real.lcd_screen`), ``copies`` jittered
    crops each (the first the fixed evaluation crop), digit boxes only."""
    from calibration.meter_real import lcd_images, lcd_rows, lcd_screen

    rng = np.random.default_rng(seed)
    imgs, boxes, classes = [], [], []
    for item in lcd_images(split, real):
        for row in lcd_rows(item):
            for c in range(copies):
                scr, b = lcd_screen(row, rng=None if c == 0 else rng)
                imgs.append(scr if c == 0 else _photometric(scr, rng))
                boxes.append(b)
                classes.append(np.zeros(len(b), np.int64))
    return np.stack(imgs), boxes, classes


def _iou_matrix(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> np.ndarray:
    lt = np.maximum(a_xyxy[:, None, :2], b_xyxy[None, :, :2])
    rb = np.minimum(a_xyxy[:, None, 2:], b_xyxy[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), -1)
    area_a = np.prod(a_xyxy[:, 2:] - a_xyxy[:, :2], -1)
    area_b = np.prod(b_xyxy[:, 2:] - b_xyxy[:, :2], -1)
    return inter / (area_a[:, None] + area_b[None] - inter + 1e-9)


def assign(anchors: np.ndarray, boxes: np.ndarray, classes: np.ndarray, num_classes: int,
           variance: tuple[float, ...], *, topk: int = 0, topk_iou: float = TOPK_MIN_IOU
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RetinaNet targets of one image: class targets (K, C) (1 positive, 0 negative, -1 ignored rows),
    box deltas (K, 4) and the positive mask (K,). Anchors ``cx, cy, w, h`` px; boxes ``x0, y0, x1, y1`` px.

    An anchor is positive for the box it overlaps most at IoU >= 0.5, ignored at 0.4-0.5, negative
    below; every box keeps its best anchor. ``topk`` > 0 also makes each box's ``topk`` best anchors
    positive for it when their centre lies inside it and their IoU is at least ``topk_iou`` (and they are
    not another box's positive; as ATSS, Zhang et al. 2020, keeps a box's candidates to its inside):
    a narrow box (a seven-segment ``1``, 3x as tall as wide) overlaps few anchors at 0.5 on the
    stride-8 grid (a median of 2 against 16 for the other digits of 200 real LCD train photos), so without
    it the anchors around a ``1`` learn it as background."""
    k = len(anchors)
    cls_t = np.zeros((k, num_classes), np.float32)
    box_t = np.zeros((k, 4), np.float32)
    pos = np.zeros(k, bool)
    if len(boxes) == 0:
        return cls_t, box_t, pos
    a_xyxy = np.concatenate([anchors[:, :2] - anchors[:, 2:] / 2, anchors[:, :2] + anchors[:, 2:] / 2], 1)
    iou = _iou_matrix(a_xyxy, boxes)
    best = iou.argmax(1)
    best_iou = iou.max(1)
    pos = best_iou >= 0.5
    ignore = (best_iou >= 0.4) & ~pos
    if topk > 0:
        for j, cand in enumerate(np.argsort(-iou, axis=0)[:topk].T):
            inside = ((anchors[cand, 0] > boxes[j, 0]) & (anchors[cand, 0] < boxes[j, 2])
                      & (anchors[cand, 1] > boxes[j, 1]) & (anchors[cand, 1] < boxes[j, 3]))
            cand = cand[inside & (iou[cand, j] >= topk_iou) & (~pos[cand] | (best[cand] == j))]
            pos[cand], best[cand], ignore[cand] = True, j, False
    forced = iou.argmax(0)                     # every box keeps its best anchor
    pos[forced] = True
    best[forced] = np.arange(len(boxes))
    ignore[forced] = False
    g = boxes[best]
    gcx, gcy = (g[:, 0] + g[:, 2]) / 2, (g[:, 1] + g[:, 3]) / 2
    gw, gh = np.maximum(g[:, 2] - g[:, 0], 1), np.maximum(g[:, 3] - g[:, 1], 1)
    box_t = np.stack([(gcx - anchors[:, 0]) / anchors[:, 2] / variance[0],
                      (gcy - anchors[:, 1]) / anchors[:, 3] / variance[1],
                      np.log(gw / anchors[:, 2]) / variance[2], np.log(gh / anchors[:, 3]) / variance[3]], 1)
    cls_t[pos, classes[best[pos]]] = 1.0
    cls_t[ignore] = -1.0
    return cls_t, box_t.astype(np.float32), pos


# --- training loops --------------------------------------------------------------------------


def _torch_setup(threads: int, seed: int) -> Any:
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    np.random.seed(seed)
    return torch


def _trainable(model: Any) -> list[Any]:
    return [v.value for v in model.trainable_weights]


def train_cls(out: str | Path, *, synth_screens: int = 5000, epochs: int = 14, batch: int = 128,
              lr: float = 3e-3, threads: int = 1, seed: int = 0, real: str | None = None,
              time_limit_s: float = 1200, init: str | Path | None = None, drum_copies: int = 6,
              width: int = CLS_ARCH["width"], appearance: bool = False, scenes: int = 0,
              pool: str = CLS_ARCH["pool"], drum_split: str = "train", drum_shift: float = DRUM_SHIFT,
              drum_scale: float = DRUM_SCALE, drums: str = "v1", fonts: str = "hershey") -> dict[str, Any]:
    """Train ``meter_digit_cls`` (AdamW, cosine schedule, soft-target cross-entropy) and save
    ``<out>/meter_digit_cls.weights.h5`` and ``train_summary_cls.json`` (its ``arch`` is what
    :func:`export` builds). ``init``: weights to start from (a continued run: give it another
    ``seed`` so its synthetic data is new; a ``.onnx`` export, e.g. the bundled file, is recovered by
    :mod:`training.keras_from_onnx`). ``width``: the model's ``width``; ``appearance``: the real drums'
    extra augmentation (:func:`real_drum_samples`); ``scenes``: also the digits of the screens of this
    many synthetic scenes as stage 1 warps them (:func:`scene_digit_samples`); ``pool``: the model's
    pooling (``exporters.zoo.keras_models.DIGIT_POOLS``). ``drum_split`` ``fit`` trains on the real drum
    train split less its ``validation`` files and scores those after each epoch (``validation`` in the
    summary: nearest-digit accuracy and MAE in steps, :func:`benchmarks.meters.drum_scores`), to choose a
    recipe without the held-out drums. ``drum_shift``, ``drum_scale``: the real drums' geometric jitter
    (:func:`real_drum_samples`). ``drums``: the synthetic screens' and scenes' drum geometry
    (:data:`DRUM_CHOICES`, :func:`drums_for`); ``fonts``: their drum typefaces
    (:data:`calibration.meter_synth.DRUM_FONTS`)."""
    drums_for(drums, 0)
    from calibration.meter_synth import DRUM_FONTS

    if fonts not in DRUM_FONTS:
        raise InvalidArgumentError(f"fonts: expected one of {DRUM_FONTS}, got {fonts!r}")
    if drum_split not in ("train", "fit"):
        raise InvalidArgumentError(f"drum_split: expected 'train' or 'fit', got {drum_split!r}")
    torch = _torch_setup(threads, seed)
    from exporters.zoo.keras_models import meter_digit_cls

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    parts = {"synthetic": synth_digit_samples(seed * 20_000 + 1, synth_screens, drums, fonts),
             "real_drum_train": real_drum_samples(drum_split, real, copies=drum_copies, seed=seed + 1,
                                                  appearance=appearance, shift=drum_shift, scale=drum_scale),
             "real_lcd_train": real_lcd_digit_samples("train", real)}
    if scenes:
        parts["scene_screens"] = scene_digit_samples(seed * 20_000 + SCENE_SEED_BASE, scenes, drums=drums,
                                                      fonts=fonts)
    X = np.concatenate([p[0] for p in parts.values()])
    Y = np.concatenate([p[1] for p in parts.values()])
    data_s = time.time() - t0
    val = None
    if drum_split == "fit":
        from calibration.meter_real import drum_digits

        val = drum_digits("validation", real)
        val_x = _to_input(np.stack([d.image for d in val]))
        val_pos = [d.position for d in val]
    arch = {**CLS_ARCH, "width": width, "pool": pool}
    built = meter_digit_cls(**arch)
    model = built.model
    if init:
        _init(model, init, _to_input(X[:: max(1, len(X) // 256)][:256]))
    params = _trainable(model)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    rng = np.random.default_rng(seed)
    steps = epochs * (len(X) // batch)
    step, losses, val_scores = 0, [], []
    Xin = _to_input(X)
    for ep in range(epochs):
        perm = rng.permutation(len(X))
        tot, n = 0.0, 0
        for b in range(len(X) // batch):
            idx = perm[b * batch:(b + 1) * batch]
            for g in opt.param_groups:
                g["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
            x = torch.from_numpy(Xin[idx])
            y = torch.from_numpy(Y[idx])
            p = model(x, training=True)
            loss = -(y * torch.log(p.clamp_min(1e-7))).sum(1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += float(loss.detach())
            n += 1
            step += 1
        losses.append(tot / max(n, 1))
        msg = ""
        if val is not None:
            from benchmarks.meters import drum_scores

            with torch.no_grad():
                ok, err = drum_scores(model(torch.from_numpy(val_x), training=False).detach().numpy(), val_pos)
            val_scores.append({"epoch": ep + 1, "nearest_digit_accuracy": round(float(ok.mean()), 4),
                               "mae_steps": round(float(err.mean()), 4)})
            msg = f", validation drums {100 * ok.mean():.1f}% MAE {err.mean():.3f}"
        print(f"cls epoch {ep + 1}/{epochs} loss {losses[-1]:.4f}{msg} ({time.time() - t0:.0f} s)", flush=True)
        if time.time() - t0 > time_limit_s:
            print("cls: time limit reached", flush=True)
            break
    save_keras_weights(model, str(out / "meter_digit_cls.weights.h5"))
    summary = {"recipe": "training.meter_digits (classifier)", "arch": arch, "epochs_run": len(losses),
               "epochs": epochs, "batch": batch, "lr": lr, "threads": threads, "seed": seed,
               "data": {k: int(len(v[0])) for k, v in parts.items()}, "synth_screens": synth_screens,
               "drum_copies": drum_copies, "appearance": appearance, "scenes": scenes, "drum_split": drum_split,
               "drum_shift": drum_shift, "drum_scale": drum_scale, "drums": drums, "fonts": fonts,
               "loss_by_epoch": [round(v, 4) for v in losses], "data_s": round(data_s, 1),
               "train_s": round(time.time() - t0, 1)}
    summary["init"] = str(init) if init else None
    if val_scores:
        summary["validation"] = {"drums": len(val), "by_epoch": val_scores}
    (out / "train_summary_cls.json").write_text(json.dumps(summary, indent=1))
    return summary


def train_det(out: str | Path, *, synth_count: int = 6000, epochs: int = 12, batch: int = 32, lr: float = 2e-3,
              threads: int = 1, seed: int = 0, real: str | None = None, time_limit_s: float = 1200,
              init: str | Path | None = None, scenes: int = 0, lcd_copies: int = 3, topk: int = 0) -> dict[str, Any]:
    """Train ``meter_digits`` (AdamW, cosine schedule, focal + smooth-L1 losses) and save
    ``<out>/meter_digits.weights.h5`` and ``train_summary_det.json``. ``lcd_copies``: jittered crops of each
    real LCD train row (:func:`real_lcd_detector_samples`). ``init``: as for :func:`train_cls`;
    ``scenes``: also the screens of this many synthetic scenes as stage 1 warps them
    (:func:`scene_detector_samples`). ``topk``: :func:`assign`'s top-k positives (0: IoU alone)."""
    torch = _torch_setup(threads, seed)
    from exporters.zoo.keras_models import BOX_VARIANCE, meter_digits

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    si, sb, sc = synth_detector_samples(seed * 20_000 + 100_000, synth_count)
    ri, rb, rc = real_lcd_detector_samples("train", real, copies=lcd_copies)
    images = np.concatenate([si, ri])
    boxes, classes = sb + rb, sc + rc
    n_scene = 0
    if scenes:
        ci, cb, cc = scene_detector_samples(seed * 20_000 + SCENE_SEED_BASE, scenes)
        images, boxes, classes, n_scene = np.concatenate([images, ci]), boxes + cb, classes + cc, len(ci)
    built = meter_digits(**DET_ARCH)
    anchors = built.notes["anchors"]
    targets = [assign(anchors, b, c, 2, BOX_VARIANCE, topk=topk) for b, c in zip(boxes, classes)]
    CT = np.stack([t[0] for t in targets])
    BT = np.stack([t[1] for t in targets])
    PM = np.stack([t[2] for t in targets])
    data_s = time.time() - t0
    if init:
        _init(built.model, init, _to_input(images[:: max(1, len(images) // 64)][:64]))
    model = built.notes["training_model"]
    params = _trainable(model)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    rng = np.random.default_rng(seed)
    nb = len(images) // batch
    steps = epochs * nb
    step, losses = 0, []
    for ep in range(epochs):
        perm = rng.permutation(len(images))
        tot, n = 0.0, 0
        for b in range(nb):
            idx = perm[b * batch:(b + 1) * batch]
            for g in opt.param_groups:
                warm = min(1.0, (step + 1) / 200)
                g["lr"] = lr * warm * 0.5 * (1 + math.cos(math.pi * step / steps))
            x = torch.from_numpy(_to_input(images[idx]))
            ct, bt, pm = (torch.from_numpy(CT[idx]), torch.from_numpy(BT[idx]), torch.from_numpy(PM[idx]))
            deltas, logits = model(x, training=True)
            valid = (ct >= 0).float()
            t = ct.clamp_min(0)
            p = torch.sigmoid(logits)
            ce = torch.nn.functional.binary_cross_entropy_with_logits(logits, t, reduction="none")
            pt = p * t + (1 - p) * (1 - t)
            alpha = 0.25 * t + 0.75 * (1 - t)
            npos = pm.sum().clamp_min(1).float()
            cls_loss = (alpha * (1 - pt) ** 2 * ce * valid).sum() / npos
            box_loss = (torch.nn.functional.smooth_l1_loss(deltas, bt, reduction="none", beta=1 / 9).sum(-1)
                        * pm.float()).sum() / npos
            loss = cls_loss + box_loss
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 10.0)
            opt.step()
            tot += float(loss.detach())
            n += 1
            step += 1
        losses.append(tot / max(n, 1))
        print(f"det epoch {ep + 1}/{epochs} loss {losses[-1]:.4f} ({time.time() - t0:.0f} s)", flush=True)
        if time.time() - t0 > time_limit_s:
            print("det: time limit reached", flush=True)
            break
    save_keras_weights(built.model, str(out / "meter_digits.weights.h5"))
    summary = {"recipe": "training.meter_digits (detector)", "arch": DET_ARCH, "epochs_run": len(losses),
               "epochs": epochs, "batch": batch, "lr": lr, "threads": threads, "seed": seed, "topk": topk,
               "data": {"synthetic": int(len(si)), f"real_lcd_train_rows_x{lcd_copies}": int(len(ri)), "scene_screens": n_scene},
               "loss_by_epoch": [round(v, 4) for v in losses], "data_s": round(data_s, 1),
               "train_s": round(time.time() - t0, 1)}
    summary["init"] = str(init) if init else None
    (out / "train_summary_det.json").write_text(json.dumps(summary, indent=1))
    return summary


# --- export, int8, bundle --------------------------------------------------------------------


def cls_arch(weights: str | Path) -> dict[str, Any]:
    """The classifier architecture of trained weights: the ``arch`` of the ``train_summary_cls.json``
    beside them, or :data:`CLS_ARCH` for weights without one."""
    summary = Path(weights).parent / "train_summary_cls.json"
    return dict(json.loads(summary.read_text())["arch"]) if summary.is_file() else dict(CLS_ARCH)


def export(kind: str, weights: str | Path, out: str | Path) -> Path:
    """Export trained weights (``kind`` ``det`` or ``cls``) to a self-describing ONNX with
    ``exporters.export_keras``. The classifier's architecture is the ``arch`` of the
    ``train_summary_cls.json`` beside the weights (:data:`CLS_ARCH` without one)."""
    from exporters.keras_export import export_keras
    from exporters.zoo.keras_models import meter_digit_cls, meter_digits

    built = meter_digits(**DET_ARCH) if kind == "det" else meter_digit_cls(**cls_arch(weights))
    built.model.load_weights(str(weights))
    cfg = dict(built.config)
    if kind == "det":
        cfg["decoder"] = {"layout": "yolov8", "conf_threshold": 0.3, "iou_threshold": 0.45}
    rep = (np.stack([render_screen(CALIBRATION_SEED + i).image for i in range(4)]) if kind == "det"
           else synth_digit_samples(CALIBRATION_SEED, 2)[0][:8])
    export_keras(built.model, out, task=cfg["task"], preprocess=cfg["preprocess"], labels=cfg.get("labels"),
                 decoder=cfg.get("decoder"), name=cfg["name"], output_names=cfg["output_names"],
                 representative=_to_input(rep))
    return Path(out)


def decoder_nodes(model: str | Path) -> tuple[list[str], list[str]]:
    """The detector's in-graph decoder and its output convolutions, by node name.

    Returns ``(decoder, head_convs)``: every node downstream of the per-level ``Concat`` s of the
    box deltas and class logits (anchor arithmetic, ``Exp``, ``Sigmoid``, the output ``Concat``,
    where pixel coordinates and [0, 1] scores share one tensor: a shared int8 scale would erase
    the scores), and the convolutions that feed them through ``Transpose`` / ``Reshape`` / bias ``Add`` only."""
    import onnx

    from exporters.finalize import consumers

    g = onnx.load(str(model)).graph
    prod = {o: n for n in g.node for o in n.output}
    users = consumers(g)
    # level concats: Concat nodes fed (through Transpose / Reshape) by convolutions
    def conv_sources(n: Any) -> list[Any]:
        out = []
        for t in n.input:
            m = prod.get(t)
            while m is not None and m.op_type in ("Transpose", "Reshape", "Add"):   # Add: the conv bias
                m = prod.get(m.input[0])
            if m is not None and m.op_type == "Conv":
                out.append(m)
        return out

    level = [n for n in g.node if n.op_type == "Concat" and len(conv_sources(n)) >= 2]
    heads = sorted({c.name for n in level for c in conv_sources(n)})
    seen, stack = set(), [n for n in level]
    while stack:
        n = stack.pop()
        if n.name in seen:
            continue
        seen.add(n.name)
        for o in n.output:
            stack.extend(users.get(o, []))
    decoder = [n.name for n in g.node if n.name in seen]
    return decoder, heads


def quantize_int8(kind: str, fp32: str | Path, out: str | Path, *, tolerance: float = 0.01,
                  real: str | None = None) -> dict[str, Any]:
    """Static int8 (QDQ, U8S8, per-channel weights) through ``calibration.quantize.quantize``, accuracy-aware:
    candidates from fully int8 to more layers kept float are tried in order, each scored on a
    *validation* set (synthetic screens of :data:`CALIBRATION_SEED`, never the held-out sets) with
    the stage-2 metric; the first within ``tolerance`` (absolute, a fraction) of fp32 is kept, else
    the best. Calibrated on synthetic screens / digit crops of the same seed."""
    import shutil

    from benchmarks.meters import classifier_accuracy, synthetic_screens, stage2_reading_accuracy
    from calibration.quantize import quantize

    fp32, out = Path(fp32), Path(out)
    if kind == "det":
        calib = [render_screen(CALIBRATION_SEED + i).image for i in range(200)]
        val = synthetic_screens(CALIBRATION_SEED + 1000, 200)
        cls_model = str(Path(fp32).parent / "meter_digit_cls.onnx")   # the fp32 classifier: the detector alone is judged
        score = lambda m: stage2_reading_accuracy(str(m), cls_model, val)  # noqa: E731
        decoder, heads = decoder_nodes(fp32)
        candidates = [("all int8", []), ("decoder float", decoder), ("decoder + output convs float", decoder + heads)]
    else:
        X, Y = synth_digit_samples(CALIBRATION_SEED, 60)
        calib = list(X[:400])
        vx, vy = synth_digit_samples(CALIBRATION_SEED + 1000, 120)
        score = lambda m: classifier_accuracy(str(m), list(vx), vy.argmax(1))  # noqa: E731
        import onnx

        g = onnx.load(str(fp32)).graph
        tail = [n.name for n in g.node if n.op_type in ("ReduceMean", "MatMul", "Gemm", "Softmax")]
        stem = [n.name for n in g.node if n.op_type == "Conv"][:1]
        # probabilities stay float: an ensemble's Mean over 8-bit softmaxes sums to 0.993 instead of 1
        probs = [n.name for n in g.node if n.op_type in ("Softmax", "Mean")]
        candidates = [("all int8", probs), ("pool + dense float", sorted(set(tail + probs))),
                      ("pool + dense + stem conv float", sorted(set(tail + probs + stem)))]
    base = score(fp32)
    tried, best = [], None
    work = out.parent / (out.stem + "_try")
    work.mkdir(parents=True, exist_ok=True)
    for i, (name, excl) in enumerate(candidates):
        path = work / f"cand{i}.onnx"
        try:
            quantize(str(fp32), calib, str(path), method="minmax", fmt="U8S8", exclude=excl)
        except Exception as e:  # noqa: BLE001 - a candidate that cannot be built is recorded and skipped
            tried.append({"candidate": name, "error": str(e)[:200]})
            continue
        v = score(path)
        tried.append({"candidate": name, "exclude": excl, "validation": round(v, 4)})
        if best is None or v > best[1]:
            best = (path, v, name)
        if v >= base - tolerance:
            best = (path, v, name)
            break
    shutil.copyfile(best[0], out)
    shutil.rmtree(work, ignore_errors=True)
    return {"fp32_validation": round(base, 4), "chosen": best[2], "int8_validation": round(best[1], 4),
            "tried": tried, "tolerance": tolerance, "format": "U8S8 minmax per-channel",
            "calibration": f"synthetic seed {CALIBRATION_SEED}"}


def bundle(run_dir: str | Path, *, out_dir: str | Path | None = None, real: str | None = None,
           kinds: tuple[str, ...] = ("det", "cls")) -> dict[str, Any]:
    """Copy the run's fp32 exports into ``edgevision/models``, quantize them and write the model cards
    (real held-out figures first, then synthetic held-out; ``benchmarks.meters``). ``kinds``: the models
    of the run to bundle (``det``, ``cls``); the other one stays as it is in ``out_dir``, its card's
    stage-2 table brought up to date with the pair's figures and the rest of the card kept."""
    import shutil

    from benchmarks.meters import stage2_report, stage2_markdown
    from exporters.finalize import fold_file

    if not kinds or set(kinds) - {"det", "cls"}:
        raise InvalidArgumentError(f"kinds: expected some of 'det', 'cls', got {kinds!r}")
    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir else Path(__file__).resolve().parent.parent / "edgevision" / "models"
    fams_all = tuple(FAMILIES.items())
    fams = [(k, f) for k, f in fams_all if k in kinds]
    q = {}
    for kind, fam in fams:
        shutil.copyfile(run_dir / f"{fam}.onnx", out / f"{fam}.onnx")
        fold_file(out / f"{fam}.onnx")  # an export from before exporters.finalize folded the BatchNorms
    for kind, fam in fams:
        q[fam] = quantize_int8(kind, out / f"{fam}.onnx", out / f"{fam}_int8.onnx", real=real)
    rep = stage2_report(models_dir=str(out), real=real)
    md = stage2_markdown(rep)
    for kind, fam in fams_all:
        if kind not in kinds:  # kept: only its card's stage-2 table is new
            card = (out / f"{fam}.md").read_text()
            start, end = card.index("## Stage 2"), card.index(LCD_LABEL_NOTE)
            (out / f"{fam}.md").write_text(card[:start] + md + "\n\n" + card[end:])
    summaries: dict[str, Any] = {}
    for k in kinds:
        chain = _run_chain(run_dir, k)  # a continued run: its summary, then those it started from
        summaries[k] = chain if len(chain) > 1 else chain[0]
    for kind, title in CARD_TITLES.items():
        if kind not in kinds:
            continue
        fam = FAMILIES[kind]
        card = [f"# {fam}: {title}", "", "\n\n".join(__doc__.split("\n\n")[2:5]).strip(), "",
                "Whole-meter accuracy on real photos is **not measured**: no public set of whole utility-meter "
                "photos with readings exists here; stage 1 is measured on synthetic scenes only.", "",
                md, "", LCD_LABEL_NOTE, "", "## Training", "", "```",
                "make train-meter-digits   # the exact commands are in the Makefile", "```", "",
                "```json", json.dumps(summaries[kind], indent=1), "```", "",
                "## int8 (accuracy-aware)", "", "```json", json.dumps(q[fam], indent=1), "```", ""]
        old = out / f"{fam}.md"
        old.write_text(carry_card_sections(old.read_text() if old.is_file() else "", "\n".join(card)))
    (run_dir / "stage2_report.json").write_text(json.dumps(rep, indent=1, default=str))
    return {"report": rep, "int8": q}


def ensemble_cls(out: str | Path, members: list[str | Path]) -> dict[str, Any]:
    """Average trained classifiers into ``<out>/meter_digit_cls.onnx`` (``exporters.ensemble.average_models``:
    the mean of the members' probabilities, one graph) and write ``<out>/train_summary_cls.json``: each
    member's training (its run's summaries, following ``init``; for a folder of exports without
    summaries, e.g. ``edgevision/models``, the training block of its model card). ``members``: run
    folders holding a ``meter_digit_cls.onnx`` (at least 2)."""
    from exporters.ensemble import average_models

    if len(members) < 2:
        raise InvalidArgumentError(f"members: expected at least 2 run folders, got {len(members)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files, trainings = [], []
    for m in members:
        f = Path(m) / "meter_digit_cls.onnx"
        if not f.is_file():
            raise InvalidArgumentError(f"members: {m} holds no meter_digit_cls.onnx")
        files.append(f)
        trainings.append(_run_chain(Path(m), "cls") if (Path(m) / "train_summary_cls.json").is_file()
                         else _card_training(Path(m) / "meter_digit_cls.md"))
    average_models(files, out / "meter_digit_cls.onnx")
    summary = {"recipe": "training.meter_digits (classifier ensemble)", "rule": "mean of the members' probabilities",
               "members": [{"from": str(m), "training": t} for m, t in zip(members, trainings)]}
    (out / "train_summary_cls.json").write_text(json.dumps(summary, indent=1))
    return summary


#: The nearest-exemplar vote the bundled classifier carries (``exporters.exemplars``): chosen on the real
#: drum *validation* files with members trained on the *fit* files and a bank of the fit files (model card).
EXEMPLAR_VOTE = {"k": 5, "temperature": 0.02, "weight": 0.5, "gate_quantile": 0.02}


def drum_exemplars(src: str | Path, out: str | Path, *, real: str | None = None, split: str = "train",
                   files: tuple[str, ...] = ("meter_digit_cls.onnx", "meter_digit_cls_int8.onnx")) -> dict[str, Any]:
    """Give the classifiers ``files`` of folder ``src`` a nearest-exemplar vote over the real drum digits of
    ``split`` (``calibration.meter_real.drum_digits``; each labelled by :func:`soft_target` of its position)
    with :data:`EXEMPLAR_VOTE`, written under the same names in ``out`` (``exporters.exemplars``: an int8
    file gets a bank of its own int8 features). ``split="fit"`` keeps the validation drums out of the
    bank, to choose the vote's settings on them. Returns each file's ``exemplars`` metadata section."""
    from calibration.meter_real import drum_digits
    from exporters.exemplars import add_exemplar_vote

    drums = drum_digits(split, real)
    targets = np.stack([soft_target(d.position) for d in drums])
    src, out = Path(src), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    note = (f"real drum digits, split {split!r} of calibration.meter_real.drum_digits ({len(drums)} crops; "
            "haverland/Tenth-of-step-of-a-meter-digit, Apache-2.0)")
    return {f: add_exemplar_vote(src / f, out / f, [d.image for d in drums], targets, source=note, **EXEMPLAR_VOTE)
            for f in files}


def _run_chain(run_dir: Path, kind: str) -> list[dict[str, Any]]:
    """A run's training summaries, newest first: its own, then those of the runs it continued (``init``);
    one started from a bundled ``.onnx`` export ends with that file's training from its model card."""
    chain, d = [], run_dir
    while d is not None:
        sm = json.loads((d / f"train_summary_{kind}.json").read_text())
        chain.append(sm)
        # (a run started from an .onnx export, e.g. the bundled file, ends the chain: its card has the rest)
        d = Path(sm["init"]).parent if sm.get("init") and not str(sm["init"]).endswith(".onnx") else None
    if str(chain[-1].get("init") or "").endswith(".onnx"):
        chain += _card_training(Path(chain[-1]["init"]).parent / f"{FAMILIES[kind]}.md")
    return chain


def _card_training(card: Path) -> list[dict[str, Any]]:
    """The training summaries (the ```json block after ``## Training``) of a model card, as a list; [] if none."""
    if not card.is_file():
        return []
    text = card.read_text()
    if "## Training" not in text:
        return []
    rest = text[text.index("## Training"):]
    if "```json" not in rest:
        return []
    block = rest.split("```json", 1)[1].split("```", 1)[0]
    doc = json.loads(block)
    return doc if isinstance(doc, list) else [doc]


def _init_file(folder: str | Path, stem: str) -> Path:
    """``folder/stem.weights.h5`` if there is one, else ``folder/stem.onnx`` (the bundled files' folder)."""
    for name in (f"{stem}.weights.h5", f"{stem}.onnx"):
        if (Path(folder) / name).is_file():
            return Path(folder) / name
    raise InvalidArgumentError(f"--init: {folder} holds neither {stem}.weights.h5 nor {stem}.onnx")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.meter_digits", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="run folder (weights, exports, summaries)")
    ap.add_argument("--only", choices=("cls", "det", "ensemble", "exemplars", "bundle"), default=None,
                    help="one step: train+export the classifier or the detector, average classifiers (--members) "
                         "into --out, give the classifiers of --init a vote over the real drum exemplars "
                         "(--drum-split) written to --out, or bundle a finished run")
    ap.add_argument("--members", nargs="+", default=None,
                    help="with --only ensemble: run folders (or edgevision/models) whose meter_digit_cls.onnx to average")
    ap.add_argument("--kinds", nargs="+", choices=("det", "cls"), default=("det", "cls"),
                    help="with --only bundle: the run's models to bundle (the others stay as they are)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cls-epochs", type=int, default=14)
    ap.add_argument("--det-epochs", type=int, default=12)
    ap.add_argument("--synth-screens", type=int, default=5000, help="synthetic screens for the classifier's crops")
    ap.add_argument("--det-synth", type=int, default=6000, help="synthetic screens for the detector")
    ap.add_argument("--real", default=None, help="the real-data folder (default ../shared/data/real or $EDGEVISION_REAL_DATA)")
    ap.add_argument("--time-limit", type=float, default=1200, help="seconds per training (stops after the epoch)")
    ap.add_argument("--seed", type=int, default=0, help="training seed (synthetic data seeds derive from it)")
    ap.add_argument("--lr", type=float, default=None, help="peak learning rate (default: 3e-3 cls, 2e-3 det)")
    ap.add_argument("--drum-copies", type=int, default=6, help="augmented copies of each real drum train crop")
    ap.add_argument("--init", default=None, help="run folder whose weights to continue from (its .weights.h5, or "
                    "else its .onnx exports: e.g. edgevision/models for the bundled files)")
    ap.add_argument("--scenes", type=int, default=0,
                    help="also train on the screens of this many synthetic scenes as stage 1 warps them")
    ap.add_argument("--cls-width", type=int, default=CLS_ARCH["width"], help="the classifier's width")
    ap.add_argument("--cls-pool", default=CLS_ARCH["pool"], choices=("avg", "rows", "flatten"),
                    help="the classifier's pooling (exporters.zoo.keras_models.DIGIT_POOLS)")
    ap.add_argument("--drum-shift", type=float, default=DRUM_SHIFT,
                    help="real drum copies: box centre jitter, a fraction of the crop height")
    ap.add_argument("--drum-scale", type=float, default=DRUM_SCALE, help="real drum copies: scale jitter, +-")
    ap.add_argument("--lcd-copies", type=int, default=3, help="the detector: jittered crops of each real LCD train row")
    ap.add_argument("--det-topk", type=int, default=0,
                    help="the detector: each box's best k anchors are positive too when their centre lies inside "
                         "it and their IoU is at least TOPK_MIN_IOU (assign's topk; 0: IoU >= 0.5 alone)")
    ap.add_argument("--drum-split", default="train", choices=("train", "fit"),
                    help="fit: keep the real drum validation files out and score them each epoch")
    ap.add_argument("--appearance", action="store_true",
                    help="real drums also rotated, channel-shuffled, inverted and greyed (see _appearance)")
    ap.add_argument("--drums", default="v1", choices=DRUM_CHOICES,
                    help="the classifier's synthetic screens and scenes: drum geometry (calibration.meter_synth."
                         "DRUM_GEOMETRIES), or mix (v1 and v2 alternately)")
    ap.add_argument("--fonts", default="hershey", choices=("hershey", "many"),
                    help="the classifier's synthetic screens and scenes: drum typefaces (calibration.meter_synth."
                         "DRUM_FONTS; many: Hershey and matplotlib's TrueType faces, some condensed)")
    a = ap.parse_args(argv)
    out = Path(a.out)
    if a.only in (None, "cls"):
        train_cls(out, synth_screens=a.synth_screens, epochs=a.cls_epochs, threads=a.threads, real=a.real,
                  time_limit_s=a.time_limit, seed=a.seed, lr=a.lr or 3e-3,
                  init=_init_file(a.init, "meter_digit_cls") if a.init else None, drum_copies=a.drum_copies,
                  width=a.cls_width, appearance=a.appearance, scenes=a.scenes, pool=a.cls_pool,
                  drum_split=a.drum_split, drum_shift=a.drum_shift, drum_scale=a.drum_scale, drums=a.drums,
                  fonts=a.fonts)
        export("cls", out / "meter_digit_cls.weights.h5", out / "meter_digit_cls.onnx")
    if a.only in (None, "det"):
        train_det(out, synth_count=a.det_synth, epochs=a.det_epochs, threads=a.threads, real=a.real,
                  time_limit_s=a.time_limit, seed=a.seed, lr=a.lr or 2e-3,
                  init=_init_file(a.init, "meter_digits") if a.init else None, scenes=a.scenes,
                  lcd_copies=a.lcd_copies, topk=a.det_topk)
        export("det", out / "meter_digits.weights.h5", out / "meter_digits.onnx")
    if a.only == "ensemble":
        if not a.members:
            ap.error("--only ensemble needs --members")
        ensemble_cls(out, a.members)
    if a.only == "exemplars":
        if not a.init:
            ap.error("--only exemplars needs --init (the folder of the classifiers, e.g. edgevision/models)")
        print(json.dumps(drum_exemplars(a.init, out, real=a.real, split=a.drum_split), indent=1))
    if a.only in (None, "bundle"):
        res = bundle(out, real=a.real, kinds=tuple(a.kinds))
        print(json.dumps(res["int8"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
