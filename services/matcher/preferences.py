"""Soft preferences: what the person would rather have, read from the referral, and the
factors by which each candidate's fit is scaled up or down for them. Never a bar."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from services.matcher.columns import (
    BUSY,
    CLOSED,
    GENTLE,
    OLDER,
    QUIET,
    REPORTED,
    TALKING,
    THERAPY,
    VIGOROUS,
    YOUNG,
    BitNames,
    scale,
)
from services.matcher.eligibility import REMOTE_BITS
from services.matcher.records import PHYSICAL_ACCESS, MatchRequest, Need, ServiceRecord
from services.matcher.tuning import (
    ACCESS_MET,
    ACCESS_MISSING,
    BUSY_PENALTY,
    CLOSED_FACTOR,
    DISTANCE_SCALE_KM,
    GENTLE_AGE,
    GENTLE_BOOST,
    IN_PERSON_DAMPING,
    MIDDLE_AGE,
    NEEDS_GENTLE,
    NO_SHARED_LANGUAGE,
    OLDER_AGE,
    OLDER_BOOST,
    OLDER_FOR_YOUNGER,
    OLDEST_AGE,
    OLDEST_BOOST,
    OWN_LANGUAGE_BOOST,
    QUIET_BOOST,
    REMOTE_BOOST,
    REMOTE_FACTOR,
    REPORTED_FACTOR,
    SCHEDULE_BOOST,
    SCHEDULE_CONFIDENCE,
    SHARED_LANGUAGE_BOOST,
    STALE_AFTER,
    STALE_FACTOR,
    TALKING_PENALTY,
    VIGOROUS_INTERESTS,
    VIGOROUS_PENALTY,
    YOUNG_AGE,
    YOUNG_BOOST,
    YOUNG_FOR_OLDER,
)
from services.matcher.vocabulary import Vocabulary

__all__ = ["Journey", "Preferences", "journeys", "schedule_fit", "soft_ceiling", "soft_factors"]


# remote, travels, distance factor (None without an origin), distance in km
Journey = tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]


@dataclass(frozen=True, slots=True)
class Preferences:
    """Soft wishes read from the text: delivery the person manages, times that suit."""

    remote: float
    schedule_words: tuple[str, ...]
    schedule_labels: tuple[str, ...]
    limited_english: bool
    gentle: bool  # health or age ask for gentle activity, and no vigorous interest was stated
    no_talking: bool  # would rather not talk about feelings at all, in a group or one to one
    no_therapy: bool  # declines counselling or therapy (a peer group may still suit)
    quiet: bool = False  # finds noisy, busy groups hard: small, quiet ones first

    @classmethod
    def from_needs(
        cls, vocabulary: Vocabulary, needs: list[Need], age: int | None = None
    ) -> Preferences:
        remote = 0.0
        words: list[str] = []
        labels: list[str] = []
        for need in needs:
            concept = vocabulary.concepts[need.hit.concept]
            if concept.prefers_delivery and need.hit.implied_by is None:
                remote = max(remote, min(1.0, need.hit.confidence))
            if concept.schedule_words and need.hit.confidence >= SCHEDULE_CONFIDENCE:
                words.extend(concept.schedule_words)
                labels.append(concept.label)
        limited = any(n.hit.concept == "english" and n.direct for n in needs)
        stated = {n.hit.concept for n in needs if n.direct and n.hit.confidence >= 0.5}
        gentle = bool(stated & set(NEEDS_GENTLE)) or (age is not None and age >= GENTLE_AGE)
        gentle = gentle and not stated & set(VIGOROUS_INTERESTS)
        no_talking = any(n.hit.concept == "no_talking" and n.direct for n in needs)
        no_therapy = any(n.hit.concept == "no_therapy" for n in needs)
        quiet = any(n.hit.concept == "quiet_preference" and n.direct for n in needs)
        return cls(
            remote, tuple(words), tuple(labels), limited, gentle, no_talking, no_therapy, quiet
        )


def soft_factors(
    cols: dict[str, np.ndarray],
    slots: np.ndarray,
    request: MatchRequest,
    prefs: Preferences,
    origin: tuple[float, float] | None,
    languages: BitNames,
    access_bits: BitNames,
    parts: dict[str, np.ndarray] | None = None,
    ceiling: list[float] | None = None,
    journey: Journey | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Score multipliers for soft preferences, distance in km (nan when remote) and
    whether the service speaks one of the person's languages other than English.

    With ``parts``, each named factor is also kept on its own (for the few services
    proposed), so a proposal's breakdown is computed by the same code as its score. With
    ``ceiling`` (a one-item list), the largest multiplier any service could get is kept in
    it: each factor above 1 times the next (distance is at most 1). ``journey`` is what
    ``journeys`` gives for these slots, when it is known already."""
    n = len(slots)
    multiplier = np.ones(n, dtype=np.float32)

    def factor_by(name: str, where: np.ndarray, factor: float) -> None:
        if ceiling is not None:
            ceiling[0] *= max(1.0, factor)
        scale(multiplier, where, factor)
        if parts is not None and factor != 1.0:
            scale(parts.setdefault(name, np.ones(n, dtype=np.float32)), where, factor)

    speaks = np.zeros(n, dtype=np.float32)
    remote, travels, factor, distance = journey or journeys(cols, slots, origin)
    if factor is not None:
        multiplier *= factor
        if parts is not None:
            parts["distance"] = factor
    else:
        factor_by("distance", ~travels, REMOTE_FACTOR)
    if prefs.remote > 0:
        factor_by("delivery_preference", remote, 1.0 + REMOTE_BOOST * prefs.remote)
        factor_by("delivery_preference", ~remote, 1.0 - IN_PERSON_DAMPING * prefs.remote)
    spoken = {lang.lower() for lang in request.languages}
    other = spoken - {"english"}
    if other:
        mask = languages.mask(other)
        match = (cols["languages"][slots] & np.uint64(mask)) > 0
        speaks = match.astype(np.float32)
        boost = (
            OWN_LANGUAGE_BOOST
            if "english" not in spoken or prefs.limited_english
            else SHARED_LANGUAGE_BOOST
        )
        factor_by("language", match, boost)
        factor_by("language", ~match, 1.0 if "english" in spoken else NO_SHARED_LANGUAGE)
    if request.accessibility_needs:
        access = cols["access"][slots]
        for need in request.accessibility_needs:
            bit = np.uint32(1 << access_bits.bit(need))
            met = (access & bit) > 0
            if need in PHYSICAL_ACCESS:
                met |= ~travels
            factor_by("accessibility", met, ACCESS_MET)
            factor_by("accessibility", ~met, ACCESS_MISSING)
    flags = cols["flags"][slots]
    factor_by("closed", (flags & CLOSED) > 0, CLOSED_FACTOR)
    factor_by("reported", (flags & REPORTED) > 0, REPORTED_FACTOR)
    if prefs.gentle:
        factor_by("gentle_pace", (flags & VIGOROUS) > 0, VIGOROUS_PENALTY)
        factor_by("gentle_pace", (flags & GENTLE) > 0, GENTLE_BOOST)
    if prefs.no_talking or prefs.no_therapy:
        unwanted = TALKING if prefs.no_talking else THERAPY
        factor_by("talking", (flags & unwanted) > 0, TALKING_PENALTY)
    if prefs.quiet:
        factor_by("quiet", (flags & BUSY) > 0, BUSY_PENALTY)
        factor_by("quiet", (flags & QUIET) > 0, QUIET_BOOST)
    if request.today is not None:
        confirmed = cols["confirmed"][slots]
        cutoff = (request.today - STALE_AFTER).toordinal()
        factor_by("freshness", (confirmed >= 0) & (confirmed < cutoff), STALE_FACTOR)
    if request.age is not None:
        group = cols["age_group"][slots]
        older = (
            OLDER_BOOST
            if request.age >= OLDER_AGE
            else (OLDER_FOR_YOUNGER if request.age < MIDDLE_AGE else 1.0)
        )
        older = OLDEST_BOOST if request.age >= OLDEST_AGE else older
        young = YOUNG_BOOST if request.age <= YOUNG_AGE else YOUNG_FOR_OLDER
        factor_by("age_group", (group & OLDER) > 0, older)
        factor_by("age_group", (group & YOUNG) > 0, young)
    return multiplier, distance, speaks  # float32 throughout: scaled in place


