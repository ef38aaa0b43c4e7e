"""``python -m calibration``: a thin command line over :mod:`calibration`.

    python -m calibration inspect SOURCE [--kind K] [--check-images] [--recursive] [--samples N]

``inspect`` reads SOURCE (a .jsonl manifest, a folder of CCPD-named images or a plain
image folder; detected unless ``--kind`` is given, a folder with any CCPD-named image
being a CCPD folder), prints the report's one-line summary, then one JSON object:
``{"report": {...}, "samples": [...]}`` (the first N samples, corners in pixels
clockwise from top-left). Exit status 0 on success, 2 on an error (missing path, no
usable sample...), with the message on stderr.
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


def _count(text: str) -> int:
    n = int(text)
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected a count >= 0, got {n}")
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m calibration", description="edgevision host-side dataset tools")
    sub = ap.add_subparsers(dest="command", required=True)  # later: quantize, report, generate
    p = sub.add_parser("inspect", help="read a dataset source, print a summary and a few samples as JSON")
    p.add_argument("source", help="a .jsonl manifest, a folder of CCPD-named images, or a folder of images")
    p.add_argument("--kind", default="auto", choices=("auto", *SOURCE_KINDS), help="source kind (default: detect)")
    p.add_argument("--check-images", action="store_true", help="decode every image with OpenCV (slower)")
    p.add_argument("--recursive", action="store_true", help="also read the sub-folders of a folder")
    p.add_argument("--samples", type=_count, default=3, metavar="N", help="samples to print (default 3)")
    p.set_defaults(fn=_inspect)
    args = ap.parse_args(argv)
    try:
        return int(args.fn(args))
    except EdgeVisionError as e:
        print(f"calibration {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
