"""Geometry and NMS at their boundaries, against values worked out by hand (issue 20).

Every expectation here is written out as arithmetic in this file, never taken from the
code under test (``edgevision.preprocess.placement`` and the reference both use that
helper, so a test that asks it for the expected rectangle can only agree with it).
"""

from __future__ import annotations

import numpy as np
import pytest

import edgevision
from edgevision.decoders import nms
from edgevision.preprocess import LetterboxTransform, placement

# (source (h, w), target (H, W), mode, align, scaleup) -> content rectangle (x0, y0, width, height),
# each worked out by hand in the comment beside it.
PLACEMENT_TABLE = [
    # r = min(64/31, 64/29) = 64/31; width 29*64/31 = 59.87 -> 60 (rounded, not truncated to 59); height 64;
    # centred: x0 = (64 - 60) // 2 = 2.
    (((31, 29), (64, 64), "letterbox", "center", True), (2, 0, 60, 64)),
    (((31, 29), (64, 64), "letterbox", "top-left", True), (0, 0, 60, 64)),
    # r = min(100/3, 2/4) = 0.5; height 3*0.5 = 1.5 exactly -> 2 (half rounds up); width 2; y0 = (100-2)//2 = 49.
    (((3, 4), (100, 2), "letterbox", "center", True), (0, 49, 2, 2)),
    # r = min(16/7, 20/20) = 1: 20x7; odd padding 9 splits 4 above, 5 below: y0 = (16 - 7) // 2 = 4.
    (((7, 20), (16, 20), "letterbox", "center", True), (0, 4, 20, 7)),
    # The same on its side: 7 wide in 16, odd padding 9: x0 = (16 - 7) // 2 = 4 (4 left, 5 right).
    (((20, 7), (20, 16), "letterbox", "center", True), (4, 0, 7, 20)),
    # r = min(2/4, 100/3) = 0.5; width 3*0.5 = 1.5 exactly -> 2 (half rounds up); height 2; x0 = (100-2)//2 = 49.
    (((4, 3), (2, 100), "letterbox", "center", True), (49, 0, 2, 2)),
    # r = min(1/2, 9/5) = 0.5; width 2.5 -> 3; height 1; x0 = (9 - 3) // 2 = 3.
    (((2, 5), (1, 9), "letterbox", "center", True), (3, 0, 3, 1)),
    # r = min(5/2, 7/3) = 7/3; width 7; height 2*7/3 = 4.67 -> 5; y0 = (5 - 5) // 2 = 0.
    (((2, 3), (5, 7), "letterbox", "center", True), (0, 0, 7, 5)),
    # r = min(100/10, 100/20) = 5, but scaleup=False caps it at 1: 20x10 content; x0 = 40, y0 = 45.
    (((10, 20), (100, 100), "letterbox", "center", False), (40, 45, 20, 10)),
    # The same with scaleup: 100x50, y0 = (100 - 50) // 2 = 25.
    (((10, 20), (100, 100), "letterbox", "center", True), (0, 25, 100, 50)),
    # 1 px source into 7x5: r = min(7, 5) = 5: 5x5, centred at y0 = (7 - 5) // 2 = 1.
    (((1, 1), (7, 5), "letterbox", "center", True), (0, 1, 5, 5)),
    # Odd padding splits with the extra pixel after: 640 wide, 1080p -> 640x360; y0 = (640 - 360) // 2 = 140.
    (((1080, 1920), (640, 640), "letterbox", "center", True), (0, 140, 640, 360)),
    (((1080, 1920), (384, 640), "stretch", "center", True), (0, 0, 640, 384)),
    # pad_right: height fills, width = ceil(w * H / h): 136 * 48 / 36 = 181.33 -> 182.
    (((36, 136), (48, 320), "pad_right", "center", True), (0, 0, 182, 48)),
    # exact: 25 * 4 / 10 = 10.
    (((10, 25), (4, 64), "pad_right", "center", True), (0, 0, 10, 4)),
    # too wide for the target: capped at W.
    (((10, 200), (10, 64), "pad_right", "center", True), (0, 0, 64, 10)),
    # none: no resampling, centred: x0 = (64 - 20) // 2 = 22, y0 = (64 - 10) // 2 = 27.
    (((10, 20), (64, 64), "none", "center", True), (22, 27, 20, 10)),
]


