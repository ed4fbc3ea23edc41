"""Ranking: needs served as a mix, soft preferences, explanations, unmet needs, the index."""

import math
import threading

from services.matcher.ranking import (
    MatchIndex,
    MatchRequest,
    ServiceRecord,
    service_from_directory,
    ward_centroids,
)
from services.matcher.vocabulary import Vocabulary
from tests.unit.test_matcher_constraints import service as constraint_service

VOCABULARY = Vocabulary.load_default()


def service(
    sid: str, name: str, description: str, categories: tuple[str, ...], **kw
) -> ServiceRecord:
    """An adult (18+) service with room for 20 a week, unless ``kw`` says otherwise."""
    defaults = {"organisation_name": "", "min_age": 18, "capacity_per_week": 20, "schedule": ""}
    return constraint_service(
        **{
            "id": sid,
            "name": name,
            "description": description,
            "categories": categories,
            **defaults,
            **kw,
        }
    )


DIRECTORY = [
    service(
        "debt",
        "Debt and money advice",
        "Help with debts, arrears, bailiffs and council tax.",
        ("money and debt",),
    ),
    service(
        "benefits",
        "Benefits and Universal Credit help",
        "Check what you're entitled to.",
        ("money and debt",),
    ),
    service(
        "jobs",
        "One-to-one job coaching",
        "A work coach helps with CVs and interviews.",
        ("employment and skills",),
    ),
    service(
        "coffee",
        "Coffee morning",
        "Meet people and make new friends over coffee.",
        ("social connection",),
    ),
    service(
        "coffee-far",
        "Coffee morning far away",
        "Meet people and make new friends.",
        ("social connection",),
        lat=53.48,
        lon=-2.24,
        ward="Manchester",
    ),
    service(
        "phone",
        "Telephone befriending",
        "A volunteer rings you every week for a chat. Ideal if you are housebound.",
        ("social connection",),
        delivery=("phone",),
        lat=None,
        lon=None,
        ward=None,
    ),
    service(
        "punjabi",
        "Seniors lunch club",
        "Lunch and conversation for older people.",
        ("social connection", "food"),
        languages=("Punjabi", "English"),
        lat=51.46,
    ),
    service(
        "garden", "Community garden", "Grow vegetables with others.", ("nature and gardening",)
    ),
]


def rank(text: str, top: int = 5, **kw):
    fields = dict(
        referral_id="r",
        needs_text=text,
        age=45,
        gender="male",
        ward="Bexleyheath",
        lat=51.45,
        lon=0.14,
    )
    fields.update(kw)
    return MatchIndex(VOCABULARY, DIRECTORY).rank(MatchRequest(**fields), top=top)


def test_each_need_of_a_multi_need_referral_is_served():
    result = rank("bills piling up since redundancy", top=3)
    ids = [p.service_id for p in result.proposals]
    assert "debt" in ids[:2] and "jobs" in ids[:3]


def test_closer_services_rank_above_distant_ones():
    ids = [p.service_id for p in rank("lonely, no friends").proposals]
    assert ids.index("coffee") < ids.index("coffee-far") if "coffee-far" in ids else True
    assert "coffee" in ids


def test_housebound_people_get_services_that_reach_them():
    result = rank("lonely and housebound")
    assert result.proposals[0].service_id == "phone"


def test_a_shared_language_lifts_a_service():
    plain = [p.service_id for p in rank("lonely", age=75).proposals]
    punjabi = [p.service_id for p in rank("lonely", age=75, languages=("Punjabi",)).proposals]
    assert punjabi.index("punjabi") <= plain.index("punjabi")
    assert punjabi[0] == "punjabi"


def test_every_proposal_explains_itself():
    result = rank("lonley, likes gardening")
    for proposal in result.proposals:
        assert proposal.reasons
        assert proposal.score > 0.0
        assert proposal.need and proposal.concept
    garden = next(p for p in result.proposals if p.service_id == "garden")
    assert "gardening" in garden.reasons[0]
    assert any("km away" in r for r in garden.reasons)


def test_a_need_nobody_meets_is_reported_by_its_phrase():
    result = rank("Finished radiotherapy for prostate cancer, wants a group with other men")
    assert "prostate cancer" in result.unmet_needs


def test_structured_need_categories_add_needs():
    result = rank("", need_categories=("Money & debt",))
    assert result.proposals and result.proposals[0].service_id in {"debt", "benefits"}


