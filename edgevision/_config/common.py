"""Keys and small helpers of :mod:`edgevision.config` (private: import from ``edgevision.config``).

The schema's key names and version, the error helper every validator uses
(``{source}: {path}: {detail}`` as an :class:`~edgevision.errors.InvalidMetadataError`),
and the validators of single values (``_bool``, ``_int``, ``_fraction``, ``_choice``,
``_strings``) that the config and the task registry (:mod:`edgevision.tasks`) share.
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Mapping, Sequence

from .. import preprocess as _pp
from ..checks import is_bool, is_int as _is_int, is_real as _is_real, short_repr as _fmt
from ..errors import InvalidMetadataError

#: Name of the ONNX ``metadata_props`` entry that holds the JSON config.
METADATA_KEY = "edgevision"
#: The schema version this module reads and writes.
SCHEMA_VERSION = 1

#: Kernel options that are not part of ``preprocess``: the output layout/dtype live
#: in ``input``; ``threads`` is a run-time setting of the machine, not of the model.
_INPUT_OPTIONS = ("layout", "dtype")
_RUNTIME_OPTIONS = ("threads",)
#: ``preprocess`` keys: ``size`` plus the kernel's option names (edgevision.preprocess.OPTION_NAMES).
_ORDER = ("mode", "align", "scaleup", "interpolation", "scale", "mean", "std", "swap_rb", "pad_value", "channels",
          "zero_channels")
#: ``preprocess`` keys the Predictor reads and the kernel does not: ``stride`` (the model takes
#: any height and width in multiples of it; see docs/model_metadata.md).
_PREDICTOR_KEYS = ("stride",)
PREPROCESS_KEYS = ("size",) + tuple(k for k in _ORDER if k in _pp.OPTION_NAMES) + tuple(
    sorted(_pp.OPTION_NAMES - set(_ORDER) - set(_INPUT_OPTIONS) - set(_RUNTIME_OPTIONS))) + _PREDICTOR_KEYS
_KERNEL_KEYS = frozenset(PREPROCESS_KEYS[1:]) - set(_PREDICTOR_KEYS)
INPUT_KEYS = ("name", "layout", "dtype")
#: Top-level keys with a meaning; any other key is kept verbatim in ``ModelConfig.extra``.
TOP_LEVEL_KEYS = ("schema", "task", "name", "input", "preprocess", "labels", "charset", "decoder")

#: ONNX TensorProto element types the kernel can produce, and onnxruntime's names for them.
_ONNX_ELEM_TYPES = {1: "float32", 10: "float16", 2: "uint8"}


# ---------------------------------------------------------------------------
# Small helpers


def _error(source: str, path: str, detail: str, cls: type = InvalidMetadataError) -> InvalidMetadataError:
    return cls(f"{source}: {path}: {detail}", source=source, path=path, detail=detail)


def _did_you_mean(key: str, choices: Sequence[str]) -> str:
    key = str(key)
    close = difflib.get_close_matches(key, list(choices), n=1) or [
        c for c in choices if len(key) >= 3 and (c.startswith(key) or key.startswith(c))][:1]
    return f"; did you mean {close[0]!r}?" if close else ""


def _check_keys(d: Mapping[str, Any], allowed: Sequence[str], source: str, path: str) -> None:
    for k in d:
        if not isinstance(k, str):
            raise _error(source, path, f"keys must be strings, got {k!r}")
        if k not in allowed:
            where = f"{path}.{k}" if path else k
            raise _error(source, where, f"unknown key; expected some of {list(allowed)}{_did_you_mean(k, allowed)}")


def _get_path(d: Any, path: str) -> tuple[bool, Any]:
    """Looks up a key path like ``decoder.heads[1].slots`` in nested dicts/lists: (found, value)."""
    cur = d
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("["):
            i = int(part[1:-1])
            if not isinstance(cur, (list, tuple)) or i >= len(cur):
                return False, None
            cur = cur[i]
        else:
            if not isinstance(cur, Mapping) or part not in cur:
                return False, None
            cur = cur[part]
    return True, cur


# ---------------------------------------------------------------------------
# Validators of single values (the message names the key path)


def _bool(v: Any, source: str, path: str) -> bool:
    if not is_bool(v):
        raise _error(source, path, f"expected true or false, got {_fmt(v)}")
    return bool(v)


def _int(v: Any, source: str, path: str, minimum: int) -> int:
    if not _is_int(v) or v < minimum:
        raise _error(source, path, f"expected an int >= {minimum}, got {_fmt(v)}")
    return int(v)


def _fraction(v: Any, source: str, path: str) -> float:
    if not _is_real(v) or not (0.0 <= float(v) <= 1.0):
        raise _error(source, path, f"expected a number in [0, 1], got {_fmt(v)}")
    return float(v)


def _choice(v: Any, source: str, path: str, choices: Sequence[str], *, upper: bool = False) -> str:
    if isinstance(v, str):
        c = v.upper() if upper else v.lower()
        if c in choices:
            return c
    raise _error(source, path, f"expected one of {list(choices)}, got {_fmt(v)}")


def _strings(v: Any, source: str, path: str, *, what: str, allow_empty: bool = False) -> tuple[str, ...]:
    if not isinstance(v, (list, tuple)):
        hint = " (e.g. list(\"0123456789\"))" if what == "symbol" else ""
        raise _error(source, path, f"expected a list of {what}s (strings){hint}, got {_fmt(v)}")
    if not v:
        raise _error(source, path, f"expected at least one {what}, got an empty list")
    for i, s in enumerate(v):
        if not isinstance(s, str) or (s == "" and not allow_empty):
            hint = " (quote it in YAML)" if isinstance(s, (int, float, bool)) else ""
            raise _error(source, f"{path}[{i}]", f"expected a non-empty string{hint}, got {_fmt(s)}")
    return tuple(v)
