"""Image -> model-input tensor in one compiled pass: resize, pad, normalize, reorder.

Conventions (they hold for every function here and for :mod:`edgevision.reference`):

* **Images** are ``uint8`` arrays, ``H x W`` (gray) or ``H x W x C`` with C in
  {1, 3, 4}. Colour images are BGR/BGRA, as ``cv2.imread`` returns them. Any
  strides are accepted (crops, flips, channel-reversed views) without copying
  the image.
* **Sizes** are ``(height, width)`` in pixels, or one int for a square.
* **Points** are continuous pixel coordinates ``(x, y)`` with the origin at the
  top-left corner of the top-left pixel, so the centre of pixel (row i, col j) is
  ``(j + 0.5, i + 0.5)``. In this convention a resize is a pure scale, and the
  mapping between source pixels and model-input pixels is exact (it is the
  convention of Ultralytics' ``scale_boxes`` and of OpenCV's pixel-centre
  resampling).
* **Values**: ``out = (pixel * scale - mean) / std`` per output channel, where
  channels are in *output* order (after ``swap_rb``). ``scale`` defaults to
  1/255 for float outputs and 1 for uint8 outputs. ``pad_value`` is in pixel
  units (0..255, fractional allowed), per output channel, and goes through the
  same formula.
* **Zero channels**: ``zero_channels=1`` (with 3 output channels) appends a 4th output
  channel that is always 0, written in the same pass: for int8 models whose first
  convolution reads 4 bytes a pixel (``calibration.quantize.channels_last_input``).
* **Resampling** ``bilinear`` reproduces ``cv2.resize(..., INTER_LINEAR)``
  bit for bit (same pixel centres and 11-bit fixed point); ``nearest`` is the
  exact pixel-centre rule ``floor((x + 0.5) * src / dst)`` (Pillow's). It agrees
  with ``cv2.INTER_NEAREST_EXACT`` except on exact ties, which OpenCV 5 rounds down.

Resize modes:

``letterbox``  keep the aspect ratio, pad to ``size`` (``align`` = ``center`` or
               ``top-left``; ``scaleup=False`` never enlarges).
``stretch``    resize to ``size`` ignoring the aspect ratio.
``pad_right``  text-recognizer layout: height becomes ``size[0]``, width follows
               the aspect ratio (rounded up, capped at ``size[1]``), padded on the right.
``none``       no resampling: the image is placed (``align``) in a canvas of
               ``size`` (default: the image size) and must fit.

The SIMD level is chosen at run time (AVX2 > SSE4.1 > scalar on x86, NEON on
AArch64). ``EDGEVISION_SIMD=scalar`` forces the scalar reference path; every
level gives bit-identical results.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np

from . import _core
from .checks import check_bool, check_int, check_size, is_int, is_real
from .errors import InvalidArgumentError, InvalidTypeError

MODES = ("letterbox", "stretch", "pad_right", "none")
ALIGNS = ("center", "top-left")
INTERPOLATIONS = ("bilinear", "nearest")
LAYOUTS = ("NCHW", "NHWC")
DTYPES = {"float32": np.dtype(np.float32), "float16": np.dtype(np.float16), "uint8": np.dtype(np.uint8)}
MAX_SIDE: int = int(_core.MAX_SIDE)
#: Largest output tensor, in elements (2**31 - 1 keeps every index in 32 bits on all targets).
MAX_ELEMENTS = 2**31 - 1
DEFAULT_PAD_VALUE = 114.0
#: Largest |coordinate| of a warp_quad corner, pixels: sampling positions are 1/32-pixel fixed point in int32.
QUAD_LIMIT = 2**26

__all__ = [
    "LetterboxTransform",
    "rect_size",
    "letterbox",
    "letterbox_batch",
    "warp_quad",
    "kernel_info",
    "simd",
    "MODES",
    "ALIGNS",
    "INTERPOLATIONS",
    "LAYOUTS",
    "DTYPES",
]


# ---------------------------------------------------------------------------
# The transform


def _points(points: Any, name: str) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    if p.ndim == 0 or p.shape[-1] != 2:
        raise InvalidArgumentError(f"{name}: expected an array of (x, y) pairs with shape (..., 2), got {p.shape}")
    return p


def _boxes(boxes: Any, name: str) -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float64)
    if b.ndim == 0 or b.shape[-1] != 4:
        raise InvalidArgumentError(f"{name}: expected boxes (x1, y1, x2, y2) with shape (..., 4), got {b.shape}")
    return b


@dataclass(frozen=True)
class LetterboxTransform:
    """Where a source image went inside the model input, and how to map points back.

    Attributes:
        src_shape: ``(height, width)`` of the source image, pixels.
        dst_shape: ``(height, width)`` of the model input, pixels.
        scale: ``(sx, sy)``, content size divided by source size per axis
            (equal for ``letterbox``; ``stretch`` may differ).
        pad: ``(left, top)`` offset of the resized content inside the model input, pixels.

    Coordinates are continuous pixels with the origin at the top-left corner of
    the top-left pixel (see module docs), so the mapping is exactly
    ``input = source * scale + pad``.
    """

    src_shape: tuple[int, int]
    dst_shape: tuple[int, int]
    scale: tuple[float, float]
    pad: tuple[int, int]

    @property
    def content_shape(self) -> tuple[int, int]:
        """``(height, width)`` of the resized image inside the model input, pixels."""
        return (
            int(round(self.src_shape[0] * self.scale[1])),
            int(round(self.src_shape[1] * self.scale[0])),
        )

    def _vectors(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(input (W, H), pad, scale, source (W, H)) as float64 (x, y) vectors, computed once."""
        v = self.__dict__.get("_vec")
        if v is None:
            v = (np.array([self.dst_shape[1], self.dst_shape[0]], np.float64), np.array(self.pad, np.float64),
                 np.array(self.scale, np.float64), np.array([self.src_shape[1], self.src_shape[0]], np.float64))
            object.__setattr__(self, "_vec", v)
        return v

    def to_source(self, points: Any, *, normalized: bool = False, clip: bool = False) -> np.ndarray:
        """Model-input ``(x, y)`` points (..., 2) to source-image pixels (float64, a new array).

        ``normalized=True`` means the points are fractions of the model input
        (x / width, y / height), as keypoint heads usually predict.
        ``clip=True`` clamps the result to the source image.
        """
        dst_wh, pad, scale, src_wh = self._vectors()
        p = _points(points, "points")
        if normalized:
            p = p * dst_wh
        p = (p - pad) / scale
        return np.clip(p, 0.0, src_wh) if clip else p

    def to_input(self, points: Any, *, normalized: bool = False, clip: bool = False) -> np.ndarray:
        """Source-image ``(x, y)`` points (..., 2) to model-input pixels (or fractions if ``normalized``)."""
        dst_wh, pad, scale, _ = self._vectors()
        p = _points(points, "points") * scale + pad
        if clip:
            p = np.clip(p, 0.0, dst_wh)
        return p / dst_wh if normalized else p

    def boxes_to_source(self, boxes: Any, *, clip: bool = False) -> np.ndarray:
        """Model-input boxes ``(x1, y1, x2, y2)`` (..., 4) to source-image pixels."""
        b = _boxes(boxes, "boxes")
        out = self.to_source(b.reshape(*b.shape[:-1], 2, 2), clip=clip)
        return out.reshape(b.shape)

    def boxes_to_input(self, boxes: Any, *, clip: bool = False) -> np.ndarray:
        """Source-image boxes ``(x1, y1, x2, y2)`` (..., 4) to model-input pixels."""
        b = _boxes(boxes, "boxes")
        out = self.to_input(b.reshape(*b.shape[:-1], 2, 2), clip=clip)
        return out.reshape(b.shape)

    def to_dict(self) -> dict[str, Any]:
        return {
            "src_shape": list(self.src_shape),
            "dst_shape": list(self.dst_shape),
            "scale": list(self.scale),
            "pad": list(self.pad),
        }


