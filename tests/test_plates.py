"""PlateReader (corners -> rectify -> OCR) and the `edgevision demo` command, on tiny deterministic models."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import edgevision
from edgevision.cli import main as cli
from edgevision.errors import ConfigMismatchError, InvalidArgumentError
from edgevision.plates import reread_two_rows

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


def test_reader_takes_predictors(tmp_path: Path) -> None:
    kp = models.save(models.with_metadata(models.keypoints_model(), _kp_meta()), tmp_path / "kp.onnx")
    ocr = edgevision.Predictor(_ocr(tmp_path), threads=1)
    corners = edgevision.Predictor(kp, threads=1)
    a, b = edgevision.PlateReader(corners, ocr), edgevision.PlateReader(kp, ocr)
    assert a.ocr is ocr and a.corners is corners and b.ocr is ocr  # shared, not rebuilt
    assert a(np.zeros((120, 200, 3), np.uint8)).text == "沪A2"
    with pytest.raises(ConfigMismatchError, match="ocr: expected a slots_ocr"):
        edgevision.PlateReader(corners, corners)


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
    assert cli(["demo", str(src), "--corners", kp, "--detector", kp, "--ocr", ocr, "--out", str(out)]) == 2
    assert "--corners, --detector: give one of them" in capsys.readouterr().err


# --- two-row plates ----------------------------------------------------------------

SPLIT = {"top": [0.16, 0.0, 0.84, 0.40], "bottom": [0.0, 0.34, 1.0, 1.0], "top_width": 0.3}


def _two_row_ocr(tmp: Path, rows: bool = True) -> str:
    meta = {"task": "slots_ocr", "preprocess": {"size": [32, 96], "mode": "stretch"},
            "decoder": {"heads": [{"output": "province", "charset": PROV, "slots": [0]},
                                  {"output": "symbols", "charset": SYM, "slots": [1, 2, 3]}]}}
    if rows:
        meta["decoder"]["rows"] = {"output": "rows", "split": SPLIT}
    return models.save(models.with_metadata(models.two_row_ocr_model(), meta), tmp / f"ocr2_{rows}.onnx")


def _corner_plate() -> tuple[np.ndarray, np.ndarray]:
    """A dark plate whose top-left and top-right corners (outside both rows of SPLIT) are white.

    Read whole it is bright enough for the test OCR's "two rows"; its rows side by
    side are all dark ("one row", text "A2")."""
    img = np.zeros((200, 400, 3), np.uint8)
    x0, y0, x1, y1 = 40, 40, 360, 160  # the plate
    pw, ph = x1 - x0, y1 - y0
    img[y0:y0 + int(0.3 * ph), x0:x0 + int(0.12 * pw)] = 255
    img[y0:y0 + int(0.3 * ph), x1 - int(0.12 * pw):x1] = 255
    return img, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)


def test_rectify_rows_lays_the_rows_side_by_side() -> None:
    from edgevision.plates import rectify_rows

    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (120, 200, 3), np.uint8)
    quad = np.array([[20, 10], [180, 10], [180, 110], [20, 110]], np.float64)  # axis-aligned: 160 x 100 px
    crop = rectify_rows(img, quad, (32, 100), SPLIT)
    assert crop.shape == (32, 100, 3) and crop.dtype == np.uint8
    top = edgevision.warp_quad(img, [[20 + 0.16 * 160, 10], [20 + 0.84 * 160, 10], [20 + 0.84 * 160, 50],
                                     [20 + 0.16 * 160, 50]], (32, 30), dtype="uint8", layout="NHWC", scale=1.0)[0]
    bottom = edgevision.warp_quad(img, [[20, 10 + 34], [180, 44], [180, 110], [20, 110]], (32, 70),
                                  dtype="uint8", layout="NHWC", scale=1.0)[0]
    np.testing.assert_array_equal(crop[:, :30], top)
    np.testing.assert_array_equal(crop[:, 30:], bottom)
    # A perspective plate: the rows are the plate homography's images of the split boxes.
    persp = np.array([[30, 20], [170, 5], [185, 115], [15, 100]], np.float64)
    crop = rectify_rows(img, persp, (32, 100), SPLIT)
    H = cv2.getPerspectiveTransform(np.float32([[0, 0], [1, 0], [1, 1], [0, 1]]), persp.astype(np.float32))
    pts = cv2.perspectiveTransform(np.float32([[[0.0, 0.34], [1, 0.34], [1, 1], [0, 1]]]), H)[0]
    np.testing.assert_array_equal(crop[:, 30:], edgevision.warp_quad(img, pts, (32, 70), dtype="uint8",
                                                                     layout="NHWC", scale=1.0)[0])
    gray = rectify_rows(img[..., 0], quad, 48, SPLIT)
    assert gray.shape == (48, 48)


@pytest.mark.parametrize("bad, match", [
    ({"top": [0.2, 0.0, 0.1, 0.4], "bottom": [0, 0.3, 1, 1], "top_width": 0.3}, r"split\.top: .*x0 < x1"),
    ({"top": [0, 0, 1, 0.4], "bottom": [0, 0.3, 1, 1.5], "top_width": 0.3}, r"split\.bottom"),
    ({"top": [0, 0, 1, 0.4], "bottom": [0, 0.3, 1, 1], "top_width": 1.0}, r"split\.top_width: .*0 < top_width < 1"),
    ({"top": [0, 0, 1, 0.4], "bottom": [0, 0.3, 1, 1]}, r"split: missing 'top_width'"),
    ({"top": [0, 0, 1, 0.4], "bottom": [0, 0.3, 1, 1], "top_width": 0.3, "gap": 1}, r"split: unknown key 'gap'"),
    ("rows", r"split: expected"),
])
def test_rectify_rows_rejects_a_bad_split(bad: object, match: str) -> None:
    from edgevision.plates import rectify_rows

    with pytest.raises(edgevision.EdgeVisionError, match=match):
        rectify_rows(np.zeros((50, 50, 3), np.uint8), [[5, 5], [45, 5], [45, 45], [5, 45]], (32, 96), bad)


def test_rectify_rows_rejects_bad_corners_and_size() -> None:
    from edgevision.plates import rectify_rows

    img = np.zeros((50, 50, 3), np.uint8)
    with pytest.raises(edgevision.EdgeVisionError, match="corners"):
        rectify_rows(img, [[5, 5], [45, 5], [45, 45]], (32, 96))
    with pytest.raises(edgevision.EdgeVisionError):  # counter-clockwise: the kernel's quad check
        rectify_rows(img, [[5, 5], [5, 45], [45, 45], [45, 5]], (32, 96))
    with pytest.raises(edgevision.EdgeVisionError, match="size: a two-row crop needs a width"):
        rectify_rows(img, [[5, 5], [45, 5], [45, 45], [5, 45]], (32, 1))


def test_two_row_plate_is_reread_with_its_rows_side_by_side(tmp_path: Path) -> None:
    img, quad = _corner_plate()
    ocr = edgevision.Predictor(_two_row_ocr(tmp_path))
    whole = ocr(edgevision.warp_quad(img, quad, (32, 96), dtype="uint8", layout="NHWC", scale=1.0)[0])
    assert (whole.rows, whole.text) == (2, "沪B1")  # the whole plate: "two rows"
    kp = models.save(models.with_metadata(models.keypoints_model(), _kp_meta()), tmp_path / "kp.onnx")
    reader = edgevision.PlateReader(kp, _two_row_ocr(tmp_path))
    a, again = reader.rectify(img, quad)[0], reread_two_rows(reader.ocr, [img], [quad], [whole])[0]
    assert again is not None
    text, crop = again
    assert (text.text, text.rows) == ("沪A2", 1)
    np.testing.assert_array_equal(crop, edgevision.plates.rectify_rows(img, quad, (32, 96), SPLIT))
    assert not np.array_equal(crop, a)
    # One-row readings, missing quads and models without a rows head are left alone.
    assert reread_two_rows(reader.ocr, [img], [None], [whole]) == [None]
    assert reread_two_rows(reader.ocr, [img], [quad], [text]) == [None]
    plain = edgevision.Predictor(_two_row_ocr(tmp_path, rows=False))
    assert plain(img).rows is None
    assert reread_two_rows(plain, [img], [quad], [whole]) == [None]


@pytest.mark.parametrize("text, ok", [
    ("苏E12345", True), ("苏EA23B5", True), ("皖AD12345", True), ("皖A12345F", True), ("京A1234警", True),
    ("粤Z1234港", True), ("沪A1234领", True), ("使014578", True), ("粤0A2160", True),
    ("苏E123456", False), ("苏E1234", False), ("皖A123456", False), ("苏EI2345", False), ("E12345苏", False),
    ("苏E12345警", False), ("京A123警4", False), ("使A14578", False), ("沪HK6385领", False)])
def test_plate_text_pattern(text: str, ok: bool) -> None:
    import re

    from edgevision.plates import PLATE_TEXT_PATTERN

    assert bool(re.fullmatch(PLATE_TEXT_PATTERN, text)) == ok


def test_ctc_ocr_rows_head_rereads_two_row_plates(tmp_path: Path) -> None:
    """A ctc_ocr model with ``decoder.rows``: its readings carry the rows head's call, and a
    two-row reading is re-read from the rows side by side, as with a slots model."""
    charset = ["沪", "A", "2"]
    logits = np.full((1, 6, 4), -4.0, np.float32)
    for t, k in enumerate([1, 0, 2, 2, 0, 3]):  # 沪 - A A - 2 -> "沪A2"
        logits[0, t, k] = 4.0
    meta = {"task": "ctc_ocr", "charset": charset, "preprocess": {"size": [32, 96], "mode": "stretch"},
            "decoder": {"blank": 0, "layout": "NTC", "rows": {"output": "rows", "split": SPLIT}}}
    path = models.save(models.with_metadata(models.constant_output_model(
        "ctc", logits, 32, 96, extra={"rows": np.array([[-1.0, 1.0]], np.float32)}), meta), tmp_path / "ctc.onnx")
    ocr = edgevision.Predictor(path)
    img, quad = _corner_plate()
    first = ocr(img)
    assert (first.text, first.rows) == ("沪A2", 2)
    again = reread_two_rows(ocr, [img], [quad], [first])[0]
    assert again is not None and again[0].text == "沪A2"
    np.testing.assert_array_equal(again[1], edgevision.plates.rectify_rows(img, quad, (32, 96), SPLIT))
    meta["decoder"].pop("rows")
    plain = edgevision.Predictor(models.save(models.with_metadata(models.constant_output_model(
        "ctc", logits, 32, 96, extra={"rows": np.array([[-1.0, 1.0]], np.float32)}), meta), tmp_path / "ctc1.onnx"))
    assert plain(img).rows is None and reread_two_rows(plain, [img], [quad], [first]) == [None]


def test_plate_reader_reports_two_row_plates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    img, quad = _corner_plate()
    kp = models.save(models.with_metadata(models.keypoints_model(), _kp_meta()), tmp_path / "kp.onnx")
    reader = edgevision.PlateReader(kp, _two_row_ocr(tmp_path))
    # Stand the corner model's answer in with the true quad (the tiny keypoints model predicts a fixed shape).
    monkeypatch.setattr(reader, "corners", lambda xs: [edgevision.KeypointsResult(keypoints=quad, orig_img=x)
                                                       for x in xs])
    r = reader(img)
    assert (r.text, r.rows, r.quad_ok) == ("沪A2", 2, True)
    assert r.crop.shape == (32, 96, 3) and r.to_dict()["rows"] == 2
    dark = np.zeros_like(img)
    r1 = reader(dark)
    assert (r1.text, r1.rows) == ("沪A2", 1)


def test_evaluate_rereads_two_row_plates(tmp_path: Path) -> None:
    from calibration.metrics import evaluate

    img, quad = _corner_plate()

    class S:
        def __init__(self, text: str, plate_type: str) -> None:
            self.image, self.corners, self.text, self.plate_type = img, quad, text, plate_type

    r = evaluate(_two_row_ocr(tmp_path), [S("沪A2", "yellow_double")])
    assert r.value == 1.0  # read after the split; read whole it would be 沪B1
    assert evaluate(_two_row_ocr(tmp_path, rows=False), [S("沪A2", "yellow_double")]).value == 0.0


# --- with a plate detector: every plate, or none ---------------------------------------------------


def _pose_detector(tmp: Path, conf_threshold: float = 0.25) -> str:
    """A constant ``pose`` model on a 64x64 input: two plates (scores 0.9 and 0.6), a duplicate of the
    first (0.5, suppressed by NMS) and one under the default threshold (0.1)."""
    out = np.zeros((1, 13, 6), np.float32)
    rows = [([20, 20, 24, 8], 0.9, [8, 16, 32, 16, 32, 24, 8, 24]),
            ([44, 48, 16, 8], 0.6, [36, 44, 52, 44, 52, 52, 36, 52]),
            ([21, 20, 24, 8], 0.5, [9, 16, 33, 16, 33, 24, 9, 24]),
            ([50, 10, 8, 4], 0.1, [46, 8, 54, 8, 54, 12, 46, 12])]
    for j, (box, score, kp) in enumerate(rows):
        out[0, :4, j], out[0, 4, j], out[0, 5:, j] = box, score, kp
    meta = {"task": "pose", "preprocess": {"size": 64},
            "decoder": {"kpt_shape": [4, 2], "conf_threshold": conf_threshold}}
    return models.save(models.with_metadata(models.constant_output_model("output0", out, h=64, w=64), meta),
                       tmp / f"det_{conf_threshold:g}.onnx" if conf_threshold != 0.25 else tmp / "det.onnx")


@pytest.fixture()
def scene_reader(tmp_path: Path) -> edgevision.PlateReader:
    """The first look only: these tests pin the detector's own output (the second look has its own tests)."""
    return edgevision.PlateReader(ocr=_ocr(tmp_path), detector=_pose_detector(tmp_path), refine=False)


