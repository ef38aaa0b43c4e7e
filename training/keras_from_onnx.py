"""Start a Keras model from an exported ONNX file: fine-tune a bundled Keras default without its ``.weights.h5``.

The Keras recipes (``training.meter_digits``, ``training.meter_screen``, ``training.siamese``) save
``.weights.h5`` files in their run folders, which are not in the repository; the bundled ``.onnx``
files are. Those are inference graphs (``exporters.export_keras``): each BatchNormalization is folded
into the convolution before it, a ``Dense`` is a ``MatMul`` and an ``Add``, and the convolutions are
NCHW. :func:`load_keras_from_onnx` maps them back onto a Keras model of the same architecture (the
zoo builder with the arguments the card records) and checks the result against ONNX Runtime, so a
wrong mapping fails loudly instead of training from garbage. :mod:`training.from_onnx` is its torch
counterpart.

Mapping: each of the model's layers with weights (``Conv2D``, ``DepthwiseConv2D``, ``Dense``; a layer
shared across pyramid levels once; a ``SeparableConv2D`` as its two halves, a depthwise ``Conv`` and the
pointwise ``Conv`` it feeds) gets the ONNX ``Conv`` / ``MatMul`` / ``Gemm`` weight of its shape
whose node is fed by the weights its own inputs come from (through weightless ops): a search over the
graph's structure, not its node order, which the export's graph optimizations change. A folded convolution comes back as its folded kernel followed by its
BatchNormalization made the identity plus the folded bias; the BatchNormalization's statistics are
then measured on the given inputs (mean and variance of its input per channel), and its scale and
shift set so that it stays that function in inference and is nearly so in training mode, where it
normalizes by batch statistics (the same recalibration as ``training.from_onnx``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgevision.errors import InvalidArgumentError

_PARAM_LAYERS = ("Conv2D", "DepthwiseConv2D", "Dense", "SeparableConv2D")


class _Unit:
    """What one weighted ONNX node holds of a Keras layer: the layer's kernel, or one half of a
    ``SeparableConv2D`` (``part`` ``"dw"``: its depthwise kernel; ``"pw"``: its pointwise kernel and bias)."""

    def __init__(self, layer: Any, part: str | None = None) -> None:
        self.layer, self.part = layer, part
        self.kind = {"dw": "DepthwiseConv2D", "pw": "Conv2D"}.get(part or "", type(layer).__name__)
        self.kernel = {"dw": getattr(layer, "depthwise_kernel", None),
                       "pw": getattr(layer, "pointwise_kernel", None)}.get(part or "", getattr(layer, "kernel", None))


def _units(layers: list[Any]) -> list[_Unit]:
    """The layers' units in call order (a ``SeparableConv2D``: its depthwise half, then its pointwise half)."""
    out: list[_Unit] = []
    for layer in layers:
        if type(layer).__name__ == "SeparableConv2D":
            out += [_Unit(layer, "dw"), _Unit(layer, "pw")]
        else:
            out.append(_Unit(layer))
    return out


def _param_layers(model: Any, x: np.ndarray) -> list[Any]:
    """The model's layers with weights of :data:`_PARAM_LAYERS` kinds, in the order ``model(x)`` first calls them."""
    order: list[Any] = []
    patched = []
    for layer in model.layers:
        if type(layer).__name__ in _PARAM_LAYERS:
            orig = layer.call

            def call(*a: Any, _layer: Any = layer, _orig: Any = orig, **k: Any) -> Any:
                if not any(o is _layer for o in order):
                    order.append(_layer)
                return _orig(*a, **k)

            layer.call = call
            patched.append((layer, orig))
    try:
        model(x, training=False)
    finally:
        for layer, orig in patched:
            layer.call = orig
    return order


def _keras_parents(layer: Any) -> set[Any]:
    """The weighted layers (or ``"input"``) whose outputs reach ``layer``'s inputs through weightless layers
    (activations, BatchNormalizations, adds, upsampling...), over every call of a shared layer."""
    out: set[Any] = set()
    todo = [t for node in layer._inbound_nodes for t in node.input_tensors]
    seen: set[int] = set()
    while todo:
        t = todo.pop()
        op = t._keras_history.operation
        if id(op) in seen:
            continue
        seen.add(id(op))
        if type(op).__name__ in _PARAM_LAYERS:
            out.add(op)
        elif type(op).__name__ == "InputLayer" or not op._inbound_nodes:
            out.add("input")
        else:
            todo.extend(t2 for node in op._inbound_nodes for t2 in node.input_tensors)
    return out


