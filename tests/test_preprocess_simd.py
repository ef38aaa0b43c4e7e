"""Every SIMD level gives bit-identical results to the scalar path (tolerance 0:
same bytes, compared as raw memory), and so do threads=1 and threads=2.

Widths 1..40 exercise the SIMD main loops and every ragged tail (the AVX2 code
handles 4, 8 or 16 pixels per step, SSE4.1 2 or 4). Timings are printed,
libyuv-style, and never asserted.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest

import edgevision as ev

from _helpers import assert_bit_identical, convex_quad, make_view, random_image

SUPPORTED = ev.kernel_info()["supported"]
# Every level other than scalar; on a scalar-only build, scalar vs itself still runs every path.
LEVELS = [lvl for lvl in SUPPORTED if lvl != "scalar"] or ["scalar"]
DTYPES = ("float32", "float16", "uint8")

# (source channels or None for HxW gray, options)
CHANNEL_CASES = {
    "gray2d_to_1": (None, dict()),
    "gray1_to_1": (1, dict(channels=1)),
    "gray_to_3": (None, dict(channels=3)),
    "bgr_to_3": (3, dict()),
    "bgr_to_rgb": (3, dict(swap_rb=True)),
    "bgra_to_3": (4, dict(swap_rb=True)),
    "bgra_to_4": (4, dict(channels=4)),
    "bgr_to_rgb_and_zero": (3, dict(swap_rb=True, zero_channels=1)),
}

VALUES = dict(mean=[0.485, 0.456, 0.406, 0.3], std=[0.229, 0.224, 0.225, 0.2], pad_value=[114.5, 3.0, 250.25, 0.0])


def _values(channels: int, values: str = "normalized") -> dict:
    """The value options: per-channel mean/std/pad (``normalized``), or none (``plain``: uint8 outputs then
    keep the pixel values, the stores' packing path, OutSpec::u8_copy)."""
    return {k: v[:channels] for k, v in VALUES.items()} if values == "normalized" else {}


def run_at(level, fn):
    with ev.simd(level):
        assert ev.kernel_info()["simd"] == level
        return fn()


@pytest.mark.parametrize("values", ["normalized", "plain"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", list(CHANNEL_CASES))
@pytest.mark.parametrize("level", LEVELS)
def test_letterbox_bit_identical_to_scalar(level, case, dtype, values):
    cn, base_opts = CHANNEL_CASES[case]
    channels = base_opts.get("channels", 1 if cn in (None, 1) else 3)
    checked = 0
    for width in range(1, 41):
        src_w = (width * 7) % 41 + 1  # unrelated source width: down- and upscales
        variants = [
            (random_image(5, src_w, cn, seed=width), (3, width), dict(mode="stretch")),
            (random_image(4, width, cn, seed=width), (4, width), dict(mode="stretch")),  # 1:1 horizontally
            (random_image(2, max(1, width // 3), cn, seed=width), (5, width), dict(mode="stretch")),  # upscale
            (random_image(6, src_w, cn, seed=width), (6, width + 9), dict(mode="pad_right")),  # content at x=0, pad right
            (random_image(3, width, cn, seed=width), (9, width + 5), dict(mode="none")),  # content at x=2
            (make_view("flip_cols", 5, src_w, cn, seed=width), (3, width), dict(mode="stretch")),  # gathered rows
            (make_view("step2_both", 4, src_w, cn, seed=width), (7, width + 3), dict(align="top-left")),
        ]
        for image, size, opts in variants:
            for interpolation in ("bilinear", "nearest"):
                for layout in ("NCHW", "NHWC"):
                    kw = dict(base_opts, **opts, **_values(channels, values), interpolation=interpolation,
                              layout=layout, dtype=dtype, threads=1)
                    expected = run_at("scalar", lambda: ev.letterbox(image, size, **kw)[0])
                    got = run_at(level, lambda: ev.letterbox(image, size, **kw)[0])
                    assert_bit_identical(got, expected, f"{level} width={width} size={size} {kw}")
                    checked += 1
    assert checked == 40 * 7 * 2 * 2


@pytest.mark.parametrize("values", ["normalized", "plain"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", list(CHANNEL_CASES))
@pytest.mark.parametrize("level", LEVELS)
def test_warp_bit_identical_to_scalar(level, case, dtype, values):
    cn, opts = CHANNEL_CASES[case]
    channels = opts.get("channels", 1 if cn in (None, 1) else 3)
    rng = np.random.default_rng(11)
    image = random_image(30, 40, cn, seed=5)
    for width in range(1, 41):
        quad = convex_quad(rng, 30, 40, inside=width % 2 == 0)  # odd widths: partly outside (border taps)
        for layout in ("NCHW", "NHWC"):
            kw = dict(opts, **_values(channels, values), layout=layout, dtype=dtype, threads=1)
            expected = run_at("scalar", lambda: ev.warp_quad(image, quad, (3, width), **kw))
            got = run_at(level, lambda: ev.warp_quad(image, quad, (3, width), **kw))
            assert_bit_identical(got, expected, f"{level} width={width} {kw}")


VIEW_KINDS = ("crop", "flip_rows", "flip_cols", "flip_both", "step2_rows", "step2_cols", "step2_both", "transposed")


@pytest.mark.parametrize("cn", [3, 4])
@pytest.mark.parametrize("kind", ["contiguous", *VIEW_KINDS])
@pytest.mark.parametrize("level", LEVELS)
def test_warp_views_edges_and_perspective_bit_identical_to_scalar(level, kind, cn):
    """The SIMD warp samples packed 3- and 4-byte pixels itself and hands every other pixel to the
    scalar code: strided and flipped views, taps on the last two columns or rows, and strongly
    projective quads (the per-pixel division) must all give the scalar bytes."""
    rng = np.random.default_rng(hash((kind, cn)) % 2**32)
    h, w = 41, 67
    image = random_image(h, w, cn, seed=3) if kind == "contiguous" else make_view(kind, h, w, cn, seed=3)
    quads = [convex_quad(rng, h, w, inside=i % 3 != 0) for i in range(6)]
    quads.append(np.array([[w - 9.3, h - 7.6], [w + 0.4, h - 8.1], [w - 0.2, h + 0.3], [w - 8.8, h - 0.7]]))  # the far corner
    quads.append(np.array([[20.0, 10.0], [24.0, 10.5], [60.0, 40.0], [2.0, 38.0]]))  # a trapezoid: strong perspective
    for quad in quads:
        for swap_rb in (False, True):
            kw = dict(dtype="uint8", layout="NHWC", swap_rb=swap_rb, scale=1.0, threads=1)
            if cn == 4:
                kw["channels"] = int(rng.choice([3, 4]))
            size = (int(rng.integers(1, 40)), int(rng.integers(1, 90)))
            expected = run_at("scalar", lambda: ev.warp_quad(image, quad, size, **kw))
            got = run_at(level, lambda: ev.warp_quad(image, quad, size, **kw))
            assert_bit_identical(got, expected, f"{level} {kind} cn={cn} quad={quad.tolist()} size={size} {kw}")


@pytest.mark.parametrize("level", LEVELS)
def test_large_image_bit_identical_to_scalar(level):
    image = random_image(1080, 1920, 3, seed=1)
    for dtype in DTYPES:
        for layout in ("NCHW", "NHWC"):
            kw = dict(dtype=dtype, layout=layout, swap_rb=True, mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
            expected = run_at("scalar", lambda: ev.letterbox(image, 640, **kw)[0])
            got = run_at(level, lambda: ev.letterbox(image, 640, **kw)[0])
            assert_bit_identical(got, expected, f"{level} {kw}")


@pytest.mark.parametrize("level", LEVELS)
def test_uint8_saturation_beyond_int32_is_identical_across_levels(level):
    image = np.full((2, 16, 3), 255, np.uint8)
    kw = dict(mode="stretch", dtype="uint8", scale=1e7, threads=1)  # 255 * 1e7 = 2.55e9 > 2**31
    expected = run_at("scalar", lambda: ev.letterbox(image, (2, 16), **kw)[0])
    assert np.all(expected == 255)
    got = run_at(level, lambda: ev.letterbox(image, (2, 16), **kw)[0])
    assert_bit_identical(got, expected, level)


def test_threads_1_and_2_bit_identical():
    images = [random_image(720, 1280, 3, seed=2), random_image(31, 7, 3, seed=3)[:, ::-1], random_image(1, 1, 3, seed=4)]
    rng = np.random.default_rng(0)
    for dtype in DTYPES:
        for layout in ("NCHW", "NHWC"):
            kw = dict(dtype=dtype, layout=layout, mean=0.5, std=0.25)
            for im in images:
                one = ev.letterbox(im, (384, 640), threads=1, **kw)[0]
                two = ev.letterbox(im, (384, 640), threads=2, **kw)[0]
                assert_bit_identical(one, two, f"letterbox {im.shape} {kw}")
            one = ev.letterbox_batch(images, 320, threads=1, **kw)[0]
            two = ev.letterbox_batch(images, 320, threads=2, **kw)[0]
            assert_bit_identical(one, two, f"batch {kw}")
            quad = convex_quad(rng, 720, 1280, inside=False)
            # >= 128K output pixels, so that threads=2 really uses two threads (one per 64K).
            one = ev.warp_quad(images[0], quad, (384, 401), threads=1, **kw)
            two = ev.warp_quad(images[0], quad, (384, 401), threads=2, **kw)
            assert_bit_identical(one, two, f"warp {kw}")
    # More threads than cores is allowed and changes nothing.
    assert_bit_identical(ev.letterbox(images[0], 640, threads=64)[0], ev.letterbox(images[0], 640, threads=1)[0])


def _us(fn, reps: int = 5) -> float:
    fn()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1e6


def test_timing_report():
    """Prints libyuv-style timings (best of 5, single thread); asserts only that outputs match."""
    image = random_image(1080, 1920, 3, seed=0)
    lines = []
    for dtype in DTYPES:
        for layout in ("NCHW", "NHWC"):
            kw = dict(dtype=dtype, layout=layout, threads=1)
            scalar = run_at("scalar", lambda: _us(lambda: ev.letterbox(image, 640, **kw)))
            for level in LEVELS:
                simd = run_at(level, lambda: _us(lambda: ev.letterbox(image, 640, **kw)))
                lines.append(
                    f"1920x1080->640 {dtype:7s} {layout}: {scalar:9.0f} us scalar - {simd:9.0f} us {level}"
                    f" = {scalar - simd:9.0f} us ({scalar / simd:4.1f}x)"
                )
                a = run_at("scalar", lambda: ev.letterbox(image, 640, **kw)[0])
                b = run_at(level, lambda: ev.letterbox(image, 640, **kw)[0])
                assert_bit_identical(a, b)
    print("\n" + "\n".join(lines))


def _simd_in_subprocess(value: str | None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("EDGEVISION_SIMD", None)
    if value is not None:
        env["EDGEVISION_SIMD"] = value
    return subprocess.run(
        [sys.executable, "-c", "import edgevision; print(edgevision.kernel_info()['simd'])"],
        env=env, capture_output=True, text=True, timeout=60,
    )


def test_env_var_forces_scalar():
    r = _simd_in_subprocess("scalar")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "scalar"


def test_env_var_auto_and_unknown_fall_back_to_the_best_level():
    best = _simd_in_subprocess(None)
    assert best.returncode == 0, best.stderr
    assert best.stdout.strip() == SUPPORTED[-1]
    auto = _simd_in_subprocess("auto")
    assert auto.returncode == 0 and auto.stdout.strip() == SUPPORTED[-1]
    bogus = _simd_in_subprocess("avx9000")
    assert bogus.returncode == 0 and bogus.stdout.strip() == SUPPORTED[-1]
    assert "EDGEVISION_SIMD" in bogus.stderr  # a warning, not silence


def test_simd_context_manager_restores_the_level():
    before = ev.kernel_info()["simd"]
    with pytest.raises(ValueError):
        with ev.simd("scalar"):
            assert ev.kernel_info()["simd"] == "scalar"
            raise ValueError("boom")
    assert ev.kernel_info()["simd"] == before
