"""How each service usually answers the referrals link workers make to it, shown beside
each proposal ("usually answers in 2 days, 90% accepted").

Computed here, from this service's own connections and the groups' answers to them, so
the referral page needs no call to another origin (its CSP allows none). Over the last
12 months; shown only where at least ``threshold`` referrals were answered, with the
share accepted rounded to the nearest 10%, as the commissioners' reports round it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import timedelta

from sqlalchemy.orm import Session

from services.referrals import store

__all__ = ["WINDOW_DAYS", "describe", "of_services"]

WINDOW_DAYS = 365


def of_services(session: Session, service_ids: list[str], threshold: int) -> dict[str, dict]:
    """{service id: {answered, median_days, accepted_percent, text}} for the services
    with at least ``threshold`` answered referrals in the window."""
    if not service_ids:
        return {}
    since = store.now() - timedelta(days=WINDOW_DAYS)
    rows = store.group_answers_to(session, service_ids, since)
    days: dict[str, list[float]] = defaultdict(list)
    accepted: dict[str, int] = defaultdict(int)
    for service_id, asked, answered, response in rows:
        waited = store.aware(answered) - store.aware(asked)
        days[service_id].append(max(waited.total_seconds(), 0) / 86400)
        accepted[service_id] += response == "accepted"
    out = {}
    for service_id, waits in days.items():
        if len(waits) < threshold:
            continue
        median = _median(waits)
        share = int(math.floor(10 * accepted[service_id] / len(waits) + 0.5) * 10)
        out[service_id] = {
            "answered": len(waits),
            "median_days": median,
            "accepted_percent": share,
            "text": describe(median, share),
        }
    return out


def _median(values: list[float]) -> int:
    """Whole days, rounded up: an answer within the day is 'in 1 day'."""
    ordered = sorted(values)
    middle = ordered[(len(ordered) - 1) // 2]
    return max(1, math.ceil(middle))


def describe(median_days: int, accepted_percent: int) -> str:
    unit = "day" if median_days == 1 else "days"
    return f"usually answers in {median_days} {unit}, {accepted_percent}% accepted"
