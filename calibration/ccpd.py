"""The CCPD file-name convention: every label of a CCPD image is in its file name.

Source: the CCPD repository README, section "Dataset Annotations"
(https://github.com/detectRecog/CCPD, Xu et al., ECCV 2018), and the names listed in
its ``split/*.txt`` files. A name such as::

    025-95_113-154&383_386&473-386&473_177&454_154&383_363&402-0_0_22_27_27_33_16-37-15.jpg

splits on ``-`` into seven fields:

1. ``area`` (``025``): plate area over image area, written as the decimal digits that
   follow ``0.`` (``025`` is 0.025, ``0359`` is 0.0359). The README only says "area
   ratio"; the decoding is ours, checked against the names in ``split/ccpd_blur.txt``,
   where it matches the bounding-box area over the 720x1160 image area.
2. ``tilt`` (``95_113``): horizontal and vertical tilt, whole degrees.
3. ``bbox`` (``154&383_386&473``): the top-left and bottom-right corners ``x&y``.
4. ``vertices``: the plate's four corners ``x&y``. The README says they "start from
   the right-bottom vertex"; the example and the split lists show the order
   bottom-right, bottom-left, top-left, top-right (BR, BL, TL, TR), i.e. clockwise
   on the image (y down). :func:`parse_ccpd_name` re-orders them to the project's
   convention, clockwise from top-left (TL, TR, BR, BL).
5. ``plate`` (``0_0_22_27_27_33_16``): character indices: the province into
   :data:`PROVINCES`, the second character into :data:`ALPHABETS`, the rest into
   :data:`ADS`. Seven characters for blue plates (CCPD2019), eight for the green
   new-energy plates of CCPD2020 ("CCPD-Green").
6. ``brightness`` and 7. ``blur``: whole numbers (the README gives no unit).

Coordinates are pixels ``(x, y)`` of the full image as CCPD writes them: whole,
non-negative numbers (a minus sign would be a field separator), no half-pixel shift.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from edgevision.checks import is_int, is_real
from edgevision.errors import InvalidArgumentError

from .errors import CCPDNameError
from .plate_alphabet import ADS, ALPHABETS, PROVINCES  # re-exported: calibration.ccpd.ADS etc. keep working

__all__ = [
    "PROVINCES",
    "ALPHABETS",
    "ADS",
    "CCPD_FIELDS",
    "CCPDLabel",
    "parse_ccpd_name",
    "format_ccpd_name",
    "plate_type_for_length",
]

#: The seven fields of a CCPD name, in order (the ``field`` of a :class:`CCPDNameError`).
CCPD_FIELDS: tuple[str, ...] = ("area", "tilt", "bbox", "vertices", "plate", "brightness", "blur")

#: Plate type by number of characters: blue plates have 7, green new-energy plates 8.
_PLATE_TYPES = {7: "blue", 8: "green"}

# CCPD vertex order is BR, BL, TL, TR (README: "start from the right-bottom vertex"; the
# order of the other three is read off the README example and split/*.txt, where it is
# clockwise on the image). This picks TL, TR, BR, BL out of it, and is its own inverse
# (applied to TL, TR, BR, BL it gives BR, BL, TL, TR).
_CCPD_TO_TLTRBRBL = (2, 3, 0, 1)

_DIGITS = re.compile(r"[0-9]+")


def _table(pos: int) -> tuple[tuple[str, ...], str]:
    """The character list (and its name) for plate character ``pos`` (0-based)."""
    return (PROVINCES, "PROVINCES") if pos == 0 else (ALPHABETS, "ALPHABETS") if pos == 1 else (ADS, "ADS")


def plate_type_for_length(n: int) -> str:
    """``'blue'`` for a 7-character CCPD plate, ``'green'`` for an 8-character one."""
    try:
        return _PLATE_TYPES[n]
    except KeyError:
        raise InvalidArgumentError(f"plate length {n}: expected 7 (blue) or 8 (green new-energy) characters") from None


def as_corners(value: Any, name: str = "corners") -> np.ndarray:
    """4 plate corners as a read-only (4, 2) float64 array of (x, y) pixels, clockwise from top-left."""
    corners = np.array(value, dtype=np.float64)
    if corners.shape != (4, 2):
        raise InvalidArgumentError(
            f"{name}: expected 4 (x, y) points clockwise from top-left, shape (4, 2); got shape {corners.shape}")
    corners.setflags(write=False)
    return corners


@dataclass(frozen=True, eq=False)
class CCPDLabel:
    """The labels encoded in one CCPD file name.

    Attributes:
        corners: ``(4, 2)`` float64 array (read-only) of the plate's corners, pixels
            ``(x, y)``, clockwise from top-left (TL, TR, BR, BL).
        bbox: ``(x1, y1, x2, y2)``: top-left and bottom-right corners, whole pixels.
        text: the plate characters (7 or 8), e.g. ``"皖AY339S"``.
        tilt: ``(horizontal, vertical)`` tilt, whole degrees.
        area: plate area over image area, a fraction in ``[0, 1)`` (``0.025`` for ``025``).
        brightness: CCPD's brightness of the plate region (whole number, no unit given).
        blur: CCPD's blurriness of the plate region (whole number, no unit given).
        plate_type: ``'blue'`` (7 characters) or ``'green'`` (8); derived from
            ``text`` when left ``None``.

    Labels compare equal when every field is equal (``corners`` element-wise).
    """

    corners: np.ndarray
    bbox: tuple[int, int, int, int]
    text: str
    tilt: tuple[int, int]
    area: float
    brightness: int
    blur: int
    plate_type: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "corners", as_corners(self.corners))
        object.__setattr__(self, "bbox", tuple(self.bbox))
        object.__setattr__(self, "tilt", tuple(self.tilt))
        if len(self.bbox) != 4:
            raise InvalidArgumentError(f"bbox: expected (x1, y1, x2, y2), got {len(self.bbox)} values")
        if len(self.tilt) != 2:
            raise InvalidArgumentError(f"tilt: expected (horizontal, vertical) degrees, got {len(self.tilt)} values")
        if not isinstance(self.text, str) or len(self.text) not in _PLATE_TYPES:
            raise InvalidArgumentError(
                f"text: expected a string of 7 (blue) or 8 (green new-energy) characters, got {self.text!r}")
        expected = _PLATE_TYPES[len(self.text)]
        if self.plate_type is None:
            object.__setattr__(self, "plate_type", expected)
        elif self.plate_type != expected:
            raise InvalidArgumentError(
                f"plate_type: {self.plate_type!r} contradicts text {self.text!r} of {len(self.text)} characters "
                f"(expected {expected!r})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CCPDLabel):
            return NotImplemented
        return (np.array_equal(self.corners, other.corners) and self.bbox == other.bbox and self.text == other.text
                and self.tilt == other.tilt and self.area == other.area and self.brightness == other.brightness
                and self.blur == other.blur and self.plate_type == other.plate_type)

    __hash__ = None  # type: ignore[assignment]  # holds an array

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serializable data (corners as nested lists, TL, TR, BR, BL)."""
        return {
            "corners": self.corners.tolist(), "bbox": list(self.bbox), "text": self.text,
            "plate_type": self.plate_type, "tilt": list(self.tilt), "area": self.area,
            "brightness": self.brightness, "blur": self.blur,
        }


