"""Parity between ONNX Runtime and the framework a model was exported from.

An export is only useful if the ONNX file computes what the framework computed.
:func:`check_parity` runs both on the same input batches (random tensors and
representative images through the deploy preprocessing) and compares every
output element-wise.

Tolerance (numpy ``allclose`` semantics, per element)::

    |onnx - ref| <= atol + rtol * |ref|

Defaults ``atol=1e-4``, ``rtol=1e-3`` suit float32 graphs: reordered float
accumulation gives errors around 1e-6..1e-5 relative; anything near 1e-3 means
a different computation. The report also gives the max absolute error and the
max relative error ``|onnx - ref| / max(|ref|, 1e-6)`` per output and input set.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ParityError

DEFAULT_ATOL = 1e-4
DEFAULT_RTOL = 1e-3
_REL_FLOOR = 1e-6


@dataclass(frozen=True)
class OutputParity:
    """Figures for one output on one named input set."""

    inputs: str          #: the input set ("random", "representative", ...)
    output: str          #: the ONNX output name
    shape: tuple[int, ...]
    max_abs: float       #: max |onnx - ref|
    max_rel: float       #: max |onnx - ref| / max(|ref|, 1e-6)
    worst_excess: float  #: max of |onnx - ref| - (atol + rtol*|ref|); <= 0 when within tolerance
    ok: bool

    def line(self) -> str:
        return (f"{self.inputs:>14s} {self.output:<16s} {str(self.shape):<18s} max_abs={self.max_abs:.3e} "
                f"max_rel={self.max_rel:.3e} {'ok' if self.ok else 'FAIL'}")


@dataclass(frozen=True)
class ParityReport:
    """Every comparison made for one export; ``ok`` when all are within tolerance."""

    atol: float
    rtol: float
    rows: tuple[OutputParity, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return bool(self.rows) and all(r.ok for r in self.rows)

    @property
    def max_abs(self) -> float:
        return max((r.max_abs for r in self.rows), default=0.0)

    @property
    def max_rel(self) -> float:
        return max((r.max_rel for r in self.rows), default=0.0)

    def summary(self) -> str:
        head = f"parity (atol={self.atol:g}, rtol={self.rtol:g}): {'ok' if self.ok else 'FAILED'}"
        return "\n".join([head] + ["  " + r.line() for r in self.rows])

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "atol": self.atol, "rtol": self.rtol, "max_abs": self.max_abs, "max_rel": self.max_rel,
                "rows": [r.__dict__ | {"shape": list(r.shape)} for r in self.rows]}


def compare(ref: np.ndarray, got: np.ndarray, *, inputs: str, output: str, atol: float, rtol: float) -> OutputParity:
    """Compare one output; shapes must match exactly, NaNs must be in the same places."""
    ref = np.asarray(ref)
    got = np.asarray(got)
    if ref.shape != got.shape:
        return OutputParity(inputs, output, tuple(got.shape), float("inf"), float("inf"), float("inf"), False)
    r = ref.astype(np.float64)
    g = got.astype(np.float64)
    nan_r, nan_g = np.isnan(r), np.isnan(g)
    if not np.array_equal(nan_r, nan_g):
        return OutputParity(inputs, output, tuple(got.shape), float("nan"), float("nan"), float("inf"), False)
    r = np.where(nan_r, 0.0, r)
    g = np.where(nan_g, 0.0, g)
    if r.size == 0:
        return OutputParity(inputs, output, tuple(got.shape), 0.0, 0.0, 0.0, True)
    diff = np.abs(g - r)
    excess = diff - (atol + rtol * np.abs(r))
    max_abs = float(diff.max())
    max_rel = float((diff / np.maximum(np.abs(r), _REL_FLOOR)).max())
    worst = float(excess.max())
    return OutputParity(inputs, output, tuple(got.shape), max_abs, max_rel, worst, bool(worst <= 0.0))


def check_parity(onnx_path: str, reference: Callable[[np.ndarray], Sequence[np.ndarray]],
                 input_sets: Mapping[str, np.ndarray], *, atol: float = DEFAULT_ATOL, rtol: float = DEFAULT_RTOL,
                 raise_on_failure: bool = True) -> ParityReport:
    """Run ``onnx_path`` on ONNX Runtime (CPU) and ``reference`` on each input set and compare.

    Args:
        onnx_path: the exported model; its first input takes each batch.
        reference: the framework's forward pass, numpy batch in, list of numpy outputs out,
            in the ONNX model's output order.
        input_sets: name -> input batch (already in the model's layout and dtype).
        atol, rtol: tolerance, see the module docs.
        raise_on_failure: raise :class:`ParityError` (with the figures) when any output is out of tolerance.
    """
    from edgevision.backends import load_runner

    runner = load_runner(onnx_path, backend="onnxruntime", device="cpu")
    name = runner.inputs[0].name
    out_names = [o.name for o in runner.outputs]
    rows: list[OutputParity] = []
    for set_name, batch in input_sets.items():
        got = runner.infer({name: batch}, check=False)  # ONNX Runtime checks the feed in its own words
        ref = list(reference(batch))
        if len(ref) != len(got):
            raise ParityError(
                f"parity: the framework returned {len(ref)} outputs, the ONNX model {len(got)} ({out_names})",
                report=ParityReport(atol, rtol, tuple(rows)))
        for oname, r, g in zip(out_names, ref, got):
            rows.append(compare(r, g, inputs=set_name, output=oname, atol=atol, rtol=rtol))
    report = ParityReport(atol, rtol, tuple(rows))
    if raise_on_failure and not report.ok:
        raise ParityError(f"{onnx_path}: ONNX Runtime differs from the framework beyond the tolerance\n"
                          + report.summary(), report=report)
    return report


__all__ = ["DEFAULT_ATOL", "DEFAULT_RTOL", "OutputParity", "ParityReport", "compare", "check_parity"]
