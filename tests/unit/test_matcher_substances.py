"""Addiction read by substance where a directory tells them apart: someone who drinks is not
offered a gambling service first, and a service for every kind of addiction is for everyone.

Alcohol, drugs and gambling are a family of their own (like faiths and heritages): the person's
substance is read beside the addiction need, never searched for by itself; a service naming
one or two is for those, one naming all three is for anyone in recovery."""

import pytest

from services.matcher.audiences import Audiences
from services.matcher.ranking import MatchIndex, MatchRequest
from services.matcher.vocabulary import Vocabulary
from tests.unit.test_matcher_ranking import service

VOCABULARY = Vocabulary.load_default()


def request(text: str, age: int = 45, **kw) -> MatchRequest:
    return MatchRequest("r", text, age, kw.pop("gender", "male"), None, 51.45, 0.14, **kw)


def rank(directory, text: str):
    return MatchIndex(VOCABULARY, directory).rank(request(text))


def reading(text: str) -> dict[str, object]:
    return {hit.concept: hit for hit in VOCABULARY.extract(text)}


RECOVERY = [
    service(
        "bet-free",
        "Bet Free Together",
        "Support for anyone harmed by gambling: one-to-one sessions and a weekly group.",
        ("addiction and recovery",),
    ),
    service(
        "drink-less",
        "Drink Less",
        "A six-week group for people who want to cut down on drinking. Alcohol support.",
        ("addiction and recovery",),
    ),
    service(
        "drugs-service",
        "Drug and alcohol service",
        "Assessment, detox and key workers for drug and alcohol problems.",
        ("addiction and recovery",),
    ),
    service(
        "recovery-cafe",
        "Recovery cafe",
        "For people in recovery from alcohol, drugs or gambling problems.",
        ("addiction and recovery",),
    ),
]


@pytest.mark.parametrize(
    ("text", "substance"),
    [
        ("drinking a bit more than usual since the divorce", "alcohol"),
        ("approx 30 units a week", "alcohol"),
        ("smoking weed every day, wants to stop", "drugs"),
        ("lost 8k gambling on phone apps", "gambling"),
    ],
)
def test_the_substance_is_read_beside_the_addiction(text, substance):
    found = reading(text)
    assert "addiction" in found and substance in found


def test_a_drinker_is_not_offered_a_gambling_service_first():
    result = rank(RECOVERY, "drinking heavily since he lost his job, wants to cut down")
    order = [p.service_id for p in result.proposals]
    assert order.index("drink-less") < order.index("bet-free")
    assert order.index("drugs-service") < order.index("bet-free")
    bet = next(p for p in result.proposals if p.service_id == "bet-free")
    assert bet.breakdown["audience"] < 1.0


def test_a_gambler_is_offered_the_gambling_service_before_a_drink_or_drug_service():
    result = rank(RECOVERY, "gambling on phone apps, wants to stop")
    order = [p.service_id for p in result.proposals]
    assert order[0] == "bet-free"
    assert order.index("recovery-cafe") < order.index("drink-less")


def test_a_service_for_every_kind_of_addiction_is_for_everyone():
    for text in ("drinking heavily", "gambling every night", "using heroin again"):
        cafe = next(p for p in rank(RECOVERY, text).proposals if p.service_id == "recovery-cafe")
        assert cafe.breakdown.get("audience", 1.0) >= 1.0


def test_someone_who_names_no_substance_is_offered_every_recovery_service_alike():
    result = rank(RECOVERY, "in recovery, struggling with addiction")
    assert all(p.breakdown.get("audience", 1.0) == 1.0 for p in result.proposals)


def test_an_alcohol_free_social_is_not_a_service_for_drinkers():
    audiences = Audiences(VOCABULARY)
    described = VOCABULARY.describe_service(
        "Saturday social", "Alcohol-free Saturday afternoons: pool, board games, a meal.", ()
    )
    assert "alcohol" not in audiences.meant_for(described)