def _error(name: str, field: str, value: str, detail: str) -> CCPDNameError:
    if field in CCPD_FIELDS:
        where = f"field {CCPD_FIELDS.index(field) + 1} of 7 ({field})"
        message = f"{name}: malformed CCPD name, {where} {value!r}: {detail}"
    else:
        message = f"{name}: malformed CCPD name: {detail}"
    return CCPDNameError(message, name=name, field=field, detail=detail)


def _ints(name: str, field: str, text: str, sep: str, count: int, expected: str, whole: str | None = None) -> list[int]:
    """``count`` whole numbers separated by ``sep``; errors quote ``whole`` (default ``text``)."""
    parts = text.split(sep)
    if len(parts) != count or not all(_DIGITS.fullmatch(p) for p in parts):
        raise _error(name, field, text if whole is None else whole, f"expected {expected}")
    return [int(p) for p in parts]


def _points(name: str, field: str, text: str, count: int, expected: str) -> list[list[int]]:
    parts = text.split("_")
    if len(parts) != count:
        raise _error(name, field, text, f"expected {expected} ({count} points), got {len(parts)} points")
    return [_ints(name, field, p, "&", 2, expected, whole=text) for p in parts]


def parse_ccpd_name(name: str | os.PathLike[str]) -> CCPDLabel:
    """Parse a CCPD file name (a bare name or a path; the extension is optional).

    Returns a :class:`CCPDLabel` whose ``corners`` are re-ordered from CCPD's BR, BL,
    TL, TR to the project's clockwise-from-top-left order (TL, TR, BR, BL), in pixels
    ``(x, y)``. Raises :class:`~calibration.errors.CCPDNameError` naming the file and
    the malformed field: a field that is not made of whole non-negative numbers in the
    expected shape, a bounding box with ``x1 > x2`` or ``y1 > y2``, a plate that is not
    7 or 8 characters, or a character index outside its list.
    """
    base = os.path.basename(os.fspath(name))
    stem = os.path.splitext(base)[0]
    fields = stem.split("-")
    if len(fields) != 7:
        raise _error(base, "fields", stem,
                     f"expected 7 '-'-separated fields ({'-'.join(CCPD_FIELDS)}), got {len(fields)}")
    area_s, tilt_s, bbox_s, vert_s, plate_s, bright_s, blur_s = fields

    if not _DIGITS.fullmatch(area_s):
        raise _error(base, "area", area_s, "expected decimal digits (the area ratio without its '0.')")
    area = float("0." + area_s)
    tilt = _ints(base, "tilt", tilt_s, "_", 2, "'horizontal_vertical' whole degrees")
    (x1, y1), (x2, y2) = _points(base, "bbox", bbox_s, 2, "'x1&y1_x2&y2' in whole pixels")
    if x1 > x2 or y1 > y2:
        raise _error(base, "bbox", bbox_s,
                     "expected the top-left corner before the bottom-right one (x1 <= x2, y1 <= y2)")
    vertices = _points(base, "vertices", vert_s, 4, "'x&y' x 4 in whole pixels, from bottom-right, clockwise")
    indices = _ints(base, "plate", plate_s, "_", plate_s.count("_") + 1, "'_'-separated character indices")
    if len(indices) not in _PLATE_TYPES:
        raise _error(base, "plate", plate_s,
                     f"expected 7 (blue) or 8 (green new-energy) character indices, got {len(indices)}")
    chars = []
    for pos, index in enumerate(indices):
        table, table_name = _table(pos)
        if index >= len(table):
            raise _error(base, "plate", plate_s, f"character {pos + 1} has index {index}, out of range for "
                         f"{table_name} ({len(table)} entries, 0..{len(table) - 1})")
        chars.append(table[index])
    brightness = _ints(base, "brightness", bright_s, "_", 1, "a whole number")[0]
    blur = _ints(base, "blur", blur_s, "_", 1, "a whole number")[0]

    corners = np.asarray(vertices, dtype=np.float64)[list(_CCPD_TO_TLTRBRBL)]
    return CCPDLabel(corners=corners, bbox=(x1, y1, x2, y2), text="".join(chars), tilt=(tilt[0], tilt[1]),
                     area=area, brightness=brightness, blur=blur)


