"""exporters.exemplars.add_exemplar_vote: a nearest-exemplar vote appended to a softmax classifier."""

from __future__ import annotations

import json
from pathlib import Path

import models
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import edgevision
from edgevision.config import ModelConfig
from edgevision.errors import InvalidArgumentError
from exporters.ensemble import average_models
from exporters.errors import ExportError
from exporters.exemplars import add_exemplar_vote, exemplar_features, prelogit_features, vote_reference

H, W, C = 6, 5, 10
META = {"task": "classification", "labels": [str(i) for i in range(C)],
        "preprocess": {"size": [H, W], "mode": "stretch", "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25],
                       "layout": "NHWC", "swap_rb": False}}


def _softmax_classifier(path: Path, seed: int = 0, batch: int | str = "N") -> Path:
    """(N, H, W, 3) -> softmax(flatten(x) @ w + b): the flattened pixels are the pre-logit features."""
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 0.3, (H * W * 3, C)).astype(np.float32)
    b = rng.normal(0, 0.1, C).astype(np.float32)
    nodes = [helper.make_node("Flatten", ["images"], ["feat"], axis=1),
             helper.make_node("MatMul", ["feat", "w"], ["mm"]),
             helper.make_node("Add", ["mm", "b"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["probs"], axis=1)]
    m = models._graph("cls", nodes, [helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, H, W, 3])],
                      [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [batch, C])],
                      [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    return Path(models.save(models.with_metadata(m, META), path))


def _crops(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(n)]


def _clustered(groups: int, per: int, seed: int, noise_seed: int = 0, noise: int = 12) -> list[np.ndarray]:
    """``per`` noisy copies of each of ``groups`` random patterns (``seed``), pattern by pattern: one font,
    several photos."""
    rng = np.random.default_rng(noise_seed)
    out = []
    for base in _crops(groups, seed + 100):
        out += [np.clip(base.astype(int) + rng.integers(-noise, noise + 1, base.shape), 0, 255).astype(np.uint8)
                for _ in range(per)]
    return out


def _run(path: Path, crops: list[np.ndarray]) -> np.ndarray:
    p = edgevision.Predictor(str(path), threads=1)
    blob, _ = p.preprocess(crops)
    return np.asarray(p.infer(blob)[0], np.float64)


def test_vote_matches_its_numpy_reference(tmp_path: Path) -> None:
    src = _softmax_classifier(tmp_path / "cls.onnx")
    ex = _clustered(10, 4, 1)
    labels = np.repeat(np.arange(10), 4) % C
    sec = add_exemplar_vote(src, tmp_path / "ex.onnx", ex, labels, k=3, temperature=0.05, weight=0.5,
                            gate_quantile=0.1, source="test")
    assert sec["count"] == 40 and sec["k"] == 3 and sec["features"] == ["feat"] and sec["source"] == "test"
    assert 0 < sec["gate"] < 1
    # exemplars (nearest similarity 1: voted), new copies of their patterns, and unrelated crops (under the gate)
    queries = ex[:10] + _clustered(10, 1, 1, noise_seed=7) + _crops(10, 9)
    probs, feats = exemplar_features(src, queries)
    _, bank = exemplar_features(src, ex)
    bank16 = bank.astype(np.float16).astype(np.float32)
    want = vote_reference(probs, feats, bank16, np.eye(C)[labels], k=3, temperature=0.05, weight=0.5, gate=sec["gate"])
    got = _run(tmp_path / "ex.onnx", queries)
    np.testing.assert_allclose(got, want, atol=1e-4)
    np.testing.assert_allclose(got.sum(1), 1.0, atol=1e-5)
    sims = feats @ bank16.T
    voted = sims.max(1) >= sec["gate"]
    assert voted[:10].all() and not voted[20:].any()  # the gate: exemplars vote, unrelated crops do not
    np.testing.assert_allclose(got[~voted], probs[~voted], atol=1e-6)
    # a new copy of a pattern now leans to the pattern's label: half its probability is the vote for it
    assert (got[np.arange(10, 20), np.arange(10)] >= 0.5 - 1e-4).all()


def test_an_exemplar_overrides_the_classifier_and_metadata_survives(tmp_path: Path) -> None:
    src = _softmax_classifier(tmp_path / "cls.onnx")
    ex = _crops(12, 2)
    base = _run(src, ex).argmax(1)
    labels = (base + 1) % C  # every exemplar labelled with a class the classifier does not give it
    add_exemplar_vote(src, tmp_path / "ex.onnx", ex, labels, k=1, weight=0.8)
    p = edgevision.Predictor(str(tmp_path / "ex.onnx"), threads=1)
    assert [r.labels[0] for r in p(ex)] == [str(v) for v in labels]
    cfg, old = ModelConfig.read(str(tmp_path / "ex.onnx")), ModelConfig.read(str(src))
    assert (cfg.task, cfg.labels, cfg.preprocess) == (old.task, old.labels, old.preprocess)
    assert cfg.extra["exemplars"]["weight"] == 0.8 and cfg.extra["exemplars"]["bank_dtype"] == "float16"
    g = onnx.load(str(tmp_path / "ex.onnx")).graph
    assert [o.name for o in g.output] == ["probs"] and len(g.input) == 1


def test_soft_targets_and_an_ensemble(tmp_path: Path) -> None:
    a, b = _softmax_classifier(tmp_path / "a.onnx", 0), _softmax_classifier(tmp_path / "b.onnx", 1)
    ens = average_models([a, b], tmp_path / "ens.onnx")
    assert prelogit_features(onnx.load(str(ens))) == ["m0/feat", "m1/feat"]
    ex = _crops(20, 3)
    targets = np.zeros((20, C), np.float32)
    targets[np.arange(20), np.arange(20) % C] = 0.7  # a drum 30% of the way to the next digit
    targets[np.arange(20), (np.arange(20) + 1) % C] = 0.3
    sec = add_exemplar_vote(ens, tmp_path / "ens_ex.onnx", ex, targets, k=1, weight=1.0)
    assert sec["dim"] == 2 * H * W * 3
    np.testing.assert_allclose(_run(tmp_path / "ens_ex.onnx", ex), targets, atol=2e-3)


def test_a_static_batch_model(tmp_path: Path) -> None:
    src = _softmax_classifier(tmp_path / "cls1.onnx", batch=1)
    ex = _clustered(3, 2, 6)
    add_exemplar_vote(src, tmp_path / "ex1.onnx", ex, np.repeat([2, 4, 6], 2), k=1, weight=1.0)
    p = edgevision.Predictor(str(tmp_path / "ex1.onnx"), threads=1)
    assert p.batch_size == 1 and [r.labels[0] for r in p(ex)] == ["2", "2", "4", "4", "6", "6"]


def test_bad_arguments_are_named(tmp_path: Path) -> None:
    src = _softmax_classifier(tmp_path / "cls.onnx")
    ex = _crops(6, 4)
    lab = np.arange(6)
    out = tmp_path / "x.onnx"
    for kwargs, match in (({"k": 0}, "k: expected an int in \\[1, 6\\]"), ({"k": 7}, "k: expected"),
                          ({"weight": 0.0}, "weight: expected"), ({"weight": 1.5}, "weight: expected"),
                          ({"temperature": 0}, "temperature: expected"), ({"gate_quantile": 1.0}, "gate_quantile")):
        with pytest.raises(InvalidArgumentError, match=match):
            add_exemplar_vote(src, out, ex, lab, **kwargs)
    with pytest.raises(InvalidArgumentError, match="targets: expected 6 class indices"):
        add_exemplar_vote(src, out, ex, np.zeros((6, 3)))
    with pytest.raises(InvalidArgumentError, match="targets: each row must be probabilities"):
        add_exemplar_vote(src, out, ex, np.full((6, C), 0.5))
    with pytest.raises(InvalidArgumentError, match="targets: class indices must be in"):
        add_exemplar_vote(src, out, ex, np.full(6, C))
    with pytest.raises(InvalidArgumentError, match="images: expected at least 2"):
        add_exemplar_vote(src, out, ex[:1], lab[:1])
    with pytest.raises(InvalidArgumentError, match="no such file"):
        add_exemplar_vote(tmp_path / "missing.onnx", out, ex, lab)
    assert not out.exists()
    kp = models.save(models.with_metadata(models.keypoints_model(), {
        "task": "keypoints", "preprocess": {"size": [64, 96]}, "decoder": {"num_keypoints": 4}}), tmp_path / "kp.onnx")
    with pytest.raises(ExportError, match="expected a self-describing classification model"):
        add_exemplar_vote(kp, out, ex, lab)
    add_exemplar_vote(src, out, ex, lab)
    with pytest.raises(ExportError, match="already has an exemplar vote"):
        add_exemplar_vote(out, tmp_path / "y.onnx", ex, lab)
    raw = onnx.load(str(src))
    raw.graph.node[-1].op_type = "Sigmoid"
    del raw.graph.node[-1].attribute[:]
    onnx.save(raw, str(tmp_path / "sig.onnx"))
    with pytest.raises(ExportError, match="not Softmax or a Mean of softmaxes"):
        add_exemplar_vote(tmp_path / "sig.onnx", out, ex, lab)


def test_bundled_digit_classifiers_carry_the_drum_vote() -> None:
    """The bundled fp32 and int8 digit classifiers vote over the 700 real drum train crops (model card), and
    the committed drum samples read as their nearest digit through them."""
    from calibration.meter_real import drum_digits
    from training.meter_digits import EXEMPLAR_VOTE, soft_target

    drums = drum_digits("all", directory=Path(__file__).parent / "data" / "meters" / "drum")
    assert len(drums) >= 8
    for name in ("meter_digit_cls.onnx", "meter_digit_cls_int8.onnx"):
        path = Path(edgevision.__file__).parent / "models" / name
        sec = ModelConfig.read(str(path)).extra["exemplars"]
        assert sec["count"] == 700 and "'train'" in sec["source"]
        assert {k: sec[k] for k in EXEMPLAR_VOTE} == EXEMPLAR_VOTE
        got = _run(path, [d.image for d in drums])
        np.testing.assert_allclose(got.sum(1), 1.0, atol=1e-4)
        want = np.array([soft_target(d.position) for d in drums])
        nearest = [int(np.floor(d.position + 0.5)) % 10 for d in drums]
        assert (got.argmax(1) == nearest).mean() >= 0.9, (name, got.argmax(1), nearest)
        assert np.abs(got - want).sum(1).mean() < 0.8
    json.dumps(sec)  # the metadata section is plain JSON


def test_cli_teaches_a_folder_of_labelled_crops(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import cv2

    from exporters.__main__ import main
    from exporters.exemplars import read_exemplar_folder

    src = _softmax_classifier(tmp_path / "cls.onnx")
    crops = _clustered(3, 3, 4)
    for i, img in enumerate(crops):
        d = tmp_path / "crops" / str(7 - i // 3)  # patterns labelled 7, 6, 5
        d.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(d / f"{i}.png"), img)
    images, idx = read_exemplar_folder(tmp_path / "crops", META["labels"])
    assert sorted(idx.tolist()) == [5, 5, 5, 6, 6, 6, 7, 7, 7] and all(im.shape == (H, W, 3) for im in images)
    out = tmp_path / "taught.onnx"
    assert main(["exemplars", str(src), str(tmp_path / "crops"), "--out", str(out), "--k", "3", "--weight", "0.9"]) == 0
    assert "a vote over 9 exemplars" in capsys.readouterr().out
    p = edgevision.Predictor(str(out), threads=1)
    assert [r.labels[0] for r in p(crops)] == ["7"] * 3 + ["6"] * 3 + ["5"] * 3
    # bad input: named, exit status 2, nothing written
    (tmp_path / "crops" / "x").mkdir()
    assert main(["exemplars", str(src), str(tmp_path / "crops"), "--out", str(tmp_path / "bad.onnx")]) == 2
    assert "'x' names no class of the model" in capsys.readouterr().err
    assert main(["exemplars", str(src), str(tmp_path / "none"), "--out", str(tmp_path / "bad.onnx")]) == 2
    assert "no such directory" in capsys.readouterr().err
    (tmp_path / "crops" / "x").rmdir()
    (tmp_path / "crops" / "5" / "broken.png").write_bytes(b"not a png")
    assert main(["exemplars", str(src), str(tmp_path / "crops"), "--out", str(tmp_path / "bad.onnx")]) == 2
    assert "not a readable image" in capsys.readouterr().err
    assert main(["exemplars", str(tmp_path / "missing.onnx"), str(tmp_path / "crops"), "--out",
                 str(tmp_path / "bad.onnx")]) == 2
    assert "expected a self-describing .onnx classifier" in capsys.readouterr().err
    assert not (tmp_path / "bad.onnx").exists()


def test_drum_exemplars_gives_both_files_a_vote(tmp_path: Path) -> None:
    """training.meter_digits.drum_exemplars (``--only exemplars``): the fp32 and int8 files of a folder each get a
    vote over the real drums of a split, labelled by their soft targets (here the committed drum samples laid out
    as the real set, split ``all``)."""
    import shutil

    from calibration.meter_real import DRUM_DIR, drum_digits
    from training.meter_digits import EXEMPLAR_VOTE, drum_exemplars, soft_target

    real = tmp_path / "real"
    shutil.copytree(Path(__file__).parent / "data" / "meters" / "drum", real / DRUM_DIR,
                    ignore=shutil.ignore_patterns("LICENSE"))
    src = tmp_path / "src"
    src.mkdir()
    for name in ("meter_digit_cls.onnx", "meter_digit_cls_int8.onnx"):
        _softmax_classifier(src / name)
    secs = drum_exemplars(src, tmp_path / "out", real=str(real), split="all")
    drums = drum_digits("all", str(real))
    assert sorted(secs) == ["meter_digit_cls.onnx", "meter_digit_cls_int8.onnx"]
    for name, sec in secs.items():
        assert sec["count"] == len(drums) and {k: sec[k] for k in EXEMPLAR_VOTE} == EXEMPLAR_VOTE
        assert "'all'" in sec["source"] and "Apache-2.0" in sec["source"]
        got = _run(tmp_path / "out" / name, [d.image for d in drums])
        probs = _run(src / name, [d.image for d in drums])
        want = 0.5 * probs + 0.5 * np.array([soft_target(d.position) for d in drums])  # each drum is its own nearest
        np.testing.assert_allclose(got, want, atol=0.02)
