"""The Open Referral UK 3.0 API: the whole directory, public, under ``/openreferral/``.

No account is needed (the profile's openness rule); each client address is throttled
(``SP_OPENREFERRAL_RATE_LIMIT``, the ``limits`` library's moving window) and every answer,
errors included, carries ``Access-Control-Allow-Origin: *``; OPTIONS is answered for
browsers' preflight. The HSDS mapping itself is in ``openreferral.py``.
"""

from __future__ import annotations

import math
import time as clock
from dataclasses import dataclass
from datetime import date, time
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.directory import openreferral as hsds
from services.directory import store
from services.directory.domain import week_bounds
from services.referrals.places import Places
from shared.web import NotFound, Unprocessable

__all__ = ["add_openreferral"]

PREFIX = "/openreferral"
PROFILE_URL = "https://open-referral-uk-profile.readthedocs.io/en/latest/"
_DAYS = {
    "mo": "MO",
    "tu": "TU",
    "we": "WE",
    "th": "TH",
    "fr": "FR",
    "sa": "SA",
    "su": "SU",
}

_DAY_NAMES = {
    code: {short, code.lower(), full[:3], full}
    for short, code, full in (
        ("mo", "MO", "monday"),
        ("tu", "TU", "tuesday"),
        ("we", "WE", "wednesday"),
        ("th", "TH", "thursday"),
        ("fr", "FR", "friday"),
        ("sa", "SA", "saturday"),
        ("su", "SU", "sunday"),
    )
}

#: What the OpenAPI document lists for ``day`` (lower case and three letters work too).
_DAYS_DOCUMENTED = (
    *_DAY_NAMES,
    *(
        name.title()
        for name in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    ),
)
TIME_OF_DAY = hsds.TIME_OF_DAY


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after


class Throttle:
    """At most ``limit`` requests per client address in a moving window."""

    def __init__(self, limit: str) -> None:
        self.item = parse(limit)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def __call__(self, request: Request) -> None:
        client = request.client.host if request.client else "unknown"
        if not self.limiter.hit(self.item, "openreferral", client):
            reset, _remaining = self.limiter.get_window_stats(self.item, "openreferral", client)
            raise RateLimited(max(math.ceil(reset - clock.time()), 1))


def throttled(request: Request) -> None:
    request.app.state.openreferral_throttle(request)


router = APIRouter(prefix=PREFIX, tags=["open referral"], dependencies=[Depends(throttled)])


