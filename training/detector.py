"""Recipe: ``plate_pose``, the plate detector (issue 16): boxes, scores and 4 corners of every plate.

    python -m training.detector --out runs/det [--size 384] [--samples 8000] [--time-budget 3600] [--resume]

Data: :class:`calibration.plate_scenes.PlateDetectionScenes` (``TRAIN_SEED``): real EasyPR
*train* scenes with their labelled plates and the teacher's extra ones
(:data:`calibration.plate_scenes.EXTRA_PLATES`), the training half of the plate-free LCD
photos, and procedural backgrounds, with 0 to 4 plates pasted in the real plate typeface.
Each scene is letterboxed by the edgevision kernel exactly as the exported model's config
says (deploy preprocessing) and cached once as uint8 BGR, with up to :data:`MAX_PLATES`
quads in model-input pixels (NaN rows pad).

Assignment (static, FCOS-style, no learned matching): a plate whose box's longer side is
``m`` model-input pixels is assigned to the levels of :data:`LEVEL_RANGES` that hold ``m``;
there, anchor points inside its box and within ``CENTER_RADIUS`` strides of its centre are
positives, and the anchor nearest its centre always is (a plate 12 px wide still gets one).
An anchor claimed by two plates goes to the smaller. Losses, over positives: focal loss on
the score (alpha 0.25, gamma 2, every anchor, normalized by the positives), 1 - GIoU on the
box, and smooth-L1 on the corners divided by the plate's box diagonal (so a 30 px and a
300 px plate weigh alike) with weight ``KPT_WEIGHT``. Augmentation per batch: horizontal
flip (the corners' order swapped, TL<->TR, BL<->BR, so a mirrored plate's corners stay in
reading order), brightness gain and offset, with ``--geo-aug P`` a share P of the scenes
rolled, zoomed, shifted and darkened (:func:`geometric`), with ``--crops P`` a share P of each batch's
scenes replaced by second-look crops (:func:`second_look_crop`: what ``PlateReader``'s second look
feeds the detector, cut from the full-resolution scene), and with ``--rect P`` a share P of the
batches drawn from scenes of one content shape and cut to it (:func:`rect_groups`: what rect
inference feeds a model exported with dynamic height and width, which such a run exports). AdamW, warm-up + cosine (:class:`training.common.Schedule`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgevision.errors import InvalidArgumentError

from .common import Checkpointer, Schedule, build_cache, start_run

#: Quads per cached scene at most (more are dropped; the generator pastes at most 4).
MAX_PLATES = 12
#: Longer box side (model-input px) each level (stride 8, 16, 32) is trained on; the ranges overlap.
LEVEL_RANGES = ((0.0, 72.0), (48.0, 160.0), (112.0, 1e9))
CENTER_RADIUS = 2.5
KPT_WEIGHT = 4.0
#: Flip permutation of the corners: TL, TR, BR, BL -> mirrored TR', TL', BL', BR'.
FLIP_ORDER = [1, 0, 3, 2]


@dataclass(frozen=True)
class DetectorSample:
    """Picklable: index -> (uint8 (S, S, 3) letterboxed BGR, float32 (MAX_PLATES, 8) quads in input px, NaN-padded)."""

    seed: int
    size: int
    real: str | None
    easypr: str = "train"

    def __call__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        import edgevision

        s = _generator(self.seed, self.real, self.easypr)[i]
        blob, t = edgevision.letterbox(s.image, self.size, dtype="uint8", layout="NHWC", scale=1.0, pad_value=114)
        y = np.full((MAX_PLATES, 8), np.nan, np.float32)
        if len(s.quads):
            q = t.to_input(s.quads.reshape(-1, 2)).reshape(-1, 8)[:MAX_PLATES]
            y[:len(q)] = q
        return blob[0], y


#: Side of a second-look crop, in plate sizes (``max(w, 2 h)``), drawn uniformly; the reader's
#: second look uses :data:`edgevision.plates.REFINE_SCALE` (3).
CROP_SCALE = (2.0, 4.0)
#: Share of second-look crops centred on a plate-sized window anywhere (what a false first-look
#: proposal shows the second look) rather than on a plate.
CROP_BACKGROUND = 0.25
#: Standard deviation of a crop's centre offset, as a fraction of its side (a first look's box is not exact).
CROP_JITTER = 0.05
#: Draws of a crop before one that cuts no plate is given up on (the last draw is kept, cut plates unlabelled).
CROP_TRIES = 4


def second_look_crop(image: np.ndarray, quads: np.ndarray, rng: np.random.Generator
                     ) -> tuple[np.ndarray, np.ndarray]:
    """A crop of a scene as ``PlateReader``'s second look cuts one (``edgevision.plates``,
    ``refine_plates``): a square of side ``s * max(w, 2 h)`` (``s`` uniform in :data:`CROP_SCALE`)
    about a plate's corners' box (``w``, ``h`` its size in pixels), its centre moved by a normal
    :data:`CROP_JITTER` of the side, clipped to the image. With probability :data:`CROP_BACKGROUND`
    (always, when the scene has no plate) the window is a plate-sized one (``max(w, 2 h)``
    log-uniform from 40 px to half the image width) anywhere in the image instead.

    ``image`` (H, W, 3) uint8 at full resolution, ``quads`` (K, 4, 2) corners in its pixels.
    Returns ``(crop, quads)``: the crop (a view) and the quads wholly inside it, in its pixels.
    A draw that cuts a plate (some corners inside, some out) is redrawn up to :data:`CROP_TRIES`
    times (a cut plate would be a visible plate labelled as background)."""
    h, w = image.shape[:2]
    quads = np.asarray(quads, np.float64).reshape(-1, 4, 2)
    for _ in range(CROP_TRIES):
        if len(quads) and rng.random() >= CROP_BACKGROUND:
            q = quads[rng.integers(len(quads))]
            lo, hi = q.min(0), q.max(0)
            size = max(hi[0] - lo[0], 2.0 * (hi[1] - lo[1]), 1.0)
            centre = (lo + hi) / 2
        else:
            size = float(np.exp(rng.uniform(np.log(40.0), np.log(max(41.0, w / 2)))))
            centre = rng.uniform((0.0, 0.0), (w, h))
        side = size * rng.uniform(*CROP_SCALE)
        centre = centre + rng.normal(0.0, CROP_JITTER, 2) * side
        x0, y0 = np.floor(np.maximum(centre - side / 2, 0)).astype(int)
        x1, y1 = np.ceil(np.minimum(centre + side / 2, (w, h))).astype(int)
        if x1 - x0 < 8 or y1 - y0 < 8:
            continue
        shifted = quads - np.array([x0, y0], np.float64)
        inside = ((shifted >= 0) & (shifted <= (x1 - x0 - 1, y1 - y0 - 1))).all(2)   # (K, 4)
        whole, cut = inside.all(1), inside.any(1) & ~inside.all(1)
        if not cut.any():
            break
    else:
        if x1 - x0 < 8 or y1 - y0 < 8:
            return image, quads
    return image[y0:y1, x0:x1], shifted[whole]


@dataclass(frozen=True)
class DetectorCropSample:
    """Picklable: index -> a second-look crop (:func:`second_look_crop`) of scene ``offset + i`` of the
    stream, letterboxed as :class:`DetectorSample` letterboxes a scene (same outputs)."""

    seed: int
    size: int
    real: str | None
    offset: int
    easypr: str = "train"

    def __call__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        import edgevision

        s = _generator(self.seed, self.real, self.easypr)[self.offset + i]
        crop, quads = second_look_crop(s.image, s.quads, np.random.default_rng([self.seed, 11, self.offset + i]))
        blob, t = edgevision.letterbox(np.ascontiguousarray(crop), self.size, dtype="uint8", layout="NHWC",
                                       scale=1.0, pad_value=114)
        y = np.full((MAX_PLATES, 8), np.nan, np.float32)
        if len(quads):
            q = t.to_input(quads.reshape(-1, 2)).reshape(-1, 8)[:MAX_PLATES]
            y[:len(q)] = q
        return blob[0], y


class _Joined:
    """Row access to two arrays as one: rows ``0..len(a)-1`` of ``a``, then ``b`` (what :func:`_batch` indexes)."""

    def __init__(self, a: np.ndarray, b: np.ndarray) -> None:
        self.a, self.b, self.n = a, b, len(a)

    def __getitem__(self, idx: np.ndarray) -> np.ndarray:
        idx = np.asarray(idx)
        other = idx >= self.n
        out = np.empty((len(idx), *self.a.shape[1:]), self.a.dtype)
        if (~other).any():
            out[~other] = self.a[idx[~other]]
        if other.any():
            out[other] = self.b[idx[other] - self.n]
        return out


_GENERATORS: dict[Any, Any] = {}


#: ``--easypr-split`` choices: the EasyPR scenes a run's scenes are built on (``fit`` keeps
#: ``calibration.plate_scenes``'s ``validation`` scenes out, for ``benchmarks.scenes --sets validation``).
EASYPR_TRAIN_SPLITS = ("train", "fit")


def _generator(seed: int, real: str | None, easypr_split: str = "train") -> Any:
    from calibration.plate_scenes import EXTRA_PLATES, PlateDetectionScenes, easypr_scenes, plate_free_photos

    key = (seed, real, easypr_split)
    if key not in _GENERATORS:
        easypr, photos = None, []
        if real is not None:
            root = Path(real)
            easypr = easypr_scenes(root, easypr_split, extra=EXTRA_PLATES if EXTRA_PLATES.exists() else None)
            photos = plate_free_photos(root, "train")
        _GENERATORS[key] = PlateDetectionScenes(seed, easypr=easypr, photos=photos)
    return _GENERATORS[key]


def assign(y: Any, anchors: Any, strides: Any) -> tuple[Any, Any]:
    """Static assignment (module docs). ``y`` (B, P, 8) quads in input px (NaN rows pad),
    ``anchors`` (2, A), ``strides`` (A,). Returns ``(index (B, A) int64 of the plate each anchor
    is positive for, -1 for background; quads (B, P, 8) with NaN rows zeroed)``."""
    import torch

    B, P, _ = y.shape
    valid = ~torch.isnan(y[..., 0])
    q = torch.nan_to_num(y).view(B, P, 4, 2)
    lo, hi = q.min(2).values, q.max(2).values           # (B, P, 2)
    ctr = (lo + hi) / 2
    side = (hi - lo).max(-1).values                     # (B, P)
    area = (hi - lo).prod(-1)
    ax, ay = anchors[0][None, None], anchors[1][None, None]  # (1, 1, A)
    s = strides[None, None]
    inside = (ax > lo[..., :1]) & (ax < hi[..., :1]) & (ay > lo[..., 1:]) & (ay < hi[..., 1:])
    near = ((ax - ctr[..., :1]).abs() <= CENTER_RADIUS * s) & ((ay - ctr[..., 1:]).abs() <= CENTER_RADIUS * s)
    level_ok = torch.zeros_like(inside)
    nearest = torch.zeros_like(inside)
    for st, (a, b) in zip((8.0, 16.0, 32.0), LEVEL_RANGES):
        on = (strides == st)[None, None]
        ok = (side >= a) & (side < b)
        level_ok |= on & ok[..., None]
        d = (ax - ctr[..., :1]) ** 2 + (ay - ctr[..., 1:]) ** 2
        d = torch.where(on, d, torch.full_like(d, float("inf")))
        idx = d.argmin(-1, keepdim=True)                # (B, P, 1) nearest anchor on this level
        nearest |= torch.zeros_like(inside).scatter_(-1, idx, True) & ok[..., None]
    pos = ((inside & near) | nearest) & level_ok & valid[..., None]  # (B, P, A)
    cost = torch.where(pos, area[..., None].expand_as(pos), torch.full(pos.shape, float("inf"), device=y.device))
    best = cost.argmin(1)                               # (B, A)
    index = torch.where(pos.any(1), best, torch.full_like(best, -1))
    return index, torch.nan_to_num(y)


def loss_fn(model: Any, x: Any, y: Any, *, amp: bool = False) -> tuple[Any, dict[str, float]]:
    """The recipe's loss (module docs) for a batch ``x`` (B, 3, S, S) normalized, ``y`` (B, P, 8).

    ``amp``: the network runs under bfloat16 autocast (its outputs, and the loss, in float32)."""
    import torch
    import torch.nn.functional as F

    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=amp):
        ltrb, logits, k, anchors, strides = model.raw(x)  # anchors and strides of this batch's shape
    ltrb, logits, k = ltrb.float(), logits.float(), k.float()
    anchors, strides = anchors[0], strides[0, 0]
    index, q = assign(y, anchors, strides)
    posm = index >= 0
    npos = max(1, int(posm.sum()))
    target = posm.float()
    p = torch.sigmoid(logits[:, 0])
    ce = F.binary_cross_entropy_with_logits(logits[:, 0], target, reduction="none")
    pt = p * target + (1 - p) * (1 - target)
    alpha = 0.25 * target + 0.75 * (1 - target)
    l_cls = (alpha * (1 - pt) ** 2 * ce).sum() / npos
    if not posm.any():
        return l_cls, {"cls": float(l_cls.detach())}
    b, a = posm.nonzero(as_tuple=True)
    gq = q[b, index[b, a]].view(-1, 4, 2)               # (n, 4, 2)
    glo, ghi = gq.min(1).values, gq.max(1).values
    pa = anchors[:, a].T                                 # (n, 2)
    pl = ltrb[b, :, a]                                   # (n, 4)
    plo, phi = pa - pl[:, :2], pa + pl[:, 2:]
    inter = (torch.minimum(phi, ghi) - torch.maximum(plo, glo)).clamp(min=0).prod(1)
    union = (phi - plo).prod(1) + (ghi - glo).prod(1) - inter
    iou = inter / union.clamp(min=1e-6)
    hull = (torch.maximum(phi, ghi) - torch.minimum(plo, glo)).prod(1)
    giou = iou - (hull - union) / hull.clamp(min=1e-6)
    l_box = (1 - giou).mean()
    diag = (ghi - glo).norm(dim=1).clamp(min=4.0)
    pk = k[b, :, a].view(-1, 4, 2)
    l_kpt = F.smooth_l1_loss((pk - gq) / diag[:, None, None], torch.zeros_like(pk), beta=0.02, reduction="mean")
    err = ((pk - gq).norm(dim=2).mean(1) / diag).mean()
    loss = l_cls + 2.0 * l_box + KPT_WEIGHT * l_kpt
    return loss, {"cls": float(l_cls.detach()), "giou": float(l_box.detach()), "kpt": float(l_kpt.detach()), "kerr": float(err.detach()),
                  "iou": float(iou.detach().mean()), "npos": float(npos / len(x))}


#: ``--geo-aug`` transform ranges: roll (degrees, uniform), zoom (log-uniform), dark gamma.
GEO_ROLL_DEG = 30.0
GEO_ZOOM = (0.45, 1.6)
GEO_GAMMA = (1.0, 2.2)
#: Tries at a transform that keeps every plate inside the frame before the scene is left as it is.
GEO_TRIES = 6


def geometric(img: np.ndarray, quads: np.ndarray, rng: np.random.Generator, *, pad_value: int = 114
              ) -> tuple[np.ndarray, np.ndarray]:
    """One random similarity transform of a cached scene: roll up to +-:data:`GEO_ROLL_DEG`
    degrees, zoom in :data:`GEO_ZOOM`, and a shift, about the frame's centre.

    ``img`` (S, S, 3) uint8, ``quads`` (P, 8) corners in its pixels (NaN rows pad). A
    transform is kept only when every plate's corners stay inside the frame (a plate cut by
    the border would be a visible plate labelled as background, or a label on nothing); after
    :data:`GEO_TRIES` tries the scene is returned unchanged. The corners keep their order
    (TL, TR, BR, BL of the plate, which a roll under 45 degrees does not change). The border
    filled by a zoom-out is ``pad_value``, the letterbox's. Returns ``(image, quads)``."""
    import cv2

    S = img.shape[0]
    valid = ~np.isnan(quads[:, 0])
    pts = quads[valid].reshape(-1, 2)
    for _ in range(GEO_TRIES):
        ang = rng.uniform(-GEO_ROLL_DEG, GEO_ROLL_DEG)
        zoom = float(np.exp(rng.uniform(np.log(GEO_ZOOM[0]), np.log(GEO_ZOOM[1]))))
        M = cv2.getRotationMatrix2D((S / 2, S / 2), ang, zoom)
        M[:, 2] += rng.uniform(-0.2, 0.2, 2) * S
        out = pts @ M[:, :2].T + M[:, 2] if len(pts) else pts
        if len(out) == 0 or (out.min() >= 1 and out.max() <= S - 2):
            warped = cv2.warpAffine(img, M, (S, S), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                                    borderValue=(pad_value,) * 3)
            q = quads.copy()
            q[valid] = out.reshape(-1, 8)
            return warped, q
    return img, quads


