"""Reading another council's directory as well as our own: what a service says it is not,
category labels of the council's own, capitals and terse descriptions (issue 13, a third
never-shown directory). Each test reads short texts written for it, never a directory's ids."""

import numpy as np

from services.matcher.ranking import MatchIndex, MatchRequest
from services.matcher.service_batch import reader_for
from services.matcher.service_negation import NegationIds, negated_ids
from services.matcher.vocabulary import Vocabulary
from tests.unit.test_matcher_ranking import service

VOCABULARY = Vocabulary.load_default()


def concepts(name: str, description: str, categories=()) -> dict[str, float]:
    described = VOCABULARY.describe_service(name, description, categories)
    return {c: m.score for c, m in described.items()}


# ---- what a service says it is not ------------------------------------------------------


def test_a_description_saying_what_the_service_is_not_is_no_evidence_of_it():
    assert "running" in concepts("Saturday group", "Running, then a brew.")
    assert "running" not in concepts("Saturday group", "No running, then a brew.")
    assert "therapy" not in concepts("Low days", "Peer support. Its not therapy.")
    assert "crisis" not in concepts("Low days", "Peer support, its not a crisis service.")
    assert "hearing_aids" in concepts("Ear clinic", "Hearing aid batteries and retubing.")
    assert "vigorous" not in concepts("Hill walk", "Tuesdays. NOT A BEGINNERS OR HEALTH WALK.")
    assert "gentle" not in concepts("Hill walk", "Tuesdays. NOT A BEGINNERS OR HEALTH WALK.")


def test_the_negation_ends_with_its_clause():
    read = concepts("Saturday group", "No running. Walking and a brew after.")
    assert "walking" in read and "running" not in read


def test_who_a_service_is_for_and_questions_it_answers_are_not_denials():
    rules = VOCABULARY.service_negation
    for text in (
        "for people who don't get a break from caring",
        "if you can't cook any more, come for lunch",
        "Don't want to cook? Come for lunch.",
        "No one turned away.",
    ):
        assert not any(rules.negated(VOCABULARY.service_words(text))), text
    assert any(rules.negated(VOCABULARY.service_words("we don't do cooking")))


def test_a_phrase_that_starts_with_the_cue_is_read_as_written():
    assert "confidence" in concepts("Art class", "No experience needed.")


def test_only_the_description_is_read_for_denials():
    assert "dance" in concepts("No Limits Dance", "Weekly class.")


def test_the_batch_build_reads_denials_as_one_service_at_a_time_does():
    texts = [
        "No running, no tackling, lots of laughing.",
        "Can't get out? We ring you. Not a crisis service.",
        "for people who can't cook. we don't do shopping or cleaning",
        "NOBODY WILL MAKE YOU TALK. TEA.",
    ]
    rules = VOCABULARY.service_negation
    reader = reader_for(VOCABULARY)
    ids = NegationIds.of(rules, reader._stem_id)
    stems, _ = reader.words.stems(texts)
    batch = negated_ids(stems, ids)
    one_by_one = []
    for text in texts:
        one_by_one += [*rules.negated(VOCABULARY.service_words(text)), False]
    assert batch.tolist() == one_by_one[:-1]
    assert np.any(batch)


def test_a_category_label_says_what_a_service_is_for_not_how_it_runs():
    assert "low_mood" in VOCABULARY.unknown_category_concepts("Feeling Low?")
    assert "talking" not in VOCABULARY.unknown_category_concepts("Feeling Low?")


# ---- reading the referral ---------------------------------------------------------------


def reading(text: str) -> dict[str, object]:
    return {hit.concept: hit for hit in VOCABULARY.extract(text)}


def test_never_having_claimed_is_a_need_for_benefits_advice_not_a_denial():
    assert "benefits" in reading("Lives alone, bills piling up. Never claimed anything.")
    assert "benefits" in reading("has not claimed attendance allowance")


def test_being_widowed_is_a_fact_about_the_person_unless_it_is_recent_or_a_struggle():
    assert reading("81F, widowed 2 yrs, lives alone, lonely")["bereavement"].circumstance
    assert not reading("recently widowed, lonely")["bereavement"].circumstance
    assert not reading("widowed and struggling to cope")["bereavement"].circumstance
    assert not reading("husband died in March, grieving")["bereavement"].circumstance


def test_having_nursed_someone_is_caring_in_the_past():
    found = reading("wife passed in June, he nursed her the last 3 yrs")
    assert "former_carer" in found and "carer" not in found
    assert "carer" in reading("nursing him at home since the stroke")


def test_no_longer_driving_is_a_need_to_get_about():
    for text in ("gave up driving last winter, no bus up there", "stopped driving (cataracts)"):
        assert "transport" in reading(text), text
    assert "transport" in concepts("Market day shopper", "Picks you up from home on Fridays.")


AFTER_CARING = [
    service(
        "after-caring",
        "Life after caring",
        "For former carers, after the person you looked after has died or moved into a home.",
        ("Carers' Corner", "Bereavement Support"),
    ),
    service(
        "grief-cafe",
        "Grief cafe",
        "A drop-in for anyone grieving. Tea and people who understand.",
        ("Bereavement Support",),
    ),
]


def test_a_group_for_those_whose_caring_ended_is_not_for_every_bereaved_person():
    index = MatchIndex(VOCABULARY, AFTER_CARING)
    order = [p.service_id for p in index.rank(request("wife died in the summer, lost")).proposals]
    assert order[0] == "grief-cafe"
    result = index.rank(request("nursed her for years until she died in the summer"))
    assert result.proposals[0].service_id == "after-caring"


