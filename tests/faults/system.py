"""What the fault tests share: a stream of referrals that keeps trying through outages,
and the tally of what became of them, read from the services' databases (not logs)."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta

import httpx
from sqlalchemy import create_engine, func, select

from services.matcher import store as matcher_store
from services.referrals import store as referrals_store
from shared.events import MATCHES_TOPIC, decode
from tools.load import People

__all__ = [
    "Intake",
    "Tally",
    "kill_at_random",
    "matches_published",
    "report",
    "tally",
    "unpublished",
    "wait_until_drained",
]


class _Person(People):
    """The load tool's people, each born on a day of their own and named for this
    stream, so that no two people of any streams look like one to the duplicate check."""

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self.born_from = date(1935, 1, 1) + timedelta(days=self.rng.randrange(3000))
        self.stream = "".join(self.rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(5))

    def referral(self) -> dict:
        body = super().referral()
        body["birth_date"] = (self.born_from + timedelta(days=self.n)).isoformat()
        body["family_name"] = f"{body['family_name'].split('-')[0]}-{self.stream}{self.n}"
        return body


@dataclass
class Intake:
    """Submits ``total`` referrals at ``rate`` a second from ``workers`` threads. Each is
    retried with its own Idempotency-Key until the API answers 201 (or 200: the same
    submission seen before), as a GP system would, while it fails or answers 5xx or 429;
    ``accepted_at`` keeps when each was."""

    referrals_url: str
    total: int
    rate: float
    workers: int = 4
    give_up_s: float = 180
    ids: dict[int, str] = field(default_factory=dict)
    accepted_at: list[float] = field(default_factory=list)
    refusals: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._people = _Person(seed=random.randrange(1 << 30))
        self._bodies = [self._people.referral() for _ in range(self.total)]
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._local = threading.local()
        self._token: str | None = None
        self._run_id = uuid.uuid4().hex
        self.failed: list[int] = []

    def start(self) -> Intake:
        self._thread.start()
        return self

    def join(self, timeout_s: float | None = None) -> None:
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), "the intake did not finish"

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _client(self) -> httpx.Client:
        if not hasattr(self._local, "client"):
            self._local.client = httpx.Client(base_url=self.referrals_url, timeout=10)
        return self._local.client

    def _headers(self) -> dict[str, str]:
        while self._token is None:
            try:
                answer = self._client().post(
                    "/auth/token", data={"username": "gp", "password": "demo"}
                )
                if answer.status_code == 200:
                    self._token = answer.json()["access_token"]
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        return {"Authorization": f"Bearer {self._token}"}

    def _submit(self, n: int) -> None:
        deadline = time.monotonic() + self.give_up_s
        while time.monotonic() < deadline:
            headers = {**self._headers(), "Idempotency-Key": f"{self._run_id}-{n}"}
            try:
                answer = self._client().post("/referrals", json=self._bodies[n], headers=headers)
            except httpx.HTTPError as exc:
                self.refusals[type(exc).__name__] += 1
            else:
                if answer.status_code in (200, 201):
                    self.ids[n] = answer.json()["id"]
                    self.accepted_at.append(time.monotonic())
                    return
                self.refusals[str(answer.status_code)] += 1
                if answer.status_code < 500 and answer.status_code != 429:
                    break  # refused for what it is: trying again changes nothing
            time.sleep(0.2)
        self.failed.append(n)

    def _run(self) -> None:
        started = time.monotonic()
        with ThreadPoolExecutor(self.workers) as pool:
            for n in range(self.total):
                due = started + n / self.rate
                time.sleep(max(0.0, due - time.monotonic()))
                pool.submit(self._submit, n)

    def accepted_ids(self) -> list[str]:
        return list(self.ids.values())

    def nhs_numbers(self) -> list[str]:
        return [body["nhs_number"] for body in self._bodies]

    def accepted_between(self, start: float, end: float) -> int:
        return sum(1 for t in list(self.accepted_at) if start <= t <= end)


@dataclass
class Tally:
    referrals: int
    people_with_two_referrals: int
    proposed_once: int
    lost: list[str]
    doubled: list[str]


def tally(urls: dict[str, str], ids: list[str], nhs_numbers: list[str]) -> Tally:
    """What became of each accepted referral, counted in the databases:
    lost = never reached matches_proposed at the referrals service; doubled = the matcher
    recorded or emitted more than one set of proposals, or the referrals service took
    more than one."""
    r, h = referrals_store.referrals, referrals_store.status_history
    engine = create_engine(urls["referrals"])
    with engine.connect() as conn:
        per_person = conn.execute(
            select(r.c.nhs_number, func.count())
            .where(r.c.nhs_number.in_(nhs_numbers))
            .group_by(r.c.nhs_number)
        ).all()
        history = dict(
            conn.execute(
                select(h.c.referral_id, func.count())
                .where(h.c.to_status == "matches_proposed", h.c.referral_id.in_(ids))
                .group_by(h.c.referral_id)
            ).all()
        )
    engine.dispose()
    o, p = matcher_store.outbox, matcher_store.proposals
    engine = create_engine(urls["matcher"])
    with engine.connect() as conn:
        emitted = dict(
            conn.execute(
                select(o.c.key, func.count())
                .where(o.c.event_type == "MatchesProposed", o.c.key.in_(ids))
                .group_by(o.c.key)
            ).all()
        )
        recorded = dict(
            conn.execute(
                select(p.c.referral_id, func.count())
                .where(p.c.referral_id.in_(ids))
                .group_by(p.c.referral_id)
            ).all()
        )
    engine.dispose()
    lost = [i for i in ids if i not in history]
    doubled = [
        i for i in ids if history.get(i, 0) > 1 or emitted.get(i, 0) > 1 or recorded.get(i, 0) > 1
    ]
    once = sum(1 for i in ids if history.get(i) == emitted.get(i) == recorded.get(i) == 1)
    return Tally(
        referrals=sum(n for _, n in per_person),
        people_with_two_referrals=sum(1 for _, n in per_person if n > 1),
        proposed_once=once,
        lost=lost,
        doubled=doubled,
    )


def wait_until_drained(urls: dict[str, str], intake: Intake, timeout_s: float) -> Tally:
    ids, nhs = intake.accepted_ids(), intake.nhs_numbers()
    deadline = time.monotonic() + timeout_s
    while True:
        result = tally(urls, ids, nhs)
        if not result.lost or time.monotonic() > deadline:
            return result
        time.sleep(1)


def matches_published(values: list[bytes], keys: set[str]) -> Counter:
    """How often each MatchesProposed event (by event id) of these referrals is on the bus."""
    seen: Counter = Counter()
    for value in values:
        envelope = decode(value)
        if envelope.type == "MatchesProposed" and envelope.key in keys:
            seen[envelope.event_id] += 1
    return seen


def sql_log_values(bus_url: str, prefix: str = "") -> list[bytes]:
    from shared.bus.sqllog import event_log

    engine = create_engine(bus_url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(event_log.c.value).where(event_log.c.topic == prefix + MATCHES_TOPIC)
        ).scalars()
        values = [bytes(v) for v in rows]
    engine.dispose()
    return values


def kafka_topic_values(bootstrap: str, prefix: str = "") -> list[bytes]:
    """Every record on the matches topic, read from the beginning without a group."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        topic = prefix + MATCHES_TOPIC
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        values: list[bytes] = []
        idle = 0
        while idle < 3:
            batches = consumer.poll(timeout_ms=1000, max_records=5000)
            idle = 0 if batches else idle + 1
            values += [r.value for records in batches.values() for r in records]
        return values
    finally:
        consumer.close()


