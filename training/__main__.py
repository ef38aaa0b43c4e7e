"""``python -m training``: train, export and evaluate the default plate models (bundling: :mod:`training.bundle`).

    python -m training lpl --out runs/lpl [--size 128] [--samples N] [--epochs E] [--time-budget S] [--resume]
    python -m training ocr --out runs/ocr [--slots 8] [--head slots|ctc] [--samples N] [--epochs E] [--time-budget S] [--resume] [--init W.pt|M.onnx]

Each run: builds (or reuses) the cached synthetic training set, trains with
checkpoints (``--resume`` continues from ``OUT/checkpoints/last.pt``), exports
``OUT/<name>.onnx`` through :mod:`exporters` (metadata + parity), evaluates it on
the fixed held-out synthetic set through ``edgevision.Predictor`` and writes
``OUT/summary.json``. ``python -m training.bundle OUT --family NAME`` then puts the
model, its int8 variant and its model card into ``edgevision/models/``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from edgevision.errors import EdgeVisionError




def _eval(onnx_path: Path, count: int) -> dict[str, Any]:
    import edgevision
    from calibration.metrics import evaluate, heldout_samples

    p = edgevision.Predictor(str(onnx_path))
    res = evaluate(p, heldout_samples(count), progress=True)
    return res.to_dict()


def run(recipe: str, args: argparse.Namespace) -> dict[str, Any]:
    from calibration.metrics import heldout_samples

    out = Path(args.out)
    common = dict(samples=args.samples, epochs=args.epochs, time_budget_s=args.time_budget, resume=args.resume,
                  device=args.device, threads=args.threads, workers=args.workers, seed=args.seed,
                  precision=args.precision, lr=args.lr)
    common = {k: v for k, v in common.items() if v is not None}
    scenes = heldout_samples(4)  # representative inputs of the export's parity check (no training signal)
    if recipe == "lpl":
        from . import lpl

        summary = lpl.train(out, size=args.size, **common)
        name = "lpl_resnet18"
        res = lpl.export(out / f"{name}.onnx", out / f"{name}.pt", size=args.size, summary=summary,
                         representative=[s.image for s in scenes])
    else:
        from calibration.synth import plate_crop

        from . import ocr

        summary = ocr.train(out, num_slots=args.slots, init=args.init, mix=args.mix, easypr_root=args.easypr,
                            chars_root=args.real_chars, glyph_warp=args.glyph_warp, head=args.head, **common)
        name = ocr.HEADS[args.head]
        crops = [plate_crop(s.image, s.corners, size=(64, 32 * args.slots)) for s in scenes]
        res = ocr.export(out / f"{name}.onnx", out / f"{name}.pt", num_slots=args.slots, summary=summary,
                         representative=crops, head=args.head)
    print(res.summary())
    ev = _eval(res.path, args.eval_count)
    doc = {"recipe": recipe, "train": summary, "export": {"path": str(res.path), "size_mb": res.size_mb,
                                                          "parity": res.parity.to_dict() if res.parity else None},
           "heldout": ev, "command": "python -m training " + " ".join(sys.argv[1:])}
    (out / "summary.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False))
    print(json.dumps(ev, indent=2, ensure_ascii=False))
    return doc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training", description="edgevision training recipes (host side)")
    sub = ap.add_subparsers(dest="recipe", required=True)
    for recipe, helptext in (("lpl", "plate corners: lpl_resnet18"), ("ocr", "plate text: plate_ocr_crnn")):
        p = sub.add_parser(recipe, help=helptext)
        p.add_argument("--out", required=True, help="run directory (cache, checkpoints, weights, ONNX, summary)")
        if recipe == "lpl":
            p.add_argument("--size", type=int, default=128, help="square input size in pixels (default 128)")
        else:
            p.add_argument("--slots", type=int, default=8, help="character slots (8 reads 7- and 8-char plates)")
            p.add_argument("--init", help="start from these weights: a .pt state dict or an exported .onnx "
                                          "(training.from_onnx); tensors of matching name and shape, new heads "
                                          "start fresh")
            p.add_argument("--mix", default="synth", help="training mixture (training.ocr.MIXES): synth (scenes "
                                                          "only) or real (realistic crops, EasyPR train plates, scenes)")
            p.add_argument("--head", choices=("slots", "ctc"), default="slots",
                           help="slots: plate_ocr_crnn, one class per character slot (default); ctc: "
                                "plate_ocr_ctc, a CTC head over 4 time steps a slot")
            p.add_argument("--easypr", help="EasyPR folder for --mix real (default: the real-data root's easypr/)")
            p.add_argument("--real-chars", help="real segmented characters for --mix real (default: the real-data "
                                                "root's chars/ when present)")
            p.add_argument("--glyph-warp", type=float, default=0.0,
                           help="per-character distortion of the realistic crops, 0 (none, default) to 1 "
                                "(calibration.plate_synth.warp_glyph)")
        p.add_argument("--samples", type=int, help="synthetic training samples (cached)")
        p.add_argument("--epochs", type=int, help="epochs over the cached samples")
        p.add_argument("--lr", type=float, help="peak learning rate (AdamW, after warm-up; default 2e-3)")
        p.add_argument("--time-budget", type=float, help="stop after this many seconds (checkpointed)")
        p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints/last.pt")
        p.add_argument("--seed", type=int, help="data and init seed (default calibration.synth.TRAIN_SEED)")
        p.add_argument("--device", help="cpu, cuda, cuda:N (default: cuda when available)")
        p.add_argument("--threads", type=int, help="torch intra-op threads")
        p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                       help="bf16: mixed precision (autocast); auto (default): bf16 where the CPU (AVX-512 BF16/AMX) "
                            "or GPU computes it natively, else fp32")
        p.add_argument("--workers", type=int, help="processes generating the training set")
        p.add_argument("--eval-count", type=int, default=500, help="held-out samples to evaluate (default 500)")
    args = ap.parse_args(argv)
    try:
        run(args.recipe, args)
    except (EdgeVisionError, OSError) as e:
        print(f"python -m training {args.recipe}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
