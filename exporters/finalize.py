"""The framework-independent half of an export: config, ONNX finishing, parity inputs.

Both :func:`exporters.export_torch` and :func:`exporters.export_keras` go through
here, so every exported file gets the same treatment:

1. :func:`build_config` validates the ``edgevision`` metadata *before* the slow
   export (a typo in ``preprocess`` fails in milliseconds, not after tracing);
2. :func:`finalize` simplifies the graph with onnxslim, runs ONNX shape
   inference and ``onnx.checker.check_model(full_check=True)``, checks that the
   batch axis is still dynamic, and writes the metadata (``ModelConfig.write``);
3. :func:`parity_inputs` builds the input batches the parity check runs on:
   random tensors, and representative images through the *deploy*
   preprocessing (the compiled kernel driven by the same config).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import edgevision
from edgevision.config import ModelConfig, deep_merge
from edgevision.errors import InvalidArgumentError

from .errors import ExportError
from .parity import ParityReport

DEFAULT_OPSET = 18  # ONNX Runtime >= 1.14, TensorRT >= 8.6 parse it; LSTM/GRU/Resize are all there.


@dataclass(frozen=True)
class ExportResult:
    """What an export produced."""

    path: Path
    config: ModelConfig
    parity: ParityReport | None
    info: dict[str, Any] = field(default_factory=dict)  #: finalize()'s figures, exporter, framework versions

    @property
    def size_mb(self) -> float:
        return self.path.stat().st_size / 1e6

    def summary(self) -> str:
        ins = ", ".join(f"{i['name']}{i['shape']}" for i in self.info.get("inputs", []))
        outs = ", ".join(f"{o['name']}{o['shape']}" for o in self.info.get("outputs", []))
        lines = [f"{self.path} ({self.size_mb:.2f} MB, opset {self.info.get('opset')}, task {self.config.task})",
                 f"  inputs: {ins}", f"  outputs: {outs}",
                 f"  nodes: {self.info.get('nodes_before')} -> {self.info.get('nodes_after')} "
                 f"({'onnxslim' if self.info.get('simplified') else 'not simplified'})"]
        if self.parity is not None:
            lines.append("  " + self.parity.summary().replace("\n", "\n  "))
        return "\n".join(lines)


def build_config(*, task: str, preprocess: Mapping[str, Any], input_name: str, layout: str = "NCHW",
                 dtype: str = "float32", name: str | None = None, labels: Sequence[str] | None = None,
                 charset: Sequence[str] | None = None, decoder: Mapping[str, Any] | None = None,
                 extra: Mapping[str, Any] | None = None) -> ModelConfig:
    """The validated ``edgevision`` config of a model about to be exported.

    ``preprocess`` holds the kernel options (``size`` [height, width] in pixels,
    ``mode``, ``scale``, ``mean``, ``std``, ``swap_rb``...; docs/model_metadata.md).
    ``extra`` adds top-level keys kept verbatim (e.g. ``training``).
    """
    if not isinstance(preprocess, Mapping) or "size" not in preprocess:
        raise InvalidArgumentError(
            "preprocess: expected a dict with at least 'size' ([height, width] of the model input, pixels), "
            f"got {preprocess!r}")
    d: dict[str, Any] = {"schema": 1, "task": task,
                         "input": {"name": input_name, "layout": layout, "dtype": dtype},
                         "preprocess": dict(preprocess)}
    if name is not None:
        d["name"] = name
    if labels is not None:
        d["labels"] = list(labels)
    if charset is not None:
        d["charset"] = list(charset)
    if decoder is not None:
        d["decoder"] = dict(decoder)
    if extra:
        d = deep_merge(d, dict(extra))
    return ModelConfig.from_dict(d, source="export config")


def input_shape(config: ModelConfig) -> tuple[int, int, int]:
    """The per-image input shape the config implies: (C, H, W) for NCHW, (H, W, C) for NHWC."""
    size, kw = config.preprocess_kwargs()
    h, w = size
    c = kw.get("channels") or 3
    return (c, h, w) if config.layout == "NCHW" else (h, w, c)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence the exporters' chatter (warnings, progress prints, INFO/WARNING logs) for one block.

    Errors still raise; pytest runs with warnings as errors, and users of a
    library function should not get a page of tracer notes per export.
    """
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo", "torch.fx",
                                               "onnxscript", "onnx_ir", "torch._export")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)


