"""Keras 3 -> self-describing ONNX (:func:`export_keras`) and checked weight loading (:func:`load_keras_weights`).

No TensorFlow is needed: Keras 3 runs on its torch backend, where a
``keras.Model`` *is* a ``torch.nn.Module``. The model is wrapped in a small
module that calls ``model(x, training=False)`` and exported with
``torch.onnx.export``; then the shared pipeline of :mod:`exporters.finalize`
(onnxslim, shape inference, full checker, dynamic batch check, metadata) and
a parity check against the model's own ``predict``.

Why not the other routes:

- ``tf2onnx`` needs TensorFlow and is broken with NumPy 2 / Keras 3;
- ``model.export(format="onnx")`` on the torch backend uses the TorchScript
  exporter whenever the batch axis is dynamic, and fails on models with a
  strided ``"same"`` convolution or pooling (Xception among them): Keras
  computes the asymmetric "same" padding in Python from ``x.shape``; under the
  TorchScript tracer those sizes are traced tensors, so the padding handed to
  ``max_pool2d``/``conv2d`` becomes a runtime value, which the ONNX converter
  refuses ("Failed to export a node ... because it is not constant").
  :func:`export_keras` fixes this by computing that padding from Python ints
  during the trace (spatial sizes are static in an edgevision export: only
  the batch axis is dynamic). The dynamo exporter (``torch.export``) does not
  have the problem but is several times slower: its ``torch.onnx.export`` step
  takes about 25 s for Xception on two cores against 4 s (20 s against 2 s for
  the small meter models), hence the TorchScript default.

keras and torch are imported here (and in :mod:`exporters.zoo.keras_models`)
only, never by the ``edgevision`` runtime. :func:`import_keras` selects the
torch backend (``KERAS_BACKEND=torch``) if keras is not imported yet.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
import threading
import warnings
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgevision._io import atomic_output
from edgevision.checks import is_int
from edgevision.config import ModelConfig
from edgevision.errors import (
    InvalidArgumentError,
    InvalidTypeError,
    ModelLoadError,
    ModelNotFoundError,
)

from .errors import ExportError, ParityError, UnsupportedOperatorError, WeightsError
from .keras_backend import import_keras
from .finalize import (DEFAULT_OPSET, ExportResult, build_config, finalize, input_shape, parity_inputs, quiet,
                       torchscript_log_off)
from .parity import DEFAULT_ATOL, DEFAULT_RTOL, check_parity
from .torch_export import unsupported_error

#: ``exporter=`` values; the first is the default (see the module docs for the choice).
EXPORTERS = ("torchscript", "dynamo")
LAYOUTS = ("NHWC", "NCHW")
_EXPORT_LOCK = threading.Lock()  # the same-padding fix patches a keras module attribute for the trace


# --- the TorchScript same-padding fix -------------------------------------------------------


@contextlib.contextmanager
def _static_same_padding() -> Iterator[None]:
    """During a TorchScript trace, compute Keras' "same" padding from Python ints.

    ``keras.src.backend.torch.nn._compute_padding_length`` gets ``x.shape[i]``,
    which the tracer turns into a traced tensor; ``int()`` makes it the constant
    it is (the spatial size of an edgevision export is fixed). Outside a trace
    ``int()`` of an int is a no-op, so the patch is harmless; it is undone on exit.
    If keras renames the function the patch is skipped (and a strided "same"
    layer may then fail with exporter="torchscript": use "dynamo").
    """
    try:
        from keras.src.backend.torch import nn as knn
    except ImportError:  # pragma: no cover - depends on the keras version
        yield
        return
    orig = getattr(knn, "_compute_padding_length", None)
    if orig is None:  # pragma: no cover - depends on the keras version
        yield
        return

    def static(input_length: Any, kernel_length: Any, stride: Any, dilation_rate: Any = 1) -> Any:
        if input_length is not None:
            input_length = int(input_length)
        return orig(input_length, kernel_length, stride, dilation_rate)

    knn._compute_padding_length = static
    try:
        yield
    finally:
        knn._compute_padding_length = orig


# --- model handling -------------------------------------------------------------------------


def _flatten(out: Any) -> list[Any]:
    """Model outputs in a fixed order: lists/tuples in order, dicts by sorted key (keras.tree's order)."""
    if isinstance(out, Mapping):
        return [t for k in sorted(out) for t in _flatten(out[k])]
    if isinstance(out, (list, tuple)):
        return [t for v in out for t in _flatten(v)]
    return [out]


def _default_output_names(model: Any, out: Any, count: int) -> list[str] | None:
    """The Keras output names when they are unambiguous: dict keys, else ``model.output_names``."""
    if isinstance(out, Mapping) and all(not isinstance(v, (Mapping, list, tuple)) for v in out.values()):
        names = [str(k) for k in sorted(out)]
    else:
        try:
            names = [str(n) for n in (model.output_names or [])]
        except Exception:  # subclassed models may not know their output names
            names = []
    if len(names) == count and len(set(names)) == count and all(re.fullmatch(r"[\w.\-/:]+", n) for n in names):
        return names
    return None


def _model_input_shape(model: Any) -> tuple | None:
    """The per-sample input shape of a single-input model (None dims kept), or None if the model does not say."""
    try:
        inputs = model.inputs
    except Exception:  # a subclassed model that was never called
        return None
    if not inputs:
        return None
    if len(inputs) != 1:
        names = [getattr(t, "name", "?") for t in inputs]
        raise InvalidArgumentError(f"model: expected a model with one image input, it has {len(inputs)}: {names}")
    return tuple(inputs[0].shape[1:])


def _load_model(path: Path, custom_objects: Mapping[str, Any] | None) -> Any:
    keras = import_keras()
    if not path.exists():
        raise ModelNotFoundError(f"model: {path}: no such file")
    if path.is_dir() or path.suffix.lower() != ".keras":
        raise InvalidArgumentError(f"model: expected a keras.Model or the path of a .keras file, got {str(path)!r}")
    from .zoo import keras_models  # noqa: F401  (registers the zoo's custom layers for deserialization)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return keras.saving.load_model(path, compile=False, custom_objects=dict(custom_objects or {}))
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ModelLoadError(f"model: {path}: keras.saving.load_model cannot read it ({type(e).__name__}: {first}); "
                             "custom layers need custom_objects= or keras.saving.register_keras_serializable") from e


def _forward_module(model: Any) -> Any:
    """A ``torch.nn.Module`` whose forward is ``model(x, training=False)`` with the outputs flattened."""
    import torch

    class KerasForward(torch.nn.Module):
        def __init__(self, m: Any) -> None:
            super().__init__()
            self.model = m

        def forward(self, x: torch.Tensor) -> tuple:
            return tuple(_flatten(self.model(x, training=False)))

    return KerasForward(model)


def _op_key(name: str) -> str:
    """``aten::linalg_eigh``, ``aten._linalg_eigh.default`` -> ``linalg_eigh``."""
    name = re.sub(r"^\w+(::|\.)", "", name.strip())   # the namespace
    return name.split(".")[0].lstrip("_")              # the overload; private variants


def _layers_running(model: Any, sample: Any, operator: str) -> list[str]:
    """Keras layers (``path (Class)``) that run ``operator`` on ``sample``; empty if none is found."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    try:
        from keras.src.backend.common import global_state
        from keras.src.backend.common.name_scope import current_path
    except ImportError:  # pragma: no cover - depends on the keras version
        return []
    target = _op_key(operator)
    hits: list[str] = []

    class Recorder(TorchDispatchMode):
        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            if _op_key(str(func)) == target:
                stack = global_state.get_global_attribute("name_scope_stack") or []
                caller = getattr(stack[-1], "caller", None) if stack else None
                where = current_path() or "?"
                what = f"{where} ({type(caller).__name__})" if caller is not None else where
                if what not in hits:
                    hits.append(what)
            return func(*args, **(kwargs or {}))

    try:
        with Recorder(), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model(sample, training=False)
    except Exception:
        return hits
    return hits


def _check_shape(model_shape: tuple | None, want: tuple[int, int, int], config: ModelConfig) -> None:
    if model_shape is None:
        return
    if len(model_shape) != 3 or any(m is not None and m != w for m, w in zip(model_shape, want)):
        size, kw = config.preprocess_kwargs()
        size = list(size) if isinstance(size, (list, tuple)) else size
        raise InvalidArgumentError(
            f"preprocess/layout: the model takes images of shape (N, {', '.join(map(str, model_shape))}), but the "
            f"config implies (N, {', '.join(map(str, want))}) (preprocess size {size}, "
            f"channels {kw.get('channels') or 3}, layout {config.layout}); Keras models are usually NHWC")


def export_keras(model: Any, out: str | os.PathLike, *, task: str, preprocess: Mapping[str, Any],
                 labels: Sequence[str] | None = None, charset: Sequence[str] | None = None,
                 decoder: Mapping[str, Any] | None = None, name: str | None = None, input_name: str = "images",
                 output_names: Sequence[str] | None = None, layout: str = "NHWC", opset: int | None = None,
                 dynamic_batch: bool = True, simplify: bool = True, parity: bool = True, atol: float = DEFAULT_ATOL,
                 rtol: float = DEFAULT_RTOL, representative: Any = None, exporter: str = "torchscript",
                 extra: Mapping[str, Any] | None = None,
                 custom_objects: Mapping[str, Any] | None = None) -> ExportResult:
    """Export a Keras 3 model to ONNX that ``edgevision.Predictor(out)`` runs with no other arguments.

    Args:
        model: a ``keras.Model`` (single image input), or the path of a ``.keras``
            file (loaded with ``keras.saving.load_model(path, compile=False)``).
        out: the .onnx path to write (atomically: a failed export leaves no file).
        task, preprocess, labels, charset, decoder, name: the ``edgevision`` metadata
            (docs/model_metadata.md); validated before exporting. ``preprocess['size']``
            is ``[height, width]`` in pixels and must match the model's input.
        input_name: the graph input's name (default ``images``).
        output_names: graph output names, in the order of the model's outputs (a dict
            output counts in sorted-key order); default: the Keras output names
            (``model.output_names``, or the keys of a dict output).
        layout: ``NHWC`` (Keras' ``channels_last``, the default) or ``NCHW`` for a
            ``channels_first`` model; recorded in the metadata so that the kernel
            writes that layout.
        opset: ONNX opset (default 18).
        dynamic_batch: keep the batch axis symbolic (the trace uses a batch of 2, the
            parity check a batch of 3, so a batch size baked into the graph fails).
            ``False``: the exported batch is fixed at 1.
        simplify: run onnxslim.
        parity: compare ONNX Runtime with the model's own ``predict`` on random and
            representative inputs; :class:`~exporters.errors.ParityError` (with the
            figures) beyond ``atol``/``rtol`` (see :mod:`exporters.parity`).
        representative: uint8 BGR images (any sizes) or a preprocessed batch for the
            representative parity set; default: procedural images.
        exporter: ``"torchscript"`` (default: the legacy tracer, with Keras' "same"
            padding fixed, see the module docs; fast) or ``"dynamo"`` (``torch.export``,
            PyTorch's maintained path; several times slower on large models).
        extra: extra top-level metadata keys (e.g. ``{"training": {...}}``).
        custom_objects: passed to ``keras.saving.load_model`` when ``model`` is a path.

    Raises:
        UnsupportedOperatorError: an operator has no ONNX conversion; the message
            names it and the Keras layer(s) that run it when they can be found
            (also in the ``layers`` attribute).
        ParityError: outputs differ beyond the tolerance (the message has the numbers).
        ModelNotFoundError, ModelLoadError: ``model`` is a missing or unreadable file.
        ExportError: other export or checker failures, or keras on a non-torch backend.
        InvalidArgumentError, InvalidTypeError: bad arguments (named in the message).
    """
    keras = import_keras()
    import torch

    if exporter not in EXPORTERS:
        raise InvalidArgumentError(f"exporter: expected one of {EXPORTERS}, got {exporter!r}")
    if layout not in LAYOUTS:
        raise InvalidArgumentError(f"layout: expected 'NHWC' (Keras' channels_last) or 'NCHW' (channels_first), "
                                   f"got {layout!r}")
    if opset is not None and not is_int(opset):
        raise InvalidTypeError(f"opset: expected an int (13..23) or None, got {opset!r}")
    opset = DEFAULT_OPSET if opset is None else opset
    if not 13 <= opset <= 23:
        raise InvalidArgumentError(f"opset: expected 13..23, got {opset}")
    config = build_config(task=task, preprocess=preprocess, input_name=input_name, layout=layout, name=name,
                          labels=labels, charset=charset, decoder=decoder, extra=extra)
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise InvalidArgumentError(f"out: expected a path ending in .onnx, got {str(out)!r}")
    if isinstance(model, (str, os.PathLike)):
        model = _load_model(Path(model), custom_objects)
    if not isinstance(model, keras.Model):
        raise InvalidTypeError(f"model: expected a keras.Model or the path of a .keras file, got {type(model).__name__}")
    shape = input_shape(config)
    _check_shape(_model_input_shape(model), shape, config)
    out.parent.mkdir(parents=True, exist_ok=True)

    trace_batch = 2 if dynamic_batch else 1   # torch.export specialises a batch of 1 to the constant 1
    gen = torch.Generator().manual_seed(0)
    sample = torch.randn((trace_batch, *shape), generator=gen)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref_out = model(sample, training=False)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ExportError(f"model: calling it on a float32 batch of shape {tuple(sample.shape)} failed "
                          f"({type(e).__name__}: {first})") from e
    flat = _flatten(ref_out)
    if not all(isinstance(t, torch.Tensor) for t in flat):
        raise ExportError(f"model: returned {[type(t).__name__ for t in flat]}; expected tensors "
                          "(or lists/tuples/dicts of them)")
    names = list(output_names) if output_names is not None else _default_output_names(model, ref_out, len(flat))
    if names is not None and len(names) != len(flat):
        raise InvalidArgumentError(f"output_names: the model returns {len(flat)} outputs, got {len(names)} names")
    if names is not None and (not all(isinstance(n, str) and n for n in names) or len(set(names)) != len(names)
                              or input_name in names):
        raise InvalidArgumentError(f"output_names: expected distinct non-empty strings other than the input name "
                                   f"{input_name!r}, got {names!r}")
    if names is None:
        names = [f"output_{i}" for i in range(len(flat))]

    wrapper = _forward_module(model)
    with atomic_output(out, suffix=".onnx") as tmp:
        kwargs: dict[str, Any] = {"input_names": [input_name], "output_names": names, "opset_version": opset}
        try:
            with _EXPORT_LOCK, quiet(), torch.no_grad():
                if exporter == "dynamo":
                    dyn = ({0: torch.export.Dim("batch", min=1, max=4096)},) if dynamic_batch else None
                    torch.onnx.export(wrapper, (sample,), tmp, dynamo=True, verbose=False, external_data=False,
                                      dynamic_shapes=dyn, **kwargs)
                else:
                    axes = {n: {0: "batch"} for n in [input_name, *names]} if dynamic_batch else None
                    with _static_same_padding(), torchscript_log_off():
                        torch.onnx.export(wrapper, (sample,), tmp, dynamo=False, verbose=False, dynamic_axes=axes,
                                          **kwargs)
        except (InvalidArgumentError, InvalidTypeError):
            raise
        except Exception as e:
            other = "dynamo" if exporter == "torchscript" else "torchscript"
            err = unsupported_error(e)
            if err is not None:
                where = _layers_running(model, sample, err.operator) if err.operator else []
                if where:
                    err = UnsupportedOperatorError(
                        f"ONNX export failed (exporter={exporter!r}, opset {opset}): Keras layer {', '.join(where)} "
                        f"runs operator {err.operator!r}, which has no ONNX conversion. Give the layer an "
                        f"exportable implementation, or try exporter={other!r}.\n{err}", operator=err.operator,
                        layers=where)
                raise err from e
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise ExportError(f"torch.onnx.export ({exporter}) of the Keras model failed: {type(e).__name__}: "
                              f"{first}\n(try exporter={other!r})") from e
        info = finalize(tmp, config, simplify=simplify, dynamic_batch=dynamic_batch,
                        producer=f"keras {keras.__version__} (torch {torch.__version__})")
        report = None
        if parity:
            sets = parity_inputs(config, batch=3 if dynamic_batch else 1, representative=representative)
            if not dynamic_batch:  # the graph takes one image at a time
                sets = {f"{k}[{i}]": v[i:i + 1] for k, v in sets.items() for i in range(len(v))}

            def reference(x: np.ndarray) -> list[np.ndarray]:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    res = model.predict(x, batch_size=len(x), verbose=0)
                return [np.asarray(r) for r in _flatten(res)]

            try:
                report = check_parity(tmp, reference, sets, atol=atol, rtol=rtol)
            except ParityError as e:  # name the requested file, not the temporary one
                raise ParityError(str(e).replace(tmp, str(out)), report=e.report) from None
    info |= {"exporter": exporter, "framework": f"keras {keras.__version__} (torch backend, torch {torch.__version__})"}
    return ExportResult(out, ModelConfig.read(out), report, info)


# --- weights --------------------------------------------------------------------------------


def _h5_tree(f: Any) -> tuple[dict[str, tuple[int, ...]], dict[str, str]]:
    """Dataset path -> shape, and group path -> the layer name Keras stores in its ``name`` attribute."""
    import h5py

    shapes: dict[str, tuple[int, ...]] = {}
    names: dict[str, str] = {}

    def visit(path: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset):
            shapes[path] = tuple(obj.shape)
        elif "name" in obj.attrs:
            v = obj.attrs["name"]
            names[path] = v.decode() if isinstance(v, bytes) else str(v)

    f.visititems(visit)
    return shapes, names


def _read_weights_tree(path: Path) -> tuple[dict[str, tuple[int, ...]], dict[str, str]]:
    import h5py

    try:
        if path.name.lower().endswith(".keras"):
            with zipfile.ZipFile(path) as z:
                if "model.weights.h5" not in z.namelist():
                    raise WeightsError(f"weights: {path}: a .keras archive without model.weights.h5 "
                                       f"(members: {z.namelist()})")
                data = io.BytesIO(z.read("model.weights.h5"))
            with h5py.File(data, "r") as f:
                return _h5_tree(f)
        with h5py.File(path, "r") as f:
            return _h5_tree(f)
    except WeightsError:
        raise
    except Exception as e:
        kind = "a .keras archive" if path.name.lower().endswith(".keras") else "an HDF5 weights file"
        raise WeightsError(f"weights: {path}: not {kind} ({type(e).__name__}: {e})") from e


def _all_layers(model: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    stack = list(getattr(model, "layers", []))
    while stack:
        layer = stack.pop()
        out.setdefault(layer.name, layer)
        stack.extend(getattr(layer, "layers", []))
    return out


def _describe(key: str, group_names: Mapping[str, str], layers: Mapping[str, Any]) -> str:
    """``layers/dense_1/vars/0`` -> ``layers/dense_1/vars/0 (screen_class/kernel)`` when the names are known."""
    group, _, index = key.rpartition("/")
    layer_name = group_names.get(group)
    if layer_name is None:
        return key
    var = index
    layer = layers.get(layer_name)
    if layer is not None and index.isdigit():
        try:
            weights = list(layer.weights)
            if int(index) < len(weights):
                var = weights[int(index)].name
        except Exception:
            pass
    return f"{key} ({layer_name}/{var})"


def load_keras_weights(model: Any, weights: str | os.PathLike) -> Any:
    """Load ``.weights.h5`` (``model.save_weights``) or ``.keras`` (``model.save``) weights into ``model``.

    Keras 3 stores variables by position (``layers/<class>_<n>/vars/<i>``), not by
    layer name, so a file from another architecture can fail with an unhelpful
    message or, worse, partly load. This compares the file's variables with the
    model's first (paths and shapes) and only then calls ``model.load_weights``.
    A legacy Keras 2 ``.h5`` file is passed to Keras as is. Returns the model.

    Raises:
        WeightsError: the file is missing or unreadable, or its variables do not fit
            the model. ``missing`` (the model's variables absent from the file),
            ``unexpected`` (the file's variables the model lacks) and ``mismatched``
            (``(key, file_shape, model_shape)``) hold the HDF5 keys; the message names
            the layer and variable of each (``layers/dense_1/vars/0 (screen_class/kernel)``).
    """
    keras = import_keras()
    if not isinstance(model, keras.Model):
        raise InvalidTypeError(f"model: expected a keras.Model, got {type(model).__name__}")
    path = Path(weights)
    if not path.is_file():
        raise WeightsError(f"weights: {path}: no such file")
    lower = path.name.lower()
    if not lower.endswith((".weights.h5", ".keras", ".h5")):
        raise WeightsError(f"weights: {path}: expected a .weights.h5 or .keras file (Keras 3), got {path.suffix!r}")
    if lower.endswith((".weights.h5", ".keras")):
        have, file_names = _read_weights_tree(path)
        with tempfile.TemporaryDirectory(prefix="edgevision-keras-") as d:
            own_path = Path(d) / "own.weights.h5"
            save_keras_weights(model, own_path)
            want, own_names = _read_weights_tree(own_path)
        tops = {k.split("/", 1)[0] for k in want} | {"layers", "vars"}
        have = {k: v for k, v in have.items() if k.split("/", 1)[0] in tops}  # skip optimizer/metrics state
        missing = sorted(k for k in want if k not in have)
        unexpected = sorted(k for k in have if k not in want)
        mismatched = [(k, have[k], want[k]) for k in sorted(want) if k in have and have[k] != want[k]]
        if missing or unexpected or mismatched:
            layers = _all_layers(model)
            parts = []
            if missing:
                parts.append(f"missing in the file ({len(missing)}): "
                             + ", ".join(_describe(k, own_names, layers) for k in missing[:8])
                             + (" ..." if len(missing) > 8 else ""))
            if unexpected:
                parts.append(f"unexpected in the file ({len(unexpected)}): "
                             + ", ".join(_describe(k, file_names, {}) for k in unexpected[:8])
                             + (" ..." if len(unexpected) > 8 else ""))
            if mismatched:
                parts.append(f"shape mismatch ({len(mismatched)}): " + ", ".join(
                    f"{_describe(k, own_names, layers)} file {a} vs model {b}" for k, a, b in mismatched[:8])
                    + (" ..." if len(mismatched) > 8 else ""))
            raise WeightsError(f"weights: {path} does not fit model {model.name!r}: " + "; ".join(parts),
                               missing=missing, unexpected=unexpected, mismatched=mismatched)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.load_weights(path)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise WeightsError(f"weights: {path}: Keras could not load it into model {model.name!r} "
                           f"({type(e).__name__}: {first})") from e
    return model


def save_keras_weights(model: Any, weights: str | os.PathLike) -> Path:
    """``model.save_weights(weights)`` (a ``.weights.h5`` file), without the NumPy 2 ``__array__(copy=)``
    DeprecationWarning that Keras 3's torch variables raise while saving. Returns the path."""
    path = Path(weights)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"__array__ implementation doesn't accept a copy keyword",
                                category=DeprecationWarning)
        model.save_weights(str(path))
    return path


__all__ = ["EXPORTERS", "LAYOUTS", "import_keras", "export_keras", "load_keras_weights", "save_keras_weights"]
