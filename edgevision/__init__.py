"""edgevision: an ONNX/TensorRT edge inference SDK with a compiled preprocessing kernel.

Importing edgevision loads numpy and the compiled kernel only; heavy backends
(onnxruntime-gpu, tensorrt, pycuda) are imported lazily where they are used,
and torch/keras never (they belong to the host-side ``exporters`` package).
"""

from __future__ import annotations

from .errors import EdgeVisionError, InvalidArgumentError, InvalidTypeError
from .preprocess import LetterboxTransform, kernel_info, letterbox, letterbox_batch, simd, warp_quad

__version__ = "0.1.0"

__all__ = [
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
