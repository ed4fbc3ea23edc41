"""Reading many services at once for the index: the fit scores ``describe_service`` gives one
service at a time, computed for a batch with numpy, so a directory of 100,000 builds in about
the time SQLite takes to index the same text. (The words: ``batch_words.py``.)

What the index needs from each service's text is only the score of each concept (the words
that show it are found again for the five services a ranking proposes). Per service, the work
is: split its name, description, keywords and organisation name into words; map each word to
its stem (once per distinct word: a directory's vocabulary is a few tens of thousands of words
however many services use them); find the vocabulary's service phrases among the stems (one
vectorised pass per phrase length over the whole batch); keep each phrase's best field; and
combine the three best phrases per concept with the categories' evidence. Only the splitting
and the word-to-stem look-up touch each word in Python, both in C loops (``bytes.split``,
``map``); a text with a form the fast split would read differently ("w/o", "c/o", initials
such as "J.", a curly apostrophe) is read by the same tokeniser as ``service_words`` instead.
``tests/unit/test_matcher_batch_build.py`` holds both paths to the same table."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from operator import attrgetter

import numpy as np

from services.matcher.batch_evidence import BatchEvidence, batch_evidence
from services.matcher.batch_words import BatchWords
from services.matcher.columns import stable_order
from services.matcher.records import ServiceRecord
from services.matcher.service_negation import NegationIds, negated_ids
from services.matcher.service_text import (
    CATEGORY_WEIGHT,
    DESCRIPTION,
    FIELD_WEIGHTS,
    LATER_CATEGORY,
)
from services.matcher.vocabulary import Vocabulary

__all__ = ["BatchReading", "reader_for"]

FIELDS = len(FIELD_WEIGHTS)  # name, description, keywords, organisation name
PRESENT = 0.15  # a concept scoring less than this is not among a service's concepts
_TEXTS = attrgetter("name", "description", "keywords", "organisation_name")
# each field's place when the fields are ordered by weight, the highest first
_FIELD_RANK = np.argsort(np.argsort(-np.array(FIELD_WEIGHTS), kind="stable"))


@dataclass(frozen=True, slots=True)
class BatchReading:
    """Concept scores for a batch of services (services x concepts, 0 where absent, rounded
    as ``describe_service`` rounds them), the two category facts about age groups, and the
    evidence ``describe_service`` would quote for each score (``BatchEvidence``)."""

    scores: np.ndarray
    older_category: np.ndarray
    young_category: np.ndarray
    evidence: BatchEvidence


@lru_cache(maxsize=4)
def reader_for(vocabulary: Vocabulary) -> BatchReader:
    return BatchReader(vocabulary)


class BatchReader:
    def __init__(self, vocabulary: Vocabulary) -> None:
        self.vocabulary = vocabulary
        self._lock = threading.Lock()
        self.concepts = list(vocabulary.concepts)
        column = {c: i for i, c in enumerate(self.concepts)}
        self._stem_ids: dict[str, int] = {}
        groups: dict[tuple[int, ...], list[int]] = {}
        concept_of, weight_of, phrase_of, length_of = [], [], [], []
        self.phrases_read: list[str] = []  # the service phrases, by number
        numbers: dict[str, int] = {}
        for stems, (concept_id, weight, phrase) in vocabulary._terms.entries():
            key = tuple(self._stem_id(s) for s in stems)
            groups.setdefault(key, []).append(len(concept_of))
            concept_of.append(-1 if concept_id is None else column[concept_id])
            weight_of.append(weight)
            phrase_of.append(numbers.setdefault(phrase, len(numbers)))
            length_of.append(len(stems))
        self.phrases_read.extend(numbers)
        self._payload_phrase = np.array(phrase_of, dtype=np.int64)
        self._payload_length = np.array(length_of, dtype=np.int64)
        # one phrase listed twice for a concept (by other stems) is one phrase to describe
        self._twins = len(set(zip(concept_of, phrase_of, strict=True))) < len(phrase_of)
        self._negation = NegationIds.of(vocabulary.service_negation, self._stem_id)
        self._payload_concept = np.array(concept_of, dtype=np.int64)
        self._payload_weight = np.array(weight_of, dtype=np.float64)
        # every value a phrase can have: its weight in one of the fields
        self._values = _distinct(np.multiply.outer(FIELD_WEIGHTS, self._payload_weight).ravel())
        if (self._payload_weight[self._payload_concept >= 0] < 0).any():  # _read's sort
            raise ValueError("a service phrase weighs less than nothing")
        alphabet = len(self._stem_ids) + 2
        self._bits = max(1, int(alphabet - 1).bit_length())
        self._by_length: dict[int, tuple[np.ndarray, ...]] = {}
        for length in sorted({len(k) for k in groups}):
            keys = [k for k in groups if len(k) == length]
            ids = np.array(keys, dtype=np.int64).reshape(len(keys), length)
            first_stems = np.zeros(alphabet, dtype=bool)
            first_stems[ids[:, 0]] = True
            last_stems = np.zeros(alphabet, dtype=bool)
            last_stems[ids[:, -1]] = True
            packed = self._pack(ids)
            order = np.argsort(packed, kind="stable")
            if len(np.unique(packed)) != len(packed):  # only possible for long phrases
                raise ValueError("two service phrases share a hash: widen BatchReader._pack")
            payloads = [groups[keys[i]] for i in order]
            starts = np.cumsum([0] + [len(p) for p in payloads])
            self._by_length[length] = (
                packed[order],
                ids[order],
                starts,
                np.array(list(chain.from_iterable(payloads)), dtype=np.int64),
                first_stems,
                last_stems,
            )
        self.words = BatchWords(vocabulary, self._stem_ids)
        self._labels: dict[str, int] = {}
        self._label_canonical: list[int] = []
        self.label_names: list[str] = []  # what a reason calls each label: ours, or its own
        self._label_unknown: list[np.ndarray] = []
        self._label_arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._canonical = {c: i for i, c in enumerate(vocabulary.categories)}
        self._affinity = np.array(
            [
                [concept.categories.get(c, 0.0) for concept in vocabulary.concepts.values()]
                for c in vocabulary.categories
            ],
            dtype=np.float64,
        ).reshape(len(vocabulary.categories), len(self.concepts))
        self._substance = [
            (column[c.id], [column[s] for s in c.answered_with if s in column])
            for c in vocabulary.concepts.values()
            if c.answered_with
        ]

    def _stem_id(self, stem: str) -> int:
        return self._stem_ids.setdefault(stem, len(self._stem_ids) + 2)

    def _pack(self, ids: np.ndarray) -> np.ndarray:
        """One uint64 per row of stem ids: exact while the row fits in 64 bits, a hash
        otherwise (matches of long phrases are checked stem by stem)."""
        packed = np.zeros(len(ids), dtype=np.uint64)
        with np.errstate(over="ignore"):
            for j in range(ids.shape[1]):
                packed = packed * np.uint64(1 << self._bits) + ids[:, j].astype(np.uint64)
        return packed

    # ---- words --------------------------------------------------------------------------

    # ---- phrases ------------------------------------------------------------------------

    def phrases(self, stems: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every service phrase in ``stems`` (as ``PhraseTable.scan`` finds them, then
        without those inside a longer ``service_non_terms`` phrase): (start, payload)."""
        n = len(stems)
        found_at, found_end, found_payload = [], [], []
        for length, (keys, ids, starts, payloads, first, last) in self._by_length.items():
            if n < length:
                continue
            at = np.flatnonzero(first[stems[: n - length + 1]])
            if length > 1:  # fewer places to look up: the last stem must end a phrase too
                at = at[last[stems[at + length - 1]]]
            if length == 1:
                slot = np.searchsorted(keys, stems[at].astype(np.uint64))
            else:
                packed = stems[at].astype(np.uint64)
                with np.errstate(over="ignore"):
                    for j in range(1, length):
                        packed = packed * np.uint64(1 << self._bits) + stems[at + j].astype(
                            np.uint64
                        )
                slot = np.minimum(np.searchsorted(keys, packed), len(keys) - 1)
                hit = keys[slot] == packed
                if length * self._bits > 64:  # a hash: check the stems themselves
                    for j in range(length):
                        hit[hit] = ids[slot[hit], j] == stems[at[hit] + j]
                at, slot = at[hit], slot[hit]
            counts = starts[slot + 1] - starts[slot]
            first = np.repeat(starts[slot] - np.cumsum(counts) + counts, counts)
            found_payload.append(payloads[first + np.arange(len(first))])
            found_at.append(np.repeat(at, counts))
            found_end.append(np.repeat(at + length, counts))
        if not found_at:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        at, end, payload = map(np.concatenate, (found_at, found_end, found_payload))
        blocker = self._payload_concept[payload] < 0
        keep = ~blocker
        for span in np.unique(end[blocker] - at[blocker]):
            block_at = np.sort(at[blocker & (end - at == span)])
            shorter = keep & (end - at < span)
            first = np.searchsorted(block_at, end[shorter] - span)
            inside = first < len(block_at)
            inside[inside] = block_at[first[inside]] <= at[shorter][inside]
            keep[np.flatnonzero(shorter)[inside]] = False
        return at[keep], payload[keep]

    # ---- categories ---------------------------------------------------------------------

    def _label(self, label: str) -> int:
        found = self._labels.get(label)
        if found is None:
            found = self._labels[label] = len(self._label_canonical)
            canonical = self.vocabulary.canonical_category(label)
            self._label_canonical.append(-1 if canonical is None else self._canonical[canonical])
            self.label_names.append(label if canonical is None else canonical)
            unknown = np.zeros(len(self.concepts), dtype=np.float64)
            if canonical is None:
                read = self.vocabulary.unknown_category_concepts(label)
                for concept_id, affinity in read.items():
                    unknown[self.concepts.index(concept_id)] = affinity
            self._label_unknown.append(unknown)
        return found

    def _label_rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each label's category evidence as sparse rows: (start per label, concept, value)."""
        if self._label_arrays is None or len(self._label_arrays[0]) != len(self._labels) + 1:
            rows = [self._label_evidence(i) for i in range(len(self._labels))]
            self._label_arrays = (
                np.cumsum([0] + [len(c) for c, _ in rows]),
                np.concatenate([c for c, _ in rows] or [np.zeros(0, np.int64)]),
                np.concatenate([v for _, v in rows] or [np.zeros(0)]),
            )
        return self._label_arrays

    def _label_evidence(self, label: int) -> tuple[np.ndarray, np.ndarray]:
        canonical = self._label_canonical[label]
        vector = self._affinity[canonical] if canonical >= 0 else self._label_unknown[label]
        columns = np.flatnonzero(vector > 0)
        return columns, vector[columns]

    def _categories(
        self, services: Sequence[ServiceRecord]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The best category evidence per (service x concept) key, as sorted keys and values,
        the label that gives it (as ``describe_service`` picks among equals: a label new to
        us first, then the earliest), and each label's (service, canonical id)."""
        m, concepts = len(services), len(self.concepts)
        counts = np.array([len(s.categories) for s in services], dtype=np.int64)
        names = list(chain.from_iterable(s.categories for s in services))
        label_of = self._labels.get
        labels = np.array(
            [self._label(c) if (k := label_of(c)) is None else k for c in names], dtype=np.int64
        )
        if not len(labels):
            none = np.zeros(0, np.int64)
            return none, np.zeros(0), none, np.full((0, 2), -1, dtype=np.int64)
        owner = np.repeat(np.arange(m), counts)
        position = np.arange(len(labels)) - np.repeat(np.cumsum(counts) - counts, counts)
        canonical = np.array(self._label_canonical, dtype=np.int64)[labels]
        known = np.flatnonzero(canonical >= 0)
        # a label read twice counts once; the second distinct category says less
        key = owner[known] * len(self._canonical) + canonical[known]
        _, first = np.unique(key, return_index=True)
        known = known[np.sort(first)]
        rank = np.arange(len(known)) - np.searchsorted(owner[known], owner[known])
        factor = np.ones(len(labels))
        factor[known[rank > 0]] = LATER_CATEGORY
        # a label new to us counts by its words, a later one less than the first
        unknown = np.flatnonzero(canonical < 0)
        factor[unknown[position[unknown] > 0]] = LATER_CATEGORY
        rows = np.sort(np.concatenate((known, unknown)))
        start, column, value = self._label_rows()
        many = start[labels[rows] + 1] - start[labels[rows]]
        at = np.repeat(start[labels[rows]] - np.cumsum(many) + many, many)
        at += np.arange(len(at))
        keys = np.repeat(owner[rows], many) * concepts + column[at]
        values = value[at] * np.repeat(factor[rows], many)
        preference = np.repeat((canonical[rows] >= 0) * len(labels) + position[rows], many)
        # the best, then the preferred, first (a value is a label's, maybe as a later one)
        table = _distinct(np.concatenate((value, value * LATER_CATEGORY)))
        order = _best_first(keys, values, table, preference)
        keys, values = keys[order], values[order]
        runs = (
            np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1]))) if len(keys) else keys
        )
        named = np.repeat(labels[rows], many)[order][runs]
        return keys[runs], values[runs], named, np.stack([owner, canonical], axis=1)

    # ---- scores -------------------------------------------------------------------------

    def read(self, services: Sequence[ServiceRecord]) -> BatchReading:
        """The concept scores of a batch (one batch at a time: the word caches grow)."""
        with self._lock:
            return self._read(services)

    def _read(self, services: Sequence[ServiceRecord]) -> BatchReading:
        m, concepts = len(services), len(self.concepts)
        texts = [
            text or ""
            for name, description, keywords, organisation in map(_TEXTS, services)
            for text in (name, description, " . ".join(keywords), organisation)
        ]
        stems, _ = self.words.stems(texts)
        at, payload = self.phrases(stems)
        text = np.cumsum(stems == 0)[at]
        service, field = text // FIELDS, text % FIELDS
        # what a description says the service is not is no evidence (service_negation.py)
        kept = ~(negated_ids(stems, self._negation)[at] & (field == DESCRIPTION))
        if not kept.all():
            at, payload, service, field = at[kept], payload[kept], service[kept], field[kept]
        value = np.array(FIELD_WEIGHTS, dtype=np.float64)[field] * self._payload_weight[payload]
        concept = self._payload_concept[payload]
        # each phrase counts once, in its best field; then the three best phrases per concept
        # (one sort of a packed key: a phrase's weights are positive, so for one service and
        # phrase the best value is in the field of the highest weight)
        packed = (service * len(self._payload_concept) + payload) * FIELDS + _FIELD_RANK[field]
        order = stable_order(packed)
        service, payload, value, concept = (a[order] for a in (service, payload, value, concept))
        first = np.ones(len(order), dtype=bool)
        first[1:] = (service[1:] != service[:-1]) | (payload[1:] != payload[:-1])
        # where each phrase is first read: equal values are quoted in the order read
        seen_at = np.minimum.reduceat(at[order], np.flatnonzero(first)) if len(at) else at
        service, value, concept, payload = (a[first] for a in (service, value, concept, payload))
        # equal values in the order read: by first place, the longer phrase first at one place
        read = seen_at * 256 + (255 - np.minimum(self._payload_length[payload], 255))
        term_keys = service * concepts + concept
        order = _best_first(term_keys, value, self._values, read)
        term_keys, value, read, payload = (a[order] for a in (term_keys, value, read, payload))
        rank = _rank_in_runs(term_keys)
        category_keys, category, named, labels = self._categories(services)
        keys = _distinct(np.concatenate((category_keys, term_keys[rank == 0])))
        scores = np.zeros(m * concepts, dtype=np.float64)  # also the look-ups' scratch
        # every key looked up below is in ``keys``: each one's place there, scattered once
        # (as a float, exact) into the scratch and read back for the category and each rank;
        # a key missing from one of them multiplies by 1.0, so it is left as it is
        scores[keys] = np.arange(len(keys), dtype=np.float64)
        place = scores[category_keys].astype(np.int64)
        miss = np.ones(len(keys), dtype=np.float64)
        miss[place] = 1.0 - CATEGORY_WEIGHT * category
        for r in range(3):
            chosen = rank == r
            place = scores[term_keys[chosen]].astype(np.int64)
            miss[place] *= 1.0 - value[chosen]
        scores[keys] = 0.0
        score = 1.0 - miss
        present = score >= PRESENT
        keys, score = keys[present], _round4(score[present])
        for concept_column, substance in self._substance:
            mine = np.flatnonzero(keys % concepts == concept_column)
            owners = keys[mine] - concept_column
            cap = np.zeros(len(mine))
            for other in substance:
                cap = np.maximum(cap, _sorted_at(keys, score, owners + other))
            score[mine[cap < PRESENT]] = 0.0
            capped = (cap >= PRESENT) & (score[mine] > cap)
            score[mine[capped]] = cap[capped]
        scores[keys] = score
        evidence = batch_evidence(
            keys[score > 0],
            (term_keys, rank, value, read, self._payload_phrase[payload]),
            (category_keys, named),
            self._twins,
        )
        scores = scores.reshape(m, concepts)
        older = np.zeros(m, dtype=bool)
        young = np.zeros(m, dtype=bool)
        for flag, name in ((older, "older people"), (young, "young adults")):
            if name in self._canonical:
                flag[labels[labels[:, 1] == self._canonical[name], 0]] = True
        return BatchReading(scores, older, young, evidence)


