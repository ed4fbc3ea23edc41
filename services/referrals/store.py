"""The referrals service's tables: people's referrals (the only place identity lives),
the matcher's proposals, connections to groups and their outcomes, link workers' contact
attempts and wellbeing measures, users, the audit trail of who read which referral, and
the directory's services as its events describe them; and every query the routes make,
as a function named for what it returns or records, in sections: referrals, proposals
and connections, groups, contact attempts and wellbeing, users and caseloads, audit.
The routes (``api/``) build no SQL of their own (tests/unit/test_referrals_api_layout.py);
``record_transition`` is the one writer of the status history."""

from __future__ import annotations

import uuid
import zlib
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import NamedTuple

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Row,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    exists,
    false,
    func,
    select,
    text,
)
from sqlalchemy.orm import Session

from services.referrals.wellbeing import WellbeingRecord
from shared import clock
from shared.bus.outbox import outbox_table, processed_events_table

SERVICE = "referrals"
MIGRATIONS = Path(__file__).parent / "migrations"
metadata = MetaData()

users = Table(
    "referrals_users",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("username", String(100), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("password_hash", String(300), nullable=False),
    Column("role", String(30), nullable=False),
    Column("practice_ods", String(10)),
    Column("organisation_id", String(100)),
    Column("team", String(100)),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # grows on a password change or deactivation: older tokens stop working (0004)
    Column("token_version", Integer, nullable=False, default=0, server_default="0"),
)

referrals = Table(
    "referrals_referrals",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("practice_ods", String(10), nullable=False, index=True),
    Column("team", String(100), nullable=False, index=True),
    Column("referred_by", String(64), nullable=False),
    Column("referrer_name", String(200), nullable=False),
    Column("status", String(30), nullable=False, index=True),
    Column("urgency", String(20), nullable=False),
    # identity: never leaves this service on the event stream
    Column("given_name", String(100), nullable=False),
    Column("family_name", String(100), nullable=False),
    Column("nhs_number", String(10), nullable=False, index=True),
    Column("birth_date", Date, nullable=False),
    Column("gender", String(20)),
    Column("postcode", String(10), nullable=False),
    Column("phone", String(40)),
    Column("email", String(200)),
    Column("preferred_contact", String(20), nullable=False),
    # what matching needs
    Column("ward", String(100)),
    Column("lat", Float),
    Column("lon", Float),
    Column("languages", JSON, nullable=False),
    Column("accessibility_needs", JSON, nullable=False),
    Column("delivery_modes", JSON, nullable=False),
    Column("needs_text", Text, nullable=False),
    Column("need_categories", JSON, nullable=False),
    Column("needs_found", JSON, nullable=False),
    Column("unmet_needs", JSON, nullable=False),
    # consent
    Column("consent_to_refer", Boolean, nullable=False),
    Column("consent_to_share", Boolean, nullable=False),
    Column("consent_recorded_by", String(200), nullable=False),
    Column("closed_reason", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # link work (0002)
    Column("assigned_to", String(64), index=True),
    Column("assigned_at", DateTime(timezone=True)),
    Column("flagged", Boolean, nullable=False, default=False, server_default=false()),
    Column("flag_reason", Text),
    # The duplicate check's two ways of finding the same person (0007).
    Index("ix_referrals_practice_nhs_created", "practice_ods", "nhs_number", "created_at"),
    Index("ix_referrals_practice_birth_created", "practice_ods", "birth_date", "created_at"),
)

proposals = Table(
    "referrals_proposals",
    metadata,
    Column("referral_id", ForeignKey("referrals_referrals.id"), primary_key=True),
    Column("service_id", String(100), primary_key=True),
    Column("rank", Integer, nullable=False),
    Column("service_name", String(300), nullable=False),
    Column("organisation_id", String(100)),
    Column("score", Float, nullable=False),
    Column("need", String(300), nullable=False),
    Column("concept", String(100), nullable=False),
    Column("reasons", JSON, nullable=False),
    Column("waiting_list", Boolean, nullable=False),
    Column("distance_km", Float),
    Column("breakdown", JSON),  # the score taken apart (0005); None before MatchesProposed v3
    Column("decision", String(20)),  # None | confirmed | declined
    Column("decline_reason", Text),
    Column("proposed_at", DateTime(timezone=True), nullable=False),
)

connections = Table(
    "referrals_connections",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("referral_id", ForeignKey("referrals_referrals.id"), nullable=False, index=True),
    Column("service_id", String(100), nullable=False),
    Column("service_name", String(300), nullable=False),
    Column("mode", String(20), nullable=False),  # signposting | referral
    Column("was_proposed", Boolean, nullable=False),
    Column("outcome", String(30)),
    Column("outcome_at", DateTime(timezone=True)),
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # the group's answer to a referral-mode connection (0002)
    Column("organisation_id", String(100), index=True),
    Column("group_response", String(20)),  # None | accepted | declined
    Column("group_response_reason", Text),
    Column("group_responded_by", String(64)),
    Column("group_responded_at", DateTime(timezone=True)),
    UniqueConstraint("referral_id", "service_id", name="uq_referrals_connection_service"),
    # the link worker chose to join a full or closed service's waiting list (0004)
    Column("waiting_list", Boolean, nullable=False, default=False, server_default=false()),
    # what the link worker tells the group (never the GP's free text), and who recorded the
    # outcome: a link worker or the group (0006)
    Column("summary_for_group", Text),
    Column("outcome_by", String(64)),
    Column("outcome_by_role", String(30)),
)

# An Idempotency-Key belongs to the practice that sent it: another practice's same key
# is another request. The body's hash tells a retry from a different request (0004).
idempotency_keys = Table(
    "referrals_idempotency_keys",
    metadata,
    Column("practice_ods", String(10), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("referral_id", ForeignKey("referrals_referrals.id"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# The directory's services as its events describe them (directory.services.v1): where a
# connection's organisation comes from, and whether the service has room (0004).
services = Table(
    "referrals_services",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("organisation_id", String(100), nullable=False),
    Column("name", String(300), nullable=False),
    Column("status", String(30), nullable=False),  # Open Referral's statuses, or withdrawn
    Column("places_free", Integer),
    Column("revision", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

contact_attempts = Table(
    "referrals_contact_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("referral_id", ForeignKey("referrals_referrals.id"), nullable=False, index=True),
    Column("attempted_on", Date, nullable=False),
    Column("method", String(20), nullable=False),
    Column("result", String(20), nullable=False),
    Column("by", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

wellbeing = Table(
    "referrals_wellbeing",
    metadata,
    Column("referral_id", ForeignKey("referrals_referrals.id"), primary_key=True),
    Column("stage", String(20), primary_key=True),  # first_contact | follow_up
    Column("ons4", JSON, nullable=False),
    Column("swemwbs", JSON),
    Column("swemwbs_metric", Float),
    Column("recorded_by", String(64), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

status_history = Table(
    "referrals_status_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("referral_id", ForeignKey("referrals_referrals.id"), nullable=False, index=True),
    Column("from_status", String(30)),
    Column("to_status", String(30), nullable=False),
    Column("action", String(40), nullable=False),
    Column("by", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

audit_log = Table(
    "referrals_audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("user_id", String(64), nullable=False, index=True),
    Column("role", String(30), nullable=False),
    Column("referral_id", String(64), nullable=False, index=True),
    Column("action", String(40), nullable=False),
    Column("purpose", String(200), nullable=False),  # audit.Purpose: a closed list (0008)
    Column("detail", String(200)),
)

# Failed sign-ins per username and per client address, for back-off and lockout (0009).
sign_in_failures = Table(
    "referrals_sign_in_failures",
    metadata,
    Column("key", String(200), primary_key=True),  # "user:<name>" or "address:<ip>"
    Column("failures", Integer, nullable=False),
    Column("last_failed_at", DateTime(timezone=True), nullable=False),
    Column("locked_until", DateTime(timezone=True)),
)

outbox = outbox_table(metadata, SERVICE)
processed_events = processed_events_table(metadata, SERVICE)


def now() -> datetime:
    """The wall clock, or the moment a simulation set (``shared.clock``)."""
    return clock.now()


def aware(moment: datetime) -> datetime:
    """SQLite gives back naive datetimes for what was stored as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- referrals --------------------------------------------------------------------------


#: Which rows a list holds, as column -> the value it must have (``access.scope``):
#: ``{"team": "north"}``; ``{}`` for every row. A value of None matches no row.
Scope = dict[str, str | None]


def _within(table: Table, scope: Scope) -> list:
    return [table.c[column] == value for column, value in scope.items()]


def referral(session: Session, referral_id: str, *, lock: bool = False) -> Row | None:
    query = select(referrals).where(referrals.c.id == referral_id)
    return session.execute(query.with_for_update() if lock else query).first()


def listed_referrals(
    session: Session, scope: Scope, *, status: str | None, ward: str | None, limit: int
) -> list[Row]:
    """The referrals in ``scope``, newest first."""
    r = referrals.c
    query = select(referrals).where(*_within(referrals, scope))
    if status:
        query = query.where(r.status == status)
    if ward:
        query = query.where(r.ward == ward)
    return session.execute(query.order_by(r.created_at.desc()).limit(limit)).all()


def worklist_rows(
    session: Session, scope: Scope, status: str | None, ward: str | None
) -> list[Row]:
    """The referrals in ``scope`` in ``status``, or all the open ones."""
    r = referrals.c
    query = select(referrals).where(*_within(referrals, scope))
    query = query.where(r.status == status) if status else query.where(r.status != "closed")
    if ward:
        query = query.where(r.ward == ward)
    return session.execute(query).all()


def add_referral(session: Session, **values) -> None:
    """A new referral row: ``values`` are its columns (``intake.submit_referral``)."""
    session.execute(referrals.insert(), values)


def change_referral(session: Session, referral_id: str, **changes) -> None:
    """Set the given columns of the referral; ``updated_at`` moves too."""
    session.execute(
        referrals.update().where(referrals.c.id == referral_id).values(**changes, updated_at=now())
    )


def assign(session: Session, referral_id: str, worker_id: str) -> None:
    moment = now()
    session.execute(
        referrals.update()
        .where(referrals.c.id == referral_id)
        .values(assigned_to=worker_id, assigned_at=moment, updated_at=moment)
    )


def set_status(session: Session, referral_id: str, status: str) -> None:
    """Only ``access.move`` calls this, beside ``record_transition``."""
    change_referral(session, referral_id, status=status)


def assign_if_unassigned(session: Session, referral_id: str, worker_id: str) -> None:
    """Assign the referral to ``worker_id`` unless someone has it already."""
    r = referrals.c
    session.execute(
        referrals.update()
        .where(r.id == referral_id, r.assigned_to.is_(None))
        .values(assigned_to=worker_id, assigned_at=now())
    )


def set_flag(session: Session, referral_id: str, flag: str | None) -> None:
    """Flag the referral on the worklist with the reason, or clear the flag (``None``)."""
    change_referral(session, referral_id, flagged=flag is not None, flag_reason=flag)


def set_closed_reason(session: Session, referral_id: str, reason: str) -> None:
    """Why the referral was closed; ``access.move`` closes it and sets ``updated_at``."""
    session.execute(
        referrals.update().where(referrals.c.id == referral_id).values(closed_reason=reason)
    )


def record_transition(
    session: Session,
    referral_id: str,
    from_status: str | None,
    to_status: str,
    action: str,
    by: str,
) -> None:
    """The one writer of ``status_history`` (with ``record_transitions``): intake, the
    routes' ``move`` and the matcher's proposals all record their transitions here."""
    record_transitions(session, [(referral_id, from_status, to_status)], action, by)


def record_transitions(
    session: Session, moves: list[tuple[str, str | None, str]], action: str, by: str
) -> None:
    """Several referrals' transitions, (referral id, from, to) each, in one statement."""
    if not moves:
        return
    at = now()
    session.execute(
        status_history.insert(),
        [
            {
                "referral_id": referral_id,
                "from_status": from_status,
                "to_status": to_status,
                "action": action,
                "by": by,
                "at": at,
            }
            for referral_id, from_status, to_status in moves
        ],
    )


_PROPOSALS_OUTCOME = (
    referrals.update()
    .where(referrals.c.id == bindparam("b_referral_id"))
    .values(
        status=bindparam("b_status", type_=referrals.c.status.type),
        needs_found=bindparam("b_needs_found", type_=referrals.c.needs_found.type),
        unmet_needs=bindparam("b_unmet_needs", type_=referrals.c.unmet_needs.type),
        updated_at=bindparam("b_updated_at", type_=referrals.c.updated_at.type),
    )
)


def record_proposals_outcome(session: Session, changes: list[dict]) -> None:
    """Each referral's new status and the needs the matcher found and could not meet:
    ``changes`` are dicts of referral_id, status, needs_found and unmet_needs; one
    statement for all of them."""
    if not changes:
        return
    at = now()
    session.execute(
        _PROPOSALS_OUTCOME,
        [
            {
                "b_referral_id": c["referral_id"],
                "b_status": c["status"],
                "b_needs_found": c["needs_found"],
                "b_unmet_needs": c["unmet_needs"],
                "b_updated_at": at,
            }
            for c in changes
        ],
    )


def earlier_request(session: Session, practice_ods: str, key: str) -> Row | None:
    """The practice's earlier request with this Idempotency-Key: its ``request_hash`` and
    the referral's ``id`` and ``status``."""
    k, r = idempotency_keys.c, referrals.c
    return session.execute(
        select(k.request_hash, r.id, r.status)
        .join(referrals, r.id == k.referral_id)
        .where(k.practice_ods == practice_ods, k.key == key)
    ).first()


def remember_request(
    session: Session,
    practice_ods: str,
    key: str,
    request_hash: str,
    referral_id: str,
    at: datetime,
) -> None:
    """Keep the practice's Idempotency-Key with the body's hash and the referral made."""
    session.execute(
        idempotency_keys.insert().values(
            practice_ods=practice_ods,
            key=key,
            request_hash=request_hash,
            referral_id=referral_id,
            created_at=at,
        )
    )


def lock_person(session: Session, practice_ods: str, nhs_number: str, birth_date: date) -> None:
    """Serialise intake of one person at one practice until the transaction ends, so two
    near-simultaneous submissions cannot both miss each other in the duplicate check.

    PostgreSQL: transaction-scoped advisory locks on the two keys the check matches on
    (NHS number; date of birth), taken in a fixed order so two intakes never deadlock.
    SQLite: every write transaction begins IMMEDIATE, holding the database's one write
    lock from the check to the commit, which serialises intakes already."""
    if session.get_bind().dialect.name != "postgresql":
        return
    keys = sorted(
        {
            zlib.crc32(f"referral-person:{practice_ods}:nhs:{nhs_number}".encode()),
            zlib.crc32(f"referral-person:{practice_ods}:born:{birth_date.isoformat()}".encode()),
        }
    )
    for key in keys:
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def open_referrals_like(
    session: Session, practice_ods: str, nhs_number: str, birth_date: date, since: datetime
) -> list[Row]:
    """The practice's open referrals since ``since`` with this NHS number or this date of
    birth: two index range reads (an OR in one query would defeat the NHS-number index)."""
    r = referrals.c
    recent = (r.practice_ods == practice_ods, r.created_at >= since, r.status != "closed")
    columns = (  # what telling a duplicate needs, not the whole row
        r.id,
        r.practice_ods,
        r.nhs_number,
        r.given_name,
        r.family_name,
        r.birth_date,
        r.needs_text,
        r.created_at,
        r.status,
    )
    by_nhs = select(*columns).where(*recent, r.nhs_number == nhs_number)
    by_birth = select(*columns).where(*recent, r.birth_date == birth_date)
    found = {}
    for query in (by_nhs, by_birth):
        for row in session.execute(query):
            found.setdefault(row.id, row)
    return list(found.values())


# --- proposals and connections ----------------------------------------------------------


def proposals_of(session: Session, referral_id: str) -> list[Row]:
    p = proposals.c
    return session.execute(
        select(proposals).where(p.referral_id == referral_id).order_by(p.rank)
    ).all()


def proposal(session: Session, referral_id: str, service_id: str) -> Row | None:
    p = proposals.c
    return session.execute(
        select(proposals).where(p.referral_id == referral_id, p.service_id == service_id)
    ).first()


def undecided_proposal_ids(session: Session, referral_id: str) -> set[str]:
    """The service ids of the referral's proposals nobody has confirmed or declined."""
    p = proposals.c
    return set(
        session.execute(
            select(p.service_id).where(p.referral_id == referral_id, p.decision.is_(None))
        ).scalars()
    )


def confirm_proposal(session: Session, referral_id: str, service_id: str) -> None:
    p = proposals.c
    session.execute(
        proposals.update()
        .where(p.referral_id == referral_id, p.service_id == service_id)
        .values(decision="confirmed")
    )


def decline_proposals(session: Session, referral_id: str, service_ids, reason: str) -> None:
    p = proposals.c
    session.execute(
        proposals.update()
        .where(p.referral_id == referral_id, p.service_id.in_(service_ids))
        .values(decision="declined", decline_reason=reason)
    )


def connections_of(session: Session, referral_ids: list[str]) -> dict[str, list[Row]]:
    """Each referral's connections, oldest first (an empty list for one without)."""
    c = connections.c
    by_referral: dict[str, list[Row]] = {i: [] for i in referral_ids}
    if referral_ids:
        rows = session.execute(
            select(connections).where(c.referral_id.in_(referral_ids)).order_by(c.created_at)
        ).all()
        for row in rows:
            by_referral[row.referral_id].append(row)
    return by_referral


def connection(session: Session, referral_id: str, connection_id: str) -> Row | None:
    c = connections.c
    return session.execute(
        select(connections).where(c.id == connection_id, c.referral_id == referral_id)
    ).first()


def connection_to_service(session: Session, referral_id: str, service_id: str) -> Row | None:
    """The referral's connection to this service (its ``id``), if it has one."""
    c = connections.c
    return session.execute(
        select(c.id).where(c.referral_id == referral_id, c.service_id == service_id)
    ).first()


def add_connection(
    session: Session,
    referral_id: str,
    service: Row,
    *,
    mode: str,
    waiting_list: bool,
    summary_for_group: str | None,
    was_proposed: bool,
    created_by: str,
) -> str:
    """A new connection to ``service``, the directory's row (``service``): its name and
    organisation come from there, never from the client. Returns the connection's id."""
    connection_id = str(uuid.uuid4())
    session.execute(
        connections.insert().values(
            id=connection_id,
            referral_id=referral_id,
            service_id=service.id,
            service_name=service.name,
            mode=mode,
            organisation_id=service.organisation_id,
            waiting_list=waiting_list,
            summary_for_group=summary_for_group,
            was_proposed=was_proposed,
            created_by=created_by,
            created_at=now(),
        )
    )
    return connection_id


def service(session: Session, service_id: str) -> Row | None:
    """The directory's service as its latest event described it."""
    return session.execute(select(services).where(services.c.id == service_id)).first()


def record_outcome(
    session: Session, connection_id: str, outcome: str, by: str, by_role: str
) -> None:
    """What became of the connection, and who said so (a link worker or the group)."""
    session.execute(
        connections.update()
        .where(connections.c.id == connection_id)
        .values(outcome=outcome, outcome_at=now(), outcome_by=by, outcome_by_role=by_role)
    )


# --- groups -----------------------------------------------------------------------------


def _group_rows(organisation_id: str | None, *referral_columns):
    """Referral-mode connections (to one organisation's services, or all of them for
    ``None``), each with the given columns of its referral."""
    c = connections.c
    query = (
        select(connections, *referral_columns)
        .join(referrals, c.referral_id == referrals.c.id)
        .where(c.mode == "referral")
    )
    return query if organisation_id is None else query.where(c.organisation_id == organisation_id)


def group_referral_rows(session: Session, organisation_id: str | None) -> list[Row]:
    """What a group's list shows: its referral-mode connections, oldest first, each with
    the person's names."""
    r = referrals.c
    query = _group_rows(organisation_id, r.given_name, r.family_name)
    return session.execute(query.order_by(connections.c.created_at)).all()


def group_connection(
    session: Session, connection_id: str, organisation_id: str | None, *, lock: bool = False
) -> Row | None:
    """One referral-mode connection to the organisation (any, for ``None``), with the
    person's names and the referral's ``referral_status`` and ``referral_ward``."""
    r = referrals.c
    query = _group_rows(
        organisation_id,
        r.given_name,
        r.family_name,
        r.status.label("referral_status"),
        r.ward.label("referral_ward"),
    ).where(connections.c.id == connection_id)
    return session.execute(query.with_for_update() if lock else query).first()


def referral_id_of_connection(session: Session, connection_id: str) -> str | None:
    c = connections.c
    return session.execute(select(c.referral_id).where(c.id == connection_id)).scalar()


def record_group_response(
    session: Session, connection_id: str, response: str, reason: str | None, by: str
) -> None:
    """The group's answer to a connection (``accepted`` or ``declined``), replacing any
    earlier one."""
    session.execute(
        connections.update()
        .where(connections.c.id == connection_id)
        .values(
            group_response=response,
            group_response_reason=reason,
            group_responded_by=by,
            group_responded_at=now(),
        )
    )


def group_answers_to(session: Session, service_ids: list[str], since: datetime) -> list[Row]:
    """The groups' answers to referrals made to these services since ``since``: each
    connection's ``service_id``, ``created_at``, ``group_responded_at``, ``group_response``."""
    c = connections.c
    query = select(c.service_id, c.created_at, c.group_responded_at, c.group_response).where(
        c.service_id.in_(set(service_ids)),
        c.mode == "referral",
        c.group_responded_at.is_not(None),
        c.created_at >= since,
    )
    return session.execute(query).all()


# --- contact attempts and wellbeing -----------------------------------------------------


def contact_attempts_of(session: Session, referral_id: str) -> list[Row]:
    a = contact_attempts.c
    return session.execute(
        select(contact_attempts).where(a.referral_id == referral_id).order_by(a.attempted_on, a.id)
    ).all()


def add_contact_attempt(
    session: Session, referral_id: str, attempted_on: date, method: str, result: str, by: str
) -> None:
    session.execute(
        contact_attempts.insert().values(
            referral_id=referral_id,
            attempted_on=attempted_on,
            method=method,
            result=result,
            by=by,
            at=now(),
        )
    )


def wellbeing_of(session: Session, referral_id: str) -> list[Row]:
    return session.execute(select(wellbeing).where(wellbeing.c.referral_id == referral_id)).all()


def wellbeing_records(session: Session, referral_id: str) -> dict[str, WellbeingRecord]:
    """The referral's wellbeing measures by stage (first contact, follow-up)."""
    return {
        row.stage: WellbeingRecord(row.stage, row.ons4, tuple(row.swemwbs) if row.swemwbs else None)
        for row in wellbeing_of(session, referral_id)
    }


def add_wellbeing(
    session: Session,
    referral_id: str,
    stage: str,
    ons4: dict[str, int],
    swemwbs: list[int] | None,
    swemwbs_metric: float | None,
    recorded_by: str,
) -> None:
    session.execute(
        wellbeing.insert().values(
            referral_id=referral_id,
            stage=stage,
            ons4=ons4,
            swemwbs=swemwbs,
            swemwbs_metric=swemwbs_metric,
            recorded_by=recorded_by,
            recorded_at=now(),
        )
    )


# --- users and caseloads ----------------------------------------------------------------


def user(session: Session, user_id: str) -> Row | None:
    return session.execute(select(users).where(users.c.id == user_id)).first()


def user_by_username(session: Session, username: str) -> Row | None:
    return session.execute(select(users).where(users.c.username == username)).first()


def user_names(session: Session, user_ids) -> dict[str, str]:
    """User id -> display name, for the ids given (unknown ids are left out)."""
    ids = {i for i in user_ids if i}
    if not ids:
        return {}
    rows = session.execute(select(users.c.id, users.c.name).where(users.c.id.in_(ids)))
    return {user_id: name for user_id, name in rows}


def all_users(session: Session) -> list[Row]:
    return session.execute(select(users).order_by(users.c.username)).all()


def link_workers(session: Session, scope: Scope) -> list[Row]:
    """Active link workers in ``scope`` (their team), by name: id, name, team."""
    u = users.c
    query = select(u.id, u.name, u.team).where(u.role == "link_worker", u.active)
    return session.execute(query.where(*_within(users, scope)).order_by(u.name)).all()


class CaseloadCounts(NamedTuple):
    """Per link worker id: open referrals assigned, open connections without an outcome
    on open referrals, and different people (NHS numbers) assigned since ``year_start``."""

    active_referrals: dict[str, int]
    open_connections: dict[str, int]
    people_this_year: dict[str, int]


def caseload_counts(session: Session, year_start: datetime) -> CaseloadCounts:
    r, c = referrals.c, connections.c
    return CaseloadCounts(
        active_referrals=_count_by_worker(
            session, select(r.assigned_to, func.count()).where(r.status != "closed")
        ),
        open_connections=_count_by_worker(
            session,
            select(r.assigned_to, func.count())
            .select_from(connections.join(referrals, c.referral_id == r.id))
            .where(r.status != "closed", c.outcome.is_(None)),
        ),
        people_this_year=_count_by_worker(
            session,
            select(r.assigned_to, func.count(func.distinct(r.nhs_number))).where(
                r.assigned_at >= year_start
            ),
        ),
    )


def _count_by_worker(session: Session, query) -> dict[str, int]:
    r = referrals.c
    rows = session.execute(query.where(r.assigned_to.is_not(None)).group_by(r.assigned_to))
    return {worker: count for worker, count in rows.all()}


# --- audit and messages back ------------------------------------------------------------


def audit_entries(session: Session, referral_id: str) -> list[Row]:
    a = audit_log.c
    return session.execute(
        select(audit_log).where(a.referral_id == referral_id).order_by(a.id)
    ).all()


def search_audit(
    session: Session,
    *,
    referral_id: str | None,
    username: str | None,
    since: date | None,
    until: date | None,
    limit: int,
) -> list[Row]:
    """Audit rows with the reader's username and name, newest first; ``until`` inclusive."""
    a, u = audit_log.c, users.c
    query = select(audit_log, u.username, u.name).join(users, u.id == a.user_id, isouter=True)
    if referral_id:
        query = query.where(a.referral_id == referral_id)
    if username:
        query = query.where(u.username == username)
    if since:
        query = query.where(a.at >= datetime.combine(since, time.min))
    if until:
        query = query.where(a.at < datetime.combine(until + timedelta(days=1), time.min))
    return session.execute(query.order_by(a.id.desc()).limit(limit)).all()


def messages_back(
    session: Session, practice_ods: str | None, *, unread_only: bool, limit: int = 1000
) -> list[Row]:
    """Closed referrals (of one practice, or all), newest first, each with ``read``: whether
    practice staff have fetched its message back (the audit log records that read)."""
    r, a = referrals.c, audit_log.c
    read = exists().where(
        and_(
            a.referral_id == r.id,
            a.action == "read",
            a.purpose == "message to the GP",
            a.role == "practice_staff",
        )
    )
    query = select(r.id, r.updated_at, read.label("read")).where(r.status == "closed")
    if practice_ods is not None:
        query = query.where(r.practice_ods == practice_ods)
    if unread_only:
        query = query.where(~read)
    return session.execute(query.order_by(r.updated_at.desc()).limit(limit)).all()
