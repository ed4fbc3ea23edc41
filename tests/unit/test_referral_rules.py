"""The referral's rules: NHS numbers, postcodes, ages, and the state machine."""

from __future__ import annotations

from datetime import date

import pytest

from services.referrals.domain import (
    Action,
    IllegalTransition,
    Status,
    age_band,
    age_on,
    allowed_actions,
    coarse,
    is_valid_nhs_number,
    normalise_postcode,
    transition,
)


@pytest.mark.parametrize("number", ["9434765919", "943 476 5919", "4010232137"])
def test_valid_nhs_numbers_pass_the_modulus_11_check(number):
    assert is_valid_nhs_number(number)


@pytest.mark.parametrize(
    "number",
    ["9434765918", "943476591", "94347659190", "abcdefghij", "", "1000000010"],
)
def test_invalid_nhs_numbers_are_refused(number):
    assert not is_valid_nhs_number(number)


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("da67jr", "DA6 7JR"),
        ("DA6 7JR", "DA6 7JR"),
        (" se2  9aa ", "SE2 9AA"),
        ("EC1A1BB", "EC1A 1BB"),
    ],
)
def test_postcodes_are_normalised(raw, normal):
    assert normalise_postcode(raw) == normal


@pytest.mark.parametrize("raw", ["", "DA6", "12345", "DA6 7J", "ZZZ 999"])
def test_non_postcodes_are_refused(raw):
    assert normalise_postcode(raw) is None


def test_age_counts_whole_years_up_to_the_day():
    assert age_on(date(2000, 6, 15), date(2018, 6, 14)) == 17
    assert age_on(date(2000, 6, 15), date(2018, 6, 15)) == 18


def test_age_bands_and_coarse_locations_hide_detail():
    assert age_band(19) == "18-24"
    assert age_band(27) == "25-29"
    assert age_band(72) == "70-79"
    assert age_band(90) == "85+"
    assert coarse(51.454013) == 51.45


def test_the_happy_path_through_the_state_machine():
    status = Status.SUBMITTED
    for action, expected in [
        (Action.PROPOSE, Status.MATCHES_PROPOSED),
        (Action.CONTACT, Status.CONTACTED),
        (Action.CONNECT, Status.CONNECTED),
        (Action.RECORD_OUTCOME, Status.CONNECTED),
        (Action.CLOSE, Status.CLOSED),
    ]:
        status = transition(status, action)
        assert status is expected


def test_an_illegal_transition_names_the_allowed_ones():
    with pytest.raises(IllegalTransition) as info:
        transition(Status.SUBMITTED, Action.RECORD_OUTCOME)
    assert Action.CONNECT in info.value.allowed
    assert "allowed: propose" in str(info.value)


def test_nothing_is_allowed_once_closed():
    assert allowed_actions(Status.CLOSED) == ()
    with pytest.raises(IllegalTransition, match="closed"):
        transition(Status.CLOSED, Action.CONNECT)


def test_need_categories_must_come_from_the_pick_list():
    from pydantic import ValidationError

    from services.referrals.schemas import NeedsEdit

    assert NeedsEdit(need_categories=["Money and Debt"]).need_categories == ["money and debt"]
    with pytest.raises(ValidationError, match="not on the pick-list: astrology"):
        NeedsEdit(need_categories=["astrology"])
