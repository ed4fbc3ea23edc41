"""Benchmark the matcher against a naive scan, SQLite FTS5 (bm25) and PostgreSQL pg_trgm.

    python -m services.matcher.bench --services 100000 [--referrals 300] [--naive-referrals K]
        [--pg-referrals K] [--lexical-referrals K] [--no-postgres] [--directory PATH]
        [--dev PATH] [--seed 7]

The synthetic directory varies the demo directory's services (names, places, wording,
categories, capacities, age limits) with a seeded RNG and spreads them over UK towns. Each
synthetic service remembers the demo service it came from, so the labelled dev referrals can
still be scored: a copy of a grade-2 service is a grade-2 answer. That gives a quality parity
check (nDCG@5 for each engine on the same directory) next to the latency figures.

The demo directory and dev referrals are read from ``../shared/data/matching`` beside the
repository (``--directory``/``--dev`` point elsewhere). The engines the matcher is measured
against are in ``bench_engines.py``; its second row, a referral text never seen before (its
caches emptied before each ranking), in ``bench_unseen.py``.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np

from services.matcher import snapshot
from services.matcher.bench_engines import LexicalSearch, NaiveScan, TrigramSearch
from services.matcher.bench_unseen import timed_unseen
from services.matcher.evaluate import directory_services, request_from_referral
from services.matcher.metrics_eval import dcg
from services.matcher.ranking import (
    MatchIndex,
    MatchRequest,
    ServiceRecord,
    service_from_directory,
)
from services.matcher.vocabulary import Vocabulary

DEMO = Path(__file__).resolve().parents[3] / "shared" / "data" / "matching"
TOWNS = {
    "Bexley": (51.45, 0.14),
    "London": (51.51, -0.12),
    "Croydon": (51.37, -0.10),
    "Dartford": (51.44, 0.22),
    "Maidstone": (51.27, 0.52),
    "Canterbury": (51.28, 1.08),
    "Brighton": (50.82, -0.14),
    "Southampton": (50.90, -1.40),
    "Portsmouth": (50.80, -1.09),
    "Reading": (51.45, -0.97),
    "Oxford": (51.75, -1.26),
    "Bristol": (51.45, -2.59),
    "Exeter": (50.72, -3.53),
    "Plymouth": (50.38, -4.14),
    "Cardiff": (51.48, -3.18),
    "Swansea": (51.62, -3.94),
    "Gloucester": (51.86, -2.24),
    "Birmingham": (52.49, -1.89),
    "Coventry": (52.41, -1.51),
    "Leicester": (52.64, -1.13),
    "Nottingham": (52.95, -1.15),
    "Derby": (52.92, -1.48),
    "Norwich": (52.63, 1.30),
    "Cambridge": (52.21, 0.12),
    "Ipswich": (52.06, 1.16),
    "Peterborough": (52.57, -0.24),
    "Stoke": (53.00, -2.18),
    "Manchester": (53.48, -2.24),
    "Liverpool": (53.41, -2.98),
    "Preston": (53.76, -2.70),
    "Leeds": (53.80, -1.55),
    "Sheffield": (53.38, -1.47),
    "Bradford": (53.80, -1.75),
    "Hull": (53.74, -0.33),
    "York": (53.96, -1.08),
    "Newcastle": (54.97, -1.61),
    "Sunderland": (54.91, -1.38),
    "Carlisle": (54.89, -2.93),
    "Lincoln": (53.23, -0.54),
    "Glasgow": (55.86, -4.25),
    "Edinburgh": (55.95, -3.19),
}
PREFIXES = ("", "", "The ", "Community ", "Friendly ", "Local ")
SWAPS = (
    ("friendly", "welcoming"),
    ("weekly", "every week"),
    ("group", "club"),
    ("help", "support"),
    ("people", "residents"),
    ("meet", "get together with"),
    ("free", "no-cost"),
)
EXTRA_CATEGORIES = (
    "social connection",
    "mental wellbeing",
    "physical activity",
    "food",
    "arts and culture",
    "Health & Wellbeing",
    "Community Hubs",
)


# ---- synthetic directory -------------------------------------------------------------------


def synthetic_services(
    templates: Sequence[ServiceRecord], n: int, seed: int
) -> tuple[list[ServiceRecord], dict[str, str]]:
    """N varied copies of the templates, and each copy's template id (for the labels)."""
    rng = random.Random(seed)
    towns = list(TOWNS.items())
    out: list[ServiceRecord] = []
    origin: dict[str, str] = {}
    for i in range(n):
        t = templates[rng.randrange(len(templates))]
        town, (lat, lon) = towns[rng.randrange(len(towns))]
        description = t.description
        for a, b in rng.sample(SWAPS, 2):
            description = description.replace(a, b)
        categories = t.categories
        if len(categories) > 1 and rng.random() < 0.2:
            categories = categories[:-1]
        elif rng.random() < 0.1:
            categories = (*categories, rng.choice(EXTRA_CATEGORIES))
        capacity = t.capacity_per_week
        roll = rng.random()
        if roll < 0.05:
            capacity = 0
        elif capacity is not None:
            capacity = max(1, int(capacity * rng.uniform(0.5, 1.5)))
        sid = f"syn-{i:07d}"
        has_place = t.lat is not None or rng.random() < 0.7
        out.append(
            replace(
                t,
                id=sid,
                name=f"{rng.choice(PREFIXES)}{t.name} ({town})",
                description=f"{description} Based in {town}.",
                categories=categories,
                lat=lat + rng.gauss(0, 0.06) if has_place else None,
                lon=lon + rng.gauss(0, 0.09) if has_place else None,
                ward=f"{town} {rng.randrange(1, 18)}" if has_place else None,
                min_age=t.min_age if rng.random() < 0.9 else rng.choice((None, 16, 18, 50)),
                capacity_per_week=capacity,
                temporarily_closed=rng.random() < 0.01,
            )
        )
        origin[sid] = t.id
    return out, origin


