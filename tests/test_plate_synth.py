"""calibration.plate_synth: realistic plate crops in the real plate typeface, and the OCR recipe's mixture."""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from calibration.plate_synth import (ASSET_DIR, CROP_PLATE_TYPES, SPECIAL_PLATES, RealisticCrops, Typeface,
                                     capture_effects, contact_sheet, loose_quad, render_flat_plate,
                                     special_plate_text)
from edgevision.errors import InvalidArgumentError

SPECIAL_FORMAT = {
    "police": r"^[^\x00-\x7f][A-Z][A-Z0-9]{4}警$",
    "coach": r"^[^\x00-\x7f][A-Z][A-Z0-9]{4}学$",
    "trailer": r"^[^\x00-\x7f][A-Z][A-Z0-9]{4}挂$",
    "hk_macau": r"^粤Z[A-Z0-9]{4}[港澳]$",
    "consulate": r"^[^\x00-\x7f]A[0-9]{4}领$",
    "embassy": r"^使[0-9]{6}$",
}


def test_the_typeface_has_every_character_the_ocr_reads() -> None:
    from exporters.zoo import torch_models
    tf = Typeface()
    wanted = set(torch_models.PLATE_PROVINCES) | {c for c in torch_models.PLATE_SYMBOLS if c}
    assert wanted <= set(tf.characters), sorted(wanted - set(tf.characters))
    g = tf.mask("A")
    assert g.dtype == np.uint8 and g.shape[0] == 96 and g.max() == 255 and g.min() == 0
    # Double-row letters have their own (wider) shapes; a missing style falls back to single-row.
    assert tf.mask("A", "220_up").shape[1] > g.shape[1]
    assert np.array_equal(tf.mask("警", "220_down"), tf.mask("警"))
    assert (ASSET_DIR / "LICENSE").is_file() and "MIT" in (ASSET_DIR / "LICENSE").read_text()


def test_typeface_errors_name_the_argument(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="directory"):
        Typeface(tmp_path / "absent")
    with pytest.raises(InvalidArgumentError, match="directory: no glyph"):
        Typeface(tmp_path)
    with pytest.raises(InvalidArgumentError, match="no glyph for 'ä'"):
        Typeface().mask("ä")


@pytest.mark.parametrize("plate_type", sorted(SPECIAL_PLATES))
def test_special_plate_texts_follow_their_format(plate_type: str) -> None:
    rng = np.random.default_rng(3)
    texts = [special_plate_text(plate_type, rng) for _ in range(50)]
    for t in texts:
        assert re.match(SPECIAL_FORMAT[plate_type], t), t
    assert len(set(texts)) > 40


def test_special_plate_text_rejects_an_unknown_type() -> None:
    with pytest.raises(InvalidArgumentError, match="plate_type"):
        special_plate_text("blue", np.random.default_rng(0))


def _red(img: np.ndarray) -> np.ndarray:
    b, g, r = (img[..., k].astype(int) for k in range(3))
    return (r > g + 80) & (r > b + 80)


def test_red_characters_are_red_and_only_those() -> None:
    """Police plates end in a red 警, embassy plates start with a red 使; nothing else is red."""
    rng = np.random.default_rng(0)
    img, alpha = render_flat_plate("京A1234警", "police", rng)
    assert img.shape == (140, 440, 3) and alpha.shape == (140, 440)
    red = _red(img)
    cols = np.nonzero(red.any(axis=0))[0]
    assert red.sum() > 300 and cols.min() > 440 * 6 / 7 - 20  # only in the last character cell
    img, _ = render_flat_plate("使014578", "embassy", np.random.default_rng(1))
    cols = np.nonzero(_red(img).any(axis=0))[0]
    assert cols.size and cols.max() < 440 / 7 + 20  # only in the first cell
    img, _ = render_flat_plate("苏A12345", "blue", np.random.default_rng(2))
    assert _red(img).sum() == 0


def test_plate_colours_follow_the_type() -> None:
    means = {}
    for t, text in (("blue", "苏A12345"), ("yellow", "苏A12345"), ("police", "苏A1234警"), ("embassy", "使123456")):
        img, _ = render_flat_plate(text, t, np.random.default_rng(5))
        means[t] = img[60:80, 5:15].reshape(-1, 3).mean(0)  # plain plate left of the first character
    assert means["blue"][0] > means["blue"][2] + 60  # B >> R
    assert means["yellow"][2] > means["yellow"][0] + 60  # R >> B
    assert means["police"].min() > 150  # white
    assert means["embassy"].max() < 90  # black


