"""A plate detector that finds every plate with its 4 corners: YOLO-pose style, one class.

Output ``output0`` ``(N, 4 + 1 + 4*2, A)``, the YOLOv8-pose layout with ``kpt_shape`` (4, 2)
(no visibility channel: a detected plate's corners are always predicted): per anchor point,
the box ``cx, cy, w, h`` in model-input pixels, the plate score (sigmoid), then the corners
TL, TR, BR, BL as ``x, y`` in model-input pixels. A anchors are the centres of the stride-8,
-16 and -32 cells, row-major per level, as in :class:`exporters.zoo.torch_models.YoloTiny`.

The anchor points of each level are the top-left block of its grid for the built size that the
level's feature map covers, so the network runs on any input up to the built size in multiples of
32 (``plate_pose(dynamic_hw=True)`` exports it so).

Regression (what :mod:`training.detector` trains): box sides ``softplus(raw) * stride``
from the anchor point (left, top, right, bottom); corner ``k`` = anchor + ``raw * 2 * stride``.

Architecture: a plain 3x3 conv backbone (widths 16-32-64-128-256 at ``width=16``, a residual
block at strides 8 and 16, where plates 20 to 150 px wide live at 384 px), a top-down FPN of
64 channels, and per level a shared 3x3 conv then 1x1 heads for the box, the score and the
corners (the corners through one more 3x3 conv). About 0.8 GMAC at 384x384. Every op is
Conv/BatchNorm/SiLU/Add/Resize/Sigmoid/Softplus, so ONNX Runtime's static int8 quantizes the
convolutions. ``act="relu"`` builds it with ReLU in place of every SiLU: in int8, ONNX Runtime
folds a ReLU into its convolution's output range, where a SiLU costs a table lookup and a
multiplication of its own (about 0.8x the int8 time at 384x384, measured on an AMD EPYC with AVX-512 VNNI).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from edgevision.errors import InvalidArgumentError

from . import Built
from .torch_models import ConvBNAct, _size, anchor_grid, ltrb_to_xywh, top_down

#: The activations the detector can be built with (:class:`PlatePoseNet`'s ``act``).
ACTIVATIONS = ("silu", "relu")

#: Corner order of the keypoints (the plate's reading order, clockwise on the image).
KEYPOINTS = ("top_left", "top_right", "bottom_right", "bottom_left")


class _Residual(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.a, self.b = ConvBNAct(c, c), ConvBNAct(c, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.b(self.a(x))


class PlatePoseNet(nn.Module):
    """The detector (module docs). ``size`` (height, width), multiples of 32; ``dynamic_hw``: the
    anchors follow the feature maps, for an export with dynamic height and width (:func:`plate_pose`)."""

    strides = (8, 16, 32)
    num_keypoints = 4

    def __init__(self, size: tuple[int, int], width: int = 16, neck: int = 64, dynamic_hw: bool = False,
                 act: str = "silu") -> None:
        super().__init__()
        if act not in ACTIVATIONS:
            raise InvalidArgumentError(f"act: expected one of {list(ACTIVATIONS)}, got {act!r}")
        self.act = act
        self.dynamic_hw = bool(dynamic_hw)
        h, w = size
        if h % 32 or w % 32:
            raise InvalidArgumentError(f"size: height and width must be multiples of 32 (stride 32), got {size}")
        c = width
        self.stem = nn.Sequential(ConvBNAct(3, c, 3, 2), ConvBNAct(c, 2 * c, 3, 2), ConvBNAct(2 * c, 2 * c))
        self.s8 = nn.Sequential(ConvBNAct(2 * c, 4 * c, 3, 2), _Residual(4 * c))
        self.s16 = nn.Sequential(ConvBNAct(4 * c, 8 * c, 3, 2), _Residual(8 * c))
        self.s32 = nn.Sequential(ConvBNAct(8 * c, 16 * c, 3, 2), ConvBNAct(16 * c, 16 * c))
        n = neck
        self.lat = nn.ModuleList([nn.Conv2d(ch, n, 1) for ch in (4 * c, 8 * c, 16 * c)])
        self.smooth = nn.ModuleList([ConvBNAct(n, n) for _ in self.strides])
        self.kpt_conv = nn.ModuleList([ConvBNAct(n, n) for _ in self.strides])
        self.box = nn.ModuleList([nn.Conv2d(n, 4, 1) for _ in self.strides])
        self.cls = nn.ModuleList([nn.Conv2d(n, 1, 1) for _ in self.strides])
        self.kpt = nn.ModuleList([nn.Conv2d(n, 2 * self.num_keypoints, 1) for _ in self.strides])
        for conv in self.cls:  # low scores at the start (RetinaNet's prior of 0.01)
            nn.init.constant_(conv.bias, -4.6)
        for conv in self.kpt:
            nn.init.normal_(conv.weight, 0.0, 1e-3)
            nn.init.zeros_(conv.bias)
        anchors, strides = anchor_grid((h, w), self.strides)
        self.register_buffer("anchors", anchors, persistent=False)  # (1, 2, A)
        self.register_buffer("anchor_strides", strides, persistent=False)  # (1, 1, A)
        start = 0
        for i, st in enumerate(self.strides):  # the same points per level, (1, 2, h / st, w / st)
            gh, gw = h // st, w // st
            self.register_buffer(f"grid{i}", anchors[:, :, start:start + gh * gw].reshape(1, 2, gh, gw).clone(),
                                 persistent=False)
            start += gh * gw
        if act == "relu":
            for module in list(self.modules()):
                for name, child in module.named_children():
                    if isinstance(child, nn.SiLU):
                        setattr(module, name, nn.ReLU())

    def _level_anchors(self, i: int, f: torch.Tensor) -> torch.Tensor:
        """The anchor points (1, 2, h*w), input px, of level ``i`` for its feature map ``f`` (N, C, h, w):
        the top-left h x w block of the level's grid for the built size. An input up to the built size
        may be smaller (a dynamic height and width export slices the grid by the map's shape; a larger
        one fails on the shapes rather than decode with wrong anchors)."""
        grid = getattr(self, f"grid{i}")
        return grid[:, :, :f.shape[-2], :f.shape[-1]].flatten(2)

    def raw(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(ltrb (N, 4, A) px, score logits (N, 1, A), corners (N, 8, A) px, anchors (1, 2, A) px,
        strides (1, 1, A))``: what the loss uses, with the anchor points and strides of this input.

        At the built size (``dynamic_hw`` false) the anchors are the ``anchors`` buffer, a constant
        of the exported graph; with ``dynamic_hw`` each level takes its block of the grid
        (:meth:`_level_anchors`), so any height and width in multiples of 32 up to the built size run."""
        p3 = self.s8(self.stem(x))
        p4 = self.s16(p3)
        boxes, scores, kpts, anchors = [], [], [], []
        for i, f in enumerate(top_down(self.lat, p3, p4, self.s32(p4))):
            f = self.smooth[i](f)
            boxes.append(self.box[i](f).flatten(2))
            scores.append(self.cls[i](f).flatten(2))
            kpts.append(self.kpt[i](self.kpt_conv[i](f)).flatten(2))
            if self.dynamic_hw:
                anchors.append(self._level_anchors(i, f))
        if self.dynamic_hw:
            a = torch.cat(anchors, 2)
            st = torch.cat([torch.full_like(anchors[i][:, :1], float(s)) for i, s in enumerate(self.strides)], 2)
        else:
            a, st = self.anchors, self.anchor_strides
        ltrb = F.softplus(torch.cat(boxes, 2)) * st
        k = torch.cat(kpts, 2) * (2 * st) + a.repeat(1, self.num_keypoints, 1)
        return ltrb, torch.cat(scores, 2), k, a, st

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ltrb, logits, k, anchors, _ = self.raw(x)
        return torch.cat([ltrb_to_xywh(anchors, ltrb), torch.sigmoid(logits), k], 1)


