"""Average several exported models of one task into one self-describing ONNX file.

    from exporters.ensemble import average_models
    average_models(["a/meter_digit_cls.onnx", "b/meter_digit_cls.onnx"], "ens/meter_digit_cls.onnx")

The members must take the same input (name, dtype, shape; one image input) and give
the same outputs (names, dtypes, shapes) under the same ``edgevision`` metadata
(task, preprocess, labels, decoder, layout): members of one architecture family
trained with other seeds or recipes. The result computes every member on the shared
input and returns the element-wise mean of each output (ONNX ``Mean``): for softmax
classifiers, the averaged probabilities (a probability vector again). Its metadata is
the first member's, with ``ensemble`` (the members' names and the rule) added.

Cost: the members' compute and weights add up; the runtime and the int8 path
(``calibration.quantize``) see one ordinary graph.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from .errors import ExportError

__all__ = ["average_models", "COMPARED_METADATA"]

#: The metadata keys that must agree between members (what the runtime does with the model).
COMPARED_METADATA = ("task", "preprocess", "labels", "decoder", "layout", "input_name", "output_names", "dtype")


def _signature(vis: Any) -> list[tuple[str, int, tuple[Any, ...]]]:
    out = []
    for vi in vis:
        t = vi.type.tensor_type
        dims = tuple(d.dim_param if d.HasField("dim_param") else (d.dim_value if d.HasField("dim_value") else "?")
                     for d in t.shape.dim)
        out.append((vi.name, t.elem_type, dims))
    return out


def average_models(models: Sequence[str | os.PathLike], out: str | os.PathLike, *, name: str | None = None,
                   atol: float = 1e-5) -> Path:
    """Write one ONNX model that runs every member of ``models`` (paths of self-describing ONNX
    exports) and returns the mean of their outputs; returns ``out``.

    ``name``: the ``name`` in the result's metadata (default: the first member's). The result is
    checked (ONNX checker, shape inference) and compared with the mean of the members' own outputs
    under ONNX Runtime on one random input (max abs difference ``atol``).

    Raises:
        InvalidArgumentError: fewer than 2 models, or a path is not a file.
        ExportError: the members differ in input, outputs, opset or metadata, or the result
            does not compute the mean of the members.
    """
    import numpy as np
    import onnx
    from onnx import compose, helper

    from edgevision.config import ModelConfig
    from edgevision.errors import InvalidArgumentError

    paths = [Path(os.fspath(m)) for m in models]
    if len(paths) < 2:
        raise InvalidArgumentError(f"models: expected at least 2 ONNX files to average, got {len(paths)}")
    for p in paths:
        if not p.is_file():
            raise InvalidArgumentError(f"models: {p}: no such file")
    loaded = [onnx.load(str(p)) for p in paths]
    configs = [ModelConfig.read(str(p)) for p in paths]
    if any(c is None for c in configs):
        missing = [str(p) for p, c in zip(paths, configs) if c is None]
        raise ExportError(f"models: {', '.join(missing)}: no edgevision metadata (export them with exporters first)")
    first = loaded[0]
    inits0 = {t.name for t in first.graph.initializer}
    inputs0 = [vi for vi in first.graph.input if vi.name not in inits0]
    if len(inputs0) != 1:
        raise ExportError(f"models: {paths[0]}: expected one input, got {[vi.name for vi in inputs0]}")
    sig_in, sig_out = _signature(inputs0), _signature(first.graph.output)
    opsets0 = {(o.domain, o.version) for o in first.opset_import}
    want = {k: configs[0].to_dict().get(k) for k in COMPARED_METADATA}
    for p, m, c in zip(paths[1:], loaded[1:], configs[1:]):
        inits = {t.name for t in m.graph.initializer}
        ins = _signature([vi for vi in m.graph.input if vi.name not in inits])
        if ins != sig_in:
            raise ExportError(f"models: {p}: input {ins} differs from {paths[0]}'s {sig_in}")
        if _signature(m.graph.output) != sig_out:
            raise ExportError(f"models: {p}: outputs {_signature(m.graph.output)} differ from {paths[0]}'s {sig_out}")
        if {(o.domain, o.version) for o in m.opset_import} != opsets0:
            raise ExportError(f"models: {p}: opsets differ from {paths[0]}'s")
        got = {k: c.to_dict().get(k) for k in COMPARED_METADATA}
        diff = sorted(k for k in COMPARED_METADATA if got[k] != want[k])
        if diff:
            raise ExportError(f"models: {p}: metadata {', '.join(diff)} differ from {paths[0]}'s")

    in_name = sig_in[0][0]
    out_names = [s[0] for s in sig_out]
    nodes, inits, value_info = [], [], []
    for i, m in enumerate(loaded):
        prefix = f"m{i}/"
        pm = compose.add_prefix(m, prefix)  # every name in the member's graph, its input and outputs too
        g = pm.graph
        for n in g.node:  # the member reads the shared input
            for j, x in enumerate(n.input):
                if x == prefix + in_name:
                    n.input[j] = in_name
        nodes.extend(g.node)
        inits.extend(g.initializer)
        value_info.extend(g.value_info)
        value_info.extend(vi for vi in g.output)  # the members' outputs keep their shapes
    for o in out_names:
        nodes.append(helper.make_node("Mean", [f"m{i}/{o}" for i in range(len(loaded))], [o], name=f"ensemble_mean_{o}"))
    graph = helper.make_graph(nodes, f"ensemble_{len(loaded)}", [inputs0[0]], list(first.graph.output), inits,
                              value_info=value_info)
    model = helper.make_model(graph, opset_imports=list(first.opset_import))
    model.ir_version = first.ir_version
    model.producer_name = "edgevision.exporters.ensemble"
    try:
        model = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # onnx raises several unrelated classes here
        raise ExportError(f"{out}: the averaged graph fails the ONNX checker: {e}") from e
    out = Path(os.fspath(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    cfg = configs[0].to_dict()
    if name is not None:
        cfg["name"] = name
    cfg["ensemble"] = {"rule": "mean of each output", "members": [f"{p.parent.name}/{p.name}" for p in paths]}
    cfg.pop("quantization", None)
    ModelConfig.from_dict(cfg, source=str(out)).write(out)
    _check_mean(paths, out, atol, np)
    return out


def _check_mean(paths: list[Path], out: Path, atol: float, np: Any) -> None:
    """The averaged file computes the mean of its members (ONNX Runtime, one random batch of 2)."""
    from edgevision.backends import load_runner

    runner = load_runner(str(out), threads=1)
    inp = runner.inputs[0]
    shape = [d if isinstance(d, int) and d > 0 else 2 for d in inp.shape]
    feed = {inp.name: np.random.default_rng(0).random(shape).astype(inp.dtype)}
    got = runner.infer(feed)
    members = [load_runner(str(p), threads=1).infer(feed) for p in paths]
    for k in range(len(got)):
        mean = np.mean([np.asarray(m[k], np.float64) for m in members], axis=0)
        err = float(np.max(np.abs(np.asarray(got[k], np.float64) - mean)))
        if err > atol:
            raise ExportError(f"{out}: output {k} differs from the mean of its members by {err:.3g} (> {atol})")
