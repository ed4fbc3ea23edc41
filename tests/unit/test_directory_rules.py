"""The directory's rules: capacity weeks, places free, small-number suppression."""

from __future__ import annotations

from datetime import date

from services.directory.domain import (
    CapacityRow,
    DemandRow,
    NeedRow,
    capacity_report,
    demand_by_ward,
    places_free,
    suppress,
    unmet_needs_report,
    week_bounds,
)


def test_capacity_is_counted_monday_to_sunday():
    assert week_bounds(date(2026, 11, 25)) == (date(2026, 11, 23), date(2026, 11, 29))
    assert week_bounds(date(2026, 11, 23))[0] == date(2026, 11, 23)


def test_places_free_never_goes_below_zero_and_unlimited_stays_unknown():
    assert places_free(10, 3) == 7
    assert places_free(2, 5) == 0
    assert places_free(None, 5) is None


def test_small_counts_are_suppressed_but_zero_and_large_are_shown():
    assert suppress(0, 5) == 0
    assert suppress(1, 5) is None
    assert suppress(4, 5) is None
    assert suppress(5, 5) == 5


def _row(service_id, categories, capacity, proposed, taken):
    return CapacityRow(
        service_id, service_id, "Org", categories, "Erith", capacity, proposed, taken
    )


def test_capacity_report_adds_up_by_category_and_flags_demand_over_capacity():
    report = capacity_report(
        [
            _row("a", ("food",), 10, 12, 10),
            _row("b", ("food", "money and debt"), 0, 6, 0),
        ],
        threshold=5,
    )
    food = next(c for c in report["categories"] if c["category"] == "food")
    assert food["capacity_per_week"] == 10
    assert food["demand"] == {"value": 18, "suppressed": False}
    assert food["services_full"] == 2
    assert food["demand_over_capacity"] is True
    money = next(c for c in report["categories"] if c["category"] == "money and debt")
    assert money["places_taken"] == {"value": 0, "suppressed": False}
    service_a = report["services"][0]
    assert service_a["full"] is True and service_a["places_free"] == 0


def test_unmet_needs_are_grouped_and_rare_ones_reveal_no_words():
    rows = [NeedRow("immigration advice", "immigration appeal", "Erith", False)] * 6
    rows += [NeedRow("court interpreter", "bsl interpreter for court", "Crayford", False)]
    rows += [NeedRow("loneliness", "lonely", "Erith", True)]
    report = unmet_needs_report(rows, threshold=5)
    needs = {n["need"]: n for n in report["unmet_needs"]}
    assert set(needs) == {"immigration advice", "court interpreter"}
    assert needs["immigration advice"]["referrals"]["value"] == 6
    assert needs["immigration advice"]["phrases"] == ["immigration appeal"]
    assert needs["court interpreter"]["referrals"] == {"value": None, "suppressed": True}
    assert needs["court interpreter"]["phrases"] == []


def test_demand_by_ward_finds_gaps_where_needs_outnumber_local_places():
    needs = [DemandRow(("money and debt",), "Erith", True)] * 6
    needs += [DemandRow(("housing",), "Erith", False)]
    services = [
        _row("advice", ("money and debt",), 4, 0, 1),
        CapacityRow("helpline", "helpline", "Org", ("money and debt",), None, 50, 0, 0),
    ]
    cells = {
        (c["category"], c["ward"]): c for c in demand_by_ward(needs, services, threshold=5)["cells"]
    }
    debt = cells[("money and debt", "Erith")]
    assert debt["needs"] == {"value": 6, "suppressed": False}
    assert debt["capacity_per_week"] == 4, "ward-less services are not counted as local"
    assert debt["places_free"] == 3
    assert debt["gap"] is True
    housing = cells[("housing", "Erith")]
    assert housing["unmet"] == {"value": None, "suppressed": True}
    assert housing["gap"] is True