class OpenToAll:
    """``Access-Control-Allow-Origin: *`` on every Open Referral response; OPTIONS answered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            preflight = Response(
                status_code=204,
                headers={
                    "Access-Control-Allow-Origin": "*",
                    "Access-Control-Allow-Methods": "GET, OPTIONS",
                    "Access-Control-Allow-Headers": "*",
                    "Access-Control-Max-Age": "86400",
                    "Allow": "GET, OPTIONS",
                },
            )
            await preflight(scope, receive, send)
            return

        async def send_open(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() != b"access-control-allow-origin"
                ]
                headers.append((b"access-control-allow-origin", b"*"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_open)


def add_openreferral(app: FastAPI, rate_limit: str) -> None:
    """Register the routes, the open-to-all middleware and the throttle on ``app``."""
    app.state.openreferral_throttle = Throttle(rate_limit)
    app.state.places = Places.load()

    @app.exception_handler(RateLimited)
    async def _too_many(_request: Request, exc: RateLimited) -> JSONResponse:
        return JSONResponse(
            {"detail": "too many requests: slow down and try again shortly"},
            status_code=429,
            headers={"Retry-After": str(exc.retry_after)},
        )

    app.include_router(router)
    app.add_middleware(OpenToAll)


# ---- query parameters ---------------------------------------------------------------------

Page = Annotated[int, Query(ge=1, description="Page number, from 1.")]
PerPage = Annotated[int, Query(ge=1, le=1000, description="Results in one page.")]


@dataclass
class ServiceFilter:
    search: str | None = None
    taxonomy_term_id: str | None = None
    taxonomy_id: str | None = None
    minimum_age: float | None = None
    maximum_age: float | None = None
    day: str | None = None
    start_time: time | None = None
    end_time: time | None = None


def _day(value: str | None) -> str | None:
    if value is None:
        return None
    word = value.strip().lower()
    code = _DAYS.get(word[:2])
    if code is None or word not in _DAY_NAMES[code]:
        raise Unprocessable("day: a day of the week, e.g. MO or Monday", field="day")
    return code


def _time(value: str | None, name: str) -> time | None:
    if value is None:
        return None
    try:
        return hsds.time_of(value)
    except ValueError:
        raise Unprocessable(f"{name}: a time of day, HH:MM or HH:MM:SS", field=name) from None


def service_filter(
    search: Annotated[str | None, Query(max_length=200, description="Full text search.")] = None,
    taxonomy_term_id: Annotated[str | None, Query(max_length=100)] = None,
    taxonomy_id: Annotated[str | None, Query(max_length=100)] = None,
    minimum_age: Annotated[
        float | None, Query(description="Services whose minimum age is at least this.")
    ] = None,
    maximum_age: Annotated[
        float | None, Query(description="Services whose maximum age is at most this.")
    ] = None,
    day: Annotated[
        str | None,
        Query(
            max_length=20,
            description="MO..SU or a day's name (any case).",
            json_schema_extra={"enum": [*_DAYS_DOCUMENTED]},
        ),
    ] = None,
    start_time: Annotated[
        str | None,
        Query(
            max_length=40,
            description="Opening at or after HH:MM.",
            json_schema_extra={"pattern": TIME_OF_DAY},
        ),
    ] = None,
    end_time: Annotated[
        str | None,
        Query(
            max_length=40,
            description="Closing at or before HH:MM.",
            json_schema_extra={"pattern": TIME_OF_DAY},
        ),
    ] = None,
) -> ServiceFilter:
    for name, value in (("minimum_age", minimum_age), ("maximum_age", maximum_age)):
        if value is not None and not math.isfinite(value):
            raise Unprocessable(f"{name}: a number of years", field=name)
    return ServiceFilter(
        search=search.strip().lower() if search and search.strip() else None,
        taxonomy_term_id=taxonomy_term_id,
        taxonomy_id=taxonomy_id,
        minimum_age=minimum_age,
        maximum_age=maximum_age,
        day=_day(day),
        start_time=_time(start_time, "start_time"),
        end_time=_time(end_time, "end_time"),
    )


Filter = Annotated[ServiceFilter, Depends(service_filter)]


def _slot_fits(slot: dict, f: ServiceFilter) -> bool:
    if f.day and slot["weekday"] != f.day:
        return False
    if f.start_time and time.fromisoformat(slot["opens"]) < f.start_time:
        return False
    return not (f.end_time and time.fromisoformat(slot["closes"]) > f.end_time)


def _matches(row, org, f: ServiceFilter) -> bool:
    if f.search:
        text = " ".join(
            [row.name, row.description, org.name, *row.categories, *row.keywords]
        ).lower()
        if not all(word in text for word in f.search.split()):
            return False
    if f.taxonomy_term_id and f.taxonomy_term_id not in {hsds.term_id(c) for c in row.categories}:
        return False
    if f.taxonomy_id and (f.taxonomy_id != hsds.TAXONOMY_ID or not row.categories):
        return False
    if f.minimum_age is not None and (row.min_age or 0) < f.minimum_age:
        return False
    if f.maximum_age is not None and (row.max_age is None or row.max_age > f.maximum_age):
        return False
    if f.day or f.start_time or f.end_time:
        return any(_slot_fits(slot, f) for slot in row.regular_schedule or [])
    return True


# ---- reading the directory ----------------------------------------------------------------


def _organisations(session) -> dict:
    return {o.id: o for o in session.execute(select(store.organisations))}


def _live_services(session):
    s = store.services.c
    return session.execute(
        select(store.services).where(s.withdrawn.is_(False)).order_by(s.name, s.id)
    ).all()


def _one_service(session, service_id: str):
    s = store.services.c
    row = session.execute(
        select(store.services).where(
            (s.hsds_id == service_id) | (s.id == service_id), s.withdrawn.is_(False)
        )
    ).first()
    if row is None:
        raise NotFound(f"no service {service_id!r}")
    return row


def _capacity_context(request: Request, session, rows) -> tuple[dict[str, int], int]:
    monday, sunday = week_bounds(date.today())
    taken = store.places_taken_by_service(session, monday, sunday, [r.id for r in rows])
    return taken, request.app.state.settings.small_number_threshold


def _paged(items: list, page: int, per_page: int) -> dict:
    start = (page - 1) * per_page
    return hsds.page(items[start : start + per_page], len(items), page, per_page)


# ---- routes -------------------------------------------------------------------------------


@router.get("/", summary="About this API and its relationship with HSDS")
def about(request: Request) -> dict:
    base = str(request.base_url).rstrip("/")
    return {
        "version": "3.0",
        "profile": PROFILE_URL,
        "openapi_url": f"{base}{PREFIX}/openapi.json",
    }


@router.get("/openapi.json", include_in_schema=False)
def openapi_document(request: Request) -> dict:
    """This API alone, from the app's OpenAPI document."""
    document = request.app.openapi()
    paths = {p: v for p, v in document["paths"].items() if p.startswith(PREFIX)}
    return {**document, "paths": paths, "servers": [{"url": "/"}]}