def test_crops_are_deterministic_sized_and_labelled() -> None:
    from exporters.zoo import torch_models
    gen = RealisticCrops(seed=4)
    a, b = gen[7], gen[7]
    assert np.array_equal(a[0], b[0]) and a[1:] == b[1:]
    assert not np.array_equal(gen[8][0], a[0])
    crop, text, plate_type = a
    assert crop.shape == (64, 256, 3) and crop.dtype == np.uint8 and crop.flags.c_contiguous
    assert plate_type in CROP_PLATE_TYPES
    assert RealisticCrops(seed=4, size=(32, 128))[7][1] == text  # the size changes pixels only
    for crop, text, t in gen.samples(0, 40):
        assert text[0] in torch_models.PLATE_PROVINCES
        assert all(c in torch_models.PLATE_SYMBOLS for c in text[1:])
        assert len(text) == (8 if t == "green" else 7)


def test_plate_type_mix_is_followed() -> None:
    gen = RealisticCrops(seed=1, plate_types={"yellow": 3.0, "police": 1.0})
    types = [gen[i][2] for i in range(80)]
    assert set(types) == {"yellow", "police"}
    assert 45 <= types.count("yellow") <= 75


def test_crop_arguments_are_checked() -> None:
    with pytest.raises(InvalidArgumentError, match="plate_types"):
        RealisticCrops(plate_types={"purple": 1.0})
    with pytest.raises(InvalidArgumentError, match="plate_types"):
        RealisticCrops(plate_types={"yellow_double": 1.0})
    with pytest.raises(InvalidArgumentError, match="size"):
        RealisticCrops(size=(4, 256))


def test_crops_read_by_the_plate_are_legible_when_effects_are_mild() -> None:
    """The text is really drawn where the label says: with mild effects the rendered characters'
    ink sits inside the plate cells (dark on yellow: the 7 character columns are darker than the gaps)."""
    gen = RealisticCrops(seed=2, plate_types={"yellow": 1.0}, strength=0.0)
    prof = np.zeros(256)
    for i in range(12):
        prof += gen[i][0].astype(float).mean(axis=(0, 2))
    # The dot gap between the 2nd and 3rd characters (GA 36: ~27% of the width) is brighter than the
    # centres of the 2nd and 3rd characters around it.
    dot, c2, c3 = int(0.285 * 256), int(0.205 * 256), int(0.37 * 256)
    assert prof[dot - 2: dot + 3].mean() > max(prof[c2 - 2: c2 + 3].mean(), prof[c3 - 2: c3 + 3].mean())


