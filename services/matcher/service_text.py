"""Reading a service's text: which concepts its name, description, keywords and categories
answer, and how well, with the words that show it. Directories' own category labels are
matched to ours when they are ours misspelt, and read by their words when they are new."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from rapidfuzz import fuzz, process

from services.matcher.spelling import _BOUNDARY, _TOKEN_RE

if TYPE_CHECKING:
    from services.matcher.vocabulary import Concept, Vocabulary

__all__ = ["ConceptMatch", "ServiceConcepts", "ServiceReading", "normalise_category"]

FIELD_WEIGHTS = (0.6, 0.35, 0.4, 0.2)  # name, description, keywords, organisation name
CATEGORY_WEIGHT = 0.7  # a category alone makes a service at most this good an answer
LATER_CATEGORY = 0.75  # a second or third category says less than the first
DESCRIPTION = 1  # the field read for what a service says it is not
WORD_FORMS = 200_000  # service words whose reading is kept


def normalise_category(name: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", name.lower().replace("&", " and ")).split())


@dataclass(frozen=True, slots=True)
class ConceptMatch:
    """How well one service answers one concept, and the service words that show it."""

    score: float
    terms: tuple[str, ...]
    category: str | None


ServiceConcepts = dict[str, ConceptMatch]


class ServiceReading:
    """The service side of ``Vocabulary`` (its data is loaded there)."""

    def canonical_category(self, name: str) -> str | None:
        """A known category for a directory's category label, or None when it is new to us
        (unknown categories never fail: their words still count as service text)."""
        return _canonical_category(self, normalise_category(name))

    def service_words(self, text: str) -> list[str]:
        """Stems of a service's text: the fast path used for every directory entry, so no
        spans and no spelling correction (directories are edited text)."""
        out: list[str] = []
        read = self._service_word_forms
        for raw in _TOKEN_RE.findall(text.lower()):
            forms = read.get(raw)
            if forms is None:
                forms = self._service_word(raw)
                if len(read) < WORD_FORMS:
                    read[raw] = forms
            out.extend(forms)
        return out

    def _service_word(self, raw: str) -> tuple[str, ...]:
        """What one word of a service's text is read as (kept per word: a directory's
        explanations read the same words again and again)."""
        expanded = self._service_expansions.get(raw)
        if expanded is not None:
            return tuple(expanded)
        if raw in _BOUNDARY:
            return (raw,)
        stemmed = self._stem(raw.replace("'", "").replace("\u2019", ""))
        return (stemmed,) if stemmed else ()

    def describe_service(
        self,
        name: str,
        description: str,
        categories: Iterable[str],
        keywords: Iterable[str] = (),
        organisation_name: str = "",
        only: Iterable[str] | None = None,
    ) -> ServiceConcepts:
        """Score each concept by how well the service's categories and words answer it.

        Category evidence is broad (many groups say 'mental wellbeing'), so it is weighted by
        the concept's affinity for that category; words are specific, so each distinct term
        found adds independent evidence, the name counting more than the description.
        With ``only``, just those concepts are scored (and those they are answered with):
        the same matches, for explaining a proposal without scoring the rest.
        """
        canonical: list[str] = []
        unknown: list[tuple[int, str]] = []
        for position, category in enumerate(categories):
            known = self.canonical_category(category)
            if known is None:
                unknown.append((position, category))
            elif known not in canonical:
                canonical.append(known)
        name_w, description_w, keywords_w, organisation_w = FIELD_WEIGHTS
        fields = (
            (name, name_w),
            (description, description_w),
            (" . ".join(keywords), keywords_w),
            (organisation_name, organisation_w),
        )
        term_hits: dict[str, dict[str, float]] = {}
        for field, (text, field_weight) in enumerate(fields):
            if not text:
                continue
            negation = field == DESCRIPTION  # what a service says it is not
            for concept_id, weight, phrase in self._service_terms_in(text, negation):
                seen = term_hits.setdefault(concept_id, {})
                seen[phrase] = max(seen.get(phrase, 0.0), field_weight * weight)
        by_words: dict[str, tuple[float, str]] = {}
        for position, category in unknown:
            for concept_id, affinity in self.unknown_category_concepts(category).items():
                affinity *= 1.0 if position == 0 else LATER_CATEGORY
                if affinity > by_words.get(concept_id, (0.0, ""))[0]:
                    by_words[concept_id] = (affinity, category)
        result: ServiceConcepts = {}
        found = set(term_hits) | self._concepts_for_categories(canonical) | set(by_words)
        if only is not None:
            wanted = set(only)
            wanted |= {s for c in wanted for s in self.concepts[c].answered_with}
            found &= wanted
        for concept_id in found:
            concept = self.concepts[concept_id]
            cat_score, cat_name = by_words.get(concept_id, (0.0, None))
            for rank, category in enumerate(canonical):
                affinity = concept.categories.get(category, 0.0) * (
                    1.0 if rank == 0 else LATER_CATEGORY
                )
                if affinity > cat_score:
                    cat_score, cat_name = affinity, category
            hits = sorted(term_hits.get(concept_id, {}).items(), key=lambda kv: -kv[1])[:3]
            miss = 1.0 - CATEGORY_WEIGHT * cat_score
            for _, value in hits:
                miss *= 1.0 - value
            score = 1.0 - miss
            if score >= 0.15:
                result[concept_id] = ConceptMatch(
                    round(score, 4), tuple(phrase for phrase, _ in hits), cat_name
                )
        return _only_with_substance(self.concepts, result)

    def _service_terms_in(
        self, text: str, negation: bool = False
    ) -> Iterator[tuple[str, float, str]]:
        """Service terms in the text, except inside a longer phrase listed under
        ``service_non_terms`` ("loss" in "hearing loss" is not bereavement, "run" in "run by
        volunteers" is not running) and, with ``negation``, those the text says the service
        is not ("no running", ``service_negation.py``)."""
        words = self.service_words(text)
        spans = list(self._terms.scan(words))
        negated = self.service_negation.negated(words) if negation else None
        blocked = [(a, b) for a, b, payload in spans if payload[0] is None]
        for i, j, payload in spans:
            if payload[0] is None or (negated is not None and negated[i]):
                continue
            if blocked and any(a <= i and j <= b and b - a > j - i for a, b in blocked):
                continue
            yield payload

    def unknown_category_concepts(self, name: str) -> dict[str, float]:
        """Concepts a category label new to us names in its own words ("addiction and
        recovery", "men's health"), read with both the referral and the service phrases;
        a label is a strong statement of what a service is for, so it counts like a category."""
        return _unknown_category_concepts(self, normalise_category(name))

    def _concepts_for_categories(self, categories: list[str]) -> set[str]:
        found: set[str] = set()
        for category in categories:
            found |= self._by_category.get(category, frozenset())
        return found


def _only_with_substance(concepts: dict[str, Concept], result: ServiceConcepts) -> ServiceConcepts:
    """A concept that describes how help arrives rather than what it is (being unable to get
    out asks for company that comes to the person) is answered no better than the help itself:
    an energy adviser's home visits are not company for someone housebound."""
    for concept_id, match in list(result.items()):
        substance = concepts[concept_id].answered_with
        if not substance:
            continue
        cap = max((result[c].score for c in substance if c in result), default=0.0)
        if cap < 0.15:
            del result[concept_id]
        elif match.score > cap:
            result[concept_id] = ConceptMatch(cap, match.terms, match.category)
    return result


@lru_cache(maxsize=4096)
def _canonical_category(vocabulary: Vocabulary, key: str) -> str | None:
    key = _NEW_TO.sub(_NEW_AREA, key)  # "New to Calderbrook": the place newcomers came to
    if key in vocabulary._categories:
        return vocabulary._categories[key]
    found = process.extractOne(
        key, list(vocabulary._categories), scorer=fuzz.token_sort_ratio, score_cutoff=88
    )
    if found is None or not _same_words(key, found[0]):
        return None
    return vocabulary._categories[found[0]]


_NEW_TO = re.compile(r"^(?:new (?:to|in)|welcome to) [a-z]+$")
_NEW_AREA = "new to the area"


def _same_words(a: str, b: str) -> bool:
    """A misspelt label ("mental welbeing") keeps its words; "men s health" is not "women s
    health", however alike the strings look."""
    words_a, words_b = a.split(), b.split()
    return len(words_a) == len(words_b) and all(
        fuzz.ratio(x, y) >= 80 for x, y in zip(sorted(words_a), sorted(words_b), strict=True)
    )


@lru_cache(maxsize=4096)
def _unknown_category_concepts(vocabulary: Vocabulary, key: str) -> dict[str, float]:
    found: dict[str, float] = {}
    tokens = vocabulary._tokens(key, correct=True)
    stems = [t.stem for t in tokens]
    for _, _, (concept_id, weight) in vocabulary._triggers.scan(stems):
        found[concept_id] = max(found.get(concept_id, 0.0), weight)
    for concept_id, weight, _ in vocabulary._service_terms_in(key):
        found[concept_id] = max(found.get(concept_id, 0.0), weight)
    # a label says what a service is for, not how it runs ("Feeling Low?" is not a talking
    # group, whatever the groups filed under it are like)
    return {
        c: round(0.85 * w, 4)
        for c, w in found.items()
        if w >= 0.5 and vocabulary.concepts[c].kind != "trait"
    }
