"""The referrals service's composition root."""

from __future__ import annotations

from fastapi import FastAPI

from services import asyncapi
from services.referrals import store
from services.referrals.api import ROUTERS
from services.referrals.domain import DuplicatePolicy
from services.referrals.handlers import CONSUMERS
from services.referrals.pages import add_pages
from services.referrals.places import Places
from services.referrals.users import ActiveUsers, ensure_demo_users
from shared.runtime import build_runtime
from shared.settings import Settings
from shared.web import add_common

MIGRATIONS = store.MIGRATIONS
DEMO_GROUP_ORGANISATION = "org-welling-community-hall"  # in the demo directory


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = build_runtime(settings, store.SERVICE, store.outbox, MIGRATIONS)
    runtime.add_consumers(CONSUMERS, store.processed_events)
    if settings.load_demo_data:
        with runtime.sessions.begin() as session:
            ensure_demo_users(session, DEMO_GROUP_ORGANISATION)
    app = FastAPI(
        docs_url=None,  # shared/docs.py serves /docs without a CDN
        redoc_url=None,
        title="Referrals",
        description="GP practices refer people to social prescribing; link workers connect "
        "them to community groups and record what happened.",
        version="1.0.0",
    )
    add_common(app, store.SERVICE, settings.max_request_bytes)
    app.state.user_check = ActiveUsers(runtime.read_sessions)
    app.state.places = Places.load()
    add_pages(app)  # before the API: pages share paths with it (see pages.py)
    app.state.duplicate_policy = DuplicatePolicy(
        window_days=settings.referrals_duplicate_window_days,
        needs_similarity=settings.referrals_duplicate_needs_similarity,
        name_similarity=settings.referrals_duplicate_name_similarity,
    )
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(asyncapi.router)
    runtime.attach(app)
    return app
