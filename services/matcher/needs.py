"""A referral's needs, weighed: what its text and structured categories ask for, read once
per distinct text and kept (the same referral is ranked again when the directory changes,
and a link worker's re-ranking asks the same question)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from services.matcher.records import ExtractedNeed, Need
from services.matcher.tuning import (
    CATEGORY_NEED_CONFIDENCE,
    CAUSE_CONFIDENCE,
    CIRCUMSTANCE_WEIGHT,
    COMMUNITY_PRIORITY,
    MENTION_FLOOR,
    MENTION_STEP,
    SYMPTOM_WEIGHT,
    SYMPTOMS,
)
from services.matcher.vocabulary import Fragment, NeedHit, Vocabulary

__all__ = ["Reading", "read_needs"]

READINGS_KEPT = 256


@dataclass(frozen=True, slots=True)
class Reading:
    """What a ranking reads from a referral before it looks at any service."""

    needs: tuple[Need, ...]  # every need, modifiers included, strongest first
    scored: tuple[Need, ...]  # those services are scored against
    extracted: tuple[ExtractedNeed, ...]  # the scored ones, as the event reports them
    fragments: tuple[Fragment, ...]  # stretches of the text in which no need was found


@lru_cache(maxsize=READINGS_KEPT)
def read_needs(vocabulary: Vocabulary, text: str, categories: tuple[str, ...]) -> Reading:
    """The needs of a referral's ``text`` and ``categories`` (``MatchRequest.needs_text``
    and ``need_categories``): immutable, so one reading serves every ranking of them."""
    needs = weighed_needs(vocabulary, text, categories)
    concepts = vocabulary.concepts
    scored = tuple(
        n
        for n in needs
        if concepts[n.hit.concept].kind not in ("modifier", "trait", "community")
        or (concepts[n.hit.concept].kind == "community" and n.weight > 0)
    )
    extracted = tuple(_extracted(vocabulary, n) for n in scored)
    return Reading(tuple(needs), scored, extracted, vocabulary.unrecognised(text))


def weighed_needs(vocabulary: Vocabulary, text: str, categories: tuple[str, ...]) -> list[Need]:
    hits = {h.concept: h for h in vocabulary.extract(text)}
    for category in categories:
        key = vocabulary.canonical_category(category)
        for concept_id in vocabulary.category_concepts.get(key or "", ()):
            if concept_id not in hits or hits[concept_id].confidence < CATEGORY_NEED_CONFIDENCE:
                hits[concept_id] = NeedHit(concept_id, category, CATEGORY_NEED_CONFIDENCE, 10**9)
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
    # a fact about the person (a wheelchair user, hard of hearing) beside what they want
    # says how help must reach them, not what help they want: it narrows the services
    # (adapted ones first, groups for people like them welcome), it proposes none itself
    wants = any(
        h.implied_by is None
        and not h.circumstance
        and h.confidence >= CAUSE_CONFIDENCE
        and vocabulary.concepts[h.concept].kind in ("need", "interest")
        for h in hits.values()
    )
    needs = []
    for hit in hits.values():
        concept = vocabulary.concepts[hit.concept]
        priority = concept.priority
        if concept.kind == "community":
            priority = COMMUNITY_PRIORITY.get(concept.community or "", 0.0)
        weight = min(hit.confidence, 1.0) * priority * hit.emphasis
        weight *= max(MENTION_FLOOR, 1.0 - MENTION_STEP * order[hit.start])
        if causes and hit.concept in SYMPTOMS:
            weight *= SYMPTOM_WEIGHT
        circumstance = wants and hit.circumstance
        if circumstance:
            weight *= CIRCUMSTANCE_WEIGHT
        needs.append(Need(hit, weight, hit.implied_by is None, circumstance))
    return sorted(needs, key=lambda n: -n.weight)


def _extracted(vocabulary: Vocabulary, need: Need) -> ExtractedNeed:
    concept = vocabulary.concepts[need.hit.concept]
    categories = tuple(
        c for c, w in sorted(concept.categories.items(), key=lambda kv: -kv[1]) if w >= 0.3
    )
    return ExtractedNeed(need.hit.phrase, concept.id, categories, round(need.hit.confidence, 3))
