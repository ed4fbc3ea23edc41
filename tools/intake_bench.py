"""Intake cost as data grows: POST /referrals p50 with 1,000 and with 100,000 referrals
stored (most of them the practice's own, open and recent, the duplicate check's worst
case), and the duplicate check's query beside the single OR query it replaced (the
baseline), both measured in this run on the same data.

    python -m tools.intake_bench [--sizes 1000,100000] [--posts 200]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from services.referrals import store
from services.referrals.app import create_app
from services.referrals.users import principal_of
from shared.settings import Settings
from tools.load import People, nhs_number


def _fill(app, count: int, practice: str) -> None:
    rng = random.Random(count)
    now = store.now()
    rows = []
    for n in range(count):
        rows.append(
            {
                "id": str(uuid.uuid4()),
                "practice_ods": practice if n % 10 else "Y00001",
                "team": "community-connect",
                "referred_by": "bench",
                "referrer_name": "Bench",
                "status": "submitted",
                "urgency": "routine",
                "given_name": "Person",
                "family_name": f"Stored-{n}",
                "nhs_number": nhs_number(rng),
                "birth_date": date(1930, 1, 1) + timedelta(days=rng.randint(0, 25000)),
                "postcode": "DA5 1GP",
                "preferred_contact": "phone",
                "languages": [],
                "accessibility_needs": [],
                "delivery_modes": [],
                "needs_text": "lonely",
                "need_categories": [],
                "needs_found": [],
                "unmet_needs": [],
                "consent_to_refer": True,
                "consent_to_share": True,
                "consent_recorded_by": "Bench",
                "flagged": False,
                "created_at": now - timedelta(minutes=n % 10_000),
                "updated_at": now,
            }
        )
        if len(rows) == 5000:
            with app.state.sessions.begin() as session:
                session.execute(store.referrals.insert(), rows)
            rows = []
    if rows:
        with app.state.sessions.begin() as session:
            session.execute(store.referrals.insert(), rows)


def _ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def measure(size: int, posts: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings(
            database_url=f"sqlite:///{Path(scratch) / 'r.db'}",
            data_dir=Path(scratch),
            jwt_secret="bench-" + uuid.uuid4().hex,
            run_workers=False,
            load_demo_data=True,
        )
        app = create_app(settings)
        with TestClient(app) as client:
            with app.state.sessions() as session:
                gp = principal_of(session, "gp")
            token = app.state.tokens.issue(gp)
            _fill(app, size, gp.practice_ods)
            people = People(seed=size)
            headers = {"Authorization": f"Bearer {token}"}
            timings = []
            for _ in range(posts):
                body = people.referral()
                started = time.perf_counter()
                answer = client.post("/referrals", json=body, headers=headers)
                timings.append(time.perf_counter() - started)
                assert answer.status_code == 201, answer.text
            old, new = _query_timings(app, gp.practice_ods, people)
    return {"post_p50_ms": _ms(timings), "or_query_ms": _ms(old), "two_reads_ms": _ms(new)}


def _query_timings(app, practice: str, people: People) -> tuple[list[float], list[float]]:
    r = store.referrals.c
    since = store.now() - timedelta(days=14)
    old, new = [], []
    with app.state.sessions() as session:
        for _ in range(100):
            body = people.referral()
            born = date.fromisoformat(body["birth_date"])
            started = time.perf_counter()
            session.execute(
                select(store.referrals).where(
                    r.practice_ods == practice,
                    r.status != "closed",
                    r.created_at >= since,
                    (r.nhs_number == body["nhs_number"]) | (r.birth_date == born),
                )
            ).all()
            old.append(time.perf_counter() - started)
            started = time.perf_counter()
            store.open_referrals_like(session, practice, body["nhs_number"], born, since)
            new.append(time.perf_counter() - started)
    return old, new


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--posts", type=int, default=200)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    results = {size: measure(size, args.posts) for size in sizes}
    print(
        f"{'stored':>8}  {'POST p50 ms':>11}  {'old OR query ms':>15}  {'two index reads ms':>18}"
    )
    for size, r in results.items():
        print(
            f"{size:>8}  {r['post_p50_ms']:>11.2f}  {r['or_query_ms']:>15.3f}"
            f"  {r['two_reads_ms']:>18.3f}"
        )
    first, last = results[sizes[0]], results[sizes[-1]]
    print(
        f"POST p50 at {sizes[-1]:,} / at {sizes[0]:,}: "
        f"{last['post_p50_ms'] / first['post_p50_ms']:.2f}x (target <= 1.5x); "
        f"old OR query {last['or_query_ms'] / first['or_query_ms']:.1f}x"
    )


if __name__ == "__main__":
    main()