def bench_requests(referrals: Sequence[dict], k: int, seed: int) -> list[tuple[MatchRequest, dict]]:
    """K requests cycling through the dev referrals; every other one moved to another town."""
    rng = random.Random(seed + 1)
    towns = list(TOWNS.values())
    out = []
    for i in range(k):
        referral = referrals[i % len(referrals)]
        request = request_from_referral(referral, date.today())
        if i % 2:
            lat, lon = towns[rng.randrange(len(towns))]
            request = replace(
                request,
                lat=lat + rng.gauss(0, 0.05),
                lon=lon + rng.gauss(0, 0.08),
                ward=None,
                referral_id=f"{referral['id']}-{i}",
            )
        out.append((request, referral))
    return out


# ---- measuring -----------------------------------------------------------------------------


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096


def timed(rank: Callable[[MatchRequest], list[str]], requests: Sequence[tuple[MatchRequest, dict]]):
    latencies, rankings = [], []
    for request, _ in requests:
        start = time.perf_counter()
        rankings.append(rank(request))
        latencies.append(time.perf_counter() - start)
    return latencies, rankings


def quality(rankings: list[list[str]], requests, origin: dict[str, str]) -> float:
    """Mean nDCG@5 on the dev referrals placed where they live (Bexley): a synthetic copy
    earns its template's grade."""
    scores = []
    for ranked, (request, referral) in zip(rankings, requests, strict=True):
        if request.referral_id != referral["id"] or not referral.get("relevant"):
            continue
        labels = referral["relevant"]
        copies = sorted((labels.get(t, 0) for t in origin.values() if t in labels), reverse=True)
        ideal = copies[:5]  # the best five copies the directory holds
        gains = [labels.get(origin.get(sid, ""), 0) for sid in ranked[:5]]
        scores.append(dcg(gains) / dcg(ideal) if ideal else 0.0)
    return float(np.mean(scores)) if scores else float("nan")


