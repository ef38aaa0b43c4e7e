"""The runner seam: Runner.metadata, infer(feed, check=...), and load_runner's file-type table."""

from __future__ import annotations

import json

import numpy as np
import pytest

import models
from edgevision.backends import FILE_TYPES, RUNNERS, Runner, load_runner
from edgevision.errors import InvalidArgumentError, InvalidTypeError


@pytest.fixture(scope="module")
def kp_path(tmp_path_factory) -> str:
    meta = {"schema": 1, "task": "keypoints", "preprocess": {"size": [64, 96]},
            "decoder": {"num_keypoints": 4, "names": ["tl", "tr", "br", "bl"]}}
    m = models.with_metadata(models.keypoints_model(64, 96), meta)
    e = m.metadata_props.add()
    e.key, e.value = "note", "hello"
    return models.save(m, tmp_path_factory.mktemp("backends") / "kp.onnx")


def test_runner_metadata_is_the_models_string_metadata(kp_path):
    r = load_runner(kp_path, device="cpu")
    assert isinstance(r, Runner)
    assert r.metadata["note"] == "hello" and json.loads(r.metadata["edgevision"])["task"] == "keypoints"
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in r.metadata.items())


def test_infer_checks_the_feed_unless_told_not_to(kp_path):
    r = load_runner(kp_path, device="cpu")
    t = r.inputs[0]
    shape = tuple(d if isinstance(d, int) and d > 0 else 1 for d in t.shape)
    x = np.zeros(shape, t.dtype)
    checked = r.infer({t.name: x})
    unchecked = r.infer({t.name: x}, check=False)
    assert len(checked) == len(r.outputs)
    for a, b in zip(checked, unchecked):
        assert np.array_equal(a, b)
    with pytest.raises(InvalidTypeError, match="dtype"):
        r.infer({t.name: x.astype(np.float64)})
    with pytest.raises(InvalidArgumentError, match="expected inputs"):
        r.infer({"nope": x})


def test_the_table_picks_the_runner_by_file_type(kp_path, tmp_path):
    assert FILE_TYPES[".onnx"] == "onnxruntime" and RUNNERS["onnxruntime"] is not None
    assert type(load_runner(kp_path, device="cpu")).__name__ == "OnnxRuntimeRunner"
    for suffix in (".engine", ".plan", ".ENGINE"):
        engine = tmp_path / f"model{suffix}"
        engine.write_bytes(b"\0" * 16)
        # the file type wins over backend=: an engine is never handed to ONNX Runtime
        for backend in ("auto", "onnxruntime"):
            with pytest.raises(InvalidArgumentError, match=r"TensorRT engines .* not supported yet"):
                load_runner(engine, backend=backend)
    with pytest.raises(InvalidArgumentError, match="TensorRT"):
        load_runner(kp_path, backend="tensorrt")
    with pytest.raises(InvalidArgumentError, match="backend: expected one of"):
        load_runner(kp_path, backend="tflite")


def test_a_new_backend_is_one_table_entry(kp_path, monkeypatch):
    """A runner written elsewhere plugs in through RUNNERS alone (the Predictor needs nothing else)."""
    import edgevision.backends as B
    from edgevision import Predictor
    from edgevision.backends.onnxruntime import OnnxRuntimeRunner

    class Echo(OnnxRuntimeRunner):
        name = "echo"

        @property
        def metadata(self) -> dict[str, str]:
            return {**super().metadata, "echo": json.dumps(True)}

    monkeypatch.setattr(B, "Echo", Echo, raising=False)
    monkeypatch.setitem(B.RUNNERS, "onnxruntime", ("edgevision.backends", "Echo"))
    p = Predictor(kp_path, device="cpu", warmup=False)
    assert p.backend == "echo" and p.runner.metadata["echo"] == "true"
    assert p.task == "keypoints"  # the config came through Runner.metadata
    assert p(np.zeros((64, 96, 3), np.uint8)).keypoints.shape == (4, 2)
