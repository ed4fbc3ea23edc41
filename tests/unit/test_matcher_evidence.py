"""The evidence kept when a service is read (``evidence.py``) quotes the words
``describe_service`` finds in its text: the same phrases in the same order and the same
category, for every concept of every service in every directory we hold, whether the table
was built in batches, one upsert at a time or restored from a snapshot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from services.matcher import snapshot
from services.matcher.bench import synthetic_services
from services.matcher.evidence import AMBIGUOUS, SlotEvidence
from services.matcher.service_table import ServiceTable
from services.matcher.vocabulary import Vocabulary
from tests.unit.test_matcher_batch_build import DIRECTORIES, _services

VOCABULARY = Vocabulary.load_default()


def _quoted(table: ServiceTable, slot: int) -> dict[str, tuple]:
    return {c: (m.terms, m.category) for c, m in table.explained(slot, ()).items()}


def _described(table: ServiceTable, slot: int) -> dict[str, tuple]:
    record = table.records[slot]
    return {c: (m.terms, m.category) for c, m in table.describe(record).items()}


def _assert_quotes_the_text(table: ServiceTable) -> int:
    """Every slot's evidence is its text's; how many slots are read from their text."""
    by_text = 0
    for slot in range(len(table.records)):
        if table.evidence.explained_by_text(slot):
            by_text += 1
            continue
        assert _quoted(table, slot) == _described(table, slot), table.records[slot].id
    return by_text


@pytest.mark.parametrize("path", DIRECTORIES, ids=lambda p: p.parent.name or p.name)
def test_evidence_read_in_batches_is_what_the_text_says(path: Path) -> None:
    table = ServiceTable(VOCABULARY)
    table.extend(_services(path))
    assert _assert_quotes_the_text(table) <= len(table.records) // 20


def test_evidence_of_a_synthetic_directory_is_what_the_text_says() -> None:
    services, _ = synthetic_services(_services(DIRECTORIES[0]), 3000, seed=5)
    table = ServiceTable(VOCABULARY)
    table.extend(services)
    assert _assert_quotes_the_text(table) <= len(table.records) // 20


def test_evidence_upserted_is_the_text_itself() -> None:
    table = ServiceTable(VOCABULARY)
    for service in _services(DIRECTORIES[0]):
        table.upsert(service)
    assert _assert_quotes_the_text(table) == 0


def test_evidence_survives_a_snapshot(tmp_path: Path) -> None:
    table = ServiceTable(VOCABULARY)
    table.extend(_services(DIRECTORIES[0]))
    snapshot.save(table, 7, tmp_path)
    restored, _ = snapshot.load(tmp_path, VOCABULARY)
    assert [_quoted(restored, s) for s in range(len(restored.records))] == [
        _quoted(table, s) for s in range(len(table.records))
    ]
    restored.upsert(_services(DIRECTORIES[1])[0])
    assert _assert_quotes_the_text(restored) == _assert_quotes_the_text(table)


def test_a_slot_with_unsettled_evidence_is_read_from_its_text() -> None:
    evidence = SlotEvidence(("a", "b", "c"))
    settled = evidence.pair(("walk",), None)
    entries = np.array([0 << 24 | settled, 1 << 24 | AMBIGUOUS, 2 << 24 | settled], np.uint32)
    evidence.add(0, entries, np.array([1, 0, 2]))
    assert [evidence.explained_by_text(s) for s in range(4)] == [False, False, True, True]
    assert evidence.of(0) == {"a": evidence.pairs[settled]}

    table = ServiceTable(VOCABULARY)
    table.extend(_services(DIRECTORIES[0]))
    concepts = ("loneliness", "exercise", "housebound")
    table.evidence.by_text.data[3] = True
    assert table.explained(3, concepts) == table.describe(table.records[3], concepts)