def report(name: str, latencies: Sequence[float], quality_score: float | None) -> tuple[str, float]:
    ms = sorted(x * 1000 for x in latencies)
    p50 = statistics.median(ms)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    rate = len(ms) / (sum(ms) / 1000)
    q = f"{quality_score:.3f}" if quality_score is not None else "  -  "
    return f"{name:<22}{len(ms):>6}{p50:>10.2f}{p99:>10.2f}{rate:>12.1f}{q:>12}", p50


RESTART_PROBE = """
import json, sys, time
start = time.perf_counter()
from pathlib import Path
from services.matcher import snapshot
from services.matcher.bench_engines import LexicalSearch, NaiveScan, TrigramSearch
from services.matcher.bench import rss_bytes
from services.matcher.ranking import MatchIndex, MatchRequest
from services.matcher.vocabulary import Vocabulary
vocabulary = Vocabulary.load_default()
base = rss_bytes()
table, position = snapshot.load(Path(sys.argv[1]), vocabulary)
index = MatchIndex(vocabulary)
index.replace_table(table)
index.rank(MatchRequest("r", sys.argv[2], 70, "female", None, 51.45, 0.14))
serving = time.perf_counter() - start
print(json.dumps({"serving_s": serving, "index_bytes": rss_bytes() - base}))
"""


