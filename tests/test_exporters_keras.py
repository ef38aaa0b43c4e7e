"""Keras 3 -> ONNX (exporters.keras_export) and the Keras zoo (exporters.zoo.keras_models).

Keras runs on its torch backend (no TensorFlow). Every zoo model is exported
once per module (fixtures), checked for parity by the exporter, and then run
through ``edgevision.Predictor(path)`` with no overrides: its decoded results
must equal decoding the Keras model's own output with ``edgevision.decoders``.
Sizes are small so that the file stays fast (the Xception export dominates).
"""

from __future__ import annotations

import contextlib
import os
import warnings

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import pytest  # noqa: E402
from keras import layers, ops  # noqa: E402

import edgevision  # noqa: E402
from edgevision import decoders  # noqa: E402
from edgevision.config import ModelConfig  # noqa: E402
from edgevision.errors import InvalidArgumentError, InvalidTypeError, ModelLoadError, ModelNotFoundError  # noqa: E402
import exporters  # noqa: E402
from exporters import zoo  # noqa: E402
from exporters.errors import ExportError, ParityError, UnsupportedOperatorError, WeightsError  # noqa: E402
from exporters.finalize import procedural_images  # noqa: E402
from exporters.keras_export import export_keras, import_keras, load_keras_weights  # noqa: E402
from exporters.zoo.keras_models import CORNER_NAMES, retinanet_anchors  # noqa: E402


def _session(path) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


@contextlib.contextmanager
def keras_numpy2():
    """For test code calling keras directly: keras 3.15's torch variables trip NumPy 2's
    ``__array__(copy=)`` DeprecationWarning (predict, get_weights, save...). Only that one is ignored;
    the library functions under test silence it themselves."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"__array__ implementation doesn't accept a copy keyword",
                                category=DeprecationWarning)
        yield


def _keras_out(model, blob) -> list[np.ndarray]:
    """The Keras model's own ``predict`` (its outputs as a list of arrays)."""
    with keras_numpy2():
        out = model.predict(blob, batch_size=len(blob), verbose=0)
    return [np.asarray(o) for o in (out if isinstance(out, list) else [out])]


def _images(n=2, size=(150, 210), seed=3) -> list[np.ndarray]:
    return procedural_images(n, size, seed=seed)


def _blob(path, images):
    size, kw = ModelConfig.read(path).preprocess_kwargs()
    return edgevision.letterbox_batch(images, size, **kw)