def test_capture_effects_keep_shape_and_are_seeded() -> None:
    img = np.full((36, 136, 3), 128, np.uint8)
    cv2.putText(img, "A123", (5, 30), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
    a = capture_effects(img, np.random.default_rng(9))
    b = capture_effects(img, np.random.default_rng(9))
    assert a.shape == img.shape and a.dtype == np.uint8 and np.array_equal(a, b)
    outs = [capture_effects(img, np.random.default_rng(s)) for s in range(10)]
    assert len({o.tobytes() for o in outs}) == 10


def test_loose_quad_is_a_convex_clockwise_quad_near_the_plate() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        q = loose_quad(440.0, 140.0, rng)
        assert q.shape == (4, 2)
        # Clockwise on the image (y down): positive cross products all round.
        d = np.roll(q, -1, axis=0) - q
        cross = d[:, 0] * np.roll(d, -1, axis=0)[:, 1] - d[:, 1] * np.roll(d, -1, axis=0)[:, 0]
        assert (cross > 0).all()
        assert np.abs(q - [[0, 0], [440, 0], [440, 140], [0, 140]]).max() < 0.35 * 140 + 0.1 * 440


def test_char_box_is_the_ga36_character_area() -> None:
    from calibration.plate_synth import char_box

    # 7 cells of 45 mm, 5 gaps of 12 mm and one of 34 mm (the dot) = 409 mm, centred on 440 mm: 15.5 .. 424.5;
    # the characters are 90 mm high from 25 mm down.
    assert char_box("blue") == (15.5, 25.0, 424.5, 115.0)
    assert char_box("police") == char_box("blue")
    # New energy: 8 cells of 43 mm, 6 gaps of 9 mm and one of 49 mm = 447 mm on 480 mm: 16.5 .. 463.5.
    assert char_box("green") == (16.5, 25.0, 463.5, 115.0)


def test_quads_cover_tight_and_loose_crops() -> None:
    """Some quads cut the plate's border off (real hand-cut crops), some include room around it."""
    from calibration.plate_synth import char_box

    rng = np.random.default_rng(1)
    qs = np.array([loose_quad(440.0, 140.0, rng, char_box("blue")) for _ in range(300)])
    top = qs[:, :2, 1].mean(axis=1)
    assert (top > 15).mean() > 0.25  # inside the plate, near the characters' top (25 mm)
    assert (top < -10).mean() > 0.1  # above the plate
    left = qs[:, [0, 3], 0].mean(axis=1)
    assert left.min() > -0.15 * 440 and left.max() < 25


def test_contact_sheet_tiles() -> None:
    a, b = np.zeros((2, 3, 3), np.uint8), np.full((2, 3, 3), 9, np.uint8)
    s = contact_sheet([a, b, b], cols=2)
    assert s.shape == (4, 6, 3) and s[0, 3:].min() == 9 and s[2:, :3].min() == 9 and s[2:, 3:].max() == 0
    with pytest.raises(InvalidArgumentError, match="crops"):
        contact_sheet([])


# --- the OCR recipe's mixture ------------------------------------------------------------------------


def _easypr_tree(tmp_path: Path) -> tuple[Path, list[str]]:
    """A tiny EasyPR-format folder: scenes with one rendered plate each, labelled by rotated rectangle."""
    root = tmp_path / "easypr"
    (root / "images").mkdir(parents=True)
    lines = ["#path\ttext\tplate_kind\tcx,cy,w,h\trotation_deg\tlocateType"]
    texts = []
    for k in range(12):
        text = f"苏A{k:05d}"
        plate, _ = render_flat_plate(text, "blue", np.random.default_rng(k))
        scene = np.full((300, 400, 3), 90, np.uint8)
        small = cv2.resize(plate, (176, 56), interpolation=cv2.INTER_AREA)
        scene[120:176, 112:288] = small
        ok, buf = cv2.imencode(".jpg", scene)
        (root / "images" / f"{k}.jpg").write_bytes(buf.tobytes())
        lines.append(f"images/{k}.jpg\t{text}\t蓝牌\t200,148,176,56\t0\t1")
        texts.append(text)
    (root / "labels.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root, texts


def test_easypr_crops_use_only_the_train_split(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from training.ocr import _easypr_plates, easypr_crop

    root, texts = _easypr_tree(tmp_path)
    plates = _easypr_plates(str(root))
    train = {t for t in texts if zlib.crc32(t.encode("utf-8")) % 5 != 0}
    assert {p[2] for p in plates} == train and len(train) < len(texts)
    rng = np.random.default_rng(0)
    mean = np.zeros(3)
    for _ in range(10):
        crop, text = easypr_crop(plates, rng, (64, 256))
        assert crop.shape == (64, 256, 3) and text in train
        mean += crop.reshape(-1, 3).mean(0) / 10
    b, _, r = mean  # the plate fills the crops: on average its blue dominates the grey scene
    assert b > r + 20


def test_mixed_samples_label_what_they_show(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from training.ocr import MixedOCRSample, decode_labels

    root, texts = _easypr_tree(tmp_path)
    for source in ("crops", "easypr", "scenes"):
        m = MixedOCRSample(3, 8, ((source, 1.0),), str(root))
        x, y = m(5)
        assert x.shape == (64, 256, 3) and y.shape == (9,) and y.dtype == np.int64
        if y[0] >= 0:
            text = decode_labels(y, 8)
            if source == "crops":
                assert text == RealisticCrops(3, (64, 256))[5][1]
            if source == "easypr":
                assert text in texts
        assert np.array_equal(m(5)[0], x)  # deterministic
    with pytest.raises(InvalidArgumentError, match="mix"):
        MixedOCRSample(0, 8, (("nope", 1.0),))(0)


def test_mixed_samples_pass_glyph_warp_to_the_realistic_crops() -> None:
    pytest.importorskip("torch")
    from training.ocr import MixedOCRSample, decode_labels

    plain = MixedOCRSample(3, 8, (("crops", 1.0),))(5)
    warped = MixedOCRSample(3, 8, (("crops", 1.0),), glyph_warp=0.8)(5)
    # Same plate and text (the warp only bends the strokes), different pixels; 0 is the default.
    assert decode_labels(warped[1], 8) == decode_labels(plain[1], 8) == RealisticCrops(3, (64, 256))[5][1]
    assert not np.array_equal(plain[0], warped[0])
    assert np.array_equal(warped[0], RealisticCrops(3, (64, 256), glyph_warp=0.8)[5][0])


def test_ocr_recipe_rejects_a_bad_glyph_warp(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from training.ocr import train

    with pytest.raises(InvalidArgumentError, match="glyph_warp: expected 0 to 1"):
        train(tmp_path, mix="real", glyph_warp=1.5, samples=8)
    with pytest.raises(InvalidArgumentError, match="glyph_warp: applies"):
        train(tmp_path, mix="synth", glyph_warp=0.5, samples=8)


def test_real_chars_give_masks_of_the_labelled_character(tmp_path: Path) -> None:
    from calibration.plate_synth import RealChars

    (tmp_path / "A").mkdir()
    lines = ["#path\tchar"]
    for k in range(3):
        img = np.zeros((20, 20), np.uint8)
        cv2.rectangle(img, (5 + k, 2), (14, 17), 255, -1)
        cv2.imwrite(str(tmp_path / "A" / f"{k}.jpg"), img)
        lines.append(f"A/{k}.jpg\tA")
    lines.append("A/missing.jpg\tB")
    (tmp_path / "labels.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    rc = RealChars(tmp_path)
    assert rc.characters == "AB"
    rng = np.random.default_rng(0)
    m = rc.mask("A", rng)
    assert m is not None and m.dtype == np.uint8 and m.shape[0] == 64 and m.max() > 200  # 16 px of ink, x4
    assert rc.mask("B", rng) is None and rc.mask("Z", rng) is None  # missing file, unknown character
    with pytest.raises(InvalidArgumentError, match="root"):
        RealChars(tmp_path / "A")
    # A plate drawn with real characters still carries its label.
    plate, _ = render_flat_plate("苏A12345", "blue", np.random.default_rng(1), real_chars=rc)
    assert plate.shape == (140, 440, 3)


def test_special_heldout_is_deterministic_and_covers_every_special_type() -> None:
    from calibration.plate_synth import special_heldout

    a, b = special_heldout(2), special_heldout(2)
    assert [s.plate_type for s in a] == [t for t in SPECIAL_PLATES for _ in range(2)]
    assert all(np.array_equal(x.image, y.image) and x.text == y.text for x, y in zip(a, b))
    for s in a:
        assert re.match(SPECIAL_FORMAT[s.plate_type], s.text) and s.image.shape == (64, 256, 3)
    with pytest.raises(InvalidArgumentError, match="count_per_type"):
        special_heldout(0)


def test_glyph_warp_distorts_characters_and_zero_changes_nothing() -> None:
    from calibration.plate_synth import warp_glyph

    g = Typeface().mask("8")
    a = warp_glyph(g, np.random.default_rng(0), 1.0)
    assert a.shape == g.shape and a.dtype == np.uint8 and not np.array_equal(a, g)
    assert np.array_equal(a, warp_glyph(g, np.random.default_rng(0), 1.0))
    assert 0.5 < a.astype(float).sum() / g.astype(float).sum() < 1.5  # the ink stays, reshaped
    # glyph_warp=0 draws no random number: the plate is the one rendered without the option.
    p0, _ = render_flat_plate("苏A12345", "blue", np.random.default_rng(3))
    p1, _ = render_flat_plate("苏A12345", "blue", np.random.default_rng(3), glyph_warp=0.0)
    p2, _ = render_flat_plate("苏A12345", "blue", np.random.default_rng(3), glyph_warp=0.5)
    assert np.array_equal(p0, p1) and not np.array_equal(p0, p2)