def restart_report(index: MatchIndex, requests, folder: Path | None) -> None:
    """Save the index, start a new process from the snapshot and time it to its first
    ranking; then time upserts (a service's new version) on the running index."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        target = folder or Path(scratch)
        start = time.perf_counter()
        written = snapshot.save(index.table, 0, target)
        size = sum(f.stat().st_size for f in written.iterdir())
        print(f"snapshot: written in {time.perf_counter() - start:.1f}s ({size / 2**20:.0f} MiB)")
        probe = subprocess.run(
            [sys.executable, "-c", RESTART_PROBE, str(target), requests[0][0].needs_text],
            capture_output=True,
            text=True,
            check=True,
        )
        figures = json.loads(probe.stdout.strip().splitlines()[-1])
        print(
            f"restart from snapshot: serving in {figures['serving_s']:.1f}s (new process, "
            f"vocabulary load included), replica memory {figures['index_bytes'] / 2**20:.0f} MiB"
        )
    stored = index.table.records
    rng = random.Random(1)
    slots = rng.sample(range(len(stored)), min(600, len(stored)))
    records = [r for r in (stored[s] for s in slots) if r is not None][:500]
    times = []
    for record in records:
        changed = replace(record, places_free=(record.places_free or 5) - 1)
        start = time.perf_counter()
        index.upsert(changed)
        times.append(time.perf_counter() - start)
    ms = sorted(t * 1000 for t in times)
    print(
        f"upsert (a new version of a service): p50 {statistics.median(ms):.2f} ms, "
        f"p99 {ms[round(0.99 * (len(ms) - 1))]:.2f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, required=True)
    parser.add_argument("--referrals", type=int, default=300)
    parser.add_argument("--naive-referrals", type=int)
    parser.add_argument("--pg-referrals", type=int)
    parser.add_argument("--lexical-referrals", type=int, help="FTS5 queries (default: all)")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--dsn", default="host=127.0.0.1 port=5432 user=postgres dbname=test")
    parser.add_argument("--directory", type=Path, default=DEMO / "directory.json")
    parser.add_argument("--dev", type=Path, default=DEMO / "referrals_dev.jsonl")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--snapshot-dir", help="where to save the index (default: a temp dir)")
    args = parser.parse_args(argv)
    for path in (args.directory, args.dev):
        if not path.exists():
            print(
                f"bench: {path} not found. The demo data lives in ../shared/data/matching "
                "beside the repository; point --directory and --dev at it.",
                file=sys.stderr,
            )
            return 2

    directory = json.loads(args.directory.read_text(encoding="utf-8"))
    templates = [service_from_directory(s, o) for s, o in directory_services(directory)]
    dev = [json.loads(line) for line in args.dev.read_text(encoding="utf-8").splitlines() if line]

    before = rss_bytes()
    start = time.perf_counter()
    services, origin = synthetic_services(templates, args.services, args.seed)
    gc.collect()
    records_bytes = rss_bytes() - before
    print(
        f"synthetic directory: {len(services)} services from {len(templates)} templates "
        f"in {time.perf_counter() - start:.1f}s (records ~{records_bytes / 2**20:.0f} MiB)"
    )

    start = time.perf_counter()
    vocabulary = Vocabulary.load_default()
    print(f"vocabulary: loaded in {time.perf_counter() - start:.1f}s (not part of the build)")
    before = rss_bytes()
    start = time.perf_counter()
    index = MatchIndex(vocabulary, services)
    build = time.perf_counter() - start
    gc.collect()
    index_bytes = rss_bytes() - before
    print(
        f"matcher index: built in {build:.1f}s ({build / len(services) * 1e6:.0f} us/service), "
        f"replica memory {index_bytes / 2**20:.0f} MiB (records encoded, columns, postings, "
        f"ids; the {records_bytes / 2**20:.0f} MiB of input records are not kept)"
    )

    requests = bench_requests(dev, args.referrals, args.seed)
    for request, _ in requests[:5]:
        index.rank(request)  # warm caches (spelling corrections) as a running service would
    rows = []
    lat, ranks = timed(lambda r: [p.service_id for p in index.rank(r).proposals], requests)
    rows.append(report("matcher (index)", lat, quality(ranks, requests, origin)))
    lat, unseen, fresh = timed_unseen(index, requests)
    rows.append(report("matcher, unseen text", lat, quality(unseen, requests, origin)))
    same = "the same rankings" if unseen == ranks else "RANKINGS DIFFER from the warm run"
    print(
        f"unseen text: referral caches emptied before each ranking, {fresh} of {len(requests)} "
        f"read afresh; {same}"
    )

    restart_report(index, requests, Path(args.snapshot_dir) if args.snapshot_dir else None)

    naive_n = args.naive_referrals or (args.referrals if args.services <= 200_000 else 60)
    naive = NaiveScan(services)
    lat, ranks = timed(naive.rank, requests[:naive_n])
    rows.append(report("naive rapidfuzz scan", lat, quality(ranks, requests[:naive_n], origin)))
    del naive

    start = time.perf_counter()
    lexical = LexicalSearch(services)
    lexical_build = time.perf_counter() - start
    print(
        f"sqlite fts5: loaded and indexed in {lexical_build:.1f}s "
        f"(the matcher's index took {build / lexical_build:.1f}x as long)"
    )
    lexical_requests = requests[: args.lexical_referrals or len(requests)]
    lat, ranks = timed(lexical.rank, lexical_requests)
    rows.append(report("sqlite fts5 bm25", lat, quality(ranks, lexical_requests, origin)))
    lexical.close()
    del lexical

    if not args.no_postgres:
        try:
            start = time.perf_counter()
            trigram = TrigramSearch(services, args.dsn)
            print(f"pg_trgm: loaded with COPY and indexed in {time.perf_counter() - start:.1f}s")
            try:
                pg_n = args.pg_referrals or min(args.referrals, 60)
                lat, ranks = timed(trigram.rank, requests[:pg_n])
                rows.append(
                    report("postgres pg_trgm", lat, quality(ranks, requests[:pg_n], origin))
                )
            finally:
                trigram.close()
        except Exception as error:
            print(f"pg_trgm: skipped ({error.__class__.__name__}: {error})")

    print()
    print(f"{'engine':<22}{'n':>6}{'p50 ms':>10}{'p99 ms':>10}{'referrals/s':>12}{'nDCG@5':>12}")
    for line, _ in rows:
        print(line)
    print(f"\nmatcher speed-up over naive scan at p50: {rows[2][1] / rows[0][1]:.0f}x")
    print(f"matcher speed-up over sqlite fts5 at p50: {rows[3][1] / rows[0][1]:.0f}x")
    print("unseen text: the matcher with its referral-text caches emptied (bench_unseen.py)")
    print("nDCG@5: dev referrals in Bexley, a synthetic copy earns its template's grade")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
