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


class DecodeError(InvalidArgumentError):
    """A model output handed to a decoder (:mod:`edgevision.decoders`) has the wrong
    shape, size or content for that decoder, or a decoder option does not fit it.

    It is an :class:`InvalidArgumentError`, hence also an :class:`EdgeVisionError`
    and a :class:`ValueError`. The message names the argument (``out``,
    ``head_outputs[1]``, ``charset``...), what it got and the shape it expected.
    """


__all__ = ["EdgeVisionError", "InvalidArgumentError", "InvalidTypeError", "DecodeError"]


# ---------------------------------------------------------------------------
# Model configuration and metadata (edgevision.config)


class InvalidMetadataError(EdgeVisionError, ValueError):
    """Model configuration content is unusable: the ``edgevision`` metadata of an
    ONNX file, a config file (.json/.yaml) or a config dict.

    The message starts with the source (a path, or a description such as
    ``model.onnx (overrides)``) and the key path (``preprocess.mean``,
    ``decoder.heads[1].slots``). ``source``, ``path`` and ``detail`` hold those
    parts when they are known (else ``None``).
    """

    def __init__(self, message: str, *, source: str | None = None, path: str | None = None,
                 detail: str | None = None) -> None:
        super().__init__(message)
        self.source = source
        self.path = path
        self.detail = detail


class UnsupportedSchemaError(InvalidMetadataError):
    """The metadata declares a ``schema`` version this edgevision cannot read."""


class MissingConfigError(EdgeVisionError, ValueError):
    """The resolved model configuration lacks required keys.

    ``missing`` lists every missing key path (``task``, ``preprocess.size``,
    ``charset``, ``decoder.num_keypoints``...); the message shows an example call.
    """

    def __init__(self, message: str, *, missing: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.missing = tuple(missing)


class ModelLoadError(EdgeVisionError, OSError):
    """A model file is missing, is a directory, or is not a loadable ONNX model."""


class MissingDependencyError(EdgeVisionError, ImportError):
    """An optional package a feature needs (``onnx`` to write metadata, PyYAML for .yaml configs) is not installed."""


__all__ += [
    "InvalidMetadataError",
    "UnsupportedSchemaError",
    "MissingConfigError",
    "ModelLoadError",
    "MissingDependencyError",
]


# ---------------------------------------------------------------------------
# Predictor and backends (edgevision.predictor, edgevision.backends)


class ModelNotFoundError(ModelLoadError, FileNotFoundError):
    """A model path does not exist, or a bare name is not one of the bundled models."""


class ConfigMismatchError(EdgeVisionError, ValueError):
    """The configuration contradicts the model itself (input name, dtype, size or channels)."""


class ImageReadError(EdgeVisionError, OSError):
    """An image path is missing or cannot be decoded."""


__all__ += ["ModelNotFoundError", "ConfigMismatchError", "ImageReadError"]
