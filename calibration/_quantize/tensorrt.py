"""The TensorRT calibration table, from the same calibration data."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from edgevision.errors import InvalidArgumentError, InvalidTypeError

from .common import METHODS, _model_path, _quiet, _reason
from ..errors import QuantizationError
from .static import _calibration_data, _check_choice, _check_count


def write_tensorrt_calibration(model: str | os.PathLike, data: Any, out_dir: str | os.PathLike, *,
                               method: str = "entropy", calibrate_count: int | None = None) -> dict[str, Path]:
    """TensorRT calibration tables for the float model, from the same calibration data.

    Calibrates every tensor of ``model`` (``onnxruntime.quantization.create_calibrator``
    with ``method``) and writes them with ``onnxruntime.quantization.write_calibration_table``:
    ``calibration.flatbuffers`` (what ONNX Runtime's TensorRT execution provider reads
    with ``trt_int8_enable=True``, ``trt_int8_calibration_table_name`` and
    ``trt_int8_use_native_calibration_table=False``), ``calibration.cache`` (text,
    ``tensor max|value|`` per line) and ``calibration.json``. This is TensorRT's implicit
    INT8 path on the float model; the QDQ model from :func:`quantize` is the explicit
    path and needs no table.

    Returns:
        ``{"flatbuffers": path, "cache": path, "json": path}``.
    """
    from onnxruntime.quantization import (
        CalibrationMethod,
        create_calibrator,
        write_calibration_table,
    )

    src = _model_path(model)
    method = _check_choice(method, "method", METHODS)
    calibrate_count = _check_count(calibrate_count)
    if not isinstance(out_dir, (str, os.PathLike)):
        raise InvalidTypeError(f"out_dir: expected a folder path, got {type(out_dir).__name__}")
    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise InvalidArgumentError(f"out_dir: '{folder}' exists and is not a folder")
    cs = _calibration_data(src, data, calibrate_count)
    calib = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
             "percentile": CalibrationMethod.Percentile, "distribution": CalibrationMethod.Distribution}[method]
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="edgevision-trt-") as tmp:
        try:
            with _quiet():
                calibrator = create_calibrator(src, [], augmented_model_path=os.fspath(Path(tmp) / "aug.onnx"),
                                               calibrate_method=calib,
                                               extra_options={"symmetric": True} if method != "distribution" else {})
                calibrator.collect_data(cs.reader(limit=calibrate_count))
                ranges = calibrator.compute_data()
                write_calibration_table(ranges, dir=os.fspath(folder))
        except Exception as e:
            raise QuantizationError(f"write_tensorrt_calibration: {src}: {_reason(e)}", step="calibrate") from None
    return {"flatbuffers": folder / "calibration.flatbuffers", "cache": folder / "calibration.cache",
            "json": folder / "calibration.json"}
