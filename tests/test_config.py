"""edgevision.config: the ``edgevision`` ONNX metadata (ModelConfig), config files and overrides.

Tiny ONNX models (one Identity node) are built with ``onnx.helper`` in ``tmp_path``.
Sizes are (height, width) in pixels.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

import edgevision as ev
from edgevision import config as C
from edgevision.config import ModelConfig, read_custom_metadata, read_metadata, resolve_config
from edgevision.errors import (
    EdgeVisionError,
    InvalidArgumentError,
    InvalidMetadataError,
    InvalidTypeError,
    MissingConfigError,
    MissingDependencyError,
    ModelLoadError,
    UnsupportedSchemaError,
)
from edgevision.plates import TWO_ROW_SPLIT
from edgevision.preprocess import OPTION_NAMES

# ---------------------------------------------------------------------------
# Models and configs


def make_model(path: Path, *, shape=("N", 3, 32, 48), elem_type=TensorProto.FLOAT, props: dict | None = None,
               input_name: str = "images", outputs: int = 1) -> Path:
    """A model of Identity nodes: input ``images`` -> outputs ``out0``, ``out1``..., saved at ``path``."""
    x = helper.make_tensor_value_info(input_name, elem_type, list(shape))
    outs = [helper.make_tensor_value_info(f"out{i}", elem_type, list(shape)) for i in range(outputs)]
    nodes = [helper.make_node("Identity", [input_name], [f"out{i}"]) for i in range(outputs)]
    model = helper.make_model(helper.make_graph(nodes, "tiny", [x], outs),
                              opset_imports=[helper.make_opsetid("", 13)], producer_name="edgevision-tests")
    model.ir_version = 8
    if props:
        helper.set_model_props(model, props)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def props_of(path: Path) -> list[tuple[str, str]]:
    return [(p.key, p.value) for p in onnx.load(str(path)).metadata_props]


DET = {
    "schema": 1,
    "task": "detection",
    "name": "plates-yolo",
    "input": {"name": "images", "layout": "NCHW", "dtype": "float32"},
    "preprocess": {"size": [32, 48], "mode": "letterbox", "swap_rb": True, "pad_value": 114},
    "labels": ["plate", "car"],
    "decoder": {"conf_threshold": 0.5},
    "quantization": {"method": "QDQ", "calibration": {"images": 128}},
    "training": {"epochs": 3, "notes": ["a", "b"]},
}

VALID = {  # one minimal valid config per task
    "keypoints": {"task": "keypoints", "preprocess": {"size": 64}, "decoder": {"num_keypoints": 4}},
    "slots_ocr": {"task": "slots_ocr", "preprocess": {"size": [32, 96], "mode": "stretch"},
                  "decoder": {"heads": [{"charset": list("ABC"), "slots": [0, 1]},
                                        {"output": "out1", "charset": list("0123456789"), "slots": [2, 3, 4]}]}},
    "ctc_ocr": {"task": "ctc_ocr", "preprocess": {"size": [48, 320], "mode": "pad_right"}, "charset": list("0123456789")},
    "detection": {"task": "detection", "preprocess": {"size": 640}},
    "pose": {"task": "pose", "preprocess": {"size": 384}, "decoder": {"kpt_shape": [4, 2]}},
    "classification": {"task": "classification", "preprocess": {"size": 224}, "labels": ["cat", "dog"]},
    "embedding": {"task": "embedding", "preprocess": {"size": [112, 112]}},
    "raw": {"task": "raw", "preprocess": {"size": 8}},
}


def det_config() -> ModelConfig:
    return ModelConfig.from_dict(DET, source="DET")


# ---------------------------------------------------------------------------
# Schema basics


def test_preprocess_keys_are_the_kernel_option_names_plus_size_and_stride():
    assert set(C.PREPROCESS_KEYS) == {"size", "stride"} | (OPTION_NAMES - {"dtype", "layout", "threads"})
    assert set(C.PREPROCESS_KEYS) == {"size", "mode", "align", "scaleup", "interpolation", "scale", "mean", "std",
                                      "swap_rb", "pad_value", "channels", "zero_channels", "stride"}


def test_stride_is_kept_apart_from_the_kernel_options():
    cfg = ModelConfig.from_dict({"task": "raw", "preprocess": {"size": [64, 96], "stride": 32}})
    assert cfg.stride == 32 and cfg.preprocess["stride"] == 32
    size, kw = cfg.preprocess_kwargs()  # what edgevision.letterbox takes: no stride there
    assert size == (64, 96) and "stride" not in kw
    assert ModelConfig.from_dict({"task": "raw", "preprocess": {"size": 64}}).stride is None
    assert ModelConfig.from_json(cfg.to_json()).stride == 32
    assert C.TASKS == ("keypoints", "slots_ocr", "ctc_ocr", "detection", "pose", "classification", "embedding", "raw")


def test_error_classes():
    for cls in (InvalidMetadataError, UnsupportedSchemaError, MissingConfigError):
        assert issubclass(cls, EdgeVisionError) and issubclass(cls, ValueError)
    assert issubclass(UnsupportedSchemaError, InvalidMetadataError)
    assert issubclass(ModelLoadError, EdgeVisionError) and issubclass(ModelLoadError, OSError)
    assert issubclass(MissingDependencyError, ImportError)


EXPECTED_DECODERS = {
    "keypoints": {"num_keypoints": 4, "normalized": True},
    "slots_ocr": {"heads": [{"charset": list("ABC"), "slots": [0, 1]},
                            {"output": "out1", "charset": list("0123456789"), "slots": [2, 3, 4]}]},
    "ctc_ocr": {"blank": 0, "layout": "NTC"},
    "detection": {"layout": "yolov8", "conf_threshold": 0.25, "iou_threshold": 0.45, "max_det": 300,
                  "class_agnostic": False},
    "pose": {"kpt_shape": [4, 2], "layout": "yolov8", "conf_threshold": 0.25, "iou_threshold": 0.45, "max_det": 300,
             "class_agnostic": False},
    "classification": {"top_k": 5, "softmax": True},
    "embedding": {"normalize": True},
    "raw": {},
}


@pytest.mark.parametrize("task", C.TASKS)
def test_decoder_defaults_are_filled(task):
    cfg = ModelConfig.from_dict(VALID[task])
    assert cfg.task == task
    assert cfg.decoder == EXPECTED_DECODERS[task]
    assert (cfg.layout, cfg.dtype, cfg.input_name) == ("NCHW", "float32", None)
    assert ModelConfig.from_json(cfg.to_json()) == cfg


def test_from_dict_normalizes():
    cfg = ModelConfig.from_dict({
        "task": "ctc_ocr", "input": {"layout": "nhwc", "dtype": "float16"},
        "preprocess": {"size": 48, "mode": "Pad_Right", "mean": 0.5, "std": [0.5], "scale": None},
        "charset": ("a", "b"), "decoder": {"layout": "tnc", "blank": 2},
    })
    assert (cfg.layout, cfg.dtype) == ("NHWC", "float16")
    assert cfg.preprocess == {"size": [48, 48], "mode": "pad_right", "mean": 0.5, "std": [0.5]}
    assert cfg.charset == ("a", "b") and cfg.decoder == {"blank": 2, "layout": "TNC"}
    assert json.loads(cfg.to_json())["input"] == {"layout": "NHWC", "dtype": "float16"}


def test_to_dict_layout_and_extra_keys():
    d = det_config().to_dict()
    assert list(d)[:8] == ["schema", "task", "name", "input", "preprocess", "labels", "decoder", "quantization"]
    assert d["schema"] == 1
    assert d["quantization"] == DET["quantization"] and d["training"] == DET["training"]
    assert d["decoder"]["conf_threshold"] == 0.5 and d["decoder"]["max_det"] == 300
    d["preprocess"]["size"][0] = 1  # a copy: the config is unchanged
    assert det_config().preprocess["size"] == [32, 48]


def test_model_config_is_frozen_hashable_and_validated_on_construction():
    cfg = det_config()
    with pytest.raises(AttributeError):
        cfg.task = "raw"  # type: ignore[misc]
    assert hash(cfg) == hash(det_config()) and cfg == det_config()
    assert len({cfg, det_config()}) == 1
    direct = ModelConfig("raw", preprocess={"size": 16, "mean": (1, 2, 3)})
    assert direct.preprocess == {"size": [16, 16], "mean": [1.0, 2.0, 3.0]}
    with pytest.raises(InvalidMetadataError, match=r"preprocess\.mean"):
        ModelConfig("raw", preprocess={"size": 16, "mean": (1, 2)})
    with pytest.raises(MissingConfigError, match=r"preprocess\.size"):
        ModelConfig("raw")


def test_preprocess_layout_and_dtype_move_to_input():
    cfg = ModelConfig.from_dict({"task": "raw", "preprocess": {"size": 8, "dtype": "uint8", "layout": "NHWC"}})
    assert (cfg.layout, cfg.dtype) == ("NHWC", "uint8")
    assert "dtype" not in cfg.preprocess and "layout" not in cfg.preprocess
    same = ModelConfig.from_dict({"task": "raw", "input": {"dtype": "uint8"}, "preprocess": {"size": 8, "dtype": "uint8"}})
    assert same.dtype == "uint8"
    with pytest.raises(InvalidMetadataError, match=r"<dict>: preprocess\.dtype: 'float16' contradicts input\.dtype"):
        ModelConfig.from_dict({"task": "raw", "input": {"dtype": "uint8"}, "preprocess": {"size": 8, "dtype": "float16"}})


# ---------------------------------------------------------------------------
# Metadata round trip


def test_write_read_round_trip_keeps_other_metadata_and_extra_keys(tmp_path):
    src = make_model(tmp_path / "m.onnx", props={"author": "me", "stride": "32"})
    cfg = det_config()
    assert cfg.write(src) == src
    assert props_of(src) == [("author", "me"), ("stride", "32"), ("edgevision", cfg.to_json())]
    back = ModelConfig.read(src)
    assert back == cfg
    assert back.extra == {"quantization": DET["quantization"], "training": DET["training"]}
    assert ModelConfig.read(session(src)) == cfg
    assert ModelConfig.read(str(src)) == cfg
    assert read_custom_metadata(src)["author"] == "me"
    # what was written is exactly the schema JSON
    assert json.loads(read_custom_metadata(src)["edgevision"]) == cfg.to_dict()


def test_write_takes_a_stride_only_for_dynamic_height_and_width(tmp_path):
    cfg = ModelConfig.from_dict({"task": "raw", "preprocess": {"size": [32, 64], "stride": 32}})
    dynamic = make_model(tmp_path / "dyn.onnx", shape=("N", 3, "H", "W"))
    assert cfg.write(dynamic) == dynamic and ModelConfig.read(dynamic).stride == 32
    static = make_model(tmp_path / "static.onnx", shape=("N", 3, 32, 64))
    with pytest.raises(InvalidMetadataError, match=r"preprocess\.stride: 32 needs the model's height and width axes "
                                                   r"dynamic; its input 'images' has shape \[None, 3, 32, 64\]"):
        cfg.write(static)
    assert ModelConfig.read(static) is None  # nothing written


def test_write_replaces_the_entry_in_place(tmp_path):
    src = make_model(tmp_path / "m.onnx", shape=("N", 3, 64, 64), props={"a": "1", "edgevision": "{}", "b": "2"})
    model = onnx.load(str(src))  # a second stale entry with the same key
    extra = model.metadata_props.add()
    extra.key, extra.value = "edgevision", "stale"
    onnx.save(model, str(src))
    cfg = ModelConfig.from_dict(VALID["keypoints"])
    cfg.write(src)
    assert props_of(src) == [("a", "1"), ("edgevision", cfg.to_json()), ("b", "2")]
    cfg2 = cfg.merged({"decoder": {"num_keypoints": 5}})
    cfg2.write(src)
    assert ModelConfig.read(src) == cfg2 and ModelConfig.read(src).decoder["num_keypoints"] == 5


def test_write_to_another_file_leaves_src_alone(tmp_path):
    src = make_model(tmp_path / "m.onnx", props={"author": "me"})
    before = src.read_bytes()
    (tmp_path / "out").mkdir()
    dst = det_config().write(src, tmp_path / "out" / "m2.onnx")
    assert dst == tmp_path / "out" / "m2.onnx"
    assert src.read_bytes() == before and ModelConfig.read(src) is None
    assert ModelConfig.read(dst) == det_config()
    assert sorted(os.listdir(tmp_path / "out")) == ["m2.onnx"]  # no temporary file left behind


def test_write_in_place_is_atomic_and_keeps_permissions(tmp_path, monkeypatch):
    src = make_model(tmp_path / "m.onnx")
    os.chmod(src, 0o640)
    det_config().write(str(src))
    assert stat.S_IMODE(os.stat(src).st_mode) == 0o640
    assert sorted(os.listdir(tmp_path)) == ["m.onnx"]
    before = src.read_bytes()

    def failing_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(onnx, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        det_config().merged({"name": "other"}).write(src)
    assert src.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["m.onnx"]


def test_read_returns_none_without_metadata(tmp_path):
    src = make_model(tmp_path / "m.onnx", props={"author": "me"})
    assert ModelConfig.read(src) is None
    assert ModelConfig.read(session(src)) is None
    assert read_metadata(src) is None


def test_read_metadata_returns_partial_dicts_that_resolve_config_completes(tmp_path):
    src = make_model(tmp_path / "m.onnx", props={"edgevision": json.dumps({"schema": 1, "task": "classification"})})
    with pytest.raises(MissingConfigError, match=r"preprocess\.size"):
        ModelConfig.read(src)
    partial = read_metadata(session(src))
    assert partial == {"task": "classification"}
    cfg = resolve_config(partial, None, {"preprocess": {"size": [32, 48]}}, source=str(src))
    assert cfg.task == "classification" and cfg.preprocess["size"] == [32, 48]


# ---------------------------------------------------------------------------
# Reading errors


def test_read_missing_file(tmp_path):
    p = tmp_path / "nope.onnx"
    with pytest.raises(ModelLoadError, match=r"nope\.onnx") as e:
        ModelConfig.read(p)
    assert "no such file" in str(e.value)
    with pytest.raises(ModelLoadError, match="not a file"):
        ModelConfig.read(tmp_path)


@pytest.mark.parametrize("content", [b"this is not an ONNX model\n", b"", "truncated"], ids=["text", "empty", "truncated"])
def test_read_not_onnx(tmp_path, content):
    p = tmp_path / "bad.onnx"
    if content == "truncated":
        data = make_model(tmp_path / "good.onnx", props={"edgevision": det_config().to_json()}).read_bytes()
        content = data[: len(data) // 2]
    p.write_bytes(content)
    with pytest.raises(ModelLoadError, match=r"bad\.onnx.*not a loadable ONNX model"):
        ModelConfig.read(p)
    with pytest.raises(ModelLoadError, match=r"bad\.onnx"):
        det_config().write(p)


def test_read_wrong_type():
    with pytest.raises(InvalidTypeError, match="model: expected an .onnx path or an onnxruntime.InferenceSession"):
        ModelConfig.read(42)


@pytest.mark.parametrize("text, match", [
    ("{not json", r"not valid JSON: .* at line 1 column 2"),
    ('{"task": "raw", "preprocess": {"size": NaN}}', r"not valid JSON: NaN"),
    ('{"task": "raw", "task": "raw"}', r"not valid JSON: duplicate key 'task'"),
    ('["raw"]', r"expected an object \(JSON object / YAML mapping / dict\) of config keys, got list"),
])
def test_read_invalid_json(tmp_path, text, match):
    src = make_model(tmp_path / "m.onnx", props={"edgevision": text})
    with pytest.raises(InvalidMetadataError, match=rf"m\.onnx \(metadata_props\['edgevision'\]\): {match}"):
        ModelConfig.read(src)
    with pytest.raises(InvalidMetadataError, match=match):
        ModelConfig.read(session(src))


def test_read_unknown_schema(tmp_path):
    src = make_model(tmp_path / "m.onnx", props={"edgevision": json.dumps(dict(VALID["raw"], schema=2))})
    with pytest.raises(UnsupportedSchemaError, match=r"m\.onnx.*schema: version 2 is not supported.*reads version 1"):
        ModelConfig.read(src)
    with pytest.raises(UnsupportedSchemaError):
        read_metadata(src)
    with pytest.raises(InvalidMetadataError, match="schema: expected the schema version as an int") as e:
        ModelConfig.from_dict(dict(VALID["raw"], schema="1"))
    assert not isinstance(e.value, UnsupportedSchemaError)
    assert ModelConfig.from_dict({k: v for k, v in VALID["raw"].items()}).task == "raw"  # no schema: version 1


def test_read_bad_content_names_the_model(tmp_path):
    src = make_model(tmp_path / "m.onnx", props={"edgevision": json.dumps({"task": "raw", "preprocess": {"size": 8, "mean": [1, 2]}})})
    with pytest.raises(InvalidMetadataError, match=r"m\.onnx \(metadata_props\['edgevision'\]\): preprocess\.mean: expected a number or 3 values"):
        ModelConfig.read(src)
    with pytest.raises(InvalidMetadataError, match=r"InferenceSession.*preprocess\.mean"):
        ModelConfig.read(session(src))


# ---------------------------------------------------------------------------
# Content errors: (id, dict, error class, the key path / words the message must contain)

R = {"task": "raw", "preprocess": {"size": 8}}


def _with(base: dict, **kw) -> dict:
    d = json.loads(json.dumps(base))
    for k, v in kw.items():
        d[k] = v
    return d


ROW_SPLIT = {"top": [0.16, 0.0, 0.84, 0.40], "bottom": [0.0, 0.34, 1.0, 1.0], "top_width": 0.3}

BAD = [
    ("task_unknown", _with(R, task="detect"), "task: expected one of .* got 'detect'; did you mean 'detection'"),
    ("task_type", _with(R, task=3), "task: expected one of"),
    ("name_type", _with(R, name=3), "name: expected the model's name"),
    ("top_not_object", ["raw"], r"expected an object \(JSON object"),
    ("input_type", _with(R, input="images"), "input: expected an object"),
    ("input_unknown_key", _with(R, input={"shape": [1, 3]}), r"input\.shape: unknown key"),
    ("input_name", _with(R, input={"name": ""}), r"input\.name: expected the model input's name"),
    ("input_layout", _with(R, input={"layout": "CHW"}), r"input\.layout: expected one of \['NCHW', 'NHWC'\]"),
    ("input_dtype", _with(R, input={"dtype": "int8"}), r"input\.dtype: expected one of \['float32', 'float16', 'uint8'\]"),
    ("pre_type", _with(R, preprocess=[8, 8]), "preprocess: expected an object"),
    ("pre_unknown", _with(R, preprocess={"size": 8, "resize": "letterbox"}), r"preprocess\.resize: unknown key"),
    ("pre_threads", _with(R, preprocess={"size": 8, "threads": 2}), r"preprocess\.threads: a run-time setting"),
    ("pre_size", _with(R, preprocess={"size": [8]}), r"preprocess\.size: expected an int or \(height, width\)"),
    ("pre_size_range", _with(R, preprocess={"size": [0, 8]}), r"preprocess\.size: height and width must be in"),
    ("pre_size_float", _with(R, preprocess={"size": 8.0}), r"preprocess\.size: expected an int"),
    ("pre_mode", _with(R, preprocess={"size": 8, "mode": "fit"}), r"preprocess\.mode: expected one of \['letterbox'"),
    ("stride_type", _with(R, preprocess={"size": 64, "stride": 32.0}), r"preprocess\.stride: expected an int >= 1"),
    ("stride_bool", _with(R, preprocess={"size": 64, "stride": True}), r"preprocess\.stride: expected an int >= 1"),
    ("stride_zero", _with(R, preprocess={"size": 64, "stride": 0}), r"preprocess\.stride: expected an int >= 1"),
    ("stride_mode", _with(R, preprocess={"size": 64, "stride": 32, "mode": "stretch"}),
     r"preprocess\.stride: only with mode 'letterbox'"),
    ("stride_size", _with(R, preprocess={"size": [64, 80], "stride": 32}),
     r"preprocess\.stride: size \[64, 80\] must be multiples of the stride 32"),
    ("pre_align", _with(R, preprocess={"size": 8, "align": "bottom"}), r"preprocess\.align: expected one of"),
    ("pre_interp", _with(R, preprocess={"size": 8, "interpolation": "cubic"}), r"preprocess\.interpolation: expected one of"),
    ("pre_scaleup", _with(R, preprocess={"size": 8, "scaleup": "yes"}), r"preprocess\.scaleup: expected a bool"),
    ("pre_swap_rb", _with(R, preprocess={"size": 8, "swap_rb": 1}), r"preprocess\.swap_rb: expected a bool"),
    ("pre_mean_len", _with(R, preprocess={"size": 8, "mean": [0.1, 0.2]}), r"preprocess\.mean: expected a number or 3 values"),
    ("pre_mean_str", _with(R, preprocess={"size": 8, "mean": "imagenet"}), r"preprocess\.mean: expected a number"),
    ("pre_std_zero", _with(R, preprocess={"size": 8, "std": [1, 0, 1]}), r"preprocess\.std: values must be non-zero"),
    ("pre_scale_overflow", _with(R, preprocess={"size": 8, "scale": 1e39}), r"preprocess\.scale: .* not representable in float32"),
    ("pre_pad_value_len", _with(R, preprocess={"size": 8, "pad_value": [1, 2, 3, 4]}), r"preprocess\.pad_value: expected"),
    ("pre_channels", _with(R, preprocess={"size": 8, "channels": 2}), r"preprocess\.channels: expected 1, 3 or 4"),
    ("pre_mean_gray", _with(R, preprocess={"size": 8, "channels": 1, "mean": [0, 0, 0]}), r"preprocess\.mean: expected a number or 1 values"),
    ("labels_type", _with(R, labels="cat,dog"), "labels: expected a list of labels"),
    ("labels_empty", _with(R, labels=[]), "labels: expected at least one label"),
    ("labels_int", _with(R, labels=["cat", 1]), r"labels\[1\]: expected a non-empty string \(quote it in YAML\)"),
    ("charset_str", _with(R, charset="0123"), r'charset: expected a list of symbols \(strings\) \(e\.g\. list\("0123456789"\)\)'),
    ("charset_empty_symbol", _with(R, charset=["a", ""]), r"charset\[1\]: expected a non-empty string"),
    ("charset_bad_ref", _with(R, charset={"path": "x.txt"}), r'charset: expected a list of symbols, \{"file": path\}'),
    ("extra_not_json", _with(R, notes={1, 2}), "notes: extra keys are stored as JSON"),
    ("decoder_type", _with(R, decoder=[1]), "decoder: expected an object"),
    ("raw_decoder_options", _with(R, decoder={"x": 1}), r"decoder\.x: unknown key; the 'raw' decoder takes no options"),
    ("det_unknown", _with(VALID["detection"], decoder={"conf": 0.3}), r"decoder\.conf: unknown key; .* did you mean 'conf_threshold'"),
    ("det_conf", _with(VALID["detection"], decoder={"conf_threshold": 1.5}), r"decoder\.conf_threshold: expected a number in \[0, 1\]"),
    ("det_iou", _with(VALID["detection"], decoder={"iou_threshold": True}), r"decoder\.iou_threshold: expected a number in \[0, 1\]"),
    ("det_max_det", _with(VALID["detection"], decoder={"max_det": 0}), r"decoder\.max_det: expected an int >= 1"),
    ("det_layout", _with(VALID["detection"], decoder={"layout": "ssd"}), r"decoder\.layout: expected one of \['yolov8', 'yolov5'\]"),
    ("det_agnostic", _with(VALID["detection"], decoder={"class_agnostic": "no"}), r"decoder\.class_agnostic: expected true or false"),
    ("cls_top_k", _with(VALID["classification"], decoder={"top_k": 2.0}), r"decoder\.top_k: expected an int >= 1"),
    ("cls_softmax", _with(VALID["classification"], decoder={"softmax": None, "top_k": -1}), r"decoder\.top_k"),
    ("emb_normalize", _with(VALID["embedding"], decoder={"normalize": 1}), r"decoder\.normalize: expected true or false"),
    ("kp_num", _with(VALID["keypoints"], decoder={"num_keypoints": 0}), r"decoder\.num_keypoints: expected an int >= 1"),
    ("kp_names_len", _with(VALID["keypoints"], decoder={"num_keypoints": 4, "names": ["tl", "tr", "br"]}),
     r"decoder\.names: expected 4 names \(decoder\.num_keypoints\), got 3"),
    ("kp_normalized", _with(VALID["keypoints"], decoder={"num_keypoints": 4, "normalized": "true"}), r"decoder\.normalized"),
    ("ctc_blank_range", _with(VALID["ctc_ocr"], decoder={"blank": 11}), r"decoder\.blank: 11 is out of range: .* 11 classes, so blank must be in \[0, 10\]"),
    ("ctc_blank_type", _with(VALID["ctc_ocr"], decoder={"blank": -1}), r"decoder\.blank: expected an int >= 0"),
    ("ctc_layout", _with(VALID["ctc_ocr"], decoder={"layout": "NCT"}), r"decoder\.layout: expected one of \['NTC', 'TNC'\]"),
    ("ctc_pattern", _with(VALID["ctc_ocr"], decoder={"pattern": "[0-9"}), r"decoder\.pattern: '\[0-9' is not a valid regular expression"),
    ("ctc_pattern_type", _with(VALID["ctc_ocr"], decoder={"pattern": 7}), r"decoder\.pattern: expected a regular expression"),
    ("ctc_beam_width", _with(VALID["ctc_ocr"], decoder={"beam_width": 0}), r"decoder\.beam_width: expected an int >= 1"),
    ("ctc_rows_logits", _with(VALID["ctc_ocr"], decoder={"rows": {"output": 0, "split": dict(TWO_ROW_SPLIT)}}),
     r"decoder\.rows: output 0 is the CTC logits"),
    ("ctc_rows_split", _with(VALID["ctc_ocr"], decoder={"rows": {"output": "rows", "split": {}}}),
     r"decoder\.rows\.split: "),
    ("slots_heads_type", _with(VALID["slots_ocr"], decoder={"heads": {"charset": ["a"]}}), r"decoder\.heads: expected a non-empty list"),
    ("slots_heads_empty", _with(VALID["slots_ocr"], decoder={"heads": []}), r"decoder\.heads: expected a non-empty list"),
    ("slots_head_key", _with(VALID["slots_ocr"], decoder={"heads": [{"charset": ["a"], "slots": [0], "size": 3}]}),
     r"decoder\.heads\[0\]\.size: unknown key"),
    ("slots_no_charset", _with(VALID["slots_ocr"], decoder={"heads": [{"slots": [0]}]}), r"decoder\.heads\[0\]\.charset: required"),
    ("slots_no_slots", _with(VALID["slots_ocr"], decoder={"heads": [{"charset": ["a"]}]}), r"decoder\.heads\[0\]\.slots: required"),
    ("slots_bad_slot", _with(VALID["slots_ocr"], decoder={"heads": [{"charset": ["a"], "slots": [0, -1]}]}),
     r"decoder\.heads\[0\]\.slots\[1\]: expected a position"),
    ("slots_output", _with(VALID["slots_ocr"], decoder={"heads": [{"charset": ["a"], "slots": [0], "output": 1.5}]}),
     r"decoder\.heads\[0\]\.output: expected a model output name"),
    ("slots_output_dup", _with(VALID["slots_ocr"], decoder={"heads": [{"charset": ["a"], "slots": [0], "output": 0},
                                                                      {"charset": ["a"], "slots": [1], "output": 0}]}),
     r"decoder\.heads\[1\]\.output: 0 is also the output of decoder\.heads\[0\]"),
    ("slots_gap", _with(VALID["slots_ocr"], decoder={"heads": [{"charset": ["a"], "slots": [0, 1, 3]}]}),
     r"decoder\.heads: the slots of all heads must cover the positions 0\.\.3 exactly once; missing \[2\]"),
    ("slots_dup", _with(VALID["slots_ocr"], decoder={"heads": [{"charset": ["a"], "slots": [0, 1]}, {"charset": ["b"], "slots": [1, 2]}]}),
     r"decoder\.heads: .* duplicated 1 \(heads \[0, 1\]\)"),
    ("slots_no_zero", _with(VALID["slots_ocr"], decoder={"heads": [{"charset": ["a"], "slots": [1, 2]}]}), r"decoder\.heads: .*missing \[0\]"),
    ("rows_type", _with(VALID["slots_ocr"], decoder={**VALID["slots_ocr"]["decoder"], "rows": "rows"}),
     r"decoder\.rows: expected an object"),
    ("rows_key", _with(VALID["slots_ocr"], decoder={**VALID["slots_ocr"]["decoder"], "rows": {"output": "r", "splits": {}}}),
     r"decoder\.rows\.splits: unknown key"),
    ("rows_no_output", _with(VALID["slots_ocr"], decoder={**VALID["slots_ocr"]["decoder"], "rows": {"split": ROW_SPLIT}}),
     r"decoder\.rows\.output: required"),
    ("rows_head_output", _with(VALID["slots_ocr"], decoder={"heads": [{"charset": ["a"], "slots": [0], "output": "p"}],
                                                            "rows": {"output": "p", "split": ROW_SPLIT}}),
     r"decoder\.rows\.output: 'p' is also the output of decoder\.heads\[0\]"),
    ("rows_split_box", _with(VALID["slots_ocr"], decoder={**VALID["slots_ocr"]["decoder"], "rows": {
        "output": "r", "split": {**ROW_SPLIT, "top": [0, 0.5, 1, 0.4]}}}), r"decoder\.rows\.split: .*0 <= y0 < y1 <= 1"),
    ("rows_split_width", _with(VALID["slots_ocr"], decoder={**VALID["slots_ocr"]["decoder"], "rows": {
        "output": "r", "split": {**ROW_SPLIT, "top_width": 0}}}), r"decoder\.rows\.split: .*0 < top_width < 1"),
]


@pytest.mark.parametrize("d, match", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_content(d, match):
    with pytest.raises(InvalidMetadataError, match=rf"^cfg\.json: {match}") as e:
        ModelConfig.from_dict(d, source="cfg.json")
    assert isinstance(e.value, ValueError) and isinstance(e.value, EdgeVisionError)
    with pytest.raises(InvalidMetadataError, match=match):  # the same through the JSON text
        try:
            text = json.dumps(d)
        except TypeError:
            raise InvalidMetadataError(match) from None
        ModelConfig.from_json(text)


# ---------------------------------------------------------------------------
# Missing keys


def test_missing_keys_are_all_listed_with_an_example_call():
    with pytest.raises(MissingConfigError) as e:
        resolve_config(None, None, {}, source="models/plate.onnx")
    msg = str(e.value)
    assert e.value.missing == ("task", "preprocess.size")
    assert msg.startswith("models/plate.onnx: the model configuration lacks task, preprocess.size")
    assert 'Predictor("plate.onnx", task="classification", preprocess={"size": [224, 224]})' in msg
    assert isinstance(e.value, ValueError) and isinstance(e.value, EdgeVisionError)


@pytest.mark.parametrize("d, missing, example", [
    ({"task": "ctc_ocr", "preprocess": {"size": 8}}, ("charset",), 'charset=list("0123456789'),
    ({"task": "keypoints"}, ("preprocess.size", "decoder.num_keypoints"), 'decoder={"num_keypoints": 4}'),
    ({"task": "keypoints", "preprocess": {"size": 8}, "decoder": {"normalized": False}}, ("decoder.num_keypoints",), "num_keypoints"),
    ({"task": "slots_ocr", "preprocess": {"size": 8}, "decoder": {}}, ("decoder.heads",), 'decoder={"heads": [{"charset"'),
    ({"task": "raw", "preprocess": {"mode": "stretch"}}, ("preprocess.size",), 'preprocess={"size": [224, 224]}'),
    ({"preprocess": {"size": 8}, "charset": ["a"]}, ("task",), 'task="classification"'),
])
def test_missing_keys_per_task(d, missing, example):
    with pytest.raises(MissingConfigError) as e:
        ModelConfig.from_dict(d)
    assert e.value.missing == missing
    assert example in str(e.value)
    with pytest.raises(MissingConfigError):
        resolve_config(d, None, None, source="m.onnx")


def test_missing_charset_for_ctc_is_reported_from_metadata(tmp_path):
    src = make_model(tmp_path / "m.onnx", props={"edgevision": json.dumps({"task": "ctc_ocr", "preprocess": {"size": [32, 48]}})})
    with pytest.raises(MissingConfigError, match=r"lacks charset"):
        ModelConfig.read(src)
    cfg = resolve_config(read_metadata(src), None, {"charset": ["0", "1"]}, source=str(src))
    assert cfg.charset == ("0", "1")


# ---------------------------------------------------------------------------
# Merging


def test_merged_deep_merges_dicts_and_replaces_lists():
    base = det_config()
    new = base.merged({"preprocess": {"mean": [0.1, 0.2, 0.3], "size": [64, 64]}, "labels": ["x"],
                       "decoder": {"max_det": 10}, "quantization": {"calibration": {"images": 64}}})
    assert new.preprocess == {"size": [64, 64], "mode": "letterbox", "swap_rb": True, "pad_value": 114.0,
                              "mean": [0.1, 0.2, 0.3]}
    assert new.labels == ("x",)
    assert new.decoder["max_det"] == 10 and new.decoder["conf_threshold"] == 0.5
    assert new.extra["quantization"] == {"method": "QDQ", "calibration": {"images": 64}}
    assert base == det_config()  # unchanged
    assert base.merged({}) == base
    assert base.merged({"labels": None, "name": None}) == base  # None: not given


def test_merged_task_change_drops_the_old_decoder():
    new = det_config().merged({"task": "classification", "decoder": {"top_k": 1}})
    assert new.decoder == {"top_k": 1, "softmax": True}
    assert new.labels == ("plate", "car")
    with pytest.raises(InvalidMetadataError, match=r"<overrides>: preprocess\.mode"):
        det_config().merged({"preprocess": {"mode": "bad"}})


def test_resolve_config_precedence_kwargs_beat_config_file_beat_metadata(tmp_path):
    meta = det_config()
    cfg_file = tmp_path / "c.json"
    cfg_file.write_text(json.dumps({"preprocess": {"size": [64, 96], "mean": 0.5, "std": 0.25},
                                    "decoder": {"conf_threshold": 0.3, "iou_threshold": 0.6}, "labels": ["a", "b", "c"]}))
    cfg = resolve_config(meta, cfg_file, {"preprocess": {"mean": [0.1, 0.2, 0.3]}, "decoder": {"conf_threshold": 0.9},
                                          "labels": ["z"]}, source="m.onnx")
    assert cfg.preprocess["size"] == [64, 96]              # config file over metadata
    assert cfg.preprocess["std"] == 0.25                   # config file
    assert cfg.preprocess["mean"] == [0.1, 0.2, 0.3]       # kwargs over config file
    assert cfg.preprocess["swap_rb"] is True               # metadata kept (deep merge)
    assert cfg.decoder["conf_threshold"] == 0.9 and cfg.decoder["iou_threshold"] == 0.6
    assert cfg.decoder["max_det"] == 300
    assert cfg.labels == ("z",)                            # lists are replaced
    assert cfg.extra == meta.extra and cfg.name == "plates-yolo"
    # a dict metadata and a dict config work the same
    same = resolve_config(meta.to_dict(), json.loads(cfg_file.read_text()),
                          {"preprocess": {"mean": [0.1, 0.2, 0.3]}, "decoder": {"conf_threshold": 0.9}, "labels": ["z"]},
                          source="m.onnx")
    assert same == cfg


def test_resolve_config_overrides_with_task_and_input():
    cfg = resolve_config(None, None, {"task": "classification", "preprocess": {"size": [224, 224], "dtype": "float16"},
                                      "input": {"name": "x"}}, source="m.onnx")
    assert (cfg.task, cfg.input_name, cfg.dtype, cfg.layout) == ("classification", "x", "float16", "NCHW")
    # the task set by a layer above drops the decoder options of the layers below
    cfg2 = resolve_config(det_config(), {"task": "embedding"}, None, source="m.onnx")
    assert cfg2.decoder == {"normalize": True}
    # an override of dtype through preprocess replaces the metadata's input.dtype
    cfg3 = resolve_config(det_config(), None, {"preprocess": {"dtype": "uint8"}}, source="m.onnx")
    assert cfg3.dtype == "uint8"


def test_resolve_config_names_the_layer_of_a_bad_value(tmp_path):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("preprocess:\n  mean: [1, 2]\n")
    with pytest.raises(InvalidMetadataError, match=rf"^{cfg_file}: preprocess\.mean: expected a number or 3 values"):
        resolve_config(det_config(), cfg_file, None, source="m.onnx")
    with pytest.raises(InvalidMetadataError, match=r"^m\.onnx \(overrides\): decoder\.max_det: expected an int >= 1"):
        resolve_config(det_config(), None, {"decoder": {"max_det": 0}}, source="m.onnx")
    with pytest.raises(InvalidMetadataError, match=r"^m\.onnx \(config\): labels\[0\]"):
        resolve_config(det_config(), {"labels": [1]}, None, source="m.onnx")
    with pytest.raises(InvalidMetadataError, match=r"^m\.onnx \(metadata\): preprocess\.mode"):
        resolve_config({"task": "raw", "preprocess": {"size": 8, "mode": "x"}}, None, None, source="m.onnx")
    with pytest.raises(UnsupportedSchemaError, match=r"^m\.onnx \(config\): schema: version 3"):
        resolve_config(det_config(), {"schema": 3}, None, source="m.onnx")


@pytest.mark.parametrize("key, hint", [
    ("mean", r"preprocess=\{'mean': \.\.\.\}"),
    ("size", r"preprocess=\{'size': \.\.\.\}"),
    ("conf_threshold", r"decoder=\{'conf_threshold': \.\.\.\}"),
    ("dtype", r"input=\{'dtype': \.\.\.\}"),
    ("threads", r"threads is a run-time setting"),
    ("taks", r"unknown key; .* did you mean 'task'"),
    ("quantization", r"unknown key"),
])
def test_resolve_config_refuses_unknown_override_keys(key, hint):
    with pytest.raises(InvalidArgumentError, match=rf"m\.onnx \(overrides\): {key}: .*{hint}"):
        resolve_config(det_config(), None, {key: 1}, source="m.onnx")


def test_resolve_config_argument_types():
    with pytest.raises(InvalidTypeError, match="metadata: expected a ModelConfig, a dict or None"):
        resolve_config("m.onnx", None, None, source="m.onnx")  # type: ignore[arg-type]
    with pytest.raises(InvalidTypeError, match="config: expected a dict or a .json/.yaml file path"):
        resolve_config(None, 3, None, source="m.onnx")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# Config files


def test_json_and_yaml_config_files_give_the_same_config(tmp_path):
    d = {"task": "ctc_ocr", "input": {"layout": "NHWC"},
         "preprocess": {"size": [48, 320], "mode": "pad_right", "mean": 0.5, "std": 0.5, "channels": 1},
         "charset": list("0123456789"), "decoder": {"blank": 10}}
    (tmp_path / "c.json").write_text(json.dumps(d))
    (tmp_path / "c.yaml").write_text(textwrap.dedent("""\
        # plate reader
        task: ctc_ocr
        input: {layout: NHWC}
        preprocess:
          size: [48, 320]
          mode: pad_right
          mean: 0.5
          std: 0.5
          channels: 1
        charset: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
        decoder: {blank: 10}
        """))
    (tmp_path / "c.yml").write_text(json.dumps(d))  # JSON is YAML
    a = resolve_config(None, tmp_path / "c.json", None, source="m.onnx")
    b = resolve_config(None, str(tmp_path / "c.yaml"), None, source="m.onnx")
    c = resolve_config(None, tmp_path / "c.yml", None, source="m.onnx")
    assert a == b == c == ModelConfig.from_dict(d)
    assert C.load_config_file(tmp_path / "c.yaml") == json.loads(json.dumps(d))


def test_config_file_errors(tmp_path, monkeypatch):
    with pytest.raises(InvalidArgumentError, match=r"config: no such file '.*nope\.yaml'"):
        resolve_config(None, tmp_path / "nope.yaml", None, source="m.onnx")
    (tmp_path / "c.txt").write_text("task: raw")
    with pytest.raises(InvalidArgumentError, match=r"config: expected a \.json, \.yaml or \.yml file"):
        resolve_config(None, tmp_path / "c.txt", None, source="m.onnx")
    (tmp_path / "bad.yaml").write_text("task: [raw\n")
    with pytest.raises(InvalidMetadataError, match=r"bad\.yaml: not valid YAML"):
        resolve_config(None, tmp_path / "bad.yaml", None, source="m.onnx")
    (tmp_path / "list.yaml").write_text("- raw\n")
    with pytest.raises(InvalidMetadataError, match=r"list\.yaml: expected an object \(JSON object / YAML mapping / dict\) of config keys, got list"):
        resolve_config(None, tmp_path / "list.yaml", None, source="m.onnx")
    (tmp_path / "bad.json").write_text('{"task": "raw",}')
    with pytest.raises(InvalidMetadataError, match=r"bad\.json: not valid JSON"):
        resolve_config(None, tmp_path / "bad.json", None, source="m.onnx")
    (tmp_path / "ok.yaml").write_text("task: raw\npreprocess: {size: 8}\n")
    monkeypatch.setitem(sys.modules, "yaml", None)  # PyYAML not installed
    with pytest.raises(MissingDependencyError, match=r"ok\.yaml.*needs PyYAML \(pip install pyyaml\)"):
        resolve_config(None, tmp_path / "ok.yaml", None, source="m.onnx")


# ---------------------------------------------------------------------------
# Charset references


def test_charset_from_file_relative_to_the_config_file(tmp_path, monkeypatch):
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "chars.txt").write_text("0\n1\n \nA\r\nБ\n", encoding="utf-8")
    (tmp_path / "cfg" / "chars.json").write_text(json.dumps(["x", "yz"]))
    (tmp_path / "cfg" / "c.yaml").write_text("task: ctc_ocr\npreprocess: {size: [32, 128]}\ncharset: {file: chars.txt}\n")
    monkeypatch.chdir(tmp_path)  # relative to the config file, not to the working directory
    cfg = resolve_config(None, "cfg/c.yaml", None, source="m.onnx")
    assert cfg.charset == ("0", "1", " ", "A", "Б")
    cfg2 = resolve_config(None, "cfg/c.yaml", {"charset": {"file": "cfg/chars.json"}}, source="m.onnx")
    assert cfg2.charset == ("x", "yz")  # overrides: relative to the working directory
    # slots heads take references too
    heads = {"heads": [{"charset": {"file": "cfg/chars.txt"}, "slots": [0]}]}
    assert ModelConfig.from_dict({"task": "slots_ocr", "preprocess": {"size": 8}, "decoder": heads}
                                 ).decoder["heads"][0]["charset"] == ["0", "1", " ", "A", "Б"]


def test_charset_file_errors(tmp_path):
    base = {"task": "ctc_ocr", "preprocess": {"size": 8}}
    with pytest.raises(InvalidMetadataError, match=r"c\.json: charset\.file: no such file '.*missing\.txt'"):
        ModelConfig.from_dict(dict(base, charset={"file": "missing.txt"}), source="c.json", base_dir=tmp_path)
    (tmp_path / "gap.txt").write_text("a\n\nb\n")
    with pytest.raises(InvalidMetadataError, match=r"gap\.txt: charset: line 2 is empty"):
        ModelConfig.from_dict(dict(base, charset={"file": "gap.txt"}), base_dir=tmp_path)
    with pytest.raises(InvalidMetadataError, match=r"charset\.file: expected a file path"):
        ModelConfig.from_dict(dict(base, charset={"file": 3}))


def test_charset_from_a_metadata_key(tmp_path):
    meta = {"task": "ctc_ocr", "preprocess": {"size": [32, 48]}, "charset": {"metadata_key": "character"}}
    src = make_model(tmp_path / "m.onnx", props={"character": "a\nb\nc", "chars_json": '["x", "y"]',
                                                "edgevision": json.dumps(meta)})
    cfg = ModelConfig.read(src)
    assert cfg.charset == ("a", "b", "c")
    assert ModelConfig.read(session(src)) == cfg
    assert read_metadata(src)["charset"] == ["a", "b", "c"]
    # written back inline: the model stays self-contained
    assert json.loads(cfg.to_json())["charset"] == ["a", "b", "c"]
    # from a config or overrides, with the model's metadata map
    mm = read_custom_metadata(src)
    over = resolve_config(read_metadata(src), None, {"charset": {"metadata_key": "chars_json"}}, source=str(src),
                          model_metadata=mm)
    assert over.charset == ("x", "y")
    with pytest.raises(InvalidMetadataError, match=r"charset\.metadata_key: 'chars_json' refers to the model's custom metadata"):
        resolve_config(None, None, {"charset": {"metadata_key": "chars_json"}}, source="m.onnx")
    with pytest.raises(InvalidMetadataError, match=r"charset\.metadata_key: the model has no metadata entry 'nope'"):
        resolve_config(None, None, {"charset": {"metadata_key": "nope"}}, source="m.onnx", model_metadata=mm)
    src2 = make_model(tmp_path / "m2.onnx", props={"edgevision": json.dumps(dict(meta, charset={"metadata_key": "x"}))})
    with pytest.raises(InvalidMetadataError, match=r"m2\.onnx.*charset\.metadata_key: the model has no metadata entry 'x'"):
        ModelConfig.read(src2)


# ---------------------------------------------------------------------------
# Preprocessing


@pytest.mark.parametrize("d, shape, dtype", [
    (DET, (1, 3, 32, 48), np.float32),
    ({"task": "raw", "input": {"layout": "NHWC", "dtype": "uint8"}, "preprocess": {"size": [20, 30], "mode": "stretch"}},
     (1, 20, 30, 3), np.uint8),
    ({"task": "ctc_ocr", "input": {"dtype": "float16"}, "charset": ["a"],
      "preprocess": {"size": [16, 64], "mode": "pad_right", "channels": 1, "mean": 0.5, "std": 0.5}},
     (1, 1, 16, 64), np.float16),
])
def test_preprocess_kwargs_feed_letterbox(d, shape, dtype):
    cfg = ModelConfig.from_dict(d)
    size, kwargs = cfg.preprocess_kwargs()
    assert size == tuple(cfg.preprocess["size"]) and "size" not in kwargs
    assert kwargs["layout"] == cfg.layout and kwargs["dtype"] == cfg.dtype
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (50, 70) if cfg.preprocess.get("channels") == 1 else (50, 70, 3), dtype=np.uint8)
    blob, t = ev.letterbox(image, size, **kwargs)
    assert blob.shape == shape and blob.dtype == dtype
    explicit = {k: v for k, v in d["preprocess"].items() if k != "size"}
    explicit.update({k: v for k, v in d.get("input", {}).items() if k != "name"})
    ref, _ = ev.letterbox(image, d["preprocess"]["size"], **explicit)
    np.testing.assert_array_equal(blob, ref)
    opts = cfg.preprocess_options(image_channels=image.ndim == 3 and 3 or 1)
    assert opts.layout == cfg.layout and opts.dtype == np.dtype(dtype)


# ---------------------------------------------------------------------------
# write(): checks against the graph, errors


def test_write_checks_the_graph(tmp_path):
    src = make_model(tmp_path / "m.onnx", shape=("N", 3, 32, 48), outputs=2)
    with pytest.raises(InvalidMetadataError, match=r"m\.onnx: input\.name: 'x' is not an input of the model; inputs: \['images'\]"):
        det_config().merged({"input": {"name": "x"}}).write(src)
    with pytest.raises(InvalidMetadataError, match=r"m\.onnx: input\.dtype: 'float16', but the model's input 'images' is float32"):
        det_config().merged({"input": {"dtype": "float16"}}).write(src)
    with pytest.raises(InvalidMetadataError, match=r"m\.onnx: preprocess\.size: size \[32, 32\]"):
        det_config().merged({"preprocess": {"size": 32}}).write(src)
    with pytest.raises(InvalidMetadataError, match=r"preprocess\.channels: .*with 1 channels"):
        det_config().merged({"preprocess": {"channels": 1}}).write(src)
    with pytest.raises(InvalidMetadataError, match=r"preprocess\.size"):
        det_config().merged({"input": {"layout": "NHWC"}}).write(src)
    # zero_channels count in the input tensor's channels: 3 + 1 does not fit a 3-channel input, fits a 4-channel one
    with pytest.raises(InvalidMetadataError, match=r"preprocess\.channels: .*with 4 channels"):
        det_config().merged({"preprocess": {"zero_channels": 1}}).write(src)
    four = make_model(tmp_path / "m4.onnx", shape=("N", 48, 64, 4), outputs=2)
    cfg = det_config().merged({"input": {"layout": "NHWC"}, "preprocess": {"size": [48, 64], "zero_channels": 1}})
    cfg.write(four)
    assert cfg.input_channels == 4 and cfg.preprocess["zero_channels"] == 1
    assert isinstance(cfg.preprocess["zero_channels"], int) and cfg.preprocess_options().out_channels == 4
    slots = ModelConfig.from_dict(_with(VALID["slots_ocr"], preprocess={"size": [32, 48]}))
    slots.write(src)  # heads: output index 0 implied, output "out1"
    with pytest.raises(InvalidMetadataError, match=r"decoder\.heads\[1\]\.output: 'out7' is not an output"):
        slots.merged({"decoder": {"heads": [{"charset": ["a"], "slots": [0]},
                                            {"charset": ["b"], "slots": [1], "output": "out7"}]}}).write(src)
    with pytest.raises(InvalidMetadataError, match=r"decoder\.heads\[0\]\.output: 2 is not an output"):
        slots.merged({"decoder": {"heads": [{"charset": ["a"], "slots": [0], "output": 2}]}}).write(src)
    with pytest.raises(InvalidMetadataError, match=r"decoder\.rows\.output: 'rows' is not an output"):
        slots.merged({"decoder": {"rows": {"output": "rows", "split": ROW_SPLIT}}}).write(src)
    assert ModelConfig.read(src) == slots  # failed writes changed nothing
    with_rows = slots.merged({"decoder": {"heads": [{"charset": ["a"], "slots": [0], "output": "out0"}],
                                          "rows": {"output": 1, "split": ROW_SPLIT}}})
    with_rows.write(src)
    assert ModelConfig.read(src).decoder["rows"] == {"output": 1, "split": ROW_SPLIT}
    dyn = make_model(tmp_path / "dyn.onnx", shape=("N", 3, "H", "W"), elem_type=TensorProto.UINT8)
    ModelConfig.from_dict({"task": "raw", "input": {"dtype": "uint8"}, "preprocess": {"size": 99}}).write(dyn)
    with pytest.raises(InvalidMetadataError, match=r"input\.dtype: 'float32', but the model's input 'images' is uint8"):
        ModelConfig.from_dict(VALID["raw"]).write(dyn)


def test_write_errors(tmp_path, monkeypatch):
    with pytest.raises(ModelLoadError, match=r"src_onnx: no such file '.*nope\.onnx'"):
        det_config().write(tmp_path / "nope.onnx")
    src = make_model(tmp_path / "m.onnx", shape=("N", 3, 32, 48))
    with pytest.raises(InvalidArgumentError, match=r"dst_onnx: the directory of '.*nodir.*' does not exist"):
        det_config().write(src, tmp_path / "nodir" / "m.onnx")
    monkeypatch.setitem(sys.modules, "onnx", None)  # onnx not installed (a device)
    with pytest.raises(MissingDependencyError, match="ModelConfig.write needs the onnx package"):
        det_config().write(src)


def test_write_keeps_external_data_in_place(tmp_path):
    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 3, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, 4, 4])
    w = onnx.numpy_helper.from_array(np.full((1, 3, 4, 4), 2, np.float32), "w")
    model = helper.make_model(helper.make_graph([helper.make_node("Mul", ["images", "w"], ["y"])], "g", [x], [y], [w]),
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    src = tmp_path / "ext.onnx"
    onnx.save(model, str(src), save_as_external_data=True, all_tensors_to_one_file=True, location="ext.data",
              size_threshold=0)
    cfg = ModelConfig.from_dict({"task": "raw", "preprocess": {"size": 4}})
    cfg.write(src)
    assert ModelConfig.read(src) == cfg
    out = session(src).run(None, {"images": np.ones((1, 3, 4, 4), np.float32)})[0]
    np.testing.assert_array_equal(out, 2)
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(InvalidArgumentError, match="dst_onnx: .*external data"):
        cfg.write(src, tmp_path / "elsewhere" / "ext.onnx")


# ---------------------------------------------------------------------------
# Runtime import hygiene


def test_runtime_imports_and_reads_without_onnx_or_yaml(tmp_path):
    src = make_model(tmp_path / "m.onnx", props={"edgevision": det_config().to_json()})
    code = textwrap.dedent(f"""
        import sys
        for name in ("onnx", "yaml", "torch", "keras", "tensorflow"):
            sys.modules[name] = None  # importing any of them fails
        import edgevision.config as C
        cfg = C.ModelConfig.read({str(src)!r})
        assert cfg.task == "detection", cfg
        assert C.read_metadata({str(src)!r})["task"] == "detection"
        print("ok")
    """)
    r = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_importing_config_imports_no_heavy_module():
    code = ("import sys, edgevision.config; "
            "print(sorted(m for m in ('onnx', 'onnxruntime', 'yaml', 'torch', 'keras') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
