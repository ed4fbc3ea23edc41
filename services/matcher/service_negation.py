"""What a service says it is not: "No running, no tackling", "NOT A HEARING TEST", "its not
therapy", "we can't help with immigration". A service phrase inside such a statement is not
evidence that the service offers it (a walking-rugby group is not a running club).

A cue (``service_negation.cues`` in the vocabulary: "no", "not", "can't"...) negates the
phrases that start after it in its clause (up to ``WINDOW`` words, until punctuation, "but",
or a word that starts a new thought such as "because"), except when:

- it opens a phrase the vocabulary reads as a whole ("no one", "no longer", "no heating":
  the pseudo-negations the referral side uses too);
- it describes who the service is for rather than what it does ("for people *who can't*
  get out", "*if you don't* drive": an audience word among the two words before it);
- its clause is a question ("Can't get out? We ring you."), which names the situation the
  service answers.

Phrases that begin with the cue itself ("no experience needed") are read as written. Only
the description is read this way; names, keywords and category labels are taken as they
are. ``negated`` reads one text's stems, ``negated_ids`` the batch build's stem ids, and
``tests/unit/test_matcher_batch_build.py`` holds the two to the same result."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from services.matcher.spelling import _BOUNDARY

__all__ = ["WINDOW", "NegationIds", "ServiceNegation", "negated_ids"]

WINDOW = 5  # words a cue reaches forward ("not a beginners or health walk")
_PAIR_SHIFT = 1 << 32


@dataclass(frozen=True, slots=True)
class ServiceNegation:
    cues: frozenset[str]
    pairs: frozenset[tuple[str, str]]  # a cue and the word after it that make a phrase
    audience: frozenset[str]  # words that make the cue's clause about the service's users
    ends: frozenset[str]  # stems that end a cue's reach
    question: str = "?"

    @classmethod
    def from_data(
        cls, data: dict, stem: Callable[[str], str], pseudo: Iterable[tuple[str, ...]]
    ) -> ServiceNegation:
        raw = data.get("service_negation", {})
        cues = frozenset(stem(w) for w in raw.get("cues", ()))
        pairs = frozenset(
            (stem(p[0]), stem(p[1])) for p in pseudo if len(p) >= 2 and stem(p[0]) in cues
        )
        ends = frozenset(_BOUNDARY) | {stem(w) for w in data.get("negation_scope_ends", ())}
        audience = frozenset(stem(w) for w in raw.get("audience_words", ()))
        return cls(cues, pairs, audience, frozenset(ends))

    def stems(self) -> set[str]:
        """Every stem the rules look at (the batch build gives each its own id)."""
        return set(self.cues) | {w for p in self.pairs for w in p} | self.audience | self.ends

    def negated(self, stems: Sequence[str]) -> list[bool]:
        """For each position, whether a phrase starting there is negated."""
        n = len(stems)
        out = [False] * n
        if not self.cues.intersection(stems):
            return out
        for j, word in enumerate(stems):
            if word not in self.cues or not self._opens_statement(stems, j):
                continue
            for i in range(j + 1, min(n, j + 1 + WINDOW)):
                if stems[i] in self.ends:
                    break
                out[i] = True
        return out

    def _opens_statement(self, stems: Sequence[str], j: int) -> bool:
        if j + 1 < len(stems) and (stems[j], stems[j + 1]) in self.pairs:
            return False
        for k in (j - 1, j - 2):
            if k < 0:
                break
            if stems[k] in self.audience:
                return False
            if stems[k] in self.ends:
                break
        for k in range(j + 1, len(stems)):
            if stems[k] in self.ends:
                return stems[k] != self.question
        return True


CUE, END, AUDIENCE, QUESTION = 1, 2, 4, 8  # what a stem id is to the rules


@dataclass(frozen=True, slots=True)
class NegationIds:
    """The rules over stem ids, for ``negated_ids``: what each id is (a table of flags; 0,
    between texts, ends a reach) and the cue pairs that make a phrase."""

    flags: np.ndarray
    pairs: np.ndarray

    @classmethod
    def of(cls, rules: ServiceNegation, stem_id: Callable[[str], int]) -> NegationIds:
        """``stem_id`` gives each stem its id; ids the rules do not name are read as no cue
        (the table is as long as the largest id given here, later ones are clipped)."""
        named = {
            CUE: rules.cues,
            END: rules.ends,
            AUDIENCE: rules.audience,
            QUESTION: {rules.question},
        }
        ids = {flag: [stem_id(w) for w in words] for flag, words in named.items()}
        pairs = sorted(stem_id(a) * _PAIR_SHIFT + stem_id(b) for a, b in rules.pairs)
        flags = np.zeros(max(max(v, default=0) for v in ids.values()) + 2, dtype=np.uint8)
        for flag, where in ids.items():
            flags[where] |= flag
        flags[0] |= END
        flags[-1] = 0  # every id not named here
        return cls(flags, np.array(pairs, dtype=np.int64))


def negated_ids(stems: np.ndarray, rules: NegationIds) -> np.ndarray:
    """``ServiceNegation.negated`` over stem ids of many texts back to back (sparse: only
    the cues' neighbourhoods are looked at)."""
    n = len(stems)
    flags = rules.flags[np.minimum(stems, len(rules.flags) - 1)]
    cue = np.flatnonzero(flags & CUE)
    if not len(cue):
        return np.zeros(n, dtype=bool)
    after = np.minimum(cue + 1, n - 1)
    keep = ~np.isin(stems[cue] * _PAIR_SHIFT + stems[after], rules.pairs) | (cue + 1 >= n)
    one = cue - 1
    keep &= (one < 0) | ((flags[np.maximum(one, 0)] & AUDIENCE) == 0)
    two = cue - 2
    later = (two >= 0) & ((flags[np.maximum(one, 0)] & END) == 0)
    keep &= ~later | ((flags[np.maximum(two, 0)] & AUDIENCE) == 0)
    ends = np.flatnonzero(flags & END)
    at = np.searchsorted(ends, cue + 1)
    closing = np.append(ends, n)[at]
    asked = closing < n
    asked[asked] = (flags[closing[asked]] & QUESTION) != 0
    keep &= ~asked
    cue, closing = cue[keep], closing[keep]
    reach = np.zeros(n + 1, dtype=np.int64)
    np.add.at(reach, cue + 1, 1)
    np.add.at(reach, np.minimum(cue + 1 + WINDOW, closing), -1)
    return np.cumsum(reach[:n]) > 0