def _dim0(value_info: Any) -> tuple[str, Any]:
    dims = value_info.type.tensor_type.shape.dim
    if not dims:
        return "none", None
    d = dims[0]
    if d.HasField("dim_value"):
        return "value", d.dim_value
    if d.HasField("dim_param"):
        return "param", d.dim_param
    return "unknown", None


def finalize(path: str | os.PathLike, config: ModelConfig, *, simplify: bool = True,
             dynamic_batch: bool = True, producer: str | None = None) -> dict[str, Any]:
    """Simplify, check and label an exported ONNX file in place.

    With ``simplify``: onnxslim, then :func:`fold_conv_affine` and :func:`fold_pad_into_pool`.

    Returns a dict of what was done: ``simplified`` (bool), ``folded_affine_ops`` (ops
    folded into convolutions), ``folded_pads`` (Pads folded into pools), ``shared_initializers``
    (byte-identical weights merged into one), ``nodes_before``,
    ``nodes_after``, ``opset``, ``inputs``/``outputs`` (name, shape with
    symbolic dims as strings).

    Raises:
        ExportError: the checker or shape inference rejects the graph, or the
            batch axis of an input or output is fixed while ``dynamic_batch``.
    """
    import onnx

    path = Path(path)
    model = onnx.load(str(path))
    before = len(model.graph.node)
    simplified = False
    if simplify:
        import onnxslim

        with quiet():
            slim = onnxslim.slim(model)
        if slim is not None:
            model, simplified = slim, True
    # Keras' BatchNormalization: Sub/Mul/Add after each Conv, which int8 would leave as float islands
    folded = fold_conv_affine(model) if simplify else 0
    # Keras' MaxPooling2D(padding="same"): an edge Pad before the pool, a float island in int8
    folded_pads = fold_pad_into_pool(model) if simplify else 0
    # a layer applied several times has its (folded) weights stored once per call otherwise
    shared = dedupe_initializers(model)
    try:
        model = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # onnx raises several unrelated classes here
        raise ExportError(f"{path}: the exported graph fails the ONNX checker: {e}") from e
    if dynamic_batch:
        for kind, vis in (("input", model.graph.input), ("output", model.graph.output)):
            init_names = {t.name for t in model.graph.initializer}
            for vi in vis:
                if vi.name in init_names:
                    continue
                k, v = _dim0(vi)
                if k == "value":
                    raise ExportError(f"{path}: {kind} {vi.name!r} has a fixed batch axis ({v}) although "
                                      "dynamic_batch=True; the framework specialised the batch size while tracing")
    if producer:
        model.producer_name = "edgevision.exporters"
        model.producer_version = producer
    onnx.save(model, str(path))
    config.write(path)

    def sig(vis: Any) -> list[dict[str, Any]]:
        out = []
        for vi in vis:
            dims = [d.dim_param if d.HasField("dim_param") else (d.dim_value if d.HasField("dim_value") else "?")
                    for d in vi.type.tensor_type.shape.dim]
            out.append({"name": vi.name, "shape": dims})
        return out

    return {"simplified": simplified, "folded_affine_ops": folded, "folded_pads": folded_pads, "shared_initializers": shared, "nodes_before": before, "nodes_after": len(model.graph.node),
            "opset": max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=None),
            "inputs": sig(model.graph.input), "outputs": sig(model.graph.output)}


def consumers(graph: Any) -> dict[str, list[Any]]:
    """Every tensor name of an ONNX ``graph`` -> the nodes that read it, in graph order (a node
    reading a tensor twice is listed twice; tensors nothing reads are absent)."""
    users: dict[str, list[Any]] = {}
    for n in graph.node:
        for t in n.input:
            users.setdefault(t, []).append(n)
    return users


#: Elementwise ops :func:`fold_conv_affine` folds into the convolution before them.
_AFFINE_OPS = ("Add", "Sub", "Mul", "Div")


