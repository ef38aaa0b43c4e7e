"""Pure numpy/OpenCV reference of every kernel function in :mod:`edgevision.preprocess`.

This module exists for tests and benchmarks: it states, with ordinary library
calls, what the compiled kernel must compute. It is never used as a fallback
by the SDK (it copies, allocates and is several times slower).

Conventions are those of :mod:`edgevision.preprocess` (read its module
docstring): images are ``uint8`` ``HxW`` / ``HxWxC`` (C in 1, 3, 4), BGR(A);
sizes are ``(height, width)`` in pixels; points are continuous pixel
coordinates with the origin at the top-left corner of the top-left pixel;
values are ``out = (pixel * scale - mean) / std`` per *output* channel, with
``pixel`` and ``pad_value`` in uint8 pixel units (0..255).

Option parsing and geometry come from the kernel module itself
(:func:`~edgevision.preprocess.parse_options`,
:func:`~edgevision.preprocess.transform_for`,
:func:`~edgevision.preprocess.quad_matrix`,
:func:`~edgevision.preprocess.output_shape`,
:func:`~edgevision.preprocess.parse_size`). The content rectangle is the one thing the
reference works out on its own (:func:`placement_ref`, exact rational arithmetic), so that a
rounding bug in the kernel module's :func:`~edgevision.preprocess.placement` shows up.

How each stage is computed here:

* ``bilinear``: ``cv2.resize(..., interpolation=cv2.INTER_LINEAR)`` (the kernel
  reproduces its 11-bit fixed point, so on x86 builds of OpenCV 4/5 the
  resampled pixels agree bit for bit).
* ``nearest``: numpy fancy indexing with the exact pixel-centre rule, per axis,
  ``src_index = min(((2 * d + 1) * src) // (2 * dst), src - 1)``: the source
  pixel containing the output pixel centre ``(d + 0.5) * src / dst``, computed
  in integers (Pillow's rule, and the kernel's). OpenCV's
  ``INTER_NEAREST_EXACT`` is the same rule away from exact ties; on ties (the
  output centre falling exactly on a source pixel edge, ``(2d+1)*src`` divisible
  by ``2*dst``) OpenCV may pick the other pixel: OpenCV 4 rounds in 16-bit
  fixed point, and OpenCV 5.0 (measured) takes the lower index, e.g. 58 -> 59
  pixels, output 29 reads source 28 where this rule reads 29. So OpenCV is not
  used as the nearest reference.
* mode ``none``: no resampling at all.
* channel selection: ``Options.lane_src`` (BGR->RGB with ``swap_rb``,
  gray->3 channels, dropping or keeping alpha).
* canvas: filled with ``pad_value``; content pasted at the :func:`placement_ref` rectangle.
* normalization in float64: ``(v * scale - mean) / std``, then cast: float32
  and float16 with ``astype`` (round to nearest even), uint8 with ``np.rint``
  then ``np.clip(0, 255)``.
* ``zero_channels``: that many channels of zeros appended after the normalized ones.

The kernel computes the affine step in float32 as ``v * a + b`` with
``a = f32(scale) / f32(std)`` and ``b = -f32(mean) / f32(std)``, so float
outputs agree to float32 rounding, not bit for bit; tests compare in uint8
pixel levels (see ``tests/_helpers.py``).
"""

from __future__ import annotations

from typing import Any, Sequence

import cv2
import numpy as np

from .preprocess import (
    LetterboxTransform,
    Options,
    _prepare_out,
    image_channels,
    output_shape,
    prepare_batch,
    warp_options,
    parse_size,
    quad_matrix,
    transform_for,
)

__all__ = [
    "placement_ref",
    "letterbox_ref",
    "letterbox_batch_ref",
    "warp_quad_ref",
    "nearest_indices",
    "resample_ref",
    "normalize_ref",
]


