"""Private compiled kernel (csrc/bindings.cpp). Use edgevision.preprocess (and edgevision.decoders) instead.

Every function validates its buffers and raises ValueError/TypeError naming the
argument; none can crash the process. The GIL is released while pixels are processed.
"""

from typing import Sequence

import numpy as np

MAX_SIDE: int
"""Largest image or output side, pixels."""
ABI_VERSION: int

def resize(
    images: list[np.ndarray],
    placements: Sequence[tuple[int, int, int, int]],
    out: np.ndarray,
    nhwc: bool,
    channels: int,
    lane_src: Sequence[int],
    a: Sequence[float],
    b: Sequence[float],
    pad: Sequence[float],
    interpolation: str,
    threads: int,
) -> None:
    """Resize each uint8 image into its content rectangle (x0, y0, w, h) of out[i], pad the rest.

    out: C-contiguous (N, C, H, W) or (N, H, W, C) float32/float16/uint8, written in place.
    Output channel c reads source channel lane_src[c] (-1: zero); value = u8 * a[c] + b[c]
    (float32 multiply then add); pad[c] is already in output units. interpolation:
    'bilinear' (bit-exact cv2.INTER_LINEAR) or 'nearest' (pixel-centre).
    """

def warp(
    image: np.ndarray,
    matrix: Sequence[float],
    out: np.ndarray,
    nhwc: bool,
    channels: int,
    lane_src: Sequence[int],
    a: Sequence[float],
    b: Sequence[float],
    pad: Sequence[float],
    pad_u8: Sequence[int],
    threads: int,
) -> None:
    """Perspective warp: matrix (row-major 3x3) maps output index coords to source index coords.

    Bilinear sampling with OpenCV's 1/32-pixel fixed point; taps outside the image read
    pad_u8 (pixel units, per output channel); pixels entirely outside get pad.
    """

def ctc_beam(logp: np.ndarray, blank: int, width: int, prune: float) -> list[tuple[tuple[int, ...], float]]:
    """CTC prefix beam search (csrc/ctc_beam.cpp; the reference is edgevision.decoders._ctc_beam_reference,
    equal bit for bit): logp (T, C) log-probabilities (cast to float64; finite or -inf), the blank's class,
    the beam width (>= 1), and the log-probability under which a class is not extended. Returns the
    width most probable readings (classes, blanks removed, runs merged) with their log-probability, best first.
    """

def ctc_align(logp: np.ndarray, labels: list[int], blank: int) -> list[tuple[int, int]]:
    """The most probable CTC path of labels through logp (T, C) (csrc/ctc_beam.cpp; the reference is
    edgevision.decoders._ctc_align_reference, equal bit for bit): the (time step, class) at which each
    label's run starts on it, in order (empty when T == 0).
    """

def nms(boxes: np.ndarray, areas: np.ndarray, iou_threshold: float, max_det: int) -> np.ndarray:
    """Greedy NMS (csrc/nms.cpp; the reference is edgevision.decoders._greedy_nms_reference, equal in its
    decisions): boxes (n, 4) x1, y1, x2, y2 (cast to float64) already in visiting order and shifted by class,
    their areas (n,) computed before the shift, the IoU above which a kept box suppresses (0..1), and the
    most boxes kept (>= 1). Returns the kept positions (int64, into the ordered boxes), in order.
    """

def simd_level() -> str:
    """Active SIMD level: 'scalar', 'sse41', 'avx2' or 'neon'."""

def set_simd_level(name: str) -> str:
    """Sets the active level (must be supported); returns the previous one. Process-wide."""

def supported_simd() -> list[str]:
    """Levels this CPU and build support, scalar first."""

def hardware_threads() -> int:
    """Hardware threads available to the kernel's pool."""