def fold_conv_affine(model: Any) -> int:
    """Fold per-channel affine ops after a convolution into its weights and bias, in place;
    returns how many ops were folded.

    Keras exports a BatchNormalization in inference as ``Sub(mean)``, ``Mul(gamma /
    sqrt(var + eps))`` and ``Add(beta)`` on the NHWC tensor, after a ``Transpose`` back from
    the NCHW ``Conv``; neither onnxslim nor ONNX Runtime folds that chain (the Transpose
    stands between), and after static int8 quantization each op becomes a float island
    between DequantizeLinear and QuantizeLinear. For every ``Conv`` with constant weights
    whose output, optionally through one ``Transpose`` to NHWC (perm ``[0, 2, 3, 1]``), feeds
    a chain of ``Add``/``Sub``/``Mul``/``Div`` by per-channel constants (an initializer of one
    value or one per output channel, on the channel axis), ``y = (x - m) * s + t`` becomes
    ``W' = W * s``, ``b' = (b - m) * s + t``. Each tensor of the chain must have one consumer
    and not be a graph output (the last may be one). Folded weights get new initializers
    (the old ones are dropped when nothing else uses them); float32 only.
    """
    from onnx import numpy_helper

    graph = model.graph
    init = {t.name: t for t in graph.initializer}
    outputs = {o.name for o in graph.output}
    readers = consumers(graph)

    def only_consumer(name: str) -> Any:
        users = readers.get(name, [])
        return users[0] if len(users) == 1 and name not in outputs else None

    def channel_vector(name: str, channels: int, axis: int) -> np.ndarray | None:
        t = init.get(name)
        if t is None or t.data_type != 1:  # float32
            return None
        a = numpy_helper.to_array(t)
        if a.size == 1:
            return np.full(channels, float(a.reshape(())), np.float64)
        shape = list(a.shape)
        if a.size != channels or len(shape) < -axis or shape[axis] != channels:
            return None
        return a.reshape(channels).astype(np.float64)

    folded, removed, counter = 0, set(), 0
    for conv in list(graph.node):
        if conv.op_type != "Conv" or len(conv.input) < 2 or conv.input[1] not in init:
            continue
        if len(conv.input) > 2 and conv.input[2] and conv.input[2] not in init:
            continue
        w = numpy_helper.to_array(init[conv.input[1]])
        if w.dtype != np.float32:
            continue
        channels = w.shape[0]
        # the node whose output the chain hangs from, and the channel axis counted from the end
        head, axis = conv, -(w.ndim - 1)
        nxt = only_consumer(conv.output[0])
        if nxt is not None and nxt.op_type == "Transpose":
            perm = next((list(a.ints) for a in nxt.attribute if a.name == "perm"), None)
            if perm == [0, 2, 3, 1] and w.ndim == 4:
                head, axis = nxt, -1
                nxt = only_consumer(nxt.output[0])
        scale, shift, chain = np.ones(channels), np.zeros(channels), []
        cur = head.output[0]
        while nxt is not None and nxt.op_type in _AFFINE_OPS and len(nxt.input) == 2:
            other = nxt.input[1] if nxt.input[0] == cur else nxt.input[0]
            first = nxt.input[0] == cur
            if nxt.op_type in ("Sub", "Div") and not first:
                break  # c - x, c / x: not affine in x the same way
            v = channel_vector(other, channels, axis)
            if v is None or (nxt.op_type == "Div" and not np.all(v != 0)):
                break
            if nxt.op_type == "Add":
                shift = shift + v
            elif nxt.op_type == "Sub":
                shift = shift - v
            elif nxt.op_type == "Mul":
                scale, shift = scale * v, shift * v
            else:
                scale, shift = scale / v, shift / v
            chain.append(nxt)
            cur = nxt.output[0]
            if cur in outputs:
                break
            nxt = only_consumer(cur)
        if not chain:
            continue
        b = (numpy_helper.to_array(init[conv.input[2]]).astype(np.float64) if len(conv.input) > 2 and conv.input[2]
             else np.zeros(channels))
        w2 = (w.astype(np.float64) * scale.reshape(-1, *([1] * (w.ndim - 1)))).astype(np.float32)
        b2 = (b * scale + shift).astype(np.float32)
        counter += 1
        names = []
        for arr, kind in ((w2, "W"), (b2, "B")):
            name = f"{conv.name or 'conv'}_folded_{kind}_{counter}"
            while name in init:
                name += "_"
            t = numpy_helper.from_array(arr, name)
            graph.initializer.append(t)
            init[name] = t
            names.append(name)
        del conv.input[1:]
        conv.input.extend(names)
        head.output[0] = cur  # the chain's result now comes straight from the conv (or its Transpose)
        for n in chain:
            removed.add(id(n))
        folded += len(chain)
    if not folded:
        return 0
    keep = [n for n in graph.node if id(n) not in removed]
    del graph.node[:]
    graph.node.extend(keep)
    _drop_unused_initializers(graph)
    return folded


