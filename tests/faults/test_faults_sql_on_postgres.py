"""The SQL event log as a broker of its own: each service's database on one PostgreSQL
server of the test's own, the event log on a second, each service a process. Taking the
event log's server away during intake leaves the API accepting and the outboxes holding
the events; a crash-restart of the services' server during processing is recovered from
without anyone's help. Either way every referral ends proposed exactly once."""

from __future__ import annotations

import time

import pytest

from tests.faults.conftest import FAULTS_LONG, private_postgres
from tests.faults.system import (
    Intake,
    away_during_intake,
    matches_published,
    report,
    sql_log_values,
    wait_until_drained,
)
from tools.cluster import SERVICES, Cluster

pytestmark = [pytest.mark.faults, pytest.mark.slow]


@pytest.fixture(scope="module")
def services_pg():
    yield from private_postgres()


@pytest.fixture(scope="module")
def log_pg():
    yield from private_postgres()


@pytest.fixture(scope="module")
def system(tmp_path_factory, services_pg, log_pg):
    cluster = Cluster(
        tmp_path_factory.mktemp("sql-on-postgres"),
        bus="sql",
        databases={name: services_pg.create_database(f"sp_{name}") for name in SERVICES},
        bus_database_url=log_pg.create_database("sp_event_log"),
        extra_env={"SP_POLL_INTERVAL_S": "0.05"},
    ).start()
    yield cluster
    for process in cluster.processes.values():
        process.kill()


def _check(system: Cluster, intake: Intake, fault: str, streamed: int) -> None:
    intake.join(timeout_s=streamed / intake.rate + 300)
    result = wait_until_drained(system.database_urls(), intake, timeout_s=180)
    published = matches_published(
        sql_log_values(system.bus_database_url), set(intake.accepted_ids())
    )
    report("sql", fault, streamed, 1, result, published)
    assert not intake.failed, "every submission was accepted in the end"
    assert result.referrals == streamed and result.people_with_two_referrals == 0
    assert result.lost == [] and result.doubled == []
    assert result.proposed_once == streamed


def test_the_api_keeps_accepting_while_the_event_log_is_away(system: Cluster, log_pg):
    outage_s = 30 if FAULTS_LONG else 6
    away = away_during_intake(system, outage_s, lambda: log_pg.stop("fast"), log_pg.start)
    _check(system, away.intake, f"event log away {outage_s} s", away.streamed)
    assert away.accepted_while_away >= 20 * outage_s, "the API kept accepting"
    assert away.held > 0, "the outbox held the events meanwhile"


def test_services_recover_from_a_postgresql_restart(system: Cluster, services_pg):
    down_s = 10 if FAULTS_LONG else 2
    streamed = 1000 if FAULTS_LONG else 160
    intake = Intake(system.referrals_url, streamed, rate=40).start()
    time.sleep(1.5)
    services_pg.restart(down_s=down_s, mode="immediate")
    _check(system, intake, f"PostgreSQL crash-restart, down {down_s} s", streamed)