#: The letterbox's pad value (the scenes are cached letterboxed, padded with it).
PAD_VALUE = 114
#: Stride of the rect batches (:func:`content_rect`): the model's coarsest level.
RECT_STRIDE = 32


def content_rect(img: np.ndarray, stride: int = RECT_STRIDE) -> tuple[int, int, int, int]:
    """``(y0, x0, h, w)``: what rect inference feeds of a letterboxed scene ``img`` (S, S, 3) uint8: the
    rows and columns holding its content (those not wholly the pad value), rounded out to multiples
    of ``stride`` and centred on the content, as :func:`edgevision.preprocess.rect_size` sizes them."""
    pad = np.all(img == PAD_VALUE, axis=2)
    out = []
    for keep, n in ((~pad.all(axis=1), img.shape[0]), (~pad.all(axis=0), img.shape[1])):
        idx = np.flatnonzero(keep)
        if not len(idx):
            out.append((0, n))
            continue
        lo, hi = int(idx[0]), int(idx[-1]) + 1
        side = min(n, -(-(hi - lo) // stride) * stride)
        out.append((int(np.clip((lo + hi) // 2 - side // 2, 0, n - side)), side))
    (y0, h), (x0, w) = out
    return y0, x0, h, w


def rect_groups(X: np.ndarray, stride: int = RECT_STRIDE) -> dict[tuple[int, int, int, int], np.ndarray]:
    """The cached scenes ``X`` (N, S, S, 3) grouped by :func:`content_rect`, square ones left out:
    ``{(y0, x0, h, w): indices}`` (rect batches are drawn from one group, so they share a shape)."""
    groups: dict[tuple[int, int, int, int], list[int]] = {}
    S = X.shape[1]
    for i in range(len(X)):
        r = content_rect(np.asarray(X[i]), stride)
        if r[2:] != (S, S):
            groups.setdefault(r, []).append(i)
    return {k: np.array(v) for k, v in groups.items()}


def _batch(X: np.ndarray, Y: np.ndarray, idx: np.ndarray, rng: np.random.Generator, device: str,
           geo_aug: float = 0.0, rect: tuple[int, int, int, int] | None = None) -> tuple[Any, Any]:
    """Cached uint8 BGR NHWC -> float RGB NCHW / 255 (the config's swap_rb and scale), flipped and jittered.

    ``geo_aug``: the share of scenes given :func:`geometric` and a darkening gamma in :data:`GEO_GAMMA`.
    ``rect``: ``(y0, x0, h, w)`` to cut every scene of the batch to (one :func:`rect_groups` group:
    what rect inference feeds a model exported with dynamic height and width), or ``None``. A rect
    batch is not given :func:`geometric` (its zoom-out would fill the cut rows with padding)."""
    import torch

    x = np.ascontiguousarray(X[idx][..., ::-1])          # BGR -> RGB
    y = np.array(Y[idx], np.float32)
    S = x.shape[2]
    gamma = np.ones(len(idx), np.float32)
    if rect is not None:
        y0, x0, h, w = rect
        x = np.ascontiguousarray(x[:, y0:y0 + h, x0:x0 + w])
        y[..., 0::2] -= x0
        y[..., 1::2] -= y0
    elif geo_aug > 0:
        for j in np.flatnonzero(rng.random(len(idx)) < geo_aug):
            x[j], y[j] = geometric(x[j], y[j], rng)
            gamma[j] = rng.uniform(*GEO_GAMMA)
    flip = rng.random(len(idx)) < 0.5
    x[flip] = x[flip][:, :, ::-1]
    yf = y[flip].reshape(-1, MAX_PLATES, 4, 2)
    yf[..., 0] = x.shape[2] - yf[..., 0]
    y[flip] = yf[:, :, FLIP_ORDER].reshape(-1, MAX_PLATES, 8)
    t = torch.from_numpy(x).to(device).permute(0, 3, 1, 2).float() / 255.0
    if geo_aug > 0:
        t = t ** torch.from_numpy(gamma).to(device).view(-1, 1, 1, 1)
    gain = torch.from_numpy(rng.uniform(0.75, 1.25, (len(idx), 1, 1, 1)).astype(np.float32)).to(device)
    off = torch.from_numpy(rng.uniform(-0.08, 0.08, (len(idx), 1, 1, 1)).astype(np.float32)).to(device)
    return (t * gain + off).clamp(0, 1), torch.from_numpy(y).to(device)


def train(out: str | Path, *, size: int = 384, samples: int = 8000, epochs: int = 40, batch: int = 16,
          lr: float = 2e-3, weight_decay: float = 5e-4, seed: int | None = None, time_budget_s: float | None = None,
          resume: bool = False, device: str | None = None, threads: int | None = None, workers: int | None = None,
          real: str | None = None, width: int = 16, init: str | None = None, progress: bool = True,
          log_every: int = 25, precision: str | None = "auto", geo_aug: float = 0.0, rect: float = 0.0,
          crops: float = 0.0, crop_samples: int = 3000, easypr_split: str = "train", act: str = "silu") -> dict[str, Any]:
    """Train ``plate_pose``; writes ``out/checkpoints/last.pt`` and ``out/plate_pose.pt``. Returns the run's summary.

    ``precision`` (:func:`training.common.pick_precision`): ``bf16`` runs the network under
    bfloat16 autocast in channels-last memory (weights, optimizer and loss in float32); on a
    CPU with AVX-512 BF16 that is about 1.7x faster than float32 here. ``geo_aug``: the share of
    scenes rolled, zoomed, shifted and darkened in each batch (:func:`geometric`; 0 for the first
    bundled run, which saw each cached scene as it is, flipped and brightness-jittered). ``rect``:
    the share of batches drawn from one content shape and cut to it (:func:`rect_groups`); above 0 the model is built with
    dynamic height and width and exported so (``preprocess.stride``), to be run on rect inputs. ``crops``:
    the share of each (square) batch's scenes replaced by second-look crops (:func:`second_look_crop`),
    drawn from ``crop_samples`` of them cached from scenes ``samples ..`` of the same stream (new scenes).
    ``easypr_split``: the real EasyPR scenes the scenes are built on, ``train`` (every bundled run) or
    ``fit`` (``train`` less its ``validation`` scenes, which ``benchmarks.scenes --sets validation`` then
    reads as never trained on; :data:`EASYPR_TRAIN_SPLITS`). ``act``: the network's activation
    (:data:`exporters.zoo.pose_models.ACTIVATIONS`); an ``init`` with the other one starts from its weights."""
    if not (isinstance(geo_aug, (int, float)) and 0.0 <= geo_aug <= 1.0):
        raise ValueError(f"geo_aug: expected a share in [0, 1] of the scenes to transform, got {geo_aug!r}")
    if not (isinstance(rect, (int, float)) and 0.0 <= rect <= 1.0):
        raise ValueError(f"rect: expected a share in [0, 1] of the batches to cut to their content, got {rect!r}")
    if not (isinstance(crops, (int, float)) and 0.0 <= crops < 1.0):
        raise ValueError(f"crops: expected a share in [0, 1) of each batch to replace by second-look crops, got {crops!r}")
    if easypr_split not in EASYPR_TRAIN_SPLITS:
        raise ValueError(f"easypr_split: expected one of {list(EASYPR_TRAIN_SPLITS)}, got {easypr_split!r}")
    if crops > 0 and not (isinstance(crop_samples, int) and crop_samples >= 1):
        raise ValueError(f"crop_samples: expected an int >= 1 (second-look crops to cache), got {crop_samples!r}")
    import torch

    from .common import pick_precision

    from calibration.real import real_root

    from exporters.zoo import build

    seed, dev = start_run(seed, threads, device)
    out = Path(out)
    root = str(real_root(real))
    split_key = {} if easypr_split == "train" else {"easypr": easypr_split}   # the train runs' keys as before
    X, Y = build_cache(out / "cache", DetectorSample(seed, size, root, easypr_split), samples,
                       key={"recipe": "detector", "size": size, "seed": seed, "v": 1, "real": root, **split_key},
                       workers=workers, desc="detector scenes", progress=progress)
    n_crops = int(round(batch * crops))
    XS, YS = X, Y
    if n_crops:
        Xc, Yc = build_cache(out / "crop_cache", DetectorCropSample(seed, size, root, samples, easypr_split),
                             crop_samples,
                             key={"recipe": "detector crops", "size": size, "seed": seed, "v": 1, "real": root,
                                  **split_key,
                                  "offset": samples, "scale": CROP_SCALE, "background": CROP_BACKGROUND,
                                  "jitter": CROP_JITTER},
                             workers=workers, desc="second-look crops", progress=progress)
        XS, YS = _Joined(X, Xc), _Joined(Y, Yc)
    model = build("plate_pose", size=size, width=width, dynamic_hw=rect > 0, act=act).model.to(dev)
    groups = rect_groups(X) if rect > 0 else {}
    group_keys = list(groups)
    group_p = np.array([len(groups[k]) for k in group_keys], np.float64)
    group_p = group_p / group_p.sum() if len(group_p) else group_p
    if progress and groups:
        print(f"rect batches from {len(groups)} content shapes: "
              + ", ".join(f"{k[2]}x{k[3]} ({len(v)})" for k, v in sorted(groups.items(), key=lambda kv: -len(kv[1]))[:6]),
              flush=True)
    loaded = load_init(model, init, X, width=width, act=act) if init else None
    precision = pick_precision(precision, dev)
    amp = precision == "bf16"
    if amp:
        model = model.to(memory_format=torch.channels_last)
    steps_per_epoch = max(1, samples // batch)
    total = steps_per_epoch * epochs
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    ckpt = Checkpointer(out / "checkpoints")
    step, extra = ckpt.load(model, opt, None) if resume else (0, {})
    sched = Schedule(lr, total, time_budget_s, start_elapsed=float(extra.get("elapsed", 0.0)))
    logs: dict[str, list[float]] = {}
    model.train()
    stopped = "epochs"
    while step < total and sched.progress(step) < 1.0:
        epoch = step // steps_per_epoch
        perm = np.random.default_rng([seed, epoch]).permutation(samples)
        for bi in range(step % steps_per_epoch, steps_per_epoch):
            idx = np.sort(perm[bi * batch:(bi + 1) * batch])
            brng = np.random.default_rng([seed, 7, step])
            cut = None
            if groups and brng.random() < rect:  # a rect batch: scenes of one content shape
                gi = brng.choice(len(group_keys), p=group_p)
                cut = group_keys[gi]
                idx = np.sort(brng.choice(groups[cut], batch, replace=len(groups[cut]) < batch))
            if n_crops and cut is None:  # a share of the batch: second-look crops (rows after the scenes)
                idx = np.concatenate([idx[:batch - n_crops], samples + brng.choice(crop_samples, n_crops)])
            x, y = _batch(XS, YS, idx, brng, dev, geo_aug, cut)
            if amp:
                x = x.contiguous(memory_format=torch.channels_last)
            loss, info = loss_fn(model, x, y, amp=amp)
            cur = sched.apply(opt, step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            opt.step()
            step += 1
            logs.setdefault("loss", []).append(float(loss.detach()))
            for k, v in info.items():
                logs.setdefault(k, []).append(v)
            if progress and step % log_every == 0:
                shown = " ".join(f"{k} {np.mean(v[-log_every:]):.4f}" for k, v in logs.items())
                print(f"step {step}/{total} lr {cur:.2e} {shown} ({sched.elapsed:.0f} s)", flush=True)
            if step % 200 == 0:
                ckpt.save(step, model, opt, None, {"elapsed": sched.elapsed})
            if sched.progress(step) >= 1.0:
                stopped = "time budget" if step < total else "epochs"
                break
    ckpt.save(step, model, opt, None, {"elapsed": sched.elapsed})
    model.eval()
    model = model.to(memory_format=torch.contiguous_format)
    torch.save(model.state_dict(), out / "plate_pose.pt")
    return {"recipe": "detector", "steps": step, "total_steps": total, "epochs": step / steps_per_epoch,
            "stopped_by": stopped, "seconds": sched.elapsed, "precision": precision, "size": size, "batch": batch,
            "lr": lr, "width": width, "act": act, "geo_aug": geo_aug, "rect": rect, "init": str(init) if init else None,
            **({"easypr_split": easypr_split} if easypr_split != "train" else {}),
            **({"crops": crops, "crop_samples": crop_samples, "crops_per_batch": n_crops,
                "crop_scale": CROP_SCALE, "crop_background": CROP_BACKGROUND, "crop_jitter": CROP_JITTER}
               if n_crops else {}),
            **({"init_loaded": loaded} if loaded else {}),
            **{f"train_{k}_last100": float(np.mean(v[-100:])) for k, v in logs.items()},
            "data": {"generator": "calibration.plate_scenes.PlateDetectionScenes", "seed": seed, "samples": samples,
                     "easypr": f"{easypr_split} scenes (+ teacher pseudo-labels)", "photos": "LCD photos, train half"}}


def load_init(model: Any, weights: str | Path, X: np.ndarray, width: int = 16, act: str = "silu") -> dict[str, Any]:
    """Loads ``weights`` into the detector ``model``: a ``.pt`` state dict of the same architecture, or an
    exported ``.onnx`` of it (the bundled ``plate_pose.onnx``, say, when its run's checkpoint is gone):
    every tensor recovered by :func:`training.from_onnx.state_from_onnx`, checked against ONNX Runtime on
    the first cached scenes ``X`` (uint8 BGR NHWC, as :func:`_batch` feeds them), and the BatchNorms that
    export folded away recalibrated on up to 256 of them (resized to the export's input size when the run's
    differs: the network is fully convolutional; ``width``, ``act``: the model's; an export with the other
    activation, which has the same weights, is checked as itself by a twin built with its activation, whose
    weights the model then takes). Returns what was loaded (for the run's summary)."""
    import hashlib

    import torch

    from .from_onnx import load_from_onnx

    path = Path(weights)
    if not path.is_file():
        raise InvalidArgumentError(f"init: {path} is not a file (expected a .pt state dict or an .onnx export of "
                                   "plate_pose)")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    if path.suffix.lower() != ".onnx":
        model.load_state_dict(torch.load(path, map_location=next(model.parameters()).device))
        return {"weights": path.name, "sha256_16": digest}
    X = X[:256]
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    dims = [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    its_act = "relu" if any(n.op_type == "Relu" for n in graph.node) else "silu"
    target = model
    other_size = len(dims) == 4 and dims[2] and dims[3] and (dims[2], dims[3]) != tuple(X.shape[1:3])
    if other_size or its_act != act:
        # The same weights in another shape: an export at another input size (a 384 detector starting a 192 one;
        # fully convolutional, the anchors are not in the state) or with the other activation. A twin with the
        # export's size and activation is loaded, checked and recalibrated (on the scenes resized to its size),
        # and its state copied into the model.
        from exporters.zoo import build

        size = (dims[2], dims[3]) if other_size else tuple(X.shape[1:3])
        target = build("plate_pose", size=size, width=width, act=its_act).model
        if other_size:
            import cv2

            X = np.stack([cv2.resize(x, (dims[3], dims[2]), interpolation=cv2.INTER_LINEAR) for x in X])
    x = np.ascontiguousarray(X[..., ::-1]).transpose(0, 3, 1, 2).astype(np.float32) / 255.0
    got = load_from_onnx(target, path, [torch.from_numpy(x[i:i + 16]) for i in range(0, len(x), 16)], check=4)
    if target is not model:
        model.load_state_dict(target.state_dict())
    return {"weights": path.name, "sha256_16": digest, **({"activation": its_act} if its_act != act else {}),
            "from_onnx": {"max_abs_error": got["max_abs_error"],
                          "batchnorm_recalibrated": len(got["batchnorm_recalibrated"]),
                          "recalibration_images": got["recalibration_images"]}}


def export(out: str | Path, weights: str | Path, *, size: int = 384, width: int = 16,
           summary: dict[str, Any] | None = None, representative: Any = None, dynamic_hw: bool | None = None,
           act: str | None = None) -> Any:
    """Export the trained weights to ONNX with full metadata (:func:`training.common.export_trained`);
    ``dynamic_hw`` (default: whether the run trained on rect batches, ``summary["rect"] > 0``); ``act``
    (default: the run's, ``summary["act"]``, else ``"silu"``)."""
    from .common import export_trained

    if dynamic_hw is None:
        dynamic_hw = bool((summary or {}).get("rect", 0) > 0)
    if act is None:
        act = str((summary or {}).get("act", "silu"))
    return export_trained("plate_pose", {"size": size, "width": width, "dynamic_hw": dynamic_hw, "act": act}, weights, out,
                          recipe="detector", summary=summary, representative=representative)


#: Seed of the scenes the int8 model is calibrated on (not the training seed; no evaluation scene).
CALIBRATION_SEED = 3_000_017


def quantize_int8(fp32: str | Path, out: str | Path, *, real: str | None = None, count: int = 200,
                  method: str = "percentile", float_decode: bool = True, easypr_split: str = "train",
                  uint8_input: bool = True, channels_last: bool = True) -> Any:
    """Static int8 (QDQ, U8S8: the fast format for ONNX Runtime on x86) of the detector, calibrated on
    ``count`` scenes of :class:`calibration.plate_scenes.PlateDetectionScenes` (``CALIBRATION_SEED``,
    EasyPR train backgrounds where the real data is there); the outputs and the output convolutions
    (:func:`output_convs`) stay float, and with ``float_decode`` the decoding after them too
    (:func:`decode_nodes`). Without it (how the bundled int8 detector was made) the box sides,
    corners and anchor sums are quantized to 8 bits over a few hundred pixels: its corners differ
    from fp32 by a median 0.022 of the plate diagonal, against 0.004 with it (see the card).
    ``easypr_split``: the EasyPR scenes the calibration scenes are built on (the run's, so a ``fit`` run's
    int8 never sees a validation scene). ``uint8_input``: then let the int8 model take the uint8 pixels
    (:func:`calibration.quantize.uint8_input`: its input quantization gives every pixel value back, so
    the outputs are the same bit for bit; how the bundled int8 detector is made since 2026-12-07); a
    model where that check fails keeps its float input and the result's notes say so. ``channels_last``:
    then let it take NHWC pixels with a 4th, zero channel
    (:func:`calibration.quantize.channels_last_input`: the same outputs bit for bit, checked; ONNX
    Runtime's first int8 convolution skips a transpose and reads 4-byte taps: 0.9x the detector's time
    on an AMD EPYC; how the bundled int8 detector is made since 2026-12-07, session 20); likewise kept
    as it was, with a note, where it does not apply (:func:`calibration.quantize.optimize_input`)."""
    from calibration.quantize import quantize

    if not isinstance(float_decode, bool):
        raise InvalidArgumentError(f"float_decode: expected True or False, got {float_decode!r}")
    if easypr_split not in EASYPR_TRAIN_SPLITS:
        raise InvalidArgumentError(f"easypr_split: expected one of {list(EASYPR_TRAIN_SPLITS)}, got {easypr_split!r}")
    images = [_generator(CALIBRATION_SEED, real, easypr_split)[i].image for i in range(count)]
    q = quantize(str(fp32), images, str(out), method=method, fmt="U8S8",
                 exclude=output_convs(fp32) + (decode_nodes(fp32) if float_decode else []))
    if uint8_input or channels_last:
        from calibration.quantize import optimize_input

        applied, notes = optimize_input(out, uint8=uint8_input, channels_last=channels_last)
        q.quantization.update(applied)
        q.notes += notes
    return q


def decode_nodes(model: str | Path) -> list[str]:
    """Names of the detector's nodes that are neither its output convolutions nor feed them: the
    decoding after the heads (box sides, corners and scores into the output rows) and the anchor
    grid that a model with dynamic height and width computes from its feature maps' shapes.
    :func:`quantize_int8` keeps them float: quantizing them would round pixel coordinates
    (anchor points up to 384 px) to 8 bits, and they are a few cheap element-wise ops."""
    import onnx

    m = onnx.load(str(model))
    heads = set(output_convs(model))
    producer = {o: n for n in m.graph.node for o in n.output}
    feeding: set[str] = set()
    todo = [n for n in m.graph.node if n.name in heads]
    while todo:
        n = todo.pop()
        for i in n.input:
            p = producer.get(i)
            if p is not None and p.name not in feeding:
                feeding.add(p.name)
                todo.append(p)
    return [n.name for n in m.graph.node if n.name not in heads and n.name not in feeding]


def output_convs(model: str | Path) -> list[str]:
    """Names of the detector's output convolutions (the box, score and corner heads: the convs whose
    output is only reshaped, into the output rows), which :func:`quantize_int8` keeps float: the
    corners are regressed in pixels there, and they are a few kB of weights."""
    import onnx

    from exporters.finalize import consumers

    m = onnx.load(str(model))
    users = consumers(m.graph)
    return [n.name for n in m.graph.node if n.op_type == "Conv"
            and all(users.get(o) and {u.op_type for u in users[o]} <= {"Reshape", "Flatten"} for o in n.output)]


def bundle(run_dir: str | Path, *, real: str | None = None, out_dir: str | Path | None = None,
           peer_detector: str | None = None, threads: int = 1, float_decode: bool = True) -> dict[str, Any]:
    """The run's fp32 export and its int8 into ``edgevision/models`` (``plate_pose.onnx``,
    ``plate_pose_int8.onnx``) with a model card measured by ``benchmarks.scenes`` on the real
    scenes (never trained on), the peer beside it when ``peer_detector`` is given.
    ``float_decode``: see :func:`quantize_int8` (the bundled int8 detector was made with False)."""
    import shutil

    from benchmarks.scenes import run as scenes_run, to_markdown
    from calibration.real import real_root

    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir else Path(__file__).resolve().parent.parent / "edgevision" / "models"
    root = str(real_root(real))
    fp32 = out / "plate_pose.onnx"
    shutil.copyfile(run_dir / "plate_pose.onnx", fp32)
    summary = json.loads((run_dir / "train_summary.json").read_text())
    q = quantize_int8(fp32, out / "plate_pose_int8.onnx", real=root, float_decode=float_decode,
                      easypr_split=summary.get("easypr_split", "train"))
    tables = {}
    for path in (fp32, q.path):
        res = scenes_run(str(path), peer_detector=peer_detector if path == q.path else None, real=root,
                         threads=threads)
        tables[Path(path).name] = to_markdown(res).replace(str(out) + "/", "")
    card = ["# plate_pose: the plate detector (issue 16)", "",
            "Boxes, scores and the 4 corners (TL, TR, BR, BL) of every plate; YOLOv8-pose output layout "
            "(`task: pose`, `kpt_shape: [4, 2]`). Architecture: `exporters.zoo.pose_models` "
            f"(width {summary.get('width')}, input {summary.get('size')}x{summary.get('size')}).", "",
            "## Real scenes (never trained on)", "",
            "`python -m benchmarks.scenes` (its docs define each column); 1 ONNX Runtime thread, batch 1.", ""]
    for name, md in tables.items():
        card += [f"### {name}", "", md]
    card += ["## Training", "", "```json", json.dumps(summary, indent=1), "```", "",
             f"int8: {q.summary()}", ""]
    (out / "plate_pose.md").write_text("\n".join(card))
    return {"fp32": str(fp32), "int8": str(q.path), "tables": tables}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.detector", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", type=int, default=384)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--samples", type=int, default=8000)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--time-budget", type=float, default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--device", default=None)
    ap.add_argument("--real", default=None)
    ap.add_argument("--init", default=None,
                    help="start from these weights: a .pt state dict, or an exported .onnx of the same architecture "
                         "(e.g. edgevision/models/plate_pose.onnx; training.from_onnx, checked against ONNX Runtime)")
    ap.add_argument("--seed", type=int, default=None,
                    help="seed of the cached scenes and the run (default calibration.synth.TRAIN_SEED); a continued "
                         "run with another seed trains on new scenes")
    ap.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--geo-aug", type=float, default=0.0,
                    help="share of scenes rolled (+-30 deg), zoomed (0.45-1.6x), shifted and darkened per batch")
    ap.add_argument("--rect", type=float, default=0.0,
                    help="share of batches cut to their content, in multiples of 32 (rect inputs); above 0 the "
                         "model is exported with dynamic height and width (preprocess.stride 32)")
    ap.add_argument("--crops", type=float, default=0.0,
                    help="share of each batch replaced by second-look crops (a square of 2-4 plate sizes about a "
                         "plate, or a plate-sized window, cut from the full-resolution scene), as PlateReader's "
                         "second look feeds the detector")
    ap.add_argument("--crop-samples", type=int, default=3000, help="second-look crops cached (from new scenes)")
    from exporters.zoo.pose_models import ACTIVATIONS

    ap.add_argument("--act", default="silu", choices=ACTIVATIONS,
                    help="the network's activation (relu: faster in int8; an --init export with silu starts it)")
    ap.add_argument("--easypr-split", default="train", choices=EASYPR_TRAIN_SPLITS,
                    help="real EasyPR scenes to build on: train (every bundled run) or fit (train less the scenes "
                         "that benchmarks.scenes --sets validation reads as never trained on)")
    args = ap.parse_args(argv)
    if not 0.0 <= args.crops < 1.0:
        ap.error(f"--crops must be a share in [0, 1), got {args.crops}")
    if args.crop_samples < 1:
        ap.error(f"--crop-samples must be >= 1, got {args.crop_samples}")
    if not 0.0 <= args.geo_aug <= 1.0:
        ap.error(f"--geo-aug must be a share in [0, 1], got {args.geo_aug}")
    if not 0.0 <= args.rect <= 1.0:
        ap.error(f"--rect must be a share in [0, 1], got {args.rect}")
    if args.seed is not None and args.seed < 0:
        ap.error(f"--seed must be an integer >= 0, got {args.seed}")
    summary = train(args.out, size=args.size, samples=args.samples, epochs=args.epochs, batch=args.batch, lr=args.lr,
                    time_budget_s=args.time_budget, resume=args.resume, device=args.device, threads=args.threads,
                    workers=args.workers, real=args.real, width=args.width, init=args.init, seed=args.seed,
                    precision=args.precision, geo_aug=args.geo_aug, rect=args.rect, crops=args.crops,
                    crop_samples=args.crop_samples, easypr_split=args.easypr_split, act=args.act)
    out = Path(args.out)
    res = export(out / "plate_pose.onnx", out / "plate_pose.pt", size=args.size, width=args.width, summary=summary)
    print(res.summary())
    (out / "train_summary.json").write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
