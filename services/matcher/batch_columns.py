"""The index's columns for many services at once: what ``ServiceTable._append_columns``
stores for one service, computed for a batch from its records and the concept scores read
for it (``service_batch.py``). ``tests/unit/test_matcher_batch_build.py`` holds the two to
the same columns."""

from __future__ import annotations

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
from services.matcher.eligibility import delivery_mask, gender_mask, is_full, is_reported
from services.matcher.records import ServiceRecord
from services.matcher.service_batch import BatchReading, reader_for
from services.matcher.tuning import LATER_LIFE_MIN_AGE, TRAIT_FIT, YOUNG_MAX_AGE

if TYPE_CHECKING:
    from services.matcher.service_table import ServiceTable

__all__ = ["append_columns"]


def append_columns(table: ServiceTable, batch: list[ServiceRecord], reading: BatchReading) -> None:
    """``ServiceTable._append_columns`` for a batch, from the concept scores read for it."""
    c, n = table.columns, len(batch)
    concepts = reader_for(table.vocabulary).concepts
    scores = reading.scores
    c.lat.extend(np.array([np.nan if s.lat is None else s.lat for s in batch]))
    c.lon.extend(np.array([np.nan if s.lon is None else s.lon for s in batch]))
    for column, name in ((c.min_age, "min_age"), (c.max_age, "max_age")):
        ages = (getattr(s, name) for s in batch)
        column.extend(np.array([-1 if a is None else max(0, min(a, 32000)) for a in ages]))
    c.genders.extend(np.array([gender_mask(s.genders) for s in batch], dtype=np.int64))
    masks: dict[tuple, int] = {}
    for column, labels, mask in (
        (c.delivery, "delivery", delivery_mask),
        (c.languages, "languages", table.languages.mask),
        (c.access, "accessibility", table.access.mask),
    ):
        masks.clear()
        values = []
        for s in batch:
            key = getattr(s, labels)
            value = masks.get(key)
            if value is None:
                value = masks[key] = mask(key)
            values.append(value)
        column.extend(np.array(values, dtype=np.uint64))
    traits = np.zeros(n, dtype=np.int64)
    for trait, bit in TRAIT_BITS.items():
        if trait in concepts:
            traits |= np.where(scores[:, concepts.index(trait)] >= TRAIT_FIT, bit, 0)
    traits[(traits & GENTLE) > 0] &= ~VIGOROUS  # "walk, jog or run", "gentle circuits"
    state = np.array(
        [
            ALIVE
            | (FULL if is_full(s) else 0)
            | (CLOSED if s.temporarily_closed else 0)
            | (REPORTED if is_reported(s) else 0)
            for s in batch
        ],
        dtype=np.int64,
    )
    c.flags.extend(state | traits)
    confirmed = [-1 if s.last_confirmed is None else s.last_confirmed.toordinal() for s in batch]
    c.confirmed.extend(np.array(confirmed))
    older = reading.older_category | np.array(
        [(s.min_age or 0) >= LATER_LIFE_MIN_AGE for s in batch], dtype=bool
    )
    young = reading.young_category | np.array(
        [s.max_age is not None and s.max_age <= YOUNG_MAX_AGE for s in batch], dtype=bool
    )
    c.age_group.extend(np.where(older, OLDER, 0) | np.where(young, YOUNG, 0))
    c.audience.extend(table.audiences.masks(scores, concepts))
