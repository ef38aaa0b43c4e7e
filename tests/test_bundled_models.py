"""The bundled default models: present, self-describing, offline from any directory, above an accuracy floor.

The floors are what the models measured on these samples, with a margin of one plate for
int8 (the full figures are in their cards, edgevision/models/*.md, and
tests/test_published_figures.py checks those against the bundled files).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import edgevision
from edgevision.predictor import bundled_models
from edgevision.samples import PLATES_DIR

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "edgevision" / "models"
FAMILIES = {"lpl_resnet": "keypoints", "plate_ocr": "ctc_ocr"}
#: fp32 and int8 ship; fp16 derives from fp32 in seconds (benchmarks.latency makes it for its run).
VARIANTS = ("", "_int8")
SAMPLES = PLATES_DIR  # the sample scenes are package data

# Floors on the 8 committed sample scenes: what the models do, with a margin for int8.
MAX_CORNER_ERROR_PX = 2.5  # measured 1.20 px fp32, 1.19 px int8 (mean |dx|, |dy|), 2026-12-04
MIN_OCR_EXACT = 0.875  # the CTC OCR (2026-12-05) reads 8/8, fp32 and int8 (the stage-6 OCR read 7/8); one miss allowed


def _samples() -> list[dict]:
    return [json.loads(line) for line in (SAMPLES / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]


def test_every_default_is_bundled_with_a_card() -> None:
    names = set(bundled_models())
    for family in FAMILIES:
        for v in VARIANTS:
            assert f"{family}{v}.onnx" in names
        assert f"{family}_fp16.onnx" not in names
        assert (MODELS / f"{family}.md").is_file()


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("variant", VARIANTS)
def test_metadata(family: str, variant: str) -> None:
    cfg = edgevision.ModelConfig.read(MODELS / f"{family}{variant}.onnx")
    assert cfg.task == FAMILIES[family]
    data = cfg.extra["training"]["data"]
    if family == "plate_ocr":  # trained on the real-data mixture: realistic crops, EasyPR train plates, scenes
        assert data["generator"] == "training.ocr.MixedOCRSample" and data["mix"]["name"].startswith("real")
        assert data["easypr"]["split"] == "train"
    else:
        assert data["generator"] == "calibration.synth.PlateSceneGenerator"
    if variant:
        assert cfg.extra["quantization"]["mode"] == "static"


def test_bare_name_works_offline_from_any_directory(tmp_path: Path) -> None:
    code = ("import numpy as np, edgevision\n"
            "p = edgevision.Predictor('lpl_resnet_int8.onnx')\n"
            "r = p(np.full((120, 200, 3), 128, np.uint8))\n"
            "print(r.keypoints.shape)")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "(4, 2)"


@pytest.mark.parametrize("variant", VARIANTS)
def test_plate_reader_on_the_sample_scenes(variant: str) -> None:
    import cv2

    reader = edgevision.PlateReader(f"lpl_resnet{variant}.onnx", f"plate_ocr{variant}.onnx")
    recs = _samples()
    images = [cv2.imread(str(SAMPLES / r["image"])) for r in recs]
    readings = reader(images)
    err = np.mean([np.abs(x.corners - np.asarray(r["corners"])).mean() for x, r in zip(readings, recs)])
    assert err <= MAX_CORNER_ERROR_PX, err
    # The OCR alone, on crops from the true corners (the corner model's error is measured above),
    # two-row plates re-read with their rows side by side as the reader does.
    from edgevision.plates import reread_two_rows

    quads = [np.asarray(r["corners"], np.float64) for r in recs]
    first = reader.ocr([reader.rectify(im, q)[0] for im, q in zip(images, quads)])
    again = reread_two_rows(reader.ocr, images, quads, first)
    texts = [a[0].text if a is not None else t.text for t, a in zip(first, again)]
    exact = np.mean([t == r["text"] for t, r in zip(texts, recs)])
    assert exact >= MIN_OCR_EXACT, list(zip(texts, [r["text"] for r in recs]))


def test_the_default_reader_is_the_bundled_detector_and_reads_every_plate() -> None:
    # PlateReader() runs the int8 detector and OCR; a corner model given (or detector=None) makes it
    # the seed-000 single-plate reader. The demo's real sample photographs are read as scenes.
    from edgevision.plates import DEFAULT_CORNERS, DEFAULT_DETECTOR, DEFAULT_OCR
    from edgevision.samples import REAL_PLATES_DIR, read_manifest

    reader = edgevision.PlateReader(threads=1)
    assert reader.corners is None and Path(reader.detector.path).name == DEFAULT_DETECTOR == "plate_pose_int8.onnx"
    assert Path(reader.ocr.path).name == DEFAULT_OCR and reader.refine
    for path, label in read_manifest(REAL_PLATES_DIR):
        scene = reader(str(path))
        assert isinstance(scene, edgevision.PlateScene) and label["text"] in scene.texts, (label, scene.texts)
    corners = edgevision.PlateReader(detector=None, threads=1)
    assert corners.detector is None and Path(corners.corners.path).name == DEFAULT_CORNERS
    assert isinstance(corners(np.zeros((64, 64, 3), np.uint8)), edgevision.PlateReading)
    assert edgevision.PlateReader(DEFAULT_CORNERS, threads=1).detector is None


REAL_CCPD = ROOT / "tests" / "data" / "real_ccpd"
# Floors on the 5 real CCPD samples: measured 5/5 exact, CER 0 (fp32 and int8, 2026-12-04); one miss allowed.
MIN_REAL_CCPD_EXACT = 0.8
MAX_REAL_CCPD_CER = 0.05


@pytest.mark.parametrize("variant", VARIANTS)
def test_ocr_reads_the_real_ccpd_samples(variant: str) -> None:
    """Real photographs (5 CCPD scenes, MIT, 2 of them green 8-character plates), each plate
    rectified from its labelled corners, as ``benchmarks.accuracy``'s quad rows read them."""
    from calibration.metrics import evaluate
    from calibration.real import read_real_ccpd

    res = evaluate(edgevision.Predictor(f"plate_ocr{variant}.onnx"), read_real_ccpd(REAL_CCPD).samples,
                   keep_predictions=True)
    got = [(p["label"], p["text"]) for p in res.details["predictions"]]
    assert res.count == 5 and res.value >= MIN_REAL_CCPD_EXACT, got
    assert res.details["cer"] <= MAX_REAL_CCPD_CER, got


