"""Decoders (edgevision.decoders) and typed results (edgevision.results).

Units: coordinates are continuous pixels (x, y), origin at the top-left corner of
the top-left pixel; "input px" are model-input pixels, "source px" source-image
pixels. Tolerances are stated per test.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import edgevision as ev
from edgevision import decoders as D
from edgevision import results as R
from edgevision.errors import DecodeError, EdgeVisionError, InvalidArgumentError, InvalidTypeError

# ---------------------------------------------------------------------------
# Keypoints: source px -> to_input(normalized=True) -> decode -> source px


def _random_transforms(rng, mode, align, n):
    """n letterbox transforms of random source sizes into one random model-input size."""
    H, W = int(rng.integers(8, 400)), int(rng.integers(8, 400))
    ims = []
    for _ in range(n):
        if mode == "none":
            h, w = int(rng.integers(1, H + 1)), int(rng.integers(1, W + 1))
        else:
            h, w = int(rng.integers(1, 900)), int(rng.integers(1, 900))
        ims.append(np.zeros((h, w), np.uint8))
    _, ts = ev.letterbox_batch(ims, (H, W), mode=mode, align=align, scaleup=bool(rng.integers(0, 2)),
                               dtype="uint8", channels=1)
    return ims, ts


@pytest.mark.parametrize("align", ["center", "top-left"])
@pytest.mark.parametrize("mode", ["letterbox", "stretch", "pad_right", "none"])
@pytest.mark.parametrize("seed", range(6))
def test_keypoints_round_trip(mode, align, seed):
    rng = np.random.default_rng(1000 * seed + 7 * len(mode) + len(align))
    n, k = int(rng.integers(1, 4)), int(rng.integers(1, 9))
    ims, ts = _random_transforms(rng, mode, align, n)
    # points inside and somewhat outside each source image, source px
    src = [rng.uniform(-0.2, 1.2, (k, 2)) * [im.shape[1], im.shape[0]] for im in ims]
    norm = np.stack([t.to_input(p, normalized=True) for t, p in zip(ts, src)])  # (n, k, 2) fractions
    px = np.stack([t.to_input(p) for t, p in zip(ts, src)])  # (n, k, 2) input px
    for out, normalized in ((norm, True), (norm.reshape(n, 2 * k), True), (px, False), (px.reshape(n, 2 * k), False)):
        res = D.decode_keypoints(out, ts, num_keypoints=k, normalized=normalized, images=ims)
        assert len(res) == n
        for r, p, t, im in zip(res, src, ts, ims):
            assert isinstance(r, R.KeypointsResult)
            assert r.keypoints.dtype == np.float64 and r.keypoints.shape == (k, 2)
            np.testing.assert_allclose(r.keypoints, p, rtol=0, atol=1e-9)
            assert r.orig_shape == t.src_shape and r.orig_img is im


def test_keypoints_names_and_single_transform():
    img = np.zeros((100, 200, 3), np.uint8)
    _, t = ev.letterbox(img, 64)
    quad = np.array([[10.0, 20.0], [180.0, 25.0], [185.0, 90.0], [5.0, 80.0]])
    out = t.to_input(quad, normalized=True)[None]
    (r,) = D.decode_keypoints(out, t, num_keypoints=4, names=["tl", "tr", "br", "bl"])
    np.testing.assert_allclose(r.keypoints, quad, rtol=0, atol=1e-9)
    assert r.names == ("tl", "tr", "br", "bl") and r.orig_img is None and r.orig_shape == (100, 200)


def test_keypoints_class_head():
    _, t = ev.letterbox(np.zeros((10, 20), np.uint8), 16, channels=1)
    probs = np.array([[0.1, 0.7, 0.2], [0.5, 0.25, 0.25]])
    res = D.decode_keypoints(np.zeros((2, 8)), [t, t], num_keypoints=4, classes=probs,
                             labels=["analog", "digital", "illegible"])
    assert [(r.class_id, r.label) for r in res] == [(1, "digital"), (0, "analog")]
    assert [r.score for r in res] == pytest.approx([0.7, 0.5])  # probabilities are kept as they are
    logits = np.log(probs)
    again = D.decode_keypoints(np.zeros((2, 8)), [t, t], num_keypoints=4, classes=logits)
    assert [(r.class_id, r.label) for r in again] == [(1, None), (0, None)]
    assert [r.score for r in again] == pytest.approx([0.7, 0.5])  # logits get a softmax
    plain = D.decode_keypoints(np.zeros((1, 8)), [t], num_keypoints=4)[0]
    assert (plain.class_id, plain.label, plain.score) == (None, None, None)
    for bad, word in ((np.zeros((1, 3)), "classes"), (np.zeros((2, 3, 1)), "classes"),
                      (np.array([[np.nan, 0, 0], [0, 0, 0]]), "classes")):
        with pytest.raises(DecodeError, match=word):
            D.decode_keypoints(np.zeros((2, 8)), [t, t], num_keypoints=4, classes=bad)
    with pytest.raises(DecodeError, match="labels"):
        D.decode_keypoints(np.zeros((2, 8)), [t, t], num_keypoints=4, classes=probs, labels=["a"])


def test_keypoints_result_class_fields_are_checked():
    r = R.KeypointsResult(np.zeros((4, 2)), class_id=np.int64(2), label="illegible", score=np.float32(0.5),
                          orig_shape=(20, 30))
    assert (r.class_id, r.label, r.score) == (2, "illegible", 0.5) and type(r.class_id) is int
    assert r.plot(np.zeros((20, 30, 3), np.uint8)).shape == (20, 30, 3)
    with pytest.raises(InvalidArgumentError, match="class_id"):
        R.KeypointsResult(np.zeros((4, 2)), class_id=-1)
    with pytest.raises(InvalidTypeError, match="score"):
        R.KeypointsResult(np.zeros((4, 2)), score="high")


@pytest.mark.parametrize(
    "call, word",
    [
        (lambda t: D.decode_keypoints(np.zeros((1, 7)), [t], num_keypoints=4), "out"),
        (lambda t: D.decode_keypoints(np.zeros((1, 4, 3)), [t], num_keypoints=4), "out"),
        (lambda t: D.decode_keypoints(np.zeros(8), [t], num_keypoints=4), "out"),
        (lambda t: D.decode_keypoints(np.zeros((2, 8)), [t], num_keypoints=4), "transforms"),
        (lambda t: D.decode_keypoints(np.zeros((1, 8)), ["t"], num_keypoints=4), "transforms[0]"),
        (lambda t: D.decode_keypoints(np.zeros((1, 8)), [t], num_keypoints=0), "num_keypoints"),
        (lambda t: D.decode_keypoints(np.zeros((1, 8)), [t], num_keypoints=4, names=["a"]), "names"),
        (lambda t: D.decode_keypoints(np.zeros((1, 8)), [t], num_keypoints=4, images=[np.zeros((5, 5), np.uint8)]),
         "images[0]"),
        (lambda t: D.decode_keypoints(np.array([["a"] * 8]), [t], num_keypoints=4), "out"),
    ],
)
def test_keypoints_errors(call, word):
    _, t = ev.letterbox(np.zeros((10, 20), np.uint8), 16, channels=1)
    with pytest.raises(DecodeError, match=word.replace("[", r"\[").replace("]", r"\]")) as e:
        call(t)
    assert isinstance(e.value, ValueError) and isinstance(e.value, EdgeVisionError)


# ---------------------------------------------------------------------------
# NMS against a plain Python loop


def _iou_ref(a, b):
    area_a = max(a[2] - a[0], 0.0) * max(a[3] - a[1], 0.0)
    area_b = max(b[2] - b[0], 0.0) * max(b[3] - b[1], 0.0)
    inter = max(min(a[2], b[2]) - max(a[0], b[0]), 0.0) * max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)
    union = area_a + area_b - inter
    return inter / union if union > 0 else 0.0


def nms_reference(boxes, scores, iou_threshold, classes=None, max_det=None):
    """Textbook greedy NMS: by decreasing score (ties: lower index first), keep unless a kept box of the same
    class (any class when ``classes`` is None) has IoU > threshold."""
    boxes = [[float(v) for v in b] for b in boxes]
    order = sorted(range(len(boxes)), key=lambda i: -float(scores[i]))  # sorted() is stable
    keep = []
    for i in order:
        if any((classes is None or classes[j] == classes[i]) and _iou_ref(boxes[i], boxes[j]) > iou_threshold
               for j in keep):
            continue
        keep.append(i)
        if max_det is not None and len(keep) == max_det:
            break
    return keep


def _random_boxes(rng, n, num_classes, offset=0.0):
    """Clustered boxes (so NMS has work to do), some scores tied, input px."""
    centres = rng.uniform(0, 640, (max(n // 15, 1), 2))
    c = centres[rng.integers(0, len(centres), n)] + rng.normal(0, 10, (n, 2))
    wh = rng.uniform(4, 150, (n, 2))
    boxes = np.concatenate([c - wh / 2, c + wh / 2], axis=1) + offset
    scores = rng.uniform(0, 1, n).astype(np.float32)
    scores[: n // 5] = np.round(scores[: n // 5] * 10) / 10  # ties
    return boxes, scores, rng.integers(0, num_classes, n)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("num_classes", [None, 1, 3, 80])  # None: class-agnostic
def test_nms_matches_reference(seed, num_classes):
    rng = np.random.default_rng(seed)
    for n in (0, 1, 2, 60, 400):
        boxes, scores, classes = _random_boxes(rng, n, num_classes or 1, offset=-30.0 * (seed % 2))
        cls = None if num_classes is None else classes
        for thr in (0.3, 0.5, 0.7):
            for max_det in (None, 7):
                got = D.nms(boxes, scores, thr, classes=cls, max_det=max_det)
                want = nms_reference(boxes, scores, thr, classes=None if cls is None else cls.tolist(), max_det=max_det)
                assert got.dtype == np.int64
                assert got.tolist() == want, (n, thr, max_det)


def test_nms_chain_is_greedy_not_fast_nms():
    """A suppresses B, B overlaps C, but B is gone, so C stays (Fast-NMS would drop C)."""
    boxes = np.array([[0, 0, 10, 10], [4, 0, 14, 10], [8, 0, 18, 10]], float)
    assert D.nms(boxes, [0.9, 0.8, 0.7], 0.3).tolist() == [0, 2]
    # a long chain: each box overlaps only its neighbours; greedy keeps every other one
    chain = np.array([[6 * i, 0, 6 * i + 10, 10] for i in range(300)], float)
    assert D.nms(chain, np.linspace(1, 0.1, 300), 0.2).tolist() == list(range(0, 300, 2))


def test_nms_offset_trick_with_negative_coordinates():
    # max + 1 alone would not separate these classes; the span does
    boxes = np.array([[-500, -500, -400, -400], [-500, -500, -400, -400], [-499, -500, -401, -400]], float)
    assert D.nms(boxes, [0.9, 0.8, 0.7], 0.5, classes=[0, 1, 0]).tolist() == [0, 1]
    assert D.nms(boxes, [0.9, 0.8, 0.7], 0.5).tolist() == [0]


def test_nms_degenerate_and_errors():
    boxes = np.array([[5, 5, 5, 5], [5, 5, 5, 5], [0, 0, 10, 10], [10, 10, 0, 0]], float)  # zero/negative area
    assert D.nms(boxes, [0.9, 0.8, 0.7, 0.6], 0.5).tolist() == [0, 1, 2, 3]
    with pytest.raises(DecodeError, match="boxes"):
        D.nms(np.zeros((3, 5)), np.zeros(3), 0.5)
    with pytest.raises(DecodeError, match="scores"):
        D.nms(np.zeros((3, 4)), np.zeros(2), 0.5)
    with pytest.raises(DecodeError, match="classes"):
        D.nms(np.zeros((3, 4)), np.zeros(3), 0.5, classes=[0, 1])
    with pytest.raises(DecodeError, match="iou_threshold"):
        D.nms(np.zeros((3, 4)), np.zeros(3), 1.5)
    with pytest.raises(DecodeError, match="max_det"):
        D.nms(np.zeros((3, 4)), np.zeros(3), 0.5, max_det=0)


@pytest.mark.parametrize("seed", range(6))
def test_compiled_nms_decides_as_the_numpy_reference(seed):
    """``_core.nms`` (the greedy pass ``nms`` runs) keeps exactly what ``_greedy_nms_reference`` (the
    vectorized Cluster-NMS in numpy) keeps: clustered boxes with tied scores, several classes, inf and NaN
    coordinates, zero-area and inverted boxes, huge offsets, thresholds 0 and 1, every max_det."""
    rng = np.random.default_rng(1000 + seed)
    for n in (0, 1, 2, 3, 17, 129, 300):
        boxes, scores, classes = _random_boxes(rng, n, 4, offset=float(rng.choice([0.0, -1e6, 3e7])))
        if n:
            odd = rng.random((n, 4)) < 0.03
            boxes[odd] = rng.choice([np.inf, -np.inf, np.nan, 0.0], odd.sum())
            flip = rng.random(n) < 0.05
            boxes[flip] = boxes[flip][:, [2, 3, 0, 1]]
        for t in (0.0, 0.3, 0.5, 1.0):
            for cls in (None, classes, np.zeros(n, np.int64), np.full(n, 7)):
                for limit in {1, 3, max(n, 1)}:
                    b = np.asarray(boxes, np.float64)
                    with np.errstate(invalid="ignore", over="ignore"):
                        got = D._greedy_nms(b, scores, t, cls, limit)
                        want = D._greedy_nms_reference(b, scores, t, cls, limit)
                    assert got.dtype == np.int64
                    assert got.tolist() == want.tolist(), (n, t, limit, None if cls is None else cls[:3])


def test_compiled_nms_rejects_bad_buffers():
    from edgevision import _core

    with pytest.raises(ValueError, match="boxes"):
        _core.nms(np.zeros((3, 5)), np.zeros(3), 0.5, 1)
    with pytest.raises(ValueError, match="areas"):
        _core.nms(np.zeros((3, 4)), np.zeros(2), 0.5, 1)
    with pytest.raises(ValueError, match="iou_threshold"):
        _core.nms(np.zeros((3, 4)), np.zeros(3), float("nan"), 1)
    with pytest.raises(ValueError, match="max_det"):
        _core.nms(np.zeros((3, 4)), np.zeros(3), 0.5, 0)


@pytest.mark.parametrize("seed", range(3))
def test_nms_agrees_with_opencv(seed):
    """A second, maintained reference: cv2.dnn.NMSBoxesBatched (same greedy rule, same tie order)."""
    import cv2
    rng = np.random.default_rng(100 + seed)
    boxes, scores, classes = _random_boxes(rng, 500, 5)
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
    want = np.asarray(cv2.dnn.NMSBoxesBatched(xywh, scores, classes.astype(np.int32), -1.0, 0.45)).ravel()
    assert D.nms(boxes, scores, 0.45, classes=classes).tolist() == want.tolist()


# ---------------------------------------------------------------------------
# Detection: both YOLO layouts


def _yolo_scene(rng, t, num_classes=6, anchors=300):
    """Objects in source px, a YOLOv8 output (1, 4 + C, A) that predicts each of them on several anchors
    (the best one exact, the others jittered and weaker) plus weak background anchors."""
    src_h, src_w = t.src_shape
    objs, cls, best = [], [], []
    for j in range(5):  # well separated objects, one per column band
        x1 = (j + 0.1) * src_w / 5
        y1 = rng.uniform(0.05, 0.5) * src_h
        objs.append([x1, y1, x1 + 0.6 * src_w / 5, y1 + rng.uniform(0.2, 0.4) * src_h])
        cls.append(int(rng.integers(0, num_classes)))
        best.append(0.9 - 0.1 * j)
    objs = np.array(objs)
    inp = t.boxes_to_input(objs)  # input px, xyxy
    out = np.zeros((1, 4 + num_classes, anchors), np.float32)
    out[0, 4:, :] = rng.uniform(0, 0.2, (num_classes, anchors))  # background below the threshold
    out[0, :2, :] = rng.uniform(0, 64, (2, anchors))
    out[0, 2:4, :] = rng.uniform(1, 8, (2, anchors))
    slots = rng.permutation(anchors)[: 5 * 4].reshape(5, 4)
    for j in range(5):
        cx, cy = (inp[j, :2] + inp[j, 2:]) / 2
        w, h = inp[j, 2:] - inp[j, :2]
        for m, a in enumerate(slots[j]):
            jitter = 0 if m == 0 else 0.04
            out[0, :4, a] = [cx + jitter * w, cy - jitter * h, w * (1 - jitter), h * (1 + jitter)]
            out[0, 4 + cls[j], a] = best[j] - 0.05 * m
    # the exact anchors are stored in float32: the reference boxes are what float32 keeps
    exact = out[0, :4, slots[:, 0]].astype(np.float64)
    exact_xyxy = np.concatenate([exact[:, :2] - exact[:, 2:] / 2, exact[:, :2] + exact[:, 2:] / 2], axis=1)
    return out, t.boxes_to_source(exact_xyxy, clip=True), np.array(cls), np.array(best, np.float32)


@pytest.mark.parametrize("seed", range(4))
def test_decode_detection_both_layouts(seed):
    rng = np.random.default_rng(seed)
    img = np.zeros((int(rng.integers(100, 700)), int(rng.integers(100, 700)), 3), np.uint8)
    _, t = ev.letterbox(img, 64, align=["center", "top-left"][seed % 2])
    v8, boxes, classes, best = _yolo_scene(rng, t)
    labels = [f"c{i}" for i in range(6)]
    # YOLOv5 layout of the same scene: (1, A, 5 + C) with objectness; obj * cls = the v8 score
    obj = np.full((1, 1, v8.shape[2]), 0.95, np.float32)
    v5 = np.concatenate([v8[:, :4], obj, v8[:, 4:] / obj], axis=1).transpose(0, 2, 1).copy()
    for layout, out in (("yolov8", v8), ("yolov5", v5)):
        (r,) = D.decode_detection(out, [t], layout=layout, conf_threshold=0.25, iou_threshold=0.5, max_det=100,
                                  labels=labels, images=[img])
        assert isinstance(r, R.DetectionResult) and len(r) == 5
        np.testing.assert_allclose(r.boxes, boxes, rtol=0, atol=1e-9)
        assert r.boxes.dtype == np.float64 and r.scores.dtype == np.float32 and r.classes.dtype == np.int64
        np.testing.assert_allclose(r.scores, best, rtol=1e-6)
        assert r.classes.tolist() == classes.tolist()
        assert r.labels == tuple(f"c{c}" for c in classes)
        assert r.orig_shape == img.shape[:2] and r.orig_img is img
        # max_det keeps the best; a higher threshold drops the weaker objects
        (r2,) = D.decode_detection(out, [t], layout=layout, conf_threshold=0.25, iou_threshold=0.5, max_det=2)
        assert r2.scores.tolist() == r.scores[:2].tolist() and r2.labels == (None, None)
        (r3,) = D.decode_detection(out, [t], layout=layout, conf_threshold=0.65, iou_threshold=0.5, max_det=100)
        assert len(r3) == 3


def test_decode_detection_class_aware_vs_agnostic_and_batch():
    _, t = ev.letterbox(np.zeros((64, 64), np.uint8), 64, channels=1)
    out = np.zeros((2, 4 + 2, 3), np.float32)
    out[0, :4, :] = np.array([[32, 32, 20, 20], [33, 32, 20, 20], [10, 10, 4, 4]], np.float32).T
    out[0, 4, 0], out[0, 5, 1], out[0, 4, 2] = 0.9, 0.8, 0.1  # two overlapping boxes of different classes
    (a, b) = D.decode_detection(out, [t, t], conf_threshold=0.25, iou_threshold=0.5, max_det=10, labels={1: "car"})
    assert a.classes.tolist() == [0, 1] and a.labels == (None, "car") and len(b) == 0 and b.boxes.shape == (0, 4)
    (a, _) = D.decode_detection(out, [t, t], conf_threshold=0.25, iou_threshold=0.5, max_det=10, class_agnostic=True)
    assert a.classes.tolist() == [0]


def test_decode_detection_clips_to_source():
    img = np.zeros((50, 100, 3), np.uint8)
    _, t = ev.letterbox(img, 64)  # content 64x32 at pad (0, 16)
    out = np.zeros((1, 5, 1), np.float32)
    out[0, :, 0] = [5, 20, 30, 20, 0.9]  # input px: x -10..20, y 10..30 (the content starts at y = 16)
    (r,) = D.decode_detection(out, [t], conf_threshold=0.25, iou_threshold=0.5, max_det=10)
    np.testing.assert_allclose(r.boxes, [[0.0, 0.0, 20 / 0.64, (30 - 16) / 0.64]], rtol=0, atol=1e-12)


def test_decode_detection_non_finite_outputs():
    """inf/NaN in a model output never warns (warnings are errors here) nor crashes."""
    _, t = ev.letterbox(np.zeros((64, 64), np.uint8), 64, channels=1)
    out = np.zeros((1, 6, 5), np.float32)
    out[0, :, 0] = [32, 32, 10, 10, 0.9, 0]
    out[0, :, 1] = [np.inf, 32, np.inf, 10, 0.8, 0]  # inf - inf = NaN corners
    out[0, :, 2] = [32, 32, 10, 10, np.nan, 0.7]  # NaN class score
    out[0, :, 3] = [np.nan, 1, 2, 3, 0.6, 0]
    out[0, :, 4] = [32, 32, 12, 12, 0, np.inf]
    for layout, o in (("yolov8", out), ("yolov5", np.concatenate([out[:, :4], np.ones_like(out[:, :1]), out[:, 4:]], 1)
                                        .transpose(0, 2, 1).copy())):
        (r,) = D.decode_detection(o, [t], layout=layout, conf_threshold=0.25, iou_threshold=0.5, max_det=10)
        assert 0 in [int(c) for c in r.classes] and len(r) >= 2
    boxes = np.array([[0, 0, 10, 10], [-np.inf, 0, np.inf, 10], [np.nan] * 4, [1, 1, 10, 10]])
    assert D.nms(boxes, [0.9, 0.8, 0.7, 0.6], 0.5, classes=[0, 0, 0, 0]).tolist() == [0, 1, 2]


@pytest.mark.parametrize(
    "kwargs, word",
    [
        (dict(out=np.zeros((1, 4, 10))), "out"),  # v8 with no class row
        (dict(out=np.zeros((1, 10, 5)), layout="yolov5"), "out"),
        (dict(out=np.zeros((1, 10))), "out"),
        (dict(out=np.zeros((1, 6, 10)), layout="yolo"), "layout"),
        (dict(out=np.zeros((1, 6, 10)), labels=["a"]), "labels"),
        (dict(out=np.zeros((1, 6, 10)), iou_threshold=2), "iou_threshold"),
        (dict(out=np.zeros((1, 6, 10)), conf_threshold=float("nan")), "conf_threshold"),
        (dict(out=np.zeros((1, 6, 10)), max_det=0), "max_det"),
        (dict(out=np.zeros((2, 6, 10))), "transforms"),
    ],
)
def test_decode_detection_errors(kwargs, word):
    _, t = ev.letterbox(np.zeros((10, 20), np.uint8), 16, channels=1)
    kwargs = {"conf_threshold": 0.25, "iou_threshold": 0.5, "max_det": 10, **kwargs}
    with pytest.raises(DecodeError, match=word):
        D.decode_detection(transforms=[t], **kwargs)


# ---------------------------------------------------------------------------
# CTC


def _onehot_steps(classes, num_classes, p=0.9):
    """(T, C) probabilities: p on the given class per step, the rest shared equally."""
    out = np.full((len(classes), num_classes), (1 - p) / (num_classes - 1))
    out[np.arange(len(classes)), classes] = p
    return out


@pytest.mark.parametrize(
    "steps, text",
    [
        ([1, 1, 2, 2, 2, 3], "abc"),  # repeats collapse
        ([1, 0, 1], "aa"),  # a blank between repeats keeps both
        ([1, 1, 0, 1, 2, 0, 0, 2], "aabb"),
        ([0, 0, 0, 0], ""),  # all blank
        ([0, 3, 0, 3, 3, 0, 1], "cca"),
        ([2], "b"),
    ],
)
def test_ctc_hand_worked(steps, text):
    out = _onehot_steps(steps, 4)[None]  # classes: blank, a, b, c
    (r,) = D.decode_ctc(out, "abc")
    assert r.text == text
    assert len(r.char_confidences) == len(text)
    np.testing.assert_allclose(r.char_confidences, [0.9] * len(text))
    assert r.confidence == pytest.approx(0.9 ** len(text))
    if not text:
        assert r.confidence == 1.0 and r.char_confidences == ()


def test_ctc_confidence_is_first_frame_of_run_and_logits():
    p = _onehot_steps([1, 1, 0, 2], 4)
    p[0] = [0.2, 0.6, 0.1, 0.1]  # first 'a' frame: 0.6, second: 0.9
    (r,) = D.decode_ctc(p[None], ["a", "b", "c"])
    assert r.text == "ab" and r.char_confidences == pytest.approx((0.6, 0.9))
    assert r.confidence == pytest.approx(0.54)
    # logits and log-probabilities give the same text and confidences (softmax(log p) == p)
    for raw in (np.log(p) + 3.0, np.log(p)):
        (r2,) = D.decode_ctc(raw[None].astype(np.float32), "abc")
        assert r2.text == "ab" and r2.char_confidences == pytest.approx((0.6, 0.9), rel=1e-5)


@pytest.mark.parametrize("blank", [3, -1, 1, 2])
def test_ctc_blank_index(blank):
    # classes are the charset with the blank inserted at index `blank`
    charset = ["x", "y", "z"]
    table = charset[: blank % 4] + ["<b>"] + charset[blank % 4:]
    word = ["x", "x", "<b>", "x", "z", "z", "y", "<b>"]
    steps = [table.index(c) for c in word]
    (r,) = D.decode_ctc(_onehot_steps(steps, 4)[None], charset, blank=blank)
    assert r.text == "xxzy"


def test_ctc_tnc_layout_and_batch():
    rng = np.random.default_rng(0)
    ntc = rng.normal(size=(3, 12, 6)).astype(np.float32)
    a = D.decode_ctc(ntc, "abcde")
    b = D.decode_ctc(ntc.transpose(1, 0, 2).copy(), "abcde", layout="TNC")
    assert [r.text for r in a] == [r.text for r in b] and len(a) == 3
    assert [r.char_confidences for r in a] == [r.char_confidences for r in b]
    ims = [np.zeros((32, 100, 3), np.uint8)] * 3
    assert D.decode_ctc(ntc, "abcde", images=ims)[2].orig_shape == (32, 100)


@pytest.mark.parametrize(
    "kwargs, word",
    [
        (dict(out=np.zeros((1, 5, 4)), charset="abcd"), "len\\(charset\\) \\+ 1"),
        (dict(out=np.zeros((1, 5, 4)), charset="ab"), "len\\(charset\\) \\+ 1"),
        (dict(out=np.zeros((5, 4)), charset="abc"), "out"),
        (dict(out=np.zeros((1, 5, 4)), charset="abc", blank=4), "blank"),
        (dict(out=np.zeros((1, 5, 4)), charset="abc", layout="CTN"), "layout"),
        (dict(out=np.zeros((1, 5, 4)), charset=[1, 2, 3]), "charset"),
        (dict(out=np.full((1, 5, 4), np.nan), charset="abc"), "NaN"),
        (dict(out=np.zeros((1, 5, 4)), charset="abc", images=[]), "images"),
    ],
)
def test_ctc_errors(kwargs, word):
    with pytest.raises(DecodeError, match=word):
        D.decode_ctc(**kwargs)


# ---------------------------------------------------------------------------
# Slot OCR (CCPD-style plates: 1 province slot + 6 letter/digit slots)

PROVINCES = list("皖沪津渝冀晋蒙辽吉黑苏浙京闽赣鲁豫鄂湘粤桂琼川贵云藏陕甘青宁新")
ALNUM = list("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789O")  # CCPD's 35: no I; O last
HEADS = [{"charset": PROVINCES, "slots": [0]}, {"charset": ALNUM, "slots": [1, 2, 3, 4, 5, 6]}]


def _plate_outputs(plates, rng):
    """Probabilities for each plate: 0.6..0.99 on the right class, the rest spread randomly."""
    def head(chars, charset):
        p = rng.uniform(0, 1, (len(plates), len(chars[0]), len(charset)))
        top = rng.uniform(0.6, 0.99, p.shape[:2])
        for b, word in enumerate(chars):
            for s, ch in enumerate(word):
                p[b, s, charset.index(ch)] = 0
        p *= ((1 - top) / p.sum(-1))[..., None]
        for b, word in enumerate(chars):
            for s, ch in enumerate(word):
                p[b, s, charset.index(ch)] = top[b, s]
        return p, top
    prov, top0 = head([pl[0] for pl in plates], PROVINCES)
    aln, top1 = head([pl[1:] for pl in plates], ALNUM)
    return prov, aln, np.concatenate([top0, top1], axis=1)


def test_slots_ocr_ccpd_probabilities_and_logits():
    assert len(PROVINCES) == 31 and len(ALNUM) == 35
    rng = np.random.default_rng(0)
    plates = ["皖A12345", "京BD0O88", "粤Z9XY77"]
    prov, aln, top = _plate_outputs(plates, rng)
    ims = [np.zeros((48, 144, 3), np.uint8) for _ in plates]
    shift = rng.normal(0, 5, (3, 6, 1))  # softmax is shift-invariant per row
    cases = {
        "probabilities": [prov, aln],
        "province (N, C) head": [prov[:, 0, :], aln],
        "logits": [np.log(prov) + 2.0, np.log(aln) + shift],
        "float32 mixed": [prov.astype(np.float32), (np.log(aln) + shift).astype(np.float32)],
    }
    for name, outs in cases.items():
        res = D.decode_slots_ocr(outs, HEADS, images=ims)
        assert [r.text for r in res] == plates, name
        for r, t, im in zip(res, top, ims):
            np.testing.assert_allclose(r.char_confidences, t, rtol=1e-5, err_msg=name)
            assert r.confidence == pytest.approx(float(np.prod(t)), rel=1e-5)
            assert r.orig_img is im and r.orig_shape == (48, 144)


def test_slots_ocr_slot_order_and_probability_rule():
    # one head filling the slots in a scrambled order
    p = np.zeros((1, 3, 3))
    p[0, [0, 1, 2], [0, 1, 2]] = 1.0  # head slot j predicts class j
    (r,) = D.decode_slots_ocr([p], [{"charset": "abc", "slots": [2, 0, 1]}])
    assert r.text == "bca"
    # a row of values in [0, 1] that does not sum to 1 is taken as logits
    (r,) = D.decode_slots_ocr([np.array([[0.5, 0.9]])], [{"charset": ["x", "y"], "slots": [0]}])
    assert r.text == "y" and r.confidence == pytest.approx(math.exp(0.9) / (math.exp(0.5) + math.exp(0.9)))


def test_slots_ocr_rows_head():
    p = np.zeros((3, 2, 2))
    p[:, :, 0] = 1.0
    rows = np.array([[2.0, -1.0], [0.1, 0.3], [0.2, 0.8]])  # logits, logits, probabilities
    res = D.decode_slots_ocr([p], [{"charset": "ab", "slots": [0, 1]}], rows=rows)
    assert [r.rows for r in res] == [1, 2, 2] and [r.text for r in res] == ["aa"] * 3
    assert res[1].to_dict()["rows"] == 2
    assert D.decode_slots_ocr([p], [{"charset": "ab", "slots": [0, 1]}])[0].rows is None
    with pytest.raises(DecodeError, match=r"rows: expected shape \(3, 2\)"):
        D.decode_slots_ocr([p], [{"charset": "ab", "slots": [0, 1]}], rows=np.zeros((3, 3)))
    with pytest.raises(DecodeError, match="rows: contains NaN"):
        D.decode_slots_ocr([p], [{"charset": "ab", "slots": [0, 1]}], rows=np.full((3, 2), np.nan))
    with pytest.raises(EdgeVisionError, match="rows: expected 1, 2 or None"):
        R.TextResult("a", 1.0, rows=3)


def test_ctc_beam_search_sums_every_path_of_a_reading():
    """The prefix beam search, unpruned and wide enough, gives each reading the total
    probability of the paths that collapse to it (checked against enumerating all paths)."""
    import itertools

    rng = np.random.default_rng(0)
    for _ in range(3):
        p = rng.dirichlet(np.ones(3), size=5)  # T=5, blank 0 and two characters
        total: dict[tuple, float] = {}
        for path in itertools.product(range(3), repeat=5):
            lab = tuple(k for i, k in enumerate(path) if k and (i == 0 or path[i - 1] != k))
            total[lab] = total.get(lab, 0.0) + float(np.prod(p[np.arange(5), path]))
        beams = D._ctc_beam(np.log(p), 0, 10_000, prune=-math.inf)
        assert {k: pytest.approx(math.exp(v), abs=1e-12) for k, v in beams} == total
        assert [v for _, v in beams] == sorted((v for _, v in beams), reverse=True)


@pytest.mark.parametrize("seed", range(4))
def test_ctc_beam_search_equals_its_reference_bit_for_bit(seed: int) -> None:
    """The compiled prefix beam search returns exactly what the plain reference returns: the same
    readings, in the same order, with the same float log-probabilities, on junk (every class above the
    pruning), on peaky plate-like paths, on exact ties (rounded or equal logits), any blank index,
    widths from 1 to wider than the readings, and the reference's own unpruned check above."""
    rng = np.random.default_rng(seed)
    for trial in range(60):
        t_n, c_n = int(rng.choice([1, 6, 32])), int(rng.choice([2, 5, 40]))
        lg = rng.normal(0, 3, (t_n, c_n)) / rng.uniform(0.2, 4)
        if trial % 3 == 0:
            lg[np.arange(t_n), rng.integers(0, c_n, t_n)] += rng.uniform(3, 12)
        if trial % 5 == 0:
            lg = np.round(lg)
        if trial % 11 == 0:
            lg[:] = 0.0
        p = np.exp(lg - lg.max(1, keepdims=True))
        logp = np.log(np.maximum(p / p.sum(1, keepdims=True), 1e-30))
        width, blank = int(rng.choice([1, 2, 10, 60])), int(rng.integers(0, c_n))
        prune = math.log(1e-4) if trial % 4 else -math.inf
        assert D._ctc_beam(logp, blank, width, prune) == D._ctc_beam_reference(logp, blank, width, prune)