def test_with_a_detector_every_plate_is_read_with_its_score_and_corners(scene_reader) -> None:
    img = np.zeros((128, 128, 3), np.uint8)  # 64 -> 128: source = 2 x input
    scene = scene_reader(img)
    assert isinstance(scene, edgevision.PlateScene) and len(scene) == 2
    assert [p.score for p in scene] == pytest.approx([0.9, 0.6]) and scene.texts == ["沪A2", "沪A2"]
    np.testing.assert_allclose(scene[0].corners, np.array([[8, 16], [32, 16], [32, 24], [8, 24]]) * 2.0)
    np.testing.assert_allclose(scene[1].corners, np.array([[36, 44], [52, 44], [52, 52], [36, 52]]) * 2.0)
    assert all(p.quad_ok and p.crop.shape == (32, 96, 3) for p in scene)
    assert set(scene.timings_ms) == {"detect", "rectify", "ocr", "total"}
    assert scene.timings_ms["total"] >= scene.timings_ms["detect"] >= 0
    d = scene.to_dict()
    assert d["type"] == "plate_scene" and [p["score"] for p in d["plates"]] == pytest.approx([0.9, 0.6])
    json.dumps(d, ensure_ascii=False)
    out = scene.plot()
    assert out.shape == img.shape and (out[30:50, 14:66] != 0).any() and (out[86:106, 70:106] != 0).any()


