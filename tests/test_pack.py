"""calibration.pack: the detector recipe's real inputs packed for a GPU machine; nothing held out travels
(a tiny real-data tree; no ../shared needed)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from calibration.errors import DatasetExistsError
from calibration.pack import pack_detector_data
from calibration.plate_scenes import easypr_scenes, photo_split
from edgevision.errors import InvalidArgumentError


def _jpg(path: Path, seed: int, h: int = 120, w: int = 160) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, 98])


@pytest.fixture()
def real(tmp_path: Path) -> Path:
    root = tmp_path / "real"
    for i, name in enumerate(["one.jpg", "two.jpg", "five.jpg"]):
        _jpg(root / "easypr" / "images" / name, i)
    (root / "easypr" / "labels.tsv").write_text(
        "#path\ttext\tplate_kind\trect\tdeg\tlocate\n"
        "images/one.jpg\t京A88731\t蓝牌\t60,50,40,10\t0\t1\n"          # train
        "images/two.jpg\t皖A12345\t蓝牌\t60,50,40,10\t0\t1\n"          # test: held out, never packed
        "images/five.jpg\t苏E12345\t蓝牌\t60,50,40,10\t0\t1\n"         # train (its validation part)
        "images/five.jpg\t沪A12345\t蓝牌\t100,80,40,10\t0\t1\n", encoding="utf-8")
    (root / "easypr" / "GDSL.txt").write_bytes(b"terms")
    lcd = root / "meters" / "lcd_digits_philbrockman"
    for i, name in enumerate(["x7.jpg", "a.jpg"]):                      # photo_split: train, test
        _jpg(lcd / "sub" / name, 10 + i)
    (lcd / "LICENSE").write_text("Apache-2.0")
    return root


def test_only_train_scenes_and_train_photos_are_packed_with_their_terms(real: Path, tmp_path: Path) -> None:
    out = tmp_path / "packed"
    res = pack_detector_data(real, out, quality=70)
    assert (res["easypr_scenes"], res["easypr_lines"], res["lcd_photos"]) == (2, 3, 1)
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == ["easypr/GDSL.txt", "easypr/images/five.jpg", "easypr/images/one.jpg", "easypr/labels.tsv",
                     "meters/lcd_digits_philbrockman/LICENSE", "meters/lcd_digits_philbrockman/sub/x7.jpg"]
    assert photo_split("x7.jpg") == "train" and photo_split("a.jpg") == "test"
    assert "two.jpg" not in (out / "easypr" / "labels.tsv").read_text(encoding="utf-8")
    assert res["bytes"] == sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    # the packed folder gives the recipe the same train scenes: same files, labels and sizes
    a, b = easypr_scenes(real, "train"), easypr_scenes(out, "train")
    assert [p.name for p, _, _ in a] == [p.name for p, _, _ in b] == ["five.jpg", "one.jpg"]
    for (pa, qa, ta), (pb, qb, tb) in zip(a, b):
        assert ta == tb and np.array_equal(qa, qb)
        ia, ib = cv2.imread(str(pa)), cv2.imread(str(pb))
        assert ia.shape == ib.shape and np.abs(ia.astype(int) - ib.astype(int)).mean() < 40   # re-encoded, same image
    assert easypr_scenes(out, "test") == []


def test_packing_refuses_a_bad_quality_and_a_folder_in_use(real: Path, tmp_path: Path) -> None:
    for bad in (40, 101, 85.0, True):
        with pytest.raises(InvalidArgumentError, match="quality: expected a JPEG quality"):
            pack_detector_data(real, tmp_path / "q", quality=bad)
    used = tmp_path / "used"
    used.mkdir()
    (used / "keep.txt").write_text("mine")
    with pytest.raises(DatasetExistsError, match="is not empty"):
        pack_detector_data(real, used)
    assert [p.name for p in used.iterdir()] == ["keep.txt"]                 # nothing lost


def test_the_packing_script_is_a_thin_cli(real: Path, tmp_path: Path, capsys) -> None:
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location("pack_device_data", Path(__file__).parents[1] / "scripts" /
                                                  "pack_device_data.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--real", str(real), "--out", str(tmp_path / "o")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["easypr_scenes"], printed["lcd_photos"]) == (2, 1) and printed["MiB"] >= 0
    with pytest.raises(SystemExit) as e:
        mod.main(["--real", str(real), "--out", str(tmp_path / "p"), "--quality", "30"])
    assert e.value.code == 2 and "--quality must be in [50, 100]" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()
