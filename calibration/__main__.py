"""``python -m calibration``: a thin command line over :mod:`calibration`.

    python -m calibration inspect SOURCE [--kind K] [--check-images] [--recursive] [--samples N]
    python -m calibration synth OUT --count N [--seed S] [--start K] [--quality Q] [--clean] [--overwrite]
                                [--size H W] [--width-range MIN MAX] [--no-progress]
    python -m calibration quantize MODEL --data SRC [--method M] [--format S8S8|U8S8] [--tolerance T] --out X.onnx
    python -m calibration report MODEL... [--data SRC] [--md F] [--json F]

``quantize`` and ``report`` are :mod:`calibration.quantize_cli` (docs/quantization.md).

``inspect`` reads SOURCE (a .jsonl manifest, a folder of CCPD-named images or a plain
image folder; detected unless ``--kind`` is given, a folder with any CCPD-named image
being a CCPD folder), prints the report's one-line summary, then one JSON object:
``{"report": {...}, "samples": [...]}`` (the first N samples, corners in pixels
clockwise from top-left). Exit status 0 on success, 2 on an error (missing path, no
usable sample...), with the message on stderr.

``synth`` writes synthetic plate scenes ``START .. START+N-1`` of seed S
(:func:`calibration.synth.write_dataset`): ``OUT/images/{index:06d}.jpg`` and
``OUT/manifest.jsonl``, with a progress bar on stderr, then prints the manifest's path.
``--size`` fixes every image to H x W pixels; ``--width-range`` draws the width (default
256..640). Exit status 0 on success, 2 on an error (an existing manifest without
``--overwrite``, a bad option, no CJK font...), with the message on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys

from edgevision.errors import EdgeVisionError

from .readers import SOURCE_KINDS, read_source


def _inspect(args: argparse.Namespace) -> int:
    result = read_source(args.source, kind=args.kind, check_images=args.check_images, recursive=args.recursive)
    print(result.report.summary())
    doc = {"report": result.report.to_dict(), "samples": [s.to_dict() for s in result.samples[: args.samples]]}
    print(json.dumps(doc, ensure_ascii=False, indent=2))
    return 0


def _synth(args: argparse.Namespace) -> int:
    from .synth import write_dataset  # imports Pillow and fontTools only when used

    options = {}
    if args.size is not None:
        options["size"] = tuple(args.size)
    if args.width_range is not None:
        options["width_range"] = tuple(args.width_range)
    manifest = write_dataset(args.out, args.count, seed=args.seed, start=args.start, quality=args.quality,
                             clean=args.clean, overwrite=args.overwrite, progress=not args.no_progress, **options)
    print(manifest)
    return 0


def _count(text: str) -> int:
    n = int(text)
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected a count >= 0, got {n}")
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m calibration", description="edgevision host-side dataset tools")
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("inspect", help="read a dataset source, print a summary and a few samples as JSON")
    p.add_argument("source", help="a .jsonl manifest, a folder of CCPD-named images, or a folder of images")
    p.add_argument("--kind", default="auto", choices=("auto", *SOURCE_KINDS), help="source kind (default: detect)")
    p.add_argument("--check-images", action="store_true", help="decode every image with OpenCV (slower)")
    p.add_argument("--recursive", action="store_true", help="also read the sub-folders of a folder")
    p.add_argument("--samples", type=_count, default=3, metavar="N", help="samples to print (default 3)")
    p.set_defaults(fn=_inspect)
    p = sub.add_parser("synth", help="render synthetic plate scenes: OUT/images/*.jpg and OUT/manifest.jsonl")
    p.add_argument("out", help="output folder (created if missing)")
    p.add_argument("--count", type=_count, required=True, metavar="N", help="number of scenes")
    p.add_argument("--seed", type=_count, default=0, metavar="S", help="generator seed (default 0, the training seed)")
    p.add_argument("--start", type=_count, default=0, metavar="K", help="first sample index (default 0)")
    p.add_argument("--quality", type=int, default=95, metavar="Q", help="JPEG quality 1..100 (default 95)")
    p.add_argument("--clean", action="store_true", help="no photometric augmentation and no occlusion")
    p.add_argument("--overwrite", action="store_true", help="replace an existing manifest (other files are kept)")
    p.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), help="fixed image size in pixels")
    p.add_argument("--width-range", type=int, nargs=2, metavar=("MIN", "MAX"),
                   help="random image width range in pixels (default 256 640)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(fn=_synth)
    from .quantize_cli import register

    register(sub)
    args = ap.parse_args(argv)
    try:
        return int(args.fn(args))
    except EdgeVisionError as e:
        print(f"calibration {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
