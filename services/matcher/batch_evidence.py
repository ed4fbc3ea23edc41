"""The words a batch's reading would quote for each concept score it gives
(``service_batch.py``): the phrases ``describe_service`` lists, in its order, and the
category label it names, so a proposal's reasons need not read the service's text again
(``evidence.py`` keeps them per slot)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["BatchEvidence", "batch_evidence"]


@dataclass(frozen=True, slots=True)
class BatchEvidence:
    """For each (service x concept) key scored, in key order: its phrases' numbers (up to
    three, best first, -1 beyond; ``BatchReader.phrases_read``), its category label's number
    (-1 for none; ``BatchReader.label_names``), and whether the phrases tie in a way only
    reading the text settles (then the words are found from the text)."""

    keys: np.ndarray
    terms: np.ndarray
    category: np.ndarray
    ambiguous: np.ndarray


def batch_evidence(
    keys: np.ndarray,
    terms: tuple[np.ndarray, ...],
    categories: tuple[np.ndarray, np.ndarray],
    twins: bool,
) -> BatchEvidence:
    """The phrases and category ``describe_service`` quotes for each scored key. ``terms``:
    each distinct phrase's key, rank, value, order of reading and number, in the order it
    would quote them; a tie that order does not settle, or (with ``twins`` in the
    vocabulary) one phrase found as two entries, leaves the key to be read from its text."""
    term_keys, rank, value, read, phrase = terms
    quoted = np.full((len(keys), 3), -1, dtype=np.int64)
    for r in range(3):
        chosen = np.flatnonzero(rank == r)
        where = np.searchsorted(keys, term_keys[chosen])
        found = where < len(keys)
        found[found] = keys[where[found]] == term_keys[chosen[found]]
        quoted[where[found], r] = phrase[chosen[found]]
    same = (term_keys[1:] == term_keys[:-1]) & (value[1:] == value[:-1])
    same &= (read[1:] == read[:-1]) & (rank[1:] <= 3)
    unsettled = [term_keys[1:][same]]
    if twins:
        by_phrase = np.lexsort((phrase, term_keys))
        twice = (term_keys[by_phrase][1:] == term_keys[by_phrase][:-1]) & (
            phrase[by_phrase][1:] == phrase[by_phrase][:-1]
        )
        unsettled.append(term_keys[by_phrase][1:][twice])
    unsettled_keys = np.concatenate(unsettled)
    ambiguous = np.zeros(len(keys), dtype=bool)
    if len(unsettled_keys):
        ambiguous = np.isin(keys, unsettled_keys)
    category_keys, named = categories
    category = np.full(len(keys), -1, dtype=np.int64)
    if len(category_keys):
        where = np.minimum(np.searchsorted(category_keys, keys), len(category_keys) - 1)
        hit = category_keys[where] == keys
        category[hit] = named[where[hit]]
    return BatchEvidence(keys, quoted, category, ambiguous)
