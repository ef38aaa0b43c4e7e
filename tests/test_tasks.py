"""The task registry (edgevision.tasks): the built-in specs, and a new task added from this file alone.

The ``brightness`` task below is one registry entry plus its decoder, nothing else: the
config validates it (defaults from the decoder's signature, messages with key paths),
missing keys show the spec's example, ``ModelConfig.write`` stores it, and the Predictor
runs it end to end on a tiny ONNX model built here.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import edgevision.config as C  # noqa: E402
from edgevision import Predictor, decoders  # noqa: E402
from edgevision import tasks as T  # noqa: E402
from edgevision.config import ModelConfig  # noqa: E402
from edgevision.errors import (  # noqa: E402
    InvalidArgumentError,
    InvalidMetadataError,
    InvalidTypeError,
    MissingConfigError,
)

# --- the new task: its decoder and its registry entry -------------------------------------


@dataclass(frozen=True)
class Brightness:
    """One image's mean input value (the model's output, times ``scale``) and whether it passes ``threshold``."""

    value: float
    bright: bool
    orig_shape: tuple[int, int] | None


def decode_brightness(out, *, threshold, scale=1.0, images=None):
    """``out`` (N,) mean input values -> one Brightness per image."""
    values = np.asarray(out, np.float64).reshape(-1) * scale
    shapes = [None] * len(values) if images is None else [im.shape[:2] for im in images]
    return [Brightness(float(v), bool(v > threshold), s) for v, s in zip(values, shapes)]


BRIGHTNESS = T.TaskSpec(
    name="brightness",
    keys=(T.DecoderKey("threshold", T.fraction, required=True),
          T.DecoderKey("scale", T.number, default=T.decoder_default(decode_brightness, "scale"))),
    build=lambda cfg, outs: lambda o, t, im, n: decode_brightness(outs.first(o, n), **cfg.decoder, images=im),
    result=Brightness,
    examples={"decoder.threshold": 'decoder={"threshold": 0.5}'},
    description="mean input value per image, and whether it passes a threshold",
)


@pytest.fixture
def brightness():
    T.register_task(BRIGHTNESS)
    try:
        yield BRIGHTNESS
    finally:
        T.unregister_task("brightness")


def _mean_model(path: Path, h: int = 8, w: int = 8) -> str:
    """(N, 3, H, W) float32 -> (N,) the mean of each image's input tensor."""
    axes = numpy_helper.from_array(np.array([1, 2, 3], np.int64), "axes")
    node = helper.make_node("ReduceMean", ["images", "axes"], ["mean"], keepdims=0)
    graph = helper.make_graph([node], "brightness",
                              [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 3, h, w])],
                              [helper.make_tensor_value_info("mean", TensorProto.FLOAT, ["N"])], initializer=[axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return str(path)


# --- the new task, end to end -------------------------------------------------------------


def test_a_registered_task_validates_with_its_defaults_and_key_paths(brightness):
    assert "brightness" in T.task_names() and T.get_task("brightness") is brightness
    cfg = ModelConfig(task="brightness", preprocess={"size": 8}, decoder={"threshold": 0.5})
    assert cfg.decoder == {"threshold": 0.5, "scale": 1.0}  # scale: decode_brightness's default
    assert ModelConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(InvalidMetadataError, match=r"^<dict>: decoder\.threshold: expected a number in \[0, 1\], got 1\.5$"):
        ModelConfig.from_dict({"task": "brightness", "preprocess": {"size": 8}, "decoder": {"threshold": 1.5}})
    with pytest.raises(InvalidMetadataError, match=r"decoder\.scale: expected a finite number, got 'x'"):
        ModelConfig(task="brightness", preprocess={"size": 8}, decoder={"threshold": 0.5, "scale": "x"})
    with pytest.raises(InvalidMetadataError, match=r"decoder\.thresh: unknown key; .*did you mean 'threshold'"):
        ModelConfig(task="brightness", preprocess={"size": 8}, decoder={"threshold": 0.5, "thresh": 0.5})


def test_a_registered_task_runs_through_the_predictor(brightness, tmp_path):
    path = _mean_model(tmp_path / "mean.onnx")
    p = Predictor(path, task="brightness", decoder={"threshold": 0.5, "scale": 2.0}, warmup=False)
    assert p.task == "brightness" and p.config.preprocess["size"] == [8, 8]
    light, dark = np.full((8, 8, 3), 200, np.uint8), np.full((4, 6, 3), 20, np.uint8)
    one = p(light)
    assert isinstance(one, Brightness) and one.bright and one.orig_shape == (8, 8)
    assert one.value == pytest.approx(2.0 * 200 / 255, abs=1e-6)  # scale 1/255 (float input), then 2.0
    both = p([light, dark])
    assert [r.bright for r in both] == [True, False]
    # the dark image is letterboxed (4x6 -> 8x8, grey 114 padding): the model sees its mean
    blob, _ = p.preprocess([dark])
    assert both[1].value == pytest.approx(2.0 * float(blob.astype(np.float64).mean()), abs=1e-6)


def test_a_registered_task_is_written_into_the_model_and_read_back(brightness, tmp_path):
    path = _mean_model(tmp_path / "mean.onnx")
    ModelConfig(task="brightness", preprocess={"size": [8, 8]}, decoder={"threshold": 0.25}).write(path)
    p = Predictor(path, warmup=False)
    assert p.task == "brightness" and p.config.decoder == {"threshold": 0.25, "scale": 1.0}
    assert p(np.full((8, 8, 3), 128, np.uint8)).bright


def test_a_registered_task_shows_its_example_when_a_required_key_is_missing(brightness, tmp_path):
    path = _mean_model(tmp_path / "mean.onnx")
    with pytest.raises(MissingConfigError) as e:
        Predictor(path, task="brightness", warmup=False)
    assert e.value.missing == ("decoder.threshold",)
    assert 'Predictor("mean.onnx", decoder={"threshold": 0.5})' in str(e.value)
    with pytest.raises(MissingConfigError) as e:
        C.resolve_config({"preprocess": {"size": 8}}, None, None, source="m.onnx")
    assert "decoder keys for keypoints/slots_ocr/pose/brightness" in str(e.value)


def test_an_unregistered_task_is_unknown_again(tmp_path):
    T.register_task(BRIGHTNESS)
    T.unregister_task("brightness")
    assert "brightness" not in T.task_names()
    with pytest.raises(InvalidMetadataError, match=r"task: expected one of \[.*'raw'\], got 'brightness'"):
        ModelConfig(task="brightness", preprocess={"size": 8}, decoder={"threshold": 0.5})
    with pytest.raises(InvalidArgumentError, match=r"task: unknown task 'brightness'"):
        T.get_task("brightness")


# --- the registry's rules -----------------------------------------------------------------


def test_registering_refuses_duplicates_built_ins_and_non_specs(brightness):
    with pytest.raises(InvalidArgumentError, match="already registered"):
        T.register_task(BRIGHTNESS)
    assert T.register_task(BRIGHTNESS, replace=True) is BRIGHTNESS
    detection = T.get_task("detection")
    with pytest.raises(InvalidArgumentError, match="built-in task"):
        T.register_task(detection, replace=True)
    with pytest.raises(InvalidArgumentError, match="built-in task"):
        T.unregister_task("raw")
    with pytest.raises(InvalidTypeError, match="expected a TaskSpec"):
        T.register_task({"name": "x"})


def test_a_spec_is_checked_when_it_is_made():
    build, result = BRIGHTNESS.build, Brightness
    with pytest.raises(InvalidArgumentError, match=r"examples: .* missing \['decoder.threshold'\]"):
        T.TaskSpec("t", (T.DecoderKey("threshold", T.fraction, required=True),), build, result)
    with pytest.raises(InvalidArgumentError, match=r"examples: .* missing \['charset'\]"):
        T.TaskSpec("t", (), build, result, requires=("charset",))
    with pytest.raises(InvalidArgumentError, match="each decoder key once"):
        T.TaskSpec("t", (T.DecoderKey("a", T.boolean, default=True), T.DecoderKey("a", T.boolean)), build, result)
    with pytest.raises(InvalidArgumentError, match="a required key has no default"):
        T.DecoderKey("a", T.boolean, default=True, required=True)
    with pytest.raises(InvalidArgumentError, match="task name"):
        T.TaskSpec("two words", (), build, result)
    with pytest.raises(InvalidArgumentError, match="has no keyword 'missing' with a default"):
        T.decoder_default(decode_brightness, "missing")
    with pytest.raises(InvalidArgumentError, match="has no keyword 'threshold' with a default"):
        T.decoder_default(decode_brightness, "threshold")


# --- the built-in tasks come from the registry ----------------------------------------------


def test_the_built_in_tasks_and_tables_are_the_registry():
    assert C.TASKS == T.BUILTIN_TASKS == T.task_names()[: len(T.BUILTIN_TASKS)]
    for name in C.TASKS:
        spec = T.get_task(name)
        assert C.DECODER_DEFAULTS[name] == spec.defaults
        assert C.DECODER_REQUIRED.get(name, ()) == spec.required
    assert C.DECODER_REQUIRED == {"keypoints": ("num_keypoints",), "slots_ocr": ("heads",), "pose": ("kpt_shape",)}
    assert T.get_task("ctc_ocr").requires == ("charset",)
    assert T.get_task("keypoints").optional == ("names", "class_output")
    assert T.get_task("slots_ocr").optional == ("rows",)


@pytest.mark.parametrize("task, func", [
    ("keypoints", decoders.decode_keypoints), ("ctc_ocr", decoders.decode_ctc),
    ("detection", decoders.decode_detection), ("classification", decoders.decode_classification),
    ("embedding", decoders.decode_embedding), ("pose", decoders.decode_pose),
])
def test_each_default_is_the_decoder_functions_own(task, func):
    params = inspect.signature(func).parameters
    defaults = T.get_task(task).defaults
    assert defaults and all(params[k].default == v for k, v in defaults.items())


def test_the_detection_defaults_and_layouts():
    assert T.get_task("detection").defaults == {"layout": "yolov8", "conf_threshold": 0.25, "iou_threshold": 0.45,
                                                "max_det": 300, "class_agnostic": False}
    with pytest.raises(InvalidMetadataError, match=r"decoder\.layout: expected one of \['yolov8', 'yolov5'\]"):
        ModelConfig(task="detection", preprocess={"size": 32}, decoder={"layout": "ssd"})
    with pytest.raises(InvalidMetadataError, match=r"decoder\.layout: expected one of \['NTC', 'TNC'\]"):
        ModelConfig(task="ctc_ocr", preprocess={"size": 32}, charset=["a"], decoder={"layout": "NCT"})


@pytest.mark.parametrize("name", T.BUILTIN_TASKS)
def test_each_built_in_spec_names_its_result_type(name):
    spec = T.get_task(name)
    assert isinstance(spec.result, type) and spec.result.__module__ == "edgevision.results" and spec.description


# --- keypoints with a class head (the meter model's screen class) -----------------------------


def _points_and_class_model(path: Path, size: int = 8) -> str:
    """(N, 3, S, S) -> ``corners`` (N, 8): 0.25 everywhere; ``kind`` (N, 3): the mean of each channel."""
    axes = numpy_helper.from_array(np.array([2, 3], np.int64), "axes")
    quarter = numpy_helper.from_array(np.full((1, 8), 0.25, np.float32), "quarter")
    zero = numpy_helper.from_array(np.zeros((1, 1), np.float32), "zero")
    nodes = [helper.make_node("ReduceMean", ["images", "axes"], ["kind"], keepdims=0),
             helper.make_node("ReduceSum", ["kind", "one_axis"], ["col"], keepdims=1),
             helper.make_node("Mul", ["col", "zero"], ["zeros"]),
             helper.make_node("Add", ["zeros", "quarter"], ["corners"])]
    one_axis = numpy_helper.from_array(np.array([1], np.int64), "one_axis")
    graph = helper.make_graph(nodes, "points_and_class",
                              [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 3, size, size])],
                              [helper.make_tensor_value_info("corners", TensorProto.FLOAT, ["N", 8]),
                               helper.make_tensor_value_info("kind", TensorProto.FLOAT, ["N", 3])],
                              initializer=[axes, quarter, zero, one_axis])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return str(path)


