"""The reports' read model writes once per consumer batch (services/directory/deferred.py),
and says exactly what it said when each event had a transaction of its own.

The scripted history of the report tests (reports_scenario.py) is fed to one directory
an event per transaction, and to another in batches of every size, interleaved as the
bus delivers them, with some events delivered twice (in the same batch and in a later
one); every read-model table and every report must come out the same. A batch that
read a table instead of what the batch itself had already changed, or summed a cell
twice, would make them differ."""

from __future__ import annotations

import contextlib
import random
import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event, text

from services.directory import readmodel as rm
from services.directory import store
from services.directory.app import create_app
from services.directory.handlers import CONSUMERS
from shared.auth import Principal, Role
from shared.bus.port import Record
from shared.events import ReferralProfile, ReferralSubmitted, WellbeingChanged, encode
from tests.conftest import make_settings
from tests.integration import reports_scenario as sc

TABLES = [
    rm.referrals,
    rm.referral_categories,
    rm.cells,
    rm.phrases,
    rm.phrase_groups,
    rm.ledger,
    rm.service_months,
    store.needs_seen,
    store.proposals_seen,
]
PERIODS = [
    {"from": "2026-07-01", "to": "2026-09-30"},
    {"from": "2026-08-01", "to": "2026-08-31"},
]


def _history(seed: int = 9) -> list:
    journeys = sc.script(seed)
    return sorted((e for j in journeys for e in sc.events_of(j)), key=lambda e: e.occurred_at)


@contextlib.contextmanager
def _directory(tmp_path, name: str, url: str | None = None):
    folder = tmp_path / name
    folder.mkdir()
    url = url or f"sqlite:///{folder / 'd.db'}"
    settings = make_settings(url, folder, run_workers=False)
    app = create_app(settings)
    runtime = app.state.runtime
    with runtime.sessions.begin() as session:
        sc._services(session)
    try:
        yield app
    finally:
        runtime.close()


def _feed(app, batches) -> None:
    """Each batch in one transaction, as the consumer runs its handlers."""
    runtime = app.state.runtime
    handlers = CONSUMERS["directory"].bind(outbox=runtime.outbox).handlers
    for batch in batches:
        with runtime.sessions.begin() as session:
            for envelope in batch:
                handlers[type(envelope.payload)](session, envelope.payload, envelope)


def _tables(app) -> dict:
    """Every read-model row, without the surrogate ids (their order of issue differs)."""
    out = {}
    with app.state.runtime.engine.connect() as conn:
        for table in TABLES:
            columns = [c.name for c in table.c if c.name != "id"]
            rows = conn.execute(text(f"SELECT {', '.join(columns)} FROM {table.name}")).all()
            out[table.name] = sorted(tuple(map(repr, r)) for r in rows)
    return out


def _reports(app) -> dict:
    from services.directory.insights import REPORTS

    runtime = app.state.runtime
    token = runtime.tokens.issue(Principal(user_id="c", role=Role.COMMISSIONER, name="C"))
    client = TestClient(app)
    client.headers["Authorization"] = f"Bearer {token}"
    out = {}
    for name in REPORTS:
        for period in PERIODS:
            for fmt in ("json", "csv"):
                answer = client.get(f"/reports/{name}", params={**period, "format": fmt})
                assert answer.status_code == 200, answer.text
                out[name, period["from"], fmt] = answer.json() if fmt == "json" else answer.text
    return out


