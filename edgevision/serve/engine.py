"""The models behind ``edgevision serve`` and the bounded queue in front of them (no web framework here).

:class:`Engine` loads the models once, warms them up, and runs one request's
work (decode, then inference) on a worker thread, timing each stage.
:class:`Admission` bounds that work: ``workers`` run at once, ``queue`` more
wait, and the next one is refused with :class:`Overloaded` at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
from pathlib import Path
from typing import Any, AsyncIterator, Callable

from ..errors import EdgeVisionError, InvalidArgumentError
from ..image_bytes import decode_image
from .config import ServeConfig

_clock = time.perf_counter


class Overloaded(EdgeVisionError):
    """Every worker is busy and the queue is full. ``retry_after_s``: a suggested wait (whole seconds)."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Admission:
    """Bounds a service's work: ``workers`` calls run at once (on a thread pool), and at most
    ``workers + queue`` requests are admitted at all (uploading, waiting or running).

    ``async with admission.admit():`` holds one admitted place for a request, and raises
    :class:`Overloaded` at once when none is free; so at most that many request bodies
    are ever in memory. ``await admission.run(fn, *args)`` then waits for a worker and
    returns ``(fn(*args), seconds waited)``. A worker counts as busy until its call returns,
    even if the caller went away. Used from one event loop; the counters need no lock.
    """

    def __init__(self, workers: int, queue: int) -> None:
        self.workers = workers
        self.capacity = queue
        self.admitted = 0
        self.running = 0
        self._slots: asyncio.Semaphore | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="edgevision-worker")
        self._service_s = 0.01  # running mean of a call's duration, for Retry-After

    @property
    def queued(self) -> int:
        """Admitted requests not on a worker (uploading, or waiting for a worker)."""
        return self.admitted - self.running

    def retry_after_s(self) -> int:
        """Seconds until the admitted requests have likely drained (mean call time x admitted / workers), 1..60."""
        return int(min(60, max(1, round(self.admitted * self._service_s / self.workers + 0.5))))

    @contextlib.asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        if self.admitted >= self.workers + self.capacity:
            raise Overloaded(f"all {self.workers} workers are busy and the queue of {self.capacity} is full",
                             self.retry_after_s())
        self.admitted += 1
        try:
            yield
        finally:
            self.admitted -= 1

    async def run(self, fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.workers)
        loop = asyncio.get_running_loop()
        t0 = _clock()
        await self._slots.acquire()
        waited = _clock() - t0
        self.running += 1
        slots = self._slots

        t1 = _clock()
        answer = loop.create_future()

        def settle(result: Any, error: BaseException | None) -> None:  # on the loop, once the call returned
            self.running -= 1
            slots.release()
            self._service_s = 0.9 * self._service_s + 0.1 * (_clock() - t1)
            if answer.cancelled():
                return
            if error is not None:
                answer.set_exception(error)
            else:
                answer.set_result(result)

        def call() -> None:  # on a worker: one wake-up of the loop per call, with the outcome
            try:
                result, error = fn(*args), None
            except BaseException as e:  # handed to the awaiting request
                result, error = None, e
            loop.call_soon_threadsafe(settle, result, error)

        try:
            self._pool.submit(call)
        except BaseException:
            self.running -= 1
            slots.release()
            raise
        return await answer, waited

    def close(self) -> None:
        """Waits for the calls in flight, then stops the threads."""
        self._pool.shutdown(wait=True)


class _StageTimes(threading.local):
    current: dict[str, float] | None = None


_STAGES = _StageTimes()


class _TimedStage:
    """A :class:`~edgevision.Predictor` stand-in that adds each call's duration to the calling
    thread's current timings under ``stage`` (every other attribute is the predictor's)."""

    def __init__(self, predictor: Any, stage: str) -> None:
        self._predictor = predictor
        self._stage = stage

    def __call__(self, x: Any) -> Any:
        t0 = _clock()
        try:
            return self._predictor(x)
        finally:
            if _STAGES.current is not None:
                _STAGES.current[self._stage] = _STAGES.current.get(self._stage, 0.0) + _clock() - t0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._predictor, name)