def journeys(
    cols: dict[str, np.ndarray], slots: np.ndarray, origin: tuple[float, float] | None
) -> Journey:
    """Which services are delivered remotely and which need a journey; with an origin, the
    distance factor (at most 1: a remote service gets ``REMOTE_FACTOR``) and the distance in
    km (nan when there is no journey)."""
    f32 = np.float32
    delivery = cols["delivery"][slots]
    remote = (delivery & REMOTE_BITS) > 0
    lat, lon = cols["lat"][slots], cols["lon"][slots]
    travels = (delivery & 1).view(bool) & (lat == lat)  # in person (bit 1), placed (not nan)
    if origin is None:
        return remote, travels, None, np.full(len(slots), np.nan, dtype=np.float32)
    dy = lat - f32(origin[0])
    dy *= f32(110.57)
    dx = lon - f32(origin[1])
    dx *= f32(111.32 * math.cos(math.radians(origin[0])))
    dx *= dx
    dy *= dy
    dx += dy
    np.sqrt(dx, out=dx)
    distance = np.where(travels, dx, f32(np.nan))
    # computed for every service and chosen with ``where``: indexing by a mixed mask is slow
    factor = np.where(
        travels, f32(1.0) / (f32(1.0) + dx / f32(DISTANCE_SCALE_KM)), f32(REMOTE_FACTOR)
    )
    both = travels & remote  # no journey needed either: at least the remote factor
    if both.any():
        factor = np.where(both, np.maximum(factor, f32(REMOTE_FACTOR)), factor)
    return remote, travels, factor, distance


def soft_ceiling(
    cols: dict[str, np.ndarray],
    request: MatchRequest,
    prefs: Preferences,
    origin: tuple[float, float] | None,
    languages: BitNames,
    access_bits: BitNames,
) -> float:
    """The largest multiplier ``soft_factors`` can give any service for this request, read
    from the same code (run over no services), so the two cannot drift apart."""
    ceiling = [1.0]
    none = np.zeros(0, dtype=np.intp)
    soft_factors(cols, none, request, prefs, origin, languages, access_bits, None, ceiling)
    return ceiling[0]


def schedule_fit(record: ServiceRecord | None, prefs: Preferences) -> float:
    """A lift for a service that runs at the times the person said suit them."""
    if not prefs.schedule_words:
        return 1.0
    text = record.schedule.lower() if record else ""
    return SCHEDULE_BOOST if any(w in text for w in prefs.schedule_words) else 1.0
