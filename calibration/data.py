"""Calibration inputs for INT8 quantization, made by exactly the deploy preprocessing.

:class:`CalibrationSet` turns a data source into the model's input tensors with the
same code the runtime runs on the device: the model's ``edgevision`` metadata (merged
with optional ``config``/overrides, exactly as :class:`edgevision.Predictor` resolves
it) drives the compiled kernel (:func:`edgevision.letterbox_batch`). For OCR models
(``slots_ocr``, ``ctc_ocr``) the kernel is fed the rectified plate crop
(``calibration.synth.plate_crop`` at the model's input size) when the sample has
corners, as at training and evaluation time.

Sources:

* a path: a JSONL manifest, a CCPD folder or a plain image folder
  (:func:`calibration.readers.read_source`);
* ``"synth"`` or ``"synth:SEED"``: scenes of :class:`calibration.synth.PlateSceneGenerator`
  (seed ``SEED``, else the ``seed`` argument; with ``stratified``, a generator that draws
  every plate type equally often);
* a list of images: uint8 BGR arrays (as ``cv2.imread`` returns them), image paths,
  or sample objects (with ``.image``/``.image_path`` and optionally ``.corners``,
  ``.plate_type``).

Selection (``count`` images, ``seed``): ``random`` takes a seeded random subset;
``stratified`` takes the samples round-robin over ``plate_type`` groups (each group
shuffled with the seed), so every type is as equally represented as the source allows.
Images that cannot be decoded are skipped, counted in :attr:`CalibrationSet.report`
and replaced by the next candidate. The tensors are in source order.

The tensors can be cached as ``.npz`` under ``cache_dir``, keyed by a hash of the
model's preprocessing config, the source listing (paths, sizes, modification times
and labels; or the synthetic seed and generator version; or the array bytes),
``count``, ``seed`` and ``strategy``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgevision._io import atomic_output
from edgevision.errors import (
    ImageReadError,
    InvalidArgumentError,
    InvalidTypeError,
    MissingDependencyError,
)
from edgevision.checks import is_int

from .metrics import plate_crop_fn
from .errors import EmptyDatasetError
from .readers import ReadReport

__all__ = ["STRATEGIES", "CalibrationReader", "CalibrationReport", "CalibrationSet", "select_indices"]

#: Selection strategies of :meth:`CalibrationSet.from_source`.
STRATEGIES: tuple[str, ...] = ("random", "stratified")
OCR_TASKS = ("slots_ocr", "ctc_ocr")
_CACHE_VERSION = 1
#: Stratified synthetic selection generates at most this many scenes per requested image.
_SYNTH_POOL_FACTOR = 4


# ---------------------------------------------------------------------------
# Report


@dataclass
class CalibrationReport:
    """What :meth:`CalibrationSet.from_source` did.

    Attributes:
        source: the source as given (a path, ``synth:SEED``, or ``<list of N>``).
        kind: ``manifest``, ``ccpd``, ``images``, ``synth`` or ``list``.
        available: candidate samples in the source (for ``synth``: scenes generated).
        requested: ``count``.
        used: tensors made (``requested`` unless the source ran out).
        unreadable: candidates skipped because their image could not be read.
        unreadable_examples: the first few of them with the reason.
        strategy, seed: the selection.
        plate_types: ``plate_type`` -> count among the used samples (``None`` counts as ``"unknown"``).
        cropped: samples fed as plate crops (OCR models, samples with corners).
        cache: ``"hit"``, ``"miss"`` (computed and written) or ``"off"``; ``cache_path``.
        read_report: the reader's report (``ReadReport.to_dict()``) for path sources.
        notes: anything else worth knowing (e.g. fewer images than requested).
        items: where each tensor came from, in tensor order (an image path,
            ``synth[i]`` or ``source[i]``).
    """

    source: str
    kind: str
    requested: int
    strategy: str
    seed: int
    available: int = 0
    used: int = 0
    unreadable: int = 0
    unreadable_examples: list[str] = field(default_factory=list)
    plate_types: dict[str, int] = field(default_factory=dict)
    cropped: int = 0
    cache: str = "off"
    cache_path: str | None = None
    read_report: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line, e.g. ``calibration synth:0: 256 of 256 images (random, seed 0); cache miss``."""
        line = (f"calibration {self.source}: {self.used} of {self.requested} images "
                f"({self.strategy}, seed {self.seed}; {self.available} candidates)")
        if self.unreadable:
            line += f"; {self.unreadable} unreadable skipped"
        if self.plate_types and set(self.plate_types) != {"unknown"}:
            line += "; " + ", ".join(f"{k} {v}" for k, v in sorted(self.plate_types.items()))
        return line + f"; cache {self.cache}"

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "kind": self.kind, "available": self.available, "requested": self.requested,
                "used": self.used, "unreadable": self.unreadable, "unreadable_examples": list(self.unreadable_examples),
                "strategy": self.strategy, "seed": self.seed, "plate_types": dict(self.plate_types),
                "cropped": self.cropped, "cache": self.cache, "cache_path": self.cache_path,
                "read_report": self.read_report, "notes": list(self.notes), "items": list(self.items),
                "summary": self.summary()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CalibrationReport:
        keys = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in keys})


