"""The directory service's composition root."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services import asyncapi
from services.directory import store
from services.directory.accounts import EndedSessions
from services.directory.api import router
from services.directory.api_exchange import router as exchange_router
from services.directory.api_freshness import router as freshness_router
from services.directory.api_openreferral import add_openreferral
from services.directory.api_places import router as places_router
from services.directory.api_reports import router as reports_router
from services.directory.demo import load_demo_if_empty
from services.directory.freshness import ReviewClock
from services.directory.handlers import CONSUMERS
from services.directory.import_jobs import ImportJobs
from services.directory.metrics import expose as expose_insight_metrics
from services.directory.pages import add_pages
from shared.runtime import build_runtime
from shared.settings import Settings
from shared.web import add_common

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = build_runtime(settings, store.SERVICE, store.outbox, MIGRATIONS)
    runtime.add_consumers(CONSUMERS, store.processed_events, outbox=runtime.outbox)
    clock = ReviewClock(runtime.sessions, runtime.outbox, settings.review_after_months)
    runtime.workers.add_loop("directory-reviews-due", clock.run_once)
    if settings.load_demo_data:
        load_demo_if_empty(runtime.sessions, runtime.outbox)
    app = FastAPI(
        docs_url=None,  # shared/docs.py serves /docs without a CDN
        redoc_url=None,
        title="Community directory",
        description="Voluntary, faith and sports groups' services, their capacity, and "
        "reports of demand and emerging needs.",
        version="1.0.0",
    )
    add_common(app, store.SERVICE)
    app.state.user_check = EndedSessions(runtime.sessions)  # deactivations end sessions here too
    app.include_router(router)
    app.include_router(reports_router)
    app.include_router(freshness_router)
    app.include_router(places_router)
    app.include_router(exchange_router)
    add_openreferral(app, settings.openreferral_rate_limit)
    add_pages(app)
    app.include_router(asyncapi.router)
    expose_insight_metrics(runtime.sessions, settings.small_number_threshold)
    runtime.attach(app)
    app.state.import_jobs = ImportJobs(runtime.sessions, runtime.outbox)
    return app
