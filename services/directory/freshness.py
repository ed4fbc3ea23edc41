"""Keeping entries fresh: reviews that fall due, and people's reports that an entry is out
of date or the service has closed.

A service assured (confirmed by its group) more than ``SP_REVIEW_AFTER_MONTHS`` ago falls
due for review: the directory emits one ``ServiceReviewDue`` per assurance (a notifier can
consume it) and the group's page asks "still running / paused / closed". Reports by
signed-in users stay on the entry until the organisation or an administrator resolves
them; the number of different people with an open report travels on the service's
snapshot, so the matcher can rank a disputed entry lower.
"""

from __future__ import annotations

import calendar
import time as clock
from collections.abc import Callable
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.directory import store
from shared.bus.outbox import Outbox
from shared.events import ServiceReviewDue

__all__ = ["ReviewClock", "due_on", "emit_reviews_due", "is_review_due"]

#: Statuses whose entries still need reviewing (a defunct service has nothing to confirm).
REVIEWED_STATUSES = ("active", "inactive", "temporarily_closed")


def due_on(assured: date, months: int) -> date:
    """The day an entry assured on ``assured`` falls due (the same day ``months`` later,
    or the month's last day when that month is shorter)."""
    month = assured.month - 1 + months
    year, month = assured.year + month // 12, month % 12 + 1
    return date(year, month, min(assured.day, calendar.monthrange(year, month)[1]))


def is_review_due(assured: date | None, status: str, today: date, months: int) -> bool:
    if status not in REVIEWED_STATUSES:
        return False
    return assured is None or due_on(assured, months) <= today


def emit_reviews_due(session: Session, outbox: Outbox, today: date, months: int) -> int:
    """One ``ServiceReviewDue`` for each live service whose review fell due and was not
    yet announced for its current assurance; returns how many were emitted."""
    s, n = store.services.c, store.review_notices.c
    noticed = {
        (service_id, assured)
        for service_id, assured in session.execute(select(n.service_id, n.assured_on))
    }
    rows = session.execute(
        select(store.services).where(s.withdrawn.is_(False), s.status.in_(REVIEWED_STATUSES))
    ).all()
    emitted = 0
    for row in rows:
        assured = row.last_confirmed or date.min
        if not is_review_due(row.last_confirmed, row.status, today, months):
            continue
        if (row.id, assured) in noticed:
            continue
        session.execute(
            store.review_notices.insert().values(
                service_id=row.id, assured_on=assured, noticed_at=store.now()
            )
        )
        outbox.add(
            session,
            ServiceReviewDue(
                service_id=row.id,
                organisation_id=row.organisation_id,
                service_name=row.name,
                assured_date=row.last_confirmed,
                due_on=due_on(row.last_confirmed, months) if row.last_confirmed else today,
            ),
        )
        emitted += 1
    return emitted


class ReviewClock:
    """Runs ``emit_reviews_due`` from a worker loop at most once every ``every_s`` seconds."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        outbox: Outbox,
        months: int,
        every_s: float = 3600.0,
        today: Callable[[], date] = date.today,
    ) -> None:
        self.sessions, self.outbox, self.months = sessions, outbox, months
        self.every_s, self.today = every_s, today
        self._last = -float("inf")

    def run_once(self) -> int:
        now = clock.monotonic()
        if now - self._last < self.every_s:
            return 0
        self._last = now
        with self.sessions.begin() as session:
            emitted = emit_reviews_due(session, self.outbox, self.today(), self.months)
        return emitted
