"""Where the embedded system keeps each service's tables: a SQLite file each (and one
for the event log), beside the configured one; a database made when everything shared
one file stays one file; any other database is shared as configured."""

from __future__ import annotations

import sqlite3

from services.layout import EVENT_LOG, database_layout


def test_a_new_sqlite_database_is_a_file_per_service_and_one_for_the_event_log(tmp_path):
    url = f"sqlite:///{tmp_path / 'socialrx.db'}"
    assert database_layout(url) == {
        "referrals": url,
        "directory": f"sqlite:///{tmp_path / 'socialrx-directory.db'}",
        "matcher": f"sqlite:///{tmp_path / 'socialrx-matcher.db'}",
        EVENT_LOG: f"sqlite:///{tmp_path / 'socialrx-events.db'}",
    }
    assert database_layout("sqlite:///var/socialrx.db")["matcher"] == (
        "sqlite:///var/socialrx-matcher.db"
    )


def test_a_database_made_as_one_file_stays_one_file(tmp_path):
    path = tmp_path / "socialrx.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE alembic_version_directory (version_num TEXT)")
    connection.commit()
    connection.close()
    url = f"sqlite:///{path}"
    assert set(database_layout(url).values()) == {url}


def test_other_databases_are_shared_as_configured_and_the_event_log_can_be_set():
    pg = "postgresql+psycopg://postgres@127.0.0.1:5432/socialrx"
    assert set(database_layout(pg).values()) == {pg}
    assert set(database_layout("sqlite://").values()) == {"sqlite://"}
    layout = database_layout(pg, "sqlite:///var/log.db")
    assert layout[EVENT_LOG] == "sqlite:///var/log.db" and layout["directory"] == pg