def test_a_crop_the_ocr_reads_is_the_detected_quad_rectified(scene_reader) -> None:
    img = np.random.default_rng(1).integers(0, 256, (128, 128, 3), np.uint8)
    scene = scene_reader(img)
    want, ok = scene_reader.rectify(img, scene[1].corners)
    assert ok and np.array_equal(scene[1].crop, want)


def test_with_a_detector_an_image_without_plates_gives_an_empty_scene(tmp_path: Path) -> None:
    reader = edgevision.PlateReader(ocr=_ocr(tmp_path), detector=_pose_detector(tmp_path), conf_threshold=0.95)
    scene = reader(np.zeros((50, 80, 3), np.uint8))
    assert len(scene) == 0 and list(scene) == [] and scene.texts == []
    assert scene.timings_ms["ocr"] >= 0 and scene.plot().shape == (50, 80, 3)
    assert edgevision.PlateReader(ocr=_ocr(tmp_path), detector=_pose_detector(tmp_path), max_plates=1, refine=False)(
        np.zeros((64, 64, 3), np.uint8)).texts == ["沪A2"]


def test_with_a_detector_a_list_gives_one_scene_per_image(scene_reader) -> None:
    scenes = scene_reader([np.zeros((64, 64, 3), np.uint8), np.zeros((32, 96, 3), np.uint8)])
    assert [len(s) for s in scenes] == [2, 2] and [s.orig_shape for s in scenes] == [(64, 64), (32, 96)]