def _build(arch, seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    return zoo.build(arch, **kwargs)


# --- the three zoo models, exported once each ------------------------------------------------


@pytest.fixture(scope="module")
def corners(tmp_path_factory):
    built = _build("meter_corners", backbone_width=8, hidden=32)
    res = export_keras(built.model, tmp_path_factory.mktemp("kc") / "corners.onnx", **built.export_kwargs())
    return built, res


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    built = _build("meter_digits", backbone_width=8, fpn_width=32, head_depth=1)
    # An untrained RetinaNet head scores every anchor at the prior (no detection) with near-identical boxes
    # (its convs start at std 0.01). Spread the head so that boxes, scores and NMS all have work to do:
    # a few dozen candidates above conf_threshold per image, scores well apart (no ties to break).
    rng = np.random.default_rng(0)
    for name, std, bias in (("class_head_conv0", None, None), ("box_head_conv0", None, None),
                            ("class_head_out", 0.06, -2.0), ("box_head_out", 0.06, 0.0)):
        layer = built.model.get_layer(name)
        with keras_numpy2():
            k, b = layer.get_weights()
            std = np.sqrt(2 / np.prod(k.shape[:3])) if std is None else std
            layer.set_weights([rng.normal(0, std, k.shape).astype(np.float32), b if bias is None else b * 0 + bias])
    res = export_keras(built.model, tmp_path_factory.mktemp("kd") / "digits.onnx", **built.export_kwargs())
    return built, res


@pytest.fixture(scope="module")
def xception(tmp_path_factory):
    built = _build("siamese_xception", embedding_dim=32)
    res = export_keras(built.model, tmp_path_factory.mktemp("kx") / "xception.onnx", **built.export_kwargs())
    return built, res


def test_meter_corners_predictor_matches_keras(corners):
    built, res = corners
    assert res.parity is not None and res.parity.ok
    assert {r.inputs for r in res.parity.rows} == {"random", "representative"}
    assert [o["name"] for o in res.info["outputs"]] == ["corners", "screen_class"]
    cfg = ModelConfig.read(res.path)
    assert cfg.task == "keypoints" and list(cfg.labels) == ["analog", "digital", "illegible"]
    assert cfg.decoder["num_keypoints"] == 4 and list(cfg.decoder["names"]) == list(CORNER_NAMES)
    images = _images()
    blob, transforms = _blob(res.path, images)
    k_corners, k_class = _keras_out(built.model, blob)
    assert k_corners.shape == (2, 8) and k_class.shape == (2, 3)
    np.testing.assert_allclose(k_class.sum(1), 1, atol=1e-5)
    want = decoders.decode_keypoints(k_corners, transforms, num_keypoints=4, normalized=True,
                                     names=list(CORNER_NAMES), classes=k_class, labels=list(cfg.labels))
    assert cfg.decoder["class_output"] == "screen_class"
    got = edgevision.Predictor(res.path)(images)
    for w, g, kc in zip(want, got, k_class):
        assert g.names == tuple(CORNER_NAMES)
        np.testing.assert_allclose(g.keypoints, w.keypoints, atol=1e-3)  # source-image pixels
        assert g.label == cfg.labels[int(kc.argmax())] and g.class_id == int(kc.argmax())
        assert g.score == pytest.approx(float(kc.max()), abs=1e-4)
        assert g.orig_shape == images[0].shape[:2]
    # the second output (screen class) is in the ONNX model too
    np.testing.assert_allclose(_session(res.path).run(None, {"images": blob})[1], k_class, atol=1e-5)
    # every BatchNormalization (Sub, Mul, Add on the NHWC tensor after its Conv) is folded into the Conv
    ops = [n.op_type for n in onnx.load(str(res.path)).graph.node]
    # (fresh BatchNorms: onnxslim has already dropped the Sub of a zero mean and the Add of a zero beta)
    assert res.info["folded_affine_ops"] >= ops.count("Conv") > 0 and "Sub" not in ops and "Mul" not in ops


def _soft_argmax_reference(logits: np.ndarray) -> np.ndarray:
    """Expected cell centre of each channel's softmax, by loops (the layer's independent reference)."""
    n, h, w, k = logits.shape
    out = np.zeros((n, 2 * k))
    for i in range(n):
        for c in range(k):
            z = logits[i, :, :, c].astype(np.float64)
            p = np.exp(z - z.max())
            p /= p.sum()
            for r in range(h):
                for q in range(w):
                    out[i, 2 * c] += p[r, q] * (q + 0.5) / w
                    out[i, 2 * c + 1] += p[r, q] * (r + 0.5) / h
    return out


def test_soft_argmax_is_the_expected_cell_centre():
    from exporters.zoo.keras_models import SoftArgmax2D

    layer = SoftArgmax2D()
    peaked = np.zeros((1, 4, 8, 2), np.float32)
    peaked[0, 1, 6, 0] = 60.0                      # channel 0: all its mass on row 1, column 6
    peaked[0, 3, 0, 1] = peaked[0, 3, 2, 1] = 60.0  # channel 1: split between columns 0 and 2 of row 3
    got = np.asarray(layer(peaked))
    np.testing.assert_allclose(got, [[6.5 / 8, 1.5 / 4, 1.5 / 8, 3.5 / 4]], atol=1e-6)
    np.testing.assert_allclose(np.asarray(layer(np.zeros((2, 4, 8, 3), np.float32))), 0.5, atol=1e-6)  # flat: centre
    logits = np.random.default_rng(0).normal(0, 3, (3, 5, 7, 4)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(layer(logits)), _soft_argmax_reference(logits), atol=1e-5)
    assert layer.compute_output_shape((None, 5, 7, 4)) == (None, 8)


def test_meter_corners_heatmap_head_exports_and_decodes(tmp_path):
    built = _build("meter_corners", pool="heatmap", backbone_width=4, hidden=16, size=64)
    train_model = built.notes["training_model"]
    images = _images()
    res = export_keras(built.model, tmp_path / "hm.onnx", **built.export_kwargs())
    assert res.parity.ok and [o["name"] for o in res.info["outputs"]] == ["corners", "screen_class"]
    blob, transforms = _blob(res.path, images)
    k_corners, k_class = _keras_out(built.model, blob)
    t_corners, t_class, t_logits = _keras_out(train_model, blob)  # the same layers, and the heatmaps
    assert t_logits.shape == (2, 8, 8, 4)
    np.testing.assert_allclose(t_corners, k_corners, atol=1e-6)
    np.testing.assert_allclose(k_corners, _soft_argmax_reference(t_logits), atol=1e-5)
    cfg = ModelConfig.read(res.path)
    want = decoders.decode_keypoints(k_corners, transforms, num_keypoints=4, normalized=True,
                                     names=list(CORNER_NAMES), classes=k_class, labels=list(cfg.labels))
    for w, g in zip(want, edgevision.Predictor(res.path)(images)):
        np.testing.assert_allclose(g.keypoints, w.keypoints, atol=1e-3)
        assert g.label == w.label
    with pytest.raises(InvalidArgumentError, match="multiple of 32"):
        zoo.build("meter_corners", pool="heatmap", size=(80, 64))
    with pytest.raises(InvalidArgumentError, match="'avg', 'flatten' or 'heatmap'"):
        zoo.build("meter_corners", pool="max")


@pytest.mark.parametrize("pool", ["avg", "rows", "flatten"])
def test_meter_digit_cls_pools_export_and_classify(pool, tmp_path):
    built = _build("meter_digit_cls", width=4, pool=pool)
    dense = built.model.get_layer("probs")
    # 32x20 -> an 8x5 map of 16 channels: pooled to 16, one 16-vector a row, or every cell
    assert dense.kernel.shape[0] == {"avg": 16, "rows": 8 * 16, "flatten": 8 * 5 * 16}[pool]
    res = export_keras(built.model, tmp_path / f"{pool}.onnx", **built.export_kwargs())
    assert res.parity.ok
    crops = [np.random.default_rng(i).integers(0, 255, (32, 20, 3), dtype=np.uint8) for i in range(3)]
    p = edgevision.Predictor(res.path)
    blob, _ = p.preprocess(crops)
    (k_probs,) = _keras_out(built.model, blob)
    np.testing.assert_allclose(np.asarray(p.infer(blob)[0]), k_probs, atol=1e-5)
    assert [r.labels[0] for r in p(crops)] == [str(i) for i in k_probs.argmax(1)]


def test_meter_digit_cls_pool_is_checked():
    with pytest.raises(InvalidArgumentError, match="pool: expected one of avg, rows, flatten, got 'max'"):
        zoo.build("meter_digit_cls", pool="max")


def test_meter_digits_predictor_matches_keras(digits):
    built, res = digits
    assert res.parity.ok
    h, w = 96, 256
    anchors = built.notes["anchors"]
    assert [o["shape"] for o in res.info["outputs"]] == [["batch", 4 + 11, len(anchors)]]
    cfg = ModelConfig.read(res.path)
    assert cfg.task == "detection" and cfg.decoder["layout"] == "yolov8"
    assert list(cfg.labels) == [str(i) for i in range(10)] + ["decimal"]
    images = _images(2, (120, 330), seed=5)
    blob, transforms = _blob(res.path, images)
    assert blob.shape == (2, h, w, 3)
    (k_out,) = _keras_out(built.model, blob)
    d = cfg.decoder
    want = decoders.decode_detection(k_out, transforms, layout="yolov8", conf_threshold=d["conf_threshold"],
                                     iou_threshold=d["iou_threshold"], max_det=d["max_det"], labels=cfg.labels)
    got = edgevision.Predictor(res.path)(images)
    assert all(len(r) >= 3 for r in want)  # the comparison is not vacuous
    for wr, gr in zip(want, got):
        assert len(gr) == len(wr)
        np.testing.assert_array_equal(gr.classes, wr.classes)  # both by decreasing score
        assert gr.labels == wr.labels
        np.testing.assert_allclose(gr.scores, wr.scores, atol=1e-5)
        np.testing.assert_allclose(gr.boxes, wr.boxes, atol=1e-3)  # source-image pixels


def test_meter_digits_decodes_anchor_deltas_in_graph(digits):
    """Zero deltas give the anchors; the training model's raw outputs decode to the inference output."""
    built, _ = digits
    anchors = built.notes["anchors"]
    blob = np.random.default_rng(1).standard_normal((1, 96, 256, 3)).astype(np.float32)
    deltas, logits = _keras_out(built.notes["training_model"], blob)
    (out,) = _keras_out(built.model, blob)
    var = np.array(built.notes["box_variance"], np.float32)
    d = deltas[0] * var
    cxcy = anchors[:, :2] + d[:, :2] * anchors[:, 2:]
    wh = anchors[:, 2:] * np.exp(d[:, 2:])
    np.testing.assert_allclose(out[0, :4].T, np.concatenate([cxcy, wh], 1), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(out[0, 4:].T, 1 / (1 + np.exp(-logits[0])), atol=1e-6)
    zero = keras.Model(built.model.inputs, built.model.get_layer("detections")(
        ops.zeros_like(built.notes["training_model"].outputs[0]), built.notes["training_model"].outputs[1]))
    np.testing.assert_allclose(_keras_out(zero, blob)[0][0, :4].T, anchors, rtol=1e-6)


def test_retinanet_anchors_layout():
    a = retinanet_anchors((96, 256), strides=(8, 16, 32), scales=(1.0, 2.0), ratios=(1.0, 2.0))
    per_cell = 4
    assert a.shape == ((12 * 32 + 6 * 16 + 3 * 8) * per_cell, 4) and a.dtype == np.float32
    # first cell of stride 8: centre (4, 4), base 32 px; ratio = height / width
    np.testing.assert_allclose(a[:4], [[4, 4, 32, 32], [4, 4, 32 / np.sqrt(2), 32 * np.sqrt(2)],
                                       [4, 4, 64, 64], [4, 4, 64 / np.sqrt(2), 64 * np.sqrt(2)]], rtol=1e-6)
    np.testing.assert_allclose(a[per_cell, :2], [12, 4])          # next cell: x first (row-major)
    np.testing.assert_allclose(a[32 * per_cell, :2], [4, 12])     # second row of stride 8
    np.testing.assert_allclose(a[-1], [240, 80, 128 / np.sqrt(2) * 2, 128 * np.sqrt(2) * 2], rtol=1e-6)


def test_siamese_xception_predictor_matches_keras(xception):
    built, res = xception
    assert res.parity.ok
    cfg = ModelConfig.read(res.path)
    assert cfg.task == "embedding" and cfg.decoder["normalize"] is True
    images = _images(2, (90, 80), seed=7)
    blob, _ = _blob(res.path, images)
    (k_emb,) = _keras_out(built.model, blob)
    np.testing.assert_allclose(np.linalg.norm(k_emb, axis=1), 1, atol=1e-5)  # L2-normalized in the graph
    want = decoders.decode_embedding(k_emb, normalize=True)
    got = edgevision.Predictor(res.path)(images)
    for w, g in zip(want, got):
        assert g.vector.shape == (32,)
        np.testing.assert_allclose(g.vector, w.vector, atol=1e-5)
    assert not np.allclose(got[0].vector, got[1].vector, atol=1e-3)  # different images, different embeddings


@pytest.mark.parametrize("which", ["corners", "digits", "xception"])
def test_batch_axis_is_dynamic_and_nhwc(which, request):
    built, res = request.getfixturevalue(which)
    h, w, c = built.input_shape
    model = onnx.load(str(res.path), load_external_data=False)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [h, w, c]
    assert ModelConfig.read(res.path).layout == "NHWC"
    sess = _session(res.path)
    rng = np.random.default_rng(2)
    for n in (1, 3):
        x = rng.standard_normal((n, h, w, c)).astype(np.float32)
        for got, want in zip(sess.run(None, {"images": x}), _keras_out(built.model, x)):
            assert got.shape[0] == n
            np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-3)
    p = edgevision.Predictor(res.path)
    blob, _ = p.preprocess(_images(1))
    assert blob.shape == (1, h, w, c)  # the kernel writes NHWC


# --- files, weights, exporters ----------------------------------------------------------------


def _tiny(extra=None, name="extra", size=16):
    """A small model with strided "same" conv and pooling: the case Keras' own torch export fails on."""
    i = keras.Input((size, size, 3), name="images")
    y = layers.Conv2D(4, 3, strides=2, padding="same", name="conv")(i)    # even input: asymmetric padding
    y = layers.BatchNormalization(name="bn")(y)
    y = layers.MaxPooling2D(3, strides=2, padding="same", name="pool")(y)
    if extra is not None:
        y = extra(name=name)(y)
    y = layers.GlobalAveragePooling2D(name="gap")(y)
    y = layers.Dense(5, name="logits")(y)
    return keras.Model(i, y)


TINY_KW = {"task": "classification", "preprocess": {"size": [16, 16], "swap_rb": True}}


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_both_exporters_handle_strided_same_padding(exporter, tmp_path):
    keras.utils.set_random_seed(1)
    model = _tiny()
    res = export_keras(model, tmp_path / "tiny.onnx", exporter=exporter, **TINY_KW)
    assert res.parity.ok and res.info["exporter"] == exporter
    x = np.random.default_rng(0).standard_normal((1, 16, 16, 3)).astype(np.float32)
    np.testing.assert_allclose(_session(res.path).run(None, {"images": x})[0], _keras_out(model, x)[0], atol=1e-5)
    assert [o["name"] for o in res.info["outputs"]] == ["logits"]
    with keras_numpy2():  # the model is left as it was: still callable, still in inference mode for predict
        np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x, training=False)), _keras_out(model, x)[0])


