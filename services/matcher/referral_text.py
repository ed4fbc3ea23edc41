"""Reading a referral's text: which needs it states, negated or not, whose they are and
how strongly they are put, and which stretches of it no need was recognised in."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING

from services.matcher.spelling import _ARTICLES, _BOUNDARY, Token

if TYPE_CHECKING:
    from services.matcher.vocabulary import Vocabulary

__all__ = ["Fragment", "NeedHit", "ReferralReading"]

NEGATION_WINDOW = 5  # words a negation reaches forward ("denies any low mood or anxiety")
_IDENTIFIER_RE = re.compile(r"\S+@\S+|https?://\S+|www\.\S+|\+?\d[\d ()-]{6,}\d")
MAX_FRAGMENT_WORDS = 6  # a longer unrecognised stretch is prose, not a need to count
EVERYDAY_COUNT = 30000  # subtitle-corpus count above which a lone word says nothing
# words that make what follows a verb its object ("runs the farm", "runs his own shop")
_DETERMINERS = frozenset(("his", "her", "their", "my", "our", "your", "this", "that", "own"))
_KEEP = frozenset(("keep", "kept"))  # "kept the looms running": keeping something going
# how long ago an event was: "3 years ago", "years ago", "decades ago" ("a year ago" and
# "18/12 ago" are recent); two years or more is long ago
_YEARS = frozenset(("years", "yrs", "yr", "year", "decades", "y"))
_PLURAL_YEARS = frozenset(("years", "yrs", "decades"))
_FEW = frozenset(("few", "many", "several", "some", "couple", "two", "three", "four", "five"))
_FEW |= frozenset(("six", "seven", "eight", "nine", "ten", "twenty", "thirty", "forty"))
LONG_AGO_YEARS = 2
ADULT_AGE = 18  # "her 8 yo" is a child, "19 y/o" the person
NO_CHILD = 0.3  # the share a child's need keeps in a text that names no child
_YEARS_OLD = ["year", "old"]
FADED = 0.5  # the share of confidence an event that long ago keeps


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
    circumstance: bool = False  # a fact about the person ("wheelchair user"), not asked about


@dataclass(frozen=True, slots=True)
class Fragment:
    """A stretch of referral text in which no concept was found, normalised for reports."""

    text: str
    requested: bool  # its clause asks for it ("needs transport to hospital")


class ReferralReading:
    """The referral side of ``Vocabulary`` (its data is loaded there)."""

    def find_needs(self, text: str) -> list[NeedHit]:
        """Every concept the text mentions, negated ones flagged, longest phrases winning."""
        tokens, stems, spans = _read(self, text)
        # the community a word names ("church": Christian) is read beside its need (faith),
        # so neither reading hides the other
        kinds = [self.concepts[p[0]].kind == "community" for _, _, p in spans]
        kept = [
            (i, j, p)
            for (i, j, p), community in zip(spans, kinds, strict=True)
            if not any(
                (a <= i and j <= b) and (b - a) > (j - i)
                for (a, b, _), other in zip(spans, kinds, strict=True)
                if other == community
            )
        ]
        hits: list[NeedHit] = []
        starts = {i for i, _, _ in kept}
        for i, j, (concept_id, weight) in kept:
            if (
                j - i == 1
                and self.concepts[concept_id].object_sense
                and self._other_sense(text, tokens, i)
            ):
                continue  # "runs the farm", "kept the looms running": managing, not running
            phrase = text[tokens[i].start : tokens[j - 1].end]
            if self.concepts[concept_id].of_a_child and not self._names_a_child(tokens, stems):
                weight *= NO_CHILD  # "19M, left SEN college": his own needs, not a child's
            if self._about_someone_else(stems, i):
                weight *= self.concepts[concept_id].about_others
            former = self.concepts[concept_id].former
            if former in self.concepts and self._in_the_past(tokens, stems, i, j):
                concept_id = former  # "cared for him until he died" is a former carer
            given_up = self.concepts[concept_id].kind == "interest" and self._given_up(stems, j)
            if (
                self.concepts[concept_id].fades
                and _long_ago(tokens, j)
                and not self._asks_about(stems, i, j, starts)
            ):
                weight *= FADED  # "husband died 3 yrs ago": history, unless still a struggle
            hits.append(
                NeedHit(
                    concept=concept_id,
                    phrase=phrase,
                    confidence=weight,
                    start=tokens[i].start,
                    negated=given_up or self._negated(tokens, stems, i, j),
                    emphasis=self._emphasis(stems, i, j),
                    circumstance=(concept_id, tuple(stems[i:j])) in self._states
                    and not self._asks_about(stems, i, j, starts),
                )
            )
        return hits

    def _other_sense(self, text: str, tokens: list[Token], at: int) -> bool:
        """Whether an activity's verb has an object, so it means keeping something going
        ("runs the farm", "running his own business", "kept the looms running"): a
        determiner or possessive right after it, or a 'keep' before it with words between,
        or it is a phrasal verb ("runs out", "run down", "ran away"), unless what follows
        is the activity's own measure ("runs a 5k", "runs a lot")."""
        k = at + 1
        if k < len(tokens) and tokens[k].text in self._verb_particles:
            return True  # "money runs out", "feels run down", "ran away"
        if k < len(tokens) and tokens[k].text not in _BOUNDARY:
            between = text[tokens[at].end : tokens[k].start].lower().split()
            if _ARTICLES & set(between) or tokens[k].text in _DETERMINERS:
                while k + 1 < len(tokens) and tokens[k].text in _DETERMINERS:
                    k += 1  # "running his own business": what is run comes after
                if tokens[k].stem not in self._activity_measures:
                    return True
        first = at - 1
        while first > max(-1, at - 5) and tokens[first].text not in _BOUNDARY:
            if tokens[first].stem in _KEEP:
                return first < at - 1
            first -= 1
        return False

    def _in_the_past(self, tokens: list[Token], stems: list[str], start: int, end: int) -> bool:
        """Whether a mention says what the person did, not what they do: a past-tense verb
        ("cared for", "looked after"), a cue before it in its clause ("used to", "former",
        "no longer") or one right after it ("... until he died")."""
        if tokens[start].text.endswith("ed") and tokens[start].text != tokens[start].stem:
            return True
        first = start
        while first > max(0, start - 4) and stems[first - 1] not in _BOUNDARY:
            first -= 1
        last = end
        while last < min(len(stems), end + 4) and stems[last] not in _BOUNDARY:
            last += 1
        return self._holds(stems[first:start], self._former_cues) or self._holds(
            stems[end:last], self._former_cues
        )

    def _names_a_child(self, tokens: list[Token], stems: list[str]) -> bool:
        """Whether the text speaks of a child ("son", "DD 7", "her 8 yo", "school"), so a
        child's additional needs can be the child's rather than the person's own."""
        if self._holds(stems, self._child_words):
            return True
        return any(
            t.text.isdigit() and int(t.text) < ADULT_AGE and stems[k + 1 : k + 3] == _YEARS_OLD
            for k, t in enumerate(tokens[:-2])
        )

    def _given_up(self, stems: list[str], end: int) -> bool:
        """Whether an interest is said to be over for good after it, in its clause or the
        next ("played bowls for years but has given it up for good, won't go back")."""
        last, clauses = end, 0
        while last < len(stems) and clauses < 2:
            if stems[last] in _BOUNDARY:
                clauses += 1
            last += 1
        return self._holds(stems[end:last], self._given_up_cues)

    @staticmethod
    def _holds(words: list[str], cues: frozenset[tuple[str, ...]]) -> bool:
        return any(
            tuple(words[k : k + len(cue)]) == cue
            for cue in cues
            for k in range(len(words) - len(cue) + 1)
        )

    def _asks_about(self, stems: list[str], start: int, end: int, mentions: set[int]) -> bool:
        """Whether the clause of a fact about the person asks for help with it or says it is
        a struggle or a change ("needs help with her hearing aids", "losing his sight",
        "registered blind last month"), or the clause after it does while naming nothing
        else ("deaf, struggling at work"), rather than stating it as a circumstance
        ("wheelchair user, lonely", "HoH, wears aids")."""
        first = start
        while first > 0 and stems[first - 1] not in _BOUNDARY:
            first -= 1
        last = end
        while last < len(stems) and stems[last] not in _BOUNDARY:
            last += 1
        following = last + 1
        while following < len(stems) and stems[following] not in _BOUNDARY:
            following += 1
        if not mentions & set(range(last + 1, following)):
            last = following  # it only says more about the fact
        # the fact's own words are not a cue ("supported housing" asks for no support)
        return self._holds([*stems[first:start], ".", *stems[end:last]], self._access_need_cues)

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
        self, text: str, tokens: list[Token], run: list[int], stems: list[str], clause: int
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

    def _reportable(self, text: str, token: Token) -> bool:
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
            if stems[k] in _BOUNDARY and stems[k] != "(":  # "(MI)" says more of "wife died"
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

    def _negated(self, tokens: list[Token], stems: list[str], start: int, end: int) -> bool:
        """A negation cue shortly before the mention in its clause ("no SI", "denies low
        mood"), or a finding after it that rules it out ("pain: nil", "mood ok", "cancer
        ruled out"), unless that finding is itself negated ("mood not good")."""
        return self._negated_before(tokens, start) or self._ruled_out_after(tokens, stems, end)

    def _ruled_out_after(self, tokens: list[Token], stems: list[str], end: int) -> bool:
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

    def _negated_before(self, tokens: list[Token], start: int) -> bool:
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
        asked: set[str] = set()  # a fact asked about in one mention is a need in all
        for hit in self.find_needs(text):
            if hit.negated:
                negated.add(hit.concept)
                continue
            if not hit.circumstance:
                asked.add(hit.concept)
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
                    best[other] = replace(weaker, confidence=weaker.confidence * factor)
        for concept, hit in best.items():
            if hit.circumstance and concept in asked:
                best[concept] = replace(hit, circumstance=False)
        direct = list(best.values())
        for hit in direct:
            if hit.circumstance:
                continue  # a fact about the person is not a need, so it implies none
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


