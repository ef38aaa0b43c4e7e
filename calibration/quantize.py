"""INT8 / FP16 model variants, built on ``onnxruntime.quantization`` (host side).

* :func:`quantize`: static INT8, QDQ format, calibrated on a :class:`~calibration.data.CalibrationSet`
  (exactly the deploy preprocessing), per-channel weights; ``S8S8`` (default: symmetric
  int8 activations and weights, what TensorRT's explicit quantization takes) or ``U8S8``
  (uint8 activations: the fast format for ONNX Runtime on x86 CPUs).
* :func:`quantize_accuracy_aware`: :func:`quantize`, then, while the task metric is worse
  than the float model's by more than a tolerance, keeps the most quantization-sensitive
  nodes in float and re-quantizes.
* :func:`quantize_dynamic_int8`, :func:`convert_fp16`: the other two variants.
* :func:`uint8_input`: a static int8 model whose input quantization gives back every pixel value
  (inputs ``pixel / 255``, input scale ~1/255) taking the uint8 pixels instead (bit for bit the same
  outputs, checked; the kernel writes a quarter of the bytes and the model skips a step).
* :func:`channels_last_input`: such a uint8-input model taking NHWC pixels with a 4th, zero channel
  (bit for bit the same outputs, checked; ONNX Runtime's int8 first convolution skips a transpose and
  reads 4-byte taps).
* :func:`optimize_input`: both, in place, each where it applies (what the bundling recipes run).
* :func:`write_tensorrt_calibration`: the TensorRT calibration table from the same data.
* :func:`report`: latency / task metric / size of several variants side by side (a view of the
  one variants report, the latency engine that ``python -m benchmarks.latency`` runs).

Every variant keeps all of the source model's ``metadata_props`` and gets a
``quantization`` section in its ``edgevision`` metadata (see ``docs/quantization.md``),
so ``edgevision.Predictor`` drives it exactly like the float model.

Layout: this module is the public face; its sections live in ``calibration/_quantize/``
(``common``, ``graph``, ``static``, ``input_rewrites``, ``dynamic_fp16``, ``sensitivity``,
``accuracy_aware``, ``tensorrt``, ``side_by_side``), split along the sections the file had, and every name is
re-exported here: import from ``calibration.quantize``.
"""

from __future__ import annotations

from ._quantize.common import (  # noqa: F401  (re-exported: the public path stays)
    METHODS,
    FORMATS,
    METRIC_DIRECTIONS,
    _QDQ_OPS,
    QuantizeResult,
    AccuracyAwareResult,
    _onnx,
    _model_path,
    _load,
    _out_path,
    _quiet,
    _reason,
    _versions,
    _size_mb,
    _atomic_save,
    _with_metadata,
    _check_loads_isolated,
    _check_loads,
)
from ._quantize.graph import (  # noqa: F401  (re-exported: the public path stays)
    _consumers,
    _producers,
    _float_inputs,
    _may_clip,
    _float_outputs,
    _prune,
    _classify,
    WEIGHT_ONLY_MIN,
    _weight_only_int8,
)
from ._quantize.static import (  # noqa: F401  (re-exported: the public path stays)
    _check_choice,
    _check_options,
    _check_exclude,
    _resolve_exclude,
    _preprocess,
    _calibration_data,
    _check_count,
    _strided,
    _static,
    _finish_static,
    _section,
    quantize,
)
from ._quantize.input_rewrites import uint8_input, channels_last_input, optimize_input  # noqa: F401  (re-exported: the public path stays)
from ._quantize.dynamic_fp16 import (  # noqa: F401  (re-exported: the public path stays)
    quantize_dynamic_int8,
    FP16_BLOCKED_OPS,
    convert_fp16,
)
from ._quantize.sensitivity import (  # noqa: F401  (re-exported: the public path stays)
    _channel_snr_db,
    _shapes,
    node_costs,
    head_nodes,
    node_sensitivity,
)
from ._quantize.accuracy_aware import (  # noqa: F401  (re-exported: the public path stays)
    _limit,
    _within,
    _metric_value,
    quantize_accuracy_aware,
    _copy_atomic,
    _baseline,
)
from ._quantize.tensorrt import (  # noqa: F401  (re-exported: the public path stays)
    write_tensorrt_calibration,
)
from ._quantize.side_by_side import (  # noqa: F401  (re-exported: the public path stays)
    _variant_kind,
    report,
    _markdown,
)

__all__ = [
    "FORMATS",
    "METHODS",
    "AccuracyAwareResult",
    "QuantizeResult",
    "convert_fp16",
    "head_nodes",
    "node_costs",
    "node_sensitivity",
    "quantize",
    "quantize_accuracy_aware",
    "quantize_dynamic_int8",
    "report",
    "write_tensorrt_calibration",
]