@pytest.mark.parametrize("args,rect", PLACEMENT_TABLE)
def test_placement_matches_the_hand_computed_table(args, rect) -> None:
    assert placement(*args) == rect


@pytest.mark.parametrize("args,rect", [row for row in PLACEMENT_TABLE if row[0][2] in ("letterbox", "stretch")])
def test_the_kernel_writes_content_exactly_where_the_table_says(args, rect) -> None:
    """The compiled kernel's output: content (value 200) inside the rectangle, padding (0) outside."""
    (h, w), (H, W), mode, align, scaleup = args
    img = np.full((h, w, 3), 200, np.uint8)
    blob, t = edgevision.letterbox(img, (H, W), mode=mode, align=align, scaleup=scaleup, pad_value=0,
                                   dtype="uint8", layout="NHWC")
    x0, y0, cw, ch = rect
    out = blob[0, ..., 0]
    assert (out[y0:y0 + ch, x0:x0 + cw] == 200).all()
    outside = np.ones((H, W), bool)
    outside[y0:y0 + ch, x0:x0 + cw] = False
    assert (out[outside] == 0).all()
    assert t.pad == (x0, y0) and t.scale == pytest.approx((cw / w, ch / h))


def test_to_source_clips_to_the_far_edges_not_the_last_pixel() -> None:
    """Points are continuous: the far corner of a w x h image is (w, h), and clipping keeps it there."""
    t = LetterboxTransform(src_shape=(100, 200), dst_shape=(64, 64), scale=(0.32, 0.32), pad=(0, 16))
    # The input's bottom-right content corner (64, 48) is the source's (200, 100); beyond it clips to it.
    assert np.allclose(t.to_source([[64.0, 48.0]]), [[200.0, 100.0]])
    assert np.array_equal(t.to_source([[64.0, 64.0]], clip=True), [[200.0, 100.0]])
    assert np.array_equal(t.to_source([[-5.0, 0.0]], clip=True), [[0.0, 0.0]])
    assert np.array_equal(t.to_source([[1.0, 1.0]], normalized=True, clip=True), [[200.0, 100.0]])
    box = t.boxes_to_source([[-10.0, 0.0, 70.0, 70.0]], clip=True)
    assert np.array_equal(box, [[0.0, 0.0, 200.0, 100.0]])
    # to_input is the inverse: source (200, 100) -> input (200*0.32 + 0, 100*0.32 + 16) = (64, 48).
    assert np.allclose(t.to_input([[200.0, 100.0]]), [[64.0, 48.0]])
    assert np.allclose(t.to_input([[0.0, 0.0]], normalized=True), [[0.0, 16 / 64]])
    # to_input clips to the model input's far edge (64, 64) as well.
    assert np.array_equal(t.to_input([[500.0, 500.0]], clip=True), [[64.0, 64.0]])


# Two unit-height boxes [0, 2] and [1, 3] (x): intersection 1, union 3, IoU exactly 1/3.
THIRD = np.array([[0.0, 0.0, 2.0, 1.0], [1.0, 0.0, 3.0, 1.0]])


def test_nms_keeps_a_box_whose_iou_equals_the_threshold() -> None:
    """Suppression is IoU > threshold, strictly: at IoU == threshold both boxes stay."""
    scores = np.array([0.9, 0.8])
    assert nms(THIRD, scores, 1 / 3).tolist() == [0, 1]
    assert nms(THIRD, scores, 0.33).tolist() == [0]  # just below: suppressed


def test_nms_thresholds_zero_and_one() -> None:
    disjoint = np.array([[0.0, 0.0, 1.0, 1.0], [5.0, 5.0, 6.0, 6.0]])
    scores = np.array([0.9, 0.8])
    assert nms(disjoint, scores, 0.0).tolist() == [0, 1]  # IoU 0 is not > 0: disjoint boxes both stay
    assert nms(THIRD, scores, 0.0).tolist() == [0]  # any overlap suppresses at 0
    same = np.array([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 2.0, 2.0]])
    assert nms(same, scores, 1.0).tolist() == [0, 1]  # IoU 1 is not > 1: nothing is ever suppressed
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).tolist() == []


