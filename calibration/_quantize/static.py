"""Static INT8 quantization (QDQ), calibrated on a :class:`~calibration.data.CalibrationSet`: :func:`quantize`."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgevision.checks import is_bool, is_int, is_real
from edgevision.errors import InvalidArgumentError, InvalidTypeError

from .common import (
    FORMATS,
    METHODS,
    QuantizeResult,
    _atomic_save,
    _check_loads,
    _load,
    _model_path,
    _out_path,
    _quiet,
    _reason,
    _size_mb,
    _versions,
    _with_metadata,
)
from ..errors import QuantizationError
from .graph import _classify, _float_inputs, _float_outputs, _prune, _weight_only_int8


def _check_choice(value: Any, name: str, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value.lower() not in [c.lower() for c in choices]:
        raise InvalidArgumentError(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
    return next(c for c in choices if c.lower() == value.lower())


def _check_options(method: Any, fmt: Any, per_channel: Any, percentile: Any) -> tuple[str, str, bool, float]:
    method = _check_choice(method, "method", METHODS)
    fmt = _check_choice(fmt, "fmt", FORMATS)
    if not is_bool(per_channel):
        raise InvalidTypeError(f"per_channel: expected a bool, got {per_channel!r}")
    if not is_real(percentile) or not 0 < percentile <= 100:
        raise InvalidArgumentError(f"percentile: expected a number in (0, 100], got {percentile!r}")
    return method, fmt, bool(per_channel), float(percentile)


def _check_exclude(exclude: Any) -> None:
    if isinstance(exclude, (str, bytes)) or not isinstance(exclude, (Sequence, set, frozenset)):
        raise InvalidTypeError(f"exclude: expected a list of node names or op types, got {exclude!r}")
    for e in exclude:
        if not isinstance(e, str) or not e:
            raise InvalidTypeError(f"exclude: expected node names or op types (strings), got {e!r}")


def _resolve_exclude(model: Any, exclude: Any, original: Any = None) -> tuple[list[str], list[str]]:
    """``exclude`` entries -> (node names of ``model``, op types); node names win over op types.

    ``original``: the model before pre-processing. A name of one of its nodes that
    pre-processing fused maps to the fused node(s) onnxruntime names ``<name>/<Fusion>``.
    """
    _check_exclude(exclude)
    names = [n.name for n in model.graph.node]
    before = {n.name for n in original.graph.node} if original is not None else set()
    by_type: dict[str, list[str]] = {}
    for n in model.graph.node:
        by_type.setdefault(n.op_type, []).append(n.name)
    nodes: list[str] = []
    types: list[str] = []
    for e in exclude:
        fused = [n for n in names if n.startswith(e + "/")]
        if e in names:
            nodes.append(e)
        elif e in by_type:
            types.append(e)
        elif e in before and fused:
            nodes.extend(fused)
        elif e in before:
            raise InvalidArgumentError(
                f"exclude: node {e!r} was fused into another node by pre-processing (quant_pre_process); "
                f"name a node of the pre-processed graph ({', '.join(names[:12])}{' ...' if len(names) > 12 else ''})"
                " or pass preprocess=False")
        else:
            import difflib

            close = difflib.get_close_matches(e, names + list(by_type), n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else \
                f"; nodes: {', '.join(names[:12])}{' ...' if len(names) > 12 else ''}"
            raise InvalidArgumentError(f"exclude: {e!r} is neither a node name nor an op type of the model{hint}")
    for t in types:
        nodes.extend(n for n in by_type[t] if n not in nodes)
    return list(dict.fromkeys(nodes)), types


@contextlib.contextmanager
def _working_dir(path: str) -> Any:
    """The process's working directory set to ``path`` for the block (``contextlib.chdir`` is Python 3.11+)."""
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def _preprocess(src: Path, dst: Path, notes: list[str]) -> Path:
    """``quant_pre_process`` (symbolic shape inference, ORT basic optimizations, ONNX shape
    inference); falls back to skipping the symbolic pass, then to the model as is."""
    from onnxruntime.quantization import quant_pre_process

    errors = []
    src, dst = Path(src).resolve(), Path(dst).resolve()
    for kwargs in ({}, {"skip_symbolic_shape": True}):
        try:
            # onnxruntime's symbolic shape inference, when it cannot infer every shape, saves
            # sym_shape_infer_temp.onnx and its external data in the working directory: run it in a
            # scratch one so that nothing is left in the user's
            with _quiet(), tempfile.TemporaryDirectory(prefix="edgevision-prep-") as scratch, _working_dir(scratch):
                quant_pre_process(os.fspath(src), os.fspath(dst), **kwargs)
            if errors:
                notes.append(f"pre-processing without symbolic shape inference ({errors[0]})")
            return dst
        except Exception as e:  # onnxruntime/onnx raise many types here
            errors.append(_reason(e))
    notes.append(f"pre-processing failed ({'; '.join(errors)}); quantized the model as is")
    return src


