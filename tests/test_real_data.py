"""calibration.real: readers of the real plate sets, rotated rectangles, the EasyPR split.

Nothing here reads ../shared/: the CCPD samples are the 5 copied into tests/data/real_ccpd
(MIT, see its NOTICE), and the crops and EasyPR trees are written into tmp_path.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from calibration import real
from calibration.ccpd import parse_ccpd_name
from calibration.errors import DatasetNotFoundError, EmptyDatasetError
from calibration.readers import DUPLICATE_LINE, MALFORMED_LINE, MISSING_IMAGE, UNREADABLE_IMAGE, clockwise
from calibration.real import (
    EASYPR_TEST_MODULUS,
    easypr_split,
    read_easypr,
    read_real_ccpd,
    read_real_crops,
    real_root,
    rotated_rect_corners,
)
from edgevision.errors import InvalidArgumentError

CCPD_SAMPLES = Path(__file__).parent / "data" / "real_ccpd"


def write_jpg(path: Path, h: int, w: int, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), img)


def write_truncated_jpg(path: Path) -> None:
    """A JPEG cut short: OpenCV still decodes it (with a warning), so only the EOI check catches it."""
    ok, buf = cv2.imencode(".jpg", np.full((60, 80, 3), 127, np.uint8))
    assert ok
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.tobytes()[:-40])
    assert cv2.imread(str(path)) is not None


def write_tsv(folder: Path, lines: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "labels.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------
# rotated_rect_corners


def test_rotated_rect_corners_zero_degrees_by_hand():
    c = rotated_rect_corners(100, 50, 40, 10, 0)
    assert c.dtype == np.float64 and c.shape == (4, 2)
    np.testing.assert_allclose(c, [[80, 45], [120, 45], [120, 55], [80, 55]], atol=1e-9)  # TL TR BR BL


def test_rotated_rect_corners_90_degrees_by_hand():
    # The 40-px side turned 90 degrees clockwise: it now runs down the image, x = 95..105,
    # y = 30..70. The plate's own top-left (where the text starts) is the image's top-right.
    c = rotated_rect_corners(100, 50, 40, 10, 90)
    np.testing.assert_allclose(c, [[105, 30], [105, 70], [95, 70], [95, 30]], atol=1e-9)
    # -90 is the same rectangle; the fold into (-90, 90] gives it the same order.
    np.testing.assert_allclose(rotated_rect_corners(100, 50, 40, 10, -90), c, atol=1e-9)


@pytest.mark.parametrize("degrees", [90, -90, 270])
def test_rotated_rect_corners_tall_report_of_a_wide_plate(degrees):
    # minAreaRect's way of reporting a level 40x10 plate: w=10, h=40, turned by 90 degrees.
    c = rotated_rect_corners(100, 50, 10, 40, degrees)
    np.testing.assert_allclose(c, [[80, 45], [120, 45], [120, 55], [80, 55]], atol=1e-9)


def test_rotated_rect_corners_small_angles_keep_image_order():
    # EasyPR's own label style: w=34, h=98 at -86 degrees is a level plate tilted by 4 degrees.
    for args in [(289, 484, 34, 98, -86), (170, 184, 96, 27, -1), (170, 184, 96, 27, 7), (50, 60, 30, 90, 85)]:
        c = rotated_rect_corners(*args)
        tl, tr, br, bl = c
        assert tl[0] < tr[0] and bl[0] < br[0], args  # left corners left of right ones
        assert tl[1] < bl[1] and tr[1] < br[1], args  # top corners above bottom ones
        assert np.linalg.norm(tr - tl) >= np.linalg.norm(bl - tl), args  # the width is the long side
        assert clockwise(c)


def test_rotated_rect_corners_match_box_points_as_a_set():
    rng = np.random.default_rng(0)
    cases = [(100, 50, 40, 10, 0), (100, 50, 40, 10, 90), (357, 251, 118, 29, -48), (289, 484, 34, 98, -86),
             (10, 20, 5, 5, 45)]
    cases += [tuple(float(v) for v in (*rng.uniform(0, 500, 2), *rng.uniform(2, 200, 2), rng.uniform(-180, 180)))
              for _ in range(50)]
    for cx, cy, w, h, deg in cases:
        ours = rotated_rect_corners(cx, cy, w, h, deg)
        ref = cv2.boxPoints(((cx, cy), (w, h), deg)).astype(np.float64)
        # every point of ours is one of OpenCV's (float32 there), one to one
        d = np.linalg.norm(ours[:, None] - ref[None], axis=2)
        assert sorted(d.argmin(axis=1).tolist()) == [0, 1, 2, 3], (cx, cy, w, h, deg)
        assert d.min(axis=1).max() < 1e-3 * max(1.0, cx, cy), (cx, cy, w, h, deg)
        assert clockwise(ours)


@pytest.mark.parametrize("bad", [(0, 0, 0, 5, 0), (0, 0, 5, -1, 0), (0, 0, 5, 5, float("nan")), (0, 0, "5", 5, 0)])
def test_rotated_rect_corners_rejects_bad_rectangles(bad):
    with pytest.raises(InvalidArgumentError):
        rotated_rect_corners(*bad)


# ---------------------------------------------------------------------------
# The EasyPR split


def crc32_by_hand(data: bytes) -> int:
    """CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), bit by bit: zlib's, independently."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEDB88320 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def test_crc32_reference_value():
    assert crc32_by_hand(b"123456789") == 0xCBF43926 == zlib.crc32(b"123456789")  # the standard check value


