"""The reference architectures, importable by name (no framework is imported until one is built).

    from exporters import zoo
    zoo.names()                                   # every architecture
    built = zoo.build("lpl_resnet18")             # -> Built(model, config, input_shape, output_names, framework)
    built = zoo.build("plate_ocr_crnn", num_slots=8)

Each entry lives in :mod:`exporters.zoo.torch_models` (PyTorch) or
:mod:`exporters.zoo.keras_models` (Keras 3). A builder returns the untrained
model *and* its ``edgevision`` config (task, preprocess, labels/charset,
decoder), so the export of any architecture is self-describing. Trained
weights come from the recipes in ``training/`` (or the user's own ``--weights``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import UnknownArchitectureError

#: Names of the 4 plate/screen corner keypoints, in the output order (clockwise from top-left).
CORNER_NAMES = ("top_left", "top_right", "bottom_right", "bottom_left")


@dataclass
class Built:
    """An architecture instance plus everything its export needs.

    ``config`` holds the keyword arguments of the exporters (``task``,
    ``preprocess``, ``labels``, ``charset``, ``decoder``, ``name``, ``layout``,
    ``input_name``, ``output_names``); ``input_shape`` is the per-image input
    (C, H, W) for NCHW or (H, W, C) for NHWC.
    """

    name: str
    framework: str                 #: "torch" or "keras"
    model: Any
    config: dict[str, Any]
    input_shape: tuple[int, int, int]
    notes: dict[str, Any] = field(default_factory=dict)

    def export_kwargs(self) -> dict[str, Any]:
        return dict(self.config)


@dataclass(frozen=True)
class Entry:
    name: str
    framework: str
    target: str        #: "module:function"
    seed: str          #: the reference document it comes from
    description: str

    def builder(self) -> Callable[..., Built]:
        mod, fn = self.target.split(":")
        return getattr(importlib.import_module(mod), fn)


_T = "exporters.zoo.torch_models"
_K = "exporters.zoo.keras_models"
REGISTRY: dict[str, Entry] = {e.name: e for e in (
    Entry("lpl_resnet18", "torch", f"{_T}:lpl_resnet18", "000",
          "plate corners: ResNet-18 encoder + 2 linear layers -> 8 outputs (4 corners TL,TR,BR,BL, normalized)"),
    Entry("plate_ocr_cnn", "torch", f"{_T}:plate_ocr_cnn", "003",
          "CCPD plate OCR: CNN, one column per character slot; heads: 31 provinces (slot 0), 35 symbols (slots 1..)"),
    Entry("plate_ocr_crnn", "torch", f"{_T}:plate_ocr_crnn", "003",
          "CCPD plate OCR: the CNN plus a 2-layer bidirectional LSTM; same two heads, plus a one-row/two-row head"),
    Entry("plate_ocr_ctc", "torch", f"{_T}:plate_ocr_ctc", "003",
          "CCPD plate OCR: the CRNN with a CTC head over 4 time steps a slot (any length up to 8), "
          "plus the one-row/two-row head"),
    Entry("yolo_tiny", "torch", f"{_T}:yolo_tiny", "002",
          "small anchor-free single-stage detector, YOLOv8 output layout (N, 4+classes, anchors)"),
    Entry("plate_pose", "torch", "exporters.zoo.pose_models:plate_pose", "016",
          "plate detector, YOLO-pose style: box, score and 4 corners of every plate; YOLOv8-pose layout (N, 4+1+8, anchors)"),
    Entry("tutorial_mlp", "torch", f"{_T}:tutorial_mlp", "002",
          "the tutorial perceptron: 28x28 gray -> 784 -> 100 -> 50 -> 10 classes"),
    Entry("tutorial_lstm", "torch", f"{_T}:tutorial_lstm", "002",
          "the tutorial LSTM classifier: a 30x30 gray image read as 30 steps of 30 features -> 15 classes"),
    Entry("meter_corners", "keras", f"{_K}:meter_corners", "001",
          "meter reading stage 1: 4 screen corners + class (analog / digital / illegible)"),
    Entry("meter_digits", "keras", f"{_K}:meter_digits", "001",
          "meter reading stage 2: RetinaNet-style detector of the digit boxes and the decimal area on a light backbone"),
    Entry("meter_digit_cls", "keras", f"{_K}:meter_digit_cls", "001",
          "meter reading stage 2: the 32x20 digit classifier (soft targets give a drum's tenths)"),
    Entry("siamese_xception", "keras", f"{_K}:siamese_xception", "004",
          "captcha matching: Xception backbone (weights=None) + linear projection, L2-normalized embedding"),
    Entry("siamese_xception_small", "keras", f"{_K}:siamese_xception_small", "004",
          "captcha matching at edge size: a narrow Xception (separable residual blocks) + projection, L2-normalized "
          "(the bundled siamese_icons)"),
)}


def names(framework: str | None = None) -> list[str]:
    """Architecture names, optionally only those of one framework (``torch`` or ``keras``)."""
    return [n for n, e in REGISTRY.items() if framework in (None, e.framework)]


def entry(name: str) -> Entry:
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownArchitectureError(f"arch: unknown architecture {name!r}; expected one of {names()}") from None


def build(name: str, **kwargs: Any) -> Built:
    """Build architecture ``name`` (untrained); ``kwargs`` go to its builder (e.g. ``size``, ``num_slots``)."""
    return entry(name).builder()(**kwargs)


__all__ = ["CORNER_NAMES", "Built", "Entry", "REGISTRY", "names", "entry", "build"]
