"""calibration.data: calibration tensors through exactly the deploy preprocessing, from
every source kind, with selection, the cache, bad-image reporting and fit errors."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import models
import numpy as np
import pytest

import edgevision
from calibration.ccpd import CCPDLabel, format_ccpd_name
from calibration.data import CalibrationReader, CalibrationSet, select_indices
from calibration.errors import DatasetNotFoundError, EmptyDatasetError
from edgevision.config import ModelConfig
from edgevision.errors import (
    ConfigMismatchError,
    InvalidArgumentError,
    InvalidTypeError,
    MissingConfigError,
)

PRE = {"size": [64, 96], "mean": 0.5, "std": 0.25, "swap_rb": True}


@dataclass
class Labelled:
    image: Any
    corners: Any = None
    text: str | None = None
    plate_type: str | None = None


def _image(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("calib_data")


@pytest.fixture(scope="module")
def kp_model(tmp) -> str:
    path = models.save(models.keypoints_model(), tmp / "kp.onnx")
    ModelConfig.from_dict({"task": "keypoints", "preprocess": PRE, "decoder": {"num_keypoints": 4}}).write(path)
    return path


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    return [_image(40 + 10 * i, 90 - 5 * i, i) for i in range(6)]


def _deploy(images: list[np.ndarray]) -> np.ndarray:
    size = tuple(PRE["size"])
    kw = {k: v for k, v in PRE.items() if k != "size"}
    return edgevision.letterbox_batch(images, size, layout="NCHW", dtype="float32", **kw)[0]


# --- sources ---------------------------------------------------------------------------------


def test_list_of_arrays_gives_the_deploy_tensors(kp_model, images):
    cs = CalibrationSet.from_source(kp_model, images, count=4, seed=3)
    assert cs.tensors.shape == (4, 3, 64, 96) and cs.tensors.dtype == np.float32
    assert cs.input_name == "images" and cs.batch_size is None
    idx = [int(w[len("source["):-1]) for w in cs.report.items]
    assert len(set(idx)) == 4 and idx == sorted(idx)
    np.testing.assert_array_equal(cs.tensors, _deploy([images[i] for i in idx]))  # bit-exact: the same kernel
    r = cs.report
    assert (r.kind, r.available, r.requested, r.used, r.unreadable, r.cache) == ("list", 6, 4, 4, 0, "off")
    assert cs.info() == {"source": "<list of 6>", "count": 4, "seed": 3, "strategy": "random"}
    # the same seed selects the same images; another seed (usually) others
    again = CalibrationSet.from_source(kp_model, images, count=4, seed=3)
    assert again.report.items == r.items


def test_image_folder_skips_and_reports_a_corrupt_image(kp_model, images, tmp):
    folder = tmp / "folder"
    folder.mkdir()
    for i, im in enumerate(images[:3]):
        cv2.imwrite(str(folder / f"{i}.png"), im)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    (folder / "notes.txt").write_text("not an image")
    cs = CalibrationSet.from_source(kp_model, folder, count=10)
    r = cs.report
    assert (r.kind, r.available, r.used, r.unreadable) == ("images", 4, 3, 1)
    assert "broken.jpg" in r.unreadable_examples[0] and "cannot decode" in r.unreadable_examples[0]
    assert any("only 3 readable images" in n for n in r.notes)
    assert r.read_report["counts"] == {"skipped": 1}  # the .txt file, as the reader reports it
    assert "1 unreadable skipped" in r.summary()
    assert r.items == [str(folder / f"{i}.png") for i in range(3)]  # tensors in source order
    np.testing.assert_array_equal(cs.tensors, _deploy([cv2.imread(str(folder / f"{i}.png")) for i in range(3)]))


def test_a_corrupt_image_is_replaced_by_the_next_candidate(kp_model, images, tmp):
    folder = tmp / "folder2"
    folder.mkdir()
    for i, im in enumerate(images):
        cv2.imwrite(str(folder / f"{i}.png"), im)
    (folder / "0.png").write_bytes(b"garbage")
    cs = CalibrationSet.from_source(kp_model, folder, count=5, seed=0)
    assert cs.report.used == 5 and cs.report.unreadable == 1 and str(folder / "0.png") not in cs.report.items


def _manifest(tmp: Path, name: str, types: list[str | None]) -> Path:
    d = tmp / name
    (d / "imgs").mkdir(parents=True)
    lines = []
    for i, t in enumerate(types):
        cv2.imwrite(str(d / "imgs" / f"{i}.png"), _image(60, 90, 100 + i))
        lines.append(json.dumps({"image": f"imgs/{i}.png", "plate_type": t,
                                 "corners": [[10, 10], [60, 12], [61, 40], [9, 38]]}))
    (d / "labels.jsonl").write_text("\n".join(lines) + "\n")
    return d / "labels.jsonl"


def test_manifest_and_stratified_selection(kp_model, tmp):
    path = _manifest(tmp, "man", ["blue"] * 6 + ["green"] * 2)
    random = CalibrationSet.from_source(kp_model, path, count=4, seed=1)
    assert random.report.kind == "manifest" and random.report.used == 4
    strat = CalibrationSet.from_source(kp_model, path, count=4, seed=1, strategy="stratified")
    assert strat.report.plate_types == {"blue": 2, "green": 2}
    assert strat.report.strategy == "stratified"
    # asked for more than the small group holds: the rest comes from the big one
    big = CalibrationSet.from_source(kp_model, path, count=6, strategy="stratified")
    assert big.report.plate_types == {"blue": 4, "green": 2}


def test_select_indices():
    types = ["a", "a", "a", "a", "b", None]
    order = select_indices(types, 0, "stratified")
    assert sorted(order) == list(range(6))
    assert {types[i] for i in order[:3]} == {"a", "b", None}  # round robin: one of each group first
    assert select_indices(types, 5, "random") == select_indices(types, 5, "random")
    assert sorted(select_indices(types, 5, "random")) == list(range(6))
    with pytest.raises(InvalidArgumentError, match="strategy"):
        select_indices(types, 0, "balanced")


def test_ccpd_folder(kp_model, tmp):
    folder = tmp / "ccpd"
    folder.mkdir()
    for i, text in enumerate(["皖A12345", "皖AD12345"]):  # 7 chars: blue, 8: green
        corners = np.array([[20, 20], [70, 22], [70, 40], [20, 38]], float)
        label = CCPDLabel(corners, (20, 20, 70, 40), text, (0, 0), 0.1, 100, 10)
        cv2.imwrite(str(folder / format_ccpd_name(label)), _image(60, 90, i))
    cs = CalibrationSet.from_source(kp_model, folder, count=2, strategy="stratified")
    assert cs.report.kind == "ccpd" and cs.report.plate_types == {"blue": 1, "green": 1}


def test_synth_sources(kp_model):
    cs = CalibrationSet.from_source(kp_model, "synth:5", count=3)
    assert cs.tensors.shape == (3, 3, 64, 96)
    assert cs.report.source == "synth:5" and cs.report.kind == "synth"
    assert cs.report.items == ["synth[0]", "synth[1]", "synth[2]"]
    from calibration.synth import PlateSceneGenerator

    gen = PlateSceneGenerator(seed=5)
    np.testing.assert_array_equal(cs.tensors, _deploy([gen[i].image for i in range(3)]))
    assert CalibrationSet.from_source(kp_model, "synth", count=1, seed=5).report.source == "synth:5"
    strat = CalibrationSet.from_source(kp_model, "synth:2", count=8, strategy="stratified")
    assert strat.report.plate_types == {"blue": 2, "green": 2, "yellow": 2, "yellow_double": 2}
    with pytest.raises(InvalidArgumentError, match="synth:SEED"):
        CalibrationSet.from_source(kp_model, "synth:-1")


def test_ocr_models_get_the_plate_crop(tmp):
    from calibration.synth import PlateSceneGenerator, plate_crop

    path = models.save(models.constant_output_model("ctc", np.zeros((1, 5, 4), np.float32), h=16, w=48),
                       tmp / "ctc.onnx")
    ModelConfig.from_dict({"task": "ctc_ocr", "charset": list("AB1"),
                           "preprocess": {"size": [16, 48], "mode": "stretch"}}).write(path)
    gen = PlateSceneGenerator(seed=9)
    samples = [gen[0], gen[1], Labelled(_image(16, 48, 3))]  # the last has no corners: taken whole
    cs = CalibrationSet.from_source(path, samples, count=3)
    assert cs.report.cropped == 2
    by_item = {w: t for w, t in zip(cs.report.items, cs.tensors)}
    crop = plate_crop(gen[1].image, gen[1].corners, size=(16, 48))
    expect = edgevision.letterbox_batch([crop], (16, 48), mode="stretch")[0][0]
    np.testing.assert_array_equal(by_item["source[1]"], expect)


# --- cache -------------------------------------------------------------------------------------


def test_cache_hit_and_misses(kp_model, images, tmp):
    cache = tmp / "cache"
    a = CalibrationSet.from_source(kp_model, images, count=3, cache_dir=cache)
    assert a.report.cache == "miss" and Path(a.report.cache_path).is_file()
    b = CalibrationSet.from_source(kp_model, images, count=3, cache_dir=cache)
    assert b.report.cache == "hit" and b.report.cache_path == a.report.cache_path
    np.testing.assert_array_equal(a.tensors, b.tensors)
    assert b.report.items == a.report.items and b.report.used == 3
    # a changed preprocessing config, count, seed or source misses
    other = models.save(models.keypoints_model(), tmp / "kp_other.onnx")
    ModelConfig.from_dict({"task": "keypoints", "preprocess": {**PRE, "mean": 0.4},
                           "decoder": {"num_keypoints": 4}}).write(other)
    for kwargs in ({"model": other}, {"count": 2}, {"seed": 1}, {"source": images[:5]}):
        args = {"model": kp_model, "source": images, "count": 3, "cache_dir": cache, **kwargs}
        r = CalibrationSet.from_source(args.pop("model"), args.pop("source"), **args).report
        assert r.cache == "miss", kwargs
    assert len(list(cache.glob("calib-*.npz"))) == 5
    # a broken cache file is recomputed, not trusted
    Path(a.report.cache_path).write_bytes(b"junk")
    c = CalibrationSet.from_source(kp_model, images, count=3, cache_dir=cache)
    assert c.report.cache == "miss"
    np.testing.assert_array_equal(c.tensors, a.tensors)


def test_cache_key_follows_the_files(kp_model, images, tmp):
    folder = tmp / "changing"
    folder.mkdir()
    for i, im in enumerate(images[:2]):
        cv2.imwrite(str(folder / f"{i}.png"), im)
    cache = tmp / "cache2"
    assert CalibrationSet.from_source(kp_model, folder, count=2, cache_dir=cache).report.cache == "miss"
    assert CalibrationSet.from_source(kp_model, folder, count=2, cache_dir=cache).report.cache == "hit"
    cv2.imwrite(str(folder / "0.png"), images[4])  # new content (size and mtime change)
    assert CalibrationSet.from_source(kp_model, folder, count=2, cache_dir=cache).report.cache == "miss"


# --- the reader ----------------------------------------------------------------------------------


def test_reader_is_an_onnxruntime_calibration_data_reader(kp_model, images):
    from onnxruntime.quantization import CalibrationDataReader

    cs = CalibrationSet.from_source(kp_model, images, count=5)
    r = cs.reader(2)
    assert isinstance(r, CalibrationDataReader) and len(r) == 3
    batches = [b["images"] for b in r]
    assert [len(b) for b in batches] == [2, 2, 1]
    np.testing.assert_array_equal(np.concatenate(batches), cs.tensors)
    assert r.get_next() is None
    r.rewind()
    assert len(r.get_next()["images"]) == 2
    r.set_range(1, 3)
    assert len(r) == 2 and [len(b["images"]) for b in r] == [2, 1]
    assert len(cs.reader(limit=3).tensors) == 3 and len(cs.reader()) == 1  # default batch 8
    with pytest.raises(InvalidArgumentError, match="batch_size"):
        CalibrationReader(cs.tensors, "images", 0)


def test_fixed_batch_models_get_full_batches(tmp, images):
    path = models.save(models.keypoints_model(batch=2), tmp / "kp_b2.onnx")
    ModelConfig.from_dict({"task": "keypoints", "preprocess": PRE, "decoder": {"num_keypoints": 4}}).write(path)
    cs = CalibrationSet.from_source(path, images, count=3)
    assert cs.batch_size == 2
    batches = [b["images"] for b in cs.reader()]
    assert [len(b) for b in batches] == [2, 2]
    np.testing.assert_array_equal(batches[1][1], cs.tensors[2])  # the last batch is filled with its last row
    with pytest.raises(InvalidArgumentError, match="fixed at 2"):
        cs.reader(4)


# --- errors --------------------------------------------------------------------------------------


def test_empty_sources(kp_model, tmp):
    with pytest.raises(EmptyDatasetError, match="empty"):
        CalibrationSet.from_source(kp_model, [])
    folder = tmp / "all_bad"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"x")
    (folder / "b.png").write_bytes(b"y")
    with pytest.raises(EmptyDatasetError, match="no readable image") as e:
        CalibrationSet.from_source(kp_model, folder)
    assert e.value.report.counts == {"unreadable_image": 2}
    with pytest.raises(DatasetNotFoundError):
        CalibrationSet.from_source(kp_model, tmp / "nowhere")


def test_inputs_that_do_not_fit_the_model(tmp, images):
    bare = models.save(models.keypoints_model(), tmp / "bare.onnx")  # no metadata
    with pytest.raises(MissingConfigError, match="task"):
        CalibrationSet.from_source(bare, images, count=2)
    ok = CalibrationSet.from_source(bare, images, count=2, task="keypoints", decoder={"num_keypoints": 4})
    assert ok.tensors.shape == (2, 3, 64, 96)  # the size comes from the model's input shape
    gray_meta = models.save(models.with_metadata(models.keypoints_model(), {
        "task": "keypoints", "preprocess": {"size": [64, 96], "channels": 1}, "decoder": {"num_keypoints": 4}}),
        tmp / "wrong_channels.onnx")
    with pytest.raises(ConfigMismatchError, match="channels"):
        CalibrationSet.from_source(gray_meta, images, count=2)
    with pytest.raises(InvalidArgumentError, match=r"source\[1\]: expected 1, 3 or 4 channels"):
        CalibrationSet.from_source(ok_path(tmp), [images[0], np.zeros((8, 8, 2), np.uint8)])
    with pytest.raises(InvalidTypeError, match=r"source\[0\]: expected dtype uint8"):
        CalibrationSet.from_source(ok_path(tmp), [np.zeros((8, 8, 3), np.float32)])


def ok_path(tmp: Path) -> str:
    path = tmp / "kp_ok.onnx"
    if not path.exists():
        models.save(models.keypoints_model(), path)
        ModelConfig.from_dict({"task": "keypoints", "preprocess": PRE, "decoder": {"num_keypoints": 4}}).write(path)
    return str(path)


def test_gray_models_get_gray_images(tmp, images):
    m = models.keypoints_model()
    m.graph.input[0].type.tensor_type.shape.dim[1].dim_value = 1
    m.graph.node[1].input[1] = "kp_w1"  # (1, 8) weights for one channel
    from onnx import numpy_helper

    m.graph.initializer.append(numpy_helper.from_array(models.KP_W[:1], "kp_w1"))
    path = models.save(m, tmp / "gray.onnx")
    ModelConfig.from_dict({"task": "keypoints", "preprocess": {"size": [64, 96], "channels": 1},
                           "decoder": {"num_keypoints": 4}}).write(path)
    cs = CalibrationSet.from_source(path, images[:2], count=2)
    assert cs.tensors.shape == (2, 1, 64, 96)
    i = int(cs.report.items[0][len("source["):-1])
    gray = cv2.cvtColor(images[i], cv2.COLOR_BGR2GRAY)
    np.testing.assert_array_equal(cs.tensors[0], edgevision.letterbox(gray, (64, 96), channels=1)[0][0])


def test_bad_arguments_are_named(kp_model, images):
    for kwargs, match in (({"count": 0}, "count"), ({"seed": -1}, "seed"), ({"strategy": "balanced"}, "strategy"),
                          ({"count": 2.5}, "count")):
        with pytest.raises(InvalidArgumentError, match=match):
            CalibrationSet.from_source(kp_model, images, **kwargs)
    with pytest.raises(InvalidTypeError, match="source"):
        CalibrationSet.from_source(kp_model, 42)
    with pytest.raises(InvalidTypeError, match=r"source\[0\]"):
        CalibrationSet.from_source(kp_model, [object()])
