"""Model configuration: what a model needs around it, stored inside the ONNX file.

:class:`ModelConfig` is the single source of truth for how a model is driven:
its task, its input tensor (name, layout, dtype), the preprocessing options of
the compiled kernel (:func:`edgevision.letterbox`), its labels or charset, and
the decoder options of its task. It lives as JSON in the ONNX model's
``metadata_props`` entry named ``edgevision`` (see ``docs/model_metadata.md``)::

    {"schema": 1, "task": "detection",
     "input": {"name": "images", "layout": "NCHW", "dtype": "float32"},
     "preprocess": {"size": [640, 640], "mode": "letterbox", "swap_rb": true},
     "labels": ["plate"],
     "decoder": {"layout": "yolov8", "conf_threshold": 0.25, "iou_threshold": 0.45,
                 "max_det": 300, "class_agnostic": false}}

Conventions:

* ``preprocess`` keys are the kernel's option names (``mode``, ``align``,
  ``scaleup``, ``interpolation``, ``scale``, ``mean``, ``std``, ``swap_rb``,
  ``pad_value``, ``channels``) plus ``size`` = ``[height, width]`` in pixels
  (an int means a square). They are validated by the kernel's own parser
  (:func:`edgevision.preprocess.parse_options`), so there is one validator.
  Keys left out take the kernel's defaults (``scale`` is 1/255 for float
  outputs and 1 for uint8). The output ``layout``/``dtype`` live in ``input``
  only; ``threads`` is a run-time setting, not part of a model's config.
* Per-channel values (``mean``, ``std``, ``scale``, ``pad_value``) are in
  *output* channel order (after ``swap_rb``); ``pad_value`` is in pixel units
  (0..255). Images are BGR(A) as ``cv2.imread`` returns them.
* Keypoint outputs are ``(x, y)``; plate corners are 4 points, clockwise from
  top-left. ``normalized: true`` means fractions of the model input
  (x / width, y / height), otherwise model-input pixels.
* ``ctc_ocr``: ``charset`` lists the symbols of the *non-blank* classes in
  class order, so the model has ``len(charset) + 1`` classes, and class ``c``
  is ``charset[c]`` if ``c < blank`` else ``charset[c - 1]``. An optional
  ``decoder.rows`` (as ``slots_ocr``'s) names a second output with the
  one-row/two-row scores.
* ``slots_ocr``: head ``i`` predicts, for each of its ``slots`` (character
  positions 0..L-1 of the text), one class of its own ``charset``.

Runtime-safe: this module imports numpy, the kernel and the task registry
(:mod:`edgevision.tasks`, which imports the decoders) only. ``onnxruntime``
is imported when a model is read, ``onnx`` only inside :meth:`ModelConfig.write`
(host side), PyYAML only to read a ``.yaml`` config file.

Where the code lives: this module is the public face. It holds :class:`ModelConfig`
and the reading of models and config files (:func:`resolve_config`,
:func:`read_metadata`...), and re-exports the rest from the private package
``edgevision/_config/``, one module per section:

* ``_config/common.py``: the schema's keys and version, the error helper, and the
  validators of single values (shared with the task registry);
* ``_config/sources.py``: strict JSON, the ``schema`` check, charset references,
  the input options hoisted out of ``preprocess``, and the merging of layers;
* ``_config/validate.py``: completeness (missing keys, with an example call) and
  validation (the one function every ModelConfig goes through);
* ``_config/slots.py``: the ``slots_ocr`` heads and rows checks.

Each task's decoder keys, defaults, examples and decoder factory are in its
spec in :mod:`edgevision.tasks`. Import from ``edgevision.config``; the private
modules may change.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from . import preprocess as _pp
from . import tasks as _tasks
from ._config.common import (
    INPUT_KEYS,
    METADATA_KEY,
    PREPROCESS_KEYS,
    SCHEMA_VERSION,
    TOP_LEVEL_KEYS,
    _INPUT_OPTIONS,
    _ONNX_ELEM_TYPES,
    _RUNTIME_OPTIONS,
    _did_you_mean,
    _error,
    _fmt,
    _get_path,
)
from ._config.slots import validate_row_split
from ._config.sources import _check_object, _loads_json, _merge_layer, _prepare_layer, deep_merge
from ._config.validate import _validate
from ._io import atomic_output
from .errors import (
    InvalidArgumentError,
    InvalidMetadataError,
    InvalidTypeError,
    MissingDependencyError,
    ModelLoadError,
    UnsupportedSchemaError,
)

__all__ = [
    "deep_merge",
    "ModelConfig",
    "resolve_config",
    "read_metadata",
    "metadata_layer",
    "read_custom_metadata",
    "load_config_file",
    "METADATA_KEY",
    "SCHEMA_VERSION",
    "TASKS",
    "PREPROCESS_KEYS",
    "DECODER_DEFAULTS",
    "DECODER_REQUIRED",
]

# Also importable from here (not in __all__): INPUT_KEYS, TOP_LEVEL_KEYS, validate_row_split.

#: The built-in tasks (:data:`edgevision.tasks.BUILTIN_TASKS`); ``edgevision.tasks.task_names()``
#: adds the tasks registered since.
TASKS = _tasks.BUILTIN_TASKS
#: Decoder keys with a default, and the defaults, per built-in task (from the task registry).
DECODER_DEFAULTS: dict[str, dict[str, Any]] = {t: _tasks.get_task(t).defaults for t in TASKS}
#: Decoder keys each built-in task requires (no default).
DECODER_REQUIRED: dict[str, tuple[str, ...]] = {t: _tasks.get_task(t).required for t in TASKS
                                                if _tasks.get_task(t).required}

# ---------------------------------------------------------------------------
# The config


@dataclass(frozen=True)
class ModelConfig:
    """A model's task, input, preprocessing, labels/charset and decoder options (validated).

    Construct it with :meth:`from_dict` / :meth:`from_json` / :meth:`read` (or
    directly with the fields: they are validated the same way). Every instance
    is complete and valid; treat the dict fields as read-only.

    Attributes:
        task: one of :data:`TASKS`, or a task registered with :func:`edgevision.tasks.register_task`.
        name: the model's name, or None.
        input_name: the name of the model's image input, or None (the model's only input).
        layout: ``"NCHW"`` or ``"NHWC"``, the input tensor layout the kernel writes.
        dtype: ``"float32"``, ``"float16"`` or ``"uint8"``, the input tensor dtype.
        preprocess: ``{"size": [height, width], ...}`` in pixels, plus the kernel
            options that differ from the kernel's defaults (see module docs).
        labels: class names in class-index order, or None.
        charset: the symbols of a ``ctc_ocr`` model's non-blank classes, in class order, or None.
        decoder: the task's decoder options with defaults filled in
            (from the task's spec, :mod:`edgevision.tasks`); optional keys without a default are left out.
        extra: any other top-level keys of the metadata (e.g. ``quantization``), verbatim.
    """

    task: str
    name: str | None = None
    input_name: str | None = None
    layout: str = "NCHW"
    dtype: str = "float32"
    preprocess: dict[str, Any] = field(default_factory=dict)
    labels: tuple[str, ...] | None = None
    charset: tuple[str, ...] | None = None
    decoder: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        fields = _validate(self._as_dict(), "ModelConfig(...)")
        for k, v in fields.items():
            object.__setattr__(self, k, v)

    def __hash__(self) -> int:
        return hash(self.to_json(sort_keys=True))

    # --- construction ---------------------------------------------------------

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, source: str = "<dict>", base_dir: str | os.PathLike | None = None,
                  model_metadata: Mapping[str, str] | None = None) -> "ModelConfig":
        """A validated config from its JSON-shaped dict (the metadata schema).

        Args:
            d: ``{"schema": 1, "task": ..., "preprocess": {...}, ...}``.
            source: where ``d`` came from, for error messages (a path, ``"<dict>"``...).
            base_dir: directory that ``{"file": ...}`` charset references are relative
                to (default: the working directory).
            model_metadata: the model's custom metadata map, for
                ``{"metadata_key": ...}`` charset references.

        Raises:
            InvalidMetadataError: bad content; the message names ``source`` and the key path.
            UnsupportedSchemaError: ``schema`` is not :data:`SCHEMA_VERSION`.
            MissingConfigError: required keys are missing (all of them are listed).
        """
        layer = _prepare_layer(d, source, base_dir, model_metadata)
        return cls(**_validate(layer, source))

    @classmethod
    def from_json(cls, text: str | bytes, *, source: str = "<json>", base_dir: str | os.PathLike | None = None,
                  model_metadata: Mapping[str, str] | None = None) -> "ModelConfig":
        """A validated config from JSON text (strict: no NaN, no duplicate keys); see :meth:`from_dict`."""
        return cls.from_dict(_loads_json(text, source), source=source, base_dir=base_dir,
                             model_metadata=model_metadata)

    @classmethod
    def read(cls, model: str | os.PathLike | Any) -> "ModelConfig | None":
        """The config embedded in a model, or None when it has no ``edgevision`` metadata entry.

        Args:
            model: an ``.onnx`` path (opened with onnxruntime on CPU, which loads
                the whole model: pass an existing session where there is one) or an
                ``onnxruntime.InferenceSession``.

        Raises:
            ModelLoadError: the file is missing or not a loadable ONNX model.
            InvalidMetadataError / UnsupportedSchemaError / MissingConfigError: the
                entry is not valid JSON, not a supported schema, or not a complete
                config (use :func:`read_metadata` + :func:`resolve_config` to
                complete partial metadata).
        """
        meta, name, base_dir = _custom_metadata(model)
        if METADATA_KEY not in meta:
            return None
        source = f"{name} (metadata_props[{METADATA_KEY!r}])"
        return cls.from_json(meta[METADATA_KEY], source=source, base_dir=base_dir, model_metadata=meta)

    # --- views ----------------------------------------------------------------

    def _as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"schema": SCHEMA_VERSION, "task": self.task}
        if self.name is not None:
            d["name"] = self.name
        inp: dict[str, Any] = {}
        if self.input_name is not None:
            inp["name"] = self.input_name
        inp["layout"] = self.layout
        inp["dtype"] = self.dtype
        d["input"] = inp
        d["preprocess"] = self.preprocess
        if self.labels is not None:
            d["labels"] = list(self.labels) if isinstance(self.labels, (list, tuple)) else self.labels
        if self.charset is not None:
            d["charset"] = list(self.charset) if isinstance(self.charset, (list, tuple)) else self.charset
        d["decoder"] = self.decoder
        if isinstance(self.extra, Mapping):
            for k, v in self.extra.items():
                if k in TOP_LEVEL_KEYS:
                    raise _error("ModelConfig(...)", f"extra.{k}", f"{k!r} is a schema key; set the field instead")
                d[k] = v
        else:
            raise _error("ModelConfig(...)", "extra", f"expected a dict, got {_fmt(self.extra)}")
        return d

    def to_dict(self) -> dict[str, Any]:
        """The metadata schema as a new dict (``schema`` first, then the keys in schema order, then ``extra``)."""
        return copy.deepcopy(self._as_dict())

    def to_json(self, *, indent: int | None = None, sort_keys: bool = False) -> str:
        """The metadata JSON (UTF-8 text, non-ASCII symbols kept as is)."""
        return json.dumps(self._as_dict(), ensure_ascii=False, allow_nan=False, indent=indent, sort_keys=sort_keys,
                          separators=(",", ": ") if indent is not None else (",", ":"))

    def merged(self, overrides: Mapping[str, Any], *, base_dir: str | os.PathLike | None = None) -> "ModelConfig":
        """A new validated config: ``overrides`` (same keys as the JSON) merged over this one.

        Dicts merge key by key, recursively; lists and other values replace;
        ``None`` means "not given". Setting a different ``task`` drops this
        config's decoder options. Unknown top-level keys go to ``extra``.
        """
        layer = _prepare_layer(overrides, "<overrides>", base_dir, None)
        return _resolve_layers([("<config>", self._as_dict()), ("<overrides>", layer)], "<merged>")

    def preprocess_kwargs(self) -> tuple[tuple[int, int], dict[str, Any]]:
        """``(size, kwargs)`` ready for ``edgevision.letterbox(image, size, **kwargs)``.

        ``size`` is ``(height, width)`` in pixels; ``kwargs`` holds the
        preprocess options (per-channel lists as tuples) plus ``layout`` and ``dtype``.
        """
        size = (int(self.preprocess["size"][0]), int(self.preprocess["size"][1]))
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in self.preprocess.items()
                  if k not in ("size", "stride")}
        kwargs["layout"] = self.layout
        kwargs["dtype"] = self.dtype
        return size, kwargs

    @property
    def stride(self) -> int | None:
        """``preprocess.stride``: the model takes any input height and width in multiples of it
        (both axes dynamic), up to ``preprocess.size``, and the Predictor letterboxes each call to
        the smallest such input (:func:`edgevision.preprocess.rect_size`); ``None``: always ``size``."""
        return self.preprocess.get("stride")

    @property
    def input_channels(self) -> int:
        """Channels of the model's input tensor: ``preprocess.channels`` (default 3) plus
        ``preprocess.zero_channels`` (channels the kernel writes as 0, default 0)."""
        return int(self.preprocess.get("channels") or 3) + int(self.preprocess.get("zero_channels") or 0)

    def preprocess_options(self, image_channels: int = 3) -> "_pp.Options":
        """The kernel's validated options (every default resolved) for images with ``image_channels`` channels."""
        _, kwargs = self.preprocess_kwargs()
        return _pp.parse_options(image_channels, **kwargs)

    # --- writing --------------------------------------------------------------

    def write(self, src_onnx: str | os.PathLike, dst_onnx: str | os.PathLike | None = None) -> Path:
        """Embeds this config in an ONNX file (host side; needs the ``onnx`` package).

        Sets or replaces the ``edgevision`` entry of ``metadata_props`` and keeps
        every other entry. ``dst_onnx`` defaults to ``src_onnx``; either way the
        file is written to a temporary file in the destination directory and
        moved into place with ``os.replace`` (atomic; the old file's permissions
        are kept). Weights stored as external data are left where they are, so
        such a model can only be written into its own directory.

        The config is checked against the graph: ``input.name`` must be an input,
        the input's dtype must be ``dtype``, static dimensions must match
        ``layout``, ``preprocess.size`` and ``preprocess.channels`` (default 3) plus
        ``preprocess.zero_channels``, and slots-head outputs must exist.

        Returns:
            The path written.
        """
        try:
            import onnx
        except ImportError:
            raise MissingDependencyError(
                "ModelConfig.write needs the onnx package (host side): pip install onnx", name="onnx"
            ) from None
        src = Path(os.fspath(src_onnx))
        dst = Path(os.fspath(dst_onnx)) if dst_onnx is not None else src
        if not src.exists():
            raise ModelLoadError(f"src_onnx: no such file '{src}'")
        if not src.is_file():
            raise ModelLoadError(f"src_onnx: '{src}' is not a file; expected an .onnx model")
        try:
            model = onnx.load(os.fspath(src), load_external_data=False)
        except Exception as e:  # protobuf's DecodeError and friends
            raise ModelLoadError(f"src_onnx: '{src}' is not an ONNX model ({type(e).__name__}: {e})") from None
        if not model.HasField("graph"):
            raise ModelLoadError(f"src_onnx: '{src}' is not an ONNX model (no graph)")
        if _uses_external_data(model.graph) and dst.resolve().parent != src.resolve().parent:
            raise InvalidArgumentError(
                f"dst_onnx: '{src}' keeps weights in external data files next to it; write into the same "
                f"directory ({src.resolve().parent}), or copy the data files along first"
            )
        self._check_graph(model.graph, str(src))
        value = self.to_json()
        entries = [e for e in model.metadata_props if e.key == METADATA_KEY]
        if entries:
            entries[0].value = value
            for e in entries[1:]:
                model.metadata_props.remove(e)
        else:
            entry = model.metadata_props.add()
            entry.key, entry.value = METADATA_KEY, value
        if not dst.resolve().parent.is_dir():
            raise InvalidArgumentError(f"dst_onnx: the directory of '{dst}' does not exist")
        _atomic_save(onnx, model, dst)
        return dst

    def _check_graph(self, graph: Any, source: str) -> None:
        inits = {t.name for t in graph.initializer}
        inputs = [i for i in graph.input if i.name not in inits]
        names = [i.name for i in inputs]
        if self.input_name is not None:
            if self.input_name not in names:
                raise _error(source, "input.name", f"{self.input_name!r} is not an input of the model; inputs: {names}")
            vi = inputs[names.index(self.input_name)]
        elif len(inputs) == 1:
            vi = inputs[0]
        else:
            raise _error(source, "input.name", f"the model has {len(inputs)} inputs {names}; name the image input")
        tt = vi.type.tensor_type
        if tt.elem_type:
            have = _ONNX_ELEM_TYPES.get(tt.elem_type)
            if have != self.dtype:
                what = have or f"ONNX element type {tt.elem_type}, which the kernel cannot produce"
                raise _error(source, "input.dtype", f"{self.dtype!r}, but the model's input {vi.name!r} is {what}")
        if tt.HasField("shape") and len(tt.shape.dim) == 4:
            dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
            c, h, w = (dims[1], dims[2], dims[3]) if self.layout == "NCHW" else (dims[3], dims[1], dims[2])
            want_c = self.input_channels
            hw = self.preprocess["size"]
            if self.stride is not None and (h is not None or w is not None):
                raise _error(source, "preprocess.stride",
                             f"{self.stride} needs the model's height and width axes dynamic; its input "
                             f"{vi.name!r} has shape {dims}")
            for what, want, have_ in (("preprocess.size", hw[0], h), ("preprocess.size", hw[1], w),
                                      ("preprocess.channels", want_c, c)):
                if have_ is not None and have_ != want:
                    raise _error(source, what,
                                 f"size {hw} (height, width) with {want_c} channels in {self.layout} does not fit "
                                 f"the model's input {vi.name!r} of shape {dims}")
        spec = _tasks.get_task(self.task)
        if spec.output_refs is not None:
            outs = [o.name for o in graph.output]
            for path, o in spec.output_refs(self.decoder):
                if (isinstance(o, str) and o not in outs) or (isinstance(o, int) and o >= len(outs)):
                    raise _error(source, path, f"{o!r} is not an output of the model; outputs: {outs}")


def _uses_external_data(graph: Any) -> bool:
    tensors = list(graph.initializer) + [s.values for s in graph.sparse_initializer]
    for node in graph.node:
        for a in node.attribute:
            tensors += ([a.t] if a.HasField("t") else []) + list(a.tensors)
            for g in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                if _uses_external_data(g):
                    return True
    return any(t.data_location == 1 for t in tensors)  # TensorProto.EXTERNAL


def _atomic_save(onnx: Any, model: Any, dst: Path) -> None:
    with atomic_output(dst) as tmp:
        onnx.save(model, tmp)


# ---------------------------------------------------------------------------
# Reading models and config files


def _custom_metadata(model: Any) -> tuple[dict[str, str], str, str | None]:
    """(custom metadata map, a name for messages, the model's directory or None)."""
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not os.path.exists(path):
            raise ModelLoadError(f"model: no such file '{path}'")
        if not os.path.isfile(path):
            raise ModelLoadError(f"model: '{path}' is not a file; expected an .onnx model")
        from .backends import load_runner

        # The runner for the file type (ONNX Runtime for .onnx), on the CPU without graph
        # optimizations: only its metadata is read.
        try:
            runner = load_runner(path, device="cpu", graph_optimization="disable")
        except ModelLoadError as e:
            raise ModelLoadError(f"model: '{path}' is not a loadable ONNX model ({str(e).rsplit('(', 1)[-1]}") from None
        return dict(runner.metadata), path, os.path.dirname(os.path.abspath(path))
    if hasattr(model, "get_modelmeta"):
        path = getattr(model, "_model_path", None)  # for messages only
        name = "<onnxruntime.InferenceSession" + (f" of {path}>" if isinstance(path, str) and path else ">")
        return dict(model.get_modelmeta().custom_metadata_map), name, None
    raise InvalidTypeError(
        f"model: expected an .onnx path or an onnxruntime.InferenceSession, got {type(model).__name__}"
    )


def read_custom_metadata(model: str | os.PathLike | Any) -> dict[str, str]:
    """A model's whole custom metadata map (``metadata_props``): an .onnx path or an ``InferenceSession``."""
    return _custom_metadata(model)[0]


def read_metadata(model: str | os.PathLike | Any) -> dict[str, Any] | None:
    """The model's ``edgevision`` entry as a dict, possibly partial, or None when there is none.

    The JSON, its ``schema`` version and its charset references are checked and
    resolved; completeness is not (feed the result to :func:`resolve_config`
    as ``metadata`` to complete it with a config file and overrides).
    """
    meta, name, base_dir = _custom_metadata(model)
    return metadata_layer(meta, name, base_dir)


def metadata_layer(custom: Mapping[str, str], name: str, base_dir: str | os.PathLike | None = None
                   ) -> dict[str, Any] | None:
    """The ``edgevision`` entry of a model's string metadata map (a :class:`~edgevision.backends.Runner`'s
    ``metadata``), checked as :func:`read_metadata` checks it (strict JSON, schema, references
    resolved against ``base_dir``), or None when the map has none. ``name`` names the model in messages."""
    if METADATA_KEY not in custom:
        return None
    source = f"{name} (metadata_props[{METADATA_KEY!r}])"
    return _prepare_layer(_loads_json(custom[METADATA_KEY], source), source, base_dir, custom)


def load_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """A config file (``.json``, ``.yaml`` or ``.yml``) as a dict, as written (references not resolved)."""
    p = Path(os.fspath(path))
    suffix = p.suffix.lower()
    if suffix not in (".json", ".yaml", ".yml"):
        raise InvalidArgumentError(f"config: expected a .json, .yaml or .yml file, got '{p}'")
    if not p.is_file():
        raise InvalidArgumentError(f"config: no such file '{p}'")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidArgumentError(f"config: cannot read '{p}' as UTF-8 text ({e})") from None
    if suffix == ".json":
        d = _loads_json(text, str(p))
    else:
        try:
            import yaml
        except ImportError:
            raise MissingDependencyError(
                f"config: reading '{p}' needs PyYAML (pip install pyyaml), or write the config as .json", name="yaml"
            ) from None
        try:
            d = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise InvalidMetadataError(f"{p}: not valid YAML: {e}", source=str(p)) from None
    _check_object(d, str(p))
    return d


def _from_metadata_arg(metadata: Any, source: str, model_metadata: Mapping[str, str] | None) -> dict[str, Any]:
    if metadata is None:
        return {}
    if isinstance(metadata, ModelConfig):
        return metadata._as_dict()
    if isinstance(metadata, Mapping):
        return _prepare_layer(metadata, source, None, model_metadata)
    raise InvalidTypeError(f"metadata: expected a ModelConfig, a dict or None, got {type(metadata).__name__}")


def resolve_config(metadata: ModelConfig | Mapping[str, Any] | None,
                   config: Mapping[str, Any] | str | os.PathLike | None,
                   overrides: Mapping[str, Any] | None, *, source: str,
                   model_metadata: Mapping[str, str] | None = None) -> ModelConfig:
    """The model's config: ``metadata``, then ``config``, then ``overrides``, merged and validated.

    Args:
        metadata: what the model says (a ModelConfig, a possibly partial dict
            such as :func:`read_metadata` returns, or None).
        config: a dict or a ``.json``/``.yaml``/``.yml`` file (charset ``{"file": ...}``
            references relative to the file), merged over ``metadata``.
        overrides: the same keys as the JSON (``task=``, ``preprocess={...}``,
            ``charset=[...]``, ``decoder={...}``...), merged last. Unknown keys are refused.
        source: the model (a path), for messages.
        model_metadata: the model's custom metadata map, for ``{"metadata_key": ...}``
            charset references in ``config``/``overrides``.

    Merging: dicts merge key by key, recursively; lists and other values
    replace; ``None`` means "not given"; a layer that sets a different ``task``
    drops the decoder options below it.

    Raises:
        MissingConfigError: required keys are missing after merging (all are listed, with an example call).
        InvalidMetadataError: a bad value; the message names the layer it came from
            (``model.onnx (metadata)``, the config file, ``model.onnx (overrides)``) and the key path.
    """
    layers: list[tuple[str, dict[str, Any]]] = []
    meta_source = f"{source} (metadata)"
    layers.append((meta_source, _from_metadata_arg(metadata, meta_source, model_metadata)))
    if config is not None:
        if isinstance(config, (str, os.PathLike)):
            cfg_source = os.fspath(config)
            raw = load_config_file(config)
            base_dir: str | None = os.path.dirname(os.path.abspath(cfg_source))
        elif isinstance(config, Mapping):
            cfg_source, raw, base_dir = f"{source} (config)", dict(config), None
        else:
            raise InvalidTypeError(
                f"config: expected a dict or a .json/.yaml file path, got {type(config).__name__}"
            )
        layers.append((cfg_source, _prepare_layer(raw, cfg_source, base_dir, model_metadata)))
    if overrides:
        ov_source = f"{source} (overrides)"
        if not isinstance(overrides, Mapping):
            raise InvalidTypeError(f"overrides: expected a dict of config keys, got {type(overrides).__name__}")
        for k in overrides:
            if k not in TOP_LEVEL_KEYS or k == "schema":
                raise InvalidArgumentError(f"{ov_source}: {k}: {_override_hint(k)}")
        layers.append((ov_source, _prepare_layer(overrides, ov_source, None, model_metadata)))
    return _resolve_layers(layers, source)


def _resolve_layers(layers: Sequence[tuple[str, dict[str, Any]]], source: str) -> ModelConfig:
    """Merges prepared layers (lowest first) and validates; a bad value is reported with the layer that set it."""
    merged: dict[str, Any] = {}
    for _, layer in layers:
        merged = _merge_layer(merged, layer)
    try:
        return ModelConfig.from_dict(merged, source=source)
    except InvalidMetadataError as e:
        if e.path is None or e.detail is None or isinstance(e, UnsupportedSchemaError):
            raise
        for layer_source, layer in reversed(layers):  # name the layer that set the offending key
            if _get_path(layer, e.path)[0]:
                raise _error(layer_source, e.path, e.detail, type(e)) from None
        raise


def _override_hint(key: Any) -> str:
    keys = [k for k in TOP_LEVEL_KEYS if k != "schema"]
    if key in PREPROCESS_KEYS:
        return f"not a top-level key; preprocessing options go in preprocess={{{key!r}: ...}}"
    if key in _INPUT_OPTIONS:
        return f"not a top-level key; use input={{{key!r}: ...}}"
    if key in _RUNTIME_OPTIONS:
        return "not a config key; threads is a run-time setting of the Predictor/kernel"
    specs = [_tasks.get_task(t) for t in _tasks.task_names()]
    if any(key in spec.defaults or key in spec.required for spec in specs):
        return f"not a top-level key; decoder options go in decoder={{{key!r}: ...}}"
    return f"unknown key; expected some of {keys}{_did_you_mean(key, keys)}"
