"""Writers of one process to one SQLite file take turns in the order they arrived.

SQLite itself lets one writer in and makes the rest poll, sleeping up to 100 ms between
tries, so under load a writer that had waited longest kept losing to newcomers: in the
embedded system at 30 referrals/s a relay's write waited up to 1.2 s behind a stream of
requests (``shared/db.py``, ``_WriteTurns``)."""

from __future__ import annotations

import threading
import time

from sqlalchemy import text

from shared.db import make_engine


def test_waiting_writers_get_the_file_in_the_order_they_arrived(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'turns.db'}", pool_size=10)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE log (who TEXT)"))
    order: list[str] = []

    def writer(name: str) -> None:
        with engine.begin() as conn:
            order.append(name)
            conn.execute(text("INSERT INTO log VALUES (:who)"), {"who": name})
            time.sleep(0.01)

    with engine.begin() as holder:  # holds the write lock while the others queue
        holder.execute(text("INSERT INTO log VALUES ('holder')"))
        threads = []
        for name in ["w1", "w2", "w3", "w4", "w5", "w6"]:
            thread = threading.Thread(target=writer, args=(name,))
            thread.start()
            threads.append(thread)
            time.sleep(0.05)  # each is waiting before the next arrives
    for thread in threads:
        thread.join(10)
    engine.dispose()

    assert order == ["w1", "w2", "w3", "w4", "w5", "w6"]


def test_a_thread_already_writing_is_not_made_to_wait_for_itself(tmp_path):
    """A second write connection of the same thread meets SQLite's busy timeout, as
    before, rather than waiting for a turn it holds itself (which would never come)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'turns.db'}", connect_args={"timeout": 0.2})
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE log (who TEXT)"))
    started = time.monotonic()
    with engine.begin() as outer:
        outer.execute(text("INSERT INTO log VALUES ('outer')"))
        try:
            with engine.begin() as inner:
                inner.execute(text("INSERT INTO log VALUES ('inner')"))
        except Exception as exc:  # database is locked, after SQLite's own timeout
            assert "locked" in str(exc)
    assert time.monotonic() - started < 5
    with engine.begin() as conn:  # and the turn was given back
        conn.execute(text("INSERT INTO log VALUES ('after')"))
    engine.dispose()