def _calibration_data(model: Path, data: Any, calibrate_count: int | None) -> Any:
    from ..data import CalibrationSet

    if isinstance(data, CalibrationSet):
        return data
    if data is None:
        raise InvalidArgumentError("data: expected a CalibrationSet or a calibration source (a dataset path, "
                                   "'synth[:SEED]' or a list of images), got None")
    return CalibrationSet.from_source(model, data, count=calibrate_count or 256)


def _check_count(calibrate_count: Any) -> int | None:
    if calibrate_count is None:
        return None
    if not is_int(calibrate_count) or calibrate_count < 1:
        raise InvalidArgumentError(f"calibrate_count: expected a positive number of images or None, "
                                   f"got {calibrate_count!r}")
    return int(calibrate_count)


def _strided(reader: Any) -> int | None:
    """A stride (in batches) for onnxruntime's strided calibration, so that intermediate
    outputs of at most ~8 batches are held in memory at once (it needs a divisor)."""
    n = len(reader)
    if n <= 8:
        return None
    return max(d for d in range(1, 9) if n % d == 0)


def _static(src: Path, dst: Path, data: Any, *, method: str, fmt: str, per_channel: bool, percentile: float,
            nodes_to_exclude: Sequence[str], calibrate_count: int | None, cache_path: Path | None) -> None:
    """One ``quantize_static`` call with this module's settings (see docs/quantization.md)."""
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    calib = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
             "percentile": CalibrationMethod.Percentile, "distribution": CalibrationMethod.Distribution}[method]
    activation = QuantType.QInt8 if fmt == "S8S8" else QuantType.QUInt8
    extra: dict[str, Any] = {
        # TensorRT explicit quantization wants zero points of 0: symmetric int8 activations and weights.
        "ActivationSymmetric": fmt == "S8S8",
        "WeightSymmetric": True,
        "CalibPercentile": percentile,
    }
    reader = data.reader(limit=calibrate_count)
    stride = _strided(reader)
    if stride:
        extra["CalibStridedMinMax"] = stride
    try:
        with _quiet():
            quantize_static(os.fspath(src), os.fspath(dst), reader, quant_format=QuantFormat.QDQ,
                            per_channel=per_channel, reduce_range=False, activation_type=activation,
                            weight_type=QuantType.QInt8, nodes_to_exclude=list(nodes_to_exclude),
                            calibrate_method=calib, extra_options=extra,
                            calibration_cache_path=None if cache_path is None else os.fspath(cache_path))
    except (InvalidArgumentError, InvalidTypeError):
        raise
    except Exception as e:
        raise QuantizationError(f"quantize_static: {src}: {_reason(e)}", step="quantize_static") from None


def _finish_static(raw: Path, source: Any, out: Path, *, section: dict[str, Any],
                   float_nodes: Sequence[str], float_outputs: bool, notes: list[str]) -> tuple[list[str], list[str]]:
    """Post-process a ``quantize_static`` output and write it to ``out``; returns (quantized, float) nodes."""
    m = _load(raw, "quantized model")
    _float_inputs(m, float_nodes)
    weight_only = _weight_only_int8(m, float_nodes)
    if weight_only:
        section["weight_only_int8"] = weight_only
    if float_outputs:
        section["float_outputs"] = _float_outputs(m)
    _prune(m)
    _with_metadata(m, source, section, notes)
    _atomic_save(m, out)
    _check_loads(out, "quantize")
    return _classify(m)


def _section(mode: str, **kw: Any) -> dict[str, Any]:
    return {"mode": mode, **kw, "tools": _versions()}


