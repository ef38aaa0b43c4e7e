"""Readers for the real plate photographs in ``../shared/data/real/`` (see its ``SOURCES.md``).

Each reader takes a set's folder (the one holding ``labels.tsv``) and returns a
:class:`~calibration.readers.ReadResult`: the usable :class:`~calibration.readers.Sample` s,
in file order, and a :class:`~calibration.readers.ReadReport` that counts everything else
with the issue kinds of :mod:`calibration.readers` (``malformed_line``, ``missing_image``,
``unreadable_image`` with ``check_images=True``), so nothing is dropped silently. A folder
without ``labels.tsv`` raises :class:`~calibration.errors.DatasetNotFoundError`; a file with
no usable line raises :class:`~calibration.errors.EmptyDatasetError`.

Conventions, as everywhere in :mod:`calibration`: coordinates are pixels ``(x, y)`` of the
full image (y down); ``corners`` are ``(4, 2)`` float64, clockwise from the plate's
top-left (TL, TR, BR, BL); ``bbox`` is ``(x1, y1, x2, y2)``.

``labels.tsv``: UTF-8, tab-separated, one plate a line; lines starting with ``#`` (the
header) and blank lines are not entries. Image paths are relative to the set's folder.

The sets and their terms (``SOURCES.md`` is the authority):

* ``crops/`` (:func:`read_real_crops`): 902 tight plate crops, 136x36
  (``#path  text  split  color_est``). **Evaluation only**: no licence is granted, so it
  must never be trained on, nor copied into the project. Samples have ``corners=None``
  (the crop is read whole). ``plate_type`` comes from the source's *estimated* colour
  (:data:`CROP_PLATE_TYPES`): ``blue``, ``yellow``; ``white/black`` (the estimator could
  not tell; by eye most are dark, washed-out blue plates) becomes its own type,
  ``white_black``. The ``split`` column (the source repository's train/valid) is not
  used: the whole set is evaluation data.
* ``ccpd/`` (:func:`read_real_ccpd`): CCPD scenes, 720x1160, MIT (train and evaluate
  freely) (``#path  text  TL  TR  BR  BL  bbox_x1y1x2y2  color  from``, points
  ``x,y``). ``plate_type`` is the ``color`` column (``blue``, ``green``; ``white/black``
  becomes ``white_black`` as for crops).
* ``easypr/`` (:func:`read_easypr`): EasyPR ``general_test`` scenes
  (``#path  text  plate_kind  cx,cy,w,h  rotation_deg  locateType``), GDSL v0.1:
  non-commercial use of the images; models trained on them and plate-only crops are
  outside its restrictions; keep ``GDSL.txt`` with any copy of the images (none may be
  copied into this repository). A scene may hold several plates (one line each). The
  label is a rotated rectangle (OpenCV ``RotatedRect``), turned into corners by
  :func:`rotated_rect_corners`: a fair stand-in for rectifying a crop, not a
  corner-accuracy ground truth. ``plate_kind`` 蓝牌 -> ``blue``, 黄牌 -> ``yellow``
  (:data:`EASYPR_PLATE_TYPES`); any other kind is kept as written.

The EasyPR split (fixed; do not change it): a plate is in ``"test"`` iff
``zlib.crc32(text.encode("utf-8")) % EASYPR_TEST_MODULUS == 0`` (:func:`easypr_split`),
else in ``"train"``. It goes by the plate's text, so a plate photographed twice stays on
one side. The test part is never trained on; a scene can hold plates of both parts, so
train on crops of train plates, never on whole scenes that hold a test plate.
"""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgevision.checks import is_real
from edgevision.errors import InvalidArgumentError

from .errors import DatasetNotFoundError
from .readers import DUPLICATE_LINE, MALFORMED_LINE, Issue, ReadReport, ReadResult, Sample, _finish, _image_ok, _require, clockwise

__all__ = [
    "CROP_PLATE_TYPES",
    "CCPD_PLATE_TYPES",
    "EASYPR_PLATE_TYPES",
    "EASYPR_SPLITS",
    "EASYPR_TEST_MODULUS",
    "LABELS_FILE",
    "REAL_DATA_ENV",
    "REAL_ROOT_DEFAULT",
    "easypr_split",
    "read_easypr",
    "read_real_ccpd",
    "read_real_crops",
    "real_root",
    "rotated_rect_corners",
]