def test_export_from_keras_file(tmp_path):
    keras.utils.set_random_seed(4)
    model = _tiny()
    path = tmp_path / "tiny.keras"
    with keras_numpy2():
        model.save(path)
    res = export_keras(path, tmp_path / "from_file.onnx", **TINY_KW)
    assert res.parity.ok and ModelConfig.read(res.path).layout == "NHWC"
    umask = os.umask(0)
    os.umask(umask)
    assert res.path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    x = np.random.default_rng(0).standard_normal((2, 16, 16, 3)).astype(np.float32)
    np.testing.assert_allclose(_session(res.path).run(None, {"images": x})[0], _keras_out(model, x)[0], atol=1e-5)


def test_meter_digits_saves_and_loads_with_its_custom_layer(digits, tmp_path):
    built, _ = digits
    path = tmp_path / "digits.keras"
    with keras_numpy2():
        built.model.save(path)
        loaded = keras.saving.load_model(path, compile=False)
    x = np.random.default_rng(0).standard_normal((1, 96, 256, 3)).astype(np.float32)
    np.testing.assert_allclose(_keras_out(loaded, x)[0], _keras_out(built.model, x)[0], atol=1e-6)


def test_export_arch_loads_keras_weights(tmp_path):
    src = _build("meter_corners", seed=5, backbone_width=4, hidden=16, size=64).model
    weights = tmp_path / "src.weights.h5"
    with keras_numpy2():
        src.save_weights(weights)
    keras.utils.set_random_seed(6)  # the model export_arch builds starts with other weights
    res = exporters.export_arch("meter_corners", tmp_path / "arch.onnx", weights=weights,
                                arch_kwargs={"backbone_width": 4, "hidden": 16, "size": 64})
    x = np.random.default_rng(0).standard_normal((2, 64, 64, 3)).astype(np.float32)
    for got, want in zip(_session(res.path).run(None, {"images": x}), _keras_out(src, x)):
        np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("kind", [".weights.h5", ".keras"])
