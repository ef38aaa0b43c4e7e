"""The runner base class: input checks live here, backends implement ``_infer_impl``.

The seam is closed (as in Polygraphy's ``infer`` / ``infer_impl``): callers use
``inputs``, ``outputs``, ``providers``, ``metadata`` and ``infer(feed, check=...)``
only, and never a backend object (an ONNX Runtime session, a TensorRT engine)
or a private method, so a new backend changes nothing outside this package.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from ..errors import InvalidArgumentError, InvalidTypeError


@dataclass(frozen=True)
class TensorInfo:
    """A model input or output: name, shape (ints, or None/str for dynamic axes) and numpy dtype."""

    name: str
    shape: tuple[int | str | None, ...]
    dtype: np.dtype

    def fixed(self, axis: int) -> int | None:
        """The size of ``axis`` if it is static, else None."""
        d = self.shape[axis] if axis < len(self.shape) else None
        return d if isinstance(d, int) and d > 0 else None


class Runner(abc.ABC):
    """A loaded model that maps named input arrays to output arrays.

    Subclasses set ``self.name``, ``self.inputs``, ``self.outputs`` and
    ``self.providers`` and implement ``metadata`` and ``_infer_impl``. ``infer`` is safe to call
    from several threads at once when the backend is (ONNX Runtime sessions are).
    """

    name: str
    path: str
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    providers: list[str]

    @property
    @abc.abstractmethod
    def metadata(self) -> dict[str, str]:
        """The model's string metadata (ONNX ``metadata_props``: the custom metadata map)."""

    def infer(self, feed: Mapping[str, np.ndarray], check: bool = True) -> list[np.ndarray]:
        """Runs the model. ``feed`` maps every input name to a C-contiguous array of
        the input's dtype and rank (static dimensions must match).

        ``check=False`` skips those checks, for a caller that built ``feed`` itself for
        this model's inputs (the Predictor's kernel writes the input buffer whose name,
        dtype and static shape it checked once at load time); a wrong feed is then
        reported by the backend in its own words.
        """
        if not check:
            return self._infer_impl(feed)
        names = {t.name for t in self.inputs}
        if set(feed) != names:
            raise InvalidArgumentError(f"feed: expected inputs {sorted(names)}, got {sorted(feed)}")
        for t in self.inputs:
            a = feed[t.name]
            if not isinstance(a, np.ndarray):
                raise InvalidTypeError(f"feed[{t.name!r}]: expected a numpy.ndarray, got {type(a).__name__}")
            if a.dtype != t.dtype:
                raise InvalidTypeError(f"feed[{t.name!r}]: expected dtype {t.dtype}, got {a.dtype}")
            if a.ndim != len(t.shape) or any(
                isinstance(d, int) and d > 0 and d != s for d, s in zip(t.shape, a.shape)
            ):
                raise InvalidArgumentError(f"feed[{t.name!r}]: expected shape {t.shape}, got {a.shape}")
        return self._infer_impl(feed)

    @abc.abstractmethod
    def _infer_impl(self, feed: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """Backend-specific inference on validated inputs."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r}, providers={self.providers})"
