"""Recipe: ``plate_ocr_crnn`` (slot heads) or ``plate_ocr_ctc`` (a CTC head), plate text (seed 003).

    python -m training ocr --out runs/ocr [--slots 8] [--head slots|ctc] [--samples 40000] [--epochs 8] [--time-budget 1500] [--resume]

Data: scenes from :class:`calibration.synth.PlateSceneGenerator` (``TRAIN_SEED``,
plate types weighted by :data:`PLATE_WEIGHTS`: double-row plates are over-sampled);
each plate is rectified from its labelled corners, jittered by up to 4% of the
plate height per corner (so the reader tolerates the corner model's error), with
:func:`calibration.synth.plate_crop` (the edgevision ``warp_quad`` kernel, as at
deploy time). A double-row plate is shown either that way (with probability
``1 - SPLIT_P``; its text is then not a target, only its ``rows`` label "two rows")
or with its rows side by side (:func:`edgevision.plates.rectify_rows`, the crop the
:class:`~edgevision.PlateReader` re-reads it from; text target, "one row").
Labels: slot 0 = province (31 classes), slots 1.. = 34 letters and
digits plus "" for "no character" (a 7-character plate read by an 8-slot model),
then the rows class (0 one row, 1 two rows). Loss: cross-entropy over slots, slot 0
weighted like the seed ((first + 6*tail)/7 generalised to S slots), plus
``ROWS_WEIGHT`` times the rows cross-entropy. ``--head ctc`` reads the same labels as a
text (:func:`ctc_targets`) and trains with the CTC loss over 4 time steps a slot instead,
so a character need not sit in the column of its slot (:func:`ctc_loss`). AdamW, warm-up + cosine (time-budget
aware). ``init=`` starts from earlier weights (tensors of matching shape; new heads
start fresh). Evaluation: exact match and CER on the held-out set through
``edgevision.Predictor`` on the exported ONNX (two-row plates re-read as the reader does).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgevision.errors import EdgeVisionError, InvalidArgumentError

from .common import build_cache, export_trained, fit, start_run
from .lpl import _generator

JITTER = 0.04
#: Plate-type weights of the OCR training scenes (the held-out set keeps the generator's defaults).
PLATE_WEIGHTS: dict[str, float] = {"blue": 0.35, "yellow": 0.15, "green": 0.25, "yellow_double": 0.25}
#: Probability that a double-row training plate is shown with its rows side by side.
SPLIT_P = 0.6
#: Weight of the rows (one/two) cross-entropy in the loss.
ROWS_WEIGHT = 0.2
#: Label of a slot that is not a target (torch's cross-entropy ``ignore_index``).
IGNORE = -100
#: Probability of an occluder in a training scene (the held-out set keeps the generator's 0.25):
#: partly hidden characters are where the reader fails, so it sees twice as many.
OCCLUSION = 0.5


def encode_text(text: str, num_slots: int) -> np.ndarray:
    """Plate text -> (num_slots,) int64 class indices (slot 0 in provinces, the rest in symbols)."""
    from exporters.zoo.torch_models import PLATE_PROVINCES, PLATE_SYMBOLS

    if not 1 <= len(text) <= num_slots:
        raise InvalidArgumentError(f"text: expected 1..{num_slots} characters, got {text!r}")
    if text[0] not in PLATE_PROVINCES:
        raise InvalidArgumentError(f"text: {text[0]!r} (position 0) is not one of the {len(PLATE_PROVINCES)} provinces")
    idx = [PLATE_PROVINCES.index(text[0])]
    for j, ch in enumerate(text[1:], 1):
        if ch not in PLATE_SYMBOLS or ch == "":
            raise InvalidArgumentError(f"text: {ch!r} (position {j}) is not a plate letter or digit")
        idx.append(PLATE_SYMBOLS.index(ch))
    idx += [PLATE_SYMBOLS.index("")] * (num_slots - len(text))
    return np.asarray(idx, np.int64)


def decode_labels(labels: np.ndarray, num_slots: int) -> str:
    """The inverse of :func:`encode_text`: slot classes (the first ``num_slots`` of ``labels``) -> text."""
    from exporters.zoo.torch_models import PLATE_PROVINCES, PLATE_SYMBOLS

    return PLATE_PROVINCES[int(labels[0])] + "".join(PLATE_SYMBOLS[int(k)] for k in labels[1:num_slots])


_OCR_GENERATORS: dict[int, Any] = {}


def _ocr_generator(seed: int) -> Any:
    from calibration.synth import PlateSceneGenerator

    if seed not in _OCR_GENERATORS:
        _OCR_GENERATORS[seed] = PlateSceneGenerator(seed=seed, plate_types=PLATE_WEIGHTS, occlusion=OCCLUSION)
    return _OCR_GENERATORS[seed]


#: Training mixtures: source -> share of the samples. ``scenes``: crops rectified from
#: :class:`calibration.synth.PlateSceneGenerator` scenes (desktop CJK font; the only source of
#: double-row plates); ``crops``: :class:`calibration.plate_synth.RealisticCrops` (the real plate
#: typeface, capture effects, detector-like quads); ``easypr``: the real EasyPR plates of the
#: ``train`` split (:func:`calibration.real.read_easypr`; never its held-out ``test`` split),
#: re-cropped from jittered quads with mild capture effects. ``crops/`` (evaluation only) is
#: never a source.
MIXES: dict[str, dict[str, float]] = {
    "synth": {"scenes": 1.0},
    "real": {"crops": 0.6, "easypr": 0.12, "scenes": 0.28},
    # Stage 5: as many scenes as realistic crops, to win back the occluded synthetic plates
    # (stage 4 on "real" lost 2 pp on the held-out scenes, all of it on occluded plates).
    "real_balanced": {"crops": 0.45, "easypr": 0.1, "scenes": 0.45},
}


@dataclass(frozen=True)
class OCRSample:
    """Picklable sample maker: index -> (uint8 (64, 32*S, 3) BGR plate crop, int64 (S + 1,) labels).

    Labels: the S slot classes (:func:`encode_text`, or ``IGNORE`` for a double-row
    plate shown whole), then the rows class (1 for a double-row plate shown whole, else 0).
    """

    seed: int
    num_slots: int
    jitter: float = JITTER
    split_p: float = SPLIT_P

    def __call__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        from calibration.synth import jitter_corners, plate_crop
        from edgevision.plates import rectify_rows

        s = _ocr_generator(self.seed)[i]
        rng = np.random.default_rng([self.seed, i, 7])
        size = (64, 32 * self.num_slots)
        text = encode_text(s.text, self.num_slots)
        if s.plate_type == "yellow_double" and rng.random() < self.split_p:
            crop = rectify_rows(s.image, jitter_corners(s.corners, self.jitter, rng), size)
            rows = 0
        else:
            crop = plate_crop(s.image, s.corners, size=size, jitter=self.jitter, rng=rng)
            rows = int(s.plate_type == "yellow_double")
            if rows:
                text[:] = IGNORE
        return np.ascontiguousarray(crop), np.append(text, rows).astype(np.int64)


_EASYPR: dict[str, Any] = {}


def _easypr_plates(root: str) -> list[tuple[np.ndarray, np.ndarray, str, str]]:
    """The EasyPR ``train`` plates under ``root`` as (patch around the plate, corners in the
    patch, text, plate type), loaded once per process (patches are small; scenes are not kept)."""
    if root not in _EASYPR:
        from calibration.metrics import load_image
        from calibration.real import read_easypr
        from edgevision.errors import ImageReadError

        plates = []
        for s in read_easypr(root, split="train", check_images=True).samples:  # no JPEG cut short
            try:
                encode_text(s.text, 16)
            except InvalidArgumentError:  # a character the heads do not have
                continue
            try:
                img = load_image(s)
            except ImageReadError:
                continue
            q = np.asarray(s.corners, np.float64)
            w = np.linalg.norm(q[1] - q[0])
            h = np.linalg.norm(q[3] - q[0])
            x0, y0 = np.floor(q.min(0) - [0.3 * w, 1.0 * h]).astype(int).clip(0)
            x1, y1 = np.ceil(q.max(0) + [0.3 * w, 1.0 * h]).astype(int)
            patch = np.ascontiguousarray(img[y0:y1, x0:x1])
            plates.append((patch, q - [x0, y0], s.text, s.plate_type or "blue"))
        if not plates:
            raise InvalidArgumentError(f"easypr: no usable EasyPR train plate under {root}")
        _EASYPR[root] = plates
    return _EASYPR[root]


def easypr_crop(plates: list[tuple[np.ndarray, np.ndarray, str, str]], rng: np.random.Generator,
                size: tuple[int, int]) -> tuple[np.ndarray, str]:
    """One augmented crop of a random EasyPR plate: a detector-like quad around its labelled
    rectangle (:func:`calibration.plate_synth.loose_quad`), a random native resolution, mild
    capture effects, resized to ``size`` (height, width). Returns (uint8 BGR crop, text)."""
    import cv2

    from calibration.plate_synth import capture_effects, loose_quad

    patch, q, text, _ = plates[int(rng.integers(len(plates)))]
    w = float(np.linalg.norm(q[1] - q[0]))
    h = float(np.linalg.norm(q[3] - q[0]))
    # The labelled rectangle's frame: x along the top edge, y along the left edge.
    ex, ey = (q[1] - q[0]) / max(w, 1e-6), (q[3] - q[0]) / max(h, 1e-6)
    local = loose_quad(w, h, rng)  # the labelled rectangle stands for the plate's outer boundary
    quad = q[0] + local[:, :1] * ex + local[:, 1:] * ey
    nw = int(round(w * rng.uniform(0.6, 1.2)))
    nw = max(40, min(nw, 300))
    nh = max(8, int(round(nw * h / max(w, 1e-6) * rng.uniform(0.9, 1.1))))
    dst = np.array([[0, 0], [nw, 0], [nw, nh], [0, nh]], np.float32)
    H = cv2.getPerspectiveTransform(quad.astype(np.float32), dst)
    crop = cv2.warpPerspective(patch, H, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    crop = capture_effects(crop, rng, 0.4)
    return cv2.resize(crop, (size[1], size[0]), interpolation=cv2.INTER_LINEAR), text


@dataclass(frozen=True)
class MixedOCRSample:
    """Picklable sample maker over a mixture (:data:`MIXES`): index -> (crop, labels) like
    :class:`OCRSample`. Sample ``i``'s source is drawn from ``(seed, i)``; ``easypr_root``
    is the EasyPR folder (required when the mixture has an ``easypr`` share); ``chars_root``
    the real segmented characters some realistic crops are drawn with (optional);
    ``glyph_warp`` the realistic crops' per-character distortion
    (:func:`calibration.plate_synth.warp_glyph`, 0 = none, 1 = full)."""

    seed: int
    num_slots: int
    mix: tuple[tuple[str, float], ...]
    easypr_root: str | None = None
    chars_root: str | None = None
    glyph_warp: float = 0.0

    def __call__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        from calibration.plate_synth import RealisticCrops

        rng = np.random.default_rng([self.seed, i, 13])
        names = [k for k, _ in self.mix]
        p = np.asarray([v for _, v in self.mix], np.float64)
        source = names[int(rng.choice(len(names), p=p / p.sum()))]
        size = (64, 32 * self.num_slots)
        if source == "scenes":
            return OCRSample(self.seed, self.num_slots)(i)
        if source == "crops":
            crop, text, _ = RealisticCrops(self.seed, size, real_chars=self.chars_root, glyph_warp=self.glyph_warp)[i]
        elif source == "easypr":
            crop, text = easypr_crop(_easypr_plates(str(self.easypr_root)), rng, size)
        else:
            raise InvalidArgumentError(f"mix: unknown source {source!r} (expected scenes, crops or easypr)")
        return np.ascontiguousarray(crop), np.append(encode_text(text, self.num_slots), 0).astype(np.int64)


def mixture_samples(seed: int, count: int, data: dict[str, Any], num_slots: int = 8) -> list[Any]:
    """``count`` labelled crops of a run's training mixture at another ``seed`` (the bundle's
    calibration and validation sets: the int8 model is calibrated and steered on what the model
    was trained for, never on an evaluation set). ``data``: the run summary's ``train.data``.
    Returns :class:`calibration.plate_synth.CropSample` s (read whole); two-row plates shown
    whole (no text target) are left out."""
    from calibration.plate_synth import CropSample

    mix = (data.get("mix") or {}).get("shares") or MIXES["synth"]
    easypr = (data.get("easypr") or {}).get("root")
    chars = data.get("real_chars")
    maker = MixedOCRSample(seed, num_slots, tuple(mix.items()), easypr, None if chars in (None, "None") else chars,
                           float(data.get("glyph_warp") or 0.0))
    out: list[Any] = []
    i = 0
    while len(out) < count:
        x, y = maker(i)
        i += 1
        if y[0] == IGNORE:
            continue
        out.append(CropSample(x, decode_labels(y, num_slots), "mixture"))
    return out


def train(out: str | Path, *, num_slots: int = 8, samples: int = 40000, epochs: int = 8, batch: int = 64,
          lr: float = 2e-3, weight_decay: float = 1e-4, seed: int | None = None, time_budget_s: float | None = None,
          resume: bool = False, device: str | None = None, threads: int | None = None, workers: int | None = None,
          cache_dir: str | Path | None = None, progress: bool = True, log_every: int = 50,
          precision: str | None = "auto", init: str | Path | None = None, mix: str = "synth",
          easypr_root: str | Path | None = None, chars_root: str | Path | None = None,
          glyph_warp: float = 0.0, head: str = "slots") -> dict[str, Any]:
    """Train ``plate_ocr_crnn`` (``head="slots"``) or ``plate_ocr_ctc`` (``head="ctc"``); writes
    ``out/checkpoints/last.pt`` and ``out/<arch>.pt``.

    ``mix``: a training mixture of :data:`MIXES` (``"synth"``: scenes only, the recipe
    before real-data work; ``"real"``: realistic crops, EasyPR train plates and scenes).
    ``easypr_root``: the EasyPR folder (default ``calibration.real.real_root() / "easypr"``);
    ``chars_root``: real segmented characters for the realistic crops (default
    ``calibration.real.real_root() / "chars"`` when it exists, else none); ``glyph_warp``: the
    realistic crops' per-character distortion (:func:`calibration.plate_synth.warp_glyph`, 0 to 1).

    ``init``: a weights file (``.pt`` state dict or checkpoint, or an exported ``.onnx``) to
    start from; its tensors whose names and shapes match are loaded, heads with fewer classes
    fill the first rows of the grown ones (:func:`training.from_onnx.grow_rows`), the rest
    (a new head) keep their fresh init. A CTC model started from a slots model's weights
    gets its CTC head from the slots heads (:func:`ctc_head_from_slots`).

    ``head="ctc"`` trains with the CTC loss on the same cached crops and labels (a slot
    label sequence is the text; a two-row plate shown whole trains the rows head only).
    """
    import torch
    import torch.nn.functional as F

    from exporters.zoo import build
    from edgevision.plates import TWO_ROW_SPLIT

    arch = _arch(head)
    seed, dev = start_run(seed, threads, device)
    out = Path(out)
    if mix not in MIXES:
        raise InvalidArgumentError(f"mix: expected one of {', '.join(MIXES)}, got {mix!r}")
    if not 0.0 <= glyph_warp <= 1.0:
        raise InvalidArgumentError(f"glyph_warp: expected 0 to 1, got {glyph_warp!r}")
    if glyph_warp and mix == "synth":
        raise InvalidArgumentError("glyph_warp: applies to the realistic crops of a real mixture, not mix='synth'")
    key: dict[str, Any] = {"recipe": "ocr", "slots": num_slots, "seed": seed, "jitter": JITTER, "v": 3,
                           "occlusion": OCCLUSION, "plate_weights": PLATE_WEIGHTS, "split_p": SPLIT_P,
                           "split": TWO_ROW_SPLIT}
    if mix == "synth":
        maker: Any = OCRSample(seed, num_slots)
    else:
        from calibration.real import real_root

        if "easypr" in MIXES[mix] and easypr_root is None:
            easypr_root = real_root() / "easypr"
        if chars_root is None and "crops" in MIXES[mix]:
            try:
                chars_root = real_root() / "chars" if (real_root() / "chars" / "labels.tsv").is_file() else None
            except EdgeVisionError:
                chars_root = None
        maker = MixedOCRSample(seed, num_slots, tuple(MIXES[mix].items()),
                               None if easypr_root is None else str(easypr_root),
                               None if chars_root is None else str(chars_root), glyph_warp)
        key.update(mix=MIXES[mix], v=4, plate_synth=_plate_synth_version(), chars=str(chars_root))
        if glyph_warp:  # absent at 0, so the caches of earlier runs keep their keys
            key["glyph_warp"] = glyph_warp
    X, Y = build_cache(Path(cache_dir or out / "cache"), maker, samples, key=key,
                       workers=workers, desc="plate crops", progress=progress)
    model = build(arch, num_slots=num_slots).model.to(dev)
    loaded = _load_init(model, init, X) if init is not None and not resume else None
    tail_w = num_slots - 1

    def ce(pred: Any, y: Any) -> tuple[Any, dict[str, float]]:
        first, tail, rows = pred
        text, rows_y = y[:, :num_slots], y[:, num_slots]
        valid = text[:, 0] != IGNORE
        n = valid.sum().clamp(min=1)
        l0 = F.cross_entropy(first.reshape(-1, first.shape[-1]), text[:, 0], ignore_index=IGNORE,
                             reduction="sum") / n
        l1 = F.cross_entropy(tail.reshape(-1, tail.shape[-1]), text[:, 1:].reshape(-1), ignore_index=IGNORE,
                             reduction="sum") / (n * tail_w)
        lr_ = F.cross_entropy(rows, rows_y)
        with torch.no_grad():
            hit = (torch.cat([first.argmax(-1), tail.argmax(-1)], 1) == text).all(1)
            exact = hit[valid].float().mean() if bool(valid.any()) else hit.float().mean() * 0
            rows_acc = (rows.argmax(-1) == rows_y).float().mean()
        return (l0 + tail_w * l1) / num_slots + ROWS_WEIGHT * lr_, {"exact": float(exact), "rows": float(rows_acc)}

    run = fit(model, X, Y, ce if head == "slots" else ctc_loss(num_slots, dev), out, name=arch, batch=batch, epochs=epochs, lr=lr,
              weight_decay=weight_decay, seed=seed, time_budget_s=time_budget_s, resume=resume, device=dev,
              jitter=(0.25, 0.25), progress=progress, log_every=log_every, precision=precision)
    return {"recipe": "ocr", **run,
            "data": {"generator": "calibration.synth.PlateSceneGenerator" if mix == "synth"
                     else "training.ocr.MixedOCRSample", "seed": seed, "samples": samples,
                     "corner_jitter": JITTER, "plate_weights": PLATE_WEIGHTS, "two_row_split_p": SPLIT_P,
                     "occlusion": OCCLUSION, "mix": {"name": mix, "shares": MIXES[mix]},
                     **({"easypr": {"root": str(easypr_root), "split": "train"}, "real_chars": str(chars_root),
                         "glyph_warp": glyph_warp}
                        if mix != "synth" else {})},
            "num_slots": num_slots, "head": head, "arch": arch, "batch": batch, "lr": lr, "device": dev,
            **({"init": loaded} if loaded else {})}


#: The OCR heads :func:`train` knows -> the zoo architecture it trains.
HEADS: dict[str, str] = {"slots": "plate_ocr_crnn", "ctc": "plate_ocr_ctc"}


def _arch(head: str) -> str:
    """The zoo architecture of ``head`` (:data:`HEADS`); an unknown head is a clear error."""
    if head not in HEADS:
        raise InvalidArgumentError(f"head: expected one of {', '.join(HEADS)}, got {head!r}")
    return HEADS[head]


def ctc_targets(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slot labels (``(N, S)``, :func:`encode_text`) -> CTC targets of ``plate_ocr_ctc``:
    ``(N, S)`` int64 classes (``PLATE_CTC_CHARSET`` index + 1, 0 past the text's end) and
    ``(N,)`` lengths. A row whose slot 0 is ``IGNORE`` (a two-row plate shown whole, no text
    target) gets length 0."""
    from exporters.zoo.torch_models import PLATE_CTC_CHARSET, PLATE_PROVINCES, PLATE_SYMBOLS

    labels = np.asarray(labels, np.int64)
    prov = np.asarray([PLATE_CTC_CHARSET.index(c) + 1 for c in PLATE_PROVINCES], np.int64)
    sym = np.asarray([PLATE_CTC_CHARSET.index(c) + 1 if c else 0 for c in PLATE_SYMBOLS], np.int64)
    valid = labels[:, 0] != IGNORE
    out = np.zeros(labels.shape, np.int64)
    out[valid, 0] = prov[labels[valid, 0]]
    out[valid, 1:] = sym[labels[valid, 1:]]
    return out, (out != 0).sum(1)