def test_nms_boundary_holds_across_blocks() -> None:
    """Past NMS_BLOCK (128) boxes, later blocks are first cut by the boxes already kept: the
    same strict rule applies there. 130 disjoint boxes, then one at IoU exactly 1/3 with box 0
    (kept) and one at IoU 1/2 with it (suppressed); the two late ones score lowest."""
    from edgevision.decoders import NMS_BLOCK

    n = NMS_BLOCK + 2
    boxes = [[10.0 * k, 0.0, 10.0 * k + 2.0, 1.0] for k in range(n)]  # disjoint unit-height boxes, width 2
    boxes += [[1.0, 0.0, 3.0, 1.0],  # vs box 0 [0, 2]: intersection 1, union 3 -> IoU 1/3
              [0.0, 0.0, 1.0, 1.0]]  # vs box 0: intersection 1, union 2 -> IoU 1/2
    scores = np.linspace(1.0, 0.5, n + 2)
    kept = nms(np.array(boxes), scores, 1 / 3).tolist()
    assert kept == list(range(n)) + [n]


def test_detection_drops_scores_equal_to_the_threshold() -> None:
    """``conf_threshold``: anchors whose best score is > the threshold are kept, == is dropped."""
    from edgevision.decoders import decode_detection

    _, t = edgevision.letterbox(np.zeros((64, 64, 3), np.uint8), 64)
    out = np.zeros((1, 5, 2), np.float32)  # yolov8: (N, 4 + C, A), one class, two anchors
    out[0, :4, 0] = [10, 10, 4, 4]
    out[0, :4, 1] = [40, 40, 4, 4]
    out[0, 4] = [0.5, 0.25]
    (r,) = decode_detection(out, [t], layout="yolov8", conf_threshold=0.25)
    assert r.scores.tolist() == [0.5] and np.allclose(r.boxes, [[8, 8, 12, 12]])


# --- the last slot and the last class of every decoder, and empty inputs ---------------------------


def test_slots_decoder_reads_the_last_class_in_the_last_slot() -> None:
    from edgevision.decoders import decode_slots_ocr

    p = np.zeros((1, 3, 4))
    p[0, 0, 0] = p[0, 1, 2] = p[0, 2, 3] = 1.0  # slot 2 (the last) holds class 3 (the last)
    (r,) = decode_slots_ocr([p], [{"charset": "abcd", "slots": [0, 1, 2]}])
    assert r.text == "acd" and len(r.char_confidences) == 3


def test_ctc_reads_the_last_class_and_the_last_step() -> None:
    from edgevision.decoders import decode_ctc

    steps = [0, 1, 0, 3]  # blank, "a", blank, "c" (class 3 = the last, at the last step)
    out = np.zeros((1, 4, 4))
    out[0, np.arange(4), steps] = 1.0
    assert decode_ctc(out, "abc")[0].text == "ac"
    # blank last (blank=-1): class 3 is the blank, class 2 the last character.
    out2 = np.zeros((1, 3, 4))
    out2[0, np.arange(3), [2, 3, 2]] = 1.0
    assert decode_ctc(out2, "abc", blank=-1)[0].text == "cc"
    assert decode_ctc(np.zeros((0, 5, 4)), "abc") == []


def test_classification_and_detection_reach_the_last_class() -> None:
    from edgevision.decoders import decode_classification, decode_detection

    (c,) = decode_classification(np.array([[0.0, 1.0, 5.0]]), top_k=1, labels=["x", "y", "z"])
    assert c.top_classes.tolist() == [2] and c.labels == ("z",)
    _, t = edgevision.letterbox(np.zeros((64, 64, 3), np.uint8), 64)
    out = np.zeros((1, 4 + 3, 1), np.float32)
    out[0, :4, 0] = [32, 32, 8, 8]
    out[0, 4 + 2, 0] = 0.9  # the last class
    (d,) = decode_detection(out, [t], labels=["a", "b", "c"])
    assert d.classes.tolist() == [2] and d.labels == ("c",)
    (e,) = decode_detection(np.zeros((1, 7, 0), np.float32), [t])
    assert len(e) == 0 and e.boxes.shape == (0, 4)