def test_no_needs_found_gives_no_proposals():
    assert rank("").proposals == ()


def test_upsert_replaces_and_remove_deletes():
    index = MatchIndex(VOCABULARY, DIRECTORY)
    request = MatchRequest("r", "lonely", 45, "male", None, 51.45, 0.14)
    index.upsert(
        service(
            "coffee", "Coffee morning", "Now full.", ("social connection",), capacity_per_week=0
        )
    )
    coffee = [p for p in index.rank(request, top=10).proposals if p.service_id == "coffee"]
    assert coffee and coffee[0].waiting_list
    index.remove("coffee")
    assert index.get("coffee") is None
    assert "coffee" not in [p.service_id for p in index.rank(request, top=10).proposals]
    assert len(index) == len(DIRECTORY) - 1


def test_many_updates_compact_the_index_without_losing_services():
    index = MatchIndex(VOCABULARY, DIRECTORY)
    for _ in range(400):
        for record in DIRECTORY:
            index.upsert(record)
    assert len(index) == len(DIRECTORY)
    assert len(index._table.records) < 5 * 400 * len(DIRECTORY)
    request = MatchRequest("r", "debt", 45, "male", None, 51.45, 0.14)
    assert index.rank(request).proposals[0].service_id == "debt"


def test_reads_are_safe_while_directory_events_arrive():
    index = MatchIndex(VOCABULARY, DIRECTORY)
    request = MatchRequest("r", "lonely and in debt", 45, "male", None, 51.45, 0.14)
    errors: list[Exception] = []

    def reader() -> None:
        try:
            for _ in range(200):
                index.rank(request)
        except Exception as error:  # pragma: no cover - the assertion reports it
            errors.append(error)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    for i in range(2000):
        index.upsert(
            service(f"extra-{i}", "Friendship club", "Meet people.", ("social connection",))
        )
    for thread in threads:
        thread.join()
    assert not errors


def test_directory_mapping_tolerates_missing_and_unknown_fields():
    record = service_from_directory(
        {
            "id": "x",
            "name": "X",
            "categories": "Mystery category",
            "status": "temporarily_closed",
            "last_confirmed": "2024-02-03T10:00:00",
            "places_free": 3,
            "shiny_new_field": 1,
            "eligibility": {"genders": []},
        },
        {"name": "Org"},
    )
    assert record.categories == ("Mystery category",)
    assert record.temporarily_closed and record.places_free == 3
    assert record.last_confirmed.isoformat() == "2024-02-03"
    assert record.genders is None and record.organisation_name == "Org"
    index = MatchIndex(VOCABULARY, [record])
    assert len(index) == 1


def test_ward_centroids_average_service_locations():
    directory = {
        "organisations": [
            {
                "services": [
                    {"location": {"ward": "W", "lat": 1.0, "lon": 2.0}},
                    {"location": {"ward": "W", "lat": 3.0, "lon": 4.0}},
                    {"location": None},
                ]
            }
        ]
    }
    assert ward_centroids(directory) == {"W": (2.0, 3.0)}


def test_a_group_for_one_audience_is_not_proposed_first_to_others():
    directory = [
        service(
            "sight",
            "Sight loss social club",
            "Tea and talking newspapers for people with sight loss. Meet people.",
            ("sensory impairment", "social connection"),
        ),
        service(
            "lunch",
            "Community lunch club",
            "A hot lunch and a chance to meet people and make new friends.",
            ("social connection", "food"),
        ),
    ]
    request = MatchRequest("r", "lonely since moving here", 70, "female", None, 51.45, 0.14)
    ranked = [p.service_id for p in MatchIndex(VOCABULARY, directory).rank(request).proposals]
    assert ranked[0] == "lunch"
    request = MatchRequest("r", "lonely, glaucoma", 70, "female", None, 51.45, 0.14)
    ranked = [p.service_id for p in MatchIndex(VOCABULARY, directory).rank(request).proposals]
    assert ranked[0] == "sight"


def test_a_service_in_an_unfamiliar_category_is_still_found():
    directory = [
        service("vets", "Breakfast club", "Full English and banter.", ("veterans",)),
        service("coffee", "Coffee morning", "Meet people.", ("social connection",)),
    ]
    request = MatchRequest("r", "ex-army, struggling since leaving", 55, "male", None, 51.45, 0.14)
    ranked = [p.service_id for p in MatchIndex(VOCABULARY, directory).rank(request).proposals]
    assert ranked[0] == "vets"