def test_compiled_ctc_beam_search_names_a_bad_argument() -> None:
    """The compiled search checks what it is given (the decoder checks first; this is its own guard):
    a clear error naming the argument, never a crash."""
    from edgevision import _core

    ok = np.log(np.full((4, 3), 1 / 3))
    assert _core.ctc_beam(ok.astype(np.float32), 0, 2, -math.inf)[0][1] == D._ctc_beam_reference(
        ok.astype(np.float32).astype(np.float64), 0, 2, -math.inf)[0][1]   # float32 is widened
    assert D._ctc_beam(np.zeros((0, 3)), 1, 3) == [((), 0.0)]   # no time steps: the empty reading, surely
    for args, msg in [((np.zeros((2, 3, 1)), 0, 2, 0.0), "logp: expected a \\(T, C\\) array"),
                      ((np.zeros((2, 0)), 0, 2, 0.0), "logp: expected at least one class"),
                      ((ok, 3, 2, 0.0), r"blank: expected a class index in \[0, 2\]"),
                      ((ok, -1, 2, 0.0), "blank: expected a class index"),
                      ((ok, 0, 0, 0.0), "width: expected an int >= 1"),
                      ((ok, 0, 2, math.nan), "prune: expected a log-probability"),
                      ((np.where(np.eye(4, 3) > 0, np.nan, ok), 0, 2, 0.0), "logp: expected log-probabilities"),
                      ((np.where(np.eye(4, 3) > 0, np.inf, ok), 0, 2, 0.0), "logp: expected log-probabilities")]:
        with pytest.raises(ValueError, match=msg):
            _core.ctc_beam(*args)