#: The labels file of every real set, in the set's folder.
LABELS_FILE = "labels.tsv"

#: The environment variable that overrides :data:`REAL_ROOT_DEFAULT`.
REAL_DATA_ENV = "EDGEVISION_REAL_DATA"

#: Where the real sets live by default: ``../shared/data/real`` from the repository root
#: (the folder above the ``calibration`` package). :func:`real_root` checks that it exists.
REAL_ROOT_DEFAULT: Path = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "real"

#: ``color_est`` of ``crops/labels.tsv`` -> ``plate_type`` (other values: kept, ``/`` -> ``_``).
CROP_PLATE_TYPES: dict[str, str] = {"blue": "blue", "yellow": "yellow", "white/black": "white_black"}

#: ``color`` of ``ccpd/labels.tsv`` -> ``plate_type`` (other values: kept, ``/`` -> ``_``).
CCPD_PLATE_TYPES: dict[str, str] = {"blue": "blue", "green": "green", "white/black": "white_black"}

#: ``plate_kind`` of ``easypr/labels.tsv`` -> ``plate_type`` (other kinds: kept as written).
EASYPR_PLATE_TYPES: dict[str, str] = {"蓝牌": "blue", "黄牌": "yellow"}

#: A plate is in the EasyPR test split iff ``crc32(text) % EASYPR_TEST_MODULUS == 0`` (about 1 in 5).
EASYPR_TEST_MODULUS = 5

#: ``split`` values of :func:`read_easypr`.
EASYPR_SPLITS = ("train", "test", "all")


# ---------------------------------------------------------------------------
# Where the data is


def real_root(path: str | os.PathLike[str] | None = None) -> Path:
    """The folder holding the real sets (``crops/``, ``ccpd/``, ``easypr/``...).

    ``path`` if given, else ``$EDGEVISION_REAL_DATA`` if set, else
    :data:`REAL_ROOT_DEFAULT`. Raises :class:`~calibration.errors.DatasetNotFoundError`
    when that folder does not exist.
    """
    if path is not None:
        root, how = Path(path), "the path given"
    elif os.environ.get(REAL_DATA_ENV):
        root, how = Path(os.environ[REAL_DATA_ENV]), f"${REAL_DATA_ENV}"
    else:
        root, how = REAL_ROOT_DEFAULT, f"the default (../shared/data/real from the repository; set ${REAL_DATA_ENV} " \
                                       "to read it elsewhere)"
    if not root.is_dir():
        raise DatasetNotFoundError(
            f"real data: {str(root)!r} ({how}) is not a folder; expected the folder of the real plate sets "
            "(crops/, ccpd/, easypr/ with their labels.tsv and SOURCES.md)", path=str(root))
    return root


# ---------------------------------------------------------------------------
# Geometry and the EasyPR split


def rotated_rect_corners(cx: float, cy: float, w: float, h: float, degrees: float) -> np.ndarray:
    """The corners of an OpenCV ``RotatedRect`` as the plate's TL, TR, BR, BL.

    ``(cx, cy)`` is the centre, ``w``/``h`` the side lengths and ``degrees`` the rotation
    of the ``w`` side from the x axis, clockwise on the image (y down): the convention of
    ``cv2.boxPoints``, whose 4 points these are, in another order.

    The order is the plate's own: a plate is wider than tall, so the longer side is taken
    as its width (``w`` and ``h`` swap, with 90 degrees more, when ``h > w``: OpenCV's
    ``minAreaRect`` often reports a plate that way), and the rotation is folded into
    ``(-90, 90]`` so that the text is never upside down. TL is then where the text starts.
    For small angles that is the image's top-left, top-right, bottom-right, bottom-left;
    at exactly 90 degrees the text runs downwards (TL is the top-right point on the
    image). The result is clockwise on the image: ``(4, 2)`` float64 pixels.
    """
    vals = [cx, cy, w, h, degrees]
    if not all(is_real(v)
               and math.isfinite(v) for v in vals):
        raise InvalidArgumentError(f"cx, cy, w, h, degrees: expected finite numbers, got {vals!r}")
    if not (w > 0 and h > 0):
        raise InvalidArgumentError(f"w, h: expected positive side lengths (pixels), got {w!r}, {h!r}")
    w, h, a = float(w), float(h), float(degrees)
    if h > w:
        w, h, a = h, w, a + 90.0
    a = math.remainder(a, 180.0)  # in [-90, 90]
    if a == -90.0:
        a = 90.0
    t = math.radians(a)
    rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    local = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2.0
    return local @ rot.T + np.array([cx, cy], dtype=np.float64)


