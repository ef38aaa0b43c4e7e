"""calibration.synth: the synthetic plate scene generator, its font search, the dataset
writer and ``python -m calibration synth``.

Coordinates are continuous pixels (x, y) with the origin at the top-left corner of the
top-left pixel; corners are clockwise from top-left (TL, TR, BR, BL); images are uint8
BGR. Colour tolerances are in uint8 levels (max over the three channels).
"""

from __future__ import annotations

import json
import pickle
import re

import cv2
import numpy as np
import pytest

from calibration import fonts as F
from calibration import synth as S
from calibration.__main__ import main as cli_main
from calibration.ccpd import ADS, ALPHABETS, PROVINCES
from calibration.errors import DatasetExistsError, FontNotFoundError
from calibration.readers import read_manifest
from edgevision.errors import EdgeVisionError, InvalidArgumentError

LETTERS = set("ABCDEFGHJKLMNPQRSTUVWXYZ")
DIGITS = set("0123456789")


@pytest.fixture(scope="module")
def gen():
    return S.PlateSceneGenerator(seed=11)


@pytest.fixture(scope="module")
def clean_gens():
    return {t: S.PlateSceneGenerator(seed=5, clean=True, plate_types=[t]) for t in S.PLATE_TYPES}


def _twice_area(c):
    """Shoelace sum; positive for clockwise order on the image (y down)."""
    c = np.asarray(c, np.float64)
    return float(np.sum(c[:, 0] * np.roll(c[:, 1], -1) - np.roll(c[:, 0], -1) * c[:, 1]))


def _scaled(c, f):
    """The quad scaled by ``f`` about its centroid (f < 1 shrinks it)."""
    centre = c.mean(axis=0)
    return centre + (c - centre) * f


def _border_points(q, per_edge=80):
    """Points evenly spaced along the 4 edges of quad ``q``."""
    t = (np.arange(per_edge) + 0.5) / per_edge
    return np.concatenate([q[k] + (q[(k + 1) % 4] - q[k]) * t[:, None] for k in range(4)])


# ---------------------------------------------------------------------------
# Characters, text and font


def test_plate_chars_are_the_real_ccpd_characters_without_placeholders():
    assert S.PLATE_CHARS == "".join(PROVINCES[:31]) + "".join(ADS[:34])
    assert len(S.PLATE_CHARS) == len(set(S.PLATE_CHARS)) == 65
    for ch in ("O", "I", "警", "学"):
        assert ch not in S.PLATE_CHARS
    assert (S.TRAIN_SEED, S.HELDOUT_SEED, S.HELDOUT_COUNT) == (0, 1_000_003, 500)


def test_every_character_the_generator_can_emit_is_in_the_font_cmap():
    from fontTools.ttLib import TTFont

    path = F.find_cjk_font(S.PLATE_CHARS)
    font = TTFont(str(path), fontNumber=0, lazy=True)
    try:
        cmap = font.getBestCmap()
    finally:
        font.close()
    assert [c for c in S.PLATE_CHARS if ord(c) not in cmap] == []
    assert F.missing_glyphs(path, S.PLATE_CHARS) == ""


def test_glyphs_are_real_characters_not_tofu(gen):
    """Tofu boxes would all look alike: every character's 45x90 mask must differ from every
    other's, and cover a plausible share of its cell."""
    masks = np.stack([gen.renderer.glyph(c, 45, 90).astype(np.float32) / 255 for c in "皖沪京粤川赣鄂"])
    assert masks.shape == (7, 90, 45)
    ink = masks.mean(axis=(1, 2))
    assert np.all((ink > 0.15) & (ink < 0.75)), ink
    diffs = np.abs(masks[:, None] - masks[None, :]).mean(axis=(2, 3))
    off_diagonal = diffs[~np.eye(7, dtype=bool)]
    assert off_diagonal.min() > 0.1, off_diagonal.min()


GREEN_RE = re.compile(r"[DF][A-HJ-NP-Z0-9][0-9]{4}|[0-9]{5}[DF]")