# ---------------------------------------------------------------------------
# Selection


def select_indices(plate_types: Sequence[str | None], seed: int, strategy: str) -> list[int]:
    """The order in which candidates are taken (the first ``count`` readable ones are used).

    ``random``: a permutation drawn with ``numpy.random.default_rng(seed)``.
    ``stratified``: the candidates grouped by ``plate_type`` (``None`` is its own group),
    each group permuted with the seed, then interleaved round-robin over the groups in
    sorted order, so any prefix is as balanced over the types as the groups allow.
    """
    if strategy not in STRATEGIES:
        raise InvalidArgumentError(f"strategy: expected one of {', '.join(STRATEGIES)}, got {strategy!r}")
    rng = np.random.default_rng(seed)
    n = len(plate_types)
    if strategy == "random":
        return [int(i) for i in rng.permutation(n)]
    groups: dict[str, list[int]] = {}
    for i, t in enumerate(plate_types):
        groups.setdefault("\x00none" if t is None else str(t), []).append(i)
    lanes = [[members[int(j)] for j in rng.permutation(len(members))] for _, members in sorted(groups.items())]
    order = []
    for depth in range(max((len(lane) for lane in lanes), default=0)):
        order.extend(lane[depth] for lane in lanes if depth < len(lane))
    return order


# ---------------------------------------------------------------------------
# Candidates: one per sample, loaded lazily


@dataclass
class _Candidate:
    key: Any           # JSON-able identity for the cache key
    where: str         # for messages
    plate_type: str | None
    corners: np.ndarray | None
    load: Any          # () -> uint8 image (BGR or gray)


def _file_key(path: Path) -> list[Any]:
    try:
        st = path.stat()
        return [str(path), st.st_size, st.st_mtime_ns]
    except OSError:
        return [str(path), None, None]


