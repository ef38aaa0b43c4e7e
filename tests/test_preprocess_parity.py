"""Kernel (edgevision.letterbox / letterbox_batch) vs the numpy/OpenCV reference.

Contractual tolerance (see ``_helpers.assert_matches_reference``), in uint8
pixel levels: float32 ``|kernel - ref| <= 1 level * |scale/std| + 1e-5 * |ref|``;
float16 additionally ``+ 1e-3 * |ref|`` (half-precision rounding); uint8 within
1. Separate tests check what is exact: strided views vs contiguous copies,
batches vs single images, ``out=`` vs allocation (bit-identical), and, on this
OpenCV build, bilinear vs ``cv2.resize`` (0 levels).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import edgevision as ev
from edgevision.preprocess import placement
from edgevision.reference import letterbox_batch_ref, letterbox_ref, nearest_indices

from _helpers import (
    VIEW_KINDS,
    assert_bit_identical,
    assert_matches_reference,
    make_view,
    options_for,
    random_image,
)

MODES = ("letterbox", "stretch", "pad_right", "none")
ALIGNS = ("center", "top-left")
INTERPS = ("bilinear", "nearest")
DTYPES = ("float32", "float16", "uint8")
LAYOUTS = ("NCHW", "NHWC")

# (height, width): 1x1, 1xN, Nx1, odd sizes, 10:1 and 1:10 aspect ratios, even sizes.
SHAPES = [(1, 1), (1, 17), (17, 1), (7, 13), (31, 29), (10, 100), (100, 10), (64, 48), (3, 200)]
# Output sizes: square, odd and non-square, and one that upscales every shape above.
SIZES = [(64, 64), (13, 37), (257, 255)]


def check(image, size, **opts):
    """Runs kernel and reference, asserts the contract and equal transforms; returns (blob, max levels)."""
    blob, t = ev.letterbox(image, size, **opts)
    ref, t_ref = letterbox_ref(image, size, **opts)
    assert t == t_ref
    o = options_for(image, **opts)
    return blob, assert_matches_reference(blob, ref, o)


def size_for(mode, shape, size):
    """Mode 'none' never resamples: make the canvas big enough for the image."""
    if mode == "none":
        return (max(size[0], shape[0]), max(size[1], shape[1]))
    return size


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"to{s[0]}x{s[1]}")
@pytest.mark.parametrize("interpolation", INTERPS)
@pytest.mark.parametrize("align", ALIGNS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_geometry_matrix(shape, mode, align, interpolation, size):
    image = random_image(*shape, cn=3, seed=shape[0] * 1000 + shape[1])
    check(image, size_for(mode, shape, size), mode=mode, align=align, interpolation=interpolation)


@pytest.mark.parametrize("interpolation", INTERPS)
@pytest.mark.parametrize("align", ALIGNS)
@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (31, 29), (10, 100), (300, 40)], ids=str)
def test_letterbox_scaleup_false(shape, align, interpolation):
    image = random_image(*shape, cn=3, seed=7)
    for size in [(64, 64), (13, 37), (320, 320)]:
        blob, _ = check(image, size, scaleup=False, align=align, interpolation=interpolation)
        x0, y0, cw, ch = placement(shape, size, "letterbox", align, False)
        assert cw <= shape[1] and ch <= shape[0]  # never enlarged


def test_none_mode_without_size_is_identity():
    image = random_image(9, 14, cn=3, seed=1)
    blob, t = ev.letterbox(image, None, mode="none", dtype="uint8", layout="NHWC")
    assert np.array_equal(blob[0], image)
    assert t.scale == (1.0, 1.0) and t.pad == (0, 0)
    for interpolation in INTERPS:
        check(image, None, mode="none", interpolation=interpolation, mean=[0.1, 0.2, 0.3], std=0.5)


VIEW_CASES = [
    (kind, cn)
    for kind in VIEW_KINDS
    for cn in (1, 3, 4, None)
    if not (kind == "channel_reversed" and cn not in (3, 4))  # no such view of a gray image
]


@pytest.mark.parametrize("interpolation", INTERPS)
@pytest.mark.parametrize("kind,cn", VIEW_CASES, ids=lambda v: "gray2d" if v is None else str(v))
def test_strided_views(kind, cn, interpolation):
    for shape, size, mode in [((23, 37), (32, 32), "letterbox"), ((9, 5), (40, 21), "stretch"), ((1, 11), (8, 8), "letterbox")]:
        view = make_view(kind, *shape, cn=cn, seed=shape[1])
        before = view.copy()
        opts = dict(mode=mode, interpolation=interpolation, channels=3 if cn in (None, 1, 3) else 4)
        blob, _ = check(view, size, **opts)
        # The kernel reads strides directly: a view and its contiguous copy give the same bits.
        assert_bit_identical(blob, ev.letterbox(np.ascontiguousarray(view), size, **opts)[0], kind)
        assert np.array_equal(view, before)  # the input is never written


# (source channels, options): every channel conversion the kernel supports.
CHANNEL_CASES = [
    (None, dict()),  # HxW gray -> 1 channel
    (1, dict(channels=1)),  # HxWx1 -> 1 channel
    (None, dict(channels=3)),  # gray -> 3 identical channels
    (1, dict(channels=3, swap_rb=True)),
    (3, dict()),  # BGR -> BGR
    (3, dict(swap_rb=True)),  # BGR -> RGB
    (4, dict()),  # BGRA -> BGR (alpha dropped)
    (4, dict(swap_rb=True)),  # BGRA -> RGB
    (4, dict(channels=4)),  # BGRA -> BGRA
    (4, dict(channels=4, swap_rb=True)),  # BGRA -> RGBA
    (3, dict(zero_channels=1)),  # BGR -> BGR + a zero channel
    (3, dict(zero_channels=1, swap_rb=True)),  # BGR -> RGB + a zero channel
    (None, dict(zero_channels=1)),  # gray -> 3 identical channels + a zero channel
    (4, dict(zero_channels=1, swap_rb=True)),  # BGRA -> RGB (alpha dropped) + a zero channel
]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cn,opts", CHANNEL_CASES, ids=lambda v: str(v).replace(" ", ""))
def test_channels(cn, opts, dtype, layout):
    image = random_image(29, 43, cn=cn, seed=3)
    for interpolation in INTERPS:
        blob, _ = check(image, (48, 40), dtype=dtype, layout=layout, interpolation=interpolation, **opts)
    # Channel semantics checked directly on an unresampled image (mode none, uint8, scale 1).
    exact, _ = ev.letterbox(image, None, mode="none", dtype="uint8", layout="NHWC", **opts)
    im3 = image[:, :, None] if image.ndim == 2 else image
    zero = opts.get("zero_channels", 0)
    channels = opts.get("channels", 1 if im3.shape[2] == 1 and not zero else 3)
    if im3.shape[2] == 1:
        expected = np.repeat(im3, channels, axis=2)
    else:
        order = [2, 1, 0] if opts.get("swap_rb") else [0, 1, 2]
        expected = im3[:, :, order + ([3] if channels == 4 else [])]
    expected = np.concatenate([expected, np.zeros(expected.shape[:2] + (zero,), np.uint8)], axis=2)
    assert np.array_equal(exact[0], expected)


# Value options (per output channel): (channels-independent builder)
VALUE_CASES = {
    "default": lambda c: dict(),
    "imagenet": lambda c: dict(mean=[0.485, 0.456, 0.406, 0.5][:c], std=[0.229, 0.224, 0.225, 0.25][:c], swap_rb=c > 1),
    "per_channel_scale": lambda c: dict(scale=[1 / 255, 1 / 127.5, 2.0, 0.5][:c], mean=[0.0, 1.0, 3.0, -2.0][:c]),
    "negative_std": lambda c: dict(std=[-0.5, 2.0, -3.0, 1.0][:c], mean=0.25),
    "fractional_pad": lambda c: dict(pad_value=[0.5, 114.25, 254.75, 17.5][:c]),
    "pad_0": lambda c: dict(pad_value=0),
    "pad_255": lambda c: dict(pad_value=255.0),
    "scale_1": lambda c: dict(scale=1.0),
    "big_values": lambda c: dict(scale=100.0, mean=-7.0),  # up to 25507: still finite in float16
    "saturating": lambda c: dict(scale=2.0, mean=[128.0, 64.0, 0.0, 300.0][:c], pad_value=200.5),  # uint8 clips both ways
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("case", list(VALUE_CASES))
def test_values(case, channels, dtype, layout):
    cn = {1: None, 3: 3, 4: 4}[channels]
    image = random_image(37, 23, cn=cn, seed=channels)
    opts = VALUE_CASES[case](channels)
    if channels == 1:
        opts.pop("swap_rb", None)
    opts.update(dtype=dtype, layout=layout, channels=channels)
    for interpolation in INTERPS:
        for size, align in [((40, 56), "center"), ((23, 9), "top-left")]:
            check(image, size, interpolation=interpolation, align=align, **opts)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("interpolation", INTERPS)
def test_1080p_to_640(interpolation, dtype, layout):
    image = random_image(1080, 1920, cn=3, seed=1080)
    blob, _ = check(image, 640, interpolation=interpolation, dtype=dtype, layout=layout, swap_rb=True)
    assert blob.shape == ((1, 3, 640, 640) if layout == "NCHW" else (1, 640, 640, 3))
    # Letterbox geometry: 1920x1080 -> 640x360 content, 140 rows of padding above and below.
    t = ev.letterbox(image, 640, interpolation=interpolation)[1]
    assert t.pad == (0, 140) and t.content_shape == (360, 640)


# Cases (source shape, size, mode) for the build-specific bit-exactness check.
EXACT_CASES = [
    ((1080, 1920), 640, "letterbox"),
    ((37, 53), (64, 64), "letterbox"),
    ((7, 13), (320, 320), "stretch"),  # upscale
    ((480, 640), (300, 200), "stretch"),  # different factors per axis
    ((33, 400), (48, 320), "pad_right"),
    ((64, 64), (32, 32), "stretch"),  # exact 2x downscale (OpenCV switches to INTER_AREA: same values)
    # Odd integer ratios put every tap on a source pixel: the kernel's point-sample shortcut.
    ((45, 75), (15, 25), "stretch"),  # 3x both axes
    ((50, 33), (10, 11), "stretch"),  # 5x rows, 3x columns
    ((45, 40), (15, 20), "stretch"),  # point rows, blended columns
    ((40, 45), (20, 15), "stretch"),  # blended rows, point columns
]


@pytest.mark.parametrize("shape,size,mode", EXACT_CASES, ids=str)
def test_bilinear_is_bit_exact_with_cv2_resize_on_this_opencv_build(shape, size, mode):
    """Not the contract (that is <= 1 level, above): on this x86 OpenCV build the
    kernel's bilinear path reproduces cv2.resize(INTER_LINEAR) exactly (0 levels)."""
    image = random_image(*shape, cn=3, seed=shape[0])
    for view in (image, image[:, ::-1]):
        blob, t = ev.letterbox(view, size, mode=mode, dtype="uint8", layout="NHWC")
        x0, y0 = t.pad
        ch, cw = t.content_shape
        expected = cv2.resize(np.ascontiguousarray(view), (cw, ch), interpolation=cv2.INTER_LINEAR)
        content = blob[0, y0 : y0 + ch, x0 : x0 + cw]
        assert int(np.abs(content.astype(int) - expected.astype(int)).max()) == 0
        # Float output with scale 1: the same integers, exactly.
        f32, _ = ev.letterbox(view, size, mode=mode, scale=1.0, layout="NHWC")
        assert np.array_equal(f32[0, y0 : y0 + ch, x0 : x0 + cw], expected.astype(np.float32))