def ctc_greedy(logits: Any) -> list[list[int]]:
    """Greedy CTC decoding of ``(N, T, C)`` logits (blank 0): per row, the classes emitted
    (argmax per step, runs merged, blanks dropped); what ``edgevision.decoders.decode_ctc`` reads."""
    from edgevision.decoders import ctc_emitted

    best = logits.argmax(-1).cpu().numpy()
    return [row[emit].tolist() for row, emit in zip(best, ctc_emitted(best, 0))]


def ctc_loss(num_slots: int, device: str) -> Any:
    """The loss of ``plate_ocr_ctc`` for :func:`training.common.fit`: CTC (mean over the
    samples that have a text target, each divided by its length) plus ``ROWS_WEIGHT`` times
    the rows cross-entropy. Logs the batch's greedy exact match (``exact``) and rows accuracy."""
    import torch
    import torch.nn.functional as F

    def loss(pred: Any, y: Any) -> tuple[Any, dict[str, float]]:
        logits, rows = pred
        tgt, lengths = ctc_targets(y[:, :num_slots].cpu().numpy())
        valid = lengths > 0
        n, t, _ = logits.shape
        lc = logits.new_zeros(())
        exact = 0.0
        if valid.any():
            idx = torch.as_tensor(np.flatnonzero(valid), device=logits.device)
            lp = logits[idx].log_softmax(-1).transpose(0, 1)  # (T, n, C)
            lc = F.ctc_loss(lp, torch.as_tensor(tgt[valid], device=logits.device),
                            torch.full((len(idx),), t, dtype=torch.long),
                            torch.as_tensor(lengths[valid], dtype=torch.long), blank=0, zero_infinity=True)
            with torch.no_grad():
                got = ctc_greedy(logits[idx])
            exact = float(np.mean([g == list(r[:k]) for g, r, k in zip(got, tgt[valid], lengths[valid])]))
        lr_ = F.cross_entropy(rows, y[:, num_slots])
        with torch.no_grad():
            rows_acc = float((rows.argmax(-1) == y[:, num_slots]).float().mean())
        return lc + ROWS_WEIGHT * lr_, {"exact": exact, "rows": rows_acc}

    return loss


