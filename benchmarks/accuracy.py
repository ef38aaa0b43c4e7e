"""Plate OCR accuracy on real photographs, with the synthetic held-out figure beside them.

    python -m benchmarks.accuracy [--real DIR] [--ocr MODEL [--ocr-config JSON]]... [--corners MODEL]
                                  [--sets crops,ccpd,easypr,synthetic,special] [--limit N] [--synthetic-count N]
                                  [--threads N] [--json PATH] [--markdown PATH] [--quick]

With no ``--ocr`` it measures the bundled ``plate_ocr.onnx`` and ``plate_ocr_int8.onnx``.
Models are paths or bundled names (resolved as :class:`edgevision.Predictor` resolves
them). ``--ocr-config`` gives :class:`~edgevision.Predictor` overrides (a JSON object:
``task``, ``charset``, ``preprocess``...) to the ``--ocr`` before it, so that a model
edgevision did not export (PP-OCRv4's recognizer, say) runs as ``Predictor(path, **overrides)``.

For each OCR model, one table, real data first (the sets are in ``--real``, by default
:func:`calibration.real.real_root`; their terms are in its ``SOURCES.md``):

* ``crops``: the 902 real plate crops, read whole. **Evaluation only.**
* ``ccpd (quad)``: the OCR alone on each CCPD plate, rectified from its labelled quad
  (``calibration.metrics.evaluate``, which crops as training does).
* ``ccpd (reader)``: the whole :class:`edgevision.PlateReader` (``--corners`` model, then
  this OCR) on the full scene: exact match and CER of its text, and the median corner
  error as a fraction of the plate diagonal (per scene: the mean distance of the 4
  predicted corners from the labelled ones over the mean length of the labelled quad's
  two diagonals).
* ``easypr test (quad)`` and ``easypr test (reader)``: the same on the held-out EasyPR
  plates (:func:`calibration.real.easypr_split`; never trained on). The reader reads
  one plate per image, so its row scores the scenes whose only labelled plate is a test
  plate; the others are counted in its notes. EasyPR corners come from rotated
  rectangles: a fair crop, not a corner ground truth.
* ``easypr train (quad)``: the EasyPR plates a model may be trained on, apart.
* ``synthetic held-out``: ``calibration.metrics.heldout_samples`` (500 scenes, or
  ``--synthetic-count``), read from their quads, and the figure on legible plates.
* ``special plates (synthetic)``: police, coach, trailer, Hong Kong/Macau, consulate and
  embassy plates, which have no real samples here: ``calibration.plate_synth.special_heldout``
  (40 crops a type, or ``--synthetic-count`` / 6), with the figure per type in the notes.

Every figure comes from the model's own Predictor (the deploy preprocessing and decoder)
at ``--threads`` ONNX Runtime threads (default 1). The latency column is the p50 of one
``p(crop)`` call (batch 1) on real crops, each model timed round-robin with the others
(``benchmarks._timing.measure_interleaved``) in several repeats; the p50 is the median
of the per-repeat medians. No timing is asserted anywhere.

A set whose folder or labels are missing gets a ``not found`` row; a set or model that
fails gets a ``failed`` row with the error; the run goes on. Exit status: 0 when at
least one row was measured, 1 when none was, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from edgevision._argtypes import positive_int as _positive
from edgevision.checks import is_int
from edgevision.errors import EdgeVisionError, InvalidArgumentError

from ._timing import environment, measure_interleaved
from .latency import StageStats, _error_text, timing_images
from .latency import write_json  # result.to_dict() as JSON: every figure, per-plate predictions included

__all__ = [
    "DEFAULT_CORNERS",
    "DEFAULT_OCR",
    "ROWS",
    "SETS",
    "AccuracyConfig",
    "AccuracyResult",
    "LoadedSet",
    "ModelResult",
    "OcrModel",
    "SetRow",
    "corner_error",
    "load_sets",
    "main",
    "print_table",
    "run_accuracy",
    "to_markdown",
    "write_json",
    "write_markdown",
]

#: The bundled OCR models measured when none is given.
DEFAULT_OCR = ("plate_ocr.onnx", "plate_ocr_int8.onnx")
#: The corner model of the reader rows.
DEFAULT_CORNERS = "lpl_resnet_int8.onnx"
#: The sets, in table order (real data first).
SETS = ("crops", "ccpd", "easypr", "synthetic", "special")
#: Table rows: key -> (set, label, how), in order. ``how`` is ``ocr`` (the OCR alone,
#: through ``calibration.metrics.evaluate``) or ``reader`` (the whole PlateReader).
ROWS: dict[str, tuple[str, str, str]] = {
    "crops": ("crops", "crops (evaluation only)", "ocr"),
    "ccpd_quad": ("ccpd", "ccpd (quad)", "ocr"),
    "ccpd_reader": ("ccpd", "ccpd (reader)", "reader"),
    "easypr_test_quad": ("easypr", "easypr test (quad)", "ocr"),
    "easypr_test_reader": ("easypr", "easypr test (reader)", "reader"),
    "easypr_train_quad": ("easypr", "easypr train (quad; may be trained on)", "ocr"),
    "synthetic": ("synthetic", "synthetic held-out", "ocr"),
    "special": ("special", "special plates (synthetic)", "ocr"),
}
#: Scenes per PlateReader call (EasyPR scenes are up to 2020x1497).
READER_CHUNK = 8
_OCR_TASKS = ("slots_ocr", "ctc_ocr")


# ---------------------------------------------------------------------------
# Configuration and results


@dataclass
class OcrModel:
    """An OCR model to measure: a path or bundled name, and Predictor ``overrides``
    (``config_file``: the JSON file they came from, if any)."""

    model: str
    overrides: dict[str, Any] = field(default_factory=dict)
    config_file: str | None = None

    @property
    def name(self) -> str:
        return Path(self.model).name + (f" + {Path(self.config_file).name}" if self.config_file else "")


@dataclass
class AccuracyConfig:
    """What to run. ``ocr``: :class:`OcrModel` s or model names (empty: :data:`DEFAULT_OCR`).
    ``corners``: the reader's corner model. ``real``: the folder of the real sets (None:
    :func:`calibration.real.real_root`). ``sets``: a subset of :data:`SETS`. ``limit``: at
    most this many plates per row. ``synthetic_count``: held-out scenes. ``threads``:
    ONNX Runtime intra-op threads of every Predictor. Timing: ``timing_crops`` distinct
    crops cycled; ``repeats`` interleaved repeats of ``rounds`` rounds, each giving every
    model at least ``min_samples`` calls and ``min_time_s`` seconds; ``warmup`` calls first."""

    ocr: Sequence[OcrModel | str] = ()
    corners: str = DEFAULT_CORNERS
    real: str | None = None
    sets: Sequence[str] = SETS
    limit: int | None = None
    synthetic_count: int = 500
    threads: int = 1
    timing_crops: int = 32
    repeats: int = 3
    rounds: int = 4
    min_samples: int = 100
    min_time_s: float = 1.0
    warmup: int = 10

    @classmethod
    def quick(cls, **kw: Any) -> "AccuracyConfig":
        """Fewer timing samples (smoke runs, tests): the latency is rougher."""
        base = dict(timing_crops=4, repeats=2, rounds=2, min_samples=4, min_time_s=0.02, warmup=1)
        base.update(kw)
        return cls(**base)

    def models(self) -> list[OcrModel]:
        given = list(self.ocr) or list(DEFAULT_OCR)
        return [m if isinstance(m, OcrModel) else OcrModel(str(m)) for m in given]

    def validate(self) -> None:
        for name in ("synthetic_count", "threads", "timing_crops", "repeats", "rounds", "min_samples"):
            v = getattr(self, name)
            if not is_int(v) or v < 1:
                raise InvalidArgumentError(f"{name}: expected a positive int, got {v!r}")
        if self.limit is not None and (not is_int(self.limit)
                                       or self.limit < 1):
            raise InvalidArgumentError(f"limit: expected a positive int or None, got {self.limit!r}")
        if not is_int(self.warmup) or self.warmup < 0:
            raise InvalidArgumentError(f"warmup: expected an int >= 0, got {self.warmup!r}")
        if not isinstance(self.min_time_s, (int, float)) or not self.min_time_s >= 0:
            raise InvalidArgumentError(f"min_time_s: expected seconds >= 0, got {self.min_time_s!r}")
        if isinstance(self.sets, str) or not self.sets or any(s not in SETS for s in self.sets):
            raise InvalidArgumentError(f"sets: expected some of {', '.join(SETS)}, got {self.sets!r}")
        for m in self.models():
            if not isinstance(m.overrides, dict):
                raise InvalidArgumentError(f"ocr-config: expected a JSON object of Predictor overrides for "
                                           f"{m.model}, got {type(m.overrides).__name__}")
            reserved = sorted(set(m.overrides) & {"threads", "warmup", "model"})
            if reserved:
                raise InvalidArgumentError(f"ocr-config: {', '.join(reserved)} cannot be overridden for {m.model} "
                                           "(threads come from --threads)")


@dataclass
class SetRow:
    """One row of a model's table. ``status``: ``ok``, ``not found`` or ``failed`` (then
    ``reason`` says why). ``count``: plates scored. ``exact_match`` and ``cer`` as
    :func:`calibration.metrics.ocr_scores` gives them; ``legible_*``: on the legible plates
    (synthetic); ``corner_error``: median over scenes, a fraction of the plate diagonal
    (reader rows). ``predictions``: ``{"index", "label", "text"}`` per plate scored."""

    key: str
    set: str
    label: str
    status: str = "ok"
    reason: str | None = None
    count: int = 0
    exact_match: float | None = None
    cer: float | None = None
    legible_exact_match: float | None = None
    legible_count: int | None = None
    corner_error: float | None = None
    skipped: dict[str, int] = field(default_factory=dict)
    note: str | None = None
    predictions: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ModelResult:
    """One OCR model: its rows, and its latency (``p50``/``p90``/``p99`` ms per crop, ``n``
    calls, ``spread_pct`` across repeats) or ``latency_note`` saying why there is none."""

    model: str
    path: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    status: str = "ok"
    reason: str | None = None
    task: str | None = None
    latency: dict[str, float] | None = None
    latency_note: str | None = None
    rows: list[SetRow] = field(default_factory=list)

    def row(self, key: str) -> SetRow | None:
        return next((r for r in self.rows if r.key == key), None)


@dataclass
class AccuracyResult:
    environment: dict[str, Any]
    config: dict[str, Any]
    real_root: str | None
    data: dict[str, str]
    models: list[ModelResult]
    timing_images: str | None = None
    notes: list[str] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def ok_rows(self) -> list[SetRow]:
        return [r for m in self.models for r in m.rows if r.status == "ok"]

    def to_dict(self) -> dict[str, Any]:
        return {"environment": self.environment, "config": self.config, "real_root": self.real_root,
                "data": self.data, "timing_images": self.timing_images, "notes": self.notes,
                "duration_s": self.duration_s, "models": [asdict(m) for m in self.models]}


# ---------------------------------------------------------------------------
# Data


@dataclass
class LoadedSet:
    """A set's samples by part (``crops``; ``ccpd``; ``test``, ``train`` and
    ``test_scenes`` for EasyPR; ``synthetic``), or why there are none (``status``
    ``not found``/``failed`` and ``reason``); ``summary`` is its reader's report."""

    name: str
    status: str = "ok"
    reason: str | None = None
    parts: dict[str, list[Any]] = field(default_factory=dict)
    summary: str | None = None
    note: str | None = None


