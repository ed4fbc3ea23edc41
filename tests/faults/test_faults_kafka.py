"""The production shape under faults: a Kafka-protocol broker (Tansu, reached through a
proxy the test can cut), each service's database on a PostgreSQL server of the test's
own, two matcher replicas in one consumer group sharing one outbox. Every referral ends
with exactly one set of proposals, counted in the databases:

* with no fault, the two matchers' relays publish each outbox row once;
* through SIGKILLs of either matcher at random points;
* through the broker going away during intake (the API keeps accepting, the outbox
  holds the events);
* through a crash-restart of PostgreSQL during processing.
"""

from __future__ import annotations

import random
import time

import pytest

from tests.faults.conftest import FAULTS_LONG, private_postgres
from tests.faults.proxy import Proxy
from tests.faults.system import (
    Intake,
    away_during_intake,
    kafka_topic_values,
    kill_at_random,
    matches_published,
    report,
    wait_until_drained,
)
from tools.cluster import SERVICES, Broker, Cluster, free_port

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.kafka]

MATCHERS = ["matcher-1", "matcher-2"]


@pytest.fixture(scope="module")
def postgres():
    yield from private_postgres()


@pytest.fixture(scope="module")
def proxy():
    proxy = Proxy(free_port(), ("127.0.0.1", free_port())).start()
    yield proxy
    proxy.cut()


@pytest.fixture(scope="module")
def system(tmp_path_factory, postgres, proxy):
    workdir = tmp_path_factory.mktemp("kafka")
    broker = Broker(workdir, port=proxy.target[1], advertised_port=proxy.port).start()
    cluster = Cluster(
        workdir,
        bus="kafka",
        matchers=len(MATCHERS),
        broker=broker,
        databases={name: postgres.create_database(f"sp_{name}") for name in SERVICES},
        extra_env={"SP_POLL_INTERVAL_S": "0.05", "SP_KAFKA_PARTITIONS": "4"},
    ).start()
    yield cluster
    for process in cluster.processes.values():
        process.kill()
    broker.process.kill()


def _check(system: Cluster, intake: Intake, fault: str, injected: int, streamed: int):
    intake.join(timeout_s=streamed / intake.rate + 300)
    result = wait_until_drained(system.database_urls(), intake, timeout_s=180)
    values = kafka_topic_values(system.broker.address)
    published = matches_published(values, set(intake.accepted_ids()))
    report("kafka", fault, streamed, injected, result, published)
    assert not intake.failed, "every submission was accepted in the end"
    assert result.referrals == streamed and result.people_with_two_referrals == 0
    assert result.lost == [] and result.doubled == []
    assert result.proposed_once == streamed
    return published


def test_two_matcher_replicas_publish_each_outbox_row_once(system: Cluster):
    streamed = 1000 if FAULTS_LONG else 120
    intake = Intake(system.referrals_url, streamed, rate=40)
    published = _check(system, intake.start(), "no fault, 2 matchers", 0, streamed)
    assert len(published) == streamed
    assert set(published.values()) == {1}, "no outbox row was published twice"


def test_killing_a_matcher_at_random_loses_nothing_and_doubles_nothing(system: Cluster):
    streamed, kills = (10_000, 20) if FAULTS_LONG else (200, 2)
    intake = Intake(system.referrals_url, streamed, rate=60 if FAULTS_LONG else 40).start()
    done = kill_at_random(system, MATCHERS, kills, random.Random(), while_running=intake)
    published = _check(system, intake, "matcher SIGKILLs", done, streamed)
    assert len(published) == streamed


def test_the_api_keeps_accepting_while_the_broker_is_away(system: Cluster, proxy: Proxy):
    outage_s = 30 if FAULTS_LONG else 6
    away = away_during_intake(system, outage_s, proxy.cut, proxy.restore)
    _check(system, away.intake, f"broker away {outage_s} s", 1, away.streamed)
    assert away.accepted_while_away >= 20 * outage_s, "the API kept accepting"
    assert away.held > 0, "the outbox held the events meanwhile"


def test_services_recover_from_a_postgresql_restart(system: Cluster, postgres):
    down_s = 10 if FAULTS_LONG else 2
    streamed = 1000 if FAULTS_LONG else 160
    intake = Intake(system.referrals_url, streamed, rate=40).start()
    time.sleep(1.5)
    postgres.restart(down_s=down_s, mode="immediate")
    _check(system, intake, f"PostgreSQL crash-restart, down {down_s} s", 1, streamed)
