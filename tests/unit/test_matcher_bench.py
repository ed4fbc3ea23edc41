"""The benchmark runs from any checkout: its data is found beside the repository, a missing
path is named, and its table carries every engine measured in the same run."""

from __future__ import annotations

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
