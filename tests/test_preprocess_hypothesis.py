"""Property tests (hypothesis) on random shapes and options.

* kernel vs reference within the contractual tolerance (see _helpers);
* LetterboxTransform: ``to_input(to_source(p)) == p`` (float64, 1e-9 relative),
  boxes map like their corner points, and the content corners map to the
  source corners (0, 0) and (w, h) (continuous pixel coordinates, origin at
  the top-left corner of the top-left pixel).
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import edgevision as ev
from edgevision.preprocess import placement, transform_for
from edgevision.reference import placement_ref
from edgevision.reference import letterbox_ref

from _helpers import assert_bit_identical, assert_matches_reference, options_for

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

MODES = st.sampled_from(["letterbox", "stretch", "pad_right", "none"])
ALIGNS = st.sampled_from(["center", "top-left"])


@st.composite
def images(draw):
    """uint8 image of random shape/channels, possibly a strided view."""
    h = draw(st.integers(1, 48))
    w = draw(st.integers(1, 48))
    cn = draw(st.sampled_from([None, 1, 3, 4]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    tail = () if cn is None else (cn,)
    view = draw(st.sampled_from(["contiguous", "flip_rows", "flip_cols", "step2", "crop", "channel_reversed"]))
    if view == "step2":
        im = rng.integers(0, 256, (2 * h, 2 * w, *tail), dtype=np.uint8)[::2, ::2]
    elif view == "crop":
        im = rng.integers(0, 256, (h + 3, w + 4, *tail), dtype=np.uint8)[1 : 1 + h, 2 : 2 + w]
    else:
        im = rng.integers(0, 256, (h, w, *tail), dtype=np.uint8)
        if view == "flip_rows":
            im = im[::-1]
        elif view == "flip_cols":
            im = im[:, ::-1]
        elif view == "channel_reversed" and cn in (3, 4):
            im = im[:, :, ::-1]
    return im


@st.composite
def cases(draw):
    image = draw(images())
    cn = 1 if image.ndim == 2 else image.shape[2]
    channels = draw(st.sampled_from({1: [1, 3], 3: [3], 4: [3, 4]}[cn]))
    mode = draw(MODES)
    h, w = image.shape[:2]
    H = draw(st.integers(1, 64))
    W = draw(st.integers(1, 64))
    if mode == "none":
        H, W = H + h, W + w
    per_channel = st.lists(st.floats(-2, 2, allow_nan=False, allow_infinity=False), min_size=channels, max_size=channels)
    nonzero = st.floats(0.05, 4.0) | st.floats(-4.0, -0.05)
    opts = dict(
        mode=mode,
        align=draw(ALIGNS),
        scaleup=draw(st.booleans()),
        interpolation=draw(st.sampled_from(["bilinear", "nearest"])),
        dtype=draw(st.sampled_from(["float32", "float16", "uint8"])),
        layout=draw(st.sampled_from(["NCHW", "NHWC"])),
        channels=channels,
        swap_rb=channels > 1 and draw(st.booleans()),
        pad_value=draw(st.floats(0, 255) | st.lists(st.floats(0, 255), min_size=channels, max_size=channels)),
        threads=draw(st.integers(1, 3)),
    )
    if draw(st.booleans()):
        opts["mean"] = draw(per_channel)
        opts["std"] = draw(st.lists(nonzero, min_size=channels, max_size=channels))
    if opts["dtype"] == "uint8" and draw(st.booleans()):
        opts["scale"] = draw(st.floats(0.25, 4.0))
    return image, (H, W), opts


@SETTINGS
@given(cases())
def test_kernel_matches_reference(case):
    image, size, opts = case
    blob, t = ev.letterbox(image, size, **opts)
    ref, t_ref = letterbox_ref(image, size, **opts)
    assert t == t_ref
    assert_matches_reference(blob, ref, options_for(image, **opts))
    # Strides never change the bits.
    assert_bit_identical(blob, ev.letterbox(np.ascontiguousarray(image), size, **opts)[0])


@st.composite
def geometries(draw):
    h = draw(st.integers(1, 5000))
    w = draw(st.integers(1, 5000))
    mode = draw(MODES)
    H = draw(st.integers(1, 4096))
    W = draw(st.integers(1, 4096))
    if mode == "none":
        H, W = max(H, h), max(W, w)
    align, scaleup = draw(ALIGNS), draw(st.booleans())
    rect = placement_ref((h, w), (H, W), mode, align, scaleup)  # independent exact arithmetic
    assert placement((h, w), (H, W), mode, align, scaleup) == rect
    return (h, w), (H, W), rect


finite = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(geometries(), st.lists(st.tuples(finite, finite), min_size=1, max_size=8))
def test_transform_round_trip(geometry, points):
    src, dst, rect = geometry
    t = transform_for(src, dst, rect)
    p = np.asarray(points, dtype=np.float64)
    scale = max(1.0, float(np.abs(p).max()))
    np.testing.assert_allclose(t.to_input(t.to_source(p)), p, rtol=0, atol=1e-9 * scale)
    np.testing.assert_allclose(t.to_source(t.to_input(p)), p, rtol=0, atol=1e-9 * scale * max(src))
    # Normalized coordinates: fractions of the model input.
    q = p / np.array([dst[1], dst[0]])
    np.testing.assert_allclose(t.to_source(q, normalized=True), t.to_source(p), rtol=1e-12, atol=1e-9 * scale)
    np.testing.assert_allclose(t.to_input(t.to_source(p), normalized=True), q, rtol=0, atol=1e-9 * scale)
    # Clipping lands inside the image / input.
    c = t.to_source(p, clip=True)
    assert np.all((c[:, 0] >= 0) & (c[:, 0] <= src[1]) & (c[:, 1] >= 0) & (c[:, 1] <= src[0]))


@settings(max_examples=300, deadline=None)
@given(geometries(), st.lists(st.tuples(finite, finite, finite, finite), min_size=1, max_size=6), st.booleans())
def test_boxes_map_like_their_corners(geometry, boxes, clip):
    src, dst, rect = geometry
    t = transform_for(src, dst, rect)
    b = np.asarray(boxes, dtype=np.float64)
    corners = b.reshape(-1, 2, 2)
    np.testing.assert_array_equal(t.boxes_to_source(b, clip=clip), t.to_source(corners, clip=clip).reshape(b.shape))
    np.testing.assert_array_equal(t.boxes_to_input(b, clip=clip), t.to_input(corners, clip=clip).reshape(b.shape))
    # Batched shapes (..., 4) are preserved.
    assert t.boxes_to_source(b[None, None]).shape == (1, 1, *b.shape)


@settings(max_examples=300, deadline=None)
@given(geometries())
def test_content_corners_map_to_source_corners(geometry):
    (h, w), dst, rect = geometry
    x0, y0, cw, ch = rect
    t = transform_for((h, w), dst, rect)
    assert t.pad == (x0, y0)
    assert t.content_shape == (ch, cw)
    got = t.to_source([[x0, y0], [x0 + cw, y0 + ch], [x0 + cw, y0], [x0, y0 + ch]])
    np.testing.assert_allclose(got, [[0, 0], [w, h], [w, 0], [0, h]], rtol=1e-12, atol=1e-9)
    # And back: source corners land on the content rectangle, inside the input.
    back = t.to_input([[0, 0], [w, h]])
    np.testing.assert_allclose(back, [[x0, y0], [x0 + cw, y0 + ch]], rtol=1e-12, atol=1e-9)
    assert 0 <= x0 and x0 + cw <= dst[1] and 0 <= y0 and y0 + ch <= dst[0]
    # Pixel centres map to pixel centres: source pixel (0, 0) centre -> content-scaled centre.
    c = t.to_input([[0.5, 0.5]])[0]
    np.testing.assert_allclose(c, [x0 + 0.5 * cw / w, y0 + 0.5 * ch / h], rtol=1e-12, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(images(), st.integers(1, 64), st.integers(1, 64), MODES, ALIGNS)
def test_kernel_transform_describes_where_the_content_went(image, H, W, mode, align):
    """In the kernel output (uint8, pad 0, scale 1, +1 so content is never 0),
    exactly the content rectangle of the transform is non-pad."""
    h, w = image.shape[:2]
    if mode == "none":
        H, W = H + h, W + w
    img = np.clip(image.astype(np.int16), 0, 254).astype(np.uint8) + 1  # values 1..255
    blob, t = ev.letterbox(img, (H, W), mode=mode, align=align, dtype="uint8", layout="NHWC", pad_value=0)
    nonpad = blob[0].min(axis=-1) > 0
    ch, cw = t.content_shape
    expected = np.zeros((H, W), bool)
    expected[t.pad[1] : t.pad[1] + ch, t.pad[0] : t.pad[0] + cw] = True
    np.testing.assert_array_equal(nonpad, expected)
