"""Timed stages, and variants grouped in families by file name, with their fp32 baseline."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from edgevision.errors import InvalidArgumentError


#: Timed stages, in call order (see the module docs).
STAGES = ("pre", "pre_cv", "infer", "post", "e2e")
#: File-name tokens that start a precision suffix (``_fp16``, ``_int8``, ``_int8_dynamic``...), case-insensitive.
PRECISION_TOKENS = ("fp32", "float32", "fp16", "float16", "half", "bf16", "int8", "uint8", "int16", "int4", "qdq",
                    "quant", "quantized", "w8a8")
BASELINE_PRECISIONS = ("fp32", "float32")
ENGINE_SUFFIXES = (".engine", ".plan")
#: Data source strings that mean the synthetic plate generator.
SYNTH_PREFIX = "synth"
OCR_TASKS = ("slots_ocr", "ctc_ocr")


def noise_stage(stages: Sequence[str]) -> str:
    """The stage timed twice for the noise: ``e2e``, or the last stage timed when ``e2e`` is not."""
    stages = list(stages)
    return "e2e" if "e2e" in stages else stages[-1]


# ---------------------------------------------------------------------------
# Variants and families


@dataclass(frozen=True)
class Variant:
    """One model file: ``family`` is the file stem before the precision suffix, and
    ``precision`` the suffix (``fp32`` when there is none)."""

    path: str
    name: str
    family: str
    precision: str

    @property
    def is_fp32(self) -> bool:
        return self.precision in BASELINE_PRECISIONS


def parse_variant(path: str | os.PathLike) -> Variant:
    """Family and precision from a model file name.

    ``lpl_resnet.onnx`` -> (``lpl_resnet``, ``fp32``); ``lpl_resnet_fp16.onnx`` ->
    (``lpl_resnet``, ``fp16``); ``lpl_resnet_int8_dynamic.onnx`` -> (``lpl_resnet``,
    ``int8_dynamic``): the suffix starts at the first ``_``-separated token in
    :data:`PRECISION_TOKENS` (not the first token: ``int8.onnx`` is family ``int8``).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidArgumentError(f"models: expected file paths, got {type(path).__name__}")
    p = Path(path)
    stem = p.name[: -len(p.suffix)] if p.suffix else p.name
    tokens = stem.split("_")
    for i, tok in enumerate(tokens[1:], start=1):
        if tok.lower() in PRECISION_TOKENS:
            precision = "_".join(tokens[i:]).lower()
            return Variant(os.fspath(path), p.name, "_".join(tokens[:i]), precision)
    return Variant(os.fspath(path), p.name, stem, "fp32")


def group_variants(paths: Iterable[str | os.PathLike]) -> dict[str, list[Variant]]:
    """Variants grouped by family, in first-seen order; within a family the fp32
    baseline comes first (the file without a suffix before ``_fp32``), then the
    others in the order given. Duplicate paths are kept once."""
    families: dict[str, list[Variant]] = {}
    seen: set[str] = set()
    for path in paths:
        v = parse_variant(path)
        key = os.path.abspath(v.path)
        if key in seen:
            continue
        seen.add(key)
        families.setdefault(v.family, []).append(v)
    for fam, vs in families.items():
        base = baseline_of(vs)
        if base is not None:
            families[fam] = [base] + [v for v in vs if v is not base]
    return families


def baseline_of(variants: Sequence[Variant]) -> Variant | None:
    """The fp32 baseline of a family (an ONNX file without a precision suffix, else
    one with ``_fp32``), or None."""
    onnx = [v for v in variants if v.is_fp32 and not v.name.lower().endswith(ENGINE_SUFFIXES)]
    plain = [v for v in onnx if v.precision == "fp32" and not re.search(r"_(fp32|float32)$", Path(v.name).stem, re.I)]
    return (plain or onnx or [None])[0]