@pytest.mark.parametrize("plate_type", S.PLATE_TYPES)
def test_random_text_has_the_length_and_alphabet_of_its_type(plate_type):
    rng = np.random.default_rng(3)
    texts = [S.random_plate_text(plate_type, rng) for _ in range(400)]
    for text in texts:
        assert len(text) == S.PLATE_LENGTHS[plate_type]
        assert text[0] in PROVINCES[:31] and text[1] in ALPHABETS[:24]
        assert set(text[2:]) <= LETTERS | DIGITS
        if plate_type == "green":
            assert GREEN_RE.fullmatch(text[2:]), text
        assert S.check_plate_text(text, plate_type) == text
    # a real mix: all provinces, letters and digits in the tails
    assert {t[0] for t in texts} == set(PROVINCES[:31])
    tails = set("".join(t[2:] for t in texts))
    assert DIGITS <= tails and len(tails & LETTERS) >= (2 if plate_type == "green" else 20)


def test_generated_samples_carry_valid_text_for_their_type(gen):
    seen = set()
    for i in range(24):
        s = gen[i]
        seen.add(s.plate_type)
        assert S.check_plate_text(s.text, s.plate_type) == s.text
    assert seen == set(S.PLATE_TYPES)


@pytest.mark.parametrize("text, plate_type, match", [
    ("皖A12345", "green", r"text: a 'green' plate has 8 characters, got 7"),
    ("皖A1234", "blue", "text: a 'blue' plate has 7"),
    ("皖O12345", "blue", r"text: character 2 .* 'O'; expected a letter"),
    ("警A12345", "blue", r"text: character 1 .* expected a province"),
    ("皖A1234I", "yellow", r"text: character 7 .* 'I'"),
    ("皖A12345", "red", r"plate_type: expected one of blue, yellow, green, yellow_double, got 'red'"),
])
def test_check_plate_text_names_the_problem(text, plate_type, match):
    with pytest.raises(InvalidArgumentError, match=match):
        S.check_plate_text(text, plate_type)


def test_font_not_found_gives_the_install_command(monkeypatch, tmp_path):
    monkeypatch.delenv(F.CJK_FONT_ENV, raising=False)
    monkeypatch.setattr(F, "KNOWN_CJK_FONTS", (str(tmp_path / "none.ttc"),))
    monkeypatch.setattr(F, "_fc_match", lambda: None)
    with pytest.raises(FontNotFoundError, match="apt-get install fonts-wqy-microhei") as e:
        F.find_cjk_font(S.PLATE_CHARS)
    assert isinstance(e.value, EdgeVisionError) and isinstance(e.value, FileNotFoundError)
    assert e.value.tried == (str(tmp_path / "none.ttc"),)
    with pytest.raises(FontNotFoundError, match="apt-get install fonts-wqy-microhei"):
        S.PlateSceneGenerator(0)


