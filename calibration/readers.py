"""Dataset readers: a JSONL manifest, a folder of CCPD-named images, a plain image folder.

Every reader returns a :class:`ReadResult`: the usable :class:`Sample` s (in a stable,
sorted order) and a :class:`ReadReport` that accounts for everything else, so nothing
is dropped silently: malformed names or lines, missing images, images OpenCV cannot
decode or JPEGs cut short (only checked with ``check_images=True``), and files skipped
because they are not images. A source with no usable sample raises
:class:`~calibration.errors.EmptyDatasetError`; a path that does not exist raises
:class:`~calibration.errors.DatasetNotFoundError`.

Conventions: coordinates are pixels ``(x, y)`` of the full image; ``corners`` are
``(4, 2)`` float64, clockwise from top-left (TL, TR, BR, BL); ``bbox`` is
``(x1, y1, x2, y2)`` (top-left, bottom-right). Images are only opened (with
``cv2.imread``, imported on first use) when ``check_images=True``.

Manifest format (UTF-8 JSON Lines, one object per line; blank lines are ignored)::

    {"image": "imgs/0001.jpg", "corners": [[x, y], [x, y], [x, y], [x, y]],
     "text": "皖AY339S", "plate_type": "blue", "bbox": [x1, y1, x2, y2], "char_occlusion": 0.0}

``image`` (a path relative to the manifest's folder, or absolute) is required; the
other keys may be absent or ``null``. Unknown keys make the line malformed (a typo must
not drop a label silently). ``corners`` must be clockwise on the image (y down).
``char_occlusion`` (0..1, written by :func:`calibration.synth.write_dataset`) is the
largest share of one character cell an occluder hides; evaluation uses it to report
accuracy per occlusion level and on legible plates.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgevision.checks import is_real
from edgevision.errors import InvalidArgumentError

from .ccpd import as_corners, parse_ccpd_name
from .errors import CCPDNameError, DatasetNotFoundError, EmptyDatasetError

__all__ = [
    "IMAGE_EXTENSIONS",
    "MANIFEST_KEYS",
    "SOURCE_KINDS",
    "Sample",
    "Issue",
    "ReadReport",
    "ReadResult",
    "read_manifest",
    "read_image_folder",
    "read_ccpd_folder",
    "read_source",
    "detect_source_kind",
]

#: File extensions (lower case) the folder readers take as images; compared case-insensitively.
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")

#: The keys a manifest line may have (only ``image`` is required).
MANIFEST_KEYS: tuple[str, ...] = ("image", "corners", "text", "plate_type", "bbox", "char_occlusion")

#: Source kinds: a JSONL manifest, a folder of CCPD-named images, a folder of unlabelled images.
SOURCE_KINDS: tuple[str, ...] = ("manifest", "ccpd", "images")

# Issue kinds, the keys of ReadReport.counts.
MALFORMED_LINE = "malformed_line"
MALFORMED_NAME = "malformed_name"
MISSING_IMAGE = "missing_image"
UNREADABLE_IMAGE = "unreadable_image"
SKIPPED = "skipped"
#: A label line that repeats an earlier line of the same file exactly: one plate labelled twice
#: (EasyPR's GDSL file lists two plates so) would otherwise count twice, and a single detection
#: could match only one of its copies.
DUPLICATE_LINE = "duplicate_line"
_ISSUE_WORDS = {  # singular, plural (for summaries)
    MALFORMED_LINE: ("malformed line", "malformed lines"),
    MALFORMED_NAME: ("malformed name", "malformed names"),
    MISSING_IMAGE: ("missing image", "missing images"),
    UNREADABLE_IMAGE: ("unreadable image", "unreadable images"),
    SKIPPED: ("non-image entry skipped", "non-image entries skipped"),
    DUPLICATE_LINE: ("duplicate line dropped", "duplicate lines dropped"),
}
_KIND_WORDS = {"manifest": ("manifest", "lines"), "ccpd": ("CCPD folder", "image files"),
               "images": ("image folder", "image files"),
               # the labels.tsv files of the real sets (calibration.real)
               "real_crops": ("real crops labels", "lines"), "real_ccpd": ("real CCPD labels", "lines"),
               "easypr": ("EasyPR labels", "lines")}


# ---------------------------------------------------------------------------
# Samples and reports


@dataclass(frozen=True, eq=False)
class Sample:
    """One image and its labels (``None`` where the source has none).

    Attributes:
        image_path: the image file (a manifest's relative paths are joined to its folder).
        corners: ``(4, 2)`` float64 array (read-only), pixels ``(x, y)``, clockwise from
            top-left (TL, TR, BR, BL), or ``None``.
        text: the plate text, or ``None``.
        plate_type: e.g. ``'blue'``/``'green'`` for CCPD, or ``None``.
        bbox: ``(x1, y1, x2, y2)`` pixels (top-left, bottom-right) as floats, or ``None``.
        char_occlusion: the largest fraction (0..1) of one character cell an occluder
            hides (synthetic data), or ``None`` where unknown.
    """

    image_path: Path
    corners: np.ndarray | None = None
    text: str | None = None
    plate_type: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    char_occlusion: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "image_path", Path(self.image_path))
        if self.corners is not None:
            object.__setattr__(self, "corners", as_corners(self.corners))
        if self.bbox is not None:
            bbox = tuple(float(v) for v in self.bbox)
            if len(bbox) != 4:
                raise InvalidArgumentError(f"bbox: expected (x1, y1, x2, y2), got {len(bbox)} values")
            object.__setattr__(self, "bbox", bbox)
        if self.char_occlusion is not None:
            f = float(self.char_occlusion)
            if not 0.0 <= f <= 1.0:
                raise InvalidArgumentError(f"char_occlusion: expected a fraction in [0, 1] or None, got {f!r}")
            object.__setattr__(self, "char_occlusion", f)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sample):
            return NotImplemented
        same_corners = (self.corners is None and other.corners is None) or (
            self.corners is not None and other.corners is not None and np.array_equal(self.corners, other.corners))
        return (same_corners and self.image_path == other.image_path and self.text == other.text
                and self.plate_type == other.plate_type and self.bbox == other.bbox
                and self.char_occlusion == other.char_occlusion)

    __hash__ = None  # type: ignore[assignment]  # holds an array

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable data with the manifest's keys (``image`` is the full path as a string)."""
        return {
            "image": str(self.image_path),
            "corners": None if self.corners is None else self.corners.tolist(),
            "text": self.text,
            "plate_type": self.plate_type,
            "bbox": None if self.bbox is None else list(self.bbox),
            "char_occlusion": self.char_occlusion,
        }


@dataclass(frozen=True)
class Issue:
    """One entry a reader could not use: ``kind`` (e.g. ``'malformed_line'``), the
    offending ``path``, the 1-based manifest ``line`` (else ``None``) and a ``reason``."""

    kind: str
    path: str
    reason: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path, "line": self.line, "reason": self.reason}


