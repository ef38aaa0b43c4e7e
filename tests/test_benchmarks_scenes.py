"""benchmarks.scenes: matching detections to labelled plates and the plate-level figures, on
hand-made scenes and readers (no ../shared needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks import scenes as S

Q1 = np.array([[10, 10], [50, 10], [50, 22], [10, 22]], np.float64)
Q2 = np.array([[60, 40], [90, 40], [90, 50], [60, 50]], np.float64)


def _scene(quads, texts, name="s.png"):
    return S.Scene(name, np.asarray(quads, np.float64).reshape(-1, 4, 2), tuple(texts),
                   image=np.zeros((64, 100, 3), np.uint8))


def _reader(dets):
    """A Reader returning ``dets`` (list of (quad, score, text)) for every image."""
    def read(img):
        quads = np.array([d[0] for d in dets], np.float64).reshape(-1, 4, 2)
        boxes = np.concatenate([quads.min(1), quads.max(1)], 1) if len(dets) else np.zeros((0, 4))
        return boxes, np.array([d[1] for d in dets]), quads, [d[2] for d in dets], {"detect": 2.0, "total": 3.0}
    return read


def test_match_is_greedy_by_score_and_one_to_one():
    gt = np.array([[0, 0, 10, 10], [20, 0, 30, 10]], np.float64)
    pred = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 0, 30, 10], [50, 50, 60, 60]], np.float64)
    assert S.match(pred, np.array([0.5, 0.9, 0.8, 0.99]), gt) == [1, 2]
    assert S.match(np.zeros((0, 4)), np.zeros(0), gt) == [-1, -1]
    assert S.match(np.array([[0, 0, 10, 30]], np.float64), np.array([1.0]), gt[:1]) == [-1]  # IoU 1/3 < 0.5


def test_measure_counts_recall_precision_exact_and_corner_error():
    scenes = [_scene([Q1, Q2], ["沪A12345", "京B67890"])]
    shifted = Q1 + [2, 0]  # 2 px off on each corner
    read = _reader([(shifted, 0.9, "沪A·12345"), (Q2 + [40, 0], 0.8, "京B67890"), (Q2 + 300, 0.3, "X")])
    row = S.measure("ccpd", "ours", read, scenes)
    assert (row.plates, row.detections, row.matched) == (2, 3, 1)
    assert row.recall == 0.5 and row.precision == pytest.approx(1 / 3)
    assert row.exact == 1 and row.exact_rate == 0.5  # the separator does not count; the missed plate does
    diag = (np.linalg.norm(Q1[2] - Q1[0]) + np.linalg.norm(Q1[3] - Q1[1])) / 2
    assert row.corner_error_matched == pytest.approx(2 / diag)
    assert np.isinf(row.corner_error)  # the median of one finite error and one miss
    assert row.ms == {"detect": 2.0, "total": 3.0}
    assert [m["label"] for m in row.misses] == ["京B67890"] and row.misses[0]["detected"] is False


def test_readers_take_turns_on_each_scene_and_score_as_if_alone():
    """measure_together: every scene is loaded once and read by each reader in turn, the first one
    rotating; each reader warms up on the first scene; the rows equal those measured one at a time."""
    calls: list[str] = []

    def logged(name, dets):
        inner = _reader(dets)

        def read(img):
            calls.append(name)
            return inner(img)
        return read

    scenes = [_scene([Q1, Q2], ["沪A12345", "京B67890"], f"{i}.png") for i in range(3)]
    a, b = [(Q1, 0.9, "沪A12345")], [(Q1, 0.9, "沪A12345"), (Q2, 0.8, "京B67890"), (Q2 + 300, 0.3, "X")]
    rows = S.measure_together("ccpd", [("a", logged("a", a)), ("b", logged("b", b))], scenes)
    assert calls == ["a"] * (S.WARMUP + 1) + ["b"] * (S.WARMUP + 1) + ["b", "a", "a", "b"]
    assert [r.reader for r in rows] == ["a", "b"]
    assert rows[0] == S.measure("ccpd", "a", _reader(a), scenes) and rows[1] == S.measure("ccpd", "b", _reader(b), scenes)
    assert (rows[0].matched, rows[1].matched, rows[1].detections) == (3, 6, 9)


def test_plate_free_scenes_count_false_plates_per_100_images():
    scenes = [_scene([], [], f"{i}.png") for i in range(4)]
    row = S.measure("plate-free", "ours", _reader([(Q1, 0.7, "A")]), scenes)
    assert row.plates == 0 and row.detections == 4 and row.false_per_100 == 100.0
    assert row.recall is None and row.precision == 0.0
    empty = S.measure("plate-free", "ours", _reader([]), scenes)
    assert empty.false_per_100 == 0.0


def test_markdown_has_one_line_per_row():
    rows = [S.measure("ccpd", "ours", _reader([(Q1, 0.9, "沪A12345")]), [_scene([Q1], ["沪A12345"])])]
    md = S.to_markdown({"rows": [S.asdict(r) for r in rows]})
    lines = md.strip().splitlines()
    assert len(lines) == 3 and "| ccpd | ours | 1 | 1 | 100.0% | 100.0% | 1 (100.0%) | 0.000; 0.000 |" in lines[2]


def test_the_synthetic_set_measures_corners_and_every_plate_free_set_counts_false_plates():
    row = S.measure("synthetic", "ours", _reader([(Q1 + [1, 0], 0.9, "沪A12345")]), [_scene([Q1], ["沪A12345"])])
    diag = (np.linalg.norm(Q1[2] - Q1[0]) + np.linalg.norm(Q1[3] - Q1[1])) / 2
    assert row.corner_error == pytest.approx(1 / diag) and row.exact == 1
    assert S.measure("easypr train", "ours", _reader([(Q1, 0.9, "X")]), [_scene([Q1], ["沪A12345"])]).corner_error is None
    free = S.measure("plate-free train", "ours", _reader([(Q1, 0.7, "A")]), [_scene([], [], f"{i}.png") for i in range(2)])
    assert free.false_per_100 == 100.0


def _jpg(path, seed):
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.random.default_rng(seed).integers(0, 256, (120, 160, 3), dtype=np.uint8))


def test_validation_sets_hold_nothing_of_the_held_out_sets(tmp_path):
    """``--sets validation``: EasyPR train scenes, train-half plate-free photos (and the train scenes
    masked), synthetic scenes of their own seed; no held-out scene or photo (a tiny real-data tree)."""
    from calibration.plate_scenes import easypr_train_part, photo_split, plate_free_photos

    root = tmp_path / "real"
    _jpg(root / "easypr/images/one.jpg", 1)
    _jpg(root / "easypr/images/two.jpg", 2)
    (root / "easypr/labels.tsv").write_text(
        "#path\ttext\tplate_kind\tcx,cy,w,h\trotation_deg\tlocateType\n"
        "images/one.jpg\t皖A12345\t蓝牌\t80,50,40,10\t0\t1\n"       # a test plate: the scene is held out
        "images/two.jpg\t京A88731\t蓝牌\t80,60,40,12\t0\t1\n", encoding="utf-8")   # train
    names = ["x7.jpg", "a.jpg", "b.jpg", "lcd_1.jpg"]    # photo_split: train, then three test
    for i, n in enumerate(names):
        _jpg(root / "meters/lcd_digits_philbrockman" / n, 10 + i)
    train_photos = {n for n in names if photo_split(n) == "train"}
    assert train_photos == {"x7.jpg"}
    assert [f.split("/")[-1] for f in plate_free_photos(root, "test")] == ["a.jpg", "b.jpg", "lcd_1.jpg"]
    with pytest.raises(S.InvalidArgumentError, match="split: expected 'train' or 'test'"):
        plate_free_photos(root, "fit")
    sets = S.load_validation_sets(root, limit=2)
    assert list(sets) == ["easypr validation", "easypr fit", "plate-free train", "synthetic"]
    part = easypr_train_part("two.jpg")
    assert [s.path.split("/")[-1] for s in sets[f"easypr {part}"]] == ["two.jpg"]
    assert sets[f"easypr {part}"][0].texts == ("京A88731",)
    assert sets["easypr validation" if part == "fit" else "easypr fit"] == []
    free = sets["plate-free train"]
    assert [s.path.split("/")[-1] for s in free] == ["x7.jpg", "two.jpg#masked"]
    assert all(len(s.quads) == 0 for s in free) and free[-1].load().shape == (120, 160, 3)
    synth = sets["synthetic"]
    assert len(synth) == 2 and all(s.path.startswith(f"synthetic/{S.SYNTH_VALIDATION_SEED}/") for s in synth)
    assert all(len(s.quads) == len(s.texts) for s in synth) and synth[0].load().dtype == np.uint8
    with pytest.raises(S.InvalidArgumentError, match="sets: expected one of"):
        S.run("plate_pose_int8.onnx", real=str(root), sets="test")


def _recorded_validation_run(tmp_path, monkeypatch) -> tuple[list, object]:
    """The keyword arguments of every PlateReader the benchmark builds (recorded as it builds them), and a real-data
    root with one plate-free photo and one labelled EasyPR train scene."""
    import edgevision

    built: list = []
    real_reader = edgevision.PlateReader

    def recording(*args, **kw):
        built.append(kw)
        return real_reader(*args, **kw)

    monkeypatch.setattr(edgevision, "PlateReader", recording)
    root = tmp_path / "real"
    _jpg(root / "meters/lcd_digits_philbrockman/x7.jpg", 1)
    _jpg(root / "easypr/images/two.jpg", 2)
    (root / "easypr/labels.tsv").write_text("#path\ttext\tplate_kind\tcx,cy,w,h\trotation_deg\tlocateType\n"
                                            "images/two.jpg\t京A88731\t蓝牌\t80,60,40,12\t0\t1\n", encoding="utf-8")
    return built, root


def test_reader_options_reach_our_reader_and_the_result(tmp_path, monkeypatch):
    """``--confirm`` / ``--propose`` (``reader_options``) are passed to the PlateReader the benchmark builds, not read
    from the module's constants, and are recorded; the reader's fixed arguments cannot be overridden."""
    built, root = _recorded_validation_run(tmp_path, monkeypatch)
    res = S.run("plate_pose_int8.onnx", real=str(root), sets="validation", limit=1, log=None,
                reader_options={"confirm_threshold": 0.85, "conf_threshold": 0.4})
    assert res["reader_options"] == {"confirm_threshold": 0.85, "conf_threshold": 0.4}
    ours = built[0]
    assert ours["confirm_threshold"] == 0.85 and ours["conf_threshold"] == 0.4
    # first look: no second look to confirm; the no-slant twin, and the no-rescue twin (the default rescues)
    assert [kw.get("confirm_threshold") for kw in built[1:]] == [None, 0.85, 0.85]
    assert built[3]["rescue"] is None
    assert {r["set"] for r in res["rows"]} == {"easypr validation", "easypr fit", "plate-free train", "synthetic"}
    with pytest.raises(S.InvalidArgumentError, match=r"reader_options: \['detector'\] are set by the benchmark"):
        S.run("plate_pose_int8.onnx", real=str(root), sets="validation", reader_options={"detector": "x.onnx"})
    with pytest.raises(S.InvalidArgumentError, match="confirm_threshold: expected a score in 0..1"):
        S.run("plate_pose_int8.onnx", real=str(root), sets="validation", limit=1, log=None,
              reader_options={"confirm_threshold": 1.5})


def test_a_second_look_model_reaches_our_reader_and_names_its_rows(tmp_path, monkeypatch):
    """``--second-look`` (``reader_options["second_look"]``) is our reader's second-look model, shared with its
    no-slant-correction twin, and named in the rows; the first-look-only reader has none."""
    import edgevision

    built, root = _recorded_validation_run(tmp_path, monkeypatch)
    res = S.run("plate_pose_int8.onnx", real=str(root), sets="validation", limit=1, log=None,
                reader_options={"second_look": "plate_pose.onnx"})
    assert built[0]["second_look"] == "plate_pose.onnx" and "second_look" not in built[1]
    assert isinstance(built[2]["second_look"], edgevision.Predictor)
    assert str(built[2]["second_look"].path).endswith("/plate_pose.onnx")
    ours = "plate_pose_int8.onnx (second look: plate_pose.onnx) + plate_ocr_int8.onnx"
    assert {r["reader"] for r in res["rows"]} == {ours, ours + ", no rescue (rescue=None)"}
    assert res["reader_options"] == {"second_look": "plate_pose.onnx"}


def test_rescue_reaches_our_reader_and_its_no_slant_twin(tmp_path, monkeypatch):
    """``--rescue`` (``reader_options["rescue"]``): our reader's and its deskew=False twin's; ``off`` is None."""
    built, root = _recorded_validation_run(tmp_path, monkeypatch)
    res = S.run("plate_pose_int8.onnx", real=str(root), sets="validation", limit=1, log=None,
                reader_options={"rescue": 0.9})
    assert built[0]["rescue"] == 0.9 and "rescue" not in built[1] and built[2]["rescue"] == 0.9
    assert res["reader_options"] == {"rescue": 0.9}
    seen = []
    monkeypatch.setattr(S, "run", lambda *a, **kw: seen.append(kw["reader_options"]) or {"rows": [], "sets": "x"})
    monkeypatch.setattr(S, "to_markdown", lambda res: "")
    for arg, want in (("off", {"rescue": None}), ("0.95", {"rescue": 0.95})):
        assert S.main(["--detector", "plate_pose_int8.onnx", "--rescue", arg]) == 0
        assert seen[-1] == want
    assert S.main(["--detector", "plate_pose_int8.onnx"]) == 0 and seen[-1] == {}
    for bad in ("2", "sure"):
        with pytest.raises(SystemExit):
            S.main(["--detector", "plate_pose_int8.onnx", "--rescue", bad])


def test_other_detectors_and_the_no_rescue_twin_get_rows_of_their_own(tmp_path, monkeypatch):
    """``--also-detector`` (``also_detectors``): a reader per other detector with our reader's options, a row each
    after ours; with a rescue, a twin without it (rescue=None) measures what it costs."""
    built, root = _recorded_validation_run(tmp_path, monkeypatch)
    res = S.run("plate_pose_int8.onnx", real=str(root), sets="validation", limit=1, log=None,
                reader_options={"rescue": 0.9, "confirm_threshold": 0.85}, also_detectors=["plate_pose.onnx"])
    others = [kw for kw in built if kw.get("detector") == "plate_pose.onnx"]
    assert len(others) == 1 and others[0]["rescue"] == 0.9 and others[0]["confirm_threshold"] == 0.85
    plain = [kw for kw in built if "rescue" in kw and kw["rescue"] is None]
    assert len(plain) == 1 and plain[0]["confirm_threshold"] == 0.85
    readers = [r["reader"] for r in res["rows"] if r["set"] == "easypr fit"]
    assert readers == ["plate_pose_int8.onnx + plate_ocr_int8.onnx", "plate_pose.onnx + plate_ocr_int8.onnx",
                       "plate_pose_int8.onnx + plate_ocr_int8.onnx, no rescue (rescue=None)"]
    # two detectors of one file name (a candidate beside the bundled one) are named by their paths
    import shutil

    import edgevision

    shutil.copy(Path(edgevision.__file__).parent / "models" / "plate_pose_int8.onnx", tmp_path / "plate_pose_int8.onnx")
    res = S.run(str(tmp_path / "plate_pose_int8.onnx"), real=str(root), sets="validation", limit=1, log=None,
                also_detectors=["plate_pose_int8.onnx"], reader_options={"rescue": None})
    assert [r["reader"] for r in res["rows"] if r["set"] == "easypr fit"] == [
        f"{tmp_path / 'plate_pose_int8.onnx'} + plate_ocr_int8.onnx", "plate_pose_int8.onnx + plate_ocr_int8.onnx"]
