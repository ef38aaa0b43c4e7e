"""PlateReader (corners -> rectify -> OCR) and the `edgevision demo` command, on tiny deterministic models."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import edgevision
from edgevision.cli import main as cli
from edgevision.errors import ConfigMismatchError

import models

PROV = ["皖", "沪", "京"]
SYM = list("AB12") + [""]


def _kp_meta(h: int = 64, w: int = 96) -> dict:
    return {"task": "keypoints", "preprocess": {"size": [h, w], "mode": "stretch"}, "decoder": {"num_keypoints": 4}}


def _ocr(tmp: Path) -> str:
    p0 = np.array([[[0.1, 0.7, 0.2]]], np.float32)  # slot 0 -> 沪
    rest = np.zeros((1, 3, 5), np.float32)
    rest[0, 0, 0] = rest[0, 1, 3] = rest[0, 2, 4] = 1.0  # A, 2, "" (no character)
    m = models.constant_output_model("province", p0, h=32, w=96, extra={"symbols": rest})
    meta = {"task": "slots_ocr", "preprocess": {"size": [32, 96], "mode": "stretch"},
            "decoder": {"heads": [{"output": "province", "charset": PROV, "slots": [0]},
                                  {"output": "symbols", "charset": SYM, "slots": [1, 2, 3]}]}}
    return models.save(models.with_metadata(m, meta), tmp / "ocr.onnx")


@pytest.fixture()
def reader(tmp_path: Path) -> edgevision.PlateReader:
    kp = models.save(models.with_metadata(models.keypoints_model(), _kp_meta()), tmp_path / "kp.onnx")
    return edgevision.PlateReader(kp, _ocr(tmp_path))


def test_reads_corners_then_text(reader: edgevision.PlateReader) -> None:
    img = np.zeros((120, 200, 3), np.uint8)  # pooled input 0 -> corners = KP_B exactly
    r = reader(img)
    want = models.KP_B.reshape(4, 2) * np.array([200, 120])  # stretch: fractions of the source
    np.testing.assert_allclose(r.corners, want, atol=1e-4)
    assert r.text == "沪A2" and r.quad_ok
    assert r.crop.shape == (32, 96, 3) and r.crop.dtype == np.uint8
    d = r.to_dict()
    assert d["type"] == "plate" and "crop" not in d and d["text"] == "沪A2"
    json.dumps(d, ensure_ascii=False)
    out = r.plot()
    assert out.shape == img.shape and (out != img).any()
    assert (img == 0).all()  # the source is untouched


def test_rectify_matches_warp_quad(reader: edgevision.PlateReader) -> None:
    img = np.random.default_rng(0).integers(0, 256, (120, 200, 3), np.uint8)
    quad = [[20, 30], [150, 35], [148, 90], [22, 85]]
    crop, ok = reader.rectify(img, quad)
    assert ok
    np.testing.assert_array_equal(crop, edgevision.warp_quad(img, quad, (32, 96), dtype="uint8", layout="NHWC",
                                                             scale=1.0)[0])


def test_bad_corner_prediction_gives_a_flagged_reading(tmp_path: Path) -> None:
    bad = np.array([[0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]], np.float32)  # all 4 corners in one point
    kp = models.save(models.with_metadata(models.constant_output_model("kps", bad), _kp_meta(32, 32)),
                     tmp_path / "bad.onnx")
    r = edgevision.PlateReader(kp, _ocr(tmp_path))(np.full((50, 80, 3), 90, np.uint8))
    assert not r.quad_ok
    assert r.text == "沪A2"  # the OCR still ran, on the box around the points
    assert r.plot().shape == (50, 80, 3)


def test_batch_and_paths(reader: edgevision.PlateReader, tmp_path: Path) -> None:
    img = np.zeros((60, 90, 3), np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), img)
    rs = reader([img, str(tmp_path / "a.png")])
    assert [r.text for r in rs] == ["沪A2", "沪A2"]
    np.testing.assert_allclose(rs[0].corners, rs[1].corners)


def test_wrong_models_are_refused(tmp_path: Path) -> None:
    kp = models.save(models.with_metadata(models.keypoints_model(), _kp_meta()), tmp_path / "kp.onnx")
    with pytest.raises(ConfigMismatchError, match="ocr: expected a slots_ocr or ctc_ocr model"):
        edgevision.PlateReader(kp, kp)
    with pytest.raises(ConfigMismatchError, match="corners: expected a keypoints model"):
        edgevision.PlateReader(_ocr(tmp_path), _ocr(tmp_path))


def test_demo_command(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    kp = models.save(models.with_metadata(models.keypoints_model(), _kp_meta()), tmp_path / "kp.onnx")
    ocr = _ocr(tmp_path)
    src = tmp_path / "scenes"
    (src / "images").mkdir(parents=True)
    img = np.zeros((120, 200, 3), np.uint8)
    cv2.imwrite(str(src / "images" / "0.png"), img)
    cv2.imwrite(str(src / "images" / "1.png"), img)
    corners = (models.KP_B.reshape(4, 2) * np.array([200, 120])).tolist()
    lines = [{"image": "images/0.png", "text": "沪A2", "corners": corners},
             {"image": "images/1.png", "text": "京B1"}]
    (src / "manifest.jsonl").write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines))
    out = tmp_path / "out"
    assert cli(["demo", str(src), "--corners", kp, "--ocr", ocr, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "exact text 1/2" in text and "MISMATCH" in text and "corner error 0.0 px" in text
    assert sorted(p.name for p in out.iterdir()) == ["0_plate.jpg", "1_plate.jpg"]
    assert cli(["demo", str(tmp_path / "nope"), "--corners", kp, "--ocr", ocr, "--out", str(out)]) == 2
    assert "no such file or folder" in capsys.readouterr().err
