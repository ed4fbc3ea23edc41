"""Connection pools sized for the HTTP thread pool, so a busy API reuses connections."""

from shared.db import make_engine


def test_postgresql_pool_keeps_twenty_open_and_no_ping_per_checkout():
    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test")  # no connect yet
    # an API answering more than the pool keeps at once opens and closes a connection for
    # each request beyond it: a PostgreSQL backend forked per request under load
    assert engine.pool.size() == 20
    assert engine.pool._max_overflow == 10
    assert engine.pool._pre_ping is False
    engine.dispose()
