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
import zlib
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
    text,
    update,
)
from sqlalchemy.orm import Session

from shared.bus.port import EventBus, Record
from shared.db import reader
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
        row = self._row(event)
        session.execute(self.table.insert().values(**row))
        return row["event_id"]

    def add_all(self, session: Session, events) -> list[str]:
        """Record ``events`` for publishing, in order, in one statement; their ids."""
        rows = [self._row(event) for event in events]
        if rows:
            session.execute(self.table.insert(), rows)
        return [row["event_id"] for row in rows]

    def _row(self, event) -> dict:
        envelope = new_envelope(event, self.producer)
        return {
            "event_id": str(envelope.event_id),
            "event_type": envelope.type,
            "topic": topic_for(event),
            "key": envelope.key,
            "value": encode(envelope),
            "created_at": envelope.occurred_at,
        }


class OutboxRelay:
    """Publishes unsent outbox rows, oldest first, then marks them sent.

    Several processes of one service (scaled-out matchers) share one outbox, and each
    runs a relay. On PostgreSQL a relay publishes only while it holds the outbox's
    advisory lock, in the transaction that reads and marks the rows, so each row is
    published once and in order; the others find the lock taken and wait their turn.
    (``FOR UPDATE SKIP LOCKED`` would let two relays publish different rows at once,
    but out of order for one key.) On SQLite, where the bus may be the same file and
    allows one writer at a time, reading, publishing and marking are separate short
    transactions; embedded mode runs one relay per outbox.
    """

    def __init__(self, engine: Engine, table: Table, bus: EventBus, service: str) -> None:
        self.engine = engine
        self.table = table
        self.bus = bus
        self.service = service
        self._postgres = engine.dialect.name == "postgresql"
        self._lock_key = zlib.crc32(table.name.encode())

    def run_once(self, batch: int = 500) -> int:
        """Publish up to ``batch`` events; returns how many were published."""
        if self._postgres:
            with self.engine.begin() as conn:
                locked = conn.execute(
                    text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": self._lock_key}
                ).scalar_one()
                if not locked:
                    return 0
                rows = self._unsent(conn, batch)
                if rows:
                    self.bus.publish([Record(r.topic, r.key, r.value) for r in rows])
                    self._mark(conn, rows)
        else:
            with reader(self.engine).connect() as conn:
                rows = self._unsent(conn, batch)
            if rows:
                self.bus.publish([Record(r.topic, r.key, r.value) for r in rows])
                with self.engine.begin() as conn:
                    self._mark(conn, rows)
        for r in rows:
            EVENTS_PRODUCED.labels(self.service, r.topic, r.event_type).inc()
        OUTBOX_BACKLOG.labels(self.service).set(self.backlog() if len(rows) == batch else 0)
        return len(rows)

    def _unsent(self, conn, batch: int) -> list:
        t = self.table
        return conn.execute(
            select(t.c.id, t.c.topic, t.c.key, t.c.value, t.c.event_type)
            .where(t.c.published_at.is_(None))
            .order_by(t.c.id)
            .limit(batch)
        ).all()

    def _mark(self, conn, rows) -> None:
        t = self.table
        conn.execute(
            update(t).where(t.c.id.in_([r.id for r in rows])).values(published_at=datetime.now(UTC))
        )

    def backlog(self) -> int:
        """Events written but not yet published (for metrics and tests)."""
        t = self.table
        with reader(self.engine).connect() as conn:
            return conn.execute(
                select(func.count()).select_from(t).where(t.c.published_at.is_(None))
            ).scalar_one()