def _drop_unused_initializers(graph: Any) -> None:
    """Remove the initializers that no node reads and that are not graph outputs (after a fold)."""
    used = {t for n in graph.node for t in n.input} | {o.name for o in graph.output}
    for t in [t for t in graph.initializer if t.name not in used]:
        graph.initializer.remove(t)


def fold_pad_into_pool(model: Any) -> int:
    """Fold an edge ``Pad`` before a ``MaxPool`` into the pool's own padding, in place; returns how
    many were folded.

    Keras exports ``MaxPooling2D(padding="same")`` as ``Pad(mode="edge")`` (the missing rows and
    columns after the image) then an unpadded ``MaxPool``. When each spatial pad is shorter than
    the pool's kernel on that axis, every window that reads a padded value also reads the edge
    value it copies, so the max is the max over the real values: exactly what ``MaxPool`` with
    those ``pads`` computes (its implicit padding is -inf). The Pad must pad only the spatial
    axes of the NCHW tensor with constant amounts, have the pool as its one reader, and the pool
    must not use ``auto_pad``, ``ceil_mode`` or dilations. In int8 this also removes the
    dequantize / Pad / quantize triple ONNX Runtime leaves around a float Pad.
    """
    from onnx import helper, numpy_helper

    graph = model.graph
    init = {t.name: t for t in graph.initializer}
    outputs = {o.name for o in graph.output}
    readers = consumers(graph)
    dead = []
    for pad in list(graph.node):
        if pad.op_type != "Pad" or pad.output[0] in outputs:
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in pad.attribute}
        if attrs.get("mode", b"constant") not in (b"edge", "edge"):
            continue
        users = readers.get(pad.output[0], [])
        if len(users) != 1 or users[0].op_type != "MaxPool":
            continue
        pool = users[0]
        if len(pad.input) < 2 or pad.input[1] not in init or (len(pad.input) > 3 and pad.input[3]):
            continue  # pads not constant, or an axes input
        amounts = numpy_helper.to_array(init[pad.input[1]]).astype(np.int64).reshape(-1)
        if len(amounts) != 8 or amounts[[0, 1, 4, 5]].any() or (amounts < 0).any():
            continue  # not a 4-d NCHW tensor padded on H and W only
        pa = {a.name: helper.get_attribute_value(a) for a in pool.attribute}
        kernel = list(pa.get("kernel_shape", []))
        if (len(kernel) != 2 or pa.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET") or pa.get("ceil_mode", 0)
                or any(d != 1 for d in pa.get("dilations", [1, 1])) or pa.get("storage_order", 0)):
            continue
        spatial = [int(amounts[2]), int(amounts[3]), int(amounts[6]), int(amounts[7])]  # h0, w0, h1, w1
        if any(v >= kernel[i % 2] for i, v in enumerate(spatial)):
            continue  # a window could lie wholly in the padding: not the same max
        old = list(pa.get("pads", [0, 0, 0, 0]))
        new = [a + b for a, b in zip(old, spatial)]
        for a in list(pool.attribute):
            if a.name == "pads":
                pool.attribute.remove(a)
        pool.attribute.append(helper.make_attribute("pads", new))
        pool.input[0] = pad.input[0]
        dead.append(pad)
    for n in dead:
        graph.node.remove(n)
    if dead:
        _drop_unused_initializers(graph)
    return len(dead)


