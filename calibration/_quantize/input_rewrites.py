"""Rewrites of a static int8 model's input that keep its outputs bit for bit (each checked end to end).

* :func:`uint8_input`: uint8 pixels instead of floats, for a model whose first step quantizes every
  pixel value to itself.
* :func:`channels_last_input`: channels-last (NHWC) pixels padded with a zero channel, for a model whose
  input feeds only quantized convolutions.

**uint8_input.** A QDQ model calibrated on ``pixel / 255`` inputs starts with ``QuantizeLinear(images, s, z)``; when
``s`` is (close to) 1/255 and ``z`` is 0, that step maps the kernel's float value of every pixel value
``v`` (0..255) back to ``v``. Then the float input is a detour: the kernel writes 4-byte floats that the
model's first node turns back into the bytes they came from. :func:`uint8_input` removes that node, so the
model takes the uint8 pixels themselves (the kernel writes them with ``scale`` 1 and the model's
``pad_value``), and checks first, with ONNX Runtime's own ``QuantizeLinear``, that every pixel value and
the pad value of every channel quantize to themselves: the new model's outputs are then those of the old
one, bit for bit, for every image. It refuses a model where that does not hold (mean/std normalization,
a calibrated input scale off 1/255 by enough to move a value, a zero point other than 0).

**channels_last_input.** ONNX Runtime's x86 int8 convolutions work channels-last, and take the input
channels of each kernel tap in groups of 4 bytes (the VNNI / AVX2 dot products). A model with an NCHW
3-channel input pays twice in its first convolution: a transpose of the whole input to NHWC, and 3-byte
taps padded on the fly (measured on the bundled plate detector, AMD EPYC, 1 thread: its stem convolution
took 0.84 ms of the model's 5.3, and 0.41 ms with a 4th input channel). :func:`channels_last_input` makes the
model take NHWC pixels with a 4th channel of zeros (``preprocess.zero_channels``: the kernel writes it in
the same pass), gives every first convolution a 4th input channel of zero weights, and starts the graph with
a ``Transpose`` back to NCHW, which ONNX Runtime's layout optimizer cancels against the NHWC transpose it
would have inserted. In integer arithmetic the extra products are exactly 0 (a zero weight, whatever the
pixel), so every accumulator and every output is unchanged: the function checks it on random pictures.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgevision.errors import InvalidArgumentError

from ..errors import QuantizationError
from .common import _atomic_save, _check_loads, _load, _model_path, _out_path
from .graph import _consumers, _producers


def _metadata(model: Any) -> tuple[Any, dict[str, Any]]:
    from edgevision.config import METADATA_KEY

    for e in model.metadata_props:
        if e.key == METADATA_KEY:
            try:
                doc = json.loads(e.value)
            except ValueError as err:
                raise InvalidArgumentError(f"model: its {METADATA_KEY!r} metadata is not valid JSON ({err})") from None
            if isinstance(doc, dict):
                return e, doc
    raise InvalidArgumentError("model: it has no edgevision metadata (the preprocessing the check needs)")


def _ramp(channels: int) -> np.ndarray:
    """Every pixel value in every channel: a 2 x 256 uint8 image, each channel holding 0..255 in a different
    order (letterboxed into 4 x 256 it shows the pad value too; stretch would hide it)."""
    ramp = np.arange(256, dtype=np.uint8)
    img = np.stack([np.roll(ramp, 85 * c) for c in range(channels)], axis=-1)[None].repeat(2, 0)
    return img[..., 0] if channels == 1 else img


def _quantize_like(q_node: Any, inits: dict[str, np.ndarray], x: np.ndarray, work: Path) -> np.ndarray:
    """``x`` through a copy of ``q_node`` (its scale and zero point), run by ONNX Runtime (a model written
    into ``work``, opened through edgevision's runner)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from edgevision.backends import load_runner

    node = helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"],
                            **{a.name: helper.get_attribute_value(a) for a in q_node.attribute})
    graph = helper.make_graph([node], "q", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
                              [helper.make_tensor_value_info("y", TensorProto.UINT8, list(x.shape))],
                              [numpy_helper.from_array(inits[q_node.input[1]], "s"),
                               numpy_helper.from_array(inits[q_node.input[2]], "z")])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    m.ir_version = min(m.ir_version, onnx.IR_VERSION)
    path = work / "input_quantize.onnx"
    onnx.save(m, str(path))
    return load_runner(path, backend="onnxruntime", device="cpu").infer({"x": x})[0]


