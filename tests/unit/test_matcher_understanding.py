"""Reading a referral as a link worker would: a disability stated as a circumstance is not the
need, whose need it is and when, housing crises before money, and practical needs nobody meets.

Each test reads short texts and asserts the reading (the need found or not, what it weighs,
what is reported) or the order among a few services written for the test, never the ids of a
demo directory."""

import pytest

from services.matcher.ranking import MatchIndex, MatchRequest
from services.matcher.vocabulary import Vocabulary
from tests.unit.test_matcher_ranking import service

VOCABULARY = Vocabulary.load_default()


def request(text: str, age: int = 60, **kw) -> MatchRequest:
    return MatchRequest("r", text, age, kw.pop("gender", "female"), None, 51.45, 0.14, **kw)


def ranked(directory, text: str, **kw) -> list[str]:
    result = MatchIndex(VOCABULARY, directory).rank(request(text, **kw))
    return [p.service_id for p in result.proposals]


def reading(text: str) -> dict[str, object]:
    return {hit.concept: hit for hit in VOCABULARY.extract(text)}


# ---- a disability or impairment stated as a circumstance --------------------------------

HEARING = [
    service(
        "aids",
        "Hearing aid maintenance drop-in",
        "Volunteers clean and retube NHS hearing aids and replace batteries.",
        ("sensory impairment",),
    ),
    service(
        "lipreading",
        "Lipreading class",
        "Learn to lipread and manage hearing loss.",
        ("sensory impairment",),
    ),
    service(
        "coffee",
        "Coffee morning",
        "Meet people and make new friends over coffee.",
        ("social connection",),
    ),
]


@pytest.mark.parametrize(
    ("text", "fact"),
    [
        ("hard of hearing, lonely, would like company", "hearing_loss"),
        ("HoH - wears hearing aids. Wants to meet people", "hearing_aids"),
        ("wheelchair user, wants to make friends", "wheelchair"),
        ("uses a walking frame. Would love to get out and meet people", "mobility"),
        ("registered blind, lives alone, would like a befriender", "sight_loss"),
    ],
)
def test_a_disability_stated_as_a_fact_about_the_person_is_a_circumstance(text, fact):
    assert reading(text)[fact].circumstance


@pytest.mark.parametrize(
    ("text", "fact"),
    [
        ("needs help with her hearing aids", "hearing_aids"),
        ("hearing aids keep whistling and not working", "hearing_aids"),
        ("profoundly deaf and struggling with it at work", "hearing_loss"),
        ("registered blind last month, coming to terms with it", "sight_loss"),
        ("wheelchair user, can't manage the bus", "wheelchair"),
    ],
)
def test_a_disability_the_text_asks_help_with_or_calls_a_struggle_is_a_need(text, fact):
    assert not reading(text)[fact].circumstance


def test_naming_a_condition_is_not_merely_a_circumstance():
    """Hearing loss or macular degeneration named as such is something a person may want
    help with; 'hard of hearing' or 'wheelchair user' says who they are."""
    found = reading("hearing loss, macular degeneration, lonely")
    assert not found["hearing_loss"].circumstance
    assert not found["sight_loss"].circumstance


def test_someone_hard_of_hearing_who_wants_company_is_offered_company_not_a_hearing_clinic():
    order = ranked(HEARING, "hard of hearing, lonely, would like company")
    assert order[0] == "coffee"
    assert "aids" not in order and "lipreading" not in order


def test_someone_who_asks_for_help_with_their_hearing_aids_is_offered_it():
    order = ranked(HEARING, "needs help with his hearing aids, and a bit lonely")
    assert order[0] == "aids"


def test_a_fact_about_the_person_with_nothing_else_stated_is_still_read_as_the_need():
    assert ranked(HEARING, "hard of hearing")[:1] in (["aids"], ["lipreading"])


def test_a_circumstance_is_never_reported_as_an_unmet_need():
    result = MatchIndex(VOCABULARY, HEARING[2:]).rank(request("wheelchair user, lonely"))
    assert result.proposals
    assert not any("wheelchair" in phrase for phrase in result.unmet_needs)


