"""A matcher index saved to disk with the replica position it reflects, so a restarted
matcher serves at once instead of re-reading every service's text.

Layout: each snapshot is a folder of its own (``meta.pickle``: vocabulary and Python
version, replica position, label bits, ward sums, posting keys, the distinct evidence
``evidence.py`` quotes; one ``.npy`` per column, for all postings back to back, for the ids'
hashes and slots and for each slot's evidence; ``records.bin`` and
``record_*``: the service records as ``record_store.py`` keeps them in memory, each encoded
on its own and read only when a ranking needs it), and the file ``current`` names the newest
complete one, so a crash while saving leaves the previous snapshot in use. Arrays are
memory-mapped copy-on-write: pages load as they are touched, and writes after a restart stay
private to the process. A snapshot for another vocabulary (its fit scores would be stale) or
Python version is ignored and the index is rebuilt instead."""

from __future__ import annotations

import os
import pickle
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from services.matcher.columns import Columns, Growable, Posting
from services.matcher.record_store import SlotRecords
from services.matcher.service_table import ServiceTable
from services.matcher.slot_ids import SlotIds
from services.matcher.vocabulary import Vocabulary

__all__ = ["load", "save"]

FORMAT = 3
PYTHON = sys.version_info[:2]  # the records' encoding (marshal) may change between versions


def save(table: ServiceTable, position: int, folder: Path) -> Path:
    """Write the table and the replica position it includes as a new snapshot in ``folder``;
    older snapshots are removed once ``current`` names the new one."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"v{time.time_ns()}"
    target.mkdir()
    n = len(table.records)
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
    arrays["id_hashes"], arrays["id_slots"] = table._slot_of.arrays()
    arrays.update(table.evidence.arrays(n))
    for name, values in arrays.items():
        np.save(target / f"{name}.npy", np.ascontiguousarray(values))
    table.records.save(target)
    meta = {
        "format": FORMAT,
        "python": PYTHON,
        "vocabulary": table.vocabulary.version,
        "position": position,
        "size": n,
        "dead": table._dead,
        "keys": keys,
        "languages": table.languages.bits,
        "access": table.access.bits,
        "ward_sums": table._ward_sums,
        "centroids": table._explicit_centroids,
        "evidence": table.evidence.pairs,
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
    if tuple(meta.get("python", ())) != PYTHON:
        return None

    def array(name: str) -> np.ndarray:
        values = np.load(source / f"{name}.npy", mmap_mode="c")
        return values if values.size else np.array(values)

    table = ServiceTable(vocabulary)
    for name in Columns.__dataclass_fields__:
        setattr(table.columns, name, Growable.restored(array(f"column_{name}")))
    table.records = SlotRecords.restored(source)
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
    table.evidence.restore(
        {
            name: array(name)
            for name in ("evidence_start", "evidence_count", "evidence_by_text", "evidence_entries")
        },
        meta["evidence"],
    )
    table._slot_of = SlotIds.restored(
        lambda slot: table.records.id_at(slot), array("id_hashes"), array("id_slots")
    )
    return table, meta["position"]


def _joined(parts: list[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)
