"""The greedy pick that turns a ranking's shortlist into its proposals: a mix across needs
(each pick weighed by what every need still lacks), services with places before those on a
waiting list, each pick's gain its score."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from services.matcher.columns import FULL, combine
from services.matcher.preferences import Preferences, schedule_fit
from services.matcher.records import Need
from services.matcher.service_table import ServiceTable
from services.matcher.tuning import COVERAGE, MIN_PROPOSAL_FIT

__all__ = ["Pick", "greedy_pick"]


@dataclass(frozen=True, slots=True)
class Pick:
    index: int  # row in the shortlist
    relevance: float
    gain: float
    schedule: float
    waiting: bool


def greedy_pick(
    table: ServiceTable,
    needs: list[Need],
    prefs: Preferences,
    slots: np.ndarray,
    fits: np.ndarray,
    multiplier: np.ndarray,
    flags: np.ndarray,
    top: int,
) -> list[Pick]:
    """Greedy pick that keeps serving needs not yet covered (xQuAD-style residuals).

    Each pick's gain (what it adds to the proposals before it) is its score, so the
    scores shown follow the order; services on a waiting list come after the rest."""
    weights = np.array([n.weight for n in needs], dtype=np.float32)
    schedule_bonus = np.ones(len(slots), dtype=np.float32)
    if prefs.schedule_words:  # records are read only when the person said when suits
        schedule_bonus[:] = [schedule_fit(table.records[int(s)], prefs) for s in slots]
    gain_base = fits * weights
    # how surely each need was stated; a circumstance makes no service usable on its own
    sure = np.array([0.0 if n.circumstance else min(1.0, n.hit.confidence) for n in needs])
    quality = (fits * sure).max(axis=1) * multiplier * schedule_bonus
    usable = quality >= MIN_PROPOSAL_FIT
    full = (flags & FULL) > 0
    # relevance in units of the strongest need: 1.0 answers it fully
    scale = float(weights.max()) if len(weights) and weights.max() > 0 else 1.0
    covered = 1.0 - COVERAGE * fits  # what a pick leaves of each need, row by row
    chosen: list[Pick] = []
    for waiting in (False, True):
        residual = np.ones(len(needs), dtype=np.float32)
        # only the rows in the pool are ranked: each row's relevance is its own
        rows = np.flatnonzero(usable & (full == waiting))
        base, factor = gain_base[rows], multiplier[rows]
        bonus = schedule_bonus[rows] if prefs.schedule_words else None  # else all 1
        left = np.ones(len(rows), dtype=bool)
        for _ in range(min(top - len(chosen), len(rows))):
            relevance = combine(base * residual)
            gains = relevance * factor
            if bonus is not None:
                gains *= bonus
            at = int(np.argmax(np.where(left, gains, -1.0)))
            pick = int(rows[at])
            chosen.append(
                Pick(
                    pick,
                    float(relevance[at]) / scale,
                    float(gains[at]) / scale,
                    float(schedule_bonus[pick]),
                    waiting,
                )
            )
            left[at] = False
            residual *= covered[pick]
    return chosen