def _one_plate_detector(tmp: Path, corners: list[float], name: str, score: float = 0.9,
                        conf_threshold: float | None = None) -> str:
    """A constant ``pose`` model on a 64x64 input: one plate (``score``) with these corners (input px)."""
    k = np.array(corners, np.float32).reshape(4, 2)
    (x0, y0), (x1, y1) = k.min(0), k.max(0)
    out = np.zeros((1, 13, 1), np.float32)
    out[0, :4, 0], out[0, 4, 0], out[0, 5:, 0] = [(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], score, k.ravel()
    meta = {"task": "pose", "preprocess": {"size": 64}, "decoder": {"kpt_shape": [4, 2]}}
    if conf_threshold is not None:
        meta["decoder"]["conf_threshold"] = conf_threshold
    return models.save(models.with_metadata(models.constant_output_model("output0", out, h=64, w=64), meta),
                       tmp / f"{name}.onnx")


def test_the_second_look_detects_each_plate_again_in_a_crop_around_it(tmp_path: Path) -> None:
    # A plate 20x4 px of the 64 px input, centred. On a 640x640 image (letterbox x10) the first look
    # gives corners (220, 300)-(420, 340): w 200, h 40, so the crop is a 3 x 200 = 600 px square
    # around (320, 320), from (20, 20). The constant model sees that crop at 64/600 and answers the
    # same input corners, which are (22, 30) * 600/64 + 20 = (226.25, 301.25) ... in the image; their
    # box overlaps the first look's (IoU 0.88), so they are the plate's corners.
    det = _one_plate_detector(tmp_path, [22, 30, 42, 30, 42, 34, 22, 34], "centred")
    img = np.zeros((640, 640, 3), np.uint8)
    first = edgevision.PlateReader(ocr=_ocr(tmp_path), detector=det, refine=False)(img)
    np.testing.assert_allclose(first[0].corners, [[220, 300], [420, 300], [420, 340], [220, 340]], atol=1e-6)
    reader = edgevision.PlateReader(ocr=_ocr(tmp_path), detector=det)
    assert reader.refine and reader.refine_scale == edgevision.plates.REFINE_SCALE == 3.0
    scene = reader(img)
    assert len(scene) == 1 and scene[0].score == pytest.approx(0.9)
    want = np.array([[22, 30], [42, 30], [42, 34], [22, 34]]) * 600 / 64 + 20
    np.testing.assert_allclose(scene[0].corners, want, atol=1e-6)
    np.testing.assert_array_equal(scene[0].crop, reader.rectify(img, want)[0])
    assert {"detect", "refine", "rectify", "ocr", "total"} == set(scene.timings_ms)
    # refine_scale 2: a 400 px square from (120, 120), seen at 64/400
    two = edgevision.PlateReader(ocr=_ocr(tmp_path), detector=det, refine_scale=2)(img)
    np.testing.assert_allclose(two[0].corners, np.array([[22, 30], [42, 30], [42, 34], [22, 34]]) * 400 / 64 + 120,
                               atol=1e-6)


def test_the_second_look_drops_a_plate_it_does_not_confirm(tmp_path: Path) -> None:
    # A plate 8x2 px of the input: on 640x640 the first look is (280, 310)-(360, 330), the crop a
    # 240 px square from (200, 200); the constant model answers a box 30x7.5 px there, IoU 0.14
    # with the first look's: not the same plate, so the reader drops it.
    det = _one_plate_detector(tmp_path, [28, 31, 36, 31, 36, 33, 28, 33], "small")
    img = np.zeros((640, 640, 3), np.uint8)
    assert len(edgevision.PlateReader(ocr=_ocr(tmp_path), detector=det, refine=False)(img)) == 1
    assert len(edgevision.PlateReader(ocr=_ocr(tmp_path), detector=det)(img)) == 0


def test_the_second_look_clips_its_crop_to_the_image(tmp_path: Path) -> None:
    # A plate 44 px wide of the 64 px input: on a 400x500 image the first look is 344 px wide, its
    # square 1031 px, larger than the image: the crop is the whole image, which the constant model
    # answers as at first, so the corners stay.
    det = _one_plate_detector(tmp_path, [10, 30, 54, 30, 54, 34, 10, 34], "wide")
    img = np.zeros((400, 500, 3), np.uint8)
    first = edgevision.PlateReader(ocr=_ocr(tmp_path), detector=det, refine=False)(img)
    again = edgevision.PlateReader(ocr=_ocr(tmp_path), detector=det)(img)
    np.testing.assert_allclose(again[0].corners, first[0].corners, atol=1e-6)


def test_with_the_second_look_the_first_only_proposes_and_the_second_confirms(tmp_path: Path) -> None:
    # One centred plate scoring 0.4 on a detector whose own threshold is 0.5. Without the second
    # look the model's threshold applies: no plate. With it, the first look proposes above
    # REFINE_PROPOSE_CONF (0.3), and the second look (the same constant answer, 0.4) confirms
    # only at confirm_threshold <= 0.4; the default REFINE_CONFIRM_CONF (0.7) drops it.
    from edgevision.plates import REFINE_CONFIRM_CONF, REFINE_PROPOSE_CONF

    assert REFINE_PROPOSE_CONF < 0.4 < REFINE_CONFIRM_CONF
    corners = [22, 30, 42, 30, 42, 34, 22, 34]
    det = _one_plate_detector(tmp_path, corners, "unsure", score=0.4, conf_threshold=0.5)
    img = np.zeros((640, 640, 3), np.uint8)
    ocr = _ocr(tmp_path)
    assert len(edgevision.PlateReader(ocr=ocr, detector=det, refine=False)(img)) == 0
    reader = edgevision.PlateReader(ocr=ocr, detector=det)
    assert reader.detector.config.decoder["conf_threshold"] == REFINE_PROPOSE_CONF
    assert reader.confirm_threshold == REFINE_CONFIRM_CONF and len(reader(img)) == 0
    scene = edgevision.PlateReader(ocr=ocr, detector=det, confirm_threshold=0.35)(img)
    assert len(scene) == 1 and scene[0].score == pytest.approx(0.4)
    np.testing.assert_allclose(scene[0].corners, np.array(corners).reshape(4, 2) * 600 / 64 + 20, atol=1e-6)
    # An explicit conf_threshold is the first look's; a detector given as a Predictor keeps its own.
    assert len(edgevision.PlateReader(ocr=ocr, detector=det, conf_threshold=0.45, confirm_threshold=0.35)(img)) == 0
    given = edgevision.Predictor(det)
    assert len(edgevision.PlateReader(ocr=ocr, detector=given, confirm_threshold=0.35)(img)) == 0
    sure = _one_plate_detector(tmp_path, corners, "sure", score=0.9, conf_threshold=0.5)
    assert len(edgevision.PlateReader(ocr=ocr, detector=sure)(img)) == 1


def test_a_second_look_model_confirms_and_places_the_plates_the_detector_proposes(tmp_path: Path) -> None:
    # The detector proposes the centred plate of the test above (crop: a 600 px square from (20, 20)).
    # A second-look model answering other input corners gives the plate those corners, mapped from
    # the crop; one answering 0.4 does not confirm it at the default REFINE_CONFIRM_CONF (0.7).
    det = _one_plate_detector(tmp_path, [22, 30, 42, 30, 42, 34, 22, 34], "centred")
    other = [24, 29, 44, 30, 44, 35, 24, 34]
    second = _one_plate_detector(tmp_path, other, "second", conf_threshold=0.5)
    img = np.zeros((640, 640, 3), np.uint8)
    reader = edgevision.PlateReader(ocr=_ocr(tmp_path), detector=det, second_look=second)
    assert reader.second_look is not None and reader.second_look.config.decoder["conf_threshold"] == \
        edgevision.plates.REFINE_PROPOSE_CONF
    scene = reader(img)
    assert len(scene) == 1 and scene[0].score == pytest.approx(0.9)  # the score stays the first look's
    np.testing.assert_allclose(scene[0].corners, np.array(other).reshape(4, 2) * 600 / 64 + 20, atol=1e-6)
    unsure = _one_plate_detector(tmp_path, other, "unsure2", score=0.4)
    assert len(edgevision.PlateReader(ocr=_ocr(tmp_path), detector=det, second_look=unsure)(img)) == 0
    assert len(edgevision.PlateReader(ocr=_ocr(tmp_path), detector=det, second_look=unsure,
                                      confirm_threshold=0.35)(img)) == 1
    # Without one, the detector looks again itself (its own corners).
    np.testing.assert_allclose(edgevision.PlateReader(ocr=_ocr(tmp_path), detector=det)(img)[0].corners,
                               np.array([[22, 30], [42, 30], [42, 34], [22, 34]]) * 600 / 64 + 20, atol=1e-6)


def test_a_second_look_model_is_checked(tmp_path: Path) -> None:
    kp = models.save(models.with_metadata(models.keypoints_model(), _kp_meta()), tmp_path / "kp.onnx")
    det = _one_plate_detector(tmp_path, [22, 30, 42, 30, 42, 34, 22, 34], "centred")
    with pytest.raises(ConfigMismatchError, match="second_look: expected a pose model with 4 keypoints"):
        edgevision.PlateReader(ocr=_ocr(tmp_path), detector=det, second_look=_ocr(tmp_path))
    with pytest.raises(InvalidArgumentError, match="second_look: only with refine=True"):
        edgevision.PlateReader(ocr=_ocr(tmp_path), detector=det, refine=False, second_look=det)
    with pytest.raises(InvalidArgumentError, match="second_look: only with a detector"):
        edgevision.PlateReader(kp, ocr=_ocr(tmp_path), second_look=det)


def test_two_proposals_the_second_look_confirms_as_one_plate_give_one_plate(tmp_path: Path) -> None:
    # First look: plates A (score 0.9) and B (0.6), overlapping too little for its NMS (IoU 0.16).
    # Both squares cover the whole 200x200 image, and a stand-in second look answers the same quad
    # Q there, which overlaps both first looks (IoU 0.40 and 0.41 >= REFINE_MATCH_IOU): A and B are
    # the same plate, found twice. The second look's NMS keeps A's reading, as Q.
    from types import SimpleNamespace

    def quad(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
        return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)

    a, b, q = quad(40, 90, 160, 110), quad(100, 100, 180, 125), quad(70, 95, 170, 118)

    class Found(SimpleNamespace):  # a pose result: scores (K,), keypoints (K, 4, 2)
        def __len__(self) -> int:
            return len(self.scores)

    class SecondLook:
        def __init__(self, iou_threshold: float) -> None:
            self.config = SimpleNamespace(decoder={"iou_threshold": iou_threshold})
            self.crops: list = []

        def __call__(self, crops: list) -> list:
            self.crops += crops
            return [Found(scores=np.array([0.95]), keypoints=q[None]) for _ in crops]

    img = np.zeros((200, 200, 3), np.uint8)
    first = Found(scores=np.array([0.9, 0.6]), keypoints=np.stack([a, b]))
    reader = edgevision.PlateReader(ocr=_ocr(tmp_path), detector=_pose_detector(tmp_path))
    reader.detector = SecondLook(0.45)
    (kept,) = reader.refine_plates([img], [first])
    assert [j for j, _ in kept] == [0] and len(reader.detector.crops) == 2
    np.testing.assert_allclose(kept[0][1], q)
    reader.detector = SecondLook(0.99)  # a detector whose own NMS keeps such overlaps keeps both
    assert [j for j, _ in reader.refine_plates([img], [first])[0]] == [0, 1]
    reader.detector = SecondLook(0.0)  # at 0 the same plate found twice is one plate
    assert [j for j, _ in reader.refine_plates([img], [first])[0]] == [0]
    # ... and two plates that do not overlap at all stay two, as in the detector's own NMS.
    apart = Found(scores=np.array([0.9, 0.6]), keypoints=np.stack([a, quad(40, 150, 160, 170)]))
    answers = iter([a, quad(40, 150, 160, 170)])

    class Apart(SecondLook):
        def __call__(self, crops: list) -> list:
            return [Found(scores=np.array([0.95]), keypoints=next(answers)[None]) for _ in crops]

    reader.detector = Apart(0.0)
    assert [j for j, _ in reader.refine_plates([img], [apart])[0]] == [0, 1]


def test_a_plate_beyond_the_image_is_kept_only_if_its_first_look_is_sure(tmp_path: Path) -> None:
    # Corners the detector put far outside the image (x 2000-2100 px of a 640 px wide one): the
    # square around them lies wholly outside, so there is nothing to look at again. A first look
    # at 0.9 is kept as it is; a proposal at 0.5 (above REFINE_PROPOSE_CONF, below the default
    # confirm_threshold) is not, unless confirm_threshold is lowered to it.
    corners = [200, 30, 210, 30, 210, 34, 200, 34]
    img = np.zeros((640, 640, 3), np.uint8)
    ocr = _ocr(tmp_path)
    sure = edgevision.PlateReader(ocr=ocr, detector=_one_plate_detector(tmp_path, corners, "far_sure", score=0.9))(img)
    assert len(sure) == 1
    np.testing.assert_allclose(sure[0].corners, np.array(corners, np.float64).reshape(4, 2) * 10)
    det = _one_plate_detector(tmp_path, corners, "far_unsure", score=0.5, conf_threshold=0.5)
    assert len(edgevision.PlateReader(ocr=ocr, detector=det)(img)) == 0
    assert len(edgevision.PlateReader(ocr=ocr, detector=det, confirm_threshold=0.45)(img)) == 1


def test_detector_arguments_are_checked(tmp_path: Path) -> None:
    kp = models.save(models.with_metadata(models.keypoints_model(), _kp_meta()), tmp_path / "kp.onnx")
    with pytest.raises(ConfigMismatchError, match="detector: expected a pose model with 4 keypoints"):
        edgevision.PlateReader(ocr=_ocr(tmp_path), detector=kp)
    with pytest.raises(edgevision.InvalidArgumentError, match="only with a detector"):
        edgevision.PlateReader(kp, _ocr(tmp_path), conf_threshold=0.5)
    det = edgevision.Predictor(_pose_detector(tmp_path))
    with pytest.raises(edgevision.InvalidArgumentError, match="pass them to the detector's Predictor"):
        edgevision.PlateReader(ocr=_ocr(tmp_path), detector=det, iou_threshold=0.3)
    r = edgevision.PlateReader(ocr=_ocr(tmp_path), detector=det)
    assert r.corners is None and "detector=" in repr(r)
    with pytest.raises(edgevision.InvalidArgumentError, match="refine: only with a detector"):
        edgevision.PlateReader(kp, _ocr(tmp_path), refine=True)
    with pytest.raises(edgevision.InvalidArgumentError, match="corners, detector: give one of them"):
        edgevision.PlateReader(kp, _ocr(tmp_path), detector=det)
    assert edgevision.PlateReader(kp, _ocr(tmp_path), refine=False).refine is False
    for bad in (1.0, 0.5, float("nan"), "3", True):
        with pytest.raises(edgevision.InvalidArgumentError, match="refine_scale: expected a number > 1"):
            edgevision.PlateReader(ocr=_ocr(tmp_path), detector=det, refine_scale=bad)
    with pytest.raises(edgevision.InvalidArgumentError, match="refine: expected True or False"):
        edgevision.PlateReader(ocr=_ocr(tmp_path), detector=det, refine="yes")
    for bad in (-0.1, 1.5, float("nan"), "0.7", True, None):
        with pytest.raises(edgevision.InvalidArgumentError, match="confirm_threshold: expected a score in 0..1"):
            edgevision.PlateReader(ocr=_ocr(tmp_path), detector=det, confirm_threshold=bad)


def test_demo_command_with_a_detector_lists_every_plate(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = tmp_path / "scenes"
    (src / "images").mkdir(parents=True)
    cv2.imwrite(str(src / "images" / "0.png"), np.zeros((64, 64, 3), np.uint8))
    cv2.imwrite(str(src / "images" / "1.png"), np.zeros((64, 64, 3), np.uint8))
    lines = [{"image": "images/0.png", "text": "沪A2"}, {"image": "images/1.png", "text": "京B1"}]
    (src / "manifest.jsonl").write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines))
    out = tmp_path / "out"
    assert cli(["demo", str(src), "--detector", _pose_detector(tmp_path), "--ocr", _ocr(tmp_path),
                "--out", str(out), "--no-refine"]) == 0
    text = capsys.readouterr().out
    assert "2 plate(s): 沪A2 (conf" in text and "score 0.90" in text and "score 0.60" in text
    assert "found" in text and "MISSED" in text and "exact text 1/2" in text
    assert "detector + rectify + OCR" in text
    assert sorted(p.name for p in out.iterdir()) == ["0_plate.jpg", "1_plate.jpg"]


