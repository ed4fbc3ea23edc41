"""The directory's tables and the queries it needs.

Organisations and their services (the community directory), the capacity ledger of
connections made to each service, and what the matcher told us about demand: which need
categories were asked for where, and which needs found no good match.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    select,
)
from sqlalchemy.orm import Session

from shared import clock
from shared.bus.outbox import outbox_table, processed_events_table
from shared.events import Eligibility, Place, ServiceSnapshot

SERVICE = "directory"
metadata = MetaData()

organisations = Table(
    "directory_organisations",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("name", String(300), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("kind", String(40), nullable=False, default="voluntary"),
    Column("website", String(300)),
    Column("email", String(300)),
    Column("phone", String(60)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # Open Referral identity: the HSDS uuid we publish, and where an imported entry came from.
    Column("hsds_id", String(36), unique=True),
    Column("source", String(300)),
    Column("source_id", String(300)),
)

services = Table(
    "directory_services",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("organisation_id", ForeignKey("directory_organisations.id"), nullable=False, index=True),
    Column("name", String(300), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("categories", JSON, nullable=False),
    Column("keywords", JSON, nullable=False),
    Column("min_age", Integer),
    Column("max_age", Integer),
    Column("genders", JSON),
    Column("eligibility_notes", Text, nullable=False, default=""),
    Column("address", String(300)),
    Column("postcode", String(12)),
    Column("ward", String(100), index=True),
    Column("lat", Float),
    Column("lon", Float),
    Column("delivery", JSON, nullable=False),
    Column("schedule", Text, nullable=False, default=""),
    Column("regular_schedule", JSON, nullable=False),
    Column("capacity_per_week", Integer),
    # the group's word on its places: places_left | waiting_list | full (migration 0004)
    Column(
        "taking", String(20), nullable=False, default="places_left", server_default="places_left"
    ),
    Column("languages", JSON, nullable=False),
    Column("accessibility", JSON, nullable=False),
    Column("cost", String(200), nullable=False, default=""),
    Column("referral_route", String(20), nullable=False, default="either"),
    Column("status", String(30), nullable=False, default="active"),
    Column("last_confirmed", Date),  # Open Referral's assured_date
    Column("withdrawn", Boolean, nullable=False, default=False),
    Column("revision", Integer, nullable=False, default=1),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("reopens_on", Date),  # when a temporarily closed service expects to reopen
    Column("assured_by", String(200)),  # who last confirmed the entry (a name and role)
    Column("hsds_id", String(36), unique=True),
    Column("source", String(300)),
    Column("source_id", String(300)),
)

# Signed-in users telling us an entry is out of date or the service has closed.
service_reports = Table(
    "directory_service_reports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("service_id", String(100), nullable=False, index=True),
    Column("kind", String(20), nullable=False),  # out_of_date | closed
    Column("note", Text, nullable=False, default=""),
    Column("reported_by", String(100), nullable=False),
    Column("reporter_role", String(30), nullable=False),
    Column("reported_at", DateTime(timezone=True), nullable=False),
    Column("resolved_at", DateTime(timezone=True)),
    Column("resolved_by", String(100)),
    Column("resolution", String(300)),
)

# One ServiceReviewDue per assurance: the date a service was last assured, when it fell due.
review_notices = Table(
    "directory_review_notices",
    metadata,
    Column("service_id", String(100), primary_key=True),
    Column("assured_on", Date, primary_key=True),
    Column("noticed_at", DateTime(timezone=True), nullable=False),
)

# The capacity ledger: one row per connection a link worker made to a service.
connections = Table(
    "directory_connections",
    metadata,
    Column("connection_id", String(64), primary_key=True),
    Column("referral_id", String(64), nullable=False, index=True),
    Column("service_id", String(100), nullable=False, index=True),
    Column("mode", String(20), nullable=False),
    Column("ward", String(100)),
    Column("confirmed_on", Date, nullable=False, index=True),
    Column("outcome", String(30)),
    Column("outcome_on", Date),
    # For reports of waiting times and groups' responsiveness (migration 0002):
    Column("confirmed_at", DateTime(timezone=True), index=True),
    Column("organisation_id", String(100)),
    Column("answered_at", DateTime(timezone=True)),
    Column("accepted", Boolean),
)

# Demand as the matcher saw it: one row per need found in a referral.
needs_seen = Table(
    "directory_needs_seen",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("referral_id", String(64), nullable=False, index=True),
    Column("concept", String(100), nullable=False),
    Column("phrase", String(300), nullable=False),
    Column("categories", JSON, nullable=False),
    Column("ward", String(100)),
    Column("met", Boolean, nullable=False),
    Column("seen_on", Date, nullable=False, index=True),
)

# Which services were proposed for which referral (the latest proposal replaces older).
proposals_seen = Table(
    "directory_proposals_seen",
    metadata,
    Column("referral_id", String(64), primary_key=True),
    Column("service_id", String(100), primary_key=True),
    Column("waiting_list", Boolean, nullable=False),
    Column("seen_on", Date, nullable=False, index=True),
)

#: The latest AccountSessionsEnded per account (the referrals service keeps the accounts):
#: a token naming a lower version, or any token of an inactive account, is refused.
accounts = Table(
    "directory_accounts",
    metadata,
    Column("user_id", String(100), primary_key=True),
    Column("active", Boolean, nullable=False),
    Column("token_version", Integer, nullable=False),
)

outbox = outbox_table(metadata, SERVICE)
processed_events = processed_events_table(metadata, SERVICE)


def now() -> datetime:
    """The wall clock, or the moment a simulation set (``shared.clock``)."""
    return clock.now()


def get_service(session: Session, service_id: str):
    return session.execute(select(services).where(services.c.id == service_id)).first()


def get_organisation(session: Session, organisation_id: str):
    return session.execute(
        select(organisations).where(organisations.c.id == organisation_id)
    ).first()


def places_taken_by_service(
    session: Session, week_start: date, week_end: date, service_ids: list[str] | None = None
) -> dict[str, int]:
    """Per service, referral connections confirmed that week that still hold a place (one
    query). Signposting gives the person information and takes no place."""
    c = connections.c
    query = (
        select(c.service_id, func.count())
        .where(
            c.mode == "referral",
            c.confirmed_on >= week_start,
            c.confirmed_on <= week_end,
            c.outcome.is_(None) | c.outcome.not_in(("no_capacity", "declined_by_patient")),
        )
        .group_by(c.service_id)
    )
    if service_ids is not None:
        query = query.where(c.service_id.in_(service_ids))
    return {service_id: n for service_id, n in session.execute(query)}


def places_taken(session: Session, service_id: str, week_start: date, week_end: date) -> int:
    return places_taken_by_service(session, week_start, week_end, [service_id]).get(service_id, 0)


def open_reports(session: Session, service_id: str) -> int:
    """Different people's unresolved reports that the entry is out of date or closed."""
    r = service_reports.c
    return session.execute(
        select(func.count(func.distinct(r.reported_by))).where(
            r.service_id == service_id, r.resolved_at.is_(None)
        )
    ).scalar_one()


