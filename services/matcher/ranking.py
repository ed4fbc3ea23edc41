"""Rank community services against a referral's needs: pure domain code, no I/O.

How a ranking is made, in the order a link worker would reason (each step's room):
1. ``Vocabulary.extract`` turns the free text into needs (concepts with the phrase that
   expressed them); structured ``need_categories`` add needs of their own (``needs.py``
   weighs them, once per distinct text).
2. Hard constraints (``eligibility.py``) remove services the person cannot use. They are
   never traded off against relevance.
3. Each service's fit to each need comes from the inverted index built at ``upsert`` time
   (``columns.py``: concept -> services with a fit score, split by ~30 km grid cell so a
   query only touches services near the person plus those delivered remotely).
4. Soft preferences (``preferences.py``: distance, language, accessibility, delivery the
   person manages, stale or closed entries, schedule, age groups) scale the fit up or down;
   a service meant for a group the person is outside of (``audiences.py``: a carers' cafe for
   someone who is not a carer) is held back.
5. A greedy pick serves every need in turn (a mix, not five services for one need), weighted
   by how strongly and how early each need was stated, so the main need can take a second
   slot before a passing mention takes one; services at zero capacity follow the available
   ones, flagged ``waiting_list`` (``picking.py``). Each pick's gain is its score, taken
   apart in its breakdown, with reasons in words (``reasons.py``, quoting the evidence
   ``evidence.py`` kept). Weights live in ``tuning.py``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable

import numpy as np

from services.matcher.columns import (
    ALL_TRAITS,
    combine,
    top_indices,
)
from services.matcher.directory_entries import service_from_directory, ward_centroids
from services.matcher.eligibility import (
    delivery_allowed,
    eligibility_problem,
    is_stale,
    referral_route_note,
)
from services.matcher.needs import read_needs
from services.matcher.picking import Pick, greedy_pick
from services.matcher.preferences import Preferences, soft_factors
from services.matcher.reasons import fit_reasons, need_reason
from services.matcher.records import (
    BREAKDOWN_FACTORS,
    DELIVERY_MODES,
    ExtractedNeed,
    MatchRequest,
    Need,
    Proposal,
    RankResult,
    ServiceRecord,
)
from services.matcher.service_table import ServiceTable
from services.matcher.shortlist import Scoring, adapted_columns, adapted_lift
from services.matcher.tuning import (
    REASON_FIT,
    SHORTLIST,
    UNMET_THRESHOLD,
)
from services.matcher.vocabulary import Fragment, Vocabulary

__all__ = [  # the records and rules are re-exported: callers import them from here
    "DELIVERY_MODES",
    "ExtractedNeed",
    "MatchIndex",
    "MatchRequest",
    "Proposal",
    "RankResult",
    "ServiceRecord",
    "delivery_allowed",
    "eligibility_problem",
    "is_stale",
    "referral_route_note",
    "service_from_directory",
    "ward_centroids",
]


class MatchIndex:
    """The directory replica the matcher ranks against.

    Writers (``upsert``/``remove``) serialise on a lock and only ever append to the table,
    swapping in grown arrays whole; compaction builds a new table and swaps it in with one
    assignment. A reader (``rank``) takes the current table once and snapshots its sizes,
    so ranking from several threads while directory events arrive needs no lock."""

    def __init__(self, vocabulary: Vocabulary, services: Iterable[ServiceRecord] = ()) -> None:
        """``vocabulary`` is loaded by the caller (``Vocabulary.load_default()`` reads files),
        so building an index does no I/O of its own."""
        self.vocabulary = vocabulary
        self._lock = threading.Lock()
        self._table = ServiceTable(vocabulary)
        self._table.extend(services)

    # -- writes --

    def upsert(self, service: ServiceRecord) -> None:
        with self._lock:
            self._table.upsert(service)
            if self._table.wasteful:
                self._table = self._table.compacted()

    def upsert_many(self, services: Iterable[ServiceRecord]) -> None:
        """Upsert many services at once (a start-up refresh): read in batches, not one by one."""
        with self._lock:
            self._table.extend(services)
            if self._table.wasteful:
                self._table = self._table.compacted()

    def remove(self, service_id: str) -> None:
        with self._lock:
            self._table.remove(service_id)

    def set_ward_centroids(self, centroids: dict[str, tuple[float, float]]) -> None:
        self._table.set_ward_centroids(centroids)

    def __len__(self) -> int:
        return len(self._table)

    def get(self, service_id: str) -> ServiceRecord | None:
        return self._table.get(service_id)

    @property
    def table(self) -> ServiceTable:
        """The stored directory as it is now (for saving a snapshot of it)."""
        return self._table

    def replace_table(self, table: ServiceTable) -> None:
        """Serve from ``table`` (one restored from a snapshot) from the next ranking on."""
        with self._lock:
            self._table = table

    # -- reads --

    def rank(self, request: MatchRequest, top: int = 5) -> RankResult:
        table = self._table  # one table throughout, even if a compaction swaps in another
        reading = read_needs(self.vocabulary, request.needs_text, tuple(request.need_categories))
        needs, scored = list(reading.needs), list(reading.scored)
        extracted, fragments = reading.extracted, reading.fragments
        prefs = Preferences.from_needs(self.vocabulary, needs, request.age)
        origin = table.origin(request)
        unrecognised = tuple(f.text for f in fragments)
        if not scored:
            return RankResult((), extracted, _unmet_unrecognised((), fragments, True), unrecognised)
        slots, fits = table.candidates(scored, origin)
        cols = table.columns.arrays(len(table.records))
        scoring = Scoring.of(self.vocabulary, cols, table, request, prefs, origin, scored)
        # only the candidates that can reach the rough shortlist are scored (shortlist.py)
        found, best_fits = scoring.shortlist(slots, fits, 4 * SHORTLIST)
        slots, fits = found.slots, found.fits
        multiplier, distance = found.multiplier, found.distance
        unmet = self._unmet(scored, scoring.reportable, best_fits)
        rough = found.rough
        rough_order = top_indices(rough, 4 * SHORTLIST)  # an upper bound, then the exact sum
        # who a service is meant for can only lower the rough bound (or nudge it by a tenth),
        # so it is applied to the rough shortlist rather than to every candidate
        audience: dict[str, np.ndarray] = {}  # its factors, kept for the breakdowns
        shortlisted = multiplier[rough_order] * table.audiences.group_fit(
            cols, slots[rough_order], request, needs, audience
        )
        relevance = combine(fits[rough_order] * scoring.weights) * shortlisted
        best = top_indices(relevance, SHORTLIST)
        order = rough_order[best]
        picks = greedy_pick(
            table,
            scored,
            prefs,
            slots[order],
            fits[order],
            shortlisted[best],
            cols["flags"][slots[order]],
            top,
        )
        proposals = self._proposals(
            table,
            request,
            scored,
            needs,
            prefs,
            cols,
            origin,
            slots[order],
            fits[order],
            distance[order],
            {name: values[best] for name, values in audience.items()},
            picks,
        )
        unmet_needs = _unmet_unrecognised(tuple(unmet), fragments, not proposals)
        return RankResult(tuple(proposals), extracted, unmet_needs, unrecognised)

    def _unmet(self, needs: list[Need], reportable: list[int], best: np.ndarray) -> list[str]:
        """``best``: each need's best fit among the eligible candidates."""
        unmet: list[str] = []
        for column in reportable:
            phrase = needs[column].hit.phrase
            if best[column] < UNMET_THRESHOLD and phrase not in unmet:
                unmet.append(phrase)
        return unmet

    def _proposals(
        self,
        table: ServiceTable,
        request: MatchRequest,
        scored: list[Need],
        needs: list[Need],
        prefs: Preferences,
        cols: dict[str, np.ndarray],
        origin: tuple[float, float] | None,
        slots: np.ndarray,
        fits: np.ndarray,
        distance: np.ndarray,
        audience: dict[str, np.ndarray],
        picks: list[Pick],
    ) -> list[Proposal]:
        """The picks as proposals, each with its score taken apart: the relevance it adds
        (from the fit to each need) times each soft factor, recomputed for these few
        services by the same code that ranked them (``audience``: who each service is meant
        for, computed when it was shortlisted)."""
        if not picks:
            return []
        rows = np.array([p.index for p in picks])
        chosen = slots[rows]
        parts: dict[str, np.ndarray] = {}
        soft_factors(cols, chosen, request, prefs, origin, table.languages, table.access, parts)
        parts.update((name, values[rows]) for name, values in audience.items())
        picked = fits[rows]
        adapted = adapted_lift(picked, *adapted_columns(self.vocabulary, scored))
        if adapted is not None and (adapted != 1.0).any():
            parts["adapted"] = adapted
        weights = np.array([n.weight for n in scored], dtype=np.float32)
        mains = np.argmax(picked * weights, axis=1).tolist()
        need_weights = np.array([n.weight for n in scored])  # float64, as the reasons' order
        orders = np.argsort(-picked * need_weights, axis=1).tolist()
        concepts = tuple(n.hit.concept for n in scored)
        fit_names = [f"fit: {concept}" for concept in concepts]
        factors = [(name, values.tolist()) for name, values in parts.items()]
        distances = distance[rows].tolist()
        out = []
        previous = math.inf
        for row, (pick, row_fits) in enumerate(zip(picks, picked.tolist(), strict=True)):
            slot = int(chosen[row])
            record = table.records[slot]
            if record is None:
                continue
            score, capacity = pick.gain, 1.0
            if score > previous:  # a waiting list starts afresh, but follows every place
                capacity, score = previous / score, previous
            previous = score
            breakdown = {
                name: fit for name, fit in zip(fit_names, row_fits, strict=True) if fit > 0
            }
            breakdown["relevance"] = pick.relevance
            breakdown.update(dict.fromkeys(BREAKDOWN_FACTORS, 1.0))
            breakdown.update({name: v for name, values in factors if (v := values[row]) != 1.0})
            breakdown["schedule"] = pick.schedule
            breakdown["capacity"] = capacity
            out.append(
                self._proposal(
                    table,
                    slot,
                    record,
                    request,
                    scored,
                    concepts,
                    prefs,
                    row_fits,
                    orders[row],
                    mains[row],
                    score,
                    {k: round(v, 4) for k, v in breakdown.items()},
                    distances[row],
                    pick.waiting,
                )
            )
        return out

    def _proposal(
        self,
        table: ServiceTable,
        slot: int,
        record: ServiceRecord,
        request: MatchRequest,
        needs: list[Need],
        concepts: tuple[str, ...],
        prefs: Preferences,
        fits: list[float],
        order: list[int],
        main: int,
        score: float,
        breakdown: dict[str, float],
        distance: float,
        waiting: bool,
    ) -> Proposal:
        """``order``: the needs by weighted fit, best first; ``main``: the need it answers."""
        described = None  # the service's words are read only when a need is explained
        reasons = []
        for column in order:
            need = needs[column]
            if fits[column] < REASON_FIT or (len(reasons) >= 2 and column != main):
                continue
            if described is None:
                described = table.explained(slot, concepts)
            reasons.append(need_reason(self.vocabulary, need, described.get(need.hit.concept)))
        traits = int(table.columns.flags.data[slot]) & ALL_TRAITS
        schedule_bonus = breakdown.get("schedule", 1.0)
        reasons.extend(fit_reasons(record, request, prefs, distance, schedule_bonus, traits))
        outside = table.audiences.outside(int(table.columns.audience.data[slot]), request, needs)
        if outside:
            reasons.append("soft mismatch: meant for " + ", ".join(outside) + ": ranked lower")
        need = needs[main]
        return Proposal(
            service_id=record.id,
            service_name=record.name,
            score=round(score, 4),
            need=need.hit.phrase,
            concept=need.hit.concept,
            reasons=tuple(reasons),
            waiting_list=waiting,
            distance_km=None if math.isnan(distance) else round(distance, 1),
            breakdown=breakdown,
        )


def _unmet_unrecognised(
    unmet: tuple[str, ...], fragments: Iterable[Fragment], nothing_proposed: bool
) -> tuple[str, ...]:
    """Unmet needs, honestly: a need asked for in words the vocabulary does not know
    ("needs transport to hospital") is one no service was found for, and when nothing at
    all is proposed every unrecognised stretch is reported rather than silence."""
    extra = [f.text for f in fragments if f.requested or nothing_proposed]
    return tuple(dict.fromkeys((*unmet, *extra)))
