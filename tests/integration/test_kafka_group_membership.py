"""Consumer-group membership on a real Kafka-protocol broker: members started, stopped and
restarted repeatedly are each assigned partitions within a bound, and none lingers as a
ghost. Members run exactly as a service runs them (``Runtime.add_consumer``), because the
loop around ``poll`` decides whether a join in flight completes."""

from __future__ import annotations

import os
import time
import uuid

import pytest

from shared.auth import TokenService
from shared.bus.consumer import Registry
from shared.bus.kafka import KafkaBus
from shared.bus.outbox import processed_events_table
from shared.db import make_engine, make_session_factory
from shared.events import ReferralClosed
from shared.runtime import Runtime
from shared.workers import Workers
from tests.conftest import make_settings

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

SESSION_TIMEOUT_MS = 4000
PARTITIONS = 6
BOUND_S = 3 * SESSION_TIMEOUT_MS / 1000
#: leave-and-restart rounds: two in CI, more with SP_FAULTS_LONG=1
ROUNDS = 6 if os.environ.get("SP_FAULTS_LONG") == "1" else 2


class Member:
    """One service process's consumer of the group, started and stopped on demand."""

    def __init__(self, name: str, bootstrap: str, prefix: str, tmp_path) -> None:
        self.name = name
        settings = make_settings(
            f"sqlite:///{tmp_path / f'{name}.db'}",
            tmp_path,
            bus="kafka",
            topic_prefix=prefix,
            kafka_bootstrap_servers=bootstrap,
            kafka_partitions=PARTITIONS,
            kafka_session_timeout_ms=SESSION_TIMEOUT_MS,
            kafka_heartbeat_interval_ms=1000,
            poll_interval_s=0.05,  # shorter than the production 0.2 s: the harder case
            instance_id=name,
        )
        engine = make_engine(settings.database_url)
        processed = processed_events_table(_metadata(), "member")
        processed.metadata.create_all(engine)
        self.runtime = Runtime(
            service="member",
            settings=settings,
            engine=engine,
            sessions=make_session_factory(engine),
            read_sessions=make_session_factory(engine),
            bus=KafkaBus.from_settings(settings),
            outbox=None,  # type: ignore[arg-type]
            tokens=TokenService("x" * 32, "test", None),  # type: ignore[arg-type]
            workers=Workers(idle_wait_s=settings.poll_interval_s),
        )
        self.consumer = self.runtime.add_consumer(
            "members", Registry({ReferralClosed: lambda *a: None}), processed
        )
        self.runtime.workers.start()

    def assigned(self) -> set[tuple[str, int]]:
        subscription = self.consumer._subscription
        return subscription.assigned_partitions() if subscription else set()

    def stop(self) -> None:
        self.runtime.close()


def _metadata():
    from sqlalchemy import MetaData

    return MetaData()


def _settled(members: list[Member]) -> bool:
    """Every live member owns partitions, none twice, and together all of them: a ghost
    member (one the broker still counts) would be given partitions no live member owns.
    (kafka-python cannot decode Tansu's DescribeGroups answer, so the broker's member
    list is not read directly.)"""
    owned = [m.assigned() for m in members]
    every = set().union(*owned)
    disjoint = sum(len(o) for o in owned) == len(every)
    return all(owned) and disjoint and len(every) == PARTITIONS


def _wait_settled(members: list[Member]) -> float:
    started = time.monotonic()
    while time.monotonic() - started < BOUND_S:
        if _settled(members):
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(
        f"not settled within {BOUND_S}s: {[(m.name, sorted(m.assigned())) for m in members]}"
    )


def test_members_joining_leaving_and_restarting_are_assigned_promptly_without_ghosts(
    kafka_bootstrap, tmp_path
):
    prefix = f"t{uuid.uuid4().hex[:8]}."
    KafkaBus(kafka_bootstrap, prefix=prefix, partitions=PARTITIONS).ensure_topics(["referrals.v1"])
    live: list[Member] = []
    timings = []
    try:
        for n in range(3):
            live.append(Member(f"m{n}", kafka_bootstrap, prefix, tmp_path))
        timings.append(_wait_settled(live))
        for round_ in range(ROUNDS):
            leaving = live.pop(round_ % len(live))
            leaving.stop()
            timings.append(_wait_settled(live))
            # The same member restarts, as a process does after a crash or a deploy.
            live.append(Member(leaving.name, kafka_bootstrap, prefix, tmp_path))
            timings.append(_wait_settled(live))
    finally:
        for member in live:
            member.stop()
    print(f"\nsettled after each change in {[round(t, 1) for t in timings]} s (bound {BOUND_S})")