def ctc_head_from_slots(model: Any, state: dict[str, Any]) -> bool:
    """Starts ``plate_ocr_ctc``'s CTC head from a slots model's heads in ``state`` (torch
    tensors): each character's row from its province or symbol row, the blank from the
    empty slot's. Returns False (nothing changed) when ``state`` has no slots heads."""
    import torch

    from exporters.zoo.torch_models import PLATE_CTC_CHARSET, PLATE_PROVINCES, PLATE_SYMBOLS

    need = ("province.weight", "province.bias", "symbols.weight", "symbols.bias")
    if not hasattr(model, "ctc") or not all(k in state for k in need):
        return False
    w = torch.zeros_like(model.ctc.weight)
    b = torch.zeros_like(model.ctc.bias)
    rows = [("symbols", PLATE_SYMBOLS.index(""))]
    rows += [("province", PLATE_PROVINCES.index(c)) if c in PLATE_PROVINCES else ("symbols", PLATE_SYMBOLS.index(c))
             for c in PLATE_CTC_CHARSET]
    for k, (head, j) in enumerate(rows):
        w[k] = state[f"{head}.weight"][j]
        b[k] = state[f"{head}.bias"][j]
    with torch.no_grad():
        model.ctc.weight.copy_(w)
        model.ctc.bias.copy_(b)
    return True


