"""The ``pose`` task (issue 16's plate detector): its decoder, result, registry entry, the
``plate_pose`` architecture's export through the Predictor, the detector recipe's assignment
and loss, and the detector scene generator. None of it needs ``../shared``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgevision import Predictor, decoders
from edgevision import tasks as T
from edgevision.errors import DecodeError, InvalidArgumentError, MissingConfigError
from edgevision.preprocess import letterbox
from edgevision.results import PoseResult


def _transform(h: int = 200, w: int = 400, size: int = 384):
    return letterbox(np.zeros((h, w, 3), np.uint8), (size, size))[1]


def _out(rows: list[tuple[list[float], float, list[float]]], anchors: int = 12, d: int = 2) -> np.ndarray:
    """(1, 4 + 1 + 4*d, anchors): the given (cxcywh, score, corners) rows, the rest score 0."""
    out = np.zeros((1, 5 + 4 * d, anchors), np.float32)
    for j, (box, score, kp) in enumerate(rows):
        out[0, :4, j] = box
        out[0, 4, j] = score
        pts = np.asarray(kp, np.float32).reshape(4, 2)
        if d == 3:
            pts = np.concatenate([pts, np.full((4, 1), 0.9, np.float32)], 1)
        out[0, 5:, j] = pts.reshape(-1)
    return out


QUAD = [172, 182, 212, 182, 212, 202, 172, 202]  # TL TR BR BL, model-input px, box (192, 192, 40, 20)


def test_decode_pose_maps_boxes_and_corners_to_source_pixels():
    t = _transform()  # 400x200 -> 384: scale 0.96, 96 px of padding above and below
    (r,) = decoders.decode_pose(_out([([192, 192, 40, 20], 0.9, QUAD)]), t, kpt_shape=[4, 2])
    assert isinstance(r, PoseResult) and len(r) == 1
    np.testing.assert_allclose(r.boxes, [[172 / 0.96, 86 / 0.96, 212 / 0.96, 106 / 0.96]])
    np.testing.assert_allclose(r.keypoints[0], np.array(QUAD, np.float64).reshape(4, 2) / 0.96 - [0, 96 / 0.96])
    assert r.scores.tolist() == pytest.approx([0.9]) and r.classes.tolist() == [0]
    assert r.keypoint_scores is None and r.orig_shape == (200, 400)


def test_decode_pose_keeps_by_score_suppresses_overlaps_and_drops_low_scores():
    far = [q + 100 for q in QUAD]
    out = _out([([192, 192, 40, 20], 0.6, QUAD), ([193, 192, 40, 20], 0.8, QUAD),  # the same plate twice
                ([292, 292, 40, 20], 0.7, far), ([50, 50, 10, 10], 0.2, QUAD)])     # another; one under conf
    (r,) = decoders.decode_pose(out, _transform(), kpt_shape=[4, 2], conf_threshold=0.25, iou_threshold=0.45)
    assert r.scores.tolist() == pytest.approx([0.8, 0.7])
    np.testing.assert_allclose(r.keypoints[1, 0], [272 / 0.96, (282 - 96) / 0.96])
    (r1,) = decoders.decode_pose(out, _transform(), kpt_shape=[4, 2], max_det=1)
    assert len(r1) == 1 and r1.scores[0] == pytest.approx(0.8)


def test_decode_pose_reads_visibility_when_kpt_shape_has_three_values():
    (r,) = decoders.decode_pose(_out([([192, 192, 40, 20], 0.9, QUAD)], d=3), _transform(), kpt_shape=[4, 3])
    assert r.keypoint_scores.shape == (1, 4) and np.allclose(r.keypoint_scores, 0.9)
    assert r.keypoints.shape == (1, 4, 2)


def test_decode_pose_with_nothing_above_the_threshold_gives_an_empty_result_that_plots():
    img = np.full((200, 400, 3), 50, np.uint8)
    (r,) = decoders.decode_pose(_out([([192, 192, 40, 20], 0.1, QUAD)]), _transform(), kpt_shape=[4, 2],
                                images=[img])
    assert len(r) == 0 and r.keypoints.shape[0] == 0
    assert np.array_equal(r.plot(), img)
    assert r.to_dict()["boxes"] == []


def test_pose_plot_draws_the_quad():
    img = np.zeros((200, 400, 3), np.uint8)
    (r,) = decoders.decode_pose(_out([([192, 192, 40, 20], 0.9, QUAD)]), _transform(), kpt_shape=[4, 2],
                                images=[img])
    drawn = r.plot(show_boxes=False)
    edge = drawn[86:94, 200]  # the top edge crosses x = 200 at y = 89.6 (anti-aliased): green only
    assert edge[:, 1].max() >= 200 and edge[:, [0, 2]].max() == 0
    assert not drawn.any(axis=2)[150:, :].any()  # nothing far below the plate
    with pytest.raises(InvalidArgumentError, match="unknown style key"):
        r.plot(colour=(1, 2, 3))


@pytest.mark.parametrize("kwargs, match", [
    ({"kpt_shape": [4, 4]}, "kpt_shape: expected \\[K, 2\\] or \\[K, 3\\]"),
    ({"kpt_shape": 4}, "kpt_shape"),
    ({"kpt_shape": [5, 2]}, "with C >= 1 classes"),  # 4 + C + 10 channels leaves C = 0
    ({"kpt_shape": [4, 2], "layout": "yolov5"}, "layout: expected 'yolov8'"),
    ({"kpt_shape": [4, 2], "keypoint_names": ["a", "b"]}, "keypoint_names: expected 4 point names"),
    ({"kpt_shape": [4, 2], "iou_threshold": 2}, "iou_threshold"),
])
def test_decode_pose_errors_name_the_argument(kwargs, match):
    with pytest.raises(DecodeError, match=match):
        decoders.decode_pose(_out([([192, 192, 40, 20], 0.9, QUAD)]), _transform(), **kwargs)


def test_pose_is_a_registered_task_whose_kpt_shape_is_required():
    spec = T.get_task("pose")
    assert spec.result is PoseResult and spec.required == ("kpt_shape",)
    assert spec.defaults["conf_threshold"] == 0.25 and spec.defaults["max_det"] == 300
    from edgevision.config import ModelConfig

    with pytest.raises(MissingConfigError, match=r'decoder=\{"kpt_shape": \[4, 2\]\}'):
        ModelConfig.from_dict({"task": "pose", "preprocess": {"size": 64}})
    with pytest.raises(Exception, match="decoder.kpt_shape: expected \\[K, 2\\] or \\[K, 3\\]"):
        ModelConfig.from_dict({"task": "pose", "preprocess": {"size": 64}, "decoder": {"kpt_shape": [4, 7]}})


# --- the plate_pose architecture through exporters and the Predictor -------------------------------


@pytest.fixture(scope="module")
def pose_onnx(tmp_path_factory):
    torch = pytest.importorskip("torch")
    import exporters
    from exporters.zoo import build

    torch.manual_seed(0)
    built = build("plate_pose", size=64, width=4, neck=8)  # untrained: this checks the export path only
    built.model.eval()
    path = tmp_path_factory.mktemp("pose") / "plate_pose.onnx"
    exporters.export_torch(built.model, torch.zeros(1, *built.input_shape), path, **built.export_kwargs())
    return path, built


def test_plate_pose_exports_and_the_predictor_decodes_it_as_the_torch_model(pose_onnx):
    import torch

    path, built = pose_onnx
    p = Predictor(path, warmup=False)
    assert p.task == "pose" and p.config.decoder["kpt_shape"] == [4, 2]
    img = (np.random.default_rng(0).random((48, 80, 3)) * 255).astype(np.uint8)
    blob = p.preprocess([img])[0]
    raw = p.infer(blob)
    with torch.no_grad():
        ref = built.model(torch.from_numpy(np.asarray(blob))).numpy()
    np.testing.assert_allclose(raw[0], ref, rtol=1e-4, atol=1e-3)
    assert raw[0].shape == (1, 13, 8 * 8 + 4 * 4 + 2 * 2)
    direct = decoders.decode_pose(ref, letterbox(img, 64)[1], kpt_shape=[4, 2], conf_threshold=0.0, max_det=5)[0]
    r = Predictor(path, warmup=False, decoder={"conf_threshold": 0.0, "max_det": 5})(img)
    assert isinstance(r, PoseResult) and len(r) == 5
    np.testing.assert_allclose(r.keypoints, direct.keypoints, rtol=1e-4, atol=1e-2)


# --- the recipe: assignment and loss -------------------------------------------------------------


def test_assignment_puts_a_plate_on_the_level_of_its_size_with_the_nearest_anchor_positive():
    torch = pytest.importorskip("torch")
    from exporters.zoo.pose_models import PlatePoseNet
    from training.detector import assign

    m = PlatePoseNet((128, 128), width=4, neck=8)
    anchors, strides = m.anchors[0], m.anchor_strides[0, 0]
    y = torch.full((1, 3, 8), float("nan"))
    y[0, 0] = torch.tensor([40.0, 60, 64, 60, 64, 68, 40, 68])      # 24 px wide: stride 8 only
    y[0, 1] = torch.tensor([4.0, 90, 124, 90, 124, 125, 4, 125])  # 120 px: strides 16 and 32 (not 8)
    index, _ = assign(y, anchors, strides)
    pos0 = (index[0] == 0).nonzero()[:, 0]
    pos1 = (index[0] == 1).nonzero()[:, 0]
    assert len(pos0) >= 1 and set(strides[pos0].tolist()) == {8.0}
    centre = torch.tensor([52.0, 64.0])
    d = ((anchors.T - centre) ** 2).sum(1)
    d[strides != 8] = float("inf")
    assert int(d.argmin()) in pos0.tolist()
    assert set(strides[pos1].tolist()) == {16.0, 32.0}
    assert not (index[0] == 2).any()  # the NaN row is no plate


def test_the_loss_goes_down_when_the_model_fits_one_batch():
    torch = pytest.importorskip("torch")
    from exporters.zoo.pose_models import PlatePoseNet
    from training.detector import loss_fn

    torch.manual_seed(0)
    m = PlatePoseNet((64, 64), width=4, neck=8)
    x = torch.rand(2, 3, 64, 64)
    y = torch.full((2, 2, 8), float("nan"))
    y[:, 0] = torch.tensor([10.0, 20, 50, 22, 49, 34, 11, 32])
    opt = torch.optim.Adam(m.parameters(), 1e-2)
    first = None
    for _ in range(30):
        loss, info = loss_fn(m, x, y)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first and info["npos"] >= 1



def test_the_loss_takes_rect_batches_on_a_dynamic_model_with_the_anchors_of_their_shape():
    torch = pytest.importorskip("torch")
    from exporters.zoo.pose_models import PlatePoseNet
    from exporters.zoo.torch_models import anchor_grid
    from training.detector import loss_fn

    torch.manual_seed(0)
    m = PlatePoseNet((64, 64), width=4, neck=8, dynamic_hw=True)
    y = torch.full((2, 2, 8), float("nan"))
    y[:, 0] = torch.tensor([10.0, 6, 50, 8, 49, 20, 11, 18])  # a plate in the top 32 rows
    loss, info = loss_fn(m, torch.rand(2, 3, 32, 64), y)
    assert torch.isfinite(loss) and info["npos"] >= 1
    # the anchor points the model decodes with are those of the batch's shape
    with torch.no_grad():
        a = m.raw(torch.rand(1, 3, 32, 64))[3]
    np.testing.assert_allclose(a.numpy(), anchor_grid((32, 64), m.strides)[0].numpy())


def test_rect_batches_are_scenes_of_one_content_shape_cut_to_it():
    from training.detector import MAX_PLATES, PAD_VALUE, _batch, content_rect, rect_groups

    S = 96
    X = np.full((5, S, S, 3), PAD_VALUE, np.uint8)
    rng = np.random.default_rng(0)
    X[0, 24:72] = rng.integers(0, 255, (48, S, 3))   # 48 content rows -> 64 rows, centred: 16..80
    X[1, 24:72] = rng.integers(0, 255, (48, S, 3))
    X[2] = rng.integers(0, 255, (S, S, 3))            # square: no rect group
    X[3, :, 30:66] = rng.integers(0, 255, (S, 36, 3))  # 36 content columns -> 64, centred: 16..80
    X[4, 24:72] = rng.integers(0, 255, (48, S, 3))
    assert content_rect(X[0]) == (16, 0, 64, 96) and content_rect(X[2]) == (0, 0, 96, 96)
    assert content_rect(X[3]) == (0, 16, 96, 64)
    groups = rect_groups(X)
    assert {k: v.tolist() for k, v in groups.items()} == {(16, 0, 64, 96): [0, 1, 4], (0, 16, 96, 64): [3]}
    Y = np.full((5, MAX_PLATES, 8), np.nan, np.float32)
    Y[:, 0] = [10, 30, 40, 30, 40, 40, 10, 40]
    x, y = _batch(X, Y, np.array([0, 1, 4]), np.random.default_rng(1), "cpu", geo_aug=1.0, rect=(16, 0, 64, 96))
    assert tuple(x.shape) == (3, 3, 64, 96)
    q = y.numpy()[:, 0].reshape(3, 4, 2)
    assert np.allclose(np.sort(q[:, :, 1], axis=1), [[14, 14, 24, 24]] * 3)  # 16 rows cut above: y - 16
    # flipped scenes mirror x about the cut's width
    assert set(np.round(np.sort(q[:, :, 0], axis=1)[:, 0]).tolist()) <= {10.0, 96 - 40.0}
    from training.detector import main

    with pytest.raises(SystemExit) as e:
        main(["--out", "unused", "--rect", "1.5"])
    assert e.value.code == 2


def test_geometric_augmentation_moves_the_corners_with_the_pixels_and_keeps_plates_inside(monkeypatch):
    import cv2

    import training.detector as td
    from training.detector import geometric

    img = np.full((96, 96, 3), 114, np.uint8)
    quads = np.full((3, 8), np.nan, np.float32)
    quads[0] = [30, 40, 60, 40, 60, 52, 30, 52]
    cv2.fillPoly(img, [quads[0].reshape(4, 2).astype(np.int32)], (255, 255, 255))
    cv2.circle(img, (32, 42), 2, (0, 0, 255), -1)                     # marks the TL corner
    rng = np.random.default_rng(1)
    moved = 0
    for _ in range(20):
        out, q = geometric(img, quads, rng)
        assert np.isnan(q[1:]).all()                                   # the padding rows stay padding
        c = q[0].reshape(4, 2)
        assert c.min() >= 0 and c.max() <= 95                          # every corner inside the frame
        white = np.argwhere(out.min(2) > 200)[:, ::-1].astype(np.float32)
        inside = [cv2.pointPolygonTest(c, (float(x), float(y)), True) > -1.5 for x, y in white]
        assert np.mean(inside) > 0.98                                   # the plate's pixels are in its quad
        red = np.argwhere((out[..., 2] > 200) & (out[..., 0] < 80))[:, ::-1].mean(0)
        assert np.linalg.norm(red - c[0]) < np.linalg.norm(red - c[2])  # TL stays TL
        moved += not np.allclose(q[0], quads[0])
    assert moved >= 15
    border = quads.copy()
    border[0] = [2, 2, 93, 2, 93, 93, 2, 93]
    monkeypatch.setattr(td, "GEO_ZOOM", (1.2, 1.6))                    # no zoom-in keeps it inside
    out, q = geometric(img, border, rng)
    assert out is img and q is border


@pytest.mark.parametrize("bad", ["-0.1", "1.5", "nan"])
def test_the_detector_recipe_refuses_a_geo_aug_share_outside_0_1(bad: str, tmp_path: Path, capsys) -> None:
    from training.detector import main

    with pytest.raises(SystemExit) as e:
        main(["--out", str(tmp_path / "run"), "--geo-aug", bad])
    assert e.value.code == 2 and "--geo-aug must be a share in [0, 1]" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # refused before anything was written
    from training.detector import train

    with pytest.raises(ValueError, match=r"geo_aug: expected a share in \[0, 1\]"):
        train(tmp_path / "lib", geo_aug=float(bad))
    assert not (tmp_path / "lib").exists()

def test_the_detector_recipe_passes_its_seed_to_the_run(tmp_path: Path, monkeypatch, capsys) -> None:
    # A continued run with another --seed trains on new cached scenes: the CLI hands the seed to
    # train(), which keys the scene cache and seeds the run with it.
    import training.detector as td

    seen: dict = {}

    class Exported:
        def summary(self) -> str:
            return "exported"

    (tmp_path / "run").mkdir()  # train() makes it
    monkeypatch.setattr(td, "train", lambda out, **kw: seen.update(kw) or {"recipe": "detector"})
    monkeypatch.setattr(td, "export", lambda *a, **kw: Exported())
    assert td.main(["--out", str(tmp_path / "run"), "--seed", "7", "--init", "w.pt"]) == 0
    assert seen["seed"] == 7 and seen["init"] == "w.pt"
    assert td.main(["--out", str(tmp_path / "run")]) == 0 and seen["seed"] is None  # TRAIN_SEED
    with pytest.raises(SystemExit) as e:
        td.main(["--out", str(tmp_path / "other"), "--seed", "-1"])
    assert e.value.code == 2 and "--seed must be an integer >= 0" in capsys.readouterr().err


# --- the scene generator --------------------------------------------------------------------------


def test_detector_scenes_are_deterministic_with_plates_inside_the_frame():
    from calibration.plate_scenes import PlateDetectionScenes

    gen = PlateDetectionScenes(3, long_side=(160, 240), min_width=24.0)
    a, b = gen[5], PlateDetectionScenes(3, long_side=(160, 240), min_width=24.0)[5]
    assert np.array_equal(a.image, b.image) and np.array_equal(a.quads, b.quads)
    scenes = [gen[i] for i in range(12)]
    assert any(len(s.quads) == 0 for s in scenes) or any(len(s.quads) > 1 for s in scenes)
    for s in scenes:
        h, w = s.image.shape[:2]
        assert max(h, w) in range(160, 241) and s.image.dtype == np.uint8
        assert len(s.texts) == len(s.types) == len(s.quads)
        for q in s.quads:
            assert (q >= 0).all() and (q[:, 0] <= w).all() and (q[:, 1] <= h).all()
            width = np.linalg.norm(q[1] - q[0])
            assert width >= 24.0 * 0.8  # perspective shortens a side by at most 25%
            (ax, ay), (bx, by) = q[1] - q[0], q[3] - q[0]
            assert ax * by - ay * bx > 0  # TL->TR then TL->BL: clockwise on the image (y down)


def test_a_pasted_plate_changes_the_pixels_inside_its_quad():
    import cv2

    from calibration.plate_scenes import PlateDetectionScenes

    gen = PlateDetectionScenes(11, long_side=(200, 200), empty=0.0, min_width=60.0, max_plates=1)
    s = next(gen[i] for i in range(20) if len(gen[i].quads) == 1)
    mask = np.zeros(s.image.shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, np.round(s.quads[0]).astype(np.int32), 1)
    inside = s.image[mask == 1].astype(np.float64)
    # a plate holds characters: its pixels vary much more than a smooth gradient's
    assert inside.std(axis=0).mean() > 15


def test_scene_generator_checks_its_arguments():
    from calibration.plate_scenes import PlateDetectionScenes

    with pytest.raises(InvalidArgumentError, match="max_plates"):
        PlateDetectionScenes(0, max_plates=-1)
    with pytest.raises(InvalidArgumentError, match="long_side"):
        PlateDetectionScenes(0, long_side=(300, 100))
    with pytest.raises(InvalidArgumentError, match="mix: no available background"):
        PlateDetectionScenes(0, mix={"easypr": 1.0})  # no EasyPR scenes given


def test_real_scene_backgrounds_keep_their_plates_even_one_past_the_frame(tmp_path):
    import cv2

    from calibration.plate_scenes import PlateDetectionScenes

    img = np.random.default_rng(0).integers(0, 256, (300, 400, 3), np.uint8)
    path = tmp_path / "scene.png"
    cv2.imwrite(str(path), img)
    quads = np.array([[[100, 100], [200, 100], [200, 130], [100, 130]],
                      [[-3, 250], [60, 250], [60, 280], [-3, 280]]], np.float64)  # the second leaves the frame
    gen = PlateDetectionScenes(0, easypr=[(path, quads, ("京A12345", ""))], mix={"easypr": 1.0}, empty=1.0,
                               long_side=(200, 400))
    for i in range(20):
        s = gen[i]
        assert s.source == "easypr" and len(s.quads) == 2 and s.texts == ("京A12345", "")
        # the crop scales and shifts the scene: the labelled plate keeps its aspect ratio
        w = np.linalg.norm(s.quads[0][1] - s.quads[0][0])
        h = np.linalg.norm(s.quads[0][3] - s.quads[0][0])
        assert w / h == pytest.approx(100 / 30, rel=0.02)


def test_the_int8_recipe_keeps_exactly_the_output_convolutions_float(pose_onnx):
    from training.detector import output_convs

    path, built = pose_onnx
    names = output_convs(path)
    assert len(names) == 9  # box (4), score (1) and corner (8) 1x1 heads at 3 strides
    import onnx
    from onnx import numpy_helper

    m = onnx.load(str(path))
    shapes = {i.name: numpy_helper.to_array(i).shape for i in m.graph.initializer}
    outs = sorted(shapes[n.input[1]][0] for n in m.graph.node if n.name in names)
    assert outs == [1, 1, 1, 4, 4, 4, 8, 8, 8]


def test_decode_nodes_are_the_decoding_after_the_heads_and_nothing_that_feeds_them(pose_onnx):
    import onnx

    from training.detector import decode_nodes, output_convs

    path, _ = pose_onnx
    m = onnx.load(str(path))
    tail = set(decode_nodes(path))
    heads = set(output_convs(path))
    assert tail and not tail & heads
    assert not any(n.op_type == "Conv" for n in m.graph.node if n.name in tail)  # no backbone or head conv
    by_name = {n.name: n for n in m.graph.node}
    out = next(n for n in m.graph.node if m.graph.output[0].name in n.output)
    assert out.name in tail  # what writes output0 (the rows of pixels and scores) stays float
    # every node of the tail lies downstream of a head: a walk back from output0 through the tail
    # ends at the output convolutions (or constants), never at a backbone node
    producer = {o: n for n in m.graph.node for o in n.output}
    for name in tail:
        for i in by_name[name].input:
            p = producer.get(i)
            assert p is None or p.name in tail or p.name in heads


@pytest.fixture(scope="module")
def dynamic_pose_onnx(tmp_path_factory):
    torch = pytest.importorskip("torch")
    import exporters
    from exporters.zoo import build

    torch.manual_seed(0)
    built = build("plate_pose", size=96, width=4, neck=8, dynamic_hw=True)  # untrained: the export path only
    built.model.eval()
    path = tmp_path_factory.mktemp("pose_dyn") / "plate_pose_dyn.onnx"
    res = exporters.export_torch(built.model, torch.zeros(1, *built.input_shape), path, **built.export_kwargs())
    return path, built, res


def test_dynamic_hw_export_runs_each_call_on_the_smallest_stride_multiple(dynamic_pose_onnx):
    import torch

    from exporters.zoo import build

    path, built, res = dynamic_pose_onnx
    assert res.config.stride == 32 and {r.inputs for r in res.parity.rows} >= {"random, smaller input"}
    p = Predictor(path, warmup=False, decoder={"conf_threshold": 0.0, "max_det": 5})
    assert p.runner.inputs[0].fixed(2) is None and p.runner.inputs[0].fixed(3) is None
    wide = (np.random.default_rng(1).random((60, 160, 3)) * 255).astype(np.uint8)  # 96 x 36 at 96: 96 x 64 (w x h)
    blob, (t,) = p.preprocess([wide])
    assert blob.shape == (1, 3, 64, 96) and t.scale == pytest.approx((0.6, 0.6)) and t.pad == (0, 14)
    raw = p.infer(blob)[0]
    with torch.no_grad():
        ref = built.model(torch.from_numpy(np.asarray(blob))).numpy()
    np.testing.assert_allclose(raw, ref, rtol=1e-4, atol=1e-3)
    assert raw.shape == (1, 13, 8 * 12 + 4 * 6 + 2 * 3)
    # at the full size it is the static model (the same weights, anchors as a constant)
    static = build("plate_pose", size=96, width=4, neck=8)
    static.model.load_state_dict(built.model.state_dict())
    static.model.eval()
    full = torch.from_numpy(np.asarray(p.preprocess([np.zeros((96, 96, 3), np.uint8)])[0]))
    with torch.no_grad():
        np.testing.assert_allclose(built.model(full).numpy(), static.model(full).numpy(), rtol=1e-6, atol=1e-5)
    # a batch runs at the size that holds all of it; results are in each image's own pixels
    tall = np.ascontiguousarray(wide.transpose(1, 0, 2))
    blob2, (t1, t2) = p.preprocess([wide, tall])
    assert blob2.shape == (2, 3, 96, 96)  # the wide image's 64 rows and the tall one's 96 columns
    assert t1.scale == t.scale and t1.pad == (0, 30) and t2.pad == (30, 0)  # the same scale, more padding
    both = p([wide, tall])
    assert [r.orig_shape for r in both] == [(60, 160), (160, 60)] and all(len(r) == 5 for r in both)


def test_dynamic_hw_is_refused_on_a_model_with_a_static_input(pose_onnx):
    from edgevision.errors import ConfigMismatchError

    path, _ = pose_onnx
    with pytest.raises(ConfigMismatchError, match="preprocess.stride: 32 needs the model's height and width axes dynamic"):
        Predictor(path, warmup=False, preprocess={"stride": 32})
    with pytest.raises(InvalidArgumentError, match="dynamic_hw: expected True or False"):
        from exporters.zoo import build

        build("plate_pose", size=64, width=4, neck=8, dynamic_hw="yes")


def test_the_detector_recipe_starts_from_the_bundled_onnx(tmp_path: Path) -> None:
    """``training.detector --init plate_pose.onnx``: the bundled detector's weights come back from its
    ONNX export (checked against ONNX Runtime), its folded BatchNorms recalibrated on the scenes, so a
    run can go on from a bundled model whose checkpoint is gone; a ``.pt`` state dict loads as before."""
    torch = pytest.importorskip("torch")
    import edgevision
    from exporters.zoo import build
    from training.detector import load_init
    from training.from_onnx import check_against_onnx

    bundled = Path(edgevision.__file__).parent / "models" / "plate_pose.onnx"
    rng = np.random.default_rng(3)
    X = np.kron(rng.integers(0, 256, (4, 12, 12, 3)), np.ones((1, 32, 32, 1))).astype(np.uint8)
    model = build("plate_pose", size=384, width=16).model
    info = load_init(model, bundled, X)
    assert info["weights"] == "plate_pose.onnx" and info["from_onnx"]["max_abs_error"] <= 1e-3
    assert info["from_onnx"]["batchnorm_recalibrated"] > 0 and info["from_onnx"]["recalibration_images"] == 4
    x = np.ascontiguousarray(X[:2][..., ::-1]).transpose(0, 3, 1, 2).astype(np.float32) / 255.0
    assert check_against_onnx(model, bundled, x, atol=1e-3) <= 1e-3  # still the file's function after recalibration
    torch.save(model.state_dict(), tmp_path / "w.pt")
    again = build("plate_pose", size=384, width=16).model
    assert load_init(again, tmp_path / "w.pt", X)["weights"] == "w.pt"
    with torch.no_grad():
        assert torch.allclose(again.eval()(torch.from_numpy(x)), model.eval()(torch.from_numpy(x)))
    with pytest.raises(edgevision.InvalidArgumentError, match="init: .* is not a file"):
        load_init(again, tmp_path / "missing.onnx", X)


def test_a_smaller_detector_starts_from_the_bundled_onnx(tmp_path: Path) -> None:
    """A run at another input size (a 192 second-look model from the 384 bundled detector): the same weights,
    checked against the export on the scenes resized to its size, and the smaller model then computes what a
    model of the export's size computes on the same (resized) scene."""
    torch = pytest.importorskip("torch")
    import cv2

    import edgevision
    from exporters.zoo import build
    from training.detector import load_init

    bundled = Path(edgevision.__file__).parent / "models" / "plate_pose.onnx"
    rng = np.random.default_rng(5)
    X = np.kron(rng.integers(0, 256, (4, 6, 6, 3)), np.ones((1, 32, 32, 1))).astype(np.uint8)   # 192 x 192
    small = build("plate_pose", size=192, width=16).model
    info = load_init(small, bundled, X, width=16)
    assert info["from_onnx"]["max_abs_error"] <= 1e-3 and info["from_onnx"]["recalibration_images"] == 4
    big = build("plate_pose", size=384, width=16).model
    big.load_state_dict(small.state_dict())   # the small model's weights, at the export's size
    up = np.stack([cv2.resize(x, (384, 384), interpolation=cv2.INTER_LINEAR) for x in X[:1]])
    x = np.ascontiguousarray(up[..., ::-1]).transpose(0, 3, 1, 2).astype(np.float32) / 255.0
    from training.from_onnx import check_against_onnx

    assert check_against_onnx(big, bundled, x, atol=1e-3) <= 1e-3


