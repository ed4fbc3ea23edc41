"""Alembic environment: runs against the connection given by shared.db.migrate."""

from services.matcher.store import metadata
from shared.db import run_migrations

run_migrations(metadata)
