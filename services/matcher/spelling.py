"""The words of a text: tokens with their spans, a tiny stemmer, phrase tables scanned by
first stem, and spelling correction towards the vocabulary's words (by letters and by
sound) that leaves everyday English alone."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import jellyfish
from rapidfuzz import fuzz, process

if TYPE_CHECKING:
    from services.matcher.vocabulary import Vocabulary

__all__ = ["EnglishWords", "PhraseTable", "Token", "spelling_likeness", "stem"]

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
REAL_WORD_COUNT = 200  # a word this common in everyday English is not a misspelling
_DEMOGRAPHIC_RE = re.compile(r"^\d{1,3}(?:m|f|yo|yrs?|y)$")


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


@dataclass(frozen=True, slots=True)
class Token:
    text: str  # normalised surface form
    stem: str
    start: int
    end: int


class PhraseTable:
    """Phrases (as stem tuples) keyed by their first stem, longest first, for n-gram scans."""

    def __init__(self) -> None:
        self._by_first: dict[str, list[tuple[tuple[str, ...], object]]] = {}
        # first stem -> [(length, {stems: payloads})], longest first: one look-up per length
        self._lengths: dict[str, list[tuple[int, dict[tuple[str, ...], list[object]]]]] = {}

    def add(self, stems: tuple[str, ...], payload: object) -> None:
        if stems:
            self._by_first.setdefault(stems[0], []).append((stems, payload))
            self._lengths.clear()

    def entries(self) -> Iterator[tuple[tuple[str, ...], object]]:
        """Every (stems, payload) in the table."""
        for entries in self._by_first.values():
            yield from entries

    def freeze(self) -> None:
        for first, entries in self._by_first.items():
            entries.sort(key=lambda e: -len(e[0]))
            by_length: dict[int, dict[tuple[str, ...], list[object]]] = {}
            for phrase, payload in entries:
                by_length.setdefault(len(phrase), {}).setdefault(phrase, []).append(payload)
            self._lengths[first] = sorted(by_length.items(), key=lambda kv: -kv[0])

    def scan(self, stems: list[str]) -> Iterator[tuple[int, int, object]]:
        """Yield (start, end, payload) for every phrase occurrence, longest first at each
        start (and in the order phrases were added among equals)."""
        if self._by_first and not self._lengths:
            self.freeze()
        lengths = self._lengths
        n = len(stems)
        for i, s in enumerate(stems):
            groups = lengths.get(s)
            if not groups:
                continue
            for k, phrases in groups:
                if i + k > n:
                    continue
                payloads = phrases.get(tuple(stems[i : i + k]))
                if payloads:
                    for payload in payloads:
                        yield i, i + k, payload


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
