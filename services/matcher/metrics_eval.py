"""Ranking metrics and an independent hard-constraint check, defined in one readable place.

Definitions (k is a cut-off, ``ranked`` the proposed service ids best first, ``labels`` the
graded relevance ``{service_id: 2 | 1}``; anything unlabelled has grade 0):

- DCG@k  = sum over positions i = 1..k of grade(ranked[i]) / log2(i + 1)   (gains 2 and 1)
- nDCG@k = DCG@k / IDCG@k, where IDCG@k is the DCG of the labels themselves sorted by grade,
  best first; a referral with no labels is skipped (returns None).
- precision@k = (number of the first k proposals with grade >= 1) / k  (k, not the list
  length, so proposing fewer than k services costs precision)
- recall@k = (number of the first k proposals with grade >= 1) / (number of labelled services)
- reciprocal rank = 1 / position of the first proposal with grade >= 1 (0 when none);
  MRR is its mean over referrals.

The violation check reads the raw directory dicts, not the matcher's records, so a bug in the
ranking code's own eligibility rules cannot hide itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

__all__ = [
    "dcg",
    "hard_constraint_violations",
    "ndcg",
    "precision",
    "recall",
    "reciprocal_rank",
    "summarise",
]


def dcg(grades: Sequence[float]) -> float:
    return sum(g / math.log2(i + 2) for i, g in enumerate(grades))


def ndcg(ranked: Sequence[str], labels: Mapping[str, int], k: int = 5) -> float | None:
    if not labels:
        return None
    ideal = dcg(sorted(labels.values(), reverse=True)[:k])
    return dcg([labels.get(s, 0) for s in ranked[:k]]) / ideal if ideal else None


def precision(ranked: Sequence[str], labels: Mapping[str, int], k: int = 3) -> float:
    return sum(1 for s in ranked[:k] if labels.get(s, 0) >= 1) / k


def recall(ranked: Sequence[str], labels: Mapping[str, int], k: int = 5) -> float | None:
    relevant = [s for s, g in labels.items() if g >= 1]
    if not relevant:
        return None
    return sum(1 for s in ranked[:k] if labels.get(s, 0) >= 1) / len(relevant)


def reciprocal_rank(ranked: Sequence[str], labels: Mapping[str, int]) -> float:
    for position, service_id in enumerate(ranked, start=1):
        if labels.get(service_id, 0) >= 1:
            return 1.0 / position
    return 0.0


def hard_constraint_violations(referral: Mapping, service: Mapping, match: Mapping) -> list[str]:
    """Every rule a proposal breaks, judged from the directory entry and the referral alone."""
    problems = []
    eligibility = service.get("eligibility") or {}
    age = referral.get("age")
    min_age, max_age = eligibility.get("min_age"), eligibility.get("max_age")
    if (min_age is not None or max_age is not None) and age is None:
        problems.append("age-restricted service for a person of unknown age")
    elif age is not None:
        if min_age is not None and age < min_age:
            problems.append(f"age {age} below min_age {min_age}")
        if max_age is not None and age > max_age:
            problems.append(f"age {age} above max_age {max_age}")
    genders = eligibility.get("genders")
    if genders:
        gender = referral.get("gender")
        if gender is None or gender.lower() not in {g.lower() for g in genders}:
            problems.append(f"gender {gender} not in {genders}")
    capacity = service.get("places_free", service.get("capacity_per_week"))
    if capacity is not None and capacity <= 0 and not match.get("waiting_list", False):
        problems.append("zero capacity proposed as available")
    wanted = referral.get("delivery_modes") or ()
    if wanted:
        offered = service.get("delivery") or "in_person"
        offered = {offered} if isinstance(offered, str) else set(offered)
        if not service.get("location") and "in_person" in offered:
            offered.add("home")
        if not offered & set(wanted):
            problems.append(f"delivery {sorted(offered)} not in {list(wanted)}")
    return problems


def summarise(rows: Sequence[Mapping[str, float | None]]) -> dict[str, float]:
    """Mean of each metric over the referrals where it is defined."""
    out: dict[str, float] = {}
    for key in rows[0] if rows else ():
        values = [r[key] for r in rows if r[key] is not None]
        out[key] = sum(values) / len(values) if values else 0.0  # type: ignore[arg-type]
    return out