def test_a_wheelchair_user_who_wants_sport_gets_adapted_sport_before_chair_yoga_and_parkrun():
    directory = [
        service("parkrun", "parkrun", "A free 5k every Saturday. Walk, jog or run.", ("sport",)),
        service(
            "chair-yoga",
            "Chair yoga",
            "Gentle yoga done seated, for stiff joints. Suitable for wheelchair users.",
            ("physical activity",),
        ),
        service(
            "basketball",
            "Wheelchair basketball",
            "Inclusive sport for wheelchair users: training and friendly matches.",
            ("sport",),
        ),
    ]
    order = ranked(directory, "wheelchair user, wants to get back into sport", age=34)
    assert order[0] == "basketball"


def test_a_group_for_people_like_them_is_welcome_when_it_meets_what_they_want():
    directory = [
        *HEARING,
        service(
            "sight-club",
            "Sight loss social club",
            "A friendly social club with lots of chat for people with sight loss.",
            ("social connection",),
        ),
    ]
    order = ranked(directory, "registered blind, lives alone, would like company")
    assert order[0] == "sight-club"


# ---- housing crises are housing first ----------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "landlord has served a section 21",
        "been told to leave by the end of the month",
        "landlord is selling up and she has two months' notice to leave",
        "possession proceedings started over the rent arrears",
        "about to lose her flat",
        "sofa surfing since the break-up",
        "in a B&B with the kids",
    ],
)
def test_a_notice_to_leave_or_losing_a_home_is_read_as_a_housing_need(text):
    assert "housing" in reading(text)


MONEY_AND_HOMES = [
    service(
        "housing-advice",
        "Tenants' advice line",
        "Landlord ignoring repairs? Section 21 on the mat? We know your rights.",
        ("housing",),
    ),
    service(
        "money-advice",
        "Money advice surgery",
        "We go through arrears, bailiffs and council tax and work out a plan.",
        ("money and debt",),
    ),
    service(
        "energy-advice",
        "Keep warm",
        "Meter on emergency credit or owe the energy company? Fuel vouchers, debt write-off"
        " applications and grants for insulation.",
        ("money and debt", "housing"),
    ),
]


def test_a_housing_crisis_is_met_by_housing_and_money_advice_before_energy_advice():
    order = ranked(MONEY_AND_HOMES, "rent arrears and the landlord has served a section 21")
    assert order.index("housing-advice") < order.index("energy-advice")
    assert order.index("money-advice") < order.index("energy-advice")


def test_energy_advice_still_comes_first_for_trouble_with_the_energy_bills():
    order = ranked(MONEY_AND_HOMES, "prepayment meter keeps running out, rationing the heating")
    assert order[0] == "energy-advice"


# ---- a practical need no service meets ---------------------------------------------------

COMPANY = [
    service(
        "coffee",
        "Coffee morning",
        "Meet people and make new friends over coffee.",
        ("social connection",),
    ),
]


@pytest.mark.parametrize(
    "text",
    [
        "needs transport to hospital appointments",
        "daughter can no longer drive him to the hospital for dialysis",
        "no transport, keeps missing appointments",
    ],
)
def test_getting_to_appointments_is_read_as_transport_not_as_being_housebound(text):
    found = reading(text)
    assert "transport" in found
    assert "housebound" not in found and "sight_loss" not in found


def test_a_practical_need_no_service_meets_is_reported_unmet_beside_the_needs_that_are_met():
    result = MatchIndex(VOCABULARY, COMPANY).rank(
        request("needs transport to hospital appointments, and lonely")
    )
    assert [p.service_id for p in result.proposals] == ["coffee"]
    assert any("transport" in phrase for phrase in result.unmet_needs)


def test_a_practical_need_alone_is_reported_unmet_rather_than_met_by_company():
    result = MatchIndex(VOCABULARY, COMPANY).rank(request("needs transport to hospital"))
    assert result.proposals == ()
    assert any("transport" in phrase for phrase in result.unmet_needs)


def test_a_directory_with_community_transport_meets_the_need():
    directory = [
        *COMPANY,
        service(
            "drivers",
            "Community transport",
            "Volunteer drivers take you to hospital appointments.",
            ("transport",),
        ),
    ]
    result = MatchIndex(VOCABULARY, directory).rank(request("needs transport to hospital"))
    assert result.proposals[0].service_id == "drivers"
    assert not result.unmet_needs


