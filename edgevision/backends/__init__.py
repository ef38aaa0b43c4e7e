"""Inference backends, Polygraphy style: one small base class (:class:`Runner`)
owns the public surface; each backend implements only ``metadata`` and ``_infer_impl``.

The seam is closed: outside this package nothing touches a backend's own objects
(an ONNX Runtime session, a TensorRT engine) or a private method. Callers use
:class:`Runner`'s ``inputs``, ``outputs``, ``providers``, ``metadata`` (the model's
string metadata) and ``infer(feed, check=True)``.

:func:`load_runner` picks the runner class from two tables: :data:`FILE_TYPES`
(file suffix -> backend name, for ``backend="auto"``) and :data:`RUNNERS` (backend
name -> ``(module, class)``, imported lazily, or None for a backend that has no
runner yet). Adding a backend is one module here and one entry in each table.

TensorRT: ``.engine``/``.plan`` files map to the ``tensorrt`` backend, whose
:data:`RUNNERS` entry is None today (no TensorRT runner is written yet), so they,
and ``backend="tensorrt"``, fail at once with an :class:`InvalidArgumentError`
that names the file and says to run the ``.onnx`` model with ONNX Runtime's
TensorRT execution provider instead (``device="tensorrt"``), the behaviour before
the tables. A future runner fills in the entry; nothing else changes.

Heavy modules are imported lazily: importing ``edgevision`` or this package
never imports onnxruntime, tensorrt or pycuda; :func:`load_runner` imports the
one it needs.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from .base import Runner, TensorInfo

BACKENDS = ("auto", "onnxruntime", "tensorrt")

#: File suffix (lower case, with the dot) -> the backend ``backend="auto"`` uses for it.
FILE_TYPES: dict[str, str] = {
    ".onnx": "onnxruntime",
    ".engine": "tensorrt",
    ".plan": "tensorrt",
}

#: Backend name -> (module, Runner subclass), imported on first use; None: no runner yet.
RUNNERS: dict[str, tuple[str, str] | None] = {
    "onnxruntime": ("edgevision.backends.onnxruntime", "OnnxRuntimeRunner"),
    "tensorrt": None,
}

#: The backend for a file whose suffix is not in :data:`FILE_TYPES` (ONNX Runtime says what it cannot load).
DEFAULT_BACKEND = "onnxruntime"

__all__ = ["BACKENDS", "DEFAULT_BACKEND", "FILE_TYPES", "RUNNERS", "Runner", "TensorInfo", "load_runner"]


def _not_supported(backend: str, path: str) -> Exception:
    from ..errors import InvalidArgumentError

    if backend == "tensorrt":
        return InvalidArgumentError(
            f"backend: TensorRT engines ({path}) are not supported yet; "
            "run the .onnx model (ONNX Runtime, optionally with its TensorRT execution provider: device='tensorrt')"
        )
    return InvalidArgumentError(f"backend: {backend!r} has no runner yet ({path})")


def load_runner(path: str | os.PathLike, *, backend: str = "auto", device: str = "auto",
                threads: int | None = None, **options: Any) -> Runner:
    """Opens ``path`` with the runner for its file type (or for ``backend``).

    ``backend="auto"`` looks the suffix up in :data:`FILE_TYPES` (ONNX Runtime for
    ``.onnx`` and anything unknown, with the best of its execution providers for
    ``device``); ``.engine``/``.plan`` TensorRT engines are not supported yet (an
    open issue), and say so.
    """
    from ..errors import InvalidArgumentError

    if not isinstance(backend, str) or backend not in BACKENDS:
        raise InvalidArgumentError(f"backend: expected one of {list(BACKENDS)}, got {backend!r}")
    path_s = os.fspath(path)
    by_type = FILE_TYPES.get(os.path.splitext(path_s)[1].lower())
    # An engine file is never handed to another backend: the file type wins over ``backend``.
    name = backend if backend != "auto" and by_type != "tensorrt" else (by_type or DEFAULT_BACKEND)
    entry = RUNNERS.get(name)
    if entry is None:
        raise _not_supported(name, path_s)
    module, cls = entry
    runner_cls = getattr(importlib.import_module(module), cls)
    return runner_cls(path, device=device, threads=threads, **options)