@pytest.mark.parametrize("text, crc, split", [
    ("皖A12345", 0x43D5077B, "test"),    # 1138034555 = 5 * 227606911
    ("川A019W2", 0xFFA1A2CF, "test"),    # 4288783055, ends in 5
    ("皖AD22939", 0xF742D5F4, "test"),   # 4148352500, ends in 0
    ("京A88731", 0xA2B5DBE3, "train"),   # 2729827299 % 5 = 4
    ("沪A12345", 0x11FEA5FD, "train"),   # 301901309 % 5 = 4
    ("苏E12345", 0x45AA6214, "train"),   # 1168794132 % 5 = 2
])
def test_easypr_split_on_hand_computed_crc(text, crc, split):
    assert crc32_by_hand(text.encode("utf-8")) == crc
    assert EASYPR_TEST_MODULUS == 5
    assert (crc % 5 == 0) == (split == "test")
    assert easypr_split(text) == split


def test_easypr_split_rejects_non_text():
    for bad in ("", None, b"A1"):
        with pytest.raises(InvalidArgumentError, match="text"):
            easypr_split(bad)


# ---------------------------------------------------------------------------
# real_root


def test_real_root_order_and_errors(tmp_path, monkeypatch):
    monkeypatch.delenv(real.REAL_DATA_ENV, raising=False)
    monkeypatch.setattr(real, "REAL_ROOT_DEFAULT", tmp_path / "default")
    with pytest.raises(DatasetNotFoundError, match="EDGEVISION_REAL_DATA") as e:
        real_root()
    assert e.value.path == str(tmp_path / "default")
    (tmp_path / "default").mkdir()
    assert real_root() == tmp_path / "default"
    (tmp_path / "env").mkdir()
    monkeypatch.setenv(real.REAL_DATA_ENV, str(tmp_path / "env"))
    assert real_root() == tmp_path / "env"
    assert real_root(tmp_path) == tmp_path  # an explicit path wins
    with pytest.raises(DatasetNotFoundError, match="not a folder"):
        real_root(tmp_path / "absent")


def test_real_root_default_is_beside_the_repository():
    repo = Path(real.__file__).resolve().parent.parent
    assert real.REAL_ROOT_DEFAULT == repo.parent / "shared" / "data" / "real"


# ---------------------------------------------------------------------------
# CCPD (the copied samples)


def test_read_real_ccpd_copied_samples_agree_with_their_file_names():
    res = read_real_ccpd(CCPD_SAMPLES, check_images=True)
    assert len(res) == res.report.usable == res.report.entries == 5
    assert res.report.counts == {} and res.report.kind == "real_ccpd"
    for s in res:
        label = parse_ccpd_name(s.image_path.name)  # the CCPD file name encodes the same labels
        np.testing.assert_array_equal(s.corners, label.corners)
        assert s.text == label.text and s.bbox == label.bbox
        assert s.plate_type == label.plate_type  # blue 7 characters, green 8
        assert clockwise(s.corners)
    assert sorted(s.plate_type for s in res) == ["blue", "blue", "blue", "green", "green"]
    assert all(len(s.text) == 8 for s in res if s.plate_type == "green")