def plate_pose(size: Any = 384, width: int = 16, neck: int = 64, dynamic_hw: bool = False,
               act: str = "silu") -> Built:
    """The plate detector (module docs); ``size`` multiple of 32 (default 384); ``act``: ``"silu"``
    (every bundled detector so far) or ``"relu"`` (:data:`ACTIVATIONS`).

    ``dynamic_hw``: export with dynamic height and width (``preprocess.stride`` 32), so the
    Predictor letterboxes each call to the smallest multiple of 32 that holds the image (a 4:3
    photo at 288 x 384: 0.75x the work). The bundled detector is exported without it: trained on
    square letterboxes only, it finds more false plates on the shorter inputs (its card)."""
    h, w = _size(size)  # PlatePoseNet checks the multiples of 32
    if not isinstance(dynamic_hw, bool):
        raise InvalidArgumentError(f"dynamic_hw: expected True or False, got {dynamic_hw!r}")
    cfg = {"task": "pose", "name": "plate_pose", "labels": ["plate"],
           "preprocess": {"size": [h, w], "mode": "letterbox", "swap_rb": True, "pad_value": 114,
                          **({"stride": 32} if dynamic_hw else {})},
           "decoder": {"layout": "yolov8", "kpt_shape": [4, 2], "keypoint_names": list(KEYPOINTS),
                       "conf_threshold": 0.5, "iou_threshold": 0.45, "max_det": 20},
           "input_name": "images", "output_names": ["output0"], "layout": "NCHW"}
    return Built("plate_pose", "torch", PlatePoseNet((h, w), width, neck, dynamic_hw, act), cfg, (3, h, w))
