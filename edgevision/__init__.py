"""edgevision: an ONNX/TensorRT edge inference SDK with a compiled preprocessing kernel.

Importing edgevision loads numpy and the compiled kernel only; heavy backends
(onnxruntime-gpu, tensorrt, pycuda) are imported lazily where they are used,
and torch/keras never (they belong to the host-side ``exporters`` package).
"""

from __future__ import annotations

from typing import Any

from .errors import EdgeVisionError, InvalidArgumentError, InvalidTypeError
from .preprocess import LetterboxTransform, kernel_info, letterbox, letterbox_batch, simd, warp_quad

# Imported on first use, so that `import edgevision` stays light (numpy and the kernel only).
_LAZY = {
    "Predictor": "predictor",
    "ModelConfig": "config",
    "KeypointsResult": "results",
    "TextResult": "results",
    "DetectionResult": "results",
    "PoseResult": "results",
    "ClassificationResult": "results",
    "EmbeddingResult": "results",
    "RawResult": "results",
    "nearest_match": "results",
    "PlateReader": "plates",
    "PlateReading": "plates",
    "PlateScene": "plates",
    "SiameseMatcher": "matching",
    "MatchResult": "matching",
    "MeterReader": "meters",
    "MeterReading": "meters",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'edgevision' has no attribute {name!r}")

__version__ = "0.1.0"

__all__ = [
    *_LAZY,
    "EdgeVisionError",
    "InvalidArgumentError",
    "InvalidTypeError",
    "LetterboxTransform",
    "kernel_info",
    "letterbox",
    "letterbox_batch",
    "simd",
    "warp_quad",
    "__version__",
]
