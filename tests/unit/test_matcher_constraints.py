"""Hard constraints are never traded against relevance: each rule has its own test."""

from datetime import date

import pytest

from services.matcher.metrics_eval import hard_constraint_violations
from services.matcher.ranking import (
    MatchIndex,
    MatchRequest,
    ServiceRecord,
    delivery_allowed,
    eligibility_problem,
    is_stale,
    referral_route_note,
    service_from_directory,
)
from services.matcher.replica import record_from_snapshot
from services.matcher.tuning import REPORTED_FACTOR, REPORTS_TO_DEMOTE
from services.matcher.vocabulary import Vocabulary
from shared.events import ServiceSnapshot

VOCABULARY = Vocabulary.load_default()


def service(**overrides) -> ServiceRecord:
    fields = dict(
        id="svc-chat",
        name="Friendship coffee morning",
        description="A friendly coffee morning to meet people if you feel lonely.",
        categories=("social connection",),
        keywords=(),
        organisation_name="Test Org",
        min_age=None,
        max_age=None,
        genders=None,
        delivery=("in_person",),
        lat=51.45,
        lon=0.14,
        ward="Bexleyheath",
        postcode=None,
        languages=("English",),
        accessibility=(),
        referral_route="either",
        capacity_per_week=10,
        places_free=None,
        schedule="Mondays 10am",
        last_confirmed=None,
        temporarily_closed=False,
    )
    fields.update(overrides)
    return ServiceRecord(**fields)


def request(**overrides) -> MatchRequest:
    fields = dict(
        referral_id="r1",
        needs_text="lonely, lives alone",
        age=70,
        gender="female",
        ward="Bexleyheath",
        lat=51.45,
        lon=0.14,
    )
    fields.update(overrides)
    return MatchRequest(**fields)


def proposed(services, **overrides) -> dict[str, bool]:
    result = MatchIndex(VOCABULARY, services).rank(request(**overrides), top=10)
    return {p.service_id: p.waiting_list for p in result.proposals}


def test_age_limits_exclude_people_outside_them():
    svc = service(min_age=50, max_age=80)
    assert eligibility_problem(svc, 49, "female")
    assert eligibility_problem(svc, 81, "female")
    assert eligibility_problem(svc, 50, "female") is None
    assert "svc-chat" not in proposed([svc], age=30)
    assert "svc-chat" in proposed([svc], age=70)


def test_unknown_age_cannot_prove_eligibility_for_an_age_limited_service():
    limited = service(id="limited", min_age=18)
    open_to_all = service(id="open")
    assert eligibility_problem(limited, None, "male")
    assert set(proposed([limited, open_to_all], age=None)) == {"open"}


def test_gender_restrictions_exclude_other_genders():
    women_only = service(id="women", genders=("female",))
    assert eligibility_problem(women_only, 40, "male")
    assert eligibility_problem(women_only, 40, "non-binary")
    assert eligibility_problem(women_only, 40, "female") is None
    assert "women" not in proposed([women_only], gender="male")
    assert "women" not in proposed([women_only], gender="non-binary")
    assert "women" in proposed([women_only], gender="female")


def test_unknown_gender_cannot_prove_eligibility_for_a_gender_restricted_service():
    women_only = service(id="women", genders=("female",))
    anyone = service(id="anyone")
    assert set(proposed([women_only, anyone], gender=None)) == {"anyone"}


def test_a_full_service_is_only_ever_a_flagged_waiting_list_after_available_ones():
    full = service(id="full", capacity_per_week=0, name="Lonely hearts friendship club")
    available = service(id="available")
    result = MatchIndex(VOCABULARY, [full, available]).rank(request(), top=5)
    ids = [p.service_id for p in result.proposals]
    assert ids == ["available", "full"]
    assert result.proposals[1].waiting_list and not result.proposals[0].waiting_list
    assert any("waiting list" in r for r in result.proposals[1].reasons)


def test_places_free_overrides_weekly_capacity():
    svc = service(id="taken", capacity_per_week=10, places_free=0)
    assert proposed([svc]) == {"taken": True}


def test_a_reason_never_says_how_many_places_are_free_only_that_there_are_some():
    # beside the public places a week, places free would tell how many were connected
    svc = service(id="some", capacity_per_week=10, places_free=7)
    reasons = MatchIndex(VOCABULARY, [svc]).rank(request()).proposals[0].reasons
    assert "places free this week" in reasons and not any("7" in r for r in reasons)
    weekly = MatchIndex(VOCABULARY, [service(id="w")]).rank(request()).proposals[0].reasons
    assert "10 places a week" in weekly


def test_delivery_modes_exclude_services_the_person_cannot_use():
    in_person = service(id="hall", delivery=("in_person",))
    phone = service(id="phone", delivery=("phone",), lat=None, lon=None)
    assert not delivery_allowed(in_person, ("phone", "home"))
    assert delivery_allowed(phone, ("phone", "home"))
    assert delivery_allowed(in_person, ())
    assert set(proposed([in_person, phone], delivery_modes=("phone", "home"))) == {"phone"}


