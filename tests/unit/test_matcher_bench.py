"""The benchmark runs from any checkout: its data is found beside the repository, a missing
path is named, and its table carries every engine measured in the same run."""

from __future__ import annotations

import json

from services.matcher import bench


def test_the_demo_data_is_found_beside_the_repository():
    assert bench.DEMO.parts[-3:] == ("shared", "data", "matching")
    assert (bench.DEMO / "directory.json").exists()


def test_a_missing_data_path_is_named_and_nothing_runs(tmp_path, capsys):
    missing = tmp_path / "nowhere.json"
    assert bench.main(["--services", "10", "--directory", str(missing)]) == 2
    assert str(missing) in capsys.readouterr().err


def test_a_small_run_prints_the_matcher_beside_the_naive_scan_and_fts5(capsys):
    code = bench.main(["--services", "300", "--referrals", "8", "--no-postgres"])
    out = capsys.readouterr().out
    assert code == 0
    for engine in ("matcher (index)", "naive rapidfuzz scan", "sqlite fts5 bm25"):
        assert engine in out


def test_the_unseen_text_row_is_printed_beside_the_warm_one_with_its_caches_emptied(capsys):
    from services.matcher import referral_text

    code = bench.main(["--services", "300", "--referrals", "8", "--no-postgres"])
    out = capsys.readouterr().out
    assert code == 0
    table = out.split("\nengine", 1)[1].splitlines()[1:]  # the rows after the header
    rows = [line for line in table if line.startswith("matcher")]
    assert rows[0].startswith("matcher (index)")
    assert rows[1].startswith("matcher, unseen text")
    # every unseen ranking read its text afresh, and ranked as the warm run did
    assert "8 of 8 read afresh; the same rankings" in out
    # the warm run left its 8 texts read; emptied before each unseen ranking, only the last
    # one's reading is left (a miss, then a hit for the text it did not recognise)
    info = referral_text._read.cache_info()
    assert (info.currsize, info.misses) == (1, 1)


def test_forgetting_referrals_empties_the_caches_a_repeated_text_would_find_warm():
    from services.matcher import referral_text
    from services.matcher.bench_unseen import REFERRAL_CACHES, forget_referrals
    from services.matcher.evaluate import directory_services
    from services.matcher.ranking import MatchIndex, MatchRequest, service_from_directory
    from services.matcher.vocabulary import Vocabulary

    directory = json.loads((bench.DEMO / "directory.json").read_text(encoding="utf-8"))
    services = [service_from_directory(s, o) for s, o in directory_services(directory)]
    index = MatchIndex(Vocabulary.load_default(), services)
    text = "Lonley since her husband died, would like to get out walking"
    request = MatchRequest("r", text, 70, "female", None, 51.45, 0.14)
    index.rank(request)
    index.rank(request)
    assert referral_text._read.cache_info().hits > 0
    forget_referrals(index)
    assert all(cache.cache_info().currsize == 0 for cache in REFERRAL_CACHES)
    assert index.table._explained == {} and index.table.records._decoded == {}
    misses = referral_text._read.cache_info().misses
    index.rank(request)
    assert referral_text._read.cache_info().misses == misses + 1
