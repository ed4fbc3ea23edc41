"""Alembic environment: runs against the connection given by shared.db.migrate."""

from shared.bus.sqllog import metadata
from shared.db import run_migrations

run_migrations(metadata)
