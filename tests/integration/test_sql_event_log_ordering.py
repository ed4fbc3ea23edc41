"""On PostgreSQL, a reader of the SQL event log must never skip an event whose lower id
commits after a higher one. Publishing serialises writers, so it cannot happen."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

from shared.bus.port import Record
from shared.bus.sqllog import SqlEventLog, event_log

pytestmark = pytest.mark.postgres


def test_a_reader_never_skips_an_event_that_commits_late(pg_url):
    log = SqlEventLog(pg_url)
    log.create_tables()
    reader = log.subscribe("reader", ["t"])

    # Writer A takes an id and holds its transaction open, as a slow producer would.
    slow = log.engine.connect()
    slow_tx = slow.begin()
    slow.execute(text("LOCK TABLE event_log IN EXCLUSIVE MODE"))
    slow.execute(
        event_log.insert().values(topic="t", key="a", value=b"first", published_at=text("now()"))
    )

    # Writer B publishes meanwhile: without serialisation it would commit a higher id first.
    done = threading.Event()
    thread = threading.Thread(
        target=lambda: (log.publish([Record("t", "b", b"second")]), done.set())
    )
    thread.start()
    time.sleep(0.5)
    assert not done.is_set(), "the second writer must wait for the first"
    assert reader.poll(timeout_s=0.2) == [], "nothing is visible before the first commits"

    slow_tx.commit()
    slow.close()
    thread.join(5)
    assert done.is_set()

    seen = []
    deadline = time.monotonic() + 5
    while len(seen) < 2 and time.monotonic() < deadline:
        seen += reader.poll(timeout_s=0.2)
    assert [m.value for m in seen] == [b"first", b"second"]
    assert seen[0].offset < seen[1].offset
    log.engine.dispose()


def test_concurrent_publishers_are_all_read_in_id_order(pg_url):
    log = SqlEventLog(pg_url)
    log.create_tables()
    reader = log.subscribe("reader", ["t"])
    per_thread, threads = 30, 4

    def publish(n: int) -> None:
        for i in range(per_thread):
            log.publish([Record("t", f"k{n}", f"{n}-{i}".encode())])

    workers = [threading.Thread(target=publish, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    seen = []
    deadline = time.monotonic() + 30
    while len(seen) < per_thread * threads and time.monotonic() < deadline:
        batch = reader.poll(timeout_s=0.05)
        seen += batch
        for m in batch:
            reader.commit(m)
    for w in workers:
        w.join()
    offsets = [m.offset for m in seen]
    assert len(seen) == per_thread * threads, "no event skipped"
    assert offsets == sorted(offsets)
    for n in range(threads):  # per key, in publish order
        mine = [m.value.decode() for m in seen if m.key == f"k{n}"]
        assert mine == [f"{n}-{i}" for i in range(per_thread)]
    log.engine.dispose()