def test_demo_command_passes_the_reader_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict] = []

    class Stop(Exception):
        pass

    def fake(*args: object, **kw: object) -> None:
        seen.append(kw)
        raise Stop

    monkeypatch.setattr(edgevision.plates, "PlateReader", fake)
    for flags, want in (([], {"refine": True, "deskew": True}), (["--no-deskew"], {"refine": True, "deskew": False}),
                        (["--no-refine"], {"refine": False, "deskew": True})):
        with pytest.raises(Stop):
            cli(["demo", "--out", str(tmp_path / "out"), *flags])
        assert {k: seen[-1][k] for k in want} == want
    with pytest.raises(Stop):
        cli(["demo", "--out", str(tmp_path / "out"), "--corners", "lpl_resnet_int8.onnx", "--no-deskew"])
    assert seen[-1]["deskew"] is False
    with pytest.raises(Stop):
        cli(["demo", "--out", str(tmp_path / "out")])
    assert seen[-1]["rescue"] == "auto"   # the reader's own default
    for arg, want in (("0.9", 0.9), ("off", None), ("auto", "auto")):
        with pytest.raises(Stop):
            cli(["demo", "--out", str(tmp_path / "out"), "--rescue", arg])
        assert seen[-1]["rescue"] == want
    with pytest.raises(Stop):
        cli(["demo", "--out", str(tmp_path / "out"), "--no-refine"])   # auto: no rescue without the second look
    assert seen[-1]["rescue"] == "auto" and seen[-1]["refine"] is False
    assert cli(["demo", "--out", str(tmp_path / "out"), "--rescue", "0.9", "--no-refine"]) != 0   # refused, named
    for bad in ("1.5", "sure"):
        with pytest.raises(SystemExit):
            cli(["demo", "--out", str(tmp_path / "out"), "--rescue", bad])


