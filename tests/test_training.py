"""training/: the recipes run, lower their loss, checkpoint and resume, and export self-describing models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is a host-side extra (pip install -e '.[test]')")

import edgevision  # noqa: E402
from edgevision.errors import InvalidArgumentError  # noqa: E402
from training import lpl, ocr  # noqa: E402
from training.common import Schedule, build_cache, pick_precision  # noqa: E402

TINY = dict(samples=64, batch=16, workers=1, progress=False, threads=1)


def test_lpl_tiny_run_lowers_loss_and_exports(tmp_path: Path) -> None:
    s = lpl.train(tmp_path, size=64, epochs=4, lr=1e-3, precision="fp32", **TINY)
    assert s["steps"] == 16 and s["stopped_by"] == "epochs" and s["precision"] == "fp32"
    assert s["loss_last"] < 0.7 * s["loss_first"], s
    assert (tmp_path / "lpl_resnet18.pt").exists() and (tmp_path / "checkpoints" / "last.pt").exists()
    res = lpl.export(tmp_path / "m.onnx", tmp_path / "lpl_resnet18.pt", size=64, summary=s)
    cfg = edgevision.ModelConfig.read(res.path)
    assert cfg.task == "keypoints" and cfg.extra["training"]["steps"] == 16
    assert cfg.extra["training"]["data"]["seed"] == 0
    r = edgevision.Predictor(str(res.path))(np.zeros((100, 200, 3), np.uint8))
    assert r.keypoints.shape == (4, 2)


def test_lpl_bf16_mixed_precision_lowers_loss_and_saves_float32_weights(tmp_path: Path) -> None:
    """bf16 autocast (the default where the CPU has AVX-512 BF16/AMX): same loop, float32 weights out."""
    s = lpl.train(tmp_path, size=64, epochs=4, lr=1e-3, precision="bf16", **TINY)
    assert s["precision"] == "bf16" and s["steps"] == 16
    assert s["loss_last"] < 0.7 * s["loss_first"], s
    state = torch.load(tmp_path / "lpl_resnet18.pt", weights_only=True)
    assert all(v.dtype == torch.float32 for k, v in state.items() if v.is_floating_point())
    assert all(v.is_contiguous() for v in state.values())  # channels-last training, plain layout saved
    res = lpl.export(tmp_path / "m.onnx", tmp_path / "lpl_resnet18.pt", size=64, summary=s)
    assert edgevision.ModelConfig.read(res.path).extra["training"]["precision"] == "bf16"


def test_pick_precision() -> None:
    assert pick_precision("fp32", "cpu") == "fp32"
    assert pick_precision("bf16", "cpu") == "bf16"
    assert pick_precision("auto", "cpu") in ("fp32", "bf16")
    assert pick_precision(None, "cpu") == pick_precision("auto", "cpu")
    with pytest.raises(InvalidArgumentError, match="precision: expected 'fp32', 'bf16' or 'auto', got 'fp16'"):
        pick_precision("fp16", "cpu")


def test_lpl_resume_continues_from_checkpoint(tmp_path: Path) -> None:
    a = lpl.train(tmp_path, size=64, epochs=1, **TINY)
    assert a["steps"] == 4
    b = lpl.train(tmp_path, size=64, epochs=2, resume=True, **TINY)
    assert b["steps"] == 8  # 4 restored + 4 new
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=False)
    assert state["step"] == 8


def test_ocr_tiny_run_lowers_loss(tmp_path: Path) -> None:
    s = ocr.train(tmp_path, num_slots=8, epochs=8, lr=3e-3, **TINY)
    assert s["steps"] == 32
    assert s["loss_last"] < 0.95 * s["loss_first"], s  # cross-entropy starts near ln(35) = 3.56


def test_ocr_ctc_tiny_run_lowers_loss_and_exports_a_ctc_model(tmp_path: Path) -> None:
    from exporters.zoo.torch_models import PLATE_CTC_CHARSET

    s = ocr.train(tmp_path, num_slots=8, epochs=8, lr=3e-3, head="ctc", precision="fp32", **TINY)
    assert s["steps"] == 32 and (s["head"], s["arch"]) == ("ctc", "plate_ocr_ctc")
    assert s["loss_last"] < 0.8 * s["loss_first"], s
    res = ocr.export(tmp_path / "m.onnx", tmp_path / "plate_ocr_ctc.pt", summary=s, head="ctc")
    cfg = edgevision.ModelConfig.read(res.path)
    assert cfg.task == "ctc_ocr" and cfg.decoder["blank"] == 0 and cfg.decoder["rows"]["output"] == "rows"
    assert tuple(cfg.charset) == PLATE_CTC_CHARSET
    r = edgevision.Predictor(str(res.path))(np.zeros((36, 136, 3), np.uint8))
    assert isinstance(r.text, str) and len(r.text) <= 32 and r.rows in (1, 2)
    with pytest.raises(InvalidArgumentError, match="head: expected one of slots, ctc, got 'attn'"):
        ocr.train(tmp_path, head="attn", **TINY)


def test_ctc_targets_map_slot_labels_to_the_ctc_charset() -> None:
    from exporters.zoo.torch_models import PLATE_CTC_CHARSET

    labels = np.stack([ocr.encode_text("皖A12345", 8), ocr.encode_text("苏E12345警", 8),
                       np.full(8, ocr.IGNORE)])
    tgt, n = ocr.ctc_targets(labels)
    assert n.tolist() == [7, 8, 0]
    assert "".join(PLATE_CTC_CHARSET[k - 1] for k in tgt[0, :7]) == "皖A12345" and tgt[0, 7] == 0
    assert "".join(PLATE_CTC_CHARSET[k - 1] for k in tgt[1]) == "苏E12345警"
    assert (tgt[2] == 0).all()
    logits = torch.full((2, 6, len(PLATE_CTC_CHARSET) + 1), -5.0)
    for t, k in enumerate([3, 3, 0, 3, 5, 0]):  # a repeat kept by a blank, runs merged
        logits[0, t, k] = 5.0
    logits[1, :, 0] = 5.0  # all blank
    assert ocr.ctc_greedy(logits) == [[3, 3, 5], []]


def test_ctc_model_starts_from_a_slots_model(tmp_path: Path) -> None:
    from exporters.zoo import build
    from exporters.zoo.torch_models import PLATE_CTC_CHARSET, PLATE_PROVINCES, PLATE_SYMBOLS

    slots = build("plate_ocr_crnn", num_slots=8).model
    torch.save(slots.state_dict(), tmp_path / "slots.pt")
    ctc = build("plate_ocr_ctc", num_slots=8).model
    got = ocr._load_init(ctc, tmp_path / "slots.pt", np.zeros((1, 64, 256, 3), np.uint8))
    assert got["fresh"] == [] and got["ctc_head"] == "from the slots heads"
    torch.testing.assert_close(ctc.cnn[0].weight, slots.cnn[0].weight)
    k = PLATE_CTC_CHARSET.index("苏") + 1
    torch.testing.assert_close(ctc.ctc.weight[k], slots.province.weight[PLATE_PROVINCES.index("苏")])
    torch.testing.assert_close(ctc.ctc.bias[PLATE_CTC_CHARSET.index("7") + 1],
                               slots.symbols.bias[PLATE_SYMBOLS.index("7")])
    torch.testing.assert_close(ctc.ctc.weight[0], slots.symbols.weight[PLATE_SYMBOLS.index("")])  # the blank
    assert ctc(torch.zeros(2, 3, 64, 256))[0].shape == (2, 32, len(PLATE_CTC_CHARSET) + 1)
    assert not ocr.ctc_head_from_slots(slots, slots.state_dict())  # a slots model has no CTC head
    torch.save(ctc.state_dict(), tmp_path / "ctc.pt")  # a CTC model's own head loads as it is
    again = ocr._load_init(build("plate_ocr_ctc", num_slots=8).model, tmp_path / "ctc.pt", np.zeros((1, 64, 256, 3), np.uint8))
    assert again["fresh"] == [] and "ctc_head" not in again


def test_samples_are_deploy_preprocessed_and_deterministic() -> None:
    from calibration.synth import PlateSceneGenerator

    x, y = lpl.LPLSample(0, 64)(3)
    x2, y2 = lpl.LPLSample(0, 64)(3)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    s = PlateSceneGenerator(seed=0)[3]
    blob, t = edgevision.letterbox(s.image, 64, dtype="uint8", layout="NHWC", scale=1.0)
    np.testing.assert_array_equal(x, blob[0])
    np.testing.assert_allclose(y.reshape(4, 2) * 64, t.to_input(s.corners), atol=1e-4)
    assert ((y >= 0) & (y <= 1)).all()
    crop, label = ocr.OCRSample(0, 8)(3)
    assert crop.shape == (64, 256, 3) and crop.dtype == np.uint8
    assert label.shape == (9,)


def test_ocr_samples_show_two_row_plates_split_or_whole() -> None:
    from calibration.synth import jitter_corners, plate_crop
    from edgevision.plates import rectify_rows

    gen = ocr._ocr_generator(0)
    doubles = [i for i in range(60) if gen[i].plate_type == "yellow_double"][:8]
    singles = [i for i in range(60) if gen[i].plate_type != "yellow_double"][:3]
    assert len(doubles) == 8
    seen = set()
    for i in doubles:
        crop, label = ocr.OCRSample(0, 8)(i)
        s, rng = gen[i], np.random.default_rng([0, i, 7])
        if label[8] == 1:  # shown whole: rows "two", no text target
            assert (label[:8] == ocr.IGNORE).all()
            rng.random()
            np.testing.assert_array_equal(crop, plate_crop(s.image, s.corners, size=(64, 256), jitter=ocr.JITTER,
                                                           rng=rng))
        else:  # rows side by side: the text is the target
            np.testing.assert_array_equal(label[:8], ocr.encode_text(s.text, 8))
            rng.random()
            q = jitter_corners(s.corners, ocr.JITTER, rng)
            np.testing.assert_array_equal(crop, rectify_rows(s.image, q, (64, 256)))
        seen.add(int(label[8]))
    assert seen == {0, 1}
    for i in singles:
        _, label = ocr.OCRSample(0, 8)(i)
        assert label[8] == 0 and (label[:8] >= 0).all()


def test_encode_text() -> None:
    from exporters.zoo.torch_models import PLATE_PROVINCES, PLATE_SYMBOLS

    idx = ocr.encode_text("皖A12345", 8)
    assert PLATE_PROVINCES[idx[0]] == "皖"
    assert "".join(PLATE_SYMBOLS[i] for i in idx[1:]) == "A12345"
    assert PLATE_SYMBOLS[idx[7]] == ""
    with pytest.raises(InvalidArgumentError, match="position 0"):
        ocr.encode_text("A123456", 8)
    with pytest.raises(InvalidArgumentError, match="position 3"):
        ocr.encode_text("皖A1I345", 8)
    with pytest.raises(InvalidArgumentError, match="expected 1..7 characters"):
        ocr.encode_text("皖A123456", 7)


def test_cache_is_reused_and_keyed(tmp_path: Path) -> None:
    calls = []

    def make(i: int):
        calls.append(i)
        return np.full((2,), i, np.uint8), np.array([i], np.int64)

    x, y = build_cache(tmp_path, make, 5, key={"v": 1}, workers=1, progress=False)
    assert x[:, 0].tolist() == [0, 1, 2, 3, 4]
    n = len(calls)
    build_cache(tmp_path, make, 5, key={"v": 1}, workers=1, progress=False)
    assert len(calls) == n  # cache hit: nothing regenerated in this process
    x3, _ = build_cache(tmp_path, make, 3, key={"v": 2}, workers=1, progress=False)
    assert x3.shape == (3, 2)


def test_schedule_warms_up_then_anneals() -> None:
    s = Schedule(1.0, total_steps=100, budget_s=None)
    assert s.lr(0) == pytest.approx(0.1)
    assert s.lr(5) == pytest.approx(1.0)
    assert s.lr(50) < s.lr(10)
    assert s.lr(100) == pytest.approx(0.01)
    assert s.progress(100) == 1.0


def test_bundle_writes_variants_and_card(tmp_path: Path) -> None:
    """A tiny trained run -> fp32/fp16/int8 + model card with the variant table (the bundling pipeline)."""
    import json

    from training.bundle import bundle

    run = tmp_path / "run"
    s = lpl.train(run, size=64, epochs=1, **TINY)
    res = lpl.export(run / "lpl_resnet18.onnx", run / "lpl_resnet18.pt", size=64, summary=s)
    doc = {"recipe": "lpl", "train": s, "command": "python -m training lpl (test)",
           "export": {"path": str(res.path), "size_mb": res.size_mb, "parity": res.parity.to_dict()},
           "heldout": {"count": 4, "details": {"mae_norm": 0.5}}}
    (run / "summary.json").write_text(json.dumps(doc))
    out = tmp_path / "models"
    r = bundle(run, "tiny_lpl", tolerance=10.0, calib_count=8, val_count=4, eval_count=4, runs=2, out_dir=out)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["tiny_lpl.md", "tiny_lpl.onnx", "tiny_lpl_int8.onnx"]  # fp16 is measured, not bundled
    variants = [row["variant"] for row in r["report"]["rows"]]
    assert variants[:3] == ["fp32", "fp16", "static int8 (accuracy-aware)"]
    assert "dynamic int8" in variants and "quantize_static defaults" in variants
    assert [v for v in variants if v.startswith("static int8 (") and "aware" not in v] == [
        "static int8 (minmax)", "static int8 (entropy)", "static int8 (percentile)", "static int8 (distribution)"]
    card = (out / "tiny_lpl.md").read_text()
    assert "synthetic-data figures" in card and "| static int8 (accuracy-aware) |" in card
    assert "| plate type | scenes | mae_norm | mae_px | max_norm |" in card
    q = edgevision.ModelConfig.read(out / "tiny_lpl_int8.onnx").extra["quantization"]
    assert q["format"] == "U8S8"
    assert edgevision.Predictor(str(out / "tiny_lpl_int8.onnx"))(np.zeros((50, 80, 3), np.uint8)).keypoints.shape == (4, 2)


def test_card_reports_legible_plates_beside_the_occlusion_table() -> None:
    from training.cards import _by_type_table, _legible

    assert _legible(None) == "" and _legible({}) == ""
    line = _legible({"count": 461, "exact_match": 0.99349, "cer": 0.0012, "chars": 3340, "edits": 4})
    assert "Legible plates only (461 scenes" in line and "exact match 0.9935, CER 0.0012" in line
    assert "ILLEGIBLE_OCCLUSION" in line
    table = _by_type_table({"none": {"count": 3, "exact_match": 1.0, "cer": 0.0},
                            "illegible": {"count": 1, "exact_match": 0.0, "cer": 0.25}}, "slots_ocr",
                           title="By occlusion", column="occlusion")
    assert "| illegible | 1 | 0 | 0.25 |" in table and table.index("| none |") < table.index("| illegible |")


def test_real_mixture_run_bundles_with_a_real_data_section(tmp_path: Path) -> None:
    """``training ocr --mix real`` on a fixture EasyPR folder, then ``training.bundle``: the int8
    model is calibrated and steered on the run's own mixture, and the card puts the real-data
    figures (here the repository's CCPD samples) before the synthetic ones."""
    import json
    import shutil

    from tests.test_plate_synth import _easypr_tree
    from training.bundle import bundle

    easypr, _ = _easypr_tree(tmp_path)
    run = tmp_path / "run"
    s = ocr.train(run, epochs=1, lr=1e-4, precision="fp32", mix="real", easypr_root=easypr, chars_root=None,
                  init=Path(edgevision.__file__).parent / "models" / "plate_ocr.onnx", head="ctc", **TINY)
    assert s["data"]["mix"] == {"name": "real", "shares": ocr.MIXES["real"]}
    assert s["data"]["easypr"] == {"root": str(easypr), "split": "train"}
    res = ocr.export(run / "plate_ocr_ctc.onnx", run / "plate_ocr_ctc.pt", summary=s, head="ctc")
    doc = {"recipe": "ocr", "train": s, "command": "python -m training ocr --mix real (test)",
           "export": {"path": str(res.path), "size_mb": res.size_mb, "parity": res.parity.to_dict()},
           "heldout": {"count": 4, "details": {"exact_match": 0.5}}}
    (run / "summary.json").write_text(json.dumps(doc))
    real = tmp_path / "real"
    shutil.copytree(Path(__file__).parent / "data" / "real_ccpd", real / "ccpd")
    out = tmp_path / "models"
    before = tmp_path / "plate_ocr_before_int8.onnx"
    shutil.copyfile(Path(edgevision.__file__).parent / "models" / "plate_ocr_int8.onnx", before)
    with pytest.raises(InvalidArgumentError, match="compare: .*nothing.onnx is not a file"):
        bundle(run, "plate_ocr", tolerance=1.0, out_dir=out, compare=[tmp_path / "nothing.onnx"])
    r = bundle(run, "plate_ocr", tolerance=1.0, calib_count=8, val_count=4, eval_count=4, runs=2, out_dir=out,
               methods=("minmax",), real_dir=str(real), compare=[before])
    card = (out / "plate_ocr.md").read_text()
    assert "measured in the same run: `plate_ocr_before_int8.onnx`" in card
    assert card.count("plate_ocr_before_int8.onnx (") >= 1  # its own table of the real sets
    assert card.index("## Real photographs") < card.index("## Held-out synthetic set")
    assert "| ccpd (quad) | 5 |" in card and "crops (evaluation only)" in card and "not found" in card
    assert "training mixture (real:" in card and "`easypr` the real EasyPR plates of the `train` split" in card
    assert r["accuracy_aware"]["ok"]


def test_meter_screen_heatmap_targets_centre_on_the_corners() -> None:
    import torch

    from training.meter_screen import heatmap_loss, heatmap_targets

    pts = torch.tensor([[0.30, 0.40, 0.71, 0.52, 0.47, 0.55, 0.12, 0.9]])       # 4 corners, normalized x, y
    t = heatmap_targets(pts, 16, 16, sigma=1.0)                                  # (1, 16, 16, 4)
    assert t.shape == (1, 16, 16, 4)
    np.testing.assert_allclose(t.sum(dim=(1, 2)).numpy(), 1.0, atol=1e-6)
    rows, cols = np.meshgrid((np.arange(16) + 0.5) / 16, (np.arange(16) + 0.5) / 16, indexing="ij")
    for k, (x, y) in enumerate(pts.reshape(4, 2).numpy()):
        m = t[0, :, :, k].numpy()
        r, c = np.unravel_index(m.argmax(), m.shape)
        assert (r, c) == (int(y * 16), int(x * 16))                              # the cell that holds the point
        if 0.2 < x < 0.8 and 0.2 < y < 0.8:                                     # away from the border: centroid = point
            assert float((m * cols).sum()) == pytest.approx(float(x), abs=1e-3)
            assert float((m * rows).sum()) == pytest.approx(float(y), abs=1e-3)
    # the loss is lowest for heatmaps that are the targets, and grows as they move away
    at = torch.log(t.clamp_min(1e-12))
    moved = torch.roll(at, shifts=2, dims=2)
    assert float(heatmap_loss(at, pts)) < float(heatmap_loss(moved, pts)) < float(
        heatmap_loss(torch.roll(at, shifts=5, dims=2), pts))


def test_meter_screen_refine_samples_are_the_readers_crops_with_the_labelled_corners() -> None:
    """``--refine``: each sample is ``edgevision.meters.screen_crop`` around the labelled quad with its noise (RGB),
    deterministic per seed, and its label is the labelled corners in the crop's normalized coordinates."""
    from calibration.meter_synth import METER_CLASSES, render_scene
    from edgevision.meters import screen_crop
    from training.meter_screen import REFINE_JITTER, REFINE_SCALE_RANGE, VAL_BASE, make_refine_sample, refine_samples

    for i in range(3):
        x, y = make_refine_sample(i, base=VAL_BASE, size=(128, 128))
        x2, y2 = make_refine_sample(i, base=VAL_BASE, size=(128, 128))
        np.testing.assert_array_equal(x, x2)
        np.testing.assert_array_equal(y, y2)
        s = render_scene(VAL_BASE + i)
        rng = np.random.default_rng([VAL_BASE + i, 17])
        pts = np.asarray(s.corners, np.float64)
        ext = float(np.ptp(pts, axis=0).max())
        noisy = pts + rng.normal(0, REFINE_JITTER * ext, (4, 2)) + rng.normal(0, REFINE_JITTER * ext, 2)
        crop, origin, k = screen_crop(s.image, noisy, 128, float(rng.uniform(*REFINE_SCALE_RANGE)))
        np.testing.assert_array_equal(x, crop[..., ::-1])
        np.testing.assert_allclose(origin + y[:8].reshape(4, 2) * 128 * k, pts, atol=1e-3)
        assert y[8] == METER_CLASSES.index(s.meter_class)
    v = refine_samples(2, VAL_BASE)
    first = make_refine_sample(0, base=VAL_BASE, size=(128, 128))
    np.testing.assert_allclose(v[0].corners, first[1][:8].reshape(4, 2) * 128)
    np.testing.assert_array_equal(v[0].image, first[0][..., ::-1])
    assert v[0].image.shape == (128, 128, 3) and v[1].meter_class in METER_CLASSES


def test_meter_screen_bundle_refine_quantizes_and_copies_the_second_look(tmp_path: Path) -> None:
    from exporters import zoo
    from exporters.keras_export import export_keras
    from training.meter_screen import REFINE_FAMILY, bundle_refine

    with pytest.raises(InvalidArgumentError, match="run_dir: expected .*meter_corners_refine.onnx"):
        bundle_refine(tmp_path, out_dir=tmp_path / "out")
    hm = zoo.build("meter_corners", pool="heatmap", backbone_width=4, hidden=16, size=64)
    export_keras(hm.model, tmp_path / f"{REFINE_FAMILY}.onnx", **{**hm.export_kwargs(), "name": REFINE_FAMILY})
    res = bundle_refine(tmp_path, out_dir=tmp_path / "out", calib_count=8, val_count=4, tolerance=10.0)
    assert res["quantization"]["ok"] and res["quantization"]["metric"] == "mae_norm"
    cfg = edgevision.ModelConfig.read(tmp_path / "out" / f"{REFINE_FAMILY}_int8.onnx")
    assert cfg.name == REFINE_FAMILY and cfg.extra["quantization"]["mode"] == "static"
    assert (tmp_path / "out" / f"{REFINE_FAMILY}.onnx").is_file()


def test_meter_screen_rejects_an_unknown_head(tmp_path: Path) -> None:
    from training import meter_screen

    with pytest.raises(InvalidArgumentError, match="pool: expected one of heatmap, flatten"):
        meter_screen.train(tmp_path, samples=4, pool="dense", workers=1)
    with pytest.raises(InvalidArgumentError, match="size"):
        meter_screen.train(tmp_path, samples=4, size=8, workers=1)


def test_meter_screen_keeps_the_heatmap_head_float(tmp_path: Path) -> None:
    import onnx

    from exporters import zoo
    from exporters.keras_export import export_keras
    from training.meter_screen import soft_argmax_nodes

    hm = zoo.build("meter_corners", pool="heatmap", backbone_width=4, hidden=16, size=64)
    path = export_keras(hm.model, tmp_path / "hm.onnx", **hm.export_kwargs()).path
    names = soft_argmax_nodes(path)
    ops = {n.name: n.op_type for n in onnx.load(str(path)).graph.node}
    kinds = [ops[n] for n in names]
    assert kinds.count("Conv") == 1 and kinds.count("Softmax") == 1 and kinds.count("MatMul") == 1
    assert set(kinds) <= {"Conv", "Softmax", "MatMul", "Reshape", "Transpose"}
    # the class head's softmax (after a dense layer) is not a heatmap's: a dense model has none to keep
    dense = zoo.build("meter_corners", pool="flatten", backbone_width=4, hidden=16, size=64)
    assert soft_argmax_nodes(export_keras(dense.model, tmp_path / "d.onnx", **dense.export_kwargs()).path) == []


def _tiny_meter_real(tmp_path: Path) -> Path:
    """A ``real`` folder for the meter recipes from the committed samples: each drum crop copied to 6 names
    (3 held out, 2 validation, 1 fit per position), the 3 LCD photos as they are."""
    import shutil

    from calibration.meter_real import DRUM_DIR, LCD_DIR

    data = Path(__file__).parent / "data" / "meters"
    real = tmp_path / "real"
    for folder in (f for f in (data / "drum").iterdir() if f.is_dir()):
        dst = real / DRUM_DIR / folder.name
        dst.mkdir(parents=True)
        src = next(folder.iterdir())
        for i in range(6):
            shutil.copy(src, dst / f"{folder.name}_{i}.jpg")
    shutil.copytree(data / "lcd", real / LCD_DIR)
    return real


def test_meter_digit_cls_fit_split_scores_the_validation_drums(tmp_path: Path) -> None:
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")  # what the training recipes run on
    pytest.importorskip("keras")
    from training.meter_digits import export, train_cls

    real = _tiny_meter_real(tmp_path)
    s = train_cls(tmp_path / "run", synth_screens=2, epochs=2, batch=32, drum_copies=2, real=str(real),
                  width=8, pool="rows", drum_split="fit", drum_shift=0.12, drum_scale=0.15)
    assert s["arch"]["pool"] == "rows" and s["drum_split"] == "fit"
    assert (s["drum_shift"], s["drum_scale"]) == (0.12, 0.15)
    assert s["data"]["real_drum_train"] == 10 * 1 * 2  # the fit file of each position, 2 copies
    val = s["validation"]
    assert val["drums"] == 20 and [e["epoch"] for e in val["by_epoch"]] == [1, 2]
    assert all(0.0 <= e["nearest_digit_accuracy"] <= 1.0 and 0.0 <= e["mae_steps"] <= 5.0 for e in val["by_epoch"])
    onnx_path = export("cls", tmp_path / "run" / "meter_digit_cls.weights.h5", tmp_path / "cls.onnx")
    probs = edgevision.Predictor(str(onnx_path)).infer(np.zeros((3, 32, 20, 3), np.float32))[0]
    assert np.asarray(probs).shape == (3, 10)
    with pytest.raises(InvalidArgumentError, match="drum_split: expected 'train' or 'fit'"):
        train_cls(tmp_path / "bad", synth_screens=1, epochs=1, real=str(real), drum_split="heldout")


def test_real_drum_jitter_is_seeded_and_zero_jitter_keeps_the_geometry(tmp_path: Path) -> None:
    from training.meter_digits import DRUM_SCALE, DRUM_SHIFT, real_drum_samples

    real = str(_tiny_meter_real(tmp_path))
    a = real_drum_samples("fit", real, copies=3, seed=4)
    b = real_drum_samples("fit", real, copies=3, seed=4, shift=DRUM_SHIFT, scale=DRUM_SCALE)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])  # the defaults are the constants
    c = real_drum_samples("fit", real, copies=3, seed=4, shift=0.3, scale=0.3)
    assert not np.array_equal(a[0][1::3], c[0][1::3]) and np.array_equal(a[0][::3], c[0][::3])  # copy 0: as it is
