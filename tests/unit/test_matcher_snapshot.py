"""A saved index serves exactly as the one it was saved from, keeps taking directory
changes after a restart, and is ignored when the vocabulary has moved on."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path

from services.matcher import snapshot
from services.matcher.evaluate import build_index, request_from_referral
from services.matcher.ranking import MatchIndex, MatchRequest
from services.matcher.vocabulary import Vocabulary

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "matching"
VOCABULARY = Vocabulary.load_default()


def restored(index: MatchIndex, folder: Path) -> MatchIndex:
    snapshot.save(index.table, 42, folder)
    loaded = snapshot.load(folder, VOCABULARY)
    assert loaded is not None
    table, position = loaded
    assert position == 42
    again = MatchIndex(VOCABULARY)
    again.replace_table(table)
    return again


def test_a_restored_index_ranks_every_dev_referral_exactly_as_before(tmp_path):
    index = build_index(json.loads((SHARED / "directory.json").read_text(encoding="utf-8")))
    again = restored(index, tmp_path / "snap")
    assert len(again) == len(index)
    for line in (SHARED / "referrals_dev.jsonl").read_text(encoding="utf-8").splitlines():
        request = request_from_referral(json.loads(line), date(2026, 11, 25))
        assert again.rank(request) == index.rank(request)


def test_a_restored_index_takes_upserts_removals_and_compaction(tmp_path):
    directory = json.loads((SHARED / "directory.json").read_text(encoding="utf-8"))
    index = build_index(directory)
    again = restored(index, tmp_path / "snap")
    request = MatchRequest(
        "r", "lonely, would love a knitting circle", 70, "female", None, 51.45, 0.14
    )
    first = again.rank(request).proposals[0]
    record = again.get(first.service_id)
    again.upsert(replace(record, name="Renamed circle"))
    assert again.get(first.service_id).name == "Renamed circle"
    again.remove(first.service_id)
    assert first.service_id not in [p.service_id for p in again.rank(request).proposals]
    live = [r for r in again.table.records if r is not None]
    for _ in range(1100 // len(live) + 2):  # enough replacements to compact
        for kept in live:
            again.upsert(kept)
    assert len(again) == len(index) - 1
    assert len(again.table.records) < len(live) * 12  # compacted (else 13 copies of each)
    assert again.rank(request).proposals


def test_a_snapshot_from_another_vocabulary_is_ignored(tmp_path):
    index = build_index(json.loads((SHARED / "directory.json").read_text(encoding="utf-8")))
    snapshot.save(index.table, 7, tmp_path)
    older = json.loads((VOCABULARY_PATH).read_text(encoding="utf-8"))
    older["version"] = "1999.1.1"
    assert snapshot.load(tmp_path, Vocabulary(older)) is None
    assert snapshot.load(tmp_path / "missing", VOCABULARY) is None


VOCABULARY_PATH = (
    Path(__file__).resolve().parents[2] / "services" / "matcher" / "vocabulary" / "needs.json"
)
