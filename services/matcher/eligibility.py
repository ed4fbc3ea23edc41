"""Hard constraints: who a service may be proposed to. Never traded against relevance.

Two forms of one rule: ``eligibility_problem``/``delivery_allowed`` read one record and say
why not (for tests, the benchmark's baselines and explanations); ``eligible`` answers the
same question for thousands of candidates at once from the index's columns. A test holds
them to the same answer on every labelled set (``test_matcher_eligibility_agrees.py``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import numpy as np

from services.matcher.columns import ALIVE
from services.matcher.records import MatchRequest, ServiceRecord, normalise_gender
from services.matcher.tuning import REPORTS_TO_DEMOTE, STALE_AFTER

__all__ = [
    "DELIVERY_BIT",
    "GENDER_BIT",
    "delivery_allowed",
    "delivery_mask",
    "eligibility_problem",
    "eligible",
    "gender_mask",
    "is_full",
    "is_reported",
    "is_stale",
    "referral_route_note",
]

DELIVERY_BIT = {"in_person": 1, "phone": 2, "online": 4, "home": 8}
REMOTE_BITS = 2 | 4 | 8
GENDER_BIT = {"female": 1, "male": 2, "non-binary": 4}
# whether a service with each genders mask (0: anyone) admits a person of each gender bit
# (0: none given), read with one look-up per candidate
AGE_LIMIT = 32767  # ages the int16 age columns (-1 or 0..32000) compare with directly
OTHER_GENDER_BIT = 8


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


def is_reported(service: ServiceRecord) -> bool:
    """Enough different people say the entry is wrong for it to be offered after the rest."""
    return service.open_reports >= REPORTS_TO_DEMOTE


def is_full(service: ServiceRecord) -> bool:
    return service.places_left is not None and service.places_left <= 0


def eligible(cols: dict[str, np.ndarray], slots: np.ndarray, request: MatchRequest) -> np.ndarray:
    """``eligibility_problem`` and ``delivery_allowed`` for many services at once (and only
    live entries): a boolean mask over ``slots``."""
    flags = cols["flags"][slots]
    keep = (flags & ALIVE) > 0
    min_age, max_age = cols["min_age"][slots], cols["max_age"][slots]
    if request.age is None:
        keep &= (min_age < 0) & (max_age < 0)
    elif 0 <= request.age <= AGE_LIMIT:
        # no minimum (-1) is below every age; no maximum (-1) read unsigned is above it
        keep &= min_age <= request.age
        keep &= max_age.view(np.uint16) >= request.age
    else:
        keep &= (min_age < 0) | (min_age <= request.age)
        keep &= (max_age < 0) | (max_age >= request.age)
    # open to everyone (0) or to the person's gender; as comparisons, not a lookup table
    # indexed by the uint8 column (ten times slower: its indices are converted first)
    person = GENDER_BIT.get(normalise_gender(request.gender) or "", 0)
    genders = cols["genders"][slots]
    admits = genders == 0
    if person:
        admits |= (genders & np.uint8(person)) > 0
    keep &= admits
    if request.delivery_modes:
        wanted = delivery_mask(request.delivery_modes)
        keep &= (cols["delivery"][slots] & wanted) > 0
    return keep


def gender_mask(genders: tuple[str, ...] | None) -> int:
    if not genders:
        return 0
    mask = 0
    for g in genders:
        mask |= GENDER_BIT.get(normalise_gender(g) or "", OTHER_GENDER_BIT)
    return mask


def delivery_mask(modes: Iterable[str]) -> int:
    mask = 0
    for mode in modes:
        mask |= DELIVERY_BIT.get(mode.strip().lower().replace("-", "_"), 0)
    return mask or 1
