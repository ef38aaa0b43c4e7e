"""Plate types, sizes and characters, and the layouts (millimetres; GA 36-2018 with rounded values)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgevision.errors import InvalidArgumentError, InvalidTypeError

from ..plate_alphabet import ADS, ALPHABETS, PROVINCES


#: Seed of the training stream (``PlateSceneGenerator(TRAIN_SEED)``).
TRAIN_SEED = 0
#: Seed of the fixed held-out set every metric in the project is reported on.
HELDOUT_SEED = 1_000_003
#: Size of the held-out set: indices ``0 .. HELDOUT_COUNT - 1`` of ``HELDOUT_SEED``.
HELDOUT_COUNT = 500

#: Plate types, in a fixed order.
PLATE_TYPES: tuple[str, ...] = ("blue", "yellow", "green", "yellow_double")
#: Outer size of each plate type, ``(width, height)`` in millimetres (GA 36-2018).
PLATE_SIZES_MM: dict[str, tuple[int, int]] = {
    "blue": (440, 140), "yellow": (440, 140), "green": (480, 140), "yellow_double": (440, 220)}
#: Number of characters of each plate type.
PLATE_LENGTHS: dict[str, int] = {"blue": 7, "yellow": 7, "green": 8, "yellow_double": 7}
#: Default mix of plate types (probabilities).
DEFAULT_PLATE_WEIGHTS: dict[str, float] = {"blue": 0.45, "yellow": 0.2, "green": 0.25, "yellow_double": 0.1}

_PROVINCES = "".join(PROVINCES[:31])  # the 31 real provinces (no 警/学, never CCPD's "O" placeholder)
_LETTERS = "".join(ALPHABETS[:24])  # A..Z without I and O
_ADS = "".join(ADS[:34])  # letters then digits
_DIGITS = "0123456789"
#: Every character the generator can emit: 31 provinces, 24 letters, 10 digits (65).
PLATE_CHARS: str = _PROVINCES + _ADS

# ---------------------------------------------------------------------------
# Plate layouts (millimetres; GA 36-2018 with rounded values)


@dataclass(frozen=True)
class _Layout:
    size: tuple[int, int]  # (width, height) mm
    boxes: tuple[tuple[float, float, float, float], ...]  # character cells (x, y, w, h) mm
    dot: tuple[float, float, float] | None  # separator dot (cx, cy, radius) mm
    rivet_rows: tuple[float, ...]  # rivet centre y (mm): top row [, bottom row]
    rivet_xs: tuple[float, float]  # rivet centres x (mm), left and right (jittered)


def _row(x0: float, y: float, w: float, h: float, gap: float, n: int) -> list[tuple[float, float, float, float]]:
    return [(x0 + k * (w + gap), y, w, h) for k in range(n)]


def _single_row(width: int, n: int, cw: float, gap: float, dot_gap: float) -> _Layout:
    total = n * cw + (n - 2) * gap + dot_gap
    x0 = (width - total) / 2
    first = _row(x0, 25.0, cw, 90.0, gap, 2)
    x2 = x0 + 2 * cw + dot_gap
    rest = _row(x2, 25.0, cw, 90.0, gap, n - 2)
    dot = (x0 + 2 * cw + dot_gap / 2, 70.0, 5.0)
    return _Layout((width, 140), tuple(first + rest), dot, (12.0, 128.0), (0.25 * width, 0.75 * width))


_LAYOUTS: dict[str, _Layout] = {
    # 45 x 90 mm characters, 12 mm apart, 34 mm between the 2nd and 3rd (with the 10 mm dot).
    "blue": _single_row(440, 7, 45.0, 12.0, 34.0),
    "yellow": _single_row(440, 7, 45.0, 12.0, 34.0),
    # New-energy: 43 x 90 mm characters, 9 mm apart, 49 mm between the 2nd and 3rd.
    "green": _single_row(480, 8, 43.0, 9.0, 49.0),
    # Double row: 2 characters 80 x 60 mm on top, 5 characters 65 x 110 mm below, 15 mm apart.
    "yellow_double": _Layout((440, 220), tuple([(110.0, 15.0, 80.0, 60.0), (250.0, 15.0, 80.0, 60.0)]
                                               + _row(27.5, 95.0, 65.0, 110.0, 15.0, 5)),
                             None, (45.0,), (55.0, 385.0)),
}

# Nominal colours, BGR.
_BLUE_BG = (175, 72, 12)
_YELLOW_BG = (8, 192, 246)
_GREEN_TOP = (236, 246, 232)
_GREEN_BOTTOM = (95, 196, 60)
_WHITE = (245, 245, 245)
_BLACK = (22, 22, 22)


def check_plate_text(text: Any, plate_type: str) -> str:
    """Validate ``text`` for ``plate_type``; return it. Raises
    :class:`~edgevision.errors.InvalidArgumentError` naming ``text`` (length, or the
    position and the characters allowed there) or ``plate_type``.

    Every type starts with a province (one of the 31) and a letter; then ``blue``,
    ``yellow`` and ``yellow_double`` take 5 letters or digits, ``green`` 6.
    """
    plate_type = _plate_type(plate_type)
    if not isinstance(text, str):
        raise InvalidTypeError(f"text: expected a str, got {type(text).__name__}")
    n = PLATE_LENGTHS[plate_type]
    if len(text) != n:
        raise InvalidArgumentError(f"text: a {plate_type!r} plate has {n} characters, got {len(text)} in {text!r}")
    for pos, ch in enumerate(text):
        allowed, what = ((_PROVINCES, "a province character") if pos == 0 else
                         (_LETTERS, "a letter A-Z without I and O") if pos == 1 else
                         (_ADS, "a letter (no I, O) or a digit"))
        if ch not in allowed:
            raise InvalidArgumentError(f"text: character {pos + 1} of {text!r} is {ch!r}; expected {what}")
    return text


def _plate_type(plate_type: Any) -> str:
    if plate_type not in PLATE_TYPES:
        raise InvalidArgumentError(f"plate_type: expected one of {', '.join(PLATE_TYPES)}, got {plate_type!r}")
    return plate_type


def random_plate_text(plate_type: str, rng: np.random.Generator) -> str:
    """A random, realistic text for ``plate_type``.

    Province (uniform over the 31) and letter, then: ``blue``/``yellow``/``yellow_double``
    5 characters, mostly digits with 0-3 letters; ``green`` either ``D``/``F``, a letter
    or digit and 4 digits (small new-energy cars, 75%) or 5 digits and ``D``/``F``
    (large ones).
    """
    plate_type = _plate_type(plate_type)
    head = _PROVINCES[rng.integers(31)] + _LETTERS[rng.integers(24)]
    if plate_type == "green":
        df = "DF"[rng.integers(2)]
        if rng.random() < 0.75:
            tail = df + _ADS[rng.integers(34)] + "".join(_DIGITS[d] for d in rng.integers(10, size=4))
        else:
            tail = "".join(_DIGITS[d] for d in rng.integers(10, size=5)) + df
        return head + tail
    n_letters = int(rng.choice(4, p=[0.35, 0.35, 0.2, 0.1]))
    chars = [_DIGITS[d] for d in rng.integers(10, size=5)]
    for pos in rng.choice(5, size=n_letters, replace=False):
        chars[int(pos)] = _LETTERS[rng.integers(24)]
    return head + "".join(chars)