# ---- whose need, and when ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "concept"),
    [
        ("cares for her husband with dementia", "carer"),
        ("is a full time carer for his wife", "carer"),
        ("looking after her mum", "carer"),
        ("cared for her husband for 8 years until he died", "former_carer"),
        ("looked after his mum until she went into a home", "former_carer"),
        ("no longer caring for mum", "former_carer"),
        ("was a carer for ten years", "former_carer"),
    ],
)
def test_whether_someone_cares_now_or_did_is_read_from_the_tense(text, concept):
    found = reading(text)
    assert concept in found
    assert {"carer", "former_carer"} - {concept} & set(found) == set()


CARERS = [
    service(
        "after-caring",
        "Life after caring",
        "For former carers whose caring role has ended: meet others and rebuild your own life.",
        ("carers",),
    ),
    service(
        "carers-cafe",
        "Carers' cafe",
        "A monthly coffee morning for people who look after a family member or friend.",
        ("carers",),
    ),
    service(
        "respite",
        "Respite sitting",
        "A care worker sits with the person you care for so you can have a break.",
        ("carers",),
    ),
    *COMPANY,
]


def test_a_current_carer_is_not_offered_life_after_caring():
    order = ranked(CARERS, "cares full time for her husband with dementia, exhausted")
    assert order[:2] == ["carers-cafe", "respite"] or order[:2] == ["respite", "carers-cafe"]
    assert "after-caring" not in order


def test_a_former_carer_is_offered_life_after_caring_before_help_for_carers():
    order = ranked(CARERS, "cared for her husband for 8 years until he died, lonely now")
    assert order[0] == "after-caring"
    assert "respite" not in order


@pytest.mark.parametrize(
    "text",
    ["used to love dancing", "loved dancing when she was younger", "misses her dancing"],
)
def test_a_former_interest_is_still_an_interest(text):
    assert not reading(text)["dance"].negated


@pytest.mark.parametrize(
    "text",
    [
        "used to play bowls but has given it up for good",
        "played bowls for years, won't go back to it",
        "used to paint but has lost all interest",
    ],
)
def test_an_interest_given_up_for_good_is_not_an_interest(text):
    assert not {"bowls", "arts"} & set(reading(text))


FAITHS = [
    service(
        "church-lunch",
        "Church lunch club",
        "A lunch and a chat after the Sunday service at St Mark's church.",
        ("faith and belief", "social connection"),
    ),
    service(
        "mosque-circle",
        "Sisters' circle",
        "Tea, talks and Quran study at the mosque.",
        ("faith and belief", "social connection"),
    ),
    service(
        "interfaith",
        "Interfaith visits",
        "Monthly visits to a church, mosque, gurdwara, temple and synagogue, with a meal.",
        ("faith and belief",),
    ),
]


@pytest.mark.parametrize(
    ("text", "community"),
    [
        ("misses her church since moving", "christian"),
        ("Church of England all her life", "christian"),
        ("misses going to the mosque on Fridays", "muslim"),
        ("used to go to the gurdwara with his wife", "sikh"),
    ],
)
def test_the_community_someone_belongs_to_is_read_beside_their_faith(text, community):
    found = reading(text)
    assert community in found and "faith" in found


def test_someone_who_misses_their_church_is_not_offered_another_faiths_group_first():
    order = ranked(FAITHS, "misses her church since moving here")
    assert order[0] == "church-lunch"
    assert "mosque-circle" not in order[:2]
    mosque = ranked(FAITHS, "misses going to the mosque")
    assert mosque[0] == "mosque-circle"
    assert "church-lunch" not in mosque[:2]


def test_a_faiths_group_is_not_held_back_from_someone_who_named_no_faith():
    result = MatchIndex(VOCABULARY, FAITHS).rank(request("lonely, would like to meet people"))
    circle = next(p for p in result.proposals if p.service_id == "mosque-circle")
    assert "audience" not in circle.breakdown or circle.breakdown["audience"] == 1.0


