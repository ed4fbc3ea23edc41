"""ONS4 and SWEMWBS: validation naming the field, the metric conversion, the change."""

from __future__ import annotations

import pytest

from services.referrals.wellbeing import (
    SWEMWBS_METRIC,
    InvalidMeasure,
    WellbeingRecord,
    change,
    swemwbs_metric,
    validate_ons4,
    validate_swemwbs,
)

ONS4 = {"life_satisfaction": 4, "worthwhile": 5, "happiness": 3, "anxiety": 8}


def test_the_conversion_table_covers_every_raw_total():
    assert sorted(SWEMWBS_METRIC) == list(range(7, 36))
    assert swemwbs_metric([1] * 7) == 7.00
    assert swemwbs_metric([5] * 7) == 35.00
    assert swemwbs_metric([3, 3, 3, 3, 3, 3, 3]) == 19.25  # raw 21
    assert swemwbs_metric([2, 2, 2, 2, 2, 2, 2]) == 15.32  # raw 14


@pytest.mark.parametrize(
    ("scores", "field"),
    [
        ({**ONS4, "anxiety": 11}, "ons4.anxiety"),
        ({**ONS4, "happiness": -1}, "ons4.happiness"),
        ({**ONS4, "worthwhile": 5.5}, "ons4.worthwhile"),
        ({k: v for k, v in ONS4.items() if k != "life_satisfaction"}, "ons4.life_satisfaction"),
        ({**ONS4, "mood": 3}, "ons4.mood"),
    ],
)
def test_bad_ons4_scores_name_the_field(scores, field):
    with pytest.raises(InvalidMeasure) as info:
        validate_ons4(scores)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("items", "field"),
    [([3] * 6, "swemwbs"), ([3, 3, 3, 0, 3, 3, 3], "swemwbs.3"), ([3] * 6 + [6], "swemwbs.6")],
)
def test_bad_swemwbs_items_name_the_field(items, field):
    with pytest.raises(InvalidMeasure) as info:
        validate_swemwbs(items)
    assert info.value.field == field


def test_the_change_counts_less_anxiety_as_an_improvement():
    first = WellbeingRecord("first_contact", ONS4, (2, 2, 2, 2, 2, 2, 2))
    later = WellbeingRecord(
        "follow_up",
        {"life_satisfaction": 7, "worthwhile": 5, "happiness": 6, "anxiety": 4},
        (3, 3, 3, 3, 3, 4, 4),
    )
    result = change(first, later)
    assert result["ons4"]["life_satisfaction"]["difference"] == 3
    assert result["ons4"]["life_satisfaction"]["improved"] is True
    assert result["ons4"]["worthwhile"]["improved"] is False
    assert result["ons4"]["anxiety"] == {
        "from": 8,
        "to": 4,
        "difference": -4,
        "improved": True,
        "lower_is_better": True,
    }
    assert result["swemwbs_metric"] == {"from": 15.32, "to": 20.73, "difference": 5.41}


def test_without_swemwbs_at_both_stages_there_is_no_metric_change():
    first = WellbeingRecord("first_contact", ONS4, None)
    later = WellbeingRecord("follow_up", ONS4, (3,) * 7)
    assert change(first, later)["swemwbs_metric"] is None


def test_unanswered_items_say_so_plainly():
    with pytest.raises(InvalidMeasure, match="not answered: answer all 7 items, or none"):
        validate_swemwbs([3, 3, None, 3, 3, 3, 3])