def fold_file(path: str | os.PathLike, *, atol: float = 1e-4, rtol: float = 1e-4) -> int:
    """:func:`fold_conv_affine` (then :func:`dedupe_initializers`) on an exported ``.onnx`` file, in
    place (an export made before :func:`finalize` folded; a no-op on a newer one); returns how many
    ops were folded.

    The metadata is kept. ONNX Runtime runs the file before and after on random inputs (normal
    noise for float inputs, 0..255 otherwise; the model's fixed dims, 2 for symbolic ones); the
    outputs must agree within ``atol + rtol * |before|`` or the file is left as it was and
    :class:`ExportError` says by how much. The new file replaces the old one atomically.
    """
    import onnx

    from edgevision.backends import load_runner

    path = Path(path)
    model = onnx.load(str(path))
    folded = fold_conv_affine(model)
    if not folded:
        return 0
    dedupe_initializers(model)  # a shared layer's convs fold into identical weights: stored once
    onnx.checker.check_model(model, full_check=True)
    tmp = path.with_name(f".{path.name}.folding")
    onnx.save(model, str(tmp))
    try:
        before = load_runner(path, backend="onnxruntime", device="cpu")
        after = load_runner(tmp, backend="onnxruntime", device="cpu")
        rng = np.random.default_rng(0)
        feed = {}
        for i in before.inputs:
            shape = [d if isinstance(d, int) else 2 for d in i.shape]
            feed[i.name] = (rng.normal(0, 1, shape).astype(i.dtype) if np.issubdtype(i.dtype, np.floating)
                            else rng.integers(0, 256, shape).astype(i.dtype))
        for a, b, o in zip(before.infer(feed), after.infer(feed), before.outputs):
            a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
            excess = float(np.max(np.abs(a - b) - (atol + rtol * np.abs(a)))) if a.size else 0.0
            if excess > 0:
                raise ExportError(f"{path}: folding {folded} affine ops changes output {o.name!r} by up to "
                                  f"{float(np.max(np.abs(a - b))):.3g} (tolerance {atol} + {rtol} x |value|); "
                                  "not written")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return folded


def dedupe_initializers(model: Any) -> int:
    """Merge byte-identical initializers of an ONNX model in place; returns how many were dropped.

    A Keras layer applied several times (the shared class/box subnets of a
    RetinaNet head run on every FPN level) transposes its kernel at every call;
    constant folding (onnxslim's) turns each transpose into its own constant, so
    the weights would be stored once per call. Metadata and everything else are kept.
    """
    import hashlib

    from onnx import numpy_helper

    graph = model.graph
    protected = {o.name for o in graph.output} | {i.name for i in graph.input}
    first: dict[tuple, str] = {}
    rename: dict[str, str] = {}
    keep = []
    for t in graph.initializer:
        data = t.raw_data or numpy_helper.to_array(t).tobytes()
        key = (t.data_type, tuple(t.dims), hashlib.sha256(data).digest())
        if key in first and t.name not in protected:
            rename[t.name] = first[key]
        else:
            first.setdefault(key, t.name)
            keep.append(t)
    if not rename:
        return 0

    def fix(g: Any) -> None:
        for node in g.node:
            for i, name in enumerate(node.input):
                if name in rename:
                    node.input[i] = rename[name]
            for attr in node.attribute:
                for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                    fix(sub)

    fix(graph)
    del graph.initializer[:]
    graph.initializer.extend(keep)
    return len(rename)


@contextlib.contextmanager
def torchscript_log_off() -> Iterator[None]:
    """Keep the TorchScript exporter from dumping the whole graph to stdout when it fails.

    ``setup_onnx_logging`` in torch's TorchScript exporter tests the *function*
    ``_C._jit_is_onnx_log_enabled`` instead of calling it, so it always turns the
    C++ ONNX log on (and never off again); a failed export then prints the full
    graph ("Torch IR graph at exception") from C++, past ``redirect_stdout``.
    This swaps in a version that keeps the log off, and restores both.
    """
    import torch

    try:
        from torch.onnx._internal.torchscript_exporter import utils as tsu
    except ImportError:  # pragma: no cover - depends on the torch version
        yield
        return
    orig = getattr(tsu, "setup_onnx_logging", None)
    get = getattr(torch._C, "_jit_is_onnx_log_enabled", None)
    set_ = getattr(torch._C, "_jit_set_onnx_log_enabled", None)
    if orig is None or get is None or set_ is None:  # pragma: no cover - depends on the torch version
        yield
        return

    @contextlib.contextmanager
    def setup_onnx_logging(verbose: bool) -> Iterator[None]:
        yield

    was = bool(get())
    set_(False)
    tsu.setup_onnx_logging = setup_onnx_logging
    try:
        yield
    finally:
        tsu.setup_onnx_logging = orig
        set_(was)


