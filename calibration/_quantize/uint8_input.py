"""uint8 input for a static int8 model whose first step quantizes every pixel value to itself.

A QDQ model calibrated on ``pixel / 255`` inputs starts with ``QuantizeLinear(images, s, z)``; when
``s`` is (close to) 1/255 and ``z`` is 0, that step maps the kernel's float value of every pixel value
``v`` (0..255) back to ``v``. Then the float input is a detour: the kernel writes 4-byte floats that the
model's first node turns back into the bytes they came from. :func:`uint8_input` removes that node, so the
model takes the uint8 pixels themselves (the kernel writes them with ``scale`` 1 and the model's
``pad_value``), and checks first, with ONNX Runtime's own ``QuantizeLinear``, that every pixel value and
the pad value of every channel quantize to themselves: the new model's outputs are then those of the old
one, bit for bit, for every image. It refuses a model where that does not hold (mean/std normalization,
a calibrated input scale off 1/255 by enough to move a value, a zero point other than 0).
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
    # Every pixel value in every channel, and the pad value: a 2 x 256 image letterboxed into 4 x 256
    # (stretch would hide the pad), each channel holding 0..255 in a different order.
    ramp = np.arange(256, dtype=np.uint8)
    img = np.stack([np.roll(ramp, 85 * c) for c in range(channels)], axis=-1)[None].repeat(2, 0)
    img = img[..., 0] if channels == 1 else img
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
    # The end-to-end check: both models, through the Predictor, on the ramp and on random pictures.
    after = edgevision.Predictor(dst, warmup=False)
    rng = np.random.default_rng(0)
    pictures = [img] + [rng.integers(0, 256, (int(h), int(w), channels), np.uint8).squeeze()
                        for h, w in rng.integers(20, 700, (3, 2))]
    for pic in pictures:
        outs = [p.runner.infer({p.runner.inputs[0].name: p.preprocess([pic])[0]}) for p in (before, after)]
        if not all(np.array_equal(x, y) for x, y in zip(*outs)):
            os.unlink(dst)
            raise QuantizationError("uint8_input: the uint8-input model's outputs differ from the model's",
                                    step="uint8_input")
    return dst
