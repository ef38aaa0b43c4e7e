"""``python -m exporters``: a thin command line over :mod:`exporters`.

    python -m exporters list
    python -m exporters torch --arch NAME [--weights W.pt] [--arg key=value ...] --out X.onnx
    python -m exporters keras MODEL.keras --task TASK --size H W [--config cfg.yaml] --out X.onnx
    python -m exporters keras --arch NAME [--weights W.weights.h5] --out X.onnx
    python -m exporters exemplars MODEL.onnx FOLDER --out X.onnx [--k 5] [--temperature 0.02] [--weight 0.5]

Common options: ``--opset N``, ``--no-simplify``, ``--no-parity``, ``--atol``,
``--rtol``, ``--static-batch``. ``--arg`` values are JSON (``--arg size=96``,
``--arg 'labels=["plate","car"]'``) or plain strings. For ``keras MODEL.keras``
the metadata comes from ``--config`` (JSON/YAML with the edgevision keys) plus
``--task``, ``--size``, ``--labels``, ``--layout``. Prints a summary (shapes,
nodes, parity figures); exit status 2 with the message on stderr on errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from edgevision.errors import EdgeVisionError

from . import zoo


def _kv(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    k, v = text.split("=", 1)
    try:
        return k, json.loads(v)
    except json.JSONDecodeError:
        return k, v


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="output .onnx path")
    p.add_argument("--opset", type=int, help="ONNX opset (default 18)")
    p.add_argument("--no-simplify", action="store_true", help="skip onnxslim")
    p.add_argument("--no-parity", action="store_true", help="skip the ONNX Runtime vs framework check")
    p.add_argument("--atol", type=float, help="parity absolute tolerance (default 1e-4)")
    p.add_argument("--rtol", type=float, help="parity relative tolerance (default 1e-3)")
    p.add_argument("--static-batch", action="store_true", help="do not keep a dynamic batch axis")


def _export_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    kw: dict[str, Any] = {"simplify": not args.no_simplify, "parity": not args.no_parity,
                          "dynamic_batch": not args.static_batch}
    for k in ("opset", "atol", "rtol"):
        if getattr(args, k) is not None:
            kw[k] = getattr(args, k)
    return kw


def _keras_file(args: argparse.Namespace) -> Any:
    from edgevision.config import deep_merge, load_config_file

    from . import export_keras

    cfg: dict[str, Any] = load_config_file(args.config) if args.config else {}
    top: dict[str, Any] = {}
    if args.task:
        top["task"] = args.task
    if args.size:
        top["preprocess"] = {"size": args.size}
    if args.labels:
        top["labels"] = args.labels
    cfg = deep_merge(cfg, top)
    cfg.pop("schema", None)
    inp = cfg.pop("input", {}) or {}
    kwargs = {k: cfg.pop(k) for k in ("task", "preprocess", "labels", "charset", "decoder", "name") if k in cfg}
    if "task" not in kwargs or "preprocess" not in kwargs:
        raise EdgeVisionError("keras MODEL: --task and --size (or a --config holding task and preprocess.size) "
                              "are required for a model that is not in the zoo")
    if inp.get("name"):
        kwargs["input_name"] = inp["name"]
    kwargs["layout"] = args.layout or inp.get("layout") or "NHWC"
    if cfg:
        kwargs["extra"] = cfg
    return export_keras(args.model, args.out, **kwargs, **_export_kwargs(args))


def _exemplars(args: argparse.Namespace) -> int:
    from edgevision.config import ModelConfig

    from .exemplars import add_exemplar_vote, read_exemplar_folder

    cfg = ModelConfig.read(args.model) if args.model.endswith(".onnx") and os.path.isfile(args.model) else None
    if cfg is None or not cfg.labels:
        raise EdgeVisionError(f"model: {args.model}: expected a self-describing .onnx classifier with labels")
    images, idx = read_exemplar_folder(args.folder, cfg.labels)
    sec = add_exemplar_vote(args.model, args.out, images, idx, k=args.k, temperature=args.temperature,
                            weight=args.weight, gate_quantile=args.gate_quantile, source=f"folder {args.folder}")
    print(f"{args.out}: a vote over {sec['count']} exemplars ({sec['dim']} features, gate {sec['gate']:.4f})")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m exporters", description="export models to self-describing ONNX")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="list the zoo architectures")
    pt = sub.add_parser("torch", help="export a zoo PyTorch architecture")
    pt.add_argument("--arch", required=True, choices=zoo.names("torch"))
    pt.add_argument("--weights", help="state dict (.pt) to load first (checked key by key)")
    pt.add_argument("--arg", type=_kv, action="append", default=[], metavar="KEY=VALUE",
                    help="builder argument, e.g. size=96 or num_slots=8")
    pt.add_argument("--exporter", choices=("dynamo", "torchscript"), default="dynamo")
    _common(pt)
    pk = sub.add_parser("keras", help="export a .keras file or a zoo Keras architecture")
    pk.add_argument("model", nargs="?", help="a .keras file (omit with --arch)")
    pk.add_argument("--arch", choices=zoo.names("keras"))
    pk.add_argument("--weights", help="weights for --arch (.weights.h5 or .keras)")
    pk.add_argument("--arg", type=_kv, action="append", default=[], metavar="KEY=VALUE")
    pk.add_argument("--task", help="edgevision task of a .keras file")
    pk.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), help="model input size, pixels")
    pk.add_argument("--labels", nargs="+", help="class names")
    pk.add_argument("--layout", choices=("NHWC", "NCHW"), help="input layout (Keras default NHWC)")
    pk.add_argument("--config", help="JSON/YAML file with the edgevision keys (preprocess, decoder...)")
    _common(pk)
    pe = sub.add_parser("exemplars", help="teach an exported classifier labelled crops (exporters.exemplars)")
    pe.add_argument("model", help="a self-describing softmax classifier (.onnx, fp32 or int8)")
    pe.add_argument("folder", help="FOLDER/<label>/*.jpg: labelled crops, one sub-folder per class label")
    pe.add_argument("--out", required=True, help="output .onnx path")
    pe.add_argument("--k", type=int, default=5, help="nearest exemplars that vote (default 5)")
    pe.add_argument("--temperature", type=float, default=0.02, help="of the softmax over similarities (default 0.02)")
    pe.add_argument("--weight", type=float, default=0.5, help="of the vote in the blend (default 0.5)")
    pe.add_argument("--gate-quantile", type=float, default=0.02,
                    help="the gate: this quantile of the exemplars' leave-one-out nearest similarity (default 0.02)")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "list":
            for name in zoo.names():
                e = zoo.entry(name)
                print(f"{name:<18s} {e.framework:<6s} seed {e.seed}  {e.description}")
            return 0
        if args.cmd == "exemplars":
            return _exemplars(args)
        from . import export_arch

        if args.cmd == "torch":
            kw = _export_kwargs(args) | {"exporter": args.exporter}
            res = export_arch(args.arch, args.out, weights=args.weights, arch_kwargs=dict(args.arg), **kw)
        elif args.arch:
            if args.model:
                ap.error("keras: give either MODEL.keras or --arch, not both")
            res = export_arch(args.arch, args.out, weights=args.weights, arch_kwargs=dict(args.arg),
                              **_export_kwargs(args))
        else:
            if not args.model:
                ap.error("keras: MODEL.keras or --arch is required")
            res = _keras_file(args)
    except (EdgeVisionError, OSError) as e:
        print(f"python -m exporters {args.cmd}: error: {e}", file=sys.stderr)
        return 2
    print(res.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