# Floors of the bundled plate detector on the same 5 real CCPD samples (never trained on). Measured
# 2026-12-05 with the detector of runs/det3 (geometric augmentation) and the int8 CTC OCR: fp32 and
# int8 each find 4 of the 5 plates (IoU >= 0.5 with the labelled quad) and read those 4 exactly;
# corner error median 0.022 (fp32) and 0.026 (int8) of the diagonal. The fifth, 皖AD14488, is proposed
# by the first look (score 0.8) but not confirmed by the second (under 0.7); it is the one CCPD plate
# of 25 the reader misses. No sample gives a second plate. (The earlier detector found all 5, read 5
# and 4, and had corner errors 0.037 and 0.063; on all 25 CCPD scenes it read 22 and 21, this one 22 and 23.)
MAX_DETECTOR_CORNER_ERROR = {"": 0.04, "_int8": 0.04}
MIN_DETECTOR_FOUND = {"": 4, "_int8": 4}
MIN_DETECTOR_EXACT = {"": 4, "_int8": 4}


@pytest.mark.parametrize("variant", VARIANTS)
def test_detector_finds_the_one_plate_of_each_real_ccpd_sample(variant: str) -> None:
    from benchmarks.accuracy import corner_error
    from calibration.plate_scenes import box_iou, quad_boxes
    from calibration.real import read_real_ccpd

    reader = edgevision.PlateReader(detector=f"plate_pose{variant}.onnx", threads=1)
    errors, exact, found = [], 0, 0
    for s in read_real_ccpd(REAL_CCPD).samples:
        scene = reader(str(s.image_path))
        gt = np.asarray(s.corners, np.float64)
        assert len(scene) <= 1, (s.text, scene.texts)  # one plate in each: never a second, invented one
        if not len(scene):
            continue
        (plate,) = scene
        assert box_iou(quad_boxes(plate.corners[None]), quad_boxes(gt[None]))[0, 0] >= 0.5, s.text
        found += 1
        errors.append(corner_error(plate.corners, gt))
        exact += plate.text == s.text
    assert found >= MIN_DETECTOR_FOUND[variant]
    assert float(np.median(errors)) <= MAX_DETECTOR_CORNER_ERROR[variant], errors
    assert exact >= MIN_DETECTOR_EXACT[variant]