# --- second-look crops (training.detector --crops) ------------------------------------------------


def _coded_image(h: int = 400, w: int = 600) -> np.ndarray:
    """Each pixel holds its own coordinates (x % 256, y % 256, high bits), so a crop tells where it was cut."""
    y, x = np.mgrid[:h, :w]
    return np.stack([x % 256, y % 256, (x // 256) * 16 + y // 256], -1).astype(np.uint8)


def _offset(crop: np.ndarray) -> np.ndarray:
    b, g, r = (int(v) for v in crop[0, 0])
    return np.array([b + 256 * (r // 16), g + 256 * (r % 16)], np.float64)


def test_second_look_crops_frame_a_plate_as_the_reader_does_and_cut_no_plate(monkeypatch):
    import training.detector as td

    img = _coded_image()
    quads = np.array([[[100, 100], [180, 100], [180, 125], [100, 125]],      # 80 x 25: size max(w, 2h) = 80
                      [[150, 140], [230, 140], [230, 165], [150, 165]],      # a neighbour a crop may cut
                      [[400, 300], [480, 300], [480, 325], [400, 325]]], np.float64)
    monkeypatch.setattr(td, "CROP_BACKGROUND", 0.0)
    rng = np.random.default_rng(0)
    sides, cut = [], 0
    for _ in range(40):
        crop, q = td.second_look_crop(img, quads, rng)
        assert np.shares_memory(crop, img) and len(q) >= 1
        off = _offset(crop)
        h, w = crop.shape[:2]
        assert ((q >= 0) & (q <= (w - 1, h - 1))).all()                      # every label inside the crop
        for k in q:                                                           # each is a plate, moved with the crop
            assert any(np.allclose(k + off, p) for p in quads)
        shifted = quads - off
        inside = ((shifted >= 0) & (shifted <= (w - 1, h - 1))).all(2)
        assert len(q) == int(inside.all(1).sum())                            # the plates wholly inside, all of them
        cut += not (inside.all(1) | ~inside.any(1)).all()
        if 0 < off[0] and 0 < off[1] and off[0] + w < 600 and off[1] + h < 400:
            sides.append(max(h, w))
    assert cut <= 4                             # a draw that cuts a plate is redrawn (kept only after CROP_TRIES)
    assert sides and min(sides) >= 2 * 80 - 2 and max(sides) <= 4 * 80 + 2   # CROP_SCALE of the plate size
    a = td.second_look_crop(img, quads, np.random.default_rng(5))
    b = td.second_look_crop(img, quads, np.random.default_rng(5))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])          # deterministic in its rng


def test_second_look_crops_of_a_plate_free_scene_are_plate_sized_windows():
    from training.detector import second_look_crop

    img = _coded_image()
    rng = np.random.default_rng(1)
    for _ in range(20):
        crop, q = second_look_crop(img, np.zeros((0, 4, 2)), rng)
        assert q.shape == (0, 4, 2) and min(crop.shape[:2]) >= 8
        assert max(crop.shape[:2]) <= 4 * 300 + 2   # at most 4 x (half the width)


def test_crop_samples_are_letterboxed_like_scenes_and_deterministic():
    from training.detector import MAX_PLATES, DetectorCropSample

    make = DetectorCropSample(seed=3, size=128, real=None, offset=10)
    (x, y), (x2, y2) = make(0), make(0)
    assert x.shape == (128, 128, 3) and x.dtype == np.uint8 and y.shape == (MAX_PLATES, 8)
    assert np.array_equal(x, x2) and np.array_equal(y, y2, equal_nan=True)
    found = 0
    for i in range(6):
        _, y = make(i)
        q = y[~np.isnan(y[:, 0])]
        found += len(q)
        assert ((q >= -0.5) & (q <= 128.5)).all()
    assert found >= 1


def test_joined_arrays_index_across_both():
    from training.detector import _Joined

    a, b = np.arange(6).reshape(3, 2), 100 + np.arange(4).reshape(2, 2)
    j = _Joined(a, b)
    assert j[np.array([4, 0, 3, 2])].tolist() == [[102, 103], [0, 1], [100, 101], [4, 5]]
    assert j[np.array([1])].tolist() == [[2, 3]]


@pytest.mark.parametrize("bad", ["-0.1", "1", "nan"])
def test_the_detector_recipe_refuses_a_crop_share_outside_0_1(bad: str, tmp_path: Path, capsys) -> None:
    from training.detector import main, train

    with pytest.raises(SystemExit) as e:
        main(["--out", str(tmp_path / "run"), "--crops", bad])
    assert e.value.code == 2 and "--crops must be a share in [0, 1)" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
    with pytest.raises(ValueError, match=r"crops: expected a share in \[0, 1\)"):
        train(tmp_path / "lib", crops=float(bad))
    with pytest.raises(ValueError, match="crop_samples: expected an int >= 1"):
        train(tmp_path / "lib", crops=0.25, crop_samples=0)
    assert not (tmp_path / "lib").exists()


def test_a_detector_run_with_crops_trains_on_both_caches(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from training.detector import train

    s = train(tmp_path / "run", size=64, width=4, samples=8, epochs=1, batch=4, lr=1e-3, seed=2, workers=1,
              threads=1, crops=0.5, crop_samples=4, progress=False, precision="fp32", real=None)
    assert s["crops_per_batch"] == 2 and s["crop_samples"] == 4 and s["steps"] == 2
    assert np.isfinite(s["train_loss_last100"])
    assert len(list((tmp_path / "run" / "crop_cache").glob("*.x.npy"))) == 1


def test_a_fit_run_builds_its_scenes_and_calibration_without_the_validation_scenes(tmp_path: Path, monkeypatch,
                                                                                  capsys) -> None:
    import cv2

    import training.detector as td

    root = tmp_path / "real"
    (root / "easypr" / "images").mkdir(parents=True)
    for i, name in enumerate(["one.jpg", "five.jpg"]):                  # crc32 % 5: 4 (fit), 0 (validation)
        assert cv2.imwrite(str(root / "easypr" / "images" / name), np.full((120, 160, 3), 60 * i, np.uint8))
    (root / "easypr" / "labels.tsv").write_text(
        "#path\ttext\tkind\trect\tdeg\tlocate\n"
        "images/one.jpg\t京A88731\t蓝牌\t60,50,40,10\t0\t1\nimages/five.jpg\t苏E12345\t蓝牌\t60,50,40,10\t0\t1\n",
        encoding="utf-8")
    names = {split: sorted(Path(p).name for p, _, _ in td._generator(3, str(root), split).easypr)
             for split in ("train", "fit")}
    assert names == {"train": ["five.jpg", "one.jpg"], "fit": ["one.jpg"]}
    seen: dict = {}

    class Exported:
        def summary(self) -> str:
            return "exported"

    (tmp_path / "run").mkdir()
    monkeypatch.setattr(td, "train", lambda out, **kw: seen.update(kw) or {"recipe": "detector"})
    monkeypatch.setattr(td, "export", lambda *a, **kw: Exported())
    assert td.main(["--out", str(tmp_path / "run"), "--easypr-split", "fit"]) == 0 and seen["easypr_split"] == "fit"
    with pytest.raises(SystemExit) as e:
        td.main(["--out", str(tmp_path / "run"), "--easypr-split", "validation"])
    assert e.value.code == 2 and "invalid choice: 'validation'" in capsys.readouterr().err
    monkeypatch.undo()
    with pytest.raises(ValueError, match=r"easypr_split: expected one of \['train', 'fit'\]"):
        td.train(tmp_path / "lib", easypr_split="validation")
    with pytest.raises(td.InvalidArgumentError, match=r"easypr_split: expected one of \['train', 'fit'\]"):
        td.quantize_int8(tmp_path / "m.onnx", tmp_path / "q.onnx", easypr_split="test")
    assert not (tmp_path / "lib").exists()


def test_a_relu_detector_is_built_exported_and_starts_from_the_silu_bundled_onnx(tmp_path: Path) -> None:
    """``act="relu"`` (``training.detector --act relu``): every SiLU becomes a ReLU (nothing else changes: the same
    parameters), the export holds Relu nodes and no Sigmoid-times-input activation, and ``--init`` from the bundled
    SiLU export loads its weights, checked by a SiLU twin against ONNX Runtime, into the ReLU model."""
    torch = pytest.importorskip("torch")
    import edgevision
    from exporters.zoo import build
    from training.detector import load_init

    relu = build("plate_pose", size=64, width=4, neck=8, act="relu").model
    silu = build("plate_pose", size=64, width=4, neck=8).model
    assert not any(isinstance(m, torch.nn.SiLU) for m in relu.modules())
    assert sum(isinstance(m, torch.nn.ReLU) for m in relu.modules()) == sum(
        isinstance(m, torch.nn.SiLU) for m in silu.modules()) > 0
    assert [(k, v.shape) for k, v in relu.state_dict().items()] == [(k, v.shape) for k, v in silu.state_dict().items()]
    with pytest.raises(edgevision.InvalidArgumentError, match=r"act: expected one of \['silu', 'relu'\]"):
        build("plate_pose", size=64, width=4, neck=8, act="gelu")
    import exporters
    import onnx

    built = build("plate_pose", size=64, width=4, neck=8, act="relu")
    built.model.eval()
    exporters.export_torch(built.model, torch.zeros(1, *built.input_shape), tmp_path / "relu.onnx",
                           **built.export_kwargs())
    ops = [n.op_type for n in onnx.load(str(tmp_path / "relu.onnx")).graph.node]
    assert ops.count("Relu") == 17 and ops.count("Sigmoid") == 1   # the scores' sigmoid only (after the heads' concat)

    bundled = Path(edgevision.__file__).parent / "models" / "plate_pose.onnx"
    rng = np.random.default_rng(4)
    X = np.kron(rng.integers(0, 256, (2, 12, 12, 3)), np.ones((1, 32, 32, 1))).astype(np.uint8)
    model = build("plate_pose", size=384, width=16, act="relu").model
    info = load_init(model, bundled, X, act="relu")
    assert info["activation"] == "silu" and info["from_onnx"]["max_abs_error"] <= 1e-3
    twin = build("plate_pose", size=384, width=16).model
    load_init(twin, bundled, X)
    for (k, a), (_, b) in zip(model.state_dict().items(), twin.state_dict().items()):
        assert torch.equal(a, b), k


def test_detector_int8_takes_uint8_pixels_when_that_changes_nothing(pose_onnx, tmp_path: Path, monkeypatch) -> None:
    """``training.detector.quantize_int8`` then drops the input's quantization step where every pixel value
    quantizes to itself (calibration.quantize.uint8_input) and takes them channels-last with a zero 4th
    channel (calibration.quantize.channels_last_input): the model decodes as the float-input int8 model
    does, bit for bit; where a check fails, the input stays as it was and a note says so."""
    import calibration._quantize.input_rewrites as rewrites
    import edgevision
    import training.detector as td

    path, _ = pose_onnx
    plain = td.quantize_int8(path, tmp_path / "plain.onnx", count=6, method="minmax", uint8_input=False,
                             channels_last=False)
    q = td.quantize_int8(path, tmp_path / "u8.onnx", count=6, method="minmax")
    assert q.quantization["uint8_input"] is True and q.quantization["channels_last_input"] is True
    a, b = edgevision.Predictor(plain.path), edgevision.Predictor(q.path)
    assert b.runner.inputs[0].dtype == np.uint8 and a.runner.inputs[0].dtype == np.float32
    assert b.config.layout == "NHWC" and b.runner.inputs[0].shape[-1] == 4  # channels_last_input's zero channel
    rng = np.random.default_rng(5)
    for im in [rng.integers(0, 256, (int(h), int(w), 3), np.uint8) for h, w in rng.integers(30, 200, (4, 2))]:
        outs_a = a.runner.infer({a.runner.inputs[0].name: a.preprocess([im])[0]})
        outs_b = b.runner.infer({b.runner.inputs[0].name: b.preprocess([im])[0]})
        for x, y in zip(outs_a, outs_b):
            np.testing.assert_array_equal(x, y)

    def refuse(model, out=None):
        raise td.InvalidArgumentError("model: its input quantization (planted) does not give back the pixel values")

    def refuse_layout(model, out=None):
        raise td.InvalidArgumentError("model: (planted) its input feeds more than convolutions")

    monkeypatch.setattr(rewrites, "channels_last_input", refuse_layout)
    nchw = td.quantize_int8(path, tmp_path / "nchw.onnx", count=6, method="minmax")
    assert nchw.quantization["uint8_input"] is True and "channels_last_input" not in nchw.quantization
    assert any(n.startswith("channels_last_input: kept the input layout") for n in nchw.notes)
    assert edgevision.Predictor(nchw.path).config.layout == "NCHW"

    monkeypatch.setattr(rewrites, "uint8_input", refuse)
    kept = td.quantize_int8(path, tmp_path / "kept.onnx", count=6, method="minmax")
    assert "uint8_input" not in kept.quantization
    assert any(n.startswith("uint8_input: kept the float input") for n in kept.notes)
    assert edgevision.Predictor(kept.path).runner.inputs[0].dtype == np.float32
    assert not list(tmp_path.glob("*.tmp.onnx"))
