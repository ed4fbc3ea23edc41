"""The directory's HTTP API: groups keep their entries, everyone searches (commissioners'
reports are in ``api_reports.py``).

Every change to a service commits together with the ``ServiceUpserted`` or
``ServiceWithdrawn`` event that tells the matcher about it.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Literal

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import func, or_, select, update

from services.directory import store
from services.directory.domain import availability, places_free, week_bounds
from services.directory.duplicates import find_duplicates
from services.directory.freshness import is_review_due
from services.directory.handlers import publish_service
from services.directory.openreferral import hsds_uuid
from shared.auth import Caller, Principal, Role
from shared.events import ServiceStatus, ServiceWithdrawn
from shared.settings import Settings
from shared.validation import WebLink, line, text
from shared.web import Conflict, Forbidden, NotFound

router = APIRouter()

#: A day a report may be asked for: years this service could have data for.
Weekday = Literal["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
Delivery = Literal["in_person", "phone", "online", "home"]
Accessibility = Literal[
    "wheelchair",
    "step_free",
    "hearing_loop",
    "bsl",
    "large_print",
    "quiet_space",
    "accessible_toilet",
    "carers_free",
]
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_POSTCODE = re.compile(r"^[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}$", re.IGNORECASE)


class OpeningTime(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weekday: Weekday
    opens: str = Field(examples=["10:00"])
    closes: str = Field(examples=["12:00"])

    @model_validator(mode="after")
    def _times(self) -> OpeningTime:
        for name in ("opens", "closes"):
            if not _TIME.match(getattr(self, name)):
                raise ValueError(f"{name} must be HH:MM (24-hour)")
        if self.closes <= self.opens:
            raise ValueError("closes must be after opens")
        return self


class EligibilityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_age: int | None = Field(None, ge=16, le=120)
    max_age: int | None = Field(None, ge=16, le=120)
    genders: list[Literal["female", "male", "non-binary"]] | None = None
    notes: text(1000) = ""

    @model_validator(mode="after")
    def _ages(self) -> EligibilityIn:
        if self.min_age is not None and self.max_age is not None and self.min_age > self.max_age:
            raise ValueError("min_age must not be above max_age")
        return self


class LocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    address: text(300) = ""
    postcode: line(20) | None = None  # longer than any postcode, so the check below names it
    ward: line(100) | None = None
    lat: float | None = Field(None, ge=49.0, le=61.0)
    lon: float | None = Field(None, ge=-9.0, le=2.5)

    @field_validator("postcode")
    @classmethod
    def _postcode(cls, value: str | None) -> str | None:
        if value is not None and not _POSTCODE.match(value.strip()):
            raise ValueError("not a UK postcode")
        return value.strip().upper() if value else value


class ServiceIn(BaseModel):
    """A service as its group describes it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Tuesday Cuppa Club",
                    "description": "A friendly drop-in for a cup of tea and a chat.",
                    "categories": ["social connection", "older people"],
                    "eligibility": {"min_age": 50},
                    "location": {"address": "St John's Hall", "postcode": "DA14 6BT"},
                    "delivery": ["in_person"],
                    "schedule": "Tuesdays 10am-12pm",
                    "regular_schedule": [{"weekday": "TU", "opens": "10:00", "closes": "12:00"}],
                    "capacity_per_week": 20,
                }
            ]
        },
    )
    name: line(300, 2)
    description: text(5000) = ""
    categories: list[line(100, 1)] = Field(min_length=1, max_length=5)
    keywords: list[line(100, 1)] = Field(default_factory=list, max_length=20)
    eligibility: EligibilityIn = EligibilityIn()
    location: LocationIn | None = None
    delivery: list[Delivery] = Field(default_factory=lambda: ["in_person"], min_length=1)
    schedule: text(500) = ""
    regular_schedule: list[OpeningTime] = Field(default_factory=list, max_length=50)
    capacity_per_week: int | None = Field(None, ge=0, le=100_000)
    languages: list[line(60, 1)] = Field(default_factory=lambda: ["English"], max_length=20)
    accessibility: list[Accessibility] = Field(default_factory=list, max_length=8)
    cost: line(200) = "free"
    referral_route: Literal["self", "link_worker", "either"] = "either"
    status: ServiceStatus = Field(
        "active",
        description="Open Referral's: only active services are proposed to link workers.",
    )
    reopens_on: date | None = Field(None, description="When a temporarily closed one reopens.")

    @model_validator(mode="after")
    def _reopening(self) -> ServiceIn:
        if self.reopens_on is not None and self.status != "temporarily_closed":
            raise ValueError("reopens_on: only a temporarily closed service reopens")
        return self


class OrganisationIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Welling Community Hall Association",
                    "description": "Runs the hall and its groups for everyone in Welling.",
                    "kind": "community",
                    "email": "hello@welling-hall.example.org",
                }
            ]
        },
    )
    name: line(300, 2)
    description: text(5000) = ""
    kind: Literal["voluntary", "faith", "sports", "community", "statutory", "social_enterprise"] = (
        "voluntary"
    )
    website: WebLink | None = None
    email: line(254) | None = None
    phone: line(40) | None = None


