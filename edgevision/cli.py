"""``edgevision`` command line: a thin layer over the library.

    edgevision predict MODEL IMAGE... [--save DIR] [--json] [--device D] [--config FILE]
    edgevision info MODEL [--json]
    edgevision demo [SOURCE] [--out DIR] [--corners MODEL] [--ocr MODEL]
    edgevision serve [--pipeline plate|none] [--model M]... [--host H] [--port P] [--workers N] [--queue N] ...
    edgevision bench [MODEL...] [options]   (= python -m benchmarks.latency; listed only in a repository checkout)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ._argtypes import int_at_least, non_negative_int, positive_int
from .errors import EdgeVisionError


def positive_float(text: str) -> float:
    """argparse ``type=``: a finite number > 0."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not 0 < v < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return v


def port_number(text: str) -> int:
    """argparse ``type=``: a TCP port, 0..65535 (0: any free port)."""
    v = int_at_least(0)(text)
    if v > 65535:
        raise argparse.ArgumentTypeError(f"expected a port 0..65535, got {v}")
    return v

def _predict(args: argparse.Namespace) -> int:
    from .predictor import Predictor

    config = args.config
    p = Predictor(args.model, device=args.device, config=config)
    results = p(list(args.images))
    records = []
    for image, r in zip(args.images, results):
        rec = {"image": image, "task": p.task, **r.to_dict()}
        records.append(rec)
        if args.save:
            import cv2

            out_dir = Path(args.save)
            out_dir.mkdir(parents=True, exist_ok=True)
            dst = out_dir / (Path(image).stem + "_pred.jpg")
            if not cv2.imwrite(str(dst), r.plot()):
                raise EdgeVisionError(f"--save: could not write {dst}")
            rec["saved"] = str(dst)
        if not args.json:
            print(json.dumps(rec, ensure_ascii=False))
    if args.json:
        print(json.dumps(records, ensure_ascii=False, indent=2))
    return 0


def _info(args: argparse.Namespace) -> int:
    from .modelinfo import model_info

    info = model_info(args.model)
    if args.json:
        print(json.dumps(info, ensure_ascii=False, indent=2, default=str))
        return 0
    print(f"{info['path']}  ({info['size_mb']} MB, providers {', '.join(info['providers'])})")
    for kind in ("inputs", "outputs"):
        for t in info[kind]:
            print(f"  {kind[:-1]:<6} {t['name']:<20} {str(t['shape']):<24} {t['dtype']}")
    meta = info["metadata"]
    print("  metadata: " + (json.dumps(meta, ensure_ascii=False) if meta else "none (pass task= and preprocess= overrides)"))
    q = info["quantization"]
    graph = q["graph"]
    print("  quantization: " + (graph["kind"] + (f" {graph['quantized_ops']}" if graph["quantized_ops"] else "")
                                if isinstance(graph, dict) else graph)
          + (f"; metadata: {json.dumps(q['from_metadata'])}" if q["from_metadata"] else ""))
    return 0


def _bench_root() -> Path | None:
    """The checkout whose ``benchmarks/latency.py`` ``edgevision bench`` runs: the current
    directory or the one this package was installed from (editable installs); None from a wheel."""
    for root in (Path.cwd(), Path(__file__).resolve().parent.parent):
        if (root / "benchmarks" / "latency.py").is_file():
            return root
    return None


def _import_bench() -> Any:
    """``benchmarks.latency`` from the repository root (it is not part of the wheel): importable
    as is, or from the current directory or the checkout this package was installed from
    (editable installs). Raises ImportError when there is none."""
    import importlib

    try:
        return importlib.import_module("benchmarks.latency")
    except ModuleNotFoundError as e:
        if e.name not in ("benchmarks", "benchmarks.latency"):
            raise
        first = e
    root = _bench_root()
    if root is None:
        raise first
    sys.path.insert(0, str(root))
    sys.modules.pop("benchmarks", None)
    return importlib.import_module("benchmarks.latency")


def _bench(argv: list[str]) -> int:
    try:
        latency = _import_bench()
    except ImportError as e:
        print(f"edgevision bench: error: the benchmark is not importable ({e}). It lives in the repository's "
              "benchmarks/ folder, which the installed package does not include: run it from a checkout of "
              "edgevision (pip install -e . there, then edgevision bench or python -m benchmarks.latency)",
              file=sys.stderr)
        return 2
    return int(latency.main(argv, prog="edgevision bench"))