@pytest.mark.parametrize("src,dst", [(58, 59), (59, 58), (3, 10), (10, 3), (640, 1920), (7, 7), (1, 5), (5, 1), (17, 640)])
def test_nearest_uses_the_exact_pixel_centre_rule(src, dst):
    """The kernel's nearest neighbour is src_index = min(((2d+1)*src)//(2*dst), src-1)
    per axis. cv2.INTER_NEAREST_EXACT agrees except on exact ties, where the output
    pixel centre falls on a source pixel edge (OpenCV 5 takes the left/upper pixel)."""
    # Encode the source column index in the pixel values (src <= 256 for the uint8 check).
    cols = np.arange(src) % 256
    image = np.repeat(cols.astype(np.uint8)[None, :, None], 2, axis=0)
    image = np.repeat(image, 3, axis=2)
    blob, _ = ev.letterbox(image, (2, dst), mode="stretch", interpolation="nearest", dtype="uint8", layout="NHWC")
    idx = nearest_indices(src, dst)
    assert np.array_equal(blob[0, 0, :, 0], cols[idx].astype(np.uint8))
    # Same rule on the vertical axis.
    image_t = np.ascontiguousarray(image.transpose(1, 0, 2))
    blob_t, _ = ev.letterbox(image_t, (dst, 2), mode="stretch", interpolation="nearest", dtype="uint8", layout="NHWC")
    assert np.array_equal(blob_t[0, :, 0, 0], cols[idx].astype(np.uint8))
    if src <= 256:
        cv = cv2.resize(image, (dst, 2), interpolation=cv2.INTER_NEAREST_EXACT)[0, :, 0]
        d = np.arange(dst)
        tie = ((2 * d + 1) * src) % (2 * dst) == 0
        assert np.array_equal(cv[~tie], blob[0, 0, ~tie, 0])


