"""Transactional outbox: events are rows written in the same transaction as the change.

A service never publishes directly. It adds its events to its own ``<service>_outbox``
table inside the transaction that changes its state; the relay later publishes unsent
rows in order and marks them sent. A crash between publishing and marking means the
rows are published again, which idempotent consumers absorb: nothing is ever lost.

The same module defines ``<service>_processed_events``, the table where consumers record
the event ids they have handled, in the handler's own transaction.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    func,
    select,
    update,
)
from sqlalchemy.orm import Session

from shared.bus.port import EventBus, Record
from shared.events import encode, new_envelope, topic_for
from shared.metrics import EVENTS_PRODUCED, OUTBOX_BACKLOG

__all__ = ["Outbox", "OutboxRelay", "outbox_table", "processed_events_table"]

log = logging.getLogger(__name__)


def outbox_table(metadata: MetaData, service: str) -> Table:
    return Table(
        f"{service}_outbox",
        metadata,
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("event_type", String(100), nullable=False),
        Column("topic", String(200), nullable=False),
        Column("key", String(200)),
        Column("value", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("published_at", DateTime(timezone=True), index=True),
    )


def processed_events_table(metadata: MetaData, service: str) -> Table:
    return Table(
        f"{service}_processed_events",
        metadata,
        Column("consumer_group", String(200), primary_key=True),
        Column("event_id", String(36), primary_key=True),
        Column("processed_at", DateTime(timezone=True), nullable=False),
    )


class Outbox:
    """Adds a service's events to its outbox table inside the caller's transaction."""

    def __init__(self, table: Table, producer: str) -> None:
        self.table = table
        self.producer = producer

    def add(self, session: Session, event) -> str:
        """Record ``event`` for publishing; returns its event id."""
        envelope = new_envelope(event, self.producer)
        session.execute(
            self.table.insert().values(
                event_id=str(envelope.event_id),
                event_type=envelope.type,
                topic=topic_for(event),
                key=envelope.key,
                value=encode(envelope),
                created_at=envelope.occurred_at,
            )
        )
        return str(envelope.event_id)


class OutboxRelay:
    """Publishes unsent outbox rows, oldest first, then marks them sent."""

    def __init__(self, engine: Engine, table: Table, bus: EventBus, service: str) -> None:
        self.engine = engine
        self.table = table
        self.bus = bus
        self.service = service

    def run_once(self, batch: int = 200) -> int:
        """Publish up to ``batch`` events; returns how many were published."""
        t = self.table
        # Read, publish, then mark in separate short transactions: the bus may be the
        # same SQLite file, which allows one writer at a time. Two relays of one service
        # may publish a row twice; consumers are idempotent, so that costs nothing.
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.c.id, t.c.topic, t.c.key, t.c.value, t.c.event_type)
                .where(t.c.published_at.is_(None))
                .order_by(t.c.id)
                .limit(batch)
            ).all()
        if not rows:
            OUTBOX_BACKLOG.labels(self.service).set(0)
            return 0
        self.bus.publish([Record(r.topic, r.key, r.value) for r in rows])
        with self.engine.begin() as conn:
            conn.execute(
                update(t)
                .where(t.c.id.in_([r.id for r in rows]))
                .values(published_at=datetime.now(UTC))
            )
            backlog = conn.execute(
                select(func.count()).select_from(t).where(t.c.published_at.is_(None))
            ).scalar_one()
        for r in rows:
            EVENTS_PRODUCED.labels(self.service, r.topic, r.event_type).inc()
        OUTBOX_BACKLOG.labels(self.service).set(backlog)
        return len(rows)
