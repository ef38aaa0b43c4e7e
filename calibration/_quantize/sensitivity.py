"""Per-node cost and quantization sensitivity (SNR of float against QDQ activations)."""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .common import _QDQ_OPS, _load, _model_path, _onnx, _quiet, _reason
from ..errors import QuantizationError
from .graph import _producers


def _channel_snr_db(pre: Sequence[np.ndarray], post: Sequence[np.ndarray], shape: Sequence[int | None] | None = None
                    ) -> float:
    """Worst per-channel signal-to-quantization-noise ratio in dB.

    ``pre``/``post``: the batches of one tensor before and after its QDQ pair (as
    ``collect_activations`` returns them: flattened per batch); ``shape``: the tensor's
    shape (batch first; the other dimensions must be static) to find the channels, axis
    1. Without it the whole tensor is one channel. The signal is each channel's variance
    (its mean removed), so a constant offset or an outlier channel cannot hide a channel
    whose variation the int8 step wipes out; channels without variation are skipped.
    ``inf`` when no channel varies or none has any noise.
    """
    rest = list(shape[1:]) if shape is not None and len(shape) >= 2 else []
    per = int(np.prod(rest)) if rest and all(isinstance(d, int) and d > 0 for d in rest) else 0

    def channels(batches: Sequence[np.ndarray]) -> np.ndarray:
        out = []
        for a in batches:
            a = np.asarray(a, np.float64).reshape(-1)
            if per and a.size % per == 0:
                out.append(np.moveaxis(a.reshape(-1, rest[0], per // rest[0]), 1, 0).reshape(rest[0], -1))
            else:
                out.append(a.reshape(1, -1))
        if len({o.shape[0] for o in out}) != 1:
            out = [o.reshape(1, -1) for o in out]
        return np.concatenate(out, axis=1)

    x, y = channels(pre), channels(post)
    if x.shape != y.shape:
        return math.inf
    signal = x.var(axis=1)
    noise = np.mean((x - y) ** 2, axis=1)
    scale = float(np.mean(x ** 2)) + 1e-30
    live = signal > 1e-10 * scale
    if not np.any(live):
        return math.inf
    with np.errstate(divide="ignore"):
        snr = 10 * np.log10(signal[live] / noise[live])
    return float(np.min(snr))


def _shapes(model: Any) -> dict[str, list[int | None]]:
    """Tensor name -> shape (``None`` for unknown dims), after ONNX shape inference."""
    onnx = _onnx()
    try:
        g = onnx.shape_inference.infer_shapes(model).graph
    except Exception:  # shape inference is best effort here
        g = model.graph
    out = {}
    for vi in list(g.value_info) + list(g.output) + list(g.input):
        t = vi.type.tensor_type
        if t.HasField("shape"):
            out[vi.name] = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
    return out


def node_costs(model: str | os.PathLike | Any) -> dict[str, int]:
    """Per node of a float model, the work it does at batch 1, in multiply-accumulates.

    ``Conv``: output elements x (input channels / group) x kernel area; ``Gemm`` and
    ``MatMul`` with a constant 2-D weight: output elements x the reduced dimension;
    every other op: its output elements (an elementwise or pooling op is memory-bound:
    about one pass over its output). Unknown shapes count as 0. This is the figure
    :func:`quantize_accuracy_aware` uses to try cheap nodes first: keeping a node in
    float costs roughly its float compute (a float Conv is several times slower than
    its int8 one), while a float Add, pool or small Gemm costs a pass over a tensor.
    """
    m = model if hasattr(model, "graph") else _load(_model_path(model, "model"))
    shapes = _shapes(m)
    inits = {t.name: list(t.dims) for t in m.graph.initializer}

    def elems(name: str) -> int:
        shape = shapes.get(name)
        if not shape or any(d is None or d <= 0 for d in shape[1:]):
            return 0
        return int(np.prod(shape[1:], dtype=np.int64))  # batch 1

    out: dict[str, int] = {}
    for n in m.graph.node:
        key = n.name or n.output[0]
        o = elems(n.output[0]) if n.output else 0
        if n.op_type == "Conv" and len(n.input) > 1 and n.input[1] in inits and len(inits[n.input[1]]) >= 3:
            w = inits[n.input[1]]
            out[key] = o * int(np.prod(w[1:], dtype=np.int64))
        elif n.op_type in ("Gemm", "MatMul") and len(n.input) > 1 and len(inits.get(n.input[1], [])) == 2:
            w = inits[n.input[1]]
            trans_b = any(a.name == "transB" and a.i for a in n.attribute) if n.op_type == "Gemm" else False
            out[key] = o * int(w[1] if trans_b else w[0])
        else:
            out[key] = o
    return out


def head_nodes(model: str | os.PathLike | Any) -> list[str]:
    """The nodes of a float model's *head*: those after its last spatial tensor.

    Walking back from every graph output, a node belongs to the head while its
    outputs are vectors per image (rank <= 2, or spatial dimensions all 1, as after a
    global pool); the walk stops at a node with a spatial output (the backbone) or
    an unknown shape. A CNN regressor's head is its global pool, flatten and fully
    connected layers: cheap to run in float, and where int8 rounding of a few hundred
    features lands directly on the regressed values. Returns names in graph order
    (empty for a model without such a head).
    """
    m = model if hasattr(model, "graph") else _load(_model_path(model, "model"))
    shapes = _shapes(m)
    prod = {o: n for n in m.graph.node for o in n.output}
    inits = {t.name for t in m.graph.initializer}

    def vector(t: str) -> bool:
        shape = shapes.get(t)
        if shape is None:
            return False
        return len(shape) <= 2 or all(d == 1 for d in shape[2:])

    head: set[str] = set()
    todo = [o.name for o in m.graph.output]
    while todo:
        n = prod.get(todo.pop())
        if n is None or (n.name or n.output[0]) in head or not all(vector(o) for o in n.output):
            continue
        head.add(n.name or n.output[0])
        todo += [i for i in n.input if i and i not in inits]
    return [n.name or n.output[0] for n in m.graph.node if (n.name or n.output[0]) in head]


def node_sensitivity(float_model: str | os.PathLike, qdq_model: str | os.PathLike, data: Any, *,
                     count: int = 16) -> list[dict[str, Any]]:
    """Ranks the quantized nodes of ``qdq_model`` by how much quantizing their inputs hurts.

    Uses ``onnxruntime.quantization.qdq_loss_debug``: both models are run with every
    intermediate tensor as an output (``collect_activations``) on the first ``count``
    calibration tensors of ``data`` (a CalibrationSet), and each quantized activation is
    compared before and after its QuantizeLinear/DequantizeLinear pair
    (``create_activation_matching``). The error is the worst per-channel SNR in dB
    (channel axis 1, each channel's variance against its quantization noise), not the
    whole-tensor SNR of ``compute_signal_to_quantization_noice_ratio``: one outlier
    channel would make the whole tensor look fine while the int8 step wipes out the
    others. A node's score is the worst SNR among its activation inputs;
    a graph output's quantization is charged to the node producing it.

    Returns:
        ``[{"node", "op_type", "tensor", "snr_db"}, ...]``, lowest SNR (most sensitive) first.
    """
    from onnxruntime.quantization.qdq_loss_debug import (
        collect_activations,
        create_activation_matching,
        modify_model_output_intermediate_tensors,
    )

    fpath, qpath = _model_path(float_model, "float_model"), _model_path(qdq_model, "qdq_model")
    with tempfile.TemporaryDirectory(prefix="edgevision-debug-") as tmp:
        fa, qa = Path(tmp) / "float_aug.onnx", Path(tmp) / "qdq_aug.onnx"
        try:
            with _quiet():
                modify_model_output_intermediate_tensors(os.fspath(fpath), os.fspath(fa))
                modify_model_output_intermediate_tensors(os.fspath(qpath), os.fspath(qa))
                f_act = collect_activations(os.fspath(fa), data.reader(limit=count))
                q_act = collect_activations(os.fspath(qa), data.reader(limit=count))
        except Exception as e:
            raise QuantizationError(f"node_sensitivity: {_reason(e)}", step="debug") from None
    match = create_activation_matching(q_act, f_act)
    shapes = _shapes(_load(fpath, "float_model"))
    snr = {name: _channel_snr_db(m["pre_qdq"], m["post_qdq"], shapes.get(name)) for name, m in match.items()
           if m.get("pre_qdq") and m.get("post_qdq")}
    q = _load(qpath, "qdq_model")
    g = q.graph
    prod = _producers(g)
    outputs = {o.name for o in g.output}
    scores: dict[str, tuple[float, str, str]] = {}

    def charge(node: Any, tensor: str, value: float) -> None:
        key = node.name or node.output[0]
        if key not in scores or value < scores[key][0]:
            scores[key] = (value, node.op_type, tensor)

    for n in g.node:
        if n.op_type in _QDQ_OPS:
            continue
        for t in n.input:
            dq = prod.get(t)
            if dq is not None and dq.op_type == "DequantizeLinear":
                qn = prod.get(dq.input[0])
                if qn is not None and qn.op_type == "QuantizeLinear":
                    name = qn.input[0]
                    base = name.removesuffix("_QuantizeLinear_Input")
                    if base in snr:
                        charge(n, base, snr[base])
    for name, value in snr.items():  # quantized graph outputs: charge the producer
        if name in outputs:
            dq = prod.get(name)
            qn = prod.get(dq.input[0]) if dq is not None else None
            src = prod.get(qn.input[0]) if qn is not None else None
            if src is not None and src.op_type not in _QDQ_OPS:
                charge(src, name, value)
    ranked = sorted(scores.items(), key=lambda kv: (kv[1][0], kv[0]))
    return [{"node": k, "op_type": v[1], "tensor": v[2], "snr_db": v[0]} for k, v in ranked if math.isfinite(v[0])]
