"""The directory's rules: capacity weeks, places free, and reports safe to share.

Pure functions over plain data, no I/O. Reports never show a count small enough to
point at a person: counts from 1 to ``threshold - 1`` are suppressed (shown as None with
``suppressed`` set), following the usual small-number rules for health statistics.
The places a service has free this week follow the same rule wherever they are shown:
its places a week are public, so places free beside them tell how many people were
connected this week.
"""

from __future__ import annotations

from datetime import date, timedelta

from shared.events import TakingPeople

__all__ = ["availability", "places_free", "places_free_to_show", "suppress", "week_bounds"]


def week_bounds(day: date) -> tuple[date, date]:
    """Monday to Sunday of the week ``day`` falls in: capacity is counted per week."""
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=6)


def places_free(
    capacity_per_week: int | None, taken: int, taking: TakingPeople = "places_left"
) -> int | None:
    """Places left this week: none when the group says it is full or keeps only a waiting
    list; None when it sets no weekly limit. The one place this is worked out."""
    if taking != "places_left":
        return 0
    if capacity_per_week is None:
        return None
    return max(capacity_per_week - taken, 0)


def places_free_to_show(
    capacity_per_week: int | None, taken: int, threshold: int, taking: TakingPeople = "places_left"
) -> int | None:
    """Places free as a number anyone may read, or None where it would reveal a suppressed
    count (1 to ``threshold - 1`` people connected this week). A group's own "full" or
    "waiting list" reveals nothing, so it is shown as 0."""
    free = places_free(capacity_per_week, taken, taking)
    if taking != "places_left" or free is None:
        return free
    return None if suppress(taken, threshold) is None else free


def availability(
    capacity_per_week: int | None, taken: int, threshold: int, taking: TakingPeople = "places_left"
) -> str:
    """Places this week in words, which is all most readers see."""
    if taking == "full":
        return "full"
    if taking == "waiting_list":
        return "waiting list"
    free = places_free(capacity_per_week, taken, taking)
    if free is None:
        return "no limit"
    if free == 0:
        return "full"
    return "few places" if free < threshold else "places available"


def suppress(count: int, threshold: int) -> int | None:
    """The count, or None when it is small enough to identify someone (0 is safe)."""
    return None if 0 < count < threshold else count
