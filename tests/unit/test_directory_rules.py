"""The directory's rules: capacity weeks, places free, small-number suppression."""

from __future__ import annotations

from datetime import date

from services.directory.domain import (
    availability,
    places_free,
    places_free_to_show,
    suppress,
    week_bounds,
)
from services.directory.insights import Period, PeriodError, period_for, publish_figures


def test_capacity_is_counted_monday_to_sunday():
    assert week_bounds(date(2026, 11, 25)) == (date(2026, 11, 23), date(2026, 11, 29))
    assert week_bounds(date(2026, 11, 23))[0] == date(2026, 11, 23)


def test_places_free_never_goes_below_zero_and_unlimited_stays_unknown():
    assert places_free(10, 3) == 7
    assert places_free(2, 5) == 0
    assert places_free(None, 5) is None


def test_a_group_that_says_full_or_waiting_list_has_no_places_whatever_its_count():
    for taking in ("full", "waiting_list"):
        assert places_free(10, 0, taking) == 0
        assert places_free(None, 0, taking) == 0
    assert availability(10, 0, 5, "full") == "full"
    assert availability(10, 0, 5, "waiting_list") == "waiting list"
    assert availability(10, 10, 5) == "full"
    assert availability(10, 7, 5) == "few places"
    assert availability(None, 7, 5) == "no limit"
    assert availability(20, 2, 5) == "places available"


def test_places_free_are_not_shown_where_capacity_minus_them_is_a_suppressed_count():
    assert places_free_to_show(20, 0, 5) == 20  # nobody connected: nothing to hide
    assert places_free_to_show(20, 3, 5) is None  # 20 - 17 would say 3 people
    assert places_free_to_show(20, 5, 5) == 15
    assert places_free_to_show(None, 3, 5) is None
    assert places_free_to_show(20, 3, 5, "full") == 0  # the group's own word reveals nothing


def test_small_counts_are_suppressed_but_zero_and_large_are_shown():
    assert suppress(0, 5) == 0
    assert suppress(1, 5) is None
    assert suppress(4, 5) is None
    assert suppress(5, 5) == 5


def test_small_months_are_left_out_and_the_figure_says_it_is_a_lower_bound():
    monthly = {"a": {"2026-07": 8, "2026-08": 3}, "b": {"2026-07": 2}, "c": {"2026-07": 0}}
    shown = publish_figures(monthly, [], ["2026-07", "2026-08"], threshold=5)
    assert shown["a"] == {"value": 8, "suppressed": False, "at_least": True}
    assert shown["b"] == {"value": None, "suppressed": True, "at_least": False}
    assert shown["c"] == {"value": 0, "suppressed": False, "at_least": False}


def test_a_line_with_a_total_never_has_a_lone_suppressed_cell_or_a_sum_of_ones():
    month = ["2026-07"]
    line = (["w1", "w2", "w3"], "total")
    lone = {
        "w1": {"2026-07": 2},
        "w2": {"2026-07": 9},
        "w3": {"2026-07": 6},
        "total": {"2026-07": 17},
    }
    shown = publish_figures(lone, [line], month, threshold=5)
    assert shown["w1"]["suppressed"] and shown["w3"]["suppressed"] and not shown["w2"]["suppressed"]
    ones = {
        "w1": {"2026-07": 1},
        "w2": {"2026-07": 1},
        "w3": {"2026-07": 6},
        "total": {"2026-07": 8},
    }
    shown = publish_figures(ones, [line], month, threshold=5)
    assert shown["w3"]["suppressed"], "1 + 1 hidden beside a total would say both are 1"


def test_periods_are_whole_months_and_the_previous_one_is_as_long():
    today = date(2026, 11, 25)
    assert period_for(today, "this_month") == Period(date(2026, 11, 1), 1)
    assert period_for(today, "last_quarter") == Period(date(2026, 7, 1), 3)
    twelve = period_for(today, "last_12_months")
    assert (twelve.first, twelve.last) == (date(2025, 12, 1), date(2026, 11, 30))
    assert twelve.previous() == Period(date(2024, 12, 1), 12)
    snapped = period_for(today, start=date(2026, 2, 14), end=date(2026, 3, 2))
    assert (snapped.first, snapped.last, snapped.months) == (date(2026, 2, 1), date(2026, 3, 31), 2)


def test_a_period_must_have_both_ends_in_order():
    for start, end, field in [
        (date(2026, 2, 1), None, "to"),
        (None, date(2026, 2, 1), "from"),
        (date(2026, 3, 1), date(2026, 2, 1), "to"),
    ]:
        try:
            period_for(date(2026, 11, 25), start=start, end=end)
        except PeriodError as exc:
            assert exc.field == field
        else:
            raise AssertionError("accepted a bad period")
