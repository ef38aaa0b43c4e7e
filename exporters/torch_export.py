"""PyTorch -> self-describing ONNX (:func:`export_torch`) and checked weight loading.

torch is imported here and in :mod:`exporters.zoo.torch_models` only, never by
the ``edgevision`` runtime.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgevision._io import atomic_output
from edgevision.config import ModelConfig
from edgevision.errors import InvalidArgumentError, InvalidTypeError

from .errors import ExportError, UnsupportedOperatorError, WeightsError
from .finalize import (DEFAULT_OPSET, ExportResult, build_config, finalize, input_shape, parity_inputs, quiet,
                       torchscript_log_off)
from .parity import DEFAULT_ATOL, DEFAULT_RTOL, check_parity

EXPORTERS = ("dynamo", "torchscript")


_OP_PATTERNS = (
    re.compile(r"operator '?(aten::[\w.]+|prim::\w+|[\w.]+::[\w.]+)'? to ONNX"),  # TorchScript exporter
    re.compile(r"(aten\.[\w]+(?:\.[\w]+)?)"),                                    # dynamo: aten.op.overload
    re.compile(r"(aten::[\w.]+)"),
)


def _operator_in(message: str) -> str | None:
    for pat in _OP_PATTERNS:
        m = pat.search(message)
        if m:
            return m.group(1)
    return None


def unsupported_error(e: BaseException) -> UnsupportedOperatorError | None:
    text = f"{type(e).__name__}: {e}"
    cause = e.__cause__
    while cause is not None:
        text += f"\n{type(cause).__name__}: {cause}"
        cause = cause.__cause__
    if re.search(r"not supported|unsupported|no decomposition|No ONNX function|not implemented|"
                 r"Unsupported|could not find an ONNX|OnnxExporterError", text):
        op = _operator_in(text)
        plain = re.sub(r"\x1b\[[0-9;]*m", "", str(e)).strip()
        first = plain.splitlines()[0] if plain else type(e).__name__
        what = f"operator {op!r}" if op else "an operator"
        return UnsupportedOperatorError(f"ONNX export failed: {what} has no ONNX conversion ({first})", operator=op)
    return None


def _as_tensor(sample: Any, shape: tuple[int, ...], dynamic_batch: bool) -> Any:
    import torch

    if isinstance(sample, np.ndarray):
        sample = torch.from_numpy(np.ascontiguousarray(sample))
    if not isinstance(sample, torch.Tensor):
        raise InvalidTypeError(f"sample_input: expected a torch.Tensor or numpy array batch, got {type(sample).__name__}")
    if sample.ndim != 4 or tuple(sample.shape[1:]) != shape:
        raise InvalidArgumentError(
            f"sample_input: expected a batch of shape (N, {', '.join(map(str, shape))}) (preprocess size, channels "
            f"and layout of the config), got {tuple(sample.shape)}")
    if not sample.is_floating_point():
        raise InvalidTypeError(f"sample_input: expected a float tensor, got {sample.dtype}")
    sample = sample.detach().to(torch.float32)
    if dynamic_batch and sample.shape[0] < 2:
        # torch.export specialises a batch of 1 to the constant 1; trace with 2 so the axis stays symbolic.
        sample = sample.expand(2, *sample.shape[1:]).contiguous()
    return sample


def _flatten_outputs(out: Any) -> list[Any]:
    import torch

    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, Mapping):
        return [t for v in out.values() for t in _flatten_outputs(v)]
    if isinstance(out, (list, tuple)):
        return [t for v in out for t in _flatten_outputs(v)]
    raise ExportError(f"the model returned a {type(out).__name__}; expected tensors (or tuples/lists/dicts of them)")


def export_torch(model: Any, sample_input: Any, out: str | os.PathLike, *, task: str,
                 preprocess: Mapping[str, Any], labels: Sequence[str] | None = None,
                 charset: Sequence[str] | None = None, decoder: Mapping[str, Any] | None = None,
                 name: str | None = None, input_name: str = "images", output_names: Sequence[str] | None = None,
                 layout: str = "NCHW", opset: int | None = None, dynamic_batch: bool = True,
                 simplify: bool = True, parity: bool = True, atol: float = DEFAULT_ATOL, rtol: float = DEFAULT_RTOL,
                 representative: Any = None, exporter: str = "dynamo",
                 extra: Mapping[str, Any] | None = None) -> ExportResult:
    """Export a ``torch.nn.Module`` to ONNX that ``edgevision.Predictor(out)`` runs with no other arguments.

    Args:
        model: the module; it is put in eval mode for the export and restored after.
        sample_input: one float batch in the model's layout, (N, C, H, W) for NCHW, whose
            per-image shape matches ``preprocess['size']`` and ``channels``.
        out: the .onnx path to write (atomically: a failed export leaves no file).
        task, preprocess, labels, charset, decoder, name: the ``edgevision`` metadata
            (docs/model_metadata.md); validated before exporting.
        input_name, output_names: graph names (``output_names`` default: the framework's).
        layout: ``NCHW`` (PyTorch's) or ``NHWC``.
        opset: ONNX opset (default 18).
        dynamic_batch: keep the batch axis symbolic (verified after export).
            With ``preprocess["stride"]`` the height and width axes are exported symbolic too,
            in multiples of the stride up to ``size``: the model must take any such size, and the
            parity check runs one input smaller than ``size`` as well.
        simplify: run onnxslim.
        parity: compare ONNX Runtime with the module on random and representative
            inputs; :class:`~exporters.errors.ParityError` (with the figures) beyond
            ``atol``/``rtol`` (see :mod:`exporters.parity`).
        representative: uint8 BGR images (any sizes) or a preprocessed batch for the
            representative parity set; default: procedural images.
        exporter: ``"dynamo"`` (``torch.export``, PyTorch's maintained path) or
            ``"torchscript"`` (the legacy tracer, faster, deprecated by PyTorch).
        extra: extra top-level metadata keys (e.g. ``{"training": {...}}``).

    Raises:
        UnsupportedOperatorError: an operator has no ONNX conversion (named when known).
        ParityError: outputs differ beyond the tolerance (the message has the numbers).
        ExportError: other export or checker failures.
    """
    import torch

    if exporter not in EXPORTERS:
        raise InvalidArgumentError(f"exporter: expected one of {EXPORTERS}, got {exporter!r}")
    if not isinstance(model, torch.nn.Module):
        raise InvalidTypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    opset = DEFAULT_OPSET if opset is None else int(opset)
    if not 13 <= opset <= 23:
        raise InvalidArgumentError(f"opset: expected 13..23, got {opset}")
    config = build_config(task=task, preprocess=preprocess, input_name=input_name, layout=layout, name=name,
                          labels=labels, charset=charset, decoder=decoder, extra=extra)
    sample = _as_tensor(sample_input, input_shape(config), dynamic_batch)
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise InvalidArgumentError(f"out: expected a path ending in .onnx, got {str(out)!r}")
    out.parent.mkdir(parents=True, exist_ok=True)

    was_training = model.training
    model.eval()
    try:
        with atomic_output(out, suffix=".onnx") as tmp:
            with torch.no_grad():
                ref_out = _flatten_outputs(model(sample))
            names = list(output_names) if output_names is not None else None
            if names is not None and len(names) != len(ref_out):
                raise InvalidArgumentError(f"output_names: the model returns {len(ref_out)} outputs, got {len(names)} names")
            kwargs: dict[str, Any] = {"input_names": [input_name], "output_names": names, "opset_version": opset}
            try:
                with quiet(), torch.no_grad():
                    # preprocess.stride: the height and width axes stay symbolic, in multiples of it
                    hw_axes = (2, 3) if layout == "NCHW" else (1, 2)
                    if exporter == "dynamo":
                        axes_d: dict[int, Any] = {0: torch.export.Dim("batch", min=1, max=4096)} if dynamic_batch else {}
                        if config.stride is not None:
                            for ax, nm in zip(hw_axes, ("height", "width")):
                                top = config.preprocess["size"][ax - hw_axes[0]] // config.stride
                                axes_d[ax] = config.stride * torch.export.Dim(nm, min=1, max=top)
                        dyn = (axes_d,) if axes_d else None
                        torch.onnx.export(model, (sample,), tmp, dynamo=True, verbose=False, external_data=False,
                                          dynamic_shapes=dyn, **kwargs)
                    else:
                        axes = None
                        if dynamic_batch or config.stride is not None:
                            axes = {input_name: {0: "batch"} if dynamic_batch else {}}
                            if config.stride is not None:
                                axes[input_name] |= dict(zip(hw_axes, ("height", "width")))
                            for i in range(len(ref_out)):
                                axes[names[i] if names else f"output_{i}"] = {0: "batch"} if dynamic_batch else {}
                            if names is None:
                                kwargs["output_names"] = [f"output_{i}" for i in range(len(ref_out))]
                        with torchscript_log_off():
                            torch.onnx.export(model, (sample,), tmp, dynamo=False, dynamic_axes=axes, **kwargs)
            except (InvalidArgumentError, InvalidTypeError):
                raise
            except Exception as e:
                err = unsupported_error(e)
                if err is not None:
                    raise err from e
                other = "torchscript" if exporter == "dynamo" else "dynamo"
                raise ExportError(f"torch.onnx.export ({exporter}) failed: {type(e).__name__}: {e}\n"
                                  f"(try exporter={other!r})") from e
            info = finalize(tmp, config, simplify=simplify, dynamic_batch=dynamic_batch, producer=torch.__version__)
            report = None
            if parity:
                sets = parity_inputs(config, batch=min(max(int(sample.shape[0]), 2), 4), representative=representative)

                def reference(x: np.ndarray) -> list[np.ndarray]:
                    with torch.no_grad():
                        return [t.detach().cpu().numpy() for t in _flatten_outputs(model(torch.from_numpy(x)))]

                report = check_parity(tmp, reference, sets, atol=atol, rtol=rtol)
    finally:
        model.train(was_training)
    info |= {"exporter": exporter, "framework": f"torch {torch.__version__}"}
    return ExportResult(out, ModelConfig.read(out), report, info)


def load_weights(model: Any, weights: str | os.PathLike, *, strict: bool = True) -> Any:
    """Load a state dict (or a checkpoint holding one under ``model``/``state_dict``) into ``model``.

    Reads with ``torch.load(weights_only=True)`` (no pickled code is run).
    Returns the model.

    Raises:
        WeightsError: the file is missing or not a PyTorch weights file, or (with
            ``strict``) keys are missing, unexpected or of the wrong shape; the
            message names them.
    """
    import torch

    path = Path(weights)
    if not path.is_file():
        raise WeightsError(f"weights: {path}: no such file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise WeightsError(f"weights: {path}: not a PyTorch weights file torch.load can read safely "
                           f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from e
    state = obj
    if isinstance(obj, Mapping):
        for key in ("model", "state_dict", "model_state_dict"):
            if key in obj and isinstance(obj[key], Mapping):
                state = obj[key]
                break
    if not isinstance(state, Mapping) or not all(isinstance(k, str) for k in state):
        raise WeightsError(f"weights: {path}: expected a state dict (str -> tensor), got {type(state).__name__}")
    own = model.state_dict()
    missing = sorted(k for k in own if k not in state)
    unexpected = sorted(k for k in state if k not in own)
    mismatched = [(k, tuple(state[k].shape), tuple(own[k].shape)) for k in own
                  if k in state and hasattr(state[k], "shape") and tuple(state[k].shape) != tuple(own[k].shape)]
    if strict and (missing or unexpected or mismatched):
        parts = []
        if missing:
            parts.append(f"missing keys ({len(missing)}): {', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}")
        if unexpected:
            parts.append(f"unexpected keys ({len(unexpected)}): {', '.join(unexpected[:8])}"
                         f"{' ...' if len(unexpected) > 8 else ''}")
        if mismatched:
            parts.append("shape mismatch: " + ", ".join(f"{k} file {a} vs model {b}" for k, a, b in mismatched[:8]))
        raise WeightsError(f"weights: {path} does not fit {type(model).__name__}: " + "; ".join(parts),
                           missing=missing, unexpected=unexpected, mismatched=mismatched)
    model.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
    return model


__all__ = ["EXPORTERS", "export_torch", "load_weights"]