def test_ctc_pattern_replaces_a_reading_that_breaks_it():
    # greedy reads "aab" (a, a, blank, a... merged): with pattern "ab" the best matching reading wins
    steps = np.array([[0.05, 0.9, 0.05], [0.4, 0.5, 0.1], [0.05, 0.05, 0.9]])  # a, a|blank, b
    (g,) = D.decode_ctc(steps[None], "ab")
    assert g.text == "ab"
    steps2 = np.array([[0.05, 0.9, 0.05], [0.55, 0.4, 0.05], [0.05, 0.9, 0.05], [0.05, 0.05, 0.9]])
    (g2,) = D.decode_ctc(steps2[None], "ab")
    assert g2.text == "aab"
    (c,) = D.decode_ctc(steps2[None], "ab", pattern="ab")
    assert c.text == "ab"
    # its confidences are those of the best path of "ab": a at step 0, b at step 3
    assert c.char_confidences == pytest.approx((0.9, 0.9)) and c.confidence == pytest.approx(0.81)
    # a reading that matches is kept as greedy decoding gives it; none matching in the beam: greedy stands
    (same,) = D.decode_ctc(steps2[None], "ab", pattern="a+b")
    assert (same.text, same.char_confidences) == (g2.text, g2.char_confidences)
    (anything,) = D.decode_ctc(steps2[None], "ab", pattern=".*")
    assert anything.text == "aab"
    (none,) = D.decode_ctc(steps2[None], "ab", pattern="bbbb", beam_width=2)
    assert none.text == "aab"
    with pytest.raises(DecodeError, match=r"pattern: '\(\(' is not a valid regular expression"):
        D.decode_ctc(steps2[None], "ab", pattern="((")
    with pytest.raises(DecodeError, match="beam_width"):
        D.decode_ctc(steps2[None], "ab", pattern="ab", beam_width=0)