def test_read_real_ccpd_reports_bad_lines(tmp_path):
    src = (CCPD_SAMPLES / "labels.tsv").read_text(encoding="utf-8").splitlines()
    header, good = src[0], src[1]
    f = good.split("\t")
    (tmp_path / "images").mkdir()
    (tmp_path / f[0]).write_bytes((CCPD_SAMPLES / f[0]).read_bytes())
    ccw = "\t".join([f[0], f[1], f[5], f[4], f[3], f[2], *f[6:]])  # BL BR TR TL: counter-clockwise
    lines = [header, good, "", ccw, "\t".join(f[:5]),                # 5 fields
             "\t".join([*f[:2], "1,x", *f[3:]]),                      # a bad point
             "\t".join([*f[:6], "9,9,1,1", *f[7:]]),                  # x1 > x2
             "\t".join(["images/absent.jpg", *f[1:7], "white/black", f[8]])]
    write_tsv(tmp_path, lines)
    res = read_real_ccpd(tmp_path)
    assert [s.text for s in res] == [f[1]]
    r = res.report
    assert r.entries == 6 and r.usable == 1
    assert r.counts == {MALFORMED_LINE: 4, MISSING_IMAGE: 1}
    reasons = " | ".join(str(i) for i in r.examples)
    assert "not clockwise" in reasons and "expected 9 tab-separated fields" in reasons
    assert "TL: expected 2" in reasons and "x1 <= x2" in reasons
    assert [i.line for i in r.examples if i.kind == MALFORMED_LINE] == [4, 5, 6, 7]
    assert "real CCPD labels" in r.summary() and "4 malformed lines, 1 missing image" in r.summary()


# ---------------------------------------------------------------------------
# Crops (a synthetic tree: the real crops/ are evaluation only and never copied)


@pytest.fixture()
def crops_tree(tmp_path) -> Path:
    root = tmp_path / "crops"
    for i, name in enumerate(["train/a.jpg", "train/b.jpg", "valid/c.jpg", "valid/d.jpg"]):
        write_jpg(root / name, 36, 136, seed=i)
    (root / "valid" / "corrupt.jpg").write_bytes(b"not a jpeg at all")
    write_truncated_jpg(root / "valid" / "cut.jpg")
    write_tsv(root, [
        "#path\ttext\tsplit\tcolor_est",
        "train/a.jpg\t苏E12345\ttrain\tblue",
        "train/b.jpg\t沪A05F26\ttrain\tyellow",
        "valid/c.jpg\t沪AMV180\tvalid\twhite/black",
        "valid/d.jpg\t京N84E28\tvalid\tgreen",
        "train/e.jpg\t京A00000\ttrain\tblue",          # missing image
        "valid/corrupt.jpg\t京A11111\tvalid\tblue",
        "valid/cut.jpg\t京A22222\tvalid\tblue",
        "train/a.jpg\t京A33333\ttrain",                 # 3 fields
        "train/a.jpg\t\ttrain\tblue",                   # no text
        "# a comment line is not an entry",
    ])
    return root


def test_read_real_crops(crops_tree):
    res = read_real_crops(crops_tree)
    assert [s.text for s in res] == ["苏E12345", "沪A05F26", "沪AMV180", "京N84E28", "京A11111", "京A22222"]
    assert [s.plate_type for s in res][:4] == ["blue", "yellow", "white_black", "green"]
    assert all(s.corners is None and s.bbox is None for s in res)  # read whole
    assert res[0].image_path == crops_tree / "train" / "a.jpg"
    r = res.report
    assert (r.entries, r.usable, r.kind, r.images_checked) == (9, 6, "real_crops", False)
    assert r.counts == {MISSING_IMAGE: 1, MALFORMED_LINE: 2}


def test_read_real_crops_check_images_reports_corrupt_and_cut_jpegs(crops_tree):
    res = read_real_crops(crops_tree, check_images=True)
    assert len(res) == 4
    r = res.report
    assert r.counts == {MISSING_IMAGE: 1, UNREADABLE_IMAGE: 2, MALFORMED_LINE: 2}
    unreadable = {Path(i.path).name: i.reason for i in r.examples if i.kind == UNREADABLE_IMAGE}
    assert "cannot decode" in unreadable["corrupt.jpg"]
    assert "cut short" in unreadable["cut.jpg"]


