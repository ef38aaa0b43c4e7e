"""Bad input raises ValueError or TypeError, always an edgevision.InvalidArgumentError /
InvalidTypeError, with a message that names the offending argument; nothing crashes."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import edgevision as ev
from edgevision import InvalidArgumentError, InvalidTypeError
from edgevision.reference import letterbox_batch_ref, letterbox_ref, warp_quad_ref

IM = np.zeros((8, 10, 3), np.uint8)
GRAY = np.zeros((8, 10), np.uint8)
IM4 = np.zeros((8, 10, 4), np.uint8)
QUAD = [[1, 1], [9, 1], [9, 7], [1, 7]]


def _overlapping_out():
    out = np.zeros((1, 3, 4, 4), np.float32)
    image = out.reshape(-1).view(np.uint8)[: 4 * 4 * 3].reshape(4, 4, 3)  # the image lives inside out
    return ev.letterbox(image, 4, out=out)


def _read_only(shape, dtype=np.float32):
    a = np.zeros(shape, dtype)
    a.flags.writeable = False
    return a


V, T = InvalidArgumentError, InvalidTypeError

# (id, call, expected class, word the message must contain)
CASES = [
    # image dtype / type
    ("image_float32", lambda: ev.letterbox(IM.astype(np.float32), 32), T, "image"),
    ("image_int16", lambda: ev.letterbox(IM.astype(np.int16), 32), T, "image"),
    ("image_bool", lambda: ev.letterbox(IM.astype(bool), 32), T, "image"),
    ("image_list", lambda: ev.letterbox(IM.tolist(), 32), T, "image"),
    ("image_none", lambda: ev.letterbox(None, 32), T, "image"),
    # image ndim / channels / emptiness
    ("image_1d", lambda: ev.letterbox(np.zeros(10, np.uint8), 32), V, "image"),
    ("image_4d", lambda: ev.letterbox(np.zeros((1, 8, 10, 3), np.uint8), 32), V, "image"),
    ("image_0_channels", lambda: ev.letterbox(np.zeros((8, 10, 0), np.uint8), 32), V, "image"),
    ("image_2_channels", lambda: ev.letterbox(np.zeros((8, 10, 2), np.uint8), 32), V, "image"),
    ("image_5_channels", lambda: ev.letterbox(np.zeros((8, 10, 5), np.uint8), 32), V, "image"),
    ("image_0xN", lambda: ev.letterbox(np.zeros((0, 10, 3), np.uint8), 32), V, "image"),
    ("image_Nx0", lambda: ev.letterbox(np.zeros((8, 0, 3), np.uint8), 32), V, "image"),
    ("image_too_wide", lambda: ev.letterbox(np.broadcast_to(np.uint8(0), (1, 40000)), 32), V, "image"),
    ("warp_image_int16", lambda: ev.warp_quad(IM.astype(np.int16), QUAD, 8), T, "image"),
    ("warp_image_empty", lambda: ev.warp_quad(np.zeros((0, 4), np.uint8), QUAD, 8), V, "image"),
    # batches
    ("images_empty", lambda: ev.letterbox_batch([], 32), V, "images"),
    ("images_generator", lambda: ev.letterbox_batch((im for im in [IM]), 32), T, "images"),
    ("images_mixed_channels", lambda: ev.letterbox_batch([IM, GRAY], 32), V, "images"),
    ("images_bad_member", lambda: ev.letterbox_batch([IM, IM.astype(np.float32)], 32), T, "images[1]"),
    ("images_mode_none_differ", lambda: ev.letterbox_batch([IM, IM[:4]], None, mode="none"), V, "size"),
    # size
    ("size_zero", lambda: ev.letterbox(IM, 0), V, "size"),
    ("size_negative", lambda: ev.letterbox(IM, (-5, 32)), V, "size"),
    ("size_huge", lambda: ev.letterbox(IM, 10**6), V, "size"),
    ("size_too_many_elements", lambda: ev.letterbox(IM, 32768), V, "size"),
    ("size_float", lambda: ev.letterbox(IM, 32.0), V, "size"),
    ("size_str", lambda: ev.letterbox(IM, "640"), V, "size"),
    ("size_bool", lambda: ev.letterbox(IM, True), V, "size"),
    ("size_bool_pair", lambda: ev.letterbox(IM, (True, 32)), V, "size"),
    ("size_three", lambda: ev.letterbox(IM, (32, 32, 3)), V, "size"),
    ("size_none_letterbox", lambda: ev.letterbox(IM, None), V, "size"),
    ("size_mode_none_too_small", lambda: ev.letterbox(IM, (4, 4), mode="none"), V, "size"),
    ("warp_size_zero", lambda: ev.warp_quad(IM, QUAD, (0, 8)), V, "size"),
    ("warp_size_huge", lambda: ev.warp_quad(IM, QUAD, 10**6), V, "size"),
    # quad
    ("quad_collinear", lambda: ev.warp_quad(IM, [[0, 0], [5, 0], [10, 0], [2, 0]], 8), V, "quad"),
    ("quad_collinear_diagonal", lambda: ev.warp_quad(IM, [[0, 0], [1, 1], [2, 2], [3, 3]], 8), V, "quad"),
    ("quad_repeated_points", lambda: ev.warp_quad(IM, [[1, 1], [1, 1], [9, 7], [1, 7]], 8), V, "quad"),
    ("quad_all_same", lambda: ev.warp_quad(IM, [[3, 3]] * 4, 8), V, "quad"),
    ("quad_nan", lambda: ev.warp_quad(IM, [[np.nan, 1], [9, 1], [9, 7], [1, 7]], 8), V, "quad"),
    ("quad_inf", lambda: ev.warp_quad(IM, [[1, 1], [np.inf, 1], [9, 7], [1, 7]], 8), V, "quad"),
    ("quad_counter_clockwise", lambda: ev.warp_quad(IM, QUAD[::-1], 8), V, "counter-clockwise"),
    ("quad_self_intersecting", lambda: ev.warp_quad(IM, [[1, 1], [9, 7], [9, 1], [1, 7]], 8), V, "quad"),
    ("quad_non_convex", lambda: ev.warp_quad(IM, [[1, 1], [9, 1], [3, 3], [1, 7]], 8), V, "quad"),
    ("quad_shape_3x2", lambda: ev.warp_quad(IM, QUAD[:3], 8), V, "quad"),
    ("quad_shape_4x3", lambda: ev.warp_quad(IM, [p + [1] for p in QUAD], 8), V, "quad"),
    ("quad_flat_8", lambda: ev.warp_quad(IM, np.ravel(QUAD), 8), V, "quad"),
    ("quad_str", lambda: ev.warp_quad(IM, "abcd", 8), T, "quad"),
    ("quad_ragged", lambda: ev.warp_quad(IM, [[0, 0], [1]], 8), T, "quad"),
    # out
    ("out_wrong_shape", lambda: ev.letterbox(IM, 16, out=np.zeros((1, 3, 16, 15), np.float32)), V, "out"),
    ("out_wrong_batch", lambda: ev.letterbox(IM, 16, out=np.zeros((2, 3, 16, 16), np.float32)), V, "out"),
    ("out_wrong_layout", lambda: ev.letterbox(IM, 16, out=np.zeros((1, 16, 16, 3), np.float32)), V, "out"),
    ("out_wrong_dtype", lambda: ev.letterbox(IM, 16, out=np.zeros((1, 3, 16, 16), np.float64)), T, "out"),
    ("out_wrong_dtype_u8", lambda: ev.letterbox(IM, 16, dtype="float16", out=np.zeros((1, 3, 16, 16), np.uint8)), T, "out"),
    ("out_non_contiguous", lambda: ev.letterbox(IM, 16, out=np.zeros((1, 3, 16, 32), np.float32)[..., ::2]), V, "out"),
    ("out_fortran", lambda: ev.letterbox(IM, 16, out=np.asfortranarray(np.zeros((1, 3, 16, 16), np.float32))), V, "out"),
    ("out_read_only", lambda: ev.letterbox(IM, 16, out=_read_only((1, 3, 16, 16))), V, "out"),
    ("out_overlaps_input", _overlapping_out, V, "out"),
    ("out_list", lambda: ev.letterbox(IM, 16, out=[[0.0]]), T, "out"),
    ("warp_out_wrong_shape", lambda: ev.warp_quad(IM, QUAD, 8, out=np.zeros((1, 3, 8, 9), np.float32)), V, "out"),
    ("warp_out_read_only", lambda: ev.warp_quad(IM, QUAD, 8, out=_read_only((1, 3, 8, 8))), V, "out"),
    ("batch_out_wrong_n", lambda: ev.letterbox_batch([IM, IM], 8, out=np.zeros((1, 3, 8, 8), np.float32)), V, "out"),
    # per-channel vectors
    ("mean_length_2", lambda: ev.letterbox(IM, 16, mean=[0.1, 0.2]), V, "mean"),
    ("std_length_4", lambda: ev.letterbox(IM, 16, std=[1, 2, 3, 4]), V, "std"),
    ("pad_length_2", lambda: ev.letterbox(IM, 16, pad_value=[1, 2]), V, "pad_value"),
    ("scale_length_2", lambda: ev.letterbox(IM, 16, scale=[1, 2]), V, "scale"),
    ("mean_2d", lambda: ev.letterbox(IM, 16, mean=[[0.1, 0.2, 0.3]]), V, "mean"),
    ("mean_str", lambda: ev.letterbox(IM, 16, mean="abc"), T, "mean"),
    ("mean_gray_3_values", lambda: ev.letterbox(GRAY, 16, mean=[0.1, 0.2, 0.3]), V, "mean"),
    ("std_zero", lambda: ev.letterbox(IM, 16, std=0), V, "std"),
    ("std_one_zero", lambda: ev.letterbox(IM, 16, std=[1, 0, 1]), V, "std"),
    ("std_nan", lambda: ev.letterbox(IM, 16, std=np.nan), V, "std"),
    ("mean_inf", lambda: ev.letterbox(IM, 16, mean=[0, np.inf, 0]), V, "mean"),
    ("pad_nan", lambda: ev.letterbox(IM, 16, pad_value=float("nan")), V, "pad_value"),
    ("warp_std_zero", lambda: ev.warp_quad(IM, QUAD, 8, std=[1, 1, 0]), V, "std"),
    # channels
    ("channels_1_from_bgr", lambda: ev.letterbox(IM, 16, channels=1), V, "channels"),
    ("channels_4_from_bgr", lambda: ev.letterbox(IM, 16, channels=4), V, "channels"),
    ("channels_4_from_gray", lambda: ev.letterbox(GRAY, 16, channels=4), V, "channels"),
    ("channels_2", lambda: ev.letterbox(IM, 16, channels=2), V, "channels"),
    ("channels_str", lambda: ev.letterbox(IM, 16, channels="3"), V, "channels"),
    ("warp_channels_1_from_bgr", lambda: ev.warp_quad(IM, QUAD, 8, channels=1), V, "channels"),
    ("zero_channels_2", lambda: ev.letterbox(IM, 16, zero_channels=2), V, "zero_channels"),
    ("zero_channels_negative", lambda: ev.letterbox(IM, 16, zero_channels=-1), V, "zero_channels"),
    ("zero_channels_str", lambda: ev.letterbox(IM, 16, zero_channels="1"), V, "zero_channels"),
    ("zero_channels_with_1_channel", lambda: ev.letterbox(GRAY, 16, channels=1, zero_channels=1), V, "zero_channels"),
    ("zero_channels_with_4_channels", lambda: ev.letterbox(IM4, 16, channels=4, zero_channels=1), V, "zero_channels"),
    ("warp_zero_channels_2", lambda: ev.warp_quad(IM, QUAD, 8, zero_channels=2), V, "zero_channels"),
    # option strings / types
    ("mode_unknown", lambda: ev.letterbox(IM, 16, mode="crop"), V, "mode"),
    ("mode_not_str", lambda: ev.letterbox(IM, 16, mode=1), T, "mode"),
    ("align_unknown", lambda: ev.letterbox(IM, 16, align="bottom"), V, "align"),
    ("layout_unknown", lambda: ev.letterbox(IM, 16, layout="CHW"), V, "layout"),
    ("dtype_unknown_str", lambda: ev.letterbox(IM, 16, dtype="float64"), V, "dtype"),
    ("dtype_bogus_str", lambda: ev.letterbox(IM, 16, dtype="bogus"), T, "dtype"),
    ("dtype_int8", lambda: ev.letterbox(IM, 16, dtype=np.int8), V, "dtype"),
    ("dtype_object", lambda: ev.letterbox(IM, 16, dtype=object()), T, "dtype"),
    ("interpolation_unknown", lambda: ev.letterbox(IM, 16, interpolation="bicubic"), V, "interpolation"),
    ("scaleup_str", lambda: ev.letterbox(IM, 16, scaleup="yes"), T, "scaleup"),
    ("swap_rb_int", lambda: ev.letterbox(IM, 16, swap_rb=1), T, "swap_rb"),
    ("threads_zero", lambda: ev.letterbox(IM, 16, threads=0), V, "threads"),
    ("threads_negative", lambda: ev.letterbox(IM, 16, threads=-2), V, "threads"),
    ("threads_float", lambda: ev.letterbox(IM, 16, threads=1.5), V, "threads"),
    ("warp_threads_zero", lambda: ev.warp_quad(IM, QUAD, 8, threads=0), V, "threads"),
    ("warp_mode", lambda: ev.warp_quad(IM, QUAD, 8, mode="stretch"), V, "mode"),
    ("warp_align", lambda: ev.warp_quad(IM, QUAD, 8, align="center"), V, "align"),
    ("warp_nearest", lambda: ev.warp_quad(IM, QUAD, 8, interpolation="nearest"), V, "interpolation"),
    ("simd_unknown_level", lambda: ev.simd("avx9000").__enter__(), V, "level"),
]


@pytest.mark.parametrize("call,cls,word", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_a_named_error(call, cls, word):
    builtin = ValueError if cls is InvalidArgumentError else TypeError
    with pytest.raises(builtin) as info:
        call()
    assert isinstance(info.value, cls), f"{type(info.value).__name__}: {info.value}"
    assert isinstance(info.value, ev.EdgeVisionError)
    assert word in str(info.value), str(info.value)


# The reference validates with the same parser, so it raises the same errors.
REF_CASES = [
    ("image_int16", lambda: letterbox_ref(IM.astype(np.int16), 32), T, "image"),
    ("size_zero", lambda: letterbox_ref(IM, 0), V, "size"),
    ("std_zero", lambda: letterbox_ref(IM, 16, std=0), V, "std"),
    ("threads_zero", lambda: letterbox_ref(IM, 16, threads=0), V, "threads"),
    ("images_empty", lambda: letterbox_batch_ref([], 16), V, "images"),
    ("mode_none_too_small", lambda: letterbox_ref(IM, 4, mode="none"), V, "size"),
    ("quad_ccw", lambda: warp_quad_ref(IM, QUAD[::-1], 8), V, "quad"),
    ("warp_mode", lambda: warp_quad_ref(IM, QUAD, 8, mode="stretch"), V, "mode"),
]


@pytest.mark.parametrize("call,cls,word", [c[1:] for c in REF_CASES], ids=[c[0] for c in REF_CASES])
def test_reference_raises_the_same_errors(call, cls, word):
    with pytest.raises(cls) as info:
        call()
    assert word in str(info.value)


def test_unknown_option_is_an_edgevision_error():
    with pytest.raises(InvalidTypeError, match="bogus"):
        ev.letterbox(IM, 16, bogus=1)


def test_unknown_option_still_raises_type_error_naming_it():
    with pytest.raises(TypeError, match="bogus"):
        ev.letterbox(IM, 16, bogus=1)


def test_failed_calls_leave_out_untouched():
    out = np.full((1, 3, 16, 16), 7.0, np.float32)
    with pytest.raises(ValueError):
        ev.letterbox(IM, 16, out=out, std=0)
    with pytest.raises(ValueError):
        ev.letterbox(IM, 16, out=out, channels=1)
    assert np.all(out == 7.0)


NASTY = textwrap.dedent(
    """
    import numpy as np
    import edgevision as ev

    def expect_error(fn):
        try:
            fn()
        except (ValueError, TypeError) as e:
            assert isinstance(e, ev.EdgeVisionError) or "unexpected keyword" in str(e), repr(e)
        else:
            raise SystemExit("no error raised")

    im = np.zeros((8, 10, 3), np.uint8)
    # Absurd sizes and degenerate inputs.
    expect_error(lambda: ev.letterbox(im, (32768, 32768)))
    expect_error(lambda: ev.letterbox(im, 2**40))
    expect_error(lambda: ev.letterbox(np.zeros((0, 0, 3), np.uint8), 8))
    expect_error(lambda: ev.warp_quad(im, [[0, 0], [1e300, 0], [1e300, 1e300], [0, 1e300]], 8))
    expect_error(lambda: ev.warp_quad(im, [[0, 0], [1e-300, 0], [1e-300, 1e-300], [0, 1e-300]], 8))
    expect_error(lambda: ev.warp_quad(im, np.full((4, 2), np.nan), 8))
    out = np.zeros((1, 3, 4, 4), np.float32)
    expect_error(lambda: ev.letterbox(out.reshape(-1).view(np.uint8)[:48].reshape(4, 4, 3), 4, out=out))
    # Legal but extreme: every pixel far outside, a 1-pixel quad, stride-0 images, huge upscales.
    ev.warp_quad(im, [[1e6, 1e6], [1e6 + 1e4, 1e6], [1e6 + 1e4, 1e6 + 1e4], [1e6, 1e6 + 1e4]], (64, 64))
    ev.warp_quad(im, [[-5e3, -5e3], [-4e3, -5e3], [-4e3, -4e3], [-5e3, -4e3]], (64, 64))
    ev.warp_quad(im, [[-1e6, -1e6], [1e6, -1e6], [1e6, 1e6], [-1e6, 1e6]], (64, 64))
    ev.warp_quad(im, [[4, 4], [4.001, 4], [4.001, 4.001], [4, 4.001]], (3, 3))
    ev.letterbox(np.broadcast_to(np.uint8(7), (1, 1)), (4000, 4000), dtype="uint8")
    ev.letterbox(np.broadcast_to(np.uint8(7), (32768, 1, 3)), (1, 32768))
    ev.letterbox(np.zeros((1, 32768, 4), np.uint8)[:, ::-1], 3, channels=4, threads=64)
    ev.letterbox_batch([np.zeros((h, 1), np.uint8) for h in range(1, 40)], (1, 1), threads=2)
    print("survived")
    """
)


def test_nasty_inputs_do_not_crash_the_process():
    r = subprocess.run([sys.executable, "-c", NASTY], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"rc={r.returncode}\nstdout:{r.stdout}\nstderr:{r.stderr}"
    assert r.stdout.strip() == "survived"


# --- rect_size: the input of a model with preprocess.stride ------------------------------------

from edgevision.preprocess import letterbox_batch, rect_size  # noqa: E402


@pytest.mark.parametrize("shapes, size, stride, scaleup, want", [
    ([(1188, 1584)], 384, 32, True, (288, 384)),         # a 4:3 photo: 288 rows of content, no padding
    ([(1160, 720)], 384, 32, True, (384, 256)),          # portrait CCPD: 238 columns -> 256
    ([(1080, 1920)], 640, 32, True, (384, 640)),         # 16:9 at 640: 360 rows -> 384 (Ultralytics' own example)
    ([(100, 100)], 384, 32, True, (384, 384)),           # square: nothing to save
    ([(60, 160), (160, 60)], 96, 32, True, (96, 96)),    # a batch: the size that holds every image
    ([(20, 40)], 96, 32, False, (32, 64)),               # no upscaling: the image's own size, rounded up
    ([(1, 4000)], 384, 32, True, (32, 384)),             # at least one stride
])
def test_rect_size(shapes, size, stride, scaleup, want):
    got = rect_size(shapes, size, stride, scaleup=scaleup)
    assert got == want
    # letterboxed into it, each image keeps the scale it has in the full size
    for hw in shapes:
        img = np.zeros((*hw, 3), np.uint8)
        full = letterbox_batch([img], size, scaleup=scaleup)[1][0]
        rect = letterbox_batch([img], got, scaleup=scaleup)[1][0]
        assert rect.scale == pytest.approx(full.scale) and rect.dst_shape == got


@pytest.mark.parametrize("kwargs, match", [
    (dict(shapes=[(10, 10)], size=100, stride=32), r"size: expected multiples of stride 32"),
    (dict(shapes=[(10, 10)], size=64, stride=0), r"stride: expected"),
    (dict(shapes=[(10, 10)], size=64, stride=True), r"stride: expected"),
    (dict(shapes=[], size=64, stride=32), r"shapes: expected at least one"),
    (dict(shapes=[(0, 10)], size=64, stride=32), r"shapes: expected positive \(height, width\)"),
])
def test_rect_size_errors_name_the_argument(kwargs, match):
    with pytest.raises(InvalidArgumentError, match=match):
        rect_size(**kwargs)