def _plate_synth_version() -> str:
    """A digest of the realistic-crop generator's source and glyphs (the cache key changes with them)."""
    import hashlib

    from calibration import plate_synth

    h = hashlib.sha256(Path(plate_synth.__file__).read_bytes())
    for f in sorted(plate_synth.ASSET_DIR.glob("*.png")):
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _load_init(model: Any, weights: str | Path, X: np.ndarray) -> dict[str, Any]:
    """Loads ``weights`` into ``model``: a ``.pt`` state dict (tensors whose name and shape
    match; new heads keep their fresh init) or an exported ``.onnx`` of the same
    architecture (:mod:`training.from_onnx`: every tensor, checked against ONNX Runtime
    on training crops ``X``, folded BatchNorms recalibrated on them). Returns what was loaded."""
    import hashlib

    import torch

    from .common import imagenet_normalizer
    from .from_onnx import load_from_onnx

    path = Path(weights)
    if not path.is_file():
        raise InvalidArgumentError(f"init: {path} is not a file (expected a .pt state dict or an .onnx "
                                   "export of plate_ocr_crnn)")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    if path.suffix.lower() == ".onnx":
        grown: list[str] = []
        norm = imagenet_normalizer("cpu")
        batches = [norm(torch.from_numpy(np.array(X[i:i + 64]))) for i in range(0, min(len(X), 1024), 64)]
        got = load_from_onnx(model, path, batches, check=16, grown=grown)
        return {"weights": path.name, "sha256_16": digest, "tensors": got.pop("tensors"), "fresh": [],
                **({"grown": grown} if grown else {}), "from_onnx": got}
    from .from_onnx import grow_rows

    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    own = model.state_dict()
    grown: list[str] = []
    match = {}
    for k, v in state.items():
        if k in own and (w := grow_rows(k, v.numpy(), own[k], grown)) is not None:
            match[k] = torch.as_tensor(np.array(w, copy=True)).to(own[k].dtype)
    if not match:
        raise InvalidArgumentError(f"init: no tensor of {path} matches the OCR model's names and shapes (plate_ocr_crnn or plate_ocr_ctc)")
    model.load_state_dict(match, strict=False)
    from_slots = "ctc.weight" not in match and ctc_head_from_slots(model, {k: v.float() for k, v in state.items()})
    loaded = set(match) | ({"ctc.weight", "ctc.bias"} if from_slots else set())
    return {"weights": path.name, "sha256_16": digest, "tensors": len(loaded),
            "fresh": sorted(k for k in own if k not in loaded), **({"grown": grown} if grown else {}),
            **({"ctc_head": "from the slots heads"} if from_slots else {})}


def export(out: str | Path, weights: str | Path, *, num_slots: int = 8, summary: dict[str, Any] | None = None,
           representative: Any = None, head: str = "slots") -> Any:
    """Export trained weights of the ``head`` architecture (:data:`HEADS`) to ``out`` (.onnx)
    with full metadata and a ``training`` section."""
    return export_trained(_arch(head), {"num_slots": num_slots}, weights, out, recipe="python -m training ocr",
                          summary=summary, representative=representative)
