"""The directory as the index stores it: one slot per service version, numpy columns for
the filters, and posting lists (concept x grid cell -> slots with their fit) for finding
candidates. Writes only append; a service replaced or removed leaves a dead slot, and a
table with too many is rebuilt whole (``compacted``) and swapped in by its owner."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import threading
from collections.abc import Iterable
from itertools import islice
from operator import attrgetter

import numpy as np

from services.matcher.audiences import Audiences
from services.matcher.batch_columns import append_columns
from services.matcher.batch_evidence import BatchEvidence
from services.matcher.columns import (
    ALIVE,
    CLOSED,
    FULL,
    GENTLE,
    NO_CELL,
    REPORTED,
    TRAIT_BITS,
    VIGOROUS,
    BitNames,
    Columns,
    Posting,
    cell,
    cells_near,
    stable_order,
)
from services.matcher.eligibility import delivery_mask, gender_mask, is_full, is_reported
from services.matcher.evidence import AMBIGUOUS, Evidence, SlotEvidence
from services.matcher.record_store import SlotRecords
from services.matcher.records import MatchRequest, Need, ServiceRecord
from services.matcher.service_batch import BatchReader, reader_for
from services.matcher.slot_ids import SlotIds
from services.matcher.tuning import (
    CELL_LAT,
    CELL_LON,
    GENERATOR_WEIGHT,
    NEARBY_STRONG,
    TRAIT_FIT,
)
from services.matcher.vocabulary import ConceptMatch, Vocabulary

__all__ = ["ServiceTable", "SlotRecords"]

BATCH = 16384  # services read at once when many are added (memory, not speed, sets it)
EXPLAINED_CACHE = 4096  # services whose described concepts are kept for explanations
_PLACE = attrgetter("ward", "lat", "lon", "delivery")


def _return_freed_memory() -> None:
    """Give the batches' freed working memory back to the system: glibc keeps freed blocks
    under 32 MiB for reuse, which after reading a national directory is a few hundred MiB
    the process no longer needs (elsewhere this does nothing)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


