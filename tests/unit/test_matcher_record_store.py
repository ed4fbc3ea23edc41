"""The compact record store gives back every record exactly as it was given, also through a
snapshot, and the id map finds every live id (sharing hashes included) through upserts,
removals and merges."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

from services.matcher import slot_ids
from services.matcher.evaluate import directory_services
from services.matcher.ranking import service_from_directory
from services.matcher.record_store import SlotRecords
from services.matcher.slot_ids import SlotIds

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "matching"


def services():
    directory = json.loads((SHARED / "directory.json").read_text(encoding="utf-8"))
    return [service_from_directory(s, o) for s, o in directory_services(directory)]


def test_records_come_back_exactly_as_given_also_from_a_snapshot(tmp_path):
    records = services()
    odd = [
        replace(records[0], id="odd-1", last_confirmed=date(2026, 3, 1), genders=("female",)),
        replace(records[1], id="odd-2", last_confirmed=datetime(2026, 3, 1, 9)),  # pickled
        replace(records[2], id="odd-3", categories=["a", "list"]),  # unhashable: pickled
        replace(records[3], id="odd-4", name="Café \u00e9t\u00e9 \U0001f600", ward=None),
    ]
    store = SlotRecords()
    store.extend(records)
    for record in odd:
        store.append(record)
    everything = records + odd
    assert list(store) == everything
    assert [store[i] for i in range(len(store))] == everything
    assert type(store[len(records) + 1].last_confirmed) is datetime
    store.clear(3)
    assert store[3] is None
    assert store.id_at(3) == everything[3].id  # the bytes stay until compaction
    store.save(tmp_path)
    again = SlotRecords.restored(tmp_path)
    assert list(again) == [None if i == 3 else r for i, r in enumerate(everything)]
    again.append(records[5])
    again.clear(0)
    assert again[len(everything)] == records[5] and again[0] is None
    (tmp_path / "second").mkdir()
    again.save(tmp_path / "second")
    third = SlotRecords.restored(tmp_path / "second")
    assert list(third) == list(again)


def test_the_id_map_follows_upserts_removals_and_merges_with_shared_hashes(monkeypatch):
    monkeypatch.setattr(slot_ids, "crc32", lambda raw: len(raw) % 3)  # many shared hashes
    monkeypatch.setattr(slot_ids, "RECENT", 7)
    rng = random.Random(3)
    stored: list[str] = []  # the id written into each slot
    ids = SlotIds(lambda slot: stored[slot])
    truth: dict[str, int] = {}
    for step in range(600):
        sid = f"s{rng.randrange(60)}" + "x" * rng.randrange(3)
        if rng.random() < 0.3:
            assert ids.pop(sid) == truth.pop(sid, None)
        else:
            stored.append(sid)
            assert ids.put(sid, len(stored) - 1, hold=step < 100) == truth.get(sid)
            truth[sid] = len(stored) - 1
        if step == 100:
            ids.merge()
        assert len(ids) == len(truth)
        for known in {f"s{i}" + "x" * k for i in range(60) for k in range(3)}:
            assert ids.get(known) == truth.get(known)
    assert dict(ids.items()) == truth
    hashes, slots = ids.arrays()
    again = SlotIds.restored(lambda slot: stored[slot], hashes, slots)
    assert again == ids and len(again) == len(truth)


def test_putting_a_batch_of_ids_is_putting_them_one_by_one(monkeypatch):
    monkeypatch.setattr(slot_ids, "crc32", lambda raw: len(raw) % 3)  # many shared hashes
    rng = random.Random(5)
    stored: list[str] = []
    one, many = SlotIds(lambda slot: stored[slot]), SlotIds(lambda slot: stored[slot])
    for batch in range(12):  # repeats within a batch and across merged and recent ids
        sids = [f"s{rng.randrange(40)}" + "x" * rng.randrange(3) for _ in range(rng.randrange(30))]
        first = len(stored)
        stored.extend(sids)
        olds = [one.put(sid, first + i, hold=True) for i, sid in enumerate(sids)]
        assert many.put_many(sids, first) == [old for old in olds if old is not None]
        for sid in rng.sample(sids, min(3, len(sids))) if batch % 3 == 1 else ():
            assert one.pop(sid) == many.pop(sid)
        if batch % 4 == 2:
            one.merge()
            many.merge()
        assert len(one) == len(many) and dict(one.items()) == dict(many.items())
