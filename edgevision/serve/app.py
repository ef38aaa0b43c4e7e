"""The ASGI app of ``edgevision serve`` (FastAPI) and the uvicorn runner. See :mod:`edgevision.serve`."""

from __future__ import annotations

import logging
import math
import signal
import socket
import sys
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable

from .. import __version__
from ..errors import EdgeVisionError, InvalidArgumentError, InvalidTypeError, MissingDependencyError
from ..image_bytes import (
    ImageDecodeError,
    ImageTooLargeError,
    UnsupportedImageError,
    check_image_size,
    image_header,
)
from .config import ServeConfig
from .engine import Engine, Overloaded

try:
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, Response
    from pydantic import BaseModel, Field
    from starlette.datastructures import UploadFile
    from starlette.exceptions import HTTPException as StarletteHTTPException
    from starlette.formparsers import MultiPartException
except ImportError as e:  # pragma: no cover - exercised where the extra is absent
    raise MissingDependencyError(
        f"edgevision serve needs the [serve] extra ({e.name} is not installed): pip install 'edgevision[serve]'"
    ) from e

_clock = time.perf_counter
_log = logging.getLogger("edgevision.serve")

#: Every error answer: stable code -> HTTP status. The body is
#: ``{"success": false, "error": {"code": ..., "message": ...}}``.
ERROR_CODES: dict[str, int] = {
    "empty_body": 400,                # no bytes, or an empty multipart image part
    "undecodable_image": 400,         # a JPEG/PNG/BMP/WebP header or data that is malformed or cut short
    "invalid_image": 400,             # decoded, but the model refuses it
    "bad_multipart": 400,             # multipart/form-data that does not parse (boundary, too many parts)
    "not_found": 404,                 # no such route
    "model_not_found": 404,           # /predict/{model} names no loaded model
    "pipeline_not_loaded": 404,       # /recognize without --pipeline plate or meter
    "method_not_allowed": 405,
    "body_too_large": 413,            # over --max-body-mb (Content-Length, or counted while streaming)
    "image_too_large": 413,           # over --max-pixels, or a side over 32768 px, from the header
    "unsupported_media_type": 415,    # Content-Type not an image type, octet-stream or multipart/form-data
    "unsupported_image_format": 415,  # bytes that are not JPEG, PNG, BMP or WebP (GIF, TIFF, text...)
    "wrong_field": 422,               # multipart without a file field named "image" (or "file")
    "invalid_request": 422,
    "internal_error": 500,            # a bug: never expected
    "overloaded": 503,                # every worker busy and the queue full; Retry-After says when to retry
}

#: Content types accepted for a raw image body (the bytes decide the format).
RAW_MEDIA_TYPES = ("image/jpeg", "image/jpg", "image/pjpeg", "image/png", "image/bmp", "image/x-ms-bmp",
                   "image/webp", "application/octet-stream")
#: Multipart field names read as the image, in order.
IMAGE_FIELDS = ("image", "file")

_ROUTES = ("/recognize", "/health", "/models", "/metrics", "/docs", "/redoc", "/openapi.json")