def nearest_indices(src: int, dst: int) -> np.ndarray:
    """Source indices (int64, length ``dst``) of pixel-centre nearest resampling of one axis.

    ``src_index = min(((2 * d + 1) * src) // (2 * dst), src - 1)`` for output
    index ``d``: the source pixel that contains the continuous coordinate
    ``(d + 0.5) * src / dst`` (top-left-corner origin), exact in integers.
    """
    d = np.arange(dst, dtype=np.int64)
    return np.minimum(((2 * d + 1) * src) // (2 * dst), src - 1)


def resample_ref(image: np.ndarray, hw: tuple[int, int], interpolation: str) -> np.ndarray:
    """Resizes a contiguous uint8 image to ``hw`` = (height, width) pixels, keeping its channels.

    ``bilinear`` is ``cv2.resize(INTER_LINEAR)``; ``nearest`` is
    :func:`nearest_indices` on both axes. A resize to the same size is the
    identity for both.
    """
    h, w = image.shape[:2]
    H, W = hw
    if (H, W) == (h, w):
        return image.copy()
    if interpolation == "nearest":
        return image[nearest_indices(h, H)[:, None], nearest_indices(w, W)[None, :]]
    out = cv2.resize(image, (W, H), interpolation=cv2.INTER_LINEAR)
    if image.ndim == 3 and out.ndim == 2:  # OpenCV drops a trailing channel axis of 1
        out = out[:, :, None]
    return out


def _lanes(image: np.ndarray, o: Options) -> np.ndarray:
    """HxWxC uint8 image in output channel order (``o.lane_src`` picks the source channel of each)."""
    im3 = image if image.ndim == 3 else image[:, :, None]
    return np.ascontiguousarray(im3[:, :, list(o.lane_src)])


def normalize_ref(values: np.ndarray, o: Options) -> np.ndarray:
    """``(v * scale - mean) / std`` per output channel, in float64, cast to ``o.dtype``.

    ``values``: ``... x C`` array of pixel values in uint8 units (float allowed:
    fractional pad values), channels in output order. float32/float16 use
    ``astype`` (round to nearest even); uint8 uses ``np.rint`` and clips to 0..255.
    """
    v = np.asarray(values, dtype=np.float64)
    scale = np.asarray(o.scale, dtype=np.float64)
    mean = np.asarray(o.mean, dtype=np.float64)
    std = np.asarray(o.std, dtype=np.float64)
    y = (v * scale - mean) / std
    if o.dtype == np.uint8:
        return np.clip(np.rint(y), 0, 255).astype(np.uint8)
    with np.errstate(over="ignore"):  # float16 saturates to inf, as the kernel does
        return y.astype(o.dtype)


def _layout(hwc: np.ndarray, o: Options) -> np.ndarray:
    """Normalized HxWxC, plus ``o.zero_channels`` channels of zeros -> (1, C, H, W) for NCHW or (1, H, W, C)
    for NHWC, C-contiguous."""
    if o.zero_channels:
        hwc = np.concatenate([hwc, np.zeros(hwc.shape[:2] + (o.zero_channels,), hwc.dtype)], axis=2)
    t = hwc.transpose(2, 0, 1) if o.layout == "NCHW" else hwc
    return np.ascontiguousarray(t)[None]


def placement_ref(src_hw: tuple[int, int], dst_hw: tuple[int, int], mode: str, align: str,
                  scaleup: bool) -> tuple[int, int, int, int]:
    """The content rectangle ``(x0, y0, width, height)`` (pixels), worked out on its own in exact
    rational arithmetic (not with :func:`edgevision.preprocess.placement`, which it checks):
    ``letterbox`` scales by ``r = min(H/h, W/w)`` (at most 1 without ``scaleup``) and rounds each
    side half up, at least 1 px; ``pad_right`` fills the height, width ``ceil(w*H/h)`` capped at
    ``W``; ``stretch`` fills; ``none`` keeps the size. ``center`` puts the odd padding pixel after."""
    from fractions import Fraction
    from math import ceil, floor

    (h, w), (H, W) = src_hw, dst_hw
    if mode == "stretch":
        return 0, 0, W, H
    if mode == "pad_right":
        return 0, 0, min(W, max(1, ceil(Fraction(w * H, h)))), H
    if mode == "letterbox":
        r = min(Fraction(H, h), Fraction(W, w))
        if not scaleup:
            r = min(r, Fraction(1))
        cw, ch = (min(lim, max(1, floor(side * r + Fraction(1, 2)))) for side, lim in ((w, W), (h, H)))
    else:
        if h > H or w > W:
            from .errors import InvalidArgumentError

            raise InvalidArgumentError(f"size: mode 'none' does not resample, and the image ({h}x{w}) is larger "
                                       f"than size ({H}x{W}); use mode='letterbox'")
        cw, ch = w, h
    return ((W - cw) // 2, (H - ch) // 2, cw, ch) if align == "center" else (0, 0, cw, ch)


def _letterbox_one(image: np.ndarray, hw: tuple[int, int], o: Options) -> tuple[np.ndarray, LetterboxTransform]:
    """One validated image -> (blob of shape (1, ...), transform)."""
    src = np.ascontiguousarray(image)
    rect = placement_ref(src.shape[:2], hw, o.mode, o.align, o.scaleup)
    x0, y0, cw, ch = rect
    content = src if o.mode == "none" else resample_ref(src, (ch, cw), o.interpolation)
    lanes = _lanes(content, o).astype(np.float64)
    canvas = np.empty((hw[0], hw[1], o.channels), dtype=np.float64)
    canvas[...] = np.asarray(o.pad_value, dtype=np.float64)
    canvas[y0 : y0 + ch, x0 : x0 + cw] = lanes
    blob = _layout(normalize_ref(canvas, o), o)
    return blob, transform_for(src.shape[:2], hw, rect)


def _finish(blob: np.ndarray, out: Any, sources: Sequence[np.ndarray]) -> np.ndarray:
    if out is None:
        return blob
    view = _prepare_out(out, blob.shape, blob.dtype, sources)
    view[...] = blob
    return out


def letterbox_batch_ref(
    images: Sequence[np.ndarray], size: Any = None, *, out: np.ndarray | None = None, **opts: Any
) -> tuple[np.ndarray, list[LetterboxTransform]]:
    """Reference of :func:`edgevision.letterbox_batch`: images of any sizes -> ``(blob, transforms)``.

    ``blob`` has shape ``(N, C, H, W)`` (NCHW) or ``(N, H, W, C)`` (NHWC) with
    ``(H, W) = size`` in pixels; values ``(pixel * scale - mean) / std`` per
    output channel. Options and errors are those of the kernel function;
    ``threads`` is accepted and ignored. ``out`` (optional) is validated like
    the kernel's and filled by copying.
    """
    names = ("image",) if isinstance(images, (list, tuple)) and len(images) == 1 else None
    images, o, hw = prepare_batch(images, size, opts, names)
    parts = [_letterbox_one(im, hw, o) for im in images]
    blob = np.concatenate([p[0] for p in parts], axis=0)
    return _finish(blob, out, images), [p[1] for p in parts]


def letterbox_ref(
    image: np.ndarray, size: Any = None, *, out: np.ndarray | None = None, **opts: Any
) -> tuple[np.ndarray, LetterboxTransform]:
    """Reference of :func:`edgevision.letterbox`: one image -> ``(blob, transform)``.

    ``blob`` has shape ``(1, C, H, W)`` or ``(1, H, W, C)``; see
    :func:`letterbox_batch_ref` and the module docstring for the computation.
    """
    blob, transforms = letterbox_batch_ref([image], size, out=out, **opts)
    return blob, transforms[0]


def warp_quad_ref(image: np.ndarray, quad: Any, size: Any, *, out: np.ndarray | None = None, **opts: Any) -> np.ndarray:
    """Reference of :func:`edgevision.warp_quad`: rectify ``quad`` into a ``size`` crop.

    ``quad``: 4 ``(x, y)`` points in source pixels (continuous, top-left-corner
    origin), clockwise from top-left. The 3x3 matrix from
    :func:`~edgevision.preprocess.quad_matrix` maps output pixel *index*
    coordinates to source index coordinates, i.e. OpenCV's inverse map, so this
    is ``cv2.warpPerspective(..., flags=INTER_LINEAR | WARP_INVERSE_MAP,
    borderMode=BORDER_CONSTANT)``. Channels are selected (``lane_src``) before
    the warp, so ``borderValue`` is the pad value rounded to uint8, per output
    channel, which is the value the kernel uses for taps outside the image.
    Output pixels none of whose taps fall inside the image (found by warping a
    coverage mask of ones) get the exact, possibly fractional, ``pad_value``
    instead, as in the kernel. Then the normalization of :func:`normalize_ref`.

    Differences the tests allow for: OpenCV computes coordinates per block of
    pixels (and OpenCV 5 may take an IPP or float path) while the kernel
    computes them per pixel in 1/32-pixel fixed point, so a few pixels differ by
    a level or two (up to ``|gradient| / 64`` levels, the 1/32-pixel rounding
    times the local image gradient); near the image border the two may also
    disagree on whether a pixel samples the image at all (then the difference
    is that of the rounded and the exact pad value, at most 0.5 levels).
    """
    o = warp_options(image_channels(image), opts)
    hw = parse_size(size)
    M = quad_matrix(quad, hw)
    shape = output_shape(1, o.out_channels, hw, o.layout)
    lanes = _lanes(np.ascontiguousarray(image), o)
    pad_u8 = [float(min(255, max(0, round(p)))) for p in o.pad_value]
    border = tuple(pad_u8 + [0.0] * (4 - len(pad_u8)))
    warped = cv2.warpPerspective(
        lanes,
        M,
        (hw[1], hw[0]),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=border,
    )
    if warped.ndim == 2:
        warped = warped[:, :, None]
    # Output pixels that sample nothing of the image (all four taps outside) get
    # the exact, possibly fractional, pad value, as in the kernel: warp a float
    # coverage mask of ones with a zero border; zero coverage = no image tap.
    coverage = cv2.warpPerspective(
        np.ones(lanes.shape[:2], dtype=np.float32),
        M,
        (hw[1], hw[0]),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0.0,
    )
    values = warped.astype(np.float64)
    values[coverage <= 0] = np.asarray(o.pad_value, dtype=np.float64)
    blob = _layout(normalize_ref(values, o), o)
    assert blob.shape == shape
    return _finish(blob, out, [image])
