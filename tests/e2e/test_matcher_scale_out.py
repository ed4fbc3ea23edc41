"""Matchers scale out through a Kafka consumer group: two instances share the referral
partitions, and every referral is matched exactly once between them."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import create_engine, select

from services.matcher import store as matcher_store
from services.matcher.app import create_app as matcher_app
from shared.events import decode
from tests.conftest import make_settings
from tests.e2e.system import REFERRAL, System, eventually
from tests.e2e.test_referral_flow import _fresh_pg

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]

REFERRALS = 16


def _nhs_number(rng: random.Random) -> str:
    while True:
        digits = [rng.randint(0, 9) for _ in range(9)]
        check = 11 - sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11
        check = 0 if check == 11 else check
        if check != 10:
            return "".join(map(str, digits)) + str(check)


def _members(app) -> list:
    consumer = next(c for c in app.state.runtime.consumers if c.group == "matcher")
    subscription = consumer._subscription
    return sorted(subscription.assigned_partitions()) if subscription else []


def test_two_matchers_split_the_referrals_and_match_each_once(request, tmp_path, kafka_bootstrap):
    base = make_settings(
        "sqlite://",
        tmp_path,
        bus="kafka",
        kafka_bootstrap_servers=kafka_bootstrap,
        load_demo_data=True,
        kafka_partitions=4,
    )
    matcher_db = _fresh_pg(request)
    settings = {
        "referrals": base.model_copy(update={"database_url": _fresh_pg(request)}),
        "directory": base.model_copy(update={"database_url": _fresh_pg(request)}),
        "matcher": base.model_copy(update={"database_url": matcher_db, "instance_id": "m1"}),
    }
    system = System(settings)
    second = system._client(
        matcher_app(base.model_copy(update={"database_url": matcher_db, "instance_id": "m2"}))
    )
    try:
        first = system.matcher
        eventually(lambda: first.get("/replica").json()["services"] >= 100, timeout_s=120)

        # Both members own referral partitions, none twice, before any referral arrives
        # (while a rebalance is under way the old owner still lists what it gives up).
        def split() -> bool:
            one, two = set(_members(first.app)), set(_members(second.app))
            return bool(one and two and not one & two)

        eventually(split, timeout_s=120)

        rng = random.Random(7)
        ids = []
        for n in range(REFERRALS):
            body = dict(
                REFERRAL,
                nhs_number=_nhs_number(rng),
                given_name=rng.choice(["Ann", "Bola", "Chen", "Dev", "Eve", "Femi"]),
                family_name=f"Testperson-{n}",
                birth_date=f"{1940 + n}-0{1 + n % 9}-1{n % 10}",
            )
            created = system.as_user("gp", system.referrals, "POST", "/referrals", json=body)
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])

        def all_proposed() -> bool:
            return all(
                system.as_user("linkworker", system.referrals, "GET", f"/referrals/{i}").json()[
                    "status"
                ]
                == "matches_proposed"
                for i in ids
            )

        eventually(all_proposed, timeout_s=120, every_s=0.5)
    finally:
        system.close()

    engine = create_engine(matcher_db)
    with engine.connect() as conn:
        rows = conn.execute(select(matcher_store.outbox.c.value)).scalars().all()
    engine.dispose()
    producers = [decode(value).producer for value in rows]
    keys = [decode(value).key for value in rows]
    assert sorted(keys) == sorted(ids), "every referral matched exactly once"
    assert {p.split("@")[1] for p in producers} == {"m1", "m2"}, "both instances did work"
