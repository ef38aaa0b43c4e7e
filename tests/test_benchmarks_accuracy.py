"""benchmarks.accuracy on the 5 copied CCPD samples (tests/data/real_ccpd, MIT) and a crops
folder cut from them in tmp_path, with the bundled models. Nothing reads ../shared/; no timing
is asserted beyond being measured."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from benchmarks import accuracy as acc
from calibration.metrics import evaluate, levenshtein
from calibration.real import read_real_ccpd, read_real_crops
from calibration.synth import plate_crop
from edgevision import PlateReader, Predictor
from edgevision.errors import InvalidArgumentError

CCPD_SAMPLES = Path(__file__).parent / "data" / "real_ccpd"
OCR = ("plate_ocr.onnx", "plate_ocr_int8.onnx")


@pytest.fixture(scope="module")
def real_root(tmp_path_factory) -> Path:
    """``ccpd/``: the copied samples; ``crops/``: their plates cut at 136x36 (plus one label
    naming an absent image); no ``easypr/``."""
    root = tmp_path_factory.mktemp("real")
    shutil.copytree(CCPD_SAMPLES, root / "ccpd")
    lines = ["#path\ttext\tsplit\tcolor_est"]
    for i, s in enumerate(read_real_ccpd(root / "ccpd")):
        crop = plate_crop(cv2.imread(str(s.image_path)), s.corners, size=(36, 136))
        (root / "crops" / "valid").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "crops" / "valid" / f"{i}.jpg"), crop)
        lines.append(f"valid/{i}.jpg\t{s.text}\tvalid\t{s.plate_type}")
    lines.append("valid/absent.jpg\t京A00000\tvalid\tblue")
    (root / "crops" / "labels.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def result(real_root) -> acc.AccuracyResult:
    return acc.run_accuracy(acc.AccuracyConfig.quick(real=str(real_root), synthetic_count=3))


def test_structure_and_missing_set(result, real_root):
    assert [m.model for m in result.models] == list(OCR)
    assert result.real_root == str(real_root)
    for m in result.models:
        assert m.status == "ok" and m.task == "ctc_ocr" and Path(m.path).name == m.model
        assert [r.key for r in m.rows] == list(acc.ROWS)  # every row, real data first
        assert [r.set for r in m.rows][-2:] == ["synthetic", "special"]  # synthetic figures after the real ones
        status = {r.key: r.status for r in m.rows}
        assert {k for k, v in status.items() if v == "ok"} == {"crops", "ccpd_quad", "ccpd_reader", "synthetic",
                                                                "special"}
        for r in m.rows:
            if r.set == "easypr":  # no easypr/ folder: reported, not crashed
                assert r.status == "not found" and "easypr" in r.reason and r.count == 0
                assert r.exact_match is None and r.predictions == []
    assert result.data["easypr"].startswith("not found")
    assert "5 of 6 lines usable; 1 missing image" in result.data["crops"]


def test_counts_and_figures_recount_from_predictions(result):
    counts = {"crops": 5, "ccpd_quad": 5, "ccpd_reader": 5, "synthetic": 3, "special": 6}  # 1 a special type
    for m in result.models:
        for r in m.rows:
            if r.status != "ok":
                continue
            assert r.count == counts[r.key] == len(r.predictions)
            exact = sum(p["text"] == p["label"] for p in r.predictions) / r.count
            assert r.exact_match == pytest.approx(exact)
            edits = sum(levenshtein(p["text"] or "", p["label"]) for p in r.predictions)
            assert r.cer == pytest.approx(edits / sum(len(p["label"]) for p in r.predictions))
            assert sorted(p["index"] for p in r.predictions) == list(range(r.count))
        syn = m.row("synthetic")
        assert syn.legible_exact_match is not None and 0 < syn.legible_count <= 3
        assert m.row("crops").legible_exact_match is None  # real sets carry no occlusion label


def test_quad_rows_are_evaluate_on_the_labelled_quads(result):
    samples = read_real_ccpd(CCPD_SAMPLES).samples
    m = result.models[1]
    res = evaluate(Predictor(m.path, threads=1), samples, keep_predictions=True)
    assert m.row("ccpd_quad").exact_match == res.value
    assert [p["text"] for p in m.row("ccpd_quad").predictions] == [p["text"] for p in res.details["predictions"]]
    assert [p["label"] for p in res.details["predictions"]] == [s.text for s in samples]


def test_reader_rows_are_the_plate_reader(result):
    samples = read_real_ccpd(CCPD_SAMPLES).samples
    m = result.models[1]
    row = m.row("ccpd_reader")
    readings = PlateReader(acc.DEFAULT_CORNERS, m.path, threads=1)([str(s.image_path) for s in samples])
    assert [p["text"] for p in row.predictions] == [r.text for r in readings]
    errors = [acc.corner_error(r.corners, s.corners) for r, s in zip(readings, samples)]
    np.testing.assert_allclose([p["corner_error"] for p in row.predictions], errors, rtol=1e-6)
    assert row.corner_error == pytest.approx(float(np.median(errors)))
    assert result.config["corners_path"].endswith(acc.DEFAULT_CORNERS)


def test_latency_is_measured_round_robin_on_real_crops(result):
    assert result.timing_images.startswith("crops: evaluation images (136x36)")
    for m in result.models:
        lat = m.latency
        assert lat is not None and 0 < lat["p50_ms"] <= lat["p99_ms"]
        assert lat["n"] >= result.config["min_samples"] * result.config["repeats"]
    assert result.environment["threads"] == 1 and result.environment["date_utc"].endswith("UTC")


def test_corner_error_by_hand():
    gt = [[0, 0], [30, 0], [30, 40], [0, 40]]  # both diagonals 50 px
    assert acc.corner_error(np.add(gt, [3, 4]), gt) == pytest.approx(5 / 50)
    assert acc.corner_error([[0, 0], [30, 0], [30, 40], [10, 40]], gt) == pytest.approx(10 / 4 / 50)
    with pytest.raises(InvalidArgumentError):
        acc.corner_error(gt, [[1, 1]] * 4)


def test_bad_models_and_configs(real_root, tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not onnx")
    cfg = acc.AccuracyConfig.quick(real=str(real_root), sets=["crops"], ocr=[str(bad), "lpl_resnet_int8.onnx",
                                                                              "plate_ocr_int8.onnx"])
    res = acc.run_accuracy(cfg)
    broken, corners, ok = res.models
    assert broken.status == "failed" and broken.rows == [] and broken.latency is None
    assert corners.status == "failed" and "keypoints" in corners.reason
    assert ok.status == "ok" and ok.row("crops").count == 5 and ok.latency is not None
    for kw in ({"sets": ["nope"]}, {"limit": 0}, {"threads": 0},
               {"ocr": [acc.OcrModel("plate_ocr_int8.onnx", {"threads": 4})]}):
        with pytest.raises(InvalidArgumentError):
            acc.run_accuracy(acc.AccuracyConfig.quick(**kw))


def test_limit_and_ocr_overrides(real_root):
    # An override the model's metadata would otherwise decide: read the crops without the RGB swap.
    spec = acc.OcrModel("plate_ocr_int8.onnx", {"preprocess": {"swap_rb": False}}, "bgr.json")
    res = acc.run_accuracy(acc.AccuracyConfig.quick(real=str(real_root), sets=["crops"], ocr=[spec], limit=2))
    (m,) = res.models
    assert m.model == "plate_ocr_int8.onnx + bgr.json" and m.overrides == {"preprocess": {"swap_rb": False}}
    assert m.row("crops").count == 2
    p = Predictor("plate_ocr_int8.onnx", threads=1, preprocess={"swap_rb": False})
    want = [r.text for r in p([str(s.image_path) for s in read_real_crops(real_root / "crops").samples[:2]])]
    assert [x["text"] for x in m.row("crops").predictions] == want


def test_cli(real_root, tmp_path, capsys):
    out_json, out_md = tmp_path / "a.json", tmp_path / "a.md"
    rc = acc.main(["--real", str(real_root), "--sets", "ccpd,easypr", "--ocr", "plate_ocr_int8.onnx", "--limit",
                   "2", "--quick", "--quiet", "--json", str(out_json), "--markdown", str(out_md)])
    out = capsys.readouterr().out
    assert rc == 0
    for label in ("ccpd (quad)", "ccpd (reader)", "easypr test (quad)", "easypr test (reader)", "easypr train",
                  "NOT FOUND", "onnxruntime", "UTC", "p50"):
        assert label in out, label
    data = json.loads(out_json.read_text(encoding="utf-8"))
    rows = {r["key"]: r for r in data["models"][0]["rows"]}
    assert rows["ccpd_quad"]["count"] == 2 and rows["easypr_test_quad"]["status"] == "not found"
    md = out_md.read_text(encoding="utf-8")
    assert "| set | plates | exact | CER |" in md and "ccpd (reader)" in md


def test_cli_errors(real_root, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        acc.main(["--sets", "crops,bogus"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        acc.main(["--ocr-config", str(tmp_path / "x.json")])
    assert e.value.code == 2 and "after the --ocr" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(SystemExit) as e:
        acc.main(["--ocr", "plate_ocr_int8.onnx", "--ocr-config", str(tmp_path / "bad.json")])
    assert e.value.code == 2 and "JSON object" in capsys.readouterr().err
    (tmp_path / "t.json").write_text('{"threads": 3}', encoding="utf-8")
    assert acc.main(["--ocr", "plate_ocr_int8.onnx", "--ocr-config", str(tmp_path / "t.json"), "--quiet"]) == 2
    assert "threads" in capsys.readouterr().err
    # every set missing: rows say so, nothing was measured, exit 1
    assert acc.main(["--real", str(tmp_path / "absent"), "--sets", "ccpd", "--quick", "--quiet"]) == 1
    captured = capsys.readouterr()
    assert "NOT FOUND" in captured.out and "no row was measured" in captured.err


def test_readings_are_scored_without_separators() -> None:
    from benchmarks.accuracy import SEPARATORS, plate_text

    assert plate_text("京N·84E28") == "京N84E28"
    assert plate_text("沪A 12-3.45") == "沪A12345"
    assert plate_text("") == "" and plate_text(None) is None
    assert "·" in SEPARATORS


def test_a_row_read_with_separators_rescores_its_legible_plates_too(monkeypatch) -> None:
    # A peer reads "京N·84E28": the row is re-scored without separators, and so is its legible
    # figure (plates with half a character cell hidden or more left out), not only the whole row.
    from types import SimpleNamespace

    import calibration.metrics as cm
    from benchmarks.accuracy import SetRow, _ocr_row

    samples = [SimpleNamespace(char_occlusion=o) for o in (0.0, 0.2, 0.6, 0.0)]
    preds = [{"index": 0, "label": "京N84E28", "text": "京N·84E28"},
             {"index": 1, "label": "沪A12345", "text": "沪A·12345"},
             {"index": 2, "label": "苏B00000", "text": "苏B·0000"},   # illegible and wrong
             {"index": 3, "label": "皖C11111", "text": "皖C·11112"}]
    fake = SimpleNamespace(count=4, value=0.0, details={
        "cer": 0.5, "predictions": preds, "legible": {"exact_match": 0.0, "count": 3}})
    monkeypatch.setattr(cm, "evaluate", lambda *a, **k: fake)
    row = SetRow(key="synthetic", set="synthetic held-out", label="x")
    _ocr_row(row, None, samples)
    assert row.exact_match == pytest.approx(2 / 4) and "separators removed" in row.note
    assert row.legible_count == 3 and row.legible_exact_match == pytest.approx(2 / 3)


def test_the_ppocr_peer_config_is_complete() -> None:
    import json
    from pathlib import Path

    import benchmarks

    cfg = json.loads((Path(benchmarks.__file__).parent / "peers" / "ppocrv4_rec.json").read_text(encoding="utf-8"))
    assert cfg["task"] == "ctc_ocr"
    assert len(cfg["charset"]) == 6624 and cfg["charset"][-1] == " " and "苏" in cfg["charset"]
    assert cfg["preprocess"] == {"size": [48, 320], "mode": "pad_right", "scale": 1 / 255, "mean": 0.5,
                                 "std": 0.5, "swap_rb": False, "pad_value": 127.5}


def test_special_plates_row_reports_every_type() -> None:
    from benchmarks.accuracy import AccuracyConfig, run_accuracy
    from calibration.plate_synth import SPECIAL_PLATES

    res = run_accuracy(AccuracyConfig(ocr=["plate_ocr_int8.onnx"], sets=["special"], synthetic_count=12))
    (model,) = res.models
    (row,) = [r for r in model.rows if r.key == "special"]
    assert row.status == "ok" and row.count == 2 * len(SPECIAL_PLATES)
    for t in SPECIAL_PLATES:
        assert t in row.note
    recount = sum(p["label"] == p["text"] for p in row.predictions) / len(row.predictions)
    assert row.exact_match == pytest.approx(recount)