def test_ctc_align_gives_greedy_confidences_on_the_greedy_reading():
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.ones(5) * 0.3, size=12)
    # on peaked rows (each step's class far above the rest, rows summing to 1) the greedy path is
    # the best path of its own reading, so the aligned confidences are greedy decoding's
    peaked = np.eye(5)[np.argmax(p, 1)] * 0.95 + 0.01
    (gp,) = D.decode_ctc(peaked[None], "abcd")
    lab = ["abcd".index(ch) + 1 for ch in gp.text]
    assert len(lab) >= 3 and D._ctc_align(peaked, lab, 0) == pytest.approx(list(gp.char_confidences))


@pytest.mark.parametrize("seed", range(4))
def test_compiled_ctc_align_equals_the_reference(seed):
    """``_core.ctc_align`` (what ``_ctc_align`` runs) gives the Python reference's confidences bit for bit:
    peaked and flat rows, exact ties (rows of equal values), zeros (log 1e-30), repeated labels, label
    strings longer than the steps, T from 0 to 40, the blank first or last."""
    rng = np.random.default_rng(77 + seed)
    for _ in range(150):
        T, C = int(rng.integers(0, 41)), int(rng.integers(2, 12))
        kind = rng.integers(0, 4)
        if kind == 0:
            p = rng.dirichlet(np.ones(C) * 0.2, size=T)
        elif kind == 1:
            p = np.full((T, C), 1.0 / C)  # every path ties
        elif kind == 2:
            p = np.round(rng.dirichlet(np.ones(C), size=T), 1)  # ties and zeros
        else:
            p = np.eye(C)[rng.integers(0, C, T)] * 0.9 + 0.1 / C
        blank = int(rng.choice([0, C - 1]))
        others = [c for c in range(C) if c != blank]
        labels = [int(c) for c in rng.choice(others, int(rng.integers(0, T + 3)))]
        if len(labels) > 2 and rng.random() < 0.3:
            labels[1] = labels[0]  # a repeated label: no skipping the blank between them
        got = D._ctc_align(p, labels, blank)
        want = D._ctc_align_reference(p, labels, blank)
        assert got == want, (T, C, blank, labels)
    from edgevision import _core

    with pytest.raises(ValueError, match="labels"):
        _core.ctc_align(np.zeros((3, 4)), [0], 0)
    with pytest.raises(ValueError, match="logp"):
        _core.ctc_align(np.full((3, 4), np.nan), [1], 0)


