"""calibration.quantize and its CLI on tiny models: static int8 with every method and
format, exclusions, float outputs, dynamic int8, fp16, the accuracy-aware loop on a
model with a planted sensitive node, TensorRT tables and the report."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import edgevision
from calibration import quantize as Q
from calibration import quantize_cli
from calibration.data import CalibrationSet
from calibration.errors import QuantizationError
from calibration.metrics import evaluate
from edgevision.config import ModelConfig
from edgevision.errors import InvalidArgumentError, InvalidTypeError, ModelLoadError

OPSET = 18


def _model(name: str, nodes: list, inits: list, h: int, w: int) -> onnx.ModelProto:
    g = helper.make_graph(nodes, name, [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 3, h, w])],
                          [helper.make_tensor_value_info("kps", TensorProto.FLOAT, ["N", 8])], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="edgevision-tests")
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    return m


def conv_keypoints_model(h: int = 32, w: int = 48) -> onnx.ModelProto:
    """Conv(3->8) Relu Conv(8->8, stride 2) Relu GlobalAveragePool Flatten Gemm(8->8) Sigmoid:
    4 corners as fractions of the input."""
    rng = np.random.default_rng(0)
    t = lambda a, n: numpy_helper.from_array(np.asarray(a, np.float32), n)
    inits = [t(rng.standard_normal((8, 3, 3, 3)) * 0.3, "w1"), t(rng.standard_normal(8) * 0.1, "b1"),
             t(rng.standard_normal((8, 8, 3, 3)) * 0.2, "w2"), t(rng.standard_normal(8) * 0.1, "b2"),
             t(rng.standard_normal((8, 8)) * 0.5, "wf"), t(np.zeros(8), "bf")]
    nodes = [helper.make_node("Conv", ["images", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
             helper.make_node("GlobalAveragePool", ["r2"], ["gap"], name="gap"),
             helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"),
             helper.make_node("Gemm", ["flat", "wf", "bf"], ["fc"], name="fc"),
             helper.make_node("Sigmoid", ["fc"], ["kps"], name="sigmoid")]
    return _model("conv_keypoints", nodes, inits, h, w)


def _planted_weights(rng: np.random.Generator, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``h = x @ wa + ba`` (k -> 9) with column 8 a constant 1000, then ``h @ wb`` (9 -> 8) ignoring it."""
    wa = np.zeros((k, 9), np.float32)
    wa[:, :8] = rng.standard_normal((k, 8))
    ba = np.zeros(9, np.float32)
    ba[8] = 1000.0
    wb = np.zeros((9, 8), np.float32)
    wb[:8] = np.eye(8) * 0.05
    return wa, ba, wb


def planted_model(h: int = 16, w: int = 16) -> onnx.ModelProto:
    """pooled (N,3) -> h = pooled @ WA + BA (N,9) -> kps = h @ WB + 0.5.

    Column 8 of ``h`` is a constant 1000 that the output ignores (row 8 of WB is 0), but
    it sets ``h``'s per-tensor int8 scale to 1000/127, about 7.9: the signal in columns
    0..7 (|h| of a few units) quantizes to 0. ``h`` is the planted sensitive tensor and
    ``mm_b`` (its reader) the node that must stay float."""
    wa, ba, wb = _planted_weights(np.random.default_rng(1), 3)
    nodes = [helper.make_node("ReduceMean", ["images", "axes"], ["pooled"], name="pool", keepdims=0),
             helper.make_node("MatMul", ["pooled", "wa"], ["ha"], name="mm_a"),
             helper.make_node("Add", ["ha", "ba"], ["h"], name="planted_add"),
             helper.make_node("MatMul", ["h", "wb"], ["y"], name="mm_b"),
             helper.make_node("Add", ["y", "bb"], ["kps"], name="out_add")]
    inits = [numpy_helper.from_array(np.array([2, 3], np.int64), "axes"), numpy_helper.from_array(wa, "wa"),
             numpy_helper.from_array(ba, "ba"), numpy_helper.from_array(wb, "wb"),
             numpy_helper.from_array(np.full(8, 0.5, np.float32), "bb")]
    return _model("planted", nodes, inits, h, w)


