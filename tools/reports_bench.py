"""How fast the commissioners' reports answer: each report's p95 over the demo year and
over a synthetic history of a million referrals, beside the naive approach.

    python -m tools.reports_bench --demo-db var/socialrx.db --referrals 1000000

The reports are sums over the read model's monthly cells (``readmodel.py``) and a few
indexed reads of the capacity ledger, then the privacy step. The naive approach is what
the reports would do without the read model: read every referral of the period (and the
period before, for the comparison) with its categories and sum each one's contribution
in a Python loop; it is timed once per database, as it is the same work for every
report. The synthetic history is written straight into the read model and the ledger
(not played through the services: a million referrals that way would take hours).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

from sqlalchemy import func, select

from services.directory import insights, store
from services.directory import readmodel as rm
from shared.db import make_engine, make_session_factory
from shared.settings import Settings

PRESET = "last_12_months"
PLACES = Path(__file__).parents[1] / "services" / "referrals" / "data" / "places.json"
NEW_NEEDS = ("astronomy", "bagpipes", "sailing", "rowing river", "bell ringing", "falconry")


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, int(len(ordered) * 0.95 + 0.5) - 1)]


def time_reports(sessions, runs: int, today: date, threshold: int) -> dict[str, float]:
    period = insights.period_for(today, PRESET)
    out = {}
    for name in insights.REPORTS:
        samples = []
        for _ in range(runs):
            with sessions() as session:
                started = time.perf_counter()
                insights.run_report(name, session, period, threshold)
                samples.append(time.perf_counter() - started)
        out[name] = p95(samples)
    return out


def naive(sessions, today: date) -> tuple[float, int]:
    """Seconds to sum the period's cells by a Python loop over the referrals' rows."""
    period = insights.period_for(today, PRESET)
    months = period.previous().month_keys + period.month_keys
    started = time.perf_counter()
    with sessions() as session:
        r, c = rm.referrals, rm.referral_categories
        categories: dict[str, list] = {}
        for row in session.execute(
            select(c).join(r, r.c.referral_id == c.c.referral_id).where(r.c.month.in_(months))
        ):
            categories.setdefault(row.referral_id, []).append(row)
        cells: Counter = Counter()
        count = 0
        for row in session.execute(select(r).where(r.c.month.in_(months))):
            for key, (n, _total) in rm.contributions(
                row, categories.get(row.referral_id, [])
            ).items():
                cells[key] += n
            count += 1
    return time.perf_counter() - started, count


# --- a synthetic history ---------------------------------------------------------------


def synthetic_history(sessions, size: int, months: int, today: date, seed: int = 9) -> None:
    """``size`` referrals over ``months`` months to ``today``, written into the read model
    (journeys, categories, cells, need phrases) and the capacity ledger."""
    rng = random.Random(seed)
    wards = [w["name"] for w in json.loads(PLACES.read_text())["wards"]]
    with sessions() as session:
        services = [
            (s.id, s.organisation_id, s.categories) for s in insights.active_services(session)
        ]
    categories = sorted({c for _, _, cats in services for c in cats})
    by_category = {c: [s for s in services if c in s[2]] for c in categories}
    practices = [f"G9{i:04d}" for i in range(40)]
    first = today.replace(day=1)
    for _ in range(months - 1):
        first = (first - timedelta(days=1)).replace(day=1)
    span = (
        datetime.combine(today, datetime.min.time(), UTC)
        - datetime.combine(first, datetime.min.time(), UTC)
    ).total_seconds()
    start = datetime.combine(first, datetime.min.time(), UTC)
    cells: Counter = Counter()
    totals: Counter = Counter()
    ledger: Counter = Counter()
    organisation_of: dict[str, str] = {}
    batch: dict[str, list] = {"referrals": [], "categories": [], "connections": [], "phrases": []}

    def flush() -> None:
        with sessions.begin() as session:
            for table, rows in (
                (rm.referrals, batch["referrals"]),
                (rm.referral_categories, batch["categories"]),
                (store.connections, batch["connections"]),
                (rm.phrases, batch["phrases"]),
            ):
                if rows:
                    session.execute(table.insert(), rows)
        for rows in batch.values():
            rows.clear()

    for i in range(size):
        rid = f"syn-{i:07d}"
        submitted = start + timedelta(seconds=rng.random() * span)
        ward = rng.choice(wards)
        cats = rng.sample(categories, rng.choice([1, 1, 2]))
        contacted = submitted + timedelta(days=rng.randint(0, 20)) if rng.random() < 0.9 else None
        connected = (
            contacted + timedelta(days=rng.randint(0, 14))
            if contacted and rng.random() < 0.85
            else None
        )
        referral_mode = connected is not None and rng.random() < 0.7
        answered = (
            connected + timedelta(days=rng.randint(0, 10))
            if referral_mode and rng.random() < 0.8
            else None
        )
        accepted = answered is not None and rng.random() < 0.85
        attended = (accepted or (connected and not referral_mode)) and rng.random() < 0.7
        row = SimpleNamespace(
            referral_id=rid,
            practice=rng.choice(practices),
            ward=ward,
            month=rm.month_of(submitted),
            submitted_at=submitted,
            gp_categories=cats,
            matched=True,
            no_service=rng.random() < 0.02,
            contacted_at=contacted,
            connected_at=connected,
            answered_at=answered,
            signposted=bool(connected) and not referral_mode,
            referred_on=referral_mode,
            accepted=accepted,
            attended=bool(attended),
            did_not_attend=bool(connected) and not attended and rng.random() < 0.5,
            completed=bool(attended) and rng.random() < 0.4,
            closed_at=None,
            wellbeing=(
                {k: rng.randint(-2, 4) for k in rm.WELLBEING_ITEMS}
                if attended and rng.random() < 0.6
                else None
            ),
        )
        cat_rows = [
            SimpleNamespace(
                referral_id=rid, category=c, unmet=rng.random() < 0.05, no_place=rng.random() < 0.03
            )
            for c in cats
        ]
        for key, (n, total) in rm.contributions(row, cat_rows).items():
            cells[key] += n
            totals[key] += total
        batch["referrals"].append(vars(row))
        batch["categories"].extend(vars(c) for c in cat_rows)
        if connected is not None and by_category.get(cats[0]):
            service_id, organisation, _ = rng.choice(by_category[cats[0]])
            connection = {
                "connection_id": f"c-{rid}",
                "referral_id": rid,
                "service_id": service_id,
                "mode": "referral" if referral_mode else "signposting",
                "ward": ward,
                "confirmed_on": connected.date(),
                "confirmed_at": connected,
                "organisation_id": organisation,
                "answered_at": answered,
                "accepted": accepted if answered else None,
                "outcome": "attended" if attended else None,
            }
            batch["connections"].append(connection)
            organisation_of[service_id] = organisation
            month = rm.month_of(connected)
            for key, n in rm.ledger_contributions(
                SimpleNamespace(**connection, month=month)
            ).items():
                ledger[key] += n
        if rng.random() < 0.02:
            phrase = rng.choice(NEW_NEEDS)
            batch["phrases"].append(
                {
                    "referral_id": rid,
                    "phrase": phrase,
                    "group_label": phrase,
                    "ward": ward,
                    "month": row.month,
                }
            )
        if len(batch["referrals"]) >= 20_000:
            flush()
    flush()
    names = ("month", "measure", "category", "ward", "practice", "bucket")
    rows = [
        {**dict(zip(names, key, strict=True)), "n": n, "total": totals[key]}
        for key, n in cells.items()
    ]
    with sessions.begin() as session:
        for k in range(0, len(rows), 20_000):
            session.execute(rm.cells.insert(), rows[k : k + 20_000])
        session.execute(
            rm.phrase_groups.insert(), [{"phrase": p, "group_label": p} for p in NEW_NEEDS]
        )
        ledger_names = ("month", "service_id", "measure", "bucket")
        ledger_rows = [
            {
                **dict(zip(ledger_names, k, strict=True)),
                "organisation_id": organisation_of[k[1]],
                "n": n,
            }
            for k, n in ledger.items()
        ]
        session.execute(rm.service_months.insert(), ledger_rows)


def directory_database(folder: Path) -> tuple[object, str]:
    """An empty directory (its migrations, the demo services) in ``folder``."""
    from services.directory.app import create_app

    url = f"sqlite:///{folder / 'synthetic.db'}"
    settings = Settings(database_url=url, data_dir=folder, run_workers=False, load_demo_data=True)
    app = create_app(settings)
    app.state.runtime.close()
    return make_session_factory(make_engine(url)), url


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--demo-db", type=Path, help="a database with the demo year (var/socialrx.db)"
    )
    parser.add_argument("--referrals", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=60, help="months the synthetic history spans")
    parser.add_argument("--runs", type=int, default=20, help="timed runs per report")
    parser.add_argument("--threshold", type=int, default=5)
    args = parser.parse_args(argv)
    today = date.today()
    print("load average before:", _load())
    results = []
    if args.demo_db:
        sessions = make_session_factory(make_engine(f"sqlite:///{args.demo_db}"))
        with sessions() as session:
            count = session.execute(select(func.count()).select_from(rm.referrals)).scalar()
        results.append((f"demo year ({count} referrals)", sessions))
    folder = Path(tempfile.mkdtemp(prefix="reports-bench-"))
    if args.referrals:
        sessions, _ = directory_database(folder)
        started = time.perf_counter()
        synthetic_history(sessions, args.referrals, args.months, today)
        took = time.perf_counter() - started
        made = f"{args.referrals} referrals over {args.months} months"
        print(f"synthetic history: {made} in {took:.0f} s")
        results.append((f"synthetic ({args.referrals} referrals, {args.months} months)", sessions))
    for label, sessions in results:
        p95s = time_reports(sessions, args.runs, today, args.threshold)
        naive_s, rows = naive(sessions, today)
        print(f"\n{label}; period {PRESET} and the one before; p95 of {args.runs} runs")
        loop = f"naive loop over {rows} referrals' rows: {naive_s * 1000:.0f} ms"
        print(f"  {'report':<16}{'p95 ms':>10}   {loop}")
        for name, seconds in p95s.items():
            print(f"  {name:<16}{seconds * 1000:>10.1f}")
    print("\nload average after:", _load())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
