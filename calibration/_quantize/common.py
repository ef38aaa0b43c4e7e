"""Formats, methods, the result types and the small helpers every section of :mod:`calibration.quantize` uses."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgevision._io import atomic_output
from edgevision.checks import reason as _reason  # the one exception-reason helper (re-exported: the sections use _reason)
from edgevision.errors import InvalidArgumentError, InvalidTypeError, ModelLoadError

from ..errors import QuantizationError


#: Calibration methods (``onnxruntime.quantization.CalibrationMethod``).
METHODS: tuple[str, ...] = ("minmax", "entropy", "percentile", "distribution")
#: Activation/weight formats: ``S8S8`` = int8 activations (symmetric) and int8 weights;
#: ``U8S8`` = uint8 activations (asymmetric) and int8 weights.
FORMATS: tuple[str, ...] = ("S8S8", "U8S8")
#: Metrics and whether higher is better (for ``quantize_accuracy_aware(metric=...)``).
METRIC_DIRECTIONS: dict[str, bool] = {"mae_norm": False, "mae_px": False, "max_norm": False, "cer": False,
                                      "exact_match": True, "map50": True}
_QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")


# ---------------------------------------------------------------------------
# Results


@dataclass
class QuantizeResult:
    """What :func:`quantize` (or :func:`quantize_dynamic_int8` / :func:`convert_fp16`) wrote.

    Attributes:
        path: the new model.
        source: the float model it was made from.
        mode: ``static``, ``dynamic`` or ``fp16``.
        quantization: the ``quantization`` section written into the model's metadata.
        quantized_nodes: nodes that read dequantized (int8) inputs (static mode).
        float_nodes: compute nodes left in float (static mode; excluded or not quantizable).
        excluded_nodes: the nodes asked to stay float (``exclude``), resolved to node names.
        size_mb, source_size_mb: file sizes in MB (1e6 bytes).
        seconds: wall time.
        notes: anything that did not go as planned (e.g. a pre-processing fallback).
    """

    path: Path
    source: Path
    mode: str
    quantization: dict[str, Any]
    quantized_nodes: list[str] = field(default_factory=list)
    float_nodes: list[str] = field(default_factory=list)
    excluded_nodes: list[str] = field(default_factory=list)
    size_mb: float = 0.0
    source_size_mb: float = 0.0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        q = self.quantization
        what = {"static": f"static int8 {q.get('format')} ({q.get('method')}, "
                          f"{'per-channel' if q.get('per_channel') else 'per-tensor'} weights)",
                "dynamic": "dynamic int8", "fp16": "fp16"}[self.mode]
        line = (f"{self.source} -> {self.path}: {what}; {self.size_mb:.3f} MB "
                f"({self.size_mb / self.source_size_mb:.2f}x of {self.source_size_mb:.3f} MB)" if self.source_size_mb
                else f"{self.source} -> {self.path}: {what}")
        if self.mode == "static":
            line += f"; {len(self.quantized_nodes)} nodes quantized, {len(self.float_nodes)} float"
            if self.excluded_nodes:
                line += f" (kept float: {', '.join(self.excluded_nodes)})"
        return line + f"; {self.seconds:.1f} s"

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "source": str(self.source), "mode": self.mode,
                "quantization": self.quantization, "quantized_nodes": list(self.quantized_nodes),
                "float_nodes": list(self.float_nodes), "excluded_nodes": list(self.excluded_nodes),
                "size_mb": self.size_mb, "source_size_mb": self.source_size_mb, "seconds": self.seconds,
                "notes": list(self.notes)}


@dataclass
class AccuracyAwareResult:
    """What :func:`quantize_accuracy_aware` did.

    Attributes:
        path: the model written (the first step within tolerance, else the best step).
        ok: whether its metric is within tolerance of the float model's.
        reason: why the loop stopped, in words.
        metric, higher_is_better: the metric compared.
        tolerance: as given; ``limit``: the worst acceptable value it implies.
        fp32_value: the float model's metric; ``value``: the written model's.
        float_nodes: the nodes kept in float in the written model.
        steps: one dict per quantized candidate: ``step``, ``float_nodes``, ``added``,
            ``value``, ``within``, ``seconds``.
        ranking: the sensitivity ranking used (``node``, ``op_type``, ``tensor``, ``snr_db``,
            ``cost``, ``cost_share``), worst first.
        baseline: with ``compare_default=True``, plain ``quantize_static`` defaults on the
            same data: ``{"value": ..., "settings": ...}``.
        result: the :class:`QuantizeResult` of the written model.
    """

    path: Path
    ok: bool
    reason: str
    metric: str
    higher_is_better: bool
    tolerance: float
    limit: float
    fp32_value: float
    value: float
    float_nodes: list[str]
    steps: list[dict[str, Any]]
    ranking: list[dict[str, Any]]
    result: QuantizeResult
    baseline: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "ok": self.ok, "reason": self.reason, "metric": self.metric,
                "higher_is_better": self.higher_is_better, "tolerance": self.tolerance, "limit": self.limit,
                "fp32_value": self.fp32_value, "value": self.value, "float_nodes": list(self.float_nodes),
                "steps": [dict(s) for s in self.steps], "ranking": [dict(r) for r in self.ranking],
                "baseline": self.baseline, "result": self.result.to_dict()}


# ---------------------------------------------------------------------------
# Small helpers


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        from edgevision.errors import MissingDependencyError

        raise MissingDependencyError("calibration.quantize needs the onnx package (host side): pip install onnx",
                                     name="onnx") from None
    return onnx


def _model_path(model: Any, name: str = "model") -> Path:
    if not isinstance(model, (str, os.PathLike)):
        raise InvalidTypeError(f"{name}: expected an .onnx path, got {type(model).__name__}")
    p = Path(model)
    if not p.exists():
        raise ModelLoadError(f"{name}: no such file '{p}'")
    if not p.is_file():
        raise ModelLoadError(f"{name}: '{p}' is not a file; expected an .onnx model")
    return p


def _load(path: Path, name: str = "model") -> Any:
    onnx = _onnx()
    try:
        m = onnx.load(os.fspath(path))
    except Exception as e:  # protobuf DecodeError and friends
        raise ModelLoadError(f"{name}: '{path}' is not an ONNX model ({type(e).__name__}: {e})") from None
    if not m.HasField("graph") or not len(m.graph.node):
        raise ModelLoadError(f"{name}: '{path}' is not an ONNX model (no graph)")
    return m


def _out_path(model: Path, out: Any, suffix: str) -> Path:
    if out is None:
        return model.with_name(model.stem + suffix + ".onnx")
    if not isinstance(out, (str, os.PathLike)):
        raise InvalidTypeError(f"out: expected an .onnx path or None, got {type(out).__name__}")
    p = Path(out)
    if p.resolve() == model.resolve():
        raise InvalidArgumentError(f"out: '{p}' is the source model itself; write the variant to another file")
    if p.exists() and p.is_dir():
        raise InvalidArgumentError(f"out: '{p}' is a folder; expected an .onnx file path")
    if not p.resolve().parent.is_dir():
        raise InvalidArgumentError(f"out: the folder of '{p}' does not exist")
    return p


@contextlib.contextmanager
def _quiet() -> Iterator[io.StringIO]:
    """onnxruntime.quantization prints progress to stdout, logs on the root logger and warns;
    keep all of that local (the root logger gets no handler as a side effect)."""
    root = logging.getLogger()
    placeholder = None
    if not root.handlers:  # logging.warning() would otherwise call basicConfig() for good
        placeholder = logging.NullHandler()
        root.addHandler(placeholder)
    previous = root.manager.disable
    logging.disable(logging.WARNING)
    buf = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(buf):
            warnings.simplefilter("ignore")
            yield buf
    finally:
        logging.disable(previous)
        if placeholder is not None:
            root.removeHandler(placeholder)


def _versions() -> dict[str, str]:
    import onnxruntime

    import edgevision

    return {"onnxruntime": onnxruntime.__version__, "onnx": _onnx().__version__, "edgevision": edgevision.__version__}


def _size_mb(path: Path) -> float:
    return round(path.stat().st_size / 1e6, 6)


def _atomic_save(model: Any, dst: Path) -> None:
    onnx = _onnx()
    with atomic_output(dst) as tmp:
        onnx.save(model, tmp)


def _with_metadata(model: Any, source: Any, section: dict[str, Any], notes: list[str]) -> None:
    """Copy every metadata_props entry of ``source`` onto ``model`` and add ``section`` as
    ``quantization`` in the ``edgevision`` JSON (kept verbatim otherwise)."""
    from edgevision.config import METADATA_KEY

    entries = {e.key: e.value for e in source.metadata_props}
    entries.update({e.key: e.value for e in model.metadata_props if e.key not in entries})
    if METADATA_KEY in entries:
        try:
            doc = json.loads(entries[METADATA_KEY])
        except ValueError as e:
            raise InvalidArgumentError(f"model: its {METADATA_KEY!r} metadata is not valid JSON ({e})") from None
        if not isinstance(doc, dict):
            raise InvalidArgumentError(f"model: its {METADATA_KEY!r} metadata is not a JSON object")
        doc["quantization"] = section
        entries[METADATA_KEY] = json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    else:
        notes.append(f"the source model has no {METADATA_KEY!r} metadata: the quantization section is stored "
                     "under the metadata key 'quantization' (pass config=/overrides to the Predictor)")
        entries["quantization"] = json.dumps(section, ensure_ascii=False, allow_nan=False)
    del model.metadata_props[:]
    for k, v in entries.items():
        e = model.metadata_props.add()
        e.key, e.value = k, v


def _check_loads_isolated(path: Path, step: str) -> None:
    """Like :func:`_check_loads`, in a child process: some graphs crash onnxruntime's session
    creation outright (a segfault, seen with an fp16 CRNN on 1.31), which must become an
    error here, not the end of the caller's process."""
    import subprocess
    import sys

    import edgevision

    code = ("import sys; sys.path.insert(0, sys.argv[2]); from edgevision.backends import load_runner; "
            "load_runner(sys.argv[1], backend='onnxruntime', device='cpu')")
    root = os.path.dirname(os.path.dirname(os.path.abspath(edgevision.__file__)))  # where this edgevision is
    r = subprocess.run([sys.executable, "-c", code, os.fspath(path), root], capture_output=True, text=True)
    if r.returncode < 0:
        raise QuantizationError(f"{step}: onnxruntime crashed (signal {-r.returncode}) creating a session for the "
                                f"model written to '{path}'", step="load")
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["?"])[-1]
        raise QuantizationError(f"{step}: the model written to '{path}' does not load in onnxruntime ({last})",
                                step="load")


def _check_loads(path: Path, step: str) -> None:
    from edgevision.backends import load_runner

    try:
        load_runner(os.fspath(path), backend="onnxruntime", device="cpu")
    except Exception as e:
        raise QuantizationError(f"{step}: the model written to '{path}' does not load in onnxruntime "
                                f"({_reason(e)})", step="load") from None
