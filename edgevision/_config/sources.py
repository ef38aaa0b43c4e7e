"""JSON, schema, references and layers of :mod:`edgevision.config` (private: import from ``edgevision.config``).

Strict JSON reading, the ``schema`` check, charset references (``{"file": ...}``,
``{"metadata_key": ...}``), the input options hoisted out of ``preprocess``, and
the merging of config layers (the model's metadata, a config file, overrides).
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import InvalidMetadataError, InvalidTypeError, UnsupportedSchemaError
from .common import INPUT_KEYS, SCHEMA_VERSION, _INPUT_OPTIONS, _error, _fmt, _is_int


# ---------------------------------------------------------------------------
# JSON, schema, references


def _loads_json(text: Any, source: str) -> Any:
    """Strict JSON: no NaN/Infinity, no duplicate keys."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as e:
            raise InvalidMetadataError(f"{source}: not valid UTF-8 JSON ({e})", source=source) from None
    if not isinstance(text, str):
        raise InvalidTypeError(f"{source}: expected JSON text (str), got {type(text).__name__}")

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in items:
            if k in out:
                raise ValueError(f"duplicate key {k!r}")
            out[k] = v
        return out

    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not valid JSON (values must be finite)")

    try:
        return json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except json.JSONDecodeError as e:
        raise InvalidMetadataError(
            f"{source}: not valid JSON: {e.msg} at line {e.lineno} column {e.colno}", source=source
        ) from None
    except ValueError as e:
        raise InvalidMetadataError(f"{source}: not valid JSON: {e}", source=source) from None


def _check_object(d: Any, source: str) -> None:
    if not isinstance(d, Mapping):
        raise InvalidMetadataError(
            f"{source}: expected an object (JSON object / YAML mapping / dict) of config keys, got {type(d).__name__}",
            source=source,
        )
    for k in d:
        if not isinstance(k, str):
            raise _error(source, "<top level>", f"keys must be strings, got {k!r}")


def _check_schema(d: Mapping[str, Any], source: str) -> None:
    """``schema`` may be left out (then it is the current version); any other version is refused."""
    v = d.get("schema", SCHEMA_VERSION)
    if v is None:
        return
    if not _is_int(v):
        raise _error(source, "schema", f"expected the schema version as an int ({SCHEMA_VERSION}), got {_fmt(v)}")
    if v != SCHEMA_VERSION:
        from .. import __version__

        raise _error(
            source, "schema",
            f"version {v} is not supported by edgevision {__version__}, which reads version {SCHEMA_VERSION}; "
            "upgrade edgevision, or re-export the model with this version",
            UnsupportedSchemaError,
        )


def _symbols_from_text(text: str, source: str, path: str) -> list[str]:
    """One symbol per line (``\\n`` or ``\\r\\n``); a final newline is optional; empty lines are refused.

    A line holding one space is the space symbol. Text that starts with ``[`` is read as a JSON list.
    """
    if text.lstrip().startswith("["):
        return _loads_json(text, f"{source}: {path}")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    out = [ln[:-1] if ln.endswith("\r") else ln for ln in lines]
    for i, s in enumerate(out):
        if s == "":
            raise _error(source, path, f"line {i + 1} is empty; expected one symbol per line")
    return out


def _resolve_charset(value: Any, source: str, path: str, base_dir: str | os.PathLike | None,
                     model_metadata: Mapping[str, str] | None) -> Any:
    """``{"file": p}`` / ``{"metadata_key": k}`` -> list of symbols; anything else is returned as is."""
    if not isinstance(value, Mapping):
        return value
    keys = set(value)
    if keys == {"file"}:
        ref = value["file"]
        if not isinstance(ref, (str, os.PathLike)) or not os.fspath(ref):
            raise _error(source, f"{path}.file", f"expected a file path, got {_fmt(ref)}")
        p = Path(os.path.expanduser(os.fspath(ref)))
        if not p.is_absolute():
            p = Path(base_dir if base_dir is not None else os.getcwd()) / p
        if not p.is_file():
            raise _error(source, f"{path}.file", f"no such file '{p}' (relative paths are resolved against "
                         f"{'the config file' if base_dir is not None else 'the working'} directory)")
        try:
            text = p.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as e:
            raise _error(source, f"{path}.file", f"cannot read '{p}' as UTF-8 text ({e})") from None
        if p.suffix.lower() == ".json":
            return _loads_json(text, f"{p}")
        return _symbols_from_text(text, str(p), "charset")
    if keys == {"metadata_key"}:
        key = value["metadata_key"]
        if not isinstance(key, str) or not key:
            raise _error(source, f"{path}.metadata_key", f"expected a metadata key name (str), got {_fmt(key)}")
        if model_metadata is None:
            raise _error(source, f"{path}.metadata_key",
                         f"{key!r} refers to the model's custom metadata, which is not available here "
                         "(pass model_metadata=read_custom_metadata(model))")
        if key not in model_metadata:
            raise _error(source, f"{path}.metadata_key",
                         f"the model has no metadata entry {key!r}; it has {sorted(model_metadata)}")
        text = model_metadata[key]
        if not isinstance(text, str):
            raise _error(source, f"{path}.metadata_key", f"metadata entry {key!r} is not text: {_fmt(text)}")
        return _symbols_from_text(text, source, f"{path} (metadata entry {key!r})")
    raise _error(source, path, "expected a list of symbols, {\"file\": path} or {\"metadata_key\": name}, "
                 f"got {_fmt(dict(value))}")


