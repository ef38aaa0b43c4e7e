"""calibration.meter_synth and calibration.meter_real: deterministic generator, right labels, real readers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import edgevision
from calibration.meter_real import drum_digits, lcd_images, lcd_rows, lcd_screen
from calibration.meter_synth import (DRUM_FONTS, DRUM_GEOMETRIES, METER_CLASSES, SCREEN_SIZE, TTF_FACES, _Face,
                                     _cylinder_strip, _glyph, digit_crop, nearest_digit, reading_from_positions, render_scene, render_screen,
                                     screen_homography)

DATA = Path(__file__).parent / "data" / "meters"


@pytest.mark.parametrize("seed", [0, 3, 17])
def test_screen_is_deterministic(seed: int) -> None:
    a, b = render_screen(seed), render_screen(seed)
    assert np.array_equal(a.image, b.image)
    assert a.reading == b.reading and a.style == b.style
    assert np.array_equal(a.boxes, b.boxes) and np.array_equal(a.positions, b.positions)
    assert not np.array_equal(a.image, render_screen(seed + 1).image)


def test_scene_is_deterministic() -> None:
    a, b = render_scene(5), render_scene(5)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.corners, b.corners)
    assert a.meter_class == b.meter_class and a.reading == b.reading


@pytest.mark.parametrize("style", ["analog", "digital"])
def test_screen_labels(style: str) -> None:
    for seed in range(40):
        s = render_screen(seed, style)
        assert s.style == style
        assert s.image.shape == (*SCREEN_SIZE, 3) and s.image.dtype == np.uint8
        h, w = SCREEN_SIZE
        assert (s.boxes[:, 0] >= 0).all() and (s.boxes[:, 2] <= w).all()
        assert (s.boxes[:, 1] >= 0).all() and (s.boxes[:, 3] <= h).all()
        assert (s.boxes[:, 2] > s.boxes[:, 0]).all() and (s.boxes[:, 3] > s.boxes[:, 1]).all()
        assert s.classes.count("decimal") == 1 and s.classes[-1] == "decimal"
        digits = s.digit_boxes
        assert len(digits) == len(s.positions)
        assert np.all(np.diff(digits[:, 0]) > 0)                       # left to right
        assert ((s.positions >= 0) & (s.positions < 10)).all()
        if style == "digital":
            assert np.array_equal(s.positions, np.round(s.positions))
        # the reading: each digit's nearest whole digit, "." before the digits inside the decimal box
        dec = s.boxes[-1]
        cx = (digits[:, 0] + digits[:, 2]) / 2
        n_dec = int(np.sum((cx >= dec[0]) & (cx <= dec[2])))
        assert n_dec >= 1
        assert s.reading == reading_from_positions(s.positions, n_dec)
        assert s.reading.replace(".", "") == "".join(str(nearest_digit(p)) for p in s.positions)


def test_seven_segment_one_is_labelled_by_its_strokes() -> None:
    # A "1" lights only its cell's right edge; its box frames the strokes (as the real LCD labels do),
    # narrower than the other digits' boxes and centred on the dark strokes.
    ones = 0
    for seed in range(60):
        s = render_screen(seed, "digital")
        digits = s.digit_boxes
        widths = digits[:, 2] - digits[:, 0]
        is_one = np.array([nearest_digit(p) == 1 for p in s.positions])
        if not is_one.any() or is_one.all():
            continue
        gray = s.image.astype(np.float32).mean(axis=2)
        dark = np.clip(np.median(gray) - gray, 0, None)
        heights = digits[:, 3] - digits[:, 1]
        for box, w, h in zip(digits[is_one], widths[is_one], heights[is_one]):
            peers = widths[~is_one & (np.abs(heights - h) < 0.01 * h)]   # other digits of the same size
            if len(peers):
                ones += 1
                assert 0.5 <= w / np.median(peers) < 0.95
            x0, y0, x1, y1 = (int(round(v)) for v in box)
            profile = dark[y0:y1, x0:x1].sum(axis=0)
            centre = float((profile * (np.arange(len(profile)) + 0.5)).sum() / profile.sum())
            assert abs(centre / (x1 - x0) - 0.5) < 0.2, (seed, box, centre)
    assert ones >= 10


def test_nearest_digit_convention() -> None:
    assert [nearest_digit(p) for p in (3.4, 3.6, 9.6, 0.2, 7.0)] == [3, 4, 0, 0, 7]
    assert reading_from_positions(np.array([0, 1, 2.6, 3.4, 5.0]), 2) == "013.35"


def test_half_rolled_drums_occur() -> None:
    fracs = np.concatenate([render_screen(s, "analog").positions % 1 for s in range(30)])
    assert np.any((fracs > 0.2) & (fracs < 0.8))


@pytest.mark.parametrize("option, choices, other", [("drums", DRUM_GEOMETRIES, "v2"),
                                                    ("fonts", DRUM_FONTS, "many")])
def test_the_default_drums_keep_their_pixels_and_the_other_drawing_keeps_the_labels(option: str, choices: tuple,
                                                                                       other: str) -> None:
    # drums: v1 (default) / v2 geometry; fonts: hershey (default) / many typefaces
    assert choices == {"drums": ("v1", "v2"), "fonts": ("hershey", "many")}[option]
    for seed in (0, 7, 12):
        a, b = render_screen(seed, "analog"), render_screen(seed, "analog", **{option: choices[0]})
        c, d = render_screen(seed, "analog", **{option: other}), render_screen(seed, "analog", **{option: other})
        assert np.array_equal(a.image, b.image)                    # the held-out sets' pixels are unchanged
        assert np.array_equal(c.image, d.image)                    # the other drawing is deterministic too
        assert not np.array_equal(a.image, c.image)
        # the same meter: drums, boxes and reading come before the drums are drawn
        assert np.array_equal(a.positions, c.positions) and np.array_equal(a.boxes, c.boxes)
        assert a.reading == c.reading
        # an LCD has no drums: the same pixels either way
        assert np.array_equal(render_screen(seed, "digital").image,
                              render_screen(seed, "digital", **{option: other}).image)
    s1, s2, v1 = render_scene(6, **{option: other}), render_scene(6, **{option: other}), render_scene(6)
    assert np.array_equal(s1.image, s2.image) and not np.array_equal(s1.image, v1.image)
    assert (s1.meter_class, s1.reading) == (v1.meter_class, v1.reading) == ("analog", v1.reading)


@pytest.mark.parametrize("bad", ["ttf", "", None])
def test_drum_fonts_are_checked(bad: object) -> None:
    with pytest.raises(ValueError, match="fonts"):
        render_screen(0, fonts=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fonts"):
        render_scene(0, fonts=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("face", TTF_FACES)
def test_every_truetype_face_draws_ten_distinct_centred_digits(face: str) -> None:
    h, w = 48, 30
    glyphs = [_glyph(str(d), h, w, _Face(face), 1.2) for d in range(10)]
    for g in glyphs:
        assert g.shape == (h, w) and g.dtype == np.float32 and 0 <= g.min() and g.max() <= 1
        rows, cols = np.flatnonzero(g.max(1) > 0.3), np.flatnonzero(g.max(0) > 0.3)
        # fitted as a Hershey glyph is: within 0.78 of the height and 0.86 of the width, centred
        assert 0.55 * h <= rows[-1] - rows[0] + 1 <= 0.8 * h + 2 and cols[-1] - cols[0] + 1 <= 0.86 * w + 2
        assert abs((rows[0] + rows[-1]) / 2 - h / 2) < 3 and abs((cols[0] + cols[-1]) / 2 - w / 2) < 3
    for i in range(10):
        for j in range(i + 1, 10):
            assert np.abs(glyphs[i] - glyphs[j]).mean() > 0.02, (face, i, j)
    # condensed: the same glyph narrower for its height (a glyph its cell's width limited may grow taller,
    # up to the same 0.78 of the height)
    wide, narrow = _glyph("0", h, w, _Face(face), 1.2), _glyph("0", h, w, _Face(face), 1.2, condense=0.65)
    ink_w = [np.count_nonzero(g.max(0) > 0.3) for g in (wide, narrow)]
    ink_h = [np.count_nonzero(g.max(1) > 0.3) for g in (wide, narrow)]
    assert ink_w[1] / ink_h[1] < 0.8 * ink_w[0] / ink_h[0] and ink_h[1] <= 0.8 * h + 2


@pytest.mark.parametrize("bad", ["v3", "", None])
def test_drum_geometry_is_checked(bad: object) -> None:
    with pytest.raises(ValueError, match="drums"):
        render_screen(0, drums=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="drums"):
        render_scene(0, drums=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("position", [2.5, 5.5, 9.5])
def test_v2_half_rolled_drum_shows_two_large_halves(position: float) -> None:
    # Half-way between two digits a real drum shows the lower half of one and the upper half of the next,
    # both large; v1's window is mostly empty in one half (the reason v2 exists).
    ch, cw = 60, 36
    v1 = _cylinder_strip(position, ch, cw, ch * 1.1, 0, 1.2, 0.0, ch * 0.7)
    gh = 0.78 * ch
    v2 = _cylinder_strip(position, ch, cw, 1.27 * gh, 0, 1.2, 0.0, gh, radius=1.6 * 1.27 * gh, tall=True)
    ink = lambda m: (m.max(1) > 0.5)                                # noqa: E731  rows holding ink
    assert ink(v2)[: ch // 2].mean() >= 0.6 and ink(v2)[ch // 2:].mean() >= 0.6
    assert min(ink(v1)[: ch // 2].mean(), ink(v1)[ch // 2:].mean()) < 0.3
    whole = _cylinder_strip(float(int(position)), ch, cw, 1.27 * gh, 0, 1.2, 0.0, gh, radius=1.6 * 1.27 * gh,
                            tall=True)
    assert 0.65 <= ink(whole).mean() <= 0.9                          # a whole digit: its ink fills most of the window


def test_scene_labels_and_corners_map_the_screen() -> None:
    classes = set()
    for seed in range(30):
        sc = render_scene(seed)
        classes.add(sc.meter_class)
        assert sc.meter_class in METER_CLASSES
        assert sc.corners.shape == (4, 2) and sc.image.shape == (256, 256, 3)
        assert sc.reading == ("" if sc.meter_class == "illegible" else sc.screen.reading)
        # the labelled screen is what warping the corners shows
        again = edgevision.warp_quad(sc.image, sc.corners, SCREEN_SIZE, layout="NHWC", dtype="uint8", scale=1.0)[0]
        assert np.array_equal(again, sc.screen.image)
        # corners are TL, TR, BR, BL of the screen: the homography maps the screen's corners onto them
        hom = screen_homography(sc.corners)
        h, w = SCREEN_SIZE
        pts = np.array([[0, 0, 1], [w, 0, 1], [w, h, 1], [0, h, 1]], np.float64) @ hom.T
        assert np.allclose(pts[:, :2] / pts[:, 2:], sc.corners, atol=1e-3)
        # clockwise in image coordinates (y down): positive shoelace area
        c = sc.corners
        area = 0.5 * np.sum(c[:, 0] * np.roll(c[:, 1], -1) - np.roll(c[:, 0], -1) * c[:, 1])
        assert area > 0
    assert classes == set(METER_CLASSES)


def test_legible_scene_screen_keeps_the_digits() -> None:
    # a legible scene warped back through its corners shows the digits where its boxes say
    sc = next(s for s in (render_scene(i) for i in range(20)) if s.meter_class == "analog")
    crop = digit_crop(sc.screen.image, sc.screen.digit_boxes[0])
    assert crop.shape == (32, 20, 3) and crop.std() > 5


def test_real_drum_reader_on_committed_samples() -> None:
    items = drum_digits("all", directory=DATA / "drum")
    assert len(items) == 10
    assert {d.position for d in items} == {0.0, 1.0, 2.3, 3.7, 4.0, 5.0, 6.8, 7.0, 8.2, 9.6}
    assert all(d.image.shape == (32, 20, 3) for d in items)
    assert {d.position: d.digit for d in items}[3.7] == 4 and {d.position: d.digit for d in items}[9.6] == 0


def test_real_lcd_reader_on_committed_samples() -> None:
    items = lcd_images("all", directory=DATA / "lcd")
    assert sorted(i.reading for i in items) == ["4225", "4544", "4721"]
    for it in items:
        rows = lcd_rows(it)
        assert len(rows) == 1 and rows[0].reading == it.reading
        screen, boxes = lcd_screen(rows[0])
        assert screen.shape == (*SCREEN_SIZE, 3)
        assert np.all(np.diff(boxes[:, 0]) > 0)
        assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= SCREEN_SIZE[1]).all()
        assert (boxes[:, 1] >= 0).all() and (boxes[:, 3] <= SCREEN_SIZE[0]).all()


def test_real_splits_are_disjoint_and_deterministic() -> None:
    # the split rule works on the committed samples (the split of a file depends on its name only)
    all_ = {d.path for d in drum_digits("all", directory=DATA / "drum")}
    train = {d.path for d in drum_digits("train", directory=DATA / "drum")}
    held = {d.path for d in drum_digits("heldout", directory=DATA / "drum")}
    assert train | held == all_ and not train & held
    lt = {i.path for i in lcd_images("train", directory=DATA / "lcd")}
    lh = {i.path for i in lcd_images("heldout", directory=DATA / "lcd")}
    assert not lt & lh and len(lt | lh) == 3


def test_drum_validation_divides_the_train_split(tmp_path: Path) -> None:
    # 8 files a folder: 3 held out (smallest crc32 of the name), the next 2 validation, 3 fit
    import shutil
    import zlib

    src = next((DATA / "drum" / "3.7").iterdir())
    folder = tmp_path / "3.7"
    folder.mkdir()
    names = [f"3.7_{i}.jpg" for i in range(8)]
    for n in names:
        shutil.copy(src, folder / n)
    order = sorted(names, key=lambda n: (zlib.crc32(n.encode("utf-8")), n))
    split = {k: sorted(Path(d.path).name for d in drum_digits(k, directory=tmp_path))
             for k in ("heldout", "validation", "fit", "train", "all")}
    assert split["heldout"] == sorted(order[:3])
    assert split["validation"] == sorted(order[3:5]) and split["fit"] == sorted(order[5:])
    assert split["train"] == sorted(order[3:]) and split["all"] == sorted(names)
    with pytest.raises(ValueError, match="split: expected one of"):
        drum_digits("val", directory=tmp_path)
    with pytest.raises(ValueError, match="split: expected one of"):
        lcd_images("fit", directory=DATA / "lcd")  # the LCD photos split by groups, not this way