def _whole(what: str, value: Any) -> int:
    """A non-negative whole number, or an error naming ``what``."""
    if not is_int(value) or value < 0:
        raise InvalidArgumentError(f"{what}: expected a non-negative whole number, got {value!r}")
    return int(value)


def _pixels(what: str, values: Any) -> list[int]:
    """Round pixel coordinates to whole pixels; they must be finite and non-negative."""
    arr = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise InvalidArgumentError(f"{what}: expected finite pixel coordinates, got {arr.tolist()}")
    rounded = np.rint(arr)
    if np.any(rounded < 0):
        raise InvalidArgumentError(
            f"{what}: expected non-negative pixel coordinates (CCPD names cannot hold a minus sign), "
            f"got {arr.tolist()}")
    return [int(v) for v in rounded.ravel()]


def _area_digits(area: Any) -> str:
    if not is_real(area) \
            or not 0 <= float(area) < 1:
        raise InvalidArgumentError(f"label.area: expected a fraction in [0, 1), got {area!r}")
    text = format(Decimal(repr(float(area))), "f")  # shortest exact decimal, never exponent notation
    digits = text.split(".", 1)[1] if "." in text else ""
    return digits.ljust(3, "0")  # CCPD writes at least three digits


def format_ccpd_name(label: CCPDLabel, *, extension: str = ".jpg") -> str:
    """The CCPD file name of ``label`` (the inverse of :func:`parse_ccpd_name`).

    ``corners`` (TL, TR, BR, BL) are written in CCPD's order (BR, BL, TL, TR).
    Coordinates are rounded to the nearest whole pixel, since CCPD names hold whole
    pixels; ``area`` is written as its shortest decimal digits after ``0.``, at least
    three (0.025 becomes ``025``; a name written ``0080`` comes back as ``008``, the
    same value). ``extension`` is appended as given (``""`` for none).

    ``parse_ccpd_name(format_ccpd_name(label)) == label`` for every label with whole
    pixel coordinates. Raises :class:`~edgevision.errors.InvalidArgumentError` naming
    the field when the label cannot be written: a character outside the CCPD lists
    for its position, a negative or non-finite coordinate, a tilt, brightness or blur
    that is not a non-negative whole number, an area outside ``[0, 1)``.
    """
    text = label.text
    indices = []
    for pos, ch in enumerate(text):
        table, table_name = _table(pos)
        if ch not in table:
            raise InvalidArgumentError(f"label.text: character {pos + 1} {ch!r} of {text!r} is not in {table_name}")
        indices.append(table.index(ch))
    corners = np.asarray(label.corners, dtype=np.float64)[list(_CCPD_TO_TLTRBRBL)]
    c = _pixels("label.corners", corners)
    b = _pixels("label.bbox", label.bbox)
    if b[0] > b[2] or b[1] > b[3]:
        raise InvalidArgumentError(
            f"label.bbox: expected (x1, y1, x2, y2) with x1 <= x2 and y1 <= y2, got {label.bbox}")
    tilt = [_whole("label.tilt", t) for t in label.tilt]
    fields = [
        _area_digits(label.area),
        f"{tilt[0]}_{tilt[1]}",
        f"{b[0]}&{b[1]}_{b[2]}&{b[3]}",
        "_".join(f"{c[2 * i]}&{c[2 * i + 1]}" for i in range(4)),
        "_".join(str(i) for i in indices),
        str(_whole("label.brightness", label.brightness)),
        str(_whole("label.blur", label.blur)),
    ]
    return "-".join(fields) + extension
