"""Synthetic CCPD-style scenes of Chinese licence plates, rendered locally.

Nothing can be downloaded, so the project renders its own plate data: to train the
plate-corner regressor (``lpl_resnet18``: a scene in, 4 corners out) and the plate
reader (``plate_ocr_crnn``: a rectified 64x224 crop in, text out), to calibrate INT8
quantization, and for demos and tests.

* :func:`render_plate` / :class:`PlateRenderer` draw a flat plate (Pillow for the
  glyphs of a real CJK font, numpy/OpenCV for the rest) to the Chinese standard's
  geometry (GA 36-2018): ``blue`` and ``yellow`` 440x140 mm with 7 characters,
  ``green`` (new-energy) 480x140 mm with 8, ``yellow_double`` 440x220 mm on two rows.
* :class:`PlateSceneGenerator` puts one plate into a procedural close-up of a car's
  front or rear (the input a corner regressor sees after a plate/vehicle detector) with
  random perspective, rotation, scale and position, then (unless ``clean=True``)
  occlusion, lighting, shadows, blur, noise and JPEG artifacts. ``gen[i]`` depends on
  ``(seed, i)`` only, so several DataLoader workers can stream it in any order.
* :func:`plate_crop` rectifies a plate with :func:`edgevision.warp_quad`.
* :func:`write_dataset` writes ``images/*.jpg`` and a ``manifest.jsonl`` that
  :func:`calibration.readers.read_manifest` reads.

Conventions: images are uint8 BGR ``H x W x 3`` (as ``cv2.imread`` returns them);
points are continuous pixel coordinates ``(x, y)`` with the origin at the top-left
corner of the top-left pixel (pixel ``(i, j)`` covers ``[j, j+1] x [i, i+1]``); corners
are clockwise from top-left (TL, TR, BR, BL) and trace the plate's outer boundary (the
rectangle the rounded plate corners are cut from); ``bbox`` is ``(x1, y1, x2, y2)``;
sizes are ``(height, width)``.

Layout: this module is the public face; its sections live in ``calibration/_synth/``
(``layouts``, ``rendering``, ``geometry``, ``scene``, ``generator``, ``crops``, ``writer``),
split along the sections the file had, and every name is re-exported here: import from
``calibration.synth``. The calibration cache's generator version hashes all of them.
"""

from __future__ import annotations

from ._synth.layouts import (  # noqa: F401  (re-exported: the public path stays)
    TRAIN_SEED,
    HELDOUT_SEED,
    HELDOUT_COUNT,
    PLATE_TYPES,
    PLATE_SIZES_MM,
    PLATE_LENGTHS,
    DEFAULT_PLATE_WEIGHTS,
    _PROVINCES,
    _LETTERS,
    _ADS,
    _DIGITS,
    PLATE_CHARS,
    _Layout,
    _row,
    _single_row,
    _LAYOUTS,
    _BLUE_BG,
    _YELLOW_BG,
    _GREEN_TOP,
    _GREEN_BOTTOM,
    _WHITE,
    _BLACK,
    check_plate_text,
    _plate_type,
    random_plate_text,
)
from ._synth.rendering import (  # noqa: F401  (re-exported: the public path stays)
    RenderedPlate,
    _CORNER_ARCS,
    _rounded_rect,
    PlateRenderer,
    _blend,
    _DEFAULT_RENDERER,
    render_plate,
)
from ._synth.geometry import (  # noqa: F401  (re-exported: the public path stays)
    _apply,
    _twice_area,
    _convex_clockwise,
    _index_map,
    _as_pair,
    _number,
    _whole,
)
from ._synth.generator import (  # noqa: F401  (re-exported: the public path stays)
    SynthSample,
    _Plan,
    PlateSceneGenerator,
)
from ._synth.scene import (  # noqa: F401  (re-exported: the public path stays)
    _BODY,
    _BODY_P,
    _NOISE_BANK_SIZE,
    _NOISE_SIGMAS,
    _frame_text,
    _poly,
    _CIRCLE,
    _HALF_CIRCLE,
    _ellipse,
    _rect,
    _contrasts,
    _background,
    _dirty,
    _occlude,
    _char_occlusion,
    _occluder,
    _photometric,
)
from ._synth.crops import (  # noqa: F401  (re-exported: the public path stays)
    plate_crop,
    jitter_corners,
)
from ._synth.writer import (  # noqa: F401  (re-exported: the public path stays)
    MANIFEST_NAME,
    write_dataset,
)

__all__ = [
    "DEFAULT_PLATE_WEIGHTS",
    "HELDOUT_COUNT",
    "HELDOUT_SEED",
    "PLATE_CHARS",
    "PLATE_LENGTHS",
    "PLATE_SIZES_MM",
    "PLATE_TYPES",
    "TRAIN_SEED",
    "PlateRenderer",
    "PlateSceneGenerator",
    "RenderedPlate",
    "SynthSample",
    "check_plate_text",
    "jitter_corners",
    "plate_crop",
    "random_plate_text",
    "render_plate",
    "write_dataset",
]

