"""The one call every user makes: ``Predictor(model)(image) -> result``.

``Predictor`` loads a model (a path, or the bare name of a model bundled with
the package), reads its ``edgevision`` metadata (the single source of truth for
preprocessing and decoding, see :mod:`edgevision.config`), and for each image
runs the compiled preprocessing kernel straight into the runtime's input
buffer, runs the model, and decodes the outputs into typed results in
source-image pixels.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import tasks
from .backends import Runner, load_runner
from .config import deep_merge, metadata_layer, resolve_config
from .errors import (
    ConfigMismatchError,
    ImageReadError,
    InvalidArgumentError,
    InvalidTypeError,
    ModelNotFoundError,
)
from .preprocess import image_channels, letterbox_batch, rect_size

#: Where bundled models live (package data).
MODELS_DIR = Path(__file__).resolve().parent / "models"
#: Largest batch sent in one call when the model's batch axis is dynamic.
MAX_BATCH = 32

_NP_TO_NAME = {np.dtype(np.float32): "float32", np.dtype(np.float16): "float16", np.dtype(np.uint8): "uint8"}


def bundled_models() -> list[str]:
    """File names of the models shipped with the package."""
    if not MODELS_DIR.is_dir():
        return []
    return sorted(p.name for p in MODELS_DIR.iterdir() if p.suffix in (".onnx", ".engine", ".plan"))


def resolve_model(model: str | os.PathLike) -> str:
    """A path as given if it exists; a bare file name resolved against the bundled models."""
    if not isinstance(model, (str, os.PathLike)):
        raise InvalidTypeError(f"model: expected a path or a bundled model name, got {type(model).__name__}")
    path = Path(model)
    if path.exists():
        return os.fspath(path)
    if len(path.parts) == 1:
        bundled = MODELS_DIR / path.name
        if bundled.exists():
            return os.fspath(bundled)
        names = bundled_models()
        raise ModelNotFoundError(
            f"model: {os.fspath(model)!r} is neither a file nor a bundled model "
            f"(bundled: {', '.join(names) if names else 'none in this install'})"
        )
    raise ModelNotFoundError(f"model: {os.fspath(model)}: no such file")


def _metadata_layer(custom: dict[str, str], path: str) -> dict[str, Any]:
    """The model's (possibly partial) ``edgevision`` entry from its metadata map, checked as
    :func:`~edgevision.config.read_metadata` checks it (strict JSON, schema, references); {} without one."""
    return metadata_layer(custom, path) or {}


def _inferred_defaults(runner: Runner, zero_channels: int = 0) -> dict[str, Any]:
    """What the model's own input signature says: name, dtype, layout, (static) size and channels. The
    tensor's channels count ``zero_channels`` channels the kernel writes as 0 (``preprocess.zero_channels``
    of the metadata): with one, a 4-channel input is 3 colour channels, not BGRA."""
    if len(runner.inputs) != 1:
        raise InvalidArgumentError(
            f"model: {runner.path} has {len(runner.inputs)} inputs {[t.name for t in runner.inputs]}; "
            "the Predictor drives single-image-input models"
        )
    t = runner.inputs[0]
    out: dict[str, Any] = {"input": {"name": t.name}}
    if t.dtype in _NP_TO_NAME:
        out["input"]["dtype"] = _NP_TO_NAME[t.dtype]
    if len(t.shape) == 4:
        c1, c3 = t.fixed(1), t.fixed(3)
        layout = "NHWC" if (c3 in (1, 3, 4) and c1 not in (1, 3, 4)) else "NCHW"
        out["input"]["layout"] = layout
        h, w = (t.fixed(2), t.fixed(3)) if layout == "NCHW" else (t.fixed(1), t.fixed(2))
        c = c1 if layout == "NCHW" else c3
        if c is not None:
            c -= zero_channels
        pre: dict[str, Any] = {}
        if h and w:
            pre["size"] = [h, w]
        if c in (1, 3, 4):
            pre["channels"] = c
        if pre:
            out["preprocess"] = pre
    return out


def load_image(x: Any, name: str = "image", channels: int = 3) -> np.ndarray:
    """An image path or a uint8 array -> the uint8 array a model with ``channels`` takes.

    Paths are read with OpenCV (BGR, or gray for ``channels == 1``); arrays go
    through the kernel's image checks (uint8 HxW or HxWxC, C in 1, 3, 4) and
    BGR(A) is converted to gray for 1-channel models. ``name`` is the argument
    named in errors (:class:`~edgevision.errors.ImageReadError` for a missing or
    undecodable file, :class:`~edgevision.errors.InvalidTypeError` otherwise).
    """
    if isinstance(x, (str, os.PathLike)):
        import cv2

        path = os.fspath(x)
        if not os.path.isfile(path):
            raise ImageReadError(f"{name}: {path}: no such image file")
        img = cv2.imread(path, cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR)
        if img is None:
            raise ImageReadError(f"{name}: {path}: OpenCV cannot decode this file as an image")
        return img
    if not isinstance(x, np.ndarray):
        raise InvalidTypeError(f"{name}: expected an image path or a numpy uint8 array, got {type(x).__name__}")
    cn = image_channels(x, name)  # the kernel's own image checks
    if channels == 1 and cn in (3, 4):
        import cv2

        return cv2.cvtColor(x, cv2.COLOR_BGR2GRAY if x.shape[2] == 3 else cv2.COLOR_BGRA2GRAY)
    return x


def load_images(x: Any, channels: int = 3) -> tuple[list[np.ndarray], bool]:
    """One image (path or array) or a list of them -> ``(images, single)``: the uint8 arrays of
    :func:`load_image` (named ``x`` or ``x[i]`` in errors) and whether ``x`` was one image.

    Raises InvalidArgumentError for an empty list."""
    single = not isinstance(x, (list, tuple))
    items = [x] if single else list(x)
    if not items:
        raise InvalidArgumentError("x: expected an image or a non-empty list of images")
    names = ["x"] if single else [f"x[{i}]" for i in range(len(items))]
    return [load_image(item, nm, channels) for item, nm in zip(items, names)], single


class Predictor:
    """Load a model once, then call it on images.

    Args:
        model: path to an ``.onnx`` model (fp32, fp16 or int8 QDQ), or the bare
            file name of a bundled model (works offline, from any directory).
        backend: ``auto`` or ``onnxruntime`` (TensorRT engines: not yet).
        device: ``auto``, ``cpu``, ``cuda[:N]`` or ``tensorrt[:N]``.
        threads: inference threads (None: the runtime's default), and the most
            threads the preprocessing kernel's own pool uses for this model's
            input (None: all hardware threads; the kernel takes one per 64K output
            pixels at most).
        config: extra configuration (a dict or a JSON/YAML file) merged over the
            model's metadata; ``**overrides`` (the same keys) are merged last.
        warmup: run one inference at load time so the first real call is not slow.

    Calls: ``p(x)`` / ``p.predict(x)`` where ``x`` is an image path, a uint8
    HxW/HxWxC BGR array (as ``cv2.imread`` returns), or a list of them. One
    input gives one result; a list gives a list. Results are in source-image
    pixels. A Predictor may be called from many threads at once.
    """

    def __init__(self, model: str | os.PathLike, *, backend: str = "auto", device: str = "auto",
                 threads: int | None = None, config: dict | str | os.PathLike | None = None,
                 warmup: bool = True, **overrides: Any) -> None:
        self.path = resolve_model(model)
        self.runner = load_runner(self.path, backend=backend, device=device, threads=threads)
        # Layers, lowest first: what the model's input signature says, its (possibly
        # partial) edgevision metadata, then `config`, then keyword overrides.
        custom = self.runner.metadata  # the backend's string metadata: no session, any Runner
        meta = _metadata_layer(custom, self.path)
        pre_meta = meta.get("preprocess")
        zero = 1 if isinstance(pre_meta, dict) and pre_meta.get("zero_channels") == 1 else 0
        base = deep_merge(_inferred_defaults(self.runner, zero), meta)
        self.config = resolve_config(base, config, overrides, source=self.path, model_metadata=custom)
        self._check_against_model()
        self._size, self._pre = self.config.preprocess_kwargs()
        if threads is not None:  # load_runner checked it; the kernel's pool honours it too
            self._pre = {**self._pre, "threads": threads}
        self._stride = self.config.stride
        self._input = self.runner.inputs[0]
        batch = self._input.fixed(0)
        self._batch = batch if batch else MAX_BATCH
        self._fixed_batch = batch is not None
        self._decode = self._make_decoder()
        if warmup:
            self.warmup()

    # --- properties -----------------------------------------------------------

    @property
    def backend(self) -> str:
        """The backend in use (``onnxruntime``)."""
        return self.runner.name

    @property
    def providers(self) -> list[str]:
        """The execution providers in use, best first."""
        return list(self.runner.providers)

    @property
    def task(self) -> str:
        return self.config.task

    @property
    def batch_size(self) -> int | None:
        """The model's fixed batch size, or None when its batch axis is dynamic."""
        return self._batch if self._fixed_batch else None

    def __repr__(self) -> str:
        return f"Predictor({self.path!r}, task={self.task!r}, backend={self.backend!r}, providers={self.providers})"

    # --- checks ---------------------------------------------------------------

    def _check_against_model(self) -> None:
        """An override must not contradict the model's actual input signature."""
        t = self.runner.inputs[0]
        cfg = self.config
        if cfg.input_name not in (None, t.name):
            raise ConfigMismatchError(f"input.name: config says {cfg.input_name!r}, the model's input is {t.name!r}")
        if t.dtype in _NP_TO_NAME and cfg.dtype != _NP_TO_NAME[t.dtype]:
            raise ConfigMismatchError(f"input.dtype: config says {cfg.dtype}, the model takes {_NP_TO_NAME[t.dtype]}")
        if len(t.shape) != 4:
            raise ConfigMismatchError(f"model: input {t.name!r} has shape {t.shape}; expected a 4-d image batch")
        size, kw = cfg.preprocess_kwargs()
        h, w = size
        layout = kw.get("layout", "NCHW")
        dims = (t.fixed(2), t.fixed(3), t.fixed(1)) if layout == "NCHW" else (t.fixed(1), t.fixed(2), t.fixed(3))
        channels = cfg.input_channels
        for what, want, have in (("height", h, dims[0]), ("width", w, dims[1]), ("channels", channels, dims[2])):
            if have is not None and want != have:
                raise ConfigMismatchError(
                    f"preprocess: {what} {want} ({layout}) contradicts the model's input {t.name!r} of shape {t.shape}"
                )
        if cfg.stride is not None and (dims[0] is not None or dims[1] is not None):
            raise ConfigMismatchError(
                f"preprocess.stride: {cfg.stride} needs the model's height and width axes dynamic; its input "
                f"{t.name!r} has shape {t.shape}")

    # --- running --------------------------------------------------------------

    def predict(self, x: Any) -> Any:
        """Results for one image (path or array) or a list of them; see the class docs."""
        images, single = load_images(x, self._pre.get("channels") or 3)
        results: list[Any] = []
        for start in range(0, len(images), self._batch):
            results.extend(self._run(images[start:start + self._batch]))
        return results[0] if single else results

    __call__ = predict

    def _run(self, images: Sequence[np.ndarray]) -> list[Any]:
        blob, transforms = self.preprocess(images)
        # The kernel wrote ``blob`` for this model's input (name, dtype and static shape were
        # checked against the model at construction), so the backend's per-call feed check
        # that the public ``infer`` does is skipped here.
        outputs = self.runner.infer({self._input.name: blob}, check=False)
        return self._decode(outputs, transforms, list(images), len(images))

    # --- the three stages of a call (public, so that they can be timed or run apart) ---

    def preprocess(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, list[Any]]:
        """Stage 1 of a call: the compiled kernel writes the model's input tensor.

        Args:
            images: a non-empty list of already-loaded images, uint8 HxW (gray) or
                HxWxC BGR(A) arrays as ``cv2.imread`` returns them, with the channels
                the model takes (``p.predict`` converts BGR to gray for 1-channel
                models; this stage does not). At most the model's batch size when its
                batch axis is fixed (:attr:`batch_size`).

        With ``preprocess.stride`` in the config (a model whose height and width axes are
        dynamic), the tensor is the smallest multiple of the stride that holds every image of the
        batch letterboxed as into ``preprocess.size`` (:func:`~edgevision.preprocess.rect_size`),
        not ``size`` itself: the same scale, less padding to compute.

        Returns:
            ``(blob, transforms)``: the input tensor in the model's layout and dtype
            (for a fixed batch axis, filled up to the batch size with the last image),
            and one :class:`~edgevision.LetterboxTransform` per image (model-input
            pixels <-> source pixels).
        """
        if not isinstance(images, (list, tuple)) or not images:
            raise InvalidArgumentError(
                f"images: expected a non-empty list of uint8 image arrays, got {type(images).__name__}"
                + (" of length 0" if isinstance(images, (list, tuple)) else ""))
        n = len(images)
        batch = list(images)
        if self._fixed_batch:
            if n > self._batch:
                raise InvalidArgumentError(
                    f"images: {n} images, but the model's batch axis is fixed at {self._batch}; "
                    "pass at most that many (p.predict splits longer lists)")
            if n < self._batch:  # a fixed batch axis: fill with the last image
                batch += [batch[-1]] * (self._batch - n)
        size = self._size
        if self._stride is not None:  # the smallest input that holds the batch (preprocess.stride)
            size = rect_size([im.shape[:2] for im in batch], size, self._stride,
                             scaleup=bool(self._pre.get("scaleup", True)))
        blob, transforms = letterbox_batch(batch, size, **self._pre)
        return blob, transforms[:n]

    def infer(self, blob: np.ndarray) -> list[np.ndarray]:
        """Stage 2 of a call: runs the model on an input tensor from :meth:`preprocess`;
        returns its outputs (numpy arrays, in the model's output order)."""
        return self.runner.infer({self._input.name: blob})

    def postprocess(self, outputs: Sequence[np.ndarray], transforms: Sequence[Any],
                    images: Sequence[np.ndarray]) -> list[Any]:
        """Stage 3 of a call: decodes :meth:`infer`'s outputs into one typed result per
        image, in source-image pixels (through ``transforms`` from :meth:`preprocess`).

        ``images`` are the images given to :meth:`preprocess` (results keep them for
        ``plot()``); outputs beyond ``len(images)`` (the fill of a fixed batch) are ignored.
        """
        n = len(images)
        if len(transforms) != n:
            raise InvalidArgumentError(
                f"transforms: expected one transform per image ({n}), got {len(transforms)}; "
                "pass the transforms preprocess() returned for these images")
        return self._decode(list(outputs), list(transforms), list(images), n)

    def warmup(self) -> None:
        """One inference on a blank image of the input size (allocations, kernel selection)."""
        size = self._size if isinstance(self._size, (list, tuple)) else (self._size, self._size)
        channels = self._pre.get("channels") or 3
        shape = (size[0], size[1]) if channels == 1 else (size[0], size[1], channels)
        self._run([np.zeros(shape, np.uint8)])

    # --- decoding -------------------------------------------------------------

    def _make_decoder(self) -> tasks.Decode:
        """The task's decoder, built by its spec in the task registry (:mod:`edgevision.tasks`)."""
        spec = tasks.get_task(self.config.task)
        return spec.build(self.config, tasks.Outputs(tuple(t.name for t in self.runner.outputs)))
