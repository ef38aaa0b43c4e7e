"""The benchmark's configuration and results: :class:`BenchConfig`, :class:`Row`, :class:`BenchResult`."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

from calibration.timing import StageStats, environment, noise_pct, peak_rss_mb, within_noise
from edgevision.checks import is_int
from edgevision.errors import InvalidArgumentError

from .data import timing_images
from .variants import STAGES


@dataclass
class BenchConfig:
    """What to run. ``models``: ONNX paths or bundled names (empty: every bundled model).
    ``backends``: ``auto``/``onnxruntime``/``tensorrt`` (TensorRT engines are not supported
    by the runtime yet: such rows fail with its message). ``devices``: ``cpu``,
    ``cuda[:N]``, ``tensorrt[:N]`` (ONNX Runtime execution providers; None:
    :func:`default_devices`). ``batches``: images per call. ``threads``:
    ONNX Runtime intra-op threads (None: its default). ``warmup``: untimed calls per
    stage before timing. ``iters``: at least this many timed calls per stage and repeat
    (and at least ``min_time_s`` seconds). ``repeats``: interleaved repeats (the quoted
    p50 is the median of their medians); ``rounds``: round-robin rounds within a repeat.
    ``timing_images``: distinct images cycled through the timed calls.
    ``data``: None (the held-out synthetic set), ``synth[:SEED]``, or a manifest /
    CCPD folder / image folder path. ``eval_count``: samples for the metric.
    ``metric``: compute the task metric. ``stages``: the stages timed (default all of
    :data:`STAGES`; ``calibration.quantize.report`` times ``infer`` only); the noise is
    measured on ``e2e``, or on the last stage timed when ``e2e`` is not."""

    models: Sequence[str] = ()
    backends: Sequence[str] = ("auto",)
    devices: Sequence[str] | None = None
    batches: Sequence[int] = (1,)
    threads: Sequence[int | None] = (None,)
    warmup: int = 3
    iters: int = 10
    repeats: int = 5
    min_time_s: float = 0.25
    rounds: int = 3
    data: str | None = None
    eval_count: int = 100
    metric: bool = True
    timing_images: int = 8
    stages: Sequence[str] = STAGES

    @classmethod
    def quick(cls, **kw: Any) -> "BenchConfig":
        """Fewer samples (smoke runs, CI): figures are rougher."""
        base = dict(warmup=1, iters=3, repeats=2, min_time_s=0.03, eval_count=16, timing_images=4)
        base.update(kw)
        return cls(**base)

    def validate(self) -> None:
        def positive(name: str, v: Any) -> None:
            if not is_int(v) or v < 1:
                raise InvalidArgumentError(f"{name}: expected a positive int, got {v!r}")

        if isinstance(self.models, (str, os.PathLike)):
            raise InvalidArgumentError("models: expected a list of paths, got a single string")
        for b in self.batches:
            positive("batch", b)
        for t in self.threads:
            if t is not None:
                positive("threads", t)
        for name in ("iters", "repeats", "rounds", "eval_count", "timing_images"):
            positive(name, getattr(self, name))
        if not is_int(self.warmup) or self.warmup < 0:
            raise InvalidArgumentError(f"warmup: expected an int >= 0, got {self.warmup!r}")
        if not isinstance(self.min_time_s, (int, float)) or not self.min_time_s >= 0:
            raise InvalidArgumentError(f"min_time_s: expected seconds >= 0, got {self.min_time_s!r}")
        from edgevision.backends import BACKENDS

        for b in self.backends:
            if b not in BACKENDS:
                raise InvalidArgumentError(f"backend: expected one of {list(BACKENDS)}, got {b!r}")
        if isinstance(self.stages, str) or not self.stages or any(st not in STAGES for st in self.stages):
            raise InvalidArgumentError(f"stages: expected some of {list(STAGES)}, got {self.stages!r}")
        if not self.batches or not self.threads or not self.backends or (self.devices is not None and not self.devices):
            raise InvalidArgumentError("batch, threads, backend, device: expected at least one value each")


@dataclass
class Row:
    """One model x backend x device x batch x threads. ``status`` is ``ok`` or
    ``failed`` (then ``reason`` says why and the figures are None)."""

    model: str
    path: str
    family: str
    precision: str
    backend: str
    device: str
    batch: int
    threads: int | None
    status: str = "ok"
    quantization: str | None = None
    reason: str | None = None
    is_baseline: bool = False
    providers: list[str] = field(default_factory=list)
    task: str | None = None
    size_mb: float | None = None
    load_ms: float | None = None
    rss_delta_mb: float | None = None
    peak_rss_mb: float | None = None
    stages: dict[str, StageStats | None] = field(default_factory=dict)
    stage_notes: dict[str, str] = field(default_factory=dict)
    throughput_ips: float | None = None
    metric: dict[str, Any] | None = None
    metric_note: str | None = None
    noise_pct: float | None = None
    baseline: str | None = None
    ratios: dict[str, float | None] = field(default_factory=dict)

    @property
    def label(self) -> str:
        thr = "auto" if self.threads is None else str(self.threads)
        return f"{self.model} [{self.device} b={self.batch} t={thr}]"

    def p50(self, stage: str) -> float | None:
        s = self.stages.get(stage)
        return s.p50 if s is not None else None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["stages"] = {k: (asdict(v) if v is not None else None) for k, v in self.stages.items()}
        d["label"] = self.label
        d["flags"] = {k: ("~" if self.flagged(k) else "") for k in self.ratios if k in TIME_RATIOS}
        return d

    def flagged(self, key: str) -> bool:
        """Whether the time ratio ``key`` is within the noise (never for the baseline itself)."""
        return not self.is_baseline and key in TIME_RATIOS and within_noise(self.ratios.get(key), self.noise_pct)


#: Ratios that are timings (flagged against the noise); the others are exact.
TIME_RATIOS = ("pre", "pre_cv", "infer", "post", "e2e", "throughput")


@dataclass
class BenchResult:
    environment: dict[str, Any]
    config: dict[str, Any]
    rows: list[Row]
    data: str
    notes: list[str] = field(default_factory=list)
    noise: dict[str, float] = field(default_factory=dict)
    duration_s: float = 0.0

    @property
    def ok_rows(self) -> list[Row]:
        return [r for r in self.rows if r.status == "ok"]

    def to_dict(self) -> dict[str, Any]:
        return {"environment": self.environment, "config": self.config, "data": self.data, "notes": self.notes,
                "noise_pct": self.noise, "duration_s": self.duration_s, "rows": [r.to_dict() for r in self.rows]}
