"""Completeness and validation of :mod:`edgevision.config` (private: import from ``edgevision.config``).

:func:`_validate` is the one function every ``ModelConfig`` goes through: required
keys first (all missing ones reported at once, with an example call), then each
section; the ``decoder`` section is checked by the task's spec in the task registry
(:mod:`edgevision.tasks`).
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Mapping, Sequence

import numpy as np

from .. import preprocess as _pp
from .. import tasks as _tasks
from ..errors import InvalidArgumentError, InvalidMetadataError, InvalidTypeError, MissingConfigError
from .common import (
    INPUT_KEYS,
    PREPROCESS_KEYS,
    TOP_LEVEL_KEYS,
    _INPUT_OPTIONS,
    _KERNEL_KEYS,
    _RUNTIME_OPTIONS,
    _check_keys,
    _did_you_mean,
    _error,
    _fmt,
    _is_int,
    _is_real,
    _strings,
)
from .sources import _check_object, _check_schema, _hoist_input_options


# ---------------------------------------------------------------------------
# Completeness


def _missing_keys(d: Mapping[str, Any]) -> list[str]:
    """Required key paths absent (or null) in a JSON-shaped config dict."""
    missing = []
    task = d.get("task")
    if task is None:
        missing.append("task")
    pre = d.get("preprocess")
    if pre is None or (isinstance(pre, Mapping) and pre.get("size") is None):
        missing.append("preprocess.size")
    spec = _task_spec(task)
    if spec is not None:
        for k in spec.requires:
            if d.get(k) is None:
                missing.append(k)
        dec = d.get("decoder")
        for k in spec.required:
            if dec is None or (isinstance(dec, Mapping) and dec.get(k) is None):
                missing.append(f"decoder.{k}")
    return missing


def _task_spec(task: Any) -> "_tasks.TaskSpec | None":
    """The registered spec of ``task``, or None (not a string, or no such task)."""
    return _tasks._REGISTRY.get(task) if isinstance(task, str) else None


#: Examples of the keys every task requires; each task's own are in its spec (``TaskSpec.examples``).
_EXAMPLES = {
    "task": 'task="classification"',
    "preprocess.size": 'preprocess={"size": [224, 224]}',
}


def _requirements_note() -> str:
    """What tasks require besides ``task`` and ``preprocess.size``: "charset for ctc_ocr, decoder keys for ..."."""
    specs = [_tasks.get_task(t) for t in _tasks.task_names()]
    tops: dict[str, list[str]] = {}
    for spec in specs:
        for k in spec.requires:
            tops.setdefault(k, []).append(spec.name)
    parts = [f"{k} for {'/'.join(names)}" for k, names in tops.items()]
    with_keys = [spec.name for spec in specs if spec.required]
    if with_keys:
        parts.append(f"decoder keys for {'/'.join(with_keys)}")
    return ", ".join(parts)


def _missing_error(missing: Sequence[str], source: str, task: Any = None) -> MissingConfigError:
    model = os.path.basename(source) if source.lower().endswith(".onnx") else "model.onnx"
    spec = _task_spec(task)
    examples = {**_EXAMPLES, **(spec.examples if spec is not None else {})}
    args = [f'"{model}"'] + [examples[k] for k in missing if k in examples]
    if len([k for k in missing if k.startswith("decoder.")]) > 1:  # one decoder= argument holds them all
        args = [a for a in args if not a.startswith("decoder=")] + ['decoder={...}']
    note = "" if "task" not in missing else f" (a task may require more: {_requirements_note()})"
    return MissingConfigError(
        f"{source}: the model configuration lacks {', '.join(missing)}{note}; neither the model's 'edgevision' "
        f"metadata nor the config provides them. Pass them as keyword arguments, e.g.\n"
        f"    Predictor({', '.join(args)})\n"
        f"or in a config file (config=\"model.yaml\"), or embed them in the model once with ModelConfig.write().",
        missing=tuple(missing),
    )


# ---------------------------------------------------------------------------
# Validation (one function: every ModelConfig goes through it)


def _kernel_error(e: Exception, source: str, section: str) -> InvalidMetadataError:
    """Re-words a kernel option error (``mean: ...``) with the config key path (``preprocess.mean: ...``)."""
    msg = str(e)
    m = re.match(r"^(\w+): (.*)$", msg, re.S)
    if m and (m.group(1) in _pp.OPTION_NAMES or m.group(1) == "size"):
        name = m.group(1)
        path = f"input.{name}" if name in _INPUT_OPTIONS else f"preprocess.{name}"
        return _error(source, path, m.group(2))
    return _error(source, section, msg)


def _per_channel_json(v: Any) -> Any:
    """A validated per-channel value as JSON: a float, or a list of floats."""
    if _is_real(v):
        return float(v)
    return [float(x) for x in np.asarray(v, dtype=np.float64).ravel()]


def _validate_input(d: Mapping[str, Any], source: str) -> tuple[str | None, str, str]:
    inp = d.get("input")
    if inp is None:
        inp = {}
    if not isinstance(inp, Mapping):
        raise _error(source, "input", f"expected an object with keys {list(INPUT_KEYS)}, got {_fmt(inp)}")
    _check_keys(inp, INPUT_KEYS, source, "input")
    name = inp.get("name")
    if name is not None and (not isinstance(name, str) or not name):
        raise _error(source, "input.name", f"expected the model input's name (a non-empty string), got {_fmt(name)}")
    layout = inp.get("layout")
    dtype = inp.get("dtype")
    layout = "NCHW" if layout is None else layout
    dtype = "float32" if dtype is None else dtype
    try:
        o = _pp.parse_options(3, layout=layout, dtype=dtype)
    except (InvalidArgumentError, InvalidTypeError) as e:
        raise _kernel_error(e, source, "input") from None
    return name, o.layout, o.dtype.name


def _validate_preprocess(d: Mapping[str, Any], layout: str, dtype: str, source: str) -> dict[str, Any]:
    pre = d.get("preprocess")
    if not isinstance(pre, Mapping):
        raise _error(source, "preprocess", f"expected an object with some of {list(PREPROCESS_KEYS)}, got {_fmt(pre)}")
    for k in pre:
        if k in _RUNTIME_OPTIONS:
            raise _error(source, f"preprocess.{k}", "a run-time setting, not part of a model's config; "
                         f"pass {k}= to the Predictor or to edgevision.letterbox")
        if k in _INPUT_OPTIONS:  # from_dict hoists them; a direct ModelConfig(...) may still hold them
            raise _error(source, f"preprocess.{k}", f"the {k} lives in input.{k} (ModelConfig.{k})")
    _check_keys(pre, PREPROCESS_KEYS, source, "preprocess")
    try:
        size = _pp.parse_size(pre.get("size"), name="size")
    except InvalidArgumentError as e:
        raise _kernel_error(e, source, "preprocess") from None
    kernel = {k: v for k, v in pre.items() if k in _KERNEL_KEYS and v is not None}
    channels = kernel.get("channels")
    guess = channels if _is_int(channels) and channels in (1, 3, 4) else 3
    try:
        o = _pp.parse_options(guess, layout=layout, dtype=dtype, **kernel)
    except (InvalidArgumentError, InvalidTypeError) as e:
        raise _kernel_error(e, source, "preprocess") from None
    out: dict[str, Any] = {"size": [size[0], size[1]]}
    for k in PREPROCESS_KEYS[1:]:
        if k not in kernel:
            continue
        if k in ("mode", "align", "interpolation", "scaleup", "swap_rb", "channels", "zero_channels"):
            out[k] = getattr(o, k)
        else:  # scale, mean, std, pad_value: keep the given form (one number or one per channel)
            out[k] = _per_channel_json(kernel[k])
    stride = pre.get("stride")
    if stride is not None:
        if not _is_int(stride) or stride < 1:
            raise _error(source, "preprocess.stride", f"expected an int >= 1 (the model takes any height and width "
                         f"in multiples of it), got {_fmt(stride)}")
        if o.mode != "letterbox":
            raise _error(source, "preprocess.stride", f"only with mode 'letterbox' (the input shrinks to the "
                         f"letterboxed image), got mode {o.mode!r}")
        if size[0] % stride or size[1] % stride:
            raise _error(source, "preprocess.stride", f"size {[size[0], size[1]]} must be multiples of the stride "
                         f"{stride}")
        out["stride"] = int(stride)
    return out


def _validate_decoder(task: str, d: Mapping[str, Any], labels: tuple[str, ...] | None,
                      charset: tuple[str, ...] | None, source: str) -> dict[str, Any]:
    """The ``decoder`` options of ``task``, checked and completed by its spec (:mod:`edgevision.tasks`)."""
    spec = _tasks.get_task(task)
    dec = d.get("decoder")
    if dec is None:
        dec = {}
    if not isinstance(dec, Mapping):
        raise _error(source, "decoder", f"expected an object (the options of the {task!r} decoder), got {_fmt(dec)}")
    allowed = spec.key_names
    if not allowed and dec:
        raise _error(source, f"decoder.{next(iter(dec))}", f"unknown key; the {task!r} decoder takes no options")
    _check_keys(dec, allowed, source, "decoder")
    given = {k: v for k, v in dec.items() if v is not None}
    return spec.validate_decoder(given, source=source, labels=labels, charset=charset)


def _validate(d: Mapping[str, Any], source: str) -> dict[str, Any]:
    """A JSON-shaped config dict (references resolved) -> the validated ModelConfig field values."""
    _check_object(d, source)
    _check_schema(d, source)
    d = _hoist_input_options(d, source)
    missing = _missing_keys(d)
    if missing:
        raise _missing_error(missing, source, d.get("task"))
    task = d["task"]
    if _task_spec(task) is None:
        names = _tasks.task_names()
        raise _error(source, "task", f"expected one of {list(names)}, got {_fmt(task)}"
                     + (_did_you_mean(task, names) if isinstance(task, str) else ""))
    name = d.get("name")
    if name is not None and (not isinstance(name, str) or not name):
        raise _error(source, "name", f"expected the model's name (a non-empty string), got {_fmt(name)}")
    input_name, layout, dtype = _validate_input(d, source)
    pre = _validate_preprocess(d, layout, dtype, source)
    labels = d.get("labels")
    labels = None if labels is None else _strings(labels, source, "labels", what="label")
    charset = d.get("charset")
    charset = None if charset is None else _strings(charset, source, "charset", what="symbol")
    decoder = _validate_decoder(task, d, labels, charset, source)
    extra = {}
    for k, v in d.items():
        if k in TOP_LEVEL_KEYS:
            continue
        try:
            extra[k] = json.loads(json.dumps(v, allow_nan=False))
        except (TypeError, ValueError) as e:
            raise _error(source, k, f"extra keys are stored as JSON, and this value is not JSON ({e})") from None
    return dict(task=task, name=name, input_name=input_name, layout=layout, dtype=dtype, preprocess=pre,
                labels=labels, charset=charset, decoder=decoder, extra=extra)
