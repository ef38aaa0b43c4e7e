"""One registry of tiny ONNX models for the tests (Polygraphy's tests/models idea).

Every model takes one float32 image batch, NCHW (N, 3, H, W) with a dynamic N
unless stated, and computes something deterministic from it: global average
pooling per channel followed by fixed matrices, or fixed tensors broadcast to
the batch. ``expected_*`` helpers compute the same outputs with numpy so tests
can compare the Predictor against "kernel + raw onnxruntime + decoder" and
against hand-derived results.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 18  # ReduceMean takes its axes as an input from opset 18


def _graph(name: str, nodes: list, inputs: list, outputs: list, inits: list[np.ndarray | Any]) -> onnx.ModelProto:
    g = helper.make_graph(nodes, name, inputs, outputs, initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="edgevision-tests")
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    return m


def _image_input(h: int | None, w: int | None, batch: int | str = "N", c: int = 3, dtype: int = TensorProto.FLOAT,
                 layout: str = "NCHW") -> Any:
    shape = [batch, c, h, w] if layout == "NCHW" else [batch, h, w, c]
    return helper.make_tensor_value_info("images", dtype, shape)


def _pool(layout: str = "NCHW") -> tuple[list, str]:
    """Nodes computing the per-channel mean of the input: (N, 3)."""
    axes = [2, 3] if layout == "NCHW" else [1, 2]
    nodes = [
        helper.make_node("ReduceMean", ["images", "pool_axes"], ["pooled"], keepdims=0),
    ]
    return nodes, "pooled", numpy_helper.from_array(np.array(axes, np.int64), "pool_axes")


def with_metadata(model: onnx.ModelProto, meta: dict[str, Any] | None) -> onnx.ModelProto:
    if meta is not None:
        entry = model.metadata_props.add()
        entry.key = "edgevision"
        entry.value = json.dumps(meta)
    return model


def save(model: onnx.ModelProto, path: Path) -> str:
    onnx.save(model, str(path))
    return str(path)


# --- models ----------------------------------------------------------------------

KP_W = np.array([[0.2, -0.1, 0.3, 0.0, 0.1, 0.2, -0.2, 0.1],
                 [0.1, 0.3, -0.2, 0.2, 0.0, -0.1, 0.3, 0.2],
                 [-0.1, 0.2, 0.1, -0.3, 0.2, 0.1, 0.0, -0.2]], np.float32)
KP_B = np.array([0.2, 0.3, 0.8, 0.25, 0.75, 0.7, 0.25, 0.8], np.float32)


def keypoints_model(h: int = 64, w: int = 96, batch: int | str = "N") -> onnx.ModelProto:
    """(N,3,H,W) -> (N, 8): 4 corners (x, y) as fractions of the input = pooled @ KP_W + KP_B."""
    nodes, pooled, axes = _pool()
    nodes += [helper.make_node("MatMul", [pooled, "kp_w"], ["mm"]), helper.make_node("Add", ["mm", "kp_b"], ["kps"])]
    return _graph("keypoints", nodes, [_image_input(h, w, batch)],
                  [helper.make_tensor_value_info("kps", TensorProto.FLOAT, [batch, 8])],
                  [axes, numpy_helper.from_array(KP_W, "kp_w"), numpy_helper.from_array(KP_B, "kp_b")])


def expected_keypoints(blob: np.ndarray) -> np.ndarray:
    return blob.astype(np.float64).mean(axis=(2, 3)) @ KP_W.astype(np.float64) + KP_B


CLS_W = np.arange(30, dtype=np.float32).reshape(3, 10) / 7.0 - 2.0


def classification_model(h: int = 32, w: int = 32, layout: str = "NCHW", dtype: int = TensorProto.FLOAT) -> onnx.ModelProto:
    """(N,3,H,W) -> (N, 10) logits = pooled @ CLS_W."""
    nodes, pooled, axes = _pool(layout)
    inputs = [_image_input(h, w, layout=layout, dtype=dtype)]
    if dtype != TensorProto.FLOAT:
        nodes = [helper.make_node("Cast", ["images"], ["images_f"], to=TensorProto.FLOAT)] + nodes
        nodes[1].input[0] = "images_f"
    nodes += [helper.make_node("MatMul", [pooled, "cls_w"], ["logits"])]
    return _graph("classification", nodes, inputs,
                  [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
                  [axes, numpy_helper.from_array(CLS_W, "cls_w")])


def _broadcast_const(name: str, const: np.ndarray) -> list:
    """Nodes producing ``const`` (1, ...) broadcast to the batch: const + 0 * mean(images)."""
    rank = const.ndim
    return [
        helper.make_node("ReduceMean", ["images", "all_but_batch"], ["m_all"], keepdims=1),  # (N,1,1,1)
        helper.make_node("Reshape", ["m_all", "bshape"], ["m_b"]),               # (N,1,...,1)
        helper.make_node("Mul", ["m_b", "zero"], ["z_b"]),
        helper.make_node("Add", ["z_b", name + "_c"], [name]),
    ], [numpy_helper.from_array(np.array([1, 2, 3], np.int64), "all_but_batch"),
        numpy_helper.from_array(np.array([-1] + [1] * (rank - 1), np.int64), "bshape"),
        numpy_helper.from_array(np.zeros((), np.float32), "zero"),
        numpy_helper.from_array(const.astype(np.float32), name + "_c")]


def constant_output_model(name: str, const: np.ndarray, h: int = 32, w: int = 32, extra: dict[str, np.ndarray] | None = None) -> onnx.ModelProto:
    """Outputs ``const`` (shape (1, ...)) broadcast to the batch, plus optional extra constant outputs."""
    nodes, inits = _broadcast_const(name, const)
    outputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", *const.shape[1:]])]
    for k, v in (extra or {}).items():
        n2, i2 = _broadcast_const(k, v)
        # rename the shared helper tensors of the second chain
        for node in n2:
            node.input[:] = [x + "_" + k if x in ("m_all", "m_b", "z_b", "bshape", "zero", "all_but_batch") else x
                             for x in node.input]
            node.output[:] = [x + "_" + k if x in ("m_all", "m_b", "z_b") else x for x in node.output]
        for t in i2:
            if t.name in ("bshape", "zero", "all_but_batch"):
                t.name = t.name + "_" + k
        nodes += n2
        inits += i2
        outputs.append(helper.make_tensor_value_info(k, TensorProto.FLOAT, ["N", *v.shape[1:]]))
    return _graph(name, nodes, [_image_input(h, w)], outputs, inits)


#: Brightness (mean of the [0, 1] input over pixels and channels) above which
#: :func:`two_row_ocr_model` says "two rows" and reads "B1" instead of "A2".
TWO_ROW_THRESHOLD = 0.05


def two_row_ocr_model(h: int = 32, w: int = 96) -> onnx.ModelProto:
    """A slots OCR with a rows head, driven by the input's mean brightness ``m`` (0..1).

    Outputs ``province`` (N, 1, 3): class 1 always; ``symbols`` (N, 3, 5): classes
    ``[0, 3, 4]`` ("A", "2", "") when ``m < TWO_ROW_THRESHOLD``, else ``[1, 2, 4]``
    ("B", "1", ""); ``rows`` (N, 2) logits ``[t - m, m - t]`` (two rows when bright).
    """
    nodes, pooled, axes = _pool()                                      # (N, 3) channel means
    t = TWO_ROW_THRESHOLD
    rows_w = np.array([[-1.0, 1.0]] * 3, np.float32) / 3.0
    rows_b = np.array([t, -t], np.float32)
    dark = np.zeros((3, 5), np.float32)
    dark[0, 0] = dark[1, 3] = dark[2, 4] = 1.0
    bright = np.zeros((3, 5), np.float32)
    bright[0, 1] = bright[1, 2] = bright[2, 4] = 1.0
    sym_w = np.repeat(((bright - dark) * 0.5 / (3.0 * t)).reshape(1, 15), 3, axis=0).astype(np.float32)
    nodes += [
        helper.make_node("MatMul", [pooled, "rows_w"], ["rows_mm"]), helper.make_node("Add", ["rows_mm", "rows_b"], ["rows"]),
        helper.make_node("MatMul", [pooled, "sym_w"], ["sym_mm"]), helper.make_node("Add", ["sym_mm", "sym_b"], ["sym_f"]),
        helper.make_node("Reshape", ["sym_f", "sym_shape"], ["symbols"]),
    ]
    bc, binits = _broadcast_const("province", np.array([[[0.1, 0.7, 0.2]]], np.float32))
    return _graph("two_row_ocr", nodes + bc, [_image_input(h, w)],
                  [helper.make_tensor_value_info("province", TensorProto.FLOAT, ["N", 1, 3]),
                   helper.make_tensor_value_info("symbols", TensorProto.FLOAT, ["N", 3, 5]),
                   helper.make_tensor_value_info("rows", TensorProto.FLOAT, ["N", 2])],
                  [axes, numpy_helper.from_array(rows_w, "rows_w"), numpy_helper.from_array(rows_b, "rows_b"),
                   numpy_helper.from_array(sym_w, "sym_w"),
                   numpy_helper.from_array((dark - 0.5).reshape(15).astype(np.float32), "sym_b"),
                   numpy_helper.from_array(np.array([-1, 3, 5], np.int64), "sym_shape")] + binits)
