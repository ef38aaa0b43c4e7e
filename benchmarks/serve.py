"""Load test of ``edgevision serve``: a real uvicorn on loopback, N concurrent clients, bounded in count and time.

    python -m benchmarks.serve [--requests 5000] [--concurrency 16] [--rounds 200] [--json PATH] [--markdown PATH]

1. Starts ``python -m edgevision serve --host 127.0.0.1 --port 0`` (the bundled plate
   pipeline, the detector's, unless ``--detector``/``--corners``/``--ocr`` say otherwise)
   and waits for ``/health``.
2. Concurrency 1: a service round-trip (``POST /recognize`` of the JPEG on one keep-alive
   connection, the JSON answer parsed) against the in-process ``PlateReader`` call on the
   same image, already decoded (the target's baseline), and on its path (``reader(path)``
   reads and decodes the file, as the service must), with the same ONNX Runtime threads;
   timed round-robin (``benchmarks._timing.measure_interleaved``).
3. ``--concurrency`` client threads, one keep-alive connection each, send ``--requests``
   requests of the bundled sample scenes in turn; p50/p99 latency, throughput, answers by
   status, and the server's RSS (``process_resident_memory_bytes`` of ``/metrics``) before
   and after.
4. SIGTERM; the server's exit status.

Issue 17's targets: no 5xx answer at concurrency 16 over 5,000 requests, RSS growth under
10% across them, and a round-trip at most 1.2x the in-process call at concurrency 1.
Nothing is asserted: the figures are printed (and written with --json/--markdown).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks._timing import environment, measure_interleaved, percentile

#: Issue 17's targets.
TARGET_RATIO = 1.2
TARGET_RSS_GROWTH = 0.10


@dataclass
class ServeBenchConfig:
    """What to run. ``time_limit_s`` bounds the whole run (server start included)."""

    requests: int = 5000
    concurrency: int = 16
    rounds: int = 200          # samples of each side at concurrency 1
    workers: int | None = None
    threads: int | None = None
    queue: int = 32
    detector: str | None = None   # None: the server's and PlateReader's default (the bundled detector)
    corners: str | None = None    # a corner model instead of the detector (seed 000's pipeline)
    ocr: str = "plate_ocr_int8.onnx"
    image: str | None = None   # default: the first bundled sample scene
    time_limit_s: float = 600.0

    def validate(self) -> "ServeBenchConfig":
        for name in ("requests", "concurrency", "rounds"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {getattr(self, name)!r}")
        if not self.time_limit_s > 0:
            raise ValueError(f"time_limit_s: expected seconds > 0, got {self.time_limit_s!r}")
        if self.detector is not None and self.corners is not None:
            raise ValueError("corners, detector: give one of them")
        return self

    @property
    def models(self) -> str:
        """The pipeline's models, as the tables name them."""
        from edgevision.plates import DEFAULT_DETECTOR

        return f"{self.corners or self.detector or DEFAULT_DETECTOR} + {self.ocr}"


