"""The directory's rules: capacity weeks, places free, and reports safe to share.

Pure functions over plain data, no I/O. Reports never show a count small enough to
point at a person: counts from 1 to ``threshold - 1`` are suppressed (shown as None with
``suppressed`` set), following the usual small-number rules for health statistics.
"""

from __future__ import annotations

from datetime import date, timedelta

__all__ = ["places_free", "suppress", "week_bounds"]


def week_bounds(day: date) -> tuple[date, date]:
    """Monday to Sunday of the week ``day`` falls in: capacity is counted per week."""
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=6)


def places_free(capacity_per_week: int | None, taken: int) -> int | None:
    """Places left this week; None when the service sets no weekly limit."""
    if capacity_per_week is None:
        return None
    return max(capacity_per_week - taken, 0)


def suppress(count: int, threshold: int) -> int | None:
    """The count, or None when it is small enough to identify someone (0 is safe)."""
    return None if 0 < count < threshold else count