def _sorted_at(keys: np.ndarray, values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """``values`` at ``wanted`` keys (sorted, unique ``keys``), 0 where a key is missing: a
    binary search for each wanted key, for a few wanted among many keys (scattering all
    the keys into a scratch to read a few back costs more)."""
    if not len(keys):
        return np.zeros(len(wanted), dtype=values.dtype)
    place = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return np.where(keys[place] == wanted, values[place], 0.0)


def _best_first(
    keys: np.ndarray, values: np.ndarray, table: np.ndarray, then: np.ndarray
) -> np.ndarray:
    """``np.lexsort((then, -values, keys))`` (non-negative integer ``keys`` and ``then``) as
    one stable sort of a packed key, a third of the time: ``values`` are among the few in
    ``table`` (sorted, distinct), so each is replaced by its place there."""
    if not len(keys) or not len(table):
        return np.lexsort((then, -values, keys))
    place = np.minimum(np.searchsorted(table, values), len(table) - 1)
    value_bits = max(1, len(table).bit_length())
    then_bits = max(1, int(then.max()).bit_length())
    if int(keys.max()).bit_length() + value_bits + then_bits > 63 or not np.array_equal(
        table[place], values
    ):
        return np.lexsort((then, -values, keys))
    packed = (keys << value_bits | (len(table) - 1 - place)) << then_bits | then
    return np.argsort(packed, kind="stable")


def _rank_in_runs(keys: np.ndarray) -> np.ndarray:
    """0, 1, 2... along each run of equal values in a sorted array."""
    if not len(keys):
        return keys
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    lengths = np.diff(np.append(starts, len(keys)))
    return np.arange(len(keys)) - np.repeat(starts, lengths)


def _round4(values: np.ndarray) -> np.ndarray:
    """``round(x, 4)`` for an array: numpy's rounding agrees with Python's except within a
    hair of a half, and those are rounded by Python (once per distinct value: scores are
    products of a few weights, so the same ones recur)."""
    rounded = np.round(values, 4)
    scaled = values * 1e4
    near_half = np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6
    if near_half.any():
        odd = values[near_half]
        distinct = _distinct(odd)
        exact = np.array([round(float(v), 4) for v in distinct.tolist()], dtype=np.float64)
        rounded[near_half] = exact[np.searchsorted(distinct, odd)]
    return rounded


def _distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (by sorting: numpy's hashing ``unique`` is slower here)."""
    ordered = np.sort(values)
    if not len(ordered):
        return ordered
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]
