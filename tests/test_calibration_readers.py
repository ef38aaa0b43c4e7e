"""calibration: the CCPD file-name convention (calibration.ccpd) and the dataset readers
(calibration.readers), plus the ``python -m calibration inspect`` command line.

Coordinates are pixels (x, y); corners are clockwise from top-left (TL, TR, BR, BL).
CCPD names are written by hand from the CCPD README example and its split lists
(https://github.com/detectRecog/CCPD), where the vertices run BR, BL, TL, TR.
Images are tiny files written with OpenCV in ``tmp_path``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]  # ``calibration`` is a top-level folder (pytest's pythonpath), not in the wheel

import calibration as C
from calibration.__main__ import main as cli_main
from edgevision.errors import EdgeVisionError, InvalidArgumentError  # noqa: E402

README_NAME = "025-95_113-154&383_386&473-386&473_177&454_154&383_363&402-0_0_22_27_27_33_16-37-15.jpg"
# From CCPD's split/ccpd_blur.txt: 4-digit area, province 0 and 19.
BLUR_NAME = "0359-5_21-151&285_417&398-417&398_179&377_151&285_389&306-0_0_4_33_32_25_12-59-4.jpg"
GUANGDONG_NAME = "0311-1_12-235&483_515&576-515&576_252&570_235&483_498&489-19_1_32_17_23_28_33-21-3.jpg"
# A CCPD2020 (CCPD-Green) style name: eight character indices.
GREEN_NAME = "0136-3_5-250&449_429&523-429&523_250&515_252&449_429&457-0_0_3_24_30_31_33_33-113-9.jpg"


def _shoelace(c):
    """Twice the signed area; positive for clockwise order on the image (y down)."""
    c = np.asarray(c, dtype=np.float64)
    return float(np.sum(c[:, 0] * np.roll(c[:, 1], -1) - np.roll(c[:, 0], -1) * c[:, 1]))


# ---------------------------------------------------------------------------
# Character lists


def test_character_lists_match_the_ccpd_readme():
    assert len(C.PROVINCES) == 34 and len(C.ALPHABETS) == 25 and len(C.ADS) == 35
    assert C.PROVINCES[0] == "皖" and C.PROVINCES[19] == "粤" and C.PROVINCES[31:] == ("警", "学", "O")
    assert C.ALPHABETS[-1] == C.ADS[-1] == "O"  # CCPD's "no character" placeholder
    letters = tuple("ABCDEFGHJKLMNPQRSTUVWXYZ")  # no I, no O
    assert C.ALPHABETS == letters + ("O",)
    assert C.ADS == letters + tuple("0123456789") + ("O",)
    assert len(set(C.PROVINCES)) == 34 and len(set(C.ADS)) == 35


# ---------------------------------------------------------------------------
# parse_ccpd_name


def test_parse_readme_example_every_field():
    lab = C.parse_ccpd_name(README_NAME)
    # vertices in the name: BR (386,473), BL (177,454), TL (154,383), TR (363,402)
    np.testing.assert_array_equal(lab.corners, [[154, 383], [363, 402], [386, 473], [177, 454]])
    assert lab.corners.dtype == np.float64 and lab.corners.shape == (4, 2)
    assert not lab.corners.flags.writeable
    assert _shoelace(lab.corners) > 0  # clockwise on the image
    assert lab.bbox == (154, 383, 386, 473)
    assert lab.text == "皖AY339S"
    assert lab.plate_type == "blue"
    assert lab.tilt == (95, 113)
    assert lab.area == 0.025
    assert lab.brightness == 37 and lab.blur == 15


def test_parse_accepts_paths_and_names_without_extension():
    lab = C.parse_ccpd_name(README_NAME)
    assert C.parse_ccpd_name(Path("ccpd_base") / README_NAME) == lab
    assert C.parse_ccpd_name("some/dir/" + README_NAME) == lab
    assert C.parse_ccpd_name(README_NAME[: -len(".jpg")]) == lab
    assert C.parse_ccpd_name(README_NAME.replace(".jpg", ".JPG")) == lab


def test_parse_split_list_names():
    lab = C.parse_ccpd_name(BLUR_NAME)
    assert lab.text == "皖AE981N" and lab.area == 0.0359 and lab.tilt == (5, 21)
    np.testing.assert_array_equal(lab.corners, [[151, 285], [389, 306], [417, 398], [179, 377]])
    assert (lab.brightness, lab.blur) == (59, 4)
    lab = C.parse_ccpd_name(GUANGDONG_NAME)
    assert lab.text == "粤B8TZ49" and lab.plate_type == "blue"


def test_parse_green_eight_character_plate():
    lab = C.parse_ccpd_name(GREEN_NAME)
    assert lab.text == "皖AD06799" and len(lab.text) == 8
    assert lab.plate_type == "green"
    np.testing.assert_array_equal(lab.corners, [[252, 449], [429, 457], [429, 523], [250, 515]])
    assert lab.bbox == (250, 449, 429, 523) and lab.area == 0.0136


def test_parse_keeps_the_o_placeholder_as_the_letter_o():
    name = README_NAME.replace("0_0_22_27_27_33_16", "33_24_34_27_27_33_34")
    assert C.parse_ccpd_name(name).text == "OOO339O"
    assert C.format_ccpd_name(C.parse_ccpd_name(name)) == name


# ---------------------------------------------------------------------------
# format_ccpd_name and the round trip


@pytest.mark.parametrize("name", [README_NAME, BLUR_NAME, GUANGDONG_NAME, GREEN_NAME])
def test_format_inverts_parse_on_real_names(name):
    assert C.format_ccpd_name(C.parse_ccpd_name(name)) == name


def test_format_extension_and_area_digits():
    lab = C.parse_ccpd_name(README_NAME)
    assert C.format_ccpd_name(lab, extension="") == README_NAME[:-4]
    assert C.format_ccpd_name(lab, extension=".png").endswith("-37-15.png")
    # "0080" is the value 0.008: written back with its shortest digits, same value
    lab80 = C.parse_ccpd_name(README_NAME.replace("025-", "0080-", 1))
    assert lab80.area == 0.008
    out = C.format_ccpd_name(lab80)
    assert out.startswith("008-") and C.parse_ccpd_name(out) == lab80
    tiny = C.CCPDLabel(lab.corners, lab.bbox, lab.text, lab.tilt, 1e-05, 1, 2)
    assert C.format_ccpd_name(tiny).startswith("00001-")  # never exponent notation


def test_format_rounds_to_whole_pixels_and_reorders():
    corners = [[10.4, 20.6], [99.5, 21.0], [100.2, 50.0], [9.0, 49.7]]
    lab = C.CCPDLabel(corners, (9.2, 20.4, 100.2, 50.0), "沪B12345", (0, 3), 0.1, 5, 6)
    name = C.format_ccpd_name(lab)
    assert name == "100-0_3-9&20_100&50-100&50_9&50_10&21_100&21-1_1_25_26_27_28_29-5-6.jpg"
    back = C.parse_ccpd_name(name)
    np.testing.assert_array_equal(back.corners, np.rint(corners))


_coord = st.integers(0, 4000)


@settings(max_examples=60, deadline=None)
@given(
    corners=st.lists(st.tuples(_coord, _coord), min_size=4, max_size=4),
    box=st.tuples(_coord, _coord, _coord, _coord),
    idx=st.tuples(st.integers(0, 33), st.integers(0, 24)),
    rest=st.lists(st.integers(0, 34), min_size=5, max_size=6),
    tilt=st.tuples(st.integers(0, 180), st.integers(0, 180)),
    area_digits=st.text("0123456789", min_size=1, max_size=6),
    brightness=st.integers(0, 1000),
    blur=st.integers(0, 1000),
)
def test_round_trip_format_then_parse(corners, box, idx, rest, tilt, area_digits, brightness, blur):
    bbox = (min(box[0], box[2]), min(box[1], box[3]), max(box[0], box[2]), max(box[1], box[3]))
    text = C.PROVINCES[idx[0]] + C.ALPHABETS[idx[1]] + "".join(C.ADS[i] for i in rest)
    label = C.CCPDLabel(corners, bbox, text, tilt, float("0." + area_digits), brightness, blur)
    assert label.plate_type == ("blue" if len(text) == 7 else "green")
    name = C.format_ccpd_name(label)
    assert C.parse_ccpd_name(name) == label
    assert C.format_ccpd_name(C.parse_ccpd_name(name)) == name


@pytest.mark.parametrize("change, needle", [
    ({"text": "皖AY339I"}, "label.text: character 7 'I'"),
    ({"text": "AAY339SS"}, "label.text: character 1 'A'"),
    ({"corners": [[-3, 0], [5, 0], [5, 5], [0, 5]]}, "label.corners"),
    ({"corners": [[np.nan, 0], [5, 0], [5, 5], [0, 5]]}, "label.corners"),
    ({"bbox": (10, 10, 5, 20)}, "label.bbox"),
    ({"tilt": (-1, 0)}, "label.tilt"),
    ({"tilt": (1.5, 0)}, "label.tilt"),
    ({"area": 1.0}, "label.area"),
    ({"brightness": True}, "label.brightness"),
    ({"blur": -2}, "label.blur"),
])
def test_format_rejects_unwritable_labels(change, needle):
    lab = C.parse_ccpd_name(README_NAME)
    fields = {"corners": lab.corners, "bbox": lab.bbox, "text": lab.text, "tilt": lab.tilt, "area": lab.area,
              "brightness": lab.brightness, "blur": lab.blur, **change}
    with pytest.raises(InvalidArgumentError) as ei:
        C.format_ccpd_name(C.CCPDLabel(**fields))
    assert needle in str(ei.value)


def test_label_checks_its_fields():
    lab = C.parse_ccpd_name(README_NAME)
    with pytest.raises(InvalidArgumentError, match="plate_type: 'green' contradicts"):
        C.CCPDLabel(lab.corners, lab.bbox, lab.text, lab.tilt, lab.area, 1, 1, plate_type="green")
    with pytest.raises(InvalidArgumentError, match=r"corners: .*shape \(3, 2\)"):
        C.CCPDLabel(lab.corners[:3], lab.bbox, lab.text, lab.tilt, lab.area, 1, 1)
    with pytest.raises(InvalidArgumentError, match="text: expected a string of 7"):
        C.CCPDLabel(lab.corners, lab.bbox, "皖A1", lab.tilt, lab.area, 1, 1)
    assert lab != C.CCPDLabel(lab.corners + 1, lab.bbox, lab.text, lab.tilt, lab.area, 37, 15)
    assert lab.to_dict()["corners"] == [[154.0, 383.0], [363.0, 402.0], [386.0, 473.0], [177.0, 454.0]]


# ---------------------------------------------------------------------------
# Malformed names: every field broken names that field

_PARTS = README_NAME[:-4].split("-")


def _with(field, value):
    parts = list(_PARTS)
    parts[C.CCPD_FIELDS.index(field)] = value
    return "-".join(parts) + ".jpg"


@pytest.mark.parametrize("name, field", [
    ("025-95_113-154&383_386&473.jpg", "fields"),
    (README_NAME.replace("-37-15", "-37-15-9"), "fields"),
    ("photo_0001.jpg", "fields"),
    (_with("area", "0a5"), "area"),
    (_with("area", ""), "area"),
    (_with("area", "0\u0663"), "area"),  # an Arabic-Indic digit: not ASCII
    (_with("tilt", "95"), "tilt"),
    (_with("tilt", "95_113_2"), "tilt"),
    (_with("tilt", "95_x"), "tilt"),
    (_with("bbox", "154&383_386"), "bbox"),
    (_with("bbox", "154&383_386&473_1&1"), "bbox"),
    (_with("bbox", "386&473_154&383"), "bbox"),  # bottom-right first
    (_with("vertices", "386&473_177&454_154&383"), "vertices"),
    (_with("vertices", "386&473_177&454_154&383_363"), "vertices"),
    (_with("vertices", "386&473_177&454_154&383_363&402&1"), "vertices"),
    (_with("plate", "0_0_22_27_27_33"), "plate"),  # 6 characters
    (_with("plate", "0_0_22_27_27_33_16_1_1"), "plate"),  # 9 characters
    (_with("plate", "34_0_22_27_27_33_16"), "plate"),  # province out of range
    (_with("plate", "0_25_22_27_27_33_16"), "plate"),  # alphabet out of range
    (_with("plate", "0_0_22_27_27_33_35"), "plate"),  # ads out of range
    (_with("plate", "0_0_22_27_27_33_x"), "plate"),
    (_with("brightness", "3a"), "brightness"),
    (_with("brightness", "37_1"), "brightness"),
    (_with("blur", ""), "blur"),
])
def test_malformed_names_name_the_field(name, field):
    with pytest.raises(C.CCPDNameError) as ei:
        C.parse_ccpd_name(name)
    e = ei.value
    assert isinstance(e, EdgeVisionError) and isinstance(e, ValueError)
    assert e.field == field and e.name == name
    assert str(e).startswith(name + ": malformed CCPD name")
    assert f"({field})" in str(e) or field == "fields"
    assert e.detail in str(e)


def test_out_of_range_message_names_the_list():
    with pytest.raises(C.CCPDNameError, match=r"character 7 has index 35, out of range for ADS \(35 entries"):
        C.parse_ccpd_name(_with("plate", "0_0_22_27_27_33_35"))


# ---------------------------------------------------------------------------
# Manifest reader


def _png(path: Path, size=(8, 12), value=128) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((size[0], size[1], 3), value, np.uint8))
    return path


QUAD = [[1, 2], [10, 2], [10, 6], [1, 6]]  # TL, TR, BR, BL


def _manifest(tmp_path: Path, lines: list[str | bytes]) -> Path:
    m = tmp_path / "labels.jsonl"
    m.write_bytes(b"\n".join(ln if isinstance(ln, bytes) else ln.encode("utf-8") for ln in lines) + b"\n")
    return m


def test_manifest_good_and_bad_lines(tmp_path):
    _png(tmp_path / "imgs" / "a.png")
    _png(tmp_path / "imgs" / "b.png")
    abs_img = _png(tmp_path / "elsewhere" / "c.png")
    good = {"image": "imgs/a.png", "corners": QUAD, "text": "皖AY339S", "plate_type": "blue", "bbox": [1, 2, 10, 6]}
    lines = [
        json.dumps(good, ensure_ascii=False),                              # 1 ok
        json.dumps({"image": "imgs/b.png"}),                               # 2 ok, unlabelled
        "",                                                                # blank: ignored
        '{"image": "imgs/a.png", "corners": [[1, 2], [10, 2]',             # 4 bad JSON
        json.dumps({**good, "corners": QUAD[:3]}),                         # 5 three corners
        json.dumps({**good, "image": "imgs/missing.png"}),                 # 6 missing image
        json.dumps({**good, "corner": QUAD}),                              # 7 unknown key
        json.dumps({**good, "corners": QUAD[::-1]}),                       # 8 counter-clockwise
        json.dumps([1, 2]),                                                # 9 not an object
        json.dumps({**good, "bbox": [10, 2, 1, 6]}),                       # 10 bbox reversed
        b'{"image": "imgs/\xff.png"}',                                     # 11 not UTF-8
        json.dumps({"image": str(abs_img), "text": None, "corners": None}),  # 12 ok, absolute path
        json.dumps({"corners": QUAD}),                                     # 13 no image
        json.dumps({**good, "corners": [[1, 2], [10, 2], [10, True], [1, 6]]}),  # 14 bool coordinate
    ]
    res = C.read_manifest(_manifest(tmp_path, lines), max_examples=20)
    r = res.report
    assert r.kind == "manifest" and r.entries == 13 and r.usable == 3 == len(res)
    assert r.counts == {"malformed_line": 9, "missing_image": 1}
    assert r.malformed == 9 and r.missing_images == 1 and r.unreadable_images == 0
    assert [s.image_path for s in res] == [tmp_path / "imgs" / "a.png", tmp_path / "imgs" / "b.png", abs_img]
    a = res[0]
    np.testing.assert_array_equal(a.corners, QUAD)
    assert a.corners.dtype == np.float64 and a.text == "皖AY339S" and a.plate_type == "blue"
    assert a.bbox == (1.0, 2.0, 10.0, 6.0)
    assert res[1] == C.Sample(tmp_path / "imgs" / "b.png")
    assert res[1].corners is None and res[1].text is None and res[1].bbox is None

    by_line = {i.line: i for i in r.examples}
    assert by_line[4].reason.startswith("invalid JSON")
    assert "corners: expected 4 [x, y] points" in by_line[5].reason and "got 3 points" in by_line[5].reason
    assert by_line[6].kind == "missing_image" and by_line[6].path == str(tmp_path / "imgs" / "missing.png")
    assert "unknown key(s) 'corner'" in by_line[7].reason
    assert "not clockwise" in by_line[8].reason
    assert "expected a JSON object" in by_line[9].reason
    assert by_line[10].reason.startswith("bbox: expected x1 <= x2")
    assert by_line[11].reason.startswith("not UTF-8")
    assert by_line[13].reason == "missing key 'image'"
    assert by_line[14].reason.startswith("corners: expected 4 [x, y] points of finite numbers")
    assert str(by_line[4]).startswith(f"{tmp_path / 'labels.jsonl'}:4: ")
    summary = r.summary()
    assert "\n" not in summary
    assert summary == (f"manifest {tmp_path / 'labels.jsonl'}: 3 of 13 lines usable; "
                       "9 malformed lines, 1 missing image; images not decoded")


def test_manifest_char_occlusion_round_trips_and_is_checked(tmp_path):
    _png(tmp_path / "imgs" / "a.png")
    lines = [json.dumps({"image": "imgs/a.png", "text": "A", "char_occlusion": 0.25}),   # 1 ok
             json.dumps({"image": "imgs/a.png", "char_occlusion": None}),                # 2 ok, unknown
             json.dumps({"image": "imgs/a.png", "char_occlusion": 1.5}),                 # 3 out of range
             json.dumps({"image": "imgs/a.png", "char_occlusion": "half"})]              # 4 not a number
    res = C.read_manifest(_manifest(tmp_path, lines))
    assert [s.char_occlusion for s in res] == [0.25, None]
    assert res.report.counts == {"malformed_line": 2}
    assert all("char_occlusion: expected a fraction in [0, 1]" in i.reason for i in res.report.examples)
    assert res[0].to_dict()["char_occlusion"] == 0.25 and res[0] != C.Sample(res[0].image_path, text="A")
    with pytest.raises(InvalidArgumentError, match=r"char_occlusion: expected a fraction in \[0, 1\]"):
        C.Sample(tmp_path / "x.png", char_occlusion=-0.1)


def test_manifest_check_images_counts_unreadable(tmp_path):
    _png(tmp_path / "a.png")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    m = _manifest(tmp_path, [json.dumps({"image": "a.png"}), json.dumps({"image": "broken.jpg"})])
    assert len(C.read_manifest(m)) == 2  # not decoded: both exist
    res = C.read_manifest(m, check_images=True)
    assert len(res) == 1 and res.report.unreadable_images == 1 and res.report.images_checked
    assert res.report.examples[0].line == 2 and "OpenCV cannot decode" in res.report.examples[0].reason


def test_report_keeps_a_few_examples_per_kind(tmp_path):
    _png(tmp_path / "a.png")
    lines = [json.dumps({"image": "a.png"})] + ["{bad"] * 8 + [json.dumps({"image": f"m{i}.png"}) for i in range(4)]
    r = C.read_manifest(_manifest(tmp_path, lines), max_examples=2).report
    assert r.counts == {"malformed_line": 8, "missing_image": 4}
    assert [(i.kind, i.line) for i in r.examples] == [
        ("malformed_line", 2), ("malformed_line", 3), ("missing_image", 10), ("missing_image", 11)]
    d = r.to_dict()
    assert json.loads(json.dumps(d)) == d and d["summary"] == r.summary()


# ---------------------------------------------------------------------------
# Image folder reader


def _image_folder(tmp_path: Path) -> Path:
    d = tmp_path / "imgs"
    _png(d / "b.png")
    _png(d / "a.png")
    _png(d / "C.PNG")
    (d / "corrupt.jpg").write_bytes(b"not an image at all")
    (d / "notes.txt").write_text("hello")
    _png(d / "sub" / "d.png")
    return d


def test_image_folder_without_decoding(tmp_path):
    d = _image_folder(tmp_path)
    res = C.read_image_folder(d)
    assert [s.image_path.name for s in res] == ["C.PNG", "a.png", "b.png", "corrupt.jpg"]  # sorted
    assert all(s.corners is None and s.text is None and s.plate_type is None and s.bbox is None for s in res)
    r = res.report
    assert r.kind == "images" and r.entries == 4 and r.usable == 4 and not r.images_checked
    assert r.counts == {"skipped": 2} and r.skipped == 2
    reasons = {Path(i.path).name: i.reason for i in r.examples}
    assert reasons["notes.txt"].startswith("not an image") and "recursive=True" in reasons["sub"]
    assert r.summary() == (f"image folder {d}: 4 of 4 image files usable; 2 non-image entries skipped; "
                           "images not decoded")


def test_image_folder_with_decoding(tmp_path):
    d = _image_folder(tmp_path)
    res = C.read_image_folder(d, check_images=True)
    assert [s.image_path.name for s in res] == ["C.PNG", "a.png", "b.png"]
    assert res.report.unreadable_images == 1 and res.report.images_checked
    assert [i.path for i in res.report.examples if i.kind == "unreadable_image"] == [str(d / "corrupt.jpg")]
    assert "1 unreadable image" in res.report.summary() and res.report.summary().endswith("images decoded")


def test_image_folder_recursive_and_extensions(tmp_path):
    d = _image_folder(tmp_path)
    res = C.read_image_folder(d, recursive=True, check_images=True)
    assert [s.image_path.relative_to(d).as_posix() for s in res] == ["C.PNG", "a.png", "b.png", "sub/d.png"]
    assert res.report.counts == {"skipped": 1, "unreadable_image": 1}
    res = C.read_image_folder(d, extensions=("png",))
    assert len(res) == 3 and res.report.skipped == 3  # corrupt.jpg, notes.txt, sub
    with pytest.raises(InvalidArgumentError, match="extensions"):
        C.read_image_folder(d, extensions=())


def test_image_folder_broken_link_is_missing(tmp_path):
    d = tmp_path / "imgs"
    _png(d / "a.png")
    os.symlink(d / "gone.png", d / "link.png")
    res = C.read_image_folder(d)
    assert len(res) == 1 and res.report.missing_images == 1
    assert res.report.examples[0].reason == "broken symbolic link"


# ---------------------------------------------------------------------------
# CCPD folder reader


def _ccpd_folder(tmp_path: Path) -> Path:
    d = tmp_path / "ccpd"
    for name in (README_NAME, GREEN_NAME, BLUR_NAME):
        _png(d / name)  # cv2 writes JPEG for .jpg
    _png(d / _with("plate", "0_0_22_27_27_33"))  # 6 characters
    _png(d / "photo_0001.jpg")
    (d / "README.txt").write_text("not an image")
    return d


def test_ccpd_folder_mixes_good_and_malformed(tmp_path):
    d = _ccpd_folder(tmp_path)
    res = C.read_ccpd_folder(d)
    r = res.report
    assert r.kind == "ccpd" and r.entries == 5 and r.usable == 3
    assert r.counts == {"malformed_name": 2, "skipped": 1}
    assert r.malformed == 2
    by_name = {Path(i.path).name: i.reason for i in r.examples}
    assert by_name["photo_0001.jpg"].startswith("field 'fields': expected 7")
    assert by_name[_with("plate", "0_0_22_27_27_33")].startswith("field 'plate': expected 7 (blue) or 8")
    s = {x.image_path.name: x for x in res}
    readme = s[README_NAME]
    np.testing.assert_array_equal(readme.corners, [[154, 383], [363, 402], [386, 473], [177, 454]])
    assert readme.text == "皖AY339S" and readme.plate_type == "blue" and readme.bbox == (154.0, 383.0, 386.0, 473.0)
    assert s[GREEN_NAME].plate_type == "green" and s[GREEN_NAME].text == "皖AD06799"
    assert r.summary() == (f"CCPD folder {d}: 3 of 5 image files usable; 2 malformed names, "
                           "1 non-image entry skipped; images not decoded")


def test_ccpd_folder_check_images(tmp_path):
    d = _ccpd_folder(tmp_path)
    (d / README_NAME).write_bytes(b"truncated")
    res = C.read_ccpd_folder(d, check_images=True)
    assert len(res) == 2 and res.report.unreadable_images == 1


# ---------------------------------------------------------------------------
# Empty sources and missing paths


def test_empty_sources_raise_and_say_why(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("x")
    with pytest.raises(C.EmptyDatasetError) as ei:
        C.read_image_folder(empty)
    e = ei.value
    assert isinstance(e, EdgeVisionError) and isinstance(e, ValueError)
    assert str(empty) in str(e) and "0 of 0 image files usable" in str(e) and "No file with extension .jpg" in str(e)
    assert "notes.txt: not an image" in str(e)
    assert e.report.entries == 0 and e.report.skipped == 1

    bad = tmp_path / "bad"
    _png(bad / "x.jpg")
    with pytest.raises(C.EmptyDatasetError, match=r"malformed name.*x\.jpg: field 'fields'"):
        C.read_ccpd_folder(bad)
    (bad / "x.jpg").write_bytes(b"junk")
    with pytest.raises(C.EmptyDatasetError, match="1 unreadable image") as ei:
        C.read_image_folder(bad, check_images=True)
    assert ei.value.report.unreadable_images == 1

    m = _manifest(tmp_path, ["{oops", json.dumps({"image": "nope.png"})])
    with pytest.raises(C.EmptyDatasetError, match=r"1 malformed line, 1 missing image.*labels\.jsonl:1: invalid JSON"):
        C.read_manifest(m)
    m.write_text("\n  \n")
    with pytest.raises(C.EmptyDatasetError, match="no non-blank line"):
        C.read_manifest(m)


def test_missing_and_wrong_paths_are_named(tmp_path):
    missing = tmp_path / "nope"
    for reader in (C.read_manifest, C.read_image_folder, C.read_ccpd_folder, C.read_source, C.detect_source_kind):
        with pytest.raises(C.DatasetNotFoundError) as ei:
            reader(missing)
        assert isinstance(ei.value, FileNotFoundError) and isinstance(ei.value, EdgeVisionError)
        assert str(missing) in str(ei.value) and ei.value.path == str(missing)
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(InvalidArgumentError, match=r"file\.txt' is not a folder"):
        C.read_image_folder(f)
    with pytest.raises(InvalidArgumentError, match=r"is not a file \(expected a JSONL manifest"):
        C.read_manifest(tmp_path)
    with pytest.raises(InvalidArgumentError, match=r"not a \.jsonl manifest"):
        C.detect_source_kind(f)
    with pytest.raises(InvalidArgumentError, match="kind: expected 'auto'"):
        C.read_source(tmp_path, kind="coco")


def test_detect_source_kind(tmp_path):
    assert C.detect_source_kind(_ccpd_folder(tmp_path)) == "ccpd"
    assert C.detect_source_kind(_image_folder(tmp_path)) == "images"
    mixed = _image_folder(tmp_path / "mixed")
    _png(mixed / README_NAME)  # one CCPD name: read as CCPD, the others reported as malformed names
    assert C.detect_source_kind(mixed) == "ccpd"
    assert C.read_source(mixed).report.counts["malformed_name"] == 4
    assert len(C.read_source(mixed, kind="images")) == 5
    _png(tmp_path / "x.png")
    assert C.detect_source_kind(_manifest(tmp_path, [json.dumps({"image": "x.png"})])) == "manifest"
    assert C.read_source(tmp_path / "labels.jsonl").report.kind == "manifest"


# ---------------------------------------------------------------------------
# Command line


def test_cli_inspect_in_process(tmp_path, capsys):
    d = _image_folder(tmp_path)
    assert cli_main(["inspect", str(d), "--check-images", "--samples", "2"]) == 0
    out = capsys.readouterr().out
    first, rest = out.split("\n", 1)
    assert first.startswith(f"image folder {d}: 3 of 4 image files usable") and "1 unreadable image" in first
    doc = json.loads(rest)
    assert doc["report"]["kind"] == "images" and doc["report"]["counts"]["unreadable_image"] == 1
    assert [Path(s["image"]).name for s in doc["samples"]] == ["C.PNG", "a.png"]
    assert cli_main(["inspect", str(d), "--kind", "images", "--samples", "0"]) == 0
    assert json.loads(capsys.readouterr().out.split("\n", 1)[1])["samples"] == []

    assert cli_main(["inspect", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("calibration inspect: error: path: ") and str(tmp_path / "missing") in err
    with pytest.raises(SystemExit):
        cli_main(["inspect", str(d), "--samples", "-1"])
    capsys.readouterr()


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONIOENCODING="utf-8",
               PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    return subprocess.run([sys.executable, "-W", "error", "-m", "calibration", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, encoding="utf-8", timeout=60)


def test_cli_inspect_subprocess(tmp_path):
    d = _ccpd_folder(tmp_path)
    r = _run_cli("inspect", str(d))
    assert r.returncode == 0, r.stderr
    first, rest = r.stdout.split("\n", 1)
    assert first == (f"CCPD folder {d}: 3 of 5 image files usable; 2 malformed names, "
                     "1 non-image entry skipped; images not decoded")
    doc = json.loads(rest)
    assert doc["report"]["kind"] == "ccpd" and len(doc["samples"]) == 3
    sample = next(s for s in doc["samples"] if s["image"].endswith(README_NAME))
    assert sample["text"] == "皖AY339S" and sample["corners"][0] == [154.0, 383.0]

    r = _run_cli("inspect", str(tmp_path / "missing"))
    assert r.returncode == 2 and "does not exist" in r.stderr and str(tmp_path / "missing") in r.stderr
    r = _run_cli("frobnicate")
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_importing_calibration_stays_light():
    code = "import sys, calibration; bad = {'cv2', 'onnx', 'torch'} & set(sys.modules); assert not bad, bad"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-W", "error", "-c", code], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
