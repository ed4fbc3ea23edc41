"""Database helpers: engines that behave the same on SQLite and PostgreSQL, and migrations.

Each component (a service, or the SQL event log) owns an Alembic tree in its own
``migrations/`` folder with its own version table, so services can share one embedded
SQLite file or each have their own PostgreSQL database.
"""

from __future__ import annotations

import os
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
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
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
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


def reader(engine: Engine) -> Engine:
    """The same engine for reading only: on SQLite its transactions take no write lock,
    so readers (the event log's subscribers, the outbox relay) never queue behind
    writers under WAL."""
    return engine.execution_options(sqlite_read_only=True)


def _sqlite_begin(conn) -> None:
    read_only = conn.get_execution_options().get("sqlite_read_only")
    conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


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
    cursor.execute("PRAGMA busy_timeout=30000")
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