@contextlib.contextmanager
def _collector_paused():
    """No cyclic garbage collection while a directory is read: a batch allocates tens of
    thousands of short-lived tuples, each full collection on the way walked every live
    object (a tenth of the build at 100,000 services), and the build makes no cycles to
    collect. Left as it was if the caller had already turned the collector off."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class ServiceTable:
    def __init__(self, vocabulary: Vocabulary, audiences: Audiences | None = None) -> None:
        self.vocabulary = vocabulary
        self.audiences = audiences or Audiences(vocabulary)
        self.records = SlotRecords()
        self._slot_of = SlotIds(lambda slot: self.records.id_at(slot))
        self.columns = Columns()
        self._postings: dict[tuple[str, int], Posting] = {}
        self._cells_of_concept: dict[str, set[int]] = {}
        self.languages = BitNames(64, ("english",))
        self.access = BitNames(32, ("wheelchair", "step_free", "accessible_toilet", "bsl"))
        self._ward_sums: dict[str, list[float]] = {}
        self._explicit_centroids: dict[str, tuple[float, float]] = {}
        self._dead = 0
        self._local = threading.local()
        self._explained: dict[tuple[int, tuple[str, ...]], dict[str, ConceptMatch]] = {}
        self.evidence = SlotEvidence(list(vocabulary.concepts))

    def extend(self, services: Iterable[ServiceRecord]) -> None:
        """Add many services: the same table as upserting them one by one, read in batches
        (``service_batch.py``) so a whole directory builds in seconds."""
        pending, postings = iter(services), []
        with _collector_paused():
            while batch := list(islice(pending, BATCH)):
                postings.append(self._append_batch(batch))
            self._slot_of.settle()
            self._add_postings(postings)
        if len(postings) > 1:
            postings.clear()
            _return_freed_memory()

    def _append_batch(
        self, batch: list[ServiceRecord]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Columns and records for a batch; its posting entries are returned, to be added
        with the other batches' in one pass."""
        reading = reader_for(self.vocabulary).read(batch)
        first = len(self.records)
        append_columns(self, batch, reading)
        self._add_evidence(first, len(batch), reading.evidence, reader_for(self.vocabulary))
        self.records.extend(batch)
        for old in self._slot_of.put_many([service.id for service in batch], first):
            self._kill(old)
        sums = self._ward_sums
        places = list(map(_PLACE, batch))
        for ward, lat, lon, _ in places:
            if ward and lat is not None and lon is not None:
                acc = sums.setdefault(ward.lower(), [0.0, 0.0, 0.0])
                acc[0] += lat
                acc[1] += lon
                acc[2] += 1
        concepts = reader_for(self.vocabulary).concepts
        traits = np.array([self.vocabulary.concepts[c].kind == "trait" for c in concepts])
        scores = reading.scores
        # where each service's journey ends (``_needs_travel``): 0, 0 when it needs none
        ends = [
            (lat, lon) if lat is not None and lon is not None and "in_person" in delivery else None
            for _, lat, lon, delivery in places
        ]
        travels = np.array([end is not None for end in ends], dtype=bool)
        lat = np.array([end[0] if end else 0.0 for end in ends])
        lon = np.array([end[1] if end else 0.0 for end in ends])
        home = (np.floor(lat / CELL_LAT).astype(np.int64) + 2000) * 4000
        home += np.floor(lon / CELL_LON).astype(np.int64) + 2000
        home[~travels] = NO_CELL
        # the scores above 0 by slot, then concept (the evidence's keys, in order), but the
        # traits' (read into the flags column)
        scored = reading.evidence.keys
        rows, columns = np.divmod(scored, len(concepts))
        kept = ~traits[columns]
        rows, columns = rows[kept], columns[kept]
        return (
            (rows + first).astype(np.int32),
            scores[rows, columns].astype(np.float32),
            columns.astype(np.int64) << 32 | (home[rows] - NO_CELL),
        )

    def _add_evidence(self, first: int, m: int, found: BatchEvidence, reader: BatchReader) -> None:
        """A batch's evidence, each distinct (phrases, category) named once."""
        concepts = len(reader.concepts)
        rows = np.column_stack((found.terms, found.category)) + 1  # -1 (none) is 0
        if len(rows) and rows.max() < 1 << 15:
            packed = rows[:, 0] << 45 | rows[:, 1] << 30 | rows[:, 2] << 15 | rows[:, 3]
            _, at, inverse = np.unique(packed, return_index=True, return_inverse=True)
            distinct = rows[at]
        else:
            distinct, inverse = np.unique(rows, axis=0, return_inverse=True)
        phrases, labels = reader.phrases_read, reader.label_names
        numbers = np.array(
            [
                self.evidence.pair(
                    tuple(phrases[t - 1] for t in row[:3] if t),
                    labels[row[3] - 1] if row[3] else None,
                )
                for row in distinct.tolist()
            ],
            dtype=np.uint32,
        )
        pair = numbers[inverse.ravel()] if len(numbers) else np.zeros(0, np.uint32)
        pair[found.ambiguous] = AMBIGUOUS
        column = (found.keys % concepts).astype(np.uint32)
        counts = np.bincount(found.keys // concepts, minlength=m)
        self.evidence.add(first, column << np.uint32(24) | pair, counts)

    def _add_postings(self, pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
        """Append the batches' (slot, fit, concept and cell) entries to the posting lists,
        creating new lists in the order one-by-one upserts would (by their first slot)."""
        if not pieces:
            return
        slots, fits, keys = (np.concatenate(p) for p in zip(*pieces, strict=True))
        if not len(keys):
            return
        # by list, slots in order within each (the concept above each cell's number, packed
        # down to the bits the cells use so the sort can carry positions)
        cells = keys & 0xFFFFFFFF
        shift = max(1, int(cells.max()).bit_length())
        order = stable_order((keys >> 32) << shift | cells)
        slots, fits, keys = slots[order], fits[order], keys[order]
        starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
        ends = np.append(starts[1:], len(keys))
        concepts = reader_for(self.vocabulary).concepts
        for i in np.argsort(slots[starts], kind="stable"):
            start, end = starts[i], ends[i]
            key = (concepts[int(keys[start] >> 32)], int(keys[start] & 0xFFFFFFFF) + NO_CELL)
            posting = self._postings.get(key)
            if posting is None:
                self._postings[key] = Posting.restored(slots[start:end], fits[start:end])
                self._cells_of_concept.setdefault(key[0], set()).add(key[1])
            else:
                posting.extend(slots[start:end], fits[start:end])

    def upsert(self, service: ServiceRecord) -> None:
        concepts = self.describe(service)
        slot = len(self.records)
        self.evidence.append(slot, ((c, m.terms, m.category) for c, m in concepts.items()))
        self._append_columns(service, concepts)
        self.records.append(service)
        old = self._slot_of.put(service.id, slot)
        if old is not None:
            self._kill(old)
        home = cell(service.lat, service.lon) if self._needs_travel(service) else NO_CELL
        for concept_id, match in concepts.items():
            if self.vocabulary.concepts[concept_id].kind == "trait":
                continue  # read into the flags column, not searched for
            posting = self._postings.get((concept_id, home))
            if posting is None:
                posting = self._postings[(concept_id, home)] = Posting()
                self._cells_of_concept.setdefault(concept_id, set()).add(home)
            posting.append(slot, match.score)
        if service.ward and service.lat is not None and service.lon is not None:
            acc = self._ward_sums.setdefault(service.ward.lower(), [0.0, 0.0, 0.0])
            acc[0] += service.lat
            acc[1] += service.lon
            acc[2] += 1

    def remove(self, service_id: str) -> None:
        slot = self._slot_of.pop(service_id)
        if slot is not None:
            self._kill(slot)

    def set_ward_centroids(self, centroids: dict[str, tuple[float, float]]) -> None:
        self._explicit_centroids = {k.lower(): v for k, v in centroids.items()}

    def __len__(self) -> int:
        return len(self._slot_of)

    def get(self, service_id: str) -> ServiceRecord | None:
        slot = self._slot_of.get(service_id)
        return None if slot is None else self.records[slot]

    def describe(
        self, service: ServiceRecord, only: tuple[str, ...] | None = None
    ) -> dict[str, ConceptMatch]:
        return self.vocabulary.describe_service(
            service.name,
            service.description,
            service.categories,
            service.keywords,
            service.organisation_name,
            only,
        )

    def _kill(self, slot: int) -> None:
        flags = self.columns.flags
        flags.data[slot] = int(flags.data[slot]) & ~ALIVE & 0xFFFF
        self.records.clear(slot)
        self._dead += 1

    @property
    def wasteful(self) -> bool:
        """Whether dead slots (replaced or removed services) outnumber the live ones."""
        return self._dead > 1000 and self._dead > len(self._slot_of)

    def compacted(self) -> ServiceTable:
        """A fresh table holding only the live services, in new slots."""
        fresh = ServiceTable(self.vocabulary, self.audiences)
        fresh._explicit_centroids = self._explicit_centroids
        fresh.extend(record for record in self.records if record is not None)
        return fresh

    def _append_columns(self, s: ServiceRecord, concepts: dict[str, ConceptMatch]) -> None:
        c = self.columns
        c.lat.append(np.nan if s.lat is None else s.lat)
        c.lon.append(np.nan if s.lon is None else s.lon)
        c.min_age.append(-1 if s.min_age is None else max(0, min(s.min_age, 32000)))
        c.max_age.append(-1 if s.max_age is None else max(0, min(s.max_age, 32000)))
        c.genders.append(gender_mask(s.genders))
        c.delivery.append(delivery_mask(s.delivery))
        c.languages.append(self.languages.mask(s.languages))
        c.access.append(self.access.mask(s.accessibility))
        traits = 0
        for trait, bit in TRAIT_BITS.items():
            if trait in concepts and concepts[trait].score >= TRAIT_FIT:
                traits |= bit
        if traits & GENTLE:
            traits &= ~VIGOROUS  # "walk, jog or run", "gentle circuits": gentle wins
        state = ALIVE | (FULL if is_full(s) else 0) | (CLOSED if s.temporarily_closed else 0)
        c.flags.append(state | (REPORTED if is_reported(s) else 0) | traits)
        c.confirmed.append(-1 if s.last_confirmed is None else s.last_confirmed.toordinal())
        c.age_group.append(self.audiences.age_group(s))
        c.audience.append(self.audiences.mask(self.audiences.meant_for(concepts)))

    @staticmethod
    def _needs_travel(s: ServiceRecord) -> bool:
        return s.lat is not None and s.lon is not None and "in_person" in s.delivery

    def origin(self, request: MatchRequest) -> tuple[float, float] | None:
        if request.lat is not None and request.lon is not None:
            return (request.lat, request.lon)
        if request.ward:
            key = request.ward.lower()
            if key in self._explicit_centroids:
                return self._explicit_centroids[key]
            acc = self._ward_sums.get(key)
            if acc and acc[2]:
                return (acc[0] / acc[2], acc[1] / acc[2])
        return None

    def candidates(
        self, needs: list[Need], origin: tuple[float, float] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Union of services answering any need (near the person, or remote), with a
        (services x needs) matrix of fit scores."""
        near = cells_near(origin) if origin is not None else None
        per_need: list[tuple[np.ndarray, np.ndarray]] = []
        for need in needs:
            per_need.append(self._postings_for(need.hit.concept, near))
        # Only needs that matter propose candidates; a faint one (exercise implied by high
        # blood pressure) still scores the candidates the others found. A service answering
        # nothing but a faint need would rank below them anyway, and at national scale its
        # posting list is the longest.
        generates = [n.weight >= GENERATOR_WEIGHT for n in needs]
        if not any(generates):
            generates = [True] * len(needs)
        all_slots = [s for (s, _), g in zip(per_need, generates, strict=True) if g]
        if not any(len(s) for s in all_slots):
            return np.zeros(0, dtype=np.int32), np.zeros((0, len(needs)), dtype=np.float32)
        # The union, deduplicated by sorting it: the candidates come out in slot order, so
        # every gather of a column by them reads memory in order. Sorting the int32 slots is
        # four times faster at 100,000 services than marking them in an array by slot and
        # reading the marks back (``flatnonzero`` branches on every mark), twice at 1M.
        # They become platform-sized indices: no gather converts them first.
        union = np.concatenate(all_slots)
        union.sort()
        first = np.empty(len(union), dtype=bool)
        first[:1] = True
        np.not_equal(union[1:], union[:-1], out=first[1:])
        slots = np.compress(first, union).astype(np.intp)  # compress: 20% faster than a mask
        position = self._positions(len(self.records))
        position[slots] = np.arange(len(slots), dtype=np.int32)
        # column-major: every per-need write and every across-needs reduction (best need,
        # sum of needs, best service per need) runs over contiguous memory
        fits = np.zeros((len(slots), len(needs)), dtype=np.float32, order="F")
        for column, (need_slots, need_scores) in enumerate(per_need):
            if not len(need_slots):
                continue
            # a service sits in one cell per concept: no duplicates. ``take`` gathers by the
            # int32 slots without first converting them to indices (30% faster at 1M)
            at = position.take(need_slots)
            if not generates[column]:  # the scratch array holds stale positions elsewhere
                found = (at < len(slots)) & (slots[np.minimum(at, len(slots) - 1)] == need_slots)
                found = np.flatnonzero(found)  # a mixed mask: by index
                at, need_scores = at[found], need_scores[found]
            fits[at, column] = need_scores
        return slots, fits

    def _positions(self, size: int) -> np.ndarray:
        """This thread's scratch array of positions by slot (stale outside the candidates)."""
        positions = getattr(self._local, "positions", None)
        if positions is None or len(positions) < size:
            room = max(size, 1024) * 5 // 4
            positions = self._local.positions = np.zeros(room, np.int32)
        return positions

    def _postings_for(self, concept: str, near: set[int] | None) -> tuple[np.ndarray, np.ndarray]:
        cells = self._cells_of_concept.get(concept, set())
        chosen = cells if near is None else (cells & (near | {NO_CELL}))
        postings = [self._postings[(concept, c)] for c in chosen]
        if near is not None and cells - chosen:
            strong = 0
            for posting in postings:  # counted until there are enough
                strong += posting.strong()
                if strong >= NEARBY_STRONG:
                    break
            if strong < NEARBY_STRONG:  # nothing good nearby: look further afield, not give up
                postings = [self._postings[(concept, c)] for c in cells]
        views = [p.view for p in postings]
        slots = [v[0] for v in views]
        scores = [v[1] for v in views]
        if not slots:
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32)
        return np.concatenate(slots), np.concatenate(scores)

    def explained(
        self, slot: int, concepts: tuple[str, ...]
    ) -> dict[str, ConceptMatch] | dict[str, Evidence]:
        """How a service answers these concepts, with the words that show it (for its
        reasons): kept since it was read (``evidence.py``) or, where that could not be
        settled, read from its text again, scoring only the concepts asked for."""
        if not self.evidence.explained_by_text(slot):
            return self.evidence.of(slot)
        key = (slot, concepts)
        described = self._explained.get(key)
        if described is None:
            if len(self._explained) > EXPLAINED_CACHE:
                self._explained = {}
            record = self.records[slot]
            described = {} if record is None else self.describe(record, concepts)
            self._explained[key] = described
        return described
