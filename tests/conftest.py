"""Real-server fixtures: PostgreSQL (a fresh schema per test), a Kafka-protocol broker
(see tests/kafka_broker.py), and settings for apps under test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from shared.settings import Settings

pytest_plugins = ["tests.kafka_broker"]

PG_SERVER = os.environ.get("SP_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "matching"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """The PostgreSQL server to test against (testcontainers when SP_TEST_USE_DOCKER=1)."""
    if os.environ.get("SP_TEST_USE_DOCKER") == "1":
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16", driver="psycopg") as container:
            yield container.get_connection_url()
        return
    yield PG_SERVER


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A URL whose connections see only a new, empty schema, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in pg_server else "?"
    yield f"{pg_server}{separator}options=-csearch_path%3D{schema}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'socialrx.db'}"


def make_settings(database_url: str, tmp_path: Path, **overrides) -> Settings:
    """Settings for a system under test: fast polling, its own secret and data folder."""
    values = {
        "database_url": database_url,
        "data_dir": tmp_path,
        "jwt_secret": "test-secret-" + uuid.uuid4().hex,
        "poll_interval_s": 0.05,
        "retry_backoff_s": 0.0,
        "kafka_session_timeout_ms": 6000,
        "kafka_heartbeat_interval_ms": 1000,
        "topic_prefix": f"t{uuid.uuid4().hex[:8]}.",
    }
    values.update(overrides)
    return Settings(**values)


CHROMIUM = Path(os.environ.get("SP_TEST_CHROMIUM", "/usr/bin/chromium"))
INSTALL_CHROMIUM = "make browser-deps"


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """Say it loudly when the browser tests were skipped for want of Chromium, with the
    one command that installs it: a quiet 's' among hundreds of dots is easy to miss."""
    skipped = terminalreporter.stats.get("skipped", [])
    browser = [r for r in skipped if "tests/browser/" in r.nodeid]
    if browser and not CHROMIUM.exists():
        terminalreporter.section("browser tests not run", sep="=", yellow=True, bold=True)
        terminalreporter.line(
            f"{len(browser)} browser tests were skipped: Chromium is not installed at {CHROMIUM}.",
            yellow=True,
        )
        terminalreporter.line(f"Install it with:  {INSTALL_CHROMIUM}", bold=True)
