"""The duplicate check holds under concurrency and stays an index read as data grows.

Two near-simultaneous submissions of the same person create one referral (the second
is answered with the first), on SQLite and on PostgreSQL; and the check's queries read
by index, never by scanning the practice's referrals."""

from __future__ import annotations

import random
import threading
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from services.referrals import store
from tests.integration.test_referrals_api import REFERRAL, _api
from tools.load import nhs_number


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def api(request, tmp_path):
    url = (
        f"sqlite:///{tmp_path / 'r.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    yield from _api(url, tmp_path)


def test_two_near_simultaneous_submissions_of_one_person_create_one_referral(api):
    api.as_("gp")  # token made before the race
    rounds, per_round = 5, 4
    for n in range(rounds):
        body = {**REFERRAL, "family_name": f"Okafor-{n}", "birth_date": f"19{40 + n}-03-02"}
        body["nhs_number"] = nhs_number(random.Random(n))
        start = threading.Barrier(per_round)
        answers = []

        def submit(body=body, start=start, answers=answers) -> None:
            start.wait()
            answers.append(api.call("gp", "POST", "/referrals", json=body))

        threads = [threading.Thread(target=submit) for _ in range(per_round)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(a.status_code for a in answers) == [200] * (per_round - 1) + [201], [
            a.text for a in answers
        ]
        assert len({a.json()["id"] for a in answers}) == 1, "all point to the one referral"
    with api.client.app.state.sessions() as session:
        count = session.execute(select(func.count()).select_from(store.referrals)).scalar_one()
    assert count == rounds


def _plan(session, query) -> str:
    compiled = query.compile(
        dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True}
    )
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET enable_seqscan = off"))  # tiny tables: ask for the index
        rows = session.execute(text(f"EXPLAIN {compiled}")).scalars().all()
    else:
        rows = [r[-1] for r in session.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))]
    return "\n".join(rows)


def test_the_duplicate_check_reads_by_index(api):
    api.refer()
    r = store.referrals.c
    since = datetime.now() - timedelta(days=14)
    recent = (r.practice_ods == "G83001", r.created_at >= since, r.status != "closed")
    with api.client.app.state.sessions() as session:
        for query, index in (
            (
                select(store.referrals).where(*recent, r.nhs_number == "9434765919"),
                "ix_referrals_practice_nhs_created",
            ),
            (
                select(store.referrals).where(*recent, r.birth_date == date(1948, 3, 2)),
                "ix_referrals_practice_birth_created",
            ),
        ):
            plan = _plan(session, query)
            postgres = session.get_bind().dialect.name == "postgresql"
            # PostgreSQL's planner picks either new index for a one-row table.
            assert ("Index" in plan) if postgres else (index in plan), plan
            assert "SCAN referrals_referrals" not in plan and "Seq Scan" not in plan, plan
