"""What time it is, for the use cases: the wall clock, unless the caller set the moment.

State changes and the events they cause are stamped from here (``store.now()`` in each
service, an event's ``occurred_at``), so a simulation can play a past day through the
very same code: ``with clock.at(moment): submit_referral(...)``. The moment is held in a
``ContextVar``, so it is the calling thread's own: the servers' request and worker
threads running beside a simulation keep the wall clock.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, date, datetime

__all__ = ["at", "now", "today"]

_moment: ContextVar[datetime | None] = ContextVar("moment", default=None)


def now() -> datetime:
    """The set moment, or the wall clock; always timezone-aware UTC."""
    moment = _moment.get()
    return moment if moment is not None else datetime.now(UTC)


def today() -> date:
    return now().date()


@contextlib.contextmanager
def at(moment: datetime) -> Iterator[datetime]:
    """Within the block, on this thread, ``now()`` is ``moment``."""
    if moment.tzinfo is None:
        raise ValueError("a moment needs a timezone")
    token = _moment.set(moment.astimezone(UTC))
    try:
        yield moment
    finally:
        _moment.reset(token)
