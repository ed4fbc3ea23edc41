"""Prometheus metrics every service exposes at ``/metrics``, and the HTTP middleware.

The metric objects live in the process-wide registry; in embedded mode the three
services share one process, so every series carries a ``service`` or ``group`` label.
"""

from __future__ import annotations

import time

from fastapi import FastAPI, Request, Response
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


def instrument(app: FastAPI, service: str) -> None:
    """Count and time every request by its route template, and serve ``/metrics``."""

    @app.middleware("http")
    async def _measure(request: Request, call_next):
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = request.scope.get("route")
            path = getattr(route, "path", "unmatched")
            HTTP_REQUESTS.labels(service, request.method, path, str(status)).inc()
            HTTP_DURATION.labels(service, path).observe(time.perf_counter() - started)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
