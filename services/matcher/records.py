"""The records the matcher works with: a directory entry, a request, what it proposes, and
the labels (gender, delivery, accessibility) both sides are normalised into."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from services.matcher.vocabulary import NeedHit

__all__ = [
    "BREAKDOWN_FACTORS",
    "DELIVERY_MODES",
    "ExtractedNeed",
    "MatchRequest",
    "Need",
    "Proposal",
    "RankResult",
    "ServiceRecord",
    "normalise_access",
    "normalise_delivery",
    "normalise_gender",
]

DELIVERY_MODES = ("in_person", "phone", "online", "home")
#: factors every breakdown shows, 1.0 when they changed nothing; others appear when they did
BREAKDOWN_FACTORS = ("distance", "language", "accessibility", "schedule", "freshness", "capacity")
PHYSICAL_ACCESS = ("wheelchair", "step_free", "accessible_toilet")


@dataclass(frozen=True, slots=True)
class ServiceRecord:
    id: str
    name: str
    description: str
    categories: tuple[str, ...]
    keywords: tuple[str, ...]
    organisation_name: str
    min_age: int | None
    max_age: int | None
    genders: tuple[str, ...] | None
    delivery: tuple[str, ...]
    lat: float | None
    lon: float | None
    ward: str | None
    postcode: str | None
    languages: tuple[str, ...]
    accessibility: tuple[str, ...]
    referral_route: str
    capacity_per_week: int | None
    places_free: int | None
    schedule: str
    last_confirmed: date | None
    temporarily_closed: bool
    #: different people's unresolved reports that the entry is out of date or closed
    open_reports: int = 0

    @property
    def places_left(self) -> int | None:
        return self.places_free if self.places_free is not None else self.capacity_per_week


@dataclass(frozen=True, slots=True)
class MatchRequest:
    referral_id: str
    needs_text: str
    age: int | None
    gender: str | None
    ward: str | None
    lat: float | None
    lon: float | None
    languages: tuple[str, ...] = ()
    accessibility_needs: tuple[str, ...] = ()
    need_categories: tuple[str, ...] = ()
    delivery_modes: tuple[str, ...] = ()
    today: date | None = None

    def __post_init__(self) -> None:
        needs = tuple(dict.fromkeys(normalise_access(a) for a in self.accessibility_needs))
        object.__setattr__(self, "accessibility_needs", needs)


@dataclass(frozen=True, slots=True)
class Proposal:
    service_id: str
    service_name: str
    score: float
    need: str
    concept: str
    reasons: tuple[str, ...]
    waiting_list: bool
    distance_km: float | None
    #: ``score`` taken apart: ``relevance`` (what the service adds for the needs, from its
    #: ``fit: <concept>`` to each, 1.0 = answers the strongest need fully) times every
    #: factor; ``score`` is their product, and the order of proposals follows it.
    breakdown: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ExtractedNeed:
    phrase: str
    concept: str
    categories: tuple[str, ...]
    confidence: float


@dataclass(frozen=True, slots=True)
class RankResult:
    proposals: tuple[Proposal, ...]
    needs: tuple[ExtractedNeed, ...]
    unmet_needs: tuple[str, ...]
    #: stretches of the needs text in which no need was recognised, normalised for reports
    unrecognised: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Need:
    """A need read from the referral, weighed by how strongly and how early it was stated."""

    hit: NeedHit
    weight: float
    direct: bool  # stated, not implied by another need
    circumstance: bool = False  # a fact about the person beside what they want: no need itself


# ---- labels ---------------------------------------------------------------------------------


def normalise_gender(value: str | None) -> str | None:
    if value is None:
        return None
    key = value.strip().lower().replace("_", "-").replace(" ", "-")
    aliases = {
        "f": "female",
        "woman": "female",
        "women": "female",
        "m": "male",
        "man": "male",
        "men": "male",
        "nonbinary": "non-binary",
        "nb": "non-binary",
        "enby": "non-binary",
    }
    return aliases.get(key, key) or None


_DELIVERY_ALIASES = {
    "face_to_face": "in_person",
    "in_person_group": "in_person",
    "group": "in_person",
    "venue": "in_person",
    "telephone": "phone",
    "phone_call": "phone",
    "by_phone": "phone",
    "video": "online",
    "virtual": "online",
    "remote": "online",
    "zoom": "online",
    "internet": "online",
    "home_visit": "home",
    "home_visits": "home",
    "at_home": "home",
    "outreach": "home",
}


def normalise_delivery(mode: str) -> str:
    """A directory's delivery label in our terms ("Face to face", "telephone", "home visits");
    an unknown label is kept as it is, so it simply matches nothing the person asked for."""
    key = str(mode).strip().lower().replace("-", "_").replace(" ", "_")
    return _DELIVERY_ALIASES.get(key, key)


_ACCESS_WORDS = (  # (words that must all appear, our label), first match wins
    (("wheelchair",), "wheelchair"),
    (("step", "free"), "step_free"),
    (("level", "access"), "step_free"),
    (("ramp",), "step_free"),
    (("lift",), "step_free"),
    (("loop",), "hearing_loop"),
    (("bsl",), "bsl"),
    (("sign", "language"), "bsl"),
    (("large", "print"), "large_print"),
    (("easy", "read"), "large_print"),
    (("toilet",), "accessible_toilet"),
    (("quiet",), "quiet_space"),
    (("carer",), "carers_free"),
)


def normalise_access(label: str) -> str:
    """An accessibility label in the shared vocabulary ("Wheelchair accessible" is
    "wheelchair", "Induction loop" is "hearing_loop"); unknown labels are kept."""
    key = str(label).strip().lower().replace("-", " ").replace("_", " ")
    words = key.split()
    for needed, ours in _ACCESS_WORDS:
        if all(any(w.startswith(n) for w in words) for n in needed):
            return ours
    return "_".join(words)
