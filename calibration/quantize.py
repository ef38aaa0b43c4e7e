"""INT8 / FP16 model variants, built on ``onnxruntime.quantization`` (host side).

* :func:`quantize`: static INT8, QDQ format, calibrated on a :class:`~calibration.data.CalibrationSet`
  (exactly the deploy preprocessing), per-channel weights; ``S8S8`` (default: symmetric
  int8 activations and weights, what TensorRT's explicit quantization takes) or ``U8S8``
  (uint8 activations: the fast format for ONNX Runtime on x86 CPUs).
* :func:`quantize_accuracy_aware`: :func:`quantize`, then, while the task metric is worse
  than the float model's by more than a tolerance, keeps the most quantization-sensitive
  nodes in float and re-quantizes.
* :func:`quantize_dynamic_int8`, :func:`convert_fp16`: the other two variants.
* :func:`write_tensorrt_calibration`: the TensorRT calibration table from the same data.
* :func:`report`: latency / task metric / size of several variants side by side.

Every variant keeps all of the source model's ``metadata_props`` and gets a
``quantization`` section in its ``edgevision`` metadata (see ``docs/quantization.md``),
so ``edgevision.Predictor`` drives it exactly like the float model.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import math
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgevision._io import atomic_output
from edgevision.errors import InvalidArgumentError, InvalidTypeError, ModelLoadError

from .errors import QuantizationError

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


def _reason(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[-1] if text else ''}".rstrip(": ")


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


# ---------------------------------------------------------------------------
# Graph surgery on QDQ models


def _consumers(graph: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for n in graph.node:
        for t in n.input:
            if t:
                out.setdefault(t, []).append(n)
    return out


def _producers(graph: Any) -> dict[str, Any]:
    return {t: n for n in graph.node for t in n.output if t}


def _float_inputs(model: Any, float_nodes: Sequence[str]) -> None:
    """Feeds the float nodes their activations in float: an input that comes from
    ``DequantizeLinear(QuantizeLinear(x))`` is rewired to ``x``. onnxruntime leaves such
    pairs in front of excluded nodes when a neighbour quantizes the tensor."""
    g = model.graph
    prod = _producers(g)
    names = set(float_nodes)
    for n in g.node:
        if n.name not in names:
            continue
        for i, t in enumerate(n.input):
            dq = prod.get(t)
            if dq is None or dq.op_type != "DequantizeLinear":
                continue
            q = prod.get(dq.input[0])
            if q is not None and q.op_type == "QuantizeLinear" and not _may_clip(g, q):
                n.input[i] = q.input[0]


def _may_clip(graph: Any, q: Any) -> bool:
    """True when a QuantizeLinear's zero point is its type's minimum (uint8 0, int8 -128).

    With asymmetric activations onnxruntime folds a Relu (or Clip at 0) into the
    QuantizeLinear that follows it: the range then starts at 0 and the quantization does
    the clipping. Bypassing such a pair would drop the activation, so it is kept."""
    from onnx import numpy_helper

    if len(q.input) < 3 or not q.input[2]:
        return True  # default zero point: uint8 0
    init = next((t for t in graph.initializer if t.name == q.input[2]), None)
    if init is None:
        return True
    zp = numpy_helper.to_array(init)
    lo = np.iinfo(zp.dtype).min if np.issubdtype(zp.dtype, np.integer) else None
    return lo is not None and bool(np.any(zp == lo))


def _float_outputs(model: Any) -> list[str]:
    """Removes the QuantizeLinear/DequantizeLinear pair onnxruntime puts on graph outputs
    (the producer then writes the float output directly); returns the outputs changed."""
    g = model.graph
    prod = _producers(g)
    cons = _consumers(g)
    changed = []
    for out in g.output:
        dq = prod.get(out.name)
        if dq is None or dq.op_type != "DequantizeLinear":
            continue
        q = prod.get(dq.input[0])
        if q is None or q.op_type != "QuantizeLinear" or len(cons.get(q.output[0], [])) != 1:
            continue
        x = q.input[0]
        src = prod.get(x)
        if src is None or x in {o.name for o in g.output} or x in {i.name for i in g.input}:
            continue
        # The producer writes the output's name; every other reader of x reads it too.
        for n in cons.get(x, []):
            n.input[:] = [out.name if v == x else v for v in n.input]
        src.output[:] = [out.name if v == x else v for v in src.output]
        g.node.remove(dq)
        g.node.remove(q)
        changed.append(out.name)
    return changed


def _prune(model: Any) -> None:
    """Drops Q/DQ nodes nothing reads any more, and initializers nothing uses."""
    g = model.graph
    outputs = {o.name for o in g.output}
    while True:
        cons = _consumers(g)
        dead = [n for n in g.node if n.op_type in _QDQ_OPS
                and not any(cons.get(t) or t in outputs for t in n.output)]
        if not dead:
            break
        for n in dead:
            g.node.remove(n)
    used = {t for n in g.node for t in n.input} | outputs
    for init in [i for i in g.initializer if i.name not in used]:
        g.initializer.remove(init)


def _classify(model: Any) -> tuple[list[str], list[str]]:
    """(nodes reading a dequantized input, other compute nodes), Q/DQ nodes left out."""
    g = model.graph
    prod = _producers(g)
    quantized, floating = [], []
    for n in g.node:
        if n.op_type in _QDQ_OPS:
            continue
        src = [prod.get(t) for t in n.input if t]
        # An activation DQ reads a QuantizeLinear; a DQ of a constant alone (weight-only int8) leaves it float.
        act = any(s is not None and s.op_type == "DequantizeLinear" and prod.get(s.input[0]) is not None
                  and prod[s.input[0]].op_type == "QuantizeLinear" for s in src)
        (quantized if act else floating).append(n.name or n.output[0])
    return quantized, floating


#: Float nodes whose constant weight has at least this many elements store it as int8 (weight-only).
WEIGHT_ONLY_MIN = 16384


def _weight_only_int8(model: Any, float_nodes: Sequence[str]) -> list[str]:
    """Stores the big constant weights of the float nodes as per-channel symmetric int8 behind a
    DequantizeLinear (weight-only int8): the node still computes in float on float activations,
    so accuracy is that of float activations, while the file keeps int8's size. Conv (axis 0),
    Gemm (axis 1, or 0 with transB) and MatMul (axis 1) weights of at least
    :data:`WEIGHT_ONLY_MIN` elements; returns the node names converted."""
    numpy_helper, helper = _onnx().numpy_helper, _onnx().helper
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    cons = _consumers(g)
    wanted = set(float_nodes)
    done, dqs = [], []
    for n in g.node:
        key = n.name or n.output[0]
        if key not in wanted or n.op_type not in ("Conv", "Gemm", "MatMul") or len(n.input) < 2:
            continue
        w_name = n.input[1]
        t = inits.get(w_name)
        if t is None or len(cons.get(w_name, [])) != 1 or t.data_type != 1 or len(t.dims) < 2:
            continue
        w = numpy_helper.to_array(t).astype(np.float32)
        if w.size < WEIGHT_ONLY_MIN:
            continue
        if n.op_type == "Conv":
            axis = 0
        elif n.op_type == "Gemm":
            axis = 0 if any(a.name == "transB" and a.i for a in n.attribute) else 1
        else:
            axis = w.ndim - 1
        red = tuple(i for i in range(w.ndim) if i != axis)
        scale = np.abs(w).max(axis=red) / 127.0
        scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
        shape = [1] * w.ndim
        shape[axis] = -1
        q = np.clip(np.round(w / scale.reshape(shape)), -127, 127).astype(np.int8)
        base = f"{w_name}_weight_only"
        g.initializer.remove(t)
        g.initializer.extend([numpy_helper.from_array(q, base + "_q"), numpy_helper.from_array(scale, base + "_scale"),
                              numpy_helper.from_array(np.zeros(scale.shape, np.int8), base + "_zp")])
        dqs.append(helper.make_node("DequantizeLinear", [base + "_q", base + "_scale", base + "_zp"],
                                    [base + "_dq"], name=base + "_DequantizeLinear", axis=axis))
        n.input[1] = base + "_dq"
        done.append(key)
    if dqs:  # the DQs read constants only: first in the graph keeps it topologically sorted
        nodes = [copy.deepcopy(x) for x in g.node]
        g.ClearField("node")
        g.node.extend(dqs + nodes)
    return done


# ---------------------------------------------------------------------------
# Static quantization


def _check_choice(value: Any, name: str, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value.lower() not in [c.lower() for c in choices]:
        raise InvalidArgumentError(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
    return next(c for c in choices if c.lower() == value.lower())


def _check_options(method: Any, fmt: Any, per_channel: Any, percentile: Any) -> tuple[str, str, bool, float]:
    method = _check_choice(method, "method", METHODS)
    fmt = _check_choice(fmt, "fmt", FORMATS)
    if not isinstance(per_channel, (bool, np.bool_)):
        raise InvalidTypeError(f"per_channel: expected a bool, got {per_channel!r}")
    if isinstance(percentile, bool) or not isinstance(percentile, (int, float)) or not 0 < percentile <= 100:
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


def _preprocess(src: Path, dst: Path, notes: list[str]) -> Path:
    """``quant_pre_process`` (symbolic shape inference, ORT basic optimizations, ONNX shape
    inference); falls back to skipping the symbolic pass, then to the model as is."""
    from onnxruntime.quantization import quant_pre_process

    errors = []
    for kwargs in ({}, {"skip_symbolic_shape": True}):
        try:
            with _quiet():
                quant_pre_process(os.fspath(src), os.fspath(dst), **kwargs)
            if errors:
                notes.append(f"pre-processing without symbolic shape inference ({errors[0]})")
            return dst
        except Exception as e:  # onnxruntime/onnx raise many types here
            errors.append(_reason(e))
    notes.append(f"pre-processing failed ({'; '.join(errors)}); quantized the model as is")
    return src


def _calibration_data(model: Path, data: Any, calibrate_count: int | None) -> Any:
    from .data import CalibrationSet

    if isinstance(data, CalibrationSet):
        return data
    if data is None:
        raise InvalidArgumentError("data: expected a CalibrationSet or a calibration source (a dataset path, "
                                   "'synth[:SEED]' or a list of images), got None")
    return CalibrationSet.from_source(model, data, count=calibrate_count or 256)


def _check_count(calibrate_count: Any) -> int | None:
    if calibrate_count is None:
        return None
    if isinstance(calibrate_count, bool) or not isinstance(calibrate_count, (int, np.integer)) or calibrate_count < 1:
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


# ---------------------------------------------------------------------------
# Dynamic int8 and fp16


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


# ---------------------------------------------------------------------------
# Sensitivity


def _channel_snr_db(pre: Sequence[np.ndarray], post: Sequence[np.ndarray], shape: Sequence[int | None] | None = None
                    ) -> float:
    """Worst per-channel signal-to-quantization-noise ratio in dB.

    ``pre``/``post``: the batches of one tensor before and after its QDQ pair (as
    ``collect_activations`` returns them: flattened per batch); ``shape``: the tensor's
    shape (batch first; the other dimensions must be static) to find the channels, axis
    1. Without it the whole tensor is one channel. The signal is each channel's variance
    (its mean removed), so a constant offset or an outlier channel cannot hide a channel
    whose variation the int8 step wipes out; channels without variation are skipped.
    ``inf`` when no channel varies or none has any noise.
    """
    rest = list(shape[1:]) if shape is not None and len(shape) >= 2 else []
    per = int(np.prod(rest)) if rest and all(isinstance(d, int) and d > 0 for d in rest) else 0

    def channels(batches: Sequence[np.ndarray]) -> np.ndarray:
        out = []
        for a in batches:
            a = np.asarray(a, np.float64).reshape(-1)
            if per and a.size % per == 0:
                out.append(np.moveaxis(a.reshape(-1, rest[0], per // rest[0]), 1, 0).reshape(rest[0], -1))
            else:
                out.append(a.reshape(1, -1))
        if len({o.shape[0] for o in out}) != 1:
            out = [o.reshape(1, -1) for o in out]
        return np.concatenate(out, axis=1)

    x, y = channels(pre), channels(post)
    if x.shape != y.shape:
        return math.inf
    signal = x.var(axis=1)
    noise = np.mean((x - y) ** 2, axis=1)
    scale = float(np.mean(x ** 2)) + 1e-30
    live = signal > 1e-10 * scale
    if not np.any(live):
        return math.inf
    with np.errstate(divide="ignore"):
        snr = 10 * np.log10(signal[live] / noise[live])
    return float(np.min(snr))


def _shapes(model: Any) -> dict[str, list[int | None]]:
    """Tensor name -> shape (``None`` for unknown dims), after ONNX shape inference."""
    onnx = _onnx()
    try:
        g = onnx.shape_inference.infer_shapes(model).graph
    except Exception:  # shape inference is best effort here
        g = model.graph
    out = {}
    for vi in list(g.value_info) + list(g.output) + list(g.input):
        t = vi.type.tensor_type
        if t.HasField("shape"):
            out[vi.name] = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
    return out


def node_costs(model: str | os.PathLike | Any) -> dict[str, int]:
    """Per node of a float model, the work it does at batch 1, in multiply-accumulates.

    ``Conv``: output elements x (input channels / group) x kernel area; ``Gemm`` and
    ``MatMul`` with a constant 2-D weight: output elements x the reduced dimension;
    every other op: its output elements (an elementwise or pooling op is memory-bound:
    about one pass over its output). Unknown shapes count as 0. This is the figure
    :func:`quantize_accuracy_aware` uses to try cheap nodes first: keeping a node in
    float costs roughly its float compute (a float Conv is several times slower than
    its int8 one), while a float Add, pool or small Gemm costs a pass over a tensor.
    """
    m = model if hasattr(model, "graph") else _load(_model_path(model, "model"))
    shapes = _shapes(m)
    inits = {t.name: list(t.dims) for t in m.graph.initializer}

    def elems(name: str) -> int:
        shape = shapes.get(name)
        if not shape or any(d is None or d <= 0 for d in shape[1:]):
            return 0
        return int(np.prod(shape[1:], dtype=np.int64))  # batch 1

    out: dict[str, int] = {}
    for n in m.graph.node:
        key = n.name or n.output[0]
        o = elems(n.output[0]) if n.output else 0
        if n.op_type == "Conv" and len(n.input) > 1 and n.input[1] in inits and len(inits[n.input[1]]) >= 3:
            w = inits[n.input[1]]
            out[key] = o * int(np.prod(w[1:], dtype=np.int64))
        elif n.op_type in ("Gemm", "MatMul") and len(n.input) > 1 and len(inits.get(n.input[1], [])) == 2:
            w = inits[n.input[1]]
            trans_b = any(a.name == "transB" and a.i for a in n.attribute) if n.op_type == "Gemm" else False
            out[key] = o * int(w[1] if trans_b else w[0])
        else:
            out[key] = o
    return out


def head_nodes(model: str | os.PathLike | Any) -> list[str]:
    """The nodes of a float model's *head*: those after its last spatial tensor.

    Walking back from every graph output, a node belongs to the head while its
    outputs are vectors per image (rank <= 2, or spatial dimensions all 1, as after a
    global pool); the walk stops at a node with a spatial output (the backbone) or
    an unknown shape. A CNN regressor's head is its global pool, flatten and fully
    connected layers: cheap to run in float, and where int8 rounding of a few hundred
    features lands directly on the regressed values. Returns names in graph order
    (empty for a model without such a head).
    """
    m = model if hasattr(model, "graph") else _load(_model_path(model, "model"))
    shapes = _shapes(m)
    prod = {o: n for n in m.graph.node for o in n.output}
    inits = {t.name for t in m.graph.initializer}

    def vector(t: str) -> bool:
        shape = shapes.get(t)
        if shape is None:
            return False
        return len(shape) <= 2 or all(d == 1 for d in shape[2:])

    head: set[str] = set()
    todo = [o.name for o in m.graph.output]
    while todo:
        n = prod.get(todo.pop())
        if n is None or (n.name or n.output[0]) in head or not all(vector(o) for o in n.output):
            continue
        head.add(n.name or n.output[0])
        todo += [i for i in n.input if i and i not in inits]
    return [n.name or n.output[0] for n in m.graph.node if (n.name or n.output[0]) in head]


def node_sensitivity(float_model: str | os.PathLike, qdq_model: str | os.PathLike, data: Any, *,
                     count: int = 16) -> list[dict[str, Any]]:
    """Ranks the quantized nodes of ``qdq_model`` by how much quantizing their inputs hurts.

    Uses ``onnxruntime.quantization.qdq_loss_debug``: both models are run with every
    intermediate tensor as an output (``collect_activations``) on the first ``count``
    calibration tensors of ``data`` (a CalibrationSet), and each quantized activation is
    compared before and after its QuantizeLinear/DequantizeLinear pair
    (``create_activation_matching``). The error is the worst per-channel SNR in dB
    (channel axis 1, each channel's variance against its quantization noise), not the
    whole-tensor SNR of ``compute_signal_to_quantization_noice_ratio``: one outlier
    channel would make the whole tensor look fine while the int8 step wipes out the
    others. A node's score is the worst SNR among its activation inputs;
    a graph output's quantization is charged to the node producing it.

    Returns:
        ``[{"node", "op_type", "tensor", "snr_db"}, ...]``, lowest SNR (most sensitive) first.
    """
    from onnxruntime.quantization.qdq_loss_debug import (
        collect_activations,
        create_activation_matching,
        modify_model_output_intermediate_tensors,
    )

    fpath, qpath = _model_path(float_model, "float_model"), _model_path(qdq_model, "qdq_model")
    with tempfile.TemporaryDirectory(prefix="edgevision-debug-") as tmp:
        fa, qa = Path(tmp) / "float_aug.onnx", Path(tmp) / "qdq_aug.onnx"
        try:
            with _quiet():
                modify_model_output_intermediate_tensors(os.fspath(fpath), os.fspath(fa))
                modify_model_output_intermediate_tensors(os.fspath(qpath), os.fspath(qa))
                f_act = collect_activations(os.fspath(fa), data.reader(limit=count))
                q_act = collect_activations(os.fspath(qa), data.reader(limit=count))
        except Exception as e:
            raise QuantizationError(f"node_sensitivity: {_reason(e)}", step="debug") from None
    match = create_activation_matching(q_act, f_act)
    shapes = _shapes(_load(fpath, "float_model"))
    snr = {name: _channel_snr_db(m["pre_qdq"], m["post_qdq"], shapes.get(name)) for name, m in match.items()
           if m.get("pre_qdq") and m.get("post_qdq")}
    q = _load(qpath, "qdq_model")
    g = q.graph
    prod = _producers(g)
    outputs = {o.name for o in g.output}
    scores: dict[str, tuple[float, str, str]] = {}

    def charge(node: Any, tensor: str, value: float) -> None:
        key = node.name or node.output[0]
        if key not in scores or value < scores[key][0]:
            scores[key] = (value, node.op_type, tensor)

    for n in g.node:
        if n.op_type in _QDQ_OPS:
            continue
        for t in n.input:
            dq = prod.get(t)
            if dq is not None and dq.op_type == "DequantizeLinear":
                qn = prod.get(dq.input[0])
                if qn is not None and qn.op_type == "QuantizeLinear":
                    name = qn.input[0]
                    base = name.removesuffix("_QuantizeLinear_Input")
                    if base in snr:
                        charge(n, base, snr[base])
    for name, value in snr.items():  # quantized graph outputs: charge the producer
        if name in outputs:
            dq = prod.get(name)
            qn = prod.get(dq.input[0]) if dq is not None else None
            src = prod.get(qn.input[0]) if qn is not None else None
            if src is not None and src.op_type not in _QDQ_OPS:
                charge(src, name, value)
    ranked = sorted(scores.items(), key=lambda kv: (kv[1][0], kv[0]))
    return [{"node": k, "op_type": v[1], "tensor": v[2], "snr_db": v[0]} for k, v in ranked if math.isfinite(v[0])]


# ---------------------------------------------------------------------------
# Accuracy-aware quantization


def _limit(fp32: float, tolerance: float, higher: bool) -> float:
    return fp32 - tolerance if higher else fp32 * (1.0 + tolerance)


def _within(value: float, limit: float, higher: bool) -> bool:
    return value >= limit if higher else value <= limit


def _metric_value(ev: Any, metric: str) -> float:
    v = ev.value if metric == ev.metric else ev.details.get(metric)
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
        raise InvalidArgumentError(f"metric: {metric!r} is not a number in the {ev.task} evaluation "
                                   f"(available: {', '.join(k for k, x in ev.details.items() if isinstance(x, float))})")
    return float(v)


def quantize_accuracy_aware(model: str | os.PathLike, data: Any, eval_samples: Sequence[Any], *, tolerance: float,
                            metric: str | None = None, method: str = "minmax", fmt: str = "S8S8",
                            per_channel: bool = True, percentile: float = 99.999, exclude: Sequence[str] = (),
                            max_float_nodes: int = 8, nodes_per_step: int = 1, out: str | os.PathLike | None = None,
                            calibrate_count: int | None = None, preprocess: bool = True, debug_count: int = 16,
                            cheap_first: float | None = 0.01, compare_default: bool = False,
                            progress: bool = False) -> AccuracyAwareResult:
    """Static INT8 with a bound on the task-metric loss.

    1. Evaluates the float model on ``eval_samples`` with :func:`calibration.metrics.evaluate`.
    2. Quantizes (as :func:`quantize`, ``exclude`` kept float) and evaluates the result.
    3. While the metric is out of tolerance: ranks the quantized nodes by sensitivity
       (:func:`node_sensitivity`, once, on the first QDQ model), keeps the next
       ``nodes_per_step`` nodes of the queue in float, re-quantizes (the calibrated
       ranges are cached, so only the first step runs the calibration data) and
       re-evaluates; it stops within tolerance, when more than ``max_float_nodes`` nodes
       would be float, or when the ranking is exhausted. The queue is the ranking with
       the *cheap* nodes first (``cheap_first``): a float node costs latency in
       proportion to its work (:func:`node_costs`), so a sensitive Gemm or Add is
       tried before a sensitive Conv; and before them, as one step, the model's head
       (:func:`head_nodes`: global pool onward) when it is cheap.

    Tolerance, in the metric's own units:

    * lower-is-better metrics (``mae_norm``, ``mae_px``, ``cer``) are **relative**:
      ``tolerance=0.05`` accepts ``int8 <= fp32 * 1.05`` (+5 %);
    * higher-is-better metrics (``exact_match``, ``map50``, fractions in 0..1) are
      **absolute**: ``tolerance=0.005`` accepts a drop of 0.005, i.e. 0.5 percentage points.

    Args:
        model, data, method, fmt, per_channel, percentile, exclude, calibrate_count,
            preprocess: as for :func:`quantize`.
        eval_samples: labelled samples for :func:`~calibration.metrics.evaluate` (e.g.
            :func:`~calibration.metrics.heldout_samples`); keep them apart from the calibration data.
        tolerance: see above (>= 0).
        metric: the metric compared (default: the task's primary metric; any numeric key
            of ``EvalResult.details`` in :data:`METRIC_DIRECTIONS`).
        max_float_nodes: at most this many nodes kept in float beyond ``exclude``.
        nodes_per_step: nodes added to the float set per step.
        out: output path (default ``<stem>_int8.onnx``): the first step within tolerance,
            else the step with the best metric.
        debug_count: calibration tensors used to rank the nodes.
        cheap_first: nodes whose :func:`node_costs` is at most this fraction of the
            model's total are queued first (each group in sensitivity order); ``None``
            or 0: the plain sensitivity order. Each ranking entry records its ``cost``
            (MACs) and ``cost_share``.
        compare_default: also quantize with plain ``quantize_static`` defaults (MinMax,
            per-tensor weights, asymmetric activations, no pre-processing) and evaluate it,
            for the record (``result.baseline``).
        progress: progress bars (tqdm) over the evaluations.

    Returns:
        An :class:`AccuracyAwareResult` (``ok`` False with the ``reason`` when the limit was hit).
    """
    from .metrics import evaluate

    src = _model_path(model)
    method, fmt, per_channel, percentile = _check_options(method, fmt, per_channel, percentile)
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not (
            math.isfinite(tolerance) and tolerance >= 0):
        raise InvalidArgumentError(f"tolerance: expected a finite number >= 0 (relative for lower-is-better "
                                   f"metrics, absolute for accuracies), got {tolerance!r}")
    for name, v, lo in (("max_float_nodes", max_float_nodes, 0), ("nodes_per_step", nodes_per_step, 1),
                        ("debug_count", debug_count, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise InvalidArgumentError(f"{name}: expected an int >= {lo}, got {v!r}")
    if cheap_first is not None and (isinstance(cheap_first, bool) or not isinstance(cheap_first, (int, float))
                                    or not 0 <= cheap_first <= 1):
        raise InvalidArgumentError(f"cheap_first: expected a fraction of the model's work in [0, 1] or None, "
                                   f"got {cheap_first!r}")
    if metric is not None and metric not in METRIC_DIRECTIONS:
        raise InvalidArgumentError(f"metric: expected one of {', '.join(METRIC_DIRECTIONS)} or None, got {metric!r}")
    calibrate_count = _check_count(calibrate_count)
    dst = _out_path(src, out, "_int8")
    source = _load(src)
    _check_exclude(exclude)
    cs = _calibration_data(src, data, calibrate_count)

    fp32 = evaluate(src, eval_samples, progress=progress)
    metric = metric or fp32.metric
    higher = METRIC_DIRECTIONS.get(metric, fp32.higher_is_better)
    fp32_value = _metric_value(fp32, metric)
    limit = _limit(fp32_value, float(tolerance), higher)

    notes: list[str] = []
    steps: list[dict[str, Any]] = []
    ranking: list[dict[str, Any]] = []
    baseline = None
    with tempfile.TemporaryDirectory(prefix="edgevision-quant-") as tmp:
        work = Path(tmp)
        pre = _preprocess(src, work / "pre.onnx", notes) if preprocess else src
        user_nodes, types = _resolve_exclude(_load(pre, "pre-processed model"), exclude, source) if pre != src \
            else _resolve_exclude(source, exclude)
        cache = work / "ranges.json"
        count = len(cs) if calibrate_count is None else min(len(cs), calibrate_count)

        def attempt(i: int, float_nodes: list[str], added: list[str]) -> dict[str, Any]:
            t0 = time.perf_counter()
            raw, path = work / f"raw{i}.onnx", work / f"step{i}.onnx"
            _static(pre, raw, cs, method=method, fmt=fmt, per_channel=per_channel, percentile=percentile,
                    nodes_to_exclude=float_nodes, calibrate_count=calibrate_count, cache_path=cache)
            section = _section("static", representation="QDQ", method=method, format=fmt, per_channel=per_channel,
                               **({"percentile": percentile} if method == "percentile" else {}),
                               calibration={**cs.info(), "count": count}, excluded_nodes=list(float_nodes),
                               excluded_op_types=types, preprocessed=pre != src,
                               accuracy_aware={"metric": metric, "tolerance": float(tolerance),
                                               "fp32": fp32_value})
            step_notes: list[str] = []
            quantized, floating = _finish_static(raw, source, path, section=section, float_nodes=float_nodes,
                                                 float_outputs=True, notes=step_notes)
            ev = evaluate(path, eval_samples, progress=progress)
            value = _metric_value(ev, metric)
            section["accuracy_aware"]["value"] = value
            return {"step": i, "float_nodes": list(float_nodes), "added": list(added), "value": value,
                    "within": _within(value, limit, higher), "seconds": round(time.perf_counter() - t0, 3),
                    "_path": path, "_section": section, "_nodes": (quantized, floating), "_notes": step_notes}

        steps.append(attempt(0, list(user_nodes), []))
        reason = "within tolerance with no node kept in float beyond exclude"
        if not steps[0]["within"]:
            ranking = node_sensitivity(pre, steps[0]["_path"], cs, count=debug_count)
            costs = node_costs(pre)
            total = max(1, sum(costs.values()))
            for r in ranking:
                r["cost"] = int(costs.get(r["node"], 0))
                r["cost_share"] = r["cost"] / total
            cheap = [r["node"] for r in ranking if cheap_first and r["cost_share"] <= cheap_first]
            singles = [n for n in cheap + [r["node"] for r in ranking if r["node"] not in cheap] if n not in user_nodes]
            # The head (global pool onward) goes first, as one step, when it is cheap, partly quantized
            # and not the whole model (some ranked node with work lies outside it: a backbone).
            head = [n for n in head_nodes(pre) if n not in user_nodes]
            ranked = {r["node"] for r in ranking}
            groups: list[list[str]] = []
            backbone = any(costs.get(r["node"], 0) and r["node"] not in head for r in ranking)
            if (cheap_first and head and backbone and any(n in ranked for n in head)
                    and sum(costs.get(n, 0) for n in head) / total <= cheap_first):
                groups.append(head)
            if groups:
                singles = [n for n in singles if n not in head]
            groups += [singles[i:i + nodes_per_step] for i in range(0, len(singles), nodes_per_step)]
            float_nodes = list(user_nodes)
            reason = ("the sensitivity ranking is exhausted" if ranking
                      else "no quantized node could be ranked (nothing left to keep in float)")
            while groups:
                added = [n for n in groups.pop(0) if n not in float_nodes]
                if not added:
                    continue
                if len(float_nodes) - len(user_nodes) + len(added) > max_float_nodes:
                    reason = f"max_float_nodes={max_float_nodes} reached"
                    break
                float_nodes += added
                steps.append(attempt(len(steps), float_nodes, added))
                if steps[-1]["within"]:
                    reason = f"within tolerance with {len(float_nodes) - len(user_nodes)} node(s) kept in float"
                    break
        if compare_default:
            baseline = _baseline(src, cs, work, eval_samples, metric, progress)

        within = [s for s in steps if s["within"]]
        best = within[0] if within else (max if higher else min)(steps, key=lambda s: s["value"])
        if not within:
            reason = f"not within tolerance: {reason}; wrote the best step ({best['step']})"
        _copy_atomic(best["_path"], dst)
        quantized, floating = best["_nodes"]
        result = QuantizeResult(dst, src, "static", best["_section"], quantized, floating, best["float_nodes"],
                                _size_mb(dst), _size_mb(src), sum(s["seconds"] for s in steps),
                                notes + best["_notes"])
    public = [{k: v for k, v in s.items() if not k.startswith("_")} for s in steps]
    return AccuracyAwareResult(dst, bool(within), reason, metric, higher, float(tolerance), limit, fp32_value,
                               best["value"], best["float_nodes"], public, ranking, result, baseline)


def _copy_atomic(src: Path, dst: Path) -> None:
    with atomic_output(dst) as tmp:
        shutil.copyfile(src, tmp)


def _baseline(src: Path, cs: Any, work: Path, eval_samples: Sequence[Any], metric: str, progress: bool) -> dict[str, Any]:
    """Plain ``quantize_static`` defaults on the same model and data, evaluated."""
    from onnxruntime.quantization import quantize_static

    from .metrics import evaluate

    path = work / "default.onnx"
    try:
        with _quiet():
            quantize_static(os.fspath(src), os.fspath(path), cs.reader())
    except Exception as e:
        return {"value": None, "error": _reason(e)}
    ev = evaluate(path, eval_samples, progress=progress)
    return {"value": _metric_value(ev, metric),
            "settings": "quantize_static defaults: QDQ, MinMax, per-tensor weights, int8 asymmetric activations, "
                        "no pre-processing, outputs quantized"}


# ---------------------------------------------------------------------------
# TensorRT calibration table


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


# ---------------------------------------------------------------------------
# Report


def _variant_kind(path: str) -> str:
    from edgevision.modelinfo import model_info

    graph = model_info(path)["quantization"]["graph"]
    return graph["kind"] if isinstance(graph, dict) else "unknown"


def report(models: Sequence[str | os.PathLike] | Mapping[str, str | os.PathLike], samples: Sequence[Any] | None, *,
           runs: int = 30, threads: int | None = None, eval_limit: int | None = None,
           out_md: str | os.PathLike | None = None, out_json: str | os.PathLike | None = None,
           progress: bool = False) -> dict[str, Any]:
    """Latency, task metric and size of model variants, side by side.

    Args:
        models: ``.onnx`` paths (variant = file stem) or ``{variant: path}``. The baseline
            for the ratios is the first float (not quantized, not fp16) model, else the first.
        samples: labelled samples for :func:`~calibration.metrics.evaluate` (None: no metric).
        runs: at least this many timed :meth:`Predictor.infer` calls per variant; the variants are
            timed round-robin (``calibration.timing.measure_interleaved``) on one batch-1
            input tensor made by the model's own preprocessing.
        threads: ONNX Runtime intra-op threads (None: its default).
        eval_limit: evaluate on the first N samples only.
        out_md, out_json: write the Markdown table / the JSON document there.

    Returns:
        ``{"environment": ..., "baseline": name, "rows": [...], "markdown": str}``; each row:
        ``variant, path, kind, p50_ms, p90_ms, latency_ratio, metric, value,
        higher_is_better, metric_delta, size_mb, size_ratio, evaluation`` (``metric_delta``: relative
        change for lower-is-better metrics, absolute for the others; ratios to the baseline;
        ``evaluation``: the full :meth:`EvalResult.to_dict`, breakdowns included, or None).
    """
    from .timing import environment, measure_interleaved, percentile
    from edgevision.predictor import Predictor

    from .metrics import evaluate

    if isinstance(models, Mapping):
        items = [(str(k), v) for k, v in models.items()]
    elif isinstance(models, (str, os.PathLike)) or not isinstance(models, Sequence):
        raise InvalidTypeError(f"models: expected a list of .onnx paths or a {{variant: path}} dict, got {models!r}")
    else:
        items = [(Path(m).stem if isinstance(m, (str, os.PathLike)) else str(m), m) for m in models]
    if not items:
        raise InvalidArgumentError("models: expected at least one model")
    if len({k for k, _ in items}) != len(items):
        raise InvalidArgumentError(f"models: variant names must be unique, got {[k for k, _ in items]}")
    if isinstance(runs, bool) or not isinstance(runs, (int, np.integer)) or runs < 1:
        raise InvalidArgumentError(f"runs: expected an int >= 1, got {runs!r}")
    for name, f in (("out_md", out_md), ("out_json", out_json)):
        if f is not None and (not isinstance(f, (str, os.PathLike)) or not Path(f).resolve().parent.is_dir()):
            raise InvalidArgumentError(f"{name}: expected a file path in an existing folder, got {f!r}")
    paths = {k: _model_path(v, f"models[{k!r}]") for k, v in items}
    preds = {k: Predictor(p, threads=threads, warmup=False) for k, p in paths.items()}
    kinds = {k: _variant_kind(os.fspath(p)) for k, p in paths.items()}
    base = next((k for k in paths if kinds[k] == "none"), next(iter(paths)))

    rows: dict[str, dict[str, Any]] = {}
    fns = {}
    for k, p in preds.items():
        size, kw = p.config.preprocess_kwargs()
        ch = kw.get("channels") or 3
        img = np.full((size[0], size[1]) if ch == 1 else (size[0], size[1], ch), 114, np.uint8)
        blob, _ = p.preprocess([img])
        fns[k] = (lambda p=p, b=blob: p.infer(b))  # what benchmarks.latency times as "infer"
    stats = measure_interleaved(fns, rounds=6, warmup=3, min_samples=runs, min_time_s=0.3)
    for k, path in paths.items():
        ev = None
        if samples is not None:
            ev = evaluate(preds[k], samples, limit=eval_limit, progress=progress)
        rows[k] = {"variant": k, "path": os.fspath(path), "kind": kinds[k],
                   "p50_ms": percentile(stats[k].samples_ms, 50), "p90_ms": percentile(stats[k].samples_ms, 90),
                   "metric": ev.metric if ev else None, "value": ev.value if ev else None,
                   "higher_is_better": ev.higher_is_better if ev else None, "count": ev.count if ev else 0,
                   "size_mb": _size_mb(path), "evaluation": ev.to_dict() if ev else None}
    b = rows[base]
    for r in rows.values():
        r["latency_ratio"] = r["p50_ms"] / b["p50_ms"] if b["p50_ms"] > 0 else None
        r["size_ratio"] = r["size_mb"] / b["size_mb"] if b["size_mb"] > 0 else None
        if r["value"] is not None and b["value"] is not None:
            if r["higher_is_better"]:
                r["metric_delta"] = r["value"] - b["value"]
            else:
                r["metric_delta"] = (r["value"] / b["value"] - 1.0) if b["value"] else None
        else:
            r["metric_delta"] = None
    doc = {"environment": environment(), "baseline": base, "runs": int(runs), "rows": list(rows.values())}
    doc["markdown"] = _markdown(doc)
    if out_md is not None:
        Path(out_md).write_text(doc["markdown"], encoding="utf-8")
    if out_json is not None:
        Path(out_json).write_text(json.dumps(doc, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    return doc


def _markdown(doc: dict[str, Any]) -> str:
    env = doc["environment"]
    base = next(r for r in doc["rows"] if r["variant"] == doc["baseline"])
    header = (f"Baseline `{base['variant']}` (`{base['path']}`); {env.get('cpu')}, {env.get('cores')} cores, "
              f"onnxruntime {env.get('onnxruntime')}, {env.get('date')}. p50 of `Predictor.infer` on one batch-1 input, "
              "variants timed round-robin; ratios to the baseline.")
    lines = [header, "",
             "| variant | kind | p50 latency ms | task metric | size MB |", "|---|---|---|---|---|"]
    for r in doc["rows"]:
        lat = f"{r['p50_ms']:.3f} ({r['latency_ratio']:.2f}x)" if r["latency_ratio"] is not None else \
            f"{r['p50_ms']:.3f}"
        if r["value"] is None:
            met = "n/a"
        else:
            met = f"{r['metric']} {r['value']:.6g}"
            if r["metric_delta"] is not None and r["variant"] != doc["baseline"]:
                met += (f" ({r['metric_delta'] * 100:+.2f} pp)" if r["higher_is_better"]
                        else f" ({r['metric_delta'] * 100:+.1f}%)")
            legible = ((r.get("evaluation") or {}).get("details") or {}).get("legible")
            if legible and r["metric"] in legible:  # OCR: the same metric without the illegible plates
                met += f"; legible {legible[r['metric']]:.6g}"
        size = f"{r['size_mb']:.3f} ({r['size_ratio']:.2f}x)" if r["size_ratio"] is not None else f"{r['size_mb']:.3f}"
        lines.append(f"| {r['variant']} | {r['kind']} | {lat} | {met} | {size} |")
    return "\n".join(lines) + "\n"