# --- slant correction ------------------------------------------------------------------------------


def _strokes(k: float, h: int = 64, w: int = 256) -> np.ndarray:
    """A plate-like crop: white strokes on blue, each leaning by ``k`` (x px per px of y) about the middle row."""
    img = np.full((h, w, 3), (160, 60, 20), np.uint8)
    for x in range(24, w - 24, 30):
        y0, y1 = 6, h - 6
        top, bottom = x + k * (y0 - h / 2), x + k * (y1 - h / 2)
        cv2.line(img, (int(round(top * 16)), y0 * 16), (int(round(bottom * 16)), y1 * 16), (255, 255, 255), 5,
                 cv2.LINE_AA, shift=4)
    return img


@pytest.mark.parametrize("k", [-0.8, -0.4, 0.0, 0.3, 0.6])
def test_estimate_slant_measures_how_far_the_strokes_lean(k: float) -> None:
    from edgevision.plates import estimate_slant

    got, gain = estimate_slant(_strokes(k))
    assert got == pytest.approx(k, abs=0.06)
    assert gain >= 1.0 and (gain > 1.2 if k else gain == pytest.approx(1.0))
    grey, _ = estimate_slant(cv2.cvtColor(_strokes(k), cv2.COLOR_BGR2GRAY))  # grey crops too
    assert grey == pytest.approx(got)