def test_ctc_rows_head():
    steps = _onehot_steps([1, 0, 2], 3)[None].repeat(3, 0)  # "ab" in each image
    rows = np.array([[2.0, -1.0], [0.1, 0.3], [0.2, 0.8]])  # logits, logits, probabilities
    res = D.decode_ctc(steps, "ab", rows=rows)
    assert [r.text for r in res] == ["ab"] * 3 and [r.rows for r in res] == [1, 2, 2]
    assert D.decode_ctc(steps, "ab")[0].rows is None
    with pytest.raises(DecodeError, match=r"rows: expected shape \(3, 2\)"):
        D.decode_ctc(steps, "ab", rows=np.zeros((2, 2)))
    with pytest.raises(DecodeError, match="rows: contains NaN"):
        D.decode_ctc(steps, "ab", rows=np.full((3, 2), np.nan))


@pytest.mark.parametrize(
    "outs, heads, word",
    [
        ([np.zeros((1, 1, 31)), np.zeros((1, 6, 34))], HEADS, r"head_outputs\[1\]"),
        ([np.zeros((1, 1, 31)), np.zeros((2, 6, 35))], HEADS, r"head_outputs\[1\]"),
        ([np.zeros((1, 1, 31))], HEADS, "heads"),
        ([np.zeros((1, 1, 31)), np.zeros((1, 6, 35))],
         [HEADS[0], {"charset": ALNUM, "slots": [0, 2, 3, 4, 5, 6]}], "slot 0"),
        ([np.zeros((1, 1, 31)), np.zeros((1, 6, 35))],
         [HEADS[0], {"charset": ALNUM, "slots": [2, 3, 4, 5, 6, 7]}], "0..6"),
        ([np.zeros((1, 1, 31)), np.zeros((1, 6, 35))], [HEADS[0], {"charset": ALNUM}], r"heads\[1\]"),
        (np.zeros((1, 1, 31)), HEADS[:1], "head_outputs"),
    ],
)
def test_slots_ocr_errors(outs, heads, word):
    with pytest.raises(DecodeError, match=word):
        D.decode_slots_ocr(outs, heads)