class ServerProcess:
    """``python -m edgevision serve ... --port 0`` on 127.0.0.1, its port read from its first lines."""

    def __init__(self, args: list[str], deadline: float, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "edgevision", "serve", "--host", "127.0.0.1", "--port", "0",
                                      "--log-level", "warning", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.output: list[str] = []
        lines: queue.Queue = queue.Queue()

        def pump() -> None:
            for line in self.proc.stdout:  # type: ignore[union-attr]
                self.output.append(line)
                lines.put(line)
            lines.put(None)

        self._pump = threading.Thread(target=pump, daemon=True)
        self._pump.start()
        self.port = 0
        while not self.port and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                break
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
        if not self.port:
            self.stop()
            raise RuntimeError("the server did not start:\n" + "".join(self.output)[-3000:])
        while True:
            try:
                if self.get("/health")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the server never answered /health")
            time.sleep(0.05)

    def connect(self) -> http.client.HTTPConnection:
        """A connection with TCP_NODELAY, as curl and urllib3 set it (http.client sends a body apart
        from its headers, and Nagle's algorithm would hold the body's last segment for the server's
        delayed ACK: 40 ms)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """One request on a new connection: (status, headers with lower-case names, body)."""
        conn = self.connect()
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def get(self, path: str) -> tuple[int, bytes]:
        status, _, body = self.request("GET", path)
        return status, body

    def rss_mb(self) -> float:
        """The server's resident set size, MB (10^6 bytes), from its /metrics."""
        text = self.get("/metrics")[1].decode()
        m = re.search(r"^process_resident_memory_bytes (\S+)$", text, re.M)
        if m is None:
            raise RuntimeError("/metrics has no process_resident_memory_bytes")
        return float(m.group(1)) / 1e6

    def stop(self) -> int | None:
        """SIGTERM, then the exit status (the process is killed if it has not exited in 60 s)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(60)
            code = None
        self._pump.join(60)
        self.proc.stdout.close()  # type: ignore[union-attr]
        return code


def _post(conn: http.client.HTTPConnection, body: bytes) -> tuple[int, bytes]:
    conn.request("POST", "/recognize", body=body, headers={"Content-Type": "image/jpeg"})
    r = conn.getresponse()
    return r.status, r.read()


def _load(server: ServerProcess, bodies: list[bytes], requests: int, concurrency: int,
          deadline: float) -> dict[str, Any]:
    """``requests`` POSTs from ``concurrency`` threads (one keep-alive connection each), stopping at ``deadline``."""
    lock = threading.Lock()
    next_index = 0
    latencies: list[float] = []
    statuses: Counter = Counter()

    def client() -> None:
        nonlocal next_index
        conn = server.connect()
        try:
            while time.monotonic() < deadline:
                with lock:
                    i = next_index
                    next_index += 1
                if i >= requests:
                    return
                t0 = time.perf_counter()
                try:
                    status, _ = _post(conn, bodies[i % len(bodies)])
                    key: Any = status
                except (OSError, http.client.HTTPException) as e:
                    key = f"client error: {type(e).__name__}"
                    conn.close()
                    conn = server.connect()
                ms = (time.perf_counter() - t0) * 1e3
                with lock:
                    statuses[key] += 1
                    latencies.append(ms)
        finally:
            conn.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    done = sum(statuses.values())
    return {"requests": done, "complete": done == requests, "concurrency": concurrency, "wall_s": wall,
            "throughput_rps": done / wall, "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
            "statuses": {str(k): v for k, v in sorted(statuses.items(), key=str)},
            "server_errors_5xx": sum(v for k, v in statuses.items() if isinstance(k, int) and k >= 500),
            "client_errors": sum(v for k, v in statuses.items() if not isinstance(k, int))}


def run(config: ServeBenchConfig) -> dict[str, Any]:
    """Runs the benchmark (see the module docs) and returns every figure."""
    import cv2
    import numpy as np

    import edgevision
    from edgevision.samples import scene_items

    config.validate()
    deadline = time.monotonic() + config.time_limit_s
    scenes = [p for p, _ in scene_items()[1]]
    image_path = Path(config.image) if config.image else scenes[0]
    jpeg = image_path.read_bytes()
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"image: {image_path}: not a decodable image")
    first = ["--corners", config.corners] if config.corners else ["--detector", config.detector] if config.detector else []
    args = ["--pipeline", "plate", *first, "--ocr", config.ocr, "--queue", str(config.queue)]
    if config.workers:
        args += ["--workers", str(config.workers)]
    if config.threads:
        args += ["--threads", str(config.threads)]
    server = ServerProcess(args, deadline)
    try:
        health = json.loads(server.get("/health")[1])
        threads = config.threads or max(1, (os.cpu_count() or 1) // health["workers"])
        reader = edgevision.PlateReader(config.corners, config.ocr, threads=threads,
                                        **({"detector": config.detector} if config.detector else {}))
        conn = server.connect()

        def round_trip() -> None:
            status, body = _post(conn, jpeg)
            if status != 200:
                raise RuntimeError(f"POST /recognize answered {status}: {body[:300]!r}")
            json.loads(body)

        stats = measure_interleaved({
            "in-process PlateReader": lambda: reader(img),
            "in-process PlateReader(path)": lambda: reader(str(image_path)),
            "service round-trip": round_trip,
        }, rounds=10, warmup=5, min_samples=config.rounds, min_time_s=1.0)
        conn.close()
        base, from_file, service = (stats[k] for k in ("in-process PlateReader", "in-process PlateReader(path)",
                                                       "service round-trip"))
        single = {"image": str(image_path), "image_shape": list(img.shape), "image_bytes": len(jpeg),
                  "in_process_p50_ms": base.median, "in_process_p90_ms": base.p90,
                  "in_process_from_file_p50_ms": from_file.median,
                  "service_p50_ms": service.median, "service_p90_ms": service.p90,
                  "ratio": service.median / base.median, "ratio_from_file": service.median / from_file.median,
                  "samples": len(service.samples_ms)}
        rss_start = server.rss_mb()
        load = _load(server, [p.read_bytes() for p in scenes], config.requests, config.concurrency, deadline)
        rss_end = server.rss_mb()
        load.update(rss_start_mb=rss_start, rss_end_mb=rss_end, rss_growth=(rss_end - rss_start) / rss_start)
    finally:
        exit_code = server.stop()
    env = environment()
    return {"environment": env, "config": asdict(config), "server": {"workers": health["workers"],
            "threads": threads, "queue": config.queue, "exit_code_after_sigterm": exit_code},
            "models": config.models, "concurrency_1": single, "load": load,
            "targets": {
                "no 5xx at concurrency 16 over 5,000 requests": load["server_errors_5xx"] == 0 and load["complete"]
                and load["client_errors"] == 0,
                "RSS growth under 10%": load["rss_growth"] < TARGET_RSS_GROWTH,
                "round-trip at most 1.2x the in-process call": single["ratio"] <= TARGET_RATIO}}


def markdown(res: dict[str, Any]) -> str:
    env, s, ld = res["environment"], res["concurrency_1"], res["load"]
    t = res["targets"]
    ok = {True: "met", False: "NOT MET"}
    return "\n".join([
        f"`python -m benchmarks.serve` ({env['date']}, {env['cpu']}, {env['cores']} cores, onnxruntime "
        f"{env['onnxruntime']}; server: {res['server']['workers']} workers x {res['server']['threads']} thread(s), "
        f"queue {res['server']['queue']}; models {res['models']}):",
        "",
        "| measure | measured | target | |",
        "|---|---|---|---|",
        f"| concurrency 1: service round-trip p50 / in-process `PlateReader` p50 ({s['image_shape'][1]}x"
        f"{s['image_shape'][0]} JPEG, {s['image_bytes']:,} bytes) | **{s['ratio']:.2f}x** ({s['service_p50_ms']:.2f} vs "
        f"{s['in_process_p50_ms']:.2f} ms on the decoded image; {s['ratio_from_file']:.2f}x against "
        f"`reader(path)`, which reads and decodes the file too: {s['in_process_from_file_p50_ms']:.2f} ms) | "
        f"<= {TARGET_RATIO}x | "
        f"{ok[t['round-trip at most 1.2x the in-process call']]} |",
        f"| concurrency {ld['concurrency']}, {ld['requests']:,} requests: answers by status | "
        f"{', '.join(f'{k}: {v:,}' for k, v in ld['statuses'].items())} | no 5xx | "
        f"{ok[t['no 5xx at concurrency 16 over 5,000 requests']]} |",
        f"| server RSS before / after the load | {ld['rss_start_mb']:.1f} / {ld['rss_end_mb']:.1f} MB "
        f"(**{ld['rss_growth'] * 100:+.1f}%**) | < +10% | {ok[t['RSS growth under 10%']]} |",
        f"| latency p50 / p99 under load | {ld['p50_ms']:.1f} / {ld['p99_ms']:.1f} ms | | |",
        f"| throughput | {ld['throughput_rps']:.1f} requests/s ({ld['wall_s']:.1f} s) | | |",
        f"| exit status after SIGTERM | {res['server']['exit_code_after_sigterm']} | 0 | |",
    ])


def main(argv: list[str] | None = None) -> int:
    d = ServeBenchConfig()
    ap = argparse.ArgumentParser(prog="python -m benchmarks.serve", description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=d.requests, help=f"requests of the load phase (default {d.requests})")
    ap.add_argument("--concurrency", type=int, default=d.concurrency, help=f"client threads (default {d.concurrency})")
    ap.add_argument("--rounds", type=int, default=d.rounds, help=f"samples per side at concurrency 1 (default {d.rounds})")
    ap.add_argument("--workers", type=int, help="the server's --workers (default: its own)")
    ap.add_argument("--threads", type=int, help="ONNX Runtime threads per model, server and in-process alike")
    ap.add_argument("--queue", type=int, default=d.queue, help=f"the server's --queue (default {d.queue})")
    ap.add_argument("--detector", default=None, help="the plate detector (default: the bundled one)")
    ap.add_argument("--corners", default=None, help="a corner model instead of the detector (seed 000's pipeline)")
    ap.add_argument("--ocr", default=d.ocr)
    ap.add_argument("--image", help="the JPEG of the concurrency-1 comparison (default: the first sample scene)")
    ap.add_argument("--time-limit", type=float, default=d.time_limit_s, help="seconds for the whole run (default 600)")
    ap.add_argument("--json", metavar="PATH", help="write every figure as JSON")
    ap.add_argument("--markdown", metavar="PATH", help="write the table as Markdown")
    a = ap.parse_args(argv)
    config = ServeBenchConfig(requests=a.requests, concurrency=a.concurrency, rounds=a.rounds, workers=a.workers,
                              threads=a.threads, queue=a.queue, detector=a.detector, corners=a.corners, ocr=a.ocr,
                              image=a.image,
                              time_limit_s=a.time_limit)
    try:
        config.validate()
    except ValueError as e:
        ap.error(str(e))
    res = run(config)
    table = markdown(res)
    print(table)
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2, default=str), encoding="utf-8")
    if a.markdown:
        Path(a.markdown).write_text(table + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
