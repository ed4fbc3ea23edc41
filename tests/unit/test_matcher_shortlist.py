"""Scoring only the candidates whose bound can reach the shortlist (``shortlist.py``) ranks
exactly as scoring every candidate: checked on every labelled set with a shortlist and a
first block small enough that the labelled directories exercise the pruning."""

from __future__ import annotations

import json

import numpy as np
import pytest

from services.matcher import ranking, shortlist
from services.matcher.columns import top_indices
from services.matcher.evaluate import build_index, request_from_referral
from tests.unit.test_matcher_quality import SETS
from tests.unit.test_matcher_rankings_unchanged import TODAY


def _results(index, referrals) -> list:
    return [index.rank(request_from_referral(r, TODAY), top=5) for r in referrals]


@pytest.mark.parametrize(
    ("name", "directory", "referrals"), [pytest.param(*s[:3], id=s[0]) for s in SETS]
)
def test_pruned_shortlist_ranks_as_scoring_every_candidate(name, directory, referrals, monkeypatch):
    if not directory.exists() or not referrals.exists():
        pytest.skip(f"{directory.name} or {referrals.name} is not here")
    index = build_index(json.loads(directory.read_text(encoding="utf-8")))
    cases = [json.loads(line) for line in referrals.read_text(encoding="utf-8").splitlines()]
    cases = [c for c in cases if c]
    monkeypatch.setattr(ranking, "SHORTLIST", 3)  # 12 rough places, 3 for the pick
    monkeypatch.setattr(shortlist, "PRUNE_FROM", 10**9)
    everyone = _results(index, cases)
    monkeypatch.setattr(shortlist, "PRUNE_FROM", 16)
    pruned = _results(index, cases)
    changed = [c["id"] for c, a, b in zip(cases, everyone, pruned, strict=True) if a != b]
    assert not changed, f"{len(changed)} of {len(cases)} rankings changed"


def test_top_indices_is_a_stable_sort_cut_short_whatever_the_ties_and_nans():
    rng = np.random.default_rng(1)
    for trial in range(400):
        n, k = int(rng.integers(1, 6000)), int(rng.choice([5, 60, 240]))
        values = [
            rng.random(n),
            rng.integers(0, 5, n),  # heavy ties, also at the k-th place
            np.where(rng.random(n) < 0.3, np.nan, np.round(rng.random(n), 2)),
            (rng.random(n) < 0.01) * 1.0,  # fewer nonzero values than k
        ][trial % 4].astype(np.float32)
        expected = np.argsort(-values, kind="stable")[:k]
        assert np.array_equal(top_indices(values, k), expected)
