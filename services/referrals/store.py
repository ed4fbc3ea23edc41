"""The referrals service's tables: people's referrals (the only place identity lives),
the matcher's proposals, connections to groups and their outcomes, link workers' contact
attempts and wellbeing measures, users, the audit trail of who read which referral, and
the directory's services as its events describe them; and the queries the routes and
handlers share (``record_transition`` is the one writer of the status history)."""

from __future__ import annotations

import zlib
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

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
    exists,
    false,
    select,
    text,
)
from sqlalchemy.orm import Session

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
    return datetime.now(UTC)


def aware(moment: datetime) -> datetime:
    """SQLite gives back naive datetimes for what was stored as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- queries ----------------------------------------------------------------------------


def referral(session: Session, referral_id: str, *, lock: bool = False) -> Row | None:
    query = select(referrals).where(referrals.c.id == referral_id)
    return session.execute(query.with_for_update() if lock else query).first()


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


def contact_attempts_of(session: Session, referral_id: str) -> list[Row]:
    a = contact_attempts.c
    return session.execute(
        select(contact_attempts).where(a.referral_id == referral_id).order_by(a.attempted_on, a.id)
    ).all()


def user_names(session: Session, user_ids) -> dict[str, str]:
    """User id -> display name, for the ids given (unknown ids are left out)."""
    ids = {i for i in user_ids if i}
    if not ids:
        return {}
    rows = session.execute(select(users.c.id, users.c.name).where(users.c.id.in_(ids)))
    return {user_id: name for user_id, name in rows}


def user_by_username(session: Session, username: str) -> Row | None:
    return session.execute(select(users).where(users.c.username == username)).first()


def wellbeing_of(session: Session, referral_id: str) -> list[Row]:
    return session.execute(select(wellbeing).where(wellbeing.c.referral_id == referral_id)).all()


def service(session: Session, service_id: str) -> Row | None:
    """The directory's service as its latest event described it."""
    return session.execute(select(services).where(services.c.id == service_id)).first()


def all_users(session: Session) -> list[Row]:
    return session.execute(select(users).order_by(users.c.username)).all()


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


def audit_entries(session: Session, referral_id: str) -> list[Row]:
    a = audit_log.c
    return session.execute(
        select(audit_log).where(a.referral_id == referral_id).order_by(a.id)
    ).all()


def record_transition(
    session: Session,
    referral_id: str,
    from_status: str | None,
    to_status: str,
    action: str,
    by: str,
) -> None:
    """The one writer of ``status_history``: intake, the routes' ``move`` and the
    matcher's proposals all record their transitions here."""
    session.execute(
        status_history.insert().values(
            referral_id=referral_id,
            from_status=from_status,
            to_status=to_status,
            action=action,
            by=by,
            at=now(),
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
    by_nhs = select(referrals).where(*recent, r.nhs_number == nhs_number)
    by_birth = select(referrals).where(*recent, r.birth_date == birth_date)
    found = {}
    for query in (by_nhs, by_birth):
        for row in session.execute(query):
            found.setdefault(row.id, row)
    return list(found.values())
