"""Back-off and lockout for signing in, per username and per client address.

Each failed sign-in counts against the username and against the address it came from.
Past a few free attempts (5 per username, 20 per address) the key is locked for a time
that doubles with each further failure (1 s, 2 s, 4 s ... up to 15 minutes); while
locked, sign-in answers 429 with ``Retry-After`` and checks no password. Counts fade
after 15 minutes without a failure; a success clears the username's count (not the
address's, so one good account cannot reset an attacker's address).

Kept in the database, so every replica of the service shares the counts.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.referrals import store

__all__ = ["FREE_ATTEMPTS", "cleared", "failed", "retry_after"]

FREE_ATTEMPTS = {"user": 5, "address": 20}
FORGET_AFTER = timedelta(minutes=15)
LONGEST_LOCK = timedelta(minutes=15)


def keys(username: str, address: str | None) -> list[str]:
    found = [f"user:{username.strip().lower()[:150]}"]
    if address:
        found.append(f"address:{address[:150]}")
    return found


def retry_after(session: Session, keys: list[str], now: datetime) -> int | None:
    """Seconds until sign-in may be tried again, or None if it may be tried now."""
    f = store.sign_in_failures.c
    rows = session.execute(select(f.locked_until).where(f.key.in_(keys))).all()
    waits = [
        (store.aware(row.locked_until) - now).total_seconds()
        for row in rows
        if row.locked_until is not None
    ]
    longest = max(waits, default=0)
    return math.ceil(longest) if longest > 0 else None


def failed(session: Session, keys: list[str], now: datetime) -> None:
    f = store.sign_in_failures.c
    for key in keys:
        row = session.execute(
            select(f.failures, f.last_failed_at).where(f.key == key).with_for_update()
        ).first()
        fresh = row is None or now - store.aware(row.last_failed_at) > FORGET_AFTER
        failures = 1 if fresh else row.failures + 1
        free = FREE_ATTEMPTS[key.split(":", 1)[0]]
        locked_until = None
        if failures >= free:
            lock = min(LONGEST_LOCK, timedelta(seconds=2 ** min(failures - free, 20)))
            locked_until = now + lock
        values = {"failures": failures, "last_failed_at": now, "locked_until": locked_until}
        if row is None:
            try:
                with session.begin_nested():
                    session.execute(store.sign_in_failures.insert().values(key=key, **values))
            except IntegrityError:  # another replica counted this key first
                session.execute(update(store.sign_in_failures).where(f.key == key).values(**values))
        else:
            session.execute(update(store.sign_in_failures).where(f.key == key).values(**values))


def cleared(session: Session, username_key: str) -> None:
    session.execute(
        delete(store.sign_in_failures).where(store.sign_in_failures.c.key == username_key)
    )