@router.get("/services", summary="Services, one-to-one fields, paged")
def services(request: Request, f: Filter, page: Page = 1, per_page: PerPage = 50) -> dict:
    with request.app.state.sessions() as session:
        orgs = _organisations(session)
        rows = [r for r in _live_services(session) if _matches(r, orgs[r.organisation_id], f)]
        items = [hsds.service_summary(r, orgs[r.organisation_id]) for r in rows]
    return _paged(items, page, per_page)


@router.get("/services/{service_id}", summary="One service, fully nested")
def service(service_id: str, request: Request) -> dict:
    with request.app.state.sessions() as session:
        row = _one_service(session, service_id)
        org = store.get_organisation(session, row.organisation_id)
        taken, threshold = _capacity_context(request, session, [row])
        return hsds.service_full(row, org, taken=taken.get(row.id, 0), threshold=threshold)


def _near(request: Request, postcode: str | None, proximity: str | None):
    """(lat, lon, metres or None) of the postcode, or None when no postcode is asked."""
    if postcode is None or not postcode.strip():
        if proximity:
            raise Unprocessable("proximity: give a postcode to measure from", field="proximity")
        return None
    place = request.app.state.places.locate(postcode)
    if place is None:
        raise Unprocessable("postcode: not a postcode this directory can place", field="postcode")
    metres = None
    if proximity is not None and proximity.strip():
        try:
            metres = float(proximity)
        except ValueError:
            metres = math.nan
        if not math.isfinite(metres) or metres < 0:
            raise Unprocessable("proximity: a distance in metres", field="proximity")
    return place.lat, place.lon, metres


def _metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(a))