class HTTPError(EdgeVisionError):
    """An error answer: ``code`` (a key of :data:`ERROR_CODES`), a message, optional headers."""

    def __init__(self, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = ERROR_CODES[code]
        self.headers = headers or {}


def http_error(exc: BaseException) -> HTTPError:
    """The error answer for an exception raised while serving a request."""
    if isinstance(exc, HTTPError):
        return exc
    if isinstance(exc, Overloaded):
        return HTTPError("overloaded", str(exc), {"Retry-After": str(exc.retry_after_s)})
    if isinstance(exc, UnsupportedImageError):
        return HTTPError("unsupported_image_format", str(exc))
    if isinstance(exc, ImageTooLargeError):
        return HTTPError("image_too_large", str(exc))
    if isinstance(exc, ImageDecodeError):
        return HTTPError("undecodable_image", str(exc))
    if isinstance(exc, (InvalidArgumentError, InvalidTypeError)):
        return HTTPError("invalid_image", str(exc))
    return HTTPError("internal_error", f"{type(exc).__name__}: {exc}")


def _finite(x: Any) -> Any:
    """``x`` with every non-finite float replaced by None (strict JSON has no NaN)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


def json_answer(content: dict[str, Any]) -> JSONResponse:
    """A JSON answer; non-finite floats (a raw model's NaN) become null rather than invalid JSON."""
    try:
        return JSONResponse(content)
    except ValueError:  # json.dumps(allow_nan=False) met a NaN or an infinity
        return JSONResponse(_finite(content))


def _ms(times: dict[str, float]) -> dict[str, float]:
    return {k: round(v * 1e3, 3) for k, v in times.items()}


def endpoint_label(path: str) -> str:
    """The route template a path belongs to (a bounded label set for metrics)."""
    if path in _ROUTES:
        return path
    if path.startswith("/predict/"):
        return "/predict/{model}"
    return "other"


# --- request bodies ----------------------------------------------------------------------


def _limited(receive: Callable[[], Any], limit: int) -> Callable[[], Any]:
    """``receive`` that raises ``body_too_large`` as soon as more than ``limit`` body bytes came in."""
    seen = 0

    async def wrapped() -> Any:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise HTTPError("body_too_large", f"body: more than {limit:,} bytes; the limit is {limit:,} bytes "
                                                  "(--max-body-mb)")
        return message

    return wrapped


async def read_image_body(request: Request, limit: int) -> bytes:
    """The encoded image of a request: the raw body, or the ``image`` (or ``file``) part of a
    multipart/form-data body. The size is checked from Content-Length, then counted as the body
    streams in, so no more than ``limit`` bytes (plus one chunk) are ever read.

    Raises:
        HTTPError: ``body_too_large``, ``unsupported_media_type``, ``empty_body``,
            ``bad_multipart`` or ``wrong_field``.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit():
        if int(declared) > limit:
            raise HTTPError("body_too_large", f"body: Content-Length {int(declared):,} bytes; the limit is "
                                              f"{limit:,} bytes (--max-body-mb)")
        if int(declared) == 0:
            raise HTTPError("empty_body", "body: empty; send the image bytes or a multipart 'image' file")
    media = request.headers.get("content-type", "application/octet-stream").split(";")[0].strip().lower()
    limited = Request(request.scope, _limited(request.receive, limit))
    if media == "multipart/form-data":
        return await _read_multipart(limited)
    if media not in RAW_MEDIA_TYPES:
        hint = (" (curl --data-binary sends that by default: add -H 'Content-Type: image/jpeg')"
                if media == "application/x-www-form-urlencoded" else "")
        raise HTTPError("unsupported_media_type",
                        f"Content-Type: {media!r} is not accepted{hint}; send image/jpeg, image/png, image/bmp, "
                        "image/webp, application/octet-stream, or multipart/form-data with an 'image' file")
    body = bytearray()
    async for chunk in limited.stream():
        body += chunk
    if not body:
        raise HTTPError("empty_body", "body: empty; send the image bytes or a multipart 'image' file")
    return bytes(body)


async def _read_multipart(request: Request) -> bytes:
    try:
        form = await request.form(max_files=1, max_fields=16, max_part_size=64 * 1024)
    except StarletteHTTPException as e:  # python-multipart's own errors, made 400 by Starlette
        raise HTTPError("bad_multipart", f"body: multipart/form-data does not parse: {e.detail}") from None
    except MultiPartException as e:  # the same, raised as is outside an app's scope
        raise HTTPError("bad_multipart", f"body: multipart/form-data does not parse: {e.message}") from None
    try:
        part = next((form[f] for f in IMAGE_FIELDS if f in form), None)
        if not isinstance(part, UploadFile):
            got = ", ".join(f"{k!r} ({'file' if isinstance(v, UploadFile) else 'text'})" for k, v in form.multi_items())
            raise HTTPError("wrong_field", f"body: expected a file field named 'image' (or 'file'); got "
                                           f"{got or 'no fields'}")
        data = await part.read()
    finally:
        await form.close()
    if not data:
        raise HTTPError("empty_body", "body: the multipart 'image' file is empty")
    return data


def check_header(data: bytes, max_pixels: int) -> None:
    """Format and pixel count from the image header, before any decoding (see :mod:`edgevision.image_bytes`)."""
    _, width, height = image_header(data, "body")
    check_image_size(width, height, max_pixels, "body")


# --- documentation models (OpenAPI only; answers are built as plain dicts) ------------------


class ErrorDetail(BaseModel):
    code: str = Field(description="stable error code: " + ", ".join(f"{k} ({v})" for k, v in ERROR_CODES.items()))
    message: str


class ErrorAnswer(BaseModel):
    success: bool = False
    error: ErrorDetail


class Plate(BaseModel):
    text: str
    confidence: float = Field(description="product of the per-character probabilities, 0..1")
    char_confidences: list[float]
    corners: list[list[float]] = Field(description="4 (x, y) source pixels, clockwise from top-left")
    quad_ok: bool = Field(description="false when the corners were not a convex quad (the text deserves no trust)")
    rows: int = Field(description="2 when read as a two-row plate, else 1")
    score: float | None = Field(description="the detector's score for this plate (0..1); null without a detector")
    confirmed: bool | None = Field(default=None, description="true: the detector's second look confirmed the plate; "
                                   "false: kept by the OCR-verified rescue; null without a second look")


class RecognizeAnswer(BaseModel):
    success: bool = Field(description="a plate was found (a usable quad) and text was read")
    original_image_shape: list[int] = Field(description="[height, width, channels] of the decoded image")
    text: str
    class_: str = Field(alias="class", description="single_row or double_row")
    score: float = Field(description="the reading's confidence, 0..1")
    time: float = Field(description="seconds the server spent on the request")
    plates: list[Plate]
    timings_ms: dict[str, float] = Field(description="read, queue, decode, corners (or detect, with a detector), "
                                                     "rectify, ocr, total (ms)")


class MeterDigitAnswer(BaseModel):
    digit: str
    confidence: float = Field(description="the digit classifier's probability, 0..1")
    score: float = Field(description="the digit detector's score, 0..1")
    decimal: bool = Field(description="the digit lies in the decimal area (after the point)")
    box: list[float] = Field(description="x0, y0, x1, y1 in rectified-screen pixels")
    quad: list[list[float]] = Field(description="the box's 4 corners in source pixels, clockwise from top-left")


class MeterAnswer(BaseModel):
    success: bool = Field(description="a legible screen was found and digits were read")
    original_image_shape: list[int] = Field(description="[height, width, channels] of the decoded image")
    text: str = Field(description="the reading, e.g. 01234.56; empty when nothing was read")
    class_: str = Field(alias="class", description="analog, digital or illegible")
    score: float = Field(description="the reading's confidence: the class probability times every digit's, 0..1")
    time: float = Field(description="seconds the server spent on the request")
    counter_class: str = Field(description="seed 001's name of class")
    counter_score: float = Field(description="seed 001's counter score: the class probability, 0..1")
    corners: list[list[float]] = Field(description="screen corners, source pixels, TL, TR, BR, BL in reading order")
    digits: list[MeterDigitAnswer]
    timings_ms: dict[str, float] = Field(description="read, queue, decode, corners, rectify, digits, classify, total")


class PredictAnswer(BaseModel):
    model: str
    task: str
    original_image_shape: list[int]
    result: dict[str, Any] = Field(description="the result's to_dict(): source-image pixels")
    time: float
    timings_ms: dict[str, float] = Field(description="read, queue, decode, preprocess, infer, postprocess, total")


_UPLOAD = {"requestBody": {"required": True, "content": {
    **{t: {"schema": {"type": "string", "format": "binary"}} for t in RAW_MEDIA_TYPES if t != "image/jpg"},
    "multipart/form-data": {"schema": {"type": "object", "required": ["image"],
                                       "properties": {"image": {"type": "string", "format": "binary"}}}},
}}}
_ERRORS_DOC: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorAnswer, "description": ", ".join(c for c, st in ERROR_CODES.items() if st == s)}
    for s in (400, 404, 413, 415, 422, 503)
}


# --- the app -------------------------------------------------------------------------------


class _CountRequests:
    """ASGI middleware: counts every answer by endpoint and status, and times it."""

    def __init__(self, app: Any, metrics: Any) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = _clock()
        status = 500

        async def counted_send(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, counted_send)
        finally:
            self.metrics.request(endpoint_label(scope["path"]), status, _clock() - t0)


def create_app(config: ServeConfig | None = None, *, engine: Engine | None = None) -> FastAPI:
    """The FastAPI app: loads and warms up the models of ``config`` (or uses ``engine``).

    The engine's worker threads stop at the app's lifespan shutdown, after the
    requests in flight have finished.
    """
    from .metrics import Metrics

    engine = engine if engine is not None else Engine(config if config is not None else ServeConfig())
    cfg = engine.config
    metrics = Metrics(engine.admission)
    started = time.time()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        engine.close()

    app = FastAPI(
        title="edgevision", version=__version__, lifespan=lifespan,
        description="Plate reading and ONNX model inference. Send an image as the raw body "
                    "(image/jpeg, image/png, image/bmp, image/webp or application/octet-stream) or as the "
                    "'image' file of a multipart/form-data body. Every error is JSON with a stable code.",
    )
    app.state.engine = engine
    app.state.metrics = metrics
    app.add_middleware(_CountRequests, metrics=metrics)

    def answer(err: HTTPError) -> JSONResponse:
        metrics.error(err.code)
        return JSONResponse({"success": False, "error": {"code": err.code, "message": str(err)}},
                            status_code=err.status, headers=err.headers)

    @app.exception_handler(EdgeVisionError)
    async def _edgevision_error(request: Request, exc: EdgeVisionError) -> JSONResponse:
        return answer(http_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_exception(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        if code is None:
            code = "invalid_request" if exc.status_code < 500 else "internal_error"
        err = HTTPError(code, str(exc.detail), dict(exc.headers or {}))
        if code == "invalid_request":
            err.status = exc.status_code
        return answer(err)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return answer(HTTPError("invalid_request", str(exc.errors())))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        _log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return answer(http_error(exc))

    async def read_checked(request: Request) -> tuple[bytes, float]:
        t0 = _clock()
        data = await read_image_body(request, cfg.max_body_bytes)
        check_header(data, cfg.max_pixels)
        return data, _clock() - t0

    meter = cfg.pipeline == "meter"

    @app.post("/recognize", summary="Read the meter in an image" if meter else "Read the plate in an image",
              response_model=None, openapi_extra=_UPLOAD,
              responses={200: {"model": MeterAnswer if meter else RecognizeAnswer}, **_ERRORS_DOC})
    async def recognize(request: Request) -> JSONResponse:
        t0 = _clock()
        if engine.reader is None:
            raise HTTPError("pipeline_not_loaded", "/recognize: no pipeline is loaded "
                                                   "(start the server with --pipeline plate or --pipeline meter)")
        async with engine.admission.admit():
            data, read_s = await read_checked(request)
            (r, stages), queued = await engine.admission.run(engine.recognize, data)
        times = {"read": read_s, "queue": queued, **stages}
        metrics.stage_times(cfg.pipeline, times)
        if meter:
            total = _clock() - t0
            return json_answer({
                "success": r.success, "original_image_shape": list(r.orig_img.shape), "text": r.text,
                "class": r.meter_class, "score": r.score, "time": total,
                "counter_class": r.meter_class, "counter_score": r.class_score,
                "corners": r.corners.tolist(),
                "digits": [{"digit": d.digit, "confidence": d.confidence, "score": d.score, "decimal": d.decimal,
                            "box": list(d.box), "quad": [list(q) for q in d.quad]} for d in r.digits],
                "timings_ms": _ms({**times, "total": total}),
            })
        readings = list(r) if engine.reader.detector is not None else [r]  # a PlateScene: every plate
        plates = [{"text": p.text, "confidence": p.confidence, "char_confidences": list(p.char_confidences),
                   "corners": p.corners.tolist(), "quad_ok": p.quad_ok, "rows": p.rows, "score": p.score,
                   "confirmed": p.confirmed}
                  for p in readings]
        top = readings[0] if readings else None  # the detector's best plate, or the corner model's one
        total = _clock() - t0
        return json_answer({
            "success": bool(top is not None and top.quad_ok and top.text), "original_image_shape": list(r.orig_img.shape),
            "text": "" if top is None else top.text,
            "class": "double_row" if top is not None and top.rows == 2 else "single_row",
            "score": 0.0 if top is None else top.confidence,
            "time": total, "plates": plates, "timings_ms": _ms({**times, "total": total}),
        })

    @app.post("/predict/{model}", summary="Run one loaded model on an image", response_model=None,
              openapi_extra=_UPLOAD, responses={200: {"model": PredictAnswer}, **_ERRORS_DOC})
    async def predict(model: str, request: Request) -> JSONResponse:
        t0 = _clock()
        if model not in engine.predictors:
            raise HTTPError("model_not_found", f"model: {model!r} is not loaded; loaded: "
                                               f"{', '.join(engine.predictors)} (GET /models)")
        async with engine.admission.admit():
            data, read_s = await read_checked(request)
            (result, shape, stages), queued = await engine.admission.run(engine.predict, model, data)
        times = {"read": read_s, "queue": queued, **stages}
        metrics.stage_times(model, times)
        total = _clock() - t0
        return json_answer({
            "model": model, "task": engine.predictors[model].task, "original_image_shape": list(shape),
            "result": result.to_dict(), "time": total, "timings_ms": _ms({**times, "total": total}),
        })

    @app.get("/health", summary="Liveness and readiness (503 while draining after SIGTERM)")
    async def health() -> JSONResponse:
        a = engine.admission
        server = getattr(app.state, "server", None)  # set by serve(); None under another ASGI server
        draining = bool(server is not None and server.should_exit)
        return JSONResponse({
            "status": "draining" if draining else "ok", "ready": not draining, "version": __version__,
            "uptime_s": round(time.time() - started, 3),
            "pipeline": cfg.pipeline, "models": list(engine.predictors), "warmup_s": round(engine.warmup_s, 3),
            "workers": a.workers, "running": a.running, "queue": {"queued": a.queued, "capacity": a.capacity},
        }, status_code=503 if draining else 200)

    @app.get("/models", summary="The loaded models and their metadata")
    async def models() -> JSONResponse:
        return json_answer(engine.describe())

    @app.get("/metrics", summary="Prometheus metrics (text exposition format)")
    async def prometheus() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    return app


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY on the accepted connections only when the
    # listening socket says so; without it a response's body waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise EdgeVisionError(f"host/port: cannot listen on {host}:{port} ({e.strerror})") from None
    sock.listen(2048)
    return sock


def serve(config: ServeConfig, *, out: Any = None) -> int:
    """Loads and warms up the models, listens on ``config.host:config.port`` and serves until
    SIGTERM or SIGINT; then stops accepting, lets the requests in flight finish (at most
    ``graceful_timeout_s``) and returns 0. Prints one line when it listens (to ``out``,
    default stdout): ``edgevision serve: listening on http://HOST:PORT``.
    """
    import uvicorn

    out = out if out is not None else sys.stdout
    t0 = _clock()
    app = create_app(config)
    engine = app.state.engine
    sock = _listening_socket(config.host, config.port)
    host, port = sock.getsockname()[:2]
    print(f"edgevision serve: {len(engine.predictors)} model(s) ({', '.join(engine.predictors)}), pipeline "
          f"{config.pipeline or 'none'}, {config.worker_count} worker(s) x {config.thread_count} thread(s), queue "
          f"{config.queue}; loaded and warmed up in {_clock() - t0:.2f} s", file=out)
    shown = f"[{host}]" if ":" in host else host
    print(f"edgevision serve: listening on http://{shown}:{port}", file=out, flush=True)
    server = uvicorn.Server(uvicorn.Config(
        app, log_level=config.log_level, access_log=config.access_log, server_header=False,
        timeout_graceful_shutdown=config.graceful_timeout_s, lifespan="on"))
    app.state.server = server
    # uvicorn handles SIGTERM/SIGINT while it runs, then restores the handlers it found and raises
    # the signal again; with these no-op handlers in place that last step returns here, and a
    # graceful shutdown exits with status 0.
    previous = {sig: signal.signal(sig, _ignore_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _ignore_signal(signum: int, frame: Any) -> None:
    """Stands in for the default handlers while uvicorn serves (see :func:`serve`)."""


__all__ = ["create_app", "serve", "read_image_body", "check_header", "http_error", "endpoint_label", "HTTPError",
           "ERROR_CODES", "RAW_MEDIA_TYPES", "IMAGE_FIELDS"]
