"""Recipe: ``lpl_resnet18``, plate corners (seed 000), trained on synthetic plate scenes.

    python -m training lpl --out runs/lpl [--samples 24000] [--epochs 12] [--time-budget 2400] [--resume]

Data: :class:`calibration.synth.PlateSceneGenerator` (``TRAIN_SEED``), each scene
letterboxed by the edgevision kernel exactly as the exported model's config says
(so training sees the deploy preprocessing), cached once as uint8. Target: the 4
corners TL, TR, BR, BL in letterboxed-input coordinates divided by the input
width/height (the seed-000 normalization). Loss: L1 (the seed's MAE). AdamW,
warm-up + cosine schedule over the run (time-budget aware), batch 32. Evaluation: corner MAE on the fixed held-out set
(``HELDOUT_SEED``) through ``edgevision.Predictor`` on the exported ONNX: the
number users get, not a training-loop proxy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .common import build_cache, export_trained, fit, start_run


@dataclass(frozen=True)
class LPLSample:
    """Picklable sample maker: index -> (uint8 (S, S, 3) BGR letterboxed input, float32 (8,) normalized corners)."""

    seed: int
    size: int

    def __call__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        import edgevision

        s = _generator(self.seed)[i]
        blob, t = edgevision.letterbox(s.image, self.size, dtype="uint8", layout="NHWC", scale=1.0, pad_value=114)
        pts = t.to_input(np.asarray(s.corners, np.float64)) / np.array([self.size, self.size], np.float64)
        return blob[0], pts.reshape(8).astype(np.float32)


_GENERATORS: dict[int, Any] = {}


def _generator(seed: int) -> Any:
    from calibration.synth import PlateSceneGenerator

    if seed not in _GENERATORS:
        _GENERATORS[seed] = PlateSceneGenerator(seed=seed)
    return _GENERATORS[seed]


def train(out: str | Path, *, size: int = 128, samples: int = 24000, epochs: int = 12, batch: int = 32,
          lr: float = 2e-3, weight_decay: float = 1e-4, seed: int | None = None, time_budget_s: float | None = None,
          resume: bool = False, device: str | None = None, threads: int | None = None, workers: int | None = None,
          cache_dir: str | Path | None = None, progress: bool = True, log_every: int = 50,
          precision: str | None = "auto") -> dict[str, Any]:
    """Train ``lpl_resnet18``; writes ``out/checkpoints/last.pt`` and ``out/lpl_resnet18.pt`` (weights only).

    Returns a summary dict (steps, epochs, final train loss, seconds, the data seed).
    The run stops at ``epochs`` or at ``time_budget_s`` seconds, whichever is first;
    the learning rate anneals by whichever end comes first (:class:`training.common.Schedule`).
    ``precision`` (:func:`training.common.pick_precision`, default ``auto``): under
    ``bf16`` the encoder runs in bfloat16 and the regression head in float32, since
    bfloat16's 8-bit mantissa would quantize a normalized corner near 0.5 to steps
    of 0.002, half the 0.004 MAE target.
    """
    import torch

    from exporters.zoo import build

    seed, dev = start_run(seed, threads, device)
    out = Path(out)
    X, Y = build_cache(Path(cache_dir or out / "cache"), LPLSample(seed, size), samples,
                       key={"recipe": "lpl", "size": size, "seed": seed, "v": 1}, workers=workers,
                       desc="plate scenes", progress=progress)
    model = build("lpl_resnet18", size=size).model.to(dev)

    def l1(pred: Any, y: Any) -> tuple[Any, dict[str, float]]:
        return (pred - y).abs().mean(), {}

    def forward(m: Any, x: Any) -> Any:
        f = m.encoder(x)
        with torch.autocast(dev.split(":")[0], enabled=False):
            return m.head(f.float())

    run = fit(model, X, Y, l1, out, name="lpl_resnet18", batch=batch, epochs=epochs, lr=lr,
              weight_decay=weight_decay, seed=seed, time_budget_s=time_budget_s, resume=resume, device=dev,
              jitter=(0.2, 0.2), progress=progress, log_every=log_every, precision=precision, forward=forward)
    return {"recipe": "lpl", **run,
            "data": {"generator": "calibration.synth.PlateSceneGenerator", "seed": seed, "samples": samples},
            "size": size, "batch": batch, "lr": lr, "device": dev}

def export(out: str | Path, weights: str | Path, *, size: int = 128, summary: dict[str, Any] | None = None,
           representative: Any = None) -> Any:
    """Export trained weights to ``out`` (.onnx) with full metadata and a ``training`` section."""
    return export_trained("lpl_resnet18", {"size": size}, weights, out, recipe="python -m training lpl", summary=summary,
                          representative=representative)