def test_deskew_quad_stands_the_strokes_upright() -> None:
    from edgevision.plates import deskew_quad, estimate_slant

    scene = np.zeros((200, 400, 3), np.uint8)
    scene[60:124, 50:306] = _strokes(0.5)  # a 256 x 64 plate whose strokes lean by 0.5
    quad = np.array([[50, 60], [306, 60], [306, 124], [50, 124]], np.float64)
    size = (32, 128)  # half the plate's size: the lean is a ratio, the same in the crop
    crop = edgevision.warp_quad(scene, quad, size, dtype="uint8", layout="NHWC", scale=1.0)[0]
    k, _ = estimate_slant(crop)
    assert k == pytest.approx(0.5, abs=0.06)
    upright = deskew_quad(quad, k, size)
    # The top edge moves left and the bottom right by half the lean over the plate's height.
    np.testing.assert_allclose(upright[:, 1], quad[:, 1])
    np.testing.assert_allclose(upright[:, 0] - quad[:, 0], np.array([-1, -1, 1, 1]) * k * 64 / 2, atol=1e-6)
    again = edgevision.warp_quad(scene, upright, size, dtype="uint8", layout="NHWC", scale=1.0)[0]
    assert abs(estimate_slant(again)[0]) <= 0.06
    np.testing.assert_allclose(deskew_quad(quad, 0.0, 64), quad, atol=1e-9)


def test_slant_functions_refuse_bad_input() -> None:
    from edgevision.plates import deskew_quad, estimate_slant

    for bad in (np.zeros((64, 256, 3), np.float32), np.zeros((1, 256), np.uint8), np.zeros((64, 256, 4), np.uint8),
                np.zeros((64,), np.uint8)):
        with pytest.raises(edgevision.InvalidArgumentError, match=r"crop: expected a uint8 \(H, W\) or \(H, W, 3\)"):
            estimate_slant(bad)
    quad = [[0, 0], [10, 0], [10, 4], [0, 4]]
    for bad_k in (float("nan"), True, "0.3", None):
        with pytest.raises(edgevision.InvalidArgumentError, match="k: expected a finite number"):
            deskew_quad(quad, bad_k, (32, 128))
    for bad_q in ([[0, 0], [1, 1]], [[0, 0], [10, 0], [10, float("inf")], [0, 4]]):
        with pytest.raises(edgevision.InvalidArgumentError, match="corners: expected 4 finite"):
            deskew_quad(bad_q, 0.2, (32, 128))


class _UprightOCR:
    """An OCR stand-in whose confidence is higher the more upright a crop's strokes stand."""

    def __init__(self, inner: edgevision.Predictor) -> None:
        self.inner, self.config, self.seen = inner, inner.config, []

    def __call__(self, crops: list) -> list:
        from edgevision.plates import estimate_slant

        out = []
        for c in crops:
            k, _ = estimate_slant(c)
            self.seen.append(k)
            out.append(edgevision.TextResult(text="沪A2" if abs(k) < 0.1 else "沪B1", confidence=1.0 - min(abs(k), 1.0),
                                             char_confidences=[1.0 - min(abs(k), 1.0)] * 3))
        return out


def test_a_leaning_plate_is_read_again_upright_and_the_more_confident_reading_stands(tmp_path: Path) -> None:
    scene = np.zeros((256, 256, 3), np.uint8)
    scene[100:132, 64:192] = cv2.resize(_strokes(0.6), (128, 32), interpolation=cv2.INTER_AREA)
    quad = np.array([[64, 100], [192, 100], [192, 132], [64, 132]], np.float64)
    out = np.zeros((1, 13, 1), np.float32)
    out[0, :4, 0], out[0, 4, 0], out[0, 5:, 0] = [32, 29, 32, 8], 0.9, (quad / 4).ravel()  # 256 -> 64 input
    meta = {"task": "pose", "preprocess": {"size": 64}, "decoder": {"kpt_shape": [4, 2]}}
    det = models.save(models.with_metadata(models.constant_output_model("output0", out, h=64, w=64), meta),
                      tmp_path / "det1.onnx")
    for deskew in (True, False):
        reader = edgevision.PlateReader(ocr=_ocr(tmp_path), detector=det, refine=False, deskew=deskew)
        reader.ocr = _UprightOCR(reader.ocr)
        (plate,) = reader(scene)
        if deskew:
            assert len(reader.ocr.seen) == 2  # the crop as detected, and upright, in one OCR call
            assert plate.text == "沪A2" and abs(plate.corners[0, 0] - 64) > 5  # the upright quad's corners
            assert plate.crop.shape == (32, 96, 3) and abs(edgevision.plates.estimate_slant(plate.crop)[0]) < 0.1
        else:
            assert len(reader.ocr.seen) == 1 and plate.text == "沪B1"
            np.testing.assert_allclose(plate.corners, quad, atol=1e-3)
    with pytest.raises(edgevision.InvalidArgumentError, match="deskew: expected True or False"):
        edgevision.PlateReader(ocr=_ocr(tmp_path), detector=det, deskew="yes")


