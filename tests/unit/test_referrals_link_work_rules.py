"""Duplicate referrals, the worklist order, contact flags and what became of a referral."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from services.referrals.domain import (
    DuplicatePolicy,
    KnownReferral,
    Status,
    best_outcome,
    contact_flag,
    find_duplicate,
    person_declined,
    waiting_days,
    worklist_key,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def referral(**overrides) -> KnownReferral:
    values = {
        "id": "r1",
        "practice_ods": "G83001",
        "nhs_number": "9434765919",
        "given_name": "Margaret",
        "family_name": "Okafor",
        "birth_date": date(1948, 3, 2),
        "needs_text": "lonely since husband died in March, loves gardening",
        "created_at": NOW - timedelta(days=3),
        "status": Status.SUBMITTED,
    }
    values.update(overrides)
    return KnownReferral(**values)


def new(**overrides) -> KnownReferral:
    return referral(id="", created_at=NOW, **overrides)


def test_the_same_nhs_number_with_similar_needs_is_a_duplicate():
    found = find_duplicate(new(needs_text="lonely, husband died, likes gardening"), [referral()])
    assert found is not None
    assert found.id == "r1"
    assert "same NHS number" in found.reason


def test_a_misspelt_name_with_the_same_birth_date_is_the_same_person():
    found = find_duplicate(
        new(nhs_number="4010232137", given_name="Margret", family_name="Okafor"), [referral()]
    )
    assert found is not None and "similar name" in found.reason


def test_a_different_person_born_the_same_day_is_not_a_duplicate():
    assert (
        find_duplicate(
            new(nhs_number="4010232137", given_name="John", family_name="Smith"), [referral()]
        )
        is None
    )


def test_different_needs_make_a_new_referral():
    assert find_duplicate(new(needs_text="debt advice about rent arrears"), [referral()]) is None


def test_another_practice_closed_referrals_and_old_ones_do_not_count():
    assert find_duplicate(new(), [referral(practice_ods="G83002")]) is None
    assert find_duplicate(new(), [referral(status=Status.CLOSED)]) is None
    assert find_duplicate(new(), [referral(created_at=NOW - timedelta(days=15))]) is None
    wide = DuplicatePolicy(window_days=30)
    assert find_duplicate(new(), [referral(created_at=NOW - timedelta(days=15))], wide) is not None


def test_the_most_recent_open_referral_is_the_one_pointed_to():
    older = referral(id="old", created_at=NOW - timedelta(days=10))
    newer = referral(id="newer", created_at=NOW - timedelta(days=1))
    assert find_duplicate(new(), [older, newer]).id == "newer"


def test_the_worklist_puts_urgent_first_then_the_longest_waiting():
    items = [
        ("routine", NOW - timedelta(days=20)),
        ("urgent", NOW - timedelta(days=1)),
        ("soon", NOW - timedelta(days=5)),
        ("urgent", NOW - timedelta(days=3)),
    ]
    ordered = sorted(items, key=lambda i: worklist_key(*i))
    assert [(u, waiting_days(c, NOW)) for u, c in ordered] == [
        ("urgent", 3),
        ("urgent", 1),
        ("soon", 5),
        ("routine", 20),
    ]


def test_three_failed_contact_attempts_flag_the_referral():
    assert contact_flag(["no_answer", "left_message"]) is None
    assert contact_flag(["no_answer", "left_message", "no_answer"]) == (
        "3 contact attempts without reaching the person"
    )


def test_reaching_the_person_clears_the_flag_and_a_wrong_number_flags_at_once():
    assert contact_flag(["no_answer", "no_answer", "no_answer", "reached"]) is None
    assert "wrong number" in contact_flag(["wrong_number"])


def test_the_best_outcome_and_declining_everything():
    assert best_outcome(["did_not_attend", "attended", None]) == "attended"
    assert best_outcome([None]) is None
    assert person_declined([], ["no_answer", "declined"])
    assert person_declined(["declined_by_patient"], [])
    assert not person_declined(["declined_by_patient", "attended"], ["declined"])
    assert not person_declined([], ["reached"])
