"""Where the embedded system keeps each service's tables and the SQL event log.

A SQLite file each, because SQLite lets one writer at a time into a file: when the
three services and the event log shared one file, a submission waited for the
directory's read-model writes and the matcher's (at 40 referrals/s offered, the
referrals process spent 28 s of a 35 s run waiting to begin its write transactions,
most of them behind the directory's, and POST /referrals was answered after a p50 of
11 s; in a file of its own, 430 ms).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

__all__ = ["EVENT_LOG", "SERVICES", "database_layout"]

SERVICES = ("referrals", "directory", "matcher")
#: What ``database_layout`` names besides the services: the SQL event log.
EVENT_LOG = "events"


def database_layout(database_url: str, bus_database_url: str | None = None) -> dict[str, str]:
    """Each service's database in embedded mode, and the event log's (``EVENT_LOG``).

    On a SQLite file, ``sqlite:///var/socialrx.db``: the referrals service keeps that
    file; the directory, the matcher and the event log get ``socialrx-directory.db``,
    ``socialrx-matcher.db`` and ``socialrx-events.db`` beside it, so that no service's
    writes queue for another's (SQLite has one write lock per file). A file that
    already holds the directory's tables (made when everything shared one file) stays
    the one file of everything; so does any other database (PostgreSQL, in memory)."""
    names = (*SERVICES, EVENT_LOG)
    url = make_url(database_url)
    path = url.database or ""
    if (
        url.get_backend_name() != "sqlite"
        or path in ("", ":memory:")
        or path.startswith("file:")
        or _holds_every_service(Path(path))
    ):
        layout = dict.fromkeys(names, database_url)
    else:
        file = Path(path)
        layout = {
            name: database_url
            if name == "referrals"
            else url.set(
                database=str(file.with_name(f"{file.stem}-{name}{file.suffix}"))
            ).render_as_string(hide_password=False)
            for name in names
        }
    if bus_database_url:
        layout[EVENT_LOG] = bus_database_url
    return layout


def _holds_every_service(path: Path) -> bool:
    """The file was made when every service shared one: the directory's tables are in it."""
    if not path.is_file():
        return False
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        found = connection.execute(
            "SELECT 1 FROM sqlite_master WHERE name = 'alembic_version_directory'"
        ).fetchone()
    finally:
        connection.close()
    return found is not None
