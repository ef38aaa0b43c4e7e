"""exporters.ensemble.average_models: one graph that returns the mean of its members' outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import edgevision
from edgevision.config import ModelConfig
from edgevision.errors import InvalidArgumentError
from exporters.ensemble import average_models
from exporters.errors import ExportError

MODELS = Path(edgevision.__file__).parent / "models"
CLS = MODELS / "meter_digit_cls.onnx"


def _variant(tmp_path: Path, name: str, scale: float) -> Path:
    """The bundled digit classifier with its dense weights scaled: another member of the same family."""
    if not CLS.is_file():
        pytest.skip("meter_digit_cls.onnx is not bundled")
    m = onnx.load(str(CLS))
    dense = [t for t in m.graph.initializer if len(t.dims) == 2 and not t.name.startswith("exemplars/")]
    big = max(dense, key=lambda t: int(np.prod(t.dims)))  # a dense layer's weights (not the exemplar bank)
    big.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(big) * np.float32(scale), big.name))
    out = tmp_path / name / "meter_digit_cls.onnx"
    out.parent.mkdir()
    onnx.save(m, str(out))
    return out


def test_average_is_the_mean_of_the_members(tmp_path: Path) -> None:
    a, b = _variant(tmp_path, "a", 1.0), _variant(tmp_path, "b", 0.3)
    out = average_models([a, b], tmp_path / "ens.onnx")
    crops = [np.random.default_rng(i).integers(0, 255, (32, 20, 3), dtype=np.uint8) for i in range(4)]
    pa, pb, pe = (edgevision.Predictor(str(p), threads=1) for p in (a, b, out))
    blob, _ = pe.preprocess(crops)
    ya, yb, ye = (np.asarray(p.infer(blob)[0]) for p in (pa, pb, pe))
    assert np.abs(ya - yb).max() > 1e-3  # the members differ
    np.testing.assert_allclose(ye, (ya + yb) / 2, atol=1e-6)
    np.testing.assert_allclose(ye.sum(1), 1.0, atol=1e-5)  # averaged probabilities are probabilities
    cfg = ModelConfig.read(str(out))
    base = ModelConfig.read(str(a))
    assert cfg.task == base.task and cfg.labels == base.labels and cfg.preprocess == base.preprocess
    assert cfg.extra["ensemble"] == {"rule": "mean of each output", "members": ["a/meter_digit_cls.onnx",
                                                                              "b/meter_digit_cls.onnx"]}
    assert [r.labels[0] for r in pe(crops)] == [str(k) for k in ye.argmax(1)]


def test_three_members_and_a_name(tmp_path: Path) -> None:
    paths = [_variant(tmp_path, n, s) for n, s in (("a", 1.0), ("b", 0.5), ("c", 2.0))]
    out = average_models(paths, tmp_path / "e3.onnx", name="digits3")
    assert ModelConfig.read(str(out)).name == "digits3"
    g = onnx.load(str(out)).graph
    top = [n for n in g.node if n.name == "ensemble_mean_probs"]  # (a member may be an ensemble itself)
    assert len(top) == 1 and list(top[0].input) == ["m0/probs", "m1/probs", "m2/probs"] and len(g.input) == 1


def test_members_must_agree(tmp_path: Path) -> None:
    a = _variant(tmp_path, "a", 1.0)
    with pytest.raises(InvalidArgumentError, match="models: expected at least 2"):
        average_models([a], tmp_path / "x.onnx")
    with pytest.raises(InvalidArgumentError, match="no such file"):
        average_models([a, tmp_path / "missing.onnx"], tmp_path / "x.onnx")
    det = MODELS / "meter_digits.onnx"
    if det.is_file():
        with pytest.raises(ExportError, match="input .* differs"):
            average_models([a, det], tmp_path / "x.onnx")
    relabelled = _variant(tmp_path, "r", 1.0)
    cfg = ModelConfig.read(str(relabelled)).to_dict()
    cfg["labels"] = list("abcdefghij")
    ModelConfig.from_dict(cfg).write(relabelled)
    with pytest.raises(ExportError, match="metadata labels differ"):
        average_models([a, relabelled], tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()  # nothing written for a refused set