# ---------------------------------------------------------------------------
# Classification, embedding, raw


def test_classification_top_k():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4, 10)).astype(np.float32)
    logits[3, [2, 7]] = 5.0  # a tie: lower class id first
    res = D.decode_classification(logits, top_k=3, labels=[f"n{i}" for i in range(10)])
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    for r, p in zip(res, probs):
        want = sorted(range(10), key=lambda c: -p[c])[:3]
        assert r.top_classes.tolist() == want and r.top_classes.dtype == np.int64
        np.testing.assert_allclose(r.top_scores, p[want], rtol=1e-6)
        assert r.top_scores.dtype == np.float32 and r.labels == tuple(f"n{c}" for c in want)
    assert res[3].top_classes[:2].tolist() == [2, 7]
    raw = D.decode_classification(logits, top_k=50, softmax=False, labels={0: "zero"})
    assert len(raw[0].top_classes) == 10  # top_k clipped to C
    np.testing.assert_array_equal(raw[0].top_scores, np.sort(logits[0])[::-1])
    assert raw[0].labels.count("zero") == 1 and raw[0].labels.count(None) == 9
    with pytest.raises(DecodeError, match="labels"):
        D.decode_classification(logits, labels=["a", "b"])
    with pytest.raises(DecodeError, match="top_k"):
        D.decode_classification(logits, top_k=0)
    with pytest.raises(DecodeError, match="out"):
        D.decode_classification(logits[0])


