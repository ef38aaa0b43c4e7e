"""`edgevision serve`: every endpoint and every bad-input row, in process (Starlette's TestClient) and
against a real uvicorn on a loopback port; the bounded queue (503 + Retry-After); SIGTERM with a
request in flight. Tiny deterministic models (tests/models.py) stand in for the bundled ones, so no
figure of the bundled models is assumed."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from onnx import TensorProto, helper, numpy_helper

import edgevision
from edgevision.samples import PLATES_DIR
from edgevision.serve import ServeConfig, create_app
from edgevision.serve.app import ERROR_CODES

import models
from benchmarks.serve import ServerProcess
from test_plates import _kp_meta, _ocr, _pose_detector

MAX_BODY_MB = 0.2         # 200,000 bytes
MAX_PIXELS = 1_000_000
SAMPLE = sorted((PLATES_DIR / "images").glob("*.jpg"))[0]
DEADLINE_S = 60           # bound on every wait for the real server


# --- models and bodies ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("serve_models")
    models.save(models.with_metadata(models.keypoints_model(), _kp_meta()), d / "kp.onnx")
    _ocr(d)
    cls = {"task": "classification", "preprocess": {"size": [32, 32], "mode": "stretch"}, "labels": list("abcdefghij")}
    models.save(models.with_metadata(models.classification_model(), cls), d / "cls.onnx")
    return d


def tiny_config(d: Path, **kw: Any) -> ServeConfig:
    opts = dict(corners=str(d / "kp.onnx"), ocr=str(d / "ocr.onnx"), models=(str(d / "cls.onnx"),), workers=2,
                threads=1, queue=4, max_body_mb=MAX_BODY_MB, max_pixels=MAX_PIXELS)
    if kw.get("detector") is not None or kw.get("pipeline", "plate") != "plate":
        opts["corners"] = None  # the plate pipeline reads with a detector or a corner model, not both
    opts.update(kw)
    return ServeConfig(**opts)


def slow_model(iterations: int) -> Any:
    """A ``raw`` model that runs a Loop of ``iterations`` 256x256 MatMuls (about 0.3 ms each here)."""
    w = (np.random.default_rng(0).standard_normal((256, 256)) / 16).astype(np.float32)
    body = helper.make_graph(
        [helper.make_node("MatMul", ["state_in", "w"], ["mm"]), helper.make_node("Tanh", ["mm"], ["state_out"]),
         helper.make_node("Identity", ["cond_in"], ["cond_out"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("state_in", TensorProto.FLOAT, [256, 256])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("state_out", TensorProto.FLOAT, [256, 256])],
        [numpy_helper.from_array(w, "w")])
    nodes = [helper.make_node("ReduceMean", ["images"], ["m"], keepdims=0),
             helper.make_node("Add", ["m", "w0"], ["state0"]),
             helper.make_node("Loop", ["trips", "cond", "state0"], ["final"], body=body),
             helper.make_node("ReduceMean", ["final", "axes0"], ["out"], keepdims=1)]
    inits = [numpy_helper.from_array(w, "w0"), numpy_helper.from_array(np.array(iterations, np.int64), "trips"),
             numpy_helper.from_array(np.array(True), "cond"), numpy_helper.from_array(np.array([0], np.int64), "axes0")]
    g = models._graph("slow", nodes, [models._image_input(32, 32, batch=1)],
                      [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 256])], inits)
    return models.with_metadata(g, {"task": "raw", "preprocess": {"size": [32, 32], "mode": "stretch"}})


def encode(ext: str, h: int = 60, w: int = 90) -> bytes:
    img = np.random.default_rng(h * w).integers(0, 256, (h, w, 3), np.uint8)
    ok, buf = cv2.imencode(ext, img)
    assert ok
    return buf.tobytes()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@functools.lru_cache(maxsize=None)
def png_bomb(side: int = 20000) -> bytes:
    """A valid 1-bit gray PNG of side x side black pixels: a few tens of KB compressed."""
    row = b"\x00" * (1 + (side + 7) // 8)
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row) for _ in range(side)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def multipart(field: str, data: bytes, filename: str | None = "plate.jpg") -> tuple[bytes, str]:
    """(body, content type) of a multipart/form-data body with one part."""
    boundary = "edgevisiontestboundary"
    disp = f'form-data; name="{field}"' + (f'; filename="{filename}"' if filename else "")
    head = f"--{boundary}\r\nContent-Disposition: {disp}\r\n" + ("Content-Type: image/jpeg\r\n" if filename else "")
    body = head.encode() + b"\r\n" + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def bad_inputs() -> list[tuple[str, str, dict[str, str], bytes, int, str]]:
    """The issue's bad-input table, and more: (id, path, headers, body, status, code)."""
    jpeg = SAMPLE.read_bytes()
    png = encode(".png")
    big = b"\xff\xd8\xff" + b"\x00" * int(MAX_BODY_MB * 1e6)
    wrong, wrong_ct = multipart("photo", jpeg)
    text_part, text_ct = multipart("image", b"not a file", filename=None)
    empty_part, empty_ct = multipart("image", b"")
    jpg = {"Content-Type": "image/jpeg"}
    cases = [
        ("body over the limit (Content-Length)", "/recognize", jpg, big, 413, "body_too_large"),
        ("unsupported media type", "/recognize", {"Content-Type": "text/plain"}, jpeg, 415, "unsupported_media_type"),
        ("curl's default form type", "/recognize", {"Content-Type": "application/x-www-form-urlencoded"}, jpeg, 415,
         "unsupported_media_type"),
        ("GIF bytes", "/recognize", {"Content-Type": "application/octet-stream"}, b"GIF89a" + b"\x00" * 64, 415,
         "unsupported_image_format"),
        ("text declared as JPEG", "/recognize", jpg, b"hello, this is not an image", 415, "unsupported_image_format"),
        ("truncated JPEG", "/recognize", jpg, jpeg[: len(jpeg) // 2], 400, "undecodable_image"),
        ("JPEG cut before its frame header", "/recognize", jpg, jpeg[:100], 400, "undecodable_image"),
        ("truncated PNG", "/predict/cls", {"Content-Type": "image/png"}, png[:-30], 400, "undecodable_image"),
        ("corrupt PNG data", "/recognize", {"Content-Type": "image/png"}, png[:40] + b"\x55" * (len(png) - 40), 400,
         "undecodable_image"),
        ("20000x20000 PNG (pixels from the header)", "/recognize", {"Content-Type": "image/png"}, png_bomb(), 413,
         "image_too_large"),
        ("3.3 MB BMP over the body limit", "/predict/cls", {"Content-Type": "image/bmp"}, encode(".bmp", 1000, 1100),
         413, "body_too_large"),
        ("empty body", "/recognize", jpg, b"", 400, "empty_body"),
        ("empty multipart file", "/recognize", {"Content-Type": empty_ct}, empty_part, 400, "empty_body"),
        ("wrong multipart field", "/recognize", {"Content-Type": wrong_ct}, wrong, 422, "wrong_field"),
        ("image sent as a text field", "/recognize", {"Content-Type": text_ct}, text_part, 422, "wrong_field"),
        ("malformed multipart", "/recognize", {"Content-Type": "multipart/form-data; boundary=x"}, b"--y\r\ngarbage",
         400, "bad_multipart"),
        ("unknown model", "/predict/nope", jpg, jpeg, 404, "model_not_found"),
        ("unknown route", "/nope", jpg, jpeg, 404, "not_found"),
    ]
    return cases


BAD = bad_inputs()


def test_the_table_covers_every_status_of_the_issue() -> None:
    assert {413, 415, 400, 422} <= {c[4] for c in BAD}
    assert all(ERROR_CODES[c[5]] == c[4] for c in BAD)
    assert len(png_bomb()) < 100_000  # "a few KB compressed"


def check_error(status: int, body: dict, want_status: int, want_code: str) -> None:
    assert (status, body["error"]["code"]) == (want_status, want_code), body
    assert body["success"] is False and body["error"]["message"]


def check_recognize(body: dict, shape: list[int]) -> None:
    assert set(body) >= {"original_image_shape", "success", "text", "class", "score", "time", "plates", "timings_ms"}
    assert body["original_image_shape"] == shape
    assert body["text"] == "沪A2" and body["success"] is True and body["class"] == "single_row"  # the tiny OCR's text
    assert 0 <= body["score"] <= 1 and body["time"] > 0
    (plate,) = body["plates"]
    assert plate["text"] == body["text"] and len(plate["corners"]) == 4 and plate["quad_ok"] is True
    assert set(body["timings_ms"]) == {"read", "queue", "decode", "corners", "rectify", "ocr", "total"}


# --- in process ---------------------------------------------------------------------------


def test_the_detectors_second_look_is_a_setting(model_dir: Path, tmp_path: Path) -> None:
    from edgevision.serve.engine import Engine

    det = _pose_detector(tmp_path)
    assert Engine(tiny_config(model_dir, detector=det, warmup=False)).reader.refine is True  # PlateReader's default
    assert Engine(tiny_config(model_dir, detector=det, warmup=False, refine=False)).reader.refine is False
    with pytest.raises(TypeError, match="refine: expected True or False"):
        tiny_config(model_dir, detector=det, refine="no")


def test_the_slant_correction_is_a_setting(model_dir: Path, tmp_path: Path) -> None:
    from edgevision.serve.engine import Engine

    det = _pose_detector(tmp_path)
    assert Engine(tiny_config(model_dir, detector=det, warmup=False)).reader.deskew is True  # PlateReader's default
    assert Engine(tiny_config(model_dir, detector=det, warmup=False, deskew=False)).reader.deskew is False
    with pytest.raises(TypeError, match="deskew: expected True or False"):
        tiny_config(model_dir, detector=det, deskew=1)


def test_the_ocr_verified_rescue_follows_the_readers_default(model_dir: Path, tmp_path: Path) -> None:
    """ServeConfig(rescue="auto") (the default) is the reader's own: RESCUE_CONF with a detector and its second
    look, None without the second look; a number or None is passed on; a number where there is no second
    look, or anything else, is refused, named."""
    from edgevision.errors import InvalidArgumentError
    from edgevision.plates import RESCUE_CONF
    from edgevision.serve.engine import Engine

    det = _pose_detector(tmp_path)
    assert tiny_config(model_dir, detector=det, warmup=False).rescue == "auto"
    assert Engine(tiny_config(model_dir, detector=det, warmup=False)).reader.rescue == RESCUE_CONF
    assert Engine(tiny_config(model_dir, detector=det, warmup=False, rescue=None)).reader.rescue is None
    assert Engine(tiny_config(model_dir, detector=det, warmup=False, rescue=0.95)).reader.rescue == 0.95
    assert Engine(tiny_config(model_dir, detector=det, refine=False, warmup=False)).reader.rescue is None
    assert tiny_config(model_dir, detector=det, rescue=0.9).replace(rescue="auto", refine=False).rescue == "auto"
    for bad in (1.5, -0.1, True, "0.9"):
        with pytest.raises(InvalidArgumentError, match="rescue: expected 'auto', None or an OCR confidence"):
            tiny_config(model_dir, detector=det, rescue=bad)
    with pytest.raises(InvalidArgumentError, match="rescue: it keeps plates the detector's second look"):
        tiny_config(model_dir, detector=det, refine=False, rescue=0.9)


@pytest.fixture(scope="module")
def client(model_dir: Path) -> Any:
    with TestClient(create_app(tiny_config(model_dir)), raise_server_exceptions=True) as c:
        yield c


def test_recognize_with_a_detector_answers_every_plate(model_dir: Path, tmp_path: Path) -> None:
    det = _pose_detector(tmp_path)  # two plates on any image, scores 0.9 and 0.6
    with pytest.raises(edgevision.InvalidArgumentError, match="corners, detector: give one of them"):
        tiny_config(model_dir, detector=det, corners=str(model_dir / "kp.onnx"))
    cfg = tiny_config(model_dir, detector=det, refine=False)
    with TestClient(create_app(cfg)) as c:
        jpeg = SAMPLE.read_bytes()
        body = c.post("/recognize", content=jpeg, headers={"Content-Type": "image/jpeg"}).json()
        assert body["success"] is True and body["text"] == "沪A2" and body["class"] == "single_row"
        assert [p["score"] for p in body["plates"]] == pytest.approx([0.9, 0.6])
        assert all(p["text"] == "沪A2" and len(p["corners"]) == 4 for p in body["plates"])
        assert set(body["timings_ms"]) == {"read", "queue", "decode", "detect", "rectify", "ocr", "total"}
        pipeline = c.get("/models").json()["pipeline"]
        assert pipeline["detector"] == "det" and "corners" not in pipeline
    cfg = tiny_config(model_dir, detector=_pose_detector(tmp_path, conf_threshold=0.99), refine=False)
    with TestClient(create_app(cfg)) as c:  # a threshold no plate passes: an empty answer, not an error
        body = c.post("/recognize", content=SAMPLE.read_bytes(), headers={"Content-Type": "image/jpeg"}).json()
        assert body["success"] is False and body["plates"] == [] and body["text"] == "" and body["score"] == 0.0


def test_endpoints_in_process(client: TestClient) -> None:
    jpeg = SAMPLE.read_bytes()
    shape = list(cv2.imread(str(SAMPLE)).shape)
    r = client.post("/recognize", content=jpeg, headers={"Content-Type": "image/jpeg"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    check_recognize(r.json(), shape)
    body, ctype = multipart("image", jpeg)
    r = client.post("/recognize", content=body, headers={"Content-Type": ctype})
    check_recognize(r.json(), shape)
    r = client.post("/recognize", files={"file": ("x.jpg", jpeg, "image/jpeg")})  # the other accepted field
    check_recognize(r.json(), shape)

    for ext in (".png", ".bmp", ".webp"):  # the format comes from the bytes
        r = client.post("/predict/cls", content=encode(ext), headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 200, r.json()
        j = r.json()
        assert j["model"] == "cls" and j["task"] == "classification" and j["original_image_shape"] == [60, 90, 3]
        assert j["result"]["type"] == "classification" and j["result"]["labels"][0] in list("abcdefghij")
        assert set(j["timings_ms"]) == {"read", "queue", "decode", "preprocess", "infer", "postprocess", "total"}
    r = client.post("/predict/kp", content=jpeg, headers={"Content-Type": "image/jpeg"})  # pipeline models too
    assert r.json()["result"]["type"] == "keypoints" and len(r.json()["result"]["keypoints"]) == 4

    h = client.get("/health").json()
    assert h["status"] == "ok" and h["ready"] is True and sorted(h["models"]) == ["cls", "kp", "ocr"]
    assert h["queue"] == {"queued": 0, "capacity": 4} and h["workers"] == 2

    m = client.get("/models").json()
    assert m["pipeline"] == {"name": "plate", "endpoint": "/recognize", "corners": "kp", "ocr": "ocr"}
    by_name = {x["name"]: x for x in m["models"]}
    assert by_name["cls"]["task"] == "classification" and by_name["cls"]["metadata"]["labels"][0] == "a"
    assert by_name["kp"]["inputs"][0]["name"] == "images" and by_name["ocr"]["metadata"]["task"] == "slots_ocr"

    doc = client.get("/openapi.json").json()
    assert {"/recognize", "/predict/{model}", "/health", "/models", "/metrics"} <= set(doc["paths"])
    assert "multipart/form-data" in doc["paths"]["/recognize"]["post"]["requestBody"]["content"]
    assert client.get("/docs").status_code == 200

    text = client.get("/metrics").text
    assert 'edgevision_http_requests_total{endpoint="/recognize",status="200"} 3.0' in text
    assert 'edgevision_stage_duration_seconds_count{model="plate",stage="ocr"} 3.0' in text
    assert 'edgevision_stage_duration_seconds_count{model="cls",stage="infer"} 3.0' in text
    assert "edgevision_queue_depth 0.0" in text and "process_resident_memory_bytes" in text


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_input_in_process(client: TestClient, case: tuple) -> None:
    _, path, headers, body, status, code = case
    r = client.post(path, content=body, headers=headers)
    check_error(r.status_code, r.json(), status, code)
    assert client.post("/predict/cls", content=encode(".png"), headers={"Content-Type": "image/png"}).status_code == 200


def test_pixel_limit_is_checked_from_the_header(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*a: Any) -> None:
        raise AssertionError("cv2.imdecode was called")

    with TestClient(create_app(tiny_config(model_dir, max_body_mb=5.0, warmup=False))) as c:
        monkeypatch.setattr(cv2, "imdecode", never)
        bmp = encode(".bmp", 1000, 1100)  # 3.3 MB, under the body limit here
        r = c.post("/predict/cls", content=bmp, headers={"Content-Type": "image/bmp"})
        check_error(r.status_code, r.json(), 413, "image_too_large")
        r = c.post("/recognize", content=png_bomb(), headers={"Content-Type": "image/png"})
        check_error(r.status_code, r.json(), 413, "image_too_large")
        assert "20000x20000" in r.json()["error"]["message"]


def test_method_not_allowed_and_invalid_model_name(client: TestClient) -> None:
    r = client.delete("/health")
    check_error(r.status_code, r.json(), 405, "method_not_allowed")
    r = client.get("/recognize")
    check_error(r.status_code, r.json(), 405, "method_not_allowed")


def _asgi_post(app: Any, path: str, content_type: bytes, chunks: list[bytes]) -> tuple[int, dict, int]:
    """POST ``chunks`` straight through the ASGI interface, without Content-Length;
    returns (status, JSON body, chunks the app pulled)."""
    pulled = 0

    async def receive() -> dict:
        nonlocal pulled
        if pulled < len(chunks):
            pulled += 1
            return {"type": "http.request", "body": chunks[pulled - 1], "more_body": pulled < len(chunks)}
        return {"type": "http.disconnect"}

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"content-type", content_type)], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    asyncio.run(app(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], json.loads(body), pulled


def test_body_size_is_checked_while_streaming(client: TestClient) -> None:
    chunk = 64 * 1024
    chunks = [b"\xff\xd8\xff" + b"\x00" * (chunk - 3)] + [b"\x00" * chunk] * 40  # 2.7 MB, limit 200 KB
    limit_chunks = int(MAX_BODY_MB * 1e6) // chunk + 1
    status, body, pulled = _asgi_post(client.app, "/recognize", b"image/jpeg", chunks)
    check_error(status, body, 413, "body_too_large")
    assert pulled == limit_chunks  # stopped at the first chunk past the limit, not after buffering all 41
    head, ctype = multipart("image", b"\xff\xd8\xff" + b"\x00" * (40 * chunk))
    parts = [head[i:i + chunk] for i in range(0, len(head), chunk)]
    status, body, pulled = _asgi_post(client.app, "/recognize", ctype.encode(), parts)
    check_error(status, body, 413, "body_too_large")
    assert pulled == limit_chunks


def test_a_full_queue_answers_503_with_retry_after(model_dir: Path) -> None:
    app = create_app(tiny_config(model_dir, workers=1, queue=1, warmup=False))
    engine = app.state.engine
    release = threading.Event()
    real = engine.predict

    def blocked(name: str, data: bytes) -> Any:
        assert release.wait(DEADLINE_S)
        return real(name, data)

    engine.predict = blocked
    png = encode(".png")
    with TestClient(app) as c:
        answers: list[Any] = []

        def post() -> None:
            answers.append(c.post("/predict/cls", content=png, headers={"Content-Type": "image/png"}))

        threads = [threading.Thread(target=post) for _ in range(2)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + DEADLINE_S
        while (engine.admission.running, engine.admission.queued) != (1, 1):  # one runs, one waits
            assert time.monotonic() < deadline, "the two requests never got in"
            time.sleep(0.005)
        r = c.post("/predict/cls", content=png, headers={"Content-Type": "image/png"})
        check_error(r.status_code, r.json(), 503, "overloaded")
        assert int(r.headers["Retry-After"]) >= 1
        assert "edgevision_queue_depth 1.0" in c.get("/metrics").text
        release.set()
        for t in threads:
            t.join(DEADLINE_S)
        assert sorted(a.status_code for a in answers) == [200, 200]


# --- a real uvicorn on a loopback port ----------------------------------------------------------


class Server(ServerProcess):
    """``python -m edgevision serve ARGS --port 0`` in a subprocess on 127.0.0.1; JSON answers parsed."""

    def __init__(self, *args: str) -> None:
        env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
        super().__init__(list(args), time.monotonic() + DEADLINE_S, env)

    def request(self, method: str, path: str, body: bytes | None = None,  # type: ignore[override]
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
        status, head, data = super().request(method, path, body, headers)
        return status, head, json.loads(data) if head.get("content-type", "").startswith("application/json") else data


@pytest.fixture(scope="module")
def server(model_dir: Path) -> Any:
    s = Server("--pipeline", "plate", "--corners", str(model_dir / "kp.onnx"), "--ocr", str(model_dir / "ocr.onnx"), "--model",
               str(model_dir / "cls.onnx"), "--workers", "2", "--threads", "1", "--queue", "4",
               "--max-body-mb", str(MAX_BODY_MB), "--max-pixels", str(MAX_PIXELS))
    yield s
    assert s.stop() == 0


def test_endpoints_over_http(server: Server) -> None:
    jpeg = SAMPLE.read_bytes()
    status, _, body = server.request("POST", "/recognize", jpeg, {"Content-Type": "image/jpeg"})
    assert status == 200
    check_recognize(body, list(cv2.imread(str(SAMPLE)).shape))
    mp, ctype = multipart("image", jpeg)
    status, _, body = server.request("POST", "/predict/cls", mp, {"Content-Type": ctype})
    assert status == 200 and body["result"]["type"] == "classification"
    status, _, body = server.request("GET", "/health")
    assert status == 200 and body["ready"] is True
    status, _, body = server.request("GET", "/models")
    assert status == 200 and {m["name"] for m in body["models"]} == {"kp", "ocr", "cls"}
    status, headers, text = server.request("GET", "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    assert b'edgevision_http_requests_total{endpoint="/recognize",status="200"}' in text
    status, _, body = server.request("GET", "/openapi.json")
    assert status == 200 and "/recognize" in body["paths"]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_input_over_http(server: Server, case: tuple) -> None:
    _, path, headers, body, status, code = case
    got, _, answer = server.request("POST", path, body, headers)
    check_error(got, answer, status, code)


def test_the_server_survives_the_table_and_counts_it(server: Server) -> None:
    status, _, _ = server.request("POST", "/predict/cls", encode(".png"), {"Content-Type": "image/png"})
    assert status == 200 and server.proc.poll() is None
    _, _, text = server.request("GET", "/metrics")
    assert b'edgevision_http_errors_total{code="image_too_large"}' in text
    assert b'status="500"' not in text


def test_sigterm_lets_the_request_in_flight_finish(tmp_path: Path) -> None:
    slow = models.save(slow_model(3000), tmp_path / "slow.onnx")  # about a second here
    s = Server("--model", slow, "--workers", "1", "--threads", "1")
    answers: list[Any] = []
    t = threading.Thread(target=lambda: answers.append(
        s.request("POST", "/predict/slow", encode(".png"), {"Content-Type": "image/png"})))
    t.start()
    deadline = time.monotonic() + DEADLINE_S
    while b"edgevision_inferences_in_flight 1.0" not in s.request("GET", "/metrics")[2]:
        assert time.monotonic() < deadline and t.is_alive(), "the slow request never started"
        time.sleep(0.01)
    assert s.stop() == 0  # SIGTERM; returns when the process has exited
    t.join(DEADLINE_S)
    (status, _, body), = answers
    assert status == 200 and body["model"] == "slow" and len(body["result"]["outputs"]["out"]) == 256


# --- configuration, command line, imports -------------------------------------------------------


@pytest.mark.parametrize("kw,match", [
    ({"pipeline": "captcha"}, "pipeline: expected one of"), ({"pipeline": None}, "models: nothing to serve"),
    ({"models": "a.onnx"}, "models: expected a list"), ({"port": 70000}, "port: expected 0..65535"),
    ({"workers": 0}, "workers: expected an integer >= 1"), ({"queue": -1}, "queue: expected an integer >= 0"),
    ({"max_body_mb": 0}, "max_body_mb: expected a finite number > 0"), ({"max_pixels": 1.5}, "max_pixels: expected an integer"),
    ({"threads": True}, "threads: expected an integer"),
])
def test_config_errors_name_the_setting(kw: dict, match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        ServeConfig(**kw)


def test_config_defaults() -> None:
    c = ServeConfig(models=[Path("a.onnx")], pipeline=None)
    assert c.models == ("a.onnx",) and c.max_body_bytes == 20_000_000 and c.host == "127.0.0.1"
    assert 1 <= c.worker_count <= 4 and c.thread_count >= 1 and c.replace(queue=0).queue == 0
    # The plate pipeline reads with the bundled detector unless given another, or a corner model.
    assert c.plate_detector is None  # no plate pipeline
    assert ServeConfig().plate_detector == "plate_pose_int8.onnx" and ServeConfig().corners is None
    assert ServeConfig(detector="d.onnx").plate_detector == "d.onnx"
    assert ServeConfig(corners="lpl_resnet_int8.onnx").plate_detector is None


def test_two_models_under_one_name_are_refused(model_dir: Path, tmp_path: Path) -> None:
    import shutil

    other = tmp_path / "cls.onnx"
    shutil.copy(model_dir / "cls.onnx", other)
    with pytest.raises(ValueError, match="two models would be served as 'cls'"):
        create_app(tiny_config(model_dir, models=(str(model_dir / "cls.onnx"), str(other)), warmup=False))


def test_serve_command_errors(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "edgevision", "serve", *args], capture_output=True, text=True,
                              timeout=DEADLINE_S, env={**os.environ, "PYTHONWARNINGS": "ignore"})

    r = run("--model", str(tmp_path / "absent.onnx"))
    assert r.returncode == 2 and "edgevision serve: error: model:" in r.stderr and "Traceback" not in r.stderr
    r = run("--port", "70000")
    assert r.returncode == 2 and "expected a port 0..65535" in r.stderr
    r = run("--max-body-mb", "-1")
    assert r.returncode == 2 and "expected a finite number > 0" in r.stderr


def test_importing_the_service_package_needs_no_web_framework() -> None:
    code = ("import sys; import edgevision.serve, edgevision.cli; from edgevision.serve import ServeConfig; "
            "print(sorted(m for m in ('fastapi', 'starlette', 'uvicorn', 'prometheus_client', 'onnxruntime') "
            "if m in sys.modules))")
    r = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=DEADLINE_S)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_without_the_extra_serve_says_what_to_install() -> None:
    code = ("import sys; sys.modules['fastapi'] = None\n"
            "from edgevision.errors import MissingDependencyError\n"
            "try:\n    from edgevision.serve import create_app\nexcept MissingDependencyError as e:\n    print(e)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=DEADLINE_S)
    assert r.returncode == 0, r.stderr
    assert "pip install 'edgevision[serve]'" in r.stdout


def test_the_listening_socket_is_tcp_so_connections_get_nodelay() -> None:
    import socket

    from edgevision.serve.app import _listening_socket

    sock = _listening_socket("127.0.0.1", 0)
    try:  # asyncio sets TCP_NODELAY on accepted connections only for IPPROTO_TCP listeners
        assert sock.proto == socket.IPPROTO_TCP
        port = sock.getsockname()[1]
        with pytest.raises(Exception, match=f"host/port: cannot listen on 127.0.0.1:{port}"):
            _listening_socket("127.0.0.1", port)  # already taken
    finally:
        sock.close()


def test_the_container_healthcheck(server: Server, tmp_path: Path) -> None:
    from edgevision.serve.healthcheck import check

    assert check(f"http://127.0.0.1:{server.port}/health") == (True, f"http://127.0.0.1:{server.port}/health: ok")
    ok, why = check(f"http://127.0.0.1:{server.port}/nope")
    assert not ok and "HTTP 404" in why
    ok, why = check(f"http://127.0.0.1:{server.port}/metrics")
    assert not ok and "/metrics" in why
    ok, why = check("http://127.0.0.1:1/health", timeout_s=5)  # nothing listens there
    assert not ok and "127.0.0.1:1/health" in why
    r = subprocess.run([sys.executable, "-m", "edgevision.serve.healthcheck", f"http://127.0.0.1:{server.port}/health"],
                       capture_output=True, text=True, timeout=DEADLINE_S)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok")


def test_warm_up_ignores_the_pixel_limit_and_health_reports_draining(model_dir: Path) -> None:
    from types import SimpleNamespace

    app = create_app(tiny_config(model_dir, max_pixels=100))  # smaller than every sample scene
    assert app.state.engine.warmup_s > 0
    with TestClient(app) as c:
        assert c.get("/health").json()["ready"] is True
        app.state.server = SimpleNamespace(should_exit=True)  # what uvicorn sets on SIGTERM
        r = c.get("/health")
        assert r.status_code == 503 and r.json()["status"] == "draining" and r.json()["ready"] is False


def test_non_finite_outputs_become_null(tmp_path: Path) -> None:
    m = models.constant_output_model("out", np.array([[np.nan, np.inf, 1.5]], np.float32))
    path = models.save(models.with_metadata(m, {"task": "raw", "preprocess": {"size": [32, 32], "mode": "stretch"}}),
                       tmp_path / "nan.onnx")
    with TestClient(create_app(ServeConfig(pipeline=None, models=(path,), threads=1, workers=1))) as c:
        r = c.post("/predict/nan", content=encode(".png"), headers={"Content-Type": "image/png"})
        assert r.status_code == 200 and r.json()["result"]["outputs"]["out"] == [None, None, 1.5]


def test_admission_counts_a_request_from_its_upload_on() -> None:
    from edgevision.serve.engine import Admission, Overloaded

    async def scenario() -> list[Any]:
        a = Admission(workers=1, queue=1)
        try:
            async with a.admit(), a.admit():  # two bodies being read: nothing runs yet
                assert (a.admitted, a.running, a.queued) == (2, 0, 2)
                with pytest.raises(Overloaded) as e:
                    async with a.admit():
                        pass
                assert 1 <= e.value.retry_after_s <= 60
                result, waited = await a.run(sum, [1, 2])
            assert (a.admitted, a.running) == (0, 0)
            return [result, waited]
        finally:
            a.close()

    result, waited = asyncio.run(scenario())
    assert result == 3 and waited >= 0


def test_admission_hands_back_errors_and_holds_a_worker_until_a_cancelled_call_returns() -> None:
    """A call whose request went away keeps its worker until it returns; a call's error reaches its request."""
    import threading

    from edgevision.serve.engine import Admission

    release = threading.Event()
    started = threading.Event()

    def slow() -> str:
        started.set()
        release.wait(10)
        return "done"

    def broken() -> None:
        raise ValueError("bad pixels")

    async def scenario() -> list[Any]:
        a = Admission(workers=1, queue=1)
        try:
            task = asyncio.ensure_future(a.run(slow))
            while not started.is_set():
                await asyncio.sleep(0.001)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            held = (a.running, a._slots.locked())  # the worker is still busy
            release.set()
            for _ in range(1000):  # the call returns on the worker, then frees it on the loop
                if a.running == 0:
                    break
                await asyncio.sleep(0.005)
            freed = (a.running, a._slots.locked())
            with pytest.raises(ValueError, match="bad pixels"):
                await a.run(broken)
            after_error = (a.running, a._slots.locked())
            result, _ = await a.run(str.upper, "ok")
            return [held, freed, after_error, result]
        finally:
            release.set()
            a.close()

    held, freed, after_error, result = asyncio.run(scenario())
    assert held == (1, True)
    assert freed == (0, False)
    assert after_error == (0, False)
    assert result == "OK"
