"""Reading does not queue behind SQLite's writers: the user check every request makes
and a link worker's reads run in sessions that only read (``Runtime.read_sessions``).
Before, each opened a write transaction, so every request waited for the write lock."""

from __future__ import annotations

import sqlite3
import threading

from fastapi.testclient import TestClient
from sqlalchemy import select

from services.referrals import store
from services.referrals.app import create_app
from shared.auth import Principal, Role
from tests.conftest import make_settings


def _while_another_process_writes(path, work, seconds: float = 3.0):
    """Run ``work`` while another connection holds the file's write lock; its result,
    or None if it was still waiting when the lock was given back."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    done: list = []
    thread = threading.Thread(target=lambda: done.append(work()), daemon=True)
    thread.start()
    thread.join(seconds)
    finished = bool(done)
    holder.execute("ROLLBACK")
    holder.close()
    thread.join(30)
    return done[0] if finished else None


def test_the_user_check_and_a_worklist_read_do_not_wait_for_the_write_lock(tmp_path):
    path = tmp_path / "r.db"
    app = create_app(
        make_settings(f"sqlite:///{path}", tmp_path, run_workers=False, load_demo_data=True)
    )
    with TestClient(app):  # runs the start-up: migrations, demo users
        with app.state.read_sessions() as session:
            user = session.execute(
                select(store.users).where(store.users.c.username == "linkworker")
            ).first()
        principal = Principal(
            user_id=user.id, name=user.name, role=Role(user.role), token_version=user.token_version
        )
        check = _while_another_process_writes(path, lambda: app.state.user_check(principal) or "ok")
        assert check == "ok"

        def worklist() -> int:
            with app.state.read_sessions() as session:
                return len(store.worklist_rows(session, {"team": user.team}, None, None))

        assert _while_another_process_writes(path, worklist) is not None
