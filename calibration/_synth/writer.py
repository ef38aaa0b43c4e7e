"""The dataset writer: a synthetic dataset on disk (images and a manifest)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import cv2

from edgevision.checks import is_int
from edgevision.errors import InvalidArgumentError

from ..errors import DatasetExistsError
from .generator import PlateSceneGenerator
from .geometry import _whole
from .layouts import TRAIN_SEED


MANIFEST_NAME = "manifest.jsonl"


def write_dataset(out_dir: str | os.PathLike[str], count: int, *, seed: int = TRAIN_SEED, start: int = 0,
                  quality: int = 95, progress: bool = True, overwrite: bool = False, **gen_options: Any) -> Path:
    """Write samples ``start .. start + count - 1`` of ``PlateSceneGenerator(seed, **gen_options)``.

    Files: ``out_dir/images/{index:06d}.jpg`` (JPEG at ``quality``) and
    ``out_dir/manifest.jsonl`` (UTF-8, one JSON object a line, ``ensure_ascii=False``,
    keys ``image``, ``corners``, ``text``, ``plate_type``, ``bbox``: the format of
    :func:`calibration.readers.read_manifest`; image paths relative to ``out_dir``).
    The manifest is written to a temporary name and renamed at the end, so an
    interrupted run leaves no manifest.

    Args:
        count: samples to write (>= 0; 0 writes an empty manifest).
        overwrite: replace an existing manifest (and images of the same name). Other
            files are never deleted, so images of a larger earlier run stay on disk,
            unlisted.
        progress: show a tqdm progress bar (on stderr).

    Returns:
        the manifest's path.

    Raises:
        DatasetExistsError: ``out_dir`` already holds a manifest and ``overwrite`` is False.
        InvalidArgumentError: a bad ``count``, ``start``, ``seed``, ``quality``, ``out_dir``
            or generator option (named in the message).
    """
    count = _whole(count, "count")
    start = _whole(start, "start")
    if not is_int(quality) or not 1 <= quality <= 100:
        raise InvalidArgumentError(f"quality: expected a JPEG quality, a whole number in [1, 100], got {quality!r}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InvalidArgumentError(f"out_dir: {str(out)!r} exists and is not a folder")
    manifest = out / MANIFEST_NAME
    if manifest.exists() and not overwrite:
        raise DatasetExistsError(f"out_dir: {str(out)!r} already holds a dataset ({MANIFEST_NAME}); pass "
                                 f"overwrite=True (--overwrite) to replace it, or choose another folder",
                                 path=str(manifest))
    gen = PlateSceneGenerator(seed, **gen_options)  # validates the options before anything is written
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    tmp = out / (MANIFEST_NAME + ".tmp")
    bar = None
    if progress:
        from tqdm import tqdm  # host-side dependency (the `data` extra)

        bar = tqdm(total=count, desc=f"synth {out}", unit="img")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            for index in range(start, start + count):
                sample = gen[index]
                rel = f"images/{index:06d}.jpg"
                ok, buf = cv2.imencode(".jpg", sample.image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
                if not ok:  # pragma: no cover - OpenCV encodes any uint8 BGR image
                    raise InvalidArgumentError(f"image {index}: OpenCV could not encode it as JPEG")
                (out / rel).write_bytes(buf.tobytes())
                f.write(json.dumps(sample.to_manifest(rel), ensure_ascii=False) + "\n")
                if bar is not None:
                    bar.update(1)
        os.replace(tmp, manifest)
    finally:
        if bar is not None:
            bar.close()
        if tmp.exists():
            tmp.unlink()
    return manifest