def planted_head_model(h: int = 16, w: int = 16) -> onnx.ModelProto:
    """A conv backbone (Conv 3x3, 3->9, Relu) then the planted model's head on its global pool:
    GlobalAveragePool Flatten -> MatMul (9 -> 9, column 8 a constant 1000 after the Add)
    -> MatMul (9 -> 8) -> Add 0.5. The head's int8 step wipes out its signal (as in
    :func:`planted_model`); the backbone quantizes fine."""
    rng = np.random.default_rng(2)
    wc = np.abs(rng.standard_normal((9, 3, 3, 3))).astype(np.float32) / 9  # 3x3: the backbone does most work
    wa, ba, wb = _planted_weights(rng, 9)
    nodes = [helper.make_node("Conv", ["images", "wc"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("GlobalAveragePool", ["r"], ["gap"], name="gap"),
             helper.make_node("Flatten", ["gap"], ["pooled"], name="flatten"),
             helper.make_node("MatMul", ["pooled", "wa"], ["ha"], name="mm_a"),
             helper.make_node("Add", ["ha", "ba"], ["h"], name="planted_add"),
             helper.make_node("MatMul", ["h", "wb"], ["y"], name="mm_b"),
             helper.make_node("Add", ["y", "bb"], ["kps"], name="out_add")]
    inits = [numpy_helper.from_array(wc, "wc"), numpy_helper.from_array(wa, "wa"), numpy_helper.from_array(ba, "ba"),
             numpy_helper.from_array(wb, "wb"), numpy_helper.from_array(np.full(8, 0.5, np.float32), "bb")]
    return _model("planted_head", nodes, inits, h, w)


def _write(model: onnx.ModelProto, path: Path, pre: dict[str, Any]) -> str:
    onnx.save(model, str(path))
    ModelConfig.from_dict({"task": "keypoints", "name": path.stem, "preprocess": pre,
                           "decoder": {"num_keypoints": 4}}).write(path)
    return str(path)


def _images(n: int, h: int, w: int, seed: int) -> list[np.ndarray]:
    """Images whose brightness differs per image and per channel (so pooled features vary)."""
    rng = np.random.default_rng(seed)
    return [np.clip(rng.normal(rng.uniform(20, 235, 3), 12, (h, w, 3)), 0, 255).astype(np.uint8) for _ in range(n)]


@dataclass
class Labelled:
    image: np.ndarray
    corners: np.ndarray
    text: str | None = None


def _labelled(model: str, images: list[np.ndarray], noise_px: float, seed: int) -> list[Labelled]:
    """Labels = the float model's own corners + Gaussian noise (pixels)."""
    p = edgevision.Predictor(model)
    rng = np.random.default_rng(seed)
    return [Labelled(im, r.keypoints + rng.normal(0, noise_px, (4, 2))) for im, r in zip(images, p(images))]


@pytest.fixture(scope="module")
def tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("quantize")


@pytest.fixture(scope="module")
def conv(tmp) -> str:
    return _write(conv_keypoints_model(), tmp / "conv.onnx", {"size": [32, 48], "mean": 0.5, "std": 0.25})


@pytest.fixture(scope="module")
def conv_data(conv) -> CalibrationSet:
    return CalibrationSet.from_source(conv, _images(24, 40, 60, 0), count=16)


def _graph(path: Any) -> onnx.GraphProto:
    return onnx.load(str(path)).graph


def _producers(g: onnx.GraphProto) -> dict[str, onnx.NodeProto]:
    return {t: n for n in g.node for t in n.output}


def _fed_by_dq(g: onnx.GraphProto, node_name: str) -> list[str]:
    """The inputs of ``node_name`` that come out of a DequantizeLinear."""
    prod = _producers(g)
    node = next(n for n in g.node if n.name == node_name)
    return [t for t in node.input if t in prod and prod[t].op_type == "DequantizeLinear"]


def _initializer(g: onnx.GraphProto, name: str) -> np.ndarray:
    return numpy_helper.to_array(next(i for i in g.initializer if i.name == name))


# --- static int8 -------------------------------------------------------------------------------


@pytest.mark.parametrize("method", Q.METHODS)
def test_every_method_gives_a_model_the_predictor_runs(conv, conv_data, tmp, method):
    out = tmp / f"conv_{method}.onnx"
    r = Q.quantize(conv, conv_data, out, method=method, preprocess=False)
    assert r.path == out and out.is_file() and r.mode == "static"
    g = _graph(out)
    ops = [n.op_type for n in g.node]
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    assert {"conv1", "conv2", "fc"} <= set(r.quantized_nodes)
    p = edgevision.Predictor(out)
    res = p(_images(1, 40, 60, 5)[0])
    assert res.keypoints.shape == (4, 2) and np.all(np.isfinite(res.keypoints))
    # the metadata: everything of the float model, plus the quantization section
    cfg = ModelConfig.read(out)
    assert cfg.to_dict() | {"quantization": None} == ModelConfig.read(conv).to_dict() | {"quantization": None}
    q = cfg.extra["quantization"]
    assert (q["mode"], q["representation"], q["method"], q["format"], q["per_channel"]) == (
        "static", "QDQ", method, "S8S8", True)
    assert q["calibration"] == {"source": "<list of 24>", "count": 16, "seed": 0, "strategy": "random"}
    assert q["excluded_nodes"] == [] and set(q["tools"]) == {"onnxruntime", "onnx", "edgevision"}
    assert ("percentile" in q) == (method == "percentile")


def test_s8s8_is_symmetric_int8_with_per_channel_weights(conv, conv_data, tmp):
    out = tmp / "conv_s8s8.onnx"
    Q.quantize(conv, conv_data, out, preprocess=False)
    g = _graph(out)
    for n in g.node:
        if n.op_type in ("QuantizeLinear", "DequantizeLinear"):
            zp = _initializer(g, n.input[2])
            assert not zp.any(), n.name  # TensorRT: zero points of 0
            is_bias = n.input[0] in ("b1_quantized", "b2_quantized", "bf_quantized")
            assert zp.dtype == (np.int32 if is_bias else np.int8), n.name  # biases are int32 (scale_x * scale_w)
    prod = _producers(g)
    w2 = prod[next(n for n in g.node if n.name == "conv2").input[1]]  # the weight's DequantizeLinear
    assert w2.op_type == "DequantizeLinear"
    assert _initializer(g, w2.input[0]).dtype == np.int8
    assert _initializer(g, w2.input[1]).shape == (8,)  # one scale per output channel


def test_u8s8_and_per_tensor(conv, conv_data, tmp):
    out = tmp / "conv_u8s8.onnx"
    r = Q.quantize(conv, conv_data, out, fmt="u8s8", per_channel=False, preprocess=False)
    assert r.quantization["format"] == "U8S8" and r.quantization["per_channel"] is False
    g = _graph(out)
    prod = _producers(g)
    act = prod[_fed_by_dq(g, "conv2")[0]]
    assert _initializer(g, act.input[2]).dtype == np.uint8  # activations: uint8, asymmetric
    w2 = prod[next(n for n in g.node if n.name == "conv2").input[1]]
    assert _initializer(g, w2.input[1]).shape == ()  # one scale for the whole tensor
    edgevision.Predictor(out)(_images(1, 40, 60, 1)[0])


def test_preprocess_runs_and_is_recorded(conv, conv_data, tmp):
    r = Q.quantize(conv, conv_data, tmp / "conv_pre.onnx")
    assert r.quantization["preprocessed"] is True and r.notes == []
    assert r.path.is_file() and ModelConfig.read(r.path).extra["quantization"]["preprocessed"] is True


def test_default_output_path_and_source_argument(conv, tmp):
    r = Q.quantize(conv, _images(4, 40, 60, 2), calibrate_count=3, preprocess=False)
    assert r.path == tmp / "conv_int8.onnx"
    assert r.quantization["calibration"]["count"] == 3


def test_exclude_keeps_named_nodes_and_op_types_float(conv, conv_data, tmp):
    out = tmp / "conv_excl.onnx"
    r = Q.quantize(conv, conv_data, out, exclude=["conv2", "Gemm"], preprocess=False)
    assert r.excluded_nodes == ["conv2", "fc"]
    assert r.quantization["excluded_nodes"] == ["conv2", "fc"] and r.quantization["excluded_op_types"] == ["Gemm"]
    g = _graph(out)
    for name in ("conv2", "fc"):
        assert _fed_by_dq(g, name) == [], name  # no QuantizeLinear/DequantizeLinear in front of them
    assert _initializer(g, "w2").dtype == np.float32  # the weights stay float too
    assert "conv1" in r.quantized_nodes and {"conv2", "fc"} <= set(r.float_nodes)
    edgevision.Predictor(out)(_images(1, 40, 60, 1)[0])


def test_excluded_node_after_a_folded_relu_keeps_the_relu(conv, conv_data, tmp):
    """U8S8: onnxruntime folds relu1 into the QuantizeLinear after it (the uint8 range clips
    at 0). Feeding the excluded conv2 in float must not bypass that pair to the pre-ReLU c1."""
    out = tmp / "conv_u8_excl.onnx"
    Q.quantize(conv, conv_data, out, fmt="U8S8", exclude=["conv2"], preprocess=False)
    g = _graph(out)
    prod = _producers(g)
    conv2 = next(n for n in g.node if n.name == "conv2")
    src = prod[conv2.input[0]]
    assert conv2.input[0] != "c1" and src.op_type in ("Relu", "DequantizeLinear"), src
    import onnxruntime as ort

    x = np.random.default_rng(0).normal(0, 1, (4, 3, 32, 48)).astype(np.float32)
    f = ort.InferenceSession(conv, providers=["CPUExecutionProvider"]).run(None, {"images": x})[0]
    q = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"images": x})[0]
    assert np.abs(f - q).max() < 0.05


