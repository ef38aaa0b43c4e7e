"""Sample plate scenes shipped with the package (package data), and readers of scene folders.

    from edgevision.samples import PLATES_DIR, scene_items
    folder, items = scene_items()          # the 10 bundled scenes with their labels
    for path, label in items: ...          # label: manifest record (text, corners...) or None

``PLATES_DIR`` holds 8 generated CCPD-style scenes (``calibration.synth``), one of
each plate type at least; ``REAL_PLATES_DIR`` 2 real CCPD photographs (MIT, see its
``NOTICE``). Each folder has a ``manifest.jsonl``: one JSON record a line with
``image`` (a path relative to the folder), ``text``, ``plate_type``, ``corners``
(TL, TR, BR, BL, source pixels) and ``bbox``. They ship in the wheel, so
``edgevision demo`` and ``edgevision serve``'s warm-up work from any install.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import EdgeVisionError, InvalidArgumentError

#: The bundled synthetic plate scenes (a manifest folder).
PLATES_DIR = Path(__file__).resolve().parent / "plates"
#: The bundled real photographs (a manifest folder: 2 CCPD scenes, MIT).
REAL_PLATES_DIR = Path(__file__).resolve().parent / "real_plates"
#: File endings read as images when a folder has no manifest.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def read_manifest(folder: str | Path, name: str = "source") -> list[tuple[Path, dict[str, Any]]]:
    """``[(image path, record)]`` from ``folder/manifest.jsonl`` (blank lines skipped).

    Raises:
        InvalidArgumentError: a line is not JSON or lacks ``image``; the message names the line.
    """
    folder = Path(folder)
    manifest = folder / "manifest.jsonl"
    items = []
    for n, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rec = json.loads(line)
                items.append((folder / rec["image"], rec))
            except (ValueError, KeyError, TypeError) as e:
                raise InvalidArgumentError(f"{name}: {manifest}:{n}: not a manifest line ({e})") from None
    return items


def scene_items(source: str | Path | None = None,
                name: str = "source") -> tuple[Path, list[tuple[Path, dict[str, Any] | None]]]:
    """``(folder, [(image, label or None)])`` of a scene source.

    Args:
        source: a folder with ``manifest.jsonl`` (labelled), a folder of images
            (:data:`IMAGE_EXTENSIONS`, unlabelled), one image file, or None for the
            bundled scenes (:data:`PLATES_DIR`, then :data:`REAL_PLATES_DIR`; the
            folder returned is their parent).
        name: the argument named in errors.

    Raises:
        EdgeVisionError: ``source`` does not exist, or is a folder without images.
        InvalidArgumentError: a malformed manifest line.
    """
    if source is None:
        return PLATES_DIR.parent, read_manifest(PLATES_DIR) + read_manifest(REAL_PLATES_DIR)
    src = Path(source)
    if src.is_file():
        return src.parent, [(src, None)]
    if not src.is_dir():
        raise EdgeVisionError(f"{name}: {src}: no such file or folder")
    if (src / "manifest.jsonl").is_file():
        return src, list(read_manifest(src, name))
    images = sorted(p for p in src.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not images:
        raise EdgeVisionError(f"{name}: {src}: no images ({', '.join(IMAGE_EXTENSIONS)})")
    return src, [(p, None) for p in images]


__all__ = ["PLATES_DIR", "REAL_PLATES_DIR", "IMAGE_EXTENSIONS", "read_manifest", "scene_items"]