def quantize(model: str | os.PathLike, data: Any, out: str | os.PathLike | None = None, *, method: str = "minmax",
             fmt: str = "S8S8", per_channel: bool = True, percentile: float = 99.999, exclude: Sequence[str] = (),
             calibrate_count: int | None = None, preprocess: bool = True, float_outputs: bool = True,
             calibration_cache: str | os.PathLike | None = None) -> QuantizeResult:
    """Static INT8 quantization in QDQ format.

    Args:
        model: the float ``.onnx`` model (with its ``edgevision`` metadata).
        data: a :class:`~calibration.data.CalibrationSet` built for this model, or a
            calibration source for :meth:`CalibrationSet.from_source` (a dataset path,
            ``"synth[:SEED]"``, a list of images), then ``calibrate_count`` (default 256) images.
        out: the output path (default: ``<model stem>_int8.onnx`` next to the model).
        method: calibration, ``minmax`` | ``entropy`` | ``percentile`` | ``distribution``.
        fmt: ``S8S8`` (int8 activations, symmetric; the TensorRT and ARM choice) or
            ``U8S8`` (uint8 activations, asymmetric; x86 CPUs without VNNI).
        per_channel: per-output-channel weight scales (Conv, Gemm, MatMul with constant weights).
        percentile: the kept percentile of ``|activation|`` for ``method="percentile"``.
        exclude: node names or op types kept in float. Their activation inputs are fed in
            float too: no QuantizeLinear/DequantizeLinear pair in front of them.
        calibrate_count: calibrate on the first N tensors of ``data`` only.
        preprocess: run ``onnxruntime.quantization.quant_pre_process`` first (shape
            inference, basic graph optimizations such as Conv+BatchNorm folding); if it
            fails the model is quantized as is and a note says why.
        float_outputs: keep the graph outputs in float (no Q/DQ pair on them). A regression
            head (corner coordinates) otherwise snaps to a 1/127-of-range grid.
        calibration_cache: a JSON file of calibrated tensor ranges (onnxruntime's format):
            read when it exists (then ``data`` is not run), else written.

    Node names in ``exclude`` are those of the model after pre-processing, which keeps
    the names of the nodes it does not fuse; a name of the original graph whose node was
    fused maps to the fused node onnxruntime names ``<name>/<Fusion>`` (else an error says so).

    Speed: on x86 CPUs ONNX Runtime runs ``U8S8`` much faster than ``S8S8`` (ResNet-18 on
    this project's AVX2 machine: 0.50x against 0.88x of the float latency), because with
    symmetric int8 activations ReLUs stay float round trips and some convs stay unfused.
    Use ``S8S8`` for TensorRT and ARM, ``U8S8`` for ONNX Runtime on x86.

    Returns:
        A :class:`QuantizeResult`.

    Raises:
        InvalidArgumentError / InvalidTypeError: a bad argument (named).
        ModelLoadError: ``model`` is missing or not ONNX.
        QuantizationError: onnxruntime failed, or the result does not load.
    """
    t0 = time.perf_counter()
    src = _model_path(model)
    method, fmt, per_channel, percentile = _check_options(method, fmt, per_channel, percentile)
    calibrate_count = _check_count(calibrate_count)
    dst = _out_path(src, out, "_int8")
    source = _load(src)
    _check_exclude(exclude)  # names are resolved after pre-processing
    cs = _calibration_data(src, data, calibrate_count)
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="edgevision-quant-") as tmp:
        work = Path(tmp)
        pre = _preprocess(src, work / "pre.onnx", notes) if preprocess else src
        excluded, types = _resolve_exclude(_load(pre, "pre-processed model"), exclude, source) if pre != src \
            else _resolve_exclude(source, exclude)
        cache = Path(calibration_cache) if calibration_cache is not None else None
        _static(pre, work / "q.onnx", cs, method=method, fmt=fmt, per_channel=per_channel, percentile=percentile,
                nodes_to_exclude=excluded, calibrate_count=calibrate_count, cache_path=cache)
        count = len(cs) if calibrate_count is None else min(len(cs), calibrate_count)
        section = _section("static", representation="QDQ", method=method, format=fmt, per_channel=per_channel,
                           **({"percentile": percentile} if method == "percentile" else {}),
                           calibration={**cs.info(), "count": count}, excluded_nodes=excluded,
                           excluded_op_types=types, preprocessed=pre != src)
        quantized, floating = _finish_static(work / "q.onnx", source, dst, section=section,
                                             float_nodes=excluded, float_outputs=float_outputs, notes=notes)
    return QuantizeResult(dst, src, "static", section, quantized, floating, excluded, _size_mb(dst), _size_mb(src),
                          time.perf_counter() - t0, notes)
