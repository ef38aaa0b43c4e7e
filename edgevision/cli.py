"""``edgevision`` command line: a thin layer over the library.

    edgevision predict MODEL IMAGE... [--save DIR] [--json] [--device D] [--config FILE]
    edgevision info MODEL [--json]
    edgevision demo [SOURCE] [--out DIR] [--corners MODEL] [--ocr MODEL]
    edgevision match IMAGE [--save OUT] [--boxes JSON] [--model M] [--search F]   (seed 004: the matching candidate's x, y)
    edgevision match LABELS [--images DIR]   (seed 004's accuracy on a labels.jsonl folder)
    edgevision read-meter IMAGE... [--save DIR] [--json] [--corners M] [--digits M] [--classifier M] [--refine M | --no-refine]
    edgevision read-meter --eval DIR | --synthetic N [--seed S] [--save DIR]   (seed 001's recognition rate)
    edgevision serve [--pipeline plate|meter|none] [--model M]... [--host H] [--port P] [--workers N] [--queue N] ...
    edgevision bench [MODEL...] [options]   (= python -m benchmarks.latency; listed only in a repository checkout)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ._argtypes import int_at_least, non_negative_int, positive_int, unit_interval_off_or_auto
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

    from .plates import DEFAULT_DETECTOR, PlateReader
    from .samples import scene_items

    if args.rescue not in (None, "auto") and (args.corners or not args.refine):
        raise EdgeVisionError("--rescue: it keeps plates the detector's second look does not confirm; not with "
                              "--corners or --no-refine")
    if args.corners and args.detector:
        raise EdgeVisionError("--corners, --detector: give one of them (the demo reads with a detector, by default "
                              "the bundled one, or with a corner model)")
    src, items = scene_items(args.source, "SOURCE")
    detect = not args.corners
    if detect:
        reader = PlateReader(ocr=args.ocr, detector=args.detector or DEFAULT_DETECTOR, refine=args.refine,
                             deskew=args.deskew, rescue=args.rescue, device=args.device)
    else:
        reader = PlateReader(args.corners, args.ocr, deskew=args.deskew, device=args.device)
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
        if detect:  # every plate the detector found
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
    stages = "detector + rectify + OCR" if detect else "corners + rectify + OCR"
    summary = f"{len(times)} image(s), median {float(np.median(times)):.1f} ms per image ({stages})"
    if labelled:
        summary += f"; exact text {hits}/{labelled}"
    if errs:
        summary += f"; mean corner error {float(np.mean(errs)):.1f} px"
    print(summary)
    return 0


#: ``read-meter --synthetic``'s default first seed: the held-out scenes of ``training.meter_screen`` (HELDOUT_BASE).
METER_HELDOUT_SEED = 400_000_000


def _meter_labelled(args: argparse.Namespace) -> tuple[str, list[Any], list[dict[str, Any]]]:
    """``(what, images, labels)`` of ``--eval DIR`` (a manifest folder) or ``--synthetic N``."""
    if args.eval:
        from .samples import scene_items

        src, items = scene_items(args.eval, "--eval")
        labelled = [(path, lab) for path, lab in items if lab is not None and "text" in lab]
        if not labelled:
            raise EdgeVisionError(f"--eval: {src}: no labelled images (a manifest.jsonl with image, text and class "
                                  "per line; text \"\" for an illegible meter)")
        return str(src), [path for path, _ in labelled], [lab for _, lab in labelled]
    import importlib

    try:  # host-side code (not in the wheel): imported by name, as `bench` does, never by the runtime itself
        render_scene = importlib.import_module("calibration.meter_synth").render_scene
    except ImportError as e:
        raise EdgeVisionError(f"--synthetic: the meter generator is not importable ({e}); it lives in the "
                              "repository's calibration/ folder: run from a checkout of edgevision") from None
    scenes = [render_scene(args.seed + i) for i in range(args.synthetic)]
    return (f"{args.synthetic} synthetic scenes (render_scene({args.seed} + i))", [s.image for s in scenes],
            [{"text": s.reading, "class": s.meter_class} for s in scenes])


def _read_meter(args: argparse.Namespace) -> int:
    from .meters import MeterReader, evaluate_meters

    modes = sum(bool(x) for x in (args.images, args.eval, args.synthetic))
    if modes != 1:
        raise EdgeVisionError("expected IMAGE... to read, or --eval DIR, or --synthetic N to score a labelled set "
                              f"(one of them; got {modes})")
    reader = MeterReader(args.corners, args.digits, args.classifier, refine=args.refine, device=args.device)
    if not args.images:
        what, images, labels = _meter_labelled(args)
        res = evaluate_meters(reader, images, labels, save=args.save)
        if not args.json:
            res.pop("per_image")
        print(json.dumps({"source": what, **res}, ensure_ascii=False, indent=2))
        return 0
    from .predictor import load_image

    images = [load_image(path, "IMAGE") for path in args.images]  # every file is checked before any work
    records = []
    for path, image, r in zip(args.images, images, reader(images)):
        rec = {"image": path, **r.to_dict()}
        if args.save:
            import cv2

            out_dir = Path(args.save)
            out_dir.mkdir(parents=True, exist_ok=True)
            dst = out_dir / (Path(path).stem + "_meter.jpg")
            if not cv2.imwrite(str(dst), r.plot()):
                raise EdgeVisionError(f"--save: could not write {dst}")
            rec["saved"] = str(dst)
        records.append(rec)
        if not args.json:
            print(json.dumps(rec, ensure_ascii=False))
    if args.json:
        print(json.dumps(records, ensure_ascii=False, indent=2))
    return 0


def _add_read_meter_parser(sub: Any) -> None:
    from .meters import DEFAULT_CLASSIFIER, DEFAULT_CORNERS, DEFAULT_DIGITS, DEFAULT_REFINE

    m = sub.add_parser("read-meter", help="read utility meters (seed 001): screen corners and class, digits, "
                                          "reading; or score a labelled set",
                       description="Read meters with MeterReader and print one JSON line per image (seed 001's "
                                   "fields: original_image_shape, success, text, class, score, time, then corners, "
                                   "digits, timings_ms). With --eval or --synthetic, print the recognition rate: "
                                   "fully correct readings over readable meters.")
    m.add_argument("images", nargs="*", metavar="IMAGE", help="image files")
    m.add_argument("--save", metavar="DIR", help="write annotated images to DIR")
    m.add_argument("--json", action="store_true", help="one JSON array (with --eval/--synthetic: every image's "
                                                       "reading too)")
    m.add_argument("--eval", metavar="DIR", help="score a labelled folder: manifest.jsonl with image, text "
                                                 "(\"\" when illegible) and class per line")
    m.add_argument("--synthetic", type=positive_int, metavar="N",
                   help="score N generated scenes (calibration.meter_synth; needs a checkout)")
    m.add_argument("--seed", type=non_negative_int, default=METER_HELDOUT_SEED,
                   help=f"first scene seed of --synthetic (default {METER_HELDOUT_SEED}: the held-out scenes)")
    m.add_argument("--corners", default=DEFAULT_CORNERS, help=f"stage-1 model (default {DEFAULT_CORNERS})")
    m.add_argument("--digits", default=DEFAULT_DIGITS, help=f"digit detector (default {DEFAULT_DIGITS})")
    m.add_argument("--classifier", default=DEFAULT_CLASSIFIER, help=f"digit classifier (default {DEFAULT_CLASSIFIER})")
    m.add_argument("--refine", default=DEFAULT_REFINE,
                   help=f"second look at the screen corners (default {DEFAULT_REFINE})")
    m.add_argument("--no-refine", dest="refine", action="store_const", const=None,
                   help="no second look at the screen corners (faster, coarser corners)")
    m.add_argument("--device", default="auto", help="auto, cpu, cuda[:N] or tensorrt[:N]")
    m.set_defaults(fn=_read_meter)


def _match(args: argparse.Namespace) -> int:
    from .matching import SiameseMatcher, evaluate_labels, read_boxes

    src = Path(args.path)
    if not src.exists():
        raise EdgeVisionError(f"PATH: {src}: no such file or folder")
    if src.is_dir() or src.suffix == ".jsonl":  # dataset mode: seed 004's accuracy
        if args.save or args.boxes:
            raise EdgeVisionError("--save and --boxes apply to one challenge image, not to a labelled set")
        res = evaluate_labels(SiameseMatcher(args.model, device=args.device, search=args.search, views=args.views),
                              src, args.images)
        print(json.dumps(res, ensure_ascii=False, indent=2))
        return 0
    boxes_path = Path(args.boxes) if args.boxes else src.with_suffix(".json")
    boxes = read_boxes(boxes_path) if (args.boxes or boxes_path.is_file()) else None
    m = SiameseMatcher(args.model, device=args.device, search=args.search, views=args.views)
    r = m(str(src), *((boxes["reference_box"], boxes["candidate_boxes"]) if boxes else ()))
    rec = {"image": str(src), **r.to_dict(), "boxes": str(boxes_path) if boxes else "default layout"}
    if args.save:
        import cv2

        dst = Path(args.save)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(dst), r.plot()):
            raise EdgeVisionError(f"--save: could not write {dst} (use a .png or .jpg name)")
        rec["saved"] = str(dst)
    print(json.dumps(rec, ensure_ascii=False))
    return 0


def _add_match_parser(sub: Any) -> None:
    from .matching import DEFAULT_MODEL, DEFAULT_SEARCH, DEFAULT_VIEWS, VIEWS

    m = sub.add_parser("match", help="icon-matching captchas (seed 004): print the matching candidate's "
                                     "coordinates, or the accuracy on a labelled set",
                       description="PATH an image: print JSON with the target index, its centre (x, y, source "
                                   "pixels) and the similarities; boxes from --boxes, else PATH with .json if it "
                                   "exists, else the default layout (reference panel top-left, 5 slots below). "
                                   "PATH a folder or a labels.jsonl: print seed 004's accuracy.")
    m.add_argument("path", metavar="PATH", help="a challenge image, or a labelled set (folder with labels.jsonl)")
    m.add_argument("--save", metavar="OUT", help="write the image with a red marker on the answer to OUT")
    m.add_argument("--boxes", metavar="JSON", help="reference_box and candidate_boxes, (x0, y0, x1, y1) pixels")
    m.add_argument("--images", metavar="DIR", help="dataset mode: folder of the images (default: the labels' folder)")
    m.add_argument("--model", default=DEFAULT_MODEL, help=f"embedding model (default {DEFAULT_MODEL})")
    m.add_argument("--search", type=float, default=DEFAULT_SEARCH, metavar="F",
                   help=f"crop search: each candidate box also tried moved by F of its side each way, 0 <= F < 0.5 "
                        f"(default {DEFAULT_SEARCH}; 0: the boxes alone, about 4x faster)")
    m.add_argument("--views", choices=list(VIEWS), default=DEFAULT_VIEWS,
                   help=f"test-time views of every crop, their embeddings averaged (default {DEFAULT_VIEWS}: the 8 "
                        "turns and mirrors of the square; none: about 8x faster, less accurate)")
    m.add_argument("--device", default="auto", help="auto, cpu, cuda[:N] or tensorrt[:N]")
    m.set_defaults(fn=_match)


def _add_serve_parser(sub: Any) -> None:
    from .serve.config import PIPELINES, ServeConfig

    from .plates import DEFAULT_CORNERS, DEFAULT_DETECTOR

    d = ServeConfig()
    s = sub.add_parser("serve", help="HTTP service: /recognize, /predict/{model}, /health, /models, /metrics "
                                     "(needs the [serve] extra)",
                       description="Serve plate reading and models over HTTP (FastAPI + uvicorn). Models load and "
                                   "warm up before the port opens; SIGTERM lets requests in flight finish.")
    s.add_argument("--pipeline", choices=[*PIPELINES, "none"],
                   help="plate: POST /recognize with --detector (or --corners) and --ocr; meter: POST /recognize reads a meter "
                        "(seed 001) with --meter-corners, --meter-digits and --meter-classifier (default: plate, "
                        "or none with --model)")
    s.add_argument("--model", action="append", default=[], metavar="M",
                   help="a model (path or bundled name) to serve at POST /predict/{name}; repeatable")
    s.add_argument("--detector", default=None, metavar="M",
                   help=f"plate detector (pose model with 4 corners): /recognize reads every plate (default: "
                        f"bundled {DEFAULT_DETECTOR})")
    s.add_argument("--corners", default=None, metavar="M",
                   help=f"a plate corner model instead of the detector: /recognize reads the one plate it "
                        f"regresses (seed 000; bundled: {DEFAULT_CORNERS})")
    s.add_argument("--ocr", default=d.ocr, help=f"plate OCR model (default {d.ocr})")
    s.add_argument("--no-refine", dest="refine", action="store_false",
                   help="skip the detector's second look at each plate (faster, coarser corners)")
    s.add_argument("--no-deskew", dest="deskew", action="store_false",
                   help="skip the slant correction (a leaning plate is not read again upright)")
    s.add_argument("--rescue", type=unit_interval_off_or_auto, default="auto", metavar="C|off",
                   help="plate pipeline with a detector: keep a plate the second look does not confirm when the OCR "
                        "reads it with confidence >= C (default auto: 0.9 with a detector's second look; off: never)")
    s.add_argument("--meter-corners", default=d.meter_corners, metavar="M",
                   help=f"meter pipeline: screen corners and class (default {d.meter_corners})")
    s.add_argument("--meter-digits", default=d.meter_digits, metavar="M",
                   help=f"meter pipeline: digit detector (default {d.meter_digits})")
    s.add_argument("--meter-classifier", default=d.meter_classifier, metavar="M",
                   help=f"meter pipeline: digit classifier (default {d.meter_classifier})")
    s.add_argument("--meter-refine", default=d.meter_refine, metavar="M",
                   help=f"meter pipeline: second look at the screen corners (default {d.meter_refine})")
    s.add_argument("--no-meter-refine", dest="meter_refine", action="store_const", const=None,
                   help="meter pipeline: no second look at the screen corners (faster, coarser corners)")
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
        ocr=args.ocr, detector=args.detector, refine=args.refine, deskew=args.deskew, rescue=args.rescue,
        meter_corners=args.meter_corners, meter_digits=args.meter_digits,
        meter_classifier=args.meter_classifier, meter_refine=args.meter_refine,
        host=args.host, port=args.port, workers=args.workers, threads=args.threads, queue=args.queue,
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
    from .plates import DEFAULT_CORNERS, DEFAULT_DETECTOR, DEFAULT_OCR

    d = sub.add_parser("demo", help="read the plates of the sample scenes (or SOURCE) with the bundled models")
    d.add_argument("source", nargs="?", help="folder with manifest.jsonl, folder of images, or an image "
                                              "(default: the bundled sample scenes)")
    d.add_argument("--out", default="out/demo", help="folder for annotated images (default out/demo)")
    d.add_argument("--detector", default=None, metavar="M",
                   help=f"plate detector (pose model with 4 corners) reading every plate of each image "
                        f"(default: bundled {DEFAULT_DETECTOR})")
    d.add_argument("--corners", default=None, metavar="M",
                   help=f"read with a corner model instead of the detector: the one plate it regresses per image "
                        f"(seed 000; bundled: {DEFAULT_CORNERS})")
    d.add_argument("--ocr", default=DEFAULT_OCR, help=f"OCR model (default: bundled {DEFAULT_OCR})")
    d.add_argument("--no-refine", dest="refine", action="store_false",
                   help="skip the detector's second look at each plate (faster, coarser corners)")
    d.add_argument("--no-deskew", dest="deskew", action="store_false",
                   help="skip the slant correction (a leaning plate is not read again upright)")
    d.add_argument("--rescue", type=unit_interval_off_or_auto, default="auto", metavar="C|off",
                   help="keep a plate the second look does not confirm when the OCR reads it with confidence >= C "
                        "(default auto: 0.9 with the detector's second look; off: never, about 2 ms less a street "
                        "scene, fewer plates found)")
    d.add_argument("--device", default="auto", help="auto, cpu, cuda[:N] or tensorrt[:N]")
    d.set_defaults(fn=_demo)
    _add_read_meter_parser(sub)
    _add_match_parser(sub)
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