def test_exclude_errors(conv, conv_data, tmp):
    with pytest.raises(InvalidArgumentError, match="did you mean 'conv2'"):
        Q.quantize(conv, conv_data, tmp / "x.onnx", exclude=["conv_2"], preprocess=False)
    with pytest.raises(InvalidTypeError, match="exclude: expected a list"):
        Q.quantize(conv, conv_data, tmp / "x.onnx", exclude="conv2", preprocess=False)


def test_graph_outputs_stay_float_unless_asked(conv, conv_data, tmp):
    g = _graph(Q.quantize(conv, conv_data, tmp / "conv_fo.onnx", preprocess=False).path)
    assert _producers(g)["kps"].op_type == "Sigmoid"
    g = _graph(Q.quantize(conv, conv_data, tmp / "conv_qo.onnx", preprocess=False, float_outputs=False).path)
    assert _producers(g)["kps"].op_type == "DequantizeLinear"


def test_calibration_cache_file_is_written_then_reused(conv, conv_data, tmp):
    cache = tmp / "ranges.json"
    a = Q.quantize(conv, conv_data, tmp / "c1.onnx", preprocess=False, calibration_cache=cache)
    assert cache.is_file() and "r1" in json.loads(cache.read_text())["data"]
    empty = CalibrationSet(conv_data.tensors[:0], "images", conv_data.report)  # nothing to run: the cache is used
    b = Q.quantize(conv, empty, tmp / "c2.onnx", preprocess=False, calibration_cache=cache)
    assert a.path.read_bytes() != b"" and _graph(b.path).node  # it quantized from the cached ranges
    x = conv_data.tensors[:2]
    import onnxruntime as ort

    run = lambda p: ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {"images": x})[0]
    np.testing.assert_array_equal(run(a.path), run(b.path))


def test_bad_arguments(conv, conv_data, tmp):
    for kwargs, match in (({"method": "kl"}, "method"), ({"fmt": "S8U8"}, "fmt"), ({"percentile": 0}, "percentile"),
                          ({"calibrate_count": 0}, "calibrate_count")):
        with pytest.raises(InvalidArgumentError, match=match):
            Q.quantize(conv, conv_data, tmp / "x.onnx", **kwargs)
    with pytest.raises(InvalidTypeError, match="per_channel"):
        Q.quantize(conv, conv_data, tmp / "x.onnx", per_channel="yes")
    with pytest.raises(InvalidArgumentError, match="out: .* is the source model"):
        Q.quantize(conv, conv_data, conv)
    with pytest.raises(ModelLoadError, match="no such file"):
        Q.quantize(tmp / "missing.onnx", conv_data)
    (tmp / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match="not an ONNX model"):
        Q.quantize(tmp / "junk.onnx", conv_data)
    with pytest.raises(InvalidArgumentError, match="data: expected"):
        Q.quantize(conv, None, tmp / "x.onnx")


# --- dynamic and fp16 ------------------------------------------------------------------------------


def test_dynamic_int8_and_fp16_load_and_carry_metadata(conv, tmp):
    img = _images(1, 40, 60, 3)[0]
    ref = edgevision.Predictor(conv)(img).keypoints
    d = Q.quantize_dynamic_int8(conv)
    assert d.path == tmp / "conv_int8_dynamic.onnx" and d.mode == "dynamic"
    assert "DynamicQuantizeLinear" in [n.op_type for n in _graph(d.path).node]
    h = Q.convert_fp16(conv)
    assert h.path == tmp / "conv_fp16.onnx" and h.size_mb < h.source_size_mb
    g = _graph(h.path)
    assert g.input[0].type.tensor_type.elem_type == TensorProto.FLOAT  # keep_io_types: fed float32
    assert _initializer(g, "w1").dtype == np.float16
    for r, tol in ((d, 0.05), (h, 0.01)):
        q = ModelConfig.read(r.path).extra["quantization"]
        assert q["mode"] == r.mode and "tools" in q
        p = edgevision.Predictor(r.path)
        np.testing.assert_allclose(p(img).keypoints / [48, 32], ref / [48, 32], atol=tol)


