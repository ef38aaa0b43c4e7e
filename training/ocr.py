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

from .common import Checkpointer, Schedule, _loss_ends, build_cache, imagenet_normalizer, pick_device, seed_everything
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
          cache_dir: str | Path | None = None, progress: bool = True, log_every: int = 50) -> dict[str, Any]:
    """Train ``plate_ocr_crnn``; writes ``out/checkpoints/last.pt`` and ``out/plate_ocr_crnn.pt``."""
    import torch
    import torch.nn.functional as F

    from calibration.synth import TRAIN_SEED
    from exporters.zoo import build

    seed = TRAIN_SEED if seed is None else seed
    out = Path(out)
    seed_everything(seed)
    if threads:
        torch.set_num_threads(threads)
    dev = pick_device(device)
    X, Y = build_cache(Path(cache_dir or out / "cache"), OCRSample(seed, num_slots), samples,
                       key={"recipe": "ocr", "slots": num_slots, "seed": seed, "jitter": JITTER, "v": 1},
                       workers=workers, desc="plate crops", progress=progress)
    model = build("plate_ocr_crnn", num_slots=num_slots).model.to(dev)
    norm = imagenet_normalizer(dev)
    steps_per_epoch = samples // batch
    total = steps_per_epoch * epochs
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    ckpt = Checkpointer(out / "checkpoints")
    step, extra = ckpt.load(model, opt, None) if resume else (0, {})
    sched = Schedule(lr, total, time_budget_s, start_elapsed=float(extra.get("elapsed", 0.0)))
    gen = torch.Generator().manual_seed(seed + 1)
    losses: list[float] = []
    accs: list[float] = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, initial=step, desc="plate_ocr_crnn", unit="step")
    model.train()
    stopped = "epochs"
    tail_w = num_slots - 1
    while step < total:
        epoch = step // steps_per_epoch
        perm = torch.randperm(samples, generator=torch.Generator().manual_seed(seed * 1000 + epoch)).numpy()
        for b in range(step % steps_per_epoch, steps_per_epoch):
            idx = np.sort(perm[b * batch:(b + 1) * batch])
            x = norm(torch.from_numpy(np.ascontiguousarray(X[idx])))
            y = torch.from_numpy(np.ascontiguousarray(Y[idx])).to(dev)
            k = torch.empty(len(idx), 1, 1, 1).uniform_(0.75, 1.25, generator=gen).to(dev)
            o = torch.empty(len(idx), 1, 1, 1).uniform_(-0.25, 0.25, generator=gen).to(dev)
            x = x * k + o
            first, tail = model(x)
            l0 = F.cross_entropy(first.reshape(-1, first.shape[-1]), y[:, 0])
            l1 = F.cross_entropy(tail.reshape(-1, tail.shape[-1]), y[:, 1:].reshape(-1))
            loss = (l0 + tail_w * l1) / num_slots
            cur_lr = sched.apply(opt, step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            losses.append(float(loss.detach()))
            with torch.no_grad():
                pred = torch.cat([first.argmax(-1), tail.argmax(-1)], 1)
                accs.append(float((pred == y).all(1).float().mean()))
            if bar is not None:
                bar.update(1)
                if step % log_every == 0:
                    bar.set_postfix(ce=f"{np.mean(losses[-log_every:]):.4f}",
                                    exact=f"{np.mean(accs[-log_every:]):.3f}", lr=f"{cur_lr:.2e}")
            if step % 200 == 0:
                ckpt.save(step, model, opt, None, {"elapsed": sched.elapsed})
            if sched.progress(step) >= 1.0:
                stopped = "time budget" if step < total else "epochs"
                break
        if sched.progress(step) >= 1.0:
            break
    if bar is not None:
        bar.close()
    ckpt.save(step, model, opt, None, {"elapsed": sched.elapsed})
    model.eval()
    torch.save(model.state_dict(), out / "plate_ocr_crnn.pt")
    return {"recipe": "ocr", "steps": step, "total_steps": total, "epochs": step / steps_per_epoch,
            "stopped_by": stopped, **_loss_ends(losses),
            "train_exact_last100": float(np.mean(accs[-100:])) if accs else None, "seconds": sched.elapsed,
            "data": {"generator": "calibration.synth.PlateSceneGenerator", "seed": seed, "samples": samples,
                     "corner_jitter": JITTER},
            "num_slots": num_slots, "batch": batch, "lr": lr, "device": dev}


def export(out: str | Path, weights: str | Path, *, num_slots: int = 8, summary: dict[str, Any] | None = None,
           representative: Any = None) -> Any:
    """Export trained weights to ``out`` (.onnx) with full metadata and a ``training`` section."""
    import torch

    import exporters
    from exporters.zoo import build

    built = build("plate_ocr_crnn", num_slots=num_slots)
    exporters.load_weights(built.model, weights)
    extra = {"training": {"recipe": "python -m training ocr", **(summary or {})}}
    return exporters.export_torch(built.model, torch.zeros(2, *built.input_shape), out, **built.export_kwargs(),
                                  extra=extra, representative=representative)
