"""MeterReader (seed 001): the reading's assembly, the pipeline on tiny constant models (every field, illegible
screens, bad models), ``edgevision read-meter`` and its errors, ``serve --pipeline meter``'s /recognize in
process, and the bundled models on committed synthetic scenes (tests/data/meters/scenes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

import edgevision
from edgevision import cli
from edgevision.errors import ConfigMismatchError, EdgeVisionError, InvalidArgumentError
from edgevision.meters import (
    MeterReader,
    MeterReading,
    assemble_reading,
    digit_crop,
    evaluate_meters,
    match_order,
    recognition_rate,
    screen_crop,
)

import models

SCENES = Path(__file__).parent / "data" / "meters" / "scenes"
BUNDLED = Path(edgevision.__file__).parent / "models"
CLASSES = ["analog", "digital", "illegible"]
#: The constant corner model's screen: TL, TR, BR, BL as fractions of its square input.
QUAD = np.array([[0.1, 0.3], [0.9, 0.3], [0.9, 0.6], [0.1, 0.6]])
#: The constant digit detector: 4 digits (cx, cy, w, h in screen px) and a decimal area around the last one.
DIGITS = [(40, 48, 30, 60), (190, 48, 30, 60), (90, 48, 30, 60), (140, 48, 30, 60)]
DECIMAL = (190, 48, 60, 80)
DIGIT_LOGITS = np.array([0, 0, 0, 0, 0, 0, 0, 3, 1, 0], np.float32)  # the classifier always reads 7


# --- tiny constant models ------------------------------------------------------------------


def _corners_model(d: Path, name: str, probs: list[float]) -> str:
    m = models.constant_output_model("corners", QUAD.reshape(1, 8).astype(np.float32), 64, 64,
                                     extra={"screen_class": np.array([probs], np.float32)})
    meta = {"task": "keypoints", "labels": CLASSES,
            "preprocess": {"size": [64, 64], "mode": "letterbox", "swap_rb": True, "scale": 1 / 255},
            "decoder": {"num_keypoints": 4, "class_output": "screen_class"}}
    return models.save(models.with_metadata(m, meta), d / name)


def _digits_model(d: Path) -> str:
    cols = [[cx, cy, w, h, 0.9, 0.0] for cx, cy, w, h in DIGITS] + [[*DECIMAL, 0.0, 0.8]]
    out = np.array(cols, np.float32).T[None]  # (1, 4 + 2, 5): yolov8 layout
    meta = {"task": "detection", "labels": ["digit", "decimal"],
            "preprocess": {"size": [96, 256], "mode": "letterbox", "swap_rb": True, "scale": 1 / 255},
            "decoder": {"layout": "yolov8", "conf_threshold": 0.25, "iou_threshold": 0.45}}
    return models.save(models.with_metadata(models.constant_output_model("detections", out, 96, 256), meta),
                       d / "digits.onnx")


def _classifier_model(d: Path) -> str:
    meta = {"task": "classification", "labels": [str(i) for i in range(10)],
            "preprocess": {"size": [32, 20], "mode": "stretch", "swap_rb": True, "scale": 1 / 255}}
    m = models.constant_output_model("probs", DIGIT_LOGITS[None], 32, 20)
    return models.save(models.with_metadata(m, meta), d / "cls.onnx")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("meter_models")
    return {"digital": _corners_model(d, "corners.onnx", [0.1, 0.85, 0.05]),
            "illegible": _corners_model(d, "illegible.onnx", [0.1, 0.1, 0.8]),
            "digits": _digits_model(d), "classifier": _classifier_model(d)}


@pytest.fixture(scope="module")
def reader(tiny: dict[str, str]) -> MeterReader:
    return MeterReader(tiny["digital"], tiny["digits"], tiny["classifier"], refine=None, threads=1)


def _image(h: int = 120, w: int = 200) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (h, w, 3), np.uint8)


# --- the reading from boxes ----------------------------------------------------------------


def test_assemble_reading_sorts_by_x_and_splits_at_the_decimal_area():
    boxes = [[40, 0, 50, 10], [0, 0, 10, 10], [20, 0, 30, 10], [60, 0, 70, 10]]
    assert assemble_reading(boxes, "5172", [35, 0, 75, 10]) == ("17.52", [1, 2, 0, 3], [False, False, True, True])
    assert assemble_reading(boxes, "5172", None)[0] == "1752"
    assert assemble_reading(boxes, "5172", [100, 0, 120, 10])[0] == "1752"  # an area with no digit: no point
    assert assemble_reading(np.zeros((0, 4)), [], [0, 0, 1, 1]) == ("", [], [])
    assert assemble_reading(boxes, "5172", [-5, -5, 200, 20])[0] == ".1752"  # every digit after the point
    with pytest.raises(InvalidArgumentError, match="digits"):
        assemble_reading(boxes, "51", None)


def test_digit_crop_is_the_one_the_classifier_is_trained_on():
    meter_synth = pytest.importorskip("calibration.meter_synth")
    for seed in (0, 1, 2):
        s = meter_synth.render_screen(seed)
        for box in list(s.boxes) + [[-4.0, -3.0, 6.5, 20.0], [250.0, 80.0, 262.0, 101.0]]:  # and past the edges
            np.testing.assert_array_equal(digit_crop(s.image, box), meter_synth.digit_crop(s.image, np.asarray(box)))


def test_screen_crop_maps_crop_pixels_to_source_pixels_and_pads_outside():
    """``screen_crop``'s ``(origin, k)``: crop point u is source point origin + u * k; a square of
    ``scale`` x the quad's larger extent about its bounding box's centre; the pad value outside."""
    xs = np.tile(np.arange(200, dtype=np.uint8), (120, 1))
    img = np.dstack([xs, xs, xs])                      # every pixel holds its column index
    quad = np.array([[40, 30], [120, 40], [118, 70], [42, 66]], np.float64)
    crop, origin, k = screen_crop(img, quad, 64, 1.5)
    assert crop.shape == (64, 64, 3) and crop.dtype == np.uint8
    assert k == pytest.approx(1.5 * 80 / 64) and origin == pytest.approx([80 - 60, 50 - 60])
    u = np.arange(64) + 0.5                            # crop pixel centres
    src = origin[0] + u * k - 0.5                      # the source column index at each
    inside = (src >= 0) & (src <= 199)
    np.testing.assert_allclose(crop[32, inside, 0], src[inside], atol=1.0)
    top = int(np.ceil((0 - origin[1]) / k))            # rows above the image are padding
    assert top > 0 and np.all(crop[:top - 1] == 114)
    with pytest.raises(InvalidArgumentError, match="corners: expected 4 finite"):
        screen_crop(img, np.full((4, 2), np.nan), 64)
    with pytest.raises(InvalidArgumentError, match="size: expected the crop's side"):
        screen_crop(img, quad, 0)
    with pytest.raises(InvalidArgumentError, match="scale: expected a positive number"):
        screen_crop(img, quad, 64, -1.0)


def test_match_order_keeps_the_first_looks_reading_order():
    ref = np.array([[0, 0], [10, 0], [10, 4], [0, 4]], np.float64)
    for shift in range(4):
        np.testing.assert_array_equal(match_order(np.roll(ref + 0.5, shift, axis=0), ref), ref + 0.5)


def test_the_second_look_replaces_the_corners_with_those_found_in_the_crop(tiny: dict[str, str]):
    """``MeterReader(refine=...)``: the refinement model's corners in the crop, mapped back to source pixels
    in the first look's order, are the reading's corners and the quad stage 2 rectifies; the class stays."""
    first = MeterReader(tiny["digital"], tiny["digits"], tiny["classifier"], refine=None, threads=1)
    # The constant corner model as the refinement: it finds QUAD (fractions of its 64 px input) in every crop.
    r = MeterReader(tiny["digital"], tiny["digits"], tiny["classifier"], refine=tiny["illegible"],
                    refine_scale=1.2, threads=1)
    img = _image()
    a, b = first(img), r(img)
    _, origin, k = screen_crop(img, a.corners, 64, 1.2)
    expected = match_order(origin + QUAD * 64 * k, a.corners)
    np.testing.assert_allclose(b.corners, expected, atol=1e-3)
    assert not np.allclose(b.corners, a.corners, atol=1.0)
    assert (b.meter_class, b.class_score) == (a.meter_class, a.class_score)   # not the refinement's "illegible"
    np.testing.assert_array_equal(b.screen, r.rectify(img, expected))
    assert b.text == a.text == "777.7" and "refine=" in repr(r)
    with pytest.raises(InvalidArgumentError, match="refine_scale: expected a crop scale"):
        MeterReader(tiny["digital"], tiny["digits"], tiny["classifier"], refine=tiny["illegible"], refine_scale=0.5)
    with pytest.raises(ConfigMismatchError, match="refine: expected a keypoints model"):
        MeterReader(tiny["digital"], tiny["digits"], tiny["classifier"], refine=tiny["classifier"])
    with pytest.raises(InvalidArgumentError, match="refine: this reader has no refinement model"):
        first.refine_quads([img], [a.corners], [True])


def test_recognition_rate_counts_fully_correct_readings_over_readable_meters():
    readings = [{"success": True, "text": "12.5", "class": "analog"},
                {"success": True, "text": "12.6", "class": "analog"},
                {"success": False, "text": "12.5", "class": "digital"},    # not a success: not correct
                {"success": False, "text": "", "class": "illegible"},
                {"success": True, "text": "3", "class": "digital"}]        # illegible answered: not rejected
    labels = [{"text": "12.5", "class": "analog"}, {"text": "12.5", "class": "analog"},
              {"text": "12.5", "class": "digital"}, {"text": "", "class": "illegible"},
              {"text": "", "class": "illegible"}]
    r = recognition_rate(readings, labels)
    assert r == {"recognition_rate": 1 / 3, "readable": 3, "correct": 1, "class_accuracy": 4 / 5, "illegible": 2,
                 "illegible_rejected": 1, "count": 5}
    assert recognition_rate([readings[3]], [labels[3]])["recognition_rate"] is None
    with pytest.raises(InvalidArgumentError, match="labels"):
        recognition_rate(readings, labels[:2])


# --- the pipeline on constant models ---------------------------------------------------------


def test_reader_reads_the_digits_left_to_right_with_the_decimal_part(reader: MeterReader):
    img = _image()
    r = reader(img)
    assert isinstance(r, MeterReading)
    assert (r.success, r.text, r.meter_class) == (True, "777.7", "digital")
    assert r.class_score == pytest.approx(0.85, abs=1e-6)
    p7 = float(np.exp(3) / np.exp(DIGIT_LOGITS).sum())
    assert r.score == pytest.approx(0.85 * p7 ** 4, rel=1e-5)
    assert [d.digit for d in r.digits] == list("7777") and [d.decimal for d in r.digits] == [False] * 3 + [True]
    assert [d.box[0] for d in r.digits] == [25, 75, 125, 175]  # screen px, sorted by x
    assert all(d.confidence == pytest.approx(p7, rel=1e-5) and d.score == pytest.approx(0.9) for d in r.digits)
    assert r.decimal_box == pytest.approx((160, 8, 220, 88))
    # corners: the constant quad (fractions of the letterboxed input) in source px
    _, t = edgevision.letterbox(img, 64)
    np.testing.assert_allclose(r.corners, t.to_source(QUAD, normalized=True), atol=1e-5)
    # each digit's quad goes back through the screen's perspective into the source image
    tl = r.digits[0].quad[0]
    x0, y0 = r.corners[0]
    sx, sy = (r.corners[1, 0] - x0) / 256, (r.corners[3, 1] - y0) / 96
    assert tl == pytest.approx((x0 + 25 * sx, y0 + 18 * sy))
    assert r.screen is not None and r.screen.shape == (96, 256, 3)
    assert set(r.timings_ms) == {"corners", "rectify", "digits", "classify", "total"}
    assert r.time == pytest.approx(r.timings_ms["total"] / 1e3)
    d = r.to_dict()
    assert list(d)[:7] == ["type", "original_image_shape", "success", "text", "class", "score", "time"]
    assert d["original_image_shape"] == [120, 200, 3] and d["class"] == "digital" and d["text"] == "777.7"
    assert len(d["digits"]) == 4 and "screen" not in d
    json.dumps(d)  # plain data
    out = r.plot()
    assert out.shape == img.shape and not np.array_equal(out, img)


def test_reader_takes_paths_and_lists_in_one_batch(reader: MeterReader, tmp_path: Path):
    path = tmp_path / "m.png"
    cv2.imwrite(str(path), _image(90, 90))
    rs = reader([str(path), _image()])
    assert [r.text for r in rs] == ["777.7", "777.7"] and rs[0].original_image_shape == [90, 90, 3]
    with pytest.raises(InvalidArgumentError, match="non-empty"):
        reader([])


def test_an_illegible_screen_is_not_read(tiny: dict[str, str], monkeypatch: pytest.MonkeyPatch):
    r = MeterReader(tiny["illegible"], tiny["digits"], tiny["classifier"], refine=None, threads=1)

    def boom(*_: Any) -> None:
        raise AssertionError("stage 2 ran on an illegible screen")

    monkeypatch.setattr(r, "digits", boom)
    res = r(_image())
    assert (res.success, res.text, res.meter_class, res.score, res.digits) == (False, "", "illegible", 0.0, ())
    assert res.class_score == pytest.approx(0.8) and res.screen is None
    assert res.to_dict()["success"] is False
    assert res.plot().shape == (120, 200, 3)


def test_a_bad_quad_reads_nothing(reader: MeterReader, monkeypatch: pytest.MonkeyPatch):
    real = reader.corners

    def crossed(images: list) -> list:
        rs = real(images)
        for r in rs:
            r.keypoints = r.keypoints[[0, 2, 1, 3]]  # a self-crossing quad
        return rs

    monkeypatch.setattr(reader, "corners", crossed)
    r = reader(_image())
    assert (r.success, r.text, r.quad_ok, r.meter_class) == (False, "", False, "digital")


def test_models_that_do_not_fit_their_stage_are_refused(tiny: dict[str, str]):
    with pytest.raises(ConfigMismatchError, match="corners"):
        MeterReader(tiny["digits"], tiny["digits"], tiny["classifier"])
    with pytest.raises(ConfigMismatchError, match="digits"):
        MeterReader(tiny["digital"], tiny["classifier"], tiny["classifier"])
    with pytest.raises(ConfigMismatchError, match="classifier"):
        MeterReader(tiny["digital"], tiny["digits"], tiny["digits"])
    with pytest.raises(InvalidArgumentError, match="crop_margin"):
        MeterReader(tiny["digital"], tiny["digits"], tiny["classifier"], crop_margin=-1)
    with pytest.raises(InvalidArgumentError, match="conf_threshold"):
        MeterReader(tiny["digital"], edgevision.Predictor(tiny["digits"]), tiny["classifier"], conf_threshold=0.5)


def test_weak_and_duplicate_digit_boxes_are_dropped(tiny: dict[str, str]):
    from edgevision.meters import side_by_side

    assert side_by_side([[0, 0, 10, 20], [5, 0, 15, 20], [9, 0, 19, 20]], [0.5, 0.9, 0.8]).tolist() == [1]
    assert side_by_side([[0, 0, 10, 20], [5, 0, 15, 20]], [0.5, 0.9], overlap=0.6).tolist() == [1, 0]
    assert side_by_side(np.zeros((0, 4)), []).tolist() == []
    # every box (0.9 digits, 0.8 decimal) under min_score: nothing is read
    r = MeterReader(tiny["digital"], tiny["digits"], tiny["classifier"], min_score=0.95, refine=None)
    res = r(_image())
    assert (res.success, res.text, res.digits) == (False, "", ())
    r85 = MeterReader(tiny["digital"], tiny["digits"], tiny["classifier"], min_score=0.85, refine=None)
    assert r85(_image()).text == "7777"
    with pytest.raises(InvalidArgumentError, match="overlap"):
        MeterReader(tiny["digital"], tiny["digits"], tiny["classifier"], overlap=2)
    for bad in (1.5, -0.1, "high"):
        with pytest.raises((InvalidArgumentError, TypeError), match="confirm"):
            MeterReader(tiny["digital"], tiny["digits"], tiny["classifier"], confirm=bad)
    assert MeterReader(tiny["digital"], tiny["digits"], tiny["classifier"], confirm=None).confirm is None


def test_the_detector_thresholds_can_be_overridden(tiny: dict[str, str]):
    r = MeterReader(tiny["digital"], tiny["digits"], tiny["classifier"], conf_threshold=0.85, iou_threshold=0.3,
                    refine=None)
    assert r.digits.config.decoder["conf_threshold"] == 0.85 and r.digits.config.decoder["iou_threshold"] == 0.3
    res = r(_image())  # the decimal area (0.8) is below the threshold now: every digit is a whole digit
    assert (res.text, res.decimal_box) == ("7777", None)


def test_evaluate_meters_scores_a_labelled_set(reader: MeterReader, tmp_path: Path):
    labels = [{"text": "777.7", "class": "digital"}, {"text": "777.8", "class": "analog"},
              {"text": "", "class": "illegible"}]
    res = evaluate_meters(reader, [_image()] * 3, labels, batch=2, save=tmp_path / "out")
    assert (res["recognition_rate"], res["readable"], res["correct"]) == (0.5, 2, 1)
    assert res["class_accuracy"] == pytest.approx(1 / 3) and res["illegible_rejected"] == 0
    assert [p["correct"] for p in res["per_image"]] == [True, False, False]
    assert len(list((tmp_path / "out").glob("*_meter.jpg"))) == 3


# --- edgevision read-meter ------------------------------------------------------------------


def _cli(tiny: dict[str, str], *args: str) -> list[str]:
    return ["read-meter", *args, "--corners", tiny["digital"], "--digits", tiny["digits"],
            "--classifier", tiny["classifier"], "--no-refine"]


def test_cli_reads_images_and_saves_annotated_copies(tiny: dict[str, str], tmp_path: Path, capsys):
    path = tmp_path / "meter.jpg"
    cv2.imwrite(str(path), _image())
    assert cli.main(_cli(tiny, str(path), "--save", str(tmp_path / "out"))) == 0
    rec = json.loads(capsys.readouterr().out.strip())
    assert (rec["image"], rec["success"], rec["text"], rec["class"]) == (str(path), True, "777.7", "digital")
    assert rec["original_image_shape"] == [120, 200, 3] and isinstance(rec["time"], float)
    assert Path(rec["saved"]).is_file() and cv2.imread(rec["saved"]).shape == (120, 200, 3)
    refine = ["read-meter", str(path), "--corners", tiny["digital"], "--digits", tiny["digits"], "--classifier",
              tiny["classifier"], "--refine", tiny["illegible"]]     # the constant model as the second look
    assert cli.main(refine) == 0
    again = json.loads(capsys.readouterr().out.strip())
    assert again["text"] == "777.7" and not np.allclose(again["corners"], rec["corners"], atol=1.0)


def test_cli_scores_a_labelled_folder(tiny: dict[str, str], tmp_path: Path, capsys):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.jpg"), _image())
    lines = [{"image": "0.jpg", "text": "777.7", "class": "digital"}, {"image": "1.jpg", "text": "123.4",
                                                                       "class": "digital"},
             {"image": "2.jpg", "text": "", "class": "illegible"}]
    (tmp_path / "manifest.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    assert cli.main(_cli(tiny, "--eval", str(tmp_path))) == 0
    res = json.loads(capsys.readouterr().out)
    assert (res["recognition_rate"], res["readable"], res["correct"], res["count"]) == (0.5, 2, 1, 3)
    assert "per_image" not in res


@pytest.mark.parametrize("args, message", [
    ((), "expected IMAGE... to read, or --eval DIR, or --synthetic N"),
    (("x.jpg", "--synthetic", "3"), "one of them; got 2"),
    (("missing.jpg",), "missing.jpg"),
    (("--eval", "no_such_folder"), "--eval: no_such_folder: no such file or folder"),
])
def test_cli_errors_are_clear(tiny: dict[str, str], args: tuple, message: str, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert cli.main(_cli(tiny, *args)) == 2
    err = capsys.readouterr().err
    assert err.startswith("edgevision read-meter: error: ") and message in err


def test_cli_refuses_a_folder_without_labels_and_a_missing_model(tiny: dict[str, str], tmp_path: Path, capsys):
    cv2.imwrite(str(tmp_path / "a.jpg"), _image())
    assert cli.main(_cli(tiny, "--eval", str(tmp_path))) == 2
    assert "no labelled images" in capsys.readouterr().err
    assert cli.main(["read-meter", str(tmp_path / "a.jpg"), "--corners", str(tmp_path / "nope.onnx")]) == 2
    assert "nope.onnx" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(_cli(tiny, "--synthetic", "0"))


def test_cli_synthetic_mode_scores_generated_scenes(tiny: dict[str, str], capsys):
    pytest.importorskip("calibration.meter_synth")
    assert cli.main(_cli(tiny, "--synthetic", "4", "--seed", "7", "--json")) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["count"] == 4 and res["readable"] + res["illegible"] == 4 and len(res["per_image"]) == 4
    assert res["source"].startswith("4 synthetic scenes (render_scene(7 + i))")


# --- edgevision serve --pipeline meter ---------------------------------------------------------


def test_serve_meter_pipeline_recognize(tiny: dict[str, str]):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from edgevision.serve import ServeConfig, create_app

    cfg = ServeConfig(pipeline="meter", meter_corners=tiny["digital"], meter_digits=tiny["digits"],
                      meter_classifier=tiny["classifier"], meter_refine=tiny["illegible"], workers=1, threads=1,
                      queue=2)
    assert ServeConfig(pipeline="meter").meter_refine == "meter_corners_refine_int8.onnx"
    # serve's defaults are literals (its config stays import-light): they must be MeterReader's
    from edgevision import meters

    d = ServeConfig()
    assert (d.meter_corners, d.meter_digits, d.meter_classifier, d.meter_refine) == (
        meters.DEFAULT_CORNERS, meters.DEFAULT_DIGITS, meters.DEFAULT_CLASSIFIER, meters.DEFAULT_REFINE)
    ok, body = cv2.imencode(".png", _image())
    with TestClient(create_app(cfg)) as c:
        r = c.post("/recognize", content=body.tobytes(), headers={"Content-Type": "image/png"})
        assert r.status_code == 200
        d = r.json()
        assert list(d)[:6] == ["success", "original_image_shape", "text", "class", "score", "time"]
        assert (d["success"], d["text"], d["class"], d["original_image_shape"]) == (True, "777.7", "digital",
                                                                                      [120, 200, 3])
        assert (d["counter_class"], d["counter_score"]) == ("digital", pytest.approx(0.85, abs=1e-6))
        assert [x["digit"] for x in d["digits"]] == list("7777") and d["digits"][-1]["decimal"] is True
        assert {"read", "queue", "decode", "corners", "rectify", "digits", "classify", "total"} == set(d["timings_ms"])
        models_ = c.get("/models").json()
        assert models_["pipeline"] == {"name": "meter", "endpoint": "/recognize", "corners": "corners",
                                       "digits": "digits", "classifier": "cls", "refine": "illegible"}
        # the constant refinement's quad (QUAD in its crop), mapped back: not the first look's corners
        first = MeterReader(tiny["digital"], tiny["digits"], tiny["classifier"], refine=None, threads=1)(_image())
        refined = MeterReader(tiny["digital"], tiny["digits"], tiny["classifier"], refine=tiny["illegible"],
                              threads=1)(_image())
        np.testing.assert_allclose(d["corners"], refined.corners.tolist(), atol=1e-3)
        assert not np.allclose(d["corners"], first.corners, atol=1.0)
        assert c.post("/predict/cls", content=body.tobytes(), headers={"Content-Type": "image/png"}).status_code == 200
        bad = c.post("/recognize", content=b"not an image", headers={"Content-Type": "image/png"})
        assert bad.status_code in (400, 415) and bad.json()["success"] is False
    with pytest.raises(InvalidArgumentError, match="detector: a plate detector belongs to the plate pipeline"):
        ServeConfig(pipeline="meter", detector="plate_pose_int8.onnx")
    with pytest.raises(InvalidArgumentError, match="corners: a plate corner model belongs to the plate pipeline"):
        ServeConfig(pipeline="meter", corners="lpl_resnet_int8.onnx")


def test_serve_cli_passes_the_meter_models(tiny: dict[str, str], monkeypatch: pytest.MonkeyPatch):
    pytest.importorskip("fastapi")
    from edgevision.serve import app

    seen: dict[str, Any] = {}
    monkeypatch.setattr(app, "serve", lambda config: seen.setdefault("config", config) and 0)
    assert cli.main(["serve", "--pipeline", "meter", "--meter-corners", tiny["digital"], "--meter-digits",
                     tiny["digits"], "--meter-classifier", tiny["classifier"]]) == 0
    c = seen["config"]
    assert (c.pipeline, c.meter_corners, c.meter_digits, c.meter_classifier, c.meter_refine) == (
        "meter", tiny["digital"], tiny["digits"], tiny["classifier"], "meter_corners_refine_int8.onnx")
    seen.clear()
    assert cli.main(["serve", "--pipeline", "meter", "--meter-refine", tiny["illegible"]]) == 0
    assert seen["config"].meter_refine == tiny["illegible"]
    seen.clear()
    assert cli.main(["serve", "--pipeline", "meter", "--no-meter-refine"]) == 0
    assert seen["config"].meter_refine is None


# --- the bundled models on committed synthetic scenes ---------------------------------------------


@pytest.mark.parametrize("variant", ["", "_int8"])
def test_bundled_stage1_is_self_describing_with_a_card(variant: str):
    path = BUNDLED / f"meter_corners{variant}.onnx"
    cfg = edgevision.ModelConfig.read(path)
    assert cfg.task == "keypoints" and list(cfg.labels) == CLASSES
    assert cfg.decoder["num_keypoints"] == 4 and cfg.decoder["class_output"] == "screen_class"
    assert cfg.extra["training"]["recipe"] == "training.meter_screen"
    if variant:
        assert cfg.extra["quantization"]["mode"] == "static"
    card = (BUNDLED / "meter_corners.md").read_text()
    assert "whole-meter" in card and "unmeasured" in card


@pytest.mark.parametrize("variant", ["", "_int8"])
def test_bundled_stage1_on_committed_scenes(variant: str):
    items = _scenes()
    p = edgevision.Predictor(f"meter_corners{variant}.onnx", threads=1)
    rs = p([str(path) for path, _ in items])
    right = sum(r.label == lab["class"] for r, (_, lab) in zip(rs, items))
    assert right >= MIN_STAGE1_CLASSES
    errs = [float(np.linalg.norm(r.keypoints - np.asarray(lab["corners"]), axis=1).mean()
                  / np.linalg.norm(np.subtract(lab["corners"][2], lab["corners"][0])))
            for r, (_, lab) in zip(rs, items) if lab["class"] != "illegible"]
    assert float(np.median(errs)) <= MAX_STAGE1_MEDIAN_DIAG


@pytest.mark.parametrize("variant", ["", "_int8"])
def test_bundled_second_look_is_self_describing_and_tightens_the_committed_corners(variant: str):
    """The bundled ``meter_corners_refine``: a stage-1 model trained on ``screen_crop`` views. On the 6 legible
    committed scenes (2026-12-06) it takes the median corner error from 0.042 to 0.033 of the diagonal (fp32) and
    from 0.041 to 0.039 (int8); asserted: fp32 no worse than the first look, both under the stage-1 ceiling."""
    from edgevision.predictor import load_image

    cfg = edgevision.ModelConfig.read(BUNDLED / f"meter_corners_refine{variant}.onnx")
    assert cfg.task == "keypoints" and cfg.decoder["num_keypoints"] == 4 and cfg.name == "meter_corners_refine"
    assert cfg.extra["training"]["recipe"] == "training.meter_screen" and cfg.extra["training"]["refine"] is True
    assert "second look" in (BUNDLED / "meter_corners.md").read_text()
    r = MeterReader(f"meter_corners{variant}.onnx", f"meter_digits{variant}.onnx", f"meter_digit_cls{variant}.onnx",
                    refine=f"meter_corners_refine{variant}.onnx", threads=1)
    items = [(p, lab) for p, lab in _scenes() if lab["class"] != "illegible"]
    images = [load_image(str(p)) for p, _ in items]
    first = [np.asarray(x.keypoints, np.float64) for x in r.corners(images)]
    refined = r.refine_quads(images, first, [True] * len(images))

    def median_err(quads: list[np.ndarray]) -> float:
        return float(np.median([np.linalg.norm(q - np.asarray(lab["corners"]), axis=1).mean()
                                / np.linalg.norm(np.subtract(lab["corners"][2], lab["corners"][0]))
                                for q, (_, lab) in zip(quads, items)]))

    assert median_err(refined) <= MAX_STAGE1_MEDIAN_DIAG
    if not variant:
        assert median_err(refined) <= median_err(first)


def _bundled() -> bool:
    return all((BUNDLED / f"{m}.onnx").is_file() for m in ("meter_corners_int8", "meter_digits_int8",
                                                            "meter_digit_cls_int8"))


def _scenes() -> list[tuple[Path, dict[str, Any]]]:
    from edgevision.samples import read_manifest

    return read_manifest(SCENES)


def test_committed_scenes_are_labelled():
    items = _scenes()
    assert len(items) >= 8 and all(p.is_file() for p, _ in items)
    for path, lab in items:
        assert lab["class"] in CLASSES and (lab["text"] == "") == (lab["class"] == "illegible")
        assert np.asarray(lab["corners"]).shape == (4, 2)


@pytest.mark.skipif(not _bundled(), reason="the bundled meter models are not there yet")
@pytest.mark.parametrize("variant", ["", "_int8"])
def test_bundled_reader_on_committed_scenes(variant: str):
    """The bundled pipeline end to end. It reads none of the 6 readable committed scenes exactly (2026-12-05:
    8.0% fp32 / 5.3% int8 of 398 held-out readable scenes, see meter_corners.md), so this checks what it
    answers, not that it reads right; benchmarks.meters has the figures."""
    reader = MeterReader(*(f"{m}{variant}.onnx" for m in ("meter_corners", "meter_digits", "meter_digit_cls")),
                         threads=1)
    items = _scenes()
    rs = reader([str(p) for p, _ in items])
    res = recognition_rate(rs, [lab for _, lab in items])
    assert (res["readable"], res["illegible"]) == (6, 4)
    assert res["class_accuracy"] >= MIN_CLASS_ACCURACY
    for r in rs:
        assert r.meter_class in CLASSES and 0 <= r.score <= 1 and r.original_image_shape == [256, 256, 3]
        if r.meter_class == "illegible":
            assert (r.success, r.text, r.digits) == (False, "", ())
        else:
            assert r.success == bool(r.digits) and r.text.replace(".", "", 1).isdigit() == bool(r.digits)
            assert r.text.count(".") <= 1 and len(r.text.replace(".", "")) == len(r.digits)


#: Floors on the 10 committed scenes (tests/data/meters/scenes/README.md says how they were drawn), measured
#: 2026-12-06 (the heatmap corner model) with a margin: stage-1 class right on 8/10 (fp32) and 6/10 (int8), floor
#: 5; the median corner error of the 6 legible screens 0.042 (fp32) and 0.041 (int8) of the screen diagonal,
#: ceiling 0.06 (the first, dense model: 4/10 and 5/10 classes, 0.160 and 0.176).
MIN_STAGE1_CLASSES = 5
MAX_STAGE1_MEDIAN_DIAG = 0.06
MIN_CLASS_ACCURACY = 0.3


def test_stage1_benchmark_measures_the_refined_corners_with_a_reader(tiny: dict[str, str]):
    """``benchmarks.meters.stage1_heldout(model, scenes, reader)``: with a reader that has a second look, the corner
    error is the refined corners'; the class stays stage 1's."""
    from types import SimpleNamespace

    from benchmarks.meters import stage1_heldout

    r = MeterReader(tiny["digital"], tiny["digits"], tiny["classifier"], refine=tiny["illegible"], threads=1)
    img = _image()
    first = MeterReader(tiny["digital"], tiny["digits"], tiny["classifier"], refine=None, threads=1)(img).corners
    refined = r(img).corners
    scene = SimpleNamespace(image=img, corners=refined, meter_class="digital")
    with_refine = stage1_heldout(r.corners, [scene], r)
    without = stage1_heldout(r.corners, [scene])
    assert with_refine["mae_px"] == pytest.approx(0.0, abs=1e-3) and with_refine["class_accuracy"] == 1.0
    assert without["mae_px"] == pytest.approx(float(np.abs(first - refined).mean()), rel=1e-6) and without["mae_px"] > 1


def test_whole_meter_report_uses_a_bundled_second_look_but_not_on_the_labelled_corners(
        tiny: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``benchmarks.meters.whole_meter_report``: a ``meter_corners_refine`` file in the models folder is the readers'
    second look (listed with the models); the reader given the labelled corners makes none."""
    import shutil

    from benchmarks import meters as bm

    for var in ("", "_int8"):
        for name, src in (("meter_corners", "digital"), ("meter_digits", "digits"), ("meter_digit_cls", "classifier"),
                          ("meter_corners_refine", "illegible")):
            shutil.copyfile(tiny[src], tmp_path / f"{name}{var}.onnx")
    refined_with: list[str] = []
    real = MeterReader.refine_quads

    def recording(self, images, quads, which):
        refined_with.append(type(self.corners).__name__)
        return real(self, images, quads, which)

    monkeypatch.setattr(MeterReader, "refine_quads", recording)
    rep = bm.whole_meter_report(str(tmp_path), scenes=3, runs=2)
    for var in ("fp32", "int8"):
        assert rep["variants"][var]["models"][-1] == f"meter_corners_refine{'_int8' if var == 'int8' else ''}.onnx"
        assert rep["variants"][var]["meter_true_corners"]["readable"] == rep["variants"][var]["meter"]["readable"]
    assert refined_with and "TrueCorners" not in refined_with