# --- accuracy-aware ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def planted(tmp) -> tuple[str, CalibrationSet, list[Labelled]]:
    path = _write(planted_model(), tmp / "planted.onnx", {"size": [16, 16], "mean": 0.5, "std": 0.25})
    images = _images(64, 20, 20, 7)
    data = CalibrationSet.from_source(path, images[:32], count=32)
    return path, data, _labelled(path, images[32:], noise_px=0.5, seed=3)


def test_plain_int8_destroys_the_planted_signal(planted, tmp):
    path, data, samples = planted
    fp32 = evaluate(path, samples).value
    q = Q.quantize(path, data, tmp / "planted_plain.onnx", preprocess=False)
    assert evaluate(q.path, samples).value > 2 * fp32


def test_accuracy_aware_finds_the_planted_node(planted, tmp):
    path, data, samples = planted
    out = tmp / "planted_aa.onnx"
    r = Q.quantize_accuracy_aware(path, data, samples, tolerance=0.10, out=out, preprocess=False,
                                  compare_default=True)
    assert r.ok, r.reason
    assert r.ranking[0]["node"] == "mm_b" and r.ranking[0]["tensor"] == "h"  # the planted tensor, worst SNR
    assert r.ranking[0]["snr_db"] < 10 < r.ranking[1]["snr_db"]
    assert r.float_nodes == ["mm_b"] and len(r.steps) == 2
    assert [s["within"] for s in r.steps] == [False, True] and r.steps[1]["added"] == ["mm_b"]
    assert r.value <= r.limit == pytest.approx(r.fp32_value * 1.10)
    assert r.path == out and evaluate(out, samples).value == pytest.approx(r.value)
    assert _fed_by_dq(_graph(out), "mm_b") == []
    q = ModelConfig.read(out).extra["quantization"]
    assert q["excluded_nodes"] == ["mm_b"] and q["accuracy_aware"]["metric"] == "mae_norm"
    # it beats plain quantize_static defaults on the same model and data
    assert r.baseline["value"] > r.value
    d = r.to_dict()
    assert d["ok"] is True and d["steps"][1]["float_nodes"] == ["mm_b"] and "_path" not in d["steps"][0]


def test_accuracy_aware_stops_at_the_limit_and_says_so(planted, tmp):
    path, data, samples = planted
    r = Q.quantize_accuracy_aware(path, data, samples, tolerance=0.10, out=tmp / "planted_0.onnx",
                                  preprocess=False, max_float_nodes=0)
    assert not r.ok and "max_float_nodes=0 reached" in r.reason and len(r.steps) == 1
    assert r.path.is_file() and r.value == r.steps[0]["value"]


def test_accuracy_aware_within_tolerance_at_once(conv, conv_data, tmp):
    samples = _labelled(conv, _images(8, 40, 60, 9), noise_px=2.0, seed=1)
    r = Q.quantize_accuracy_aware(conv, conv_data, samples, tolerance=1.0, out=tmp / "conv_aa.onnx",
                                  preprocess=False)
    assert r.ok and len(r.steps) == 1 and r.float_nodes == [] and r.ranking == []
    with pytest.raises(InvalidArgumentError, match="tolerance"):
        Q.quantize_accuracy_aware(conv, conv_data, samples, tolerance=-0.1)
    with pytest.raises(InvalidArgumentError, match="metric"):
        Q.quantize_accuracy_aware(conv, conv_data, samples, tolerance=0.1, metric="accuracy")


def test_node_costs_and_head_nodes():
    m = conv_keypoints_model()  # input 32 x 48
    c = Q.node_costs(m)
    assert c["conv1"] == 8 * 32 * 48 * 3 * 3 * 3 and c["conv2"] == 8 * 16 * 24 * 8 * 3 * 3
    assert c["relu1"] == 8 * 32 * 48 and c["gap"] == 8 and c["fc"] == 8 * 8 and c["sigmoid"] == 8
    assert Q.head_nodes(m) == ["gap", "flatten", "fc", "sigmoid"]
    assert Q.head_nodes(planted_model()) == ["pool", "mm_a", "planted_add", "mm_b", "out_add"]  # all vectors


def test_accuracy_aware_keeps_a_cheap_sensitive_head_float_in_one_step(tmp):
    path = _write(planted_head_model(), tmp / "planted_head.onnx", {"size": [16, 16], "mean": 0.5, "std": 0.25})
    images = _images(64, 20, 20, 11)
    data = CalibrationSet.from_source(path, images[:32], count=32)
    samples = _labelled(path, images[32:], noise_px=0.5, seed=4)
    r = Q.quantize_accuracy_aware(path, data, samples, tolerance=0.10, out=tmp / "head_aa.onnx", preprocess=False)
    head = ["gap", "flatten", "mm_a", "planted_add", "mm_b", "out_add"]
    assert r.ok, r.reason
    assert len(r.steps) == 2 and r.steps[1]["added"] == head and r.float_nodes == head
    by_node = {x["node"]: x for x in r.ranking}
    assert by_node["mm_b"]["cost"] == 8 * 9 and by_node["mm_b"]["cost_share"] < 0.01
    assert _fed_by_dq(_graph(r.path), "conv")  # the backbone stays int8
    # Without cheap_first: the plain sensitivity order, one node at a time, finds the planted reader.
    r2 = Q.quantize_accuracy_aware(path, data, samples, tolerance=0.10, out=tmp / "head_aa2.onnx",
                                   preprocess=False, cheap_first=None)
    assert r2.ok and r2.float_nodes == ["mm_b"]
    with pytest.raises(InvalidArgumentError, match="cheap_first"):
        Q.quantize_accuracy_aware(path, data, samples, tolerance=0.1, cheap_first=2.0)