def test_a_specific_interest_is_matched_by_the_activity_not_just_its_category():
    directory = [
        service("knit", "Knit and natter", "Knitting, crochet and a cuppa.", ("arts and culture",)),
        service(
            "drama",
            "Adult drama group",
            "Improvisation, scene work and an annual show.",
            ("arts and culture",),
        ),
    ]
    request = MatchRequest(
        "r", "Wants to meet people. Trained in drama.", 37, "female", None, 51.45, 0.14
    )
    ranked = [p.service_id for p in MatchIndex(VOCABULARY, directory).rank(request).proposals]
    assert ranked[0] == "drama"


def test_someone_elses_job_loss_does_not_lead_the_list():
    ranked = [p.service_id for p in rank("Husband made redundant, money v tight").proposals]
    assert ranked[0] == "debt"
    assert "jobs" not in ranked[:2]


def test_the_main_need_gets_a_second_service_before_a_passing_mention():
    directory = [
        *DIRECTORY,
        service(
            "lunch",
            "Lunch club",
            "A hot lunch, meet people, make new friends.",
            ("social connection",),
        ),
    ]
    request = MatchRequest(
        "r", "Very lonely, no friends. Maybe a bit of gardening", 70, "female", None, 51.45, 0.14
    )
    ranked = [p.service_id for p in MatchIndex(VOCABULARY, directory).rank(request).proposals]
    assert {"coffee", "lunch"} <= set(ranked[:2])


def test_a_group_for_a_narrower_audience_is_held_back_from_the_wider_one():
    directory = [
        service(
            "suicide",
            "Bereavement support after suicide",
            "A bereavement group for adults bereaved or affected by suicide.",
            ("bereavement",),
        ),
        service(
            "cafe",
            "Bereavement cafe",
            "Tea and a chat after a death.",
            ("bereavement", "social connection"),
        ),
    ]
    index = MatchIndex(VOCABULARY, directory)

    def suicide_group(text: str):
        request = MatchRequest("r", text, 65, "male", None, 51.45, 0.14)
        return next(p for p in index.rank(request).proposals if p.service_id == "suicide")

    widower = suicide_group("Widower, wife d. (ca) in May")
    assert widower.score < 0.7
    assert any("meant for bereaved by suicide" in r for r in widower.reasons)
    father = suicide_group("Son took his own life in May")
    assert father.score > 0.8
    assert not any("meant for" in r for r in father.reasons)


def test_an_age_group_alone_does_not_make_someone_part_of_a_carers_group():
    directory = [
        service(
            "young-carers",
            "Young adult carers",
            "A social group for young carers who look after someone at home. Meet people.",
            ("carers", "young adults", "social connection"),
            max_age=25,
        ),
        service(
            "hub", "Young adults' drop-in", "Hang out, play pool, meet people.", ("young adults",)
        ),
    ]
    request = MatchRequest(
        "r", "22, dropped out of college, lonely", 22, "female", None, 51.45, 0.14
    )
    ranked = [p.service_id for p in MatchIndex(VOCABULARY, directory).rank(request).proposals]
    assert ranked[0] == "hub"


def test_a_service_for_young_adults_comes_before_a_general_one_for_a_young_person():
    directory = [
        service(
            "coaching",
            "Job coaching",
            "A work coach helps unemployed people find work: CVs, interviews, applications.",
            ("employment and skills",),
        ),
        service(
            "youth-jobs",
            "Next steps",
            "Mentoring into work, training or college.",
            ("employment and skills",),
            max_age=25,
        ),
    ]
    index = MatchIndex(VOCABULARY, directory)
    young = MatchRequest("r", "unemployed for a year", 21, "male", None, 51.45, 0.14)
    older = MatchRequest("r", "unemployed for a year", 45, "male", None, 51.45, 0.14)
    assert index.rank(young).proposals[0].service_id == "youth-jobs"
    assert index.rank(older).proposals[0].service_id == "coaching"


def test_an_eligibility_band_marks_a_service_for_later_life_without_the_category():
    directory = [
        service("club", "Lunch club", "Lunch and company, meet people.", ("social connection",)),
        service(
            "seniors",
            "Lunch club",
            "Lunch and company, meet people.",
            ("social connection",),
            min_age=65,
        ),
    ]
    request = MatchRequest("r", "lonely", 82, "female", None, 51.45, 0.14)
    assert MatchIndex(VOCABULARY, directory).rank(request).proposals[0].service_id == "seniors"


