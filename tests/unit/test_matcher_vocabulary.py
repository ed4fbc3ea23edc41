"""The need vocabulary: abbreviations, misspellings, negation, indirect phrasing."""

import json
from pathlib import Path

import pytest

from services.matcher.vocabulary import Vocabulary, stem


@pytest.fixture(scope="module")
def vocabulary() -> Vocabulary:
    return Vocabulary.load_default()


def concepts(vocabulary: Vocabulary, text: str) -> set[str]:
    return {hit.concept for hit in vocabulary.extract(text)}


def test_the_vocabulary_is_versioned_data(vocabulary):
    assert vocabulary.version
    assert len(vocabulary.concepts) > 50
    assert "social connection" in vocabulary.categories


@pytest.mark.parametrize(
    ("text", "concept"),
    [
        ("lonley since moving", "loneliness"),
        ("anxeity and panic", "anxiety"),
        ("wants to do more excercise", "exercise"),
        ("recently bereaved, struggling with greif", "bereavement"),
        ("feels very isloated", "loneliness"),
    ],
)
def test_misspellings_still_reach_their_concept(vocabulary, text, concept):
    assert concept in concepts(vocabulary, text)


@pytest.mark.parametrize(
    ("text", "concept"),
    [
        ("T2DM, poorly controlled", "diabetes"),
        ("COPD and SOB on exertion", "lung"),
        ("husband d. March", "bereavement"),
        ("UC sanctioned", "benefits"),
        ("DV from ex-partner", "domestic_abuse"),
        ("MH has been poor", "low_mood"),
        ("OA knees", "pain"),
        ("LTC review", "long_term_condition"),
        ("lives alone w/ cat", "loneliness"),
    ],
)
def test_clinical_abbreviations_are_expanded(vocabulary, text, concept):
    assert concept in concepts(vocabulary, text)


def test_case_sensitive_abbreviations_do_not_fire_on_ordinary_words(vocabulary):
    assert "long_term_condition" not in concepts(vocabulary, "Ms Patel is lonely")
    assert "long_term_condition" in concepts(vocabulary, "has MS")


def test_negated_needs_are_dropped(vocabulary):
    assert "crisis" not in concepts(vocabulary, "Low mood. No suicidal ideation.")
    assert "crisis" not in concepts(vocabulary, "denies SI")
    assert "crisis" in concepts(vocabulary, "has had suicidal thoughts")


def test_negation_stops_at_the_end_of_a_clause(vocabulary):
    found = concepts(vocabulary, "Declines meds for now, would like to meet other mums")
    assert "new_parent" in found


def test_negation_inside_a_phrase_is_part_of_the_phrase(vocabulary):
    assert "loneliness" in concepts(vocabulary, "no one to talk to")
    assert "fuel_poverty" in concepts(vocabulary, "meter ran out, no gas")


def test_not_interested_in_groups_is_a_preference_for_home(vocabulary):
    hits = {h.concept: h for h in vocabulary.extract("not interested in groups")}
    assert vocabulary.concepts["remote_preference"].prefers_delivery
    assert "remote_preference" in hits


def test_indirect_phrasing_reaches_practical_help(vocabulary):
    found = concepts(vocabulary, "bills piling up since redundancy")
    assert {"debt", "employment"} <= found


def test_several_needs_are_found_in_one_referral(vocabulary):
    found = concepts(vocabulary, "68F, COPD, lives alone, low mood, housebound most days")
    assert {"lung", "loneliness", "low_mood", "housebound"} <= found


def test_related_needs_are_implied_at_lower_confidence(vocabulary):
    hits = {h.concept: h for h in vocabulary.extract("recently bereaved")}
    assert hits["bereavement"].confidence == 1.0
    assert hits["loneliness"].implied_by == "bereavement"
    assert hits["loneliness"].confidence < 1.0


def test_phrases_quote_the_original_text(vocabulary):
    hits = {h.concept: h for h in vocabulary.extract("Finished radiotherapy for prostate cancer")}
    assert hits["cancer"].phrase == "prostate cancer"


def test_a_parent_of_an_autistic_child_is_not_treated_as_autistic(vocabulary):
    hits = {h.concept: h for h in vocabulary.extract("Mum of 8yo with autism, awaiting EHCP")}
    assert "send_parent" in hits
    assert hits.get("autism") is None or hits["autism"].confidence < 0.5