def kill_at_random(
    cluster, instances: list[str], kills: int, rng: random.Random, while_running
) -> int:
    """SIGKILL one of ``instances`` at a random moment and start it again, at least
    ``kills`` times and for as long as ``while_running`` (an Intake) runs."""
    done = 0
    while done < kills or while_running.running:
        time.sleep(rng.uniform(0.3, 3.0))
        cluster.restart(rng.choice(instances))
        done += 1
    return done


def report(bus: str, fault: str, streamed: int, injected: int, result: Tally, published) -> None:
    """One line per fault run, for the README's figures (``pytest -s`` shows it)."""
    copies = sum(published.values()) - len(published)
    print(
        f"\nfault {bus} {fault}: {streamed} referrals streamed, {injected} injected,"
        f" proposed once {result.proposed_once}, lost {len(result.lost)},"
        f" doubled {len(result.doubled)}, duplicate referrals {result.people_with_two_referrals},"
        f" republished copies absorbed {copies}",
        flush=True,
    )


def unpublished(url: str) -> int:
    """Events in the referrals service's outbox not yet on the bus."""
    o = referrals_store.outbox
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(
                select(func.count()).select_from(o).where(o.c.published_at.is_(None))
            ).scalar_one()
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Outage:
    intake: Intake
    streamed: int
    accepted_while_away: int  # referrals the API took while the part was away
    held: int  # events the referrals outbox held unpublished by the end of it


def away_during_intake(system, outage_s: float, take_away, bring_back) -> Outage:
    """Stream referrals at 40/s, take a part away (``take_away()``) a second in, bring it
    back ``outage_s`` later (``bring_back()``); the intake goes on to its end."""
    streamed = int(40 * (outage_s + 4))
    intake = Intake(system.referrals_url, streamed, rate=40).start()
    time.sleep(1)
    take_away()
    away_at = time.monotonic()
    time.sleep(outage_s)
    held = unpublished(system.database_urls()["referrals"])
    bring_back()
    return Outage(intake, streamed, intake.accepted_between(away_at, time.monotonic()), held)