def test_someone_who_cannot_get_out_is_still_offered_a_group_that_fits_them_closely():
    directory = [
        service(
            "lung-singing",
            "Singing for lung health",
            "Breathing exercises and songs for people with COPD or who get breathless.",
            ("long-term conditions", "arts and culture"),
        ),
        service(
            "phone-chat",
            "Phone friend",
            "A volunteer rings you every week for a chat.",
            ("social connection",),
            delivery=("phone",),
            lat=None,
            lon=None,
            ward=None,
        ),
    ]
    request = MatchRequest(
        "r", "COPD, rarely gets out now, misses singing, lonely", 70, "female", None, 51.45, 0.14
    )
    ranked = [p.service_id for p in MatchIndex(VOCABULARY, directory).rank(request).proposals]
    assert set(ranked) == {"lung-singing", "phone-chat"}


def test_health_conditions_favour_gentle_activity_over_vigorous_unless_it_is_their_interest():
    directory = [
        service(
            "bootcamp",
            "Park bootcamp",
            "High intensity circuits and running to get fit and meet people.",
            ("physical activity",),
        ),
        service(
            "chair",
            "Seated exercise",
            "Gentle chair-based exercise at your own pace to get active and meet people.",
            ("physical activity",),
        ),
    ]
    index = MatchIndex(VOCABULARY, directory)

    def ranked(text: str, age: int) -> list[str]:
        request = MatchRequest("r", text, age, "female", None, 51.45, 0.14)
        return [p.service_id for p in index.rank(request).proposals]

    assert ranked("COPD, GP wants her more active", 58)[0] == "chair"
    reasons = index.rank(MatchRequest("r", "COPD, more active", 58, "female", None, 51.45, 0.14))
    assert any("gentle" in r for r in reasons.proposals[0].reasons)
    assert ranked("wants to get fit, used to love running", 58)[0] == "bootcamp"


def test_declining_counselling_holds_back_therapy_and_not_wanting_to_talk_holds_back_talk_groups():
    directory = [
        service(
            "counselling",
            "Counselling for low mood",
            "One-to-one counselling for depression and low mood.",
            ("mental wellbeing",),
        ),
        service(
            "peer",
            "Peer support group for low mood",
            "A support group: share experiences of depression and low mood with others.",
            ("mental wellbeing",),
        ),
        service(
            "walk",
            "Walking group for low mood",
            "A weekly walk in the park, good for depression and low mood.",
            ("physical activity", "mental wellbeing"),
        ),
    ]
    index = MatchIndex(VOCABULARY, directory)

    def ranked(text: str) -> list[str]:
        request = MatchRequest("r", text, 40, "male", None, 51.45, 0.14)
        return [p.service_id for p in index.rank(request).proposals]

    declined = ranked("depression, declines counselling")
    assert declined.index("peer") < declined.index("counselling")
    no_talk = ranked("depression, doesn't want to sit in a circle talking about feelings")
    assert no_talk[0] == "walk"
    reasons = index.rank(
        MatchRequest("r", "low mood, declined counselling", 40, "male", None, 51.45, 0.14)
    )
    counselling = next(p for p in reasons.proposals if p.service_id == "counselling")
    assert any("declined" in r for r in counselling.reasons)


def test_low_mood_beside_its_cause_is_met_by_help_with_the_cause_first():
    directory = [
        service(
            "mood",
            "Low mood group",
            "A group for people with depression and low mood.",
            ("mental wellbeing",),
        ),
        service(
            "carers",
            "Carers support",
            "Support for unpaid carers looking after someone.",
            ("carers",),
        ),
    ]
    request = MatchRequest(
        "r",
        "tearful and low mood, full-time carer for her husband",
        60,
        "female",
        None,
        51.45,
        0.14,
    )
    ranked = [p.service_id for p in MatchIndex(VOCABULARY, directory).rank(request).proposals]
    assert ranked[0] == "carers"


