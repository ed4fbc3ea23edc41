"""Who a service is for: the groups it is meant for (carers, veterans, people with sight
loss, young adults, later life), read from its text and eligibility bands, and the groups
a person belongs to, so a service for a group they are outside of is held back."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from services.matcher.columns import OLDER, YOUNG
from services.matcher.eligibility import GENDER_BIT
from services.matcher.records import MatchRequest, Need, ServiceRecord, normalise_gender
from services.matcher.tuning import (
    ABOUT_SOMEONE_ELSE,
    AUDIENCE_FIT,
    AUDIENCE_PENALTY,
    COMMUNITY_FIT,
    FORMER_PENALTY,
    LATER_LIFE_MIN_AGE,
    MANY_COMMUNITIES,
    NARROWER_IMPLIES,
    OTHER_COMMUNITY,
    OWN_COMMUNITY_BOOST,
    SAME_GENDER_BOOST,
    YOUNG_AGE,
    YOUNG_MAX_AGE,
)
from services.matcher.vocabulary import ConceptMatch, Vocabulary

__all__ = ["Audiences", "person_groups"]

_NONE = ConceptMatch(0.0, (), None)


class Audiences:
    """The vocabulary's audience concepts as bits (at most 64), and the rules about them."""

    def __init__(self, vocabulary: Vocabulary) -> None:
        self.vocabulary = vocabulary
        self.bits = {c: i for i, c in enumerate(vocabulary.audiences[:64])}
        families: dict[str, set[str]] = {}
        for c in self.bits:
            if vocabulary.concepts[c].kind == "community":
                families.setdefault(vocabulary.concepts[c].community or c, set()).add(c)
        # faith, heritage, occupation: a person is compared with services family by family
        self.families = {name: frozenset(members) for name, members in families.items()}
        self.communities = frozenset(c for members in families.values() for c in members)
        self._implied: dict[tuple, np.ndarray] = {}
        # groups for those whose situation has ended (life after caring)
        self.formers = frozenset(
            c.former for c in vocabulary.concepts.values() if c.former and c.former in self.bits
        )
        # the two fixed masks every ranking applies, read once
        self._not_communities = np.uint64(~self.mask(self.communities) & (2**64 - 1))
        self._formers = np.uint64(self.mask(self.formers))

    def meant_for(self, described: dict[str, ConceptMatch]) -> list[str]:
        """The groups a service is meant for. When it names several, the narrower ones say
        who it is for: a group for people bereaved by suicide is not for every bereaved
        person (the narrower concept implies the broader one), and a young adult carers'
        group is for carers who are young, not for every young adult (age only qualifies)."""
        concepts = self.vocabulary.concepts
        groups = [
            c
            for c, m in described.items()
            if m.score >= AUDIENCE_FIT and c in self.bits and c not in self.communities
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
        return sorted(core or groups) + self._communities(described)

    def _communities(self, described: dict[str, ConceptMatch]) -> list[str]:
        """The communities a service is for, in each family: the one or two it names clearly
        (a mosque's sisters' circle, a Polish club, with the wider ones they belong to: a
        Punjabi lunch is South Asian); one naming many is for everyone (interfaith visits)."""
        concepts = self.vocabulary.concepts
        found: list[str] = []
        for members in self.families.values():
            named = {c for c in members if described.get(c, _NONE).score >= COMMUNITY_FIT}
            wider = {
                other
                for c in named
                for other, weight in concepts[c].related.items()
                if weight >= NARROWER_IMPLIES and other in members
            }
            if len(named - wider) < MANY_COMMUNITIES:
                found += sorted(named | wider)
        return found

    def masks(self, scores: np.ndarray, concepts: list[str]) -> np.ndarray:
        """``mask(meant_for(described))`` for a batch of services at once, from their concept
        scores (services x ``concepts``, 0 where a concept is not among theirs)."""
        column = {c: i for i, c in enumerate(concepts)}
        out = np.zeros(len(scores), dtype=np.uint64)
        groups = [c for c in self.bits if c not in self.communities]
        if groups:
            found = scores[:, [column[c] for c in groups]] >= AUDIENCE_FIT
            rows = np.flatnonzero(found.any(axis=1))  # most services are for everyone
            found = found[rows]
            broader = _any_implied(found, self._implies(tuple(groups), ABOUT_SOMEONE_ELSE))
            qualifies = np.array([self.vocabulary.concepts[c].qualifies for c in groups])
            core = found & ~broader & ~qualifies
            chosen = np.where(core.any(axis=1)[:, None], core, found)
            out[rows] |= self._bits_of(chosen, groups)
        for members in self.families.values():
            family = sorted(members)
            named = scores[:, [column[c] for c in family]] >= COMMUNITY_FIT
            rows = np.flatnonzero(named.any(axis=1))
            named = named[rows]
            wider = _any_implied(named, self._implies(tuple(family), None))
            few = (named & ~wider).sum(axis=1) < MANY_COMMUNITIES
            out[rows] |= self._bits_of((named | wider) & few[:, None], family)
        return out

    def _implies(self, concepts: tuple[str, ...], about_others: float | None) -> np.ndarray:
        """[a, b] when a service meant for ``a`` is not for every ``b`` (``meant_for``)."""
        key = (concepts, about_others)
        if key not in self._implied:
            self._implied[key] = self._implication(concepts, about_others)
        return self._implied[key]

    def _implication(self, concepts: tuple[str, ...], about_others: float | None) -> np.ndarray:
        where = {c: i for i, c in enumerate(concepts)}
        implies = np.zeros((len(concepts), len(concepts)), dtype=bool)
        for a, concept_id in enumerate(concepts):
            concept = self.vocabulary.concepts[concept_id]
            for other, weight in concept.related.items():
                if weight >= NARROWER_IMPLIES and other in where:
                    implies[a, where[other]] = True
            for other, factor in concept.suppresses.items():
                if about_others is not None and factor <= about_others and other in where:
                    implies[a, where[other]] = True
        return implies

    def _bits_of(self, chosen: np.ndarray, concepts: list[str]) -> np.ndarray:
        out = np.zeros(len(chosen), dtype=np.uint64)
        for k, concept_id in enumerate(concepts):
            out[chosen[:, k]] |= np.uint64(1 << self.bits[concept_id])
        return out

    def mask(self, concepts: Iterable[str]) -> int:
        bits = self.bits
        mask = 0
        for concept in concepts:
            if concept in bits:
                mask |= 1 << bits[concept]
        return mask

    def age_group(self, s: ServiceRecord) -> int:
        known = {self.vocabulary.canonical_category(c) for c in s.categories}
        older = "older people" in known or (s.min_age or 0) >= LATER_LIFE_MIN_AGE
        young = "young adults" in known or (s.max_age is not None and s.max_age <= YOUNG_MAX_AGE)
        return (OLDER if older else 0) | (YOUNG if young else 0)

    def group_fit(
        self,
        cols: dict[str, np.ndarray],
        slots: np.ndarray,
        request: MatchRequest,
        needs: list[Need],
        parts: dict[str, np.ndarray] | None = None,
    ) -> np.ndarray:
        """Services for a particular group (carers, veterans, people with sight loss...) are
        poor proposals for someone outside every group they serve; a group for the person's
        own gender was set up for people like them."""
        everyone = cols["audience"][slots]
        audience = everyone & self._not_communities
        groups = person_groups(request, needs)
        mask = np.uint64(self.mask(groups))
        outside = (audience != 0) & ((audience & mask) == 0)
        factor = np.where(outside, AUDIENCE_PENALTY, 1.0)
        moved = outside
        # someone who names their community ("misses her church", "misses the Polish club")
        # is offered its groups first and not another's; nothing changes for anyone else
        for members in self.families.values():
            own = groups & members
            if not own:
                continue
            mine = (everyone & np.uint64(self.mask(own))) != 0
            theirs = ((everyone & np.uint64(self.mask(members - own))) != 0) & ~mine
            factor = np.where(theirs, factor * OTHER_COMMUNITY, factor)
            factor = np.where(mine, factor * OWN_COMMUNITY_BOOST, factor)
            moved = moved | theirs | mine
        # a group for those whose situation has ended ("life after caring") is the wrong
        # offer for someone still in it, not merely one for other people
        concepts = self.vocabulary.concepts
        ended = np.uint64(self.mask(concepts[c].former or "" for c in groups) & ~int(mask))
        if ended:
            factor = np.where(outside & ((audience & ended) != 0), FORMER_PENALTY, factor)
        # ... and is for those whose situation ended, not for everyone else it names
        # ("life after caring" speaks of bereavement; it is not for every bereaved person)
        afterwards = self._formers
        if afterwards:
            after = ((audience & afterwards) != 0) & ((audience & afterwards & mask) == 0)
            after &= ~outside
            factor = np.where(after, factor * AUDIENCE_PENALTY, factor)
            moved = moved | after
        if parts is not None and moved.any():
            parts["audience"] = factor.astype(np.float32)
        person = GENDER_BIT.get(normalise_gender(request.gender) or "", 0)
        if person:
            same = np.where((cols["genders"][slots] & person) > 0, SAME_GENDER_BOOST, 1.0)
            factor *= same
            if parts is not None and (same != 1.0).any():
                parts["same_gender"] = same.astype(np.float32)
        return factor.astype(np.float32)

    def outside(self, meant_for: int, request: MatchRequest, needs: list[Need]) -> list[str]:
        """The labels of the groups a service is meant for (``meant_for`` is its audience
        column: ``mask(self.meant_for(described))``), when the person is in none."""
        if not meant_for:  # meant for everyone, as most services are
            return []
        bits = self.bits
        meant = [c for c in bits if meant_for >> bits[c] & 1]
        person = person_groups(request, needs)
        groups = [c for c in meant if c not in self.communities]
        if person & self.communities:
            groups += [c for c in meant if c in self.communities]
        formers = [c for c in groups if c in self.formers and c not in person]
        if formers and set(groups) & person:
            groups = formers  # for those whose situation ended, not the rest it names
        elif not groups or set(groups) & person:
            return []
        return [self.vocabulary.concepts[concept].label for concept in sorted(groups)]


def _any_implied(found: np.ndarray, implies: np.ndarray) -> np.ndarray:
    """For each row, the columns implied by any column it has (a boolean product)."""
    out = np.zeros_like(found)
    for a in np.flatnonzero(implies.any(axis=1)):
        out |= found[:, a : a + 1] & implies[a]
    return out


def person_groups(request: MatchRequest, needs: list[Need]) -> set[str]:
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
