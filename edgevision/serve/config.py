"""Settings of ``edgevision serve`` (plain data; importing this needs no web framework)."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

from ..checks import check_int, check_number
from ..errors import InvalidArgumentError, InvalidTypeError
from ..meters import DEFAULT_CLASSIFIER as METER_CLASSIFIER
from ..meters import DEFAULT_CORNERS as METER_CORNERS
from ..meters import DEFAULT_DIGITS as METER_DIGITS
from ..meters import DEFAULT_REFINE as METER_REFINE
from ..plates import DEFAULT_OCR, check_rescue

#: Pipelines ``--pipeline`` can name.
PIPELINES = ("plate", "meter")


@dataclass(frozen=True)
class ServeConfig:
    """What ``edgevision serve`` loads and how it admits work.

    Attributes:
        pipeline: ``"plate"`` serves ``POST /recognize`` with a :class:`~edgevision.PlateReader`
            over ``detector`` (or ``corners``) and ``ocr``; ``"meter"`` with a :class:`~edgevision.MeterReader` over
            ``meter_corners``, ``meter_digits`` and ``meter_classifier`` (seed 001); None serves
            ``models`` only.
        models: further models (paths or bundled names) served at ``POST /predict/{name}``,
            where ``name`` is the file name without ``.onnx``. The pipeline's two models
            are served there too.
        detector, ocr: the plate pipeline's models: a plate detector (a ``pose`` model with 4
            corners; default the bundled ``plate_pose_int8.onnx``), with which ``/recognize`` reads
            every plate of an image, and the OCR (default the bundled ``plate_ocr_int8.onnx``).
        corners: a corner model (seed 000, ``keypoints`` with 4 points) for the plate pipeline
            instead of the detector: ``/recognize`` then reads the one plate it regresses. Not
            together with ``detector``.
        refine: with a detector, its second look at each plate (see :class:`~edgevision.PlateReader`).
        deskew: the plate reader's slant correction (see :class:`~edgevision.PlateReader`).
        rescue: with a detector and its second look, the OCR confidence (0..1) at which a proposal
            the second look does not confirm is kept anyway (``PlateReader(rescue=...)``); default
            ``"auto"``: the reader's own (``edgevision.plates.RESCUE_CONF`` for the plate pipeline with a
            detector and its second look, none otherwise); ``None``: never.
        meter_corners, meter_digits, meter_classifier: the meter pipeline's three models (default:
            the bundled int8 ones).
        meter_refine: the meter pipeline's second look at the screen corners (default the bundled
            int8 one; None: none; see :class:`~edgevision.MeterReader`).
        host, port: where uvicorn listens (``port=0``: a free port, printed at start).
        workers: inferences run at once, each on its own thread (default: the CPU count, at most 4).
        threads: ONNX Runtime intra-op threads per model (default: CPUs / workers, at least 1).
        queue: requests admitted beyond the workers (uploading or waiting for a worker); one more is
            answered 503 with ``Retry-After`` at once, so at most ``workers + queue`` bodies are in memory.
        max_body_mb: largest request body in MB (10^6 bytes), checked while it streams in.
        max_pixels: largest image (width x height) accepted, checked from its header before decoding.
        device: ``auto``, ``cpu``, ``cuda[:N]`` or ``tensorrt[:N]`` (see :class:`~edgevision.Predictor`).
        warmup: run every model (and the pipeline on a bundled sample scene) before serving.
        graceful_timeout_s: on SIGTERM, how long requests in flight may take to finish (seconds).
        access_log: uvicorn's per-request log lines (the counts are in ``/metrics`` either way).
        log_level: uvicorn's log level.
    """

    pipeline: str | None = "plate"
    models: tuple[str, ...] = ()
    corners: str | None = None
    ocr: str = DEFAULT_OCR
    detector: str | None = None
    refine: bool = True
    deskew: bool = True
    rescue: float | str | None = "auto"
    meter_corners: str = METER_CORNERS
    meter_digits: str = METER_DIGITS
    meter_classifier: str = METER_CLASSIFIER
    meter_refine: str | None = METER_REFINE
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int | None = None
    threads: int | None = None
    queue: int = 32
    max_body_mb: float = 20.0
    max_pixels: int = 40_000_000
    device: str = "auto"
    warmup: bool = True
    graceful_timeout_s: float = 30.0
    access_log: bool = False
    log_level: str = "info"

    def __post_init__(self) -> None:
        if self.pipeline is not None and self.pipeline not in PIPELINES:
            raise InvalidArgumentError(f"pipeline: expected one of {list(PIPELINES)} or None, got {self.pipeline!r}")
        if isinstance(self.models, (str, bytes)) or not isinstance(self.models, (list, tuple)):
            raise InvalidTypeError(f"models: expected a list of model paths or names, got {type(self.models).__name__}")
        object.__setattr__(self, "models", tuple(os.fspath(m) for m in self.models))
        if self.pipeline is None and not self.models:
            raise InvalidArgumentError("models: nothing to serve; give a pipeline ('plate' or 'meter') or at least "
                                       "one model")
        for name, what in (("detector", "a plate detector"), ("corners", "a plate corner model")):
            if self.pipeline != "plate" and getattr(self, name) is not None:
                raise InvalidArgumentError(f"{name}: {what} belongs to the plate pipeline, not to "
                                           f"{self.pipeline or 'no pipeline'}")
        if self.detector is not None and self.corners is not None:
            raise InvalidArgumentError("corners, detector: give one of them (the plate pipeline reads with a "
                                       "detector, by default the bundled one, or with a corner model)")
        if not isinstance(self.refine, bool):
            raise InvalidTypeError(f"refine: expected True or False, got {self.refine!r}")
        if not isinstance(self.deskew, bool):
            raise InvalidTypeError(f"deskew: expected True or False, got {self.deskew!r}")
        object.__setattr__(self, "rescue", check_rescue(self.rescue))
        if self.rescue not in (None, "auto") and not (self.pipeline == "plate" and self.corners is None and self.refine):
            raise InvalidArgumentError("rescue: it keeps plates the detector's second look does not confirm; "
                                       "it needs the plate pipeline with a detector and refine")
        object.__setattr__(self, "port", check_int(self.port, "port", minimum=0))
        if self.port > 65535:
            raise InvalidArgumentError(f"port: expected 0..65535, got {self.port}")
        for name in ("workers", "threads"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, check_int(getattr(self, name), name, minimum=1))
        object.__setattr__(self, "queue", check_int(self.queue, "queue", minimum=0))
        check_number(self.max_body_mb, "max_body_mb", positive=True)
        object.__setattr__(self, "max_pixels", check_int(self.max_pixels, "max_pixels", minimum=1))
        check_number(self.graceful_timeout_s, "graceful_timeout_s", positive=True)

    @property
    def plate_detector(self) -> str | None:
        """The plate pipeline's detector: ``detector``, the bundled one when neither it nor
        ``corners`` is given, or None (the corner model; or not the plate pipeline)."""
        if self.pipeline != "plate" or self.corners is not None:
            return None
        from ..plates import DEFAULT_DETECTOR

        return self.detector or DEFAULT_DETECTOR

    @property
    def worker_count(self) -> int:
        """``workers``, or its default: the CPU count, at most 4."""
        return self.workers or min(os.cpu_count() or 1, 4)

    @property
    def thread_count(self) -> int:
        """``threads``, or its default: CPUs divided among the workers, at least 1."""
        return self.threads or max(1, (os.cpu_count() or 1) // self.worker_count)

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1e6)

    def replace(self, **changes: Any) -> "ServeConfig":
        return dataclasses.replace(self, **changes)
