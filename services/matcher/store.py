"""The matcher's tables: its replica of the directory, what it proposed, and what link
workers decided about those proposals (labelled cases for measuring the matcher)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from shared.bus.outbox import outbox_table, processed_events_table

SERVICE = "matcher"
metadata = MetaData()

# The replica: the latest snapshot of each service, as the directory published it.
replica_services = Table(
    "matcher_replica_services",
    metadata,
    Column("service_id", String(100), primary_key=True),
    Column("revision", Integer, nullable=False),
    Column("snapshot", JSON),  # None once withdrawn
    Column("withdrawn", Boolean, nullable=False, default=False),
)

# Every replica change, in order: each matcher process applies new ones to its index.
replica_changes = Table(
    "matcher_replica_changes",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("service_id", String(100), nullable=False),
)

# What was proposed for each referral, with the matching profile (no identity).
proposals = Table(
    "matcher_proposals",
    metadata,
    Column("referral_id", String(64), primary_key=True),
    Column("profile", JSON, nullable=False),
    Column("proposals", JSON, nullable=False),
    Column("unmet_needs", JSON, nullable=False),
    Column("proposed_at", DateTime(timezone=True), nullable=False),
)

# Link workers' decisions about proposals: confirmations, declines and substitutes.
decisions = Table(
    "matcher_decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("referral_id", String(64), nullable=False, index=True),
    Column("service_id", String(100), nullable=False),
    Column("decision", String(20), nullable=False),  # confirmed | declined
    Column("was_proposed", Boolean, nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("decided_at", DateTime(timezone=True), nullable=False),
)

outbox = outbox_table(metadata, SERVICE)
processed_events = processed_events_table(metadata, SERVICE)