def assurer(caller: Principal) -> str:
    """Who assured an entry, as Open Referral's assured-by (a name and their role)."""
    return f"{caller.name or caller.user_id} ({caller.role.value.replace('_', ' ')})"


def can_edit(caller: Principal, organisation_id: str) -> None:
    if caller.role is Role.ADMIN:
        return
    if caller.role is Role.GROUP_MEMBER and caller.organisation_id == organisation_id:
        return
    raise Forbidden("only members of this organisation can change its entries")


def editable_service(session, caller: Principal, service_id: str):
    """The live service row, if the caller's organisation runs it (404 / 403 otherwise)."""
    row = store.get_service(session, service_id)
    if row is None or row.withdrawn:
        raise NotFound(f"no service {service_id!r}")
    can_edit(caller, row.organisation_id)
    return row


def service_columns(body: ServiceIn) -> dict:
    location = body.location or LocationIn()
    return {
        "name": body.name,
        "description": body.description,
        "categories": body.categories,
        "keywords": body.keywords,
        "min_age": body.eligibility.min_age,
        "max_age": body.eligibility.max_age,
        "genders": body.eligibility.genders,
        "eligibility_notes": body.eligibility.notes,
        "address": location.address or None,
        "postcode": location.postcode,
        "ward": location.ward,
        "lat": location.lat,
        "lon": location.lon,
        "delivery": body.delivery,
        "schedule": body.schedule,
        "regular_schedule": [o.model_dump() for o in body.regular_schedule],
        "capacity_per_week": body.capacity_per_week,
        "languages": body.languages,
        "accessibility": body.accessibility,
        "cost": body.cost,
        "referral_route": body.referral_route,
        "status": body.status,
        "reopens_on": body.reopens_on,
    }


def _organisation_names(session) -> dict[str, str]:
    return {
        org_id: name
        for org_id, name in session.execute(
            select(store.organisations.c.id, store.organisations.c.name)
        )
    }


def _services_out(session, rows, settings: Settings, caller: Principal | None = None) -> list[dict]:
    """Services as the API shows them, with this week's places (a few queries in all).

    The exact ``places_free`` goes only to the service's own organisation and to
    administrators (``caller`` None: the organisation editing it); everyone else gets
    ``availability``."""
    monday, sunday = week_bounds(date.today())
    taken = store.places_taken_by_service(session, monday, sunday, [r.id for r in rows])
    orgs = _organisation_names(session)
    reports = store.open_reports_by_service(session, [r.id for r in rows])
    months = settings.review_after_months
    out = []
    threshold = settings.small_number_threshold
    for row in rows:
        free = places_free(row.capacity_per_week, taken.get(row.id, 0), row.taking)
        mine = reports.get(row.id, [])
        reporters = len({report.reported_by for report in mine})
        snap = store.snapshot(row, orgs.get(row.organisation_id, ""), free, reporters)
        item = snap.model_dump(mode="json")
        item["regular_schedule"] = row.regular_schedule
        item["revision"] = row.revision
        item["assured_by"] = row.assured_by
        item["review_due"] = is_review_due(row.last_confirmed, row.status, date.today(), months)
        item["reports"] = [
            {"id": r.id, "kind": r.kind, "note": r.note, "reported_at": r.reported_at.isoformat()}
            for r in mine
        ]
        item["availability"] = availability(
            row.capacity_per_week, taken.get(row.id, 0), threshold, row.taking
        )
        exact = (
            caller is None
            or caller.role is Role.ADMIN
            or (caller.organisation_id == row.organisation_id)
        )
        if not exact:
            item["places_free"] = None
        out.append(item)
    return out


def service_out(session, row, settings: Settings, caller: Principal | None = None) -> dict:
    return _services_out(session, [row], settings, caller)[0]


@router.get("/services", tags=["directory"])
def search_services(
    request: Request,
    caller: Caller,
    q: str | None = Query(None, max_length=200, description="Words in name or description"),
    category: str | None = None,
    ward: str | None = None,
    organisation_id: str | None = None,
    limit: int = Query(50, ge=1, le=500),
) -> list[dict]:
    """Search the directory (any signed-in user: link workers pick services here)."""
    s = store.services.c
    query = select(store.services).where(s.withdrawn.is_(False))
    if q:
        like = f"%{q.lower()}%"
        query = query.where(
            or_(func.lower(s.name).like(like), func.lower(s.description).like(like))
        )
    if ward:
        query = query.where(s.ward == ward)
    if organisation_id:
        query = query.where(s.organisation_id == organisation_id)
    with request.app.state.sessions() as session:
        rows = session.execute(query.order_by(s.name)).all()
        if category:
            rows = [r for r in rows if category in r.categories]
        return _services_out(session, rows[:limit], request.app.state.settings, caller)


@router.get("/services/{service_id}", tags=["directory"])
def get_service(service_id: str, request: Request, caller: Caller) -> dict:
    with request.app.state.sessions() as session:
        row = store.get_service(session, service_id)
        if row is None or row.withdrawn:
            raise NotFound(f"no service {service_id!r}")
        return service_out(session, row, request.app.state.settings, caller)