@pytest.fixture
def latin_font(tmp_path):
    """A tiny TrueType font with glyphs for A-Z and 0-9 only (built with fontTools)."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    names = [".notdef"] + [f"g{ord(c)}" for c in chars]
    fb = FontBuilder(1000, isTTF=True)
    fb.setupGlyphOrder(names)
    fb.setupCharacterMap({ord(c): f"g{ord(c)}" for c in chars})
    pen = TTGlyphPen(None)
    pen.moveTo((100, 0)), pen.lineTo((100, 700)), pen.lineTo((500, 700)), pen.lineTo((500, 0)), pen.closePath()
    box = pen.glyph()
    fb.setupGlyf({n: box for n in names})
    fb.setupHorizontalMetrics({n: (600, 100) for n in names})
    fb.setupHorizontalHeader(ascent=800, descent=-200)
    fb.setupNameTable({"familyName": "Latin Only", "styleName": "Regular"})
    fb.setupOS2()
    fb.setupPost()
    path = tmp_path / "latin.ttf"
    fb.save(str(path))
    return str(path)


def test_a_font_without_cjk_glyphs_is_skipped_or_refused(monkeypatch, tmp_path, latin_font):
    latin = latin_font
    monkeypatch.delenv(F.CJK_FONT_ENV, raising=False)
    monkeypatch.setattr(F, "KNOWN_CJK_FONTS", (latin,))
    monkeypatch.setattr(F, "_fc_match", lambda: None)
    with pytest.raises(FontNotFoundError, match=r"latin.ttf \(known path\) lacks 31 characters"):
        F.find_cjk_font(S.PLATE_CHARS)
    # named explicitly (env var or font=): an error, never skipped silently
    monkeypatch.setenv(F.CJK_FONT_ENV, latin)
    with pytest.raises(FontNotFoundError, match=r"\$EDGEVISION_CJK_FONT: .* has no glyph for 31"):
        F.find_cjk_font(S.PLATE_CHARS)
    monkeypatch.setenv(F.CJK_FONT_ENV, str(tmp_path / "missing.ttf"))
    with pytest.raises(FontNotFoundError, match=r"\$EDGEVISION_CJK_FONT: font: .*missing.ttf' does not exist"):
        F.find_cjk_font("A")
    (tmp_path / "junk.ttf").write_bytes(b"not a font")
    with pytest.raises(FontNotFoundError, match="not a readable TrueType/OpenType font"):
        S.PlateSceneGenerator(0, font=tmp_path / "junk.ttf")


def test_env_var_font_is_used_first(monkeypatch):
    path = F.find_cjk_font(S.PLATE_CHARS)
    monkeypatch.setenv(F.CJK_FONT_ENV, str(path))
    monkeypatch.setattr(F, "KNOWN_CJK_FONTS", ())
    monkeypatch.setattr(F, "_fc_match", lambda: None)
    assert F.find_cjk_font(S.PLATE_CHARS) == path


# ---------------------------------------------------------------------------
# Flat plates


@pytest.mark.parametrize("plate_type, shape", [("blue", (140, 440)), ("yellow", (140, 440)), ("green", (140, 480)),
                                               ("yellow_double", (220, 440))])
def test_render_plate_geometry_and_colours(gen, plate_type, shape):
    text = S.random_plate_text(plate_type, np.random.default_rng(0))
    p = gen.render_plate(text, plate_type, np.random.default_rng(1), px_per_mm=1.0)
    assert p.image.shape == (*shape, 3) and p.image.dtype == np.uint8
    assert p.alpha.shape == p.background.shape == shape
    assert p.alpha[0, 0] == 0 and p.alpha[shape[0] // 2, shape[1] // 2] == 255  # rounded corners
    assert p.text == text and p.plate_type == plate_type
    bg = p.image[p.background].astype(int)
    assert 0.3 < p.background.mean() < 0.9
    b, g, r = np.median(bg, axis=0)
    if plate_type == "blue":
        assert b > r + 80 and b > g + 40
    elif plate_type == "green":
        assert g >= r and g >= b
    else:
        assert r > 180 and g > 130 and b < 80
    ink = p.image[~p.background & (p.alpha == 255)].astype(int).mean(axis=1)
    if plate_type == "blue":  # white text, black text elsewhere
        assert np.mean(ink > 150) > 0.3
    else:
        assert np.mean(ink < 90) > 0.3
    with pytest.raises(InvalidArgumentError, match="px_per_mm"):
        gen.render_plate(text, plate_type, px_per_mm=0)


def test_render_plate_is_deterministic_for_an_rng_state(gen):
    a = gen.render_plate("京A12345", "blue", np.random.default_rng(4), px_per_mm=0.5)
    b = S.render_plate("京A12345", "blue", np.random.default_rng(4), px_per_mm=0.5)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.background, b.background)


# ---------------------------------------------------------------------------
# Scenes: determinism


def test_same_seed_and_index_give_identical_samples_in_any_order(gen):
    fresh = S.PlateSceneGenerator(seed=11)
    order_a = {i: gen[i] for i in (0, 1, 2, 3)}
    order_b = {i: fresh[i] for i in (3, 1, 0, 2)}
    for i, a in order_a.items():
        b = order_b[i]
        assert a.image.tobytes() == b.image.tobytes()
        assert np.array_equal(a.corners, b.corners) and np.array_equal(a.bbox, b.bbox)
        assert (a.text, a.plate_type, a.index, a.seed) == (b.text, b.plate_type, i, 11)
    # a pickled copy (as a DataLoader worker gets it, caches dropped) agrees too
    copy = pickle.loads(pickle.dumps(gen))
    assert copy[2].image.tobytes() == order_a[2].image.tobytes()


def test_threads_sharing_a_generator_get_the_same_samples():
    from concurrent.futures import ThreadPoolExecutor

    shared = S.PlateSceneGenerator(seed=21)  # cold glyph cache: threads fill it concurrently
    with ThreadPoolExecutor(2) as pool:
        got = list(pool.map(lambda i: shared[i].image.tobytes(), range(8)))
    solo = S.PlateSceneGenerator(seed=21)
    assert got == [solo[i].image.tobytes() for i in range(8)]


def test_to_manifest_uses_only_the_manifest_keys(gen):
    s = gen[0]
    d = s.to_manifest("images/000000.jpg")
    assert list(d) == ["image", "corners", "text", "plate_type", "bbox", "char_occlusion"]
    assert d["char_occlusion"] == pytest.approx(s.char_occlusion, abs=5e-5)
    assert d["image"] == "images/000000.jpg" and d["text"] == s.text and d["plate_type"] == s.plate_type
    np.testing.assert_allclose(d["corners"], s.corners, atol=5e-4)
    np.testing.assert_allclose(d["bbox"], s.bbox, atol=5e-4)
    json.dumps(d)  # plain JSON types


def test_different_seeds_and_indices_differ(gen):
    other = S.PlateSceneGenerator(seed=12)
    a, b, c = gen[0], other[0], gen[1]
    assert a.image.tobytes() != b.image.tobytes() and a.image.tobytes() != c.image.tobytes()
    assert not np.array_equal(a.corners, b.corners)


def test_clean_and_augmented_samples_share_labels(gen):
    clean = S.PlateSceneGenerator(seed=11, clean=True)
    for i in range(4):
        a, b = gen[i], clean[i]
        assert np.array_equal(a.corners, b.corners) and (a.text, a.plate_type) == (b.text, b.plate_type)
        assert a.image.shape == b.image.shape


def test_not_iterable_but_streams_with_samples(gen):
    with pytest.raises(TypeError):
        iter(gen)
    got = list(gen.samples(5, 8))
    assert [s.index for s in got] == [5, 6, 7]
    assert got[0].image.tobytes() == gen[5].image.tobytes()


# ---------------------------------------------------------------------------
# Scenes: geometry


def _compare_to_plate(s, p, points, tol=25):
    """For the scene pixels under ``points`` (inside the image): whether each has the colour of
    the flat plate ``p`` at the plate point its centre maps to through the homography of
    ``s.corners`` (within ``tol`` levels), and whether that plate point is plain background."""
    H, W = s.image.shape[:2]
    ph, pw = p.image.shape[:2]
    to_plate = cv2.getPerspectiveTransform(s.corners.astype(np.float32),
                                           np.float32([[0, 0], [pw, 0], [pw, ph], [0, ph]])).astype(np.float64)
    points = points[(points[:, 0] >= 0) & (points[:, 0] < W) & (points[:, 1] >= 0) & (points[:, 1] < H)]
    pix = np.floor(points).astype(int)
    uvw = np.c_[pix + 0.5, np.ones(len(pix))] @ to_plate.T  # pixel centres into the plate
    u = np.clip(np.floor(uvw[:, 0] / uvw[:, 2]).astype(int), 0, pw - 1)
    v = np.clip(np.floor(uvw[:, 1] / uvw[:, 2]).astype(int), 0, ph - 1)
    diff = np.abs(s.image[pix[:, 1], pix[:, 0]].astype(int) - p.image[v, u].astype(int)).max(axis=1)
    return diff <= tol, p.background[v, u]


@pytest.mark.parametrize("plate_type", S.PLATE_TYPES)
def test_clean_corners_trace_the_rendered_plate(clean_gens, plate_type):
    """Just inside the quad (shrunk 10% toward its centroid) the scene shows the flat plate's
    background colour, at the plate point the corners' homography maps it to; just outside
    (expanded 10%) it does not."""
    g = clean_gens[plate_type]
    inside_ok, outside_same = [], []
    for i in range(8):
        s, p = g[i], g.plate(i)
        assert s.plate_type == plate_type and p.text == s.text
        same, plain = _compare_to_plate(s, p, _border_points(_scaled(s.corners, 0.9)))
        assert plain.mean() > 0.3  # most of the inner band is plain plate background
        inside_ok.append(same[plain].mean())
        same_out, _ = _compare_to_plate(s, p, _border_points(_scaled(s.corners, 1.1)))
        outside_same.append(same_out.mean())
    assert min(inside_ok) > 0.85 and np.mean(inside_ok) > 0.97, inside_ok
    assert max(outside_same) < 0.5 and np.mean(outside_same) < 0.1, outside_same


def test_corners_are_clockwise_inside_the_image_with_their_bbox(gen):
    for i in range(16):
        s = gen[i]
        H, W = s.image.shape[:2]
        c = s.corners
        assert c.shape == (4, 2) and c.dtype == np.float64 and s.bbox.shape == (4,)
        assert _twice_area(c) > 0
        assert np.all(c >= 0) and np.all(c[:, 0] <= W) and np.all(c[:, 1] <= H)
        assert np.allclose(s.bbox, [c[:, 0].min(), c[:, 1].min(), c[:, 0].max(), c[:, 1].max()])
        assert s.image.dtype == np.uint8 and s.image.shape[2] == 3
        assert 256 <= W <= 640 and 0.6 * W - 1 <= H <= W + 1
        assert c[:, 0].max() - c[:, 0].min() <= 0.8 * W + 1e-6


def test_size_and_plate_width_options():
    g = S.PlateSceneGenerator(3, size=(120, 200), plate_width=(0.5, 0.6), clean=True)
    for i in range(6):
        s = g[i]
        assert s.image.shape == (120, 200, 3)
        extent = s.corners[:, 0].max() - s.corners[:, 0].min()
        assert extent <= 0.6 * 200 + 1e-6
        height = s.corners[:, 1].max() - s.corners[:, 1].min()
        assert extent >= 0.5 * 200 - 1e-6 or height >= 120 - 1e-6  # reduced only to fit the height
    full = S.PlateSceneGenerator(3, size=(300, 300), plate_width=1, plate_types=["blue"], rotation=0, yaw=0,
                                 pitch=0)[0]
    assert np.allclose(full.corners[:, 0].min(), 0) and np.allclose(full.corners[:, 0].max(), 300)


def test_plate_type_weights(gen):
    only = S.PlateSceneGenerator(1, plate_types={"green": 1.0, "blue": 0.0})
    assert {only[i].plate_type for i in range(6)} == {"green"}


def test_occlusion_covers_at_most_15_percent_of_the_plate():
    corners = np.array([[40.0, 60.0], [260.0, 40.0], [270.0, 120.0], [50.0, 135.0]])
    scale = 4  # rasterize 4x finer than the quad's pixels, so that edge pixels barely count
    plate = np.zeros((200 * scale, 320 * scale), np.uint8)
    cv2.fillPoly(plate, [np.round(corners * scale * 16).astype(np.int32)], 1, shift=4)
    fractions = []
    for k in range(200):
        pts, colour = S._occluder(corners, np.random.default_rng(k))
        mask = np.zeros_like(plate)
        cv2.fillPoly(mask, [np.round(pts * scale * 16).astype(np.int32)], 1, shift=4)
        fractions.append((mask & plate).sum() / plate.sum())
        assert len(colour) == 3
    assert 0.1 < max(fractions) <= 0.152 and np.median(fractions) > 0.02, (np.median(fractions), max(fractions))
    img = np.zeros((200, 320, 3), np.uint8)
    S._occlude(img, corners, np.random.default_rng(0))
    assert img.any()


# ---------------------------------------------------------------------------
# plate_crop


def test_plate_crop_rectifies_the_plate(clean_gens):
    s = clean_gens["blue"][0]
    crop = S.plate_crop(s.image, s.corners)
    assert crop.shape == (64, 224, 3) and crop.dtype == np.uint8
    b, _, r = np.median(crop.reshape(-1, 3), axis=0)
    assert b > r + 60  # a blue plate fills the crop
    small = S.plate_crop(s.image, s.corners, size=(32, 96), jitter=0.1, rng=np.random.default_rng(0))
    again = S.plate_crop(s.image, s.corners, size=(32, 96), jitter=0.1, rng=np.random.default_rng(0))
    assert small.shape == (32, 96, 3) and np.array_equal(small, again)
    assert not np.array_equal(small, S.plate_crop(s.image, s.corners, size=(32, 96)))


@pytest.mark.parametrize("kwargs, match", [
    ({"image": np.zeros((10, 10), np.uint8)}, "image: expected a uint8 BGR array of shape"),
    ({"image": np.zeros((10, 10, 3), np.float32)}, "image: expected a uint8 BGR"),
    ({"corners": [[0, 0], [1, 1]]}, r"corners: expected 4 finite \(x, y\) points"),
    ({"jitter": 0.7}, r"jitter: expected a number in \[0, 0.5\]"),
    ({"corners": [[0, 0], [0, 5], [5, 5], [5, 0]]}, "quad: points are counter-clockwise"),
])
def test_plate_crop_errors(kwargs, match):
    args = {"image": np.zeros((20, 30, 3), np.uint8), "corners": [[2, 2], [20, 2], [20, 10], [2, 10]]}
    args.update(kwargs)
    with pytest.raises(InvalidArgumentError, match=match):
        S.plate_crop(args["image"], args["corners"], jitter=args.get("jitter", 0.0))


# ---------------------------------------------------------------------------
# Argument errors


@pytest.mark.parametrize("kwargs, match", [
    ({"plate_width": 0}, r"plate_width: .* in \(0, 1\]"),
    ({"plate_width": 1.5}, "plate_width"),
    ({"plate_width": (0.8, 0.3)}, "plate_width: .*min <= max"),
    ({"plate_types": ["red"]}, "plate_types: unknown 'red'; expected some of blue, yellow, green, yellow_double"),
    ({"plate_types": []}, "plate_types: none given"),
    ({"plate_types": {"blue": -1}}, "plate_types: weights must be"),
    ({"size": (10, 10)}, r"size: expected None or \(height, width\)"),
    ({"size": 64}, "size"),
    ({"width_range": (640, 256)}, "width_range"),
    ({"aspect_range": (0, 1)}, "aspect_range"),
    ({"rotation": 90}, "rotation"),
    ({"occlusion": 2}, "occlusion"),
    ({"seed": -1}, "seed: expected a whole number >= 0"),
])
def test_generator_argument_errors_name_the_argument(kwargs, match):
    kwargs = {"seed": 0, **kwargs}
    with pytest.raises(InvalidArgumentError, match=match):
        S.PlateSceneGenerator(**kwargs)


def test_index_and_render_errors(gen):
    with pytest.raises(InvalidArgumentError, match="index: expected a whole number >= 0"):
        gen[-1]
    with pytest.raises(InvalidArgumentError, match="index"):
        gen[1.5]
    with pytest.raises(InvalidArgumentError, match="plate_type"):
        gen.render_plate("皖A12345", "purple")


# ---------------------------------------------------------------------------
# write_dataset and the CLI


def test_write_dataset_round_trips_through_read_manifest(tmp_path, gen):
    out = tmp_path / "ds"
    manifest = S.write_dataset(out, 3, seed=11, start=2, quality=90, progress=False)
    assert manifest == out / "manifest.jsonl"
    assert sorted(p.name for p in (out / "images").iterdir()) == ["000002.jpg", "000003.jpg", "000004.jpg"]
    raw = manifest.read_text(encoding="utf-8").splitlines()
    assert len(raw) == 3 and all(set(json.loads(line)) == {"image", "corners", "text", "plate_type", "bbox",
                                                                 "char_occlusion"} for line in raw)
    result = read_manifest(manifest, check_images=True)
    assert len(result) == 3 and result.report.usable == 3 and not result.report.counts
    for k, sample in enumerate(result):
        ref = gen[2 + k]
        assert sample.image_path == out / "images" / f"{2 + k:06d}.jpg"
        assert ref.text in raw[k]  # UTF-8, not \\u escapes
        assert (sample.text, sample.plate_type) == (ref.text, ref.plate_type)
        np.testing.assert_allclose(sample.corners, ref.corners, atol=1e-3)
        np.testing.assert_allclose(sample.bbox, ref.bbox, atol=1e-3)
        assert sample.char_occlusion == pytest.approx(ref.char_occlusion, abs=5e-5)
        img = cv2.imread(str(sample.image_path))
        assert img.shape == ref.image.shape
        assert np.abs(img.astype(int) - ref.image).mean() < 6  # JPEG at quality 90


def test_write_dataset_refuses_an_existing_manifest_and_keeps_other_files(tmp_path):
    out = tmp_path / "ds"
    S.write_dataset(out, 2, seed=1, progress=False, clean=True)
    keep = out / "notes.txt"
    keep.write_text("mine")
    before = (out / "manifest.jsonl").read_bytes()
    with pytest.raises(DatasetExistsError, match=r"out_dir: .* already holds a dataset .*overwrite=True"):
        S.write_dataset(out, 1, seed=2, progress=False)
    assert (out / "manifest.jsonl").read_bytes() == before
    S.write_dataset(out, 1, seed=2, progress=False, overwrite=True)
    assert len((out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()) == 1
    assert keep.read_text() == "mine" and (out / "images" / "000001.jpg").exists()  # never deleted
    assert not (out / "manifest.jsonl.tmp").exists()


@pytest.mark.parametrize("kwargs, match", [
    ({"count": -1}, "count: expected a whole number >= 0"),
    ({"count": 2.5}, "count"),
    ({"start": -3}, "start: expected a whole number >= 0"),
    ({"quality": 0}, r"quality: expected a JPEG quality, a whole number in \[1, 100\]"),
    ({"plate_width": 2}, "plate_width"),
])
def test_write_dataset_argument_errors(tmp_path, kwargs, match):
    args = {"count": 1, **kwargs}
    count = args.pop("count")
    with pytest.raises(InvalidArgumentError, match=match):
        S.write_dataset(tmp_path / "x", count, progress=False, **args)
    assert not (tmp_path / "x" / "manifest.jsonl").exists()


def test_write_dataset_refuses_a_file_as_out_dir(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(InvalidArgumentError, match="out_dir: .* is not a folder"):
        S.write_dataset(f, 1, progress=False)


def test_cli_synth_then_inspect(tmp_path, capsys):
    out = tmp_path / "cli"
    assert cli_main(["synth", str(out), "--count", "2", "--seed", "4", "--start", "1", "--quality", "80",
                     "--size", "96", "160", "--clean"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == str(out / "manifest.jsonl")
    assert (out / "images" / "000002.jpg").exists()
    assert cv2.imread(str(out / "images" / "000001.jpg")).shape == (96, 160, 3)
    assert cli_main(["inspect", str(out / "manifest.jsonl"), "--check-images"]) == 0
    assert "2 of 2 lines usable" in capsys.readouterr().out

    assert cli_main(["synth", str(out), "--count", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("calibration synth: error: out_dir:") and "--overwrite" in err
    assert cli_main(["synth", str(out), "--count", "1", "--no-progress", "--overwrite", "--width-range", "64",
                     "96"]) == 0
    assert cli_main(["synth", str(tmp_path / "q"), "--count", "1", "--quality", "101", "--no-progress"]) == 2
    assert "quality" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:  # argparse: a negative count
        cli_main(["synth", str(tmp_path / "n"), "--count", "-1"])
    assert e.value.code == 2


def test_char_occlusion_measures_the_worst_hidden_character() -> None:
    from calibration.synth import PlateSceneGenerator, _char_occlusion

    corners = np.array([[100, 50], [540, 50], [540, 190], [100, 190]], np.float64)  # 1 px per mm, blue
    whole = np.array([[90, 40], [560, 40], [560, 200], [90, 200]], np.float64)
    assert _char_occlusion(corners, whole, "blue") == pytest.approx(1.0)
    assert _char_occlusion(corners, whole + [1000, 0], "blue") == 0.0
    # Half of the first character cell (x 15.5..60.5 mm, y 25..115 mm): 50%.
    x0 = 100 + (440 - (7 * 45 + 5 * 12 + 34)) / 2
    half = np.array([[x0 - 5, 60], [x0 + 22.5, 60], [x0 + 22.5, 180], [x0 - 5, 180]], np.float64)
    assert _char_occlusion(corners, half, "blue") == pytest.approx(0.5, abs=0.02)
    gen = PlateSceneGenerator(seed=5, occlusion=1.0)
    occ = [gen[i].char_occlusion for i in range(12)]
    assert all(0.0 <= v <= 1.0 for v in occ) and max(occ) > 0
    assert all(s.char_occlusion == 0.0 for s in PlateSceneGenerator(seed=5, occlusion=0.0).samples(0, 4))
    assert PlateSceneGenerator(seed=5, occlusion=1.0, clean=True)[0].char_occlusion == 0.0
