"""The need vocabulary: how people describe needs and how services describe themselves.

The curated, versioned data in ``vocabulary/needs.json`` is the product; this module only
reads it. Referral text is normalised (abbreviations expanded, misspellings corrected with
rapidfuzz against the vocabulary's own words, light stemming) and scanned for trigger phrases;
a trigger preceded by a negation cue in the same clause ("no suicidal ideation") does not
count, one about someone else ("husband made redundant") counts less, and the clause's own
words say how much it matters ("wants to make friends" > "maybe volunteer"). Service text is
scanned the same way for each concept's service terms, so both sides meet in one space of
concepts that a link worker can read.

This module loads the data; the reading lives beside it: ``referral_text.py`` (needs,
negation, emphasis, whose need, unrecognised stretches), ``service_text.py`` (what a
service's text and categories answer) and ``spelling.py`` (tokens, stems, corrections).

Everything here is pure and read-only after construction, so one ``Vocabulary`` is safely
shared between threads (the only mutable state is ``lru_cache`` of corrections and reads).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from services.matcher.referral_text import Fragment, NeedHit, ReferralReading
from services.matcher.service_negation import ServiceNegation
from services.matcher.service_text import (
    ConceptMatch,
    ServiceConcepts,
    ServiceReading,
    normalise_category,
)
from services.matcher.spelling import (
    _ARTICLES,
    _BOUNDARY,
    _DEMOGRAPHIC_RE,
    _PRONOUN,
    _TOKEN_RE,
    EnglishWords,
    PhraseTable,
    Token,
    _correct_spelling,
    _english_correction,
    spelling_likeness,
    stem,
)

__all__ = [
    "Concept",
    "ConceptMatch",
    "Fragment",
    "NeedHit",
    "ServiceConcepts",
    "Vocabulary",
    "normalise_category",
    "stem",
]

DEFAULT_DATA = "needs.json"
SHOUTING_WORDS, SHOUTING_SHARE = 3, 0.6  # a text this much in capitals is shouted
_WORD_RE = re.compile(r"[A-Za-z]+")
KNOWN_WORDS = "known_words.txt"  # dictionary words near vocabulary words (public-domain web2)


@dataclass(frozen=True, slots=True)
class Concept:
    """One kind of need (or interest, or circumstance) with the words on both sides."""

    id: str
    label: str
    kind: str  # need | interest | modifier (how help is wanted) | trait (of services only)
    priority: float
    categories: dict[str, float]
    related: dict[str, float]
    prefers_delivery: tuple[str, ...]
    schedule_words: tuple[str, ...]
    suppresses: dict[str, float]
    audience: bool = False  # services answering it strongly are meant for those people only
    about_others: float = 1.0  # confidence left when the words describe someone else
    qualifies: bool = False  # an audience that only narrows others (an age group)
    answered_with: tuple[str, ...] = ()  # a service answers it only as well as one of these
    access_fact: bool = False  # a fact about how the person gets about, hears or sees
    former: str | None = None  # the concept a mention in the past tense is ("cared for" him)
    community: str | None = None  # its family, for kind community: faith, heritage, occupation
    object_sense: bool = False  # its verb with an object means another thing ("runs a shop")
    fades: bool = False  # an event that long ago ("died 3 years ago") is history, not the need
    of_a_child: bool = False  # a child's need: weak in a text naming no child ("left SEN college")


class Vocabulary(ReferralReading, ServiceReading):
    """Loads needs.json and answers two questions: which needs does this referral text
    express, and which concepts does this service's text answer."""

    def __init__(
        self,
        data: dict,
        known_words: Iterable[str] = (),
        english: EnglishWords | None = None,
    ) -> None:
        """``known_words``: real English words that look like vocabulary words ("keeps" is
        not "knees", "window" is not "widow"), so spelling correction leaves them alone.
        ``english``: everyday English, to read a misspelling as the word it is closest to
        ("collegues" is "colleagues", not "college") when that is not a vocabulary word."""
        self.version: str = str(data["version"])
        self._english = english
        self.abbreviations: dict[str, str] = {
            k.lower(): v.lower() for k, v in data.get("abbreviations", {}).items()
        }
        self.case_sensitive = frozenset(data.get("case_sensitive_abbreviations", ()))
        self._stem_exceptions: dict[str, str] = dict(data.get("stem_exceptions", {}))
        self.negation_cues = frozenset(data.get("negation_cues", ()))
        self._scope_ends = frozenset(data.get("negation_scope_ends", ()))
        self._ruled_out = {
            tuple(t.stem for t in self._tokens(cue)): 1.0 for cue in data.get("ruled_out_cues", ())
        }
        self.pseudo_negations = frozenset(
            tuple(p.split()) for p in data.get("pseudo_negations", ())
        )
        self.stopwords = frozenset(data.get("stopwords", ()))
        self.service_negation = ServiceNegation.from_data(data, self._stem, self.pseudo_negations)
        self.emphasis_cues: dict[str, dict[tuple[str, ...], float]] = {"before": {}, "after": {}}
        for group in data.get("emphasis_cues", {}).values():
            if not isinstance(group, dict):
                continue  # the "about" note
            where = self.emphasis_cues[group.get("position", "before")]
            for cue in group["cues"]:
                words = [t.text for t in self._tokens(cue)]
                where[tuple(self._stem(w) for w in words)] = float(group["factor"])
        self._edge_words = frozenset(
            w
            for w in (
                *data.get("fragment_edge_words", ()),
                *self.stopwords,
                *self.negation_cues,
                *data.get("third_party", {}).get("people", ()),
                *data.get("third_party", {}).get("reporting", ()),
                *(
                    word
                    for group in data.get("emphasis_cues", {}).values()
                    if isinstance(group, dict)
                    for cue in group["cues"]
                    for word in cue.split()
                ),
            )
        )
        third_party = data.get("third_party", {})
        self._others = frozenset(self._stem(w) for w in third_party.get("people", ()))
        self._reporting = frozenset(self._stem(w) for w in third_party.get("reporting", ()))
        self._request_cues = frozenset(
            tuple(t.stem for t in self._tokens(cue)) for cue in data.get("request_cues", ())
        )
        self._access_need_cues = frozenset(
            tuple(t.stem for t in self._tokens(cue)) for cue in data.get("access_need_cues", ())
        )
        self._child_words = frozenset(
            tuple(t.stem for t in self._tokens(w)) for w in data.get("child_words", ())
        )
        self._former_cues = frozenset(
            tuple(t.stem for t in self._tokens(cue)) for cue in data.get("former_cues", ())
        )
        self._given_up_cues = frozenset(
            tuple(t.stem for t in self._tokens(cue)) for cue in data.get("given_up_cues", ())
        )
        places = data.get("place_words", {})
        self._place_words = {side: frozenset(places.get(side, ())) for side in ("before", "after")}
        self._verb_particles = frozenset(data.get("verb_particles", ()))
        self._activity_measures = frozenset(
            self._stem(w) for w in data.get("activity_measures", ())
        )
        self._cue_length = max((len(c) for g in self.emphasis_cues.values() for c in g), default=0)
        self.concepts: dict[str, Concept] = {}
        self._states: set[tuple[str, tuple[str, ...]]] = set()  # phrases stating a fact
        self._triggers = PhraseTable()
        self._terms = PhraseTable()
        self._categories: dict[str, str] = {}
        self.category_concepts: dict[str, tuple[str, ...]] = {}
        known: set[str] = set(data.get("common_words", ())) | set(self.stopwords)
        correctable: set[str] = set()
        for raw in data["concepts"]:
            self._add_concept(raw, correctable)
        for canonical, aliases in data.get("categories", {}).items():
            key = normalise_category(canonical)
            self._categories[key] = key
            for alias in aliases:
                self._categories.setdefault(normalise_category(alias), key)
        # figures of speech ("can't see how" is no sight) and other senses of a word, starred
        # ("growing* anxiety": the growing is no gardening, the anxiety still counts)
        self._non_triggers = PhraseTable()
        for phrase in data.get("referral_non_terms", ()):
            words = [(w.rstrip("*"), w.endswith("*")) for w in phrase.split()]
            stems = [(t.stem, star) for w, star in words for t in self._tokens(w)]
            marked = [k for k, (_, star) in enumerate(stems) if star] or range(len(stems))
            where = (min(marked), max(marked) + 1)
            self._non_triggers.add(tuple(s for s, _ in stems), where)
        self._non_triggers.freeze()
        for phrase in data.get("service_non_terms", ()):
            self._terms.add(tuple(t.stem for t in self._tokens(phrase)), (None, 0.0, phrase))
        for category, concept_ids in data.get("category_concepts", {}).items():
            self.category_concepts[normalise_category(category)] = tuple(concept_ids)
        self._triggers.freeze()
        self._terms.freeze()
        self._correctable = sorted(w for w in correctable if len(w) >= 5)
        self._known = frozenset(
            known | correctable | set(self.abbreviations) | {w.strip() for w in known_words}
        )
        self.categories = tuple(sorted(set(self._categories.values())))
        self.audiences = tuple(c.id for c in self.concepts.values() if c.audience)
        self._service_expansions = {
            abbreviation: [stemmed for w in expansion.split() if (stemmed := self._stem(w))]
            for abbreviation, expansion in self.abbreviations.items()
            if abbreviation not in self.case_sensitive
        }
        self._service_word_forms: dict[str, tuple[str, ...]] = {}  # see service_words
        self._by_category: dict[str, frozenset[str]] = {}
        for concept in self.concepts.values():
            for category, affinity in concept.categories.items():
                if affinity > 0:
                    self._by_category[category] = self._by_category.get(category, frozenset()) | {
                        concept.id
                    }

    @classmethod
    def load_default(cls) -> Vocabulary:
        return _default_vocabulary()

    @classmethod
    def from_path(cls, path: str | Path) -> Vocabulary:
        return cls(json.loads(Path(path).read_text(encoding="utf-8")))

    def _add_concept(self, raw: dict, correctable: set[str]) -> None:
        concept = Concept(
            id=raw["id"],
            label=raw.get("label", raw["id"]),
            kind=raw.get("kind", "need"),
            priority=float(raw.get("priority", 1.0)),
            categories={
                normalise_category(k): float(v) for k, v in raw.get("categories", {}).items()
            },
            related={k: float(v) for k, v in raw.get("related", {}).items()},
            prefers_delivery=tuple(raw.get("prefers_delivery", ())),
            schedule_words=tuple(raw.get("schedule_words", ())),
            suppresses={k: float(v) for k, v in raw.get("suppresses", {}).items()},
            audience=bool(raw.get("audience", False)),
            about_others=float(raw.get("about_others", 1.0)),
            qualifies=bool(raw.get("qualifies", False)),
            answered_with=tuple(raw.get("answered_with", ())),
            access_fact=bool(raw.get("access_fact", False)),
            former=raw.get("former"),
            community=raw.get("community"),
            object_sense=bool(raw.get("object_sense", False)),
            fades=bool(raw.get("fades", False)),
            of_a_child=bool(raw.get("of_a_child", False)),
        )
        self.concepts[concept.id] = concept
        triggers: set[tuple[str, ...]] = set()
        for entry in raw.get("triggers", ()):
            phrase, weight = _split_weight(entry)
            tokens = [t.text for t in self._tokens(phrase)]
            correctable.update(t for t in tokens if t.isalpha())
            stems = tuple(self._stem(t) for t in tokens)
            triggers.add(stems)
            self._triggers.add(stems, (concept.id, weight))
        # phrases that state a fact about the person ("wheelchair user") rather than a
        # struggle with it; each is a trigger too
        for entry in raw.get("states", ()):
            phrase, weight = _split_weight(entry)
            tokens = [t.text for t in self._tokens(phrase)]
            stems = tuple(self._stem(t) for t in tokens)
            self._states.add((concept.id, stems))
            if stems not in triggers:
                correctable.update(t for t in tokens if t.isalpha())
                self._triggers.add(stems, (concept.id, weight))
        terms: dict[tuple[str, ...], tuple[float, str]] = {}
        for entry in raw.get("service_terms", ()):
            phrase, weight = _split_weight(entry)
            stems = tuple(t.stem for t in self._tokens(phrase))
            if stems and weight > terms.get(stems, (0.0, ""))[0]:
                terms[stems] = (weight, phrase)
        for stems, (weight, phrase) in terms.items():
            self._terms.add(stems, (concept.id, weight, phrase))

    # ---- text normalisation -------------------------------------------------------------

    def _tokens(self, text: str, correct: bool = False) -> list[Token]:
        """Lower-cased tokens with their spans in ``text``; abbreviations expanded in place
        (all expanded words keep the abbreviation's span, so phrases quote the original)."""
        out: list[Token] = []
        lowered = text.lower()
        # in a text written in capitals, capitals say nothing: "HI" there is a greeting, as
        # "hi" is in lower case, not "hearing impaired" as in "HI, wears aids"
        shouting = self._shouting(text)
        matches = list(_TOKEN_RE.finditer(lowered))
        for n, m in enumerate(matches):
            raw = m.group().replace("\u2019", "'")
            if _DEMOGRAPHIC_RE.match(raw):
                continue
            expansion = self.abbreviations.get(raw)
            if raw in self.case_sensitive and (shouting or not text[m.start() : m.end()].isupper()):
                expansion = None
            if expansion is None and raw.endswith("'s"):
                expansion = self.abbreviations.get(raw[:-2])
            words = expansion.split() if expansion is not None else [raw]
            place = correct and not shouting and self._place_name(text, matches, n)
            for word in words:
                if word not in _BOUNDARY:
                    word = word.replace("'", "")
                if correct and not place:
                    word = self._correct(word)
                stemmed = self._stem(word)
                if stemmed:
                    out.append(Token(word, stemmed, m.start(), m.end()))
        return out

    def _place_name(self, text: str, matches: list[re.Match[str]], n: int) -> bool:
        """Whether a capitalised word inside a sentence names a place, so it is not a
        misspelling ("at the top of Todley" is not "toddler"): after a word that introduces
        a place ("in", "near", "from"...; articles skipped) or before a capitalised place
        word ("Todley Road", "Todley Moor")."""
        m = matches[n]
        original = text[m.start() : m.end()]
        before = text[: m.start()].rstrip()
        if not original[:1].isupper() or original.isupper() or not before:
            return False
        if before[-1] in ".!?;:\n\"'(-":
            return False  # a sentence's first word is capitalised whatever it is
        k = n - 1
        while k > 0 and matches[k].group() in _ARTICLES:
            k -= 1
        if matches[k].group() in self._place_words["before"]:
            return True
        if n + 1 < len(matches):
            following = matches[n + 1]
            word = text[following.start() : following.end()]
            return word[:1].isupper() and following.group() in self._place_words["after"]
        return False

    def _shouting(self, text: str) -> bool:
        """Whether most of a text's ordinary words (three letters or more, not abbreviations)
        are written in capitals."""
        if not any("A" <= ch <= "Z" for ch in text[:200]):
            return False
        words = [
            w for w in _WORD_RE.findall(text) if len(w) >= 3 and w.lower() not in self.abbreviations
        ]
        shouted = sum(w.isupper() for w in words)
        return len(words) >= SHOUTING_WORDS and shouted >= SHOUTING_SHARE * len(words)

    def _stem(self, word: str) -> str:
        """The matching form of a word: "" for an article (dropped from both sides)."""
        if word in _ARTICLES:
            return ""
        return _PRONOUN.get(word) or self._stem_exceptions.get(word) or stem(word)

    def _correct(self, word: str) -> str:
        if len(word) < 5 or not word.isalpha() or word in self._known:
            return word
        fixed = _correct_spelling(self, word)
        if fixed != word and self._english is not None:
            other = _english_correction(self._english, word)
            if other and spelling_likeness(word, other) > spelling_likeness(word, fixed):
                return other
        return fixed

    def corrected(self, word: str) -> str:
        """The vocabulary word a misspelling stands for (the word itself if none fits)."""
        return self._correct(word.lower())

    # ---- referral side ------------------------------------------------------------------


def _split_weight(entry: str) -> tuple[str, float]:
    if "|" in entry:
        phrase, weight = entry.rsplit("|", 1)
        return phrase.strip(), float(weight)
    return entry.strip(), 1.0


@lru_cache(maxsize=1)
def _default_vocabulary() -> Vocabulary:
    folder = resources.files("services.matcher").joinpath("vocabulary")
    text = folder.joinpath(DEFAULT_DATA).read_text(encoding="utf-8")
    known = folder.joinpath(KNOWN_WORDS).read_text(encoding="utf-8").split()
    english = EnglishWords()
    return Vocabulary(json.loads(text), [*known, *english.common], english)
