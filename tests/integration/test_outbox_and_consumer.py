"""The transactional outbox and the consumer loop, on SQLite and PostgreSQL:
state and events commit together, redelivery has no second effect, and a message that
can never be processed is dead-lettered with its reason while the consumer moves on."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select, text

from shared.bus.consumer import EventConsumer, Registry
from shared.bus.outbox import Outbox, OutboxRelay, outbox_table, processed_events_table
from shared.bus.port import Record
from shared.bus.sqllog import SqlEventLog
from shared.db import make_engine, make_session_factory
from shared.events import (
    DEAD_LETTER_TOPIC,
    REFERRALS_TOPIC,
    DeadLetter,
    ReferralClosed,
    ReferralOutcomeRecorded,
    decode,
    encode,
    new_envelope,
)

metadata = MetaData()
closures = Table(
    "test_closures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("referral_id", String(64), nullable=False),
)
outbox_rows = outbox_table(metadata, "test")
processed = processed_events_table(metadata, "test")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def parts(db_url):
    engine = make_engine(db_url)
    metadata.create_all(engine)
    bus = SqlEventLog(engine)
    bus.create_tables()
    yield engine, make_session_factory(engine), bus
    engine.dispose()


def _count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def _drain(consumer: EventConsumer, rounds: int = 5) -> None:
    for _ in range(rounds):
        consumer.run_once(timeout_s=0.05)


def test_state_and_event_commit_together_or_not_at_all(parts):
    engine, sessions, _bus = parts
    outbox = Outbox(outbox_rows, "test")
    with pytest.raises(RuntimeError), sessions.begin() as session:
        session.execute(closures.insert().values(referral_id="r1"))
        outbox.add(session, ReferralClosed(referral_id="r1", reason="moved away"))
        raise RuntimeError("crash before commit")
    assert _count(engine, closures) == 0
    assert _count(engine, outbox_rows) == 0

    with sessions.begin() as session:
        session.execute(closures.insert().values(referral_id="r1"))
        outbox.add(session, ReferralClosed(referral_id="r1", reason="moved away"))
    assert _count(engine, closures) == 1
    assert _count(engine, outbox_rows) == 1


class _CrashAfterPublish:
    """A bus whose process dies right after publishing, before the outbox is marked."""

    def __init__(self, bus) -> None:
        self.bus = bus

    def publish(self, records) -> None:
        self.bus.publish(records)
        raise SystemExit("killed between publish and mark")


def test_a_relay_crash_after_publishing_loses_nothing_and_duplicates_nothing(parts):
    engine, sessions, bus = parts
    outbox = Outbox(outbox_rows, "test")
    with sessions.begin() as session:
        outbox.add(session, ReferralClosed(referral_id="r1", reason="done"))

    with pytest.raises(SystemExit):
        OutboxRelay(engine, outbox_rows, _CrashAfterPublish(bus), "test").run_once()
    assert OutboxRelay(engine, outbox_rows, bus, "test").run_once() == 1  # published again
    assert OutboxRelay(engine, outbox_rows, bus, "test").run_once() == 0

    effects = []
    consumer = EventConsumer(
        bus=bus,
        group="closer",
        registry=Registry({ReferralClosed: lambda s, e, env: effects.append(e.referral_id)}),
        sessions=sessions,
        processed=processed,
    )
    _drain(consumer)
    assert effects == ["r1"], "two deliveries, one effect"


def _consumer(bus, sessions, handler, attempts=3, ignored=()):
    return EventConsumer(
        bus=bus,
        group="closer",
        registry=Registry({ReferralClosed: handler}, ignored=frozenset(ignored)),
        sessions=sessions,
        processed=processed,
        max_attempts=attempts,
        retry_backoff_s=0,
    )


def _event_bytes(referral_id: str) -> bytes:
    from shared.events import encode, new_envelope

    return encode(new_envelope(ReferralClosed(referral_id=referral_id, reason="x"), "test"))


def _dead_letters(bus) -> list[DeadLetter]:
    sub = bus.subscribe("inspector", [DEAD_LETTER_TOPIC])
    return [DeadLetter.model_validate_json(m.value) for m in sub.poll(timeout_s=0.2)]


def test_the_handler_effect_and_the_processed_mark_share_a_transaction(parts):
    engine, sessions, bus = parts

    def close(session, event, _env):
        session.execute(closures.insert().values(referral_id=event.referral_id))

    raw = _event_bytes("r1")
    bus.publish([Record(REFERRALS_TOPIC, "r1", raw)] * 3)
    _drain(_consumer(bus, sessions, close))
    _drain(_consumer(bus, sessions, close))  # a restarted consumer sees nothing new
    assert _count(engine, closures) == 1
    assert _count(engine, processed) == 1


def test_undecodable_messages_are_dead_lettered_with_reason_and_bytes(parts):
    _engine, sessions, bus = parts
    effects = []
    bus.publish(
        [
            Record(REFERRALS_TOPIC, "x", b"not json at all"),
            Record(REFERRALS_TOPIC, "y", json.dumps({"type": "ReferralClosed"}).encode()),
            Record(REFERRALS_TOPIC, "r2", _event_bytes("r2")),
        ]
    )
    _drain(_consumer(bus, sessions, lambda s, e, env: effects.append(e.referral_id)))
    assert effects == ["r2"], "the consumer moved on past the poison"
    letters = _dead_letters(bus)
    assert [letter.original for letter in letters] == [
        b"not json at all",
        json.dumps({"type": "ReferralClosed"}).encode(),
    ]
    assert all("invalid event" in letter.error for letter in letters)
    assert letters[0].consumer_group == "closer" and letters[0].source_topic == REFERRALS_TOPIC


def test_a_handler_that_keeps_failing_is_dead_lettered_after_n_attempts(parts):
    engine, sessions, bus = parts
    attempts = []

    def flaky(session, event, _env):
        session.execute(closures.insert().values(referral_id=event.referral_id))
        if event.referral_id == "bad":
            attempts.append(1)
            raise ValueError("service s-1 does not exist")

    bus.publish(
        [
            Record(REFERRALS_TOPIC, "bad", _event_bytes("bad")),
            Record(REFERRALS_TOPIC, "ok", _event_bytes("ok")),
        ]
    )
    _drain(_consumer(bus, sessions, flaky, attempts=3))
    assert len(attempts) == 3
    with engine.connect() as conn:
        done = conn.execute(select(closures.c.referral_id)).scalars().all()
    assert done == ["ok"], "failed attempts left no partial effect"
    (letter,) = _dead_letters(bus)
    assert letter.attempts == 3
    assert "service s-1 does not exist" in letter.error
    assert decode(letter.original).payload.referral_id == "bad"


def test_an_event_the_registry_does_not_name_is_dead_lettered_not_dropped(parts):
    _engine, sessions, bus = parts
    effects = []
    outcome = ReferralOutcomeRecorded(
        referral_id="r3", connection_id="c1", service_id="s1", outcome="attended"
    )
    bus.publish(
        [
            Record(REFERRALS_TOPIC, "r3", encode(new_envelope(outcome, "test"))),
            Record(REFERRALS_TOPIC, "r4", _event_bytes("r4")),
        ]
    )
    _drain(_consumer(bus, sessions, lambda s, e, env: effects.append(e.referral_id)))
    assert effects == ["r4"]
    (letter,) = _dead_letters(bus)
    assert letter.error == "no handler for ReferralOutcomeRecorded in consumer group closer"
    assert decode(letter.original).payload == outcome


def test_an_event_the_registry_ignores_is_passed_over_without_a_dead_letter(parts):
    _engine, sessions, bus = parts
    effects = []
    outcome = ReferralOutcomeRecorded(
        referral_id="r3", connection_id="c1", service_id="s1", outcome="attended"
    )
    bus.publish(
        [
            Record(REFERRALS_TOPIC, "r3", encode(new_envelope(outcome, "test"))),
            Record(REFERRALS_TOPIC, "r4", _event_bytes("r4")),
        ]
    )
    consumer = _consumer(
        bus,
        sessions,
        lambda s, e, env: effects.append(e.referral_id),
        ignored=[ReferralOutcomeRecorded],
    )
    _drain(consumer)
    assert effects == ["r4"]
    assert _dead_letters(bus) == []
    assert consumer.subscription.lag() == {REFERRALS_TOPIC: 0}, "both committed"


@pytest.mark.postgres
def test_several_relays_on_one_outbox_publish_each_row_once(pg_url):
    import threading

    engine = make_engine(pg_url)
    metadata.create_all(engine)
    bus = SqlEventLog(engine)
    bus.create_tables()
    sessions = make_session_factory(engine)
    outbox = Outbox(outbox_rows, "test")
    for n in range(30):
        with sessions.begin() as session:
            for m in range(20):
                outbox.add(session, ReferralClosed(referral_id=f"r{n}-{m}", reason="x"))
    relays = [OutboxRelay(engine, outbox_rows, bus, "test") for _ in range(4)]
    start = threading.Barrier(len(relays))

    def relay_until_empty(relay: OutboxRelay) -> None:
        start.wait()
        while relay.backlog():
            relay.run_once(batch=25)

    threads = [threading.Thread(target=relay_until_empty, args=(r,)) for r in relays]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    subscription = bus.subscribe("inspector", [REFERRALS_TOPIC])
    published = []
    while batch := subscription.poll(max_records=500, timeout_s=0.2):
        published += [decode(m.value).payload.referral_id for m in batch]
    engine.dispose()
    written = [f"r{n}-{m}" for n in range(30) for m in range(20)]
    assert len(published) == len(set(published)) == 600, "no row published twice"
    assert published == written, "in the order written"


@pytest.mark.postgres
def test_outbox_events_are_compressed_with_lz4_on_postgresql(pg_url):
    """pglz, PostgreSQL's default, cost twice lz4's server CPU per event stored."""
    engine = make_engine(pg_url)
    metadata.create_all(engine)
    with engine.connect() as conn:
        has_lz4 = conn.execute(
            text(
                "SELECT 'lz4' = ANY(enumvals) FROM pg_settings"
                " WHERE name = 'default_toast_compression'"
            )
        ).scalar_one()
    if not has_lz4:
        engine.dispose()
        pytest.skip("this PostgreSQL server was built without lz4")
    with engine.begin() as conn:
        conn.execute(
            outbox_rows.insert().values(
                event_id="e-1",
                event_type="ReferralClosed",
                topic=REFERRALS_TOPIC,
                key="r-1",
                value=b'{"reason": "completed"} ' * 400,  # 9.6 KB, compressible
                created_at=func.now(),
            )
        )
    with engine.connect() as conn:
        method = conn.execute(select(func.pg_column_compression(outbox_rows.c.value))).scalar_one()
    engine.dispose()
    assert method == "lz4"


def test_prepared_work_runs_before_the_write_transaction_and_reaches_the_handler(tmp_path):
    """``Registry.prepare`` (the matcher's ranking) runs in a session that only reads,
    before the batch's write transaction: on SQLite another writer can commit while it
    runs, where inside the transaction it would find the file locked."""
    import sqlite3

    from shared.db import reader

    path = tmp_path / "test.db"
    engine = make_engine(f"sqlite:///{path}")
    metadata.create_all(engine)
    bus = SqlEventLog(engine)
    bus.create_tables()
    sessions = make_session_factory(engine)
    seen, written_meanwhile = [], []

    def prepare(session, event, _env):
        other = sqlite3.connect(path, timeout=0.2, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # fails with "database is locked" in a txn
            other.execute("INSERT INTO test_closures (referral_id) VALUES ('meanwhile')")
            other.execute("COMMIT")
            written_meanwhile.append(event.referral_id)
        finally:
            other.close()
        return f"ranked {event.referral_id}"

    def handler(session, event, _env, *, prepared=None):
        seen.append(prepared)
        session.execute(closures.insert().values(referral_id=event.referral_id))

    consumer = EventConsumer(
        bus=bus,
        group="closer",
        registry=Registry({ReferralClosed: handler}, prepare={ReferralClosed: prepare}),
        sessions=sessions,
        read_sessions=make_session_factory(reader(engine)),
        processed=processed,
    )
    bus.publish([Record(REFERRALS_TOPIC, f"r{i}", _event_bytes(f"r{i}")) for i in range(3)])
    _drain(consumer)
    engine.dispose()

    assert seen == ["ranked r0", "ranked r1", "ranked r2"]
    assert written_meanwhile == ["r0", "r1", "r2"]


def test_a_registry_refuses_preparation_for_a_class_it_does_not_handle():
    with pytest.raises(ValueError, match="prepared but not handled"):
        Registry({ReferralClosed: print}, prepare={ReferralOutcomeRecorded: print})


def _outcome_bytes(referral_id: str) -> bytes:
    outcome = ReferralOutcomeRecorded(
        referral_id=referral_id, connection_id="c1", service_id="s1", outcome="attended"
    )
    return encode(new_envelope(outcome, "test"))


def test_a_batch_handler_gets_each_run_of_new_events_of_its_class_in_one_call(parts):
    """``A A B A``: the batch handler of A is called with [a1, a2], then B's handler,
    then A's with [a3]; an event already processed and a second copy in the batch are
    left out; the effects and the processed marks commit in the one transaction."""
    engine, sessions, bus = parts
    calls = []

    def close_all(session, items):
        calls.append([payload.referral_id for payload, _env in items])
        assert all(env.payload is payload for payload, env in items)
        session.execute(closures.insert(), [{"referral_id": p.referral_id} for p, _ in items])

    def outcome(session, event, _env):
        calls.append(f"outcome {event.referral_id}")

    seen_before = _event_bytes("r0")
    consumer = EventConsumer(
        bus=bus,
        group="closer",
        registry=Registry(
            {ReferralOutcomeRecorded: outcome}, batch_handlers={ReferralClosed: close_all}
        ),
        sessions=sessions,
        processed=processed,
    )
    bus.publish([Record(REFERRALS_TOPIC, "r0", seen_before)])
    _drain(consumer)
    assert calls == [["r0"]]
    calls.clear()
    a2 = _event_bytes("r2")
    bus.publish(
        [
            Record(REFERRALS_TOPIC, "r1", _event_bytes("r1")),
            Record(REFERRALS_TOPIC, "r0", seen_before),  # redelivered: no second effect
            Record(REFERRALS_TOPIC, "r2", a2),
            Record(REFERRALS_TOPIC, "r2", a2),  # the same event twice in one batch
            Record(REFERRALS_TOPIC, "o1", _outcome_bytes("o1")),
            Record(REFERRALS_TOPIC, "r3", _event_bytes("r3")),
        ]
    )
    _drain(consumer)
    assert calls == [["r1", "r2"], "outcome o1", ["r3"]]
    assert _closed(engine) == ["r0", "r1", "r2", "r3"]
    assert _count(engine, processed) == 5


def _close_each(session, items) -> None:
    """A batch handler's work: a closure row per item; the item "bad" fails the batch."""
    for payload, _env in items:
        session.execute(closures.insert().values(referral_id=payload.referral_id))
        if payload.referral_id == "bad":
            raise ValueError("service s-1 does not exist")


def _closed(engine) -> list[str]:
    """The referrals closed, in the order their rows were written."""
    with engine.connect() as conn:
        query = select(closures.c.referral_id).order_by(closures.c.id)
        return list(conn.execute(query).scalars())


def test_a_failing_batch_handler_is_retried_one_item_at_a_time(parts):
    engine, sessions, bus = parts
    calls = []

    def close_all(session, items):
        calls.append([payload.referral_id for payload, _env in items])
        _close_each(session, items)

    consumer = EventConsumer(
        bus=bus,
        group="closer",
        registry=Registry(batch_handlers={ReferralClosed: close_all}),
        sessions=sessions,
        processed=processed,
        max_attempts=3,
        retry_backoff_s=0,
    )
    bus.publish([Record(REFERRALS_TOPIC, r, _event_bytes(r)) for r in ("ok1", "bad", "ok2")])
    _drain(consumer)
    # The run of three, then each alone; "bad" three times alone (the run was nobody's
    # attempt in particular), then it is dead-lettered.
    assert calls == [["ok1", "bad", "ok2"], ["ok1"], ["bad"], ["bad"], ["bad"], ["ok2"]]
    assert _closed(engine) == ["ok1", "ok2"], "failed attempts left no partial effect"
    (letter,) = _dead_letters(bus)
    assert letter.attempts == 3 and "s-1 does not exist" in letter.error


def test_a_batch_handlers_preparation_takes_the_polls_items_at_once_before_its_transaction(
    parts,
):
    """The matcher refreshes its replica once per poll, not once per referral: a batch
    handler's ``prepare`` is called once with the items of its class and its results
    reach the handler as ``prepared``, item by item; a retry alone prepares its item
    again in the transaction."""
    engine, sessions, bus = parts
    prepared_calls, handled = [], []

    def rank_all(session, items):
        prepared_calls.append([payload.referral_id for payload, _env in items])
        return [f"ranked {payload.referral_id}" for payload, _env in items]

    def close_all(session, items, *, prepared):
        handled.append(list(prepared))
        _close_each(session, items)

    consumer = EventConsumer(
        bus=bus,
        group="closer",
        registry=Registry(
            batch_handlers={ReferralClosed: close_all}, prepare={ReferralClosed: rank_all}
        ),
        sessions=sessions,
        processed=processed,
        max_attempts=1,
        retry_backoff_s=0,
    )
    bus.publish([Record(REFERRALS_TOPIC, r, _event_bytes(r)) for r in ("r1", "r2", "r3")])
    _drain(consumer)
    assert prepared_calls == [["r1", "r2", "r3"]]
    assert handled == [["ranked r1", "ranked r2", "ranked r3"]]

    prepared_calls.clear()
    handled.clear()
    bus.publish([Record(REFERRALS_TOPIC, r, _event_bytes(r)) for r in ("r4", "bad")])
    _drain(consumer)
    assert prepared_calls == [["r4", "bad"], ["r4"], ["bad"]]
    assert handled == [["ranked r4", "ranked bad"], ["ranked r4"], ["ranked bad"]]
    assert len(_dead_letters(bus)) == 1
    assert _closed(engine) == ["r1", "r2", "r3", "r4"]


def test_a_batch_handler_takes_its_dependencies_from_bind_and_counts_as_consumed():
    def close_all(session, items, *, outbox):
        raise AssertionError("never called")

    registry = Registry(batch_handlers={ReferralClosed: close_all})
    assert registry.consumed == (ReferralClosed,)
    assert registry.topics == [REFERRALS_TOPIC]
    with pytest.raises(TypeError, match="outbox"):
        registry.bind()
    bound = registry.bind(outbox="the outbox")
    assert bound.batch_handlers[ReferralClosed].keywords == {"outbox": "the outbox"}
    with pytest.raises(ValueError, match="at once"):
        Registry({ReferralClosed: print}, batch_handlers={ReferralClosed: print})
    with pytest.raises(ValueError, match="ignored at once"):
        Registry(batch_handlers={ReferralClosed: print}, ignored=frozenset({ReferralClosed}))