def _one_plate_scenes(samples: Sequence[Any], part: Sequence[Any]) -> tuple[list[Any], int]:
    """The samples of ``part`` whose image holds no other labelled plate of ``samples``;
    and how many of ``part`` were left out."""
    per_image: dict[Path, int] = {}
    for s in samples:
        per_image[s.image_path] = per_image.get(s.image_path, 0) + 1
    keep = [s for s in part if per_image[s.image_path] == 1]
    return keep, len(part) - len(keep)


def _load_real(name: str, root: Path | None, root_error: str | None, limit: int | None) -> LoadedSet:
    from calibration.errors import DatasetNotFoundError
    from calibration.real import easypr_split, read_easypr, read_real_ccpd, read_real_crops

    if root is None:
        return LoadedSet(name, "not found", root_error)
    try:
        if name == "crops":
            res = read_real_crops(root / "crops", check_images=True)
            parts = {"crops": res.samples}
        elif name == "ccpd":
            res = read_real_ccpd(root / "ccpd", check_images=True)
            parts = {"ccpd": res.samples}
        else:
            res = read_easypr(root / "easypr", "all", check_images=True)
            parts = {p: [s for s in res.samples if easypr_split(s.text) == p] for p in ("test", "train")}
    except DatasetNotFoundError as e:
        return LoadedSet(name, "not found", str(e))
    except Exception as e:  # an unreadable set is a row, not a crash
        return LoadedSet(name, "failed", _error_text(e))
    if limit is not None:
        parts = {k: v[:limit] for k, v in parts.items()}
    loaded = LoadedSet(name, parts=parts, summary=res.report.summary())
    if name == "easypr":
        parts["test_scenes"], left = _one_plate_scenes(res.samples, parts["test"])
        loaded.note = (f"reader: {len(parts['test_scenes'])} of {len(parts['test'])} test plates, those alone in "
                       f"their scene ({left} share it with another labelled plate; the reader reads one a scene)")
    return loaded


