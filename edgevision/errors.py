"""All edgevision exceptions live here.

Every error is a subclass of :class:`EdgeVisionError`. Argument errors also
derive from the matching built-in (``ValueError``/``TypeError``) so callers can
catch either. Messages name the argument or path, what was wrong, and what was
expected.
"""

from __future__ import annotations


class EdgeVisionError(Exception):
    """Base class of every edgevision error."""


class InvalidArgumentError(EdgeVisionError, ValueError):
    """An argument has the right type but an unusable value (shape, range, length...)."""


class InvalidTypeError(EdgeVisionError, TypeError):
    """An argument has the wrong type or dtype."""


__all__ = ["EdgeVisionError", "InvalidArgumentError", "InvalidTypeError"]