def test_embedding_normalization():
    rng = np.random.default_rng(0)
    out = rng.normal(size=(3, 16)).astype(np.float32) * 7
    out[1] = 0
    res = D.decode_embedding(out)
    assert res[0].vector.dtype == np.float32 and res[0].vector.shape == (16,)
    assert np.linalg.norm(res[0].vector) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(res[0].vector, out[0] / np.linalg.norm(out[0]), rtol=1e-6)
    assert not res[1].vector.any()  # a zero vector stays zero
    np.testing.assert_array_equal(D.decode_embedding(out, normalize=False)[2].vector, out[2])
    out[2, 3] = np.nan
    with pytest.raises(DecodeError, match=r"rows \[2\]"):
        D.decode_embedding(out)
    with pytest.raises(DecodeError, match="out"):
        D.decode_embedding(out[0])
    # embedding_vectors: the same vectors as one float32 matrix, the same checks
    out[2, 3] = 1.0
    m = D.embedding_vectors(out)
    assert m.dtype == np.float32 and m.shape == (3, 16)
    np.testing.assert_array_equal(m, np.stack([r.vector for r in D.decode_embedding(out)]))
    np.testing.assert_array_equal(D.embedding_vectors(out, normalize=False), out)
    out[0, 0] = np.inf
    with pytest.raises(DecodeError, match=r"rows \[0\]"):
        D.embedding_vectors(out)
    with pytest.raises(DecodeError, match="normalize"):
        D.embedding_vectors(out[1:], normalize="yes")


def test_nearest_match_against_brute_force():
    rng = np.random.default_rng(0)
    gallery = rng.normal(size=(300, 24)) * rng.uniform(0.5, 3, (300, 1))
    queries = rng.normal(size=(7, 24))
    cos = np.array([[q @ g / np.linalg.norm(q) / np.linalg.norm(g) for g in gallery] for q in queries])
    for k in (1, 5, 300, 1000):
        idx, sims = R.nearest_match(queries, gallery, k=k)
        kk = min(k, 300)
        assert idx.shape == sims.shape == (7, kk) and idx.dtype == np.int64 and sims.dtype == np.float64
        for q in range(7):
            assert idx[q].tolist() == np.argsort(-cos[q], kind="stable")[:kk].tolist()
            np.testing.assert_allclose(sims[q], cos[q, idx[q]], rtol=0, atol=1e-12)
    # one query, float32, pre-normalized gallery
    g32 = (gallery / np.linalg.norm(gallery, axis=1, keepdims=True)).astype(np.float32)
    (emb,) = D.decode_embedding(queries[:1].astype(np.float32))
    i1, s1 = emb.nearest(g32, k=3, normalized=True)
    i2, s2 = R.nearest_match(queries[0], gallery, k=3)
    assert i1.shape == (3,) and s1.dtype == np.float32 and i1.tolist() == i2.tolist()
    np.testing.assert_allclose(s1, s2, atol=1e-6)
    with pytest.raises(InvalidArgumentError, match="dimensions differ"):
        R.nearest_match(queries, gallery[:, :5])
    with pytest.raises(InvalidArgumentError, match="gallery"):
        R.nearest_match(queries[0], gallery[0])
    with pytest.raises(InvalidArgumentError, match="gallery"):
        R.nearest_match(queries[0], np.zeros((0, 24)))
    with pytest.raises(InvalidArgumentError, match="query"):
        R.nearest_match(np.zeros((2, 2, 24)), gallery)
    with pytest.raises(InvalidArgumentError, match="k"):
        R.nearest_match(queries[0], gallery, k=0)


def test_decode_raw():
    outs = {"a": np.arange(6).reshape(2, 3), "b": np.zeros((2, 4, 2), np.float32)}
    res = D.decode_raw(outs)
    assert len(res) == 2 and res[1].outputs["a"].tolist() == [3, 4, 5] and res[0].outputs["b"].shape == (4, 2)
    with pytest.raises(DecodeError, match="batch size"):
        D.decode_raw({"a": np.zeros((2, 3)), "b": np.zeros((3, 3))})
    with pytest.raises(DecodeError, match="outputs"):
        D.decode_raw([np.zeros(3)])


# ---------------------------------------------------------------------------
# to_dict and plot on every result type


def _all_results(img):
    _, t = ev.letterbox(img, 64)
    h, w = img.shape[:2]
    quad = [[0.1 * w, 0.2 * h], [0.9 * w, 0.25 * h], [0.85 * w, 0.8 * h], [0.15 * w, 0.75 * h]]
    out = t.to_input(np.array(quad), normalized=True).reshape(1, 8)
    det = np.zeros((1, 6, 2), np.float32)
    det[0, :, 0] = [32, 32, 30, 20, 0.9, 0.1]
    det[0, :, 1] = [10, 40, 8, 8, 0.1, 0.7]
    return [
        D.decode_keypoints(out, [t], num_keypoints=4, names=["tl", "tr", "br", "bl"], images=[img])[0],
        R.TextResult("皖A12345", 0.93, (0.99, 0.98, 0.97, 0.99, 0.99, 0.99, 0.99), orig_img=img),
        D.decode_detection(det, [t], conf_threshold=0.25, iou_threshold=0.5, max_det=10, labels=["plate", "车"],
                           images=[img])[0],
        D.decode_classification(np.array([[0.1, 2.0, 0.3]]), top_k=2, labels=["a", "b", "c"], images=[img])[0],
        D.decode_embedding(np.ones((1, 8)), images=[img])[0],
        D.decode_raw({"logits": np.zeros((1, 3), np.float32)}, images=[img])[0],
    ]


def test_to_dict_json_round_trip():
    img = np.full((90, 160, 3), 40, np.uint8)
    kinds = set()
    for r in _all_results(img):
        d = r.to_dict()
        assert "orig_img" not in d and d["orig_shape"] == [90, 160]
        assert json.loads(json.dumps(d)) == d
        kinds.add(d["type"])
    assert kinds == {"keypoints", "text", "detection", "classification", "embedding", "raw"}
    d = _all_results(img)[2].to_dict()
    assert d["labels"] == ["plate", "车"] and isinstance(d["scores"][0], float) and isinstance(d["classes"][0], int)
    assert json.loads(json.dumps(R.TextResult("京A·88888", 0.5).to_dict()))["text"] == "京A·88888"


