"""Validation of the ``slots_ocr`` decoder keys ``heads`` and ``rows`` (private: the task
registry, :mod:`edgevision.tasks`, uses it; :func:`validate_row_split` is public as
``edgevision.config.validate_row_split``)."""

from __future__ import annotations

from typing import Any, Mapping

from ..errors import InvalidArgumentError
from .common import _check_keys, _error, _fmt, _is_int, _is_real, _strings

_HEAD_KEYS = ("output", "charset", "slots")
_ROWS_KEYS = ("output", "split")
_SPLIT_KEYS = ("top", "bottom", "top_width")


def _validate_heads(heads: Any, source: str) -> list[dict[str, Any]]:
    if not isinstance(heads, (list, tuple)) or not heads:
        raise _error(source, "decoder.heads",
                     'expected a non-empty list of heads {"output": name or index, "charset": [...], "slots": [...]}, '
                     f"got {_fmt(heads)}")
    out = []
    seen_outputs: dict[Any, int] = {}
    owner: dict[int, list[int]] = {}
    for i, h in enumerate(heads):
        path = f"decoder.heads[{i}]"
        if not isinstance(h, Mapping):
            raise _error(source, path, f'expected an object {{"output", "charset", "slots"}}, got {_fmt(h)}')
        _check_keys(h, _HEAD_KEYS, source, path)
        head: dict[str, Any] = {}
        output = h.get("output")
        if output is not None:
            if not ((isinstance(output, str) and output) or (_is_int(output) and output >= 0)):
                raise _error(source, f"{path}.output",
                             f"expected a model output name (str) or index (int >= 0), got {_fmt(output)}")
            if output in seen_outputs:
                raise _error(source, f"{path}.output",
                             f"{output!r} is also the output of decoder.heads[{seen_outputs[output]}]")
            seen_outputs[output] = i
            head["output"] = output if isinstance(output, str) else int(output)
        if h.get("charset") is None:
            raise _error(source, f"{path}.charset", "required: the symbols this head predicts, in class order")
        head["charset"] = list(_strings(h["charset"], source, f"{path}.charset", what="symbol", allow_empty=True))
        slots = h.get("slots")
        if not isinstance(slots, (list, tuple)) or not slots:
            raise _error(source, f"{path}.slots",
                         f"required: a non-empty list of the character positions (0-based) this head predicts, "
                         f"got {_fmt(slots)}")
        for j, s in enumerate(slots):
            if not _is_int(s) or s < 0:
                raise _error(source, f"{path}.slots[{j}]", f"expected a position (int >= 0), got {_fmt(s)}")
            owner.setdefault(int(s), []).append(i)
        head["slots"] = [int(s) for s in slots]
        out.append(head)
    length = max(owner) + 1
    gaps = [p for p in range(length) if p not in owner]
    dups = {p: hs for p, hs in sorted(owner.items()) if len(hs) > 1}
    if gaps or dups:
        parts = []
        if gaps:
            parts.append(f"missing {gaps}")
        if dups:
            parts.append("duplicated " + ", ".join(f"{p} (heads {hs})" for p, hs in dups.items()))
        raise _error(source, "decoder.heads",
                     f"the slots of all heads must cover the positions 0..{length - 1} exactly once; "
                     + "; ".join(parts))
    return out


def _validate_rows(rows: Any, heads: list[dict[str, Any]], source: str) -> dict[str, Any]:
    """``decoder.rows`` of a slots_ocr model: ``{"output": name or index, "split": {...}}``.

    ``output`` is an ``(N, 2)`` output of logits or probabilities for "the crop shows
    one row" / "two rows"; ``split`` (:func:`validate_row_split`) says where the rows
    lie in the rectified plate and how they were laid side by side in training.
    """
    path = "decoder.rows"
    if not isinstance(rows, Mapping):
        raise _error(source, path, f'expected an object {{"output": name or index, "split": {{...}}}}, got {_fmt(rows)}')
    _check_keys(rows, _ROWS_KEYS, source, path)
    output = rows.get("output")
    if not ((isinstance(output, str) and output) or (_is_int(output) and output >= 0)):
        raise _error(source, f"{path}.output",
                     f"required: the model output (name, or index >= 0) with the (N, 2) one-row/two-row scores, "
                     f"got {_fmt(output)}")
    for i, h in enumerate(heads):
        if h.get("output") == output:
            raise _error(source, f"{path}.output", f"{output!r} is also the output of decoder.heads[{i}]")
    try:
        split = validate_row_split(rows.get("split"), f"{path}.split")
    except InvalidArgumentError as e:
        raise _error(source, f"{path}.split", str(e).split(": ", 1)[-1]) from None
    return {"output": output if isinstance(output, str) else int(output), "split": split}


def validate_row_split(split: Any, name: str = "split") -> dict[str, Any]:
    """A two-row split (see :data:`edgevision.plates.TWO_ROW_SPLIT`) checked and copied.

    ``{"top": [x0, y0, x1, y1], "bottom": [x0, y0, x1, y1], "top_width": f}``: boxes in
    fractions of the rectified plate with ``0 <= x0 < x1 <= 1`` and ``0 <= y0 < y1 <= 1``,
    and ``0 < top_width < 1``. Raises :class:`InvalidArgumentError` naming ``name``.
    """
    if not isinstance(split, Mapping):
        raise InvalidArgumentError(f'{name}: expected {{"top": [x0, y0, x1, y1], "bottom": [x0, y0, x1, y1], '
                                   f'"top_width": fraction}}, got {_fmt(split)}')
    bad = [k for k in split if k not in _SPLIT_KEYS]
    missing = [k for k in _SPLIT_KEYS if k not in split]
    if bad or missing:
        raise InvalidArgumentError(f"{name}: {'unknown key ' + repr(bad[0]) if bad else 'missing ' + repr(missing[0])}; "
                                   f"expected exactly the keys {list(_SPLIT_KEYS)}")
    out: dict[str, Any] = {}
    for k in ("top", "bottom"):
        box = split[k]
        ok = isinstance(box, (list, tuple)) and len(box) == 4 and all(_is_real(v) for v in box)
        if ok:
            x0, y0, x1, y1 = (float(v) for v in box)
            ok = 0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0
        if not ok:
            raise InvalidArgumentError(f"{name}.{k}: expected [x0, y0, x1, y1] fractions of the plate with "
                                       f"0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1, got {_fmt(box)}")
        out[k] = [x0, y0, x1, y1]
    tw = split["top_width"]
    if not _is_real(tw) or not 0.0 < float(tw) < 1.0:
        raise InvalidArgumentError(f"{name}.top_width: expected the top row's share of the crop width, "
                                   f"0 < top_width < 1, got {_fmt(tw)}")
    out["top_width"] = float(tw)
    return out