def test_load_keras_weights_roundtrip(kind, tmp_path):
    a = _build("meter_corners", seed=7, backbone_width=4, hidden=16, size=64).model
    b = _build("meter_corners", seed=8, backbone_width=4, hidden=16, size=64).model
    path = tmp_path / f"a{kind}"
    with keras_numpy2():
        a.save_weights(path) if kind == ".weights.h5" else a.save(path)
    x = np.random.default_rng(0).standard_normal((1, 64, 64, 3)).astype(np.float32)
    assert not np.allclose(_keras_out(a, x)[0], _keras_out(b, x)[0])
    assert load_keras_weights(b, path) is b
    np.testing.assert_allclose(_keras_out(b, x)[0], _keras_out(a, x)[0], atol=1e-6)


def _dense(n_out=8, extra=False):
    i = keras.Input((6,))
    y = layers.Dense(4, name="first")(i)
    y = layers.Dense(n_out, name="second")(y)
    if extra:
        y = layers.Dense(3, name="third")(y)
    return keras.Model(i, y, name="dense_net")


def test_load_keras_weights_wrong_architecture(tmp_path):
    path = tmp_path / "small.weights.h5"
    with keras_numpy2():
        _dense().save_weights(path)
    with pytest.raises(WeightsError) as ei:  # a layer more in the model
        load_keras_weights(_dense(extra=True), path)
    e = ei.value
    assert e.missing == ["layers/dense_2/vars/0", "layers/dense_2/vars/1"] and not e.unexpected
    assert "third/kernel" in str(e) and "third/bias" in str(e) and str(path) in str(e)
    with pytest.raises(WeightsError) as ei:  # a layer less
        big = tmp_path / "big.weights.h5"
        with keras_numpy2():
            _dense(extra=True).save_weights(big)
        load_keras_weights(_dense(), big)
    assert ei.value.unexpected == ["layers/dense_2/vars/0", "layers/dense_2/vars/1"] and not ei.value.missing
    assert "layers/dense_2/vars/0 (third/0)" in str(ei.value)  # the file names the layer, not its variables
    with pytest.raises(WeightsError) as ei:  # same layers, other shapes
        load_keras_weights(_dense(n_out=5), path)
    assert ei.value.mismatched == [("layers/dense_1/vars/0", (4, 8), (4, 5)), ("layers/dense_1/vars/1", (8,), (5,))]
    assert "second/kernel" in str(ei.value) and "(4, 8)" in str(ei.value)
    with pytest.raises(WeightsError) as ei:  # another architecture altogether, from a .keras file
        k = tmp_path / "dense.keras"
        with keras_numpy2():
            _dense().save(k)
        load_keras_weights(_build("meter_corners", backbone_width=4, hidden=16, size=64).model, k)
    assert len(ei.value.missing) > 10 and "meter_corners" in str(ei.value)


