"""Model cards (Markdown) for the bundled models, written from a training run's summary.

A card says what the model is, how it was trained (recipe, command, data seed),
how well it does on the held-out *synthetic* set, and how fast it runs here.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
from pathlib import Path
from typing import Any

from calibration.metrics import ILLEGIBLE_OCCLUSION


def _latency_ms(onnx_path: Path, runs: int = 30) -> dict[str, float]:
    """Single-image end-to-end ``Predictor`` latency (p50/p90 ms) on a held-out scene, this machine."""
    import time

    import numpy as np

    import edgevision
    from calibration.metrics import heldout_samples

    p = edgevision.Predictor(str(onnx_path))
    s = heldout_samples(1)[0]
    img = s.image
    if p.task != "keypoints":
        from calibration.synth import plate_crop

        img = plate_crop(s.image, s.corners, size=tuple(p.config.preprocess_kwargs()[0]))
    for _ in range(3):
        p(img)
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        p(img)
        t.append((time.perf_counter() - t0) * 1e3)
    return {"p50": float(np.percentile(t, 50)), "p90": float(np.percentile(t, 90))}


_PRECISION = {"fp32": "float32", "bf16": "bf16 mixed precision: bfloat16 autocast, float32 weights and optimizer state"}


def _by_type_table(by_type: dict[str, dict[str, Any]] | None, task: str, *, title: str = "By plate type",
                   column: str = "plate type") -> str:
    """The held-out figures per group (``EvalResult.details['by_plate_type']`` or
    ``['by_occlusion']``) as Markdown, or ''."""
    if not by_type:
        return ""
    keys = ("mae_norm", "mae_px", "max_norm") if task == "keypoints" else ("exact_match", "cer")
    rows = [f"| {t} | {d['count']} | " + " | ".join(f"{d[k]:.4g}" if isinstance(d.get(k), float) else str(d.get(k))
                                                    for k in keys) + " |" for t, d in by_type.items()]
    return (f"\n{title}:\n\n| {column} | scenes | " + " | ".join(keys) + " |\n|---|---|"
            + "---|" * len(keys) + "\n" + "\n".join(rows) + "\n")


def _legible(legible: dict[str, Any] | None) -> str:
    """The OCR figures without the illegible plates (``details['legible']``) as Markdown, or ''."""
    if not legible:
        return ""
    return (f"\nLegible plates only ({legible['count']} scenes: no character cell half hidden or more, "
            "`calibration.metrics.ILLEGIBLE_OCCLUSION`; an illegible plate's text cannot be recovered from "
            f"its pixels): exact match {legible['exact_match']:.4g}, CER {legible['cer']:.4g}.\n")


def _data_line(data: dict[str, Any]) -> str:
    """The card's training-data line: the synthetic scenes, or the real-data mixture and its sources."""
    mix = data.get("mix") or {}
    if mix.get("name", "synth") == "synth":
        return (f"`calibration.synth.PlateSceneGenerator`, seed {data['seed']}, {data['samples']} generated samples "
                "(synthetic CCPD-style plates; nothing downloaded).")
    shares = ", ".join(f"{k} {v:.0%}" for k, v in mix["shares"].items())
    return (f"the `{mix['name']}` mixture of `training.ocr.MIXES` ({shares}), seed {data['seed']}, {data['samples']} "
            "crops: `crops` are `calibration.plate_synth.RealisticCrops` (the real plate typeface, MIT glyphs; "
            "real segmented characters from EasyPR's set; capture effects; crops from hand-cut to detector-loose), "
            "`easypr` the real EasyPR plates of the `train` split (`calibration.real.easypr_split`; GDSL: models "
            "trained on its images are outside its restrictions) re-cropped from jittered quads, `scenes` "
            "`calibration.synth.PlateSceneGenerator` scenes. Never trained on: `crops/` (evaluation only), the "
            "EasyPR `test` split, CCPD.")


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def write_card(onnx_path: str | Path, doc: dict[str, Any]) -> Path:
    """Write ``<model>.md`` beside ``onnx_path`` from a ``python -m training`` summary ``doc``."""
    import edgevision

    onnx_path = Path(onnx_path)
    cfg = edgevision.ModelConfig.read(onnx_path)
    tr, ev = doc["train"], doc["heldout"]
    lat = _latency_ms(onnx_path)
    size, kw = cfg.preprocess_kwargs()
    metrics = "\n".join(f"| {k} | {v:.6g} |" if isinstance(v, float) else f"| {k} | {v} |"
                        for k, v in sorted(ev.get("details", {}).items()) if not isinstance(v, (list, dict)))
    by_type = _by_type_table(ev.get("details", {}).get("by_plate_type"), cfg.task) + _by_type_table(
        ev.get("details", {}).get("by_occlusion"), cfg.task,
        title="By occlusion (the largest share of one character cell an occluder hides: none, partial < 30%, "
              f"heavy < {ILLEGIBLE_OCCLUSION:.0%}, illegible >= {ILLEGIBLE_OCCLUSION:.0%})", column="occlusion") + _legible(ev.get("details", {}).get("legible"))
    today = _dt.date.today().isoformat()
    text = f"""# {onnx_path.name}

**Task:** `{cfg.task}` - {"plate corners TL, TR, BR, BL (x, y), normalized to the letterboxed input; the Predictor returns source pixels" if cfg.task == "keypoints" else "plate text, CTC over time steps (blank 0), any length; the province first, then letters/digits" if cfg.task == "ctc_ocr" else "plate text, slot 0 = province, then letters/digits"}.
**Architecture:** `{cfg.name}` (edgevision `exporters.zoo`), {doc["export"]["size_mb"]:.1f} MB fp32 ONNX, opset 18, dynamic batch.
**Input:** `{cfg.input_name}` {cfg.layout} {cfg.dtype}, size {list(size)}, preprocessing `{json.dumps({k: v for k, v in kw.items() if k not in ("layout", "dtype")}, ensure_ascii=False)}` (all in the model's `edgevision` metadata).

## Training

- Recipe: `{doc["command"]}` (`training/{"lpl" if cfg.task == "keypoints" else "ocr"}.py`).
- Data: {_data_line(tr["data"])}
- Steps: {tr["steps"]} of {tr["total_steps"]} ({tr["epochs"]:.2f} epochs, stopped by {tr["stopped_by"]}), batch {tr["batch"]}, peak lr {tr["lr"]}, {tr["seconds"] / 60:.1f} min on `{tr["device"]}` ({_PRECISION.get(tr.get("precision", "fp32"), tr.get("precision"))}).

## Held-out synthetic set

These are **synthetic-data figures**: {ev["count"]} scenes from `calibration.synth` with `HELDOUT_SEED`, never seen in training, run through `edgevision.Predictor` on this ONNX file (deploy preprocessing, ONNX Runtime CPU). Real-camera accuracy will differ.

| metric | value |
|---|---|
{metrics}
{by_type}
## Latency (this machine)

Single image, end to end (`Predictor(image)`: kernel + ONNX Runtime + decoder), p50 {lat["p50"]:.2f} ms, p90 {lat["p90"]:.2f} ms; {_cpu()}, {__import__("os").cpu_count()} cores, measured {today}. See `python -m benchmarks.latency` for every variant side by side.

Export parity (ONNX Runtime vs PyTorch): max abs error {doc["export"]["parity"]["max_abs"]:.2e}.
"""
    card = onnx_path.with_suffix(".md")
    card.write_text(text)
    return card