def request(text: str) -> MatchRequest:
    return MatchRequest("r", text, 70, "male", None, 51.45, 0.14)


def test_stairs_and_bathing_ask_for_adaptations_at_home():
    found = reading("can't manage the stairs now, strip washing at the sink, needs a shower")
    assert "home_adaptations" in found
    read = concepts("Home adaptations", "Stairlifts, level-access showers, ramps.")
    assert read.get("home_adaptations", 0) >= 0.5


FARMING = [
    service(
        "lifeline",
        "Upland lifeline",
        "Confidential phone line for farming families: stress, money, the paperwork.",
        ("Rural Life",),
    ),
    service(
        "grief-cafe",
        "Grief cafe",
        "A drop-in for anyone grieving. Tea and people who understand.",
        ("Bereavement Support",),
    ),
    service(
        "sleep",
        "Sleep well course",
        "Six sessions on sleeping better.",
        ("Feeling Low?",),
    ),
]


def test_an_occupation_the_person_shares_brings_its_own_groups_beside_the_need():
    index = MatchIndex(VOCABULARY, FARMING)
    farmer = [
        p.service_id for p in index.rank(request("sheep farmer, wife died, grieving")).proposals
    ]
    assert farmer[:2] == ["grief-cafe", "lifeline"]
    other = [p.service_id for p in index.rank(request("teacher, wife died, grieving")).proposals]
    assert "lifeline" not in other


def test_a_referral_in_capitals_reads_as_one_in_lower_case():
    shouted = reading("LIVES ALONE SINCE HER HUSBAND DIED. HI TO THE TEAM, SHE IS LONELY.")
    assert "hearing_loss" not in shouted and "loneliness" in shouted
    assert "hearing_loss" in reading("Lives alone, HI, wears aids, lonely")
    assert "heart" in reading("72M. MI 2019, COPD. Lonely since wife died.")


# ---- everyday words in a service's text that are not what it offers ---------------------


def test_a_farming_group_is_not_an_animal_group():
    farm = concepts(
        "Hill Farm Women's Network", "For women on the hill farms.", ("Rural & Farming Life",)
    )
    assert farm.get("farming", 0) > 0.5
    assert farm.get("pets", 0) < 0.3
    assert concepts("City farm", "Feed the goats and meet the farm animals.").get("pets", 0) > 0.5


def test_a_ride_to_the_shops_is_not_cycling_and_booking_ahead_is_not_reading():
    ride = concepts("Dial-a-Ride", "Door-to-door accessible minibus. Book two days ahead.")
    assert "transport" in ride
    assert "cycling" not in ride and "reading" not in ride
    assert "cycling" in concepts("Saturday bike ride", "A gentle led bike ride on the towpath.")


def test_legal_names_breakfasts_and_therapists_are_not_what_they_sound_like():
    assert "drama" not in concepts(
        "Carer's assessment", "Every carer has a right under the Care Act."
    )
    assert "english" not in concepts("Veterans' breakfast", "Full English and banter.")
    assert "therapy" not in concepts("Home adaptations", "After an occupational therapist visits.")
    assert "lung" not in concepts("Debt advice", "We can set up breathing space and payment plans.")
    assert "making" not in concepts("Freedom Programme", "Understand what happened and rebuild.")


def test_idioms_and_venues_in_a_name_are_not_what_they_sound_like():
    assert "heart" not in concepts("Sing Your Heart Out", "Turn up and sing, no auditions.")
    assert "heart" in concepts("Ticker Club", "For people after a heart attack.")
    assert "young_adult" not in concepts("Recovery College", "Free courses about mental health.")
    assert "mobility" not in concepts("Repair Cafe", "Broken toaster? Wobbly chair? Fix it here.")
    assert "mobility" in concepts("Seated exercise", "Chair-based exercise for balance.")
    assert "veterans" not in concepts("Langar", "Free vegetarian meal served every day.")
    assert "veterans" in concepts("Forces drop-in", "Served one day or twenty years, come along.")
    assert "employment" not in concepts("Odd Jobs", "Small jobs around the home: grab rails.")


def test_spoken_languages_and_benefit_campaigns_are_not_english_lessons_or_peer_support():
    assert "english" not in concepts("Seniors", "Mostly Punjabi; Hindi and English fine too.")
    assert "english" not in concepts("Forms help", "Help in Bangla, Sylheti, Urdu and English.")
    assert "english" in concepts("English for Everyday", "Beginner English classes.")
    assert "peer_support" not in concepts("Are You Getting It?", "Pension Credit checks.")


def test_a_former_rugby_player_is_offered_walking_rugby():
    assert "rugby" in reading("46M, played rugby league till his 30s, low since the divorce")
    directory = [
        service("rugby", "Walking Rugby", "Rugby league at walking pace.", ("physical activity",)),
        service("gym", "Gym sessions", "Supervised gym sessions at the leisure centre.", ()),
    ]
    order = [
        p.service_id
        for p in MatchIndex(VOCABULARY, directory)
        .rank(
            MatchRequest(
                "r", "Played rugby till his 30s, wants to get fit", 46, "male", None, 51.45, 0.14
            )
        )
        .proposals
    ]
    assert order[0] == "rugby"


def test_a_councils_new_to_its_town_label_is_for_newcomers():
    for label in ("New to Calderbrook", "Welcome to Leeds", "New in Thamesford"):
        assert VOCABULARY.canonical_category(label) == "language and migration", label
    assert VOCABULARY.canonical_category("New parents") != "language and migration"
