"""The directory's rules: capacity weeks, places free, and reports safe to share.

Pure functions over plain data, no I/O. Reports never show a count small enough to
point at a person: counts from 1 to ``threshold - 1`` are suppressed (shown as None with
``suppressed`` set), following the usual small-number rules for health statistics.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

__all__ = [
    "CapacityRow",
    "NeedRow",
    "capacity_report",
    "places_free",
    "suppress",
    "unmet_needs_report",
    "week_bounds",
]


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


@dataclass(frozen=True, slots=True)
class CapacityRow:
    service_id: str
    name: str
    organisation: str
    categories: tuple[str, ...]
    ward: str | None
    capacity_per_week: int | None
    proposed: int  # referrals this week for which the matcher proposed the service
    taken: int  # places taken this week by confirmed connections


def _counts(value: int, threshold: int) -> dict[str, int | bool | None]:
    shown = suppress(value, threshold)
    return {"value": shown, "suppressed": shown is None}


def capacity_report(rows: Iterable[CapacityRow], threshold: int) -> dict:
    """Demand against capacity per service and per category, suppressed where small."""
    by_service = []
    categories: dict[str, dict[str, int]] = defaultdict(
        lambda: {"services": 0, "capacity": 0, "proposed": 0, "taken": 0, "full": 0}
    )
    for row in rows:
        free = places_free(row.capacity_per_week, row.taken)
        by_service.append(
            {
                "service_id": row.service_id,
                "name": row.name,
                "organisation": row.organisation,
                "categories": list(row.categories),
                "ward": row.ward,
                "capacity_per_week": row.capacity_per_week,
                "demand": _counts(row.proposed, threshold),
                "places_taken": _counts(row.taken, threshold),
                "places_free": free,
                "full": free == 0,
            }
        )
        for category in row.categories:
            agg = categories[category]
            agg["services"] += 1
            agg["capacity"] += row.capacity_per_week or 0
            agg["proposed"] += row.proposed
            agg["taken"] += row.taken
            agg["full"] += int(free == 0)
    by_category = [
        {
            "category": name,
            "services": agg["services"],
            "capacity_per_week": agg["capacity"],
            "demand": _counts(agg["proposed"], threshold),
            "places_taken": _counts(agg["taken"], threshold),
            "places_free": max(agg["capacity"] - agg["taken"], 0),
            "services_full": agg["full"],
            "demand_over_capacity": agg["proposed"] > agg["capacity"],
        }
        for name, agg in sorted(categories.items())
    ]
    return {"services": by_service, "categories": by_category}


@dataclass(frozen=True, slots=True)
class NeedRow:
    concept: str
    phrase: str
    ward: str | None
    met: bool


def unmet_needs_report(rows: Iterable[NeedRow], threshold: int) -> dict:
    """Needs the matcher could not serve well, by need and by ward, small counts hidden."""
    unmet: dict[str, dict] = {}
    for row in rows:
        if row.met:
            continue
        entry = unmet.setdefault(
            row.concept, {"need": row.concept, "phrases": set(), "total": 0, "wards": {}}
        )
        entry["total"] += 1
        entry["phrases"].add(row.phrase)
        ward = row.ward or "unknown"
        entry["wards"][ward] = entry["wards"].get(ward, 0) + 1
    needs = []
    for entry in sorted(unmet.values(), key=lambda e: -e["total"]):
        needs.append(
            {
                "need": entry["need"],
                # A rare phrase could itself point at someone: show words only in bulk.
                "phrases": sorted(entry["phrases"])[:10] if entry["total"] >= threshold else [],
                "referrals": _counts(entry["total"], threshold),
                "by_ward": [
                    {"ward": ward, "referrals": _counts(n, threshold)}
                    for ward, n in sorted(entry["wards"].items())
                ],
            }
        )
    return {"unmet_needs": needs, "suppression_threshold": threshold}


@dataclass(frozen=True, slots=True)
class DemandRow:
    categories: tuple[str, ...]
    ward: str | None
    met: bool


def demand_by_ward(
    needs: Iterable[DemandRow], services: Iterable[CapacityRow], threshold: int
) -> dict:
    """Per need category and ward: needs found, needs unmet, and local weekly capacity.

    A capacity gap is a category and ward where people's needs went unmet, or where the
    needs found outnumber the places that services based in that ward offer each week.
    """
    cells: dict[tuple[str, str], dict[str, int]] = defaultdict(
        lambda: {"needs": 0, "unmet": 0, "capacity": 0, "free": 0}
    )
    for row in needs:
        for category in row.categories or ("uncategorised",):
            cell = cells[(category, row.ward or "unknown")]
            cell["needs"] += 1
            cell["unmet"] += int(not row.met)
    for service in services:
        if service.ward is None:
            continue  # phone, online and home services serve every ward
        for category in service.categories:
            cell = cells[(category, service.ward)]
            cell["capacity"] += service.capacity_per_week or 0
            cell["free"] += places_free(service.capacity_per_week, service.taken) or 0
    rows = []
    for (category, ward), cell in sorted(cells.items()):
        rows.append(
            {
                "category": category,
                "ward": ward,
                "needs": _counts(cell["needs"], threshold),
                "unmet": _counts(cell["unmet"], threshold),
                "capacity_per_week": cell["capacity"],
                "places_free": cell["free"],
                "gap": cell["unmet"] > 0 or cell["needs"] > cell["capacity"],
            }
        )
    return {"cells": rows, "suppression_threshold": threshold}
