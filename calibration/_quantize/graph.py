"""Graph surgery on QDQ models: consumers/producers, float islands, pruning, weight-only int8."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np

from .common import _QDQ_OPS, _onnx


def _consumers(graph: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for n in graph.node:
        for t in n.input:
            if t:
                out.setdefault(t, []).append(n)
    return out


def _producers(graph: Any) -> dict[str, Any]:
    return {t: n for n in graph.node for t in n.output if t}


def _float_inputs(model: Any, float_nodes: Sequence[str]) -> None:
    """Feeds the float nodes their activations in float: an input that comes from
    ``DequantizeLinear(QuantizeLinear(x))`` is rewired to ``x``. onnxruntime leaves such
    pairs in front of excluded nodes when a neighbour quantizes the tensor."""
    g = model.graph
    prod = _producers(g)
    names = set(float_nodes)
    for n in g.node:
        if n.name not in names:
            continue
        for i, t in enumerate(n.input):
            dq = prod.get(t)
            if dq is None or dq.op_type != "DequantizeLinear":
                continue
            q = prod.get(dq.input[0])
            if q is not None and q.op_type == "QuantizeLinear" and not _may_clip(g, q):
                n.input[i] = q.input[0]


def _may_clip(graph: Any, q: Any) -> bool:
    """True when a QuantizeLinear's zero point is its type's minimum (uint8 0, int8 -128).

    With asymmetric activations onnxruntime folds a Relu (or Clip at 0) into the
    QuantizeLinear that follows it: the range then starts at 0 and the quantization does
    the clipping. Bypassing such a pair would drop the activation, so it is kept."""
    from onnx import numpy_helper

    if len(q.input) < 3 or not q.input[2]:
        return True  # default zero point: uint8 0
    init = next((t for t in graph.initializer if t.name == q.input[2]), None)
    if init is None:
        return True
    zp = numpy_helper.to_array(init)
    lo = np.iinfo(zp.dtype).min if np.issubdtype(zp.dtype, np.integer) else None
    return lo is not None and bool(np.any(zp == lo))


def _float_outputs(model: Any) -> list[str]:
    """Removes the QuantizeLinear/DequantizeLinear pair onnxruntime puts on graph outputs
    (the producer then writes the float output directly); returns the outputs changed."""
    g = model.graph
    prod = _producers(g)
    cons = _consumers(g)
    changed = []
    for out in g.output:
        dq = prod.get(out.name)
        if dq is None or dq.op_type != "DequantizeLinear":
            continue
        q = prod.get(dq.input[0])
        if q is None or q.op_type != "QuantizeLinear" or len(cons.get(q.output[0], [])) != 1:
            continue
        x = q.input[0]
        src = prod.get(x)
        if src is None or x in {o.name for o in g.output} or x in {i.name for i in g.input}:
            continue
        # The producer writes the output's name; every other reader of x reads it too.
        for n in cons.get(x, []):
            n.input[:] = [out.name if v == x else v for v in n.input]
        src.output[:] = [out.name if v == x else v for v in src.output]
        g.node.remove(dq)
        g.node.remove(q)
        changed.append(out.name)
    return changed


def _prune(model: Any) -> None:
    """Drops Q/DQ nodes nothing reads any more, and initializers nothing uses."""
    g = model.graph
    outputs = {o.name for o in g.output}
    while True:
        cons = _consumers(g)
        dead = [n for n in g.node if n.op_type in _QDQ_OPS
                and not any(cons.get(t) or t in outputs for t in n.output)]
        if not dead:
            break
        for n in dead:
            g.node.remove(n)
    used = {t for n in g.node for t in n.input} | outputs
    for init in [i for i in g.initializer if i.name not in used]:
        g.initializer.remove(init)


def _classify(model: Any) -> tuple[list[str], list[str]]:
    """(nodes reading a dequantized input, other compute nodes), Q/DQ nodes left out."""
    g = model.graph
    prod = _producers(g)
    quantized, floating = [], []
    for n in g.node:
        if n.op_type in _QDQ_OPS:
            continue
        src = [prod.get(t) for t in n.input if t]
        # An activation DQ reads a QuantizeLinear; a DQ of a constant alone (weight-only int8) leaves it float.
        act = any(s is not None and s.op_type == "DequantizeLinear" and prod.get(s.input[0]) is not None
                  and prod[s.input[0]].op_type == "QuantizeLinear" for s in src)
        (quantized if act else floating).append(n.name or n.output[0])
    return quantized, floating


#: Float nodes whose constant weight has at least this many elements store it as int8 (weight-only).
WEIGHT_ONLY_MIN = 16384


def _weight_only_int8(model: Any, float_nodes: Sequence[str]) -> list[str]:
    """Stores the big constant weights of the float nodes as per-channel symmetric int8 behind a
    DequantizeLinear (weight-only int8): the node still computes in float on float activations,
    so accuracy is that of float activations, while the file keeps int8's size. Conv (axis 0),
    Gemm (axis 1, or 0 with transB) and MatMul (axis 1) weights of at least
    :data:`WEIGHT_ONLY_MIN` elements; returns the node names converted."""
    numpy_helper, helper = _onnx().numpy_helper, _onnx().helper
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    cons = _consumers(g)
    wanted = set(float_nodes)
    done, dqs = [], []
    for n in g.node:
        key = n.name or n.output[0]
        if key not in wanted or n.op_type not in ("Conv", "Gemm", "MatMul") or len(n.input) < 2:
            continue
        w_name = n.input[1]
        t = inits.get(w_name)
        if t is None or len(cons.get(w_name, [])) != 1 or t.data_type != 1 or len(t.dims) < 2:
            continue
        w = numpy_helper.to_array(t).astype(np.float32)
        if w.size < WEIGHT_ONLY_MIN:
            continue
        if n.op_type == "Conv":
            axis = 0
        elif n.op_type == "Gemm":
            axis = 0 if any(a.name == "transB" and a.i for a in n.attribute) else 1
        else:
            axis = w.ndim - 1
        red = tuple(i for i in range(w.ndim) if i != axis)
        scale = np.abs(w).max(axis=red) / 127.0
        scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
        shape = [1] * w.ndim
        shape[axis] = -1
        q = np.clip(np.round(w / scale.reshape(shape)), -127, 127).astype(np.int8)
        base = f"{w_name}_weight_only"
        g.initializer.remove(t)
        g.initializer.extend([numpy_helper.from_array(q, base + "_q"), numpy_helper.from_array(scale, base + "_scale"),
                              numpy_helper.from_array(np.zeros(scale.shape, np.int8), base + "_zp")])
        dqs.append(helper.make_node("DequantizeLinear", [base + "_q", base + "_scale", base + "_zp"],
                                    [base + "_dq"], name=base + "_DequantizeLinear", axis=axis))
        n.input[1] = base + "_dq"
        done.append(key)
    if dqs:  # the DQs read constants only: first in the graph keeps it topologically sorted
        nodes = [copy.deepcopy(x) for x in g.node]
        g.ClearField("node")
        g.node.extend(dqs + nodes)
    return done