def test_an_unconfirmed_plate_is_rescued_when_the_ocr_reads_it_confidently(tmp_path: Path) -> None:
    # The plate of test_the_second_look_drops_a_plate_it_does_not_confirm: proposed at 0.9, not confirmed.
    # With rescue=C the OCR reads it from its first-look corners, and keeps it when its confidence is >= C.
    det = _one_plate_detector(tmp_path, [28, 31, 36, 31, 36, 33, 28, 33], "small")
    img = np.random.default_rng(3).integers(0, 256, (640, 640, 3), np.uint8)
    ocr = edgevision.Predictor(_ocr(tmp_path))
    first = edgevision.PlateReader(ocr=ocr, detector=det, refine=False)(img)
    assert len(first) == 1
    conf = first[0].confidence
    assert 0 < conf < 1
    # the default ("auto"): RESCUE_CONF with the second look, none without it or with the corner model
    assert edgevision.PlateReader(ocr=ocr, detector=det).rescue == edgevision.plates.RESCUE_CONF == 0.9
    assert edgevision.PlateReader(ocr=ocr, detector=det, refine=False).rescue is None
    assert edgevision.PlateReader(ocr=ocr, detector=None).rescue is None
    assert edgevision.PlateReader(ocr=ocr, detector=det, rescue=None).rescue is None   # off
    assert len(edgevision.PlateReader(ocr=ocr, detector=det, rescue=None)(img)) == 0
    # this plate's reading is below 0.9: the default keeps it only if it reads that surely
    assert len(edgevision.PlateReader(ocr=ocr, detector=det)(img)) == int(conf >= 0.9)
    scene = edgevision.PlateReader(ocr=ocr, detector=det, rescue=conf)(img)
    assert len(scene) == 1 and scene[0].text == first[0].text and scene[0].score == pytest.approx(0.9)
    np.testing.assert_allclose(scene[0].corners, first[0].corners, atol=1e-9)    # the first look's corners
    assert scene[0].confidence == pytest.approx(conf)
    assert scene[0].confirmed is False and first[0].confirmed is None   # rescued; no second look at all
    assert scene[0].to_dict()["confirmed"] is False
    assert len(edgevision.PlateReader(ocr=ocr, detector=det, rescue=min(1.0, conf + 1e-3))(img)) == 0
    # without the second look every proposal is a plate already: a rescue there is refused, named
    with pytest.raises(InvalidArgumentError, match="rescue: .* only with a detector and refine=True"):
        edgevision.PlateReader(ocr=ocr, detector=det, refine=False, rescue=0.0)
    with pytest.raises(InvalidArgumentError, match="rescue"):
        edgevision.PlateReader(ocr=ocr, detector=None, rescue=0.9)   # the corner model: one plate, no proposals


@pytest.mark.parametrize("bad", [1.5, -0.1, True, "0.9", "AUTO", float("nan")])
def test_rescue_is_checked(tmp_path: Path, bad: object) -> None:
    with pytest.raises(InvalidArgumentError, match="rescue"):
        edgevision.PlateReader(ocr=_ocr(tmp_path), detector=_pose_detector(tmp_path), rescue=bad)  # type: ignore[arg-type]


class _Dets:
    """A first look's result as refine_plates and the rescue read it: scores and keypoints."""

    def __init__(self, scores: list[float], quads: list[list[list[float]]]) -> None:
        self.scores, self.keypoints = np.array(scores), np.array(quads, np.float64)

    def __len__(self) -> int:
        return len(self.scores)


def _quad(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def test_the_rescue_candidates_are_the_unconfirmed_proposals_clear_of_kept_plates() -> None:
    dets = _Dets([0.9, 0.6, 0.5, 0.4, 0.8],
                 [_quad(10, 10, 30, 20), _quad(25, 12, 45, 22), _quad(60, 60, 80, 70),
                  [[np.nan, 0], [1, 0], [1, 1], [0, 1]], _quad(60, 10, 80, 20)])
    kept = [(0, np.array(_quad(11, 10, 31, 20)))]                     # plate 0 confirmed (refined corners)
    got = edgevision.PlateReader._unconfirmed([dets], [kept])
    # 1 overlaps the kept plate, 3 has no corners: 4 and 2 remain, the most likely first
    assert [(i, j) for i, j, _ in got] == [(0, 4), (0, 2)]
    np.testing.assert_array_equal(got[0][2], dets.keypoints[4])


def test_rescued_proposals_need_the_confidence_and_do_not_overlap_each_other(tmp_path: Path) -> None:
    from edgevision.results import TextResult

    reader = edgevision.PlateReader(ocr=_ocr(tmp_path), detector=_pose_detector(tmp_path), rescue=0.9)
    quads = [np.array(_quad(0, 0, 10, 5)), np.array(_quad(20, 0, 30, 5)), np.array(_quad(40, 0, 50, 5)),
             np.array(_quad(22, 1, 32, 6)), np.array(_quad(20, 0, 30, 5))]
    owners = [(0, 0, quads[0]), (0, 1, quads[1]), (0, 2, quads[2]), (0, 3, quads[3]), (1, 4, quads[4])]
    read = [(q, None, True, TextResult(text=t, confidence=c), 1)
            for q, (t, c) in zip(quads, [("A", 0.2), ("B", 0.95), ("C", 0.5), ("D", 0.99), ("E", 0.9)])]
    kept_owners, kept_read = reader._rescued(owners, read, 1)
    # the confirmed plate stays whatever its confidence; B is rescued; C is not sure enough; D overlaps B
    # (rescued before it); E is in another image and exactly at the threshold
    assert [o[1] for o in kept_owners] == [0, 1, 4] and [r[3].text for r in kept_read] == ["A", "B", "E"]


def test_a_rescued_plate_takes_its_place_by_first_look_score(tmp_path: Path) -> None:
    # The two plates of _pose_detector (0.9 and 0.6): the second look (stubbed) confirms only the 0.6 one; the
    # 0.9 one, rescued, comes first, as plates go by decreasing score.
    reader = edgevision.PlateReader(ocr=_ocr(tmp_path), detector=_pose_detector(tmp_path), rescue=0.0)
    reader.refine_plates = lambda images, dets: [[(j, np.asarray(d.keypoints[j], np.float64))  # type: ignore[method-assign]
                                                  for j in range(len(d)) if float(d.scores[j]) < 0.8] for d in dets]
    scene = reader(np.zeros((128, 128, 3), np.uint8))
    assert [p.score for p in scene] == pytest.approx([0.9, 0.6])
    assert [p.confirmed for p in scene] == [False, True]   # the flags follow their plates
    with pytest.raises(edgevision.InvalidArgumentError, match="confirmed: expected True, False or None"):
        edgevision.PlateReading(corners=np.zeros((4, 2)), text="A", confidence=1.0, confirmed="yes")
    np.testing.assert_allclose(scene[0].corners, np.array([[8, 16], [32, 16], [32, 24], [8, 24]]) * 2.0)
