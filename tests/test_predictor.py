"""Predictor: self-describing models, overrides, batching, threads, every decoder, errors, CLI.

Models come from tests/models.py (tiny ONNX graphs built with onnx.helper).
Where a model computes something from its input, the Predictor is compared with
the hand-written pipeline: the kernel, a raw onnxruntime session, and the
expected decoding through the letterbox transform.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto

import edgevision as ev
from edgevision.config import ModelConfig
from edgevision.errors import (
    ConfigMismatchError,
    EdgeVisionError,
    ImageReadError,
    InvalidArgumentError,
    InvalidMetadataError,
    InvalidTypeError,
    MissingConfigError,
    ModelLoadError,
    ModelNotFoundError,
    UnsupportedSchemaError,
)
from edgevision.predictor import Predictor

import models  # tests/models.py

KP_META = {"schema": 1, "task": "keypoints", "preprocess": {"size": [64, 96], "swap_rb": True, "mean": [0.5, 0.4, 0.3],
                                                            "std": [0.2, 0.25, 0.3]},
           "decoder": {"num_keypoints": 4, "names": ["tl", "tr", "br", "bl"]}}


def image(h: int, w: int, seed: int = 0, c: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (h, w) if c == 1 else (h, w, c)
    return rng.integers(0, 256, shape, dtype=np.uint8)


@pytest.fixture(scope="module")
def tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("predictor")


@pytest.fixture(scope="module")
def kp_path(tmp) -> str:
    path = models.save(models.keypoints_model(64, 96), tmp / "kp.onnx")
    ModelConfig.from_dict(KP_META).write(path)
    return path


@pytest.fixture(scope="module")
def kp(kp_path) -> Predictor:
    return Predictor(kp_path)


def manual_keypoints(path: str, img: np.ndarray, cfg: ModelConfig) -> np.ndarray:
    size, kw = cfg.preprocess_kwargs()
    blob, t = ev.letterbox(img, size, **kw)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    out = sess.run(None, {"images": blob})[0]
    np.testing.assert_allclose(out, models.expected_keypoints(blob), rtol=1e-4, atol=1e-5)
    return t.to_source(out.reshape(4, 2).astype(np.float64), normalized=True)


# --- self-describing models and the hand-written pipeline ---------------------------


@pytest.mark.parametrize("shape", [(300, 500), (97, 61), (64, 96), (1, 1), (1080, 1920)])
def test_keypoints_equal_the_hand_written_pipeline(kp, kp_path, shape):
    img = image(*shape, seed=shape[0])
    r = kp(img)
    assert isinstance(r, ev.KeypointsResult)
    assert r.keypoints.shape == (4, 2)
    np.testing.assert_allclose(r.keypoints, manual_keypoints(kp_path, img, kp.config), rtol=1e-6, atol=1e-6)
    assert r.orig_shape == shape


def test_path_and_array_give_the_same_result(kp, tmp):
    img = image(120, 200, seed=3)
    path = tmp / "frame.png"
    assert cv2.imwrite(str(path), img)
    np.testing.assert_array_equal(kp(str(path)).keypoints, kp(img).keypoints)
    np.testing.assert_array_equal(kp(path).keypoints, kp(img).keypoints)  # pathlib.Path too


def test_list_of_images_of_different_sizes_equals_single_calls(kp):
    imgs = [image(50 + 17 * i, 80 + 31 * i, seed=i) for i in range(5)]
    batch = kp(imgs)
    assert isinstance(batch, list) and len(batch) == 5
    for im, r in zip(imgs, batch):
        np.testing.assert_allclose(r.keypoints, kp(im).keypoints, rtol=1e-6, atol=1e-6)


def test_fixed_batch_axis_is_chunked(tmp):
    path = models.save(models.keypoints_model(64, 96, batch=1), tmp / "kp_b1.onnx")
    ModelConfig.from_dict(KP_META).write(path)
    p = Predictor(path)
    imgs = [image(90, 120, seed=i) for i in range(3)]
    out = p(imgs)
    assert len(out) == 3
    for im, r in zip(imgs, out):
        np.testing.assert_allclose(r.keypoints, manual_keypoints(path, im, p.config), rtol=1e-6, atol=1e-6)


def test_eight_threads_sharing_one_predictor_get_identical_results(kp):
    imgs = [image(100 + 13 * i, 160 + 7 * i, seed=i) for i in range(16)]
    serial = [kp(im).keypoints for im in imgs]
    with ThreadPoolExecutor(8) as ex:
        for _ in range(3):
            parallel = list(ex.map(lambda im: kp(im).keypoints, imgs))
            for a, b in zip(serial, parallel):
                np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("threads", [None, 1, 2])
def test_threads_caps_the_preprocessing_kernel_too(kp_path, monkeypatch, threads):
    """``Predictor(threads=N)`` runs the letterbox kernel on at most N threads as well (the kernel's
    default, all hardware threads, without it), with the same results."""
    import edgevision.predictor as predictor_module

    seen = []
    real = predictor_module.letterbox_batch

    def spy(images, size, **opts):
        seen.append(opts.get("threads"))
        return real(images, size, **opts)

    p = Predictor(kp_path, threads=threads, warmup=False)
    monkeypatch.setattr(predictor_module, "letterbox_batch", spy)
    img = image(300, 500, seed=3)
    got = p(img).keypoints
    assert seen == [threads]
    np.testing.assert_allclose(got, manual_keypoints(kp_path, img, p.config), rtol=1e-6, atol=1e-6)


def test_backend_and_providers_are_reported(kp):
    assert kp.backend == "onnxruntime"
    assert kp.providers[-1] == "CPUExecutionProvider"
    assert kp.task == "keypoints"
    assert "keypoints" in repr(kp)


# --- configuration layers ---------------------------------------------------------------


def test_model_without_metadata_needs_the_task_and_lists_it(tmp):
    path = models.save(models.classification_model(), tmp / "cls_nometa.onnx")
    with pytest.raises(MissingConfigError) as e:
        Predictor(path)
    assert "task" in e.value.missing and "Predictor(" in str(e.value)
    p = Predictor(path, task="classification", decoder={"top_k": 3}, labels=[f"c{i}" for i in range(10)])
    r = p(image(40, 40))
    assert len(r.top_classes) == 3 and r.labels[0] == f"c{r.top_classes[0]}"


def test_config_file_and_overrides_are_layered(tmp):
    path = models.save(models.classification_model(), tmp / "cls_cfg.onnx")
    cfg = tmp / "cls.json"
    cfg.write_text(json.dumps({"task": "classification", "decoder": {"top_k": 4}}))
    assert len(Predictor(path, config=str(cfg))(image(32, 32)).top_classes) == 4
    assert len(Predictor(path, config=str(cfg), decoder={"top_k": 2})(image(32, 32)).top_classes) == 2


def test_nhwc_uint8_model_gets_nhwc_uint8_input(tmp):
    m = models.classification_model(layout="NHWC", dtype=TensorProto.UINT8)
    path = models.save(m, tmp / "cls_nhwc_u8.onnx")
    p = Predictor(path, task="classification", decoder={"top_k": 10, "softmax": False})
    assert p.config.layout == "NHWC" and p.config.dtype == "uint8"
    img = image(50, 70, seed=9)
    blob, _ = ev.letterbox(img, (32, 32), layout="NHWC", dtype="uint8")
    logits = blob.astype(np.float64).mean(axis=(1, 2)) @ models.CLS_W.astype(np.float64)
    r = p(img)
    np.testing.assert_array_equal(r.top_classes, np.argsort(-logits[0], kind="stable")[:10])


def test_override_that_contradicts_the_input_shape_is_refused(kp_path):
    with pytest.raises(ConfigMismatchError, match="height|width"):
        Predictor(kp_path, preprocess={"size": [32, 32]})
    with pytest.raises(ConfigMismatchError, match="dtype"):
        Predictor(kp_path, input={"dtype": "uint8"})


# --- every decoder through the Predictor -------------------------------------------------


def test_detection_yolov8_boxes_in_source_pixels(tmp):
    # 3 anchors: two overlapping boxes of class 1 (NMS keeps the stronger), one of class 0.
    C, A = 2, 3
    out = np.zeros((1, 4 + C, A), np.float32)
    out[0, :4, 0] = [30, 20, 20, 10]  # cx, cy, w, h (input px)
    out[0, :4, 1] = [31, 20, 20, 10]
    out[0, :4, 2] = [10, 10, 8, 8]
    out[0, 4 + 1, 0], out[0, 4 + 1, 1], out[0, 4 + 0, 2] = 0.9, 0.8, 0.7
    path = models.save(models.constant_output_model("det", out, h=48, w=64), tmp / "det.onnx")
    p = Predictor(path, task="detection", labels=["plate", "car"])
    img = image(96, 128)  # exactly 2x the input: letterbox scale 0.5, no padding
    r = p(img)
    order = np.argsort(-r.scores)
    np.testing.assert_allclose(r.boxes[order], [[40, 30, 80, 50], [12, 12, 28, 28]], atol=1e-4)
    assert list(r.classes[order]) == [1, 0] and list(np.array(r.labels)[order]) == ["car", "plate"]


def test_ctc_text(tmp):
    charset = list("AB1")
    seq = [1, 1, 0, 3, 3, 2, 0, 2]  # A A _ 1 1 B _ B -> "A1BB"
    logits = np.full((1, len(seq), 4), -5.0, np.float32)
    for t, k in enumerate(seq):
        logits[0, t, k] = 5.0
    path = models.save(models.constant_output_model("ctc", logits), tmp / "ctc.onnx")
    r = Predictor(path, task="ctc_ocr", charset=charset)(image(20, 80))
    assert r.text == "A1BB"
    assert 0 < r.confidence <= 1 and len(r.char_confidences) == 4


def test_slots_ocr_two_heads(tmp):
    provinces = [chr(0x4E00 + i) for i in range(31)]
    alnum = list("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789")[:35] + ["X"] * max(0, 35 - 34)
    p0 = np.zeros((1, 1, 31), np.float32)
    p0[0, 0, 7] = 9.0
    rest = np.zeros((1, 6, 35), np.float32)
    picks = [0, 1, 26, 27, 28, 29]
    for s, k in enumerate(picks):
        rest[0, s, k] = 9.0
    path = models.save(models.constant_output_model("province", p0, extra={"alnum": rest}), tmp / "slots.onnx")
    heads = [{"output": "province", "charset": provinces, "slots": [0]},
             {"output": "alnum", "charset": alnum, "slots": [1, 2, 3, 4, 5, 6]}]
    r = Predictor(path, task="slots_ocr", decoder={"heads": heads})(image(64, 224))
    assert r.text == provinces[7] + "".join(alnum[k] for k in picks)
    assert len(r.char_confidences) == 7


def test_embedding_and_raw(tmp):
    path = models.save(models.classification_model(), tmp / "emb.onnx")
    r = Predictor(path, task="embedding")(image(32, 32, seed=4))
    assert r.vector.shape == (10,) and abs(float(np.linalg.norm(r.vector)) - 1) < 1e-5
    raw = Predictor(path, task="raw")(image(32, 32, seed=4))
    assert set(raw.outputs) == {"logits"} and raw.outputs["logits"].shape == (10,)  # this image's slice


# --- errors ---------------------------------------------------------------------------


def test_missing_model_file(tmp):
    with pytest.raises(ModelNotFoundError, match="nope.onnx"):
        Predictor(str(tmp / "nope.onnx"))
    with pytest.raises(ModelNotFoundError, match="bundled"):
        Predictor("no_such_bundled_model.onnx")
    assert issubclass(ModelNotFoundError, (ModelLoadError, EdgeVisionError, FileNotFoundError))


def test_not_onnx_and_truncated_files(tmp, kp_path):
    junk = tmp / "junk.onnx"
    junk.write_bytes(b"this is not a protobuf model" * 10)
    with pytest.raises(ModelLoadError, match="junk.onnx"):
        Predictor(str(junk))
    data = Path(kp_path).read_bytes()
    cut = tmp / "truncated.onnx"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="truncated.onnx"):
        Predictor(str(cut))


def test_invalid_metadata_and_unknown_schema(tmp):
    for name, value, err in (("badjson", "{not json", InvalidMetadataError),
                             ("schema9", json.dumps({**KP_META, "schema": 9}), UnsupportedSchemaError)):
        m = models.keypoints_model(64, 96)
        e = m.metadata_props.add()
        e.key, e.value = "edgevision", value
        path = models.save(m, tmp / f"{name}.onnx")
        with pytest.raises(err, match=f"{name}.onnx"):
            Predictor(path)


def test_bad_images(kp, tmp):
    with pytest.raises(ImageReadError, match="missing.png"):
        kp(str(tmp / "missing.png"))
    txt = tmp / "notimage.png"
    txt.write_text("hello")
    with pytest.raises(ImageReadError, match="notimage.png"):
        kp(str(txt))
    with pytest.raises(InvalidTypeError, match="uint8"):
        kp(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(InvalidArgumentError, match="x: expected 1, 3 or 4 channels, got 2"):
        kp(np.zeros((10, 10, 2), np.uint8))
    with pytest.raises(InvalidArgumentError, match="empty"):
        kp(np.zeros((0, 10, 3), np.uint8))
    with pytest.raises(InvalidTypeError, match="x\\[1\\]"):
        kp([image(10, 10), 42])
    with pytest.raises(InvalidArgumentError, match="non-empty"):
        kp([])


def test_bad_backend_and_device(kp_path, tmp):
    with pytest.raises(InvalidArgumentError, match="device"):
        Predictor(kp_path, device="cuda")  # onnxruntime here has no CUDA provider
    with pytest.raises(InvalidArgumentError, match="device"):
        Predictor(kp_path, device="tpu")
    with pytest.raises(InvalidArgumentError, match="backend"):
        Predictor(kp_path, backend="openvino")
    engine = tmp / "model.engine"
    engine.write_bytes(b"\0" * 16)
    with pytest.raises(InvalidArgumentError, match="TensorRT"):
        Predictor(str(engine))


# --- CLI and import hygiene ------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgevision", *args], capture_output=True, text=True, timeout=120)


def test_cli_predict_json_and_save(kp_path, tmp):
    img_path = tmp / "cli.png"
    cv2.imwrite(str(img_path), image(100, 150, seed=5))
    r = run_cli("predict", kp_path, str(img_path), "--json", "--save", str(tmp / "out"))
    assert r.returncode == 0, r.stderr
    (rec,) = json.loads(r.stdout)
    assert rec["task"] == "keypoints" and len(rec["keypoints"]) == 4
    saved = cv2.imread(rec["saved"])
    assert saved is not None and saved.shape == (100, 150, 3)


def test_cli_info(kp_path):
    r = run_cli("info", kp_path)
    assert r.returncode == 0, r.stderr
    assert "images" in r.stdout and "keypoints" in r.stdout and "quantization: none" in r.stdout
    j = json.loads(run_cli("info", kp_path, "--json").stdout)
    assert j["inputs"][0]["shape"] == ["N", 3, 64, 96] and j["metadata"]["task"] == "keypoints"


def test_cli_reports_errors_without_a_traceback(tmp):
    r = run_cli("info", str(tmp / "absent.onnx"))
    assert r.returncode == 2 and "absent.onnx" in r.stderr and "Traceback" not in r.stderr


def test_importing_edgevision_imports_no_heavy_module():
    code = ("import sys, edgevision; heavy = [m for m in ('onnxruntime', 'tensorrt', 'pycuda', 'torch', 'keras', 'onnx') "
            "if m in sys.modules]; print(heavy)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_bare_name_resolves_against_bundled_models_from_any_directory(kp_path, tmp, monkeypatch):
    import shutil

    import edgevision.predictor as pred

    bundled = tmp / "bundled"
    bundled.mkdir(exist_ok=True)
    shutil.copy(kp_path, bundled / "kp_bundled.onnx")
    monkeypatch.setattr(pred, "MODELS_DIR", bundled)
    monkeypatch.chdir(tmp.parent)  # a directory without the model
    assert pred.bundled_models() == ["kp_bundled.onnx"]
    p = Predictor("kp_bundled.onnx")
    assert Path(p.path) == bundled / "kp_bundled.onnx"
    assert p(image(40, 60)).keypoints.shape == (4, 2)
    with pytest.raises(ModelNotFoundError, match="kp_bundled.onnx"):
        Predictor("other.onnx")


def test_info_detects_dynamic_int8_quantization(tmp):
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from edgevision.modelinfo import model_info

    fp32 = models.save(models.classification_model(), tmp / "q_fp32.onnx")
    int8 = tmp / "q_int8.onnx"
    quantize_dynamic(fp32, str(int8), weight_type=QuantType.QInt8)
    assert model_info(fp32)["quantization"]["graph"]["kind"] == "none"
    info = model_info(str(int8))
    assert info["quantization"]["graph"]["kind"] == "dynamic int8"
    assert info["quantization"]["graph"]["quantized_ops"]