def test_load_keras_weights_bad_files(tmp_path):
    model = _dense()
    with pytest.raises(WeightsError, match="no such file"):
        load_keras_weights(model, tmp_path / "nope.weights.h5")
    bad = tmp_path / "bad.weights.h5"
    bad.write_bytes(b"certainly not HDF5")
    with pytest.raises(WeightsError, match="bad.weights.h5: not an HDF5 weights file"):
        load_keras_weights(model, bad)
    bad_zip = tmp_path / "bad.keras"
    bad_zip.write_bytes(b"not a zip")
    with pytest.raises(WeightsError, match="bad.keras: not a .keras archive"):
        load_keras_weights(model, bad_zip)
    legacy = tmp_path / "legacy.h5"  # Keras 2 files go to Keras as they are; its failure is wrapped
    legacy.write_bytes(b"not HDF5 either")
    with pytest.raises(WeightsError, match="legacy.h5: Keras could not load it into model 'dense_net'"):
        load_keras_weights(model, legacy)
    other = tmp_path / "w.pt"
    other.write_bytes(b"x")
    with pytest.raises(WeightsError, match=r"expected a \.weights\.h5 or \.keras file"):
        load_keras_weights(model, other)
    with pytest.raises(InvalidTypeError, match="model: expected a keras.Model"):
        load_keras_weights(object(), bad)