# ---------------------------------------------------------------------------
# Option parsing (shared with edgevision.reference: one source of truth)


@dataclass(frozen=True)
class Options:
    """Validated preprocessing options. Per-channel tuples are in output channel order."""

    mode: str
    align: str
    scaleup: bool
    interpolation: str
    channels: int
    lane_src: tuple[int, ...]
    scale: tuple[float, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    pad_value: tuple[float, ...]
    swap_rb: bool
    dtype: np.dtype
    layout: str
    threads: int
    #: Output channels after the ``channels`` image channels that are always 0 (0 or 1; with ``channels`` 3).
    zero_channels: int = 0

    #: Derived values the kernel takes, in float32 arithmetic (computed once by parse_options):
    #: a = scale / std (multiplier of the uint8 pixel), b = -mean / std, pad_normalized = pad * a + b.
    a: tuple[float, ...] = ()
    b: tuple[float, ...] = ()
    pad_normalized: tuple[float, ...] = ()

    @property
    def out_channels(self) -> int:
        """Channels of the output tensor: ``channels`` plus ``zero_channels``."""
        return self.channels + self.zero_channels

    def core_args(self) -> tuple[list[int], list[float], list[float], list[float]]:
        """(lane_src, a, b, pad) padded to 4 entries, as edgevision._core takes them (a padded lane reads
        no channel and is written as ``0 * 0 + 0``: the zero channels)."""
        return self._core  # type: ignore[attr-defined]

    def __post_init__(self) -> None:
        # The kernel computes in float32: every derived value must be finite there.
        with np.errstate(all="ignore"):
            for name in ("scale", "mean", "std", "pad_value"):
                v = np.asarray(getattr(self, name), dtype=np.float32)
                if not np.all(np.isfinite(v)) or (name == "std" and np.any(v == 0)):
                    raise InvalidArgumentError(
                        f"{name}: {list(getattr(self, name))} is not representable in float32 "
                        f"(|value| must be below 3.4e38{' and std non-zero in float32' if name == 'std' else ''})"
                    )
            a = tuple(float(np.float32(s) / np.float32(d)) for s, d in zip(self.scale, self.std))
            b = tuple(float(-np.float32(m) / np.float32(d)) for m, d in zip(self.mean, self.std))
            pad = tuple(float(np.float32(np.float32(p) * np.float32(x)) + np.float32(y))
                        for p, x, y in zip(self.pad_value, a, b))
        if not all(math.isfinite(v) for v in a + b + pad):
            raise InvalidArgumentError(
                f"scale, mean, std: out = (pixel * scale - mean) / std overflows float32 "
                f"(scale={list(self.scale)}, mean={list(self.mean)}, std={list(self.std)})"
            )
        object.__setattr__(self, "a", a)
        object.__setattr__(self, "b", b)
        object.__setattr__(self, "pad_normalized", pad)
        fill = 4 - len(a)
        object.__setattr__(self, "_core", (list(self.lane_src) + [-1] * fill, list(a) + [0.0] * fill,
                                           list(b) + [0.0] * fill, list(pad) + [0.0] * fill))


def parse_size(size: Any, name: str = "size") -> tuple[int, int]:
    """``size`` (int or (height, width)) -> (height, width), validated."""
    return check_size(size, name, minimum=1, maximum=MAX_SIDE, error=InvalidArgumentError)


def _per_channel(value: Any, name: str, channels: int, *, nonzero: bool = False) -> tuple[float, ...]:
    if is_real(value):
        vals = [float(value)] * channels
    else:
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidTypeError(f"{name}: expected a number or a sequence of {channels} numbers, got {value!r}") from None
        if arr.ndim != 1 or arr.shape[0] not in (1, channels):
            raise InvalidArgumentError(
                f"{name}: expected a number or {channels} values (one per output channel), got shape {arr.shape}"
            )
        vals = [float(v) for v in arr] if arr.shape[0] == channels else [float(arr[0])] * channels
    if not all(math.isfinite(v) for v in vals):
        raise InvalidArgumentError(f"{name}: values must be finite, got {vals}")
    if nonzero and any(v == 0 for v in vals):
        raise InvalidArgumentError(f"{name}: values must be non-zero, got {vals}")
    return tuple(vals)


def _choice(value: Any, name: str, choices: Sequence[str], *, upper: bool = False) -> str:
    if not isinstance(value, str):
        raise InvalidTypeError(f"{name}: expected one of {list(choices)}, got {value!r}")
    v = value.upper() if upper else value.lower()
    if v not in choices:
        raise InvalidArgumentError(f"{name}: expected one of {list(choices)}, got {value!r}")
    return v


def image_channels(image: Any, name: str = "image") -> int:
    """Validates a uint8 HxW / HxWxC image and returns its channel count."""
    if not isinstance(image, np.ndarray):
        raise InvalidTypeError(f"{name}: expected a numpy.ndarray (uint8 HxW or HxWxC), got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise InvalidTypeError(f"{name}: expected dtype uint8, got {image.dtype}")
    if image.ndim not in (2, 3):
        raise InvalidArgumentError(f"{name}: expected a HxW or HxWxC image, got {image.ndim} dimensions {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise InvalidArgumentError(f"{name}: image is empty, shape {image.shape}")
    if image.shape[0] > MAX_SIDE or image.shape[1] > MAX_SIDE:
        raise InvalidArgumentError(f"{name}: image sides must be at most {MAX_SIDE} pixels, got {image.shape[:2]}")
    cn = 1 if image.ndim == 2 else image.shape[2]
    if cn not in (1, 3, 4):
        raise InvalidArgumentError(f"{name}: expected 1, 3 or 4 channels, got {cn}")
    return cn


def _lane_src(cn: int, channels: int, swap_rb: bool) -> tuple[int, ...]:
    if channels == 1:
        if cn != 1:
            raise InvalidArgumentError(
                f"channels: 1 needs a single-channel image, got {cn} channels "
                "(convert with cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) first)"
            )
        return (0,)
    if channels == 4 and cn != 4:
        raise InvalidArgumentError(f"channels: 4 needs a 4-channel image, got {cn} channels")
    if cn == 1:
        return (0, 0, 0)
    rgb = (2, 1, 0) if swap_rb else (0, 1, 2)
    return rgb + ((3,) if channels == 4 else ())


def parse_options(
    cn: int,
    *,
    mode: str = "letterbox",
    align: str = "center",
    scaleup: bool = True,
    interpolation: str = "bilinear",
    scale: Any = None,
    mean: Any = 0.0,
    std: Any = 1.0,
    swap_rb: bool = False,
    pad_value: Any = DEFAULT_PAD_VALUE,
    dtype: Any = "float32",
    layout: str = "NCHW",
    channels: int | None = None,
    zero_channels: int = 0,
    threads: int | None = None,
) -> Options:
    """Validates keyword options for an image with ``cn`` channels."""
    mode = _choice(mode, "mode", MODES)
    align = _choice(align, "align", ALIGNS)
    interpolation = _choice(interpolation, "interpolation", INTERPOLATIONS)
    layout = _choice(layout, "layout", LAYOUTS, upper=True)
    check_bool(scaleup, "scaleup")
    check_bool(swap_rb, "swap_rb")
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise InvalidTypeError(f"dtype: expected one of {list(DTYPES)}, got {dtype!r}") from None
    if dt not in DTYPES.values():
        raise InvalidArgumentError(f"dtype: expected one of {list(DTYPES)}, got {dt}")
    if channels is None:
        channels = 1 if cn == 1 and not zero_channels else 3
    if not is_int(channels) or channels not in (1, 3, 4):
        raise InvalidArgumentError(f"channels: expected 1, 3 or 4, got {channels!r}")
    check_int(zero_channels, "zero_channels", minimum=0, maximum=1, expected="0 or 1", error=InvalidArgumentError)
    if zero_channels and channels != 3:
        raise InvalidArgumentError(f"zero_channels: {zero_channels} needs channels 3 (the kernel writes at most 4 "
                                   f"channels a pixel), got channels {channels}")
    if threads is None:
        threads = int(_core.hardware_threads())
    check_int(threads, "threads", minimum=1, expected="a positive int or None", error=InvalidArgumentError)
    if scale is None:
        scale = 1.0 if dt == np.uint8 else 1.0 / 255.0
    return Options(
        mode=mode,
        align=align,
        scaleup=bool(scaleup),
        interpolation=interpolation,
        channels=int(channels),
        lane_src=_lane_src(cn, int(channels), bool(swap_rb)),
        scale=_per_channel(scale, "scale", channels),
        mean=_per_channel(mean, "mean", channels),
        std=_per_channel(std, "std", channels, nonzero=True),
        pad_value=_per_channel(pad_value, "pad_value", channels),
        swap_rb=bool(swap_rb),
        dtype=dt,
        layout=layout,
        threads=int(threads),
        zero_channels=int(zero_channels),
    )


_OPTIONS_CACHE: dict[Any, Options] = {}


def _freeze(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return ("nd", v.dtype.str, tuple(v.ravel().tolist()))
    if isinstance(v, (list, tuple)):
        return (type(v).__name__, tuple(_freeze(x) for x in v))
    if isinstance(v, np.dtype):
        return ("dtype", v.str)
    if isinstance(v, type):
        return ("type", v.__module__, v.__qualname__)
    hash(v)
    return (type(v).__name__, v)


OPTION_NAMES = frozenset(
    ("mode", "align", "scaleup", "interpolation", "scale", "mean", "std", "swap_rb", "pad_value", "dtype", "layout",
     "channels", "zero_channels", "threads")
)


def options_cached(cn: int, opts: dict[str, Any]) -> Options:
    """parse_options with a small cache keyed by the option values (hot path of every call)."""
    unknown = set(opts) - OPTION_NAMES
    if unknown:
        raise InvalidTypeError(
            f"{', '.join(sorted(unknown))}: unexpected keyword argument(s); expected some of {sorted(OPTION_NAMES)}"
        )
    try:
        # Fast path: hashable values keyed with their types (so 1 and True, 1 and 1.0 stay distinct).
        key: Any = (cn, tuple((k, type(v), v) for k, v in opts.items()))
        hash(key)
    except TypeError:
        try:
            key = (cn, tuple(sorted((k, _freeze(v)) for k, v in opts.items())))
        except TypeError:  # unhashable option value: parse every time (parse_options reports bad ones)
            return parse_options(cn, **opts)
    o = _OPTIONS_CACHE.get(key)
    if o is None:
        o = parse_options(cn, **opts)
        if len(_OPTIONS_CACHE) >= 256:
            _OPTIONS_CACHE.clear()
        _OPTIONS_CACHE[key] = o
    return o


def placement(
    src_hw: tuple[int, int], dst_hw: tuple[int, int], mode: str, align: str, scaleup: bool
) -> tuple[int, int, int, int]:
    """Content rectangle ``(x0, y0, width, height)`` of a source image inside the output, pixels."""
    h, w = src_hw
    H, W = dst_hw
    if mode == "stretch":
        return 0, 0, W, H
    if mode == "pad_right":
        cw = min(W, max(1, -(-w * H // h)))  # ceil(w * H / h), exact in integers
        return 0, 0, cw, H
    if mode == "letterbox":
        r = min(H / h, W / w)
        if not scaleup:
            r = min(r, 1.0)
        cw = min(W, max(1, int(math.floor(w * r + 0.5))))
        ch = min(H, max(1, int(math.floor(h * r + 0.5))))
    else:  # none
        if h > H or w > W:
            raise InvalidArgumentError(
                f"size: mode 'none' does not resample, and the image ({h}x{w}) is larger than size ({H}x{W}); "
                "use mode='letterbox'"
            )
        cw, ch = w, h
    if align == "center":
        return (W - cw) // 2, (H - ch) // 2, cw, ch
    return 0, 0, cw, ch


def rect_size(shapes: Sequence[tuple[int, int]], size: Any, stride: int, *, scaleup: bool = True) -> tuple[int, int]:
    """The smallest model input, in multiples of ``stride``, that holds every image letterboxed as into ``size``.

    ``shapes``: the images' ``(height, width)`` in pixels; ``size``: the largest model input
    ``(height, width)`` (multiples of ``stride``). Each image is scaled as ``mode="letterbox"``
    scales it into ``size`` (``r = min(H / h, W / w)``, capped at 1 when ``scaleup`` is false);
    the result is the smallest ``(height, width)`` with both sides multiples of ``stride``, at
    most ``size``, that holds every scaled image. Letterboxed into it, an image keeps that scale:
    its side that fills ``size`` still fills it, and the padding shrinks to less than ``stride``
    pixels on the other side (Ultralytics' ``auto`` letterbox, "rect" inference). A model whose
    height and width axes are dynamic then computes ``H' x W'`` instead of ``H x W``: a 4:3 photo
    at ``size`` 384 runs at 288 x 384, three quarters of the work.
    """
    H, W = parse_size(size)
    s = check_int(stride, "stride", minimum=1, error=InvalidArgumentError)
    if H % s or W % s:
        raise InvalidArgumentError(f"size: expected multiples of stride {s}, got {(H, W)}")
    if not shapes:
        raise InvalidArgumentError("shapes: expected at least one (height, width)")
    need_h = need_w = s
    for h, w in shapes:
        h, w = int(h), int(w)
        if h < 1 or w < 1:
            raise InvalidArgumentError(f"shapes: expected positive (height, width), got {(h, w)}")
        r = min(H / h, W / w)
        if not scaleup:
            r = min(r, 1.0)
        # the unrounded scaled sides (less a hair for float error at exact multiples), rounded up to the stride
        need_h = max(need_h, math.ceil((h * r - 1e-6) / s) * s)
        need_w = max(need_w, math.ceil((w * r - 1e-6) / s) * s)
    return min(H, need_h), min(W, need_w)


def transform_for(src_hw: tuple[int, int], dst_hw: tuple[int, int], rect: tuple[int, int, int, int]) -> LetterboxTransform:
    x0, y0, cw, ch = rect
    return LetterboxTransform(
        src_shape=(int(src_hw[0]), int(src_hw[1])),
        dst_shape=(int(dst_hw[0]), int(dst_hw[1])),
        scale=(cw / src_hw[1], ch / src_hw[0]),
        pad=(int(x0), int(y0)),
    )


def output_shape(n: int, channels: int, hw: tuple[int, int], layout: str) -> tuple[int, int, int, int]:
    shape = (n, channels, hw[0], hw[1]) if layout == "NCHW" else (n, hw[0], hw[1], channels)
    if math.prod(shape) > MAX_ELEMENTS:
        raise InvalidArgumentError(f"size: output of shape {shape} exceeds {MAX_ELEMENTS} elements")
    return shape


def _prepare_out(out: Any, shape: tuple[int, ...], dtype: np.dtype, sources: Sequence[np.ndarray]) -> np.ndarray:
    """Validates a caller-owned buffer; returns a 4-d view of it. ``None`` allocates."""
    if out is None:
        return np.empty(shape, dtype=dtype)
    if not isinstance(out, np.ndarray):
        raise InvalidTypeError(f"out: expected a numpy.ndarray, got {type(out).__name__}")
    if out.dtype != dtype:
        raise InvalidTypeError(f"out: expected dtype {dtype}, got {out.dtype}")
    if out.shape != shape and not (shape[0] == 1 and out.shape == shape[1:]):
        raise InvalidArgumentError(f"out: expected shape {shape}, got {out.shape}")
    if not out.flags.c_contiguous:
        raise InvalidArgumentError("out: must be C-contiguous")
    if not out.flags.writeable:
        raise InvalidArgumentError("out: must be writeable")
    for src in sources:
        if np.may_share_memory(out, src):
            raise InvalidArgumentError("out: overlaps the input image memory")
    return out.reshape(shape)


def prepare_batch(
    images: Any, size: Any, opts: dict[str, Any], names: Sequence[str] | None = None
) -> tuple[list[np.ndarray], Options, tuple[int, int]]:
    """Validates a batch call: the images (same channel count), the options and the output size.

    Returns ``(images as a list, Options, (height, width))``. ``size=None`` is
    allowed only for mode ``none`` with images of one size.
    """
    if isinstance(images, np.ndarray) and images.ndim == 4:
        images = list(images)
    if not isinstance(images, (list, tuple)):
        raise InvalidTypeError(f"images: expected a list of numpy.ndarray images, got {type(images).__name__}")
    if len(images) == 0:
        raise InvalidArgumentError("images: expected at least one image")
    names = names or tuple(f"images[{i}]" for i in range(len(images)))
    cns = [image_channels(im, nm) for im, nm in zip(images, names)]
    if len(set(cns)) != 1:
        raise InvalidArgumentError(f"images: all images must have the same channel count, got {cns}")
    o = options_cached(cns[0], opts)
    if size is None:
        if o.mode != "none":
            raise InvalidArgumentError(f"size: required for mode '{o.mode}'")
        if len({im.shape[:2] for im in images}) != 1:
            raise InvalidArgumentError("size: required for mode 'none' when images differ in size")
        hw = (int(images[0].shape[0]), int(images[0].shape[1]))
    else:
        hw = parse_size(size)
    output_shape(len(images), o.out_channels, hw, o.layout)  # validates the element count
    return list(images), o, hw


def _call_core(fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except TypeError as e:  # defensive: the checks above should catch everything first
        raise InvalidTypeError(str(e)) from None
    except ValueError as e:
        raise InvalidArgumentError(str(e)) from None


# ---------------------------------------------------------------------------
# Public API


def letterbox(image: np.ndarray, size: Any = None, *, out: np.ndarray | None = None, **opts: Any):
    """One image -> ``(blob, transform)``, blob of shape (1, C, H, W) (or (1, H, W, C) for NHWC).

    Args:
        image: uint8 HxW or HxWxC (C in 1, 3, 4), BGR(A); any strides.
        size: model input ``(height, width)`` or an int; may be ``None`` only with ``mode="none"``.
        out: optional caller-owned, C-contiguous buffer of the blob's shape (or
            without the leading 1) and dtype, written in place and returned.
        **opts: ``mode``, ``align``, ``scaleup``, ``interpolation``, ``scale``,
            ``mean``, ``std``, ``swap_rb``, ``pad_value``, ``dtype``, ``layout``,
            ``channels``, ``zero_channels``, ``threads`` (see module docs). ``threads`` is a
            maximum (default: all hardware threads); small outputs use fewer,
            one per 64K output pixels, since waking a thread costs more than it saves.

    Returns:
        ``(blob, LetterboxTransform)``.
    """
    blob, transforms = letterbox_batch([image], size, out=out, _names=("image",), **opts)
    return blob, transforms[0]


def letterbox_batch(images: Sequence[np.ndarray], size: Any = None, *, out: np.ndarray | None = None, **opts: Any):
    """Images of any sizes -> ``(blob, [transform, ...])``, blob of shape (N, C, H, W) or (N, H, W, C).

    All images must have the same channel count. Images and rows are split
    across ``threads`` threads; the GIL is released while the kernel runs.
    """
    names = opts.pop("_names", None)
    images, o, hw = prepare_batch(images, size, opts, names)
    rects = [placement(im.shape[:2], hw, o.mode, o.align, o.scaleup) for im in images]
    shape = output_shape(len(images), o.out_channels, hw, o.layout)
    blob = _prepare_out(out, shape, o.dtype, images)
    lane4, a4, b4, pad4 = o.core_args()
    _call_core(_core.resize, images, rects, blob, o.layout == "NHWC", o.out_channels, lane4, a4, b4, pad4,
               o.interpolation, o.threads)
    transforms = [transform_for(im.shape[:2], hw, r) for im, r in zip(images, rects)]
    return (out if out is not None else blob), transforms


_NEXT = np.array([1, 2, 3, 0])  # each corner's successor, clockwise


def homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 3x3 float64 projective map taking the 4 points ``src`` onto ``dst`` ((4, 2) arrays, (x, y)),
    normalized so that ``M[2, 2] == 1``. Raises ``numpy.linalg.LinAlgError`` when the points are degenerate."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    x, y, u, v = src[:, 0], src[:, 1], dst[:, 0], dst[:, 1]
    A = np.zeros((8, 8))
    A[0::2, 0], A[0::2, 1], A[0::2, 2], A[0::2, 6], A[0::2, 7] = x, y, 1.0, -u * x, -u * y
    A[1::2, 3], A[1::2, 4], A[1::2, 5], A[1::2, 6], A[1::2, 7] = x, y, 1.0, -v * x, -v * y
    rhs = dst.reshape(8)  # u0, v0, u1, v1, ...
    return np.append(np.linalg.solve(A, rhs), 1.0).reshape(3, 3)


def quad_matrix(quad: Any, hw: tuple[int, int]) -> np.ndarray:
    """Validates a quad and returns the 3x3 map from output pixel *index* coordinates to source index coordinates.

    ``quad``: 4 points ``(x, y)`` in source pixels (continuous, top-left-corner
    origin), clockwise from top-left: top-left, top-right, bottom-right,
    bottom-left. It must be finite, within +-QUAD_LIMIT pixels, convex and clockwise, and span at
    least 1e-6 pixels.
    """
    try:
        q = np.asarray(quad, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidTypeError(f"quad: expected 4 (x, y) points, got {quad!r}") from None
    if q.shape != (4, 2):
        raise InvalidArgumentError(f"quad: expected shape (4, 2) (top-left, top-right, bottom-right, bottom-left), got {q.shape}")
    if not np.all(np.isfinite(q)):
        raise InvalidArgumentError(f"quad: points must be finite, got {q.tolist()}")
    if np.abs(q).max() > QUAD_LIMIT:
        raise InvalidArgumentError(
            f"quad: coordinates must be within +-{QUAD_LIMIT} pixels (1/32-pixel fixed point in 32 bits), got {q.tolist()}"
        )
    # Work relative to the quad's own position and size (no overflow, no dependence on the origin).
    centred = q - q.mean(axis=0)
    extent = float(np.abs(centred).max())
    if not (extent >= 1e-6 and math.isfinite(extent)):
        raise InvalidArgumentError(f"quad: degenerate quadrilateral (spans less than 1e-6 pixels) {q.tolist()}")
    unit = centred / extent
    edges = unit[_NEXT] - unit  # corner i+1 - corner i (np.roll by -1, without its overhead)
    nxt = edges[_NEXT]
    cross = edges[:, 0] * nxt[:, 1] - edges[:, 1] * nxt[:, 0]
    eps = 1e-9
    if np.any(cross <= eps):
        if np.all(cross < -eps):
            raise InvalidArgumentError(
                "quad: points are counter-clockwise; expected clockwise from top-left "
                "(top-left, top-right, bottom-right, bottom-left)"
            )
        raise InvalidArgumentError(f"quad: degenerate or non-convex quadrilateral {q.tolist()}")
    H, W = hw
    dst = np.array([[0, 0], [W, 0], [W, H], [0, H]], dtype=np.float64)
    # The homography dst (edge coords) -> quad (edge coords).
    with np.errstate(all="ignore"):
        try:
            M = homography(dst, q)
        except np.linalg.LinAlgError:
            raise InvalidArgumentError(f"quad: degenerate quadrilateral {q.tolist()}") from None
        shift = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
        unshift = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]])
        M = unshift @ M @ shift
    if not np.all(np.isfinite(M)):
        raise InvalidArgumentError(f"quad: degenerate quadrilateral {q.tolist()}")
    return M


def warp_options(cn: int, opts: dict[str, Any]) -> Options:
    """Validated options of warp_quad (the letterbox options less mode, align, scaleup; bilinear only)."""
    for key in ("mode", "align", "scaleup"):
        if key in opts:
            raise InvalidArgumentError(f"{key}: not an option of warp_quad")
    opts = dict(opts)
    if opts.pop("interpolation", "bilinear") != "bilinear":
        raise InvalidArgumentError("interpolation: warp_quad supports 'bilinear' only")
    return options_cached(cn, opts)


def warp_quad(image: np.ndarray, quad: Any, size: Any, *, out: np.ndarray | None = None, **opts: Any) -> np.ndarray:
    """Rectify a quadrilateral (e.g. a plate) into a ``size`` crop, normalized, in one pass.

    Perspective warp with bilinear sampling (OpenCV's 1/32-pixel fixed point)
    and a constant ``pad_value`` border, then the same value/dtype/layout
    options as :func:`letterbox` (``mode``, ``align``, ``scaleup`` and
    ``interpolation`` do not apply). The quad's top-left corner maps to the
    output's top-left corner, and so on clockwise.

    Returns:
        blob of shape (1, C, H, W) or (1, H, W, C).
    """
    o = warp_options(image_channels(image), opts)
    hw = parse_size(size)
    M = quad_matrix(quad, hw)
    shape = output_shape(1, o.out_channels, hw, o.layout)
    blob = _prepare_out(out, shape, o.dtype, [image])
    pad_u8 = [int(min(255, max(0, round(p)))) for p in o.pad_value]
    lane4, a4, b4, pad4 = o.core_args()
    _call_core(_core.warp, image, M.ravel().tolist(), blob, o.layout == "NHWC", o.out_channels, lane4, a4, b4, pad4,
               pad_u8 + [0] * (4 - len(pad_u8)), o.threads)
    return out if out is not None else blob


def kernel_info() -> dict[str, Any]:
    """The active SIMD level, the levels this CPU/build supports, and the hardware thread count."""
    return {
        "simd": _core.simd_level(),
        "supported": list(_core.supported_simd()),
        "threads": int(_core.hardware_threads()),
    }


@contextlib.contextmanager
def simd(level: str) -> Iterator[str]:
    """Temporarily force a SIMD level (``scalar``, ``sse41``, ``avx2``, ``neon``). Process-wide; for tests and benchmarks."""
    if level not in _core.supported_simd():
        raise InvalidArgumentError(f"level: {level!r} is not supported here; supported: {list(_core.supported_simd())}")
    prev = _core.set_simd_level(level)
    try:
        yield level
    finally:
        _core.set_simd_level(prev)
