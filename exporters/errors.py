"""Exporter errors. Each one is an :class:`edgevision.errors.EdgeVisionError`.

Messages name what failed (the operator or layer, the output and its error
figures, the missing or unexpected weight keys) and what was expected.
"""

from __future__ import annotations

from typing import Any, Sequence

from edgevision.errors import EdgeVisionError, InvalidArgumentError


class ExportError(EdgeVisionError, RuntimeError):
    """The framework could not produce a valid ONNX model."""


class UnsupportedOperatorError(ExportError):
    """An operator (PyTorch) or layer (Keras) has no ONNX conversion.

    ``operator`` names it (``aten::linalg_eigh``) when the framework's message says
    which one, ``None`` otherwise; ``layers`` lists the Keras layers that run it
    (empty for PyTorch, or when unknown).
    """

    def __init__(self, message: str, *, operator: str | None = None, layers: list[str] | tuple = ()) -> None:
        super().__init__(message)
        self.operator = operator
        self.layers = list(layers)


class ParityError(ExportError):
    """ONNX Runtime's outputs differ from the framework's beyond the tolerance.

    ``report`` is the :class:`exporters.parity.ParityReport` with every figure.
    """

    def __init__(self, message: str, *, report: Any) -> None:
        super().__init__(message)
        self.report = report


class WeightsError(EdgeVisionError, ValueError):
    """A weights file cannot be read, or does not fit the architecture.

    ``missing`` and ``unexpected`` list the state-dict keys the model expects but
    the file lacks, and the keys the file has but the model does not;
    ``mismatched`` lists ``(key, file_shape, model_shape)``.
    """

    def __init__(self, message: str, *, missing: Sequence[str] = (), unexpected: Sequence[str] = (),
                 mismatched: Sequence[tuple[str, tuple, tuple]] = ()) -> None:
        super().__init__(message)
        self.missing = list(missing)
        self.unexpected = list(unexpected)
        self.mismatched = list(mismatched)


class UnknownArchitectureError(InvalidArgumentError, KeyError):
    """``arch``: no architecture of that name in the zoo."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


__all__ = ["ExportError", "UnsupportedOperatorError", "ParityError", "WeightsError", "UnknownArchitectureError"]