def open_reports_by_service(session: Session, service_ids: list[str]) -> dict[str, list]:
    """Unresolved reports per service, oldest first (one query)."""
    r = service_reports.c
    out: dict[str, list] = {}
    rows = session.execute(
        select(service_reports)
        .where(r.service_id.in_(service_ids), r.resolved_at.is_(None))
        .order_by(r.reported_at)
    )
    for row in rows:
        out.setdefault(row.service_id, []).append(row)
    return out


def snapshot(
    row, organisation_name: str, places_free: int | None, reports: int = 0
) -> ServiceSnapshot:
    """The event form of a service row: what the matcher's replica keeps."""
    location = None
    if row.address or row.postcode or row.lat is not None:
        location = Place(
            address=row.address or "",
            postcode=row.postcode,
            ward=row.ward,
            lat=row.lat,
            lon=row.lon,
        )
    return ServiceSnapshot(
        id=row.id,
        organisation_id=row.organisation_id,
        organisation_name=organisation_name,
        name=row.name,
        description=row.description,
        categories=tuple(row.categories),
        keywords=tuple(row.keywords),
        eligibility=Eligibility(
            min_age=row.min_age,
            max_age=row.max_age,
            genders=tuple(row.genders) if row.genders else None,
            notes=row.eligibility_notes,
        ),
        location=location,
        delivery=tuple(row.delivery),
        schedule=row.schedule,
        languages=tuple(row.languages),
        accessibility=tuple(row.accessibility),
        cost=row.cost,
        referral_route=row.referral_route,
        capacity_per_week=row.capacity_per_week,
        places_free=places_free,
        taking=row.taking,
        status=row.status,
        reopens_on=row.reopens_on,
        last_confirmed=row.last_confirmed,
        open_reports=reports,
    )
