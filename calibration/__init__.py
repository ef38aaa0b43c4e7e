"""Host-side dataset tools for calibration, evaluation and training (not part of the runtime).

* :mod:`calibration.ccpd`: the CCPD file-name convention (parse and format labels).
* :mod:`calibration.readers`: readers for a JSONL manifest, a CCPD folder and a plain
  image folder, with a report of everything they could not use.
* ``python -m calibration inspect SOURCE``: the command line over the readers.

Conventions: pixels ``(x, y)``; plate corners clockwise from top-left (TL, TR, BR, BL);
boxes ``(x1, y1, x2, y2)``.
"""

from __future__ import annotations

from .ccpd import (
    ADS,
    ALPHABETS,
    CCPD_FIELDS,
    PROVINCES,
    CCPDLabel,
    format_ccpd_name,
    parse_ccpd_name,
    plate_type_for_length,
)
from .errors import CCPDNameError, DatasetNotFoundError, EmptyDatasetError
from .readers import (
    IMAGE_EXTENSIONS,
    MANIFEST_KEYS,
    SOURCE_KINDS,
    Issue,
    ReadReport,
    ReadResult,
    Sample,
    detect_source_kind,
    read_ccpd_folder,
    read_image_folder,
    read_manifest,
    read_source,
)

__all__ = [
    "ADS",
    "ALPHABETS",
    "CCPD_FIELDS",
    "PROVINCES",
    "CCPDLabel",
    "format_ccpd_name",
    "parse_ccpd_name",
    "plate_type_for_length",
    "CCPDNameError",
    "DatasetNotFoundError",
    "EmptyDatasetError",
    "IMAGE_EXTENSIONS",
    "MANIFEST_KEYS",
    "SOURCE_KINDS",
    "Issue",
    "ReadReport",
    "ReadResult",
    "Sample",
    "detect_source_kind",
    "read_ccpd_folder",
    "read_image_folder",
    "read_manifest",
    "read_source",
]
