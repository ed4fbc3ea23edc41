"""Rank community services against a referral's needs: pure domain code, no I/O.

How a ranking is made, in the order a link worker would reason:
1. ``Vocabulary.extract`` turns the free text into needs (concepts with the phrase that
   expressed them); structured ``need_categories`` add needs of their own.
2. Hard constraints (``eligibility_problem``, ``delivery_allowed``) remove services the person
   cannot use. They are never traded off against relevance.
3. Each service's fit to each need comes from the inverted index built at ``upsert`` time
   (concept -> services with a fit score, split by ~30 km grid cell so a query only touches
   services near the person plus those delivered remotely).
4. Soft preferences (distance, language, accessibility, delivery the person manages, stale or
   closed entries, schedule, age and gender groups) scale the fit up or down, with a reason
   for each; a service meant for a group the person is outside of (a carers' cafe for someone
   who is not a carer) is held back.
5. A greedy pick serves every need in turn (a mix, not five services for one need), weighted
   by how strongly and how early each need was stated, so the main need can take a second
   slot before a passing mention takes one; services at zero capacity follow the available
   ones, flagged ``waiting_list``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np

from services.matcher.vocabulary import ConceptMatch, Fragment, NeedHit, Vocabulary

__all__ = [
    "DELIVERY_MODES",
    "ExtractedNeed",
    "MatchIndex",
    "MatchRequest",
    "Proposal",
    "RankResult",
    "ServiceRecord",
    "delivery_allowed",
    "eligibility_problem",
    "is_stale",
    "referral_route_note",
    "service_from_directory",
    "ward_centroids",
]

DELIVERY_MODES = ("in_person", "phone", "online", "home")
STALE_AFTER = timedelta(days=183)
UNMET_THRESHOLD = 0.45
MIN_PROPOSAL_FIT = 0.2
DISTANCE_SCALE_KM = 20.0
REMOTE_FACTOR = 0.82  # phone or home-visit services: no journey, but less connection
NEED_DECAY = (1.0, 0.45, 0.2, 0.1, 0.05)  # second and later needs a service meets count less
CELL_LAT, CELL_LON = 0.25, 0.4  # about 28 km by 28 km in the UK
NO_CELL = -1
SHORTLIST = 60
GENERATOR_WEIGHT = 0.3  # a need this faint scores candidates but does not propose them
COVERAGE = 0.2  # how much of a need one service that answers it fully takes care of
MENTION_STEP, MENTION_FLOOR = 0.04, 0.8  # each later-mentioned need weighs a little less
SYMPTOMS = ("low_mood", "anxiety", "stress", "sleep")  # often the echo of another need
SYMPTOM_WEIGHT, CAUSE_CONFIDENCE = 0.75, 0.7
LANGUAGE_CONCEPTS = ("english", "culture")
SAME_LANGUAGE_FIT = 0.75  # a group in the person's own language eases a language barrier
AUDIENCE_FIT = 0.6  # a service this strong on an audience concept is meant for that group
AUDIENCE_PENALTY = 0.6  # ... so it is a poor proposal for someone outside it
NARROWER_IMPLIES = 0.8  # an audience implying another this strongly is a subgroup of it
ABOUT_SOMEONE_ELSE = 0.5  # an audience suppressing another this much is its family or carers
YOUNG_AGE, OLDER_AGE, OLDEST_AGE = 25, 65, 75
LATER_LIFE_MIN_AGE, YOUNG_MAX_AGE = 50, 30  # eligibility bands that say who a service is for
YOUNG_BOOST = 1.4  # a service built for 18-25s is what a link worker offers a 20-year-old
SAME_GENDER_BOOST = 1.1  # a group for the person's own gender was set up for people like them
REMOTE_BOOST, IN_PERSON_DAMPING = 0.3, 0.3  # someone who can't get out: a wish, not a bar

#: factors every breakdown shows, 1.0 when they changed nothing; others appear when they did
BREAKDOWN_FACTORS = ("distance", "language", "accessibility", "schedule", "freshness", "capacity")

_DELIVERY_BIT = {"in_person": 1, "phone": 2, "online": 4, "home": 8}
_REMOTE_BITS = 2 | 4 | 8
_GENDER_BIT = {"female": 1, "male": 2, "non-binary": 4}
_PHYSICAL_ACCESS = ("wheelchair", "step_free", "accessible_toilet")
_OLDER, _YOUNG = 1, 2


# ---- the records the lead wires in ----------------------------------------------------------


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


# ---- hard constraints: explicit, each a small function -----------------------------------


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


def eligibility_problem(service: ServiceRecord, age: int | None, gender: str | None) -> str | None:
    """Why this person is not eligible, or None when they are.

    Unknown age or gender cannot prove eligibility, so any restriction on it excludes."""
    if service.min_age is not None or service.max_age is not None:
        if age is None:
            return "age limits apply and the person's age is unknown"
        if service.min_age is not None and age < service.min_age:
            return f"for ages {service.min_age}+"
        if service.max_age is not None and age > service.max_age:
            return f"for ages up to {service.max_age}"
    if service.genders:
        allowed = {normalise_gender(g) for g in service.genders}
        person = normalise_gender(gender)
        if person is None:
            return "gender-restricted and the person's gender is unknown"
        if person not in allowed:
            return "for " + ", ".join(sorted(g for g in allowed if g))
    return None


def delivery_allowed(service: ServiceRecord, acceptable: Iterable[str]) -> bool:
    """When the request names the modes the person can manage, the service must offer one."""
    modes = set(acceptable)
    return not modes or bool(modes & set(service.delivery or ("in_person",)))


def referral_route_note(route: str) -> str | None:
    """Our referrals come from link workers: 'link_worker' and 'either' routes take them
    directly; a 'self' route is still proposed, as signposting the person contacts themselves."""
    key = (route or "either").strip().lower()
    if key in ("link_worker", "either"):
        return None
    if key == "self":
        return "self-referral: give the person the contact details"
    return f"referral route '{route}': check how to refer"


def is_stale(service: ServiceRecord, today: date | None) -> bool:
    """Entries not confirmed in the last six months may be out of date."""
    return (
        today is not None
        and service.last_confirmed is not None
        and today - service.last_confirmed > STALE_AFTER
    )


def is_full(service: ServiceRecord) -> bool:
    return service.places_left is not None and service.places_left <= 0


# ---- directory mapping -----------------------------------------------------------------------


def service_from_directory(service: dict, organisation: dict | None = None) -> ServiceRecord:
    """Map a directory.json service (unknown fields ignored, optional ones tolerated)."""
    eligibility = service.get("eligibility") or {}
    location = service.get("location") or {}
    delivery = _as_tuple(service.get("delivery")) or ("in_person",)
    delivery = tuple(dict.fromkeys(normalise_delivery(d) for d in delivery))
    lat, lon = _as_float(location.get("lat")), _as_float(location.get("lon"))
    if "in_person" in delivery and lat is None and "home" not in delivery:
        delivery = (*delivery, "home")  # in person with no venue: they come to the person
    genders = tuple(str(g) for g in _as_tuple(eligibility.get("genders"))) or None
    organisation = organisation or {}
    status = str(service.get("status") or "active").lower()
    return ServiceRecord(
        id=str(service["id"]),
        name=str(service.get("name") or ""),
        description=str(service.get("description") or ""),
        categories=tuple(str(c) for c in _as_tuple(service.get("categories"))),
        keywords=tuple(str(k) for k in _as_tuple(service.get("keywords"))),
        organisation_name=str(service.get("organisation_name") or organisation.get("name") or ""),
        min_age=_as_int(eligibility.get("min_age")),
        max_age=_as_int(eligibility.get("max_age")),
        genders=genders,
        delivery=delivery,
        lat=lat,
        lon=lon,
        ward=location.get("ward"),
        postcode=location.get("postcode"),
        languages=tuple(str(x) for x in _as_tuple(service.get("languages"))),
        accessibility=tuple(
            dict.fromkeys(normalise_access(x) for x in _as_tuple(service.get("accessibility")))
        ),
        referral_route=str(service.get("referral_route") or "either"),
        capacity_per_week=_as_int(service.get("capacity_per_week")),
        places_free=_as_int(service.get("places_free")),
        schedule=str(service.get("schedule") or ""),
        last_confirmed=_as_date(service.get("last_confirmed")),
        temporarily_closed=status == "temporarily_closed"
        or service.get("temporarily_closed") is True,
    )


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


def ward_centroids(directory: dict) -> dict[str, tuple[float, float]]:
    """Mean position of the services in each ward: where to measure from when a referral
    names a ward but no coordinates."""
    sums: dict[str, list[float]] = {}
    for organisation in directory.get("organisations", ()):
        for service in organisation.get("services", ()):
            location = service.get("location") or {}
            lat, lon = _as_float(location.get("lat")), _as_float(location.get("lon"))
            if location.get("ward") and lat is not None and lon is not None:
                acc = sums.setdefault(location["ward"], [0.0, 0.0, 0.0])
                acc[0] += lat
                acc[1] += lon
                acc[2] += 1
    return {ward: (a / n, b / n) for ward, (a, b, n) in sums.items()}


def _as_tuple(value: object) -> tuple:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value.strip() else ()
    return tuple(value)  # type: ignore[arg-type]


def _as_int(value: object) -> int | None:
    try:
        return None if value is None or value == "" else int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _as_float(value: object) -> float | None:
    try:
        return None if value is None or value == "" else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _as_date(value: object) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


# ---- the index -------------------------------------------------------------------------------


class _Growable:
    """An append-only numpy column that doubles when full; readers slice a snapshot."""

    __slots__ = ("data", "size")

    def __init__(self, dtype: str, fill: float = 0) -> None:
        self.data = np.full(16, fill, dtype=dtype)
        self.size = 0

    def append(self, value: float) -> None:
        if self.size == len(self.data):
            bigger = np.empty(len(self.data) * 2, dtype=self.data.dtype)
            bigger[: self.size] = self.data
            self.data = bigger
        self.data[self.size] = value
        self.size += 1


class _Posting:
    """Services answering one concept in one grid cell, with their fit scores."""

    __slots__ = ("scores", "slots", "view")

    def __init__(self) -> None:
        self.slots = _Growable("int32")
        self.scores = _Growable("float32")
        self.view: tuple[np.ndarray, np.ndarray] = (self.slots.data[:0], self.scores.data[:0])

    def append(self, slot: int, score: float) -> None:
        self.slots.append(slot)
        self.scores.append(score)
        n = self.slots.size
        self.view = (self.slots.data[:n], self.scores.data[:n])


@dataclass(slots=True)
class _Columns:
    """Per-slot attributes used by the vectorised filters, one numpy array each."""

    lat: _Growable = field(default_factory=lambda: _Growable("float32", np.nan))
    lon: _Growable = field(default_factory=lambda: _Growable("float32", np.nan))
    min_age: _Growable = field(default_factory=lambda: _Growable("int16"))
    max_age: _Growable = field(default_factory=lambda: _Growable("int16"))
    genders: _Growable = field(default_factory=lambda: _Growable("uint8"))
    delivery: _Growable = field(default_factory=lambda: _Growable("uint8"))
    languages: _Growable = field(default_factory=lambda: _Growable("uint64"))
    access: _Growable = field(default_factory=lambda: _Growable("uint32"))
    flags: _Growable = field(default_factory=lambda: _Growable("uint8"))  # 1 full 2 closed 4 alive
    confirmed: _Growable = field(default_factory=lambda: _Growable("int32"))
    age_group: _Growable = field(default_factory=lambda: _Growable("uint8"))
    audience: _Growable = field(default_factory=lambda: _Growable("uint64"))

    def arrays(self, n: int) -> dict[str, np.ndarray]:
        return {name: getattr(self, name).data[:n] for name in self.__dataclass_fields__}


_FULL, _CLOSED, _ALIVE, _VIGOROUS, _GENTLE, _TALKING, _THERAPY = 1, 2, 4, 8, 16, 32, 64
_TRAIT_BITS = {"vigorous": _VIGOROUS, "gentle": _GENTLE, "talking": _TALKING, "therapy": _THERAPY}
_ALL_TRAITS = _VIGOROUS | _GENTLE | _TALKING | _THERAPY
TRAIT_FIT = 0.5  # a service this strong on a trait (vigorous, gentle) has it
VIGOROUS_PENALTY, GENTLE_BOOST = 0.75, 1.1  # for someone whose health asks for gentle activity
TALKING_PENALTY = 0.6  # a talking group or therapy for someone who would rather not talk
GENTLE_AGE = 65
# conditions that make a link worker start with something gentle, not a run or a boot camp
NEEDS_GENTLE = (
    "pain",
    "lung",
    "heart",
    "mobility",
    "weight",
    "diabetes",
    "long_term_condition",
    "stroke",
    "parkinsons",
    "cancer",
    "housebound",
    "dementia",
    "sight_loss",
)
VIGOROUS_INTERESTS = (
    "running",
    "football",
    "boxing",
    "cycling",
    "netball",
    "tennis",
    "cricket",
    "swimming",
)


class _BitNames:
    """Stable bit numbers for open-ended labels (languages, accessibility features)."""

    def __init__(self, limit: int, preset: Iterable[str] = ()) -> None:
        self.limit = limit
        self.bits: dict[str, int] = {}
        for name in preset:
            self.bit(name)

    def bit(self, name: str) -> int:
        key = name.strip().lower().replace(" ", "_").replace("-", "_")
        if key not in self.bits:
            self.bits[key] = min(len(self.bits), self.limit - 1)  # the last bit is shared
        return self.bits[key]

    def mask(self, names: Iterable[str]) -> int:
        out = 0
        for name in names:
            out |= 1 << self.bit(name)
        return out


@dataclass(frozen=True, slots=True)
class _Pick:
    index: int  # row in the shortlist
    relevance: float
    gain: float
    schedule: float
    waiting: bool


@dataclass(frozen=True, slots=True)
class _Need:
    hit: NeedHit
    weight: float
    direct: bool


class MatchIndex:
    """The directory replica the matcher ranks against.

    Writers (``upsert``/``remove``) serialise on a lock and only ever append, swapping in
    grown arrays whole; readers (``rank``) take snapshots without locking, so ranking from
    several threads while directory events arrive is safe."""

    def __init__(
        self, services: Iterable[ServiceRecord] = (), vocabulary: Vocabulary | None = None
    ) -> None:
        self.vocabulary = vocabulary or Vocabulary.load_default()
        self._lock = threading.Lock()
        self._records: list[ServiceRecord | None] = []
        self._slot_of: dict[str, int] = {}
        self._columns = _Columns()
        self._postings: dict[tuple[str, int], _Posting] = {}
        self._cells_of_concept: dict[str, set[int]] = {}
        self._languages = _BitNames(64, ("english",))
        self._access = _BitNames(32, ("wheelchair", "step_free", "accessible_toilet", "bsl"))
        self._ward_sums: dict[str, list[float]] = {}
        self._explicit_centroids: dict[str, tuple[float, float]] = {}
        self._dead = 0
        self._local = threading.local()
        self._explained: dict[int, dict[str, ConceptMatch]] = {}
        self._audience_bits = {c: i for i, c in enumerate(self.vocabulary.audiences[:64])}
        for service in services:
            self.upsert(service)

    # -- writes --

    def upsert(self, service: ServiceRecord) -> None:
        concepts = self._describe(service)
        with self._lock:
            old = self._slot_of.get(service.id)
            if old is not None:
                self._kill(old)
            slot = len(self._records)
            self._append_columns(service, concepts)
            self._records.append(service)
            self._slot_of[service.id] = slot
            cell = _cell(service.lat, service.lon) if self._needs_travel(service) else NO_CELL
            for concept_id, match in concepts.items():
                if self.vocabulary.concepts[concept_id].kind == "trait":
                    continue  # read into the flags column, not searched for
                posting = self._postings.get((concept_id, cell))
                if posting is None:
                    posting = self._postings[(concept_id, cell)] = _Posting()
                    self._cells_of_concept.setdefault(concept_id, set()).add(cell)
                posting.append(slot, match.score)
            if service.ward and service.lat is not None and service.lon is not None:
                acc = self._ward_sums.setdefault(service.ward.lower(), [0.0, 0.0, 0.0])
                acc[0] += service.lat
                acc[1] += service.lon
                acc[2] += 1
            if self._dead > 1000 and self._dead > len(self._slot_of):
                self._compact()

    def remove(self, service_id: str) -> None:
        with self._lock:
            slot = self._slot_of.pop(service_id, None)
            if slot is not None:
                self._kill(slot)

    def set_ward_centroids(self, centroids: dict[str, tuple[float, float]]) -> None:
        self._explicit_centroids = {k.lower(): v for k, v in centroids.items()}

    def __len__(self) -> int:
        return len(self._slot_of)

    def get(self, service_id: str) -> ServiceRecord | None:
        slot = self._slot_of.get(service_id)
        return None if slot is None else self._records[slot]

    def _describe(self, service: ServiceRecord) -> dict[str, ConceptMatch]:
        return self.vocabulary.describe_service(
            service.name,
            service.description,
            service.categories,
            service.keywords,
            service.organisation_name,
        )

    def _kill(self, slot: int) -> None:
        flags = self._columns.flags
        flags.data[slot] = int(flags.data[slot]) & ~_ALIVE & 0xFF
        self._records[slot] = None
        self._dead += 1

    def _compact(self) -> None:
        live = [r for r in self._records if r is not None]
        fresh = MatchIndex(live, self.vocabulary)
        fresh._explicit_centroids = self._explicit_centroids
        for name in (
            "_records",
            "_slot_of",
            "_columns",
            "_postings",
            "_cells_of_concept",
            "_languages",
            "_access",
            "_ward_sums",
        ):
            setattr(self, name, getattr(fresh, name))
        self._dead = 0
        self._explained = {}

    def _append_columns(self, s: ServiceRecord, concepts: dict[str, ConceptMatch]) -> None:
        c = self._columns
        c.lat.append(np.nan if s.lat is None else s.lat)
        c.lon.append(np.nan if s.lon is None else s.lon)
        c.min_age.append(-1 if s.min_age is None else max(0, min(s.min_age, 32000)))
        c.max_age.append(-1 if s.max_age is None else max(0, min(s.max_age, 32000)))
        c.genders.append(_gender_mask(s.genders))
        c.delivery.append(_delivery_mask(s.delivery))
        c.languages.append(self._languages.mask(s.languages))
        c.access.append(self._access.mask(s.accessibility))
        traits = 0
        for trait, bit in _TRAIT_BITS.items():
            if trait in concepts and concepts[trait].score >= TRAIT_FIT:
                traits |= bit
        if traits & _GENTLE:
            traits &= ~_VIGOROUS  # "walk, jog or run", "gentle circuits": gentle wins
        c.flags.append(
            _ALIVE
            | (_FULL if is_full(s) else 0)
            | (_CLOSED if s.temporarily_closed else 0)
            | traits
        )
        c.confirmed.append(-1 if s.last_confirmed is None else s.last_confirmed.toordinal())
        c.age_group.append(self._age_group(s))
        c.audience.append(self._audience_mask(self._meant_for(concepts)))

    def _meant_for(self, described: dict[str, ConceptMatch]) -> list[str]:
        """The groups a service is meant for. When it names several, the narrower ones say
        who it is for: a group for people bereaved by suicide is not for every bereaved
        person (the narrower concept implies the broader one), and a young adult carers'
        group is for carers who are young, not for every young adult (age only qualifies)."""
        concepts = self.vocabulary.concepts
        groups = [
            c for c, m in described.items() if m.score >= AUDIENCE_FIT and c in self._audience_bits
        ]
        broader = {
            other
            for c in groups
            for other, weight in concepts[c].related.items()
            if weight >= NARROWER_IMPLIES
        }
        # a group that mostly speaks of someone else's condition is for the people around
        # them (a group for families of drinkers names drinking; a SEND parents' group, autism)
        broader |= {
            other
            for c in groups
            for other, factor in concepts[c].suppresses.items()
            if factor <= ABOUT_SOMEONE_ELSE
        }
        core = [c for c in groups if c not in broader and not concepts[c].qualifies]
        return sorted(core or groups)

    def _audience_mask(self, concepts: Iterable[str]) -> int:
        bits = self._audience_bits
        mask = 0
        for concept in concepts:
            if concept in bits:
                mask |= 1 << bits[concept]
        return mask

    def _age_group(self, s: ServiceRecord) -> int:
        known = {self.vocabulary.canonical_category(c) for c in s.categories}
        older = "older people" in known or (s.min_age or 0) >= LATER_LIFE_MIN_AGE
        young = "young adults" in known or (s.max_age is not None and s.max_age <= YOUNG_MAX_AGE)
        return (_OLDER if older else 0) | (_YOUNG if young else 0)

    @staticmethod
    def _needs_travel(s: ServiceRecord) -> bool:
        return s.lat is not None and s.lon is not None and "in_person" in s.delivery

    # -- reads --

    def rank(self, request: MatchRequest, top: int = 5) -> RankResult:
        needs = self._needs(request)
        scored = [
            n
            for n in needs
            if self.vocabulary.concepts[n.hit.concept].kind not in ("modifier", "trait")
        ]
        prefs = _Preferences.from_needs(self.vocabulary, needs, request.age)
        origin = self._origin(request)
        extracted = tuple(self._extracted(n) for n in scored)
        fragments = self.vocabulary.unrecognised(request.needs_text)
        unrecognised = tuple(f.text for f in fragments)
        if not scored:
            return RankResult((), extracted, _unmet_unrecognised((), fragments, True), unrecognised)
        slots, fits = self._candidates(scored, origin)
        n_records = len(self._records)
        cols = self._columns.arrays(n_records)
        keep = self._eligible(cols, slots, request)
        slots, fits = slots[keep], np.asfortranarray(fits[keep])
        multiplier, distance, speaks = self._soft(cols, slots, request, prefs, origin)
        for column, need in enumerate(scored):
            if need.hit.concept in LANGUAGE_CONCEPTS:
                # a group in the person's own language answers a language barrier too
                fits[:, column] = np.maximum(fits[:, column], SAME_LANGUAGE_FIT * speaks)
        unmet = self._unmet(scored, fits)
        weights = np.array([n.weight for n in scored], dtype=np.float32)
        weighted = fits * weights
        best = weighted.max(axis=1) if len(weighted) else np.zeros(0, dtype=np.float32)
        rough = (best + NEED_DECAY[1] * (weighted.sum(axis=1) - best)) * multiplier
        rough_order = _top_indices(rough, 4 * SHORTLIST)  # an upper bound, then the exact sum
        # who a service is meant for can only lower the rough bound (or nudge it by a tenth),
        # so it is applied to the rough shortlist rather than to every candidate
        shortlisted = multiplier[rough_order] * self._group_fit(
            cols, slots[rough_order], request, needs
        )
        relevance = _combine(weighted[rough_order]) * shortlisted
        best = _top_indices(relevance, SHORTLIST)
        order = rough_order[best]
        picks = self._select(
            scored,
            prefs,
            slots[order],
            fits[order],
            shortlisted[best],
            cols["flags"][slots[order]],
            top,
        )
        proposals = self._proposals(
            request,
            scored,
            needs,
            prefs,
            cols,
            origin,
            slots[order],
            fits[order],
            distance[order],
            picks,
        )
        unmet_needs = _unmet_unrecognised(tuple(unmet), fragments, not proposals)
        return RankResult(tuple(proposals), extracted, unmet_needs, unrecognised)

    def _needs(self, request: MatchRequest) -> list[_Need]:
        vocabulary = self.vocabulary
        hits = {h.concept: h for h in vocabulary.extract(request.needs_text)}
        for category in request.need_categories:
            key = vocabulary.canonical_category(category)
            for concept_id in vocabulary.category_concepts.get(key or "", ()):
                if concept_id not in hits or hits[concept_id].confidence < 0.9:
                    hits[concept_id] = NeedHit(concept_id, category, 0.9, 10**9)
        # the order of mention is a mild cue too: referrers tend to lead with the main need
        order = {start: rank for rank, start in enumerate(sorted({h.start for h in hits.values()}))}
        # low mood, worry or stress beside a situation that explains them (caring, debt,
        # abuse, grief) is met by help with the situation first, not a mental health group
        causes = any(
            h.implied_by is None
            and h.confidence >= CAUSE_CONFIDENCE
            and vocabulary.concepts[h.concept].kind == "need"
            and vocabulary.concepts[h.concept].priority >= 1.0
            and h.concept not in SYMPTOMS
            for h in hits.values()
        )
        needs = []
        for hit in hits.values():
            concept = vocabulary.concepts[hit.concept]
            weight = min(hit.confidence, 1.0) * concept.priority * hit.emphasis
            weight *= max(MENTION_FLOOR, 1.0 - MENTION_STEP * order[hit.start])
            if causes and hit.concept in SYMPTOMS:
                weight *= SYMPTOM_WEIGHT
            needs.append(_Need(hit, weight, hit.implied_by is None))
        return sorted(needs, key=lambda n: -n.weight)

    def _extracted(self, need: _Need) -> ExtractedNeed:
        concept = self.vocabulary.concepts[need.hit.concept]
        categories = tuple(
            c for c, w in sorted(concept.categories.items(), key=lambda kv: -kv[1]) if w >= 0.3
        )
        return ExtractedNeed(need.hit.phrase, concept.id, categories, round(need.hit.confidence, 3))

    def _origin(self, request: MatchRequest) -> tuple[float, float] | None:
        if request.lat is not None and request.lon is not None:
            return (request.lat, request.lon)
        if request.ward:
            key = request.ward.lower()
            if key in self._explicit_centroids:
                return self._explicit_centroids[key]
            acc = self._ward_sums.get(key)
            if acc and acc[2]:
                return (acc[0] / acc[2], acc[1] / acc[2])
        return None

    def _candidates(
        self, needs: list[_Need], origin: tuple[float, float] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Union of services answering any need (near the person, or remote), with a
        (services x needs) matrix of fit scores."""
        near = _cells_near(origin) if origin is not None else None
        per_need: list[tuple[np.ndarray, np.ndarray]] = []
        for need in needs:
            per_need.append(self._postings_for(need.hit.concept, near))
        # Only needs that matter propose candidates; a faint one (exercise implied by high
        # blood pressure) still scores the candidates the others found. A service answering
        # nothing but a faint need would rank below them anyway, and at national scale its
        # posting list is the longest.
        generates = [n.weight >= GENERATOR_WEIGHT for n in needs]
        if not any(generates):
            generates = [True] * len(needs)
        all_slots = [s for (s, _), g in zip(per_need, generates, strict=True) if g]
        if not any(len(s) for s in all_slots):
            return np.zeros(0, dtype=np.int32), np.zeros((0, len(needs)), dtype=np.float32)
        # Deduplicate with a per-thread scratch array indexed by slot instead of sorting:
        # the union can hold a large share of a million-service directory.
        joined = np.concatenate(all_slots)
        position = self._scratch(len(self._records))
        order = np.arange(len(joined), dtype=np.int32)
        position[joined] = order
        slots = joined[position[joined] == order]
        position[slots] = np.arange(len(slots), dtype=np.int32)
        # column-major: every per-need write and every across-needs reduction (best need,
        # sum of needs, best service per need) runs over contiguous memory
        fits = np.zeros((len(slots), len(needs)), dtype=np.float32, order="F")
        for column, (need_slots, need_scores) in enumerate(per_need):
            if not len(need_slots):
                continue
            at = position[need_slots]  # a service sits in one cell per concept: no duplicates
            if not generates[column]:  # the scratch array holds stale positions elsewhere
                found = (at < len(slots)) & (slots[np.minimum(at, len(slots) - 1)] == need_slots)
                at, need_scores = at[found], need_scores[found]
            fits[at, column] = need_scores
        return slots, fits

    def _scratch(self, size: int) -> np.ndarray:
        scratch = getattr(self._local, "scratch", None)
        if scratch is None or len(scratch) < size:
            scratch = self._local.scratch = np.zeros(max(size, 1024) * 5 // 4, dtype=np.int32)
        return scratch

    def _postings_for(self, concept: str, near: set[int] | None) -> tuple[np.ndarray, np.ndarray]:
        cells = self._cells_of_concept.get(concept, set())
        chosen = cells if near is None else (cells & (near | {NO_CELL}))
        views = [self._postings[(concept, c)].view for c in chosen]
        slots = [v[0] for v in views]
        scores = [v[1] for v in views]
        if near is not None and cells - chosen:
            strong = sum(int((s >= 0.5).sum()) for s in scores)
            if strong < 3:  # nothing good nearby: look further afield rather than give up
                views = [self._postings[(concept, c)].view for c in cells]
                slots = [v[0] for v in views]
                scores = [v[1] for v in views]
        if not slots:
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32)
        return np.concatenate(slots), np.concatenate(scores)

    def _eligible(
        self, cols: dict[str, np.ndarray], slots: np.ndarray, request: MatchRequest
    ) -> np.ndarray:
        """Hard constraints, vectorised (mirrors ``eligibility_problem``/``delivery_allowed``)."""
        flags = cols["flags"][slots]
        keep = (flags & _ALIVE) > 0
        min_age, max_age = cols["min_age"][slots], cols["max_age"][slots]
        if request.age is None:
            keep &= (min_age < 0) & (max_age < 0)
        else:
            keep &= (min_age < 0) | (min_age <= request.age)
            keep &= (max_age < 0) | (max_age >= request.age)
        genders = cols["genders"][slots]
        person = _GENDER_BIT.get(normalise_gender(request.gender) or "", 0)
        keep &= (genders == 0) | ((genders & person) > 0 if person else False)
        if request.delivery_modes:
            wanted = _delivery_mask(request.delivery_modes)
            keep &= (cols["delivery"][slots] & wanted) > 0
        return keep

    def _soft(
        self,
        cols: dict[str, np.ndarray],
        slots: np.ndarray,
        request: MatchRequest,
        prefs: _Preferences,
        origin: tuple[float, float] | None,
        parts: dict[str, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Score multipliers for soft preferences, distance in km (nan when remote) and
        whether the service speaks one of the person's languages other than English.

        With ``parts``, each named factor is also kept on its own (for the few services
        proposed), so a proposal's breakdown is computed by the same code as its score."""
        n = len(slots)
        f32 = np.float32
        multiplier = np.ones(n, dtype=np.float32)

        def scale(name: str, where: np.ndarray, factor: float) -> None:
            _scale(multiplier, where, factor)
            if parts is not None and factor != 1.0:
                _scale(parts.setdefault(name, np.ones(n, dtype=np.float32)), where, factor)

        speaks = np.zeros(n, dtype=np.float32)
        delivery = cols["delivery"][slots]
        remote = (delivery & _REMOTE_BITS) > 0
        lat, lon = cols["lat"][slots], cols["lon"][slots]
        travels = ((delivery & 1) > 0) & ~np.isnan(lat)
        if origin is not None:
            dy = lat - f32(origin[0])
            dy *= f32(110.57)
            dx = lon - f32(origin[1])
            dx *= f32(111.32 * math.cos(math.radians(origin[0])))
            dx *= dx
            dy *= dy
            dx += dy
            np.sqrt(dx, out=dx)
            distance = np.where(travels, dx, f32(np.nan))
            factor = np.full(n, f32(REMOTE_FACTOR), dtype=np.float32)
            factor[travels] = f32(1.0) / (f32(1.0) + dx[travels] / f32(DISTANCE_SCALE_KM))
            both = travels & remote
            np.maximum(factor, f32(REMOTE_FACTOR), out=factor, where=both)
            multiplier *= factor
            if parts is not None:
                parts["distance"] = factor
        else:
            distance = np.full(n, np.nan, dtype=np.float32)
            scale("distance", ~travels, REMOTE_FACTOR)
        if prefs.remote > 0:
            scale("delivery_preference", remote, 1.0 + REMOTE_BOOST * prefs.remote)
            scale("delivery_preference", ~remote, 1.0 - IN_PERSON_DAMPING * prefs.remote)
        spoken = {lang.lower() for lang in request.languages}
        other = spoken - {"english"}
        if other:
            mask = self._languages.mask(other)
            match = (cols["languages"][slots] & np.uint64(mask)) > 0
            speaks = match.astype(np.float32)
            boost = 1.35 if "english" not in spoken or prefs.limited_english else 1.15
            scale("language", match, boost)
            scale("language", ~match, 1.0 if "english" in spoken else 0.92)
        if request.accessibility_needs:
            access = cols["access"][slots]
            for need in request.accessibility_needs:
                bit = np.uint32(1 << self._access.bit(need))
                met = (access & bit) > 0
                if need in _PHYSICAL_ACCESS:
                    met |= ~travels
                scale("accessibility", met, 1.05)
                scale("accessibility", ~met, 0.85)
        flags = cols["flags"][slots]
        scale("closed", (flags & _CLOSED) > 0, 0.4)
        if prefs.gentle:
            scale("gentle_pace", (flags & _VIGOROUS) > 0, VIGOROUS_PENALTY)
            scale("gentle_pace", (flags & _GENTLE) > 0, GENTLE_BOOST)
        if prefs.no_talking or prefs.no_therapy:
            unwanted = _TALKING if prefs.no_talking else _THERAPY
            scale("talking", (flags & unwanted) > 0, TALKING_PENALTY)
        if request.today is not None:
            confirmed = cols["confirmed"][slots]
            cutoff = (request.today - STALE_AFTER).toordinal()
            scale("freshness", (confirmed >= 0) & (confirmed < cutoff), 0.8)
        if request.age is not None:
            group = cols["age_group"][slots]
            older = 1.1 if request.age >= OLDER_AGE else (0.85 if request.age < 50 else 1.0)
            older = 1.2 if request.age >= OLDEST_AGE else older
            young = YOUNG_BOOST if request.age <= YOUNG_AGE else 0.8
            scale("age_group", (group & _OLDER) > 0, older)
            scale("age_group", (group & _YOUNG) > 0, young)
        return multiplier.astype(np.float32), distance, speaks

    def _group_fit(
        self,
        cols: dict[str, np.ndarray],
        slots: np.ndarray,
        request: MatchRequest,
        needs: list[_Need],
        parts: dict[str, np.ndarray] | None = None,
    ) -> np.ndarray:
        """Services for a particular group (carers, veterans, people with sight loss...) are
        poor proposals for someone outside every group they serve; a group for the person's
        own gender was set up for people like them."""
        audience = cols["audience"][slots]
        mask = np.uint64(self._audience_mask(_person_groups(request, needs)))
        outside = (audience != 0) & ((audience & mask) == 0)
        factor = np.where(outside, AUDIENCE_PENALTY, 1.0)
        if parts is not None and outside.any():
            parts["audience"] = factor.astype(np.float32)
        person = _GENDER_BIT.get(normalise_gender(request.gender) or "", 0)
        if person:
            same = np.where((cols["genders"][slots] & person) > 0, SAME_GENDER_BOOST, 1.0)
            factor *= same
            if parts is not None and (same != 1.0).any():
                parts["same_gender"] = same.astype(np.float32)
        return factor.astype(np.float32)

    def _audiences_outside(
        self, described: dict[str, ConceptMatch], request: MatchRequest, needs: list[_Need]
    ) -> list[str]:
        """The labels of the groups a service is meant for, when the person is in none."""
        groups = self._meant_for(described)
        if not groups or set(groups) & _person_groups(request, needs):
            return []
        return [self.vocabulary.concepts[concept].label for concept in sorted(groups)]

    def _unmet(self, needs: list[_Need], fits: np.ndarray) -> list[str]:
        unmet = []
        best = fits.max(axis=0) if len(fits) else np.zeros(len(needs))
        for column, need in enumerate(needs):
            concept = self.vocabulary.concepts[need.hit.concept]
            primary = need.direct and need.hit.confidence >= 0.7
            weak = best[column] < UNMET_THRESHOLD and need.hit.phrase not in unmet
            if primary and weak and concept.kind in ("need", "interest"):
                unmet.append(need.hit.phrase)
        return unmet

    def _select(
        self,
        needs: list[_Need],
        prefs: _Preferences,
        slots: np.ndarray,
        fits: np.ndarray,
        multiplier: np.ndarray,
        flags: np.ndarray,
        top: int,
    ) -> list[_Pick]:
        """Greedy pick that keeps serving needs not yet covered (xQuAD-style residuals).

        Each pick's gain (what it adds to the proposals before it) is its score, so the
        scores shown follow the order; services on a waiting list come after the rest."""
        weights = np.array([n.weight for n in needs], dtype=np.float32)
        schedule_bonus = np.array(
            [self._schedule_fit(int(s), prefs) for s in slots], dtype=np.float32
        )
        gain_base = fits * weights
        quality = (
            (fits * np.minimum(1.0, np.array([n.hit.confidence for n in needs]))).max(axis=1)
            * multiplier
            * schedule_bonus
        )
        usable = quality >= MIN_PROPOSAL_FIT
        full = (flags & _FULL) > 0
        # relevance in units of the strongest need: 1.0 answers it fully
        scale = float(weights.max()) if len(weights) and weights.max() > 0 else 1.0
        chosen: list[_Pick] = []
        for waiting in (False, True):
            residual = np.ones(len(needs), dtype=np.float32)
            pool = usable & (full == waiting)
            while len(chosen) < top and pool.any():
                relevance = _combine(gain_base * residual)
                gains = np.where(pool, relevance * multiplier * schedule_bonus, -1.0)
                pick = int(np.argmax(gains))
                chosen.append(
                    _Pick(
                        pick,
                        float(relevance[pick]) / scale,
                        float(gains[pick]) / scale,
                        float(schedule_bonus[pick]),
                        waiting,
                    )
                )
                pool[pick] = False
                residual *= 1.0 - COVERAGE * fits[pick]
        return chosen

    def _proposals(
        self,
        request: MatchRequest,
        scored: list[_Need],
        needs: list[_Need],
        prefs: _Preferences,
        cols: dict[str, np.ndarray],
        origin: tuple[float, float] | None,
        slots: np.ndarray,
        fits: np.ndarray,
        distance: np.ndarray,
        picks: list[_Pick],
    ) -> list[Proposal]:
        """The picks as proposals, each with its score taken apart: the relevance it adds
        (from the fit to each need) times each soft factor, recomputed for these few
        services by the same code that ranked them."""
        if not picks:
            return []
        chosen = slots[np.array([p.index for p in picks])]
        parts: dict[str, np.ndarray] = {}
        self._soft(cols, chosen, request, prefs, origin, parts)
        self._group_fit(cols, chosen, request, needs, parts)
        weights = np.array([n.weight for n in scored], dtype=np.float32)
        out = []
        previous = math.inf
        for row, pick in enumerate(picks):
            slot = int(slots[pick.index])
            record = self._records[slot]
            if record is None:
                continue
            score, capacity = pick.gain, 1.0
            if score > previous:  # a waiting list starts afresh, but follows every place
                capacity, score = previous / score, previous
            previous = score
            breakdown = {
                f"fit: {need.hit.concept}": float(fits[pick.index, column])
                for column, need in enumerate(scored)
                if fits[pick.index, column] > 0
            }
            breakdown["relevance"] = pick.relevance
            breakdown.update(dict.fromkeys(BREAKDOWN_FACTORS, 1.0))
            breakdown.update(
                {name: float(v) for name, values in parts.items() if (v := values[row]) != 1.0}
            )
            breakdown["schedule"] = pick.schedule
            breakdown["capacity"] = capacity
            main = int(np.argmax(fits[pick.index] * weights))
            out.append(
                self._proposal(
                    slot,
                    record,
                    request,
                    scored,
                    prefs,
                    fits[pick.index],
                    main,
                    score,
                    {k: round(v, 4) for k, v in breakdown.items()},
                    float(distance[pick.index]),
                    pick.waiting,
                )
            )
        return out

    def _schedule_fit(self, slot: int, prefs: _Preferences) -> float:
        if not prefs.schedule_words:
            return 1.0
        record = self._records[slot]
        text = record.schedule.lower() if record else ""
        return 1.08 if any(w in text for w in prefs.schedule_words) else 1.0

    def _proposal(
        self,
        slot: int,
        record: ServiceRecord,
        request: MatchRequest,
        needs: list[_Need],
        prefs: _Preferences,
        fits: np.ndarray,
        main: int,
        score: float,
        breakdown: dict[str, float],
        distance: float,
        waiting: bool,
    ) -> Proposal:
        described = self._explained.get(slot)
        if described is None:
            if len(self._explained) > 4096:
                self._explained = {}
            described = self._explained[slot] = self._describe(record)
        reasons = []
        for column in np.argsort(-fits * np.array([n.weight for n in needs])):
            need = needs[int(column)]
            if fits[column] < 0.3 or (len(reasons) >= 2 and column != main):
                continue
            reasons.append(_need_reason(self.vocabulary, need, described.get(need.hit.concept)))
        traits = int(self._columns.flags.data[slot]) & _ALL_TRAITS
        schedule_bonus = breakdown.get("schedule", 1.0)
        reasons.extend(_fit_reasons(record, request, prefs, distance, schedule_bonus, traits))
        outside = self._audiences_outside(described, request, needs)
        if outside:
            reasons.append("soft mismatch: meant for " + ", ".join(outside) + ": ranked lower")
        need = needs[main]
        return Proposal(
            service_id=record.id,
            service_name=record.name,
            score=round(score, 4),
            need=need.hit.phrase,
            concept=need.hit.concept,
            reasons=tuple(reasons),
            waiting_list=waiting,
            distance_km=None if math.isnan(distance) else round(distance, 1),
            breakdown=breakdown,
        )


@dataclass(frozen=True, slots=True)
class _Preferences:
    """Soft wishes read from the text: delivery the person manages, times that suit."""

    remote: float
    schedule_words: tuple[str, ...]
    schedule_labels: tuple[str, ...]
    limited_english: bool
    gentle: bool  # health or age ask for gentle activity, and no vigorous interest was stated
    no_talking: bool  # would rather not talk about feelings at all, in a group or one to one
    no_therapy: bool  # declines counselling or therapy (a peer group may still suit)

    @classmethod
    def from_needs(
        cls, vocabulary: Vocabulary, needs: list[_Need], age: int | None = None
    ) -> _Preferences:
        remote = 0.0
        words: list[str] = []
        labels: list[str] = []
        for need in needs:
            concept = vocabulary.concepts[need.hit.concept]
            if concept.prefers_delivery and need.hit.implied_by is None:
                remote = max(remote, min(1.0, need.hit.confidence))
            if concept.schedule_words:
                words.extend(concept.schedule_words)
                labels.append(concept.label)
        limited = any(n.hit.concept == "english" and n.direct for n in needs)
        stated = {n.hit.concept for n in needs if n.direct and n.hit.confidence >= 0.5}
        gentle = bool(stated & set(NEEDS_GENTLE)) or (age is not None and age >= GENTLE_AGE)
        gentle = gentle and not stated & set(VIGOROUS_INTERESTS)
        no_talking = any(n.hit.concept == "no_talking" and n.direct for n in needs)
        no_therapy = any(n.hit.concept == "no_therapy" for n in needs)
        return cls(remote, tuple(words), tuple(labels), limited, gentle, no_talking, no_therapy)


def _unmet_unrecognised(
    unmet: tuple[str, ...], fragments: Iterable[Fragment], nothing_proposed: bool
) -> tuple[str, ...]:
    """Unmet needs, honestly: a need asked for in words the vocabulary does not know
    ("needs transport to hospital") is one no service was found for, and when nothing at
    all is proposed every unrecognised stretch is reported rather than silence."""
    extra = [f.text for f in fragments if f.requested or nothing_proposed]
    return tuple(dict.fromkeys((*unmet, *extra)))


def _person_groups(request: MatchRequest, needs: list[_Need]) -> set[str]:
    """The audience concepts a person belongs to: what the referral says, plus age and
    language (someone who speaks another language is welcome at a newcomers' group)."""
    groups = {n.hit.concept for n in needs if n.hit.confidence >= 0.25}
    if request.age is not None and request.age <= YOUNG_AGE:
        groups.add("young_adult")
    spoken = {lang.lower() for lang in request.languages}
    if "bsl" in spoken or "bsl" in request.accessibility_needs:
        groups |= {"sign_language", "hearing_loss"}
        spoken.discard("bsl")
    if spoken - {"english"}:
        groups |= {"refugee", "english", "culture"}
    return groups


def _need_reason(vocabulary: Vocabulary, need: _Need, match: ConceptMatch | None) -> str:
    concept = vocabulary.concepts[need.hit.concept]
    said = f'"{need.hit.phrase}" → {concept.label}'
    if match is None:
        return said
    evidence = []
    if match.terms:
        evidence.append("service says " + ", ".join(f'"{t}"' for t in match.terms[:3]))
    if match.category:
        evidence.append(f"category {match.category}")
    return said + (": " + "; ".join(evidence) if evidence else "")


def _fit_reasons(
    record: ServiceRecord,
    request: MatchRequest,
    prefs: _Preferences,
    distance: float,
    schedule_bonus: float,
    traits: int = 0,
) -> list[str]:
    reasons = []
    remote_modes = [m for m in record.delivery if m != "in_person"]
    if not math.isnan(distance):
        where = f" ({record.ward})" if record.ward else ""
        reasons.append(f"{distance:.1f} km away{where}")
    if remote_modes:
        prefix = "also " if not math.isnan(distance) else ""
        reasons.append(
            prefix + "delivered by " + "/".join(remote_modes).replace("home", "home visit")
        )
    if prefs.remote > 0 and not remote_modes:
        reasons.append("soft mismatch: in person only, but the person may not manage to get out")
    spoken = {lang.lower() for lang in request.languages} - {"english"}
    offered = {lang.lower(): lang for lang in record.languages}
    shared = [offered[s] for s in spoken if s in offered]
    if shared:
        reasons.append("speaks " + ", ".join(sorted(shared)))
    elif spoken:
        reasons.append("soft mismatch: no " + "/".join(sorted(spoken)) + " speakers listed")
    if request.accessibility_needs:
        have = {a.lower() for a in record.accessibility}
        missing = [
            a
            for a in request.accessibility_needs
            if a.lower() not in have
            and not (a in _PHYSICAL_ACCESS and "in_person" not in record.delivery)
        ]
        met = [a for a in request.accessibility_needs if a not in missing]
        if met:
            reasons.append("accessibility: " + ", ".join(met))
        if missing:
            reasons.append("soft mismatch: no " + ", ".join(missing) + " listed")
    if schedule_bonus > 1.0:
        reasons.append(f"runs at times that suit ({record.schedule})")
    places = record.places_left
    if places is not None and places <= 0:
        reasons.append("full this week: waiting list")
    elif places is not None:
        reasons.append(
            f"{places} places {'free this week' if record.places_free is not None else 'a week'}"
        )
    note = referral_route_note(record.referral_route)
    if note:
        reasons.append(note)
    if prefs.gentle and traits & _VIGOROUS:
        reasons.append(
            "soft mismatch: a vigorous activity, and their health suggests a gentle start"
        )
    elif prefs.gentle and traits & _GENTLE:
        reasons.append("a gentle pace that suits their health")
    if prefs.no_talking and traits & _TALKING:
        reasons.append("soft mismatch: built around talking, and they would rather not")
    elif prefs.no_therapy and traits & _THERAPY:
        reasons.append("soft mismatch: counselling or therapy, which they have declined")
    if record.temporarily_closed:
        reasons.append("temporarily closed: ranked lower")
    if is_stale(record, request.today):
        reasons.append(f"details last confirmed {record.last_confirmed}: may be out of date")
    return reasons


def _scale(values: np.ndarray, where: np.ndarray, factor: float) -> None:
    """Multiply ``values`` in place where the mask holds (cheap when the mask is sparse)."""
    if factor != 1.0:
        np.multiply(values, np.float32(factor), out=values, where=where)


def _combine(contributions: np.ndarray) -> np.ndarray:
    """A service's value across needs: its best need counts fully, each further need it also
    meets counts less (a bakery of everything should not beat the specialist)."""
    if contributions.shape[1] == 0:
        return np.zeros(contributions.shape[0], dtype=np.float32)
    ordered = -np.sort(-contributions, axis=1)[:, : len(NEED_DECAY)]
    # Multiply and sum rather than ``@``: a handful of columns gains nothing from BLAS, and
    # some OpenBLAS builds raise spurious "invalid value" warnings in small matmuls.
    weights = np.array(NEED_DECAY[: ordered.shape[1]], dtype=np.float32)
    return (ordered * weights).sum(axis=1)


def _top_indices(values: np.ndarray, k: int) -> np.ndarray:
    if len(values) <= k:
        return np.argsort(-values, kind="stable")
    part = np.argpartition(-values, k)[:k]
    return part[np.argsort(-values[part], kind="stable")]


def _cell(lat: float | None, lon: float | None) -> int:
    if lat is None or lon is None:
        return NO_CELL
    return (math.floor(lat / CELL_LAT) + 2000) * 4000 + math.floor(lon / CELL_LON) + 2000


def _cells_near(origin: tuple[float, float]) -> set[int]:
    lat, lon = origin
    return {
        _cell(lat + dy * CELL_LAT, lon + dx * CELL_LON) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
    }


def _gender_mask(genders: tuple[str, ...] | None) -> int:
    if not genders:
        return 0
    mask = 0
    for g in genders:
        mask |= _GENDER_BIT.get(normalise_gender(g) or "", 8)
    return mask


def _delivery_mask(modes: Iterable[str]) -> int:
    mask = 0
    for mode in modes:
        mask |= _DELIVERY_BIT.get(mode.strip().lower().replace("-", "_"), 0)
    return mask or 1
