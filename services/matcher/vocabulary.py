"""The need vocabulary: how people describe needs and how services describe themselves.

The curated, versioned data in ``vocabulary/needs.json`` is the product; this module only
reads it. Referral text is normalised (abbreviations expanded, misspellings corrected with
rapidfuzz against the vocabulary's own words, light stemming) and scanned for trigger phrases;
a trigger preceded by a negation cue in the same clause ("no suicidal ideation") does not
count, one about someone else ("husband made redundant") counts less, and the clause's own
words say how much it matters ("wants to make friends" > "maybe volunteer"). Service text is
scanned the same way for each concept's service terms, so both sides meet in one space of
concepts that a link worker can read.

Everything here is pure and read-only after construction, so one ``Vocabulary`` is safely
shared between threads (the only mutable state is an ``lru_cache`` of spelling corrections).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import jellyfish
from rapidfuzz import fuzz, process

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
KNOWN_WORDS = "known_words.txt"  # dictionary words near vocabulary words (public-domain web2)
_TOKEN_RE = re.compile(
    r"w/o|w/|c/o|\b[a-z]\.(?=\s|$|,)|[a-z0-9]+(?:['\u2019][a-z]+)*|[+&]|[.,;:!?()\"/]"
)
_BOUNDARY = {".", ",", ";", ":", "!", "?", "(", ")", '"', "but", "however", "although", "though"}
# Pronouns are interchangeable in a trigger ("lost his wife", "lost her husband", "lost my
# partner"), and articles carry nothing ("sits in the house" = "sits in house"): both sides
# meet in one form, so each phrase is written once.
_PRONOUN = {
    **dict.fromkeys(("his", "her", "hers", "their", "theirs", "my", "your", "our"), "his"),
    **dict.fromkeys(("he", "she", "they", "i", "we", "you"), "he"),
    **dict.fromkeys(("him", "them", "me", "us"), "him"),
    **dict.fromkeys(("himself", "herself", "themselves", "themself", "myself"), "himself"),
}
_ARTICLES = frozenset(("a", "an", "the"))
NEGATION_WINDOW = 5  # words a negation reaches forward ("denies any low mood or anxiety")
REAL_WORD_COUNT = 200  # a word this common in everyday English is not a misspelling
FIELD_WEIGHTS = (0.6, 0.35, 0.4, 0.2)  # name, description, keywords, organisation name
CATEGORY_WEIGHT = 0.7  # a category alone makes a service at most this good an answer
LATER_CATEGORY = 0.75  # a second or third category says less than the first
_DEMOGRAPHIC_RE = re.compile(r"^\d{1,3}(?:m|f|yo|yrs?|y)$")
_IDENTIFIER_RE = re.compile(r"\S+@\S+|https?://\S+|www\.\S+|\+?\d[\d ()-]{6,}\d")
MAX_FRAGMENT_WORDS = 6  # a longer unrecognised stretch is prose, not a need to count
EVERYDAY_COUNT = 30000  # subtitle-corpus count above which a lone word says nothing


@lru_cache(maxsize=262144)
def stem(word: str) -> str:
    """A deliberately tiny stemmer: plurals, -ing, -ed and a final -e, so that 'walks',
    'walking' and 'walked' (or 'dance' and 'dancing') meet. Applied to both sides."""
    if word.endswith("'s"):
        word = word[:-2]
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("sses"):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if word.endswith("ing") and len(word) > 5:
        word = _undouble(word[:-3])
    elif word.endswith("ed") and len(word) > 4:
        word = _undouble(word[:-2])
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    return word


def _undouble(word: str) -> str:
    """'knitt' -> 'knit', 'swimm' -> 'swim' (but 'fall' and 'pass' keep their pair)."""
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
        return word[:-1]
    return word


def normalise_category(name: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", name.lower().replace("&", " and ")).split())


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


@dataclass(frozen=True, slots=True)
class NeedHit:
    """A concept found in referral text, with the original words that triggered it."""

    concept: str
    phrase: str
    confidence: float
    start: int
    negated: bool = False
    implied_by: str | None = None
    emphasis: float = 1.0  # how the clause weighs it: "wants to ..." > plain > "maybe ..."


@dataclass(frozen=True, slots=True)
class Fragment:
    """A stretch of referral text in which no concept was found, normalised for reports."""

    text: str
    requested: bool  # its clause asks for it ("needs transport to hospital")


@dataclass(frozen=True, slots=True)
class ConceptMatch:
    """How well one service answers one concept, and the service words that show it."""

    score: float
    terms: tuple[str, ...]
    category: str | None


ServiceConcepts = dict[str, ConceptMatch]


@dataclass(frozen=True, slots=True)
class _Token:
    text: str  # normalised surface form
    stem: str
    start: int
    end: int


class _PhraseTable:
    """Phrases (as stem tuples) keyed by their first stem, longest first, for n-gram scans."""

    def __init__(self) -> None:
        self._by_first: dict[str, list[tuple[tuple[str, ...], object]]] = {}

    def add(self, stems: tuple[str, ...], payload: object) -> None:
        if stems:
            self._by_first.setdefault(stems[0], []).append((stems, payload))

    def freeze(self) -> None:
        for entries in self._by_first.values():
            entries.sort(key=lambda e: -len(e[0]))

    def scan(self, stems: list[str]) -> Iterator[tuple[int, int, object]]:
        """Yield (start, end, payload) for every phrase occurrence."""
        by_first = self._by_first
        n = len(stems)
        for i, s in enumerate(stems):
            entries = by_first.get(s)
            if not entries:
                continue
            for phrase, payload in entries:
                k = len(phrase)
                if i + k <= n and (k == 1 or tuple(stems[i : i + k]) == phrase):
                    yield i, i + k, payload


class Vocabulary:
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
        self._cue_length = max((len(c) for g in self.emphasis_cues.values() for c in g), default=0)
        self.concepts: dict[str, Concept] = {}
        self._triggers = _PhraseTable()
        self._terms = _PhraseTable()
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
        )
        self.concepts[concept.id] = concept
        for entry in raw.get("triggers", ()):
            phrase, weight = _split_weight(entry)
            tokens = [t.text for t in self._tokens(phrase)]
            correctable.update(t for t in tokens if t.isalpha())
            self._triggers.add(tuple(self._stem(t) for t in tokens), (concept.id, weight))
        terms: dict[tuple[str, ...], tuple[float, str]] = {}
        for entry in raw.get("service_terms", ()):
            phrase, weight = _split_weight(entry)
            stems = tuple(t.stem for t in self._tokens(phrase))
            if stems and weight > terms.get(stems, (0.0, ""))[0]:
                terms[stems] = (weight, phrase)
        for stems, (weight, phrase) in terms.items():
            self._terms.add(stems, (concept.id, weight, phrase))

    # ---- text normalisation -------------------------------------------------------------

    def _tokens(self, text: str, correct: bool = False) -> list[_Token]:
        """Lower-cased tokens with their spans in ``text``; abbreviations expanded in place
        (all expanded words keep the abbreviation's span, so phrases quote the original)."""
        out: list[_Token] = []
        lowered = text.lower()
        for m in _TOKEN_RE.finditer(lowered):
            raw = m.group().replace("\u2019", "'")
            if _DEMOGRAPHIC_RE.match(raw):
                continue
            expansion = self.abbreviations.get(raw)
            if raw in self.case_sensitive and not text[m.start() : m.end()].isupper():
                expansion = None
            if expansion is None and raw.endswith("'s"):
                expansion = self.abbreviations.get(raw[:-2])
            words = expansion.split() if expansion is not None else [raw]
            for word in words:
                if word not in _BOUNDARY:
                    word = word.replace("'", "")
                if correct:
                    word = self._correct(word)
                stemmed = self._stem(word)
                if stemmed:
                    out.append(_Token(word, stemmed, m.start(), m.end()))
        return out

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

    def find_needs(self, text: str) -> list[NeedHit]:
        """Every concept the text mentions, negated ones flagged, longest phrases winning."""
        tokens, stems, spans = _read(self, text)
        kept = [
            (i, j, p)
            for i, j, p in spans
            if not any((a <= i and j <= b) and (b - a) > (j - i) for a, b, _ in spans)
        ]
        hits: list[NeedHit] = []
        for i, j, (concept_id, weight) in kept:
            phrase = text[tokens[i].start : tokens[j - 1].end]
            if self._about_someone_else(stems, i):
                weight *= self.concepts[concept_id].about_others
            hits.append(
                NeedHit(
                    concept=concept_id,
                    phrase=phrase,
                    confidence=weight,
                    start=tokens[i].start,
                    negated=self._negated(tokens, stems, i, j),
                    emphasis=self._emphasis(stems, i, j),
                )
            )
        return hits

    def unrecognised(self, text: str) -> tuple[Fragment, ...]:
        """The stretches of the text in which no concept was found, for reports of needs the
        vocabulary does not know yet ("bagpipes", "transport to hospital").

        Nothing that could identify someone is kept: digits, e-mail and web addresses,
        capitalised words inside a sentence (names, places) and words in no English word
        list are left out and break a stretch; words that only frame a need ("likes",
        "wants", "the") are trimmed from both ends."""
        text = _IDENTIFIER_RE.sub(" . ", text)
        tokens, stems, spans = _read(self, text)
        covered = [False] * len(tokens)
        for i, j, _ in spans:
            covered[i:j] = [True] * (j - i)
        fragments: dict[str, Fragment] = {}
        run: list[int] = []
        clause_start = 0

        def close() -> None:
            if not run:
                return
            fragment = self._fragment(text, tokens, run, stems, clause_start)
            if fragment is not None and fragment.text not in fragments:
                fragments[fragment.text] = fragment
            run.clear()

        for k, token in enumerate(tokens):
            if token.text in _BOUNDARY:
                close()
                clause_start = k + 1
            elif covered[k] or not self._reportable(text, token):
                close()
            elif token.text.isalpha():
                run.append(k)
        close()
        return tuple(fragments.values())

    def _fragment(
        self, text: str, tokens: list[_Token], run: list[int], stems: list[str], clause: int
    ) -> Fragment | None:
        words: list[str] = []
        last_start = -1
        for k in run:
            if tokens[k].start != last_start:  # an expanded abbreviation is one word
                words.append(text[tokens[k].start : tokens[k].end].lower().replace("\u2019", "'"))
                last_start = tokens[k].start
        while words and self._frames(words[0]):
            words.pop(0)
        while words and self._frames(words[-1]):
            words.pop()
        if not words or len(words) > MAX_FRAGMENT_WORDS:
            return None
        if len(words) == 1 and self._everyday(words[0]):
            return None  # "moment", "finished": a word this common names no need alone
        before = stems[clause : run[-1]]  # the cue may open the stretch itself
        requested = any(
            tuple(before[i : i + len(cue)]) == cue
            for cue in self._request_cues
            for i in range(len(before) - len(cue) + 1)
        )
        return Fragment(" ".join(words), requested)

    def _frames(self, word: str) -> bool:
        """A word that frames a need rather than naming one ("likes", "doesn't", "the")."""
        return len(word) < 3 or word.replace("'", "") in self._edge_words

    def _everyday(self, word: str) -> bool:
        return self._english is not None and self._english.count(word) >= EVERYDAY_COUNT

    def _reportable(self, text: str, token: _Token) -> bool:
        """Whether a word can appear in a report: a known English word, and not a name."""
        original = text[token.start : token.end]
        if any(ch.isdigit() for ch in original):
            return False
        word = token.text
        known = word in self._known or (self._english is not None and self._english.knows(word))
        if not original[:1].isupper() or (original.isupper() and len(original) > 1):
            return known
        before = text[: token.start].rstrip()
        return known and (not before or before[-1] in ".!?;:\n")

    def _about_someone_else(self, stems: list[str], start: int) -> bool:
        """Whether the clause is about another person ("husband made redundant", "her
        ex-partner released from prison"), not someone reporting on the patient ("wife says
        not sleeping")."""
        for k in range(start - 1, max(-1, start - 5), -1):
            if stems[k] in _BOUNDARY:
                return False
            if stems[k] in self._others:
                return not (k + 1 < len(stems) and stems[k + 1] in self._reporting)
        return False

    def _emphasis(self, stems: list[str], start: int, end: int) -> float:
        """The weight the referrer's own words give a mention: the nearest cue before it in
        the same clause ("wants to make friends and maybe volunteer": the wish lifts "make
        friends", the hedge lowers "volunteer"), else a cue right after it ("tearful at
        times", "stress++")."""
        before, after = self.emphasis_cues["before"], self.emphasis_cues["after"]
        for k in range(start - 1, max(-1, start - 9), -1):
            if stems[k] in _BOUNDARY:
                break
            factor = self._cue_at(before, stems, k, start)
            if factor is not None:
                return factor
        for k in range(end, min(len(stems), end + 2)):
            if stems[k] in _BOUNDARY:
                break
            factor = self._cue_at(after, stems, k, len(stems))
            if factor is not None:
                return factor
        return 1.0

    def _cue_at(
        self, cues: dict[tuple[str, ...], float], stems: list[str], k: int, limit: int
    ) -> float | None:
        for n in range(min(self._cue_length, limit - k), 0, -1):
            factor = cues.get(tuple(stems[k : k + n]))
            if factor is not None:
                return factor
        return None

    def _negated(self, tokens: list[_Token], stems: list[str], start: int, end: int) -> bool:
        """A negation cue shortly before the mention in its clause ("no SI", "denies low
        mood"), or a finding after it that rules it out ("pain: nil", "mood ok", "cancer
        ruled out"), unless that finding is itself negated ("mood not good")."""
        return self._negated_before(tokens, start) or self._ruled_out_after(tokens, stems, end)

    def _ruled_out_after(self, tokens: list[_Token], stems: list[str], end: int) -> bool:
        """A finding after the mention that rules it out ("pain: nil", "sleeps well"), unless
        the mention is itself denied ("doesn't sleep well", "not coping well")."""
        start = end - 1
        while start > 0 and tokens[start - 1].start == tokens[start].start:
            start -= 1
        if any(t.text in self.negation_cues for t in tokens[max(0, start - 3) : end]):
            return False
        for k in range(end, min(len(tokens), end + 3)):
            word = tokens[k].text
            if word in (":", "-"):
                continue
            if word in _BOUNDARY:
                return False
            if self._cue_at(self._ruled_out, stems, k, len(stems)) is not None:
                return tokens[k - 1].text not in self.negation_cues
        return False

    def _negated_before(self, tokens: list[_Token], start: int) -> bool:
        for k in range(start - 1, max(-1, start - 1 - NEGATION_WINDOW), -1):
            word = tokens[k].text
            if word in _BOUNDARY or word in self._scope_ends:
                return False
            if word in self.negation_cues:
                following = tuple(t.text for t in tokens[k : k + 2])
                return following not in self.pseudo_negations
        return False

    def extract(self, text: str) -> list[NeedHit]:
        """The needs a referral expresses: one hit per concept (its strongest non-negated
        mention), plus concepts implied by related ones at reduced confidence."""
        best: dict[str, NeedHit] = {}
        negated: set[str] = set()
        for hit in self.find_needs(text):
            if hit.negated:
                negated.add(hit.concept)
                continue
            current = best.get(hit.concept)
            if current is None or (hit.confidence * hit.emphasis, len(hit.phrase)) > (
                current.confidence * current.emphasis,
                len(current.phrase),
            ):
                best[hit.concept] = hit
        for hit in list(best.values()):
            for other, factor in self.concepts[hit.concept].suppresses.items():
                if other in best:
                    weaker = best[other]
                    best[other] = NeedHit(
                        weaker.concept,
                        weaker.phrase,
                        weaker.confidence * factor,
                        weaker.start,
                        emphasis=weaker.emphasis,
                    )
        direct = list(best.values())
        for hit in direct:
            for related, weight in self.concepts[hit.concept].related.items():
                if related not in self.concepts or related in negated:
                    continue
                implied = NeedHit(
                    concept=related,
                    phrase=hit.phrase,
                    confidence=hit.confidence * weight,
                    start=hit.start,
                    implied_by=hit.concept,
                    emphasis=hit.emphasis,
                )
                current = best.get(related)
                if current is None or implied.confidence > current.confidence:
                    best[related] = implied
        return sorted(best.values(), key=lambda h: h.start)

    # ---- service side -------------------------------------------------------------------

    def canonical_category(self, name: str) -> str | None:
        """A known category for a directory's category label, or None when it is new to us
        (unknown categories never fail: their words still count as service text)."""
        return _canonical_category(self, normalise_category(name))

    def service_words(self, text: str) -> list[str]:
        """Stems of a service's text: the fast path used for every directory entry, so no
        spans and no spelling correction (directories are edited text)."""
        out: list[str] = []
        expansions = self._service_expansions
        for raw in _TOKEN_RE.findall(text.lower()):
            expanded = expansions.get(raw)
            if expanded is not None:
                out.extend(expanded)
            elif raw in _BOUNDARY:
                out.append(raw)
            else:
                stemmed = self._stem(raw.replace("'", "").replace("\u2019", ""))
                if stemmed:
                    out.append(stemmed)
        return out

    def describe_service(
        self,
        name: str,
        description: str,
        categories: Iterable[str],
        keywords: Iterable[str] = (),
        organisation_name: str = "",
    ) -> ServiceConcepts:
        """Score each concept by how well the service's categories and words answer it.

        Category evidence is broad (many groups say 'mental wellbeing'), so it is weighted by
        the concept's affinity for that category; words are specific, so each distinct term
        found adds independent evidence, the name counting more than the description.
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
        for text, field_weight in fields:
            if not text:
                continue
            for concept_id, weight, phrase in self._service_terms_in(text):
                seen = term_hits.setdefault(concept_id, {})
                seen[phrase] = max(seen.get(phrase, 0.0), field_weight * weight)
        by_words: dict[str, tuple[float, str]] = {}
        for position, category in unknown:
            for concept_id, affinity in self.unknown_category_concepts(category).items():
                affinity *= 1.0 if position == 0 else LATER_CATEGORY
                if affinity > by_words.get(concept_id, (0.0, ""))[0]:
                    by_words[concept_id] = (affinity, category)
        result: ServiceConcepts = {}
        for concept_id in set(term_hits) | self._concepts_for_categories(canonical) | set(by_words):
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

    def _service_terms_in(self, text: str) -> Iterator[tuple[str, float, str]]:
        """Service terms in the text, except inside a longer phrase listed under
        ``service_non_terms`` ("loss" in "hearing loss" is not bereavement, "run" in "run by
        volunteers" is not running)."""
        spans = list(self._terms.scan(self.service_words(text)))
        blocked = [(a, b) for a, b, payload in spans if payload[0] is None]
        for i, j, payload in spans:
            if payload[0] is None:
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


def _split_weight(entry: str) -> tuple[str, float]:
    if "|" in entry:
        phrase, weight = entry.rsplit("|", 1)
        return phrase.strip(), float(weight)
    return entry.strip(), 1.0


@lru_cache(maxsize=65536)
def _correct_spelling(vocabulary: Vocabulary, word: str) -> str:
    """The vocabulary word a misspelling is closest to, by letters and by sound together
    ("excersize" is "exercise", though "excessive" differs in fewer letters)."""
    candidates = [
        w for w in vocabulary._correctable if w[0] == word[0] and abs(len(w) - len(word)) <= 2
    ]
    cutoff = 80 if len(word) < 8 else 70  # a long word survives more slips
    found = process.extract(word, candidates, scorer=fuzz.ratio, score_cutoff=cutoff - 10)
    best, best_score = word, float(cutoff)
    for candidate, _, _ in found:
        score = spelling_likeness(word, candidate)
        if score >= best_score:
            best, best_score = candidate, score
    return best


@lru_cache(maxsize=65536)
def spelling_likeness(word: str, candidate: str) -> float:
    """0..100: how likely ``word`` is a slip for ``candidate``: half letters, half sound,
    or the letters alone when they are near enough on their own ("ashma")."""
    letters = fuzz.ratio(word, candidate)
    sound = fuzz.ratio(jellyfish.metaphone(word), jellyfish.metaphone(candidate))
    return max((letters + sound) / 2, letters if letters >= 85 else 0.0)


@lru_cache(maxsize=4096)
def _canonical_category(vocabulary: Vocabulary, key: str) -> str | None:
    if key in vocabulary._categories:
        return vocabulary._categories[key]
    found = process.extractOne(
        key, list(vocabulary._categories), scorer=fuzz.token_sort_ratio, score_cutoff=88
    )
    if found is None or not _same_words(key, found[0]):
        return None
    return vocabulary._categories[found[0]]


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
    return {c: round(0.85 * w, 4) for c, w in found.items() if w >= 0.5}


@lru_cache(maxsize=256)
def _read(
    vocabulary: Vocabulary, text: str
) -> tuple[list[_Token], list[str], list[tuple[int, int, object]]]:
    """Tokens, stems and trigger spans of a referral's text, read once for the needs and
    for what was not recognised."""
    tokens = vocabulary._tokens(text, correct=True)
    stems = [t.stem for t in tokens]
    return tokens, stems, list(vocabulary._triggers.scan(stems))


@lru_cache(maxsize=1)
def _default_vocabulary() -> Vocabulary:
    folder = resources.files("services.matcher").joinpath("vocabulary")
    text = folder.joinpath(DEFAULT_DATA).read_text(encoding="utf-8")
    known = folder.joinpath(KNOWN_WORDS).read_text(encoding="utf-8").split()
    english = EnglishWords()
    return Vocabulary(json.loads(text), [*known, *english.common], english)


class EnglishWords:
    """Everyday English from pyspellchecker's frequency list (built from film and TV
    subtitles): its common words are never "corrected" ("bringing" is not "binging", "space"
    is not "spice"), while misspellings, rare or absent in it, still are ("lonley")."""

    def __init__(self, min_count: int = REAL_WORD_COUNT) -> None:
        from spellchecker import SpellChecker

        self._checker = SpellChecker(language="en", distance=1)
        counts = self._checker.word_frequency.dictionary
        self.common = frozenset(
            word for word, count in counts.items() if count >= min_count and word.isalpha()
        )

    def knows(self, word: str) -> bool:
        """Whether the word is in the word list at all, however rare."""
        return word in self._checker.word_frequency.dictionary

    def count(self, word: str) -> int:
        return int(self._checker.word_frequency.dictionary.get(word, 0))

    def correction(self, word: str) -> str | None:
        """The most frequent English word one edit away, if any."""
        return self._checker.correction(word)


@lru_cache(maxsize=65536)
def _english_correction(english: EnglishWords, word: str) -> str | None:
    return english.correction(word)
