"""edgevision.warp_quad vs the references.

The kernel samples with OpenCV's classic 1/32-pixel fixed point, computing the
source position of every output pixel separately. ``warp_quad_ref`` uses
``cv2.warpPerspective``, which blocks coordinates and, in OpenCV 5 (this build),
interpolates at full float precision, so the two differ by a level here and
there: the contract is measured, in uint8 levels, as

* at least 99 % of output values within 1 level, and
* mean absolute difference below 0.2 levels

(measured on this build over the cases below: max 3 levels, >= 99.9 % within
1, mean <= 0.1). A second, build-specific test pins the arithmetic exactly
(tolerance 0) against ``cv2.remap`` with 1/32-pixel fixed-point maps.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import edgevision as ev
from edgevision.reference import warp_quad_ref

from _helpers import (
    assert_bit_identical,
    assert_matches_reference,
    convex_quad,
    diff_in_levels,
    options_for,
    random_image,
    scene,
    warp_fixed_point_oracle,
)

# (name, quad as fractions of (w, h), output size): realistic crops.
QUADS = {
    "plate_perspective": ([[0.22, 0.38], [0.78, 0.31], [0.80, 0.55], [0.24, 0.66]], (48, 160)),
    "document": ([[0.10, 0.08], [0.88, 0.12], [0.93, 0.95], [0.05, 0.90]], (320, 240)),
    "small_upscaled": ([[0.40, 0.40], [0.52, 0.41], [0.51, 0.49], [0.41, 0.50]], (200, 260)),
    "rotated": ([[0.50, 0.10], [0.90, 0.50], [0.50, 0.90], [0.10, 0.50]], (128, 128)),
    "partly_outside": ([[-0.15, -0.10], [0.70, -0.05], [1.10, 1.15], [-0.05, 0.85]], (150, 210)),
    "downscaled": ([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]], (61, 83)),
}


def _quad(name, h, w):
    fr, size = QUADS[name]
    return np.asarray(fr, dtype=np.float64) * [w, h], size


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", list(QUADS))
def test_warp_matches_warpPerspective_statistically(name, seed):
    image = scene(240, 320, seed=seed)
    quad, size = _quad(name, 240, 320)
    for opts in [dict(dtype="uint8"), dict(dtype="float32", mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])]:
        got = ev.warp_quad(image, quad, size, pad_value=114, **opts)
        ref = warp_quad_ref(image, quad, size, pad_value=114, **opts)
        d = diff_in_levels(got, ref, options_for(image, **opts))
        within1 = float((d <= 1 + 1e-3).mean())
        mean = float(d.mean())
        print(f"{name} seed={seed} {opts['dtype']}: max {d.max():.3f} levels, {100 * within1:.3f}% within 1, mean {mean:.4f}")
        assert within1 >= 0.99
        assert mean < 0.2


@pytest.mark.parametrize("seed", range(6))
def test_warp_matches_fixed_point_remap_exactly_on_this_build(seed):
    """Tolerance 0: the kernel's arithmetic is OpenCV's 1/32-pixel bilinear remap,
    reproduced here with cv2.remap on fixed-point maps (noise images, quads partly
    outside the image, every channel conversion)."""
    rng = np.random.default_rng(seed)
    for cn, channels, swap in [(None, 1, False), (3, 3, True), (4, 4, False), (1, 3, False)]:
        h, w = (int(v) for v in rng.integers(1, 90, 2))
        image = random_image(h, w, cn, seed=seed)
        quad = convex_quad(rng, h, w, inside=bool(seed % 2))
        size = (int(rng.integers(1, 120)), int(rng.integers(1, 120)))
        pad = [int(v) for v in rng.integers(0, 256, channels)]
        got = ev.warp_quad(image, quad, size, dtype="uint8", layout="NHWC", channels=channels, swap_rb=swap,
                           pad_value=pad)[0]
        o = options_for(image, channels=channels, swap_rb=swap)
        lanes = (image[:, :, None] if image.ndim == 2 else image)[:, :, list(o.lane_src)]
        expected = warp_fixed_point_oracle(lanes, quad, size, tuple(float(p) for p in pad))
        assert np.array_equal(got, expected), f"{int((got != expected).sum())} values differ"


@pytest.mark.parametrize("cn", [None, 1, 3, 4])
@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (17, 31), (240, 320)], ids=str)
def test_full_image_quad_is_the_identity(shape, cn):
    """Axis-aligned quad == the whole image, output size == image size: exact copy (0 levels)."""
    h, w = shape
    channels = 4 if cn == 4 else (1 if cn in (None, 1) else 3)
    for image in (random_image(h, w, cn, seed=h * w), random_image(h, w + 3, cn, seed=1)[:, 1 : 1 + w][::-1]):
        quad = [[0, 0], [w, 0], [w, h], [0, h]]
        got = ev.warp_quad(image, quad, (h, w), dtype="uint8", layout="NHWC", channels=channels)[0]
        im3 = image[:, :, None] if image.ndim == 2 else image
        assert np.array_equal(got, im3)
        f32 = ev.warp_quad(image, quad, (h, w), scale=1.0, channels=channels)[0]
        assert np.array_equal(f32, im3.transpose(2, 0, 1).astype(np.float32))


def _plate(h=64, w=224):
    plate = np.full((h, w, 3), (40, 200, 230), np.uint8)  # a yellow plate, BGR
    cv2.rectangle(plate, (2, 2), (w - 3, h - 3), (20, 20, 20), 3)
    cv2.putText(plate, "AB 1234", (12, h - 16), cv2.FONT_HERSHEY_SIMPLEX, 1.4, (10, 10, 10), 3, cv2.LINE_AA)
    return plate


def _shift(d):
    return np.array([[1.0, 0.0, d], [0.0, 1.0, d], [0.0, 0.0, 1.0]])


def test_rectifies_a_synthetic_plate():
    plate = _plate()
    ph, pw = plate.shape[:2]
    quad = np.array([[120.3, 140.7], [370.2, 118.9], [382.6, 205.4], [131.1, 236.2]])
    # Homography in continuous pixel coordinates: plate corners (0,0),(w,0),(w,h),(0,h) -> quad.
    corners = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], dtype=np.float32)
    G = cv2.getPerspectiveTransform(corners, quad.astype(np.float32)).astype(np.float64)
    M = _shift(-0.5) @ G @ _shift(0.5)  # the same map in pixel index coordinates, as OpenCV wants it
    canvas = scene(360, 480, seed=3)
    cv2.warpPerspective(plate, M, (480, 360), dst=canvas, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_TRANSPARENT)
    rec = ev.warp_quad(canvas, quad, (ph, pw), dtype="uint8", layout="NHWC")[0]
    err = float(np.abs(rec.astype(int) - plate.astype(int)).mean())
    # Two bilinear resamplings blur the text edges: measured 3.6 levels. A 1-pixel
    # error in the quad costs 12, half a pixel about 6, so 5 catches convention slips.
    assert err < 5.0
    off = ev.warp_quad(canvas, quad + 1.0, (ph, pw), dtype="uint8", layout="NHWC")[0]
    assert float(np.abs(off.astype(int) - plate.astype(int)).mean()) > 2 * err
    # The same crop in model layout, RGB, normalized.
    blob = ev.warp_quad(canvas, quad, (ph, pw), swap_rb=True, mean=0.5, std=0.5)
    assert blob.shape == (1, 3, ph, pw)
    np.testing.assert_allclose(blob[0], (rec[:, :, ::-1].transpose(2, 0, 1) / 255.0 - 0.5) / 0.5, atol=1e-5)


WARP_OPTION_CASES = [
    (None, dict()),
    (None, dict(channels=3)),
    (1, dict(channels=1, dtype="float16")),
    (3, dict(swap_rb=True, layout="NHWC")),
    (3, dict(dtype="uint8", mean=[10, 20, 30], scale=[1, 2, 0.5])),
    (4, dict(channels=4, swap_rb=True, dtype="float16", layout="NHWC")),
    (4, dict(pad_value=[0.5, 100.25, 254.75], std=-0.5)),
]


@pytest.mark.parametrize("cn,opts", WARP_OPTION_CASES, ids=lambda v: str(v).replace(" ", ""))
def test_warp_options(cn, opts):
    rng = np.random.default_rng(5)
    image = scene(90, 120, cn=cn or 1, seed=2)
    if cn is None:
        assert image.ndim == 2
    elif cn == 1:
        image = image[:, :, None]
    for inside in (True, False):
        quad = convex_quad(rng, 90, 120, inside=inside)
        got = ev.warp_quad(image, quad, (40, 72), **opts)
        ref = warp_quad_ref(image, quad, (40, 72), **opts)
        o = options_for(image, **opts)
        assert got.shape == ref.shape and got.dtype == o.dtype
        d = diff_in_levels(got, ref, o)
        assert float((d <= 1 + 1e-3).mean()) >= 0.99 and float(d.mean()) < 0.2
        if inside:  # no border pixels: the full contract holds up to the 1/32-pixel rounding
            assert_matches_reference(got, ref, o, levels=4)


def test_warp_option_semantics_exact():
    rng = np.random.default_rng(9)
    bgra = scene(60, 80, cn=4, seed=4)
    quad = convex_quad(rng, 60, 80, inside=False)
    size = (33, 47)
    base = ev.warp_quad(bgra, quad, size, channels=4, dtype="uint8", layout="NHWC", pad_value=[1, 2, 3, 4])[0]
    # Layout is a pure transpose.
    nchw = ev.warp_quad(bgra, quad, size, channels=4, dtype="uint8", pad_value=[1, 2, 3, 4])[0]
    assert np.array_equal(nchw.transpose(1, 2, 0), base)
    # swap_rb swaps B and R (and the per-channel pad with them); alpha stays last.
    rgba = ev.warp_quad(bgra, quad, size, channels=4, swap_rb=True, dtype="uint8", layout="NHWC",
                        pad_value=[3, 2, 1, 4])[0]
    assert np.array_equal(rgba, base[:, :, [2, 1, 0, 3]])
    # channels=3 drops alpha.
    bgr = ev.warp_quad(bgra, quad, size, dtype="uint8", layout="NHWC", pad_value=[1, 2, 3])[0]
    assert np.array_equal(bgr, base[:, :, :3])
    # Gray -> 3 channels replicates.
    gray = bgra[:, :, 0]
    g1 = ev.warp_quad(gray, quad, size, dtype="uint8", layout="NHWC", pad_value=7)[0]
    g3 = ev.warp_quad(gray, quad, size, channels=3, dtype="uint8", layout="NHWC", pad_value=7)[0]
    assert np.array_equal(g3, np.repeat(g1, 3, axis=2))
    # float32 with scale 1 carries the same integers as uint8 (integer pad).
    f32 = ev.warp_quad(bgra, quad, size, channels=4, scale=1.0, layout="NHWC", pad_value=[1, 2, 3, 4])[0]
    assert np.array_equal(f32, base.astype(np.float32))
    # float16 is float32 rounded to half.
    kw = dict(mean=[0.1, 0.2, 0.3], std=[0.3, 0.2, 0.1])
    f16 = ev.warp_quad(bgra, quad, size, dtype="float16", **kw)
    assert_bit_identical(f16, ev.warp_quad(bgra, quad, size, dtype="float32", **kw).astype(np.float16))


def test_pixels_sampling_nothing_get_the_exact_fractional_pad():
    image = random_image(20, 20, 3, seed=1)
    quad = [[-40, -40], [60, -40], [60, 60], [-40, 60]]  # the image is the middle fifth
    opts = dict(pad_value=[0.5, 114.25, 254.75], mean=[0.1, 0.2, 0.3], std=[0.2, 0.3, 0.4])
    blob = ev.warp_quad(image, quad, (50, 50), layout="NHWC", **opts)[0]
    expected = np.asarray(options_for(image, **opts).pad_normalized, dtype=np.float32)
    assert np.array_equal(blob[0, 0], expected) and np.array_equal(blob[-1, -1], expected)
    assert np.array_equal(blob[:5, :].reshape(-1, 3), np.broadcast_to(expected, (250, 3)))


def test_warp_out_buffer():
    image = scene(60, 80, seed=1)
    quad = [[10, 10], [70, 12], [68, 50], [12, 48]]
    expected = ev.warp_quad(image, quad, (24, 40), dtype="float16")
    out = np.full(expected.shape, np.nan, np.float16)
    assert ev.warp_quad(image, quad, (24, 40), dtype="float16", out=out) is out
    assert_bit_identical(out, expected)
    big = np.zeros((3, 3, 24, 40), np.float16)
    assert ev.warp_quad(image, quad, (24, 40), dtype="float16", out=big[1]) is not None
    assert_bit_identical(big[1:2], expected)
    assert not big[0].any() and not big[2].any()
    ref_out = np.zeros_like(expected)
    assert warp_quad_ref(image, quad, (24, 40), dtype="float16", out=ref_out) is ref_out
