"""Inference backends, Polygraphy style: one small base class (:class:`Runner`)
owns the public surface; each backend implements only ``_infer_impl``.

Heavy modules are imported lazily: importing ``edgevision`` or this package
never imports onnxruntime, tensorrt or pycuda; :func:`load_runner` imports the
one it needs.
"""

from __future__ import annotations

import os
from typing import Any

from .base import Runner, TensorInfo

BACKENDS = ("auto", "onnxruntime", "tensorrt")

__all__ = ["BACKENDS", "Runner", "TensorInfo", "load_runner"]


def load_runner(path: str | os.PathLike, *, backend: str = "auto", device: str = "auto",
                threads: int | None = None, **options: Any) -> Runner:
    """Opens ``path`` with the best available backend.

    ``backend="auto"`` picks ONNX Runtime for ``.onnx`` files (with the best of
    its execution providers for ``device``); ``.engine``/``.plan`` TensorRT
    engines are not supported yet (an open issue), and say so.
    """
    from ..errors import InvalidArgumentError

    if not isinstance(backend, str) or backend not in BACKENDS:
        raise InvalidArgumentError(f"backend: expected one of {list(BACKENDS)}, got {backend!r}")
    suffix = os.fspath(path).lower().rsplit(".", 1)[-1]
    if backend == "tensorrt" or suffix in ("engine", "plan"):
        raise InvalidArgumentError(
            f"backend: TensorRT engines ({os.fspath(path)}) are not supported yet; "
            "run the .onnx model (ONNX Runtime, optionally with its TensorRT execution provider: device='tensorrt')"
        )
    from .onnxruntime import OnnxRuntimeRunner

    return OnnxRuntimeRunner(path, device=device, threads=threads, **options)