def test_read_real_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError):
        read_real_crops(tmp_path / "absent")
    with pytest.raises(DatasetNotFoundError, match="labels.tsv"):
        read_real_crops(tmp_path)
    write_tsv(tmp_path, ["#path\ttext\tsplit\tcolor_est", "x.jpg\t京A1\ttrain\tblue"])
    with pytest.raises(EmptyDatasetError, match="1 missing image") as e:
        read_real_crops(tmp_path)
    assert e.value.report.entries == 1
    (tmp_path / "labels.tsv").write_bytes(b"#path\ttext\tsplit\tcolor_est\n\xff\xfe\tbad\n")
    with pytest.raises(EmptyDatasetError, match="not UTF-8"):
        read_real_crops(tmp_path)


# ---------------------------------------------------------------------------
# EasyPR (a synthetic tree: EasyPR images are GDSL and never copied into the repository)

EASYPR_HEADER = "#path\ttext\tplate_kind\tcx,cy,w,h (rotated rect)\trotation_deg\tlocateType"


@pytest.fixture()
def easypr_tree(tmp_path) -> Path:
    root = tmp_path / "easypr"
    write_jpg(root / "images" / "one.jpg", 240, 320, seed=1)
    write_jpg(root / "images" / "two.jpg", 240, 320, seed=2)
    write_truncated_jpg(root / "images" / "cut.jpg")
    write_tsv(root, [
        EASYPR_HEADER,
        "images/one.jpg\t皖A12345\t蓝牌\t100,50,40,10\t0\t1",       # test
        "images/two.jpg\t京A88731\t黄牌\t150,120,34,98\t-86\t1",    # train; a tall report of a wide plate
        "images/two.jpg\t川A019W2\t白牌\t200,200,60,20\t-48\t0",     # test; an unknown kind kept as written
        "images/two.jpg\t沪A12345\t蓝牌\t1,2,3\t0\t1",               # malformed rectangle
        "images/one.jpg\t苏E12345\t蓝牌\t10,10,0,5\t0\t1",           # zero width
        "images/皖A2F56D?\t皖A2F560\t蓝牌\t455,167,70,20\t0\t0",     # names an absent image (train)
        "images/cut.jpg\t皖AD22939\t蓝牌\t30,30,20,6\t0\t0",         # test, a JPEG cut short
    ])
    return root


def test_read_easypr_all(easypr_tree):
    res = read_easypr(easypr_tree)
    assert [s.text for s in res] == ["皖A12345", "京A88731", "川A019W2", "皖AD22939"]
    assert [s.plate_type for s in res] == ["blue", "yellow", "白牌", "blue"]
    np.testing.assert_allclose(res[0].corners, [[80, 45], [120, 45], [120, 55], [80, 55]], atol=1e-9)
    assert res[0].bbox == (80, 45, 120, 55)
    np.testing.assert_allclose(res[1].corners, rotated_rect_corners(150, 120, 34, 98, -86))
    assert res[1].image_path == res[2].image_path  # two plates, one scene
    r = res.report
    assert (r.entries, r.usable, r.kind) == (7, 4, "easypr")
    assert r.counts == {MALFORMED_LINE: 2, MISSING_IMAGE: 1}
    reasons = " | ".join(str(i) for i in r.examples)
    assert "cx,cy,w,h: expected 4" in reasons and "positive w and h" in reasons and "皖A2F56D?" in reasons


def test_read_easypr_splits(easypr_tree):
    test = read_easypr(easypr_tree, "test", check_images=True)
    assert [s.text for s in test] == ["皖A12345", "川A019W2"]
    assert all(easypr_split(s.text) == "test" for s in test)
    # entries: the 3 test lines and the 2 malformed ones (their split is unknown)
    assert test.report.counts == {MALFORMED_LINE: 2, UNREADABLE_IMAGE: 1}
    assert test.report.entries == 5
    train = read_easypr(easypr_tree, split="train")
    assert [s.text for s in train] == ["京A88731"]
    assert train.report.counts == {MALFORMED_LINE: 2, MISSING_IMAGE: 1}
    every = {s.text for s in read_easypr(easypr_tree, "all")}
    assert every == {s.text for s in read_easypr(easypr_tree, "test")} | {s.text for s in train}


