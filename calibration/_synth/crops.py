"""Rectified crops: the plate cut out of a scene by its corners."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from edgevision.errors import InvalidArgumentError

from .geometry import _convex_clockwise, _number


def plate_crop(image: np.ndarray, corners: Any, size: Sequence[int] = (64, 224), jitter: float = 0.0,
               rng: np.random.Generator | None = None) -> np.ndarray:
    """The plate at ``corners`` rectified to ``size`` with :func:`edgevision.warp_quad`.

    Args:
        image: uint8 BGR ``(H, W, 3)``.
        corners: ``(4, 2)`` pixels ``(x, y)``, clockwise from top-left (TL, TR, BR, BL).
        size: ``(height, width)`` of the crop, pixels.
        jitter: move each corner coordinate by up to ``jitter`` times the plate height
            (the mean of its left and right edges), uniformly, to train a reader that is
            robust to corner errors; in ``[0, 0.5]``. A jittered quad that is not convex
            is drawn again (up to 20 times, then the corners are used as given).
        rng: the random generator for ``jitter`` (default: a fresh, unseeded one).

    Returns:
        uint8 BGR ``(height, width, 3)``; outside the image the kernel's pad value (114).
    """
    import edgevision

    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        got = (f"{image.dtype} array of shape {image.shape}" if isinstance(image, np.ndarray)
               else type(image).__name__)
        raise InvalidArgumentError(f"image: expected a uint8 BGR array of shape (H, W, 3), got {got}")
    try:
        q = np.array(corners, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"corners: expected 4 (x, y) points, got {corners!r}") from None
    if q.shape != (4, 2) or not np.all(np.isfinite(q)):
        raise InvalidArgumentError(f"corners: expected 4 finite (x, y) points clockwise from top-left, shape (4, 2); "
                                   f"got {q.tolist() if q.size <= 16 else q.shape}")
    q = jitter_corners(q, jitter, rng)
    return edgevision.warp_quad(image, q, tuple(size), dtype="uint8", layout="NHWC")[0]


def jitter_corners(corners: Any, jitter: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """``(4, 2)`` corners each moved by up to ``jitter`` times the plate height (see :func:`plate_crop`).

    ``jitter`` in ``[0, 0.5]``; a jittered quad that is not convex and clockwise is
    drawn again (up to 20 times, then the corners are returned as given)."""
    q = np.array(corners, dtype=np.float64)
    jitter = _number(jitter, "jitter", 0.0, 0.5, " (a fraction of the plate height)")
    if jitter > 0:
        if rng is None:
            rng = np.random.default_rng()
        h = 0.5 * (np.linalg.norm(q[3] - q[0]) + np.linalg.norm(q[2] - q[1]))
        for _ in range(20):
            cand = q + rng.uniform(-jitter * h, jitter * h, q.shape)
            if _convex_clockwise(cand):
                return cand
    return q
