"""The embedded default's storage (one SQLite file, the SQL event log), with each service
a process of its own so the matcher can be killed alone: a stream of referrals through
SIGKILLs of the matcher at random points ends with every referral proposed once."""

from __future__ import annotations

import random

import pytest

from tests.faults.conftest import FAULTS_LONG
from tests.faults.system import (
    Intake,
    kill_at_random,
    matches_published,
    report,
    sql_log_values,
    wait_until_drained,
)
from tools.cluster import Cluster

pytestmark = [pytest.mark.faults, pytest.mark.slow]

REFERRALS = 10_000 if FAULTS_LONG else 300
RATE = 60.0 if FAULTS_LONG else 40.0
KILLS = 20 if FAULTS_LONG else 3


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("embedded")
    url = f"sqlite:///{workdir / 'socialrx.db'}"
    cluster = Cluster(
        workdir,
        bus="sql",
        databases=dict.fromkeys(("directory", "referrals", "matcher"), url),
        extra_env={"SP_POLL_INTERVAL_S": "0.05"},
    ).start()
    yield cluster
    cluster.stop()


def test_killing_the_matcher_at_random_loses_nothing_and_doubles_nothing(system: Cluster):
    rng = random.Random()
    intake = Intake(system.referrals_url, REFERRALS, RATE).start()
    kills = kill_at_random(system, ["matcher-1"], KILLS, rng, while_running=intake)
    intake.join(timeout_s=REFERRALS / RATE + 300)
    result = wait_until_drained(system.database_urls(), intake, timeout_s=180)
    published = matches_published(
        sql_log_values(system.database_urls()["matcher"]), set(intake.accepted_ids())
    )
    report("sql", "matcher SIGKILLs", REFERRALS, kills, result, published)
    assert not intake.failed, "every submission was accepted in the end"
    assert kills >= KILLS
    assert result.referrals == REFERRALS and result.people_with_two_referrals == 0
    assert result.lost == [] and result.doubled == []
    assert result.proposed_once == REFERRALS
    # A kill between publishing and marking a row republishes it: consumers absorb that.
    assert len(published) == REFERRALS