def _with_redeliveries(history: list, rng: random.Random) -> list:
    """Some events again, each after itself: straight after, or a while later."""
    out = []
    for envelope in history:
        out.append(envelope)
        if rng.random() < 0.1:
            out.append(envelope)
    for envelope in rng.sample(history, len(history) // 10):
        after = out.index(envelope) + 1
        out.insert(rng.randrange(after, len(out) + 1), envelope)
    return out


def _chunks(events: list, rng: random.Random, sizes=(1, 2, 3, 7, 25, 80)) -> list[list]:
    out, i = [], 0
    while i < len(events):
        n = rng.choice(sizes)
        out.append(events[i : i + n])
        i += n
    return out


@pytest.fixture(scope="module")
def one_at_a_time(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("alone")
    with _directory(tmp, "alone") as app:
        _feed(app, [[e] for e in _history()])
        yield _tables(app), _reports(app)


def test_the_scenario_fills_every_table(one_at_a_time):
    tables, _ = one_at_a_time
    empty = [name for name, rows in tables.items() if not rows]
    assert not empty, f"the scenario leaves {empty} empty: the comparison would prove little"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_batches_write_what_one_event_at_a_time_writes(tmp_path, one_at_a_time, seed):
    rng = random.Random(seed)
    events = _with_redeliveries(_history(), rng)
    with _directory(tmp_path, "alone") as app:
        _feed(app, [[e] for e in events])
        expected = _tables(app)
    with _directory(tmp_path, "batched") as app:
        _feed(app, _chunks(events, rng))
        tables, reports = _tables(app), _reports(app)
    for name in expected:
        assert tables[name] == expected[name], name
    # and redelivered events changed nothing: the same as the history delivered once
    assert tables == one_at_a_time[0]
    assert reports == one_at_a_time[1]


@contextlib.contextmanager
def _pg_schema(server: str):
    """A URL whose connections see only a new schema of ``server``, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        separator = "&" if "?" in server else "?"
        yield f"{server}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_on_postgresql_too(tmp_path, one_at_a_time, pg_server):
    """PostgreSQL's upserts and JSON: batched as on SQLite, the same reports."""
    rng = random.Random(4)
    events = _with_redeliveries(_history(), rng)
    with _pg_schema(pg_server) as alone, _pg_schema(pg_server) as batched:
        assert alone.startswith("postgresql")
        with _directory(tmp_path, "alone", alone) as app:
            _feed(app, [[e] for e in events])
            expected = _tables(app)
        with _directory(tmp_path, "batched", batched) as app:
            _feed(app, _chunks(events, rng))
            assert _tables(app) == expected
            assert _reports(app) == one_at_a_time[1]


def test_the_whole_history_in_one_transaction(tmp_path, one_at_a_time):
    with _directory(tmp_path, "whole") as app:
        _feed(app, [_history()])
        assert _tables(app) == one_at_a_time[0]
        assert _reports(app) == one_at_a_time[1]


def test_a_batch_writes_one_statement_per_table(tmp_path):
    """The read model's writes: one statement per table per batch (a ``DELETE ... IN``
    and an ``INSERT`` where rows are replaced; the cells one more for each further change
    of one cell's float total), however many events the batch holds. Reads: one per
    referral and connection the batch has not read yet."""
    history = _history()
    names = {t.name for t in TABLES}
    with _directory(tmp_path, "count") as app:
        writes: Counter = Counter()
        reads: list[str] = []

        def count(conn, cursor, statement, parameters, context, executemany):
            words = statement.replace("(", " ").split()
            verb = words[0].upper()
            if verb == "SELECT":
                if "FROM insight_" in statement.replace("\n", " "):
                    reads.append(statement)
                return
            table = words[2] if verb in ("INSERT", "DELETE") else words[1]
            if table in names:
                writes[verb, table] += 1

        engine = app.state.runtime.engine
        event.listen(engine, "before_cursor_execute", count)
        _feed(app, [history])
        event.remove(engine, "before_cursor_execute", count)
    referrals = {e.payload.referral_id for e in history}
    connections = {e.payload.connection_id for e in history if hasattr(e.payload, "connection_id")}
    assert len(history) > 3 * len(referrals)
    wellbeing = sum(isinstance(e.payload, WellbeingChanged) for e in history)
    assert 1 < writes[("INSERT", rm.cells.name)] <= 1 + wellbeing, writes
    assert all(n == 1 for key, n in writes.items() if key[1] != rm.cells.name), writes
    assert len(reads) <= len(referrals) + len(connections) + 10, len(reads)


def test_a_batch_that_fails_leaves_nothing_behind(tmp_path, one_at_a_time):
    """The consumer retries a failed batch one event at a time: the rolled-back batch's
    pending writes must neither reach the database nor linger for the next one."""
    history = _history()
    with _directory(tmp_path, "fails") as app:
        runtime = app.state.runtime
        handlers = CONSUMERS["directory"].bind(outbox=runtime.outbox).handlers
        with pytest.raises(RuntimeError), runtime.sessions.begin() as session:
            for envelope in history[:40]:
                handlers[type(envelope.payload)](session, envelope.payload, envelope)
            raise RuntimeError("a handler failed")
        assert all(not rows for rows in _tables(app).values())
        _feed(app, [[e] for e in history])
        assert _tables(app) == one_at_a_time[0]


def test_through_the_consumer_in_batches(tmp_path, one_at_a_time):
    """The same history through the directory's own consumer on the SQL event log, as
    many events a poll as it takes: the deferred writes land with each batch's commit."""
    with _directory(tmp_path, "consumer") as app:
        runtime = app.state.runtime
        consumer = runtime.consumers[0]
        runtime.bus.publish(
            [Record(_topic(e), e.key, encode(e)) for e in _history() if _consumed(e)]
        )
        while consumer.run_once(timeout_s=0.0, max_records=30):
            pass
        assert _tables(app) == one_at_a_time[0]


def _consumed(envelope) -> bool:
    return type(envelope.payload) in CONSUMERS["directory"].handlers


def _topic(envelope) -> str:
    from shared.events import topic_of_class

    return topic_of_class(type(envelope.payload))


def test_a_referral_submitted_twice_with_new_ids_counts_once(tmp_path):
    """Idempotent by content too: a second submission of one referral in the same batch
    (another event id, so the consumer cannot tell) changes nothing."""
    history = _history()
    first = next(e for e in history if isinstance(e.payload, ReferralSubmitted))
    again = first.model_copy(update={"occurred_at": datetime(2026, 9, 1, tzinfo=UTC)})
    with _directory(tmp_path, "twice") as app:
        _feed(app, [[first, again]])
        once = _tables(app)
    (row,) = once[rm.referrals.name]
    assert row[3] == repr(first.occurred_at.strftime("%Y-%m"))  # the first one's month
    referred = [r for r in once[rm.cells.name] if r[1] == "'referred'"]
    assert {r[6] for r in referred} == {"1"}, referred


def test_a_write_that_fails_at_commit_fails_its_event_alone(tmp_path):
    """The writes now fail at the batch's commit, not in the handler of the event at
    fault: the consumer still retries the batch one event at a time, dead-letters only
    that event (here a category named twice, which the table refuses) and keeps the
    others."""
    profiles = [("housing",), ("housing", "housing"), ("money and debt",)]
    events = [
        sc._envelope(
            ReferralSubmitted(
                referral_id=f"r{i}",
                practice_ods="G82001",
                profile=ReferralProfile(
                    age=60, ward="Erith", needs_text="x", need_categories=categories
                ),
            ),
            datetime(2026, 9, 1, tzinfo=UTC),
        )
        for i, categories in enumerate(profiles)
    ]
    with _directory(tmp_path, "commit") as app:
        runtime = app.state.runtime
        runtime.bus.publish([Record(_topic(e), e.key, encode(e)) for e in events])
        assert runtime.consumers[0].run_once(timeout_s=0.0, max_records=10) == 3
        tables = _tables(app)
    assert [r[0] for r in tables[rm.referrals.name]] == ["'r0'", "'r2'"]
    assert [r[:2] for r in tables[rm.referral_categories.name]] == [
        ("'r0'", "'housing'"),
        ("'r2'", "'money and debt'"),
    ]
