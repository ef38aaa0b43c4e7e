"""training.keras_from_onnx: a Keras model recovered from its ONNX export (BatchNorms folded) computes the same."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import pytest  # noqa: E402

from edgevision.errors import InvalidArgumentError  # noqa: E402
from exporters import zoo  # noqa: E402
from exporters.keras_export import export_keras  # noqa: E402
from training.keras_from_onnx import _np, load_keras_from_onnx  # noqa: E402


def _built(arch, seed, **kw):
    keras.utils.set_random_seed(seed)
    b = zoo.build(arch, **kw)
    rng = np.random.default_rng(seed)
    for layer in b.model.layers:  # trained-looking BatchNorms, so that folding them changes the convolutions
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.gamma.assign(rng.uniform(0.5, 1.5, n).astype(np.float32))
            layer.beta.assign(rng.normal(0, 0.2, n).astype(np.float32))
            layer.moving_mean.assign(rng.normal(0, 0.3, n).astype(np.float32))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, n).astype(np.float32))
    return b


def _ort(path, x):
    so = ort.SessionOptions()
    so.log_severity_level = 3
    s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x})


@pytest.mark.parametrize("arch, kw, shape", [
    ("meter_digits", {"backbone_width": 4, "fpn_width": 16, "head_depth": 1}, (96, 256, 3)),   # FPN, shared heads
    ("meter_corners", {"pool": "heatmap", "backbone_width": 4, "hidden": 16, "size": 64, "dropout": 0.0},  # soft-argmax
     (64, 64, 3)),
    ("meter_digit_cls", {"width": 8, "pool": "rows"}, (32, 20, 3)),  # row pooling, flatten, dense
    ("siamese_xception_small", {"size": (32, 32), "width": 4, "middle": 1, "embedding_dim": 8},  # separable convs,
     (32, 32, 3)),                                                                               # residual adds
])
def test_recovered_model_computes_what_the_export_does(tmp_path, arch, kw, shape):
    src = _built(arch, 1, **kw)
    path = export_keras(src.model, tmp_path / "m.onnx", **src.export_kwargs()).path
    x = np.random.default_rng(0).random((16,) + shape).astype(np.float32)
    fresh = _built(arch, 2, **kw).model  # other weights, the same architecture
    before = fresh(x[:4], training=False)
    before = before if isinstance(before, (list, tuple)) else [before]
    want = _ort(path, x[:4])
    assert max(float(np.max(np.abs(_np(b) - w))) for b, w in zip(before, want)) > 1e-2
    res = load_keras_from_onnx(fresh, path, x)
    n_bn = sum(isinstance(layer, keras.layers.BatchNormalization) for layer in fresh.layers)
    assert res["batchnorms"] == n_bn > 0 and res["layers"] > n_bn // 2 and res["max_abs"] < 1e-3
    got = fresh(x[:4], training=False)
    got = got if isinstance(got, (list, tuple)) else [got]
    for g, w in zip(got, want):
        np.testing.assert_allclose(_np(g), w, rtol=1e-3, atol=1e-3 * max(1.0, np.abs(w).max()))
    # recalibrated: in training mode (batch statistics) on the calibration inputs it is still nearly the model
    for layer in fresh.layers:  # (dropout off: only the BatchNorms are compared)
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0
    train = fresh(x, training=True)
    train = train if isinstance(train, (list, tuple)) else [train]
    ref = _ort(path, x)
    for t, w in zip(train, ref):
        assert np.abs(_np(t) - w).max() <= 2e-3 * max(1.0, np.abs(w).max())


def test_separable_convolutions_map_onto_their_two_onnx_nodes(tmp_path):
    # A SeparableConv2D is a depthwise Conv feeding a pointwise Conv in the export: both kernels come back, and
    # a depthwise node with a bias (which a SeparableConv2D cannot hold) is refused rather than dropped.
    import onnx
    from onnx import numpy_helper

    kw = {"size": (32, 32), "width": 4, "middle": 0, "embedding_dim": 8}
    src = _built("siamese_xception_small", 1, **kw)
    path = export_keras(src.model, tmp_path / "m.onnx", **src.export_kwargs()).path
    x = np.random.default_rng(0).random((8, 32, 32, 3)).astype(np.float32)
    fresh = _built("siamese_xception_small", 2, **kw).model
    load_keras_from_onnx(fresh, path, x)
    for a, b in zip(src.model.layers, fresh.layers):
        if isinstance(a, keras.layers.SeparableConv2D):
            np.testing.assert_allclose(_np(b.depthwise_kernel), _np(a.depthwise_kernel), rtol=1e-5, atol=1e-6)
            assert _np(b.pointwise_kernel).shape == _np(a.pointwise_kernel).shape
    m = onnx.load(str(path))
    inits = {i.name: i for i in m.graph.initializer}
    dw = next(n for n in m.graph.node if n.op_type == "Conv"
              and any(at.name == "group" and at.i > 1 for at in n.attribute))
    c = numpy_helper.to_array(inits[dw.input[1]]).shape[0]
    bias = numpy_helper.from_array(np.full(c, 0.5, np.float32), "dw_bias_test")
    m.graph.initializer.append(bias)
    if len(dw.input) > 2:
        dw.input[2] = "dw_bias_test"
    else:
        dw.input.append("dw_bias_test")
    onnx.save(m, str(tmp_path / "biased.onnx"))
    with pytest.raises(InvalidArgumentError, match="depthwise half"):
        load_keras_from_onnx(_built("siamese_xception_small", 3, **kw).model, tmp_path / "biased.onnx", x)


def test_another_architecture_is_refused(tmp_path):
    src = _built("meter_corners", 1, backbone_width=4, hidden=16, size=64)
    path = export_keras(src.model, tmp_path / "m.onnx", **src.export_kwargs()).path
    x = np.zeros((2, 64, 64, 3), np.float32)
    wider = _built("meter_corners", 2, backbone_width=8, hidden=16, size=64).model
    with pytest.raises(InvalidArgumentError, match="not the same architecture"):
        load_keras_from_onnx(wider, path, x)
    with pytest.raises(InvalidArgumentError, match="inputs: expected a non-empty"):
        load_keras_from_onnx(wider, path, np.zeros((0, 64, 64, 3), np.float32))