def _demo(args: argparse.Namespace) -> int:
    import time

    import cv2
    import numpy as np

    from .plates import PlateReader
    from .samples import scene_items

    src, items = scene_items(args.source, "SOURCE")
    if args.detector:
        reader = PlateReader(ocr=args.ocr, detector=args.detector, refine=args.refine, device=args.device)
    else:
        reader = PlateReader(args.corners, args.ocr, device=args.device)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"{reader}\nreading {len(items)} image(s) from {src}; annotated copies go to {out_dir}/")
    hits = labelled = 0
    errs: list[float] = []
    times: list[float] = []
    for path, label in items:
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            print(f"  {path.name}: unreadable, skipped")
            continue
        t0 = time.perf_counter()
        r = reader(img)
        times.append((time.perf_counter() - t0) * 1e3)
        if args.detector:  # every plate the detector found
            found = ", ".join(f"{p.text} (conf {p.confidence:.2f}, score {p.score:.2f})" for p in r) or "no plate"
            line = f"  {path.name:<14} {len(r)} plate(s): {found}"
            if label is not None and label.get("text"):
                labelled += 1
                ok = label["text"] in r.texts
                hits += ok
                line += f"  truth {label['text']:<10} {'found' if ok else 'MISSED'}"
            print(line)
            cv2.imwrite(str(out_dir / f"{path.stem}_plate.jpg"), r.plot())
            continue
        line = f"  {path.name:<14} {r.text:<10} conf {r.confidence:.2f}" + ("" if r.quad_ok else " (bad quad)")
        if label is not None and label.get("text"):
            labelled += 1
            ok = r.text == label["text"]
            hits += ok
            line += f"  truth {label['text']:<10} {'ok' if ok else 'MISMATCH'}"
            if label.get("corners"):
                err = float(np.abs(r.corners - np.asarray(label["corners"], np.float64)).mean())
                errs.append(err)
                line += f"  corner error {err:.1f} px"
        print(line)
        cv2.imwrite(str(out_dir / f"{path.stem}_plate.jpg"), r.plot())
    if not times:
        raise EdgeVisionError(f"SOURCE: {src}: no readable image")
    stages = "detector + rectify + OCR" if args.detector else "corners + rectify + OCR"
    summary = f"{len(times)} image(s), median {float(np.median(times)):.1f} ms per image ({stages})"
    if labelled:
        summary += f"; exact text {hits}/{labelled}"
    if errs:
        summary += f"; mean corner error {float(np.mean(errs)):.1f} px"
    print(summary)
    return 0


def _add_serve_parser(sub: Any) -> None:
    from .serve.config import PIPELINES, ServeConfig

    d = ServeConfig()
    s = sub.add_parser("serve", help="HTTP service: /recognize, /predict/{model}, /health, /models, /metrics "
                                     "(needs the [serve] extra)",
                       description="Serve plate reading and models over HTTP (FastAPI + uvicorn). Models load and "
                                   "warm up before the port opens; SIGTERM lets requests in flight finish.")
    s.add_argument("--pipeline", choices=[*PIPELINES, "none"],
                   help="plate: POST /recognize with --corners and --ocr (default: plate, or none with --model)")
    s.add_argument("--model", action="append", default=[], metavar="M",
                   help="a model (path or bundled name) to serve at POST /predict/{name}; repeatable")
    s.add_argument("--corners", default=d.corners, help=f"plate corner model (default {d.corners})")
    s.add_argument("--ocr", default=d.ocr, help=f"plate OCR model (default {d.ocr})")
    s.add_argument("--detector", default=None, metavar="M",
                   help="a plate detector (pose model with 4 corners): /recognize reads every plate; "
                        "--corners is then not used")
    s.add_argument("--no-refine", dest="refine", action="store_false",
                   help="with --detector: skip its second look at each plate (faster, coarser corners)")
    s.add_argument("--host", default=d.host, help=f"address to listen on (default {d.host}; 0.0.0.0 in a container)")
    s.add_argument("--port", type=port_number, default=d.port, help=f"port (default {d.port}; 0: any free port)")
    s.add_argument("--workers", type=positive_int, help="inferences run at once (default: CPUs, at most 4)")
    s.add_argument("--threads", type=positive_int, help="ONNX Runtime threads per model (default: CPUs / workers)")
    s.add_argument("--queue", type=non_negative_int, default=d.queue,
                   help=f"requests admitted beyond the workers (uploading or waiting); more get 503 + "
                        f"Retry-After (default {d.queue})")
    s.add_argument("--max-body-mb", type=positive_float, default=d.max_body_mb,
                   help=f"largest request body, MB (default {d.max_body_mb:g})")
    s.add_argument("--max-pixels", type=positive_int, default=d.max_pixels,
                   help=f"largest image, width x height, checked from its header (default {d.max_pixels:,})")
    s.add_argument("--device", default=d.device, help="auto, cpu, cuda[:N] or tensorrt[:N]")
    s.add_argument("--graceful-timeout", type=positive_float, default=d.graceful_timeout_s,
                   help=f"seconds requests in flight get to finish on SIGTERM (default {d.graceful_timeout_s:g})")
    s.add_argument("--access-log", action="store_true", help="log every request (counts are in /metrics anyway)")
    s.add_argument("--log-level", default=d.log_level, choices=["critical", "error", "warning", "info", "debug"])
    s.set_defaults(fn=_serve)