def procedural_images(n: int, size: tuple[int, int], seed: int = 0) -> list[np.ndarray]:
    """``n`` deterministic image-like uint8 BGR scenes of ``size`` (height, width) pixels.

    Smooth gradients, filled shapes, lines and mild noise: inputs whose
    statistics look like photographs (strong spatial correlation, edges, the
    full 0..255 range) rather than white noise, for parity checks when no real
    images are given.
    """
    import cv2

    rng = np.random.default_rng(seed)
    h, w = size
    out = []
    for _ in range(n):
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        img = np.empty((h, w, 3), np.float32)
        for c in range(3):
            a, b, k = rng.uniform(-1, 1, 3)
            img[..., c] = 127 + 100 * np.sin(a * x / max(w, 1) * 6 + b * y / max(h, 1) * 6 + k * 3)
        img = img.clip(0, 255).astype(np.uint8)
        for _ in range(int(rng.integers(3, 9))):
            color = tuple(int(v) for v in rng.integers(0, 256, 3))
            p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            p2 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            if rng.random() < 0.5:
                cv2.rectangle(img, p1, p2, color, -1)
            else:
                cv2.line(img, p1, p2, color, int(rng.integers(1, 4)))
        noise = rng.normal(0, 4, img.shape)
        out.append(np.clip(img + noise, 0, 255).astype(np.uint8))
    return out


def parity_inputs(config: ModelConfig, *, batch: int = 2, seed: int = 0,
                  representative: Sequence[np.ndarray] | np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Named input batches for the parity check, in the model's layout and dtype.

    - ``random``: standard-normal tensors (timm's convention), ``batch`` of them (and, for a
      ``preprocess.stride`` model, ``batch`` more at half the height: its dynamic axes);
    - ``representative``: images through the deploy preprocessing
      (``edgevision.letterbox_batch`` with the config's options). ``representative``
      may be uint8 BGR images (any sizes) or an already preprocessed batch; by
      default :func:`procedural_images` are used.
    """
    shape = input_shape(config)
    dtype = np.dtype(config.dtype)
    rng = np.random.default_rng(seed)
    sets: dict[str, np.ndarray] = {"random": rng.standard_normal((batch, *shape)).astype(dtype)}
    if config.stride is not None:  # dynamic height and width: one smaller, non-square input too
        hw_at = (1, 2) if config.layout == "NCHW" else (0, 1)
        small = list(shape)
        small[hw_at[0]] = max(config.stride, shape[hw_at[0]] // 2 // config.stride * config.stride)
        sets["random, smaller input"] = rng.standard_normal((batch, *small)).astype(dtype)
    if isinstance(representative, np.ndarray) and representative.ndim == 4:
        if tuple(representative.shape[1:]) != shape:
            raise InvalidArgumentError(f"representative: expected a batch of shape (N, {', '.join(map(str, shape))}) "
                                       f"(the model input), got {representative.shape}")
        sets["representative"] = representative.astype(dtype, copy=False)
        return sets
    size, kw = config.preprocess_kwargs()
    hw = size
    if representative is None:
        images = procedural_images(batch, (max(hw[0], 48) * 3 // 2, max(hw[1], 48) * 3 // 2), seed)
    else:
        images = list(representative)
        if not images:
            raise InvalidArgumentError("representative: expected at least one image")
    channels = kw.get("channels") or 3
    if channels == 1:
        import cv2

        images = [cv2.cvtColor(im, cv2.COLOR_BGR2GRAY) if im.ndim == 3 else im for im in images]
    blob, _ = edgevision.letterbox_batch(images, size, **kw)
    sets["representative"] = blob
    return sets


__all__ = ["DEFAULT_OPSET", "ExportResult", "consumers", "dedupe_initializers", "fold_pad_into_pool", "torchscript_log_off", "build_config", "input_shape", "quiet", "finalize", "procedural_images", "parity_inputs"]
