"""The service record in each slot of the index, kept compact: each record is encoded once
(``marshal`` of its fields, the label-like ones — categories, keywords, organisation, genders,
delivery, ward, languages, accessibility, referral route — replaced by numbers into one table
of the distinct values) into a single buffer, and decoded again only when asked for, which a
ranking does for the few dozen services it shortlists. A million records as Python objects
take ~750 MiB; encoded like this, about a third of that.

Records appended since start live in an in-memory buffer; those restored from a snapshot are
read from its memory-mapped file (the same encoding, written as it is). A slot whose service
was replaced or removed reads as None; its bytes stay until the table is compacted."""

from __future__ import annotations

import marshal
import mmap
import pickle
from collections.abc import Iterable, Iterator
from dataclasses import fields
from datetime import date
from operator import attrgetter
from pathlib import Path

import numpy as np

from services.matcher.columns import Growable
from services.matcher.records import ServiceRecord

__all__ = ["SlotRecords"]

#: fields stored as a number into the table of distinct values (labels that repeat)
INTERNED = (3, 4, 5, 8, 9, 12, 14, 15, 16)
CONFIRMED = 20  # last_confirmed, stored as its ordinal
PICKLED = b"P"  # a record marshal cannot encode (an unusual field type) is pickled whole
DECODED_CACHE = 4096  # records kept decoded (a ranking asks for the same ones twice)
_FIELDS = attrgetter(*(f.name for f in fields(ServiceRecord)))


class SlotRecords:
    """The record in each slot (None once replaced or removed)."""

    def __init__(self) -> None:
        self._values: list[object] = []
        self._codes: dict[object, int] = {}
        self._restored = 0
        self._blob: mmap.mmap | bytes = b""
        self._starts = np.zeros(1, dtype=np.int64)  # restored records' offsets in the blob
        self._buffer = bytearray()
        self._ends = Growable("int64")  # where each fresh record ends in the buffer
        self._alive = bytearray()
        self._decoded: dict[int, ServiceRecord] = {}

    # -- reading --

    def __len__(self) -> int:
        return len(self._alive)

    def __getitem__(self, slot: int) -> ServiceRecord | None:
        if not self._alive[slot]:
            return None
        record = self._decoded.get(slot)
        if record is None:
            record = self._decode(self._raw(slot))
            if len(self._decoded) >= DECODED_CACHE:
                self._decoded = {}
            self._decoded[slot] = record
        return record

    def __iter__(self) -> Iterator[ServiceRecord | None]:
        for slot in range(len(self)):
            yield self._decode(self._raw(slot)) if self._alive[slot] else None

    def _raw(self, slot: int) -> bytes | bytearray:
        if slot < self._restored:
            return self._blob[int(self._starts[slot]) : int(self._starts[slot + 1])]
        fresh = slot - self._restored
        ends = self._ends.data
        start = int(ends[fresh - 1]) if fresh else 0
        return self._buffer[start : int(ends[fresh])]

    def id_at(self, slot: int) -> str:
        """The service id stored in a slot, live or not."""
        raw = self._raw(slot)
        return pickle.loads(raw[1:])[0] if raw[:1] == PICKLED else marshal.loads(raw)[0]

    def _decode(self, raw: bytes | bytearray) -> ServiceRecord:
        if raw[:1] == PICKLED:
            return ServiceRecord(*pickle.loads(raw[1:]))
        t = marshal.loads(raw)
        v = self._values
        confirmed = t[CONFIRMED]
        return ServiceRecord(
            t[0],
            t[1],
            t[2],
            v[t[3]],
            v[t[4]],
            v[t[5]],
            t[6],
            t[7],
            v[t[8]],
            v[t[9]],
            t[10],
            t[11],
            v[t[12]],
            t[13],
            v[t[14]],
            v[t[15]],
            v[t[16]],
            t[17],
            t[18],
            t[19],
            None if confirmed is None else date.fromordinal(confirmed),
            t[21],
            t[22],
        )

    # -- writing --

    def append(self, record: ServiceRecord) -> None:
        self._buffer += self._encode(record)
        self._ends.append(len(self._buffer))
        self._alive.append(1)

    def extend(self, records: Iterable[ServiceRecord]) -> None:
        encoded = [self._encode(record) for record in records]
        if not encoded:
            return
        base = len(self._buffer)
        self._buffer += b"".join(encoded)
        self._ends.extend(base + np.cumsum([len(e) for e in encoded], dtype=np.int64))
        self._alive += b"\x01" * len(encoded)

    def clear(self, slot: int) -> None:
        self._alive[slot] = 0
        self._decoded.pop(slot, None)

    def _encode(self, record: ServiceRecord) -> bytes:
        raw = _FIELDS(record)
        (sid, name, text, cats, words, org, low, high, genders, delivery, lat, lon, ward,
         postcode, languages, access, route, capacity, free, schedule, confirmed, closed,
         reports) = raw  # fmt: skip
        get = self._codes.get
        try:
            codes = (get(cats), get(words), get(org), get(genders), get(delivery), get(ward),
                     get(languages), get(access), get(route))  # fmt: skip
            if None in codes:
                codes = tuple(self._code(raw[i]) for i in INTERNED)
            if confirmed is not None:
                if type(confirmed) is not date:  # a datetime would come back a date
                    raise TypeError(confirmed)
                confirmed = confirmed.toordinal()
            c0, c1, c2, c3, c4, c5, c6, c7, c8 = codes
            return marshal.dumps(
                (sid, name, text, c0, c1, c2, low, high, c3, c4, lat, lon, c5, postcode, c6, c7,
                 c8, capacity, free, schedule, confirmed, closed, reports)
            )  # fmt: skip
        except (TypeError, ValueError):  # unhashable or unmarshallable
            return PICKLED + pickle.dumps(raw, protocol=5)

    def _code(self, value: object) -> int:
        code = self._codes.get(value)
        if code is None:
            code = self._codes[value] = len(self._values)
            self._values.append(value)
        return code

    # -- snapshots --

    def save(self, folder: Path) -> None:
        """Write the records as they are stored (``records.bin`` and its offsets, which slots
        are live, the table of distinct values) into a snapshot's folder."""
        blob_end = int(self._starts[self._restored])
        with (folder / "records.bin").open("wb") as out:
            out.write(memoryview(self._blob)[:blob_end])
            out.write(self._buffer)
        fresh = self._ends.data[: len(self) - self._restored]
        offsets = np.concatenate((self._starts[: self._restored + 1], fresh + blob_end))
        np.save(folder / "record_offsets.npy", offsets)
        np.save(folder / "record_alive.npy", np.frombuffer(bytes(self._alive), dtype=np.uint8))
        (folder / "record_values.pickle").write_bytes(pickle.dumps(self._values, protocol=5))

    @classmethod
    def restored(cls, folder: Path) -> SlotRecords:
        """The records of a snapshot's folder; their bytes are read from the file as needed."""
        records = cls()
        records._starts = np.load(folder / "record_offsets.npy")
        records._alive = bytearray(np.load(folder / "record_alive.npy").tobytes())
        records._restored = len(records._alive)
        records._values = pickle.loads((folder / "record_values.pickle").read_bytes())
        records._codes = {value: code for code, value in enumerate(records._values)}
        if records._starts[-1] > 0:
            with (folder / "records.bin").open("rb") as handle:
                records._blob = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        return records
