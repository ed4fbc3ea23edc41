"""A process killed outright (SIGKILL, no shutdown) in the middle of the flow loses
nothing and duplicates nothing: after a restart every referral is matched once."""

from __future__ import annotations

import os
import random

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from services.layout import database_layout
from services.matcher import store as matcher_store
from services.referrals import store as referrals_store
from tests.e2e.system import REFERRAL, eventually
from tests.e2e.test_embedded_run import _free_base_port, _start, _stop, _up

pytestmark = [pytest.mark.faults, pytest.mark.slow]


def _nhs_number(rng: random.Random) -> str:
    while True:
        digits = [rng.randint(0, 9) for _ in range(9)]
        check = 11 - sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11
        if check != 10:
            return "".join(map(str, digits)) + str(0 if check == 11 else check)


def test_a_killed_process_resumes_from_its_outbox_and_positions(tmp_path):
    base = _free_base_port()
    db_url = f"sqlite:///{tmp_path / 'socialrx.db'}"
    env = {
        **os.environ,
        "SP_DATABASE_URL": db_url,
        "SP_DATA_DIR": str(tmp_path),
        "SP_PORT": str(base),
        "SP_POLL_INTERVAL_S": "0.05",
    }
    referrals = f"http://127.0.0.1:{base + 1}"
    rng = random.Random(11)
    process = _start(env)
    try:
        eventually(lambda: _up(f"{referrals}/readyz"), timeout_s=60)
        token = httpx.post(
            f"{referrals}/auth/token", data={"username": "gp", "password": "demo"}
        ).json()["access_token"]
        gp = {"Authorization": f"Bearer {token}"}
        ids = []
        for n in range(8):
            body = dict(
                REFERRAL,
                nhs_number=_nhs_number(rng),
                family_name=f"Crash-{n}",
                birth_date=f"{1950 + n}-05-0{1 + n}",
            )
            created = httpx.post(f"{referrals}/referrals", json=body, headers=gp)
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])
    finally:
        process.kill()  # no graceful shutdown: workers die wherever they are
        process.communicate(timeout=30)

    process = _start(env)
    try:
        eventually(lambda: _up(f"{referrals}/readyz"), timeout_s=60)
        for referral_id in ids:
            eventually(
                lambda r=referral_id: (
                    httpx.get(f"{referrals}/referrals/{r}", headers=gp).json()["status"]
                    == "matches_proposed"
                ),
                timeout_s=60,
            )
    finally:
        _stop(process)

    layout = database_layout(db_url)  # each service keeps its own SQLite file
    matcher_db = create_engine(layout["matcher"])
    with matcher_db.connect() as conn:
        per_referral = dict(
            conn.execute(
                select(matcher_store.outbox.c.key, func.count()).group_by(
                    matcher_store.outbox.c.key
                )
            ).all()
        )
    matcher_db.dispose()
    referrals_db = create_engine(layout["referrals"])
    with referrals_db.connect() as conn:
        unpublished = conn.execute(
            select(func.count())
            .select_from(referrals_store.outbox)
            .where(referrals_store.outbox.c.published_at.is_(None))
        ).scalar_one()
    referrals_db.dispose()
    assert {r: per_referral.get(r) for r in ids} == dict.fromkeys(ids, 1)
    assert unpublished == 0