def test_service_text_is_scored_per_concept(vocabulary):
    described = vocabulary.describe_service(
        "Debt and money advice",
        "Caseworkers help you deal with debts, rent arrears and bailiffs.",
        ["money and debt"],
    )
    assert described["debt"].score > 0.8
    assert "debt" in " ".join(described["debt"].terms)


def test_unknown_categories_never_fail_and_familiar_ones_are_mapped(vocabulary):
    assert vocabulary.canonical_category("Money & Debt") == "money and debt"
    assert vocabulary.canonical_category("Mental Health") == "mental wellbeing"
    assert vocabulary.canonical_category("Underwater basket weaving") is None
    described = vocabulary.describe_service("Chess club", "Weekly chess.", ["Board games zone"])
    assert "games" in described


def test_stemming_joins_simple_word_forms():
    assert stem("walks") == stem("walking") == stem("walked") == stem("walk")
    assert stem("dance") == stem("dancing")


@pytest.mark.parametrize(
    ("text", "concept"),
    [
        ("gas meter on emergency credit", "fuel_poverty"),
        ("struggling to make ends meet", "debt"),
        ("not leaving the flat, sat in the house all day", "loneliness"),
        ("husband d. at christmas", "bereavement"),
        ("ETOH 40 units a week", "addiction"),
        ("peri-menopausal, hot flushes", "menopause"),
        ("ex-forces, did two tours", "veterans"),
        ("released from HMP last month, on licence", "offending"),
        ("bulimia since her teens", "eating_disorder"),
        ("house full of stuff, can't throw anything away", "hoarding"),
        ("misses walking her dog", "pets"),
        ("husband drinking heavily", "affected_by_addiction"),
        ("kicked out by parents, staying at a friend's", "housing"),
        ("says 'who would hire me'", "employment"),
    ],
)
def test_indirect_and_shorthand_phrasing_reaches_its_concept(vocabulary, text, concept):
    assert concept in concepts(vocabulary, text)


def test_a_former_smoker_is_not_treated_as_wanting_to_quit(vocabulary):
    hits = {hit.concept: hit for hit in vocabulary.extract("COPD, ex-smoker, keen to stay active")}
    assert hits["smoking"].confidence < 0.25


def test_someone_elses_drinking_is_not_the_persons_own_addiction(vocabulary):
    text = "husband drinking heavily, she is stressed"
    hits = {hit.concept: hit for hit in vocabulary.extract(text)}
    assert hits["affected_by_addiction"].confidence > hits["addiction"].confidence


@pytest.mark.parametrize(
    ("category", "concept"),
    [
        ("addiction and recovery", "addiction"),
        ("Veterans", "veterans"),
        ("pets and animals", "pets"),
        ("women's health", "menopause"),
        ("men's health", "men"),
        ("hoarding support", "hoarding"),
    ],
)
def test_unfamiliar_category_names_map_onto_concepts_by_their_words(vocabulary, category, concept):
    described = vocabulary.describe_service("Tuesday group", "Come along.", [category])
    assert described[concept].score >= 0.5
    assert described[concept].category is not None


def hit(vocabulary: Vocabulary, text: str, concept: str):
    return next(h for h in vocabulary.extract(text) if h.concept == concept)


def test_a_wish_lifts_a_mention_and_a_hedge_lowers_it(vocabulary):
    text = "Lives alone. Wants to make friends and maybe volunteer."
    assert hit(vocabulary, text, "loneliness").emphasis > 1.0
    assert hit(vocabulary, text, "volunteering").emphasis < 1.0


def test_cues_after_a_mention_count_too(vocabulary):
    assert hit(vocabulary, "anxious++ at night", "anxiety").emphasis > 1.0
    assert hit(vocabulary, "tearful at times", "low_mood").emphasis < 1.0
    assert hit(vocabulary, "tearful", "low_mood").emphasis == 1.0


def test_a_need_that_belongs_to_someone_else_counts_less(vocabulary):
    assert hit(vocabulary, "made redundant in June", "employment").confidence == 1.0
    assert hit(vocabulary, "Husband made redundant, money tight", "employment").confidence < 0.5
    # someone reporting on the patient is not the subject of the need
    assert hit(vocabulary, "wife says he lost his job", "employment").confidence == 1.0


