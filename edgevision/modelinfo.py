"""What a model file is: inputs, outputs, edgevision metadata, size and quantization.

    from edgevision.modelinfo import model_info
    model_info("plate_ocr_int8.onnx")["quantization"]["graph"]["kind"]   # "static int8 (QDQ)"

``edgevision info`` prints it; ``edgevision serve`` lists it at ``GET /models``;
``calibration.quantize`` reads the quantization kind from it.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

#: Operators that mark a quantized graph.
QUANT_OPS = ("QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "QLinearConv", "QLinearMatMul",
             "MatMulInteger", "ConvInteger")


def _quantization(path: str, from_metadata: Any) -> dict[str, Any]:
    quant: dict[str, Any] = {"from_metadata": from_metadata}
    try:
        import onnx  # host-side; optional for the runtime
    except ImportError:
        quant["graph"] = "not inspected (install onnx to count quantized ops)"
        return quant
    graph = onnx.load(path, load_external_data=False).graph
    ops = Counter(n.op_type for n in graph.node)
    counts = {op: ops[op] for op in QUANT_OPS if ops[op]}
    dtypes = Counter(onnx.TensorProto.DataType.Name(t.data_type) for t in graph.initializer)
    kind = "none"
    if counts.get("DynamicQuantizeLinear") or counts.get("MatMulInteger") or counts.get("ConvInteger"):
        kind = "dynamic int8"
    elif counts.get("QuantizeLinear") or counts.get("QLinearConv") or counts.get("QLinearMatMul"):
        kind = "static int8 (QDQ)" if counts.get("QuantizeLinear") else "static int8 (QOperator)"
    elif dtypes.get("FLOAT16"):
        kind = "fp16"
    quant["graph"] = {"kind": kind, "quantized_ops": counts, "initializer_dtypes": dict(dtypes)}
    return quant


def model_info(model: Any, *, quantization: bool = True) -> dict[str, Any]:
    """Inputs, outputs, edgevision metadata, size and quantization of a model.

    Args:
        model: an ``.onnx`` path or bundled model name (a CPU session is opened to read
            it, through the backend's :class:`~edgevision.backends.Runner`), or a loaded
            :class:`~edgevision.Predictor` (described from its own runner; ``metadata`` is then its resolved configuration, overrides included).
        quantization: also count the graph's quantized operators (needs ``onnx``;
            without it ``quantization.graph`` says so).

    Returns:
        A JSON-serializable dict: ``path``, ``size_mb`` (10^6 bytes), ``providers``,
        ``inputs``/``outputs`` (``name``, ``shape`` with symbolic axes as strings, ``dtype``),
        ``metadata`` (the edgevision configuration dict, or None) and ``quantization``
        (``from_metadata``: the metadata's ``quantization`` section; ``graph``: the
        ``kind`` -- ``none``, ``dynamic int8``, ``static int8 (QDQ)``/``(QOperator)`` or
        ``fp16`` -- with operator and initializer dtype counts).

    Raises:
        ModelNotFoundError, ModelLoadError: the model cannot be found or loaded.
    """
    from .predictor import Predictor

    if isinstance(model, Predictor):
        path, runner, meta = model.path, model.runner, model.config
    else:
        from .backends import load_runner
        from .config import ModelConfig
        from .predictor import resolve_model

        from .config import METADATA_KEY

        path = resolve_model(model)
        runner = load_runner(path, device="cpu")
        custom = runner.metadata
        meta = None
        if METADATA_KEY in custom:
            meta = ModelConfig.from_json(custom[METADATA_KEY], source=f"{path} (metadata_props[{METADATA_KEY!r}])",
                                         model_metadata=custom)
    info: dict[str, Any] = {
        "path": path,
        "size_mb": round(os.path.getsize(path) / 1e6, 3),
        "providers": list(runner.providers),
        "inputs": [{"name": t.name, "shape": list(t.shape), "dtype": str(t.dtype)} for t in runner.inputs],
        "outputs": [{"name": t.name, "shape": list(t.shape), "dtype": str(t.dtype)} for t in runner.outputs],
        "metadata": meta.to_dict() if meta is not None else None,
    }
    from_metadata = meta.extra.get("quantization") if meta is not None else None
    info["quantization"] = _quantization(path, from_metadata) if quantization else {"from_metadata": from_metadata}
    return info


__all__ = ["QUANT_OPS", "model_info"]
