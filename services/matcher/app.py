"""The matcher service's composition root: replica consumer, proposal consumer, and a
small HTTP surface for health, metrics and the replica's state."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request

from services import asyncapi
from services.matcher import store
from services.matcher.handlers import CONSUMERS
from services.matcher.ranking import MatchIndex
from services.matcher.replica import LiveIndex
from services.matcher.vocabulary import Vocabulary
from shared.runtime import build_runtime
from shared.settings import Settings
from shared.web import add_common

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = build_runtime(settings, store.SERVICE, store.outbox, MIGRATIONS)
    snapshots = settings.data_dir / "matcher-index" / settings.instance_id
    live = LiveIndex(
        MatchIndex(Vocabulary.load_default()),
        snapshots if settings.matcher_snapshots else None,
    )
    runtime.add_consumers(CONSUMERS, store.processed_events, live=live, outbox=runtime.outbox)
    app = FastAPI(
        docs_url=None,  # shared/docs.py serves /docs without a CDN
        redoc_url=None,
        title="Matcher",
        description="Ranks directory services against a referral's needs.",
        version="1.0.0",
    )
    add_common(app, store.SERVICE)
    app.state.live_index = live

    @app.get("/replica", tags=["matcher"])
    def replica(request: Request) -> dict:
        with request.app.state.sessions() as session:
            live.refresh(session)
        return {"services": len(live.index)}

    app.include_router(asyncapi.router)
    runtime.attach(app)
    return app