def test_keypoints_class_output_reaches_the_result(tmp_path):
    path = _points_and_class_model(tmp_path / "pc.onnx")
    p = Predictor(path, task="keypoints", labels=["blue", "green", "red"],
                  decoder={"num_keypoints": 4, "class_output": "kind"},
                  preprocess={"size": 8, "mode": "stretch", "swap_rb": True, "scale": 1 / 255}, warmup=False)
    img = np.zeros((16, 16, 3), np.uint8)
    img[..., 1] = 128  # BGR green -> RGB channel 1 has the largest mean (0.502)
    r = p(img)
    assert (r.class_id, r.label) == (1, "green")
    e = np.exp(128 / 255)
    assert r.score == pytest.approx(e / (e + 2), abs=1e-4)  # (0, 0.502, 0) is no distribution: a softmax
    np.testing.assert_allclose(r.keypoints, np.full((4, 2), 4.0))  # 0.25 of a 16 px image
    d = r.to_dict()
    assert d["label"] == "green" and d["class_id"] == 1 and d["score"] == pytest.approx(r.score)
    # by index, and without labels: the id and score alone
    q = Predictor(path, task="keypoints", decoder={"num_keypoints": 4, "class_output": 1},
                  preprocess={"size": 8, "mode": "stretch", "swap_rb": True, "scale": 1 / 255}, warmup=False)
    r2 = q(img)
    assert (r2.class_id, r2.label) == (1, None) and r2.score == pytest.approx(r.score)
    # without class_output the second output is ignored, as before
    plain = Predictor(path, task="keypoints", decoder={"num_keypoints": 4}, preprocess={"size": 8}, warmup=False)
    r3 = plain(img)
    assert (r3.class_id, r3.label, r3.score) == (None, None, None)


def test_keypoints_class_output_is_checked(tmp_path):
    with pytest.raises(InvalidMetadataError, match=r"decoder\.class_output: expected a model output name"):
        ModelConfig(task="keypoints", preprocess={"size": 8}, decoder={"num_keypoints": 4, "class_output": -1})
    path = _points_and_class_model(tmp_path / "pc.onnx")
    cfg = ModelConfig(task="keypoints", preprocess={"size": 8}, decoder={"num_keypoints": 4, "class_output": "nope"})
    with pytest.raises(InvalidMetadataError, match=r"decoder\.class_output: 'nope' is not an output of the model"):
        cfg.write(path)