def model_name(path: str) -> str:
    """The name a model is served under: its file name without ``.onnx``."""
    name = Path(path).name
    return name[:-5] if name.lower().endswith(".onnx") else name


class Engine:
    """Loads and warms up the models of a :class:`ServeConfig`, then runs requests' work.

    Attributes:
        config: the settings.
        predictors: served name -> :class:`~edgevision.Predictor` (``/predict/{name}``).
        reader: the :class:`~edgevision.PlateReader` of the ``plate`` pipeline, the
            :class:`~edgevision.MeterReader` of the ``meter`` pipeline, or None.
        admission: the bounded queue (:class:`Admission`).
        warmup_s: seconds the warm-up took.

    Raises (at construction): :class:`~edgevision.errors.ModelNotFoundError` and the
    other load errors of :class:`~edgevision.Predictor`; InvalidArgumentError when two
    models would be served under the same name.
    """

    #: The meter pipeline's timed model stages, and the reader attribute of each.
    METER_STAGES = ("corners", "digits", "classify")
    _METER_ATTR = {"corners": "corners", "digits": "digits", "classify": "classifier"}

    def __init__(self, config: ServeConfig) -> None:
        from ..plates import PlateReader
        from ..predictor import Predictor

        self.config = config
        opts = {"device": config.device, "threads": config.thread_count}
        self.predictors: dict[str, Any] = {}
        self.reader: Any = None
        if config.pipeline == "plate":
            ocr = Predictor(config.ocr, warmup=False, **opts)
            if config.plate_detector is not None:
                # From its path: the reader sets the detector's threshold (a lower one when its
                # first look only proposes plates for the second look to confirm).
                self.reader = PlateReader(ocr=ocr, detector=config.plate_detector, refine=config.refine,
                                          deskew=config.deskew, rescue=config.rescue, **opts)
                first, stage = "detector", "detect"
            else:
                self.reader = PlateReader(Predictor(config.corners, warmup=False, **opts), ocr, deskew=config.deskew)
                first, stage = "corners", "corners"
            for p in (getattr(self.reader, first), self.reader.ocr):
                self.predictors.setdefault(model_name(p.path), p)
            setattr(self.reader, first, _TimedStage(getattr(self.reader, first), stage))
            self.reader.ocr = _TimedStage(self.reader.ocr, "ocr")
        elif config.pipeline == "meter":
            from ..meters import MeterReader

            refine = None if config.meter_refine is None else Predictor(config.meter_refine, warmup=False, **opts)
            self.reader = MeterReader(*(Predictor(m, warmup=False, **opts) for m in
                                        (config.meter_corners, config.meter_digits, config.meter_classifier)),
                                      refine=refine)
            for stage in self.METER_STAGES:
                p = getattr(self.reader, self._METER_ATTR[stage])
                self.predictors.setdefault(model_name(p.path), p)
                setattr(self.reader, self._METER_ATTR[stage], _TimedStage(p, stage))
            if refine is not None:  # the second look counts as stage 1's time
                self.predictors.setdefault(model_name(refine.path), refine)
                self.reader.refine = _TimedStage(refine, "corners")
        for m in config.models:
            p = Predictor(m, warmup=False, **opts)
            name = model_name(p.path)
            if name in self.predictors and self.predictors[name].path != p.path:
                raise InvalidArgumentError(f"models: two models would be served as {name!r}: "
                                           f"{self.predictors[name].path} and {p.path}; rename one")
            self.predictors.setdefault(name, p)
        self.admission = Admission(config.worker_count, config.queue)
        self.warmup_s = self.warmup() if config.warmup else 0.0
        self._info: dict[str, Any] | None = None
        self.describe()  # at start-up: GET /models never blocks the event loop on reading model files

    def warmup(self) -> float:
        """Runs every model once, and the pipeline (plate or meter) on every bundled sample scene (whatever
        ``max_pixels`` says: they are the package's own files); returns the seconds taken."""
        t0 = _clock()
        for p in self.predictors.values():
            p.warmup()
        if self.reader is not None:
            from ..samples import scene_items

            self.reader([path for path, _ in scene_items()[1]])
        return _clock() - t0

    def describe(self) -> dict[str, Any]:
        """``{"models": [...], "pipeline": ...}`` for ``GET /models`` (computed once)."""
        if self._info is None:
            from ..modelinfo import model_info

            models = []
            for name, p in self.predictors.items():
                info = model_info(p)
                models.append({"name": name, "task": p.task, **info})
            pipeline = None
            if self.config.pipeline == "meter":
                pipeline = {"name": "meter", "endpoint": "/recognize",
                            **{self._METER_ATTR[s]: model_name(getattr(self.reader, self._METER_ATTR[s]).path)
                               for s in self.METER_STAGES},
                            "refine": None if self.reader.refine is None else model_name(self.reader.refine.path)}
            elif self.reader is not None:
                first = "detector" if self.reader.detector is not None else "corners"
                pipeline = {"name": "plate", "endpoint": "/recognize",
                            first: model_name(getattr(self.reader, first).path), "ocr": model_name(self.reader.ocr.path)}
            self._info = {"models": models, "pipeline": pipeline}
        return self._info

    def recognize(self, data: bytes) -> tuple[Any, dict[str, float]]:
        """Decodes an encoded image and reads its plate: ``(PlateReading, stage seconds)``; with the
        meter pipeline its meter: ``(MeterReading, stage seconds)``, stages ``decode``, ``corners`` (with
        the second look at the corners, when the reader makes one),
        ``digits``, ``classify`` and ``rectify`` (the rest: the screen warps, the crops and glue).

        With a detector the reading is a :class:`~edgevision.PlateScene` (every plate) and the
        first stage is ``detect`` (with the detector's second look, when the reader makes one). Stages: ``decode``, ``corners`` (the corner model), ``ocr`` (the OCR, re-reads of
        two-row plates included) and ``rectify`` (the rest: rectification and glue).
        Runs on a worker thread. Raises the errors of :func:`~edgevision.image_bytes.decode_image`.
        """
        if self.reader is None:
            raise InvalidArgumentError("pipeline: no /recognize pipeline is loaded")
        t0 = _clock()
        image = decode_image(data, self.config.max_pixels)
        t1 = _clock()
        if self.config.pipeline == "meter":
            times = {"decode": t1 - t0, **{s: 0.0 for s in self.METER_STAGES}}
            _STAGES.current = times
            try:
                reading = self.reader(image)
            finally:
                _STAGES.current = None
            times["rectify"] = max(0.0, _clock() - t1 - sum(times[s] for s in self.METER_STAGES))
            return reading, times
        first = "detect" if self.reader.detector is not None else "corners"
        times = {"decode": t1 - t0, first: 0.0, "ocr": 0.0}
        _STAGES.current = times
        try:
            reading = self.reader(image)
        finally:
            _STAGES.current = None
        times["rectify"] = max(0.0, _clock() - t1 - times[first] - times["ocr"])
        return reading, times

    def predict(self, name: str, data: bytes) -> tuple[Any, tuple[int, ...], dict[str, float]]:
        """Decodes an encoded image and runs model ``name`` on it: ``(result, image shape, stage seconds)``.

        Stages: ``decode``, ``preprocess``, ``infer``, ``postprocess``. Runs on a worker thread.
        """
        from ..predictor import load_image

        p = self.predictors[name]
        t0 = _clock()
        image = decode_image(data, self.config.max_pixels)
        shape = image.shape
        image = load_image(image, "image", p.config.preprocess_kwargs()[1].get("channels") or 3)
        t1 = _clock()
        blob, transforms = p.preprocess([image])
        t2 = _clock()
        outputs = p.infer(blob)
        t3 = _clock()
        (result,) = p.postprocess(outputs, transforms, [image])
        t4 = _clock()
        return result, shape, {"decode": t1 - t0, "preprocess": t2 - t1, "infer": t3 - t2, "postprocess": t4 - t3}

    def close(self) -> None:
        """Waits for the work in flight, then stops the worker threads."""
        self.admission.close()


__all__ = ["Engine", "Admission", "Overloaded", "model_name"]
