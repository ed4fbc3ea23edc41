"""The referrals service's tables: people's referrals (the only place identity lives),
the matcher's proposals, connections to groups and their outcomes, link workers' contact
attempts and wellbeing measures, users, and the audit trail of who read which referral."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

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
    UniqueConstraint,
    false,
)

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
    Column("status", String(30), nullable=False),  # active | temporarily_closed | withdrawn
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
    Column("purpose", String(200), nullable=False),
)

outbox = outbox_table(metadata, SERVICE)
processed_events = processed_events_table(metadata, SERVICE)


def now() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime) -> datetime:
    """SQLite gives back naive datetimes for what was stored as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