@pytest.mark.parametrize("unicode_font", [True, False], ids=["opencv-font", "hershey-fallback"])
def test_plot_returns_annotated_copy(unicode_font, monkeypatch):
    if not unicode_font:
        monkeypatch.setattr(R, "_FONT_CACHE", [None])  # as on OpenCV 4: Hershey only, non-ASCII -> '?'
    img = np.full((90, 160, 3), 40, np.uint8)
    before = img.copy()
    for r in _all_results(img):
        for kwargs in ({}, {"image": img[:, :, ::-1]}):  # default orig_img, then a strided view
            src = kwargs.get("image", img)
            out = r.plot(**kwargs)
            assert out.shape == img.shape and out.dtype == np.uint8 and out.flags.c_contiguous
            assert not np.shares_memory(out, src)
            assert (out != src).any(), type(r).__name__  # something was drawn
        np.testing.assert_array_equal(img, before)


def test_plot_chinese_plate_and_image_kinds():
    plate = np.full((48, 144, 3), 200, np.uint8)
    r = R.TextResult("皖A12345", 0.87, (0.9,) * 7, orig_img=plate)
    out = r.plot(font_size=14, color=(0, 0, 255), background=(255, 255, 255))
    assert out.shape == plate.shape and (plate == 200).all() and (out != 200).any()
    assert R.TextResult("emoji 😀\n", 0.1).plot(image=plate).shape == plate.shape
    gray = np.full((48, 144), 200, np.uint8)
    assert r.plot(image=gray).shape == (48, 144, 3) and (gray == 200).all()
    bgra = np.full((48, 144, 4), 200, np.uint8)
    out = r.plot(image=bgra)
    assert out.shape == (48, 144, 4) and (bgra == 200).all()
    assert (out[..., 3] >= 200).all() and (out[..., 3] == 255).any()  # drawn opaque, no transparent holes


def test_text_fallback_transliteration():
    assert R._printable("皖A·1\n😀", ascii_only=True) == "?A?1??"
    assert R._printable("皖A·1\n😀", ascii_only=False) == "皖A·1?😀"


def test_plot_errors():
    r = R.TextResult("A1", 0.9)
    with pytest.raises(InvalidArgumentError, match="image"):
        r.plot()
    with pytest.raises(InvalidArgumentError, match="colour"):
        r.plot(image=np.zeros((10, 10, 3), np.uint8), color=(1, 2))
    with pytest.raises(InvalidArgumentError, match="linewidth"):
        r.plot(image=np.zeros((10, 10, 3), np.uint8), linewidth=3)
    k = R.KeypointsResult(np.zeros((4, 2)), orig_shape=(20, 30))
    with pytest.raises(InvalidArgumentError, match="orig_shape"):
        k.plot(image=np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(ev.InvalidTypeError, match="image"):
        k.plot(image=np.zeros((20, 30, 3), np.float32))
    # non-finite and far-away points / boxes are skipped or clamped, never crash
    k = R.KeypointsResult([[np.nan, 1.0], [1e30, -1e30], [5, 5], [6, 6]], orig_shape=(20, 30))
    assert k.plot(image=np.zeros((20, 30, 3), np.uint8)).shape == (20, 30, 3)
    d = R.DetectionResult([[np.inf, 0, 1, 1], [-1e12, -1e12, 1e12, 1e12]], [0.5, 0.4], [0, 1])
    assert d.plot(image=np.zeros((20, 30, 3), np.uint8)).shape == (20, 30, 3)


def test_result_construction_checks():
    with pytest.raises(InvalidArgumentError, match="boxes"):
        R.DetectionResult(np.zeros((2, 3)), [0.1, 0.2], [0, 1])
    with pytest.raises(InvalidArgumentError, match="scores"):
        R.DetectionResult(np.zeros((2, 4)), [0.1], [0, 1])
    with pytest.raises(InvalidArgumentError, match="labels"):
        R.DetectionResult(np.zeros((2, 4)), [0.1, 0.2], [0, 1], labels=("a",))
    with pytest.raises(InvalidArgumentError, match="orig_img"):
        R.KeypointsResult(np.zeros((1, 2)), orig_shape=(5, 5), orig_img=np.zeros((6, 6), np.uint8))
    empty = R.DetectionResult([], [], [])
    assert empty.boxes.shape == (0, 4) and len(empty) == 0 and empty.to_dict()["boxes"] == []


@pytest.mark.parametrize("cls, func", [(D.DetectionDecoder, D.decode_detection), (D.PoseDecoder, D.decode_pose)])
def test_prepared_decoders_share_the_functions_defaults(cls, func):
    """A Predictor decodes detection and pose outputs with DetectionDecoder / PoseDecoder (options checked
    once); the functions are those classes applied once, so their defaults must be the same."""
    import inspect

    want = {k: p.default for k, p in inspect.signature(func).parameters.items()
            if p.kind is p.KEYWORD_ONLY and k != "images"}
    got = {k: p.default for k, p in inspect.signature(cls).parameters.items()}
    assert got == want


def test_prepared_pose_decoder_checks_options_once_and_labels_per_class_count():
    with pytest.raises(DecodeError, match="kpt_shape"):
        D.PoseDecoder(kpt_shape=[4, 5])
    with pytest.raises(DecodeError, match="iou_threshold"):
        D.PoseDecoder(kpt_shape=[4, 2], iou_threshold=2.0)
    with pytest.raises(DecodeError, match="keypoint_names"):
        D.PoseDecoder(kpt_shape=[4, 2], keypoint_names=["a"])
    dec = D.PoseDecoder(kpt_shape=[4, 2], labels=["plate"])
    t = ev.LetterboxTransform((100, 200), (64, 64), (0.32, 0.32), (0, 16))
    out = np.zeros((1, 4 + 1 + 8, 10), np.float32)
    out[0, :5, 3] = [30, 20, 10, 6, 0.9]
    out[0, 5:, 3] = [25, 17, 35, 17, 35, 23, 25, 23]
    r = dec(out, [t])[0]
    assert r.labels == ("plate",) and len(r) == 1
    assert r.keypoints.tolist() == D.decode_pose(out, [t], kpt_shape=[4, 2], labels=["plate"])[0].keypoints.tolist()
    with pytest.raises(DecodeError, match="labels"):  # two classes in the output, one name
        dec(np.zeros((1, 4 + 2 + 8, 10), np.float32), [t])


def test_prepared_ctc_decoder_shares_decode_ctcs_defaults_and_checks_once():
    import inspect

    want = {k: p.default for k, p in inspect.signature(D.decode_ctc).parameters.items()
            if p.kind is p.KEYWORD_ONLY and k not in ("images", "rows")}
    got = {k: p.default for k, p in inspect.signature(D.CTCDecoder).parameters.items() if p.kind is p.KEYWORD_ONLY}
    assert got == want
    with pytest.raises(DecodeError, match="blank"):
        D.CTCDecoder("ab", blank=3)
    with pytest.raises(DecodeError, match="pattern"):
        D.CTCDecoder("ab", pattern="((")
    dec = D.CTCDecoder("ab", pattern="ab")
    steps = _onehot_steps([1, 0, 1, 2], 3)[None]  # greedy "aab" breaks the pattern; the beam finds "ab"
    assert [r.text for r in dec(steps)] == [r.text for r in D.decode_ctc(steps, "ab", pattern="ab")]
    with pytest.raises(DecodeError, match="C = len"):
        dec(np.zeros((1, 4, 5)))
