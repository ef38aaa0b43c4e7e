"""Errors of the host-side ``calibration`` package.

Each is an :class:`edgevision.errors.EdgeVisionError` and derives from the matching
built-in (``ValueError``/``FileNotFoundError``), so callers can catch either. Messages
name the file or argument, what was wrong, and what was expected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgevision.errors import EdgeVisionError

if TYPE_CHECKING:  # pragma: no cover
    from .readers import ReadReport

__all__ = ["CCPDNameError", "EmptyDatasetError", "DatasetNotFoundError"]


class CCPDNameError(EdgeVisionError, ValueError):
    """A file name does not follow the CCPD convention (:mod:`calibration.ccpd`).

    The message starts with the file name and names the malformed field (``area``,
    ``tilt``, ``bbox``, ``vertices``, ``plate``, ``brightness``, ``blur``, or
    ``fields`` when the name does not split into seven fields). ``name``, ``field``
    and ``detail`` hold those parts.
    """

    def __init__(self, message: str, *, name: str, field: str, detail: str) -> None:
        super().__init__(message)
        self.name = name
        self.field = field
        self.detail = detail


class EmptyDatasetError(EdgeVisionError, ValueError):
    """A source (manifest, folder) yielded no usable sample.

    The message says why (the report's summary and its first problems); ``report``
    is the :class:`~calibration.readers.ReadReport` with every count.
    """

    def __init__(self, message: str, *, report: ReadReport) -> None:
        super().__init__(message)
        self.report = report


class DatasetNotFoundError(EdgeVisionError, FileNotFoundError):
    """A dataset path (manifest file or image folder) does not exist. ``path`` holds it."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path