def test_having_a_job_is_not_an_employment_need(vocabulary):
    assert hit(vocabulary, "stressed, full time job", "employment").confidence <= 0.1
    assert hit(vocabulary, "looking for a job", "employment").confidence == 1.0


def test_living_with_parents_is_not_a_parenting_need(vocabulary):
    assert "parenting" not in concepts(vocabulary, "23F, lives w parents")
    assert "parenting" in concepts(vocabulary, "wants a parenting course")


def test_a_specific_interest_keeps_its_own_concept(vocabulary):
    found = concepts(vocabulary, "Trained in drama")
    assert {"drama", "arts"} <= found
    assert "needlecraft" in concepts(vocabulary, "loves knitting")


def test_a_term_inside_a_longer_phrase_does_not_count_on_its_own(vocabulary):
    hearing = vocabulary.describe_service(
        "Lipreading class", "For adults with hearing loss.", ["sensory impairment"]
    )
    grief = vocabulary.describe_service("Grief cafe", "Support after loss.", ["bereavement"])
    assert "bereavement" not in hearing or hearing["bereavement"].score < 0.2
    assert grief["bereavement"].score > 0.8
    assert "loss" in grief["bereavement"].terms


def test_home_visits_that_bring_no_company_do_not_answer_being_housebound(vocabulary):
    adviser = vocabulary.describe_service(
        "Energy advice and home visits",
        "Advisers sort out arrears with your supplier and can visit to fit draught-proofing.",
        ("money and debt",),
    )
    befriender = vocabulary.describe_service(
        "Home visiting befriender",
        "A volunteer visits you at home each week for a chat. For people who are housebound.",
        ("social connection",),
    )
    assert "housebound" not in adviser
    assert befriender["housebound"].score > 0.6
    assert befriender["housebound"].score <= befriender["loneliness"].score


def test_everyday_words_are_never_corrected_into_vocabulary_words(vocabulary):
    # "bringing" is one letter from "binging", "space" from "spice", "relocated" near "related"
    assert vocabulary.corrected("bringing") == "bringing"
    assert vocabulary.corrected("space") == "space"
    assert vocabulary.corrected("relocated") == "relocated"
    assert "eating_disorder" not in concepts(vocabulary, "Bringing up two children on her own")
    assert "addiction" not in concepts(vocabulary, "would feel safer in a queer-inclusive space")


def test_long_words_are_corrected_despite_several_slips(vocabulary):
    assert "exercise" in concepts(vocabulary, "GP wants her doing more excersize")


def test_pronouns_and_articles_do_not_matter_in_a_trigger(vocabulary):
    # triggers are written once ("on his own", "sits in the house")
    for text in ("on her own all day", "on my own all day", "on their own all day"):
        assert "loneliness" in concepts(vocabulary, text)
    assert "loneliness" in concepts(vocabulary, "just sits in house")


def test_a_misspelling_closer_to_an_everyday_word_is_not_pulled_into_the_vocabulary(vocabulary):
    assert vocabulary.corrected("collegues") == "colleagues"  # not "college"
    assert "young_adult" not in concepts(vocabulary, "his mates were all collegues")


@pytest.mark.parametrize(
    ("typed", "meant"),
    [("excersize", "exercise"), ("ashma", "asthma"), ("dimentia", "dementia")],
)
def test_misspellings_are_read_by_sound_as_well_as_letters(vocabulary, typed, meant):
    assert vocabulary.corrected(typed) == meant


@pytest.mark.parametrize(
    ("text", "concept"),
    [
        ("hasn't been right in himself since", "low_mood"),
        ("craving company", "loneliness"),
        ("short fuse with the kids", "anger"),
        ("repeats herself, forgets meals", "dementia"),
        ("doesn't know a soul round here", "loneliness"),
    ],
)
def test_everyday_idioms_reach_their_concept(vocabulary, text, concept):
    assert concept in concepts(vocabulary, text)


@pytest.mark.parametrize(
    "text",
    ["pain: nil", "sleep ok", "debt - no concerns", "cancer ruled out", "BP well controlled"],
)
def test_a_finding_after_a_mention_can_rule_it_out(vocabulary, text):
    assert not {h.concept for h in vocabulary.extract(text) if h.implied_by is None}