def uint8_input(model: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Write ``model`` (a QDQ int8 model with edgevision metadata) taking uint8 pixels instead of floats.

    Args:
        model: the int8 model; its one input must be float32 and feed only ``QuantizeLinear`` nodes with
            a constant per-tensor scale and a uint8 zero point (what :func:`quantize` writes).
        out: where to write it (default: ``<model>_u8in.onnx`` beside it).

    Returns:
        The path written. Its metadata says ``input.dtype`` ``uint8`` and ``preprocess.scale`` 1 (mean
        and std dropped), and its ``quantization`` section ``"uint8_input": true``.

    Raises:
        InvalidArgumentError: the model is not of that shape, or some pixel value (or the pad value)
            of some channel would not quantize to itself (the module docs): nothing is written.
    """
    import onnx
    from onnx import TensorProto, numpy_helper

    import edgevision

    src = _model_path(model)
    dst = _out_path(src, out, "_u8in")
    m = _load(src)
    g = m.graph
    if len(g.input) != 1 or g.input[0].type.tensor_type.elem_type != TensorProto.FLOAT:
        raise InvalidArgumentError(f"model: {src} must have one float32 input, got "
                                   f"{[(i.name, i.type.tensor_type.elem_type) for i in g.input]}")
    name = g.input[0].name
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    readers = [n for n in g.node if name in n.input]
    if not readers or any(n.op_type != "QuantizeLinear" or n.input[0] != name or len(n.input) < 3
                          or n.input[1] not in inits or n.input[2] not in inits
                          or inits[n.input[1]].size != 1 or inits[n.input[2]].dtype != np.uint8 for n in readers) \
            or any(o.name == name for o in g.output):
        raise InvalidArgumentError(f"model: its input {name!r} must feed only QuantizeLinear nodes with a constant "
                                   "per-tensor scale and a uint8 zero point (a static QDQ int8 model)")
    if {q.output[0] for q in readers} & {o.name for o in g.output}:
        raise InvalidArgumentError("model: a QuantizeLinear of the input is a graph output")
    entry, doc = _metadata(m)
    before = edgevision.Predictor(src, warmup=False)
    _, kw = before.config.preprocess_kwargs()
    if kw.get("dtype", "float32") != "float32" or kw.get("layout", "NCHW") not in ("NCHW", "NHWC"):
        raise InvalidArgumentError(f"model: its preprocessing writes {kw.get('dtype')} {kw.get('layout')}; "
                                   "expected float32")
    channels = kw.get("channels") or 3
    img = _ramp(channels)
    floats, _ = edgevision.letterbox(img, (4, 256), **{**kw, "mode": "letterbox"})
    u8_opts = {k: v for k, v in kw.items() if k not in ("mean", "std")}
    bytes_, _ = edgevision.letterbox(img, (4, 256), **{**u8_opts, "mode": "letterbox", "dtype": "uint8", "scale": 1.0})
    for q in readers:
        with tempfile.TemporaryDirectory(prefix="edgevision-u8in-") as work:
            got = _quantize_like(q, inits, np.ascontiguousarray(floats, np.float32), Path(work))
        if not np.array_equal(got, bytes_):
            bad = int(np.count_nonzero(got != bytes_))
            raise InvalidArgumentError(
                f"model: its input quantization ({q.name}: scale {float(inits[q.input[1]]):.9g}, zero point "
                f"{int(inits[q.input[2]])}) does not give back the pixel values the preprocessing starts from "
                f"({bad} of {got.size} values of a test ramp differ): a uint8 input would change the outputs")
    for q in readers:
        for n in g.node:
            for i, x in enumerate(n.input):
                if x == q.output[0]:
                    n.input[i] = name
        g.node.remove(q)
    g.input[0].type.tensor_type.elem_type = TensorProto.UINT8
    pre = dict(doc.get("preprocess") or {})
    for k in ("mean", "std", "dtype"):
        pre.pop(k, None)
    pre["scale"] = 1.0
    doc["preprocess"] = pre
    inp = dict(doc.get("input") or {})
    inp["dtype"] = "uint8"
    doc["input"] = inp
    quant = dict(doc.get("quantization") or {})
    quant["uint8_input"] = True
    doc["quantization"] = quant
    entry.value = json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    onnx.checker.check_model(m)
    _atomic_save(m, dst)
    _check_loads(dst, "uint8_input")
    _check_same_outputs(before, dst, channels, [img], "uint8_input", "the uint8-input model")
    return dst


def _check_same_outputs(before: Any, dst: Path, channels: int, pictures: list[np.ndarray], step: str,
                        what: str) -> None:
    """The end-to-end check of a rewrite: the model before (a Predictor) and ``dst``, each through its own
    Predictor (its own preprocessing), on ``pictures`` and 3 random ones of ``channels`` channels; any
    output differing in any bit removes ``dst`` and raises :class:`QuantizationError`."""
    import edgevision

    after = edgevision.Predictor(dst, warmup=False)
    rng = np.random.default_rng(0)
    pictures = list(pictures) + [rng.integers(0, 256, (int(h), int(w), channels), np.uint8).squeeze()
                                 for h, w in rng.integers(20, 700, (3, 2))]
    for pic in pictures:
        outs = [p.runner.infer({p.runner.inputs[0].name: p.preprocess([pic])[0]}) for p in (before, after)]
        if not all(np.array_equal(x, y) for x, y in zip(*outs)):
            os.unlink(dst)
            raise QuantizationError(f"{step}: {what}'s outputs differ from the model's", step=step)


def _reads_axis(shape_attrs: dict[str, Any], axis: int, rank: int) -> bool:
    """Whether a ``Shape`` node with these attributes (``start``, ``end``; ONNX semantics, negative from the
    end, clamped) outputs the size of ``axis`` of a ``rank``-d tensor."""
    start, end = int(shape_attrs.get("start", 0)), int(shape_attrs.get("end", rank))
    start, end = (min(max(v + rank if v < 0 else v, 0), rank) for v in (start, end))
    return start <= axis < end


def channels_last_input(model: str | os.PathLike, out: str | os.PathLike | None = None, *,
                        channels: int = 4) -> Path:
    """Write ``model`` (a QDQ int8 model) taking NHWC pixels with ``channels - 3`` zero channels after
    the 3 colour channels (the module docs).

    Args:
        model: the int8 model with edgevision metadata; its one input (uint8 or float32, 3 channels)
            must be NCHW, or NHWC read only by ``Transpose`` nodes to NCHW (what Keras exports), and
            then go only through per-tensor ``QuantizeLinear`` (a float input) and ``DequantizeLinear``
            nodes into the data input of ``Conv`` nodes (``group`` 1) whose weights are a
            ``DequantizeLinear`` of a constant (and into ``Shape`` nodes that do not read the channel
            count, e.g. the batch size).
        out: where to write it (default: ``<model>_nhwc.onnx`` beside it).
        channels: input channels after padding, 3 (NHWC only) or 4 (default; the 4th is zero).

    Returns:
        The path written. Its metadata says ``input.layout`` ``NHWC`` and ``preprocess.zero_channels``
        ``channels - 3``, and its ``quantization`` section ``"channels_last_input": true``.

    Raises:
        InvalidArgumentError: the model is not of that shape, or asks for nothing (an NHWC 3-channel
            input and ``channels=3``): nothing is written.
        QuantizationError: the rewritten model's outputs differ from the model's on some picture
            (nothing is left written).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    import edgevision
    from edgevision.checks import check_int

    pad = check_int(channels, "channels", minimum=3, maximum=4, expected="3 or 4", error=InvalidArgumentError) - 3
    src = _model_path(model)
    dst = _out_path(src, out, "_nhwc")
    m = _load(src)
    g = m.graph
    tt = g.input[0].type.tensor_type if len(g.input) == 1 else None
    if tt is None or tt.elem_type not in (TensorProto.UINT8, TensorProto.FLOAT) or len(tt.shape.dim) != 4:
        raise InvalidArgumentError(f"model: {src} must have one 4-d uint8 or float32 input, got "
                                   f"{[(i.name, i.type.tensor_type.elem_type) for i in g.input]}")
    name, u8 = g.input[0].name, tt.elem_type == TensorProto.UINT8
    entry, doc = _metadata(m)
    before = edgevision.Predictor(src, warmup=False)
    cfg = before.config
    if cfg.input_channels != 3 or (cfg.preprocess.get("channels") or 3) != 3:
        raise InvalidArgumentError(f"model: its input has {cfg.input_channels} channels; expected 3 (colour)")
    nhwc = cfg.layout == "NHWC"
    if nhwc and not pad:
        raise InvalidArgumentError("channels: the input is NHWC with 3 channels already; channels=3 changes nothing")
    inits = {i.name: i for i in g.initializer}
    producers, users = _producers(g), _consumers(g)   # the graph as it is before the rewrite
    outputs = {o.name for o in g.output}

    def consumers(x: str) -> list[Any]:
        return users.get(x, [])

    def per_tensor(n: Any) -> bool:
        return len(n.input) >= 2 and n.input[1] in inits and numpy_helper.to_array(inits[n.input[1]]).size == 1 \
            and n.output[0] not in outputs

    def refuse(what: str, n: Any) -> InvalidArgumentError:
        return InvalidArgumentError(f"model: {what}; {n.name or n.op_type} ({n.op_type}) reads it")

    # The tensors the input reaches in NCHW: itself, or the outputs of the NHWC input's Transposes.
    if nhwc:
        heads = []
        for t in consumers(name):
            perm = {a.name: helper.get_attribute_value(a) for a in t.attribute}.get("perm")
            if t.op_type != "Transpose" or list(perm or []) != [0, 3, 1, 2] or t.output[0] in outputs:
                raise refuse(f"its NHWC input {name!r} must feed only Transposes to NCHW", t)
            heads.append(t.output[0])
    else:
        heads = [name]
    weights, qs, dqs_all = [], [], []
    for h in heads:
        dqs = []
        for r in consumers(h):
            if not u8 and r.op_type == "QuantizeLinear" and r.input[0] == h and per_tensor(r):
                qs.append(r)
                dqs += consumers(r.output[0])
            else:
                dqs.append(r)
        dqs_all += dqs
        for dq in dqs:
            if dq.op_type != "DequantizeLinear" or not per_tensor(dq):
                raise refuse("its input must go through per-tensor QuantizeLinear (float input) and "
                             "DequantizeLinear nodes only (a static QDQ int8 model)", dq)
            for conv in consumers(dq.output[0]):
                attrs = {a.name: helper.get_attribute_value(a) for a in conv.attribute}
                if conv.op_type == "Shape" and not _reads_axis(attrs, 1, 4):
                    continue  # the batch size or the spatial sides: the same with a 4th channel
                group = attrs.get("group", 1)
                wdq = producers.get(conv.input[1]) if conv.op_type == "Conv" and len(conv.input) > 1 else None
                if conv.op_type != "Conv" or list(conv.input).index(dq.output[0]) != 0 or group != 1 or wdq is None \
                        or wdq.op_type != "DequantizeLinear" or wdq.input[0] not in inits:
                    raise refuse("the dequantized input must feed only the data input of Conv nodes (group 1) "
                                 "with DequantizeLinear(constant) weights", conv)
                weights.append(wdq)
    if not weights:
        raise InvalidArgumentError(f"model: no convolution reads its input {name!r}")
    for wdq in {id(w): w for w in weights}.values():
        w = numpy_helper.to_array(inits[wdq.input[0]])
        if w.ndim != 4 or w.shape[1] != 3:
            raise InvalidArgumentError(f"model: the weight {wdq.input[0]!r} has shape {w.shape}; expected (out, 3, kh, kw)")
        # A zero weight is the zero point (per output channel, axis 0, or per tensor).
        zp = numpy_helper.to_array(inits[wdq.input[2]]) if len(wdq.input) > 2 and wdq.input[2] else np.zeros((), w.dtype)
        fill = np.broadcast_to(zp.reshape(-1, 1, 1, 1) if zp.size > 1 else zp, (w.shape[0], pad) + w.shape[2:])
        padded = np.concatenate([w, fill.astype(w.dtype)], axis=1)
        if len(consumers(wdq.input[0])) > 1:  # shared elsewhere: this dequantization gets a padded copy of its own
            new = wdq.output[0] + "_padded_weight"
            g.initializer.append(numpy_helper.from_array(padded, new))
            wdq.input[0] = new
        else:
            inits[wdq.input[0]].CopyFrom(numpy_helper.from_array(padded, wdq.input[0]))
    # Shapes recorded for the tensors whose channel count changes (the input's way to the convolutions,
    # the padded weights) no longer hold: drop them (ONNX Runtime infers them again).
    changed = set(heads) | {d.output[0] for d in dqs_all} | {q.output[0] for q in qs} | {w.output[0] for w in weights}
    for vi in [v for v in g.value_info if v.name in changed]:
        g.value_info.remove(vi)
    dims = tt.shape.dim
    if nhwc:
        dims[3].Clear()
        dims[3].dim_value = 3 + pad
    else:
        nchw = name + "_nchw"
        for r in consumers(name):
            r.input[list(r.input).index(name)] = nchw
        g.node.insert(0, helper.make_node("Transpose", [name], [nchw], name=name + "_to_nchw", perm=[0, 3, 1, 2]))
        keep = [onnx.TensorShapeProto.Dimension() for _ in range(3)]
        for d, k in zip(keep, (0, 2, 3)):
            d.CopyFrom(dims[k])
        while len(dims):
            dims.pop()
        dims.extend(keep)
        dims.add().dim_value = 3 + pad
    pre = dict(doc.get("preprocess") or {})
    if pad:
        pre["zero_channels"] = pad
    doc["preprocess"] = pre
    doc["input"] = {**(doc.get("input") or {}), "layout": "NHWC"}
    doc["quantization"] = {**(doc.get("quantization") or {}), "channels_last_input": True}
    entry.value = json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    onnx.checker.check_model(m)
    _atomic_save(m, dst)
    _check_loads(dst, "channels_last_input")
    _check_same_outputs(before, dst, 3, [_ramp(3)], "channels_last_input", "the channels-last model")
    return dst


def optimize_input(model: str | os.PathLike, *, uint8: bool = True, channels_last: bool = True
                   ) -> tuple[dict[str, bool], list[str]]:
    """Apply :func:`uint8_input` then :func:`channels_last_input` to ``model`` in place, each where it applies.

    A step whose preconditions the model does not meet (:class:`InvalidArgumentError`: a normalized
    input for ``uint8``, an input feeding more than quantized convolutions for ``channels_last``) is
    skipped with a note; the file is then left as the previous step wrote it. A failed end-to-end
    check (:class:`QuantizationError`) is raised: it means a bug, not a model shape.

    Returns:
        ``(applied, notes)``: ``applied`` holds ``True`` under the name of each step applied
        (``"uint8_input"``, ``"channels_last_input"``: the keys of the model's ``quantization`` metadata
        section that say so) and nothing for the others; ``notes`` say why a step asked for was not applied.
    """
    path = _model_path(model)
    tmp = path.with_name(path.stem + ".input.tmp.onnx")
    applied, notes = {}, []
    for key, wanted, step, kept in (("uint8_input", uint8, uint8_input, "the float input"),
                                    ("channels_last_input", channels_last, channels_last_input, "the input layout")):
        if not wanted:
            continue
        try:
            step(path, tmp)
        except InvalidArgumentError as e:
            notes.append(f"{key}: kept {kept} ({e})")
        else:
            os.replace(tmp, path)
            applied[key] = True
    return applied, notes
