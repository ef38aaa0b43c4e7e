"""The task registry: one :class:`TaskSpec` per task, the one place a task is described.

A task (``detection``, ``ctc_ocr``...) is what a model's outputs mean. Its spec holds

* its ``decoder`` keys (:class:`DecoderKey`): which are required, which have a
  default and which are optional, each with the validator that checks its value
  in a config (``decoder.max_det: expected an int >= 1, got 0``);
* the top-level keys it requires besides ``task`` and ``preprocess.size``
  (``ctc_ocr`` needs ``charset``);
* the example keyword argument shown for each of its required keys when a
  config lacks it (:class:`~edgevision.errors.MissingConfigError`);
* the decoder factory, which turns a validated
  :class:`~edgevision.config.ModelConfig` and the model's output names into the
  function the :class:`~edgevision.Predictor` calls on every batch;
* the result type the decoder returns (for documentation and introspection);
* optionally, the model outputs its config names (``slots_ocr`` heads), so that
  :meth:`ModelConfig.write <edgevision.config.ModelConfig.write>` can check them
  against the graph.

:mod:`edgevision.config` validates a config's ``decoder`` from the spec, and the
Predictor builds its decoder from it. Defaults are written once, in the decoder
function's signature (:func:`decoder_default` reads them from there), and the
layout names once, in :mod:`edgevision.decoders` (``DETECTION_LAYOUTS``,
``CTC_LAYOUTS``).

Adding a task
-------------
Write its decoder (a function from the model's outputs to results), then one
:class:`TaskSpec` and :func:`register_task`::

    def decode_score(out, *, threshold, scale=1.0, images=None): ...

    register_task(TaskSpec(
        name="score",
        keys=(DecoderKey("threshold", fraction, required=True),
              DecoderKey("scale", number, default=decoder_default(decode_score, "scale"))),
        build=lambda cfg, outs: lambda o, t, im, n: decode_score(outs.first(o, n), **cfg.decoder, images=im),
        result=ScoreResult,
        examples={"decoder.threshold": 'decoder={"threshold": 0.5}'},
    ))

After that, ``ModelConfig(task="score", ...)``, ``Predictor(model, task="score",
decoder={...})`` and the missing-key messages know the task. Nothing else is
edited. ``tests/test_tasks.py`` does exactly this.

Runtime-safe: numpy, the kernel and the decoders only.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from . import decoders
from ._config.common import _bool, _choice, _error, _fmt, _fraction, _int, _is_int, _is_real, _strings
from ._config.slots import _validate_heads, _validate_rows
from .errors import DecodeError, InvalidArgumentError, InvalidMetadataError, InvalidTypeError
from .results import (
    ClassificationResult,
    DetectionResult,
    EmbeddingResult,
    KeypointsResult,
    PoseResult,
    RawResult,
    TextResult,
)

if TYPE_CHECKING:
    from .config import ModelConfig

__all__ = [
    "TaskSpec",
    "DecoderKey",
    "KeyContext",
    "Outputs",
    "NO_DEFAULT",
    "register_task",
    "unregister_task",
    "get_task",
    "task_names",
    "decoder_default",
    "integer",
    "boolean",
    "fraction",
    "number",
    "one_of",
    "BUILTIN_TASKS",
]

#: What a decoder factory returns: ``decode(outputs, transforms, images, n) -> list of n results``.
#: ``outputs`` are the model's outputs in order (a fixed batch may hold more than ``n`` rows),
#: ``transforms`` one :class:`~edgevision.LetterboxTransform` per image, ``images`` the images.
Decode = Callable[[list, list, list, int], list]


class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


#: ``DecoderKey.default`` of a key without a default (required, or optional and left out when not given).
NO_DEFAULT: Any = _NoDefault()


# ---------------------------------------------------------------------------
# Decoder keys and their validators


@dataclass(frozen=True)
class KeyContext:
    """What a decoder key's validator sees besides the value.

    Attributes:
        source: where the config came from (a path, ``"<dict>"``...), first word of messages.
        path: the key path being checked (``"decoder.max_det"``).
        task: the task's name.
        decoder: the keys validated so far, in the spec's order (a key may depend on an earlier one).
        labels, charset: the config's validated ``labels`` / ``charset`` (tuples), or None.
    """

    source: str
    path: str
    task: str
    decoder: Mapping[str, Any]
    labels: tuple[str, ...] | None = None
    charset: tuple[str, ...] | None = None

    def error(self, detail: str, path: str | None = None) -> InvalidMetadataError:
        """The error to raise: ``{source}: {path}: {detail}`` (``path`` defaults to this key's)."""
        return _error(self.source, self.path if path is None else path, detail)


#: A validator: ``(value, context) -> the value as stored in the config (JSON-shaped)``; raises
#: ``context.error(...)`` (an :class:`~edgevision.errors.InvalidMetadataError`) when the value is unusable.
Validator = Callable[[Any, KeyContext], Any]


def integer(minimum: int) -> Validator:
    """Validator: an int (not a bool) ``>= minimum``."""
    return lambda v, c: _int(v, c.source, c.path, minimum)


def boolean(v: Any, c: KeyContext) -> bool:
    """Validator: ``true`` or ``false``."""
    return _bool(v, c.source, c.path)


def fraction(v: Any, c: KeyContext) -> float:
    """Validator: a number in [0, 1]."""
    return _fraction(v, c.source, c.path)


def number(v: Any, c: KeyContext) -> float:
    """Validator: a finite number."""
    if not _is_real(v) or not math.isfinite(float(v)):
        raise c.error(f"expected a finite number, got {_fmt(v)}")
    return float(v)


def one_of(choices: Sequence[str], *, upper: bool = False) -> Validator:
    """Validator: one of ``choices``, compared in upper case (``upper=True``) or lower case."""
    choices = tuple(choices)
    return lambda v, c: _choice(v, c.source, c.path, choices, upper=upper)


@dataclass(frozen=True)
class DecoderKey:
    """One key of a task's ``decoder`` options.

    Attributes:
        name: the key (``"max_det"``); by convention also the decoder function's keyword.
        validate: ``(value, KeyContext) -> stored value`` (see :data:`Validator`).
        default: the value filled in when the key is not given; :data:`NO_DEFAULT` for none
            (use :func:`decoder_default` to take it from the decoder function's signature).
        required: the config must give it (then there is no default); a config without it
            raises :class:`~edgevision.errors.MissingConfigError` with the spec's example.

    A key that is neither required nor defaulted is optional: left out when not given.
    """

    name: str
    validate: Validator
    default: Any = NO_DEFAULT
    required: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise InvalidArgumentError(f"name: expected a decoder key name (an identifier), got {self.name!r}")
        if not callable(self.validate):
            raise InvalidTypeError(f"validate: expected a callable (value, KeyContext) -> value, got {self.validate!r}")
        if self.required and self.default is not NO_DEFAULT:
            raise InvalidArgumentError(f"{self.name}: a required key has no default, got default={self.default!r}")


def decoder_default(func: Callable[..., Any], name: str) -> Any:
    """The default of keyword ``name`` in ``func``'s signature: a decoder's defaults are written
    there once, and its task spec reads them from there.

    Raises:
        InvalidArgumentError: ``func`` has no parameter ``name`` with a default.
    """
    p = inspect.signature(func).parameters.get(name)
    if p is None or p.default is inspect.Parameter.empty:
        raise InvalidArgumentError(f"{name}: {getattr(func, '__name__', func)!r} has no keyword {name!r} with a default")
    return p.default


# ---------------------------------------------------------------------------
# The spec


@dataclass(frozen=True)
class Outputs:
    """The model's outputs as a decoder factory sees them: their names, and two ways to pick one."""

    names: tuple[str, ...]

    @staticmethod
    def first(outputs: Sequence[np.ndarray], n: int) -> np.ndarray:
        """The first output, its first ``n`` rows (the images of this call)."""
        return outputs[0][:n]

    def pick(self, outputs: Sequence[np.ndarray], ref: Any, n: int, *, what: str = "output") -> np.ndarray:
        """The output ``ref`` (a name or an index), its first ``n`` rows; ``what`` names the config key in errors."""
        if ref is None:
            raise InvalidArgumentError(f"{what}: required when the model has several outputs")
        idx = self.names.index(ref) if isinstance(ref, str) else int(ref)
        return outputs[idx][:n]


@dataclass(frozen=True)
class TaskSpec:
    """Everything about one task (see the module docs).

    Attributes:
        name: the task's name, the config's ``task`` value.
        keys: its decoder keys, in the order they are validated and stored
            (required ones first, then defaulted, then optional, by convention).
        build: the decoder factory, ``(config, Outputs) -> decode`` (see :data:`Decode`);
            ``config.decoder`` holds every defaulted key.
        result: the type of the results ``decode`` returns.
        examples: for each required key path (``"decoder.num_keypoints"``, ``"charset"``), the
            keyword argument shown in the missing-key message (``'decoder={"num_keypoints": 4}'``).
        requires: top-level keys the task requires besides ``task`` and ``preprocess.size``.
        output_refs: ``decoder -> [(key path, output name or index), ...]``, the model outputs
            the config names, checked against the graph by ``ModelConfig.write``; None: none.
        description: one line for listings.
    """

    name: str
    keys: tuple[DecoderKey, ...]
    build: Callable[["ModelConfig", Outputs], Decode]
    result: type
    examples: Mapping[str, str] = field(default_factory=dict)
    requires: tuple[str, ...] = ()
    output_refs: Callable[[Mapping[str, Any]], list[tuple[str, Any]]] | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise InvalidArgumentError(f"name: expected a task name (an identifier), got {self.name!r}")
        keys = tuple(self.keys)
        if not all(isinstance(k, DecoderKey) for k in keys):
            raise InvalidTypeError(f"keys: expected DecoderKey entries, got {keys!r}")
        names = [k.name for k in keys]
        if len(set(names)) != len(names):
            raise InvalidArgumentError(f"keys: each decoder key once, got {names}")
        if not callable(self.build):
            raise InvalidTypeError(f"build: expected a decoder factory (config, Outputs) -> decode, got {self.build!r}")
        if not isinstance(self.result, type):
            raise InvalidTypeError(f"result: expected the result type, got {self.result!r}")
        requires = tuple(self.requires)
        bad = [k for k in requires if k not in ("labels", "charset")]
        if bad:
            raise InvalidArgumentError(f"requires: a task may require 'labels' or 'charset', got {bad}")
        examples = dict(self.examples)
        lacking = [p for p in self.required_paths if p not in examples]
        if lacking:
            raise InvalidArgumentError(f"examples: expected an example for every required key, missing {lacking}")
        object.__setattr__(self, "keys", keys)
        object.__setattr__(self, "requires", requires)
        object.__setattr__(self, "examples", MappingProxyType(examples))

    @property
    def key_names(self) -> tuple[str, ...]:
        """Every decoder key, in order."""
        return tuple(k.name for k in self.keys)

    @property
    def required(self) -> tuple[str, ...]:
        """The decoder keys a config must give."""
        return tuple(k.name for k in self.keys if k.required)

    @property
    def defaults(self) -> dict[str, Any]:
        """The defaulted decoder keys and their defaults (a new dict)."""
        return {k.name: k.default for k in self.keys if k.default is not NO_DEFAULT}

    @property
    def optional(self) -> tuple[str, ...]:
        """The decoder keys left out of the config when not given."""
        return tuple(k.name for k in self.keys if not k.required and k.default is NO_DEFAULT)

    @property
    def required_paths(self) -> tuple[str, ...]:
        """Key paths this task requires, as missing-key messages name them (``charset``, ``decoder.heads``)."""
        return tuple(self.requires) + tuple(f"decoder.{k}" for k in self.required)

    def validate_decoder(self, given: Mapping[str, Any], *, source: str, labels: tuple[str, ...] | None = None,
                         charset: tuple[str, ...] | None = None) -> dict[str, Any]:
        """The validated ``decoder`` dict: each key of the spec, in order, given or defaulted.

        ``given`` holds known keys only, without ``None`` values, and every required key
        (the caller checks unknown and missing keys first).
        """
        out: dict[str, Any] = {}
        for key in self.keys:
            if key.name in given:
                value = given[key.name]
            elif key.default is not NO_DEFAULT:
                value = key.default
            else:
                continue
            ctx = KeyContext(source, f"decoder.{key.name}", self.name, out, labels, charset)
            out[key.name] = key.validate(value, ctx)
        return out


# ---------------------------------------------------------------------------
# The registry


_REGISTRY: dict[str, TaskSpec] = {}


def register_task(spec: TaskSpec, *, replace: bool = False) -> TaskSpec:
    """Adds ``spec`` to the registry (and returns it), so configs and Predictors know the task.

    ``replace=True`` replaces a task registered before (not a built-in one).

    Raises:
        InvalidTypeError: ``spec`` is not a TaskSpec.
        InvalidArgumentError: the task exists (without ``replace``), or is a built-in one.
    """
    if not isinstance(spec, TaskSpec):
        raise InvalidTypeError(f"spec: expected a TaskSpec, got {type(spec).__name__}")
    if spec.name in BUILTIN_TASKS and spec.name in _REGISTRY:
        raise InvalidArgumentError(f"spec: {spec.name!r} is a built-in task; give the new task its own name")
    if spec.name in _REGISTRY and not replace:
        raise InvalidArgumentError(f"spec: task {spec.name!r} is already registered (pass replace=True)")
    _REGISTRY[spec.name] = spec
    return spec


def unregister_task(name: str) -> None:
    """Removes a task added with :func:`register_task` (built-in tasks stay).

    Raises:
        InvalidArgumentError: ``name`` is a built-in task or not registered.
    """
    if name in BUILTIN_TASKS:
        raise InvalidArgumentError(f"name: {name!r} is a built-in task")
    if name not in _REGISTRY:
        raise InvalidArgumentError(f"name: no task {name!r} is registered")
    del _REGISTRY[name]


def get_task(name: str) -> TaskSpec:
    """The spec of task ``name``.

    Raises:
        InvalidArgumentError: no such task.
    """
    spec = _REGISTRY.get(name) if isinstance(name, str) else None
    if spec is None:
        raise InvalidArgumentError(f"task: unknown task {name!r}; expected one of {list(_REGISTRY)}")
    return spec


def task_names() -> tuple[str, ...]:
    """Every registered task, built-in ones first, in registration order."""
    return tuple(_REGISTRY)


# ---------------------------------------------------------------------------
# The built-in tasks


def _keypoint_names(v: Any, c: KeyContext) -> list[str]:
    names = _strings(v, c.source, c.path, what="name")
    n = c.decoder["num_keypoints"]
    if len(names) != n:
        raise c.error(f"expected {n} names (decoder.num_keypoints), got {len(names)}")
    return list(names)


def _kpt_shape(v: Any, c: KeyContext) -> list[int]:
    if (not isinstance(v, (list, tuple)) or len(v) != 2 or not all(_is_int(x) for x in v)
            or v[0] < 1 or v[1] not in (2, 3)):
        raise c.error(f"expected [K, 2] or [K, 3] (K >= 1 keypoints of x, y[, visibility]), got {_fmt(v)}")
    return [int(v[0]), int(v[1])]


def _pose_keypoint_names(v: Any, c: KeyContext) -> list[str]:
    names = _strings(v, c.source, c.path, what="name")
    k = c.decoder["kpt_shape"][0]
    if len(names) != k:
        raise c.error(f"expected {k} names (decoder.kpt_shape[0]), got {len(names)}")
    return list(names)


def _output_ref(v: Any, c: KeyContext) -> str | int:
    """Validator: a model output, by name (a non-empty str) or index (an int >= 0)."""
    if isinstance(v, str) and v:
        return v
    if _is_int(v) and v >= 0:
        return int(v)
    raise c.error(f"expected a model output name or index >= 0, got {_fmt(v)}")


def _build_keypoints(cfg: "ModelConfig", outs: Outputs) -> Decode:
    """The points from the first output; with ``decoder.class_output``, the class head from that one."""
    kw = dict(cfg.decoder)
    class_out = kw.pop("class_output", None)
    labels = cfg.labels

    def keypoints(o: list, t: list, im: list, n: int) -> list:
        if class_out is None:
            return decoders.decode_keypoints(outs.first(o, n), t, **kw, images=im)
        classes = outs.pick(o, class_out, n, what="decoder.class_output")
        return decoders.decode_keypoints(outs.first(o, n), t, **kw, classes=classes, labels=labels, images=im)

    return keypoints


def _keypoints_output_refs(d: Mapping[str, Any]) -> list[tuple[str, Any]]:
    return [("decoder.class_output", d["class_output"])] if "class_output" in d else []


def _ctc_blank(v: Any, c: KeyContext) -> int:
    blank = _int(v, c.source, c.path, 0)
    if c.charset is not None and blank > len(c.charset):
        n = len(c.charset)
        raise c.error(f"{blank} is out of range: the model has len(charset) + 1 = {n + 1} "
                      f"classes, so blank must be in [0, {n}] (usually 0 or {n})")
    return blank


def _first_output_decoder(func: Callable[..., list], *, labels: bool = False) -> Callable[["ModelConfig", Outputs], Decode]:
    """A factory for decoders of the first output: ``func(out, **decoder, [labels=...,] images=images)``."""

    def build(cfg: "ModelConfig", outs: Outputs) -> Decode:
        kw = dict(cfg.decoder)
        if labels:
            kw["labels"] = cfg.labels

        def decode(o: list, t: list, im: list, n: int) -> list:
            return func(outs.first(o, n), **kw, images=im)

        return decode

    return build


def _prepared_decoder(cls: type) -> Callable[["ModelConfig", Outputs], Decode]:
    """A factory for decoders of the first output that check their options once: ``cls(**decoder,
    labels=...)`` built with the model, then called ``(out, transforms, images)`` per batch."""

    def build(cfg: "ModelConfig", outs: Outputs) -> Decode:
        decode = cls(**cfg.decoder, labels=cfg.labels)

        def run(o: list, t: list, im: list, n: int) -> list:
            return decode(outs.first(o, n), t, im)

        return run

    return build


def _build_slots(cfg: "ModelConfig", outs: Outputs) -> Decode:
    d = cfg.decoder
    heads = d["heads"]
    decode = decoders.SlotsDecoder(heads)  # the heads are checked once, here
    refs = [h.get("output", i if len(outs.names) > 1 else 0) for i, h in enumerate(heads)]
    rows_out = (d.get("rows") or {}).get("output")

    def slots(o: list, t: list, im: list, n: int) -> list:
        heads_out = [outs.pick(o, ref, n, what="decoder.heads[].output") for ref in refs]
        rows = None if rows_out is None else outs.pick(o, rows_out, n, what="decoder.rows.output")
        return decode(heads_out, images=im, rows=rows)

    return slots


def _build_ctc(cfg: "ModelConfig", outs: Outputs) -> Decode:
    decode = decoders.CTCDecoder(list(cfg.charset or ()), **{k: v for k, v in cfg.decoder.items() if k != "rows"})
    rows_out = (cfg.decoder.get("rows") or {}).get("output")

    def ctc(o: list, t: list, im: list, n: int) -> list:
        rows = None if rows_out is None else outs.pick(o, rows_out, n, what="decoder.rows.output")
        return decode(outs.first(o, n), im, rows)

    return ctc


def _ctc_rows(v: Any, c: KeyContext) -> dict[str, Any]:
    """``decoder.rows`` of a ctc_ocr model: as slots_ocr's; its output is not the first (the logits)."""
    rows = _validate_rows(v, [], c.source)
    if rows["output"] == 0:
        raise c.error("output 0 is the CTC logits; the rows scores are another output")
    return rows


def _ctc_pattern(v: Any, c: KeyContext) -> str | None:
    """``decoder.pattern`` of a ctc_ocr model: a regular expression a reading must match in
    whole (None: no constraint)."""
    try:
        decoders.compile_pattern(v)
    except DecodeError as e:
        raise c.error(str(e).split(": ", 1)[-1]) from None
    return v


def _ctc_output_refs(d: Mapping[str, Any]) -> list[tuple[str, Any]]:
    return [("decoder.rows.output", d["rows"]["output"])] if "rows" in d else []


def _slots_output_refs(d: Mapping[str, Any]) -> list[tuple[str, Any]]:
    refs = [(f"decoder.heads[{i}].output", h.get("output")) for i, h in enumerate(d["heads"])]
    if "rows" in d:
        refs.append(("decoder.rows.output", d["rows"]["output"]))
    return refs


def _build_raw(cfg: "ModelConfig", outs: Outputs) -> Decode:
    return lambda o, t, im, n: decoders.decode_raw({name: arr[:n] for name, arr in zip(outs.names, o)}, images=im)


def _default(func: Callable[..., Any], name: str, validate: Validator) -> DecoderKey:
    """A defaulted key whose default is the decoder function's."""
    return DecoderKey(name, validate, default=decoder_default(func, name))


_D = decoders
_BUILTIN = (
    TaskSpec(
        name="keypoints",
        keys=(DecoderKey("num_keypoints", integer(1), required=True),
              _default(_D.decode_keypoints, "normalized", boolean),
              DecoderKey("names", _keypoint_names),
              DecoderKey("class_output", _output_ref)),
        build=_build_keypoints,
        result=KeypointsResult,
        examples={"decoder.num_keypoints": 'decoder={"num_keypoints": 4}'},
        output_refs=_keypoints_output_refs,
        description="K (x, y) points per image (plate corners...), optionally a whole-image class "
                    "(decoder.class_output, named by labels)",
    ),
    TaskSpec(
        name="slots_ocr",
        keys=(DecoderKey("heads", lambda v, c: _validate_heads(v, c.source), required=True),
              DecoderKey("rows", lambda v, c: _validate_rows(v, c.decoder["heads"], c.source))),
        build=_build_slots,
        result=TextResult,
        examples={"decoder.heads": 'decoder={"heads": [{"charset": list("0123456789"), "slots": [0, 1, 2, 3]}]}'},
        output_refs=_slots_output_refs,
        description="fixed-length text, one class per character position and head",
    ),
    TaskSpec(
        name="ctc_ocr",
        keys=(DecoderKey("blank", _ctc_blank, default=decoder_default(_D.decode_ctc, "blank")),
              _default(_D.decode_ctc, "layout", one_of(_D.CTC_LAYOUTS, upper=True)),
              DecoderKey("rows", _ctc_rows),
              DecoderKey("pattern", _ctc_pattern),
              DecoderKey("beam_width", integer(1))),
        build=_build_ctc,
        result=TextResult,
        examples={"charset": 'charset=list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")'},
        output_refs=_ctc_output_refs,
        requires=("charset",),
        description="variable-length text, CTC over time steps (the first output), optionally a "
                    "one-row/two-row head (decoder.rows)",
    ),
    TaskSpec(
        name="detection",
        keys=(_default(_D.decode_detection, "layout", one_of(_D.DETECTION_LAYOUTS)),
              _default(_D.decode_detection, "conf_threshold", fraction),
              _default(_D.decode_detection, "iou_threshold", fraction),
              _default(_D.decode_detection, "max_det", integer(1)),
              _default(_D.decode_detection, "class_agnostic", boolean)),
        build=_prepared_decoder(_D.DetectionDecoder),
        result=DetectionResult,
        description="boxes with classes and scores (YOLO heads), after NMS",
    ),
    TaskSpec(
        name="pose",
        keys=(DecoderKey("kpt_shape", _kpt_shape, required=True),
              _default(_D.decode_pose, "layout", one_of(("yolov8",))),
              _default(_D.decode_pose, "conf_threshold", fraction),
              _default(_D.decode_pose, "iou_threshold", fraction),
              _default(_D.decode_pose, "max_det", integer(1)),
              _default(_D.decode_pose, "class_agnostic", boolean),
              DecoderKey("keypoint_names", _pose_keypoint_names)),
        build=_prepared_decoder(_D.PoseDecoder),
        result=PoseResult,
        examples={"decoder.kpt_shape": 'decoder={"kpt_shape": [4, 2]}'},
        description="boxes with scores and K keypoints each (YOLO-pose heads: plates and their corners), after NMS",
    ),
    TaskSpec(
        name="classification",
        keys=(_default(_D.decode_classification, "top_k", integer(1)),
              _default(_D.decode_classification, "softmax", boolean)),
        build=_first_output_decoder(_D.decode_classification, labels=True),
        result=ClassificationResult,
        description="the top-k classes per image",
    ),
    TaskSpec(
        name="embedding",
        keys=(_default(_D.decode_embedding, "normalize", boolean),),
        build=_first_output_decoder(_D.decode_embedding),
        result=EmbeddingResult,
        description="one vector per image",
    ),
    TaskSpec(
        name="raw",
        keys=(),
        build=_build_raw,
        result=RawResult,
        description="the model's outputs as they are",
    ),
)

#: The tasks edgevision ships, in their documented order.
BUILTIN_TASKS: tuple[str, ...] = tuple(s.name for s in _BUILTIN)
for _spec in _BUILTIN:
    _REGISTRY[_spec.name] = _spec
del _spec
