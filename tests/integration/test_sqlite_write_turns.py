"""Writers of one process to one SQLite file take turns in the order they arrived.

SQLite itself lets one writer in and makes the rest poll, sleeping up to 100 ms between
tries, so under load a writer that had waited longest kept losing to newcomers: in the
embedded system at 30 referrals/s a relay's write waited up to 1.2 s behind a stream of
requests (``shared/db.py``, ``_WriteTurns``)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

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


HOLDER = """
import sys, time
from sqlalchemy import text
from shared.db import make_engine
engine = make_engine(sys.argv[1])
with engine.begin() as conn:
    conn.execute(text("INSERT INTO log VALUES ('other process')"))
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
    released = time.time()
print(released, flush=True)
"""


def test_a_writer_waits_for_another_processs_transaction_in_the_kernel_not_in_sqlite(
    tmp_path,
):
    """The referrals API's processes and the one running its consumers write to one
    file. A writer waiting for another process's transaction waits on the file lock
    (``<file>-writer``) and begins as soon as it is released, however long that takes:
    here SQLite's own busy timeout is 0.1 s and the other process holds the file for
    0.6 s, so SQLite's wait alone would have answered 'database is locked'."""
    url = f"sqlite:///{tmp_path / 'turns.db'}"
    engine = make_engine(url, connect_args={"timeout": 0.1})
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE log (who TEXT)"))
    root = Path(__file__).resolve().parents[2]
    other = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url, "0.6"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert other.stdout.readline().strip() == "holding"
    with engine.begin() as conn:
        began = time.time()
        conn.execute(text("INSERT INTO log VALUES ('this process')"))
    released = float(other.stdout.readline())
    assert other.wait(10) == 0
    with engine.connect() as conn:
        rows = [r.who for r in conn.execute(text("SELECT who FROM log"))]
    engine.dispose()
    assert rows == ["other process", "this process"]
    assert 0 <= began - released < 0.2
