"""The index's storage: append-only numpy columns (one value per slot), posting lists of
(slot, fit) per concept and grid cell, stable bit numbers for open-ended labels, and the
small vector helpers the ranking shares."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from services.matcher.tuning import CELL_LAT, CELL_LON, NEED_DECAY, STRONG_FIT

__all__ = [
    "ALIVE",
    "ALL_TRAITS",
    "CLOSED",
    "FULL",
    "GENTLE",
    "NO_CELL",
    "OLDER",
    "REPORTED",
    "TALKING",
    "THERAPY",
    "TRAIT_BITS",
    "VIGOROUS",
    "YOUNG",
    "BitNames",
    "Columns",
    "Growable",
    "Posting",
    "cell",
    "cells_near",
    "combine",
    "scale",
    "take_rows",
    "top_indices",
]

# flags column bits: the entry's state, then the traits read from its text
FULL, CLOSED, ALIVE, VIGOROUS, GENTLE, TALKING, THERAPY = 1, 2, 4, 8, 16, 32, 64
REPORTED = 128  # several people say the entry is out of date or the service closed
BUSY, QUIET = 256, 512  # a busy, noisy setting; a small, quiet one
TRAIT_BITS = {
    "vigorous": VIGOROUS,
    "gentle": GENTLE,
    "talking": TALKING,
    "therapy": THERAPY,
    "busy": BUSY,
    "quiet": QUIET,
}
ALL_TRAITS = VIGOROUS | GENTLE | TALKING | THERAPY | BUSY | QUIET
OLDER, YOUNG = 1, 2  # age_group column bits
NO_CELL = -1  # services that need no journey, searched from everywhere


class Growable:
    """An append-only numpy column that doubles when full; readers slice a snapshot."""

    __slots__ = ("data", "size")

    def __init__(self, dtype: str, fill: float = 0) -> None:
        self.data = np.full(16, fill, dtype=dtype)
        self.size = 0

    @classmethod
    def restored(cls, values: np.ndarray) -> Growable:
        """A column over saved values (a memory map is fine: the first append copies)."""
        column = cls.__new__(cls)
        column.data, column.size = values, len(values)
        return column

    def append(self, value: float) -> None:
        if self.size == len(self.data):
            bigger = np.empty(max(16, len(self.data) * 2), dtype=self.data.dtype)
            bigger[: self.size] = self.data
            self.data = bigger
        self.data[self.size] = value
        self.size += 1

    def extend(self, values: np.ndarray) -> None:
        """Append many values at once (cast to the column's type as ``append`` casts)."""
        end = self.size + len(values)
        if end > len(self.data):
            capacity = max(16, len(self.data))
            while capacity < end:
                capacity *= 2
            bigger = np.empty(capacity, dtype=self.data.dtype)
            bigger[: self.size] = self.data[: self.size]
            self.data = bigger
        self.data[self.size : end] = values
        self.size = end


class Posting:
    """Services answering one concept in one grid cell, with their fit scores."""

    __slots__ = ("_strong", "scores", "slots", "view")

    def __init__(self) -> None:
        self.slots = Growable("int32")
        self.scores = Growable("float32")
        self.view: tuple[np.ndarray, np.ndarray] = (self.slots.data[:0], self.scores.data[:0])
        self._strong = (0, 0)

    @classmethod
    def restored(cls, slots: np.ndarray, scores: np.ndarray) -> Posting:
        posting = cls.__new__(cls)
        posting.slots, posting.scores = Growable.restored(slots), Growable.restored(scores)
        posting.view = (slots, scores)
        posting._strong = (0, 0)
        return posting

    def strong(self) -> int:
        """How many of its services fit at least ``STRONG_FIT``, counted once per entry (the
        list only grows, so only entries added since the last count are looked at)."""
        counted, strong = self._strong
        scores = self.view[1]
        if counted < len(scores):
            strong += int(np.count_nonzero(scores[counted:] >= STRONG_FIT))
            self._strong = (len(scores), strong)
        return strong

    def append(self, slot: int, score: float) -> None:
        self.slots.append(slot)
        self.scores.append(score)
        n = self.slots.size
        self.view = (self.slots.data[:n], self.scores.data[:n])

    def extend(self, slots: np.ndarray, scores: np.ndarray) -> None:
        self.slots.extend(slots)
        self.scores.extend(scores)
        n = self.slots.size
        self.view = (self.slots.data[:n], self.scores.data[:n])


@dataclass(slots=True)
class Columns:
    """Per-slot attributes used by the vectorised filters, one numpy array each."""

    lat: Growable = field(default_factory=lambda: Growable("float32", np.nan))
    lon: Growable = field(default_factory=lambda: Growable("float32", np.nan))
    min_age: Growable = field(default_factory=lambda: Growable("int16"))
    max_age: Growable = field(default_factory=lambda: Growable("int16"))
    genders: Growable = field(default_factory=lambda: Growable("uint8"))
    delivery: Growable = field(default_factory=lambda: Growable("uint8"))
    languages: Growable = field(default_factory=lambda: Growable("uint64"))
    access: Growable = field(default_factory=lambda: Growable("uint32"))
    flags: Growable = field(
        default_factory=lambda: Growable("uint16")
    )  # 1 full 2 closed 4 alive 128 reported, traits 8..64 and 256, 512
    confirmed: Growable = field(default_factory=lambda: Growable("int32"))
    age_group: Growable = field(default_factory=lambda: Growable("uint8"))
    audience: Growable = field(default_factory=lambda: Growable("uint64"))

    def arrays(self, n: int) -> dict[str, np.ndarray]:
        return {name: getattr(self, name).data[:n] for name in self.__dataclass_fields__}


class BitNames:
    """Stable bit numbers for open-ended labels (languages, accessibility features)."""

    def __init__(self, limit: int, preset: Iterable[str] = ()) -> None:
        self.limit = limit
        self.bits: dict[str, int] = {}
        for name in preset:
            self.bit(name)

    def bit(self, name: str) -> int:
        key = name.strip().lower().replace(" ", "_").replace("-", "_")
        if key not in self.bits:
            self.bits[key] = min(len(self.bits), self.limit - 1)  # the last bit is shared
        return self.bits[key]

    def mask(self, names: Iterable[str]) -> int:
        out = 0
        for name in names:
            out |= 1 << self.bit(name)
        return out


def scale(values: np.ndarray, where: np.ndarray, factor: float) -> None:
    """Multiply ``values`` in place where the mask holds. A masked multiply is cheap when
    the mask is sparse and slow when it is mixed (a branch per value), so a mask holding
    for more than a few values multiplies everything by the factor or by 1 (the same values:
    times 1 is exact)."""
    if factor == 1.0:
        return
    count = np.count_nonzero(where)
    if not count:  # holds nowhere: times 1 everywhere
        return
    if count * 16 < len(where):
        np.multiply(values, np.float32(factor), out=values, where=where)
    else:
        np.multiply(values, np.where(where, np.float32(factor), np.float32(1.0)), out=values)


def take_rows(matrix: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``matrix[rows]`` of a column-major matrix, column-major (taken along the rows of its
    transpose: three times faster than indexing and reordering)."""
    return matrix.T.take(rows, axis=1).T


_DECAY = np.array(NEED_DECAY, dtype=np.float32)


def combine(contributions: np.ndarray) -> np.ndarray:
    """A service's value across needs: its best need counts fully, each further need it also
    meets counts less (a bakery of everything should not beat the specialist)."""
    if contributions.shape[1] == 0:
        return np.zeros(contributions.shape[0], dtype=np.float32)
    ordered = -np.sort(-contributions, axis=1)[:, : len(NEED_DECAY)]
    # Multiply and sum rather than ``@``: a handful of columns gains nothing from BLAS, and
    # some OpenBLAS builds raise spurious "invalid value" warnings in small matmuls.
    return (ordered * _DECAY[: ordered.shape[1]]).sum(axis=1)


def top_indices(values: np.ndarray, k: int) -> np.ndarray:
    """The positions of the ``k`` largest values, largest first; equal values in the order
    of their positions, also at the k-th place (so ties never depend on what else is in
    ``values``: scoring fewer candidates that cannot reach the top changes nothing)."""
    negated = -values
    if len(values) <= k:
        return np.argsort(negated, kind="stable")
    if len(values) >= 8 * k:  # a sample of the values says which few can be among the top
        step = max(1, len(values) // 512)
        sample = negated[::step][:512]
        rank = min(len(sample) - 1, 3 * k // (2 * step) + 8)
        bar = np.partition(sample, rank)[rank]
        few = np.flatnonzero(negated <= bar)  # in position order
        if len(few) >= k:  # then every top value is among them
            return few[np.argsort(negated[few], kind="stable")[:k]]
    kth = np.partition(negated, k - 1)[k - 1]
    if np.isnan(kth):  # fewer than k numbers: they, then the first nans
        above, tied = np.flatnonzero(~np.isnan(negated)), np.flatnonzero(np.isnan(negated))
    else:
        above, tied = np.flatnonzero(negated < kth), np.flatnonzero(negated == kth)
    part = np.concatenate((above, tied[: k - len(above)]))
    part.sort()
    return part[np.argsort(negated[part], kind="stable")]


def stable_order(keys: np.ndarray) -> np.ndarray:
    """``np.argsort(keys, kind="stable")`` of non-negative int64 keys, by sorting the keys
    with each one's position in its low bits (numpy sorts values several times faster than
    it argsorts them: 1.5M keys 25 ms rather than 210); ``argsort`` when they do not fit."""
    n = len(keys)
    bits = max(1, (n - 1).bit_length())
    if not n or keys.min() < 0 or int(keys.max()).bit_length() + bits > 63:
        return np.argsort(keys, kind="stable")
    packed = keys.astype(np.int64) << bits | np.arange(n, dtype=np.int64)
    packed.sort()
    return packed & ((1 << bits) - 1)


def cell(lat: float | None, lon: float | None) -> int:
    if lat is None or lon is None:
        return NO_CELL
    return (math.floor(lat / CELL_LAT) + 2000) * 4000 + math.floor(lon / CELL_LON) + 2000


def cells_near(origin: tuple[float, float]) -> set[int]:
    lat, lon = origin
    return {
        cell(lat + dy * CELL_LAT, lon + dx * CELL_LON) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
    }