def _onnx_params(path: str | Path) -> list[dict[str, Any]]:
    """The ONNX graph's weighted Conv / MatMul / Gemm nodes, one entry per weight (a weight used by several
    nodes, a shared layer, is one entry): ``op``, ``weight``, ``bias`` (a MatMul's is the initializer of the
    Add after it) and ``parents``: the indices of the entries (or ``"input"``) whose outputs reach its inputs
    through weightless nodes."""
    import onnx
    from onnx import numpy_helper

    from exporters.finalize import consumers

    g = onnx.load(str(path)).graph
    init = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    users = consumers(g)

    def weight(n: Any) -> str | None:
        if n.op_type not in ("Conv", "MatMul", "Gemm"):
            return None
        return next((i for i in n.input[1:2] if i in init), None)

    entries: dict[str, dict[str, Any]] = {}
    for n in g.node:
        w = weight(n)
        if w is None:
            continue
        e = entries.get(w)
        if e is None:
            b = None
            if n.op_type in ("Conv", "Gemm") and len(n.input) > 2 and n.input[2] in init:
                b = init[n.input[2]]
            elif n.op_type == "MatMul":
                add = [u for u in users.get(n.output[0], []) if u.op_type == "Add"]
                if add:
                    b = next((init[i] for i in add[0].input if i in init), None)
            wt = init[w]
            if n.op_type == "Gemm" and any(a.name == "transB" and a.i for a in n.attribute):
                wt = wt.T
            e = entries[w] = {"op": n.op_type, "weight": wt, "bias": b, "nodes": [], "parents": set()}
        e["nodes"].append(n)
    index = {w: i for i, w in enumerate(entries)}
    graph_inputs = {i.name for i in g.input}
    for e in entries.values():
        todo = [n.input[0] for n in e["nodes"]]
        seen: set[str] = set()
        while todo:
            t = todo.pop()
            if t in seen:
                continue
            seen.add(t)
            if t in graph_inputs:
                e["parents"].add("input")
                continue
            p = producer.get(t)
            if p is None:
                continue  # an initializer or constant
            w = weight(p)
            if w is not None:
                e["parents"].add(index[w])
            else:
                todo.extend(i for i in p.input if i not in init)
    return list(entries.values())


