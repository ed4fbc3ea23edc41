"""The whole referral flow over HTTP, on the embedded bus and on Kafka + PostgreSQL:
submit -> matches proposed -> confirmed -> outcome, with capacity and reports updated,
and every event taking effect exactly once."""

from __future__ import annotations

import time
import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, func, select, text

from services.directory import store as directory_store
from services.matcher import store as matcher_store
from services.referrals import store as referrals_store
from shared.events import REFERRALS_TOPIC, decode
from tests.conftest import make_settings
from tests.e2e.system import REFERRAL, System, eventually


def _settings(adapter: str, request, tmp_path):
    if adapter == "sql":
        url = f"sqlite:///{tmp_path / 'embedded.db'}"
        base = make_settings(url, tmp_path, bus="sql", load_demo_data=True)
        return {name: base for name in ("referrals", "directory", "matcher")}
    bootstrap = request.getfixturevalue("kafka_bootstrap")
    base = make_settings(
        "sqlite://",
        tmp_path,
        bus="kafka",
        kafka_bootstrap_servers=bootstrap,
        load_demo_data=True,
        kafka_partitions=3,
    )
    # Production shape: each service its own PostgreSQL database (here: its own schema).
    return {
        name: base.model_copy(update={"database_url": _fresh_pg(request)})
        for name in ("referrals", "directory", "matcher")
    }


def _fresh_pg(request) -> str:
    """A new schema on the test server (pg_url gives one per test; we need three)."""
    server = request.getfixturevalue("pg_server")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    request.addfinalizer(drop)
    return f"{server}?options=-csearch_path%3D{schema}"


@pytest.fixture(
    params=["sql", pytest.param("kafka", marks=[pytest.mark.kafka, pytest.mark.postgres])]
)
def system(request, tmp_path):
    started = time.perf_counter()
    system = System(_settings(request.param, request, tmp_path))
    system.adapter = request.param
    yield system
    system.close()
    print(f"\n[{request.param}] e2e took {time.perf_counter() - started:.1f}s")


def _count(url: str, table, *where) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()
    finally:
        engine.dispose()


