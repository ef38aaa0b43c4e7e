"""Geometry helpers for placing a plate in a scene."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from edgevision.checks import is_int, is_real
from edgevision.errors import InvalidArgumentError


def _apply(H: np.ndarray, pts: np.ndarray) -> np.ndarray:
    p = np.c_[pts, np.ones(len(pts))] @ H.T
    return p[:, :2] / p[:, 2:3]


def _twice_area(c: np.ndarray) -> float:
    """Shoelace sum: positive for clockwise order on the image (y down)."""
    return float(np.sum(c[:, 0] * np.roll(c[:, 1], -1) - np.roll(c[:, 0], -1) * c[:, 1]))


def _convex_clockwise(q: np.ndarray) -> bool:
    e = np.roll(q, -1, axis=0) - q
    n = np.roll(e, -1, axis=0)
    return bool(np.all(e[:, 0] * n[:, 1] - e[:, 1] * n[:, 0] > 1e-9))


def _index_map(H_cont: np.ndarray, x0: int = 0, y0: int = 0) -> np.ndarray:
    """``H_cont`` (continuous source -> continuous destination) as the pixel-index map
    OpenCV's warps use, for a destination region starting at pixel ``(x0, y0)``."""
    shift = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
    unshift = np.array([[1, 0, -0.5 - x0], [0, 1, -0.5 - y0], [0, 0, 1]])
    return unshift @ H_cont @ shift


def _as_pair(value: Any, name: str, lo: float, hi: float, *, integer: bool = False, what: str = "") -> tuple:
    """A number or a (min, max) pair inside [lo, hi]."""
    vals = (value, value) if isinstance(value, (int, float, np.integer, np.floating)) else value
    try:
        a, b = vals
        ok = all(is_real(v)
                 and math.isfinite(v) for v in (a, b))
    except (TypeError, ValueError):
        ok = False
    if not ok or (integer and (a != int(a) or b != int(b))) or not (lo <= a <= b <= hi) \
            or (name == "plate_width" and a <= 0):
        rng_text = f"(0, {hi:g}]" if name == "plate_width" else f"[{lo:g}, {hi:g}]"
        raise InvalidArgumentError(f"{name}: expected {'a whole number' if integer else 'a number'} or a (min, max) "
                                   f"pair with min <= max in {rng_text}{what}, got {value!r}")
    return (int(a), int(b)) if integer else (float(a), float(b))


def _number(value: Any, name: str, lo: float, hi: float, what: str = "") -> float:
    if not is_real(value) \
            or not math.isfinite(value) or not lo <= value <= hi:
        raise InvalidArgumentError(f"{name}: expected a number in [{lo:g}, {hi:g}]{what}, got {value!r}")
    return float(value)


def _whole(value: Any, name: str, lo: int = 0) -> int:
    if not is_int(value) or value < lo:
        raise InvalidArgumentError(f"{name}: expected a whole number >= {lo}, got {value!r}")
    return int(value)