HERITAGE = [
    service(
        "polish-club",
        "Polish club",
        "Saturday club with Polish newspapers, coffee and help with letters.",
        ("social connection",),
    ),
    service(
        "tamil-elders",
        "Tamil elders' day centre",
        "Weekly lunch, yoga and carrom in Tamil for older people.",
        ("social connection",),
    ),
    service(
        "asian-elders",
        "South Asian elders' lunch",
        "A hot lunch and company for South Asian elders.",
        ("social connection",),
    ),
    *COMPANY,
]


def test_someone_who_misses_their_own_community_is_offered_its_club_not_another_communitys():
    result = MatchIndex(VOCABULARY, HERITAGE).rank(
        request("misses the Polish community she had in Slough")
    )
    assert result.proposals[0].service_id == "polish-club"
    others = [p for p in result.proposals if p.service_id in ("tamil-elders", "asian-elders")]
    assert all(p.breakdown["audience"] < 1.0 for p in others)


def test_a_wider_community_a_service_names_includes_the_persons_own():
    assert "south_asian" in reading("Pakistani, lonely since his wife died")
    order = ranked(HERITAGE, "Pakistani, lonely since his wife died", gender="male")
    assert order.index("asian-elders") < order.index("tamil-elders")


def test_a_heritage_group_is_not_held_back_from_someone_who_named_none():
    result = MatchIndex(VOCABULARY, HERITAGE).rank(request("lonely, would like company"))
    polish = next(p for p in result.proposals if p.service_id == "polish-club")
    assert polish.breakdown.get("audience", 1.0) == 1.0


def test_a_former_miner_is_offered_the_miners_welfare_before_another_club():
    directory = [
        service(
            "welfare",
            "Miners' welfare social",
            "Company, dominoes and a brew for former miners and the pit village.",
            ("social connection",),
        ),
        service(
            "coffee",
            "Coffee morning",
            "Meet people and make new friends over a coffee and a chat.",
            ("social connection",),
        ),
    ]
    assert ranked(directory, "retired miner, lonely since the pit closed", gender="male")[0] == (
        "welfare"
    )


@pytest.mark.parametrize(
    "text",
    [
        "needs help with her shopping",
        "housebound since a fall, needs help with her shopping and someone to collect her"
        " prescriptions",
        "can't manage the housework any more",
    ],
)
def test_practical_help_at_home_is_a_need_of_its_own_reported_when_nothing_meets_it(text):
    assert "practical_help" in reading(text)
    result = MatchIndex(VOCABULARY, COMPANY).rank(request(text, age=84))
    assert result.unmet_needs


def test_every_audience_and_community_the_vocabulary_names_has_its_bit():
    """The audience column holds 64 bits; a group past them would silently be for everyone."""
    from services.matcher.audiences import Audiences

    assert set(Audiences(VOCABULARY).bits) == set(VOCABULARY.audiences)


def test_paying_for_care_is_a_need_for_benefits_and_money_advice():
    found = {
        hit.concept
        for hit in VOCABULARY.extract(
            "Wife went into a care home, muddled with the care home fees."
        )
    }
    assert "benefits" in found
    assert "benefits" in VOCABULARY.describe_service(
        "Advice", "Help with pension credit and care costs.", ()
    )


@pytest.mark.parametrize(
    ("text", "concept"),
    [
        ("needs a lift to the dentist next week", "transport"),
        ("can't get to the chemist for her prescriptions", "practical_help"),
        ("needs help keeping the garden tidy, can't manage it now", "practical_help"),
        ("needs help with moving house", "practical_help"),
        ("needs a hospital bed and a commode at home", "home_adaptations"),
        ("no cooker or fridge since moving in", "essentials"),
        ("sleeping on the floor, needs a bed and some furniture", "essentials"),
    ],
)
def test_practical_needs_are_read_as_needs_of_their_own(text, concept):
    assert concept in reading(text)


def test_keeping_the_garden_tidy_is_a_chore_not_an_interest_in_gardening():
    assert "gardening" not in reading("needs help keeping the garden tidy")
    assert "gardening" in reading("loves her garden, misses growing veg")


def test_household_essentials_no_service_offers_are_reported_unmet():
    result = MatchIndex(VOCABULARY, COMPANY).rank(request("no cooker or fridge, lonely", age=40))
    assert any("cooker" in u or "essentials" in u for u in result.unmet_needs)