def test_batch_of_different_sizes_equals_single_images():
    images = [
        random_image(480, 640, 3, seed=1),
        random_image(31, 7, 3, seed=2)[:, ::-1],
        random_image(1, 1, 3, seed=3),
        random_image(100, 10, 3, seed=4)[::2],
        random_image(256, 256, 3, seed=5),
    ]
    for opts in [
        dict(),
        dict(mode="stretch", interpolation="nearest", dtype="float16", layout="NHWC"),
        dict(align="top-left", dtype="uint8", mean=10, swap_rb=True),
        dict(mode="pad_right", scaleup=False, mean=[0.5, 0.4, 0.3], std=[0.2, 0.3, 0.4]),
    ]:
        batch, transforms = ev.letterbox_batch(images, (96, 128), **opts)
        assert batch.shape[0] == len(images)
        for i, im in enumerate(images):
            single, t = ev.letterbox(im, (96, 128), **opts)
            assert_bit_identical(batch[i : i + 1], single, f"image {i}")
            assert transforms[i] == t
        ref, ref_t = letterbox_batch_ref(images, (96, 128), **opts)
        assert ref_t == transforms
        assert_matches_reference(batch, ref, options_for(images[0], **opts))


def test_batch_accepts_a_4d_array():
    stack = np.stack([random_image(20, 30, 3, seed=s) for s in range(3)])
    batch, _ = ev.letterbox_batch(stack, 32)
    for i in range(3):
        assert_bit_identical(batch[i : i + 1], ev.letterbox(stack[i], 32)[0])