def test_a_referral_goes_from_gp_to_group_and_back(system: System):
    rs, ds = system.referrals, system.directory

    # The matcher's replica fills from the directory's events.
    eventually(lambda: system.matcher.get("/replica").json()["services"] >= 100, timeout_s=120)

    # 1. GP practice staff submit a referral.
    submitted = system.as_user("gp", rs, "POST", "/referrals", json=REFERRAL)
    assert submitted.status_code == 201, submitted.text
    referral_id = submitted.json()["id"]
    assert submitted.json()["ward"] is not None

    # 2. The matcher proposes connections, with reasons.
    def proposed():
        body = system.as_user("linkworker", rs, "GET", f"/referrals/{referral_id}").json()
        return body if body["status"] == "matches_proposed" and body["proposals"] else None

    referral = eventually(proposed, timeout_s=120)
    first = referral["proposals"][0]
    assert first["reasons"] and first["score"] > 0
    assert first["breakdown"]["relevance"] > 0, "the score is shown taken apart"
    scores = [p["score"] for p in referral["proposals"]]
    assert scores == sorted(scores, reverse=True), "the scores follow the order"
    assert referral["needs_found"], "the extracted needs are recorded"

    # 3. A link worker confirms the first proposal as a referral to the group.
    service_before = system.as_user("admin", ds, "GET", f"/services/{first['service_id']}")
    free_before = service_before.json()["places_free"]

    # The referrals service learns of services from the same events as the matcher, so its
    # view may be a moment behind the proposals: only that refusal is worth a retry.
    def confirm():
        response = system.as_user(
            "linkworker",
            rs,
            "POST",
            f"/referrals/{referral_id}/connections",
            json={"service_id": first["service_id"], "mode": "referral"},
        )
        behind = response.status_code == 422 and "in the directory" in response.text
        return None if behind else response

    confirmed = eventually(confirm, timeout_s=30)
    assert confirmed.status_code == 201, confirmed.text
    assert "warning" not in confirmed.json(), "proposals name the group that will answer"
    connection_id = confirmed.json()["connection_id"]

    # 4. The directory's capacity ledger takes the place.
    if free_before is not None:
        eventually(
            lambda: (
                system.as_user("admin", ds, "GET", f"/services/{first['service_id']}").json()[
                    "places_free"
                ]
                == max(free_before - 1, 0)
            )
        )

    # 5. The outcome is recorded, and flows to the directory.
    outcome = system.as_user(
        "linkworker",
        rs,
        "POST",
        f"/referrals/{referral_id}/connections/{connection_id}/outcome",
        json={"outcome": "attended"},
    )
    assert outcome.status_code == 200, outcome.text

    settings = {
        name: client.app.state.settings
        for name, client in (("r", rs), ("d", ds), ("m", system.matcher))
    }
    d_url, m_url, r_url = (settings[k].database_url for k in ("d", "m", "r"))
    eventually(
        lambda: (
            _count(
                d_url,
                directory_store.connections,
                directory_store.connections.c.referral_id == referral_id,
                directory_store.connections.c.outcome == "attended",
            )
            == 1
        )
    )

    # 6. Reports: the person counts in demand (one person: suppressed, never shown).
    def demand_of_this_month():
        report = system.as_user(
            "commissioner", ds, "GET", "/reports/demand?preset=this_month"
        ).json()
        return report if report["tables"]["by_category"][0]["people"]["suppressed"] else None

    report = eventually(demand_of_this_month)
    wards = report["tables"]["by_ward"][0]["by_ward"]
    assert wards[referral["ward"]]["suppressed"] is True
    assert system.as_user("gp", ds, "GET", "/reports/demand").status_code == 403

    # Exactly once in effect: one proposal record, one ledger entry, one demand record.
    assert (
        _count(m_url, matcher_store.proposals, matcher_store.proposals.c.referral_id == referral_id)
        == 1
    )
    assert (
        _count(
            d_url,
            directory_store.connections,
            directory_store.connections.c.referral_id == referral_id,
        )
        == 1
    )
    assert _count(
        d_url, directory_store.needs_seen, directory_store.needs_seen.c.referral_id == referral_id
    ) == len(referral["needs_found"]) + len(
        [
            u
            for u in referral["unmet_needs"]
            if u not in {n["phrase"] for n in referral["needs_found"]}
        ]
    )
    assert (
        _count(
            r_url,
            referrals_store.processed_events,
            referrals_store.processed_events.c.consumer_group.like("%referrals"),
        )
        >= 1
    )

    # Each service reports what it did at /metrics.
    matcher_metrics = system.matcher.get("/metrics").text
    assert _sample(
        matcher_metrics, "events_consumed_total", group="matcher", type="ReferralSubmitted"
    )
    assert _sample(matcher_metrics, "events_produced_total", service="matcher", topic="matches.v1")
    assert (
        _sample(matcher_metrics, "consumer_lag", group="matcher", topic="referrals.v1") is not None
    )
    assert _sample(matcher_metrics, "outbox_backlog", service="matcher") is not None
    assert _sample(
        rs.get("/metrics").text,
        "http_requests_total",
        service="referrals",
        method="POST",
        route="/referrals",
        status="201",
    )

    # Redelivering every referral event has no second effect. The ids are already in
    # each group's processed_events (from the first delivery), so wait until every group
    # has received the repeats and recognised them as already processed.
    before = _redeliveries(system)
    repeated = _redeliver_referral_events(system, referral_id)
    expected = {
        (group, event_type): before.get((group, event_type), 0) + count
        for (group, event_type), count in repeated.items()
    }
    eventually(lambda: _redeliveries(system, expected) == expected, timeout_s=60)
    assert (
        _count(
            d_url,
            directory_store.connections,
            directory_store.connections.c.referral_id == referral_id,
        )
        == 1
    )
    assert (
        _count(m_url, matcher_store.proposals, matcher_store.proposals.c.referral_id == referral_id)
        == 1
    )
    assert _count(m_url, matcher_store.outbox, matcher_store.outbox.c.key == referral_id) == 1, (
        "the matcher proposed once, however often the referral arrived"
    )


def _sample(exposition: str, name: str, **labels: str) -> float | None:
    """The value of the first sample called ``name`` whose labels include ``labels``."""
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                return sample.value
    return None


def _redeliveries(system: System, keys=None) -> dict[tuple[str, str], float]:
    """Each consumer group's count of deliveries of events it had already processed."""
    found = {}
    for family in text_string_to_metric_families(system.matcher.get("/metrics").text):
        for sample in family.samples:
            if sample.name == "events_redelivered_total":
                key = (sample.labels["group"], sample.labels["type"])
                if keys is None or key in keys:
                    found[key] = sample.value
    return found


def _redeliver_referral_events(system: System, referral_id: str) -> dict[tuple[str, str], int]:
    """Publish the referral's events a second time, byte for byte, as a broker might;
    returns how many repeats each consumer group should recognise, by event type."""
    from services.asyncapi import consumers
    from shared.bus.port import Record

    r_url = system.referrals.app.state.settings.database_url
    engine = create_engine(r_url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(referrals_store.outbox.c.key, referrals_store.outbox.c.value).where(
                referrals_store.outbox.c.key == referral_id
            )
        ).all()
    engine.dispose()
    events = [decode(r.value) for r in rows]
    assert events and all(e.key == referral_id for e in events)
    system.referrals.app.state.bus.publish([Record(REFERRALS_TOPIC, r.key, r.value) for r in rows])
    repeats: dict[tuple[str, str], int] = {}
    for groups in consumers().values():
        for group, registry in groups.items():
            for event in events:
                if type(event.payload) in registry.handlers:
                    repeats[group, event.type] = repeats.get((group, event.type), 0) + 1
    return repeats