def _read_image(path: Path, where: str) -> np.ndarray:
    import cv2

    prefix = f"{path}" if where == str(path) else f"{where}: {path}"
    if not path.is_file():
        raise ImageReadError(f"{prefix}: no such image file")
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise ImageReadError(f"{prefix}: OpenCV cannot decode this file as an image")
    if img.dtype == np.uint16:  # 16-bit PNG/TIFF: to 8 bits as IMREAD_COLOR does
        img = (img // 257).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise ImageReadError(f"{prefix}: unsupported pixel type {img.dtype} (expected 8 or 16 bits)")
    return img


def _corners_of(s: Any) -> np.ndarray | None:
    c = getattr(s, "corners", None)
    return None if c is None else np.asarray(c, np.float64)


def _plate_type_of(s: Any) -> str | None:
    t = getattr(s, "plate_type", None)
    return None if t is None else str(t)


def _sample_candidate(s: Any, where: str) -> _Candidate:
    """A candidate from a sample object, an array or a path."""
    if isinstance(s, np.ndarray):
        from edgevision.preprocess import image_channels

        image_channels(s, where)  # the kernel's own checks: uint8, HxW or HxWxC with 1, 3 or 4 channels
        digest = hashlib.sha1(np.ascontiguousarray(s).data).hexdigest()
        return _Candidate(["array", list(s.shape), digest], where, None, None, lambda a=s: a)
    if isinstance(s, (str, os.PathLike)):
        p = Path(s)
        return _Candidate(["file", *_file_key(p)], where, None, None, lambda p=p, w=where: _read_image(p, w))
    image = getattr(s, "image", None)
    if image is None:
        image = getattr(s, "image_path", None)
    if image is None or not isinstance(image, (np.ndarray, str, os.PathLike)):
        raise InvalidTypeError(f"{where}: expected a uint8 BGR image array, an image path, or a sample with .image "
                               f"or .image_path, got {type(s).__name__}")
    inner = _sample_candidate(image, where)
    corners = _corners_of(s)
    inner.plate_type = _plate_type_of(s)
    inner.corners = corners
    inner.key = [inner.key, None if corners is None else corners.tolist(), inner.plate_type]
    return inner


def _synth() -> Any:
    try:
        from . import synth
    except ImportError as e:
        raise MissingDependencyError(f"source 'synth' needs calibration.synth (the plate scene generator): {e}",
                                     name="calibration.synth") from None
    return synth


def _synth_seed(source: str, seed: int) -> int:
    rest = source[len("synth"):]
    if not rest:
        return seed
    try:
        if not rest.startswith(":"):
            raise ValueError
        value = int(rest[1:])
        if value < 0:
            raise ValueError
        return value
    except ValueError:
        raise InvalidArgumentError(f"source: expected 'synth' or 'synth:SEED' with SEED an int >= 0, "
                                   f"got {source!r}") from None


def _synth_candidates(gen_seed: int, count: int, strategy: str) -> tuple[list[_Candidate], list[Any]]:
    """Scenes 0..P-1 of the generator (P = count, or for ``stratified`` a generator drawing
    every plate type with equal probability, run until every type has ``count / types``
    scenes, capped at ``_SYNTH_POOL_FACTOR * count``)."""
    synth = _synth()
    known = tuple(getattr(synth, "PLATE_TYPES", ()) or ())
    # stratified: every plate type equally likely in the generator too, so the pool fills its quotas quickly
    opts = {"plate_types": known} if strategy == "stratified" and known else {}
    gen = synth.PlateSceneGenerator(seed=gen_seed, **opts)
    samples: list[Any] = []
    by_type: dict[str, int] = {}
    limit = count if strategy == "random" else _SYNTH_POOL_FACTOR * count
    while len(samples) < limit:
        s = gen[len(samples)]
        samples.append(s)
        t = str(getattr(s, "plate_type", None))
        by_type[t] = by_type.get(t, 0) + 1
        if len(samples) >= count:
            types = set(known) | set(by_type)
            if strategy == "random" or min(by_type.get(t, 0) for t in types) >= -(-count // len(types)):
                break
    cands = []
    for i, s in enumerate(samples):
        img = s.image
        cands.append(_Candidate(["synth", gen_seed, i], f"synth[{i}]", _plate_type_of(s), _corners_of(s),
                                lambda img=img: img))
    return cands, samples


def _synth_version() -> str:
    """A hash of the generator's source files (``synth.py``, its sections in ``_synth/`` and
    ``fonts.py``), so that a changed generator misses the cache."""
    h = hashlib.sha1()
    here = Path(__file__).resolve().parent
    for p in [here / "synth.py", *sorted((here / "_synth").glob("*.py")), here / "fonts.py"]:
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


# ---------------------------------------------------------------------------
# The reader handed to onnxruntime.quantization


def _reader_base() -> type:
    try:
        from onnxruntime.quantization import CalibrationDataReader
    except ImportError:  # pragma: no cover - onnxruntime is a runtime dependency
        return object
    return CalibrationDataReader


class CalibrationReader(_reader_base()):  # type: ignore[misc]
    """An ``onnxruntime.quantization.CalibrationDataReader`` over a tensor array.

    ``get_next()`` returns ``{input_name: batch}`` (``batch_size`` rows; with
    ``pad_to_batch`` the last batch is filled up with its last row, for models whose
    batch axis is fixed) and ``None`` at the end; :meth:`rewind` starts over.
    ``set_range(start, end)`` restricts it to batches ``start..end-1`` (used by
    onnxruntime's strided calibration), ``len()`` is the number of batches.
    """

    def __init__(self, tensors: np.ndarray, input_name: str, batch_size: int = 1, *, pad_to_batch: bool = False):
        if not is_int(batch_size) or batch_size < 1:
            raise InvalidArgumentError(f"batch_size: expected an int >= 1, got {batch_size!r}")
        self.tensors = tensors
        self.input_name = input_name
        self.batch_size = int(batch_size)
        self.pad_to_batch = pad_to_batch
        self._batches = -(-len(tensors) // self.batch_size)
        self._range = (0, self._batches)
        self._next = 0

    def __len__(self) -> int:
        return self._range[1] - self._range[0]

    def set_range(self, start_index: int, end_index: int) -> None:
        self._range = (max(0, int(start_index)), min(self._batches, int(end_index)))
        self._next = self._range[0]

    def rewind(self) -> None:
        self._next = self._range[0]

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._next >= self._range[1]:
            return None
        i = self._next
        self._next += 1
        batch = self.tensors[i * self.batch_size:(i + 1) * self.batch_size]
        if self.pad_to_batch and len(batch) < self.batch_size:
            batch = np.concatenate([batch, np.repeat(batch[-1:], self.batch_size - len(batch), axis=0)])
        return {self.input_name: np.ascontiguousarray(batch)}


# ---------------------------------------------------------------------------
# The set


@dataclass
class CalibrationSet:
    """Model-input tensors for calibration, and where they came from.

    Attributes:
        tensors: ``(N, C, H, W)`` or ``(N, H, W, C)`` array in the model's input layout
            and dtype, exactly as the runtime feeds the model.
        input_name: the model input they feed.
        batch_size: the model's fixed batch size, or ``None`` for a dynamic batch axis.
        report: a :class:`CalibrationReport`.
        preprocess: the resolved ``input`` and ``preprocess`` config (plus ``task``) used.
    """

    tensors: np.ndarray
    input_name: str
    report: CalibrationReport
    batch_size: int | None = None
    preprocess: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.tensors)

    def reader(self, batch_size: int | None = None, *, limit: int | None = None) -> CalibrationReader:
        """A fresh ``onnxruntime.quantization.CalibrationDataReader`` over the tensors
        (the first ``limit`` of them when given). ``batch_size`` defaults to the model's
        fixed batch, else 8; for a fixed batch axis it must equal it."""
        t = self.tensors
        if limit is not None:
            if not is_int(limit) or limit < 1:
                raise InvalidArgumentError(f"limit: expected a positive number of tensors or None, got {limit!r}")
            t = t[: int(limit)]
        if self.batch_size is not None:
            if batch_size not in (None, self.batch_size):
                raise InvalidArgumentError(
                    f"batch_size: the model's batch axis is fixed at {self.batch_size}, got {batch_size}")
            return CalibrationReader(t, self.input_name, self.batch_size, pad_to_batch=True)
        return CalibrationReader(t, self.input_name, 8 if batch_size is None else batch_size)

    def info(self) -> dict[str, Any]:
        """``{source, count, seed, strategy}``: the ``calibration`` entry of a model's ``quantization`` metadata."""
        r = self.report
        return {"source": r.source, "count": len(self), "seed": r.seed, "strategy": r.strategy}

    @classmethod
    def from_source(cls, model: str | os.PathLike, source: Any, *, count: int = 256, seed: int = 0,
                    strategy: str = "random", cache_dir: str | os.PathLike | None = None,
                    config: dict | str | os.PathLike | None = None, progress: bool = False,
                    **overrides: Any) -> CalibrationSet:
        """Calibration tensors for ``model`` from ``source`` (see the module docs).

        Args:
            model: the ``.onnx`` model to be calibrated (its metadata, plus ``config`` and
                ``**overrides`` as for :class:`edgevision.Predictor`, define the input).
            source: a dataset path, ``"synth"``/``"synth:SEED"``, or a list of images
                (uint8 BGR arrays, paths or sample objects).
            count: images wanted (>= 1); fewer are used when the source has fewer
                readable ones (noted in the report).
            seed: selection seed (and the generator's seed for ``"synth"``).
            strategy: ``"random"`` or ``"stratified"`` (balanced over ``plate_type``).
            cache_dir: folder for the ``.npz`` cache (created if needed); ``None``: no cache.
            progress: show a tqdm progress bar while images are read and preprocessed.

        Raises:
            InvalidArgumentError / InvalidTypeError: a bad argument (named).
            MissingConfigError / ConfigMismatchError / InvalidMetadataError: the model has
                no usable ``edgevision`` metadata (pass ``config=``/overrides), or the
                config contradicts the model's input.
            EmptyDatasetError: no readable image in the source.
            DatasetNotFoundError: a source path that does not exist.
        """
        from edgevision.predictor import Predictor

        if not is_int(count) or count < 1:
            raise InvalidArgumentError(f"count: expected an int >= 1 (images), got {count!r}")
        if not is_int(seed) or seed < 0:
            raise InvalidArgumentError(f"seed: expected an int >= 0, got {seed!r}")
        if strategy not in STRATEGIES:
            raise InvalidArgumentError(f"strategy: expected one of {', '.join(STRATEGIES)}, got {strategy!r}")
        count, seed = int(count), int(seed)

        # The deploy configuration, resolved and checked against the model as the Predictor does it.
        p = Predictor(model, config=config, warmup=False, **overrides)
        cfg = p.config
        size, kwargs = cfg.preprocess_kwargs()
        channels = kwargs.get("channels") or 3
        ocr = cfg.task in OCR_TASKS
        pre_key = {"task": cfg.task, "input": {"layout": cfg.layout, "dtype": cfg.dtype},
                   "preprocess": cfg.preprocess}
        input_name = p.runner.inputs[0].name

        # Candidates and the source's identity.
        report_kw: dict[str, Any] = {}
        notes: list[str] = []
        if isinstance(source, str) and (source == "synth" or source.startswith("synth:")):
            gen_seed = _synth_seed(source, seed)
            synth = _synth()
            if gen_seed == getattr(synth, "HELDOUT_SEED", None):
                notes.append("calibrating on the held-out seed: the held-out metrics are no longer independent")
            cands, _ = _synth_candidates(gen_seed, count, strategy)
            kind, label = "synth", f"synth:{gen_seed}"
            listing: Any = ["synth", gen_seed, len(cands), _synth_version()]
        elif isinstance(source, (str, os.PathLike)):
            from .readers import read_source

            result = read_source(source)
            report_kw["read_report"] = result.report.to_dict()
            cands = [_sample_candidate(s, str(s.image_path)) for s in result.samples]
            kind, label = result.report.kind, os.fspath(source)
            listing = [kind, [c.key for c in cands]]
        elif isinstance(source, (list, tuple)) or (hasattr(source, "samples") and hasattr(source, "report")):
            if not isinstance(source, (list, tuple)):  # a readers.ReadResult
                source = list(source.samples)
            if not source:
                raise EmptyDatasetError("source: the list of images is empty; expected at least one image",
                                        report=ReadReport(Path("<list>"), "list"))
            cands = [_sample_candidate(s, f"source[{i}]") for i, s in enumerate(source)]
            kind, label = "list", f"<list of {len(source)}>"
            listing = ["list", [c.key for c in cands]]
        else:
            raise InvalidTypeError(f"source: expected a dataset path, 'synth[:SEED]' or a list of images, "
                                   f"got {type(source).__name__}")

        report = CalibrationReport(label, kind, count, strategy, seed, available=len(cands), notes=notes,
                                   **report_kw)
        key_doc = {"v": _CACHE_VERSION, "pre": pre_key, "src": listing, "count": count, "seed": seed,
                   "strategy": strategy}
        key = hashlib.sha256(json.dumps(key_doc, sort_keys=True, default=str).encode()).hexdigest()[:24]
        cache_path: Path | None = None
        if cache_dir is not None:
            cache_path = Path(cache_dir) / f"calib-{key}.npz"
            hit = _load_cache(cache_path)
            if hit is not None:
                tensors, saved = hit
                report = CalibrationReport.from_dict(saved)
                report.cache, report.cache_path = "hit", str(cache_path)
                return cls(tensors, input_name, report, p.batch_size, pre_key)

        # Walk the selection order until `count` readable images.
        order = select_indices([c.plate_type for c in cands], seed, strategy)
        crop = plate_crop_fn() if ocr and any(c.corners is not None for c in cands) else None
        picked: list[tuple[int, np.ndarray]] = []
        bar = _bar(count, progress, f"calibration {label}")
        try:
            for i in order:
                if len(picked) >= count:
                    break
                c = cands[i]
                try:
                    img = c.load()
                except ImageReadError as e:
                    report.unreadable += 1
                    if len(report.unreadable_examples) < 5:
                        report.unreadable_examples.append(str(e))
                    continue
                picked.append((i, _fit(img, c, crop, size, channels)))
                report.cropped += crop is not None and c.corners is not None
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        picked.sort(key=lambda p: p[0])  # tensors in source order
        images = [im for _, im in picked]
        used = [cands[i] for i, _ in picked]
        if not images:
            rr = ReadReport(Path(label), kind, entries=len(cands), usable=0,
                            counts={"unreadable_image": report.unreadable} if report.unreadable else {})
            raise EmptyDatasetError(
                f"source: no readable image among the {len(cands)} candidates of {label} "
                f"({report.unreadable} unreadable); first problems: {'; '.join(report.unreadable_examples)}",
                report=rr)
        if len(images) < count:
            report.notes.append(f"only {len(images)} readable images available, {count} requested")
        for c in used:
            t = c.plate_type or "unknown"
            report.plate_types[t] = report.plate_types.get(t, 0) + 1
        report.used = len(images)
        report.items = [c.where for c in used]

        chunks = []
        for start in range(0, len(images), 64):  # bounded kernel calls; the same kernel as the runtime
            blob, _ = _letterbox(images[start:start + 64], size, kwargs)
            chunks.append(blob)
        tensors = np.concatenate(chunks)
        if cache_path is not None:
            report.cache, report.cache_path = "miss", str(cache_path)
            _save_cache(cache_path, tensors, report)
        return cls(tensors, input_name, report, p.batch_size, pre_key)


def _letterbox(images: list[np.ndarray], size: Any, kwargs: dict[str, Any]) -> Any:
    from edgevision import letterbox_batch

    return letterbox_batch(images, size, **kwargs)


def _fit(img: np.ndarray, c: _Candidate, crop: Any, size: tuple[int, int], channels: int) -> np.ndarray:
    """The image the kernel gets: the plate crop for OCR models (when there are corners),
    converted to gray for 1-channel models, as the Predictor does."""
    import cv2

    if crop is not None and c.corners is not None:
        bgr = img if img.ndim == 3 else cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        if bgr.shape[2] == 4:
            bgr = cv2.cvtColor(bgr, cv2.COLOR_BGRA2BGR)
        img = crop(bgr, c.corners, size=size)
    if channels == 1 and img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY if img.shape[2] == 3 else cv2.COLOR_BGRA2GRAY)
    elif channels != 1 and img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    return img


def _bar(total: int, on: bool, desc: str) -> Any:
    if not on:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="img", leave=False)


def _load_cache(path: Path) -> tuple[np.ndarray, dict[str, Any]] | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            tensors = z["tensors"]
            meta = json.loads(str(z["report"]))
    except (OSError, ValueError, KeyError):
        return None  # a truncated or foreign file: recompute and overwrite
    return tensors, meta


def _save_cache(path: Path, tensors: np.ndarray, report: CalibrationReport) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path, suffix=".npz") as tmp:
        np.savez(tmp, tensors=tensors, report=np.array(json.dumps(report.to_dict())))

