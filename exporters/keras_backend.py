"""Importing keras on the torch backend: :func:`import_keras`, a leaf module.

It is its own module so that both :mod:`exporters.keras_export` (which
registers the zoo's custom layers by importing :mod:`exporters.zoo.keras_models`)
and :mod:`exporters.zoo.keras_models` (which needs keras at import) can use it
without importing each other; ``exporters.keras_export.import_keras`` is the
same function, re-exported.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from edgevision.errors import MissingDependencyError

from .errors import ExportError


def import_keras() -> Any:
    """Import keras on the torch backend and return the module.

    Sets ``KERAS_BACKEND=torch`` (unless the variable is set) before the first
    ``import keras``. Keras picks its backend once per process, so if keras is
    already imported with another backend this raises :class:`ExportError`.

    Raises:
        MissingDependencyError: keras (or torch) is not installed, or keras cannot
            be imported with the backend ``KERAS_BACKEND`` names.
        ExportError: keras runs on another backend than torch.
    """
    if "keras" not in sys.modules:
        os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except ImportError as e:
        raise MissingDependencyError(
            f"import keras failed ({type(e).__name__}: {e}); the Keras exporter needs keras >= 3 and torch, "
            f"with KERAS_BACKEND=torch (now {os.environ.get('KERAS_BACKEND')!r})") from e
    backend = keras.backend.backend()
    if backend != "torch":
        raise ExportError(
            f"keras is running on the {backend!r} backend; the Keras exporter needs the torch backend "
            "(no TensorFlow involved). Set KERAS_BACKEND=torch before keras is first imported in this process "
            "(keras chooses its backend once, at import)")
    return keras


__all__ = ["import_keras"]