def _resolve_refs(d: Mapping[str, Any], source: str, base_dir: str | os.PathLike | None,
                  model_metadata: Mapping[str, str] | None) -> dict[str, Any]:
    """A copy of ``d`` with charset references (top-level and per slots head) replaced by lists."""
    out = dict(d)
    if "charset" in out:
        out["charset"] = _resolve_charset(out["charset"], source, "charset", base_dir, model_metadata)
    dec = out.get("decoder")
    if isinstance(dec, Mapping) and isinstance(dec.get("heads"), (list, tuple)):
        heads = []
        for i, h in enumerate(dec["heads"]):
            if isinstance(h, Mapping) and "charset" in h:
                h = dict(h)
                h["charset"] = _resolve_charset(h["charset"], source, f"decoder.heads[{i}].charset", base_dir,
                                                model_metadata)
            heads.append(h)
        out["decoder"] = dict(dec, heads=heads)
    return out


def _hoist_input_options(d: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Moves ``preprocess.layout``/``preprocess.dtype`` into ``input`` (they must agree with it)."""
    pre = d.get("preprocess")
    if not isinstance(pre, Mapping) or not any(k in pre for k in _INPUT_OPTIONS):
        return dict(d)
    out = dict(d)
    pre = dict(pre)
    inp = d.get("input")
    if inp is None:
        inp = {}
    if not isinstance(inp, Mapping):
        raise _error(source, "input", f"expected an object with keys {list(INPUT_KEYS)}, got {_fmt(inp)}")
    inp = dict(inp)
    for k in _INPUT_OPTIONS:
        if k not in pre:
            continue
        v = pre.pop(k)
        if v is None:
            continue
        if inp.get(k) is not None and not _same_option(k, inp[k], v):
            raise _error(source, f"preprocess.{k}",
                         f"{_fmt(v)} contradicts input.{k} = {_fmt(inp[k])}; the {k} lives in input.{k} only")
        inp[k] = v
    out["preprocess"] = pre
    out["input"] = inp
    return out


def _same_option(name: str, a: Any, b: Any) -> bool:
    try:
        if name == "dtype":
            return np.dtype(a) == np.dtype(b)
        return str(a).upper() == str(b).upper()
    except TypeError:
        return False


# ---------------------------------------------------------------------------
# Merging


def deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Dicts merge recursively, anything else (lists included) is replaced; ``None`` in ``top`` means "not given"."""
    out = {k: copy.deepcopy(v) for k, v in base.items()}
    for k, v in top.items():
        if v is None:
            continue
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(dict(v) if isinstance(v, Mapping) else v)
    return out


def _merge_layer(base: Mapping[str, Any], layer: Mapping[str, Any]) -> dict[str, Any]:
    """Merges one layer; a layer that changes the task drops the decoder options of the layers below."""
    task = layer.get("task")
    if task is not None and base.get("task") is not None and task != base.get("task"):
        base = {k: v for k, v in base.items() if k != "decoder"}
    return deep_merge(base, layer)


def _prepare_layer(d: Any, source: str, base_dir: str | os.PathLike | None,
                   model_metadata: Mapping[str, str] | None) -> dict[str, Any]:
    """Checks and normalizes one config layer: an object, a supported schema, references resolved, input hoisted."""
    _check_object(d, source)
    _check_schema(d, source)
    d = {k: v for k, v in d.items() if k != "schema"}
    d = _resolve_refs(d, source, base_dir, model_metadata)
    return _hoist_input_options(d, source)