@router.get("/organisations", tags=["directory"])
def list_organisations(request: Request, caller: Caller) -> list[dict]:
    with request.app.state.sessions() as session:
        rows = session.execute(select(store.organisations).order_by(store.organisations.c.name))
        return [dict(r._mapping) for r in rows]


@router.put("/organisations/{organisation_id}", tags=["directory"])
def update_organisation(
    organisation_id: str, body: OrganisationIn, request: Request, caller: Caller
) -> dict:
    can_edit(caller, organisation_id)
    with request.app.state.sessions.begin() as session:
        if store.get_organisation(session, organisation_id) is None:
            raise NotFound(f"no organisation {organisation_id!r}")
        session.execute(
            update(store.organisations)
            .where(store.organisations.c.id == organisation_id)
            .values(**body.model_dump(), updated_at=store.now())
        )
        ids = session.execute(
            select(store.services.c.id).where(
                store.services.c.organisation_id == organisation_id,
                store.services.c.withdrawn.is_(False),
            )
        ).scalars()
        for service_id in list(ids):  # their snapshots carry the organisation's name
            publish_service(session, request.app.state.outbox, service_id, date.today())
        return dict(store.get_organisation(session, organisation_id)._mapping)


@router.post(
    "/organisations/{organisation_id}/services",
    status_code=status.HTTP_201_CREATED,
    tags=["directory"],
)
def create_service(
    organisation_id: str,
    body: ServiceIn,
    request: Request,
    caller: Caller,
    allow_duplicate: bool = Query(
        False, description="Create it even though it looks like an entry we already have."
    ),
) -> dict:
    """A new service; one that looks like an existing entry (similar name, and the same
    postcode or website) is a 409 listing the look-alikes, unless ``allow_duplicate``."""
    can_edit(caller, organisation_id)
    slug = re.sub(r"[^a-z0-9]+", "-", body.name.lower()).strip("-")[:60]
    with request.app.state.sessions.begin() as session:
        organisation = store.get_organisation(session, organisation_id)
        if organisation is None:
            raise NotFound(f"no organisation {organisation_id!r}")
        postcode = body.location.postcode if body.location else None
        duplicates = find_duplicates(session, body.name, postcode, organisation.website)
        if duplicates and not allow_duplicate:
            raise Conflict(
                f"{body.name} looks like {duplicates[0]['name']} "
                f"({', '.join(duplicates[0]['why'])}): edit that entry, or send "
                "allow_duplicate=true if this is a different service",
                duplicates=duplicates,
            )
        service_id = f"svc-{slug}"
        n = 2
        while store.get_service(session, service_id) is not None:
            service_id, n = f"svc-{slug}-{n}", n + 1
        session.execute(
            store.services.insert().values(
                id=service_id,
                organisation_id=organisation_id,
                revision=0,
                last_confirmed=date.today(),
                assured_by=assurer(caller),
                updated_at=store.now(),
                hsds_id=hsds_uuid("service", service_id),
                **service_columns(body),
            )
        )
        publish_service(session, request.app.state.outbox, service_id, date.today())
        return service_out(
            session, store.get_service(session, service_id), request.app.state.settings
        )


@router.put("/services/{service_id}", tags=["directory"])
def update_service(service_id: str, body: ServiceIn, request: Request, caller: Caller) -> dict:
    """Replace a service's entry; saving also confirms it is up to date."""
    with request.app.state.sessions.begin() as session:
        editable_service(session, caller, service_id)
        session.execute(
            update(store.services)
            .where(store.services.c.id == service_id)
            .values(
                **service_columns(body), last_confirmed=date.today(), assured_by=assurer(caller)
            )
        )
        publish_service(session, request.app.state.outbox, service_id, date.today())
        return service_out(
            session, store.get_service(session, service_id), request.app.state.settings
        )


@router.post("/services/{service_id}/confirm", tags=["directory"])
def confirm_service(service_id: str, request: Request, caller: Caller) -> dict:
    """The group says the entry is still right: it stops counting as stale."""
    with request.app.state.sessions.begin() as session:
        editable_service(session, caller, service_id)
        session.execute(
            update(store.services)
            .where(store.services.c.id == service_id)
            .values(last_confirmed=date.today(), assured_by=assurer(caller))
        )
        publish_service(session, request.app.state.outbox, service_id, date.today())
        return service_out(
            session, store.get_service(session, service_id), request.app.state.settings
        )


@router.delete("/services/{service_id}", tags=["directory"])
def withdraw_service(
    service_id: str, request: Request, caller: Caller, reason: str = Query("", max_length=500)
) -> dict:
    with request.app.state.sessions.begin() as session:
        row = editable_service(session, caller, service_id)
        session.execute(
            update(store.services)
            .where(store.services.c.id == service_id)
            .values(withdrawn=True, revision=row.revision + 1, updated_at=store.now())
        )
        request.app.state.outbox.add(
            session,
            ServiceWithdrawn(
                revision=row.revision + 1,
                service_id=service_id,
                organisation_id=row.organisation_id,
                reason=reason,
            ),
        )
        return {"service_id": service_id, "withdrawn": True}