def test_a_ruled_out_finding_that_is_itself_negated_is_a_need(vocabulary):
    assert "sleep" in concepts(vocabulary, "sleep not good")


def test_negation_ends_where_a_new_thought_begins(vocabulary):
    # "doesn't stretch" is negated, not the energy bills that followed
    assert "fuel_poverty" in concepts(vocabulary, "pension doesn't stretch since the energy bills")
    assert "benefits" in concepts(vocabulary, "not getting carers allowance")
    assert "volunteering" in concepts(vocabulary, "'no reason to get up in the morning'")
    assert "crisis" not in concepts(vocabulary, "low mood - denies SI")


@pytest.mark.parametrize(
    "text",
    [
        "even a regular phone call would help",  # not "evenings"
        "booked a follow-up",  # not books
        "heart rate 80",  # not rats
        "parking is difficult",  # not parks
        "wants to improve",  # not improv theatre
        "secondary school teacher",  # not secondary cancer
        "yoga class",  # not class A drugs
        "life has changed a lot",  # not "the change"
    ],
)
def test_everyday_words_do_not_collide_with_need_words(vocabulary, text):
    found = concepts(vocabulary, text)
    assert not found & {"evenings", "reading", "housing", "nature", "drama", "cancer"}
    assert not found & {"addiction", "menopause"}


def test_clinical_notes_are_not_read_as_needs(vocabulary):
    assert "bereavement" not in concepts(vocabulary, "feels like she will pass out")
    assert "hearing_loss" not in concepts(vocabulary, "the only voice she hears is the radio")
    reading = {h.concept: h for h in vocabulary.extract("BP reading 138/82")}.get("reading")
    assert reading is None or reading.confidence <= 0.5
    assert "reading" in concepts(vocabulary, "loves reading")


FRAGMENTS = Path(__file__).resolve().parents[1] / "data" / "fragments"


@pytest.mark.parametrize(
    ("corpus", "floor"), [("need_fragments.jsonl", 0.8), ("indirect_fragments.jsonl", 0.85)]
)
def test_the_fragment_corpora_keep_their_recall_and_their_few_false_alarms(
    vocabulary, corpus, floor
):
    text = (FRAGMENTS / corpus).read_text(encoding="utf-8")
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    found, labelled, false_alarms = 0, 0, 0
    for row in rows:
        hits = {h.concept: h for h in vocabulary.extract(row["text"])}
        if row["concept"] == "NONE":
            false_alarms += any(
                h.implied_by is None
                and h.confidence >= 0.5
                and vocabulary.concepts[h.concept].kind in ("need", "interest")
                for h in hits.values()
            )
            continue
        labelled += 1
        hit = hits.get(row["concept"])
        found += hit is not None and hit.confidence >= 0.4
    assert found / labelled >= floor
    assert false_alarms <= 20


@pytest.mark.parametrize(
    ("text", "absent"),
    [
        ("Denies any low mood or anxiety.", "anxiety"),
        ("Drinks socially, within recommended limits.", "addiction"),
        ("Sleeps well, appetite normal.", "sleep"),
        ("Card payment taken for the report.", "games"),
        ("Pt runs her own business, doing well.", "running"),
    ],
)
def test_pertinent_negatives_are_not_needs(vocabulary, text, absent):
    assert absent not in {h.concept for h in vocabulary.extract(text) if h.confidence >= 0.5}


def test_a_denied_mention_is_not_ruled_out_twice(vocabulary):
    assert "sleep" in concepts(vocabulary, "doesn't sleep well")
    assert "stress" in concepts(vocabulary, "not coping well")


def test_misspellings_of_vocabulary_words_are_corrected_and_real_words_kept(vocabulary):
    """known_words.txt holds real English words only (each one pyspellchecker's list knows):
    a made-up form in it ("stressd", "swiming") kept the misspelling from being corrected."""
    for slip, word in (
        ("stressd", "stressed"),
        ("unemployd", "unemployed"),
        ("swiming", "swimming"),
    ):
        assert vocabulary.corrected(slip) == word
    for word in ("keeps", "window", "widow"):
        assert vocabulary.corrected(word) == word
