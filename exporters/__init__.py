"""Host-side exporters: PyTorch and Keras models -> self-describing ONNX for edgevision.

    import exporters
    res = exporters.export_torch(model, sample, "plate.onnx", task="keypoints",
                                 preprocess={"size": [128, 128], "swap_rb": True, ...},
                                 decoder={"num_keypoints": 4})
    res = exporters.export_keras("meter.keras", "meter.onnx", task="keypoints", ...)
    built = exporters.zoo.build("lpl_resnet18")   # reference architectures by name

Every export embeds the ``edgevision`` metadata (so ``edgevision.Predictor(path)``
needs no other argument), simplifies the graph with onnxslim, runs ONNX shape
inference and the full checker, keeps the batch axis dynamic, and checks parity
between ONNX Runtime and the framework on random and representative inputs.

torch and keras are imported only by the modules that need them (never by the
``edgevision`` runtime); importing ``exporters`` imports neither.
"""

from __future__ import annotations

from typing import Any

from . import zoo
from .errors import ExportError, ParityError, UnknownArchitectureError, UnsupportedOperatorError, WeightsError
from .parity import DEFAULT_ATOL, DEFAULT_RTOL, ParityReport

__all__ = [
    "export_torch",
    "export_keras",
    "export_arch",
    "load_weights",
    "zoo",
    "ExportError",
    "ParityError",
    "UnknownArchitectureError",
    "UnsupportedOperatorError",
    "WeightsError",
    "ParityReport",
    "DEFAULT_ATOL",
    "DEFAULT_RTOL",
]


def export_torch(*args: Any, **kwargs: Any) -> Any:
    from .torch_export import export_torch as f

    return f(*args, **kwargs)


export_torch.__doc__ = "See :func:`exporters.torch_export.export_torch`."


def load_weights(*args: Any, **kwargs: Any) -> Any:
    from .torch_export import load_weights as f

    return f(*args, **kwargs)


load_weights.__doc__ = "See :func:`exporters.torch_export.load_weights`."


def export_keras(*args: Any, **kwargs: Any) -> Any:
    from .keras_export import export_keras as f

    return f(*args, **kwargs)


export_keras.__doc__ = "See :func:`exporters.keras_export.export_keras`."


def export_arch(arch: str, out: Any, *, weights: Any = None, arch_kwargs: dict | None = None, **kwargs: Any) -> Any:
    """Build zoo architecture ``arch`` (optionally loading ``weights``) and export it to ``out``.

    ``arch_kwargs`` go to the builder (e.g. ``{"size": 128}``); ``kwargs`` to the
    exporter (``parity``, ``opset``, ``representative``...). Returns the
    exporter's ``ExportResult``.
    """
    built = zoo.build(arch, **(arch_kwargs or {}))
    if built.framework == "torch":
        import torch

        if weights is not None:
            load_weights(built.model, weights)
        sample = torch.zeros((2, *built.input_shape))
        cfg = built.export_kwargs()
        return export_torch(built.model, sample, out, **cfg, **kwargs)
    if weights is not None:
        from .keras_export import load_keras_weights

        load_keras_weights(built.model, weights)
    return export_keras(built.model, out, **built.export_kwargs(), **kwargs)
