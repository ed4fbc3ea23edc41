"""Rank a file of referrals against a directory and, when labels are present, score it.

    python -m services.matcher.evaluate --directory PATH --referrals PATH [--top 5]
        [--output PATH] [--today YYYY-MM-DD] [--ids all|odd|even]

Writes one JSON line per referral, best match first. Labels (``relevant``,
``ineligible_traps``, ``unmet_need``) are never shown to the matcher: ``request_from_referral``
copies only what a GP practice sends. Metric definitions live in ``metrics_eval``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path
from typing import TextIO

from services.matcher.metrics_eval import (
    hard_constraint_violations,
    ndcg,
    precision,
    recall,
    reciprocal_rank,
    summarise,
)
from services.matcher.ranking import (
    MatchIndex,
    MatchRequest,
    RankResult,
    service_from_directory,
    ward_centroids,
)
from services.matcher.vocabulary import Vocabulary

__all__ = [
    "build_index",
    "by_id_parity",
    "directory_services",
    "evaluate",
    "main",
    "request_from_referral",
]


def directory_services(directory: dict) -> Iterator[tuple[dict, dict]]:
    """(service, organisation) pairs; also accepts a flat top-level ``services`` list."""
    for organisation in directory.get("organisations") or ():
        for service in organisation.get("services") or ():
            yield service, organisation
    for service in directory.get("services") or ():
        yield service, {}


def build_index(directory: dict, vocabulary: Vocabulary | None = None) -> MatchIndex:
    """An index of the directory, with the shipped vocabulary unless another is given."""
    index = MatchIndex(
        vocabulary or Vocabulary.load_default(),
        (service_from_directory(s, o) for s, o in directory_services(directory)),
    )
    index.set_ward_centroids(ward_centroids(directory))
    return index


def request_from_referral(referral: dict, today: date | None = None) -> MatchRequest:
    """Only the fields a referral carries: the labels stay out of the matcher's sight."""
    return MatchRequest(
        referral_id=str(referral["id"]),
        needs_text=str(referral.get("needs") or ""),
        age=referral.get("age"),
        gender=referral.get("gender"),
        ward=referral.get("ward"),
        lat=referral.get("lat"),
        lon=referral.get("lon"),
        languages=tuple(referral.get("languages") or ()),
        accessibility_needs=tuple(referral.get("accessibility_needs") or ()),
        need_categories=tuple(referral.get("need_categories") or ()),
        delivery_modes=tuple(referral.get("delivery_modes") or ()),
        today=today,
    )


def result_line(referral_id: str, result: RankResult) -> dict:
    return {
        "referral_id": referral_id,
        "matches": [
            {
                "service_id": p.service_id,
                "score": p.score,
                "reasons": list(p.reasons),
                "need": p.need,
                "waiting_list": p.waiting_list,
            }
            for p in result.proposals
        ],
        "unmet_needs": list(result.unmet_needs),
    }


def evaluate(
    directory: dict, referrals: Iterable[dict], top: int, out: TextIO, today: date | None
) -> dict[str, float] | None:
    """Write the rankings; return the metrics when any referral carries labels."""
    index = build_index(directory)
    raw_services = {str(s["id"]): s for s, _ in directory_services(directory)}
    rows = []
    violations = 0
    for referral in referrals:
        result = index.rank(request_from_referral(referral, today), top=top)
        line = result_line(str(referral["id"]), result)
        out.write(json.dumps(line) + "\n")
        for match in line["matches"]:
            service = raw_services.get(match["service_id"], {})
            violations += len(hard_constraint_violations(referral, service, match)) > 0
        labels = referral.get("relevant")
        if labels is not None:
            ranked = [m["service_id"] for m in line["matches"]]
            rows.append(
                {
                    "nDCG@5": ndcg(ranked, labels, 5),
                    "precision@3": precision(ranked, labels, 3),
                    "recall@5": recall(ranked, labels, 5),
                    "MRR": reciprocal_rank(ranked, labels),
                }
            )
    if not rows:
        return None
    metrics = summarise(rows)
    metrics["referrals"] = float(len(rows))
    metrics["hard_constraint_violations"] = float(violations)
    return metrics


def by_id_parity(referrals: Iterable[dict], parity: str) -> list[dict]:
    """Half of a labelled set by the number at the end of each id: tuning on the odd half
    and only reading aggregate metrics for the even half keeps the even figures honest."""
    if parity == "all":
        return list(referrals)
    wanted = 1 if parity == "odd" else 0
    out = []
    for referral in referrals:
        digits = re.search(r"(\d+)\D*$", str(referral["id"]))
        if digits and int(digits.group(1)) % 2 == wanted:
            out.append(referral)
    return out


def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--directory", required=True, type=Path)
    parser.add_argument("--referrals", required=True, type=Path)
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--today", type=date.fromisoformat, default=date.today())
    parser.add_argument("--ids", choices=("all", "odd", "even"), default="all")
    args = parser.parse_args(argv)
    directory = json.loads(args.directory.read_text(encoding="utf-8"))
    referrals = by_id_parity(_read_jsonl(args.referrals), args.ids)
    if args.output:
        with args.output.open("w", encoding="utf-8") as out:
            metrics = evaluate(directory, referrals, args.top, out, args.today)
        report = sys.stdout
    else:
        metrics = evaluate(directory, referrals, args.top, sys.stdout, args.today)
        report = sys.stderr
    if metrics is not None:
        for key, value in metrics.items():
            shown = (
                f"{int(value)}"
                if key in ("referrals", "hard_constraint_violations")
                else f"{value:.3f}"
            )
            print(f"{key:<28}{shown}", file=report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