def load_sets(config: AccuracyConfig, log: Callable[[str], None] | None = None) -> tuple[dict[str, LoadedSet],
                                                                                           str | None]:
    """The samples of every set of ``config.sets`` (images checked with ``check_images=True``),
    and the real root used (None when not found). Never raises for a set: a missing folder
    gives a ``not found`` set, any other failure a ``failed`` one."""
    from calibration.errors import DatasetNotFoundError
    from calibration.real import real_root

    root: Path | None = None
    root_error = None
    if any(s not in ("synthetic", "special") for s in config.sets):
        try:
            root = real_root(config.real)
        except DatasetNotFoundError as e:
            root_error = str(e)
    sets: dict[str, LoadedSet] = {}
    for name in config.sets:
        if log:
            log(f"loading {name}")
        if name == "special":
            per_type = max(1, min(40, config.synthetic_count // 6, config.limit or 40))
            try:
                from calibration.plate_synth import special_heldout

                sets[name] = LoadedSet(name, parts={"special": special_heldout(per_type)},
                                       summary=f"calibration.plate_synth.special_heldout({per_type})")
            except Exception as e:  # e.g. the glyph assets missing
                sets[name] = LoadedSet(name, "failed", _error_text(e))
            continue
        if name != "synthetic":
            sets[name] = _load_real(name, root, root_error, config.limit)
            continue
        count = min(config.synthetic_count, config.limit or config.synthetic_count)
        try:
            from calibration.metrics import heldout_samples

            sets[name] = LoadedSet(name, parts={"synthetic": heldout_samples(count)},
                                   summary=f"calibration.metrics.heldout_samples({count})")
        except Exception as e:  # e.g. calibration.synth unavailable
            sets[name] = LoadedSet(name, "failed", _error_text(e))
    return sets, (str(root) if root is not None else None)


#: Row key -> the part of its set it reads.
_ROW_PART = {"crops": "crops", "ccpd_quad": "ccpd", "ccpd_reader": "ccpd", "easypr_test_quad": "test",
             "easypr_test_reader": "test_scenes", "easypr_train_quad": "train", "synthetic": "synthetic",
             "special": "special"}


# ---------------------------------------------------------------------------
# Measuring


def corner_error(pred: Any, gt: Any) -> float:
    """The mean distance of 4 predicted corners from the labelled ones, over the plate
    diagonal (the mean length of the labelled quad's two diagonals, TL-BR and TR-BL)."""
    p = np.asarray(pred, np.float64).reshape(4, 2)
    g = np.asarray(gt, np.float64).reshape(4, 2)
    diag = (np.linalg.norm(g[2] - g[0]) + np.linalg.norm(g[3] - g[1])) / 2.0
    if not diag > 0:
        raise InvalidArgumentError(f"gt: a degenerate quad (diagonal {diag}), expected 4 distinct corners")
    return float(np.linalg.norm(p - g, axis=1).mean() / diag)


#: Characters a general-purpose recognizer reads between a plate's characters (the dot after the
#: region code, spaces). Plate labels never carry them, so a reading is scored with them removed
#: (:func:`plate_text`); the project's plate models never emit them.
SEPARATORS = "·•・ -."


def plate_text(text: str | None) -> str | None:
    """``text`` without :data:`SEPARATORS` (``None`` stays ``None``)."""
    return None if text is None else "".join(c for c in text if c not in SEPARATORS)


def _ocr_row(row: SetRow, predictor: Any, samples: Sequence[Any]) -> None:
    """The OCR alone (``calibration.metrics.evaluate``: a quad is rectified, a crop read whole),
    scored on :func:`plate_text` readings."""
    from calibration.metrics import evaluate, occlusion_level, ocr_scores

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = evaluate(predictor, samples, keep_predictions=True)
    d = res.details
    row.count, row.exact_match, row.cer = res.count, res.value, d.get("cer")
    preds = d.get("predictions") or []
    legible = d.get("legible")
    if any(plate_text(p["text"]) != p["text"] for p in preds):
        scores = ocr_scores([plate_text(p["text"]) for p in preds], [p["label"] for p in preds])
        row.exact_match, row.cer = scores["exact_match"], scores["cer"]
        row.note = "; ".join(filter(None, [row.note, "separators removed from the readings"]))
        if legible is not None:  # the legible plates' figure, re-scored the same way
            keep = [p for p in preds if occlusion_level(getattr(samples[p["index"]], "char_occlusion", None))
                    != "illegible"]
            legible = {**ocr_scores([plate_text(p["text"]) for p in keep], [p["label"] for p in keep]),
                       "count": len(keep)} if keep else None
    row.skipped = dict(d.get("skipped") or {})
    row.predictions = list(d.get("predictions") or [])
    by_type = d.get("by_plate_type") or {}
    if row.key == "special" and by_type:
        row.note = "; ".join(filter(None, [row.note, ", ".join(
            f"{t} {v['exact_match'] * 100:.0f}%" for t, v in by_type.items())]))
    if legible is not None:
        row.legible_exact_match, row.legible_count = legible.get("exact_match"), legible.get("count")


def _reader_row(row: SetRow, reader: Any, samples: Sequence[Any]) -> None:
    """The whole PlateReader on each sample's full scene: its text and its corners."""
    from calibration.metrics import load_image, ocr_scores

    from edgevision.errors import ImageReadError

    texts: list[str] = []
    labels: list[str] = []
    errors: list[float] = []
    for start in range(0, len(samples), READER_CHUNK):
        chunk, images = [], []
        for i, s in enumerate(samples[start:start + READER_CHUNK], start=start):
            try:
                images.append(load_image(s, f"samples[{i}]"))
                chunk.append((i, s))
            except ImageReadError:
                row.skipped["unreadable image"] = row.skipped.get("unreadable image", 0) + 1
        if not images:
            continue
        for (i, s), r in zip(chunk, reader(images)):
            texts.append(plate_text(r.text))
            labels.append(s.text)
            errors.append(corner_error(r.corners, s.corners))
            row.predictions.append({"index": i, "label": s.text, "text": r.text, "corner_error": errors[-1],
                                    "quad_ok": bool(r.quad_ok)})
    if not labels:
        raise InvalidArgumentError(f"samples: none of the {len(samples)} scenes could be read")
    scores = ocr_scores(texts, labels)
    row.count, row.exact_match, row.cer = len(labels), scores["exact_match"], scores["cer"]
    row.corner_error = float(np.median(errors))


def _load_predictor(model: str, threads: int, overrides: dict[str, Any] | None = None) -> Any:
    from edgevision.predictor import Predictor

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Predictor(model, threads=threads, warmup=False, **(overrides or {}))


def _measure_model(spec: OcrModel, sets: dict[str, LoadedSet], corners: Any, config: AccuracyConfig,
                   log: Callable[[str], None] | None) -> tuple[ModelResult, Any]:
    """Every row of one model (and the model's Predictor, None when it did not load)."""
    result = ModelResult(spec.name, overrides=dict(spec.overrides))
    try:
        p = _load_predictor(spec.model, config.threads, spec.overrides)
        result.path, result.task = p.path, p.task
        if p.task not in _OCR_TASKS:
            raise InvalidArgumentError(f"ocr: {p.path} is a {p.task!r} model; expected {' or '.join(_OCR_TASKS)}")
    except Exception as e:
        result.status, result.reason = "failed", _error_text(e)
        return result, None
    reader = None
    for key, (set_name, label, how) in ROWS.items():
        loaded = sets.get(set_name)
        if loaded is None:
            continue
        row = SetRow(key, set_name, label, note=loaded.note if how == "reader" else None)
        result.rows.append(row)
        if loaded.status != "ok":
            row.status, row.reason = loaded.status, loaded.reason
            continue
        if log:
            log(f"{spec.name}: {label}")
        try:
            samples = loaded.parts[_ROW_PART[key]]
            if how == "ocr":
                _ocr_row(row, p, samples)
            else:
                if isinstance(corners, Exception):
                    raise corners
                if reader is None:
                    from edgevision.plates import PlateReader

                    reader = PlateReader(corners, p)
                _reader_row(row, reader, samples)
        except Exception as e:  # a row that fails is reported; the others go on
            row.status, row.reason = "failed", _error_text(e)
            row.predictions = []
    return result, p


def _timing_source(sets: dict[str, LoadedSet]) -> tuple[str, list[Any]] | None:
    """The samples the latency is measured on: real crops first, else real quads, else synthetic."""
    for name, part in (("crops", "crops"), ("ccpd", "ccpd"), ("easypr", "test"), ("easypr", "train"),
                       ("synthetic", "synthetic")):
        loaded = sets.get(name)
        if loaded is not None and loaded.status == "ok" and loaded.parts.get(part):
            return name, loaded.parts[part]
    return None


def _time_models(models: list[tuple[ModelResult, Any]], sets: dict[str, LoadedSet],
                 config: AccuracyConfig) -> str | None:
    """p50 ms of ``p(crop)`` per model, timed round-robin; returns what the crops were."""
    from .preprocess import cycling

    source = _timing_source(sets)
    loaded = [(m, p) for m, p in models if p is not None]
    if source is None or not loaded:
        for m, _ in loaded:
            m.latency_note = "no image to time on"
        return None
    set_name, samples = source
    fns: dict[str, Callable[[], Any]] = {}
    what = None
    for i, (m, p) in enumerate(loaded):
        try:
            images, what_m = timing_images(p, samples, config.timing_crops)
            fns[str(i)] = cycling([[im] for im in images], lambda b, p=p: p(b[0]))
            fns[str(i)]()  # one call: a failure belongs to this model, not to the timing loop
            what = what or f"{set_name}: {what_m}"
        except Exception as e:
            fns.pop(str(i), None)
            m.latency_note = f"not timed: {_error_text(e)}"
    repeats: dict[str, list[Any]] = {k: [] for k in fns}
    for r in range(config.repeats if fns else 0):
        stats = measure_interleaved(fns, rounds=config.rounds, warmup=config.warmup if r == 0 else 0,
                                    min_samples=config.min_samples, min_time_s=config.min_time_s)
        for k, st in stats.items():
            repeats[k].append(st)
    for i, (m, _) in enumerate(loaded):
        if repeats.get(str(i)):
            s = StageStats.from_repeats(repeats[str(i)])
            m.latency = {"p50_ms": s.p50, "p90_ms": s.p90, "p99_ms": s.p99, "n": s.n, "spread_pct": s.spread_pct}
    return what


def run_accuracy(config: AccuracyConfig, *, log: Callable[[str], None] | None = None) -> AccuracyResult:
    """Measures every OCR model of ``config`` on every set (see the module docs).

    Raises InvalidArgumentError for a bad configuration (naming the argument); a missing or
    failing set, model or row is reported in the result instead."""
    config.validate()
    started = time.perf_counter()
    env = environment()
    env["date_utc"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    env["threads"] = config.threads
    sets, root = load_sets(config, log)
    corners: Any = None
    if any(how == "reader" and ROWS[k][0] in sets for k, (_, _, how) in ROWS.items()):
        try:
            corners = _load_predictor(config.corners, config.threads)
        except Exception as e:  # the reader rows fail with this reason; the OCR rows go on
            corners = e
    measured = [_measure_model(spec, sets, corners, config, log) for spec in config.models()]
    if log:
        log("timing")
    what = _time_models(measured, sets, config)
    data = {name: (s.summary or "") if s.status == "ok" else f"{s.status}: {s.reason}" for name, s in sets.items()}
    cfg = {k: v for k, v in asdict(config).items() if k != "ocr"}
    cfg["ocr"] = [asdict(m) for m in config.models()]
    cfg["corners_path"] = getattr(corners, "path", None)
    notes = [f"corner model {config.corners}: not loaded: {_error_text(corners)}"] if isinstance(corners,
                                                                                                   Exception) else []
    result = AccuracyResult(env, cfg, root, data, [m for m, _ in measured], what, notes)
    result.duration_s = time.perf_counter() - started
    return result


# ---------------------------------------------------------------------------
# Reporting

COLUMNS = ("set", "plates", "exact", "CER", "legible exact", "corner err", "notes")
SUMMARY_COLUMNS = ("model", "crops exact", "crops CER", "ccpd quad", "ccpd reader", "easypr test quad",
                   "easypr test reader", "synthetic (legible)", "p50 ms/crop")


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.1f}%"


def _cer(v: float | None) -> str:
    return "-" if v is None else f"{v:.4f}"


def _row_notes(r: SetRow) -> str:
    if r.status != "ok":
        return f"{r.status.upper()}: {r.reason}"
    parts = [f"skipped {n} ({why})" for why, n in r.skipped.items() if n]
    if r.note:
        parts.append(r.note)
    return "; ".join(parts)


def table_rows(model: ModelResult) -> list[list[str]]:
    """One model's table cells, in :data:`COLUMNS` order."""
    out = []
    for r in model.rows:
        ok = r.status == "ok"
        legible = (f"{_pct(r.legible_exact_match)} ({r.legible_count})" if r.legible_exact_match is not None
                   else "-")
        out.append([r.label, str(r.count) if ok else "-", _pct(r.exact_match), _cer(r.cer), legible,
                    "-" if r.corner_error is None else f"{r.corner_error:.3f}", _row_notes(r)])
    return out


def _latency(m: ModelResult) -> str:
    if m.latency is None:
        return "-"
    v = m.latency["p50_ms"]
    return f"{v:.2f}" if v < 10 else f"{v:.1f}"


def summary_rows(result: AccuracyResult) -> list[list[str]]:
    """The side-by-side table: one line per model, in :data:`SUMMARY_COLUMNS` order."""
    def fig(m: ModelResult, key: str, what: str = "exact") -> str:
        r = m.row(key)
        if r is None or r.status != "ok":
            return "-" if r is None else r.status
        if what == "cer":
            return _cer(r.cer)
        if what == "legible" and r.legible_exact_match is not None:
            return f"{_pct(r.exact_match)} ({_pct(r.legible_exact_match)})"
        return _pct(r.exact_match)

    return [[m.model, fig(m, "crops"), fig(m, "crops", "cer"), fig(m, "ccpd_quad"), fig(m, "ccpd_reader"),
             fig(m, "easypr_test_quad"), fig(m, "easypr_test_reader"), fig(m, "synthetic", "legible"), _latency(m)]
            for m in result.models if m.status == "ok"]


def header_line(result: AccuracyResult) -> str:
    env = result.environment
    return (f"edgevision {env['edgevision']} | {env['date_utc']} | {env['cpu']} ({env['cores']} cores) | "
            f"onnxruntime {env.get('onnxruntime')} | {env['threads']} thread(s) | real data: "
            f"{result.real_root or 'not found'}")


def _title(m: ModelResult) -> str:
    if m.status != "ok":
        return f"{m.model}: FAILED: {m.reason}"
    lat = (f"p50 {_latency(m)} ms per crop" if m.latency else f"latency: {m.latency_note or 'not timed'}")
    return f"{m.model} ({m.task}; {lat})"


def _legend(result: AccuracyResult) -> list[str]:
    c = result.config
    lines = [
        "exact = exact-match rate, CER = character error rate (edits / label characters); quad = the OCR alone on "
        "the plate rectified from its labelled corners; reader = PlateReader (corner model "
        f"{Path(c['corners']).name}, then the OCR) on the whole scene; corner err = median over scenes of the mean "
        "corner distance / plate diagonal.",
        "crops/ is evaluation only (no licence to train on it); the EasyPR test plates (crc32(text) % 5 == 0) are "
        "never trained on; the EasyPR train row may have been trained on. Terms: SOURCES.md of the real data.",
        f"Latency: p(crop), batch 1, {c['threads']} thread(s), on {result.timing_images or 'nothing'}; models timed "
        f"round-robin, p50 = median of {c['repeats']} repeats' medians.",
    ]
    lines += [f"data {k}: {v}" for k, v in result.data.items()]
    return lines + result.notes


def print_table(result: AccuracyResult, console: Any = None) -> None:
    """The results as rich tables (one per model, then the models side by side) on
    ``console`` (default: stdout)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=200)
    console.print(header_line(result), highlight=False, markup=False)

    def table(title: str, columns: Sequence[str], rows: list[list[str]]) -> None:
        t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False)
        for col in columns:
            t.add_column(col, justify="left" if col in ("set", "model", "notes") else "right",
                         overflow="fold")
        for cells in rows:
            t.add_row(*cells)
        console.print(t)

    for m in result.models:
        if m.status != "ok":
            console.print(_title(m), highlight=False, markup=False)
            continue
        table(_title(m), COLUMNS, table_rows(m))
    if summary_rows(result):
        table("side by side (exact match; synthetic: every plate (legible plates))", SUMMARY_COLUMNS,
              summary_rows(result))
    for line in _legend(result):
        console.print(line, highlight=False, markup=False)


def _md_table(columns: Sequence[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return out + ["| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |" for cells in rows]


def to_markdown(result: AccuracyResult) -> str:
    """The results as Markdown: the header, one table per model, the side-by-side table, the legend."""
    lines = [f"Measured with `python -m benchmarks.accuracy`: {header_line(result)}.", ""]
    for m in result.models:
        lines += [f"**{_title(m)}**", ""]
        if m.status == "ok":
            lines += _md_table(COLUMNS, table_rows(m)) + [""]
    if summary_rows(result):
        lines += ["**Side by side** (exact match; synthetic: every plate (legible plates))", ""]
        lines += _md_table(SUMMARY_COLUMNS, summary_rows(result)) + [""]
    lines += [f"- {t}" for t in _legend(result)]
    return "\n".join(lines) + "\n"


def write_markdown(result: AccuracyResult, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.write_text(to_markdown(result), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------
# Command line


class _OcrAction(argparse.Action):
    """``--ocr MODEL`` appends a model; ``--ocr-config FILE`` gives the last one its overrides."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, value: Any,
                 option_string: str | None = None) -> None:
        models = list(getattr(namespace, "ocr", None) or [])
        if option_string == "--ocr":
            models.append(OcrModel(value))
        else:
            if not models:
                parser.error("--ocr-config: give it after the --ocr MODEL it configures")
            if models[-1].config_file is not None:
                parser.error(f"--ocr-config: {models[-1].model} already has one ({models[-1].config_file})")
            try:
                overrides = json.loads(Path(value).read_text(encoding="utf-8"))
            except (OSError, ValueError) as e:
                parser.error(f"--ocr-config: cannot read {value} as JSON: {e}")
            if not isinstance(overrides, dict):
                parser.error(f"--ocr-config: {value} must hold a JSON object of Predictor overrides")
            models[-1] = OcrModel(models[-1].model, overrides, value)
        namespace.ocr = models


def _sets(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in names if s not in SETS]
    if not names or bad:
        raise argparse.ArgumentTypeError(f"expected a comma-separated subset of {','.join(SETS)}, got {text!r}")
    return list(dict.fromkeys(names))


def build_parser(prog: str = "python -m benchmarks.accuracy") -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0].replace("\n", " "),
                                 epilog="Defaults: the bundled plate_ocr.onnx and plate_ocr_int8.onnx, every set, "
                                        "1 thread.")
    ap.add_argument("--real", metavar="DIR", help="the real sets' folder (default: ../shared/data/real from the "
                                                  "repository, or $EDGEVISION_REAL_DATA)")
    ap.add_argument("--ocr", action=_OcrAction, metavar="MODEL",
                    help="an OCR model, a path or bundled name (repeatable; default: the bundled plate_ocr.onnx "
                         "and plate_ocr_int8.onnx)")
    ap.add_argument("--ocr-config", action=_OcrAction, metavar="JSON_FILE",
                    help="Predictor overrides (a JSON object: task, charset, preprocess...) for the --ocr before it")
    ap.add_argument("--corners", default=DEFAULT_CORNERS, metavar="MODEL",
                    help=f"the reader's corner model (default {DEFAULT_CORNERS})")
    ap.add_argument("--sets", type=_sets, default=list(SETS), metavar="LIST",
                    help=f"comma-separated sets (default {','.join(SETS)})")
    ap.add_argument("--limit", type=_positive, metavar="N", help="at most N plates per row")
    ap.add_argument("--synthetic-count", type=_positive, default=500, metavar="N",
                    help="synthetic held-out scenes (default 500, the whole set)")
    ap.add_argument("--threads", type=_positive, default=1, metavar="N",
                    help="ONNX Runtime intra-op threads (default 1)")
    ap.add_argument("--json", metavar="PATH", help="write every figure and per-plate prediction as JSON")
    ap.add_argument("--markdown", metavar="PATH", help="write the tables as Markdown")
    ap.add_argument("--quick", action="store_true", help="fewer timing samples (smoke runs)")
    ap.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return ap


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m benchmarks.accuracy") -> int:
    """The command line: exit 0 when at least one row was measured, 1 when none was, 2 for bad arguments."""
    ap = build_parser(prog)
    args = ap.parse_args(argv)
    kw: dict[str, Any] = {"ocr": args.ocr or [], "corners": args.corners, "real": args.real, "sets": args.sets,
                          "limit": args.limit, "synthetic_count": args.synthetic_count, "threads": args.threads}
    config = AccuracyConfig.quick(**kw) if args.quick else AccuracyConfig(**kw)

    def log(msg: str) -> None:
        print(f"[accuracy] {msg}", file=sys.stderr, flush=True)

    try:
        result = run_accuracy(config, log=None if args.quiet else log)
    except EdgeVisionError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    print_table(result)
    for path, write in ((args.json, write_json), (args.markdown, write_markdown)):
        if path is not None:
            print(f"wrote {write(result, path)}")
    if not result.ok_rows:
        print(f"{prog}: no row was measured (reasons above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