def easypr_split(text: str) -> str:
    """The EasyPR split of a plate: ``"test"`` iff ``zlib.crc32(text.encode("utf-8")) %
    EASYPR_TEST_MODULUS == 0``, else ``"train"``.

    The rule is fixed: the test part is held out and never trained on, so that the
    figures measured on it stay comparable. It goes by the plate text alone.
    """
    if not isinstance(text, str) or not text:
        raise InvalidArgumentError(f"text: expected a non-empty plate text, got {text!r}")
    return "test" if zlib.crc32(text.encode("utf-8")) % EASYPR_TEST_MODULUS == 0 else "train"


# ---------------------------------------------------------------------------
# labels.tsv


class _LineError(ValueError):
    pass


def _numbers(field: str, name: str, count: int) -> list[float]:
    """``count`` comma-separated finite numbers."""
    parts = field.split(",")
    try:
        vals = [float(p) for p in parts]
    except ValueError:
        vals = []
    if len(vals) != count or not all(math.isfinite(v) for v in vals):
        raise _LineError(f"{name}: expected {count} comma-separated numbers, got {field!r}")
    return vals


def _type(value: str, table: dict[str, str]) -> str | None:
    value = value.strip()
    return table.get(value, value.replace("/", "_")) if value else None


def _read_tsv(root: str | os.PathLike[str], kind: str, columns: tuple[str, ...],
              parse: Callable[[list[str], Path], Sample | None], check_images: bool,
              max_examples: int) -> ReadResult:
    """The shared loop: ``parse(fields, folder)`` makes a line's sample (``None``: the line is
    not asked for, e.g. another split, and is not an entry) or raises _LineError."""
    folder = _require(root, "dir")
    src = folder / LABELS_FILE
    if not src.is_file():
        raise DatasetNotFoundError(f"root: {str(folder)!r} has no {LABELS_FILE} (expected a real set's folder, "
                                   f"with columns {' '.join(columns)})", path=str(src))
    report = ReadReport(src, kind, images_checked=check_images, max_examples=max_examples)
    samples = []
    seen: dict[str, tuple[int, bool]] = {}  # a label line -> (its first line number, an entry here)
    with open(src, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8").rstrip("\r\n")
            except UnicodeDecodeError as e:
                report.entries += 1
                report.add(Issue(MALFORMED_LINE, str(src), f"not UTF-8 ({e.reason} at byte {e.start})", lineno))
                continue
            if line.startswith("#"):
                continue
            if line in seen:  # the same plate labelled twice: a sample once, each copy reported
                first, counted = seen[line]
                if counted:  # (a copy of a line of another split is not this report's entry either)
                    report.entries += 1
                    report.add(Issue(DUPLICATE_LINE, str(src), f"repeats line {first}", lineno))
                continue
            seen[line] = (lineno, True)
            fields = line.split("\t")
            try:
                if len(fields) != len(columns):
                    raise _LineError(f"expected {len(columns)} tab-separated fields ({' '.join(columns)}), "
                                     f"got {len(fields)}")
                if not fields[0].strip():
                    raise _LineError("path: empty")
                if not fields[1].strip() or fields[1] != fields[1].strip():
                    raise _LineError(f"text: expected the plate text without spaces, got {fields[1]!r}")
                sample = parse(fields, folder)
            except _LineError as e:
                report.entries += 1
                report.add(Issue(MALFORMED_LINE, str(src), str(e), lineno))
                continue
            except InvalidArgumentError as e:  # Sample's own checks
                report.entries += 1
                report.add(Issue(MALFORMED_LINE, str(src), str(e), lineno))
                continue
            if sample is None:
                seen[line] = (lineno, False)
                continue
            report.entries += 1
            if _image_ok(sample.image_path, report, check_images, lineno):
                samples.append(sample)
    return _finish(samples, report, "" if report.entries else f"{LABELS_FILE} has no label line.")


# ---------------------------------------------------------------------------
# Readers

_CROPS_COLUMNS = ("path", "text", "split", "color_est")
_CCPD_COLUMNS = ("path", "text", "TL", "TR", "BR", "BL", "bbox_x1y1x2y2", "color", "from")
_EASYPR_COLUMNS = ("path", "text", "plate_kind", "cx,cy,w,h", "rotation_deg", "locateType")


def read_real_crops(root: str | os.PathLike[str], *, check_images: bool = False,
                    max_examples: int = 5) -> ReadResult:
    """The real plate crops of ``root/labels.tsv`` (``crops/``: **evaluation only**).

    Samples: ``corners=None`` (each crop is read whole), ``text``, ``plate_type`` from
    ``color_est`` (:data:`CROP_PLATE_TYPES`). Malformed lines and missing (or, with
    ``check_images=True``, undecodable) images are counted in the report.
    """
    def parse(f: list[str], folder: Path) -> Sample:
        return Sample(folder / f[0], None, f[1], _type(f[3], CROP_PLATE_TYPES))

    return _read_tsv(root, "real_crops", _CROPS_COLUMNS, parse, check_images, max_examples)


def read_real_ccpd(root: str | os.PathLike[str], *, check_images: bool = False,
                   max_examples: int = 5) -> ReadResult:
    """The CCPD scenes of ``root/labels.tsv`` (``ccpd/``, MIT).

    Samples: ``corners`` (TL, TR, BR, BL pixels from the four ``x,y`` columns; they must
    run clockwise), ``bbox``, ``text``, ``plate_type`` from ``color``
    (:data:`CCPD_PLATE_TYPES`). Problems are counted as in :func:`read_real_crops`.
    """
    def parse(f: list[str], folder: Path) -> Sample:
        corners = [_numbers(f[i], _CCPD_COLUMNS[i], 2) for i in range(2, 6)]
        if not clockwise(corners):
            raise _LineError("TL TR BR BL: not clockwise on the image (signed area <= 0 with y down)")
        bbox = _numbers(f[6], "bbox_x1y1x2y2", 4)
        if bbox[0] > bbox[2] or bbox[1] > bbox[3]:
            raise _LineError(f"bbox_x1y1x2y2: expected x1 <= x2 and y1 <= y2, got {f[6]!r}")
        return Sample(folder / f[0], corners, f[1], _type(f[7], CCPD_PLATE_TYPES), bbox)

    return _read_tsv(root, "real_ccpd", _CCPD_COLUMNS, parse, check_images, max_examples)


def read_easypr(root: str | os.PathLike[str], split: str = "all", *, check_images: bool = False,
                max_examples: int = 5) -> ReadResult:
    """The EasyPR plates of ``root/labels.tsv`` (``easypr/``, GDSL: see the module docs).

    Args:
        split: ``"train"``, ``"test"`` (the held-out plates, :func:`easypr_split`, never
            trained on) or ``"all"``. Lines of the other split are not entries of the report;
            malformed lines count whatever the split.

    Samples, one per plate (a scene with several plates gives several samples of one
    image): ``corners`` from the rotated rectangle (:func:`rotated_rect_corners`), ``bbox``
    around them, ``text``, ``plate_type`` from ``plate_kind`` (:data:`EASYPR_PLATE_TYPES`).
    Labels that name absent images are counted as ``missing_image``; with
    ``check_images=True`` an image OpenCV cannot decode is counted as ``unreadable_image``.
    """
    if split not in EASYPR_SPLITS:
        raise InvalidArgumentError(f"split: expected one of {', '.join(EASYPR_SPLITS)}, got {split!r}")

    def parse(f: list[str], folder: Path) -> Sample | None:
        cx, cy, w, h = _numbers(f[3], "cx,cy,w,h", 4)
        (deg,) = _numbers(f[4], "rotation_deg", 1)
        if not (w > 0 and h > 0):
            raise _LineError(f"cx,cy,w,h: expected positive w and h, got {f[3]!r}")
        if split != "all" and easypr_split(f[1]) != split:
            return None
        corners = rotated_rect_corners(cx, cy, w, h, deg)
        bbox = (*corners.min(axis=0), *corners.max(axis=0))
        return Sample(folder / f[0], corners, f[1], EASYPR_PLATE_TYPES.get(f[2], f[2] or None), bbox)

    return _read_tsv(root, "easypr", _EASYPR_COLUMNS, parse, check_images, max_examples)
