"""Attach a nearest-exemplar vote to an exported classifier: labelled examples, no training.

    from exporters.exemplars import add_exemplar_vote
    add_exemplar_vote("meter_digit_cls.onnx", "meter_digit_cls_ex.onnx", crops, targets)

The result is one ordinary ONNX graph with the classifier's input, output name and metadata.
It computes the classifier as before and, beside it, the cosine similarity of the crop's
pre-logit features (every member's, for an :mod:`exporters.ensemble` file: each L2-normalized,
concatenated, normalized again) to a bank of the same features of the exemplars, computed
once here by the model itself. Its output is

* ``(1 - weight) * probs + weight * vote`` when the nearest exemplar's similarity is at least
  the gate, where ``vote`` is the mean of the ``k`` nearest exemplars' target rows weighted by
  ``softmax(similarity / temperature)``;
* the classifier's own ``probs`` otherwise: an input unlike every exemplar (another font,
  another kind of digit) keeps the classifier's answer.

The gate is a similarity the exemplars themselves reach: the ``gate_quantile`` quantile of each
exemplar's similarity to its nearest *other* exemplar (leave-one-out), so it adapts to the
model's feature space rather than being a number tied to one model.

Why: a deployment often reads one kind of meter (plate, display) again and again; a few dozen
labelled crops of it teach the reader its font without training. The bank is stored in
float16 (cast to float32 once, when ONNX Runtime folds constants). A quantized (int8) model
gets a bank of its own int8 features: call this after quantizing, not before.

Host side (numpy, onnx); the runtime sees one ordinary graph and needs nothing new.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ExportError

__all__ = ["add_exemplar_vote", "prelogit_features", "exemplar_features", "vote_reference", "read_exemplar_folder"]

#: Key of the metadata section the vote adds (``ModelConfig.extra``).
METADATA_KEY = "exemplars"


def prelogit_features(model: Any) -> list[str]:
    """The pre-logit feature tensors of a softmax classifier graph: for the graph's output, the
    ``Softmax`` (or ``Mean`` of softmaxes: an ensemble) that makes it, then for each softmax the
    data input of the ``MatMul``/``Gemm`` before it (through an ``Add`` of the bias, or a
    ``DequantizeLinear`` of a quantized graph). One name per member, in member order.

    Raises:
        ExportError: the graph's first output is not made that way.
    """
    g = model.graph
    prod = {o: n for n in g.node for o in n.output}
    out = g.output[0].name
    top = prod.get(out)
    softmaxes = [top] if top is not None and top.op_type == "Softmax" else (
        [prod.get(x) for x in top.input] if top is not None and top.op_type == "Mean" else [])
    names = []
    for sm in softmaxes:
        node = prod.get(sm.input[0]) if sm is not None and sm.op_type == "Softmax" else None
        while node is not None and node.op_type in ("Add", "DequantizeLinear", "QuantizeLinear"):
            node = prod.get(node.input[0])
        if node is None or node.op_type not in ("MatMul", "Gemm"):
            raise ExportError(f"model: output {out!r} is not a softmax over a MatMul/Gemm (or a Mean of such): "
                              "no pre-logit features to compare exemplars by")
        names.append(node.input[0])
    if not names:
        raise ExportError(f"model: output {out!r} is made by {top.op_type if top is not None else 'nothing'}, "
                          "not Softmax or a Mean of softmaxes")
    return names


def _normalize(a: np.ndarray) -> np.ndarray:
    return a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)


def _outputs(model: str | os.PathLike, images: Sequence[np.ndarray], batch: int = 64) -> list[np.ndarray]:
    """Every output of ``model`` on ``images`` (uint8 BGR, any size) through its deploy preprocessing,
    float32, ``batch`` images a call (a model with a static batch axis: that many)."""
    import edgevision

    p = edgevision.Predictor(os.fspath(model), threads=1)
    batch = p.batch_size or batch
    parts = []
    for i in range(0, len(images), batch):
        blob, _ = p.preprocess(list(images[i:i + batch]))
        parts.append([np.asarray(o, np.float32).reshape(len(blob), -1) for o in p.infer(blob)])
    return [np.concatenate(col) for col in zip(*parts)]


def exemplar_features(model: str | os.PathLike, images: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(probs, features)`` of ``images`` (uint8 BGR, any size: the model's deploy preprocessing)
    through ``model``: its first output and the joint normalized pre-logit features (N, D) float32
    (:func:`prelogit_features`, each normalized, concatenated, normalized)."""
    import tempfile

    import onnx

    m = onnx.load(os.fspath(model))
    for n in prelogit_features(m):
        m.graph.output.append(onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "features.onnx"
        onnx.save(m, str(path))
        probs, *feats = _outputs(path, images)
    return probs, _normalize(np.concatenate([_normalize(f) for f in feats], axis=1)).astype(np.float32)


def vote_reference(probs: np.ndarray, feats: np.ndarray, bank: np.ndarray, targets: np.ndarray, *, k: int,
                   temperature: float, weight: float, gate: float) -> np.ndarray:
    """The vote in numpy (the scalar reference the graph is checked against): ``probs`` (B, C) and
    normalized ``feats`` (B, D) against ``bank`` (N, D) and ``targets`` (N, C)."""
    sims = feats.astype(np.float64) @ bank.astype(np.float64).T
    idx = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    top = np.take_along_axis(sims, idx, 1)
    w = np.exp((top - top[:, :1]) / temperature)
    w /= w.sum(1, keepdims=True)
    vote = (w[..., None] * targets[idx]).sum(1)
    blend = (1 - weight) * probs + weight * vote
    return np.where(top[:, :1] >= gate, blend, probs)


def _targets(targets: Any, n: int, classes: int) -> np.ndarray:
    from edgevision.errors import InvalidArgumentError

    t = np.asarray(targets)
    if t.ndim == 1 and t.shape[0] == n and np.issubdtype(t.dtype, np.integer):
        if t.min(initial=0) < 0 or t.max(initial=0) >= classes:
            raise InvalidArgumentError(f"targets: class indices must be in [0, {classes}), got {t.min()}..{t.max()}")
        return np.eye(classes, dtype=np.float32)[t]
    if t.shape != (n, classes) or not np.issubdtype(t.dtype, np.number):
        raise InvalidArgumentError(f"targets: expected {n} class indices or a ({n}, {classes}) array of "
                                   f"probabilities, got shape {t.shape} dtype {t.dtype}")
    t = t.astype(np.float32)
    if (t < 0).any() or not np.allclose(t.sum(1), 1.0, atol=1e-4):
        raise InvalidArgumentError("targets: each row must be probabilities (>= 0, summing to 1)")
    return t


#: Image file suffixes :func:`read_exemplar_folder` reads.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def read_exemplar_folder(folder: str | os.PathLike, labels: Sequence[str]) -> tuple[list[np.ndarray], np.ndarray]:
    """Labelled crops from ``folder/<label>/*.jpg|png|bmp`` (one sub-folder per class; a folder's name
    must be one of the model's ``labels``): the images (uint8 BGR) and their class indices, in sorted
    order. Files that do not decode are an error, not a silent skip.

    Raises:
        InvalidArgumentError: no such folder, a sub-folder that names no label, an unreadable image,
            or no image at all.
    """
    import cv2

    from edgevision.errors import InvalidArgumentError

    root = Path(os.fspath(folder))
    if not root.is_dir():
        raise InvalidArgumentError(f"folder: {root}: no such directory")
    images, idx = [], []
    for sub in sorted(d for d in root.iterdir() if d.is_dir()):
        if sub.name not in labels:
            raise InvalidArgumentError(f"folder: {sub.name!r} names no class of the model (labels {list(labels)})")
        for f in sorted(f for f in sub.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES):
            img = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if img is None:
                raise InvalidArgumentError(f"folder: {f}: not a readable image")
            images.append(img)
            idx.append(list(labels).index(sub.name))
    if not images:
        raise InvalidArgumentError(f"folder: {root}: no images in sub-folders named by class "
                                   f"(expected {root}/<label>/*.jpg)")
    return images, np.array(idx, np.int64)


def add_exemplar_vote(model: str | os.PathLike, out: str | os.PathLike, images: Sequence[np.ndarray], targets: Any,
                      *, k: int = 5, temperature: float = 0.02, weight: float = 0.5, gate_quantile: float = 0.02,
                      source: str | None = None) -> dict[str, Any]:
    """Write ``out``: ``model`` (a self-describing softmax classifier) with a nearest-exemplar vote
    over ``images`` (uint8 BGR crops) labelled by ``targets`` (N class indices, or an (N, C) array of
    probabilities, e.g. a drum at 3.7 as 0.3 of ``3`` and 0.7 of ``4``). See the module docs.

    Args:
        k: neighbours that vote (1 <= k <= N).
        temperature: of the softmax over the neighbours' cosine similarities (> 0).
        weight: of the vote in the blend, in (0, 1].
        gate_quantile: in [0, 1): the gate is this quantile of the exemplars' leave-one-out nearest
            similarities.
        source: a note on where the exemplars come from, kept in the metadata.

    Returns the metadata section written (``exemplars``: count, k, temperature, weight, gate and
    its quantile, feature tensors, dimension, source). The result is checked against
    :func:`vote_reference` under ONNX Runtime on the exemplars themselves.

    Raises:
        InvalidArgumentError: a bad argument (named).
        ExportError: the model is not a softmax classifier, already has a vote, or the graph
            does not compute the reference.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from edgevision.checks import check_int, check_number
    from edgevision.config import ModelConfig
    from edgevision.errors import InvalidArgumentError

    path = Path(os.fspath(model))
    if not path.is_file():
        raise InvalidArgumentError(f"model: {path}: no such file")
    cfg = ModelConfig.read(str(path))
    if cfg is None or cfg.task != "classification":
        raise ExportError(f"model: {path}: expected a self-describing classification model, "
                          f"got task {None if cfg is None else cfg.task!r}")
    if METADATA_KEY in cfg.extra:
        raise ExportError(f"model: {path} already has an exemplar vote ({cfg.extra[METADATA_KEY].get('count')} "
                          "exemplars); add to the model it was made from")
    n = len(images)
    if n < 2:
        raise InvalidArgumentError(f"images: expected at least 2 exemplar crops, got {n}")
    check_int(k, "k", minimum=1, maximum=n, expected=f"an int in [1, {n}] (the number of exemplars)",
              error=InvalidArgumentError)
    check_number(temperature, "temperature", positive=True, error=InvalidArgumentError)
    check_number(weight, "weight", positive=True, maximum=1, error=InvalidArgumentError)
    if check_number(gate_quantile, "gate_quantile", minimum=0, maximum=1, expected="a number in [0, 1)",
                    error=InvalidArgumentError) == 1:
        raise InvalidArgumentError(f"gate_quantile: expected a number in [0, 1), got {gate_quantile!r}")
    probs, bank = exemplar_features(path, images)
    classes = probs.shape[1]
    if cfg.labels and len(cfg.labels) != classes:
        raise ExportError(f"model: {path} gives {classes} probabilities, its labels name {len(cfg.labels)}")
    tgt = _targets(targets, n, classes)
    loo = bank.astype(np.float64) @ bank.astype(np.float64).T
    np.fill_diagonal(loo, -np.inf)
    gate = float(np.quantile(loo.max(1), gate_quantile))

    m = onnx.load(str(path))
    g = m.graph
    feats = prelogit_features(m)
    final = g.output[0].name
    inner = final + "/classifier"
    for node in g.node:  # the classifier's own output gets a new name; the vote writes the old one
        node.output[:] = [inner if o == final else o for o in node.output]
    ex = "exemplars/"
    bank16 = bank.astype(np.float16)
    nodes = []
    inits = [numpy_helper.from_array(bank16.T.copy(), ex + "bank_t_f16"),
             numpy_helper.from_array(tgt, ex + "targets"),
             numpy_helper.from_array(np.array([1], np.int64), ex + "axis1"),
             numpy_helper.from_array(np.array([-1], np.int64), ex + "axis_last"),
             numpy_helper.from_array(np.array([k], np.int64), ex + "k"),
             numpy_helper.from_array(np.array(1e-12, np.float32), ex + "eps"),
             numpy_helper.from_array(np.array(1.0 / temperature, np.float32), ex + "inv_t"),
             numpy_helper.from_array(np.array(weight, np.float32), ex + "w"),
             numpy_helper.from_array(np.array(1.0 - weight, np.float32), ex + "one_minus_w"),
             numpy_helper.from_array(np.array(gate, np.float32), ex + "gate"),
             numpy_helper.from_array(np.array([0], np.int64), ex + "zero"),
             numpy_helper.from_array(np.array([1], np.int64), ex + "one")]

    def normalized(x: str, tag: str) -> str:
        nodes.append(helper.make_node("ReduceL2", [x, ex + "axis1"], [ex + tag + "/l2"], keepdims=1))
        nodes.append(helper.make_node("Max", [ex + tag + "/l2", ex + "eps"], [ex + tag + "/l2c"]))
        nodes.append(helper.make_node("Div", [x, ex + tag + "/l2c"], [ex + tag + "/n"]))
        return ex + tag + "/n"

    parts = []
    for i, f in enumerate(feats):
        nodes.append(helper.make_node("Flatten", [f], [ex + f"f{i}"], axis=1))
        parts.append(normalized(ex + f"f{i}", f"f{i}"))
    joint = parts[0]
    if len(parts) > 1:
        nodes.append(helper.make_node("Concat", parts, [ex + "joint"], axis=1))
        joint = ex + "joint"
    q = normalized(joint, "q")
    nodes += [
        helper.make_node("Cast", [ex + "bank_t_f16"], [ex + "bank_t"], to=TensorProto.FLOAT),
        helper.make_node("MatMul", [q, ex + "bank_t"], [ex + "sims"]),
        helper.make_node("TopK", [ex + "sims", ex + "k"], [ex + "top", ex + "idx"], axis=1, largest=1, sorted=1),
        helper.make_node("Slice", [ex + "top", ex + "zero", ex + "one", ex + "axis1"], [ex + "nearest"]),
        helper.make_node("Sub", [ex + "top", ex + "nearest"], [ex + "rel"]),
        helper.make_node("Mul", [ex + "rel", ex + "inv_t"], [ex + "logits"]),
        helper.make_node("Softmax", [ex + "logits"], [ex + "wts"], axis=1),
        helper.make_node("Gather", [ex + "targets", ex + "idx"], [ex + "rows"], axis=0),
        helper.make_node("Unsqueeze", [ex + "wts", ex + "axis_last"], [ex + "wts3"]),
        helper.make_node("Mul", [ex + "rows", ex + "wts3"], [ex + "weighted"]),
        helper.make_node("ReduceSum", [ex + "weighted", ex + "axis1"], [ex + "vote"], keepdims=0),
        helper.make_node("Mul", [ex + "vote", ex + "w"], [ex + "vote_w"]),
        helper.make_node("Mul", [inner, ex + "one_minus_w"], [ex + "probs_w"]),
        helper.make_node("Add", [ex + "vote_w", ex + "probs_w"], [ex + "blend"]),
        helper.make_node("GreaterOrEqual", [ex + "nearest", ex + "gate"], [ex + "known"]),
        helper.make_node("Where", [ex + "known", ex + "blend", inner], [final]),
    ]
    for node in nodes:
        node.name = node.output[0]
    g.node.extend(nodes)
    g.initializer.extend(inits)
    try:
        m = onnx.shape_inference.infer_shapes(m, check_type=True)
        onnx.checker.check_model(m)
    except Exception as e:  # onnx raises several unrelated classes here
        raise ExportError(f"{out}: the graph with the exemplar vote fails the ONNX checker: {e}") from e
    out = Path(os.fspath(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    onnx.save(m, str(tmp))
    section = {"count": n, "k": k, "temperature": float(temperature), "weight": float(weight),
               "gate": round(gate, 6), "gate_quantile": float(gate_quantile), "features": feats,
               "dim": int(bank.shape[1]), "bank_dtype": "float16",
               "rule": "cosine similarity of the normalized pre-logit features; blend when the nearest "
                       "exemplar is at least the gate"}
    if source:
        section["source"] = source
    d = cfg.to_dict()
    d[METADATA_KEY] = section
    ModelConfig.from_dict(d, source=str(tmp)).write(tmp)
    got = _outputs(tmp, images[:64])[0]
    want = vote_reference(probs[:64], bank[:64], bank16.astype(np.float32), tgt, k=k, temperature=temperature,
                          weight=weight, gate=gate)
    err = float(np.max(np.abs(got - want)))
    if err > 2e-3:
        tmp.unlink()
        raise ExportError(f"{out}: the exemplar vote differs from its numpy reference by {err:.3g}")
    os.replace(tmp, out)
    return section
