"""A compact copy of the real data the plate detector recipe trains on, for a machine it must travel to.

    python scripts/pack_device_data.py [--real DIR] [--out device_data/real] [--quality 65]

``training.detector`` reads, from the real-data folder (:func:`calibration.real.real_root`),
the EasyPR *train* scenes (:func:`calibration.plate_scenes.easypr_scenes`) and the train half
of the LCD photos (:func:`calibration.plate_scenes.photo_split`) as backgrounds. The whole
folder is far larger than what may travel with a checkout to a GPU machine (64 MiB in all,
the tracked files included), so :func:`pack_detector_data` writes only those files, each
re-encoded as JPEG at ``quality`` (same size in pixels, so every label stays valid), in the
same layout: ``EDGEVISION_REAL_DATA=OUT python -m training.detector ...`` then builds the same
scenes (up to the JPEG re-encoding). Nothing held out is copied: no EasyPR test scene, no
test-half LCD photo, no CCPD scene, no plate crop. The EasyPR images keep their terms (GDSL:
``GDSL.txt`` goes with every copy) and the LCD photos theirs (Apache-2.0: its ``LICENSE``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .errors import DatasetExistsError, DatasetNotFoundError
from .plate_scenes import PLATE_FREE_PHOTOS

#: Files kept beside the copied images: their terms (EasyPR's GDSL must go with any copy).
EASYPR_TERMS = ("GDSL.txt", "GDSL.utf8.txt")
LCD_DIR = Path(PLATE_FREE_PHOTOS)
LCD_TERMS = ("LICENSE", "README.md", "PROVENANCE.txt")


def _reencode(src: Path, dst: Path, quality: int) -> int:
    img = cv2.imdecode(np.fromfile(str(src), np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise DatasetNotFoundError(f"{src}: does not decode as an image", path=str(src))
    dst.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV encodes any decoded BGR image
        raise RuntimeError(f"{src}: JPEG encoding failed")
    buf.tofile(str(dst))
    return int(buf.size)


def pack_detector_data(real: str | os.PathLike[str] | None, out: str | os.PathLike[str], *,
                       quality: int = 65) -> dict[str, Any]:
    """Writes the detector recipe's real inputs (module docs) under ``out``; returns what was written:
    ``{"easypr_scenes", "easypr_lines", "lcd_photos", "bytes", "out"}``.

    ``real``: the real-data folder (``None``: :func:`calibration.real.real_root`'s default). ``quality``:
    JPEG quality, 50-100. ``out`` must be empty or absent (nothing is overwritten: DatasetExistsError).
    A listed scene that no longer decodes raises DatasetNotFoundError."""
    from edgevision.errors import InvalidArgumentError

    from .plate_scenes import easypr_scenes, plate_free_photos
    from .real import real_root

    if isinstance(quality, bool) or not isinstance(quality, int) or not 50 <= quality <= 100:
        raise InvalidArgumentError(f"quality: expected a JPEG quality, an int in [50, 100], got {quality!r}")
    root = real_root(real)
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise DatasetExistsError(f"out: {out} is not empty (expected an empty or absent folder; nothing is overwritten)",
                                 path=str(out))
    total = 0
    scenes = easypr_scenes(root, "train")            # train scenes only, whole images only
    names = {Path(p).name for p, _, _ in scenes}
    src_e = root / "easypr"
    lines = (src_e / "labels.tsv").read_text(encoding="utf-8").splitlines()
    kept = [ln for ln in lines if ln.startswith("#")
            or (ln.strip() and Path(ln.split("\t")[0]).name in names)]
    for p, _, _ in scenes:
        total += _reencode(Path(p), out / "easypr" / Path(p).relative_to(src_e), quality)
    (out / "easypr").mkdir(parents=True, exist_ok=True)
    (out / "easypr" / "labels.tsv").write_text("\n".join(kept) + "\n", encoding="utf-8")
    for name in EASYPR_TERMS:
        if (src_e / name).exists():
            shutil.copyfile(src_e / name, out / "easypr" / name)
    photos = [Path(f) for f in plate_free_photos(root, "train")]
    for f in photos:
        total += _reencode(f, out / f.relative_to(root), quality)
    for name in LCD_TERMS:
        if (root / LCD_DIR / name).exists():
            (out / LCD_DIR).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / LCD_DIR / name, out / LCD_DIR / name)
    total += sum(f.stat().st_size for f in out.rglob("*") if f.is_file() and f.suffix != ".jpg")
    return {"easypr_scenes": len(scenes), "easypr_lines": sum(not ln.startswith("#") for ln in kept),
            "lcd_photos": len(photos), "bytes": total, "out": str(out)}


__all__ = ["pack_detector_data", "EASYPR_TERMS", "LCD_DIR", "LCD_TERMS"]