class TestOut:
    """``out=``: written in place, and the very object passed in is returned."""

    @pytest.mark.parametrize("layout", LAYOUTS)
    @pytest.mark.parametrize("dtype", DTYPES)
    def test_in_place(self, dtype, layout):
        image = random_image(45, 61, 3, seed=9)
        expected, t0 = ev.letterbox(image, (32, 48), dtype=dtype, layout=layout)
        out = np.full(expected.shape, 7, dtype=dtype)
        blob, t = ev.letterbox(image, (32, 48), dtype=dtype, layout=layout, out=out)
        assert blob is out and t == t0
        assert_bit_identical(out, expected)

    def test_3d_out_for_a_single_image(self):
        image = random_image(45, 61, 3, seed=9)
        expected, _ = ev.letterbox(image, (32, 48))
        out = np.zeros(expected.shape[1:], np.float32)
        blob, _ = ev.letterbox(image, (32, 48), out=out)
        assert blob is out and blob.shape == (3, 32, 48)
        assert_bit_identical(out, expected[0])
        out_nhwc = np.zeros((32, 48, 3), np.uint8)
        blob, _ = ev.letterbox(image, (32, 48), out=out_nhwc, dtype="uint8", layout="NHWC")
        assert blob is out_nhwc
        assert_bit_identical(out_nhwc, ev.letterbox(image, (32, 48), dtype="uint8", layout="NHWC")[0][0])

    def test_slice_of_a_preallocated_batch(self):
        image = random_image(45, 61, 3, seed=9)
        big = np.zeros((5, 3, 32, 48), np.float32)
        view = big[2:3]
        assert view.flags.c_contiguous
        blob, _ = ev.letterbox(image, (32, 48), out=view)
        assert blob is view
        assert_bit_identical(big[2:3], ev.letterbox(image, (32, 48))[0])
        assert not big[[0, 1, 3, 4]].any()  # neighbours untouched
        # A batch written into a slice, and a single image into big[4] (3-d slice).
        images = [random_image(20 + i, 30, 3, seed=i) for i in range(2)]
        blob, _ = ev.letterbox_batch(images, (32, 48), out=big[0:2])
        assert blob.base is big
        assert_bit_identical(big[0:2], ev.letterbox_batch(images, (32, 48))[0])
        ev.letterbox(image, (32, 48), out=big[4], mean=0.5)
        assert_bit_identical(big[4], ev.letterbox(image, (32, 48), mean=0.5)[0][0])
        assert_bit_identical(big[2:3], ev.letterbox(image, (32, 48))[0])
        assert not big[3].any()

    def test_reference_fills_out_too(self):
        image = random_image(20, 30, 3, seed=2)
        out = np.zeros((1, 32, 32, 3), np.float16)
        ref, _ = letterbox_ref(image, 32, dtype="float16", layout="NHWC", out=out)
        assert ref is out and out.any()