@router.get("/service_at_locations", summary="Services at their venues, paged")
def service_at_locations(
    request: Request,
    f: Filter,
    page: Page = 1,
    per_page: PerPage = 50,
    postcode: Annotated[str | None, Query(max_length=12)] = None,
    proximity: Annotated[str | None, Query(max_length=20, description="Metres.")] = None,
) -> dict:
    near = _near(request, postcode, proximity)
    with request.app.state.sessions() as session:
        orgs = _organisations(session)
        rows = [r for r in _live_services(session) if _matches(r, orgs[r.organisation_id], f)]
    rows = [r for r in rows if hsds._has_venue(r)]
    if near is not None:
        lat, lon, metres = near
        located = [(r, _metres(lat, lon, r.lat, r.lon)) for r in rows if r.lat is not None]
        if metres is not None:
            located = [(r, d) for r, d in located if d <= metres]
        rows = [r for r, _d in sorted(located, key=lambda pair: pair[1])]
    items = [hsds.service_at_location(r, orgs[r.organisation_id]) for r in rows]
    return _paged(items, page, per_page)


@router.get("/service_at_locations/{sal_id}", summary="One service at its venue, nested")
def service_at_location(sal_id: str, request: Request) -> dict:
    with request.app.state.sessions() as session:
        orgs = _organisations(session)
        for row in _live_services(session):
            if hsds.hsds_uuid("service_at_location", row.hsds_id) == sal_id:
                taken, threshold = _capacity_context(request, session, [row])
                item = hsds.service_at_location(
                    row,
                    orgs[row.organisation_id],
                    full=True,
                    taken=taken.get(row.id, 0),
                    threshold=threshold,
                )
                if item is not None:
                    return item
    raise NotFound(f"no service at location {sal_id!r}")


@router.get("/organizations", summary="Organizations, one-to-one fields, paged")
def organizations(
    request: Request,
    page: Page = 1,
    per_page: PerPage = 50,
    search: Annotated[str | None, Query(max_length=200)] = None,
) -> dict:
    words = search.lower().split() if search else []
    with request.app.state.sessions() as session:
        orgs = sorted(_organisations(session).values(), key=lambda o: (o.name, o.id))
    orgs = [o for o in orgs if all(w in f"{o.name} {o.description}".lower() for w in words)]
    return _paged([hsds.organization_summary(o) for o in orgs], page, per_page)


@router.get("/organizations/{organization_id}", summary="One organization and its services")
def organization(organization_id: str, request: Request) -> dict:
    o = store.organisations.c
    with request.app.state.sessions() as session:
        org = session.execute(
            select(store.organisations).where(
                (o.hsds_id == organization_id) | (o.id == organization_id)
            )
        ).first()
        if org is None:
            raise NotFound(f"no organization {organization_id!r}")
        rows = [r for r in _live_services(session) if r.organisation_id == org.id]
        taken, threshold = _capacity_context(request, session, rows)
        services = [
            hsds.service_full(r, org, taken=taken.get(r.id, 0), threshold=threshold) for r in rows
        ]
        return hsds.organization_full(org, services)


def _categories(request: Request) -> list[str]:
    with request.app.state.sessions() as session:
        rows = _live_services(session)
    return sorted({c for r in rows for c in r.categories}, key=str.lower)


@router.get("/taxonomies", summary="Taxonomies, paged")
def taxonomies(page: Page = 1, per_page: PerPage = 50) -> dict:
    return _paged([hsds.taxonomy()], page, per_page)


@router.get("/taxonomies/{taxonomy_id}", summary="One taxonomy")
def taxonomy(taxonomy_id: str) -> dict:
    if taxonomy_id != hsds.TAXONOMY_ID:
        raise NotFound(f"no taxonomy {taxonomy_id!r}")
    return hsds.taxonomy()


@router.get("/taxonomy_terms", summary="Taxonomy terms, paged")
def taxonomy_terms(request: Request, page: Page = 1, per_page: PerPage = 50) -> dict:
    return _paged([hsds.taxonomy_term(c) for c in _categories(request)], page, per_page)


@router.get("/taxonomy_terms/{term_id}", summary="One taxonomy term")
def taxonomy_term(term_id: str, request: Request) -> dict:
    for category in _categories(request):
        if hsds.term_id(category) == term_id:
            return hsds.taxonomy_term(category)
    raise NotFound(f"no taxonomy term {term_id!r}")
