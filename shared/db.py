"""Database helpers: engines that behave the same on SQLite and PostgreSQL, and migrations.

Each component (a service, or the SQL event log) owns an Alembic tree in its own
``migrations/`` folder with its own version table, so services can share one embedded
SQLite file or each have their own PostgreSQL database.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections import deque
from pathlib import Path

from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["make_engine", "make_session_factory", "migrate", "reader", "run_migrations"]


def make_engine(url: str, **kwargs) -> Engine:
    """An engine; SQLite gets WAL, a busy timeout, foreign keys, and a private file."""
    if url.startswith("sqlite"):
        path = make_url(url).database  # None or "" for an in-memory database
        if path and path != ":memory:" and not path.startswith("file:"):
            _private_file(Path(path))
            # a connection for each of the threads that may hold one at once (the 40 of
            # the HTTP thread pool, the relay, the consumers): beyond pool_size, a
            # connection returned is closed, and the next one opened again with its
            # pragmas, which under load was a connection made and closed per request
            kwargs.setdefault("pool_size", 48)
            kwargs.setdefault("max_overflow", 16)
        # timeout: how long SQLite waits for a lock held by another process (its busy timeout)
        connect_args = {"timeout": 30, "factory": _SerialisedConnection}
        connect_args.update(kwargs.pop("connect_args", {}))
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # Let SQLAlchemy, not pysqlite, manage transactions, so BEGIN takes the write lock
        # at once (a deferred transaction that later writes fails instead of waiting);
        # connections of ``reader(engine)`` only read, and take no lock at all.
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    # No pre-ping: it costs a round trip per checkout, i.e. per request and per batch. A
    # connection the server dropped fails its statement instead, and the pool is
    # invalidated so the retry (the next request, or the consumer's next attempt) gets
    # a fresh one; pool_recycle retires connections before idle timeouts close them.
    kwargs.setdefault("pool_pre_ping", False)
    kwargs.setdefault("pool_recycle", 1800)
    # Up to 30 at once, as before, but 20 kept open: with 10 kept, an API answering more
    # than 10 requests at once opened and closed a connection per request beyond them (a
    # PostgreSQL backend forked each time): 67 sessions in one overloaded 30 s load run
    # on Kafka instead of 28. 20 per process keeps a cluster under max_connections 100.
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 10)
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "postgresql":
        event.listen(engine, "connect", _postgres_lz4)
    return engine


def _postgres_lz4(dbapi_connection, _record) -> None:
    """Compress large values (an event in an outbox, a proposal's JSON) with lz4 where
    the server has it: pglz, PostgreSQL's default, spent about 70 us of the server's CPU
    per 3.5 KB row of both kinds, lz4 30 us; on the matchers' 2 cores that was 0.1 of
    one. A session setting (values already stored keep theirs), one round trip per
    connection."""
    with dbapi_connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('default_toast_compression', 'lz4', false) FROM pg_settings"
            " WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)"
        )
    dbapi_connection.commit()


def reader(engine: Engine) -> Engine:
    """The same engine for reading only: on SQLite its transactions take no write lock,
    so readers (the event log's subscribers, the outbox relay) never queue behind
    writers under WAL."""
    return engine.execution_options(sqlite_read_only=True)


def _sqlite_begin(conn) -> None:
    if conn.get_execution_options().get("sqlite_read_only"):
        conn.exec_driver_sql("BEGIN")
        return
    dbapi = conn.connection.driver_connection
    if isinstance(dbapi, _SerialisedConnection):
        dbapi.take_write_turn()
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        if isinstance(dbapi, _SerialisedConnection):
            dbapi.end_write_turn()
        raise


class _WriteTurns:
    """First come, first served: the order in which one process's threads write to one
    SQLite file. SQLite lets one writer in at a time and makes the others poll, sleeping
    up to 100 ms between tries, so under load a waiting writer kept losing the lock to
    newcomers (a relay waited seconds behind a stream of requests); queued here, each
    waits only for the writers ahead of it, and the turn is handed on directly.

    Between processes writing to one file (the referrals service's API processes and
    the one that runs its relay and consumers), the thread whose turn it is takes an
    exclusive ``flock`` on ``<file>-writer`` before it begins, and lets it go when its
    transaction ends: it waits in the kernel, which wakes it the moment the holder is
    done, instead of in SQLite's sleeping busy wait. The kernel lets the lock go when a
    process dies, however it dies."""

    def __init__(self, wait_s: float = 30.0, lock_path: str | None = None) -> None:
        self.wait_s = wait_s  # as long as SQLite's busy timeout, after which it decides
        self._lock = threading.Lock()
        self._queue: deque[tuple[int, threading.Event]] = deque()
        self._owner: int | None = None
        self._lock_path = lock_path
        self._file_lock: int | None = None  # the open lock file, once a turn needed it

    def take(self) -> bool:
        """Wait for this thread's turn. False without a turn: the thread already has
        one (its second connection meets SQLite's busy wait, as before), or the wait
        ran out (SQLite's busy timeout then decides, as before)."""
        me = threading.get_ident()
        with self._lock:
            if self._owner == me:
                return False
            if self._owner is None:
                self._owner = me
                turn = None
            else:
                turn = threading.Event()
                self._queue.append((me, turn))
        if turn is not None and not turn.wait(self.wait_s):
            with self._lock:
                if not turn.is_set():  # not handed over just as the wait ran out
                    self._queue.remove((me, turn))
                    return False
        self._lock_other_processes_out()
        return True

    def give_back(self) -> None:
        self._let_other_processes_in()
        with self._lock:
            if self._queue:
                self._owner, turn = self._queue.popleft()
                turn.set()
            else:
                self._owner = None

    def _lock_other_processes_out(self) -> None:
        if self._lock_path is None:
            return
        if self._file_lock is None:
            self._file_lock = os.open(self._lock_path, os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self._file_lock, fcntl.LOCK_EX)  # waits without holding the GIL

    def _let_other_processes_in(self) -> None:
        if self._file_lock is not None:
            fcntl.flock(self._file_lock, fcntl.LOCK_UN)


_TURNS: dict[str, _WriteTurns] = {}
_TURNS_LOCK = threading.Lock()


class _SerialisedConnection(sqlite3.Connection):
    """A pysqlite connection that queues for its process's turn to write (``_WriteTurns``)
    before ``BEGIN IMMEDIATE`` and gives the turn back when the transaction ends."""

    def __init__(self, database, *args, **kwargs) -> None:
        super().__init__(database, *args, **kwargs)
        path = os.fspath(database)
        if path in ("", ":memory:") or path.startswith("file:"):
            self._turns = _WriteTurns()  # a database of this connection's own
        else:
            with _TURNS_LOCK:
                real = os.path.realpath(path)
                if real not in _TURNS:
                    _TURNS[real] = _WriteTurns(lock_path=f"{real}-writer")
                self._turns = _TURNS[real]
        self._has_turn = False

    def take_write_turn(self) -> None:
        self._has_turn = self._turns.take()

    def end_write_turn(self) -> None:
        if self._has_turn:
            self._has_turn = False
            self._turns.give_back()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.end_write_turn()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.end_write_turn()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.end_write_turn()


def _private_file(path: Path) -> None:
    """Create the database file (and its folder) readable by the owner only: 0600 and
    0700. SQLite gives its -wal and -shm files the database file's permissions."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    os.chmod(path, 0o600)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def migrate(engine: Engine, migrations_dir: Path, version_table: str) -> None:
    """Apply one component's Alembic migrations up to head."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.attributes["version_table"] = version_table
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def run_migrations(target_metadata: MetaData) -> None:
    """The body of every ``migrations/env.py``: run online against the given connection."""
    from alembic import context

    config = context.config
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=config.attributes["version_table"],
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
