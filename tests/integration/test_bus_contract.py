"""The event-bus contract, run against every adapter: the SQL log and Kafka.

One suite for all adapters keeps them interchangeable: a behaviour the services rely on
is written down here once, and an adapter that drifts from it fails.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from shared.bus.kafka import KafkaBus, KafkaSubscription
from shared.bus.port import EventBus, Message, Record, Subscription
from shared.bus.sqllog import SqlEventLog
from shared.db import make_engine

ORDERS = "orders"
INVOICES = "invoices"


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("kafka", marks=pytest.mark.kafka),
    ]
)
def bus(request: pytest.FixtureRequest) -> EventBus:
    """Each adapter in turn, with topics ``orders`` and ``invoices`` ready."""
    bus = request.getfixturevalue(f"{request.param}_bus")
    bus.ensure_topics([ORDERS, INVOICES])
    return bus


@pytest.fixture
def sqlite_bus(tmp_path) -> Iterator[SqlEventLog]:
    engine = make_engine(f"sqlite:///{tmp_path / 'events.db'}")
    log = SqlEventLog(engine)
    log.create_tables()
    yield log
    engine.dispose()


@pytest.fixture
def postgres_bus(pg_url: str) -> Iterator[SqlEventLog]:
    engine = make_engine(pg_url)
    log = SqlEventLog(engine)
    log.create_tables()
    yield log
    engine.dispose()


@pytest.fixture
def subscribe(bus: EventBus) -> Iterator[Callable[..., Subscription]]:
    """``bus.subscribe`` (or another bus's), closing every subscription after the test."""
    opened: list[Subscription] = []

    def subscribe(group: str, topics: list[str], on: EventBus = bus) -> Subscription:
        opened.append(on.subscribe(group, topics))
        return opened[-1]

    yield subscribe
    for subscription in opened:
        subscription.close()


def _same_store_other_prefix(bus: EventBus) -> EventBus:
    if isinstance(bus, KafkaBus):
        return KafkaBus(
            bus.bootstrap_servers,
            prefix=bus.prefix + "other.",
            session_timeout_ms=bus.session_timeout_ms,
            heartbeat_interval_ms=bus.heartbeat_interval_ms,
        )
    assert isinstance(bus, SqlEventLog)
    return SqlEventLog(bus.engine, prefix=bus.prefix + "other.")


def _poll_until(subscription: Subscription, count: int, timeout_s: float = 45) -> list[Message]:
    """Poll until ``count`` messages arrived; Kafka members first spend seconds joining."""
    messages: list[Message] = []
    deadline = time.monotonic() + timeout_s
    while len(messages) < count and time.monotonic() < deadline:
        messages += subscription.poll(max_records=count - len(messages), timeout_s=0.5)
    assert len(messages) == count, f"got {len(messages)} of {count} messages in {timeout_s}s"
    return messages


def _orders(*values: str, key: str | None = "r1") -> list[Record]:
    return [Record(ORDERS, key, value.encode()) for value in values]


def _values(messages: list[Message]) -> list[str]:
    return [m.value.decode() for m in messages]


def test_records_arrive_in_order_per_key_with_their_key_value_and_topic(bus, subscribe):
    keys = ["r1", "r2", "r3"]
    records = [Record(ORDERS, keys[i % 3], f"{keys[i % 3]}-{i}".encode()) for i in range(30)]
    records += [Record(INVOICES, "r1", b"invoice"), Record(ORDERS, None, b"unkeyed")]
    bus.publish(records)

    received = _poll_until(subscribe("reader", [ORDERS, INVOICES]), len(records))

    for key in keys:
        sent = [r.value for r in records if r.key == key and r.topic == ORDERS]
        assert [m.value for m in received if m.key == key and m.topic == ORDERS] == sent
    assert {(m.topic, m.key, m.value) for m in received} == {
        (r.topic, r.key, r.value) for r in records
    }


def test_every_group_receives_every_message(bus, subscribe):
    bus.publish(_orders("a", "b", "c"))

    for group in ("matcher", "directory"):
        assert _values(_poll_until(subscribe(group, [ORDERS]), 3)) == ["a", "b", "c"]


def _poll_in_small_batches(subscription: Subscription, count: int) -> list[Message]:
    messages: list[Message] = []
    deadline = time.monotonic() + 45
    while len(messages) < count and time.monotonic() < deadline:
        messages += subscription.poll(max_records=20, timeout_s=0.5)
    assert len(messages) == count, f"got {len(messages)} of {count} messages"
    return messages


def test_a_quiet_topic_does_not_hold_back_a_busy_one(bus, subscribe):
    """A group reading two topics gets every message of the busy one, however far it
    runs ahead of the other, in small polls, and again after a commit and a restart.
    (The SQL log once read from the lowest position of its topics: a poll then found
    only messages already returned, and a busy topic stalled until the quiet one moved.)"""
    bus.publish([Record(INVOICES, "r1", b"invoice")])
    bus.publish(_orders(*[f"o{i}" for i in range(150)]))
    first = subscribe("referrals", [ORDERS, INVOICES])
    received = _poll_in_small_batches(first, 151)
    assert sorted(_values(received)) == sorted(["invoice", *[f"o{i}" for i in range(150)]])
    first.commit(*received)
    first.close()

    bus.publish(_orders(*[f"p{i}" for i in range(100)]))
    again = _poll_in_small_batches(subscribe("referrals", [ORDERS, INVOICES]), 100)
    assert _values(again) == [f"p{i}" for i in range(100)]


def test_a_committed_message_is_not_delivered_again_to_its_group(bus, subscribe):
    bus.publish(_orders("a", "b"))
    first = subscribe("matcher", [ORDERS])
    for message in _poll_until(first, 2):
        first.commit(message)
    first.close()

    bus.publish(_orders("c"))
    assert _values(_poll_until(subscribe("matcher", [ORDERS]), 1)) == ["c"]


def test_uncommitted_messages_are_delivered_again_after_a_restart(bus, subscribe):
    bus.publish(_orders("a", "b", "c", "d"))
    first = subscribe("matcher", [ORDERS])
    first.commit(_poll_until(first, 4)[0])
    first.close()

    assert _values(_poll_until(subscribe("matcher", [ORDERS]), 3)) == ["b", "c", "d"]


def test_a_rewound_member_reads_again_after_its_last_commit_and_keeps_its_place(bus, subscribe):
    """What a consumer does when its database fails mid-batch: no restart, no rejoin."""
    bus.publish(_orders("a", "b", "c", "d"))
    subscription = subscribe("matcher", [ORDERS])
    received = _poll_until(subscription, 4)
    subscription.commit(received[1])
    owned = getattr(subscription, "assigned_partitions", set)()

    subscription.rewind()
    assert _values(_poll_until(subscription, 2)) == ["c", "d"]
    assert getattr(subscription, "assigned_partitions", set)() == owned, "no rebalance"


def test_poll_returns_nothing_from_an_empty_topic_within_its_timeout(bus, subscribe):
    subscription = subscribe("matcher", [ORDERS])

    started = time.monotonic()
    assert subscription.poll(timeout_s=0.5) == []
    assert time.monotonic() - started < 2.5


def test_lag_counts_the_messages_not_yet_committed(bus, subscribe):
    bus.publish(_orders("a", "b", "c", "d", "e"))
    subscription = subscribe("matcher", [ORDERS])
    received = _poll_until(subscription, 5)
    assert subscription.lag() == {ORDERS: 5}

    subscription.commit(received[2])
    assert subscription.lag() == {ORDERS: 2}


def test_topics_are_isolated_by_prefix(bus, subscribe):
    other = _same_store_other_prefix(bus)
    other.ensure_topics([ORDERS])
    try:
        bus.publish(_orders("ours"))
        other.publish(_orders("theirs"))

        ours = subscribe("matcher", [ORDERS])
        theirs = subscribe("matcher", [ORDERS], on=other)
        assert _values(_poll_until(ours, 1)) == ["ours"]
        assert _values(_poll_until(theirs, 1)) == ["theirs"]
        assert ours.poll(timeout_s=0.2) == theirs.poll(timeout_s=0.2) == []
    finally:
        other.close()


@pytest.mark.kafka
def test_two_members_of_a_group_split_the_partitions_and_see_each_message_once(kafka_bus):
    """Each member polls in its own thread, as separate worker processes would.

    Polling both from one thread makes kafka-python 3.0 drop a group join that completes
    while the thread is busy with the other member, and the join starts over.
    """
    kafka_bus.ensure_topics([ORDERS])
    members = [kafka_bus.subscribe("matcher", [ORDERS]) for _ in "ab"]
    seen: list[list[Message]] = [[], []]
    stop = threading.Event()

    def work(member: KafkaSubscription, messages: list[Message]) -> None:
        while not stop.is_set():
            for message in member.poll(timeout_s=0.2):
                member.commit(message)
                messages.append(message)

    workers = [threading.Thread(target=work, args=pair) for pair in zip(members, seen, strict=True)]
    for worker in workers:
        worker.start()
    try:
        deadline = time.monotonic() + 30
        while not all(m.assigned_partitions() for m in members) and time.monotonic() < deadline:
            time.sleep(0.1)
        a, b = (m.assigned_partitions() for m in members)
        assert a and b and not a & b
        assert len(a | b) == kafka_bus.partitions

        sent = [Record(ORDERS, f"r{i % 30}", f"{i}".encode()) for i in range(90)]
        kafka_bus.publish(sent)
        while sum(map(len, seen)) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        for worker in workers:
            worker.join()
        for member in members:
            member.close()

    assert all(seen), "each member should receive some of the messages"
    everything = [m.value for messages in seen for m in messages]
    assert sorted(everything) == sorted(r.value for r in sent)
