"""calibration.metrics: the metric functions on hand-computed inputs, and evaluate()
on tiny models (keypoints, CTC OCR) through the real Predictor."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import models
import numpy as np
import pytest

import edgevision
from calibration import metrics as M
from calibration.errors import EmptyDatasetError
from edgevision import LetterboxTransform
from edgevision.config import ModelConfig
from edgevision.errors import InvalidArgumentError, InvalidTypeError


@dataclass
class Labelled:
    """A sample as evaluate() takes them: an image (array or path) and labels."""

    image: Any
    corners: Any = None
    text: str | None = None
    plate_type: str | None = None
    bbox: Any = None


# --- corner_mae ------------------------------------------------------------------------

# A 100x200 (h, w) image letterboxed into 64x64: scale 0.32, padded 16 px top and bottom.
T = LetterboxTransform((100, 200), (64, 64), (0.32, 0.32), (0, 16))
GT = np.array([[20.0, 30.0], [180.0, 30.0], [180.0, 70.0], [20.0, 70.0]])


def test_corner_mae_in_source_pixels_and_in_the_letterboxed_input():
    pred = GT + [10.0, 0.0]  # every corner 10 source px to the right
    r = M.corner_mae(pred, GT, [T])
    assert r["mae_px"] == pytest.approx(5.0)  # mean of |dx| = 10 and |dy| = 0
    # 10 source px = 3.2 input px = 0.05 of the 64-px input width; mean with dy = 0
    assert r["mae_norm"] == pytest.approx(0.025)
    assert r["per_corner_norm"] == pytest.approx([0.025] * 4)
    assert r["max_norm"] == pytest.approx(0.05)
    assert r["count"] == 1


def test_corner_mae_normalizes_x_by_width_and_y_by_height():
    t = LetterboxTransform((50, 100), (32, 128), (1.0, 1.0), (14, 0))  # identity scale, 14 px left pad
    pred = GT / 4 + [[4.0, 2.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]
    r = M.corner_mae(pred[None], (GT / 4)[None], [t])
    assert r["mae_norm"] == pytest.approx((4 / 128 + 2 / 32) / 8)
    assert r["per_corner_norm"] == pytest.approx([(4 / 128 + 2 / 32) / 2, 0, 0, 0])


def test_corner_mae_with_input_size_and_without_normalization():
    pred = np.zeros((2, 4, 2))
    gt = np.ones((2, 4, 2))
    r = M.corner_mae(pred, gt, input_size=(10, 20))
    assert r["mae_px"] == 1.0 and r["mae_norm"] == pytest.approx((1 / 20 + 1 / 10) / 2)
    assert M.corner_mae(pred, gt)["mae_norm"] is None


def test_corner_mae_errors_name_the_argument():
    with pytest.raises(InvalidArgumentError, match="pred: shape"):
        M.corner_mae(np.zeros((1, 4, 2)), np.zeros((1, 3, 2)))
    with pytest.raises(InvalidArgumentError, match="transforms: expected one"):
        M.corner_mae(GT, GT, [T, T])
    with pytest.raises(InvalidArgumentError, match="gt: expected finite"):
        M.corner_mae(GT, GT * np.nan)
    with pytest.raises(InvalidArgumentError, match="input_size"):
        M.corner_mae(GT, GT, input_size=(0, 5))
    with pytest.raises(InvalidArgumentError, match="pred: expected shape"):
        M.corner_mae(np.zeros(5), np.zeros(5))


# --- OCR ---------------------------------------------------------------------------------


def test_levenshtein():
    assert M.levenshtein("kitten", "sitting") == 3
    assert M.levenshtein("", "abc") == 3 and M.levenshtein("abc", "") == 3
    assert M.levenshtein("皖A12345", "皖A12345") == 0
    assert M.levenshtein("皖A12345", "苏A1234") == 2


def test_ocr_scores():
    r = M.ocr_scores(["皖A12345", "皖A1234", None, "AB"], ["皖A12345", "皖A12345", "X", "AC"])
    assert r["exact_match"] == 0.25
    assert r["edits"] == 1 + 1 + 1 and r["chars"] == 7 + 7 + 1 + 2
    assert r["cer"] == pytest.approx(3 / 17)
    assert M.ocr_scores([""], [""])["cer"] is None  # no label character: undefined, not 0
    with pytest.raises(InvalidArgumentError, match="pred_texts: 1 texts but gt_texts has 2"):
        M.ocr_scores(["a"], ["a", "b"])
    with pytest.raises(InvalidTypeError, match=r"gt_texts\[0\]"):
        M.ocr_scores(["a"], [None])
    with pytest.raises(InvalidArgumentError, match="at least one"):
        M.ocr_scores([], [])


# --- detection ----------------------------------------------------------------------------


def test_detection_map50_all_point_interpolation():
    gt_boxes = [np.array([[0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60]], float)]
    gt_classes = [np.array([0, 0, 1])]
    pred_boxes = [np.array([[0, 0, 10, 10],       # TP (score .9)
                            [0, 0, 10, 11],       # duplicate of the same box: FP (.8)
                            [20, 20, 30, 30],     # TP (.7)
                            [100, 100, 110, 110]], float)]  # class 2: not in the ground truth, ignored
    pred_scores = [np.array([0.9, 0.8, 0.7, 0.99])]
    pred_classes = [np.array([0, 0, 0, 2])]
    # class 0: P/R = (1, .5), (.5, .5), (2/3, 1) -> AP = .5 * 1 + .5 * 2/3; class 1: no prediction -> 0
    ap0 = 0.5 + 0.5 * 2 / 3
    m = M.detection_map50(pred_boxes, pred_scores, pred_classes, gt_boxes, gt_classes)
    assert m == pytest.approx(ap0 / 2)


def test_detection_map50_iou_threshold_and_images():
    gt = [np.array([[0, 0, 10, 10]], float), np.array([[0, 0, 10, 10]], float)]
    cls = [np.array([0]), np.array([0])]
    # IoU of [0,0,10,10] and [0,0,10,20] is exactly 0.5: a match; [0,0,10,21] is below
    ok = M.detection_map50([np.array([[0, 0, 10, 20]], float), np.zeros((0, 4))], [[0.5], []], [[0], []], gt, cls)
    assert ok == pytest.approx(0.5)  # one of two boxes found, at precision 1
    miss = M.detection_map50([np.array([[0, 0, 10, 21]], float), np.zeros((0, 4))], [[0.5], []], [[0], []], gt, cls)
    assert miss == 0.0
    with pytest.raises(InvalidArgumentError, match="no ground truth"):
        M.detection_map50([[]], [[]], [[]], [np.zeros((0, 4))], [[]])
    with pytest.raises(InvalidArgumentError, match=r"pred_scores\[0\]"):
        M.detection_map50([[[0, 0, 1, 1]]], [[0.5, 0.4]], [[0]], gt[:1], cls[:1])


# --- embeddings ---------------------------------------------------------------------------


def test_top1_retrieval_cosine():
    gallery = np.array([[1.0, 0.0], [0.0, 2.0], [-1.0, -1.0]])
    queries = np.array([[3.0, 0.1], [0.1, 5.0], [0.0, 1.0]])  # nearest by cosine: 0, 1, 1
    assert M.top1_retrieval(queries, ["a", "b", "c"], gallery, ["a", "b", "c"]) == pytest.approx(2 / 3)
    # cosine, not Euclidean: [5, 4] is nearer to [0, 1] (5.83 vs 6.40) but at a smaller angle to [10, 0]
    assert M.top1_retrieval([[5.0, 4.0]], ["a"], [[10.0, 0.0], [0.0, 1.0]], ["a", "b"]) == 1.0
    assert M.top1_retrieval([[0.0, 0.0]], ["a"], [[10.0, 0.0], [0.0, 1.0]], ["b", "a"]) == 0.0  # zero: ties -> first
    with pytest.raises(InvalidArgumentError, match="gallery_emb"):
        M.top1_retrieval(queries, [1, 2, 3], np.zeros((2, 3)), [1, 2])
    with pytest.raises(InvalidArgumentError, match="query_ids"):
        M.top1_retrieval(queries, [1], gallery, [1, 2, 3])


# --- evaluate ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kp_model(tmp_path_factory) -> str:
    tmp = tmp_path_factory.mktemp("metrics")
    path = models.save(models.keypoints_model(), tmp / "kp.onnx")
    ModelConfig.from_dict({"task": "keypoints", "preprocess": {"size": [64, 96], "mean": 0.5, "std": 0.25},
                           "decoder": {"num_keypoints": 4}}).write(path)
    return path


def _image(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_evaluate_keypoints_equals_the_hand_written_metric(kp_model, tmp_path):
    shapes = [(80, 120), (64, 96), (150, 90), (40, 200), (77, 77)]
    samples = [Labelled(_image(h, w, i), corners=np.array([[10, 10], [50, 12], [52, 30], [9, 28]], float) + i)
               for i, (h, w) in enumerate(shapes)]
    cv2.imwrite(str(tmp_path / "a.png"), samples[0].image)
    samples.append(Labelled(tmp_path / "a.png", corners=samples[0].corners))  # the same image from a path

    r = M.evaluate(kp_model, samples, batch_size=2)
    assert (r.task, r.metric, r.higher_is_better, r.count) == ("keypoints", "mae_norm", False, 6)

    # by hand: the kernel's blob, the model's formula, the labels mapped into the input
    errs = []
    for s in samples:
        img = s.image if isinstance(s.image, np.ndarray) else cv2.imread(str(s.image))
        blob, t = edgevision.letterbox(img, (64, 96), mean=0.5, std=0.25)
        pred = models.expected_keypoints(blob).reshape(4, 2)  # fractions of the input
        errs.append(np.abs(pred - t.to_input(s.corners, normalized=True)))
    assert r.value == pytest.approx(float(np.mean(errs)), rel=1e-5)
    assert r.details["mae_norm"] == r.value and r.details["skipped"] == {}
    d = r.to_dict()
    assert d["metric"] == "mae_norm" and d["count"] == 6 and d["details"]["mae_px"] > 0


def test_evaluate_skips_unlabelled_and_unreadable_samples(kp_model, tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    good = Labelled(_image(64, 96, 1), corners=np.array([[1, 1], [9, 1], [9, 5], [1, 5]], float))
    samples = [good, Labelled(_image(64, 96, 2)), Labelled(tmp_path / "bad.jpg", corners=good.corners),
               Labelled(tmp_path / "missing.png", corners=good.corners)]
    r = M.evaluate(kp_model, samples)
    assert r.count == 1
    assert r.details["skipped"] == {"no label": 1, "unreadable image": 2}
    assert any("bad.jpg" in e for e in r.details["skipped_examples"])
    assert M.evaluate(kp_model, samples, limit=1).count == 1
    with pytest.raises(EmptyDatasetError, match="none of the 3 samples"):
        M.evaluate(kp_model, samples[1:])


def test_evaluate_argument_errors(kp_model, tmp_path):
    s = [Labelled(_image(64, 96, 1), corners=np.zeros((4, 2)))]
    with pytest.raises(InvalidTypeError, match="predictor"):
        M.evaluate(42, s)
    with pytest.raises(InvalidTypeError, match="samples"):
        M.evaluate(kp_model, "images/")
    with pytest.raises(InvalidArgumentError, match="limit"):
        M.evaluate(kp_model, s, limit=0)
    path = models.save(models.classification_model(), tmp_path / "cls.onnx")
    ModelConfig.from_dict({"task": "classification", "preprocess": {"size": [32, 32]}}).write(path)
    with pytest.raises(InvalidArgumentError, match="task 'classification' has no evaluator.*your own metric"):
        M.evaluate(path, s)
    with pytest.raises(InvalidArgumentError, match="task 'pose' has no evaluator.*benchmarks.scenes"):
        M.evaluate("plate_pose_int8.onnx", s)


def test_evaluate_ctc_ocr_reads_the_plate_crop(tmp_path):
    charset = list("AB1")
    seq = [1, 1, 0, 3, 3, 2, 0, 2]  # A A _ 1 1 B _ B -> "A1BB" whatever the input
    logits = np.full((1, len(seq), 4), -5.0, np.float32)
    for t, k in enumerate(seq):
        logits[0, t, k] = 5.0
    path = models.save(models.constant_output_model("ctc", logits, h=16, w=48), tmp_path / "ctc.onnx")
    ModelConfig.from_dict({"task": "ctc_ocr", "charset": charset, "preprocess": {"size": [16, 48],
                                                                                "mode": "stretch"}}).write(path)
    quad = np.array([[20, 20], [120, 22], [118, 50], [22, 48]], float)
    samples = [Labelled(_image(100, 160, 0), corners=quad, text="A1BB"),
               Labelled(_image(100, 160, 1), corners=quad, text="A1B"),
               Labelled(_image(16, 48, 2), corners=None, text="A1BX")]  # no corners: read whole
    r = M.evaluate(path, samples)
    assert (r.metric, r.higher_is_better, r.count) == ("exact_match", True, 3)
    assert r.value == pytest.approx(1 / 3)
    assert r.details["cer"] == pytest.approx(2 / 11)
    assert "by_plate_type" not in r.details  # these samples carry no plate type


def _reads_a1b(tmp_path):
    """A CTC model over the charset "AB1" that always reads "A1B" (16 x 48 input)."""
    logits = np.full((1, 3, 4), -5.0, np.float32)
    for t, k in enumerate([1, 3, 2]):
        logits[0, t, k] = 5.0
    path = models.save(models.constant_output_model("ctc", logits, h=16, w=48), tmp_path / "ctc.onnx")
    ModelConfig.from_dict({"task": "ctc_ocr", "charset": list("AB1"),
                           "preprocess": {"size": [16, 48], "mode": "stretch"}}).write(path)
    return path


def test_evaluate_breaks_the_metric_down_by_plate_type(tmp_path):
    path = _reads_a1b(tmp_path)
    texts_types = [("A1B", "blue"), ("A1B", "green"), ("AB", "green"), ("A1BB", "green"), ("A1B", "blue")]
    samples = [Labelled(_image(16, 48, i), text=t, plate_type=k) for i, (t, k) in enumerate(texts_types)]
    r = M.evaluate(path, samples)
    by = r.details["by_plate_type"]
    assert sorted(by) == ["blue", "green"]
    assert by["blue"]["count"] == 2 and by["blue"]["exact_match"] == 1.0 and by["blue"]["cer"] == 0.0
    assert by["green"]["count"] == 3 and by["green"]["exact_match"] == pytest.approx(1 / 3)
    assert by["green"]["cer"] == pytest.approx(2 / 9)  # one insertion over "AB" (2), one deletion over "A1BB" (4)
    assert r.value == pytest.approx(3 / 5)
    assert "by_occlusion" not in r.details  # nor an occlusion level


def test_evaluate_breaks_the_metric_down_by_occlusion(tmp_path):
    path = _reads_a1b(tmp_path)
    cases = [("A1B", 0.0), ("A1B", 0.1), ("AB", 0.29), ("A1BB", 0.3), ("A1B", 0.49), ("A1B", 0.5), ("AB1", 0.9)]
    samples = []
    for i, (t, f) in enumerate(cases):
        s = Labelled(_image(16, 48, i), text=t)
        s.char_occlusion = f
        samples.append(s)
    r = M.evaluate(path, samples)
    by = r.details["by_occlusion"]
    assert list(by) == ["none", "partial", "heavy", "illegible"]
    assert [by[k]["count"] for k in by] == [1, 2, 2, 2]
    assert by["none"]["exact_match"] == 1.0 and by["partial"]["exact_match"] == 0.5
    assert by["heavy"]["exact_match"] == 0.5 and by["illegible"]["exact_match"] == 0.5
    # The primary value counts every plate; "legible" drops the two with half a cell hidden or more.
    assert r.value == pytest.approx(4 / 7)
    leg = r.details["legible"]
    assert leg["count"] == 5 and leg["exact_match"] == pytest.approx(3 / 5)
    assert leg["cer"] == pytest.approx(2 / 15)  # one edit each for "AB" and "A1BB", over 15 ground-truth characters
    assert M.ILLEGIBLE_OCCLUSION == 0.5
    assert [M.occlusion_level(v) for v in (None, 0, 0.01, 0.299, 0.3, 0.499, 0.5, 1.0)] == [
        None, "none", "partial", "partial", "heavy", "heavy", "illegible", "illegible"]


def test_evaluate_counts_unlabelled_occlusion_as_legible(tmp_path):
    path = _reads_a1b(tmp_path)
    a, b = Labelled(_image(16, 48, 0), text="A1B"), Labelled(_image(16, 48, 1), text="XYZ")
    b.char_occlusion = 0.8
    r = M.evaluate(path, [a, b])
    assert r.details["legible"] == {**r.details["legible"], "count": 1, "exact_match": 1.0, "cer": 0.0}
    assert "legible" not in M.evaluate(path, [a]).details  # no occlusion labels at all: no subset


# --- the held-out set and sources -----------------------------------------------------------


def test_heldout_samples_are_fixed():
    a = M.heldout_samples(2)
    b = M.heldout_samples(2)
    assert len(a) == 2
    for x, y in zip(a, b):
        assert np.array_equal(x.image, y.image) and x.text == y.text and np.array_equal(x.corners, y.corners)
    with pytest.raises(InvalidArgumentError, match="count"):
        M.heldout_samples(0)


def test_load_samples(tmp_path):
    s = M.load_samples("synth:7", 2)
    assert len(s) == 2 and s[0].image.dtype == np.uint8 and s[0].corners.shape == (4, 2)
    assert np.array_equal(M.load_samples("heldout", 1)[0].image, M.heldout_samples(1)[0].image)
    with pytest.raises(InvalidArgumentError, match="count: required"):
        M.load_samples("synth:7")
    with pytest.raises(InvalidArgumentError, match="synth:SEED"):
        M.load_samples("synth:x", 1)
    cv2.imwrite(str(tmp_path / "a.png"), _image(20, 30, 0))
    (tmp_path / "m.jsonl").write_text('{"image": "a.png", "text": "A1"}\n{"image": "a.png", "text": "B2"}\n')
    got = M.load_samples(tmp_path / "m.jsonl", 1)
    assert len(got) == 1 and got[0].text == "A1" and Path(got[0].image_path).name == "a.png"


def test_evaluate_takes_a_read_result(kp_model, tmp_path):
    from calibration.readers import read_source

    cv2.imwrite(str(tmp_path / "a.png"), _image(64, 96, 3))
    line = '{"image": "a.png", "corners": [[10, 10], [50, 12], [52, 30], [9, 28]]}'
    (tmp_path / "m.jsonl").write_text(line + "\n" + line.replace("a.png", "gone.png") + "\n")
    result = read_source(tmp_path / "m.jsonl")  # the reader drops the missing image and reports it
    r = M.evaluate(kp_model, result)
    assert r.count == 1 and r.value == M.evaluate(kp_model, result.samples).value
