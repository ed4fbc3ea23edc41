"""The SQL event log: the embedded bus, an append-only table plus per-group positions.

It runs on SQLite (embedded default) and PostgreSQL. One log holds every topic; the
row id is the offset, in a single partition 0 per topic.

Concurrency: a reader must never skip an event whose lower id commits after a higher
one. On PostgreSQL, ids come from a sequence at insert time, so two concurrent writers
could commit out of order; publishing therefore takes an EXCLUSIVE lock on the log
table (readers are not blocked, other writers wait), so ids become visible in order.
SQLite serialises writers by itself.

The log serves one active subscription per group at a time (embedded mode runs one of
each); scale-out across processes is Kafka's job.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
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
    and_,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite

from shared.bus.port import Message, Record
from shared.db import make_engine, reader

__all__ = ["SqlEventLog", "metadata"]

metadata = MetaData()

_Id = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER keys

event_log = Table(
    "event_log",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("topic", String(200), nullable=False, index=True),
    Column("key", String(200)),
    Column("value", LargeBinary, nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=False),
)

event_log_positions = Table(
    "event_log_positions",
    metadata,
    Column("consumer_group", String(200), primary_key=True),
    Column("topic", String(200), primary_key=True),
    Column("position", BigInteger, nullable=False),
)


class SqlEventLog:
    """The ``EventBus`` port on a database table."""

    def __init__(self, url_or_engine: str | Engine, *, prefix: str = "") -> None:
        self.engine = (
            make_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
        )
        self.prefix = prefix
        self._is_postgres = self.engine.dialect.name == "postgresql"
        self.reader = reader(self.engine)

    def create_tables(self) -> None:
        """Test and tooling helper; production paths run the Alembic migration."""
        metadata.create_all(self.engine)

    def ensure_topics(self, topics: Sequence[str], compacted: Sequence[str] = ()) -> None:
        """Topics are implicit rows; nothing to create."""

    def publish(self, records: Sequence[Record]) -> None:
        if not records:
            return
        now = datetime.now(UTC)
        rows = [
            {"topic": self.prefix + r.topic, "key": r.key, "value": r.value, "published_at": now}
            for r in records
        ]
        with self.engine.begin() as conn:
            if self._is_postgres:
                conn.execute(text("LOCK TABLE event_log IN EXCLUSIVE MODE"))
            conn.execute(event_log.insert(), rows)

    def subscribe(self, group: str, topics: Sequence[str]) -> SqlSubscription:
        return SqlSubscription(self, group, [self.prefix + t for t in topics])

    def close(self) -> None:
        """The engine belongs to whoever made it; nothing to release here."""


class SqlSubscription:
    """Reads the log after the group's committed positions."""

    def __init__(self, log: SqlEventLog, group: str, topics: list[str]) -> None:
        self._log = log
        self._group = group
        self._topics = topics
        self._fetched_from: dict[str, int] | None = None  # read at the first poll

    def _committed_positions(self) -> dict[str, int]:
        with self._log.reader.connect() as conn:
            rows = conn.execute(
                select(event_log_positions.c.topic, event_log_positions.c.position).where(
                    event_log_positions.c.consumer_group == self._group,
                    event_log_positions.c.topic.in_(self._topics),
                )
            ).all()
        found = {topic: position for topic, position in rows}
        return {topic: found.get(topic, 0) for topic in self._topics}

    def poll(self, max_records: int = 100, timeout_s: float = 1.0) -> list[Message]:
        deadline = time.monotonic() + timeout_s
        while True:
            messages = self._read(max_records)
            if messages or time.monotonic() >= deadline:
                return messages
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    @property
    def _fetched(self) -> dict[str, int]:
        if self._fetched_from is None:
            self._fetched_from = self._committed_positions()
        return self._fetched_from

    def rewind(self) -> None:
        """The next poll reads the committed positions again (it needs the database,
        which may be what failed; so not now)."""
        self._fetched_from = None

    def join_wait_s(self) -> float:
        """There is no group to join."""
        return 0.0

    def _read(self, max_records: int) -> list[Message]:
        # Each topic from its own position: reading all of them from the lowest would
        # fetch only rows already returned once a busy topic ran ahead of a quiet one.
        c = event_log.c
        query = (
            select(c.id, c.topic, c.key, c.value)
            .where(or_(*(and_(c.topic == t, c.id > after) for t, after in self._fetched.items())))
            .order_by(c.id)
            .limit(max_records)
        )
        with self._log.reader.connect() as conn:
            rows = conn.execute(query).all()
        messages = [
            Message(self._logical(topic), 0, row_id, key, bytes(value))
            for row_id, topic, key, value in rows
        ]
        for message in messages:
            physical = self._log.prefix + message.topic
            self._fetched[physical] = max(self._fetched[physical], message.offset)
        return messages

    def _logical(self, topic: str) -> str:
        return topic[len(self._log.prefix) :]

    def commit(self, *messages: Message) -> None:
        """One statement per topic: the highest position among ``messages``."""
        highest: dict[str, int] = {}
        for message in messages:
            physical = self._log.prefix + message.topic
            highest[physical] = max(highest.get(physical, 0), message.offset)
        if not highest:
            return
        postgres = self._log._is_postgres
        insert = postgresql.insert if postgres else sqlite.insert
        greatest = func.greatest if postgres else func.max  # SQLite's 2-arg max is scalar
        with self._log.engine.begin() as conn:
            for topic, position in highest.items():
                stmt = insert(event_log_positions).values(
                    consumer_group=self._group, topic=topic, position=position
                )
                stmt = stmt.on_conflict_do_update(
                    index_elements=["consumer_group", "topic"],
                    set_={
                        "position": greatest(event_log_positions.c.position, stmt.excluded.position)
                    },
                )
                conn.execute(stmt)

    def lag(self) -> dict[str, int]:
        committed = self._committed_positions()
        lags = {}
        with self._log.reader.connect() as conn:
            for topic, position in committed.items():
                count = conn.execute(
                    select(func.count())
                    .select_from(event_log)
                    .where(event_log.c.topic == topic, event_log.c.id > position)
                ).scalar_one()
                lags[self._logical(topic)] = count
        return lags

    def close(self) -> None:
        """Positions live in the database; nothing to release."""