def _keras_kernel(kind: str, w: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    """An ONNX weight as the Keras kernel of a ``kind`` layer of kernel ``shape``, or None if it cannot be."""
    if kind == "Conv2D" and w.ndim == 4:
        k = w.transpose(2, 3, 1, 0)                                    # OIHW -> HWIO
    elif kind == "DepthwiseConv2D" and w.ndim == 4 and w.shape[1] == 1 and len(shape) == 4:
        kh, kw, c, m = shape
        if w.shape != (c * m, 1, kh, kw):
            return None
        k = w.reshape(c, m, kh, kw).transpose(2, 3, 0, 1)              # (C m, 1, kh, kw) -> (kh, kw, C, m)
    elif kind == "Dense" and w.ndim == 2:
        k = w                                                          # MatMul (in, out), as Keras
    else:
        return None
    return k if tuple(k.shape) == tuple(shape) else None


def _match(units: list[_Unit], params: list[dict[str, Any]]) -> list[int] | None:
    """For each unit (in call order), the index of its ONNX entry: the same kernel shape and the same parents
    (mapped), found by a depth-first search (siblings of one shape, e.g. a detector's class and box heads, are
    told apart by what follows them). None when there is no such assignment."""
    last = {id(u.layer): i for i, u in enumerate(units)}            # a layer's output: its last unit's
    if any(id(p) not in last for u in units for p in _keras_parents(u.layer) if p != "input"):
        return None
    parents: list[set[Any]] = []
    for i, u in enumerate(units):
        if u.part == "pw":
            parents.append({i - 1})                                    # fed by its own depthwise half
        else:
            parents.append({"input" if p == "input" else last[id(p)] for p in _keras_parents(u.layer)})
    assign: list[int] = []
    used: set[int] = set()

    def fits(i: int, j: int) -> bool:
        if j in used or _keras_kernel(units[i].kind, params[j]["weight"], tuple(units[i].kernel.shape)) is None:
            return False
        want = {("input" if p == "input" else assign[p]) for p in parents[i]}
        return want == params[j]["parents"]

    def dfs(i: int) -> bool:
        if i == len(units):
            return True
        for j in range(len(params)):
            if fits(i, j):
                assign.append(j)
                used.add(j)
                if dfs(i + 1):
                    return True
                assign.pop()
                used.discard(j)
        return False

    return assign if dfs(0) else None


def _following_bn(model: Any, layer: Any) -> Any:
    """The BatchNormalization whose input is ``layer``'s output, or None."""
    for other in model.layers:
        if type(other).__name__ == "BatchNormalization":
            hist = getattr(other.input, "_keras_history", None)
            if hist is not None and hist.operation is layer:
                return other
    return None


def load_keras_from_onnx(model: Any, path: str | Path, inputs: np.ndarray, *, atol: float = 1e-3,
                         recalibrate: bool = True) -> dict[str, Any]:
    """Set ``model``'s weights from the ONNX export ``path`` of the same architecture (see the module docs).

    Args:
        model: a built Keras model (the zoo builder's, with the card's arguments).
        path: its ONNX export (``exporters.export_keras``: BatchNorms folded, NHWC input).
        inputs: float32 model inputs (N, H, W, C), as the ONNX model takes them: for the check and the
            BatchNormalization statistics (a few dozen representative samples).
        atol: the largest difference allowed between Keras (inference) and ONNX Runtime
            (:func:`check_keras_against_onnx`).
        recalibrate: measure the folded BatchNormalizations' statistics on ``inputs`` (for training).

    Returns ``{"layers": mapped layers, "batchnorms": recovered BatchNormalizations, "max_abs": the check's
    largest difference}``. Raises :class:`InvalidArgumentError` when the graph and the model do not match
    (count or shapes) or the check fails.
    """
    x = np.ascontiguousarray(inputs, np.float32)
    if x.ndim != 4 or not len(x):
        raise InvalidArgumentError(f"inputs: expected a non-empty float (N, H, W, C) batch, got shape {x.shape}")
    layers = _param_layers(model, x[:1])
    units = _units(layers)
    params = _onnx_params(path)
    # A MatMul by a constant that is no layer's weight (a soft-argmax's grid of cell centres) stays unmatched.
    match = _match(units, params) if len(units) <= len(params) else None
    if match is not None and any(params[j]["op"] != "MatMul" for j in set(range(len(params))) - set(match)):
        match = None
    if match is None:
        raise InvalidArgumentError(f"path: {path} has {len(params)} weighted Conv/MatMul/Gemm nodes, the model "
                                   f"{model.name!r} {len(units)} Conv2D/DepthwiseConv2D/Dense kernels (a "
                                   "SeparableConv2D has two), and no assignment of the same shapes and connections: "
                                   "not the same architecture")
    bns: list[tuple[Any, np.ndarray]] = []
    for unit, j in zip(units, match):
        layer, kind = unit.layer, unit.kind
        k = _keras_kernel(kind, params[j]["weight"], tuple(unit.kernel.shape))
        unit.kernel.assign(k.astype(np.float32))
        b = params[j]["bias"]
        if unit.part == "dw":  # a separable convolution's bias comes after its pointwise half
            if b is not None and np.abs(b).max(initial=0.0) > 1e-6:
                raise InvalidArgumentError(f"path: {path}: the depthwise half of {layer.name!r} has a non-zero "
                                           "bias in the ONNX graph, which a SeparableConv2D cannot hold")
            continue
        bias = np.zeros(int(np.prod(k.shape[2:])) if kind == "DepthwiseConv2D" else k.shape[-1], np.float32) \
            if b is None else b.astype(np.float32).reshape(-1)
        bn = _following_bn(model, layer) if kind != "Dense" else None
        if getattr(layer, "use_bias", False) and layer.bias is not None:
            layer.bias.assign(bias.reshape(tuple(layer.bias.shape)))
        elif bn is not None:
            bns.append((bn, bias))
        elif np.abs(bias).max(initial=0.0) > 1e-6:
            raise InvalidArgumentError(f"path: {path}: layer {layer.name!r} has no bias nor BatchNormalization "
                                       "after it, but its ONNX node has a non-zero bias")
    for bn, shift in bns:  # the identity plus the folded shift
        eps = float(bn.epsilon)
        bn.gamma.assign(np.ones_like(shift))
        bn.beta.assign(shift)
        bn.moving_mean.assign(np.zeros_like(shift))
        bn.moving_variance.assign(np.full_like(shift, 1.0 - eps))
    max_abs = check_keras_against_onnx(model, path, x[: min(len(x), 8)], atol)
    if recalibrate and bns:
        recalibrate_keras_batchnorm(model, [bn for bn, _ in bns], x)
        max_abs = max(max_abs, check_keras_against_onnx(model, path, x[: min(len(x), 8)], atol))
    return {"layers": len(layers), "batchnorms": len(bns), "max_abs": max_abs}


def check_keras_against_onnx(model: Any, path: str | Path, x: np.ndarray, atol: float) -> float:
    """The largest difference between ``model(x)`` (inference) and ONNX Runtime on ``path`` over every output,
    absolute, or relative to the output's largest magnitude where that is above 1 (a detector's boxes are in
    pixels); raises :class:`InvalidArgumentError` above ``atol``."""
    from edgevision.backends import load_runner

    runner = load_runner(str(path), backend="onnxruntime", device="cpu")
    want = runner.infer({runner.inputs[0].name: x}, check=False)
    got = model(x, training=False)
    got = got if isinstance(got, (list, tuple)) else [got]
    if len(got) != len(want):
        raise InvalidArgumentError(f"path: {path} has {len(want)} outputs, the model {len(got)}")
    diff = max(float(np.max(np.abs(np.asarray(_np(g)) - w)) / max(1.0, float(np.max(np.abs(w)))))
               for g, w in zip(got, want))
    if not diff <= atol:
        raise InvalidArgumentError(f"path: the recovered Keras model differs from {path} by {diff:.3g} "
                                   f"(allowed {atol}): the mapping does not fit this architecture")
    return diff


def recalibrate_keras_batchnorm(model: Any, bns: list[Any], x: np.ndarray, batch: int = 64) -> None:
    """For each BatchNormalization in ``bns`` (the identity plus a shift ``beta``, as recovered): measure the
    mean and variance of its input per channel over ``x`` and set ``moving_mean``/``moving_variance`` to them,
    ``gamma`` to ``sqrt(var + eps)`` and ``beta`` to ``mean + shift``: the same function in inference, and
    nearly the same in training mode (batch statistics close to these)."""
    import keras

    probe = keras.Model(model.input, [bn.input for bn in bns])
    sums: list[Any] = [0.0] * len(bns)
    sq: list[Any] = [0.0] * len(bns)
    rows = [0] * len(bns)  # values per channel seen, per layer (each has its own spatial size)
    for s in range(0, len(x), batch):
        outs = probe(x[s:s + batch], training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        for i, o in enumerate(outs):
            a = np.asarray(_np(o), np.float64)
            a = a.reshape(-1, a.shape[-1])
            sums[i] = sums[i] + a.sum(0)
            sq[i] = sq[i] + (a * a).sum(0)
            rows[i] += a.shape[0]
    for bn, s1, s2, n in zip(bns, sums, sq, rows):
        mean = s1 / n
        var = np.maximum(s2 / n - mean * mean, 0.0)
        shift = np.asarray(_np(bn.beta), np.float64)
        eps = float(bn.epsilon)
        bn.moving_mean.assign(mean.astype(np.float32))
        bn.moving_variance.assign(var.astype(np.float32))
        bn.gamma.assign(np.sqrt(var + eps).astype(np.float32))
        bn.beta.assign((mean + shift).astype(np.float32))


def _np(t: Any) -> np.ndarray:
    """A backend tensor (or Keras variable) as a numpy array (torch's own detach: keras' convert_to_numpy trips
    NumPy 2's ``__array__(copy=)`` deprecation on the torch backend)."""
    v = getattr(t, "value", t)
    return v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v)
