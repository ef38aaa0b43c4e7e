"""Host-side dataset tools for calibration, evaluation and training (not part of the runtime).

* :mod:`calibration.ccpd`: the CCPD file-name convention (parse and format labels).
* :mod:`calibration.readers`: readers for a JSONL manifest, a CCPD folder and a plain
  image folder, with a report of everything they could not use.
* :mod:`calibration.real`: readers of the real plate photographs in ``../shared/data/real``
  (crops, CCPD and EasyPR ``labels.tsv``; crops are evaluation only) and the fixed EasyPR
  train/test split.
* :mod:`calibration.synth`: synthetic CCPD-style plate scenes (:class:`PlateSceneGenerator`,
  :func:`write_dataset`, :func:`plate_crop`), drawn with a CJK font found by
  :mod:`calibration.fonts`.
* ``python -m calibration inspect SOURCE`` and ``python -m calibration synth OUT --count N``:
  the command line.

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
from .errors import CCPDNameError, DatasetExistsError, DatasetNotFoundError, EmptyDatasetError, FontNotFoundError
from .fonts import find_cjk_font
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

# calibration.synth needs OpenCV, Pillow and fontTools: its names load on first use, so that
# `import calibration` stays light (PEP 562).
_SYNTH_NAMES = (
    "HELDOUT_COUNT", "HELDOUT_SEED", "PLATE_CHARS", "PLATE_TYPES", "TRAIN_SEED", "PlateRenderer",
    "PlateSceneGenerator", "RenderedPlate", "SynthSample", "plate_crop", "random_plate_text", "render_plate",
    "write_dataset",
)


def __getattr__(name: str) -> object:
    if name in _SYNTH_NAMES:
        from . import synth

        return getattr(synth, name)
    raise AttributeError(f"module 'calibration' has no attribute {name!r}")


__all__ = [
    "ADS",
    "ALPHABETS",
    "CCPD_FIELDS",
    "HELDOUT_COUNT",
    "HELDOUT_SEED",
    "IMAGE_EXTENSIONS",
    "MANIFEST_KEYS",
    "PLATE_CHARS",
    "PLATE_TYPES",
    "PROVINCES",
    "SOURCE_KINDS",
    "TRAIN_SEED",
    "CCPDLabel",
    "CCPDNameError",
    "DatasetExistsError",
    "DatasetNotFoundError",
    "EmptyDatasetError",
    "FontNotFoundError",
    "Issue",
    "PlateRenderer",
    "PlateSceneGenerator",
    "ReadReport",
    "ReadResult",
    "RenderedPlate",
    "Sample",
    "SynthSample",
    "detect_source_kind",
    "find_cjk_font",
    "format_ccpd_name",
    "parse_ccpd_name",
    "plate_crop",
    "plate_type_for_length",
    "random_plate_text",
    "read_ccpd_folder",
    "read_image_folder",
    "read_manifest",
    "read_source",
    "render_plate",
    "write_dataset",
]
