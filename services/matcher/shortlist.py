"""Score exactly only the candidates that can still reach the shortlist (exact pruning).

A ranking's rough score for a candidate is its fit across needs times its soft factors
(``preferences.py``). The fit part needs only the candidate's fit scores; the factors need a
dozen columns gathered and a dozen rules applied, which at national scale is most of a
ranking. The factors other than distance have a known ceiling for each request
(``soft_ceiling``: each factor above 1 times the next), and distance is cheap to compute, so
``fit part x distance factor x ceiling`` bounds a candidate's rough score from above without
reading the other columns. Candidates are scored exactly in order of that bound: first the
block with the highest bounds, which fixes a threshold (the rough score the shortlist's last
member must at least reach), then every other candidate whose bound reaches it. A candidate
left out could not have been shortlisted, so the shortlist, and everything ranked from it, is
what scoring every candidate gives, ties included (``top_indices`` settles them by candidate
order, whatever else is among the values). Below ``PRUNE_FROM`` candidates all are scored.

Whether a need is met by any eligible service (``_unmet``) looks beyond the shortlist: for a
need the exactly scored candidates leave weak, the others that fit it well are checked too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from services.matcher.columns import take_rows
from services.matcher.eligibility import eligible
from services.matcher.preferences import (
    Journey,
    Preferences,
    journeys,
    soft_ceiling,
    soft_factors,
)
from services.matcher.records import MatchRequest, Need
from services.matcher.service_table import ServiceTable
from services.matcher.tuning import (
    ADAPTED_BOOST,
    CAUSE_CONFIDENCE,
    LANGUAGE_CONCEPTS,
    NEED_DECAY,
    SAME_LANGUAGE_FIT,
    STRONG_FIT,
    UNMET_CONFIDENCE,
    UNMET_THRESHOLD,
)
from services.matcher.vocabulary import Vocabulary

__all__ = ["PRUNE_FROM", "Scored", "Scoring", "adapted_columns", "adapted_lift", "reportable"]

# Fewer candidates than this are all scored: at ~8,000 (100,000 services) the bound cost more
# than it saved (+13%); at ~80,000 (1,000,000 services) pruning took 17-29% off a ranking.
PRUNE_FROM = 16384
FIRST_SHARE = 2  # the first block: about this many times the shortlist, by bound
SAMPLE = 512  # bounds read to size the first block
MARGIN = 1.001  # float32 rounding may put a rough score a few ulps above its exact bound


def adapted_lift(fits: np.ndarray, facts: list[int], wants: list[int]) -> np.ndarray | None:
    """A lift for services answering both a fact about the person (a wheelchair user, the
    ``facts`` columns) and what they want (sport, ``wants``): an adapted version."""
    if not facts or not wants or not len(fits):
        return None
    both = (fits[:, facts].max(axis=1) >= STRONG_FIT) & (fits[:, wants].max(axis=1) >= STRONG_FIT)
    return np.where(both, ADAPTED_BOOST, 1.0).astype(np.float32)


def adapted_columns(vocabulary: Vocabulary, needs: list[Need]) -> tuple[list[int], list[int]]:
    """The needs that are a fact about the person (a wheelchair user) and those that say
    what they want (sport): a service answering both is an adapted version, lifted."""
    concepts = vocabulary.concepts
    facts = [c for c, n in enumerate(needs) if n.direct and concepts[n.hit.concept].access_fact]
    wants = [
        c
        for c, n in enumerate(needs)
        if n.direct
        and n.hit.confidence >= CAUSE_CONFIDENCE
        and concepts[n.hit.concept].kind in ("need", "interest")
        and not concepts[n.hit.concept].access_fact
    ]
    return facts, wants


def reportable(vocabulary: Vocabulary, needs: list[Need]) -> list[int]:
    """The needs reported unmet when no eligible service fits them well: those stated
    surely and directly, about what the person wants."""
    concepts = vocabulary.concepts
    return [
        column
        for column, need in enumerate(needs)
        if need.direct
        and need.hit.confidence >= UNMET_CONFIDENCE
        and not need.hit.circumstance
        and concepts[need.hit.concept].kind in ("need", "interest")
    ]


@dataclass(slots=True)
class Scored:
    """Eligible candidates scored exactly, in candidate order."""

    slots: np.ndarray
    fits: np.ndarray  # services x needs, column-major, language needs raised for speakers
    multiplier: np.ndarray  # soft factors times the adapted lift
    distance: np.ndarray
    rough: np.ndarray
    at: np.ndarray  # each one's position among the candidates

    def __len__(self) -> int:
        return len(self.slots)


@dataclass(slots=True)
class Scoring:
    """What scoring a candidate reads from the request, the table and the needs."""

    cols: dict[str, np.ndarray]
    table: ServiceTable
    request: MatchRequest
    prefs: Preferences
    origin: tuple[float, float] | None
    weights: np.ndarray  # float32, one per need
    language: list[int]  # needs a group in the person's own language answers too
    facts: list[int]
    wants: list[int]
    reportable: list[int]  # needs whose best fit decides whether they are reported unmet

    @classmethod
    def of(
        cls,
        vocabulary: Vocabulary,
        cols: dict[str, np.ndarray],
        table: ServiceTable,
        request: MatchRequest,
        prefs: Preferences,
        origin: tuple[float, float] | None,
        needs: list[Need],
    ) -> Scoring:
        weights = np.array([n.weight for n in needs], dtype=np.float32)
        language = [c for c, n in enumerate(needs) if n.hit.concept in LANGUAGE_CONCEPTS]
        facts, wants = adapted_columns(vocabulary, needs)
        return cls(
            cols,
            table,
            request,
            prefs,
            origin,
            weights,
            language,
            facts,
            wants,
            reportable(vocabulary, needs),
        )

    def score(
        self,
        slots: np.ndarray,
        fits: np.ndarray,
        at: np.ndarray,
        journey: Journey | None = None,
    ) -> Scored:
        """The rough score of each eligible candidate, by the ranking's own rules."""
        keep = np.flatnonzero(eligible(self.cols, slots, self.request))
        slots, fits, at = slots[keep], take_rows(fits, keep), at[keep]
        if journey is not None:
            journey = _take(journey, keep)
        table = self.table
        multiplier, distance, speaks = soft_factors(
            self.cols,
            slots,
            self.request,
            self.prefs,
            self.origin,
            table.languages,
            table.access,
            journey=journey,
        )
        for column in self.language:
            fits[:, column] = np.maximum(fits[:, column], SAME_LANGUAGE_FIT * speaks)
        adapted = adapted_lift(fits, self.facts, self.wants)
        if adapted is not None:
            multiplier *= adapted
        weighted = fits * self.weights
        best = weighted.max(axis=1) if len(weighted) else np.zeros(0, dtype=np.float32)
        rough = (best + NEED_DECAY[1] * (weighted.sum(axis=1) - best)) * multiplier
        return Scored(slots, fits, multiplier, distance, rough, at)

    def _block(
        self, slots: np.ndarray, fits: np.ndarray, at: np.ndarray, journey: Journey | None
    ) -> Scored:
        """Candidates ``at`` scored; ``journey``, when given, is theirs already."""
        return self.score(slots[at], take_rows(fits, at), at, journey)

    def ceiling(self) -> float:
        """The largest multiplier any candidate can have."""
        table = self.table
        ceiling = soft_ceiling(
            self.cols, self.request, self.prefs, self.origin, table.languages, table.access
        )
        return ceiling * (ADAPTED_BOOST if self.facts and self.wants else 1.0)

    def upper_fits(self, fits: np.ndarray) -> np.ndarray:
        """Fits no lower than the exact ones (a language need may be met by a speaker)."""
        if not self.language or not _speaks_other(self.request):
            return fits
        raised = fits.copy(order="F")
        for column in self.language:
            np.maximum(raised[:, column], SAME_LANGUAGE_FIT, out=raised[:, column])
        return raised

    def shortlist(self, slots: np.ndarray, fits: np.ndarray, k: int) -> tuple[Scored, np.ndarray]:
        """The eligible candidates that can be among the ``k`` best rough scores, scored
        exactly (with perhaps a few more), and each need's best fit among all eligible
        candidates, exact for the ``reportable`` needs where it decides whether they are met
        (at least ``UNMET_THRESHOLD``)."""
        n = len(slots)
        if n <= PRUNE_FROM or (self.weights < 0).any():
            scored = self.score(slots, fits, np.arange(n))
            return scored, _best_fits(scored, fits.shape[1])
        upper = self.upper_fits(fits)
        weighted = upper * self.weights
        best = weighted.max(axis=1)
        # (best + decay x (sum - best)) x ceiling, in place: the same float32 operations
        bound = weighted.sum(axis=1)
        bound -= best
        bound *= NEED_DECAY[1]
        bound += best
        bound *= self.ceiling() * MARGIN
        done = np.zeros(n, dtype=bool)
        scored: Scored | None = None
        share = FIRST_SHARE
        while scored is None or len(scored) < k:  # blocks by bound until k are eligible
            bar = _about_kth(bound, share * k) if share * k < n else -np.inf
            block = np.flatnonzero(~done & (bound >= bar))
            done[block] = True
            piece = self._block(slots, fits, block, None)
            scored = piece if scored is None else _merged(scored, piece)
            if bar == -np.inf:
                break
            share *= 4
        threshold = -np.inf
        if len(scored) >= k:
            threshold = float(-np.partition(-scored.rough, k - 1)[k - 1])
            if np.isnan(threshold):
                threshold = -np.inf
        rest = np.flatnonzero(~done & (bound >= threshold))
        journey = None
        if len(rest) and self.origin is not None:
            # distance, the factor that varies most, tightens the bound of those left
            journey = journeys(self.cols, slots[rest], self.origin)
            near = np.flatnonzero(~(bound[rest] * journey[2] < threshold))  # nan: kept
            rest, journey = rest[near], _take(journey, near)
        if len(rest):
            done[rest] = True
            scored = _merged(scored, self._block(slots, fits, rest, journey))
        best_fits = _best_fits(scored, fits.shape[1])
        for column in self.reportable:
            if best_fits[column] < UNMET_THRESHOLD:  # met by a candidate left out?
                best_fits[column] = self._best_left_out(slots, fits, upper, done, column)
        return scored, best_fits

    def _best_left_out(
        self, slots: np.ndarray, fits: np.ndarray, upper: np.ndarray, done: np.ndarray, column: int
    ) -> float:
        """The best fit to one need among the eligible candidates not scored, where that is
        at least ``UNMET_THRESHOLD`` (below it, 0: what matters is that it is not reached)."""
        others = np.flatnonzero(~done & (upper[:, column] >= UNMET_THRESHOLD))
        if column in self.language:  # a speaker of the person's language fits it too
            scored = self.score(slots[others], fits[others], others)
            return float(scored.fits[:, column].max()) if len(scored) else 0.0
        keep = eligible(self.cols, slots[others], self.request)
        return float(fits[others[keep], column].max()) if keep.any() else 0.0


