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

__all__ = ["CCPDNameError", "DatasetExistsError", "DatasetNotFoundError", "EmptyDatasetError", "FontNotFoundError"]


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


class DatasetExistsError(EdgeVisionError, FileExistsError):
    """A dataset writer was asked to write where a dataset (a ``manifest.jsonl``) already
    is, without ``overwrite=True``. ``path`` holds the existing manifest."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class FontNotFoundError(EdgeVisionError, FileNotFoundError):
    """No usable CJK font: none found, or the one named (``font=``, ``$EDGEVISION_CJK_FONT``)
    is missing, unreadable or lacks glyphs for the characters to draw
    (:mod:`calibration.fonts`). The message gives the install command
    (``apt-get install fonts-wqy-microhei``); ``tried`` lists the files looked at."""

    def __init__(self, message: str, *, tried: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.tried = tuple(tried)


class QuantizationError(EdgeVisionError, RuntimeError):
    """onnxruntime.quantization could not quantize or convert a model (:mod:`calibration.quantize`),
    or the result does not load. The message names the model, the step (``pre-process``,
    ``quantize_static``, ``load``...) and onnxruntime's reason; ``step`` holds the step."""

    def __init__(self, message: str, *, step: str) -> None:
        super().__init__(message)
        self.step = step


__all__ += ["QuantizationError"]
