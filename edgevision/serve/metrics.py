"""Prometheus metrics of ``edgevision serve`` (``GET /metrics``), on prometheus_client with one registry per app.

Series (every duration in seconds):

- ``edgevision_http_requests_total{endpoint, status}``: answers by route template and HTTP status.
- ``edgevision_http_errors_total{code}``: error answers by their stable JSON error code.
- ``edgevision_http_request_duration_seconds{endpoint}``: histogram, first byte read to last byte sent.
- ``edgevision_stage_duration_seconds{model, stage}``: histogram per stage: ``read`` (the body),
  ``queue`` (waiting for a worker), ``decode``, then ``corners``/``rectify``/``ocr`` (``model="plate"``)
  or ``preprocess``/``infer``/``postprocess`` (a served model's name).
- ``edgevision_queue_depth`` (admitted requests not on a worker: uploading or waiting), ``edgevision_inferences_in_flight``,
  ``edgevision_queue_capacity``, ``edgevision_workers``.
- ``process_*``: the server process's RSS, CPU time and open files (prometheus_client's process collector).
"""

from __future__ import annotations

from typing import Any

#: Histogram buckets, seconds (0.5 ms .. 10 s).
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The metric families of one app (see the module docs); ``admission`` feeds the queue gauges."""

    def __init__(self, admission: Any) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

        self.registry = r = CollectorRegistry()
        ProcessCollector(registry=r)
        self.requests = Counter("edgevision_http_requests", "HTTP answers by endpoint and status",
                                ["endpoint", "status"], registry=r)
        self.errors = Counter("edgevision_http_errors", "Error answers by stable error code", ["code"], registry=r)
        self.latency = Histogram("edgevision_http_request_duration_seconds", "Request duration, by endpoint",
                                 ["endpoint"], buckets=BUCKETS, registry=r)
        self.stages = Histogram("edgevision_stage_duration_seconds", "Duration of each stage of a request",
                                ["model", "stage"], buckets=BUCKETS, registry=r)
        Gauge("edgevision_queue_depth", "Admitted requests not on a worker (uploading or waiting)",
              registry=r).set_function(lambda: admission.queued)
        Gauge("edgevision_inferences_in_flight", "Requests being decoded or inferred on a worker",
              registry=r).set_function(lambda: admission.running)
        Gauge("edgevision_queue_capacity", "Requests admitted beyond the workers", registry=r).set(admission.capacity)
        Gauge("edgevision_workers", "Inference workers (calls run at once)", registry=r).set(admission.workers)

        self._children: dict[tuple, Any] = {}  # labelled series, looked up once (labels() takes a lock)

    def _child(self, family: Any, *labels: str) -> Any:
        key = (id(family), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = family.labels(*labels)
        return child

    def request(self, endpoint: str, status: int, seconds: float) -> None:
        self._child(self.requests, endpoint, str(status)).inc()
        self._child(self.latency, endpoint).observe(seconds)

    def error(self, code: str) -> None:
        self._child(self.errors, code).inc()

    def stage_times(self, model: str, times: dict[str, float]) -> None:
        for stage, seconds in times.items():
            self._child(self.stages, model, stage).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        """``(body, content type)`` in the Prometheus text exposition format."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


__all__ = ["Metrics", "BUCKETS"]