# --- errors -----------------------------------------------------------------------------------


class Eigh(layers.Layer):
    """Eigenvalues of the channel Gram matrix: aten::linalg_eigh has no ONNX conversion."""

    def call(self, x):
        f = ops.reshape(x, (ops.shape(x)[0], -1, x.shape[-1]))
        w, _ = ops.eigh(ops.matmul(ops.transpose(f, (0, 2, 1)), f))
        return ops.reshape(w, (ops.shape(x)[0], 1, 1, -1))


class BakedMean(layers.Layer):
    """Reads a tensor into Python: the tracer bakes the trace input's mean in as a constant."""

    def call(self, x):
        return x - float(ops.convert_to_numpy(ops.mean(x)))

    def compute_output_shape(self, input_shape):
        return input_shape


def test_unsupported_layer_is_named(tmp_path):
    out = tmp_path / "eigh.onnx"
    with pytest.raises(UnsupportedOperatorError) as ei:
        export_keras(_tiny(Eigh, "gram_eigh"), out, **TINY_KW)
    e = ei.value
    assert e.operator == "aten::linalg_eigh"
    assert e.layers == ["gram_eigh (Eigh)"]
    assert "gram_eigh (Eigh)" in str(e) and "linalg_eigh" in str(e)
    assert not out.exists() and not list(tmp_path.iterdir())  # no file, no temporary left behind


