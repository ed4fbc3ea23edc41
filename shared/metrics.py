"""Prometheus metrics every service exposes at ``/metrics``, and the HTTP middleware.

The metric objects live in the process-wide registry; in embedded mode the three
services share one process, so every series carries a ``service`` or ``group`` label.
"""

from __future__ import annotations

import time

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

__all__ = [
    "CONSUMER_LAG",
    "EVENTS_CONSUMED",
    "EVENTS_DEAD_LETTERED",
    "EVENTS_FAILED",
    "EVENTS_IGNORED",
    "EVENTS_PRODUCED",
    "EVENTS_REDELIVERED",
    "HANDLER_DURATION",
    "HTTP_DURATION",
    "HTTP_REQUESTS",
    "OUTBOX_BACKLOG",
    "instrument",
]

HTTP_REQUESTS = Counter(
    "http_requests", "HTTP requests answered.", ["service", "method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "http_request_duration_seconds", "Time to answer an HTTP request.", ["service", "route"]
)
EVENTS_PRODUCED = Counter(
    "events_produced", "Events published by the outbox relay.", ["service", "topic", "type"]
)
EVENTS_CONSUMED = Counter("events_consumed", "Events handled.", ["group", "type"])
EVENTS_FAILED = Counter("events_failed", "Handler attempts that failed.", ["group", "type"])
EVENTS_REDELIVERED = Counter(
    "events_redelivered",
    "Deliveries of an event this group had already processed (no second effect).",
    ["group", "type"],
)
EVENTS_IGNORED = Counter(
    "events_ignored", "Events a group's registry says it does not need.", ["group", "type"]
)
EVENTS_DEAD_LETTERED = Counter(
    "events_dead_lettered", "Messages sent to the dead-letter topic.", ["group", "type"]
)
HANDLER_DURATION = Histogram(
    "event_handler_duration_seconds", "Time to handle one event.", ["group", "type"]
)
CONSUMER_LAG = Gauge("consumer_lag", "Messages not yet committed.", ["group", "topic"])
OUTBOX_BACKLOG = Gauge("outbox_backlog", "Events written but not yet published.", ["service"])


class _Measure:
    """ASGI middleware counting and timing every request by its route template. Plain
    ASGI rather than ``@app.middleware("http")``: Starlette's BaseHTTPMiddleware runs
    each request in a task group with memory streams, which cost more CPU than many of
    the handlers it measured."""

    def __init__(self, app, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            HTTP_REQUESTS.labels(self.service, scope["method"], path, str(status)).inc()
            HTTP_DURATION.labels(self.service, path).observe(time.perf_counter() - started)


def instrument(app: FastAPI, service: str) -> None:
    """Count and time every request by its route template, and serve ``/metrics``."""
    app.add_middleware(_Measure, service=service)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
