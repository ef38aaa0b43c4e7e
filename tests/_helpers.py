"""Shared helpers for the preprocessing tests: image generators, strided views,
the kernel-vs-reference tolerance, and a fixed-point warp oracle.

Units: pixel values and tolerances are in uint8 pixel *levels* (0..255) unless
stated otherwise; sizes are (height, width) in pixels.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from edgevision.preprocess import Options, parse_options, parse_size, quad_matrix

# ---------------------------------------------------------------------------
# Images


def random_image(h: int, w: int, cn: int | None = 3, seed: int = 0) -> np.ndarray:
    """Contiguous uint8 image, ``h x w`` (``cn=None``) or ``h x w x cn``.

    Uniform noise (the hardest case for resampling: every tap matters) with the
    extreme values 0 and 255 forced into a few pixels.
    """
    rng = np.random.default_rng(seed)
    shape = (h, w) if cn is None else (h, w, cn)
    im = rng.integers(0, 256, shape, dtype=np.uint8)
    flat = im.reshape(-1)
    flat[:: max(1, flat.size // 7)] = 255
    flat[3 :: max(1, flat.size // 5)] = 0
    return im


def scene(h: int, w: int, cn: int = 3, seed: int = 0) -> np.ndarray:
    """A natural-looking synthetic uint8 image (gradients, filled shapes, text, slight
    blur and +-3 levels of noise), for comparisons that are statistical rather than exact."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack(
        [x * 255 / max(w - 1, 1), y * 255 / max(h - 1, 1), (x + y) * 127 / max(w + h - 2, 1)], axis=-1
    ).astype(np.uint8)
    img = np.ascontiguousarray(img)
    for _ in range(12):
        color = tuple(int(v) for v in rng.integers(0, 256, 3))
        p = tuple(int(v) for v in rng.integers(0, [w, h]))
        q = tuple(int(a + b) for a, b in zip(p, rng.integers(5, [max(6, w // 3), max(6, h // 3)])))
        if rng.random() < 0.5:
            cv2.rectangle(img, p, q, color, -1)
        else:
            cv2.circle(img, p, int(rng.integers(3, max(4, min(h, w) // 4))), color, -1)
    cv2.putText(img, "EDGE 42", (w // 8, h // 2), cv2.FONT_HERSHEY_SIMPLEX, max(w / 200, 0.3), (255, 255, 255), 2)
    img = cv2.GaussianBlur(img, (0, 0), 1.0)
    img = np.clip(img.astype(np.int16) + rng.integers(-3, 4, img.shape), 0, 255).astype(np.uint8)
    if cn == 1:
        return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    if cn == 4:
        alpha = ((x + 2 * y) * 255 / max(w + 2 * h - 3, 1)).astype(np.uint8)[:, :, None]  # smooth ramp
        return np.concatenate([img, alpha], axis=-1)
    return img


#: Non-contiguous views of an image: every one keeps the shape ``h x w [x cn]``
#: and shares memory with a larger base array (none of them is C-contiguous).
VIEW_KINDS = (
    "crop",  # interior crop of a bigger image (row stride > width * cn)
    "flip_rows",  # [::-1] on rows (negative row stride)
    "flip_cols",  # [:, ::-1] (negative pixel stride)
    "flip_both",
    "step2_rows",  # [::2]
    "step2_cols",  # [:, ::2]
    "step2_both",
    "transposed",  # a transposed array (pixel stride > row stride)
    "broadcast",  # one row repeated with stride 0 (read-only)
    "channel_reversed",  # [:, :, ::-1] of the BGR(A) data (negative channel stride); 3/4 channels only
    "channel_slice",  # a channel slice of a wider image ([..., 1:2] or [..., 0] for gray)
)


def make_view(kind: str, h: int, w: int, cn: int | None = 3, seed: int = 0) -> np.ndarray:
    """A non-contiguous ``uint8`` view of shape ``(h, w)`` (``cn=None``) or ``(h, w, cn)``."""
    tail: tuple[int, ...] = () if cn is None else (cn,)
    rng = np.random.default_rng(seed)

    def noise(*shape: int) -> np.ndarray:
        return rng.integers(0, 256, shape, dtype=np.uint8)

    if kind == "crop":
        v = noise(h + 5, w + 7, *tail)[2 : 2 + h, 3 : 3 + w]
    elif kind == "flip_rows":
        v = noise(h, w, *tail)[::-1]
    elif kind == "flip_cols":
        v = noise(h, w, *tail)[:, ::-1]
    elif kind == "flip_both":
        v = noise(h, w, *tail)[::-1, ::-1]
    elif kind == "step2_rows":
        v = noise(2 * h, w, *tail)[::2]
    elif kind == "step2_cols":
        v = noise(h, 2 * w, *tail)[:, ::2]
    elif kind == "step2_both":
        v = noise(2 * h + 1, 2 * w + 1, *tail)[1::2, 1::2]
    elif kind == "transposed":
        v = noise(w, h, *tail).swapaxes(0, 1)
    elif kind == "broadcast":
        v = np.broadcast_to(noise(1, w, *tail), (h, w, *tail))
    elif kind == "channel_reversed":
        if cn not in (3, 4):
            raise ValueError("channel_reversed needs 3 or 4 channels")
        v = noise(h, w, cn)[:, :, ::-1]
    elif kind == "channel_slice":
        if cn is None:
            v = noise(h, w, 3)[:, :, 1]
        else:
            v = noise(h, w, cn + 1)[:, :, 1:]
    else:
        raise ValueError(kind)
    assert v.shape == (h, w, *tail) and v.dtype == np.uint8
    if h > 1 and w > 1:
        assert not v.flags.c_contiguous, kind
    return v


# ---------------------------------------------------------------------------
# Tolerance: kernel vs reference, in uint8 pixel levels


def options_for(image: np.ndarray, **opts: Any) -> Options:
    """The validated options for ``image`` (same parser as the kernel)."""
    cn = 1 if image.ndim == 2 else image.shape[2]
    opts = {k: v for k, v in opts.items() if k not in ("out",)}
    return parse_options(cn, **opts)


def _per_channel(values: Any, o: Options, ndim: int = 4) -> np.ndarray:
    """Per-output-channel values shaped to broadcast against a blob of ``o.layout``."""
    v = np.asarray(values, dtype=np.float64)
    shape = [1] * ndim
    shape[1 if o.layout == "NCHW" else ndim - 1] = -1
    return v.reshape(shape)


def level_size(o: Options) -> np.ndarray:
    """Size of one uint8 input level in output units, per channel: ``|scale / std|``.

    For uint8 outputs it is at least 1 (one output step; with the default
    ``scale=1, std=1`` exactly 1), since outputs are rounded to integers.
    """
    a = np.abs(np.asarray(o.scale, dtype=np.float64) / np.asarray(o.std, dtype=np.float64))
    if o.dtype == np.uint8:
        a = np.maximum(a, 1.0)
    # zero channels: 1 (any difference shows; assert_matches_reference wants them exactly 0)
    return _per_channel(np.concatenate([a, np.ones(o.zero_channels)]), o)


def diff_in_levels(kernel: np.ndarray, ref: np.ndarray, o: Options) -> np.ndarray:
    """``|kernel - ref|`` expressed in uint8 pixel levels (float64, same shape)."""
    k = kernel.astype(np.float64)
    r = ref.astype(np.float64)
    same = (k == r) | (np.isnan(k) & np.isnan(r))  # equal infinities (float16 overflow) count as 0
    with np.errstate(invalid="ignore"):
        d = np.where(same, 0.0, np.abs(k - r))
    return d / level_size(o)


def assert_matches_reference(kernel: np.ndarray, ref: np.ndarray, o: Options, *, levels: float = 1.0) -> float:
    """The contractual kernel-vs-reference tolerance. Returns the max difference in levels.

    * float32: ``|kernel - ref| <= levels * |scale/std| + 1e-5 * |ref|``
      (one uint8 level of resampling difference, plus float32 rounding of the
      affine map, which the kernel evaluates as ``v * a + b`` in float32 and
      the reference as ``(v * scale - mean) / std`` in float64);
    * float16: the same plus half-precision rounding, ``1e-3 * |ref|``
      (binary16 has a relative precision of 2**-11 ~ 4.9e-4);
    * uint8: ``|kernel - ref| <= levels * max(1, |scale/std|)``: within 1 for
      the default scale (exact integers, rounding may differ on .5 ties).
    """
    assert kernel.shape == ref.shape, (kernel.shape, ref.shape)
    assert kernel.dtype == ref.dtype == o.dtype, (kernel.dtype, ref.dtype, o.dtype)
    assert kernel.flags.c_contiguous
    if o.zero_channels:  # exactly 0 in both
        zeros = slice(o.channels, None)
        axis = 1 if o.layout == "NCHW" else kernel.ndim - 1
        for blob in (kernel, ref):
            assert not np.take(blob, range(blob.shape[axis])[zeros], axis=axis).any(), "a zero channel is not 0"
    k = kernel.astype(np.float64)
    r = ref.astype(np.float64)
    if o.dtype == np.uint8:
        tol = np.broadcast_to(levels * level_size(o), r.shape)
    else:
        assert np.all(np.isfinite(k) == np.isfinite(r)), "kernel and reference disagree on overflow"
        rel = 1e-5 + (1e-3 if o.dtype == np.float16 else 0.0)
        with np.errstate(invalid="ignore"):
            tol = levels * level_size(o) + rel * np.abs(r)
    d = diff_in_levels(kernel, ref, o)
    with np.errstate(invalid="ignore"):
        err = np.where(np.isfinite(r), np.abs(k - r), 0.0)
    bad = err > tol
    if np.any(bad):
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise AssertionError(
            f"kernel differs from reference beyond tolerance at {int(bad.sum())} of {bad.size} elements; "
            f"first at {idx}: kernel={kernel[idx]!r} ref={ref[idx]!r} tol={tol[idx]:.3g}; "
            f"max diff {float(d.max()):.4f} levels"
        )
    return float(d.max()) if d.size else 0.0


def assert_bit_identical(a: np.ndarray, b: np.ndarray, what: str = "") -> None:
    """Same shape, dtype and bytes (tolerance 0; NaNs and signed zeros must match too)."""
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape, a.dtype, b.dtype)
    ab = np.ascontiguousarray(a).view(np.uint8)
    bb = np.ascontiguousarray(b).view(np.uint8)
    if not np.array_equal(ab, bb):
        diff = np.argwhere(a != b)
        first = tuple(int(i) for i in diff[0]) if len(diff) else None
        raise AssertionError(
            f"{what}: not bit-identical ({len(diff)} elements differ; first at {first}: {a[first]!r} vs {b[first]!r})"
        )


# ---------------------------------------------------------------------------
# Warp oracle


def warp_fixed_point_oracle(image: np.ndarray, quad: Any, size: Any, border: tuple[float, ...]) -> np.ndarray:
    """OpenCV's classic 1/32-pixel fixed-point perspective warp, built from ``cv2.remap``.

    For every output pixel (x, y) this computes the source position exactly as
    OpenCV 4's ``warpPerspective`` (and the kernel) do: ``X = lrint(32 * X0 / W)``
    with ``(X0, Y0, W) = M @ (x, y, 1)``, ``M`` from
    :func:`~edgevision.preprocess.quad_matrix`; then samples with
    ``cv2.remap`` on CV_16SC2 + CV_16UC1 maps (integer part, 5-bit fractions)
    with INTER_LINEAR and a constant border. OpenCV 5's ``warpPerspective``
    interpolates at full float precision instead, so this oracle, not
    ``warpPerspective``, pins the kernel's arithmetic.

    ``image`` is ``h x w x c`` uint8 with the output channels already selected;
    returns ``H x W x c`` uint8.
    """
    H, W = parse_size(size)
    M = quad_matrix(quad, (H, W))
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    X0 = M[0, 0] * x + M[0, 1] * y + M[0, 2]
    Y0 = M[1, 0] * x + M[1, 1] * y + M[1, 2]
    Wd = M[2, 0] * x + M[2, 1] * y + M[2, 2]
    Wd = np.where(Wd != 0, 32.0 / np.where(Wd != 0, Wd, 1.0), 0.0)
    X = np.rint(np.clip(X0 * Wd, -(2.0**31), 2.0**31 - 1)).astype(np.int64)
    Y = np.rint(np.clip(Y0 * Wd, -(2.0**31), 2.0**31 - 1)).astype(np.int64)
    h, w = image.shape[:2]
    # Integer parts clipped to [-2, w] x [-2, h]: outside that range every tap is
    # outside the image either way, so the result does not change.
    m1 = np.stack([np.clip(X >> 5, -2, w), np.clip(Y >> 5, -2, h)], axis=-1).astype(np.int16)
    m2 = ((Y & 31) * 32 + (X & 31)).astype(np.uint16)
    out = cv2.remap(
        np.ascontiguousarray(image), m1, m2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=border
    )
    return out if out.ndim == 3 else out[:, :, None]


def convex_quad(rng: np.random.Generator, h: int, w: int, *, inside: bool = True, jitter: float = 0.06) -> np.ndarray:
    """A random clockwise convex quad (4 x 2, source pixels): a jittered axis-aligned
    rectangle, inside the image (``inside=True``) or possibly overlapping its borders."""
    for _ in range(100):
        if inside:
            cx, cy = rng.uniform(0.35, 0.65) * w, rng.uniform(0.35, 0.65) * h
            sx, sy = rng.uniform(0.3, 0.6) * w, rng.uniform(0.3, 0.6) * h
        else:
            cx, cy = rng.uniform(-0.2, 1.2) * w, rng.uniform(-0.2, 1.2) * h
            sx, sy = rng.uniform(0.1, 1.5) * w, rng.uniform(0.1, 1.5) * h
        q = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64) * [sx / 2, sy / 2] + [cx, cy]
        q += rng.normal(0.0, jitter, (4, 2)) * [sx, sy]
        try:
            quad_matrix(q, (8, 8))
        except ValueError:
            continue
        return q
    raise RuntimeError("could not draw a convex quad")