def _serve(args: argparse.Namespace) -> int:
    from .serve import ServeConfig

    pipeline = args.pipeline or ("none" if args.model else "plate")
    config = ServeConfig(
        pipeline=None if pipeline == "none" else pipeline, models=tuple(args.model), corners=args.corners,
        ocr=args.ocr, detector=args.detector, refine=args.refine, host=args.host, port=args.port, workers=args.workers, threads=args.threads, queue=args.queue,
        max_body_mb=args.max_body_mb, max_pixels=args.max_pixels, device=args.device,
        graceful_timeout_s=args.graceful_timeout, access_log=args.access_log, log_level=args.log_level)
    from .serve import app  # FastAPI and uvicorn: the [serve] extra

    return app.serve(config)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:  # every argument belongs to the benchmark's own parser
        return _bench(argv[1:])
    ap = argparse.ArgumentParser(prog="edgevision", description="edgevision edge inference SDK")
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("predict", help="run a model on images, print JSON, optionally save annotated images")
    p.add_argument("model", help="an .onnx path or a bundled model name")
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("--save", metavar="DIR", help="write annotated images to DIR")
    p.add_argument("--json", action="store_true", help="print one JSON array instead of JSON lines")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda[:N] or tensorrt[:N]")
    p.add_argument("--config", metavar="FILE", help="JSON/YAML configuration merged over the model's metadata")
    p.set_defaults(fn=_predict)
    i = sub.add_parser("info", help="inputs, outputs, metadata, size and quantization of a model")
    i.add_argument("model")
    i.add_argument("--json", action="store_true")
    i.set_defaults(fn=_info)
    d = sub.add_parser("demo", help="read the plates of the sample scenes (or SOURCE) with the bundled models")
    d.add_argument("source", nargs="?", help="folder with manifest.jsonl, folder of images, or an image "
                                              "(default: the bundled sample scenes)")
    d.add_argument("--out", default="out/demo", help="folder for annotated images (default out/demo)")
    d.add_argument("--corners", default="lpl_resnet_int8.onnx", help="corner model (default: bundled int8)")
    d.add_argument("--ocr", default="plate_ocr_int8.onnx", help="OCR model (default: bundled int8)")
    d.add_argument("--detector", default=None, metavar="M",
                   help="a plate detector (pose model with 4 corners): read every plate of each image "
                        "instead of the one plate the corner model regresses")
    d.add_argument("--no-refine", dest="refine", action="store_false",
                   help="with --detector: skip its second look at each plate (faster, coarser corners)")
    d.add_argument("--device", default="auto", help="auto, cpu, cuda[:N] or tensorrt[:N]")
    d.set_defaults(fn=_demo)
    _add_serve_parser(sub)
    if _bench_root() is not None:  # benchmarks/ is not in the wheel
        sub.add_parser("bench", add_help=False,
                       help="latency, accuracy and size of model variants side by side (edgevision bench --help)")
    args = ap.parse_args(argv)
    try:
        return int(args.fn(args))
    except EdgeVisionError as e:
        print(f"edgevision {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