def test_higher_is_better_tolerance_is_absolute():
    assert Q._limit(0.9, 0.005, True) == pytest.approx(0.895)
    assert Q._within(0.896, 0.895, True) and not Q._within(0.894, 0.895, True)
    assert Q._limit(0.004, 0.05, False) == pytest.approx(0.0042)


def test_channel_snr_sees_through_an_outlier_channel():
    x = np.stack([np.linspace(-1, 1, 50), np.full(50, 1000.0)], axis=1)  # (N, 2): signal + constant outlier
    wiped = x.copy()
    wiped[:, 0] = 0
    assert Q._channel_snr_db([x], [wiped], [None, 2]) == pytest.approx(0.0, abs=1e-9)
    assert Q._channel_snr_db([x], [x], [None, 2]) == float("inf")
    assert Q._channel_snr_db([x], [wiped]) > 30  # as one channel the outlier hides it


# --- TensorRT and report -------------------------------------------------------------------------------


def test_write_tensorrt_calibration(conv, conv_data, tmp):
    files = Q.write_tensorrt_calibration(conv, conv_data, tmp / "trt")
    assert all(p.is_file() for p in files.values())
    lines = dict(line.split() for line in files["cache"].read_text().splitlines())
    assert {"images", "r1", "r2", "kps"} <= set(lines) and all(float(v) > 0 for v in lines.values())
    assert set(json.loads(files["json"].read_text())["data"]) >= {"r1", "kps"}
    with pytest.raises(InvalidArgumentError, match="method"):
        Q.write_tensorrt_calibration(conv, conv_data, tmp / "trt", method="kl")


def test_report(conv, conv_data, tmp):
    q = Q.quantize(conv, conv_data, tmp / "conv_rep_int8.onnx", preprocess=False)
    samples = _labelled(conv, _images(4, 40, 60, 11), noise_px=1.0, seed=2)
    md, js = tmp / "report.md", tmp / "report.json"
    doc = Q.report([q.path, conv], samples, runs=3, out_md=md, out_json=js)
    assert doc["baseline"] == "conv"  # the float model, although listed second
    rows = {r["variant"]: r for r in doc["rows"]}
    assert rows["conv"]["latency_ratio"] == 1.0 and rows["conv"]["size_ratio"] == 1.0
    assert rows["conv_rep_int8"]["kind"] == "static int8 (QDQ)" and rows["conv"]["kind"] == "none"
    assert rows["conv"]["metric"] == "mae_norm" and rows["conv"]["count"] == 4
    assert rows["conv_rep_int8"]["metric_delta"] == pytest.approx(
        rows["conv_rep_int8"]["value"] / rows["conv"]["value"] - 1)
    text = md.read_text()
    assert "| variant | kind | p50 latency ms | task metric | size MB |" in text and "conv_rep_int8" in text
    assert json.loads(js.read_text())["rows"][0]["variant"] == "conv_rep_int8"
    no_metric = Q.report({"a": conv}, None, runs=2)
    assert no_metric["rows"][0]["value"] is None and "n/a" in no_metric["markdown"]
    with pytest.raises(InvalidArgumentError, match="models"):
        Q.report([], None)
    with pytest.raises(InvalidArgumentError, match="out_md"):
        Q.report([conv], None, out_md=tmp / "no" / "dir.md")
    broken = tmp / "broken.onnx"
    broken.write_bytes(b"not an ONNX model")
    with pytest.raises(QuantizationError, match="models\\['broken'\\]"):  # the engine's failed row, named
        Q.report([conv, broken], None, runs=2)


def test_report_markdown_shows_the_legible_figure_of_ocr_rows():
    env = {"cpu": "cpu", "cores": 2, "onnxruntime": "x", "date": "d"}

    def row(variant, value, legible):
        details = {"exact_match": value, **({"legible": {"count": 9, "exact_match": legible}} if legible else {})}
        return {"variant": variant, "path": f"{variant}.onnx", "kind": "none", "p50_ms": 1.0, "latency_ratio": 1.0,
                "metric": "exact_match", "value": value, "higher_is_better": True,
                "metric_delta": value - 0.9, "size_mb": 1.0, "size_ratio": 1.0,
                "evaluation": {"details": details}}
    md = Q._markdown({"environment": env, "baseline": "fp32",
                      "rows": [row("fp32", 0.9, 0.99), row("int8", 0.88, 0.97), row("other", 0.8, None)]})
    assert "| fp32 | none | 1.000 (1.00x) | exact_match 0.9; legible 0.99 |" in md
    assert "exact_match 0.88 (-2.00 pp); legible 0.97 |" in md
    assert "exact_match 0.8 (-10.00 pp) |" in md


# --- CLI ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def folder(tmp) -> Path:
    d = tmp / "calib_images"
    d.mkdir()
    for i, im in enumerate(_images(6, 40, 60, 4)):
        cv2.imwrite(str(d / f"{i}.png"), im)
    return d


def test_cli_quantize(conv, folder, tmp, capsys):
    out = tmp / "cli_int8.onnx"
    code = quantize_cli.main(["quantize", conv, "--data", str(folder), "--count", "4", "--seed", "1",
                              "--no-preprocess", "--exclude", "fc", "--out", str(out), "--json"])
    text = capsys.readouterr().out
    assert code == 0 and out.is_file()
    assert "4 of 4 images" in text and "kept float: fc" in text
    doc = json.loads(text[text.index("{"):])
    assert doc["quantization"]["calibration"]["seed"] == 1 and doc["excluded_nodes"] == ["fc"]


def test_cli_dynamic_fp16_and_report(conv, tmp, capsys):
    assert quantize_cli.main(["quantize", conv, "--method", "fp16", "--out", str(tmp / "cli_fp16.onnx")]) == 0
    assert quantize_cli.main(["quantize", conv, "--method", "dynamic", "--out", str(tmp / "cli_dyn.onnx")]) == 0
    capsys.readouterr()
    md = tmp / "cli_report.md"
    code = quantize_cli.main(["report", conv, str(tmp / "cli_fp16.onnx"), "--no-metric", "--runs", "2",
                              "--md", str(md)])
    assert code == 0 and "cli_fp16" in capsys.readouterr().out and md.is_file()