@dataclass
class ReadReport:
    """What a reader found in a source.

    Attributes:
        source: the manifest file or folder read.
        kind: ``'manifest'``, ``'ccpd'`` or ``'images'`` (and the real sets' ``labels.tsv``
            readers of :mod:`calibration.real`: ``'real_crops'``, ``'real_ccpd'``, ``'easypr'``).
        entries: the non-blank manifest lines, or the image files (by extension) of a folder.
        usable: the samples returned.
        counts: problems by kind (``malformed_line``, ``malformed_name``,
            ``missing_image``, ``unreadable_image``, ``skipped``); only non-zero kinds.
        examples: the first ``max_examples`` :class:`Issue` s of each kind.
        images_checked: whether images were decoded (``check_images=True``).
    """

    source: Path
    kind: str
    entries: int = 0
    usable: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    examples: list[Issue] = field(default_factory=list)
    images_checked: bool = False
    max_examples: int = 5

    def add(self, issue: Issue) -> None:
        """Count ``issue``; keep it as an example while its kind has fewer than ``max_examples``."""
        n = self.counts.get(issue.kind, 0)
        self.counts[issue.kind] = n + 1
        if n < self.max_examples:
            self.examples.append(issue)

    @property
    def malformed(self) -> int:
        """Malformed manifest lines plus malformed CCPD names."""
        return self.counts.get(MALFORMED_LINE, 0) + self.counts.get(MALFORMED_NAME, 0)

    @property
    def missing_images(self) -> int:
        return self.counts.get(MISSING_IMAGE, 0)

    @property
    def unreadable_images(self) -> int:
        return self.counts.get(UNREADABLE_IMAGE, 0)

    @property
    def skipped(self) -> int:
        """Folder entries that are not images (other extensions; sub-folders unless recursive)."""
        return self.counts.get(SKIPPED, 0)

    def summary(self) -> str:
        """One line, e.g. ``manifest data/labels.jsonl: 3 of 6 lines usable; 2 malformed lines,
        1 missing image; images not decoded``."""
        what, unit = _KIND_WORDS.get(self.kind, (self.kind, "entries"))
        order = [*_ISSUE_WORDS, *(k for k in self.counts if k not in _ISSUE_WORDS)]  # a fixed order
        parts = [f"{n} {_ISSUE_WORDS.get(k, (k, k))[n != 1]}" for k in order if (n := self.counts.get(k, 0))]
        line = f"{what} {self.source}: {self.usable} of {self.entries} {unit} usable"
        if parts:
            line += "; " + ", ".join(parts)
        return line + ("; images decoded" if self.images_checked else "; images not decoded")

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable data: every field, issues as dicts, plus ``summary``."""
        return {
            "source": str(self.source), "kind": self.kind, "entries": self.entries, "usable": self.usable,
            "counts": dict(self.counts), "images_checked": self.images_checked,
            "examples": [i.to_dict() for i in self.examples], "summary": self.summary(),
        }


@dataclass
class ReadResult:
    """The usable ``samples`` of a source and its ``report``; iterates over the samples."""

    samples: list[Sample]
    report: ReadReport

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> Sample:
        return self.samples[index]


# ---------------------------------------------------------------------------
# Helpers


def _require(path: str | os.PathLike[str], want: str) -> Path:
    """``path`` as a Path; it must exist and be a file (``want='file'``) or a folder."""
    p = Path(path)
    expected = "a JSONL manifest file" if want == "file" else "a folder of images"
    if not p.exists():
        raise DatasetNotFoundError(f"path: {str(p)!r} does not exist (expected {expected})", path=str(p))
    if want == "file" and not p.is_file():
        raise InvalidArgumentError(f"path: {str(p)!r} is not a file (expected {expected})")
    if want == "dir" and not p.is_dir():
        raise InvalidArgumentError(f"path: {str(p)!r} is not a folder (expected {expected})")
    return p


def _extensions(extensions: Sequence[str]) -> tuple[str, ...]:
    if isinstance(extensions, str):
        extensions = (extensions,)
    out = tuple(e.lower() if e.startswith(".") else "." + e.lower() for e in extensions)
    if not out or any(e == "." for e in out):
        raise InvalidArgumentError(f"extensions: expected file extensions such as '.jpg', got {extensions!r}")
    return out


def _decode_problem(path: Path) -> str | None:
    """Why ``path`` is not a usable image (None when OpenCV decodes it into a non-empty
    image and it is not a JPEG cut short)."""
    import cv2  # host-side; only needed with check_images=True

    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        return "OpenCV cannot decode it (corrupt or unsupported)"
    if _truncated_jpeg(path):
        return "a JPEG cut short (no end-of-image marker): OpenCV decodes it only with a warning, its tail made up"
    return None


def _truncated_jpeg(path: Path) -> bool:
    """Whether ``path`` is a JPEG whose end is missing. OpenCV decodes such a file without an
    error (libjpeg only prints "Premature end of JPEG file"), so it is checked here: no
    end-of-image marker (FF D9) in the last 4 KiB, confirmed by a strict Pillow decode when
    Pillow is installed (data appended after the marker, as in motion photos, is fine)."""
    with open(path, "rb") as f:
        if f.read(2) != b"\xff\xd8":
            return False
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - 4096))
        if b"\xff\xd9" in f.read():
            return False
    try:
        from PIL import Image
    except ImportError:
        return True
    try:
        with Image.open(path) as im:
            im.load()
    except OSError:
        return True
    return False


def _image_ok(path: Path, report: ReadReport, check_images: bool, line: int | None = None) -> bool:
    """Count a missing (or, with ``check_images``, undecodable) image; True when usable."""
    if not path.is_file():
        if path.is_symlink() and not path.exists():
            reason = "broken symbolic link"
        else:
            reason = "image not found" if not path.exists() else "not a regular file"
        report.add(Issue(MISSING_IMAGE, str(path), reason, line))
        return False
    problem = _decode_problem(path) if check_images else None
    if problem is not None:
        report.add(Issue(UNREADABLE_IMAGE, str(path), problem, line))
        return False
    return True


def _list_images(folder: Path, extensions: tuple[str, ...], recursive: bool, report: ReadReport) -> list[Path]:
    """The image files of ``folder`` sorted by path; other entries are counted as skipped."""
    entries = sorted(folder.rglob("*") if recursive else folder.iterdir())
    images = []
    for p in entries:
        if p.is_dir():
            if not recursive:
                report.add(Issue(SKIPPED, str(p), "a sub-folder (pass recursive=True to read it)"))
        elif p.suffix.lower() in extensions:
            images.append(p)
        else:
            ext = f"extension {p.suffix!r}" if p.suffix else "no extension"
            report.add(Issue(SKIPPED, str(p), f"not an image ({ext}; extensions read: {' '.join(extensions)})"))
    report.entries = len(images)
    return images


def _finish(samples: list[Sample], report: ReadReport, hint: str = "") -> ReadResult:
    report.usable = len(samples)
    if not samples:
        why = [report.summary() + "."]
        if hint:
            why.append(hint)
        if report.examples:
            why.append("First problems: " + "; ".join(str(i) for i in report.examples[:5]) + ".")
        raise EmptyDatasetError("No usable samples: " + " ".join(why), report=report)
    return ReadResult(samples, report)


def _number(x: Any) -> bool:
    return is_real(x) and math.isfinite(x)


class _LineError(ValueError):
    pass


def clockwise(corners: Any) -> bool:
    """Whether 4 points ``(x, y)`` run clockwise on the image (y axis pointing down): a
    positive shoelace sum, as TL, TR, BR, BL do."""
    c = np.asarray(corners, dtype=np.float64)
    return float(np.sum(c[:, 0] * np.roll(c[:, 1], -1) - np.roll(c[:, 0], -1) * c[:, 1])) > 0


def _manifest_sample(obj: Any, base: Path) -> Sample:
    """Validate one decoded manifest object; raise _LineError with the reason."""
    if not isinstance(obj, dict):
        raise _LineError(f"expected a JSON object, got {type(obj).__name__}")
    unknown = [k for k in obj if k not in MANIFEST_KEYS]
    if unknown:
        raise _LineError(f"unknown key(s) {', '.join(map(repr, unknown))}; expected {', '.join(MANIFEST_KEYS)}")
    image = obj.get("image")
    if not isinstance(image, str) or not image:
        raise _LineError("missing key 'image'" if "image" not in obj else
                         f"image: expected a non-empty path string, got {image!r}")
    corners = obj.get("corners")
    if corners is not None:
        if not isinstance(corners, list) or len(corners) != 4:
            got = f"{len(corners)} points" if isinstance(corners, list) else type(corners).__name__
            raise _LineError(f"corners: expected 4 [x, y] points (pixels, clockwise from top-left), got {got}")
        if not all(isinstance(pt, list) and len(pt) == 2 and all(_number(v) for v in pt) for pt in corners):
            raise _LineError(f"corners: expected 4 [x, y] points of finite numbers (pixels), got {corners!r}")
        if not clockwise(corners):
            raise _LineError("corners: not clockwise on the image (signed area <= 0 with y down); "
                             "expected TL, TR, BR, BL")
    for key in ("text", "plate_type"):
        v = obj.get(key)
        if v is not None and (not isinstance(v, str) or not v):
            raise _LineError(f"{key}: expected a non-empty string or null, got {v!r}")
    bbox = obj.get("bbox")
    if bbox is not None:
        if not isinstance(bbox, list) or len(bbox) != 4 or not all(_number(v) for v in bbox):
            raise _LineError(f"bbox: expected [x1, y1, x2, y2] finite numbers (pixels), got {bbox!r}")
        if bbox[0] > bbox[2] or bbox[1] > bbox[3]:
            raise _LineError(f"bbox: expected x1 <= x2 and y1 <= y2 (top-left, bottom-right), got {bbox!r}")
    occ = obj.get("char_occlusion")
    if occ is not None and not (_number(occ) and 0 <= occ <= 1):
        raise _LineError(f"char_occlusion: expected a fraction in [0, 1] (share of a character cell hidden) "
                         f"or null, got {occ!r}")
    return Sample(base / image, corners, obj.get("text"), obj.get("plate_type"), bbox, occ)


# ---------------------------------------------------------------------------
# Readers


def read_manifest(path: str | os.PathLike[str], *, check_images: bool = False, max_examples: int = 5) -> ReadResult:
    """Read a JSONL manifest (format in the module docstring) into samples.

    Each image must exist (checked for every line); with ``check_images=True`` it must
    also decode with OpenCV. Malformed lines (bad UTF-8 or JSON, not an object, unknown
    keys, wrong corner count, counter-clockwise corners, bad ``bbox``...) and missing or
    unreadable images are counted in ``report`` (the first ``max_examples`` of each kind
    kept with line numbers). Raises :class:`DatasetNotFoundError` when ``path`` does not
    exist, :class:`EmptyDatasetError` when no line is usable.
    """
    src = _require(path, "file")
    report = ReadReport(src, "manifest", images_checked=check_images, max_examples=max_examples)
    base = src.parent
    samples = []
    with open(src, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            report.entries += 1
            try:
                text = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
                sample = _manifest_sample(json.loads(text), base)
            except UnicodeDecodeError as e:
                report.add(Issue(MALFORMED_LINE, str(src), f"not UTF-8 ({e.reason} at byte {e.start})", lineno))
                continue
            except json.JSONDecodeError as e:
                report.add(Issue(MALFORMED_LINE, str(src), f"invalid JSON ({e.msg} at column {e.colno})", lineno))
                continue
            except _LineError as e:
                report.add(Issue(MALFORMED_LINE, str(src), str(e), lineno))
                continue
            if _image_ok(sample.image_path, report, check_images, lineno):
                samples.append(sample)
    return _finish(samples, report, "" if report.entries else "The manifest has no non-blank line.")


def read_image_folder(path: str | os.PathLike[str], extensions: Sequence[str] = IMAGE_EXTENSIONS, *,
                      check_images: bool = False, recursive: bool = False, max_examples: int = 5) -> ReadResult:
    """Unlabelled images of a folder (e.g. for calibration), sorted by path.

    Files whose extension (case-insensitive) is in ``extensions`` are images; other
    files, and sub-folders unless ``recursive``, are counted as ``skipped``. With
    ``check_images=True`` each image must decode with OpenCV (else it is counted as
    unreadable). Raises :class:`DatasetNotFoundError` when ``path`` does not exist,
    :class:`EmptyDatasetError` when no image is usable.
    """
    src = _require(path, "dir")
    exts = _extensions(extensions)
    report = ReadReport(src, "images", images_checked=check_images, max_examples=max_examples)
    samples = [Sample(p) for p in _list_images(src, exts, recursive, report) if _image_ok(p, report, check_images)]
    return _finish(samples, report, "" if report.entries else f"No file with extension {', '.join(exts)}.")


def read_ccpd_folder(path: str | os.PathLike[str], extensions: Sequence[str] = IMAGE_EXTENSIONS, *,
                     check_images: bool = False, recursive: bool = False, max_examples: int = 5) -> ReadResult:
    """Images of a folder labelled by their CCPD file names (:func:`~calibration.ccpd.parse_ccpd_name`).

    Samples carry ``corners`` (TL, TR, BR, BL), ``text``, ``plate_type`` and ``bbox``.
    Image files whose name does not parse are counted as ``malformed_name`` with the
    field at fault; other entries are handled as in :func:`read_image_folder`.
    """
    src = _require(path, "dir")
    exts = _extensions(extensions)
    report = ReadReport(src, "ccpd", images_checked=check_images, max_examples=max_examples)
    samples = []
    for p in _list_images(src, exts, recursive, report):
        try:
            label = parse_ccpd_name(p.name)
        except CCPDNameError as e:
            report.add(Issue(MALFORMED_NAME, str(p), f"field '{e.field}': {e.detail}"))
            continue
        if _image_ok(p, report, check_images):
            samples.append(Sample(p, label.corners, label.text, label.plate_type, label.bbox))
    return _finish(samples, report, "" if report.entries else f"No file with extension {', '.join(exts)}.")


def detect_source_kind(path: str | os.PathLike[str], extensions: Sequence[str] = IMAGE_EXTENSIONS, *,
                       recursive: bool = False) -> str:
    """``'manifest'`` for a ``.jsonl`` file; for a folder, ``'ccpd'`` when any of its image
    files has a CCPD name (so that the other names are reported as malformed rather than
    their labels ignored; read it with ``kind='images'`` to take it as plain images), else
    ``'images'``. Raises :class:`DatasetNotFoundError` for a missing path,
    :class:`~edgevision.errors.InvalidArgumentError` for another file."""
    p = Path(path)
    if not p.exists():
        raise DatasetNotFoundError(
            f"path: {str(p)!r} does not exist (expected a .jsonl manifest or a folder of images)", path=str(p))
    if p.is_file():
        if p.suffix.lower() == ".jsonl":
            return "manifest"
        raise InvalidArgumentError(f"path: {str(p)!r} is a file but not a .jsonl manifest "
                                   "(expected a .jsonl manifest or a folder of images)")
    exts = _extensions(extensions)
    scratch = ReadReport(p, "images")
    images = _list_images(p, exts, recursive, scratch)
    for img in images:
        try:
            parse_ccpd_name(img.name)
        except CCPDNameError:
            continue
        return "ccpd"
    return "images"


def read_source(path: str | os.PathLike[str], *, kind: str = "auto", check_images: bool = False,
                recursive: bool = False, max_examples: int = 5) -> ReadResult:
    """Read ``path`` with the reader for ``kind`` (``'auto'`` uses :func:`detect_source_kind`,
    else one of :data:`SOURCE_KINDS`). ``recursive`` applies to folders only."""
    if kind == "auto":
        kind = detect_source_kind(path, recursive=recursive)
    if kind == "manifest":
        return read_manifest(path, check_images=check_images, max_examples=max_examples)
    if kind == "ccpd":
        return read_ccpd_folder(path, check_images=check_images, recursive=recursive, max_examples=max_examples)
    if kind == "images":
        return read_image_folder(path, check_images=check_images, recursive=recursive, max_examples=max_examples)
    raise InvalidArgumentError(f"kind: expected 'auto' or one of {', '.join(SOURCE_KINDS)}, got {kind!r}")