def test_a_sign_language_club_is_for_bsl_users_not_everyone_hard_of_hearing():
    directory = [
        service(
            "deaf-club",
            "Deaf social club",
            "A weekly social for Deaf adults, run in British Sign Language.",
            ("social connection",),
        ),
        service(
            "lipreading",
            "Lipreading and managing hearing loss",
            "Learn to lipread and follow conversations with hearing loss; meet others.",
            ("social connection",),
        ),
    ]
    index = MatchIndex(VOCABULARY, directory)

    def first(text: str, **kw) -> str:
        request = MatchRequest("r", text, 72, "male", None, 51.45, 0.14, **kw)
        return index.rank(request).proposals[0].service_id

    assert first("hard of hearing, can't follow conversations, lonely") == "lipreading"
    assert first("profoundly deaf, lonely", languages=("BSL",)) == "deaf-club"


def test_the_scores_shown_follow_the_order_of_the_proposals():
    """A link worker reading 0.78 above 0.90 cannot trust either: the score is what the
    order follows (what each service adds to the ones above it), waiting lists last."""
    full = service(
        "full", "Friendship club", "Make friends.", ("social connection",), capacity_per_week=0
    )
    index = MatchIndex(VOCABULARY, [*DIRECTORY, full])
    for text in ("lonely, bills piling up since redundancy, likes gardening", "lonely"):
        request = MatchRequest("r", text, 45, "male", None, 51.45, 0.14)
        scores = [p.score for p in index.rank(request, top=8).proposals]
        assert len(scores) >= 3
        assert scores == sorted(scores, reverse=True)


def test_each_score_is_its_relevance_times_the_factors_in_its_breakdown():
    result = rank("lonely, bills piling up since redundancy", languages=("Punjabi",), age=75)
    assert result.proposals
    for proposal in result.proposals:
        parts = proposal.breakdown
        assert {"relevance", "distance", "language", "accessibility", "schedule"} <= set(parts)
        assert {"freshness", "capacity"} <= set(parts)
        assert any(name.startswith("fit: ") for name in parts)
        factors = [v for k, v in parts.items() if not k.startswith("fit: ") and k != "relevance"]
        assert math.isclose(parts["relevance"] * math.prod(factors), proposal.score, abs_tol=2e-3)
    punjabi = next(p for p in result.proposals if p.service_id == "punjabi")
    assert punjabi.breakdown["language"] > 1.0


def test_words_no_need_was_found_in_are_reported_without_names_or_numbers():
    result = rank(
        "Lonely since his wife died; loves sailing and rowing. Misses his friend Doreen,"
        " tel 07700 900123, doreen.smith@example.org. Also likes bagpipes."
    )
    assert "sailing and rowing" in result.unrecognised
    assert "bagpipes" in result.unrecognised
    joined = " ".join(result.unrecognised)
    assert "doreen" not in joined and "07700" not in joined and "example" not in joined
    assert not any(word in joined.split() for word in ("loves", "likes", "lonely", "also"))


def test_a_practical_need_in_words_the_vocabulary_does_not_know_is_reported_unmet():
    result = rank("lonely, and needs someone to collect his prescriptions")
    assert result.proposals  # the loneliness is still met
    assert "collect his prescriptions" in result.unmet_needs
    nothing = rank("Has trouble with the bins.")
    assert nothing.proposals == () and nothing.unmet_needs == ("bins",)


def test_an_index_is_given_its_vocabulary_rather_than_loading_files_itself():
    import inspect

    assert inspect.signature(MatchIndex).parameters["vocabulary"].default is inspect._empty


def test_ranking_takes_no_lock_while_a_refresh_holds_the_live_index():
    from services.matcher.replica import LiveIndex

    live = LiveIndex(MatchIndex(VOCABULARY, DIRECTORY))
    request = MatchRequest("r", "lonely", 45, "male", None, 51.45, 0.14)
    with live._lock:  # as a refresh applying directory changes does
        assert live.rank(request, top=3).proposals


def test_a_wheelchair_user_who_wants_sport_is_offered_the_adapted_sport_first():
    directory = [
        service("run", "Park run club", "A friendly running club for all.", ("physical activity",)),
        service("football", "Football for fitness", "Kick-about football sessions.", ("sport",)),
        service(
            "adapted",
            "Wheelchair basketball",
            "Sport for wheelchair users and people with limited mobility.",
            ("sport",),
        ),
    ]
    request = MatchRequest(
        "r", "wheelchair user, would love to get into sport", 30, "male", None, 51.45, 0.14
    )
    result = MatchIndex(VOCABULARY, directory).rank(request)
    assert result.proposals[0].service_id == "adapted"
    assert result.proposals[0].breakdown.get("adapted", 1.0) > 1.0
