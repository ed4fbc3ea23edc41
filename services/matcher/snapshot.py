"""A matcher index saved to disk with the replica position it reflects, so a restarted
matcher serves at once instead of re-reading every service's text.

Layout: each snapshot is a folder of its own (``meta.pickle``: vocabulary version, replica
position, label bits, ward sums, posting keys, ids; one ``.npy`` per column and for all
postings back to back; ``records.bin``: each service record pickled on its own, read only
when a ranking needs it), and the file ``current`` names the newest complete one, so a crash
while saving leaves the previous snapshot in use. Arrays are memory-mapped copy-on-write:
pages load as they are touched, and writes after a restart stay private to the process.
A snapshot for another vocabulary version is ignored (its fit scores would be stale) and
the index is rebuilt instead."""

from __future__ import annotations

import os
import pickle
import shutil
import time
from dataclasses import astuple
from pathlib import Path

import numpy as np

from services.matcher.columns import Columns, Growable, Posting
from services.matcher.service_table import ServiceTable, SlotRecords
from services.matcher.vocabulary import Vocabulary

__all__ = ["load", "save"]

FORMAT = 1


def save(table: ServiceTable, position: int, folder: Path) -> Path:
    """Write the table and the replica position it includes as a new snapshot in ``folder``;
    older snapshots are removed once ``current`` names the new one."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"v{time.time_ns()}"
    target.mkdir()
    n = len(table.records)
    blobs, offsets, ids = [], np.zeros(n + 1, dtype=np.int64), []
    for slot in range(n):
        record = table.records[slot]
        ids.append(None if record is None else record.id)
        blob = b"" if record is None else pickle.dumps(astuple(record), protocol=5)
        blobs.append(blob)
        offsets[slot + 1] = offsets[slot] + len(blob)
    keys = list(table._postings)
    arrays = {
        f"column_{name}": getattr(table.columns, name).data[:n]
        for name in Columns.__dataclass_fields__
    }
    arrays["posting_slots"] = _joined([table._postings[k].view[0] for k in keys], np.int32)
    arrays["posting_scores"] = _joined([table._postings[k].view[1] for k in keys], np.float32)
    arrays["posting_lengths"] = np.array(
        [table._postings[k].slots.size for k in keys], dtype=np.int64
    )
    arrays["record_offsets"] = offsets
    for name, values in arrays.items():
        np.save(target / f"{name}.npy", np.ascontiguousarray(values))
    (target / "records.bin").write_bytes(b"".join(blobs))
    meta = {
        "format": FORMAT,
        "vocabulary": table.vocabulary.version,
        "position": position,
        "size": n,
        "dead": table._dead,
        "keys": keys,
        "ids": ids,
        "languages": table.languages.bits,
        "access": table.access.bits,
        "ward_sums": table._ward_sums,
        "centroids": table._explicit_centroids,
    }
    (target / "meta.pickle").write_bytes(pickle.dumps(meta, protocol=5))
    pointer = folder / "current.tmp"
    pointer.write_text(target.name, encoding="utf-8")
    os.replace(pointer, folder / "current")
    for old in folder.glob("v*"):
        if old.name != target.name:
            shutil.rmtree(old, ignore_errors=True)
    return target


def load(folder: Path, vocabulary: Vocabulary) -> tuple[ServiceTable, int] | None:
    """The saved table and its replica position, or None when there is no usable snapshot."""
    try:
        source = folder / (folder / "current").read_text(encoding="utf-8").strip()
        meta = pickle.loads((source / "meta.pickle").read_bytes())
    except (OSError, pickle.UnpicklingError, EOFError):
        return None
    if meta.get("format") != FORMAT or meta.get("vocabulary") != vocabulary.version:
        return None

    def array(name: str) -> np.ndarray:
        values = np.load(source / f"{name}.npy", mmap_mode="c")
        return values if values.size else np.array(values)

    n = meta["size"]
    table = ServiceTable(vocabulary)
    for name in Columns.__dataclass_fields__:
        setattr(table.columns, name, Growable.restored(array(f"column_{name}")))
    table.records = SlotRecords.restored(source / "records.bin", array("record_offsets"), n)
    slots, scores = array("posting_slots"), array("posting_scores")
    start = 0
    for key, length in zip(meta["keys"], array("posting_lengths").tolist(), strict=True):
        end = start + length
        table._postings[key] = Posting.restored(slots[start:end], scores[start:end])
        table._cells_of_concept.setdefault(key[0], set()).add(key[1])
        start = end
    table.languages.bits = meta["languages"]
    table.access.bits = meta["access"]
    table._ward_sums = meta["ward_sums"]
    table._explicit_centroids = meta["centroids"]
    table._dead = meta["dead"]
    table._slot_of = {sid: slot for slot, sid in enumerate(meta["ids"]) if sid is not None}
    return table, meta["position"]


def _joined(parts: list[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)
