"""The demo year's people: who is referred, when, from where, needing what.

Pure and seeded: the same settings give the same people every time. What happens to
each person afterwards is played by ``demo_activity.py`` through the real use cases.

The year has shape, so that the commissioners' reports have something to show:

- **Seasons**: more referrals in winter than in August; loneliness, money and housing
  rise in the cold months, physical activity and gardening in spring and summer.
- **A need that grows over the last quarter**: money and debt (energy bills), from
  six months ago on, by 4% of the month's referrals more each month.
- **A ward whose demand outruns its capacity**: Sidcup asks for gardening and nature
  groups month after month, and no such group reaches it.
- **A need the vocabulary does not know, growing**: astronomy appears three months
  ago and grows (3%, 6%, 9% of referrals), a few people a month in wards all over the
  borough, never many in one: emerging needs must count it across wards to see it.
- A few needs nothing serves (bagpipes, sailing, rowing) all year, at a trickle.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

__all__ = ["PRACTICES", "Person", "people_of_the_year"]

PLACES = Path(__file__).parent / "referrals" / "data" / "places.json"

GIVEN = [
    "Margaret",
    "Ade",
    "Priya",
    "Tom",
    "Sandra",
    "Kwame",
    "Irene",
    "Darren",
    "Fatima",
    "Graham",
    "Joyce",
    "Wei",
    "Helen",
    "Olu",
    "Rita",
    "Brian",
    "Ama",
    "Lena",
    "Steve",
    "Carol",
    "Yusuf",
    "Eileen",
    "Raj",
    "Doreen",
    "Kofi",
    "Pat",
    "Marek",
    "Shirley",
    "Dev",
    "Maureen",
]
FAMILY = [
    "Okafor",
    "Smith",
    "Patel",
    "Jones",
    "Brown",
    "Mensah",
    "Taylor",
    "Khan",
    "Wilson",
    "Evans",
    "Walker",
    "Chen",
    "Hughes",
    "Ali",
    "Nowak",
    "Green",
    "Adeyemi",
    "Clarke",
    "Murphy",
    "Singh",
    "Baker",
    "Wright",
    "Osei",
    "Kowalski",
    "Hall",
    "Turner",
]

#: The demo's practices (ODS code, the share of referrals they send).
PRACTICES = (
    ("G83001", 0.30),  # the demo users gp and reception
    ("G83002", 0.22),  # gp2
    ("G83003", 0.18),
    ("G83004", 0.16),
    ("G83005", 0.14),
)

# (the referrer's words, pick-list categories, seasonal weight by month 1..12)
_FLAT = (1,) * 12
_WINTER = (1.6, 1.4, 1.1, 0.9, 0.8, 0.7, 0.7, 0.7, 0.9, 1.1, 1.3, 1.5)
_SUMMER = (0.6, 0.7, 1.0, 1.3, 1.5, 1.6, 1.6, 1.4, 1.1, 0.8, 0.6, 0.5)
NEEDS: tuple[tuple[str, tuple[str, ...], tuple[float, ...]], ...] = (
    ("lonely since her husband died in March, likes gardening", ("bereavement",), _FLAT),
    ("isolated at home, would like company and a cup of tea", ("social connection",), _WINTER),
    ("lives alone, has not been out since the winter began", ("social connection",), _WINTER),
    ("low mood and anxiety, wants to get out of the house", ("mental wellbeing",), _FLAT),
    ("behind on rent and worried about bills", ("money and debt", "housing"), _WINTER),
    ("carer for his wife with dementia, needs a break", ("carers",), _FLAT),
    (
        "type 2 diabetes, wants to exercise more",
        ("physical activity", "long-term conditions"),
        _SUMMER,
    ),
    ("recently arrived, wants to practise English", ("language and migration",), _FLAT),
    ("out of work, would like help with a CV", ("employment and skills",), _FLAT),
    ("enjoys painting and would like an art group", ("arts and culture",), _FLAT),
    ("wants to walk more, knee pain after surgery", ("physical activity",), _SUMMER),
    ("new to the area, lonely, likes singing", ("social connection", "arts and culture"), _FLAT),
    ("grieving her son, not sleeping", ("bereavement", "mental wellbeing"), _FLAT),
    ("damp flat and struggling with heating bills", ("housing", "money and debt"), _WINTER),
    ("likes being outdoors, would enjoy allotment work", ("nature and gardening",), _SUMMER),
    ("older man living alone, stopped going out", ("older people", "social connection"), _WINTER),
    ("anxious, wants to meet people", ("young adults", "mental wellbeing"), _FLAT),
    ("chronic pain, wants to meet others who understand", ("long-term conditions",), _FLAT),
    ("would like to volunteer to feel useful again", ("volunteering",), _FLAT),
)
MONEY = ("cannot afford the energy bills, in debt", ("money and debt",))
GARDENING = ("would love to grow vegetables with others outdoors", ("nature and gardening",))
ASTRONOMY = (  # the emerging need: several wordings, one idea
    "loves astronomy",
    "wants to try astronomy",
    "interested in astronomy",
)
NOTHING_SERVES = (
    "wants to learn the bagpipes",
    "would love to go sailing again",
    "interested in rowing on the river",
)
#: Referrals per month, relative: winter is busier than August.
VOLUME = (1.25, 1.1, 1.0, 0.95, 0.9, 0.85, 0.8, 0.7, 1.0, 1.05, 1.15, 1.1)
HOTSPOT_WARD = "Sidcup"


@dataclass(frozen=True, slots=True)
class Person:
    """One referral as a GP sends it, and when; ``repeat_after_days`` is set for the few
    whose practice sends the same referral again a few days later (a duplicate)."""

    index: int
    practice: str
    submitted_at: datetime
    referral: dict
    ward: str
    repeat_after_days: int | None = None


def _postcodes_by_ward() -> dict[str, list[str]]:
    data = json.loads(PLACES.read_text())
    wards: dict[str, list[str]] = {}
    for code, place in data["postcodes"].items():
        wards.setdefault(place["ward"], []).append(code)
    for ward in data["wards"]:  # a ward without exact postcodes: one in its district
        if ward["name"] not in wards and ward.get("postcode_districts"):
            wards[ward["name"]] = [f"{ward['postcode_districts'][0]} 1AA"]
    return {ward: sorted(codes) for ward, codes in sorted(wards.items())}


def _nhs_number(rng: random.Random) -> str:
    while True:
        digits = [rng.randint(0, 9) for _ in range(9)]
        check = 11 - sum(d * (10 - i) for i, d in enumerate(digits)) % 11
        if check == 11:
            check = 0
        if check != 10:
            return "".join(map(str, digits)) + str(check)


def _month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def _needs(rng: random.Random, day: date, ward: str, months_left: int) -> tuple[str, tuple]:
    """What this person needs, on this day, in this ward."""
    if months_left <= 3 and rng.random() < 0.03 * min(4 - months_left, 3):  # 3%, 6%, 9%
        return rng.choice(ASTRONOMY), ()
    if months_left <= 5 and rng.random() < 0.04 * (6 - months_left):  # 4% ... 24%
        return MONEY
    if ward == HOTSPOT_WARD and rng.random() < 0.45:
        return GARDENING
    if rng.random() < 0.02:
        return rng.choice(NOTHING_SERVES), ()
    weights = [w[day.month - 1] for _, _, w in NEEDS]
    text, categories, _ = rng.choices(NEEDS, weights)[0]
    return text, categories


def people_of_the_year(size: int, today: date, months: int = 12, seed: int = 9) -> list[Person]:
    """About ``size`` people referred over the ``months`` calendar months to ``today``,
    oldest first, across every ward and the demo practices."""
    rng = random.Random(seed)
    wards = _postcodes_by_ward()
    names = list(wards)
    first = date(today.year, today.month, 1)
    for _ in range(months - 1):
        first = (first - timedelta(days=1)).replace(day=1)
    days = [d for d in _days(first, today) if d.weekday() < 5]  # practices refer on weekdays
    weights = [VOLUME[d.month - 1] for d in days]
    total = sum(weights)
    # the hotspot ward refers a little more than its share, every ward some
    ward_weights = [2.0 if w == HOTSPOT_WARD else 1.0 for w in names]
    people: list[Person] = []
    last_month = _month_index(today)
    for day, weight in zip(days, weights, strict=True):
        expected = size * weight / total
        count = int(expected) + (rng.random() < expected - int(expected))
        for _ in range(count):
            index = len(people)
            ward = rng.choices(names, ward_weights)[0]
            text, categories = _needs(rng, day, ward, last_month - _month_index(day))
            moment = datetime.combine(day, time(8 + rng.randint(0, 9), rng.randint(0, 59)), UTC)
            age = rng.choice([rng.randint(18, 40), rng.randint(40, 70), rng.randint(65, 92)])
            birth = date(day.year - age - 1, 1, 1) + timedelta(days=rng.randint(1, 360))
            practice = rng.choices([p for p, _ in PRACTICES], [w for _, w in PRACTICES])[0]
            referral = {
                "given_name": rng.choice(GIVEN),
                "family_name": rng.choice(FAMILY),
                "nhs_number": _nhs_number(rng),
                "birth_date": birth.isoformat(),
                "gender": rng.choice(["female", "male", "female", "non-binary"]),
                "postcode": rng.choice(wards[ward]),
                "phone": f"020 7946 {rng.randint(0, 9999):04d}",
                "preferred_contact": rng.choice(["phone", "phone", "text", "letter"]),
                "needs": text,
                "need_categories": list(categories),
                "urgency": rng.choice(["routine"] * 6 + ["soon"] * 3 + ["urgent"]),
                "consent_to_refer": True,
                "consent_to_share": rng.random() < 0.8,
            }
            repeat = rng.randint(2, 9) if rng.random() < 0.03 else None
            people.append(Person(index, practice, moment, referral, ward, repeat))
    return people
