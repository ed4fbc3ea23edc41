"""Each component's Alembic migrations build exactly the schema its code declares, on
SQLite and PostgreSQL, and applying them twice changes nothing."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from services.directory import store as directory_store
from services.directory.app import MIGRATIONS as DIRECTORY_MIGRATIONS
from services.matcher import store as matcher_store
from services.matcher.app import MIGRATIONS as MATCHER_MIGRATIONS
from services.referrals import store as referrals_store
from services.referrals.app import MIGRATIONS as REFERRALS_MIGRATIONS
from shared.bus import sqllog
from shared.db import make_engine, migrate
from shared.runtime import _EVENT_LOG_MIGRATIONS

COMPONENTS = [
    ("referrals", REFERRALS_MIGRATIONS, referrals_store.metadata),
    ("directory", DIRECTORY_MIGRATIONS, directory_store.metadata),
    ("matcher", MATCHER_MIGRATIONS, matcher_store.metadata),
    ("event_log", _EVENT_LOG_MIGRATIONS, sqllog.metadata),
]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request, tmp_path):
    url = (
        f"sqlite:///{tmp_path / 'm.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.mark.parametrize(
    ("name", "migrations", "metadata"), COMPONENTS, ids=[c[0] for c in COMPONENTS]
)
def test_migrations_match_the_declared_tables(engine, name, migrations, metadata):
    migrate(engine, migrations, f"alembic_version_{name}")
    migrate(engine, migrations, f"alembic_version_{name}")  # idempotent
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"version_table": f"alembic_version_{name}", "compare_type": True}
        )
        own = set(metadata.tables)
        diff = [
            d
            for d in compare_metadata(context, metadata)
            # other components' tables may share the database (embedded mode)
            if not (d[0] == "remove_table" and d[1].name not in own)
        ]
    assert diff == []