def test_parity_failure_reports_numbers(tmp_path):
    out = tmp_path / "baked.onnx"
    with pytest.raises(ParityError) as ei:
        export_keras(_tiny(BakedMean, "baked"), out, **TINY_KW)
    e = ei.value
    assert not e.report.ok and e.report.max_abs > 1e-3
    assert "max_abs=" in str(e) and "FAIL" in str(e) and str(out) in str(e)
    assert not out.exists() and not list(tmp_path.iterdir())


def test_parity_tolerance_is_applied(tmp_path, monkeypatch):
    """A reference that differs by 1e-3 fails at the default tolerance (monkeypatched predict)."""
    model = _tiny()
    real = model.predict
    monkeypatch.setattr(model, "predict", lambda x, **kw: real(x, **kw) + 1e-2)
    with pytest.raises(ParityError, match=r"max_abs=1\.000e-02"):
        export_keras(model, tmp_path / "t.onnx", **TINY_KW)


def test_bad_arguments(tmp_path):
    model = _tiny()
    out = tmp_path / "m.onnx"
    with pytest.raises(InvalidArgumentError, match="layout: expected 'NHWC'"):
        export_keras(model, out, layout="NCWH", **TINY_KW)
    with pytest.raises(InvalidArgumentError, match="preprocess: expected a dict with at least 'size'"):
        export_keras(model, out, task="classification", preprocess={"swap_rb": True})
    with pytest.raises(InvalidArgumentError, match=r"preprocess/layout: the model takes images of shape \(N, 16, 16, 3\)"):
        export_keras(model, out, task="classification", preprocess={"size": [16, 16]}, layout="NCHW")
    with pytest.raises(InvalidArgumentError, match=r"preprocess size \[32, 32\]"):
        export_keras(model, out, task="classification", preprocess={"size": [32, 32]})
    with pytest.raises(InvalidArgumentError, match="exporter: expected one of"):
        export_keras(model, out, exporter="tf2onnx", **TINY_KW)
    with pytest.raises(InvalidArgumentError, match="out: expected a path ending in .onnx"):
        export_keras(model, tmp_path / "m.pb", **TINY_KW)
    with pytest.raises(InvalidArgumentError, match="output_names: the model returns 1 outputs, got 2 names"):
        export_keras(model, out, output_names=["a", "b"], **TINY_KW)
    with pytest.raises(InvalidArgumentError, match="output_names: expected distinct non-empty strings"):
        export_keras(model, out, output_names=["images"], **TINY_KW)
    with pytest.raises(InvalidTypeError, match="opset: expected an int"):
        export_keras(model, out, opset="18", **TINY_KW)
    with pytest.raises(InvalidArgumentError, match="opset: expected 13..23"):
        export_keras(model, out, opset=9, **TINY_KW)
    with pytest.raises(InvalidTypeError, match="model: expected a keras.Model or the path of a .keras file"):
        export_keras(object(), out, **TINY_KW)
    with pytest.raises(ModelNotFoundError, match="missing.keras: no such file"):
        export_keras(tmp_path / "missing.keras", out, **TINY_KW)
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a keras archive")
    with pytest.raises(ModelLoadError, match="broken.keras: keras.saving.load_model cannot read it"):
        export_keras(broken, out, **TINY_KW)
    assert not list(tmp_path.glob("*.onnx"))


