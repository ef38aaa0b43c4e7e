"""``edgevision serve``: an HTTP service for plate reading and any loaded model (FastAPI + uvicorn).

    pip install 'edgevision[serve]'
    edgevision serve --port 8080                      # bundled plate pipeline
    curl --data-binary @car.jpg -H 'Content-Type: image/jpeg' localhost:8080/recognize

    from edgevision.serve import ServeConfig, create_app
    app = create_app(ServeConfig(models=("lpl_resnet_int8.onnx",), pipeline=None))   # any ASGI server

Endpoints: ``POST /recognize``, ``POST /predict/{model}``, ``GET /health``,
``GET /models``, ``GET /metrics`` (Prometheus), ``GET /docs`` (OpenAPI; the
schema itself at ``/openapi.json``). Every error is JSON with a stable code
(:data:`edgevision.serve.app.ERROR_CODES`). The README's "HTTP service"
section describes the answers, the limits and the deployment images.

Importing this package needs no web framework: :class:`ServeConfig` is plain
data, and ``create_app``/``serve`` import FastAPI and uvicorn (the ``[serve]``
extra) on first use, raising :class:`~edgevision.errors.MissingDependencyError`
without them.
"""

from __future__ import annotations

from typing import Any

from .config import PIPELINES, ServeConfig

_LAZY = {"create_app": "app", "serve": "app", "ERROR_CODES": "app", "Engine": "engine"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'edgevision.serve' has no attribute {name!r}")


__all__ = ["ServeConfig", "PIPELINES", *_LAZY]
