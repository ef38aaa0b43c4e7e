"""Readers and leak-free train / held-out splits of the real meter-digit sets (seed 001, stage 2).

Both sets live in ``../shared/data/real/meters/`` (``$EDGEVISION_REAL_DATA`` or ``real=``
names the ``real`` folder, as for :func:`calibration.real.real_root`); both are Apache-2.0
(see ``SOURCES.md`` there):

- :func:`drum_digits`: haverland's drum-digit crops (``drum_digits_haverland``), 32x20 px
  BGR, 10 per tenth of a step; the folder name is the drum position (``3.7`` = 70% of the
  way from 3 to 4). Split per folder: the 3 files of each folder whose
  ``zlib.crc32(file name)`` is smallest are held out (300 held out, 700 train). The
  ``train`` split divides further for choosing a recipe without the held-out files: the
  next 2 files of each folder in that order are ``validation`` (200), the rest ``fit`` (500).
  Caveat: the same physical drum (e.g. meter ``10``, ``dig6``) appears in many folders
  at different positions, and in one folder at different times; the split is per file,
  as the issue asks, not per drum.
- :func:`lcd_images`: PhilBrockman's seven-segment LCD photos (``lcd_digits_philbrockman``),
  YOLO labels ``cls cx cy w h`` (normalized), class ``k`` is digit ``(k + 1) % 10``; the
  reading is the digits sorted by ``cx``. Many images are Roboflow copies of one source
  (``<source>.rf.<hash>.jpg``) or successive video frames (``...take-N...``), so images
  are grouped before splitting (:func:`lcd_group_keys`): the source before ``.rf.``, the
  ``take-N`` frames in blocks of :data:`TAKE_BLOCK` whatever their prefix (``digittake``,
  ``screenytake``, ``save_dirrtake`` crops), and any two images of the same reading whose
  24x24 grey thumbnails correlate above :data:`NEAR_DUPLICATE_CORR` (union-find). A group is held
  out when ``zlib.crc32(key) % 10 < 3`` (its key: its smallest member key).

A real LCD *reading* is one row of digits of an upright photo (:func:`lcd_rows`); its stage-2
screen is the row's digit boxes grown by a margin (:func:`lcd_screen`).

Nothing here trains: :mod:`training.meter_digits` uses the ``train`` splits only, and the
benchmarks and model cards report the ``heldout`` ones.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .errors import DatasetNotFoundError

__all__ = ["DRUM_DIR", "LCD_DIR", "TAKE_BLOCK", "NEAR_DUPLICATE_CORR", "DrumDigit", "LCDImage", "meters_root",
           "drum_digits", "lcd_images", "lcd_group_keys", "lcd_screen", "lcd_rows", "upright", "LCDRow", "SPLITS",
           "DRUM_SPLITS"]

DRUM_DIR = "meters/drum_digits_haverland/datasets/meterdigits"
LCD_DIR = "meters/lcd_digits_philbrockman/Image Repo/labeled/Final Roboflow Export (841)"
#: Successive ``take-N`` video frames are kept together in blocks of this many frame numbers.
TAKE_BLOCK = 25
#: Two images whose 24x24 grey thumbnails correlate above this are near duplicates (one group).
NEAR_DUPLICATE_CORR = 0.97
SPLITS = ("train", "heldout", "all")
#: :func:`drum_digits` also takes these: ``train`` = ``fit`` + ``validation``.
DRUM_SPLITS = SPLITS + ("fit", "validation")
_HELDOUT_PER_FOLDER = 3
_VALIDATION_PER_FOLDER = 2
#: The parts of a drum folder (held out, validation, fit) each split takes.
_DRUM_PARTS = {"heldout": {"heldout"}, "validation": {"validation"}, "fit": {"fit"},
               "train": {"validation", "fit"}, "all": {"heldout", "validation", "fit"}}


@dataclass
class DrumDigit:
    """A real drum-digit crop: ``image`` (32, 20, 3) uint8 BGR, ``position`` in steps [0, 10), ``path``."""

    image: np.ndarray
    position: float
    path: str

    @property
    def digit(self) -> int:
        """The nearest whole digit (3.4 -> 3, 3.6 -> 4, 9.6 -> 0)."""
        from .meter_synth import nearest_digit

        return nearest_digit(self.position)


@dataclass
class LCDImage:
    """A real LCD photo: ``boxes`` (D, 4) float32 ``x0, y0, x1, y1`` px sorted by x, ``digits`` per box."""

    path: str
    boxes: np.ndarray
    digits: list[int]
    group: str = ""
    _image: np.ndarray | None = field(default=None, repr=False)

    @property
    def image(self) -> np.ndarray:
        """The photo, uint8 BGR (read on first use)."""
        if self._image is None:
            img = cv2.imread(self.path, cv2.IMREAD_COLOR)
            if img is None:
                raise DatasetNotFoundError(f"{self.path}: not a readable image")
            self._image = img
        return self._image

    @property
    def reading(self) -> str:
        """The digits sorted by box centre x."""
        return "".join(str(d) for d in self.digits)


def meters_root(real: str | Path | None = None) -> Path:
    """The ``real`` data folder that holds ``meters/`` (see :func:`calibration.real.real_root`)."""
    from .real import real_root

    root = Path(real_root(real))
    if not (root / "meters").is_dir():
        raise DatasetNotFoundError(f"{root}: no meters/ folder (expected {root / DRUM_DIR} and {root / LCD_DIR})")
    return root


def _check_split(split: str, allowed: tuple[str, ...] = SPLITS) -> str:
    if split not in allowed:
        raise ValueError(f"split: expected one of {allowed}, got {split!r}")
    return split


def drum_digits(split: str = "heldout", real: str | Path | None = None, *, directory: str | Path | None = None
                ) -> list[DrumDigit]:
    """Haverland's drum-digit crops of one split (``train``, ``heldout`` or ``all``; ``fit`` and
    ``validation`` divide ``train``), sorted by position then name.

    ``directory``: the folder of the ``<position>/`` subfolders (default: ``<real>/`` + :data:`DRUM_DIR`).
    """
    _check_split(split, DRUM_SPLITS)
    base = Path(directory) if directory is not None else meters_root(real) / DRUM_DIR
    if not base.is_dir():
        raise DatasetNotFoundError(f"{base}: no drum-digit folder")
    out = []
    for folder in sorted(base.iterdir(), key=lambda p: p.name):
        try:
            position = float(folder.name)
        except ValueError:
            continue
        files = sorted((f for f in folder.iterdir() if f.suffix.lower() in (".jpg", ".jpeg", ".png")),
                       key=lambda f: (zlib.crc32(f.name.encode("utf-8")), f.name))
        cut = _HELDOUT_PER_FOLDER + _VALIDATION_PER_FOLDER
        part = {f.name: ("heldout" if i < _HELDOUT_PER_FOLDER else "validation" if i < cut else "fit")
                for i, f in enumerate(files)}
        for f in sorted(files, key=lambda f: f.name):
            if part[f.name] not in _DRUM_PARTS[split]:
                continue
            img = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if img is None:
                continue
            out.append(DrumDigit(img, position, str(f)))
    return out


_TAKE = re.compile(r"take-(\d+)")


def _source_key(name: str) -> str:
    src = name.split(".rf.")[0]
    m = _TAKE.search(src)
    if m:
        return f"take-block-{int(m.group(1)) // TAKE_BLOCK}"
    return src


def _thumb(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    t = cv2.resize(img, (24, 24), interpolation=cv2.INTER_AREA).astype(np.float32).ravel()
    t -= t.mean()
    return t / (np.linalg.norm(t) + 1e-6)


def lcd_group_keys(paths: list[Path], readings: list[str]) -> list[str]:
    """The split group of every image: its source / take-block key, merged (union-find) over near
    duplicates: two images showing the same reading whose 24x24 grey thumbnails correlate above
    :data:`NEAR_DUPLICATE_CORR` (the same frame, copied or re-exported under another name)."""
    keys = [_source_key(p.name) for p in paths]
    parent = {k: k for k in keys}

    def find(k: str) -> str:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    thumbs = np.stack([_thumb(p) for p in paths])
    same = np.array(readings)[:, None] == np.array(readings)[None, :]
    ii, jj = np.nonzero(np.triu((thumbs @ thumbs.T > NEAR_DUPLICATE_CORR) & same, 1))
    for i, j in zip(ii, jj):
        union(keys[i], keys[j])
    return [find(k) for k in keys]


def lcd_images(split: str = "heldout", real: str | Path | None = None, *, directory: str | Path | None = None
               ) -> list[LCDImage]:
    """PhilBrockman's LCD photos of one split, sorted by file name, with boxes sorted by x.

    ``directory``: the folder holding ``images/`` and ``labels/`` (default: ``<real>/`` +
    :data:`LCD_DIR`). Images without a label file, without digit boxes or unreadable are skipped.
    """
    _check_split(split)
    base = Path(directory) if directory is not None else meters_root(real) / LCD_DIR
    if not (base / "images").is_dir():
        raise DatasetNotFoundError(f"{base}: no images/ folder")
    items, paths = [], []
    for p in sorted((base / "images").glob("*.jpg")):
        lab = base / "labels" / (p.stem + ".txt")
        if not lab.is_file():
            continue
        rows = [r.split() for r in lab.read_text().splitlines() if r.strip()]
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if not rows or img is None:
            continue
        h, w = img.shape[:2]
        a = np.array([[float(v) for v in r[1:5]] for r in rows], np.float32)
        boxes = np.stack([(a[:, 0] - a[:, 2] / 2) * w, (a[:, 1] - a[:, 3] / 2) * h,
                          (a[:, 0] + a[:, 2] / 2) * w, (a[:, 1] + a[:, 3] / 2) * h], 1)
        digits = [(int(r[0]) + 1) % 10 for r in rows]
        order = np.argsort(a[:, 0], kind="stable")
        items.append(LCDImage(str(p), boxes[order], [digits[i] for i in order], "", img))
        paths.append(p)
    if not items:
        return []
    groups = lcd_group_keys(paths, [it.reading for it in items])
    out = []
    for it, g in zip(items, groups):
        it.group = g
        held = zlib.crc32(g.encode("utf-8")) % 10 < 3
        if split == "all" or held == (split == "heldout"):
            out.append(it)
    return out


@dataclass
class LCDRow:
    """One row of digits of a real LCD photo: a stage-2 reading (``boxes`` sorted by x)."""

    item: LCDImage
    boxes: np.ndarray
    digits: list[int]

    @property
    def image(self) -> np.ndarray:
        return self.item.image

    @property
    def reading(self) -> str:
        return "".join(str(d) for d in self.digits)


def upright(item: LCDImage) -> bool:
    """Whether the photo's digits stand upright (median box height / width > 1.1); Roboflow's
    90-degree-rotated copies (train split only) do not, and have no left-to-right reading."""
    b = item.boxes
    return float(np.median((b[:, 3] - b[:, 1]) / np.maximum(b[:, 2] - b[:, 0], 1e-6))) > 1.1


def lcd_rows(item: LCDImage) -> list[LCDRow]:
    """The readings of an upright photo: its digit boxes grouped into rows (a box joins the row
    whose mean centre y is within half the median digit height of its own), top to bottom, each
    sorted by x. Most photos hold one row; the multi-line consoles hold up to 6. ``[]`` for a
    photo that is not :func:`upright`."""
    if not upright(item):
        return []
    b = item.boxes
    cy = (b[:, 1] + b[:, 3]) / 2
    dh = float(np.median(b[:, 3] - b[:, 1]))
    rows: list[list[int]] = []
    for i in np.argsort(cy, kind="stable"):
        for r in rows:
            if abs(np.mean(cy[r]) - cy[i]) < 0.5 * dh:
                r.append(int(i))
                break
        else:
            rows.append([int(i)])
    out = []
    for r in rows:
        r = sorted(r, key=lambda i: (b[i, 0] + b[i, 2]) / 2)
        out.append(LCDRow(item, b[r], [item.digits[i] for i in r]))
    return out


def lcd_screen(item: LCDImage | LCDRow, margin: float = 0.35, rng: np.random.Generator | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """The stage-2 "screen" of a real LCD reading (a row, or a whole photo) and its digit boxes in it.

    The screen is the union of the digit boxes grown by ``margin`` of the median digit
    height on every side, widened or heightened about its centre to the screen's
    aspect (256 / 96), and warped to :data:`calibration.meter_synth.SCREEN_SIZE`
    (bilinear, replicated border). Returns the (96, 256, 3) uint8 BGR screen and the
    boxes (D, 4) float32 ``x0, y0, x1, y1`` in it, sorted by x. ``rng``: jitter the
    margin and centre (training augmentation); ``None``: the fixed evaluation crop.
    """
    from .meter_synth import SCREEN_SIZE

    sh, sw = SCREEN_SIZE
    b = item.boxes
    dh = float(np.median(b[:, 3] - b[:, 1]))
    m = margin * dh
    x0, y0, x1, y1 = b[:, 0].min() - m, b[:, 1].min() - m, b[:, 2].max() + m, b[:, 3].max() + m
    if rng is not None:
        j = rng.uniform(-0.25, 0.25, 4) * dh
        x0, y0, x1, y1 = x0 + j[0], y0 + j[1], x1 + j[2], y1 + j[3]
    cx, cy, w, h = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
    if w / h < sw / sh:
        w = h * sw / sh
    else:
        h = w * sh / sw
    s = sw / w
    a = np.array([[s, 0, sw / 2 - s * cx], [0, s, sh / 2 - s * cy]], np.float32)
    ac = a.copy()
    ac[:, 2] += a[:, 0] * 0.5 + a[:, 1] * 0.5 - 0.5     # continuous -> pixel-centre convention
    screen = cv2.warpAffine(item.image, ac, (sw, sh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    boxes = np.stack([b[:, 0] * s + a[0, 2], b[:, 1] * s + a[1, 2], b[:, 2] * s + a[0, 2], b[:, 3] * s + a[1, 2]], 1)
    return screen, boxes.astype(np.float32)
