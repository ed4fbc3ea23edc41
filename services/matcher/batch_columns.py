"""The index's columns for many services at once: what ``ServiceTable._append_columns``
stores for one service, computed for a batch from its records and the concept scores read
for it (``service_batch.py``). ``tests/unit/test_matcher_batch_build.py`` holds the two to
the same columns."""

from __future__ import annotations

from operator import attrgetter
from typing import TYPE_CHECKING

import numpy as np

from services.matcher.columns import (
    ALIVE,
    CLOSED,
    FULL,
    GENTLE,
    OLDER,
    REPORTED,
    TRAIT_BITS,
    VIGOROUS,
    YOUNG,
)
from services.matcher.eligibility import delivery_mask, gender_mask
from services.matcher.records import ServiceRecord
from services.matcher.service_batch import BatchReading, reader_for
from services.matcher.tuning import (
    LATER_LIFE_MIN_AGE,
    REPORTS_TO_DEMOTE,
    TRAIT_FIT,
    YOUNG_MAX_AGE,
)

_FIELDS = attrgetter(
    "lat",
    "lon",
    "min_age",
    "max_age",
    "genders",
    "delivery",
    "languages",
    "accessibility",
    "places_free",
    "capacity_per_week",
    "temporarily_closed",
    "open_reports",
    "last_confirmed",
)

if TYPE_CHECKING:
    from services.matcher.service_table import ServiceTable

__all__ = ["append_columns"]


def append_columns(table: ServiceTable, batch: list[ServiceRecord], reading: BatchReading) -> None:
    """``ServiceTable._append_columns`` for a batch, from the concept scores read for it."""
    c, n = table.columns, len(batch)
    concepts = reader_for(table.vocabulary).concepts
    scores = reading.scores
    (lat, lon, min_age, max_age, genders, delivery, languages, access, free, capacity,
     closed, reports, confirmed) = zip(*map(_FIELDS, batch), strict=True)  # fmt: skip
    c.lat.extend(np.array([np.nan if x is None else x for x in lat]))
    c.lon.extend(np.array([np.nan if x is None else x for x in lon]))
    c.min_age.extend(np.array([-1 if a is None else max(0, min(a, 32000)) for a in min_age]))
    c.max_age.extend(np.array([-1 if a is None else max(0, min(a, 32000)) for a in max_age]))
    # labels come from short controlled lists: each distinct tuple is read once
    for column, values, mask in (
        (c.genders, genders, gender_mask),
        (c.delivery, delivery, delivery_mask),
        (c.languages, languages, table.languages.mask),
        (c.access, access, table.access.mask),
    ):
        masks: dict[tuple | None, int] = {}
        for key in values:
            if key not in masks:
                masks[key] = mask(key)
        column.extend(np.array(list(map(masks.__getitem__, values)), dtype=np.uint64))
    traits = np.zeros(n, dtype=np.int64)
    for trait, bit in TRAIT_BITS.items():
        if trait in concepts:
            traits |= np.where(scores[:, concepts.index(trait)] >= TRAIT_FIT, bit, 0)
    traits[(traits & GENTLE) > 0] &= ~VIGOROUS  # "walk, jog or run", "gentle circuits"
    places = [f if f is not None else cap for f, cap in zip(free, capacity, strict=True)]
    state = np.full(n, ALIVE, dtype=np.int64)
    state[[p is not None and p <= 0 for p in places]] |= FULL
    state[np.array(closed, dtype=bool)] |= CLOSED
    state[np.array(reports, dtype=np.int64) >= REPORTS_TO_DEMOTE] |= REPORTED
    c.flags.extend(state | traits)
    days: dict[object, int] = {None: -1}
    for day in confirmed:
        if day not in days:
            days[day] = day.toordinal()
    c.confirmed.extend(np.array(list(map(days.__getitem__, confirmed))))
    older = reading.older_category | np.array(
        [(a or 0) >= LATER_LIFE_MIN_AGE for a in min_age], dtype=bool
    )
    young = reading.young_category | np.array(
        [a is not None and a <= YOUNG_MAX_AGE for a in max_age], dtype=bool
    )
    c.age_group.extend(np.where(older, OLDER, 0) | np.where(young, YOUNG, 0))
    c.audience.extend(table.audiences.masks(scores, concepts))