def _long_ago(tokens: list[Token], end: int) -> bool:
    """Whether the clause after a mention dates it two years or more ago ("husband died 3
    yrs ago", "divorced many years ago"): an event that long ago is part of the person's
    history, a fact like being widowed, unless the clause calls it a struggle."""
    words = []
    for token in tokens[end:]:
        if token.text in _BOUNDARY or len(words) > 6:
            break
        words.append(token.text)
    for k in range(len(words) - 1):
        if words[k] in _YEARS and words[k + 1] == "ago":
            before = words[k - 1] if k else ""
            if before.isdigit():
                return int(before) >= LONG_AGO_YEARS
            if before in ("a", "one", "last"):
                return False
            return before in _FEW or words[k] in _PLURAL_YEARS
    return False


@lru_cache(maxsize=256)
def _read(
    vocabulary: Vocabulary, text: str
) -> tuple[list[Token], list[str], list[tuple[int, int, object]]]:
    """Tokens, stems and trigger spans of a referral's text, read once for the needs and
    for what was not recognised."""
    tokens = vocabulary._tokens(text, correct=True)
    stems = [t.stem for t in tokens]
    figures = [(i, j, i + a, i + b) for i, j, (a, b) in vocabulary._non_triggers.scan(stems)]
    return (
        tokens,
        stems,
        [
            (i, j, p)
            for i, j, p in vocabulary._triggers.scan(stems)
            # inside a figure ("can't see how") and over its marked words ("growing* anxiety")
            if not any(a <= i and j <= b and i < e and s < j for a, b, s, e in figures)
        ],
    )