def test_read_easypr_duplicate_lines(tmp_path):
    # EasyPR's own file lists two plates twice: a line repeated exactly is one plate, not two
    # (a detection could match only one of the copies), and each copy is reported.
    root = tmp_path / "easypr"
    write_jpg(root / "images" / "one.jpg", 240, 320, seed=1)
    train = "images/one.jpg\t京A88731\t黄牌\t150,120,34,98\t-86\t1"
    test = "images/one.jpg\t皖A12345\t蓝牌\t100,50,40,10\t0\t1"
    write_tsv(root, [EASYPR_HEADER, train, test, train, test, test,
                     "images/one.jpg\t皖A12345\t蓝牌\t100,50,40,12\t0\t1"])  # not a copy: another box
    every = read_easypr(root)
    assert [s.text for s in every] == ["京A88731", "皖A12345", "皖A12345"]
    assert every.report.counts == {DUPLICATE_LINE: 3}
    assert (every.report.entries, every.report.usable) == (6, 3)
    assert [i.line for i in every.report.examples] == [4, 5, 6]
    assert "repeats line 2" in str(every.report.examples[0]) and "duplicate lines dropped" in every.report.summary()
    held_out = read_easypr(root, "test")  # a copy of a line of the other split is not an entry
    assert [s.text for s in held_out] == ["皖A12345", "皖A12345"]
    assert held_out.report.counts == {DUPLICATE_LINE: 2} and held_out.report.entries == 4
    assert [s.text for s in read_easypr(root, "train")] == ["京A88731"]


@pytest.mark.parametrize("bad", ["valid", "TEST", None, ""])
def test_read_easypr_bad_split(easypr_tree, bad):
    with pytest.raises(InvalidArgumentError, match="split"):
        read_easypr(easypr_tree, bad)


def test_easypr_scenes_split_train_into_fit_and_validation_by_file_name(tmp_path):
    """Scenes: ``test`` when any plate is a test plate; the other (``train``) scenes divide into ``fit``
    and ``validation`` by ``crc32(file name) % 5`` (five.jpg: crc % 5 == 0, validation; one, four: fit)."""
    import json
    import zlib

    from calibration.plate_scenes import EASYPR_VALIDATION_MODULUS, easypr_scenes, easypr_train_part

    root = tmp_path / "real"
    for i, name in enumerate(["one.jpg", "four.jpg", "five.jpg", "two.jpg"]):
        write_jpg(root / "easypr" / "images" / name, 120, 160, seed=i)
    write_tsv(root / "easypr", [
        EASYPR_HEADER,
        "images/one.jpg\t京A88731\t蓝牌\t60,50,40,10\t0\t1",      # train
        "images/four.jpg\t沪A12345\t蓝牌\t60,50,40,10\t0\t1",     # train
        "images/five.jpg\t苏E12345\t蓝牌\t60,50,40,10\t0\t1",     # train
        "images/two.jpg\t京A88731\t蓝牌\t60,50,40,10\t0\t1",      # a train plate ...
        "images/two.jpg\t皖A12345\t蓝牌\t100,80,40,10\t0\t1",     # ... beside a test plate: a test scene
    ])
    assert EASYPR_VALIDATION_MODULUS == 5
    assert [zlib.crc32(n.encode()) % 5 for n in ("one.jpg", "four.jpg", "five.jpg")] == [4, 2, 0]
    names = {split: [p.name for p, _, _ in easypr_scenes(root, split)]
             for split in ("train", "test", "fit", "validation")}
    assert names == {"train": ["five.jpg", "four.jpg", "one.jpg"], "test": ["two.jpg"],
                     "fit": ["four.jpg", "one.jpg"], "validation": ["five.jpg"]}
    assert easypr_train_part("five.jpg") == "validation" and easypr_train_part(Path("x/one.jpg")) == "fit"
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps({"scenes": {"five.jpg": [{"quad": [[1, 1], [9, 1], [9, 4], [1, 4]], "plate": True}]}}))
    (_, quads, texts), = easypr_scenes(root, "validation", extra=extra)
    assert quads.shape == (2, 4, 2) and texts == ("苏E12345", "")           # its pseudo-label added, no text
    with pytest.raises(InvalidArgumentError, match="pseudo-labels are for the train scenes only"):
        easypr_scenes(root, "test", extra=extra)
    with pytest.raises(InvalidArgumentError, match=r"split: expected one of \['train', 'test', 'fit', 'validation'\]"):
        easypr_scenes(root, "heldout")
