"""Writes held back until the transaction commits, so a consumer batch costs one statement
per table, not one per event.

The directory's consumer handles a batch of events in one transaction (see
shared/bus/consumer.py); the events of a batch interleave (a submission, a proposal, a
submission...), so the consumer's runs of one class are short. Handlers here instead
record what they would write on a ``Deferred`` kept in ``session.info``, and read their
own pending writes back from it; just before the transaction commits, each part writes
everything at once (``executemany``, ``INSERT ... ON CONFLICT``, ``DELETE ... IN``).

If the commit fails, or the transaction rolls back, the pending writes go with it: the
consumer then handles the batch again one event at a time, each in a transaction of its
own, through the same code. What is flushed is exactly what the same events would have
written one transaction each (the tests in tests/integration/test_readmodel_batching.py
feed both ways and compare every table).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy import Table, bindparam, delete, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

__all__ = ["Deferred", "Replace", "deferred", "upsert"]

_KEY = "directory.deferred"
_LISTENING = "directory.deferred.listening"


class Part(Protocol):
    def flush(self, session: Session) -> None: ...


class Deferred:
    """One transaction's pending writes, by part, flushed in the order parts were made."""

    def __init__(self) -> None:
        self.parts: dict[str, Any] = {}
        self.after_commit: list[Callable[[], None]] = []

    def part(self, name: str, make: Callable[[], Any]) -> Any:
        found = self.parts.get(name)
        if found is None:
            found = self.parts[name] = make()
        return found

    def flush(self, session: Session) -> None:
        for part in self.parts.values():
            part.flush(session)


def deferred(session: Session) -> Deferred:
    """The pending writes of ``session``'s current transaction (made on first use)."""
    found = session.info.get(_KEY)
    if found is None:
        found = session.info[_KEY] = Deferred()
        if not session.info.get(_LISTENING):
            event.listen(session, "before_commit", _before_commit)
            event.listen(session, "after_commit", _after_commit)
            event.listen(session, "after_rollback", _after_rollback)
            session.info[_LISTENING] = True
    return found


def _before_commit(session: Session) -> None:
    pending = session.info.get(_KEY)
    if pending is not None:
        pending.flush(session)


def _after_commit(session: Session) -> None:
    pending = session.info.pop(_KEY, None)
    if pending is not None:
        for callback in pending.after_commit:
            callback()


def _after_rollback(session: Session) -> None:
    session.info.pop(_KEY, None)


class Replace:
    """Rows kept per key (a referral), replacing whatever was stored for it: at commit one
    ``DELETE ... WHERE key IN`` and one ``INSERT`` of every key's latest rows."""

    def __init__(self, table: Table, key: str) -> None:
        self.table = table
        self.rows: dict[str, list[dict]] = {}
        self._delete = delete(table).where(table.c[key].in_(bindparam("keys", expanding=True)))

    def set(self, key: str, rows: list[dict]) -> None:
        self.rows[key] = rows

    def flush(self, session: Session) -> None:
        if not self.rows:
            return
        session.execute(self._delete, {"keys": list(self.rows)})
        rows = [row for rows in self.rows.values() for row in rows]
        if rows:
            session.execute(self.table.insert(), rows)


_UPSERTS: dict[tuple, Any] = {}


def upsert(session: Session, table: Table, keys: tuple[str, ...], set_: Callable) -> Any:
    """``INSERT ... ON CONFLICT (keys) DO UPDATE SET set_(table, excluded)``, built once
    per table and dialect (building the construct cost more than running it)."""
    dialect = session.get_bind().dialect.name
    cache_key = (table.name, keys, dialect, set_)
    stmt = _UPSERTS.get(cache_key)
    if stmt is None:
        insert = (postgresql if dialect == "postgresql" else sqlite).insert(table)
        stmt = insert.on_conflict_do_update(
            index_elements=list(keys), set_=set_(table, insert.excluded)
        )
        _UPSERTS[cache_key] = stmt
    return stmt