def test_a_venue_less_in_person_service_comes_to_the_person():
    record = service_from_directory(
        {"id": "v", "name": "Visits", "delivery": "in_person", "location": None}
    )
    assert "home" in record.delivery


def test_referral_route_rule_is_explicit():
    assert referral_route_note("link_worker") is None
    assert referral_route_note("either") is None
    assert "self-referral" in referral_route_note("self")
    svc = service(referral_route="self")
    result = MatchIndex(VOCABULARY, [svc]).rank(request())
    assert any("self-referral" in r for r in result.proposals[0].reasons)


def test_stale_and_closed_entries_rank_lower_with_a_reason():
    today = date(2025, 6, 1)
    fresh = service(id="fresh", last_confirmed=date(2025, 5, 1))
    stale = service(id="stale", last_confirmed=date(2024, 1, 1))
    closed = service(id="closed", temporarily_closed=True)
    assert is_stale(stale, today) and not is_stale(fresh, today)
    result = MatchIndex(VOCABULARY, [stale, closed, fresh]).rank(request(today=today))
    ids = [p.service_id for p in result.proposals]
    assert ids[0] == "fresh"
    reasons = {p.service_id: " ".join(p.reasons) for p in result.proposals}
    assert "out of date" in reasons["stale"]
    assert "temporarily closed" in reasons["closed"]


def test_an_entry_several_people_report_ranks_lower_with_a_reason():
    one_report = service(id="one", open_reports=1)  # one person may be mistaken
    agreed = service(id="agreed", open_reports=REPORTS_TO_DEMOTE)
    result = MatchIndex(VOCABULARY, [agreed, one_report]).rank(request())
    assert [p.service_id for p in result.proposals] == ["one", "agreed"]
    by_id = {p.service_id: p for p in result.proposals}
    assert by_id["agreed"].breakdown["reported"] == pytest.approx(REPORTED_FACTOR)
    assert "reported" not in by_id["one"].breakdown
    assert f"{REPORTS_TO_DEMOTE} people report it out of date" in " ".join(by_id["agreed"].reasons)
    assert not any("report" in r for r in by_id["one"].reasons)
    alone = MatchIndex(VOCABULARY, [service(id="one")]).rank(request()).proposals[0]
    demoted = MatchIndex(VOCABULARY, [agreed]).rank(request()).proposals[0]
    assert demoted.score == pytest.approx(alone.score * REPORTED_FACTOR, rel=1e-3)


def test_the_directory_s_count_of_reports_reaches_the_ranking():
    snapshot = ServiceSnapshot(
        id="svc-x", organisation_id="org-x", organisation_name="X", name="X", open_reports=3
    )
    assert record_from_snapshot(snapshot).open_reports == 3
    assert service_from_directory({"id": "y"}).open_reports == 0


def test_the_independent_checker_flags_each_kind_of_violation():
    raw = {
        "eligibility": {"min_age": 18, "max_age": 25, "genders": ["female"]},
        "capacity_per_week": 0,
        "delivery": "in_person",
        "location": {"lat": 1},
    }
    referral = {"age": 40, "gender": "male", "delivery_modes": ["phone"]}
    problems = hard_constraint_violations(referral, raw, {"waiting_list": False})
    assert len(problems) == 4
    ok = {"eligibility": {}, "capacity_per_week": 5, "delivery": "phone"}
    assert hard_constraint_violations({"age": 40, "gender": None}, ok, {}) == []


@pytest.mark.parametrize("age", [None, 17, 30, 90])
@pytest.mark.parametrize("gender", [None, "female", "male", "non-binary"])
def test_no_proposal_ever_breaks_eligibility(age, gender):
    services = [
        service(id="a", min_age=18, max_age=25),
        service(id="b", genders=("male",)),
        service(id="c", min_age=65),
        service(id="d"),
        service(id="e", genders=("female", "non-binary"), min_age=18),
    ]
    for sid in proposed(services, age=age, gender=gender):
        svc = next(s for s in services if s.id == sid)
        assert eligibility_problem(svc, age, gender) is None


def test_other_directories_delivery_labels_are_understood():
    from services.matcher.records import normalise_delivery

    assert normalise_delivery("Face to face") == "in_person"
    assert normalise_delivery("Telephone") == "phone"
    assert normalise_delivery("home visits") == "home"
    assert normalise_delivery("Online") == "online"
    assert normalise_delivery("carrier pigeon") == "carrier_pigeon"


def test_other_directories_accessibility_labels_are_understood():
    from services.matcher.records import normalise_access

    assert normalise_access("Wheelchair accessible") == "wheelchair"
    assert normalise_access("step-free access") == "step_free"
    assert normalise_access("Induction loop") == "hearing_loop"
    assert normalise_access("accessible_toilet") == "accessible_toilet"
    assert normalise_access("carers_free") == "carers_free"
    assert normalise_access("bsl") == "bsl"
    assert normalise_access("Guide dogs welcome") == "guide_dogs_welcome"
