"""Recipe: ``plate_ocr_crnn``, plate text (seed 003), trained on synthetic plates.

    python -m training ocr --out runs/ocr [--slots 8] [--samples 40000] [--epochs 8] [--time-budget 1500] [--resume]

Data: scenes from :class:`calibration.synth.PlateSceneGenerator` (``TRAIN_SEED``);
each plate is rectified from its labelled corners, jittered by up to 4% of the
plate height per corner (so the reader tolerates the corner model's error), with
:func:`calibration.synth.plate_crop` (the edgevision ``warp_quad`` kernel, as at
deploy time). Labels: slot 0 = province (31 classes), slots 1.. = 34 letters and
digits plus "" for "no character" (a 7-character plate read by an 8-slot model).
Loss: cross-entropy over slots, slot 0 weighted like the seed ((first + 6*tail)/7
generalised to S slots). AdamW, warm-up + cosine (time-budget aware). Evaluation: exact match and CER on the
held-out set through ``edgevision.Predictor`` on the exported ONNX.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgevision.errors import InvalidArgumentError

from .common import build_cache, export_trained, fit, start_run
from .lpl import _generator

JITTER = 0.04


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


@dataclass(frozen=True)
class OCRSample:
    """Picklable sample maker: index -> (uint8 (64, 32*S, 3) BGR plate crop, int64 (S,) labels)."""

    seed: int
    num_slots: int
    jitter: float = JITTER

    def __call__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        from calibration.synth import plate_crop

        s = _generator(self.seed)[i]
        rng = np.random.default_rng([self.seed, i, 7])
        crop = plate_crop(s.image, s.corners, size=(64, 32 * self.num_slots), jitter=self.jitter, rng=rng)
        return np.ascontiguousarray(crop), encode_text(s.text, self.num_slots)


def train(out: str | Path, *, num_slots: int = 8, samples: int = 40000, epochs: int = 8, batch: int = 64,
          lr: float = 2e-3, weight_decay: float = 1e-4, seed: int | None = None, time_budget_s: float | None = None,
          resume: bool = False, device: str | None = None, threads: int | None = None, workers: int | None = None,
          cache_dir: str | Path | None = None, progress: bool = True, log_every: int = 50,
          precision: str | None = "auto") -> dict[str, Any]:
    """Train ``plate_ocr_crnn``; writes ``out/checkpoints/last.pt`` and ``out/plate_ocr_crnn.pt``."""
    import torch
    import torch.nn.functional as F

    from exporters.zoo import build

    seed, dev = start_run(seed, threads, device)
    out = Path(out)
    X, Y = build_cache(Path(cache_dir or out / "cache"), OCRSample(seed, num_slots), samples,
                       key={"recipe": "ocr", "slots": num_slots, "seed": seed, "jitter": JITTER, "v": 1},
                       workers=workers, desc="plate crops", progress=progress)
    model = build("plate_ocr_crnn", num_slots=num_slots).model.to(dev)
    tail_w = num_slots - 1

    def ce(pred: Any, y: Any) -> tuple[Any, dict[str, float]]:
        first, tail = pred
        l0 = F.cross_entropy(first.reshape(-1, first.shape[-1]), y[:, 0])
        l1 = F.cross_entropy(tail.reshape(-1, tail.shape[-1]), y[:, 1:].reshape(-1))
        with torch.no_grad():
            hit = (torch.cat([first.argmax(-1), tail.argmax(-1)], 1) == y).all(1).float().mean()
        return (l0 + tail_w * l1) / num_slots, {"exact": float(hit)}

    run = fit(model, X, Y, ce, out, name="plate_ocr_crnn", batch=batch, epochs=epochs, lr=lr,
              weight_decay=weight_decay, seed=seed, time_budget_s=time_budget_s, resume=resume, device=dev,
              jitter=(0.25, 0.25), progress=progress, log_every=log_every, precision=precision)
    return {"recipe": "ocr", **run,
            "data": {"generator": "calibration.synth.PlateSceneGenerator", "seed": seed, "samples": samples,
                     "corner_jitter": JITTER},
            "num_slots": num_slots, "batch": batch, "lr": lr, "device": dev}

def export(out: str | Path, weights: str | Path, *, num_slots: int = 8, summary: dict[str, Any] | None = None,
           representative: Any = None) -> Any:
    """Export trained weights to ``out`` (.onnx) with full metadata and a ``training`` section."""
    return export_trained("plate_ocr_crnn", {"num_slots": num_slots}, weights, out, recipe="python -m training ocr", summary=summary,
                          representative=representative)