def test_cli_accuracy_aware(planted, tmp, capsys):
    path = planted[0]
    d = tmp / "planted_manifest"
    (d / "imgs").mkdir(parents=True)
    lines = []
    for i, s in enumerate(planted[2][:16]):
        cv2.imwrite(str(d / "imgs" / f"{i}.png"), s.image)
        lines.append(json.dumps({"image": f"imgs/{i}.png", "corners": s.corners.tolist()}))
    (d / "m.jsonl").write_text("\n".join(lines) + "\n")
    out = tmp / "cli_planted.onnx"
    code = quantize_cli.main(["quantize", path, "--data", str(d / "m.jsonl"), "--count", "16", "--no-preprocess",
                              "--tolerance", "0.10", "--eval-data", str(d / "m.jsonl"), "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0 and "OK: within tolerance" in text and "float: mm_b" in text


def test_cli_errors_exit_2_with_the_message(conv, folder, tmp, capsys):
    assert quantize_cli.main(["quantize", str(tmp / "nope.onnx"), "--data", str(folder)]) == 2
    assert "calibration quantize: error: " in capsys.readouterr().err
    assert quantize_cli.main(["quantize", conv]) == 2
    assert "--data: required" in capsys.readouterr().err
    assert quantize_cli.main(["quantize", conv, "--data", str(folder), "--exclude", "nonode",
                              "--no-preprocess", "--out", str(tmp / "e.onnx")]) == 2
    assert "nonode" in capsys.readouterr().err
    assert quantize_cli.main(["quantize", conv, "--data", str(folder), "--method", "kl"]) == 2
    assert "invalid choice" in capsys.readouterr().err
    assert quantize_cli.main(["quantize", conv, "--data", str(folder), "--count", "0"]) == 2
    assert "expected an integer >= 1" in capsys.readouterr().err
    assert quantize_cli.main(["quantize", conv, "--method", "fp16", "--tolerance", "0.1"]) == 2
    assert "static int8 only" in capsys.readouterr().err
    assert quantize_cli.main(["report", conv, "--no-metric", "--md", str(tmp / "no" / "x.md")]) == 2
    assert "out_md" in capsys.readouterr().err


def test_register_adds_both_subcommands():
    import argparse

    ap = argparse.ArgumentParser()
    quantize_cli.register(ap.add_subparsers(dest="command"))
    args = ap.parse_args(["quantize", "m.onnx", "--data", "synth:3", "--exclude", "a", "b", "--exclude", "Conv"])
    assert args.exclude == ["a", "b", "Conv"] and args.fn is not None
    assert ap.parse_args(["report", "a.onnx", "b.onnx"]).models == ["a.onnx", "b.onnx"]


def test_big_float_weights_are_stored_weight_only_int8(tmp):
    """A float node's big constant weight goes to int8 behind a DequantizeLinear; activations stay float."""
    rng = np.random.default_rng(5)
    w = rng.standard_normal((3, Q.WEIGHT_ONLY_MIN // 3 + 1)).astype(np.float32)
    n_out = w.shape[1]
    nodes = [helper.make_node("ReduceMean", ["images", "axes"], ["pooled"], name="pool", keepdims=0),
             helper.make_node("MatMul", ["pooled", "w"], ["big"], name="big_mm"),
             helper.make_node("ReduceMean", ["big", "ax1"], ["m"], name="mean", keepdims=1),
             helper.make_node("Expand", ["m", "eshape"], ["kps"], name="expand")]
    inits = [numpy_helper.from_array(np.array([2, 3], np.int64), "axes"), numpy_helper.from_array(w, "w"),
             numpy_helper.from_array(np.array([1], np.int64), "ax1"),
             numpy_helper.from_array(np.array([1, 8], np.int64), "eshape")]
    path = _write(_model("weight_only", nodes, inits, 16, 16), tmp / "wo.onnx",
                  {"size": [16, 16], "mean": 0.5, "std": 0.25})
    data = CalibrationSet.from_source(path, _images(8, 16, 16, 2), count=8)
    r = Q.quantize(path, data, tmp / "wo_int8.onnx", exclude=["big_mm"], preprocess=False)
    g = _graph(r.path)
    assert "big_mm" in r.float_nodes
    dq = _producers(g)[next(n for n in g.node if n.name == "big_mm").input[1]]
    assert dq.op_type == "DequantizeLinear" and next(a.i for a in dq.attribute if a.name == "axis") == 1
    q = _initializer(g, dq.input[0])
    assert q.dtype == np.int8 and q.shape == w.shape and np.abs(q).max() == 127
    scale = _initializer(g, dq.input[1])
    np.testing.assert_allclose(q * scale, w, atol=float(scale.max()) / 2 + 1e-7)
    assert _fed_by_dq(g, "big_mm") == [dq.output[0]]  # only the weight: the activation input stays float
    assert ModelConfig.read(r.path).extra["quantization"]["weight_only_int8"] == ["big_mm"]
    assert not [t for t in g.initializer if t.data_type == TensorProto.FLOAT and np.prod(t.dims) == w.size]
    x = CalibrationSet.from_source(path, _images(2, 16, 16, 3), count=2).tensors  # float path, int8 weights
    import onnxruntime as ort

    got = ort.InferenceSession(str(r.path), providers=["CPUExecutionProvider"]).run(None, {"images": x})[0]
    want = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"images": x})[0]
    np.testing.assert_allclose(got, want, rtol=0.02, atol=0.02)


def test_pre_processing_leaves_nothing_in_the_working_directory(tmp_path, monkeypatch):
    """onnxruntime's symbolic shape inference writes sym_shape_infer_temp.onnx (and its external
    data) into the working directory when it cannot infer every shape (the plate detector's
    upsampling, here); quantize runs it elsewhere and falls back without it."""
    torch = pytest.importorskip("torch")
    import exporters
    from calibration._quantize.static import _preprocess
    from exporters.zoo import build

    built = build("plate_pose", size=64, width=4, neck=8)
    src = tmp_path / "pose.onnx"
    exporters.export_torch(built.model.eval(), torch.zeros(1, *built.input_shape), src, parity=False,
                           **built.export_kwargs())
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    notes: list[str] = []
    out = _preprocess(src, tmp_path / "prep.onnx", notes)
    assert out.exists() and Path.cwd() == work
    assert list(work.iterdir()) == []
    assert any("Incomplete symbolic shape inference" in n for n in notes)  # the path that used to leave files


def _u8s8_pixels_model(tmp: Path, name: str) -> tuple[str, Any, list[np.ndarray]]:
    """(float source, its U8S8 int8 QuantizeResult, calibration images): calibrated on pixel / 255 inputs
    that reach 0 and 255, so its input quantization gives every pixel value back."""
    src = _write(conv_keypoints_model(), tmp / f"{name}.onnx", {"size": [32, 48], "pad_value": 114})
    rng = np.random.default_rng(3)
    calib = [rng.integers(0, 256, (40, 60, 3), np.uint8) for _ in range(10)]
    calib += [np.zeros((40, 60, 3), np.uint8), np.full((40, 60, 3), 255, np.uint8)]  # inputs span 0..1 exactly
    q = Q.quantize(src, CalibrationSet.from_source(src, calib, count=12), tmp / f"{name}_int8.onnx", fmt="U8S8",
                   method="minmax", preprocess=False)
    return src, q, calib


def test_uint8_input_gives_the_same_outputs_bit_for_bit(tmp):
    """A U8S8 model calibrated on pixel / 255 inputs that reach 0 and 255 quantizes every pixel value
    to itself: uint8_input drops that step, the Predictor then feeds uint8 pixels (a quarter of the
    bytes), and every output is the int8 model's, bit for bit; a model with mean/std normalization
    (whose input quantization does not give the pixels back) is refused, and nothing is written."""
    rng = np.random.default_rng(3)
    src, q, calib = _u8s8_pixels_model(tmp, "u8src")
    out = Q.uint8_input(q.path, tmp / "u8src_int8_u8in.onnx")
    m = onnx.load(str(out))
    assert m.graph.input[0].type.tensor_type.elem_type == TensorProto.UINT8
    assert not any(n.op_type == "QuantizeLinear" and n.input[0] == "images" for n in m.graph.node)
    a, b = edgevision.Predictor(q.path), edgevision.Predictor(out)
    assert b.config.preprocess_kwargs()[1]["dtype"] == "uint8" and b.config.to_dict()["quantization"]["uint8_input"]
    for im in [rng.integers(0, 256, (int(h), int(w), 3), np.uint8) for h, w in rng.integers(10, 300, (6, 2))]:
        np.testing.assert_array_equal(a(im).keypoints, b(im).keypoints)

    normalized = _write(conv_keypoints_model(), tmp / "u8norm.onnx", {"size": [32, 48], "mean": 0.5, "std": 0.25})
    qn = Q.quantize(normalized, CalibrationSet.from_source(normalized, calib, count=12), tmp / "u8norm_int8.onnx",
                    fmt="U8S8", method="minmax", preprocess=False)
    with pytest.raises(InvalidArgumentError, match="does not give back the pixel values"):
        Q.uint8_input(qn.path, tmp / "u8norm_u8in.onnx")
    assert not (tmp / "u8norm_u8in.onnx").exists()
    with pytest.raises(InvalidArgumentError, match="QuantizeLinear"):
        Q.uint8_input(normalized, tmp / "float_u8in.onnx")  # a float model: nothing quantizes its input


def test_channels_last_input_gives_the_same_outputs_bit_for_bit(tmp):
    """channels_last_input makes a uint8-input int8 model take NHWC pixels with a 4th channel of zeros
    (the kernel writes it: preprocess.zero_channels) through a leading Transpose, and gives the first
    convolution a 4th input channel of zero weights: every output is the model's, bit for bit, for
    colour and gray pictures; so for a float-input int8 model; channels=3 gives NHWC alone, and an
    NHWC 3-channel model (Transpose first, as Keras exports) gets its 4th channel the same way."""
    _, q, _ = _u8s8_pixels_model(tmp, "nhwc")
    u8 = Q.uint8_input(q.path, tmp / "nhwc_u8.onnx")
    out = Q.channels_last_input(u8, tmp / "nhwc_u8_last.onnx")
    m = onnx.load(str(out))
    assert [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim][1:] == [32, 48, 4]
    assert m.graph.node[0].op_type == "Transpose" and m.graph.node[0].input[0] == "images"
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    padded = [v for k, v in inits.items() if v.ndim == 4 and v.shape[1] == 4]
    assert len(padded) == 1 and not padded[0][:, 3].any()
    a, b = edgevision.Predictor(u8), edgevision.Predictor(out)
    cfg = b.config.to_dict()
    assert cfg["input"]["layout"] == "NHWC" and cfg["preprocess"]["zero_channels"] == 1
    assert cfg["quantization"]["channels_last_input"] and b.config.input_channels == 4
    rng = np.random.default_rng(8)
    pictures = [rng.integers(0, 256, (int(h), int(w), 3), np.uint8) for h, w in rng.integers(10, 300, (5, 2))]
    pictures.append(rng.integers(0, 256, (50, 70), np.uint8))  # gray: three equal colour channels
    for im in pictures:
        blob = b.preprocess([im])[0]
        assert blob.shape[-1] == 4 and not blob[..., 3].any()
        np.testing.assert_array_equal(a(im).keypoints, b(im).keypoints)
    # a float-input int8 model (input -> QuantizeLinear -> DequantizeLinear -> Conv): the kernel writes 0.0
    # in the 4th channel, which quantizes to the zero point, times zero weights
    fl = Q.channels_last_input(q.path, tmp / "nhwc_float_last.onnx")
    f = edgevision.Predictor(fl)
    assert f.runner.inputs[0].dtype == np.float32 and f.config.input_channels == 4
    for im in pictures:
        np.testing.assert_array_equal(edgevision.Predictor(q.path)(im).keypoints, f(im).keypoints)
    three = Q.channels_last_input(u8, tmp / "nhwc3.onnx", channels=3)
    c = edgevision.Predictor(three)
    assert tuple(c.runner.inputs[0].shape[1:]) == (32, 48, 3) and "zero_channels" not in c.config.preprocess
    np.testing.assert_array_equal(a(pictures[0]).keypoints, c(pictures[0]).keypoints)
    padded = Q.channels_last_input(three, tmp / "nhwc3_to_4.onnx")
    d = edgevision.Predictor(padded)
    assert tuple(d.runner.inputs[0].shape[1:]) == (32, 48, 4) and d.config.preprocess["zero_channels"] == 1
    assert [n.op_type for n in onnx.load(str(padded)).graph.node].count("Transpose") == 1  # the one it had
    for im in pictures:
        np.testing.assert_array_equal(a(im).keypoints, d(im).keypoints)


def test_channels_last_input_refuses_what_it_cannot_rewrite_exactly(tmp):
    """Refused, naming the argument, with nothing written: a float model (no quantized convolution reads
    its input), a model with 4 channels already, NHWC 3-channel with channels=3 (nothing to do), a
    channel count other than 3 or 4, and a model whose dequantized input feeds anything but the data
    input of a convolution; and the end-to-end check removes a model whose outputs differ."""
    from calibration._quantize.input_rewrites import _check_same_outputs

    src, q, _ = _u8s8_pixels_model(tmp, "refuse")
    u8 = Q.uint8_input(q.path, tmp / "refuse_u8.onnx")
    with pytest.raises(InvalidArgumentError, match="per-tensor QuantizeLinear"):
        Q.channels_last_input(src, tmp / "a.onnx")  # a float model: no quantized convolution reads the input
    last = Q.channels_last_input(u8, tmp / "refuse_last.onnx")
    with pytest.raises(InvalidArgumentError, match="expected 3"):
        Q.channels_last_input(last, tmp / "b.onnx")  # 4 channels already
    with pytest.raises(InvalidArgumentError, match="changes nothing"):
        Q.channels_last_input(Q.channels_last_input(u8, tmp / "nhwc3.onnx", channels=3), tmp / "e.onnx", channels=3)
    for bad in (5, 2, "4"):
        with pytest.raises(InvalidArgumentError, match="channels: expected 3 or 4"):
            Q.channels_last_input(u8, tmp / "c.onnx", channels=bad)
    m = onnx.load(str(u8))
    dq = next(n for n in m.graph.node if n.op_type == "DequantizeLinear" and n.input[0] == "images")
    m.graph.node.append(helper.make_node("Relu", [dq.output[0]], ["seen"], name="also_reads_the_input"))
    m.graph.output.append(helper.make_tensor_value_info("seen", TensorProto.FLOAT, None))
    onnx.save(m, str(tmp / "refuse_extra.onnx"))
    with pytest.raises(InvalidArgumentError, match="data input of Conv"):
        Q.channels_last_input(tmp / "refuse_extra.onnx", tmp / "d.onnx")
    assert not any((tmp / f"{x}.onnx").exists() for x in "abcde")

    # A first-convolution weight another node reads too: that convolution's dequantization gets a padded copy,
    # the other reader keeps the 3-channel original, and the outputs (its own included) stay the same
    m = onnx.load(str(u8))
    dq = next(n for n in m.graph.node if n.op_type == "DequantizeLinear" and n.input[0] == "images")
    conv = next(n for n in m.graph.node if dq.output[0] in n.input and n.op_type == "Conv")
    wdq = next(n for n in m.graph.node if n.output[0] == conv.input[1])
    m.graph.node.append(helper.make_node("Identity", [wdq.input[0]], ["w_seen"], name="also_reads_the_weight"))
    m.graph.output.append(helper.make_tensor_value_info("w_seen", TensorProto.INT8, [None, None, None, None]))
    onnx.save(m, str(tmp / "shared_w.onnx"))
    out = Q.channels_last_input(tmp / "shared_w.onnx", tmp / "shared_w_last.onnx")   # checked end to end
    g = onnx.load(str(out)).graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    wdq2 = next(n for n in g.node if n.name == wdq.name)
    assert wdq2.input[0] == wdq.output[0] + "_padded_weight" and inits[wdq2.input[0]].shape[1] == 4
    assert inits[wdq.input[0]].shape[1] == 3

    # A Shape of the dequantized input is fine when it does not read the channel count (the batch size)
    for attrs, ok in (({"start": 0, "end": 1}, True), ({}, False), ({"start": -3}, False), ({"start": 2}, True)):
        m = onnx.load(str(u8))
        dq = next(n for n in m.graph.node if n.op_type == "DequantizeLinear" and n.input[0] == "images")
        m.graph.node.append(helper.make_node("Shape", [dq.output[0]], ["dims"], name="dims", **attrs))
        m.graph.output.append(helper.make_tensor_value_info("dims", TensorProto.INT64, [None]))
        onnx.save(m, str(tmp / "shape.onnx"))
        if ok:
            Q.channels_last_input(tmp / "shape.onnx", tmp / "shape_last.onnx")  # checked end to end, outputs too
        else:
            with pytest.raises(InvalidArgumentError, match="Shape"):
                Q.channels_last_input(tmp / "shape.onnx", tmp / "shape_last.onnx")

    # The safety net: a "rewrite" whose outputs differ (here: another model entirely) is removed.
    other = tmp / "other.onnx"
    other.write_bytes(Path(src).read_bytes())
    with pytest.raises(QuantizationError, match="outputs differ"):
        _check_same_outputs(edgevision.Predictor(u8), other, 3, [], "channels_last_input", "the rewrite")
    assert not other.exists()