def test_two_input_model_is_refused(tmp_path):
    a, b = keras.Input((16, 16, 3), name="a"), keras.Input((16, 16, 3), name="b")
    model = keras.Model([a, b], layers.Add()([a, b]))
    with pytest.raises(InvalidArgumentError, match="model: expected a model with one image input, it has 2"):
        export_keras(model, tmp_path / "two.onnx", task="raw", preprocess={"size": [16, 16]})


def test_keras_on_another_backend_is_refused(monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "tensorflow")
    with pytest.raises(ExportError, match="'tensorflow' backend.*KERAS_BACKEND=torch"):
        import_keras()


def test_zoo_builders_validate_arguments():
    with pytest.raises(InvalidArgumentError, match="size: height and width must be multiples of 32"):
        zoo.build("meter_digits", size=(100, 256))
    with pytest.raises(InvalidArgumentError, match="size: height and width must be at least 71"):
        zoo.build("siamese_xception", size=64)
    with pytest.raises(InvalidArgumentError, match="labels: required when num_classes"):
        zoo.build("meter_digits", num_classes=3)
    with pytest.raises(InvalidArgumentError, match="backbone_width: expected a positive int"):
        zoo.build("meter_corners", backbone_width=0)
    assert set(zoo.names("keras")) == {"meter_corners", "meter_digits", "meter_digit_cls", "siamese_xception",
                                       "siamese_xception_small"}


def test_cli_exports_a_keras_file(tmp_path, capsys):
    from exporters.__main__ import main as cli

    inp = keras.Input((32, 32, 3))
    x = layers.Conv2D(4, 3, strides=2, activation="relu")(inp)
    x = layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, layers.Dense(3)(x))
    with keras_numpy2():
        model.save(tmp_path / "m.keras")
    out = tmp_path / "m.onnx"
    assert cli(["keras", str(tmp_path / "m.keras"), "--task", "classification", "--size", "32", "32",
                "--labels", "a", "b", "c", "--out", str(out)]) == 0
    assert "parity" in capsys.readouterr().out
    cfg = ModelConfig.read(out)
    assert cfg.task == "classification" and cfg.layout == "NHWC" and cfg.labels == ("a", "b", "c")
    r = edgevision.Predictor(str(out))(np.zeros((40, 50, 3), np.uint8))
    assert r.labels[0] in ("a", "b", "c")
    # a .keras file without the task/size it needs
    assert cli(["keras", str(tmp_path / "m.keras"), "--out", str(tmp_path / "x.onnx")]) == 2
    assert "--task and --size" in capsys.readouterr().err