def _take(journey: Journey, rows: np.ndarray) -> Journey:
    remote, travels, factor, distance = journey
    return remote[rows], travels[rows], None if factor is None else factor[rows], distance[rows]


def _about_kth(values: np.ndarray, k: int) -> float:
    """Roughly the k-th largest value, read from a sample (it only sizes the first block)."""
    step = max(1, len(values) // SAMPLE)
    sample = values[::step]
    rank = min(len(sample) - 1, k // step)
    return float(-np.partition(-sample, rank)[rank])


def _speaks_other(request: MatchRequest) -> bool:
    return bool({lang.lower() for lang in request.languages} - {"english"})


def _best_fits(scored: Scored, needs: int) -> np.ndarray:
    if not len(scored):
        return np.zeros(needs, dtype=np.float32)
    return scored.fits.max(axis=0)


def _merged(a: Scored, b: Scored) -> Scored:
    """Two blocks as one, back in candidate order (ties are settled by that order)."""
    at = np.concatenate((a.at, b.at))
    order = np.argsort(at, kind="stable")
    # the fits joined and reordered as their transposes (row-major): column-major without
    # the copy ``asfortranarray`` made of a row-major gather
    fits = np.concatenate((a.fits.T, b.fits.T), axis=1).take(order, axis=1).T
    return Scored(
        np.concatenate((a.slots, b.slots)).take(order),
        fits,
        np.concatenate((a.multiplier, b.multiplier)).take(order),
        np.concatenate((a.distance, b.distance)).take(order),
        np.concatenate((a.rough, b.rough)).take(order),
        at.take(order),
    )
