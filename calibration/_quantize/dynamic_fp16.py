"""The other two variants: dynamic INT8 and FP16."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import (
    QuantizeResult,
    _atomic_save,
    _check_loads,
    _check_loads_isolated,
    _load,
    _model_path,
    _out_path,
    _quiet,
    _reason,
    _size_mb,
    _with_metadata,
)
from ..errors import QuantizationError
from .static import _section


def quantize_dynamic_int8(model: str | os.PathLike, out: str | os.PathLike | None = None) -> QuantizeResult:
    """Dynamic INT8 (``onnxruntime.quantization.quantize_dynamic``): int8 weights, activations
    quantized at run time (uint8, per batch). No calibration; usually slower than static
    INT8 for CNNs on CPU (the run-time quantization of every activation costs more than
    it saves), kept as a comparison point. Writes ``<stem>_int8_dynamic.onnx`` by default."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    t0 = time.perf_counter()
    src = _model_path(model)
    dst = _out_path(src, out, "_int8_dynamic")
    source = _load(src)
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="edgevision-quant-") as tmp:
        raw = Path(tmp) / "d.onnx"
        try:
            with _quiet():
                quantize_dynamic(os.fspath(src), os.fspath(raw), weight_type=QuantType.QInt8, per_channel=False)
        except Exception as e:
            raise QuantizationError(f"quantize_dynamic: {src}: {_reason(e)}", step="quantize_dynamic") from None
        m = _load(raw, "quantized model")
    section = _section("dynamic", method="dynamic", format="U8S8", per_channel=False)
    _with_metadata(m, source, section, notes)
    _atomic_save(m, dst)
    _check_loads(dst, "quantize_dynamic")
    return QuantizeResult(dst, src, "dynamic", section, size_mb=_size_mb(dst), source_size_mb=_size_mb(src),
                          seconds=time.perf_counter() - t0, notes=notes)


#: Ops kept in float32 by :func:`convert_fp16` beyond onnxruntime's own block list: ONNX
#: Runtime's CPU provider has no float16 recurrent kernels (an fp16 LSTM crashed the
#: session, onnxruntime 1.31), and a float32 LSTM costs little against the convs.
FP16_BLOCKED_OPS = ("LSTM", "GRU", "RNN")


def convert_fp16(model: str | os.PathLike, out: str | os.PathLike | None = None) -> QuantizeResult:
    """Float16 weights and compute (``onnxruntime.transformers.float16``), with float32
    inputs and outputs (``keep_io_types=True``) so that the Predictor feeds it the same
    float32 tensor. Recurrent ops (:data:`FP16_BLOCKED_OPS`) stay float32. Pays off on GPUs (TensorRT, CUDA); on CPU, ONNX Runtime runs most fp16
    ops by casting, so expect it slower there. Writes ``<stem>_fp16.onnx`` by default."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    t0 = time.perf_counter()
    src = _model_path(model)
    dst = _out_path(src, out, "_fp16")
    source = _load(src)
    notes: list[str] = []
    try:
        with _quiet():
            from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST

            m = convert_float_to_float16(source, keep_io_types=True,
                                         op_block_list=list(DEFAULT_OP_BLOCK_LIST) + list(FP16_BLOCKED_OPS))
    except Exception as e:
        raise QuantizationError(f"convert_float_to_float16: {src}: {_reason(e)}", step="fp16") from None
    # convert_float_to_float16 inserts one Cast per (tensor, blocked consumer), all with the same
    # node and output names when a tensor feeds several blocked nodes: keep the first of
    # identical Casts (same input, same output, same attributes), which ONNX requires.
    first: dict[str, Any] = {}
    keep = []
    for node in m.graph.node:
        out0 = node.output[0] if node.output else None
        prev = first.get(out0) if out0 else None
        if prev is not None and node.op_type == "Cast" and prev.op_type == "Cast" \
                and list(prev.input) == list(node.input) and prev.attribute == node.attribute:
            continue
        if out0:
            first.setdefault(out0, node)
        keep.append(node)
    if len(keep) != len(m.graph.node):
        del m.graph.node[:]
        m.graph.node.extend(keep)
    section = _section("fp16", method="fp16", format="F16", per_channel=False, keep_io_types=True)
    _with_metadata(m, source, section, notes)
    _atomic_save(m, dst)
    try:
        _check_loads_isolated(dst, "convert_fp16")
    except QuantizationError:
        dst.unlink()
        raise
    return QuantizeResult(dst, src, "fp16", section, size_mb=_size_mb(dst), source_size_mb=_size_mb(src),
                          seconds=time.perf_counter() - t0, notes=notes)
