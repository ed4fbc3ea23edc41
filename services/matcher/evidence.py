"""The words that show how a service answers each of its concepts (the service phrases, up
to three, and the category), kept per slot when the service is read into the index, so a
proposal's reasons are looked up rather than found by reading the service's text again.

Each distinct (phrases, category) pair is stored once; a slot holds one uint32 per concept
it answers (the concept's column in the upper 8 bits, the pair's number below). A slot whose
evidence could not be settled when it was read (two phrases tied in a way only the text's
own reading decides, ``AMBIGUOUS``) or that has none recorded (a table restored from an
older snapshot) is explained by ``describe_service`` as before; ``explained_by_text`` tells
which. ``test_matcher_evidence.py`` holds the two to the same words."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from services.matcher.columns import Growable

__all__ = ["AMBIGUOUS", "Evidence", "SlotEvidence"]

AMBIGUOUS = 0  # the pair number that says "read the service's text"
_PAIR_BITS = 24
_PAIR_MASK = (1 << _PAIR_BITS) - 1


@dataclass(frozen=True, slots=True)
class Evidence:
    """What a proposal's reason quotes for one concept (``ConceptMatch`` without its score)."""

    terms: tuple[str, ...]
    category: str | None


class SlotEvidence:
    """Per slot: where its entries start and how many there are; the entries; the pairs.

    Writers append (entries first, then the slot's start and count), so a reader that has
    a slot from the posting lists finds its evidence complete without a lock."""

    def __init__(self, concepts: Sequence[str]) -> None:
        self.concepts = tuple(concepts)
        self._column = {c: i for i, c in enumerate(self.concepts)}
        if len(self.concepts) > 255:
            raise ValueError("SlotEvidence packs a concept's column into 8 bits")
        self.start = Growable("uint32")
        self.count = Growable("uint8")
        self.by_text = Growable("bool")  # some evidence is AMBIGUOUS: read the text
        self.entries = Growable("uint32")
        self.pairs: list[Evidence | None] = [None]  # number 0 is AMBIGUOUS
        self._number: dict[tuple[tuple[str, ...], str | None], int] = {}

    def pair(self, terms: tuple[str, ...], category: str | None) -> int:
        key = (terms, category)
        number = self._number.get(key)
        if number is None:
            number = self._number[key] = len(self.pairs)
            if number > _PAIR_MASK:
                raise ValueError("SlotEvidence: more distinct evidence than 24 bits number")
            self.pairs.append(Evidence(terms, category))
        return number

    def append(self, slot: int, found: Iterable[tuple[str, tuple[str, ...], str | None]]) -> None:
        """One service's evidence (concept, phrases, category), for the slot it now holds."""
        packed = [self._column[c] << _PAIR_BITS | self.pair(t, g) for c, t, g in found]
        self.add(slot, np.array(packed, dtype=np.uint32), np.array([len(packed)]))

    def add(self, first: int, entries: np.ndarray, counts: np.ndarray) -> None:
        """Consecutive slots from ``first``: their entries back to back and each one's count."""
        while self.start.size < first:  # slots read without evidence (none recorded)
            self.start.append(0)
            self.count.append(0)
            self.by_text.append(True)
        starts = self.entries.size + np.cumsum(counts) - counts
        unsettled = np.flatnonzero((entries & _PAIR_MASK) == AMBIGUOUS)
        by_text = np.zeros(len(counts), dtype=bool)
        by_text[np.searchsorted(starts, unsettled + self.entries.size, side="right") - 1] = True
        self.entries.extend(entries)
        self.start.extend(starts)
        self.count.extend(counts)
        self.by_text.extend(by_text)

    def explained_by_text(self, slot: int) -> bool:
        """Whether this slot's evidence must be read from its text (see the module)."""
        return slot >= self.by_text.size or bool(self.by_text.data[slot])

    def of(self, slot: int) -> dict[str, Evidence]:
        """The slot's evidence by concept (``explained_by_text`` is False for it)."""
        begin = int(self.start.data[slot])
        entries = self.entries.data[begin : begin + int(self.count.data[slot])].tolist()
        concepts, pairs = self.concepts, self.pairs
        return {concepts[e >> _PAIR_BITS]: pairs[e & _PAIR_MASK] for e in entries}  # type: ignore[misc]

    def arrays(self, size: int) -> dict[str, np.ndarray]:
        """The arrays a snapshot saves (the pairs travel in its metadata)."""
        return {
            "evidence_start": self.start.data[: min(size, self.start.size)],
            "evidence_count": self.count.data[: min(size, self.count.size)],
            "evidence_by_text": self.by_text.data[: min(size, self.by_text.size)],
            "evidence_entries": self.entries.data[: self.entries.size],
        }

    def restore(self, arrays: dict[str, np.ndarray], pairs: list[Evidence | None]) -> None:
        self.start = Growable.restored(arrays["evidence_start"])
        self.count = Growable.restored(arrays["evidence_count"])
        self.by_text = Growable.restored(arrays["evidence_by_text"])
        self.entries = Growable.restored(arrays["evidence_entries"])
        self.pairs = list(pairs)
        self._number = {(p.terms, p.category): i for i, p in enumerate(pairs) if p is not None}
